# tests/test_ops_reduction_new.py: the reductions and the softmax family of issue 12 (min,
# amax/amin, argmax/argmin, var/std, prod, cumsum, logsumexp, softmax, log_softmax):
# gradcheck in float64, forward and backward against PyTorch CPU (skipped without it) over
# dims, negative dims, keepdim, ties, 0-d and empty tensors, and the error messages.
"""Tests for the issue-12 reductions (minigan/ops/reduction.py) and minigan/ops/softmax.py."""

from __future__ import annotations

import warnings

import numpy as np
import pytest

import minigan as mg
from minigan import ops

TOL = 1e-10


@pytest.fixture
def torch():
    return pytest.importorskip("torch")


def rng(seed: int = 0) -> np.random.Generator:
    return np.random.default_rng(seed)


def t64(a, requires_grad: bool = True) -> mg.Tensor:
    return mg.tensor(np.asarray(a, dtype=np.float64), requires_grad=requires_grad)


def close(actual, expected, what: str = "value") -> None:
    actual = actual.numpy() if isinstance(actual, mg.Tensor) else np.asarray(actual)
    expected = np.asarray(expected)
    assert actual.shape == expected.shape, f"{what}: shape {actual.shape} vs {expected.shape}"
    np.testing.assert_allclose(actual, expected, rtol=TOL, atol=TOL, equal_nan=True, err_msg=what)


def against_torch(torch, mg_fn, torch_fn, x: np.ndarray, seed: int = 1) -> None:
    """Forward and the gradient for a random output gradient, minigan vs PyTorch, float64."""
    xm = t64(x)
    xt = torch.tensor(np.asarray(x, dtype=np.float64), requires_grad=True)
    out, ref = mg_fn(xm), torch_fn(xt)
    close(out, ref.detach().numpy(), "forward")
    dy = rng(seed).standard_normal(ref.shape)
    out.backward(dy)
    ref.backward(torch.tensor(dy))
    close(xm.grad, xt.grad.numpy(), "gradient")


def with_ties() -> np.ndarray:
    return np.array([[1.0, 3.0, 3.0, -2.0], [0.5, 0.5, -4.0, -4.0], [2.0, 2.0, 2.0, 2.0]])


# =========================================================================================
# min / max with a dim, amax / amin
# =========================================================================================


@pytest.mark.parametrize("name", ["min", "max"])
@pytest.mark.parametrize("dim", [0, 1, -1, -2])
@pytest.mark.parametrize("keepdim", [False, True])
def test_min_max_dim_values_indices_vs_torch(torch, name, dim, keepdim):
    x = with_ties()
    xm, xt = t64(x), torch.tensor(x, requires_grad=True)
    values, indices = getattr(ops, name)(xm, dim, keepdim)
    ref = getattr(torch, name)(xt, dim, keepdim)
    close(values, ref.values.detach().numpy(), "values")
    assert indices.dtype == np.int64 and not indices.requires_grad
    assert indices.tolist() == ref.indices.tolist()
    dy = rng(2).standard_normal(tuple(ref.values.shape))
    values.backward(dy)
    ref.values.backward(torch.tensor(dy))
    close(xm.grad, xt.grad.numpy(), "gradient goes to the selected index only")


@pytest.mark.parametrize("name", ["min", "max"])
def test_min_max_full_reduction_splits_ties_as_torch(torch, name):
    x = np.array([[1.0, -3.0, 5.0], [-3.0, 5.0, 0.0]])
    against_torch(torch, lambda t: getattr(ops, name)(t), lambda t: getattr(torch, name)(t), x)


def test_min_named_tuple_fields_and_method_form():
    x = t64([[4.0, 1.0], [0.0, 7.0]])
    out = ops.min(x, dim=1)
    assert out.values.tolist() == [1.0, 0.0] and out.indices.tolist() == [1, 0]
    assert isinstance(out, tuple) and len(out) == 2


def test_min_numpy_axis_form_returns_values_with_split_ties():
    x = t64([[2.0, 2.0, 5.0], [1.0, 3.0, 4.0]])
    out = ops.min(x, axis=1)
    assert isinstance(out, mg.Tensor) and out.tolist() == [2.0, 1.0]
    out.sum().backward()
    assert x.grad.tolist() == [[0.5, 0.5, 0.0], [1.0, 0.0, 0.0]]
    assert ops.min(x, axis=(0, 1), keepdims=True).shape == (1, 1)
    assert x.min(axis=-1, keepdims=True).tolist() == [[2.0], [1.0]]


def test_min_with_a_tensor_is_minimum():
    a, b = t64([1.0, 5.0, -2.0]), t64([3.0, 0.0, -2.0])
    assert ops.min(a, b).tolist() == [1.0, 0.0, -2.0]


def test_min_of_0d_tensor_with_dim():
    x = t64(3.5)
    values, indices = ops.min(x, 0)
    assert values.shape == () and values.item() == 3.5 and indices.item() == 0
    values.backward()
    assert x.grad.item() == 1.0


def test_min_gradcheck():
    x = t64(rng(3).standard_normal((3, 4)))
    assert mg.gradcheck(lambda t: ops.min(t, 1).values, [x])
    assert mg.gradcheck(lambda t: ops.min(t, -2, True).values, [x])
    assert mg.gradcheck(lambda t: ops.min(t), [x])


def test_min_errors():
    with pytest.raises(IndexError, match="min: dim 2 is out of range"):
        ops.min(t64(np.ones((2, 3))), 2)
    with pytest.raises(ValueError, match="min: cannot reduce an empty tensor"):
        ops.min(t64(np.ones((0, 3))))
    with pytest.raises(TypeError, match="min: dim must be an int"):
        ops.min(t64(np.ones((2, 3))), (0, 1))


@pytest.mark.parametrize("name", ["amax", "amin"])
@pytest.mark.parametrize("dim", [(), 0, -1, (0, 1), (-1, 0)])
@pytest.mark.parametrize("keepdim", [False, True])
def test_amax_amin_vs_torch(torch, name, dim, keepdim):
    x = with_ties()
    against_torch(
        torch,
        lambda t: getattr(ops, name)(t, dim, keepdim),
        lambda t: getattr(torch, name)(t, dim, keepdim),
        x,
    )


def test_amax_amin_0d_empty_and_errors(torch):
    x = t64(2.0)
    assert ops.amax(x).item() == 2.0 and ops.amin(x, 0).item() == 2.0
    empty = t64(np.ones((0, 3)))
    assert ops.amax(empty, 1).shape == tuple(torch.amax(torch.ones(0, 3), 1).shape) == (0,)
    with pytest.raises(IndexError, match="amax: expected reduction dim 0 to have non-zero"):
        ops.amax(empty, 0)
    with pytest.raises(IndexError, match="amin: dim -3 is out of range"):
        ops.amin(t64(np.ones((2, 3))), -3)


def test_amax_gradcheck():
    x = t64(rng(4).standard_normal((3, 4, 2)))
    assert mg.gradcheck(lambda t: ops.amax(t, (0, 2)), [x])
    assert mg.gradcheck(lambda t: ops.amin(t, 1, True), [x])


# =========================================================================================
# argmax / argmin
# =========================================================================================


@pytest.mark.parametrize("name", ["argmax", "argmin"])
@pytest.mark.parametrize("dim", [None, 0, 1, -1])
@pytest.mark.parametrize("keepdim", [False, True])
def test_argmax_argmin_vs_torch_with_ties(torch, name, dim, keepdim):
    x = with_ties()
    out = getattr(ops, name)(t64(x, False), dim, keepdim)
    ref = getattr(torch, name)(torch.tensor(x), dim, keepdim)
    assert out.dtype == np.int64 and not out.requires_grad
    assert out.shape == tuple(ref.shape) and out.tolist() == ref.tolist()


def test_argmax_first_index_on_ties_nan_and_integers(torch):
    assert ops.argmax(mg.tensor([1, 7, 7, 0])).item() == 1  # an integer tensor, first tie
    assert ops.argmin(mg.tensor([4.0, -1.0, 3.0, -1.0])).item() == 1
    x = np.array([[1.0, np.nan, 5.0], [2.0, 0.0, 1.0]])
    for name in ("argmax", "argmin"):
        for dim in (None, 1):
            out = getattr(ops, name)(mg.tensor(x), dim)
            assert out.tolist() == getattr(torch, name)(torch.tensor(x), dim).tolist(), name


def test_argmax_0d_and_empty(torch):
    x = mg.tensor(3.0)
    assert ops.argmax(x).shape == () and ops.argmax(x).item() == 0
    assert ops.argmin(x, 0).item() == 0 and ops.argmax(x, -1, True).shape == ()
    empty = mg.tensor(np.ones((0, 3)))
    assert ops.argmax(empty, 1).shape == tuple(torch.argmax(torch.ones(0, 3), 1).shape)
    with pytest.raises(IndexError, match="argmax: cannot take the index over all dims"):
        ops.argmax(empty)
    with pytest.raises(IndexError, match="argmin: expected reduction dim 0 to have non-zero"):
        ops.argmin(empty, 0)
    with pytest.raises(IndexError, match="argmax: dim 2 is out of range"):
        ops.argmax(mg.tensor(np.ones((2, 2))), 2)


def test_argmax_keepdim_without_dim_keeps_every_dim(torch):
    x = rng(5).standard_normal((2, 3, 4))
    out = ops.argmax(mg.tensor(x), keepdim=True)
    ref = torch.argmax(torch.tensor(x), keepdim=True)
    assert out.shape == tuple(ref.shape) == (1, 1, 1) and out.item() == ref.item()


# =========================================================================================
# var / std
# =========================================================================================

VAR_CASES = [
    dict(),
    dict(dim=0),
    dict(dim=-1, keepdim=True),
    dict(dim=(0, 2)),
    dict(dim=(-1, 0), keepdim=True, correction=0),
    dict(dim=1, correction=2),
    dict(dim=1, correction=0.5),
    dict(dim=None, keepdim=True),
]


@pytest.mark.parametrize("name", ["var", "std"])
@pytest.mark.parametrize("kwargs", VAR_CASES)
def test_var_std_vs_torch(torch, name, kwargs):
    x = rng(6).standard_normal((3, 4, 5))
    against_torch(
        torch,
        lambda t: getattr(ops, name)(t, **kwargs),
        lambda t: getattr(torch, name)(t, **kwargs),
        x,
    )


@pytest.mark.parametrize("name", ["var", "std"])
def test_var_std_unbiased_forms_vs_torch(torch, name):
    x = rng(7).standard_normal((4, 3))
    xt = torch.tensor(x)
    f, g = getattr(ops, name), getattr(torch, name)
    close(f(t64(x), 1, False), g(xt, 1, False).numpy(), "var(x, dim, unbiased)")
    close(f(t64(x), 0, True, True), g(xt, 0, True, True).numpy(), "keepdim positional")
    close(f(t64(x), False), g(xt, False).numpy(), "var(x, unbiased)")
    close(f(t64(x), unbiased=False), g(xt, unbiased=False).numpy(), "unbiased keyword")


def test_var_std_gradcheck():
    x = t64(rng(8).standard_normal((3, 5)))
    assert mg.gradcheck(lambda t: ops.var(t, 1), [x])
    assert mg.gradcheck(lambda t: ops.var(t, correction=0), [x])
    assert mg.gradcheck(lambda t: ops.std(t, 0, keepdim=True), [x])
    assert mg.gradcheck(lambda t: ops.std(t, (0, 1), correction=2), [x])


def test_var_against_numpy_formula():
    x = rng(9).standard_normal((6, 2))
    for c in (0, 1, 3):
        close(ops.var(t64(x), 0, correction=c), np.var(x, axis=0, ddof=c), f"ddof {c}")
        close(ops.std(t64(x), 0, correction=c), np.std(x, axis=0, ddof=c), f"std ddof {c}")


def test_std_gradient_is_zero_where_std_is_zero(torch):
    x = np.array([[2.0, 2.0, 2.0], [1.0, 2.0, 4.0]])
    against_torch(torch, lambda t: ops.std(t, 1), lambda t: torch.std(t, 1), x)
    xm = t64(x)
    ops.std(xm, 1).sum().backward()
    assert xm.grad.numpy()[0].tolist() == [0.0, 0.0, 0.0]


def test_var_no_degrees_of_freedom_gives_inf_nan_with_a_warning(torch):
    cases = [([1.0], {}), ([1.0, 2.0], {"correction": 2}), ([1.0, 2.0], {"correction": 3})]
    for values, kwargs in cases:
        with pytest.warns(RuntimeWarning, match="degrees of freedom"):
            out = ops.var(t64(values), **kwargs)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            ref = torch.var(torch.tensor(values, dtype=torch.float64), **kwargs)
        close(out, ref.numpy(), f"var{values} {kwargs}")
    with pytest.warns(RuntimeWarning):
        x = t64([3.0, 3.0])
        ops.var(x, correction=2).backward()
    assert not np.isfinite(x.grad.numpy()).any()  # 0 · inf: no finite gradient either


def test_var_std_0d_empty_and_integers(torch):
    assert ops.var(t64(2.0), correction=0).item() == 0.0
    assert ops.std(t64(2.0), 0, correction=0).item() == 0.0
    with pytest.warns(RuntimeWarning):
        assert np.isnan(ops.var(t64(np.ones(0))).item())
    with pytest.warns(RuntimeWarning):
        empty = ops.var(t64(np.ones((0, 3))), 0)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        ref = torch.var(torch.ones(0, 3, dtype=torch.float64), 0)
    close(empty, ref.numpy(), "empty")
    assert ops.var(t64(np.ones((0, 3))), 1).shape == (0,)
    out = ops.var(mg.tensor([1, 2, 4]))  # integers: computed in float32 (PyTorch raises)
    assert out.dtype == np.float32 and abs(out.item() - np.var([1, 2, 4], ddof=1)) < 1e-6


def test_var_std_errors():
    x = t64(np.ones((2, 3)))
    with pytest.raises(TypeError, match="var: give unbiased or correction, not both"):
        ops.var(x, 0, True, correction=1)
    with pytest.raises(TypeError, match="std: unbiased must be a bool"):
        ops.std(x, 0, 1)
    with pytest.raises(TypeError, match="var: correction must be a number"):
        ops.var(x, correction="1")
    with pytest.raises(IndexError, match="std: dim 2 is out of range"):
        ops.std(x, 2)
    with pytest.raises(TypeError, match="var: expected a Tensor"):
        ops.var(np.ones(3))


# =========================================================================================
# prod
# =========================================================================================


@pytest.mark.parametrize("dim", [None, 0, 1, -1])
@pytest.mark.parametrize("keepdim", [False, True])
@pytest.mark.parametrize("zeros", [0, 1, 2])
def test_prod_vs_torch_with_zeros(torch, dim, keepdim, zeros):
    x = rng(10).uniform(0.5, 1.5, (3, 4)) * np.where(rng(11).random((3, 4)) < 0.5, -1, 1)
    x[0, 1 : 1 + zeros] = 0.0  # row 0 has `zeros` zeros
    x[2, 3] = 0.0 if zeros else x[2, 3]  # a zero in another row and column
    if dim is None:
        mg_fn, torch_fn = (lambda t: ops.prod(t)), (lambda t: torch.prod(t))
    else:
        mg_fn = lambda t: ops.prod(t, dim, keepdim)  # noqa: E731
        torch_fn = lambda t: torch.prod(t, dim, keepdim)  # noqa: E731
    against_torch(torch, mg_fn, torch_fn, x)


def test_prod_gradient_at_zeros_is_the_product_of_the_others():
    x = t64([[2.0, 0.0, 3.0, 5.0], [0.0, 4.0, 0.0, 1.0], [1.5, 2.0, -1.0, 4.0]])
    ops.prod(x, 1).backward(np.array([1.0, 1.0, 2.0]))
    expected = [[0.0, 30.0, 0.0, 0.0], [0.0, 0.0, 0.0, 0.0], [-16.0, -12.0, 24.0, -6.0]]
    assert x.grad.tolist() == expected


def test_prod_gradcheck():
    x = t64(rng(12).uniform(0.5, 2.0, (3, 4)))
    assert mg.gradcheck(lambda t: ops.prod(t, 1), [x])
    assert mg.gradcheck(lambda t: ops.prod(t), [x])
    y = t64([[0.0, 2.0, 3.0], [1.5, 0.0, 0.0]])  # one zero and two zeros: still smooth in x
    assert mg.gradcheck(lambda t: ops.prod(t, -1), [y])


def test_prod_0d_empty_integers_and_errors(torch):
    assert ops.prod(t64(3.0), 0).item() == 3.0
    assert ops.prod(t64(np.ones((0, 3)))).item() == 1.0
    close(ops.prod(t64(np.ones((0, 3))), 0), np.ones(3), "empty dim: 1")
    ints = ops.prod(mg.tensor(np.array([[2, 3], [4, 5]], dtype=np.int32)), 1)
    ref = torch.prod(torch.tensor([[2, 3], [4, 5]], dtype=torch.int32), 1)
    assert ints.dtype == np.int64 and ints.tolist() == ref.tolist() == [6, 20]
    with pytest.raises(IndexError, match="prod: dim 2 is out of range"):
        ops.prod(t64(np.ones((2, 2))), 2)
    with pytest.raises(TypeError, match="prod: dim must be an int"):
        ops.prod(t64(np.ones((2, 2))), (0, 1))


# =========================================================================================
# cumsum
# =========================================================================================


@pytest.mark.parametrize("dim", [0, 1, -1, 2])
def test_cumsum_vs_torch(torch, dim):
    x = rng(13).standard_normal((2, 3, 4))
    against_torch(torch, lambda t: ops.cumsum(t, dim), lambda t: torch.cumsum(t, dim), x)


def test_cumsum_gradcheck_0d_empty_integers_and_errors(torch):
    x = t64(rng(14).standard_normal((3, 4)))
    assert mg.gradcheck(lambda t: ops.cumsum(t, -1), [x])
    s = t64(2.5)
    out = ops.cumsum(s, 0)
    out.backward()
    assert out.shape == () and out.item() == 2.5 and s.grad.item() == 1.0
    assert ops.cumsum(t64(np.ones((0, 3))), 0).shape == (0, 3)
    ints = ops.cumsum(mg.tensor(np.array([1, 2, 3], dtype=np.int32)), 0)
    assert ints.dtype == np.int64 and ints.tolist() == [1, 3, 6]
    bools = ops.cumsum(mg.tensor(np.array([True, False, True])), 0)
    assert bools.tolist() == torch.cumsum(torch.tensor([True, False, True]), 0).tolist()
    with pytest.raises(IndexError, match="cumsum: dim -3 is out of range"):
        ops.cumsum(x, -3)
    with pytest.raises(TypeError, match="cumsum: dim must be an int"):
        ops.cumsum(x, None)


# =========================================================================================
# logsumexp
# =========================================================================================


@pytest.mark.parametrize("dim", [0, -1, (0, 2), (2, -2, 0)])
@pytest.mark.parametrize("keepdim", [False, True])
def test_logsumexp_vs_torch(torch, dim, keepdim):
    x = rng(15).standard_normal((3, 2, 4)) * 3
    against_torch(
        torch,
        lambda t: ops.logsumexp(t, dim, keepdim),
        lambda t: torch.logsumexp(t, dim, keepdim),
        x,
    )


def test_logsumexp_is_stable_and_handles_infinities(torch):
    big = np.array([[1000.0, 1000.0, 990.0], [-1000.0, -1001.0, -2000.0]])
    against_torch(torch, lambda t: ops.logsumexp(t, 1), lambda t: torch.logsumexp(t, 1), big)
    inf = np.inf
    special = np.array([[-inf, -inf, -inf], [inf, 1.0, 2.0], [-inf, 0.0, 0.0]])
    out = ops.logsumexp(t64(special, False), 1)
    close(out, torch.logsumexp(torch.tensor(special), 1).numpy(), "infinities")
    assert out.tolist()[0] == -inf and out.tolist()[1] == inf


def test_logsumexp_gradient_is_softmax_and_gradcheck():
    x = t64(rng(16).standard_normal((3, 5)))
    ops.logsumexp(x, 1).sum().backward()
    e = np.exp(x.numpy())
    close(x.grad, e / e.sum(axis=1, keepdims=True), "d logsumexp = softmax")
    assert mg.gradcheck(lambda t: ops.logsumexp(t, (0, 1)), [t64(x.numpy())])


def test_logsumexp_0d_empty_integers_and_errors(torch):
    assert ops.logsumexp(t64(1.5), 0).item() == 1.5
    out = ops.logsumexp(t64(np.ones((0, 3))), 0)
    close(out, torch.logsumexp(torch.ones(0, 3, dtype=torch.float64), 0).numpy(), "empty")
    ints = ops.logsumexp(mg.tensor([1, 2]), 0)
    assert ints.dtype == np.float32
    assert abs(ints.item() - torch.logsumexp(torch.tensor([1, 2]), 0).item()) < 1e-6
    with pytest.raises(TypeError, match="logsumexp: dim is required"):
        ops.logsumexp(t64([1.0]), None)
    with pytest.raises(IndexError, match="logsumexp: dim 1 is out of range"):
        ops.logsumexp(t64([1.0]), 1)


# =========================================================================================
# softmax / log_softmax
# =========================================================================================


@pytest.mark.parametrize("name", ["softmax", "log_softmax"])
@pytest.mark.parametrize("shape, dim", [((5,), 0), ((3, 4), 1), ((3, 4), 0), ((2, 3, 4), -2)])
def test_softmax_family_vs_torch(torch, name, shape, dim):
    x = rng(17).standard_normal(shape) * 2
    against_torch(
        torch,
        lambda t: getattr(ops, name)(t, dim),
        lambda t: getattr(torch.nn.functional, name)(t, dim),
        x,
    )


@pytest.mark.parametrize("name", ["softmax", "log_softmax"])
def test_softmax_family_is_stable(torch, name):
    x = np.array([[1000.0, 999.0, -1000.0], [-1e4, -1e4 + 1, -1e4 + 2]])
    against_torch(
        torch,
        lambda t: getattr(ops, name)(t, -1),
        lambda t: getattr(torch.nn.functional, name)(t, -1),
        x,
    )
    out = getattr(ops, name)(t64(x, False), -1)
    assert np.isfinite(out.numpy()).all()


@pytest.mark.parametrize("name", ["softmax", "log_softmax"])
def test_softmax_family_gradcheck(name):
    x = t64(rng(18).standard_normal((3, 4)))
    assert mg.gradcheck(lambda t: getattr(ops, name)(t, 1), [x])
    assert mg.gradcheck(lambda t: getattr(ops, name)(t, 0), [x])


def test_softmax_backward_formulas_against_the_jacobian():
    x = rng(19).standard_normal(4)
    g = rng(20).standard_normal(4)
    y = np.exp(x) / np.exp(x).sum()
    jac = np.diag(y) - np.outer(y, y)  # dy_i/dx_k = y_i (δ_ik - y_k)
    xm = t64(x)
    ops.softmax(xm, 0).backward(g)
    close(xm.grad, jac.T @ g, "softmax backward")
    xm = t64(x)
    ops.log_softmax(xm, 0).backward(g)
    close(xm.grad, (np.eye(4) - y[None, :]).T @ g, "log_softmax backward")


@pytest.mark.parametrize("name", ["softmax", "log_softmax"])
def test_softmax_family_0d_empty_integers_dtype(torch, name):
    f, tf = getattr(ops, name), getattr(torch.nn.functional, name)
    s = t64(0.7)
    out = f(s, 0)
    assert out.shape == () and out.item() == tf(torch.tensor(0.7, dtype=torch.float64), 0).item()
    out.backward()
    assert s.grad.item() == 0.0
    assert f(t64(np.ones((0, 3))), 1).shape == (0, 3)
    assert f(t64(np.ones((2, 0))), 1).shape == (2, 0)
    ints = f(mg.tensor([[1, 2, 3]]), 1)
    ref = tf(torch.tensor([[1.0, 2.0, 3.0]]), 1)
    assert ints.dtype == np.float32
    np.testing.assert_allclose(ints.numpy(), ref.numpy(), rtol=1e-6)
    cast = f(mg.tensor([[1.0, 2.0]], dtype="float32"), 1, dtype="float64")
    assert cast.dtype == np.float64


def test_softmax_family_infinite_rows_as_torch(torch):
    inf = np.inf
    x = np.array([[-inf, 0.0, 1.0], [-inf, -inf, -inf]])
    for name in ("softmax", "log_softmax"):
        out = getattr(ops, name)(t64(x, False), 1)
        ref = getattr(torch.nn.functional, name)(torch.tensor(x), 1)
        close(out, ref.numpy(), name)


def test_softmax_family_errors():
    x = t64(np.ones((2, 3)))
    with pytest.raises(TypeError, match="softmax: dim is required"):
        ops.softmax(x, None)
    with pytest.raises(IndexError, match="log_softmax: dim 2 is out of range"):
        ops.log_softmax(x, 2)
    with pytest.raises(TypeError, match="softmax: expected a Tensor"):
        ops.softmax(np.ones(3), 0)
    with pytest.raises(TypeError, match="log_softmax: dtype must be a floating dtype"):
        ops.log_softmax(x, 1, dtype="int64")
    with pytest.raises(TypeError, match="complex"):
        ops.softmax(mg.Tensor._from_op(np.ones(2, dtype=np.complex128), False), 0)
