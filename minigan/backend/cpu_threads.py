# Threads of the CPU path: how many threads numba's pool and the BLAS library (OpenBLAS /
# MKL under NumPy) may use, set together from --threads, MINIGAN_NUM_THREADS or the cores
# this process may run on. (The numba kernels' one-time compilation is
# minigan.backend.prepare_cpu_kernels.)
"""CPU threads.

The CPU path runs two kinds of parallel work, never at the same time: BLAS GEMMs (NumPy's
``@``) and numba ``prange`` kernels, called one after the other from the one Python thread.
:func:`set_num_threads` gives both pools the same size n, with n at most the number of cores
this process may use (``os.sched_getaffinity``), so at any moment at most n threads compute:
more than that only makes threads wait for each other (on a 2-core machine, two BLAS threads
next to a busy process were measured 4-5x slower than one).

The size comes from, in order: an explicit :func:`set_num_threads` call (the examples'
``--threads``), the environment variable ``MINIGAN_NUM_THREADS``, else
:func:`default_threads`: the cores that other processes leave idle. Every parallel loop
ends with all its threads meeting, so one thread that the OS parks behind another process
stalls the others: with a second 2-thread job on a 2-core machine, a DCGAN step took 5 s
with 2 threads against 0.18 s with 1.

One trap: OpenBLAS's idle threads busy-wait for about 0.1 s after every GEMM, taking the
cores from numba's threads that run next (measured: an MLP-GAN step 228 ms with 2 threads
against 27 ms with 1). ``minigan/__init__.py`` sets ``OPENBLAS_THREAD_TIMEOUT=4`` (sleep at
once) before NumPy loads OpenBLAS; when NumPy was imported before minigan and the variable
was not set, that is too late, and :func:`set_num_threads` then gives numba a single thread
(BLAS keeps n) and says why in :func:`thread_info`: import minigan first, or set the
variable, to get both pools at n.
"""

from __future__ import annotations

import os
import warnings
from typing import Any

ENV_VAR = "MINIGAN_NUM_THREADS"

_configured: int | None = None  # what set_num_threads last applied
_blas_limit: Any = None  # the threadpoolctl limiter, kept alive while it applies


def blas_threads_spin() -> bool:
    """Whether OpenBLAS's idle threads busy-wait in this process: NumPy was imported before
    minigan without OPENBLAS_THREAD_TIMEOUT set (see the module docstring)."""
    from .. import _startup  # noqa: PLC0415 - recorded before NumPy was loaded

    return _startup.NUMPY_IMPORTED_FIRST and not _startup.OPENBLAS_TIMEOUT_PRESET


def available_cores() -> int:
    """The number of CPU cores this process may run on."""
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # not Linux
        return os.cpu_count() or 1


def default_threads() -> int:
    """The cores left idle by other processes: the available cores minus the cores the
    1-minute load average says are busy (a core counts as busy from a load of 0.75 on), at
    least 1. A quiet 2-core machine gives 2; with another busy process, 1."""
    cores = available_cores()
    try:
        load = os.getloadavg()[0]
    except (AttributeError, OSError):  # not available on this platform
        return cores
    return max(1, cores - min(cores, int(load + 0.25)))


def threads_from_env() -> int | None:
    """MINIGAN_NUM_THREADS as a positive int, None when unset; ValueError naming the
    variable when it is not a positive integer."""
    raw = os.environ.get(ENV_VAR, "").strip()
    if not raw:
        return None
    try:
        value = int(raw)
    except ValueError:
        value = 0
    if value < 1:
        raise ValueError(f"{ENV_VAR}={raw!r}: expected a positive integer (threads per pool)")
    return value


def use_sleeping_numba_workers() -> None:
    """Select numba's workqueue threading layer unless NUMBA_THREADING_LAYER is set.

    numba's OpenMP layer keeps its idle workers spinning; next to any other busy process
    (or OpenBLAS's threads) that made a batch-norm step 5x slower with 2 threads than with
    1 on a 2-core machine (32 ms vs 6 ms). The workqueue layer's workers sleep when idle.
    (It must not be entered from two Python threads at once: minigan calls its kernels from
    the training thread only.) numba fixes its layer when it first starts threads, which
    ``numba.set_num_threads`` does too, so this runs before either.
    """
    if "NUMBA_THREADING_LAYER" in os.environ:
        return
    try:
        import numba
    except ImportError:
        return
    numba.config.THREADING_LAYER = "workqueue"


def set_num_threads(n: int | None = None) -> int:
    """Size numba's and BLAS's thread pools to n (default: MINIGAN_NUM_THREADS, else
    :func:`default_threads`); returns the size applied.

    n larger than the available cores is lowered to them, with a warning: more threads than
    cores only wait for each other. ValueError for n < 1.
    """
    global _configured, _blas_limit
    if n is None:
        n = threads_from_env() or default_threads()
    if isinstance(n, bool) or not isinstance(n, int) or n < 1:
        raise ValueError(f"set_num_threads: threads must be an integer >= 1, got {n!r}")
    cores = available_cores()
    if n > cores:
        warnings.warn(
            f"set_num_threads: {n} threads requested but this process may use {cores} "
            f"cores; using {cores}",
            RuntimeWarning,
            stacklevel=2,
        )
        n = cores
    try:
        import numba
    except ImportError:
        numba = None
    if numba is not None:
        use_sleeping_numba_workers()
        numba_threads = 1 if blas_threads_spin() else n
        numba.set_num_threads(min(numba_threads, numba.config.NUMBA_NUM_THREADS))
    try:
        from threadpoolctl import threadpool_limits
    except ImportError:
        pass
    else:
        if _blas_limit is not None:
            _blas_limit.restore_original_limits()
        _blas_limit = threadpool_limits(limits=n, user_api="blas")
    _configured = n
    return n


def num_threads() -> int:
    """The pool size in force (applying the default on first use)."""
    return _configured if _configured is not None else set_num_threads()


def thread_info() -> dict[str, Any]:
    """What runs how wide: {"threads", "cores", "numba", "blas": [{library, threads}],
    "note"}; "note" says why numba runs fewer threads than asked (else "")."""
    info: dict[str, Any] = {"threads": num_threads(), "cores": available_cores(), "note": ""}
    if blas_threads_spin() and info["threads"] > 1:
        info["note"] = (
            "numba kernels run on 1 thread: NumPy was imported before minigan, so OpenBLAS's "
            "idle threads spin; import minigan first or set OPENBLAS_THREAD_TIMEOUT=4"
        )
    try:
        import numba

        info["numba"] = numba.get_num_threads()
    except ImportError:
        info["numba"] = None
    try:
        from threadpoolctl import threadpool_info

        info["blas"] = [
            {"library": p.get("internal_api"), "threads": p.get("num_threads")}
            for p in threadpool_info()
            if p.get("user_api") == "blas"
        ]
    except ImportError:
        info["blas"] = []
    return info
