# The kernel contract on the GPU through our hand-written CUDA kernels (minigan._C, built
# from csrc/): checks shapes / dtypes / devices, allocates outputs and workspaces with CuPy,
# and calls the extension with raw device pointers and the current CuPy stream.
"""The ``ext`` implementation of the kernel contract: a thin wrapper over ``minigan._C``.

Every function has the name, signature and return convention of its twin in
``numpy_ref`` (read that module for the math). Inputs are CuPy ``float32`` arrays; other
dtypes raise ``TypeError`` (use the ``cupy`` or ``numpy`` implementation for float64).
Non-contiguous inputs are copied to C order; arrays updated in place (batch-norm running
statistics, Adam's parameters and moments) must already be C-contiguous.

Division of labour: this module validates shapes (with :mod:`minigan.backend.checks`,
shared with ``numpy_ref``, so the error messages are the same), allocates every output and
scratch buffer ("workspace") with CuPy, and passes ``array.data.ptr`` plus the current
stream (``cupy.cuda.get_current_stream().ptr``) to ``minigan._C``, which launches kernels
on that stream and never allocates. Nothing synchronises: results are ready in stream order.

Importing this module never fails; ``unavailable_reason()`` says why it cannot be used
("" when it can), and the dispatcher in ``minigan.backend`` reports that reason.
"""

from __future__ import annotations

import contextlib
import functools
import importlib
import math
import threading
from collections.abc import Iterator, Sequence
from typing import Any

import numpy as np

from . import checks
from .checks import IntPair

__all__ = [
    "ACTIVATION_CODES",
    "SUPPORTED_DTYPES",
    "adam_step",
    "batchnorm_backward",
    "batchnorm_forward",
    "conv2d_backward",
    "conv2d_forward",
    "conv_transpose2d_backward",
    "conv_transpose2d_forward",
    "forced_kernel_version",
    "linear_act_backward",
    "linear_act_forward",
    "sigmoid_bce_forward_backward",
    "unavailable_reason",
]

# The extension's kernels are FP32 only; the dispatcher (minigan.backend) sends other
# dtypes to the next implementation (the CuPy fallback).
SUPPORTED_DTYPES = ("float32",)

# Activation name -> the code of csrc/common.cuh's Activation enum (_C.ACTIVATIONS; a
# test checks that the two agree).
ACTIVATION_CODES = {"none": 0, "relu": 1, "leaky_relu": 2, "tanh": 3, "sigmoid": 4}

# At most this many floats (128 MiB) of im2col columns per conv call: larger batches are
# processed in chunks of images.
CONV_WORKSPACE_FLOATS = 1 << 25
# The fused BCE kernel writes one partial loss per block; at most this many blocks.
BCE_MAX_PARTIALS = 2048
# GEMM tile edge of the register-blocked kernel (csrc/gemm.cu, v3) and its k-tile.
_TILE, _KTILE = 128, 8


# ----------------------------------------------------------------------------------
# Availability
# ----------------------------------------------------------------------------------


@functools.lru_cache(maxsize=1)
def _state() -> tuple[Any, Any, str]:
    """(minigan._C, cupy, "") when usable, else (None, None, why not)."""
    try:
        ext = importlib.import_module("minigan._C")
    except ImportError as exc:
        return (
            None,
            None,
            "minigan._C is not built (it needs nvcc and pybind11 at install time; reinstall "
            f"with MINIGAN_BUILD_CUDA=1 to see why): {exc}",
        )
    status = ext.device_status()
    if status:
        return None, None, f"no CUDA GPU/driver usable by minigan._C: {status}"
    try:
        import cupy
    except Exception as exc:  # ImportError, or a broken CUDA install
        return None, None, f"cupy is not importable ({type(exc).__name__}: {exc})"
    try:
        count = cupy.cuda.runtime.getDeviceCount()
    except Exception as exc:
        return None, None, f"cupy found no usable CUDA driver/GPU ({type(exc).__name__}: {exc})"
    if count < 1:
        return None, None, "cupy sees no CUDA GPU"
    return ext, cupy, ""


def unavailable_reason() -> str:
    """Why this implementation cannot run here ("" when it can), e.g. that minigan._C was
    not built (no nvcc at install time) or that there is no CUDA GPU/driver."""
    return _state()[2]


def _require(op: str) -> tuple[Any, Any]:
    ext, cp, why = _state()
    if ext is None:
        raise RuntimeError(f"{op}: the CUDA extension cannot be used: {why}")
    return ext, cp


@contextlib.contextmanager
def forced_kernel_version(family: str, version: int) -> Iterator[None]:
    """Run one kernel family ("gemm", "batchnorm", "sigmoid_bce", "adam") with a given
    version (1 = the naive one; see the csrc/ file headers) inside the block, e.g. to test
    the fast kernels against the simple ones."""
    ext, _cp = _require("forced_kernel_version")
    ext.set_kernel_version(family, version)
    try:
        yield
    finally:
        ext.set_kernel_version(family, 0)


# ----------------------------------------------------------------------------------
# Small helpers
# ----------------------------------------------------------------------------------

_tls = threading.local()


def _check_arrays(op: str, cp: Any, **arrays: Any) -> int:
    """Every given array is a float32 CuPy array, all on one GPU; returns its id."""
    device = None
    for name, a in arrays.items():
        if a is None:
            continue
        if not isinstance(a, cp.ndarray):
            raise TypeError(
                f"{op}: {name} must be a CuPy array (device 'cuda'), got {type(a).__name__}"
            )
        if a.dtype != np.float32:
            raise TypeError(
                f"{op}: the CUDA extension supports float32 only, but {name} has dtype "
                f"{a.dtype} (use the cupy or numpy implementation for other dtypes)"
            )
        if device is None:
            device = a.device.id
        elif a.device.id != device:
            raise ValueError(
                f"{op}: all arrays must be on one GPU; {name} is on GPU {a.device.id}, "
                f"the others on GPU {device}"
            )
    return 0 if device is None else device


def _contig(cp: Any, a: Any) -> Any:
    return None if a is None or a.flags.c_contiguous else cp.ascontiguousarray(a)


def _c(cp: Any, a: Any) -> Any:
    """a itself when C-contiguous (or None), else a C-contiguous copy."""
    if a is None:
        return None
    copy = _contig(cp, a)
    return a if copy is None else copy


def _ptr(a: Any) -> int:
    return 0 if a is None else int(a.data.ptr)


def _stream(ext: Any, cp: Any, device: int) -> int:
    """The current CuPy stream's handle, after making `device` current for _C's runtime
    (which keeps its own current device per thread)."""
    if getattr(_tls, "device", None) != device:
        ext.set_device(device)
        _tls.device = device
    return int(cp.cuda.get_current_stream().ptr)


@functools.lru_cache(maxsize=16)
def _sm_count(device: int) -> int:
    _ext, cp, _why = _state()
    return int(cp.cuda.Device(device).attributes["MultiProcessorCount"])


def _empty(cp: Any, floats: int) -> Any:
    return cp.empty((int(floats),), dtype=cp.float32)


def split_k(m: int, n: int, k_tiles: int, sm_count: int) -> int:
    """How many ways to split a GEMM reduction (split-K) producing an m x n result from
    k_tiles k-tiles of 8: enough for the 128x128 output tiles x splits to fill the GPU about
    twice over, while each split keeps at least 32 k-tiles (256 terms), and at most 64."""
    tiles = math.ceil(m / _TILE) * math.ceil(n / _TILE)
    if tiles == 0 or k_tiles <= 0:
        return 1
    want = max(1, (2 * sm_count) // tiles)
    most = max(1, k_tiles // 32)
    return int(min(want, most, 64))


def conv_chunk(geometry: Sequence[int], budget_floats: int | None = None) -> int:
    """Images per im2col chunk for a conv2d geometry (N, C, H, W, O, kh, kw, sh, sw, ph, pw,
    Ho, Wo): as many as fit in budget_floats (default CONV_WORKSPACE_FLOATS) of columns, at
    least 1, at most 65535."""
    if budget_floats is None:
        budget_floats = CONV_WORKSPACE_FLOATS
    n, c, _h, _w, _o, kh, kw, *_rest, ho, wo = geometry
    per_image = max(1, c * kh * kw * ho * wo)
    return int(max(1, min(n, 65535, budget_floats // per_image)))


def _conv_plan(ext: Any, geometry: list[int], device: int, need_dw: bool) -> tuple[int, int, int]:
    """(chunk, splits, workspace floats) of a conv call."""
    chunk = conv_chunk(geometry)
    splits = 1
    if need_dw:
        _n, c, _h, _w, o, kh, kw, *_rest, ho, wo = geometry
        k_tiles = chunk * math.ceil(ho * wo / _KTILE)
        splits = split_k(o, c * kh * kw, k_tiles, _sm_count(device))
    return chunk, splits, int(ext.conv_workspace_floats(geometry, chunk, splits, need_dw))


# ----------------------------------------------------------------------------------
# Linear + activation
# ----------------------------------------------------------------------------------


def linear_act_forward(
    x: Any, w: Any, b: Any | None, act: str = "none", slope: float = 0.01
) -> Any:
    """y = act(x @ w.T + b); see numpy_ref.linear_act_forward."""
    op = "linear_act_forward"
    checks.linear_act_forward_args(x, w, b, act, slope)
    ext, cp = _require(op)
    device = _check_arrays(op, cp, x=x, w=w, b=b)
    with cp.cuda.Device(device):
        x, w, b = _c(cp, x), _c(cp, w), _c(cp, b)
        n, k = x.shape
        m = w.shape[0]
        y = cp.empty((n, m), dtype=cp.float32)
        ext.linear_act_forward(
            _ptr(x), _ptr(w), _ptr(b), _ptr(y), n, k, m, ACTIVATION_CODES[act], float(slope),
            _stream(ext, cp, device),
        )  # fmt: skip
    return y


def linear_act_backward(
    dy: Any,
    x: Any,
    w: Any,
    y: Any,
    act: str = "none",
    slope: float = 0.01,
    need_dx: bool = True,
    need_dw: bool = True,
    need_db: bool = True,
) -> tuple[Any | None, Any | None, Any | None]:
    """(dx, dw, db) of y = act(x @ w.T + b); see numpy_ref.linear_act_backward."""
    op = "linear_act_backward"
    checks.linear_act_backward_args(dy, x, w, y, act, slope)
    ext, cp = _require(op)
    device = _check_arrays(op, cp, dy=dy, x=x, w=w, y=y)
    with cp.cuda.Device(device):
        dy, x, w, y = _c(cp, dy), _c(cp, x), _c(cp, w), _c(cp, y)
        n, k = x.shape
        m = w.shape[0]
        dx = cp.empty((n, k), dtype=cp.float32) if need_dx else None
        dw = cp.empty((m, k), dtype=cp.float32) if need_dw else None
        db = cp.empty((m,), dtype=cp.float32) if need_db else None
        splits = split_k(m, k, math.ceil(n / _KTILE), _sm_count(device)) if need_dw else 1
        ws = _empty(cp, ext.linear_act_workspace_floats(k, m, splits) if need_dw else 0)
        ext.linear_act_backward(
            _ptr(dy), _ptr(x), _ptr(w), _ptr(y), _ptr(dx), _ptr(dw), _ptr(db), n, k, m,
            ACTIVATION_CODES[act], float(slope), _ptr(ws), ws.size, splits,
            _stream(ext, cp, device),
        )  # fmt: skip
    return dx, dw, db


# ----------------------------------------------------------------------------------
# Convolution
# ----------------------------------------------------------------------------------


def conv2d_forward(
    x: Any,
    w: Any,
    b: Any | None,
    stride: IntPair = (1, 1),
    padding: IntPair = (0, 0),
) -> Any:
    """2-D cross-correlation (PyTorch Conv2d); see numpy_ref.conv2d_forward."""
    op = "conv2d_forward"
    stride, padding = checks.conv2d_forward_args(x, w, b, stride, padding)
    ho, wo = checks.conv2d_out_hw(op, x.shape, w.shape, stride, padding)
    ext, cp = _require(op)
    device = _check_arrays(op, cp, x=x, w=w, b=b)
    n, c, h, wd = x.shape
    o, _, kh, kw = w.shape
    geometry = [n, c, h, wd, o, kh, kw, *stride, *padding, ho, wo]
    with cp.cuda.Device(device):
        x, w, b = _c(cp, x), _c(cp, w), _c(cp, b)
        chunk, _splits, floats = _conv_plan(ext, geometry, device, need_dw=False)
        ws = _empty(cp, floats)
        y = cp.empty((n, o, ho, wo), dtype=cp.float32)
        ext.conv2d_forward(
            _ptr(x), _ptr(w), _ptr(b), _ptr(y), geometry, _ptr(ws), ws.size, chunk,
            _stream(ext, cp, device),
        )  # fmt: skip
    return y


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
    """(dx, dw, db) of conv2d_forward; see numpy_ref.conv2d_backward."""
    op = "conv2d_backward"
    stride, padding = checks.conv2d_backward_args(dy, x, w, stride, padding)
    ho, wo = dy.shape[2:]
    ext, cp = _require(op)
    device = _check_arrays(op, cp, dy=dy, x=x, w=w)
    n, c, h, wd = x.shape
    o, _, kh, kw = w.shape
    geometry = [n, c, h, wd, o, kh, kw, *stride, *padding, ho, wo]
    with cp.cuda.Device(device):
        dy, x, w = _c(cp, dy), _c(cp, x), _c(cp, w)
        chunk, splits, floats = _conv_plan(ext, geometry, device, need_dw)
        ws = _empty(cp, floats if (need_dx or need_dw) else 0)
        dx = cp.empty((n, c, h, wd), dtype=cp.float32) if need_dx else None
        dw = cp.empty((o, c, kh, kw), dtype=cp.float32) if need_dw else None
        db = cp.empty((o,), dtype=cp.float32) if need_db else None
        ext.conv2d_backward(
            _ptr(dy), _ptr(x), _ptr(w), _ptr(dx), _ptr(dw), _ptr(db), geometry, _ptr(ws),
            ws.size, chunk, splits, _stream(ext, cp, device),
        )  # fmt: skip
    return dx, dw, db


def _transpose_geometry(x: Any, w: Any, out_hw: tuple[int, int], stride, padding) -> list[int]:
    """The geometry of the conv2d that conv_transpose2d(x, w) is the adjoint of: its input
    is the transpose's output (N, Cout, Hout, Wout), its output the transpose's input."""
    n, cin, hin, win = x.shape
    _, cout, kh, kw = w.shape
    return [n, cout, out_hw[0], out_hw[1], cin, kh, kw, *stride, *padding, hin, win]


def conv_transpose2d_forward(
    x: Any,
    w: Any,
    b: Any | None,
    stride: IntPair = (1, 1),
    padding: IntPair = (0, 0),
    output_padding: IntPair = (0, 0),
) -> Any:
    """Transposed 2-D convolution (PyTorch ConvTranspose2d); see
    numpy_ref.conv_transpose2d_forward."""
    op = "conv_transpose2d_forward"
    stride, padding, _, out_hw = checks.conv_transpose2d_forward_args(
        x, w, b, stride, padding, output_padding
    )
    ext, cp = _require(op)
    device = _check_arrays(op, cp, x=x, w=w, b=b)
    geometry = _transpose_geometry(x, w, out_hw, stride, padding)
    with cp.cuda.Device(device):
        x, w, b = _c(cp, x), _c(cp, w), _c(cp, b)
        chunk, _splits, floats = _conv_plan(ext, geometry, device, need_dw=False)
        ws = _empty(cp, floats)
        y = cp.empty((x.shape[0], w.shape[1], *out_hw), dtype=cp.float32)
        ext.conv_transpose2d_forward(
            _ptr(x), _ptr(w), _ptr(b), _ptr(y), geometry, _ptr(ws), ws.size, chunk,
            _stream(ext, cp, device),
        )  # fmt: skip
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
    """(dx, dw, db) of conv_transpose2d_forward; see numpy_ref.conv_transpose2d_backward."""
    op = "conv_transpose2d_backward"
    stride, padding, _, out_hw = checks.conv_transpose2d_backward_args(
        dy, x, w, stride, padding, output_padding
    )
    ext, cp = _require(op)
    device = _check_arrays(op, cp, dy=dy, x=x, w=w)
    geometry = _transpose_geometry(x, w, out_hw, stride, padding)
    with cp.cuda.Device(device):
        dy, x, w = _c(cp, dy), _c(cp, x), _c(cp, w)
        chunk, splits, floats = _conv_plan(ext, geometry, device, need_dw)
        ws = _empty(cp, floats if (need_dx or need_dw) else 0)
        dx = cp.empty(x.shape, dtype=cp.float32) if need_dx else None
        dw = cp.empty(w.shape, dtype=cp.float32) if need_dw else None
        db = cp.empty((w.shape[1],), dtype=cp.float32) if need_db else None
        ext.conv_transpose2d_backward(
            _ptr(dy), _ptr(x), _ptr(w), _ptr(dx), _ptr(dw), _ptr(db), geometry, _ptr(ws),
            ws.size, chunk, splits, _stream(ext, cp, device),
        )  # fmt: skip
    return dx, dw, db


# ----------------------------------------------------------------------------------
# Batch normalisation
# ----------------------------------------------------------------------------------


def _ncp(x: Any) -> tuple[int, int, int]:
    """x (N, C, *spatial) viewed as (N, C, P)."""
    n, c = x.shape[:2]
    return int(n), int(c), int(math.prod(x.shape[2:]))


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
    """(y, mean, invstd); running statistics updated in place. See
    numpy_ref.batchnorm_forward."""
    op = "batchnorm_forward"
    checks.batchnorm_forward_args(x, gamma, beta, running_mean, running_var, training)
    ext, cp = _require(op)
    device = _check_arrays(
        op, cp, x=x, gamma=gamma, beta=beta, running_mean=running_mean, running_var=running_var
    )
    for name, a in (("running_mean", running_mean), ("running_var", running_var)):
        if a is not None and not a.flags.c_contiguous:
            raise ValueError(f"{op}: {name} is updated in place and must be C-contiguous")
    with cp.cuda.Device(device):
        x, gamma, beta = _c(cp, x), _c(cp, gamma), _c(cp, beta)
        n, c, p = _ncp(x)
        y = cp.empty(x.shape, dtype=cp.float32)
        mean = cp.empty((c,), dtype=cp.float32)
        invstd = cp.empty((c,), dtype=cp.float32)
        ext.batchnorm_forward(
            _ptr(x), _ptr(gamma), _ptr(beta), _ptr(running_mean), _ptr(running_var), _ptr(y),
            _ptr(mean), _ptr(invstd), n, c, p, bool(training), float(momentum), float(eps),
            _stream(ext, cp, device),
        )  # fmt: skip
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
    """(dx, dgamma, dbeta) of batchnorm_forward; see numpy_ref.batchnorm_backward."""
    op = "batchnorm_backward"
    checks.batchnorm_backward_args(dy, x, gamma, mean, invstd)
    if gamma is None:
        need_dgamma = need_dbeta = False
    ext, cp = _require(op)
    device = _check_arrays(op, cp, dy=dy, x=x, gamma=gamma, mean=mean, invstd=invstd)
    with cp.cuda.Device(device):
        dy, x, gamma = _c(cp, dy), _c(cp, x), _c(cp, gamma)
        mean, invstd = _c(cp, mean), _c(cp, invstd)
        n, c, p = _ncp(x)
        dx = cp.empty(x.shape, dtype=cp.float32) if need_dx else None
        dgamma = cp.empty((c,), dtype=cp.float32) if need_dgamma else None
        dbeta = cp.empty((c,), dtype=cp.float32) if need_dbeta else None
        ext.batchnorm_backward(
            _ptr(dy), _ptr(x), _ptr(gamma), _ptr(mean), _ptr(invstd), _ptr(dx), _ptr(dgamma),
            _ptr(dbeta), n, c, p, bool(training), _stream(ext, cp, device),
        )  # fmt: skip
    return dx, dgamma, dbeta


# ----------------------------------------------------------------------------------
# Loss
# ----------------------------------------------------------------------------------


def sigmoid_bce_forward_backward(
    logits: Any, targets: Any, reduction: str = "mean"
) -> tuple[Any, Any]:
    """(loss as a 0-d array, dlogits) of the stable BCE on logits; see
    numpy_ref.sigmoid_bce_forward_backward."""
    op = "sigmoid_bce_forward_backward"
    checks.sigmoid_bce_args(logits, targets, reduction)
    ext, cp = _require(op)
    device = _check_arrays(op, cp, logits=logits)
    with cp.cuda.Device(device):
        x = _c(cp, logits)
        t = cp.ascontiguousarray(cp.asarray(targets, dtype=cp.float32))
        n = int(x.size)
        loss = cp.empty((), dtype=cp.float32)
        dlogits = cp.empty(x.shape, dtype=cp.float32)
        partials = _empty(cp, min(BCE_MAX_PARTIALS, math.ceil(n / 1024)))
        ext.sigmoid_bce_forward_backward(
            _ptr(x), _ptr(t), _ptr(loss), _ptr(dlogits), n, reduction == "mean",
            _ptr(partials), partials.size, _stream(ext, cp, device),
        )  # fmt: skip
    return loss, dlogits


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
    """One in-place Adam update of every parameter with a gradient, in ONE kernel launch
    (a device table of pointers); see numpy_ref.adam_step."""
    op = "adam_step"
    checks.adam_step_args(params, grads, exp_avgs, exp_avg_sqs, step)
    live = [
        (k, p, g, m, v)
        for k, (p, g, m, v) in enumerate(zip(params, grads, exp_avgs, exp_avg_sqs))
        if g is not None
    ]
    if not live:
        return
    ext, cp = _require(op)
    device = None
    for k, p, g, m, v in live:
        d = _check_arrays(op, cp, **{f"params[{k}]": p, f"grads[{k}]": g}, exp_avg=m, exp_avg_sq=v)
        if device is None:
            device = d
        elif d != device:
            raise ValueError(f"{op}: params[{k}] is on GPU {d}, the others on GPU {device}")
        for name, arr in ((f"params[{k}]", p), (f"exp_avgs[{k}]", m), (f"exp_avg_sqs[{k}]", v)):
            if not arr.flags.c_contiguous:
                raise ValueError(f"{op}: {name} is updated in place and must be C-contiguous")
    assert device is not None
    with cp.cuda.Device(device):
        grads_c = [_c(cp, g) for _k, _p, g, _m, _v in live]  # kept alive until the launch
        sizes = [int(p.size) for _k, p, _g, _m, _v in live]
        offsets = np.concatenate(([0], np.cumsum(sizes)[:-1])).astype(np.uint64)
        table_host = np.concatenate(
            [
                np.array([_ptr(p) for _k, p, _g, _m, _v in live], dtype=np.uint64),
                np.array([_ptr(g) for g in grads_c], dtype=np.uint64),
                np.array([_ptr(m) for _k, _p, _g, m, _v in live], dtype=np.uint64),
                np.array([_ptr(v) for _k, _p, _g, _m, v in live], dtype=np.uint64),
                np.array(sizes, dtype=np.uint64),
                offsets,
            ]
        )
        table = cp.asarray(table_host)  # one small host-to-device copy on the current stream
        ext.adam_step(
            _ptr(table), len(live), max(sizes), sum(sizes), int(step), float(lr), float(beta1),
            float(beta2), float(eps), float(weight_decay), _stream(ext, cp, device),
        )  # fmt: skip
