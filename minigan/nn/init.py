# minigan/nn/init.py: in-place parameter initialisation (uniform, normal, constants,
# Kaiming-uniform with PyTorch's fan rules) and the DCGAN scheme N(0, 0.02).
# Every random draw comes from minigan.random.generator(device), so manual_seed makes
# initialisation reproducible.
"""Parameter initialisers. All functions fill a tensor IN PLACE and return it.

PyTorch's default for Linear / Conv2d / ConvTranspose2d is
``kaiming_uniform_(W, a=√5)``: with gain = √(2 / (1 + a²)) = √(1/3) the bound
gain·√3/√fan_in equals 1/√fan_in, i.e. W ~ U(-1/√fan_in, 1/√fan_in); biases use the same
bound. fan_in = W.shape[1] · kh · kw (for ConvTranspose2d, whose weight is
(in, out, kh, kw), that is out·kh·kw — PyTorch's rule, kept for comparable results).
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np

from ..random import generator
from ..tensor import Tensor


def _fill(t: Tensor, values: Any) -> Tensor:
    """Write `values` (same shape) into t's existing array, keeping device and dtype (an
    in-place write: t's version goes up, so a graph that used the old values cannot be
    backpropagated by mistake)."""
    t.data[...] = values
    t._bump_version()
    return t


def uniform_(t: Tensor, a: float = 0.0, b: float = 1.0) -> Tensor:
    """Fill t with samples of U(a, b)."""
    if b < a:
        raise ValueError(f"uniform_: need a <= b, got a={a}, b={b}")
    u = generator(t.device).random(t.shape, dtype=np.dtype(t.dtype).type)
    return _fill(t, a + (b - a) * u)


def normal_(t: Tensor, mean: float = 0.0, std: float = 1.0) -> Tensor:
    """Fill t with samples of N(mean, std²)."""
    if std < 0:
        raise ValueError(f"normal_: std must be >= 0, got {std}")
    z = generator(t.device).standard_normal(t.shape, dtype=np.dtype(t.dtype).type)
    return _fill(t, mean + std * z)


def constant_(t: Tensor, value: float) -> Tensor:
    """Fill t with `value`."""
    return _fill(t, value)


def zeros_(t: Tensor) -> Tensor:
    return constant_(t, 0.0)


def ones_(t: Tensor) -> Tensor:
    return constant_(t, 1.0)


def fan_in_and_fan_out(t: Tensor) -> tuple[int, int]:
    """(fan_in, fan_out) of a weight the PyTorch way: dims 1 and 0 times the kernel area.

    Linear (out, in): (in, out). Conv2d (out, in, kh, kw): (in·kh·kw, out·kh·kw).
    ConvTranspose2d (in, out, kh, kw): (out·kh·kw, in·kh·kw).
    """
    if t.ndim < 2:
        raise ValueError(f"fan_in_and_fan_out: needs a weight with >= 2 dims, got {t.shape}")
    receptive = math.prod(t.shape[2:])
    return t.shape[1] * receptive, t.shape[0] * receptive


def calculate_gain(nonlinearity: str, param: float | None = None) -> float:
    """Recommended gain for an activation (PyTorch's table)."""
    if nonlinearity in ("linear", "sigmoid", "none"):
        return 1.0
    if nonlinearity == "tanh":
        return 5.0 / 3
    if nonlinearity == "relu":
        return math.sqrt(2.0)
    if nonlinearity == "leaky_relu":
        slope = 0.01 if param is None else float(param)
        return math.sqrt(2.0 / (1 + slope**2))
    raise ValueError(f"calculate_gain: unknown nonlinearity {nonlinearity!r}")


def kaiming_uniform_(
    t: Tensor, a: float = 0.0, mode: str = "fan_in", nonlinearity: str = "leaky_relu"
) -> Tensor:
    """He-uniform: t ~ U(-bound, bound), bound = gain·√3/√fan, gain = calculate_gain(...).

    With the defaults of the layers here (a = √5, fan_in) the bound is 1/√fan_in.
    """
    if mode not in ("fan_in", "fan_out"):
        raise ValueError(f"kaiming_uniform_: mode must be 'fan_in' or 'fan_out', got {mode!r}")
    fan_in, fan_out = fan_in_and_fan_out(t)
    fan = fan_in if mode == "fan_in" else fan_out
    bound = calculate_gain(nonlinearity, a) * math.sqrt(3.0 / fan)
    return uniform_(t, -bound, bound)


def dcgan_init_(module: Any) -> Any:
    """The DCGAN paper's init, applied to every submodule of `module` (in place).

    Conv2d / ConvTranspose2d / Linear: W ~ N(0, 0.02²), b = 0.
    BatchNorm1d/2d: γ ~ N(1, 0.02²), β = 0.
    Returns `module`.

    The layers say which rule applies with a class attribute, ``dcgan_role`` ("weight" or
    "norm"; layers without it are left as they are), so this module needs no import of
    nn.layers (which imports it: the import goes one way only).
    """
    for m in module.modules():
        role = getattr(type(m), "dcgan_role", None)
        if role == "weight":
            normal_(m.weight, 0.0, 0.02)
            if m.bias is not None:
                zeros_(m.bias)
        elif role == "norm" and m.affine:
            normal_(m.weight, 1.0, 0.02)
            zeros_(m.bias)
    return module
