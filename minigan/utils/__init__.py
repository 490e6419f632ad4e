# minigan/utils/__init__.py: the public utils API (image grids/PNGs and
# checkpoints in a format that cannot run code).
"""Helpers around training: image grids, PNG output and checkpoints."""

from .checkpoint import (
    CheckpointError,
    CheckpointNotFoundError,
    CheckpointTypeError,
    atomic_write,
    load,
    load_checkpoint,
    save,
    save_checkpoint,
)
from .images import make_grid, save_image_grid, to_uint8

__all__ = [
    "CheckpointError",
    "CheckpointNotFoundError",
    "CheckpointTypeError",
    "atomic_write",
    "load",
    "load_checkpoint",
    "make_grid",
    "save",
    "save_checkpoint",
    "save_image_grid",
    "to_uint8",
]
