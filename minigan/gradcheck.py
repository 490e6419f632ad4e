# Finite-difference gradient checking: compare the gradient that backward() computes
# with a numerical derivative obtained by nudging every input element up and down.
"""Numerical gradient checking (``gradcheck``).

The math
--------
Let ``f(x_1, ..., x_m)`` be the function under test (any output shape). ``gradcheck``
turns it into one scalar with a fixed random projection ``r`` (one standard-normal
number per output element)::

    S(x) = sum_k f(x)_k * r_k

so that ``dS/dx = J^T r`` (J the Jacobian of f) tests a random combination of all rows of
the Jacobian at once. A wrong gradient for any output element changes ``J^T r`` with
probability 1, so one projection is enough.

* **Analytic**: ``f(x).backward(grad=r)`` gives ``J^T r`` directly (the engine's
  vector-Jacobian product), with no extra ops in the graph.
* **Numeric**: for every element ``x_j`` of every checked input, the central difference::

      dS/dx_j  ~  (S(x + eps e_j) - S(x - eps e_j)) / (2 eps)

  By Taylor's theorem, ``S(x ± eps e_j) = S ± eps S' + eps²/2 S'' ± eps³/6 S''' + ...``;
  the even terms cancel in the difference, so the truncation error is
  ``eps²/6 · S'''`` = O(eps²) (a one-sided difference would be O(eps)). The rounding
  error is about ``2^-53 · |f| / eps``, so eps = 1e-6 in float64 balances the two at
  roughly 1e-10 relative. (The outputs are subtracted before the projection, so output
  elements that the nudge does not touch contribute exactly 0.) That is why gradcheck
  insists on float64: in float32 the rounding term alone would be 2^-24 / 1e-6 ~ 6e-2.

An element passes when ``|analytic - numeric| <= atol + rtol · |numeric|`` (the same
rule as ``numpy.allclose``). Check points where f is not differentiable (relu at 0, a
tie in max, |x| at 0) give meaningless numeric values: keep inputs away from them.

Usage::

    x = minigan.randn(3, 4, dtype="float64", requires_grad=True)
    w = minigan.randn(4, 2, dtype="float64", requires_grad=True)
    minigan.gradcheck(lambda x, w: (x @ w).tanh(), [x, w])   # True, or GradcheckError

    from minigan.gradcheck import gradcheck_report
    print(gradcheck_report(lambda x, w: (x @ w).tanh(), [x, w]))   # a per-input table

Inputs that are not Tensors, or Tensors with ``requires_grad=False``, are passed to
``fn`` unchanged and not checked. Checked inputs are copied into fresh leaf tensors, so
the caller's tensors (and their ``.grad``) are never modified. ``fn`` must be
deterministic and may return one Tensor or a tuple/list of Tensors.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from .autograd import no_grad
from .device import array_module_of
from .tensor import Tensor

__all__ = ["GradcheckError", "GradcheckResult", "InputCheck", "gradcheck", "gradcheck_report"]

# The projection r is drawn from its own generator so that gradcheck neither depends on
# nor disturbs the global random state (minigan.manual_seed).
_PROJECTION_SEED = 20240611


class GradcheckError(AssertionError):
    """The analytic and numerical gradients disagree. `.result` holds the full report."""

    def __init__(self, message: str, result: GradcheckResult) -> None:
        super().__init__(message)
        self.result = result


@dataclass
class InputCheck:
    """The comparison for one checked input (position `index` in the inputs list)."""

    index: int
    shape: tuple[int, ...]
    ok: bool
    max_abs_error: float  # max_j |analytic_j - numeric_j| over all elements
    worst_element: tuple[int, ...]  # the element that violates the tolerance the most
    analytic_at_worst: float
    numeric_at_worst: float
    abs_error: float  # |analytic - numeric| at the worst element
    rel_error: float  # abs_error / |numeric| at the worst element
    n_bad: int  # how many elements fail |a - n| <= atol + rtol |n|
    analytic: np.ndarray = field(repr=False)  # the full analytic gradient (float64, cpu)
    numeric: np.ndarray = field(repr=False)  # the full numeric gradient (float64, cpu)

    def describe(self) -> str:
        status = "ok" if self.ok else f"MISMATCH ({self.n_bad} of {self.analytic.size} elements)"
        return (
            f"input {self.index} shape {self.shape}: {status}; worst element "
            f"{self.worst_element}: analytic={self.analytic_at_worst:.10g} "
            f"numeric={self.numeric_at_worst:.10g} abs_err={self.abs_error:.3g} "
            f"rel_err={self.rel_error:.3g} (max abs_err over the input {self.max_abs_error:.3g})"
        )


@dataclass
class GradcheckResult:
    """What `gradcheck_report` found: one `InputCheck` per checked input."""

    ok: bool
    inputs: list[InputCheck]
    eps: float
    atol: float
    rtol: float

    def __str__(self) -> str:
        head = (
            f"gradcheck {'passed' if self.ok else 'FAILED'} "
            f"(eps={self.eps:g}, pass if |analytic - numeric| <= {self.atol:g} + "
            f"{self.rtol:g}·|numeric|)"
        )
        return "\n".join([head] + ["  " + c.describe() for c in self.inputs])


def _outputs(value: Any) -> list[Tensor]:
    items = list(value) if isinstance(value, tuple | list) else [value]
    for item in items:
        if not isinstance(item, Tensor):
            raise TypeError(
                "gradcheck: fn must return a Tensor or a tuple of Tensors, got "
                f"{type(item).__name__}"
            )
    return items


def _host(outs: list[Tensor]) -> list[np.ndarray]:
    """The outputs' values as float64 NumPy arrays."""
    return [out.numpy().astype(np.float64) for out in outs]


def _projected_difference(
    plus: list[np.ndarray], minus: list[np.ndarray], projections: list[np.ndarray]
) -> float:
    """S(x+) - S(x-) = sum_k (f+_k - f-_k) r_k. Subtracting the outputs first (instead
    of the two sums) makes every output element that the nudge does not touch contribute
    exactly 0, so the rounding error does not grow with the output size."""
    total = 0.0
    for p, m, r in zip(plus, minus, projections, strict=True):
        total += float(np.sum((p - m) * r))
    return total


def gradcheck_report(
    fn: Callable[..., Any],
    inputs: Sequence[Any],
    eps: float = 1e-6,
    atol: float = 1e-5,
    rtol: float = 1e-4,
) -> GradcheckResult:
    """Compare analytic and central-difference gradients of `fn(*inputs)`; never raises
    on a mismatch (see `gradcheck` for the meaning of the arguments). Print the result for
    a per-input table."""
    inputs = list(inputs)
    checked = [i for i, t in enumerate(inputs) if isinstance(t, Tensor) and t.requires_grad]
    if not checked:
        raise ValueError("gradcheck: no input has requires_grad=True, nothing to check")
    for i in checked:
        if inputs[i].dtype != np.float64:
            raise TypeError(
                f"gradcheck: input {i} (shape {inputs[i].shape}) has dtype {inputs[i].dtype}; "
                "finite differences need float64 (float32 rounding swamps the O(eps²) "
                "accuracy). Call .double() on the inputs first."
            )
    # Fresh leaves, so the caller's tensors and their .grad stay untouched.
    args = list(inputs)
    for i in checked:
        args[i] = Tensor._from_op(inputs[i].data.copy(), requires_grad=True)

    # ----- analytic: backward with grad = r gives J^T r --------------------------------
    outs = _outputs(fn(*args))
    rng = np.random.default_rng(_PROJECTION_SEED)
    projections = [rng.standard_normal(out.shape) for out in outs]
    live = [k for k, out in enumerate(outs) if out.requires_grad]
    for n, k in enumerate(live):
        xp = array_module_of(outs[k].data)
        r = xp.asarray(projections[k], dtype=outs[k].dtype)
        outs[k].backward(grad=r, retain_graph=n < len(live) - 1)
    analytic = {}
    for i in checked:
        g = args[i].grad
        analytic[i] = np.zeros(args[i].shape) if g is None else g.numpy().astype(np.float64)

    # ----- numeric: central differences, one element at a time -------------------------
    results = []
    for i in checked:
        leaf = args[i]
        flat = leaf.data.reshape(-1)  # a view: leaf.data is a fresh contiguous copy
        numeric = np.zeros(leaf.size)
        with no_grad():
            for j in range(leaf.size):
                orig = flat[j].item()
                flat[j] = orig + eps
                plus = _host(_outputs(fn(*args)))
                flat[j] = orig - eps
                minus = _host(_outputs(fn(*args)))
                flat[j] = orig
                numeric[j] = _projected_difference(plus, minus, projections) / (2 * eps)
        numeric = numeric.reshape(leaf.shape)
        results.append(_compare(i, analytic[i], numeric, atol, rtol))
    return GradcheckResult(
        ok=all(r.ok for r in results), inputs=results, eps=eps, atol=atol, rtol=rtol
    )


def _compare(
    index: int, analytic: np.ndarray, numeric: np.ndarray, atol: float, rtol: float
) -> InputCheck:
    diff = np.abs(analytic - numeric)
    allowed = atol + rtol * np.abs(numeric)
    bad = ~(diff <= allowed)  # NaN counts as bad
    if analytic.size == 0:
        return InputCheck(
            index, analytic.shape, True, 0.0, (), 0.0, 0.0, 0.0, 0.0, 0, analytic, numeric
        )
    excess = np.where(np.isnan(diff), np.inf, diff - allowed)
    worst = np.unravel_index(int(np.argmax(excess)), analytic.shape)
    rel = diff / np.maximum(np.abs(numeric), np.finfo(np.float64).tiny)
    return InputCheck(
        index=index,
        shape=tuple(analytic.shape),
        ok=not bool(bad.any()),
        max_abs_error=float(np.nanmax(diff)) if not np.isnan(diff).all() else float("nan"),
        worst_element=tuple(int(w) for w in worst),
        analytic_at_worst=float(analytic[worst]),
        numeric_at_worst=float(numeric[worst]),
        abs_error=float(diff[worst]),
        rel_error=float(rel[worst]),
        n_bad=int(bad.sum()),
        analytic=analytic,
        numeric=numeric,
    )


def gradcheck(
    fn: Callable[..., Any],
    inputs: Sequence[Any],
    eps: float = 1e-6,
    atol: float = 1e-5,
    rtol: float = 1e-4,
    raise_exception: bool = True,
) -> bool:
    """Check the gradients of `fn` at `inputs` against central finite differences.

    Args:
      fn: called as fn(*inputs); returns a Tensor (any shape) or a tuple of Tensors.
      inputs: Tensors (and other arguments passed through). Tensors with
        requires_grad=True are checked and must be float64 (call `.double()`).
      eps: the finite-difference step (error O(eps²) + O(2^-53/eps)).
      atol, rtol: an element passes when |analytic - numeric| <= atol + rtol·|numeric|.
      raise_exception: raise GradcheckError on a mismatch (default) or return False.

    Returns True when every element of every checked input passes.
    Raises GradcheckError (an AssertionError) naming the input index, the worst
    element's index, both values and the absolute/relative error.
    """
    result = gradcheck_report(fn, inputs, eps=eps, atol=atol, rtol=rtol)
    if not result.ok and raise_exception:
        raise GradcheckError(str(result), result)
    return result.ok
