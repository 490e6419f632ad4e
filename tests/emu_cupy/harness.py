# tests/emu_cupy/harness.py: how tests use the CuPy stand-in. `activated()` installs it as
# `cupy` (and its submodules) in sys.modules, reloads minigan.backend.cupy_kernels against it
# and yields (stand-in, cupy_kernels); on exit it puts back whatever `cupy` was there before
# (a real CuPy, or nothing) and reloads cupy_kernels again, so no other test ever sees the
# stand-in. `unavailable_reason()` says why the stand-in cannot run here.
"""Install the CuPy stand-in for the duration of a test."""

from __future__ import annotations

import contextlib
import importlib
import sys
from collections.abc import Iterator
from types import ModuleType

import minigan
from minigan import backend

from . import cuda, lib, toolchain
from .cuda import runtime as cuda_runtime
from .lib import stride_tricks


def _aliases() -> dict[str, ModuleType]:
    stand_in = sys.modules[__package__]
    return {
        "cupy": stand_in,
        "cupy.cuda": cuda,
        "cupy.cuda.runtime": cuda_runtime,
        "cupy.lib": lib,
        "cupy.lib.stride_tricks": stride_tricks,
    }


def unavailable_reason() -> str:
    """Why the stand-in cannot run kernels here ("" when it can): it needs a built
    minigan._C_emu (`python3 csrc/emu/build.py`) and a C++ compiler."""
    return toolchain.unavailable_reason()


@contextlib.contextmanager
def activated() -> Iterator[tuple[ModuleType, ModuleType]]:
    """(stand-in, minigan.backend.cupy_kernels bound to it) for the body of the block."""
    # minigan.device caches whether CuPy sees a GPU: settle it against the real environment
    # first, so that the fake `cupy` can never be cached as the cuda device's array module.
    minigan.cuda_is_available()
    from minigan.backend import cupy_kernels  # noqa: PLC0415

    aliases = _aliases()
    saved = {name: sys.modules.get(name) for name in aliases}
    sys.modules.update(aliases)
    backend.reset()
    try:
        yield aliases["cupy"], importlib.reload(cupy_kernels)
    finally:
        for name, module in saved.items():
            if module is None:
                sys.modules.pop(name, None)
            else:
                sys.modules[name] = module
        importlib.reload(cupy_kernels)
        backend.reset()
