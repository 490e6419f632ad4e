# The command-line options of the example models' recipes (what `build_gan` and `build_vae`
# read from a run's config), as option tables, and the keys of the config a checkpoint
# records for each kind of model.
from __future__ import annotations

from .option_table import Option

GAN_ARCHS = ("mlp", "dcgan", "cgan-mlp", "cgan-dcgan")
GAN_RECIPE_TITLE = "model and recipe (stored in the checkpoint)"
GAN_RECIPE = (
    Option(
        "--arch",
        "cgan-mlp",
        "architecture: mlp, dcgan, or the class-conditional cgan-mlp / cgan-dcgan "
        "(default: cgan-mlp)",
        choices=GAN_ARCHS,
    ),
    Option("--latent-dim", 100, "size of z (default: 100)", low=1),
    Option(
        "--width",
        64,
        "DCGAN channel width w: G uses 4w, 2w channels, D w, 2w, 4w (default: 64)",
        low=1,
    ),
    Option(
        "--ema",
        0.999,
        "keep an exponential moving average of G's weights with this decay and draw every "
        "sample from it; 0 = off (default: 0.999)",
        metavar="DECAY",
        low=0.0,
        high=1.0,
        note=" (0 = off)",
    ),
    Option(
        "--g-activation",
        "leaky_relu",
        "MLP generator hidden activation; relu without batchnorm is the seed model, which "
        "tends to collapse (default: leaky_relu, slope 0.2)",
        choices=("leaky_relu", "relu"),
    ),
    Option(
        "--g-batchnorm", True, "BatchNorm1d after each MLP generator hidden layer (default: on)"
    ),
    Option("--d-dropout", 0.3, "dropout in the MLP discriminator (default: 0.3)", low=0, high=1),
    Option("--beta1", 0.5, "Adam beta1 (default: 0.5)", low=0.0, high=1.0),
    Option(
        "--label-smoothing",
        0.1,
        "one-sided label smoothing: real targets are 1 - this (default: 0.1)",
        low=0.0,
        high=1.0,
    ),
    Option("--n-critic", 1, "discriminator steps per generator step (default: 1)", low=1),
)
#: what a GAN checkpoint's config records (with "kind": "gan"), in this order
GAN_CONFIG_KEYS = (
    "arch",
    "latent_dim",
    "g_activation",
    "g_batchnorm",
    "d_dropout",
    "lr",
    "beta1",
    "label_smoothing",
    "n_critic",
    "batch_size",
    "seed",
    "width",
    "ema",
)

VAE_RECIPE_TITLE = "model (stored in the checkpoint)"
VAE_RECIPE = (
    Option(
        "--arch",
        "mlp",
        "architecture: mlp (784-400-z) or conv (conv encoder, transposed-conv decoder) "
        "(default: mlp)",
        choices=("mlp", "conv"),
    ),
    Option("--hidden", 400, "hidden width of the MLP VAE (default: 400)", low=1),
    Option(
        "--latent-dim",
        20,
        "size of z (default: 20); 2 also draws the decoded latent manifold each epoch",
        low=1,
    ),
)
#: what a VAE checkpoint's config records (with "kind": "vae"), in this order
VAE_CONFIG_KEYS = ("arch", "hidden", "latent_dim", "lr", "batch_size", "seed")
