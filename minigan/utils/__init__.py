# minigan/utils/__init__.py: the public utils API (image grids/PNGs and
# crash-safe checkpoints).
"""Helpers around training: image grids, PNG output and checkpoints."""

from .checkpoint import (
    CheckpointError,
    CheckpointNotFoundError,
    atomic_write,
    load_checkpoint,
    save_checkpoint,
)
from .images import make_grid, save_image_grid, to_uint8

__all__ = [
    "CheckpointError",
    "CheckpointNotFoundError",
    "atomic_write",
    "load_checkpoint",
    "make_grid",
    "save_checkpoint",
    "save_image_grid",
    "to_uint8",
]
