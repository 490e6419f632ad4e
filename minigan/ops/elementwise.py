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
from ._util import (
    cast_operand,
    check_broadcastable,
    check_same_device,
    check_tensor,
    float_operands,
    result_dtype,
    unbroadcast,
)


def _binary(
    fn: type[Function],
    name: str,
    a: Any,
    b: Any,
    float_only: bool = False,
    wrap: bool = True,
    **params: Any,
) -> Tensor:
    """Apply a binary Function after the dtype rule (PyTorch's promotion, _util.result_dtype;
    `float_only` ops compute integer results in float32), turning scalars into tensors on
    the tensor operand's device, and checking devices and broadcasting (`_util`).

    At least one operand must be a Tensor (TypeError naming the op otherwise). A Python
    integer outside an integer result dtype wraps around (`wrap`, PyTorch's arithmetic:
    int8 + 300 = int8 + 44) or raises naming the op.
    """
    if not isinstance(a, Tensor) and not isinstance(b, Tensor):
        raise TypeError(
            f"{name}: expected at least one Tensor operand, got {type(a).__name__} and "
            f"{type(b).__name__}"
        )
    like = a if isinstance(a, Tensor) else b
    dtype = result_dtype(name, a, b)
    if float_only and dtype.kind != "f":
        dtype = np.dtype(DEFAULT_DTYPE)
    a, b = cast_operand(a, dtype, like, name, wrap), cast_operand(b, dtype, like, name, wrap)
    check_same_device(name, a, b)
    check_broadcastable(name, a, b)
    return fn.apply(a, b, **params)


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

    Integer tensors: a negative exponent b (an exponent tensor; a Python integer exponent
    raises in `pow`) gives PyTorch's integer power: 1 for a = 1, ±1 for a = -1 (-1 for an
    odd b), 0 otherwise (1/a^|b| truncated); NumPy would raise.

    dz/da = b·a^(b-1), and 0 where b = 0 (so 0^0's gradient is 0, not 0·0^-1 = nan);
    at a = 0 this is 1 for b = 1 and 0 for b > 1; for a negative base and an integer
    exponent it is the same formula (e.g. d/da a³ at -2 is 12).
    dz/db = z·log(a), and 0 where a = 0 and b >= 0 (z = 0 or 1 there); for a < 0 the log
    is undefined and the gradient nan. These are PyTorch's conventions.
    """

    @staticmethod
    def forward(ctx: Context, a: Any, b: Any) -> Any:
        xp = _xp(a)
        if a.dtype.kind in "iu" and bool((b < 0).any()):
            one = xp.ones((), dtype=a.dtype)
            odd = (b % 2) != 0
            small = xp.where(a == 1, one, xp.where(a == -1, xp.where(odd, -one, one), 0 * one))
            z = xp.where(b < 0, small, a ** xp.maximum(b, 0)).astype(a.dtype, copy=False)
        else:
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


def _extreme_weights(a: Any, b: Any, dtype: Any, larger: bool) -> tuple[Any, Any]:
    """The shares (wa, wb) of the gradient of max(a, b) (`larger`) or min(a, b), PyTorch's:
    w = 1/2 on ties; otherwise 0 for the input that lost (a < b loses a max) and 1 else, so
    where a or b is NaN (no comparison holds) both inputs get the whole gradient."""
    xp = _xp(a)
    a_loses, b_loses = (a < b, a > b) if larger else (a > b, a < b)
    tie = a == b
    half, one, zero = (xp.asarray(v, dtype=dtype) for v in (0.5, 1.0, 0.0))
    wa = xp.where(tie, half, xp.where(a_loses, zero, one))
    wb = xp.where(tie, half, xp.where(b_loses, zero, one))
    return wa, wb


class Maximum(Function):
    """z = max(a, b).  dz/da = 1 where a > b, 0 where a < b, 1/2 on ties; dz/db the
    mirror image. Where a or b is NaN (z is NaN) both get 1, as PyTorch."""

    @staticmethod
    def forward(ctx: Context, a: Any, b: Any) -> Any:
        ctx.save_for_backward(a, b)
        return _xp(a).maximum(a, b)

    @staticmethod
    def backward(ctx: Context, g: Any) -> tuple:
        a, b = ctx.saved
        wa, wb = _extreme_weights(a, b, g.dtype, larger=True)
        ga = unbroadcast(g * wa, a.shape) if ctx.needs_input_grad[0] else None
        gb = unbroadcast(g * wb, b.shape) if ctx.needs_input_grad[1] else None
        return ga, gb


class Minimum(Function):
    """z = min(a, b).  dz/da = 1 where a < b, 0 where a > b, 1/2 on ties; dz/db the
    mirror image. Where a or b is NaN (z is NaN) both get 1, as PyTorch."""

    @staticmethod
    def forward(ctx: Context, a: Any, b: Any) -> Any:
        ctx.save_for_backward(a, b)
        return _xp(a).minimum(a, b)

    @staticmethod
    def backward(ctx: Context, g: Any) -> tuple:
        a, b = ctx.saved
        wa, wb = _extreme_weights(a, b, g.dtype, larger=False)
        ga = unbroadcast(g * wa, a.shape) if ctx.needs_input_grad[0] else None
        gb = unbroadcast(g * wb, b.shape) if ctx.needs_input_grad[1] else None
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
    """z = |a|.  dz/da = sign(a) = [a > 0] - [a < 0]: 0 at a = 0 and at a = NaN (PyTorch's
    sgn; NumPy's sign(NaN) would be NaN)."""

    @staticmethod
    def forward(ctx: Context, a: Any) -> Any:
        ctx.save_for_backward(a)
        return _xp(a).abs(a)

    @staticmethod
    def backward(ctx: Context, g: Any) -> Any:
        (a,) = ctx.saved
        return g * ((a > 0).astype(g.dtype) - (a < 0).astype(g.dtype))


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
    """Elementwise a - b with broadcasting. Two bool operands raise TypeError (PyTorch's
    rule: bool - bool is not subtraction)."""
    has_tensor = isinstance(a, Tensor) or isinstance(b, Tensor)
    if has_tensor and result_dtype("sub", a, b).kind == "b":
        raise TypeError(
            "sub: subtraction of bool operands (the - operator with bool tensors) is not "
            "supported, as in PyTorch; for a logical xor use a != b, for arithmetic convert "
            "first, e.g. a.to(dtype=numpy.int64)"
        )
    return _binary(Sub, "sub", a, b)


def mul(a: Any, b: Any) -> Tensor:
    """Elementwise a * b with broadcasting."""
    return _binary(Mul, "mul", a, b)


def div(a: Any, b: Any) -> Tensor:
    """Elementwise true division a / b with broadcasting (integers divide in float32)."""
    return _binary(Div, "div", a, b, float_only=True)


def pow(a: Any, b: Any) -> Tensor:  # noqa: A001 - mirrors the operator's name
    """Elementwise a ** b with broadcasting.

    An integer tensor to a negative Python integer power raises ValueError, as PyTorch
    ("Integers to negative integer powers are not allowed"); a negative exponent *tensor*
    gives PyTorch's integer values (see `Pow`). A Python integer that does not fit an
    integer tensor's dtype raises OverflowError (as PyTorch's pow), it is not wrapped.
    """
    base = a if isinstance(a, Tensor) else b
    exponent_negative_int = (
        isinstance(b, int | np.integer) and not isinstance(b, bool | np.bool_) and b < 0
    )
    if exponent_negative_int and isinstance(base, Tensor) and base.dtype.kind in "iub":
        raise ValueError(
            f"pow: integers to negative integer powers are not allowed (as PyTorch): "
            f"{base.dtype} tensor ** {int(b)}; use a floating base, e.g. t.float() ** {int(b)}"
        )
    return _binary(Pow, "pow", a, b, wrap=False)


def maximum(a: Any, b: Any) -> Tensor:
    """Elementwise max(a, b) with broadcasting."""
    return _binary(Maximum, "maximum", a, b)


def minimum(a: Any, b: Any) -> Tensor:
    """Elementwise min(a, b) with broadcasting."""
    return _binary(Minimum, "minimum", a, b)


def neg(a: Tensor) -> Tensor:
    """Elementwise -a. A bool tensor raises TypeError (PyTorch's rule)."""
    check_tensor("neg", a)
    if a.dtype.kind == "b":
        raise TypeError(
            "neg: negation (the - operator) of a bool tensor is not supported, as in "
            "PyTorch; to invert a mask use mask == False, for arithmetic convert first, "
            "e.g. mask.to(dtype=numpy.int64)"
        )
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
    """Elementwise |a|. Backward: g·sign(a), 0 at a = 0 and at NaN (see `Abs`)."""
    return Abs.apply(check_tensor("abs", a))


def clip(input: Tensor, min: Any = None, max: Any = None) -> Tensor:  # noqa: A002
    """Clamp values into [min, max]: NumPy's name for `clamp` (the same op, `Clip`)."""
    return _clamp("clip", input, min, max)


# ----- clamp and the elementwise math of issue 12 (sin, cos, sign, floor, rsqrt, square) ----
def _clamp(op: str, input: Any, min: Any, max: Any) -> Tensor:  # noqa: A002
    """clamp/clip: promote input and the given bounds to one dtype, check, apply `Clip`."""
    check_tensor(op, input)
    if min is None and max is None:
        raise ValueError(f"{op}: give at least one of min and max (both are None)")
    given = [input] + [b for b in (min, max) if b is not None]
    dtype = result_dtype(op, *given)
    x, *bounds = (cast_operand(v, dtype, input, op) for v in given)
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
    check_tensor(op, a)
    if a.dtype.kind not in "biuf":
        raise TypeError(
            f"{op}: expected a bool, integer or floating tensor, got dtype {a.dtype} "
            "(complex tensors are not supported)"
        )
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
    return Sin.apply(*float_operands("sin", input))


def cos(input: Tensor) -> Tensor:  # noqa: A002
    """Elementwise cosine (integer tensors in float32). Backward: -g·sin(input)."""
    return Cos.apply(*float_operands("cos", input))


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
    return Rsqrt.apply(*float_operands("rsqrt", input))


def square(input: Tensor) -> Tensor:  # noqa: A002
    """Elementwise input², in input's dtype (bool gives int64). Backward: 2·input·g."""
    return Square.apply(_unary_operand("square", input))
