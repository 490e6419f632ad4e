# tests/test_cuda_kernels.py: validation of the hand-written CUDA kernels of csrc/ against the
# NumPy reference in float64, run twice: on a GPU (minigan._C via cuda_ext.GPU, CuPy arrays;
# marked `cuda`) and in the CPU emulator of the CUDA execution model (minigan._C_emu via
# emu_ext.EMU, NumPy arrays; marked `emu`, runs in CI without a GPU). Every family, forward and
# every gradient, over many shapes (tails that are not multiples of the tiles, batch 1, odd
# channels, stride 2 with odd sizes, output_padding, zero-size dimensions), every kernel
# version against the reference, hypothesis-generated GEMM / conv shapes, multi-step Adam, BCE
# at +-1e4, misaligned and non-contiguous views, errors; for the emulator also thread-order
# independence and that kernels really ran. A few slow emulated cases are marked `emu_full`
# (run with --run-emu-full or MINIGAN_EMU_FULL=1).
"""Tests of csrc/'s CUDA kernels, on a GPU (``cuda``) and in the CUDA emulator (``emu``).

Every test takes the ``kx`` fixture: the implementation under test (``kx.mod``, a
``cuda_ext.KernelExtension``) with its array module (``kx.xp``: cupy or numpy) and host/device
copies (``kx.dev``, ``kx.host``). Its ``ext`` param is skipped without a GPU and a usable
minigan._C, its ``emu`` param without a built minigan._C_emu (``python3 csrc/emu/build.py``).
Both use the same tolerances: the emulator runs the same kernel code in float32.

Each comparison rounds the inputs to float32, evaluates ``numpy_ref`` in float64 on exactly
those values, and applies the tolerance policy of docs/testing.md: float32 results must be
within ``c * sqrt(K) * 2^-24`` (relative to the array's largest reference value) with K the
reduction length of that output, c = 16 (32 for the batch-norm backward, see testing.md).
For sums whose result can be much smaller than their terms (a bias gradient of a single
output, a dot product near 0), the absolute tolerance is floored at tol * sqrt(K) * rms(a) *
rms(b): the typical size of a sum of K products a*b of random sign (`gemm_scale`).
"""

from __future__ import annotations

import contextlib
import math
from collections.abc import Iterator
from typing import Any

import numpy as np
import pytest
from helpers import (
    assert_close,
    check_op,
    emu_counts,
    emu_full_enabled,
    emu_unavailable_reason,
    requires_emu,
    tolerance,
    use_backend,
)
from hypothesis import given, settings
from hypothesis import strategies as st

import minigan
from minigan.backend import cuda_ext, emu_ext
from minigan.backend import numpy_ref as nr

try:
    import cupy as cp
except Exception:  # no CuPy (or a broken CUDA install): the ext param is skipped
    cp = None

HYPOTHESIS = settings(max_examples=25, deadline=None, derandomize=True, database=None)
TINY = float(np.finfo(np.float32).tiny)
ACTS = ("none", "relu", "leaky_relu", "tanh", "sigmoid")
GEMM_VERSIONS = (1, 2, 3)

# ----------------------------------------------------------------------------------
# The implementations under test: the `kx` fixture
# ----------------------------------------------------------------------------------


def _ext_unavailable_reason() -> str:
    if not minigan.cuda_is_available():
        return "needs a CUDA GPU (minigan.cuda_is_available())"
    why = cuda_ext.unavailable_reason()
    return f"minigan._C is unusable: {why}" if why else ""


EXT_REASON = _ext_unavailable_reason()
EMU_REASON = emu_unavailable_reason()
emu_full = pytest.mark.emu_full  # too slow for the default emulated run (see conftest.py)


class KernelImpl:
    """One implementation of csrc/'s kernels with its array module: "ext" (the GPU, CuPy
    arrays) or "emu" (the CUDA emulator, NumPy arrays standing in for device memory)."""

    def __init__(self, name: str) -> None:
        self.name = name
        self.emulated = name == "emu"
        self.mod = emu_ext.EMU if self.emulated else cuda_ext.GPU
        self.xp = np if self.emulated else cp
        self.backend = name  # the MINIGAN_BACKEND value that selects it
        self.device = "cpu" if self.emulated else "cuda"  # the minigan device it serves
        self.array_kind = "a NumPy array" if self.emulated else "a CuPy array"

    def __repr__(self) -> str:
        return f"KernelImpl({self.name!r})"

    def dev(self, a: Any) -> Any:
        """Host values -> a fresh C-contiguous float32 device array (None stays None)."""
        if a is None:
            return None
        if self.emulated:
            return np.array(f32(a), dtype=np.float32, order="C", copy=True)
        return cp.asarray(f32(a))

    def raw(self, a: Any) -> Any:
        """Host array -> a device array of the same dtype (no float32 cast)."""
        return np.array(a, copy=True) if self.emulated else cp.asarray(a)

    def dev_aligned(self, a: Any) -> Any:
        """Like dev, but the data starts on a 16-byte boundary (CuPy's pool always does;
        NumPy's allocator usually does, this makes sure), so that [1:] is misaligned."""
        if not self.emulated:
            return cp.asarray(f32(a))
        a = f32(a)
        buf = np.empty(a.size + 4, dtype=np.float32)
        skip = (-buf.ctypes.data % 16) // 4
        out = buf[skip : skip + a.size].reshape(a.shape)
        out[...] = a
        assert out.ctypes.data % 16 == 0
        return out

    def address(self, a: Any) -> int:
        return int(a.ctypes.data) if self.emulated else int(a.data.ptr)

    def host(self, a: Any) -> np.ndarray:
        return host(a)

    def pointer_modes(self) -> list[str]:
        """How empty arrays reach the kernels: "native" (the runtime's own addresses), and
        for the emulator also "null" (see null_empty_pointers)."""
        return ["native", "null"] if self.emulated else ["native"]

    @contextlib.contextmanager
    def pointer_mode(self, mode: str) -> Iterator[None]:
        """In "null" mode the emulated runtime passes a null pointer for every empty array,
        as CuPy does on a GPU (its allocator returns MemoryPointer(Memory(0), 0) for 0
        bytes), while NumPy's empty arrays have a real address: without this, zero-size
        cases in the emulator would not see what the GPU sees."""
        if mode == "native":
            yield
            return
        assert self.emulated and mode == "null", mode
        rt = self.mod.rt
        native = type(rt).ptr
        rt.ptr = lambda a: 0 if a.size == 0 else native(rt, a)
        try:
            yield
        finally:
            del rt.ptr

    def foreign(self, a: np.ndarray) -> Any:
        """An array-like of a's shape that is NOT this runtime's array type."""
        if not self.emulated:
            return a  # a NumPy array is foreign to the GPU wrapper
        return _DuckArray(a)


class _DuckArray:
    """Has .shape/.ndim/.dtype/.size (enough for the shape checks) but is no ndarray."""

    def __init__(self, a: np.ndarray) -> None:
        self.shape, self.ndim, self.dtype, self.size = a.shape, a.ndim, a.dtype, a.size


@pytest.fixture(
    scope="module",
    params=[
        pytest.param(
            "ext",
            marks=[pytest.mark.cuda, pytest.mark.skipif(bool(EXT_REASON), reason=EXT_REASON)],
        ),
        pytest.param(
            "emu",
            marks=[
                pytest.mark.emu,
                pytest.mark.skipif(bool(EMU_REASON), reason=f"CUDA emulator: {EMU_REASON}"),
            ],
        ),
    ],
)
def kx(request: pytest.FixtureRequest) -> KernelImpl:
    return KernelImpl(request.param)


def examples(kx: KernelImpl, full: int = 100) -> settings:
    """Hypothesis settings: 25 examples (HYPOTHESIS), on the GPU and in the emulator alike;
    `full` examples in the emulator with --run-emu-full / MINIGAN_EMU_FULL=1."""
    if kx.emulated and emu_full_enabled():
        return settings(HYPOTHESIS, max_examples=full)
    return HYPOTHESIS


# ----------------------------------------------------------------------------------
# Helpers
# ----------------------------------------------------------------------------------


def rng(seed: int = 0) -> np.random.Generator:
    return np.random.default_rng(seed)


def f32(a) -> np.ndarray:
    return np.ascontiguousarray(a, dtype=np.float32)


def host(a) -> np.ndarray:
    """A device array (CuPy or the emulator's NumPy) as a NumPy array."""
    if cp is not None and isinstance(a, cp.ndarray):
        return cp.asnumpy(a)
    return np.asarray(a)


def f64(a):
    """The float32 values under test, widened to float64 for the reference."""
    return None if a is None else f32(a).astype(np.float64)


def rms(a) -> float:
    a = np.asarray(a, dtype=np.float64)
    return float(np.sqrt(np.mean(a * a))) if a.size else 0.0


def gemm_scale(k: int, a, b=None) -> float:
    """Typical size of a sum of k products a*b with random signs: sqrt(k) rms(a) rms(b)."""
    return math.sqrt(max(k, 1)) * rms(a) * (1.0 if b is None else rms(b))


def dz_of(dy, y, act: str, slope: float):
    """dz = dy * act'(z) read off y, as in numpy_ref.linear_act_backward (float64)."""
    dy, y = f64(dy), f64(y)
    grad = {
        "none": np.ones_like(y),
        "relu": (y > 0).astype(np.float64),
        "leaky_relu": np.where(y > 0, 1.0, slope),
        "tanh": 1 - y * y,
        "sigmoid": y * (1 - y),
    }[act]
    return dy * grad


def close(actual, expected, k: int, what: str, c: float = 16.0, scale: float = 0.0) -> None:
    """assert_close with the float32 policy for reduction length k; `scale` (optional) is
    the size of the terms that cancel in the result, when that exceeds max|expected|."""
    assert actual is not None, f"{what}: missing"
    tol = tolerance(np.float32, max(1, k), c)
    assert_close(host(actual), expected, tol, what, atol_floor=max(TINY, tol * scale))


# ----------------------------------------------------------------------------------
# linear_act
# ----------------------------------------------------------------------------------

LINEAR_SHAPES = [  # (N, K, M): tails around the 128x128x8 tiles, batch 1, K = 0
    (1, 1, 1),
    (1, 7, 3),
    (7, 33, 5),
    (33, 127, 129),
    (129, 1, 33),
    (128, 256, 130),
    (3, 0, 4),
    (257, 65, 1),
]


def _linear_case(n, k, m, seed=0, bias=True):
    r = rng(seed)
    x = f32(r.standard_normal((n, k)))
    w = f32(r.standard_normal((m, k)) / math.sqrt(max(k, 1)))
    b = f32(r.standard_normal(m)) if bias else None
    return x, w, b


@pytest.mark.parametrize("version", GEMM_VERSIONS)
@pytest.mark.parametrize("act", ACTS)
@pytest.mark.parametrize("n, k, m", LINEAR_SHAPES)
def test_linear_act_forward(kx, n, k, m, act, version):
    x, w, b = _linear_case(n, k, m, bias=(n + m) % 2 == 0)
    expected = nr.linear_act_forward(f64(x), f64(w), f64(b), act, 0.2)
    with kx.mod.forced_kernel_version("gemm", version):
        y = kx.mod.linear_act_forward(kx.dev(x), kx.dev(w), kx.dev(b), act, 0.2)
    assert y.shape == (n, m) and y.dtype == kx.xp.float32
    close(y, expected, k, f"y [v{version}, {act}]", scale=gemm_scale(k, x, w))


@pytest.mark.parametrize("version", GEMM_VERSIONS)
@pytest.mark.parametrize("act", ACTS)
@pytest.mark.parametrize("n, k, m", LINEAR_SHAPES)
def test_linear_act_backward(kx, n, k, m, act, version):
    x, w, b = _linear_case(n, k, m, seed=1)
    # y is the float32 forward output; both sides read act'(z) off the SAME y values.
    y = f32(nr.linear_act_forward(x, w, b, act, 0.2))
    dy = f32(rng(2).standard_normal((n, m)))
    dx_ref, dw_ref, db_ref = nr.linear_act_backward(f64(dy), f64(x), f64(w), f64(y), act, 0.2)
    with kx.mod.forced_kernel_version("gemm", version):
        dx, dw, db = kx.mod.linear_act_backward(
            kx.dev(dy), kx.dev(x), kx.dev(w), kx.dev(y), act, 0.2
        )
    dz = dz_of(dy, y, act, 0.2)
    close(dx, dx_ref, m, f"dx [v{version}, {act}]", scale=gemm_scale(m, dz, w))
    close(dw, dw_ref, n, f"dw [v{version}, {act}]", scale=gemm_scale(n, dz, x))
    close(db, db_ref, n, f"db [v{version}, {act}]", scale=gemm_scale(n, dz))


def test_linear_act_backward_need_flags(kx):
    x, w, b = _linear_case(9, 10, 11)
    y = f32(nr.linear_act_forward(x, w, b, "tanh"))
    dy = f32(rng(3).standard_normal(y.shape))
    ref = nr.linear_act_backward(f64(dy), f64(x), f64(w), f64(y), "tanh")
    for flags in [(True, False, False), (False, True, False), (False, False, True)]:
        got = kx.mod.linear_act_backward(
            kx.dev(dy), kx.dev(x), kx.dev(w), kx.dev(y), "tanh", 0.01, *flags
        )
        dz = dz_of(dy, y, "tanh", 0.01)
        scales = (gemm_scale(11, dz, w), gemm_scale(9, dz, x), gemm_scale(9, dz))
        for need, g, r, k, sc in zip(flags, got, ref, (11, 9, 9), scales):
            if need:
                close(g, r, k, f"grad {flags}", scale=sc)
            else:
                assert g is None


@pytest.mark.parametrize("splits", [1, 2, 7, 64])
def test_linear_wgrad_split_k(kx, monkeypatch, splits):
    # A long batch reduction (N = 5000) into a small dW: split-K partials + their sum.
    monkeypatch.setattr(cuda_ext, "split_k", lambda *args: splits)
    x, w, b = _linear_case(5000, 37, 19)
    y = f32(nr.linear_act_forward(x, w, b, "leaky_relu", 0.1))
    dy = f32(rng(4).standard_normal(y.shape))
    _, dw_ref, db_ref = nr.linear_act_backward(f64(dy), f64(x), f64(w), f64(y), "leaky_relu", 0.1)
    _, dw, db = kx.mod.linear_act_backward(
        kx.dev(dy), kx.dev(x), kx.dev(w), kx.dev(y), "leaky_relu", 0.1, need_dx=False
    )
    dz = dz_of(dy, y, "leaky_relu", 0.1)
    close(dw, dw_ref, 5000, f"dw splits={splits}", scale=gemm_scale(5000, dz, x))
    close(db, db_ref, 5000, "db", scale=gemm_scale(5000, dz))


def test_linear_act_unaligned_and_noncontiguous_inputs(kx):
    # Views that start 4 bytes into a buffer (no float4 loads) and a transposed weight.
    x, w, b = _linear_case(70, 36, 50, seed=5)
    big = kx.dev_aligned(np.concatenate([[0.0], x.ravel()]))
    x_view = big[1:].reshape(x.shape)
    # Contiguous, so the wrapper passes it to the kernels as is (4 bytes past a boundary).
    assert x_view.flags.c_contiguous and kx.address(x_view) % 16 == 4
    w_t = kx.dev(w.T).T  # not C-contiguous: the wrapper copies it
    y = kx.mod.linear_act_forward(x_view, w_t, kx.dev(b), "relu")
    y_ref = nr.linear_act_forward(f64(x), f64(w), f64(b), "relu")
    close(y, y_ref, 36, "y", scale=gemm_scale(36, x, w))


def test_linear_act_hypothesis_shapes(kx):
    @examples(kx)
    @given(
        n=st.integers(1, 300),
        k=st.integers(1, 300),
        m=st.integers(1, 300),
        act=st.sampled_from(ACTS),
        seed=st.integers(0, 2**16),
    )
    def run(n, k, m, act, seed):
        check_linear_act_shapes(kx, n, k, m, act, seed)

    run()


def check_linear_act_shapes(kx, n, k, m, act, seed):
    x, w, b = _linear_case(n, k, m, seed=seed)
    y_ref = nr.linear_act_forward(f64(x), f64(w), f64(b), act, 0.05)
    y = kx.mod.linear_act_forward(kx.dev(x), kx.dev(w), kx.dev(b), act, 0.05)
    close(y, y_ref, k, "y", scale=gemm_scale(k, x, w))
    y32 = f32(kx.host(y))
    dy = f32(rng(seed + 1).standard_normal((n, m)))
    refs = nr.linear_act_backward(f64(dy), f64(x), f64(w), f64(y32), act, 0.05)
    got = kx.mod.linear_act_backward(kx.dev(dy), kx.dev(x), kx.dev(w), kx.dev(y32), act, 0.05)
    dz = dz_of(dy, y32, act, 0.05)
    scales = (gemm_scale(m, dz, w), gemm_scale(n, dz, x), gemm_scale(n, dz))
    for g, r, kk, sc, name in zip(got, refs, (m, n, n), scales, ("dx", "dw", "db")):
        close(g, r, kk, name, scale=sc)


def test_linear_act_through_the_op_with_check_op(kx):
    # The whole op (autograd + dispatch) on the ext (emu: on cpu with MINIGAN_BACKEND=emu)
    # backend vs the float64 reference.
    x, w, b = _linear_case(33, 20, 17, seed=6)

    def ref(x, w, b):
        return nr.linear_act_forward(x, w, b, "sigmoid")

    def ref_grad(x, w, b, dy):
        y = nr.linear_act_forward(x, w, b, "sigmoid")
        return list(nr.linear_act_backward(dy, x, w, y, "sigmoid"))

    with use_backend(kx.backend), emu_counts() as ran:
        check_op(
            lambda x, w, b: minigan.linear_act(x, w, b, act="sigmoid"),
            ref,
            [x, w, b],
            ref_grad_fn=ref_grad,
            devices=[kx.device],
            dtypes=np.float32,
            reduction_len={"out": 20, 0: 17, 1: 33, 2: 33},
        )
    if kx.emulated:  # the op really ran csrc/'s kernels, not the NumPy path
        assert ran["launches"] >= 4 and ran["threads"] > 0, ran


# ----------------------------------------------------------------------------------
# conv2d
# ----------------------------------------------------------------------------------

CONV_CASES = [  # (N, C, H, W, O, kh, kw, stride, padding)
    (1, 1, 1, 1, 1, 1, 1, 1, 0),
    (2, 3, 7, 7, 5, 3, 3, 1, 1),
    (1, 3, 8, 9, 4, 4, 4, 2, 1),
    (3, 1, 28, 28, 7, 4, 4, 2, 1),
    (2, 4, 7, 5, 3, 3, 2, (2, 1), (0, 1)),
    (1, 2, 5, 5, 129, 1, 1, 1, 0),
    (2, 17, 9, 9, 6, 3, 3, 2, 2),
    (1, 130, 3, 3, 2, 3, 3, 1, 1),
    (5, 2, 11, 13, 3, 5, 3, (3, 2), (2, 0)),
]


def check_conv2d(y, grads, x, w, dy, y_ref, refs, what=""):
    """Compare conv2d's y and (dx, dw, db) with K = C kh kw (y), O kh kw (dx), N Ho Wo."""
    n, c = x.shape[:2]
    o, _, kh, kw = w.shape
    npix = n * y_ref.shape[2] * y_ref.shape[3]
    if y is not None:
        close(y, y_ref, c * kh * kw, f"y {what}", scale=gemm_scale(c * kh * kw, x, w))
    ks = (o * kh * kw, npix, npix)
    scales = (gemm_scale(ks[0], dy, w), gemm_scale(npix, dy, x), gemm_scale(npix, dy))
    for g, r, k, sc, name in zip(grads, refs, ks, scales, ("dx", "dw", "db")):
        if r is not None:
            close(g, r, k, f"{name} {what}", scale=sc)


def check_conv_transpose2d(y, grads, x, w, dy, y_ref, refs, what=""):
    """Compare conv_transpose2d's y and grads: K = Cin kh kw (y), Cout kh kw (dx), N H W
    (dw), N Ho Wo (db)."""
    n, cin, h, w_ = x.shape
    _, cout, kh, kw = w.shape
    if y is not None:
        close(y, y_ref, cin * kh * kw, f"y {what}", scale=gemm_scale(cin * kh * kw, x, w))
    ks = (cout * kh * kw, n * h * w_, n * y_ref.shape[2] * y_ref.shape[3])
    scales = (gemm_scale(ks[0], dy, w), gemm_scale(ks[1], x, dy), gemm_scale(ks[2], dy))
    for g, r, k, sc, name in zip(grads, refs, ks, scales, ("dx", "dw", "db")):
        if r is not None:
            close(g, r, k, f"{name} {what}", scale=sc)


def _conv_case(n, c, h, w_, o, kh, kw, seed=0, bias=True):
    r = rng(seed)
    x = f32(r.standard_normal((n, c, h, w_)))
    w = f32(r.standard_normal((o, c, kh, kw)) / math.sqrt(c * kh * kw))
    b = f32(r.standard_normal(o)) if bias else None
    return x, w, b


@pytest.mark.parametrize("version", GEMM_VERSIONS)
@pytest.mark.parametrize("case", CONV_CASES)
def test_conv2d_forward_backward(kx, case, version):
    n, c, h, w_, o, kh, kw, stride, padding = case
    x, w, b = _conv_case(n, c, h, w_, o, kh, kw, bias=n % 2 == 1)
    y_ref = nr.conv2d_forward(f64(x), f64(w), f64(b), stride, padding)
    dy = f32(rng(1).standard_normal(y_ref.shape))
    refs = nr.conv2d_backward(f64(dy), f64(x), f64(w), stride, padding)
    with kx.mod.forced_kernel_version("gemm", version):
        y = kx.mod.conv2d_forward(kx.dev(x), kx.dev(w), kx.dev(b), stride, padding)
        got = kx.mod.conv2d_backward(kx.dev(dy), kx.dev(x), kx.dev(w), stride, padding)
    check_conv2d(y, got, x, w, dy, y_ref, refs, f"v{version}")


@pytest.mark.parametrize("splits", [1, 3, 7])
def test_conv2d_chunks_and_splits(kx, monkeypatch, splits):
    # One image per im2col chunk (dW accumulated over chunks) and forced split-K.
    monkeypatch.setattr(cuda_ext, "CONV_WORKSPACE_FLOATS", 1)
    monkeypatch.setattr(cuda_ext, "split_k", lambda *args: splits)
    n, c, h, w_, o, k = 5, 3, 9, 7, 4, 3
    x, w, b = _conv_case(n, c, h, w_, o, k, k, seed=2)
    y_ref = nr.conv2d_forward(f64(x), f64(w), f64(b), 2, 1)
    dy = f32(rng(3).standard_normal(y_ref.shape))
    refs = nr.conv2d_backward(f64(dy), f64(x), f64(w), 2, 1)
    y = kx.mod.conv2d_forward(kx.dev(x), kx.dev(w), kx.dev(b), 2, 1)
    got = kx.mod.conv2d_backward(kx.dev(dy), kx.dev(x), kx.dev(w), 2, 1)
    check_conv2d(y, got, x, w, dy, y_ref, refs, f"splits={splits}")


def test_conv2d_need_flags(kx):
    x, w, _ = _conv_case(2, 3, 6, 6, 4, 3, 3, seed=4)
    dy = f32(rng(5).standard_normal((2, 4, 4, 4)))
    y_ref = nr.conv2d_forward(f64(x), f64(w), None)
    refs = nr.conv2d_backward(f64(dy), f64(x), f64(w))
    for flags in [(True, False, False), (False, True, False), (False, False, True)]:
        got = kx.mod.conv2d_backward(kx.dev(dy), kx.dev(x), kx.dev(w), 1, 0, *flags)
        assert all((g is None) != need for g, need in zip(got, flags))
        wanted = [r if need else None for r, need in zip(refs, flags)]
        check_conv2d(None, got, x, w, dy, y_ref, wanted, f"{flags}")


def test_conv2d_hypothesis_shapes(kx):
    @examples(kx)
    @given(
        n=st.integers(1, 4),
        c=st.integers(1, 9),
        o=st.integers(1, 9),
        h=st.integers(1, 12),
        w_=st.integers(1, 12),
        kh=st.integers(1, 5),
        kw=st.integers(1, 5),
        sh=st.integers(1, 3),
        sw=st.integers(1, 3),
        ph=st.integers(0, 2),
        pw=st.integers(0, 2),
    )
    def run(**shape):
        check_conv2d_shapes(kx, **shape)

    run()


def check_conv2d_shapes(kx, n, c, o, h, w_, kh, kw, sh, sw, ph, pw):
    if h + 2 * ph < kh or w_ + 2 * pw < kw:
        return  # no output: the padded image is smaller than the kernel
    x, w, b = _conv_case(n, c, h, w_, o, kh, kw, seed=n + c + o)
    y_ref = nr.conv2d_forward(f64(x), f64(w), f64(b), (sh, sw), (ph, pw))
    dy = f32(rng(7).standard_normal(y_ref.shape))
    refs = nr.conv2d_backward(f64(dy), f64(x), f64(w), (sh, sw), (ph, pw))
    y = kx.mod.conv2d_forward(kx.dev(x), kx.dev(w), kx.dev(b), (sh, sw), (ph, pw))
    got = kx.mod.conv2d_backward(kx.dev(dy), kx.dev(x), kx.dev(w), (sh, sw), (ph, pw))
    check_conv2d(y, got, x, w, dy, y_ref, refs)


# ----------------------------------------------------------------------------------
# conv_transpose2d
# ----------------------------------------------------------------------------------

CONVT_CASES = [  # (N, Cin, H, W, Cout, kh, kw, stride, padding, output_padding)
    (1, 1, 1, 1, 1, 1, 1, 1, 0, 0),
    (2, 8, 7, 7, 4, 4, 4, 2, 1, 0),  # the GAN generator's 7 -> 14
    (2, 3, 7, 7, 5, 4, 4, 2, 1, 1),
    (1, 3, 5, 4, 2, 3, 3, (2, 3), (1, 0), (1, 2)),
    (3, 2, 1, 1, 3, 4, 4, 1, 0, 0),  # 1x1 -> 4x4 (a DCGAN first layer)
    (1, 5, 6, 3, 130, 3, 2, 2, (1, 0), (1, 0)),
    (2, 129, 3, 3, 3, 3, 3, 3, 2, 2),
]


@pytest.mark.parametrize("version", GEMM_VERSIONS)
@pytest.mark.parametrize("case", CONVT_CASES)
def test_conv_transpose2d_forward_backward(kx, case, version):
    n, cin, h, w_, cout, kh, kw, stride, padding, opad = case
    r = rng(10)
    x = f32(r.standard_normal((n, cin, h, w_)))
    w = f32(r.standard_normal((cin, cout, kh, kw)) / math.sqrt(cin * kh * kw))
    b = f32(r.standard_normal(cout)) if n % 2 == 0 else None
    y_ref = nr.conv_transpose2d_forward(f64(x), f64(w), f64(b), stride, padding, opad)
    dy = f32(r.standard_normal(y_ref.shape))
    refs = nr.conv_transpose2d_backward(f64(dy), f64(x), f64(w), stride, padding, opad)
    with kx.mod.forced_kernel_version("gemm", version):
        y = kx.mod.conv_transpose2d_forward(kx.dev(x), kx.dev(w), kx.dev(b), stride, padding, opad)
        got = kx.mod.conv_transpose2d_backward(
            kx.dev(dy), kx.dev(x), kx.dev(w), stride, padding, opad
        )
    assert y.shape == y_ref.shape
    check_conv_transpose2d(y, got, x, w, dy, y_ref, refs, f"v{version}")


def test_conv_transpose2d_hypothesis_shapes(kx):
    @examples(kx)
    @given(
        n=st.integers(1, 3),
        cin=st.integers(1, 8),
        cout=st.integers(1, 8),
        h=st.integers(1, 9),
        w_=st.integers(1, 9),
        k=st.integers(1, 5),
        s=st.integers(1, 3),
        p=st.integers(0, 2),
        op=st.integers(0, 2),
    )
    def run(**shape):
        check_conv_transpose2d_shapes(kx, **shape)

    run()


def check_conv_transpose2d_shapes(kx, n, cin, cout, h, w_, k, s, p, op):
    op = op % s  # output_padding < stride
    if (h - 1) * s - 2 * p + k + op < 1 or (w_ - 1) * s - 2 * p + k + op < 1:
        return  # empty output
    r = rng(n + cin + cout)
    x = f32(r.standard_normal((n, cin, h, w_)))
    w = f32(r.standard_normal((cin, cout, k, k)) / math.sqrt(cin * k * k))
    b = f32(r.standard_normal(cout))
    y_ref = nr.conv_transpose2d_forward(f64(x), f64(w), f64(b), s, p, op)
    y = kx.mod.conv_transpose2d_forward(kx.dev(x), kx.dev(w), kx.dev(b), s, p, op)
    dy = f32(r.standard_normal(y_ref.shape))
    refs = nr.conv_transpose2d_backward(f64(dy), f64(x), f64(w), s, p, op)
    got = kx.mod.conv_transpose2d_backward(kx.dev(dy), kx.dev(x), kx.dev(w), s, p, op)
    check_conv_transpose2d(y, got, x, w, dy, y_ref, refs)


# ----------------------------------------------------------------------------------
# batchnorm
# ----------------------------------------------------------------------------------

BN_SHAPES = [(2, 1), (7, 3), (128, 33), (256, 70), (1, 3, 2, 2), (4, 5, 7, 7), (2, 3, 1, 1),
             (3, 64, 5, 5), (1, 1, 16, 16), (2, 2, 33, 17)]  # fmt: skip


def _bn_inputs(shape, seed=0):
    r = rng(seed)
    c = shape[1]
    x = f32(r.standard_normal(shape) * 2.0 + 3.0)  # an offset mean tests the variance
    gamma = f32(r.uniform(0.5, 1.5, c))
    beta = f32(r.standard_normal(c))
    rm = f32(r.standard_normal(c))
    rv = f32(r.uniform(0.5, 2.0, c))
    return x, gamma, beta, rm, rv


@pytest.mark.parametrize("version", [1, 2])
@pytest.mark.parametrize("affine", [True, False])
@pytest.mark.parametrize("shape", BN_SHAPES)
def test_batchnorm_training(kx, shape, affine, version):
    x, gamma, beta, rm, rv = _bn_inputs(shape)
    if not affine:
        gamma = beta = None
    n = x.size // shape[1]
    rm64, rv64 = f64(rm), f64(rv)
    y_ref, mean_ref, invstd_ref = nr.batchnorm_forward(
        f64(x), f64(gamma), f64(beta), rm64, rv64, True, 0.1, 1e-5
    )
    rm_g, rv_g = kx.dev(rm), kx.dev(rv)
    dy = f32(rng(1).standard_normal(shape))
    with kx.mod.forced_kernel_version("batchnorm", version):
        y, mean, invstd = kx.mod.batchnorm_forward(
            kx.dev(x), kx.dev(gamma), kx.dev(beta), rm_g, rv_g, True, 0.1, 1e-5
        )
        # Backward from the kernel's own float32 mean / invstd (what the op saves).
        mean32, invstd32 = f32(kx.host(mean)), f32(kx.host(invstd))
        refs = nr.batchnorm_backward(f64(dy), f64(x), f64(gamma), f64(mean32), f64(invstd32), True)
        got = kx.mod.batchnorm_backward(kx.dev(dy), kx.dev(x), kx.dev(gamma), mean, invstd, True)
    close(y, y_ref, n, f"y v{version}")
    close(mean, mean_ref, n, "mean")
    close(invstd, invstd_ref, n, "invstd")
    close(rm_g, rm64, n, "running_mean (in place)")
    close(rv_g, rv64, n, "running_var (in place)")
    # dx = gamma invstd / n (n dy - sum dy - xhat sum dy xhat) cancels terms of size
    # |gamma invstd dy| (for n = 2 it is exactly 0), so the error is measured against them.
    bshape = (1, shape[1]) + (1,) * (len(shape) - 2)
    scale_c = f64(invstd32) * (1.0 if gamma is None else f64(gamma))
    terms = float(np.max(np.abs(f64(dy) * scale_c.reshape(bshape))))
    close(got[0], refs[0], n, f"dx v{version}", c=32, scale=terms)
    if affine:
        close(got[1], refs[1], n, "dgamma", c=32, scale=gemm_scale(n, dy))
        close(got[2], refs[2], n, "dbeta", c=32, scale=gemm_scale(n, dy))
    else:
        assert got[1] is None and got[2] is None


@pytest.mark.parametrize("shape", [(5, 3), (2, 4, 3, 3), (1, 37, 1, 1)])
def test_batchnorm_eval_and_no_running_stats(kx, shape):
    x, gamma, beta, rm, rv = _bn_inputs(shape, seed=2)
    n = x.size // shape[1]
    y_ref, mean_ref, invstd_ref = nr.batchnorm_forward(
        f64(x), f64(gamma), f64(beta), f64(rm), f64(rv), False
    )
    y, mean, invstd = kx.mod.batchnorm_forward(
        kx.dev(x), kx.dev(gamma), kx.dev(beta), kx.dev(rm), kx.dev(rv), False
    )
    close(y, y_ref, 1, "eval y")
    close(mean, mean_ref, 1, "eval mean")
    close(invstd, invstd_ref, 1, "eval invstd")
    dy = f32(rng(3).standard_normal(shape))
    refs = nr.batchnorm_backward(f64(dy), f64(x), f64(gamma), mean_ref, invstd_ref, False)
    got = kx.mod.batchnorm_backward(kx.dev(dy), kx.dev(x), kx.dev(gamma), mean, invstd, False)
    for g, r, k, name in zip(got, refs, (1, n, n), ("dx", "dgamma", "dbeta")):
        close(g, r, k, f"eval {name}", scale=gemm_scale(k, dy))
    if n > 1:  # training without running statistics
        y_ref, _, _ = nr.batchnorm_forward(f64(x), None, None, None, None, True)
        y, _, _ = kx.mod.batchnorm_forward(kx.dev(x), None, None, None, None, True)
        close(y, y_ref, n, "training y without running stats")


# ----------------------------------------------------------------------------------
# activation
# ----------------------------------------------------------------------------------


@pytest.mark.parametrize("act", ["none", "relu", "leaky_relu", "tanh", "sigmoid"])
@pytest.mark.parametrize("n", [1, 3, 255, 257, 1_048_577 + 3])
def test_activation(kx, n, act):
    """Tails that are not multiples of the block, and more elements than the capped grid
    has threads (the grid-stride loop walks several per thread)."""
    r = rng(n)
    x = f32(r.standard_normal(n) * 4)
    x[: min(n, 3)] = [0.0, 1e4, -1e4][: min(n, 3)]
    dy = f32(r.standard_normal(n))
    slope = 0.2 if act == "leaky_relu" else 0.0
    y_ref = nr.activation_forward(f64(x), act, slope)
    y = kx.mod.activation_forward(kx.dev(x), act, slope)
    close(y, y_ref, 1, f"{act} y")
    # dx from the kernel's own float32 y against the reference's dx from that same y.
    dx_ref = nr.activation_backward(f64(dy), f64(host(y)), act, slope)
    dx = kx.mod.activation_backward(kx.dev(dy), y, act, slope)
    close(dx, dx_ref, 1, f"{act} dx")


def test_activation_views_and_empty(kx):
    base = f32(rng(3).standard_normal((5, 8)))
    view = kx.dev(base).T[1::2]  # non-contiguous: the method copies it
    y = kx.mod.activation_forward(view, "tanh")
    close(y, np.tanh(f64(base).T[1::2]), 1, "tanh of a view")
    empty = kx.dev(np.zeros((0, 4), dtype=np.float32))
    assert kx.mod.activation_forward(empty, "relu").shape == (0, 4)
    assert kx.mod.activation_backward(empty, empty, "relu").shape == (0, 4)


# ----------------------------------------------------------------------------------
# sigmoid_bce
# ----------------------------------------------------------------------------------


@pytest.mark.parametrize("version", [1, 2])
@pytest.mark.parametrize("reduction", ["mean", "sum"])
@pytest.mark.parametrize("n", [1, 3, 4, 5, 1023, 4099, 100_003])
def test_sigmoid_bce(kx, n, reduction, version):
    r = rng(n)
    x = f32(r.standard_normal(n) * 3)
    t = f32(r.uniform(0, 1, n))
    loss_ref, grad_ref = nr.sigmoid_bce_forward_backward(f64(x), f64(t), reduction)
    with kx.mod.forced_kernel_version("sigmoid_bce", version):
        loss, grad = kx.mod.sigmoid_bce_forward_backward(kx.dev(x), kx.dev(t), reduction)
    assert loss.shape == () and loss.dtype == kx.xp.float32
    close(loss, loss_ref, n, f"loss v{version}")
    close(grad, grad_ref, 1, f"dlogits v{version}")


def test_sigmoid_bce_extreme_logits_and_unaligned_views(kx):
    x = f32([1e4, -1e4, 100.0, -100.0, 0.0, 30.0, -30.0] * 3)
    t = f32([0.0, 1.0, 0.3, 1.0, 0.5, 0.0, 0.7] * 3)
    loss_ref, grad_ref = nr.sigmoid_bce_forward_backward(f64(x), f64(t))
    # Offset views (4 bytes into the buffer): the float4 path must fall back to scalars.
    xg = kx.dev_aligned(np.concatenate([[0.0], x]))[1:]
    tg = kx.dev_aligned(np.concatenate([[0.0], t]))[1:]
    assert kx.address(xg) % 16 == 4 and kx.address(tg) % 16 == 4
    loss, grad = kx.mod.sigmoid_bce_forward_backward(xg, tg)
    assert bool(kx.xp.isfinite(loss)) and bool(kx.xp.isfinite(grad).all())
    close(loss, loss_ref, x.size, "loss at +-1e4")
    close(grad, grad_ref, 1, "dlogits at +-1e4")


def test_sigmoid_bce_multidimensional_float64_targets(kx):
    x = f32(rng(5).standard_normal((7, 3, 2)))
    t = rng(6).uniform(0, 1, (7, 3, 2))  # float64 targets are cast, like numpy_ref
    loss_ref, grad_ref = nr.sigmoid_bce_forward_backward(f64(x), f64(t), "sum")
    loss, grad = kx.mod.sigmoid_bce_forward_backward(kx.dev(x), kx.raw(t), "sum")
    assert grad.shape == (7, 3, 2)
    close(loss, loss_ref, x.size, "loss")
    close(grad, grad_ref, 1, "dlogits")


# ----------------------------------------------------------------------------------
# adam
# ----------------------------------------------------------------------------------

ADAM_SHAPES = [(1,), (3,), (4,), (5, 7), (129,), (1000,), (2, 3, 4), (0,), (4097,)]


@pytest.mark.parametrize("version", [1, 2])
@pytest.mark.parametrize("weight_decay", [0.0, 0.01])
def test_adam_multi_tensor_steps(kx, weight_decay, version):
    r = rng(11)
    params = [kx.dev(r.standard_normal(s)) for s in ADAM_SHAPES]
    ms = [kx.xp.zeros_like(p) for p in params]
    vs = [kx.xp.zeros_like(p) for p in params]
    hyper = dict(lr=1e-2, beta1=0.9, beta2=0.99, eps=1e-8, weight_decay=weight_decay)
    for step in range(1, 6):
        grads = [kx.dev(r.standard_normal(s)) for s in ADAM_SHAPES]
        grads[2] = None  # a parameter without a gradient is skipped
        # The float64 reference of ONE step from the current float32 state.
        p64 = [f64(kx.host(p)) for p in params]
        m64 = [f64(kx.host(m)) for m in ms]
        v64 = [f64(kx.host(v)) for v in vs]
        g64 = [None if g is None else f64(kx.host(g)) for g in grads]
        nr.adam_step(p64, g64, m64, v64, step, **hyper)
        untouched = kx.host(params[2]).copy()
        with kx.mod.forced_kernel_version("adam", version):
            kx.mod.adam_step(params, grads, ms, vs, step, **hyper)
        for i in range(len(params)):
            close(params[i], p64[i], 4, f"p[{i}] step {step} v{version}")
            close(ms[i], m64[i], 4, f"m[{i}] step {step}")
            close(vs[i], v64[i], 4, f"v[{i}] step {step}")
        np.testing.assert_array_equal(kx.host(params[2]), untouched)


def test_adam_unaligned_params_and_noncontiguous_grads(kx):
    r = rng(12)
    base = kx.dev_aligned(r.standard_normal(1 + 4 * 33))
    p = base[1:].reshape(4, 33)  # starts 4 bytes in: scalar path, updated in place
    assert p.flags.c_contiguous and kx.address(p) % 16 == 4
    m, v = kx.xp.zeros_like(p), kx.xp.zeros_like(p)
    g = kx.dev(r.standard_normal((33, 4))).T  # not C-contiguous: copied by the wrapper
    p64, m64, v64 = [f64(kx.host(p))], [np.zeros((4, 33))], [np.zeros((4, 33))]
    nr.adam_step(p64, [f64(kx.host(g))], m64, v64, 1, lr=0.1)
    kx.mod.adam_step([p], [g], [m], [v], 1, lr=0.1)
    close(base[1:].reshape(4, 33), p64[0], 4, "p (in place through the view)")
    close(m, m64[0], 4, "m")


def test_adam_no_gradients_is_a_no_op(kx):
    p = kx.dev([1.0, 2.0])
    kx.mod.adam_step([p], [None], [kx.xp.zeros_like(p)], [kx.xp.zeros_like(p)], 1)
    kx.mod.adam_step([], [], [], [], 1)
    np.testing.assert_array_equal(kx.host(p), [1.0, 2.0])


# ----------------------------------------------------------------------------------
# errors
# ----------------------------------------------------------------------------------


def test_errors_name_the_op(kx):
    x, w = kx.dev(np.zeros((2, 3))), kx.dev(np.zeros((4, 5)))
    with pytest.raises(ValueError, match="linear_act_forward: x has 3 features"):
        kx.mod.linear_act_forward(x, w, None)
    with pytest.raises(TypeError, match="linear_act_forward: the CUDA extension supports float32"):
        kx.mod.linear_act_forward(kx.xp.zeros((2, 3)), kx.xp.zeros((4, 3)), None)  # float64
    with pytest.raises(TypeError, match=f"conv2d_forward: x must be {kx.array_kind}"):
        kx.mod.conv2d_forward(
            kx.foreign(np.zeros((1, 1, 3, 3), np.float32)), kx.dev(np.zeros((1, 1, 2, 2))), None
        )
    with pytest.raises(ValueError, match="conv2d_forward: padded input"):
        kx.mod.conv2d_forward(kx.dev(np.zeros((1, 1, 2, 2))), kx.dev(np.zeros((1, 1, 3, 3))), None)
    with pytest.raises(ValueError, match="batchnorm_forward: running_mean is updated in place"):
        rm = kx.xp.zeros(6, dtype=kx.xp.float32)[::2]
        kx.mod.batchnorm_forward(kx.dev(np.ones((4, 3))), None, None, rm, kx.dev(np.ones(3)), True)


def test_targets_and_in_place_outputs_must_be_device_arrays(kx):
    """Regression: the BCE targets and the arrays updated in place (running statistics, Adam
    moments) were not checked to be arrays of the device (a host array was silently copied,
    or its address handed to the kernels)."""
    logits = kx.dev(np.zeros(5))
    with pytest.raises(
        TypeError, match=f"sigmoid_bce_forward_backward: targets must be {kx.array_kind}"
    ):
        kx.mod.sigmoid_bce_forward_backward(logits, kx.foreign(np.zeros(5, np.float32)))
    x = kx.dev(np.ones((4, 3)))
    with pytest.raises(TypeError, match=f"batchnorm_forward: running_var must be {kx.array_kind}"):
        kx.mod.batchnorm_forward(
            x, None, None, kx.dev(np.zeros(3)), kx.foreign(np.ones(3, np.float32)), True
        )
    p, g = kx.dev(np.ones(4)), kx.dev(np.ones(4))
    with pytest.raises(TypeError, match=f"adam_step: exp_avg_sq must be {kx.array_kind}"):
        kx.mod.adam_step([p], [g], [kx.dev(np.zeros(4))], [kx.foreign(np.zeros(4, np.float32))], 1)
    # float64 targets on the device are fine (converted on the device)
    loss, _grad = kx.mod.sigmoid_bce_forward_backward(logits, kx.xp.zeros(5))
    assert abs(float(kx.host(loss)) - math.log(2.0)) < 1e-6


# ----------------------------------------------------------------------------------
# zero-size dimensions: randomized shapes with at least one empty dimension, every family
# ----------------------------------------------------------------------------------


def _zero_one(names: str, values: tuple[int, ...], zero: str) -> list[int]:
    """values, with the one named `zero` set to 0 (the others may be 0 too)."""
    return [0 if name == zero else v for name, v in zip(names, values)]


def test_linear_act_zero_size_dims(kx):
    # N, K, M in 0..140 (tails past the 128 tile) with one of them 0; K = 0 gives y = act(b).
    @examples(kx)
    @given(
        n=st.integers(0, 140),
        k=st.integers(0, 140),
        m=st.integers(0, 140),
        zero=st.sampled_from("nkm"),
        act=st.sampled_from(ACTS),
        version=st.sampled_from(GEMM_VERSIONS),
        seed=st.integers(0, 2**16),
    )
    def run(n, k, m, zero, act, version, seed):
        n, k, m = _zero_one("nkm", (n, k, m), zero)
        x, w, b = _linear_case(n, k, m, seed=seed)
        y_ref = nr.linear_act_forward(f64(x), f64(w), f64(b), act, 0.2)
        y32 = f32(nr.linear_act_forward(x, w, b, act, 0.2))
        dy = f32(rng(seed).standard_normal((n, m)))
        refs = nr.linear_act_backward(f64(dy), f64(x), f64(w), f64(y32), act, 0.2)
        dz = dz_of(dy, y32, act, 0.2)
        scales = (gemm_scale(m, dz, w), gemm_scale(n, dz, x), gemm_scale(n, dz))
        for mode in kx.pointer_modes():
            what = f"(n, k, m)={(n, k, m)} v{version} {act} pointers={mode}"
            with kx.pointer_mode(mode), kx.mod.forced_kernel_version("gemm", version):
                y = kx.mod.linear_act_forward(kx.dev(x), kx.dev(w), kx.dev(b), act, 0.2)
                got = kx.mod.linear_act_backward(
                    kx.dev(dy), kx.dev(x), kx.dev(w), kx.dev(y32), act, 0.2
                )
            assert y.shape == (n, m), what
            close(y, y_ref, k, f"y {what}", scale=gemm_scale(k, x, w))
            for g, r, kk, sc, name in zip(got, refs, (m, n, n), scales, ("dx", "dw", "db")):
                assert g.shape == r.shape, f"{name} {what}"
                close(g, r, kk, f"{name} {what}", scale=sc)

    run()


def test_conv2d_zero_size_dims(kx):
    @examples(kx)
    @given(
        n=st.integers(0, 3),
        c=st.integers(0, 6),
        o=st.integers(0, 6),
        zero=st.sampled_from("nco"),
        h=st.integers(1, 9),
        w_=st.integers(1, 9),
        kh=st.integers(1, 4),
        kw=st.integers(1, 4),
        s=st.integers(1, 3),
        p=st.integers(0, 2),
        version=st.sampled_from(GEMM_VERSIONS),
    )
    def run(n, c, o, zero, h, w_, kh, kw, s, p, version):
        n, c, o = _zero_one("nco", (n, c, o), zero)
        kh, kw = min(kh, h + 2 * p), min(kw, w_ + 2 * p)  # the padded image fits the kernel
        x, w, b = _conv_case(n, c, h, w_, o, kh, kw, seed=n + c + o)
        y_ref = nr.conv2d_forward(f64(x), f64(w), f64(b), s, p)
        dy = f32(rng(7).standard_normal(y_ref.shape))
        refs = nr.conv2d_backward(f64(dy), f64(x), f64(w), s, p)
        for mode in kx.pointer_modes():
            with kx.pointer_mode(mode), kx.mod.forced_kernel_version("gemm", version):
                y = kx.mod.conv2d_forward(kx.dev(x), kx.dev(w), kx.dev(b), s, p)
                got = kx.mod.conv2d_backward(kx.dev(dy), kx.dev(x), kx.dev(w), s, p)
            what = f"x {x.shape} w {w.shape} v{version} pointers={mode}"
            assert y.shape == y_ref.shape, what
            assert [g.shape for g in got] == [r.shape for r in refs], what
            check_conv2d(y, got, x, w, dy, y_ref, refs, what)

    run()


def test_conv_transpose2d_zero_size_dims(kx):
    @examples(kx)
    @given(
        n=st.integers(0, 3),
        cin=st.integers(0, 6),
        cout=st.integers(0, 6),
        zero=st.sampled_from(("n", "cin", "cout")),
        h=st.integers(1, 7),
        w_=st.integers(1, 7),
        k=st.integers(1, 4),
        s=st.integers(1, 3),
        p=st.integers(0, 2),
        op=st.integers(0, 2),
        version=st.sampled_from(GEMM_VERSIONS),
    )
    def run(n, cin, cout, zero, h, w_, k, s, p, op, version):
        n, cin, cout = _zero_one(("n", "cin", "cout"), (n, cin, cout), zero)
        op = op % s
        if (min(h, w_) - 1) * s - 2 * p + k + op < 1:  # empty output: drop the padding
            p = 0
        r = rng(n + cin + cout)
        x = f32(r.standard_normal((n, cin, h, w_)))
        w = f32(r.standard_normal((cin, cout, k, k)) / math.sqrt(max(cin, 1) * k * k))
        b = f32(r.standard_normal(cout))
        y_ref = nr.conv_transpose2d_forward(f64(x), f64(w), f64(b), s, p, op)
        dy = f32(r.standard_normal(y_ref.shape))
        refs = nr.conv_transpose2d_backward(f64(dy), f64(x), f64(w), s, p, op)
        for mode in kx.pointer_modes():
            with kx.pointer_mode(mode), kx.mod.forced_kernel_version("gemm", version):
                y = kx.mod.conv_transpose2d_forward(kx.dev(x), kx.dev(w), kx.dev(b), s, p, op)
                got = kx.mod.conv_transpose2d_backward(kx.dev(dy), kx.dev(x), kx.dev(w), s, p, op)
            what = f"x {x.shape} w {w.shape} v{version} pointers={mode}"
            assert y.shape == y_ref.shape, what
            assert [g.shape for g in got] == [r.shape for r in refs], what
            check_conv_transpose2d(y, got, x, w, dy, y_ref, refs, what)

    run()


def test_batchnorm_zero_size_dims(kx):
    # Eval mode (forward and backward) and the training backward work on empty inputs; the
    # training forward has no batch statistics there and raises like numpy_ref.
    @examples(kx)
    @given(
        n=st.integers(0, 5),
        c=st.integers(0, 70),
        zero=st.sampled_from("nc"),
        spatial=st.sampled_from([(), (1, 1), (3, 2), (5, 7)]),
        version=st.sampled_from([1, 2]),
    )
    def run(n, c, zero, spatial, version):
        n, c = _zero_one("nc", (n, c), zero)
        shape = (n, c, *spatial)
        x, gamma, beta, rm, rv = _bn_inputs(shape, seed=n + c)
        k = x.size // c if c else 0
        dy = f32(rng(1).standard_normal(shape))
        y_ref, mean_ref, invstd_ref = nr.batchnorm_forward(
            f64(x), f64(gamma), f64(beta), f64(rm), f64(rv), False
        )
        refs = nr.batchnorm_backward(f64(dy), f64(x), f64(gamma), mean_ref, invstd_ref, False)
        with np.errstate(divide="ignore", invalid="ignore"):  # numpy_ref divides by n = 0
            trefs = nr.batchnorm_backward(
                f64(dy), f64(x), f64(gamma), f64(f32(mean_ref)), f64(f32(invstd_ref)), True
            )
        with pytest.raises(ValueError, match="more than 1 value per channel"):
            nr.batchnorm_forward(x, None, None, rm.copy(), rv.copy(), True)
        for mode in kx.pointer_modes():
            with kx.pointer_mode(mode), kx.mod.forced_kernel_version("batchnorm", version):
                y, mean, invstd = kx.mod.batchnorm_forward(
                    kx.dev(x), kx.dev(gamma), kx.dev(beta), kx.dev(rm), kx.dev(rv), False
                )
                dev = [kx.dev(a) for a in (dy, x, gamma)]
                got = kx.mod.batchnorm_backward(*dev, mean, invstd, False)
                tgot = kx.mod.batchnorm_backward(*dev, kx.dev(mean_ref), kx.dev(invstd_ref), True)
                with pytest.raises(ValueError, match="more than 1 value per channel"):
                    kx.mod.batchnorm_forward(kx.dev(x), None, None, kx.dev(rm), kx.dev(rv), True)
            what = f"shape {shape} v{version} pointers={mode}"
            assert y.shape == shape, what
            close(y, y_ref, 1, f"eval y {what}")
            close(mean, mean_ref, 1, f"eval mean {what}")
            close(invstd, invstd_ref, 1, f"eval invstd {what}")
            for g, r, kk, name in zip(got, refs, (1, k, k), ("dx", "dgamma", "dbeta")):
                close(g, r, kk, f"eval {name} {what}", scale=gemm_scale(kk, dy))
            for g, r, name in zip(tgot, trefs, ("dx", "dgamma", "dbeta")):
                assert g.shape == r.shape, f"training {name} {what}"
                close(g, r, k, f"training {name} {what}", c=32, scale=gemm_scale(k, dy))

    run()


@pytest.mark.parametrize("shape", [(0,), (3, 0), (0, 5, 2)])
def test_sigmoid_bce_zero_size_is_an_error(kx, shape):
    # An empty mean has no value: every implementation refuses it with numpy_ref's message.
    with pytest.raises(ValueError, match="empty input") as ref_error:
        nr.sigmoid_bce_forward_backward(np.zeros(shape), np.zeros(shape))
    for version in (1, 2):
        for mode in kx.pointer_modes():
            with kx.pointer_mode(mode), kx.mod.forced_kernel_version("sigmoid_bce", version):
                with pytest.raises(ValueError) as error:
                    kx.mod.sigmoid_bce_forward_backward(
                        kx.dev(np.zeros(shape)), kx.dev(np.zeros(shape))
                    )
            assert str(error.value) == str(ref_error.value)


def test_adam_zero_size_params(kx):
    # Random lists of parameters, some empty, some long enough for several blocks.
    @examples(kx)
    @given(
        shapes=st.lists(
            st.one_of(
                st.tuples(st.integers(0, 3), st.integers(0, 9)),
                st.tuples(st.just(0)),
                st.tuples(st.integers(1, 3000)),
            ),
            min_size=1,
            max_size=6,
        ),
        version=st.sampled_from([1, 2]),
        seed=st.integers(0, 2**16),
    )
    def run(shapes, version, seed):
        r = rng(seed)
        hyper = dict(lr=1e-2, beta1=0.9, beta2=0.99, eps=1e-8, weight_decay=0.01)
        p64 = [f64(r.standard_normal(s)) for s in shapes]
        m64 = [np.zeros(s) for s in shapes]
        v64 = [np.zeros(s) for s in shapes]
        params = [kx.dev(p) for p in p64]
        ms = [kx.xp.zeros_like(p) for p in params]
        vs = [kx.xp.zeros_like(p) for p in params]
        modes = kx.pointer_modes()
        for step, mode in zip((1, 2, 3), modes + modes):
            grads = [f32(r.standard_normal(s)) for s in shapes]
            nr.adam_step(p64, [f64(g) for g in grads], m64, v64, step, **hyper)
            with kx.pointer_mode(mode), kx.mod.forced_kernel_version("adam", version):
                kx.mod.adam_step(params, [kx.dev(g) for g in grads], ms, vs, step, **hyper)
            for i, s in enumerate(shapes):
                what = f"[{i}] of shapes {shapes}, step {step} v{version} pointers={mode}"
                assert params[i].shape == s
                close(params[i], p64[i], 4, f"p{what}")
                close(ms[i], m64[i], 4, f"m{what}")
                close(vs[i], v64[i], 4, f"v{what}")
            p64 = [f64(kx.host(p)) for p in params]  # the next reference starts from float32
            m64 = [f64(kx.host(m)) for m in ms]
            v64 = [f64(kx.host(v)) for v in vs]

    run()


# ----------------------------------------------------------------------------------
# misaligned (4 bytes past a 16-byte boundary) but contiguous views, every family: the
# wrapper passes them to the kernels as they are, so vectorised loads must not be used
# ----------------------------------------------------------------------------------


def _misaligned(kx: KernelImpl, a: np.ndarray) -> Any:
    view = kx.dev_aligned(np.concatenate([[0.0], f32(a).ravel()]))[1:].reshape(a.shape)
    assert view.flags.c_contiguous and kx.address(view) % 16 == 4
    return view


@pytest.mark.parametrize("version", GEMM_VERSIONS)
def test_linear_act_backward_misaligned_views(kx, version):
    x, w, b = _linear_case(37, 20, 131, seed=8)
    y = f32(nr.linear_act_forward(x, w, b, "tanh"))
    dy = f32(rng(9).standard_normal(y.shape))
    refs = nr.linear_act_backward(f64(dy), f64(x), f64(w), f64(y), "tanh")
    y_ref = nr.linear_act_forward(f64(x), f64(w), f64(b), "tanh")
    args = [_misaligned(kx, a) for a in (dy, x, w, y)]
    with kx.mod.forced_kernel_version("gemm", version):
        yk = kx.mod.linear_act_forward(args[1], args[2], _misaligned(kx, b), "tanh")
        got = kx.mod.linear_act_backward(*args, "tanh")
    close(yk, y_ref, 20, f"y v{version}", scale=gemm_scale(20, x, w))
    dz = dz_of(dy, y, "tanh", 0.01)
    scales = (gemm_scale(131, dz, w), gemm_scale(37, dz, x), gemm_scale(37, dz))
    for g, r, k, sc, name in zip(got, refs, (131, 37, 37), scales, ("dx", "dw", "db")):
        close(g, r, k, f"{name} v{version}", scale=sc)


@pytest.mark.parametrize("version", GEMM_VERSIONS)
def test_conv_misaligned_views(kx, version):
    x, w, b = _conv_case(2, 3, 9, 8, 5, 3, 3, seed=9)
    y_ref = nr.conv2d_forward(f64(x), f64(w), f64(b), 2, 1)
    dy = f32(rng(10).standard_normal(y_ref.shape))
    refs = nr.conv2d_backward(f64(dy), f64(x), f64(w), 2, 1)
    # conv_transpose2d with the same weight maps the 5-channel dy back to 3 channels.
    yt_ref = nr.conv_transpose2d_forward(f64(dy), f64(w), f64(b[:3]), 2, 1, 1)
    dyt = f32(rng(11).standard_normal(yt_ref.shape))
    trefs = nr.conv_transpose2d_backward(f64(dyt), f64(dy), f64(w), 2, 1, 1)
    xv, wv, dyv = _misaligned(kx, x), _misaligned(kx, w), _misaligned(kx, dy)
    with kx.mod.forced_kernel_version("gemm", version):
        y = kx.mod.conv2d_forward(xv, wv, _misaligned(kx, b), 2, 1)
        got = kx.mod.conv2d_backward(dyv, xv, wv, 2, 1)
        yt = kx.mod.conv_transpose2d_forward(dyv, wv, _misaligned(kx, b[:3]), 2, 1, 1)
        tgot = kx.mod.conv_transpose2d_backward(_misaligned(kx, dyt), dyv, wv, 2, 1, 1)
    check_conv2d(y, got, x, w, dy, y_ref, refs, f"conv2d v{version}")
    check_conv_transpose2d(yt, tgot, dy, w, dyt, yt_ref, trefs, f"conv_transpose2d v{version}")


@pytest.mark.parametrize("version", [1, 2])
def test_batchnorm_misaligned_views(kx, version):
    shape = (3, 5, 4, 3)
    x, gamma, beta, rm, rv = _bn_inputs(shape, seed=12)
    n = x.size // shape[1]
    rm64, rv64 = f64(rm), f64(rv)
    y_ref, mean_ref, invstd_ref = nr.batchnorm_forward(
        f64(x), f64(gamma), f64(beta), rm64, rv64, True, 0.1, 1e-5
    )
    rm_v, rv_v = _misaligned(kx, rm), _misaligned(kx, rv)  # updated in place through the views
    xv, gv = _misaligned(kx, x), _misaligned(kx, gamma)
    dy = f32(rng(13).standard_normal(shape))
    with kx.mod.forced_kernel_version("batchnorm", version):
        y, mean, invstd = kx.mod.batchnorm_forward(
            xv, gv, _misaligned(kx, beta), rm_v, rv_v, True, 0.1, 1e-5
        )
        mean32, invstd32 = f32(kx.host(mean)), f32(kx.host(invstd))
        refs = nr.batchnorm_backward(f64(dy), f64(x), f64(gamma), f64(mean32), f64(invstd32), True)
        got = kx.mod.batchnorm_backward(
            _misaligned(kx, dy), xv, gv, _misaligned(kx, mean32), _misaligned(kx, invstd32), True
        )
    close(y, y_ref, n, f"y v{version}")
    close(mean, mean_ref, n, "mean")
    close(invstd, invstd_ref, n, "invstd")
    close(rm_v, rm64, n, "running_mean (in place through the view)")
    close(rv_v, rv64, n, "running_var (in place through the view)")
    terms = float(np.max(np.abs(f64(dy) * (f64(invstd32) * f64(gamma)).reshape(1, -1, 1, 1))))
    close(got[0], refs[0], n, f"dx v{version}", c=32, scale=terms)
    close(got[1], refs[1], n, "dgamma", c=32, scale=gemm_scale(n, dy))
    close(got[2], refs[2], n, "dbeta", c=32, scale=gemm_scale(n, dy))


# ----------------------------------------------------------------------------------
# large shapes: the wrapper's own split-K planning (no monkeypatch) and several v3 tiles
# ----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "n, k, m",
    [
        pytest.param(4096, 300, 200, marks=emu_full),  # 16-way split-K of dW
        pytest.param(1031, 1024, 129, marks=emu_full),  # 8 x 2 tiles of 128, a K of 1024
    ],
)
def test_linear_act_large_shapes(kx, n, k, m):
    assert cuda_ext.split_k(m, k, math.ceil(n / 8), emu_ext.EMU.rt.sm_count(0)) > 1
    x, w, b = _linear_case(n, k, m, seed=14)
    y_ref = nr.linear_act_forward(f64(x), f64(w), f64(b), "leaky_relu", 0.2)
    y = kx.mod.linear_act_forward(kx.dev(x), kx.dev(w), kx.dev(b), "leaky_relu", 0.2)
    close(y, y_ref, k, "y", scale=gemm_scale(k, x, w))
    y32 = f32(kx.host(y))
    dy = f32(rng(15).standard_normal((n, m)))
    refs = nr.linear_act_backward(f64(dy), f64(x), f64(w), f64(y32), "leaky_relu", 0.2)
    got = kx.mod.linear_act_backward(
        kx.dev(dy), kx.dev(x), kx.dev(w), kx.dev(y32), "leaky_relu", 0.2
    )
    dz = dz_of(dy, y32, "leaky_relu", 0.2)
    scales = (gemm_scale(m, dz, w), gemm_scale(n, dz, x), gemm_scale(n, dz))
    for g, r, kk, sc, name in zip(got, refs, (m, n, n), scales, ("dx", "dw", "db")):
        close(g, r, kk, name, scale=sc)


# ----------------------------------------------------------------------------------
# the emulator itself: kernels really run, and results do not depend on thread order
# ----------------------------------------------------------------------------------


def _kernel_battery(kx: KernelImpl) -> dict[str, np.ndarray]:
    """Every kernel family and version once, on shapes with tails; name -> host result."""
    out: dict[str, np.ndarray] = {}
    x, w, b = _linear_case(37, 19, 133, seed=20)
    dy = f32(rng(21).standard_normal((37, 133)))
    for v in GEMM_VERSIONS:
        with kx.mod.forced_kernel_version("gemm", v):
            y = kx.mod.linear_act_forward(kx.dev(x), kx.dev(w), kx.dev(b), "tanh")
            grads = kx.mod.linear_act_backward(kx.dev(dy), kx.dev(x), kx.dev(w), y, "tanh")
        out[f"linear y v{v}"] = kx.host(y)
        out.update({f"linear d{n} v{v}": kx.host(g) for n, g in zip("xwb", grads)})
        xc, wc, bc = _conv_case(2, 3, 7, 6, 5, 3, 3, seed=22)
        with kx.mod.forced_kernel_version("gemm", v):
            y = kx.mod.conv2d_forward(kx.dev(xc), kx.dev(wc), kx.dev(bc), 2, 1)
            dyc = kx.dev(rng(23).standard_normal(y.shape))
            grads = kx.mod.conv2d_backward(dyc, kx.dev(xc), kx.dev(wc), 2, 1)
            yt = kx.mod.conv_transpose2d_forward(dyc, kx.dev(wc), kx.dev(bc[:3]), 2, 1, 0)
            tgrads = kx.mod.conv_transpose2d_backward(kx.dev(yt), dyc, kx.dev(wc), 2, 1, 0)
        out[f"conv y v{v}"] = kx.host(y)
        out.update({f"conv d{n} v{v}": kx.host(g) for n, g in zip("xwb", grads)})
        out[f"convT y v{v}"] = kx.host(yt)
        out.update({f"convT d{n} v{v}": kx.host(g) for n, g in zip("xwb", tgrads)})
    for v in (1, 2):
        x, gamma, beta, rm, rv = _bn_inputs((9, 6, 5, 3), seed=24)
        dyb = kx.dev(rng(25).standard_normal(x.shape))
        rm_d, rv_d = kx.dev(rm), kx.dev(rv)
        with kx.mod.forced_kernel_version("batchnorm", v):
            y, mean, invstd = kx.mod.batchnorm_forward(
                kx.dev(x), kx.dev(gamma), kx.dev(beta), rm_d, rv_d, True
            )
            grads = kx.mod.batchnorm_backward(dyb, kx.dev(x), kx.dev(gamma), mean, invstd, True)
        for name, a in zip(("y", "mean", "invstd", "rm", "rv"), (y, mean, invstd, rm_d, rv_d)):
            out[f"bn {name} v{v}"] = kx.host(a)
        out.update({f"bn d{n} v{v}": kx.host(g) for n, g in zip(("x", "g", "b"), grads)})
        r = rng(26)
        logits, t = f32(r.standard_normal(5003) * 3), f32(r.uniform(0, 1, 5003))
        with kx.mod.forced_kernel_version("sigmoid_bce", v):
            loss, dl = kx.mod.sigmoid_bce_forward_backward(kx.dev(logits), kx.dev(t))
        out[f"bce loss v{v}"], out[f"bce grad v{v}"] = kx.host(loss), kx.host(dl)
        params = [kx.dev(r.standard_normal(s)) for s in ADAM_SHAPES]
        ms = [kx.xp.zeros_like(p) for p in params]
        vs = [kx.xp.zeros_like(p) for p in params]
        for step in (1, 2):
            grads = [kx.dev(r.standard_normal(s)) for s in ADAM_SHAPES]
            with kx.mod.forced_kernel_version("adam", v):
                kx.mod.adam_step(params, grads, ms, vs, step, lr=0.01, weight_decay=0.01)
        for i, (p, m, vv) in enumerate(zip(params, ms, vs)):
            out[f"adam p{i} v{v}"], out[f"adam m{i} v{v}"] = kx.host(p), kx.host(m)
            out[f"adam v{i} v{v}"] = kx.host(vv)
    return out


@pytest.mark.emu
@requires_emu
def test_emu_results_do_not_depend_on_thread_order(monkeypatch):
    # The emulator runs each block's threads forward, in reverse, shuffled, or (the default,
    # "mixed") one of those per block. A kernel whose result depends on that order has a
    # race the race checker missed (or relies on unspecified scheduling): results must be
    # bit-for-bit identical. Split-K is forced so that the dW partials and their sum run too.
    import minigan._C_emu as emu

    monkeypatch.setattr(cuda_ext, "split_k", lambda *args: 3)
    kx = KernelImpl("emu")
    runs = {}
    try:
        for order, seed in [("forward", 0), ("reverse", 0), ("shuffle", 1), ("shuffle", 2)]:
            emu.emu_set_thread_order(order, seed)
            runs[f"{order} (seed {seed})"] = _kernel_battery(kx)
    finally:
        emu.emu_set_thread_order("mixed")
    runs["mixed"] = _kernel_battery(kx)
    first_name, first = next(iter(runs.items()))
    for name, results in runs.items():
        assert results.keys() == first.keys()
        for key, value in results.items():
            assert not np.isnan(value).any(), f"{key} under {name}: NaN (an unwritten output?)"
            np.testing.assert_array_equal(
                value, first[key], err_msg=f"{key}: {name} differs from {first_name}"
            )


@pytest.mark.emu
@requires_emu
def test_emu_really_runs_the_kernels():
    # Guards against every "emu" test passing vacuously (e.g. a wrapper that fell back to
    # NumPy): the emulator's counters must grow by what the launches imply.
    kx = KernelImpl("emu")
    x, w, b = _linear_case(40, 24, 150, seed=30)
    with emu_counts() as ran, kx.mod.forced_kernel_version("gemm", 1):
        kx.mod.linear_act_forward(kx.dev(x), kx.dev(w), kx.dev(b), "relu")
    assert ran["launches"] == 1, ran
    assert ran["threads"] >= 40 * 150, ran  # the naive GEMM: a thread per output (at least)
    assert ran["accesses"] >= 40 * 150 * 24 * 2, ran  # every product reads x and w
    assert ran["failures"] == 0, ran
    with emu_counts() as ran:
        _kernel_battery(kx)
    assert ran["launches"] > 40, ran
    assert ran["blocks"] > 0 and ran["threads"] > ran["blocks"], ran
    assert ran["barriers"] > 0, ran  # the tiled GEMMs and the reductions synchronise
    assert ran["failures"] == 0, ran
    with emu_counts() as ran, use_backend("emu"):  # the dispatcher picks the emulator
        minigan.linear_act(minigan.tensor(x), minigan.tensor(w), minigan.tensor(b), act="relu")
    assert ran["launches"] >= 1, ran
