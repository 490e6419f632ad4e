# tests/test_review_fixes.py: regression tests for the review findings M2, M3, M5, M6, L1,
# L2, L3, L6 and L7 (op correctness and tidy-ups). Each compares with an independent
# computation: PyTorch on the CPU (the `torch` fixture skips without it) or NumPy float64.
from __future__ import annotations

import math

import numpy as np
import pytest

import minigan as mg
from minigan import Tensor, nn, ops
from minigan.nn import functional as F
from minigan.ops import _util


@pytest.fixture
def torch():
    return pytest.importorskip("torch")


def t64(values, requires_grad=True) -> Tensor:
    return Tensor(np.asarray(values, dtype=np.float64), requires_grad=requires_grad)


def tt64(torch, values):
    return torch.tensor(np.asarray(values, dtype=np.float64), requires_grad=True)


def assert_same(mine: Tensor, theirs) -> None:
    """Values (NaN-aware), shape and dtype name of a minigan tensor and a torch tensor."""
    want = theirs.detach().numpy()
    got = mine.numpy()
    assert got.shape == want.shape
    np.testing.assert_allclose(got, want, rtol=1e-12, atol=0, equal_nan=True)


# ----- M2: dim=() / [] means every dim (PyTorch); axis=() keeps NumPy's "none" -----------
@pytest.mark.parametrize("name", ["sum", "mean", "var", "std"])
@pytest.mark.parametrize("empty", [(), []])
def test_empty_dim_reduces_every_dim(torch, name, empty):
    x = np.arange(6.0).reshape(2, 3)
    got = getattr(ops, name)(t64(x, False), empty)
    want = getattr(torch, name)(torch.tensor(x), empty)
    assert got.shape == tuple(want.shape) == ()
    np.testing.assert_allclose(got.numpy(), want.numpy(), rtol=1e-12)


def test_empty_dim_gradient_and_axis_alias(torch):
    x = np.arange(6.0).reshape(2, 3)
    a, at = t64(x), tt64(torch, x)
    ops.mean(a, dim=()).backward()
    torch.mean(at, ()).backward()
    assert_same(a.grad, at.grad)
    # NumPy's axis=() reduces nothing, as np.sum(x, axis=())
    assert ops.sum(t64(x, False), axis=()).shape == np.sum(x, axis=()).shape == (2, 3)


# ----- M3: cat/stack promote with PyTorch's rule -----------------------------------------
def test_cat_and_stack_promote_as_pytorch(torch):
    got = ops.cat([Tensor([1, 2]), Tensor([1.5])])
    want = torch.cat([torch.tensor([1, 2]), torch.tensor([1.5])])
    assert str(got.dtype) == str(want.dtype).removeprefix("torch.") == "float32"
    np.testing.assert_array_equal(got.numpy(), want.numpy())
    b = Tensor(np.array([True]))
    i32 = Tensor(np.array([3], dtype=np.int32))
    assert ops.cat([b, i32]).dtype == np.int32  # torch.cat: int32
    st = ops.stack([Tensor(np.int64(1)), Tensor(np.float64(1.5))])
    assert st.dtype == np.float64  # torch.stack of 0-d int64 and float64: float64


def test_cat_promotion_keeps_gradient_in_own_dtype():
    x = Tensor(np.array([1.0, 2.0], np.float32), requires_grad=True)
    y = ops.cat([x, Tensor(np.array([3.0]))])  # float32 + float64 -> float64
    assert y.dtype == np.float64
    (y * Tensor(np.array([1.0, 2.0, 3.0]))).sum().backward()
    assert x.grad.dtype == np.float32
    np.testing.assert_array_equal(x.grad.numpy(), [1.0, 2.0])


# ----- M5: binary_cross_entropy's gradient near 0 and 1 ----------------------------------
@pytest.mark.parametrize("reduction", ["none", "mean", "sum"])
def test_bce_gradient_matches_pytorch_at_the_ends(torch, reduction):
    p = np.array([0.0, 1e-14, 1.0, 0.5, 1.0 - 1e-9, 1e-3])
    t = np.array([1.0, 1.0, 0.0, 0.3, 0.0, 0.0])
    w = np.array([1.0, 2.0, 0.5, 1.0, 3.0, 1.0])
    a, at = t64(p), tt64(torch, p)
    loss = F.binary_cross_entropy(a, t64(t, False), weight=Tensor(w), reduction=reduction)
    tloss = torch.nn.functional.binary_cross_entropy(
        at, torch.tensor(t), weight=torch.tensor(w), reduction=reduction
    )
    assert_same(loss, tloss)
    g = np.linspace(1.0, 2.0, p.size) if reduction == "none" else np.array(1.0)
    loss.backward(Tensor(g))
    tloss.backward(torch.tensor(g))
    np.testing.assert_allclose(a.grad.numpy(), at.grad.numpy(), rtol=1e-9)
    assert np.all(a.grad.numpy()[[0, 2]] != 0)  # p exactly 0 or 1: large, not zero


def test_bce_target_gradient_is_the_clamped_forwards():
    # NumPy float64: dl/dt = max(log(1-p), -100) - max(log p, -100) (the documented
    # difference: PyTorch's -logit(p) is ±inf at p = 0 and 1); away from the clamp it equals
    # PyTorch's -logit(p)
    p = np.array([0.0, 1e-14, 1.0, 0.25])
    t = t64([1.0, 1.0, 0.0, 0.3])
    F.binary_cross_entropy(t64(p, False), t, reduction="sum").backward()
    with np.errstate(divide="ignore"):
        want = np.maximum(np.log1p(-p), -100) - np.maximum(np.log(p), -100)
    np.testing.assert_allclose(t.grad.numpy(), want, rtol=1e-12)
    assert t.grad.numpy()[3] == pytest.approx(-math.log(0.25 / 0.75))


# ----- M6: clear errors instead of raw AttributeError / NumPy messages ---------------------
@pytest.mark.parametrize(
    "call, op",
    [
        (lambda: ops.exp([1.0, 2.0]), "exp"),
        (lambda: ops.neg([1.0]), "neg"),
        (lambda: ops.abs([1.0]), "abs"),
        (lambda: ops.tanh([1.0]), "tanh"),
        (lambda: ops.softplus([1.0]), "softplus"),
        (lambda: ops.unsqueeze([1.0], 0), "unsqueeze"),
        (lambda: ops.cat([Tensor([1.0]), [2.0]]), "concat"),
        (lambda: F.dropout([1.0, 2.0]), "dropout"),
    ],
)
def test_non_tensor_input_names_the_op(call, op):
    with pytest.raises(TypeError, match=rf"^{op}: .*must be a Tensor, got list"):
        call()


def test_binary_op_needs_a_tensor_and_lists_still_work():
    with pytest.raises(TypeError, match="add: expected at least one Tensor operand, got int"):
        ops.add(2, 3)
    out = ops.add(Tensor([1.0, 2.0]), [10.0, 20.0])  # a list operand keeps working
    np.testing.assert_array_equal(out.numpy(), [11.0, 22.0])
    out = ops.mul(np.array([2.0, 3.0]), Tensor([1.0, 2.0]))
    np.testing.assert_array_equal(out.numpy(), [2.0, 6.0])


def test_integer_negative_power(torch):
    with pytest.raises(ValueError, match="pow: integers to negative integer powers"):
        Tensor([2]) ** -1
    with pytest.raises(RuntimeError, match="Integers to negative integer powers"):
        torch.tensor([2]) ** -1
    base, expo = [2, 1, -1, 0, -1, 3], [-1, -2, -3, -1, -2, 2]
    got = Tensor(np.array(base)) ** Tensor(np.array(expo))  # an exponent tensor: no error
    want = torch.tensor(base) ** torch.tensor(expo)
    np.testing.assert_array_equal(got.numpy(), want.numpy())
    np.testing.assert_array_equal((2 ** Tensor(np.array([-1, 3]))).numpy(), [0, 8])


def test_bool_negation_and_subtraction(torch):
    b = Tensor(np.array([True, False]))
    with pytest.raises(TypeError, match="neg: negation .* bool tensor"):
        ops.neg(b)
    with pytest.raises(TypeError, match="neg: negation .* bool tensor"):
        _ = -b
    with pytest.raises(TypeError, match="sub: subtraction of bool operands"):
        _ = b - b
    with pytest.raises(TypeError, match="sub: subtraction of bool operands"):
        True - b
    for f in (lambda x: -x, lambda x: x - x):
        with pytest.raises(RuntimeError):
            f(torch.tensor([True, False]))
    assert (b - 1).dtype == np.int64  # bool - int is integer arithmetic, as PyTorch


def test_small_integer_overflow_follows_pytorch(torch):
    for values, dtype, scalar, tdtype in [
        ([1, 100], np.int8, 300, torch.int8),
        ([1, 0], np.uint8, -1, torch.uint8),
    ]:
        x, tx = Tensor(np.array(values, dtype)), torch.tensor(values, dtype=tdtype)
        for op in (lambda a, s: a + s, lambda a, s: a * s, lambda a, s: a - s):
            np.testing.assert_array_equal(op(x, scalar).numpy(), op(tx, scalar).numpy())
    x, tx = Tensor(np.array([44, 1], np.int8)), torch.tensor([44, 1], dtype=torch.int8)
    np.testing.assert_array_equal((x == 300).numpy(), (tx == 300).numpy())
    np.testing.assert_array_equal((x < 300).numpy(), (tx < 300).numpy())
    with pytest.raises(OverflowError, match="where: value 300 cannot be converted to int8"):
        ops.where(Tensor(np.array([True, False])), x, 300)
    with pytest.raises(OverflowError, match="clamp: value 300 cannot be converted to int8"):
        ops.clamp(x, max=300)


def test_dropout_of_an_integer_tensor():
    x = Tensor(np.array([1, 2, 3]))
    with pytest.raises(TypeError, match="dropout: expected a floating tensor, got dtype int64"):
        F.dropout(x, 0.5)
    assert F.dropout(x, 0.5, training=False) is x  # PyTorch returns it too


# ----- L1: NaN / inf gradients as PyTorch ------------------------------------------------
@pytest.mark.parametrize(
    "values", [[1.0, np.nan, 2.0], [np.nan, np.nan, 2.0], [3.0, 3.0, 1.0], [-np.inf, 0.0]]
)
@pytest.mark.parametrize("name", ["max", "min"])
def test_full_max_min_gradient_with_nan(torch, values, name):
    a, at = t64(values), tt64(torch, values)
    y, yt = getattr(a, name)(), getattr(at, name)()
    assert_same(y, yt)
    y.backward()
    yt.backward()
    assert_same(a.grad, at.grad)


def test_amax_and_max_dim_with_nan(torch):
    x = [[1.0, np.nan, 3.0, np.nan], [1.0, 2.0, 3.0, 0.0]]
    for f in (lambda t: t.amax(1), lambda t: t.max(1)[0], lambda t: t.amax()):
        a, at = t64(x), tt64(torch, x)
        y, yt = f(a), f(at)
        assert_same(y, yt)
        y.sum().backward()
        yt.sum().backward()
        assert_same(a.grad, at.grad)
    assert ops.max(t64(x, False), 1).indices.tolist() == torch.tensor(x).max(1).indices.tolist()


@pytest.mark.parametrize("name", ["maximum", "minimum"])
def test_maximum_minimum_gradient_with_nan(torch, name):
    x, y = [np.nan, 1.0, 1.0, 2.0, np.nan], [1.0, np.nan, 1.0, 1.0, np.nan]
    a, b, at, bt = t64(x), t64(y), tt64(torch, x), tt64(torch, y)
    z, zt = getattr(ops, name)(a, b), getattr(torch, name)(at, bt)
    assert_same(z, zt)
    z.sum().backward()
    zt.sum().backward()
    assert_same(a.grad, at.grad)
    assert_same(b.grad, bt.grad)


def test_abs_gradient_at_nan(torch):
    x = [np.nan, 0.0, -1.0, 2.0]
    a, at = t64(x), tt64(torch, x)
    ops.abs(a).sum().backward()
    at.abs().sum().backward()
    assert_same(a.grad, at.grad)


@pytest.mark.parametrize("name", ["softmax", "log_softmax"])
@pytest.mark.parametrize(
    "row",
    [[np.inf, 0.0, 1.0], [np.inf, np.inf, 0.0], [-np.inf, -np.inf, -np.inf], [np.nan, 0.0, 1.0]],
)
def test_softmax_non_finite_rows(torch, name, row):
    x = [row, [1.0, 2.0, -np.inf]]
    a, at = t64(x), tt64(torch, x)
    y, yt = getattr(ops, name)(a, 1), getattr(torch, name)(at, 1)
    assert_same(y, yt)
    g = np.array([[1.0, 2.0, 3.0], [0.5, -1.0, 2.0]])
    y.backward(Tensor(g))
    yt.backward(torch.tensor(g))
    assert_same(a.grad, at.grad)


def test_logsumexp_keeps_its_inf_rule(torch):
    x = [[np.inf, 0.0], [-np.inf, -np.inf]]
    a, at = t64(x), tt64(torch, x)
    y, yt = ops.logsumexp(a, 1), torch.logsumexp(at, 1)
    assert_same(y, yt)


# ----- L2: one rule for empty reductions --------------------------------------------------
@pytest.mark.parametrize("name", ["max", "min", "amax", "amin", "argmax", "argmin"])
def test_empty_reductions_follow_pytorch(torch, name):
    x, tx = mg.zeros(0, 3), torch.zeros(0, 3)
    got, want = getattr(x, name)(1), getattr(tx, name)(1)
    got = got[0] if isinstance(got, tuple) else got
    want = want[0] if isinstance(want, tuple) else want
    assert got.shape == tuple(want.shape) == (0,)
    for call in (lambda t: getattr(t, name)(0), lambda t: getattr(t, name)()):
        with pytest.raises((IndexError, RuntimeError)):
            call(tx)
        with pytest.raises(IndexError, match=rf"^{name}: "):
            call(x)


def test_max_dim_over_empty_other_dim_has_empty_indices():
    values, indices = ops.max(mg.zeros(0, 3), 1, keepdim=True)
    assert values.shape == indices.shape == (0, 1)
    assert indices.dtype == np.int64


# ----- L3: insert-a-dim messages name the input's own ndim --------------------------------
@pytest.mark.parametrize(
    "call",
    [lambda x: ops.unsqueeze(x, 3), lambda x: ops.stack([x, x], -4)],
)
def test_inserting_dim_message_names_the_inputs_ndim(torch, call):
    x = mg.zeros(2, 2)
    with pytest.raises(IndexError, match=r"for inserting a dim into a 2-d tensor") as info:
        call(x)
    assert "expected to be in range of [-3, 2]" in str(info.value)  # PyTorch's range
    with pytest.raises(IndexError, match=r"expected to be in range of \[-3, 2\]"):
        torch.zeros(2, 2).unsqueeze(3)


# ----- L6: one parser, one helper each ------------------------------------------------------
def test_one_int_pair_parser():
    assert _util.int_pair(3, "op", "stride") == (3, 3)
    assert _util.int_pair((2, 1), "op", "stride") == (2, 1)
    assert _util.int_pair([4], "op", "k", single=True) == (4, 4)
    with pytest.raises(ValueError, match="op: k must be an int or a pair of ints"):
        _util.int_pair([4], "op", "k")
    with pytest.raises(TypeError, match="padding='same'"):
        _util.int_pair("same", "conv2d", "padding")
    with pytest.raises(ValueError, match="dilation must be >= 1"):
        _util.int_pair(0, "conv2d", "dilation", minimum=1)
    for call in (
        lambda: nn.Conv2d(1, 1, (3, 3, 3)),
        lambda: ops.max_pool2d(mg.zeros(1, 1, 4, 4), (2, 2, 2)),
        lambda: ops.conv2d(mg.zeros(1, 1, 4, 4), mg.zeros(1, 1, 3, 3), stride=(1, 1, 1)),
    ):
        with pytest.raises(_util.PairError, match="must be an int or a pair of ints"):
            call()


def test_flatten_unflatten_dims_use_the_dim_rule():
    with pytest.raises(IndexError, match=r"Flatten\(start_dim=3, end_dim=-1\): start_dim 3"):
        nn.Flatten(3)(mg.zeros(2, 3))
    with pytest.raises(IndexError, match=r"Unflatten\(dim=2, sizes=\(1, 3\)\): dim 2"):
        nn.Unflatten(2, (1, 3))(mg.zeros(2, 3))
    assert nn.Flatten(-2, -1)(mg.zeros(2, 3, 4)).shape == (2, 12)
    assert nn.Unflatten(-1, (2, -1))(mg.zeros(2, 6)).shape == (2, 2, 3)
    assert F.check_padding_idx("Embedding", -1, 5) == 4


# ----- L7: max_pool2d computes in its Function; max(dim) indices computed once ------------
def test_max_pool2d_forward_runs_inside_the_function(torch):
    from minigan.ops.pooling import MaxPool2d  # noqa: PLC0415

    x = np.random.default_rng(0).standard_normal((1, 2, 5, 5))
    y = MaxPool2d.apply(t64(x, False), window=_window_of(x))
    want = torch.nn.functional.max_pool2d(torch.tensor(x), 2)
    np.testing.assert_array_equal(y.numpy(), want.numpy())
    a, at = t64(x), tt64(torch, x)
    (yy, idx), (yt, it) = (
        ops.max_pool2d(a, 2, return_indices=True),
        torch.nn.functional.max_pool2d(at, 2, return_indices=True),
    )
    np.testing.assert_array_equal(idx.numpy(), it.numpy())
    yy.sum().backward()
    yt.sum().backward()
    assert_same(a.grad, at.grad)


def _window_of(x):
    from minigan.ops.pooling import _window  # noqa: PLC0415

    return _window("max_pool2d", Tensor(x), 2, None, 0, 1, False)
