# The differentiable ops, and the Tensor operators/methods that call them.
# Primitive ops (elementwise, reduction, shape, linalg, activation) have backward written in
# array math; fused ops (linear_act, conv2d, conv_transpose2d, batch_norm,
# binary_cross_entropy_with_logits) call the kernel contract of minigan.backend.
from __future__ import annotations

from typing import Any

from ..tensor import Tensor
from .activation import leaky_relu, relu, sigmoid, softplus, tanh
from .elementwise import abs, add, clip, div, exp, log, maximum, minimum, mul, neg, pow, sqrt, sub
from .fused import (
    batch_norm,
    binary_cross_entropy_with_logits,
    conv2d,
    conv_transpose2d,
    linear_act,
)
from .linalg import matmul
from .reduction import max, mean, sum
from .shape import concat, flatten, getitem, permute, reshape, stack, transpose

__all__ = [
    "abs",
    "add",
    "batch_norm",
    "binary_cross_entropy_with_logits",
    "clip",
    "concat",
    "conv2d",
    "conv_transpose2d",
    "div",
    "exp",
    "flatten",
    "getitem",
    "leaky_relu",
    "linear_act",
    "log",
    "matmul",
    "max",
    "maximum",
    "mean",
    "minimum",
    "mul",
    "neg",
    "permute",
    "pow",
    "relu",
    "reshape",
    "sigmoid",
    "softplus",
    "sqrt",
    "stack",
    "sub",
    "sum",
    "tanh",
    "transpose",
]


def _install_tensor_methods() -> None:
    """Give Tensor its operators (+, -, *, /, **, @, [], unary -) and op methods."""

    def rsub(self: Tensor, other: Any) -> Tensor:
        return sub(other, self)

    def rdiv(self: Tensor, other: Any) -> Tensor:
        return div(other, self)

    def rpow(self: Tensor, other: Any) -> Tensor:
        return pow(other, self)

    def rmatmul(self: Tensor, other: Tensor) -> Tensor:
        return matmul(other, self)

    def view(self: Tensor, *shape: Any) -> Tensor:
        return reshape(self, *shape)

    def mT(self: Tensor) -> Tensor:  # noqa: N802 - matches the PyTorch/NumPy name
        return transpose(self, -2, -1)

    methods = {
        "__add__": add,
        "__radd__": add,
        "__sub__": sub,
        "__rsub__": rsub,
        "__mul__": mul,
        "__rmul__": mul,
        "__truediv__": div,
        "__rtruediv__": rdiv,
        "__pow__": pow,
        "__rpow__": rpow,
        "__matmul__": matmul,
        "__rmatmul__": rmatmul,
        "__neg__": neg,
        "__getitem__": getitem,
        "__abs__": abs,
        "exp": exp,
        "log": log,
        "sqrt": sqrt,
        "abs": abs,
        "clip": clip,
        "maximum": maximum,
        "minimum": minimum,
        "sum": sum,
        "mean": mean,
        "max": max,
        "reshape": reshape,
        "view": view,
        "permute": permute,
        "transpose": transpose,
        "flatten": flatten,
        "matmul": matmul,
        "relu": relu,
        "leaky_relu": leaky_relu,
        "tanh": tanh,
        "sigmoid": sigmoid,
        "softplus": softplus,
    }
    for name, fn in methods.items():
        setattr(Tensor, name, fn)
    Tensor.T = property(mT)
    Tensor.mT = property(mT)


_install_tensor_methods()
