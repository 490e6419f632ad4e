# The classifier trainer (examples/train_classifier.py) on the shared training layer: each run
# writes into its own OUT/run-NNN (checkpoint and metrics every epoch, the weights, their
# metadata and the test statistics at the end); SIGINT / SIGTERM anywhere (mid-epoch,
# during the epoch end, while the final files are written) stops with a checkpoint, exit
# code 130 / 143 and a `resume with:` hint, and the resumed run ends with the weights of an
# uninterrupted run, bit for bit (the same sha256: the cosine schedule's clock and the
# shifts' RNG resume too); a finished run says so; --epochs, the schedule's length, is kept.
from __future__ import annotations

import json
import os
import shutil
import signal
import sys
from pathlib import Path

import numpy as np
import pytest
from helpers import load_example

from minigan.metrics import DEFAULT_WEIGHTS, file_sha256
from minigan.utils import load_checkpoint

clf = load_example("train_classifier", module_name="_test_classifier_trainer")

# 2 batches of 64 per epoch, 2 epochs, with the real-data floor (about a second)
BASE = ["--device", "cpu", "--subset", "128", "--batch-size", "64", "--epochs", "2"]
BASE += ["--no-progress"]
WALL_TIME = ("seconds", "resumed_at_batch")
FINAL = ("mnist_classifier.npz", "mnist_classifier.json", "mnist_test_stats.npz")


@pytest.fixture(scope="module")
def straight(tmp_path_factory) -> Path:
    """The run directory of an uninterrupted run."""
    out = tmp_path_factory.mktemp("straight")
    assert clf.main([*BASE, "--out", str(out)]) == 0
    return out / "run-001"


def _rows(rows: list[dict]) -> list[dict]:
    return [{k: v for k, v in row.items() if k not in WALL_TIME} for row in rows]


def _flat(state, prefix: str = "") -> dict:
    """Every leaf of a nested state, by dotted path."""
    if isinstance(state, dict):
        items = state.items()
    elif isinstance(state, list | tuple):
        items = enumerate(state)
    else:
        return {prefix: state}
    flat = {}
    for key, value in items:
        flat.update(_flat(value, f"{prefix}{key}."))
    return flat


def assert_same_run(a: Path, b: Path) -> None:
    """Weights (their sha256), metadata (but date and timings), test statistics, metrics
    and the final checkpoint (models, optimizer, both RNGs) of two runs agree exactly."""
    assert file_sha256(a / FINAL[0]) == file_sha256(b / FINAL[0])
    ma, mb = (json.loads((d / FINAL[1]).read_text()) for d in (a, b))
    for meta in (ma, mb):
        for key in ("date", "train_seconds"):
            del meta[key]
        meta["history"] = _rows(meta["history"])
    assert ma == mb
    with np.load(a / FINAL[2], allow_pickle=False) as sa, np.load(b / FINAL[2]) as sb:
        assert sorted(sa.files) == sorted(sb.files)
        for name in sa.files:
            np.testing.assert_array_equal(sa[name], sb[name], err_msg=name)
    ca, cb = (load_checkpoint(d / "checkpoint.safetensors") for d in (a, b))
    fa, fb = _flat(ca["state"]), _flat(cb["state"])
    assert fa.keys() == fb.keys() and "shift_rng.state.state." in fa
    for key, value in fa.items():
        if isinstance(value, np.ndarray):
            np.testing.assert_array_equal(value, fb[key], err_msg=key)
        else:
            assert value == fb[key], key
    assert ca["rng"] == cb["rng"] and (ca["epoch"], ca["batch"]) == (cb["epoch"], cb["batch"])
    assert _rows(ca["metrics"]) == _rows(cb["metrics"])
    assert _rows(json.loads((b / "metrics.json").read_text())) == _rows(cb["metrics"])


def interrupt_at(owner, name: str, nth: int, sig: int):
    """Make owner.name send `sig` to this process when it is called the nth time; returns
    the function that puts the original back."""
    original = getattr(owner, name)
    calls = {"n": 0}

    def hooked(*args, **kwargs):
        calls["n"] += 1
        if calls["n"] == nth:
            os.kill(os.getpid(), sig)
        return original(*args, **kwargs)

    setattr(owner, name, hooked)
    return lambda: setattr(owner, name, original)


def test_a_run_writes_into_its_own_run_directory(straight):
    names = {p.name for p in straight.iterdir()}
    assert {"checkpoint.safetensors", "metrics.csv", "metrics.json", *FINAL} <= names
    assert os.readlink(straight.parent / "latest") == "run-001"
    ckpt = load_checkpoint(straight / "checkpoint.safetensors")
    assert ckpt["config"]["kind"] == "classifier" and (ckpt["epoch"], ckpt["batch"]) == (2, 0)
    assert ckpt["options"]["epochs"] == 2 and ckpt["options"]["subset"] == 128
    meta = json.loads((straight / FINAL[1]).read_text())
    assert meta["sha256"] == file_sha256(straight / FINAL[0])
    assert [row["epoch"] for row in meta["history"]] == [1, 2]
    assert meta["history"] == json.loads((straight / "metrics.json").read_text())


# point -> (attribute of the script, nth call, where the checkpoint is: (epoch, batch))
POINTS = {
    # before epoch 2's first step: the run stops after that step
    "mid-epoch": ("random_shift", 3, (1, 1)),
    # during epoch 1's test accuracy: the step boundary before it is saved
    "test-accuracy": ("accuracy", 1, (0, 2)),
    # after the last epoch, while the weights / the real-data floor are written
    "final-weights": ("save_classifier", 1, (2, 0)),
    "real-data-floor": ("real_data_floor", 1, (2, 0)),
}


@pytest.mark.parametrize("point", list(POINTS))
def test_an_interrupted_run_resumes_to_the_same_weights(tmp_path, capsys, straight, point):
    name, nth, where = POINTS[point]
    sig = signal.SIGTERM if point == "real-data-floor" else signal.SIGINT
    out = tmp_path / "split"
    undo = interrupt_at(clf, name, nth, sig)
    try:
        code = clf.main([*BASE, "--out", str(out)])
    finally:
        undo()
    assert code == 128 + sig
    run_dir = out / "run-001"
    printed = capsys.readouterr().out
    assert f"interrupted ({signal.Signals(sig).name})" in printed
    assert f"resume with: python {sys.argv[0]} --resume {run_dir}" in printed.splitlines()
    ckpt = load_checkpoint(run_dir / "checkpoint.safetensors")
    assert (ckpt["epoch"], ckpt["batch"]) == where
    assert not (run_dir / FINAL[1]).exists()  # the metadata is written last
    assert clf.main(["--resume", str(run_dir), "--quiet"]) == 0
    assert capsys.readouterr().out.splitlines()[-1].startswith("done: 2/2 epochs")
    assert_same_run(straight, run_dir)


def test_resuming_a_finished_run_says_so_and_keeps_the_schedule(tmp_path, capsys, straight):
    run_dir = tmp_path / "run"
    shutil.copytree(straight, run_dir)
    before = {p.name: p.read_bytes() for p in run_dir.iterdir()}
    capsys.readouterr()
    assert clf.main(["--resume", str(run_dir)]) == 0
    assert capsys.readouterr().out.splitlines()[-1] == (
        f"run already finished: 2/2 epochs; its weights are {run_dir / FINAL[0]}"
    )
    # --epochs sets the cosine schedule's length: a run cannot be made longer
    with pytest.raises(SystemExit) as exc:
        clf.main(["--resume", str(run_dir), "--epochs", "3"])
    assert exc.value.code == 2
    err = capsys.readouterr().err
    assert "argument --epochs: the run being resumed has --epochs 2, got 3" in err
    assert "--epochs," not in err.split("only ")[1]  # not among the changeable ones
    assert {p.name: p.read_bytes() for p in run_dir.iterdir()} == before


def _fake_package(tmp_path: Path, monkeypatch) -> Path:
    """--install-weights / --install-from write into a copy of the packaged files."""
    package = tmp_path / "package"
    package.mkdir()
    for name in (*FINAL, "classifier.py"):
        shutil.copy(DEFAULT_WEIGHTS.parent / name, package / name)
    monkeypatch.setattr(clf, "PACKAGE_DIR", package)
    monkeypatch.setattr(clf, "RECORDED_SHA_FILE", package / "classifier.py")
    return package


def test_install_weights_after_an_interrupt_is_in_the_hint(tmp_path, capsys, monkeypatch):
    """--install-weights is what this invocation does at the end, not a setting of the run:
    the hint repeats it, and the resumed run installs itself when it has finished."""
    package = _fake_package(tmp_path, monkeypatch)
    before = file_sha256(package / FINAL[0])
    out = tmp_path / "runs"
    undo = interrupt_at(clf, "save_classifier", 1, signal.SIGINT)
    try:
        assert clf.main([*BASE, "--install-weights", "--out", str(out)]) == 130
    finally:
        undo()
    run_dir = out / "run-001"
    hint = f"resume with: python {sys.argv[0]} --resume {run_dir} --install-weights"
    assert hint in capsys.readouterr().out.splitlines()
    assert file_sha256(package / FINAL[0]) == before  # nothing installed yet
    assert clf.main(["--resume", str(run_dir), "--install-weights"]) == 0
    assert f"installed {run_dir}" in capsys.readouterr().out
    assert file_sha256(package / FINAL[0]) == file_sha256(run_dir / FINAL[0]) != before


def test_a_skip_floor_run_cannot_be_resumed_with_install_weights(tmp_path, capsys):
    out = tmp_path / "runs"
    argv = [*BASE, "--epochs", "1", "--skip-floor", "--out", str(out)]
    assert clf.main(argv) == 0
    capsys.readouterr()
    with pytest.raises(SystemExit) as exc:
        clf.main(["--resume", str(out), "--install-weights"])
    assert exc.value.code == 2
    assert "argument --install-weights: needs the test statistics" in capsys.readouterr().err
