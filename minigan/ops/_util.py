# Helpers shared by the op files: turning operands into tensors (check_tensor,
# cast_operand), checking devices and broadcasting, summing a broadcast gradient back to an
# input's shape, the one rule for dims (normalize_axes / normalize_dim / normalize_new_dim /
# reduction_dims / dim_alias) and for dtypes (result_dtype, float_operands,
# check_not_complex), and the int-or-pair parser of the pooling/convolution arguments
# (int_pair). docs/tensor-rules.md states the rules these implement.
from __future__ import annotations

from typing import Any

import numpy as np

from .. import backend
from ..device import device_of
from ..tensor import DEFAULT_DTYPE, Tensor


def as_tensor_like(value: Any, like: Tensor) -> Tensor:
    """A Python/NumPy scalar or array as a constant tensor with `like`'s dtype and device."""
    if isinstance(value, Tensor):
        return value
    dtype = like.dtype
    if dtype.kind != "f" and isinstance(value, float):
        dtype = np.dtype(np.float32)  # int tensor * 2.5 must not truncate 2.5
    return Tensor(value, dtype=dtype, device=like.device)


def kernel_for(name: str, array: Any) -> Any:
    """The kernel contract function `name` for the device and dtype of `array`
    (minigan.backend.kernel; the ops' one way to reach a kernel)."""
    return backend.kernel(name, device_of(array), array.dtype)


def check_tensor(op: str, value: Any, name: str | None = "input") -> Tensor:
    """`value` itself if it is a Tensor, else TypeError "<op>: <name> must be a Tensor, got
    <type>" ("<op>: expected a Tensor, got <type>" when `name` is None, the reductions'
    wording). Every op entry point checks its tensor arguments with this, so a list or a
    number never reaches the array code as an AttributeError."""
    if not isinstance(value, Tensor):
        what = "expected a Tensor" if name is None else f"{name} must be a Tensor"
        raise TypeError(f"{op}: {what}, got {type(value).__name__}")
    return value


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


def check_broadcastable(op: str, *tensors: Tensor) -> tuple[int, ...]:
    """The common shape of `tensors` under broadcasting, or a ValueError naming the op and
    every shape (instead of NumPy's message from deep inside the forward)."""
    shapes = [t.shape for t in tensors]
    try:
        return tuple(np.broadcast_shapes(*shapes))
    except ValueError:
        desc = ", ".join(str(s) for s in shapes)
        raise ValueError(f"{op}: shapes {desc} cannot be broadcast together") from None


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


class DimError(IndexError, ValueError):
    """A dim argument outside the tensor's dims.

    An IndexError, as in PyTorch ("Dimension out of range"), and also a ValueError, which
    is what minigan raised before the rule was unified (so ``except ValueError`` still works).
    """


def normalize_axes(
    axis: Any, ndim: int, op: str, name: str = "dim", span: int | None = None
) -> tuple[int, ...] | None:
    """A dim argument (None, int, or a tuple/list of ints) as a sorted tuple of
    non-negative ints; None means every dim and is returned as None.

    The one rule for dims (PyTorch's): valid dims are -ndim..ndim-1, a 0-d tensor accepts
    0 and -1, anything else raises DimError (an IndexError) naming the op, the dim and the
    valid range; a dim given twice raises ValueError. `name` is the argument's name in the
    message ("dim", or "axis" where the caller used the NumPy-style alias). `span` (the
    number of valid positions) defaults to max(ndim, 1); `normalize_new_dim` passes ndim + 1
    so that the message still names the input's own ndim.
    """
    if axis is None:
        return None
    if isinstance(axis, bool) or not isinstance(axis, int | np.integer | tuple | list):
        raise TypeError(f"{op}: {name} must be an int or a tuple of ints, got {axis!r}")
    axes = (axis,) if isinstance(axis, int | np.integer) else tuple(axis)
    if span is None:
        span = max(ndim, 1)  # a 0-d tensor behaves as if it had one dim
    out = []
    for a in axes:
        if isinstance(a, bool) or not isinstance(a, int | np.integer):
            raise TypeError(f"{op}: {name} must contain ints, got {a!r} in {axis!r}")
        a = int(a)
        if not -span <= a < span:
            where = "for inserting a dim into" if span > max(ndim, 1) else "for"
            raise DimError(
                f"{op}: {name} {a} is out of range {where} a {ndim}-d tensor (Dimension out "
                f"of range: expected to be in range of [{-span}, {span - 1}], but got {a})"
            )
        out.append(a % span)
    if len(set(out)) != len(out):
        raise ValueError(f"{op}: {name} {axis!r} names the same dim more than once")
    return tuple(sorted(out))


def normalize_dim(dim: Any, ndim: int, op: str, name: str = "dim") -> int:
    """One dim argument as a non-negative int, range-checked (PyTorch's rule).

    Valid dims are -ndim..ndim-1; a 0-d tensor accepts 0 and -1 (as PyTorch does).
    Everything that takes a single dim uses this helper, so an out-of-range dim raises
    DimError (an IndexError) instead of wrapping around. An op that inserts a dim
    (stack, unsqueeze) uses `normalize_new_dim`.
    """
    return _single_dim(dim, ndim, op, name, None)


def normalize_new_dim(dim: Any, ndim: int, op: str, name: str = "dim") -> int:
    """The position of a dim to insert into an `ndim`-d input (stack, unsqueeze) as a
    non-negative int: valid -ndim-1..ndim (PyTorch's rule; the result has ndim + 1 dims).
    An out-of-range dim raises DimError naming the input's own ndim and the valid range."""
    return _single_dim(dim, ndim, op, name, ndim + 1)


def _single_dim(dim: Any, ndim: int, op: str, name: str, span: int | None) -> int:
    if isinstance(dim, bool) or not isinstance(dim, int | np.integer):
        raise TypeError(f"{op}: {name} must be an int, got {type(dim).__name__} {dim!r}")
    return normalize_axes(int(dim), ndim, op, name, span)[0]


def dim_alias(op: str, dim: Any, axis: Any) -> tuple[Any, str]:
    """PyTorch's `dim`, or its NumPy-style alias `axis` (giving both is a TypeError), and
    the name the caller used ("dim" or "axis", for messages)."""
    if axis is None:
        return dim, "dim"
    if dim is not None:
        raise TypeError(f"{op}: give dim or its alias axis, not both")
    return axis, "axis"


def reduction_dims(
    op: str, ndim: int, dim: Any, keepdim: Any, axis: Any = None, keepdims: Any = None
) -> tuple[tuple[int, ...] | None, bool, str]:
    """The (dims, keepdim, name) of a reduction called with PyTorch's `dim`/`keepdim` or
    their NumPy-style aliases `axis`/`keepdims` (giving both forms of one is an error).

    `keepdims` is None when not given (`keepdim` is PyTorch's False by default, so only
    keepdim=True together with keepdims counts as both). `name` is "axis" when the NumPy
    form was used (for messages).

    An empty `dim` (``()`` or ``[]``) means every dim, as in PyTorch (torch.sum(t, ()) has
    shape ()); an empty `axis` keeps NumPy's meaning, no dim reduced.
    """
    dim, name = dim_alias(op, dim, axis)
    if name == "dim" and isinstance(dim, tuple | list) and len(dim) == 0:
        dim = None
    if keepdims is not None:
        if keepdim:
            raise TypeError(f"{op}: give keepdim or its alias keepdims, not both")
        keepdim = keepdims
    return normalize_axes(dim, ndim, op, name), bool(keepdim), name


# ----- dtype promotion (PyTorch's rule) -------------------------------------------------
# Categories: bool < integer < floating. Complex is rejected.
def _category(dtype: np.dtype) -> int:
    kind = np.dtype(dtype).kind
    return {"b": 0, "u": 1, "i": 1, "f": 2}[kind]


def _promote(a: np.dtype | None, b: np.dtype | None) -> np.dtype | None:
    """Two dtypes of one priority class: the higher category wins (int64 with float32 is
    float32, not NumPy's float64); within a category NumPy's rule (int32+int64 = int64)."""
    if a is None or b is None:
        return a if b is None else b
    ca, cb = _category(a), _category(b)
    if ca != cb:
        return np.dtype(a if ca > cb else b)
    return np.promote_types(a, b)


def _combine(higher: np.dtype | None, lower: np.dtype | None) -> np.dtype | None:
    """A higher-priority class keeps its dtype unless the lower one has a higher category."""
    if higher is None or lower is None:
        return higher if lower is None else lower
    return _promote(higher, lower) if _category(lower) > _category(higher) else np.dtype(higher)


def check_not_complex(op: str, value: Any) -> None:
    """TypeError naming `op` when `value` (a Python number, array or Tensor) is complex."""
    dtype = getattr(value, "dtype", None)
    if isinstance(value, complex) or (dtype is not None and np.dtype(dtype).kind == "c"):
        raise TypeError(f"{op}: complex values are not supported (got {value!r:.60})")


def _weak_dtype(op: str, value: Any) -> np.dtype:
    """The dtype a Python/NumPy scalar, list or array operand contributes: bool, int64 or
    the default float dtype (float32)."""
    check_not_complex(op, value)
    dtype = getattr(value, "dtype", None)
    if dtype is None:
        if isinstance(value, bool):
            return np.dtype(np.bool_)
        if isinstance(value, int):
            return np.dtype(np.int64)
        if isinstance(value, float):
            return np.dtype(DEFAULT_DTYPE)
        dtype = np.asarray(value).dtype
        check_not_complex(op, np.empty(0, dtype=dtype))
    kind = np.dtype(dtype).kind
    if kind == "f":
        return np.dtype(DEFAULT_DTYPE)
    if kind in "iu":
        return np.dtype(np.int64)
    if kind == "b":
        return np.dtype(np.bool_)
    raise TypeError(f"{op}: expected a number, got {type(value).__name__} of dtype {dtype}")


def result_dtype(op: str, *operands: Any) -> np.dtype:
    """The dtype of an elementwise op's result, by PyTorch's promotion rule.

    Operands fall in three priority classes: tensors with dims, 0-d tensors, and "weak"
    values (Python and NumPy scalars, lists and NumPy arrays: their dtype only counts by
    category, a float being float32). The highest class present decides, unless a lower
    class has a higher category (bool < int < float); then that category's dtype is used:
    int64 tensor + 2.5 -> float32; float32 tensor * 2.0 -> float32; float32 tensor +
    0-d float64 tensor -> float32; int tensor + float64 tensor -> float64; int32 + int64
    tensors -> int64. Complex operands raise TypeError naming `op`.
    """
    dims = zero = weak = None
    for value in operands:
        if isinstance(value, Tensor):
            check_not_complex(op, value)
            if value.ndim > 0:
                dims = _promote(dims, value.dtype)
            else:
                zero = _promote(zero, value.dtype)
        else:
            weak = _promote(weak, _weak_dtype(op, value))
    out = _combine(dims, _combine(zero, weak))
    assert out is not None, "result_dtype needs at least one operand"
    return out


def cast_operand(
    value: Any, dtype: np.dtype, like: Tensor, op: str = "", wrap: bool = False
) -> Tensor:
    """`value` (a Tensor, scalar, list or array) as a tensor of `dtype` on like's device.

    A tensor that requires grad is cast with the differentiable `Tensor.to` (its gradient
    comes back in its own dtype); others are converted without recording anything.
    A Python/NumPy integer outside the range of an integer `dtype` (int8 tensor + 300) is
    wrapped modulo 2^bits when `wrap` (PyTorch's arithmetic: int8 + 300 = int8 + 44), and
    otherwise raises OverflowError naming `op` (PyTorch's where, clamp and pow raise).
    """
    if isinstance(value, Tensor):
        if value.dtype == dtype:
            return value
        if value.requires_grad:
            return value.to(dtype=dtype)
        return Tensor._from_op(value.data.astype(dtype), requires_grad=False)
    dtype = np.dtype(dtype)
    if dtype.kind in "iu" and not isinstance(value, bool | np.bool_):
        value = _fit_integers(op, value, dtype, wrap)
    return Tensor(value, dtype=dtype, device=like.device)


def _fit_integers(op: str, value: Any, dtype: np.dtype, wrap: bool) -> Any:
    """An integer scalar/list/array `value` whose entries fit `dtype` (wrapped, or an
    OverflowError naming `op`); other values are returned unchanged."""
    info = np.iinfo(dtype)
    if isinstance(value, int | np.integer):
        v = int(value)
        if info.min <= v <= info.max:
            return value
        if wrap:
            bits = 8 * dtype.itemsize
            v %= 1 << bits
            return v - (1 << bits) if v > info.max else v
        raise OverflowError(
            f"{op}: value {v} cannot be converted to {dtype} without overflow (valid: "
            f"{info.min}..{info.max}); convert the tensor to a wider dtype first"
        )
    array = value if isinstance(value, np.ndarray) else None
    if array is None:
        try:
            array = np.asarray(value)
        except (OverflowError, ValueError):
            return value
    if array.dtype.kind not in "iu" or array.size == 0:
        return value
    low, high = int(array.min()), int(array.max())
    if info.min <= low and high <= info.max:
        return value
    if wrap:
        return array.astype(dtype)  # two's complement: modulo 2^bits
    bad = low if low < info.min else high
    raise OverflowError(
        f"{op}: value {bad} cannot be converted to {dtype} without overflow (valid: "
        f"{info.min}..{info.max}); convert the tensor to a wider dtype first"
    )


def float_operands(op: str, *tensors: Tensor) -> list[Tensor]:
    """The inputs of a float-only op, integer/bool tensors promoted to the default float dtype.

    PyTorch's rule: exp, log, sigmoid, softmax... of an integer tensor compute in the
    default float dtype (float32). Complex dtypes are rejected with the op's name, and a
    non-Tensor input raises TypeError naming the op (`check_tensor`).
    """
    out = []
    for t in tensors:
        check_tensor(op, t)
        kind = t.dtype.kind
        if kind == "c":
            raise TypeError(f"{op}: complex tensors are not supported (got dtype {t.dtype})")
        if kind in "iub":
            t = Tensor._from_op(t.data.astype(DEFAULT_DTYPE), requires_grad=False)
        elif kind != "f":
            raise TypeError(f"{op}: expected a numeric tensor, got dtype {t.dtype}")
        out.append(t)
    return out


# ----- int-or-pair arguments (kernel_size, stride, padding, dilation) ----------------------
class PairError(TypeError, ValueError):
    """An int-or-pair argument of the wrong form: a TypeError (the argument's type), and a
    ValueError, what the convolutions raised before the parsers were unified."""


def int_pair(
    value: Any, op: str, name: str, minimum: int | None = None, single: bool = False
) -> tuple[int, int]:
    """An int, or a sequence of two ints, as a pair of ints (kernel_size=3 -> (3, 3)).

    `single`: a sequence of one int also counts (PyTorch's pooling accepts (3,)).
    `minimum`: each entry must be >= minimum (ValueError). A string (PyTorch's
    padding='same') and anything else raise PairError (a TypeError and a ValueError)
    naming `op` and `name`.
    """
    if isinstance(value, str):
        raise PairError(
            f"{op}: {name} must be an int or a pair of ints, got the string {value!r} "
            "(PyTorch's padding='same'/'valid' is not supported: give the padding in pixels)"
        )
    if isinstance(value, int | np.integer) and not isinstance(value, bool):
        items: tuple[Any, ...] = (value, value)
    else:
        try:
            items = tuple(value)
        except TypeError:
            items = ()
        if single and len(items) == 1:
            items = items * 2
    if len(items) != 2 or not all(
        isinstance(v, int | np.integer) and not isinstance(v, bool) for v in items
    ):
        raise PairError(f"{op}: {name} must be an int or a pair of ints, got {value!r}")
    pair = (int(items[0]), int(items[1]))
    if minimum is not None and min(pair) < minimum:
        raise ValueError(f"{op}: {name} must be >= {minimum}, got {value!r}")
    return pair
