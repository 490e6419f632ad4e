# Elementwise primitive ops with broadcasting: add, sub, mul, div, neg, pow, exp, log,
# sqrt, abs, maximum, minimum, clip. Each backward sums its gradient back to the input
# shape (see `unbroadcast`).
from __future__ import annotations

from typing import Any

from ..autograd import Context, Function
from ..device import array_module_of as _xp
from ..tensor import Tensor
from ._util import as_tensor_like, check_float, check_same_device, unbroadcast


def _binary(fn: type[Function], name: str, a: Any, b: Any) -> Tensor:
    """Apply a binary Function after turning scalars into tensors and checking devices."""
    if not isinstance(a, Tensor):
        a = as_tensor_like(a, b)
    if not isinstance(b, Tensor):
        b = as_tensor_like(b, a)
    check_same_device(name, a, b)
    try:
        return fn.apply(a, b)
    except ValueError as exc:
        if "broadcast" in str(exc) and "shape" in str(exc):
            raise ValueError(
                f"{name}: shapes {a.shape} and {b.shape} cannot be broadcast together"
            ) from None
        raise


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
    """z = a ** b.  dz/da = b·a^(b-1), dz/db = z·log(a) (only where a > 0; else 0)."""

    @staticmethod
    def forward(ctx: Context, a: Any, b: Any) -> Any:
        z = a**b
        ctx.save_for_backward(a, b, z)
        return z

    @staticmethod
    def backward(ctx: Context, g: Any) -> tuple:
        a, b, z = ctx.saved
        ga = gb = None
        if ctx.needs_input_grad[0]:
            ga = unbroadcast(g * b * a ** (b - 1), a.shape)
        if ctx.needs_input_grad[1]:
            xp = _xp(a)
            safe_log = xp.log(xp.where(a > 0, a, 1))
            gb = unbroadcast(g * z * safe_log, b.shape)
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
    """z = min(max(a, lo), hi).  dz/da = 1 inside [lo, hi], 0 where clipped."""

    @staticmethod
    def forward(ctx: Context, a: Any, lo: float | None = None, hi: float | None = None) -> Any:
        ctx.save_for_backward(a)
        ctx.lo, ctx.hi = lo, hi
        return _xp(a).clip(a, lo, hi)

    @staticmethod
    def backward(ctx: Context, g: Any) -> Any:
        (a,) = ctx.saved
        mask = _xp(a).ones(a.shape, dtype=bool)
        if ctx.lo is not None:
            mask &= a >= ctx.lo
        if ctx.hi is not None:
            mask &= a <= ctx.hi
        return g * mask


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
    """Elementwise a / b with broadcasting."""
    return _binary(Div, "div", a, b)


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
    check_float("exp", a)
    return Exp.apply(a)


def log(a: Tensor) -> Tensor:
    check_float("log", a)
    return Log.apply(a)


def sqrt(a: Tensor) -> Tensor:
    check_float("sqrt", a)
    return Sqrt.apply(a)


def abs(a: Tensor) -> Tensor:  # noqa: A001 - mirrors the builtin's name
    return Abs.apply(a)


def clip(a: Tensor, min: float | None = None, max: float | None = None) -> Tensor:  # noqa: A002
    """Clamp values into [min, max] (either bound may be None)."""
    if min is None and max is None:
        raise ValueError("clip: give at least one of min and max")
    return Clip.apply(a, lo=min, hi=max)
