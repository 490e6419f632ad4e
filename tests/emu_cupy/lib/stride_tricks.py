# tests/emu_cupy/lib/stride_tricks.py: the stand-in's `cupy.lib.stride_tricks.as_strided`
# (NumPy's: the stand-in's device arrays are NumPy arrays, strides in bytes as in CuPy).
"""cupy.lib.stride_tricks of the CuPy stand-in."""

from __future__ import annotations

from typing import Any

import numpy as np


def as_strided(
    x: np.ndarray, shape: tuple[int, ...] | None = None, strides: tuple[int, ...] | None = None
) -> Any:
    """A view of x with the given shape and strides (bytes), no copy."""
    return np.lib.stride_tricks.as_strided(x, shape=shape, strides=strides)


__all__ = ["as_strided"]
