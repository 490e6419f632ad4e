#!/usr/bin/env python3
# Train a VAE (MLP or convolutional) on MNIST. This script defines the training step (the
# negative ELBO per sample) and what ends an epoch (the test loss; PNG grids of samples, of
# test reconstructions and of a latent interpolation, plus the decoded latent manifold when
# the latent space is 2-d); minigan.training does the rest: the run directory, metrics
# (CSV + JSON), atomic checkpoints, exact resume, interrupts, progress, and the --sample
# mode writing .npy digits.
"""Train a variational autoencoder on MNIST with minigan.

The loss is the negative ELBO per sample: summed binary cross-entropy of the 784 pixels
plus the KL divergence of q(z|x) from N(0, I). PyTorch's reference example reaches a test
loss of about 105.8 after 10 epochs with the MLP model (--arch mlp); --arch conv uses a
convolutional encoder and decoder with the same loss.

Examples:
  python examples/mnist_vae.py --device cpu --epochs 10
  python examples/mnist_vae.py --arch conv --epochs 10
  python examples/mnist_vae.py --latent-dim 2 --epochs 10    # also draws the 2-d manifold
  python examples/mnist_vae.py --resume runs/vae --epochs 20   # the latest run, to 20 epochs
  python examples/mnist_vae.py --sample 1000 --resume runs/vae/run-001

Each run writes into its own new directory OUT/run-NNN (OUT: --out, default runs/vae) and
OUT/latest points at the newest; --resume continues a run in its directory, with the options
it was started with.
"""

from __future__ import annotations

# minigan before NumPy, so that OpenBLAS's idle threads sleep (see minigan/__init__.py)
import minigan

# isort: split
import argparse

import numpy as np

from minigan.data import DataLoader, scale_images
from minigan.models import VAE, vae_loss
from minigan.training import (
    SAMPLE_TITLE,
    VAE_CONFIG_KEYS,
    VAE_RECIPE,
    VAE_RECIPE_TITLE,
    EndOfEpoch,
    Fail,
    Loop,
    VAEPictures,
    add_common_args,
    add_options,
    new_config,
    non_finite_stats,
    run_script,
    sample_options,
    start_run,
)
from minigan.training import build_vae as build
from minigan.utils import save_image_grid

KIND = "vae"
KEYS = ("loss_sum", "samples")  # summed over an epoch: the loss is their ratio
SAMPLE = sample_options("decoded samples")


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    add_common_args(parser, epochs=10, batch_size=128, lr=1e-3)
    add_options(parser, VAE_RECIPE, VAE_RECIPE_TITLE)
    add_options(parser, SAMPLE, SAMPLE_TITLE)
    return parser


def evaluate(model: VAE, x_test: np.ndarray, device: str, batch_size: int = 1000) -> float:
    """Mean negative ELBO per test sample (one posterior sample per image, as in training)."""
    model.eval()
    total = 0.0
    with minigan.no_grad():
        for start in range(0, len(x_test), batch_size):
            xb = minigan.tensor(x_test[start : start + batch_size], device=device)
            logits, mu, logvar = model(xb)
            total += vae_loss(logits, xb, mu, logvar).item() * xb.shape[0]
    model.train()
    return total / len(x_test)


def train(args: argparse.Namespace, device: str, fail: Fail, ckpt: dict | None = None) -> int:
    """Train a new run, or continue `ckpt` (read from args.resume, its options restored)."""
    config = new_config(args, KIND, VAE_CONFIG_KEYS)
    start = start_run(args, fail, ckpt, config, "runs/vae", test_min=100)
    console, config, run = start.console, start.config, start.run
    x_train = scale_images(start.train[0], "unit").reshape(len(start.train[0]), -1)
    x_test = scale_images(start.test[0], "unit").reshape(len(start.test[0]), -1)
    loader = DataLoader(x_train, batch_size=config["batch_size"], shuffle=True, seed=config["seed"])
    model, opt = build(config, device)

    def load(state: dict) -> None:
        model.load_state_dict(state["model"])
        opt.load_state_dict(state["opt"])

    start.restore(load)
    pictures = VAEPictures(config, x_test, device)
    console.info(
        f"VAE: {model.num_parameters():,} parameters; {len(loader)} batches per epoch; "
        f"output in {run.out_dir}"
    )

    def step(batch: tuple) -> dict | str:
        xb = minigan.tensor(batch[0], device=device)
        opt.zero_grad()
        logits, mu, logvar = model(xb)
        loss = vae_loss(logits, xb, mu, logvar)
        bad = non_finite_stats({"loss": loss}, ("loss",))
        if bad:
            return f"loss = {bad.get('loss', bad.get('sum'))}"
        loss.backward()
        opt.step()
        return {"loss_sum": loss, "samples": 1.0}

    def end_of_epoch(epoch: int, totals: dict, n: int, seconds: float, skip: int) -> EndOfEpoch:
        test_loss = evaluate(model, x_test, device)
        yield
        row = {
            "epoch": epoch + 1,
            "train_loss": totals["loss_sum"] / totals["samples"],
            "test_loss": test_loss,
            "seconds": round(seconds, 3),
        }
        for name, (images, nrow) in pictures(model).items():
            path = run.out_dir / f"{name}_epoch{epoch + 1:03d}.png"
            save_image_grid(images, path, nrow=nrow, value_range="unit")
        yield
        return row, (
            f"epoch {epoch + 1}/{args.epochs}: train loss {row['train_loss']:.2f}, "
            f"test loss {test_loss:.2f}, {seconds:.1f}s"
        )

    def train_loss(totals: dict, done: int) -> str:
        return f"train loss {totals['loss_sum'] / totals['samples']:.2f}"

    loop = Loop(
        console, run, args.epochs, loader, KEYS, step,
        state=lambda: {"model": model.state_dict(), "opt": opt.state_dict()},
        end_of_epoch=end_of_epoch,
        postfix=lambda t, done: {"loss": f"{t['loss_sum'] / t['samples']:.2f}"},
        step_text=train_loss,
        summary=lambda row: f"train loss {row['train_loss']:.2f}, test loss {row['test_loss']:.2f}",
        weight=lambda batch: len(batch[0]),
    )  # fmt: skip
    return loop()


def main(argv: list[str] | None = None) -> int:
    return run_script(build_parser(), argv, KIND, train, options=VAE_RECIPE + SAMPLE)


if __name__ == "__main__":
    raise SystemExit(main())
