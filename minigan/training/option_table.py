# Option tables: a script declares each of its own options once, as one row (flag, default,
# help, accepted range), and the same row adds it to the command line and checks its value
# before any work.
from __future__ import annotations

import argparse
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Any

from .options import Fail, check_float, check_int


@dataclass(frozen=True)
class Option:
    """One command-line option and the values it accepts.

    The type is that of `default` unless given (a bool default makes a --flag / --no-flag
    pair); `action="store_true"` makes a plain switch. Numbers are checked against `low`
    (`low_open`: strictly above it) and `high` (ints: at most `high`; floats: below it, and
    finite); `note` is added to the message, e.g. " (0 = off)". None (not given) is
    always accepted.
    """

    flag: str
    default: Any
    help: str
    type: Callable[[str], Any] | None = None
    choices: tuple[Any, ...] | None = None
    metavar: str | None = None
    action: str | None = None
    low: float | None = None
    high: float | None = None
    low_open: bool = False
    note: str = ""

    @property
    def dest(self) -> str:
        """The attribute of the parsed arguments: --latent-dim -> latent_dim."""
        return self.flag.lstrip("-").replace("-", "_")

    def add_to(self, parser: argparse.ArgumentParser | argparse._ArgumentGroup) -> None:
        """Add the option to a parser or an argument group."""
        kwargs: dict[str, Any] = {"default": self.default, "help": self.help}
        if self.action is not None:
            kwargs["action"] = self.action
        elif isinstance(self.default, bool):
            kwargs["action"] = argparse.BooleanOptionalAction
        else:
            kwargs["type"] = self.type or (type(self.default) if self.default is not None else str)
        if self.choices is not None:
            kwargs["choices"] = self.choices
        if self.metavar is not None:
            kwargs["metavar"] = self.metavar
        parser.add_argument(self.flag, **kwargs)

    def check(self, fail: Fail, args: argparse.Namespace) -> None:
        """`fail` (exit code 2) with a message naming the option and the accepted range
        when its value is outside it."""
        value = getattr(args, self.dest)
        if value is None or self.low is None or isinstance(value, bool):
            return
        if isinstance(value, int):
            high = None if self.high is None else int(self.high)
            check_int(fail, self.flag, value, int(self.low), high, note=self.note)
        elif isinstance(value, float):
            check_float(fail, self.flag, value, self.low, self.high, self.low_open, self.note)


def add_options(
    parser: argparse.ArgumentParser, options: Iterable[Option], title: str | None = None
) -> None:
    """Add the rows of a table to `parser`, in a group titled `title` when given."""
    target = parser.add_argument_group(title) if title else parser
    for option in options:
        option.add_to(target)


def check_options(fail: Fail, args: argparse.Namespace, options: Iterable[Option]) -> None:
    """Check every row of a table, in order: the first value out of range stops with exit
    code 2 and one line naming the option, the accepted range and the value."""
    for option in options:
        option.check(fail, args)
