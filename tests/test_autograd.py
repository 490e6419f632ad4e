# tests/test_autograd.py: the autograd engine (accumulation, retain_graph, no_grad, detach,
# long chains, diamonds), Tensor basics (item/numpy/repr/to), device checks and gradcheck.
"""Tests for minigan.autograd, minigan.tensor and minigan.gradcheck."""

from __future__ import annotations

import types

import numpy as np
import pytest
from helpers import requires_cuda

import minigan as mg
from minigan.autograd import Context, Function
from minigan.gradcheck import GradcheckError, GradcheckResult, gradcheck_report
from minigan.ops._util import check_same_device


def leaf(values, dtype=np.float64):
    return mg.tensor(np.asarray(values, dtype=dtype), requires_grad=True)


# ----- accumulation and graph lifetime --------------------------------------------------


def test_gradients_accumulate_across_two_backward_calls():
    x = leaf([1.0, 2.0, 3.0])
    (x * x).sum().backward()
    np.testing.assert_allclose(x.grad.numpy(), [2.0, 4.0, 6.0])
    (x * 3.0).sum().backward()
    np.testing.assert_allclose(x.grad.numpy(), [5.0, 7.0, 9.0])
    x.zero_grad()
    assert x.grad is None


def test_leaf_grad_is_a_plain_tensor_of_the_leaf_dtype():
    x = leaf([1.0, -2.0], dtype=np.float32)
    (x * 2.0).sum().backward()
    assert isinstance(x.grad, mg.Tensor)
    assert x.grad.dtype == np.float32
    assert not x.grad.requires_grad
    assert x.grad.grad_fn is None


def test_retain_graph_allows_a_second_backward():
    x = leaf([1.0, 2.0])
    y = (x * x).sum()
    y.backward(retain_graph=True)
    y.backward()
    np.testing.assert_allclose(x.grad.numpy(), [4.0, 8.0])


def test_second_backward_without_retain_graph_raises_a_helpful_error():
    x = leaf([1.0, 2.0])
    y = (x * x).sum()
    y.backward()
    with pytest.raises(RuntimeError, match="retain_graph=True") as info:
        y.backward()
    assert "second time" in str(info.value)


def test_graph_saved_values_are_freed_after_backward():
    x = leaf([1.0, 2.0])
    y = x * x
    z = y.sum()
    z.backward()
    assert y._node.freed
    assert not getattr(y._node.ctx, "saved", ())  # the saved arrays were released


def test_backward_on_non_scalar_without_grad_raises():
    x = leaf([1.0, 2.0])
    with pytest.raises(RuntimeError, match="one-element"):
        (x * 2.0).backward()


def test_backward_on_one_element_non_0d_tensor_is_allowed():
    x = leaf([[3.0]])
    (x * x).backward()
    np.testing.assert_allclose(x.grad.numpy(), [[6.0]])


def test_backward_grad_shape_mismatch_raises():
    x = leaf([1.0, 2.0, 3.0])
    y = x * 2.0
    with pytest.raises(ValueError, match=r"\(2,\).*\(3,\)"):
        y.backward(np.ones(2))


def test_backward_with_explicit_grad_tensor_or_array():
    x = leaf([1.0, 2.0, 3.0])
    (x * 2.0).backward(mg.tensor(np.array([1.0, 0.0, -1.0])))
    np.testing.assert_allclose(x.grad.numpy(), [2.0, 0.0, -2.0])
    x.zero_grad()
    (x * 2.0).backward(np.array([1.0, 1.0, 1.0]))
    np.testing.assert_allclose(x.grad.numpy(), [2.0, 2.0, 2.0])


def test_backward_on_tensor_without_grad_raises():
    x = mg.tensor(np.array([1.0, 2.0]))
    with pytest.raises(RuntimeError, match="does not require grad"):
        x.sum().backward()


def test_long_chain_backward_has_no_recursion_limit():
    x0 = leaf(1.0)
    x = x0
    for _ in range(10_000):
        x = x * 1.0001 + 0
    x.backward()
    np.testing.assert_allclose(x0.grad.item(), 1.0001**10_000, rtol=1e-12)


def test_diamond_graph_sums_gradients():
    # x feeds two branches that meet again: z = (x + 1) * (2x), dz/dx = 4x + 2
    x = leaf([1.0, -2.0, 0.5])
    a = x + 1.0
    b = x * 2.0
    (a * b).sum().backward()
    np.testing.assert_allclose(x.grad.numpy(), 4 * x.numpy() + 2)


def test_tensor_used_twice_in_one_op_and_across_ops():
    x = leaf([1.5, -3.0])
    y = x * x + x  # dy/dx = 2x + 1
    y.sum().backward()
    np.testing.assert_allclose(x.grad.numpy(), 2 * x.numpy() + 1)


def test_shared_intermediate_used_by_many_consumers():
    x = leaf([2.0])
    h = x * 3.0
    out = h + h * h + h.exp() * 0.0
    out.sum().backward()  # d/dx (3x + 9x²) = 3 + 18x
    np.testing.assert_allclose(x.grad.numpy(), [3 + 18 * 2.0])


def test_leaf_without_requires_grad_gets_no_grad():
    x = leaf([1.0, 2.0])
    c = mg.tensor(np.array([3.0, 4.0]))
    (x * c).sum().backward()
    assert c.grad is None
    np.testing.assert_allclose(x.grad.numpy(), [3.0, 4.0])


# ----- no_grad, detach, retain_grad, requires_grad rules --------------------------------


def test_no_grad_records_nothing():
    x = leaf([1.0, 2.0])
    assert mg.is_grad_enabled()
    with mg.no_grad():
        assert not mg.is_grad_enabled()
        y = x * 2.0 + 1.0
        with mg.enable_grad():
            z = x * 2.0
    assert mg.is_grad_enabled()
    assert not y.requires_grad
    assert y.grad_fn is None
    assert y.is_leaf
    assert z.requires_grad and z.grad_fn == "Mul"


def test_no_grad_restores_state_after_an_exception():
    with pytest.raises(ZeroDivisionError), mg.no_grad():
        _ = 1 / 0
    assert mg.is_grad_enabled()


def test_detach_cuts_the_graph_and_shares_data():
    x = leaf([1.0, 2.0])
    d = x.detach()
    assert not d.requires_grad and d.grad_fn is None
    assert np.shares_memory(d.data, x.data)
    (d * x).sum().backward()  # only the non-detached factor carries gradient
    np.testing.assert_allclose(x.grad.numpy(), x.numpy())


def test_retain_grad_on_non_leaf():
    x = leaf([1.0, -1.0, 2.0])
    y = x * 2.0
    y.retain_grad()
    w = x + 1.0  # a non-leaf without retain_grad
    (y * y + w).sum().backward()
    np.testing.assert_allclose(y.grad.numpy(), 2 * y.numpy())
    assert w.grad is None
    np.testing.assert_allclose(x.grad.numpy(), 8 * x.numpy() + 1)


def test_integer_tensors_cannot_require_grad():
    with pytest.raises(TypeError, match="floating"):
        mg.tensor([1, 2, 3], requires_grad=True)
    t = mg.tensor([1, 2, 3])
    assert t.dtype == np.int64
    with pytest.raises(TypeError, match="floating"):
        t.requires_grad_()


def test_requires_grad_false_only_on_leaves():
    x = leaf([1.0])
    y = x * 2.0
    with pytest.raises(RuntimeError, match="leaf"):
        y.requires_grad_(False)
    x.requires_grad_(False)
    assert not x.requires_grad


def test_to_dtype_is_differentiable():
    x = leaf([1.0, 2.0], dtype=np.float32)
    y = x.to(dtype=np.float64)
    assert y.dtype == np.float64 and y.grad_fn == "ToDevice"
    (y * y).sum().backward()
    assert x.grad.dtype == np.float32
    np.testing.assert_allclose(x.grad.numpy(), [2.0, 4.0])
    assert x.to(dtype=np.float32) is x
    z = leaf([0.5], dtype=np.float64)
    (z.float() * 4.0).sum().backward()
    assert z.grad.dtype == np.float64 and z.grad.item() == 4.0


# ----- Tensor basics ---------------------------------------------------------------------


def test_item_numpy_shape_dtype_device():
    t = mg.tensor(np.arange(6, dtype=np.float32).reshape(2, 3))
    assert t.shape == (2, 3) and t.ndim == 2 and t.size == 6 and len(t) == 2
    assert t.dtype == np.float32 and t.device == "cpu"
    assert isinstance(t.numpy(), np.ndarray)
    np.testing.assert_array_equal(t.numpy(), np.arange(6).reshape(2, 3))
    assert t.tolist() == [[0.0, 1.0, 2.0], [3.0, 4.0, 5.0]]
    assert mg.tensor(np.array([[2.5]])).item() == 2.5
    assert isinstance(t.sum().item(), float)
    with pytest.raises(ValueError, match="one element"):
        t.item()
    with pytest.raises(TypeError, match="0-d"):
        len(mg.tensor(1.0))


def test_default_dtypes():
    assert mg.tensor(1.0).dtype == np.float32
    assert mg.tensor([1.0, 2.0]).dtype == np.float32
    assert mg.tensor(np.zeros(2)).dtype == np.float64  # float64 numpy data stays float64
    assert mg.tensor(3).dtype == np.int64
    assert mg.tensor(np.array([True])).dtype == np.bool_


def test_repr():
    x = leaf([1.0, 2.0], dtype=np.float32)
    r = repr(x)
    assert r.startswith("Tensor(") and "dtype=float32" in r and "device=cpu" in r
    assert "requires_grad=True" in r
    assert "grad_fn=Mul" in repr(x * 2.0)
    assert "grad_fn" not in repr(mg.tensor([1.0]))
    assert "..." in repr(mg.zeros(1000))  # large tensors are summarised


def test_manual_seed_makes_random_tensors_reproducible():
    mg.manual_seed(123)
    a = mg.randn(4).numpy().copy()
    mg.manual_seed(123)
    b = mg.randn(4).numpy()
    np.testing.assert_array_equal(a, b)


# ----- devices ---------------------------------------------------------------------------


def test_check_same_device_names_both_devices():
    a = types.SimpleNamespace(shape=(2, 3), device="cpu")
    b = types.SimpleNamespace(shape=(3,), device="cuda")
    with pytest.raises(ValueError) as info:
        check_same_device("add", a, b)
    msg = str(info.value)
    assert "add" in msg and "cpu" in msg and "cuda" in msg
    assert "(2, 3)" in msg and "(3,)" in msg
    check_same_device("add", a, a)  # same device: fine


def test_unknown_device_is_rejected():
    with pytest.raises(ValueError, match="unknown device"):
        mg.zeros(2, device="tpu")


@pytest.mark.cuda
@requires_cuda
def test_mixing_cpu_and_cuda_tensors_raises():
    a = mg.ones(3)
    b = mg.ones(3, device="cuda")
    with pytest.raises(ValueError, match="cpu.*cuda|cuda.*cpu"):
        _ = a + b


@pytest.mark.cuda
@requires_cuda
def test_to_device_round_trip_is_differentiable():
    x = leaf([1.0, 2.0], dtype=np.float32)
    y = x.to("cuda")
    assert y.device == "cuda"
    (y * y).sum().backward()
    assert x.grad.device == "cpu"
    np.testing.assert_allclose(x.grad.numpy(), [2.0, 4.0])


# ----- the engine's own sanity checks ----------------------------------------------------


class _WrongCount(Function):
    @staticmethod
    def forward(ctx: Context, a):
        return a * 2

    @staticmethod
    def backward(ctx: Context, g):
        return g, g


class _WrongShape(Function):
    @staticmethod
    def forward(ctx: Context, a):
        return a * 2

    @staticmethod
    def backward(ctx: Context, g):
        return g[:1]


def test_engine_rejects_wrong_number_of_gradients():
    x = leaf([1.0, 2.0])
    with pytest.raises(RuntimeError, match="returned 2 gradients for 1 inputs"):
        _WrongCount.apply(x).sum().backward()


def test_engine_rejects_wrongly_shaped_gradients():
    x = leaf([1.0, 2.0])
    with pytest.raises(RuntimeError, match=r"shape \(1,\).*shape \(2,\)"):
        _WrongShape.apply(x).sum().backward()


# ----- gradcheck -------------------------------------------------------------------------


class _BadSquare(Function):
    """x² with a deliberately wrong backward (x instead of 2x)."""

    @staticmethod
    def forward(ctx: Context, a):
        ctx.save_for_backward(a)
        return a * a

    @staticmethod
    def backward(ctx: Context, g):
        (a,) = ctx.saved
        return g * a


def test_gradcheck_passes_on_correct_ops_with_non_scalar_output():
    x = mg.randn(3, 4, dtype=np.float64, requires_grad=True)
    w = mg.randn(4, 2, dtype=np.float64, requires_grad=True)
    assert mg.gradcheck(lambda x, w: (x @ w).tanh(), [x, w])
    assert x.grad is None and w.grad is None  # the caller's tensors are untouched


def test_gradcheck_reports_the_worst_element():
    x = mg.tensor(np.array([[0.5, -1.0], [2.0, 3.0]]), requires_grad=True)
    c = mg.tensor(np.array([1.0, 2.0]))  # not checked: passed through
    with pytest.raises(GradcheckError) as info:
        mg.gradcheck(lambda c, x: _BadSquare.apply(x) * c, [c, x])
    err = info.value
    assert isinstance(err, AssertionError)
    msg = str(err)
    assert "input 1" in msg and "worst element" in msg and "analytic=" in msg
    assert "numeric=" in msg and "abs_err=" in msg and "rel_err=" in msg
    (check,) = err.result.inputs
    assert check.index == 1 and not check.ok and check.n_bad == 4
    # analytic is exactly half the numeric value everywhere
    np.testing.assert_allclose(check.analytic, check.numeric / 2, rtol=1e-6)
    assert check.rel_error == pytest.approx(0.5, rel=1e-6)
    assert check.worst_element == np.unravel_index(
        np.argmax(np.abs(check.analytic - check.numeric) - 1e-4 * np.abs(check.numeric)), (2, 2)
    )


def test_gradcheck_without_raising_returns_false_and_report_prints():
    x = mg.tensor(np.array([1.0, 2.0]), requires_grad=True)
    assert mg.gradcheck(lambda x: _BadSquare.apply(x), [x], raise_exception=False) is False
    result = gradcheck_report(lambda x: x * x, [x])
    assert isinstance(result, GradcheckResult) and result.ok
    text = str(result)
    assert "passed" in text and "input 0 shape (2,)" in text


def test_gradcheck_requires_float64():
    x = mg.randn(3, requires_grad=True)  # float32
    with pytest.raises(TypeError, match=r"\.double\(\)"):
        mg.gradcheck(lambda x: x * 2.0, [x])


def test_gradcheck_needs_an_input_that_requires_grad():
    with pytest.raises(ValueError, match="requires_grad"):
        mg.gradcheck(lambda x: x * 2.0, [mg.tensor(np.ones(2))])


def test_gradcheck_handles_tuple_outputs_and_detached_outputs():
    x = mg.randn(3, dtype=np.float64, requires_grad=True)
    assert mg.gradcheck(lambda x: (x.exp(), x * x, x.detach() * 0.0), [x])
    # a function whose output silently ignores the input's gradient path is caught
    assert not mg.gradcheck(lambda x: x.detach() * x.detach(), [x], raise_exception=False)


def test_gradcheck_does_not_touch_global_random_state():
    mg.manual_seed(5)
    expected = mg.randn(3).numpy().copy()
    mg.manual_seed(5)
    x = mg.tensor(np.array([1.0, 2.0]), requires_grad=True)
    mg.gradcheck(lambda x: x * x, [x])
    np.testing.assert_array_equal(mg.randn(3).numpy(), expected)


def test_backend_dispatch_is_dtype_aware(monkeypatch):
    """An implementation that declares SUPPORTED_DTYPES is skipped for other dtypes."""
    from minigan import backend
    from minigan.backend import numpy_ref

    backend.reset()
    try:
        monkeypatch.delenv("MINIGAN_BACKEND", raising=False)
        monkeypatch.setitem(backend.PREFERENCE, "cpu", ("numpy",))
        monkeypatch.setattr(numpy_ref, "SUPPORTED_DTYPES", ("float32",), raising=False)
        assert backend.implementation("cpu", np.float32)[0] == "numpy"
        with pytest.raises(RuntimeError, match="numpy does not support float64"):
            backend.kernel("linear_act_forward", "cpu", np.float64)
        info = backend.backend_info()
        assert info["cpu"]["implementation"] == "numpy" and info["cpu"]["float64"] == "none"
    finally:
        backend.reset()
