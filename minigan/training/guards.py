# A loss or parameters that stop being finite: detected cheaply every step, and the run
# stops with exit code 3, keeping the last checkpoint written with finite values.
from __future__ import annotations

import math
from typing import TYPE_CHECKING, Any

import numpy as np

if TYPE_CHECKING:
    from .console import Console
    from .run import Run

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
