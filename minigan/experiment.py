# What the example scripts share: common command-line options, device selection with a
# clear message, per-epoch metrics (CSV + JSON), and checkpoints that make an interrupted
# run resume exactly where it stopped (epoch, batch, models, optimizers, RNG state).
from __future__ import annotations

import argparse
import csv
import json
import math
import os
import secrets
import shlex
import signal
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np

from .device import resolve_device
from .random import get_rng_state, manual_seed, set_rng_state
from .utils.checkpoint import (
    CheckpointError,
    atomic_write,
    load_checkpoint,
    remove_stale_temp_files,
    save_checkpoint,
)

CHECKPOINT_NAME = "checkpoint.safetensors"
LATEST_NAME = "latest"
RUN_PREFIX = "run-"


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
    parser.add_argument(
        "--out",
        default=None,
        help="directory for the runs, created if missing: each new run writes into its own "
        "OUT/run-NNN (the next free number) and OUT/latest points at it, so nothing is ever "
        "overwritten",
    )
    parser.add_argument(
        "--data-dir",
        default=None,
        help="directory with the MNIST IDX files (default: $MINIGAN_DATA_DIR, else the "
        "data/mnist folder next to the minigan package in a source checkout)",
    )
    parser.add_argument(
        "--resume",
        metavar="RUN",
        default=None,
        help="continue a run: its directory (OUT/run-NNN), its checkpoint.safetensors, or OUT "
        "itself (its latest run). Every option of the run is restored from the checkpoint; "
        "only --epochs (to train longer), the evaluation, printing, --device, --data-dir and "
        "sampling options may be given anew, any other option that differs is refused",
    )
    parser.add_argument(
        "--subset",
        type=int,
        default=None,
        metavar="N",
        help="train on the first N training images only (quick runs and tests)",
    )
    output = parser.add_argument_group("what is printed")
    output.add_argument(
        "--no-progress",
        action="store_true",
        help="no progress bar, even on a terminal (then the same lines as without one)",
    )
    output.add_argument(
        "--progress",
        dest="no_progress",
        action="store_false",
        help="a progress bar on a terminal (the default; undoes a resumed run's --no-progress)",
    )
    output.add_argument(
        "--log-every",
        type=int,
        default=100,
        metavar="N",
        help="without a progress bar (output not a terminal, or --no-progress), also print "
        "a line every N training steps; 0 = only one line per epoch (default: 100)",
    )
    output.add_argument(
        "--quiet",
        "-q",
        action=argparse.BooleanOptionalAction,
        default=False,
        help="print only errors and the final summary line (--no-quiet undoes a resumed "
        "run's --quiet)",
    )


# ----- validation of the options, before any work ------------------------------------

Fail = Callable[[str], Any]  # argparse's parser.error: prints usage + message, exits 2


def check_int(
    fail: Fail, option: str, value: int | None, low: int, high: int | None = None, note: str = ""
) -> None:
    """`value` (None = not given) must be in [low, high]; otherwise `fail` names `option`."""
    if value is None:
        return
    if value < low or (high is not None and value > high):
        accepted = f">= {low}" if high is None else f"in {low}..{high}"
        fail(f"argument {option}: must be {accepted}{note}, got {value}")


def check_float(
    fail: Fail,
    option: str,
    value: float,
    low: float,
    high: float | None = None,
    low_open: bool = False,
    note: str = "",
) -> None:
    """`value` must be finite and in [low, high) (or (low, ...) when `low_open`)."""
    ok = math.isfinite(value) and (value > low if low_open else value >= low)
    if high is not None:
        ok = ok and value < high
        accepted = f"in {'(' if low_open else '['}{low:g}, {high:g})"
    else:
        accepted = f"a finite number {'>' if low_open else '>='} {low:g}"
    if not ok:
        fail(f"argument {option}: must be {accepted}{note}, got {value}")


def check_common_args(parser: argparse.ArgumentParser, args: argparse.Namespace) -> None:
    """Reject impossible values of the common options with argparse's usual message (exit
    code 2, one line naming the option and the accepted range). What depends on the data
    set's size is checked by `check_data_size` once the data is loaded."""
    fail = parser.error
    check_int(fail, "--epochs", args.epochs, 1)
    check_int(fail, "--batch-size", args.batch_size, 1)
    check_float(fail, "--lr", args.lr, 0.0, low_open=True)
    check_int(fail, "--seed", args.seed, 0, 2**63 - 1)
    check_int(fail, "--subset", args.subset, 1)
    check_int(fail, "--log-every", args.log_every, 0, note=" (0 = only per-epoch lines)")
    if getattr(args, "sample", None) is not None:
        check_int(fail, "--sample", args.sample, 1)


def check_data_size(fail: Fail, args: argparse.Namespace, available: int, batch_size: int) -> int:
    """After loading: --subset at most the training set's size and the batch size (from the
    options, or from the checkpoint when resuming) at most the images trained on. Returns
    the number of training images used."""
    check_int(fail, "--subset", args.subset, 1, available, note=" (the training set's size)")
    used = args.subset or available
    if batch_size > used:
        what = f"--subset {args.subset}" if args.subset else "the training set's size"
        fail(f"argument --batch-size: must be in 1..{used} ({what}), got {batch_size}")
    return used


def prepare_out_dir(fail: Fail, out_dir: str | os.PathLike, option: str = "--out") -> Path:
    """Create the output directory and check a file can be written in it, before any
    training: a read-only or impossible --out is refused with a message naming it."""
    path = Path(out_dir)
    try:
        path.mkdir(parents=True, exist_ok=True)
        with tempfile.NamedTemporaryFile(dir=path, prefix=".write-test-"):
            pass
    except OSError as exc:
        reason = exc.strerror or type(exc).__name__
        fail(f"argument {option}: cannot write to the output directory {str(path)!r} ({reason})")
    return path


# ----- run directories: nothing is ever overwritten -----------------------------------


def run_number(name: str) -> int | None:
    """NNN of a run directory's name run-NNN, None for any other name."""
    digits = name[len(RUN_PREFIX) :]
    return int(digits) if name.startswith(RUN_PREFIX) and digits.isdigit() else None


def latest_run(root: str | os.PathLike) -> Path | None:
    """The run ROOT/latest points at (a symlink, or a text file holding the name), None if
    there is no such pointer or it names no directory."""
    link = Path(root) / LATEST_NAME
    if link.is_symlink():
        name = os.readlink(link)
    elif link.is_file():
        name = link.read_text().strip()
    else:
        return None
    run_dir = Path(root) / name
    return run_dir if name and run_dir.is_dir() else None


def new_run_dir(root: Path) -> Path:
    """Create and return ROOT/run-NNN: one more than the highest number there (or than the
    one `latest` names), so a number is never reused; mkdir is atomic, so two runs started
    at once get different directories."""
    taken = [run_number(p.name) for p in root.glob(f"{RUN_PREFIX}*")]
    latest = latest_run(root)
    taken.append(run_number(latest.name) if latest is not None else None)
    number = max((n for n in taken if n is not None), default=0) + 1
    while True:
        run_dir = root / f"{RUN_PREFIX}{number:03d}"
        try:
            run_dir.mkdir()
            return run_dir
        except FileExistsError:
            number += 1


def set_latest(root: Path, run_dir: Path) -> None:
    """Point ROOT/latest at `run_dir`, replacing the old pointer atomically: a relative
    symlink renamed over it, or, where symlinks cannot be made, a text file with the name."""
    target = root / LATEST_NAME
    tmp = root / f".{LATEST_NAME}-{secrets.token_hex(6)}"
    try:
        os.symlink(run_dir.name, tmp, target_is_directory=True)
    except (OSError, NotImplementedError):
        with atomic_write(target) as f:
            f.write(f"{run_dir.name}\n".encode())
        return
    try:
        os.replace(tmp, target)
    except OSError:
        os.unlink(tmp)
        raise


def start_run_dir(fail: Fail, out: str | None, default: str) -> Path:
    """A new run: its own new directory OUT/run-NNN, and OUT/latest pointing at it."""
    root = prepare_out_dir(fail, out or default)
    run_dir = new_run_dir(root)
    set_latest(root, run_dir)
    return run_dir


def resumed_run_dir(fail: Fail, checkpoint: str | os.PathLike, out: str | None) -> Path:
    """A resumed run continues in its own directory (the checkpoint's); an --out naming
    another place than that directory or its parent is refused."""
    run_dir = Path(checkpoint).parent
    if out is not None and Path(out).resolve() not in (
        run_dir.resolve(),
        run_dir.resolve().parent,
    ):
        fail(
            f"argument --out: a resumed run continues in its own directory {str(run_dir)!r}, "
            f"got {out!r}"
        )
    return prepare_out_dir(fail, run_dir, "--resume")


def find_checkpoint(fail: Fail, given: str | os.PathLike, option: str = "--resume") -> Path:
    """The checkpoint --resume means: the file itself, DIR/checkpoint.safetensors (a run
    directory, also one an older minigan wrote straight into --out), or the checkpoint of
    the run DIR/latest points at. A missing file is left for `read_checkpoint` to report."""
    path = Path(given)
    if not path.is_dir():
        return path
    if (path / CHECKPOINT_NAME).is_file():
        return path / CHECKPOINT_NAME
    latest = latest_run(path)
    if latest is None:
        fail(
            f"argument {option}: {str(path)!r} holds no {CHECKPOINT_NAME} and no {LATEST_NAME} run"
        )
    if not (latest / CHECKPOINT_NAME).is_file():
        fail(
            f"argument {option}: the latest run in {str(path)!r}, {latest.name}, has no "
            f"{CHECKPOINT_NAME} (it stopped before its first checkpoint)"
        )
    return latest / CHECKPOINT_NAME


# ----- the options of a run, and resuming with them --------------------------------------

#: what a resumed run may be given anew (a larger --epochs, evaluation, printing, device,
#: where the data is); every other recorded option must equal the run's
CHANGEABLE_ON_RESUME = (
    "epochs",
    "eval_every",
    "eval_n",
    "log_every",
    "quiet",
    "no_progress",
    "device",
    "data_dir",
)
#: what one invocation does rather than what the run is: never recorded nor restored
NOT_RECORDED = ("resume", "out", "sample", "sample_out", "sample_class")


def parse_args(
    parser: argparse.ArgumentParser, argv: list[str] | None = None
) -> tuple[argparse.Namespace, set[str]]:
    """Parse argv, and return the names (dests) of the options given on the command line:
    argv is parsed a second time with every default replaced by argparse.SUPPRESS, so an
    option given with its default value counts as given, one not given is absent."""
    args = parser.parse_args(argv)
    defaults = [(action, action.default) for action in parser._actions]
    try:
        for action, _ in defaults:
            action.default = argparse.SUPPRESS
        given = set(vars(parser.parse_args(argv)))
    finally:
        for action, default in defaults:
            action.default = default
    return args, given


def run_options(args: argparse.Namespace) -> dict[str, Any]:
    """The options a checkpoint records (plain JSON values)."""
    return {k: v for k, v in vars(args).items() if k not in NOT_RECORDED}


def _flag(name: str) -> str:
    return "--" + name.replace("_", "-")


def restore_options(
    fail: Fail, args: argparse.Namespace, given: set[str], ckpt: dict[str, Any]
) -> list[str]:
    """Resume with the run's options: every option recorded in `ckpt` that was not given
    on the command line is set from it; one given with another value is allowed only if
    it is in CHANGEABLE_ON_RESUME (and --epochs not below what the run has trained), else
    `fail` names the option, the run's value and the given one. Returns the overrides, as
    lines to print ("resuming with --epochs 5 (was 2)").

    A checkpoint of an older minigan records only its model settings (its config)."""
    recorded = ckpt.get("options")
    if not isinstance(recorded, dict):
        config = ckpt.get("config") or {}
        recorded = {k: v for k, v in config.items() if k != "kind"}
    trained = int(ckpt.get("epoch", 0)) + (1 if int(ckpt.get("batch", 0)) else 0)
    if "epochs" in given and args.epochs < trained:
        fail(
            f"argument --epochs: the run has already trained {ckpt.get('epoch')} epochs"
            + (f" and {ckpt.get('batch')} steps" if ckpt.get("batch") else "")
            + f"; got {args.epochs}"
        )
    notes = []
    for name, value in recorded.items():
        if name in NOT_RECORDED or not hasattr(args, name):
            continue
        if name not in given:
            setattr(args, name, value)
            continue
        new = getattr(args, name)
        if new == value and isinstance(new, bool) == isinstance(value, bool):
            continue  # the same value (1 and 1.0 are the same, True and 1 are not)
        if name not in CHANGEABLE_ON_RESUME:
            fail(
                f"argument {_flag(name)}: the run being resumed has {_flag(name)} {value}, "
                f"got {new}; a run keeps its settings (only "
                f"{', '.join(_flag(n) for n in CHANGEABLE_ON_RESUME)} may be given anew): "
                "start a new run to change it"
            )
        notes.append(f"resuming with {_flag(name)} {new} (was {value})")
    return notes


def finished_message(ckpt: dict[str, Any], epochs: int) -> str | None:
    """What to print when the checkpoint's run has trained all `epochs` already."""
    if int(ckpt.get("batch", 0)) or int(ckpt.get("epoch", 0)) < epochs:
        return None
    return (
        f"run already finished: {int(ckpt['epoch'])}/{epochs} epochs; pass a larger --epochs "
        "to continue"
    )


# ----- a loss or parameters that stop being finite ------------------------------------

DIVERGED_EXIT_CODE = 3


def non_finite_stats(stats: dict[str, Any], keys: tuple[str, ...]) -> dict[str, float] | None:
    """None if every `stats[k]` is finite, else {key: value} of those that are not.

    One host copy of one scalar per call on a GPU (the sum of the keys; NaN or inf in any
    makes the sum non-finite), so it is cheap enough to run every step."""
    total = None
    for k in keys:
        value = stats[k]
        data = value.data if hasattr(value, "data") else value
        total = data if total is None else total + data
    if total is None or math.isfinite(float(total)):
        return None
    bad = {}
    for k in keys:
        value = stats[k]
        v = float(value.data if hasattr(value, "data") else value)
        if not math.isfinite(v):
            bad[k] = v
    return bad or {"sum": float(total)}


def non_finite_arrays(state: Any, prefix: str = "") -> list[str]:
    """Dotted paths of the floating-point arrays in a (nested) state that hold NaN or inf."""
    bad: list[str] = []
    if isinstance(state, dict):
        for k, v in state.items():
            bad += non_finite_arrays(v, f"{prefix}{k}.")
    elif isinstance(state, list | tuple):
        for i, v in enumerate(state):
            bad += non_finite_arrays(v, f"{prefix}{i}.")
    elif isinstance(state, np.ndarray) and state.dtype.kind in "fc":
        if not np.isfinite(state).all():
            bad.append(prefix.rstrip("."))
    elif isinstance(state, float) and not math.isfinite(state):
        bad.append(prefix.rstrip("."))
    return bad


def diverged(
    console: Console, run: Run, epoch: int, epochs: int, step: int, steps: int, what: str
) -> int:
    """Print why the run stops (a loss or parameters not finite), where the last good
    checkpoint is, and return the exit code. Nothing is saved: the checkpoint on disk
    stays the last one written with finite values."""
    if run.checkpoint_path.exists() and run.last_saved is not None:
        kept = f"the last good checkpoint is {run.checkpoint_path} ({run.last_saved})"
    else:
        kept = "no checkpoint of this run was written"
    console.error(
        f"{what} at epoch {epoch + 1}/{epochs}, step {step}/{steps}: training diverged, "
        f"stopped without saving; {kept}. Try a smaller --lr."
    )
    return DIVERGED_EXIT_CODE


# ----- what is printed ------------------------------------------------------------------


def _isatty(stream: Any) -> bool:
    try:
        return bool(stream.isatty())
    except (AttributeError, ValueError):
        return False


class Console:
    """What a training run prints, chosen by where it goes.

    On a terminal: a tqdm progress bar per epoch and one line per epoch. Otherwise (a log
    file, a pipe, CI) or with --no-progress: no bar (no carriage returns), one line per
    epoch and one every --log-every steps. --quiet: errors and the final summary only.
    """

    def __init__(self, quiet: bool = False, no_progress: bool = False, log_every: int = 100):
        self.quiet = quiet
        self.log_every = log_every
        self.bar = not quiet and not no_progress and _isatty(sys.stderr)

    def info(self, message: str) -> None:
        if not self.quiet:
            print(message, flush=True)

    def error(self, message: str) -> None:
        print(f"error: {message}", file=sys.stderr, flush=True)

    def summary(self, message: str) -> None:
        print(message, flush=True)

    def progress(self, iterable: Any, total: int, desc: str) -> Any:
        return progress(iterable, total, desc, disable=not self.bar)

    def step_line_due(self, done: int, total: int) -> bool:
        """Whether to print a line after step `done` of `total` (no bar; not the last step,
        which the epoch's line reports)."""
        return (
            not self.bar
            and not self.quiet
            and self.log_every > 0
            and done % self.log_every == 0
            and done != total
        )


def choose_device(choice: str, quiet: bool = False) -> str:
    """Resolve --device, print the decision, exit with a clear message if impossible."""
    try:
        device, why = resolve_device(choice)
    except (RuntimeError, ValueError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        raise SystemExit(2) from None
    if not quiet:
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

    A checkpoint holds: the model config, the run's options, everything `state_fn()`
    returns (models and optimizers), the RNG state, the epoch and the number of batches
    already done in it, the partial sums of the epoch's running metrics, and the metrics
    rows so far. Resuming restores all of it, so 2 epochs straight == 1 epoch + resume +
    1 epoch, bit for bit on cpu.
    """

    def __init__(
        self,
        out_dir: str | os.PathLike,
        config: dict[str, Any],
        options: dict[str, Any] | None = None,
    ) -> None:
        self.out_dir = Path(out_dir)
        self.out_dir.mkdir(parents=True, exist_ok=True)
        self.config = config
        #: the run's command-line options (`run_options`), restored by --resume
        self.options = dict(options or {})
        #: what the checkpoint on disk holds ("end of epoch 2"), None until one is written
        self.last_saved: str | None = None
        self.start_epoch = 0
        self.start_batch = 0
        self.partial: dict[str, float] = {}
        self.metrics = MetricsLog(self.out_dir)
        self.started = time.perf_counter()
        # temp files of writes an earlier process was killed in the middle of
        remove_stale_temp_files(self.out_dir)

    @property
    def checkpoint_path(self) -> Path:
        return self.out_dir / CHECKPOINT_NAME

    def save(
        self,
        state: dict[str, Any],
        epoch: int,
        batch: int,
        partial: dict[str, float],
        rng: dict[str, Any] | None = None,
        metrics: list[dict[str, Any]] | None = None,
    ) -> Path:
        """Write the checkpoint atomically (temp file + rename) as safetensors + JSON.

        `rng` (default: the RNG state now) and `metrics` (default: every row so far) let a
        run interrupted during its end-of-epoch work save the state of the step boundary
        before it (batch = the epoch's length): resuming then re-runs the whole epoch end."""
        payload = {
            "config": self.config,
            "options": self.options,
            "state": state,
            "rng": get_rng_state() if rng is None else rng,
            "epoch": epoch,
            "batch": batch,
            "partial": dict(partial),
            "metrics": self.metrics.rows if metrics is None else metrics,
        }
        path = save_checkpoint(payload, self.checkpoint_path)
        self.last_saved = (
            f"end of epoch {epoch}" if batch == 0 else f"epoch {epoch + 1}, step {batch}"
        )
        return path


# ----- SIGINT / SIGTERM: stop at the next step boundary ---------------------------------


class Interrupts:
    """While active (a context manager), SIGINT and SIGTERM only set a flag: the training
    loop checks `requested` at step boundaries (after every update of a batch, D and G
    together) and after each phase of the epoch end, then saves a checkpoint and exits with
    `exit_code` (130 for SIGINT, 143 for SIGTERM). The previous handlers are restored on
    exit. Outside the main thread (where handlers cannot be set) it does nothing."""

    SIGNALS = ("SIGINT", "SIGTERM")

    def __init__(self) -> None:
        self.signum: int | None = None
        self._previous: dict[int, Any] = {}

    def _handler(self, signum: int, frame: Any) -> None:
        if self.signum is None:
            self.signum = signum

    def __enter__(self) -> Interrupts:
        for name in self.SIGNALS:
            sig = getattr(signal, name, None)
            if sig is None:
                continue
            try:
                self._previous[sig] = signal.signal(sig, self._handler)
            except (ValueError, OSError):  # not the main thread
                break
        return self

    def __exit__(self, *exc: Any) -> None:
        for sig, previous in self._previous.items():
            signal.signal(sig, previous if previous is not None else signal.SIG_DFL)
        self._previous.clear()

    @property
    def requested(self) -> bool:
        return self.signum is not None

    @property
    def name(self) -> str:
        return signal.Signals(self.signum).name if self.signum is not None else "none"

    @property
    def exit_code(self) -> int:
        """128 + the signal's number: 130 for SIGINT, 143 for SIGTERM."""
        return 128 + int(self.signum or signal.SIGINT)


def resume_hint(run_dir: str | os.PathLike) -> str:
    """The one line telling how to continue a stopped run (the script as it was started)."""
    script = sys.argv[0] if sys.argv and sys.argv[0] else "SCRIPT"
    return f"resume with: python {shlex.quote(script)} --resume {shlex.quote(str(run_dir))}"


def stop_for_signal(
    console: Console,
    run: Run,
    interrupts: Interrupts,
    state: dict[str, Any] | None,
    epoch: int,
    batch: int,
    partial: dict[str, float],
    epochs: int,
    steps: int,
    rng: dict[str, Any] | None = None,
    metrics: list[dict[str, Any]] | None = None,
) -> int:
    """A signal arrived: save the checkpoint of this step boundary (`state`, at `batch` of
    `epoch`; None when the checkpoint on disk is already the current one), print where it
    is and the `resume with:` line, and return the exit code (130 / 143)."""
    if state is not None:
        if non_finite_arrays(state):
            what = f"{interrupts.name}; parameters not finite"
            return diverged(console, run, epoch, epochs, batch, steps, what)
        run.save(state, epoch, batch, partial, rng=rng, metrics=metrics)
    console.summary(
        f"\ninterrupted ({interrupts.name}): saved {run.checkpoint_path} ({run.last_saved})"
    )
    console.summary(resume_hint(run.out_dir))
    return interrupts.exit_code


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
    run.last_saved = (
        f"end of epoch {run.start_epoch}"
        if run.start_batch == 0
        else f"epoch {run.start_epoch + 1}, step {run.start_batch}"
    )
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
