# tests/conftest.py: pytest markers, a fixed seed before every test, and numpy print options.
"""Shared pytest configuration (kept minimal: nothing else global)."""

from __future__ import annotations

from collections.abc import Iterator

import numpy as np
import pytest

import minigan


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line("markers", "cuda: needs a CUDA GPU (skipped when none is usable)")
    config.addinivalue_line("markers", "slow: a slow test (deselect with -m 'not slow')")


@pytest.fixture(autouse=True)
def _seed_and_print_options() -> Iterator[None]:
    """Every test starts from minigan.manual_seed(0) and readable numpy printing."""
    minigan.manual_seed(0)
    with np.printoptions(precision=6, suppress=True, linewidth=100, threshold=200):
        yield
