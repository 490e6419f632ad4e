# tests/test_ops.py: every primitive op and the fused ops at the Tensor level: forward vs
# NumPy float64, gradients by finite differences (gradcheck), PyTorch as a second oracle
# where importable, float32-vs-float64 parity (check_op), and bad-input error messages.
"""Tests for minigan.ops (primitive and fused ops)."""

from __future__ import annotations

import warnings

import hypothesis.extra.numpy as hnp
import numpy as np
import pytest
from helpers import (
    EPS32,
    TOL64,
    assert_close,
    available_devices,
    check_op,
    device_params,
    fd_ref,
    kernel_devices,
    kernel_unavailable_reason,
    tolerance,
)
from hypothesis import given, settings
from hypothesis import strategies as st

import minigan as mg
from minigan.autograd import Context, Function

try:
    import torch
except ImportError:  # torch is an optional second oracle
    torch = None

needs_torch = pytest.mark.skipif(torch is None, reason="PyTorch (CPU) is not importable")
HYPOTHESIS = settings(max_examples=25, deadline=None, derandomize=True, database=None)
DEVICES = tuple(available_devices())  # primitive ops: cpu, plus cuda when a GPU is usable
FUSED_DEVICES = tuple(kernel_devices())  # fused ops: devices whose kernel backend is usable


def rng(seed: int = 0) -> np.random.Generator:
    return np.random.default_rng(seed)


def t64(a, requires_grad: bool = True) -> mg.Tensor:
    """A float64 tensor (for gradcheck) from array-like values."""
    return mg.tensor(np.asarray(a, dtype=np.float64), requires_grad=requires_grad)


def away_from(values: np.ndarray, points=(0.0,), gap: float = 0.1) -> np.ndarray:
    """Push values at least `gap` away from kinks (finite differences fail at kinks)."""
    out = values.copy()
    for p in points:
        close = np.abs(out - p) < gap
        out[close] = p + np.where(out[close] >= p, gap, -gap)
    return out


def torch_check(mg_fn, torch_fn, arrays, grad_idx=None, seed=1):
    """Forward and gradients of mg_fn vs torch_fn, both in float64, same dy."""
    arrays = [np.asarray(a) for a in arrays]
    if grad_idx is None:
        grad_idx = [i for i, a in enumerate(arrays) if a.dtype.kind == "f"]
    mts = [
        mg.tensor(a.astype(np.float64) if a.dtype.kind == "f" else a, requires_grad=i in grad_idx)
        for i, a in enumerate(arrays)
    ]
    tts = [
        torch.tensor(
            a.astype(np.float64) if a.dtype.kind == "f" else a, requires_grad=i in grad_idx
        )
        for i, a in enumerate(arrays)
    ]
    out = mg_fn(*mts)
    ref = torch_fn(*tts)
    assert_close(out.numpy(), ref.detach().numpy(), TOL64, "forward vs torch")
    dy = rng(seed).standard_normal(ref.shape)
    out.backward(dy)
    ref.backward(torch.tensor(dy))
    for i in grad_idx:
        assert_close(mts[i].grad.numpy(), tts[i].grad.numpy(), TOL64, f"grad {i} vs torch")


# =========================================================================================
# Binary elementwise ops
# =========================================================================================


def _normal(g, shape):
    return g.standard_normal(shape)


def _nonzero(g, shape):
    return g.uniform(0.5, 2.0, shape) * g.choice([-1.0, 1.0], shape)


def _positive(g, shape):
    return g.uniform(0.5, 2.0, shape)


def _exponent(g, shape):
    return g.uniform(-2.0, 2.0, shape)


# name: (minigan op, numpy op, torch op name, domain of a, domain of b)
BINARY = {
    "add": (mg.add, np.add, "add", _normal, _normal),
    "sub": (mg.sub, np.subtract, "sub", _normal, _normal),
    "mul": (mg.mul, np.multiply, "mul", _normal, _normal),
    "div": (mg.div, np.divide, "div", _normal, _nonzero),
    "pow": (mg.pow, np.power, "pow", _positive, _exponent),
    "maximum": (mg.maximum, np.maximum, "maximum", _normal, _normal),
    "minimum": (mg.minimum, np.minimum, "minimum", _normal, _normal),
}


@st.composite
def broadcast_case(draw):
    shapes = draw(
        hnp.mutually_broadcastable_shapes(num_shapes=2, min_dims=0, max_dims=3, max_side=3)
    )
    return shapes.input_shapes, draw(st.integers(0, 2**16))


@pytest.mark.parametrize("name", sorted(BINARY))
@HYPOTHESIS
@given(case=broadcast_case())
def test_binary_op_broadcasting_forward_and_gradcheck(name, case):
    (sa, sb), seed = case
    op, ref, _, dom_a, dom_b = BINARY[name]
    g = rng(seed)
    a, b = dom_a(g, sa), dom_b(g, sb)
    out = op(t64(a, False), t64(b, False))
    np.testing.assert_allclose(out.numpy(), ref(a, b), rtol=1e-12, atol=1e-12)
    assert out.shape == np.broadcast_shapes(sa, sb)
    assert mg.gradcheck(op, [t64(a), t64(b)])


@pytest.mark.parametrize("name", sorted(BINARY))
def test_binary_op_gradcheck_fixed_broadcast(name):
    op, ref, _, dom_a, dom_b = BINARY[name]
    g = rng(3)
    a, b = dom_a(g, (3, 1, 4)), dom_b(g, (2, 1))
    assert op(t64(a), t64(b)).shape == (3, 2, 4)
    assert mg.gradcheck(op, [t64(a), t64(b)])
    # the broadcast operand on the left: (2, 1) op (3, 1, 4)
    a2, b2 = dom_a(g, (2, 1)), dom_b(g, (3, 1, 4))
    assert mg.gradcheck(op, [t64(a2), t64(b2)])


@needs_torch
@pytest.mark.parametrize("name", sorted(BINARY))
def test_binary_op_vs_torch(name):
    op, _, tname, dom_a, dom_b = BINARY[name]
    g = rng(4)
    a, b = dom_a(g, (3, 1, 4)), dom_b(g, (2, 1))
    torch_check(op, getattr(torch, tname), [a, b])


SCALAR_CASES = {
    "2 - x": (lambda x: 2.0 - x, lambda x: 2.0 - x),
    "x - 2": (lambda x: x - 2.0, lambda x: x - 2.0),
    "x + 1": (lambda x: x + 1.0, lambda x: x + 1.0),
    "1 + x": (lambda x: 1.0 + x, lambda x: 1.0 + x),
    "3 * x": (lambda x: 3.0 * x, lambda x: 3.0 * x),
    "x * 3": (lambda x: x * 3, lambda x: x * 3),
    "x ** 2": (lambda x: x**2, lambda x: x**2),
    "x ** 0.5": (lambda x: x**0.5, lambda x: x**0.5),
    "2 ** x": (lambda x: 2.0**x, lambda x: 2.0**x),
    "1 / x": (lambda x: 1 / x, lambda x: 1 / x),
    "x / 4": (lambda x: x / 4.0, lambda x: x / 4.0),
    "-x": (lambda x: -x, lambda x: -x),
    "np scalar * x": (lambda x: np.float64(2.5) * x, lambda x: 2.5 * x),
}


@pytest.mark.parametrize("name", sorted(SCALAR_CASES))
def test_scalar_operands_on_either_side(name):
    fn, ref = SCALAR_CASES[name]
    x = rng(5).uniform(0.5, 2.0, (2, 3))
    out = fn(t64(x, False))
    assert isinstance(out, mg.Tensor) and out.dtype == np.float64
    np.testing.assert_allclose(out.numpy(), ref(x), rtol=1e-13)
    assert mg.gradcheck(fn, [t64(x)])
    xf = mg.tensor(x.astype(np.float32))
    assert fn(xf).dtype == np.float32  # Python scalars do not promote float32


def test_pow_gradient_with_respect_to_both_operands():
    a, b = rng(6).uniform(0.5, 2.0, (4,)), rng(7).uniform(-2, 2, (4,))
    ta, tb = t64(a), t64(b)
    (ta**tb).sum().backward()
    np.testing.assert_allclose(ta.grad.numpy(), b * a ** (b - 1), rtol=1e-12)
    np.testing.assert_allclose(tb.grad.numpy(), a**b * np.log(a), rtol=1e-12)


def test_maximum_minimum_ties_split_the_gradient():
    a, b = t64([1.0, 2.0, 3.0]), t64([1.0, 5.0, 0.0])
    mg.maximum(a, b).sum().backward()
    np.testing.assert_allclose(a.grad.numpy(), [0.5, 0.0, 1.0])
    np.testing.assert_allclose(b.grad.numpy(), [0.5, 1.0, 0.0])
    a.zero_grad()
    b.zero_grad()
    mg.minimum(a, b).sum().backward()
    np.testing.assert_allclose(a.grad.numpy(), [0.5, 1.0, 0.0])


@pytest.mark.parametrize("name", sorted(BINARY))
def test_binary_op_float32_vs_float64_reference(name):
    op, ref, _, dom_a, dom_b = BINARY[name]
    g = rng(8)
    check_op(op, ref, [dom_a(g, (3, 1, 4)), dom_b(g, (2, 1))], devices=DEVICES)


# =========================================================================================
# Unary elementwise ops and activations
# =========================================================================================


def _np_sigmoid(x):
    return 1 / (1 + np.exp(-x))


def _np_leaky(x):
    return np.where(x > 0, x, 0.01 * x)


# name: (minigan op, numpy reference, torch reference, input domain)
UNARY = {
    "neg": (mg.neg, np.negative, torch and torch.neg, _normal),
    "exp": (mg.exp, np.exp, torch and torch.exp, _normal),
    "log": (mg.log, np.log, torch and torch.log, _positive),
    "sqrt": (mg.sqrt, np.sqrt, torch and torch.sqrt, _positive),
    "abs": (mg.abs, np.abs, torch and torch.abs, lambda g, s: away_from(g.standard_normal(s))),
    "relu": (
        mg.relu,
        lambda x: np.maximum(x, 0),
        torch and torch.relu,
        lambda g, s: away_from(g.standard_normal(s)),
    ),
    "leaky_relu": (
        mg.leaky_relu,
        _np_leaky,
        torch and torch.nn.functional.leaky_relu,
        lambda g, s: away_from(g.standard_normal(s)),
    ),
    "tanh": (mg.tanh, np.tanh, torch and torch.tanh, _normal),
    "sigmoid": (
        mg.sigmoid,
        _np_sigmoid,
        torch and torch.sigmoid,
        lambda g, s: 3 * g.standard_normal(s),
    ),
    "softplus": (
        mg.softplus,
        lambda x: np.log1p(np.exp(x)),
        torch and torch.nn.functional.softplus,
        lambda g, s: 3 * g.standard_normal(s),
    ),
}


@pytest.mark.parametrize("name", sorted(UNARY))
def test_unary_forward_and_gradcheck(name):
    op, ref, _, dom = UNARY[name]
    x = dom(rng(10), (3, 4))
    out = op(t64(x, False))
    assert out.shape == (3, 4) and out.dtype == np.float64
    np.testing.assert_allclose(out.numpy(), ref(x), rtol=1e-12, atol=1e-14)
    assert mg.gradcheck(op, [t64(x)])
    assert mg.gradcheck(op, [t64(dom(rng(11), ()))])  # 0-d


@needs_torch
@pytest.mark.parametrize("name", sorted(UNARY))
def test_unary_vs_torch(name):
    op, _, tref, dom = UNARY[name]
    torch_check(op, tref, [dom(rng(12), (2, 5))])


@pytest.mark.parametrize("name", sorted(set(UNARY) - {"neg", "abs", "relu", "leaky_relu"}))
def test_unary_float32_vs_float64_reference(name):
    op, ref, _, dom = UNARY[name]
    check_op(op, ref, [dom(rng(13), (4, 5))], devices=DEVICES)


def test_leaky_relu_slope_parameter():
    x = away_from(rng(14).standard_normal((5,)))
    out = mg.leaky_relu(t64(x, False), negative_slope=0.2)
    np.testing.assert_allclose(out.numpy(), np.where(x > 0, x, 0.2 * x))
    assert mg.gradcheck(lambda t: mg.leaky_relu(t, 0.2), [t64(x)])


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_sigmoid_and_softplus_stay_finite_for_huge_inputs(dtype):
    x = mg.tensor(np.array([-1e4, -100.0, 0.0, 100.0, 1e4], dtype=dtype), requires_grad=True)
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # no overflow warnings either
        s = mg.sigmoid(x)
        s.sum().backward()
        sp = mg.softplus(x)
        x2 = mg.tensor(x.numpy(), requires_grad=True)
        mg.softplus(x2).sum().backward()
    assert s.dtype == dtype and sp.dtype == dtype
    np.testing.assert_allclose(s.numpy(), [0.0, np.exp(-100.0), 0.5, 1.0, 1.0], atol=1e-30)
    np.testing.assert_allclose(x.grad.numpy(), [0.0, np.exp(-100.0), 0.25, 0.0, 0.0], atol=1e-30)
    assert np.all(np.isfinite(sp.numpy()))
    np.testing.assert_allclose(
        sp.numpy(), [0.0, np.exp(-100.0), np.log(2), 100.0, 1e4], rtol=1e-6, atol=1e-30
    )
    np.testing.assert_allclose(x2.grad.numpy(), [0.0, 0.0, 0.5, 1.0, 1.0], atol=1e-30)


@pytest.mark.parametrize(
    "lo,hi", [(-0.5, 0.5), (None, 0.3), (-0.3, None)], ids=["both", "max", "min"]
)
def test_clip(lo, hi):
    x = away_from(rng(15).standard_normal((3, 4)), points=[b for b in (lo, hi) if b is not None])
    out = mg.clip(t64(x, False), lo, hi)
    np.testing.assert_allclose(out.numpy(), np.clip(x, lo, hi))
    assert mg.gradcheck(lambda t: t.clip(lo, hi), [t64(x)])
    if torch is not None:
        torch_check(lambda t: mg.clip(t, lo, hi), lambda t: torch.clamp(t, lo, hi), [x])


def test_clip_needs_a_bound():
    with pytest.raises(ValueError, match="clip"):
        mg.clip(t64([1.0]), None, None)


# =========================================================================================
# Reductions
# =========================================================================================


@st.composite
def reduction_case(draw):
    shape = draw(hnp.array_shapes(min_dims=1, max_dims=4, min_side=1, max_side=4))
    nd = len(shape)
    kind = draw(st.sampled_from(["none", "int", "tuple"]))
    if kind == "none":
        axis = None
    elif kind == "int":
        axis = draw(st.integers(-nd, nd - 1))
    else:
        picked = draw(st.lists(st.integers(0, nd - 1), min_size=1, max_size=nd, unique=True))
        axis = tuple(a - nd if draw(st.booleans()) else a for a in picked)  # mix negative axes
    return shape, axis, draw(st.booleans()), draw(st.integers(0, 2**16))


REDUCTIONS = {"sum": (mg.sum, np.sum), "mean": (mg.mean, np.mean), "max": (mg.max, np.max)}


@pytest.mark.parametrize("name", sorted(REDUCTIONS))
@HYPOTHESIS
@given(case=reduction_case())
def test_reduction_axes_keepdims_forward_and_gradcheck(name, case):
    shape, axis, keepdims, seed = case
    op, ref = REDUCTIONS[name]
    x = rng(seed).standard_normal(shape)  # continuous values: no ties in max
    out = op(t64(x, False), axis=axis, keepdims=keepdims)
    expected = ref(x, axis=axis, keepdims=keepdims)
    assert out.shape == np.shape(expected)
    np.testing.assert_allclose(out.numpy(), expected, rtol=1e-12, atol=1e-12)
    assert mg.gradcheck(lambda t: op(t, axis=axis, keepdims=keepdims), [t64(x)])


def test_reduction_methods_and_defaults():
    x = rng(16).standard_normal((2, 3))
    t = t64(x, False)
    assert t.sum().shape == () and t.mean().shape == () and t.max().shape == ()
    np.testing.assert_allclose(t.sum(axis=-1).numpy(), x.sum(axis=-1))
    np.testing.assert_allclose(t.mean(axis=(0, 1), keepdims=True).numpy(), x.mean(keepdims=True))


def test_max_ties_split_the_gradient_evenly():
    x = t64([[1.0, 3.0, 3.0], [2.0, 2.0, 0.0]])
    mg.max(x, axis=1).sum().backward()
    np.testing.assert_allclose(x.grad.numpy(), [[0, 0.5, 0.5], [0.5, 0.5, 0]])
    y = t64([[4.0, 4.0], [4.0, 1.0]])
    y.max().backward()
    np.testing.assert_allclose(y.grad.numpy(), [[1 / 3, 1 / 3], [1 / 3, 0]])
    if torch is not None:  # torch.amax distributes ties evenly too
        torch_check(
            lambda t: mg.max(t, axis=1),
            lambda t: torch.amax(t, dim=1),
            [np.array([[1.0, 3.0, 3.0], [2.0, 2.0, 0.0]])],
        )


@needs_torch
def test_reductions_vs_torch():
    x = rng(17).standard_normal((3, 4, 5))
    torch_check(lambda t: t.sum(axis=(0, 2)), lambda t: t.sum(dim=(0, 2)), [x])
    torch_check(lambda t: t.mean(axis=-1, keepdims=True), lambda t: t.mean(-1, keepdim=True), [x])
    torch_check(lambda t: t.max(axis=1), lambda t: torch.amax(t, dim=1), [x])


def test_reductions_float32_vs_float64_reference():
    x = rng(18).standard_normal((8, 500))

    def sum_grad(x, dy):
        return [np.broadcast_to(dy[:, None], x.shape)]

    check_op(
        lambda t: t.sum(axis=1),
        lambda x: x.sum(axis=1),
        [x],
        ref_grad_fn=sum_grad,
        reduction_len={"out": 500, 0: 1},
        devices=DEVICES,
    )
    y = rng(19).standard_normal((300, 4))
    check_op(
        lambda t: t.mean(axis=0),
        lambda y: y.mean(axis=0),
        [y],
        ref_grad_fn=lambda y, dy: [np.broadcast_to(dy / 300, y.shape)],
        reduction_len=300,
        devices=DEVICES,
    )
    check_op(lambda t: t.max(axis=0), lambda y: y.max(axis=0), [y[:20]], devices=DEVICES)


# =========================================================================================
# Shape ops: reshape/view, transpose/permute, flatten, indexing, concat/stack
# =========================================================================================


def test_reshape_and_view():
    x = rng(20).standard_normal((2, 3, 4))
    t = t64(x, False)
    np.testing.assert_array_equal(t.reshape(6, 4).numpy(), x.reshape(6, 4))
    np.testing.assert_array_equal(t.view(-1).numpy(), x.reshape(-1))
    np.testing.assert_array_equal(mg.reshape(t, (4, -1)).numpy(), x.reshape(4, -1))
    assert mg.gradcheck(
        lambda t: t.reshape(4, 6) * t64(np.arange(24.0).reshape(4, 6), False), [t64(x)]
    )
    assert mg.gradcheck(lambda t: t.view(3, 2, 4).exp(), [t64(x)])


def test_transpose_permute_T():
    x = rng(21).standard_normal((2, 3, 4))
    t = t64(x, False)
    np.testing.assert_array_equal(t.permute(2, 0, 1).numpy(), x.transpose(2, 0, 1))
    np.testing.assert_array_equal(t.permute((1, 2, 0)).numpy(), x.transpose(1, 2, 0))
    np.testing.assert_array_equal(t.transpose(0, 2).numpy(), x.swapaxes(0, 2))
    np.testing.assert_array_equal(t.T.numpy(), x.swapaxes(-1, -2))
    np.testing.assert_array_equal(t.mT.numpy(), x.swapaxes(-1, -2))
    w = t64(rng(22).standard_normal((4, 2, 3)), False)
    assert mg.gradcheck(lambda t: t.permute(2, 0, 1) * w, [t64(x)])
    assert mg.gradcheck(lambda t: t.transpose(0, 1).T.exp(), [t64(x)])


def test_flatten():
    x = rng(23).standard_normal((2, 3, 4, 5))
    t = t64(x, False)
    assert t.flatten().shape == (2, 60)
    assert mg.flatten(t, 0).shape == (120,)
    assert mg.flatten(t, 1, 2).shape == (2, 12, 5)
    assert mg.flatten(t, -2).shape == (2, 3, 20)
    np.testing.assert_array_equal(mg.flatten(t, 1, 2).numpy(), x.reshape(2, 12, 5))
    assert mg.gradcheck(lambda t: mg.flatten(t, 1, 2).tanh(), [t64(x[:, :2, :2, :2])])


SLICES = {
    "step": (slice(1, 5, 2), slice(None, None, -2)),
    "negative int": -1,
    "negative range": (Ellipsis, slice(-3, None)),
    "newaxis": (None, 2, slice(None, None, 3)),
    "inner": (slice(None, None, 2), slice(1, -1)),
    "reverse step": (slice(-1, 0, -2), 3),
}


@pytest.mark.parametrize("name", sorted(SLICES))
def test_basic_slicing(name):
    index = SLICES[name]
    x = rng(24).standard_normal((6, 7))
    out = t64(x, False)[index]
    np.testing.assert_array_equal(out.numpy(), x[index])
    assert mg.gradcheck(lambda t: t[index], [t64(x)])
    if torch is not None and "reverse" not in name and name != "step":  # torch: no neg steps
        torch_check(lambda t: t[index], lambda t: t[index], [x])


def test_integer_array_indexing_with_repeats_scatter_adds():
    x = rng(25).standard_normal((5, 3))
    idx = np.array([0, 2, 2, 4, 0, 0])
    t = t64(x)
    out = t[idx]
    np.testing.assert_array_equal(out.numpy(), x[idx])
    out.sum().backward()
    np.testing.assert_array_equal(t.grad.numpy(), np.array([3, 0, 2, 0, 1])[:, None] * np.ones(3))
    assert mg.gradcheck(lambda t: t[idx], [t64(x)])
    assert mg.gradcheck(lambda t: t[mg.tensor(idx)], [t64(x)])  # an integer Tensor index
    assert mg.gradcheck(lambda t: t[[1, 1, 3], [0, 0, 2]], [t64(x)])  # repeated pairs
    assert mg.gradcheck(lambda t: t[:, [2, 2, 0]], [t64(x)])  # mixed slice + array
    if torch is not None:
        torch_check(lambda t: t[idx], lambda t: t[torch.tensor(idx)], [x])
        torch_check(lambda t: t[:, [2, 2, 0]], lambda t: t[:, [2, 2, 0]], [x])


def test_boolean_mask_indexing():
    x = rng(26).standard_normal((4, 5))
    mask = x > 0.2
    t = t64(x)
    out = t[mask]
    np.testing.assert_array_equal(out.numpy(), x[mask])
    (out * 2.0).sum().backward()
    np.testing.assert_array_equal(t.grad.numpy(), 2.0 * mask)
    assert mg.gradcheck(lambda t: t[mg.tensor(mask)], [t64(x)])
    assert mg.gradcheck(lambda t: t[mask[:, 0]], [t64(x)])  # mask on the first axis
    if torch is not None:
        torch_check(lambda t: t[mask], lambda t: t[torch.tensor(mask)], [x])


@pytest.mark.parametrize("axis", [0, 1, -1])
def test_concat_and_stack(axis):
    g = rng(27)
    shapes = [(2, 3), (2, 3), (2, 3)]
    if axis == 0:
        shapes = [(1, 3), (2, 3), (3, 3)]
    elif axis in (1, -1):
        shapes = [(2, 1), (2, 2), (2, 4)]
    arrays = [g.standard_normal(s) for s in shapes]
    out = mg.concat([t64(a, False) for a in arrays], axis=axis)
    np.testing.assert_array_equal(out.numpy(), np.concatenate(arrays, axis=axis))
    assert mg.gradcheck(lambda *ts: mg.concat(ts, axis=axis).tanh(), [t64(a) for a in arrays])
    same = [g.standard_normal((2, 3)) for _ in range(3)]
    out = mg.stack([t64(a, False) for a in same], axis=axis)
    np.testing.assert_array_equal(out.numpy(), np.stack(same, axis=axis))
    assert mg.gradcheck(lambda *ts: mg.stack(ts, axis=axis).tanh(), [t64(a) for a in same])
    if torch is not None:
        torch_check(
            lambda *ts: mg.concat(ts, axis=axis), lambda *ts: torch.cat(ts, dim=axis), arrays
        )
        torch_check(
            lambda *ts: mg.stack(ts, axis=axis), lambda *ts: torch.stack(ts, dim=axis), same
        )


_IDX = np.array([3, 0, 3, 1])
_MASK = np.array(
    [[True, False, True], [False, False, True], [True, True, False], [False, True, True]]
)
PIECEWISE_AND_SHAPE = {
    "neg": (lambda t: -t, np.negative),
    "abs": (mg.abs, np.abs),
    "relu": (mg.relu, lambda x: np.maximum(x, 0)),
    "leaky_relu": (lambda t: mg.leaky_relu(t, 0.1), lambda x: np.where(x > 0, x, 0.1 * x)),
    "clip": (lambda t: t.clip(-0.5, 0.5), lambda x: np.clip(x, -0.5, 0.5)),
    "reshape": (lambda t: t.reshape(2, 6) * 1.0, lambda x: x.reshape(2, 6)),
    "permute": (lambda t: t.T * 1.0, lambda x: x.T),
    "flatten": (lambda t: mg.flatten(t, 0) * 1.0, lambda x: x.reshape(-1)),
    "slice": (lambda t: t[::-2, 1:], lambda x: x[::-2, 1:]),
    "int index": (lambda t: t[_IDX], lambda x: x[_IDX]),
    "bool index": (lambda t: t[_MASK], lambda x: x[_MASK]),
    "concat": (lambda t: mg.concat([t, t * 2.0], axis=1), lambda x: np.concatenate([x, 2 * x], 1)),
    "stack": (lambda t: mg.stack([t, -t], axis=-1), lambda x: np.stack([x, -x], -1)),
    "sum keepdims": (lambda t: t.sum(axis=-1, keepdims=True), lambda x: x.sum(-1, keepdims=True)),
    "mean all": (lambda t: t.mean(), lambda x: x.mean()),
}


@pytest.mark.parametrize("name", sorted(PIECEWISE_AND_SHAPE))
def test_piecewise_and_shape_ops_float32_vs_float64_reference(name):
    op, ref = PIECEWISE_AND_SHAPE[name]
    x = away_from(rng(34).standard_normal((4, 3)), points=(0.0, -0.5, 0.5), gap=0.05)
    check_op(op, ref, [x], reduction_len=12, devices=DEVICES)


def test_concat_with_an_input_that_needs_no_grad():
    a, b = t64(rng(28).standard_normal((2, 2))), t64(rng(29).standard_normal((3, 2)), False)
    mg.concat([a, b]).sum().backward()
    np.testing.assert_array_equal(a.grad.numpy(), np.ones((2, 2)))
    assert b.grad is None


# =========================================================================================
# matmul
# =========================================================================================

MATMUL_SHAPES = [
    ((4,), (4,)),
    ((4,), (4, 3)),
    ((3, 4), (4,)),
    ((3, 4), (4, 2)),
    ((2, 3, 4), (4, 5)),
    ((2, 1, 3, 4), (5, 4, 2)),
    ((4,), (2, 4, 3)),
    ((2, 3, 4), (4,)),
]


@pytest.mark.parametrize("sa,sb", MATMUL_SHAPES, ids=[f"{a}@{b}" for a, b in MATMUL_SHAPES])
def test_matmul_forward_and_gradcheck(sa, sb):
    g = rng(30)
    a, b = g.standard_normal(sa), g.standard_normal(sb)
    out = t64(a, False) @ t64(b, False)
    expected = a @ b
    assert out.shape == np.shape(expected)
    np.testing.assert_allclose(out.numpy(), expected, rtol=1e-12, atol=1e-12)
    assert mg.gradcheck(mg.matmul, [t64(a), t64(b)])
    if torch is not None:
        torch_check(mg.matmul, torch.matmul, [a, b])


def test_matmul_float32_vs_float64_reference():
    g = rng(31)
    a, b = g.standard_normal((16, 50)), g.standard_normal((50, 8))
    check_op(
        mg.matmul,
        np.matmul,
        [a, b],
        ref_grad_fn=lambda a, b, dy: [dy @ b.T, a.T @ dy],
        reduction_len={"out": 50, 0: 8, 1: 16},
        devices=DEVICES,
    )
    a, b = g.standard_normal((2, 1, 3, 40)), g.standard_normal((5, 40, 2))

    def batched_grads(a, b, dy):
        da = (dy @ b.swapaxes(-1, -2)).sum(axis=1, keepdims=True)
        db = (a.swapaxes(-1, -2) @ dy).sum(axis=0)
        return [da, db]

    check_op(
        mg.matmul,
        np.matmul,
        [a, b],
        ref_grad_fn=batched_grads,
        reduction_len={"out": 40, 0: 10, 1: 6},
        devices=DEVICES,
    )


def test_matmul_rmatmul_with_numpy_operand():
    a = rng(32).standard_normal((2, 3))
    t = t64(rng(33).standard_normal((3, 2)), False)
    np.testing.assert_allclose((a @ t).numpy(), a @ t.numpy())


# =========================================================================================
# Fused ops (Tensor level): linear_act, conv2d, conv_transpose2d, batch_norm, BCE
# =========================================================================================


@pytest.mark.parametrize("device", device_params())
def test_fused_kernels_are_usable_on_every_available_device(device):
    """The fused-op tests below run on FUSED_DEVICES; say so visibly when a device lacks
    its kernel backend (e.g. the CUDA backend is not built) instead of silently
    testing less."""
    reason = kernel_unavailable_reason(device)
    assert device != "cpu" or not reason, f"the cpu kernels (numpy_ref) are unusable: {reason}"
    if reason:
        pytest.skip(f"fused ops not tested on {device}: {reason}")
    assert device in FUSED_DEVICES


ACTS = {
    "none": lambda z: z,
    "relu": lambda z: np.maximum(z, 0),
    "leaky_relu": lambda z: np.where(z > 0, z, 0.01 * z),
    "tanh": np.tanh,
    "sigmoid": _np_sigmoid,
}


def _linear_inputs(seed=40, n=4, k=5, m=3):
    g = rng(seed)
    x, w, b = g.standard_normal((n, k)), g.standard_normal((m, k)), g.standard_normal(m)
    # keep pre-activations away from the relu kink so finite differences are valid
    z = x @ w.T + b
    b = b + np.where(np.abs(z).min(axis=0) < 0.05, 0.1, 0.0)
    return x, w, b


@pytest.mark.parametrize("act", sorted(ACTS))
def test_linear_act_gradcheck_and_float32(act):
    x, w, b = _linear_inputs()
    ref = ACTS[act]
    out = mg.linear_act(t64(x, False), t64(w, False), t64(b, False), act=act)
    np.testing.assert_allclose(out.numpy(), ref(x @ w.T + b), rtol=1e-12, atol=1e-12)
    assert mg.gradcheck(lambda x, w, b: mg.linear_act(x, w, b, act=act), [t64(x), t64(w), t64(b)])
    assert mg.gradcheck(lambda x, w: mg.linear_act(x, w, None, act=act), [t64(x), t64(w)])
    check_op(
        lambda x, w, b: mg.linear_act(x, w, b, act=act),
        lambda x, w, b: ref(x @ w.T + b),
        [x, w, b],
        reduction_len={"out": 5, 0: 3, 1: 4, 2: 4},
        devices=FUSED_DEVICES,
    )


@needs_torch
@pytest.mark.parametrize("act", sorted(ACTS))
def test_linear_act_vs_torch(act):
    x, w, b = _linear_inputs(seed=41)
    F = torch.nn.functional
    tact = {
        "none": lambda z: z,
        "relu": F.relu,
        "leaky_relu": F.leaky_relu,
        "tanh": torch.tanh,
        "sigmoid": torch.sigmoid,
    }[act]
    torch_check(
        lambda x, w, b: mg.linear_act(x, w, b, act=act),
        lambda x, w, b: tact(F.linear(x, w, b)),
        [x, w, b],
    )


def conv2d_naive(x, w, b=None, stride=(1, 1), padding=(0, 0)):
    """Direct definition: y[n,o,i,j] = b[o] + sum_{c,a,e} w[o,c,a,e] xpad[n,c,i*sh+a,j*sw+e]."""
    (sh, sw), (ph, pw) = stride, padding
    n, _, h, wd = x.shape
    o, _, kh, kw = w.shape
    xp = np.pad(x, ((0, 0), (0, 0), (ph, ph), (pw, pw)))
    ho, wo = (h + 2 * ph - kh) // sh + 1, (wd + 2 * pw - kw) // sw + 1
    y = np.zeros((n, o, ho, wo))
    for i in range(ho):
        for j in range(wo):
            patch = xp[:, :, i * sh : i * sh + kh, j * sw : j * sw + kw]
            y[:, :, i, j] = np.einsum("ncab,ocab->no", patch, w)
    return y if b is None else y + b.reshape(1, -1, 1, 1)


def conv_transpose2d_naive(x, w, b=None, stride=(1, 1), padding=(0, 0), output_padding=(0, 0)):
    """Direct definition: every input pixel scatters x[n,ci,i,j]·w[ci,:,:,:] into the output
    at (i·s, j·s), then `padding` rows/columns are cut from each side."""
    (sh, sw), (ph, pw), (oph, opw) = stride, padding, output_padding
    n, _, h, wd = x.shape
    _, co, kh, kw = w.shape
    full = np.zeros((n, co, (h - 1) * sh + kh + oph, (wd - 1) * sw + kw + opw))
    for i in range(h):
        for j in range(wd):
            full[:, :, i * sh : i * sh + kh, j * sw : j * sw + kw] += np.einsum(
                "nc,coab->noab", x[:, :, i, j], w
            )
    ho, wo = full.shape[2] - 2 * ph, full.shape[3] - 2 * pw
    y = full[:, :, ph : ph + ho, pw : pw + wo]
    return y if b is None else y + b.reshape(1, -1, 1, 1)


CONV_CASES = [
    # x shape, w shape, stride, padding
    ((2, 3, 5, 5), (4, 3, 3, 3), 1, 0),
    ((1, 2, 6, 5), (3, 2, 3, 2), 2, 1),
    ((2, 1, 4, 4), (2, 1, 1, 1), 1, 0),
    ((1, 3, 7, 6), (2, 3, 4, 4), (2, 1), (1, 2)),
]


def _pair(v):
    return (v, v) if isinstance(v, int) else tuple(v)


@pytest.mark.parametrize("xs,ws,stride,padding", CONV_CASES)
def test_conv2d(xs, ws, stride, padding):
    g = rng(50)
    x, w, b = g.standard_normal(xs), g.standard_normal(ws), g.standard_normal(ws[0])
    s, p = _pair(stride), _pair(padding)
    out = mg.conv2d(t64(x, False), t64(w, False), t64(b, False), stride=stride, padding=padding)
    np.testing.assert_allclose(out.numpy(), conv2d_naive(x, w, b, s, p), rtol=1e-12, atol=1e-12)

    def fn(x, w, b=None):
        return mg.conv2d(x, w, b, stride=stride, padding=padding)

    assert mg.gradcheck(fn, [t64(x), t64(w), t64(b)])
    assert mg.gradcheck(fn, [t64(x), t64(w)])
    n, ho, wo = out.shape[0], out.shape[2], out.shape[3]
    k_out = ws[1] * ws[2] * ws[3]
    check_op(
        fn,
        lambda x, w, b: conv2d_naive(x, w, b, s, p),
        [x, w, b],
        reduction_len={"out": k_out, 0: ws[0] * ws[2] * ws[3], 1: n * ho * wo, 2: n * ho * wo},
        devices=FUSED_DEVICES,
    )
    if torch is not None:
        torch_check(fn, lambda x, w, b: torch.nn.functional.conv2d(x, w, b, s, p), [x, w, b])


CONVT_CASES = [
    # x shape, w shape (Cin, Cout, kh, kw), stride, padding, output_padding
    ((2, 3, 3, 3), (3, 2, 3, 3), 1, 0, 0),
    ((1, 2, 3, 4), (2, 3, 4, 4), 2, 1, 0),
    ((2, 2, 3, 3), (2, 1, 3, 3), 2, 1, 1),
    ((1, 1, 2, 3), (1, 2, 3, 2), (3, 2), (1, 0), (2, 1)),
]


@pytest.mark.parametrize("xs,ws,stride,padding,output_padding", CONVT_CASES)
def test_conv_transpose2d(xs, ws, stride, padding, output_padding):
    g = rng(51)
    x, w, b = g.standard_normal(xs), g.standard_normal(ws), g.standard_normal(ws[1])
    s, p, op = _pair(stride), _pair(padding), _pair(output_padding)

    def fn(x, w, b=None):
        return mg.conv_transpose2d(
            x, w, b, stride=stride, padding=padding, output_padding=output_padding
        )

    out = fn(t64(x, False), t64(w, False), t64(b, False))
    expected = conv_transpose2d_naive(x, w, b, s, p, op)
    assert out.shape == expected.shape
    assert out.shape[2] == (xs[2] - 1) * s[0] - 2 * p[0] + ws[2] + op[0]
    np.testing.assert_allclose(out.numpy(), expected, rtol=1e-12, atol=1e-12)
    assert mg.gradcheck(fn, [t64(x), t64(w), t64(b)])
    assert mg.gradcheck(fn, [t64(x), t64(w)])
    n, ho, wo = out.shape[0], out.shape[2], out.shape[3]
    check_op(
        fn,
        lambda x, w, b: conv_transpose2d_naive(x, w, b, s, p, op),
        [x, w, b],
        reduction_len={
            "out": ws[0] * ws[2] * ws[3],
            0: ws[1] * ws[2] * ws[3],
            1: n * xs[2] * xs[3],
            2: n * ho * wo,
        },
        devices=FUSED_DEVICES,
    )
    if torch is not None:
        F = torch.nn.functional
        torch_check(fn, lambda x, w, b: F.conv_transpose2d(x, w, b, s, p, op), [x, w, b])


def test_conv_transpose2d_is_the_adjoint_of_conv2d():
    # <conv2d(u, w), v> == <u, conv_transpose2d(v, w)>
    g = rng(52)
    u, w, v = g.standard_normal((2, 3, 7, 7)), g.standard_normal((4, 3, 3, 3)), None
    y = mg.conv2d(t64(u, False), t64(w, False), stride=2, padding=1)
    v = g.standard_normal(y.shape)
    back = mg.conv_transpose2d(t64(v, False), t64(w, False), stride=2, padding=1, output_padding=0)
    assert back.shape == u.shape
    np.testing.assert_allclose(np.sum(y.numpy() * v), np.sum(u * back.numpy()), rtol=1e-12)


def batch_norm_naive(x, gamma, beta, mean=None, var=None, eps=1e-5):
    axes = (0,) + tuple(range(2, x.ndim))
    shape = (1, -1) + (1,) * (x.ndim - 2)
    if mean is None:
        mean, var = x.mean(axis=axes), x.var(axis=axes)
    y = (x - mean.reshape(shape)) / np.sqrt(var.reshape(shape) + eps)
    if gamma is not None:
        y = y * gamma.reshape(shape) + beta.reshape(shape)
    return y


@pytest.mark.parametrize("xs", [(6, 3), (3, 2, 3, 2)], ids=["NC", "NCHW"])
def test_batch_norm_training(xs):
    g = rng(60)
    x = 2 * g.standard_normal(xs) + 0.5
    c = xs[1]
    gamma, beta = g.uniform(0.5, 1.5, c), g.standard_normal(c)

    def fn(x, gamma=None, beta=None):
        return mg.batch_norm(x, gamma, beta, None, None, training=True)

    out = fn(t64(x, False), t64(gamma, False), t64(beta, False))
    np.testing.assert_allclose(
        out.numpy(), batch_norm_naive(x, gamma, beta), rtol=1e-10, atol=1e-12
    )
    assert mg.gradcheck(fn, [t64(x), t64(gamma), t64(beta)])
    assert mg.gradcheck(fn, [t64(x)])
    n = x.size // c
    # dx = γ·invstd/n·(n·dy − Σdy − x̂·Σ dy·x̂): three O(n) terms cancel, hence c=32.
    check_op(fn, batch_norm_naive, [x, gamma, beta], reduction_len=n, c=32, devices=FUSED_DEVICES)


def test_batch_norm_running_statistics_and_eval():
    g = rng(61)
    x = 2 * g.standard_normal((8, 3, 2, 2)) + 1.0
    gamma, beta = g.uniform(0.5, 1.5, 3), g.standard_normal(3)
    rm, rv = mg.tensor(np.zeros(3)), mg.tensor(np.ones(3))
    mg.batch_norm(t64(x, False), t64(gamma, False), t64(beta, False), rm, rv, True, 0.1, 1e-5)
    n = x.size // 3
    mean, var = x.mean(axis=(0, 2, 3)), x.var(axis=(0, 2, 3))
    np.testing.assert_allclose(rm.numpy(), 0.1 * mean, rtol=1e-12)
    np.testing.assert_allclose(rv.numpy(), 0.9 + 0.1 * var * n / (n - 1), rtol=1e-12)
    # eval uses the running statistics; its gradient is the plain affine map
    rmn, rvn = rm.numpy().copy(), rv.numpy().copy()

    def fn(x, gamma, beta):
        return mg.batch_norm(x, gamma, beta, rm, rv, training=False)

    out = fn(t64(x, False), t64(gamma, False), t64(beta, False))
    np.testing.assert_allclose(out.numpy(), batch_norm_naive(x, gamma, beta, rmn, rvn), rtol=1e-12)
    assert mg.gradcheck(fn, [t64(x), t64(gamma), t64(beta)])
    check_op(
        fn,
        lambda x, gm, bt: batch_norm_naive(x, gm, bt, rmn, rvn),
        [x, gamma, beta],
        reduction_len={"out": 1, 0: 1, 1: x.size // 3, 2: x.size // 3},
        devices=("cpu",),
    )
    np.testing.assert_array_equal(rm.numpy(), rmn)  # eval leaves the statistics alone
    if torch is not None:
        trm, trv = torch.zeros(3, dtype=torch.float64), torch.ones(3, dtype=torch.float64)
        torch.nn.functional.batch_norm(
            torch.tensor(x), trm, trv, torch.tensor(gamma), torch.tensor(beta), True, 0.1, 1e-5
        )
        np.testing.assert_allclose(rmn, trm.numpy(), rtol=1e-12)
        np.testing.assert_allclose(rvn, trv.numpy(), rtol=1e-12)


@needs_torch
@pytest.mark.parametrize("training", [True, False], ids=["train", "eval"])
def test_batch_norm_vs_torch(training):
    g = rng(62)
    x = g.standard_normal((4, 3, 3, 2))
    gamma, beta = g.uniform(0.5, 1.5, 3), g.standard_normal(3)
    rm, rv = g.standard_normal(3), g.uniform(0.5, 2, 3)

    def mine(x, gm, bt):
        return mg.batch_norm(x, gm, bt, mg.tensor(rm.copy()), mg.tensor(rv.copy()), training)

    def theirs(x, gm, bt):
        return torch.nn.functional.batch_norm(
            x, torch.tensor(rm.copy()), torch.tensor(rv.copy()), gm, bt, training, 0.1, 1e-5
        )

    torch_check(mine, theirs, [x, gamma, beta])


def bce_naive(x, t, reduction="mean"):
    """-(t·log σ(x) + (1-t)·log(1-σ(x))) straight from the definition (moderate x only)."""
    s = _np_sigmoid(x)
    loss = -(t * np.log(s) + (1 - t) * np.log(1 - s))
    return loss.mean() if reduction == "mean" else loss.sum()


@pytest.mark.parametrize("reduction", ["mean", "sum"])
def test_binary_cross_entropy_with_logits(reduction):
    g = rng(70)
    x, t = 3 * g.standard_normal((4, 5)), g.uniform(0, 1, (4, 5))  # soft targets
    out = mg.binary_cross_entropy_with_logits(t64(x, False), t, reduction=reduction)
    assert out.shape == () and out.dtype == np.float64
    np.testing.assert_allclose(out.item(), bce_naive(x, t, reduction), rtol=1e-12)

    def fn(x):
        return mg.binary_cross_entropy_with_logits(x, mg.tensor(t), reduction=reduction)

    assert mg.gradcheck(fn, [t64(x)])
    check_op(
        lambda x, tt: mg.binary_cross_entropy_with_logits(x, tt, reduction=reduction),
        lambda x, tt: bce_naive(x, tt, reduction),
        [x, t],
        grad_inputs={0},
        reduction_len={"out": x.size, 0: 1},
        devices=FUSED_DEVICES,
    )
    if torch is not None:
        F = torch.nn.functional
        torch_check(
            lambda x, tt: mg.binary_cross_entropy_with_logits(x, tt, reduction),
            lambda x, tt: F.binary_cross_entropy_with_logits(x, tt, reduction=reduction),
            [x, t],
            grad_idx=[0],
        )


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_bce_extreme_logits_stay_finite(dtype):
    x = mg.tensor(np.array([-1e4, 1e4, -1e4, 1e4], dtype=dtype), requires_grad=True)
    t = np.array([0.0, 1.0, 1.0, 0.0])
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        loss = mg.binary_cross_entropy_with_logits(x, t, reduction="sum")
        loss.backward()
    assert loss.dtype == dtype
    np.testing.assert_allclose(loss.item(), 2e4, rtol=1e-6)
    np.testing.assert_allclose(x.grad.numpy(), [0.0, 0.0, -1.0, 1.0], atol=1e-30)


# =========================================================================================
# Bad inputs: errors name the op (and the shapes)
# =========================================================================================


@pytest.mark.parametrize("name", sorted(BINARY))
def test_binary_shape_mismatch_names_both_shapes(name):
    op = BINARY[name][0]
    with pytest.raises(ValueError) as info:
        op(t64(np.ones((2, 3))), t64(np.ones(4)))
    msg = str(info.value)
    assert name in msg and "(2, 3)" in msg and "(4,)" in msg


def _ones(*shape):
    return t64(np.ones(shape))


BAD_INPUTS = {
    "matmul inner": (lambda: _ones(2, 3) @ _ones(4, 2), ValueError, r"matmul.*\(2, 3\).*\(4, 2\)"),
    "matmul batch": (lambda: _ones(2, 3, 4) @ _ones(5, 4, 2), ValueError, "matmul"),
    "matmul 0-d": (lambda: mg.matmul(t64(1.0), _ones(2)), ValueError, "matmul"),
    "reshape": (lambda: _ones(2, 3).reshape(4, 2), ValueError, r"reshape.*\(2, 3\).*\(4, 2\)"),
    "sum axis": (lambda: _ones(2, 3).sum(axis=2), ValueError, "sum: axis 2"),
    "mean axis": (lambda: _ones(2, 3).mean(axis=-3), ValueError, "mean: axis -3"),
    "max axis": (lambda: _ones(2, 3).max(axis=(0, 5)), ValueError, "max: axis 5"),
    "permute": (lambda: _ones(2, 3).permute(0, 0), ValueError, "permute"),
    "transpose": (lambda: _ones(2, 3).transpose(0, 5), ValueError, "transpose"),
    "flatten": (lambda: mg.flatten(_ones(2, 3), 1, 0), ValueError, "flatten"),
    "concat": (lambda: mg.concat([_ones(2, 3), _ones(2, 4)]), ValueError, "concat"),
    "stack": (lambda: mg.stack([_ones(2, 3), _ones(3)]), ValueError, "stack"),
    # (exp of an int tensor is no longer an error: it computes in float32, issue 12)
    "add complex": (lambda: _ones(2) + 1j, TypeError, "add: complex"),
    "float index": (lambda: _ones(3)[mg.tensor(np.array([0.5]))], IndexError, "getitem"),
    "conv2d channels": (
        lambda: mg.conv2d(_ones(1, 3, 5, 5), _ones(2, 4, 3, 3)),
        ValueError,
        r"conv2d.*\(1, 3, 5, 5\).*\(2, 4, 3, 3\)",
    ),
    "conv2d bias": (
        lambda: mg.conv2d(_ones(1, 3, 5, 5), _ones(2, 3, 3, 3), _ones(3)),
        ValueError,
        "conv2d: b",
    ),
    "conv2d dtypes": (
        lambda: mg.conv2d(mg.ones(1, 3, 5, 5), _ones(2, 3, 3, 3)),
        TypeError,
        "conv2d",
    ),
    "conv_transpose2d channels": (
        lambda: mg.conv_transpose2d(_ones(1, 3, 5, 5), _ones(2, 4, 3, 3)),
        ValueError,
        "conv_transpose2d",
    ),
    "linear_act shapes": (
        lambda: mg.linear_act(_ones(2, 3), _ones(4, 5)),
        ValueError,
        "linear_act",
    ),
    "linear_act act": (
        lambda: mg.linear_act(_ones(2, 3), _ones(4, 3), act="gelu"),
        ValueError,
        "linear_act: unknown activation",
    ),
    "bce targets": (
        lambda: mg.binary_cross_entropy_with_logits(_ones(2, 3), np.ones(3)),
        ValueError,
        r"binary_cross_entropy_with_logits.*\(3,\).*\(2, 3\)",
    ),
    "bce reduction": (
        lambda: mg.binary_cross_entropy_with_logits(_ones(3), np.ones(3), "max"),
        ValueError,
        "binary_cross_entropy_with_logits: reduction",
    ),
    "batch_norm gamma": (
        lambda: mg.batch_norm(_ones(4, 3), _ones(2), _ones(2), None, None, True),
        ValueError,
        "batch_norm: gamma",
    ),
    "batch_norm eval": (
        lambda: mg.batch_norm(_ones(4, 3), None, None, None, None, False),
        ValueError,
        "batch_norm: eval mode",
    ),
}


@pytest.mark.parametrize("name", sorted(BAD_INPUTS))
def test_bad_inputs_raise_errors_naming_the_op(name):
    call, exc, pattern = BAD_INPUTS[name]
    with pytest.raises(exc, match=pattern):
        call()


# =========================================================================================
# The helpers themselves: check_op must catch the bugs it exists for
# =========================================================================================


def test_tolerance_policy_numbers():
    assert tolerance(np.float64) == TOL64
    assert tolerance(np.float32) == 16 * EPS32
    assert tolerance(np.float32, 100) == pytest.approx(160 * EPS32)
    assert tolerance(np.float32, 100, c=4) == pytest.approx(40 * EPS32)


class _HalfGrad(Function):
    @staticmethod
    def forward(ctx: Context, a):
        return a * 2

    @staticmethod
    def backward(ctx: Context, g):
        return g  # should be 2g


class _Upcasts(Function):
    @staticmethod
    def forward(ctx: Context, a):
        return a * 2

    @staticmethod
    def backward(ctx: Context, g):
        return g * np.float64(2.0) * np.ones(g.shape)  # float64 leaks into a float32 graph


class _InPlace(Function):
    @staticmethod
    def forward(ctx: Context, a):
        a *= 2  # modifies its input
        return a.copy()

    @staticmethod
    def backward(ctx: Context, g):
        return 2 * g


def test_check_op_catches_a_wrong_gradient():
    x = rng(80).standard_normal((3, 2))
    with pytest.raises(AssertionError, match="grad of input 0"):
        check_op(_HalfGrad.apply, lambda a: 2 * a, [x])


def test_check_op_catches_dtype_leaks_and_in_place_writes():
    x = rng(81).standard_normal((3, 2))
    with pytest.raises(AssertionError, match="dtype changed inside the graph.*_Upcasts"):
        check_op(_Upcasts.apply, lambda a: 2 * a, [x], dtypes=np.float32)
    with pytest.raises(AssertionError, match="modified input 0 in place"):
        check_op(_InPlace.apply, lambda a: 2 * a, [x], dtypes=np.float64)


def test_check_op_catches_a_float32_error_beyond_the_bound():
    x = rng(82).standard_normal((50,))

    def sloppy(t):  # rounds the result to ~12 bits: far outside 16·2^-24
        return mg.tensor(np.round(t.numpy() * 4096) / 4096, requires_grad=False) + t * 0.0

    with pytest.raises(AssertionError, match="output"):
        check_op(sloppy, lambda a: a, [x], dtypes=np.float32, grad_inputs=set())


def test_fd_ref_matches_analytic_gradients():
    x, w = rng(83).standard_normal((3, 4)), rng(84).standard_normal((4, 2))
    dy = rng(85).standard_normal((3, 2))
    gx, gw = fd_ref(np.matmul)(x, w, dy)
    np.testing.assert_allclose(gx, dy @ w.T, rtol=1e-8, atol=1e-9)
    np.testing.assert_allclose(gw, x.T @ dy, rtol=1e-8, atol=1e-9)


def test_check_op_with_numpy_ref_kernels_as_the_reference():
    """The pattern kernel tests use (docs/testing.md): numpy_ref in float64 as reference."""
    from minigan.backend import numpy_ref as nr

    x, w, b = _linear_inputs(seed=86, n=6, k=7, m=5)

    def ref(x, w, b):
        return nr.linear_act_forward(x, w, b, "tanh")

    def ref_grad(x, w, b, dy):
        return list(nr.linear_act_backward(dy, x, w, ref(x, w, b), "tanh"))

    check_op(
        lambda x, w, b: mg.linear_act(x, w, b, act="tanh"),
        ref,
        [x, w, b],
        ref_grad_fn=ref_grad,
        reduction_len={"out": 7, 0: 5, 1: 6, 2: 6},
        devices=FUSED_DEVICES,
    )
