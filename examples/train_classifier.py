#!/usr/bin/env python3
# Train the MNIST classifier behind minigan.metrics (FID / classifier score) WITH minigan and
# its training layer: Adam with a cosine learning-rate decay, random +-2 pixel shifts, a
# per-epoch test accuracy; a run directory with a checkpoint every epoch, exact resume and
# Ctrl-C handling as in the GAN/VAE examples; at the end, an atomic write of the float32
# weights, metadata JSON, the test-set feature statistics and the real-data floor of the
# metric (FID of 10k training images, score of the test set).
"""Train the classifier used by minigan's sample-quality metric.

Each run writes into a new numbered directory OUT/run-NNN (default OUT: runs/classifier;
OUT/latest points at the newest), never over an existing file:
  checkpoint.safetensors    every epoch: model, optimizer, RNG, schedule position
  metrics.csv, metrics.json per-epoch train loss / accuracy and test accuracy
and, once the last epoch is done:
  mnist_classifier.npz      the float32 weights (minigan.metrics.load_classifier(PATH))
  mnist_classifier.json     test accuracy, epochs, seed, date, timings, sha256, the floor
  mnist_test_stats.npz      mean/covariance of the test set's features (FID reference)

Ctrl-C (SIGINT) or SIGTERM stops at the next step with a checkpoint and prints the
`resume with:` command; --resume RUN_DIR continues the run exactly (with its options; the
cosine schedule spans the run's --epochs, so those cannot change), and writes the final
files of a run that was stopped after its last epoch.

The packaged weights in minigan/metrics/ (what the metric uses by default) are replaced
only on request: --install-weights after training, or --install-from RUN_DIR for a
finished run. Installing copies the three files and rewrites WEIGHTS_SHA256 in
minigan/metrics/classifier.py; the numbers in docs/metrics.md must then be redone.

Examples:
  python examples/train_classifier.py                    # -> runs/classifier/run-001/
  python examples/train_classifier.py --epochs 1 --out /tmp/clf
  python examples/train_classifier.py --resume runs/classifier   # the latest run, continued
  python examples/train_classifier.py --install-from runs/classifier/run-001
"""

from __future__ import annotations

# minigan before NumPy, so that OpenBLAS's idle threads sleep (see minigan/__init__.py)
import minigan

# isort: split
import argparse
import datetime
import json
import math
import re
import sys
import time
from collections.abc import Callable
from pathlib import Path

import numpy as np

from minigan import optim
from minigan.data import DataLoader
from minigan.metrics import (
    DEFAULT_BATCH,
    DEFAULT_WEIGHTS,
    MNISTClassifier,
    classifier_outputs,
    file_sha256,
    frechet_distance,
    gaussian_fit,
    load_classifier,
    preprocess,
    save_classifier,
    score_from_logits,
)
from minigan.nn import functional as F
from minigan.training import (
    CHANGEABLE_ON_RESUME,
    EndOfEpoch,
    Fail,
    Finish,
    Loop,
    Option,
    add_common_args,
    add_options,
    finished_message,
    new_config,
    non_finite_stats,
    run_script,
    start_run,
)
from minigan.utils import atomic_write

KIND = "classifier"
FLOOR_TRAIN_IMAGES = 10_000  # the floor compares train[:10000] with the test set
CONFIG_KEYS = ("batch_size", "lr", "shift", "seed")
KEYS = ("loss_sum", "correct", "seen")  # summed over an epoch
#: what --resume may change: not --epochs, which sets the length of the cosine schedule
CHANGEABLE = tuple(name for name in CHANGEABLE_ON_RESUME if name != "epochs")

#: Where --install-weights / --install-from put a run: the packaged weights' directory and
#: the module whose WEIGHTS_SHA256 line is rewritten (module globals so tests can redirect).
PACKAGE_DIR = DEFAULT_WEIGHTS.parent
RECORDED_SHA_FILE = PACKAGE_DIR / "classifier.py"
RUN_FILES = ("mnist_classifier.npz", "mnist_classifier.json", "mnist_test_stats.npz")
_SHA_LINE = re.compile(r'^WEIGHTS_SHA256 = "[0-9a-f]*"$', re.MULTILINE)

OPTIONS = (
    Option(
        "--shift",
        2,
        "augmentation: random shifts of up to this many pixels (0 = off; default: 2)",
        low=0,
        high=8,
    ),
    Option(
        "--skip-floor",
        False,
        "skip the test-set statistics and the real-data floor (quick runs)",
        action="store_true",
    ),
    Option(
        "--install-weights",
        False,
        "when the run has finished, install it as the packaged weights of minigan.metrics "
        "(replaces minigan/metrics/mnist_classifier.npz and its WEIGHTS_SHA256)",
        action="store_true",
    ),
    Option(
        "--install-from",
        None,
        "install a finished run (a directory written by this script) as the packaged "
        "weights, without training",
        metavar="RUN_DIR",
    ),
)
LR_HELP = "peak Adam learning rate, cosine-decayed to lr/100 over the run (default: 2e-3)"
CHANGES = "only the printing options, --device and --data-dir may be given anew (not --epochs: "
CHANGES += "the learning-rate schedule spans the run's epochs)"


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    add_common_args(
        parser, epochs=6, batch_size=128, lr=2e-3, lr_help=LR_HELP, changeable_help=CHANGES
    )
    add_options(parser, OPTIONS, "classifier")
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


def learning_rate(peak: float, step: int, total_steps: int) -> float:
    """The cosine decay from `peak` (step 0) to peak/100 (step `total_steps`)."""
    return peak * (0.01 + 0.99 * 0.5 * (1 + math.cos(math.pi * step / total_steps)))


def train(args: argparse.Namespace, device: str, fail: Fail, ckpt: dict | None = None) -> int:
    """Train a new run, or continue `ckpt` (read from args.resume, its options restored);
    then write the run's files (and install them with --install-weights)."""
    if args.install_weights and args.skip_floor:
        fail(
            "argument --install-weights: needs the test statistics, which a --skip-floor run "
            "does not write (train without --skip-floor)"
        )
    if ckpt is not None and finished_message(ckpt, args.epochs):
        run_dir = Path(args.resume).parent
        if (run_dir / RUN_FILES[1]).is_file():  # its files are written: nothing left to do
            print(
                f"run already finished: {ckpt['epoch']}/{args.epochs} epochs; its weights are "
                f"{run_dir / RUN_FILES[0]}"
            )
            return install(run_dir) if args.install_weights else 0
    config = new_config(args, KIND, CONFIG_KEYS)
    start = start_run(args, fail, ckpt, config, "runs/classifier", test_min=500, finished=None)
    console, config, run = start.console, start.config, start.run
    (x_train, y_train), (x_test, y_test) = start.train, start.test
    model = MNISTClassifier().to(device)
    opt = optim.Adam(model.parameters(), lr=config["lr"])
    loader = DataLoader(x_train, y_train, batch_size=config["batch_size"], seed=config["seed"])
    shift_rng = np.random.default_rng([config["seed"], 1])
    total_steps = max(1, args.epochs * len(loader))

    def state() -> dict:
        shifts = shift_rng.bit_generator.state
        return {"model": model.state_dict(), "opt": opt.state_dict(), "shift_rng": shifts}

    def load(saved: dict) -> None:
        model.load_state_dict(saved["model"])
        opt.load_state_dict(saved["opt"])
        shift_rng.bit_generator.state = saved["shift_rng"]

    start.restore(load)
    if args.install_weights:  # not recorded: a resumed run is asked again
        run.resume_args.append("--install-weights")
    steps_done = [run.start_epoch * len(loader) + run.start_batch]  # the schedule's clock
    console.info(
        f"classifier: {model.num_parameters():,} parameters; {len(x_train)} training images, "
        f"{len(loader)} batches of {config['batch_size']} per epoch; shifts +-{config['shift']} "
        f"px; output in {run.out_dir}"
    )

    def step(batch: tuple) -> dict | str:
        xb, yb = batch
        opt.lr = learning_rate(config["lr"], steps_done[0], total_steps)
        x = minigan.tensor(preprocess(random_shift(xb, config["shift"], shift_rng)), device=device)
        opt.zero_grad()
        logits = model(x)
        loss = F.cross_entropy(logits, yb.astype(np.int64))
        bad = non_finite_stats({"loss": loss}, ("loss",))
        if bad:
            return f"loss = {bad.get('loss', bad.get('sum'))}"
        loss.backward()
        opt.step()
        steps_done[0] += 1
        correct = int((logits.numpy().argmax(axis=1) == yb).sum())
        return {"loss_sum": loss.item() * len(yb), "correct": correct, "seen": len(yb)}

    def end_of_epoch(epoch: int, totals: dict, n: int, seconds: float, skip: int) -> EndOfEpoch:
        model.eval()
        test_acc = accuracy(model, x_test, y_test, device)
        model.train()
        yield
        row = {
            "epoch": epoch + 1,
            "train_loss": totals["loss_sum"] / totals["seen"],
            "train_accuracy": totals["correct"] / totals["seen"],
            "test_accuracy": test_acc,
            "seconds": round(seconds, 1),
        }
        if skip:
            row["resumed_at_batch"] = skip
        return row, (
            f"epoch {epoch + 1}/{args.epochs}: train loss {row['train_loss']:.4f}, "
            f"train acc {row['train_accuracy']:.4f}, test acc {test_acc:.4f}, {seconds:.1f}s"
        )

    def finish() -> Finish:
        """The run's files, from the trained model (again when a resumed run ends here)."""
        out = run.out_dir / RUN_FILES[0]
        with atomic_write(out) as f:
            save_classifier(model, f)
        digest = file_sha256(out)
        console.info(f"wrote {out} ({out.stat().st_size / 1e6:.2f} MB), sha256 {digest}")
        yield
        history = run.metrics.rows
        meta = {
            "arch": repr(model),
            "parameters": model.num_parameters(),
            "test_accuracy": history[-1]["test_accuracy"] if history else None,
            "test_images": len(x_test),
            "epochs": args.epochs,
            "seed": config["seed"],
            "batch_size": config["batch_size"],
            "lr": config["lr"],
            "shift": config["shift"],
            "train_images": len(x_train),
            "device": device,
            "train_seconds": round(sum(row["seconds"] for row in history), 1),
            "date": datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds"),
            "sha256": digest,
            "history": history,
        }
        if not args.skip_floor:
            meta.update(real_data_floor(out, digest, x_train, x_test, device, console.info))
            yield
        with atomic_write(out.with_suffix(".json")) as f:
            f.write((json.dumps(meta, indent=1) + "\n").encode())
        console.info(f"wrote {out.with_suffix('.json')}")
        if args.install_weights:
            return install(run.out_dir)
        console.info(
            f"the packaged weights are unchanged; score with this classifier through "
            f"evaluate_images(..., classifier={str(out)!r}), or make it the packaged one with\n"
            f"  python examples/train_classifier.py --install-from {run.out_dir}"
        )
        return None

    def metrics(totals: dict, done: int) -> dict:
        seen = totals["seen"]
        return {
            "loss": f"{totals['loss_sum'] / seen:.4f}",
            "acc": f"{totals['correct'] / seen:.4f}",
        }

    loop = Loop(
        console, run, args.epochs, loader, KEYS, step, state, end_of_epoch,
        postfix=metrics,
        step_text=lambda t, done: f"train loss {t['loss_sum'] / t['seen']:.4f}",
        summary=lambda row: (
            f"train loss {row['train_loss']:.4f}, test acc {row['test_accuracy']:.4f}"
        ),
        finish=finish,
    )  # fmt: skip
    return loop()


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
    weights: Path,
    digest: str,
    x_train: np.ndarray,
    x_test: np.ndarray,
    device: str,
    say: Callable[[str], None] = print,
) -> dict:
    """Test-set feature stats (written next to the weights) and the metric's real-data floor:
    FID of the first 10,000 training images vs the test set, classifier score of both; `say`
    prints the numbers."""
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
    say(
        f"real-data floor: FID(train[:{len(train_part)}] vs test) "
        f"{floor['fid_train10k_vs_test']:.4f}; classifier score: test "
        f"{floor['score_test']:.4f}, train[:{len(train_part)}] {floor['score_train10k']:.4f} "
        f"({seconds:.1f}s); wrote {stats_path}"
    )
    return floor


def main(argv: list[str] | None = None) -> int:
    def install_from(args: argparse.Namespace) -> int | None:
        return None if args.install_from is None else install(Path(args.install_from))

    return run_script(
        build_parser(), argv, KIND, train, options=OPTIONS, instead=install_from,
        changeable=CHANGEABLE,
    )  # fmt: skip


if __name__ == "__main__":
    raise SystemExit(main())
