#!/usr/bin/env python3
# tools/gpu_check.py: the one command for the day a GPU is available (`make gpu-check`).
# Builds minigan._C, runs the whole test suite on the GPU, compute-sanitizer (memcheck,
# racecheck, synccheck) over the CUDA kernel tests, the GPU benchmarks against
# cuBLAS/cuDNN/PyTorch, and a short training run of each GAN with its score, and writes
# everything to one results file (build/gpu-check/results.md, logs beside it).
#
# Without a GPU it runs in emulated mode: the same steps, with the emulated build
# (minigan._C_emu) instead of minigan._C, the kernel suite on the CPU emulator, and CPU
# stand-ins for the training runs; every step that needs a GPU is skipped with a line
# saying so. That mode is what CI and the development machines can run, so that the script
# works the first time it meets a GPU.
"""Build, test, sanitize, benchmark and train on the GPU; write one results file.

python tools/gpu_check.py                # auto: gpu mode when nvidia-smi sees a GPU
python tools/gpu_check.py --mode emulated
python tools/gpu_check.py --out build/gpu-check --budget 480
"""

from __future__ import annotations

import argparse
import datetime
import json
import os
import shutil
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
GAN_ARCHS = ("mlp", "dcgan", "cgan-mlp", "cgan-dcgan")


@dataclass
class Step:
    name: str
    command: list[str]
    timeout: int  # seconds
    gpu_only: bool = False
    why_skipped: str = ""  # shown when the step is skipped without a GPU
    env: dict[str, str] = field(default_factory=dict)


@dataclass
class Outcome:
    step: Step
    status: str  # "passed", "FAILED", "timed out", "skipped" (needs a GPU), "not run" (budget)
    seconds: float = 0.0
    summary: str = ""


def gpu_present() -> bool:
    """Whether nvidia-smi lists at least one GPU."""
    smi = shutil.which("nvidia-smi")
    if smi is None:
        return False
    proc = subprocess.run([smi, "-L"], capture_output=True, text=True)
    return proc.returncode == 0 and "GPU" in proc.stdout


def steps_for(mode: str, out: Path) -> list[Step]:
    """Every step of the check, in order. `mode` is "gpu" or "emulated"."""
    py = sys.executable
    gpu = mode == "gpu"
    sanitize = "tests/test_cuda_kernels.py"
    steps = [
        Step(
            "build minigan._C (nvcc)",
            [py, "-m", "pip", "install", "--no-build-isolation", "--no-deps", "-e", "."],
            300,
            gpu_only=True,
            why_skipped="no GPU: the emulated build below stands in for it",
            env={"MINIGAN_BUILD_CUDA": "1"},
        ),
        Step(
            "build minigan._C_emu (CPU emulator)",
            [py, "csrc/emu/build.py"],
            300,
            gpu_only=False,
        ),
        Step(
            "backend_info",
            [py, "-c", "import json, minigan; print(json.dumps(minigan.backend_info(), indent=1))"],
            60,
        ),
        Step(
            "test suite" + (" (GPU)" if gpu else " (CPU, CUDA kernels on the emulator)"),
            # On the GPU the real kernels replace the emulated ones: GPU time is too scarce to
            # spend on the emulated suite, which CI runs on every commit.
            [
                py,
                "-m",
                "pytest",
                "-q",
                "-p",
                "no:cacheprovider",
                *(["-m", "not emu"] if gpu else []),
                "tests",
            ],
            420 if gpu else 1800,
        ),
    ]
    if gpu:
        steps = [s for s in steps if "_C_emu" not in s.name]
    for tool in ("memcheck", "racecheck", "synccheck"):
        steps.append(
            Step(
                f"compute-sanitizer {tool}",
                [
                    "compute-sanitizer",
                    "--tool",
                    tool,
                    "--error-exitcode",
                    "1",
                    py,
                    "-m",
                    "pytest",
                    "-q",
                    "-x",
                    "-m",
                    "cuda",
                    "-k",
                    "not hypothesis",
                    sanitize,
                ],
                150,
                gpu_only=True,
                why_skipped="no GPU: the emulator's checks ran instead (bounds, alignment, "
                "shared-memory races, barriers; tests marked emu)",
            )
        )
    steps.append(
        Step(
            "GPU benchmarks vs cuBLAS/cuDNN/PyTorch",
            [
                py,
                "-m",
                "pytest",
                "-q",
                "benchmarks/bench_kernels_gpu.py",
                "--benchmark-only",
                f"--benchmark-json={out / 'bench-gpu.json'}",
            ],
            240,
            gpu_only=True,
            why_skipped="no GPU: nothing to time (the emulator says nothing about speed)",
        )
    )
    device = "cuda" if gpu else "cpu"
    for arch in GAN_ARCHS:
        run_dir = out / "runs" / arch
        size = (
            ["--subset", "10000", "--eval-n", "2000"]
            if gpu
            else ["--subset", "128", "--eval-n", "100"]
        )
        batch = ["--batch-size", "128"] if gpu else ["--batch-size", "64"]
        steps.append(
            Step(
                f"train {arch} GAN, 1 epoch ({device}{'' if gpu else ', CPU stand-in'})",
                [
                    py,
                    "examples/mnist_gan.py",
                    "--device",
                    device,
                    "--arch",
                    arch,
                    "--epochs",
                    "1",
                    *size,
                    *batch,
                    "--eval-every",
                    "1",
                    "--seed",
                    "0",
                    "--out",
                    str(run_dir),
                ],
                120 if gpu else 300,
            )
        )
    return steps


def tail(text: str, lines: int = 3) -> str:
    kept = [line for line in text.strip().splitlines() if line.strip()][-lines:]
    return " / ".join(kept)[:400]


def gan_scores(run_dir: Path) -> str:
    """The last epoch's FID and classifier score from a run's metrics.json ("" if none).
    `run_dir` is the run itself or the --out folder holding run-NNN folders (the latest)."""
    path = run_dir / "metrics.json"
    if not path.is_file():
        runs = sorted(run_dir.glob("run-*/metrics.json")) if run_dir.is_dir() else []
        if not runs:
            return ""
        path = runs[-1]
    rows = json.loads(path.read_text())
    if isinstance(rows, dict):
        rows = rows.get("epochs", rows.get("rows", []))
    if not rows:
        return ""
    last = rows[-1]
    keys = [k for k in last if any(w in k for w in ("fid", "score", "accuracy", "seconds"))]
    return ", ".join(
        f"{k} {last[k]:.4g}" if isinstance(last[k], float) else f"{k} {last[k]}" for k in keys
    )


def run_step(step: Step, mode: str, out: Path, deadline: float) -> Outcome:
    if step.gpu_only and mode != "gpu":
        return Outcome(step, "skipped", 0.0, step.why_skipped)
    if step.command[0] == "compute-sanitizer" and shutil.which("compute-sanitizer") is None:
        # On a GPU machine a missing sanitizer is a failure of the check, not a skip.
        return Outcome(step, "FAILED", 0.0, "compute-sanitizer is not on PATH")
    remaining = deadline - time.monotonic()
    if remaining < 10:
        return Outcome(step, "not run", 0.0, "the time budget was spent before this step")
    log = out / ("log-" + "".join(c if c.isalnum() else "-" for c in step.name)[:60] + ".txt")
    env = {**os.environ, "PYTHONUNBUFFERED": "1", **step.env}
    t0 = time.monotonic()
    print(f"gpu-check: {step.name} ...", flush=True)
    try:
        proc = subprocess.run(
            step.command,
            cwd=ROOT,
            env=env,
            capture_output=True,
            text=True,
            timeout=min(step.timeout, remaining),
        )
    except subprocess.TimeoutExpired as exc:
        text = (exc.stdout or b"").decode() if isinstance(exc.stdout, bytes) else exc.stdout or ""
        log.write_text(text)
        return Outcome(step, "timed out", time.monotonic() - t0, f"after {step.timeout} s; {log}")
    seconds = time.monotonic() - t0
    log.write_text(f"$ {' '.join(step.command)}\n{proc.stdout}\n{proc.stderr}")
    summary = tail(proc.stdout + "\n" + proc.stderr)
    if step.name.startswith("train "):
        run_dir = Path(step.command[step.command.index("--out") + 1])
        summary = gan_scores(run_dir) or summary
    return Outcome(step, "passed" if proc.returncode == 0 else "FAILED", seconds, summary)


def environment(mode: str) -> list[str]:
    def first_line(cmd: list[str]) -> str:
        if shutil.which(cmd[0]) is None:
            return f"{cmd[0]}: not found"
        proc = subprocess.run(cmd, capture_output=True, text=True)
        return tail(proc.stdout + proc.stderr, 2)

    return [
        f"- date: {datetime.datetime.now().astimezone().isoformat(timespec='seconds')}",
        f"- mode: **{mode}**"
        + (
            ""
            if mode == "gpu"
            else " (no GPU: GPU-only steps skipped; nothing here is a GPU result)"
        ),
        f"- GPU: {first_line(['nvidia-smi', '-L'])}",
        f"- nvcc: {first_line(['nvcc', '--version'])}",
        f"- python: {sys.version.split()[0]}",
    ]


def write_results(path: Path, mode: str, outcomes: list[Outcome], total: float) -> None:
    lines = ["# make gpu-check results", "", *environment(mode), f"- total: {total:.0f} s", ""]
    lines += ["| step | status | seconds | summary |", "|---|---|---:|---|"]
    for o in outcomes:
        summary = o.summary.replace("|", "\\|")
        lines.append(f"| {o.step.name} | {o.status} | {o.seconds:.1f} | {summary} |")
    path.write_text("\n".join(lines) + "\n")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument(
        "--mode",
        choices=("auto", "gpu", "emulated"),
        default="auto",
        help="gpu, emulated, or auto: gpu when nvidia-smi lists a GPU",
    )
    parser.add_argument(
        "--out",
        type=Path,
        default=ROOT / "build" / "gpu-check",
        help="folder for results.md and the logs (default: build/gpu-check)",
    )
    parser.add_argument(
        "--budget",
        type=float,
        default=480.0,
        help="seconds for the whole check; later steps are skipped once it is spent (default: 480)",
    )
    args = parser.parse_args(argv)
    mode = args.mode if args.mode != "auto" else ("gpu" if gpu_present() else "emulated")
    if mode == "emulated" and args.budget == 480.0:
        args.budget = 3600.0  # the CPU emulator is slow; the 8-minute budget is for the GPU
    args.out.mkdir(parents=True, exist_ok=True)
    start = time.monotonic()
    deadline = start + args.budget
    outcomes = [run_step(s, mode, args.out, deadline) for s in steps_for(mode, args.out)]
    results = args.out / "results.md"
    write_results(results, mode, outcomes, time.monotonic() - start)
    print(results.read_text())
    print(f"gpu-check: results in {results}")
    failed = [o for o in outcomes if o.status in ("FAILED", "timed out", "not run")]
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
