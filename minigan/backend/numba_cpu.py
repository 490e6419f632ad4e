# The numba implementation of the kernel contract for `cpu` (float32 training runs here when
# numba is installed): linear + bias + activation with the epilogue fused into one pass after
# the BLAS GEMM, batch norm with one pass for the statistics and one for the output, fused
# sigmoid + BCE (loss and gradient in one pass), Adam in one pass per parameter; the
# convolutions live in numba_conv.py and are re-exported here. numpy_ref.py has the math
# and stays the float64 oracle these kernels are tested against.
"""numba kernels for the CPU ("numba" in :mod:`minigan.backend`).

Every contract function here has exactly numpy_ref's signature, argument checks (the same
call into :mod:`minigan.backend.checks`), return values and dtypes; the math is in
numpy_ref's docstrings and is repeated briefly in each function below. What differs is how
the work is done:

* GEMMs stay on BLAS (NumPy's ``@``: OpenBLAS is as fast as anything we could write here);
* everything around them is a numba kernel that reads and writes each element once, where
  the NumPy reference makes a full-size temporary per elementwise operation;
* loops over large arrays are ``prange`` loops (numba's thread pool; the number of threads
  is set with :func:`minigan.backend.cpu_threads.set_num_threads`), reductions are
  accumulated in float64 per thread-owned slice, so no two threads write the same element;
* every kernel is compiled once and cached on disk (``cache=True``):
  :func:`minigan.backend.prepare_cpu_kernels` compiles them up front (``compile_every_kernel``
  below) and says
  how long it took.

Dispatch: the contract prefers this module for float32 arrays on cpu (``SUPPORTED_DTYPES``);
float64 (gradient checks, the oracle) stays on numpy_ref. The functions accept float64 too,
which the tests use to validate them at float64 precision.
"""

from __future__ import annotations

import contextlib
import math
import sys
from collections.abc import Iterator, Sequence
from typing import Any

import numpy as np

from . import checks, cpu_threads, numpy_ref
from .activations import CODES, Activation
from .checks import ACTIVATIONS
from .numba_conv import (  # the convolution families are numba_conv's, re-exported here
    PARALLEL_MIN_WORK,
    conv2d_backward,
    conv2d_forward,
    conv_transpose2d_backward,
    conv_transpose2d_forward,
    serial_twin,
)

try:
    import numba
    from numba import njit, prange
except ImportError as _exc:  # the contract then falls back to numpy_ref
    numba = None
    _IMPORT_ERROR = str(_exc)
else:
    _IMPORT_ERROR = ""

__all__ = [
    "ACTIVATIONS",
    "SUPPORTED_DTYPES",
    "activation_backward",
    "activation_forward",
    "adam_step",
    "batchnorm_backward",
    "batchnorm_forward",
    "compile_every_kernel",
    "conv2d_backward",
    "conv2d_forward",
    "conv_transpose2d_backward",
    "conv_transpose2d_forward",
    "forced_build",
    "linear_act_backward",
    "linear_act_forward",
    "sigmoid_bce_forward_backward",
    "unavailable_reason",
]

# The dtypes the dispatcher sends here (float64 stays on the oracle; see the docstring).
SUPPORTED_DTYPES = ("float32",)

# Column block of the row-major kernels: each thread owns whole blocks of columns, so the
# per-column reductions (bias gradient, batch-norm sums of (N, C) inputs) need no atomics.
_COLUMN_BLOCK = 64
# Elements per task of the flat kernels (BCE, Adam): large enough to amortise scheduling.
_FLAT_CHUNK = 16384


def unavailable_reason() -> str:
    """Why this implementation cannot run here ("" when it can)."""
    return f"numba is not installed ({_IMPORT_ERROR})" if numba is None else ""


class _Twin:
    """A kernel compiled twice: with ``parallel=True`` (its prange loops spread over numba's
    threads) and as its serial twin (:func:`numba_conv.serial_twin`: the same loops on the
    calling thread). A call runs the serial build when numba has one thread or the call's
    first array has fewer than ``PARALLEL_MIN_WORK`` elements: handing a call to numba's
    workers costs ~20 us even at one thread (measured on the development VM), more than
    these passes take on the (N, C) batch-norm and linear shapes. Both builds give the same
    bits: every reduction is owned by one loop iteration, whoever runs it.
    ``forced_build`` overrides the choice (to compile both up front, and in tests)."""

    forced: str | None = None  # "serial" / "parallel" while forced_build(...) is active

    def __init__(self, kernel: Any) -> None:
        self.parallel = kernel
        self.serial = serial_twin(kernel)
        self.__doc__ = kernel.__doc__
        self.__name__ = kernel.py_func.__name__

    def __call__(self, *args: Any) -> Any:
        build = _Twin.forced
        if build is None:
            small = args[0].size < PARALLEL_MIN_WORK
            build = "serial" if small or numba.get_num_threads() == 1 else "parallel"
        return getattr(self, build)(*args)


@contextlib.contextmanager
def forced_build(build: str) -> Iterator[None]:
    """Run every numba_cpu kernel in its "serial" or "parallel" build inside the block."""
    if build not in ("serial", "parallel"):
        raise ValueError(f"forced_build: build must be 'serial' or 'parallel', got {build!r}")
    previous, _Twin.forced = _Twin.forced, build
    try:
        yield
    finally:
        _Twin.forced = previous


if numba is not None:
    cpu_threads.use_sleeping_numba_workers()  # before any kernel starts numba's threads
    # error_model="numpy": a float division by zero gives inf / nan as in NumPy, instead of
    # numba's default check that raises ZeroDivisionError, which keeps LLVM from
    # vectorising any loop with a division (the serial Adam pass: 282 -> 38 us per 100k
    # elements; parallel builds use NumPy's model already).
    _jit = njit(cache=True, nogil=True, error_model="numpy")

    def _pjit(fn: Any) -> _Twin:
        """A parallel kernel and its serial twin."""
        return _Twin(njit(cache=True, nogil=True, parallel=True, error_model="numpy")(fn))

    def _pjit_sum(fn: Any) -> _Twin:
        """_pjit for reductions, which may be reordered (so they vectorise); NaN and
        infinity keep their meaning."""
        options = {"fastmath": {"reassoc", "contract"}, "error_model": "numpy"}
        return _Twin(njit(cache=True, nogil=True, parallel=True, **options)(fn))

else:  # pragma: no cover - only without numba; the functions are then never dispatched to

    def _identity_decorator(fn):
        return fn

    _jit = _pjit = _pjit_sum = _identity_decorator
    prange = range


# Inner loops run over a slice's own indices (range(view.size)), never over a computed
# range(lo, hi) of the whole array: numba cannot prove such an index non-negative, keeps its
# negative-index wraparound, and LLVM then does not vectorise the loop (measured ~5-10x
# slower on the BCE and activation passes).


@_jit
def _store(acc, out):
    """out[j] = acc[j] (a float64 accumulator into the output's dtype)."""
    for j in range(acc.size):
        out[j] = acc[j]


# ----------------------------------------------------------------------------------
# Activations: the registry's codes (minigan.backend.activations) as numba functions
# ----------------------------------------------------------------------------------

# _act and _act_grad switch on these codes; a test checks them against the registry.
_CODES = {"none": 0, "relu": 1, "leaky_relu": 2, "tanh": 3, "sigmoid": 4}
assert _CODES == CODES, f"numba_cpu's activation codes {_CODES} differ from the registry {CODES}"
_NONE = _CODES["none"]


@_jit
def _act(z, code, slope):
    """y = act(z) for the activations fused into the bias pass: relu (code 1; NaN passes
    through, as np.maximum(z, 0)) and leaky_relu (code 2); any other code leaves z (tanh and
    sigmoid run in NumPy's vectorised ufuncs afterwards, see linear_act_forward)."""
    if code == 1:
        return z if (z > 0 or z != z) else 0.0
    if code == 2:
        return z if z > 0 else z * slope
    return z


@_jit
def _act_grad(dy, y, code, slope):
    """dz = dy * act'(z), read off the saved output y."""
    if code == 1:
        return dy if y > 0 else 0.0
    if code == 2:
        return dy if y > 0 else dy * slope
    if code == 3:
        return (1 - y * y) * dy
    if code == 4:
        return (1 - y) * y * dy
    return dy


# ----------------------------------------------------------------------------------
# A standalone activation: y = act(x), dx = dy * act'(x) read off y
# ----------------------------------------------------------------------------------


# The flat elementwise kernels loop over prange(n) directly: an index numba knows to be
# non-negative lets LLVM vectorise the loop (a loop over a computed sub-range [lo, hi) keeps
# numba's negative-index wraparound and runs ~10x slower). No reductions here, so the result
# does not depend on how numba splits the range between threads.


@_pjit
def _act_flat(x, y, code, slope):
    """y[i] = act(x[i]) for relu (code 1) / leaky_relu (code 2) over flat arrays. relu is
    written `0 if v <= 0 else v` with a zero of the array's dtype: NaN passes through (as
    np.maximum(v, 0)) and the loop vectorises without a float64 round trip."""
    if code == 1:
        zero = x.dtype.type(0)
        for i in prange(x.size):
            v = x[i]
            y[i] = zero if v <= zero else v
    else:
        for i in prange(x.size):
            v = x[i]
            y[i] = v if v > 0 else v * slope


@_pjit
def _sigmoid_from_exp_flat(z, e):
    """z[i] <- sigmoid(z[i]) given e[i] = exp(-|z[i]|), over flat arrays."""
    for i in prange(z.size):
        ei = e[i]
        z[i] = (1 if z[i] >= 0 else ei) / (1 + ei)


@_pjit
def _act_grad_flat(dy, y, dx, code, slope):
    """dx[i] = dy[i] * act'(y[i]) over flat arrays, one loop per activation (each
    vectorises; the switch is outside the loops)."""
    if code == 1:
        zero = dy.dtype.type(0)
        for i in prange(dy.size):
            dx[i] = dy[i] if y[i] > zero else zero
    elif code == 2:
        for i in prange(dy.size):
            dx[i] = dy[i] if y[i] > 0 else dy[i] * slope
    elif code == 3:
        for i in prange(dy.size):
            dx[i] = (1 - y[i] * y[i]) * dy[i]
    elif code == 4:
        for i in prange(dy.size):
            dx[i] = (1 - y[i]) * y[i] * dy[i]
    else:
        for i in prange(dy.size):
            dx[i] = dy[i]


def _flat(a: np.ndarray, dtype: np.dtype) -> np.ndarray:
    """a as a C-contiguous 1-d array of `dtype` (a view when it already is one)."""
    return np.ascontiguousarray(a, dtype=dtype).reshape(-1)


def activation_forward(
    x: np.ndarray, act: str | Activation = "none", slope: float = 0.01
) -> np.ndarray:
    """``y = act(x)``, any shape (numpy_ref.activation_forward has the math).

    relu and leaky_relu: one numba pass. tanh: NumPy's SIMD ufunc, one pass. sigmoid: e =
    exp(-|x|) by NumPy's ufuncs into the output buffer's twin, then one numba pass for
    1 / (1 + e) or e / (1 + e) (no overflow).
    """
    activation = checks.activation_forward_args(x, act, slope)
    code = activation.code
    y = np.empty(np.shape(x), dtype=x.dtype)
    if y.size == 0:
        return y
    flat_y = y.reshape(-1)  # a view (y is new and C-contiguous); 0-d x included
    if code == _NONE:
        np.copyto(y, x)
    elif code == _CODES["tanh"]:
        np.tanh(x, out=y)
    elif code == _CODES["sigmoid"]:
        np.copyto(y, x)
        e = np.abs(flat_y)
        np.negative(e, out=e)
        np.exp(e, out=e)
        _sigmoid_from_exp_flat(flat_y, e)
    else:
        _act_flat(_flat(x, y.dtype), flat_y, code, float(slope))
    return y


def activation_backward(
    dy: np.ndarray, y: np.ndarray, act: str | Activation = "none", slope: float = 0.01
) -> np.ndarray:
    """``dx = dy * act'(x)`` read off the saved output y (numpy_ref.activation_backward):
    one numba pass that reads dy and y once and writes dx."""
    activation = checks.activation_backward_args(dy, y, act, slope)
    dx = np.empty(np.shape(dy), dtype=dy.dtype)
    if dx.size:
        _act_grad_flat(
            _flat(dy, dx.dtype), _flat(y, dx.dtype), dx.reshape(-1), activation.code, float(slope)
        )
    return dx


# ----------------------------------------------------------------------------------
# Linear + activation: y = act(x @ w.T + b)
# ----------------------------------------------------------------------------------


@_pjit
def _bias_act_inplace(y, b, has_bias, code, slope):
    """y[i, j] <- act(y[i, j] + b[j]) in one pass, rows in parallel."""
    n, m = y.shape
    for i in prange(n):
        for j in range(m):
            z = y[i, j] + b[j] if has_bias else y[i, j]
            y[i, j] = _act(z, code, slope)


@_pjit
def _sigmoid_from_exp(z, e):
    """z <- sigmoid(z) given e = exp(-|z|): 1 / (1 + e) where z >= 0, else e / (1 + e)."""
    n, m = z.shape
    for i in prange(n):
        for j in range(m):
            ej = e[i, j]
            z[i, j] = (1 if z[i, j] >= 0 else ej) / (1 + ej)


@_pjit
def _act_grad_colsum(dy, y, dz, db, code, slope):
    """dz = dy * act'(y) and db[j] = sum_i dz[i, j] in one pass; each thread owns blocks of
    _COLUMN_BLOCK columns (its part of db), sweeping the rows."""
    n, m = dy.shape
    blocks = (m + _COLUMN_BLOCK - 1) // _COLUMN_BLOCK
    for blk in prange(blocks):
        j0 = blk * _COLUMN_BLOCK
        j1 = min(j0 + _COLUMN_BLOCK, m)
        acc = np.zeros(j1 - j0, dtype=np.float64)
        for i in range(n):
            dy_row, y_row, dz_row = dy[i, j0:j1], y[i, j0:j1], dz[i, j0:j1]
            for j in range(acc.size):
                g = _act_grad(dy_row[j], y_row[j], code, slope)
                dz_row[j] = g
                acc[j] += g
        _store(acc, db[j0:j1])


@_pjit_sum
def _colsum(a, out):
    """out[j] = sum_i a[i, j], accumulated in float64, column blocks in parallel."""
    n, m = a.shape
    blocks = (m + _COLUMN_BLOCK - 1) // _COLUMN_BLOCK
    for blk in prange(blocks):
        j0 = blk * _COLUMN_BLOCK
        j1 = min(j0 + _COLUMN_BLOCK, m)
        acc = np.zeros(j1 - j0, dtype=np.float64)
        for i in range(n):
            row = a[i, j0:j1]
            for j in range(acc.size):
                acc[j] += row[j]
        _store(acc, out[j0:j1])


def linear_act_forward(
    x: np.ndarray,
    w: np.ndarray,
    b: np.ndarray | None,
    act: str | Activation = "none",
    slope: float = 0.01,
) -> np.ndarray:
    """``y = act(x @ w.T + b)`` (numpy_ref.linear_act_forward has the full math).

    The GEMM runs on BLAS; the bias and the activation are one numba pass over y, in place.
    tanh and sigmoid take their transcendental from NumPy's SIMD ufuncs (numba's are scalar
    libm calls): tanh in place after the bias pass; sigmoid from e = exp(-|z|) as
    1 / (1 + e) for z >= 0 and e / (1 + e) otherwise (no overflow).
    """
    activation = checks.linear_act_forward_args(x, w, b, act, slope)
    y = np.ascontiguousarray(x @ w.T)
    if y.size == 0:
        return y
    code = activation.code
    fused = code if code in (_CODES["relu"], _CODES["leaky_relu"]) else _NONE
    if b is not None or fused != _NONE:
        bias = np.empty(0, y.dtype) if b is None else np.ascontiguousarray(b, dtype=y.dtype)
        _bias_act_inplace(y, bias, b is not None, fused, float(slope))
    if code == _CODES["tanh"]:
        np.tanh(y, out=y)
    elif code == _CODES["sigmoid"]:
        e = np.abs(y)
        np.negative(e, out=e)
        np.exp(e, out=e)
        _sigmoid_from_exp(y, e)
    return y


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
    """Gradients of ``y = act(x @ w.T + b)``: dz = dy * act'(z) (read off y), dx = dz @ w,
    dw = dz.T @ x, db = sum_n dz.

    dz and db come out of one numba pass (db accumulated in float64); the two GEMMs run on
    BLAS. Returns ``(dx, dw, db)`` with None for gradients not needed.
    """
    activation = checks.linear_act_backward_args(dy, x, w, y, act, slope)
    dy = np.ascontiguousarray(dy)
    db = None
    if activation.code == _NONE:
        dz = dy
        if need_db:
            db = np.empty(dy.shape[1], dtype=dy.dtype)
            if dy.size:
                _colsum(dy, db)
            else:
                db[...] = 0
    else:
        dz = np.empty_like(dy)
        db = np.empty(dy.shape[1], dtype=dy.dtype)
        if dy.size:
            yc = np.ascontiguousarray(y, dtype=dy.dtype)
            _act_grad_colsum(dy, yc, dz, db, activation.code, float(slope))
        else:
            db[...] = 0
        if not need_db:
            db = None
    dx = dz @ w if need_dx else None
    dw = dz.T @ x if need_dw else None
    return dx, dw, db


# ----------------------------------------------------------------------------------
# Batch normalisation
# ----------------------------------------------------------------------------------


@_pjit
def _bn_stats_planar(x, mean, var):
    """Per channel c of x (N, C, L): mean and biased variance, one pass over memory.

    Each image's plane of L values (in cache) gives its own mean and sum of squared
    deviations in two short sweeps; planes are merged with the pairwise update
    (count a + L, delta = mean_b - mean_a, M2 += M2_b + delta^2 a L / (a + L)), which is
    stable where sum(x^2) - n mean^2 is not."""
    n, c, plane = x.shape
    for ch in prange(c):
        count = 0.0
        mu = 0.0
        m2 = 0.0
        for img in range(n):
            s = 0.0
            for k in range(plane):
                s += x[img, ch, k]
            mu_b = s / plane
            m2_b = 0.0
            for k in range(plane):
                d = x[img, ch, k] - mu_b
                m2_b += d * d
            total = count + plane
            delta = mu_b - mu
            mu += delta * plane / total
            m2 += m2_b + delta * delta * count * plane / total
            count = total
        mean[ch] = mu
        var[ch] = m2 / count


@_pjit_sum
def _bn_stats_rows(x, mean, var):
    """Per column c of x (N, C): mean and biased variance; column blocks in parallel, two
    sweeps over the block's rows (the block is small and stays in cache)."""
    n, c = x.shape
    blocks = (c + _COLUMN_BLOCK - 1) // _COLUMN_BLOCK
    for blk in prange(blocks):
        j0 = blk * _COLUMN_BLOCK
        j1 = min(j0 + _COLUMN_BLOCK, c)
        s = np.zeros(j1 - j0, dtype=np.float64)
        for i in range(n):
            row = x[i, j0:j1]
            for j in range(s.size):
                s[j] += row[j]
        s /= n
        q = np.zeros(j1 - j0, dtype=np.float64)
        for i in range(n):
            row = x[i, j0:j1]
            for j in range(q.size):
                d = row[j] - s[j]
                q[j] += d * d
        q /= n
        _store(s, mean[j0:j1])
        _store(q, var[j0:j1])


@_pjit
def _bn_scale_shift(x, a, b, y):
    """y[n, c, k] = x[n, c, k] * a[c] + b[c] for x (N, C, L); images in parallel."""
    n, c, plane = x.shape
    for img in prange(n):
        for ch in range(c):
            ac = a[ch]
            bc = b[ch]
            for k in range(plane):
                y[img, ch, k] = x[img, ch, k] * ac + bc


@_pjit
def _rows_scale_shift(x, a, b, y):
    """y[n, c] = x[n, c] * a[c] + b[c] for x (N, C); rows in parallel."""
    n, c = x.shape
    for i in prange(n):
        for j in range(c):
            y[i, j] = x[i, j] * a[j] + b[j]


@_pjit_sum
def _bn_grad_sums_planar(dy, x, mean, sum_dy, sum_dy_xc):
    """Per channel of (N, C, L): sum dy and sum dy * (x - mean), in one pass."""
    n, c, plane = x.shape
    for ch in prange(c):
        s1 = 0.0
        s2 = 0.0
        mu = mean[ch]
        for img in range(n):
            for k in range(plane):
                g = dy[img, ch, k]
                s1 += g
                s2 += g * (x[img, ch, k] - mu)
        sum_dy[ch] = s1
        sum_dy_xc[ch] = s2


@_pjit_sum
def _bn_grad_sums_rows(dy, x, mean, sum_dy, sum_dy_xc):
    """Per column of (N, C): sum dy and sum dy * (x - mean), column blocks in parallel."""
    n, c = x.shape
    blocks = (c + _COLUMN_BLOCK - 1) // _COLUMN_BLOCK
    for blk in prange(blocks):
        j0 = blk * _COLUMN_BLOCK
        j1 = min(j0 + _COLUMN_BLOCK, c)
        s1 = np.zeros(j1 - j0, dtype=np.float64)
        s2 = np.zeros(j1 - j0, dtype=np.float64)
        mu = mean[j0:j1]
        for i in range(n):
            dy_row, x_row = dy[i, j0:j1], x[i, j0:j1]
            for j in range(s1.size):
                g = dy_row[j]
                s1[j] += g
                s2[j] += g * (x_row[j] - mu[j])
        _store(s1, sum_dy[j0:j1])
        _store(s2, sum_dy_xc[j0:j1])


@_pjit
def _bn_dx(dy, x, mean, a, mean_dy, k, dx):
    """dx = a[c] * (dy - mean_dy[c]) - k[c] * (x - mean[c]) for (N, C, L), images in
    parallel (the training-mode formula with its per-channel constants folded)."""
    n, c, plane = x.shape
    for img in prange(n):
        for ch in range(c):
            ac = a[ch]
            kc = k[ch]
            mdy = mean_dy[ch]
            mu = mean[ch]
            for q in range(plane):
                dx[img, ch, q] = ac * (dy[img, ch, q] - mdy) - kc * (x[img, ch, q] - mu)


@_pjit
def _rows_dx(dy, x, mean, a, mean_dy, k, dx):
    """_bn_dx for (N, C) inputs; rows in parallel."""
    n, c = x.shape
    for i in prange(n):
        for j in range(c):
            dx[i, j] = a[j] * (dy[i, j] - mean_dy[j]) - k[j] * (x[i, j] - mean[j])


def _as_ncl(a: np.ndarray) -> np.ndarray:
    """(N, C, ...) -> a C-contiguous (N, C, L) view (or copy, when a is not contiguous)."""
    a = np.ascontiguousarray(a)
    return a.reshape(a.shape[0], a.shape[1], -1)


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
    """Batch normalisation over channel axis 1 (numpy_ref.batchnorm_forward has the math).

    Training: mean and biased var per channel (one pass over x, float64 accumulation),
    invstd = 1 / sqrt(var + eps), running statistics updated in place (unbiased var);
    eval: the running statistics. Output ``y = x * a + b`` with a = gamma * invstd and
    b = beta - mean * a, one pass. Returns ``(y, mean, invstd)`` in x's dtype.
    """
    _axes, _bshape, n = checks.batchnorm_forward_args(
        x, gamma, beta, running_mean, running_var, training
    )
    dtype = x.dtype
    x3 = _as_ncl(x)
    channels = x.shape[1]
    if training:
        mean64 = np.empty(channels, dtype=np.float64)
        var64 = np.empty(channels, dtype=np.float64)
        if x3.shape[2] == 1:
            _bn_stats_rows(x3.reshape(x3.shape[0], channels), mean64, var64)
        else:
            _bn_stats_planar(x3, mean64, var64)
        mean = mean64.astype(dtype)
        var = var64.astype(dtype)
        invstd = (1 / np.sqrt(var + eps)).astype(dtype, copy=False)
        if running_mean is not None and running_var is not None:
            numpy_ref.update_running_stats(running_mean, running_var, mean, var, momentum, n)
    else:
        mean = running_mean.astype(dtype, copy=True)
        invstd = (1 / np.sqrt(running_var + eps)).astype(dtype, copy=False)
    scale = invstd.astype(np.float64) if gamma is None else gamma * invstd.astype(np.float64)
    shift = -mean.astype(np.float64) * scale
    if beta is not None:
        shift += beta
    y = np.empty(x.shape, dtype=dtype)
    if y.size and x3.shape[2] == 1:
        rows = (x3.shape[0], channels)
        _rows_scale_shift(
            x3.reshape(rows), scale.astype(dtype), shift.astype(dtype), y.reshape(rows)
        )
    elif y.size:
        _bn_scale_shift(x3, scale.astype(dtype), shift.astype(dtype), y.reshape(x3.shape))
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
    """Gradients of batch norm from the saved mean and invstd (numpy_ref has the math).

    One pass gives, per channel, sum dy and sum dy * (x - mean) (float64), hence
    dbeta = sum dy and dgamma = invstd * sum dy * (x - mean); a second pass writes, in
    training mode, dx = scale * (dy - sum dy / n) - scale * invstd^2 * (sum dy (x - mean)) / n
    * (x - mean) with scale = gamma * invstd (the folded form of
    scale / n * (n dy - sum dy - xhat sum dy xhat)); in eval mode dx = scale * dy.
    """
    _axes, _bshape, n = checks.batchnorm_backward_args(dy, x, gamma, mean, invstd)
    if gamma is None:
        need_dgamma = need_dbeta = False
    dtype = dy.dtype
    channels = x.shape[1]
    invstd64 = invstd.astype(np.float64)
    scale = invstd64 if gamma is None else gamma * invstd64
    dy3 = _as_ncl(dy)
    need_sums = need_dgamma or need_dbeta or (need_dx and training)
    sum_dy = np.zeros(channels, dtype=np.float64)
    sum_dy_xc = np.zeros(channels, dtype=np.float64)
    x3 = _as_ncl(np.asarray(x, dtype=dtype)) if (need_sums or need_dx) else None
    if need_sums and dy.size:
        mean_c = np.ascontiguousarray(mean, dtype=dtype)
        if dy3.shape[2] == 1:
            _bn_grad_sums_rows(
                dy3.reshape(dy3.shape[0], channels),
                x3.reshape(dy3.shape[0], channels),
                mean_c,
                sum_dy,
                sum_dy_xc,
            )
        else:
            _bn_grad_sums_planar(dy3, x3, mean_c, sum_dy, sum_dy_xc)
    dx = None
    if need_dx:
        if training:
            mean_dy = sum_dy / n
            k = scale * invstd64 * invstd64 * sum_dy_xc / n
        else:
            mean_dy = np.zeros(channels)
            k = np.zeros(channels)
        dx = np.empty(dy.shape, dtype=dtype)
        constants = (
            np.ascontiguousarray(mean, dtype=dtype),
            scale.astype(dtype),
            mean_dy.astype(dtype),
            k.astype(dtype),
        )
        if dx.size and dy3.shape[2] == 1:
            rows = (dy3.shape[0], channels)
            _rows_dx(dy3.reshape(rows), x3.reshape(rows), *constants, dx.reshape(rows))
        elif dx.size:
            _bn_dx(dy3, x3, *constants, dx.reshape(dy3.shape))
    dgamma = (sum_dy_xc * invstd64).astype(dtype) if need_dgamma else None
    dbeta = sum_dy.astype(dtype) if need_dbeta else None
    return dx, dgamma, dbeta


# ----------------------------------------------------------------------------------
# Loss: fused sigmoid + binary cross-entropy
# ----------------------------------------------------------------------------------


@_pjit_sum
def _sigmoid_bce_from_exp(x, t, e, grad, partial, grad_scale):
    """The fused pass of the BCE, given e = exp(-|x|) and grad = log1p(e) (computed by
    NumPy's vectorised ufuncs): partial[chunk] = sum over the chunk of the losses
    max(x, 0) - x t + log1p(e) (float64), and grad <- (sigmoid(x) - t) * grad_scale with
    sigmoid(x) = 1 / (1 + e) for x >= 0 and e / (1 + e) otherwise; chunks in parallel."""
    size = x.size
    for ch in prange(partial.size):
        lo = ch * _FLAT_CHUNK
        hi = min(lo + _FLAT_CHUNK, size)
        xs, ts, es, gs = x[lo:hi], t[lo:hi], e[lo:hi], grad[lo:hi]
        acc = 0.0
        for i in range(xs.size):
            xi = xs[i]
            ti = ts[i]
            ei = es[i]
            acc += max(xi, 0) - xi * ti + gs[i]
            gs[i] = ((1 if xi >= 0 else ei) / (1 + ei) - ti) * grad_scale
        partial[ch] = acc


def sigmoid_bce_forward_backward(
    logits: np.ndarray, targets: np.ndarray, reduction: str = "mean"
) -> tuple[np.ndarray, np.ndarray]:
    """Binary cross-entropy on logits, loss and gradient in one fused pass.

    l = max(x, 0) - x t + log1p(exp(-|x|)), dl/dx = sigmoid(x) - t; the loss is the mean
    (gradient / N) or the sum over all N elements. Returns ``(loss, dlogits)``, the loss a
    0-d array of the logits' dtype.
    """
    checks.sigmoid_bce_args(logits, targets, reduction)
    x = np.ascontiguousarray(logits)
    t = np.ascontiguousarray(targets, dtype=x.dtype)
    # The transcendentals run in NumPy's SIMD ufuncs (numba's would be scalar calls to
    # libm, several times slower); the arithmetic around them is one numba pass.
    e = np.abs(x)
    np.negative(e, out=e)
    np.exp(e, out=e)  # e = exp(-|x|) in (0, 1]
    grad = np.log1p(e)  # log1p(e), read and then overwritten by the fused pass
    partial = np.empty((x.size + _FLAT_CHUNK - 1) // _FLAT_CHUNK, dtype=np.float64)
    scale = 1.0 / x.size if reduction == "mean" else 1.0
    _sigmoid_bce_from_exp(
        x.reshape(-1), t.reshape(-1), e.reshape(-1), grad.reshape(-1), partial, scale
    )
    total = partial.sum()
    if reduction == "mean":
        total /= x.size
    # (np.ascontiguousarray makes a 0-d input 1-d: the gradient gets the logits' shape back)
    return np.asarray(total, dtype=x.dtype), grad.reshape(np.shape(logits))


# ----------------------------------------------------------------------------------
# Optimiser: Adam
# ----------------------------------------------------------------------------------


@_pjit
def _adam_update(p, g, m, v, beta1, beta2, step_size, inv_sqrt_bc2, eps, weight_decay):
    """One Adam update of flat arrays, each element read and written once."""
    for i in prange(p.size):
        gi = g[i] + weight_decay * p[i]
        mi = beta1 * m[i] + (1 - beta1) * gi
        vi = beta2 * v[i] + (1 - beta2) * gi * gi
        m[i] = mi
        v[i] = vi
        p[i] -= step_size * mi / (math.sqrt(vi) * inv_sqrt_bc2 + eps)


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
    """One Adam update (PyTorch semantics, L2 weight decay), IN PLACE::

        g = g + weight_decay * p
        m = beta1 m + (1 - beta1) g          v = beta2 v + (1 - beta2) g^2
        p = p - lr / (1 - beta1^t) * m / (sqrt(v) / sqrt(1 - beta2^t) + eps)

    All arguments are validated before any parameter changes. Each parameter is one numba
    pass that reads p, g, m, v and writes p, m, v once (no temporaries); a parameter that
    is not C-contiguous is updated through a contiguous copy written back. A grad of None
    skips its parameter.
    """
    checks.adam_step_args(params, grads, exp_avgs, exp_avg_sqs, step)
    step_size = lr / (1 - beta1**step)
    inv_sqrt_bc2 = 1 / math.sqrt(1 - beta2**step)
    for p, g, m, v in zip(params, grads, exp_avgs, exp_avg_sqs):
        if g is None or p.size == 0:
            continue
        arrays = [np.ascontiguousarray(a) for a in (p, m, v)]
        grad = np.ascontiguousarray(g, dtype=p.dtype)
        flat_p, flat_m, flat_v = (a.reshape(-1) for a in arrays)
        _adam_update(
            flat_p,
            grad.reshape(-1),
            flat_m,
            flat_v,
            beta1,
            beta2,
            step_size,
            inv_sqrt_bc2,
            eps,
            weight_decay,
        )
        for original, updated in zip((p, m, v), arrays):
            if updated is not original:  # a non-contiguous parameter: write the copy back
                original[...] = updated


# ----------------------------------------------------------------------------------
# Compiling everything up front
# ----------------------------------------------------------------------------------


def _dispatchers() -> list[Any]:
    """Every numba-compiled kernel of the CPU implementation (both builds of each _Twin)."""
    from numba.core.registry import CPUDispatcher

    from . import numba_conv

    found = []
    for module in (sys.modules[__name__], numba_conv):
        for value in vars(module).values():
            if isinstance(value, _Twin):
                found += [value.serial, value.parallel]
            elif isinstance(value, CPUDispatcher):
                found.append(value)
    return found


def compile_every_kernel() -> int:
    """Call each float32 contract function once on tiny arrays, in both builds of every
    kernel (and numba_conv's parallel builds explicitly: tiny convolutions reach only the
    serial ones), which compiles every kernel or loads it from numba's on-disk cache.
    Returns how many kernels numba had to compile (0 when the cache had them all)."""
    from . import numba_conv

    rng = np.random.default_rng(0)

    def r(*shape: int) -> np.ndarray:
        return rng.standard_normal(shape).astype(np.float32)

    x, w, b = r(3, 4), r(5, 4), r(5)
    for build in ("serial", "parallel"):
        with forced_build(build):
            for act in ACTIVATIONS:
                y = linear_act_forward(x, w, b, act, 0.2)
                linear_act_backward(r(3, 5), x, w, y, act, 0.2)
                activation_backward(x, activation_forward(x, act, 0.2), act, 0.2)
            for shape in ((4, 3), (2, 3, 2, 2)):
                xb, c = r(*shape), shape[1]
                ones = np.ones(c, np.float32)
                y, mean, invstd = batchnorm_forward(xb, r(c), r(c), r(c), ones, True)
                batchnorm_backward(r(*shape), xb, r(c), mean, invstd, True)
            sigmoid_bce_forward_backward(r(4, 1), np.ones((4, 1), np.float32))
            zeros = [np.zeros(3, np.float32)]
            adam_step([r(3)], [r(3)], zeros, [np.zeros(3, np.float32)], 1)
    numba_conv.compile_kernels(("float32",))
    xi, wc, wt = r(2, 3, 6, 6), r(4, 3, 3, 3), r(3, 4, 3, 3)
    y = conv2d_forward(xi, wc, r(4), 2, 1)
    conv2d_backward(y, xi, wc, 2, 1)
    yt = conv_transpose2d_forward(xi, wt, r(4), 2, 1, 1)
    conv_transpose2d_backward(yt, xi, wt, 2, 1, 1)
    return sum(len(d.stats.cache_misses) for d in _dispatchers())
