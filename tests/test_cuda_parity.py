# Whole-training-step parity on the GPU: the same MLP GAN and VAE steps run on cuda and on
# cpu from identical weights and inputs must give the same losses, gradients and updated
# parameters. Skipped without a GPU.
#
# Tolerance: the gradients are float32 sums over the batch and the layer widths, compared
# with the K-scaled policy of docs/testing.md (K = the largest reduction length, 1024).
# After an Adam step, a parameter moves by about lr·g/(|g|+eps), which is insensitive to
# relative errors in g unless |g| is near eps; the models here use no BatchNorm before a
# Linear bias (whose true gradient is 0 and whose computed gradient is pure rounding noise),
# so parameters are compared with rtol 1e-5 and atol = 1e-3·lr.
from __future__ import annotations

import numpy as np
import pytest
from helpers import requires_cuda

import minigan
from minigan import optim
from minigan.models import MLPVAE, GANTrainer, MLPDiscriminator, MLPGenerator, vae_loss
from minigan.models import vae as vae_module

pytestmark = [pytest.mark.cuda, requires_cuda]

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
