# tests/emu_cupy/lib: the stand-in's `cupy.lib` (only stride_tricks).
"""cupy.lib of the CuPy stand-in."""

from __future__ import annotations

from . import stride_tricks

__all__ = ["stride_tricks"]
