# tests/conftest.py: pytest markers and options (--run-emu-full), a fixed seed before every
# test, numpy print options, and a summary line counting the emulated CUDA kernel tests.
"""Shared pytest configuration (kept minimal: nothing else global)."""

from __future__ import annotations

import os
from collections.abc import Iterator

import helpers
import numpy as np
import pytest

import minigan

EMU_FULL_HELP = "run the slow emulated CUDA kernel cases (marker emu_full) too"

# nodeid -> outcome ("passed", "failed", "skipped") of every test carrying the `emu` marker.
_emu_outcomes: dict[str, str] = {}
_emu_nodeids: set[str] = set()


def pytest_addoption(parser: pytest.Parser) -> None:
    parser.addoption("--run-emu-full", action="store_true", default=False, help=EMU_FULL_HELP + ".")


def _emu_full(config: pytest.Config) -> bool:
    env = os.environ.get("MINIGAN_EMU_FULL", "") not in ("", "0")
    return env or bool(config.getoption("--run-emu-full", default=False))


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line("markers", "cuda: needs a CUDA GPU (skipped when none is usable)")
    config.addinivalue_line("markers", "slow: a slow test (deselect with -m 'not slow')")
    config.addinivalue_line(
        "markers", "emu: runs csrc/'s CUDA kernels in the CPU emulator (minigan._C_emu)"
    )
    config.addinivalue_line(
        "markers",
        "emu_full: an emulated case too slow for the default run "
        "(run with --run-emu-full or MINIGAN_EMU_FULL=1)",
    )
    helpers.EMU_FULL = _emu_full(config)


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    skip_full = None
    if not _emu_full(config):
        skip_full = pytest.mark.skip(
            reason="emu_full: slow under the CUDA emulator "
            "(run with --run-emu-full or MINIGAN_EMU_FULL=1)"
        )
    for item in items:
        if item.get_closest_marker("emu") is not None:
            _emu_nodeids.add(item.nodeid)
            if skip_full is not None and item.get_closest_marker("emu_full") is not None:
                item.add_marker(skip_full)


def pytest_runtest_logreport(report: pytest.TestReport) -> None:
    if report.nodeid not in _emu_nodeids:
        return
    if report.failed:
        outcome = "failed"
    elif report.skipped:
        outcome = "skipped"
    elif report.when == "call":
        outcome = "passed"
    else:
        return
    if _emu_outcomes.get(report.nodeid) != "failed":  # an error in teardown still fails
        _emu_outcomes[report.nodeid] = outcome


def pytest_terminal_summary(terminalreporter, exitstatus: int, config: pytest.Config) -> None:
    """One line for the CI log: how many emulated CUDA kernel tests ran, and how."""
    if not _emu_nodeids:
        return
    counts = dict.fromkeys(("passed", "failed", "skipped"), 0)
    for outcome in _emu_outcomes.values():
        counts[outcome] += 1
    terminalreporter.write_line(
        f"emulated CUDA kernel tests (marker emu): {counts['passed']} passed, "
        f"{counts['failed']} failed, {counts['skipped']} skipped"
    )


@pytest.fixture(autouse=True)
def _seed_and_print_options() -> Iterator[None]:
    """Every test starts from minigan.manual_seed(0) and readable numpy printing."""
    minigan.manual_seed(0)
    with np.printoptions(precision=6, suppress=True, linewidth=100, threshold=200):
        yield
