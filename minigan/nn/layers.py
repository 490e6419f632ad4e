# minigan/nn/layers.py: the layers the GAN/VAE models are built from. Each holds its
# Parameters (PyTorch layouts and default initialisation) and calls one op from
# minigan.ops in forward: Linear (fused activation), Conv2d, ConvTranspose2d,
# BatchNorm1d/2d, activations, Dropout, Flatten, Unflatten, Embedding; Softmax, LogSoftmax
# and the loss modules (CrossEntropyLoss, NLLLoss, MSELoss, L1Loss) over nn.functional.
# Dropout2d, MaxPool2d, AvgPool2d and Upsample (for conv nets) follow Dropout.
# GELU, SiLU, ELU, LogSigmoid and Hardtanh (activations that are not fused) come last.
from __future__ import annotations

import math
from typing import Any

import numpy as np

from .. import ops
from ..creation import ones, zeros
from ..ops._util import int_pair, normalize_dim
from ..ops.fused import ACTIVATIONS as ACTIVATIONS  # the registry's names, re-exported
from ..ops.fused import lookup_activation
from ..tensor import Tensor
from . import functional as F
from . import init
from .module import Module, Parameter


def _check_input(x: Any, layer: Module, ok: bool, expected: str) -> None:
    """Raise "Layer(...): expected <expected>, got shape (...)" unless `ok`."""
    if not isinstance(x, Tensor):
        raise TypeError(f"{layer!r}: expected a Tensor, got {type(x).__name__}")
    if not ok:
        raise ValueError(f"{_short_repr(layer)}: expected {expected}, got shape {x.shape}")


def _check_groups(layer: str, groups: Any, in_channels: int, out_channels: int) -> int:
    """groups as an int >= 1 that divides both channel counts (PyTorch's rule)."""
    if isinstance(groups, bool) or not isinstance(groups, int | np.integer) or groups < 1:
        raise ValueError(f"{layer}: groups must be a positive int, got {groups!r}")
    for what, n in (("in_channels", in_channels), ("out_channels", out_channels)):
        if n % int(groups):
            raise ValueError(f"{layer}: {what} ({n}) must be divisible by groups ({groups})")
    return int(groups)


def _dilation_groups_repr(dilation: tuple[int, int], groups: int) -> str:
    """The text ", dilation=..., groups=..." for the non-default values only (as PyTorch's repr), so
    reprs of ordinary layers (recorded in checkpoints' metadata) stay unchanged."""
    text = "" if dilation == (1, 1) else f", dilation={dilation}"
    return text + ("" if groups == 1 else f", groups={groups}")


def _short_repr(layer: Module) -> str:
    short = getattr(layer, "short_repr", layer.extra_repr)
    return f"{type(layer).__name__}({short()})"


class Linear(Module):
    """y = act(x Wᵀ + b), W of shape (out_features, in_features), b of shape (out_features,).

    ``activation`` is one of "none", "relu", "leaky_relu" (with ``slope``), "tanh",
    "sigmoid" and is applied inside the same fused kernel (``ops.linear_act``). Inputs
    (..., in_features) with any number of leading dimensions are flattened to 2-d and the
    result reshaped back to (..., out_features).

    Init (PyTorch's default): W and b ~ U(-1/√in_features, 1/√in_features).
    """

    dcgan_role = "weight"  # how nn.init.dcgan_init_ initialises it

    def __init__(
        self,
        in_features: int,
        out_features: int,
        bias: bool = True,
        activation: str = "none",
        slope: float = 0.01,
    ) -> None:
        super().__init__()
        lookup_activation("Linear", activation)  # ValueError for an unknown name
        if in_features <= 0 or out_features <= 0:
            raise ValueError(f"Linear: sizes must be positive, got {in_features} -> {out_features}")
        self.in_features, self.out_features = int(in_features), int(out_features)
        self.activation, self.slope = activation, float(slope)
        self.weight = Parameter(zeros(out_features, in_features))
        self.bias = Parameter(zeros(out_features)) if bias else None
        self.reset_parameters()

    def reset_parameters(self) -> None:
        """PyTorch's default init: kaiming_uniform_(a=√5) gives U(±1/√fan_in)."""
        init.kaiming_uniform_(self.weight, a=math.sqrt(5))
        if self.bias is not None:
            bound = 1 / math.sqrt(self.in_features)
            init.uniform_(self.bias, -bound, bound)

    def forward(self, x: Tensor) -> Tensor:
        return self.forward_with_activation(x, self.activation, self.slope)

    def forward_with_activation(self, x: Tensor, act: str, slope: float = 0.01) -> Tensor:
        """This layer followed by `act` as one fused kernel call (used by Sequential)."""
        _check_input(
            x,
            self,
            x.ndim >= 1 and x.shape[-1] == self.in_features,
            f"input with last dimension {self.in_features}",
        )
        lead = x.shape[:-1]
        x2 = x if x.ndim == 2 else ops.reshape(x, (-1, self.in_features))
        y = ops.linear_act(x2, self.weight, self.bias, act=act, slope=slope)
        return y if x.ndim == 2 else ops.reshape(y, lead + (self.out_features,))

    def short_repr(self) -> str:
        return f"{self.in_features} -> {self.out_features}"

    def extra_repr(self) -> str:
        act = "" if self.activation == "none" else f", activation={self.activation}"
        if self.activation == "leaky_relu":
            act += f", slope={self.slope}"
        return f"{self.short_repr()}, bias={self.bias is not None}{act}"


class Conv2d(Module):
    """2-d convolution (cross-correlation), NCHW.

    y[n, o] = b[o] + Σ_c x[n, c] ⋆ W[o, c] with W of shape (out, in/groups, kh, kw), stride
    s, zero padding p and dilation d: H_out = (H + 2p - d·(kh-1) - 1) // s + 1. With groups
    g, output channel o sees only the in/g input channels of its group (ops.conv2d).
    Init (PyTorch's default): W and b ~ U(±1/√fan_in), fan_in = (in/g)·kh·kw.
    """

    dcgan_role = "weight"  # how nn.init.dcgan_init_ initialises it

    def __init__(
        self,
        in_channels: int,
        out_channels: int,
        kernel_size: Any,
        stride: Any = 1,
        padding: Any = 0,
        dilation: Any = 1,
        groups: int = 1,
        bias: bool = True,
    ) -> None:
        super().__init__()
        self.in_channels, self.out_channels = int(in_channels), int(out_channels)
        self.kernel_size = int_pair(kernel_size, "Conv2d", "kernel_size")
        self.stride = int_pair(stride, "Conv2d", "stride")
        self.padding = int_pair(padding, "Conv2d", "padding")
        self.dilation = int_pair(dilation, "Conv2d", "dilation")
        self.groups = _check_groups("Conv2d", groups, self.in_channels, self.out_channels)
        kh, kw = self.kernel_size
        self.weight = Parameter(zeros(out_channels, in_channels // self.groups, kh, kw))
        self.bias = Parameter(zeros(out_channels)) if bias else None
        self.reset_parameters()

    def reset_parameters(self) -> None:
        init.kaiming_uniform_(self.weight, a=math.sqrt(5))
        if self.bias is not None:
            bound = 1 / math.sqrt(init.fan_in_and_fan_out(self.weight)[0])
            init.uniform_(self.bias, -bound, bound)

    def forward(self, x: Tensor) -> Tensor:
        _check_input(
            x,
            self,
            x.ndim == 4 and x.shape[1] == self.in_channels,
            f"input (N, {self.in_channels}, H, W)",
        )
        return ops.conv2d(
            x,
            self.weight,
            self.bias,
            stride=self.stride,
            padding=self.padding,
            dilation=self.dilation,
            groups=self.groups,
        )

    def short_repr(self) -> str:
        return f"{self.in_channels} -> {self.out_channels}, kernel_size={self.kernel_size}"

    def extra_repr(self) -> str:
        return (
            f"{self.short_repr()}, stride={self.stride}, padding={self.padding}"
            f"{_dilation_groups_repr(self.dilation, self.groups)}, bias={self.bias is not None}"
        )


class ConvTranspose2d(Module):
    """Transposed 2-d convolution (the adjoint of Conv2d), NCHW, PyTorch semantics.

    W has shape (in, out/groups, kh, kw); H_out = (H - 1)·s - 2p + d·(kh - 1) + output_padding
    + 1 with dilation d; output_padding must be smaller than the stride or the dilation.
    Argument order as PyTorch's (groups before bias, dilation after it).
    Init (PyTorch's default): U(±1/√fan_in) where PyTorch computes fan_in from weight
    dim 1, i.e. fan_in = (out/groups)·kh·kw.
    """

    dcgan_role = "weight"  # how nn.init.dcgan_init_ initialises it

    def __init__(
        self,
        in_channels: int,
        out_channels: int,
        kernel_size: Any,
        stride: Any = 1,
        padding: Any = 0,
        output_padding: Any = 0,
        groups: int = 1,
        bias: bool = True,
        dilation: Any = 1,
    ) -> None:
        super().__init__()
        name = "ConvTranspose2d"
        self.in_channels, self.out_channels = int(in_channels), int(out_channels)
        self.kernel_size = int_pair(kernel_size, name, "kernel_size")
        self.stride = int_pair(stride, name, "stride")
        self.padding = int_pair(padding, name, "padding")
        self.output_padding = int_pair(output_padding, name, "output_padding")
        self.dilation = int_pair(dilation, name, "dilation")
        self.groups = _check_groups(name, groups, self.in_channels, self.out_channels)
        limit = tuple(max(s, d) for s, d in zip(self.stride, self.dilation, strict=True))
        if any(op >= m for op, m in zip(self.output_padding, limit, strict=True)):
            raise ValueError(
                f"{name}: output_padding {self.output_padding} must be smaller than the "
                f"stride {self.stride} or the dilation {self.dilation}"
            )
        kh, kw = self.kernel_size
        self.weight = Parameter(zeros(in_channels, out_channels // self.groups, kh, kw))
        self.bias = Parameter(zeros(out_channels)) if bias else None
        self.reset_parameters()

    def reset_parameters(self) -> None:
        init.kaiming_uniform_(self.weight, a=math.sqrt(5))
        if self.bias is not None:
            bound = 1 / math.sqrt(init.fan_in_and_fan_out(self.weight)[0])
            init.uniform_(self.bias, -bound, bound)

    def forward(self, x: Tensor) -> Tensor:
        _check_input(
            x,
            self,
            x.ndim == 4 and x.shape[1] == self.in_channels,
            f"input (N, {self.in_channels}, H, W)",
        )
        return ops.conv_transpose2d(
            x,
            self.weight,
            self.bias,
            stride=self.stride,
            padding=self.padding,
            output_padding=self.output_padding,
            groups=self.groups,
            dilation=self.dilation,
        )

    def short_repr(self) -> str:
        return f"{self.in_channels} -> {self.out_channels}, kernel_size={self.kernel_size}"

    def extra_repr(self) -> str:
        return (
            f"{self.short_repr()}, stride={self.stride}, padding={self.padding}, "
            f"output_padding={self.output_padding}"
            f"{_dilation_groups_repr(self.dilation, self.groups)}, bias={self.bias is not None}"
        )


class _BatchNorm(Module):
    """Batch normalisation per channel (axis 1); see BatchNorm1d / BatchNorm2d.

    Training: y = γ·(x - μ_B)/√(σ²_B + eps) + β with the batch mean μ_B and biased
    variance σ²_B over every axis but 1, and (when tracking) the running statistics
    updated as r ← (1 - momentum)·r + momentum·stat, using the UNBIASED batch variance
    for running_var (PyTorch's convention). ``momentum=None`` uses the cumulative average
    (momentum = 1 / num_batches_tracked). Eval: the running statistics replace the batch
    ones. With ``track_running_stats=False`` batch statistics are used in both modes.
    """

    dcgan_role = "norm"  # how nn.init.dcgan_init_ initialises it

    expected_ndim = 0
    layout = ""

    def __init__(
        self,
        num_features: int,
        eps: float = 1e-5,
        momentum: float | None = 0.1,
        affine: bool = True,
        track_running_stats: bool = True,
    ) -> None:
        super().__init__()
        self.num_features, self.eps, self.momentum = int(num_features), float(eps), momentum
        self.affine, self.track_running_stats = bool(affine), bool(track_running_stats)
        c = self.num_features
        self.weight = Parameter(ones(c)) if affine else None
        self.bias = Parameter(zeros(c)) if affine else None
        if track_running_stats:
            self.register_buffer("running_mean", zeros(c))
            self.register_buffer("running_var", ones(c))
            self.register_buffer("num_batches_tracked", Tensor(np.array(0, dtype=np.int64)))
        else:
            self.register_buffer("running_mean", None)
            self.register_buffer("running_var", None)
            self.register_buffer("num_batches_tracked", None)

    def reset_running_stats(self) -> None:
        if self.track_running_stats:
            init.zeros_(self.running_mean)
            init.ones_(self.running_var)
            self.num_batches_tracked.data[...] = 0

    def forward(self, x: Tensor) -> Tensor:
        _check_input(
            x,
            self,
            x.ndim == self.expected_ndim and x.shape[1] == self.num_features,
            f"input {self.layout.format(c=self.num_features)}",
        )
        update = self.training and self.track_running_stats
        momentum = self.momentum
        if update and momentum is None:
            momentum = 1.0 / (int(self.num_batches_tracked.item()) + 1)
        y = ops.batch_norm(
            x,
            self.weight,
            self.bias,
            self.running_mean if self.track_running_stats else None,
            self.running_var if self.track_running_stats else None,
            training=self.training or not self.track_running_stats,
            momentum=0.0 if momentum is None else float(momentum),
            eps=self.eps,
        )
        if update:
            self.num_batches_tracked.data[...] += 1
        return y

    def short_repr(self) -> str:
        return str(self.num_features)

    def extra_repr(self) -> str:
        return (
            f"{self.num_features}, eps={self.eps}, momentum={self.momentum}, "
            f"affine={self.affine}, track_running_stats={self.track_running_stats}"
        )


class BatchNorm1d(_BatchNorm):
    """Batch normalisation of (N, C) inputs, statistics over the batch axis."""

    expected_ndim = 2
    layout = "(N, {c})"


class BatchNorm2d(_BatchNorm):
    """Batch normalisation of (N, C, H, W) inputs, statistics over N, H and W."""

    expected_ndim = 4
    layout = "(N, {c}, H, W)"


class ReLU(Module):
    """y = max(x, 0). Fused into a preceding Linear by Sequential."""

    fused_act = "relu"

    def forward(self, x: Tensor) -> Tensor:
        return ops.relu(x)


class LeakyReLU(Module):
    """y = x for x > 0, negative_slope·x otherwise. Fused into a preceding Linear."""

    fused_act = "leaky_relu"

    def __init__(self, negative_slope: float = 0.01) -> None:
        super().__init__()
        self.negative_slope = float(negative_slope)

    def forward(self, x: Tensor) -> Tensor:
        return ops.leaky_relu(x, self.negative_slope)

    def extra_repr(self) -> str:
        return f"negative_slope={self.negative_slope}"


class Tanh(Module):
    """y = tanh(x). Fused into a preceding Linear by Sequential."""

    fused_act = "tanh"

    def forward(self, x: Tensor) -> Tensor:
        return ops.tanh(x)


class Sigmoid(Module):
    """y = σ(x) = 1 / (1 + e^{-x}). Fused into a preceding Linear by Sequential."""

    fused_act = "sigmoid"

    def forward(self, x: Tensor) -> Tensor:
        return ops.sigmoid(x)


class Dropout(Module):
    """Inverted dropout: in training, y = x·m/(1-p) with m ~ Bernoulli(1-p) per element,
    so E[y] = x; in eval, y = x. Masks come from minigan's global generator (manual_seed).
    """

    def __init__(self, p: float = 0.5) -> None:
        super().__init__()
        F.check_dropout_p(p)
        self.p = float(p)

    def forward(self, x: Tensor) -> Tensor:
        return F.dropout(x, self.p, self.training)

    def extra_repr(self) -> str:
        return f"p={self.p}"


class Dropout2d(Module):
    """Channel dropout (F.dropout2d): in training each channel map x[n, c] is zeroed as a
    whole with probability p and the others scaled by 1/(1-p); in eval, y = x."""

    def __init__(self, p: float = 0.5) -> None:
        super().__init__()
        F.check_dropout_p(p, "Dropout2d")
        self.p = float(p)

    def forward(self, x: Tensor) -> Tensor:
        return F.dropout2d(x, self.p, self.training)

    def extra_repr(self) -> str:
        return f"p={self.p}"


class MaxPool2d(Module):
    """2-d max pooling (ops.max_pool2d): the maximum of each kh x kw window (stride defaults
    to kernel_size), on (N, C, H, W) or (C, H, W); the gradient goes to each window's
    first maximum. With return_indices the forward returns (output, indices)."""

    def __init__(
        self,
        kernel_size: Any,
        stride: Any = None,
        padding: Any = 0,
        dilation: Any = 1,
        return_indices: bool = False,
        ceil_mode: bool = False,
    ) -> None:
        super().__init__()
        self.kernel_size = kernel_size
        self.stride = kernel_size if stride is None else stride
        self.padding, self.dilation = padding, dilation
        self.return_indices, self.ceil_mode = bool(return_indices), bool(ceil_mode)

    def forward(self, x: Tensor) -> Any:
        return ops.max_pool2d(
            x,
            self.kernel_size,
            self.stride,
            self.padding,
            self.dilation,
            ceil_mode=self.ceil_mode,
            return_indices=self.return_indices,
        )

    def extra_repr(self) -> str:
        return (
            f"kernel_size={self.kernel_size}, stride={self.stride}, padding={self.padding}, "
            f"dilation={self.dilation}, ceil_mode={self.ceil_mode}"
        )


class AvgPool2d(Module):
    """2-d average pooling (ops.avg_pool2d): the mean of each kh x kw window (stride defaults
    to kernel_size), padding counted in the divisor unless count_include_pad=False."""

    def __init__(
        self,
        kernel_size: Any,
        stride: Any = None,
        padding: Any = 0,
        ceil_mode: bool = False,
        count_include_pad: bool = True,
        divisor_override: int | None = None,
    ) -> None:
        super().__init__()
        self.kernel_size = kernel_size
        self.stride = kernel_size if stride is None else stride
        self.padding, self.ceil_mode = padding, bool(ceil_mode)
        self.count_include_pad, self.divisor_override = bool(count_include_pad), divisor_override

    def forward(self, x: Tensor) -> Tensor:
        return ops.avg_pool2d(
            x,
            self.kernel_size,
            self.stride,
            self.padding,
            ceil_mode=self.ceil_mode,
            count_include_pad=self.count_include_pad,
            divisor_override=self.divisor_override,
        )

    def extra_repr(self) -> str:
        return f"kernel_size={self.kernel_size}, stride={self.stride}, padding={self.padding}"


class Upsample(Module):
    """Resize by `scale_factor` or to `size` (F.interpolate); only mode="nearest", whose
    backward sums each source pixel's copies."""

    def __init__(
        self,
        size: Any = None,
        scale_factor: Any = None,
        mode: str = "nearest",
        align_corners: bool | None = None,
        recompute_scale_factor: bool | None = None,
    ) -> None:
        super().__init__()
        if mode != "nearest":
            raise NotImplementedError(
                f"Upsample: mode={mode!r} is not implemented; minigan has only mode='nearest'"
            )
        self.size, self.mode, self.align_corners = size, mode, align_corners
        self.scale_factor = (
            float(scale_factor) if isinstance(scale_factor, int | float) else scale_factor
        )
        self.recompute_scale_factor = recompute_scale_factor

    def forward(self, x: Tensor) -> Tensor:
        return F.interpolate(
            x,
            self.size,
            self.scale_factor,
            self.mode,
            self.align_corners,
            recompute_scale_factor=self.recompute_scale_factor,
        )

    def extra_repr(self) -> str:
        what = f"size={self.size}" if self.scale_factor is None else ""
        what = what or f"scale_factor={self.scale_factor}"
        return f"{what}, mode={self.mode!r}"


class Flatten(Module):
    """Merge dimensions start_dim..end_dim into one ((N, C, H, W) -> (N, C·H·W) by default)."""

    def __init__(self, start_dim: int = 1, end_dim: int = -1) -> None:
        super().__init__()
        self.start_dim, self.end_dim = int(start_dim), int(end_dim)

    def forward(self, x: Tensor) -> Tensor:
        _check_input(x, self, x.ndim > 0, "an input with at least 1 dim")
        layer = _short_repr(self)
        start = normalize_dim(self.start_dim, x.ndim, layer, "start_dim")
        end = normalize_dim(self.end_dim, x.ndim, layer, "end_dim")
        _check_input(x, self, start <= end, f"start_dim {self.start_dim} <= end_dim {self.end_dim}")
        return ops.flatten(x, start, end)

    def short_repr(self) -> str:
        return f"start_dim={self.start_dim}, end_dim={self.end_dim}"

    def extra_repr(self) -> str:
        return self.short_repr()


class Unflatten(Module):
    """Split dimension `dim` into `sizes` ((N, 784) -> (N, 1, 28, 28) with dim=1,
    sizes=(1, 28, 28)). One size may be -1 (inferred)."""

    def __init__(self, dim: int, sizes: tuple[int, ...] | list[int]) -> None:
        super().__init__()
        self.dim, self.sizes = int(dim), tuple(int(s) for s in sizes)
        if sum(s == -1 for s in self.sizes) > 1 or any(s < -1 for s in self.sizes):
            raise ValueError(f"Unflatten: invalid sizes {self.sizes}")

    def forward(self, x: Tensor) -> Tensor:
        expected = f"dimension {self.dim} of size prod{self.sizes}"
        _check_input(x, self, x.ndim > 0, expected)
        d = normalize_dim(self.dim, x.ndim, _short_repr(self))
        n = x.shape[d]
        known = math.prod(s for s in self.sizes if s != -1)
        ok = (n == known) if -1 not in self.sizes else (known > 0 and n % known == 0)
        _check_input(x, self, ok, expected)
        return ops.reshape(x, x.shape[:d] + self.sizes + x.shape[d + 1 :])

    def short_repr(self) -> str:
        return f"dim={self.dim}, sizes={self.sizes}"

    def extra_repr(self) -> str:
        return self.short_repr()


class Embedding(Module):
    """A lookup table: y[p, :] = weight[x[p], :] for an integer tensor x, with weight of
    shape (num_embeddings, embedding_dim); y has shape x.shape + (embedding_dim,).

    The row `padding_idx` (if given) starts at 0 and receives no gradient (F.embedding).
    Init (PyTorch's default): weight ~ N(0, 1).
    """

    def __init__(
        self, num_embeddings: int, embedding_dim: int, padding_idx: int | None = None
    ) -> None:
        super().__init__()
        if num_embeddings <= 0 or embedding_dim <= 0:
            raise ValueError(
                f"Embedding: sizes must be positive, got {num_embeddings} x {embedding_dim}"
            )
        self.num_embeddings, self.embedding_dim = int(num_embeddings), int(embedding_dim)
        self.padding_idx = F.check_padding_idx("Embedding", padding_idx, num_embeddings)
        self.weight = Parameter(zeros(self.num_embeddings, self.embedding_dim))
        self.reset_parameters()

    def reset_parameters(self) -> None:
        """weight ~ N(0, 1), then the padding row set to 0 (as PyTorch)."""
        init.normal_(self.weight)
        if self.padding_idx is not None:
            self.weight.data[self.padding_idx] = 0

    def forward(self, x: Tensor) -> Tensor:
        return F.embedding(x, self.weight, self.padding_idx)

    def short_repr(self) -> str:
        return f"{self.num_embeddings}, {self.embedding_dim}"

    def extra_repr(self) -> str:
        pad = "" if self.padding_idx is None else f", padding_idx={self.padding_idx}"
        return self.short_repr() + pad


class Softmax(Module):
    """y = softmax(x) along `dim` (ops.softmax: y_i = e^{x_i} / Σ_j e^{x_j}, stable).

    `dim` is required: PyTorch's implicit choice (dim=None) is deprecated there.
    """

    def __init__(self, dim: int) -> None:
        super().__init__()
        if isinstance(dim, bool) or not isinstance(dim, int | np.integer):
            raise TypeError(f"Softmax: dim must be an int, got {dim!r}")
        self.dim = int(dim)

    def forward(self, x: Tensor) -> Tensor:
        return ops.softmax(x, self.dim)

    def extra_repr(self) -> str:
        return f"dim={self.dim}"


class LogSoftmax(Module):
    """y = log_softmax(x) along `dim` (ops.log_softmax: x_i - log Σ_j e^{x_j}, stable);
    `dim` is required, as for Softmax."""

    def __init__(self, dim: int) -> None:
        super().__init__()
        if isinstance(dim, bool) or not isinstance(dim, int | np.integer):
            raise TypeError(f"LogSoftmax: dim must be an int, got {dim!r}")
        self.dim = int(dim)

    def forward(self, x: Tensor) -> Tensor:
        return ops.log_softmax(x, self.dim)

    def extra_repr(self) -> str:
        return f"dim={self.dim}"


def _loss_reduction(layer: str, reduction: str) -> str:
    if reduction not in F.REDUCTIONS:
        raise ValueError(f"{layer}: reduction must be one of {F.REDUCTIONS}, got {reduction!r}")
    return reduction


def _class_weight_buffer(layer: str, weight: Any) -> Tensor | None:
    """The optional per-class weight of a classification loss as a float tensor (a buffer,
    saved in state_dict and moved by to(), as in PyTorch)."""
    if weight is None:
        return None
    w = weight if isinstance(weight, Tensor) else Tensor(np.asarray(weight, dtype=np.float32))
    if w.ndim != 1:
        raise ValueError(f"{layer}: weight must be 1-d (one weight per class), got {w.shape}")
    return w


class CrossEntropyLoss(Module):
    """F.cross_entropy(input, target): softmax cross-entropy of logits (N, C, ...) against
    class indices (N, ...) or class probabilities (the input's shape)."""

    def __init__(
        self,
        weight: Any = None,
        ignore_index: int = -100,
        reduction: str = "mean",
        label_smoothing: float = 0.0,
    ) -> None:
        super().__init__()
        self.register_buffer("weight", _class_weight_buffer("CrossEntropyLoss", weight))
        self.ignore_index = int(ignore_index)
        self.reduction = _loss_reduction("CrossEntropyLoss", reduction)
        if not 0.0 <= float(label_smoothing) <= 1.0:
            raise ValueError(
                f"CrossEntropyLoss: label_smoothing must be in [0, 1], got {label_smoothing!r}"
            )
        self.label_smoothing = float(label_smoothing)

    def forward(self, input: Tensor, target: Any) -> Tensor:  # noqa: A002
        return F.cross_entropy(
            input,
            target,
            weight=self.weight,
            ignore_index=self.ignore_index,
            reduction=self.reduction,
            label_smoothing=self.label_smoothing,
        )

    def extra_repr(self) -> str:
        return f"reduction={self.reduction!r}, label_smoothing={self.label_smoothing}"


class NLLLoss(Module):
    """F.nll_loss(input, target): negative log-likelihood of class indices, given
    log-probabilities (N, C, ...) (e.g. the output of LogSoftmax(dim=1))."""

    def __init__(self, weight: Any = None, ignore_index: int = -100, reduction: str = "mean"):
        super().__init__()
        self.register_buffer("weight", _class_weight_buffer("NLLLoss", weight))
        self.ignore_index = int(ignore_index)
        self.reduction = _loss_reduction("NLLLoss", reduction)

    def forward(self, input: Tensor, target: Any) -> Tensor:  # noqa: A002
        return F.nll_loss(
            input,
            target,
            weight=self.weight,
            ignore_index=self.ignore_index,
            reduction=self.reduction,
        )

    def extra_repr(self) -> str:
        return f"reduction={self.reduction!r}"


class MSELoss(Module):
    """F.mse_loss(input, target): (input - target)², reduced by mean, sum or none."""

    def __init__(self, reduction: str = "mean") -> None:
        super().__init__()
        self.reduction = _loss_reduction("MSELoss", reduction)

    def forward(self, input: Tensor, target: Any) -> Tensor:  # noqa: A002
        return F.mse_loss(input, target, reduction=self.reduction)

    def extra_repr(self) -> str:
        return f"reduction={self.reduction!r}"


class L1Loss(Module):
    """F.l1_loss(input, target): |input - target|, reduced by mean, sum or none."""

    def __init__(self, reduction: str = "mean") -> None:
        super().__init__()
        self.reduction = _loss_reduction("L1Loss", reduction)

    def forward(self, input: Tensor, target: Any) -> Tensor:  # noqa: A002
        return F.l1_loss(input, target, reduction=self.reduction)

    def extra_repr(self) -> str:
        return f"reduction={self.reduction!r}"


# ----- activations that Sequential does not fuse into a Linear (no fused_act) -----------
class GELU(Module):
    """y = x·Φ(x) (Φ the standard normal CDF); approximate="tanh" uses the tanh form."""

    def __init__(self, approximate: str = "none") -> None:
        super().__init__()
        if approximate not in ("none", "tanh"):
            raise ValueError(f"GELU: approximate must be 'none' or 'tanh', got {approximate!r}")
        self.approximate = approximate

    def forward(self, x: Tensor) -> Tensor:
        return ops.gelu(x, approximate=self.approximate)

    def extra_repr(self) -> str:
        return f"approximate={self.approximate!r}"


class SiLU(Module):
    """y = x·σ(x)."""

    def forward(self, x: Tensor) -> Tensor:
        return ops.silu(x)


class ELU(Module):
    """y = x for x > 0, alpha·(e^x - 1) otherwise."""

    def __init__(self, alpha: float = 1.0) -> None:
        super().__init__()
        self.alpha = float(alpha)

    def forward(self, x: Tensor) -> Tensor:
        return ops.elu(x, alpha=self.alpha)

    def extra_repr(self) -> str:
        return f"alpha={self.alpha}"


class LogSigmoid(Module):
    """y = log σ(x), computed without overflow."""

    def forward(self, x: Tensor) -> Tensor:
        return ops.logsigmoid(x)


class Hardtanh(Module):
    """y = min(max(x, min_val), max_val); gradient 0 at and beyond the bounds."""

    def __init__(self, min_val: float = -1.0, max_val: float = 1.0) -> None:
        super().__init__()
        self.min_val, self.max_val = float(min_val), float(max_val)
        if self.min_val > self.max_val:
            raise ValueError(
                f"Hardtanh: min_val cannot be greater than max_val "
                f"(got {self.min_val} > {self.max_val})"
            )

    def forward(self, x: Tensor) -> Tensor:
        return ops.hardtanh(x, self.min_val, self.max_val)

    def extra_repr(self) -> str:
        return f"min_val={self.min_val}, max_val={self.max_val}"
