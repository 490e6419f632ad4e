# Devices: the names "cpu" and "cuda", and how to get the array module (numpy or cupy)
# that owns an array. CuPy is imported lazily so minigan imports on machines without it.
from __future__ import annotations

import functools
from typing import Any

import numpy as np

DEVICES = ("cpu", "cuda")


@functools.lru_cache(maxsize=1)
def _cupy_or_reason() -> tuple[Any, str]:
    """Return (cupy module, "") if CuPy imports and sees a GPU, else (None, why not)."""
    try:
        import cupy  # noqa: PLC0415 - optional dependency, imported on first use
    except Exception as exc:  # ImportError, or a broken CUDA install
        return None, f"cupy is not importable ({type(exc).__name__}: {exc})"
    try:
        count = cupy.cuda.runtime.getDeviceCount()
    except Exception as exc:
        return None, f"cupy found no usable CUDA driver/GPU ({type(exc).__name__}: {exc})"
    if count < 1:
        return None, "cupy sees no CUDA GPU"
    return cupy, ""


def cuda_is_available() -> bool:
    """True when CuPy is installed and at least one CUDA GPU can be used."""
    return _cupy_or_reason()[0] is not None


def cuda_unavailable_reason() -> str:
    """Why `cuda_is_available()` is False ("" when it is True)."""
    return _cupy_or_reason()[1]


def cupy_module() -> Any:
    """The cupy module; raises RuntimeError with the reason when CUDA cannot be used."""
    cp, why = _cupy_or_reason()
    if cp is None:
        raise RuntimeError(f"device 'cuda' is not available: {why}")
    return cp


def normalize_device(device: str | None) -> str:
    """Validate a device name. None means "cpu"; "cuda:0" is accepted as "cuda"."""
    if device is None:
        return "cpu"
    name = str(device).lower()
    if name.startswith("cuda"):
        name = "cuda"
    if name not in DEVICES:
        raise ValueError(f"unknown device {device!r}; expected one of {DEVICES}")
    return name


def resolve_device(device: str) -> tuple[str, str]:
    """Turn a user's choice in {auto, cpu, cuda} into a device and a sentence explaining it.

    "auto" picks "cuda" when a usable GPU exists, else "cpu". "cuda" without a GPU raises
    RuntimeError with the reason, so command-line tools can print it.
    """
    choice = str(device).lower()
    if choice == "auto":
        if cuda_is_available():
            return "cuda", "auto: using cuda (a CUDA GPU is available)"
        return "cpu", f"auto: using cpu ({cuda_unavailable_reason()})"
    name = normalize_device(choice)
    if name == "cuda" and not cuda_is_available():
        raise RuntimeError(
            f"--device cuda was requested but CUDA is not usable: {cuda_unavailable_reason()}. "
            "Use --device cpu (or auto)."
        )
    return name, f"using {name}"


def device_of(array: Any) -> str:
    """ "cpu" for NumPy arrays (and scalars), "cuda" for CuPy arrays."""
    if isinstance(array, np.ndarray | np.generic):
        return "cpu"
    if type(array).__module__.startswith("cupy"):
        return "cuda"
    return "cpu"


def array_module(device: str) -> Any:
    """numpy for "cpu", cupy for "cuda"."""
    return np if device == "cpu" else cupy_module()


def array_module_of(array: Any) -> Any:
    """numpy or cupy, whichever owns `array`."""
    return np if isinstance(array, np.ndarray | np.generic) else array_module(device_of(array))
