# tests/test_gpu_check.py: `make gpu-check` (tools/gpu_check.py) plans the right steps for a
# GPU and for emulated mode, skips GPU-only steps with a reason, writes one results file,
# and fails when a step fails. The real end-to-end run (minutes) is `make gpu-check`.
"""Tests of tools/gpu_check.py without a GPU."""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture(scope="module")
def gpu_check():
    spec = importlib.util.spec_from_file_location("gpu_check", ROOT / "tools" / "gpu_check.py")
    module = importlib.util.module_from_spec(spec)
    sys.modules["gpu_check"] = module  # dataclasses look their module up while defining
    spec.loader.exec_module(module)
    yield module
    del sys.modules["gpu_check"]


def test_gpu_mode_plans_build_suite_sanitizers_benchmarks_and_every_gan(gpu_check, tmp_path):
    names = [s.name for s in gpu_check.steps_for("gpu", tmp_path)]
    assert names[0] == "build minigan._C (nvcc)"
    assert not any("_C_emu" in n for n in names), "GPU time is not spent on the emulator"
    for tool in ("memcheck", "racecheck", "synccheck"):
        assert f"compute-sanitizer {tool}" in names
    assert any("benchmarks" in n for n in names)
    for arch in gpu_check.GAN_ARCHS:
        assert any(n.startswith(f"train {arch} GAN") and "(cuda)" in n for n in names), arch
    suite = next(s for s in gpu_check.steps_for("gpu", tmp_path) if s.name.startswith("test"))
    assert "not emu" in suite.command


def test_emulated_mode_skips_gpu_only_steps_with_a_reason(gpu_check, tmp_path):
    steps = gpu_check.steps_for("emulated", tmp_path)
    gpu_only = [s for s in steps if s.gpu_only]
    assert len(gpu_only) == 5  # nvcc build, 3 sanitizers, benchmarks
    for step in gpu_only:
        outcome = gpu_check.run_step(step, "emulated", tmp_path, deadline=float("inf"))
        assert outcome.status == "skipped" and outcome.summary.startswith("no GPU"), step.name
    assert any("_C_emu" in s.name for s in steps)


def test_results_file_and_exit_code(gpu_check, tmp_path, monkeypatch):
    ok = gpu_check.Step("a step that passes", [sys.executable, "-c", "print('fine')"], 60)
    bad = gpu_check.Step("a step that fails", [sys.executable, "-c", "raise SystemExit(3)"], 60)
    gpu = gpu_check.Step("gpu only", ["false"], 60, gpu_only=True, why_skipped="no GPU: test")
    monkeypatch.setattr(gpu_check, "steps_for", lambda mode, out: [ok, gpu])
    assert gpu_check.main(["--mode", "emulated", "--out", str(tmp_path)]) == 0
    text = (tmp_path / "results.md").read_text()
    assert "mode: **emulated**" in text and "nothing here is a GPU result" in text
    assert "| a step that passes | passed |" in text and "| gpu only | skipped |" in text
    monkeypatch.setattr(gpu_check, "steps_for", lambda mode, out: [ok, bad])
    assert gpu_check.main(["--mode", "emulated", "--out", str(tmp_path)]) == 1
    assert "| a step that fails | FAILED |" in (tmp_path / "results.md").read_text()


def test_gan_scores_reads_the_last_epoch(gpu_check, tmp_path):
    (tmp_path / "metrics.json").write_text(
        '[{"epoch": 1, "eval_fid": 300.5, "eval_score": 6.25}, '
        '{"epoch": 2, "eval_fid": 200.25, "eval_score": 7.5}]'
    )
    assert gpu_check.gan_scores(tmp_path) == "eval_fid 200.2, eval_score 7.5"
    assert gpu_check.gan_scores(tmp_path / "missing") == ""
    # an --out folder with run directories: the latest run's metrics
    (tmp_path / "out" / "run-002").mkdir(parents=True)
    (tmp_path / "out" / "run-001").mkdir()
    (tmp_path / "out" / "run-002" / "metrics.json").write_text('[{"eval_fid": 12.5}]')
    (tmp_path / "out" / "run-001" / "metrics.json").write_text('[{"eval_fid": 99.5}]')
    assert gpu_check.gan_scores(tmp_path / "out") == "eval_fid 12.5"


def test_spent_budget_and_missing_sanitizer_fail_the_check(gpu_check, tmp_path, monkeypatch):
    late = gpu_check.Step("a late step", [sys.executable, "-c", "pass"], 60)
    outcome = gpu_check.run_step(late, "gpu", tmp_path, deadline=0.0)
    assert outcome.status == "not run"
    sanitizer = next(s for s in gpu_check.steps_for("gpu", tmp_path) if "memcheck" in s.name)
    monkeypatch.setattr(gpu_check.shutil, "which", lambda name: None)
    outcome = gpu_check.run_step(sanitizer, "gpu", tmp_path, deadline=float("inf"))
    assert outcome.status == "FAILED" and "compute-sanitizer" in outcome.summary
    monkeypatch.setattr(gpu_check, "steps_for", lambda mode, out: [late])
    monkeypatch.setattr(gpu_check.time, "monotonic", lambda: 1e9)
    assert gpu_check.main(["--mode", "gpu", "--out", str(tmp_path), "--budget", "0"]) == 1
