# CPU training-step benchmarks: one MLP-GAN step (D + G update) and one MLP-VAE step at
# batch 128, minigan vs the same models written in PyTorch (CPU), in the same run.
# `python benchmarks/report.py results.json` prints the table with the ratios.
from __future__ import annotations

import numpy as np
import pytest

import minigan
from minigan import optim
from minigan.models import MLPVAE, GANTrainer, MLPDiscriminator, MLPGenerator, vae_loss

BATCH = 128


def _real_batch(seed: int = 0) -> np.ndarray:
    rng = np.random.default_rng(seed)
    return rng.uniform(-1, 1, size=(BATCH, 784)).astype(np.float32)


@pytest.mark.benchmark(group="cpu-step-gan-mlp")
def bench_gan_step_minigan(benchmark):
    minigan.manual_seed(0)
    G, D = MLPGenerator(), MLPDiscriminator(dropout=0.3)
    trainer = GANTrainer(
        G,
        D,
        optim.Adam(G.parameters(), lr=2e-4, betas=(0.5, 0.999)),
        optim.Adam(D.parameters(), lr=2e-4, betas=(0.5, 0.999)),
        label_smoothing=0.1,
    )
    real = minigan.tensor(_real_batch())
    benchmark.extra_info["impl"] = "minigan"
    benchmark.pedantic(trainer.step, args=(real,), rounds=30, warmup_rounds=3)


@pytest.mark.benchmark(group="cpu-step-gan-mlp")
def bench_gan_step_torch(benchmark, torch_or_skip):
    torch = torch_or_skip
    nn = torch.nn
    torch.manual_seed(0)

    def block(i, o):
        return [nn.Linear(i, o), nn.BatchNorm1d(o), nn.LeakyReLU(0.2)]

    G = nn.Sequential(
        *block(100, 256), *block(256, 512), *block(512, 1024), nn.Linear(1024, 784), nn.Tanh()
    )
    D = nn.Sequential(
        nn.Linear(784, 512),
        nn.LeakyReLU(0.2),
        nn.Dropout(0.3),
        nn.Linear(512, 256),
        nn.LeakyReLU(0.2),
        nn.Dropout(0.3),
        nn.Linear(256, 1),
    )
    opt_g = torch.optim.Adam(G.parameters(), lr=2e-4, betas=(0.5, 0.999))
    opt_d = torch.optim.Adam(D.parameters(), lr=2e-4, betas=(0.5, 0.999))
    bce = nn.BCEWithLogitsLoss()
    real = torch.from_numpy(_real_batch())
    ones, zeros = torch.full((BATCH, 1), 0.9), torch.zeros(BATCH, 1)
    full_ones = torch.ones(BATCH, 1)

    def step():
        fake = G(torch.randn(BATCH, 100))
        opt_d.zero_grad()
        d_loss = bce(D(real), ones) + bce(D(fake.detach()), zeros)
        d_loss.backward()
        opt_d.step()
        opt_g.zero_grad()
        for p in D.parameters():
            p.requires_grad_(False)
        g_loss = bce(D(fake), full_ones)
        g_loss.backward()
        for p in D.parameters():
            p.requires_grad_(True)
        opt_g.step()

    benchmark.extra_info["impl"] = "torch"
    benchmark.pedantic(step, rounds=30, warmup_rounds=3)


@pytest.mark.benchmark(group="cpu-step-vae-mlp")
def bench_vae_step_minigan(benchmark):
    minigan.manual_seed(0)
    model = MLPVAE()
    opt = optim.Adam(model.parameters(), lr=1e-3)
    x = minigan.tensor((_real_batch() + 1) / 2)

    def step():
        opt.zero_grad()
        logits, mu, logvar = model(x)
        loss = vae_loss(logits, x, mu, logvar)
        loss.backward()
        opt.step()

    benchmark.extra_info["impl"] = "minigan"
    benchmark.pedantic(step, rounds=30, warmup_rounds=3)


@pytest.mark.benchmark(group="cpu-step-vae-mlp")
def bench_vae_step_torch(benchmark, torch_or_skip):
    torch = torch_or_skip
    nn = torch.nn
    torch.manual_seed(0)
    enc = nn.Sequential(nn.Linear(784, 400), nn.ReLU())
    mu_l, lv_l = nn.Linear(400, 20), nn.Linear(400, 20)
    dec = nn.Sequential(nn.Linear(20, 400), nn.ReLU(), nn.Linear(400, 784))
    params = [*enc.parameters(), *mu_l.parameters(), *lv_l.parameters(), *dec.parameters()]
    opt = torch.optim.Adam(params, lr=1e-3)
    x = torch.from_numpy((_real_batch() + 1) / 2)

    def step():
        opt.zero_grad()
        h = enc(x)
        mu, logvar = mu_l(h), lv_l(h)
        z = mu + torch.exp(0.5 * logvar) * torch.randn_like(mu)
        logits = dec(z)
        recon = nn.functional.binary_cross_entropy_with_logits(logits, x, reduction="sum")
        kl = -0.5 * torch.sum(1 + logvar - mu.pow(2) - logvar.exp())
        loss = (recon + kl) / x.shape[0]
        loss.backward()
        opt.step()

    benchmark.extra_info["impl"] = "torch"
    benchmark.pedantic(step, rounds=30, warmup_rounds=3)
