# minigan/nn/functional.py: losses (BCE on logits and on probabilities, MSE, Gaussian KL)
# and dropout, written as compositions of minigan ops: autograd derives their backward,
# none has a backward of its own (except the fused BCE-with-logits op they call).
from __future__ import annotations

import math
from typing import Any

import numpy as np

from .. import ops
from ..random import generator
from ..tensor import Tensor

REDUCTIONS = ("mean", "sum", "none")


def _check_reduction(fn: str, reduction: str) -> None:
    if reduction not in REDUCTIONS:
        raise ValueError(f"{fn}: reduction must be one of {REDUCTIONS}, got {reduction!r}")


def _target_like(fn: str, pred: Tensor, target: Any, names: tuple[str, str]) -> Tensor:
    """`target` as a tensor with pred's dtype/device, required to have pred's exact shape."""
    if not isinstance(pred, Tensor):
        raise TypeError(f"{fn}: {names[0]} must be a Tensor, got {type(pred).__name__}")
    if not isinstance(target, Tensor):
        target = Tensor(target, dtype=pred.dtype, device=pred.device)
    elif target.dtype != pred.dtype:
        target = target.to(dtype=pred.dtype)
    if target.shape != pred.shape:
        raise ValueError(
            f"{fn}: {names[0]} shape {pred.shape} and {names[1]} shape {target.shape} must be "
            "equal (no broadcasting)"
        )
    return target


def _reduce(loss: Tensor, reduction: str) -> Tensor:
    if reduction == "mean":
        return ops.mean(loss)
    if reduction == "sum":
        return ops.sum(loss)
    return loss


def bce_with_logits(logits: Tensor, targets: Any, reduction: str = "mean") -> Tensor:
    """Binary cross-entropy of σ(logits) against targets, computed stably from the logits.

    l = max(x, 0) - x·t + log(1 + e^{-|x|}) = -(t·log σ(x) + (1-t)·log(1-σ(x))).
    "mean"/"sum" run the fused one-pass kernel (``ops.binary_cross_entropy_with_logits``);
    "none" returns the per-element losses (softplus(x) - x·t).
    """
    _check_reduction("bce_with_logits", reduction)
    targets = _target_like("bce_with_logits", logits, targets, ("logits", "targets"))
    if reduction == "none":
        return ops.softplus(logits) - logits * targets
    return ops.binary_cross_entropy_with_logits(logits, targets, reduction=reduction)


def _clamped_log(p: Tensor) -> Tensor:
    """max(log p, -100) (PyTorch's BCE clamp) with a finite value and gradient at p = 0.

    Where p <= e^-100 the result is the constant -100 (gradient 0); elsewhere log p. The
    log is taken of max(p, e^-100) so that no -inf (and no 0·inf = nan) ever appears.
    """
    floor = math.exp(-100.0)
    keep = Tensor(p.data > floor, dtype=p.dtype, device=p.device)
    log_p = ops.log(ops.maximum(p, floor))
    return log_p * keep + (keep - 1.0) * 100.0


def bce(probs: Tensor, targets: Any, reduction: str = "mean") -> Tensor:
    """Binary cross-entropy on probabilities p in [0, 1]:

    l = -(t·max(log p, -100) + (1 - t)·max(log(1 - p), -100)),
    clamping the logs at -100 like PyTorch so p = 0 or 1 give finite losses. Prefer
    ``bce_with_logits`` when the logits are available (more accurate, one fused kernel).
    """
    _check_reduction("bce", reduction)
    targets = _target_like("bce", probs, targets, ("probs", "targets"))
    loss = -(targets * _clamped_log(probs) + (1.0 - targets) * _clamped_log(1.0 - probs))
    return _reduce(loss, reduction)


def mse(pred: Tensor, target: Any, reduction: str = "mean") -> Tensor:
    """Mean squared error: l = (pred - target)², reduced by mean, sum or none."""
    _check_reduction("mse", reduction)
    target = _target_like("mse", pred, target, ("pred", "target"))
    diff = pred - target
    return _reduce(diff * diff, reduction)


def gaussian_kl(mu: Tensor, logvar: Tensor, reduction: str = "sum") -> Tensor:
    """KL(N(mu, e^logvar) ‖ N(0, 1)) of a diagonal Gaussian (the VAE's regulariser).

    Per sample n: KL_n = -0.5 · Σ_j (1 + logvar_nj - mu_nj² - e^{logvar_nj}), summing over
    every axis but the batch axis 0. "sum": Σ_n KL_n; "mean": mean over the batch of
    KL_n; "none": the vector (KL_n).
    """
    _check_reduction("gaussian_kl", reduction)
    logvar = _target_like("gaussian_kl", mu, logvar, ("mu", "logvar"))
    if mu.ndim < 1:
        raise ValueError(f"gaussian_kl: mu must have a batch axis, got shape {mu.shape}")
    terms = 1.0 + logvar - mu * mu - ops.exp(logvar)
    if reduction == "sum":
        return -0.5 * ops.sum(terms)
    if mu.ndim > 1:
        terms = ops.sum(terms, axis=tuple(range(1, mu.ndim)))
    per_sample = -0.5 * terms
    return ops.mean(per_sample) if reduction == "mean" else per_sample


def check_dropout_p(p: float) -> None:
    if not 0.0 <= float(p) < 1.0:
        raise ValueError(f"dropout: p must be in [0, 1), got {p}")


def dropout(x: Tensor, p: float = 0.5, training: bool = True) -> Tensor:
    """Inverted dropout: y = x·m/(1-p), m_i ~ Bernoulli(1-p), so E[y] = x.

    Identity when not training or p = 0. The mask is drawn from minigan's global
    generator for x's device (reproducible with ``manual_seed``); the gradient is
    dy/dx = m/(1-p), derived by autograd from the multiplication.
    """
    check_dropout_p(p)
    if not training or p == 0:
        return x
    u = generator(x.device).random(x.shape, dtype=np.dtype(x.dtype).type)
    mask = (u >= p) * (1.0 / (1.0 - p))
    return x * Tensor(mask, dtype=x.dtype, device=x.device)
