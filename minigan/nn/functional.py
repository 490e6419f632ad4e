# minigan/nn/functional.py: losses (BCE on logits and on probabilities, MSE, L1, Gaussian KL,
# nll_loss and cross_entropy over ops.log_softmax and ops.softmax.NLLPick),
# dropout and embedding, written as compositions of minigan ops: autograd derives their backward.
# Two have a backward of their own: the fused BCE-with-logits op they call, and the
# per-element BCE on probabilities (`BinaryCrossEntropy`, PyTorch's clamped gradient).
# dropout2d and interpolate (nearest) likewise; pooling and convolution are ops of their
# own (minigan.ops), re-exported here under torch.nn.functional's names.
from __future__ import annotations

import math
import warnings
from typing import Any

import numpy as np

from .. import ops
from ..autograd import Context, Function
from ..device import array_module_of
from ..ops._util import check_same_device, check_tensor
from ..ops.softmax import nll_pick
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


def binary_cross_entropy_with_logits(
    input: Tensor,  # noqa: A002 - PyTorch's argument name
    target: Any,
    weight: Any = None,
    reduction: str = "mean",
    pos_weight: Any = None,
) -> Tensor:
    """Binary cross-entropy of σ(input) against target, computed stably from the logits x.

    l = max(x, 0) - x·t + log(1 + e^{-|x|}) = softplus(x) - x·t
      = -(t·log σ(x) + (1-t)·log(1-σ(x))),
    times `weight` (broadcast to x's shape) if given; with `pos_weight` (per class, the
    last dim) the positive term is weighted: l = (1-t)·x + (1 + (pw-1)·t)·softplus(-x).
    Gradients: dl/dx = σ(x) - t (with pos_weight: σ(x)·(1 + (pw-1)·t) - pw·t) and, for a
    target that requires grad (as PyTorch), dl/dt = -x (with pos_weight:
    -x + (pw-1)·softplus(-x)), each times the weight. Without weights, "mean"/"sum" run the
    fused one-pass kernel (``ops.binary_cross_entropy_with_logits``); otherwise the
    per-element loss is composed of ops and reduced.
    """
    fn = "binary_cross_entropy_with_logits"
    _check_reduction(fn, reduction)
    target = _target_like(fn, input, target, ("input", "target"))
    if weight is None and pos_weight is None and reduction != "none":
        return ops.binary_cross_entropy_with_logits(input, target, reduction=reduction)
    if pos_weight is None:
        loss = ops.softplus(input) - input * target
    else:
        sp_neg = ops.softplus(-input)
        loss = (1.0 - target) * input + (1.0 + (pos_weight - 1.0) * target) * sp_neg
    if weight is not None:
        loss = loss * weight
    return _reduce(loss, reduction)


BCE_LOG_FLOOR = -100.0  # PyTorch's clamp of the logs in binary_cross_entropy
# PyTorch's floor of p(1 - p) in binary_cross_entropy's gradient: 1e-12 as a float32
# constant (9.99999996e-13), so float64 gradients at p = 0 or 1 match PyTorch's bit for bit
BCE_EPS = float(np.float32(1e-12))


def _clamped_log(xp: Any, p: Any) -> Any:
    """max(log p, -100) on an array, with no -inf and no warning at p = 0."""
    with np.errstate(divide="ignore"):
        return xp.maximum(xp.log(p), BCE_LOG_FLOOR)


class BinaryCrossEntropy(Function):
    """The per-element binary cross-entropy of probabilities p against targets t,
    PyTorch's binary_cross_entropy (reduction "none", no weight):

        l = -(t·max(log p, -100) + (1 - t)·max(log(1 - p), -100)).

    Backward, PyTorch's formulas:
        dl/dp = g·(p - t) / max(p(1 - p), 1e-12)
    (the exact derivative -t/p + (1 - t)/(1 - p) written over one denominator, floored so
    that p = 0 or 1 gives a large finite gradient, not 0 and not inf);
        dl/dt = g·(max(log(1 - p), -100) - max(log p, -100)),
    the derivative of the forward as computed, clamped logs included (PyTorch uses the
    unclamped -logit(p) = log(1 - p) - log p, ±inf at p = 0 or 1: a documented difference,
    docs/pytorch-ops.md). Saves p and t (backward recomputes the logs).
    """

    @staticmethod
    def forward(ctx: Context, p: Any, t: Any) -> Any:
        xp = array_module_of(p)
        ctx.save_for_backward(p, t)
        log_p, log_q = _clamped_log(xp, p), _clamped_log(xp, 1 - p)
        return xp.asarray(-(t * log_p + (1 - t) * log_q), dtype=p.dtype)

    @staticmethod
    def backward(ctx: Context, g: Any) -> tuple:
        p, t = ctx.saved
        xp = array_module_of(p)
        dp = dt = None
        if ctx.needs_input_grad[0]:
            dp = g * (p - t) / xp.maximum(p * (1 - p), BCE_EPS)
        if ctx.needs_input_grad[1]:
            dt = g * (_clamped_log(xp, 1 - p) - _clamped_log(xp, p))
        return dp, dt


def binary_cross_entropy(
    input: Tensor,  # noqa: A002 - PyTorch's argument name
    target: Any,
    weight: Any = None,
    reduction: str = "mean",
) -> Tensor:
    """Binary cross-entropy on probabilities p = input in [0, 1]:

    l = -w·(t·max(log p, -100) + (1 - t)·max(log(1 - p), -100)),
    clamping the logs at -100 like PyTorch so p = 0 or 1 give finite losses (w = `weight`,
    broadcast, default 1). Gradients (``BinaryCrossEntropy``, PyTorch's formulas):
    dl/dp = w·(p - t)/max(p(1 - p), 1e-12) and, for a target that requires grad (as
    PyTorch), dl/dt = w·(max(log(1 - p), -100) - max(log p, -100)) (PyTorch: unclamped).
    A p outside [0, 1] (or nan) raises ValueError, as PyTorch raises. Prefer
    ``binary_cross_entropy_with_logits`` when the logits are available (more accurate,
    one fused kernel).
    """
    fn = "binary_cross_entropy"
    _check_reduction(fn, reduction)
    target = _target_like(fn, input, target, ("input", "target"))
    p = input.data
    if p.size and not bool(((p >= 0) & (p <= 1)).all()):
        bad = p[~((p >= 0) & (p <= 1))].ravel()[:3]
        raise ValueError(
            f"{fn}: every element of input must be a probability in [0, 1], got "
            f"{[float(v) for v in bad]} (pass logits to binary_cross_entropy_with_logits)"
        )
    loss = BinaryCrossEntropy.apply(input, target)
    if weight is not None:
        loss = loss * weight
    return _reduce(loss, reduction)


def mse_loss(input: Tensor, target: Any, reduction: str = "mean") -> Tensor:  # noqa: A002
    """Mean squared error: l = (input - target)², reduced by mean, sum or none.

    Backward (by autograd): dl/dinput = 2 (input - target), dl/dtarget = -2 (input - target)
    (a target that requires grad gets its gradient, as PyTorch). The shapes must be equal:
    PyTorch broadcasts with a warning, minigan refuses (a silent broadcast of a (N,) target
    against (N, 1) predictions is a classic bug).
    """
    _check_reduction("mse_loss", reduction)
    target = _target_like("mse_loss", input, target, ("input", "target"))
    diff = input - target
    return _reduce(diff * diff, reduction)


def l1_loss(input: Tensor, target: Any, reduction: str = "mean") -> Tensor:  # noqa: A002
    """Mean absolute error: l = |input - target|, reduced by mean, sum or none.

    Backward (by autograd): dl/dinput = sign(input - target), 0 where they are equal
    (PyTorch's convention at the kink), and the negative for the target. Shapes must be
    equal (as in ``mse_loss``).
    """
    _check_reduction("l1_loss", reduction)
    target = _target_like("l1_loss", input, target, ("input", "target"))
    return _reduce(ops.abs(input - target), reduction)


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


def check_dropout_p(p: float, fn: str = "dropout") -> None:
    if not 0.0 <= float(p) < 1.0:
        raise ValueError(f"{fn}: p must be in [0, 1), got {p}")


def dropout(x: Tensor, p: float = 0.5, training: bool = True) -> Tensor:
    """Inverted dropout: y = x·m/(1-p), m_i ~ Bernoulli(1-p), so E[y] = x.

    Identity when not training or p = 0. The mask is drawn from minigan's global
    generator for x's device (reproducible with ``manual_seed``); the gradient is
    dy/dx = m/(1-p), derived by autograd from the multiplication.
    """
    check_dropout_p(p)
    check_tensor("dropout", x)
    if not training or p == 0:
        return x
    if x.dtype.kind != "f":
        raise TypeError(
            f"dropout: expected a floating tensor, got dtype {x.dtype} (shape {x.shape}); "
            "convert it first, e.g. x.float() (PyTorch raises too)"
        )
    u = generator(x.device).random(x.shape, dtype=np.dtype(x.dtype).type)
    mask = (u >= p) * (1.0 / (1.0 - p))
    return x * Tensor(mask, dtype=x.dtype, device=x.device)


def dropout2d(input: Tensor, p: float = 0.5, training: bool = True) -> Tensor:
    """Channel dropout (torch.nn.functional.dropout2d): each channel map input[n, c] is
    zeroed as a whole with probability p and the kept ones are scaled by 1/(1-p):

        y[n, c, h, w] = x[n, c, h, w] · m[n, c] / (1-p),  m[n, c] ~ Bernoulli(1-p),

    so E[y] = x. Backward (autograd, from the product): dx = dy · m[n, c] / (1-p).

    Input (N, C, H, W). As in PyTorch, the mask covers the first two dims whatever the
    rank: a 3-d input is read as (N, C, L) (PyTorch's current reading, with its warning),
    other ranks >= 2 are accepted with a warning too. Identity when not training or p = 0.
    The mask (one draw per (n, c)) comes from minigan's global generator for the input's
    device, like ``dropout``'s: reproducible with ``manual_seed``.
    """
    check_dropout_p(p, "dropout2d")
    check_tensor("dropout2d", input)
    if input.ndim < 2:
        raise ValueError(
            f"dropout2d: expected input (N, C, H, W) (at least 2 dims), got shape {input.shape}"
        )
    if input.ndim == 3:
        warnings.warn(
            "dropout2d: received a 3-d input; as PyTorch does, it is read as (N, C, L) and "
            "each row input[n, c] is dropped as a whole (use a 4-d (N, C, H, W) input for "
            "channel dropout of images)",
            UserWarning,
            stacklevel=2,
        )
    elif input.ndim != 4:
        warnings.warn(
            f"dropout2d: received a {input.ndim}-d input, expected (N, C, H, W); dropping "
            "input[n, c] as a whole, as PyTorch does",
            UserWarning,
            stacklevel=2,
        )
    if not training or p == 0:
        return input
    draw = input.dtype if input.dtype.kind == "f" else np.dtype(np.float32)
    u = generator(input.device).random(input.shape[:2], dtype=draw.type)
    mask = (u >= p) * (1.0 / (1.0 - p))
    mask = mask.reshape(input.shape[:2] + (1,) * (input.ndim - 2))
    return input * Tensor(mask, dtype=draw, device=input.device)


def interpolate(
    input: Tensor,
    size: Any = None,
    scale_factor: Any = None,
    mode: str = "nearest",
    align_corners: bool | None = None,
    recompute_scale_factor: bool | None = None,
    antialias: bool = False,
) -> Tensor:
    """Resize input (N, C, L), (N, C, H, W) or (N, C, D, H, W) over its spatial dims
    (torch.nn.functional.interpolate); only mode="nearest" is implemented.

    Nearest: y[…, o] = x[…, min(⌊o · in/out⌋, in - 1)] per spatial dim (⌊o / scale_factor⌋
    when a scale factor is given and not recomputed), the same pixels PyTorch picks.
    Backward: each source pixel receives the sum of the gradients of its copies (the op
    ``ops.upsample_nearest`` has that backward of its own). Give exactly one of size and
    scale_factor; recompute_scale_factor=True turns a scale factor into the output size
    ⌊in · scale_factor⌋ and then uses in/out, as PyTorch.
    """
    if mode != "nearest":
        raise NotImplementedError(
            f"interpolate: mode={mode!r} is not implemented; minigan has only mode='nearest'"
        )
    if align_corners is not None:
        raise ValueError(
            "interpolate: align_corners can only be set with the interpolating modes "
            f"(linear, bilinear, bicubic, trilinear), not mode={mode!r}"
        )
    if antialias:
        raise ValueError(
            f"interpolate: antialias is only for the bilinear and bicubic modes, not mode={mode!r}"
        )
    if recompute_scale_factor and size is not None:
        raise ValueError("interpolate: recompute_scale_factor is not meaningful with a size")
    return ops.upsample_nearest(
        input,
        size=size,
        scale_factor=scale_factor,
        recompute_scale_factor=bool(recompute_scale_factor),
    )


# Pooling and convolution are ops with backward passes of their own (minigan.ops); they are
# also here under torch.nn.functional's names.
# torch.nn.functional's names for ops of minigan.ops (the same functions)
max_pool2d = ops.max_pool2d
avg_pool2d = ops.avg_pool2d
conv2d = ops.conv2d
conv_transpose2d = ops.conv_transpose2d
relu = ops.relu
leaky_relu = ops.leaky_relu
tanh = ops.tanh
sigmoid = ops.sigmoid
softplus = ops.softplus
gelu = ops.gelu
silu = ops.silu
elu = ops.elu
logsigmoid = ops.logsigmoid
hardtanh = ops.hardtanh
softmax = ops.softmax
log_softmax = ops.log_softmax


def embedding(input: Tensor, weight: Tensor, padding_idx: int | None = None) -> Tensor:
    """Rows of `weight` picked by integer indices (torch.nn.functional.embedding):

    out[p, :] = weight[input[p], :] for every position p of `input`; the result has shape
    input.shape + (embedding_dim,). It is ``ops.getitem(weight, input)``, whose backward is
    the scatter-add dweight[r, :] = Σ_{p : input[p] = r} g[p, :] (a row used k times gets
    the sum of k gradients, unused rows get 0). The row `padding_idx` (negative counts from
    the end) gets no gradient: its positions in the result are overwritten
    (``ops.setitem``) with a detached copy of the same row, which keeps the forward values
    and sends a zero gradient to that row.
    """
    if not isinstance(weight, Tensor) or weight.ndim != 2:
        shape = weight.shape if isinstance(weight, Tensor) else type(weight).__name__
        raise ValueError(f"embedding: weight must be a 2-d tensor (num, dim), got {shape}")
    if not isinstance(input, Tensor):
        input = Tensor(np.asarray(input), device=weight.device)
    if input.dtype.kind not in "iu":
        raise TypeError(f"embedding: input must be an integer tensor of indices, got {input.dtype}")
    num = weight.shape[0]
    padding_idx = check_padding_idx("embedding", padding_idx, num)
    if input.size:
        low, high = int(input.data.min()), int(input.data.max())
        if low < 0 or high >= num:
            raise IndexError(
                f"embedding: index {low if low < 0 else high} is out of range for a weight "
                f"of {num} rows (valid: 0..{num - 1})"
            )
    out = ops.getitem(weight, input)
    if padding_idx is not None and out.requires_grad:
        at_padding = input.data == padding_idx
        if bool(at_padding.any()):
            row = ops.getitem(weight.detach(), padding_idx)
            ops.setitem(out, Tensor(at_padding, device=weight.device), row)
    return out


def check_padding_idx(fn: str, padding_idx: Any, num: int) -> int | None:
    """An embedding's padding_idx as a row number 0..num-1 (negative counts from the end),
    or None; a non-int or a row outside -num..num-1 raises naming `fn` (F.embedding and
    nn.Embedding both check with this)."""
    if padding_idx is None:
        return None
    if isinstance(padding_idx, bool) or not isinstance(padding_idx, int | np.integer):
        raise TypeError(f"{fn}: padding_idx must be an int or None, got {padding_idx!r}")
    if not -num <= padding_idx < num:
        raise ValueError(f"{fn}: padding_idx {padding_idx} must be within -{num}..{num - 1}")
    return int(padding_idx) % num


# ----- classification losses: nll_loss, cross_entropy ----------------------------------
# Both take input (N, C, d1, ...) with the classes on dim 1 (or one sample (C,)), and
# either class-index targets (N, d1, ...) or, for cross_entropy, class probabilities of the
# input's shape. The per-element pick of the target class is ops.softmax.NLLPick (a gather
# with a scatter backward); the rest is composition, so autograd derives the backward.


def _classes_input(fn: str, input: Any) -> Tensor:
    if not isinstance(input, Tensor):
        raise TypeError(f"{fn}: input must be a Tensor, got {type(input).__name__}")
    if input.ndim == 0:
        raise ValueError(f"{fn}: input must be (N, C, ...) or (C,), got a 0-d tensor")
    if input.dtype.kind != "f":
        raise TypeError(f"{fn}: input must be a floating tensor, got dtype {input.dtype}")
    return input


def _as_target(fn: str, target: Any, input: Tensor) -> Tensor:
    """`target` as a Tensor on input's device (Python lists / NumPy arrays are converted)."""
    if isinstance(target, Tensor):
        check_same_device(fn, input, target)
        return target
    return Tensor(np.asarray(target), device=input.device)


def _class_weight(fn: str, weight: Any, input: Tensor, num_classes: int) -> Any:
    """The per-class weight as an array of input's dtype (None stays None)."""
    if weight is None:
        return None
    if isinstance(weight, Tensor):
        if weight.requires_grad:
            raise ValueError(
                f"{fn}: weight requires grad, but the loss does not differentiate it (as "
                "PyTorch); pass weight.detach()"
            )
        check_same_device(fn, input, weight)
        data = weight.data
    else:
        data = Tensor(np.asarray(weight), device=input.device).data
    if data.ndim != 1 or data.shape[0] != num_classes or data.dtype.kind not in "iuf":
        raise ValueError(
            f"{fn}: weight must be a 1-d tensor of {num_classes} class weights (the input's "
            f"dim 1), got shape {tuple(data.shape)} of dtype {data.dtype}"
        )
    return data.astype(input.dtype)


def _index_targets(
    fn: str, input: Tensor, target: Tensor, weight: Any, ignore_index: int
) -> tuple[Any, Any, Any]:
    """Check class-index targets for a batched input (N, C, ...); returns (index, w, valid):
    the target with 0 at ignored elements, each element's weight (0 where ignored) and the
    mask of elements that count."""
    num_classes = input.shape[1]
    expected = input.shape[:1] + input.shape[2:]
    if target.dtype.kind not in "iu":
        raise TypeError(
            f"{fn}: class-index target must be an integer tensor, got dtype {target.dtype}"
        )
    if target.shape != expected:
        raise ValueError(
            f"{fn}: for input of shape {input.shape} (classes on dim 1) the class-index "
            f"target must have shape {expected}, got {target.shape}"
        )
    xp = array_module_of(input.data)
    t = target.data.astype(np.int64)
    valid = t != ignore_index
    if valid.any():
        counted = t[valid]
        low, high = int(counted.min()), int(counted.max())
        if low < 0 or high >= num_classes:
            bad = low if low < 0 else high
            raise IndexError(
                f"{fn}: target {bad} is out of bounds for {num_classes} classes (valid: "
                f"0..{num_classes - 1}, or ignore_index={ignore_index})"
            )
    index = xp.where(valid, t, 0)
    if weight is None:
        w = valid.astype(input.dtype)
    else:
        w = xp.where(valid, weight[index], xp.zeros((), dtype=input.dtype))
    return index, w, valid


def _weighted_mean(total: Tensor, denominator: float) -> Tensor:
    """total / denominator; 0/0 (every element ignored, or no element) is nan with a zero
    gradient, as PyTorch."""
    if denominator == 0:
        return total * 0.0 + math.nan
    return total / denominator


def _check_ignore_index(fn: str, ignore_index: Any) -> int:
    if isinstance(ignore_index, bool) or not isinstance(ignore_index, int | np.integer):
        raise TypeError(f"{fn}: ignore_index must be an int, got {ignore_index!r}")
    return int(ignore_index)


def nll_loss(
    input: Tensor,  # noqa: A002 - PyTorch's name
    target: Any,
    weight: Any = None,
    ignore_index: int = -100,
    reduction: str = "mean",
) -> Tensor:
    """Negative log-likelihood of class-index targets, given log-probabilities:

        l[n, r] = -w[t] · input[n, t, r],  t = target[n, r]   (0 where t = ignore_index)

    for input (N, C, d1, ...) and target (N, d1, ...) (or input (C,) and a 0-d target);
    w the class weights (1 without `weight`). "mean" divides the sum by Σ w[t] over the
    counted elements (PyTorch's weighted mean; nan if none counts), "sum" sums, "none"
    returns l. Backward: dl/dinput[n, c, r] = -w[t] where c = t, 0 elsewhere.
    Errors: a float or bool target, a target shape that does not match, a target outside
    0..C-1 (other than ignore_index) raise, naming the value.
    """
    _check_reduction("nll_loss", reduction)
    ignore_index = _check_ignore_index("nll_loss", ignore_index)
    input = _classes_input("nll_loss", input)
    target = _as_target("nll_loss", target, input)
    unbatched = input.ndim == 1
    if unbatched:
        input = ops.reshape(input, (1,) + input.shape)
        target = Tensor._from_op(target.data.reshape((1,) + target.shape), False)
    w_class = _class_weight("nll_loss", weight, input, input.shape[1])
    index, w, valid = _index_targets("nll_loss", input, target, w_class, ignore_index)
    loss = nll_pick(input, index, w, valid)
    if reduction == "none":
        return ops.reshape(loss, ()) if unbatched else loss
    if reduction == "sum":
        return ops.sum(loss)
    return _weighted_mean(ops.sum(loss), float(w.sum()))


def cross_entropy(
    input: Tensor,  # noqa: A002 - PyTorch's name
    target: Any,
    weight: Any = None,
    ignore_index: int = -100,
    reduction: str = "mean",
    label_smoothing: float = 0.0,
) -> Tensor:
    """Softmax cross-entropy of logits `input` (N, C, d1, ...) (or one sample (C,)):
    ``nll_loss(log_softmax(input, dim=1), target, ...)`` (the class dim is 0 for (C,)).

    Targets are either class indices (an integer tensor (N, d1, ...)), with
        l[n] = -w[t_n] log p[n, t_n],   p = softmax(input) over the classes,
    and "mean" = Σ l / Σ w[t_n] over the counted elements (ignore_index skips elements), or
    class probabilities (a float tensor of input's shape), with
        l[n] = -Σ_c w_c t[n, c] log p[n, c],
    and "mean" = Σ l / (number of elements l[n]) (no ignore_index then). With label
    smoothing ε, the target becomes (1 - ε)·target + ε/C (uniform): for class indices
    l[n] = (1 - ε)·l_nll[n] + (ε/C)·(-Σ_c w_c log p[n, c]), PyTorch's formula.

    Backward (by autograd through LogSoftmax and NLLPick): for class indices without
    weights, dl/dinput[n, c] = p[n, c] - [c = t_n]; for probabilities,
    dl/dinput[n, c] = p[n, c]·Σ_k w_k t[n, k] - w_c t[n, c], and the target, if it
    requires grad, gets dl/dt[n, c] = -w_c log p[n, c] (as PyTorch).

    Implemented as log_softmax (one fused Function) + the target pick, rather than one
    fused softmax-cross-entropy Function: the two backward passes cost one more pass over
    the (N, C) logits, which is small next to the layer before it, and each piece is
    tested on its own.
    """
    fn = "cross_entropy"
    _check_reduction(fn, reduction)
    ignore_index = _check_ignore_index(fn, ignore_index)
    smoothing = float(label_smoothing)
    if not 0.0 <= smoothing <= 1.0:
        raise ValueError(f"{fn}: label_smoothing must be in [0, 1], got {label_smoothing!r}")
    input = _classes_input(fn, input)
    target = _as_target(fn, target, input)
    class_dim = 0 if input.ndim == 1 else 1
    num_classes = input.shape[class_dim]
    w_class = _class_weight(fn, weight, input, num_classes)
    if target.dtype.kind == "f":
        return _cross_entropy_probs(input, target, w_class, ignore_index, reduction, smoothing)
    if target.dtype.kind not in "iu":
        raise TypeError(
            f"{fn}: target must be class indices (an integer tensor) or class probabilities "
            f"(a float tensor of the input's shape), got dtype {target.dtype}"
        )
    unbatched = input.ndim == 1
    if unbatched:
        input = ops.reshape(input, (1,) + input.shape)
        target = Tensor._from_op(target.data.reshape((1,) + target.shape), False)
    log_p = ops.log_softmax(input, 1)
    index, w, valid = _index_targets(fn, log_p, target, w_class, ignore_index)
    loss = nll_pick(log_p, index, w, valid)
    if smoothing > 0:
        if w_class is not None:
            per_class = w_class.reshape((1, -1) + (1,) * (input.ndim - 2))
            log_p = log_p * Tensor._from_op(per_class, False)
        # -Σ_c w_c log p[n, c], and 0 at ignored elements (selected, not multiplied by 0,
        # so a -inf logit there gives 0, not nan, as PyTorch's masked_fill)
        counted = Tensor._from_op(valid, False)
        uniform = ops.where(counted, -ops.sum(log_p, 1), 0.0)
        loss = loss * (1.0 - smoothing) + uniform * (smoothing / num_classes)
    if reduction == "none":
        return ops.reshape(loss, ()) if unbatched else loss
    if reduction == "sum":
        return ops.sum(loss)
    return _weighted_mean(ops.sum(loss), float(w.sum()))


def _cross_entropy_probs(
    input: Tensor,  # noqa: A002
    target: Tensor,
    w_class: Any,
    ignore_index: int,
    reduction: str,
    smoothing: float,
) -> Tensor:
    """cross_entropy with class-probability targets (see ``cross_entropy``)."""
    fn = "cross_entropy"
    if target.shape != input.shape:
        raise ValueError(
            f"{fn}: class-probability target (a float tensor) must have the input's shape "
            f"{input.shape}, got {target.shape}; class indices must be an integer tensor"
        )
    if ignore_index >= 0:
        raise ValueError(
            f"{fn}: ignore_index={ignore_index} is not supported with class-probability "
            "targets (as PyTorch)"
        )
    if target.dtype != input.dtype:
        target = target.to(dtype=input.dtype)
    class_dim = 0 if input.ndim == 1 else 1
    num_classes = input.shape[class_dim]
    if smoothing > 0:
        target = target * (1.0 - smoothing) + smoothing / num_classes
    if w_class is not None:
        per_class = w_class.reshape((-1,) + (1,) * (input.ndim - 1 - class_dim))
        target = target * Tensor._from_op(per_class, False)
    loss = -ops.sum(ops.log_softmax(input, class_dim) * target, class_dim)
    if reduction == "none":
        return loss
    if reduction == "sum":
        return ops.sum(loss)
    return _weighted_mean(ops.sum(loss), float(loss.size))


# torch.nn.functional names of two ops that live in minigan.ops (shape.py).
pad = ops.pad
one_hot = ops.one_hot
