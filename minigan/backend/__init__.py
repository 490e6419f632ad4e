# Kernel dispatch: for each device, which implementation of the fused kernel families runs
# (numpy_ref on cpu; the compiled extension or the CuPy fallback on cuda), overridable with
# MINIGAN_BACKEND=ext|cupy|numpy, and `backend_info()` to see what runs and why.
#
# Every implementation module exposes the same functions (the "kernel contract"), listed in
# KERNEL_FUNCTIONS; numpy_ref documents their math.
from __future__ import annotations

import importlib
import os
from types import ModuleType
from typing import Any

KERNEL_FUNCTIONS = (
    "linear_act_forward",
    "linear_act_backward",
    "conv2d_forward",
    "conv2d_backward",
    "conv_transpose2d_forward",
    "conv_transpose2d_backward",
    "batchnorm_forward",
    "batchnorm_backward",
    "sigmoid_bce_forward_backward",
    "adam_step",
)

# Implementations in order of preference, per device, and the module that holds each.
PREFERENCE = {"cpu": ("numpy",), "cuda": ("ext", "cupy")}
MODULES = {
    "numpy": "minigan.backend.numpy_ref",
    "cupy": "minigan.backend.cupy_kernels",
    "ext": "minigan.backend.cuda_ext",
}
DEVICE_OF_IMPL = {"numpy": "cpu", "cupy": "cuda", "ext": "cuda"}

_chosen: dict[str, tuple[str, ModuleType | None, str]] = {}


def _try_import(impl: str) -> tuple[ModuleType | None, str]:
    """Import an implementation module; return (module, "") or (None, why it is unusable)."""
    try:
        module = importlib.import_module(MODULES[impl])
    except ImportError as exc:
        return None, f"{impl} unavailable: {exc}"
    missing = [f for f in KERNEL_FUNCTIONS if not hasattr(module, f)]
    if missing:
        return None, f"{impl} is missing {', '.join(missing)}"
    usable = getattr(module, "unavailable_reason", lambda: "")()
    if usable:
        return None, f"{impl} unavailable: {usable}"
    return module, ""


def _choose(device: str) -> tuple[str, ModuleType | None, str]:
    """Pick the implementation for `device` and say why."""
    forced = os.environ.get("MINIGAN_BACKEND", "").strip().lower()
    candidates = PREFERENCE[device]
    reasons = []
    if forced:
        if forced not in MODULES:
            raise ValueError(f"MINIGAN_BACKEND={forced!r}: expected one of {sorted(MODULES)}")
        if DEVICE_OF_IMPL[forced] == device:
            module, why = _try_import(forced)
            if module is None:
                raise RuntimeError(f"MINIGAN_BACKEND={forced} was requested but {why}")
            return forced, module, f"forced by MINIGAN_BACKEND={forced}"
        reasons.append(f"MINIGAN_BACKEND={forced} applies to {DEVICE_OF_IMPL[forced]} only")
    for impl in candidates:
        module, why = _try_import(impl)
        if module is not None:
            reason = "; ".join(
                reasons + [f"{impl} is the first usable choice of {list(candidates)}"]
            )
            return impl, module, reason
        reasons.append(why)
    return "none", None, "; ".join(reasons)


def implementation(device: str) -> tuple[str, ModuleType]:
    """The (name, module) of the kernel implementation used on `device`."""
    if device not in _chosen:
        _chosen[device] = _choose(device)
    name, module, reason = _chosen[device]
    if module is None:
        raise RuntimeError(f"no kernel implementation is usable on {device}: {reason}")
    return name, module


def kernel(name: str, device: str) -> Any:
    """The function `name` of the kernel contract for `device`."""
    return getattr(implementation(device)[1], name)


def reset() -> None:
    """Forget cached choices (after changing MINIGAN_BACKEND, mostly for tests)."""
    _chosen.clear()


def backend_info() -> dict[str, dict[str, str]]:
    """Per device: which implementation runs the fused kernels, and why.

    Returns {"cpu": {"implementation": ..., "reason": ...}, "cuda": {...}}.
    """
    info = {}
    for device in PREFERENCE:
        if device not in _chosen:
            try:
                _chosen[device] = _choose(device)
            except (ValueError, RuntimeError) as exc:
                info[device] = {"implementation": "none", "reason": str(exc)}
                continue
        name, _module, reason = _chosen[device]
        info[device] = {"implementation": name, "reason": reason}
    return info
