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

Checkpoints are read with the example script that wrote them (config["kind"]: "gan" ->
examples/mnist_gan.py, "vae" -> examples/mnist_vae.py), imported from this directory:
  1. if the script defines `sample_for_eval(ckpt, n, device, seed)` returning
     (uint8 images (n, 28, 28), asked labels (n,) or None), that is used;
  2. otherwise the models are rebuilt with the script's `build_models(config, device)`
     (GAN: G, D, trainer; trainer.load_state_dict(state)) or `build(config, device)`
     (VAE: model, optimizer; model.load_state_dict(state["model"])) and sampled here:
     a GAN draws from `trainer.sample_generator` (its EMA copy when present) in eval mode,
     a conditional one (`num_classes` > 0) asked for the labels 0, 1, ..., 9, 0, 1, ...
"""

from __future__ import annotations

import argparse
import importlib.util
import json
import sys
import time
from pathlib import Path
from types import ModuleType
from typing import Any

import numpy as np

import minigan
from minigan.data import DatasetError
from minigan.experiment import choose_device, find_checkpoint
from minigan.metrics import (
    DEFAULT_BATCH,
    ClassifierWeightsError,
    evaluate_images,
    load_classifier,
)
from minigan.utils import CheckpointError, atomic_write, load_checkpoint, to_uint8

EXAMPLES = Path(__file__).resolve().parent
SCRIPTS = {"gan": "mnist_gan", "vae": "mnist_vae"}


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


def example_module(kind: str) -> ModuleType:
    """Import examples/mnist_<kind>.py (the script that wrote the checkpoint)."""
    if kind not in SCRIPTS:
        raise EvaluationError(
            f"checkpoint kind {kind!r} is not one this script can sample from "
            f"(known: {sorted(SCRIPTS)})"
        )
    path = EXAMPLES / f"{SCRIPTS[kind]}.py"
    spec = importlib.util.spec_from_file_location(f"_minigan_eval_{SCRIPTS[kind]}", path)
    if spec is None or spec.loader is None or not path.is_file():
        raise EvaluationError(f"cannot import {path} to rebuild the {kind} model")
    module = importlib.util.module_from_spec(spec)
    try:
        spec.loader.exec_module(module)
    except Exception as exc:  # a script mid-edit, a missing optional dependency, ...
        raise EvaluationError(
            f"cannot import {path} to rebuild the {kind} model ({type(exc).__name__}: {exc})"
        ) from exc
    return module


def _in_batches(n: int, size: int = 1000) -> list[tuple[int, int]]:
    return [(s, min(size, n - s)) for s in range(0, n, size)]


def sample_gan(module: ModuleType, ckpt: dict, n: int, device: str) -> tuple[np.ndarray, Any]:
    G, _, trainer = module.build_models(ckpt["config"], device)
    trainer.load_state_dict(ckpt["state"])
    gen = getattr(trainer, "sample_generator", G)
    k = int(getattr(gen, "num_classes", 0) or 0)
    labels = (np.arange(n) % k).astype(np.int64) if k else None
    latent = int(getattr(trainer, "latent_dim", ckpt["config"].get("latent_dim", 100)))
    gen.eval()
    chunks = []
    with minigan.no_grad():
        for start, size in _in_batches(n):
            z = minigan.randn(size, latent, device=device)
            out = gen(z) if labels is None else gen(z, labels[start : start + size])
            chunks.append(to_uint8(out.numpy().reshape(size, 28, 28), "tanh"))
    return np.concatenate(chunks), labels


def sample_vae(module: ModuleType, ckpt: dict, n: int, device: str) -> tuple[np.ndarray, Any]:
    model, _ = module.build(ckpt["config"], device)
    model.load_state_dict(ckpt["state"]["model"])
    model.eval()
    chunks = []
    with minigan.no_grad():
        for _, size in _in_batches(n):
            probs = model.sample(size, device).numpy().reshape(size, 28, 28)
            chunks.append(to_uint8(probs, "unit"))
    return np.concatenate(chunks), None


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
    module = example_module(kind)
    minigan.manual_seed(seed)
    try:
        if hasattr(module, "sample_for_eval"):
            images, labels = module.sample_for_eval(ckpt, n, device, seed)
        elif kind == "gan" and hasattr(module, "build_models"):
            images, labels = sample_gan(module, ckpt, n, device)
        elif kind == "vae" and hasattr(module, "build"):
            images, labels = sample_vae(module, ckpt, n, device)
        else:
            raise EvaluationError(f"examples/{SCRIPTS[kind]}.py has no function to build models")
    except EvaluationError:
        raise
    except (KeyError, ValueError, TypeError, AttributeError, NotImplementedError) as exc:
        raise EvaluationError(
            f"{path}: cannot rebuild the {kind} model with arch {arch!r} using "
            f"examples/{SCRIPTS[kind]}.py in this checkout ({type(exc).__name__}: {exc}); "
            "is the checkpoint from a newer or older version of that script? You can sample "
            f"with the script itself (`python examples/{SCRIPTS[kind]}.py --sample N --resume "
            f"{path}`) and score the .npy it writes"
        ) from exc
    return np.asarray(images), labels


def run(args: argparse.Namespace) -> dict[str, Any]:
    device = choose_device(args.device)
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
