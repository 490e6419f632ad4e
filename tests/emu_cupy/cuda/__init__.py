# tests/emu_cupy/cuda: the stand-in's `cupy.cuda`: one emulated device (0), the runtime's
# device count, a Device context manager and the (null) current stream. Launches in the
# emulator are synchronous, so every synchronize() returns at once.
"""cupy.cuda of the CuPy stand-in."""

from __future__ import annotations

from typing import Any

from . import runtime


class Stream:
    """A CUDA stream; the emulator runs every launch at once, so there is only the null
    stream and nothing to wait for."""

    def __init__(self, null: bool = False, non_blocking: bool = False) -> None:
        self.ptr = 0

    def synchronize(self) -> None:
        """Wait for the stream's work (done already)."""

    def use(self) -> Stream:
        return self

    def __enter__(self) -> Stream:
        return self

    def __exit__(self, *exc: Any) -> None:
        return None


Stream.null = Stream(null=True)


def get_current_stream() -> Stream:
    """The current stream: the null stream."""
    return Stream.null


class Device:
    """A CUDA device; only device 0 exists."""

    def __init__(self, device: int | None = None) -> None:
        self.id = 0 if device is None else int(device)
        if not 0 <= self.id < runtime.getDeviceCount():
            raise runtime.CUDARuntimeError(f"cudaErrorInvalidDevice: device {self.id}")

    def use(self) -> None:
        """Make this the current device (it always is)."""

    def synchronize(self) -> None:
        """Wait for the device's work (done already)."""

    def __enter__(self) -> Device:
        return self

    def __exit__(self, *exc: Any) -> None:
        return None

    def __repr__(self) -> str:
        return f"<CUDA Device {self.id} (emulated)>"


__all__ = ["Device", "Stream", "get_current_stream", "runtime"]
