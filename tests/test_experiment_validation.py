# Training runs that fail early and clearly: every impossible option of the GAN and VAE
# examples is refused before any work (exit code 2, one line naming the option and the
# accepted range), an output directory that cannot be written is refused before the first
# step, a run whose loss or parameters stop being finite stops there (exit code 3) keeping
# the last good checkpoint, and the printed output fits where it goes (no progress bar
# when it is not a terminal, one line per epoch / per --log-every steps, --quiet).
from __future__ import annotations

import os
import re
from pathlib import Path

import numpy as np
import pytest
from helpers import load_example

import minigan
from minigan.training import DIVERGED_EXIT_CODE

EXAMPLES = Path(__file__).resolve().parents[1] / "examples"


gan = load_example("mnist_gan", reuse=True)
vae = load_example("mnist_vae", reuse=True)

# 4 batches per epoch, no per-epoch FID: each run below takes well under a second
SMALL = ["--device", "cpu", "--subset", "256", "--batch-size", "64", "--epochs", "1"]
SMALL_GAN = [*SMALL, "--arch", "mlp", "--eval-every", "0"]  # the unconditional MLP GAN


def _small(script) -> list[str]:
    return SMALL_GAN if script is gan else SMALL


def _rejected(script, argv, capsys) -> str:
    """Run `script` with argv; it must exit with code 2 and return the error text."""
    with pytest.raises(SystemExit) as exc:
        script.main(argv)
    assert exc.value.code == 2
    err = capsys.readouterr().err
    assert "Traceback" not in err
    return err


# (option, value, text the message must contain: the accepted range)
COMMON_BAD = [
    ("--lr", "nan", "finite number > 0"),
    ("--lr", "inf", "finite number > 0"),
    ("--lr", "-1e-3", "finite number > 0"),
    ("--epochs", "0", ">= 1"),
    ("--subset", "0", ">= 1"),
    ("--subset", "100000", "in 1..60000"),
    ("--batch-size", "100000", "in 1..60000"),
    ("--seed", "-1", "in 0.."),
    ("--latent-dim", "0", ">= 1"),
    ("--log-every", "-1", ">= 0"),
]
GAN_BAD = [
    ("--beta1", "1.0", "in [0, 1)"),
    ("--beta1", "-0.1", "in [0, 1)"),
    ("--d-dropout", "1.0", "in [0, 1)"),
    ("--label-smoothing", "-0.1", "in [0, 1)"),
    ("--label-smoothing", "nan", "in [0, 1)"),
    ("--ema", "nan", "in [0, 1)"),
    ("--n-critic", "0", ">= 1"),
    ("--eval-n", "1", ">= 2"),
    ("--eval-every", "-1", ">= 0"),
]
VAE_BAD = [("--hidden", "0", ">= 1")]

CASES = [pytest.param(gan, *c, id=f"gan{c[0]}={c[1]}") for c in COMMON_BAD + GAN_BAD] + [
    pytest.param(vae, *c, id=f"vae{c[0]}={c[1]}") for c in COMMON_BAD + VAE_BAD
]


@pytest.mark.parametrize("script, option, value, accepted", CASES)
def test_bad_option_is_refused_naming_it(tmp_path, capsys, script, option, value, accepted):
    argv = [*_small(script), "--out", str(tmp_path / "run")]
    if option in ("--subset", "--batch-size"):  # checked against the whole training set
        i = argv.index("--subset")
        del argv[i : i + 2]
    err = _rejected(script, [*argv, f"{option}={value}"], capsys)
    line = err.strip().splitlines()[-1]
    assert f"argument {option}:" in line and accepted in line, line
    assert f"got {value}" in line or f"got {float(value)}" in line, line
    assert not (tmp_path / "run" / "run-001").exists()  # no run directory either


def _unwritable_dir(tmp_path: Path) -> Path:
    """A directory --out cannot write to: read-only (0o500), or, as root (who may write
    anywhere), a path whose parent is a regular file."""
    if os.geteuid() == 0:
        parent = tmp_path / "a_file"
        parent.write_text("not a directory")
        return parent / "out"
    ro = tmp_path / "readonly"
    ro.mkdir()
    ro.chmod(0o500)
    return ro


@pytest.mark.parametrize("script", [gan, vae], ids=["gan", "vae"])
def test_unwritable_out_is_refused_before_training(tmp_path, capsys, monkeypatch, script):
    out = _unwritable_dir(tmp_path)
    steps = {"n": 0}
    original = gan.GANTrainer.step

    def counting_step(self, *a, **k):
        steps["n"] += 1
        return original(self, *a, **k)

    monkeypatch.setattr(gan.GANTrainer, "step", counting_step)
    monkeypatch.setattr(vae, "build", lambda *a: pytest.fail("built the model"))
    try:
        err = _rejected(script, [*_small(script), "--out", str(out)], capsys)
    finally:
        if out.exists():
            out.chmod(0o700)
    assert "--out" in err and str(out) in err
    assert steps["n"] == 0


def _all_finite(state) -> bool:
    if isinstance(state, dict):
        return all(_all_finite(v) for v in state.values())
    if isinstance(state, list | tuple):
        return all(_all_finite(v) for v in state)
    if isinstance(state, np.ndarray) and state.dtype.kind == "f":
        return bool(np.isfinite(state).all())
    return True


def _poison(module) -> None:
    """Make the module's first parameter NaN (what a too-large step does)."""
    p = next(iter(module.parameters()))
    p.data[...] = np.nan


@pytest.mark.parametrize("poison_at, step", [(6, 3), (8, None)], ids=["mid-epoch", "last-step"])
def test_gan_divergence_stops_and_keeps_last_good_checkpoint(
    tmp_path, capsys, monkeypatch, poison_at, step
):
    """G's weights turn NaN after step `poison_at` (4 steps per epoch): mid-epoch the next
    loss is NaN and the run stops at that step; at the epoch's last step the loss was still
    finite but the parameters are not, so that epoch's checkpoint must not be written."""
    out = tmp_path / "run"
    original = gan.GANTrainer.step
    calls = {"n": 0}

    def step_then_poison(self, real):
        stats = original(self, real)
        calls["n"] += 1
        if calls["n"] == poison_at:
            _poison(self.G)
        return stats

    monkeypatch.setattr(gan.GANTrainer, "step", step_then_poison)
    code = gan.main([*SMALL_GAN, "--epochs", "3", "--out", str(out)])
    assert code == DIVERGED_EXIT_CODE == 3
    err = capsys.readouterr().err
    if step is not None:
        assert f"epoch 2/3, step {step}/4" in err and "nan" in err and "loss" in err
    else:
        assert "epoch 2/3" in err and "not finite" in err
    run = out / "run-001"
    assert "diverged" in err and "--lr" in err and str(run / "checkpoint.safetensors") in err
    ckpt = minigan.load(run / "checkpoint.safetensors")
    assert (ckpt["epoch"], ckpt["batch"]) == (1, 0)  # the end of epoch 1: the last good one
    assert _all_finite(ckpt["state"])
    assert not (run / "samples_epoch002.png").exists()


def test_vae_divergence_stops_at_the_step(tmp_path, capsys, monkeypatch):
    """The loss of epoch 2's second step is NaN: the run stops before its update."""
    out = tmp_path / "run"
    original = vae.vae_loss
    calls = {"n": 0}

    def nan_loss(*args):
        loss = original(*args)
        if minigan.is_grad_enabled():  # training steps, not the test-set evaluation
            calls["n"] += 1
            if calls["n"] == 6:
                return loss * float("nan")
        return loss

    monkeypatch.setattr(vae, "vae_loss", nan_loss)
    assert vae.main([*SMALL, "--epochs", "3", "--out", str(out)]) == 3
    err = capsys.readouterr().err
    assert "loss = nan at epoch 2/3, step 2/4" in err
    ckpt = minigan.load(out / "run-001" / "checkpoint.safetensors")
    assert ckpt["epoch"] == 1 and _all_finite(ckpt["state"])


def test_huge_lr_diverges_without_writing_a_checkpoint(tmp_path, capsys):
    out = tmp_path / "run"
    with np.errstate(all="ignore"):
        code = vae.main([*SMALL, "--lr", "1e6", "--epochs", "2", "--out", str(out)])
    assert code == 3
    err = capsys.readouterr().err
    assert re.search(r"loss = (nan|inf) at epoch \d/2, step \d/4", err), err
    path = out / "run-001" / "checkpoint.safetensors"
    if path.exists():
        assert _all_finite(minigan.load(path)["state"])


@pytest.mark.parametrize("script", [gan, vae], ids=["gan", "vae"])
def test_output_that_is_not_a_terminal_has_no_bar(tmp_path, capsys, script):
    """capsys' streams are not terminals: no tqdm bar (no carriage returns, no block
    characters), one line per epoch, one per --log-every steps."""
    argv = [*_small(script), "--epochs", "2", "--log-every", "2", "--out", str(tmp_path / "r")]
    assert script.main(argv) == 0
    captured = capsys.readouterr()
    text = captured.out + captured.err
    assert "\r" not in text and "█" not in text and "it/s" not in text
    lines = captured.out.splitlines()
    assert [ln.split(":")[0] for ln in lines if re.match(r"epoch \d/2:", ln)] == [
        "epoch 1/2",
        "epoch 2/2",
    ]
    assert [ln.split(":")[0] for ln in lines if re.match(r"epoch \d/2, step", ln)] == [
        "epoch 1/2, step 2/4",
        "epoch 2/2, step 2/4",
    ]
    assert lines[-1].startswith("done: 2/2 epochs")


@pytest.mark.parametrize("script", [gan, vae], ids=["gan", "vae"])
def test_quiet_prints_only_the_summary(tmp_path, capsys, script):
    out = tmp_path / "r"
    assert script.main([*_small(script), "--quiet", "--out", str(out)]) == 0
    assert script.main([*_small(script), "-q", "--out", str(out)]) == 0  # a second run dir
    assert script.main(["-q", "--resume", str(out)]) == 0  # finished: says so, even quiet
    captured = capsys.readouterr()
    assert captured.err == ""
    lines = captured.out.splitlines()
    assert len(lines) == 3 and all(ln.startswith("done: 1/1 epochs") for ln in lines[:2]), lines
    assert str(out / "run-001" / "checkpoint.safetensors") in lines[0]
    assert str(out / "run-002" / "checkpoint.safetensors") in lines[1]
    assert lines[2].startswith("run already finished: 1/1 epochs")


def test_messages_name_no_development_paths(capsys):
    """--help must not send a user of an installed package to the checkout's files."""
    for script in (gan, vae):
        with pytest.raises(SystemExit):
            script.main(["--help"])
        text = capsys.readouterr().out
        assert "the repo's data/mnist" not in text and "make " not in text
