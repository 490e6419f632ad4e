# Starting a training run, the same for every script: what it prints, the end of a finished
# run, the model config (a new run's from its options, a resumed run's from its checkpoint),
# the seed, the data (its size checked against the options), the run directory, and the
# checkpoint's state handed back to the script's models.
from __future__ import annotations

import argparse
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np

from ..data import DatasetError, load_mnist
from ..random import manual_seed
from .console import Console
from .options import Fail, check_data_size, finished_message
from .run import Run, open_run, resume_run

#: (images (N, 28, 28) uint8, labels (N,) uint8) of one split
Split = tuple[np.ndarray, np.ndarray]


class StopRun(Exception):
    """Ends a script before training with exit code `code` (what to say is printed
    already): a finished run (0), data that cannot be read (2). `run_script` returns it."""

    def __init__(self, code: int) -> None:
        super().__init__(code)
        self.code = code


@dataclass
class Started:
    """A run ready to train: the script builds its models, calls `restore`, and trains."""

    console: Console
    #: the model config the checkpoints record (with "kind"); a resumed run's own
    config: dict[str, Any]
    run: Run
    ckpt: dict[str, Any] | None
    #: the training images and labels (the first --subset ones)
    train: Split
    #: the test split (cut to max(--subset // 6, test_min) with --subset), if asked for
    test: Split | None
    resume_from: str | None = None

    def restore(self, load: Callable[[dict[str, Any]], Any]) -> None:
        """Resuming: set the RNG, position and metrics from the checkpoint, hand its model
        state (what the script's `state()` returned) to `load`, and say where it resumes."""
        if self.ckpt is None:
            return
        load(resume_run(self.run, self.ckpt))
        self.console.info(
            f"resumed from {self.resume_from} at epoch {self.run.start_epoch + 1}, "
            f"batch {self.run.start_batch}"
        )


def new_config(args: argparse.Namespace, kind: str, keys: tuple[str, ...]) -> dict[str, Any]:
    """A new run's model config: its kind and the values of the options `keys`."""
    return {"kind": kind, **{k: getattr(args, k) for k in keys}}


def start_run(
    args: argparse.Namespace,
    fail: Fail,
    ckpt: dict[str, Any] | None,
    config: dict[str, Any],
    default_out: str,
    test_min: int | None = None,
    finished: Callable[[dict[str, Any], int], str | None] | None = finished_message,
) -> Started:
    """Everything before a script builds its models, in this order: the console; resuming
    a run that `finished` says has trained all its epochs: print that and stop (exit 0);
    the config (`config` for a new run, the checkpoint's when resuming); the seed; the
    training data (and the test split when `test_min` is given); the data's size checked
    against --subset and the batch size; the run directory (a new OUT/run-NNN, or the
    resumed run's own). Raises StopRun when the script must end."""
    console = Console(args.quiet, args.no_progress, args.log_every)
    if ckpt is not None and finished is not None:
        message = finished(ckpt, args.epochs)
        if message:
            console.summary(message)
            raise StopRun(0)
    if ckpt is not None:
        config = ckpt["config"]
    manual_seed(config["seed"])
    try:
        train = load_mnist("train", args.data_dir)
        test = load_mnist("test", args.data_dir) if test_min is not None else None
    except DatasetError as exc:
        console.error(str(exc))
        raise StopRun(2) from None
    used = check_data_size(fail, args, len(train[0]), config["batch_size"])
    train = (train[0][:used], train[1][:used])
    if test is not None and args.subset:
        keep = max(args.subset // 6, test_min or 0)
        test = (test[0][:keep], test[1][:keep])
    run = open_run(fail, args, config, ckpt, default_out)
    return Started(console, config, run, ckpt, train, test, args.resume)
