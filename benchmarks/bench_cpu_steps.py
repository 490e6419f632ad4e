# CPU training-step benchmarks at batch 128: one GAN step (D update + G update) of the MLP
# GAN, the DCGAN and both conditional GANs (cgan-mlp, cgan-dcgan), and one VAE step of the
# MLP VAE and the conv VAE; minigan (the models built exactly as examples/mnist_gan.py and
# mnist_vae.py build them, with their default recipe) vs the same models written in PyTorch
# (CPU), in the same run with the same thread count (conftest.py).
# `python benchmarks/report.py results.json` prints the table with the ratios.
"""Whole training steps, minigan vs PyTorch.

The PyTorch side is written by hand below (``_torch_models``), layer for layer the model of
minigan.models: same layer sizes, BatchNorm, dropout, activations, losses (BCE with logits
and one-sided label smoothing 0.1 for the GANs; the summed-BCE + KL negative ELBO per sample
for the VAEs), Adam settings and batch. Its GAN step is GANTrainer.step's: D on the real
batch and on G(z).detach(), D's update, then G's update through D with D's weights frozen
(their gradients would be thrown away, so neither side computes them), the fake batch of
the D step reused; a conditional GAN draws the fake labels uniformly and feeds one-hot
labels to G (concatenated to z) and to D (concatenated to the flat image for the MLP,
stacked on the channels as constant maps for the DCGAN).

Before timing, every PyTorch model is checked to be the same model: the same parameter
names, shapes and count as minigan's, minigan's initial weights copied in, and the same
outputs (eval mode) on the same inputs.
"""

from __future__ import annotations

import functools
from types import SimpleNamespace

import numpy as np
import pytest

import minigan
from minigan.backend import implementation
from minigan.models import vae_loss
from minigan.training import build_gan, build_vae

BATCH = 128
NUM_CLASSES = 10
IMAGE = 28

# examples/mnist_gan.py's defaults (its --help); "arch" is set per benchmark.
GAN_CONFIG = {
    "latent_dim": 100,
    "width": 64,
    "g_activation": "leaky_relu",
    "g_batchnorm": True,
    "d_dropout": 0.3,
    "lr": 2e-4,
    "beta1": 0.5,
    "label_smoothing": 0.1,
    "n_critic": 1,
    "ema": 0.0,
}
# examples/mnist_vae.py's defaults.
VAE_CONFIG = {"hidden": 400, "latent_dim": 20, "lr": 1e-3}

GAN_ARCHS = ["mlp", "cgan-mlp", "dcgan", "cgan-dcgan"]
VAE_ARCHS = ["mlp", "conv"]
# Rounds per benchmark (MINIGAN_BENCH_ROUNDS lowers them): fewer for the conv models,
# whose steps take a large fraction of a second on a 2-core machine.
ROUNDS = {"mlp": 30, "cgan-mlp": 30, "dcgan": 8, "cgan-dcgan": 8, "conv": 10}
WARMUP = 2


def _real_batch(seed: int = 0) -> np.ndarray:
    rng = np.random.default_rng(seed)
    return rng.uniform(-1, 1, size=(BATCH, IMAGE * IMAGE)).astype(np.float32)


def _real_labels(seed: int = 0) -> np.ndarray:
    return np.random.default_rng(seed + 1).integers(0, NUM_CLASSES, BATCH).astype(np.int64)


def _gan_config(arch: str) -> dict:
    return {**GAN_CONFIG, "arch": arch}


def _vae_config(arch: str) -> dict:
    return {**VAE_CONFIG, "arch": arch}


def _minigan_gan(arch: str):
    minigan.manual_seed(0)
    return build_gan(_gan_config(arch), "cpu")


def _minigan_vae(arch: str):
    minigan.manual_seed(0)
    return build_vae(_vae_config(arch), "cpu")


def _record(benchmark, impl: str, model_params: int) -> None:
    benchmark.extra_info.update(impl=impl, params=model_params, batch=BATCH)
    if impl == "minigan":
        benchmark.extra_info["backend"] = implementation("cpu", "float32")[0]


# ----------------------------------------------------------------------------------
# minigan
# ----------------------------------------------------------------------------------


@pytest.mark.parametrize("arch", GAN_ARCHS)
def bench_gan_step_minigan(benchmark, rounds, arch):
    G, D, trainer = _minigan_gan(arch)
    real = minigan.tensor(_real_batch())
    labels = minigan.tensor(_real_labels()) if arch.startswith("cgan") else None
    benchmark.group = f"cpu-step-gan-{arch}"
    _record(benchmark, "minigan", G.num_parameters() + D.num_parameters())
    benchmark.pedantic(
        trainer.step,
        args=(real, labels),
        rounds=rounds(ROUNDS[arch]),
        warmup_rounds=rounds(WARMUP, warmup=True),
    )


@pytest.mark.parametrize("arch", VAE_ARCHS)
def bench_vae_step_minigan(benchmark, rounds, arch):
    model, opt = _minigan_vae(arch)
    x = minigan.tensor((_real_batch() + 1) / 2)

    def step():
        opt.zero_grad()
        logits, mu, logvar = model(x)
        loss = vae_loss(logits, x, mu, logvar)
        loss.backward()
        opt.step()

    benchmark.group = f"cpu-step-vae-{arch}"
    _record(benchmark, "minigan", model.num_parameters())
    benchmark.pedantic(step, rounds=rounds(ROUNDS[arch]), warmup_rounds=rounds(WARMUP, warmup=True))


# ----------------------------------------------------------------------------------
# The same models in PyTorch
# ----------------------------------------------------------------------------------


@functools.cache
def _torch_models() -> SimpleNamespace:
    """PyTorch versions of minigan.models' GANs and VAEs, with the same attribute names
    (so parameter names match minigan's: net.0.weight, encoder.2.bias, ...)."""
    import torch
    from torch import nn
    from torch.nn import functional as F

    def one_hot(labels, k, like):
        return F.one_hot(labels, k).to(like.dtype)

    class MLPGenerator(nn.Module):
        def __init__(self, latent_dim=100, hidden=(256, 512, 1024), num_classes=0):
            super().__init__()
            self.num_classes = num_classes
            layers, width = [], latent_dim + num_classes
            for h in hidden:
                layers += [nn.Linear(width, h), nn.BatchNorm1d(h), nn.LeakyReLU(0.2)]
                width = h
            self.net = nn.Sequential(*layers, nn.Linear(width, IMAGE * IMAGE), nn.Tanh())

        def forward(self, z, labels=None):
            if labels is not None:
                z = torch.cat([z, one_hot(labels, self.num_classes, z)], dim=1)
            return self.net(z)

    class MLPDiscriminator(nn.Module):
        def __init__(self, hidden=(512, 256), dropout=0.3, num_classes=0):
            super().__init__()
            self.num_classes = num_classes
            layers, width = [], IMAGE * IMAGE + num_classes
            for h in hidden:
                layers += [nn.Linear(width, h), nn.LeakyReLU(0.2)]
                if dropout > 0:
                    layers.append(nn.Dropout(dropout))
                width = h
            self.net = nn.Sequential(*layers, nn.Linear(width, 1))

        def forward(self, x, labels=None):
            x = x.reshape(x.shape[0], -1)
            if labels is not None:
                x = torch.cat([x, one_hot(labels, self.num_classes, x)], dim=1)
            return self.net(x)

    class DCGANGenerator(nn.Module):
        def __init__(self, latent_dim=100, width=64, num_classes=0):
            super().__init__()
            self.num_classes, w = num_classes, width
            self.net = nn.Sequential(
                nn.ConvTranspose2d(latent_dim + num_classes, 4 * w, 7, 1, 0, bias=False),
                nn.BatchNorm2d(4 * w),
                nn.ReLU(),
                nn.ConvTranspose2d(4 * w, 2 * w, 4, 2, 1, bias=False),
                nn.BatchNorm2d(2 * w),
                nn.ReLU(),
                nn.ConvTranspose2d(2 * w, 1, 4, 2, 1),
                nn.Tanh(),
            )

        def forward(self, z, labels=None):
            if labels is not None:
                z = torch.cat([z, one_hot(labels, self.num_classes, z)], dim=1)
            return self.net(z.reshape(z.shape[0], z.shape[1], 1, 1))

    class DCGANDiscriminator(nn.Module):
        def __init__(self, width=64, num_classes=0):
            super().__init__()
            self.num_classes, w = num_classes, width
            self.net = nn.Sequential(
                nn.Conv2d(1 + num_classes, w, 4, 2, 1),
                nn.LeakyReLU(0.2),
                nn.Conv2d(w, 2 * w, 4, 2, 1, bias=False),
                nn.BatchNorm2d(2 * w),
                nn.LeakyReLU(0.2),
                nn.Conv2d(2 * w, 4 * w, 3, 2, 1, bias=False),
                nn.BatchNorm2d(4 * w),
                nn.LeakyReLU(0.2),
                nn.Conv2d(4 * w, 1, 4, 1, 0),
            )

        def forward(self, x, labels=None):
            n = x.shape[0]
            x = x.reshape(n, 1, IMAGE, IMAGE)
            if labels is not None:
                maps = one_hot(labels, self.num_classes, x)[:, :, None, None]
                x = torch.cat([x, maps.expand(n, self.num_classes, IMAGE, IMAGE)], dim=1)
            return self.net(x).reshape(n, 1)

    class VAE(nn.Module):
        def forward(self, x):
            mu, logvar = self.encode(x)
            z = mu + torch.exp(0.5 * logvar) * torch.randn_like(mu)
            return self.decode(z), mu, logvar

        def decode(self, z):
            return self.decoder(z)

    class MLPVAE(VAE):
        def __init__(self, hidden=400, latent_dim=20):
            super().__init__()
            self.encoder = nn.Sequential(nn.Linear(IMAGE * IMAGE, hidden), nn.ReLU())
            self.to_mu = nn.Linear(hidden, latent_dim)
            self.to_logvar = nn.Linear(hidden, latent_dim)
            self.decoder = nn.Sequential(
                nn.Linear(latent_dim, hidden), nn.ReLU(), nn.Linear(hidden, IMAGE * IMAGE)
            )

        def encode(self, x):
            h = self.encoder(x.reshape(x.shape[0], -1))
            return self.to_mu(h), self.to_logvar(h)

    class ConvVAE(VAE):
        def __init__(self, latent_dim=20):
            super().__init__()
            flat = 64 * 7 * 7
            self.encoder = nn.Sequential(
                nn.Conv2d(1, 32, 4, 2, 1),
                nn.ReLU(),
                nn.Conv2d(32, 64, 4, 2, 1),
                nn.ReLU(),
                nn.Flatten(),
            )
            self.to_mu = nn.Linear(flat, latent_dim)
            self.to_logvar = nn.Linear(flat, latent_dim)
            self.decoder = nn.Sequential(
                nn.Linear(latent_dim, flat),
                nn.ReLU(),
                nn.Unflatten(1, (64, 7, 7)),
                nn.ConvTranspose2d(64, 32, 4, 2, 1),
                nn.ReLU(),
                nn.ConvTranspose2d(32, 1, 4, 2, 1),
                nn.Flatten(),
            )

        def encode(self, x):
            h = self.encoder(x.reshape(x.shape[0], 1, IMAGE, IMAGE))
            return self.to_mu(h), self.to_logvar(h)

    def vae_loss(logits, x, mu, logvar):
        recon = F.binary_cross_entropy_with_logits(logits, x, reduction="sum")
        kl = -0.5 * torch.sum(1 + logvar - mu.pow(2) - logvar.exp())
        return (recon + kl) / x.shape[0]

    return SimpleNamespace(
        MLPGenerator=MLPGenerator,
        MLPDiscriminator=MLPDiscriminator,
        DCGANGenerator=DCGANGenerator,
        DCGANDiscriminator=DCGANDiscriminator,
        MLPVAE=MLPVAE,
        ConvVAE=ConvVAE,
        vae_loss=vae_loss,
    )


def _copy_weights(torch, ours, theirs) -> None:
    """Assert that the PyTorch module has exactly minigan's parameters (names, shapes,
    count) and copy minigan's initial values into it."""
    mine = {name: p.data for name, p in ours.named_parameters()}
    torch_params = dict(theirs.named_parameters())
    count = sum(p.numel() for p in torch_params.values())
    assert count == ours.num_parameters(), (
        f"{type(theirs).__name__}: PyTorch mirror has {count:,} parameters, minigan's "
        f"{type(ours).__name__} {ours.num_parameters():,}"
    )
    shapes = {name: tuple(p.shape) for name, p in torch_params.items()}
    assert shapes == {name: a.shape for name, a in mine.items()}, (
        f"{type(theirs).__name__}: parameter names/shapes differ from minigan's"
    )
    with torch.no_grad():
        for name, p in torch_params.items():
            p.copy_(torch.from_numpy(np.ascontiguousarray(mine[name])))


def _assert_same_outputs(torch, pairs) -> None:
    """Each (minigan output, PyTorch output, what) agrees to float32 rounding."""
    for ours, theirs, what in pairs:
        np.testing.assert_allclose(
            theirs.detach().numpy(), ours.numpy(), rtol=1e-3, atol=1e-4, err_msg=what
        )


def _eval_mode(*modules):
    for m in modules:
        m.eval()


def _train_mode(*modules):
    for m in modules:
        m.train()


def _torch_gan(torch, arch: str):
    """(G, D) in PyTorch, checked against freshly built minigan models of `arch`."""
    T = _torch_models()
    k = NUM_CLASSES if arch.startswith("cgan") else 0
    cfg = _gan_config(arch)
    G_m, D_m, _ = _minigan_gan(arch)
    if arch.endswith("mlp"):
        G = T.MLPGenerator(cfg["latent_dim"], num_classes=k)
        D = T.MLPDiscriminator(dropout=cfg["d_dropout"], num_classes=k)
    else:
        G = T.DCGANGenerator(cfg["latent_dim"], cfg["width"], num_classes=k)
        D = T.DCGANDiscriminator(cfg["width"], num_classes=k)
    _copy_weights(torch, G_m, G)
    _copy_weights(torch, D_m, D)
    z = np.random.default_rng(2).standard_normal((BATCH, cfg["latent_dim"])).astype(np.float32)
    real, labels = _real_batch(), _real_labels()
    lab_m, lab_t = (minigan.tensor(labels), torch.from_numpy(labels)) if k else (None, None)
    _eval_mode(G_m, D_m, G, D)
    with minigan.no_grad():
        g_m = G_m(minigan.tensor(z), lab_m) if k else G_m(minigan.tensor(z))
        d_m = D_m(minigan.tensor(real), lab_m) if k else D_m(minigan.tensor(real))
    with torch.no_grad():
        g_t = G(torch.from_numpy(z), lab_t)
        d_t = D(torch.from_numpy(real), lab_t)
    _train_mode(G_m, D_m, G, D)
    _assert_same_outputs(torch, [(g_m, g_t, f"{arch} G(z)"), (d_m, d_t, f"{arch} D(x)")])
    return G, D, G_m.num_parameters() + D_m.num_parameters()


def _torch_vae(torch, arch: str):
    """The VAE in PyTorch, checked against a freshly built minigan model of `arch`."""
    T = _torch_models()
    cfg = _vae_config(arch)
    model_m, _ = _minigan_vae(arch)
    if arch == "conv":
        model = T.ConvVAE(cfg["latent_dim"])
    else:
        model = T.MLPVAE(cfg["hidden"], cfg["latent_dim"])
    _copy_weights(torch, model_m, model)
    x = (_real_batch() + 1) / 2
    with minigan.no_grad():
        mu_m, logvar_m = model_m.encode(minigan.tensor(x))
        dec_m = model_m.decode(mu_m)
    with torch.no_grad():
        mu_t, logvar_t = model.encode(torch.from_numpy(x))
        dec_t = model.decode(mu_t)
    _assert_same_outputs(
        torch,
        [
            (mu_m, mu_t, f"{arch} VAE mu"),
            (logvar_m, logvar_t, f"{arch} VAE logvar"),
            (dec_m, dec_t, f"{arch} VAE decode(mu)"),
        ],
    )
    return model, model_m.num_parameters()


@pytest.mark.parametrize("arch", GAN_ARCHS)
def bench_gan_step_torch(benchmark, rounds, torch_or_skip, arch):
    torch = torch_or_skip
    torch.manual_seed(0)
    G, D, n_params = _torch_gan(torch, arch)
    cfg = _gan_config(arch)
    k = NUM_CLASSES if arch.startswith("cgan") else 0
    betas = (cfg["beta1"], 0.999)
    opt_g = torch.optim.Adam(G.parameters(), lr=cfg["lr"], betas=betas)
    opt_d = torch.optim.Adam(D.parameters(), lr=cfg["lr"], betas=betas)
    d_params = list(D.parameters())
    bce = torch.nn.functional.binary_cross_entropy_with_logits
    real = torch.from_numpy(_real_batch())
    labels = torch.from_numpy(_real_labels()) if k else None
    real_target = torch.full((BATCH, 1), 1.0 - cfg["label_smoothing"])
    fake_target, ones = torch.zeros(BATCH, 1), torch.ones(BATCH, 1)

    def step():
        z = torch.randn(BATCH, cfg["latent_dim"])
        fake_labels = torch.randint(0, k, (BATCH,)) if k else None
        fake = G(z, fake_labels)
        opt_d.zero_grad()
        logits_real = D(real, labels)
        logits_fake = D(fake.detach(), fake_labels)
        d_loss = bce(logits_real, real_target) + bce(logits_fake, fake_target)
        d_loss.backward()
        opt_d.step()
        opt_g.zero_grad()
        for p in d_params:  # D frozen during G's update, as GANTrainer does
            p.requires_grad_(False)
        g_loss = bce(D(fake, fake_labels), ones)
        g_loss.backward()
        for p in d_params:
            p.requires_grad_(True)
        opt_g.step()
        with torch.no_grad():  # the statistics GANTrainer.step returns
            logits_real.sigmoid().mean()
            logits_fake.sigmoid().mean()
        return d_loss.detach(), g_loss.detach()

    benchmark.group = f"cpu-step-gan-{arch}"
    _record(benchmark, "torch", n_params)
    benchmark.pedantic(step, rounds=rounds(ROUNDS[arch]), warmup_rounds=rounds(WARMUP, warmup=True))


@pytest.mark.parametrize("arch", VAE_ARCHS)
def bench_vae_step_torch(benchmark, rounds, torch_or_skip, arch):
    torch = torch_or_skip
    torch.manual_seed(0)
    model, n_params = _torch_vae(torch, arch)
    opt = torch.optim.Adam(model.parameters(), lr=VAE_CONFIG["lr"])
    loss_fn = _torch_models().vae_loss
    x = torch.from_numpy((_real_batch() + 1) / 2)

    def step():
        opt.zero_grad()
        logits, mu, logvar = model(x)
        loss = loss_fn(logits, x, mu, logvar)
        loss.backward()
        opt.step()

    benchmark.group = f"cpu-step-vae-{arch}"
    _record(benchmark, "torch", n_params)
    benchmark.pedantic(step, rounds=rounds(ROUNDS[arch]), warmup_rounds=rounds(WARMUP, warmup=True))
