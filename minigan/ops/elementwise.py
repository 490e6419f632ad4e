# Elementwise primitive ops with broadcasting: add, sub, mul, div, neg, pow, exp, log,
# sqrt, abs, maximum, minimum, clamp/clip (scalar or tensor bounds), and the unary sin,
# cos, sign, floor, rsqrt, square. Each backward sums its gradient back to the input
# shape (see `unbroadcast`).
from __future__ import annotations

import contextlib
from typing import Any

import numpy as np

from ..autograd import Context, Function
from ..device import array_module_of as _xp
from ..tensor import DEFAULT_DTYPE, Tensor
from ._util import cast_operand, check_same_device, float_operands, result_dtype, unbroadcast


def _binary(fn: type[Function], name: str, a: Any, b: Any, float_only: bool = False) -> Tensor:
    """Apply a binary Function after the dtype rule (PyTorch's promotion, _util.result_dtype;
    `float_only` ops compute integer results in float32), turning scalars into tensors on
    the tensor operand's device, and checking devices."""
    like = a if isinstance(a, Tensor) else b
    dtype = result_dtype(name, a, b)
    if float_only and dtype.kind != "f":
        dtype = np.dtype(DEFAULT_DTYPE)
    a, b = cast_operand(a, dtype, like), cast_operand(b, dtype, like)
    check_same_device(name, a, b)
    try:
        return fn.apply(a, b)
    except ValueError as exc:
        if "broadcast" in str(exc) and "shape" in str(exc):
            raise ValueError(
                f"{name}: shapes {a.shape} and {b.shape} cannot be broadcast together"
            ) from None
        raise


def _quiet(xp: Any) -> Any:
    """Silence NumPy's divide/invalid warnings for values a mask replaces right after."""
    return np.errstate(divide="ignore", invalid="ignore") if xp is np else contextlib.nullcontext()


class Add(Function):
    """z = a + b.  dz/da = 1, dz/db = 1 (each summed back to its input's shape)."""

    @staticmethod
    def forward(ctx: Context, a: Any, b: Any) -> Any:
        ctx.shapes = (a.shape, b.shape)
        return a + b

    @staticmethod
    def backward(ctx: Context, g: Any) -> tuple:
        sa, sb = ctx.shapes
        ga = unbroadcast(g, sa) if ctx.needs_input_grad[0] else None
        gb = unbroadcast(g, sb) if ctx.needs_input_grad[1] else None
        return ga, gb


class Sub(Function):
    """z = a - b.  dz/da = 1, dz/db = -1."""

    @staticmethod
    def forward(ctx: Context, a: Any, b: Any) -> Any:
        ctx.shapes = (a.shape, b.shape)
        return a - b

    @staticmethod
    def backward(ctx: Context, g: Any) -> tuple:
        sa, sb = ctx.shapes
        ga = unbroadcast(g, sa) if ctx.needs_input_grad[0] else None
        gb = -unbroadcast(g, sb) if ctx.needs_input_grad[1] else None
        return ga, gb


class Mul(Function):
    """z = a * b.  dz/da = b, dz/db = a."""

    @staticmethod
    def forward(ctx: Context, a: Any, b: Any) -> Any:
        ctx.save_for_backward(a, b)
        return a * b

    @staticmethod
    def backward(ctx: Context, g: Any) -> tuple:
        a, b = ctx.saved
        ga = unbroadcast(g * b, a.shape) if ctx.needs_input_grad[0] else None
        gb = unbroadcast(g * a, b.shape) if ctx.needs_input_grad[1] else None
        return ga, gb


class Div(Function):
    """z = a / b.  dz/da = 1/b, dz/db = -a/b²."""

    @staticmethod
    def forward(ctx: Context, a: Any, b: Any) -> Any:
        ctx.save_for_backward(a, b)
        return a / b

    @staticmethod
    def backward(ctx: Context, g: Any) -> tuple:
        a, b = ctx.saved
        ga = unbroadcast(g / b, a.shape) if ctx.needs_input_grad[0] else None
        gb = unbroadcast(-g * a / (b * b), b.shape) if ctx.needs_input_grad[1] else None
        return ga, gb


class Pow(Function):
    """z = a ** b.

    dz/da = b·a^(b-1), and 0 where b = 0 (so 0^0's gradient is 0, not 0·0^-1 = nan);
    at a = 0 this is 1 for b = 1 and 0 for b > 1; for a negative base and an integer
    exponent it is the same formula (e.g. d/da a³ at -2 is 12).
    dz/db = z·log(a), and 0 where a = 0 and b >= 0 (z = 0 or 1 there); for a < 0 the log
    is undefined and the gradient nan. These are PyTorch's conventions.
    """

    @staticmethod
    def forward(ctx: Context, a: Any, b: Any) -> Any:
        z = a**b
        ctx.save_for_backward(a, b, z)
        return z

    @staticmethod
    def backward(ctx: Context, g: Any) -> tuple:
        a, b, z = ctx.saved
        xp = _xp(a)
        zero = xp.zeros((), dtype=g.dtype)
        ga = gb = None
        with _quiet(xp):
            if ctx.needs_input_grad[0]:
                ga = unbroadcast(xp.where(b == 0, zero, g * b * a ** (b - 1)), a.shape)
            if ctx.needs_input_grad[1]:
                masked = (a == 0) & (b >= 0)
                gb = unbroadcast(xp.where(masked, zero, g * z * xp.log(a)), b.shape)
        return ga, gb


class Maximum(Function):
    """z = max(a, b).  The gradient goes to the larger input; ties split it half/half."""

    @staticmethod
    def forward(ctx: Context, a: Any, b: Any) -> Any:
        ctx.save_for_backward(a, b)
        return _xp(a).maximum(a, b)

    @staticmethod
    def backward(ctx: Context, g: Any) -> tuple:
        a, b = ctx.saved
        wa = ((a > b) + 0.5 * (a == b)).astype(g.dtype, copy=False)  # keep g's dtype
        ga = unbroadcast(g * wa, a.shape) if ctx.needs_input_grad[0] else None
        gb = unbroadcast(g * (1 - wa), b.shape) if ctx.needs_input_grad[1] else None
        return ga, gb


class Minimum(Function):
    """z = min(a, b).  The gradient goes to the smaller input; ties split it half/half."""

    @staticmethod
    def forward(ctx: Context, a: Any, b: Any) -> Any:
        ctx.save_for_backward(a, b)
        return _xp(a).minimum(a, b)

    @staticmethod
    def backward(ctx: Context, g: Any) -> tuple:
        a, b = ctx.saved
        wa = ((a < b) + 0.5 * (a == b)).astype(g.dtype, copy=False)  # keep g's dtype
        ga = unbroadcast(g * wa, a.shape) if ctx.needs_input_grad[0] else None
        gb = unbroadcast(g * (1 - wa), b.shape) if ctx.needs_input_grad[1] else None
        return ga, gb


class Neg(Function):
    """z = -a.  dz/da = -1."""

    @staticmethod
    def forward(ctx: Context, a: Any) -> Any:
        return -a

    @staticmethod
    def backward(ctx: Context, g: Any) -> Any:
        return -g


class Exp(Function):
    """z = exp(a).  dz/da = exp(a) = z."""

    @staticmethod
    def forward(ctx: Context, a: Any) -> Any:
        z = _xp(a).exp(a)
        ctx.save_for_backward(z)
        return z

    @staticmethod
    def backward(ctx: Context, g: Any) -> Any:
        (z,) = ctx.saved
        return g * z


class Log(Function):
    """z = log(a).  dz/da = 1/a."""

    @staticmethod
    def forward(ctx: Context, a: Any) -> Any:
        ctx.save_for_backward(a)
        return _xp(a).log(a)

    @staticmethod
    def backward(ctx: Context, g: Any) -> Any:
        (a,) = ctx.saved
        return g / a


class Sqrt(Function):
    """z = sqrt(a).  dz/da = 1/(2·sqrt(a)) = 1/(2z)."""

    @staticmethod
    def forward(ctx: Context, a: Any) -> Any:
        z = _xp(a).sqrt(a)
        ctx.save_for_backward(z)
        return z

    @staticmethod
    def backward(ctx: Context, g: Any) -> Any:
        (z,) = ctx.saved
        return g / (2 * z)


class Abs(Function):
    """z = |a|.  dz/da = sign(a) (0 at a = 0)."""

    @staticmethod
    def forward(ctx: Context, a: Any) -> Any:
        ctx.save_for_backward(a)
        return _xp(a).abs(a)

    @staticmethod
    def backward(ctx: Context, g: Any) -> Any:
        (a,) = ctx.saved
        return g * _xp(a).sign(a)


class Clip(Function):
    """z = min(max(a, lo), hi), the op of both `clamp` and `clip`. Either bound may be
    absent; a bound is a tensor (a Python number arrives as a 0-d one) that broadcasts
    with a. Where lo > hi, z = hi (PyTorch's order of the two steps).

    Backward (PyTorch's conventions; each gradient summed back to its input's shape):
      dz/da  = 1 where lo <= a <= hi (a value on a boundary passes the gradient), else 0;
      dz/dlo = 1 where a < lo and lo < hi (where a < lo alone when there is no hi), else 0;
      dz/dhi = 1 where a > hi or hi < lo (where a > hi alone when there is no lo), else 0.
    The three masks never overlap, so exactly one input receives each element's gradient
    (none of them where a is NaN, as in PyTorch).
    """

    @staticmethod
    def forward(ctx: Context, a: Any, *bounds: Any, has_min: bool, has_max: bool) -> Any:
        xp = _xp(a)
        lo = bounds[0] if has_min else None
        hi = bounds[-1] if has_max else None
        ctx.save_for_backward(a, lo, hi)
        z = a
        if lo is not None:
            z = xp.maximum(z, lo)
        if hi is not None:
            z = xp.minimum(z, hi)
        return xp.asarray(z)

    @staticmethod
    def backward(ctx: Context, g: Any) -> tuple:
        a, lo, hi = ctx.saved
        xp = _xp(g)
        zero = xp.zeros((), dtype=g.dtype)
        needs = list(ctx.needs_input_grad)
        grads: list[Any] = []
        if needs[0]:
            inside = xp.ones(g.shape, dtype=bool)
            if lo is not None:
                inside &= a >= lo
            if hi is not None:
                inside &= a <= hi
            grads.append(unbroadcast(xp.where(inside, g, zero), a.shape))
        else:
            grads.append(None)
        if lo is not None:
            if needs[1]:
                below = (a < lo) & (lo < hi) if hi is not None else a < lo
                grads.append(unbroadcast(xp.where(below, g, zero), lo.shape))
            else:
                grads.append(None)
        if hi is not None:
            if needs[-1]:
                above = (a > hi) | (hi < lo) if lo is not None else a > hi
                grads.append(unbroadcast(xp.where(above, g, zero), hi.shape))
            else:
                grads.append(None)
        return tuple(grads)


# ----- public functions -----------------------------------------------------------------
def add(a: Any, b: Any) -> Tensor:
    """Elementwise a + b with broadcasting."""
    return _binary(Add, "add", a, b)


def sub(a: Any, b: Any) -> Tensor:
    """Elementwise a - b with broadcasting."""
    return _binary(Sub, "sub", a, b)


def mul(a: Any, b: Any) -> Tensor:
    """Elementwise a * b with broadcasting."""
    return _binary(Mul, "mul", a, b)


def div(a: Any, b: Any) -> Tensor:
    """Elementwise true division a / b with broadcasting (integers divide in float32)."""
    return _binary(Div, "div", a, b, float_only=True)


def pow(a: Any, b: Any) -> Tensor:  # noqa: A001 - mirrors the operator's name
    """Elementwise a ** b with broadcasting."""
    return _binary(Pow, "pow", a, b)


def maximum(a: Any, b: Any) -> Tensor:
    """Elementwise max(a, b) with broadcasting."""
    return _binary(Maximum, "maximum", a, b)


def minimum(a: Any, b: Any) -> Tensor:
    """Elementwise min(a, b) with broadcasting."""
    return _binary(Minimum, "minimum", a, b)


def neg(a: Tensor) -> Tensor:
    return Neg.apply(a)


def exp(a: Tensor) -> Tensor:
    """Elementwise e^a (integer tensors in float32)."""
    (a,) = float_operands("exp", a)
    return Exp.apply(a)


def log(a: Tensor) -> Tensor:
    """Elementwise natural log (integer tensors in float32)."""
    (a,) = float_operands("log", a)
    return Log.apply(a)


def sqrt(a: Tensor) -> Tensor:
    """Elementwise square root (integer tensors in float32); its gradient at 0 is inf."""
    (a,) = float_operands("sqrt", a)
    return Sqrt.apply(a)


def abs(a: Tensor) -> Tensor:  # noqa: A001 - mirrors the builtin's name
    return Abs.apply(a)


def clip(input: Tensor, min: Any = None, max: Any = None) -> Tensor:  # noqa: A002
    """Clamp values into [min, max]: NumPy's name for `clamp` (the same op, `Clip`)."""
    return _clamp("clip", input, min, max)


# ----- clamp and the elementwise math of issue 12 (sin, cos, sign, floor, rsqrt, square) ----
def check_broadcastable(op: str, *tensors: Tensor) -> tuple[int, ...]:
    """The common shape of `tensors` under broadcasting, or a ValueError naming the op and
    every shape (instead of NumPy's message from deep inside the forward)."""
    shapes = [t.shape for t in tensors]
    try:
        return tuple(np.broadcast_shapes(*shapes))
    except ValueError:
        desc = ", ".join(str(s) for s in shapes)
        raise ValueError(f"{op}: shapes {desc} cannot be broadcast together") from None


def _clamp(op: str, input: Any, min: Any, max: Any) -> Tensor:  # noqa: A002
    """clamp/clip: promote input and the given bounds to one dtype, check, apply `Clip`."""
    if not isinstance(input, Tensor):
        raise TypeError(f"{op}: input must be a Tensor, got {type(input).__name__}")
    if min is None and max is None:
        raise ValueError(f"{op}: give at least one of min and max (both are None)")
    given = [input] + [b for b in (min, max) if b is not None]
    dtype = result_dtype(op, *given)
    x, *bounds = (cast_operand(v, dtype, input) for v in given)
    check_same_device(op, x, *bounds)
    check_broadcastable(op, x, *bounds)
    return Clip.apply(x, *bounds, has_min=min is not None, has_max=max is not None)


def clamp(input: Tensor, min: Any = None, max: Any = None) -> Tensor:  # noqa: A002
    """Elementwise min(max(input, min), max), PyTorch's `clamp` (alias: `clip`).

    `min` and `max` are optional (at least one is needed); each is a Python number or a
    tensor that broadcasts with input, and all are promoted to one dtype (`result_dtype`:
    an int tensor clamped at 2.5 gives float32). Where min > max the result is max.
    Backward (see `Clip`): the gradient goes to input where min <= input <= max (the
    boundaries included), to a tensor min where input < min < max, and to a tensor max
    where input > max or max < min; 0 elsewhere.
    """
    return _clamp("clamp", input, min, max)


def _unary_operand(op: str, a: Any) -> Tensor:
    """The input of a unary op that keeps integer dtypes (sign, floor, square): a Tensor of
    a real dtype (bool, integer or floating), or a clear TypeError naming the op."""
    if not isinstance(a, Tensor):
        raise TypeError(f"{op}: input must be a Tensor, got {type(a).__name__}")
    if a.dtype.kind not in "biuf":
        raise TypeError(
            f"{op}: expected a bool, integer or floating tensor, got dtype {a.dtype} "
            "(complex tensors are not supported)"
        )
    return a


def _float_operand(op: str, a: Any) -> Tensor:
    """The input of a float-only unary op: integer/bool tensors in float32 (`float_operands`)."""
    if not isinstance(a, Tensor):
        raise TypeError(f"{op}: input must be a Tensor, got {type(a).__name__}")
    (a,) = float_operands(op, a)
    return a


class Sin(Function):
    """z = sin(a).  dz/da = cos(a)."""

    @staticmethod
    def forward(ctx: Context, a: Any) -> Any:
        ctx.save_for_backward(a)
        return _xp(a).asarray(_xp(a).sin(a))

    @staticmethod
    def backward(ctx: Context, g: Any) -> Any:
        (a,) = ctx.saved
        return g * _xp(a).cos(a)


class Cos(Function):
    """z = cos(a).  dz/da = -sin(a)."""

    @staticmethod
    def forward(ctx: Context, a: Any) -> Any:
        ctx.save_for_backward(a)
        return _xp(a).asarray(_xp(a).cos(a))

    @staticmethod
    def backward(ctx: Context, g: Any) -> Any:
        (a,) = ctx.saved
        return -g * _xp(a).sin(a)


class Sign(Function):
    """z = sign(a) = [a > 0] - [a < 0] (so sign(NaN) = 0, as PyTorch; NumPy gives NaN),
    in a's dtype; a bool tensor is its own sign.

    dz/da = 0 everywhere (PyTorch's convention: the derivative is 0 where it exists, and
    0 is also used at the jump a = 0).
    """

    @staticmethod
    def forward(ctx: Context, a: Any) -> Any:
        if a.dtype.kind == "b":
            return a.copy()
        return (a > 0).astype(a.dtype) - (a < 0).astype(a.dtype)

    @staticmethod
    def backward(ctx: Context, g: Any) -> Any:
        return _xp(g).zeros_like(g)


class Floor(Function):
    """z = floor(a), the largest integer <= a (integer tensors are returned unchanged).

    dz/da = 0 everywhere (PyTorch's convention, also at the jumps, where a is an integer).
    """

    @staticmethod
    def forward(ctx: Context, a: Any) -> Any:
        if a.dtype.kind in "iu":
            return a.copy()
        return _xp(a).asarray(_xp(a).floor(a))

    @staticmethod
    def backward(ctx: Context, g: Any) -> Any:
        return _xp(g).zeros_like(g)


class Rsqrt(Function):
    """z = 1/sqrt(a).  dz/da = -1/2 · a^(-3/2) = -z³/2 (saved z, no second sqrt).

    rsqrt(0) = inf with gradient -inf, and a < 0 gives NaN, as in PyTorch (no warning).
    """

    @staticmethod
    def forward(ctx: Context, a: Any) -> Any:
        xp = _xp(a)
        with _quiet(xp):
            z = xp.asarray(1 / xp.sqrt(a)).astype(a.dtype, copy=False)
        ctx.save_for_backward(z)
        return z

    @staticmethod
    def backward(ctx: Context, g: Any) -> Any:
        (z,) = ctx.saved
        return -0.5 * g * (z * z * z)


class Square(Function):
    """z = a².  dz/da = 2a.  (Integer tensors stay integer; bool gives int64, as PyTorch.)"""

    @staticmethod
    def forward(ctx: Context, a: Any) -> Any:
        if a.dtype.kind == "b":
            a = a.astype(np.int64)
        ctx.save_for_backward(a)
        return _xp(a).asarray(a * a)

    @staticmethod
    def backward(ctx: Context, g: Any) -> Any:
        (a,) = ctx.saved
        return 2 * a * g


def sin(input: Tensor) -> Tensor:  # noqa: A002 - PyTorch's argument name
    """Elementwise sine (integer tensors in float32). Backward: g·cos(input)."""
    return Sin.apply(_float_operand("sin", input))


def cos(input: Tensor) -> Tensor:  # noqa: A002
    """Elementwise cosine (integer tensors in float32). Backward: -g·sin(input)."""
    return Cos.apply(_float_operand("cos", input))


def sign(input: Tensor) -> Tensor:  # noqa: A002
    """Elementwise sign: -1, 0 or 1 in input's dtype (0 for NaN). Backward: 0 (see `Sign`)."""
    return Sign.apply(_unary_operand("sign", input))


def floor(input: Tensor) -> Tensor:  # noqa: A002
    """Elementwise floor, in input's dtype (integers unchanged). Backward: 0 (see `Floor`).

    A bool tensor raises TypeError, as in PyTorch.
    """
    a = _unary_operand("floor", input)
    if a.dtype.kind == "b":
        raise TypeError("floor: not defined for bool tensors (convert to an int or float dtype)")
    return Floor.apply(a)


def rsqrt(input: Tensor) -> Tensor:  # noqa: A002
    """Elementwise 1/sqrt(input) (integer tensors in float32). Backward: -g·z³/2."""
    return Rsqrt.apply(_float_operand("rsqrt", input))


def square(input: Tensor) -> Tensor:  # noqa: A002
    """Elementwise input², in input's dtype (bool gives int64). Backward: 2·input·g."""
    return Square.apply(_unary_operand("square", input))
