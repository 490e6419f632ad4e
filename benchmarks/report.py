#!/usr/bin/env python3
# Render pytest-benchmark JSON files as markdown tables: median time per benchmark,
# throughput (GFLOP/s or GB/s from extra_info), the ratio to the baseline of its group
# (torch, or cupy/cuBLAS on the GPU) and, when the run measured a reference SGEMM
# (benchmarks/bench_kernels_cpu.py: bench_sgemm), each FLOP-bound row's rate as a percentage
# of it. Several files (one per thread count, as `make bench-cpu` writes) give one table
# with the runs side by side.
"""Usage: python benchmarks/report.py results.json [more.json ...]

One file: a header (machine, thread count, date) and one row per benchmark. Several files:
a header per file, then one table whose columns repeat per file (e.g. 1 thread | 2 threads).
"""

from __future__ import annotations

import argparse
import json
import sys
from collections import defaultdict

BASELINES = ("torch", "cupy_matmul", "cublas")
# 1-minute load average above which a run is flagged as measured on a busy machine.
BUSY_LOAD = 0.5


def rows_from(data: dict) -> list[dict]:
    rows = []
    for bench in data["benchmarks"]:
        info = bench.get("extra_info", {})
        # GPU benchmarks store the CUDA-event median in extra_info["gpu_ms"]
        median = info["gpu_ms"] / 1e3 if "gpu_ms" in info else bench["stats"]["median"]
        rows.append(
            {
                "group": bench.get("group") or bench["name"],
                "impl": info.get("impl", bench["name"]),
                "median_ms": median * 1e3,
                "flops": info.get("flops"),
                "bytes": info.get("bytes"),
                "sgemm_reference": bool(info.get("sgemm_reference")),
                "threads": info.get("threads"),
            }
        )
    return rows


def sgemm_rate(rows: list[dict]) -> float | None:
    """The reference SGEMM's FLOP/s in this run (the fastest if several), None if absent."""
    rates = [
        r["flops"] / (r["median_ms"] / 1e3)
        for r in rows
        if r["sgemm_reference"] and r["flops"] and r["median_ms"] > 0
    ]
    return max(rates) if rates else None


def _grouped(rows: list[dict]) -> dict[str, list[dict]]:
    groups: dict[str, list[dict]] = defaultdict(list)
    for row in rows:
        groups[row["group"]].append(row)
    return groups


def _baseline(members: list[dict]) -> dict | None:
    return next((r for r in members if r["impl"] in BASELINES), None)


def cells(row: dict, base: dict | None, sgemm: float | None) -> dict[str, str]:
    """The formatted cells of one row: ms, throughput, ratio to the baseline, % of SGEMM
    ("" when the row has no FLOP count or the run no SGEMM reference)."""
    secs = row["median_ms"] / 1e3
    if row["flops"]:
        tput = f"{row['flops'] / secs / 1e9:.1f} GFLOP/s"
    elif row["bytes"]:
        tput = f"{row['bytes'] / secs / 1e9:.2f} GB/s"
    else:
        tput = ""
    ratio = f"{row['median_ms'] / base['median_ms']:.2f}x" if base else "n/a"
    pct = f"{100 * row['flops'] / secs / sgemm:.0f}%" if row["flops"] and sgemm else ""
    return {"ms": f"{row['median_ms']:.3f}", "tput": tput, "ratio": ratio, "pct": pct}


def render(rows: list[dict], sgemm: float | None = None) -> str:
    """One run's table. The "% of SGEMM" column appears only when `sgemm` (FLOP/s) is given."""
    head = "| benchmark | implementation | median (ms) | throughput | time vs baseline |"
    rule = "|---|---|---:|---:|---:|"
    if sgemm:
        head += " % of SGEMM |"
        rule += "---:|"
    lines = [head, rule]
    groups = _grouped(rows)
    for group in sorted(groups):
        members = groups[group]
        base = _baseline(members)
        for row in sorted(members, key=lambda r: r["impl"]):
            c = cells(row, base, sgemm)
            line = f"| {group} | {row['impl']} | {c['ms']} | {c['tput']} | {c['ratio']} |"
            lines.append(line + (f" {c['pct']} |" if sgemm else ""))
    return "\n".join(lines)


def run_threads(data: dict, rows: list[dict]) -> int | None:
    """The thread count of a run (conftest.py records it), None when not recorded."""
    threads = data.get("machine_info", {}).get("minigan", {}).get("threads")
    if threads is None:
        threads = next((r["threads"] for r in rows if r["threads"] is not None), None)
    return threads


def _threads_label(threads: int | None) -> str:
    if threads is None:
        return "threads ?"
    return f"{threads} thread" + ("" if threads == 1 else "s")


def render_side_by_side(runs: list[dict]) -> str:
    """Several runs in one table: per run, median, throughput, ratio to the baseline and %
    of that run's SGEMM (each run against its own baseline and SGEMM)."""
    head = ["benchmark", "implementation"]
    rule = ["---", "---"]
    for run in runs:
        label = run["label"]
        head += [f"{label}: ms", f"{label}: throughput", f"{label}: vs baseline"]
        rule += ["---:", "---:", "---:"]
        if run["sgemm"]:
            head.append(f"{label}: % of SGEMM")
            rule.append("---:")
    lines = ["| " + " | ".join(head) + " |", "|" + "|".join(rule) + "|"]
    keys = sorted({(r["group"], r["impl"]) for run in runs for r in run["rows"]})
    indexed = []
    for run in runs:
        groups = _grouped(run["rows"])
        by_key = {(r["group"], r["impl"]): r for r in run["rows"]}
        bases = {g: _baseline(m) for g, m in groups.items()}
        indexed.append((run, by_key, bases))
    for group, impl in keys:
        cols = [group, impl]
        for run, by_key, bases in indexed:
            row = by_key.get((group, impl))
            width = 4 if run["sgemm"] else 3
            if row is None:
                cols += [""] * width
                continue
            c = cells(row, bases.get(group), run["sgemm"])
            cols += [c["ms"], c["tput"], c["ratio"]] + ([c["pct"]] if run["sgemm"] else [])
        lines.append("| " + " | ".join(cols) + " |")
    return "\n".join(lines)


def load_run(path: str) -> dict:
    """A JSON file as {"label", "threads", "rows", "sgemm", "header"}."""
    with open(path, encoding="utf-8") as f:
        data = json.load(f)
    rows = rows_from(data)
    threads = run_threads(data, rows)
    return {
        "label": _threads_label(threads),
        "threads": threads,
        "rows": rows,
        "sgemm": sgemm_rate(rows),
        "header": header(data, rows),
    }


def header(data: dict, rows: list[dict]) -> str:
    """Machine, cores, thread count, kernel implementation, library versions, date."""
    machine = data.get("machine_info", {})
    cpu = machine.get("cpu", {})
    mg = machine.get("minigan", {})
    stamp = data.get("datetime", "")
    parts = [f"Machine: {cpu.get('brand_raw', '?')}, {cpu.get('count', '?')} cores"]
    threads = run_threads(data, rows)
    if threads is not None:
        parts.append(_threads_label(threads) + " (minigan and the baseline alike)")
    if mg.get("cpu_backend"):
        parts.append(f"minigan cpu kernels: {mg['cpu_backend']}")
    versions = [f"{name} {mg[name]}" for name in ("numpy", "numba", "torch") if mg.get(name)]
    if versions:
        parts.append(", ".join(versions))
    if mg.get("rounds_cap"):
        parts.append(f"rounds capped at {mg['rounds_cap']} (a quick run)")
    parts.append(f"date: {stamp[:10]} ({stamp})" if stamp else "date: ?")
    line = "; ".join(parts)
    load = mg.get("loadavg_start")
    if load:
        line += f"\nLoad average before the run: {load[0]:.2f} (1 min)"
        if load[0] > BUSY_LOAD:
            line += (
                " - a busy machine: other processes competed for the cores, so timings "
                "(multi-thread ones most) are not comparable; do not publish them"
            )
    sgemm = sgemm_rate(rows)
    if sgemm:
        line += f"\nSGEMM reference (NumPy float32 matmul, this run): {sgemm / 1e9:.1f} GFLOP/s"
    return line


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("json_files", nargs="+", help="output(s) of pytest --benchmark-json")
    args = parser.parse_args(argv)
    runs = [load_run(path) for path in args.json_files]
    for run in runs:
        print(run["header"] + "\n")
    if len(runs) == 1:
        print(render(runs[0]["rows"], runs[0]["sgemm"]))
    else:
        print(render_side_by_side(runs))
    return 0


if __name__ == "__main__":
    sys.exit(main())
