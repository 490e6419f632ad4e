# tests/test_cuda_kernels.py: GPU validation of the hand-written CUDA kernels (minigan._C via
# minigan.backend.cuda_ext) against the NumPy reference in float64: every family, forward and
# every gradient, over many shapes (tails that are not multiples of the tiles, batch 1, odd
# channels, stride 2 with odd sizes, output_padding), every kernel version against the
# reference, hypothesis-generated GEMM / conv shapes, multi-step Adam, BCE at +-1e4, errors.
# Every test is marked `cuda` and skipped without a GPU and a built extension.
"""GPU tests of minigan._C (skipped on machines without a CUDA GPU).

Each comparison rounds the inputs to float32, evaluates ``numpy_ref`` in float64 on exactly
those values, and applies the tolerance policy of docs/testing.md: float32 results must be
within ``c * sqrt(K) * 2^-24`` (relative to the array's largest reference value) with K the
reduction length of that output, c = 16 (32 for the batch-norm backward, see testing.md).
For sums whose result can be much smaller than their terms (a bias gradient of a single
output, a dot product near 0), the absolute tolerance is floored at tol * sqrt(K) * rms(a) *
rms(b): the typical size of a sum of K products a*b of random sign (`gemm_scale`).
"""

from __future__ import annotations

import math

import numpy as np
import pytest
from helpers import assert_close, check_op, requires_cuda, tolerance, use_backend
from hypothesis import given, settings
from hypothesis import strategies as st

import minigan
from minigan.backend import cuda_ext
from minigan.backend import numpy_ref as nr

try:
    import cupy as cp
except ImportError:  # no CuPy: every test here is skipped anyway
    cp = None

pytestmark = [
    pytest.mark.cuda,
    requires_cuda,
    pytest.mark.skipif(
        minigan.cuda_is_available() and bool(cuda_ext.unavailable_reason()),
        reason=f"minigan._C is unusable: {cuda_ext.unavailable_reason()}",
    ),
]

HYPOTHESIS = settings(max_examples=25, deadline=None, derandomize=True, database=None)
TINY = float(np.finfo(np.float32).tiny)
ACTS = ("none", "relu", "leaky_relu", "tanh", "sigmoid")
GEMM_VERSIONS = (1, 2, 3)


def rng(seed: int = 0) -> np.random.Generator:
    return np.random.default_rng(seed)


def f32(a) -> np.ndarray:
    return np.ascontiguousarray(a, dtype=np.float32)


def gpu(a):
    return None if a is None else cp.asarray(f32(a))


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
    assert_close(cp.asnumpy(actual), expected, tol, what, atol_floor=max(TINY, tol * scale))


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
def test_linear_act_forward(n, k, m, act, version):
    x, w, b = _linear_case(n, k, m, bias=(n + m) % 2 == 0)
    expected = nr.linear_act_forward(f64(x), f64(w), f64(b), act, 0.2)
    with cuda_ext.forced_kernel_version("gemm", version):
        y = cuda_ext.linear_act_forward(gpu(x), gpu(w), gpu(b), act, 0.2)
    assert y.shape == (n, m) and y.dtype == cp.float32
    close(y, expected, k, f"y [v{version}, {act}]", scale=gemm_scale(k, x, w))


@pytest.mark.parametrize("version", GEMM_VERSIONS)
@pytest.mark.parametrize("act", ACTS)
@pytest.mark.parametrize("n, k, m", LINEAR_SHAPES)
def test_linear_act_backward(n, k, m, act, version):
    x, w, b = _linear_case(n, k, m, seed=1)
    # y is the float32 forward output; both sides read act'(z) off the SAME y values.
    y = f32(nr.linear_act_forward(x, w, b, act, 0.2))
    dy = f32(rng(2).standard_normal((n, m)))
    dx_ref, dw_ref, db_ref = nr.linear_act_backward(f64(dy), f64(x), f64(w), f64(y), act, 0.2)
    with cuda_ext.forced_kernel_version("gemm", version):
        dx, dw, db = cuda_ext.linear_act_backward(gpu(dy), gpu(x), gpu(w), gpu(y), act, 0.2)
    dz = dz_of(dy, y, act, 0.2)
    close(dx, dx_ref, m, f"dx [v{version}, {act}]", scale=gemm_scale(m, dz, w))
    close(dw, dw_ref, n, f"dw [v{version}, {act}]", scale=gemm_scale(n, dz, x))
    close(db, db_ref, n, f"db [v{version}, {act}]", scale=gemm_scale(n, dz))


def test_linear_act_backward_need_flags():
    x, w, b = _linear_case(9, 10, 11)
    y = f32(nr.linear_act_forward(x, w, b, "tanh"))
    dy = f32(rng(3).standard_normal(y.shape))
    ref = nr.linear_act_backward(f64(dy), f64(x), f64(w), f64(y), "tanh")
    for flags in [(True, False, False), (False, True, False), (False, False, True)]:
        got = cuda_ext.linear_act_backward(gpu(dy), gpu(x), gpu(w), gpu(y), "tanh", 0.01, *flags)
        dz = dz_of(dy, y, "tanh", 0.01)
        scales = (gemm_scale(11, dz, w), gemm_scale(9, dz, x), gemm_scale(9, dz))
        for need, g, r, k, sc in zip(flags, got, ref, (11, 9, 9), scales):
            if need:
                close(g, r, k, f"grad {flags}", scale=sc)
            else:
                assert g is None


@pytest.mark.parametrize("splits", [1, 2, 7, 64])
def test_linear_wgrad_split_k(monkeypatch, splits):
    # A long batch reduction (N = 5000) into a small dW: split-K partials + their sum.
    monkeypatch.setattr(cuda_ext, "split_k", lambda *args: splits)
    x, w, b = _linear_case(5000, 37, 19)
    y = f32(nr.linear_act_forward(x, w, b, "leaky_relu", 0.1))
    dy = f32(rng(4).standard_normal(y.shape))
    _, dw_ref, db_ref = nr.linear_act_backward(f64(dy), f64(x), f64(w), f64(y), "leaky_relu", 0.1)
    _, dw, db = cuda_ext.linear_act_backward(
        gpu(dy), gpu(x), gpu(w), gpu(y), "leaky_relu", 0.1, need_dx=False
    )
    dz = dz_of(dy, y, "leaky_relu", 0.1)
    close(dw, dw_ref, 5000, f"dw splits={splits}", scale=gemm_scale(5000, dz, x))
    close(db, db_ref, 5000, "db", scale=gemm_scale(5000, dz))


def test_linear_act_unaligned_and_noncontiguous_inputs():
    # Views that start 4 bytes into a buffer (no float4 loads) and a transposed weight.
    x, w, b = _linear_case(70, 36, 50, seed=5)
    big = cp.asarray(f32(np.concatenate([[0.0], x.ravel()])))
    x_view = big[1:].reshape(x.shape)
    w_t = gpu(w.T).T  # not C-contiguous: the wrapper copies it
    y = cuda_ext.linear_act_forward(x_view, w_t, gpu(b), "relu")
    y_ref = nr.linear_act_forward(f64(x), f64(w), f64(b), "relu")
    close(y, y_ref, 36, "y", scale=gemm_scale(36, x, w))


@HYPOTHESIS
@given(
    n=st.integers(1, 300),
    k=st.integers(1, 300),
    m=st.integers(1, 300),
    act=st.sampled_from(ACTS),
    seed=st.integers(0, 2**16),
)
def test_linear_act_hypothesis_shapes(n, k, m, act, seed):
    x, w, b = _linear_case(n, k, m, seed=seed)
    y_ref = nr.linear_act_forward(f64(x), f64(w), f64(b), act, 0.05)
    y = cuda_ext.linear_act_forward(gpu(x), gpu(w), gpu(b), act, 0.05)
    close(y, y_ref, k, "y", scale=gemm_scale(k, x, w))
    y32 = f32(cp.asnumpy(y))
    dy = f32(rng(seed + 1).standard_normal((n, m)))
    refs = nr.linear_act_backward(f64(dy), f64(x), f64(w), f64(y32), act, 0.05)
    got = cuda_ext.linear_act_backward(gpu(dy), gpu(x), gpu(w), gpu(y32), act, 0.05)
    dz = dz_of(dy, y32, act, 0.05)
    scales = (gemm_scale(m, dz, w), gemm_scale(n, dz, x), gemm_scale(n, dz))
    for g, r, kk, sc, name in zip(got, refs, (m, n, n), scales, ("dx", "dw", "db")):
        close(g, r, kk, name, scale=sc)


def test_linear_act_through_the_op_with_check_op():
    # The whole op (autograd + dispatch) on the ext backend vs the float64 reference.
    x, w, b = _linear_case(33, 20, 17, seed=6)

    def ref(x, w, b):
        return nr.linear_act_forward(x, w, b, "sigmoid")

    def ref_grad(x, w, b, dy):
        y = nr.linear_act_forward(x, w, b, "sigmoid")
        return list(nr.linear_act_backward(dy, x, w, y, "sigmoid"))

    with use_backend("ext"):
        check_op(
            lambda x, w, b: minigan.linear_act(x, w, b, act="sigmoid"),
            ref,
            [x, w, b],
            ref_grad_fn=ref_grad,
            devices=["cuda"],
            dtypes=np.float32,
            reduction_len={"out": 20, 0: 17, 1: 33, 2: 33},
        )


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
def test_conv2d_forward_backward(case, version):
    n, c, h, w_, o, kh, kw, stride, padding = case
    x, w, b = _conv_case(n, c, h, w_, o, kh, kw, bias=n % 2 == 1)
    y_ref = nr.conv2d_forward(f64(x), f64(w), f64(b), stride, padding)
    dy = f32(rng(1).standard_normal(y_ref.shape))
    refs = nr.conv2d_backward(f64(dy), f64(x), f64(w), stride, padding)
    with cuda_ext.forced_kernel_version("gemm", version):
        y = cuda_ext.conv2d_forward(gpu(x), gpu(w), gpu(b), stride, padding)
        got = cuda_ext.conv2d_backward(gpu(dy), gpu(x), gpu(w), stride, padding)
    check_conv2d(y, got, x, w, dy, y_ref, refs, f"v{version}")


@pytest.mark.parametrize("splits", [1, 3, 7])
def test_conv2d_chunks_and_splits(monkeypatch, splits):
    # One image per im2col chunk (dW accumulated over chunks) and forced split-K.
    monkeypatch.setattr(cuda_ext, "CONV_WORKSPACE_FLOATS", 1)
    monkeypatch.setattr(cuda_ext, "split_k", lambda *args: splits)
    n, c, h, w_, o, k = 5, 3, 9, 7, 4, 3
    x, w, b = _conv_case(n, c, h, w_, o, k, k, seed=2)
    y_ref = nr.conv2d_forward(f64(x), f64(w), f64(b), 2, 1)
    dy = f32(rng(3).standard_normal(y_ref.shape))
    refs = nr.conv2d_backward(f64(dy), f64(x), f64(w), 2, 1)
    y = cuda_ext.conv2d_forward(gpu(x), gpu(w), gpu(b), 2, 1)
    got = cuda_ext.conv2d_backward(gpu(dy), gpu(x), gpu(w), 2, 1)
    check_conv2d(y, got, x, w, dy, y_ref, refs, f"splits={splits}")


def test_conv2d_need_flags():
    x, w, _ = _conv_case(2, 3, 6, 6, 4, 3, 3, seed=4)
    dy = f32(rng(5).standard_normal((2, 4, 4, 4)))
    y_ref = nr.conv2d_forward(f64(x), f64(w), None)
    refs = nr.conv2d_backward(f64(dy), f64(x), f64(w))
    for flags in [(True, False, False), (False, True, False), (False, False, True)]:
        got = cuda_ext.conv2d_backward(gpu(dy), gpu(x), gpu(w), 1, 0, *flags)
        assert all((g is None) != need for g, need in zip(got, flags))
        wanted = [r if need else None for r, need in zip(refs, flags)]
        check_conv2d(None, got, x, w, dy, y_ref, wanted, f"{flags}")


@HYPOTHESIS
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
def test_conv2d_hypothesis_shapes(n, c, o, h, w_, kh, kw, sh, sw, ph, pw):
    if h + 2 * ph < kh or w_ + 2 * pw < kw:
        return  # no output: the padded image is smaller than the kernel
    x, w, b = _conv_case(n, c, h, w_, o, kh, kw, seed=n + c + o)
    y_ref = nr.conv2d_forward(f64(x), f64(w), f64(b), (sh, sw), (ph, pw))
    dy = f32(rng(7).standard_normal(y_ref.shape))
    refs = nr.conv2d_backward(f64(dy), f64(x), f64(w), (sh, sw), (ph, pw))
    y = cuda_ext.conv2d_forward(gpu(x), gpu(w), gpu(b), (sh, sw), (ph, pw))
    got = cuda_ext.conv2d_backward(gpu(dy), gpu(x), gpu(w), (sh, sw), (ph, pw))
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
def test_conv_transpose2d_forward_backward(case, version):
    n, cin, h, w_, cout, kh, kw, stride, padding, opad = case
    r = rng(10)
    x = f32(r.standard_normal((n, cin, h, w_)))
    w = f32(r.standard_normal((cin, cout, kh, kw)) / math.sqrt(cin * kh * kw))
    b = f32(r.standard_normal(cout)) if n % 2 == 0 else None
    y_ref = nr.conv_transpose2d_forward(f64(x), f64(w), f64(b), stride, padding, opad)
    dy = f32(r.standard_normal(y_ref.shape))
    refs = nr.conv_transpose2d_backward(f64(dy), f64(x), f64(w), stride, padding, opad)
    with cuda_ext.forced_kernel_version("gemm", version):
        y = cuda_ext.conv_transpose2d_forward(gpu(x), gpu(w), gpu(b), stride, padding, opad)
        got = cuda_ext.conv_transpose2d_backward(gpu(dy), gpu(x), gpu(w), stride, padding, opad)
    assert y.shape == y_ref.shape
    check_conv_transpose2d(y, got, x, w, dy, y_ref, refs, f"v{version}")


@HYPOTHESIS
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
def test_conv_transpose2d_hypothesis_shapes(n, cin, cout, h, w_, k, s, p, op):
    op = op % s  # output_padding < stride
    if (h - 1) * s - 2 * p + k + op < 1 or (w_ - 1) * s - 2 * p + k + op < 1:
        return  # empty output
    r = rng(n + cin + cout)
    x = f32(r.standard_normal((n, cin, h, w_)))
    w = f32(r.standard_normal((cin, cout, k, k)) / math.sqrt(cin * k * k))
    b = f32(r.standard_normal(cout))
    y_ref = nr.conv_transpose2d_forward(f64(x), f64(w), f64(b), s, p, op)
    y = cuda_ext.conv_transpose2d_forward(gpu(x), gpu(w), gpu(b), s, p, op)
    dy = f32(r.standard_normal(y_ref.shape))
    refs = nr.conv_transpose2d_backward(f64(dy), f64(x), f64(w), s, p, op)
    got = cuda_ext.conv_transpose2d_backward(gpu(dy), gpu(x), gpu(w), s, p, op)
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
def test_batchnorm_training(shape, affine, version):
    x, gamma, beta, rm, rv = _bn_inputs(shape)
    if not affine:
        gamma = beta = None
    n = x.size // shape[1]
    rm64, rv64 = f64(rm), f64(rv)
    y_ref, mean_ref, invstd_ref = nr.batchnorm_forward(
        f64(x), f64(gamma), f64(beta), rm64, rv64, True, 0.1, 1e-5
    )
    rm_g, rv_g = gpu(rm), gpu(rv)
    dy = f32(rng(1).standard_normal(shape))
    with cuda_ext.forced_kernel_version("batchnorm", version):
        y, mean, invstd = cuda_ext.batchnorm_forward(
            gpu(x), gpu(gamma), gpu(beta), rm_g, rv_g, True, 0.1, 1e-5
        )
        # Backward from the kernel's own float32 mean / invstd (what the op saves).
        mean32, invstd32 = f32(cp.asnumpy(mean)), f32(cp.asnumpy(invstd))
        refs = nr.batchnorm_backward(f64(dy), f64(x), f64(gamma), f64(mean32), f64(invstd32), True)
        got = cuda_ext.batchnorm_backward(gpu(dy), gpu(x), gpu(gamma), mean, invstd, True)
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
def test_batchnorm_eval_and_no_running_stats(shape):
    x, gamma, beta, rm, rv = _bn_inputs(shape, seed=2)
    n = x.size // shape[1]
    y_ref, mean_ref, invstd_ref = nr.batchnorm_forward(
        f64(x), f64(gamma), f64(beta), f64(rm), f64(rv), False
    )
    y, mean, invstd = cuda_ext.batchnorm_forward(
        gpu(x), gpu(gamma), gpu(beta), gpu(rm), gpu(rv), False
    )
    close(y, y_ref, 1, "eval y")
    close(mean, mean_ref, 1, "eval mean")
    close(invstd, invstd_ref, 1, "eval invstd")
    dy = f32(rng(3).standard_normal(shape))
    refs = nr.batchnorm_backward(f64(dy), f64(x), f64(gamma), mean_ref, invstd_ref, False)
    got = cuda_ext.batchnorm_backward(gpu(dy), gpu(x), gpu(gamma), mean, invstd, False)
    for g, r, k, name in zip(got, refs, (1, n, n), ("dx", "dgamma", "dbeta")):
        close(g, r, k, f"eval {name}", scale=gemm_scale(k, dy))
    if n > 1:  # training without running statistics
        y_ref, _, _ = nr.batchnorm_forward(f64(x), None, None, None, None, True)
        y, _, _ = cuda_ext.batchnorm_forward(gpu(x), None, None, None, None, True)
        close(y, y_ref, n, "training y without running stats")


# ----------------------------------------------------------------------------------
# sigmoid_bce
# ----------------------------------------------------------------------------------


@pytest.mark.parametrize("version", [1, 2])
@pytest.mark.parametrize("reduction", ["mean", "sum"])
@pytest.mark.parametrize("n", [1, 3, 4, 5, 1023, 4099, 100_003])
def test_sigmoid_bce(n, reduction, version):
    r = rng(n)
    x = f32(r.standard_normal(n) * 3)
    t = f32(r.uniform(0, 1, n))
    loss_ref, grad_ref = nr.sigmoid_bce_forward_backward(f64(x), f64(t), reduction)
    with cuda_ext.forced_kernel_version("sigmoid_bce", version):
        loss, grad = cuda_ext.sigmoid_bce_forward_backward(gpu(x), gpu(t), reduction)
    assert loss.shape == () and loss.dtype == cp.float32
    close(loss, loss_ref, n, f"loss v{version}")
    close(grad, grad_ref, 1, f"dlogits v{version}")


def test_sigmoid_bce_extreme_logits_and_unaligned_views():
    x = f32([1e4, -1e4, 100.0, -100.0, 0.0, 30.0, -30.0] * 3)
    t = f32([0.0, 1.0, 0.3, 1.0, 0.5, 0.0, 0.7] * 3)
    loss_ref, grad_ref = nr.sigmoid_bce_forward_backward(f64(x), f64(t))
    # Offset views (4 bytes into the buffer): the float4 path must fall back to scalars.
    xg = cp.asarray(f32(np.concatenate([[0.0], x])))[1:]
    tg = cp.asarray(f32(np.concatenate([[0.0], t])))[1:]
    loss, grad = cuda_ext.sigmoid_bce_forward_backward(xg, tg)
    assert bool(cp.isfinite(loss)) and bool(cp.isfinite(grad).all())
    close(loss, loss_ref, x.size, "loss at +-1e4")
    close(grad, grad_ref, 1, "dlogits at +-1e4")


def test_sigmoid_bce_multidimensional_float64_targets():
    x = f32(rng(5).standard_normal((7, 3, 2)))
    t = rng(6).uniform(0, 1, (7, 3, 2))  # float64 targets are cast, like numpy_ref
    loss_ref, grad_ref = nr.sigmoid_bce_forward_backward(f64(x), f64(t), "sum")
    loss, grad = cuda_ext.sigmoid_bce_forward_backward(gpu(x), cp.asarray(t), "sum")
    assert grad.shape == (7, 3, 2)
    close(loss, loss_ref, x.size, "loss")
    close(grad, grad_ref, 1, "dlogits")


# ----------------------------------------------------------------------------------
# adam
# ----------------------------------------------------------------------------------

ADAM_SHAPES = [(1,), (3,), (4,), (5, 7), (129,), (1000,), (2, 3, 4), (0,), (4097,)]


@pytest.mark.parametrize("version", [1, 2])
@pytest.mark.parametrize("weight_decay", [0.0, 0.01])
def test_adam_multi_tensor_steps(weight_decay, version):
    r = rng(11)
    params = [gpu(r.standard_normal(s)) for s in ADAM_SHAPES]
    ms = [cp.zeros_like(p) for p in params]
    vs = [cp.zeros_like(p) for p in params]
    hyper = dict(lr=1e-2, beta1=0.9, beta2=0.99, eps=1e-8, weight_decay=weight_decay)
    for step in range(1, 6):
        grads = [gpu(r.standard_normal(s)) for s in ADAM_SHAPES]
        grads[2] = None  # a parameter without a gradient is skipped
        # The float64 reference of ONE step from the current float32 state.
        p64 = [f64(cp.asnumpy(p)) for p in params]
        m64 = [f64(cp.asnumpy(m)) for m in ms]
        v64 = [f64(cp.asnumpy(v)) for v in vs]
        g64 = [None if g is None else f64(cp.asnumpy(g)) for g in grads]
        nr.adam_step(p64, g64, m64, v64, step, **hyper)
        untouched = cp.asnumpy(params[2]).copy()
        with cuda_ext.forced_kernel_version("adam", version):
            cuda_ext.adam_step(params, grads, ms, vs, step, **hyper)
        for i in range(len(params)):
            close(params[i], p64[i], 4, f"p[{i}] step {step} v{version}")
            close(ms[i], m64[i], 4, f"m[{i}] step {step}")
            close(vs[i], v64[i], 4, f"v[{i}] step {step}")
        np.testing.assert_array_equal(cp.asnumpy(params[2]), untouched)


def test_adam_unaligned_params_and_noncontiguous_grads():
    r = rng(12)
    base = cp.asarray(f32(r.standard_normal(1 + 4 * 33)))
    p = base[1:].reshape(4, 33)  # starts 4 bytes in: scalar path, updated in place
    m, v = cp.zeros_like(p), cp.zeros_like(p)
    g = gpu(r.standard_normal((33, 4))).T  # not C-contiguous: copied by the wrapper
    p64, m64, v64 = [f64(cp.asnumpy(p))], [np.zeros((4, 33))], [np.zeros((4, 33))]
    nr.adam_step(p64, [f64(cp.asnumpy(g))], m64, v64, 1, lr=0.1)
    cuda_ext.adam_step([p], [g], [m], [v], 1, lr=0.1)
    close(base[1:].reshape(4, 33), p64[0], 4, "p (in place through the view)")
    close(m, m64[0], 4, "m")


def test_adam_no_gradients_is_a_no_op():
    p = gpu([1.0, 2.0])
    cuda_ext.adam_step([p], [None], [cp.zeros_like(p)], [cp.zeros_like(p)], 1)
    cuda_ext.adam_step([], [], [], [], 1)
    np.testing.assert_array_equal(cp.asnumpy(p), [1.0, 2.0])


# ----------------------------------------------------------------------------------
# errors
# ----------------------------------------------------------------------------------


def test_errors_name_the_op():
    x, w = gpu(np.zeros((2, 3))), gpu(np.zeros((4, 5)))
    with pytest.raises(ValueError, match="linear_act_forward: x has 3 features"):
        cuda_ext.linear_act_forward(x, w, None)
    with pytest.raises(TypeError, match="linear_act_forward: the CUDA extension supports float32"):
        cuda_ext.linear_act_forward(cp.zeros((2, 3)), cp.zeros((4, 3)), None)  # float64
    with pytest.raises(TypeError, match="conv2d_forward: x must be a CuPy array"):
        cuda_ext.conv2d_forward(
            np.zeros((1, 1, 3, 3), np.float32), gpu(np.zeros((1, 1, 2, 2))), None
        )
    with pytest.raises(ValueError, match="conv2d_forward: padded input"):
        cuda_ext.conv2d_forward(gpu(np.zeros((1, 1, 2, 2))), gpu(np.zeros((1, 1, 3, 3))), None)
    with pytest.raises(ValueError, match="batchnorm_forward: running_mean is updated in place"):
        rm = cp.zeros(6, dtype=cp.float32)[::2]
        cuda_ext.batchnorm_forward(gpu(np.ones((4, 3))), None, None, rm, gpu(np.ones(3)), True)
