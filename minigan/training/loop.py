# The resumable epoch/step loop every training script runs: skips the steps a resumed run
# has done, keeps the running sums, stops on a loss that is not finite, shows progress,
# checks for SIGINT / SIGTERM after every step and after each phase of the epoch end,
# writes the metrics row and the checkpoint at the end of each epoch, and runs the
# script's work after the last epoch (e.g. writing the final weights).
from __future__ import annotations

import functools
import time
from collections.abc import Callable, Generator
from dataclasses import dataclass
from typing import Any

from ..random import get_rng_state
from .console import Console
from .guards import diverged, non_finite_arrays
from .interrupts import Interrupts, stop_for_signal
from .metrics_log import RunningSums
from .run import Run

#: what `end_of_epoch` is: a generator that does the epoch end's phases (sampling,
#: evaluation, writing images), yielding after each one (where an interrupt stops the run),
#: and returns (the epoch's metrics row, the epoch's line to print)
EndOfEpoch = Generator[None, None, tuple[dict[str, Any], str]]
#: what `finish` is: a generator that does the work after the last epoch, yielding after
#: each phase (where an interrupt stops the run; resuming it runs `finish` again), and
#: returns None or an exit code other than 0
Finish = Generator[None, None, int | None]


@dataclass
class Loop:
    """The parts of a training run the loop calls.

    step(batch) -> the step's statistics (0-d tensors or numbers, summed over the epoch
    into `keys`), or a string: the loss is not finite (what to report; nothing updated).
    """

    console: Console
    run: Run
    epochs: int
    loader: Any  # iterable of batches with len() and set_epoch(epoch)
    keys: tuple[str, ...]
    step: Callable[[Any], dict[str, Any] | str]
    state: Callable[[], dict[str, Any]]
    #: (epoch, totals, steps, seconds, skipped) -> the epoch end's phases
    end_of_epoch: Callable[[int, dict[str, float], int, float, int], EndOfEpoch]
    #: (totals, steps done) -> the progress bar's postfix / the text of a step line
    postfix: Callable[[dict[str, float], int], dict[str, str]]
    step_text: Callable[[dict[str, float], int], str]
    #: the last metrics row -> the end of the `done:` line
    summary: Callable[[dict[str, Any]], str]
    #: weight of a batch's statistics in the sums (default 1)
    weight: Callable[[Any], float] | None = None
    #: called with every metrics row after each epoch's row is written (e.g. a plot)
    after_metrics: Callable[[list[dict[str, Any]]], Any] | None = None
    #: the work after the last epoch (its checkpoint is written), see `Finish`
    finish: Callable[[], Finish] | None = None

    def __call__(self) -> int:
        """Train from the run's position to `epochs`, then run `finish`; the exit code.

        A signal that arrives once nothing is left to do (while the last checkpoint is
        written, or during the last phase of `finish`) does not stop anything: the run is
        complete, and it ends as a finished run does (exit code 0), saying so."""
        with Interrupts() as stop:
            code = self._epochs(stop)
            if code is None and self.finish is not None:
                code = self._finish(stop)
            if code is not None:
                return code
        run = self.run
        if stop.requested:
            self.console.info(
                f"{stop.name} arrived after the last checkpoint was written: the run is "
                "complete, nothing was stopped"
            )
        rows = run.metrics.rows
        last = self.summary(rows[-1]) if rows else "nothing left to train"
        self.console.summary(
            f"done: {len(rows)}/{self.epochs} epochs, {last}, "
            f"{time.perf_counter() - run.started:.1f}s; checkpoint {run.checkpoint_path}"
        )
        return 0

    def _finish(self, stop: Interrupts) -> int | None:
        """Run `finish` (the last epoch's checkpoint is on disk): an interrupt before or
        between its phases stops the run there (exit code 130 / 143; resuming runs it
        again); returns its exit code, or None once it is done."""
        interrupted = functools.partial(
            stop_for_signal, self.console, self.run, stop, None, self.epochs, 0, {},
            self.epochs, len(self.loader),
        )  # fmt: skip
        if stop.requested:
            return interrupted()
        phases = self.finish()
        while True:
            try:
                next(phases)
            except StopIteration as end:
                return end.value or None
            if stop.requested:
                phases.close()
                return interrupted()

    def _epochs(self, stop: Interrupts) -> int | None:
        console, run, epochs, loader = self.console, self.run, self.epochs, self.loader
        for epoch in range(run.start_epoch, epochs):
            loader.set_epoch(epoch)
            skip = run.start_batch if epoch == run.start_epoch else 0
            sums = RunningSums(self.keys, run.partial if skip else None)
            done = skip
            started = time.perf_counter()
            n = len(loader)
            bar = console.progress(loader, n, f"epoch {epoch + 1}/{epochs}")
            for i, batch in enumerate(bar):
                if i < skip:
                    continue
                stats = self.step(batch)
                if isinstance(stats, str):
                    return diverged(console, run, epoch, epochs, i + 1, n, stats)
                sums.add(stats, weight=self.weight(batch) if self.weight else 1.0)
                done = i + 1
                if hasattr(bar, "set_postfix") and (done % 10 == 0 or done == n):
                    bar.set_postfix(**self.postfix(sums.values(), done))
                if console.step_line_due(done, n):
                    text = self.step_text(sums.values(), done)
                    console.info(f"epoch {epoch + 1}/{epochs}, step {done}/{n}: {text}")
                if stop.requested:
                    close = getattr(bar, "close", None)
                    if close is not None:
                        close()
                    state = self.state()
                    totals = sums.values()
                    return stop_for_signal(
                        console, run, stop, state, epoch, done, totals, epochs, n
                    )
            # the step boundary before the epoch end: an interrupt during the epoch end saves
            # this (models, RNG, sums, metrics rows), and resuming re-runs the whole epoch end,
            # which changes no parameter and draws from the RNG the same way again
            state = self.state()
            bad_params = non_finite_arrays(state)
            if bad_params:
                what = f"parameters not finite ({', '.join(bad_params[:3])})"
                return diverged(console, run, epoch, epochs, n, n, what)
            totals = sums.values()
            interrupted = functools.partial(
                stop_for_signal, console, run, stop, state, epoch, n, totals, epochs, n,
                rng=get_rng_state(), metrics=list(run.metrics.rows),
            )  # fmt: skip
            if stop.requested:
                return interrupted()
            seconds = time.perf_counter() - started
            phases = self.end_of_epoch(epoch, totals, n, seconds, skip)
            while True:
                try:
                    next(phases)
                except StopIteration as end:
                    row, line = end.value
                    break
                if stop.requested:
                    phases.close()
                    return interrupted()
            run.metrics.append(row)
            if self.after_metrics is not None:
                self.after_metrics(run.metrics.rows)
            if stop.requested:
                return interrupted()
            run.partial = {}
            run.save(state, epoch + 1, 0, {})
            console.info(line)
            # the checkpoint just written is the end of this epoch; after the last one, only
            # `finish` is left (see _finish)
            if stop.requested and epoch + 1 < epochs:
                return stop_for_signal(console, run, stop, None, epoch + 1, 0, {}, epochs, n)
        return None
