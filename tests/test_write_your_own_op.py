# Tests of examples/write_your_own_op.py: main() runs and exits 0, the correct Swish op
# passes gradcheck, the deliberately wrong backward is caught and reported, --help works.
from __future__ import annotations

import importlib.util
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

import minigan

SCRIPT = Path(__file__).resolve().parents[1] / "examples" / "write_your_own_op.py"


def _load():
    spec = importlib.util.spec_from_file_location("write_your_own_op", SCRIPT)
    module = importlib.util.module_from_spec(spec)
    sys.modules["write_your_own_op"] = module
    spec.loader.exec_module(module)
    return module


example = _load()


def test_main_runs_and_reports_the_bug(capsys: pytest.CaptureFixture[str]) -> None:
    assert example.main(["--steps", "40"]) == 0
    out = capsys.readouterr().out
    assert "gradcheck(swish):                      True" in out
    assert "gradcheck FAILED" in out and "MISMATCH" in out  # the printed report
    assert "caught GradcheckError" in out
    assert "analytic=" in out and "numeric=" in out  # both values of the worst element
    assert "'Swish': 2" in out  # the op is used by the model


def test_swish_matches_formula_and_gradcheck() -> None:
    rng = np.random.default_rng(1)
    v = rng.standard_normal((4, 5)) * 4
    x = minigan.tensor(v, dtype="float64", requires_grad=True)
    y = example.swish(x)
    assert y.grad_fn == "Swish"
    np.testing.assert_allclose(y.numpy(), v / (1 + np.exp(-v)), rtol=1e-12, atol=1e-12)
    y.sum().backward()
    s = 1 / (1 + np.exp(-v))
    np.testing.assert_allclose(x.grad.numpy(), s * (1 + v * (1 - s)), rtol=1e-12, atol=1e-12)
    assert minigan.gradcheck(example.swish, [x])
    # float32 works too (the training path) and keeps its dtype
    x32 = minigan.tensor(v.astype(np.float32), requires_grad=True)
    example.swish(x32).sum().backward()
    assert example.swish(x32).dtype == np.float32 and x32.grad.dtype == np.float32


def test_the_wrong_backward_is_caught() -> None:
    x = minigan.tensor(np.linspace(-3, 3, 7) + 0.1, dtype="float64", requires_grad=True)
    with pytest.raises(minigan.GradcheckError) as info:
        minigan.gradcheck(example.swish_wrong, [x])
    worst = info.value.result.inputs[0]
    assert not worst.ok and worst.n_bad > 0
    assert "MISMATCH" in str(info.value)


def test_help_exits_0() -> None:
    proc = subprocess.run(
        [sys.executable, str(SCRIPT), "--help"], capture_output=True, text=True, timeout=60
    )
    assert proc.returncode == 0
    assert "Swish" in proc.stdout and "--steps" in proc.stdout
