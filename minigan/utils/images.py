# minigan/utils/images.py: turning generator outputs into pixels: to_uint8,
# make_grid (tile images into one array) and save_image_grid (write a PNG).
"""Convert float images to uint8, tile them into a grid, and save it as a PNG."""

from __future__ import annotations

import math
import os
from pathlib import Path

import numpy as np
from PIL import Image

from .checkpoint import atomic_write

__all__ = ["make_grid", "save_image_grid", "to_uint8"]

_RANGES = ("tanh", "unit")


def to_uint8(images: np.ndarray, value_range: str = "tanh") -> np.ndarray:
    """Map float images to uint8 pixels: scale, clip to [0, 255], round.

    Args:
        images: float array of any shape (numpy; convert GPU arrays first). A uint8
            array is taken to be pixels already and is returned as a copy.
        value_range: ``"tanh"`` for values in [-1, 1], ``"unit"`` for [0, 1].
            Values outside the range are clipped; NaN becomes 0 (black).
    """
    if value_range not in _RANGES:
        raise ValueError(f"value_range must be 'tanh' or 'unit', got {value_range!r}")
    images = np.asarray(images)
    if images.dtype == np.uint8:
        return images.copy()
    x = images.astype(np.float64)
    x = (x + 1.0) * 127.5 if value_range == "tanh" else x * 255.0
    x = np.nan_to_num(x, nan=0.0, posinf=255.0, neginf=0.0)
    return np.rint(np.clip(x, 0.0, 255.0)).astype(np.uint8)


def _as_nhw(images: np.ndarray, image_shape: tuple[int, int] | None) -> np.ndarray:
    """Bring (N,H,W), (N,1,H,W) or (N,D)+image_shape to (N,H,W)."""
    if image_shape is not None:
        h, w = image_shape
        if images.ndim < 2 or math.prod(images.shape[1:]) != h * w:
            raise ValueError(f"cannot view images of shape {images.shape} as (N, {h}, {w})")
        return images.reshape(len(images), h, w)
    if images.ndim == 4 and images.shape[1] == 1:
        return images[:, 0]
    if images.ndim == 3:
        return images
    if images.ndim == 2:
        raise ValueError(
            f"flat images of shape {images.shape} need image_shape=(H, W), e.g. (28, 28)"
        )
    raise ValueError(f"expected grayscale images (N,H,W) or (N,1,H,W), got shape {images.shape}")


def make_grid(
    images: np.ndarray,
    nrow: int = 8,
    padding: int = 2,
    pad_value: int = 0,
    image_shape: tuple[int, int] | None = None,
    value_range: str = "tanh",
) -> np.ndarray:
    """Tile N grayscale images into one uint8 image, ``nrow`` images per row.

    Image ``i`` goes to grid row ``i // ncol``, column ``i % ncol`` where
    ``ncol = min(nrow, N)``; there is ``padding`` pixels of ``pad_value`` around and
    between images, and unused cells are ``pad_value`` too. So for rows
    ``R = ceil(N / ncol)`` the result has shape
    ``(R * (H + padding) + padding, ncol * (W + padding) + padding)``.

    Args:
        images: (N, H, W), (N, 1, H, W), or (N, H*W) with ``image_shape=(H, W)``.
            Floats are converted with ``to_uint8(images, value_range)``.
        nrow: images per grid row (torchvision's meaning).
        padding: pixels between and around images.
        pad_value: the uint8 value (0..255) of the padding.
        image_shape: (H, W) to reshape each image to; required for flat input.
        value_range: range of float input, ``"tanh"`` or ``"unit"``.
    """
    if nrow < 1:
        raise ValueError(f"nrow must be >= 1, got {nrow}")
    if padding < 0:
        raise ValueError(f"padding must be >= 0, got {padding}")
    if not 0 <= pad_value <= 255:
        raise ValueError(f"pad_value must be in 0..255, got {pad_value}")
    x = _as_nhw(to_uint8(images, value_range), image_shape)
    n, h, w = x.shape
    if n == 0:
        raise ValueError("make_grid needs at least one image")
    ncol = min(nrow, n)
    rows = math.ceil(n / ncol)
    grid = np.full(
        (rows * (h + padding) + padding, ncol * (w + padding) + padding),
        pad_value,
        dtype=np.uint8,
    )
    for i in range(n):
        top = padding + (i // ncol) * (h + padding)
        left = padding + (i % ncol) * (w + padding)
        grid[top : top + h, left : left + w] = x[i]
    return grid


def save_image_grid(
    images: np.ndarray,
    path: str | os.PathLike,
    nrow: int = 8,
    value_range: str = "tanh",
    scale: int = 1,
    padding: int = 2,
    pad_value: int = 0,
    image_shape: tuple[int, int] | None = None,
) -> Path:
    """Write ``make_grid(images, ...)`` as a grayscale PNG and return its path.

    ``scale`` enlarges the grid by an integer factor (nearest neighbour), handy for
    28x28 digits. The parent directory is created; the file is written atomically
    (temp file + ``os.replace``), so a viewer never sees half a PNG.
    """
    if int(scale) != scale or scale < 1:
        raise ValueError(f"scale must be an integer >= 1, got {scale!r}")
    grid = make_grid(
        images,
        nrow=nrow,
        padding=padding,
        pad_value=pad_value,
        image_shape=image_shape,
        value_range=value_range,
    )
    if scale > 1:
        grid = grid.repeat(int(scale), axis=0).repeat(int(scale), axis=1)
    path = Path(path)
    with atomic_write(path) as f:
        Image.fromarray(grid).save(f, format="PNG")
    return path
