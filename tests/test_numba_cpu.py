# tests/test_numba_cpu.py: what is particular to the numba CPU path (its kernels' values are
# validated against numpy_ref in tests/test_contract_kernels.py, the `numba` param, and
# tests/test_numba_conv.py): dispatch (numba for float32 on cpu, numpy_ref for float64,
# MINIGAN_BACKEND, the fallback without numba), the activation codes against the registry,
# results independent of the thread count, thread control (numba + BLAS pools, the
# environment variable, the cap at the cores) and the one-time compile report.
from __future__ import annotations

import os
import subprocess
import sys
import textwrap
from pathlib import Path

import numpy as np
import pytest

import minigan
from minigan import backend
from minigan.backend import activations, cpu_threads

numba_cpu = pytest.importorskip("minigan.backend.numba_cpu")
if numba_cpu.unavailable_reason():
    pytest.skip(numba_cpu.unavailable_reason(), allow_module_level=True)

ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture
def fresh_dispatch(monkeypatch):
    """Forget the dispatcher's choices before and after (MINIGAN_BACKEND unset)."""
    monkeypatch.delenv("MINIGAN_BACKEND", raising=False)
    backend.reset()
    yield
    backend.reset()


@pytest.fixture
def restore_threads():
    """Put the pools back to the default size after a test that changes them."""
    yield
    cpu_threads.set_num_threads(None)


def test_cpu_float32_dispatches_to_numba_and_float64_to_the_oracle(fresh_dispatch):
    info = minigan.backend_info()["cpu"]
    assert info["implementation"] == "numba", info
    assert info["float64"] == "numpy", info
    assert backend.kernel("adam_step", "cpu", np.float32) is numba_cpu.adam_step
    assert backend.kernel("conv2d_forward", "cpu", np.float64).__module__.endswith("numpy_ref")


def test_minigan_backend_numpy_still_selects_the_reference(fresh_dispatch, monkeypatch):
    monkeypatch.setenv("MINIGAN_BACKEND", "numpy")
    backend.reset()
    name, _ = backend.implementation("cpu", np.float32)
    assert name == "numpy"
    assert "forced by MINIGAN_BACKEND=numpy" in minigan.backend_info()["cpu"]["reason"]


def test_without_numba_cpu_falls_back_to_numpy_and_says_why(fresh_dispatch, monkeypatch):
    monkeypatch.setattr(numba_cpu, "unavailable_reason", lambda: "numba is not installed (test)")
    backend.reset()
    info = minigan.backend_info()["cpu"]
    assert info["implementation"] == "numpy"
    assert "numba unavailable: numba is not installed (test)" in info["reason"]


def test_activation_codes_match_the_registry():
    assert numba_cpu._CODES == activations.CODES


def _every_numba_cpu_kernel_once() -> list[np.ndarray]:
    """Every kernel of numba_cpu (not the convolutions: tests/test_numba_conv.py) on
    inputs that span several column blocks and BCE chunks; the outputs, in order."""
    rng = np.random.default_rng(0)

    def r(*shape: int) -> np.ndarray:
        return rng.standard_normal(shape).astype(np.float32)

    out = []
    x, w, b, dy = r(33, 20), r(150, 20), r(150), r(33, 150)
    for act in numba_cpu.ACTIVATIONS:
        y = numba_cpu.linear_act_forward(x, w, b, act, 0.2)
        out += [y, *numba_cpu.linear_act_backward(dy, x, w, y, act, 0.2)]
        a = numba_cpu.activation_forward(dy, act, 0.2)
        out += [a, numba_cpu.activation_backward(x @ w.T, a, act, 0.2)]
    for shape in ((16, 8, 6, 6), (70, 130)):
        xb, g, d = r(*shape), rng.uniform(0.5, 1.5, shape[1]).astype(np.float32), r(*shape)
        rm, rv = np.zeros(shape[1], np.float32), np.ones(shape[1], np.float32)
        y, mean, invstd = numba_cpu.batchnorm_forward(xb, g, r(shape[1]), rm, rv, True)
        out += [
            y,
            mean,
            invstd,
            rm,
            rv,
            *numba_cpu.batchnorm_backward(d, xb, g, mean, invstd, True),
        ]
    logits = r(70000)
    targets = (rng.uniform(size=logits.shape) > 0.5).astype(np.float32)
    out += list(numba_cpu.sigmoid_bce_forward_backward(logits, targets))
    p, m, v = r(5000), np.zeros(5000, np.float32), np.zeros(5000, np.float32)
    numba_cpu.adam_step([p], [r(5000)], [m], [v], 1, weight_decay=0.01)
    return [*out, p, m, v]


def test_serial_and_parallel_builds_and_thread_counts_give_the_same_bits(restore_threads):
    """Reductions are owned by one loop iteration (a column block, a channel, a chunk), so
    every numba_cpu kernel gives bit-identical results in its serial build at 1 thread
    and its parallel build at 2 threads (what a training step sees either way)."""
    cpu_threads.set_num_threads(1)
    with numba_cpu.forced_build("serial"):
        serial = _every_numba_cpu_kernel_once()
    cpu_threads.set_num_threads(min(2, cpu_threads.available_cores()))
    # (set_num_threads keeps numba at 1 thread when NumPy was imported first, as under
    # pytest; that is a speed rule, so the test sizes numba's pool itself)
    numba = numba_cpu.numba
    numba.set_num_threads(min(2, numba.config.NUMBA_NUM_THREADS))
    with numba_cpu.forced_build("parallel"):
        parallel = _every_numba_cpu_kernel_once()
    assert len(serial) == len(parallel)
    for i, (a, b) in enumerate(zip(serial, parallel, strict=True)):
        if a is None:
            assert b is None, i
        else:
            np.testing.assert_array_equal(a, b, err_msg=f"output {i}")


def test_small_calls_and_one_thread_take_the_serial_build(monkeypatch):
    """A call that touches fewer than PARALLEL_MIN_WORK elements, or any call at 1 thread,
    runs the serial twin (no ~20 us hand-off to numba's workers); big calls at 2 threads
    the parallel build."""
    calls = []
    kernel = numba_cpu._act_flat
    monkeypatch.setattr(kernel, "serial", lambda *a: calls.append("serial"))
    monkeypatch.setattr(kernel, "parallel", lambda *a: calls.append("parallel"))
    small = np.ones(100, np.float32)
    big = np.ones(numba_cpu.PARALLEL_MIN_WORK, np.float32)
    for threads in (1, 2):  # numba's thread count as the kernels read it
        monkeypatch.setattr(numba_cpu.numba, "get_num_threads", lambda t=threads: t)
        numba_cpu.activation_forward(small, "relu")
        numba_cpu.activation_forward(big, "relu")
    assert calls == ["serial", "serial", "serial", "parallel"]
    with pytest.raises(ValueError, match="forced_build: build must be 'serial' or 'parallel'"):
        with numba_cpu.forced_build("fast"):
            pass


def test_set_num_threads_sizes_numba_and_blas_together(restore_threads):
    assert cpu_threads.set_num_threads(1) == 1
    info = cpu_threads.thread_info()
    assert info["threads"] == 1 and info["numba"] == 1
    assert info["blas"] and all(p["threads"] == 1 for p in info["blas"]), info


def test_more_threads_than_cores_is_lowered_with_a_warning(restore_threads):
    cores = cpu_threads.available_cores()
    with pytest.warns(RuntimeWarning, match=f"{cores + 3} threads requested"):
        assert cpu_threads.set_num_threads(cores + 3) == cores
    info = cpu_threads.thread_info()
    assert info["threads"] == cores
    # (numba keeps 1 thread when NumPy was imported first: see the test below)
    assert info["numba"] == (1 if cpu_threads.blas_threads_spin() else cores)


@pytest.mark.parametrize("bad", [0, -2, 1.5, True, "2"])
def test_bad_thread_counts_are_refused(bad, restore_threads):
    with pytest.raises(ValueError, match="set_num_threads: threads must be an integer >= 1"):
        cpu_threads.set_num_threads(bad)


def test_environment_variable_sets_the_default(restore_threads, monkeypatch):
    monkeypatch.setenv(cpu_threads.ENV_VAR, "1")
    assert cpu_threads.set_num_threads() == 1
    monkeypatch.setenv(cpu_threads.ENV_VAR, "lots")
    with pytest.raises(ValueError, match="MINIGAN_NUM_THREADS='lots': expected a positive"):
        cpu_threads.set_num_threads()


def _prepare_in_a_fresh_process(cache_dir: Path) -> subprocess.CompletedProcess:
    script = textwrap.dedent(
        """
        from minigan import backend
        seconds = backend.prepare_cpu_kernels()
        print(f"prepared in {seconds:.2f} s")
        """
    )
    env = dict(os.environ, NUMBA_CACHE_DIR=str(cache_dir), PYTHONPATH=str(ROOT))
    env.pop("MINIGAN_BACKEND", None)
    return subprocess.run(
        [sys.executable, "-c", script], env=env, capture_output=True, text=True, timeout=900
    )


def test_compile_time_is_reported_once_and_the_second_run_compiles_nothing(tmp_path):
    """With an empty cache the first run compiles every kernel and prints one line saying
    how long it took; the second run loads everything from the cache and prints nothing."""
    first = _prepare_in_a_fresh_process(tmp_path)
    assert first.returncode == 0, first.stderr
    assert first.stdout.count("compiling CPU kernels... ") == 1, first.stdout
    assert any(tmp_path.rglob("*.nbi")), "numba wrote no cache index"
    second = _prepare_in_a_fresh_process(tmp_path)
    assert second.returncode == 0, second.stderr
    assert "compiling" not in second.stdout, second.stdout


def _thread_info_in_a_fresh_process(imports: str) -> str:
    script = f"{imports}\nfrom minigan.backend import cpu_threads\n" + textwrap.dedent(
        """
        cpu_threads.set_num_threads(2)
        info = cpu_threads.thread_info()
        print(info["numba"], "|", info["note"])
        """
    )
    env = dict(os.environ, PYTHONPATH=str(ROOT))
    env.pop("OPENBLAS_THREAD_TIMEOUT", None)
    env.pop(cpu_threads.ENV_VAR, None)
    done = subprocess.run(
        [sys.executable, "-c", script], env=env, capture_output=True, text=True, timeout=300
    )
    assert done.returncode == 0, done.stderr
    return done.stdout.strip()


@pytest.mark.skipif(cpu_threads.available_cores() < 2, reason="needs 2 cores")
def test_numpy_imported_first_keeps_numba_on_one_thread_and_says_why():
    """OpenBLAS reads OPENBLAS_THREAD_TIMEOUT when NumPy loads it: imported after minigan,
    the idle BLAS threads sleep and numba gets 2 threads; imported before, they spin, and
    numba is kept to 1 thread, with the reason."""
    assert _thread_info_in_a_fresh_process("import minigan, numpy") == "2 |"
    numba_threads, note = _thread_info_in_a_fresh_process("import numpy, minigan").split(" | ")
    assert numba_threads == "1"
    assert "NumPy was imported before minigan" in note and "OPENBLAS_THREAD_TIMEOUT" in note


@pytest.mark.parametrize(
    ("cores", "load", "expected"),
    [(2, 0.2, 2), (2, 0.6, 2), (2, 0.8, 1), (2, 1.4, 1), (2, 9.0, 1), (8, 2.8, 5)],
)
def test_default_threads_leave_the_cores_others_use(monkeypatch, cores, load, expected):
    """Threads that other processes would park stall every parallel loop: the default is the
    cores minus those the 1-minute load average says are busy (from 0.75 on), at least 1."""
    monkeypatch.setattr(cpu_threads, "available_cores", lambda: cores)
    monkeypatch.setattr(os, "getloadavg", lambda: (load, load, load))
    assert cpu_threads.default_threads() == expected
