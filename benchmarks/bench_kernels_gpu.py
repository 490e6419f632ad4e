# GPU kernel benchmarks (skipped without a GPU): every fused kernel family, forward +
# backward, on our CUDA extension ("ext") and our CuPy fallback ("cupy"), against the
# baselines in the same run: cuBLAS through CuPy matmul for the dense layer, PyTorch/cuDNN
# (FP32, TF32 off) for conv, conv-transpose, batchnorm, BCE and Adam.
#
# Time is GPU time from CUDA events around `ITERS` back-to-back calls after warm-up (not
# wall-clock around an asynchronous launch); the median per call goes to
# extra_info["gpu_ms"], which report.py prefers over pytest-benchmark's wall-clock stats.
from __future__ import annotations

import importlib

import numpy as np
import pytest

from minigan.device import cuda_unavailable_reason, cupy_module

if cuda_unavailable_reason():  # no CuPy, no driver or no GPU (minigan's one probe says which)
    pytest.skip(f"no usable CUDA GPU: {cuda_unavailable_reason()}", allow_module_level=True)
cp = cupy_module()

WARMUP, ITERS, REPEATS = 3, 10, 5


IMPL_MODULES = {"ext": "minigan.backend.cuda_ext", "cupy": "minigan.backend.cupy_kernels"}


def _impl_module(name):
    module = importlib.import_module(IMPL_MODULES[name])
    why = module.unavailable_reason()
    if why:
        pytest.skip(f"{name}: {why}")
    return module


def _torch():
    torch = pytest.importorskip("torch")
    if not torch.cuda.is_available():
        pytest.skip("torch has no CUDA")
    torch.backends.cuda.matmul.allow_tf32 = False
    torch.backends.cudnn.allow_tf32 = False
    torch.backends.cudnn.benchmark = True
    return torch


def gpu_ms(fn) -> float:
    """Median GPU time of one call of fn, from CUDA events."""
    for _ in range(WARMUP):
        fn()
    cp.cuda.get_current_stream().synchronize()
    samples = []
    start, end = cp.cuda.Event(), cp.cuda.Event()
    for _ in range(REPEATS):
        start.record()
        for _ in range(ITERS):
            fn()
        end.record()
        end.synchronize()
        samples.append(cp.cuda.get_elapsed_time(start, end) / ITERS)
    return float(np.median(samples))


def _record(benchmark, fn, impl, **work):
    ms = gpu_ms(fn)
    benchmark.extra_info.update(impl=impl, gpu_ms=ms, **work)

    def synced():
        fn()
        cp.cuda.get_current_stream().synchronize()

    benchmark.pedantic(synced, rounds=3, warmup_rounds=1)


def _randn(*shape, scale=1.0):
    return cp.random.standard_normal(shape, dtype=cp.float32) * scale


# ----- dense: y = act(x W^T + b), forward + dgrad + wgrad ---------------------------------
DENSE = [(128, 1024, 784), (1024, 1024, 784), (128, 784, 512), (1024, 784, 512), (4096, 4096, 4096)]


@pytest.mark.parametrize("shape", DENSE, ids=lambda s: "x".join(map(str, s)))
@pytest.mark.parametrize("impl", ["ext", "cupy", "cupy_matmul"])
def bench_linear_act(benchmark, impl, shape):
    n, k, m = shape
    x, w, b, dy = _randn(n, k), _randn(m, k, scale=0.05), _randn(m), _randn(n, m)
    benchmark.group = f"gpu-linear_act-{n}x{k}x{m}"
    if impl == "cupy_matmul":  # cuBLAS: the same three GEMMs, no epilogue

        def run():
            y = x @ w.T
            dy @ w
            dy.T @ x
            return y

    else:
        mod = _impl_module(impl)

        def run():
            y = mod.linear_act_forward(x, w, b, "leaky_relu", 0.2)
            mod.linear_act_backward(dy, x, w, y, "leaky_relu", 0.2)

    _record(benchmark, run, impl, flops=3 * 2 * n * k * m)


@pytest.mark.parametrize("impl", ["ext", "cupy", "cupy_matmul"])
def bench_gemm_4096_forward(benchmark, impl):
    """The issue's headline number: one 4096^3 FP32 GEMM (forward only, no activation)."""
    n = 4096
    x, w = _randn(n, n), _randn(n, n)
    benchmark.group = "gpu-gemm-4096-forward"
    if impl == "cupy_matmul":

        def run():
            return x @ w.T

    else:
        mod = _impl_module(impl)

        def run():
            return mod.linear_act_forward(x, w, None, "none", 0.0)

    _record(benchmark, run, impl, flops=2 * n**3)


# ----- conv2d and conv_transpose2d -------------------------------------------------------
CONV = [(128, 64, 14, 14, 128, 4, 2, 1), (1024, 1, 28, 28, 64, 4, 2, 1)]
CONVT = [(1024, 256, 7, 7, 128, 4, 2, 1), (128, 256, 7, 7, 128, 4, 2, 1)]


@pytest.mark.parametrize("shape", CONV, ids=lambda s: "x".join(map(str, s)))
@pytest.mark.parametrize("impl", ["ext", "cupy", "torch"])
def bench_conv2d(benchmark, impl, shape):
    n, c, h, wd, o, k, s, p = shape
    ho, wo = (h + 2 * p - k) // s + 1, (wd + 2 * p - k) // s + 1
    x, w, b, dy = (
        _randn(n, c, h, wd),
        _randn(o, c, k, k, scale=0.05),
        _randn(o),
        _randn(n, o, ho, wo),
    )
    benchmark.group = f"gpu-conv2d-{'x'.join(map(str, shape))}"
    if impl == "torch":
        torch = _torch()
        tx, tw, tb = (torch.from_dlpack(a).requires_grad_() for a in (x, w, b))
        tdy = torch.from_dlpack(dy)

        def run():
            y = torch.nn.functional.conv2d(tx, tw, tb, stride=s, padding=p)
            torch.autograd.grad(y, (tx, tw, tb), tdy)

    else:
        mod = _impl_module(impl)

        def run():
            mod.conv2d_forward(x, w, b, (s, s), (p, p))
            mod.conv2d_backward(dy, x, w, (s, s), (p, p))

    _record(benchmark, run, impl, flops=3 * 2 * n * o * ho * wo * c * k * k)


@pytest.mark.parametrize("shape", CONVT, ids=lambda s: "x".join(map(str, s)))
@pytest.mark.parametrize("impl", ["ext", "cupy", "torch"])
def bench_conv_transpose2d(benchmark, impl, shape):
    n, ci, h, wd, co, k, s, p = shape
    ho, wo = (h - 1) * s - 2 * p + k, (wd - 1) * s - 2 * p + k
    x, w, b, dy = (
        _randn(n, ci, h, wd),
        _randn(ci, co, k, k, scale=0.05),
        _randn(co),
        _randn(n, co, ho, wo),
    )
    benchmark.group = f"gpu-conv_transpose2d-{'x'.join(map(str, shape))}"
    if impl == "torch":
        torch = _torch()
        tx, tw, tb = (torch.from_dlpack(a).requires_grad_() for a in (x, w, b))
        tdy = torch.from_dlpack(dy)

        def run():
            y = torch.nn.functional.conv_transpose2d(tx, tw, tb, stride=s, padding=p)
            torch.autograd.grad(y, (tx, tw, tb), tdy)

    else:
        mod = _impl_module(impl)

        def run():
            mod.conv_transpose2d_forward(x, w, b, (s, s), (p, p), (0, 0))
            mod.conv_transpose2d_backward(dy, x, w, (s, s), (p, p), (0, 0))

    _record(benchmark, run, impl, flops=3 * 2 * n * ci * h * wd * co * k * k)


# ----- batchnorm (training forward + backward) --------------------------------------------
BN = [(256, 256, 32, 32), (128, 1024), (1024, 128, 7, 7)]


@pytest.mark.parametrize("shape", BN, ids=lambda s: "x".join(map(str, s)))
@pytest.mark.parametrize("impl", ["ext", "cupy", "torch"])
def bench_batchnorm(benchmark, impl, shape):
    c = shape[1]
    x, dy = _randn(*shape), _randn(*shape)
    gamma, beta = _randn(c), _randn(c)
    rm, rv = cp.zeros(c, cp.float32), cp.ones(c, cp.float32)
    benchmark.group = f"gpu-batchnorm-{'x'.join(map(str, shape))}"
    if impl == "torch":
        torch = _torch()
        tx, tg, tb = (torch.from_dlpack(a).requires_grad_() for a in (x, gamma, beta))
        trm, trv, tdy = torch.from_dlpack(rm), torch.from_dlpack(rv), torch.from_dlpack(dy)

        def run():
            y = torch.nn.functional.batch_norm(tx, trm, trv, tg, tb, training=True)
            torch.autograd.grad(y, (tx, tg, tb), tdy)

    else:
        mod = _impl_module(impl)

        def run():
            _, mean, invstd = mod.batchnorm_forward(x, gamma, beta, rm, rv, True, 0.1, 1e-5)
            mod.batchnorm_backward(dy, x, gamma, mean, invstd, True)

    # the roofline: 8 passes over the tensor (stats, normalise, 2 reductions, dx)
    _record(benchmark, run, impl, bytes=8 * x.nbytes)


# ----- a standalone activation (DCGAN D's leaky_relu) -----------------------------------
@pytest.mark.parametrize("impl", ["ext", "cupy", "torch"])
def bench_activation(benchmark, impl):
    x, dy = _randn(128 * 128 * 14 * 14), _randn(128 * 128 * 14 * 14)
    benchmark.group = "gpu-activation-leaky_relu-128x128x14x14"
    if impl == "torch":
        torch = _torch()
        tx, tdy = torch.from_dlpack(x).requires_grad_(), torch.from_dlpack(dy)

        def run():
            y = torch.nn.functional.leaky_relu(tx, 0.2)
            torch.autograd.grad(y, tx, tdy)

    else:
        mod = _impl_module(impl)

        def run():
            y = mod.activation_forward(x, "leaky_relu", 0.2)
            mod.activation_backward(dy, y, "leaky_relu", 0.2)

    # minimum traffic: forward reads x, writes y; backward reads dy and y, writes dx
    _record(benchmark, run, impl, bytes=5 * x.nbytes)


# ----- fused sigmoid + BCE -------------------------------------------------------------
@pytest.mark.parametrize("impl", ["ext", "cupy", "torch"])
def bench_sigmoid_bce(benchmark, impl):
    n = 1 << 26
    logits, targets = _randn(n), (cp.random.random(n, dtype=cp.float32) > 0.5).astype(cp.float32)
    benchmark.group = "gpu-sigmoid_bce-2^26"
    if impl == "torch":
        torch = _torch()
        tl, tt = torch.from_dlpack(logits).requires_grad_(), torch.from_dlpack(targets)

        def run():
            loss = torch.nn.functional.binary_cross_entropy_with_logits(tl, tt)
            torch.autograd.grad(loss, tl)

    else:
        mod = _impl_module(impl)

        def run():
            mod.sigmoid_bce_forward_backward(logits, targets, "mean")

    # minimum traffic: read logits and targets, write the gradient
    _record(benchmark, run, impl, bytes=3 * logits.nbytes)


# ----- Adam over all parameters of the MLP generator ------------------------------------
@pytest.mark.parametrize("impl", ["ext", "cupy", "torch"])
def bench_adam(benchmark, impl):
    sizes = [100 * 256, 256, 256 * 512, 512, 512 * 1024, 1024, 1024 * 784, 784, 1 << 24]
    params = [_randn(s) for s in sizes]
    grads = [_randn(s) for s in sizes]
    total = sum(sizes)
    benchmark.group = "gpu-adam-mlpG+16M"
    if impl == "torch":
        torch = _torch()
        tp = [torch.from_dlpack(p).requires_grad_() for p in params]
        for p, g in zip(tp, grads, strict=True):
            p.grad = torch.from_dlpack(g)
        opt = torch.optim.Adam(tp, lr=2e-4, betas=(0.5, 0.999), fused=True)

        def run():
            opt.step()

    else:
        mod = _impl_module(impl)
        ms = [cp.zeros_like(p) for p in params]
        vs = [cp.zeros_like(p) for p in params]

        def run():
            mod.adam_step(params, grads, ms, vs, 1, 2e-4, 0.5, 0.999, 1e-8, 0.0)

    _record(benchmark, run, impl, bytes=7 * 4 * total)
