# Helpers shared by the op files: turning operands into tensors, checking devices, and
# summing a broadcast gradient back to an input's shape.
from __future__ import annotations

from typing import Any

import numpy as np

from ..tensor import Tensor


def as_tensor_like(value: Any, like: Tensor) -> Tensor:
    """A Python/NumPy scalar or array as a constant tensor with `like`'s dtype and device."""
    if isinstance(value, Tensor):
        return value
    dtype = like.dtype
    if dtype.kind != "f" and isinstance(value, float):
        dtype = np.dtype(np.float32)  # int tensor * 2.5 must not truncate 2.5
    return Tensor(value, dtype=dtype, device=like.device)


def check_same_device(op: str, *tensors: Tensor) -> None:
    """Raise a clear error when an op mixes cpu and cuda tensors."""
    devices = {t.device for t in tensors}
    if len(devices) > 1:
        desc = ", ".join(f"{t.shape}@{t.device}" for t in tensors)
        raise ValueError(f"{op}: all inputs must be on one device, got {desc}")


def check_float(op: str, *tensors: Tensor) -> None:
    """Raise a clear error when a differentiable op receives non-float tensors."""
    for t in tensors:
        if t.dtype.kind != "f":
            raise TypeError(
                f"{op}: expected floating tensors, got dtype {t.dtype} (shape {t.shape})"
            )


def unbroadcast(grad: Any, shape: tuple[int, ...]) -> Any:
    """Sum `grad` over the axes that broadcasting expanded, so it gets `shape` back.

    Broadcasting copies an input along new leading axes and along axes of size 1; the
    gradient of a copy is the sum of the copies' gradients.
    """
    if tuple(grad.shape) == tuple(shape):
        return grad
    extra = grad.ndim - len(shape)
    if extra > 0:
        grad = grad.sum(axis=tuple(range(extra)))
    axes = tuple(i for i, n in enumerate(shape) if n == 1 and grad.shape[i] != 1)
    if axes:
        grad = grad.sum(axis=axes, keepdims=True)
    return grad


def normalize_axes(axis: Any, ndim: int, op: str) -> tuple[int, ...] | None:
    """Axis argument (None, int, tuple) as a sorted tuple of non-negative ints (None = all)."""
    if axis is None:
        return None
    axes = (axis,) if isinstance(axis, int | np.integer) else tuple(axis)
    out = []
    for a in axes:
        a = int(a)
        if not -ndim <= a < max(ndim, 1):
            raise ValueError(f"{op}: axis {a} is out of range for a {ndim}-d tensor")
        out.append(a % max(ndim, 1))
    return tuple(sorted(set(out)))
