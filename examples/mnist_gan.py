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
import functools
import sys
import time
from pathlib import Path

import numpy as np

import minigan
from minigan import nn, optim
from minigan.data import DataLoader, DatasetError, load_mnist, scale_images
from minigan.experiment import (
    Console,
    Fail,
    Interrupts,
    Run,
    RunningSums,
    add_common_args,
    check_common_args,
    check_data_size,
    check_float,
    check_int,
    choose_device,
    diverged,
    find_checkpoint,
    finished_message,
    non_finite_arrays,
    non_finite_stats,
    parse_args,
    prepare_out_dir,
    read_checkpoint,
    restore_options,
    resume_run,
    resumed_run_dir,
    run_options,
    start_run_dir,
    stop_for_signal,
)
from minigan.models import (
    EMA,
    DCGANDiscriminator,
    DCGANGenerator,
    GANTrainer,
    MLPDiscriminator,
    MLPGenerator,
)
from minigan.random import get_rng_state
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
    "width",
    "ema",
)
NUM_FIXED = 64
ARCHS = ("mlp", "dcgan", "cgan-mlp", "cgan-dcgan")
NUM_CLASSES = 10


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


def num_classes(config: dict) -> int:
    """10 for the conditional architectures, 0 otherwise."""
    return NUM_CLASSES if config["arch"].startswith("cgan") else 0


def build_models(config: dict, device: str) -> tuple[nn.Module, nn.Module, GANTrainer]:
    k = num_classes(config)
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


def generate(G: nn.Module, z: minigan.Tensor, labels: np.ndarray | None = None) -> np.ndarray:
    """Images (N, 28, 28) in [-1, 1] from G in eval mode (conditioned on labels if given)."""
    was_training = G.training
    G.eval()
    with minigan.no_grad():
        out = G(z) if labels is None else G(z, labels)
        images = out.numpy().reshape(-1, 28, 28)
    G.train(was_training)
    return images


def sample_mode(args: argparse.Namespace, device: str, fail: Fail) -> int:
    if args.resume is None:
        print(
            "error: --sample needs --resume RUN (the run or checkpoint to sample from)",
            file=sys.stderr,
        )
        return 2
    ckpt = read_checkpoint(args.resume, KIND)
    config = ckpt["config"]
    k = num_classes(config)
    if args.sample_class is not None and not k:
        print(
            f"error: --sample-class needs a conditional model, but {args.resume} is "
            f"--arch {config['arch']}",
            file=sys.stderr,
        )
        return 2
    if args.sample_class is not None and not 0 <= args.sample_class < k:
        print(
            f"error: --sample-class must be in 0..{k - 1}, got {args.sample_class}",
            file=sys.stderr,
        )
        return 2
    _, _, trainer = build_models(config, device)
    trainer.load_state_dict(ckpt["state"])
    G = trainer.sample_generator
    minigan.manual_seed(args.seed)
    labels = None
    if k:
        cycle = np.arange(args.sample) % k
        labels = cycle if args.sample_class is None else np.full(args.sample, args.sample_class)
    chunks = []
    for start in range(0, args.sample, 1000):
        n = min(1000, args.sample - start)
        z = trainer.sample_noise(n, device)
        chunk_labels = None if labels is None else labels[start : start + n]
        chunks.append(to_uint8(generate(G, z, chunk_labels)))
    images = np.concatenate(chunks) if chunks else np.zeros((0, 28, 28), np.uint8)
    out = Path(args.sample_out or Path(args.out or Path(args.resume).parent) / "samples.npy")
    prepare_out_dir(fail, out.parent, "--sample-out" if args.sample_out else "--out")
    np.save(out, images)
    print(f"wrote {images.shape[0]} samples {images.shape} uint8 to {out}")
    if labels is not None:
        label_path = out.with_name(f"{out.stem}_labels.npy")
        np.save(label_path, labels.astype(np.uint8))
        print(f"wrote their labels ({labels.shape[0]},) uint8 to {label_path}")
    return 0


def score_generator(trainer: GANTrainer, config: dict, n: int, device: str) -> dict:
    """FID / classifier score (and label accuracy) of n samples from fixed noise.

    The noise and labels come from their own generator, so scoring never changes the
    training's random stream (exact resume still holds).
    """
    from minigan.metrics import evaluate_images  # noqa: PLC0415 - loads the classifier once used

    rng = np.random.default_rng(config["seed"] + 777)
    k = num_classes(config)
    labels = (np.arange(n) % k) if k else None
    chunks = []
    for start in range(0, n, 1000):
        m = min(1000, n - start)
        z = minigan.tensor(
            rng.standard_normal((m, config["latent_dim"])).astype(np.float32), device=device
        )
        chunk_labels = None if labels is None else labels[start : start + m]
        chunks.append(to_uint8(generate(trainer.sample_generator, z, chunk_labels)))
    scores = evaluate_images(np.concatenate(chunks), labels=labels)
    return {f"eval_{key}": float(value) for key, value in scores.items()}


def plot_metrics(rows: list[dict], path: Path) -> Path | None:
    """Loss and sample-quality curves as a PNG (needs matplotlib; skipped without it)."""
    try:
        import matplotlib  # noqa: PLC0415 - optional dependency

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt  # noqa: PLC0415
    except ImportError:
        return None
    epochs = [r["epoch"] for r in rows]
    panels = [("d_loss", "g_loss"), ("eval_fid",), ("eval_score",)]
    panels = [p for p in panels if any(k in r for r in rows for k in p)]
    fig, axes = plt.subplots(1, len(panels), figsize=(4 * len(panels), 3), squeeze=False)
    for ax, keys in zip(axes[0], panels, strict=True):
        for key in keys:
            pts = [(e, r[key]) for e, r in zip(epochs, rows, strict=True) if key in r]
            ax.plot([p[0] for p in pts], [p[1] for p in pts], marker="o", label=key)
        ax.set_xlabel("epoch")
        ax.legend()
    fig.tight_layout()
    fig.savefig(path, dpi=80)
    plt.close(fig)
    return path


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
    if ckpt is not None:
        out_dir = resumed_run_dir(fail, args.resume, args.out)
    else:
        out_dir = start_run_dir(fail, args.out, "runs/gan")
    x = scale_images(images, "tanh").reshape(len(images), -1)
    conditional = num_classes(config) > 0
    arrays = (x, labels.astype(np.int64)) if conditional else (x,)
    loader = DataLoader(
        *arrays, batch_size=config["batch_size"], shuffle=True, seed=config["seed"], drop_last=True
    )
    G, D, trainer = build_models(config, device)
    run = Run(out_dir, config, run_options(args))
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
    keys = ("d_loss", "g_loss", "d_real", "d_fake")
    row: dict = {}
    # SIGINT / SIGTERM only set a flag: checked after each step (D and G updates of a batch)
    # and after each phase of the epoch end, then a checkpoint is saved and the run exits
    with Interrupts() as stop:
        for epoch in range(run.start_epoch, args.epochs):
            loader.set_epoch(epoch)
            skip = run.start_batch if epoch == run.start_epoch else 0
            sums = RunningSums(keys, run.partial if skip else None)
            done = skip
            started = time.perf_counter()
            n = len(loader)
            bar = console.progress(loader, n, f"epoch {epoch + 1}/{args.epochs}")
            for i, batch in enumerate(bar):
                if i < skip:
                    continue
                real = minigan.tensor(batch[0], device=device)
                if conditional:
                    stats = trainer.step(real, minigan.tensor(batch[1], device=device))
                else:
                    stats = trainer.step(real)
                bad = non_finite_stats(stats, ("d_loss", "g_loss"))
                if bad:
                    losses = ", ".join(f"{k} = {v}" for k, v in bad.items())
                    return diverged(console, run, epoch, args.epochs, i + 1, n, f"loss {losses}")
                sums.add(stats)
                done = i + 1
                if hasattr(bar, "set_postfix") and (done % 10 == 0 or done == n):
                    bar.set_postfix(
                        d=f"{sums.values()['d_loss'] / done:.3f}",
                        g=f"{sums.values()['g_loss'] / done:.3f}",
                    )
                if console.step_line_due(done, n):
                    totals = sums.values()
                    console.info(
                        f"epoch {epoch + 1}/{args.epochs}, step {done}/{n}: "
                        f"D loss {totals['d_loss'] / done:.4f}, "
                        f"G loss {totals['g_loss'] / done:.4f}"
                    )
                if stop.requested:
                    close = getattr(bar, "close", None)
                    if close is not None:
                        close()
                    state = trainer.state_dict()
                    totals = sums.values()
                    return stop_for_signal(
                        console, run, stop, state, epoch, done, totals, args.epochs, n
                    )
            # the step boundary before the epoch end: an interrupt during the epoch end saves
            # this (models, RNG, sums, metrics rows), and resuming re-runs the whole epoch end,
            # which changes no parameter and draws from the RNG the same way again
            state = trainer.state_dict()
            bad_params = non_finite_arrays(state)
            if bad_params:
                what = f"parameters not finite ({', '.join(bad_params[:3])})"
                return diverged(console, run, epoch, args.epochs, n, n, what)
            totals = sums.values()
            interrupted = functools.partial(
                stop_for_signal, console, run, stop, state, epoch, n, totals, args.epochs, n,
                rng=get_rng_state(), metrics=list(run.metrics.rows),
            )  # fmt: skip
            if stop.requested:
                return interrupted()
            seconds = time.perf_counter() - started
            row = {
                "epoch": epoch + 1,
                **{k: totals[k] / n for k in keys},
                "seconds": round(seconds, 3),
            }
            if skip:
                row["resumed_at_batch"] = skip
            grid = save_image_grid(
                generate(trainer.sample_generator, z_fixed, labels_fixed),
                run.out_dir / f"samples_epoch{epoch + 1:03d}.png",
                nrow=grid_width,
            )
            if stop.requested:
                return interrupted()
            if args.eval_every and (epoch + 1) % args.eval_every == 0:
                row.update(score_generator(trainer, config, args.eval_n, device))
                if stop.requested:
                    return interrupted()
            run.metrics.append(row)
            plot_metrics(run.metrics.rows, run.out_dir / "metrics.png")
            if stop.requested:
                return interrupted()
            run.partial = {}
            run.save(state, epoch + 1, 0, {})
            console.info(
                f"epoch {epoch + 1}/{args.epochs}: D loss {row['d_loss']:.4f}, "
                f"G loss {row['g_loss']:.4f}, D(x) {row['d_real']:.3f}, "
                f"D(G(z)) {row['d_fake']:.3f}, {seconds:.1f}s -> {grid.name}"
                + (
                    f"; FID {row['eval_fid']:.2f}, score {row['eval_score']:.2f}"
                    if "eval_fid" in row
                    else ""
                )
            )
            if stop.requested:  # the checkpoint just written is the end of this epoch
                return stop_for_signal(console, run, stop, None, epoch + 1, 0, {}, args.epochs, n)
    done_epochs = len(run.metrics.rows)
    last = (
        f"D loss {row['d_loss']:.4f}, G loss {row['g_loss']:.4f}"
        + (f", FID {row['eval_fid']:.2f}" if "eval_fid" in row else "")
        if row
        else "nothing left to train"
    )
    console.summary(
        f"done: {done_epochs}/{args.epochs} epochs, {last}, "
        f"{time.perf_counter() - run.started:.1f}s; checkpoint {run.checkpoint_path}"
    )
    return 0


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
    parser = build_parser()
    args, given = parse_args(parser, argv)
    check_args(parser, args)
    ckpt, overrides = None, []
    if args.resume is not None:
        args.resume = str(find_checkpoint(parser.error, args.resume))
        if args.sample is None:  # training goes on with the run's options
            ckpt = read_checkpoint(args.resume, KIND)
            overrides = restore_options(parser.error, args, given, ckpt)
    for line in overrides if not args.quiet else []:
        print(line)
    device = choose_device(args.device, quiet=args.quiet)
    if args.sample is not None:
        return sample_mode(args, device, parser.error)
    return train(args, device, parser.error, ckpt)


if __name__ == "__main__":
    raise SystemExit(main())
