# The command-line options every training script shares, their validation before any work,
# and the options a run records in its checkpoint and restores on --resume.
from __future__ import annotations

import argparse
import math
from collections.abc import Callable
from typing import Any


def add_common_args(
    parser: argparse.ArgumentParser,
    epochs: int,
    batch_size: int,
    lr: float,
    lr_help: str | None = None,
    changeable_help: str | None = None,
) -> None:
    """Options every training script takes, with the script's defaults (`lr_help`: the
    help of --lr when it is more than a constant Adam learning rate; `changeable_help`:
    which options --resume accepts anew, when not those of CHANGEABLE_ON_RESUME)."""
    parser.add_argument(
        "--device",
        default="auto",
        choices=("auto", "cpu", "cuda"),
        help="where to train: cuda needs a GPU and CuPy; auto picks cuda when usable "
        "(default: auto)",
    )
    parser.add_argument(
        "--threads",
        type=int,
        default=None,
        metavar="N",
        help="CPU threads of the numba kernels and of BLAS, at most the cores (default: "
        "$MINIGAN_NUM_THREADS, else the cores other processes leave idle)",
    )
    parser.add_argument(
        "--epochs", type=int, default=epochs, help=f"epochs to train (default: {epochs})"
    )
    parser.add_argument(
        "--batch-size", type=int, default=batch_size, help=f"batch size (default: {batch_size})"
    )
    parser.add_argument(
        "--lr", type=float, default=lr, help=lr_help or f"Adam learning rate (default: {lr})"
    )
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
        + (
            changeable_help
            or "only --epochs (to train longer), the evaluation, printing, --device, --data-dir "
            "and sampling options may be given anew"
        )
        + ", any other option that differs is refused",
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
    check_int(fail, "--threads", args.threads, 1)
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
NOT_RECORDED = (
    "threads",
    "resume",
    "out",
    "sample",
    "sample_out",
    "sample_class",
    "install_from",
    "install_weights",
)


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
    fail: Fail,
    args: argparse.Namespace,
    given: set[str],
    ckpt: dict[str, Any],
    changeable: tuple[str, ...] = CHANGEABLE_ON_RESUME,
) -> list[str]:
    """Resume with the run's options: every option recorded in `ckpt` that was not given
    on the command line is set from it; one given with another value is allowed only if
    it is in `changeable` (and --epochs not below what the run has trained), else `fail`
    names the option, the run's value and the given one. Returns the overrides, as lines
    to print ("resuming with --epochs 5 (was 2)").

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
        if name not in changeable:
            allowed = ", ".join(_flag(n) for n in changeable if hasattr(args, n)) or "none"
            fail(
                f"argument {_flag(name)}: the run being resumed has {_flag(name)} {value}, "
                f"got {new}; a run keeps its settings (only {allowed} may be given anew): "
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
