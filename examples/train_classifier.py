#!/usr/bin/env python3
# Train the MNIST classifier behind minigan.metrics (FID / classifier score) WITH minigan:
# Adam with a cosine learning-rate decay, random +-2 pixel shifts, a per-epoch test accuracy,
# an atomic write of the float32 weights, metadata JSON, the test-set feature statistics and
# the real-data floor of the metric (FID of 10k training images, score of the test set).
"""Train the classifier used by minigan's sample-quality metric.

Each run writes into a new numbered directory OUT/run-NNN (default OUT: runs/classifier),
never over an existing file:
  mnist_classifier.npz      the float32 weights (minigan.metrics.load_classifier(PATH))
  mnist_classifier.json     test accuracy, epochs, seed, date, timings, sha256, the floor
  mnist_test_stats.npz      mean/covariance of the test set's features (FID reference)

The packaged weights in minigan/metrics/ (what the metric uses by default) are replaced
only on request: --install-weights after training, or --install-from RUN_DIR for a
finished run. Installing copies the three files and rewrites WEIGHTS_SHA256 in
minigan/metrics/classifier.py; the numbers in docs/metrics.md must then be redone.

Examples:
  python examples/train_classifier.py                    # -> runs/classifier/run-001/
  python examples/train_classifier.py --epochs 1 --out /tmp/clf
  python examples/train_classifier.py --install-from runs/classifier/run-001
"""

from __future__ import annotations

import argparse
import datetime
import json
import math
import re
import sys
import time
from pathlib import Path

import numpy as np

import minigan
from minigan import optim
from minigan.data import DataLoader, DatasetError, load_mnist
from minigan.metrics import (
    DEFAULT_BATCH,
    DEFAULT_WEIGHTS,
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
from minigan.training import choose_device, progress
from minigan.utils import atomic_write

FLOOR_TRAIN_IMAGES = 10_000  # the floor compares train[:10000] with the test set

#: Where --install-weights / --install-from put a run: the packaged weights' directory and
#: the module whose WEIGHTS_SHA256 line is rewritten (module globals so tests can redirect).
PACKAGE_DIR = DEFAULT_WEIGHTS.parent
RECORDED_SHA_FILE = PACKAGE_DIR / "classifier.py"
RUN_FILES = ("mnist_classifier.npz", "mnist_classifier.json", "mnist_test_stats.npz")
_SHA_LINE = re.compile(r'^WEIGHTS_SHA256 = "[0-9a-f]*"$', re.MULTILINE)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--epochs", type=int, default=6, help="epochs to train (default: 6)")
    parser.add_argument("--seed", type=int, default=0, help="random seed (default: 0)")
    parser.add_argument(
        "--out",
        default="runs/classifier",
        help="directory for the runs: each run writes into a new OUT/run-NNN "
        "(default: runs/classifier)",
    )
    parser.add_argument(
        "--install-weights",
        action="store_true",
        help="after training, install the run as the packaged weights of minigan.metrics "
        "(replaces minigan/metrics/mnist_classifier.npz and its WEIGHTS_SHA256)",
    )
    parser.add_argument(
        "--install-from",
        default=None,
        metavar="RUN_DIR",
        help="install a finished run (a directory written by this script) as the packaged "
        "weights, without training",
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
        help="MNIST, or other 28x28 IDX data under MNIST's file names (docs/data.md) "
        "(default: $MINIGAN_DATA_DIR or data/mnist)",
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

    run_dir = new_run_dir(Path(args.out))
    out = run_dir / RUN_FILES[0]
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
    if args.install_weights:
        return install(run_dir)
    print(
        f"the packaged weights are unchanged; score with this classifier through "
        f"evaluate_images(..., classifier={str(out)!r}), or make it the packaged one with\n"
        f"  python examples/train_classifier.py --install-from {run_dir}"
    )
    return 0


def new_run_dir(root: Path) -> Path:
    """Create and return root/run-NNN, the first number not taken (never an existing dir)."""
    if root.exists() and not root.is_dir():
        raise SystemExit(f"error: --out {root} is a file; it must be a directory for runs")
    root.mkdir(parents=True, exist_ok=True)
    taken = [int(p.name[4:]) for p in root.glob("run-*") if p.name[4:].isdigit()]
    number = max(taken, default=0) + 1
    while True:
        run_dir = root / f"run-{number:03d}"
        try:
            run_dir.mkdir()  # atomic: two runs started at once get different directories
            return run_dir
        except FileExistsError:
            number += 1


def install_weights(
    run_dir: Path, package_dir: Path | None = None, sha_file: Path | None = None
) -> str:
    """Install a run's three files into `package_dir` and record the weights' sha256 in
    `sha_file` (the WEIGHTS_SHA256 line). Checks everything before replacing anything.

    Returns the installed sha256. Raises ValueError with the reason when the run is not
    complete or its weights do not load / match the sha256 of their .json.
    """
    package_dir = PACKAGE_DIR if package_dir is None else package_dir
    sha_file = RECORDED_SHA_FILE if sha_file is None else sha_file
    missing = [name for name in RUN_FILES if not (run_dir / name).is_file()]
    if missing:
        raise ValueError(
            f"{run_dir}: not a complete classifier run (missing {', '.join(missing)}; "
            "a run trained with --skip-floor has no test statistics and cannot be installed)"
        )
    weights = run_dir / RUN_FILES[0]
    digest = file_sha256(weights)
    meta = json.loads((run_dir / RUN_FILES[1]).read_text())
    if meta.get("sha256") != digest:
        raise ValueError(
            f"{weights}: sha256 {digest} does not match {meta.get('sha256')} recorded in "
            f"{run_dir / RUN_FILES[1]}; the run is corrupt"
        )
    load_classifier(weights, sha256=digest)  # loads: right architecture, readable
    with np.load(run_dir / RUN_FILES[2], allow_pickle=False) as stats:
        if str(stats["classifier_sha256"]) != digest:
            raise ValueError(f"{run_dir / RUN_FILES[2]}: computed with other weights")
    source = sha_file.read_text()
    if len(_SHA_LINE.findall(source)) != 1:
        raise ValueError(f"{sha_file}: no single WEIGHTS_SHA256 line to update")
    for name in RUN_FILES:
        with atomic_write(package_dir / name) as f:
            f.write((run_dir / name).read_bytes())
    with atomic_write(sha_file) as f:
        f.write(_SHA_LINE.sub(f'WEIGHTS_SHA256 = "{digest}"', source).encode())
    import minigan.metrics.classifier as classifier_module  # noqa: PLC0415
    import minigan.metrics.scores as scores_module  # noqa: PLC0415

    if package_dir.resolve() == classifier_module.DEFAULT_WEIGHTS.parent:
        # this process's metric switches too (others read the rewritten module)
        classifier_module.WEIGHTS_SHA256 = digest
        scores_module._classifiers.clear()
        scores_module._reference_cache.clear()
    return digest


def install(run_dir: Path) -> int:
    """The CLI side of install_weights: print what happened, exit status 0 or 2."""
    try:
        digest = install_weights(run_dir)
    except (ValueError, OSError) as exc:
        print(f"error: cannot install {run_dir}: {exc}", file=sys.stderr)
        return 2
    print(
        f"installed {run_dir} as the packaged classifier in {PACKAGE_DIR} and set "
        f'WEIGHTS_SHA256 = "{digest}" in {RECORDED_SHA_FILE}.\n'
        "Metric numbers from the previous weights are no longer comparable; redo the numbers "
        "in docs/metrics.md."
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
    stats_path = weights.parent / RUN_FILES[2]
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
    if args.install_from is not None:
        return install(Path(args.install_from))
    if args.install_weights and args.skip_floor:
        parser.error("--install-weights needs the test statistics: drop --skip-floor")
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
