# Argument and shape validation of the kernel contract, shared by every implementation; it
# only looks at .shape/.ndim/.dtype, so it works for NumPy and CuPy arrays alike.
"""Validation of the kernel contract's arguments (shapes, strides, activation names, ...).

Every implementation of the contract (``numpy_ref``, ``cupy_kernels``, ``cuda_ext``)
starts each function with one call to the ``<function>_args`` helper of the same name,
which raises ``ValueError`` with a message naming the op, the shapes and what was
expected, and returns the normalised values the function needs (e.g. stride and padding
as pairs). Because all implementations share these helpers, their error messages are
identical.

The lower-level helpers (``pair``, ``check_conv``, ``conv2d_out_hw``, ``bn_layout``, ...)
are public too, for callers that need a single piece of the validation.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

import numpy as np

from . import activations
from .activations import ACTIVATIONS, Activation

__all__ = [
    "ACTIVATIONS",
    "IntPair",
    "adam_step_args",
    "batchnorm_backward_args",
    "batchnorm_forward_args",
    "bn_layout",
    "check_act",
    "check_conv",
    "check_linear",
    "check_per_channel",
    "conv2d_backward_args",
    "conv2d_forward_args",
    "conv2d_out_hw",
    "conv_transpose2d_backward_args",
    "conv_transpose2d_forward_args",
    "conv_transpose2d_out_hw",
    "linear_act_backward_args",
    "linear_act_forward_args",
    "pair",
    "sigmoid_bce_args",
]

IntPair = int | tuple[int, int] | Sequence[int]


# ----------------------------------------------------------------------------------
# Building blocks
# ----------------------------------------------------------------------------------


def pair(value: IntPair, name: str, op: str, minimum: int) -> tuple[int, int]:
    """Turn an int or a pair of ints into a pair, checking each entry is >= minimum."""
    if isinstance(value, (int, np.integer)) and not isinstance(value, bool):
        result = (int(value), int(value))
    else:
        try:
            items = tuple(value)  # type: ignore[arg-type]
        except TypeError:
            items = ()
        if len(items) != 2 or not all(isinstance(v, (int, np.integer)) for v in items):
            raise ValueError(f"{op}: {name} must be an int or a pair of ints, got {value!r}")
        result = (int(items[0]), int(items[1]))
    if min(result) < minimum:
        raise ValueError(f"{op}: {name} must be >= {minimum}, got {value!r}")
    return result


def check_act(op: str, act: str | Activation, slope: float) -> Activation:
    """act names an activation of the registry (minigan.backend.activations), or already is
    its entry (validated by the caller, e.g. the op); leaky_relu needs slope >= 0. Returns
    the entry."""
    entry = activations.lookup(op, act)
    if entry.uses_slope and slope < 0:
        # The backward pass reads the slope off the sign of the saved output y, which
        # only works when act(z) has the sign of z, i.e. slope >= 0.
        raise ValueError(f"{op}: {entry.name} needs slope >= 0, got slope={slope}")
    return entry


def check_linear(op: str, x: Any, w: Any) -> None:
    """x is (N, K) and w is (M, K)."""
    if x.ndim != 2 or w.ndim != 2:
        raise ValueError(
            f"{op}: expected 2-D x (N, K) and w (M, K), got x.shape={x.shape}, w.shape={w.shape}"
        )
    if x.shape[1] != w.shape[1]:
        raise ValueError(
            f"{op}: x has {x.shape[1]} features but w expects {w.shape[1]} "
            f"(x.shape={x.shape}, w.shape={w.shape})"
        )


def check_conv(
    op: str,
    x: Any,
    w: Any,
    b: Any | None,
    x_channels_axis_of_w: int,
    bias_axis_of_w: int,
) -> None:
    """Shared checks for conv2d (w is (O, C, kh, kw)) and conv_transpose2d
    (w is (Cin, Cout, kh, kw)): ranks, channel counts and bias length."""
    if x.ndim != 4:
        raise ValueError(f"{op}: x must be 4-D (N, C, H, W), got x.shape={x.shape}")
    if w.ndim != 4:
        raise ValueError(f"{op}: w must be 4-D, got w.shape={w.shape}")
    if min(x.shape[2:] + w.shape[2:]) < 1:
        raise ValueError(f"{op}: empty image or kernel (x.shape={x.shape}, w.shape={w.shape})")
    if x.shape[1] != w.shape[x_channels_axis_of_w]:
        raise ValueError(
            f"{op}: x has {x.shape[1]} channels but w expects "
            f"{w.shape[x_channels_axis_of_w]} (x.shape={x.shape}, w.shape={w.shape})"
        )
    n_out = w.shape[bias_axis_of_w]
    if b is not None and b.shape != (n_out,):
        raise ValueError(
            f"{op}: b.shape={b.shape} but w.shape={w.shape} needs b of shape ({n_out},)"
        )


def conv2d_out_hw(
    op: str,
    x_shape: tuple[int, ...],
    w_shape: tuple[int, ...],
    stride: tuple[int, int],
    padding: tuple[int, int],
) -> tuple[int, int]:
    """Ho = (H + 2*ph - kh) // sh + 1 (likewise Wo); the padded input must fit a kernel."""
    h, w_ = x_shape[2:]
    kh, kw = w_shape[2:]
    hp, wp = h + 2 * padding[0], w_ + 2 * padding[1]
    if hp < kh or wp < kw:
        raise ValueError(
            f"{op}: padded input {hp}x{wp} is smaller than the {kh}x{kw} kernel "
            f"(x.shape={tuple(x_shape)}, w.shape={tuple(w_shape)}, padding={padding})"
        )
    return (hp - kh) // stride[0] + 1, (wp - kw) // stride[1] + 1


def conv_transpose2d_out_hw(
    op: str,
    x_shape: tuple[int, ...],
    w_shape: tuple[int, ...],
    stride: tuple[int, int],
    padding: tuple[int, int],
    output_padding: tuple[int, int],
) -> tuple[int, int]:
    """Ho = (H - 1)*sh - 2*ph + kh + oph (likewise Wo), checking oph < sh and Ho >= 1."""
    if output_padding[0] >= stride[0] or output_padding[1] >= stride[1]:
        raise ValueError(
            f"{op}: output_padding={output_padding} must be smaller than "
            f"stride={stride} (dilation is 1) (x.shape={tuple(x_shape)}, "
            f"w.shape={tuple(w_shape)})"
        )
    out = tuple(
        (x_shape[2 + d] - 1) * stride[d] - 2 * padding[d] + w_shape[2 + d] + output_padding[d]
        for d in range(2)
    )
    if min(out) < 1:
        raise ValueError(
            f"{op}: output size {out[0]}x{out[1]} is empty (x.shape={tuple(x_shape)}, "
            f"w.shape={tuple(w_shape)}, stride={stride}, padding={padding}, "
            f"output_padding={output_padding})"
        )
    return out[0], out[1]


def bn_layout(op: str, x: Any) -> tuple[tuple[int, ...], tuple[int, ...], int]:
    """Reduction axes (all but axis 1), broadcast shape of a per-channel vector, and n
    = the number of elements per channel."""
    if x.ndim < 2:
        raise ValueError(f"{op}: x must be (N, C) or (N, C, H, W), got x.shape={x.shape}")
    axes = (0, *range(2, x.ndim))
    bshape = (1, x.shape[1]) + (1,) * (x.ndim - 2)
    n = x.size // x.shape[1] if x.shape[1] else 0
    return axes, bshape, n


def check_per_channel(op: str, x: Any, **vectors: Any | None) -> None:
    """Every given vector (None is skipped) has shape (C,) for x of shape (N, C, ...)."""
    c = x.shape[1]
    for name, v in vectors.items():
        if v is not None and v.shape != (c,):
            raise ValueError(
                f"{op}: {name}.shape={v.shape} but x.shape={x.shape} has {c} channels, "
                f"expected ({c},)"
            )


# ----------------------------------------------------------------------------------
# One function per contract function: its whole validation block
# ----------------------------------------------------------------------------------


def linear_act_forward_args(
    x: Any, w: Any, b: Any | None, act: str | Activation, slope: float
) -> Activation:
    """Validate linear_act_forward's arguments; returns the activation's registry entry."""
    op = "linear_act_forward"
    entry = check_act(op, act, slope)
    check_linear(op, x, w)
    if b is not None and b.shape != (w.shape[0],):
        raise ValueError(
            f"{op}: b.shape={b.shape} but w.shape={w.shape} needs b of shape ({w.shape[0]},)"
        )
    return entry


def linear_act_backward_args(
    dy: Any, x: Any, w: Any, y: Any, act: str | Activation, slope: float
) -> Activation:
    """Validate linear_act_backward's arguments (dy and y are (N, M)); returns the
    activation's registry entry."""
    op = "linear_act_backward"
    entry = check_act(op, act, slope)
    check_linear(op, x, w)
    expected = (x.shape[0], w.shape[0])
    if dy.shape != expected or y.shape != expected:
        raise ValueError(
            f"{op}: dy and y must have shape {expected} = (N, M) for x.shape={x.shape}, "
            f"w.shape={w.shape}; got dy.shape={dy.shape}, y.shape={y.shape}"
        )
    return entry


def conv2d_forward_args(
    x: Any, w: Any, b: Any | None, stride: IntPair, padding: IntPair
) -> tuple[tuple[int, int], tuple[int, int]]:
    """Validate conv2d_forward's arguments; returns (stride, padding) as pairs."""
    op = "conv2d_forward"
    stride = pair(stride, "stride", op, 1)
    padding = pair(padding, "padding", op, 0)
    check_conv(op, x, w, b, 1, 0)
    conv2d_out_hw(op, x.shape, w.shape, stride, padding)
    return stride, padding


def conv2d_backward_args(
    dy: Any, x: Any, w: Any, stride: IntPair, padding: IntPair
) -> tuple[tuple[int, int], tuple[int, int]]:
    """Validate conv2d_backward's arguments (dy is (N, O, Ho, Wo)); returns (stride,
    padding) as pairs."""
    op = "conv2d_backward"
    stride = pair(stride, "stride", op, 1)
    padding = pair(padding, "padding", op, 0)
    check_conv(op, x, w, None, 1, 0)
    ho, wo = conv2d_out_hw(op, x.shape, w.shape, stride, padding)
    expected = (x.shape[0], w.shape[0], ho, wo)
    if dy.shape != expected:
        raise ValueError(
            f"{op}: dy.shape={dy.shape} but expected {expected} = (N, O, Ho, Wo) for "
            f"x.shape={x.shape}, w.shape={w.shape}, stride={stride}, padding={padding}"
        )
    return stride, padding


def conv_transpose2d_forward_args(
    x: Any, w: Any, b: Any | None, stride: IntPair, padding: IntPair, output_padding: IntPair
) -> tuple[tuple[int, int], tuple[int, int], tuple[int, int], tuple[int, int]]:
    """Validate conv_transpose2d_forward's arguments; returns (stride, padding,
    output_padding, (Ho, Wo)), the output's spatial size."""
    op = "conv_transpose2d_forward"
    stride = pair(stride, "stride", op, 1)
    padding = pair(padding, "padding", op, 0)
    output_padding = pair(output_padding, "output_padding", op, 0)
    check_conv(op, x, w, b, 0, 1)
    out_hw = conv_transpose2d_out_hw(op, x.shape, w.shape, stride, padding, output_padding)
    return stride, padding, output_padding, out_hw


def conv_transpose2d_backward_args(
    dy: Any, x: Any, w: Any, stride: IntPair, padding: IntPair, output_padding: IntPair
) -> tuple[tuple[int, int], tuple[int, int], tuple[int, int], tuple[int, int]]:
    """Validate conv_transpose2d_backward's arguments (dy is (N, Cout, Ho, Wo)); returns
    (stride, padding, output_padding, (Ho, Wo))."""
    op = "conv_transpose2d_backward"
    stride = pair(stride, "stride", op, 1)
    padding = pair(padding, "padding", op, 0)
    output_padding = pair(output_padding, "output_padding", op, 0)
    check_conv(op, x, w, None, 0, 1)
    out_hw = conv_transpose2d_out_hw(op, x.shape, w.shape, stride, padding, output_padding)
    expected = (x.shape[0], w.shape[1], *out_hw)
    if dy.shape != expected:
        raise ValueError(
            f"{op}: dy.shape={dy.shape} but expected {expected} = (N, Cout, Ho, Wo) for "
            f"x.shape={x.shape}, w.shape={w.shape}, stride={stride}, padding={padding}, "
            f"output_padding={output_padding}"
        )
    return stride, padding, output_padding, out_hw


def batchnorm_forward_args(
    x: Any,
    gamma: Any | None,
    beta: Any | None,
    running_mean: Any | None,
    running_var: Any | None,
    training: bool,
) -> tuple[tuple[int, ...], tuple[int, ...], int]:
    """Validate batchnorm_forward's arguments; returns bn_layout(x): (reduction axes,
    broadcast shape of a per-channel vector, elements per channel)."""
    op = "batchnorm_forward"
    axes, bshape, n = bn_layout(op, x)
    check_per_channel(
        op, x, gamma=gamma, beta=beta, running_mean=running_mean, running_var=running_var
    )
    if (running_mean is None) != (running_var is None):
        raise ValueError(f"{op}: give both running_mean and running_var, or neither")
    if training and n <= 1:
        raise ValueError(
            f"{op}: expected more than 1 value per channel when training, got x.shape={x.shape}"
        )
    if not training and (running_mean is None or running_var is None):
        raise ValueError(
            f"{op}: eval mode (training=False) needs running_mean and running_var "
            f"(x.shape={x.shape})"
        )
    return axes, bshape, n


def batchnorm_backward_args(
    dy: Any, x: Any, gamma: Any | None, mean: Any, invstd: Any
) -> tuple[tuple[int, ...], tuple[int, ...], int]:
    """Validate batchnorm_backward's arguments; returns bn_layout(x)."""
    op = "batchnorm_backward"
    layout = bn_layout(op, x)
    if dy.shape != x.shape:
        raise ValueError(f"{op}: dy.shape={dy.shape} must equal x.shape={x.shape}")
    check_per_channel(op, x, gamma=gamma, mean=mean, invstd=invstd)
    return layout


def activation_forward_args(x: Any, act: str | Activation, slope: float) -> Activation:
    """Validate activation_forward's arguments (x of any shape); returns the activation's
    registry entry."""
    return check_act("activation_forward", act, slope)


def activation_backward_args(dy: Any, y: Any, act: str | Activation, slope: float) -> Activation:
    """Validate activation_backward's arguments: dy and the saved output y of one shape;
    returns the activation's registry entry."""
    op = "activation_backward"
    entry = check_act(op, act, slope)
    if np.shape(dy) != np.shape(y):
        raise ValueError(
            f"{op}: dy.shape={np.shape(dy)} must equal the saved output's y.shape={np.shape(y)}"
        )
    return entry


def sigmoid_bce_args(logits: Any, targets: Any, reduction: str) -> None:
    """Validate sigmoid_bce_forward_backward's arguments: reduction "mean" or "sum",
    targets of exactly the logits' shape, at least one element."""
    op = "sigmoid_bce_forward_backward"
    if reduction not in ("mean", "sum"):
        raise ValueError(f"{op}: reduction must be 'mean' or 'sum', got {reduction!r}")
    shape = np.shape(logits)
    if np.shape(targets) != shape:
        raise ValueError(f"{op}: targets.shape={np.shape(targets)} must equal logits.shape={shape}")
    if math.prod(shape) == 0:
        raise ValueError(f"{op}: empty input (logits.shape={shape})")


def adam_step_args(
    params: Sequence[Any],
    grads: Sequence[Any | None],
    exp_avgs: Sequence[Any],
    exp_avg_sqs: Sequence[Any],
    step: int,
) -> None:
    """Validate adam_step's arguments: equal lengths, a positive 1-based step, and for
    every parameter with a gradient, grad and moments of the parameter's shape."""
    op = "adam_step"
    if not (len(params) == len(grads) == len(exp_avgs) == len(exp_avg_sqs)):
        raise ValueError(
            f"{op}: params, grads, exp_avgs, exp_avg_sqs must have equal lengths, got "
            f"{len(params)}, {len(grads)}, {len(exp_avgs)}, {len(exp_avg_sqs)}"
        )
    if int(step) != step or step < 1:
        raise ValueError(f"{op}: step must be a positive int (1-based), got {step!r}")
    for k, (p, g, m, v) in enumerate(zip(params, grads, exp_avgs, exp_avg_sqs)):
        if g is None:
            continue
        for name, arr in (("grads", g), ("exp_avgs", m), ("exp_avg_sqs", v)):
            if arr.shape != p.shape:
                raise ValueError(
                    f"{op}: {name}[{k}].shape={arr.shape} must equal params[{k}].shape={p.shape}"
                )
