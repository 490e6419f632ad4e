# The kernel contract through the hand-written CUDA kernels of csrc/ run on the CPU by the
# emulator of the CUDA execution model (minigan._C_emu, csrc/emu/): the same wrapper as the
# GPU (cuda_ext.KernelExtension) with NumPy arrays standing in for device memory.
"""The ``emu`` implementation of the kernel contract: csrc/'s CUDA kernels, emulated.

``minigan._C_emu`` is built from the same csrc/*.cu sources and bindings as
``minigan._C``, compiled as host C++ against csrc/emu/emu.h (``make emu-build``, or
``MINIGAN_BUILD_EMU=1`` at install). Every thread of every block runs as a fiber, every
memory access of kernel code is checked (bounds, alignment, shared-memory races,
uninitialised shared memory), and so are barriers, warp operations and launch limits.
It exists to verify the GPU code without a GPU: it is slow, and says nothing about speed.

Select it with ``MINIGAN_BACKEND=emu`` (device ``cpu``, float32 arrays); the dispatcher
never picks it by itself. Arrays are NumPy arrays; each call registers the arrays it
passes with the emulator, which refuses any kernel access outside them.
"""

from __future__ import annotations

import contextlib
import importlib
import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np

from .cuda_ext import ACTIVATION_CODES, SUPPORTED_DTYPES, ExtRuntime, KernelExtension

__all__ = [
    "ACTIVATION_CODES",
    "EMU",
    "EmuRuntime",
    "SUPPORTED_DTYPES",
    "adam_step",
    "batchnorm_backward",
    "batchnorm_forward",
    "conv2d_backward",
    "conv2d_forward",
    "conv_transpose2d_backward",
    "conv_transpose2d_forward",
    "forced_kernel_version",
    "linear_act_backward",
    "linear_act_forward",
    "sigmoid_bce_forward_backward",
    "unavailable_reason",
]

# ptxas' figures for every kernel (static shared memory, __launch_bounds__, registers),
# written by `make emu-build` from tools/kernel_resources.py when nvcc is present; the
# launch checks use them (without it, static shared memory counts as 0).
RESOURCES_FILE = Path(__file__).resolve().parents[2] / "build" / "emu" / "kernel_resources.json"


class EmuRuntime(ExtRuntime):
    """minigan._C_emu with NumPy arrays: one emulated device (0), no streams."""

    name = "emu"
    module = "minigan._C_emu"
    array_kind = "a NumPy array (the emulator's device memory)"

    def load(self) -> tuple[Any, Any]:
        try:
            ext = importlib.import_module("minigan._C_emu")
        except ImportError as exc:
            raise RuntimeError(
                "minigan._C_emu is not built (run `make emu-build`, or install with "
                f"MINIGAN_BUILD_EMU=1): {exc}"
            ) from exc
        load_kernel_resources(ext)
        return ext, np

    def ptr(self, a: Any) -> int:
        """The array's address, registered with the emulator as memory the kernels of this
        call may touch (exactly its bytes). An empty array is a null pointer, as CuPy
        passes it on the GPU."""
        if a.size == 0:
            return 0
        address = int(a.ctypes.data)
        self.state[0].emu_register_buffer(address, int(a.nbytes))
        return address

    def device_of(self, a: Any) -> int:
        return 0

    @contextlib.contextmanager
    def scope(self, device: int) -> Iterator[None]:
        ext = self.state[0]
        ext.emu_clear_buffers()
        try:
            yield
        finally:
            ext.emu_clear_buffers()
            # Undefined behaviour in the launchers (host code) cannot throw where it happens:
            # it is raised here, for the call it happened in (also when the call failed).
            host_error = ext.emu_take_host_error()
            if host_error:
                raise RuntimeError(host_error)

    def stream(self, ext: Any, device: int) -> int:
        return 0

    def sm_count(self, device: int) -> int:
        """The emulated device's multiprocessor count (an H100's), for split-K planning."""
        return int(self.state[0].EMU_SM_COUNT)

    def empty(self, shape: tuple[int, ...]) -> Any:
        # NaN, so that an output element a kernel forgets to write shows up in results.
        return np.full(shape, np.nan, dtype=np.float32)

    def to_device(self, host: np.ndarray) -> Any:
        return np.ascontiguousarray(host)


def load_kernel_resources(ext: Any, path: Path = RESOURCES_FILE) -> int:
    """Hand ptxas' sm_90 figures of every kernel to the emulator's launch checks; returns how
    many names were given (0 when the file is absent). Each instantiation is registered
    under its full name (`bn_forward_train_v2<true>`), and the kernel's base name under the
    most demanding figures of its instantiations (most shared memory and registers, fewest
    launch-bound threads), for launches whose name gives no template arguments."""
    if not path.is_file():
        return 0
    report = json.loads(path.read_text())
    figures: dict[str, tuple[int, int, int]] = {}
    merged: dict[str, tuple[int, int, int]] = {}
    for kernel in report.get("kernels", []):
        if kernel.get("arch") != "sm_90":
            continue
        smem, bound, regs = (
            int(kernel["smem"]),
            int(kernel.get("max_threads") or 0),
            int(kernel["registers"]),
        )
        figures[kernel["kernel"]] = (smem, bound, regs)
        base = kernel["kernel"].split("<")[0]
        if base in merged:
            s0, b0, r0 = merged[base]
            bounds = [b for b in (b0, bound) if b > 0]
            merged[base] = (max(s0, smem), min(bounds) if bounds else 0, max(r0, regs))
        else:
            merged[base] = (smem, bound, regs)
    for name, (smem, bound, regs) in {**merged, **figures}.items():
        ext.emu_set_kernel_info(name, smem, bound, regs)
    return len(figures) + len(merged)


EMU = KernelExtension(EmuRuntime())
unavailable_reason = EMU.unavailable_reason
forced_kernel_version = EMU.forced_kernel_version
linear_act_forward = EMU.linear_act_forward
linear_act_backward = EMU.linear_act_backward
conv2d_forward = EMU.conv2d_forward
conv2d_backward = EMU.conv2d_backward
conv_transpose2d_forward = EMU.conv_transpose2d_forward
conv_transpose2d_backward = EMU.conv_transpose2d_backward
batchnorm_forward = EMU.batchnorm_forward
batchnorm_backward = EMU.batchnorm_backward
activation_forward = EMU.activation_forward
activation_backward = EMU.activation_backward
sigmoid_bce_forward_backward = EMU.sigmoid_bce_forward_backward
adam_step = EMU.adam_step
