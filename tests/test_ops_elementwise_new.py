# tests/test_ops_elementwise_new.py: the elementwise ops, activations, comparisons and `where`
# of issue 12 (sin, cos, sign, floor, rsqrt, square, clamp/clip with tensor bounds, gelu,
# silu, elu, logsigmoid, hardtanh, eq/ne/lt/le/gt/ge, where) and their nn layers: forward
# and backward against PyTorch CPU, gradcheck in float64, the array-math erf against
# math.erf, dtype promotion, gradients at kinks (PyTorch's conventions) and clear errors.
"""Tests of the elementwise ops, activations, comparisons and where of issue 12."""

from __future__ import annotations

import math
import warnings

import numpy as np
import pytest

import minigan as mg
from minigan import nn, ops
from minigan.ops.activation import erf

SHAPES = [(), (0,), (5,), (2, 3, 4)]
# Broadcasting pairs (and triples for where): size-1 axes, missing leading axes, 0-d, empty.
PAIRS = [((3, 1), (4,)), ((2, 3), (2, 3)), ((), (3,)), ((4, 1, 2), (3, 1)), ((0, 3), (1, 3))]


@pytest.fixture
def torch():
    return pytest.importorskip("torch")


def rng(seed: int = 0) -> np.random.Generator:
    return np.random.default_rng(seed)


def tol(dtype: str) -> dict:
    """float64: both libraries evaluate the same formulas, to a few ulps. float32: a few
    float32 ulps of the result's scale (the formulas differ, e.g. in the order of steps)."""
    return {"rtol": 1e-12, "atol": 1e-13} if dtype == "float64" else {"rtol": 2e-6, "atol": 2e-6}


def check_with_torch(torch, mg_fn, torch_fn, arrays, dtype="float64", grads=None, seed=1):
    """Run both libraries on the same values (arrays cast to `dtype` where floating), with
    the same random upstream gradient; compare the outputs, dtypes and input gradients.

    `grads` lists the inputs that require grad (default: every floating input).
    """
    arrays = [np.asarray(a) for a in arrays]
    arrays = [a.astype(dtype) if a.dtype.kind == "f" else a for a in arrays]
    if grads is None:
        grads = [i for i, a in enumerate(arrays) if a.dtype.kind == "f"]
    mts = [mg.tensor(a, requires_grad=i in grads) for i, a in enumerate(arrays)]
    tts = [torch.tensor(a, requires_grad=i in grads) for i, a in enumerate(arrays)]
    out, ref = mg_fn(*mts), torch_fn(*tts)
    assert out.shape == tuple(ref.shape)
    assert out.dtype == np.dtype(str(ref.dtype).removeprefix("torch.")), (out.dtype, ref.dtype)
    np.testing.assert_allclose(out.numpy(), ref.detach().numpy(), **tol(str(out.dtype)))
    if not grads:
        return out
    assert out.requires_grad == ref.requires_grad
    dy = rng(seed).standard_normal(ref.shape).astype(out.dtype)
    out.backward(dy)
    ref.backward(torch.tensor(dy))
    for i in grads:
        assert mts[i].grad is not None, f"input {i} got no gradient"
        assert mts[i].grad.dtype == mts[i].dtype
        np.testing.assert_allclose(
            mts[i].grad.numpy(),
            tts[i].grad.numpy(),
            **tol(str(mts[i].dtype)),
            err_msg=f"grad of input {i}",
        )
    return out


def t64(a, requires_grad=True) -> mg.Tensor:
    return mg.tensor(np.asarray(a, dtype=np.float64), requires_grad=requires_grad)


def away_from(x: np.ndarray, points, gap: float = 0.05) -> np.ndarray:
    """Move values at least `gap` away from the kinks in `points` (for finite differences)."""
    x = np.array(x, dtype=np.float64)  # a copy (also of a 0-d value)
    for p in points:
        close = np.abs(x - p) < gap
        x[close] = p + np.where(x[close] >= p, gap, -gap)
    return x


# =========================================================================================
# erf (the array-math erf behind the exact gelu)
# =========================================================================================
def test_erf_matches_math_erf_to_float64_accuracy():
    x = np.concatenate(
        [np.linspace(-7, 7, 20001), np.logspace(-300, 1, 301), [2.5, np.nextafter(2.5, 0)]]
    )
    ref = np.array([math.erf(v) for v in x])
    got = erf(x)
    assert got.dtype == np.float64
    rel = np.abs(got - ref) / np.maximum(np.abs(ref), np.finfo(np.float64).tiny)
    assert rel.max() < 4e-15, rel.max()


def test_erf_special_values_shapes_and_oddness():
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # no overflow/invalid warnings
        got = erf(np.array([np.nan, np.inf, -np.inf, 0.0, -0.0, 1e300, -1e300]))
    assert np.isnan(got[0])
    assert got[1:].tolist() == [1.0, -1.0, 0.0, -0.0, 1.0, -1.0]
    assert np.signbit(got[4])
    assert erf(np.array(0.5)).shape == () and erf(np.zeros((0, 3))).shape == (0, 3)
    x = rng(2).standard_normal(100) * 3
    np.testing.assert_array_equal(erf(-x), -erf(x))
    assert erf(np.float32(1.0)).dtype == np.float64  # always evaluated in float64


# =========================================================================================
# Float-only unary ops and activations
# =========================================================================================
def _unary_cases():
    """name -> (minigan fn, torch fn, input transform keeping the values in the domain and
    away from kinks for gradcheck)."""
    return {
        "sin": (ops.sin, lambda t, T: T.sin(t), lambda x: 3 * x),
        "cos": (ops.cos, lambda t, T: T.cos(t), lambda x: 3 * x),
        "rsqrt": (ops.rsqrt, lambda t, T: T.rsqrt(t), lambda x: np.abs(x) + 0.2),
        "gelu": (ops.gelu, lambda t, T: T.nn.functional.gelu(t), lambda x: 3 * x),
        "gelu_tanh": (
            lambda t: ops.gelu(t, approximate="tanh"),
            lambda t, T: T.nn.functional.gelu(t, approximate="tanh"),
            lambda x: 3 * x,
        ),
        "silu": (ops.silu, lambda t, T: T.nn.functional.silu(t), lambda x: 4 * x),
        "elu": (
            lambda t: ops.elu(t, alpha=1.7),
            lambda t, T: T.nn.functional.elu(t, alpha=1.7),
            lambda x: away_from(3 * x, [0.0]),
        ),
        "logsigmoid": (ops.logsigmoid, lambda t, T: T.nn.functional.logsigmoid(t), lambda x: 5 * x),
        "hardtanh": (
            lambda t: ops.hardtanh(t, -0.7, 1.2),
            lambda t, T: T.nn.functional.hardtanh(t, -0.7, 1.2),
            lambda x: away_from(2 * x, [-0.7, 1.2]),
        ),
    }


UNARY = sorted(_unary_cases())


@pytest.mark.parametrize("shape", SHAPES, ids=str)
@pytest.mark.parametrize("dtype", ["float64", "float32"])
@pytest.mark.parametrize("name", UNARY)
def test_unary_float_ops_match_torch(torch, name, dtype, shape):
    fn, tfn, domain = _unary_cases()[name]
    x = domain(rng(3).standard_normal(shape))
    check_with_torch(torch, fn, lambda t: tfn(t, torch), [x], dtype=dtype)


@pytest.mark.parametrize("name", UNARY)
def test_unary_float_ops_gradcheck(name):
    fn, _, domain = _unary_cases()[name]
    x = domain(rng(4).standard_normal((3, 4)))
    assert mg.gradcheck(fn, [t64(x)])


@pytest.mark.parametrize("name", UNARY)
def test_unary_float_ops_promote_integers_to_float32(torch, name):
    """Integer and bool tensors compute in float32 (float_operands), with the values of the
    float computation (PyTorch raises for most activations of an integer tensor: minigan's
    rule is the one of exp/log/sigmoid, see docs/tensor-rules.md)."""
    fn, tfn, _ = _unary_cases()[name]
    values = np.array([-3, -1, 0, 1, 2, 4])
    if name == "rsqrt":
        values = np.abs(values) + 1
    out = fn(mg.tensor(values))
    ref = tfn(torch.tensor(values, dtype=torch.float32), torch)
    assert out.dtype == np.float32 and not out.requires_grad
    np.testing.assert_allclose(out.numpy(), ref.numpy(), **tol("float32"))
    assert fn(mg.tensor(np.array([True, False]))).dtype == np.float32


def test_float_ops_of_integers_match_torch_where_torch_promotes(torch):
    x = np.array([-2, 0, 3, 7])
    for name in ("sin", "cos"):
        check_with_torch(torch, getattr(ops, name), getattr(torch, name), [x])
    check_with_torch(torch, ops.rsqrt, torch.rsqrt, [np.array([1, 4, 9])])


def test_activations_are_stable_at_large_magnitudes(torch):
    x = np.array([-1e4, -800.0, -50.0, 50.0, 800.0, 1e4])
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # no overflow/underflow warnings on the way
        for dtype in ("float64", "float32"):
            check_with_torch(torch, ops.logsigmoid, torch.nn.functional.logsigmoid, [x], dtype)
            check_with_torch(torch, ops.silu, torch.nn.functional.silu, [x], dtype)
            check_with_torch(torch, ops.elu, torch.nn.functional.elu, [x], dtype)
            check_with_torch(torch, ops.gelu, torch.nn.functional.gelu, [x], dtype)
    out = ops.logsigmoid(t64([-1e4, 1e4], False)).numpy()
    assert out.tolist() == [-1e4, 0.0]  # log σ(-10000) = -10000 exactly, no -inf


def test_gelu_exact_is_x_times_the_normal_cdf():
    x = rng(5).standard_normal(50) * 3
    cdf = np.array([0.5 * (1 + math.erf(v / math.sqrt(2))) for v in x])
    # 1 + erf(x/√2) cancels for negative x (in both computations): compare at the scale of 1.
    np.testing.assert_allclose(ops.gelu(t64(x, False)).numpy(), x * cdf, rtol=1e-14, atol=1e-15)
    assert ops.gelu(t64(x, False)).numpy().dtype == np.float64


def test_rsqrt_at_zero_and_negative_like_torch(torch):
    x = np.array([0.0, 4.0, -1.0])
    t = t64(x)
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # no divide/invalid warnings
        out = ops.rsqrt(t)
        out.backward(np.ones(3))
    tx = torch.tensor(x, requires_grad=True)
    ref = torch.rsqrt(tx)
    ref.backward(torch.ones(3))
    np.testing.assert_array_equal(out.numpy(), ref.detach().numpy())  # inf, 0.5, nan
    np.testing.assert_array_equal(t.grad.numpy(), tx.grad.numpy())  # -inf, -1/16, nan
    assert out.numpy()[0] == np.inf and t.grad.numpy()[0] == -np.inf


def test_elu_gradient_at_zero_is_alpha(torch):
    x = t64([0.0, -0.0, 1e-300])
    ops.elu(x, alpha=2.0).sum().backward()
    tx = torch.tensor([0.0, -0.0, 1e-300], dtype=torch.float64, requires_grad=True)
    torch.nn.functional.elu(tx, alpha=2.0).sum().backward()
    assert x.grad.tolist() == tx.grad.tolist() == [2.0, 2.0, 1.0]


def test_hardtanh_gradient_is_zero_at_the_bounds_like_torch(torch):
    """PyTorch's hardtanh gives 0 at exactly min_val and max_val (clamp gives 1 there); a
    NaN input passes the gradient."""
    x = np.array([-2.0, -0.5, -0.25, 0.0, 0.75, 0.8, np.nan])
    out = check_with_torch(
        torch,
        lambda t: ops.hardtanh(t, -0.5, 0.75),
        lambda t: torch.nn.functional.hardtanh(t, -0.5, 0.75),
        [x],
        grads=[0],
    )
    assert np.isnan(out.numpy()[-1])
    t = t64(x)
    ops.hardtanh(t, -0.5, 0.75).backward(np.ones(7))
    assert t.grad.tolist() == [0.0, 0.0, 1.0, 1.0, 0.0, 0.0, 1.0]
    ct = t64(x[:-1])
    ops.clamp(ct, -0.5, 0.75).backward(np.ones(6))
    assert ct.grad.tolist() == [0.0, 1.0, 1.0, 1.0, 1.0, 0.0]  # clamp: boundaries pass


def test_hardtanh_of_integers_promotes_instead_of_truncating_the_bounds():
    out = ops.hardtanh(mg.tensor([-3, 0, 3]), -0.5, 0.5)
    assert out.dtype == np.float32 and out.tolist() == [-0.5, 0.0, 0.5]


# =========================================================================================
# sign, floor, square (keep integer dtypes), and their gradients at kinks
# =========================================================================================
SPECIAL = np.array([-2.5, -1.0, -0.0, 0.0, 0.3, 1.0, 2.0, np.inf, -np.inf, np.nan])


@pytest.mark.parametrize("shape", SHAPES, ids=str)
@pytest.mark.parametrize("dtype", ["float64", "float32"])
@pytest.mark.parametrize("name", ["sign", "floor", "square"])
def test_sign_floor_square_match_torch(torch, name, dtype, shape):
    x = rng(6).standard_normal(shape) * 3
    check_with_torch(torch, getattr(ops, name), getattr(torch, name), [x], dtype=dtype)


@pytest.mark.parametrize("name", ["sign", "floor", "square"])
def test_sign_floor_square_special_values_and_zero_gradients(torch, name):
    """sign(NaN) = 0 and sign'/floor' = 0 everywhere, at the jumps too (PyTorch's values)."""
    check_with_torch(torch, getattr(ops, name), getattr(torch, name), [SPECIAL[:-3]])
    out = getattr(ops, name)(t64(SPECIAL, False)).numpy()
    ref = getattr(torch, name)(torch.tensor(SPECIAL)).numpy()
    np.testing.assert_array_equal(out, ref)


@pytest.mark.parametrize("dtype", ["int64", "int32", "uint8", "bool"])
@pytest.mark.parametrize("name", ["sign", "floor", "square"])
def test_sign_floor_square_of_integers_keep_the_dtype_like_torch(torch, name, dtype):
    values = np.array([0, 1, 3, 7] if dtype in ("uint8",) else [-3, 0, 1, 7]).astype(dtype)
    if name == "floor" and dtype == "bool":
        with pytest.raises(TypeError, match="floor: not defined for bool"):
            ops.floor(mg.tensor(values))
        with pytest.raises(RuntimeError):
            torch.floor(torch.tensor(values))
        return
    out = getattr(ops, name)(mg.tensor(values))
    ref = getattr(torch, name)(torch.tensor(values))
    assert out.dtype == np.dtype(str(ref.dtype).removeprefix("torch."))
    np.testing.assert_array_equal(out.numpy(), ref.numpy())


def test_square_gradcheck_and_gradient_is_2x():
    x = rng(7).standard_normal((3, 4))
    assert mg.gradcheck(ops.square, [t64(x)])
    t = t64(x)
    ops.square(t).sum().backward()
    np.testing.assert_array_equal(t.grad.numpy(), 2 * x)


def test_sign_and_floor_gradients_are_zero_and_flow():
    x = t64([-1.5, 0.0, 2.0, 3.7])
    (ops.sign(x) * 3 + ops.floor(x) * 5 + x).sum().backward()
    assert x.grad.tolist() == [1.0, 1.0, 1.0, 1.0]
    assert ops.sign(x).requires_grad and ops.floor(x).grad_fn == "Floor"


# =========================================================================================
# clamp (and clip, the same op) with scalar and tensor bounds
# =========================================================================================
@pytest.mark.parametrize("lo,hi", [(-0.5, 0.5), (None, 0.3), (-0.3, None), (0.4, -0.4)])
@pytest.mark.parametrize("dtype", ["float64", "float32"])
def test_clamp_scalar_bounds_match_torch(torch, lo, hi, dtype):
    x = rng(8).standard_normal((3, 4))
    x[0, :2] = [-0.5 if lo is None else lo, 0.3 if hi is None else hi]  # ties: grad passes
    check_with_torch(
        torch, lambda t: ops.clamp(t, min=lo, max=hi), lambda t: torch.clamp(t, lo, hi), [x], dtype
    )
    check_with_torch(torch, lambda t: ops.clip(t, lo, hi), lambda t: torch.clip(t, lo, hi), [x])


@pytest.mark.parametrize("shapes", [((3, 4), (4,), (3, 1)), ((2, 3), (), (2, 3)), ((5,), (5,), ())])
def test_clamp_tensor_bounds_broadcast_and_get_gradients_like_torch(torch, shapes):
    r = rng(9)
    x, lo, hi = (r.standard_normal(s) for s in shapes)
    lo = lo - 0.5  # mostly lo < hi, with some crossings (min > max) left in
    check_with_torch(torch, ops.clamp, torch.clamp, [x, lo, hi])
    check_with_torch(
        torch, lambda t, m: ops.clamp(t, min=m), lambda t, m: torch.clamp(t, min=m), [x, lo]
    )
    check_with_torch(
        torch, lambda t, m: ops.clamp(t, max=m), lambda t, m: torch.clamp(t, max=m), [x, hi]
    )


def test_clamp_tensor_bounds_ties_and_crossed_bounds(torch):
    """x on a bound passes its gradient to x; where min > max the output is max and max
    gets the gradient (PyTorch's conventions)."""
    x = np.array([0.0, 1.0, 2.0, 3.0, 5.0])
    lo = np.array([1.0, 1.0, 3.0, 2.5, 1.0])
    hi = np.array([2.0, 0.5, 2.0, 3.0, 6.0])
    check_with_torch(torch, ops.clamp, torch.clamp, [x, lo, hi])
    ts = [t64(v) for v in (x, lo, hi)]
    out = ops.clamp(*ts)
    out.backward(np.array([1.0, 10.0, 100.0, 1000.0, 1e4]))
    assert out.tolist() == [1.0, 0.5, 2.0, 3.0, 5.0]
    assert ts[0].grad.tolist() == [0.0, 0.0, 0.0, 1000.0, 1e4]
    assert ts[1].grad.tolist() == [1.0, 0.0, 0.0, 0.0, 0.0]
    assert ts[2].grad.tolist() == [0.0, 10.0, 100.0, 0.0, 0.0]


def test_clamp_gradcheck_with_tensor_bounds():
    r = rng(10)
    x = r.uniform(-2, 2, (3, 4))
    lo = r.uniform(-1.5, -0.5, (4,))
    hi = r.uniform(0.5, 1.5, (3, 1))
    x = np.where(np.abs(x - lo) < 0.05, x + 0.1, x)
    x = np.where(np.abs(x - hi) < 0.05, x + 0.1, x)
    assert mg.gradcheck(ops.clamp, [t64(x), t64(lo), t64(hi)])
    assert mg.gradcheck(lambda t, m: ops.clamp(t, min=m), [t64(x), t64(lo)])
    assert mg.gradcheck(lambda t, m: ops.clamp(t, max=m, min=-0.9), [t64(x), t64(hi)])


def test_clamp_dtype_promotion_and_integers(torch):
    x = np.array([1, 5, -3])
    for kwargs in ({"min": 2.5}, {"min": 0, "max": 2}, {"max": 1.5}):
        out = ops.clamp(mg.tensor(x), **kwargs)
        ref = torch.clamp(torch.tensor(x), **kwargs)
        assert out.dtype == np.dtype(str(ref.dtype).removeprefix("torch."))
        np.testing.assert_array_equal(out.numpy(), ref.numpy())
    f32 = mg.tensor([0.1, 0.9], dtype="float32")
    assert ops.clamp(f32, 0.2, 0.5).dtype == np.float32  # a Python float stays weak
    hi64 = mg.tensor([0.5, 0.5], dtype="float64")
    assert ops.clamp(f32, max=hi64).dtype == np.float64  # as torch: a dimensioned float64 bound


def test_clip_is_clamp():
    x = t64(rng(11).standard_normal(6))
    a, b = ops.clip(x, -0.3, 0.3), ops.clamp(x, min=-0.3, max=0.3)
    assert a.grad_fn == b.grad_fn == "Clip"
    np.testing.assert_array_equal(a.numpy(), b.numpy())


def test_clamp_errors():
    x = t64([1.0, 2.0])
    for fn in (ops.clamp, ops.clip):
        with pytest.raises(ValueError, match=f"{fn.__name__}: give at least one of min and max"):
            fn(x)
    with pytest.raises(ValueError, match=r"clamp: shapes \(2,\), \(3,\) cannot be broadcast"):
        ops.clamp(x, min=t64([0.0, 0.0, 0.0]))
    with pytest.raises(TypeError, match="clamp: input must be a Tensor"):
        ops.clamp([1.0, 2.0], 0.0, 1.0)


# =========================================================================================
# Comparisons
# =========================================================================================
COMPARISONS = ["eq", "ne", "lt", "le", "gt", "ge"]


@pytest.mark.parametrize("pair", PAIRS, ids=str)
@pytest.mark.parametrize("name", COMPARISONS)
def test_comparisons_broadcast_like_torch(torch, name, pair):
    r = rng(12)
    a = r.integers(-2, 3, pair[0]).astype(np.float64)  # small integers: many ties
    b = r.integers(-2, 3, pair[1]).astype(np.float32)
    out = getattr(ops, name)(mg.tensor(a), mg.tensor(b))
    ref = getattr(torch, name)(torch.tensor(a), torch.tensor(b))
    assert out.dtype == np.bool_ and out.shape == tuple(ref.shape)
    np.testing.assert_array_equal(out.numpy(), ref.numpy())


@pytest.mark.parametrize("name", COMPARISONS)
def test_comparisons_with_scalars_nan_and_promotion_like_torch(torch, name):
    f = getattr(ops, name)
    tf = getattr(torch, name)
    x = np.array([-1.0, 0.0, 0.1, 1.0, np.nan, np.inf], dtype=np.float32)
    cases = [
        (mg.tensor(x), torch.tensor(x), 0.1),  # float32 vs a weak 0.1: compared in float32
        (mg.tensor(x), torch.tensor(x), 0),
        (mg.tensor([16777217, 3]), torch.tensor([16777217, 3]), 16777216.0),  # in float32
        (mg.tensor([1, 2, 3]), torch.tensor([1, 2, 3]), 2),
        (mg.tensor(np.array([True, False])), torch.tensor([True, False]), True),
    ]
    for m, t, s in cases:
        np.testing.assert_array_equal(f(m, s).numpy(), tf(t, s).numpy())
    f64_0d = np.array(0.1)  # a 0-d float64 tensor does not widen a dimensioned float32 one
    np.testing.assert_array_equal(
        f(mg.tensor(x), mg.tensor(f64_0d)).numpy(),
        tf(torch.tensor(x), torch.tensor(f64_0d)).numpy(),
    )
    ints, floats = np.array([1, 2, 3]), np.array([1.5, 2.0, 2.5])
    np.testing.assert_array_equal(
        f(mg.tensor(ints), mg.tensor(floats)).numpy(),
        tf(torch.tensor(ints), torch.tensor(floats)).numpy(),
    )


def test_comparisons_are_not_differentiable_and_0d_empty_work():
    x = t64([1.0, 2.0, 3.0])
    for name in COMPARISONS:
        out = getattr(ops, name)(x, 2.0)
        assert out.dtype == np.bool_ and not out.requires_grad and out.grad_fn is None
    assert ops.lt(t64(1.0), 2.0).shape == () and ops.lt(t64(1.0), 2.0).tolist() is True
    assert ops.ge(t64(np.zeros((0, 2))), t64([1.0, 2.0])).shape == (0, 2)
    assert ops.eq(x, [1.0, 5.0, 3.0]).tolist() == [True, False, True]  # array-likes as in add


def test_comparison_errors():
    x = t64([1.0, 2.0])
    with pytest.raises(ValueError, match=r"lt: shapes \(2,\), \(3,\) cannot be broadcast"):
        ops.lt(x, t64([1.0, 2.0, 3.0]))
    with pytest.raises(TypeError, match="eq: input must be a Tensor"):
        ops.eq(1.0, x)
    with pytest.raises(TypeError, match="gt"):
        ops.gt(x, "a")
    with pytest.raises(TypeError, match="ne.*complex"):
        ops.ne(x, 1j)


# =========================================================================================
# where
# =========================================================================================
WHERE_SHAPES = [
    ((3, 1), (1, 4), (4,)),
    ((2, 3), (2, 3), (2, 3)),
    ((), (3,), ()),
    ((0, 2), (2,), ()),
]


@pytest.mark.parametrize("shapes", WHERE_SHAPES, ids=str)
@pytest.mark.parametrize("dtype", ["float64", "float32"])
def test_where_broadcasts_and_masks_gradients_like_torch(torch, shapes, dtype):
    r = rng(13)
    cond = r.random(shapes[0]) < 0.5
    a, b = r.standard_normal(shapes[1]), r.standard_normal(shapes[2])
    check_with_torch(torch, ops.where, torch.where, [cond, a, b], dtype=dtype)


def test_where_gradcheck():
    r = rng(14)
    cond = mg.tensor(r.random((3, 1)) < 0.5)
    assert mg.gradcheck(
        lambda a, b: ops.where(cond, a, b), [t64(r.standard_normal((1, 4))), t64(r.random(4))]
    )


def test_where_with_scalars_and_promotion_like_torch(torch):
    c = np.array([True, False, True])
    x = np.array([1.0, 2.0, 3.0])
    check_with_torch(
        torch, lambda cc, t: ops.where(cc, t, 0.0), lambda cc, t: torch.where(cc, t, 0.0), [c, x]
    )
    check_with_torch(
        torch,
        lambda cc, t: ops.where(cc, -1, t),
        lambda cc, t: torch.where(cc, -1, t),
        [c, x],
        dtype="float32",
    )
    for a, b in [(1.0, 0), (1, 0), (True, 2), (np.array([1, 2, 3]), 2.5)]:
        out = ops.where(mg.tensor(c), mg.tensor(a) if isinstance(a, np.ndarray) else a, b)
        ref = torch.where(torch.tensor(c), torch.tensor(a) if isinstance(a, np.ndarray) else a, b)
        assert out.dtype == np.dtype(str(ref.dtype).removeprefix("torch.")), (a, b)
        np.testing.assert_array_equal(out.numpy(), ref.numpy())


def test_where_mixed_float_dtypes_return_gradients_in_each_inputs_dtype(torch):
    c = np.array([True, False])
    check_with_torch(
        torch,
        lambda cc, a, b: ops.where(cc, a, b.double()),
        lambda cc, a, b: torch.where(cc, a, b.double()),
        [c, np.array([1.0, 2.0]), np.array([3.0, 4.0])],
        dtype="float32",
    )


def test_where_errors():
    x = t64([1.0, 2.0])
    with pytest.raises(TypeError, match="where: condition must be a bool tensor, got dtype int64"):
        ops.where(mg.tensor([1, 0]), x, 0.0)
    with pytest.raises(TypeError, match="where: condition must be a bool Tensor"):
        ops.where([True, False], x, 0.0)
    with pytest.raises(ValueError, match=r"where: shapes \(3,\), \(2,\), \(\) cannot be broadcast"):
        ops.where(mg.tensor(np.array([True, False, True])), x, 0.0)


# =========================================================================================
# Errors of the unary ops and activations
# =========================================================================================
@pytest.mark.parametrize(
    "name",
    [
        "sin",
        "cos",
        "rsqrt",
        "sign",
        "floor",
        "square",
        "gelu",
        "silu",
        "elu",
        "logsigmoid",
        "hardtanh",
    ],
)
def test_unary_ops_name_themselves_in_errors(name):
    fn = getattr(ops, name)
    with pytest.raises(TypeError, match=f"{name}: input must be a Tensor"):
        fn([1.0, 2.0])
    complex_tensor = mg.Tensor._from_op(np.array([1j, 2.0]), requires_grad=False)
    with pytest.raises(TypeError, match=f"{name}.*complex"):
        fn(complex_tensor)


def test_activation_argument_errors():
    x = t64([1.0])
    with pytest.raises(ValueError, match="gelu: approximate must be 'none' or 'tanh', got 'erf'"):
        ops.gelu(x, approximate="erf")
    with pytest.raises(ValueError, match="hardtanh: min_val cannot be greater than max_val"):
        ops.hardtanh(x, 1.0, -1.0)
    with pytest.raises(ValueError, match="GELU: approximate"):
        nn.GELU("fast")
    with pytest.raises(ValueError, match="Hardtanh: min_val"):
        nn.Hardtanh(2.0, 1.0)


# =========================================================================================
# nn layers
# =========================================================================================
def _layer_cases(torch):
    return [
        (nn.GELU(), torch.nn.GELU(), "GELU(approximate='none')"),
        (nn.GELU("tanh"), torch.nn.GELU("tanh"), "GELU(approximate='tanh')"),
        (nn.SiLU(), torch.nn.SiLU(), "SiLU()"),
        (nn.ELU(0.5), torch.nn.ELU(0.5), "ELU(alpha=0.5)"),
        (nn.LogSigmoid(), torch.nn.LogSigmoid(), "LogSigmoid()"),
        (
            nn.Hardtanh(-2.0, 0.5),
            torch.nn.Hardtanh(-2.0, 0.5),
            "Hardtanh(min_val=-2.0, max_val=0.5)",
        ),
    ]


def test_activation_layers_match_torch_modules(torch):
    x = rng(15).standard_normal((4, 5)) * 2
    for layer, tlayer, text in _layer_cases(torch):
        assert repr(layer) == text
        assert not list(layer.parameters())
        check_with_torch(torch, layer, tlayer, [x], dtype="float32")


def test_activation_layers_in_a_sequential_train_step():
    mg.manual_seed(0)
    model = nn.Sequential(
        nn.Linear(3, 4), nn.GELU(), nn.Linear(4, 4), nn.SiLU(), nn.Linear(4, 1), nn.Hardtanh()
    )
    x = mg.randn(8, 3)
    model(x).sum().backward()
    assert all(p.grad is not None and np.isfinite(p.grad.numpy()).all() for p in model.parameters())
