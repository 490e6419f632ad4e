# CPU kernel benchmarks: each fused kernel family (forward + backward) on both CPU
# implementations of the kernel contract, the NumPy reference ("numpy_ref") and the numba
# kernels ("numba"), at the shapes the GANs and VAEs use at batch 128, against PyTorch CPU
# in the same run with the same thread count (conftest.py). A square SGEMM (NumPy float32
# matmul) measured in the same run is the machine's reference rate: report.py prints each
# FLOP-bound row's GFLOP/s as a percentage of it.
# extra_info carries the work done (flops or bytes) so report.py can print GFLOP/s or GB/s.
from __future__ import annotations

import numpy as np
import pytest

from minigan.backend import numba_cpu
from minigan.backend import numpy_ref as ref

RNG = np.random.default_rng(0)

# The minigan implementations benchmarked, by the name report.py prints.
KERNEL_MODULES = {"numpy_ref": ref, "numba": numba_cpu}
IMPLS = ["numpy_ref", "numba", "torch"]

SGEMM_SIZE = 2048  # the reference GEMM: (n, n) @ (n, n) float32, 2·n³ FLOPs


def _rand(*shape):
    return RNG.standard_normal(shape).astype(np.float32)


def _kernels(impl):
    """The contract module of a minigan implementation (skip when it cannot run here)."""
    module = KERNEL_MODULES[impl]
    why = getattr(module, "unavailable_reason", lambda: "")()
    if why:
        pytest.skip(f"{impl}: {why}")
    return module


def _ids(shape):
    return "x".join(map(str, shape))


# (N, K, M, activation): x (N, K) @ w.T (K -> M)
LINEAR_SHAPES = [
    (128, 1024, 784, "tanh"),  # MLP G output layer
    (128, 784, 512, "leaky_relu"),  # MLP D first layer
    (128, 512, 1024, "none"),  # MLP G last hidden layer (BatchNorm follows)
    (128, 784, 400, "relu"),  # MLP VAE encoder
    (128, 3136, 20, "none"),  # conv VAE: flattened features -> mu (and logvar)
    (128, 20, 3136, "relu"),  # conv VAE: z -> decoder features
]
# N, C, H, W, O, k, stride, padding
CONV_SHAPES = [
    (128, 64, 14, 14, 128, 4, 2, 1),  # DCGAN D conv 2
    (128, 1, 28, 28, 64, 4, 2, 1),  # DCGAN D conv 1
    (128, 11, 28, 28, 64, 4, 2, 1),  # conditional DCGAN D conv 1 (image + 10 label maps)
    (128, 128, 7, 7, 256, 3, 2, 1),  # DCGAN D conv 3
    (128, 256, 4, 4, 1, 4, 1, 0),  # DCGAN D conv 4 (the logit)
    (128, 1, 28, 28, 32, 4, 2, 1),  # conv VAE encoder conv 1
    (128, 32, 14, 14, 64, 4, 2, 1),  # conv VAE encoder conv 2
]
# N, Cin, H, W, Cout, k, stride, padding
CONVT_SHAPES = [
    (128, 256, 7, 7, 128, 4, 2, 1),  # DCGAN G conv-transpose 2
    (128, 100, 1, 1, 256, 7, 1, 0),  # DCGAN G conv-transpose 1 (z -> 7x7)
    (128, 110, 1, 1, 256, 7, 1, 0),  # conditional DCGAN G conv-transpose 1 ([z, onehot])
    (128, 128, 14, 14, 1, 4, 2, 1),  # DCGAN G conv-transpose 3 (the image)
    (128, 64, 7, 7, 32, 4, 2, 1),  # conv VAE decoder conv-transpose 1
    (128, 32, 14, 14, 1, 4, 2, 1),  # conv VAE decoder conv-transpose 2
]
BN_SHAPES = [
    (128, 1024),  # MLP G BatchNorm1d (also 256 and 512 below)
    (128, 128, 14, 14),  # DCGAN G BatchNorm2d 2
    (128, 256),
    (128, 512),
    (128, 256, 7, 7),  # DCGAN G BatchNorm2d 1
    (128, 128, 7, 7),  # DCGAN D BatchNorm2d 1
    (128, 256, 4, 4),  # DCGAN D BatchNorm2d 2
]
# (group suffix, shape, reduction)
BCE_CASES = [
    ("2^20", (1 << 20,), "mean"),  # a large flat case: the kernel's streaming rate
    ("128x1", (128, 1), "mean"),  # every GAN loss term (D's logits)
    ("128x784-sum", (128, 784), "sum"),  # the VAE reconstruction term
]


def _adam_sizes():
    """{group suffix: parameter sizes}: the MLP G's weights and biases (BatchNorm left out,
    as before), and every parameter of the DCGAN G and D and of the conv VAE."""
    from minigan.models import ConvVAE, DCGANDiscriminator, DCGANGenerator

    def sizes(model):
        return [int(p.data.size) for p in model.parameters()]

    return {
        "mlpG": [100 * 256, 256, 256 * 512, 512, 512 * 1024, 1024, 1024 * 784, 784],
        "dcganG": sizes(DCGANGenerator()),
        "dcganD": sizes(DCGANDiscriminator()),
        "convVAE": sizes(ConvVAE()),
    }


ADAM_SIZES = _adam_sizes()


def _linear_case(n, k, m, act):
    x, w, b = _rand(n, k), _rand(m, k) * 0.05, _rand(m)
    dy = _rand(n, m)
    return x, w, b, dy


@pytest.mark.parametrize("shape", LINEAR_SHAPES, ids=_ids)
@pytest.mark.parametrize("impl", IMPLS)
def bench_linear_act(benchmark, rounds, impl, shape):
    n, k, m, act = shape
    x, w, b, dy = _linear_case(n, k, m, act)
    benchmark.group = f"cpu-linear_act-{_ids(shape)}"
    benchmark.extra_info.update(impl=impl, flops=3 * 2 * n * k * m)
    if impl == "torch":
        torch = pytest.importorskip("torch")
        tx, tw, tb = (torch.tensor(a, requires_grad=True) for a in (x, w, b))
        tdy = torch.tensor(dy)
        fn = {
            "none": lambda z: z,
            "relu": torch.relu,
            "tanh": torch.tanh,
            "leaky_relu": lambda z: torch.nn.functional.leaky_relu(z, 0.2),
        }[act]

        def run():
            y = fn(torch.nn.functional.linear(tx, tw, tb))
            torch.autograd.grad(y, (tx, tw, tb), tdy)

    else:
        k_ = _kernels(impl)

        def run():
            y = k_.linear_act_forward(x, w, b, act, 0.2)
            k_.linear_act_backward(dy, x, w, y, act, 0.2)

    benchmark.pedantic(run, rounds=rounds(20), warmup_rounds=rounds(2, warmup=True))


@pytest.mark.parametrize("shape", CONV_SHAPES, ids=_ids)
@pytest.mark.parametrize("impl", IMPLS)
def bench_conv2d(benchmark, rounds, impl, shape):
    n, c, h, w_, o, k, s, p = shape
    x, w, b = _rand(n, c, h, w_), _rand(o, c, k, k) * 0.05, _rand(o)
    ho = (h + 2 * p - k) // s + 1
    wo = (w_ + 2 * p - k) // s + 1
    dy = _rand(n, o, ho, wo)
    benchmark.group = f"cpu-conv2d-{_ids(shape)}"
    benchmark.extra_info.update(impl=impl, flops=3 * 2 * n * o * ho * wo * c * k * k)
    if impl == "torch":
        torch = pytest.importorskip("torch")
        tx, tw, tb = (torch.tensor(a, requires_grad=True) for a in (x, w, b))
        tdy = torch.tensor(dy)

        def run():
            y = torch.nn.functional.conv2d(tx, tw, tb, stride=s, padding=p)
            torch.autograd.grad(y, (tx, tw, tb), tdy)

    else:
        k_ = _kernels(impl)

        def run():
            k_.conv2d_forward(x, w, b, (s, s), (p, p))
            k_.conv2d_backward(dy, x, w, (s, s), (p, p))

    benchmark.pedantic(run, rounds=rounds(5), warmup_rounds=rounds(1, warmup=True))


@pytest.mark.parametrize("shape", CONVT_SHAPES, ids=_ids)
@pytest.mark.parametrize("impl", IMPLS)
def bench_conv_transpose2d(benchmark, rounds, impl, shape):
    n, ci, h, w_, co, k, s, p = shape
    x, w, b = _rand(n, ci, h, w_), _rand(ci, co, k, k) * 0.05, _rand(co)
    ho, wo = (h - 1) * s - 2 * p + k, (w_ - 1) * s - 2 * p + k
    dy = _rand(n, co, ho, wo)
    benchmark.group = f"cpu-conv_transpose2d-{_ids(shape)}"
    benchmark.extra_info.update(impl=impl, flops=3 * 2 * n * ci * h * w_ * co * k * k)
    if impl == "torch":
        torch = pytest.importorskip("torch")
        tx, tw, tb = (torch.tensor(a, requires_grad=True) for a in (x, w, b))
        tdy = torch.tensor(dy)

        def run():
            y = torch.nn.functional.conv_transpose2d(tx, tw, tb, stride=s, padding=p)
            torch.autograd.grad(y, (tx, tw, tb), tdy)

    else:
        k_ = _kernels(impl)

        def run():
            k_.conv_transpose2d_forward(x, w, b, (s, s), (p, p), (0, 0))
            k_.conv_transpose2d_backward(dy, x, w, (s, s), (p, p), (0, 0))

    benchmark.pedantic(run, rounds=rounds(5), warmup_rounds=rounds(1, warmup=True))


@pytest.mark.parametrize("shape", BN_SHAPES, ids=_ids)
@pytest.mark.parametrize("impl", IMPLS)
def bench_batchnorm(benchmark, rounds, impl, shape):
    x = _rand(*shape)
    c = shape[1]
    gamma, beta = _rand(c), _rand(c)
    dy = _rand(*shape)
    benchmark.group = f"cpu-batchnorm-{_ids(shape)}"
    # minimum traffic: read x; write y; read dy, x; write dx  (4-byte floats)
    benchmark.extra_info.update(impl=impl, bytes=5 * x.nbytes)
    if impl == "torch":
        torch = pytest.importorskip("torch")
        tx, tg, tb = (torch.tensor(a, requires_grad=True) for a in (x, gamma, beta))
        rm, rv = torch.zeros(c), torch.ones(c)
        tdy = torch.tensor(dy)

        def run():
            y = torch.nn.functional.batch_norm(tx, rm, rv, tg, tb, training=True)
            torch.autograd.grad(y, (tx, tg, tb), tdy)

    else:
        k_ = _kernels(impl)
        rm, rv = np.zeros(c, np.float32), np.ones(c, np.float32)

        def run():
            _, mean, invstd = k_.batchnorm_forward(x, gamma, beta, rm, rv, True, 0.1, 1e-5)
            k_.batchnorm_backward(dy, x, gamma, mean, invstd, True)

    benchmark.pedantic(run, rounds=rounds(10), warmup_rounds=rounds(1, warmup=True))


@pytest.mark.parametrize("case", BCE_CASES, ids=lambda c: c[0])
@pytest.mark.parametrize("impl", IMPLS)
def bench_sigmoid_bce(benchmark, rounds, impl, case):
    label, shape, reduction = case
    logits, targets = _rand(*shape), (RNG.random(shape) > 0.5).astype(np.float32)
    benchmark.group = f"cpu-sigmoid_bce-{label}"
    # minimum traffic: read logits, targets; write the gradient
    benchmark.extra_info.update(impl=impl, bytes=3 * logits.nbytes)
    if impl == "torch":
        torch = pytest.importorskip("torch")
        tl, tt = torch.tensor(logits, requires_grad=True), torch.tensor(targets)

        def run():
            loss = torch.nn.functional.binary_cross_entropy_with_logits(tl, tt, reduction=reduction)
            torch.autograd.grad(loss, tl)

    else:
        k_ = _kernels(impl)

        def run():
            k_.sigmoid_bce_forward_backward(logits, targets, reduction)

    small = logits.size < 1 << 16  # microsecond calls: more rounds for a stable median
    benchmark.pedantic(
        run, rounds=rounds(200 if small else 10), warmup_rounds=rounds(1, warmup=True)
    )


# (activation, slope, shape): the standalone activations of the models' steps
ACTIVATION_CASES = [
    ("leaky_relu", 0.2, (128, 128, 14, 14)),  # DCGAN D after conv 2 + BatchNorm
    ("leaky_relu", 0.2, (128, 256, 7, 7)),  # DCGAN D after conv 3 + BatchNorm
    ("relu", 0.0, (128, 128, 14, 14)),  # DCGAN G after conv-transpose 2 + BatchNorm
    ("tanh", 0.0, (128, 1, 28, 28)),  # DCGAN G output
]


@pytest.mark.parametrize("case", ACTIVATION_CASES, ids=lambda c: f"{c[0]}-{_ids(c[2])}")
@pytest.mark.parametrize("impl", IMPLS)
def bench_activation(benchmark, rounds, impl, case):
    act, slope, shape = case
    x, dy = _rand(*shape), _rand(*shape)
    benchmark.group = f"cpu-activation-{act}-{_ids(shape)}"
    # minimum traffic: forward reads x, writes y; backward reads dy and y, writes dx
    benchmark.extra_info.update(impl=impl, bytes=5 * x.nbytes)
    if impl == "torch":
        torch = pytest.importorskip("torch")
        fn = {
            "leaky_relu": lambda t: torch.nn.functional.leaky_relu(t, slope),
            "relu": torch.relu,
            "tanh": torch.tanh,
        }[act]
        tx, tdy = torch.tensor(x, requires_grad=True), torch.tensor(dy)

        def run():
            torch.autograd.grad(fn(tx), tx, tdy)

    else:
        k_ = _kernels(impl)

        def run():
            y = k_.activation_forward(x, act, slope)
            k_.activation_backward(dy, y, act, slope)

    benchmark.pedantic(run, rounds=rounds(20), warmup_rounds=rounds(1, warmup=True))


@pytest.mark.parametrize("model", list(ADAM_SIZES))
@pytest.mark.parametrize("impl", [*IMPLS, "torch_fused"])
def bench_adam(benchmark, rounds, impl, model):
    sizes = ADAM_SIZES[model]
    params = [_rand(s) for s in sizes]
    grads = [_rand(s) for s in sizes]
    total = sum(sizes)
    benchmark.group = f"cpu-adam-{model}"
    # minimum traffic: read p, g, m, v; write p, m, v
    benchmark.extra_info.update(impl=impl, bytes=7 * 4 * total)
    if impl.startswith("torch"):
        # "torch" is torch.optim.Adam's default on CPU (what the step benchmarks use);
        # "torch_fused" its fused CPU kernel (fused=True), PyTorch's fastest Adam.
        torch = pytest.importorskip("torch")
        tp = [torch.tensor(p, requires_grad=True) for p in params]
        for p, g in zip(tp, grads):
            p.grad = torch.tensor(g)
        fused = {"fused": True} if impl == "torch_fused" else {}
        opt = torch.optim.Adam(tp, lr=2e-4, betas=(0.5, 0.999), **fused)

        def run():
            opt.step()

    else:
        k_ = _kernels(impl)
        ms = [np.zeros_like(p) for p in params]
        vs = [np.zeros_like(p) for p in params]
        state = {"step": 0}

        def run():
            state["step"] += 1
            k_.adam_step(params, grads, ms, vs, state["step"], 2e-4, 0.5, 0.999, 1e-8, 0.0)

    benchmark.pedantic(run, rounds=rounds(20), warmup_rounds=rounds(2, warmup=True))


@pytest.mark.parametrize("impl", ["numpy", "torch"])
def bench_sgemm(benchmark, rounds, impl):
    """This machine's SGEMM rate in this run: (n, n) @ (n, n) float32 into a preallocated
    output. NumPy's (the BLAS every minigan GEMM runs on) is the reference that report.py
    divides the kernels' GFLOP/s by; PyTorch's is shown next to it."""
    n = SGEMM_SIZE
    a, b = _rand(n, n), _rand(n, n)
    benchmark.group = f"cpu-sgemm-{n}x{n}x{n}"
    benchmark.extra_info.update(impl=impl, flops=2 * n**3, sgemm_reference=impl == "numpy")
    if impl == "numpy":
        out = np.empty((n, n), np.float32)

        def run():
            np.matmul(a, b, out=out)

    else:
        torch = pytest.importorskip("torch")
        ta, tb, out = torch.from_numpy(a), torch.from_numpy(b), torch.empty(n, n)

        def run():
            torch.mm(ta, tb, out=out)

    benchmark.pedantic(run, rounds=rounds(10), warmup_rounds=rounds(2, warmup=True))
