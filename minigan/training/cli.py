# The main() of a training script: parse and check the options, find and read the checkpoint
# of --resume and restore the run's options from it, choose the device, then train or sample.
from __future__ import annotations

import argparse
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

from .console import choose_device
from .options import Fail, parse_args, restore_options
from .run import find_checkpoint, prepare_out_dir, read_checkpoint

Train = Callable[[argparse.Namespace, str, Fail, "dict[str, Any] | None"], int]
Sample = Callable[[argparse.Namespace, str, Fail], int]


def run_script(
    parser: argparse.ArgumentParser,
    argv: list[str] | None,
    kind: str,
    check_args: Callable[[argparse.ArgumentParser, argparse.Namespace], None],
    train: Train,
    sample: Sample,
) -> int:
    """Everything a script's main() does around training (`train(args, device, fail,
    ckpt)`) or sampling (`sample(args, device, fail)`, with --sample)."""
    args, given = parse_args(parser, argv)
    check_args(parser, args)
    ckpt, overrides = None, []
    if args.resume is not None:
        args.resume = str(find_checkpoint(parser.error, args.resume))
        if args.sample is None:  # training goes on with the run's options
            ckpt = read_checkpoint(args.resume, kind)
            overrides = restore_options(parser.error, args, given, ckpt)
    for line in overrides if not args.quiet else []:
        print(line)
    device = choose_device(args.device, quiet=args.quiet)
    if args.sample is not None:
        return sample(args, device, parser.error)
    return train(args, device, parser.error, ckpt)


def sample_checkpoint_path(args: argparse.Namespace) -> str | None:
    """The checkpoint --sample draws from (args.resume), or None after printing why not."""
    if args.resume is None:
        print(
            "error: --sample needs --resume RUN (the run or checkpoint to sample from)",
            file=sys.stderr,
        )
    return args.resume


def sample_out_path(args: argparse.Namespace, fail: Fail) -> Path:
    """Where --sample writes: --sample-out, else samples.npy in --out or the run's directory
    (checked writable, created if missing)."""
    out = Path(args.sample_out or Path(args.out or Path(args.resume).parent) / "samples.npy")
    prepare_out_dir(fail, out.parent, "--sample-out" if args.sample_out else "--out")
    return out
