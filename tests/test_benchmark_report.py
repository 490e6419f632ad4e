# The benchmark report script: turns pytest-benchmark JSON into a markdown table with
# throughput and the ratio to the baseline measured in the same run.
from __future__ import annotations

import importlib.util
import json
from pathlib import Path

REPORT = Path(__file__).resolve().parents[1] / "benchmarks" / "report.py"


def _load_report():
    spec = importlib.util.spec_from_file_location("bench_report", REPORT)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def _bench(group, impl, median, **extra):
    return {
        "name": f"{group}-{impl}",
        "group": group,
        "stats": {"median": median},
        "extra_info": {"impl": impl, **extra},
    }


def test_report_computes_throughput_and_ratio(tmp_path, capsys):
    data = {
        "machine_info": {"cpu": {"brand_raw": "TestCPU", "count": 2}},
        "datetime": "2026-11-23",
        "benchmarks": [
            _bench("gemm", "numpy_ref", 0.004, flops=2e9),
            _bench("gemm", "torch", 0.002, flops=2e9),
            _bench("bce", "numpy_ref", 0.001, bytes=3e6),
            _bench("gpu-bce", "ext", 99.0, bytes=3e9, gpu_ms=1.5),
        ],
    }
    path = tmp_path / "r.json"
    path.write_text(json.dumps(data))
    assert _load_report().main([str(path)]) == 0
    out = capsys.readouterr().out
    assert "TestCPU" in out
    assert "| gemm | numpy_ref | 4.000 | 500.0 GFLOP/s | 2.00x |" in out
    assert "| gemm | torch | 2.000 | 1000.0 GFLOP/s | 1.00x |" in out
    assert "| bce | numpy_ref | 1.000 | 3.00 GB/s | n/a |" in out
    # GPU rows use the CUDA-event time, not pytest-benchmark's wall clock
    assert "| gpu-bce | ext | 1.500 | 2000.00 GB/s | n/a |" in out


def _run(threads, benches, **minigan_info):
    return {
        "machine_info": {
            "cpu": {"brand_raw": "TestCPU", "count": 2},
            "minigan": {"threads": threads, **minigan_info},
        },
        "datetime": "2026-12-01T10:00:00+00:00",
        "benchmarks": benches,
    }


def test_report_sgemm_percentage_threads_and_date(tmp_path, capsys):
    # SGEMM reference: 2e9 FLOPs in 20 ms = 100 GFLOP/s; a kernel at 50 GFLOP/s is 50% of it
    data = _run(
        1,
        [
            _bench("sgemm", "numpy", 0.020, flops=2e9, sgemm_reference=True),
            _bench("sgemm", "torch", 0.025, flops=2e9, sgemm_reference=False),
            _bench("conv", "numba", 0.004, flops=2e8),
            _bench("conv", "torch", 0.002, flops=2e8),
            _bench("bn", "numba", 0.001, bytes=1e6),
            _bench("bn", "torch", 0.002, bytes=1e6),
        ],
        cpu_backend="numba",
        torch="2.13.0",
    )
    path = tmp_path / "r.json"
    path.write_text(json.dumps(data))
    assert _load_report().main([str(path)]) == 0
    out = capsys.readouterr().out
    assert "1 thread (minigan and the baseline alike)" in out
    assert "date: 2026-12-01" in out
    assert "minigan cpu kernels: numba" in out and "torch 2.13.0" in out
    assert "SGEMM reference (NumPy float32 matmul, this run): 100.0 GFLOP/s" in out
    assert "| time vs baseline | % of SGEMM |" in out
    assert "| sgemm | numpy | 20.000 | 100.0 GFLOP/s | 0.80x | 100% |" in out
    assert "| sgemm | torch | 25.000 | 80.0 GFLOP/s | 1.00x | 80% |" in out
    assert "| conv | numba | 4.000 | 50.0 GFLOP/s | 2.00x | 50% |" in out
    assert "| conv | torch | 2.000 | 100.0 GFLOP/s | 1.00x | 100% |" in out
    # memory-bound rows have no SGEMM percentage
    assert "| bn | numba | 1.000 | 1.00 GB/s | 0.50x |  |" in out
    # no busy-machine flag without a recorded load
    assert "busy machine" not in out


def test_report_without_sgemm_has_no_percentage_column():
    report = _load_report()
    rows = report.rows_from({"benchmarks": [_bench("g", "numba", 0.001, flops=1e9)]})
    assert report.sgemm_rate(rows) is None
    assert "% of SGEMM" not in report.render(rows)


def test_report_side_by_side_runs(tmp_path, capsys):
    # one JSON per thread count (as make bench-cpu writes): one table, columns per run, each
    # run against its own baseline and its own SGEMM rate
    one = _run(
        1,
        [
            _bench("sgemm", "numpy", 0.020, flops=2e9, sgemm_reference=True),
            _bench("step", "minigan", 0.030),
            _bench("step", "torch", 0.020),
        ],
        loadavg_start=[0.05, 0.1, 0.1],
    )
    two = _run(
        2,
        [
            _bench("sgemm", "numpy", 0.010, flops=2e9, sgemm_reference=True),
            _bench("step", "minigan", 0.010),
            _bench("step", "torch", 0.020),
            _bench("only2", "torch", 0.001),
        ],
        loadavg_start=[3.5, 1.0, 1.0],
    )
    paths = []
    for name, data in (("t1.json", one), ("t2.json", two)):
        paths.append(tmp_path / name)
        paths[-1].write_text(json.dumps(data))
    assert _load_report().main([str(p) for p in paths]) == 0
    out = capsys.readouterr().out
    assert "1 thread (minigan and the baseline alike)" in out
    assert "2 threads (minigan and the baseline alike)" in out
    assert (
        "| 1 thread: ms | 1 thread: throughput | 1 thread: vs baseline | 1 thread: % of SGEMM |"
        in out
    )
    assert "| 2 threads: ms |" in out
    assert (
        "| sgemm | numpy | 20.000 | 100.0 GFLOP/s | n/a | 100% "
        "| 10.000 | 200.0 GFLOP/s | n/a | 100% |" in out
    )
    assert "| step | minigan | 30.000 |  | 1.50x |  | 10.000 |  | 0.50x |  |" in out
    assert "| step | torch | 20.000 |  | 1.00x |  | 20.000 |  | 1.00x |  |" in out
    # a benchmark missing from one run leaves that run's cells empty
    assert "| only2 | torch |  |  |  |  | 1.000 |  | 1.00x |  |" in out
    # the run that started on a loaded machine is flagged, the quiet one is not
    assert out.count("a busy machine") == 1
    assert "Load average before the run: 3.50 (1 min) - a busy machine" in out
