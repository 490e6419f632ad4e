# The fused kernel families as differentiable ops: linear_act, conv2d, conv_transpose2d,
# batch_norm and binary_cross_entropy_with_logits. Each forward/backward calls the kernel
# contract of the tensor's device (see minigan.backend; the math is in numpy_ref).
from __future__ import annotations

from typing import Any

import numpy as np

from ..autograd import Context, Function
from ..backend import activations
from ..backend.activations import ACTIVATIONS, Activation
from ..device import array_module_of
from ..tensor import Tensor
from ._util import check_float, check_not_complex, check_same_device, int_pair, kernel_for

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


_k = kernel_for  # the kernel `name` for the device and dtype of `array`


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


def _int_arg(value: Any, op: str, name: str, minimum: int) -> int:
    """A plain int >= minimum (bools and floats rejected), for `groups`."""
    if isinstance(value, bool) or not isinstance(value, int | np.integer):
        raise TypeError(f"{op}: {name} must be an int, got {type(value).__name__} {value!r}")
    if int(value) < minimum:
        raise ValueError(f"{op}: {name} must be >= {minimum}, got {value}")
    return int(value)


def _dilate_kernel(w: Any, dilation: tuple[int, int]) -> Any:
    """w (A, B, kh, kw) zero-stuffed to (A, B, (kh-1)·dh+1, (kw-1)·dw+1):
    ws[..., a·dh, b·dw] = w[..., a, b], zero elsewhere."""
    dh, dw = dilation
    if (dh, dw) == (1, 1):
        return w
    a, b, kh, kw = w.shape
    stuffed = array_module_of(w).zeros((a, b, (kh - 1) * dh + 1, (kw - 1) * dw + 1), w.dtype)
    stuffed[:, :, ::dh, ::dw] = w
    return stuffed


def _undilate_grad(dws: Any, dilation: tuple[int, int]) -> Any:
    """The gradient of the un-stuffed kernel: the taps of the stuffed kernel's gradient that
    hold real weights (the zeros in between are constants, their gradient is dropped)."""
    dh, dw = dilation
    if (dh, dw) == (1, 1):
        return dws
    return array_module_of(dws).ascontiguousarray(dws[:, :, ::dh, ::dw])


def _group(a: Any, g: int, groups: int, axis: int) -> Any:
    """Slice g of `groups` equal slices of `a` along `axis`, as a contiguous array."""
    if groups == 1:
        return a
    n = a.shape[axis] // groups
    index = [slice(None)] * a.ndim
    index[axis] = slice(g * n, (g + 1) * n)
    return array_module_of(a).ascontiguousarray(a[tuple(index)])


def _join(parts: list[Any], axis: int) -> Any:
    """The per-group results joined along `axis` (None when the gradient was not needed)."""
    if parts[0] is None:
        return None
    return parts[0] if len(parts) == 1 else array_module_of(parts[0]).concatenate(parts, axis)


class GroupedDilatedConv2d(Function):
    """conv2d with groups g and dilation d, on top of the dilation-1, groups-1 kernels.

    y[n, o, i, j] = b[o] + Σ_{c < C/g} Σ_{a,b'} w[o, c, a, b'] ·
                    xpad[n, k·C/g + c, i·sh + a·dh, j·sw + b'·dw]
    where k = o // (O/g) is o's group. Computed as:
      dilation: an ordinary convolution with the zero-stuffed kernel ws, of size
        ((kh-1)·dh+1, (kw-1)·dw+1), ws[..., a·dh, b'·dw] = w[..., a, b'] (zeros in between);
      groups: g convolutions, group k taking input channels k·C/g.. and weights/outputs
        k·O/g.., whose outputs are concatenated along the channels.
    Backward: per group, the kernel's conv2d_backward with the stuffed kernel gives dx_k,
    dws_k, db_k; dx and db are the concatenations, dw = dws[:, :, ::dh, ::dw] (the stuffed
    zeros are constants, their gradient is discarded).
    """

    @staticmethod
    def forward(
        ctx: Context,
        x: Any,
        w: Any,
        b: Any = None,
        stride: Any = (1, 1),
        padding: Any = (0, 0),
        dilation: Any = (1, 1),
        groups: int = 1,
    ) -> Any:
        ws = _dilate_kernel(w, dilation)
        ctx.save_for_backward(x, ws)
        ctx.stride, ctx.padding, ctx.dilation, ctx.groups = stride, padding, dilation, groups
        ctx.has_bias = b is not None
        kernel = _k("conv2d_forward", x)
        ys = [
            kernel(
                _group(x, k, groups, 1),
                _group(ws, k, groups, 0),
                None if b is None else _group(b, k, groups, 0),
                stride,
                padding,
            )
            for k in range(groups)
        ]
        return _join(ys, 1)

    @staticmethod
    def backward(ctx: Context, dy: Any) -> tuple:
        x, ws = ctx.saved
        needs = ctx.needs_input_grad
        groups = ctx.groups
        kernel = _k("conv2d_backward", dy)
        parts = [
            kernel(
                _group(dy, k, groups, 1),
                _group(x, k, groups, 1),
                _group(ws, k, groups, 0),
                ctx.stride,
                ctx.padding,
                needs[0],
                needs[1],
                ctx.has_bias and needs[2],
            )
            for k in range(groups)
        ]
        dx = _join([p[0] for p in parts], 1)
        dws = _join([p[1] for p in parts], 0)
        dw = None if dws is None else _undilate_grad(dws, ctx.dilation)
        db = _join([p[2] for p in parts], 0)
        return (dx, dw, db) if ctx.has_bias else (dx, dw)


def conv2d(
    input: Tensor,
    weight: Tensor,
    bias: Tensor | None = None,
    stride: Any = 1,
    padding: Any = 0,
    dilation: Any = 1,
    groups: int = 1,
) -> Tensor:
    """2-d convolution (cross-correlation), NCHW, PyTorch's ``conv2d``.

    input (N, C, H, W), weight (O, C/groups, kh, kw), bias (O,) or None ->
    (N, O, Ho, Wo), Ho = (H + 2·ph - dh·(kh-1) - 1) // sh + 1 (likewise Wo):

        y[n, o, i, j] = bias[o] + Σ_{c, a, b'} weight[o, c, a, b'] ·
                        xpad[n, k·C/g + c, i·sh + a·dh, j·sw + b'·dw],  k = o // (O/g)

    Backward: dx = the transposed convolution of dy with the same weight (the adjoint),
    dweight[o, c, a, b'] = Σ_{n,i,j} dy[n, o, i, j] · xpad[n, k·C/g + c, i·sh + a·dh, ...],
    dbias[o] = Σ_{n,i,j} dy[n, o, i, j].

    groups=1, dilation=1 (the fast path) is one call of the fused conv2d kernels. Otherwise
    the op builds on the same kernels (see GroupedDilatedConv2d): the kernel zero-stuffed to
    ((kh-1)·dh+1, (kw-1)·dw+1) for dilation, so that costs ≈ ((kh-1)·dh+1)·((kw-1)·dw+1) /
    (kh·kw) times the multiply-adds of the undilated convolution (plus one copy of the
    kernel); and one kernel call per group on contiguous copies of the channel slices, so
    groups cost g launches (the FLOPs are the grouped convolution's: 1/g of the dense one).
    """
    op = "conv2d"
    _check_inputs(op, input, weight, bias)
    stride, padding = int_pair(stride, op, "stride"), int_pair(padding, op, "padding")
    dilation = int_pair(dilation, op, "dilation", minimum=1)
    groups = _int_arg(groups, op, "groups", 1)
    if input.ndim != 4 or weight.ndim != 4:
        raise ValueError(
            f"conv2d: expected input (N, C, H, W) and weight (O, C/groups, kh, kw), got "
            f"input.shape={input.shape}, weight.shape={weight.shape}"
        )
    n_out = weight.shape[0]
    if groups == 1 and dilation == (1, 1):
        if input.shape[1] != weight.shape[1]:
            raise ValueError(
                f"conv2d: expected input (N, C, H, W) and weight (O, C, kh, kw) with the same "
                f"C, got input.shape={input.shape}, weight.shape={weight.shape}"
            )
        if bias is not None and bias.shape != (n_out,):
            raise ValueError(f"conv2d: bias must have shape ({n_out},), got {bias.shape}")
        inputs = (input, weight) if bias is None else (input, weight, bias)
        return Conv2d.apply(*inputs, stride=stride, padding=padding)
    c = input.shape[1]
    if c % groups or n_out % groups:
        raise ValueError(
            f"conv2d: groups={groups} must divide the input channels ({c}) and the output "
            f"channels ({n_out}) (input.shape={input.shape}, weight.shape={weight.shape})"
        )
    if weight.shape[1] * groups != c:
        raise ValueError(
            f"conv2d: weight must have shape (O, C/groups, kh, kw) = ({n_out}, {c // groups}, "
            f"kh, kw) for input.shape={input.shape} and groups={groups}, got "
            f"weight.shape={weight.shape}"
        )
    if bias is not None and bias.shape != (n_out,):
        raise ValueError(f"conv2d: bias must have shape ({n_out},), got {bias.shape}")
    padded = [input.shape[2 + d] + 2 * padding[d] for d in range(2)]
    span = [(weight.shape[2 + d] - 1) * dilation[d] + 1 for d in range(2)]
    if padded[0] < span[0] or padded[1] < span[1]:
        raise ValueError(
            f"conv2d: padded input {padded[0]}x{padded[1]} is smaller than the dilated kernel's "
            f"span {span[0]}x{span[1]} (input.shape={input.shape}, weight.shape={weight.shape}, "
            f"padding={padding}, dilation={dilation})"
        )
    inputs = (input, weight) if bias is None else (input, weight, bias)
    return GroupedDilatedConv2d.apply(
        *inputs, stride=stride, padding=padding, dilation=dilation, groups=groups
    )


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


class GroupedDilatedConvTranspose2d(Function):
    """conv_transpose2d with groups g, dilation d and any output_padding < max(stride,
    dilation), on top of the dilation-1, groups-1 kernels.

    Forward (ws = the kernel zero-stuffed to K = ((kh-1)·dh+1, (kw-1)·dw+1), see
    GroupedDilatedConv2d), a scatter per group k (input channels k·Cin/g.., output channels
    k·Cout/g..):
        full[n, k·Cout/g + co, i·sh + a, j·sw + b'] += Σ_ci x[n, k·Cin/g + ci, i, j] ·
                                                       ws[k·Cin/g + ci, co, a, b']
    on the full (uncropped) canvas of size L = (H-1)·sh + Kh (likewise Lw), computed by the
    kernel with padding 0 and output_padding 0; then y = full[:, :, ph : ph + Ho, pw : pw + Wo]
    with Ho = L - 2·ph + oph, rows past the canvas (when oph > ph) being 0, plus bias.
    (Cropping here, not in the kernel, is what allows PyTorch's output_padding up to
    dilation - 1, which the kernel's own check, output_padding < stride, would refuse.)
    Backward: dfull = dy placed back on the canvas (zeros where cropped away); per group
    the kernel's conv_transpose2d_backward(dfull_k, x_k, ws_k) gives dx_k and dws_k;
    dx = the concatenation, dw = dws[:, :, ::dh, ::dw], dbias = Σ_{n,i,j} dy.
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
        dilation: Any = (1, 1),
        groups: int = 1,
    ) -> Any:
        xp = array_module_of(x)
        ws = _dilate_kernel(w, dilation)
        kernel = _k("conv_transpose2d_forward", x)
        full = _join(
            [
                kernel(
                    _group(x, k, groups, 1),
                    _group(ws, k, groups, 0),
                    None,
                    stride,
                    (0, 0),
                    (0, 0),
                )
                for k in range(groups)
            ],
            1,
        )
        canvas = full.shape[2:]
        out_hw = tuple(canvas[d] - 2 * padding[d] + output_padding[d] for d in range(2))
        y = xp.zeros(full.shape[:2] + out_hw, dtype=full.dtype)
        src, dst = _crop_windows(canvas, out_hw, padding)
        y[dst] = full[src]
        if b is not None:
            y += b.reshape(-1, 1, 1)
        ctx.save_for_backward(x, ws)
        ctx.stride, ctx.dilation, ctx.groups = stride, dilation, groups
        ctx.canvas, ctx.windows, ctx.has_bias = canvas, (src, dst), b is not None
        return y

    @staticmethod
    def backward(ctx: Context, dy: Any) -> tuple:
        x, ws = ctx.saved
        needs = ctx.needs_input_grad
        groups = ctx.groups
        xp = array_module_of(dy)
        dfull = xp.zeros(dy.shape[:2] + tuple(ctx.canvas), dtype=dy.dtype)
        src, dst = ctx.windows
        dfull[src] = dy[dst]
        dx = dw = None
        if needs[0] or needs[1]:
            kernel = _k("conv_transpose2d_backward", dy)
            parts = [
                kernel(
                    _group(dfull, k, groups, 1),
                    _group(x, k, groups, 1),
                    _group(ws, k, groups, 0),
                    ctx.stride,
                    (0, 0),
                    (0, 0),
                    needs[0],
                    needs[1],
                    False,
                )
                for k in range(groups)
            ]
            dx = _join([p[0] for p in parts], 1)
            dws = _join([p[1] for p in parts], 0)
            dw = None if dws is None else _undilate_grad(dws, ctx.dilation)
        if not ctx.has_bias:
            return dx, dw
        db = dy.sum(axis=(0, 2, 3)) if needs[2] else None
        return dx, dw, db


def _crop_windows(
    canvas: tuple[int, ...], out_hw: tuple[int, ...], padding: tuple[int, int]
) -> tuple[tuple[slice, ...], tuple[slice, ...]]:
    """Index pairs (canvas window, output window) of conv_transpose2d's crop: output row r
    is canvas row r + p; rows past the canvas (r + p >= L) stay 0."""
    src: list[slice] = [slice(None), slice(None)]
    dst: list[slice] = [slice(None), slice(None)]
    for d in range(2):
        rows = min(out_hw[d], canvas[d] - padding[d])
        src.append(slice(padding[d], padding[d] + rows))
        dst.append(slice(0, rows))
    return tuple(src), tuple(dst)


def conv_transpose2d(
    input: Tensor,
    weight: Tensor,
    bias: Tensor | None = None,
    stride: Any = 1,
    padding: Any = 0,
    output_padding: Any = 0,
    groups: int = 1,
    dilation: Any = 1,
) -> Tensor:
    """Transposed convolution, NCHW, PyTorch's ``conv_transpose2d`` (the adjoint of conv2d).

    input (N, Cin, H, W), weight (Cin, Cout/groups, kh, kw), bias (Cout,) or None ->
    (N, Cout, Ho, Wo), Ho = (H - 1)·sh - 2·ph + dh·(kh - 1) + oph + 1 (likewise Wo);
    output_padding must be smaller than the stride or the dilation (PyTorch's rule):

        ypad[n, k·Cout/g + co, i·sh + a·dh, j·sw + b'·dw] += Σ_ci input[n, k·Cin/g + ci, i, j]
                                                            · weight[k·Cin/g + ci, co, a, b']
        y = ypad cropped by ph / pw at the start, + bias[co]

    Backward: dx = conv2d(dy, weight) with the same stride/padding/dilation/groups,
    dweight[ci, co, a, b'] = Σ_{n,i,j} input[n, ci, i, j] · dypad[n, co, i·sh + a·dh, ...],
    dbias = Σ_{n,i,j} dy.

    groups=1, dilation=1 (the fast path) is one call of the fused kernels. Otherwise see
    GroupedDilatedConvTranspose2d: the zero-stuffed kernel costs ≈ ((kh-1)·dh+1)·((kw-1)·dw+1)
    / (kh·kw) times the multiply-adds, each group is one kernel call on contiguous channel
    slices, and the output is computed on the uncropped canvas and copied once.
    """
    op = "conv_transpose2d"
    _check_inputs(op, input, weight, bias)
    stride = int_pair(stride, op, "stride")
    padding = int_pair(padding, op, "padding")
    output_padding = int_pair(output_padding, op, "output_padding")
    dilation = int_pair(dilation, op, "dilation", minimum=1)
    groups = _int_arg(groups, op, "groups", 1)
    if input.ndim != 4 or weight.ndim != 4 or input.shape[1] != weight.shape[0]:
        raise ValueError(
            f"conv_transpose2d: expected input (N, Cin, H, W) and weight (Cin, Cout/groups, kh, "
            f"kw) with the same Cin, got input.shape={input.shape}, weight.shape={weight.shape}"
        )
    n_out = weight.shape[1] * groups
    if bias is not None and bias.shape != (n_out,):
        raise ValueError(
            f"conv_transpose2d: bias must have shape ({n_out},) (Cout = weight.shape[1]·groups), "
            f"got {bias.shape}"
        )
    if groups == 1 and dilation == (1, 1):
        inputs = (input, weight) if bias is None else (input, weight, bias)
        return ConvTranspose2d.apply(
            *inputs, stride=stride, padding=padding, output_padding=output_padding
        )
    if input.shape[1] % groups:
        raise ValueError(
            f"conv_transpose2d: groups={groups} must divide the input channels "
            f"({input.shape[1]}) (input.shape={input.shape}, weight.shape={weight.shape})"
        )
    if min(stride) < 1 or min(padding) < 0 or min(output_padding) < 0:
        raise ValueError(
            f"conv_transpose2d: expected stride >= 1, padding >= 0 and output_padding >= 0, got "
            f"stride={stride}, padding={padding}, output_padding={output_padding}"
        )
    out_hw = []
    for d in range(2):
        if output_padding[d] >= max(stride[d], dilation[d]):
            raise ValueError(
                f"conv_transpose2d: output_padding={output_padding} must be smaller than the "
                f"stride ({stride}) or the dilation ({dilation}) in each dim"
            )
        span = (weight.shape[2 + d] - 1) * dilation[d] + 1
        out_hw.append(
            (input.shape[2 + d] - 1) * stride[d] - 2 * padding[d] + span + output_padding[d]
        )
    if min(out_hw) < 1 or min(input.shape[2:]) < 1:
        raise ValueError(
            f"conv_transpose2d: output size {out_hw[0]}x{out_hw[1]} is empty (input.shape="
            f"{input.shape}, weight.shape={weight.shape}, stride={stride}, padding={padding}, "
            f"output_padding={output_padding}, dilation={dilation})"
        )
    inputs = (input, weight) if bias is None else (input, weight, bias)
    return GroupedDilatedConvTranspose2d.apply(
        *inputs,
        stride=stride,
        padding=padding,
        output_padding=output_padding,
        dilation=dilation,
        groups=groups,
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

    dL/dx = (σ(x) - t)/N for the mean (N elements; /1 for the sum), computed in the same
    pass as L. Per element l = softplus(x) - t·x, so dL/dt = -x/N (mean) or -x (sum): the
    targets get that gradient when they are a second input that requires grad (PyTorch
    differentiates the target too); constant targets arrive as the `targets` array.
    """

    @staticmethod
    def forward(ctx: Context, logits: Any, targets: Any = None, reduction: str = "mean") -> Any:
        loss, dlogits = _k("sigmoid_bce_forward_backward", logits)(logits, targets, reduction)
        ctx.save_for_backward(dlogits)
        if len(ctx.needs_input_grad) > 1 and ctx.needs_input_grad[1]:
            ctx.neg_logits_scaled = -logits / (logits.size if reduction == "mean" else 1)
        return loss

    @staticmethod
    def backward(ctx: Context, g: Any) -> Any:
        (dlogits,) = ctx.saved
        dx = dlogits * g if ctx.needs_input_grad[0] else None
        if len(ctx.needs_input_grad) == 1:
            return dx
        dt = ctx.neg_logits_scaled * g if ctx.needs_input_grad[1] else None
        return dx, dt


def binary_cross_entropy_with_logits(
    logits: Tensor, targets: Any, reduction: str = "mean"
) -> Tensor:
    """Fused, numerically stable sigmoid + binary cross-entropy (mean or sum over all elements).

    Forward and dL/dlogits: see SigmoidBCE. A target tensor that requires grad receives
    dL/dt = -logits (/N for the mean), as in PyTorch.
    """
    _check_inputs("binary_cross_entropy_with_logits", logits)
    if reduction not in ("mean", "sum"):
        raise ValueError(
            "binary_cross_entropy_with_logits: reduction must be 'mean' or 'sum', "
            f"got {reduction!r}"
        )
    if not isinstance(targets, Tensor):
        check_not_complex("binary_cross_entropy_with_logits", targets)
        targets = Tensor(targets, dtype=logits.dtype, device=logits.device)
    check_same_device("binary_cross_entropy_with_logits", logits, targets)
    if targets.shape != logits.shape:
        raise ValueError(
            f"binary_cross_entropy_with_logits: targets shape {targets.shape} must equal logits "
            f"shape {logits.shape} (no broadcasting)"
        )
    if targets.requires_grad:
        return SigmoidBCE.apply(logits, targets.to(dtype=logits.dtype), reduction=reduction)
    t = targets.data if targets.dtype == logits.dtype else targets.data.astype(logits.dtype)
    return SigmoidBCE.apply(logits, targets=t, reduction=reduction)
