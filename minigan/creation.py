# Tensor factories: zeros, ones, full, arange, randn, rand, and their *_like forms.
# Random ones draw from the global generator of `minigan.random` (seeded by manual_seed).
from __future__ import annotations

from typing import Any

import numpy as np

from .device import array_module, normalize_device
from .random import generator
from .tensor import DEFAULT_DTYPE, Tensor


def _shape(shape: tuple[Any, ...]) -> tuple[int, ...]:
    if len(shape) == 1 and isinstance(shape[0], tuple | list):
        shape = tuple(shape[0])
    return tuple(int(s) for s in shape)


def zeros(
    *shape: Any, dtype: Any = DEFAULT_DTYPE, device: str = "cpu", requires_grad: bool = False
) -> Tensor:
    """A tensor of zeros."""
    device = normalize_device(device)
    data = array_module(device).zeros(_shape(shape), dtype=dtype)
    return Tensor(data, requires_grad=requires_grad, dtype=dtype, device=device)


def ones(
    *shape: Any, dtype: Any = DEFAULT_DTYPE, device: str = "cpu", requires_grad: bool = False
) -> Tensor:
    """A tensor of ones."""
    device = normalize_device(device)
    data = array_module(device).ones(_shape(shape), dtype=dtype)
    return Tensor(data, requires_grad=requires_grad, dtype=dtype, device=device)


def full(shape: Any, value: float, dtype: Any = DEFAULT_DTYPE, device: str = "cpu") -> Tensor:
    """A tensor filled with `value`."""
    device = normalize_device(device)
    return Tensor(array_module(device).full(_shape((shape,)), value, dtype=dtype), device=device)


def arange(*args: Any, dtype: Any = None, device: str = "cpu") -> Tensor:
    """Like numpy.arange (integer dtype for integer arguments)."""
    device = normalize_device(device)
    return Tensor(array_module(device).arange(*args, dtype=dtype), device=device)


def randn(
    *shape: Any, dtype: Any = DEFAULT_DTYPE, device: str = "cpu", requires_grad: bool = False
) -> Tensor:
    """Standard normal samples from the global generator (see manual_seed)."""
    device = normalize_device(device)
    data = generator(device).standard_normal(_shape(shape), dtype=np.dtype(dtype).type)
    return Tensor(data, requires_grad=requires_grad, dtype=dtype, device=device)


def rand(
    *shape: Any, dtype: Any = DEFAULT_DTYPE, device: str = "cpu", requires_grad: bool = False
) -> Tensor:
    """Uniform [0, 1) samples from the global generator (see manual_seed)."""
    device = normalize_device(device)
    data = generator(device).random(_shape(shape), dtype=np.dtype(dtype).type)
    return Tensor(data, requires_grad=requires_grad, dtype=dtype, device=device)


def zeros_like(t: Tensor, requires_grad: bool = False) -> Tensor:
    return zeros(t.shape, dtype=t.dtype, device=t.device, requires_grad=requires_grad)


def ones_like(t: Tensor, requires_grad: bool = False) -> Tensor:
    return ones(t.shape, dtype=t.dtype, device=t.device, requires_grad=requires_grad)


def randn_like(t: Tensor) -> Tensor:
    return randn(t.shape, dtype=t.dtype, device=t.device)


def from_dlpack(array: Any) -> Tensor:
    """Wrap any DLPack-capable array (NumPy, CuPy, PyTorch, ...) as a Tensor without copying.

    CPU producers give a cpu tensor (through numpy.from_dlpack), CUDA producers a cuda tensor
    (through cupy.from_dlpack). The tensor shares memory with the producer.
    """
    if isinstance(array, Tensor):
        return array
    if not hasattr(array, "__dlpack_device__"):
        raise TypeError(f"from_dlpack: {type(array).__name__} does not implement __dlpack_device__")
    device_type = int(array.__dlpack_device__()[0])
    if device_type == 1:  # kDLCPU
        data = np.from_dlpack(array)
        return Tensor(data, dtype=data.dtype, device="cpu")
    if device_type in (2, 13):  # kDLCUDA, kDLCUDAManaged
        data = array_module("cuda").from_dlpack(array)
        return Tensor(data, dtype=data.dtype, device="cuda")
    raise ValueError(f"from_dlpack: unsupported DLPack device type {device_type}")
