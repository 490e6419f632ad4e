# What a training run prints: a progress bar on a terminal, plain lines in a log, errors
# and the final summary only with --quiet; and the --device decision.
from __future__ import annotations

import sys
from typing import Any

from ..device import resolve_device


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


def set_up_cpu(threads: int | None, quiet: bool = False) -> int:
    """Size the CPU thread pools (--threads; see minigan.backend.cpu_threads), print the
    decision, and compile the numba kernels now (printing how long, the first time only).
    Returns the number of threads."""
    import warnings

    from .. import backend
    from ..backend import cpu_threads, implementation

    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        n = cpu_threads.set_num_threads(threads)
    info = cpu_threads.thread_info()
    if not quiet:
        for warning in caught:
            print(f"warning: {warning.message}")
        kernels = implementation("cpu", "float32")[0]
        print(f"cpu: {n} thread(s) of {info['cores']} cores, kernels: {kernels}")
        if info["note"]:
            print(f"note: {info['note']}")
    backend.prepare_cpu_kernels(report=None if quiet else print)
    return n


def progress(iterable: Any, total: int, desc: str, disable: bool) -> Any:
    """A tqdm progress bar (plain iteration when tqdm is missing or disabled)."""
    if disable:
        return iterable
    try:
        from tqdm.auto import tqdm  # noqa: PLC0415
    except ImportError:
        return iterable
    return tqdm(iterable, total=total, desc=desc, leave=False, dynamic_ncols=True)
