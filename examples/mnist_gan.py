#!/usr/bin/env python3
# Train the MLP GAN on MNIST: progress bar with live losses, a PNG grid of samples from fixed
# noise every epoch, per-epoch metrics (CSV + JSON), an atomic checkpoint every epoch,
# exact resume (--resume), and a sample mode that dumps generated digits as .npy.
"""Train a GAN on MNIST with minigan.

Examples:
  python examples/mnist_gan.py --device cpu --epochs 5
  python examples/mnist_gan.py --resume runs/gan/checkpoint.pkl --epochs 10
  python examples/mnist_gan.py --sample 1000 --resume runs/gan/checkpoint.pkl
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import numpy as np

import minigan
from minigan import nn, optim
from minigan.data import DataLoader, DatasetError, load_mnist, scale_images
from minigan.experiment import (
    Run,
    RunningSums,
    add_common_args,
    check_common_args,
    choose_device,
    progress,
    read_checkpoint,
    resume_run,
)
from minigan.models import GANTrainer, MLPDiscriminator, MLPGenerator
from minigan.utils import save_image_grid, to_uint8

KIND = "gan"
MODEL_KEYS = (
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
)
NUM_FIXED = 64


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    add_common_args(parser, epochs=20, batch_size=128, lr=2e-4)
    recipe = parser.add_argument_group("model and recipe (stored in the checkpoint)")
    recipe.add_argument(
        "--arch", default="mlp", choices=("mlp",), help="architecture (default: mlp)"
    )
    recipe.add_argument("--latent-dim", type=int, default=100, help="size of z (default: 100)")
    recipe.add_argument(
        "--g-activation",
        default="leaky_relu",
        choices=("leaky_relu", "relu"),
        help="generator hidden activation; relu without batchnorm is the seed model, which "
        "tends to collapse (default: leaky_relu, slope 0.2)",
    )
    recipe.add_argument(
        "--g-batchnorm",
        action=argparse.BooleanOptionalAction,
        default=True,
        help="BatchNorm1d after each generator hidden layer (default: on)",
    )
    recipe.add_argument(
        "--d-dropout", type=float, default=0.3, help="dropout in the discriminator (default: 0.3)"
    )
    recipe.add_argument("--beta1", type=float, default=0.5, help="Adam beta1 (default: 0.5)")
    recipe.add_argument(
        "--label-smoothing",
        type=float,
        default=0.1,
        help="one-sided label smoothing: real targets are 1 - this (default: 0.1)",
    )
    recipe.add_argument(
        "--n-critic",
        type=int,
        default=1,
        help="discriminator steps per generator step (default: 1)",
    )
    sampling = parser.add_argument_group("sample mode")
    sampling.add_argument(
        "--sample",
        type=int,
        metavar="N",
        default=None,
        help="instead of training, write N generated images (uint8, N x 28 x 28) from the "
        "checkpoint given by --resume to --sample-out",
    )
    sampling.add_argument(
        "--sample-out", default=None, help="where --sample writes (default: OUT/samples.npy)"
    )
    return parser


def build_models(config: dict, device: str) -> tuple[nn.Module, nn.Module, GANTrainer]:
    G = MLPGenerator(
        latent_dim=config["latent_dim"],
        activation=config["g_activation"],
        batchnorm=config["g_batchnorm"],
    ).to(device)
    D = MLPDiscriminator(dropout=config["d_dropout"]).to(device)
    betas = (config["beta1"], 0.999)
    opt_g = optim.Adam(G.parameters(), lr=config["lr"], betas=betas)
    opt_d = optim.Adam(D.parameters(), lr=config["lr"], betas=betas)
    trainer = GANTrainer(
        G,
        D,
        opt_g,
        opt_d,
        latent_dim=config["latent_dim"],
        n_critic=config["n_critic"],
        label_smoothing=config["label_smoothing"],
    )
    return G, D, trainer


def fixed_noise(config: dict, device: str) -> minigan.Tensor:
    """The same 64 latent vectors every epoch (own generator: training RNG is untouched)."""
    rng = np.random.default_rng(config["seed"] + 12345)
    z = rng.standard_normal((NUM_FIXED, config["latent_dim"])).astype(np.float32)
    return minigan.tensor(z, device=device)


def generate(G: nn.Module, z: minigan.Tensor) -> np.ndarray:
    """Images (N, 28, 28) in [-1, 1] from G in eval mode."""
    was_training = G.training
    G.eval()
    with minigan.no_grad():
        images = G(z).numpy().reshape(-1, 28, 28)
    G.train(was_training)
    return images


def sample_mode(args: argparse.Namespace, device: str) -> int:
    if args.resume is None:
        print(
            "error: --sample needs --resume CKPT (the checkpoint to sample from)", file=sys.stderr
        )
        return 2
    ckpt = read_checkpoint(args.resume, KIND)
    config = ckpt["config"]
    G, _, trainer = build_models(config, device)
    trainer.load_state_dict(ckpt["state"])
    minigan.manual_seed(args.seed)
    chunks = []
    for start in range(0, args.sample, 1000):
        n = min(1000, args.sample - start)
        chunks.append(to_uint8(generate(G, trainer.sample_noise(n, device))))
    images = np.concatenate(chunks) if chunks else np.zeros((0, 28, 28), np.uint8)
    out = Path(args.sample_out or Path(args.out or Path(args.resume).parent) / "samples.npy")
    out.parent.mkdir(parents=True, exist_ok=True)
    np.save(out, images)
    print(f"wrote {images.shape[0]} samples {images.shape} uint8 to {out}")
    return 0


def train(args: argparse.Namespace, device: str) -> int:
    ckpt = read_checkpoint(args.resume, KIND) if args.resume else None
    config = ckpt["config"] if ckpt else {"kind": KIND, **{k: getattr(args, k) for k in MODEL_KEYS}}
    out_dir = args.out or (str(Path(args.resume).parent) if args.resume else "runs/gan")
    minigan.manual_seed(config["seed"])
    try:
        images, _ = load_mnist("train", args.data_dir)
    except DatasetError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    if args.subset:
        images = images[: args.subset]
    x = scale_images(images, "tanh").reshape(len(images), -1)
    loader = DataLoader(
        x, batch_size=config["batch_size"], shuffle=True, seed=config["seed"], drop_last=True
    )
    G, D, trainer = build_models(config, device)
    run = Run(out_dir, config)
    if ckpt:
        trainer.load_state_dict(resume_run(run, ckpt))
        print(f"resumed from {args.resume} at epoch {run.start_epoch + 1}, batch {run.start_batch}")
    z_fixed = fixed_noise(config, device)
    print(
        f"G: {G.num_parameters():,} parameters, D: {D.num_parameters():,}; "
        f"{len(loader)} batches of {config['batch_size']} per epoch; output in {run.out_dir}"
    )
    keys = ("d_loss", "g_loss", "d_real", "d_fake")
    for epoch in range(run.start_epoch, args.epochs):
        loader.set_epoch(epoch)
        skip = run.start_batch if epoch == run.start_epoch else 0
        sums = RunningSums(keys, run.partial if skip else None)
        done = skip
        started = time.perf_counter()
        bar = progress(loader, len(loader), f"epoch {epoch + 1}/{args.epochs}", args.no_progress)
        try:
            for i, (batch,) in enumerate(bar):
                if i < skip:
                    continue
                stats = trainer.step(minigan.tensor(batch, device=device))
                sums.add(stats)
                done = i + 1
                if hasattr(bar, "set_postfix") and (done % 10 == 0 or done == len(loader)):
                    bar.set_postfix(
                        d=f"{sums.values()['d_loss'] / done:.3f}",
                        g=f"{sums.values()['g_loss'] / done:.3f}",
                    )
        except KeyboardInterrupt:
            path = run.save(trainer.state_dict(), epoch, done, sums.values())
            print(
                f"\ninterrupted: saved {path} (epoch {epoch + 1}, batch {done}); "
                f"continue with --resume {path}"
            )
            return 130
        seconds = time.perf_counter() - started
        n = len(loader)
        totals = sums.values()
        row = {"epoch": epoch + 1, **{k: totals[k] / n for k in keys}, "seconds": round(seconds, 3)}
        if skip:
            row["resumed_at_batch"] = skip
        grid = save_image_grid(
            generate(G, z_fixed), run.out_dir / f"samples_epoch{epoch + 1:03d}.png", nrow=8
        )
        run.metrics.append(row)
        run.partial = {}
        run.save(trainer.state_dict(), epoch + 1, 0, {})
        print(
            f"epoch {epoch + 1}/{args.epochs}: D loss {row['d_loss']:.4f}, "
            f"G loss {row['g_loss']:.4f}, "
            f"D(x) {row['d_real']:.3f}, D(G(z)) {row['d_fake']:.3f}, {seconds:.1f}s -> {grid.name}"
        )
    return 0


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    check_common_args(parser, args)
    if args.sample is not None and args.sample < 1:
        parser.error(f"--sample must be >= 1, got {args.sample}")
    device = choose_device(args.device)
    if args.sample is not None:
        return sample_mode(args, device)
    return train(args, device)


if __name__ == "__main__":
    raise SystemExit(main())
