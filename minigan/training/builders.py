# The models of the example runs, rebuilt from a checkpoint's config: the GAN (MLP / DCGAN,
# unconditional or class-conditional, optional EMA) and the VAE (MLP / conv), and drawing
# samples from a checkpoint of either (what examples/evaluate.py scores).
from __future__ import annotations

from typing import Any

import numpy as np

from .. import nn, optim
from ..models import (
    EMA,
    MLPVAE,
    VAE,
    ConvVAE,
    DCGANDiscriminator,
    DCGANGenerator,
    GANTrainer,
    MLPDiscriminator,
    MLPGenerator,
)
from ..random import manual_seed
from .sampling import sample_gan, sample_vae

NUM_CLASSES = 10


def gan_num_classes(config: dict) -> int:
    """10 for the conditional GAN architectures (cgan-*), 0 otherwise."""
    return NUM_CLASSES if config["arch"].startswith("cgan") else 0


def build_gan(config: dict, device: str) -> tuple[nn.Module, nn.Module, GANTrainer]:
    """G, D and their trainer (Adam for both, EMA of G when config["ema"] > 0)."""
    k = gan_num_classes(config)
    if config["arch"] in ("mlp", "cgan-mlp"):
        G = MLPGenerator(
            latent_dim=config["latent_dim"],
            activation=config["g_activation"],
            batchnorm=config["g_batchnorm"],
            num_classes=k,
        ).to(device)
        D = MLPDiscriminator(dropout=config["d_dropout"], num_classes=k).to(device)
    else:
        width = config.get("width", 64)
        G = DCGANGenerator(latent_dim=config["latent_dim"], width=width, num_classes=k)
        D = DCGANDiscriminator(width=width, num_classes=k)
        G, D = G.to(device), D.to(device)
    betas = (config["beta1"], 0.999)
    opt_g = optim.Adam(G.parameters(), lr=config["lr"], betas=betas)
    opt_d = optim.Adam(D.parameters(), lr=config["lr"], betas=betas)
    decay = config.get("ema", 0.0)
    trainer = GANTrainer(
        G,
        D,
        opt_g,
        opt_d,
        latent_dim=config["latent_dim"],
        n_critic=config["n_critic"],
        label_smoothing=config["label_smoothing"],
        ema=EMA(G, decay) if decay > 0 else None,
    )
    return G, D, trainer


def build_vae(config: dict, device: str) -> tuple[VAE, optim.Adam]:
    """The VAE (MLP or conv) and its Adam optimizer."""
    if config.get("arch", "mlp") == "conv":
        model: VAE = ConvVAE(latent_dim=config["latent_dim"])
    else:
        model = MLPVAE(hidden=config["hidden"], latent_dim=config["latent_dim"])
    model = model.to(device)
    return model, optim.Adam(model.parameters(), lr=config["lr"])


#: the kinds of checkpoint `sample_from_checkpoint` can draw from
SAMPLEABLE = ("gan", "vae")


def sample_from_checkpoint(
    ckpt: dict[str, Any], n: int, device: str, seed: int
) -> tuple[np.ndarray, np.ndarray | None]:
    """(uint8 images (n, 28, 28), asked labels (n,) or None) drawn from a training
    checkpoint of examples/mnist_gan.py or mnist_vae.py: seeded with `seed`, the models
    rebuilt from its config, a GAN sampled from its EMA generator when present (a
    conditional one asked for the labels 0, 1, ..., 9, 0, ...), a VAE in eval mode."""
    config = ckpt["config"]
    kind = config.get("kind")
    if kind not in SAMPLEABLE:
        raise ValueError(f"checkpoint kind {kind!r} is not one of {list(SAMPLEABLE)}")
    manual_seed(seed)
    if kind == "gan":
        _, _, trainer = build_gan(config, device)
        trainer.load_state_dict(ckpt["state"])
        k = gan_num_classes(config)
        labels = (np.arange(n) % k).astype(np.int64) if k else None
        return sample_gan(trainer, n, device, labels), labels
    model, _ = build_vae(config, device)
    model.load_state_dict(ckpt["state"]["model"])
    model.eval()
    return sample_vae(model, n, device), None
