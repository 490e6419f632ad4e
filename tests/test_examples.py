# End-to-end tests of the example scripts on a small MNIST subset (cpu): outputs written
# into the run's directory OUT/run-NNN (for every GAN and VAE architecture), exact resume
# (straight run == run + resume, bit for bit, also after Ctrl-C mid-epoch, resuming with the
# run's recorded options, also with EMA and conditional models), sample mode
# (with labels for conditional GANs), --help, and clear errors for impossible requests.
from __future__ import annotations

import json
import os
import signal
from pathlib import Path

import numpy as np
import pytest
from helpers import load_example
from PIL import Image

import minigan
from minigan.utils import load_checkpoint

EXAMPLES = Path(__file__).resolve().parents[1] / "examples"


gan = load_example("mnist_gan")
vae = load_example("mnist_vae")

SMALL = ["--device", "cpu", "--subset", "256", "--batch-size", "64", "--no-progress"]


def small(script) -> list[str]:
    """SMALL, plus (for the GAN) a cheap per-epoch sample-quality evaluation, so the tests
    also check that scoring leaves the training's random stream (exact resume) untouched."""
    # (--arch mlp: these tests were written for the unconditional MLP GAN; the default is
    # now the conditional one, which the architecture tests cover)
    gan_args = [*SMALL, "--arch", "mlp", "--eval-every", "1", "--eval-n", "64"]
    return gan_args if script is gan else SMALL


# the conv models are slower on cpu: fewer, smaller batches and a narrow DCGAN
TINY = ["--device", "cpu", "--subset", "128", "--batch-size", "32", "--no-progress"]
TINY_GAN = [*TINY, "--width", "8"]


def first_run(out: Path) -> Path:
    """Where the first run into --out OUT writes: its own directory OUT/run-001."""
    return out / "run-001"


def checkpoint(out: Path) -> Path:
    return first_run(out) / "checkpoint.safetensors"


def _flat_state(state, prefix=""):
    """All numpy arrays inside a nested state dict, by dotted path."""
    out = {}
    if isinstance(state, dict):
        for k, v in state.items():
            out.update(_flat_state(v, f"{prefix}{k}."))
    elif isinstance(state, list | tuple):
        for i, v in enumerate(state):
            out.update(_flat_state(v, f"{prefix}{i}."))
    elif isinstance(state, np.ndarray):
        out[prefix] = state
    else:
        out[prefix] = state
    return out


def _assert_same_checkpoint(a: Path, b: Path) -> None:
    sa, sb = load_checkpoint(a), load_checkpoint(b)
    fa, fb = _flat_state(sa["state"]), _flat_state(sb["state"])
    assert fa.keys() == fb.keys()
    for key in fa:
        if isinstance(fa[key], np.ndarray):
            np.testing.assert_array_equal(fa[key], fb[key], err_msg=key)
        else:
            assert fa[key] == fb[key], key
    strip = [
        {k: v for k, v in r.items() if k not in ("seconds", "resumed_at_batch")}
        for r in sa["metrics"]
    ]
    strip_b = [
        {k: v for k, v in r.items() if k not in ("seconds", "resumed_at_batch")}
        for r in sb["metrics"]
    ]
    assert strip == strip_b
    assert sa["rng"]["cpu"] == sb["rng"]["cpu"]


@pytest.mark.parametrize("script", [gan, vae], ids=["gan", "vae"])
def test_train_writes_outputs(tmp_path, script):
    out = tmp_path / "run"
    assert script.main([*small(script), "--epochs", "1", "--out", str(out)]) == 0
    assert (out / "latest").resolve() == first_run(out).resolve()
    out = first_run(out)
    assert (out / "checkpoint.safetensors").exists()
    assert (out / "samples_epoch001.png").exists()
    rows = json.loads((out / "metrics.json").read_text())
    assert len(rows) == 1 and rows[0]["epoch"] == 1
    assert (out / "metrics.csv").read_text().splitlines()[0].startswith("epoch,")
    if script is vae:
        assert (out / "reconstructions_epoch001.png").exists()
        assert np.isfinite(rows[0]["test_loss"])
    else:
        assert np.isfinite(rows[0]["d_loss"]) and np.isfinite(rows[0]["g_loss"])
        assert rows[0]["eval_fid"] > 0 and 1 <= rows[0]["eval_score"] <= 10


@pytest.mark.parametrize("script", [gan, vae], ids=["gan", "vae"])
def test_resume_is_bit_exact(tmp_path, script):
    straight, split = tmp_path / "straight", tmp_path / "split"
    assert script.main([*small(script), "--epochs", "2", "--out", str(straight)]) == 0
    assert script.main([*small(script), "--epochs", "1", "--out", str(split)]) == 0
    # the run's own options given again (the same values) are accepted
    assert script.main([*small(script), "--epochs", "2", "--resume", str(checkpoint(split))]) == 0
    _assert_same_checkpoint(checkpoint(straight), checkpoint(split))


def test_ctrl_c_mid_epoch_saves_and_resumes_exactly(tmp_path, monkeypatch):
    straight, split = tmp_path / "straight", tmp_path / "split"
    assert gan.main([*small(gan), "--epochs", "2", "--out", str(straight)]) == 0

    original = gan.GANTrainer.step
    calls = {"n": 0}

    def interrupting_step(self, real):
        calls["n"] += 1
        if calls["n"] == 6:  # during epoch 2 (4 batches per epoch): stops after this step
            os.kill(os.getpid(), signal.SIGINT)
        return original(self, real)

    monkeypatch.setattr(gan.GANTrainer, "step", interrupting_step)
    assert gan.main([*small(gan), "--epochs", "2", "--out", str(split)]) == 130
    ckpt = load_checkpoint(checkpoint(split))
    assert (ckpt["epoch"], ckpt["batch"]) == (1, 2)
    monkeypatch.setattr(gan.GANTrainer, "step", original)
    # only --resume (the parent: its latest run): every other option comes from the run
    assert gan.main(["--resume", str(split)]) == 0
    _assert_same_checkpoint(checkpoint(straight), checkpoint(split))


@pytest.mark.parametrize("script", [gan, vae], ids=["gan", "vae"])
def test_sample_mode_writes_uint8_npy(tmp_path, script):
    out = tmp_path / "run"
    assert script.main([*small(script), "--epochs", "1", "--out", str(out)]) == 0
    target = tmp_path / "s.npy"
    assert (
        script.main(
            [
                "--device",
                "cpu",
                "--sample",
                "10",
                "--resume",
                str(checkpoint(out)),
                "--sample-out",
                str(target),
            ]
        )
        == 0
    )
    images = np.load(target)
    assert images.shape == (10, 28, 28) and images.dtype == np.uint8
    assert images.std() > 0  # not a constant image


@pytest.mark.parametrize("script", [gan, vae], ids=["gan", "vae"])
def test_help_documents_every_option(capsys, script):
    with pytest.raises(SystemExit) as exc:
        script.main(["--help"])
    assert exc.value.code == 0
    text = capsys.readouterr().out
    for option in (
        "--device",
        "--epochs",
        "--batch-size",
        "--lr",
        "--seed",
        "--out",
        "--data-dir",
        "--resume",
        "--sample",
    ):
        assert option in text


@pytest.mark.skipif(minigan.cuda_is_available(), reason="needs a machine without a GPU")
def test_cuda_without_gpu_is_a_clear_error(capsys):
    with pytest.raises(SystemExit) as exc:
        gan.main(["--device", "cuda", "--epochs", "1"])
    assert exc.value.code == 2
    assert "cuda" in capsys.readouterr().err.lower()


def test_missing_data_dir_is_a_clear_error(tmp_path, capsys):
    code = gan.main(
        [
            *SMALL,
            "--epochs",
            "1",
            "--out",
            str(tmp_path / "o"),
            "--data-dir",
            str(tmp_path / "nope"),
        ]
    )
    assert code == 2
    err = capsys.readouterr().err
    assert "MINIGAN_DATA_DIR" in err or "--data-dir" in err


def test_resume_rejects_wrong_kind(tmp_path, capsys):
    out = tmp_path / "run"
    assert vae.main([*SMALL, "--epochs", "1", "--out", str(out)]) == 0
    with pytest.raises(SystemExit) as exc:
        gan.main([*small(gan), "--epochs", "2", "--resume", str(checkpoint(out))])
    assert exc.value.code == 2
    assert "vae" in capsys.readouterr().err


def test_bad_arguments_are_rejected(capsys):
    with pytest.raises(SystemExit) as exc:
        gan.main(["--batch-size", "0"])
    assert exc.value.code == 2
    assert "--batch-size" in capsys.readouterr().err


# ----- GAN architectures, EMA and conditional sampling ---------------------------------


def _check_gan_outputs(out, arch, ema):
    ckpt = load_checkpoint(out / "checkpoint.safetensors")
    assert ckpt["config"]["arch"] == arch and ckpt["config"]["width"] == 8
    assert ("ema" in ckpt["state"]) == ema
    rows = json.loads((out / "metrics.json").read_text())
    assert np.isfinite(rows[-1]["d_loss"]) and np.isfinite(rows[-1]["g_loss"])
    grid = np.asarray(Image.open(out / f"samples_epoch{len(rows):03d}.png"))
    side = 10 if arch.startswith("cgan") else 8  # conditional: one row per digit
    assert grid.shape == (side * 30 + 2, side * 30 + 2)


def test_cgan_dcgan_trains_and_writes_outputs(tmp_path):
    out = tmp_path / "run"
    args = [*TINY_GAN, "--arch", "cgan-dcgan", "--ema", "0.99", "--epochs", "1"]
    assert gan.main([*args, "--out", str(out)]) == 0
    _check_gan_outputs(first_run(out), "cgan-dcgan", ema=True)


@pytest.mark.parametrize(
    "arch, extra",
    [("dcgan", ["--ema", "0.9"]), ("cgan-mlp", ["--ema", "0"])],
    ids=["dcgan-ema", "cgan-mlp"],
)
def test_other_archs_train_and_resume_bit_exactly(tmp_path, arch, extra):
    args = [*TINY_GAN, "--arch", arch, *extra]
    straight, split = tmp_path / "straight", tmp_path / "split"
    assert gan.main([*args, "--epochs", "2", "--out", str(straight)]) == 0
    _check_gan_outputs(first_run(straight), arch, ema=extra[1] != "0")
    assert gan.main([*args, "--epochs", "1", "--out", str(split)]) == 0
    # the architecture comes from the checkpoint: resuming needs no --arch
    assert gan.main([*TINY, "--epochs", "2", "--resume", str(first_run(split))]) == 0
    _assert_same_checkpoint(checkpoint(straight), checkpoint(split))


def test_conditional_sample_mode_writes_images_and_labels(tmp_path, capsys):
    out = tmp_path / "run"
    assert gan.main([*TINY_GAN, "--arch", "cgan-mlp", "--epochs", "1", "--out", str(out)]) == 0
    ckpt = str(checkpoint(out))
    # --resume OUT: the latest run's checkpoint; samples.npy goes into that run's directory
    assert gan.main(["--device", "cpu", "--sample", "25", "--resume", str(out)]) == 0
    out = first_run(out)
    images, labels = np.load(out / "samples.npy"), np.load(out / "samples_labels.npy")
    assert images.shape == (25, 28, 28) and images.dtype == np.uint8
    np.testing.assert_array_equal(labels, np.arange(25) % 10)
    target = tmp_path / "sevens.npy"
    sample = ["--device", "cpu", "--sample", "5", "--resume", ckpt, "--sample-out", str(target)]
    assert gan.main([*sample, "--sample-class", "7"]) == 0
    assert np.load(target).shape == (5, 28, 28)
    np.testing.assert_array_equal(np.load(tmp_path / "sevens_labels.npy"), [7] * 5)
    assert gan.main([*sample, "--sample-class", "10"]) == 2
    assert "0..9" in capsys.readouterr().err


def test_sample_class_needs_a_conditional_model(tmp_path, capsys):
    out = tmp_path / "run"
    assert gan.main([*TINY, "--arch", "mlp", "--epochs", "1", "--out", str(out)]) == 0
    ckpt = str(checkpoint(out))
    out = first_run(out)
    assert (
        gan.main(["--device", "cpu", "--sample", "3", "--resume", ckpt, "--sample-class", "1"]) == 2
    )
    assert "conditional" in capsys.readouterr().err
    assert not (out / "samples.npy").exists()
    with pytest.raises(SystemExit):
        gan.main(["--sample-class", "1"])  # only with --sample
    with pytest.raises(SystemExit):
        gan.main(["--ema", "1.0"])


# ----- VAE architectures ----------------------------------------------------------------


@pytest.mark.parametrize("arch, latent", [("conv", "2"), ("mlp", "2"), ("mlp", "20")])
def test_vae_arch_trains_and_writes_outputs(tmp_path, arch, latent):
    out = tmp_path / "run"
    args = [*TINY, "--arch", arch, "--latent-dim", latent, "--epochs", "1", "--out", str(out)]
    assert vae.main(args) == 0
    out = first_run(out)
    rows = json.loads((out / "metrics.json").read_text())
    assert len(rows) == 1 and np.isfinite(rows[0]["test_loss"])
    for name in ("samples", "reconstructions", "interpolation"):
        assert (out / f"{name}_epoch001.png").exists(), name
    strip = np.asarray(Image.open(out / "interpolation_epoch001.png"))
    assert strip.shape == (32, 12 * 30 + 2)  # 2 test digits around 10 interpolation steps
    manifold = out / "manifold_epoch001.png"
    assert manifold.exists() == (latent == "2")
    if latent == "2":
        assert np.asarray(Image.open(manifold)).shape == (20 * 30 + 2, 20 * 30 + 2)
