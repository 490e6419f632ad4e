# The activation registry: the one list of the activations the fused linear_act kernels
# apply, each with its code in csrc/common.cuh's Activation enum, its math, the NumPy
# reference of forward and gradient (numpy_ref runs these), and the CUDA C snippets of the
# CuPy fallback. Everything else derives from it: checks.ACTIVATIONS, cuda_ext's codes,
# cupy_kernels' elementwise kernels, ops and nn; tests/test_activations.py checks it against
# the C++ enum (parsed from csrc/common.cuh) and the compiled minigan._C / minigan._C_emu.
"""The activations of ``linear_act``: y = act(z) with z = x @ w.T + b.

Each :class:`Activation` holds

* ``name`` (what users write) and ``code`` (the value of ``minigan::Activation`` in
  ``csrc/common.cuh``, enumerator ``ACT_<NAME>``; the codes are 0, 1, 2, ... in order);
* the math of the forward pass and of the derivative, the latter written with the saved
  OUTPUT y (so the pre-activation z need not be kept for the backward pass)::

      none:       y = z                                   act'(z) = 1
      relu:       y = max(z, 0)                           act'(z) = [y > 0]
      leaky_relu: y = z if z > 0 else slope * z           act'(z) = 1 if y > 0 else slope
      tanh:       y = tanh(z)                             act'(z) = 1 - y**2
      sigmoid:    y = 1 / (1 + exp(-z))                   act'(z) = y * (1 - y)

  (leaky_relu reads the side of z off the sign of y, which needs slope >= 0);
* ``apply_(z, slope)``: the NumPy reference of the forward pass, in place on z;
* ``grad(dy, y, slope)``: the NumPy reference of dz = dy * act'(z), from y;
* ``cupy_forward`` / ``cupy_backward``: the CUDA C bodies the CuPy fallback puts into its
  elementwise kernels (``T`` is the element type; inputs ``z``, ``slope`` -> output ``y``;
  inputs ``dy``, ``y``, ``slope`` -> output ``dz``).

:func:`lookup` turns a name into its entry (raising ``ValueError`` naming the op for an
unknown one) and lets an entry pass through unchanged: an op validates the name once and
hands the entry down, so the layers below do not validate it again.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

__all__ = ["ACTIVATIONS", "BY_NAME", "CODES", "REGISTRY", "Activation", "lookup"]


@dataclass(frozen=True)
class Activation:
    """One activation of the registry (see the module docstring for the fields)."""

    name: str
    code: int
    forward_math: str
    grad_math: str
    apply_: Callable[[np.ndarray, float], np.ndarray]
    grad: Callable[[np.ndarray, np.ndarray, float], np.ndarray]
    cupy_forward: str
    cupy_backward: str
    uses_slope: bool = False  # leaky_relu: `slope` matters and must be >= 0

    @property
    def cpp_enumerator(self) -> str:
        """The name of this activation in csrc/common.cuh's enum: "ACT_" + NAME."""
        return "ACT_" + self.name.upper()

    def __repr__(self) -> str:
        return f"Activation({self.name!r}, code={self.code})"


# ----------------------------------------------------------------------------------
# NumPy references: forward in place on z, gradient dz = dy * act'(z) read off y
# ----------------------------------------------------------------------------------


def _identity_(z: np.ndarray, slope: float) -> np.ndarray:
    """y = z."""
    return z


def _identity_grad(dy: np.ndarray, y: np.ndarray, slope: float) -> np.ndarray:
    """dz = dy (the same array: nothing to compute)."""
    return dy


def _relu_(z: np.ndarray, slope: float) -> np.ndarray:
    """y = max(z, 0); NaN passes through."""
    return np.maximum(z, 0, out=z)


def _relu_grad(dy: np.ndarray, y: np.ndarray, slope: float) -> np.ndarray:
    """dz = dy where y > 0, else 0."""
    return np.where(y > 0, dy, 0)


def _leaky_relu_(z: np.ndarray, slope: float) -> np.ndarray:
    """y = z if z > 0 else slope * z, i.e. max(z, slope*z) for slope <= 1 (min above 1)."""
    if slope <= 1:
        return np.maximum(z, z * slope, out=z)
    return np.minimum(z, z * slope, out=z)


def _leaky_relu_grad(dy: np.ndarray, y: np.ndarray, slope: float) -> np.ndarray:
    """dz = dy where y > 0, else slope * dy (y has the sign of z because slope >= 0)."""
    dz = dy * slope
    np.copyto(dz, dy, where=y > 0)
    return dz


def _tanh_(z: np.ndarray, slope: float) -> np.ndarray:
    """y = tanh(z)."""
    return np.tanh(z, out=z)


def _tanh_grad(dy: np.ndarray, y: np.ndarray, slope: float) -> np.ndarray:
    """dz = (1 - y^2) * dy."""
    dz = np.multiply(y, y)
    np.subtract(1, dz, out=dz)
    dz *= dy
    return dz


def _sigmoid_(z: np.ndarray, slope: float) -> np.ndarray:
    """y = 1 / (1 + exp(-z)) without overflow: with e = exp(-|z|) <= 1, sigmoid(z) is
    1 / (1 + e) for z >= 0 and e / (1 + e) for z < 0."""
    positive = z >= 0
    e = np.abs(z)
    np.negative(e, out=e)
    np.exp(e, out=e)
    np.add(e, 1.0, out=z)  # z <- 1 + e (the denominator)
    np.copyto(e, 1.0, where=positive)  # e <- the numerator
    np.divide(e, z, out=z)
    return z


def _sigmoid_grad(dy: np.ndarray, y: np.ndarray, slope: float) -> np.ndarray:
    """dz = y * (1 - y) * dy."""
    dz = np.subtract(1, y)
    dz *= y
    dz *= dy
    return dz


# ----------------------------------------------------------------------------------
# The registry (order = code)
# ----------------------------------------------------------------------------------

# In the CuPy snippets, exp(-|z|) is written exp(z >= 0 ? -z : z) so that it cannot overflow.
REGISTRY: tuple[Activation, ...] = (
    Activation(
        name="none",
        code=0,
        forward_math="y = z",
        grad_math="act'(z) = 1",
        apply_=_identity_,
        grad=_identity_grad,
        cupy_forward="y = z;",
        cupy_backward="dz = dy;",
    ),
    Activation(
        name="relu",
        code=1,
        forward_math="y = max(z, 0)",
        grad_math="act'(z) = [y > 0]",
        apply_=_relu_,
        grad=_relu_grad,
        cupy_forward="y = z < (T)0 ? (T)0 : z;",  # NaN passes through, like np.maximum
        cupy_backward="dz = y > (T)0 ? dy : (T)0;",
    ),
    Activation(
        name="leaky_relu",
        code=2,
        forward_math="y = z if z > 0 else slope * z   (slope >= 0)",
        grad_math="act'(z) = 1 if y > 0 else slope",
        apply_=_leaky_relu_,
        grad=_leaky_relu_grad,
        cupy_forward="y = z > (T)0 ? z : slope * z;",
        cupy_backward="dz = y > (T)0 ? dy : dy * slope;",
        uses_slope=True,
    ),
    Activation(
        name="tanh",
        code=3,
        forward_math="y = tanh(z)",
        grad_math="act'(z) = 1 - y**2",
        apply_=_tanh_,
        grad=_tanh_grad,
        cupy_forward="y = tanh(z);",
        cupy_backward="dz = ((T)1 - y * y) * dy;",
    ),
    Activation(
        name="sigmoid",
        code=4,
        forward_math="y = 1 / (1 + exp(-z))",
        grad_math="act'(z) = y * (1 - y)",
        apply_=_sigmoid_,
        grad=_sigmoid_grad,
        cupy_forward="T e = exp(z >= (T)0 ? -z : z);\ny = (z >= (T)0 ? (T)1 : e) / ((T)1 + e);",
        cupy_backward="dz = ((T)1 - y) * y * dy;",
    ),
)

BY_NAME: dict[str, Activation] = {a.name: a for a in REGISTRY}
# The names in code order, what users may write.
ACTIVATIONS: tuple[str, ...] = tuple(a.name for a in REGISTRY)
# name -> code of csrc/common.cuh's enum (what minigan._C.ACTIVATIONS exports).
CODES: dict[str, int] = {a.name: a.code for a in REGISTRY}


def lookup(op: str, act: str | Activation) -> Activation:
    """The registry entry of `act`; an entry is returned as it is (it was validated when it
    was looked up). Raises ValueError "<op>: unknown activation ..." for anything else."""
    if isinstance(act, Activation):
        return act
    entry = BY_NAME.get(act) if isinstance(act, str) else None
    if entry is None:
        raise ValueError(f"{op}: unknown activation {act!r}; expected one of {ACTIVATIONS}")
    return entry
