# Ops that move values around without arithmetic: reshape, transpose/permute, flatten,
# indexing (slices and integer arrays), concat, stack, and the device/dtype copy `to`.
# Each backward routes the gradient back to where the value came from.
from __future__ import annotations

from typing import Any

import numpy as np

from ..autograd import Context, Function
from ..device import array_module_of, device_of, to_device
from ..tensor import Tensor
from ._util import check_same_device


class Reshape(Function):
    """z = a viewed with a new shape (same elements, same order).  dz/da: reshape back."""

    @staticmethod
    def forward(ctx: Context, a: Any, shape: tuple[int, ...] = ()) -> Any:
        ctx.shape = a.shape
        return a.reshape(shape)

    @staticmethod
    def backward(ctx: Context, g: Any) -> Any:
        return g.reshape(ctx.shape)


class Permute(Function):
    """z = a with axes reordered by `axes`.  Backward applies the inverse permutation."""

    @staticmethod
    def forward(ctx: Context, a: Any, axes: tuple[int, ...] = ()) -> Any:
        ctx.inverse = tuple(int(i) for i in np.argsort(axes))
        return a.transpose(axes)

    @staticmethod
    def backward(ctx: Context, g: Any) -> Any:
        return g.transpose(ctx.inverse)


class GetItem(Function):
    """z = a[index].  The gradient of a selected element goes back to where it was read;
    elements read twice (repeated integer indices) receive the sum (scatter-add)."""

    @staticmethod
    def forward(ctx: Context, a: Any, index: Any = None) -> Any:
        ctx.shape, ctx.dtype, ctx.index = a.shape, a.dtype, index
        return a[index]

    @staticmethod
    def backward(ctx: Context, g: Any) -> Any:
        xp = array_module_of(g)
        out = xp.zeros(ctx.shape, dtype=ctx.dtype)
        if _is_advanced(ctx.index):
            xp.add.at(out, ctx.index, g)
        else:
            out[ctx.index] = g
        return out


class Concat(Function):
    """z = [a_0, a_1, ...] joined along `axis`.  Backward slices the gradient into pieces."""

    @staticmethod
    def forward(ctx: Context, *arrays: Any, axis: int = 0) -> Any:
        ctx.axis = axis
        ctx.sizes = [a.shape[axis] for a in arrays]
        return array_module_of(arrays[0]).concatenate(arrays, axis=axis)

    @staticmethod
    def backward(ctx: Context, g: Any) -> tuple:
        pieces, start = [], 0
        for size, needed in zip(ctx.sizes, ctx.needs_input_grad, strict=True):
            if needed:
                idx = [slice(None)] * g.ndim
                idx[ctx.axis] = slice(start, start + size)
                pieces.append(g[tuple(idx)].copy())
            else:
                pieces.append(None)
            start += size
        return tuple(pieces)


class Stack(Function):
    """z = the inputs stacked along a new `axis`.  Backward takes each slice of the gradient."""

    @staticmethod
    def forward(ctx: Context, *arrays: Any, axis: int = 0) -> Any:
        ctx.axis = axis
        return array_module_of(arrays[0]).stack(arrays, axis=axis)

    @staticmethod
    def backward(ctx: Context, g: Any) -> tuple:
        xp = array_module_of(g)
        parts = xp.moveaxis(g, ctx.axis, 0)
        return tuple(
            parts[i].copy() if needed else None for i, needed in enumerate(ctx.needs_input_grad)
        )


class ToDevice(Function):
    """z = a copied to another device and/or dtype.  Backward copies the gradient back."""

    @staticmethod
    def forward(ctx: Context, a: Any, device: str = "cpu", dtype: Any = None) -> Any:
        ctx.device, ctx.dtype = device_of(a), a.dtype
        return _move(a, device, dtype)

    @staticmethod
    def backward(ctx: Context, g: Any) -> Any:
        return _move(g, ctx.device, ctx.dtype)


def _move(a: Any, device: str, dtype: Any) -> Any:
    if device_of(a) == device:
        return a.astype(dtype, copy=True)
    return to_device(a, device, dtype)


def _is_advanced(index: Any) -> bool:
    """True when `index` uses integer/boolean arrays (NumPy's advanced indexing)."""
    parts = index if isinstance(index, tuple) else (index,)
    return any(hasattr(p, "shape") or isinstance(p, list) for p in parts)


def _plain_index(index: Any) -> Any:
    """Replace Tensors inside an index by their arrays."""
    if isinstance(index, tuple):
        return tuple(_plain_index(i) for i in index)
    if isinstance(index, Tensor):
        if index.dtype.kind not in "iub":
            raise IndexError(f"getitem: index tensors must be integer or bool, got {index.dtype}")
        return index.data
    if isinstance(index, list):
        return np.asarray(index)
    return index


# ----- public functions -----------------------------------------------------------------
def reshape(a: Tensor, *shape: Any) -> Tensor:
    """Same elements in a new shape; one dimension may be -1 (inferred)."""
    if len(shape) == 1 and isinstance(shape[0], tuple | list):
        shape = tuple(shape[0])
    shape = tuple(int(s) for s in shape)
    try:
        np.empty((a.size,), dtype=np.bool_).reshape(shape)
    except ValueError:
        raise ValueError(
            f"reshape: cannot reshape a tensor of shape {a.shape} ({a.size} elements) into {shape}"
        ) from None
    return Reshape.apply(a, shape=shape)


def permute(a: Tensor, *axes: Any) -> Tensor:
    """Reorder the axes: z.shape[i] = a.shape[axes[i]]."""
    if len(axes) == 1 and isinstance(axes[0], tuple | list):
        axes = tuple(axes[0])
    axes = tuple(int(x) % max(a.ndim, 1) for x in axes)
    if sorted(axes) != list(range(a.ndim)):
        raise ValueError(
            f"permute: {axes} is not a permutation of the {a.ndim} axes of shape {a.shape}"
        )
    return Permute.apply(a, axes=axes)


def transpose(a: Tensor, axis0: int = -2, axis1: int = -1) -> Tensor:
    """Swap two axes (the last two by default: the matrix transpose)."""
    if a.ndim < 2:
        raise ValueError(f"transpose: needs at least 2 dimensions, got shape {a.shape}")
    if not (-a.ndim <= axis0 < a.ndim and -a.ndim <= axis1 < a.ndim):
        raise ValueError(f"transpose: axes ({axis0}, {axis1}) are out of range for shape {a.shape}")
    axes = list(range(a.ndim))
    axes[axis0], axes[axis1] = axes[axis1], axes[axis0]
    return Permute.apply(a, axes=tuple(axes))


def flatten(a: Tensor, start_dim: int = 1, end_dim: int = -1) -> Tensor:
    """Merge dimensions start_dim..end_dim into one (by default: all but the batch axis)."""
    if a.ndim == 0:
        return reshape(a, (1,))
    start, end = start_dim % a.ndim, end_dim % a.ndim
    if start > end:
        raise ValueError(
            f"flatten: start_dim {start_dim} is after end_dim {end_dim} for shape {a.shape}"
        )
    merged = int(np.prod(a.shape[start : end + 1]))
    return reshape(a, a.shape[:start] + (merged,) + a.shape[end + 1 :])


def getitem(a: Tensor, index: Any) -> Tensor:
    """a[index] with slices, ints, None, Ellipsis, and integer/bool arrays (or Tensors)."""
    index = _plain_index(index)
    if isinstance(index, tuple):
        for part in index:
            if hasattr(part, "shape") and device_of(part) != a.device:
                index = tuple(to_device(p, a.device) if hasattr(p, "shape") else p for p in index)
                break
    elif hasattr(index, "shape") and device_of(index) != a.device:
        index = to_device(index, a.device)
    return GetItem.apply(a, index=index)


def concat(tensors: list[Tensor] | tuple[Tensor, ...], axis: int = 0) -> Tensor:
    """Join tensors along an existing axis."""
    tensors = list(tensors)
    if not tensors:
        raise ValueError("concat: needs at least one tensor")
    check_same_device("concat", *tensors)
    ndim = tensors[0].ndim
    axis = axis % max(ndim, 1)
    for t in tensors:
        if (
            t.ndim != ndim
            or t.shape[:axis] + t.shape[axis + 1 :]
            != tensors[0].shape[:axis] + tensors[0].shape[axis + 1 :]
        ):
            shapes = [t.shape for t in tensors]
            raise ValueError(f"concat: shapes {shapes} differ outside axis {axis}")
    return Concat.apply(*tensors, axis=axis)


def stack(tensors: list[Tensor] | tuple[Tensor, ...], axis: int = 0) -> Tensor:
    """Stack equally-shaped tensors along a new axis."""
    tensors = list(tensors)
    if not tensors:
        raise ValueError("stack: needs at least one tensor")
    check_same_device("stack", *tensors)
    if len({t.shape for t in tensors}) != 1:
        raise ValueError(f"stack: all shapes must match, got {[t.shape for t in tensors]}")
    axis = axis % (tensors[0].ndim + 1)
    return Stack.apply(*tensors, axis=axis)
