# Tests for minigan/backend/numba_conv.py, the numba CPU convolution kernels.
#
# Oracle: numpy_ref evaluated in float64 on the very same values (the inputs rounded to
# the dtype under test, then widened), compared with the repository's tolerance policy
# (helpers.tolerance / assert_close, docs/testing.md): float64 1e-9, float32
# 16 * sqrt(K) * 2^-24 with K the reduction length of each array (conv2d: C*kh*kw for y,
# O*kh*kw for dx, N*Ho*Wo for dw and db; conv_transpose2d: Cin*kh*kw for y, Cout*kh*kw
# for dx, N*H*W for dw, N*Ho*Wo for db). numpy_ref itself is checked against naive loops,
# finite differences and PyTorch in tests/test_numpy_ref.py.
#
# Also checked: dtypes and shapes of every result, the need_* flags (None entries, the
# other entries unchanged), non-contiguous and mixed-dtype inputs, zero-size dimensions,
# inputs left unmodified, error messages identical to numpy_ref's, both builds of the
# numba kernels (serial with 1 numba thread, parallel with 2: the `threads` fixture), the
# batch split into chunks (CHUNK_BYTES), and the layer shapes of the DCGAN and conv VAE.
from __future__ import annotations

import inspect
import zlib

import numpy as np
import pytest
from helpers import assert_close, tolerance

numba = pytest.importorskip("numba")

from minigan.backend import numba_conv as NC  # noqa: E402
from minigan.backend import numpy_ref as R  # noqa: E402

DTYPES = (np.float32, np.float64)
# The numba kernels have a parallel build (used with more than one numba thread, for calls
# that move at least PARALLEL_MIN_WORK elements) and a serial one: test both.
BUILDS = ("serial", "parallel") if numba.config.NUMBA_NUM_THREADS >= 2 else ("serial",)


@pytest.fixture(params=BUILDS)
def threads(request, monkeypatch):
    """Run the test on the serial builds (numba at 1 thread) or on the parallel builds
    (numba at 2 threads, every call parallel however small)."""
    old = numba.get_num_threads()
    n = 1 if request.param == "serial" else 2
    numba.set_num_threads(n)
    monkeypatch.setattr(NC, "PARALLEL_MIN_WORK", 0)
    assert (NC._kernels(1) is NC._SERIAL) == (n == 1)
    yield n
    numba.set_num_threads(old)


def rng_for(*key) -> np.random.Generator:
    """A generator seeded deterministically from the test's parameters."""
    return np.random.default_rng(zlib.crc32(repr(key).encode()))


def pair(v):
    return (v, v) if isinstance(v, int) else tuple(v)


def conv_out_hw(h, w, kh, kw, s, p):
    (sh, sw), (ph, pw) = pair(s), pair(p)
    return (h + 2 * ph - kh) // sh + 1, (w + 2 * pw - kw) // sw + 1


def convt_out_hw(h, w, kh, kw, s, p, op):
    (sh, sw), (ph, pw), (oh, ow) = pair(s), pair(p), pair(op)
    return (h - 1) * sh - 2 * ph + kh + oh, (w - 1) * sw - 2 * pw + kw + ow


def check(actual, expected, dtype, k, what):
    """dtype, shape and values of one result against the float64 reference."""
    assert actual is not None, f"{what}: got None"
    assert actual.dtype == np.dtype(dtype), f"{what}: dtype {actual.dtype}, expected {dtype}"
    assert_close(actual, expected, tolerance(dtype, k), what)


# ----------------------------------------------------------------------------------
# conv2d
# ----------------------------------------------------------------------------------

# (N, C, H, W, O, kh, kw, stride, padding)
CONV_CASES = [
    (1, 3, 5, 7, 5, 3, 3, 1, 0),  # batch 1, non-square
    (2, 5, 5, 7, 3, 3, 2, 2, 1),  # odd sizes with stride 2
    (2, 3, 7, 5, 4, 3, 3, (2, 1), 2),  # padding 2, mixed stride
    (1, 1, 4, 4, 2, 1, 1, 1, 0),  # 1x1 kernel
    (3, 4, 6, 6, 5, 4, 4, 2, 1),  # DCGAN-style downsampling
    (2, 2, 5, 5, 3, 5, 5, 1, (2, 0)),  # kernel as large as the input, padded rows
    (1, 3, 3, 3, 1, 3, 3, 3, 1),  # stride larger than what is left
    (2, 3, 9, 8, 4, 3, 3, 3, 0),  # stride 3: input pixels no window reaches
    (2, 2, 7, 7, 3, 2, 4, (3, 2), (1, 2)),  # everything rectangular
    (2, 3, 2, 3, 2, 4, 5, 1, (2, 2)),  # kernel larger than the input
    (3, 6, 4, 4, 2, 4, 4, 2, 0),  # kernel = image, stride ignored: the dense path
    (2, 5, 7, 7, 1, 7, 7, 1, 0),  # 128->1 k7 on 7x7 (dense path), one output channel
    (4, 1, 28, 28, 8, 4, 4, 2, 1),  # the DCGAN discriminator's first layer, 1 channel
    (2, 16, 14, 14, 8, 4, 4, 2, 1),  # its second layer, narrow
    (2, 8, 7, 7, 16, 3, 3, 2, 1),  # its third layer, narrow
    (2, 16, 4, 4, 1, 4, 4, 1, 0),  # its last layer (dense path)
    (3, 2, 13, 11, 3, 3, 3, 1, 1),  # odd sizes, "same" padding
]


def conv_data(case, dtype, tag="conv"):
    n, c, h, wd, o, kh, kw, s, p = case
    rng = rng_for(tag, case)
    x = rng.standard_normal((n, c, h, wd)).astype(dtype)
    w = (rng.standard_normal((o, c, kh, kw)) / np.sqrt(max(1, c * kh * kw))).astype(dtype)
    b = rng.standard_normal(o).astype(dtype)
    ho, wo = conv_out_hw(h, wd, kh, kw, s, p)
    dy = rng.standard_normal((n, o, ho, wo)).astype(dtype)
    return x, w, b, dy, s, p


def conv_k(case):
    n, c, h, wd, o, kh, kw, s, p = case
    ho, wo = conv_out_hw(h, wd, kh, kw, s, p)
    return {"y": c * kh * kw, "dx": o * kh * kw, "dw": n * ho * wo, "db": n * ho * wo}


def wide(*arrays):
    return [None if a is None else a.astype(np.float64) for a in arrays]


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("case", CONV_CASES, ids=str)
def test_conv2d_matches_numpy_ref(case, dtype, threads):
    x, w, b, dy, s, p = conv_data(case, dtype)
    x64, w64, b64, dy64 = wide(x, w, b, dy)
    k = conv_k(case)
    copies = [a.copy() for a in (x, w, b, dy)]
    check(
        NC.conv2d_forward(x, w, b, s, p), R.conv2d_forward(x64, w64, b64, s, p), dtype, k["y"], "y"
    )
    check(
        NC.conv2d_forward(x, w, None, s, p),
        R.conv2d_forward(x64, w64, None, s, p),
        dtype,
        k["y"],
        "y (no bias)",
    )
    got = NC.conv2d_backward(dy, x, w, s, p)
    ref = R.conv2d_backward(dy64, x64, w64, s, p)
    for name, a, e in zip(("dx", "dw", "db"), got, ref):
        check(a, e, dtype, k[name], name)
    for a, c in zip((x, w, b, dy), copies):
        np.testing.assert_array_equal(a, c)  # inputs are not modified


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
    (2, 3, 4, 5, 2, 2, 3, 3, (1, 0), (2, 1)),  # stride 3 > kernel: gaps, output_padding 2
    (3, 6, 1, 1, 4, 7, 7, 1, 0, 0),  # 1x1 input, no padding: the dense path
    (2, 4, 1, 1, 3, 4, 4, 2, 0, 1),  # 1x1 input with output_padding (not dense)
    (2, 4, 1, 1, 3, 4, 4, 1, 1, 0),  # 1x1 input with padding (not dense)
    (2, 10, 1, 1, 8, 7, 7, 1, 0, 0),  # the DCGAN generator's first layer, narrow
    (2, 8, 7, 7, 4, 4, 4, 2, 1, 0),  # its second layer, narrow
    (3, 4, 14, 14, 1, 4, 4, 2, 1, 0),  # its last layer: one output channel
    (2, 3, 6, 5, 4, 3, 3, 1, 1, 0),  # stride 1, "same" padding
]


def convt_data(case, dtype, tag="convt"):
    n, ci, h, wd, co, kh, kw, s, p, op = case
    rng = rng_for(tag, case)
    x = rng.standard_normal((n, ci, h, wd)).astype(dtype)
    w = (rng.standard_normal((ci, co, kh, kw)) / np.sqrt(max(1, ci * kh * kw))).astype(dtype)
    b = rng.standard_normal(co).astype(dtype)
    ho, wo = convt_out_hw(h, wd, kh, kw, s, p, op)
    dy = rng.standard_normal((n, co, ho, wo)).astype(dtype)
    return x, w, b, dy, s, p, op


def convt_k(case):
    n, ci, h, wd, co, kh, kw, s, p, op = case
    ho, wo = convt_out_hw(h, wd, kh, kw, s, p, op)
    return {"y": ci * kh * kw, "dx": co * kh * kw, "dw": n * h * wd, "db": n * ho * wo}


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("case", CONVT_CASES, ids=str)
def test_conv_transpose2d_matches_numpy_ref(case, dtype, threads):
    x, w, b, dy, s, p, op = convt_data(case, dtype)
    x64, w64, b64, dy64 = wide(x, w, b, dy)
    k = convt_k(case)
    copies = [a.copy() for a in (x, w, b, dy)]
    check(
        NC.conv_transpose2d_forward(x, w, b, s, p, op),
        R.conv_transpose2d_forward(x64, w64, b64, s, p, op),
        dtype,
        k["y"],
        "y",
    )
    check(
        NC.conv_transpose2d_forward(x, w, None, s, p, op),
        R.conv_transpose2d_forward(x64, w64, None, s, p, op),
        dtype,
        k["y"],
        "y (no bias)",
    )
    got = NC.conv_transpose2d_backward(dy, x, w, s, p, op)
    ref = R.conv_transpose2d_backward(dy64, x64, w64, s, p, op)
    for name, a, e in zip(("dx", "dw", "db"), got, ref):
        check(a, e, dtype, k[name], name)
    for a, c in zip((x, w, b, dy), copies):
        np.testing.assert_array_equal(a, c)


# The conv layers of minigan/models (DCGAN at width 64, conv VAE), at batch 8:
# (kind, N, Cin, H, W, Cout, k, stride, padding)
MODEL_LAYERS = [
    ("conv", 8, 1, 28, 28, 64, 4, 2, 1),  # D: 1 -> 64, 28 -> 14
    ("conv", 8, 64, 14, 14, 128, 4, 2, 1),  # D: 64 -> 128, 14 -> 7
    ("conv", 8, 128, 7, 7, 256, 3, 2, 1),  # D: 128 -> 256, 7 -> 4
    ("conv", 8, 256, 4, 4, 1, 4, 1, 0),  # D: 256 -> 1, 4 -> 1 (dense path)
    ("convt", 8, 100, 1, 1, 256, 7, 1, 0),  # G: 100 -> 256, 1 -> 7 (dense path)
    ("convt", 8, 256, 7, 7, 128, 4, 2, 1),  # G: 256 -> 128, 7 -> 14
    ("convt", 8, 128, 14, 14, 1, 4, 2, 1),  # G: 128 -> 1, 14 -> 28
    ("conv", 8, 32, 14, 14, 64, 4, 2, 1),  # VAE encoder 32 -> 64
    ("convt", 8, 64, 7, 7, 32, 4, 2, 1),  # VAE decoder 64 -> 32
]


@pytest.mark.parametrize("layer", MODEL_LAYERS, ids=str)
def test_model_layers_float32(layer, threads):
    kind, n, ci, h, wd, co, k, s, p = layer
    if kind == "conv":
        case = (n, ci, h, wd, co, k, k, s, p)
        x, w, b, dy, s, p = conv_data(case, np.float32, "model")
        x64, w64, b64, dy64 = wide(x, w, b, dy)
        ks = conv_k(case)
        check(
            NC.conv2d_forward(x, w, b, s, p),
            R.conv2d_forward(x64, w64, b64, s, p),
            np.float32,
            ks["y"],
            "y",
        )
        got, ref = NC.conv2d_backward(dy, x, w, s, p), R.conv2d_backward(dy64, x64, w64, s, p)
    else:
        case = (n, ci, h, wd, co, k, k, s, p, 0)
        x, w, b, dy, s, p, op = convt_data(case, np.float32, "model")
        x64, w64, b64, dy64 = wide(x, w, b, dy)
        ks = convt_k(case)
        check(
            NC.conv_transpose2d_forward(x, w, b, s, p, op),
            R.conv_transpose2d_forward(x64, w64, b64, s, p, op),
            np.float32,
            ks["y"],
            "y",
        )
        got = NC.conv_transpose2d_backward(dy, x, w, s, p, op)
        ref = R.conv_transpose2d_backward(dy64, x64, w64, s, p, op)
    for name, a, e in zip(("dx", "dw", "db"), got, ref):
        check(a, e, np.float32, ks[name], name)


# ----------------------------------------------------------------------------------
# Random geometries: strides 1-3, padding, output_padding, rectangular everything
# ----------------------------------------------------------------------------------


def random_conv_cases(count, seed):
    rng = np.random.default_rng(seed)
    cases = []
    while len(cases) < count:
        n, c, o = (int(v) for v in rng.integers(1, 5, size=3))
        kh, kw = (int(v) for v in rng.integers(1, 6, size=2))
        sh, sw = (int(v) for v in rng.integers(1, 4, size=2))
        ph, pw = (int(v) for v in rng.integers(0, 3, size=2))
        h, wd = (int(v) for v in rng.integers(1, 12, size=2))
        if h + 2 * ph < kh or wd + 2 * pw < kw:
            continue
        cases.append((n, c, h, wd, o, kh, kw, (sh, sw), (ph, pw)))
    return cases


def random_convt_cases(count, seed):
    rng = np.random.default_rng(seed)
    cases = []
    while len(cases) < count:
        n, ci, co = (int(v) for v in rng.integers(1, 5, size=3))
        kh, kw = (int(v) for v in rng.integers(1, 6, size=2))
        sh, sw = (int(v) for v in rng.integers(1, 4, size=2))
        ph, pw = (int(v) for v in rng.integers(0, 3, size=2))
        oh, ow = int(rng.integers(0, sh)), int(rng.integers(0, sw))
        h, wd = (int(v) for v in rng.integers(1, 9, size=2))
        ho, wo = convt_out_hw(h, wd, kh, kw, (sh, sw), (ph, pw), (oh, ow))
        if min(ho, wo) < 1:
            continue
        cases.append((n, ci, h, wd, co, kh, kw, (sh, sw), (ph, pw), (oh, ow)))
    return cases


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("case", random_conv_cases(30, seed=10), ids=str)
def test_conv2d_random_geometries(case, dtype, threads):
    x, w, b, dy, s, p = conv_data(case, dtype, "random")
    x64, w64, b64, dy64 = wide(x, w, b, dy)
    k = conv_k(case)
    check(
        NC.conv2d_forward(x, w, b, s, p), R.conv2d_forward(x64, w64, b64, s, p), dtype, k["y"], "y"
    )
    got = NC.conv2d_backward(dy, x, w, s, p)
    for name, a, e in zip(("dx", "dw", "db"), got, R.conv2d_backward(dy64, x64, w64, s, p)):
        check(a, e, dtype, k[name], name)


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("case", random_convt_cases(30, seed=11), ids=str)
def test_conv_transpose2d_random_geometries(case, dtype, threads):
    x, w, b, dy, s, p, op = convt_data(case, dtype, "random")
    x64, w64, b64, dy64 = wide(x, w, b, dy)
    k = convt_k(case)
    check(
        NC.conv_transpose2d_forward(x, w, b, s, p, op),
        R.conv_transpose2d_forward(x64, w64, b64, s, p, op),
        dtype,
        k["y"],
        "y",
    )
    got = NC.conv_transpose2d_backward(dy, x, w, s, p, op)
    ref = R.conv_transpose2d_backward(dy64, x64, w64, s, p, op)
    for name, a, e in zip(("dx", "dw", "db"), got, ref):
        check(a, e, dtype, k[name], name)


def test_conv_adjoint_identity():
    """conv_transpose2d is the adjoint of conv2d: <conv2d(u), v> == <u, conv_T(v)>, and
    conv2d's dx is conv_transpose2d of dy (same kernel, stride, padding)."""
    rng = rng_for("adjoint")
    u = rng.standard_normal((2, 3, 9, 8))
    w = rng.standard_normal((4, 3, 3, 4))
    s, p = (2, 3), (1, 2)
    y = NC.conv2d_forward(u, w, None, s, p)
    v = rng.standard_normal(y.shape)
    op = (9 + 2 * p[0] - 3) % s[0], (8 + 2 * p[1] - 4) % s[1]
    ut = NC.conv_transpose2d_forward(v, w, None, s, p, op)
    assert ut.shape == u.shape
    np.testing.assert_allclose(np.vdot(y, v), np.vdot(u, ut), rtol=1e-12)
    dx = NC.conv2d_backward(v, u, w, s, p, need_dw=False, need_db=False)[0]
    np.testing.assert_allclose(dx, ut, rtol=1e-12, atol=1e-12)


# ----------------------------------------------------------------------------------
# Layouts, dtypes, sizes
# ----------------------------------------------------------------------------------


@pytest.mark.parametrize("dtype", DTYPES)
def test_non_contiguous_inputs(dtype, threads):
    """Strided / transposed views give the same results as their contiguous copies."""
    rng = rng_for("noncontig", np.dtype(dtype).name)
    big = rng.standard_normal((3, 8, 4, 14, 9)).astype(dtype)
    x = big[:, ::2, 1, :, :].transpose(0, 1, 3, 2)[:, :, ::-1]  # (3, 4, 9, 14), no unit stride
    assert not x.flags.c_contiguous and not x.flags.f_contiguous
    w = rng.standard_normal((4, 5, 4, 4)).astype(dtype).transpose(1, 0, 3, 2)  # (5, 4, 4, 4)
    b = rng.standard_normal(10).astype(dtype)[::2]
    s, p = 2, 1
    y = NC.conv2d_forward(x, w, b, s, p)
    ref = NC.conv2d_forward(*(np.ascontiguousarray(a) for a in (x, w, b)), s, p)
    np.testing.assert_array_equal(y, ref)
    dy = np.asfortranarray(rng.standard_normal(y.shape).astype(dtype))
    for a, e in zip(
        NC.conv2d_backward(dy, x, w, s, p),
        NC.conv2d_backward(np.ascontiguousarray(dy), np.ascontiguousarray(x), w.copy(), s, p),
    ):
        np.testing.assert_array_equal(a, e)
    # conv_transpose2d: x (3, 4, 9, 14) and w (Cin=4, Cout=5, 4, 4)
    wt = np.asfortranarray(rng.standard_normal((4, 5, 4, 4)).astype(dtype))
    yt = NC.conv_transpose2d_forward(x, wt, b, s, p, 1)
    np.testing.assert_array_equal(
        yt, NC.conv_transpose2d_forward(np.ascontiguousarray(x), wt.copy(), b.copy(), s, p, 1)
    )
    dyt = rng.standard_normal(yt.shape[::-1]).astype(dtype).T  # a transposed view
    for a, e in zip(
        NC.conv_transpose2d_backward(dyt, x, wt, s, p, 1),
        NC.conv_transpose2d_backward(
            np.ascontiguousarray(dyt), np.ascontiguousarray(x), wt.copy(), s, p, 1
        ),
    ):
        np.testing.assert_array_equal(a, e)


def test_mixed_and_non_float_dtypes_follow_numpy_ref():
    """The result dtypes are numpy_ref's for every combination; integer inputs (outside
    what numba accelerates) are computed by numpy_ref itself."""
    rng = rng_for("dtypes")
    x = rng.standard_normal((2, 3, 6, 5))
    w = rng.standard_normal((4, 3, 3, 3))
    dy = rng.standard_normal((2, 4, 3, 3))
    for xd, wd, dd in [
        (np.float32, np.float64, np.float32),
        (np.float64, np.float32, np.float32),
        (np.float32, np.float32, np.float64),
    ]:
        args = (x.astype(xd), w.astype(wd))
        y, yr = NC.conv2d_forward(*args, None, 2, 1), R.conv2d_forward(*args, None, 2, 1)
        assert y.dtype == yr.dtype
        got = NC.conv2d_backward(dy.astype(dd), *args, 2, 1)
        ref = R.conv2d_backward(dy.astype(dd), *args, 2, 1)
        assert [a.dtype for a in got] == [a.dtype for a in ref]
        wt, op = w.astype(wd), (1, 0)  # (Cin=4, Cout=3): maps dy's shape to x's
        yt = NC.conv_transpose2d_forward(dy.astype(xd), wt, None, 2, 1, op)
        assert yt.dtype == R.conv_transpose2d_forward(dy.astype(xd), wt, None, 2, 1, op).dtype
        got = NC.conv_transpose2d_backward(x.astype(dd), dy.astype(xd), wt, 2, 1, op)
        ref = R.conv_transpose2d_backward(x.astype(dd), dy.astype(xd), wt, 2, 1, op)
        assert [a.dtype for a in got] == [a.dtype for a in ref]
    xi, wi = (np.arange(a.size).reshape(a.shape) % 7 - 3 for a in (x, w))
    np.testing.assert_array_equal(
        NC.conv2d_forward(xi, wi, None, 1, 1), R.conv2d_forward(xi, wi, None, 1, 1)
    )


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize(
    "shape",
    [(0, 3, 6, 6, 4), (2, 0, 6, 6, 4), (2, 3, 6, 6, 0), (0, 0, 6, 6, 0)],
    ids=["N=0", "C=0", "O=0", "all"],
)
def test_zero_size_dimensions(shape, dtype, threads):
    """Empty batch or channel dimensions give empty or zero results of the right shapes."""
    n, c, h, wd, o = shape
    rng = rng_for("zero", shape)
    x = rng.standard_normal((n, c, h, wd)).astype(dtype)
    w = rng.standard_normal((o, c, 3, 3)).astype(dtype)
    b = rng.standard_normal(o).astype(dtype)
    for s, p in ((1, 1), (2, 0)):
        y, yr = NC.conv2d_forward(x, w, b, s, p), R.conv2d_forward(x, w, b, s, p)
        assert y.shape == yr.shape and y.dtype == yr.dtype
        np.testing.assert_array_equal(y, yr)
        dy = np.ones(y.shape, dtype)
        for a, e in zip(NC.conv2d_backward(dy, x, w, s, p), R.conv2d_backward(dy, x, w, s, p)):
            assert a.shape == e.shape and a.dtype == e.dtype
            np.testing.assert_array_equal(a, e)
        wt = rng.standard_normal((c, o, 3, 3)).astype(dtype)
        yt = NC.conv_transpose2d_forward(x, wt, b, s, p, 0)
        ytr = R.conv_transpose2d_forward(x, wt, b, s, p, 0)
        assert yt.shape == ytr.shape and yt.dtype == ytr.dtype
        np.testing.assert_allclose(yt, ytr, rtol=1e-6, atol=0)
        dyt = np.ones(yt.shape, dtype)
        got = NC.conv_transpose2d_backward(dyt, x, wt, s, p, 0)
        for a, e in zip(got, R.conv_transpose2d_backward(dyt, x, wt, s, p, 0)):
            assert a.shape == e.shape and a.dtype == e.dtype
            np.testing.assert_allclose(a, e, rtol=1e-6, atol=0)


# ----------------------------------------------------------------------------------
# need_* flags
# ----------------------------------------------------------------------------------

FLAG_SETS = [
    (True, True, True),
    (True, False, False),
    (False, True, False),
    (False, False, True),
    (True, True, False),
    (False, True, True),
    (False, False, False),
]


@pytest.mark.parametrize("flags", FLAG_SETS, ids=str)
@pytest.mark.parametrize(
    "case",
    [CONV_CASES[4], CONV_CASES[10]],  # the im2col path and the dense path
    ids=["im2col", "dense"],
)
def test_conv2d_backward_need_flags(case, flags):
    x, w, _, dy, s, p = conv_data(case, np.float32, "flags")
    full = NC.conv2d_backward(dy, x, w, s, p)
    part = NC.conv2d_backward(dy, x, w, s, p, *flags)
    for need, a, f in zip(flags, part, full):
        if need:
            np.testing.assert_array_equal(a, f)
        else:
            assert a is None


@pytest.mark.parametrize("flags", FLAG_SETS, ids=str)
@pytest.mark.parametrize(
    "case",
    [CONVT_CASES[2], CONVT_CASES[7]],  # the col2im path and the dense path
    ids=["col2im", "dense"],
)
def test_conv_transpose2d_backward_need_flags(case, flags):
    x, w, _, dy, s, p, op = convt_data(case, np.float32, "flags")
    full = NC.conv_transpose2d_backward(dy, x, w, s, p, op)
    part = NC.conv_transpose2d_backward(dy, x, w, s, p, op, *flags)
    for need, a, f in zip(flags, part, full):
        if need:
            np.testing.assert_array_equal(a, f)
        else:
            assert a is None


# ----------------------------------------------------------------------------------
# Argument errors: the same ValueError messages as numpy_ref (the shared checks)
# ----------------------------------------------------------------------------------


def _x(*shape):
    return np.zeros(shape, np.float32)


BAD_CALLS = [
    ("conv2d_forward", (_x(2, 3, 5, 5, 1), _x(4, 3, 3, 3), None, 1, 0)),  # 5-D x
    ("conv2d_forward", (_x(2, 3, 5, 5), _x(4, 2, 3, 3), None, 1, 0)),  # channels
    ("conv2d_forward", (_x(2, 3, 5, 5), _x(4, 3, 3, 3), _x(3), 1, 0)),  # bias length
    ("conv2d_forward", (_x(2, 3, 2, 2), _x(4, 3, 3, 3), None, 1, 0)),  # kernel too big
    ("conv2d_forward", (_x(2, 3, 5, 5), _x(4, 3, 3, 3), None, 0, 0)),  # stride 0
    ("conv2d_forward", (_x(2, 3, 5, 5), _x(4, 3, 3, 3), None, 1, -1)),  # padding < 0
    ("conv2d_forward", (_x(2, 3, 5, 5), _x(4, 3, 3, 3), None, (1, 2, 3), 0)),  # not a pair
    ("conv2d_forward", (_x(2, 3, 0, 5), _x(4, 3, 3, 3), None, 1, 1)),  # empty image
    ("conv2d_backward", (_x(2, 4, 2, 2), _x(2, 3, 5, 5), _x(4, 3, 3, 3), 1, 0)),  # dy shape
    ("conv2d_backward", (_x(2, 4, 3, 3), _x(2, 3, 5, 5), _x(4, 3, 3), 1, 0)),  # 3-D w
    ("conv_transpose2d_forward", (_x(2, 3, 4, 4), _x(2, 5, 3, 3), None, 2, 1, 0)),  # channels
    ("conv_transpose2d_forward", (_x(2, 3, 4, 4), _x(3, 5, 3, 3), None, 2, 1, 2)),  # op >= s
    ("conv_transpose2d_forward", (_x(2, 3, 4, 4), _x(3, 5, 3, 3), _x(3), 2, 1, 0)),  # bias
    ("conv_transpose2d_forward", (_x(2, 3, 1, 1), _x(3, 5, 1, 1), None, 1, 1, 0)),  # empty out
    (
        "conv_transpose2d_backward",
        (_x(2, 5, 7, 8), _x(2, 3, 4, 4), _x(3, 5, 3, 3), 2, 1, 0),  # dy shape
    ),
    (
        "conv_transpose2d_backward",
        (_x(2, 5, 7, 7), _x(2, 3, 4, 4), _x(3, 5, 3, 3), 2, 1, (0, 1, 2)),  # bad pair
    ),
]


@pytest.mark.parametrize(
    "name,args", BAD_CALLS, ids=[f"{n}-{i}" for i, (n, _) in enumerate(BAD_CALLS)]
)
def test_errors_match_numpy_ref(name, args):
    with pytest.raises(ValueError) as ref_err:
        getattr(R, name)(*args)
    with pytest.raises(ValueError) as err:
        getattr(NC, name)(*args)
    assert str(err.value) == str(ref_err.value)


def test_exports_the_contract_signatures():
    """Same parameter names, order and defaults as numpy_ref's four functions."""
    contract = [
        "conv2d_forward",
        "conv2d_backward",
        "conv_transpose2d_forward",
        "conv_transpose2d_backward",
    ]
    for name in contract:
        sig_nc = inspect.signature(getattr(NC, name)).parameters
        sig_r = inspect.signature(getattr(R, name)).parameters
        assert list(sig_nc) == list(sig_r), name
        for p_nc, p_r in zip(sig_nc.values(), sig_r.values()):
            assert p_nc.default == p_r.default, (name, p_nc.name)
    assert set(NC.__all__) == {*contract, "compile_kernels"}


@pytest.mark.parametrize("chunk_bytes", [1, 13000], ids=["1 image", "2-3 images"])
def test_batch_chunks_give_the_same_results(monkeypatch, chunk_bytes, threads):
    """The batch is processed in chunks sized by CHUNK_BYTES: small chunks (one image, or a
    few with a shorter last chunk) give the results of one chunk."""
    conv = (7, 3, 9, 8, 4, 3, 3, 2, 1)
    convt = (7, 3, 4, 5, 2, 4, 4, 2, 1, 1)
    x, w, b, dy, s, p = conv_data(conv, np.float64, "chunks")
    xt, wt, bt, dyt, st, pt, op = convt_data(convt, np.float64, "chunks")
    whole = (
        NC.conv2d_forward(x, w, b, s, p),
        *NC.conv2d_backward(dy, x, w, s, p),
        NC.conv_transpose2d_forward(xt, wt, bt, st, pt, op),
        *NC.conv_transpose2d_backward(dyt, xt, wt, st, pt, op),
    )
    monkeypatch.setattr(NC, "CHUNK_BYTES", chunk_bytes)
    chunked = (
        NC.conv2d_forward(x, w, b, s, p),
        *NC.conv2d_backward(dy, x, w, s, p),
        NC.conv_transpose2d_forward(xt, wt, bt, st, pt, op),
        *NC.conv_transpose2d_backward(dyt, xt, wt, st, pt, op),
    )
    for a, e in zip(chunked, whole):
        np.testing.assert_allclose(a, e, rtol=1e-12, atol=1e-12)
    # and against the oracle
    ref = R.conv2d_backward(dy, x, w, s, p)
    for name, a, e in zip(("dx", "dw", "db"), chunked[1:4], ref):
        check(a, e, np.float64, 1, name)


def test_compile_kernels_builds_both_variants():
    """compile_kernels() compiles (or loads) the serial and the parallel build of every
    kernel for the given dtypes, with the argument types the contract functions pass: a
    contract call afterwards adds no new specialization."""
    NC.compile_kernels(("float32", "float64"))
    kernels = [*NC._SERIAL, *NC._PARALLEL]
    before = [len(k.signatures) for k in kernels]
    for k in kernels:
        dtypes = {str(sig[0].dtype) for sig in k.signatures}
        assert {"float32", "float64"} <= dtypes, (k.py_func.__name__, dtypes)
    x, w, b, dy, s, p = conv_data(CONV_CASES[4], np.float32, "compile")
    NC.conv2d_backward(dy, x, w, s, p)
    xt, wt, bt, dyt, st, pt, op = convt_data(CONVT_CASES[1], np.float32, "compile")
    NC.conv_transpose2d_forward(xt, wt, bt, st, pt, op)
    NC.conv_transpose2d_backward(dyt, xt, wt, st, pt, op)
    assert [len(k.signatures) for k in kernels] == before


def test_read_only_inputs(threads):
    """Read-only inputs (broadcast views, frozen buffers) give the same results and no new
    numba specialization (they are copied once instead)."""
    x, w, b, dy, s, p = conv_data(CONV_CASES[4], np.float32, "readonly")
    ref_y, ref_grads = NC.conv2d_forward(x, w, b, s, p), NC.conv2d_backward(dy, x, w, s, p)
    kernels = [*NC._SERIAL, *NC._PARALLEL]
    before = [len(k.signatures) for k in kernels]
    frozen = [a.copy() for a in (x, w, b, dy)]
    for a in frozen:
        a.setflags(write=False)
    x, w, b, dy = frozen
    np.testing.assert_array_equal(NC.conv2d_forward(x, w, b, s, p), ref_y)
    for a, e in zip(NC.conv2d_backward(dy, x, w, s, p), ref_grads):
        np.testing.assert_array_equal(a, e)
    xb = np.broadcast_to(x[:1], x.shape)  # a read-only view
    yb = NC.conv_transpose2d_forward(xb, w.transpose(1, 0, 2, 3), None, 2, 1, 0)
    xbc = np.ascontiguousarray(xb)
    np.testing.assert_array_equal(
        yb, NC.conv_transpose2d_forward(xbc, w.transpose(1, 0, 2, 3), None, 2, 1, 0)
    )
    assert [len(k.signatures) for k in kernels] == before


def test_small_calls_use_the_serial_builds(monkeypatch):
    """With several numba threads, calls that move fewer than PARALLEL_MIN_WORK elements
    run the serial builds (waking the worker threads would cost more than it saves)."""
    if numba.config.NUMBA_NUM_THREADS < 2:
        pytest.skip("numba has one thread here")
    old = numba.get_num_threads()
    numba.set_num_threads(2)
    try:
        assert NC._kernels(NC.PARALLEL_MIN_WORK - 1) is NC._SERIAL
        assert NC._kernels(NC.PARALLEL_MIN_WORK) is NC._PARALLEL
        numba.set_num_threads(1)
        assert NC._kernels(NC.PARALLEL_MIN_WORK) is NC._SERIAL
    finally:
        numba.set_num_threads(old)
