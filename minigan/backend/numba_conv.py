# numba CPU kernels of the convolution families of the kernel contract: conv2d_forward,
# conv2d_backward, conv_transpose2d_forward and conv_transpose2d_backward, with numpy_ref's
# signatures, argument checks, return values and dtypes (numba_cpu.py re-exports them). The
# GEMMs run on BLAS (NumPy's matmul); parallel numba kernels do all the data movement around
# them: im2col written in the layout the GEMM reads, col2im as a gather fused with the crop
# and the bias, the layout changes fused with the bias add and the bias-gradient sums.
"""Convolutions on the CPU: BLAS GEMMs plus parallel numba data movement.

The math of every function is ``numpy_ref``'s (its docstrings are the reference; each
function below repeats the formulas). What this module changes is how the work is done.

Layouts
    Every GEMM operand is a C-contiguous matrix whose columns are the pixels of a chunk of
    m images, image-major: column ``n*P + q`` is pixel q of image n (P pixels per image).
    ``cols`` (C*kh*kw, m*P) is the im2col patch matrix (row ``(c*kh + a)*kw + b`` holds
    tap (a, b) of channel c) and ``xt`` / ``dyt`` (C, m*P) an activation with its channel
    axis first, so one GEMM per chunk covers all its images (measured 15-25% faster in
    OpenBLAS than a batch of per-image GEMMs, which would need no layout change).

numba kernels (``@njit(parallel=True, cache=True)``, no fastmath)
    ``_im2col``       cols[c*T + t, n*P + q] = x[n, c, tab[t, q]] (0 in the zero padding);
                      one task per row of cols, written front to back.
    ``_col2im``       out[n, c, pix] = bias[c] + the sum over the kernel taps that reach
                      pix: a gather, each output element written once by the task of its
                      channel, so there is no scatter, no write race and no ``np.add.at``;
                      the padding crop and the bias add happen in the same pass.
    ``_pack``         (N, C, P) -> (C, N*P), summing each channel on the way (the bias
                      gradient comes with the copy, accumulated in float64).
    ``_unpack``       (C, N*P) -> (N, C, P) + bias[c].
    ``_channel_sums`` per-channel sums of (N, C, P) in float64 (the bias gradient alone).

    Each kernel also has a serial build (``_im2col_serial``, ...) that runs on the calling
    thread; it is used when numba has one thread and for calls that move fewer than
    PARALLEL_MIN_WORK elements (see ``serial_twin`` and ``_kernels``). The index tables
    (which input pixel each tap reads, which taps reach each output pixel) depend on the
    geometry only and are built once (``_im2col_table``, ``_col2im_table``).

Chunks of the batch
    The batch is processed in chunks of images whose largest matrix is about CHUNK_BYTES, so
    that what a numba kernel writes is still in the cache when the GEMM reads it (and the
    other way round), and the scratch memory stays bounded (a (2048, 6272) float32 patch
    matrix would be 51 MB). Fewer, bigger chunks mean fewer parallel regions, which
    matters on a loaded machine; 8 MiB measured best or equal to 2 MiB, 4 MiB and one chunk
    on the DCGAN shapes at 1 and 2 threads (one chunk was up to 20% slower).

Dense special cases
    A conv2d kernel that covers the whole unpadded image (Ho = Wo = 1) and a
    conv_transpose2d of a 1x1 input without padding are dense layers: GEMMs only, no data
    movement (the DCGAN's first generator and last discriminator layers).

float32 and float64 arrays are computed here, with numpy_ref's result dtypes (the result
type of the inputs each result depends on); any other dtype is handed to numpy_ref.
"""

from __future__ import annotations

import functools
import types
from typing import Any, NamedTuple

import numba
import numpy as np
from numba import njit, prange

from . import checks, cpu_threads, numpy_ref
from .checks import IntPair

cpu_threads.use_sleeping_numba_workers()  # before any kernel starts numba's threads

__all__ = [
    "compile_kernels",
    "conv2d_backward",
    "conv2d_forward",
    "conv_transpose2d_backward",
    "conv_transpose2d_forward",
]

_FLOATS = (np.dtype(np.float32), np.dtype(np.float64))

# Target size in bytes of one chunk's largest matrix (see the module docstring).
CHUNK_BYTES = 8 << 20
# Smallest number of elements a kernel call moves for its parallel build to be used: waking
# numba's sleeping worker threads costs 50-75 us per call on the 2-core development VM,
# about what moving 2^18 elements costs; 2^20 measured best on the DCGAN / VAE shapes.
PARALLEL_MIN_WORK = 1 << 20


# ----------------------------------------------------------------------------------
# numba kernels: data movement only (every GEMM is a NumPy matmul on BLAS)
# ----------------------------------------------------------------------------------


@njit(parallel=True, cache=True, fastmath=False, nogil=True)
def _im2col(x3: np.ndarray, tab: np.ndarray, cols: np.ndarray) -> None:  # pragma: no cover
    """cols[c*T + t, n*P + q] = x3[n, c, tab[t, q]], and 0 where tab[t, q] < 0.

    x3 is (m, C, H*W), tab (T, P) the source pixel of tap t for output pixel q
    (``_im2col_table``), cols (C*T, m*P). One task per row of cols.
    """
    nb, nc, _ = x3.shape
    nt, p = tab.shape
    for row in prange(nc * nt):
        c = row // nt
        tt = tab[row - c * nt]
        dst = cols[row]
        for n in range(nb):
            xs = x3[n, c]
            d = dst[n * p : (n + 1) * p]
            for q in range(p):
                s = tt[q]
                d[q] = xs[s] if s >= 0 else 0


@njit(parallel=True, cache=True, fastmath=False, nogil=True)
def _col2im(  # pragma: no cover (compiled by numba)
    flat: np.ndarray,
    ntap: int,
    npc: int,
    p: int,
    off: np.ndarray,
    cnt: np.ndarray,
    bias: np.ndarray,
    out3: np.ndarray,
) -> None:
    """out3[n, c, pix] = bias[c] + sum_{k < cnt[pix]} flat[c*ntap*npc + n*p + off[pix, k]].

    flat is a (C*ntap, npc = m*p) matrix, raveled; off[pix, k] = t*npc + q addresses the
    k-th tap (t, q) that reaches output pixel pix (``_col2im_table``). A gather: one task
    per channel, every output element written once.
    """
    nb, nc, hw = out3.shape
    for c in prange(nc):
        bc = bias[c]
        for n in range(nb):
            src = flat[c * ntap * npc + n * p :]
            o = out3[n, c]
            for pix in range(hw):
                s = bc
                op = off[pix]
                for k in range(cnt[pix]):
                    s += src[op[k]]
                o[pix] = s


@njit(cache=True, fastmath=False, nogil=True)
def _row_sum(v: np.ndarray) -> float:  # pragma: no cover (compiled by numba)
    """sum(v) in float64, with 8 independent partial sums so that the adds overlap."""
    m = v.size - v.size % 8
    acc = np.zeros(8)
    for k in range(0, m, 8):
        for u in range(8):
            acc[u] += v[k + u]
    tail = 0.0
    for k in range(m, v.size):
        tail += v[k]
    return tail + ((acc[0] + acc[1]) + (acc[2] + acc[3])) + ((acc[4] + acc[5]) + (acc[6] + acc[7]))


@njit(parallel=True, cache=True, fastmath=False, nogil=True)
def _pack(src: np.ndarray, dst: np.ndarray, sums: np.ndarray) -> None:  # pragma: no cover
    """dst[c, n*P + q] = src[n, c, q] and, unless sums is empty, sums[c] = sum_{n, q}
    src[n, c, q] (in float64)."""
    nb, nc, p = src.shape
    for c in prange(nc):
        row = dst[c]
        for n in range(nb):
            s = src[n, c]
            d = row[n * p : (n + 1) * p]
            for q in range(p):
                d[q] = s[q]
        if sums.size:
            sums[c] = _row_sum(row)


@njit(parallel=True, cache=True, fastmath=False, nogil=True)
def _unpack(src: np.ndarray, bias: np.ndarray, dst: np.ndarray) -> None:  # pragma: no cover
    """dst[n, c, q] = src[c, n*P + q] + bias[c]."""
    nb, nc, p = dst.shape
    for c in prange(nc):
        bc = bias[c]
        row = src[c]
        for n in range(nb):
            s = row[n * p : (n + 1) * p]
            d = dst[n, c]
            for q in range(p):
                d[q] = s[q] + bc


@njit(parallel=True, cache=True, fastmath=False, nogil=True)
def _channel_sums(src: np.ndarray, sums: np.ndarray) -> None:  # pragma: no cover
    """sums[c] = sum_{n, q} src[n, c, q], accumulated in float64."""
    nb, nc, _ = src.shape
    for c in prange(nc):
        acc = 0.0
        for n in range(nb):
            acc += _row_sum(src[n, c])
        sums[c] = acc


def serial_twin(kernel: Any) -> Any:
    """The same kernel compiled without ``parallel=True`` (its other options kept): its
    prange loops run on the calling thread. Used when numba has one thread or the call is
    small: numba's workqueue threading layer hands every parallel call to a worker thread
    (20-75 us to wake it), which then reads the data the GEMM just wrote from another core's
    cache (measured 1.05-1.6x slower per conv, forward + backward, at 1 thread). The
    distinct name keeps the two builds apart in numba's on-disk cache."""
    fn = kernel.py_func
    twin = types.FunctionType(
        fn.__code__, fn.__globals__, fn.__name__ + "_serial", fn.__defaults__, fn.__closure__
    )
    twin.__qualname__ = fn.__qualname__ + "_serial"
    twin.__doc__ = fn.__doc__
    options = {k: v for k, v in kernel.targetoptions.items() if k not in ("parallel", "nopython")}
    return njit(cache=True, **options)(twin)


_im2col_serial = serial_twin(_im2col)
_col2im_serial = serial_twin(_col2im)
_pack_serial = serial_twin(_pack)
_unpack_serial = serial_twin(_unpack)
_channel_sums_serial = serial_twin(_channel_sums)


class _Kernels(NamedTuple):
    """One build of every data-movement kernel."""

    im2col: Any
    col2im: Any
    pack: Any
    unpack: Any
    channel_sums: Any


_PARALLEL = _Kernels(_im2col, _col2im, _pack, _unpack, _channel_sums)
_SERIAL = _Kernels(
    _im2col_serial, _col2im_serial, _pack_serial, _unpack_serial, _channel_sums_serial
)


def _kernels(work: int) -> _Kernels:
    """The parallel builds for a call that moves `work` elements, or the serial ones when
    numba runs one thread or the work is below PARALLEL_MIN_WORK (a build is compiled, or
    loaded from numba's cache, on its first call)."""
    if work < PARALLEL_MIN_WORK or numba.get_num_threads() == 1:
        return _SERIAL
    return _PARALLEL


# ----------------------------------------------------------------------------------
# Index tables: depend on the geometry only, so they are built once and cached
# ----------------------------------------------------------------------------------


@functools.lru_cache(maxsize=256)
def _im2col_table(
    h: int, w: int, kh: int, kw: int, sh: int, sw: int, ph: int, pw: int, ho: int, wo: int
) -> np.ndarray:
    """tab[a*kw + b, i*wo + j] = hh*w + ww with hh = i*sh + a - ph and ww = j*sw + b - pw
    (the input pixel that tap (a, b) of output pixel (i, j) reads), or -1 where (hh, ww)
    lies in the zero padding. Shape (kh*kw, ho*wo), int64, read-only."""
    hh = np.arange(ho)[None, :] * sh + np.arange(kh)[:, None] - ph  # (kh, ho)
    ww = np.arange(wo)[None, :] * sw + np.arange(kw)[:, None] - pw  # (kw, wo)
    ok = ((hh >= 0) & (hh < h))[:, None, :, None] & ((ww >= 0) & (ww < w))[None, :, None, :]
    src = hh[:, None, :, None] * w + ww[None, :, None, :]
    tab = np.where(ok, src, -1).reshape(kh * kw, ho * wo).astype(np.int64)
    tab.setflags(write=False)
    return tab


@functools.lru_cache(maxsize=256)
def _col2im_table(
    h: int, w: int, kh: int, kw: int, sh: int, sw: int, ph: int, pw: int, ho: int, wo: int
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """The taps that reach each pixel (y, x) of the big h x w grid from the small ho x wo
    grid: the pairs of kernel tap t = a*kw + b and small-grid pixel q = i*wo + j with
    i*sh + a - ph == y and j*sw + b - pw == x. Returns (trow, tq, cnt): row y*w + x of
    trow / tq (shape (h*w, tmax)) holds t / q of the cnt[y*w + x] taps of that pixel (a
    pixel that no window reaches has none)."""
    taps_h = [
        [(a, (y + ph - a) // sh) for a in range(kh) if (y + ph - a) % sh == 0] for y in range(h)
    ]
    taps_w = [
        [(b, (x + pw - b) // sw) for b in range(kw) if (x + pw - b) % sw == 0] for x in range(w)
    ]
    taps_h = [[(a, i) for a, i in r if 0 <= i < ho] for r in taps_h]
    taps_w = [[(b, j) for b, j in r if 0 <= j < wo] for r in taps_w]
    tmax = max(1, max(map(len, taps_h)) * max(map(len, taps_w)))
    trow = np.zeros((h * w, tmax), dtype=np.int64)
    tq = np.zeros((h * w, tmax), dtype=np.int64)
    cnt = np.zeros(h * w, dtype=np.int64)
    for y in range(h):
        for x in range(w):
            pix, k = y * w + x, 0
            for a, i in taps_h[y]:
                for b, j in taps_w[x]:
                    trow[pix, k], tq[pix, k] = a * kw + b, i * wo + j
                    k += 1
            cnt[pix] = k
    for arr in (trow, tq, cnt):
        arr.setflags(write=False)
    return trow, tq, cnt


class _Gather:
    """col2im of one geometry: out[n, c] on the big grid from the (C*kh*kw, m*ho*wo) matrix
    of a chunk of m images on the small grid (ho, wo), plus bias[c]."""

    def __init__(
        self,
        big: tuple[int, int],
        small: tuple[int, int],
        kernel: tuple[int, int],
        stride: tuple[int, int],
        padding: tuple[int, int],
    ) -> None:
        self.trow, self.tq, self.cnt = _col2im_table(*big, *kernel, *stride, *padding, *small)
        self.ntap = kernel[0] * kernel[1]
        self.p = small[0] * small[1]
        self._off: dict[int, np.ndarray] = {}  # chunk size m -> the offsets t*m*p + q

    def __call__(self, mat: np.ndarray, bias: np.ndarray, out3: np.ndarray) -> None:
        m = out3.shape[0]
        npc = m * self.p
        if m not in self._off:
            self._off[m] = self.trow * npc + self.tq
        k = _kernels(mat.size)
        k.col2im(mat.reshape(-1), self.ntap, npc, self.p, self._off[m], self.cnt, bias, out3)


# ----------------------------------------------------------------------------------
# Chunks of the batch and scratch matrices
# ----------------------------------------------------------------------------------


def _chunks(n: int, bytes_per_image: int) -> tuple[int, list[slice]]:
    """Split n images into equal chunks of at most CHUNK_BYTES // bytes_per_image images
    (at least 1). Returns (the largest chunk's size, the chunks as slices of the batch)."""
    most = max(1, CHUNK_BYTES // bytes_per_image) if bytes_per_image > 0 else max(n, 1)
    size = -(-n // -(-n // most)) if n else 1  # ceil(n / number of chunks)
    return size, [slice(n0, min(n0 + size, n)) for n0 in range(0, n, size)]


def _matmul(a: np.ndarray, b: np.ndarray, out: np.ndarray | None = None) -> np.ndarray:
    """a @ b on BLAS; an inner dimension of 1 (an outer product, e.g. dx of a conv with one
    output channel) is a broadcast multiply instead, which is ~20x faster than OpenBLAS's
    GEMM for it and gives the same values (one product per element)."""
    if a.shape[1] == 1:
        return np.multiply(a, b, out=out)
    return np.matmul(a, b, out=out)


def _view(buf: np.ndarray, rows: int, cols: int) -> np.ndarray:
    """A C-contiguous (rows, cols) matrix over the front of the flat scratch buffer."""
    return buf[: rows * cols].reshape(rows, cols)


def _contig(a: np.ndarray, dtype: np.dtype) -> np.ndarray:
    """a as a C-contiguous, writeable array of `dtype`, copied only when it is not one
    already (numba compiles separate code for read-only arrays: a broadcast view would
    otherwise cost a second compilation)."""
    out = np.ascontiguousarray(a, dtype=dtype)
    return out if out.flags.writeable else out.copy()


def _bias_vector(b: np.ndarray | None, n: int, dtype: np.dtype) -> np.ndarray:
    return np.zeros(n, dtype=dtype) if b is None else _contig(b, dtype)


def _channel_sums_of(a: np.ndarray) -> np.ndarray:
    """Per-channel sums of an (N, C, H, W) array, accumulated in float64."""
    n, c, h, w = a.shape
    sums = np.empty(c)
    _kernels(a.size).channel_sums(a.reshape(n, c, h * w), sums)
    return sums


def _cast(
    dx: np.ndarray | None,
    dw: np.ndarray | None,
    db: np.ndarray | None,
    dtypes: tuple[np.dtype, np.dtype, np.dtype],
) -> tuple[np.ndarray | None, np.ndarray | None, np.ndarray | None]:
    """The gradients in numpy_ref's result dtypes (copies only for mixed-dtype inputs)."""
    return tuple(  # type: ignore[return-value]
        None if g is None else g.astype(d, copy=False) for g, d in zip((dx, dw, db), dtypes)
    )


def compile_kernels(dtypes: tuple[str, ...] = ("float32",)) -> None:
    """Compile (or load from numba's on-disk cache) both builds of every kernel for arrays
    of `dtypes`, by calling each once on tiny arrays of the argument types the contract
    functions pass. (Calling the contract functions on small inputs compiles only the
    serial builds: calls that move fewer than PARALLEL_MIN_WORK elements use those.)"""
    for name in dtypes:
        dt = np.dtype(name)
        x3 = np.zeros((2, 1, 9), dtype=dt)  # two 3x3 images, one channel
        tab = _im2col_table(3, 3, 2, 2, 1, 1, 0, 0, 2, 2)
        cols = np.zeros((4, 8), dtype=dt)
        gather = _Gather((3, 3), (2, 2), (2, 2), (1, 1), (0, 0))
        off = gather.trow * 8 + gather.tq
        one, sums = np.zeros(1, dtype=dt), np.zeros(1)
        for k in (_SERIAL, _PARALLEL):
            k.im2col(x3, tab, cols)
            k.col2im(cols.reshape(-1), 4, 8, 4, off, gather.cnt, one, x3)
            k.pack(x3, np.zeros((1, 18), dtype=dt), sums)
            k.unpack(np.zeros((1, 18), dtype=dt), one, x3)
            k.channel_sums(x3, sums)


# ----------------------------------------------------------------------------------
# The contract functions
# ----------------------------------------------------------------------------------


def conv2d_forward(
    x: np.ndarray,
    w: np.ndarray,
    b: np.ndarray | None,
    stride: IntPair = (1, 1),
    padding: IntPair = (0, 0),
) -> np.ndarray:
    """2-D convolution (cross-correlation, PyTorch ``Conv2d``), as ``numpy_ref``::

        y[n, o, i, j] = b[o] + sum_{c, a, b'} w[o, c, a, b'] * xpad[n, c, i*sh + a, j*sw + b']

    x (N, C, H, W), w (O, C, kh, kw), b (O,) or None -> y (N, O, Ho, Wo) with
    Ho = (H + 2*ph - kh) // sh + 1 (likewise Wo); xpad is x zero-padded by ph / pw.

    Per chunk of m images: ``_im2col`` writes cols (C*kh*kw, m*Ho*Wo), BLAS computes
    y2 = w2 @ cols (O, m*Ho*Wo) with w2 = w as (O, C*kh*kw), and ``_unpack`` moves y2 to
    y[n0:n0+m] adding b. A kernel that covers the whole unpadded image is a dense layer.
    """
    stride, padding = checks.conv2d_forward_args(x, w, b, stride, padding)
    dt = np.result_type(x, w)
    if dt not in _FLOATS:
        return numpy_ref.conv2d_forward(x, w, b, stride, padding)
    n, c, h, wd = x.shape
    o, _, kh, kw = w.shape
    ho, wo = checks.conv2d_out_hw("conv2d_forward", x.shape, w.shape, stride, padding)
    p, kk = ho * wo, c * kh * kw
    xc = _contig(x, dt)
    w2 = _contig(w, dt).reshape(o, kk)
    bias = _bias_vector(b, o, dt)
    if (kh, kw) == (h, wd) and padding == (0, 0):  # one window per image: a dense layer
        y = _matmul(xc.reshape(n, kk), w2.T)
        y += bias
        return y.reshape(n, o, 1, 1)
    tab = _im2col_table(h, wd, kh, kw, *stride, *padding, ho, wo)
    x3 = xc.reshape(n, c, h * wd)
    y = np.empty((n, o, ho, wo), dtype=dt)
    y3 = y.reshape(n, o, p)
    size, plan = _chunks(n, max(kk, o) * p * dt.itemsize)
    cols_buf = np.empty(kk * size * p, dtype=dt)
    y2_buf = np.empty(o * size * p, dtype=dt)
    for rows in plan:
        m = rows.stop - rows.start
        cols = _view(cols_buf, kk, m * p)
        _kernels(cols.size).im2col(x3[rows], tab, cols)
        y2 = _matmul(w2, cols, out=_view(y2_buf, o, m * p))
        _kernels(y2.size).unpack(y2, bias, y3[rows])
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
    """Gradients of ``conv2d_forward`` for dy (N, O, Ho, Wo), as ``numpy_ref``::

        dxpad[n, c, i*sh + a, j*sw + b'] += sum_o w[o, c, a, b'] * dy[n, o, i, j]
        dx = dxpad with the padding cut off                        (N, C, H, W)
        dw[o, c, a, b'] = sum_{n, i, j} dy[n, o, i, j] * xpad[n, c, i*sh + a, j*sw + b']
        db[o] = sum_{n, i, j} dy[n, o, i, j]

    Per chunk of m images: ``_pack`` moves dy to dyt (O, m*Ho*Wo) and sums its rows (db,
    in float64); dw += dyt @ im2col(x).T; dcols = w2.T @ dyt (C*kh*kw, m*Ho*Wo) and
    ``_col2im`` gathers dx: each input pixel sums the kernel taps that reach it (pixels that
    no window reaches get 0). Returns ``(dx, dw, db)``; an entry is ``None`` when its
    ``need_*`` flag is False.
    """
    stride, padding = checks.conv2d_backward_args(dy, x, w, stride, padding)
    dt = np.result_type(dy, x, w)
    if dt not in _FLOATS:
        return numpy_ref.conv2d_backward(dy, x, w, stride, padding, need_dx, need_dw, need_db)
    n, o, ho, wo = dy.shape
    _, c, kh, kw = w.shape
    h, wd = x.shape[2:]
    p, kk = ho * wo, c * kh * kw
    dyc = _contig(dy, dt)
    dx = dw = db = None
    if (kh, kw) == (h, wd) and padding == (0, 0):  # one window per image: a dense layer
        dy2 = dyc.reshape(n, o)
        if need_dx:
            w2 = _contig(w, dt).reshape(o, kk)
            dx = _matmul(dy2, w2).reshape(n, c, h, wd)
        if need_dw:
            x2 = _contig(x, dt).reshape(n, kk)
            dw = _matmul(dy2.T, x2).reshape(o, c, kh, kw)
    elif need_dx or need_dw:
        dy3 = dyc.reshape(n, o, p)
        size, plan = _chunks(n, max(kk, o) * p * dt.itemsize)
        dyt_buf = np.empty(o * size * p, dtype=dt)
        sums, part = np.zeros(o), np.empty(o)
        if need_dw:
            tab = _im2col_table(h, wd, kh, kw, *stride, *padding, ho, wo)
            x3 = _contig(x, dt).reshape(n, c, h * wd)
            cols_buf = np.empty(kk * size * p, dtype=dt)
            dw2, dw_part = np.zeros((o, kk), dtype=dt), np.empty((o, kk), dtype=dt)
        if need_dx:
            w2t = _contig(w, dt).reshape(o, kk).T  # BLAS reads it transposed
            gather = _Gather((h, wd), (ho, wo), (kh, kw), stride, padding)
            dcols_buf = np.empty(kk * size * p, dtype=dt)
            dx = np.empty((n, c, h, wd), dtype=dt)
            dx3, zero = dx.reshape(n, c, h * wd), np.zeros(c, dtype=dt)
        for rows in plan:
            m = rows.stop - rows.start
            dyt = _view(dyt_buf, o, m * p)
            _kernels(dyt.size).pack(dy3[rows], dyt, part)
            sums += part
            if need_dw:
                cols = _view(cols_buf, kk, m * p)
                _kernels(cols.size).im2col(x3[rows], tab, cols)
                dw2 += _matmul(dyt, cols.T, out=dw_part)
            if need_dx:
                dcols = _matmul(w2t, dyt, out=_view(dcols_buf, kk, m * p))
                gather(dcols, zero, dx3[rows])
        if need_dw:
            dw = dw2.reshape(o, c, kh, kw)
        if need_db:
            db = sums
    if need_db and db is None:
        db = _channel_sums_of(dyc)
    dtypes = (np.result_type(w, dy), np.result_type(dy, x), np.dtype(dy.dtype))
    return _cast(dx, dw, db, dtypes)


def conv_transpose2d_forward(
    x: np.ndarray,
    w: np.ndarray,
    b: np.ndarray | None,
    stride: IntPair = (1, 1),
    padding: IntPair = (0, 0),
    output_padding: IntPair = (0, 0),
) -> np.ndarray:
    """Transposed 2-D convolution (PyTorch ``ConvTranspose2d``, the adjoint of conv2d), as
    ``numpy_ref``::

        ypad[n, co, i*sh + a, j*sw + b'] += sum_ci x[n, ci, i, j] * w[ci, co, a, b']
        y = ypad with ph rows / pw columns cut off each side, plus b[co]

    x (N, Cin, H, W), w (Cin, Cout, kh, kw), b (Cout,) or None -> y (N, Cout, Ho, Wo) with
    Ho = (H - 1)*sh - 2*ph + kh + oph (likewise Wo; output_padding < stride).

    Per chunk of m images: ``_pack`` moves x to xt (Cin, m*H*W), BLAS computes
    dcols = w2.T @ xt (Cout*kh*kw, m*H*W) with w2 = w as (Cin, Cout*kh*kw), and ``_col2im``
    gathers y: each output pixel sums the taps that land on it, and the crop and the bias
    happen in the same pass. A 1x1 input without padding is a dense layer: one GEMM.
    """
    stride, padding, output_padding, out_hw = checks.conv_transpose2d_forward_args(
        x, w, b, stride, padding, output_padding
    )
    dt = np.result_type(x, w)
    if dt not in _FLOATS:
        return numpy_ref.conv_transpose2d_forward(x, w, b, stride, padding, output_padding)
    n, ci, h, wd = x.shape
    _, co, kh, kw = w.shape
    hw, kk = h * wd, co * kh * kw
    xc = _contig(x, dt)
    w2 = _contig(w, dt).reshape(ci, kk)
    bias = _bias_vector(b, co, dt)
    if (h, wd) == (1, 1) and padding == (0, 0) and output_padding == (0, 0):
        y = _matmul(xc.reshape(n, ci), w2).reshape(n, co, kh * kw)  # a dense layer
        y += bias[:, None]
        return y.reshape(n, co, kh, kw)
    x3 = xc.reshape(n, ci, hw)
    gather = _Gather(out_hw, (h, wd), (kh, kw), stride, padding)
    y = np.empty((n, co, *out_hw), dtype=dt)
    y3 = y.reshape(n, co, out_hw[0] * out_hw[1])
    size, plan = _chunks(n, max(kk, ci) * hw * dt.itemsize)
    xt_buf = np.empty(ci * size * hw, dtype=dt)
    dcols_buf = np.empty(kk * size * hw, dtype=dt)
    no_sums = np.empty(0)
    for rows in plan:
        m = rows.stop - rows.start
        xt = _view(xt_buf, ci, m * hw)
        _kernels(xt.size).pack(x3[rows], xt, no_sums)
        dcols = _matmul(w2.T, xt, out=_view(dcols_buf, kk, m * hw))
        gather(dcols, bias, y3[rows])
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
    """Gradients of ``conv_transpose2d_forward`` for dy (N, Cout, Ho, Wo), as
    ``numpy_ref`` (dypad = dy zero-padded by ph / pw on each side)::

        dx = conv2d_forward(dy, w, None, stride, padding)                   (N, Cin, H, W)
        dw[ci, co, a, b'] = sum_{n, i, j} x[n, ci, i, j] * dypad[n, co, i*sh + a, j*sw + b']
        db[co] = sum_{n, i, j} dy[n, co, i, j]

    Per chunk of m images: ``_im2col`` writes the patch matrix of dy, cols
    (Cout*kh*kw, m*H*W), which both GEMMs share: dx = w2 @ cols (Cin, m*H*W), moved to
    (N, Cin, H, W) by ``_unpack``, and dw += pack(x) @ cols.T. db is one
    ``_channel_sums`` pass over dy (float64 sums). Returns ``(dx, dw, db)``; an entry is
    ``None`` when its ``need_*`` flag is False.
    """
    stride, padding, output_padding, out_hw = checks.conv_transpose2d_backward_args(
        dy, x, w, stride, padding, output_padding
    )
    dt = np.result_type(dy, x, w)
    if dt not in _FLOATS:
        return numpy_ref.conv_transpose2d_backward(
            dy, x, w, stride, padding, output_padding, need_dx, need_dw, need_db
        )
    n, ci, h, wd = x.shape
    _, co, kh, kw = w.shape
    hw, kk = h * wd, co * kh * kw
    dyc = _contig(dy, dt)
    dx = dw = None
    if (h, wd) == (1, 1) and padding == (0, 0) and output_padding == (0, 0):
        dy2 = dyc.reshape(n, kk)  # a dense layer
        if need_dx:
            w2 = _contig(w, dt).reshape(ci, kk)
            dx = _matmul(dy2, w2.T).reshape(n, ci, 1, 1)
        if need_dw:
            x2 = _contig(x, dt).reshape(n, ci)
            dw = _matmul(x2.T, dy2).reshape(ci, co, kh, kw)
    elif need_dx or need_dw:
        tab = _im2col_table(*out_hw, kh, kw, *stride, *padding, h, wd)
        dy3 = dyc.reshape(n, co, out_hw[0] * out_hw[1])
        size, plan = _chunks(n, max(kk, ci) * hw * dt.itemsize)
        cols_buf = np.empty(kk * size * hw, dtype=dt)
        if need_dx:
            w2 = _contig(w, dt).reshape(ci, kk)
            dx2_buf = np.empty(ci * size * hw, dtype=dt)
            dx = np.empty((n, ci, h, wd), dtype=dt)
            dx3, zero = dx.reshape(n, ci, hw), np.zeros(ci, dtype=dt)
        if need_dw:
            x3 = _contig(x, dt).reshape(n, ci, hw)
            xt_buf = np.empty(ci * size * hw, dtype=dt)
            dw2, dw_part = np.zeros((ci, kk), dtype=dt), np.empty((ci, kk), dtype=dt)
            no_sums = np.empty(0)
        for rows in plan:
            m = rows.stop - rows.start
            cols = _view(cols_buf, kk, m * hw)
            _kernels(cols.size).im2col(dy3[rows], tab, cols)
            if need_dx:
                dx2 = _matmul(w2, cols, out=_view(dx2_buf, ci, m * hw))
                _kernels(dx2.size).unpack(dx2, zero, dx3[rows])
            if need_dw:
                xt = _view(xt_buf, ci, m * hw)
                _kernels(xt.size).pack(x3[rows], xt, no_sums)
                dw2 += _matmul(xt, cols.T, out=dw_part)
        if need_dw:
            dw = dw2.reshape(ci, co, kh, kw)
    db = _channel_sums_of(dyc) if need_db else None
    dtypes = (np.result_type(dy, w), np.result_type(x, dy), np.dtype(dy.dtype))
    return _cast(dx, dw, db, dtypes)
