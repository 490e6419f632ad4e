#!/usr/bin/env python3
# Render a pytest-benchmark JSON file as a markdown table: median time per benchmark,
# throughput (GFLOP/s or GB/s from extra_info) and the ratio to the baseline of its group
# (torch, or cupy/cuBLAS on the GPU), measured in the same run.
"""Usage: python benchmarks/report.py results.json [--baseline torch]"""

from __future__ import annotations

import argparse
import json
import sys
from collections import defaultdict

BASELINES = ("torch", "cupy_matmul", "cublas")


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
            }
        )
    return rows


def render(rows: list[dict]) -> str:
    groups: dict[str, list[dict]] = defaultdict(list)
    for row in rows:
        groups[row["group"]].append(row)
    lines = [
        "| benchmark | implementation | median (ms) | throughput | time vs baseline |",
        "|---|---|---:|---:|---:|",
    ]
    for group in sorted(groups):
        members = groups[group]
        base = next((r for r in members if r["impl"] in BASELINES), None)
        for row in sorted(members, key=lambda r: r["impl"]):
            secs = row["median_ms"] / 1e3
            if row["flops"]:
                tput = f"{row['flops'] / secs / 1e9:.1f} GFLOP/s"
            elif row["bytes"]:
                tput = f"{row['bytes'] / secs / 1e9:.2f} GB/s"
            else:
                tput = ""
            ratio = f"{row['median_ms'] / base['median_ms']:.2f}x" if base else "n/a"
            lines.append(f"| {group} | {row['impl']} | {row['median_ms']:.3f} | {tput} | {ratio} |")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("json_file", help="output of pytest --benchmark-json")
    args = parser.parse_args(argv)
    with open(args.json_file, encoding="utf-8") as f:
        data = json.load(f)
    machine = data.get("machine_info", {})
    print(
        f"Machine: {machine.get('cpu', {}).get('brand_raw', '?')}, "
        f"{machine.get('cpu', {}).get('count', '?')} cores; {data.get('datetime', '')}\n"
    )
    print(render(rows_from(data)))
    return 0


if __name__ == "__main__":
    sys.exit(main())
