# Tests for minigan/backend/numpy_ref.py, the NumPy reference kernels.
#
# Every check compares against an independent computation: naive float64 loops written
# here (direct convolution over output pixels and kernel taps, the conv-transpose
# scatter, the batchnorm formula per channel, the Adam formula), central finite
# differences of sum(dy * f(input)), the conv/conv-transpose adjoint identity, and
# PyTorch (CPU, float64) as a second oracle.
#
# Tolerance policy:
#   * float64 against exact-math float64 references (naive loops, PyTorch float64):
#     rtol = atol = 1e-10 (inputs are O(1), so this only absorbs summation order).
#   * float64 central finite differences with step eps = 1e-6: rtol = atol = 1e-6.
#   * float32 kernel outputs against a float64 reference computed from the very same
#     float32 values: atol = rtol = c * sqrt(K) * 2**-24 with c = 8, where K is the
#     length of the reduction that produced the value (weights are scaled by
#     1/sqrt(K) so that outputs are O(1)).
from __future__ import annotations

import math
import re
import zlib

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from minigan.backend import numpy_ref as R

EXACT = {"rtol": 1e-10, "atol": 1e-10}
FD = {"rtol": 1e-6, "atol": 1e-6}
FD_EPS = 1e-6


def f32_tol(k: int, c: float = 8.0) -> dict:
    t = c * math.sqrt(k) * 2.0**-24
    return {"rtol": t, "atol": t}


def rng_for(*key) -> np.random.Generator:
    """A generator seeded deterministically from the test's parameters."""
    return np.random.default_rng(zlib.crc32(repr(key).encode()))


def pair(v):
    return (v, v) if isinstance(v, int) else tuple(v)


# ----------------------------------------------------------------------------------
# Independent references
# ----------------------------------------------------------------------------------


def numgrad(f, x: np.ndarray, eps: float = FD_EPS) -> np.ndarray:
    """Central differences of the scalar f() w.r.t. x, perturbing x in place."""
    assert x.dtype == np.float64 and x.flags.c_contiguous
    g = np.zeros_like(x)
    flat, gflat = x.reshape(-1), g.reshape(-1)
    for i in range(flat.size):
        old = flat[i]
        flat[i] = old + eps
        fp = f()
        flat[i] = old - eps
        fm = f()
        flat[i] = old
        gflat[i] = (fp - fm) / (2 * eps)
    return g


def check_fd(f, inputs: dict, analytic: dict) -> None:
    """Compare analytic gradients with finite differences for each named input."""
    for name, arr in inputs.items():
        expected = numgrad(f, arr)
        assert analytic[name] is not None, name
        np.testing.assert_allclose(analytic[name], expected, **FD, err_msg=name)


def naive_act(z: np.ndarray, act: str, slope: float) -> np.ndarray:
    if act == "none":
        return z
    if act == "relu":
        return np.where(z > 0, z, 0.0)
    if act == "leaky_relu":
        return np.where(z > 0, z, slope * z)
    if act == "tanh":
        return np.tanh(z)
    return 1.0 / (1.0 + np.exp(-z))


def naive_linear(x, w, b, act="none", slope=0.01):
    n, _k = x.shape
    m = w.shape[0]
    z = np.zeros((n, m))
    for j in range(m):
        z[:, j] = (x * w[j]).sum(axis=1) + (0.0 if b is None else b[j])
    return naive_act(z, act, slope)


def naive_conv2d(x, w, b, stride, padding):
    (sh, sw), (ph, pw) = pair(stride), pair(padding)
    n, c, h, wd = x.shape
    o, _, kh, kw = w.shape
    xp = np.zeros((n, c, h + 2 * ph, wd + 2 * pw))
    xp[:, :, ph : ph + h, pw : pw + wd] = x
    ho, wo = (h + 2 * ph - kh) // sh + 1, (wd + 2 * pw - kw) // sw + 1
    y = np.zeros((n, o, ho, wo))
    for i in range(ho):  # every output pixel ...
        for j in range(wo):
            for a in range(kh):  # ... sums over every kernel tap
                for bb in range(kw):
                    y[:, :, i, j] += xp[:, :, i * sh + a, j * sw + bb] @ w[:, :, a, bb].T
    if b is not None:
        y += b[None, :, None, None]
    return y


def naive_conv_transpose2d(x, w, b, stride, padding, output_padding):
    (sh, sw), (ph, pw), (oh, ow) = pair(stride), pair(padding), pair(output_padding)
    n, _cin, h, wd = x.shape
    _, cout, kh, kw = w.shape
    ho = (h - 1) * sh - 2 * ph + kh + oh
    wo = (wd - 1) * sw - 2 * pw + kw + ow
    full = np.zeros((n, cout, (h - 1) * sh + kh + oh, (wd - 1) * sw + kw + ow))
    for i in range(h):  # every input pixel scatters a weighted kernel
        for j in range(wd):
            for a in range(kh):
                for bb in range(kw):
                    full[:, :, i * sh + a, j * sw + bb] += x[:, :, i, j] @ w[:, :, a, bb]
    y = full[:, :, ph : ph + ho, pw : pw + wo].copy()
    if b is not None:
        y += b[None, :, None, None]
    return y


def naive_batchnorm(x, gamma, beta, mean, var, eps):
    y = np.empty_like(x)
    for c in range(x.shape[1]):
        g = 1.0 if gamma is None else gamma[c]
        bt = 0.0 if beta is None else beta[c]
        y[:, c] = g * (x[:, c] - mean[c]) / math.sqrt(var[c] + eps) + bt
    return y


def batch_stats(x):
    means, vars_ = [], []
    for c in range(x.shape[1]):
        v = x[:, c].ravel()
        m = sum(v) / v.size
        means.append(m)
        vars_.append(sum((v - m) ** 2) / v.size)
    return np.array(means), np.array(vars_)


def naive_bce(x, t):
    # -(t log s + (1-t) log(1-s)) with s = sigmoid(x); fine for moderate |x|.
    s = 1.0 / (1.0 + np.exp(-x))
    return -(t * np.log(s) + (1 - t) * np.log(1 - s))


def naive_adam(p, g, m, v, t, lr, b1, b2, eps, wd):
    g = g + wd * p
    m = b1 * m + (1 - b1) * g
    v = b2 * v + (1 - b2) * g * g
    mhat = m / (1 - b1**t)
    vhat = v / (1 - b2**t)
    return p - lr * mhat / (np.sqrt(vhat) + eps), m, v


# ----------------------------------------------------------------------------------
# Linear + activation
# ----------------------------------------------------------------------------------

LINEAR_SHAPES = [(1, 5, 3), (4, 3, 5), (3, 7, 1)]  # (N, K, M)


@pytest.mark.parametrize("act", R.ACTIVATIONS)
@pytest.mark.parametrize("shape", LINEAR_SHAPES)
@pytest.mark.parametrize("bias", [True, False])
def test_linear_act_forward_matches_naive(act, shape, bias):
    n, k, m = shape
    rng = rng_for("lin_fwd", act, shape, bias)
    x, w = rng.standard_normal((n, k)), rng.standard_normal((m, k))
    b = rng.standard_normal(m) if bias else None
    y = R.linear_act_forward(x, w, b, act, 0.2)
    assert y.shape == (n, m) and y.dtype == np.float64
    np.testing.assert_allclose(y, naive_linear(x, w, b, act, 0.2), **EXACT)


@pytest.mark.parametrize("slope", [0.0, 0.2, 1.0, 1.7])
def test_leaky_relu_slopes(slope):
    rng = rng_for("leaky", slope)
    x, w, b = (
        rng.standard_normal((4, 3)),
        rng.standard_normal((5, 3)),
        rng.standard_normal(5),
    )
    y = R.linear_act_forward(x, w, b, "leaky_relu", slope)
    np.testing.assert_allclose(y, naive_linear(x, w, b, "leaky_relu", slope), **EXACT)
    if slope > 0:
        dy = rng.standard_normal(y.shape)
        dx, dw, db = R.linear_act_backward(dy, x, w, y, "leaky_relu", slope)

        def f():
            return np.sum(dy * R.linear_act_forward(x, w, b, "leaky_relu", slope))

        check_fd(f, {"x": x, "w": w, "b": b}, {"x": dx, "w": dw, "b": db})


@pytest.mark.parametrize("act", R.ACTIVATIONS)
@pytest.mark.parametrize("shape", LINEAR_SHAPES)
def test_linear_act_backward_finite_differences(act, shape):
    n, k, m = shape
    rng = rng_for("lin_bwd", act, shape)
    x, w, b = (
        rng.standard_normal((n, k)),
        rng.standard_normal((m, k)),
        rng.standard_normal(m),
    )
    y = R.linear_act_forward(x, w, b, act, 0.1)
    dy = rng.standard_normal(y.shape)
    dx, dw, db = R.linear_act_backward(dy, x, w, y, act, 0.1)
    assert dx.shape == x.shape and dw.shape == w.shape and db.shape == b.shape

    def f():
        return np.sum(dy * R.linear_act_forward(x, w, b, act, 0.1))

    check_fd(f, {"x": x, "w": w, "b": b}, {"x": dx, "w": dw, "b": db})


@pytest.mark.parametrize("act", R.ACTIVATIONS)
@pytest.mark.parametrize("shape", [(5,), (3, 4), (2, 3, 2, 2), ()], ids=str)
def test_activation_matches_naive_and_finite_differences(act, shape):
    rng = rng_for("act", act, shape)
    x = rng.standard_normal(shape)
    x_before = x.copy()
    y = R.activation_forward(x, act, 0.2)
    assert y.shape == x.shape and y.dtype == np.float64
    np.testing.assert_allclose(y, naive_act(x, act, 0.2), **EXACT)
    np.testing.assert_array_equal(x, x_before)  # a new array; x untouched
    dy = rng.standard_normal(shape)
    dx = R.activation_backward(dy, y, act, 0.2)
    assert dx.shape == x.shape and dx is not dy

    def f():
        return np.sum(dy * R.activation_forward(x, act, 0.2))

    check_fd(f, {"x": x}, {"x": dx})


def test_activation_agrees_with_linear_act_epilogue():
    """The standalone family applies exactly linear_act's activation (one registry)."""
    rng = rng_for("act-vs-linear")
    x, w, b = rng.standard_normal((6, 4)), rng.standard_normal((5, 4)), rng.standard_normal(5)
    z = R.linear_act_forward(x, w, b, "none")
    dy = rng.standard_normal(z.shape)
    for act in R.ACTIVATIONS:
        y = R.linear_act_forward(x, w, b, act, 0.3)
        np.testing.assert_array_equal(R.activation_forward(z, act, 0.3), y)
        _, _, db = R.linear_act_backward(dy, x, w, y, act, 0.3)
        np.testing.assert_allclose(R.activation_backward(dy, y, act, 0.3).sum(axis=0), db)


def test_linear_act_backward_need_flags_and_no_input_mutation():
    rng = rng_for("lin_flags")
    x, w = rng.standard_normal((3, 4)), rng.standard_normal((2, 4))
    y = R.linear_act_forward(x, w, None, "none")
    dy = rng.standard_normal(y.shape)
    copies = [a.copy() for a in (dy, x, w, y)]
    full = R.linear_act_backward(dy, x, w, y, "none", need_db=False)
    assert full[2] is None
    dx, dw, db = R.linear_act_backward(dy, x, w, y, "none", need_dx=False, need_db=False)
    assert dx is None and db is None
    np.testing.assert_array_equal(dw, full[1])
    assert R.linear_act_backward(dy, x, w, y, need_dw=False, need_db=False)[1] is None
    for a, c in zip((dy, x, w, y), copies):
        np.testing.assert_array_equal(a, c)


# ----------------------------------------------------------------------------------
# conv2d
# ----------------------------------------------------------------------------------

# (N, C, H, W, O, kh, kw, stride, padding)
CONV_CASES = [
    (1, 3, 5, 7, 5, 3, 3, 1, 0),  # batch 1, non-square
    (2, 5, 5, 7, 3, 3, 2, 2, 1),  # odd sizes with stride 2
    (2, 3, 7, 5, 4, 3, 3, (2, 1), 2),  # padding 2, mixed stride
    (1, 1, 4, 4, 2, 1, 1, 1, 0),  # 1x1 kernel
    (2, 3, 6, 6, 5, 4, 4, 2, 1),  # DCGAN-style downsampling
    (2, 2, 5, 5, 3, 5, 5, 1, (2, 0)),  # kernel as large as the input
    (1, 3, 3, 3, 1, 3, 3, 3, 1),  # stride larger than what is left
]


def conv_inputs(case, tag):
    n, c, h, wd, o, kh, kw, s, p = case
    rng = rng_for(tag, case)
    x = rng.standard_normal((n, c, h, wd))
    w = rng.standard_normal((o, c, kh, kw))
    b = rng.standard_normal(o)
    return rng, x, w, b, s, p


@pytest.mark.parametrize("case", CONV_CASES)
def test_conv2d_forward_matches_naive(case):
    _, x, w, b, s, p = conv_inputs(case, "conv_fwd")
    y = R.conv2d_forward(x, w, b, s, p)
    ref = naive_conv2d(x, w, b, s, p)
    assert y.shape == ref.shape
    np.testing.assert_allclose(y, ref, **EXACT)
    np.testing.assert_allclose(
        R.conv2d_forward(x, w, None, s, p), naive_conv2d(x, w, None, s, p), **EXACT
    )


@pytest.mark.parametrize("case", CONV_CASES)
def test_conv2d_backward_finite_differences(case):
    rng, x, w, b, s, p = conv_inputs(case, "conv_bwd")
    y = R.conv2d_forward(x, w, b, s, p)
    dy = rng.standard_normal(y.shape)
    dx, dw, db = R.conv2d_backward(dy, x, w, s, p)

    def f():
        return np.sum(dy * R.conv2d_forward(x, w, b, s, p))

    check_fd(f, {"x": x, "w": w, "b": b}, {"x": dx, "w": dw, "b": db})


def test_conv2d_backward_need_flags():
    rng, x, w, _, s, p = conv_inputs(CONV_CASES[1], "conv_flags")
    dy = rng.standard_normal(R.conv2d_forward(x, w, None, s, p).shape)
    full = R.conv2d_backward(dy, x, w, s, p)
    part = R.conv2d_backward(dy, x, w, s, p, need_dx=False, need_db=False)
    assert part[0] is None and part[2] is None
    np.testing.assert_array_equal(part[1], full[1])
    assert R.conv2d_backward(dy, x, w, s, p, need_dw=False)[1] is None


# ----------------------------------------------------------------------------------
# conv_transpose2d
# ----------------------------------------------------------------------------------

# (N, Cin, H, W, Cout, kh, kw, stride, padding, output_padding)
CONVT_CASES = [
    (1, 3, 5, 7, 5, 3, 3, 1, 0, 0),  # batch 1, non-square
    (2, 5, 3, 4, 3, 4, 4, 2, 1, 0),  # DCGAN-style upsampling
    (2, 3, 5, 7, 2, 3, 3, 2, 1, 1),  # output_padding 1
    (1, 3, 4, 3, 3, 3, 2, (2, 3), (0, 1), (1, 2)),  # everything rectangular
    (2, 2, 3, 3, 3, 5, 5, 2, 2, 1),  # padding 2
    (1, 1, 2, 2, 1, 1, 1, 3, 0, 2),  # 1x1 kernel, gaps between stamps
]


def convt_inputs(case, tag):
    n, cin, h, wd, cout, kh, kw, s, p, op = case
    rng = rng_for(tag, case)
    x = rng.standard_normal((n, cin, h, wd))
    w = rng.standard_normal((cin, cout, kh, kw))
    b = rng.standard_normal(cout)
    return rng, x, w, b, s, p, op


@pytest.mark.parametrize("case", CONVT_CASES)
def test_conv_transpose2d_forward_matches_naive(case):
    _, x, w, b, s, p, op = convt_inputs(case, "convt_fwd")
    y = R.conv_transpose2d_forward(x, w, b, s, p, op)
    ref = naive_conv_transpose2d(x, w, b, s, p, op)
    assert y.shape == ref.shape
    np.testing.assert_allclose(y, ref, **EXACT)


@pytest.mark.parametrize("case", CONVT_CASES)
def test_conv_transpose2d_backward_finite_differences(case):
    rng, x, w, b, s, p, op = convt_inputs(case, "convt_bwd")
    y = R.conv_transpose2d_forward(x, w, b, s, p, op)
    dy = rng.standard_normal(y.shape)
    dx, dw, db = R.conv_transpose2d_backward(dy, x, w, s, p, op)

    def f():
        return np.sum(dy * R.conv_transpose2d_forward(x, w, b, s, p, op))

    check_fd(f, {"x": x, "w": w, "b": b}, {"x": dx, "w": dw, "b": db})


def test_conv_transpose2d_backward_need_flags():
    rng, x, w, _, s, p, op = convt_inputs(CONVT_CASES[2], "convt_flags")
    dy = rng.standard_normal(R.conv_transpose2d_forward(x, w, None, s, p, op).shape)
    full = R.conv_transpose2d_backward(dy, x, w, s, p, op)
    part = R.conv_transpose2d_backward(dy, x, w, s, p, op, need_dx=False, need_db=False)
    assert part[0] is None and part[2] is None
    np.testing.assert_array_equal(part[1], full[1])


def adjoint_output_padding(h, k, s, p):
    """The output_padding that makes conv_transpose2d map conv2d's output back to h."""
    return (h + 2 * p - k) % s


@pytest.mark.parametrize("case", CONV_CASES)
def test_adjoint_identity(case):
    """<conv2d(x, w), y> == <x, conv_transpose2d(y, w)> and conv2d's dx == conv_T."""
    rng, x, w, _, s, p = conv_inputs(case, "adjoint")
    (sh, sw), (ph, pw) = pair(s), pair(p)
    op = (
        adjoint_output_padding(x.shape[2], w.shape[2], sh, ph),
        adjoint_output_padding(x.shape[3], w.shape[3], sw, pw),
    )
    cx = R.conv2d_forward(x, w, None, s, p)
    y = rng.standard_normal(cx.shape)
    ty = R.conv_transpose2d_forward(y, w, None, s, p, op)
    assert ty.shape == x.shape
    lhs, rhs = np.sum(cx * y), np.sum(x * ty)
    assert abs(lhs - rhs) <= 1e-10 * max(1.0, abs(lhs))
    dx = R.conv2d_backward(y, x, w, s, p, need_dw=False, need_db=False)[0]
    np.testing.assert_allclose(dx, ty, **EXACT)


@st.composite
def conv_problem(draw):
    kh, kw = draw(st.integers(1, 4)), draw(st.integers(1, 4))
    sh, sw = draw(st.integers(1, 3)), draw(st.integers(1, 3))
    ph, pw = draw(st.integers(0, 2)), draw(st.integers(0, 2))
    h = draw(st.integers(max(1, kh - 2 * ph), 7))
    wd = draw(st.integers(max(1, kw - 2 * pw), 7))
    n, c, o = draw(st.integers(1, 2)), draw(st.integers(1, 3)), draw(st.integers(1, 3))
    seed = draw(st.integers(0, 2**32 - 1))
    return (n, c, h, wd, o, kh, kw, (sh, sw), (ph, pw), seed)


@settings(max_examples=40, deadline=None)
@given(conv_problem())
def test_conv_and_conv_transpose_random_shapes(problem):
    n, c, h, wd, o, kh, kw, s, p, seed = problem
    rng = np.random.default_rng(seed)
    x, w, b = (
        rng.standard_normal((n, c, h, wd)),
        rng.standard_normal((o, c, kh, kw)),
        rng.standard_normal(o),
    )
    y = R.conv2d_forward(x, w, b, s, p)
    np.testing.assert_allclose(y, naive_conv2d(x, w, b, s, p), **EXACT)
    # Read w as a conv-transpose weight (Cin=o, Cout=c) mapping y's shape back to x's.
    op = (
        adjoint_output_padding(h, kh, s[0], p[0]),
        adjoint_output_padding(wd, kw, s[1], p[1]),
    )
    bt = rng.standard_normal(c)
    t = R.conv_transpose2d_forward(y, w, bt, s, p, op)
    assert t.shape == x.shape
    np.testing.assert_allclose(t, naive_conv_transpose2d(y, w, bt, s, p, op), **EXACT)


# ----------------------------------------------------------------------------------
# Batch normalisation
# ----------------------------------------------------------------------------------

BN_SHAPES = [(4, 3), (2, 5), (1, 3, 5, 7), (2, 5, 3, 2)]


@pytest.mark.parametrize("shape", BN_SHAPES)
@pytest.mark.parametrize("affine", [True, False])
def test_batchnorm_forward_training_matches_naive(shape, affine):
    rng = rng_for("bn_train", shape, affine)
    c = shape[1]
    x = rng.standard_normal(shape) * 2 + 0.5
    gamma = rng.standard_normal(c) if affine else None
    beta = rng.standard_normal(c) if affine else None
    rm, rv = rng.standard_normal(c), rng.uniform(0.5, 2.0, c)
    rm0, rv0 = rm.copy(), rv.copy()
    y, mean, invstd = R.batchnorm_forward(x, gamma, beta, rm, rv, True, 0.3, 1e-3)
    m_ref, v_ref = batch_stats(x)
    np.testing.assert_allclose(y, naive_batchnorm(x, gamma, beta, m_ref, v_ref, 1e-3), **EXACT)
    np.testing.assert_allclose(mean, m_ref, **EXACT)
    np.testing.assert_allclose(invstd, 1 / np.sqrt(v_ref + 1e-3), **EXACT)
    n = x.size // c
    np.testing.assert_allclose(rm, 0.7 * rm0 + 0.3 * m_ref, **EXACT)
    np.testing.assert_allclose(rv, 0.7 * rv0 + 0.3 * v_ref * n / (n - 1), **EXACT)
    # Without running statistics nothing is updated and the output is the same.
    y2, _, _ = R.batchnorm_forward(x, gamma, beta, None, None, True, 0.3, 1e-3)
    np.testing.assert_array_equal(y2, y)


@pytest.mark.parametrize("shape", BN_SHAPES)
def test_batchnorm_forward_eval_matches_naive(shape):
    rng = rng_for("bn_eval", shape)
    c = shape[1]
    x = rng.standard_normal(shape)
    gamma, beta = rng.standard_normal(c), rng.standard_normal(c)
    rm, rv = rng.standard_normal(c), rng.uniform(0.5, 2.0, c)
    rm0, rv0 = rm.copy(), rv.copy()
    y, mean, invstd = R.batchnorm_forward(x, gamma, beta, rm, rv, False)
    np.testing.assert_allclose(y, naive_batchnorm(x, gamma, beta, rm0, rv0, 1e-5), **EXACT)
    np.testing.assert_array_equal(rm, rm0)  # eval never touches the running stats
    np.testing.assert_array_equal(rv, rv0)
    np.testing.assert_allclose(mean, rm0, **EXACT)
    np.testing.assert_allclose(invstd, 1 / np.sqrt(rv0 + 1e-5), **EXACT)


@pytest.mark.parametrize("shape", BN_SHAPES)
@pytest.mark.parametrize("training", [True, False])
@pytest.mark.parametrize("affine", [True, False])
def test_batchnorm_backward_finite_differences(shape, training, affine):
    rng = rng_for("bn_bwd", shape, training, affine)
    c = shape[1]
    x = rng.standard_normal(shape)
    gamma = rng.standard_normal(c) if affine else None
    beta = rng.standard_normal(c) if affine else None
    rm, rv = rng.standard_normal(c), rng.uniform(0.5, 2.0, c)
    y, mean, invstd = R.batchnorm_forward(x, gamma, beta, rm, rv, training)
    dy = rng.standard_normal(y.shape)
    dx, dgamma, dbeta = R.batchnorm_backward(dy, x, gamma, mean, invstd, training)

    def f():
        # running stats are passed only in eval mode (training would update them)
        stats = (None, None) if training else (rm, rv)
        return np.sum(dy * R.batchnorm_forward(x, gamma, beta, *stats, training)[0])

    if affine:
        check_fd(
            f,
            {"x": x, "gamma": gamma, "beta": beta},
            {"x": dx, "gamma": dgamma, "beta": dbeta},
        )
    else:
        assert dgamma is None and dbeta is None
        check_fd(f, {"x": x}, {"x": dx})


def test_batchnorm_backward_need_flags():
    rng = rng_for("bn_flags")
    x, gamma = rng.standard_normal((3, 2, 2, 2)), rng.standard_normal(2)
    y, mean, invstd = R.batchnorm_forward(x, gamma, None, None, None, True)
    dy = rng.standard_normal(y.shape)
    full = R.batchnorm_backward(dy, x, gamma, mean, invstd, True)
    dx, dg, db = R.batchnorm_backward(
        dy, x, gamma, mean, invstd, True, need_dgamma=False, need_dbeta=False
    )
    assert dg is None and db is None
    np.testing.assert_array_equal(dx, full[0])
    dx, dg, db = R.batchnorm_backward(dy, x, gamma, mean, invstd, True, need_dx=False)
    assert dx is None
    np.testing.assert_array_equal(dg, full[1])
    np.testing.assert_array_equal(db, full[2])


# ----------------------------------------------------------------------------------
# Sigmoid + binary cross-entropy
# ----------------------------------------------------------------------------------


@pytest.mark.parametrize("reduction", ["mean", "sum"])
@pytest.mark.parametrize("shape", [(1,), (5, 1), (3, 4)])
def test_sigmoid_bce_matches_naive_and_finite_differences(reduction, shape):
    rng = rng_for("bce", reduction, shape)
    x = rng.standard_normal(shape) * 3
    t = rng.uniform(0, 1, shape)  # soft targets (label smoothing)
    loss, dx = R.sigmoid_bce_forward_backward(x, t, reduction)
    assert loss.shape == () and loss.dtype == np.float64 and dx.shape == shape
    per = naive_bce(x, t)
    np.testing.assert_allclose(loss, per.mean() if reduction == "mean" else per.sum(), **EXACT)

    def f():
        return float(R.sigmoid_bce_forward_backward(x, t, reduction)[0])

    check_fd(f, {"x": x}, {"x": dx})


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_sigmoid_bce_extreme_logits(dtype):
    x = np.array([1e4, 1e4, -1e4, -1e4, 0.0], dtype=dtype)
    t = np.array([1.0, 0.0, 1.0, 0.0, 0.5], dtype=dtype)
    with np.errstate(over="raise", invalid="raise", divide="raise"):  # underflow is fine
        loss, dx = R.sigmoid_bce_forward_backward(x, t, "sum")
        loss_m, dx_m = R.sigmoid_bce_forward_backward(x, t, "mean")
    assert loss.dtype == dtype and dx.dtype == dtype and loss_m.dtype == dtype
    assert np.isfinite(loss) and np.all(np.isfinite(dx))
    # l = 0, 1e4, 1e4, 0, log 2;  dl/dx = sigmoid(x) - t = 0, 1, -1, 0, 0
    expected = 2e4 + math.log(2.0)
    np.testing.assert_allclose(loss, expected, rtol=4 * np.finfo(dtype).eps)
    np.testing.assert_allclose(loss_m, expected / 5, rtol=4 * np.finfo(dtype).eps)
    np.testing.assert_array_equal(dx, np.array([0, 1, -1, 0, 0], dtype=dtype))
    np.testing.assert_allclose(dx_m, dx / 5)


def test_sigmoid_bce_tail_accuracy():
    """Moderately large logits: the stable form keeps full relative accuracy."""
    x = np.array([-40.0, 40.0, -745.0])
    t = np.zeros(3)
    loss, dx = R.sigmoid_bce_forward_backward(x, t, "sum")
    # l(-40, 0) = log1p(exp(-40)), l(40, 0) = 40 + log1p(exp(-40)), l(-745, 0) ~ 5e-324
    np.testing.assert_allclose(loss, 40 + 2 * math.log1p(math.exp(-40.0)), rtol=1e-15)
    np.testing.assert_allclose(
        dx[:2], [1 / (1 + math.exp(40.0)), 1 / (1 + math.exp(-40.0))], rtol=1e-14
    )


# ----------------------------------------------------------------------------------
# Adam
# ----------------------------------------------------------------------------------


@pytest.mark.parametrize("weight_decay", [0.0, 0.05])
def test_adam_matches_formula(weight_decay):
    rng = rng_for("adam", weight_decay)
    shapes = [(3, 4), (5,), (2, 1, 3)]
    params = [rng.standard_normal(s) for s in shapes]
    ms = [np.zeros(s) for s in shapes]
    vs = [np.zeros(s) for s in shapes]
    ref = [(p.copy(), m.copy(), v.copy()) for p, m, v in zip(params, ms, vs)]
    hyper = {
        "lr": 0.01,
        "beta1": 0.8,
        "beta2": 0.95,
        "eps": 1e-6,
        "weight_decay": weight_decay,
    }
    for step in range(1, 5):
        grads = [rng.standard_normal(s) for s in shapes]
        grads0 = [g.copy() for g in grads]
        R.adam_step(params, grads, ms, vs, step, **hyper)
        ref = [
            naive_adam(p, g, m, v, step, 0.01, 0.8, 0.95, 1e-6, weight_decay)
            for (p, m, v), g in zip(ref, grads)
        ]
        for g, g0 in zip(grads, grads0):
            np.testing.assert_array_equal(g, g0)  # grads are not modified
        for (p_ref, m_ref, v_ref), p, m, v in zip(ref, params, ms, vs):
            np.testing.assert_allclose(p, p_ref, **EXACT)
            np.testing.assert_allclose(m, m_ref, **EXACT)
            np.testing.assert_allclose(v, v_ref, **EXACT)


def test_adam_skips_none_grads():
    p, m, v = np.ones(3), np.zeros(3), np.zeros(3)
    R.adam_step([p], [None], [m], [v], 1)
    np.testing.assert_array_equal(p, np.ones(3))
    np.testing.assert_array_equal(m, np.zeros(3))


# ----------------------------------------------------------------------------------
# float32: dtype preserved, accuracy within the policy
# ----------------------------------------------------------------------------------


def f32_pair(rng, shape, scale=1.0):
    a32 = (rng.standard_normal(shape) * scale).astype(np.float32)
    return a32, a32.astype(np.float64)


@pytest.mark.parametrize("act", R.ACTIVATIONS)
def test_linear_act_float32(act):
    rng = rng_for("lin32", act)
    n, k, m = 16, 96, 24
    x32, x64 = f32_pair(rng, (n, k))
    w32, w64 = f32_pair(rng, (m, k), 1 / math.sqrt(k))
    b32, b64 = f32_pair(rng, (m,))
    y32 = R.linear_act_forward(x32, w32, b32, act)
    y64 = R.linear_act_forward(x64, w64, b64, act)
    assert y32.dtype == np.float32
    np.testing.assert_allclose(y32, y64, **f32_tol(k))
    dy32, dy64 = f32_pair(rng, (n, m))
    g32 = R.linear_act_backward(dy32, x32, w32, y32, act)
    g64 = R.linear_act_backward(dy64, x64, w64, y64.astype(np.float32).astype(np.float64), act)
    for a, b_, red in zip(g32, g64, (m, n, n)):
        assert a.dtype == np.float32
        np.testing.assert_allclose(a, b_, **f32_tol(red))


def test_conv_float32():
    rng = rng_for("conv32")
    n, c, h, wd, o, kh, kw = 2, 8, 9, 8, 6, 4, 4
    k = c * kh * kw
    x32, x64 = f32_pair(rng, (n, c, h, wd))
    w32, w64 = f32_pair(rng, (o, c, kh, kw), 1 / math.sqrt(k))
    b32, b64 = f32_pair(rng, (o,))
    y32 = R.conv2d_forward(x32, w32, b32, 2, 1)
    assert y32.dtype == np.float32
    np.testing.assert_allclose(y32, R.conv2d_forward(x64, w64, b64, 2, 1), **f32_tol(k))
    dy32, dy64 = f32_pair(rng, y32.shape)
    g32 = R.conv2d_backward(dy32, x32, w32, 2, 1)
    g64 = R.conv2d_backward(dy64, x64, w64, 2, 1)
    n_pix = n * y32.shape[2] * y32.shape[3]
    for a, b_, red in zip(g32, g64, (o * kh * kw, n_pix, n_pix)):
        assert a.dtype == np.float32
        np.testing.assert_allclose(a, b_, **f32_tol(red))
    # conv_transpose2d: each output sums at most Cin*kh*kw terms
    t32 = R.conv_transpose2d_forward(x32, w32.transpose(1, 0, 2, 3).copy(), None, 2, 1, 1)
    t64 = R.conv_transpose2d_forward(x64, w64.transpose(1, 0, 2, 3).copy(), None, 2, 1, 1)
    assert t32.dtype == np.float32
    np.testing.assert_allclose(t32, t64, **f32_tol(k))
    dt32, dt64 = f32_pair(rng, t32.shape)
    g32 = R.conv_transpose2d_backward(dt32, x32, w32.transpose(1, 0, 2, 3).copy(), 2, 1, 1)
    g64 = R.conv_transpose2d_backward(dt64, x64, w64.transpose(1, 0, 2, 3).copy(), 2, 1, 1)
    n_pix = n * h * wd
    for a, b_, red in zip(g32, g64, (o * kh * kw, n_pix, t32[0, 0].size * n)):
        assert a.dtype == np.float32
        np.testing.assert_allclose(a, b_, **f32_tol(red))


@pytest.mark.parametrize("training", [True, False])
def test_batchnorm_float32(training):
    rng = rng_for("bn32", training)
    shape = (8, 3, 5, 5)
    n = 8 * 25
    x32, x64 = f32_pair(rng, shape)
    g32, g64 = f32_pair(rng, (3,))
    b32, b64 = f32_pair(rng, (3,))
    rm32, rm64 = f32_pair(rng, (3,))
    rv32 = rng.uniform(0.5, 2, 3).astype(np.float32)
    rv64 = rv32.astype(np.float64)
    out32 = R.batchnorm_forward(x32, g32, b32, rm32, rv32, training)
    out64 = R.batchnorm_forward(x64, g64, b64, rm64, rv64, training)
    for a, b_ in zip(out32, out64):
        assert a.dtype == np.float32
        np.testing.assert_allclose(a, b_, **f32_tol(n))
    np.testing.assert_allclose(rm32, rm64, **f32_tol(n))
    np.testing.assert_allclose(rv32, rv64, **f32_tol(n))
    dy32, dy64 = f32_pair(rng, shape)
    gr32 = R.batchnorm_backward(dy32, x32, g32, out32[1], out32[2], training)
    gr64 = R.batchnorm_backward(dy64, x64, g64, out64[1], out64[2], training)
    for a, b_ in zip(gr32, gr64):
        assert a.dtype == np.float32
        np.testing.assert_allclose(a, b_, **f32_tol(n))


def test_bce_and_adam_float32():
    rng = rng_for("bce_adam32")
    x32, x64 = f32_pair(rng, (64, 1), 3.0)
    t32 = np.full((64, 1), 0.9, dtype=np.float32)
    for red in ("mean", "sum"):
        l32, d32 = R.sigmoid_bce_forward_backward(x32, t32, red)
        l64, d64 = R.sigmoid_bce_forward_backward(x64, t32.astype(np.float64), red)
        assert l32.dtype == np.float32 and l32.shape == () and d32.dtype == np.float32
        np.testing.assert_allclose(l32, l64, **f32_tol(64))
        np.testing.assert_allclose(d32, d64, **f32_tol(1))
    # float64 targets do not promote the float32 computation
    l32b, d32b = R.sigmoid_bce_forward_backward(x32, t32.astype(np.float64))
    assert l32b.dtype == np.float32 and d32b.dtype == np.float32
    p32, p64 = f32_pair(rng, (50,))
    m32, v32 = np.zeros(50, np.float32), np.zeros(50, np.float32)
    m64, v64 = np.zeros(50), np.zeros(50)
    for step in range(1, 4):
        g32, g64 = f32_pair(rng, (50,))
        R.adam_step([p32], [g32], [m32], [v32], step, lr=1e-2, weight_decay=0.01)
        R.adam_step([p64], [g64], [m64], [v64], step, lr=1e-2, weight_decay=0.01)
    for a, b_ in ((p32, p64), (m32, m64), (v32, v64)):
        assert a.dtype == np.float32
        np.testing.assert_allclose(a, b_, **f32_tol(3))


# ----------------------------------------------------------------------------------
# PyTorch as a second oracle (float64)
# ----------------------------------------------------------------------------------


def torch_grads(fn, dy, *arrays):
    """Run fn on float64 leaf tensors, backprop dy, return (output, grads)."""
    torch = pytest.importorskip("torch")
    leaves = [None if a is None else torch.tensor(a, requires_grad=True) for a in arrays]
    out = fn(*leaves)
    out.backward(torch.tensor(dy))
    return out.detach().numpy(), [None if t is None else t.grad.numpy() for t in leaves]


@pytest.mark.parametrize("act", R.ACTIVATIONS)
def test_linear_act_against_torch(act):
    torch = pytest.importorskip("torch")
    F = torch.nn.functional
    acts = {
        "none": lambda z: z,
        "relu": F.relu,
        "leaky_relu": lambda z: F.leaky_relu(z, 0.2),
        "tanh": torch.tanh,
        "sigmoid": torch.sigmoid,
    }
    rng = rng_for("torch_lin", act)
    x, w, b = (
        rng.standard_normal((5, 7)),
        rng.standard_normal((3, 7)),
        rng.standard_normal(3),
    )
    y = R.linear_act_forward(x, w, b, act, 0.2)
    dy = rng.standard_normal(y.shape)
    y_t, grads_t = torch_grads(lambda x_, w_, b_: acts[act](F.linear(x_, w_, b_)), dy, x, w, b)
    np.testing.assert_allclose(y, y_t, **EXACT)
    for a, b_ in zip(R.linear_act_backward(dy, x, w, y, act, 0.2), grads_t):
        np.testing.assert_allclose(a, b_, **EXACT)


@pytest.mark.parametrize("case", CONV_CASES)
def test_conv2d_against_torch(case):
    torch = pytest.importorskip("torch")
    rng, x, w, b, s, p = conv_inputs(case, "torch_conv")
    y = R.conv2d_forward(x, w, b, s, p)
    dy = rng.standard_normal(y.shape)

    def fn(x_, w_, b_):
        return torch.nn.functional.conv2d(x_, w_, b_, stride=s, padding=p)

    y_t, grads_t = torch_grads(fn, dy, x, w, b)
    np.testing.assert_allclose(y, y_t, **EXACT)
    for a, b_ in zip(R.conv2d_backward(dy, x, w, s, p), grads_t):
        np.testing.assert_allclose(a, b_, **EXACT)


@pytest.mark.parametrize("case", CONVT_CASES)
def test_conv_transpose2d_against_torch(case):
    torch = pytest.importorskip("torch")
    rng, x, w, b, s, p, op = convt_inputs(case, "torch_convt")
    y = R.conv_transpose2d_forward(x, w, b, s, p, op)
    dy = rng.standard_normal(y.shape)

    def fn(x_, w_, b_):
        return torch.nn.functional.conv_transpose2d(
            x_, w_, b_, stride=s, padding=p, output_padding=op
        )

    y_t, grads_t = torch_grads(fn, dy, x, w, b)
    np.testing.assert_allclose(y, y_t, **EXACT)
    for a, b_ in zip(R.conv_transpose2d_backward(dy, x, w, s, p, op), grads_t):
        np.testing.assert_allclose(a, b_, **EXACT)


@pytest.mark.parametrize("shape", BN_SHAPES)
@pytest.mark.parametrize("training", [True, False])
def test_batchnorm_against_torch(shape, training):
    torch = pytest.importorskip("torch")
    rng = rng_for("torch_bn", shape, training)
    c = shape[1]
    x = rng.standard_normal(shape) * 1.5 - 0.3
    gamma, beta = rng.standard_normal(c), rng.standard_normal(c)
    rm, rv = rng.standard_normal(c), rng.uniform(0.5, 2.0, c)
    rm_t, rv_t = torch.tensor(rm), torch.tensor(rv)
    y, mean, invstd = R.batchnorm_forward(x, gamma, beta, rm, rv, training, 0.2, 1e-4)
    dy = rng.standard_normal(y.shape)

    def fn(x_, g_, b_):
        return torch.nn.functional.batch_norm(x_, rm_t, rv_t, g_, b_, training, 0.2, 1e-4)

    y_t, grads_t = torch_grads(fn, dy, x, gamma, beta)
    np.testing.assert_allclose(y, y_t, **EXACT)
    np.testing.assert_allclose(rm, rm_t.numpy(), **EXACT)  # running stats updated alike
    np.testing.assert_allclose(rv, rv_t.numpy(), **EXACT)
    for a, b_ in zip(R.batchnorm_backward(dy, x, gamma, mean, invstd, training), grads_t):
        np.testing.assert_allclose(a, b_, **EXACT)


@pytest.mark.parametrize("reduction", ["mean", "sum"])
def test_sigmoid_bce_against_torch(reduction):
    torch = pytest.importorskip("torch")
    rng = rng_for("torch_bce", reduction)
    x = rng.standard_normal((6, 3)) * 4
    x[0, 0], x[1, 1] = 60.0, -60.0
    t = rng.uniform(0, 1, x.shape)
    loss, dx = R.sigmoid_bce_forward_backward(x, t, reduction)
    xt = torch.tensor(x, requires_grad=True)
    lt = torch.nn.functional.binary_cross_entropy_with_logits(
        xt, torch.tensor(t), reduction=reduction
    )
    lt.backward()
    np.testing.assert_allclose(loss, lt.item(), **EXACT)
    np.testing.assert_allclose(dx, xt.grad.numpy(), **EXACT)


def test_adam_against_torch():
    torch = pytest.importorskip("torch")
    rng = rng_for("torch_adam")
    shapes = [(4, 3), (7,), (2, 3, 2, 2)]
    params = [rng.standard_normal(s) for s in shapes]
    ms = [np.zeros(s) for s in shapes]
    vs = [np.zeros(s) for s in shapes]
    tparams = [torch.tensor(p.copy(), requires_grad=True) for p in params]
    hyper = {"lr": 3e-3, "betas": (0.5, 0.999), "eps": 1e-8, "weight_decay": 0.02}
    opt = torch.optim.Adam(tparams, foreach=False, **hyper)
    for step in range(1, 6):
        grads = [rng.standard_normal(s) for s in shapes]
        for tp, g in zip(tparams, grads):
            tp.grad = torch.tensor(g)
        opt.step()
        R.adam_step(
            params,
            grads,
            ms,
            vs,
            step,
            lr=3e-3,
            beta1=0.5,
            beta2=0.999,
            eps=1e-8,
            weight_decay=0.02,
        )
        for p, m, v, tp in zip(params, ms, vs, tparams):
            state = opt.state[tp]
            np.testing.assert_allclose(p, tp.detach().numpy(), **EXACT)
            np.testing.assert_allclose(m, state["exp_avg"].numpy(), **EXACT)
            np.testing.assert_allclose(v, state["exp_avg_sq"].numpy(), **EXACT)


# ----------------------------------------------------------------------------------
# Bad input -> ValueError naming the op and the shapes
# ----------------------------------------------------------------------------------

Z = np.zeros


def esc(s: str) -> str:
    return re.escape(s)


BAD_CALLS = [
    (
        lambda: R.activation_forward(Z((2, 3)), "swish"),
        "activation_forward: unknown activation 'swish'; expected one of",
    ),
    (
        lambda: R.activation_backward(Z((2, 3)), Z((3, 2)), "tanh"),
        "activation_backward: dy.shape=(2, 3) must equal the saved output's y.shape=(3, 2)",
    ),
    (
        lambda: R.conv2d_forward(Z((2, 3, 5, 5)), Z((8, 4, 3, 3)), None),
        "conv2d_forward: x has 3 channels but w expects 4 "
        "(x.shape=(2, 3, 5, 5), w.shape=(8, 4, 3, 3))",
    ),
    (
        lambda: R.conv2d_forward(Z((3, 5, 5)), Z((8, 3, 3, 3)), None),
        "conv2d_forward: x must be 4-D (N, C, H, W), got x.shape=(3, 5, 5)",
    ),
    (
        lambda: R.conv2d_forward(Z((1, 3, 5, 5)), Z((8, 3, 3, 3)), Z(7)),
        "conv2d_forward: b.shape=(7,) but w.shape=(8, 3, 3, 3)",
    ),
    (
        lambda: R.conv2d_forward(Z((1, 3, 2, 5)), Z((8, 3, 3, 3)), None),
        "conv2d_forward: padded input 2x5 is smaller than the 3x3 kernel",
    ),
    (
        lambda: R.conv2d_forward(Z((1, 3, 5, 5)), Z((8, 3, 3, 3)), None, stride=0),
        "conv2d_forward: stride must be >= 1",
    ),
    (
        lambda: R.conv2d_forward(Z((1, 3, 5, 5)), Z((8, 3, 3, 3)), None, padding=(1, 2, 3)),
        "conv2d_forward: padding must be an int or a pair",
    ),
    (
        lambda: R.conv2d_forward(Z((1, 3, 0, 5)), Z((8, 3, 3, 3)), None, padding=2),
        "conv2d_forward: empty image or kernel (x.shape=(1, 3, 0, 5), w.shape=(8, 3, 3, 3))",
    ),
    (
        lambda: R.conv2d_backward(Z((1, 8, 4, 4)), Z((1, 3, 5, 5)), Z((8, 3, 3, 3))),
        "conv2d_backward: dy.shape=(1, 8, 4, 4) but expected (1, 8, 3, 3)",
    ),
    (
        lambda: R.conv_transpose2d_forward(Z((2, 3, 4, 4)), Z((4, 2, 3, 3)), None),
        "conv_transpose2d_forward: x has 3 channels but w expects 4 "
        "(x.shape=(2, 3, 4, 4), w.shape=(4, 2, 3, 3))",
    ),
    (
        lambda: R.conv_transpose2d_forward(Z((2, 3, 4, 4)), Z((3, 2, 3, 3)), None, 2, 1, 2),
        "conv_transpose2d_forward: output_padding=(2, 2) must be smaller than stride=(2, 2)",
    ),
    (
        lambda: R.conv_transpose2d_forward(Z((2, 3, 4, 4)), Z((3, 2, 3, 3)), Z(3)),
        "conv_transpose2d_forward: b.shape=(3,) but w.shape=(3, 2, 3, 3) needs b of shape (2,)",
    ),
    (
        lambda: R.conv_transpose2d_forward(Z((1, 3, 1, 1)), Z((3, 2, 1, 1)), None, 1, 1),
        "conv_transpose2d_forward: output size -1x-1 is empty",
    ),
    (
        lambda: R.conv_transpose2d_backward(
            Z((2, 2, 5, 5)), Z((2, 3, 4, 4)), Z((3, 2, 3, 3)), 2, 1, 0
        ),
        "conv_transpose2d_backward: dy.shape=(2, 2, 5, 5) but expected (2, 2, 7, 7)",
    ),
    (
        lambda: R.linear_act_forward(Z((4, 5)), Z((3, 6)), None),
        "linear_act_forward: x has 5 features but w expects 6 (x.shape=(4, 5), w.shape=(3, 6))",
    ),
    (
        lambda: R.linear_act_forward(Z((4, 5)), Z((3, 5)), Z(4)),
        "linear_act_forward: b.shape=(4,) but w.shape=(3, 5) needs b of shape (3,)",
    ),
    (
        lambda: R.linear_act_forward(Z(5), Z((3, 5)), None),
        "linear_act_forward: expected 2-D x (N, K) and w (M, K), got x.shape=(5,)",
    ),
    (
        lambda: R.linear_act_forward(Z((4, 5)), Z((3, 5)), None, "gelu"),
        "linear_act_forward: unknown activation 'gelu'",
    ),
    (
        lambda: R.linear_act_forward(Z((4, 5)), Z((3, 5)), None, "leaky_relu", -0.1),
        "linear_act_forward: leaky_relu needs slope >= 0",
    ),
    (
        lambda: R.linear_act_backward(Z((4, 2)), Z((4, 5)), Z((3, 5)), Z((4, 3))),
        "linear_act_backward: dy and y must have shape (4, 3) = (N, M) for x.shape=(4, 5), "
        "w.shape=(3, 5); got dy.shape=(4, 2)",
    ),
    (
        lambda: R.batchnorm_forward(Z((1, 3)), None, None, None, None, True),
        "batchnorm_forward: expected more than 1 value per channel when training, "
        "got x.shape=(1, 3)",
    ),
    (
        lambda: R.batchnorm_forward(Z((4, 3)), None, None, None, None, False),
        "batchnorm_forward: eval mode (training=False) needs running_mean and running_var "
        "(x.shape=(4, 3))",
    ),
    (
        lambda: R.batchnorm_forward(Z((4, 3, 2, 2)), Z(4), None, None, None, True),
        "batchnorm_forward: gamma.shape=(4,) but x.shape=(4, 3, 2, 2) has 3 channels, "
        "expected (3,)",
    ),
    (
        lambda: R.batchnorm_backward(Z((4, 2)), Z((4, 3)), None, Z(3), Z(3), True),
        "batchnorm_backward: dy.shape=(4, 2) must equal x.shape=(4, 3)",
    ),
    (
        lambda: R.sigmoid_bce_forward_backward(Z((4, 1)), Z(4)),
        "sigmoid_bce_forward_backward: targets.shape=(4,) must equal logits.shape=(4, 1)",
    ),
    (
        lambda: R.sigmoid_bce_forward_backward(Z(4), Z(4), "none"),
        "sigmoid_bce_forward_backward: reduction must be 'mean' or 'sum'",
    ),
    (
        lambda: R.adam_step([Z(3)], [Z(4)], [Z(3)], [Z(3)], 1),
        "adam_step: grads[0].shape=(4,) must equal params[0].shape=(3,)",
    ),
    (
        lambda: R.adam_step([Z(3)], [Z(3), Z(3)], [Z(3)], [Z(3)], 1),
        "adam_step: params, grads, exp_avgs, exp_avg_sqs must have equal lengths",
    ),
    (
        lambda: R.adam_step([Z(3)], [Z(3)], [Z(3)], [Z(3)], 0),
        "adam_step: step must be a positive int",
    ),
]


@pytest.mark.parametrize(
    "call, message",
    BAD_CALLS,
    ids=[m.split(":")[0] + str(i) for i, (_, m) in enumerate(BAD_CALLS)],
)
def test_bad_input_raises_value_error(call, message):
    with pytest.raises(ValueError, match=esc(message)):
        call()
