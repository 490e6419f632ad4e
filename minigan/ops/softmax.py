# The softmax family along one dim: softmax and log_softmax (each one Function with a
# fused backward, shifted by the max along the dim), the max shift of logsumexp
# (ops/reduction.py, `stable_shift`), and
# NLLPick, the per-element negative log-likelihood that nn.functional.nll_loss and
# cross_entropy reduce.
from __future__ import annotations

from typing import Any

import numpy as np

from ..autograd import Context, Function
from ..device import array_module_of
from ..tensor import Tensor
from ._util import check_tensor, float_operands, normalize_dim


def _max_kept(a: Any, axes: tuple[int, ...]) -> Any:
    """The max of `a` over `axes` with the reduced dims kept (size 1); 0 where a reduced
    dim is empty (there is no max, and nothing to shift)."""
    xp = array_module_of(a)
    if any(a.shape[i] == 0 for i in axes):
        return xp.zeros(tuple(1 if i in axes else n for i, n in enumerate(a.shape)), a.dtype)
    return a.max(axis=axes, keepdims=True)


def stable_shift(a: Any, axes: tuple[int, ...]) -> Any:
    """logsumexp's shift: m = max of `a` over `axes` (keepdims), with 0 where that max is
    not finite (PyTorch's logsumexp does the same).

    Subtracting m before exp keeps every exponent <= 0 (no overflow) and cancels exactly
    in log Σ e^a = m + log Σ e^(a - m). Where the max is ±inf or nan (a row of -inf, a
    +inf, a nan), or a reduced dim is empty, the shift is 0 so the result is the IEEE
    answer (log Σ e^-inf = -inf, an inf stays inf) instead of inf - inf = nan.
    softmax and log_softmax shift by the plain max (`_max_kept`) instead, as PyTorch:
    there a +inf gives NaN for the whole row (inf - inf), softmax([inf, 0]) = [nan, nan].
    """
    xp = array_module_of(a)
    m = _max_kept(a, axes)
    return xp.where(xp.isfinite(m), m, xp.zeros((), dtype=a.dtype))


class Softmax(Function):
    """y_i = e^{x_i - m} / Σ_j e^{x_j - m} along `dim` (m = max_j x_j, which cancels).

    Non-finite rows as PyTorch: a +inf, a NaN or a row of -inf gives NaN for the whole row
    (x - m is inf - inf or NaN somewhere in the row, and so is the sum).

    Backward (the Jacobian dy_i/dx_k = y_i (δ_ik - y_k), applied to g without forming it):
        dx_k = Σ_i g_i y_i (δ_ik - y_k) = y_k (g_k - Σ_i g_i y_i).
    Saves y only.
    """

    @staticmethod
    def forward(ctx: Context, x: Any, dim: int = -1) -> Any:
        xp = array_module_of(x)
        x1 = x.reshape(1) if x.ndim == 0 else x  # a 0-d tensor is one row of one element
        with np.errstate(invalid="ignore"):  # inf - inf, 0/0: nan, as PyTorch
            e = xp.exp(x1 - _max_kept(x1, (dim,)))
            y = e / e.sum(axis=dim, keepdims=True)
        ctx.save_for_backward(y)
        ctx.dim, ctx.shape = dim, x.shape
        return y.reshape(x.shape)

    @staticmethod
    def backward(ctx: Context, g: Any) -> Any:
        (y,) = ctx.saved
        g = g.reshape(y.shape)
        dx = y * (g - (g * y).sum(axis=ctx.dim, keepdims=True))
        return dx.reshape(ctx.shape)


class LogSoftmax(Function):
    """z_i = x_i - m - log Σ_j e^{x_j - m} along `dim` (m = max_j x_j; stable for any x).
    A +inf, a NaN or a row of -inf gives NaN for the whole row, as PyTorch.

    Backward (dz_i/dx_k = δ_ik - softmax_k, softmax = e^z):
        dx_k = Σ_i g_i (δ_ik - e^{z_k}) = g_k - e^{z_k} Σ_i g_i.
    Saves z only.
    """

    @staticmethod
    def forward(ctx: Context, x: Any, dim: int = -1) -> Any:
        xp = array_module_of(x)
        x1 = x.reshape(1) if x.ndim == 0 else x
        with np.errstate(divide="ignore", invalid="ignore"):  # inf - inf: nan, as PyTorch
            shifted = x1 - _max_kept(x1, (dim,))
            z = shifted - xp.log(xp.exp(shifted).sum(axis=dim, keepdims=True))
        ctx.save_for_backward(z)
        ctx.dim, ctx.shape = dim, x.shape
        return z.reshape(x.shape)

    @staticmethod
    def backward(ctx: Context, g: Any) -> Any:
        (z,) = ctx.saved
        g = g.reshape(z.shape)
        dx = g - array_module_of(z).exp(z) * g.sum(axis=ctx.dim, keepdims=True)
        return dx.reshape(ctx.shape)


def _softmax_input(op: str, input: Tensor, dim: Any, dtype: Any) -> tuple[Tensor, int]:
    check_tensor(op, input, None)
    if dim is None:
        raise TypeError(
            f"{op}: dim is required (PyTorch's implicit choice of dim is deprecated); "
            f"e.g. {op}(x, dim=-1) for the last dim of a tensor of shape {input.shape}"
        )
    d = normalize_dim(dim, input.ndim, op)
    if dtype is not None:
        dtype = np.dtype(dtype)
        if dtype.kind != "f":
            raise TypeError(f"{op}: dtype must be a floating dtype, got {dtype}")
        input = input.to(dtype=dtype)
    (input,) = float_operands(op, input)
    return input, d


def softmax(input: Tensor, dim: int, dtype: Any = None) -> Tensor:  # noqa: A002
    """softmax(x)_i = e^{x_i} / Σ_j e^{x_j} along `dim`, computed stably (max shift).

    An integer tensor is computed in float32; `dtype` casts the input first (PyTorch's
    argument). `dim` is required: PyTorch's implicit dim (dim=None) is deprecated there.
    Backward: dx = y·(g - Σ_dim g·y) (see ``Softmax``).
    """
    input, d = _softmax_input("softmax", input, dim, dtype)
    return Softmax.apply(input, dim=d)


def log_softmax(input: Tensor, dim: int, dtype: Any = None) -> Tensor:  # noqa: A002
    """log_softmax(x)_i = x_i - log Σ_j e^{x_j} along `dim`, computed stably (max shift).

    More accurate than log(softmax(x)) (no log of an underflowed 0). Backward:
    dx = g - softmax(x)·Σ_dim g (see ``LogSoftmax``).
    """
    input, d = _softmax_input("log_softmax", input, dim, dtype)
    return LogSoftmax.apply(input, dim=d)


class NLLPick(Function):
    """The per-element negative log-likelihood of class-index targets, class dim 1:

        z[n, r] = -w[n, r] · x[n, t[n, r], r]   where valid[n, r], else 0

    (r the trailing dims, w the weight of each element's target class). Backward: only the
    picked entry of each element depends on x,
        dx[n, c, r] = -w[n, r] · g[n, r]   if c = t[n, r] and valid[n, r], else 0.
    `index` holds a safe class (0) where an element is not valid (ignore_index), and the
    invalid elements are set to 0 without a product, so a -inf at an ignored position
    cannot turn into 0·inf = nan. Saves the index, weights and mask, not x.
    """

    @staticmethod
    def forward(
        ctx: Context, x: Any, index: Any = None, weight: Any = None, valid: Any = None
    ) -> Any:
        xp = array_module_of(x)
        picked = xp.take_along_axis(x, xp.expand_dims(index, 1), axis=1).squeeze(1)
        ctx.shape, ctx.index, ctx.weight, ctx.valid = x.shape, index, weight, valid
        with np.errstate(invalid="ignore"):  # 0 · -inf at an ignored element: discarded
            return xp.where(valid, -weight * picked, xp.zeros((), dtype=x.dtype))

    @staticmethod
    def backward(ctx: Context, g: Any) -> Any:
        xp = array_module_of(g)
        classes = xp.arange(ctx.shape[1]).reshape((1, -1) + (1,) * (len(ctx.shape) - 2))
        hit = (classes == xp.expand_dims(ctx.index, 1)) & xp.expand_dims(ctx.valid, 1)
        per_element = xp.expand_dims(-ctx.weight * g, 1)
        return xp.where(hit, per_element, xp.zeros((), dtype=g.dtype))


def nll_pick(input: Tensor, index: Any, weight: Any, valid: Any) -> Tensor:  # noqa: A002
    """-weight · input[n, index[n, ...], ...] per element (0 where not `valid`); see
    ``NLLPick``. The arrays (index int, weight of input's dtype, valid bool, each of
    shape (N, ...)) must already be checked: nn.functional.nll_loss does that."""
    return NLLPick.apply(input, index=index, weight=weight, valid=valid)
