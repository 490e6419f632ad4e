# Elementwise activations with their derivatives: relu, leaky_relu, tanh, sigmoid, softplus.
# Each backward uses the saved output (or input) so no extra exp/tanh is computed.
from __future__ import annotations

from typing import Any

from ..autograd import Context, Function
from ..device import array_module_of
from ..tensor import Tensor
from ._util import check_float


class ReLU(Function):
    """y = max(x, 0).  dy/dx = 1 where y > 0, else 0."""

    @staticmethod
    def forward(ctx: Context, x: Any) -> Any:
        y = array_module_of(x).maximum(x, 0)
        ctx.save_for_backward(y)
        return y

    @staticmethod
    def backward(ctx: Context, g: Any) -> Any:
        (y,) = ctx.saved
        return g * (y > 0)


class LeakyReLU(Function):
    """y = x if x > 0 else slope·x.  dy/dx = 1 where x > 0, else slope."""

    @staticmethod
    def forward(ctx: Context, x: Any, slope: float = 0.01) -> Any:
        ctx.save_for_backward(x)
        ctx.slope = slope
        return array_module_of(x).where(x > 0, x, x * slope)

    @staticmethod
    def backward(ctx: Context, g: Any) -> Any:
        (x,) = ctx.saved
        return array_module_of(g).where(x > 0, g, g * ctx.slope)


class Tanh(Function):
    """y = tanh(x).  dy/dx = 1 - y²."""

    @staticmethod
    def forward(ctx: Context, x: Any) -> Any:
        y = array_module_of(x).tanh(x)
        ctx.save_for_backward(y)
        return y

    @staticmethod
    def backward(ctx: Context, g: Any) -> Any:
        (y,) = ctx.saved
        return g * (1 - y * y)


def stable_sigmoid(x: Any) -> Any:
    """σ(x) = 1/(1+e^{-x}) computed without overflow: for x < 0 use e^{x}/(1+e^{x})."""
    xp = array_module_of(x)
    e = xp.exp(-xp.abs(x))
    return xp.where(x >= 0, 1 / (1 + e), e / (1 + e)).astype(x.dtype, copy=False)


class Sigmoid(Function):
    """y = σ(x) = 1/(1+e^{-x}).  dy/dx = y(1 - y)."""

    @staticmethod
    def forward(ctx: Context, x: Any) -> Any:
        y = stable_sigmoid(x)
        ctx.save_for_backward(y)
        return y

    @staticmethod
    def backward(ctx: Context, g: Any) -> Any:
        (y,) = ctx.saved
        return g * y * (1 - y)


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


def relu(x: Tensor) -> Tensor:
    check_float("relu", x)
    return ReLU.apply(x)


def leaky_relu(x: Tensor, slope: float = 0.01) -> Tensor:
    check_float("leaky_relu", x)
    return LeakyReLU.apply(x, slope=float(slope))


def tanh(x: Tensor) -> Tensor:
    check_float("tanh", x)
    return Tanh.apply(x)


def sigmoid(x: Tensor) -> Tensor:
    check_float("sigmoid", x)
    return Sigmoid.apply(x)


def softplus(x: Tensor) -> Tensor:
    check_float("softplus", x)
    return Softplus.apply(x)
