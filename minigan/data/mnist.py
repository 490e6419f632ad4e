# minigan/data/mnist.py: MNIST loading (file names, known md5s, where the data
# directory is) and a generic loader for any images+labels pair of IDX files.
"""Load MNIST (or any dataset laid out like it) as uint8 numpy arrays.

The data directory is, in order: the ``data_dir`` argument; the ``MINIGAN_DATA_DIR``
environment variable; the repository's own ``data/mnist``. Each file may be stored
raw or gzip-compressed (``name`` or ``name.gz``). Nothing is cached: a full train
set load takes well under a second.

Other data in MNIST's format (Fashion-MNIST, KMNIST, your own 28x28 digits, with MNIST's
file names) loads too: files whose md5 is MNIST's are MNIST; files the library does not
recognise are checked for format (IDX magic, uint8 28x28 images, 1-D uint8 labels in
0..9, as many labels as images, no truncation) and announced once per process with an
``UnrecognisedDataWarning``, not rejected. A pair with one MNIST file and one
mismatching file, or a mismatch in the packaged ``data/mnist``, is a corrupt copy of
MNIST and is refused. See docs/data.md.
"""

from __future__ import annotations

import os
import warnings
from pathlib import Path

import numpy as np

from .idx import FIX_HINT, DatasetError, DatasetNotFoundError, idx_magic, read_idx, read_idx_md5

__all__ = [
    "DATA_DIR_ENV",
    "MNIST_FILES",
    "MNIST_MD5",
    "NUM_CLASSES",
    "UnrecognisedDataWarning",
    "default_data_dir",
    "load_idx_dataset",
    "load_mnist",
]

#: Environment variable that overrides the default data directory.
DATA_DIR_ENV = "MINIGAN_DATA_DIR"

#: split -> (images file, labels file), standard names without ``.gz``.
MNIST_FILES: dict[str, tuple[str, str]] = {
    "train": ("train-images-idx3-ubyte", "train-labels-idx1-ubyte"),
    "test": ("t10k-images-idx3-ubyte", "t10k-labels-idx1-ubyte"),
}

#: md5 of the *uncompressed* official MNIST files.
MNIST_MD5: dict[str, str] = {
    "train-images-idx3-ubyte": "6bbc9ace898e44ae57da46a324031adb",
    "train-labels-idx1-ubyte": "a25bea736e30d166cdddb491f175f624",
    "t10k-images-idx3-ubyte": "2646ac647ad5339dbf082846283269ea",
    "t10k-labels-idx1-ubyte": "27ae3e4e09519cfbb04c329615203637",
}

#: Labels of MNIST-format data must be in 0..NUM_CLASSES-1 (the models have 10 classes).
NUM_CLASSES = 10

#: IDX magic numbers of MNIST's files: uint8 (0x08) with 3 dimensions / 1 dimension.
IMAGES_MAGIC = 0x00000803
LABELS_MAGIC = 0x00000801

_REPO_DATA_DIR = Path(__file__).resolve().parents[2] / "data" / "mnist"

#: (directory, split, images md5, labels md5) of the unrecognised data already announced.
_announced: set[tuple[str, str, str, str]] = set()


class UnrecognisedDataWarning(UserWarning):
    """MNIST-format data whose files are not MNIST's (by md5) was loaded."""


def default_data_dir() -> Path:
    """Return the directory MNIST is read from when no ``data_dir`` is given.

    ``$MINIGAN_DATA_DIR`` wins if set; it must then exist (a typo should fail
    loudly rather than silently fall back to other data). Otherwise the repository's
    ``data/mnist`` is used.

    Raises:
        DatasetNotFoundError: nothing usable was found; the message lists the
            places looked at.
    """
    env = os.environ.get(DATA_DIR_ENV)
    if env:
        env_dir = Path(env).expanduser()
        if env_dir.is_dir():
            return env_dir
        raise DatasetNotFoundError(
            f"${DATA_DIR_ENV} is set to {env!r} but that is not a directory. "
            f"Fix the variable, or unset it to use {_REPO_DATA_DIR}."
        )
    if _REPO_DATA_DIR.is_dir():
        return _REPO_DATA_DIR
    raise DatasetNotFoundError(
        "no MNIST data directory found. Looked at: "
        f"${DATA_DIR_ENV} (not set); {_REPO_DATA_DIR} (missing). "
        "Copy ../shared/data/mnist into data/mnist, or pass --data-dir / set "
        f"{DATA_DIR_ENV}."
    )


def _find_file(data_dir: Path, name: str) -> Path:
    """Return ``data_dir/name`` or ``data_dir/name.gz``, preferring the raw file."""
    candidates = [data_dir / name, data_dir / f"{name}.gz"]
    for candidate in candidates:
        if candidate.is_file():
            return candidate
    raise DatasetNotFoundError(
        f"{name}: not found; looked for {candidates[0]} and {candidates[1]}. {FIX_HINT}"
    )


def load_idx_dataset(
    images_path: str | os.PathLike,
    labels_path: str | os.PathLike,
    images_md5: str | None = None,
    labels_md5: str | None = None,
) -> tuple[np.ndarray, np.ndarray]:
    """Load an (images, labels) pair of IDX files and check they belong together.

    Returns:
        ``(images, labels)``: images of shape ``(N, ...)``, labels of shape ``(N,)``.

    Raises:
        DatasetError: a file is bad (see ``read_idx``), labels are not 1-D, or the
            two files hold different numbers of items.
    """
    images = read_idx(images_path, expected_md5=images_md5)
    labels = read_idx(labels_path, expected_md5=labels_md5)
    if labels.ndim != 1:
        raise DatasetError(
            f"{labels_path}: labels must be 1-D but have shape {labels.shape} "
            "(images and labels files swapped?)."
        )
    if images.ndim < 2:
        raise DatasetError(
            f"{images_path}: images must have at least 2 dimensions (N, ...) but have "
            f"shape {images.shape} (images and labels files swapped?)."
        )
    if len(images) != len(labels):
        raise DatasetError(
            f"count mismatch: {images_path} has {len(images)} images but "
            f"{labels_path} has {len(labels)} labels; they must come from the same "
            "split."
        )
    return images, labels


def _check_mnist_format(
    images_path: Path, images: np.ndarray, labels_path: Path, labels: np.ndarray
) -> None:
    """Refuse anything that is not an MNIST-format (images, labels) pair; messages name
    the file. Truncation and bad IDX headers were already refused by the reader."""
    for path, array, magic, what, layout in (
        (images_path, images, IMAGES_MAGIC, "images", "3 dimensions: N x 28 x 28"),
        (labels_path, labels, LABELS_MAGIC, "labels", "1 dimension: N"),
    ):
        found = idx_magic(array)
        if found != magic:
            swapped = found in (IMAGES_MAGIC, LABELS_MAGIC)
            raise DatasetError(
                f"{path}: not an MNIST-format {what} file: its IDX magic is 0x{found:08x} "
                f"({array.dtype}, shape {array.shape}), expected 0x{magic:08x} (uint8, "
                f"{layout}){'; images and labels files swapped?' if swapped else ''}. "
                f"{FIX_HINT}"
            )
    if images.shape[1:] != (28, 28):
        raise DatasetError(
            f"{images_path}: expected uint8 images of shape (N, 28, 28), got "
            f"{images.dtype} {images.shape}: minigan's models and metric take 28x28 images."
        )
    if len(images) != len(labels):
        raise DatasetError(
            f"count mismatch: {images_path} has {len(images)} images but "
            f"{labels_path} has {len(labels)} labels; they must come from the same split."
        )
    if len(images) == 0:
        raise DatasetError(f"{images_path}: the data set is empty (0 images).")
    lo, hi = int(labels.min()), int(labels.max())
    if hi >= NUM_CLASSES:
        raise DatasetError(
            f"{labels_path}: label values must be in 0..{NUM_CLASSES - 1} (MNIST-format data "
            f"has {NUM_CLASSES} classes) but range over {lo}..{hi}."
        )


def load_mnist(
    split: str = "train",
    data_dir: str | os.PathLike | None = None,
    verify: bool = True,
) -> tuple[np.ndarray, np.ndarray]:
    """Load an MNIST split (or the same split of a data set in MNIST's format).

    Args:
        split: ``"train"`` (60000 items) or ``"test"`` (10000 items).
        data_dir: directory holding the standard files (raw or ``.gz``);
            ``None`` means ``default_data_dir()``.
        verify: compare each file's md5 with ``MNIST_MD5``. If both files are MNIST's,
            that is MNIST. If neither is (e.g. Fashion-MNIST, which uses the same file
            names), the data is format-checked and announced once with an
            ``UnrecognisedDataWarning``. If only one is, or the directory is the packaged
            ``data/mnist``, the mismatching file is a corrupt copy and is refused.
            ``False`` skips the md5s (format checks only, no announcement).

    Returns:
        ``images`` uint8 of shape ``(N, 28, 28)``, ``labels`` uint8 of shape ``(N,)``.

    Raises:
        ValueError: unknown ``split``.
        DatasetNotFoundError: the directory or a file is missing.
        DatasetError: a file is corrupt (bad gzip, bad IDX magic, truncated), is not
            MNIST-format (not uint8 28x28 images, labels not 1-D or outside 0..9, label
            count != image count), or is a corrupt copy of an MNIST file (md5, see
            ``verify``). Every message names the file.
    """
    if split not in MNIST_FILES:
        raise ValueError(f"split must be one of {sorted(MNIST_FILES)}, got {split!r}")
    if data_dir is None:
        root = default_data_dir()
    else:
        root = Path(data_dir).expanduser()
        if not root.is_dir():
            raise DatasetNotFoundError(
                f"data directory {root} does not exist or is not a directory. {FIX_HINT}"
            )
    images_name, labels_name = MNIST_FILES[split]
    images_path = _find_file(root, images_name)
    labels_path = _find_file(root, labels_name)
    if not verify:
        images, labels = read_idx(images_path), read_idx(labels_path)
        _check_mnist_format(images_path, images, labels_path, labels)
        return images, labels
    images, images_md5 = read_idx_md5(images_path)
    labels, labels_md5 = read_idx_md5(labels_path)
    _check_mnist_format(images_path, images, labels_path, labels)
    known = {
        images_path: images_md5 == MNIST_MD5[images_name],
        labels_path: labels_md5 == MNIST_MD5[labels_name],
    }
    if all(known.values()):
        return images, labels
    packaged = root.resolve() == _REPO_DATA_DIR.resolve()
    if packaged or any(known.values()):
        path, name, actual = next(
            (p, n, m)
            for p, n, m in (
                (images_path, images_name, images_md5),
                (labels_path, labels_name, labels_md5),
            )
            if not known[p]
        )
        why = (
            f"{root} is the packaged MNIST directory"
            if packaged
            else f"its partner {next(p for p in known if known[p]).name} is MNIST's own file"
        )
        raise DatasetError(
            f"{path}: md5 mismatch: the uncompressed content hashes to {actual}, expected "
            f"MNIST's {MNIST_MD5[name]}. The file is a corrupt copy of MNIST ({why}; other "
            f"MNIST-format data sets are accepted only from a directory of your own, with "
            f"none of MNIST's files). {FIX_HINT}"
        )
    key = (str(root.resolve()), split, images_md5, labels_md5)
    if key not in _announced:
        _announced.add(key)
        kind = "training" if split == "train" else "test"
        warnings.warn(
            f"using unrecognised IDX data from {root}: {len(images)} {kind} images "
            f"(28x28), labels {int(labels.min())}..{int(labels.max())}. Its files "
            f"({images_path.name}, {labels_path.name}) are MNIST-format but not MNIST "
            f"(md5 {images_md5}, {labels_md5}); if you meant MNIST, they are corrupt. "
            f"The metric's classifier (minigan.metrics) is trained on MNIST digits.",
            UnrecognisedDataWarning,
            stacklevel=2,
        )
    return images, labels
