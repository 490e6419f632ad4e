# Reductions over dims: sum, mean, max/min (values, or values and indices along a dim),
# amax/amin, argmax/argmin, var/std, prod, cumsum (a scan, not a reduction, kept here) and
# logsumexp. PyTorch's dim/keepdim, NumPy's axis/keepdims as aliases (the dim rule of
# _util.reduction_dims; dim=() means every dim). One rule for empty inputs
# (_check_reduced_not_empty): reductions without an identity (max, min, amax, amin,
# argmax, argmin) raise for a reduced dim of size 0 and work over the other dims. Backward
# spreads the gradient back over the reduced dims.
from __future__ import annotations

import math
import warnings
from typing import Any, NamedTuple

import numpy as np

from ..autograd import Context, Function
from ..device import array_module_of
from ..tensor import Tensor
from ._util import check_not_complex, check_tensor, float_operands, normalize_dim, reduction_dims
from .elementwise import maximum, minimum
from .softmax import stable_shift


def _expand_back(
    g: Any, shape: tuple[int, ...], axes: tuple[int, ...] | None, keepdims: bool
) -> Any:
    """Reshape a reduced gradient so it broadcasts against the input `shape`."""
    if axes is None:
        return g.reshape((1,) * len(shape))
    if not keepdims:
        kept = list(g.shape)
        for a in axes:
            kept.insert(a, 1)
        g = g.reshape(kept)
    return g


class Sum(Function):
    """z = Σ_axes a.  dz/da = 1 for every summed element: the gradient is broadcast back."""

    @staticmethod
    def forward(
        ctx: Context, a: Any, axes: tuple[int, ...] | None = None, keepdims: bool = False
    ) -> Any:
        ctx.shape, ctx.axes, ctx.keepdims = a.shape, axes, keepdims
        return a.sum(axis=axes, keepdims=keepdims)

    @staticmethod
    def backward(ctx: Context, g: Any) -> Any:
        g = _expand_back(g, ctx.shape, ctx.axes, ctx.keepdims)
        return array_module_of(g).broadcast_to(g, ctx.shape).copy()


class Mean(Function):
    """z = (1/n) Σ_axes a.  dz/da = 1/n, broadcast back over the n reduced elements."""

    @staticmethod
    def forward(
        ctx: Context, a: Any, axes: tuple[int, ...] | None = None, keepdims: bool = False
    ) -> Any:
        ctx.shape, ctx.axes, ctx.keepdims = a.shape, axes, keepdims
        n = a.size if axes is None else int(_prod(a.shape[i] for i in axes))
        ctx.n = n if n > 0 else 1
        return a.mean(axis=axes, keepdims=keepdims)

    @staticmethod
    def backward(ctx: Context, g: Any) -> Any:
        g = _expand_back(g, ctx.shape, ctx.axes, ctx.keepdims) / ctx.n
        return array_module_of(g).broadcast_to(g, ctx.shape).copy()


class Max(Function):
    """z = max_axes a.  dz/da = 1/k at each of the k elements equal to z (ties split the
    gradient evenly), 0 elsewhere.

    NaN (z is NaN where a reduced slice holds one), PyTorch's two rules:
      - `nan_hits` (max()/min() with no dim, PyTorch's evenly_distribute_backward): the NaN
        elements count as the hits, dz/da = 1/k at each of the k NaNs;
      - otherwise (amax/amin, NumPy's axis= form): no element equals a NaN z, k = 0 and the
        gradient of the slice is 0/0 = NaN, as PyTorch's amax.
    """

    @staticmethod
    def forward(
        ctx: Context,
        a: Any,
        axes: tuple[int, ...] | None = None,
        keepdims: bool = False,
        nan_hits: bool = False,
    ) -> Any:
        z = a.max(axis=axes, keepdims=True)
        return _save_extreme(ctx, a, z, axes, keepdims, nan_hits)

    @staticmethod
    def backward(ctx: Context, g: Any) -> Any:
        a, z = ctx.saved
        g = _expand_back(g, a.shape, ctx.axes, ctx.keepdims)
        hit = a == z
        if ctx.nan_hits and a.dtype.kind == "f":
            xp = array_module_of(a)
            hit = hit | (xp.isnan(a) & xp.isnan(z))
        count = hit.sum(axis=ctx.axes, keepdims=True).astype(g.dtype)  # int count would upcast g
        with np.errstate(invalid="ignore", divide="ignore"):  # k = 0: NaN, as PyTorch's amax
            return g * hit / count


def _save_extreme(
    ctx: Context, a: Any, z: Any, axes: tuple[int, ...] | None, keepdims: bool, nan_hits: bool
) -> Any:
    """Max/Min's forward after the reduction to z (kept dims): save, then shape the result."""
    ctx.save_for_backward(a, z)
    ctx.axes, ctx.keepdims, ctx.nan_hits = axes, keepdims, nan_hits
    if keepdims:
        return z
    return z.reshape(()) if axes is None else z.squeeze(axis=axes)


def _prod(values: Any) -> int:
    out = 1
    for v in values:
        out *= int(v)
    return out


class ValuesIndices(NamedTuple):
    """What max/min return when given a dim (PyTorch's torch.return_types.max):
    `values, indices = t.max(dim=1)`."""

    values: Tensor
    indices: Tensor


class ExtremeAlongDim(Function):
    """z = max (or min, `largest=False`) of a along one dim, at the index i* that
    argmax/argmin picks (the first one on ties, as PyTorch).

    dz/da = 1 at i* and 0 elsewhere: the whole gradient goes to the selected element, ties
    included (PyTorch's rule for max/min with a dim; the full reduction splits ties).

    `indices`, a dict, receives the int64 indices i* (shaped like z) under "indices": the
    second result of max/min(dim), computed once here.
    """

    @staticmethod
    def forward(
        ctx: Context,
        a: Any,
        dim: int = 0,
        keepdim: bool = False,
        largest: bool = True,
        indices: dict | None = None,
    ) -> Any:
        xp = array_module_of(a)
        idx = xp.expand_dims(xp.argmax(a, axis=dim) if largest else xp.argmin(a, axis=dim), dim)
        ctx.shape, ctx.dim, ctx.keepdim, ctx.index = a.shape, dim, keepdim, idx
        z = xp.take_along_axis(a, idx, axis=dim)
        if indices is not None:
            indices["indices"] = (idx if keepdim else idx.squeeze(axis=dim)).astype(np.int64)
        return z if keepdim else z.squeeze(axis=dim)

    @staticmethod
    def backward(ctx: Context, g: Any) -> Any:
        xp = array_module_of(g)
        if not ctx.keepdim:
            g = xp.expand_dims(g, ctx.dim)
        positions = xp.arange(ctx.shape[ctx.dim]).reshape(
            [-1 if i == ctx.dim else 1 for i in range(len(ctx.shape))]
        )
        return xp.where(positions == ctx.index, g, xp.zeros((), dtype=g.dtype))


def _prepare_reduction(
    name: str, a: Tensor, dim: Any, keepdim: Any, axis: Any, keepdims: Any
) -> tuple[Tensor, tuple[int, ...] | None, bool]:
    """The input and the (dims, keepdim) a reduction runs with, after the dim rule."""
    check_tensor(name, a, None)
    axes, keep, _ = reduction_dims(name, a.ndim, dim, keepdim, axis, keepdims)
    if a.ndim == 0 or (axes is not None and len(axes) == a.ndim and not keep):
        axes = None  # every dim (a 0-d tensor's dim 0/-1 is "every dim")
    return a, axes, keep


def sum(  # noqa: A001 - PyTorch's name
    a: Tensor,
    dim: Any = None,
    keepdim: bool = False,
    *,
    axis: Any = None,
    keepdims: bool | None = None,
) -> Tensor:
    """Sum over `dim` (an int or a tuple; None = every dim), keeping the reduced dims as
    size 1 if `keepdim`. `axis`/`keepdims` are NumPy-style aliases of `dim`/`keepdim`."""
    a, axes, keep = _prepare_reduction("sum", a, dim, keepdim, axis, keepdims)
    return Sum.apply(a, axes=axes, keepdims=keep)


def mean(
    a: Tensor,
    dim: Any = None,
    keepdim: bool = False,
    *,
    axis: Any = None,
    keepdims: bool | None = None,
) -> Tensor:
    """Mean over `dim` (an int or a tuple; None = every dim); `axis`/`keepdims` are aliases.
    An integer tensor is averaged in float32 (the float-only rule; PyTorch raises)."""
    a, axes, keep = _prepare_reduction("mean", a, dim, keepdim, axis, keepdims)
    (a,) = float_operands("mean", a)
    return Mean.apply(a, axes=axes, keepdims=keep)


def max(  # noqa: A001 - PyTorch's name
    a: Tensor,
    dim: Any = None,
    keepdim: bool = False,
    *,
    axis: Any = None,
    keepdims: bool | None = None,
) -> Any:
    """The maximum, in PyTorch's three forms, plus NumPy's:

    - ``max(a)``: the largest element (0-d); ties split the gradient evenly (a NaN is the
      maximum, and NaNs share the gradient, as PyTorch).
    - ``max(a, dim, keepdim=False)`` with an int dim: ``(values, indices)`` (a named tuple,
      ``ValuesIndices``), as PyTorch; the gradient goes to the element at ``indices`` (the
      first maximum on ties). ``a.argmax(dim)`` is the same index.
    - ``max(a, other)`` with a Tensor: the elementwise ``maximum(a, other)``.
    - ``max(a, axis=..., keepdims=...)`` (NumPy's form, int or tuple): the values only,
      ties splitting the gradient evenly (NumPy's ``max``, PyTorch's ``amax``).
    """
    if isinstance(dim, Tensor):
        return maximum(a, dim)
    return _extreme("max", a, dim, keepdim, axis, keepdims, largest=True, full=Max)


def _extreme(
    name: str,
    a: Tensor,
    dim: Any,
    keepdim: bool,
    axis: Any,
    keepdims: bool | None,
    largest: bool,
    full: type[Function],
) -> Any:
    """max/min: values only (no dim, or NumPy's axis=; the Function `full` with ties split)
    or (values, indices) for an int dim (`largest` picks argmax or argmin)."""
    if dim is not None and not isinstance(dim, int | np.integer):
        raise TypeError(
            f"{name}: dim must be an int (it returns values and indices); for several dims "
            f"use axis=, which returns the values only, got dim={dim!r}"
        )
    a, axes, keep = _prepare_reduction(name, a, dim, keepdim, axis, keepdims)
    if dim is None:
        _check_reduced_not_empty(name, a, axes)
        whole = axis is None  # max(a): PyTorch's max(), NaNs share the gradient
        return full.apply(a, axes=axes, keepdims=keep, nan_hits=whole)
    d = normalize_dim(dim, a.ndim, name)
    if a.ndim == 0:
        index = Tensor(np.zeros((), dtype=np.int64), device=a.device)
        return ValuesIndices(Sum.apply(a, axes=None, keepdims=False), index)
    _check_reduced_not_empty(name, a, (d,))
    side: dict = {}
    values = ExtremeAlongDim.apply(a, dim=d, keepdim=keep, largest=largest, indices=side)
    return ValuesIndices(values, Tensor._from_op(side["indices"], requires_grad=False))


# ----- min, amax/amin, argmax/argmin, var/std, prod, cumsum, logsumexp ------------------


class Min(Max):
    """z = min_axes a.  dz/da = 1 at the minimum (split evenly between ties), 0 elsewhere.

    The backward is Max's: both send g to the elements equal to the saved result z.
    """

    @staticmethod
    def forward(
        ctx: Context,
        a: Any,
        axes: tuple[int, ...] | None = None,
        keepdims: bool = False,
        nan_hits: bool = False,
    ) -> Any:
        z = a.min(axis=axes, keepdims=True)
        return _save_extreme(ctx, a, z, axes, keepdims, nan_hits)


def min(  # noqa: A001 - PyTorch's name
    a: Tensor,
    dim: Any = None,
    keepdim: bool = False,
    *,
    axis: Any = None,
    keepdims: bool | None = None,
) -> Any:
    """The minimum, in the same forms as ``max``:

    - ``min(a)``: the smallest element (0-d); ties split the gradient evenly.
    - ``min(a, dim, keepdim=False)`` with an int dim: ``(values, indices)`` (``ValuesIndices``),
      as PyTorch; the gradient goes to the element at ``indices`` (the first minimum on ties).
    - ``min(a, other)`` with a Tensor: the elementwise ``minimum(a, other)``.
    - ``min(a, axis=..., keepdims=...)`` (NumPy's form): the values only, ties split.
    """
    if isinstance(dim, Tensor):
        return minimum(a, dim)
    return _extreme("min", a, dim, keepdim, axis, keepdims, largest=False, full=Min)


class EmptyReductionError(IndexError, ValueError):
    """A reduction without an identity over a dim of size 0. An IndexError, as PyTorch's
    "Expected reduction dim 0 to have non-zero size", and a ValueError, what max/min
    raised before the rule was unified."""


def _check_reduced_not_empty(name: str, a: Tensor, axes: tuple[int, ...] | None) -> None:
    """The one rule for reductions without an identity (max, min, amax, amin, argmax,
    argmin), PyTorch's: every reduced dim must have at least one element (a tensor of shape
    (0, 3) reduces over dim 1 to shape (0,), and raises over dim 0 or over every dim).
    Raises EmptyReductionError naming the op, the dim and the shape."""
    if axes is None:
        if a.size == 0:
            what = (
                "take the index over all dims of an empty tensor"
                if name.startswith("arg")
                else "reduce an empty tensor over all dims"
            )
            raise EmptyReductionError(
                f"{name}: cannot {what} (shape {a.shape}); give a dim whose size is not 0"
            )
        return
    for d in axes:
        if a.shape[d] == 0:
            raise EmptyReductionError(
                f"{name}: expected reduction dim {d} to have non-zero size, got shape {a.shape}"
            )


def _amax_amin(name: str, fn: type[Function], a: Tensor, dim: Any, keepdim: bool) -> Tensor:
    a, axes, keep = _prepare_reduction(name, a, dim, keepdim, None, None)
    _check_reduced_not_empty(name, a, axes)
    return fn.apply(a, axes=axes, keepdims=keep)


def amax(a: Tensor, dim: Any = (), keepdim: bool = False) -> Tensor:
    """Maximum over `dim` (an int or a tuple; () = every dim), values only.

    Ties split the gradient evenly (dz/da = 1/k at each of k maxima), as PyTorch's amax.
    """
    return _amax_amin("amax", Max, a, dim, keepdim)


def amin(a: Tensor, dim: Any = (), keepdim: bool = False) -> Tensor:
    """Minimum over `dim` (an int or a tuple; () = every dim), values only; ties split."""
    return _amax_amin("amin", Min, a, dim, keepdim)


def _arg_extreme(name: str, a: Tensor, dim: Any, keepdim: bool, largest: bool) -> Tensor:
    """argmax/argmin: the int64 index of the first extreme element (ties -> first, NaN
    counts as the extreme, as PyTorch); dim=None indexes the flattened tensor."""
    check_tensor(name, a, None)
    check_not_complex(name, a)
    xp = array_module_of(a.data)
    pick = xp.argmax if largest else xp.argmin
    if dim is None:
        _check_reduced_not_empty(name, a, None)
        shape = (1,) * a.ndim if keepdim else ()
        out = xp.asarray(pick(a.data.reshape(-1))).reshape(shape)
    else:
        d = normalize_dim(dim, a.ndim, name)
        if a.ndim == 0:
            out = xp.zeros((), dtype=np.int64)
        else:
            _check_reduced_not_empty(name, a, (d,))
            out = pick(a.data, axis=d)
            if keepdim:
                out = xp.expand_dims(out, d)
    return Tensor._from_op(xp.asarray(out).astype(np.int64), requires_grad=False)


def argmax(a: Tensor, dim: int | None = None, keepdim: bool = False) -> Tensor:
    """Index of the maximum along `dim` (None: of the flattened tensor), int64.

    Ties give the first index; not differentiable (an index has no gradient).
    """
    return _arg_extreme("argmax", a, dim, keepdim, largest=True)


def argmin(a: Tensor, dim: int | None = None, keepdim: bool = False) -> Tensor:
    """Index of the minimum along `dim` (None: of the flattened tensor), int64; ties: first."""
    return _arg_extreme("argmin", a, dim, keepdim, largest=False)


class Var(Function):
    """v = Σ_axes (a - ā)² / (N - c), ā the mean over the N reduced elements, c the
    correction (1: Bessel's unbiased estimate, 0: the population variance).

    Backward: dv/da_i = 2 (a_i - ā) / (N - c). (The mean's own dependence on a_i adds
    -2/(N (N - c)) · Σ_j (a_j - ā) = 0.) Where N - c <= 0 the divisor is taken as 0, as
    PyTorch: v is inf (or nan when every a_i - ā is 0), and so is the gradient.
    Saves a - ā.
    """

    @staticmethod
    def forward(
        ctx: Context,
        a: Any,
        axes: tuple[int, ...] | None = None,
        keepdims: bool = False,
        correction: float = 1.0,
    ) -> Any:
        xp = array_module_of(a)
        n = a.size if axes is None else math.prod(a.shape[i] for i in axes)
        total = a.sum(axis=axes, keepdims=True)
        d = a - (total / n if n > 0 else total)
        dof = n - correction
        scale = 1.0 / dof if dof > 0 else math.inf  # 1 / max(N - c, 0)
        with np.errstate(invalid="ignore"):  # 0 · inf = nan, PyTorch's value
            v = (d * d).sum(axis=axes, keepdims=keepdims) * scale
        ctx.save_for_backward(d)
        ctx.axes, ctx.keepdims, ctx.scale = axes, keepdims, scale
        return xp.asarray(v, dtype=a.dtype)

    @staticmethod
    def backward(ctx: Context, g: Any) -> Any:
        (d,) = ctx.saved
        g = _expand_back(g, d.shape, ctx.axes, ctx.keepdims)
        with np.errstate(invalid="ignore"):
            return (2.0 * ctx.scale) * g * d


class Std(Var):
    """s = √v, v the variance of ``Var`` (same N, correction c and divisor).

    Backward: ds/da = dv/da / (2s), i.e. Var's backward applied to g / (2s); where s = 0
    (all reduced elements equal) that factor is taken as 0, as PyTorch does, instead of
    0/0. Saves a - ā and s.
    """

    @staticmethod
    def forward(
        ctx: Context,
        a: Any,
        axes: tuple[int, ...] | None = None,
        keepdims: bool = False,
        correction: float = 1.0,
    ) -> Any:
        s = array_module_of(a).sqrt(Var.forward(ctx, a, axes, keepdims, correction))
        ctx.std = s
        return s

    @staticmethod
    def backward(ctx: Context, g: Any) -> Any:
        xp = array_module_of(g)
        s = ctx.std
        zero = s == 0
        gv = xp.where(zero, xp.zeros((), dtype=g.dtype), g / (2 * xp.where(zero, 1, s)))
        return Var.backward(ctx, gv)


def _correction(name: str, unbiased: Any, correction: Any) -> float:
    """PyTorch 2's rule: correction=1 by default; unbiased=True/False means 1/0."""
    if unbiased is not None and correction is not None:
        raise TypeError(f"{name}: give unbiased or correction, not both")
    if unbiased is not None:
        if not isinstance(unbiased, bool | np.bool_):
            raise TypeError(f"{name}: unbiased must be a bool, got {unbiased!r}")
        return 1.0 if unbiased else 0.0
    if correction is None:
        return 1.0
    if isinstance(correction, bool) or not isinstance(correction, int | float | np.number):
        raise TypeError(f"{name}: correction must be a number, got {correction!r}")
    return float(correction)


def _var_std(
    name: str,
    fn: type[Function],
    a: Tensor,
    dim: Any,
    unbiased: Any,
    keepdim: bool,
    correction: Any,
) -> Tensor:
    if isinstance(dim, bool):  # the old form var(input, unbiased)
        if unbiased is not None:
            raise TypeError(f"{name}: unbiased given twice (as dim={dim} and unbiased=)")
        dim, unbiased = None, dim
    c = _correction(name, unbiased, correction)
    a, axes, keep = _prepare_reduction(name, a, dim, keepdim, None, None)
    (a,) = float_operands(name, a)
    n = a.size if axes is None else math.prod(a.shape[i] for i in axes)
    if n - c <= 0:
        warnings.warn(
            f"{name}: degrees of freedom N - correction = {n} - {c:g} <= 0 for shape "
            f"{a.shape}; the result is inf or nan (as PyTorch)",
            RuntimeWarning,
            stacklevel=3,
        )
    return fn.apply(a, axes=axes, keepdims=keep, correction=c)


def var(
    a: Tensor,
    dim: Any = None,
    unbiased: bool | None = None,
    keepdim: bool = False,
    *,
    correction: float | None = None,
) -> Tensor:
    """Variance over `dim` (an int or a tuple; None = every dim), divided by N - correction.

    PyTorch 2's arguments: correction=1 by default (the unbiased estimate); the older
    `unbiased` (True = correction 1, False = 0) is accepted, also as ``var(x, False)``.
    An integer tensor is computed in float32. Backward: 2 (a - ā) / (N - c) (``Var``).
    """
    return _var_std("var", Var, a, dim, unbiased, keepdim, correction)


def std(
    a: Tensor,
    dim: Any = None,
    unbiased: bool | None = None,
    keepdim: bool = False,
    *,
    correction: float | None = None,
) -> Tensor:
    """Standard deviation √var (same arguments as ``var``).

    Backward: (a - ā) / ((N - c) s), and 0 where s = 0 (``Std``).
    """
    return _var_std("std", Std, a, dim, unbiased, keepdim, correction)


class Prod(Function):
    """z = Π_axes a.

    Backward: dz/da_i = Π_{j≠i} a_j, the product of the others, computed so that zeros are
    exact (never 0/0):
      - no zero among the reduced elements: Π_{j≠i} a_j = z / a_i;
      - exactly one zero, at i0: the gradient is Π_{j≠i0} a_j at i0 and 0 elsewhere (every
        other product contains the zero);
      - two or more zeros: every product of the others contains a zero: 0 everywhere.
    Saves a.
    """

    @staticmethod
    def forward(
        ctx: Context, a: Any, axes: tuple[int, ...] | None = None, keepdims: bool = False
    ) -> Any:
        xp = array_module_of(a)
        ctx.save_for_backward(a)
        ctx.axes, ctx.keepdims = axes, keepdims
        z = xp.asarray(a.prod(axis=axes, keepdims=keepdims))
        return z.astype(np.int64) if a.dtype.kind in "iub" else z  # PyTorch: ints -> int64

    @staticmethod
    def backward(ctx: Context, g: Any) -> Any:
        xp = array_module_of(g)
        (a,) = ctx.saved
        g = _expand_back(g, a.shape, ctx.axes, ctx.keepdims)
        is_zero = a == 0
        zeros = is_zero.sum(axis=ctx.axes, keepdims=True)
        safe = xp.where(is_zero, xp.ones((), dtype=a.dtype), a)
        others_nonzero = safe.prod(axis=ctx.axes, keepdims=True)  # Π of the non-zero a_j
        no_zero = g * others_nonzero / safe
        at_the_zero = xp.where(is_zero & (zeros == 1), g * others_nonzero, 0).astype(g.dtype)
        return xp.where(zeros == 0, no_zero, at_the_zero)


def prod(a: Tensor, dim: int | None = None, keepdim: bool = False) -> Tensor:
    """Product over one `dim` (None = every element). Integer tensors give int64 (not
    differentiable). Backward: the product of the other elements, exact with zeros
    (``Prod``)."""
    check_tensor("prod", a)
    check_not_complex("prod", a)
    axes = None
    if dim is not None:
        d = normalize_dim(dim, a.ndim, "prod")
        axes = None if a.ndim == 0 else (d,)
    return Prod.apply(a, axes=axes, keepdims=bool(keepdim) and a.ndim > 0)


class CumSum(Function):
    """z_k = Σ_{j<=k} a_j along `dim`.

    Backward: a_j feeds every z_k with k >= j, so da_j = Σ_{k>=j} g_k: the cumulative sum of
    g taken from the end (flip, cumsum, flip).
    """

    @staticmethod
    def forward(ctx: Context, a: Any, dim: int = 0) -> Any:
        ctx.dim = dim
        if a.ndim == 0:
            z = a.copy()
        else:
            z = array_module_of(a).cumsum(a, axis=dim)
        return z.astype(np.int64) if a.dtype.kind in "iub" else z  # PyTorch: ints -> int64

    @staticmethod
    def backward(ctx: Context, g: Any) -> Any:
        if g.ndim == 0:
            return g.copy()
        xp = array_module_of(g)
        return xp.flip(xp.cumsum(xp.flip(g, ctx.dim), axis=ctx.dim), ctx.dim)


def cumsum(a: Tensor, dim: int) -> Tensor:
    """Cumulative sum along `dim` (required, as PyTorch). Integer tensors give int64.
    Backward: the reversed cumulative sum of g (``CumSum``)."""
    check_tensor("cumsum", a)
    check_not_complex("cumsum", a)
    return CumSum.apply(a, dim=normalize_dim(dim, a.ndim, "cumsum"))


class LogSumExp(Function):
    """z = log Σ_axes e^{a}, computed as m + log Σ e^{a - m} (m the max, a constant shift
    that cancels; ops.softmax.stable_shift), so no e^{a} overflows.

    Backward: dz/da_i = e^{a_i} / Σ_j e^{a_j} = e^{a_i - z}, the softmax over the reduced
    dims. Saves a and z. A reduced dim of size 0 gives -inf (the log of an empty sum).
    """

    @staticmethod
    def forward(
        ctx: Context, a: Any, axes: tuple[int, ...] | None = None, keepdims: bool = False
    ) -> Any:
        xp = array_module_of(a)
        dims = tuple(range(a.ndim)) if axes is None else axes
        m = stable_shift(a, dims)
        with np.errstate(divide="ignore"):  # log 0 = -inf: all -inf, or an empty dim
            z = xp.log(xp.exp(a - m).sum(axis=dims, keepdims=True)) + m
        ctx.save_for_backward(a, z)
        ctx.axes, ctx.keepdims = axes, keepdims
        return z if keepdims else xp.squeeze(z, axis=dims)

    @staticmethod
    def backward(ctx: Context, g: Any) -> Any:
        a, z = ctx.saved
        g = _expand_back(g, a.shape, ctx.axes, ctx.keepdims)
        with np.errstate(invalid="ignore"):  # -inf - -inf: nan, as PyTorch
            return g * array_module_of(a).exp(a - z)


def logsumexp(a: Tensor, dim: Any, keepdim: bool = False) -> Tensor:
    """log Σ e^{a} over `dim` (an int or a tuple; required, as PyTorch), computed stably.
    An integer tensor is computed in float32. Backward: g · softmax(a) over `dim`."""
    if dim is None:
        raise TypeError("logsumexp: dim is required (an int or a tuple of ints)")
    a, axes, keep = _prepare_reduction("logsumexp", a, dim, keepdim, None, None)
    (a,) = float_operands("logsumexp", a)
    return LogSumExp.apply(a, axes=axes, keepdims=keep)
