#!/usr/bin/env python3
# Train a GAN on MNIST (MLP or DCGAN, unconditional or class-conditional, optional EMA of
# the generator). This script defines the recipe's options, the models' training step and
# what ends an epoch (a PNG grid of samples from fixed noise, one row per digit for
# conditional models; the sample-quality scores); minigan.training does the rest: the run
# directory, per-epoch metrics (CSV + JSON + plot), atomic checkpoints, exact resume,
# interrupts, progress, and the --sample mode that dumps generated digits as .npy.
"""Train a GAN on MNIST with minigan.

Architectures (--arch): mlp (784-wide MLPs), dcgan (transposed convolutions in G, strided
convolutions in D; --width sets the channel width), and their class-conditional variants
cgan-mlp and cgan-dcgan, which generate the digit you ask for.

Examples:
  python examples/mnist_gan.py --device cpu --epochs 5
  python examples/mnist_gan.py --arch dcgan --ema 0.999 --epochs 5
  python examples/mnist_gan.py --resume runs/gan --epochs 10   # the latest run, to 10 epochs
  python examples/mnist_gan.py --sample 1000 --resume runs/gan/run-001
  python examples/mnist_gan.py --sample 100 --sample-class 7 --resume runs/cgan

Each run writes into its own new directory OUT/run-NNN (OUT: --out, default runs/gan) and
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
from minigan.models import GANTrainer
from minigan.training import (
    EVAL_OPTIONS,
    EVAL_TITLE,
    GAN_CONFIG_KEYS,
    GAN_RECIPE,
    GAN_RECIPE_TITLE,
    SAMPLE_TITLE,
    EndOfEpoch,
    Fail,
    Loop,
    add_common_args,
    add_options,
    eval_due,
    gan_fixed_inputs,
    gan_num_classes,
    generate,
    new_config,
    non_finite_stats,
    plot_metrics,
    run_script,
    sample_options,
    score_generator,
    scores_text,
    start_run,
)
from minigan.training import build_gan as build_models
from minigan.utils import save_image_grid

KIND = "gan"
KEYS = ("d_loss", "g_loss", "d_real", "d_fake")  # a step's statistics, averaged per epoch
PANELS = [("d_loss", "g_loss"), ("eval_fid",), ("eval_score",)]  # of metrics.png
SAMPLE = sample_options("generated images", labels=True)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    add_common_args(parser, epochs=40, batch_size=128, lr=3e-4)
    add_options(parser, GAN_RECIPE, GAN_RECIPE_TITLE)
    add_options(parser, EVAL_OPTIONS, EVAL_TITLE)
    add_options(parser, SAMPLE, SAMPLE_TITLE)
    return parser


def train_step(trainer: GANTrainer, batch: tuple, device: str, conditional: bool) -> dict | str:
    """One step (n_critic D updates and one G update) on a batch: its statistics, or what is
    not finite (then the run stops there)."""
    real = minigan.tensor(batch[0], device=device)
    if conditional:
        stats = trainer.step(real, minigan.tensor(batch[1], device=device))
    else:
        stats = trainer.step(real)
    bad = non_finite_stats(stats, ("d_loss", "g_loss"))
    return f"loss {', '.join(f'{k} = {v}' for k, v in bad.items())}" if bad else stats


def train(args: argparse.Namespace, device: str, fail: Fail, ckpt: dict | None = None) -> int:
    """Train a new run, or continue `ckpt` (read from args.resume, its options restored)."""
    start = start_run(args, fail, ckpt, new_config(args, KIND, GAN_CONFIG_KEYS), "runs/gan")
    console, config, run = start.console, start.config, start.run
    images, labels = start.train
    x = scale_images(images, "tanh").reshape(len(images), -1)
    conditional = gan_num_classes(config) > 0
    arrays = (x, labels.astype(np.int64)) if conditional else (x,)
    loader = DataLoader(
        *arrays, batch_size=config["batch_size"], shuffle=True, seed=config["seed"], drop_last=True
    )
    G, D, trainer = build_models(config, device)
    start.restore(trainer.load_state_dict)
    z_fixed, labels_fixed, grid_width = gan_fixed_inputs(config, device)
    ema = f", EMA of G (decay {config['ema']})" if trainer.ema is not None else ""
    console.info(
        f"{config['arch']}: G {G.num_parameters():,} parameters, D {D.num_parameters():,}{ema}; "
        f"{len(loader)} batches of {config['batch_size']} per epoch; output in {run.out_dir}"
    )

    def end_of_epoch(epoch: int, totals: dict, n: int, seconds: float, skip: int) -> EndOfEpoch:
        row = {"epoch": epoch + 1, **{k: totals[k] / n for k in KEYS}, "seconds": round(seconds, 3)}
        if skip:
            row["resumed_at_batch"] = skip
        grid = save_image_grid(
            generate(trainer.sample_generator, z_fixed, labels_fixed),
            run.out_dir / f"samples_epoch{epoch + 1:03d}.png",
            nrow=grid_width,
        )
        yield
        if eval_due(args, epoch):
            row.update(score_generator(trainer, config, args.eval_n, device))
            yield
        return row, (
            f"epoch {epoch + 1}/{args.epochs}: D loss {row['d_loss']:.4f}, "
            f"G loss {row['g_loss']:.4f}, D(x) {row['d_real']:.3f}, "
            f"D(G(z)) {row['d_fake']:.3f}, {seconds:.1f}s -> {grid.name}{scores_text(row)}"
        )

    def losses(totals: dict, done: int) -> str:
        return f"D loss {totals['d_loss'] / done:.4f}, G loss {totals['g_loss'] / done:.4f}"

    def postfix(totals: dict, done: int) -> dict:
        return {"d": f"{totals['d_loss'] / done:.3f}", "g": f"{totals['g_loss'] / done:.3f}"}

    def summary(row: dict) -> str:
        return losses(row, 1) + (f", FID {row['eval_fid']:.2f}" if "eval_fid" in row else "")

    loop = Loop(
        console, run, args.epochs, loader, KEYS,
        step=lambda batch: train_step(trainer, batch, device, conditional),
        state=trainer.state_dict, end_of_epoch=end_of_epoch, postfix=postfix,
        step_text=losses, summary=summary,
        after_metrics=lambda rows: plot_metrics(rows, run.out_dir / "metrics.png", PANELS),
    )  # fmt: skip
    return loop()


def main(argv: list[str] | None = None) -> int:
    return run_script(build_parser(), argv, KIND, train, options=GAN_RECIPE + EVAL_OPTIONS + SAMPLE)


if __name__ == "__main__":
    raise SystemExit(main())
