# tests/test_tensor_rules.py: the rules of docs/tensor-rules.md (dims, dtype promotion,
# gradients at non-differentiable points, conversions, what is an error) and one regression
# test per silently-wrong edge case of issue 12's "Why" list, with PyTorch as the oracle
# where it is installed.
from __future__ import annotations

import ast
import pathlib
import sys
import warnings

import numpy as np
import pytest

import minigan as mg
from minigan import nn, optim
from minigan.nn import functional as F
from minigan.ops._util import DimError, result_dtype


def t64(x, grad=True):
    return mg.tensor(np.asarray(x, dtype=np.float64), requires_grad=grad)


def rng(seed):
    return np.random.default_rng(seed)


@pytest.fixture
def torch():
    return pytest.importorskip("torch")


def torch_grad(torch, fn, *arrays, upstream=None):
    """Forward value and the gradient of each input of fn in PyTorch (float64)."""
    ts = [torch.tensor(np.asarray(a, dtype=np.float64), requires_grad=True) for a in arrays]
    out = fn(*ts)
    g = torch.ones_like(out) if upstream is None else torch.tensor(upstream)
    out.backward(g)
    return out.detach().numpy(), [None if t.grad is None else t.grad.numpy() for t in ts]


def mg_grad(fn, *arrays, upstream=None):
    ts = [t64(a) for a in arrays]
    out = fn(*ts)
    out.backward(np.ones(out.shape) if upstream is None else upstream)
    return out.numpy(), [None if t.grad is None else t.grad.numpy() for t in ts]


# =========================================================================================
# Issue 12, "Why": each of these failed (a wrong number or a swallowed error) before
# =========================================================================================
OUT_OF_RANGE = {
    "stack": lambda: mg.stack([mg.ones(2, 3), mg.ones(2, 3)], dim=3),
    "stack negative": lambda: mg.stack([mg.ones(2, 3), mg.ones(2, 3)], dim=-4),
    "concat": lambda: mg.concat([mg.ones(2, 3), mg.ones(2, 3)], dim=2),
    "concat axis": lambda: mg.concat([mg.ones(2, 3), mg.ones(2, 3)], axis=-3),
    "permute": lambda: mg.ones(2, 3).permute(0, 2),
    "flatten start": lambda: mg.flatten(mg.ones(2, 3, 4), 3),
    "flatten end": lambda: mg.flatten(mg.ones(2, 3, 4), 0, -4),
    "transpose": lambda: mg.ones(2, 3).transpose(0, 2),
    "sum": lambda: mg.ones(2, 3).sum(dim=2),
    "mean": lambda: mg.ones(2, 3).mean(-3),
    "max dim": lambda: mg.ones(2, 3).max(dim=2),
    "max axis": lambda: mg.ones(2, 3).max(axis=(0, 2)),
    "sum of 0-d": lambda: mg.tensor(1.0).sum(dim=1),
}


@pytest.mark.parametrize("name", sorted(OUT_OF_RANGE))
def test_out_of_range_dim_raises_index_error_naming_the_op(name):
    with pytest.raises(IndexError, match=r"out of range.*expected to be in range of \[") as info:
        OUT_OF_RANGE[name]()
    op = name.split()[0]
    assert str(info.value).startswith(f"{op}: ")
    assert isinstance(info.value, ValueError)  # DimError: old `except ValueError` still works


def test_out_of_range_message_matches_pytorch(torch):
    with pytest.raises(IndexError) as ours:
        mg.ones(2, 3).sum(dim=2)
    with pytest.raises(IndexError) as theirs:
        torch.ones(2, 3).sum(dim=2)
    expected = "expected to be in range of [-2, 1], but got 2"
    assert expected in str(ours.value) and expected in str(theirs.value)


def test_bce_with_logits_differentiates_a_target_that_requires_grad(torch):
    x, t = rng(1).standard_normal((3, 4)), rng(2).uniform(size=(3, 4))
    for reduction in ("mean", "sum", "none"):

        def ours(a, b, reduction=reduction):
            return F.binary_cross_entropy_with_logits(a, b, reduction=reduction)

        def theirs(a, b, reduction=reduction):
            return torch.nn.functional.binary_cross_entropy_with_logits(a, b, reduction=reduction)

        out, (gx, gt) = mg_grad(ours, x, t)
        tout, (tgx, tgt) = torch_grad(torch, theirs, x, t)
        np.testing.assert_allclose(out, tout, rtol=1e-12)
        np.testing.assert_allclose(gx, tgx, rtol=1e-10, atol=1e-14)
        np.testing.assert_allclose(gt, tgt, rtol=1e-10, atol=1e-14)
    # the op itself, and its math: dL/dt = -x/N for the mean
    xt, tt = t64(x), t64(t)
    mg.binary_cross_entropy_with_logits(xt, tt).backward()
    np.testing.assert_allclose(tt.grad.numpy(), -x / x.size, rtol=1e-12)


def test_bce_with_logits_gradcheck_in_both_inputs():
    x, t = rng(3).standard_normal((2, 3)), rng(4).uniform(size=(2, 3))
    assert mg.gradcheck(lambda a, b: mg.binary_cross_entropy_with_logits(a, b), [t64(x), t64(t)])
    assert mg.gradcheck(
        lambda a, b: F.binary_cross_entropy_with_logits(a, b, reduction="sum"), [t64(x), t64(t)]
    )


@pytest.mark.parametrize("dim", [0, -1, (0,), (-1,)])
@pytest.mark.parametrize("op", ["sum", "mean", "max"])
def test_reductions_of_a_0d_tensor_accept_dim_0_and_minus_1(torch, op, dim):
    if op == "max" and isinstance(dim, tuple):
        pytest.skip("max takes one int dim (use axis= for tuples)")
    x = t64(2.5)
    out = getattr(x, op)(dim)
    tout = getattr(torch.tensor(2.5, dtype=torch.float64), op)(dim)
    if op == "max":
        out, tout = out.values, tout.values
    assert out.shape == tuple(tout.shape) == ()
    assert out.item() == tout.item() == 2.5
    out.backward()
    assert x.grad.item() == 1.0
    kept = getattr(t64(2.5, False), op)(dim, keepdim=True)
    assert (kept.values if op == "max" else kept).shape == ()


def test_bool_of_a_tensor_follows_pytorch(torch):
    assert bool(mg.tensor(0.0)) is False and bool(mg.tensor(3)) is True  # 0-d works
    assert bool(mg.tensor([0.0])) is False and bool(mg.tensor([[2.0]])) is True
    for data in ([1.0, 2.0], [0.0, 0.0]):  # non-empty but ambiguous: an error, not True
        with pytest.raises(RuntimeError, match="more than one value is ambiguous"):
            bool(mg.tensor(data))
        with pytest.raises(RuntimeError, match="more than one value is ambiguous"):
            bool(torch.tensor(data))
    with pytest.raises(RuntimeError, match="ambiguous"):
        bool(mg.zeros(0))
    with pytest.raises(RuntimeError):
        if mg.tensor([1.0, 2.0]) > 0:  # the everyday mistake is caught
            pass


def test_equality_is_elementwise_and_hash_stays_identity():
    a, b = mg.tensor([1.0, 2.0, 3.0]), mg.tensor([1.0, 5.0, 3.0])
    eq = a == b
    assert isinstance(eq, mg.Tensor) and eq.dtype == np.bool_
    assert eq.tolist() == [True, False, True]
    assert (a != b).tolist() == [False, True, False]
    assert (a < b).tolist() == [False, True, False] and (a <= b).tolist() == [True, True, True]
    assert (b > a).tolist() == [False, True, False] and (b >= a).tolist() == [True, True, True]
    assert (a == 2.0).tolist() == [False, True, False]
    assert (2.0 == a).tolist() == [False, True, False]  # reflected through __eq__
    # identity-based hashing: tensors work as dict keys and set members
    same = mg.tensor([1.0, 2.0, 3.0])
    d = {a: "a", b: "b", same: "same"}
    assert d[a] == "a" and d[same] == "same" and len({a, b, same, a}) == 3
    assert hash(a) == object.__hash__(a)


def test_pow_gradients_at_zero_and_negative_bases_match_pytorch(torch):
    bases = [0.0, -0.0, 2.0, -2.0, 0.0, -2.0, 3.0, 0.0, -1.5, 0.0]
    exps = [0.0, 0.0, 0.0, 3.0, 1.0, 2.0, 0.5, 2.0, -1.0, 2.5]
    out, (ga, gb) = mg_grad(lambda a, b: a**b, bases, exps)
    tout, (tga, tgb) = torch_grad(torch, lambda a, b: a**b, bases, exps)
    np.testing.assert_array_equal(out, tout)
    np.testing.assert_allclose(ga, tga, rtol=1e-12)  # nan and inf must agree too
    np.testing.assert_allclose(gb, tgb, rtol=1e-12)


def test_pow_gradients_follow_the_math():
    x = t64([0.0, 0.0, 0.0, -2.0, -2.0])
    (x ** mg.tensor([0.0, 1.0, 2.0, 3.0, 2.0], dtype="float64")).sum().backward()
    # d/dx x^0 = 0 (not 0·0^-1 = nan); x^1 -> 1; x^2 at 0 -> 0; 3·(-2)² = 12; 2·(-2) = -4
    assert x.grad.tolist() == [0.0, 1.0, 0.0, 12.0, -4.0]
    p = t64([0.0, 1.0, 2.0])
    (mg.tensor([0.0, 0.0, 0.0], dtype="float64") ** p).sum().backward()
    assert p.grad.tolist() == [0.0, 0.0, 0.0]  # d/dp 0^p masked where p >= 0
    y = t64([-2.0, 0.0, 1.5])
    (y**3).sum().backward()  # a Python int exponent
    assert y.grad.tolist() == [12.0, 0.0, 3 * 1.5**2]


def test_integer_tensors_with_floats_give_float32_not_float64():
    i = mg.tensor([1, 2, 3])
    assert i.dtype == np.int64
    assert (i + 2.5).dtype == np.float32 and (i + 2.5).tolist() == [3.5, 4.5, 5.5]
    assert (2.5 * i).dtype == np.float32
    assert (i * mg.ones(3)).dtype == np.float32
    assert (i / 2).dtype == np.float32 and (i / 2).tolist() == [0.5, 1.0, 1.5]
    assert (i / i).dtype == np.float32  # true division
    assert (i + i).dtype == np.int64 and (i * 2).dtype == np.int64
    assert (mg.ones(3) * 2.0).dtype == np.float32
    assert (mg.ones(3, dtype="float64") * 2.0).dtype == np.float64


@pytest.mark.parametrize("name", ["exp", "log", "sqrt", "sigmoid", "tanh", "mean"])
def test_float_only_ops_promote_integer_tensors_to_float32(torch, name):
    x = mg.tensor([1, 2, 3])
    out = getattr(mg, name)(x)
    assert out.dtype == np.float32
    if name == "mean":  # PyTorch refuses an integer mean: the documented difference
        assert out.item() == 2.0
        return
    expected = getattr(torch, name)(torch.tensor([1, 2, 3]))
    assert expected.dtype == torch.float32
    np.testing.assert_allclose(out.numpy(), expected.numpy(), rtol=1e-6)


def test_binary_cross_entropy_rejects_probabilities_outside_0_1(torch):
    t = mg.tensor([1.0, 0.0])
    for bad in ([1.5, 0.5], [-0.1, 0.5], [float("nan"), 0.5]):
        with pytest.raises(ValueError, match=r"binary_cross_entropy: every element of input"):
            F.binary_cross_entropy(mg.tensor(bad), t)
        with pytest.raises(RuntimeError, match="between 0 and 1"):
            torch.nn.functional.binary_cross_entropy(torch.tensor(bad), torch.tensor([1.0, 0.0]))
    F.binary_cross_entropy(mg.tensor([0.0, 1.0]), t)  # the ends are fine


def test_binary_cross_entropy_differentiates_its_target(torch):
    p, t = rng(5).uniform(0.05, 0.95, (2, 3)), rng(6).uniform(size=(2, 3))
    out, (gp, gt) = mg_grad(lambda a, b: F.binary_cross_entropy(a, b), p, t)
    tout, (tgp, tgt) = torch_grad(torch, torch.nn.functional.binary_cross_entropy, p, t)
    np.testing.assert_allclose(out, tout, rtol=1e-12)
    np.testing.assert_allclose(gp, tgp, rtol=1e-10)
    np.testing.assert_allclose(gt, tgt, rtol=1e-10)
    np.testing.assert_allclose(gt, (np.log(1 - p) - np.log(p)) / p.size, rtol=1e-10)


COMPLEX_INPUTS = {
    "Tensor": lambda: mg.tensor([1 + 2j]),
    "Tensor with dtype": lambda: mg.Tensor(np.array([1 + 2j]), dtype=np.float32),
    "add": lambda: mg.ones(2) + 1j,
    "mul": lambda: mg.ones(2) * np.array([1j, 2j]),
    "binary_cross_entropy_with_logits": lambda: mg.binary_cross_entropy_with_logits(
        mg.ones(2), np.array([1j, 0j])
    ),
    "binary_cross_entropy": lambda: F.binary_cross_entropy(
        mg.tensor([0.5, 0.5]), np.array([1 + 0j, 0j])
    ),
}


@pytest.mark.parametrize("name", sorted(COMPLEX_INPUTS))
def test_complex_input_is_rejected_not_silently_truncated(name):
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # NumPy's ComplexWarning would mean a silent cast
        with pytest.raises(TypeError, match="complex") as info:
            COMPLEX_INPUTS[name]()
    op = name.split()[0]
    if op != "Tensor" and op != "binary_cross_entropy":
        assert str(info.value).startswith(f"{op}: ")


def _tiny_model_and_opts():
    mg.manual_seed(0)
    model = nn.Linear(3, 2)
    return model, [optim.SGD(model.parameters(), lr=0.1), optim.Adam(model.parameters())]


def test_optimizer_step_without_gradients_warns_once_and_changes_nothing():
    model, opts = _tiny_model_and_opts()
    before = [p.numpy().copy() for p in model.parameters()]
    for opt in opts:
        with pytest.warns(UserWarning, match=r"step\(\): no parameter has a gradient"):
            opt.step()
        with warnings.catch_warnings():
            warnings.simplefilter("error")
            opt.step()  # once per optimizer: the second time is silent
    for p, b in zip(model.parameters(), before, strict=True):
        np.testing.assert_array_equal(p.numpy(), b)
    assert opts[1].state[0] == {}  # Adam did not count a step


def test_optimizer_skips_parameters_without_gradient_silently():
    model, opts = _tiny_model_and_opts()
    w0, b0 = model.weight.numpy().copy(), model.bias.numpy().copy()
    (model.weight * 1.0).sum().backward()  # the bias gets no gradient
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        opts[0].step()
    assert not np.array_equal(model.weight.numpy(), w0)
    np.testing.assert_array_equal(model.bias.numpy(), b0)


# =========================================================================================
# The rule for dims: dim/keepdim (PyTorch) and axis/keepdims (NumPy aliases)
# =========================================================================================
REDUCTION_CASES = [
    ((3, 4), None, False),
    ((3, 4), 0, False),
    ((3, 4), -1, True),
    ((2, 3, 4), (0, 2), False),
    ((2, 3, 4), (-1, -3), True),
    ((2, 0, 3), 1, False),
    ((2, 0, 3), -1, True),
    ((), None, False),
    ((), 0, True),
]


@pytest.mark.parametrize("shape,dim,keepdim", REDUCTION_CASES, ids=str)
@pytest.mark.parametrize("op", ["sum", "mean"])
def test_sum_mean_dim_keepdim_match_pytorch(torch, op, shape, dim, keepdim):
    x = rng(7).standard_normal(shape)
    reduced = np.sum(x, axis=None if x.ndim == 0 else dim, keepdims=keepdim)
    g = rng(8).standard_normal(np.shape(reduced))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)  # the mean of nothing is nan
        out, (gx,) = mg_grad(lambda a: getattr(a, op)(dim, keepdim), x, upstream=g)
    kwargs = {} if dim is None else {"dim": dim, "keepdim": keepdim}
    tout, (tgx,) = torch_grad(torch, lambda a: getattr(a, op)(**kwargs), x, upstream=g)
    if dim is None and keepdim:
        tout = tout.reshape((1,) * len(shape))
    assert out.shape == tout.shape
    np.testing.assert_allclose(out, tout, rtol=1e-12, atol=1e-12)
    np.testing.assert_allclose(gx, tgx, rtol=1e-12, atol=1e-12)


def test_numpy_aliases_work_and_conflicts_are_errors():
    x = t64(rng(9).standard_normal((2, 3)), False)
    np.testing.assert_allclose(x.sum(axis=1, keepdims=True).numpy(), x.sum(1, True).numpy())
    np.testing.assert_allclose(mg.mean(x, axis=-1).numpy(), mg.mean(x, dim=-1).numpy())
    with pytest.raises(TypeError, match="sum: give dim or its alias axis, not both"):
        x.sum(dim=0, axis=0)
    with pytest.raises(TypeError, match="keepdim or its alias keepdims"):
        x.mean(0, keepdim=True, keepdims=True)
    with pytest.raises(ValueError, match="sum: dim .* names the same dim more than once"):
        x.sum(dim=(0, -2))
    with pytest.raises(TypeError, match="sum: dim must"):
        x.sum(dim=1.0)


@pytest.mark.parametrize("dim", [0, 1, -1, -2])
@pytest.mark.parametrize("keepdim", [False, True])
def test_max_with_dim_returns_values_and_indices_like_pytorch(torch, dim, keepdim):
    # ties in every row: the gradient goes to the first maximum only (PyTorch's max.dim)
    x = np.array([[1.0, 3.0, 3.0], [5.0, 5.0, -1.0], [0.0, 0.0, 0.0]])
    xt = t64(x)
    values, indices = xt.max(dim, keepdim)
    tx = torch.tensor(x, requires_grad=True)
    tvalues, tindices = tx.max(dim, keepdim)
    np.testing.assert_array_equal(values.numpy(), tvalues.detach().numpy())
    np.testing.assert_array_equal(indices.numpy(), tindices.numpy())
    assert indices.dtype == np.int64 and not indices.requires_grad
    g = rng(10).standard_normal(values.shape)
    values.backward(g)
    tvalues.backward(torch.tensor(g))
    np.testing.assert_array_equal(xt.grad.numpy(), tx.grad.numpy())
    out = mg.max(t64(x, False), dim=dim, keepdim=keepdim)
    assert out.values.shape == values.shape  # the named fields too


def test_max_forms_and_gradcheck(torch):
    x = rng(11).standard_normal((3, 4))
    assert mg.gradcheck(lambda t: t.max(1).values, [t64(x)])
    assert mg.gradcheck(lambda t: t.max(axis=(0, 1), keepdims=True), [t64(x)])
    a, b = t64([1.0, 5.0, 2.0], False), t64([3.0, 1.0, 2.0], False)
    assert mg.max(a, b).tolist() == [3.0, 5.0, 2.0]  # torch.max(a, b) = maximum
    with pytest.raises(TypeError, match="max: dim must be an int"):
        t64(x).max(dim=(0, 1))
    with pytest.raises(ValueError, match="max: cannot reduce an empty tensor"):
        mg.zeros(0).max()


@pytest.mark.parametrize(
    "call,torch_call",
    [
        (lambda m, ts: m.stack(ts, dim=-1), lambda t, ts: t.stack(ts, dim=-1)),
        (lambda m, ts: m.stack(ts, -3), lambda t, ts: t.stack(ts, -3)),
        (lambda m, ts: m.stack(ts, axis=2), lambda t, ts: t.stack(ts, 2)),
        (lambda m, ts: m.concat(ts, dim=-1), lambda t, ts: t.cat(ts, dim=-1)),
        (lambda m, ts: m.concat(ts, -2), lambda t, ts: t.cat(ts, -2)),
    ],
)
def test_stack_and_concat_negative_dims_match_pytorch(torch, call, torch_call):
    arrays = [rng(i).standard_normal((2, 3)) for i in (12, 13)]
    out = call(mg, [t64(a, False) for a in arrays])
    expected = torch_call(torch, [torch.tensor(a) for a in arrays])
    np.testing.assert_array_equal(out.numpy(), expected.numpy())


def test_permute_transpose_flatten_negative_dims_match_pytorch(torch):
    x = rng(14).standard_normal((2, 3, 4))
    tx = torch.tensor(x)
    np.testing.assert_array_equal(
        t64(x, False).permute(-1, 0, -2).numpy(), tx.permute(-1, 0, -2).numpy()
    )
    np.testing.assert_array_equal(
        t64(x, False).transpose(-1, 0).numpy(), tx.transpose(-1, 0).numpy()
    )
    np.testing.assert_array_equal(mg.flatten(t64(x, False), -2).numpy(), tx.flatten(-2).numpy())
    assert (
        mg.flatten(t64(1.0, False), 0, -1).shape == (1,) == tuple(torch.tensor(1.0).flatten().shape)
    )
    with pytest.raises(ValueError, match="permute: .* is not a permutation"):
        t64(x).permute(0, 1, -3)


# =========================================================================================
# The rule for dtypes: PyTorch's promotion, checked against torch.result_type
# =========================================================================================
DTYPES = ["bool", "int32", "int64", "float32", "float64"]
SCALARS = [True, 3, 2.5]


@pytest.mark.parametrize("a_dtype", DTYPES)
@pytest.mark.parametrize("b_dtype", DTYPES)
@pytest.mark.parametrize("b_ndim", [0, 1])
def test_promotion_of_two_tensors_matches_pytorch(torch, a_dtype, b_dtype, b_ndim):
    a = mg.tensor(np.ones(2, dtype=a_dtype))
    b = mg.tensor(np.ones((2,) * b_ndim, dtype=b_dtype))
    ta = torch.ones(2, dtype=getattr(torch, a_dtype))
    tb = torch.ones((2,) * b_ndim, dtype=getattr(torch, b_dtype))
    expected = str(torch.result_type(ta, tb)).replace("torch.", "")
    assert result_dtype("add", a, b) == np.dtype(expected)
    assert result_dtype("add", b, a) == np.dtype(expected)
    if expected != "bool":
        assert (a + b).dtype == np.dtype(expected) and (b * a).dtype == np.dtype(expected)


@pytest.mark.parametrize("a_dtype", DTYPES)
@pytest.mark.parametrize("scalar", SCALARS, ids=repr)
@pytest.mark.parametrize("ndim", [0, 1])
def test_python_scalars_are_weak_like_pytorch(torch, a_dtype, scalar, ndim):
    a = mg.tensor(np.ones((2,) * ndim, dtype=a_dtype))
    ta = torch.ones((2,) * ndim, dtype=getattr(torch, a_dtype))
    expected = str(torch.result_type(ta, scalar)).replace("torch.", "")
    assert result_dtype("mul", a, scalar) == np.dtype(expected)
    if expected != "bool":
        assert (a * scalar).dtype == np.dtype(expected)
        assert (scalar - a).dtype == np.dtype(expected)


def test_mixed_precision_gradient_comes_back_in_each_inputs_dtype():
    a = mg.tensor([1.0, 2.0], dtype="float32", requires_grad=True)
    b = mg.tensor([3.0, 4.0], dtype="float64", requires_grad=True)
    out = a * b
    assert out.dtype == np.float64
    out.sum().backward()
    assert a.grad.dtype == np.float32 and a.grad.tolist() == [3.0, 4.0]
    assert b.grad.dtype == np.float64 and b.grad.tolist() == [1.0, 2.0]


# =========================================================================================
# Gradients at non-differentiable points (PyTorch's conventions)
# =========================================================================================
KINKS = {
    "relu": (lambda m: m.relu(), lambda t: t.relu(), [0.0, -1.0, 2.0]),
    "abs": (lambda m: m.abs(), lambda t: t.abs(), [0.0, -0.0, -1.0, 2.0]),
    "sqrt": (lambda m: m.sqrt(), lambda t: t.sqrt(), [0.0, 4.0]),
    "clip": (lambda m: m.clip(-1.0, 1.0), lambda t: t.clamp(-1.0, 1.0), [-1.0, 1.0, 0.5, 2.0]),
    "max ties": (lambda m: m.max(), lambda t: t.max(), [1.0, 3.0, 3.0, 3.0]),
    "max axis ties": (
        lambda m: m.reshape(2, 2).max(axis=1),
        lambda t: t.reshape(2, 2).amax(dim=1),
        [3.0, 3.0, 1.0, 2.0],
    ),
    "leaky_relu": (lambda m: m.leaky_relu(0.1), "leaky_relu", [0.0, -1.0, 1.0]),
}


@pytest.mark.parametrize("name", sorted(KINKS))
def test_gradients_at_kinks_match_pytorch(torch, name):
    ours, theirs, values = KINKS[name]
    if theirs == "leaky_relu":

        def theirs(t):
            return torch.nn.functional.leaky_relu(t, 0.1)

    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)  # sqrt'(0) = 1/0
        out, (g,) = mg_grad(ours, values)
    tout, (tg,) = torch_grad(torch, theirs, values)
    np.testing.assert_array_equal(out, tout)
    np.testing.assert_array_equal(g, tg)


def test_maximum_minimum_ties_split_the_gradient_like_pytorch(torch):
    a, b = [1.0, 2.0, 3.0], [1.0, 5.0, 0.0]
    for name in ("maximum", "minimum"):
        _, grads = mg_grad(getattr(mg, name), a, b)
        _, tgrads = torch_grad(torch, getattr(torch, name), a, b)
        for g, tg in zip(grads, tgrads, strict=True):
            np.testing.assert_array_equal(g, tg)
        assert grads[0][0] == grads[1][0] == 0.5


def test_sqrt_gradient_at_zero_is_inf():
    x = t64([0.0])
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)
        x.sqrt().sum().backward()
    assert x.grad.tolist() == [float("inf")]


# =========================================================================================
# Conversions and the Python protocol
# =========================================================================================
def test_float_int_index_and_numpy_conversions(torch):
    assert float(mg.tensor([2.5])) == 2.5 and int(mg.tensor([[-2.7]])) == -2
    assert int(mg.tensor(7)) == 7 and [10, 20, 30][mg.tensor(2)] == 30
    with pytest.raises(ValueError, match="only one-element tensors"):
        float(mg.tensor([1.0, 2.0]))
    with pytest.raises(TypeError, match="only integer tensors"):
        [1, 2][mg.tensor(1.0)]
    x = t64(rng(15).standard_normal((2, 3)))  # requires grad: np.asarray still works
    arr = np.asarray(x)
    assert isinstance(arr, np.ndarray) and arr.dtype == np.float64
    np.testing.assert_array_equal(arr, x.numpy())
    assert np.asarray(x, dtype=np.float32).dtype == np.float32
    assert np.allclose(x, x.numpy())  # NumPy functions accept tensors


def test_iteration_goes_over_the_first_dim():
    x = mg.tensor([[1.0, 2.0], [3.0, 4.0]])
    rows = list(x)
    assert len(rows) == 2 and rows[1].tolist() == [3.0, 4.0]
    with pytest.raises(TypeError, match="0-d"):
        list(mg.tensor(1.0))


def test_tensor_to_is_differentiable_and_needs_no_ops_import_in_tensor_py():
    x = mg.tensor([1.0, 2.0], requires_grad=True)
    y = x.to(dtype="float64")
    assert y.dtype == np.float64 and y.grad_fn == "ToDevice" and x.to() is x
    (y * 3.0).sum().backward()
    assert x.grad.dtype == np.float32 and x.grad.tolist() == [3.0, 3.0]


# =========================================================================================
# Tensor's methods are written out in tensor.py and call ops that exist
# =========================================================================================
def _ops_called_by_tensor_methods() -> dict[str, set[str]]:
    """{method name: the ops.<name> it calls}, parsed from minigan/tensor.py."""
    tensor_module = sys.modules["minigan.tensor"]  # (mg.tensor is the factory function)
    tree = ast.parse(pathlib.Path(tensor_module.__file__).read_text(encoding="utf-8"))
    cls = next(n for n in tree.body if isinstance(n, ast.ClassDef) and n.name == "Tensor")
    out: dict[str, set[str]] = {}
    for fn in cls.body:
        if isinstance(fn, ast.FunctionDef):
            calls = {
                n.attr
                for n in ast.walk(fn)
                if isinstance(n, ast.Attribute)
                and isinstance(n.value, ast.Name)
                and n.value.id == "_ops"
            }
            if calls:
                out[fn.name] = calls
    return out


def test_methods_are_defined_in_the_class_not_installed():
    import minigan.ops as ops_module

    assert not hasattr(ops_module, "_install_tensor_methods")
    methods = _ops_called_by_tensor_methods()
    for name in ("__add__", "__eq__", "__getitem__", "__setitem__", "sum", "max", "exp", "T"):
        assert name in methods, name
        assert name in mg.Tensor.__dict__  # a real attribute of the class body


def test_every_op_a_method_calls_exists_in_minigan_ops():
    missing = sorted(
        f"Tensor.{method} -> ops.{op}"
        for method, ops in _ops_called_by_tensor_methods().items()
        for op in ops
        if not hasattr(mg.ops, op)
    )
    assert not missing, "methods calling ops that do not exist yet: " + ", ".join(missing)


def test_dim_error_is_an_index_error_and_a_value_error():
    assert issubclass(DimError, IndexError) and issubclass(DimError, ValueError)


# =========================================================================================
# Review findings H1, M7, M8 (2026-11-30)
# =========================================================================================
def _sgd(params, torch_mod=None):
    return (torch_mod.optim if torch_mod else optim).SGD(params, lr=1.0, momentum=0.5)


def _adam(params, torch_mod=None):
    return (torch_mod.optim if torch_mod else optim).Adam(params, lr=0.1)


@pytest.mark.parametrize("make_opt", [_sgd, _adam], ids=["SGD", "Adam"])
def test_an_optimizer_step_invalidates_graphs_built_before_it(torch, make_opt):
    """Review H1: step() wrote p.data in place without bumping p's version, so a backward
    through a graph built before the step used the new weights (x.grad = [-9, -8] for
    SGD). Now every updated parameter's version is bumped (Adam: after the one fused
    multi-tensor kernel call) and that backward raises, as PyTorch's does."""
    ps = [nn.Parameter(mg.tensor([1.0, 2.0])), nn.Parameter(mg.tensor([[0.5], [-1.0]]))]
    idle = nn.Parameter(mg.tensor([3.0]))  # no gradient: skipped, version unchanged
    x = mg.tensor([3.0, 4.0], requires_grad=True)
    opt = make_opt([*ps, idle])
    out = (x * ps[0]).sum()
    ((ps[0] * 10).sum() + (ps[1] * ps[1]).sum()).backward()
    opt.step()
    assert [p._version for p in ps] == [1, 1] and idle._version == 0
    with pytest.raises(RuntimeError, match=r"backward through Mul: its input 1 .*optimizer"):
        out.backward()
    pt = torch.nn.Parameter(torch.tensor([1.0, 2.0]))
    xt = torch.tensor([3.0, 4.0], requires_grad=True)
    topt = make_opt([pt], torch)
    outt = (xt * pt).sum()
    (pt * 10).sum().backward()
    topt.step()
    with pytest.raises(RuntimeError, match="modified by an inplace operation"):
        outt.backward()
    # a graph built after the step is fine and uses the new weights
    x.grad = None
    (x * ps[0]).sum().backward()
    np.testing.assert_array_equal(x.grad.numpy(), ps[0].numpy())


def test_a_graph_that_saved_a_detached_parameter_sees_the_step(torch):
    """The step writes p's buffer, shared with p.detach(): the detached tensor's
    consumers raise too (the counter is the buffer's, as in PyTorch)."""
    p = nn.Parameter(mg.tensor([1.0, 2.0]))
    x = mg.tensor([3.0, 4.0], requires_grad=True)
    out = (x * p.detach()).sum()
    (p * p).sum().backward()
    optim.SGD([p], lr=0.1).step()
    with pytest.raises(RuntimeError, match="in-place"):
        out.backward()
    pt = torch.nn.Parameter(torch.tensor([1.0, 2.0]))
    xt = torch.tensor([3.0, 4.0], requires_grad=True)
    outt = (xt * pt.detach()).sum()
    (pt * pt).sum().backward()
    torch.optim.SGD([pt], lr=0.1).step()
    with pytest.raises(RuntimeError, match="modified by an inplace operation"):
        outt.backward()


def test_eq_and_ne_with_non_numeric_operands_as_pytorch(torch):
    """Review M7: t == None and t == "a" raised TypeError; PyTorch returns False (True
    for !=), so `t in [None]` and `x == None` checks work. Hashing stays by identity."""
    t, tt = mg.tensor([1, 2]), torch.tensor([1, 2])
    for other in (None, "a", object(), [1, 2], {"k": 1}):
        assert (t == other) is (tt == other) is False, other
        assert (t != other) is (tt != other) is True, other
        assert (other == t) is False and (other != t) is True
    assert (t in [None, "a"]) is (tt in [None, "a"]) is False
    assert t in [None, t] and {t: 1}[t] == 1
    assert hash(t) == object.__hash__(t) and len({t, mg.tensor([1, 2])}) == 2
    # numbers, arrays and tensors still compare elementwise
    assert (t == 2).tolist() == (tt == 2).tolist() == [False, True]
    assert (t == np.array([1, 0])).tolist() == [True, False]
    assert (t != mg.tensor([1, 0])).tolist() == [False, True]
    assert (t == np.int64(1)).tolist() == [True, False]


def test_python_bools_make_bool_tensors_as_pytorch(torch):
    """Review M8: Tensor([True, False]) and mg.tensor([True]) were float32; PyTorch's
    torch.tensor makes bool tensors of Python bools (and int64 of bools mixed with ints)."""
    for data in (True, [True, False], [[True], [False]], (False,), [True, 2], [True, 1.5], []):
        for make in (mg.tensor, mg.Tensor):
            got = make(data)
            ref = torch.tensor(data)
            assert str(got.dtype) == str(ref.dtype).replace("torch.", ""), (data, got.dtype)
            assert got.tolist() == ref.tolist()
    assert mg.tensor([True, False]).dtype == np.bool_
    assert mg.where(mg.tensor([True, False]), 1.0, 2.0).tolist() == [1.0, 2.0]


@pytest.mark.parametrize("write", ["init", "load_state_dict", "ema"])
def test_other_in_place_writes_invalidate_graphs_built_before_them(write):
    """nn.init, load_state_dict and the EMA update write parameters in place: a backward
    through a graph that used the old values raises (PyTorch raises for the first two;
    the EMA's shadow model is minigan's), instead of using the new values silently."""
    from minigan.models.ema import EMA

    lin = nn.Linear(3, 2)
    x = mg.randn(4, 3, requires_grad=True)
    if write == "ema":
        ema = EMA(lin, decay=0.5)
        out = ema.module(x).sum()
        ema.update()
    else:
        out = lin(x).sum()
        if write == "init":
            nn.init.zeros_(lin.weight)
        else:
            lin.load_state_dict(nn.Linear(3, 2).state_dict())
    with pytest.raises(RuntimeError, match="in-place"):
        out.backward()
