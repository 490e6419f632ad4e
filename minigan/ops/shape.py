# Ops that move values around without arithmetic: reshape, transpose/permute, flatten,
# indexing (slices and integer arrays), concat, stack, and the device/dtype copy `to`;
# expand/broadcast_to, squeeze/unsqueeze, flip, split/chunk, gather, pad, cat, one_hot and
# item assignment (setitem).
# Each backward routes the gradient back to where the value came from.
from __future__ import annotations

from typing import Any

import numpy as np

from ..autograd import Context, Function, is_grad_enabled, no_grad
from ..device import array_module_of, device_of, to_device
from ..tensor import Tensor
from ._util import (
    cast_operand,
    check_same_device,
    check_tensor,
    dim_alias,
    normalize_axes,
    normalize_dim,
    normalize_new_dim,
    result_dtype,
    unbroadcast,
)


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
            _scatter_add(out, ctx.index, g)
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


def to_copy(a: Tensor, device: str, dtype: Any) -> Tensor:
    """a on `device` with `dtype`, differentiably (what Tensor.to runs when something
    changes; PyTorch's internal `_to_copy`). Backward: the gradient copied back.

    To a non-float dtype (integer, bool) the result is a constant, as in PyTorch: no
    graph and requires_grad=False (such a tensor cannot carry a gradient)."""
    if np.dtype(dtype).kind != "f":
        with no_grad():
            return ToDevice.apply(a, device=device, dtype=dtype)
    return ToDevice.apply(a, device=device, dtype=dtype)


def _move(a: Any, device: str, dtype: Any) -> Any:
    if device_of(a) == device:
        return a.astype(dtype, copy=True)
    return to_device(a, device, dtype)


def _is_advanced(index: Any) -> bool:
    """True when `index` uses integer/boolean arrays (NumPy's advanced indexing)."""
    parts = index if isinstance(index, tuple) else (index,)
    return any(hasattr(p, "shape") or isinstance(p, list) for p in parts)


def _plain_index(index: Any, op: str = "getitem") -> Any:
    """Replace Tensors inside an index by their arrays (and lists by NumPy arrays)."""
    if isinstance(index, tuple):
        return tuple(_plain_index(i, op) for i in index)
    if isinstance(index, Tensor):
        if index.dtype.kind not in "iub":
            raise IndexError(f"{op}: index tensors must be integer or bool, got {index.dtype}")
        return index.data
    if isinstance(index, list):
        if any(isinstance(i, Tensor) for i in index):
            return np.asarray([i.item() if isinstance(i, Tensor) else i for i in index])
        return np.asarray(index) if index else np.zeros(0, dtype=np.int64)
    return index


# ----- public functions -----------------------------------------------------------------
def reshape(a: Tensor, *shape: Any) -> Tensor:
    """Same elements in a new shape; one dimension may be -1 (inferred).

    A view when the layout allows it; backward reshapes the gradient back to a.shape.
    """
    check_tensor("reshape", a)
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


def permute(a: Tensor, *dims: Any) -> Tensor:
    """Reorder the dims: z.shape[i] = a.shape[dims[i]] (dims as ints or one tuple)."""
    if len(dims) == 1 and isinstance(dims[0], tuple | list):
        dims = tuple(dims[0])
    axes = tuple(normalize_dim(d, a.ndim, "permute") for d in dims)
    if sorted(axes) != list(range(a.ndim)):
        raise ValueError(
            f"permute: {dims} is not a permutation of the {a.ndim} dims of shape {a.shape}"
        )
    return Permute.apply(a, axes=axes)


def transpose(a: Tensor, dim0: int = -2, dim1: int = -1) -> Tensor:
    """Swap two dims (the last two by default: the matrix transpose)."""
    if a.ndim < 2:
        raise ValueError(f"transpose: needs at least 2 dimensions, got shape {a.shape}")
    d0, d1 = normalize_dim(dim0, a.ndim, "transpose"), normalize_dim(dim1, a.ndim, "transpose")
    axes = list(range(a.ndim))
    axes[d0], axes[d1] = axes[d1], axes[d0]
    return Permute.apply(a, axes=tuple(axes))


def flatten(a: Tensor, start_dim: int = 1, end_dim: int = -1) -> Tensor:
    """Merge dims start_dim..end_dim into one (by default all but the batch dim: note
    torch.flatten's default start_dim is 0; minigan keeps 1, nn.Flatten's default, which
    its callers rely on). A 0-d tensor becomes shape (1,), as in PyTorch."""
    if a.ndim == 0:
        normalize_dim(start_dim, 0, "flatten")
        normalize_dim(end_dim, 0, "flatten")
        return reshape(a, (1,))
    start = normalize_dim(start_dim, a.ndim, "flatten", "start_dim")
    end = normalize_dim(end_dim, a.ndim, "flatten", "end_dim")
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
    _check_index("getitem", a.shape, index)
    return GetItem.apply(a, index=index)


def _joined_operands(op: str, tensors: Any) -> list[Tensor]:
    """cat/stack's inputs: a non-empty sequence of Tensors on one device, cast to their
    common dtype by PyTorch's promotion rule (`result_dtype`: cat of int64 and float32 is
    float32; a cast of a tensor that requires grad is differentiable, `cast_operand`)."""
    if isinstance(tensors, Tensor):
        raise TypeError(f"{op}: expected a list or tuple of Tensors, got a single Tensor")
    tensors = list(tensors)
    if not tensors:
        raise ValueError(f"{op}: needs at least one tensor")
    for i, t in enumerate(tensors):
        check_tensor(op, t, f"tensors[{i}]")
    check_same_device(op, *tensors)
    dtype = result_dtype(op, *tensors)
    return [cast_operand(t, dtype, t, op) for t in tensors]


def concat(
    tensors: list[Tensor] | tuple[Tensor, ...], dim: int | None = None, *, axis: int | None = None
) -> Tensor:
    """Join tensors along an existing dim (default 0; `axis` is a NumPy-style alias).
    Mixed dtypes are promoted to one (PyTorch's rule, `result_dtype`)."""
    dim, name = dim_alias("concat", dim, axis)
    tensors = _joined_operands("concat", tensors)
    ndim = tensors[0].ndim
    if ndim == 0:
        raise ValueError("concat: zero-dimensional tensors cannot be concatenated")
    axis = normalize_dim(0 if dim is None else dim, ndim, "concat", name)
    for t in tensors:
        if (
            t.ndim != ndim
            or t.shape[:axis] + t.shape[axis + 1 :]
            != tensors[0].shape[:axis] + tensors[0].shape[axis + 1 :]
        ):
            shapes = [t.shape for t in tensors]
            raise ValueError(f"concat: shapes {shapes} differ outside dim {axis}")
    return Concat.apply(*tensors, axis=axis)


def stack(
    tensors: list[Tensor] | tuple[Tensor, ...], dim: int | None = None, *, axis: int | None = None
) -> Tensor:
    """Stack equally-shaped tensors along a new dim (default 0; valid -(ndim+1)..ndim;
    `axis` is a NumPy-style alias). Mixed dtypes are promoted to one (`result_dtype`)."""
    dim, name = dim_alias("stack", dim, axis)
    tensors = _joined_operands("stack", tensors)
    if len({t.shape for t in tensors}) != 1:
        raise ValueError(f"stack: all shapes must match, got {[t.shape for t in tensors]}")
    axis = normalize_new_dim(0 if dim is None else dim, tensors[0].ndim, "stack", name)
    return Stack.apply(*tensors, axis=axis)


# ----- issue 12: expand, squeeze, flip, split, gather, pad, one_hot, item assignment ------
def _scatter_add(out: Any, index: Any, values: Any) -> None:
    """out[index] += values, where a position that `index` names twice receives both values.

    A plain `out[index] += values` keeps only one of the repeated writes; the scatter-add
    is the add ufunc's unbuffered `at` (np.add.at on the cpu, cupy.add.at on cuda).
    """
    array_module_of(out).add.at(out, index, values)


def _is_int(value: Any) -> bool:
    return isinstance(value, int | np.integer) and not isinstance(value, bool | np.bool_)


def _index_axes(part: Any) -> int:
    """How many dims of the indexed tensor one index entry consumes."""
    if part is None or part is Ellipsis or isinstance(part, bool | np.bool_):
        return 0
    if hasattr(part, "shape") and part.dtype.kind == "b":
        return part.ndim
    return 1


def _check_index(op: str, shape: tuple[int, ...], index: Any) -> None:
    """Raise IndexError naming `op` for an index NumPy would reject or CuPy would wrap.

    Checks the entry types, the number of indexed dims, integer (and integer-array)
    indices against -n..n-1, and boolean masks against the shape of the dims they cover.
    """
    parts = index if isinstance(index, tuple) else (index,)
    for part in parts:
        ok = part is None or part is Ellipsis or isinstance(part, slice | bool | np.bool_)
        ok = ok or _is_int(part) or (hasattr(part, "dtype") and part.dtype.kind in "iub")
        if not ok:
            what = f"array of dtype {part.dtype}" if hasattr(part, "dtype") else repr(part)
            raise IndexError(
                f"{op}: only integers, slices, None, Ellipsis and integer or boolean "
                f"arrays/tensors are valid indices, got {what}"
            )
    if sum(p is Ellipsis for p in parts) > 1:
        raise IndexError(f"{op}: an index can only have a single Ellipsis (...)")
    used = sum(_index_axes(p) for p in parts)
    if used > len(shape):
        raise IndexError(
            f"{op}: too many indices for a tensor of shape {shape}: {len(shape)} dims, "
            f"{used} indexed"
        )
    axis = 0
    for k, part in enumerate(parts):
        if part is Ellipsis:
            axis = len(shape) - sum(_index_axes(p) for p in parts[k + 1 :])
            continue
        if hasattr(part, "dtype") and part.dtype.kind == "b":
            covered = shape[axis : axis + part.ndim]
            if tuple(part.shape) != covered:
                raise IndexError(
                    f"{op}: boolean mask of shape {tuple(part.shape)} does not match the "
                    f"dims {covered} it indexes (dims {axis}.. of shape {shape})"
                )
        elif _is_int(part) or hasattr(part, "dtype"):
            n = shape[axis]
            if _is_int(part):
                low = high = int(part)
            elif part.size:
                low, high = int(part.min()), int(part.max())
            else:  # an empty integer array selects nothing
                low = high = -1 if n else 0
                n = max(n, 1)
            if low < -n or high >= n:
                bad = low if low < -n else high
                raise IndexError(
                    f"{op}: index {bad} is out of bounds for dim {axis} with size {n} "
                    f"(tensor of shape {shape})"
                )
        axis += _index_axes(part)


def _move_index(index: Any, device: str) -> Any:
    """The arrays inside an index moved to `device` (the indexed tensor's)."""
    if isinstance(index, tuple):
        return tuple(_move_index(p, device) for p in index)
    if hasattr(index, "shape") and device_of(index) != device:
        return to_device(index, device)
    return index


class Expand(Function):
    """z = a broadcast to `shape` (new leading dims, size-1 dims repeated), no copy.

    z[i...] = a[j...] where j drops the new leading dims and is 0 on stretched dims.
    Backward: every copy of a_j contributed g at its position, so da = g summed over the
    new leading dims and over the stretched dims (`unbroadcast`).
    """

    @staticmethod
    def forward(ctx: Context, a: Any, shape: tuple[int, ...] = ()) -> Any:
        ctx.shape = a.shape
        return array_module_of(a).broadcast_to(a, shape)

    @staticmethod
    def backward(ctx: Context, g: Any) -> Any:
        return unbroadcast(g, ctx.shape)


class Flip(Function):
    """z = a with the order of the elements reversed along `dims`:
    z[..., i, ...] = a[..., n-1-i, ...].  Backward flips the gradient back the same way."""

    @staticmethod
    def forward(ctx: Context, a: Any, dims: tuple[int, ...] = ()) -> Any:
        ctx.dims = dims
        return array_module_of(a).flip(a, dims) if dims else a.copy()

    @staticmethod
    def backward(ctx: Context, g: Any) -> Any:
        return array_module_of(g).flip(g, ctx.dims) if ctx.dims else g


class Gather(Function):
    """z[i_0, ..., i_k] = a[i_0, ..., index[i_0, ..., i_k], ..., i_k] (index at position
    `dim`, PyTorch's torch.gather); z has index's shape.

    Backward: a value of `a` read r times receives the sum of the r gradients:
    da = 0, then da[i_0, ..., index[i], ..., i_k] += g[i] for every i (a scatter-add).
    """

    @staticmethod
    def forward(ctx: Context, a: Any, index: Any = None, dim: int = 0) -> Any:
        xp = array_module_of(a)
        grids = []  # position k: arange over index's dim k, shaped to broadcast
        for k, n in enumerate(index.shape):
            view = [1] * index.ndim
            view[k] = n
            grids.append(index if k == dim else xp.arange(n).reshape(view))
        ctx.shape, ctx.dtype, ctx.where = a.shape, a.dtype, tuple(grids)
        return a[ctx.where]

    @staticmethod
    def backward(ctx: Context, g: Any) -> Any:
        out = array_module_of(g).zeros(ctx.shape, dtype=ctx.dtype)
        _scatter_add(out, ctx.where, g)
        return out


class Pad(Function):
    """z = a padded (or, with negative pads, cropped) along the last dims.

    Along one padded dim of size n with pads (left, right), output position o reads the
    input coordinate c = o - left (o = 0 .. n + left + right - 1); for c outside 0..n-1:
      constant:  z = value             (no input element: no gradient)
      reflect:   c -> -c, or 2(n-1) - c  (mirror without repeating the edge)
      replicate: c -> clip(c, 0, n-1)
      circular:  the crop (negative pads) first, then c -> c mod n' on the cropped dim of
                 size n' (as PyTorch)
    Forward reads a at the mapped coordinates, one dim after the other. Backward: an input
    element read r times receives the sum of the r gradients, a scatter-add of g along
    each dim in reverse order (constant mode: g at the value positions is dropped).
    """

    @staticmethod
    def forward(
        ctx: Context, a: Any, maps: tuple = (), mode: str = "constant", value: Any = 0.0
    ) -> Any:
        # maps: (dim, n, left, right) per padded dim
        xp = array_module_of(a)
        ctx.shape, ctx.dtype, ctx.maps, ctx.mode = a.shape, a.dtype, maps, mode
        if mode == "constant":
            src, dst = _constant_pad_slices(a.shape, maps)
            out_shape = list(a.shape)
            for dim, n, left, right in maps:
                out_shape[dim] = n + left + right
            out = xp.full(tuple(out_shape), value, dtype=a.dtype)
            out[dst] = a[src]
            return out
        out = a
        for dim, n, left, right in maps:
            out = xp.take(out, _pad_coordinates(xp, mode, n, left, right), axis=dim)
        return out

    @staticmethod
    def backward(ctx: Context, g: Any) -> Any:
        xp = array_module_of(g)
        if ctx.mode == "constant":
            src, dst = _constant_pad_slices(ctx.shape, ctx.maps)
            out = xp.zeros(ctx.shape, dtype=ctx.dtype)
            out[src] = g[dst]
            return out
        for dim, n, left, right in reversed(ctx.maps):
            coords = _pad_coordinates(xp, ctx.mode, n, left, right)
            moved = xp.moveaxis(g, dim, 0)
            acc = xp.zeros((n,) + moved.shape[1:], dtype=g.dtype)
            _scatter_add(acc, coords, moved)
            g = xp.moveaxis(acc, 0, dim)
        return g


def _constant_pad_slices(shape: tuple[int, ...], maps: tuple) -> tuple[tuple, tuple]:
    """(src, dst): the part of the input that survives the crop, and where it lands."""
    src, dst = [slice(None)] * len(shape), [slice(None)] * len(shape)
    for dim, n, left, right in maps:
        start, stop = max(-left, 0), n - max(-right, 0)
        src[dim] = slice(start, max(stop, start))
        dst[dim] = slice(max(left, 0), max(left, 0) + max(stop - start, 0))
    return tuple(src), tuple(dst)


def _pad_coordinates(xp: Any, mode: str, n: int, left: int, right: int) -> Any:
    """The input coordinate each output position reads along one dim (see Pad)."""
    c = xp.arange(-left, n + right)
    if mode == "reflect":
        c = xp.abs(c)
        c = xp.where(c > n - 1, 2 * (n - 1) - c, c)
    elif mode == "replicate":
        c = xp.clip(c, 0, n - 1)
    else:  # circular: crop first, then wrap around the n' kept elements
        start = max(-left, 0)
        kept = n - start - max(-right, 0)
        c = xp.arange(-max(left, 0), kept + max(right, 0)) % kept + start
    return c


class SetItem(Function):
    """z = a with z[index] = v (v broadcast to the shape of a[index]); a is not modified.

    Backward: the overwritten positions of a no longer influence z, so
    da = g with da[index] = 0; v was copied to each indexed position, so
    dv = g[index] summed back to v's shape (`unbroadcast`). When an integer-array index
    names a position more than once, only the last write survives (NumPy's order), and
    only that write's element of v gets the position's gradient (PyTorch instead counts
    every write, a gradient that does not match its forward).
    """

    @staticmethod
    def forward(ctx: Context, a: Any, v: Any, index: Any = None) -> Any:
        ctx.index, ctx.v_shape, ctx.survivors = index, v.shape, None
        out = a.copy()
        out[index] = v
        if ctx.needs_input_grad[1] and _is_advanced(index):
            # number the writes, write the numbers the same way: a write survived where
            # its own number is read back
            xp = array_module_of(a)
            target = a[index].shape
            ids = xp.arange(int(np.prod(target)), dtype=np.int64).reshape(target)
            written = xp.full(a.shape, -1, dtype=np.int64)
            written[index] = ids
            survivors = written[index] == ids
            if not bool(survivors.all()):
                ctx.survivors = survivors
        return out

    @staticmethod
    def backward(ctx: Context, g: Any) -> tuple:
        ga = gv = None
        if ctx.needs_input_grad[0]:
            ga = g.copy()
            ga[ctx.index] = 0
        if ctx.needs_input_grad[1]:
            picked = g[ctx.index]
            if ctx.survivors is not None:
                picked = picked * ctx.survivors
            gv = unbroadcast(picked, ctx.v_shape)
        return ga, gv


# ----- public functions (issue 12) ------------------------------------------------------
def _int_sizes(op: str, sizes: tuple) -> tuple[int, ...]:
    """Sizes given as varargs or as one tuple/list, as ints."""
    if len(sizes) == 1 and isinstance(sizes[0], tuple | list):
        sizes = tuple(sizes[0])
    if len(sizes) == 1 and isinstance(sizes[0], Tensor):
        sizes = tuple(sizes[0].tolist())
    for s in sizes:
        if not _is_int(s):
            raise TypeError(f"{op}: sizes must be ints, got {s!r} in {sizes}")
    return tuple(int(s) for s in sizes)


def expand(a: Tensor, *sizes: Any) -> Tensor:
    """a broadcast to `sizes` without copying (PyTorch's Tensor.expand).

    Size -1 keeps a dim; dims of size 1 can take any size; extra sizes add new leading
    dims (which cannot be -1). Backward: the gradient summed over the copies.
    """
    return _expand(a, _int_sizes("expand", sizes), "expand")


def _expand(a: Tensor, sizes: tuple[int, ...], op: str) -> Tensor:
    """expand's work, its errors naming `op` (expand or broadcast_to)."""
    if len(sizes) < a.ndim:
        raise ValueError(
            f"{op}: the number of sizes ({len(sizes)}, {sizes}) must be at least the "
            f"number of dims of the tensor of shape {a.shape}"
        )
    lead = len(sizes) - a.ndim
    shape = []
    for i, s in enumerate(sizes):
        if i < lead:
            if s < 0:
                raise ValueError(
                    f"{op}: size {s} is not allowed for the new leading dim {i} "
                    f"(expanding shape {a.shape} to {sizes})"
                )
            shape.append(s)
            continue
        n = a.shape[i - lead]
        if s == -1 or s == n:
            shape.append(n)
        elif n == 1 and s >= 0:
            shape.append(s)
        else:
            raise ValueError(
                f"{op}: the size {s} of dim {i} must match the existing size {n} of a "
                f"non-1 dim (expanding shape {a.shape} to {sizes})"
            )
    return Expand.apply(a, shape=tuple(shape))


def broadcast_to(input: Tensor, shape: Any) -> Tensor:
    """input broadcast to `shape` (torch.broadcast_to: the same as input.expand(shape))."""
    return _expand(input, _int_sizes("broadcast_to", (shape,)), "broadcast_to")


def squeeze(input: Tensor, dim: Any = None) -> Tensor:
    """Remove dims of size 1: all of them (dim=None), or those among `dim` (an int or a
    tuple of ints); a named dim whose size is not 1 is left alone, as in PyTorch.

    A reshape: the backward reshapes the gradient back.
    """
    dims = range(input.ndim) if dim is None else normalize_axes(dim, input.ndim, "squeeze")
    drop = {d for d in dims if input.ndim > 0 and input.shape[d] == 1}
    shape = tuple(n for d, n in enumerate(input.shape) if d not in drop)
    return Reshape.apply(input, shape=shape)


def unsqueeze(input: Tensor, dim: int) -> Tensor:
    """Insert a dim of size 1 at position `dim` (valid range -ndim-1..ndim).

    A reshape: the backward reshapes the gradient back.
    """
    d = normalize_new_dim(dim, check_tensor("unsqueeze", input).ndim, "unsqueeze")
    shape = input.shape[:d] + (1,) + input.shape[d:]
    return Reshape.apply(input, shape=shape)


def flip(input: Tensor, dims: Any) -> Tensor:
    """Reverse the order of the elements along `dims` (an int or a tuple of ints).

    z[..., i, ...] = a[..., n-1-i, ...]; backward flips the gradient back.
    """
    axes = normalize_axes(dims, input.ndim, "flip")
    if input.ndim == 0:
        axes = ()
    return Flip.apply(input, dims=axes)


def _split_sizes(op: str, input: Tensor, sizes: Any, d: int) -> list[int]:
    n = input.shape[d]
    if _is_int(sizes):
        size = int(sizes)
        if size < 0 or (size == 0 and n != 0):
            raise ValueError(
                f"{op}: split_size must be positive (0 only for an empty dim), got {size} "
                f"for dim {d} of size {n} (shape {input.shape})"
            )
        count = max(-(-n // size), 1) if size else 1
        return [size] * (count - 1) + [n - size * (count - 1)]
    if isinstance(sizes, Tensor):
        sizes = sizes.tolist()
    if not isinstance(sizes, tuple | list) or not all(_is_int(s) for s in sizes):
        raise TypeError(f"{op}: split_size_or_sections must be an int or a list of ints")
    sizes = [int(s) for s in sizes]
    if any(s < 0 for s in sizes) or sum(sizes) != n:
        raise ValueError(
            f"{op}: sections {sizes} must be non-negative and sum to {n}, the size of dim "
            f"{d} (shape {input.shape})"
        )
    return sizes


def _pieces(input: Tensor, sizes: list[int], d: int) -> tuple[Tensor, ...]:
    """Slices of `input` along dim d, each a getitem (its gradient lands in its slice)."""
    out, start = [], 0
    for size in sizes:
        index = (slice(None),) * d + (slice(start, start + size),)
        out.append(GetItem.apply(input, index=index))
        start += size
    return tuple(out)


def split(
    tensor: Tensor, split_size_or_sections: int | list[int] | tuple[int, ...], dim: int = 0
) -> tuple[Tensor, ...]:
    """Cut `tensor` along `dim` into pieces of `split_size_or_sections` elements (an int:
    equal pieces, the last one smaller) or of the listed sizes (which must sum to the dim).

    Each piece is a slice: its gradient goes into its part of the input's gradient, and
    unused pieces contribute zeros.
    """
    if tensor.ndim == 0:
        raise ValueError("split: cannot split a 0-d tensor")
    d = normalize_dim(dim, tensor.ndim, "split")
    return _pieces(tensor, _split_sizes("split", tensor, split_size_or_sections, d), d)


def chunk(input: Tensor, chunks: int, dim: int = 0) -> tuple[Tensor, ...]:
    """Cut `input` along `dim` into `chunks` pieces of ceil(n / chunks) elements (the last
    smaller; fewer pieces when they run out, as in PyTorch). Gradients as in `split`."""
    if not _is_int(chunks) or chunks <= 0:
        raise ValueError(f"chunk: chunks must be a positive int, got {chunks!r}")
    if input.ndim == 0:
        raise ValueError("chunk: cannot chunk a 0-d tensor")
    d = normalize_dim(dim, input.ndim, "chunk")
    n = input.shape[d]
    if n == 0:
        return _pieces(input, [0] * int(chunks), d)
    return split(input, -(-n // int(chunks)), d)


def gather(input: Tensor, dim: int, index: Any) -> Tensor:
    """Values of `input` picked along `dim` by `index` (torch.gather):
    out[i_0..i_k] = input[i_0, .., index[i_0..i_k], .., i_k] (index at position dim).

    `index` is an integer tensor with input's number of dims, index.shape[d] <=
    input.shape[d] for d != dim, and values in 0..input.shape[dim]-1. Backward: a
    scatter-add of the gradient into the positions read.
    """
    if not isinstance(index, Tensor):
        index = Tensor(np.asarray(index), device=input.device)
    check_same_device("gather", input, index)
    if index.dtype.kind not in "iu":
        raise TypeError(f"gather: index must be an integer tensor, got dtype {index.dtype}")
    d = normalize_dim(dim, input.ndim, "gather")
    if index.ndim != input.ndim:
        raise ValueError(
            f"gather: index of shape {index.shape} must have as many dims as the input of "
            f"shape {input.shape}"
        )
    for k in range(input.ndim):
        if k != d and index.shape[k] > input.shape[k]:
            raise ValueError(
                f"gather: index of shape {index.shape} must be no larger than the input of "
                f"shape {input.shape} in every dim but dim {d}"
            )
    n = input.shape[d] if input.ndim else 1
    if index.size:
        low, high = int(index.data.min()), int(index.data.max())
        if low < 0 or high >= n:
            raise IndexError(
                f"gather: index {low if low < 0 else high} is out of bounds for dim {d} with "
                f"size {n} (input shape {input.shape})"
            )
    if input.ndim == 0:
        return reshape(Gather.apply(reshape(input, (1,)), index=index.data.reshape(1), dim=0), ())
    return Gather.apply(input, index=index.data, dim=d)


PAD_MODES = ("constant", "reflect", "replicate", "circular")


def pad(input: Tensor, pad: Any, mode: str = "constant", value: float | None = None) -> Tensor:
    """torch.nn.functional.pad: pad (or crop, with negative pads) the last dims.

    `pad` = (left_last, right_last, left_2nd_last, right_2nd_last, ...): pairs from the
    last dim backwards. Modes: "constant" (fill with `value`, default 0), "reflect"
    (mirror, pads at most n-1), "replicate" (repeat the edge), "circular" (wrap around,
    pads at most n). The math of forward and backward is in `Pad`.
    """
    if mode not in PAD_MODES:
        raise ValueError(f"pad: mode must be one of {PAD_MODES}, got {mode!r}")
    if not isinstance(pad, tuple | list) or not all(_is_int(p) for p in pad):
        raise TypeError(f"pad: pad must be a tuple of ints, got {pad!r}")
    pads = tuple(int(p) for p in pad)
    if len(pads) % 2 or len(pads) > 2 * input.ndim:
        raise ValueError(
            f"pad: the pad tuple {pads} must have an even length of at most 2 * ndim = "
            f"{2 * input.ndim} (input shape {input.shape})"
        )
    if mode != "constant" and value not in (None, 0, 0.0):
        raise ValueError(f'pad: mode "{mode}" does not take a value (got value={value})')
    maps = []
    for k in range(len(pads) // 2):
        dim = input.ndim - 1 - k
        n, left, right = input.shape[dim], pads[2 * k], pads[2 * k + 1]
        if n + left + right < 0:
            raise ValueError(
                f"pad: pads ({left}, {right}) make dim {dim} of size {n} negative "
                f"(input shape {input.shape})"
            )
        kept = n - max(-left, 0) - max(-right, 0)  # circular wraps around the cropped dim
        limit = {"constant": None, "reflect": n - 1, "replicate": None, "circular": kept}[mode]
        if limit is not None and (left > limit or right > limit):
            raise ValueError(
                f'pad: mode "{mode}" pads dim {dim} of size {n} by at most {limit} on each '
                f"side, got ({left}, {right}) (input shape {input.shape})"
            )
        if mode == "replicate" and n == 0 and (left > 0 or right > 0):
            raise ValueError(f'pad: mode "replicate" cannot pad the empty dim {dim}')
        maps.append((dim, n, left, right))
    fill = 0 if value is None else value
    return Pad.apply(input, maps=tuple(maps), mode=mode, value=fill)


def cat(tensors: list[Tensor] | tuple[Tensor, ...], dim: int = 0) -> Tensor:
    """torch.cat: join tensors along an existing dim (the same op as `concat`)."""
    return concat(tensors, dim)


def one_hot(tensor: Tensor, num_classes: int = -1) -> Tensor:
    """torch.nn.functional.one_hot: out[..., c] = 1 if tensor[...] == c else 0, as int64,
    of shape tensor.shape + (num_classes,). num_classes=-1 means max(tensor) + 1.

    Not differentiable (its input is a tensor of class indices).
    """
    if not isinstance(tensor, Tensor):
        raise TypeError(f"one_hot: expected a Tensor of class indices, got {type(tensor).__name__}")
    if tensor.dtype.kind not in "iu":
        raise TypeError(f"one_hot: expected an integer tensor of class indices, got {tensor.dtype}")
    if not _is_int(num_classes) or num_classes < -1:
        raise ValueError(
            f"one_hot: num_classes must be -1 or a non-negative int, got {num_classes}"
        )
    xp = array_module_of(tensor.data)
    low = int(tensor.data.min()) if tensor.size else 0
    high = int(tensor.data.max()) if tensor.size else -1
    if num_classes == -1:
        if tensor.size == 0:
            raise ValueError("one_hot: cannot infer num_classes from an empty tensor; pass it")
        num_classes = high + 1
    if low < 0:
        raise ValueError(f"one_hot: class values must be non-negative, got {low}")
    if high >= num_classes:
        raise ValueError(
            f"one_hot: class values must be smaller than num_classes={num_classes}, got {high}"
        )
    classes = xp.arange(int(num_classes), dtype=np.int64)
    out = (tensor.data[..., None] == classes).astype(np.int64)
    return Tensor._from_op(out, requires_grad=False)


def _check_writable(t: Tensor) -> None:
    """PyTorch refuses to write into a tensor whose elements share memory (expand)."""
    overlap = any(st == 0 and n > 1 for st, n in zip(t.data.strides, t.shape))
    if overlap:
        raise RuntimeError(
            f"setitem: more than one element of the written-to tensor (shape {t.shape}) "
            "refers to a single memory location (an expand/broadcast_to result); clone it "
            "first, e.g. t = t * 1"
        )


def setitem(t: Tensor, index: Any, value: Any) -> None:
    """t[index] = value, in place on the tensor object `t` (PyTorch's rules for autograd).

    - A leaf that requires grad cannot be written to while grad mode is on (RuntimeError,
      as in PyTorch); inside `no_grad()` it can (e.g. to initialise a parameter).
    - When t or value requires grad (and grad mode is on), the write is recorded: t
      becomes the output of a `SetItem` node whose inputs are t's previous value and
      `value`, so gradients flow to the old value (0 at the overwritten positions) and to
      `value` (the gradients of the positions it was written to, summed back to its shape).
      t then gets a new array, so values that earlier ops saved for their backward stay
      intact; tensors that shared t's memory (detach(), views) keep the old values.
    - Otherwise the values are written into t's array (tensors sharing it see the change),
      except for a non-leaf, which gets a new array for the reason above.
    `value` is a tensor, an array or a number, broadcast to t[index]'s shape and cast to
    t's dtype. Every write bumps t's version: a backward through an op that used t
    before the write raises (autograd.Node.check_versions) instead of computing with
    overwritten values or sending its gradient through the write. A write into t's own
    array bumps the counter t shares with every tensor aliasing that array (detach(),
    reshape, basic slices, split pieces), so their consumers raise too; a write that gives
    t a new array gives t a fresh counter, one past the old value (the aliases' buffer
    was not written). This is stricter than PyTorch in a few cases, listed in
    docs/tensor-rules.md ("In-place writes").
    """
    if not isinstance(t, Tensor):
        raise TypeError(f"setitem: expected a Tensor to write into, got {type(t).__name__}")
    index = _move_index(_plain_index(index, "setitem"), t.device)
    _check_index("setitem", t.shape, index)
    if isinstance(value, Tensor):
        check_same_device("setitem", t, value)
        if value.dtype.kind == "c":
            raise TypeError(f"setitem: complex values are not supported (got {value.dtype})")
        if t.dtype.kind != "f":
            value = value.detach()  # an integer/bool tensor carries no gradient
        value = value.to(dtype=t.dtype)
    else:
        if isinstance(value, complex) or getattr(value, "dtype", np.dtype("f")).kind == "c":
            raise TypeError(f"setitem: complex values are not supported (got {value!r:.40})")
        value = Tensor(value, dtype=t.dtype, device=t.device)
    if value.ndim and value.shape[0] == 1:
        # PyTorch accepts extra leading size-1 dims (t[0] = v, v of shape (1, n)): drop them
        cpu_index = _move_index(index, "cpu")
        target = np.broadcast_to(np.zeros((), np.bool_), t.shape)[cpu_index].shape
        lead = 0
        while value.ndim - lead > len(target) and value.shape[lead] == 1:
            lead += 1
        if lead:
            value = reshape(value, value.shape[lead:])
    recording = is_grad_enabled() and (t.requires_grad or value.requires_grad)
    if recording and t.is_leaf and t.requires_grad:
        raise RuntimeError(
            "setitem: a leaf Variable that requires grad is being used in an in-place "
            f"operation (shape {t.shape}); do it inside minigan.no_grad(), or write into a copy"
        )
    try:
        if not recording:
            if t.is_leaf:
                _check_writable(t)
                t.data[index] = value.data
                t._bump_version()  # the buffer was written: every alias's consumers see it
            else:
                data = t.data.copy()
                data[index] = value.data
                t.data = data
                t._rewired_version()  # a new array: the aliases (old buffer) are intact
            return
        old = Tensor._from_op(t.data, requires_grad=t.requires_grad)
        old._node, old._version_counter = t._node, t._version_counter
        new = SetItem.apply(old, value, index=index)
    except ValueError as exc:
        raise ValueError(
            f"setitem: cannot write a value of shape {value.shape} to t[index] of a tensor "
            f"of shape {t.shape} ({exc})"
        ) from None
    t.data, t._node, t.requires_grad = new.data, new._node, True
    t._rewired_version()
