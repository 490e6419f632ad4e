# tests/test_optim.py: SGD and Adam against torch.optim (float64, same parameters and the
# same gradient sequence), the one-kernel-call-per-device contract of Adam, bit-for-bit
# resume through state_dict, and argument validation.
"""Tests for minigan.optim."""

from __future__ import annotations

import copy

import numpy as np
import pytest

import minigan
from minigan import backend, nn, optim
from minigan.nn import functional as F
from minigan.tensor import Tensor

SHAPES = [(4, 3), (3,), (2, 3, 2, 2)]


@pytest.fixture
def torch():
    return pytest.importorskip("torch")


def make_params(dtype=np.float64, seed: int = 0) -> list[nn.Parameter]:
    r = np.random.default_rng(seed)
    return [nn.Parameter(r.standard_normal(s).astype(dtype)) for s in SHAPES]


def grad_sequence(steps: int, seed: int = 1) -> list[list[np.ndarray]]:
    r = np.random.default_rng(seed)
    return [[r.standard_normal(s) for s in SHAPES] for _ in range(steps)]


def run_minigan(opt_factory, params, grads, skip: set[tuple[int, int]] = frozenset()):
    """Apply the gradient sequence; (step, index) in `skip` leaves that grad None."""
    opt = opt_factory(params)
    for k, gs in enumerate(grads):
        opt.zero_grad()
        for i, (p, g) in enumerate(zip(params, gs, strict=True)):
            if (k, i) not in skip:
                p.grad = Tensor(g, dtype=p.dtype)
        opt.step()
    return opt


def run_torch(torch, opt_factory, values, grads, skip=frozenset()):
    params = [torch.tensor(v, requires_grad=True) for v in values]
    opt = opt_factory(params)
    for k, gs in enumerate(grads):
        opt.zero_grad(set_to_none=True)
        for i, (p, g) in enumerate(zip(params, gs, strict=True)):
            if (k, i) not in skip:
                p.grad = torch.tensor(g, dtype=p.dtype)
        opt.step()
    return params


SGD_CONFIGS = [
    {"lr": 0.1},
    {"lr": 0.05, "momentum": 0.9},
    {"lr": 0.05, "momentum": 0.8, "nesterov": True},
    {"lr": 0.1, "momentum": 0.5, "weight_decay": 0.01},
    {"lr": 0.1, "weight_decay": 0.1, "momentum": 0.9, "nesterov": True},
]


@pytest.mark.parametrize("cfg", SGD_CONFIGS, ids=str)
def test_sgd_matches_torch(torch, cfg):
    params = make_params()
    values = [p.numpy().copy() for p in params]
    grads = grad_sequence(5)
    run_minigan(lambda ps: optim.SGD(ps, **cfg), params, grads)
    expected = run_torch(torch, lambda ps: torch.optim.SGD(ps, **cfg), values, grads)
    for p, e, v in zip(params, expected, values, strict=True):
        np.testing.assert_allclose(p.numpy(), e.detach().numpy(), rtol=1e-13, atol=1e-14)
        assert np.all(p.numpy() != v)  # every element moved


ADAM_CONFIGS = [
    {},
    {"lr": 0.01, "betas": (0.8, 0.99), "eps": 1e-6},
    {"lr": 0.02, "weight_decay": 0.1},
    {"lr": 0.005, "betas": (0.0, 0.5), "weight_decay": 0.01},
]


@pytest.mark.parametrize("cfg", ADAM_CONFIGS, ids=str)
def test_adam_matches_torch(torch, cfg):
    params = make_params()
    values = [p.numpy().copy() for p in params]
    grads = grad_sequence(5)
    run_minigan(lambda ps: optim.Adam(ps, **cfg), params, grads)
    expected = run_torch(torch, lambda ps: torch.optim.Adam(ps, **cfg), values, grads)
    for p, e, v in zip(params, expected, values, strict=True):
        np.testing.assert_allclose(p.numpy(), e.detach().numpy(), rtol=1e-12, atol=1e-14)
        assert np.all(p.numpy() != v)  # every element moved


def test_adam_float32_matches_torch(torch):
    params = make_params(np.float32)
    values = [p.numpy().copy() for p in params]
    grads = grad_sequence(5)
    run_minigan(lambda ps: optim.Adam(ps, lr=0.01, weight_decay=0.05), params, grads)
    expected = run_torch(
        torch, lambda ps: torch.optim.Adam(ps, lr=0.01, weight_decay=0.05), values, grads
    )
    for p, e in zip(params, expected, strict=True):
        assert p.dtype == np.float32
        np.testing.assert_allclose(p.numpy(), e.detach().numpy(), rtol=1e-5, atol=1e-6)


@pytest.mark.parametrize("name", ["sgd", "adam"])
def test_parameters_without_grad_are_skipped_like_torch(torch, name):
    """A parameter with grad None is untouched; Adam's per-parameter step count then
    differs between parameters, as in PyTorch."""
    factories = {
        "sgd": (
            lambda ps: optim.SGD(ps, lr=0.1, momentum=0.9),
            lambda ps: torch.optim.SGD(ps, lr=0.1, momentum=0.9),
        ),
        "adam": (lambda ps: optim.Adam(ps, lr=0.05), lambda ps: torch.optim.Adam(ps, lr=0.05)),
    }
    mg_factory, t_factory = factories[name]
    params = make_params()
    values = [p.numpy().copy() for p in params]
    grads = grad_sequence(4)
    skip = {(0, 1), (1, 1), (2, 0)}
    opt = run_minigan(mg_factory, params, grads, skip)
    expected = run_torch(torch, t_factory, values, grads, skip)
    for p, e in zip(params, expected, strict=True):
        np.testing.assert_allclose(p.numpy(), e.detach().numpy(), rtol=1e-12, atol=1e-14)
    if name == "adam":
        assert [s["step"] for s in opt.state] == [3, 2, 4]


def test_adam_calls_the_backend_kernel_once_per_step(monkeypatch):
    calls = []
    real_kernel = backend.kernel

    def spy(name, device, dtype=None):
        fn = real_kernel(name, device, dtype)
        if name != "adam_step":
            return fn

        def wrapped(params, grads, exp_avgs, exp_avg_sqs, step, *args):
            calls.append((device, len(params), step))
            return fn(params, grads, exp_avgs, exp_avg_sqs, step, *args)

        return wrapped

    monkeypatch.setattr(backend, "kernel", spy)
    params = make_params(np.float32)
    data_before = [p.data for p in params]
    opt = optim.Adam(params)
    for _ in range(3):
        for p in params:
            p.grad = Tensor(np.ones(p.shape, dtype=np.float32))
        opt.step()
    assert calls == [("cpu", 3, 1), ("cpu", 3, 2), ("cpu", 3, 3)]
    assert all(p.data is d for p, d in zip(params, data_before, strict=True))  # in place
    assert all(s["exp_avg"].dtype == np.float32 for s in opt.state)


def test_updates_record_no_graph():
    model = nn.Linear(3, 2)
    for opt in (
        optim.SGD(model.parameters(), lr=0.1, momentum=0.9),
        optim.Adam(model.parameters()),
    ):
        F.mse_loss(model(minigan.randn(4, 3)), np.zeros((4, 2), np.float32)).backward()
        opt.step()
        for p in model.parameters():
            assert isinstance(p, nn.Parameter) and p.is_leaf and p.grad_fn is None
            assert p.requires_grad
        opt.zero_grad()
        assert all(p.grad is None for p in model.parameters())


def test_whole_training_steps_match_torch(torch):
    """Same MLP, same data: forward, loss, backward and Adam for 4 steps, in float64."""
    mg = nn.Sequential(nn.Linear(5, 8), nn.LeakyReLU(0.2), nn.Linear(8, 1)).double()
    tm = torch.nn.Sequential(torch.nn.Linear(5, 8), torch.nn.LeakyReLU(0.2), torch.nn.Linear(8, 1))
    tm.double()
    mg.load_state_dict({k: v.detach().numpy() for k, v in tm.state_dict().items()})
    opt = optim.Adam(mg.parameters(), lr=0.01, weight_decay=1e-3)
    topt = torch.optim.Adam(tm.parameters(), lr=0.01, weight_decay=1e-3)
    r = np.random.default_rng(0)
    for _ in range(4):
        x, t = r.standard_normal((16, 5)), (r.uniform(size=(16, 1)) > 0.5).astype(np.float64)
        opt.zero_grad()
        loss = F.binary_cross_entropy_with_logits(mg(Tensor(x)), t)
        loss.backward()
        opt.step()
        topt.zero_grad()
        tloss = torch.nn.functional.binary_cross_entropy_with_logits(
            tm(torch.tensor(x)), torch.tensor(t)
        )
        tloss.backward()
        topt.step()
        np.testing.assert_allclose(loss.item(), tloss.item(), rtol=1e-12)
    for k, v in tm.state_dict().items():
        np.testing.assert_allclose(mg.state_dict()[k], v.numpy(), rtol=1e-11, atol=1e-13)


# ----------------------------------------------------------------- state_dict / resume

OPTIMIZERS = {
    "sgd": lambda ps: optim.SGD(ps, lr=0.05, momentum=0.9, nesterov=True, weight_decay=0.01),
    "adam": lambda ps: optim.Adam(ps, lr=0.01, betas=(0.8, 0.95), weight_decay=0.01),
}


@pytest.mark.parametrize("name", sorted(OPTIMIZERS))
def test_resume_from_state_dict_is_bit_for_bit(name, tmp_path):
    factory = OPTIMIZERS[name]
    grads = grad_sequence(3)
    # 3 steps straight
    straight = make_params(np.float32)
    run_minigan(factory, straight, grads)
    # 2 steps, save (through a file, like a checkpoint), fresh params + optimizer, 1 step
    first = make_params(np.float32)
    opt = run_minigan(factory, first, grads[:2])
    saved = minigan.load(minigan.save(opt.state_dict(), tmp_path / "opt.safetensors"))
    assert all(isinstance(v, np.ndarray | int) for s in saved["state"] for v in s.values())
    resumed = [nn.Parameter(p.numpy().copy()) for p in first]
    opt2 = factory(resumed)
    opt2.lr = 123.0  # overwritten by the loaded hyper-parameters
    opt2.load_state_dict(saved)
    assert opt2.lr == opt.lr
    for p, g in zip(resumed, grads[2], strict=True):
        p.grad = Tensor(g, dtype=p.dtype)
    opt2.step()
    for a, b in zip(straight, resumed, strict=True):
        assert np.array_equal(a.numpy(), b.numpy())
    # without the state the third step differs (the test can fail)
    fresh = [nn.Parameter(p.numpy().copy()) for p in first]
    run_minigan(factory, fresh, grads[2:])
    assert not all(
        np.array_equal(a.numpy(), b.numpy()) for a, b in zip(straight, fresh, strict=True)
    )


def test_state_dict_holds_copies():
    params = make_params()
    opt = run_minigan(lambda ps: optim.Adam(ps), params, grad_sequence(1))
    sd = opt.state_dict()
    assert sd["hyperparameters"] == {
        "lr": 1e-3,
        "betas": (0.9, 0.999),
        "eps": 1e-8,
        "weight_decay": 0.0,
    }
    assert sd["state"][0]["step"] == 1
    sd["state"][0]["exp_avg"][...] = 0
    assert np.any(opt.state[0]["exp_avg"] != 0)
    opt.load_state_dict(sd)
    sd["state"][0]["exp_avg_sq"][...] = 0  # loading copied the arrays in
    assert np.any(opt.state[0]["exp_avg_sq"] != 0)


def test_load_state_dict_rejects_mismatches():
    opt = run_minigan(lambda ps: optim.Adam(ps), make_params(), grad_sequence(1))
    sd = opt.state_dict()
    with pytest.raises(ValueError, match="3 parameters"):
        optim.Adam(make_params()[:2]).load_state_dict(sd)
    with pytest.raises(ValueError, match="Adam"):
        optim.SGD(make_params(), lr=0.1).load_state_dict(sd)
    bad = copy.deepcopy(sd)
    bad["state"][0]["exp_avg"] = np.zeros((2, 2))
    with pytest.raises(ValueError, match="expected shape"):
        optim.Adam(make_params()).load_state_dict(bad)


# ----------------------------------------------------------------- validation


def test_invalid_parameter_lists():
    with pytest.raises(ValueError, match="empty"):
        optim.SGD([], lr=0.1)
    with pytest.raises(ValueError, match="empty"):
        optim.Adam(iter([]))
    with pytest.raises(TypeError, match="Parameter"):
        optim.Adam([minigan.zeros(3, requires_grad=True)])
    with pytest.raises(ValueError, match="requires_grad"):
        optim.Adam([nn.Parameter(np.zeros(3), requires_grad=False)])
    p = nn.Parameter(np.zeros(3))
    with pytest.raises(ValueError, match="more than once"):
        optim.SGD([p, p], lr=0.1)
    opt = optim.SGD(nn.Linear(2, 2).parameters(), lr=0.1)  # a generator is fine
    assert len(opt.params) == 2


@pytest.mark.parametrize(
    "kwargs",
    [
        {"lr": -1.0},
        {"betas": (1.0, 0.9)},
        {"betas": (0.9, -0.1)},
        {"eps": -1e-8},
        {"weight_decay": -0.1},
    ],
)
def test_adam_rejects_invalid_hyperparameters(kwargs):
    with pytest.raises(ValueError, match="invalid"):
        optim.Adam(make_params(), **kwargs)


def test_sgd_rejects_invalid_hyperparameters():
    with pytest.raises(ValueError, match="invalid lr"):
        optim.SGD(make_params(), lr=-0.1)
    with pytest.raises(ValueError, match="nesterov"):
        optim.SGD(make_params(), lr=0.1, nesterov=True)
    with pytest.raises(ValueError, match="momentum"):
        optim.SGD(make_params(), lr=0.1, momentum=-0.5)
