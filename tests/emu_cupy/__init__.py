# tests/emu_cupy: a test-only stand-in for CuPy that runs the CUDA C of every
# cupy.ElementwiseKernel / cupy.ReductionKernel in the CUDA emulator (minigan._C_emu), so that
# minigan/backend/cupy_kernels.py's kernel strings execute without a GPU. This file is the
# `cupy` namespace: the subset of CuPy's API that cupy_kernels.py and its tests use, with
# NumPy arrays as the device memory. Only the two kernel classes are emulated
# (kernels.py -> codegen.py -> toolchain.py); everything else (matmul, sums, views,
# allocation) is plain NumPy. The package is named emu_cupy so that it can never shadow a
# real CuPy: harness.activated() installs it as `cupy` in sys.modules for a test and
# restores everything afterwards.
"""A CuPy stand-in whose ElementwiseKernel / ReductionKernel run in the CUDA emulator."""

from __future__ import annotations

from typing import Any

import numpy as np

from . import cuda, lib
from .kernels import ElementwiseKernel, ReductionKernel
from .kernels import empty as _empty

__version__ = "0.0-emu"

ndarray = np.ndarray
dtype = np.dtype
float32 = np.float32
float64 = np.float64

# Array operations: NumPy on the stand-in's "device" arrays.
ascontiguousarray = np.ascontiguousarray
matmul = np.matmul
sqrt = np.sqrt
sum = np.sum  # noqa: A001 (CuPy's name)
ones = np.ones
zeros = np.zeros


def empty(shape: Any, dtype: Any = float, order: str = "C") -> np.ndarray:
    """Uninitialised device memory: every byte 0xff (NaN for floats), like the emulator's
    cudaMalloc, so that an element a kernel forgets to write shows up in results."""
    out = _empty(shape, dtype)
    return out if order == "C" else np.asfortranarray(out)


def asarray(a: Any, dtype: Any = None, order: str | None = None) -> np.ndarray:
    """A device array of `a` (no copy when it already is one with that dtype)."""
    return np.asarray(a, dtype=dtype, order=order)


def asnumpy(a: Any) -> np.ndarray:
    """A host copy of a device array (never a view of device memory, like CuPy's)."""
    return np.array(a, copy=True)


def get_array_module(*args: Any) -> Any:
    """The array module of the arguments: NumPy (the stand-in's device arrays are NumPy's)."""
    return np


__all__ = [
    "ElementwiseKernel",
    "ReductionKernel",
    "asarray",
    "ascontiguousarray",
    "asnumpy",
    "cuda",
    "dtype",
    "empty",
    "float32",
    "float64",
    "get_array_module",
    "lib",
    "matmul",
    "ndarray",
    "ones",
    "sqrt",
    "sum",
    "zeros",
]
