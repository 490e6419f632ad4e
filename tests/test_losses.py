# tests/test_losses.py: the losses of issue 12 (nn.functional.cross_entropy, nll_loss,
# mse_loss, l1_loss) and their modules (CrossEntropyLoss, NLLLoss, MSELoss, L1Loss, plus
# Softmax / LogSoftmax): forward and backward against PyTorch CPU (skipped without it)
# over class-index and class-probability targets, weights, ignore_index, label smoothing,
# reductions, extra dims, unbatched and empty inputs; gradcheck; and the error messages.
"""Tests for the classification and regression losses of minigan.nn."""

from __future__ import annotations

import numpy as np
import pytest

import minigan as mg
from minigan import nn
from minigan.nn import functional as F

TOL = 1e-10
REDUCTIONS = ("mean", "sum", "none")


@pytest.fixture
def torch():
    return pytest.importorskip("torch")


def rng(seed: int = 0) -> np.random.Generator:
    return np.random.default_rng(seed)


def t64(a, requires_grad: bool = True) -> mg.Tensor:
    return mg.tensor(np.asarray(a, dtype=np.float64), requires_grad=requires_grad)


def close(actual, expected, what: str = "value", tol: float = TOL) -> None:
    actual = actual.numpy() if isinstance(actual, mg.Tensor) else np.asarray(actual)
    expected = np.asarray(expected)
    assert actual.shape == expected.shape, f"{what}: shape {actual.shape} vs {expected.shape}"
    np.testing.assert_allclose(actual, expected, rtol=tol, atol=tol, equal_nan=True, err_msg=what)


def class_targets(shape, num_classes: int, seed: int, ignore: int | None = None) -> np.ndarray:
    t = rng(seed).integers(0, num_classes, shape)
    if ignore is not None and t.size:
        t.reshape(-1)[:: max(1, t.size // 3)] = ignore  # about a third ignored
    return t


def run_both(torch, mg_loss, torch_loss, x, target, target_grad: bool = False, seed: int = 3):
    """Forward and backward of a loss, minigan vs PyTorch (float64); the target gets a
    gradient too when `target_grad` (class probabilities)."""
    xm = t64(x)
    xt = torch.tensor(x, dtype=torch.float64, requires_grad=True)
    if target_grad:
        tm, tt = t64(target), torch.tensor(target, dtype=torch.float64, requires_grad=True)
    else:
        tm, tt = target, torch.tensor(target)
    out, ref = mg_loss(xm, tm), torch_loss(xt, tt)
    close(out, ref.detach().numpy(), "forward")
    dy = rng(seed).standard_normal(tuple(ref.shape))
    out.backward(dy)
    ref.backward(torch.tensor(dy))
    close(xm.grad, xt.grad.numpy(), "input gradient")
    if target_grad:
        close(tm.grad, tt.grad.numpy(), "target gradient")


# =========================================================================================
# cross_entropy / nll_loss with class indices
# =========================================================================================

INDEX_SHAPES = [(5, 4), (3, 4, 2), (2, 3, 2, 3), (4,)]


@pytest.mark.parametrize("shape", INDEX_SHAPES)
@pytest.mark.parametrize("reduction", REDUCTIONS)
@pytest.mark.parametrize("weighted", [False, True])
@pytest.mark.parametrize("smoothing", [0.0, 0.15])
def test_cross_entropy_class_indices_vs_torch(torch, shape, reduction, weighted, smoothing):
    x = rng(1).standard_normal(shape) * 2
    num_classes = shape[1] if len(shape) > 1 else shape[0]
    t_shape = shape[:1] + shape[2:] if len(shape) > 1 else ()
    target = class_targets(t_shape, num_classes, seed=2, ignore=-100)
    w = rng(4).uniform(0.2, 2.0, num_classes) if weighted else None
    wt = None if w is None else torch.tensor(w)
    kw = dict(reduction=reduction, label_smoothing=smoothing)
    run_both(
        torch,
        lambda a, t: F.cross_entropy(a, t, weight=w, **kw),
        lambda a, t: torch.nn.functional.cross_entropy(a, t, weight=wt, **kw),
        x,
        target,
    )


@pytest.mark.parametrize("shape", INDEX_SHAPES)
@pytest.mark.parametrize("reduction", REDUCTIONS)
@pytest.mark.parametrize("weighted", [False, True])
def test_nll_loss_vs_torch(torch, shape, reduction, weighted):
    x = rng(5).standard_normal(shape)
    num_classes = shape[1] if len(shape) > 1 else shape[0]
    t_shape = shape[:1] + shape[2:] if len(shape) > 1 else ()
    target = class_targets(t_shape, num_classes, seed=6, ignore=-100)
    w = rng(7).uniform(0.2, 2.0, num_classes) if weighted else None
    wt = None if w is None else torch.tensor(w)
    run_both(
        torch,
        lambda a, t: F.nll_loss(a, t, weight=w, reduction=reduction),
        lambda a, t: torch.nn.functional.nll_loss(a, t, weight=wt, reduction=reduction),
        x,
        target,
    )


@pytest.mark.parametrize("smoothing", [0.0, 0.3])
def test_cross_entropy_custom_ignore_index_vs_torch(torch, smoothing):
    x = rng(8).standard_normal((6, 3))
    target = np.array([0, 2, 2, 1, 2, 0])  # class 2 is ignored
    for reduction in REDUCTIONS:
        kw = dict(ignore_index=2, reduction=reduction, label_smoothing=smoothing)
        run_both(
            torch,
            lambda a, t, kw=kw: F.cross_entropy(a, t, **kw),
            lambda a, t, kw=kw: torch.nn.functional.cross_entropy(a, t, **kw),
            x,
            target,
        )


def test_cross_entropy_gradient_is_softmax_minus_one_hot():
    x = rng(9).standard_normal((4, 5))
    target = np.array([1, 0, 4, 4])
    xm = t64(x)
    F.cross_entropy(xm, target).backward()
    p = np.exp(x) / np.exp(x).sum(axis=1, keepdims=True)
    p[np.arange(4), target] -= 1.0
    close(xm.grad, p / 4, "(softmax - onehot) / N")


def test_cross_entropy_and_nll_gradcheck():
    x = t64(rng(10).standard_normal((4, 3, 2)))
    target = np.array([[0, 2], [1, -100], [2, 2], [0, 1]])
    w = np.array([0.5, 2.0, 1.0])
    assert mg.gradcheck(lambda a: F.cross_entropy(a, target, weight=w), [x])
    assert mg.gradcheck(lambda a: F.cross_entropy(a, target, label_smoothing=0.2), [x])
    assert mg.gradcheck(lambda a: F.nll_loss(a, target, reduction="none"), [x])


def test_all_ignored_and_empty_batches_as_torch(torch):
    x = rng(11).standard_normal((3, 4))
    run_both(
        torch,
        lambda a, t: F.cross_entropy(a, t),
        lambda a, t: torch.nn.functional.cross_entropy(a, t),
        x,
        np.array([-100, -100, -100]),
    )
    for reduction in REDUCTIONS:
        xm = t64(np.ones((0, 4)))
        out = F.cross_entropy(xm, np.zeros(0, dtype=np.int64), reduction=reduction)
        ref = torch.nn.functional.cross_entropy(
            torch.ones(0, 4, dtype=torch.float64),
            torch.zeros(0, dtype=torch.long),
            reduction=reduction,
        )
        close(out, ref.numpy(), f"empty batch, {reduction}")


def test_minus_inf_at_an_ignored_or_unpicked_position_is_not_nan(torch):
    logp = np.array([[-np.inf, -0.1, -2.0], [-np.inf, -np.inf, 0.0]])
    target = np.array([1, -100])  # row 1 ignored, and its class 0 entry is -inf
    for reduction in REDUCTIONS:
        run_both(
            torch,
            lambda a, t, r=reduction: F.nll_loss(a, t, reduction=r),
            lambda a, t, r=reduction: torch.nn.functional.nll_loss(a, t, reduction=r),
            logp,
            target,
        )
    masked_logits = np.array([[-np.inf, 1.0, 2.0], [0.5, -np.inf, 0.0], [-np.inf, 0.0, 1.0]])
    run_both(
        torch,
        lambda a, t: F.cross_entropy(a, t),
        lambda a, t: torch.nn.functional.cross_entropy(a, t),
        masked_logits,
        np.array([2, 0, -100]),
    )
    for reduction in REDUCTIONS:  # smoothing: the ignored row's -inf must give 0, not nan
        run_both(
            torch,
            lambda a, t, r=reduction: F.cross_entropy(a, t, reduction=r, label_smoothing=0.1),
            lambda a, t, r=reduction: torch.nn.functional.cross_entropy(
                a, t, reduction=r, label_smoothing=0.1
            ),
            masked_logits[[2, 1]],
            np.array([-100, 0]),
        )


def test_target_types_lists_and_int32_are_accepted():
    x = t64(rng(12).standard_normal((3, 4)))
    ref = F.cross_entropy(x, mg.tensor(np.array([0, 3, 1]))).item()
    assert F.cross_entropy(x, [0, 3, 1]).item() == ref
    assert F.cross_entropy(x, np.array([0, 3, 1], dtype=np.int32)).item() == ref
    assert (
        F.nll_loss(x, np.array([0, 3, 1], dtype=np.uint8)).item() == F.nll_loss(x, [0, 3, 1]).item()
    )


def test_float32_cross_entropy_matches_torch(torch):
    x = rng(13).standard_normal((64, 10)).astype(np.float32)
    target = rng(14).integers(0, 10, 64)
    xm = mg.tensor(x, requires_grad=True)
    xt = torch.tensor(x, requires_grad=True)
    out = F.cross_entropy(xm, target)
    ref = torch.nn.functional.cross_entropy(xt, torch.tensor(target))
    assert out.dtype == np.float32
    out.backward()
    ref.backward()
    close(out, ref.detach().numpy(), "float32 forward", tol=1e-5)
    close(xm.grad, xt.grad.numpy(), "float32 gradient", tol=1e-5)


# =========================================================================================
# cross_entropy with class probabilities
# =========================================================================================


@pytest.mark.parametrize("shape", [(5, 4), (3, 4, 2), (4,)])
@pytest.mark.parametrize("reduction", REDUCTIONS)
@pytest.mark.parametrize("weighted", [False, True])
@pytest.mark.parametrize("smoothing", [0.0, 0.25])
def test_cross_entropy_probabilities_vs_torch(torch, shape, reduction, weighted, smoothing):
    x = rng(15).standard_normal(shape)
    class_dim = 1 if len(shape) > 1 else 0
    raw = rng(16).random(shape)
    probs = raw / raw.sum(axis=class_dim, keepdims=True)
    num_classes = shape[class_dim]
    w = rng(17).uniform(0.2, 2.0, num_classes) if weighted else None
    wt = None if w is None else torch.tensor(w)
    kw = dict(reduction=reduction, label_smoothing=smoothing)
    run_both(
        torch,
        lambda a, t: F.cross_entropy(a, t, weight=w, **kw),
        lambda a, t: torch.nn.functional.cross_entropy(a, t, weight=wt, **kw),
        x,
        probs,
        target_grad=True,
    )


def test_cross_entropy_probabilities_gradcheck_and_one_hot_equivalence():
    x = t64(rng(18).standard_normal((4, 3)))
    probs = t64(rng(19).dirichlet(np.ones(3), 4))
    assert mg.gradcheck(lambda a, t: F.cross_entropy(a, t, label_smoothing=0.1), [x, probs])
    target = np.array([2, 0, 1, 1])
    one_hot = np.eye(3)[target]
    close(F.cross_entropy(x, one_hot), F.cross_entropy(x, target).numpy(), "one-hot = index")


def test_cross_entropy_probabilities_empty_batch(torch):
    out = F.cross_entropy(t64(np.ones((0, 3))), np.ones((0, 3)))
    ref = torch.nn.functional.cross_entropy(torch.ones(0, 3), torch.ones(0, 3))
    assert np.isnan(out.item()) and np.isnan(ref.item())


# =========================================================================================
# Errors
# =========================================================================================


@pytest.mark.parametrize("fn", [F.cross_entropy, F.nll_loss])
def test_class_index_errors(fn):
    name = fn.__name__
    x = t64(np.zeros((3, 4)))
    with pytest.raises(IndexError, match=rf"{name}: target 4 is out of bounds for 4 classes"):
        fn(x, [0, 4, 1])
    with pytest.raises(IndexError, match=rf"{name}: target -1 is out of bounds"):
        fn(x, [0, -1, 1])
    with pytest.raises(IndexError, match=rf"{name}: target 7 is out of bounds"):
        fn(x, [0, 7, 1], ignore_index=0)
    with pytest.raises(
        ValueError, match=rf"{name}: .* target must have shape \(3,\), got \(3, 1\)"
    ):
        fn(x, np.zeros((3, 1), dtype=np.int64))
    with pytest.raises(ValueError, match=rf"{name}: .* must have shape \(3, 2\)"):
        fn(t64(np.zeros((3, 4, 2))), [0, 1, 2])
    with pytest.raises(TypeError, match=rf"{name}: .*target must be"):
        fn(x, np.array([True, False, True]))
    with pytest.raises(ValueError, match=rf"{name}: reduction must be one of"):
        fn(x, [0, 1, 2], reduction="avg")
    with pytest.raises(ValueError, match=rf"{name}: weight must be a 1-d tensor of 4 class"):
        fn(x, [0, 1, 2], weight=np.ones(3))
    with pytest.raises(ValueError, match=rf"{name}: weight requires grad"):
        fn(x, [0, 1, 2], weight=t64(np.ones(4)))
    with pytest.raises(ValueError, match=rf"{name}: input must be \(N, C, ...\) or \(C,\)"):
        fn(t64(1.0), 0)
    with pytest.raises(TypeError, match=rf"{name}: input must be a floating tensor"):
        fn(mg.tensor([[1, 2]]), [0])
    with pytest.raises(TypeError, match=rf"{name}: input must be a Tensor"):
        fn(np.zeros((3, 4)), [0, 1, 2])
    with pytest.raises(TypeError, match=rf"{name}: ignore_index must be an int"):
        fn(x, [0, 1, 2], ignore_index=1.5)


def test_nll_loss_rejects_float_targets():
    with pytest.raises(TypeError, match="nll_loss: class-index target must be an integer tensor"):
        F.nll_loss(t64(np.zeros((3, 4))), np.array([0.0, 1.0, 2.0]))


def test_cross_entropy_probability_and_smoothing_errors():
    x = t64(np.zeros((3, 4)))
    with pytest.raises(ValueError, match=r"cross_entropy: class-probability target .* \(3, 4\)"):
        F.cross_entropy(x, np.array([0.0, 1.0, 2.0]))
    with pytest.raises(ValueError, match="cross_entropy: ignore_index=1 is not supported"):
        F.cross_entropy(x, np.full((3, 4), 0.25), ignore_index=1)
    with pytest.raises(ValueError, match=r"cross_entropy: label_smoothing must be in \[0, 1\]"):
        F.cross_entropy(x, [0, 1, 2], label_smoothing=1.5)


# =========================================================================================
# mse_loss / l1_loss
# =========================================================================================


@pytest.mark.parametrize("name", ["mse_loss", "l1_loss"])
@pytest.mark.parametrize("reduction", REDUCTIONS)
@pytest.mark.parametrize("shape", [(4, 3), (5,), ()])
def test_regression_losses_vs_torch(torch, name, reduction, shape):
    x = rng(20).standard_normal(shape)
    target = rng(21).standard_normal(shape)
    run_both(
        torch,
        lambda a, t: getattr(F, name)(a, t, reduction=reduction),
        lambda a, t: getattr(torch.nn.functional, name)(a, t, reduction=reduction),
        x,
        target,
        target_grad=True,
    )


def test_l1_gradient_at_equal_values_is_zero_as_torch(torch):
    x = np.array([1.0, 2.0, 3.0])
    target = np.array([1.0, 0.0, 5.0])
    run_both(
        torch,
        lambda a, t: F.l1_loss(a, t),
        lambda a, t: torch.nn.functional.l1_loss(a, t),
        x,
        target,
        target_grad=True,
    )


def test_regression_losses_gradcheck():
    x, t = t64(rng(22).standard_normal((3, 2))), t64(rng(23).standard_normal((3, 2)))
    assert mg.gradcheck(lambda a, b: F.mse_loss(a, b, reduction="sum"), [x, t])
    assert mg.gradcheck(lambda a, b: F.l1_loss(a, b), [x, t])
    assert not hasattr(F, "mse")  # one name: PyTorch's
    manual = ((x.numpy() - t.numpy()) ** 2).mean()
    close(F.mse_loss(x, t), np.asarray(manual), "mse = mean of squares")


def test_regression_loss_errors():
    x = t64(np.zeros((3, 1)))
    with pytest.raises(ValueError, match=r"mse_loss: input shape \(3, 1\) and target shape \(3,\)"):
        F.mse_loss(x, np.zeros(3))
    with pytest.raises(ValueError, match=r"l1_loss: input shape \(3, 1\) and target shape \(3,\)"):
        F.l1_loss(x, np.zeros(3))
    with pytest.raises(ValueError, match="l1_loss: reduction must be one of"):
        F.l1_loss(x, np.zeros((3, 1)), reduction="mean ")


# =========================================================================================
# Modules
# =========================================================================================


def test_softmax_modules(torch):
    x = rng(24).standard_normal((2, 3, 4))
    close(nn.Softmax(dim=1)(t64(x)), torch.softmax(torch.tensor(x), 1).numpy(), "Softmax")
    close(nn.LogSoftmax(-1)(t64(x)), torch.log_softmax(torch.tensor(x), -1).numpy(), "LogSoftmax")
    assert repr(nn.Softmax(dim=1)) == "Softmax(dim=1)"
    with pytest.raises(TypeError):
        nn.Softmax()
    with pytest.raises(TypeError, match="LogSoftmax: dim must be an int"):
        nn.LogSoftmax(dim=None)


def test_loss_modules_match_functional(torch):
    x = t64(rng(25).standard_normal((5, 3)))
    target = np.array([0, 2, 1, -100, 2])
    w = np.array([1.0, 0.5, 2.0])
    ce = nn.CrossEntropyLoss(weight=mg.tensor(w), label_smoothing=0.1)
    close(ce(x, target), F.cross_entropy(x, target, weight=w, label_smoothing=0.1).numpy())
    ref = torch.nn.CrossEntropyLoss(weight=torch.tensor(w), label_smoothing=0.1)
    close(ce(x, target), ref(torch.tensor(x.numpy()), torch.tensor(target)).numpy(), "vs torch")
    assert "weight" in ce.state_dict() and "weight" not in nn.CrossEntropyLoss().state_dict()
    nll = nn.NLLLoss(reduction="sum", ignore_index=2)
    target = np.array([0, 2, 1, 1, 2])
    close(nll(x, target), F.nll_loss(x, target, reduction="sum", ignore_index=2).numpy())
    ref = torch.nn.NLLLoss(reduction="sum", ignore_index=2)
    close(nll(x, target), ref(torch.tensor(x.numpy()), torch.tensor(target)).numpy(), "NLLLoss")
    y = t64(rng(26).standard_normal((5, 3)))
    close(nn.MSELoss(reduction="none")(x, y), F.mse_loss(x, y, reduction="none").numpy())
    close(nn.L1Loss()(x, y), F.l1_loss(x, y).numpy())
    assert repr(nn.MSELoss()) == "MSELoss(reduction='mean')"


def test_loss_module_constructor_errors():
    with pytest.raises(ValueError, match="CrossEntropyLoss: reduction must be one of"):
        nn.CrossEntropyLoss(reduction="batchmean")
    with pytest.raises(ValueError, match="CrossEntropyLoss: label_smoothing must be in"):
        nn.CrossEntropyLoss(label_smoothing=-0.1)
    with pytest.raises(ValueError, match="NLLLoss: weight must be 1-d"):
        nn.NLLLoss(weight=np.ones((2, 2)))
    with pytest.raises(ValueError, match="L1Loss: reduction must be one of"):
        nn.L1Loss(reduction=None)


def test_a_tiny_classifier_trains_with_cross_entropy():
    mg.manual_seed(0)
    g = rng(27)
    centers = g.standard_normal((3, 2)) * 3
    labels = g.integers(0, 3, 90)
    x = mg.tensor((centers[labels] + g.standard_normal((90, 2)) * 0.3).astype(np.float32))
    model = nn.Linear(2, 3)
    loss_fn = nn.CrossEntropyLoss()
    opt = mg.optim.SGD(model.parameters(), lr=0.5)
    first = None
    for _ in range(30):
        opt.zero_grad()
        loss = loss_fn(model(x), labels)
        loss.backward()
        opt.step()
        first = loss.item() if first is None else first
    accuracy = (model(x).numpy().argmax(axis=1) == labels).mean()
    assert loss.item() < 0.5 * first and accuracy > 0.9
