# tests/test_nn.py: minigan.nn against PyTorch (CPU, float64) as an independent oracle:
# every layer's forward and backward (input and parameter gradients), BatchNorm running
# statistics, Dropout statistics, Sequential fusion, init distributions, Module plumbing
# (registration, state_dict, train/eval, to) and the losses in nn.functional.
"""Tests for minigan.nn."""

from __future__ import annotations

import math

import numpy as np
import pytest
from helpers import device_params

import minigan
from minigan import autograd, nn
from minigan.nn import functional as F
from minigan.nn import init
from minigan.tensor import Tensor

TOL = 1e-10  # float64 against float64: only summation order differs


@pytest.fixture
def torch():
    return pytest.importorskip("torch")


def rng(seed: int = 0) -> np.random.Generator:
    return np.random.default_rng(seed)


def close(actual, expected, tol: float = TOL, what: str = "") -> None:
    """|a - e| <= tol * (1 + |e|) elementwise."""
    a = actual.numpy() if isinstance(actual, Tensor) else np.asarray(actual)
    e = expected.detach().numpy() if hasattr(expected, "detach") else np.asarray(expected)
    assert a.shape == e.shape, f"{what}: shape {a.shape} != {e.shape}"
    np.testing.assert_allclose(a, e, rtol=tol, atol=tol, err_msg=what)


def copy_torch_into(mg_module: nn.Module, t_module) -> None:
    """Load the torch module's parameters and buffers into the minigan module (float64)."""
    mg_module.double()
    t_module.double()
    mg_module.load_state_dict({k: v.detach().numpy() for k, v in t_module.state_dict().items()})


def run_both(torch, mg_module, t_module, x_np: np.ndarray, seed: int = 1):
    """Forward + backward with the same input and upstream gradient through both modules.

    Returns (mg output, torch output, mg input, torch input) after backward.
    """
    x = Tensor(x_np, dtype=np.float64, requires_grad=True)
    xt = torch.tensor(x_np, dtype=torch.float64, requires_grad=True)
    y, yt = mg_module(x), t_module(xt)
    assert y.shape == tuple(yt.shape)
    g = rng(seed).standard_normal(y.shape)
    y.backward(g)
    yt.backward(torch.tensor(g))
    return y, yt, x, xt


def compare_grads(mg_module, t_module, x, xt, tol: float = TOL) -> None:
    close(x.grad, xt.grad, tol, "input grad")
    t_params = dict(t_module.named_parameters())
    mg_params = dict(mg_module.named_parameters())
    assert sorted(mg_params) == sorted(t_params)
    for name, p in mg_params.items():
        assert p.grad is not None, name
        close(p.grad, t_params[name].grad, tol, f"grad of {name}")


def check_against_torch(torch, mg_module, t_module, x_np: np.ndarray, tol: float = TOL):
    copy_torch_into(mg_module, t_module)
    y, yt, x, xt = run_both(torch, mg_module, t_module, x_np)
    close(y, yt, tol, "output")
    compare_grads(mg_module, t_module, x, xt, tol)


def torch_act(torch, act: str, slope: float = 0.01):
    return {
        "none": torch.nn.Identity(),
        "relu": torch.nn.ReLU(),
        "leaky_relu": torch.nn.LeakyReLU(slope),
        "tanh": torch.nn.Tanh(),
        "sigmoid": torch.nn.Sigmoid(),
    }[act]


# ----------------------------------------------------------------- layers vs torch


@pytest.mark.parametrize("act", ["none", "relu", "leaky_relu", "tanh", "sigmoid"])
@pytest.mark.parametrize("bias", [True, False])
def test_linear_with_fused_activation_matches_torch(torch, act, bias):
    mg = nn.Linear(7, 5, bias=bias, activation=act, slope=0.2)
    lin = torch.nn.Linear(7, 5, bias=bias)
    copy_torch_into(mg, lin)
    chain = torch.nn.Sequential(lin, torch_act(torch, act, 0.2))
    y, yt, x, xt = run_both(torch, mg, chain, rng().standard_normal((6, 7)) * 2)
    close(y, yt, what=f"Linear(activation={act})")
    close(x.grad, xt.grad, what="input grad")
    close(mg.weight.grad, lin.weight.grad, what="weight grad")
    if bias:
        close(mg.bias.grad, lin.bias.grad, what="bias grad")


@pytest.mark.parametrize("shape", [(2, 3, 7), (7,), (1, 1, 2, 7)])
def test_linear_flattens_leading_dims(torch, shape):
    check_against_torch(torch, nn.Linear(7, 4), torch.nn.Linear(7, 4), rng().standard_normal(shape))


@pytest.mark.parametrize(
    "cin,cout,k,stride,padding,bias,hw",
    [
        (3, 4, 3, 1, 1, True, (7, 6)),
        (2, 5, (2, 3), 2, 0, False, (9, 8)),
        (1, 3, 4, 2, 1, True, (8, 8)),
    ],
)
def test_conv2d_matches_torch(torch, cin, cout, k, stride, padding, bias, hw):
    mg = nn.Conv2d(cin, cout, k, stride=stride, padding=padding, bias=bias)
    t = torch.nn.Conv2d(cin, cout, k, stride=stride, padding=padding, bias=bias)
    check_against_torch(torch, mg, t, rng().standard_normal((2, cin) + hw))


@pytest.mark.parametrize(
    "cin,cout,k,stride,padding,out_pad,bias,hw",
    [
        (3, 2, 4, 2, 1, 0, True, (4, 5)),
        (2, 3, 3, 2, 1, 1, False, (3, 3)),
        (4, 1, (3, 2), 1, 0, 0, True, (5, 4)),
    ],
)
def test_conv_transpose2d_matches_torch(torch, cin, cout, k, stride, padding, out_pad, bias, hw):
    mg = nn.ConvTranspose2d(cin, cout, k, stride, padding, out_pad, bias=bias)
    t = torch.nn.ConvTranspose2d(cin, cout, k, stride, padding, out_pad, bias=bias)
    assert mg.weight.shape == tuple(t.weight.shape)
    check_against_torch(torch, mg, t, rng().standard_normal((2, cin) + hw))


def _batchnorm_case(torch, mg_cls, t_cls, shape, **kwargs):
    """Several training steps (output, grads, running stats each step), then eval."""
    mg, t = mg_cls(shape[1], **kwargs), t_cls(shape[1], **kwargs)
    with torch.no_grad():  # non-trivial affine parameters
        if t.weight is not None:
            t.weight.copy_(torch.tensor(rng(5).uniform(0.5, 1.5, shape[1])))
            t.bias.copy_(torch.tensor(rng(6).standard_normal(shape[1])))
    copy_torch_into(mg, t)
    for step in range(3):
        mg.zero_grad()
        t.zero_grad()
        x_np = 2.0 + 3.0 * rng(10 + step).standard_normal(shape)
        y, yt, x, xt = run_both(torch, mg, t, x_np, seed=step)
        close(y, yt, 1e-9, f"train output, step {step}")
        compare_grads(mg, t, x, xt, 1e-9)
        if kwargs.get("track_running_stats", True):
            close(mg.running_mean, t.running_mean, what="running_mean")
            close(mg.running_var, t.running_var, what="running_var")
            assert mg.num_batches_tracked.item() == t.num_batches_tracked.item() == step + 1
    mg.eval()
    t.eval()
    mg.zero_grad()
    t.zero_grad()
    y, yt, x, xt = run_both(torch, mg, t, rng(99).standard_normal(shape))
    close(y, yt, 1e-9, "eval output")
    compare_grads(mg, t, x, xt, 1e-9)
    if kwargs.get("track_running_stats", True):  # eval does not touch the running stats
        close(mg.running_mean, t.running_mean, what="running_mean after eval")
        assert mg.num_batches_tracked.item() == 3


BN_OPTIONS = [
    {},
    {"momentum": 0.3, "eps": 1e-3},
    {"momentum": None},
    {"affine": False},
    {"track_running_stats": False},
]


@pytest.mark.parametrize("kwargs", BN_OPTIONS, ids=lambda k: str(k) or "default")
def test_batchnorm1d_train_eval_running_stats_match_torch(torch, kwargs):
    _batchnorm_case(torch, nn.BatchNorm1d, torch.nn.BatchNorm1d, (8, 5), **kwargs)


@pytest.mark.parametrize("kwargs", BN_OPTIONS, ids=lambda k: str(k) or "default")
def test_batchnorm2d_train_eval_running_stats_match_torch(torch, kwargs):
    _batchnorm_case(torch, nn.BatchNorm2d, torch.nn.BatchNorm2d, (3, 4, 5, 3), **kwargs)


def test_batchnorm_buffers_and_defaults():
    bn = nn.BatchNorm2d(3)
    assert [n for n, _ in bn.named_buffers()] == [
        "running_mean",
        "running_var",
        "num_batches_tracked",
    ]
    assert bn.running_mean.numpy().tolist() == [0, 0, 0]
    assert bn.running_var.numpy().tolist() == [1, 1, 1]
    assert bn.num_batches_tracked.dtype == np.int64
    assert bn.weight.numpy().tolist() == [1, 1, 1] and bn.bias.numpy().tolist() == [0, 0, 0]
    assert [n for n, _ in bn.named_parameters()] == ["weight", "bias"]
    assert list(nn.BatchNorm1d(2, track_running_stats=False).buffers()) == []


@pytest.mark.parametrize(
    "make",
    [
        lambda torch: (nn.ReLU(), torch.nn.ReLU()),
        lambda torch: (nn.LeakyReLU(0.2), torch.nn.LeakyReLU(0.2)),
        lambda torch: (nn.LeakyReLU(), torch.nn.LeakyReLU()),
        lambda torch: (nn.Tanh(), torch.nn.Tanh()),
        lambda torch: (nn.Sigmoid(), torch.nn.Sigmoid()),
        lambda torch: (nn.Flatten(), torch.nn.Flatten()),
        lambda torch: (nn.Flatten(0, 2), torch.nn.Flatten(0, 2)),
        lambda torch: (nn.Unflatten(1, (3, 4)), torch.nn.Unflatten(1, (3, 4))),
    ],
    ids=["relu", "leaky0.2", "leaky", "tanh", "sigmoid", "flatten", "flatten02", "unflatten"],
)
def test_parameterless_layers_match_torch(torch, make):
    mg, t = make(torch)
    x_np = rng().standard_normal((2, 12, 3)) * 3
    if isinstance(mg, nn.Unflatten):
        x_np = x_np[:, :, 0]
    y, yt, x, xt = run_both(torch, mg, t, x_np)
    close(y, yt, what="output")
    close(x.grad, xt.grad, what="input grad")


def test_unflatten_infers_minus_one():
    y = nn.Unflatten(1, (1, -1, 28))(minigan.zeros(2, 784))
    assert y.shape == (2, 1, 28, 28)


# ----------------------------------------------------------------- dropout


def test_dropout_statistics_gradient_and_eval_identity():
    p = 0.3
    drop = nn.Dropout(p)
    x = Tensor(np.full((400, 500), 2.0), requires_grad=True)
    y = drop(x)
    out = y.numpy()
    zero_frac = np.mean(out == 0)
    assert abs(zero_frac - p) < 0.005  # 200k Bernoulli draws: std ~ 0.001
    kept = out[out != 0]
    np.testing.assert_allclose(kept, 2.0 / (1 - p), rtol=1e-6)  # inverted scaling
    assert abs(out.mean() - 2.0) < 0.02  # the expectation is kept
    y.sum().backward()
    np.testing.assert_allclose(x.grad.numpy(), out / 2.0, rtol=1e-6)  # dy/dx = m/(1-p)
    drop.eval()
    assert drop(x) is x
    assert F.dropout(x, p, training=False) is x
    assert nn.Dropout(0.0)(x) is x


def test_dropout_is_seeded_and_validates_p():
    x = minigan.ones(50, 40)
    minigan.manual_seed(7)
    a = nn.Dropout(0.5)(x).numpy()
    b = nn.Dropout(0.5)(x).numpy()
    minigan.manual_seed(7)
    a2 = nn.Dropout(0.5)(x).numpy()
    assert np.array_equal(a, a2)
    assert not np.array_equal(a, b)
    for bad in (-0.1, 1.0, 1.5):
        with pytest.raises(ValueError, match="p must be in"):
            nn.Dropout(bad)


# ----------------------------------------------------------------- Sequential fusion


def _count_ops(fn):
    """Run fn() and count the autograd Functions it applies, by name."""
    counts: dict[str, int] = {}

    def hook(event, name, info):
        if event == "forward_start":
            counts[name] = counts.get(name, 0) + 1

    autograd.op_hooks.append(hook)
    try:
        out = fn()
    finally:
        autograd.op_hooks.remove(hook)
    return out, counts


def _mlp():
    return nn.Sequential(
        nn.Linear(6, 8),
        nn.ReLU(),
        nn.Linear(8, 8),
        nn.LeakyReLU(0.2),
        nn.Linear(8, 5),
        nn.Tanh(),
        nn.Linear(5, 4),
        nn.Sigmoid(),
        nn.Linear(4, 3),
    )


def test_sequential_fusion_equals_unfused_path_and_torch(torch):
    model = _mlp().double()
    x_np = rng().standard_normal((5, 6))
    g = rng(1).standard_normal((5, 3))
    results = {}
    for fuse in (True, False):
        model.fuse = fuse
        model.zero_grad()
        x = Tensor(x_np, requires_grad=True)
        y, counts = _count_ops(lambda x=x: model(x))
        y.backward(g)
        results[fuse] = (y.numpy(), x.grad.numpy(), [p.grad.numpy() for p in model.parameters()])
        if fuse:  # every activation went into the linear kernel's epilogue
            assert counts == {"LinearAct": 5}
        else:
            assert counts["LinearAct"] == 5 and counts["ReLU"] == counts["Sigmoid"] == 1
    (yf, gxf, gpf), (yu, gxu, gpu) = results[True], results[False]
    np.testing.assert_allclose(yf, yu, rtol=1e-13, atol=1e-15)
    np.testing.assert_allclose(gxf, gxu, rtol=1e-12, atol=1e-15)
    for a, b in zip(gpf, gpu, strict=True):
        np.testing.assert_allclose(a, b, rtol=1e-12, atol=1e-15)
    # and both equal PyTorch's chain
    tm = torch.nn.Sequential(
        torch.nn.Linear(6, 8),
        torch.nn.ReLU(),
        torch.nn.Linear(8, 8),
        torch.nn.LeakyReLU(0.2),
        torch.nn.Linear(8, 5),
        torch.nn.Tanh(),
        torch.nn.Linear(5, 4),
        torch.nn.Sigmoid(),
        torch.nn.Linear(4, 3),
    )
    model.fuse = True
    model.zero_grad()
    check_against_torch(torch, model, tm, x_np)


def test_sequential_does_not_fuse_into_linear_with_own_activation():
    model = nn.Sequential(nn.Linear(3, 4, activation="tanh"), nn.ReLU())
    x = minigan.randn(2, 3)
    y, counts = _count_ops(lambda: model(x))
    assert counts == {"LinearAct": 1, "ReLU": 1}
    expected = np.maximum(np.tanh(x.numpy() @ model[0].weight.numpy().T + model[0].bias.numpy()), 0)
    np.testing.assert_allclose(y.numpy(), expected, rtol=1e-6, atol=1e-7)


# ----------------------------------------------------------------- init


def _uniform_bound_checks(w: np.ndarray, bound: float) -> None:
    assert np.abs(w).max() <= bound
    assert np.abs(w).max() > 0.99 * bound  # the whole interval is used
    assert abs(w.std() - bound / math.sqrt(3)) < 0.01 * bound  # std of U(-b, b) is b/sqrt(3)
    assert abs(w.mean()) < 0.01 * bound


@pytest.mark.parametrize(
    "make,fan_in",
    [
        (lambda m: m.Linear(600, 400), 600),
        (lambda m: m.Conv2d(32, 64, 5), 32 * 25),
        (lambda m: m.ConvTranspose2d(64, 32, 4), 32 * 16),  # PyTorch: fan_in from weight dim 1
    ],
    ids=["linear", "conv", "convT"],
)
def test_default_init_matches_pytorch_formula(torch, make, fan_in):
    mg, t = make(nn), make(torch.nn)
    bound = 1 / math.sqrt(fan_in)
    _uniform_bound_checks(mg.weight.numpy(), bound)
    tw = t.weight.detach().numpy()
    _uniform_bound_checks(tw, bound)  # the formula really is PyTorch's
    assert abs(mg.weight.numpy().std() - tw.std()) < 0.01 * bound
    for b in (mg.bias.numpy(), t.bias.detach().numpy()):
        assert np.abs(b).max() <= bound
    assert mg.weight.dtype == np.float32


def test_init_is_reproducible_with_manual_seed():
    minigan.manual_seed(123)
    a = nn.Linear(10, 10).weight.numpy().copy()
    minigan.manual_seed(123)
    b = nn.Linear(10, 10).weight.numpy().copy()
    c = nn.Linear(10, 10).weight.numpy().copy()
    assert np.array_equal(a, b) and not np.array_equal(a, c)


def test_init_helpers():
    t = minigan.zeros(200, 300)
    init.normal_(t, 3.0, 0.5)
    assert abs(t.numpy().mean() - 3.0) < 0.01 and abs(t.numpy().std() - 0.5) < 0.01
    init.uniform_(t, -2.0, 1.0)
    assert t.numpy().min() >= -2.0 and t.numpy().max() < 1.0
    assert abs(t.numpy().mean() + 0.5) < 0.02
    assert np.all(init.ones_(t).numpy() == 1) and np.all(init.zeros_(t).numpy() == 0)
    data = t.data
    init.kaiming_uniform_(t, a=0.0)  # ReLU gain sqrt(2): bound sqrt(6 / fan_in)
    assert t.data is data  # in place
    assert np.abs(t.numpy()).max() <= math.sqrt(6 / 300)
    assert np.abs(t.numpy()).max() > 0.99 * math.sqrt(6 / 300)


def test_dcgan_init_statistics():
    model = nn.Sequential(
        nn.ConvTranspose2d(64, 128, 4),
        nn.BatchNorm2d(512),
        nn.Conv2d(128, 64, 4),
        nn.BatchNorm1d(512),
        nn.Linear(300, 200),
    )
    assert init.dcgan_init_(model) is model
    for m in (model[0], model[2], model[4]):
        w = m.weight.numpy()
        assert abs(w.mean()) < 1e-3 and abs(w.std() - 0.02) < 1e-3
        assert np.all(m.bias.numpy() == 0)
    for bn in (model[1], model[3]):
        g = bn.weight.numpy()
        assert abs(g.mean() - 1.0) < 0.005 and abs(g.std() - 0.02) < 0.004
        assert np.all(bn.bias.numpy() == 0)
        assert np.all(bn.running_var.numpy() == 1)  # buffers untouched


# ----------------------------------------------------------------- Module plumbing


class Block(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.fc = nn.Linear(3, 4)
        self.bn = nn.BatchNorm1d(4)
        self.scale = nn.Parameter(np.ones(4, dtype=np.float32))
        self.register_buffer("count", minigan.zeros(1))

    def forward(self, x):
        return self.bn(self.fc(x)) * self.scale


class Net(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.block = Block()
        self.head = nn.Sequential(nn.ReLU(), nn.Dropout(0.5), nn.Linear(4, 2))
        self.tied = self.block  # shared submodule: its parameters are listed once

    def forward(self, x):
        return self.head(self.block(x))


def test_registration_names_order_and_dedup():
    net = Net()
    names = [n for n, _ in net.named_parameters()]
    assert names == [
        "block.scale",
        "block.fc.weight",
        "block.fc.bias",
        "block.bn.weight",
        "block.bn.bias",
        "head.2.weight",
        "head.2.bias",
    ]
    assert len(list(net.parameters())) == 7
    assert net.num_parameters() == 4 + 12 + 4 + 4 + 4 + 8 + 2
    assert [n for n, _ in net.named_buffers()] == [
        "block.count",
        "block.bn.running_mean",
        "block.bn.running_var",
        "block.bn.num_batches_tracked",
    ]
    assert [n for n, _ in net.named_children()] == ["block", "head", "tied"]
    assert len(list(net.modules())) == 1 + 3 + 1 + 3  # net, block(fc, bn), head(relu, drop, fc)
    assert all(
        isinstance(p, nn.Parameter) and p.requires_grad and p.is_leaf for p in net.parameters()
    )
    assert net.block.fc is net.tied.fc


def test_setattr_rules():
    m = nn.Linear(2, 2)
    with pytest.raises(TypeError, match="Parameter"):
        m.weight = minigan.zeros(2, 2)  # a plain tensor cannot replace a Parameter
    m.bias = None
    assert [n for n, _ in m.named_parameters()] == ["weight"]
    assert m(minigan.zeros(1, 2)).numpy().tolist() == [[0.0, 0.0]]
    with pytest.raises(AttributeError, match="no attribute 'nope'"):
        _ = m.nope

    class NoInit(nn.Module):
        def __init__(self):
            self.w = nn.Parameter(np.zeros(2))

    with pytest.raises(AttributeError, match="super"):
        NoInit()


def test_train_eval_propagate():
    net = Net()
    assert all(m.training for m in net.modules())
    assert net.eval() is net
    assert not any(m.training for m in net.modules())
    x = minigan.randn(4, 3)
    np.testing.assert_array_equal(net(x).numpy(), net(x).numpy())  # dropout off, stats frozen
    net.train()
    assert all(m.training for m in net.modules())
    net.head.train(False)
    assert net.training and not net.head[1].training


def test_zero_grad_and_to_cpu_is_a_noop():
    net = Net()
    net(minigan.randn(4, 3)).sum().backward()
    assert all(p.grad is not None for p in net.parameters())
    params = list(net.parameters())
    arrays = [p.data for p in params] + [b.data for b in net.buffers()]
    assert net.to("cpu") is net
    assert all(p is q for p, q in zip(params, net.parameters(), strict=True))
    now = [p.data for p in params] + [b.data for b in net.buffers()]
    assert all(a is b for a, b in zip(arrays, now, strict=True))
    net.zero_grad()
    assert all(p.grad is None for p in net.parameters())


def test_double_keeps_objects_and_integer_buffers():
    net = Net()
    params = list(net.parameters())
    net.double()
    assert all(p is q for p, q in zip(params, net.parameters(), strict=True))
    assert all(p.dtype == np.float64 for p in net.parameters())
    assert net.block.bn.running_mean.dtype == np.float64
    assert net.block.bn.num_batches_tracked.dtype == np.int64


@pytest.mark.parametrize("device", device_params())
def test_to_device_round_trip(device):
    net = Net()
    before = net.state_dict()
    params = list(net.parameters())
    net.to(device)
    assert all(p.device == device for p in net.parameters())
    assert all(b.device == device for b in net.buffers())
    assert all(p is q for p, q in zip(params, net.parameters(), strict=True))
    net.to("cpu")
    after = net.state_dict()
    assert all(np.array_equal(before[k], after[k]) for k in before)


def test_repr_tree():
    text = repr(
        nn.Sequential(nn.Linear(784, 256, activation="leaky_relu", slope=0.2), nn.Dropout(0.3))
    )
    assert text.splitlines() == [
        "Sequential(",
        "  (0): Linear(784 -> 256, bias=True, activation=leaky_relu, slope=0.2)",
        "  (1): Dropout(p=0.3)",
        ")",
    ]
    assert "(block): Block(" in repr(Net()) and "    (fc): Linear(3 -> 4" in repr(Net())


def test_sequential_container():
    a, b, c = nn.Linear(2, 3), nn.ReLU(), nn.Linear(3, 1)
    seq = nn.Sequential(a, b)
    assert seq.append(c) is seq
    assert len(seq) == 3 and seq[0] is a and seq[-1] is c and list(seq) == [a, b, c]
    sub = seq[1:]
    assert isinstance(sub, nn.Sequential) and list(sub) == [b, c]
    assert [n for n, _ in seq.named_parameters()] == ["0.weight", "0.bias", "2.weight", "2.bias"]
    with pytest.raises(IndexError):
        seq[3]
    with pytest.raises(TypeError):
        seq.append(lambda x: x)


# ----------------------------------------------------------------- state_dict


def test_state_dict_round_trip_copies_and_order():
    minigan.manual_seed(1)
    a = Net()
    minigan.manual_seed(2)
    b = Net()
    a(minigan.randn(5, 3))  # update a's running stats so buffers differ too
    sd = a.state_dict()
    block_keys = [
        "scale",
        "count",
        "fc.weight",
        "fc.bias",
        "bn.weight",
        "bn.bias",
        "bn.running_mean",
        "bn.running_var",
        "bn.num_batches_tracked",
    ]
    # a shared submodule is saved under each of its names (like PyTorch)
    assert list(sd) == (
        [f"block.{k}" for k in block_keys]
        + ["head.2.weight", "head.2.bias"]
        + [f"tied.{k}" for k in block_keys]
    )
    assert all(isinstance(v, np.ndarray) for v in sd.values())
    sd["block.fc.weight"][...] = 0  # a copy: the module is untouched
    assert np.any(a.block.fc.weight.numpy() != 0)
    sd = a.state_dict()
    weight_obj, weight_arr = b.block.fc.weight, b.block.fc.weight.data
    b.load_state_dict(sd)
    assert b.block.fc.weight is weight_obj and b.block.fc.weight.data is weight_arr  # in place
    assert b.block.fc.weight.dtype == np.float32
    assert b.block.bn.num_batches_tracked.item() == 1
    a.eval()
    b.eval()
    x = minigan.randn(3, 3)
    np.testing.assert_array_equal(a(x).numpy(), b(x).numpy())
    # Tensors are accepted as values, and float64 values are cast to the tensor's dtype
    b.load_state_dict(
        {
            k: Tensor(v.astype(np.float64) * 0 + 1 if v.dtype.kind == "f" else v)
            for k, v in sd.items()
        }
    )
    assert np.all(b.block.fc.weight.numpy() == 1) and b.block.fc.weight.dtype == np.float32


def test_state_dict_order_is_params_then_buffers_per_module():
    keys = list(nn.Sequential(nn.Linear(2, 2), nn.BatchNorm1d(2)).state_dict())
    assert keys == [
        "0.weight",
        "0.bias",
        "1.weight",
        "1.bias",
        "1.running_mean",
        "1.running_var",
        "1.num_batches_tracked",
    ]


def test_state_dict_keys_match_torch(torch):
    mg = nn.Sequential(nn.Conv2d(1, 2, 3), nn.BatchNorm2d(2), nn.ConvTranspose2d(2, 1, 2))
    t = torch.nn.Sequential(
        torch.nn.Conv2d(1, 2, 3), torch.nn.BatchNorm2d(2), torch.nn.ConvTranspose2d(2, 1, 2)
    )
    assert list(mg.state_dict()) == list(t.state_dict())
    assert {k: v.shape for k, v in mg.state_dict().items()} == {
        k: tuple(v.shape) for k, v in t.state_dict().items()
    }


def test_load_state_dict_lists_every_problem_at_once():
    model = nn.Sequential(nn.Linear(3, 4), nn.BatchNorm1d(4))
    before = model.state_dict()
    bad = dict(before)
    del bad["0.bias"]
    del bad["1.running_var"]
    bad["extra.weight"] = np.zeros(2)
    bad["0.weight"] = np.zeros((4, 2))
    bad["1.weight"] = np.ones(4, dtype=np.float32) * 5  # valid: would be copied if loaded
    with pytest.raises(nn.StateDictError) as info:
        model.load_state_dict(bad)
    msg = str(info.value)
    for piece in (
        "0.bias",
        "1.running_var",
        "extra.weight",
        "0.weight: expected shape (4, 3), got (4, 2)",
    ):
        assert piece in msg, msg
    assert isinstance(info.value, KeyError) and isinstance(info.value, ValueError)
    after = model.state_dict()  # nothing was copied
    assert all(np.array_equal(before[k], after[k]) for k in before)
    # strict=False ignores missing/unexpected keys, loads the rest, still refuses bad shapes
    with pytest.raises(ValueError, match="0.weight"):
        model.load_state_dict(bad, strict=False)
    del bad["0.weight"]
    result = model.load_state_dict(bad, strict=False)
    assert sorted(result.missing_keys) == ["0.bias", "0.weight", "1.running_var"]
    assert result.unexpected_keys == ["extra.weight"]
    assert np.all(model[1].weight.numpy() == 5)


# ----------------------------------------------------------------- shape errors


@pytest.mark.parametrize(
    "layer,x_shape,message",
    [
        (
            lambda: nn.Linear(784, 256),
            (128, 100),
            "Linear(784 -> 256): expected input with last dimension 784, got shape (128, 100)",
        ),
        (
            lambda: nn.Conv2d(3, 8, 3),
            (2, 1, 8, 8),
            "Conv2d(3 -> 8, kernel_size=(3, 3)): expected input (N, 3, H, W), got shape (2, 1, 8, 8)",  # noqa: E501 - exact message
        ),
        (lambda: nn.Conv2d(3, 8, 3), (3, 8, 8), "got shape (3, 8, 8)"),
        (lambda: nn.ConvTranspose2d(4, 2, 4), (2, 3, 8, 8), "ConvTranspose2d(4 -> 2"),
        (lambda: nn.BatchNorm1d(4), (2, 4, 3, 3), "BatchNorm1d(4): expected input (N, 4)"),
        (lambda: nn.BatchNorm2d(4), (2, 5, 3, 3), "BatchNorm2d(4): expected input (N, 4, H, W)"),
        (lambda: nn.Unflatten(1, (2, 5)), (3, 9), "Unflatten(dim=1, sizes=(2, 5))"),
    ],
)
def test_wrong_input_shapes_raise_clear_errors(layer, x_shape, message):
    with pytest.raises(ValueError) as info:
        layer()(minigan.zeros(*x_shape))
    assert message in str(info.value)


def test_bad_constructor_arguments():
    with pytest.raises(ValueError, match="activation"):
        nn.Linear(2, 2, activation="gelu")
    with pytest.raises(ValueError, match="output_padding"):
        nn.ConvTranspose2d(2, 2, 3, stride=1, output_padding=1)


# ----------------------------------------------------------------- losses


def _pred_and_target(torch, shape=(4, 5), seed=0, low=0.0, high=1.0):
    r = rng(seed)
    p_np = r.uniform(low, high, shape)
    t_np = r.uniform(0, 1, shape)
    return (
        Tensor(p_np, requires_grad=True),
        torch.tensor(p_np, requires_grad=True),
        t_np,
        torch.tensor(t_np),
    )


@pytest.mark.parametrize("reduction", ["mean", "sum", "none"])
def test_bce_on_probabilities_matches_torch(torch, reduction):
    p, pt, t_np, tt = _pred_and_target(torch, low=0.02, high=0.98)
    loss = F.binary_cross_entropy(p, t_np, reduction=reduction)
    lt = torch.nn.functional.binary_cross_entropy(pt, tt, reduction=reduction)
    close(loss, lt, what="bce")
    g = rng(3).standard_normal(loss.shape)
    loss.backward(g)
    lt.backward(torch.tensor(g))
    close(p.grad, pt.grad, 1e-9, "bce grad")


def test_bce_at_zero_and_one_is_finite_and_clamped_like_torch(torch):
    p_np = np.array([[0.0, 1.0, 0.0, 1.0, 1e-50, 0.5]])
    t_np = np.array([[0.0, 1.0, 1.0, 0.0, 1.0, 0.3]])
    for dtype in (np.float64, np.float32):
        p = Tensor(p_np, dtype=dtype, requires_grad=True)
        loss = F.binary_cross_entropy(p, t_np, reduction="none")
        lt = torch.nn.functional.binary_cross_entropy(
            torch.tensor(p_np, dtype=torch.float64), torch.tensor(t_np), reduction="none"
        )
        np.testing.assert_allclose(loss.numpy(), lt.numpy(), rtol=1e-6)  # 0, 0, 100, 100, ...
        loss.sum().backward()
        assert np.all(np.isfinite(p.grad.numpy()))


@pytest.mark.parametrize("reduction", ["mean", "sum", "none"])
def test_bce_with_logits_matches_torch(torch, reduction):
    x, xt, t_np, tt = _pred_and_target(torch, low=-30, high=30)
    loss = F.binary_cross_entropy_with_logits(x, t_np, reduction=reduction)
    lt = torch.nn.functional.binary_cross_entropy_with_logits(xt, tt, reduction=reduction)
    close(loss, lt, what="binary_cross_entropy_with_logits")
    g = rng(3).standard_normal(loss.shape)
    loss.backward(g)
    lt.backward(torch.tensor(g))
    close(x.grad, xt.grad, what="binary_cross_entropy_with_logits grad")


@pytest.mark.parametrize("reduction", ["mean", "sum", "none"])
def test_mse_matches_torch(torch, reduction):
    x, xt, t_np, tt = _pred_and_target(torch, shape=(3, 2, 4), low=-2, high=2)
    loss = F.mse_loss(x, Tensor(t_np), reduction=reduction)
    lt = torch.nn.functional.mse_loss(xt, tt, reduction=reduction)
    close(loss, lt, what="mse")
    g = rng(3).standard_normal(loss.shape)
    loss.backward(g)
    lt.backward(torch.tensor(g))
    close(x.grad, xt.grad, what="mse grad")


@pytest.mark.parametrize("reduction", ["sum", "mean", "none"])
@pytest.mark.parametrize("shape", [(6, 4), (3, 2, 5)])
def test_gaussian_kl_matches_numpy_formula(reduction, shape):
    r = rng(4)
    mu_np, lv_np = r.standard_normal(shape), r.uniform(-2, 1, shape)
    mu, lv = Tensor(mu_np, requires_grad=True), Tensor(lv_np, requires_grad=True)
    kl = F.gaussian_kl(mu, lv, reduction=reduction)
    per_sample = -0.5 * (1 + lv_np - mu_np**2 - np.exp(lv_np)).reshape(shape[0], -1).sum(axis=1)
    expected = {"sum": per_sample.sum(), "mean": per_sample.mean(), "none": per_sample}[reduction]
    np.testing.assert_allclose(kl.numpy(), expected, rtol=1e-12)
    kl.sum().backward()
    scale = 1.0 / shape[0] if reduction == "mean" else 1.0
    np.testing.assert_allclose(mu.grad.numpy(), scale * mu_np, rtol=1e-12)  # dKL/dmu = mu
    np.testing.assert_allclose(lv.grad.numpy(), scale * 0.5 * (np.exp(lv_np) - 1), rtol=1e-12)


def test_loss_shape_mismatch_and_bad_reduction_raise():
    pred = minigan.zeros(4, 1)
    for fn in (
        F.mse_loss,
        F.binary_cross_entropy,
        F.binary_cross_entropy_with_logits,
        F.gaussian_kl,
    ):
        with pytest.raises(ValueError, match="no broadcasting"):
            fn(pred, np.zeros(4))
    with pytest.raises(ValueError, match="reduction"):
        F.mse_loss(pred, np.zeros((4, 1)), reduction="avg")
