# minigan/data/loader.py: DataLoader (minibatches over numpy arrays, with a
# reproducible per-epoch shuffle) and scale_images (uint8 pixels -> floats).
"""Minibatch iteration and pixel scaling for numpy datasets."""

from __future__ import annotations

import math
from collections.abc import Iterator

import numpy as np

__all__ = ["DataLoader", "scale_images"]


class DataLoader:
    """Iterate over equal-length numpy arrays in minibatches.

    ``for (x,) in DataLoader(images)`` / ``for x, y in DataLoader(images, labels)``:
    every batch is a *tuple* with one slice per array, even for a single array.

    Shuffling is reproducible: epoch ``e`` uses the permutation drawn from
    ``np.random.default_rng([seed, e])``. The loader's ``epoch`` counter starts at 0
    and goes up by one after each *complete* pass (a pass left early with ``break``
    does not count). ``set_epoch(e)`` sets it, so a run resumed at epoch ``e`` sees
    exactly the batches an uninterrupted run would have seen.

    Without shuffling batches are views into the arrays; with shuffling they are
    fresh copies (fancy indexing).
    """

    def __init__(
        self,
        *arrays: np.ndarray,
        batch_size: int = 128,
        shuffle: bool = True,
        seed: int = 0,
        drop_last: bool = False,
    ) -> None:
        if not arrays:
            raise ValueError("DataLoader needs at least one array")
        arrays = tuple(np.asarray(a) for a in arrays)
        if any(a.ndim == 0 for a in arrays):
            raise ValueError("DataLoader arrays must have a leading (sample) dimension")
        lengths = [len(a) for a in arrays]
        if len(set(lengths)) != 1:
            raise ValueError(f"DataLoader arrays must have equal lengths, got {lengths}")
        if int(batch_size) != batch_size or batch_size < 1:
            raise ValueError(f"batch_size must be an integer >= 1, got {batch_size!r}")
        if int(seed) != seed or seed < 0:
            raise ValueError(f"seed must be an integer >= 0, got {seed!r}")
        self.arrays = arrays
        self.batch_size = int(batch_size)
        self.shuffle = bool(shuffle)
        self.seed = int(seed)
        self.drop_last = bool(drop_last)
        self.epoch = 0

    @property
    def num_samples(self) -> int:
        """Number of samples (the common length of the arrays)."""
        return len(self.arrays[0])

    def __len__(self) -> int:
        """Number of batches per epoch."""
        if self.drop_last:
            return self.num_samples // self.batch_size
        return math.ceil(self.num_samples / self.batch_size)

    def set_epoch(self, epoch: int) -> None:
        """Set the epoch counter that picks the next pass's shuffle order."""
        if int(epoch) != epoch or epoch < 0:
            raise ValueError(f"epoch must be an integer >= 0, got {epoch!r}")
        self.epoch = int(epoch)

    def order(self, epoch: int | None = None) -> np.ndarray | None:
        """Return the sample permutation for ``epoch`` (default: the current one).

        ``None`` when not shuffling (samples go in their stored order).
        """
        if not self.shuffle:
            return None
        epoch = self.epoch if epoch is None else epoch
        return np.random.default_rng([self.seed, epoch]).permutation(self.num_samples)

    def __iter__(self) -> Iterator[tuple[np.ndarray, ...]]:
        """Yield one tuple of array slices per batch; count the epoch when done."""
        epoch = self.epoch
        return self._batches(self.order(epoch), epoch)

    def _batches(self, order: np.ndarray | None, epoch: int) -> Iterator[tuple[np.ndarray, ...]]:
        for b in range(len(self)):
            start = b * self.batch_size
            stop = min(start + self.batch_size, self.num_samples)
            index = slice(start, stop) if order is None else order[start:stop]
            yield tuple(a[index] for a in self.arrays)
        self.epoch = epoch + 1


def scale_images(
    images: np.ndarray, value_range: str = "tanh", dtype: np.dtype | type = np.float32
) -> np.ndarray:
    """Map uint8 pixels (0..255) to floats; the shape is unchanged (no flattening).

    Args:
        images: uint8 array of any shape. Other dtypes are refused, which catches
            scaling the same images twice.
        value_range: ``"tanh"`` -> [-1, 1] (``x / 127.5 - 1``, matches a tanh
            generator output) or ``"unit"`` -> [0, 1] (``x / 255``, matches sigmoid).
        dtype: a floating dtype for the result.
    """
    images = np.asarray(images)
    if images.dtype != np.uint8:
        raise TypeError(f"scale_images expects uint8 pixels, got {images.dtype}")
    if not np.issubdtype(np.dtype(dtype), np.floating):
        raise TypeError(f"dtype must be a floating dtype, got {np.dtype(dtype)}")
    if value_range not in ("tanh", "unit"):
        raise ValueError(f"value_range must be 'tanh' or 'unit', got {value_range!r}")
    out = images.astype(dtype)
    if value_range == "tanh":
        out /= 127.5
        out -= 1.0
    else:
        out /= 255.0
    return out
