# Exact resume from any interruption point: SIGINT / SIGTERM are deferred to the next step
# boundary (every update of one batch, D and G together) or to the end of the current phase
# of the epoch end (sampling, evaluation, writing); the run then saves a checkpoint, prints a
# `resume with:` line and exits 130 / 143, and the resumed run ends bit for bit where an
# uninterrupted run of the same length ends (parameters, optimizer state, RNG, metrics,
# sample images). The signal is sent from inside the process at a chosen point (a hook that
# calls os.kill on its N-th call). A signal during the last checkpoint write stops nothing:
# the run ends as a finished one. A SIGKILL in the middle of a checkpoint write leaves the
# previous checkpoint intact, and the next start in that directory removes the temp file;
# one while OUT/latest is replaced leaves a temp link, which the next start removes.
from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest
from helpers import load_example

import minigan.models.gan
import minigan.training.metrics_log
import minigan.training.run
from minigan.utils import load_checkpoint
from minigan.utils.checkpoint import TEMP_PREFIX

ROOT = Path(__file__).resolve().parents[1]
EXAMPLES = ROOT / "examples"


gan = load_example("mnist_gan")
vae = load_example("mnist_vae")

# 2 batches per epoch, 2 epochs; a narrow DCGAN and a cheap evaluation every epoch
BASE = ["--device", "cpu", "--subset", "64", "--batch-size", "32", "--no-progress", "--epochs", "2"]
GAN_ARGS = [*BASE, "--width", "8", "--eval-every", "1", "--eval-n", "16"]
WALL_TIME = ("seconds", "resumed_at_batch")


def _args(script, arch: str) -> list[str]:
    return [*(GAN_ARGS if script is gan else BASE), "--arch", arch]


@pytest.fixture(scope="module")
def straight(tmp_path_factory):
    """The uninterrupted 2-epoch run of each (script, arch), made once: its run directory."""
    runs: dict = {}

    def get(script, arch: str) -> Path:
        key = (script.__name__, arch)
        if key not in runs:
            out = tmp_path_factory.mktemp(f"straight-{script.__name__}-{arch}")
            assert script.main(_args(script, arch) + ["--out", str(out)]) == 0
            runs[key] = out / "run-001"
        return runs[key]

    return get


def _flat(state, prefix=""):
    if isinstance(state, dict):
        out = {}
        for k, v in state.items():
            out.update(_flat(v, f"{prefix}{k}."))
        return out
    if isinstance(state, list | tuple):
        out = {}
        for i, v in enumerate(state):
            out.update(_flat(v, f"{prefix}{i}."))
        return out
    return {prefix: state}


def _rows(rows):
    return [{k: v for k, v in r.items() if k not in WALL_TIME} for r in rows]


def assert_same_run(a: Path, b: Path) -> None:
    """Final checkpoints (every parameter, buffer, optimizer and EMA array, the RNG, the
    position), metrics rows (but wall time) and sample images of two run directories agree
    bit for bit."""
    ca, cb = (
        load_checkpoint(a / "checkpoint.safetensors"),
        load_checkpoint(b / "checkpoint.safetensors"),
    )
    fa, fb = _flat(ca["state"]), _flat(cb["state"])
    assert fa.keys() == fb.keys()
    for key in fa:
        if isinstance(fa[key], np.ndarray):
            assert fa[key].dtype == fb[key].dtype, key
            np.testing.assert_array_equal(fa[key], fb[key], err_msg=key)
        else:
            assert fa[key] == fb[key], key
    assert ca["rng"] == cb["rng"]
    assert (ca["epoch"], ca["batch"], ca["partial"]) == (cb["epoch"], cb["batch"], cb["partial"])
    assert _rows(ca["metrics"]) == _rows(cb["metrics"])
    assert _rows(json.loads((a / "metrics.json").read_text())) == _rows(ca["metrics"])
    assert _rows(json.loads((b / "metrics.json").read_text())) == _rows(cb["metrics"])
    pngs = sorted(p.name for p in a.glob("*_epoch*.png"))
    assert pngs and pngs == sorted(p.name for p in b.glob("*_epoch*.png"))
    for name in pngs:
        assert (a / name).read_bytes() == (b / name).read_bytes(), name


def interrupt_at(monkeypatch, owner, name: str, nth: int, sig=signal.SIGINT, after=False):
    """Make owner.name send `sig` to this process on its nth call (before the call, or
    after it with `after`); returns the call counter."""
    original = getattr(owner, name)
    calls = {"n": 0}

    def hooked(*args, **kwargs):
        calls["n"] += 1
        if calls["n"] == nth and not after:
            os.kill(os.getpid(), sig)
        result = original(*args, **kwargs)
        if calls["n"] == nth and after:
            os.kill(os.getpid(), sig)
        return result

    monkeypatch.setattr(owner, name, hooked)
    return calls


# point -> (owner, attribute, nth call, where the checkpoint must be: (epoch, batch))
GAN_POINTS = {
    # during epoch 1's first step: saved after that step (D and G)
    "mid-epoch": (gan.GANTrainer, "step", 1, (0, 1)),
    # between D's and G's update of epoch 2's first batch: the whole step is done first
    "between-D-and-G": (minigan.models.gan, "frozen", 3, (1, 1)),
    # during epoch 1's end: the step boundary before it is saved, the epoch end re-runs
    "sampling": (gan, "save_image_grid", 1, (0, 2)),
    "evaluation": (gan, "score_generator", 1, (0, 2)),
    "metrics-writing": (minigan.training.metrics_log, "atomic_write", 1, (0, 2)),
    # during epoch 1's checkpoint write: that checkpoint (end of epoch 1) is complete
    "checkpoint-writing": (minigan.training.run, "save_checkpoint", 1, (1, 0)),
}
GAN_ARCHS = ("mlp", "dcgan", "cgan-mlp", "cgan-dcgan")
FAST = {("mlp", p) for p in GAN_POINTS} | {
    ("cgan-dcgan", "between-D-and-G"),
    ("dcgan", "sampling"),
    ("cgan-mlp", "evaluation"),
}


def _cases():
    for arch in GAN_ARCHS:
        for point in GAN_POINTS:
            marks = () if (arch, point) in FAST else (pytest.mark.slow,)
            yield pytest.param(arch, point, id=f"{arch}-{point}", marks=marks)


def _interrupt_and_resume(
    tmp_path, monkeypatch, capsys, script, arch, point, sig, straight, points
) -> None:
    owner, name, nth, where = points[point]
    out = tmp_path / "split"
    interrupt_at(monkeypatch, owner, name, nth, sig)
    previous = signal.getsignal(signal.SIGINT), signal.getsignal(signal.SIGTERM)
    capsys.readouterr()
    code = script.main(_args(script, arch) + ["--out", str(out)])
    printed = capsys.readouterr().out
    assert code == 128 + sig
    # the handlers are the ones from before the run again
    assert (signal.getsignal(signal.SIGINT), signal.getsignal(signal.SIGTERM)) == previous
    run_dir = out / "run-001"
    lines = printed.splitlines()
    assert f"resume with: python {sys.argv[0]} --resume {run_dir}" in lines, printed
    assert f"interrupted ({signal.Signals(sig).name})" in printed
    ckpt = load_checkpoint(run_dir / "checkpoint.safetensors")
    assert (ckpt["epoch"], ckpt["batch"]) == where
    monkeypatch.undo()
    assert script.main(["--resume", str(run_dir), "--quiet"]) == 0
    assert not list(run_dir.glob(f"{TEMP_PREFIX}*"))
    assert_same_run(straight(script, arch), run_dir)


@pytest.mark.parametrize("arch, point", list(_cases()))
def test_gan_resumes_exactly_after_an_interrupt(
    tmp_path, monkeypatch, capsys, straight, arch, point
):
    sig = signal.SIGTERM if point == "checkpoint-writing" else signal.SIGINT
    _interrupt_and_resume(
        tmp_path, monkeypatch, capsys, gan, arch, point, sig, straight, GAN_POINTS
    )


VAE_POINTS = {
    # inside the first step, between the forward pass and the update
    "mid-epoch": (vae, "vae_loss", 1, (0, 1)),
    "evaluation": (vae, "evaluate", 1, (0, 2)),
    # between two of the epoch's image files
    "image-writing": (vae, "save_image_grid", 2, (0, 2)),
}


@pytest.mark.parametrize("arch", ["mlp", "conv"])
@pytest.mark.parametrize("point", list(VAE_POINTS))
def test_vae_resumes_exactly_after_an_interrupt(
    tmp_path, monkeypatch, capsys, straight, arch, point
):
    sig = signal.SIGTERM if point == "evaluation" and arch == "mlp" else signal.SIGINT
    _interrupt_and_resume(
        tmp_path, monkeypatch, capsys, vae, arch, point, sig, straight, VAE_POINTS
    )


# ----- a signal once nothing is left to stop -----------------------------------------------


@pytest.mark.parametrize("sig", [signal.SIGINT, signal.SIGTERM], ids=["SIGINT", "SIGTERM"])
def test_a_signal_during_the_last_checkpoint_write_ends_as_a_finished_run(
    tmp_path, monkeypatch, capsys, straight, sig
):
    """The write finishes (a signal only sets a flag), the run is then complete: it ends
    like an uninterrupted one (exit code 0, the `done:` line), says the signal came too
    late to stop anything, and resuming it says it has finished."""
    out = tmp_path / "split"
    # the second checkpoint write of a 2-epoch run: the end of epoch 2, the last one
    interrupt_at(monkeypatch, minigan.training.run, "save_checkpoint", 2, sig)
    capsys.readouterr()
    assert gan.main(_args(gan, "mlp") + ["--out", str(out)]) == 0
    printed = capsys.readouterr().out
    assert "resume with:" not in printed and "interrupted" not in printed
    lines = printed.splitlines()
    name = signal.Signals(sig).name
    assert lines[-2] == (
        f"{name} arrived after the last checkpoint was written: the run is complete, "
        "nothing was stopped"
    )
    assert lines[-1].startswith("done: 2/2 epochs")
    monkeypatch.undo()
    run_dir = out / "run-001"
    assert_same_run(straight(gan, "mlp"), run_dir)
    assert not list(run_dir.glob(f"{TEMP_PREFIX}*"))
    assert gan.main(["--resume", str(run_dir)]) == 0
    assert "run already finished: 2/2 epochs" in capsys.readouterr().out


# ----- SIGKILL while a checkpoint is written ---------------------------------------------

_KILLED_WRITER = """
import os, sys, time
sys.argv = [{script!r}]
import runpy
real_replace = os.replace
count = {{"n": 0}}

def replace(src, dst):
    if str(dst).endswith("checkpoint.safetensors"):
        count["n"] += 1
        if count["n"] == 2:  # epoch 2's checkpoint: its temp file is written, not renamed
            open({marker!r}, "w").close()
            time.sleep(600)
    return real_replace(src, dst)

os.replace = replace
sys.argv = [{script!r}, *{args!r}]
runpy.run_path({script!r}, run_name="__main__")
"""


def _child_env() -> dict[str, str]:
    """The environment of the example scripts run as their own processes."""
    return {**os.environ, "PYTHONPATH": str(ROOT)}


def _sigkill_at_marker(code: str, marker: Path, moment: str) -> None:
    """Run `code` (a script that creates `marker` and then sleeps at the moment to kill it)
    in a new Python process, wait for the marker, SIGKILL the process and check it died of
    that signal; `moment` names the moment in the failure messages."""
    proc = subprocess.Popen([sys.executable, "-c", code], env=_child_env(), cwd=ROOT)
    try:
        deadline = time.monotonic() + 120
        while not marker.exists():
            assert proc.poll() is None, f"the run ended before {moment}"
            assert time.monotonic() < deadline, f"the run never reached {moment}"
            time.sleep(0.05)
        proc.send_signal(signal.SIGKILL)
        assert proc.wait(timeout=30) == -signal.SIGKILL
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()


def test_sigkill_during_a_checkpoint_write_keeps_the_previous_one(tmp_path):
    out, marker = tmp_path / "out", tmp_path / "writing"
    script = str(EXAMPLES / "mnist_gan.py")
    args = [*BASE, "--eval-every", "0", "--quiet", "--out", str(out)]
    code = _KILLED_WRITER.format(script=script, marker=str(marker), args=args)
    _sigkill_at_marker(code, marker, "its second checkpoint write")
    run_dir = out / "run-001"
    temps = list(run_dir.glob(f"{TEMP_PREFIX}checkpoint.safetensors.*.tmp"))
    assert len(temps) == 1 and temps[0].stat().st_size > 0
    ckpt = load_checkpoint(run_dir / "checkpoint.safetensors")  # intact: the end of epoch 1
    assert (ckpt["epoch"], ckpt["batch"]) == (1, 0)
    # the next start (a new process) in that directory removes the temp file and finishes
    done = subprocess.run(
        [sys.executable, script, "--resume", str(run_dir), "--quiet"],
        env=_child_env(),
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert done.returncode == 0, done.stderr
    assert not list(run_dir.glob(f"{TEMP_PREFIX}*"))
    assert load_checkpoint(run_dir / "checkpoint.safetensors")["epoch"] == 2


def test_a_real_sigterm_from_outside_stops_with_143_and_the_hint(tmp_path):
    """The script itself, signalled by another process while it trains."""
    out = tmp_path / "out"
    script = str(EXAMPLES / "mnist_gan.py")
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    args = [*BASE, "--epochs", "50", "--eval-every", "0", "--log-every", "1", "--out", str(out)]
    proc = subprocess.Popen(
        [sys.executable, script, *args], env=env, cwd=ROOT, stdout=subprocess.PIPE, text=True
    )
    try:
        for line in proc.stdout:
            if line.startswith("epoch 1/50, step 1/2"):
                proc.send_signal(signal.SIGTERM)
                break
        rest = proc.stdout.read()
        assert proc.wait(timeout=120) == 143
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    run_dir = out / "run-001"
    assert f"resume with: python {script} --resume {run_dir}" in rest.splitlines()
    ckpt = load_checkpoint(run_dir / "checkpoint.safetensors")
    assert ckpt["epoch"] * 2 + ckpt["batch"] >= 1


# ----- SIGKILL while OUT/latest is replaced ----------------------------------------------

_KILLED_POINTER = """
import os, sys, time
import runpy
real_replace = os.replace

def replace(src, dst):
    if os.path.basename(str(dst)) == "latest":  # the temp link is made, not yet renamed
        open({marker!r}, "w").close()
        time.sleep(600)
    return real_replace(src, dst)

os.replace = replace
sys.argv = [{script!r}, *{args!r}]
runpy.run_path({script!r}, run_name="__main__")
"""


def test_sigkill_while_latest_is_replaced_leaves_nothing_after_the_next_start(tmp_path):
    out, marker = tmp_path / "out", tmp_path / "pointing"
    script = str(EXAMPLES / "mnist_vae.py")
    args = [*BASE, "--epochs", "1", "--quiet", "--out", str(out)]
    code = _KILLED_POINTER.format(script=script, marker=str(marker), args=args)
    _sigkill_at_marker(code, marker, "pointing latest at its run")
    temps = [p for p in out.iterdir() if p.name.startswith(".latest-")]
    assert len(temps) == 1 and temps[0].is_symlink() and os.readlink(temps[0]) == "run-001"
    assert not (out / "latest").exists()
    # the next start into that OUT (a new process) removes the temp link
    done = subprocess.run(
        [sys.executable, script, *args],
        env=_child_env(),
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert done.returncode == 0, done.stderr
    assert sorted(p.name for p in out.iterdir()) == ["latest", "run-001", "run-002"]
    assert os.readlink(out / "latest") == "run-002"


def test_only_stale_latest_temp_links_are_removed(tmp_path):
    """What a killed start left (made before this process started) goes; a temp link
    another process has just made, and any other name, stay."""
    old = time.time() - 3600
    stale = tmp_path / ".latest-0123456789ab"
    stale_text = tmp_path / f"{TEMP_PREFIX}latest.k3j4h5.tmp"
    fresh = tmp_path / ".latest-ba9876543210"
    other = [tmp_path / ".latest-notours", tmp_path / "run-001", tmp_path / "latest"]
    os.symlink("run-001", stale)
    stale_text.write_text("run-001\n")
    os.symlink("run-001", fresh)
    other[0].write_text("x")
    other[1].mkdir()
    os.symlink("run-001", other[2])
    for path in (stale, stale_text, *other):
        os.utime(path, (old, old), follow_symlinks=False)
    removed = minigan.training.run.remove_stale_latest_links(tmp_path)
    assert sorted(removed) == sorted([stale, stale_text])
    assert not os.path.lexists(stale) and not stale_text.exists()
    assert fresh.is_symlink() and all(os.path.lexists(p) for p in other)
