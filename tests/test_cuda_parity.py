# Whole-training-step parity: the same MLP GAN and VAE steps run on cuda and on cpu from
# identical weights and inputs must give the same losses, gradients and updated parameters
# (marked `cuda`, skipped without a GPU); and the same MLP GAN and DCGAN steps run with the
# NumPy kernels and with csrc/'s CUDA kernels in the CPU emulator (MINIGAN_BACKEND=emu;
# marked `emu`, no GPU needed) must agree too (second half of the file).
#
# cuda vs cpu:
# Tolerance: the gradients are float32 sums over the batch and the layer widths, compared
# with the K-scaled policy of docs/testing.md (K = the largest reduction length, 1024).
# After an Adam step, a parameter moves by about lr·g/(|g|+eps), which is insensitive to
# relative errors in g unless |g| is near eps; the models here use no BatchNorm before a
# Linear bias (whose true gradient is 0 and whose computed gradient is pure rounding noise),
# so parameters are compared with rtol 1e-5 and atol = 1e-3·lr.
from __future__ import annotations

import numpy as np
import pytest
from helpers import assert_close, emu_counts, requires_cuda, requires_emu, use_backend

import minigan
from minigan import nn, optim
from minigan.models import (
    MLPVAE,
    DCGANDiscriminator,
    DCGANGenerator,
    GANTrainer,
    MLPDiscriminator,
    MLPGenerator,
    vae_loss,
)
from minigan.models import vae as vae_module

K = 1024
GRAD_TOL = 16 * np.sqrt(K) * 2.0**-24


def _twin(make):
    """Two identical models, one per device."""
    cpu = make()
    gpu = make()
    gpu.load_state_dict(cpu.state_dict())
    return cpu, gpu.to("cuda")


def _compare_params(cpu_model, gpu_model, lr):
    for (name, p), q in zip(cpu_model.named_parameters(), gpu_model.parameters()):
        np.testing.assert_allclose(q.numpy(), p.numpy(), rtol=1e-5, atol=1e-3 * lr, err_msg=name)


@pytest.mark.cuda
@requires_cuda
def test_mlp_gan_step_cuda_matches_cpu(monkeypatch):
    lr = 2e-4
    G_c, G_g = _twin(lambda: MLPGenerator(batchnorm=False))
    D_c, D_g = _twin(lambda: MLPDiscriminator(dropout=0.0))
    trainers = {}
    for dev, G, D in (("cpu", G_c, D_c), ("cuda", G_g, D_g)):
        trainers[dev] = GANTrainer(
            G, D,
            optim.Adam(G.parameters(), lr=lr, betas=(0.5, 0.999)),
            optim.Adam(D.parameters(), lr=lr, betas=(0.5, 0.999)),
            label_smoothing=0.1,
        )  # fmt: skip
    rng = np.random.default_rng(0)
    for _ in range(2):
        real = rng.uniform(-1, 1, (64, 784)).astype(np.float32)
        z = rng.standard_normal((64, 100)).astype(np.float32)
        stats = {}
        for dev, trainer in trainers.items():
            monkeypatch.setattr(
                trainer, "sample_noise", lambda n, d, z=z: minigan.tensor(z, device=d)
            )
            stats[dev] = trainer.step(minigan.tensor(real, device=dev))
        for key in ("d_loss", "g_loss"):
            np.testing.assert_allclose(
                stats["cuda"][key].item(), stats["cpu"][key].item(), rtol=1e-5
            )
        for a, b in ((G_c, G_g), (D_c, D_g)):
            for p, q in zip(a.parameters(), b.parameters()):
                scale = float(np.abs(p.grad.numpy()).max())
                np.testing.assert_allclose(
                    q.grad.numpy(), p.grad.numpy(), rtol=GRAD_TOL, atol=GRAD_TOL * scale
                )
        _compare_params(G_c, G_g, lr)
        _compare_params(D_c, D_g, lr)


@pytest.mark.cuda
@requires_cuda
def test_mlp_vae_step_cuda_matches_cpu(monkeypatch):
    lr = 1e-3
    m_c, m_g = _twin(MLPVAE)
    opts = {"cpu": optim.Adam(m_c.parameters(), lr=lr), "cuda": optim.Adam(m_g.parameters(), lr=lr)}
    models = {"cpu": m_c, "cuda": m_g}
    rng = np.random.default_rng(1)
    for _ in range(2):
        x = rng.uniform(0, 1, (64, 784)).astype(np.float32)
        eps = rng.standard_normal((64, 20)).astype(np.float32)
        losses = {}
        for dev in ("cpu", "cuda"):
            monkeypatch.setattr(
                vae_module,
                "randn",
                lambda *s, eps=eps, device="cpu", **k: minigan.tensor(eps, device=device),
            )
            opts[dev].zero_grad()
            xb = minigan.tensor(x, device=dev)
            logits, mu, logvar = models[dev](xb)
            loss = vae_loss(logits, xb, mu, logvar)
            loss.backward()
            opts[dev].step()
            losses[dev] = loss.item()
        np.testing.assert_allclose(losses["cuda"], losses["cpu"], rtol=1e-5)
        _compare_params(m_c, m_g, lr)


# ----------------------------------------------------------------------------------
# NumPy kernels vs csrc/'s CUDA kernels in the emulator (MINIGAN_BACKEND=emu), on cpu
# ----------------------------------------------------------------------------------
#
# One GAN training step (GANTrainer.step: a D update, then a G update, Adam for both) is run
# twice from identical weights, real batch and noise: once with MINIGAN_BACKEND=numpy (numpy_ref
# in float32) and once with MINIGAN_BACKEND=emu (every fused op and Adam through csrc/'s
# kernels, float32). Both are float32 computations of the same function that differ only in
# summation order, FMA contraction and the few-ulp error of exp/tanh, so the tolerance
# policy of docs/testing.md applies, derived as follows:
#
# * Every gradient of the step is a float32 sum of at most K terms, K = the longest reduction
#   of the step: for the MLP GAN 1024 (G's output layer reads 1024 features; the dx of its
#   512 -> 1024 layer sums over 1024 outputs), for the DCGAN (batch 8) the bias gradient of
#   G's last transposed convolution, N·28·28 = 6272 terms. The policy's float32 tolerance is
#   tol = c·sqrt(K)·2^-24 with c = 16, and c = 32 where a batch-norm backward is in the
#   chain (the DCGAN; testing.md: its dx cancels three O(n) terms). The step chains several
#   such ops; each layer's error passes through the later layers' Jacobians, whose norms are
#   O(1) here (the activations' derivatives are <= 1, the weights are normalised at init),
#   so the errors of L layers add up to at most ~L·tol. We use tol_step = L·tol with L = the
#   number of weight layers of G plus D (the longest chain a gradient goes through) — the
#   same form as the policy's `reduction_len`, with a composition factor, applied as
#   assert_close (relative to each array's max|expected|). Measured (emulator vs NumPy): the
#   largest error was 0.011·tol_step (MLP GAN) and 0.036·tol_step (DCGAN), i.e. within the
#   single-op tolerance (L = 7) too; tol_step is the safe bound, not a fitted one.
# * Losses and BN running statistics are forward values: the same tol_step.
# * Parameters after Adam: p1 = p0 - lr·m̂/(sqrt(v̂)+eps). At step 1 this is
#   p0 - lr·g/(|g|+eps), insensitive to relative errors of g unless |g| is within the
#   gradient's own absolute error of 0, where float32 does not determine the sign of g and
#   the update may be +lr or -lr. So: elements whose reference gradient is larger than
#   2·tol_step·max|g| (the sign is determined) must match to rtol 1e-5 and atol 1e-3·lr (as
#   in the cuda tests above); the rest only to 2·lr (the most one Adam step at step 1 can
#   move an element: |g/(|g|+eps)| <= 1). Gradients themselves are compared first, so a
#   kernel that got one wrong is caught there.
#
# And the emu run must really have run the emulator (a parity test where both sides used
# NumPy would pass vacuously): emu_stats() launches grow during it and minigan.trace()
# records every fused op and Adam as impl "emu" (and "numpy" in the other run).

EPS32 = 2.0**-24
FUSED = {"LinearAct", "Conv2d", "ConvTranspose2d", "BatchNorm", "SigmoidBCE"}


def _step_tol(k: int, c: float, layers: int) -> float:
    return layers * c * np.sqrt(k) * EPS32


def _weight_layers(model) -> int:
    return sum(isinstance(m, nn.Linear | nn.Conv2d | nn.ConvTranspose2d) for m in model.modules())


def _run_step(trainer, backend, real, z, monkeypatch):
    """One trainer.step with `backend` forcing the float32 kernels on cpu; returns the step's
    stats, the trace, and how much the emulator ran."""
    monkeypatch.setattr(trainer, "sample_noise", lambda n, d: minigan.tensor(z.copy(), device=d))
    with use_backend(backend), emu_counts() as ran, minigan.trace(kernels=True) as trace:
        stats = trainer.step(minigan.tensor(real.copy()))
    return stats, trace, ran


def _check_backend_ran(trace, ran, backend):
    impls = {r["impl"] for r in trace.records if r["op"] in FUSED or r["phase"] == "optimizer"}
    ops = {r["op"] for r in trace.records if r["op"] in FUSED}
    assert ops >= {"LinearAct", "SigmoidBCE"} or ops >= {"Conv2d", "SigmoidBCE"}, ops
    assert any(r["phase"] == "optimizer" for r in trace.records), "Adam was not traced"
    assert impls == {backend}, f"{backend} run used {impls}"
    if backend == "emu":
        assert ran["launches"] > 0 and ran["threads"] > 0, ran
        assert ran["failures"] == 0, ran
    else:
        assert ran["launches"] == 0, ran


def _emu_step_parity(make_g, make_d, real, z, k, c, monkeypatch):
    lr = 2e-4
    G0, D0 = make_g(), make_d()
    models = {}
    for backend in ("numpy", "emu"):
        G, D = make_g(), make_d()
        G.load_state_dict(G0.state_dict())
        D.load_state_dict(D0.state_dict())
        models[backend] = (G, D)
    tol = _step_tol(k, c, _weight_layers(G0) + _weight_layers(D0))
    results = {}
    for backend, (G, D) in models.items():
        trainer = GANTrainer(
            G, D,
            optim.Adam(G.parameters(), lr=lr, betas=(0.5, 0.999)),
            optim.Adam(D.parameters(), lr=lr, betas=(0.5, 0.999)),
            label_smoothing=0.1,
        )  # fmt: skip
        stats, trace, ran = _run_step(trainer, backend, real, z, monkeypatch)
        _check_backend_ran(trace, ran, backend)
        results[backend] = stats
    for key in ("d_loss", "g_loss", "d_real", "d_fake"):
        assert_close(results["emu"][key].numpy(), results["numpy"][key].numpy(), tol, key)
    (Gn, Dn), (Ge, De) = models["numpy"], models["emu"]
    for net, ref, emu in (("G", Gn, Ge), ("D", Dn, De)):
        for (name, p), q in zip(ref.named_parameters(), emu.parameters(), strict=True):
            g = p.grad.numpy().astype(np.float64)
            assert_close(q.grad.numpy(), g, tol, f"{net}.{name}.grad")
            determined = np.abs(g) > 2 * tol * float(np.abs(g).max())
            diff = np.abs(q.numpy().astype(np.float64) - p.numpy())
            allowed = np.where(determined, 1e-5 * np.abs(p.numpy()) + 1e-3 * lr, 2 * lr)
            bad = diff > allowed
            assert not bad.any(), (
                f"{net}.{name}: {int(bad.sum())} of {bad.size} elements differ after Adam; "
                f"worst excess {float((diff - allowed).max()):.3g} (lr={lr})"
            )
        buffers = dict(emu.named_buffers())  # BatchNorm running statistics
        for name, b in ref.named_buffers():
            assert_close(buffers[name].numpy(), b.numpy().astype(np.float64), tol, f"{net}.{name}")
    return models


@pytest.mark.emu
@requires_emu
def test_mlp_gan_step_emu_matches_numpy(monkeypatch):
    rng = np.random.default_rng(0)
    real = rng.uniform(-1, 1, (8, 784)).astype(np.float32)
    z = rng.standard_normal((8, 100)).astype(np.float32)
    # No BatchNorm in G (as in the cuda test): a Linear bias before BatchNorm has a true
    # gradient of 0, whose computed value is rounding noise that Adam turns into +-lr.
    _emu_step_parity(
        lambda: MLPGenerator(batchnorm=False),
        lambda: MLPDiscriminator(dropout=0.0),
        real, z, k=1024, c=16, monkeypatch=monkeypatch,
    )  # fmt: skip


@pytest.mark.emu
@requires_emu
def test_dcgan_step_emu_matches_numpy(monkeypatch):
    rng = np.random.default_rng(1)
    real = rng.uniform(-1, 1, (8, 1, 28, 28)).astype(np.float32)
    z = rng.standard_normal((8, 100)).astype(np.float32)
    models = _emu_step_parity(
        lambda: DCGANGenerator(width=16),
        lambda: DCGANDiscriminator(width=16),
        real, z, k=8 * 28 * 28, c=32, monkeypatch=monkeypatch,
    )  # fmt: skip
    # The BatchNorm layers' running statistics were updated (and compared above).
    bns = [m for m in models["emu"][0].modules() if isinstance(m, nn.BatchNorm2d)]
    assert bns and all(np.abs(m.running_mean.numpy()).max() > 0 for m in bns)
