# The main() of a training script: parse and check the options, find and read the checkpoint
# of --resume and restore the run's options from it, choose the device, then train or sample.
from __future__ import annotations

import argparse
from collections.abc import Callable, Iterable
from functools import partial
from typing import Any

from .console import choose_device, set_up_cpu
from .option_table import Option, check_options
from .options import CHANGEABLE_ON_RESUME, Fail, check_common_args, parse_args, restore_options
from .run import find_checkpoint, read_checkpoint
from .sample_mode import check_sample_options, sample_mode
from .start import StopRun

Train = Callable[[argparse.Namespace, str, Fail, "dict[str, Any] | None"], int]
Sample = Callable[[argparse.Namespace, str, Fail], int]


def run_script(
    parser: argparse.ArgumentParser,
    argv: list[str] | None,
    kind: str,
    train: Train,
    options: Iterable[Option] = (),
    check_args: Callable[[argparse.ArgumentParser, argparse.Namespace], None] | None = None,
    sample: Sample | None = None,
    instead: Callable[[argparse.Namespace], int | None] | None = None,
    changeable: tuple[str, ...] = CHANGEABLE_ON_RESUME,
) -> int:
    """Everything a script's main() does around training; returns the exit code.

    1. parse argv; check the common options (`add_common_args`), then every row of the
       script's `options` tables, then `check_args(parser, args)` if given (exit code 2
       and one line naming the option on the first bad value);
    2. `instead(args)`: an action that replaces training when it returns an exit code
       (e.g. installing a finished run), None to go on;
    3. --resume: find the checkpoint; unless sampling, read it (it must be of `kind`) and
       restore the run's options from it (only `changeable` ones may be given anew; the
       overrides are printed);
    4. choose the device (on cpu: size the thread pools from --threads and compile the
       numba kernels, see `set_up_cpu`); with --sample N (a script that has it)
       `sample(args, device, fail)` (default: `sample_mode` for `kind`), else
       `train(args, device, fail, ckpt)`.
       A `StopRun` raised while the run starts ends the script with its code.
    """
    args, given = parse_args(parser, argv)
    fail = parser.error
    check_common_args(parser, args)
    check_options(fail, args, options)
    if hasattr(args, "sample"):
        check_sample_options(fail, args)
    if check_args is not None:
        check_args(parser, args)
    if instead is not None:
        code = instead(args)
        if code is not None:
            return code
    sampling = getattr(args, "sample", None) is not None
    ckpt, overrides = None, []
    if args.resume is not None:
        args.resume = str(find_checkpoint(fail, args.resume))
        if not sampling:  # training goes on with the run's options
            ckpt = read_checkpoint(args.resume, kind)
            overrides = restore_options(fail, args, given, ckpt, changeable)
    for line in overrides if not args.quiet else []:
        print(line)
    device = choose_device(args.device, quiet=args.quiet)
    if device == "cpu":
        set_up_cpu(args.threads, quiet=args.quiet)
    try:
        if sampling:
            return (sample or partial(sample_mode, kind=kind))(args, device, fail)
        return train(args, device, fail, ckpt)
    except StopRun as stop:
        return stop.code
