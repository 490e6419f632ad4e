#!/usr/bin/env python3
# Score generated MNIST digits with minigan.metrics: FID against the MNIST test set, the
# classifier score, and (given the asked labels) the label accuracy; from a .npy of uint8
# images, or from a GAN/VAE checkpoint of examples/mnist_gan.py / mnist_vae.py.
"""Score generated digits: FID (vs the MNIST test set), classifier score, label accuracy.

The numbers come from minigan's own MNIST classifier (see docs/metrics.md); they are
comparable between minigan runs, not with published Inception-network FIDs.

Examples:
  python examples/evaluate.py samples.npy
  python examples/evaluate.py samples.npy --labels labels.npy --json scores.json
  python examples/evaluate.py --checkpoint runs/gan --n 10000      # the latest run in runs/gan
  python examples/evaluate.py --checkpoint runs/vae/run-001 --save-samples vae.npy

Checkpoints are read with minigan.training.sample_from_checkpoint, which rebuilds the model
from the checkpoint's config (config["kind"]: "gan" or "vae") and draws from it in chunks: a
GAN from its generator's EMA copy when present, in eval mode (a conditional one asked for the
labels 0, 1, ..., 9, 0, 1, ...), a VAE decoding z ~ N(0, I).
"""

from __future__ import annotations

# minigan before NumPy, so that OpenBLAS's idle threads sleep (see minigan/__init__.py)
import minigan  # noqa: F401

# isort: split
import argparse
import json
import sys
import time
from pathlib import Path
from typing import Any

import numpy as np

from minigan.data import DatasetError
from minigan.metrics import (
    DEFAULT_BATCH,
    ClassifierWeightsError,
    evaluate_images,
    load_classifier,
)
from minigan.training import (
    SAMPLEABLE,
    choose_device,
    find_checkpoint,
    sample_from_checkpoint,
    set_up_cpu,
)
from minigan.utils import CheckpointError, atomic_write, load_checkpoint


class EvaluationError(RuntimeError):
    """Something the user can fix (bad file, unsupported checkpoint); printed, exit 2."""


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument(
        "images", nargs="?", default=None, help=".npy of uint8 images (N, 28, 28) or (N, 784)"
    )
    parser.add_argument(
        "--checkpoint",
        metavar="CKPT",
        default=None,
        help="a checkpoint of examples/mnist_gan.py or mnist_vae.py to sample from instead: "
        "the file, its run directory (OUT/run-NNN), or OUT (its latest run)",
    )
    parser.add_argument(
        "--n",
        type=int,
        default=10_000,
        help="images to draw from --checkpoint (default: 10000, the size of the test set)",
    )
    parser.add_argument(
        "--seed", type=int, default=0, help="seed for sampling from --checkpoint (default: 0)"
    )
    parser.add_argument(
        "--labels",
        default=None,
        help=".npy of the integer labels (N,) the images were asked to show (conditional "
        "GANs): adds the label accuracy",
    )
    parser.add_argument(
        "--save-samples",
        metavar="NPY",
        default=None,
        help="also write the images drawn from --checkpoint (and NPY's '_labels' twin)",
    )
    parser.add_argument("--json", metavar="OUT", default=None, help="write the numbers as JSON")
    parser.add_argument(
        "--device",
        default="cpu",
        choices=("auto", "cpu", "cuda"),
        help="where the classifier (and the generator) run (default: cpu)",
    )
    parser.add_argument(
        "--batch-size",
        type=int,
        default=DEFAULT_BATCH,
        help=f"classifier batch size (default: {DEFAULT_BATCH})",
    )
    parser.add_argument(
        "--classifier",
        default=None,
        help="classifier weights .npz (default: the committed minigan/metrics weights)",
    )
    parser.add_argument(
        "--data-dir",
        default=None,
        help="MNIST directory, needed only if the test-set statistics must be recomputed",
    )
    return parser


def load_npy(path: str, what: str) -> np.ndarray:
    try:
        return np.load(path, allow_pickle=False)
    except FileNotFoundError:
        raise EvaluationError(f"{what} file {path} not found") from None
    except (OSError, ValueError) as exc:
        raise EvaluationError(f"{path}: cannot read it as a .npy array ({exc})") from exc


def _refuse(message: str) -> None:
    raise EvaluationError(message)


def sample_checkpoint(path: str, n: int, device: str, seed: int) -> tuple[np.ndarray, Any]:
    """(uint8 images (n, 28, 28), asked labels or None) drawn from a training checkpoint."""
    try:
        ckpt = load_checkpoint(path)
    except CheckpointError as exc:
        raise EvaluationError(str(exc)) from None
    config = ckpt.get("config")
    if not isinstance(config, dict) or "state" not in ckpt:
        raise EvaluationError(f"{path}: not a checkpoint of examples/mnist_gan.py or mnist_vae.py")
    kind, arch = config.get("kind"), config.get("arch", "?")
    if kind not in SAMPLEABLE:
        raise EvaluationError(
            f"checkpoint kind {kind!r} is not one this script can sample from "
            f"(known: {sorted(SAMPLEABLE)})"
        )
    try:
        images, labels = sample_from_checkpoint(ckpt, n, device, seed)
    except (KeyError, ValueError, TypeError, AttributeError, NotImplementedError) as exc:
        raise EvaluationError(
            f"{path}: cannot rebuild the {kind} model with arch {arch!r} in this version of "
            f"minigan ({type(exc).__name__}: {exc}); is the checkpoint from a newer or older "
            f"version? You can sample with the script that wrote it (`python "
            f"examples/mnist_{kind}.py --sample N --resume {path}`) and score the .npy it writes"
        ) from exc
    return np.asarray(images), labels


def run(args: argparse.Namespace) -> dict[str, Any]:
    device = choose_device(args.device)
    if device == "cpu":
        set_up_cpu(None)
    labels = load_npy(args.labels, "labels") if args.labels else None
    if args.checkpoint:
        # the file, its run directory, or the directory of runs (its latest run)
        args.checkpoint = str(find_checkpoint(_refuse, args.checkpoint, "--checkpoint"))
        t0 = time.perf_counter()
        images, asked = sample_checkpoint(args.checkpoint, args.n, device, args.seed)
        print(
            f"drew {len(images)} images from {args.checkpoint} in {time.perf_counter() - t0:.1f}s"
        )
        if labels is None:
            labels = asked
        if args.save_samples:
            out = Path(args.save_samples)
            out.parent.mkdir(parents=True, exist_ok=True)
            np.save(out, images)
            if asked is not None:
                np.save(out.with_name(out.stem + "_labels.npy"), asked)
            print(f"wrote {out}")
        source = args.checkpoint
    else:
        images = load_npy(args.images, "images")
        source = args.images
    classifier = None
    if args.classifier:
        classifier = load_classifier(args.classifier, device=device)
    t0 = time.perf_counter()
    try:
        result = evaluate_images(
            images,
            labels=labels,
            classifier=classifier,
            batch_size=args.batch_size,
            device=device,
            data_dir=args.data_dir,
        )
    except (TypeError, ValueError) as exc:
        raise EvaluationError(f"{source}: {exc}") from None
    seconds = time.perf_counter() - t0
    result = {**result, "n": int(len(images)), "source": str(source), "seconds": round(seconds, 2)}
    line = f"{source}: N={len(images)}  FID {result['fid']:.4f}  score {result['score']:.4f}"
    if "label_accuracy" in result:
        line += f"  label accuracy {result['label_accuracy']:.4f}"
    print(f"{line}  ({seconds:.1f}s)")
    if args.json:
        with atomic_write(args.json) as f:
            f.write((json.dumps(result, indent=1) + "\n").encode())
        print(f"wrote {args.json}")
    return result


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    if (args.images is None) == (args.checkpoint is None):
        parser.error("give either an images .npy or --checkpoint CKPT (exactly one)")
    if args.n < 2:
        parser.error(f"--n must be >= 2, got {args.n}")
    if args.batch_size < 1:
        parser.error(f"--batch-size must be >= 1, got {args.batch_size}")
    try:
        run(args)
    except (EvaluationError, ClassifierWeightsError, DatasetError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
