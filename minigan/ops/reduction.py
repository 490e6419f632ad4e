# Reductions over axes: sum, mean, max (with keepdims). Backward spreads the gradient
# back over the reduced axes.
from __future__ import annotations

from typing import Any

from ..autograd import Context, Function
from ..device import array_module_of
from ..tensor import Tensor
from ._util import normalize_axes


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
    """z = max_axes a.  dz/da = 1 at the maximum (split evenly between ties), 0 elsewhere."""

    @staticmethod
    def forward(
        ctx: Context, a: Any, axes: tuple[int, ...] | None = None, keepdims: bool = False
    ) -> Any:
        z = a.max(axis=axes, keepdims=True)
        ctx.save_for_backward(a, z)
        ctx.axes, ctx.keepdims = axes, keepdims
        if keepdims:
            return z
        return z.reshape(()) if axes is None else z.squeeze(axis=axes)

    @staticmethod
    def backward(ctx: Context, g: Any) -> Any:
        a, z = ctx.saved
        g = _expand_back(g, a.shape, ctx.axes, ctx.keepdims)
        hit = a == z
        count = hit.sum(axis=ctx.axes, keepdims=True).astype(g.dtype)  # int count would upcast g
        return g * hit / count


def _prod(values: Any) -> int:
    out = 1
    for v in values:
        out *= int(v)
    return out


def _reduce(fn: type[Function], name: str, a: Tensor, axis: Any, keepdims: bool) -> Tensor:
    axes = normalize_axes(axis, a.ndim, name)
    if axes is not None and len(axes) == a.ndim:
        axes = None if not keepdims else axes
    if name == "max" and a.size == 0:
        raise ValueError("max: cannot reduce an empty tensor")
    return fn.apply(a, axes=axes, keepdims=keepdims)


def sum(a: Tensor, axis: Any = None, keepdims: bool = False) -> Tensor:  # noqa: A001
    """Sum over `axis` (None = all axes)."""
    return _reduce(Sum, "sum", a, axis, keepdims)


def mean(a: Tensor, axis: Any = None, keepdims: bool = False) -> Tensor:
    """Mean over `axis` (None = all axes)."""
    return _reduce(Mean, "mean", a, axis, keepdims)


def max(a: Tensor, axis: Any = None, keepdims: bool = False) -> Tensor:  # noqa: A001
    """Maximum over `axis` (None = all axes)."""
    return _reduce(Max, "max", a, axis, keepdims)
