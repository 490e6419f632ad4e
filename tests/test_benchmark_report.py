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
