# minigan/metrics/classifier.py: the small MNIST classifier behind minigan's sample-quality
# metric (FID on its penultimate features, classifier score, label accuracy): the model, its
# softmax cross-entropy loss, the pixel preprocessing, and `load_classifier`, which loads the
# committed weights file after checking its sha256.
"""A LeNet-style MNIST classifier built from ``minigan.nn``.

minigan has no pooling op, so the network downsamples with stride-2 convolutions::

    x (N, 1, 28, 28), pixels / 255
    Conv(1 -> 16, k5, p2)             ReLU   28 x 28
    Conv(16 -> 32, k4, s2, p1)        ReLU   14 x 14
    Conv(32 -> 32, k3, p1)            ReLU   14 x 14
    Conv(32 -> 64, k4, s2, p1)        ReLU    7 x 7
    Conv(64 -> 64, k3, s2, p1)        ReLU    4 x 4
    Flatten -> Linear(1024 -> 128)    ReLU   = the penultimate features f(x) (used by FID)
    Linear(128 -> 10)                        = the class logits

It is deliberately small: on the CPU path (NumPy im2col convolutions) it trains to > 99%
test accuracy in minutes and scores 10,000 images in a few seconds, and its float32
weights (220k parameters) are a < 1 MB file committed next to this module,
``mnist_classifier.npz``, produced by ``examples/train_classifier.py``.

Because the metric is only comparable between runs scored with the *same* weights, the
file's sha256 is recorded here (``WEIGHTS_SHA256``) and ``load_classifier`` refuses a file
that does not match. The training script never overwrites the packaged file: it writes to
a run directory, and only ``--install-weights`` replaces the file and this hash.
"""

from __future__ import annotations

import hashlib
import json
import os
from pathlib import Path
from typing import Any

import numpy as np

from .. import nn
from ..random import get_rng_state, set_rng_state
from ..tensor import Tensor

__all__ = [
    "ARCH",
    "DEFAULT_WEIGHTS",
    "WEIGHTS_SHA256",
    "ClassifierWeightsError",
    "MNISTClassifier",
    "file_sha256",
    "load_classifier",
    "preprocess",
    "save_classifier",
]

#: The name of this architecture, stored in the weights file and checked on load.
ARCH = "minigan-mnist-lenet-v1"

#: Where the committed weights live (written by examples/train_classifier.py).
DEFAULT_WEIGHTS = Path(__file__).resolve().parent / "mnist_classifier.npz"

#: sha256 of the committed ``mnist_classifier.npz``. ``python examples/train_classifier.py
#: --install-weights`` rewrites this line (and the docs' numbers must then be redone).
WEIGHTS_SHA256 = "a5fe58fe7cad571877f68b78e7f557d1712abbe4f3391144619a73db93aaf74c"

_REGENERATE = (
    "To restore the packaged classifier, reinstall minigan (e.g. `pip install "
    "--force-reinstall minigan`; in a source checkout: `git checkout -- "
    "minigan/metrics/mnist_classifier.npz minigan/metrics/classifier.py`). To use a "
    "classifier you trained with `python examples/train_classifier.py`, pass its weights "
    "file: load_classifier(PATH) or evaluate_images(..., classifier=PATH); "
    "`python examples/train_classifier.py --install-from RUN_DIR` makes it the packaged one "
    "(and updates WEIGHTS_SHA256)."
)


def _recorded_sha256(file: Path) -> str | None:
    """The sha256 in the run's metadata next to a weights file (``X.npz`` -> ``X.json``)."""
    meta = file.with_suffix(".json")
    if not meta.is_file():
        return None
    try:
        value = json.loads(meta.read_text()).get("sha256")
    except (OSError, ValueError, AttributeError) as exc:
        raise ClassifierWeightsError(
            f"{meta}: cannot read the metadata of {file.name} ({type(exc).__name__}: {exc})."
        ) from exc
    return value if isinstance(value, str) else None


class ClassifierWeightsError(RuntimeError):
    """The classifier's weights file is missing, corrupt, or not the recorded one."""


class MNISTClassifier(nn.Module):
    """The metric's classifier: ``features`` (N, 1, 28, 28) -> (N, hidden), ``head`` -> logits.

    ``widths`` are the output channels of the five convolutions (see the module docstring
    for the layer list); ``hidden`` is the size of the penultimate layer. Inputs are pixels
    scaled to [0, 1] (``preprocess``).
    """

    def __init__(self, widths: tuple[int, ...] = (16, 32, 32, 64, 64), hidden: int = 128) -> None:
        super().__init__()
        if len(widths) != 5 or min(widths) < 1 or hidden < 1:
            raise ValueError(
                f"MNISTClassifier: expected 5 positive conv widths and hidden >= 1, got "
                f"widths={tuple(widths)}, hidden={hidden}"
            )
        c1, c2, c3, c4, c5 = (int(w) for w in widths)
        self.widths, self.hidden = (c1, c2, c3, c4, c5), int(hidden)
        self.body = nn.Sequential(
            nn.Conv2d(1, c1, 5, padding=2),
            nn.ReLU(),
            nn.Conv2d(c1, c2, 4, stride=2, padding=1),  # 28 -> 14
            nn.ReLU(),
            nn.Conv2d(c2, c3, 3, padding=1),
            nn.ReLU(),
            nn.Conv2d(c3, c4, 4, stride=2, padding=1),  # 14 -> 7
            nn.ReLU(),
            nn.Conv2d(c4, c5, 3, stride=2, padding=1),  # 7 -> 4
            nn.ReLU(),
            nn.Flatten(),
            nn.Linear(c5 * 4 * 4, hidden),
            nn.ReLU(),
        )
        self.head = nn.Linear(hidden, 10)

    def features(self, x: Tensor) -> Tensor:
        """The penultimate activations f(x) = ReLU(W·conv(x) + b), shape (N, hidden)."""
        return self.body(x)

    def features_and_logits(self, x: Tensor) -> tuple[Tensor, Tensor]:
        """(f(x), logits) from one forward pass (what the metrics need)."""
        f = self.body(x)
        return f, self.head(f)

    def forward(self, x: Tensor) -> Tensor:
        """Class logits (N, 10)."""
        return self.head(self.body(x))

    def extra_repr(self) -> str:
        return f"widths={self.widths}, hidden={self.hidden}"


def preprocess(images: np.ndarray) -> np.ndarray:
    """uint8 pixels (N, 28, 28) or (N, 1, 28, 28) -> float32 (N, 1, 28, 28) in [0, 1]."""
    images = np.asarray(images)
    if images.dtype != np.uint8:
        raise TypeError(f"preprocess: expected uint8 pixels, got {images.dtype}")
    return (images.reshape(len(images), 1, 28, 28).astype(np.float32)) * np.float32(1 / 255)


def file_sha256(path: str | os.PathLike) -> str:
    """Hex sha256 of a file's bytes."""
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


def _new_classifier(widths: tuple[int, ...], hidden: int) -> MNISTClassifier:
    """Build the model without consuming minigan's global random stream.

    Layer constructors draw their initial weights from the global generator; a GAN run that
    loads the metric mid-training must see exactly the random numbers it would have seen
    without it (exact resume), so the generator state is saved and restored around this.
    """
    state = get_rng_state()
    try:
        return MNISTClassifier(widths, hidden)
    finally:
        set_rng_state(state)


def save_classifier(model: MNISTClassifier, f: Any) -> None:
    """Write `model`'s float32 weights, architecture name and widths as an .npz to `f`
    (a path or a binary file object)."""
    arrays = {k: np.asarray(v, dtype=np.float32) for k, v in model.state_dict().items()}
    arrays["__arch__"] = np.array(ARCH)
    arrays["__widths__"] = np.array(model.widths + (model.hidden,), dtype=np.int64)
    np.savez(f, **arrays)


def load_classifier(
    path: str | os.PathLike | None = None,
    device: str = "cpu",
    sha256: str | None = "recorded",
) -> MNISTClassifier:
    """Load the metric's classifier (eval mode, on `device`).

    Args:
      path: the .npz weights; None means the committed ``DEFAULT_WEIGHTS``.
      device: "cpu" or "cuda".
      sha256: the expected sha256 of the file. "recorded" (the default) means
        ``WEIGHTS_SHA256`` for the default file and, for an explicit `path`, the
        ``sha256`` in the .json the training script wrote next to it (no check when there
        is none); None skips the check.

    The loaded model carries ``.sha256`` (of its file), which keys cached reference stats.

    Raises:
      ClassifierWeightsError: the file is missing, unreadable, has the wrong hash or the
        wrong architecture; the message names the file (and for a wrong hash the expected
        and actual sha256) and says how to restore it (reinstall minigan).
    """
    default = path is None
    file = DEFAULT_WEIGHTS if default else Path(path)
    if not file.is_file():
        raise ClassifierWeightsError(f"{file}: classifier weights not found. {_REGENERATE}")
    where = "the sha256 you passed"
    if sha256 == "recorded":
        if default:
            sha256, where = WEIGHTS_SHA256, "WEIGHTS_SHA256 in minigan/metrics/classifier.py"
        else:
            sha256, where = _recorded_sha256(file), f"{file.with_suffix('.json').name}"
    digest = file_sha256(file)
    if sha256 is not None and digest != sha256:
        raise ClassifierWeightsError(
            f"{file}: sha256 mismatch: the file hashes to {digest}, but the expected "
            f"sha256 (recorded in {where}) is {sha256}. The file does not match the expected "
            f"weights (corrupt, truncated or replaced). {_REGENERATE}"
        )
    try:
        with np.load(file, allow_pickle=False) as data:
            arrays = {k: data[k] for k in data.files}
    except Exception as exc:  # BadZipFile, ValueError, OSError, ...
        raise ClassifierWeightsError(
            f"{file}: cannot read the weights ({type(exc).__name__}: {exc}). {_REGENERATE}"
        ) from exc
    arch = str(arrays.pop("__arch__", ""))
    if arch != ARCH:
        raise ClassifierWeightsError(
            f"{file}: architecture {arch!r}, expected {ARCH!r}. {_REGENERATE}"
        )
    *widths, hidden = (int(v) for v in arrays.pop("__widths__"))
    model = _new_classifier(tuple(widths), hidden)
    try:
        model.load_state_dict(arrays)
    except (KeyError, ValueError) as exc:
        raise ClassifierWeightsError(f"{file}: {exc}. {_REGENERATE}") from exc
    model.eval()
    model.sha256 = digest
    return model.to(device)
