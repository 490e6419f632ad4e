# Training runs that survive anything: every new run of the GAN and VAE examples writes
# into its own directory OUT/run-NNN (never one that exists) with OUT/latest pointing at
# it, so nothing is ever overwritten; --resume (a run directory, its checkpoint, or OUT
# for the latest run) continues a run in its own directory with the options it was
# started with, takes only the options that may change (printed as overrides), refuses
# any other that differs (exit 2, naming the option and both values), and says so when
# the run has already finished.
from __future__ import annotations

import os
import re
from pathlib import Path

import pytest
from helpers import load_example

import minigan
from minigan.training import parse_args

EXAMPLES = Path(__file__).resolve().parents[1] / "examples"


gan = load_example("mnist_gan", reuse=True)
vae = load_example("mnist_vae", reuse=True)

# 4 batches of 64 per epoch, no per-epoch FID: each run takes about a second
SMALL = ["--device", "cpu", "--subset", "256", "--batch-size", "64", "--no-progress"]
SMALL_GAN = [*SMALL, "--arch", "mlp", "--eval-every", "0"]  # the unconditional MLP GAN


def _small(script) -> list[str]:
    return SMALL_GAN if script is gan else SMALL


BOTH = pytest.mark.parametrize("script", [gan, vae], ids=["gan", "vae"])


def _snapshot(run_dir: Path) -> dict[str, bytes]:
    return {p.name: p.read_bytes() for p in sorted(run_dir.iterdir())}


def _epochs_of(run_dir: Path) -> tuple[int, int]:
    ckpt = minigan.load(run_dir / "checkpoint.safetensors")
    return ckpt["epoch"], len(ckpt["metrics"])


@pytest.fixture
def gan_steps(monkeypatch):
    """Counts the GAN's training steps."""
    original = gan.GANTrainer.step
    steps = {"n": 0}

    def counting_step(self, *a, **k):
        steps["n"] += 1
        return original(self, *a, **k)

    monkeypatch.setattr(gan.GANTrainer, "step", counting_step)
    return steps


# ----- run directories ----------------------------------------------------------------


@BOTH
def test_each_run_gets_its_own_directory_and_latest_points_at_it(tmp_path, capsys, script):
    out = tmp_path / "runs"
    assert script.main([*_small(script), "--epochs", "1", "--out", str(out)]) == 0
    first = _snapshot(out / "run-001")
    assert "checkpoint.safetensors" in first and "samples_epoch001.png" in first
    assert os.readlink(out / "latest") == "run-001"
    # a second run with other options into the same --out: a new directory, nothing touched
    assert script.main([*_small(script), "--epochs", "1", "--seed", "1", "--out", str(out)]) == 0
    assert sorted(p.name for p in out.iterdir()) == ["latest", "run-001", "run-002"]
    assert os.readlink(out / "latest") == "run-002"
    assert (out / "latest").resolve() == (out / "run-002").resolve()
    assert _snapshot(out / "run-001") == first  # byte for byte
    second = (out / "run-002" / "checkpoint.safetensors").read_bytes()
    assert second != first["checkpoint.safetensors"]
    text = capsys.readouterr().out
    assert f"output in {out / 'run-001'}" in text and f"output in {out / 'run-002'}" in text


def test_a_run_number_is_never_reused(tmp_path):
    out = tmp_path / "runs"
    (out / "run-007").mkdir(parents=True)
    (out / "run-x").mkdir()
    assert vae.main([*SMALL, "--epochs", "1", "--out", str(out)]) == 0
    assert (out / "run-008" / "checkpoint.safetensors").exists()
    assert os.readlink(out / "latest") == "run-008"


def test_latest_is_a_text_file_without_symlinks(tmp_path, monkeypatch):
    def no_symlinks(*args, **kwargs):
        raise OSError("symbolic links are not available")

    monkeypatch.setattr(os, "symlink", no_symlinks)
    out = tmp_path / "runs"
    assert vae.main([*SMALL, "--epochs", "1", "--out", str(out)]) == 0
    assert vae.main([*SMALL, "--epochs", "1", "--out", str(out)]) == 0
    latest = out / "latest"
    assert not latest.is_symlink() and latest.read_text().strip() == "run-002"
    assert vae.main(["--resume", str(out), "--epochs", "2"]) == 0  # resumes run-002
    assert _epochs_of(out / "run-002") == (2, 2)
    assert _epochs_of(out / "run-001") == (1, 1)


@BOTH
def test_resume_parent_continues_the_latest_run(tmp_path, capsys, script):
    out = tmp_path / "runs"
    assert script.main([*_small(script), "--epochs", "1", "--out", str(out)]) == 0
    assert script.main([*_small(script), "--epochs", "1", "--seed", "1", "--out", str(out)]) == 0
    first = _snapshot(out / "run-001")
    capsys.readouterr()
    assert script.main(["--resume", str(out), "--epochs", "2"]) == 0
    text = capsys.readouterr().out
    assert f"resumed from {out / 'run-002' / 'checkpoint.safetensors'}" in text
    assert _epochs_of(out / "run-002") == (2, 2)
    assert (out / "run-002" / "samples_epoch002.png").exists()
    assert _snapshot(out / "run-001") == first
    assert sorted(p.name for p in out.iterdir()) == ["latest", "run-001", "run-002"]
    # the run directory itself, too
    assert script.main(["--resume", str(out / "run-001"), "--epochs", "2"]) == 0
    assert _epochs_of(out / "run-001") == (2, 2)


def test_a_single_run_directory_of_an_older_version_resumes_in_place(tmp_path):
    """Older versions wrote straight into --out: a directory holding checkpoint.safetensors
    is a run directory for --resume, and the run continues there."""
    out = tmp_path / "runs"
    assert vae.main([*SMALL, "--epochs", "1", "--out", str(out)]) == 0
    old = tmp_path / "old"
    (out / "run-001").rename(old)
    assert vae.main(["--resume", str(old), "--epochs", "2"]) == 0
    assert _epochs_of(old) == (2, 2)
    assert (old / "samples_epoch002.png").exists()
    assert not (old / "run-001").exists()


def test_sample_mode_takes_a_run_directory_or_its_parent(tmp_path):
    out = tmp_path / "runs"
    assert vae.main([*SMALL, "--epochs", "1", "--out", str(out)]) == 0
    assert vae.main(["--device", "cpu", "--sample", "5", "--resume", str(out)]) == 0
    assert (out / "run-001" / "samples.npy").exists()
    target = tmp_path / "s.npy"
    argv = ["--device", "cpu", "--sample", "3", "--resume", str(out / "run-001")]
    assert vae.main([*argv, "--sample-out", str(target), "--seed", "5"]) == 0
    assert target.exists()


def test_resume_of_a_directory_without_a_run_is_refused(tmp_path, capsys):
    (tmp_path / "empty").mkdir()
    with pytest.raises(SystemExit) as exc:
        vae.main(["--resume", str(tmp_path / "empty")])
    assert exc.value.code == 2
    assert "no checkpoint.safetensors" in capsys.readouterr().err


def test_resume_into_another_out_is_refused(tmp_path, capsys):
    out = tmp_path / "runs"
    assert vae.main([*SMALL, "--epochs", "1", "--out", str(out)]) == 0
    assert vae.main(["--resume", str(out), "--epochs", "2", "--out", str(out)]) == 0  # same
    with pytest.raises(SystemExit) as exc:
        vae.main(["--resume", str(out), "--epochs", "3", "--out", str(tmp_path / "other")])
    assert exc.value.code == 2
    assert "argument --out" in capsys.readouterr().err
    assert _epochs_of(out / "run-001") == (2, 2)


# ----- resume keeps the run's options -----------------------------------------------------


def test_given_options_are_told_apart_from_defaults():
    parser = gan.build_parser()
    args, given = parse_args(parser, ["--epochs", "40", "--no-g-batchnorm", "-q"])
    assert args.epochs == 40 and args.lr == 3e-4
    assert given == {"epochs", "g_batchnorm", "quiet"}  # 40 is the default, yet given
    assert parse_args(parser, [])[1] == set()
    assert parser.parse_args([]).epochs == 40  # the parser's defaults are left as they were


@BOTH
def test_resume_restores_the_runs_options(tmp_path, capsys, script):
    out = tmp_path / "runs"
    assert script.main([*_small(script), "--epochs", "1", "--out", str(out)]) == 0
    capsys.readouterr()
    # resumed without any option: the recorded epochs (1) are done, nothing is trained
    assert script.main(["--resume", str(out)]) == 0
    assert capsys.readouterr().out.splitlines()[-1] == (
        "run already finished: 1/1 epochs; pass a larger --epochs to continue"
    )
    # --epochs 2 (an override, printed); the subset (256 images: 4 batches of 64), batch
    # size, device etc. come from the run, not from the defaults (60000 images, 128)
    assert script.main(["--resume", str(out), "--epochs", "2"]) == 0
    text = capsys.readouterr().out
    assert "resuming with --epochs 2 (was 1)" in text
    assert re.search(r"\b4 batches (of 64 )?per epoch", text), text
    assert "epoch 2/2:" in text and "done: 2/2 epochs" in text
    ckpt = minigan.load(out / "run-001" / "checkpoint.safetensors")
    assert ckpt["epoch"] == 2 and len(ckpt["metrics"]) == 2
    assert ckpt["options"]["subset"] == 256 and ckpt["options"]["batch_size"] == 64
    assert ckpt["options"]["epochs"] == 2  # the override is recorded: the run now has 2
    assert script.main(["--resume", str(out)]) == 0
    assert "run already finished: 2/2 epochs" in capsys.readouterr().out


def test_resume_trains_on_the_recorded_subset(tmp_path, capsys, gan_steps):
    out = tmp_path / "runs"
    assert gan.main([*SMALL_GAN, "--epochs", "1", "--out", str(out)]) == 0
    assert gan_steps["n"] == 4
    assert gan.main(["--resume", str(out), "--epochs", "2", "--log-every", "2"]) == 0
    assert gan_steps["n"] == 8  # 256 images in batches of 64
    text = capsys.readouterr().out
    assert "resuming with --epochs 2 (was 1)" in text
    assert "resuming with --log-every 2 (was 100)" in text
    assert "epoch 2/2, step 2/4" in text


@pytest.mark.parametrize(
    "option, run_value, given",
    [
        ("--lr", "0.0003", "0.001"),
        ("--batch-size", "64", "32"),
        ("--subset", "256", "128"),
        ("--seed", "3", "0"),  # 0 is the default: still given, still refused
        ("--arch", "mlp", "cgan-mlp"),
        ("--width", "64", "8"),
        ("--latent-dim", "100", "10"),
        ("--g-batchnorm", "True", None),  # --no-g-batchnorm
    ],
)
def test_a_conflicting_option_is_refused(tmp_path, capsys, gan_steps, option, run_value, given):
    out = tmp_path / "runs"
    assert gan.main([*SMALL_GAN, "--seed", "3", "--epochs", "1", "--out", str(out)]) == 0
    before = _snapshot(out / "run-001")
    steps = gan_steps["n"]
    capsys.readouterr()
    argv = [f"--no-{option[2:]}"] if given is None else [option, given]
    with pytest.raises(SystemExit) as exc:
        gan.main(["--resume", str(out), "--epochs", "2", *argv])
    assert exc.value.code == 2
    err = capsys.readouterr().err
    line = err.strip().splitlines()[-1]
    assert f"argument {option}:" in line and "Traceback" not in err
    shown = "False" if given is None else given
    assert f"{option} {run_value}, got {shown}" in line, line
    assert gan_steps["n"] == steps and _snapshot(out / "run-001") == before


def test_vae_conflicting_option_is_refused(tmp_path, capsys):
    out = tmp_path / "runs"
    assert vae.main([*SMALL, "--epochs", "1", "--out", str(out)]) == 0
    capsys.readouterr()
    with pytest.raises(SystemExit) as exc:
        vae.main(["--resume", str(out), "--hidden", "100", "--epochs", "2"])
    assert exc.value.code == 2
    assert "argument --hidden: the run being resumed has --hidden 400, got 100" in (
        capsys.readouterr().err
    )
    assert _epochs_of(out / "run-001") == (1, 1)


def test_epochs_below_what_the_run_trained_is_refused(tmp_path, capsys):
    out = tmp_path / "runs"
    assert vae.main([*SMALL, "--epochs", "2", "--out", str(out)]) == 0
    with pytest.raises(SystemExit) as exc:
        vae.main(["--resume", str(out), "--epochs", "1"])
    assert exc.value.code == 2
    assert "argument --epochs: the run has already trained 2 epochs; got 1" in (
        capsys.readouterr().err
    )


@BOTH
def test_resuming_a_finished_run_says_so(tmp_path, capsys, gan_steps, script):
    out = tmp_path / "runs"
    assert script.main([*_small(script), "--epochs", "2", "--out", str(out)]) == 0
    steps = gan_steps["n"]
    before = _snapshot(out / "run-001")
    capsys.readouterr()
    # the same options as the run's (also --epochs 2) are no overrides; changeable ones are
    assert script.main([*_small(script), "--epochs", "2", "--resume", str(out)]) == 0
    text = capsys.readouterr().out
    assert "run already finished: 2/2 epochs; pass a larger --epochs to continue" in text
    assert "resuming with" not in text
    assert gan_steps["n"] == steps and _snapshot(out / "run-001") == before
    assert script.main(["--resume", str(out), "--quiet"]) == 0
    assert capsys.readouterr().out.strip() == (
        "run already finished: 2/2 epochs; pass a larger --epochs to continue"
    )
    assert _snapshot(out / "run-001") == before


def test_evaluate_takes_a_run_directory_or_its_parent(tmp_path, capsys):
    evaluate = load_example("evaluate", reuse=True)
    out = tmp_path / "runs"
    assert gan.main([*SMALL_GAN, "--epochs", "1", "--out", str(out)]) == 0
    for where, used in [(out, "run-001"), (out / "run-001", "run-001"), (out / "latest", "latest")]:
        assert evaluate.main(["--checkpoint", str(where), "--n", "32", "--device", "cpu"]) == 0
        assert f"from {out / used / 'checkpoint.safetensors'}" in capsys.readouterr().out
    assert evaluate.main(["--checkpoint", str(tmp_path), "--n", "32"]) == 2
    assert "no checkpoint.safetensors" in capsys.readouterr().err
