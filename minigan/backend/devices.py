# Devices, in one place: the names "cpu" and "cuda", the probe that decides whether CUDA can be
# used (import CuPy, ask it for GPUs; once, cached, with the reason when it cannot and what to
# do about it), the array module of a device (numpy or cupy), and the moves of arrays between
# host and GPU. Every other module (tensor, ops, optimizers, random, tracing, the CuPy and CUDA
# backends, the examples through minigan.device) asks here instead of probing on its own.
"""Device probing and host <-> device transfers.

minigan has two devices: ``"cpu"`` holds NumPy arrays and ``"cuda"`` holds CuPy arrays.
Whether ``"cuda"`` can be used is decided once per process by :func:`probe` (CuPy must
import and ``cupy.cuda.runtime.getDeviceCount()`` must report a GPU); the result, including
why it failed, is cached until :func:`reset` (tests that fake a CuPy module call it).

Transfers::

    to_numpy(a)                 NumPy array with a's values (a itself when it already is one)
    to_device(a, "cuda")        a CuPy array (host -> device copy)
    to_device(a, "cpu", dtype)  a NumPy array (device -> host copy, then the dtype)

CuPy is imported lazily, here only, so minigan imports on machines without it. This module
sits at the bottom of the package (it imports nothing of minigan): the backends use it, and
``minigan.device`` re-exports it for everything above.
"""

from __future__ import annotations

import functools
import importlib
from dataclasses import dataclass
from typing import Any

import numpy as np

__all__ = [
    "DEVICES",
    "CudaProbe",
    "array_module",
    "array_module_of",
    "cuda_is_available",
    "cuda_unavailable_reason",
    "cupy_module",
    "device_of",
    "imported_cupy",
    "normalize_device",
    "probe",
    "reset",
    "resolve_device",
    "to_device",
    "to_numpy",
]

DEVICES = ("cpu", "cuda")

# What to do when CuPy is missing, or installed but unable to reach a GPU.
INSTALL_ADVICE = (
    "Install CuPy for your CUDA driver: `pip install cupy-cuda13x` (CUDA 13 driver) or "
    "`pip install cupy-cuda12x` (CUDA 12), or minigan's `[cuda]` extra."
)
DRIVER_ADVICE = (
    "Check that an NVIDIA driver is installed and that `nvidia-smi` lists a GPU, and that "
    "the CuPy package matches the CUDA major version the driver supports (cupy-cuda13x "
    "needs a CUDA 13 driver, 580 or newer; with a CUDA 12 driver install cupy-cuda12x)."
)
NO_GPU_ADVICE = (
    "Check that `nvidia-smi` lists a GPU and that CUDA_VISIBLE_DEVICES does not hide it."
)


# ----------------------------------------------------------------------------------
# The probe
# ----------------------------------------------------------------------------------


@dataclass(frozen=True)
class CudaProbe:
    """What probing for CUDA found.

    Attributes:
      cupy: the cupy module when a GPU is usable through it, else None.
      cupy_version: the version of an importable CuPy ("" when it does not import).
      reason: why "cuda" cannot be used, one clause ("" when it can).
      advice: what the user can do about it ("" when there is nothing to do).
    """

    cupy: Any
    cupy_version: str
    reason: str
    advice: str

    @property
    def usable(self) -> bool:
        return self.cupy is not None

    def explain(self, what: str, fallback: str = "") -> str:
        """ "<what>: <reason>", then the advice and `fallback` (each a sentence) if any."""
        message = f"{what}: {self.reason}"
        extra = " ".join(part for part in (self.advice, fallback) if part)
        return f"{message}. {extra}" if extra else message


def _import_cupy() -> tuple[Any, str]:
    """(cupy, "") when CuPy imports, else (None, why not). Importing needs no GPU.

    Not cached here (Python's module cache keeps a successful import): the probe caches its
    own verdict, and a module importing CuPy at its import time gets the `cupy` of that
    moment (tests/emu_cupy installs a stand-in for one test and reloads cupy_kernels)."""
    try:
        cupy = importlib.import_module("cupy")
    except Exception as exc:  # ImportError, or a broken CUDA install failing on import
        return None, f"cupy is not importable ({type(exc).__name__}: {exc})"
    return cupy, ""


def imported_cupy() -> Any:
    """The cupy module if it imports now (whether or not a GPU is usable), else None. Use
    `cupy_module()` to get CuPy for computing: it also checks that a GPU is usable."""
    return _import_cupy()[0]


def _cuda_version(cupy: Any, getter: str) -> int | None:
    """cupy.cuda.runtime.<getter>() (1000*major + 10*minor), or None when CuPy cannot say."""
    try:
        return int(getattr(cupy.cuda.runtime, getter)())
    except Exception:  # noqa: BLE001 - an old or a fake CuPy, a missing library: say nothing
        return None


def _cuda_text(version: int) -> str:
    return f"CUDA {version // 1000}.{version % 1000 // 10}"


@functools.lru_cache(maxsize=1)
def probe() -> CudaProbe:
    """Find out (once; cached until `reset`) whether the "cuda" device can be used.

    Usable means: ``import cupy`` works and ``cupy.cuda.runtime.getDeviceCount() >= 1``.
    Otherwise the result says why (CuPy missing; CuPy installed, with its version, but the
    CUDA error it got from the driver; or no GPU) and what to do about it.
    """
    cupy, why = _import_cupy()
    if cupy is None:
        return CudaProbe(None, "", why, INSTALL_ADVICE)
    version = str(getattr(cupy, "__version__", "?"))
    try:
        count = int(cupy.cuda.runtime.getDeviceCount())
    except Exception as exc:  # no driver, a driver too old for this CuPy, no device node, ...
        runtime = _cuda_version(cupy, "runtimeGetVersion")
        driver = _cuda_version(cupy, "driverGetVersion")
        built_for = f" (built for {_cuda_text(runtime)})" if runtime else ""
        if driver == 0:  # cudaDriverGetVersion's answer when no driver is installed
            found = "; no NVIDIA driver found"
        elif driver:
            found = f"; the driver supports up to {_cuda_text(driver)}"
        else:
            found = ""
        reason = (
            f"cupy {version}{built_for} is installed but found no usable CUDA driver/GPU "
            f"({type(exc).__name__}: {exc}{found})"
        )
        return CudaProbe(None, version, reason, DRIVER_ADVICE)
    if count < 1:
        return CudaProbe(
            None, version, f"cupy {version} is installed but sees no CUDA GPU", NO_GPU_ADVICE
        )
    return CudaProbe(cupy, version, "", "")


def reset() -> None:
    """Forget the probe's result, so the next question imports and probes again (tests)."""
    probe.cache_clear()


def cuda_is_available() -> bool:
    """True when CuPy is installed and at least one CUDA GPU can be used."""
    return probe().usable


def cuda_unavailable_reason() -> str:
    """Why `cuda_is_available()` is False ("" when it is True)."""
    return probe().reason


def cupy_module() -> Any:
    """The cupy module; raises RuntimeError naming the device, the reason and what to do when
    CUDA cannot be used."""
    found = probe()
    if not found.usable:
        raise RuntimeError(found.explain("device 'cuda' is not available", "Or use device 'cpu'."))
    return found.cupy


# ----------------------------------------------------------------------------------
# Device names and the user's choice
# ----------------------------------------------------------------------------------


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
    RuntimeError with the reason and what to do, so command-line tools can print it.
    """
    choice = str(device).lower()
    if choice == "auto":
        if cuda_is_available():
            return "cuda", "auto: using cuda (a CUDA GPU is available)"
        return "cpu", f"auto: using cpu ({cuda_unavailable_reason()})"
    name = normalize_device(choice)
    if name == "cuda" and not cuda_is_available():
        raise RuntimeError(
            probe().explain(
                "--device cuda was requested but CUDA is not usable", "Use --device cpu (or auto)."
            )
        )
    return name, f"using {name}"


# ----------------------------------------------------------------------------------
# Arrays: which device holds one, its array module, and moving it
# ----------------------------------------------------------------------------------


def device_of(array: Any) -> str:
    """ "cpu" for NumPy arrays (and scalars, lists, ...), "cuda" for CuPy arrays."""
    if isinstance(array, np.ndarray | np.generic):
        return "cpu"
    if type(array).__module__.startswith("cupy"):
        return "cuda"
    return "cpu"


def array_module(device: str) -> Any:
    """numpy for "cpu", cupy for "cuda" (RuntimeError from `cupy_module` when unusable)."""
    return np if device == "cpu" else cupy_module()


def array_module_of(array: Any) -> Any:
    """numpy or cupy, whichever owns `array`."""
    return np if isinstance(array, np.ndarray | np.generic) else array_module(device_of(array))


def to_numpy(array: Any, copy: bool = False) -> np.ndarray:
    """`array`'s values as a NumPy array.

    A CuPy array is copied to the host (``cupy.ndarray.get()``, which waits for the GPU); a
    NumPy array is returned as it is (a copy with ``copy=True``); anything else (scalars,
    nested lists) goes through ``np.asarray``.
    """
    if device_of(array) == "cuda":
        return array.get()
    return np.array(array, copy=True) if copy else np.asarray(array)


def to_device(array: Any, device: str, dtype: Any = None) -> Any:
    """`array` (an array of either device, a scalar or nested lists) as an array on `device`
    with `dtype` (default: keep it). No copy when it already is such an array."""
    if device == "cpu":
        if device_of(array) == "cuda":
            array = array.get()
        return np.asarray(array, dtype=dtype)
    return array_module(device).asarray(array, dtype=dtype)
