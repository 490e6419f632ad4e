# Tests of minigan.metrics (FID, classifier score, label accuracy, the committed classifier)
# and of the two scripts around it, examples/evaluate.py and examples/train_classifier.py.
# Oracles: scipy.linalg.sqrtm for the Fréchet distance, torch for the cross-entropy loss,
# hand-built probability tables for the score; real-data checks are orders of magnitude.
from __future__ import annotations

import gzip
import json
import os
import struct
from pathlib import Path

import numpy as np
import pytest
from helpers import load_example

import minigan
from minigan.data import load_mnist
from minigan.metrics import (
    DEFAULT_TEST_STATS,
    DEFAULT_WEIGHTS,
    WEIGHTS_SHA256,
    ClassifierWeightsError,
    check_images,
    classifier_outputs,
    classifier_score,
    default_classifier,
    evaluate_images,
    feature_stats,
    fid,
    file_sha256,
    frechet_distance,
    gaussian_fit,
    label_accuracy,
    load_classifier,
    reference_stats,
    score_from_logits,
    score_from_probs,
)

EXAMPLES = Path(__file__).resolve().parents[1] / "examples"


def _random_spd(rng: np.random.Generator, d: int, rank: int | None = None) -> np.ndarray:
    a = rng.standard_normal((d, rank or d))
    return a @ a.T / d + (1e-3 * np.eye(d) if rank is None else 0.0)


def _fd_scipy(mu1, c1, mu2, c2) -> float:
    scipy_linalg = pytest.importorskip("scipy.linalg")
    covmean = scipy_linalg.sqrtm(c1 @ c2)
    return float(np.sum((mu1 - mu2) ** 2) + np.trace(c1 + c2 - 2 * np.real(covmean)))


# ----- Fréchet distance ------------------------------------------------------------------------


@pytest.mark.parametrize("d", [1, 3, 16, 128])
def test_frechet_distance_matches_scipy_sqrtm(d):
    rng = np.random.default_rng(d)
    mu1, mu2 = rng.standard_normal(d), rng.standard_normal(d)
    c1, c2 = _random_spd(rng, d), _random_spd(rng, d)
    expected = _fd_scipy(mu1, c1, mu2, c2)
    got = frechet_distance(mu1, c1, mu2, c2)
    assert got == pytest.approx(expected, rel=1e-8, abs=1e-9)


def test_frechet_distance_rank_deficient_covariances():
    # Singular covariances (N < d features): the eigen route must still agree with sqrtm.
    rng = np.random.default_rng(1)
    d = 20
    mu1, mu2 = rng.standard_normal(d), rng.standard_normal(d)
    c1, c2 = _random_spd(rng, d, rank=5), _random_spd(rng, d, rank=8)
    assert frechet_distance(mu1, c1, mu2, c2) == pytest.approx(
        _fd_scipy(mu1, c1, mu2, c2), rel=1e-6, abs=1e-6
    )


def test_frechet_distance_zero_for_identical_and_symmetric():
    rng = np.random.default_rng(2)
    d = 64
    mu1, mu2 = rng.standard_normal(d), rng.standard_normal(d)
    c1, c2 = _random_spd(rng, d), _random_spd(rng, d)
    scale = np.trace(c1)
    assert frechet_distance(mu1, c1, mu1, c1) <= 1e-9 * scale
    ab, ba = frechet_distance(mu1, c1, mu2, c2), frechet_distance(mu2, c2, mu1, c1)
    assert ab == pytest.approx(ba, rel=1e-10)
    # mean term alone: equal covariances leave ||mu1 - mu2||^2
    assert frechet_distance(mu1, c1, mu2, c1) == pytest.approx(np.sum((mu1 - mu2) ** 2), rel=1e-7)


def test_frechet_distance_of_1d_gaussians_is_closed_form():
    # 1-d: W2^2 = (m1 - m2)^2 + (s1 - s2)^2
    got = frechet_distance([1.0], [[4.0]], [3.0], [[9.0]])
    assert got == pytest.approx((1 - 3) ** 2 + (2 - 3) ** 2)


def test_frechet_distance_rejects_bad_shapes():
    with pytest.raises(ValueError, match=r"mu1 must be \(d,\)"):
        frechet_distance(np.zeros(3), np.eye(4), np.zeros(3), np.eye(3))
    with pytest.raises(ValueError, match="feature sizes differ"):
        frechet_distance(np.zeros(3), np.eye(3), np.zeros(4), np.eye(4))
    with pytest.raises(ValueError, match="NaN"):
        frechet_distance(np.full(2, np.nan), np.eye(2), np.zeros(2), np.eye(2))


def test_gaussian_fit_matches_numpy_cov():
    f = np.random.default_rng(3).standard_normal((50, 6))
    mu, cov = gaussian_fit(f)
    np.testing.assert_allclose(mu, f.mean(axis=0))
    np.testing.assert_allclose(cov, np.cov(f, rowvar=False), rtol=1e-12)


# ----- classifier score ----------------------------------------------------------------------


def test_score_is_one_for_a_constant_prediction():
    p = np.tile(np.array([0.5, 0.2, 0.1, 0.1, 0.1, 0, 0, 0, 0, 0]), (100, 1))
    assert score_from_probs(p) == pytest.approx(1.0, abs=1e-12)


def test_score_is_ten_for_confident_balanced_predictions():
    p = np.eye(10)[np.arange(1000) % 10]
    assert score_from_probs(p) == pytest.approx(10.0, rel=1e-12)
    # confident but only two classes -> 2; balanced but unsure (uniform rows) -> 1
    assert score_from_probs(np.eye(10)[np.arange(100) % 2]) == pytest.approx(2.0)
    assert score_from_probs(np.full((10, 10), 0.1)) == pytest.approx(1.0)


def test_score_from_logits_and_bad_probabilities():
    logits = 100.0 * np.eye(10)[np.arange(50) % 10]
    assert score_from_logits(logits) == pytest.approx(10.0, rel=1e-9)
    with pytest.raises(ValueError, match="probability vectors"):
        score_from_probs(np.full((3, 10), 0.5))


class FakeClassifier:
    """'Recognises' the digit written in pixel [0, 0] (value = class); 32-d features."""

    def features_and_logits(self, x):
        v = np.rint(x.numpy()[:, 0, 0, 0] * 255).astype(np.int64) % 10
        logits = 50.0 * np.eye(10, dtype=np.float32)[v]
        feats = x.numpy().reshape(len(v), -1)[:, :32]
        return minigan.tensor(feats), minigan.tensor(logits)


def _coded_images(classes: np.ndarray, seed: int = 0) -> np.ndarray:
    images = np.random.default_rng(seed).integers(0, 256, (len(classes), 28, 28), dtype=np.uint8)
    images[:, 0, 0] = classes
    return images


def test_classifier_score_and_label_accuracy_with_a_fake_classifier():
    fake = FakeClassifier()
    classes = np.arange(200) % 10
    balanced = _coded_images(classes)
    assert classifier_score(balanced, classifier=fake, batch_size=64) == pytest.approx(10, rel=1e-6)
    constant = _coded_images(np.full(200, 3))
    assert classifier_score(constant, classifier=fake) == pytest.approx(1.0, abs=1e-6)
    assert label_accuracy(balanced, classes, classifier=fake) == 1.0
    wrong = classes.copy()
    wrong[:50] = (wrong[:50] + 1) % 10
    assert label_accuracy(balanced, wrong, classifier=fake) == pytest.approx(0.75)
    out = evaluate_images(
        balanced, labels=wrong, classifier=fake, reference=(np.zeros(32), np.eye(32))
    )
    assert set(out) == {"fid", "score", "label_accuracy"}
    assert out["label_accuracy"] == pytest.approx(0.75) and out["score"] == pytest.approx(
        10, rel=1e-6
    )
    mu, cov = feature_stats(balanced, classifier=fake)
    assert out["fid"] == pytest.approx(frechet_distance(mu, cov, np.zeros(32), np.eye(32)))


# ----- input checks --------------------------------------------------------------------------


def test_bad_inputs_give_clear_errors():
    good = np.zeros((4, 28, 28), np.uint8)
    assert check_images(good.reshape(4, 784)).shape == (4, 28, 28)
    assert check_images(good.reshape(4, 1, 28, 28)).shape == (4, 28, 28)
    with pytest.raises(TypeError, match=r"uint8.*to_uint8"):
        check_images(np.zeros((4, 28, 28), np.float32))
    with pytest.raises(TypeError, match="NumPy uint8 array"):
        check_images([[0] * 784])
    with pytest.raises(TypeError, match="minigan Tensor"):
        check_images(minigan.zeros(4, 784))
    with pytest.raises(ValueError, match=r"\(N, 28, 28\).*got \(4, 32, 32\)"):
        check_images(np.zeros((4, 32, 32), np.uint8))
    with pytest.raises(ValueError, match="at least 1"):
        check_images(np.zeros((0, 28, 28), np.uint8))
    fake = FakeClassifier()
    with pytest.raises(ValueError, match="at least 2"):
        fid(np.zeros((1, 28, 28), np.uint8), classifier=fake, reference=(np.zeros(32), np.eye(32)))
    with pytest.raises(ValueError, match=r"labels: expected shape \(4,\)"):
        label_accuracy(good, np.zeros(3, np.int64), classifier=fake)
    with pytest.raises(ValueError, match=r"values in 0..9"):
        label_accuracy(good, np.array([0, 1, 2, 10]), classifier=fake)
    with pytest.raises(TypeError, match="integers"):
        label_accuracy(good, np.zeros(4, np.float32), classifier=fake)
    with pytest.raises(ValueError, match="reference must be"):
        evaluate_images(good, classifier=fake, reference="validation")


# ----- the committed classifier on real data ---------------------------------------------------


@pytest.fixture(scope="module")
def test_set():
    return load_mnist("test")


@pytest.fixture(scope="module")
def real_outputs(test_set):
    """Classifier features and logits of test[:3000] (one pass, shared by the tests below)."""
    images, _ = test_set
    return classifier_outputs(images[:3000])


def test_committed_classifier_loads_and_matches_its_sha256():
    assert DEFAULT_WEIGHTS.is_file()
    assert DEFAULT_WEIGHTS.stat().st_size < 1.5e6
    assert file_sha256(DEFAULT_WEIGHTS) == WEIGHTS_SHA256
    model = load_classifier()
    assert model.sha256 == WEIGHTS_SHA256 and not model.training
    assert all(p.dtype == np.float32 for p in model.parameters())
    meta = json.loads(DEFAULT_WEIGHTS.with_suffix(".json").read_text())
    assert meta["sha256"] == WEIGHTS_SHA256 and meta["test_accuracy"] >= 0.99
    with np.load(DEFAULT_TEST_STATS) as stats:
        assert str(stats["classifier_sha256"]) == WEIGHTS_SHA256


def test_committed_classifier_is_99_percent_accurate(test_set, real_outputs):
    _, labels = test_set
    _, logits = real_outputs
    accuracy = (logits[:2000].argmax(axis=1) == labels[:2000]).mean()
    assert accuracy >= 0.99


def test_fid_orders_of_magnitude_on_real_data(test_set, real_outputs):
    images, _ = test_set
    feats, logits = real_outputs
    mu_a, cov_a = gaussian_fit(feats[:2000])
    mu_b, cov_b = gaussian_fit(feats[2000:3000])
    scale = np.trace(cov_a)  # the spread of the features: what "large" is measured against
    assert frechet_distance(mu_a, cov_a, mu_a, cov_a) < 1e-9 * scale  # a set vs its own stats
    real_vs_real = frechet_distance(mu_a, cov_a, mu_b, cov_b)
    noise = np.random.default_rng(0).integers(0, 256, (500, 28, 28), dtype=np.uint8)
    real_vs_noise = fid(noise, reference=(mu_a, cov_a))
    assert 0 < real_vs_real < 0.05 * scale
    assert real_vs_noise > 0.5 * scale
    assert real_vs_noise > 50 * real_vs_real
    # the score: real digits are confidently classified and balanced, noise is not
    assert score_from_logits(logits[:2000]) > 9.0
    assert classifier_score(noise) < 5.0


def test_fid_against_the_default_test_reference(test_set):
    images, _ = test_set
    # test[:1000] vs the full test set (committed stats): small next to the features' spread
    _, cov = reference_stats()
    value = fid(images[:1000])
    assert 0 < value < 0.05 * np.trace(cov)


def test_loading_the_metric_leaves_the_global_rng_alone():
    before = minigan.get_rng_state()
    load_classifier()
    evaluate_images(np.zeros((4, 28, 28), np.uint8), reference=(np.zeros(128), np.eye(128)))
    assert minigan.get_rng_state() == before
    assert default_classifier() is default_classifier()


def test_missing_or_corrupt_weights_say_how_to_regenerate(tmp_path):
    with pytest.raises(ClassifierWeightsError, match=r"not found.*train_classifier\.py"):
        load_classifier(tmp_path / "nothing.npz")
    bad = tmp_path / "bad.npz"
    data = bytearray(DEFAULT_WEIGHTS.read_bytes())
    data[len(data) // 2] ^= 0xFF
    bad.write_bytes(bytes(data))
    with pytest.raises(ClassifierWeightsError, match=r"does not match.*WEIGHTS_SHA256"):
        load_classifier(bad, sha256=WEIGHTS_SHA256)
    bad.write_bytes(b"not a zip file")
    with pytest.raises(ClassifierWeightsError, match=r"cannot read.*train_classifier\.py"):
        load_classifier(bad)
    other = tmp_path / "other.npz"
    np.savez(other, __arch__=np.array("something-else"), __widths__=np.arange(6))
    with pytest.raises(ClassifierWeightsError, match="architecture"):
        load_classifier(other)


# ----- the scripts ---------------------------------------------------------------------------


def test_evaluate_script_scores_a_npy_and_writes_json(tmp_path, test_set, capsys):
    evaluate = load_example("evaluate", module_name=f"_test_metrics_{'evaluate'}")
    images, labels = test_set
    np.save(tmp_path / "x.npy", images[:300])
    np.save(tmp_path / "y.npy", labels[:300].astype(np.int64))
    out = tmp_path / "scores.json"
    argv = [str(tmp_path / "x.npy"), "--labels", str(tmp_path / "y.npy"), "--json", str(out)]
    assert evaluate.main(argv) == 0
    result = json.loads(out.read_text())
    assert result["n"] == 300 and result["label_accuracy"] >= 0.97
    assert result["score"] > 8.0 and result["fid"] > 0
    assert "FID" in capsys.readouterr().out
    # bad input: float images -> exit 2 with the reason
    np.save(tmp_path / "f.npy", images[:10].astype(np.float32))
    assert evaluate.main([str(tmp_path / "f.npy")]) == 2
    assert "uint8" in capsys.readouterr().err
    assert evaluate.main([str(tmp_path / "missing.npy")]) == 2
    with pytest.raises(SystemExit):
        evaluate.main([])  # neither images nor --checkpoint


def test_evaluate_script_samples_a_gan_checkpoint(tmp_path, capsys):
    gan = load_example("mnist_gan", module_name=f"_test_metrics_{'mnist_gan'}")
    evaluate = load_example("evaluate", module_name=f"_test_metrics_{'evaluate'}")
    run = tmp_path / "gan"
    small = ["--device", "cpu", "--subset", "128", "--batch-size", "64", "--no-progress"]
    assert gan.main([*small, "--epochs", "1", "--out", str(run)]) == 0
    ckpt = run / "run-001" / "checkpoint.safetensors"  # each run: its own OUT/run-NNN
    out = tmp_path / "gan.json"
    samples = tmp_path / "gan_samples.npy"
    argv = ["--checkpoint", str(ckpt), "--n", "64", "--json", str(out)]
    assert evaluate.main([*argv, "--save-samples", str(samples)]) == 0
    result = json.loads(out.read_text())
    assert result["n"] == 64 and np.isfinite(result["fid"]) and 1 <= result["score"] <= 10
    assert np.load(samples).shape == (64, 28, 28)
    # a checkpoint whose config the script cannot rebuild -> a clear error, exit 2
    from minigan.utils import load_checkpoint, save_checkpoint

    state = load_checkpoint(ckpt)
    state["config"] = {"kind": "gan", "arch": "from-the-future"}
    save_checkpoint(state, tmp_path / "odd.safetensors")
    capsys.readouterr()
    assert evaluate.main(["--checkpoint", str(tmp_path / "odd.safetensors"), "--n", "8"]) == 2
    assert "from-the-future" in capsys.readouterr().err
    state["config"] = {"kind": "flow"}
    save_checkpoint(state, tmp_path / "flow.safetensors")
    assert evaluate.main(["--checkpoint", str(tmp_path / "flow.safetensors"), "--n", "8"]) == 2
    assert "kind 'flow'" in capsys.readouterr().err


def test_train_classifier_script_smoke(tmp_path):
    script = load_example("train_classifier", module_name=f"_test_metrics_{'train_classifier'}")
    argv = ["--epochs", "1", "--subset", "256", "--device", "cpu", "--no-progress"]
    assert script.main([*argv, "--skip-floor", "--out", str(tmp_path / "clf")]) == 0
    out = tmp_path / "clf" / "run-001" / "mnist_classifier.npz"
    meta = json.loads(out.with_suffix(".json").read_text())
    assert meta["epochs"] == 1 and meta["sha256"] == file_sha256(out)
    assert 0.0 <= meta["test_accuracy"] <= 1.0 and "date" in meta
    model = load_classifier(out, sha256=meta["sha256"])
    assert model.sha256 == meta["sha256"]
    with pytest.raises(SystemExit):
        script.main(["--epochs", "0"])


# ----- the packaged weights are never overwritten by accident ---------------------------------


PACKAGED = ("mnist_classifier.npz", "mnist_classifier.json", "mnist_test_stats.npz")


def _fake_package(tmp_path: Path) -> Path:
    """A copy of the packaged weights, their metadata and classifier.py (the install target)."""
    package = tmp_path / "package"
    package.mkdir()
    for name in (*PACKAGED, "classifier.py"):
        (package / name).write_bytes((DEFAULT_WEIGHTS.parent / name).read_bytes())
    return package


def _redirect_install(script, monkeypatch, package: Path) -> None:
    # DEFAULT_WEIGHTS too: the old script's default --out was that file
    monkeypatch.setattr(script, "DEFAULT_WEIGHTS", package / "mnist_classifier.npz", raising=False)
    monkeypatch.setattr(script, "PACKAGE_DIR", package, raising=False)
    monkeypatch.setattr(script, "RECORDED_SHA_FILE", package / "classifier.py", raising=False)


def _hashes(directory: Path) -> dict[str, str]:
    return {name: file_sha256(directory / name) for name in (*PACKAGED, "classifier.py")}


def _write_fashion_like(directory: Path, n_train: int, n_test: int) -> None:
    """MNIST-format data that is not MNIST (MNIST's file names, random digits)."""
    rng = np.random.default_rng(0)
    for prefix, n in (("train", n_train), ("t10k", n_test)):
        images = rng.integers(0, 256, size=(n, 28, 28), dtype=np.uint8)
        head = struct.pack(">4I", 0x803, n, 28, 28)
        (directory / f"{prefix}-images-idx3-ubyte.gz").write_bytes(
            gzip.compress(head + images.tobytes())
        )
        labels = (np.arange(n) % 10).astype(np.uint8)
        (directory / f"{prefix}-labels-idx1-ubyte").write_bytes(
            struct.pack(">2I", 0x801, n) + labels.tobytes()
        )


def test_train_classifier_default_writes_a_new_run_dir_not_the_packaged_weights(
    tmp_path, monkeypatch, capsys
):
    from minigan.data import UnrecognisedDataWarning

    script = load_example("train_classifier", module_name=f"_test_metrics_{'train_classifier'}")
    package = _fake_package(tmp_path)
    _redirect_install(script, monkeypatch, package)
    before, real_before = _hashes(package), _hashes(DEFAULT_WEIGHTS.parent)
    data = tmp_path / "fashion"
    data.mkdir()
    _write_fashion_like(data, 256, 500)  # --data-dir takes any MNIST-format data
    monkeypatch.chdir(tmp_path)
    argv = ["--epochs", "1", "--subset", "128", "--batch-size", "64", "--device", "cpu"]
    argv += ["--no-progress", "--skip-floor", "--data-dir", str(data)]
    with pytest.warns(UnrecognisedDataWarning) as record:
        assert script.main(argv) == 0
    announced = " / ".join(str(w.message) for w in record)
    assert "256 training images" in announced and "500 test images" in announced
    assert script.main(argv) == 0
    runs = tmp_path / "runs" / "classifier"
    assert sorted(p.name for p in runs.iterdir()) == ["latest", "run-001", "run-002"]
    assert os.readlink(runs / "latest") == "run-002"
    for run in ("run-001", "run-002"):
        weights = runs / run / "mnist_classifier.npz"
        meta = json.loads(weights.with_suffix(".json").read_text())
        assert meta["sha256"] == file_sha256(weights) and meta["train_images"] == 128
    assert _hashes(package) == before
    assert _hashes(DEFAULT_WEIGHTS.parent) == real_before
    (tmp_path / "afile").write_text("x")
    capsys.readouterr()
    with pytest.raises(SystemExit) as exc:
        script.main([*argv, "--out", str(tmp_path / "afile")])
    assert exc.value.code == 2
    assert f"argument --out: '{tmp_path / 'afile'}' is a file" in capsys.readouterr().err


def test_install_weights_replaces_the_package_and_its_recorded_sha256(tmp_path, monkeypatch):
    script = load_example("train_classifier", module_name=f"_test_metrics_{'train_classifier'}")
    package = _fake_package(tmp_path)
    _redirect_install(script, monkeypatch, package)
    real_before = _hashes(DEFAULT_WEIGHTS.parent)
    argv = ["--epochs", "1", "--subset", "128", "--batch-size", "64", "--device", "cpu"]
    argv += ["--no-progress", "--out", str(tmp_path / "runs")]
    # a run without test statistics cannot be installed
    with pytest.raises(SystemExit):
        script.main([*argv, "--skip-floor", "--install-weights"])
    assert script.main([*argv, "--skip-floor"]) == 0
    assert script.main(["--install-from", str(tmp_path / "runs" / "run-001")]) == 2
    assert file_sha256(package / "mnist_classifier.npz") == WEIGHTS_SHA256

    assert script.main([*argv, "--install-weights"]) == 0
    run = tmp_path / "runs" / "run-002"
    digest = file_sha256(run / "mnist_classifier.npz")
    assert digest != WEIGHTS_SHA256
    for name in PACKAGED:
        assert file_sha256(package / name) == file_sha256(run / name)
    source = (package / "classifier.py").read_text()
    assert f'WEIGHTS_SHA256 = "{digest}"' in source and WEIGHTS_SHA256 not in source
    assert load_classifier(package / "mnist_classifier.npz", sha256=digest).sha256 == digest
    assert _hashes(DEFAULT_WEIGHTS.parent) == real_before  # the real package: untouched
    # --install-from puts a finished run back
    assert script.main(["--install-from", str(tmp_path / "runs" / "run-002")]) == 0


def test_packaged_weights_mismatch_names_file_hashes_and_reinstall(tmp_path, monkeypatch):
    import minigan.metrics.classifier as classifier_module

    bad = tmp_path / "mnist_classifier.npz"
    data = bytearray(DEFAULT_WEIGHTS.read_bytes())
    data[len(data) // 2] ^= 0xFF
    bad.write_bytes(bytes(data))
    monkeypatch.setattr(classifier_module, "DEFAULT_WEIGHTS", bad)
    with pytest.raises(ClassifierWeightsError) as info:
        load_classifier()
    message = str(info.value)
    assert str(bad) in message
    assert WEIGHTS_SHA256 in message and file_sha256(bad) in message
    assert "reinstall minigan" in message
    bad.unlink()
    with pytest.raises(ClassifierWeightsError, match=r"not found.*reinstall minigan"):
        load_classifier()


def test_metric_with_a_user_trained_classifier_from_its_path(tmp_path, test_set):
    script = load_example("train_classifier", module_name=f"_test_metrics_{'train_classifier'}")
    argv = ["--epochs", "1", "--subset", "128", "--batch-size", "64", "--device", "cpu"]
    assert script.main([*argv, "--no-progress", "--skip-floor", "--out", str(tmp_path)]) == 0
    weights = tmp_path / "run-001" / "mnist_classifier.npz"
    images, _ = test_set
    reference = (np.zeros(128), np.eye(128))
    result = evaluate_images(images[:64], classifier=str(weights), reference=reference)
    assert np.isfinite(result["fid"]) and 1 <= result["score"] <= 10
    assert result != evaluate_images(images[:64], reference=reference)  # another classifier
    # an explicit path is checked against the sha256 its run recorded
    meta = json.loads(weights.with_suffix(".json").read_text())
    meta["sha256"] = "0" * 64
    weights.with_suffix(".json").write_text(json.dumps(meta))
    with pytest.raises(ClassifierWeightsError, match="0{64}") as info:
        load_classifier(weights)
    assert str(weights) in str(info.value) and file_sha256(weights) in str(info.value)


def test_random_shift_moves_each_image_within_bounds():
    script = load_example("train_classifier", module_name=f"_test_metrics_{'train_classifier'}")
    rng = np.random.default_rng(0)
    images = np.zeros((64, 28, 28), np.uint8)
    images[:, 14, 14] = 255
    shifted = script.random_shift(images, 2, rng)
    assert shifted.shape == images.shape and shifted.dtype == np.uint8
    rows, cols = np.divmod(np.argmax(shifted.reshape(64, -1), axis=1), 28)
    assert (np.abs(rows - 14) <= 2).all() and (np.abs(cols - 14) <= 2).all()
    assert len({(r, c) for r, c in zip(rows, cols)}) > 10  # the shifts vary
    assert (shifted.reshape(64, -1).sum(axis=1) == 255).all()  # nothing lost in the middle
    assert script.random_shift(images, 0, rng) is images
