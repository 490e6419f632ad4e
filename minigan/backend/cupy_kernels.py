# CuPy kernels: the GPU fallback of the kernel contract (see KERNEL_FUNCTIONS in
# minigan/backend/__init__.py), used on "cuda" when the compiled extension minigan._C is
# absent or MINIGAN_BACKEND=cupy. Same function names, signatures, shapes, in-place rules
# and error messages as numpy_ref, which holds the math; arrays are CuPy arrays (float32
# or float64), results stay on the GPU (nothing is copied to the host).
#
# What runs where:
#   GEMMs            cupy.matmul (cuBLAS), true float32 (no TF32 unless CUPY_TF32=1).
#   linear_act       GEMM, then ONE ElementwiseKernel adds the bias and applies the
#                    activation in place; backward: ONE ElementwiseKernel turns dy and the
#                    saved output y into dz = dy * act'(y), then two GEMMs and a column sum.
#   conv2d           im2col as a strided view (as_strided, copied once into the patch
#                    matrix (C*kh*kw, N*Ho*Wo)), then one GEMM for the whole batch; the
#                    bias add is fused into the copy that puts the result back into NCHW.
#                    dx: one GEMM, then col2im as kh*kw strided slice adds (a loop over
#                    kernel taps, never over pixels; no atomics); dw: one GEMM.
#   conv_transpose2d the adjoint of conv2d: forward = conv2d's dx path, dx = conv2d
#                    forward of dy, dw = conv2d's dw with the roles of x and dy swapped.
#   batchnorm        per-channel sums by cupy / ReductionKernel (sum (x-mean)^2 and
#                    sum dy*xhat without materialising the products), the normalisation
#                    and the training dx each ONE ElementwiseKernel.
#   activation       ONE ElementwiseKernel forward (the registry's snippet) and ONE
#                    backward (dx = dy * act'(y)), any shape.
#   sigmoid_bce      ONE ElementwiseKernel gives the per-element loss and the gradient
#                    (the stable exp(-|x|) form), then one sum for the loss.
#   adam             ONE ElementwiseKernel per parameter: weight decay, both moments and
#                    the parameter update in a single read/write pass, in place.
#
# cupy comes from minigan.backend.devices (None when it does not import): this module imports
# without it, and unavailable_reason() (the devices probe's reason) tells the dispatcher why
# it cannot be used.
"""CuPy implementation of the kernel contract (the GPU fallback).

Every function mirrors the function of the same name in
:mod:`minigan.backend.numpy_ref`: read that module for the math of forward and
backward; the docstrings here only say what is fused into one GPU kernel and why.

Fusion is used where it removes whole passes over memory: an elementwise epilogue
(bias + activation, activation gradient, batchnorm normalise, BCE loss + gradient,
the Adam update) becomes a single ``cupy.ElementwiseKernel`` that reads its inputs
once and writes its outputs once, instead of one CuPy call (one full read and write)
per arithmetic step. Matrix products go to cuBLAS through ``cupy.matmul``.

Validation (shapes, strides, activation names, ...) is :mod:`minigan.backend.checks`,
shared with numpy_ref, so error messages are identical on both devices.
"""

from __future__ import annotations

import functools
import math
from collections.abc import Sequence
from typing import Any

from . import activations, checks, devices
from .activations import Activation
from .checks import ACTIVATIONS, IntPair

cp = devices.imported_cupy()  # None without CuPy; the kernels run only when the probe is happy

__all__ = [
    "ACTIVATIONS",
    "activation_backward",
    "activation_forward",
    "adam_step",
    "batchnorm_backward",
    "batchnorm_forward",
    "conv2d_backward",
    "conv2d_forward",
    "conv_transpose2d_backward",
    "conv_transpose2d_forward",
    "linear_act_backward",
    "linear_act_forward",
    "sigmoid_bce_forward_backward",
    "unavailable_reason",
]


def unavailable_reason() -> str:
    """The empty string when CuPy imports and sees a usable CUDA GPU, else why not (the
    reason of minigan.backend.devices.probe)."""
    return devices.cuda_unavailable_reason()


# ----------------------------------------------------------------------------------
# The fused elementwise / reduction kernels, built on first use (cupy may be absent).
# In the kernel bodies T is the array dtype (float or double), input names are const
# references to the current element, output names are writable references, and scalar
# arguments declared "T" arrive already converted to T. exp(-|z|) is written as
# exp(z >= 0 ? -z : z) so that no overflow is possible (it is <= 1).
# ----------------------------------------------------------------------------------

# The activation bodies (y = act(z) and dz = dy * act'(z) read off the saved output y) are
# the CUDA C snippets of the activation registry, minigan.backend.activations.


@functools.cache
def _act_forward_kernel(act: str, has_bias: bool) -> Any:
    """In place on the GEMM output y (N, M): y = act(y + b), b (M,) broadcast over rows."""
    z = "y + b" if has_bias else "y"
    in_params = "T b, T slope" if has_bias else "T slope"
    body = f"T z = {z};\n{activations.BY_NAME[act].cupy_forward}"
    suffix = "bias_" if has_bias else ""
    return cp.ElementwiseKernel(in_params, "T y", body, f"minigan_linear_{suffix}{act}_fwd")


@functools.cache
def _act_backward_kernel(act: str) -> Any:
    """dz = dy * act'(y) in one pass (a new array)."""
    return cp.ElementwiseKernel(
        "T dy, T y, T slope",
        "T dz",
        activations.BY_NAME[act].cupy_backward,
        f"minigan_linear_{act}_bwd",
    )


@functools.cache
def _activation_kernel(act: str) -> Any:
    """y = act(z) into a new array, any shape (the registry's CUDA C snippet)."""
    return cp.ElementwiseKernel(
        "T z, T slope", "T y", activations.BY_NAME[act].cupy_forward, f"minigan_{act}_fwd"
    )


@functools.cache
def _add_bias_kernel() -> Any:
    """out = y + b: the copy of a (strided) GEMM result into NCHW with the bias added."""
    return cp.ElementwiseKernel("T y, T b", "T out", "out = y + b;", "minigan_add_bias")


@functools.cache
def _bce_kernel() -> Any:
    """Per element: loss = max(x,0) - x*t + log1p(exp(-|x|)), grad = (sigmoid(x) - t) / n_div."""
    return cp.ElementwiseKernel(
        "T x, T t, T n_div",
        "T loss, T grad",
        """
        T e = exp(x >= (T)0 ? -x : x);
        loss = (x > (T)0 ? x : (T)0) - x * t + log1p(e);
        grad = ((x >= (T)0 ? (T)1 : e) / ((T)1 + e) - t) / n_div;
        """,
        "minigan_sigmoid_bce_fwd_bwd",
    )


@functools.cache
def _adam_kernel() -> Any:
    """The whole Adam update of one parameter, in place on p, m, v (see numpy_ref)."""
    return cp.ElementwiseKernel(
        "T g, T beta1, T beta2, T one_minus_beta1, T one_minus_beta2, T weight_decay, "
        "T step_size, T inv_sqrt_bc2, T eps",
        "T p, T m, T v",
        """
        T gg = g + weight_decay * p;
        m = beta1 * m + one_minus_beta1 * gg;
        v = beta2 * v + one_minus_beta2 * (gg * gg);
        p -= (m / (sqrt(v) * inv_sqrt_bc2 + eps)) * step_size;
        """,
        "minigan_adam",
    )


@functools.cache
def _bn_normalize_kernel() -> Any:
    """y = (x - mean) * invstd * gamma + beta (per-channel vectors broadcast)."""
    return cp.ElementwiseKernel(
        "T x, T mean, T invstd, T gamma, T beta",
        "T y",
        "y = (x - mean) * invstd * gamma + beta;",
        "minigan_bn_normalize",
    )


@functools.cache
def _bn_backward_kernel() -> Any:
    """Training dx = (n*dy - sum_dy - xhat*sum_dy_xhat) * (scale/n), xhat recomputed."""
    return cp.ElementwiseKernel(
        "T dy, T x, T mean, T invstd, T sum_dy, T sum_dy_xhat, T scale_over_n, T n",
        "T dx",
        """
        T xhat = (x - mean) * invstd;
        dx = (n * dy - sum_dy - xhat * sum_dy_xhat) * scale_over_n;
        """,
        "minigan_bn_backward",
    )


@functools.cache
def _sq_dev_sum_kernel() -> Any:
    """Per channel: sum (x - mean)^2 (the biased variance times n), no temporary array."""
    return cp.ReductionKernel(
        "T x, T mean",
        "T s",
        "(x - mean) * (x - mean)",
        "a + b",
        "s = a",
        "0",
        "minigan_bn_sq_dev_sum",
    )


@functools.cache
def _dy_xhat_sum_kernel() -> Any:
    """Per channel: sum dy * xhat with xhat = (x - mean) * invstd, no temporary array."""
    return cp.ReductionKernel(
        "T dy, T x, T mean, T invstd",
        "T s",
        "dy * ((x - mean) * invstd)",
        "a + b",
        "s = a",
        "0",
        "minigan_bn_dy_xhat_sum",
    )


# ----------------------------------------------------------------------------------
# Linear + activation
# ----------------------------------------------------------------------------------


def linear_act_forward(
    x: Any, w: Any, b: Any | None, act: str | Activation = "none", slope: float = 0.01
) -> Any:
    """y = act(x @ w.T + b) (see numpy_ref.linear_act_forward).

    One cuBLAS GEMM, then one fused elementwise kernel for bias + activation, in place
    on the GEMM output (skipped for act "none" without bias).
    """
    name = checks.linear_act_forward_args(x, w, b, act, slope).name
    y = cp.matmul(x, w.T)
    if b is not None:
        _act_forward_kernel(name, True)(b.astype(y.dtype, copy=False), slope, y)
    elif name != "none":
        _act_forward_kernel(name, False)(slope, y)
    return y


def linear_act_backward(
    dy: Any,
    x: Any,
    w: Any,
    y: Any,
    act: str | Activation = "none",
    slope: float = 0.01,
    need_dx: bool = True,
    need_dw: bool = True,
    need_db: bool = True,
) -> tuple[Any | None, Any | None, Any | None]:
    """Gradients of linear_act_forward (see numpy_ref.linear_act_backward).

    dz = dy * act'(y) is one fused elementwise pass reading dy and the saved output y;
    then dx = dz @ w and dw = dz.T @ x are cuBLAS GEMMs and db a column sum.
    """
    name = checks.linear_act_backward_args(dy, x, w, y, act, slope).name
    if name == "none":
        dz = dy
    else:
        dz = _act_backward_kernel(name)(dy, y.astype(dy.dtype, copy=False), slope)
    dx = cp.matmul(dz, w) if need_dx else None
    dw = cp.matmul(dz.T, x) if need_dw else None
    db = dz.sum(axis=0) if need_db else None
    return dx, dw, db


# ----------------------------------------------------------------------------------
# Convolution (im2col / col2im + cuBLAS)
# ----------------------------------------------------------------------------------


def _pad_hw(x: Any, ph: int, pw: int) -> Any:
    """Zero-pad the last two axes of a 4-D array by ph rows / pw columns per side (a new
    C-contiguous array, or x itself made contiguous when there is no padding)."""
    if ph == 0 and pw == 0:
        return cp.ascontiguousarray(x)
    n, c, h, w = x.shape
    xp = cp.zeros((n, c, h + 2 * ph, w + 2 * pw), dtype=x.dtype)
    xp[:, :, ph : ph + h, pw : pw + w] = x
    return xp


def _im2col(
    x: Any, kh: int, kw: int, stride: tuple[int, int], padding: tuple[int, int]
) -> tuple[Any, tuple[int, int]]:
    """cols[(c, a, b), (n, i, j)] = xpad[n, c, i*sh + a, j*sw + b].

    Returns the patch matrix (C*kh*kw, N*Ho*Wo) and (Ho, Wo). The windows are a strided
    view of the padded input, in exactly the target axis order (C, kh, kw, N, Ho, Wo), so
    one contiguous copy builds the matrix that a single GEMM then consumes for the whole
    batch.
    """
    n, c = x.shape[:2]
    xp = _pad_hw(x, *padding)
    hp, wp = xp.shape[2:]
    sh, sw = stride
    ho, wo = (hp - kh) // sh + 1, (wp - kw) // sw + 1
    s_n, s_c, s_h, s_w = xp.strides  # in bytes, like NumPy
    win = cp.lib.stride_tricks.as_strided(
        xp,
        shape=(c, kh, kw, n, ho, wo),
        strides=(s_c, s_h, s_w, s_n, s_h * sh, s_w * sw),
    )
    return cp.ascontiguousarray(win).reshape(c * kh * kw, n * ho * wo), (ho, wo)


def _channels_first(a: Any) -> Any:
    """(N, C, H, W) -> the contiguous matrix (C, N*H*W)."""
    return cp.ascontiguousarray(a.transpose(1, 0, 2, 3)).reshape(a.shape[1], -1)


def _conv2d_core(
    x: Any, w: Any, stride: tuple[int, int], padding: tuple[int, int], b: Any | None = None
) -> Any:
    """y[n, o, i, j] = b[o] + sum_{c,a,b'} w[o, c, a, b'] * xpad[n, c, i*sh + a, j*sw + b'].

    One GEMM (O, C*kh*kw) @ (C*kh*kw, N*Ho*Wo); its (O, N, Ho, Wo) result is copied back
    to (N, O, Ho, Wo), with the bias added in that same copy.
    """
    n = x.shape[0]
    o, _, kh, kw = w.shape
    cols, (ho, wo) = _im2col(x, kh, kw, stride, padding)
    y = cp.matmul(w.reshape(o, -1), cols).reshape(o, n, ho, wo).transpose(1, 0, 2, 3)
    if b is None:
        return cp.ascontiguousarray(y)
    out = cp.empty((n, o, ho, wo), dtype=y.dtype)
    _add_bias_kernel()(y, b.astype(y.dtype, copy=False).reshape(-1, 1, 1), out)
    return out


def _conv2d_input_grad(
    dy: Any,
    w: Any,
    in_hw: tuple[int, int],
    stride: tuple[int, int],
    padding: tuple[int, int],
) -> Any:
    """dx of conv2d for an input of spatial size in_hw (col2im of w^T dy).

    dcols[(c, a, b'), (n, i, j)] = sum_o w[o, c, a, b'] * dy[n, o, i, j] is one GEMM; then
    dxpad[n, c, i*sh + a, j*sw + b'] += dcols[c, a, b', n, i, j], one strided slice add
    per kernel tap (a, b') into a (C, N, Hp, Wp) buffer (each tap's block is contiguous
    there; the taps run one after another, so no atomics are needed). The padding is cut
    off and the result copied back to (N, C, H, W).
    """
    n, o, ho, wo = dy.shape
    _, c, kh, kw = w.shape
    (h, wd), (sh, sw), (ph, pw) = in_hw, stride, padding
    dcols = cp.matmul(w.reshape(o, c * kh * kw).T, _channels_first(dy))
    dcols = dcols.reshape(c, kh, kw, n, ho, wo)
    dxp = cp.zeros((c, n, h + 2 * ph, wd + 2 * pw), dtype=dcols.dtype)
    for a in range(kh):  # loop over kernel taps only, never over pixels
        rows = slice(a, a + sh * (ho - 1) + 1, sh)  # the Ho rows that tap row a touches
        for b in range(kw):
            cols = slice(b, b + sw * (wo - 1) + 1, sw)
            tap = dxp[:, :, rows, cols]  # a view: the += below writes into dxp
            tap += dcols[:, a, b]
    return cp.ascontiguousarray(dxp[:, :, ph : ph + h, pw : pw + wd].transpose(1, 0, 2, 3))


def _conv2d_weight_grad(
    dy: Any, x: Any, kh: int, kw: int, stride: tuple[int, int], padding: tuple[int, int]
) -> Any:
    """dw[o, c, a, b'] = sum_{n,i,j} dy[n, o, i, j] * xpad[n, c, i*sh + a, j*sw + b'].

    One GEMM (O, N*Ho*Wo) @ (N*Ho*Wo, C*kh*kw) with x's patch matrix.
    """
    o, c = dy.shape[1], x.shape[1]
    cols, _ = _im2col(x, kh, kw, stride, padding)
    return cp.matmul(_channels_first(dy), cols.T).reshape(o, c, kh, kw)


def conv2d_forward(
    x: Any,
    w: Any,
    b: Any | None,
    stride: IntPair = (1, 1),
    padding: IntPair = (0, 0),
) -> Any:
    """2-D convolution (see numpy_ref.conv2d_forward).

    im2col (one strided copy) + one cuBLAS GEMM for the whole batch; the bias add is
    fused into the copy back to NCHW.
    """
    stride, padding = checks.conv2d_forward_args(x, w, b, stride, padding)
    return _conv2d_core(x, w, stride, padding, b)


def conv2d_backward(
    dy: Any,
    x: Any,
    w: Any,
    stride: IntPair = (1, 1),
    padding: IntPair = (0, 0),
    need_dx: bool = True,
    need_dw: bool = True,
    need_db: bool = True,
) -> tuple[Any | None, Any | None, Any | None]:
    """Gradients of conv2d_forward (see numpy_ref.conv2d_backward).

    dx: one GEMM + col2im (kh*kw strided adds); dw: one GEMM against x's patch matrix;
    db: a sum over (N, Ho, Wo).
    """
    stride, padding = checks.conv2d_backward_args(dy, x, w, stride, padding)
    kh, kw = w.shape[2:]
    dx = _conv2d_input_grad(dy, w, x.shape[2:], stride, padding) if need_dx else None
    dw = _conv2d_weight_grad(dy, x, kh, kw, stride, padding) if need_dw else None
    db = dy.sum(axis=(0, 2, 3)) if need_db else None
    return dx, dw, db


def conv_transpose2d_forward(
    x: Any,
    w: Any,
    b: Any | None,
    stride: IntPair = (1, 1),
    padding: IntPair = (0, 0),
    output_padding: IntPair = (0, 0),
) -> Any:
    """Transposed 2-D convolution (see numpy_ref.conv_transpose2d_forward).

    The adjoint of conv2d: conv2d's input-gradient path (one GEMM + col2im) applied to
    x, into an output of size (H-1)*s - 2p + k + output_padding; then the bias.
    """
    stride, padding, _, out_hw = checks.conv_transpose2d_forward_args(
        x, w, b, stride, padding, output_padding
    )
    y = _conv2d_input_grad(x, w, out_hw, stride, padding)
    if b is not None:
        y += b.astype(y.dtype, copy=False).reshape(-1, 1, 1)
    return y


def conv_transpose2d_backward(
    dy: Any,
    x: Any,
    w: Any,
    stride: IntPair,
    padding: IntPair,
    output_padding: IntPair,
    need_dx: bool = True,
    need_dw: bool = True,
    need_db: bool = True,
) -> tuple[Any | None, Any | None, Any | None]:
    """Gradients of conv_transpose2d_forward (see numpy_ref.conv_transpose2d_backward).

    dx = conv2d forward of dy (im2col + one GEMM); dw = conv2d's weight gradient with x
    as the "output gradient" and dy as the "input" (one GEMM); db a sum.
    """
    stride, padding, _, _ = checks.conv_transpose2d_backward_args(
        dy, x, w, stride, padding, output_padding
    )
    kh, kw = w.shape[2:]
    dx = _conv2d_core(dy, w, stride, padding) if need_dx else None
    dw = _conv2d_weight_grad(x, dy, kh, kw, stride, padding) if need_dw else None
    db = dy.sum(axis=(0, 2, 3)) if need_db else None
    return dx, dw, db


# ----------------------------------------------------------------------------------
# Batch normalisation
# ----------------------------------------------------------------------------------


def batchnorm_forward(
    x: Any,
    gamma: Any | None,
    beta: Any | None,
    running_mean: Any | None,
    running_var: Any | None,
    training: bool,
    momentum: float = 0.1,
    eps: float = 1e-5,
) -> tuple[Any, Any, Any]:
    """Batch normalisation over channel axis 1 (see numpy_ref.batchnorm_forward).

    Training: the mean by a cupy sum, the variance by one ReductionKernel summing
    (x - mean)^2 (no temporary array); running statistics updated in place with the
    unbiased factor n/(n-1). The normalisation y = (x - mean)*invstd*gamma + beta is one
    fused elementwise pass. Returns (y, mean, invstd), mean and invstd of shape (C,).
    """
    axes, bshape, n = checks.batchnorm_forward_args(
        x, gamma, beta, running_mean, running_var, training
    )
    if training:
        mean = x.mean(axis=axes)
        var = _sq_dev_sum_kernel()(x, mean.reshape(bshape), axis=axes) / n
        invstd = 1 / cp.sqrt(var + eps)
        if running_mean is not None and running_var is not None:
            running_mean *= 1 - momentum
            running_mean += momentum * mean
            running_var *= 1 - momentum
            running_var += (momentum * n / (n - 1)) * var
    else:
        mean = running_mean.astype(x.dtype, copy=True)
        invstd = (1 / cp.sqrt(running_var + eps)).astype(x.dtype, copy=False)
    g = 1.0 if gamma is None else gamma.astype(x.dtype, copy=False).reshape(bshape)
    bt = 0.0 if beta is None else beta.astype(x.dtype, copy=False).reshape(bshape)
    y = _bn_normalize_kernel()(x, mean.reshape(bshape), invstd.reshape(bshape), g, bt)
    return y, mean, invstd


def batchnorm_backward(
    dy: Any,
    x: Any,
    gamma: Any | None,
    mean: Any,
    invstd: Any,
    training: bool,
    need_dx: bool = True,
    need_dgamma: bool = True,
    need_dbeta: bool = True,
) -> tuple[Any | None, Any | None, Any | None]:
    """Gradients of batchnorm_forward (see numpy_ref.batchnorm_backward).

    The two per-channel reductions: sum dy (cupy) and sum dy*xhat (one ReductionKernel
    that recomputes xhat on the fly); then the training dx is one fused elementwise
    pass (xhat recomputed again rather than stored). Eval dx is dy * gamma * invstd.
    """
    axes, bshape, n = checks.batchnorm_backward_args(dy, x, gamma, mean, invstd)
    if gamma is None:
        need_dgamma = need_dbeta = False
    mean = mean.astype(x.dtype, copy=False)
    invstd = invstd.astype(x.dtype, copy=False)
    scale = invstd if gamma is None else gamma.astype(x.dtype, copy=False) * invstd  # (C,)

    sum_dy = dy.sum(axis=axes) if (need_dbeta or (need_dx and training)) else None
    sum_dy_xhat = None
    if need_dgamma or (need_dx and training):
        sum_dy_xhat = _dy_xhat_sum_kernel()(
            dy, x, mean.reshape(bshape), invstd.reshape(bshape), axis=axes
        )

    dx = None
    if need_dx and not training:
        dx = dy * scale.reshape(bshape)
    elif need_dx:
        dx = _bn_backward_kernel()(
            dy,
            x,
            mean.reshape(bshape),
            invstd.reshape(bshape),
            sum_dy.reshape(bshape),
            sum_dy_xhat.reshape(bshape),
            (scale / n).reshape(bshape),
            n,
        )
    dgamma = sum_dy_xhat if need_dgamma else None
    dbeta = sum_dy if need_dbeta else None
    return dx, dgamma, dbeta


# ----------------------------------------------------------------------------------
# A standalone activation
# ----------------------------------------------------------------------------------


def activation_forward(x: Any, act: str | Activation = "none", slope: float = 0.01) -> Any:
    """y = act(x), any shape (see numpy_ref.activation_forward): one elementwise kernel."""
    name = checks.activation_forward_args(x, act, slope).name
    if name == "none":
        return x.copy()
    return _activation_kernel(name)(x, x.dtype.type(slope))


def activation_backward(
    dy: Any, y: Any, act: str | Activation = "none", slope: float = 0.01
) -> Any:
    """dx = dy * act'(x) read off y (see numpy_ref.activation_backward): one elementwise
    kernel reading dy and y once (the same kernel as linear_act_backward's dz)."""
    name = checks.activation_backward_args(dy, y, act, slope).name
    if name == "none":
        return dy.copy()
    return _act_backward_kernel(name)(dy, y.astype(dy.dtype, copy=False), dy.dtype.type(slope))


# ----------------------------------------------------------------------------------
# Loss
# ----------------------------------------------------------------------------------


def sigmoid_bce_forward_backward(
    logits: Any, targets: Any, reduction: str = "mean"
) -> tuple[Any, Any]:
    """Binary cross-entropy on logits, loss and gradient at once
    (see numpy_ref.sigmoid_bce_forward_backward).

    One fused elementwise kernel reads each logit and target once and writes the
    per-element loss and dlogits = (sigmoid(x) - t) / N (N = 1 for "sum"), both from
    e = exp(-|x|) <= 1 (finite for logits like +-1e4); one sum then reduces the loss.
    Returns (loss, dlogits) with loss a 0-d array on the GPU (no host copy).
    """
    checks.sigmoid_bce_args(logits, targets, reduction)
    x = logits
    t = cp.asarray(targets, dtype=x.dtype)
    n_div = x.size if reduction == "mean" else 1
    losses, grad = _bce_kernel()(x, t, n_div)
    total = losses.sum()
    if reduction == "mean":
        total = total / x.dtype.type(x.size)
    return total, grad


# ----------------------------------------------------------------------------------
# Optimiser
# ----------------------------------------------------------------------------------


def adam_step(
    params: Sequence[Any],
    grads: Sequence[Any | None],
    exp_avgs: Sequence[Any],
    exp_avg_sqs: Sequence[Any],
    step: int,
    lr: float = 1e-3,
    beta1: float = 0.9,
    beta2: float = 0.999,
    eps: float = 1e-8,
    weight_decay: float = 0.0,
) -> None:
    """One Adam update, IN PLACE on params, exp_avgs, exp_avg_sqs (see numpy_ref.adam_step).

    One fused elementwise kernel per parameter reads p, g, m, v once and writes p, m, v
    once (weight decay, both moments, bias corrections and the update together), with
    no scratch buffer. All shapes are checked before anything is updated. Grads are not
    modified; a grad of None skips its parameter.
    """
    checks.adam_step_args(params, grads, exp_avgs, exp_avg_sqs, step)
    bias_c1 = 1 - beta1**step
    bias_c2 = 1 - beta2**step
    step_size = lr / bias_c1
    inv_sqrt_bc2 = 1 / math.sqrt(bias_c2)
    kernel = _adam_kernel()
    for p, g, m, v in zip(params, grads, exp_avgs, exp_avg_sqs):
        if g is None:
            continue
        kernel(
            g.astype(p.dtype, copy=False),
            beta1,
            beta2,
            1 - beta1,
            1 - beta2,
            weight_decay,
            step_size,
            inv_sqrt_bc2,
            eps,
            p,
            m,
            v,
        )
