# Validation of the array-level implementations of the kernel contract against
# minigan.backend.numpy_ref evaluated in float64 on the very same input values: every family,
# forward and every gradient, on arrays directly (no Tensor, no dispatch), in float32 and
# float64. Every such test runs three times:
#   numba  minigan/backend/numba_cpu.py, the CPU path for float32 (NumPy arrays; skipped,
#          saying why, when numba is not installed);
#   gpu    minigan/backend/cupy_kernels.py, the CuPy fallback, with real CuPy on a CUDA GPU
#          (marked `cuda`, skipped without a usable GPU);
#   emu    the same CuPy fallback on the CuPy stand-in tests/emu_cupy (marked `emu`, runs in
#          CI without a GPU): every ElementwiseKernel / ReductionKernel string of
#          cupy_kernels.py becomes a generated CUDA C kernel run by the CUDA emulator of
#          minigan._C_emu (every memory access checked, real barriers); the rest of CuPy is
#          NumPy. Skipped, saying why, unless minigan._C_emu is built
#          (`python3 csrc/emu/build.py`) and g++ is found.
# Generated kernels are compiled once and cached in build/emu/cupy_kernels/; no emulated case
# is slow enough to need the `emu_full` marker.
#
# Tolerance policy (docs/testing.md, via tests/helpers.py `tolerance`/`assert_close`), the
# same for gpu and emu:
#   float64: tol = 1e-9; float32: tol = 16 * sqrt(K) * 2^-24 with K the reduction length
#   of the compared array, and c = 32 for the batchnorm training dx (three O(n) terms
#   cancel to an O(1) result). An element passes when
#   |actual - expected| <= tol * max|expected| + tol * |expected|.
# Backward kernels get the same saved values on both sides (the reference forward output
# rounded to the dtype under test), so only each kernel's own rounding is measured.
#
# Two tests run on any machine without either: importing the module without CuPy (and the
# reason it gives), and the error messages, which are raised by shape checks before any
# CuPy call. The last section tests the stand-in itself (emu only).
from __future__ import annotations

import contextlib
import math
import sys
import zlib
from collections.abc import Iterator
from typing import Any

import numpy as np
import pytest
from emu_cupy import harness as emu_cupy
from helpers import assert_close, emu_counts, requires_cuda, tolerance
from hypothesis import assume, given, settings
from hypothesis import strategies as st

import minigan
from minigan import backend
from minigan.backend import KERNEL_FUNCTIONS
from minigan.backend import numpy_ref as R

DTYPES = [pytest.param(np.float32, id="f32"), pytest.param(np.float64, id="f64")]
SLOPE = 0.2


EMU_REASON = emu_cupy.unavailable_reason()


def _numba_unavailable_reason() -> str:
    from minigan.backend import numba_cpu

    return numba_cpu.unavailable_reason()


NUMBA_REASON = _numba_unavailable_reason()

# The implementations every test runs on (see the header).
IMPLS = [
    pytest.param(
        "numba",
        id="numba",
        marks=pytest.mark.skipif(bool(NUMBA_REASON), reason=f"numba kernels: {NUMBA_REASON}"),
    ),
    pytest.param("gpu", id="gpu", marks=(pytest.mark.cuda, requires_cuda)),
    pytest.param(
        "emu",
        id="emu",
        marks=(
            pytest.mark.emu,
            pytest.mark.skipif(bool(EMU_REASON), reason=f"CuPy stand-in: {EMU_REASON}"),
        ),
    ),
]


class NumpyAsCupy:
    """NumPy under the few names of CuPy the tests use (asnumpy), for the numba kernels,
    whose arrays are NumPy arrays."""

    asnumpy = staticmethod(np.asarray)

    def __getattr__(self, name: str) -> Any:
        return getattr(np, name)


@contextlib.contextmanager
def implementation(kind: str) -> Iterator[tuple[Any, Any]]:
    """(array module, kernel module): for "numba" (NumpyAsCupy, numba_cpu), "gpu" (cupy,
    cupy_kernels: the real ones; skips when unusable) or "emu" (the stand-in, installed as
    `cupy` for the duration of the block only, and cupy_kernels)."""
    if kind == "numba":
        from minigan.backend import numba_cpu

        yield NumpyAsCupy(), numba_cpu
        return
    if kind == "emu":
        with emu_cupy.activated() as pair:
            yield pair
        return
    cp = pytest.importorskip("cupy")
    from minigan.backend import cupy_kernels

    why = cupy_kernels.unavailable_reason()
    if why:
        pytest.skip(f"cupy kernels unusable here: {why}")
    yield cp, cupy_kernels


@pytest.fixture(params=IMPLS)
def impl(request):
    """(array module, kernel module) of one implementation (see IMPLS)."""
    with implementation(request.param) as pair:
        yield pair


@pytest.fixture
def cp(impl):
    return impl[0]


@pytest.fixture
def ck(impl):
    """The module under test, bound to the implementation's cupy."""
    return impl[1]


def rng_for(*key) -> np.random.Generator:
    return np.random.default_rng(zlib.crc32(repr(key).encode()))


def f64(a):
    """A float64 copy (never a view: the references update running stats in place)."""
    return None if a is None else np.array(a, dtype=np.float64)


def dev(cp, a):
    return None if a is None else cp.asarray(a)


def check(cp, actual, expected, dtype, k=1, what="value", c=16.0, scale=0.0):
    """actual (a CuPy array) has the dtype under test and is within the policy of expected.

    `scale` (optional) raises the absolute allowance to tol * scale when the result is a
    small difference of larger terms (the policy measures error against the magnitudes
    that were summed or subtracted)."""
    assert actual is not None, f"{what}: got None"
    a = cp.asnumpy(actual)
    assert a.dtype == np.dtype(dtype), f"{what}: dtype {a.dtype}, expected {np.dtype(dtype)}"
    tol = tolerance(dtype, k, c)
    floor = max(float(np.finfo(dtype).tiny), tol * scale)
    assert_close(a, expected, tol, f"{what} [{np.dtype(dtype).name}]", floor)


# ----------------------------------------------------------------------------------
# Tests that run everywhere
# ----------------------------------------------------------------------------------


def test_module_imports_without_a_gpu_and_says_why():
    from minigan.backend import cupy_kernels as ck

    for name in KERNEL_FUNCTIONS:
        assert callable(getattr(ck, name)), name
    if minigan.cuda_is_available():
        pytest.skip("a CUDA GPU is usable here: unavailable_reason() is rightly empty")
    why = ck.unavailable_reason()
    assert isinstance(why, str) and len(why) > 10, why
    backend.reset()
    try:
        assert why in backend.backend_info()["cuda"]["reason"]
    finally:
        backend.reset()


def _error_cases():
    z = np.zeros
    x4, w4 = z((2, 3, 5, 5)), z((4, 3, 3, 3))
    return [
        ("linear_act_forward", (z((2, 3)), z((4, 5)), None), {}),
        ("linear_act_forward", (z((2, 3)), z((4, 3)), None), {"act": "gelu"}),
        ("linear_act_forward", (z((2, 3)), z((4, 3)), None), {"act": "leaky_relu", "slope": -1}),
        ("linear_act_forward", (z((2, 3)), z((4, 3)), z(3)), {}),
        ("linear_act_forward", (z(3), z((4, 3)), None), {}),
        ("linear_act_backward", (z((2, 5)), z((2, 3)), z((4, 3)), z((2, 4))), {}),
        ("conv2d_forward", (z((2, 3, 5)), w4, None), {}),
        ("conv2d_forward", (x4, z((4, 2, 3, 3)), None), {}),
        ("conv2d_forward", (x4, w4, None), {"stride": 0}),
        ("conv2d_forward", (x4, w4, None), {"stride": (1, 2, 3)}),
        ("conv2d_forward", (x4, w4, None), {"padding": -1}),
        ("conv2d_forward", (z((2, 3, 2, 2)), w4, None), {}),
        ("conv2d_forward", (x4, w4, z(3)), {}),
        ("conv2d_backward", (z((2, 4, 2, 2)), x4, w4), {}),
        (
            "conv_transpose2d_forward",
            (z((2, 3, 4, 4)), z((3, 2, 3, 3)), None),
            {"stride": 2, "output_padding": 2},
        ),  # noqa: E501
        ("conv_transpose2d_forward", (z((2, 3, 4, 4)), z((2, 3, 3, 3)), None), {}),
        ("conv_transpose2d_forward", (z((2, 3, 1, 1)), z((3, 2, 1, 1)), None), {"padding": 1}),
        ("conv_transpose2d_forward", (z((2, 3, 4, 4)), z((3, 2, 3, 3)), z(3)), {}),
        (
            "conv_transpose2d_backward",
            (z((2, 2, 5, 5)), z((2, 3, 4, 4)), z((3, 2, 3, 3)), 1, 0, 0),
            {},
        ),  # noqa: E501
        ("batchnorm_forward", (z((1, 3)), None, None, None, None, True), {}),
        ("batchnorm_forward", (z((4, 3)), z(2), None, None, None, True), {}),
        ("batchnorm_forward", (z((4, 3)), None, None, z(3), None, True), {}),
        ("batchnorm_forward", (z((4, 3)), None, None, None, None, False), {}),
        ("batchnorm_forward", (z(4), None, None, None, None, True), {}),
        ("batchnorm_backward", (z((4, 2)), z((4, 3)), None, z(3), z(3), True), {}),
        ("batchnorm_backward", (z((4, 3)), z((4, 3)), None, z(2), z(3), True), {}),
        ("sigmoid_bce_forward_backward", (z(4), z(4)), {"reduction": "none"}),
        ("sigmoid_bce_forward_backward", (z(4), z(5)), {}),
        ("sigmoid_bce_forward_backward", (z(0), z(0)), {}),
        ("adam_step", ([z(3)], [z(3)], [z(3)], []), {"step": 1}),
        ("adam_step", ([z(3)], [z(3)], [z(3)], [z(3)]), {"step": 0}),
        ("adam_step", ([z(3)], [z(3)], [z(3)], [z(3)]), {"step": 1.5}),
        ("adam_step", ([z(3), z(2)], [z(3), z(3)], [z(3), z(2)], [z(3), z(2)]), {"step": 1}),
    ]


ERROR_CASES = [pytest.param(*case, id=f"{case[0]}-{i}") for i, case in enumerate(_error_cases())]


def _convert(obj, to):
    if isinstance(obj, np.ndarray):
        return to(obj)
    if isinstance(obj, list | tuple):
        return type(obj)(_convert(o, to) for o in obj)
    return obj


def _reference_message(name, args, kwargs) -> str:
    with pytest.raises(ValueError) as ref:
        getattr(R, name)(*_convert(args, np.copy), **kwargs)
    return str(ref.value)


@pytest.mark.parametrize(("name", "args", "kwargs"), ERROR_CASES)
def test_bad_inputs_raise_the_reference_message(name, args, kwargs):
    """The shape checks run before any CuPy call, so NumPy arrays stand in for device
    arrays here: this runs without a GPU and pins the messages to numpy_ref's."""
    from minigan.backend import cupy_kernels as ck

    expected = _reference_message(name, args, kwargs)
    with pytest.raises(ValueError) as got:
        getattr(ck, name)(*_convert(args, np.copy), **kwargs)
    assert str(got.value) == expected


@pytest.mark.parametrize(("name", "args", "kwargs"), ERROR_CASES)
def test_bad_inputs_on_the_gpu(ck, cp, name, args, kwargs):
    expected = _reference_message(name, args, kwargs)
    with pytest.raises(ValueError) as got:
        getattr(ck, name)(*_convert(args, cp.asarray), **kwargs)
    assert str(got.value) == expected


# ----------------------------------------------------------------------------------
# Linear + activation
# ----------------------------------------------------------------------------------

LINEAR_SHAPES = [(1, 1, 1), (1, 7, 3), (5, 33, 17), (64, 100, 10), (3, 257, 129), (128, 784, 256)]


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("act", R.ACTIVATIONS)
@pytest.mark.parametrize("shape", LINEAR_SHAPES, ids=str)
def test_linear_act(ck, cp, shape, act, dtype):
    n, k, m = shape
    rng = rng_for("linear", shape, act)
    x = rng.standard_normal((n, k)).astype(dtype)
    w = (rng.standard_normal((m, k)) / math.sqrt(k)).astype(dtype)
    b = rng.standard_normal(m).astype(dtype)
    dy = rng.standard_normal((n, m)).astype(dtype)
    for bias in (b, None):
        tag = f"linear {act} {shape} bias={bias is not None}"
        y_ref = R.linear_act_forward(f64(x), f64(w), f64(bias), act, SLOPE)
        x_d, w_d = dev(cp, x), dev(cp, w)
        y = ck.linear_act_forward(x_d, w_d, dev(cp, bias), act, SLOPE)
        check(cp, y, y_ref, dtype, k, f"{tag} y")

        y_in = y_ref.astype(dtype)  # both sides differentiate at the same y
        has_b = bias is not None
        ref = R.linear_act_backward(f64(dy), f64(x), f64(w), f64(y_in), act, SLOPE, need_db=has_b)
        dy_d = dev(cp, dy)
        got = ck.linear_act_backward(dy_d, x_d, w_d, dev(cp, y_in), act, SLOPE, need_db=has_b)
        # dz = dy * act'(y) with act' = 1 - y*y (tanh) or (1 - y)*y (sigmoid) cancels near
        # saturation, so dz is only accurate to ~eps*|dy|: judge the gradients against the
        # magnitudes they would have with act' = 1.
        ady = np.abs(f64(dy))
        check(cp, got[0], ref[0], dtype, m, f"{tag} dx", scale=np.max(ady @ np.abs(f64(w))))
        check(cp, got[1], ref[1], dtype, n, f"{tag} dw", scale=np.max(ady.T @ np.abs(f64(x))))
        if has_b:
            check(cp, got[2], ref[2], dtype, n, f"{tag} db", scale=np.max(ady.sum(axis=0)))
        else:
            assert got[2] is None
        for arr, orig in ((dy_d, dy), (x_d, x), (w_d, w)):
            np.testing.assert_array_equal(cp.asnumpy(arr), orig)  # inputs untouched


@pytest.mark.parametrize("slope", [0.0, 0.2, 1.0, 1.7])
def test_linear_leaky_relu_slopes(ck, cp, slope):
    rng = rng_for("leaky", slope)
    x, w, b = rng.standard_normal((9, 5)), rng.standard_normal((6, 5)), rng.standard_normal(6)
    y_ref = R.linear_act_forward(x, w, b, "leaky_relu", slope)
    y = ck.linear_act_forward(dev(cp, x), dev(cp, w), dev(cp, b), "leaky_relu", slope)
    check(cp, y, y_ref, np.float64, what=f"leaky y slope={slope}")
    dy = rng.standard_normal(y_ref.shape)
    ref = R.linear_act_backward(dy, x, w, y_ref, "leaky_relu", slope)
    got = ck.linear_act_backward(*(dev(cp, a) for a in (dy, x, w, y_ref)), "leaky_relu", slope)
    for name, g, r in zip(("dx", "dw", "db"), got, ref):
        check(cp, g, r, np.float64, what=f"leaky {name} slope={slope}")


def test_linear_need_flags(ck, cp):
    rng = rng_for("linear-flags")
    x, w = rng.standard_normal((4, 3)), rng.standard_normal((5, 3))
    dy, y = rng.standard_normal((4, 5)), rng.standard_normal((4, 5))
    args = [dev(cp, a) for a in (dy, x, w, y)]
    assert ck.linear_act_backward(*args, "tanh", 0.01, False, False, False) == (None, None, None)
    dx, dw, db = ck.linear_act_backward(*args, "tanh", 0.01, True, False, False)
    assert dw is None and db is None
    check(cp, dx, R.linear_act_backward(dy, x, w, y, "tanh")[0], np.float64, what="dx")


# ----------------------------------------------------------------------------------
# Convolution and transposed convolution
# ----------------------------------------------------------------------------------

CONV_CASES = [
    # (N, C, H, W, O, kh, kw, stride, padding)
    (1, 1, 1, 1, 1, 1, 1, 1, 0),
    (2, 3, 7, 5, 4, 3, 3, 1, 1),
    (1, 3, 8, 8, 5, 4, 4, 2, 1),
    (3, 5, 9, 7, 2, 3, 2, (2, 1), (1, 0)),
    (2, 1, 5, 6, 3, 5, 5, 2, 2),  # odd size, stride 2
    (1, 2, 11, 11, 3, 3, 3, 3, 0),  # the stride leaves the last rows/cols unread
    (4, 16, 14, 14, 8, 4, 4, 2, 1),  # a GAN discriminator layer
    (2, 7, 28, 28, 9, 5, 5, 1, 2),
]


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("case", CONV_CASES, ids=str)
def test_conv2d(ck, cp, case, dtype):
    n, c, h, wd, o, kh, kw, stride, padding = case
    rng = rng_for("conv2d", case)
    x = rng.standard_normal((n, c, h, wd)).astype(dtype)
    w = (rng.standard_normal((o, c, kh, kw)) / math.sqrt(c * kh * kw)).astype(dtype)
    b = rng.standard_normal(o).astype(dtype)
    x_d, w_d = dev(cp, x), dev(cp, w)
    for bias in (b, None):
        y_ref = R.conv2d_forward(f64(x), f64(w), f64(bias), stride, padding)
        y = ck.conv2d_forward(x_d, w_d, dev(cp, bias), stride, padding)
        check(cp, y, y_ref, dtype, c * kh * kw, f"conv2d {case} bias={bias is not None} y")
    ho, wo = y_ref.shape[2:]
    dy = rng.standard_normal(y_ref.shape).astype(dtype)
    ref = R.conv2d_backward(f64(dy), f64(x), f64(w), stride, padding)
    dy_d = dev(cp, dy)
    got = ck.conv2d_backward(dy_d, x_d, w_d, stride, padding)
    check(cp, got[0], ref[0], dtype, o * kh * kw, f"conv2d {case} dx")
    check(cp, got[1], ref[1], dtype, n * ho * wo, f"conv2d {case} dw")
    check(cp, got[2], ref[2], dtype, n * ho * wo, f"conv2d {case} db")
    for arr, orig in ((dy_d, dy), (x_d, x), (w_d, w)):
        np.testing.assert_array_equal(cp.asnumpy(arr), orig)
    none = ck.conv2d_backward(dy_d, x_d, w_d, stride, padding, False, False, False)
    assert none == (None, None, None)


CONVT_CASES = [
    # (N, Cin, H, W, Cout, kh, kw, stride, padding, output_padding)
    (1, 1, 1, 1, 1, 1, 1, 1, 0, 0),
    (2, 3, 4, 5, 2, 3, 3, 1, 1, 0),
    (2, 4, 7, 7, 3, 4, 4, 2, 1, 0),  # 7 -> 14, the GAN generator shape
    (1, 3, 5, 4, 5, 3, 3, 2, 1, 1),  # output_padding 1
    (3, 2, 3, 5, 3, 5, 3, (3, 2), (1, 0), (2, 1)),
    (2, 5, 6, 6, 1, 4, 4, 2, 1, 1),
    (1, 1, 2, 3, 2, 2, 2, 2, 0, 0),  # batch 1, no overlap between taps
    (8, 16, 7, 7, 8, 4, 4, 2, 1, 0),
]


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("case", CONVT_CASES, ids=str)
def test_conv_transpose2d(ck, cp, case, dtype):
    n, cin, h, wd, cout, kh, kw, stride, padding, out_pad = case
    rng = rng_for("convt", case)
    x = rng.standard_normal((n, cin, h, wd)).astype(dtype)
    w = (rng.standard_normal((cin, cout, kh, kw)) / math.sqrt(cin * kh * kw)).astype(dtype)
    b = rng.standard_normal(cout).astype(dtype)
    x_d, w_d = dev(cp, x), dev(cp, w)
    for bias in (b, None):
        y_ref = R.conv_transpose2d_forward(f64(x), f64(w), f64(bias), stride, padding, out_pad)
        y = ck.conv_transpose2d_forward(x_d, w_d, dev(cp, bias), stride, padding, out_pad)
        check(cp, y, y_ref, dtype, cin * kh * kw, f"convT {case} bias={bias is not None} y")
    ho, wo = y_ref.shape[2:]
    dy = rng.standard_normal(y_ref.shape).astype(dtype)
    ref = R.conv_transpose2d_backward(f64(dy), f64(x), f64(w), stride, padding, out_pad)
    dy_d = dev(cp, dy)
    got = ck.conv_transpose2d_backward(dy_d, x_d, w_d, stride, padding, out_pad)
    check(cp, got[0], ref[0], dtype, cout * kh * kw, f"convT {case} dx")
    check(cp, got[1], ref[1], dtype, n * h * wd, f"convT {case} dw")
    check(cp, got[2], ref[2], dtype, n * ho * wo, f"convT {case} db")
    for arr, orig in ((dy_d, dy), (x_d, x), (w_d, w)):
        np.testing.assert_array_equal(cp.asnumpy(arr), orig)
    none = ck.conv_transpose2d_backward(
        dy_d, x_d, w_d, stride, padding, out_pad, False, False, False
    )
    assert none == (None, None, None)


@st.composite
def conv_problem(draw):
    """A random valid conv2d problem, plus an output_padding for the transpose."""
    kh, kw = draw(st.integers(1, 5)), draw(st.integers(1, 5))
    sh, sw = draw(st.integers(1, 3)), draw(st.integers(1, 3))
    ph, pw = draw(st.integers(0, 2)), draw(st.integers(0, 2))
    h = draw(st.integers(max(1, kh - 2 * ph), 12))
    wd = draw(st.integers(max(1, kw - 2 * pw), 12))
    n, c, o = draw(st.integers(1, 3)), draw(st.integers(1, 6)), draw(st.integers(1, 6))
    # The transpose maps conv2d's output size back: (Ho - 1)*s - 2p + k + op, which must be
    # >= 1; with a small input and a large stride and padding, only a larger op gets there.
    op = []
    for size, k, s, p in ((h, kh, sh, ph), (wd, kw, sw, pw)):
        back = ((size + 2 * p - k) // s) * s - 2 * p + k
        lowest = max(0, 1 - back)
        assume(lowest <= s - 1)
        op.append(draw(st.integers(lowest, s - 1)))
    op = tuple(op)
    seed = draw(st.integers(0, 2**32 - 1))
    return n, c, h, wd, o, (kh, kw), (sh, sw), (ph, pw), op, seed


@pytest.mark.parametrize("kind", IMPLS)
@settings(max_examples=25, deadline=None, derandomize=True, database=None)
@given(conv_problem())
def test_conv_random_shapes_float64(kind, problem):
    """conv2d and conv_transpose2d (forward, dx, dw, db) on Hypothesis-drawn shapes."""
    with implementation(kind) as (cp, ck):
        _check_conv_problem(cp, ck, problem)


def _check_conv_problem(cp, ck, problem):
    """One drawn problem: both convolutions, forward and every gradient, in float64."""
    n, c, h, wd, o, (kh, kw), s, p, op, seed = problem
    rng = np.random.default_rng(seed)
    x, w, b = (rng.standard_normal(a) for a in ((n, c, h, wd), (o, c, kh, kw), (o,)))
    y_ref = R.conv2d_forward(x, w, b, s, p)
    check(cp, ck.conv2d_forward(dev(cp, x), dev(cp, w), dev(cp, b), s, p), y_ref, np.float64)
    dy = rng.standard_normal(y_ref.shape)
    got = ck.conv2d_backward(dev(cp, dy), dev(cp, x), dev(cp, w), s, p)
    for name, g, r in zip(("dx", "dw", "db"), got, R.conv2d_backward(dy, x, w, s, p)):
        check(cp, g, r, np.float64, what=f"conv2d {problem} {name}")
    # the same w read as a conv-transpose weight (Cin = o, Cout = c), applied to y's shape
    xt, bt = rng.standard_normal(y_ref.shape), rng.standard_normal(c)
    yt_ref = R.conv_transpose2d_forward(xt, w, bt, s, p, op)
    yt = ck.conv_transpose2d_forward(dev(cp, xt), dev(cp, w), dev(cp, bt), s, p, op)
    check(cp, yt, yt_ref, np.float64, what=f"convT {problem} y")
    dyt = rng.standard_normal(yt_ref.shape)
    ref = R.conv_transpose2d_backward(dyt, xt, w, s, p, op)
    got = ck.conv_transpose2d_backward(dev(cp, dyt), dev(cp, xt), dev(cp, w), s, p, op)
    for name, g, r in zip(("dx", "dw", "db"), got, ref):
        check(cp, g, r, np.float64, what=f"convT {problem} {name}")


# ----------------------------------------------------------------------------------
# Batch normalisation
# ----------------------------------------------------------------------------------

BN_SHAPES = [(2, 3), (7, 5), (128, 33), (1, 3, 2, 2), (4, 5, 3, 7), (2, 16, 7, 7), (3, 1, 5, 5)]


def _bn_inputs(shape, affine, dtype, *key):
    rng = rng_for("bn", shape, affine, *key)
    c = shape[1]
    x = (rng.standard_normal(shape) * 2 + 0.5).astype(dtype)
    gamma = rng.uniform(0.5, 1.5, c).astype(dtype) if affine else None
    beta = rng.standard_normal(c).astype(dtype) if affine else None
    rm = rng.standard_normal(c).astype(dtype)
    rv = rng.uniform(0.5, 2.0, c).astype(dtype)
    dy = rng.standard_normal(shape).astype(dtype)
    return x, gamma, beta, rm, rv, dy


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("affine", [True, False], ids=["affine", "plain"])
@pytest.mark.parametrize("shape", BN_SHAPES, ids=str)
def test_batchnorm_training(ck, cp, shape, affine, dtype):
    x, gamma, beta, rm, rv, dy = _bn_inputs(shape, affine, dtype, "train")
    n = x.size // shape[1]
    ax = (0, *range(2, x.ndim))
    rm64, rv64 = f64(rm), f64(rv)
    y_ref, mean_ref, invstd_ref = R.batchnorm_forward(
        f64(x), f64(gamma), f64(beta), rm64, rv64, True, 0.1, 1e-5
    )
    # the running-variance update uses the unbiased batch variance (factor n / (n - 1))
    np.testing.assert_allclose(rv64, 0.9 * f64(rv) + 0.1 * f64(x).var(axis=ax, ddof=1))

    x_d, g_d, b_d = dev(cp, x), dev(cp, gamma), dev(cp, beta)
    rm_d, rv_d = dev(cp, rm), dev(cp, rv)
    y, mean, invstd = ck.batchnorm_forward(x_d, g_d, b_d, rm_d, rv_d, True, 0.1, 1e-5)
    tag = f"bn train {shape} affine={affine}"
    check(cp, y, y_ref, dtype, n, f"{tag} y")
    check(cp, mean, mean_ref, dtype, n, f"{tag} mean")
    check(cp, invstd, invstd_ref, dtype, n, f"{tag} invstd")
    check(cp, rm_d, rm64, dtype, n, f"{tag} running_mean")
    check(cp, rv_d, rv64, dtype, n, f"{tag} running_var")
    assert mean.shape == invstd.shape == (shape[1],)

    y2, _, _ = ck.batchnorm_forward(x_d, g_d, b_d, None, None, True, 0.1, 1e-5)
    check(cp, y2, y_ref, dtype, n, f"{tag} y without running stats")

    mean_in, invstd_in = mean_ref.astype(dtype), invstd_ref.astype(dtype)
    ref = R.batchnorm_backward(f64(dy), f64(x), f64(gamma), f64(mean_in), f64(invstd_in), True)
    dy_d = dev(cp, dy)
    got = ck.batchnorm_backward(dy_d, x_d, g_d, dev(cp, mean_in), dev(cp, invstd_in), True)
    # c = 32 for dx: n*dy - sum(dy) - xhat*sum(dy*xhat) cancels O(n) terms (docs/testing.md),
    # completely so for n = 2 (xhat = +-1 whatever x is): judge dx against those terms.
    bs = (1, -1) + (1,) * (x.ndim - 2)
    xhat = (f64(x) - f64(mean_in).reshape(bs)) * f64(invstd_in).reshape(bs)
    terms = n * np.abs(f64(dy)) + np.abs(f64(dy).sum(axis=ax)).reshape(bs)
    terms += np.abs(xhat * (f64(dy) * xhat).sum(axis=ax).reshape(bs))
    coef = f64(invstd_in) if gamma is None else f64(gamma) * f64(invstd_in)
    dx_scale = np.max(np.abs(coef).reshape(bs) / n * terms)
    check(cp, got[0], ref[0], dtype, n, f"{tag} dx", c=32.0, scale=dx_scale)
    if affine:
        check(cp, got[1], ref[1], dtype, n, f"{tag} dgamma")
        check(cp, got[2], ref[2], dtype, n, f"{tag} dbeta")
    else:
        assert got[1] is None and got[2] is None
    np.testing.assert_array_equal(cp.asnumpy(dy_d), dy)
    np.testing.assert_array_equal(cp.asnumpy(x_d), x)


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("affine", [True, False], ids=["affine", "plain"])
@pytest.mark.parametrize("shape", BN_SHAPES, ids=str)
def test_batchnorm_eval(ck, cp, shape, affine, dtype):
    x, gamma, beta, rm, rv, dy = _bn_inputs(shape, affine, dtype, "eval")
    n = x.size // shape[1]
    y_ref, mean_ref, invstd_ref = R.batchnorm_forward(
        f64(x), f64(gamma), f64(beta), f64(rm), f64(rv), False, 0.1, 1e-5
    )
    x_d, g_d = dev(cp, x), dev(cp, gamma)
    rm_d, rv_d = dev(cp, rm), dev(cp, rv)
    y, mean, invstd = ck.batchnorm_forward(x_d, g_d, dev(cp, beta), rm_d, rv_d, False, 0.1, 1e-5)
    tag = f"bn eval {shape} affine={affine}"
    check(cp, y, y_ref, dtype, 1, f"{tag} y")
    check(cp, mean, mean_ref, dtype, 1, f"{tag} mean")
    check(cp, invstd, invstd_ref, dtype, 1, f"{tag} invstd")
    np.testing.assert_array_equal(cp.asnumpy(rm_d), rm)  # eval leaves running stats alone
    np.testing.assert_array_equal(cp.asnumpy(rv_d), rv)

    mean_in, invstd_in = mean_ref.astype(dtype), invstd_ref.astype(dtype)
    ref = R.batchnorm_backward(f64(dy), f64(x), f64(gamma), f64(mean_in), f64(invstd_in), False)
    got = ck.batchnorm_backward(dev(cp, dy), x_d, g_d, dev(cp, mean_in), dev(cp, invstd_in), False)
    check(cp, got[0], ref[0], dtype, 1, f"{tag} dx")
    if affine:
        check(cp, got[1], ref[1], dtype, n, f"{tag} dgamma")
        check(cp, got[2], ref[2], dtype, n, f"{tag} dbeta")


def test_batchnorm_need_flags(ck, cp):
    x, gamma, _, _, _, dy = _bn_inputs((6, 4), True, np.float64, "flags")
    mean, invstd = x.mean(axis=0), 1 / np.sqrt(x.var(axis=0) + 1e-5)
    args = [dev(cp, a) for a in (dy, x, gamma, mean, invstd)]
    assert ck.batchnorm_backward(*args, True, False, False, False) == (None, None, None)
    dx, dg, db = ck.batchnorm_backward(*args, True, True, False, False)
    assert dg is None and db is None
    check(cp, dx, R.batchnorm_backward(dy, x, gamma, mean, invstd, True)[0], np.float64)


# ----------------------------------------------------------------------------------
# A standalone activation
# ----------------------------------------------------------------------------------

ACT_SHAPES = [(), (1,), (7,), (3, 5, 7), (128, 64, 2), (0,), (4, 0, 3)]
ACT_SLOPES = {"none": 0.0, "relu": 0.0, "leaky_relu": 0.2, "tanh": 0.0, "sigmoid": 0.0}


def _act_inputs(act, shape, dtype):
    """x with the activation's special points (0, +-large, NaN for relu) and an upstream dy."""
    rng = rng_for("activation", act, shape)
    x = rng.standard_normal(shape) * 3
    special = [0.0, -0.0, 1e4, -1e4, 30.0, -30.0, 1e-3, -1e-3]
    k = min(len(special), x.size)
    x.reshape(-1)[:k] = special[:k]
    return x.astype(dtype), rng.standard_normal(shape).astype(dtype)


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("shape", ACT_SHAPES, ids=str)
@pytest.mark.parametrize("act", list(ACT_SLOPES))
def test_activation(ck, cp, act, shape, dtype):
    x, dy = _act_inputs(act, shape, dtype)
    slope = ACT_SLOPES[act]
    y_ref = R.activation_forward(f64(x), act, slope)
    x_d = dev(cp, x)
    y = ck.activation_forward(x_d, act, slope)
    tag = f"{act} {shape}"
    assert y.shape == shape and y is not x_d
    check(cp, y, y_ref, dtype, 1, f"{tag} y")
    # The gradient from the implementation's own y (what the op saves), against the
    # reference's gradient from that same y (1 - y cancels near y = 1: y's own rounding
    # would otherwise dominate the comparison).
    dx_ref = R.activation_backward(f64(dy), f64(cp.asnumpy(y)), act, slope)
    dx = ck.activation_backward(dev(cp, dy), y, act, slope)
    assert dx.shape == shape
    check(cp, dx, dx_ref, dtype, 1, f"{tag} dx")
    np.testing.assert_array_equal(cp.asnumpy(x_d), x)  # the input is not modified


def test_activation_relu_passes_nan_and_leaky_relu_views(ck, cp):
    x = np.array([np.nan, -1.0, 2.0, 0.0], dtype=np.float32)
    y = cp.asnumpy(ck.activation_forward(cp.asarray(x), "relu"))
    assert np.isnan(y[0]) and list(y[1:]) == [0.0, 2.0, 0.0]
    # A non-contiguous view (every other column of a transposed array).
    base = rng_for("act-view").standard_normal((6, 10)).astype(np.float32)
    view = cp.asarray(base).T[::2]
    ref = R.activation_forward(f64(base.T[::2]), "leaky_relu", 0.1)
    check(cp, ck.activation_forward(view, "leaky_relu", 0.1), ref, np.float32)


@pytest.mark.parametrize("dtype", DTYPES)
def test_activation_at_infinities(ck, cp, dtype):
    """+-inf inputs give the reference's exact values (relu(-inf) = 0, not -inf * 0 = nan),
    and the gradients read off those outputs are finite."""
    x = np.array([np.inf, -np.inf, 2.0, -3.0], dtype=dtype)
    dy = np.array([1.0, 1.0, 1.0, np.inf], dtype=dtype)
    for act, slope in ACT_SLOPES.items():
        y = ck.activation_forward(cp.asarray(x), act, slope)
        y_ref = R.activation_forward(f64(x), act, slope)
        np.testing.assert_allclose(cp.asnumpy(y), y_ref, rtol=1e-6, err_msg=act)  # inf == inf
        dx = ck.activation_backward(cp.asarray(dy), y, act, slope)
        dx_ref = R.activation_backward(f64(dy), f64(cp.asnumpy(y)), act, slope)
        np.testing.assert_allclose(cp.asnumpy(dx), dx_ref, rtol=1e-6, err_msg=act)


def test_activation_rejects_bad_arguments(ck, cp):
    x = cp.asarray(np.zeros((2, 3), dtype=np.float32))
    with pytest.raises(ValueError, match="activation_forward: unknown activation 'gelu'"):
        ck.activation_forward(x, "gelu")
    with pytest.raises(ValueError, match="activation_forward: leaky_relu needs slope >= 0"):
        ck.activation_forward(x, "leaky_relu", -0.1)
    with pytest.raises(ValueError, match=r"activation_backward: dy.shape=\(2, 3\) must equal"):
        ck.activation_backward(x, x[:1], "tanh")


# ----------------------------------------------------------------------------------
# Sigmoid + binary cross-entropy
# ----------------------------------------------------------------------------------

BCE_SHAPES = [(), (1,), (7,), (64, 1), (3, 5, 7), (1000,), (128, 1)]


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("reduction", ["mean", "sum"])
@pytest.mark.parametrize("shape", BCE_SHAPES, ids=str)
def test_sigmoid_bce(ck, cp, shape, reduction, dtype):
    rng = rng_for("bce", shape)
    logits = rng.standard_normal(shape) * 4
    special = [1e4, -1e4, 30.0, -30.0, 0.0, 1e-3]
    k = min(len(special), logits.size)
    logits.reshape(-1)[:k] = special[:k]
    targets = rng.uniform(0, 1, shape)
    targets.reshape(-1)[::2] = rng.integers(0, 2, targets.size)[::2]  # half hard labels
    logits, targets = logits.astype(dtype), targets.astype(dtype)
    loss_ref, grad_ref = R.sigmoid_bce_forward_backward(f64(logits), f64(targets), reduction)
    x_d = dev(cp, logits)
    loss, grad = ck.sigmoid_bce_forward_backward(x_d, dev(cp, targets), reduction)
    tag = f"bce {shape} {reduction}"
    assert loss.shape == ()
    check(cp, loss, loss_ref, dtype, logits.size, f"{tag} loss")
    check(cp, grad, grad_ref, dtype, 1, f"{tag} dlogits")
    np.testing.assert_array_equal(cp.asnumpy(x_d), logits)


@pytest.mark.parametrize("dtype", DTYPES)
def test_sigmoid_bce_extreme_logits(ck, cp, dtype):
    """Logits of +-1e4 overflow exp(x) in both dtypes; the stable form stays exact."""
    x = cp.asarray(np.array([1e4, -1e4, 1e4, -1e4], dtype=dtype))
    t = cp.asarray(np.array([1.0, 0.0, 0.0, 1.0], dtype=dtype))
    for reduction, n in (("mean", 4), ("sum", 1)):
        loss, grad = ck.sigmoid_bce_forward_backward(x, t, reduction)
        loss, grad = cp.asnumpy(loss), cp.asnumpy(grad)
        assert np.isfinite(loss) and np.all(np.isfinite(grad))
        np.testing.assert_allclose(loss, 2e4 / n, rtol=1e-6)
        np.testing.assert_allclose(grad, np.array([0.0, 0.0, 1.0, -1.0]) / n, atol=1e-7)


def test_sigmoid_bce_casts_targets(ck, cp):
    rng = rng_for("bce-cast")
    x, t = rng.standard_normal(10).astype(np.float32), rng.uniform(0, 1, 10)
    loss, grad = ck.sigmoid_bce_forward_backward(cp.asarray(x), cp.asarray(t))
    assert loss.dtype == np.float32 and grad.dtype == np.float32
    loss_ref, grad_ref = R.sigmoid_bce_forward_backward(f64(x), f64(t.astype(np.float32)))
    check(cp, loss, loss_ref, np.float32, 10)
    check(cp, grad, grad_ref, np.float32)


# ----------------------------------------------------------------------------------
# Adam
# ----------------------------------------------------------------------------------

ADAM_SHAPES = [(7,), (3, 5), (2, 3, 4, 5), (1,), (33, 17)]
SKIPPED = 3  # this parameter never gets a gradient


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("weight_decay", [0.0, 0.01])
def test_adam_several_steps(ck, cp, weight_decay, dtype):
    rng = rng_for("adam", weight_decay)
    hyper = {"lr": 1e-2, "beta1": 0.9, "beta2": 0.999, "eps": 1e-8, "weight_decay": weight_decay}
    p0 = [rng.standard_normal(s).astype(dtype) for s in ADAM_SHAPES]
    p64 = [f64(p) for p in p0]
    m64 = [np.zeros(s) for s in ADAM_SHAPES]
    v64 = [np.zeros(s) for s in ADAM_SHAPES]
    p_d = [dev(cp, p) for p in p0]
    m_d = [cp.zeros(s, dtype=dtype) for s in ADAM_SHAPES]
    v_d = [cp.zeros(s, dtype=dtype) for s in ADAM_SHAPES]
    for step in range(1, 6):
        gs = [
            None if i == SKIPPED else rng.standard_normal(s).astype(dtype)
            for i, s in enumerate(ADAM_SHAPES)
        ]
        R.adam_step(p64, [f64(g) for g in gs], m64, v64, step, **hyper)
        g_d = [dev(cp, g) for g in gs]
        assert ck.adam_step(p_d, g_d, m_d, v_d, step, **hyper) is None
        for i in range(len(ADAM_SHAPES)):
            tag = f"adam wd={weight_decay} step={step} param {i}"
            # K = step: each step adds a few roundings to p, m and v
            check(cp, p_d[i], p64[i], dtype, step, f"{tag} p")
            check(cp, m_d[i], m64[i], dtype, step, f"{tag} m")
            check(cp, v_d[i], v64[i], dtype, step, f"{tag} v")
            if gs[i] is not None:
                np.testing.assert_array_equal(cp.asnumpy(g_d[i]), gs[i])  # grads untouched
    np.testing.assert_array_equal(cp.asnumpy(p_d[SKIPPED]), p0[SKIPPED])
    assert not cp.asnumpy(m_d[SKIPPED]).any() and not cp.asnumpy(v_d[SKIPPED]).any()


def test_adam_checks_every_shape_before_updating(ck, cp):
    p = [cp.ones(3), cp.ones(2)]
    g = [cp.ones(3), cp.ones(3)]
    with pytest.raises(ValueError, match=r"grads\[1\]"):
        ck.adam_step(p, g, [cp.zeros(3), cp.zeros(2)], [cp.zeros(3), cp.zeros(2)], 1)
    np.testing.assert_array_equal(cp.asnumpy(p[0]), np.ones(3))


# ----------------------------------------------------------------------------------
# The CuPy stand-in itself (emu only): generated kernels really run in minigan._C_emu,
# under its checks, with CuPy's semantics
# ----------------------------------------------------------------------------------


def emu_only(test):
    """Mark a test `emu` and skip it, saying why, when the stand-in cannot run here."""
    for mark in next(p for p in IMPLS if p.id == "emu").marks:
        test = mark(test)
    return test


@emu_only
def test_emu_generated_kernels_run_in_the_one_emulator_runtime():
    """A generated kernel is launched by the minigan._C_emu that Python imported (its
    emu_stats() count the launch), not by a second copy of the emulator runtime."""
    import minigan._C_emu as ext

    rng = rng_for("emu-runtime")
    x, w, b = (rng.standard_normal(s).astype(np.float32) for s in ((6, 5), (40, 5), (40,)))
    with emu_cupy.activated() as (_cp, ck):
        before = ext.emu_stats()["launches"]
        with emu_counts() as ran:
            y = ck.linear_act_forward(x, w, b, "tanh", SLOPE)  # GEMM, then one kernel
        assert ext.emu_stats()["launches"] == before + 1
        assert ran["launches"] == 1 and ran["failures"] == 0
        assert ran["threads"] >= y.size and ran["accesses"] >= 3 * y.size
        with emu_counts() as ran:  # one ReductionKernel (tree with barriers) + one elementwise
            ck.batchnorm_forward(y, None, None, None, None, True)
        assert ran["launches"] == 2 and ran["barriers"] > 0 and ran["failures"] == 0


@emu_only
def test_emu_out_of_bounds_read_in_a_kernel_string_is_caught():
    """Only the bytes of the arrays passed are valid: reading one element past the end of
    a view (even inside its base array's memory) fails, naming the kernel."""
    with emu_cupy.activated() as (cp, _ck):
        shift = cp.ElementwiseKernel("raw T x", "T y", "y = x[i + 1];", "minigan_test_shift")
        base = np.arange(16, dtype=np.float32)
        x = base[:8]
        np.testing.assert_array_equal(shift(x, cp.zeros(7, np.float32)), base[1:8])
        with pytest.raises(RuntimeError, match=r"minigan_test_shift: out-of-bounds global read"):
            shift(x, cp.zeros(8, np.float32))


@emu_only
def test_emu_elementwise_kernel_semantics():
    """Type placeholders from the arrays (scalars converted to them), broadcasting of inputs
    to the output shape, i and _ind.size() over that shape, raw arrays indexed linearly,
    CuPy's type-mismatch error."""
    with emu_cupy.activated() as (cp, _ck):
        kernel = cp.ElementwiseKernel(
            "T x, raw T r, T s", "T y", "y = x * s + r[_ind.size() - 1 - i];", "minigan_test_mix"
        )
        x = np.arange(3.0).reshape(3, 1)  # broadcast along the output's columns
        r = np.arange(100.0, 112.0)
        y = kernel(x, r, 2, cp.empty((3, 4)))
        np.testing.assert_array_equal(y, x * 2 + r[::-1].reshape(3, 4))
        with pytest.raises(TypeError, match="Type is mismatched"):
            kernel(x.astype(np.float32), r, 2, cp.empty((3, 4)))
        with pytest.raises(ValueError, match="Out shape is mismatched"):  # x makes it (3, 4)
            kernel(x, r[:4], 2, cp.empty((1, 4)))


@emu_only
def test_emu_reduction_kernel_semantics():
    """Reduced axes of a non-contiguous input, identity, reduce_expr, post_map_expr and
    keepdims, against NumPy."""
    with emu_cupy.activated() as (cp, _ck):
        biggest = cp.ReductionKernel(
            "T x", "T m", "x * x", "max(a, b)", "m = sqrt(a)", "0", "minigan_test_max_abs"
        )
        x = rng_for("emu-reduce").standard_normal((6, 5, 70)).transpose(2, 0, 1)  # (70, 6, 5)
        for axis, keepdims in (((0, 2), False), (1, True), (None, False)):
            expected = np.abs(x).max(axis=axis, keepdims=keepdims)
            got = biggest(x, axis=axis, keepdims=keepdims)
            np.testing.assert_allclose(got, expected, rtol=1e-15, atol=0)


@emu_only
def test_emu_stand_in_is_only_installed_inside_the_block():
    """The stand-in is `cupy` (and cupy_kernels' cp) inside the block only; afterwards
    everything is as before, and the cuda device's verdict never saw it."""
    from minigan.backend import cupy_kernels

    before, cuda_before = sys.modules.get("cupy"), minigan.cuda_is_available()
    with emu_cupy.activated() as (cp, ck):
        assert sys.modules["cupy"] is cp and ck is cupy_kernels and ck.cp is cp
        assert minigan.cuda_is_available() == cuda_before
    assert sys.modules.get("cupy") is before
    assert cupy_kernels.cp is not cp
    assert minigan.cuda_is_available() == cuda_before
