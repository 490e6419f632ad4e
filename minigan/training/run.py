# A run's directory (OUT/run-NNN, OUT/latest; nothing is ever overwritten), its atomic
# checkpoints, and resuming from one (models, optimizers, RNG, position in the epoch).
from __future__ import annotations

import os
import re
import secrets
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from ..random import get_rng_state, set_rng_state
from ..utils.checkpoint import (
    TEMP_PREFIX,
    TEMP_SUFFIX,
    CheckpointError,
    atomic_write,
    load_checkpoint,
    remove_stale_temp_files,
    save_checkpoint,
)
from .metrics_log import MetricsLog
from .options import Fail, run_options

CHECKPOINT_NAME = "checkpoint.safetensors"
LATEST_NAME = "latest"
RUN_PREFIX = "run-"
#: the temp symlink `set_latest` renames over OUT/latest: ".latest-" + 12 hex digits
LATEST_TEMP = re.compile(rf"\.{LATEST_NAME}-[0-9a-f]{{12}}")
#: when this process (its minigan.training import) started: a temp symlink older than this
#: was left by an earlier process that was killed between making it and renaming it
_PROCESS_START = time.time()


def prepare_out_dir(fail: Fail, out_dir: str | os.PathLike, option: str = "--out") -> Path:
    """Create the output directory and check a file can be written in it, before any
    training: a read-only or impossible --out is refused with a message naming it."""
    path = Path(out_dir)
    if path.exists() and not path.is_dir():
        fail(f"argument {option}: {str(path)!r} is a file; it must be a directory (or not exist)")
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
    # again if the temp link vanished: a process started after it was made takes it for a
    # stale one (`remove_stale_latest_links`)
    for _ in range(3):
        tmp = root / f".{LATEST_NAME}-{secrets.token_hex(6)}"
        try:
            os.symlink(run_dir.name, tmp, target_is_directory=True)
        except (OSError, NotImplementedError):
            with atomic_write(target) as f:
                f.write(f"{run_dir.name}\n".encode())
            return
        try:
            os.replace(tmp, target)
            return
        except FileNotFoundError:
            continue
        except OSError:
            os.unlink(tmp)
            raise
    raise OSError(f"could not point {target} at {run_dir.name}: its temp link kept vanishing")


def remove_stale_latest_links(root: str | os.PathLike) -> list[Path]:
    """Remove what an earlier process, killed while pointing ROOT/latest at its run, left
    in ROOT: its temp symlink (named like `LATEST_TEMP`) or the temp file of a text-file
    pointer, made before this process started (another process's, in progress, is kept).
    Only those names are touched. Returns the removed paths."""
    text_temp = re.compile(rf"{re.escape(TEMP_PREFIX + LATEST_NAME)}\..+{re.escape(TEMP_SUFFIX)}")
    removed: list[Path] = []
    try:
        entries = list(Path(root).iterdir())
    except OSError:
        return removed
    for path in entries:
        try:
            if LATEST_TEMP.fullmatch(path.name):
                ours = path.is_symlink()
            elif text_temp.fullmatch(path.name):
                ours = path.is_file() and not path.is_symlink()
            else:
                continue
            if ours and path.lstat().st_mtime < _PROCESS_START:
                path.unlink()
                removed.append(path)
        except OSError:  # gone already, or not ours to remove
            continue
    return removed


def start_run_dir(fail: Fail, out: str | None, default: str) -> Path:
    """A new run: its own new directory OUT/run-NNN, and OUT/latest pointing at it (after
    removing what a killed earlier start left in OUT)."""
    root = prepare_out_dir(fail, out or default)
    remove_stale_latest_links(root)
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
    run_dir = prepare_out_dir(fail, run_dir, "--resume")
    remove_stale_latest_links(run_dir.parent)  # OUT of the run: what a killed start left
    return run_dir


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
        #: what the `resume with:` hint adds after --resume RUN: the options of this
        #: invocation that the run does not record (e.g. an action to do once it ends)
        self.resume_args: list[str] = []
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


def open_run(
    fail: Fail,
    args: Any,
    config: dict[str, Any],
    ckpt: dict[str, Any] | None,
    default_out: str,
) -> Run:
    """The run of a training script: a new OUT/run-NNN (`args.out`, else `default_out`),
    or, resuming `ckpt` (read from `args.resume`), the directory of that checkpoint."""
    if ckpt is not None:
        out_dir = resumed_run_dir(fail, args.resume, args.out)
    else:
        out_dir = start_run_dir(fail, args.out, default_out)
    return Run(out_dir, config, run_options(args))
