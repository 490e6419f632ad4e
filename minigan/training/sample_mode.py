# The --sample mode of the example scripts: instead of training, draw N images (in chunks)
# from the checkpoint of a run and write them as a uint8 .npy (and, for a conditional GAN,
# the labels they were asked to show next to them).
from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Any

import numpy as np

from ..random import manual_seed
from .builders import build_gan, build_vae, gan_num_classes
from .option_table import Option
from .options import Fail
from .run import prepare_out_dir, read_checkpoint
from .sampling import sample_gan, sample_vae

SAMPLE_TITLE = "sample mode"


def sample_options(what: str, labels: bool = False) -> tuple[Option, ...]:
    """--sample N, --sample-out and (`labels`: for class-conditional models) --sample-class;
    `what` names the images in the help ("generated images", "decoded samples")."""
    out_help = (
        "where --sample writes (default: samples.npy in the run's directory, or in --out if given)"
    )
    if labels:
        out_help += "; conditional models also write the labels next to it (samples_labels.npy)"
    options = (
        Option(
            "--sample",
            None,
            f"instead of training, write N {what} (uint8, N x 28 x 28) from the checkpoint "
            "given by --resume to --sample-out",
            type=int,
            metavar="N",
            low=1,
        ),
        Option("--sample-out", None, out_help),
    )
    if labels:
        options += (
            Option(
                "--sample-class",
                None,
                "conditional models: generate only digit K (default: labels cycle 0..9)",
                type=int,
                metavar="K",
            ),
        )
    return options


def check_sample_options(fail: Fail, args: argparse.Namespace) -> None:
    """The sample options that only apply with --sample N."""
    if getattr(args, "sample_class", None) is not None and args.sample is None:
        fail("argument --sample-class: only applies with --sample N")


def sample_checkpoint_path(args: argparse.Namespace) -> str | None:
    """The checkpoint --sample draws from (args.resume), or None after printing why not."""
    if args.resume is None:
        print(
            "error: --sample needs --resume RUN (the run or checkpoint to sample from)",
            file=sys.stderr,
        )
    return args.resume


def sample_out_path(args: argparse.Namespace, fail: Fail) -> Path:
    """Where --sample writes: --sample-out, else samples.npy in --out or the run's directory
    (checked writable, created if missing)."""
    out = Path(args.sample_out or Path(args.out or Path(args.resume).parent) / "samples.npy")
    prepare_out_dir(fail, out.parent, "--sample-out" if args.sample_out else "--out")
    return out


def _error(message: str) -> int:
    print(f"error: {message}", file=sys.stderr)
    return 2


def _sample_labels(args: argparse.Namespace, config: dict[str, Any]) -> np.ndarray | None | str:
    """The labels a conditional GAN is asked for (cycling 0..9, or --sample-class K for all),
    None for an unconditional model, or a string saying why --sample-class is wrong."""
    k = gan_num_classes(config) if config.get("kind") == "gan" else 0
    wanted = getattr(args, "sample_class", None)
    if wanted is not None and not k:
        arch = f"--arch {config['arch']}" if "arch" in config else "not conditional"
        return f"--sample-class needs a conditional model, but {args.resume} is {arch}"
    if wanted is not None and not 0 <= wanted < k:
        return f"argument --sample-class: must be in 0..{k - 1} (the model's classes), got {wanted}"
    if not k:
        return None
    return np.arange(args.sample) % k if wanted is None else np.full(args.sample, wanted)


def sample_mode(args: argparse.Namespace, device: str, fail: Fail, kind: str) -> int:
    """--sample N: rebuild the models of the checkpoint args.resume (a GAN's or a VAE's),
    seed with --seed, draw N images and write them (and the labels) to `sample_out_path`.
    Returns the exit code."""
    if sample_checkpoint_path(args) is None:
        return 2
    ckpt = read_checkpoint(args.resume, kind)
    config = ckpt["config"]
    labels = _sample_labels(args, config)
    if isinstance(labels, str):
        return _error(labels)
    if kind == "gan":
        _, _, trainer = build_gan(config, device)
        trainer.load_state_dict(ckpt["state"])
        manual_seed(args.seed)
        images = sample_gan(trainer, args.sample, device, labels)
    else:
        model, _ = build_vae(config, device)
        model.load_state_dict(ckpt["state"]["model"])
        manual_seed(args.seed)
        images = sample_vae(model, args.sample, device)  # in training mode, as it was saved
    out = sample_out_path(args, fail)
    np.save(out, images)
    print(f"wrote {images.shape[0]} samples {images.shape} uint8 to {out}")
    if labels is not None:
        label_path = out.with_name(f"{out.stem}_labels.npy")
        np.save(label_path, labels.astype(np.uint8))
        print(f"wrote their labels ({labels.shape[0]},) uint8 to {label_path}")
    return 0
