# Random numbers: one global NumPy Generator for the cpu device (and a CuPy one for cuda),
# seeded by `manual_seed`, with get/set of the state so checkpoints resume exactly.
from __future__ import annotations

from typing import Any

import numpy as np

from .device import cuda_is_available, cupy_module

_state: dict[str, Any] = {"seed": 0, "cpu": np.random.default_rng(0), "cuda": None}


def manual_seed(seed: int) -> None:
    """Seed every random stream minigan uses (parameter init, dropout, noise, shuffles)."""
    seed = int(seed)
    _state["seed"] = seed
    _state["cpu"] = np.random.default_rng(seed)
    _state["cuda"] = None  # re-created lazily from the seed on first cuda use


def cpu_generator() -> np.random.Generator:
    """The global NumPy Generator behind every random draw on the cpu device."""
    return _state["cpu"]


def cuda_generator() -> Any:
    """The global CuPy Generator for the cuda device (created from the seed on first use)."""
    if _state["cuda"] is None:
        cp = cupy_module()
        _state["cuda"] = cp.random.default_rng(_state["seed"])
    return _state["cuda"]


def generator(device: str) -> Any:
    """The generator for `device` ("cpu" or "cuda")."""
    return cpu_generator() if device == "cpu" else cuda_generator()


def get_rng_state() -> dict[str, Any]:
    """A picklable snapshot of every random stream (stored in checkpoints)."""
    state: dict[str, Any] = {"seed": _state["seed"], "cpu": _state["cpu"].bit_generator.state}
    if _state["cuda"] is not None:
        state["cuda"] = _state["cuda"].bit_generator.state
    return state


def set_rng_state(state: dict[str, Any]) -> None:
    """Restore what `get_rng_state` returned."""
    _state["seed"] = int(state["seed"])
    _state["cpu"] = np.random.default_rng()
    _state["cpu"].bit_generator.state = state["cpu"]
    _state["cuda"] = None
    if "cuda" in state and cuda_is_available():
        gen = cuda_generator()
        gen.bit_generator.state = state["cuda"]
