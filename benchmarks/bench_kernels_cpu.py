# CPU kernel benchmarks: each fused kernel family of the NumPy reference (forward +
# backward) at the shapes the GAN/VAE use, against PyTorch CPU in the same run.
# extra_info carries the work done (flops or bytes) so report.py can print GFLOP/s or GB/s.
from __future__ import annotations

import numpy as np
import pytest

from minigan.backend import numpy_ref as ref

RNG = np.random.default_rng(0)


def _rand(*shape):
    return RNG.standard_normal(shape).astype(np.float32)


LINEAR_SHAPES = [(128, 1024, 784, "tanh"), (128, 784, 512, "leaky_relu")]
CONV_SHAPES = [(128, 64, 14, 14, 128, 4, 2, 1)]  # N, C, H, W, O, k, stride, padding
CONVT_SHAPES = [(128, 256, 7, 7, 128, 4, 2, 1)]  # N, Cin, H, W, Cout, k, stride, padding
BN_SHAPES = [(128, 1024), (128, 128, 14, 14)]


def _linear_case(n, k, m, act):
    x, w, b = _rand(n, k), _rand(m, k) * 0.05, _rand(m)
    dy = _rand(n, m)
    return x, w, b, dy


@pytest.mark.parametrize("shape", LINEAR_SHAPES, ids=lambda s: "x".join(map(str, s)))
@pytest.mark.parametrize("impl", ["numpy_ref", "torch"])
def bench_linear_act(benchmark, impl, shape):
    n, k, m, act = shape
    x, w, b, dy = _linear_case(n, k, m, act)
    benchmark.group = f"cpu-linear_act-{'x'.join(map(str, shape))}"
    benchmark.extra_info.update(impl=impl, flops=3 * 2 * n * k * m)
    if impl == "numpy_ref":

        def run():
            y = ref.linear_act_forward(x, w, b, act, 0.2)
            ref.linear_act_backward(dy, x, w, y, act, 0.2)

    else:
        torch = pytest.importorskip("torch")
        tx, tw, tb = (torch.tensor(a, requires_grad=True) for a in (x, w, b))
        tdy = torch.tensor(dy)
        fn = {"tanh": torch.tanh, "leaky_relu": lambda z: torch.nn.functional.leaky_relu(z, 0.2)}[
            act
        ]

        def run():
            y = fn(torch.nn.functional.linear(tx, tw, tb))
            torch.autograd.grad(y, (tx, tw, tb), tdy)

    benchmark.pedantic(run, rounds=20, warmup_rounds=2)


@pytest.mark.parametrize("shape", CONV_SHAPES, ids=lambda s: "x".join(map(str, s)))
@pytest.mark.parametrize("impl", ["numpy_ref", "torch"])
def bench_conv2d(benchmark, impl, shape):
    n, c, h, w_, o, k, s, p = shape
    x, w, b = _rand(n, c, h, w_), _rand(o, c, k, k) * 0.05, _rand(o)
    ho = (h + 2 * p - k) // s + 1
    wo = (w_ + 2 * p - k) // s + 1
    dy = _rand(n, o, ho, wo)
    benchmark.group = f"cpu-conv2d-{'x'.join(map(str, shape))}"
    benchmark.extra_info.update(impl=impl, flops=3 * 2 * n * o * ho * wo * c * k * k)
    if impl == "numpy_ref":

        def run():
            ref.conv2d_forward(x, w, b, (s, s), (p, p))
            ref.conv2d_backward(dy, x, w, (s, s), (p, p))

    else:
        torch = pytest.importorskip("torch")
        tx, tw, tb = (torch.tensor(a, requires_grad=True) for a in (x, w, b))
        tdy = torch.tensor(dy)

        def run():
            y = torch.nn.functional.conv2d(tx, tw, tb, stride=s, padding=p)
            torch.autograd.grad(y, (tx, tw, tb), tdy)

    benchmark.pedantic(run, rounds=5, warmup_rounds=1)


@pytest.mark.parametrize("shape", CONVT_SHAPES, ids=lambda s: "x".join(map(str, s)))
@pytest.mark.parametrize("impl", ["numpy_ref", "torch"])
def bench_conv_transpose2d(benchmark, impl, shape):
    n, ci, h, w_, co, k, s, p = shape
    x, w, b = _rand(n, ci, h, w_), _rand(ci, co, k, k) * 0.05, _rand(co)
    ho, wo = (h - 1) * s - 2 * p + k, (w_ - 1) * s - 2 * p + k
    dy = _rand(n, co, ho, wo)
    benchmark.group = f"cpu-conv_transpose2d-{'x'.join(map(str, shape))}"
    benchmark.extra_info.update(impl=impl, flops=3 * 2 * n * ci * h * w_ * co * k * k)
    if impl == "numpy_ref":

        def run():
            ref.conv_transpose2d_forward(x, w, b, (s, s), (p, p), (0, 0))
            ref.conv_transpose2d_backward(dy, x, w, (s, s), (p, p), (0, 0))

    else:
        torch = pytest.importorskip("torch")
        tx, tw, tb = (torch.tensor(a, requires_grad=True) for a in (x, w, b))
        tdy = torch.tensor(dy)

        def run():
            y = torch.nn.functional.conv_transpose2d(tx, tw, tb, stride=s, padding=p)
            torch.autograd.grad(y, (tx, tw, tb), tdy)

    benchmark.pedantic(run, rounds=5, warmup_rounds=1)


@pytest.mark.parametrize("shape", BN_SHAPES, ids=lambda s: "x".join(map(str, s)))
@pytest.mark.parametrize("impl", ["numpy_ref", "torch"])
def bench_batchnorm(benchmark, impl, shape):
    x = _rand(*shape)
    c = shape[1]
    gamma, beta = _rand(c), _rand(c)
    dy = _rand(*shape)
    benchmark.group = f"cpu-batchnorm-{'x'.join(map(str, shape))}"
    # minimum traffic: read x; write y; read dy, x; write dx  (4-byte floats)
    benchmark.extra_info.update(impl=impl, bytes=5 * x.nbytes)
    if impl == "numpy_ref":
        rm, rv = np.zeros(c, np.float32), np.ones(c, np.float32)

        def run():
            _, mean, invstd = ref.batchnorm_forward(x, gamma, beta, rm, rv, True, 0.1, 1e-5)
            ref.batchnorm_backward(dy, x, gamma, mean, invstd, True)

    else:
        torch = pytest.importorskip("torch")
        tx, tg, tb = (torch.tensor(a, requires_grad=True) for a in (x, gamma, beta))
        rm, rv = torch.zeros(c), torch.ones(c)
        tdy = torch.tensor(dy)

        def run():
            y = torch.nn.functional.batch_norm(tx, rm, rv, tg, tb, training=True)
            torch.autograd.grad(y, (tx, tg, tb), tdy)

    benchmark.pedantic(run, rounds=10, warmup_rounds=1)


@pytest.mark.parametrize("impl", ["numpy_ref", "torch"])
def bench_sigmoid_bce(benchmark, impl):
    n = 1 << 20
    logits, targets = _rand(n), (RNG.random(n) > 0.5).astype(np.float32)
    benchmark.group = "cpu-sigmoid_bce-2^20"
    benchmark.extra_info.update(impl=impl, bytes=3 * logits.nbytes)
    if impl == "numpy_ref":

        def run():
            ref.sigmoid_bce_forward_backward(logits, targets, "mean")

    else:
        torch = pytest.importorskip("torch")
        tl, tt = torch.tensor(logits, requires_grad=True), torch.tensor(targets)

        def run():
            loss = torch.nn.functional.binary_cross_entropy_with_logits(tl, tt)
            torch.autograd.grad(loss, tl)

    benchmark.pedantic(run, rounds=10, warmup_rounds=1)


@pytest.mark.parametrize("impl", ["numpy_ref", "torch"])
def bench_adam(benchmark, impl):
    sizes = [100 * 256, 256, 256 * 512, 512, 512 * 1024, 1024, 1024 * 784, 784]  # the MLP G
    params = [_rand(s) for s in sizes]
    grads = [_rand(s) for s in sizes]
    total = sum(sizes)
    benchmark.group = "cpu-adam-mlpG"
    # minimum traffic: read p, g, m, v; write p, m, v
    benchmark.extra_info.update(impl=impl, bytes=7 * 4 * total)
    if impl == "numpy_ref":
        ms = [np.zeros_like(p) for p in params]
        vs = [np.zeros_like(p) for p in params]
        state = {"step": 0}

        def run():
            state["step"] += 1
            ref.adam_step(params, grads, ms, vs, state["step"], 2e-4, 0.5, 0.999, 1e-8, 0.0)

    else:
        torch = pytest.importorskip("torch")
        tp = [torch.tensor(p, requires_grad=True) for p in params]
        for p, g in zip(tp, grads):
            p.grad = torch.tensor(g)
        opt = torch.optim.Adam(tp, lr=2e-4, betas=(0.5, 0.999))

        def run():
            opt.step()

    benchmark.pedantic(run, rounds=20, warmup_rounds=2)
