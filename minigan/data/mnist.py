# minigan/data/mnist.py: MNIST loading (file names, known md5s, where the data
# directory is) and a generic loader for any images+labels pair of IDX files.
"""Load MNIST (or any dataset laid out like it) as uint8 numpy arrays.

The data directory is, in order: the ``data_dir`` argument; the ``MINIGAN_DATA_DIR``
environment variable; the repository's own ``data/mnist``. Each file may be stored
raw or gzip-compressed (``name`` or ``name.gz``). Nothing is cached: a full train
set load takes well under a second.
"""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np

from .idx import FIX_HINT, DatasetError, DatasetNotFoundError, read_idx

__all__ = [
    "DATA_DIR_ENV",
    "MNIST_FILES",
    "MNIST_MD5",
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

_REPO_DATA_DIR = Path(__file__).resolve().parents[2] / "data" / "mnist"


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


def load_mnist(
    split: str = "train",
    data_dir: str | os.PathLike | None = None,
    verify: bool = True,
) -> tuple[np.ndarray, np.ndarray]:
    """Load an MNIST split as ``(images, labels)``.

    Args:
        split: ``"train"`` (60000 items) or ``"test"`` (10000 items).
        data_dir: directory holding the four standard files (raw or ``.gz``);
            ``None`` means ``default_data_dir()``.
        verify: check each file's md5 against ``MNIST_MD5``. Pass ``False`` for a
            dataset with the same layout but other content (e.g. Fashion-MNIST).

    Returns:
        ``images`` uint8 of shape ``(N, 28, 28)``, ``labels`` uint8 of shape ``(N,)``.

    Raises:
        ValueError: unknown ``split``.
        DatasetNotFoundError: the directory or a file is missing.
        DatasetError: a file is corrupt, fails the md5 check, or has the wrong shape.
    """
    if split not in MNIST_FILES:
        raise ValueError(f"split must be one of {sorted(MNIST_FILES)}, got {split!r}")
    if data_dir is None:
        root = default_data_dir()
    else:
        root = Path(data_dir).expanduser()
        if not root.is_dir():
            raise DatasetNotFoundError(
                f"data directory {root} does not exist or is not a directory. "
                f"{FIX_HINT}"
            )
    images_name, labels_name = MNIST_FILES[split]
    images_path = _find_file(root, images_name)
    labels_path = _find_file(root, labels_name)
    images, labels = load_idx_dataset(
        images_path,
        labels_path,
        images_md5=MNIST_MD5[images_name] if verify else None,
        labels_md5=MNIST_MD5[labels_name] if verify else None,
    )
    if images.dtype != np.uint8 or images.shape[1:] != (28, 28):
        raise DatasetError(
            f"{images_path}: expected uint8 images of shape (N, 28, 28), got "
            f"{images.dtype} {images.shape}."
        )
    if labels.dtype != np.uint8:
        raise DatasetError(f"{labels_path}: expected uint8 labels, got {labels.dtype}.")
    return images, labels
