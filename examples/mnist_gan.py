#!/usr/bin/env python3
# Train a GAN on MNIST (MLP or DCGAN, unconditional or class-conditional, optional EMA of
# the generator): progress bar with live losses, a PNG grid of samples from fixed noise every
# epoch (one row per digit for conditional models), per-epoch metrics (CSV + JSON), an atomic
# checkpoint every epoch, exact resume (--resume), and a sample mode that dumps generated
# digits (and, for conditional models, their labels) as .npy.
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

import argparse
import sys

import numpy as np

import minigan
from minigan.data import DataLoader, DatasetError, load_mnist, scale_images
from minigan.models import GANTrainer
from minigan.training import (
    NUM_CLASSES,
    Console,
    EndOfEpoch,
    Fail,
    Loop,
    add_common_args,
    check_common_args,
    check_data_size,
    check_float,
    check_int,
    finished_message,
    generate,
    non_finite_stats,
    open_run,
    plot_metrics,
    read_checkpoint,
    resume_run,
    run_script,
    sample_checkpoint_path,
    sample_gan,
    sample_out_path,
)
from minigan.training import build_gan as build_models
from minigan.training import gan_num_classes as num_classes
from minigan.utils import save_image_grid

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
    "width",
    "ema",
)
NUM_FIXED = 64
ARCHS = ("mlp", "dcgan", "cgan-mlp", "cgan-dcgan")
KEYS = ("d_loss", "g_loss", "d_real", "d_fake")
PANELS = [("d_loss", "g_loss"), ("eval_fid",), ("eval_score",)]  # of metrics.png


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    add_common_args(parser, epochs=20, batch_size=128, lr=2e-4)
    recipe = parser.add_argument_group("model and recipe (stored in the checkpoint)")
    recipe.add_argument(
        "--arch",
        default="mlp",
        choices=ARCHS,
        help="architecture: mlp, dcgan, or the class-conditional cgan-mlp / cgan-dcgan "
        "(default: mlp)",
    )
    recipe.add_argument("--latent-dim", type=int, default=100, help="size of z (default: 100)")
    recipe.add_argument(
        "--width",
        type=int,
        default=64,
        help="DCGAN channel width w: G uses 4w, 2w channels, D w, 2w, 4w (default: 64)",
    )
    recipe.add_argument(
        "--ema",
        type=float,
        default=0.0,
        metavar="DECAY",
        help="keep an exponential moving average of G's weights with this decay (e.g. 0.999) "
        "and draw every sample from it; 0 = off (default: 0)",
    )
    recipe.add_argument(
        "--g-activation",
        default="leaky_relu",
        choices=("leaky_relu", "relu"),
        help="MLP generator hidden activation; relu without batchnorm is the seed model, which "
        "tends to collapse (default: leaky_relu, slope 0.2)",
    )
    recipe.add_argument(
        "--g-batchnorm",
        action=argparse.BooleanOptionalAction,
        default=True,
        help="BatchNorm1d after each MLP generator hidden layer (default: on)",
    )
    recipe.add_argument(
        "--d-dropout",
        type=float,
        default=0.3,
        help="dropout in the MLP discriminator (default: 0.3)",
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
    quality = parser.add_argument_group("sample quality (minigan.metrics)")
    quality.add_argument(
        "--eval-every",
        type=int,
        default=1,
        metavar="K",
        help="every K epochs, score --eval-n generated images (FID vs the MNIST test set, "
        "classifier score, label accuracy for conditional models) into the metrics; "
        "0 = never (default: 1)",
    )
    quality.add_argument(
        "--eval-n", type=int, default=2000, help="images scored each time (default: 2000)"
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
        "--sample-out",
        default=None,
        help="where --sample writes (default: samples.npy in the run's directory, or in --out "
        "if given); conditional models also "
        "write the labels next to it (samples_labels.npy)",
    )
    sampling.add_argument(
        "--sample-class",
        type=int,
        metavar="K",
        default=None,
        help="conditional models: generate only digit K (default: labels cycle 0..9)",
    )
    return parser


def fixed_inputs(config: dict, device: str) -> tuple[minigan.Tensor, np.ndarray | None, int]:
    """The latents (and labels) of the per-epoch grid, the same every epoch, and its width.

    Unconditional: 64 latent vectors, an 8x8 grid. Conditional: a 10x10 grid with one row
    per digit and the same 10 latent vectors in every row (so a column keeps its "style").
    Drawn from an own generator: the training RNG is untouched.
    """
    rng = np.random.default_rng(config["seed"] + 12345)
    if not num_classes(config):
        z = rng.standard_normal((NUM_FIXED, config["latent_dim"])).astype(np.float32)
        return minigan.tensor(z, device=device), None, 8
    k = NUM_CLASSES
    columns = rng.standard_normal((k, config["latent_dim"])).astype(np.float32)
    z = np.tile(columns, (k, 1))  # row r, column c -> columns[c]
    labels = np.repeat(np.arange(k), k)  # row r -> digit r
    return minigan.tensor(z, device=device), labels, k


def sample_mode(args: argparse.Namespace, device: str, fail: Fail) -> int:
    if sample_checkpoint_path(args) is None:
        return 2
    ckpt = read_checkpoint(args.resume, KIND)
    config = ckpt["config"]
    k = num_classes(config)
    if args.sample_class is not None and not k:
        return _error(
            f"--sample-class needs a conditional model, but {args.resume} is "
            f"--arch {config['arch']}"
        )
    if args.sample_class is not None and not 0 <= args.sample_class < k:
        return _error(f"--sample-class must be in 0..{k - 1}, got {args.sample_class}")
    _, _, trainer = build_models(config, device)
    trainer.load_state_dict(ckpt["state"])
    minigan.manual_seed(args.seed)
    labels = None
    if k:
        cycle = np.arange(args.sample) % k
        labels = cycle if args.sample_class is None else np.full(args.sample, args.sample_class)
    images = sample_gan(trainer, args.sample, device, labels)
    out = sample_out_path(args, fail)
    np.save(out, images)
    print(f"wrote {images.shape[0]} samples {images.shape} uint8 to {out}")
    if labels is not None:
        label_path = out.with_name(f"{out.stem}_labels.npy")
        np.save(label_path, labels.astype(np.uint8))
        print(f"wrote their labels ({labels.shape[0]},) uint8 to {label_path}")
    return 0


def _error(message: str) -> int:
    print(f"error: {message}", file=sys.stderr)
    return 2


def score_generator(trainer: GANTrainer, config: dict, n: int, device: str) -> dict:
    """FID / classifier score (and label accuracy) of n samples from fixed noise.

    The noise and labels come from their own generator, so scoring never changes the
    training's random stream (exact resume still holds).
    """
    from minigan.metrics import evaluate_images  # noqa: PLC0415 - loads the classifier once used

    rng = np.random.default_rng(config["seed"] + 777)
    k = num_classes(config)
    labels = (np.arange(n) % k) if k else None

    def noise(m: int) -> minigan.Tensor:
        z = rng.standard_normal((m, config["latent_dim"])).astype(np.float32)
        return minigan.tensor(z, device=device)

    scores = evaluate_images(sample_gan(trainer, n, device, labels, noise), labels=labels)
    return {f"eval_{key}": float(value) for key, value in scores.items()}


def _scores(row: dict) -> str:
    return f"; FID {row['eval_fid']:.2f}, score {row['eval_score']:.2f}"


def train(args: argparse.Namespace, device: str, fail: Fail, ckpt: dict | None = None) -> int:
    """Train a new run, or continue `ckpt` (read from args.resume, its options restored)."""
    console = Console(args.quiet, args.no_progress, args.log_every)
    if ckpt is not None:
        finished = finished_message(ckpt, args.epochs)
        if finished:
            console.summary(finished)
            return 0
    config = ckpt["config"] if ckpt else {"kind": KIND, **{k: getattr(args, k) for k in MODEL_KEYS}}
    minigan.manual_seed(config["seed"])
    try:
        images, labels = load_mnist("train", args.data_dir)
    except DatasetError as exc:
        console.error(str(exc))
        return 2
    used = check_data_size(fail, args, len(images), config["batch_size"])
    images, labels = images[:used], labels[:used]
    run = open_run(fail, args, config, ckpt, "runs/gan")
    x = scale_images(images, "tanh").reshape(len(images), -1)
    conditional = num_classes(config) > 0
    arrays = (x, labels.astype(np.int64)) if conditional else (x,)
    loader = DataLoader(
        *arrays, batch_size=config["batch_size"], shuffle=True, seed=config["seed"], drop_last=True
    )
    G, D, trainer = build_models(config, device)
    if ckpt:
        trainer.load_state_dict(resume_run(run, ckpt))
        console.info(
            f"resumed from {args.resume} at epoch {run.start_epoch + 1}, batch {run.start_batch}"
        )
    z_fixed, labels_fixed, grid_width = fixed_inputs(config, device)
    ema = f", EMA of G (decay {config['ema']})" if trainer.ema is not None else ""
    console.info(
        f"{config['arch']}: G {G.num_parameters():,} parameters, D {D.num_parameters():,}{ema}; "
        f"{len(loader)} batches of {config['batch_size']} per epoch; output in {run.out_dir}"
    )

    def step(batch: tuple) -> dict | str:
        real = minigan.tensor(batch[0], device=device)
        if conditional:
            stats = trainer.step(real, minigan.tensor(batch[1], device=device))
        else:
            stats = trainer.step(real)
        bad = non_finite_stats(stats, ("d_loss", "g_loss"))
        return f"loss {', '.join(f'{k} = {v}' for k, v in bad.items())}" if bad else stats

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
        if args.eval_every and (epoch + 1) % args.eval_every == 0:
            row.update(score_generator(trainer, config, args.eval_n, device))
            yield
        return row, (
            f"epoch {epoch + 1}/{args.epochs}: D loss {row['d_loss']:.4f}, "
            f"G loss {row['g_loss']:.4f}, D(x) {row['d_real']:.3f}, "
            f"D(G(z)) {row['d_fake']:.3f}, {seconds:.1f}s -> {grid.name}"
            + (_scores(row) if "eval_fid" in row else "")
        )

    def postfix(totals: dict, done: int) -> dict:
        return {"d": f"{totals['d_loss'] / done:.3f}", "g": f"{totals['g_loss'] / done:.3f}"}

    def losses(totals: dict, done: int) -> str:
        return f"D loss {totals['d_loss'] / done:.4f}, G loss {totals['g_loss'] / done:.4f}"

    def summary(row: dict) -> str:
        fid = f", FID {row['eval_fid']:.2f}" if "eval_fid" in row else ""
        return f"{losses(row, 1)}{fid}"

    loop = Loop(
        console,
        run,
        args.epochs,
        loader,
        KEYS,
        step,
        trainer.state_dict,
        end_of_epoch,
        postfix,
        losses,
        summary,
        after_metrics=lambda rows: plot_metrics(rows, run.out_dir / "metrics.png", PANELS),
    )
    return loop()


def check_args(parser: argparse.ArgumentParser, args: argparse.Namespace) -> None:
    """Every option checked before any work: exit code 2 and one line naming it."""
    fail = parser.error
    check_common_args(parser, args)
    check_int(fail, "--latent-dim", args.latent_dim, 1)
    check_int(fail, "--width", args.width, 1)
    check_float(fail, "--ema", args.ema, 0.0, 1.0, note=" (0 = off)")
    check_float(fail, "--d-dropout", args.d_dropout, 0.0, 1.0)
    check_float(fail, "--beta1", args.beta1, 0.0, 1.0)
    check_float(fail, "--label-smoothing", args.label_smoothing, 0.0, 1.0)
    check_int(fail, "--n-critic", args.n_critic, 1)
    check_int(fail, "--eval-every", args.eval_every, 0, note=" (0 = never)")
    check_int(fail, "--eval-n", args.eval_n, 2)
    if args.sample_class is not None and args.sample is None:
        parser.error("argument --sample-class: only applies with --sample N")


def main(argv: list[str] | None = None) -> int:
    return run_script(build_parser(), argv, KIND, check_args, train, sample_mode)


if __name__ == "__main__":
    raise SystemExit(main())
