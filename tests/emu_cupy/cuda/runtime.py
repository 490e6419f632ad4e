# tests/emu_cupy/cuda/runtime.py: the stand-in's `cupy.cuda.runtime`: one emulated device.
"""cupy.cuda.runtime of the CuPy stand-in."""

from __future__ import annotations


class CUDARuntimeError(RuntimeError):
    """A CUDA runtime error (an invalid device number, here)."""


def getDeviceCount() -> int:  # noqa: N802 (CuPy's name)
    """The number of CUDA devices: the emulator's one."""
    return 1


def getDevice() -> int:  # noqa: N802 (CuPy's name)
    """The current device: 0."""
    return 0


def deviceSynchronize() -> None:  # noqa: N802 (CuPy's name)
    """Wait for the device (launches in the emulator are synchronous)."""


__all__ = ["CUDARuntimeError", "deviceSynchronize", "getDevice", "getDeviceCount"]
