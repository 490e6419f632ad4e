# The fused kernel families as differentiable ops: linear_act, conv2d, conv_transpose2d,
# batch_norm and binary_cross_entropy_with_logits. Each forward/backward calls the kernel
# contract of the tensor's device (see minigan.backend; the math is in numpy_ref).
from __future__ import annotations

from typing import Any

from .. import backend
from ..autograd import Context, Function
from ..backend import activations
from ..backend.activations import ACTIVATIONS, Activation
from ..device import device_of
from ..tensor import Tensor
from ._util import check_float, check_same_device

__all__ = [
    "ACTIVATIONS",
    "Activation",
    "batch_norm",
    "binary_cross_entropy_with_logits",
    "conv2d",
    "conv_transpose2d",
    "linear_act",
    "lookup_activation",
]


def lookup_activation(op: str, act: str | Activation) -> Activation:
    """The registry entry of activation `act` (minigan.backend.activations), validated once:
    ValueError "<op>: unknown activation ..." for an unknown name. Pass the entry on to the
    kernels, which then do not validate the name again."""
    return activations.lookup(op, act)


def _pair(value: Any, op: str, name: str) -> tuple[int, int]:
    if isinstance(value, int):
        return (value, value)
    pair = tuple(int(v) for v in value)
    if len(pair) != 2:
        raise ValueError(f"{op}: {name} must be an int or a pair, got {value!r}")
    return pair  # type: ignore[return-value]


def _check_inputs(op: str, *tensors: Tensor | None) -> list[Tensor]:
    """Same device, floating, one dtype for all given tensors."""
    present = [t for t in tensors if t is not None]
    check_same_device(op, *present)
    check_float(op, *present)
    dtypes = {t.dtype for t in present}
    if len(dtypes) > 1:
        desc = ", ".join(f"{t.shape}:{t.dtype}" for t in present)
        raise TypeError(
            f"{op}: all inputs must have one dtype, got {desc}; convert with .float() "
            "(float32, the default for parameters) or .double()"
        )
    return present


def _k(name: str, array: Any) -> Any:
    """The kernel `name` for the device and dtype of `array`."""
    return backend.kernel(name, device_of(array), array.dtype)


class LinearAct(Function):
    """y = act(x Wᵀ + b) with x (N, K), W (M, K), b (M,).

    Backward with dz = dy · act'(y): dx = dz W, dW = dzᵀ x, db = Σ_n dz.
    """

    @staticmethod
    def forward(
        ctx: Context,
        x: Any,
        w: Any,
        b: Any = None,
        act: str | Activation = "none",
        slope: float = 0.01,
    ) -> Any:
        y = _k("linear_act_forward", x)(x, w, b, act, slope)
        ctx.save_for_backward(x, w, y)
        ctx.act, ctx.slope, ctx.has_bias = act, slope, b is not None
        return y

    @staticmethod
    def backward(ctx: Context, dy: Any) -> tuple:
        x, w, y = ctx.saved
        needs = ctx.needs_input_grad
        dx, dw, db = _k("linear_act_backward", dy)(
            dy, x, w, y, ctx.act, ctx.slope, needs[0], needs[1], ctx.has_bias and needs[2]
        )
        return (dx, dw, db) if ctx.has_bias else (dx, dw)


def linear_act(
    x: Tensor,
    w: Tensor,
    b: Tensor | None = None,
    act: str | Activation = "none",
    slope: float = 0.01,
) -> Tensor:
    """Fused dense layer y = act(x Wᵀ + b); x (N, K), W (M, K), b (M,) or None.

    `act` is one of ACTIVATIONS (or its registry entry). It is validated here, once per
    call: the kernels of forward and backward receive the entry and do not look it up again.
    """
    _check_inputs("linear_act", x, w, b)
    act = lookup_activation("linear_act", act)
    if x.ndim != 2 or w.ndim != 2 or x.shape[1] != w.shape[1]:
        raise ValueError(
            f"linear_act: expected x (N, K) and w (M, K), got x.shape={x.shape}, w.shape={w.shape}"
        )
    if b is not None and b.shape != (w.shape[0],):
        raise ValueError(f"linear_act: b must have shape ({w.shape[0]},), got {b.shape}")
    inputs = (x, w) if b is None else (x, w, b)
    return LinearAct.apply(*inputs, act=act, slope=float(slope))


class Conv2d(Function):
    """y[n,o] = Σ_c x[n,c] ⋆ w[o,c] + b[o] (cross-correlation, stride s, zero padding p).

    Backward: dx = conv_transpose(dy, w), dw[o,c] = Σ_n dy[n,o] ⋆ x[n,c], db = Σ dy.
    """

    @staticmethod
    def forward(
        ctx: Context, x: Any, w: Any, b: Any = None, stride: Any = (1, 1), padding: Any = (0, 0)
    ) -> Any:
        ctx.save_for_backward(x, w)
        ctx.stride, ctx.padding, ctx.has_bias = stride, padding, b is not None
        return _k("conv2d_forward", x)(x, w, b, stride, padding)

    @staticmethod
    def backward(ctx: Context, dy: Any) -> tuple:
        x, w = ctx.saved
        needs = ctx.needs_input_grad
        dx, dw, db = _k("conv2d_backward", dy)(
            dy, x, w, ctx.stride, ctx.padding, needs[0], needs[1], ctx.has_bias and needs[2]
        )
        return (dx, dw, db) if ctx.has_bias else (dx, dw)


def conv2d(
    x: Tensor, w: Tensor, b: Tensor | None = None, stride: Any = 1, padding: Any = 0
) -> Tensor:
    """2-d convolution (cross-correlation), NCHW; w (O, C, kh, kw)."""
    _check_inputs("conv2d", x, w, b)
    stride, padding = _pair(stride, "conv2d", "stride"), _pair(padding, "conv2d", "padding")
    if x.ndim != 4 or w.ndim != 4 or x.shape[1] != w.shape[1]:
        raise ValueError(
            f"conv2d: expected x (N, C, H, W) and w (O, C, kh, kw) with the same C, got "
            f"x.shape={x.shape}, w.shape={w.shape}"
        )
    if b is not None and b.shape != (w.shape[0],):
        raise ValueError(f"conv2d: b must have shape ({w.shape[0]},), got {b.shape}")
    inputs = (x, w) if b is None else (x, w, b)
    return Conv2d.apply(*inputs, stride=stride, padding=padding)


class ConvTranspose2d(Function):
    """The adjoint of conv2d: y = conv2dᵀ(x; w) + b, with w (Cin, Cout, kh, kw).

    Each input pixel scatters x[n,c,i,j]·w[c,:,:,:] into the output at (i·s - p, j·s - p).
    Backward: dx = conv2d(dy, w), dw[c,o] = Σ_n x[n,c] ⋆ dy[n,o] (as a conv), db = Σ dy.
    """

    @staticmethod
    def forward(
        ctx: Context,
        x: Any,
        w: Any,
        b: Any = None,
        stride: Any = (1, 1),
        padding: Any = (0, 0),
        output_padding: Any = (0, 0),
    ) -> Any:
        ctx.save_for_backward(x, w)
        ctx.stride, ctx.padding, ctx.output_padding = stride, padding, output_padding
        ctx.has_bias = b is not None
        return _k("conv_transpose2d_forward", x)(x, w, b, stride, padding, output_padding)

    @staticmethod
    def backward(ctx: Context, dy: Any) -> tuple:
        x, w = ctx.saved
        needs = ctx.needs_input_grad
        dx, dw, db = _k("conv_transpose2d_backward", dy)(
            dy,
            x,
            w,
            ctx.stride,
            ctx.padding,
            ctx.output_padding,
            needs[0],
            needs[1],
            ctx.has_bias and needs[2],
        )
        return (dx, dw, db) if ctx.has_bias else (dx, dw)


def conv_transpose2d(
    x: Tensor,
    w: Tensor,
    b: Tensor | None = None,
    stride: Any = 1,
    padding: Any = 0,
    output_padding: Any = 0,
) -> Tensor:
    """Transposed convolution (PyTorch semantics), NCHW; w (Cin, Cout, kh, kw).

    Output size: (H - 1)·s - 2p + kh + output_padding.
    """
    _check_inputs("conv_transpose2d", x, w, b)
    stride = _pair(stride, "conv_transpose2d", "stride")
    padding = _pair(padding, "conv_transpose2d", "padding")
    output_padding = _pair(output_padding, "conv_transpose2d", "output_padding")
    if x.ndim != 4 or w.ndim != 4 or x.shape[1] != w.shape[0]:
        raise ValueError(
            f"conv_transpose2d: expected x (N, Cin, H, W) and w (Cin, Cout, kh, kw) with the same "
            f"Cin, got x.shape={x.shape}, w.shape={w.shape}"
        )
    if b is not None and b.shape != (w.shape[1],):
        raise ValueError(f"conv_transpose2d: b must have shape ({w.shape[1]},), got {b.shape}")
    inputs = (x, w) if b is None else (x, w, b)
    return ConvTranspose2d.apply(
        *inputs, stride=stride, padding=padding, output_padding=output_padding
    )


class BatchNorm(Function):
    """y = γ·(x - μ)·invstd + β per channel (axis 1), statistics over all other axes.

    Training: μ, σ² are the batch mean and biased variance (running stats updated in place);
    eval: the running statistics. Backward (training), with x̂ = (x-μ)·invstd and n elements
    per channel: dx = γ·invstd/n · (n·dy - Σdy - x̂·Σ(dy·x̂)), dγ = Σ dy·x̂, dβ = Σ dy.
    """

    @staticmethod
    def forward(
        ctx: Context,
        x: Any,
        gamma: Any = None,
        beta: Any = None,
        running_mean: Any = None,
        running_var: Any = None,
        training: bool = True,
        momentum: float = 0.1,
        eps: float = 1e-5,
    ) -> Any:
        y, mean, invstd = _k("batchnorm_forward", x)(
            x, gamma, beta, running_mean, running_var, training, momentum, eps
        )
        ctx.save_for_backward(x, gamma, mean, invstd)
        ctx.training = training
        return y

    @staticmethod
    def backward(ctx: Context, dy: Any) -> tuple:
        x, gamma, mean, invstd = ctx.saved
        needs = ctx.needs_input_grad
        affine = gamma is not None
        dx, dgamma, dbeta = _k("batchnorm_backward", dy)(
            dy,
            x,
            gamma,
            mean,
            invstd,
            ctx.training,
            needs[0],
            affine and needs[1],
            affine and needs[2],
        )
        return (dx, dgamma, dbeta) if affine else (dx,)


def batch_norm(
    x: Tensor,
    gamma: Tensor | None,
    beta: Tensor | None,
    running_mean: Tensor | None,
    running_var: Tensor | None,
    training: bool,
    momentum: float = 0.1,
    eps: float = 1e-5,
) -> Tensor:
    """Batch normalisation over axis 1 of x (N, C) or (N, C, H, W)."""
    _check_inputs("batch_norm", x, gamma, beta)
    if x.ndim not in (2, 4):
        raise ValueError(f"batch_norm: expected x of shape (N, C) or (N, C, H, W), got {x.shape}")
    c = x.shape[1]
    for name, t in (
        ("gamma", gamma),
        ("beta", beta),
        ("running_mean", running_mean),
        ("running_var", running_var),
    ):
        if t is not None and t.shape != (c,):
            raise ValueError(
                f"batch_norm: {name} must have shape ({c},) for x.shape={x.shape}, got {t.shape}"
            )
    if (gamma is None) != (beta is None):
        raise ValueError("batch_norm: give both gamma and beta, or neither")
    if not training and (running_mean is None or running_var is None):
        raise ValueError("batch_norm: eval mode needs running_mean and running_var")
    rm = None if running_mean is None else running_mean.data
    rv = None if running_var is None else running_var.data
    inputs = (x,) if gamma is None else (x, gamma, beta)
    return BatchNorm.apply(
        *inputs, running_mean=rm, running_var=rv, training=training, momentum=momentum, eps=eps
    )


class SigmoidBCE(Function):
    """L = reduce(max(x,0) - x·t + log(1 + e^{-|x|})), the stable BCE of σ(x) against t.

    dL/dx = (σ(x) - t)/N for the mean (N elements), computed in the same pass as L.
    Targets are constants (no gradient).
    """

    @staticmethod
    def forward(ctx: Context, logits: Any, targets: Any = None, reduction: str = "mean") -> Any:
        loss, dlogits = _k("sigmoid_bce_forward_backward", logits)(logits, targets, reduction)
        ctx.save_for_backward(dlogits)
        return loss

    @staticmethod
    def backward(ctx: Context, g: Any) -> Any:
        (dlogits,) = ctx.saved
        return dlogits * g


def binary_cross_entropy_with_logits(
    logits: Tensor, targets: Any, reduction: str = "mean"
) -> Tensor:
    """Fused, numerically stable sigmoid + binary cross-entropy (mean or sum over all elements)."""
    _check_inputs("binary_cross_entropy_with_logits", logits)
    if reduction not in ("mean", "sum"):
        raise ValueError(
            "binary_cross_entropy_with_logits: reduction must be 'mean' or 'sum', "
            f"got {reduction!r}"
        )
    if not isinstance(targets, Tensor):
        targets = Tensor(targets, dtype=logits.dtype, device=logits.device)
    check_same_device("binary_cross_entropy_with_logits", logits, targets)
    if targets.shape != logits.shape:
        raise ValueError(
            f"binary_cross_entropy_with_logits: targets shape {targets.shape} must equal logits "
            f"shape {logits.shape} (no broadcasting)"
        )
    t = targets.data if targets.dtype == logits.dtype else targets.data.astype(logits.dtype)
    return SigmoidBCE.apply(logits, targets=t, reduction=reduction)
