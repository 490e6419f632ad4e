# minigan/metrics/scores.py: sample-quality numbers for generated MNIST digits, computed
# with the minigan-trained classifier: the Fréchet distance of its penultimate features to
# the MNIST test set (FID), the classifier score exp E[KL(p(y|x) || p(y))], and the label
# accuracy of a conditional generator; plus the input checks and reference-stat caching.
"""Sample-quality metrics for MNIST-like images.

All functions take **uint8 pixel arrays** (N, 28, 28), (N, 1, 28, 28) or (N, 784), run the
classifier of ``minigan.metrics.classifier`` in batches (on cpu unless `device` says
otherwise) and compute the statistics in float64 NumPy.

FID (Fréchet distance of the features): fit a Gaussian N(μ, Σ) to the classifier's
penultimate features f(x) of each image set; the squared 2-Wasserstein distance between
two Gaussians is

    d² = ‖μ1 - μ2‖² + Tr(Σ1 + Σ2 - 2 (Σ1 Σ2)^{1/2}).

Classifier score (the "Inception score" with an MNIST classifier): with p(y|x) the softmax
of the classifier and p(y) = E_x p(y|x) the marginal over the image set,

    score = exp( E_x KL(p(y|x) ‖ p(y)) ),   1 <= score <= 10.

It is high when each image is classified confidently (low H(y|x)) AND the classes are
balanced (high H(y)): E_x KL = H(y) - E_x H(y|x) <= log 10.

Numbers from this classifier are comparable with each other only (same weights, same
reference set), never with published Inception-network FIDs; see docs/metrics.md.
"""

from __future__ import annotations

import math
import os
from pathlib import Path
from typing import Any

import numpy as np

from ..autograd import no_grad
from ..tensor import Tensor
from .classifier import DEFAULT_WEIGHTS, MNISTClassifier, load_classifier, preprocess

__all__ = [
    "DEFAULT_BATCH",
    "DEFAULT_TEST_STATS",
    "check_images",
    "check_labels",
    "classifier_outputs",
    "classifier_score",
    "default_classifier",
    "evaluate_images",
    "feature_stats",
    "fid",
    "frechet_distance",
    "gaussian_fit",
    "label_accuracy",
    "reference_stats",
    "score_from_logits",
    "score_from_probs",
]

#: Committed test-set feature statistics (written by examples/train_classifier.py), used
#: when their recorded classifier sha256 matches the loaded classifier.
DEFAULT_TEST_STATS = DEFAULT_WEIGHTS.parent / "mnist_test_stats.npz"

#: Images per classifier call. On the CPU path 200-250 is the sweet spot (measured: 10,000
#: images in ~4 s at 250 vs ~5-7 s at 500 on 2 cores; larger im2col buffers fall out of cache).
DEFAULT_BATCH = 250

_classifiers: dict[str, MNISTClassifier] = {}
_reference_cache: dict[tuple[Any, ...], tuple[np.ndarray, np.ndarray]] = {}


# ----- inputs --------------------------------------------------------------------------------


def check_images(images: Any, what: str = "images", min_count: int = 1) -> np.ndarray:
    """Validate MNIST-sized uint8 images and return them as a (N, 28, 28) uint8 view.

    Accepted: a NumPy uint8 array of shape (N, 28, 28), (N, 1, 28, 28) or (N, 784).

    Raises:
      TypeError: not a NumPy array, or not uint8 (the message says how to convert floats).
      ValueError: another shape, or fewer than `min_count` images.
    """
    if isinstance(images, Tensor):
        raise TypeError(
            f"{what}: expected a NumPy uint8 array, got a minigan Tensor; pass "
            "minigan.utils.to_uint8(t.numpy(), 'tanh') (or 'unit' for outputs in [0, 1])"
        )
    if not isinstance(images, np.ndarray):
        raise TypeError(f"{what}: expected a NumPy uint8 array, got {type(images).__name__}")
    if images.dtype != np.uint8:
        if images.dtype.kind == "f":
            finite = images[np.isfinite(images)]
            seen = (
                f" (values in [{float(finite.min()):.3g}, {float(finite.max()):.3g}])"
                if finite.size
                else ""
            )
            hint = (
                f"{seen}; convert generator outputs with minigan.utils.to_uint8(x, 'tanh') "
                "for [-1, 1] or to_uint8(x, 'unit') for [0, 1]"
            )
        else:
            hint = "; if the values are pixels 0..255, cast with x.astype(np.uint8)"
        raise TypeError(f"{what}: expected uint8 pixels 0..255, got dtype {images.dtype}{hint}")
    shape = images.shape
    ok = (
        (images.ndim == 3 and shape[1:] == (28, 28))
        or (images.ndim == 4 and shape[1:] == (1, 28, 28))
        or (images.ndim == 2 and shape[1] == 784)
    )
    if not ok:
        raise ValueError(
            f"{what}: expected MNIST-sized images of shape (N, 28, 28), (N, 1, 28, 28) or "
            f"(N, 784), got {shape}"
        )
    if shape[0] < min_count:
        raise ValueError(f"{what}: need at least {min_count} image(s), got {shape[0]}")
    return images.reshape(shape[0], 28, 28)


def check_labels(labels: Any, n: int, num_classes: int = 10) -> np.ndarray:
    """Validate class labels: integers of shape (n,) in 0..num_classes-1 (returned as int64)."""
    y = np.asarray(labels)
    if y.dtype.kind not in "iu":
        raise TypeError(f"labels: expected integers, got dtype {y.dtype}")
    if y.shape != (n,):
        raise ValueError(f"labels: expected shape ({n},) (one per image), got {y.shape}")
    if n and (int(y.min()) < 0 or int(y.max()) >= num_classes):
        raise ValueError(
            f"labels: expected values in 0..{num_classes - 1}, got {int(y.min())}..{int(y.max())}"
        )
    return y.astype(np.int64)


# ----- the classifier ------------------------------------------------------------------------


def default_classifier(device: str = "cpu") -> MNISTClassifier:
    """The committed classifier on `device`, loaded (and hash-checked) once per process."""
    if device not in _classifiers:
        _classifiers[device] = load_classifier(device=device)
    return _classifiers[device]


def _classifier(classifier: Any, device: str) -> Any:
    """None -> the committed classifier; a path -> ``load_classifier(path)`` (checked against
    the sha256 in its run's .json when there is one; loaded once per process); else as is."""
    if classifier is None:
        return default_classifier(device)
    if isinstance(classifier, str | os.PathLike):
        key = f"{Path(classifier).resolve()}@{device}"
        if key not in _classifiers:
            _classifiers[key] = load_classifier(classifier, device=device)
        return _classifiers[key]
    return classifier


def classifier_outputs(
    images: Any,
    classifier: Any = None,
    batch_size: int = DEFAULT_BATCH,
    device: str = "cpu",
) -> tuple[np.ndarray, np.ndarray]:
    """Run the classifier over uint8 images in batches: (features (N, F), logits (N, 10)).

    `classifier` is any object with ``features_and_logits(x) -> (Tensor, Tensor)`` for
    x (B, 1, 28, 28) float32 in [0, 1] on `device`, or the path of a weights file written
    by examples/train_classifier.py (default: ``default_classifier``).
    Results are float64 NumPy arrays.
    """
    x = check_images(images)
    if int(batch_size) < 1:
        raise ValueError(f"batch_size must be >= 1, got {batch_size}")
    clf = _classifier(classifier, device)
    feats, logits = [], []
    with no_grad():
        for start in range(0, len(x), int(batch_size)):
            xb = Tensor(preprocess(x[start : start + int(batch_size)]), device=device)
            f, z = clf.features_and_logits(xb)
            feats.append(np.asarray(f.numpy(), dtype=np.float64))
            logits.append(np.asarray(z.numpy(), dtype=np.float64))
    return np.concatenate(feats), np.concatenate(logits)


# ----- Fréchet distance ----------------------------------------------------------------------


def _check_gaussian(mu: Any, cov: Any, which: str) -> tuple[np.ndarray, np.ndarray]:
    mu = np.asarray(mu, dtype=np.float64)
    cov = np.asarray(cov, dtype=np.float64)
    if mu.ndim != 1 or cov.shape != (mu.shape[0], mu.shape[0]):
        raise ValueError(
            f"frechet_distance: mu{which} must be (d,) and cov{which} (d, d), got "
            f"{mu.shape} and {cov.shape}"
        )
    if not (np.isfinite(mu).all() and np.isfinite(cov).all()):
        raise ValueError(f"frechet_distance: mu{which}/cov{which} contain NaN or inf")
    return mu, cov


def _sqrt_psd(c: np.ndarray) -> np.ndarray:
    """The symmetric PSD square root S = V diag(√max(λ, 0)) Vᵀ of C = V diag(λ) Vᵀ."""
    w, v = np.linalg.eigh((c + c.T) * 0.5)
    return (v * np.sqrt(np.clip(w, 0.0, None))) @ v.T


def trace_sqrt_product(cov1: np.ndarray, cov2: np.ndarray) -> float:
    """Tr((Σ1 Σ2)^{1/2}) for symmetric PSD Σ1, Σ2, without a general matrix square root.

    With S = Σ1^{1/2} (symmetric PSD), Σ1 Σ2 = S (S Σ2) has the same eigenvalues as
    (S Σ2) S = S Σ2 S (AB and BA share their eigenvalues). S Σ2 S = (S Σ2^{1/2})(S Σ2^{1/2})ᵀ
    is symmetric PSD, so its eigenvalues λ_i are real and >= 0, and the (principal) square
    root of Σ1 Σ2 has eigenvalues √λ_i:  Tr((Σ1 Σ2)^{1/2}) = Σ_i √λ_i.
    Two symmetric eigendecompositions (``eigh``), no complex arithmetic; tiny negative λ
    from rounding are clipped to 0.
    """
    s = _sqrt_psd(cov1)
    m = s @ cov2 @ s
    lam = np.linalg.eigvalsh((m + m.T) * 0.5)
    return float(np.sqrt(np.clip(lam, 0.0, None)).sum())


def frechet_distance(mu1: Any, cov1: Any, mu2: Any, cov2: Any) -> float:
    """d² = ‖μ1 - μ2‖² + Tr(Σ1) + Tr(Σ2) - 2·Tr((Σ1 Σ2)^{1/2}) between N(μ1, Σ1), N(μ2, Σ2).

    The squared 2-Wasserstein (Fréchet) distance of two Gaussians; symmetric in its two
    arguments and 0 for identical ones. Computed in float64 (see ``trace_sqrt_product`` for
    the square-root term). Rounding can leave a result of about -1e-12 for identical
    inputs; it is clipped at 0.
    """
    mu1, cov1 = _check_gaussian(mu1, cov1, "1")
    mu2, cov2 = _check_gaussian(mu2, cov2, "2")
    if mu1.shape != mu2.shape:
        raise ValueError(
            f"frechet_distance: feature sizes differ: {mu1.shape[0]} and {mu2.shape[0]}"
        )
    diff = mu1 - mu2
    d2 = diff @ diff + np.trace(cov1) + np.trace(cov2) - 2.0 * trace_sqrt_product(cov1, cov2)
    return max(float(d2), 0.0)


def gaussian_fit(features: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(mean, unbiased covariance) of the rows of `features` (N, F), N >= 2."""
    mu = features.mean(axis=0)
    centered = features - mu
    cov = centered.T @ centered / (len(features) - 1)
    return mu, cov


def feature_stats(
    images_uint8: Any,
    classifier: Any = None,
    batch_size: int = DEFAULT_BATCH,
    device: str = "cpu",
) -> tuple[np.ndarray, np.ndarray]:
    """(μ, Σ) of the classifier's penultimate features over `images_uint8` (N >= 2).

    μ = (1/N) Σ_n f(x_n),  Σ = 1/(N-1) Σ_n (f(x_n) - μ)(f(x_n) - μ)ᵀ, float64.
    """
    check_images(images_uint8, min_count=2)
    feats, _ = classifier_outputs(images_uint8, classifier, batch_size, device)
    return gaussian_fit(feats)


def reference_stats(
    reference: Any = "test",
    classifier: Any = None,
    batch_size: int = DEFAULT_BATCH,
    device: str = "cpu",
    data_dir: str | os.PathLike | None = None,
) -> tuple[np.ndarray, np.ndarray]:
    """The (μ, Σ) that generated images are compared with.

    `reference` is "test" (the 10,000 MNIST test images) or "train" (the 60,000 training
    images), uint8 images, or a (μ, Σ) pair (returned as is). For "test" with the default
    classifier, the committed ``mnist_test_stats.npz`` is used when its recorded
    classifier hash matches; otherwise the split is loaded (``minigan.data.load_mnist``,
    `data_dir`) and scored. Named references are cached in memory per classifier.
    """
    if isinstance(reference, tuple | list) and len(reference) == 2:
        return np.asarray(reference[0], np.float64), np.asarray(reference[1], np.float64)
    if isinstance(reference, np.ndarray):
        return feature_stats(reference, classifier, batch_size, device)
    if reference not in ("test", "train"):
        raise ValueError(
            f"reference must be 'test', 'train', uint8 images or a (mu, cov) pair, got "
            f"{reference!r}"
        )
    clf = _classifier(classifier, device)
    clf_key = getattr(clf, "sha256", None) or id(clf)
    key = (clf_key, reference, None if data_dir is None else str(Path(data_dir)))
    if key not in _reference_cache:
        stats = _committed_test_stats(clf) if reference == "test" else None
        if stats is None:
            from ..data import load_mnist  # noqa: PLC0415 - only needed on a cache miss

            images, _ = load_mnist(reference, data_dir)
            stats = feature_stats(images, clf, batch_size, device)
        _reference_cache[key] = stats
    return _reference_cache[key]


def _committed_test_stats(classifier: Any) -> tuple[np.ndarray, np.ndarray] | None:
    """The committed test-set stats if they were computed with `classifier`'s weights."""
    sha = getattr(classifier, "sha256", None)
    if sha is None or not DEFAULT_TEST_STATS.is_file():
        return None
    try:
        with np.load(DEFAULT_TEST_STATS, allow_pickle=False) as data:
            if str(data["classifier_sha256"]) != sha:
                return None
            return np.array(data["mu"], np.float64), np.array(data["cov"], np.float64)
    except (OSError, KeyError, ValueError):
        return None  # unreadable: recompute from the test set


def fid(
    images_uint8: Any,
    reference: Any = "test",
    classifier: Any = None,
    batch_size: int = DEFAULT_BATCH,
    device: str = "cpu",
    data_dir: str | os.PathLike | None = None,
) -> float:
    """Fréchet distance between the classifier features of `images_uint8` and `reference`.

    See ``reference_stats`` for the reference (default: the MNIST test set). Use N of a few
    thousand or more: the estimate is biased upwards for small N.
    """
    mu, cov = feature_stats(images_uint8, classifier, batch_size, device)
    mu_r, cov_r = reference_stats(reference, classifier, batch_size, device, data_dir)
    return frechet_distance(mu, cov, mu_r, cov_r)


# ----- classifier score and label accuracy -----------------------------------------------------


def score_from_probs(probs: Any) -> float:
    """exp(E_x KL(p(y|x) ‖ p(y))) for class probabilities `probs` (N, K), rows summing to 1.

    p(y) = mean over rows; KL_x = Σ_y p(y|x)·(log p(y|x) - log p(y)), with 0·log 0 = 0.
    Between 1 (every row equal) and K (one-hot rows, classes equally often).
    """
    p = np.asarray(probs, dtype=np.float64)
    if p.ndim != 2 or p.shape[0] < 1:
        raise ValueError(f"score_from_probs: expected probabilities (N, K), got {p.shape}")
    if (p < 0).any() or not np.allclose(p.sum(axis=1), 1.0, atol=1e-6):
        raise ValueError("score_from_probs: rows must be probability vectors (>= 0, sum 1)")
    marginal = p.mean(axis=0)
    pos = p > 0
    terms = np.zeros_like(p)
    ratio = p[pos] / np.broadcast_to(marginal, p.shape)[pos]
    terms[pos] = p[pos] * np.log(ratio)
    return float(math.exp(terms.sum(axis=1).mean()))


def _softmax(logits: np.ndarray) -> np.ndarray:
    z = logits - logits.max(axis=1, keepdims=True)
    e = np.exp(z)
    return e / e.sum(axis=1, keepdims=True)


def score_from_logits(logits: Any) -> float:
    """``score_from_probs(softmax(logits))``."""
    return score_from_probs(_softmax(np.asarray(logits, dtype=np.float64)))


def classifier_score(
    images_uint8: Any, classifier: Any = None, batch_size: int = DEFAULT_BATCH, device: str = "cpu"
) -> float:
    """exp(E_x KL(p(y|x) ‖ p(y))) under the classifier (max 10; the MNIST test set ~9.8)."""
    _, logits = classifier_outputs(images_uint8, classifier, batch_size, device)
    return score_from_logits(logits)


def label_accuracy(
    images_uint8: Any,
    labels: Any,
    classifier: Any = None,
    batch_size: int = DEFAULT_BATCH,
    device: str = "cpu",
) -> float:
    """Fraction of images the classifier assigns to the asked label (conditional GANs)."""
    x = check_images(images_uint8)
    y = check_labels(labels, len(x))
    _, logits = classifier_outputs(x, classifier, batch_size, device)
    return float((logits.argmax(axis=1) == y).mean())


def evaluate_images(
    images_uint8: Any,
    labels: Any = None,
    reference: Any = "test",
    classifier: Any = None,
    batch_size: int = DEFAULT_BATCH,
    device: str = "cpu",
    data_dir: str | os.PathLike | None = None,
) -> dict[str, float]:
    """All metrics from ONE classifier pass: {"fid", "score"} (+ "label_accuracy").

    `labels` (N,) are the classes a conditional generator was asked for; when given, the
    result also has "label_accuracy". The reference for FID defaults to the MNIST test set.
    This is the call a training script makes every k epochs::

        metrics = evaluate_images(to_uint8(samples, "tanh"), labels=asked)
    """
    x = check_images(images_uint8, min_count=2)
    y = None if labels is None else check_labels(labels, len(x))
    feats, logits = classifier_outputs(x, classifier, batch_size, device)
    mu, cov = gaussian_fit(feats)
    mu_r, cov_r = reference_stats(reference, classifier, batch_size, device, data_dir)
    out = {"fid": frechet_distance(mu, cov, mu_r, cov_r), "score": score_from_logits(logits)}
    if y is not None:
        out["label_accuracy"] = float((logits.argmax(axis=1) == y).mean())
    return out
