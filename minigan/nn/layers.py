# minigan/nn/layers.py: the layers the GAN/VAE models are built from. Each holds its
# Parameters (PyTorch layouts and default initialisation) and calls one op from
# minigan.ops in forward: Linear (fused activation), Conv2d, ConvTranspose2d,
# BatchNorm1d/2d, activations, Dropout, Flatten, Unflatten.
from __future__ import annotations

import math
from typing import Any

import numpy as np

from .. import ops
from ..creation import ones, zeros
from ..ops.fused import ACTIVATIONS as ACTIVATIONS  # the registry's names, re-exported
from ..ops.fused import lookup_activation
from ..tensor import Tensor
from . import functional as F
from . import init
from .module import Module, Parameter


def _pair(value: Any, layer: str, name: str) -> tuple[int, int]:
    """An int or a pair of ints as a pair (kernel_size=3 -> (3, 3))."""
    pair = (value, value) if isinstance(value, int | np.integer) else tuple(value)
    if len(pair) != 2:
        raise ValueError(f"{layer}: {name} must be an int or a pair of ints, got {value!r}")
    return int(pair[0]), int(pair[1])


def _check_input(x: Any, layer: Module, ok: bool, expected: str) -> None:
    """Raise "Layer(...): expected <expected>, got shape (...)" unless `ok`."""
    if not isinstance(x, Tensor):
        raise TypeError(f"{layer!r}: expected a Tensor, got {type(x).__name__}")
    if not ok:
        raise ValueError(f"{_short_repr(layer)}: expected {expected}, got shape {x.shape}")


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

    y[n, o] = b[o] + Σ_c x[n, c] ⋆ W[o, c] with W of shape (out, in, kh, kw), stride s and
    zero padding p: H_out = (H + 2p - kh) // s + 1.
    Init (PyTorch's default): W and b ~ U(±1/√fan_in), fan_in = in·kh·kw.
    """

    def __init__(
        self,
        in_channels: int,
        out_channels: int,
        kernel_size: Any,
        stride: Any = 1,
        padding: Any = 0,
        bias: bool = True,
    ) -> None:
        super().__init__()
        self.in_channels, self.out_channels = int(in_channels), int(out_channels)
        self.kernel_size = _pair(kernel_size, "Conv2d", "kernel_size")
        self.stride = _pair(stride, "Conv2d", "stride")
        self.padding = _pair(padding, "Conv2d", "padding")
        kh, kw = self.kernel_size
        self.weight = Parameter(zeros(out_channels, in_channels, kh, kw))
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
        return ops.conv2d(x, self.weight, self.bias, stride=self.stride, padding=self.padding)

    def short_repr(self) -> str:
        return f"{self.in_channels} -> {self.out_channels}, kernel_size={self.kernel_size}"

    def extra_repr(self) -> str:
        return (
            f"{self.short_repr()}, stride={self.stride}, padding={self.padding}, "
            f"bias={self.bias is not None}"
        )


class ConvTranspose2d(Module):
    """Transposed 2-d convolution (the adjoint of Conv2d), NCHW, PyTorch semantics.

    W has shape (in, out, kh, kw); H_out = (H - 1)·s - 2p + kh + output_padding.
    Init (PyTorch's default): U(±1/√fan_in) where PyTorch computes fan_in from weight
    dim 1, i.e. fan_in = out·kh·kw.
    """

    def __init__(
        self,
        in_channels: int,
        out_channels: int,
        kernel_size: Any,
        stride: Any = 1,
        padding: Any = 0,
        output_padding: Any = 0,
        bias: bool = True,
    ) -> None:
        super().__init__()
        name = "ConvTranspose2d"
        self.in_channels, self.out_channels = int(in_channels), int(out_channels)
        self.kernel_size = _pair(kernel_size, name, "kernel_size")
        self.stride = _pair(stride, name, "stride")
        self.padding = _pair(padding, name, "padding")
        self.output_padding = _pair(output_padding, name, "output_padding")
        if any(op >= s for op, s in zip(self.output_padding, self.stride, strict=True)):
            raise ValueError(
                f"{name}: output_padding {self.output_padding} must be smaller than the "
                f"stride {self.stride}"
            )
        kh, kw = self.kernel_size
        self.weight = Parameter(zeros(in_channels, out_channels, kh, kw))
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
        )

    def short_repr(self) -> str:
        return f"{self.in_channels} -> {self.out_channels}, kernel_size={self.kernel_size}"

    def extra_repr(self) -> str:
        return (
            f"{self.short_repr()}, stride={self.stride}, padding={self.padding}, "
            f"output_padding={self.output_padding}, bias={self.bias is not None}"
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


class Flatten(Module):
    """Merge dimensions start_dim..end_dim into one ((N, C, H, W) -> (N, C·H·W) by default)."""

    def __init__(self, start_dim: int = 1, end_dim: int = -1) -> None:
        super().__init__()
        self.start_dim, self.end_dim = int(start_dim), int(end_dim)

    def forward(self, x: Tensor) -> Tensor:
        nd = x.ndim
        ok = nd > 0 and -nd <= self.start_dim < nd and -nd <= self.end_dim < nd
        ok = ok and self.start_dim % nd <= self.end_dim % nd
        _check_input(x, self, ok, f"input with dims {self.start_dim}..{self.end_dim}")
        return ops.flatten(x, self.start_dim, self.end_dim)

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
        nd = x.ndim
        ok = nd > 0 and -nd <= self.dim < nd
        if ok:
            n = x.shape[self.dim]
            known = math.prod(s for s in self.sizes if s != -1)
            ok = (n == known) if -1 not in self.sizes else (known > 0 and n % known == 0)
        expected = f"dimension {self.dim} of size prod{self.sizes}"
        _check_input(x, self, ok, expected)
        d = self.dim % nd
        return ops.reshape(x, x.shape[:d] + self.sizes + x.shape[d + 1 :])

    def short_repr(self) -> str:
        return f"dim={self.dim}, sizes={self.sizes}"

    def extra_repr(self) -> str:
        return self.short_repr()
