# 2-d pooling and nearest-neighbour upsampling as differentiable ops, PyTorch semantics:
# max_pool2d (with dilation, ceil_mode and return_indices), avg_pool2d (with
# count_include_pad and divisor_override) and upsample_nearest (the op behind
# nn.functional.interpolate(mode="nearest")). Pure array math (NumPy or CuPy): the only
# Python loops run over the kh·kw offsets of a pooling window, never over pixels.
from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

import numpy as np

from ..autograd import Context, Function
from ..device import array_module_of
from ..tensor import Tensor
from ._util import check_tensor, float_operands, int_pair
from .shape import reshape

__all__ = ["avg_pool2d", "max_pool2d", "upsample_nearest"]


# ----- window geometry --------------------------------------------------------------------
@dataclass(frozen=True)
class _Window:
    """Where the pooling windows of a (H, W) image lie.

    Output pixel (i, j), window offset (a, b) reads input pixel
    (i·sh - ph + a·dh, j·sw - pw + b·dw); positions outside the image are padding. The
    arrays are read through a copy padded by (ph, pw) before and `extra` after, large
    enough that every offset's strided view has the output's shape.
    """

    size: tuple[int, int]  # input (H, W)
    kernel: tuple[int, int]
    stride: tuple[int, int]
    padding: tuple[int, int]
    dilation: tuple[int, int]
    out: tuple[int, int]  # output (Ho, Wo)

    @property
    def padded(self) -> tuple[int, int]:
        """(Hp, Wp): the padded canvas, holding the image at offset (ph, pw)."""
        return tuple(  # type: ignore[return-value]
            max(
                self.size[d] + 2 * self.padding[d],
                (self.out[d] - 1) * self.stride[d] + (self.kernel[d] - 1) * self.dilation[d] + 1,
            )
            for d in range(2)
        )

    def offsets(self) -> list[tuple[int, int]]:
        """The window offsets (a, b) in PyTorch's scan order (row by row)."""
        return [(a, b) for a in range(self.kernel[0]) for b in range(self.kernel[1])]

    def view(self, padded: Any, a: int, b: int) -> Any:
        """The (…, Ho, Wo) strided view of `padded` that offset (a, b) reads."""
        (sh, sw), (dh, dw), (ho, wo) = self.stride, self.dilation, self.out
        rows = slice(a * dh, a * dh + (ho - 1) * sh + 1, sh)
        cols = slice(b * dw, b * dw + (wo - 1) * sw + 1, sw)
        return padded[..., rows, cols]

    def positions(self, d: int, offset: int) -> np.ndarray:
        """Input coordinates along dim d (0 rows, 1 cols) that offset `offset` reads."""
        i = np.arange(self.out[d])
        return i * self.stride[d] - self.padding[d] + offset * self.dilation[d]

    def pad(self, x: Any, fill: float = 0.0) -> Any:
        """x (N, C, H, W) on the padded canvas, `fill` outside the image."""
        xp = array_module_of(x)
        (h, w), (ph, pw) = self.size, self.padding
        hp, wp = self.padded
        if (hp, wp) == (h, w):
            return x
        out = xp.full(x.shape[:2] + (hp, wp), fill, dtype=x.dtype)
        out[:, :, ph : ph + h, pw : pw + w] = x
        return out

    def crop(self, padded: Any) -> Any:
        """The image part of a padded canvas (the inverse of `pad`)."""
        (h, w), (ph, pw) = self.size, self.padding
        if padded.shape[2:] == (h, w):
            return padded
        return array_module_of(padded).ascontiguousarray(padded[:, :, ph : ph + h, pw : pw + w])


def _pooled_size(size: int, k: int, s: int, p: int, d: int, ceil_mode: bool) -> int:
    """PyTorch's pooling_output_shape: floor (or ceil) of (size + 2p - d(k-1) - 1)/s, + 1;
    with ceil_mode the last window must start inside the image or its left padding."""
    span = d * (k - 1) + 1
    numerator = size + 2 * p - span + (s - 1 if ceil_mode else 0)
    out = numerator // s + 1  # floor division, as PyTorch's div_rtn
    if ceil_mode and (out - 1) * s >= size + p:
        out -= 1
    return out


def _window(
    op: str,
    x: Tensor,
    kernel_size: Any,
    stride: Any,
    padding: Any,
    dilation: Any,
    ceil_mode: bool,
) -> _Window:
    """Validate a pooling call on x (N, C, H, W) (PyTorch's checks) and lay out its windows."""
    kernel = int_pair(kernel_size, op, "kernel_size", 1, single=True)
    no_stride = stride is None or (isinstance(stride, list | tuple) and len(stride) == 0)
    strides = kernel if no_stride else int_pair(stride, op, "stride", 1, single=True)
    pads = int_pair(padding, op, "padding", 0, single=True)
    dilations = int_pair(dilation, op, "dilation", 1, single=True)
    for d in range(2):
        half = ((kernel[d] - 1) * dilations[d] + 1) // 2
        if pads[d] > half:
            raise ValueError(
                f"{op}: padding {pads} must be at most half of the (effective) kernel size, "
                f"got kernel_size={kernel}, dilation={dilations}"
            )
    size = (x.shape[2], x.shape[3])
    out = tuple(
        _pooled_size(size[d], kernel[d], strides[d], pads[d], dilations[d], bool(ceil_mode))
        for d in range(2)
    )
    if min(out) < 1:
        raise ValueError(
            f"{op}: input of shape {x.shape} gives an output of size {out[0]}x{out[1]} (too "
            f"small) for kernel_size={kernel}, stride={strides}, padding={pads}, "
            f"dilation={dilations}"
        )
    return _Window(size, kernel, strides, pads, dilations, out)  # type: ignore[arg-type]


def _as_batched(op: str, x: Any) -> tuple[Tensor, bool]:
    """(N, C, H, W) as is, (C, H, W) as a batch of one; anything else is an error."""
    check_tensor(op, x)
    if x.ndim not in (3, 4):
        raise ValueError(f"{op}: expected input (N, C, H, W) or (C, H, W), got shape {x.shape}")
    if min(x.shape[-3:]) < 1:
        raise ValueError(
            f"{op}: expected non-empty C, H and W (only the batch may be empty), got shape "
            f"{x.shape}"
        )
    if x.dtype.kind not in "fiu":
        raise TypeError(f"{op}: expected a float or integer tensor, got dtype {x.dtype}")
    return (x, True) if x.ndim == 4 else (reshape(x, (1,) + x.shape), False)


# ----- max pooling ------------------------------------------------------------------------
def _max_pool2d_arrays(x: Any, win: _Window) -> tuple[Any, Any]:
    """The pooled maxima (N, C, Ho, Wo) and the winning offset a·kw + b of each window.

    PyTorch's scan: the first valid offset starts as the winner, and a later one replaces
    it when its value is larger (so on ties the first maximum wins) or NaN (NaN
    propagates). Padding is never read: offsets outside the image are masked out, which
    is what PyTorch's -inf padding amounts to. A window with no valid offset (only
    possible with dilation) keeps -inf (the dtype's lowest integer for integer tensors).
    """
    xp = array_module_of(x)
    kw = win.kernel[1]
    low = -np.inf if x.dtype.kind == "f" else np.iinfo(x.dtype).min
    padded = win.pad(x)
    best = xp.full(x.shape[:2] + win.out, low, dtype=x.dtype)
    tap = xp.full(win.out, -1, dtype=np.int32)  # the first valid offset, per (i, j)
    tap = xp.broadcast_to(tap, best.shape).copy()
    h, w = win.size
    for a, b in win.offsets():
        rows, cols = win.positions(0, a), win.positions(1, b)
        valid = ((rows >= 0) & (rows < h))[:, None] & ((cols >= 0) & (cols < w))[None, :]
        if not valid.any():
            continue
        valid = xp.asarray(valid)
        v = win.view(padded, a, b)
        wins = valid & ((v > best) | (v != v) | (tap < 0))  # v != v: NaN
        best = xp.where(wins, v, best)
        tap = xp.where(wins, np.int32(a * kw + b), tap)
    return best, tap


def _flat_indices(tap: Any, win: _Window) -> Any:
    """return_indices' values: the winner's flat position r·W + c in its input plane
    (int64). Where no offset was valid, PyTorch's start position (first row/col of the
    window moved into the image by whole dilation steps)."""
    xp = array_module_of(tap)
    kw = win.kernel[1]
    (ho, wo), (sh, sw), (ph, pw), (dh, dw) = win.out, win.stride, win.padding, win.dilation
    r0 = xp.arange(ho, dtype=np.int64)[:, None] * sh - ph
    c0 = xp.arange(wo, dtype=np.int64)[None, :] * sw - pw
    t = tap.astype(np.int64)
    rows = r0 + (t // kw) * dh
    cols = c0 + (t % kw) * dw
    start_r = r0 + (-(r0 // dh) * dh) * (r0 < 0)  # -(r0 // dh) = ceil(-r0 / dh)
    start_c = c0 + (-(c0 // dw) * dw) * (c0 < 0)
    rows = xp.where(t < 0, start_r, rows)
    cols = xp.where(t < 0, start_c, cols)
    return rows * win.size[1] + cols


class MaxPool2d(Function):
    """y[n, c, i, j] = max over the window of x[n, c, i·sh - ph + a·dh, j·sw - pw + b·dw]
    (a < kh, b < kw, positions inside the image; padding counts as -inf).

    Backward: the whole gradient of an output goes to the one input element that won its
    window (the first maximum on ties, as PyTorch); an input that wins several
    overlapping windows receives the sum: dx[n, c, r, s] = Σ_{(i,j): winner = (r,s)} dy[n, c, i, j].

    Forward computes the maxima and the winning offset of each window once
    (`_max_pool2d_arrays`) and saves the winners; `winners`, a dict, receives them under
    "winners" (max_pool2d's return_indices turns them into flat indices).
    """

    @staticmethod
    def forward(ctx: Context, x: Any, window: Any = None, winners: dict | None = None) -> Any:
        pooled, won = _max_pool2d_arrays(x, window)
        ctx.window, ctx.dtype = window, x.dtype
        ctx.save_for_backward(won)
        if winners is not None:
            winners["winners"] = won
        return pooled

    @staticmethod
    def backward(ctx: Context, dy: Any) -> Any:
        (winners,) = ctx.saved
        win: _Window = ctx.window
        xp = array_module_of(dy)
        dpad = xp.zeros(dy.shape[:2] + win.padded, dtype=dy.dtype)
        kw = win.kernel[1]
        zero = dy.dtype.type(0)
        for a, b in win.offsets():
            win.view(dpad, a, b)[...] += xp.where(winners == a * kw + b, dy, zero)
        return win.crop(dpad)


def max_pool2d(
    input: Tensor,
    kernel_size: Any,
    stride: Any = None,
    padding: Any = 0,
    dilation: Any = 1,
    ceil_mode: bool = False,
    return_indices: bool = False,
) -> Tensor | tuple[Tensor, Tensor]:
    """2-d max pooling of input (N, C, H, W) or (C, H, W), PyTorch's ``max_pool2d``.

    y[n, c, i, j] = max_{a < kh, b < kw} x[n, c, i·sh - ph + a·dh, j·sw - pw + b·dw],
    positions outside the image (the padding) never chosen. stride defaults to
    kernel_size; padding must be at most half the effective kernel (dilation·(k-1) + 1);
    Ho = ⌊(H + 2ph - dh·(kh-1) - 1) / sh⌋ + 1 (⌈⌉ with ceil_mode, whose last window must
    start inside the image or its left padding).

    Backward: dy goes to the argmax of each window (ties: the first maximum, as PyTorch;
    NaN wins over numbers); gradients of overlapping windows add up.

    return_indices=True also returns the argmaxes as an int64 tensor shaped like the
    output, holding the flat index r·W + c within each (H, W) plane (PyTorch's format).
    Integer inputs are pooled in their own dtype (no gradient).
    """
    op = "max_pool2d"
    x, batched = _as_batched(op, input)
    win = _window(op, x, kernel_size, stride, padding, dilation, ceil_mode)
    side: dict | None = {} if return_indices else None
    y = MaxPool2d.apply(x, window=win, winners=side)
    if not batched:
        y = reshape(y, y.shape[1:])
    if side is None:
        return y
    indices = _flat_indices(side["winners"], win)
    if not batched:
        indices = indices[0]
    return y, Tensor._from_op(indices, requires_grad=False)


# ----- average pooling --------------------------------------------------------------------
def _avg_divisors(win: _Window, count_include_pad: bool, divisor_override: int | None) -> Any:
    """The (Ho, Wo) divisor of each window, PyTorch's rule: the window clipped to the
    padded image (count_include_pad, the default) or to the image itself; a window past
    both (possible with ceil_mode) has divisor 1 and sum 0."""
    if divisor_override is not None:
        return np.full(win.out, float(divisor_override))
    counts = []
    for d in range(2):
        start = np.arange(win.out[d]) * win.stride[d] - win.padding[d]
        end = np.minimum(start + win.kernel[d], win.size[d] + win.padding[d])
        if count_include_pad:
            counts.append(end - start)
        else:
            counts.append(np.minimum(end, win.size[d]) - np.maximum(start, 0))
    divisor = (counts[0][:, None] * counts[1][None, :]).astype(np.float64)
    return np.where(divisor > 0, divisor, 1.0)


class AvgPool2d(Function):
    """y[n, c, i, j] = Σ_{a < kh, b < kw} xpad[n, c, i·sh + a, j·sw + b] / div[i, j]
    (xpad: x zero-padded), div from `_avg_divisors`.

    Backward: each input element of a window receives dy / div of that window, summed
    over the windows it belongs to: dx[n, c, r, s] = Σ_{(i,j) ∋ (r,s)} dy[n, c, i, j] / div[i, j].
    """

    @staticmethod
    def forward(ctx: Context, x: Any, window: Any = None, divisors: Any = None) -> Any:
        xp = array_module_of(x)
        win: _Window = window
        div = xp.asarray(divisors, dtype=x.dtype)
        padded = win.pad(x)
        total = xp.zeros(x.shape[:2] + win.out, dtype=x.dtype)
        for a, b in win.offsets():
            total += win.view(padded, a, b)
        ctx.window, ctx.div = win, div
        return total / div

    @staticmethod
    def backward(ctx: Context, dy: Any) -> Any:
        win: _Window = ctx.window
        xp = array_module_of(dy)
        share = dy / ctx.div
        dpad = xp.zeros(dy.shape[:2] + win.padded, dtype=dy.dtype)
        for a, b in win.offsets():
            win.view(dpad, a, b)[...] += share
        return win.crop(dpad)


def avg_pool2d(
    input: Tensor,
    kernel_size: Any,
    stride: Any = None,
    padding: Any = 0,
    ceil_mode: bool = False,
    count_include_pad: bool = True,
    divisor_override: int | None = None,
) -> Tensor:
    """2-d average pooling of input (N, C, H, W) or (C, H, W), PyTorch's ``avg_pool2d``.

    y[n, c, i, j] = (Σ_{a < kh, b < kw} xpad[n, c, i·sh + a, j·sw + b]) / div[i, j], xpad =
    x zero-padded by (ph, pw). div: divisor_override if given; else the window's size
    clipped to the padded image (count_include_pad=True) or to the image (False).
    stride defaults to kernel_size; padding at most half the kernel; output size as in
    max_pool2d (dilation 1), ceil_mode included.

    Backward: dx[n, c, r, s] = Σ over the windows (i, j) containing (r, s) of
    dy[n, c, i, j] / div[i, j].

    Integer inputs compute in the default float dtype (minigan's dtype rule; PyTorch
    refuses integer avg_pool2d on the CPU).
    """
    op = "avg_pool2d"
    x, batched = _as_batched(op, input)
    (x,) = float_operands(op, x)
    win = _window(op, x, kernel_size, stride, padding, 1, ceil_mode)
    if divisor_override is not None:
        if isinstance(divisor_override, bool) or not isinstance(divisor_override, int):
            raise TypeError(
                f"{op}: divisor_override must be an int or None, got {divisor_override!r}"
            )
        if divisor_override == 0:
            raise ValueError(f"{op}: divisor_override must be non-zero, got 0")
    divisors = _avg_divisors(win, bool(count_include_pad), divisor_override)
    y = AvgPool2d.apply(x, window=win, divisors=divisors)
    return y if batched else reshape(y, y.shape[1:])


# ----- nearest upsampling -----------------------------------------------------------------
def _nearest_source(in_size: int, out_size: int, scale: float | None) -> np.ndarray:
    """Source index of each output index along one dim, PyTorch's nearest_idx exactly:
    identity when the sizes match, o >> 1 when out = 2·in, else
    min(⌊o · s⌋, in - 1) computed in float32 with s = 1/scale_factor when a scale factor was
    given, else in/out."""
    o = np.arange(out_size, dtype=np.int64)
    if out_size == in_size:
        return o
    if out_size == 2 * in_size:
        return o >> 1
    if scale is not None and scale > 0:
        s = np.float32(1.0 / scale)
    else:
        s = np.float32(in_size) / np.float32(out_size)
    src = np.floor(o.astype(np.float32) * s).astype(np.int64)
    return np.minimum(src, in_size - 1)


def _sum_copies(g: Any, source: Any, in_size: int, axis: int) -> Any:
    """The adjoint of take(x, source, axis): g summed over the output positions that copied
    the same source position. Integer factors (source = o // f) are a reshape and a sum;
    other sizes scatter-add."""
    xp = array_module_of(g)
    out_size = g.shape[axis]
    if out_size == in_size and bool((source == xp.arange(in_size)).all()):
        return g
    factor = out_size // in_size
    if factor * in_size == out_size and bool((source == xp.arange(out_size) // factor).all()):
        shape = g.shape[:axis] + (in_size, factor) + g.shape[axis + 1 :]
        return g.reshape(shape).sum(axis=axis + 1)
    out = xp.zeros(g.shape[:axis] + (in_size,) + g.shape[axis + 1 :], dtype=g.dtype)
    index = (slice(None),) * axis + (source,)
    xp.add.at(out, index, g)
    return out


class UpsampleNearest(Function):
    """y[n, c, o₁, o₂, …] = x[n, c, src₁(o₁), src₂(o₂), …], one source index per output
    index along each spatial dim (see `_nearest_source`).

    Backward: each source pixel receives the sum of the gradients of its copies,
    dx[n, c, s₁, …] = Σ_{o₁: src₁(o₁) = s₁} … dy[n, c, o₁, …], done one dim at a time.
    """

    @staticmethod
    def forward(ctx: Context, x: Any, sources: tuple[Any, ...] = ()) -> Any:
        xp = array_module_of(x)
        sources = tuple(xp.asarray(s) for s in sources)
        ctx.sources, ctx.in_sizes = sources, x.shape[2:]
        y = x
        for d, src in enumerate(sources):
            y = xp.take(y, src, axis=2 + d)
        return y

    @staticmethod
    def backward(ctx: Context, dy: Any) -> Any:
        g = dy
        for d in reversed(range(len(ctx.sources))):
            g = _sum_copies(g, ctx.sources[d], ctx.in_sizes[d], 2 + d)
        return g


def _per_dim(value: Any, n: int, op: str, name: str, kind: type) -> tuple[Any, ...]:
    """A number or a sequence of n numbers as an n-tuple."""
    if isinstance(value, list | tuple):
        if len(value) != n:
            raise ValueError(
                f"{op}: {name} must have one entry per spatial dim ({n}), got {value!r}"
            )
        items = tuple(value)
    else:
        items = (value,) * n
    for v in items:
        ok = isinstance(v, int | np.integer) if kind is int else isinstance(v, int | float)
        if isinstance(v, bool) or not ok:
            raise TypeError(f"{op}: {name} must be {kind.__name__}s, got {value!r}")
    return tuple(kind(v) for v in items)


def upsample_nearest(
    input: Tensor, size: Any = None, scale_factor: Any = None, recompute_scale_factor: bool = False
) -> Tensor:
    """Nearest-neighbour resize of input (N, C, L), (N, C, H, W) or (N, C, D, H, W) over
    its spatial dims, as PyTorch's interpolate(mode="nearest").

    Give exactly one of size (the output's spatial size) and scale_factor (output size
    ⌊in · scale_factor⌋, the factor then also fixing the source indices, as in PyTorch).
    y[…, o] = x[…, min(⌊o · in/out⌋, in - 1)] per dim (⌊o / scale_factor⌋ with a factor),
    in float32 arithmetic like PyTorch, so the same pixels are picked.
    recompute_scale_factor=True uses the factor only for the output size, then in/out.
    Backward: each source pixel gets the sum of its copies' gradients.
    """
    op = "upsample_nearest (interpolate, mode='nearest')"
    check_tensor(op, input)
    if input.ndim not in (3, 4, 5):
        raise ValueError(
            f"{op}: expected input (N, C, L), (N, C, H, W) or (N, C, D, H, W), got shape "
            f"{input.shape}"
        )
    spatial = input.shape[2:]
    n = len(spatial)
    if (size is None) == (scale_factor is None):
        raise ValueError(f"{op}: give exactly one of size and scale_factor")
    if size is not None:
        out = _per_dim(size, n, op, "size", int)
        scales: tuple[float | None, ...] = (None,) * n
    else:
        scales = _per_dim(scale_factor, n, op, "scale_factor", float)
        if not all(math.isfinite(s) and s > 0 for s in scales):
            raise ValueError(f"{op}: scale_factor must be positive and finite, got {scales}")
        out = tuple(math.floor(spatial[d] * scales[d]) for d in range(n))
        if recompute_scale_factor:
            scales = (None,) * n
    if min(spatial) < 1 or min(out) < 1:
        raise ValueError(
            f"{op}: input and output sizes must be greater than 0, got input {spatial} and "
            f"output {out}"
        )
    sources = tuple(_nearest_source(spatial[d], out[d], scales[d]) for d in range(n))
    return UpsampleNearest.apply(input, sources=sources)
