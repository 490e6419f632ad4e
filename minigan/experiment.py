# What the example scripts share: common command-line options, device selection with a
# clear message, per-epoch metrics (CSV + JSON), and checkpoints that make an interrupted
# run resume exactly where it stopped (epoch, batch, models, optimizers, RNG state).
from __future__ import annotations

import argparse
import csv
import json
import os
import sys
import time
from pathlib import Path
from typing import Any

from .device import resolve_device
from .random import get_rng_state, manual_seed, set_rng_state
from .utils.checkpoint import CheckpointError, atomic_write, load_checkpoint, save_checkpoint

CHECKPOINT_NAME = "checkpoint.safetensors"
PREVIOUS_CHECKPOINT_NAME = "checkpoint-previous.safetensors"


def add_common_args(
    parser: argparse.ArgumentParser, epochs: int, batch_size: int, lr: float
) -> None:
    """Options every training example takes."""
    parser.add_argument(
        "--device",
        default="auto",
        choices=("auto", "cpu", "cuda"),
        help="where to train: cuda needs a GPU and CuPy; auto picks cuda when usable "
        "(default: auto)",
    )
    parser.add_argument(
        "--epochs", type=int, default=epochs, help=f"epochs to train (default: {epochs})"
    )
    parser.add_argument(
        "--batch-size", type=int, default=batch_size, help=f"batch size (default: {batch_size})"
    )
    parser.add_argument("--lr", type=float, default=lr, help=f"Adam learning rate (default: {lr})")
    parser.add_argument(
        "--seed", type=int, default=0, help="random seed for init, noise and shuffling (default: 0)"
    )
    parser.add_argument("--out", default=None, help="output directory, created if missing")
    parser.add_argument(
        "--data-dir",
        default=None,
        help="directory with the MNIST IDX files "
        "(default: $MINIGAN_DATA_DIR, else the repo's data/mnist)",
    )
    parser.add_argument(
        "--resume",
        metavar="CKPT",
        default=None,
        help="continue training from a checkpoint (e.g. OUT/checkpoint.safetensors); the model "
        "settings stored in it are used",
    )
    parser.add_argument(
        "--subset",
        type=int,
        default=None,
        metavar="N",
        help="train on the first N training images only (quick runs and tests)",
    )
    parser.add_argument("--no-progress", action="store_true", help="disable the progress bar")


def check_common_args(parser: argparse.ArgumentParser, args: argparse.Namespace) -> None:
    """Reject impossible values with argparse's usual message."""
    if args.epochs < 0:
        parser.error(f"--epochs must be >= 0, got {args.epochs}")
    if args.batch_size < 1:
        parser.error(f"--batch-size must be >= 1, got {args.batch_size}")
    if args.lr <= 0:
        parser.error(f"--lr must be > 0, got {args.lr}")
    if args.subset is not None and args.subset < args.batch_size:
        parser.error(f"--subset ({args.subset}) must be at least --batch-size ({args.batch_size})")


def choose_device(choice: str) -> str:
    """Resolve --device, print the decision, exit with a clear message if impossible."""
    try:
        device, why = resolve_device(choice)
    except (RuntimeError, ValueError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        raise SystemExit(2) from None
    print(f"device: {why}")
    return device


class MetricsLog:
    """Per-epoch metrics written to OUT/metrics.csv and OUT/metrics.json after every epoch."""

    def __init__(self, out_dir: Path, rows: list[dict[str, Any]] | None = None) -> None:
        self.out_dir = out_dir
        self.rows: list[dict[str, Any]] = list(rows or [])

    def append(self, row: dict[str, Any]) -> None:
        self.rows.append(row)
        self._write()

    def _write(self) -> None:
        with atomic_write(self.out_dir / "metrics.json") as f:
            f.write(json.dumps(self.rows, indent=1).encode())
        fields: list[str] = []
        for row in self.rows:
            fields += [k for k in row if k not in fields]
        with atomic_write(self.out_dir / "metrics.csv") as f:
            text = _csv_text(fields, self.rows)
            f.write(text.encode())


def _csv_text(fields: list[str], rows: list[dict[str, Any]]) -> str:
    import io  # noqa: PLC0415

    buf = io.StringIO()
    writer = csv.DictWriter(buf, fieldnames=fields)
    writer.writeheader()
    writer.writerows(rows)
    return buf.getvalue()


class Run:
    """Output directory, checkpoints and resume state of one training run.

    A checkpoint holds: the model config, everything `state_fn()` returns (models and
    optimizers), the RNG state, the epoch and the number of batches already done in it, the
    partial sums of the epoch's running metrics, and the metrics rows so far. Resuming
    restores all of it, so 2 epochs straight == 1 epoch + resume + 1 epoch, bit for bit
    on cpu.
    """

    def __init__(
        self, out_dir: str | os.PathLike, config: dict[str, Any], resuming: bool = False
    ) -> None:
        self.out_dir = Path(out_dir)
        self.out_dir.mkdir(parents=True, exist_ok=True)
        self.config = config
        if not resuming:
            self._keep_previous_checkpoint()
        self.start_epoch = 0
        self.start_batch = 0
        self.partial: dict[str, float] = {}
        self.metrics = MetricsLog(self.out_dir)
        self.started = time.perf_counter()

    def _keep_previous_checkpoint(self) -> None:
        """A new run in a directory that holds a checkpoint must not destroy it silently:
        the old file is renamed to checkpoint-previous.safetensors (replacing an older copy)."""
        if self.checkpoint_path.exists():
            kept = self.checkpoint_path.with_name(PREVIOUS_CHECKPOINT_NAME)
            os.replace(self.checkpoint_path, kept)
            print(
                f"note: {self.out_dir} already held a checkpoint; it was moved to {kept.name} "
                f"(to continue that run instead, use --resume {kept})"
            )

    @property
    def checkpoint_path(self) -> Path:
        return self.out_dir / CHECKPOINT_NAME

    def save(
        self, state: dict[str, Any], epoch: int, batch: int, partial: dict[str, float]
    ) -> Path:
        """Write the checkpoint atomically (temp file + rename) as safetensors + JSON."""
        payload = {
            "config": self.config,
            "state": state,
            "rng": get_rng_state(),
            "epoch": epoch,
            "batch": batch,
            "partial": dict(partial),
            "metrics": self.metrics.rows,
        }
        return save_checkpoint(payload, self.checkpoint_path)


def read_checkpoint(path: str | os.PathLike, kind: str) -> dict[str, Any]:
    """Load a checkpoint written by `Run.save` and check it is for this `kind` of model."""
    try:
        ckpt = load_checkpoint(path)
    except CheckpointError as exc:
        print(f"error: {exc}", file=sys.stderr)
        raise SystemExit(2) from None
    config = ckpt.get("config")
    found = config.get("kind") if isinstance(config, dict) else None
    if found != kind:
        print(f"error: {path} is a checkpoint of a {found!r} run, not {kind!r}", file=sys.stderr)
        raise SystemExit(2)
    return ckpt


def resume_run(run: Run, ckpt: dict[str, Any]) -> dict[str, Any]:
    """Restore RNG, position and metrics from `ckpt` into `run`; return the model state."""
    set_rng_state(ckpt["rng"])
    run.start_epoch = int(ckpt["epoch"])
    run.start_batch = int(ckpt["batch"])
    run.partial = dict(ckpt.get("partial", {}))
    run.metrics = MetricsLog(run.out_dir, ckpt.get("metrics", []))
    return ckpt["state"]


def seed_everything(seed: int) -> None:
    manual_seed(seed)


def progress(iterable: Any, total: int, desc: str, disable: bool) -> Any:
    """A tqdm progress bar (plain iteration when tqdm is missing or disabled)."""
    if disable:
        return iterable
    try:
        from tqdm.auto import tqdm  # noqa: PLC0415
    except ImportError:
        return iterable
    return tqdm(iterable, total=total, desc=desc, leave=False, dynamic_ncols=True)


class RunningSums:
    """Per-epoch sums of step statistics, kept on the training device.

    Adding a step's 0-d tensors costs no host-device synchronisation; `values()` copies
    the sums to the host once (for the progress bar every few steps, the epoch's metrics
    row, or a checkpoint). Sums are accumulated in float64.
    """

    def __init__(self, keys: tuple[str, ...], initial: dict[str, float] | None = None) -> None:
        self.keys = keys
        self._host = {k: float((initial or {}).get(k, 0.0)) for k in keys}
        self._device: dict[str, Any] = {}

    def add(self, stats: dict[str, Any], weight: float = 1.0) -> None:
        """Add each `stats[k]` (a 0-d Tensor or a number) times `weight`."""
        for k in self.keys:
            value = stats[k]
            data = value.data if hasattr(value, "data") else value
            term = (
                data.astype("float64") * weight if hasattr(data, "astype") else float(data) * weight
            )
            self._device[k] = term if k not in self._device else self._device[k] + term

    def values(self) -> dict[str, float]:
        """The sums as Python floats (one device-to-host copy per key)."""
        for k, v in self._device.items():
            self._host[k] += float(v)
        self._device.clear()
        return dict(self._host)
