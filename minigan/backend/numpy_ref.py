# NumPy reference kernels: forward and backward of every fused kernel family of the
# contract (linear + activation, conv2d, conv_transpose2d, batchnorm, activation,
# sigmoid-BCE) and one Adam step. Plain vectorised NumPy; the oracle every other
# implementation is tested against, and the cpu path for float64.
"""NumPy reference kernels ("the oracle").

Every kernel here is a plain function on NumPy arrays. It computes in the dtype of its
inputs (float32 for training, float64 for gradient checks). Each starts with one call
into :mod:`minigan.backend.checks`, which validates the arguments (raising ``ValueError``
messages that name the op, the shapes and what was expected) and returns the normalised
values the math needs; the same checks are shared by every implementation.

What it is used for today: it is the *oracle* that every other implementation of the
kernel contract (``numba_cpu``/``numba_conv`` on the CPU, the compiled CUDA extension
``cuda_ext`` and its emulated twin ``emu_ext``, the CuPy fallback ``cupy_kernels``) is
tested against, and it runs the fused ops on the CPU for float64 arrays (gradient
checks; the numba kernels are float32-only) and whenever ``MINIGAN_BACKEND=numpy``
forces it. Training in float32 on the CPU runs the numba kernels, not this file (see
``minigan.backend`` and ``backend_info()``). It is therefore written to be read first
and fast second (vectorised, im2col convolutions, few temporaries).

Contents
--------
``ACTIVATIONS``
    The activation names accepted by the ``linear_act`` kernels (the registry of
    :mod:`minigan.backend.activations`, which also holds their NumPy forward and gradient).
``linear_act_forward`` / ``linear_act_backward``
    ``y = act(x @ w.T + b)`` (PyTorch ``Linear`` weight layout ``(out, in)``).
``conv2d_forward`` / ``conv2d_backward``
    2-D cross-correlation with zero padding and stride (PyTorch ``Conv2d``).
``conv_transpose2d_forward`` / ``conv_transpose2d_backward``
    The adjoint of ``conv2d`` (PyTorch ``ConvTranspose2d``).
``batchnorm_forward`` / ``batchnorm_backward``
    Batch normalisation per channel, training and eval mode, running statistics.
``update_running_stats``
    The running mean/variance update of batchnorm, shared with ``numba_cpu``.
``activation_forward`` / ``activation_backward``
    One activation of the registry on its own (relu, leaky_relu, tanh, sigmoid), any shape.
``sigmoid_bce_forward_backward``
    Numerically stable binary cross-entropy on logits, loss and gradient at once.
``adam_step``
    One in-place Adam update with PyTorch semantics (L2 weight decay).

Conventions: ``need_*`` flags on backward functions skip gradients nobody needs (the
corresponding entry of the returned tuple is ``None``).
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import numpy as np
from numpy.lib.stride_tricks import sliding_window_view

from . import checks
from .activations import Activation
from .checks import ACTIVATIONS, IntPair

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
    "update_running_stats",
]


# ----------------------------------------------------------------------------------
# Small helpers
# ----------------------------------------------------------------------------------


def _pad_hw(x: np.ndarray, ph: int, pw: int) -> np.ndarray:
    """Zero-pad the last two axes of a 4-D array by ph rows and pw columns per side."""
    if ph == 0 and pw == 0:
        return x
    n, c, h, w = x.shape
    xp = np.zeros((n, c, h + 2 * ph, w + 2 * pw), dtype=x.dtype)
    xp[:, :, ph : ph + h, pw : pw + w] = x
    return xp


def _windows(
    x: np.ndarray, kh: int, kw: int, stride: tuple[int, int], padding: tuple[int, int]
) -> np.ndarray:
    """im2col as a view: win[n, c, i, j, a, b] = xpad[n, c, i*sh + a, j*sw + b].

    Shape (N, C, Ho, Wo, kh, kw); no data is copied except the padding.
    """
    xp = _pad_hw(x, *padding)
    win = sliding_window_view(xp, (kh, kw), axis=(2, 3))
    return win[:, :, :: stride[0], :: stride[1]]


def _conv2d_core(
    x: np.ndarray, w: np.ndarray, stride: tuple[int, int], padding: tuple[int, int]
) -> np.ndarray:
    """y[n, o, i, j] = sum_{c,a,b} w[o, c, a, b] * xpad[n, c, i*sh + a, j*sw + b]."""
    n, c = x.shape[:2]
    o, _, kh, kw = w.shape
    win = _windows(x, kh, kw, stride, padding)
    ho, wo = win.shape[2:4]
    # cols is the (C*kh*kw, N*Ho*Wo) patch matrix of the whole batch (this is the one
    # copy), so the convolution is ONE large GEMM rather than N small ones (~4x faster).
    cols = win.transpose(1, 4, 5, 0, 2, 3).reshape(c * kh * kw, n * ho * wo)
    y = w.reshape(o, c * kh * kw) @ cols  # (O, N*Ho*Wo)
    return np.ascontiguousarray(y.reshape(o, n, ho, wo).transpose(1, 0, 2, 3))


def _conv2d_input_grad(
    dy: np.ndarray,
    w: np.ndarray,
    in_hw: tuple[int, int],
    stride: tuple[int, int],
    padding: tuple[int, int],
) -> np.ndarray:
    """dx of conv2d for an input of spatial size in_hw (col2im of w^T dy).

    dcols[c, a, b, n, i, j] = sum_o w[o, c, a, b] * dy[n, o, i, j] (one GEMM) is
    scattered back, dxpad[n, c, i*sh + a, j*sw + b] += dcols[c, a, b, n, i, j], with
    one strided slice add per kernel tap (a, b); then the padding is cut off.
    The buffer is laid out (C, N, H, W) so that each tap's block dcols[:, a, b] is
    read contiguously; the final crop copies it back to (N, C, H, W).
    """
    n, o, ho, wo = dy.shape
    _, c, kh, kw = w.shape
    (h, wd), (sh, sw), (ph, pw) = in_hw, stride, padding
    dcols = np.tensordot(w, dy, axes=([0], [1]))  # (C, kh, kw, N, Ho, Wo)
    dxp = np.zeros((c, n, h + 2 * ph, wd + 2 * pw), dtype=dcols.dtype)
    for a in range(kh):  # loop over kernel taps only, never over pixels
        rows = slice(a, a + sh * (ho - 1) + 1, sh)  # the Ho rows tap row a touches
        for b in range(kw):
            cols = slice(b, b + sw * (wo - 1) + 1, sw)
            dxp[:, :, rows, cols] += dcols[:, a, b]
    return np.ascontiguousarray(dxp[:, :, ph : ph + h, pw : pw + wd].transpose(1, 0, 2, 3))


def _conv2d_weight_grad(
    dy: np.ndarray,
    x: np.ndarray,
    kh: int,
    kw: int,
    stride: tuple[int, int],
    padding: tuple[int, int],
) -> np.ndarray:
    """dw[o, c, a, b] = sum_{n,i,j} dy[n, o, i, j] * xpad[n, c, i*sh + a, j*sw + b]."""
    win = _windows(x, kh, kw, stride, padding)
    return np.tensordot(dy, win, axes=([0, 2, 3], [0, 2, 3]))


# ----------------------------------------------------------------------------------
# Linear + activation
# ----------------------------------------------------------------------------------


def linear_act_forward(
    x: np.ndarray,
    w: np.ndarray,
    b: np.ndarray | None,
    act: str | Activation = "none",
    slope: float = 0.01,
) -> np.ndarray:
    """Fully connected layer followed by an activation.

    Forward::

        z = x @ w.T + b          x (N, K), w (M, K), b (M,) or None  ->  z (N, M)
        y = act(z)               act in ACTIVATIONS:
            none:       y = z
            relu:       y = max(z, 0)
            leaky_relu: y = z if z > 0 else slope * z      (slope >= 0)
            tanh:       y = tanh(z)
            sigmoid:    y = 1 / (1 + exp(-z))

    Backward (see ``linear_act_backward``): dz = dy * act'(z), dx = dz @ w,
    dw = dz.T @ x, db = sum_n dz.

    The activation is applied in place on the freshly computed z (its ``apply_`` in the
    registry, :mod:`minigan.backend.activations`; sigmoid in the overflow-free form), so
    the whole layer is one GEMM plus one or two elementwise passes. ``act`` is a name or
    a registry entry (an op that validated the name passes the entry).
    """
    activation = checks.linear_act_forward_args(x, w, b, act, slope)
    y = x @ w.T
    if b is not None:
        y += b
    return activation.apply_(y, slope)


def linear_act_backward(
    dy: np.ndarray,
    x: np.ndarray,
    w: np.ndarray,
    y: np.ndarray,
    act: str | Activation = "none",
    slope: float = 0.01,
    need_dx: bool = True,
    need_dw: bool = True,
    need_db: bool = True,
) -> tuple[np.ndarray | None, np.ndarray | None, np.ndarray | None]:
    """Gradients of ``y = act(x @ w.T + b)``.

    The activation derivative is read off the saved OUTPUT y (so z need not be kept)::

        none:       act'(z) = 1
        relu:       act'(z) = [y > 0]
        leaky_relu: act'(z) = 1 if y > 0 else slope     (valid because slope >= 0)
        tanh:       act'(z) = 1 - y**2
        sigmoid:    act'(z) = y * (1 - y)

    Then with dz = dy * act'(z) (shape (N, M))::

        dx = dz @ w        (N, K)
        dw = dz.T @ x      (M, K)
        db = sum_n dz      (M,)

    Returns ``(dx, dw, db)``; an entry is ``None`` when its ``need_*`` flag is False
    (pass ``need_db=False`` when the layer has no bias).
    """
    activation = checks.linear_act_backward_args(dy, x, w, y, act, slope)
    dz = activation.grad(dy, y, slope)  # dz = dy * act'(z), from the registry
    dx = dz @ w if need_dx else None
    dw = dz.T @ x if need_dw else None
    db = dz.sum(axis=0) if need_db else None
    return dx, dw, db


# ----------------------------------------------------------------------------------
# Convolution
# ----------------------------------------------------------------------------------


def conv2d_forward(
    x: np.ndarray,
    w: np.ndarray,
    b: np.ndarray | None,
    stride: IntPair = (1, 1),
    padding: IntPair = (0, 0),
) -> np.ndarray:
    """2-D convolution (cross-correlation, as in PyTorch ``Conv2d``).

    Shapes: x (N, C, H, W), w (O, C, kh, kw), b (O,) or None -> y (N, O, Ho, Wo) with
    Ho = (H + 2*ph - kh) // sh + 1 and Wo = (W + 2*pw - kw) // sw + 1. ``stride`` and
    ``padding`` are an int or a pair (rows, cols); padding is with zeros.

    Forward (xpad = x zero-padded by ph rows / pw columns on each side)::

        y[n, o, i, j] = b[o] + sum_{c, a, b'} w[o, c, a, b'] * xpad[n, c, i*sh + a, j*sw + b']

    Backward (see ``conv2d_backward``)::

        dxpad[n, c, i*sh + a, j*sw + b'] += sum_o w[o, c, a, b'] * dy[n, o, i, j]
        dw[o, c, a, b'] = sum_{n, i, j} dy[n, o, i, j] * xpad[n, c, i*sh + a, j*sw + b']
        db[o] = sum_{n, i, j} dy[n, o, i, j]

    Implemented as im2col (a strided window view, copied once into a patch matrix)
    followed by one matrix product per image.
    """
    stride, padding = checks.conv2d_forward_args(x, w, b, stride, padding)
    y = _conv2d_core(x, w, stride, padding)
    if b is not None:
        y += b.reshape(-1, 1, 1)
    return y


def conv2d_backward(
    dy: np.ndarray,
    x: np.ndarray,
    w: np.ndarray,
    stride: IntPair = (1, 1),
    padding: IntPair = (0, 0),
    need_dx: bool = True,
    need_dw: bool = True,
    need_db: bool = True,
) -> tuple[np.ndarray | None, np.ndarray | None, np.ndarray | None]:
    """Gradients of ``conv2d_forward`` for upstream gradient dy (N, O, Ho, Wo).

    Math (xpad / dxpad are the zero-padded input and its gradient)::

        dxpad[n, c, i*sh + a, j*sw + b'] += sum_o w[o, c, a, b'] * dy[n, o, i, j]
        dx = dxpad with the padding cut off                        (N, C, H, W)
        dw[o, c, a, b'] = sum_{n, i, j} dy[n, o, i, j] * xpad[n, c, i*sh + a, j*sw + b']
        db[o] = sum_{n, i, j} dy[n, o, i, j]

    dx is computed "col2im" style: one GEMM gives w^T dy for every kernel tap, then a
    loop over the kh*kw taps adds each into a strided slice of dxpad. Input pixels
    that no window reaches (when the stride does not divide evenly) get gradient 0.
    dx is also exactly ``conv_transpose2d_forward(dy, w, None, stride, padding, op)``
    with op chosen to reproduce H, W.

    Returns ``(dx, dw, db)``; entries are ``None`` when not needed.
    """
    stride, padding = checks.conv2d_backward_args(dy, x, w, stride, padding)
    kh, kw = w.shape[2:]
    dx = _conv2d_input_grad(dy, w, x.shape[2:], stride, padding) if need_dx else None
    dw = _conv2d_weight_grad(dy, x, kh, kw, stride, padding) if need_dw else None
    db = dy.sum(axis=(0, 2, 3)) if need_db else None
    return dx, dw, db


def conv_transpose2d_forward(
    x: np.ndarray,
    w: np.ndarray,
    b: np.ndarray | None,
    stride: IntPair = (1, 1),
    padding: IntPair = (0, 0),
    output_padding: IntPair = (0, 0),
) -> np.ndarray:
    """Transposed 2-D convolution (PyTorch ``ConvTranspose2d``, dilation 1, groups 1).

    Shapes: x (N, Cin, H, W), w (Cin, Cout, kh, kw), b (Cout,) or None ->
    y (N, Cout, Ho, Wo) with Ho = (H - 1)*sh - 2*ph + kh + oph (likewise Wo).
    With stride s, conv2d maps s different input heights to the same output height H;
    ``output_padding`` (oph, opw), which must be smaller than the stride, picks which of
    them this transpose produces (0 = the smallest).

    Forward, a scatter: each input pixel stamps a weighted copy of the kernel::

        ypad[n, co, i*sh + a, j*sw + b'] += sum_ci x[n, ci, i, j] * w[ci, co, a, b']
        y = ypad with ph rows / pw columns cut off each side, plus b[co]

    Relationship to conv2d: this is exactly the adjoint (transpose) of
    ``conv2d_forward`` with the same w (read as (O, C, kh, kw) = (Cin, Cout, kh, kw)),
    stride and padding. In other words, for bias None,
    ``conv_transpose2d_forward(x, w) == conv2d_backward(dy=x, x=<input of size Ho x Wo>,
    w)[0]``, so that <conv2d(u, w), x> == <u, conv_transpose2d(x, w)> for all u, x.

    Backward (see ``conv_transpose2d_backward``)::

        dx = conv2d_forward(dy, w, None, stride, padding)
        dw[ci, co, a, b'] = sum_{n, i, j} x[n, ci, i, j] * dypad[n, co, i*sh + a, j*sw + b']
        db[co] = sum_{n, i, j} dy[n, co, i, j]
    """
    stride, padding, _, out_hw = checks.conv_transpose2d_forward_args(
        x, w, b, stride, padding, output_padding
    )
    y = _conv2d_input_grad(x, w, out_hw, stride, padding)
    if b is not None:
        y += b.reshape(-1, 1, 1)
    return y


def conv_transpose2d_backward(
    dy: np.ndarray,
    x: np.ndarray,
    w: np.ndarray,
    stride: IntPair,
    padding: IntPair,
    output_padding: IntPair,
    need_dx: bool = True,
    need_dw: bool = True,
    need_db: bool = True,
) -> tuple[np.ndarray | None, np.ndarray | None, np.ndarray | None]:
    """Gradients of ``conv_transpose2d_forward`` for upstream gradient dy (N, Cout, Ho, Wo).

    Because the forward is the adjoint of conv2d, the roles swap (dypad = dy zero-padded
    by ph / pw on each side)::

        dx = conv2d_forward(dy, w, None, stride, padding)                   (N, Cin, H, W)
        dw[ci, co, a, b'] = sum_{n, i, j} x[n, ci, i, j] * dypad[n, co, i*sh + a, j*sw + b']
        db[co] = sum_{n, i, j} dy[n, co, i, j]

    (dw is conv2d's weight gradient with x as the "output gradient" and dy as the
    "input".) Returns ``(dx, dw, db)``; entries are ``None`` when not needed.
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


def update_running_stats(
    running_mean: np.ndarray,
    running_var: np.ndarray,
    mean: np.ndarray,
    var: np.ndarray,
    momentum: float,
    n: int,
) -> None:
    """IN PLACE: running_mean <- (1 - momentum) running_mean + momentum mean, and
    running_var <- (1 - momentum) running_var + momentum var n / (n - 1) (the unbiased
    variance of the n values per channel). Shared by the CPU implementations."""
    running_mean *= 1 - momentum
    running_mean += momentum * mean
    running_var *= 1 - momentum
    running_var += (momentum * n / (n - 1)) * var


def batchnorm_forward(
    x: np.ndarray,
    gamma: np.ndarray | None,
    beta: np.ndarray | None,
    running_mean: np.ndarray | None,
    running_var: np.ndarray | None,
    training: bool,
    momentum: float = 0.1,
    eps: float = 1e-5,
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Batch normalisation over channel axis 1 (x is (N, C) or (N, C, H, W)).

    Statistics are per channel c over the n = x.size / C elements of that channel.

    Training (batch statistics; var is the biased variance)::

        mean = (1/n) sum x                 var = (1/n) sum (x - mean)**2
        invstd = 1 / sqrt(var + eps)
        running_mean <- (1 - momentum) * running_mean + momentum * mean
        running_var  <- (1 - momentum) * running_var  + momentum * var * n / (n - 1)

    (running statistics are updated IN PLACE when given; n == 1 is an error, as in
    PyTorch.) Eval: mean = running_mean, invstd = 1 / sqrt(running_var + eps).

    Output, with gamma = 1 / beta = 0 when None::

        xhat = (x - mean) * invstd
        y = gamma * xhat + beta

    Returns ``(y, mean, invstd)``; mean and invstd have shape (C,) and are what
    ``batchnorm_backward`` needs. Backward, per channel (sums over the n elements)::

        dbeta = sum dy       dgamma = sum dy * xhat
        training: dx = gamma * invstd / n * (n * dy - sum dy - xhat * sum dy * xhat)
        eval:     dx = gamma * invstd * dy
    """
    axes, bshape, n = checks.batchnorm_forward_args(
        x, gamma, beta, running_mean, running_var, training
    )
    if training:
        mean = x.mean(axis=axes)
        y = x - mean.reshape(bshape)
        var = np.mean(np.square(y), axis=axes)
        invstd = 1 / np.sqrt(var + eps)
        if running_mean is not None and running_var is not None:
            update_running_stats(running_mean, running_var, mean, var, momentum, n)
    else:
        mean = running_mean.astype(x.dtype, copy=True)
        invstd = (1 / np.sqrt(running_var + eps)).astype(x.dtype, copy=False)
        y = x - mean.reshape(bshape)
    y *= invstd.reshape(bshape)
    if gamma is not None:
        y *= gamma.reshape(bshape)
    if beta is not None:
        y += beta.reshape(bshape)
    return y, mean, invstd


def batchnorm_backward(
    dy: np.ndarray,
    x: np.ndarray,
    gamma: np.ndarray | None,
    mean: np.ndarray,
    invstd: np.ndarray,
    training: bool,
    need_dx: bool = True,
    need_dgamma: bool = True,
    need_dbeta: bool = True,
) -> tuple[np.ndarray | None, np.ndarray | None, np.ndarray | None]:
    """Gradients of ``batchnorm_forward`` given its saved mean and invstd (shape (C,)).

    Per channel, with xhat = (x - mean) * invstd and sums over the n elements::

        dbeta  = sum dy
        dgamma = sum dy * xhat
        training: dx = gamma * invstd / n * (n * dy - sum dy - xhat * sum dy * xhat)
        eval:     dx = gamma * invstd * dy           (mean and invstd are constants)

    The training formula accounts for mean and invstd depending on x. gamma None means
    no affine transform (gamma = 1); then dgamma and dbeta are None.
    Returns ``(dx, dgamma, dbeta)``; entries are ``None`` when not needed.
    """
    axes, bshape, n = checks.batchnorm_backward_args(dy, x, gamma, mean, invstd)
    if gamma is None:
        need_dgamma = need_dbeta = False
    scale = invstd if gamma is None else gamma * invstd  # (C,)

    sum_dy = dy.sum(axis=axes) if (need_dbeta or (need_dx and training)) else None
    xhat = sum_dy_xhat = None
    if need_dgamma or (need_dx and training):
        xhat = x - mean.reshape(bshape)
        xhat *= invstd.reshape(bshape)
        sum_dy_xhat = np.sum(dy * xhat, axis=axes)

    dx = None
    if need_dx and not training:
        dx = dy * scale.reshape(bshape)
    elif need_dx:
        assert xhat is not None and sum_dy is not None and sum_dy_xhat is not None
        # dx = scale/n * (n*dy - sum_dy - xhat*sum_dy_xhat), reusing xhat's buffer.
        xhat *= sum_dy_xhat.reshape(bshape)
        dx = dy * n
        dx -= sum_dy.reshape(bshape)
        dx -= xhat
        dx *= (scale / n).reshape(bshape)
    dgamma = sum_dy_xhat if need_dgamma else None
    dbeta = sum_dy if need_dbeta else None
    return dx, dgamma, dbeta


# ----------------------------------------------------------------------------------
# A standalone activation
# ----------------------------------------------------------------------------------


def activation_forward(
    x: np.ndarray, act: str | Activation = "none", slope: float = 0.01
) -> np.ndarray:
    """``y = act(x)`` elementwise, any shape, a new array (x is not modified)::

        none:       y = x
        relu:       y = max(x, 0)
        leaky_relu: y = x if x > 0 else slope * x     (slope >= 0)
        tanh:       y = tanh(x)
        sigmoid:    y = 1 / (1 + exp(-x))             (overflow-free form)

    The math is the registry's (:mod:`minigan.backend.activations`), the same that
    ``linear_act_forward`` applies after its GEMM. Backward: see ``activation_backward``.
    """
    activation = checks.activation_forward_args(x, act, slope)
    y = np.array(x, copy=True, order="C")  # C order: reshape(-1) below is then a view
    activation.apply_(y.reshape(-1), slope)  # in place, on a 1-d view (0-d x included)
    return y


def activation_backward(
    dy: np.ndarray, y: np.ndarray, act: str | Activation = "none", slope: float = 0.01
) -> np.ndarray:
    """``dx = dy * act'(x)``, read off the saved OUTPUT ``y = act(x)`` (x need not be kept)::

        none:       act'(x) = 1
        relu:       act'(x) = [y > 0]
        leaky_relu: act'(x) = 1 if y > 0 else slope   (valid because slope >= 0)
        tanh:       act'(x) = 1 - y**2
        sigmoid:    act'(x) = y * (1 - y)

    dy and y have one shape; returns a new array of it.
    """
    activation = checks.activation_backward_args(dy, y, act, slope)
    # 1-d views: the registry's gradients use out= buffers, which 0-d arithmetic lacks
    flat_dy, flat_y = np.asarray(dy).reshape(-1), np.asarray(y).reshape(-1)
    dx = activation.grad(flat_dy, flat_y, slope)
    if dx is flat_dy:  # "none" hands dy back: the result must be a new array
        dx = dx.copy()
    return dx.reshape(np.shape(dy))


# ----------------------------------------------------------------------------------
# Loss
# ----------------------------------------------------------------------------------


def sigmoid_bce_forward_backward(
    logits: np.ndarray, targets: np.ndarray, reduction: str = "mean"
) -> tuple[np.ndarray, np.ndarray]:
    """Binary cross-entropy on logits (PyTorch ``binary_cross_entropy_with_logits``).

    Per element, with x the logit and t the target (t in [0, 1]; soft targets allow
    label smoothing)::

        l = -(t * log(sigmoid(x)) + (1 - t) * log(1 - sigmoid(x)))
          = max(x, 0) - x * t + log1p(exp(-|x|))          (the overflow-free form)
        dl/dx = sigmoid(x) - t

    loss = mean or sum of l over ALL elements (``reduction`` "mean" / "sum"), and
    dlogits = (sigmoid(x) - t) / N for "mean" (N = number of elements) or
    sigmoid(x) - t for "sum". sigmoid is evaluated from e = exp(-|x|) <= 1, so logits
    like +-1e4 give finite results.

    targets must have exactly the logits' shape (no broadcasting) and are cast to the
    logits' dtype. Returns ``(loss, dlogits)`` with loss a 0-d array.
    """
    checks.sigmoid_bce_args(logits, targets, reduction)
    x = np.asarray(logits)
    t = np.asarray(targets, dtype=x.dtype)
    e = np.exp(-np.abs(x))  # in (0, 1]
    losses = np.maximum(x, 0)
    losses -= x * t
    losses += np.log1p(e)
    total = losses.sum()
    grad = np.where(x >= 0, 1, e)
    grad /= 1 + e  # grad = sigmoid(x)
    grad -= t
    if reduction == "mean":
        total = total / x.size
        grad /= x.size
    return np.asarray(total, dtype=x.dtype), grad


# ----------------------------------------------------------------------------------
# Optimiser
# ----------------------------------------------------------------------------------


def adam_step(
    params: Sequence[np.ndarray],
    grads: Sequence[np.ndarray | None],
    exp_avgs: Sequence[np.ndarray],
    exp_avg_sqs: Sequence[np.ndarray],
    step: int,
    lr: float = 1e-3,
    beta1: float = 0.9,
    beta2: float = 0.999,
    eps: float = 1e-8,
    weight_decay: float = 0.0,
) -> None:
    """One Adam update (PyTorch ``torch.optim.Adam`` semantics), IN PLACE.

    For every parameter p with gradient g, first moment m and second moment v, and
    ``step`` = t the 1-based step count (already incremented)::

        g = g + weight_decay * p                     (L2 penalty, not AdamW)
        m = beta1 * m + (1 - beta1) * g
        v = beta2 * v + (1 - beta2) * g**2
        p = p - lr * (m / (1 - beta1**t)) / (sqrt(v / (1 - beta2**t)) + eps)

    params, exp_avgs and exp_avg_sqs are modified in place; grads are not. A grad of
    None skips its parameter (like a PyTorch parameter without ``.grad``). Each
    parameter needs one scratch buffer (two with weight decay), nothing more.
    There is no backward: this is the end of the training step.
    """
    checks.adam_step_args(params, grads, exp_avgs, exp_avg_sqs, step)
    bias_c1 = 1 - beta1**step
    bias_c2 = 1 - beta2**step
    step_size = lr / bias_c1
    inv_sqrt_bc2 = 1 / math.sqrt(bias_c2)
    for k, (p, g, m, v) in enumerate(zip(params, grads, exp_avgs, exp_avg_sqs)):
        if g is None:
            continue
        if weight_decay != 0:
            g = p * weight_decay
            g += grads[k]
        tmp = np.empty_like(p)
        # m = beta1*m + (1-beta1)*g
        m *= beta1
        np.multiply(g, 1 - beta1, out=tmp)
        m += tmp
        # v = beta2*v + (1-beta2)*g*g
        v *= beta2
        np.multiply(g, g, out=tmp)
        tmp *= 1 - beta2
        v += tmp
        # p -= step_size * m / (sqrt(v)/sqrt(bc2) + eps)
        np.sqrt(v, out=tmp)
        tmp *= inv_sqrt_bc2
        tmp += eps
        np.divide(m, tmp, out=tmp)
        tmp *= step_size
        p -= tmp
