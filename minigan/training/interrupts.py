# SIGINT / SIGTERM: only a flag while training; the loop stops at the next step boundary
# (or after the current phase of the epoch end), saves a checkpoint and exits 130 / 143.
from __future__ import annotations

import os
import shlex
import signal
import sys
from collections.abc import Sequence
from typing import Any

from .console import Console
from .guards import diverged, non_finite_arrays
from .run import Run


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


def resume_hint(run_dir: str | os.PathLike, extra: Sequence[str] = ()) -> str:
    """The one line telling how to continue a stopped run (the script as it was started,
    then --resume RUN_DIR and the `extra` arguments)."""
    script = sys.argv[0] if sys.argv and sys.argv[0] else "SCRIPT"
    words = ["python", script, "--resume", str(run_dir), *extra]
    return "resume with: " + " ".join(shlex.quote(w) for w in words)


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
    console.summary(resume_hint(run.out_dir, run.resume_args))
    return interrupts.exit_code
