# The kernel contract through our hand-written CUDA kernels: checks shapes / dtypes /
# devices, allocates outputs and workspaces, and calls the compiled extension with raw
# pointers and a stream. One wrapper, two runtimes: minigan._C on the GPU with CuPy arrays
# (this module's functions), and minigan._C_emu, the same kernel sources run by the CPU
# emulator of the CUDA execution model, with NumPy arrays (minigan.backend.emu_ext).
"""The ``ext`` implementation of the kernel contract: a thin wrapper over ``minigan._C``.

The wrapper is the class :class:`KernelExtension`, parametrized by an :class:`ExtRuntime`
that says which extension module and which array module to use (:class:`CupyRuntime`
here; ``emu_ext.EmuRuntime`` for the emulated build), so the code that runs on a GPU
(checks, allocation, workspace planning, kernel-version choice) is exactly the code the
emulated kernel suite exercises in CI.

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

from . import activations, checks, devices
from .activations import Activation
from .checks import IntPair

__all__ = [
    "ACTIVATION_CODES",
    "CupyRuntime",
    "ExtRuntime",
    "KernelExtension",
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

# Activation name -> the code of csrc/common.cuh's Activation enum, from the activation
# registry (tests/test_activations.py checks it against the enum and _C.ACTIVATIONS).
ACTIVATION_CODES = dict(activations.CODES)

# At most this many floats (128 MiB) of im2col columns per conv call: larger batches are
# processed in chunks of images.
CONV_WORKSPACE_FLOATS = 1 << 25
# The fused BCE kernel writes one partial loss per block; at most this many blocks.
BCE_MAX_PARTIALS = 2048
# GEMM tile edge of the register-blocked kernel (csrc/gemm.cu, v3) and its k-tile.
_TILE, _KTILE = 128, 8


# ----------------------------------------------------------------------------------
# Runtimes: which extension module and array module the wrapper drives
# ----------------------------------------------------------------------------------


class ExtRuntime:
    """What KernelExtension needs from a platform: the extension module and array module,
    device pointers, streams, device scopes and allocation. Subclasses: CupyRuntime (the GPU)
    and emu_ext.EmuRuntime (the kernels run by the CPU emulator, NumPy arrays)."""

    name = "ext"
    module = "minigan._C"
    array_kind = "array"

    def load(self) -> tuple[Any, Any]:
        """(extension module, array module); raises RuntimeError saying why not usable."""
        raise NotImplementedError

    @functools.cached_property
    def state(self) -> tuple[Any, Any, str]:
        """(extension, array module, "") when usable, else (None, None, why not)."""
        try:
            ext, xp = self.load()
        except RuntimeError as exc:
            return None, None, str(exc)
        return ext, xp, ""

    def ptr(self, a: Any) -> int:
        raise NotImplementedError

    def device_of(self, a: Any) -> int:
        raise NotImplementedError

    def scope(self, device: int) -> contextlib.AbstractContextManager:
        """Entered around every call: makes `device` current (and, in the emulator, scopes
        the memory the kernels may touch to the arrays of that call)."""
        raise NotImplementedError

    def stream(self, ext: Any, device: int) -> int:
        raise NotImplementedError

    def sm_count(self, device: int) -> int:
        raise NotImplementedError

    def empty(self, shape: tuple[int, ...]) -> Any:
        raise NotImplementedError

    def to_device(self, host: np.ndarray) -> Any:
        raise NotImplementedError


class CupyRuntime(ExtRuntime):
    """minigan._C on a CUDA GPU, CuPy arrays, the current CuPy stream."""

    name = "ext"
    module = "minigan._C"
    array_kind = "a CuPy array (device 'cuda')"

    def load(self) -> tuple[Any, Any]:
        try:
            ext = importlib.import_module("minigan._C")
        except ImportError as exc:
            raise RuntimeError(
                "minigan._C is not built (it needs nvcc and pybind11 at install time; "
                f"reinstall with MINIGAN_BUILD_CUDA=1 to see why): {exc}"
            ) from exc
        status = ext.device_status()
        if status:
            raise RuntimeError(f"no CUDA GPU/driver usable by minigan._C: {status}")
        found = devices.probe()  # the arrays are CuPy's: CuPy must see the GPU too
        if not found.usable:
            raise RuntimeError(found.reason)
        return ext, found.cupy

    def ptr(self, a: Any) -> int:
        return int(a.data.ptr)

    def device_of(self, a: Any) -> int:
        return int(a.device.id)

    def scope(self, device: int) -> contextlib.AbstractContextManager:
        return self.state[1].cuda.Device(device)

    def stream(self, ext: Any, device: int) -> int:
        """The current CuPy stream's handle, after making `device` current for _C's runtime
        (which keeps its own current device per thread)."""
        if getattr(_tls, "device", None) != device:
            ext.set_device(device)
            _tls.device = device
        return int(self.state[1].cuda.get_current_stream().ptr)

    @functools.lru_cache(maxsize=16)  # noqa: B019 (one runtime object per process)
    def sm_count(self, device: int) -> int:
        return int(self.state[1].cuda.Device(device).attributes["MultiProcessorCount"])

    def empty(self, shape: tuple[int, ...]) -> Any:
        return self.state[1].empty(shape, dtype=np.float32)

    def to_device(self, host: np.ndarray) -> Any:
        return devices.to_device(host, "cuda")


_tls = threading.local()


# ----------------------------------------------------------------------------------
# Planning (pure functions, tested without a GPU)
# ----------------------------------------------------------------------------------


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


# ----------------------------------------------------------------------------------
# The wrapper
# ----------------------------------------------------------------------------------


class KernelExtension:
    """The kernel contract (the functions of numpy_ref, same signatures) over a compiled
    extension with the kernels of csrc/, driven through an ExtRuntime."""

    def __init__(self, runtime: ExtRuntime) -> None:
        self.rt = runtime

    # ----- availability and helpers ---------------------------------------------------

    def unavailable_reason(self) -> str:
        """Why this implementation cannot run here ("" when it can), e.g. that minigan._C
        was not built (no nvcc at install time) or that there is no CUDA GPU/driver."""
        return self.rt.state[2]

    def _require(self, op: str) -> tuple[Any, Any]:
        ext, xp, why = self.rt.state
        if ext is None:
            raise RuntimeError(f"{op}: the CUDA extension ({self.rt.module}) cannot be used: {why}")
        return ext, xp

    @contextlib.contextmanager
    def forced_kernel_version(self, family: str, version: int) -> Iterator[None]:
        """Run one kernel family ("gemm", "batchnorm", "sigmoid_bce", "adam") with a given
        version (1 = the naive one; see the csrc/ file headers) inside the block, e.g. to
        test the fast kernels against the simple ones."""
        ext, _xp = self._require("forced_kernel_version")
        ext.set_kernel_version(family, version)
        try:
            yield
        finally:
            ext.set_kernel_version(family, 0)

    def _check_arrays(self, op: str, any_dtype: tuple[str, ...] = (), **arrays: Any) -> int:
        """Every given array (inputs, and outputs updated in place) is an array of this
        runtime, float32 unless named in any_dtype, all on one device; returns its id."""
        xp = self.rt.state[1]
        device = None
        for name, a in arrays.items():
            if a is None:
                continue
            if not isinstance(a, xp.ndarray):
                raise TypeError(
                    f"{op}: {name} must be {self.rt.array_kind}, got {type(a).__name__}"
                )
            if a.dtype != np.float32 and name not in any_dtype:
                raise TypeError(
                    f"{op}: the CUDA extension supports float32 only, but {name} has dtype "
                    f"{a.dtype} (use the cupy or numpy implementation for other dtypes)"
                )
            d = self.rt.device_of(a)
            if device is None:
                device = d
            elif d != device:
                raise ValueError(
                    f"{op}: all arrays must be on one GPU; {name} is on GPU {d}, "
                    f"the others on GPU {device}"
                )
        return 0 if device is None else device

    def _c(self, a: Any) -> Any:
        """a itself when C-contiguous (or None), else a C-contiguous copy."""
        if a is None or a.flags.c_contiguous:
            return a
        return self.rt.state[1].ascontiguousarray(a)

    def _ptr(self, a: Any) -> int:
        return 0 if a is None else self.rt.ptr(a)

    def _stream(self, device: int) -> int:
        return self.rt.stream(self.rt.state[0], device)

    def _conv_plan(self, geometry: list[int], device: int, need_dw: bool) -> tuple[int, int, int]:
        """(chunk, splits, workspace floats) of a conv call."""
        ext = self.rt.state[0]
        chunk = conv_chunk(geometry)
        splits = 1
        if need_dw:
            _n, c, _h, _w, o, kh, kw, *_rest, ho, wo = geometry
            k_tiles = chunk * math.ceil(ho * wo / _KTILE)
            splits = split_k(o, c * kh * kw, k_tiles, self.rt.sm_count(device))
        return chunk, splits, int(ext.conv_workspace_floats(geometry, chunk, splits, need_dw))

    # ----------------------------------------------------------------------------------
    # Linear + activation
    # ----------------------------------------------------------------------------------

    def linear_act_forward(
        self, x: Any, w: Any, b: Any | None, act: str | Activation = "none", slope: float = 0.01
    ) -> Any:
        """y = act(x @ w.T + b); see numpy_ref.linear_act_forward."""
        op = "linear_act_forward"
        activation = checks.linear_act_forward_args(x, w, b, act, slope)
        ext, xp = self._require(op)
        device = self._check_arrays(op, x=x, w=w, b=b)
        with self.rt.scope(device):
            x, w, b = self._c(x), self._c(w), self._c(b)
            n, k = x.shape
            m = w.shape[0]
            y = self.rt.empty((n, m))
            ext.linear_act_forward(
                self._ptr(x),
                self._ptr(w),
                self._ptr(b),
                self._ptr(y),
                n,
                k,
                m,
                activation.code,
                float(slope),
                self._stream(device),
            )
        return y

    def linear_act_backward(
        self,
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
        """(dx, dw, db) of y = act(x @ w.T + b); see numpy_ref.linear_act_backward."""
        op = "linear_act_backward"
        activation = checks.linear_act_backward_args(dy, x, w, y, act, slope)
        ext, xp = self._require(op)
        device = self._check_arrays(op, dy=dy, x=x, w=w, y=y)
        with self.rt.scope(device):
            dy, x, w, y = self._c(dy), self._c(x), self._c(w), self._c(y)
            n, k = x.shape
            m = w.shape[0]
            dx = self.rt.empty((n, k)) if need_dx else None
            dw = self.rt.empty((m, k)) if need_dw else None
            db = self.rt.empty((m,)) if need_db else None
            splits = (
                split_k(m, k, math.ceil(n / _KTILE), self.rt.sm_count(device)) if need_dw else 1
            )
            ws_floats = ext.linear_act_workspace_floats(k, m, splits) if need_dw else 0
            ws = self.rt.empty((int(ws_floats),))
            ext.linear_act_backward(
                self._ptr(dy),
                self._ptr(x),
                self._ptr(w),
                self._ptr(y),
                self._ptr(dx),
                self._ptr(dw),
                self._ptr(db),
                n,
                k,
                m,
                activation.code,
                float(slope),
                self._ptr(ws),
                ws.size,
                splits,
                self._stream(device),
            )
        return dx, dw, db

    # ----------------------------------------------------------------------------------
    # Convolution
    # ----------------------------------------------------------------------------------

    def conv2d_forward(
        self,
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
        ext, xp = self._require(op)
        device = self._check_arrays(op, x=x, w=w, b=b)
        n, c, h, wd = x.shape
        o, _, kh, kw = w.shape
        geometry = [n, c, h, wd, o, kh, kw, *stride, *padding, ho, wo]
        with self.rt.scope(device):
            x, w, b = self._c(x), self._c(w), self._c(b)
            chunk, _splits, floats = self._conv_plan(geometry, device, need_dw=False)
            ws = self.rt.empty((int(floats),))
            y = self.rt.empty((n, o, ho, wo))
            ext.conv2d_forward(
                self._ptr(x),
                self._ptr(w),
                self._ptr(b),
                self._ptr(y),
                geometry,
                self._ptr(ws),
                ws.size,
                chunk,
                self._stream(device),
            )
        return y

    def conv2d_backward(
        self,
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
        ext, xp = self._require(op)
        device = self._check_arrays(op, dy=dy, x=x, w=w)
        n, c, h, wd = x.shape
        o, _, kh, kw = w.shape
        geometry = [n, c, h, wd, o, kh, kw, *stride, *padding, ho, wo]
        with self.rt.scope(device):
            dy, x, w = self._c(dy), self._c(x), self._c(w)
            chunk, splits, floats = self._conv_plan(geometry, device, need_dw)
            ws = self.rt.empty((int(floats if (need_dx or need_dw) else 0),))
            dx = self.rt.empty((n, c, h, wd)) if need_dx else None
            dw = self.rt.empty((o, c, kh, kw)) if need_dw else None
            db = self.rt.empty((o,)) if need_db else None
            ext.conv2d_backward(
                self._ptr(dy),
                self._ptr(x),
                self._ptr(w),
                self._ptr(dx),
                self._ptr(dw),
                self._ptr(db),
                geometry,
                self._ptr(ws),
                ws.size,
                chunk,
                splits,
                self._stream(device),
            )
        return dx, dw, db

    def _transpose_geometry(
        self, x: Any, w: Any, out_hw: tuple[int, int], stride, padding
    ) -> list[int]:
        """The geometry of the conv2d that conv_transpose2d(x, w) is the adjoint of: its input
        is the transpose's output (N, Cout, Hout, Wout), its output the transpose's input."""
        n, cin, hin, win = x.shape
        _, cout, kh, kw = w.shape
        return [n, cout, out_hw[0], out_hw[1], cin, kh, kw, *stride, *padding, hin, win]

    def conv_transpose2d_forward(
        self,
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
        ext, xp = self._require(op)
        device = self._check_arrays(op, x=x, w=w, b=b)
        geometry = self._transpose_geometry(x, w, out_hw, stride, padding)
        with self.rt.scope(device):
            x, w, b = self._c(x), self._c(w), self._c(b)
            chunk, _splits, floats = self._conv_plan(geometry, device, need_dw=False)
            ws = self.rt.empty((int(floats),))
            y = self.rt.empty((x.shape[0], w.shape[1], *out_hw))
            ext.conv_transpose2d_forward(
                self._ptr(x),
                self._ptr(w),
                self._ptr(b),
                self._ptr(y),
                geometry,
                self._ptr(ws),
                ws.size,
                chunk,
                self._stream(device),
            )
        return y

    def conv_transpose2d_backward(
        self,
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
        ext, xp = self._require(op)
        device = self._check_arrays(op, dy=dy, x=x, w=w)
        geometry = self._transpose_geometry(x, w, out_hw, stride, padding)
        with self.rt.scope(device):
            dy, x, w = self._c(dy), self._c(x), self._c(w)
            chunk, splits, floats = self._conv_plan(geometry, device, need_dw)
            ws = self.rt.empty((int(floats if (need_dx or need_dw) else 0),))
            dx = self.rt.empty(x.shape) if need_dx else None
            dw = self.rt.empty(w.shape) if need_dw else None
            db = self.rt.empty((w.shape[1],)) if need_db else None
            ext.conv_transpose2d_backward(
                self._ptr(dy),
                self._ptr(x),
                self._ptr(w),
                self._ptr(dx),
                self._ptr(dw),
                self._ptr(db),
                geometry,
                self._ptr(ws),
                ws.size,
                chunk,
                splits,
                self._stream(device),
            )
        return dx, dw, db

    # ----------------------------------------------------------------------------------
    # Batch normalisation
    # ----------------------------------------------------------------------------------

    def _ncp(self, x: Any) -> tuple[int, int, int]:
        """x (N, C, *spatial) viewed as (N, C, P)."""
        n, c = x.shape[:2]
        return int(n), int(c), int(math.prod(x.shape[2:]))

    def batchnorm_forward(
        self,
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
        ext, xp = self._require(op)
        device = self._check_arrays(
            op, x=x, gamma=gamma, beta=beta, running_mean=running_mean, running_var=running_var
        )
        for name, a in (("running_mean", running_mean), ("running_var", running_var)):
            if a is not None and not a.flags.c_contiguous:
                raise ValueError(f"{op}: {name} is updated in place and must be C-contiguous")
        with self.rt.scope(device):
            x, gamma, beta = self._c(x), self._c(gamma), self._c(beta)
            n, c, p = self._ncp(x)
            y = self.rt.empty(x.shape)
            mean = self.rt.empty((c,))
            invstd = self.rt.empty((c,))
            ext.batchnorm_forward(
                self._ptr(x),
                self._ptr(gamma),
                self._ptr(beta),
                self._ptr(running_mean),
                self._ptr(running_var),
                self._ptr(y),
                self._ptr(mean),
                self._ptr(invstd),
                n,
                c,
                p,
                bool(training),
                float(momentum),
                float(eps),
                self._stream(device),
            )
        return y, mean, invstd

    def batchnorm_backward(
        self,
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
        ext, xp = self._require(op)
        device = self._check_arrays(op, dy=dy, x=x, gamma=gamma, mean=mean, invstd=invstd)
        with self.rt.scope(device):
            dy, x, gamma = self._c(dy), self._c(x), self._c(gamma)
            mean, invstd = self._c(mean), self._c(invstd)
            n, c, p = self._ncp(x)
            dx = self.rt.empty(x.shape) if need_dx else None
            dgamma = self.rt.empty((c,)) if need_dgamma else None
            dbeta = self.rt.empty((c,)) if need_dbeta else None
            ext.batchnorm_backward(
                self._ptr(dy),
                self._ptr(x),
                self._ptr(gamma),
                self._ptr(mean),
                self._ptr(invstd),
                self._ptr(dx),
                self._ptr(dgamma),
                self._ptr(dbeta),
                n,
                c,
                p,
                bool(training),
                self._stream(device),
            )
        return dx, dgamma, dbeta

    # ----------------------------------------------------------------------------------
    # Loss
    # ----------------------------------------------------------------------------------

    def activation_forward(
        self, x: Any, act: str | Activation = "none", slope: float = 0.01
    ) -> Any:
        """y = act(x), any shape; see numpy_ref.activation_forward."""
        op = "activation_forward"
        activation = checks.activation_forward_args(x, act, slope)
        ext, xp = self._require(op)
        device = self._check_arrays(op, x=x)
        with self.rt.scope(device):
            x = self._c(x)
            y = self.rt.empty(x.shape)
            ext.activation_forward(
                self._ptr(x),
                self._ptr(y),
                int(x.size),
                activation.code,
                float(slope),
                self._stream(device),
            )
        return y

    def activation_backward(
        self, dy: Any, y: Any, act: str | Activation = "none", slope: float = 0.01
    ) -> Any:
        """dx = dy * act'(x) read off the saved output y; see numpy_ref.activation_backward."""
        op = "activation_backward"
        activation = checks.activation_backward_args(dy, y, act, slope)
        ext, xp = self._require(op)
        device = self._check_arrays(op, dy=dy, y=y)
        with self.rt.scope(device):
            dy, y = self._c(dy), self._c(y)
            dx = self.rt.empty(dy.shape)
            ext.activation_backward(
                self._ptr(dy),
                self._ptr(y),
                self._ptr(dx),
                int(dy.size),
                activation.code,
                float(slope),
                self._stream(device),
            )
        return dx

    def sigmoid_bce_forward_backward(
        self, logits: Any, targets: Any, reduction: str = "mean"
    ) -> tuple[Any, Any]:
        """(loss as a 0-d array, dlogits) of the stable BCE on logits; see
        numpy_ref.sigmoid_bce_forward_backward."""
        op = "sigmoid_bce_forward_backward"
        checks.sigmoid_bce_args(logits, targets, reduction)
        ext, xp = self._require(op)
        device = self._check_arrays(op, any_dtype=("targets",), logits=logits, targets=targets)
        with self.rt.scope(device):
            x = self._c(logits)
            t = xp.ascontiguousarray(xp.asarray(targets, dtype=xp.float32))
            n = int(x.size)
            loss = self.rt.empty(())
            dlogits = self.rt.empty(x.shape)
            partials = self.rt.empty((min(BCE_MAX_PARTIALS, math.ceil(n / 1024)),))
            ext.sigmoid_bce_forward_backward(
                self._ptr(x),
                self._ptr(t),
                self._ptr(loss),
                self._ptr(dlogits),
                n,
                reduction == "mean",
                self._ptr(partials),
                partials.size,
                self._stream(device),
            )
        return loss, dlogits

    # ----------------------------------------------------------------------------------
    # Optimiser
    # ----------------------------------------------------------------------------------

    def adam_step(
        self,
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
        ext, xp = self._require(op)
        device = None
        for k, p, g, m, v in live:
            d = self._check_arrays(
                op, **{f"params[{k}]": p, f"grads[{k}]": g}, exp_avg=m, exp_avg_sq=v
            )
            if device is None:
                device = d
            elif d != device:
                raise ValueError(f"{op}: params[{k}] is on GPU {d}, the others on GPU {device}")
            for name, arr in ((f"params[{k}]", p), (f"exp_avgs[{k}]", m), (f"exp_avg_sqs[{k}]", v)):
                if not arr.flags.c_contiguous:
                    raise ValueError(f"{op}: {name} is updated in place and must be C-contiguous")
        assert device is not None
        with self.rt.scope(device):
            grads_c = [self._c(g) for _k, _p, g, _m, _v in live]  # kept alive until the launch
            sizes = [int(p.size) for _k, p, _g, _m, _v in live]
            offsets = np.concatenate(([0], np.cumsum(sizes)[:-1])).astype(np.uint64)
            table_host = np.concatenate(
                [
                    np.array([self._ptr(p) for _k, p, _g, _m, _v in live], dtype=np.uint64),
                    np.array([self._ptr(g) for g in grads_c], dtype=np.uint64),
                    np.array([self._ptr(m) for _k, _p, _g, m, _v in live], dtype=np.uint64),
                    np.array([self._ptr(v) for _k, _p, _g, _m, v in live], dtype=np.uint64),
                    np.array(sizes, dtype=np.uint64),
                    offsets,
                ]
            )
            table = self.rt.to_device(table_host)  # one small host-to-device copy
            ext.adam_step(
                self._ptr(table),
                len(live),
                max(sizes),
                sum(sizes),
                int(step),
                float(lr),
                float(beta1),
                float(beta2),
                float(eps),
                float(weight_decay),
                self._stream(device),
            )


# ----------------------------------------------------------------------------------
# The GPU instance: this module's functions are the contract for the dispatcher
# ----------------------------------------------------------------------------------

GPU = KernelExtension(CupyRuntime())
unavailable_reason = GPU.unavailable_reason
forced_kernel_version = GPU.forced_kernel_version
linear_act_forward = GPU.linear_act_forward
linear_act_backward = GPU.linear_act_backward
conv2d_forward = GPU.conv2d_forward
conv2d_backward = GPU.conv2d_backward
conv_transpose2d_forward = GPU.conv_transpose2d_forward
conv_transpose2d_backward = GPU.conv_transpose2d_backward
batchnorm_forward = GPU.batchnorm_forward
batchnorm_backward = GPU.batchnorm_backward
activation_forward = GPU.activation_forward
activation_backward = GPU.activation_backward
sigmoid_bce_forward_backward = GPU.sigmoid_bce_forward_backward
adam_step = GPU.adam_step
