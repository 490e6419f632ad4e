# Shared benchmark setup: ONE thread count for both sides of every comparison (minigan's
# numba + BLAS pools and PyTorch's intra-op pool), the numba kernels compiled before any
# timing, the round counts (MINIGAN_BENCH_ROUNDS caps them for a quick run), and what ran
# how wide recorded in the JSON (machine_info["minigan"], extra_info["threads"]) for
# report.py. PyTorch is imported only when present: it is a baseline, never a dependency.
"""Benchmark session setup.

Threads: ``MINIGAN_NUM_THREADS`` (default: every core this process may use) is applied once,
at the start of the session, to ``minigan.backend.cpu_threads.set_num_threads`` (numba's pool
and the BLAS library's) and to ``torch.set_num_threads``, so minigan and PyTorch always run
with the same number of threads. ``make bench-cpu`` runs the suites once with 1 thread and
once with all cores.

Rounds: each benchmark states its rounds; ``MINIGAN_BENCH_ROUNDS=N`` lowers every count to
at most N (and warm-up to at most 1), for a short run while developing. Final numbers are
taken without it.
"""

from __future__ import annotations

import os
from typing import Any

import pytest

from minigan import backend
from minigan.backend import cpu_threads

try:
    import torch
except ImportError:  # pragma: no cover - torch is optional
    torch = None

ROUNDS_ENV = "MINIGAN_BENCH_ROUNDS"

# The thread count of this session, applied in pytest_configure (before any benchmark).
THREADS: dict[str, Any] = {}


def _rounds_cap() -> int | None:
    raw = os.environ.get(ROUNDS_ENV, "").strip()
    if not raw:
        return None
    if not raw.isdigit() or int(raw) < 1:
        raise pytest.UsageError(f"{ROUNDS_ENV}={raw!r}: expected a positive integer")
    return int(raw)


def pytest_configure(config: pytest.Config) -> None:
    # Load every library the benchmarks use first: threadpoolctl limits only the BLAS
    # libraries already loaded (minigan.training pulls in SciPy and its own OpenBLAS).
    import minigan.models  # noqa: F401
    import minigan.training  # noqa: F401

    # Other processes' load before the benchmarks start: report.py flags a busy machine,
    # where threads wait for cores and multi-thread timings are not comparable.
    THREADS["loadavg_start"] = list(os.getloadavg()) if hasattr(os, "getloadavg") else None
    n = cpu_threads.set_num_threads()  # MINIGAN_NUM_THREADS, else every available core
    if torch is not None:
        torch.set_num_threads(n)
    THREADS["threads"] = n
    # Compile (or load from numba's cache) every numba kernel now, not in a timed round.
    THREADS["compile_s"] = backend.prepare_cpu_kernels(report=None)


def _versions() -> dict[str, str | None]:
    import numpy

    try:
        import numba

        numba_version = numba.__version__
    except ImportError:
        numba_version = None
    return {
        "numpy": numpy.__version__,
        "numba": numba_version,
        "torch": None if torch is None else torch.__version__,
    }


@pytest.hookimpl(optionalhook=True)
def pytest_benchmark_update_machine_info(config: pytest.Config, machine_info: dict) -> None:
    """machine_info["minigan"]: the thread count both sides ran with, how wide each pool
    actually was, which kernel implementation ran on cpu, and the library versions."""
    from minigan import backend_info

    machine_info["minigan"] = {
        "threads": THREADS.get("threads"),
        "torch_threads": None if torch is None else torch.get_num_threads(),
        "pools": cpu_threads.thread_info(),
        "cpu_backend": backend_info()["cpu"]["implementation"],
        "rounds_cap": _rounds_cap(),
        "compile_s": THREADS.get("compile_s"),
        "loadavg_start": THREADS.get("loadavg_start"),
        **_versions(),
    }


@pytest.fixture(autouse=True)
def _record_threads(request: pytest.FixtureRequest) -> None:
    """Every benchmark's extra_info["threads"]: the thread count it ran with."""
    if "benchmark" in request.fixturenames:
        request.getfixturevalue("benchmark").extra_info["threads"] = THREADS.get("threads")


@pytest.fixture
def rounds():
    """rounds(n) -> n, or at most MINIGAN_BENCH_ROUNDS when that is set (warm-up too)."""
    cap = _rounds_cap()

    def scaled(n: int, warmup: bool = False) -> int:
        if cap is None:
            return n
        return min(n, 1 if warmup else cap)

    return scaled


@pytest.fixture
def torch_or_skip():
    if torch is None:
        pytest.skip("PyTorch is not installed (baseline only)")
    return torch
