#!/usr/bin/env python3
# Train the MNIST classifier behind minigan.metrics (FID / classifier score) WITH minigan:
# Adam with a cosine learning-rate decay, random +-2 pixel shifts, a per-epoch test accuracy,
# an atomic write of the float32 weights, metadata JSON, the test-set feature statistics and
# the real-data floor of the metric (FID of 10k training images, score of the test set).
"""Train the classifier used by minigan's sample-quality metric.

Writes (by default into minigan/metrics/, the committed location):
  mnist_classifier.npz      the float32 weights (loaded by minigan.metrics.load_classifier)
  mnist_classifier.json     test accuracy, epochs, seed, date, timings, sha256, the floor
  mnist_test_stats.npz      mean/covariance of the test set's features (FID reference)

After retraining, paste the printed sha256 into WEIGHTS_SHA256 in
minigan/metrics/classifier.py (the metric refuses weights it does not recognise), and
update the numbers in docs/metrics.md.

Examples:
  python examples/train_classifier.py                    # the committed weights
  python examples/train_classifier.py --epochs 1 --out /tmp/clf/mnist_classifier.npz
"""

from __future__ import annotations

import argparse
import datetime
import json
import math
import sys
import time
from pathlib import Path

import numpy as np

import minigan
from minigan import optim
from minigan.data import DataLoader, DatasetError, load_mnist
from minigan.experiment import choose_device, progress
from minigan.metrics import (
    DEFAULT_BATCH,
    DEFAULT_WEIGHTS,
    WEIGHTS_SHA256,
    MNISTClassifier,
    classifier_outputs,
    cross_entropy,
    file_sha256,
    frechet_distance,
    gaussian_fit,
    load_classifier,
    preprocess,
    save_classifier,
    score_from_logits,
)
from minigan.utils import atomic_write

FLOOR_TRAIN_IMAGES = 10_000  # the floor compares train[:10000] with the test set


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--epochs", type=int, default=6, help="epochs to train (default: 6)")
    parser.add_argument("--seed", type=int, default=0, help="random seed (default: 0)")
    parser.add_argument(
        "--out",
        default=str(DEFAULT_WEIGHTS),
        help="weights file to write; the .json and mnist_test_stats.npz go next to it "
        "(default: the committed minigan/metrics/mnist_classifier.npz)",
    )
    parser.add_argument(
        "--device",
        default="auto",
        choices=("auto", "cpu", "cuda"),
        help="where to train (default: auto = cuda when usable)",
    )
    parser.add_argument("--batch-size", type=int, default=128, help="batch size (default: 128)")
    parser.add_argument(
        "--lr",
        type=float,
        default=2e-3,
        help="peak Adam learning rate, cosine-decayed to lr/100 over the run (default: 2e-3)",
    )
    parser.add_argument(
        "--shift",
        type=int,
        default=2,
        help="augmentation: random shifts of up to this many pixels (0 = off; default: 2)",
    )
    parser.add_argument(
        "--data-dir",
        default=None,
        help="MNIST directory (default: $MINIGAN_DATA_DIR or data/mnist)",
    )
    parser.add_argument(
        "--subset",
        type=int,
        default=None,
        metavar="N",
        help="train on the first N training images only (quick runs and tests)",
    )
    parser.add_argument(
        "--skip-floor",
        action="store_true",
        help="skip the test-set statistics and the real-data floor (quick runs)",
    )
    parser.add_argument("--no-progress", action="store_true", help="disable the progress bar")
    return parser


def random_shift(images: np.ndarray, max_shift: int, rng: np.random.Generator) -> np.ndarray:
    """Shift each uint8 image (B, 28, 28) by its own random (dy, dx) in [-s, s]², zero fill.

    out[b, i, j] = pad[b, i + dy_b + s, j + dx_b + s] with pad the images zero-padded by s.
    """
    if max_shift <= 0:
        return images
    s, n, h, w = max_shift, images.shape[0], images.shape[1], images.shape[2]
    padded = np.pad(images, ((0, 0), (s, s), (s, s)))
    dy = rng.integers(0, 2 * s + 1, n)
    dx = rng.integers(0, 2 * s + 1, n)
    rows = (dy[:, None] + np.arange(h))[:, :, None]
    cols = (dx[:, None] + np.arange(w))[:, None, :]
    return padded[np.arange(n)[:, None, None], rows, cols]


def accuracy(model: MNISTClassifier, images: np.ndarray, labels: np.ndarray, device: str) -> float:
    """Fraction of `images` classified as `labels` (eval mode)."""
    _, logits = classifier_outputs(images, model, DEFAULT_BATCH, device)
    return float((logits.argmax(axis=1) == labels).mean())


def train(args: argparse.Namespace, device: str) -> int:
    try:
        x_train, y_train = load_mnist("train", args.data_dir)
        x_test, y_test = load_mnist("test", args.data_dir)
    except DatasetError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    if args.subset:
        x_train, y_train = x_train[: args.subset], y_train[: args.subset]
        keep = max(args.subset // 6, 500)
        x_test, y_test = x_test[:keep], y_test[:keep]
    minigan.manual_seed(args.seed)
    model = MNISTClassifier().to(device)
    opt = optim.Adam(model.parameters(), lr=args.lr)
    loader = DataLoader(x_train, y_train, batch_size=args.batch_size, seed=args.seed)
    shift_rng = np.random.default_rng([args.seed, 1])
    total_steps = max(1, args.epochs * len(loader))
    print(
        f"classifier: {model.num_parameters():,} parameters; {len(x_train)} training images, "
        f"{len(loader)} batches of {args.batch_size} per epoch; shifts +-{args.shift} px"
    )
    history = []
    step = 0
    started = time.perf_counter()
    for epoch in range(args.epochs):
        t0 = time.perf_counter()
        model.train()
        loss_sum, correct, seen = 0.0, 0, 0
        bar = progress(loader, len(loader), f"epoch {epoch + 1}/{args.epochs}", args.no_progress)
        for xb, yb in bar:
            # cosine decay from lr to lr/100 over the whole run
            opt.lr = args.lr * (0.01 + 0.99 * 0.5 * (1 + math.cos(math.pi * step / total_steps)))
            x = minigan.tensor(preprocess(random_shift(xb, args.shift, shift_rng)), device=device)
            opt.zero_grad()
            logits = model(x)
            loss = cross_entropy(logits, yb.astype(np.int64))
            loss.backward()
            opt.step()
            step += 1
            loss_sum += loss.item() * len(yb)
            correct += int((logits.numpy().argmax(axis=1) == yb).sum())
            seen += len(yb)
            if hasattr(bar, "set_postfix") and step % 20 == 0:
                bar.set_postfix(loss=f"{loss_sum / seen:.4f}", acc=f"{correct / seen:.4f}")
        train_seconds = time.perf_counter() - t0
        model.eval()
        test_acc = accuracy(model, x_test, y_test, device)
        row = {
            "epoch": epoch + 1,
            "train_loss": loss_sum / seen,
            "train_accuracy": correct / seen,
            "test_accuracy": test_acc,
            "seconds": round(train_seconds, 1),
        }
        history.append(row)
        print(
            f"epoch {epoch + 1}/{args.epochs}: train loss {row['train_loss']:.4f}, "
            f"train acc {row['train_accuracy']:.4f}, test acc {test_acc:.4f}, "
            f"{train_seconds:.1f}s"
        )
    train_time = time.perf_counter() - started

    out = Path(args.out)
    with atomic_write(out) as f:
        save_classifier(model, f)
    digest = file_sha256(out)
    print(f"wrote {out} ({out.stat().st_size / 1e6:.2f} MB), sha256 {digest}")
    meta = {
        "arch": repr(model),
        "parameters": model.num_parameters(),
        "test_accuracy": history[-1]["test_accuracy"] if history else None,
        "test_images": len(x_test),
        "epochs": args.epochs,
        "seed": args.seed,
        "batch_size": args.batch_size,
        "lr": args.lr,
        "shift": args.shift,
        "train_images": len(x_train),
        "device": device,
        "train_seconds": round(train_time, 1),
        "date": datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds"),
        "sha256": digest,
        "history": history,
    }
    if not args.skip_floor:
        meta.update(real_data_floor(out, digest, x_train, x_test, device))
    with atomic_write(out.with_suffix(".json")) as f:
        f.write((json.dumps(meta, indent=1) + "\n").encode())
    print(f"wrote {out.with_suffix('.json')}")
    if out.resolve() == DEFAULT_WEIGHTS and digest != WEIGHTS_SHA256:
        print(
            "NOTE: the committed weights changed; set\n"
            f'  WEIGHTS_SHA256 = "{digest}"\n'
            "in minigan/metrics/classifier.py (and update the numbers in docs/metrics.md)."
        )
    return 0


def real_data_floor(
    weights: Path, digest: str, x_train: np.ndarray, x_test: np.ndarray, device: str
) -> dict:
    """Test-set feature stats (written next to the weights) and the metric's real-data floor:
    FID of the first 10,000 training images vs the test set, classifier score of both."""
    t0 = time.perf_counter()
    model = load_classifier(weights, device=device, sha256=digest)
    feats, logits = classifier_outputs(x_test, model, DEFAULT_BATCH, device)
    mu, cov = gaussian_fit(feats)
    stats_path = weights.parent / "mnist_test_stats.npz"
    with atomic_write(stats_path) as f:
        np.savez(f, mu=mu, cov=cov, classifier_sha256=np.array(digest), n=np.array(len(x_test)))
    train_part = x_train[:FLOOR_TRAIN_IMAGES]
    feats_tr, logits_tr = classifier_outputs(train_part, model, DEFAULT_BATCH, device)
    mu_tr, cov_tr = gaussian_fit(feats_tr)
    floor = {
        "fid_train10k_vs_test": frechet_distance(mu_tr, cov_tr, mu, cov),
        "floor_train_images": len(train_part),
        "score_test": score_from_logits(logits),
        "score_train10k": score_from_logits(logits_tr),
    }
    seconds = time.perf_counter() - t0
    print(
        f"real-data floor: FID(train[:{len(train_part)}] vs test) "
        f"{floor['fid_train10k_vs_test']:.4f}; classifier score: test "
        f"{floor['score_test']:.4f}, train[:{len(train_part)}] {floor['score_train10k']:.4f} "
        f"({seconds:.1f}s); wrote {stats_path}"
    )
    return floor


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    if args.epochs < 1:
        parser.error(f"--epochs must be >= 1, got {args.epochs}")
    if args.batch_size < 1:
        parser.error(f"--batch-size must be >= 1, got {args.batch_size}")
    if args.lr <= 0:
        parser.error(f"--lr must be > 0, got {args.lr}")
    if args.shift < 0 or args.shift > 8:
        parser.error(f"--shift must be in 0..8, got {args.shift}")
    if args.subset is not None and args.subset < args.batch_size:
        parser.error(f"--subset ({args.subset}) must be at least --batch-size")
    device = choose_device(args.device)
    return train(args, device)


if __name__ == "__main__":
    raise SystemExit(main())
