# Elementwise activations with their derivatives: relu, leaky_relu, tanh, sigmoid, softplus.
# relu, leaky_relu, tanh and sigmoid run the activation kernel family (minigan.backend:
# one pass forward, one backward read off the saved output); softplus is array math.
# gelu (exact, with the array-math `erf` here, or tanh), silu, elu, logsigmoid and
# hardtanh are array math too (numpy or cupy), appended at the end.
from __future__ import annotations

import math
from typing import Any

from ..autograd import Context, Function
from ..device import array_module_of
from ..tensor import Tensor
from ._util import check_tensor, float_operands, kernel_for


class RegistryActivation(Function):
    """y = act(x) for an activation of the registry (minigan.backend.activations), by the
    activation kernel family of x's device and dtype: one pass forward, and one backward
    that reads act'(x) off the saved output y (numpy_ref.activation_forward / _backward
    have the math). Subclasses only name the activation: ReLU.apply(x, act="relu")."""

    @staticmethod
    def forward(ctx: Context, x: Any, act: str = "none", slope: float = 0.0) -> Any:
        y = kernel_for("activation_forward", x)(x, act, slope)
        ctx.save_for_backward(y)
        ctx.act = act
        ctx.slope = slope
        return y

    @staticmethod
    def backward(ctx: Context, g: Any) -> Any:
        (y,) = ctx.saved
        return kernel_for("activation_backward", g)(g, y, ctx.act, ctx.slope)


class ReLU(RegistryActivation):
    """y = max(x, 0).  dy/dx = 1 where y > 0, else 0 (0 at x = 0, as PyTorch)."""


class LeakyReLU(RegistryActivation):
    """y = x if x > 0 else slope·x.  dy/dx = 1 where x > 0, else slope.

    For slope >= 0 (every model here) this is the activation kernel family, whose backward
    reads the side of x off the sign of the saved y. A negative slope (PyTorch allows it)
    flips that sign, so then x is saved and the math is done in array ops.
    """

    @staticmethod
    def forward(ctx: Context, x: Any, act: str = "leaky_relu", slope: float = 0.01) -> Any:
        if slope >= 0:
            return RegistryActivation.forward(ctx, x, act, slope)
        ctx.save_for_backward(x)
        ctx.act = None
        ctx.slope = slope
        return array_module_of(x).where(x > 0, x, x * slope)

    @staticmethod
    def backward(ctx: Context, g: Any) -> Any:
        if ctx.act is not None:
            return RegistryActivation.backward(ctx, g)
        (x,) = ctx.saved
        return array_module_of(g).where(x > 0, g, g * ctx.slope)


class Tanh(RegistryActivation):
    """y = tanh(x).  dy/dx = 1 - y² (read off the saved y)."""


def stable_sigmoid(x: Any) -> Any:
    """σ(x) = 1/(1+e^{-x}) on an array, without overflow (e = e^{-|x|}; 1/(1+e) for x >= 0,
    e/(1+e) otherwise): the activation kernel's forward, with no graph."""
    return kernel_for("activation_forward", x)(x, "sigmoid", 0.0)


class Sigmoid(RegistryActivation):
    """y = σ(x) = 1/(1+e^{-x}) (overflow-free form).  dy/dx = y(1 - y) (read off y)."""


class Softplus(Function):
    """y = log(1 + e^x) = max(x, 0) + log1p(e^{-|x|}) (stable).  dy/dx = σ(x)."""

    @staticmethod
    def forward(ctx: Context, x: Any) -> Any:
        xp = array_module_of(x)
        ctx.save_for_backward(x)
        return xp.maximum(x, 0) + xp.log1p(xp.exp(-xp.abs(x)))

    @staticmethod
    def backward(ctx: Context, g: Any) -> Any:
        (x,) = ctx.saved
        return g * stable_sigmoid(x)


def relu(input: Tensor) -> Tensor:  # noqa: A002 - PyTorch's argument name
    """y = max(x, 0); dy/dx = 1 where x > 0, else 0 (0 at x = 0, as PyTorch).

    Float tensors run the activation kernel family (one pass each way). An integer tensor
    gives an integer result, as in PyTorch (integer tensors never require grad).
    """
    if check_tensor("relu", input).dtype.kind in "iu":
        xp = array_module_of(input.data)
        return Tensor._from_op(xp.maximum(input.data, 0), requires_grad=False)
    if input.dtype.kind == "b":
        raise TypeError("relu: bool inputs are not supported (as PyTorch); convert first")
    (input,) = float_operands("relu", input)
    return ReLU.apply(input, act="relu")


def leaky_relu(input: Tensor, negative_slope: float = 0.01) -> Tensor:  # noqa: A002
    """y = x if x > 0 else negative_slope·x; dy/dx = 1 where x > 0, else negative_slope.

    Integer tensors compute in float32 (docs/tensor-rules.md).
    """
    (input,) = float_operands("leaky_relu", input)
    return LeakyReLU.apply(input, act="leaky_relu", slope=float(negative_slope))


def tanh(input: Tensor) -> Tensor:  # noqa: A002
    """y = tanh(x); dy/dx = 1 - y². Integer tensors compute in float32."""
    (input,) = float_operands("tanh", input)
    return Tanh.apply(input, act="tanh")


def sigmoid(input: Tensor) -> Tensor:  # noqa: A002
    """y = σ(x) = 1/(1+e^{-x}); dy/dx = y(1 - y). Integer tensors compute in float32."""
    (input,) = float_operands("sigmoid", input)
    return Sigmoid.apply(input, act="sigmoid")


def softplus(x: Tensor) -> Tensor:
    """y = log(1 + e^x), stably; dy/dx = σ(x). Integer tensors compute in float32 (the
    float-only rule; PyTorch raises for them)."""
    (x,) = float_operands("softplus", x)
    return Softplus.apply(x)


# ----- gelu, silu, elu, logsigmoid, hardtanh (array math on numpy or cupy) ---------------
# Terms of erf's two expansions: enough for float64 accuracy (about 1e-15 relative) on
# each side of the switch point, checked against math.erf in the tests.
_ERF_SWITCH = 2.5
_ERF_TERMS = 40


def erf(x: Any) -> Any:
    """The error function erf(x) = 2/√π ∫₀ˣ e^(-t²) dt of a NumPy or CuPy array, in float64.

    Why written here: NumPy has no erf, SciPy is not a dependency, `math.erf` takes one
    Python float at a time (a Python-level loop per element, and nothing for CuPy), and a
    numba-vectorised `math.erf` would be a second, CPU-only code path compiled on first
    use. These two classical expansions are plain array math, so the same code runs on
    both devices, accurate to about 1e-15 relative (tests compare it with math.erf):

    * |x| < 2.5, a series with positive terms (no cancellation). u(x) = e^(x²)·erf(x)
      solves u' = 2x·u + 2/√π with u(0) = 0; matching powers of x gives
        erf(x) = 2/√π · e^(-x²) · Σ_k t_k,  t_0 = x,  t_k = t_(k-1) · 2x² / (2k + 1).
    * |x| >= 2.5, Laplace's continued fraction for the complement, evaluated bottom-up:
        erfc(x) = e^(-x²)/√π · 1/(x + (1/2)/(x + (2/2)/(x + (3/2)/(x + ...)))),
      and erf(x) = 1 - erfc(x) (which is 1 in float64 from x ≈ 5.9 on).
    erf is odd, so both run on |x| and the sign is put back at the end; NaN stays NaN.
    """
    xp = array_module_of(x)
    x = xp.asarray(x, dtype=xp.float64)
    ax = xp.abs(x)
    out = xp.empty_like(ax)
    near = ax < _ERF_SWITCH  # NaN goes to the far branch and stays NaN

    a = ax[near]
    a2 = a * a
    term = a.copy()
    total = a.copy()
    for k in range(1, _ERF_TERMS):
        term = term * (2 * a2) / (2 * k + 1)
        total = total + term
    out[near] = (2 / math.sqrt(math.pi)) * xp.exp(-a2) * total

    b = ax[~near]
    frac = xp.zeros_like(b)
    for k in range(_ERF_TERMS, 0, -1):
        frac = (k / 2) / (b + frac)
    b_capped = xp.minimum(b, 30.0)  # e^(-900) is already 0: no overflow warning for huge b
    out[~near] = 1 - xp.exp(-b_capped * b_capped) / math.sqrt(math.pi) / (b + frac)
    return xp.copysign(out, x)


_SQRT_2_OVER_PI = math.sqrt(2 / math.pi)
_GELU_TANH_K = 0.044715  # the cubic coefficient of the tanh approximation (Hendrycks & Gimpel)


class GELU(Function):
    """y = GELU(x) = x·Φ(x), Φ the standard normal CDF.

    approximate="none" (exact): Φ(x) = (1 + erf(x/√2))/2, and
      dy/dx = Φ(x) + x·φ(x),  φ(x) = e^(-x²/2)/√(2π)  (the normal density, Φ' = φ).
    approximate="tanh": y = x/2 · (1 + t),  t = tanh(u),  u = √(2/π)·(x + 0.044715·x³),
      dy/dx = (1 + t)/2 + x/2 · (1 - t²) · √(2/π)·(1 + 3·0.044715·x²).
    Saves x and Φ(x) (resp. t), so backward computes no second erf/tanh. erf is
    evaluated in float64 (`erf`) and Φ rounded to x's dtype.
    """

    @staticmethod
    def forward(ctx: Context, x: Any, approximate: str = "none") -> Any:
        xp = array_module_of(x)
        ctx.approximate = approximate
        if approximate == "tanh":
            t = xp.tanh(_SQRT_2_OVER_PI * (x + _GELU_TANH_K * x * x * x))
            ctx.save_for_backward(x, t)
            return xp.asarray(0.5 * x * (1 + t))
        x64 = x.astype(xp.float64)
        cdf = (0.5 * (1 + erf(x64 / math.sqrt(2)))).astype(x.dtype, copy=False)
        ctx.save_for_backward(x, cdf)
        return xp.asarray(x * cdf)

    @staticmethod
    def backward(ctx: Context, g: Any) -> Any:
        xp = array_module_of(g)
        if ctx.approximate == "tanh":
            x, t = ctx.saved
            du = _SQRT_2_OVER_PI * (1 + 3 * _GELU_TANH_K * x * x)
            return g * (0.5 * (1 + t) + 0.5 * x * (1 - t * t) * du)
        x, cdf = ctx.saved
        pdf = xp.exp(-0.5 * x * x) / math.sqrt(2 * math.pi)
        return g * (cdf + x * pdf)


class SiLU(Function):
    """y = x·σ(x) (also called swish).  dy/dx = σ(x) + x·σ(x)(1 - σ(x)) = σ·(1 + x(1 - σ)).

    Saves x and σ(x).
    """

    @staticmethod
    def forward(ctx: Context, x: Any) -> Any:
        s = stable_sigmoid(x)
        ctx.save_for_backward(x, s)
        return array_module_of(x).asarray(x * s)

    @staticmethod
    def backward(ctx: Context, g: Any) -> Any:
        x, s = ctx.saved
        return g * s * (1 + x * (1 - s))


class ELU(Function):
    """y = x for x > 0, α·(e^x - 1) otherwise.  dy/dx = 1 for x > 0, α·e^x otherwise
    (so α at x = 0, as PyTorch). e^x - 1 is computed as expm1 (accurate near 0), and only
    on min(x, 0), so a large positive x cannot overflow.
    """

    @staticmethod
    def forward(ctx: Context, x: Any, alpha: float = 1.0) -> Any:
        xp = array_module_of(x)
        ctx.save_for_backward(x)
        ctx.alpha = alpha
        return xp.asarray(xp.where(x > 0, x, alpha * xp.expm1(xp.minimum(x, 0))))

    @staticmethod
    def backward(ctx: Context, g: Any) -> Any:
        (x,) = ctx.saved
        xp = array_module_of(g)
        return xp.where(x > 0, g, g * (ctx.alpha * xp.exp(xp.minimum(x, 0))))


class LogSigmoid(Function):
    """y = log σ(x) = -log(1 + e^(-x)) = min(x, 0) - log1p(e^(-|x|)) (no overflow, no
    log of 0: exact for large |x| of either sign).  dy/dx = 1 - σ(x) = σ(-x).
    """

    @staticmethod
    def forward(ctx: Context, x: Any) -> Any:
        xp = array_module_of(x)
        ctx.save_for_backward(x)
        return xp.asarray(xp.minimum(x, 0) - xp.log1p(xp.exp(-xp.abs(x))))

    @staticmethod
    def backward(ctx: Context, g: Any) -> Any:
        (x,) = ctx.saved
        return g * stable_sigmoid(-x)


class Hardtanh(Function):
    """y = min(max(x, min_val), max_val).  dy/dx = 1 where min_val < x < max_val, else 0.

    At exactly x = min_val or x = max_val the gradient is 0 (PyTorch's hardtanh, unlike
    clamp, which passes it there); a NaN x passes the gradient (it is not <= or >= either
    bound), as in PyTorch.
    """

    @staticmethod
    def forward(ctx: Context, x: Any, min_val: float = -1.0, max_val: float = 1.0) -> Any:
        xp = array_module_of(x)
        ctx.save_for_backward(x)
        ctx.bounds = (min_val, max_val)
        return xp.asarray(xp.minimum(xp.maximum(x, min_val), max_val))

    @staticmethod
    def backward(ctx: Context, g: Any) -> Any:
        (x,) = ctx.saved
        lo, hi = ctx.bounds
        xp = array_module_of(g)
        return xp.where((x <= lo) | (x >= hi), xp.zeros((), dtype=g.dtype), g)


def gelu(input: Tensor, approximate: str = "none") -> Tensor:  # noqa: A002 - PyTorch's name
    """GELU(x) = x·Φ(x): exact with erf (approximate="none", PyTorch's default) or with
    the tanh approximation (approximate="tanh"). Forward and backward math: `GELU`."""
    if approximate not in ("none", "tanh"):
        raise ValueError(f"gelu: approximate must be 'none' or 'tanh', got {approximate!r}")
    return GELU.apply(*float_operands("gelu", input), approximate=approximate)


def silu(input: Tensor) -> Tensor:  # noqa: A002
    """SiLU(x) = x·σ(x). Backward: σ(x)·(1 + x(1 - σ(x)))."""
    return SiLU.apply(*float_operands("silu", input))


def elu(input: Tensor, alpha: float = 1.0) -> Tensor:  # noqa: A002
    """ELU(x) = x for x > 0, alpha·(e^x - 1) otherwise. Backward: 1, or alpha·e^x."""
    return ELU.apply(*float_operands("elu", input), alpha=float(alpha))


def logsigmoid(input: Tensor) -> Tensor:  # noqa: A002
    """log σ(x), computed stably. Backward: σ(-x)."""
    return LogSigmoid.apply(*float_operands("logsigmoid", input))


def hardtanh(input: Tensor, min_val: float = -1.0, max_val: float = 1.0) -> Tensor:  # noqa: A002
    """Clamp into [min_val, max_val]; gradient 1 strictly inside, 0 at and beyond the bounds.

    Integer tensors are promoted to float32 like every activation here. (PyTorch keeps an
    integer dtype and truncates fractional bounds: hardtanh(int tensor, -0.5, 0.5) is all
    zeros there; promoting gives the clamp the bounds describe.)
    """
    min_val, max_val = float(min_val), float(max_val)
    if min_val > max_val:
        raise ValueError(
            f"hardtanh: min_val cannot be greater than max_val (got {min_val} > {max_val})"
        )
    (x,) = float_operands("hardtanh", input)
    return Hardtanh.apply(x, min_val=min_val, max_val=max_val)
