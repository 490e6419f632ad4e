# Kernel dispatch: for each device, which implementation of the fused kernel families runs
# (on cpu the numba kernels for float32 and numpy_ref otherwise; the compiled extension or
# the CuPy fallback on cuda), overridable with MINIGAN_BACKEND=numba|numpy|ext|cupy|emu, and
# `backend_info()` to see what runs and why.
#
# Every implementation module exposes the same functions (the "kernel contract"), listed in
# KERNEL_FUNCTIONS; numpy_ref documents their math. A function's name is its kernel family
# plus a suffix ("linear_act" + "_forward"); kernel_families() groups them (how to add a
# family: docs/adding-a-kernel-family.md, enforced by tests/test_kernel_families.py).
from __future__ import annotations

import importlib
import os
import time
from collections.abc import Callable
from types import ModuleType
from typing import Any

import numpy as np

from . import cpu_threads

KERNEL_FUNCTIONS = (
    "linear_act_forward",
    "linear_act_backward",
    "conv2d_forward",
    "conv2d_backward",
    "conv_transpose2d_forward",
    "conv_transpose2d_backward",
    "batchnorm_forward",
    "batchnorm_backward",
    "activation_forward",
    "activation_backward",
    "sigmoid_bce_forward_backward",
    "adam_step",
)

# The suffixes a contract function's name ends with; what precedes the suffix is its family.
FUNCTION_SUFFIXES = ("_forward_backward", "_forward", "_backward", "_step")

# Implementations in order of preference, per device, and the module that holds each.
# numba_cpu declares SUPPORTED_DTYPES = ("float32",): float64 on cpu (gradient checks) runs
# on numpy_ref, the oracle.
PREFERENCE = {"cpu": ("numba", "numpy"), "cuda": ("ext", "cupy")}
# "emu" (csrc/'s CUDA kernels run by the CPU emulator, minigan._C_emu) is never preferred:
# it is chosen only with MINIGAN_BACKEND=emu, to verify the GPU code without a GPU.
MODULES = {
    "numba": "minigan.backend.numba_cpu",
    "numpy": "minigan.backend.numpy_ref",
    "cupy": "minigan.backend.cupy_kernels",
    "ext": "minigan.backend.cuda_ext",
    "emu": "minigan.backend.emu_ext",
}
DEVICE_OF_IMPL = {"numba": "cpu", "numpy": "cpu", "cupy": "cuda", "ext": "cuda", "emu": "cpu"}

_chosen: dict[tuple[str, str], tuple[str, ModuleType | None, str]] = {}

# Observers of kernel lookups (minigan.tracing registers one while a trace records): each is
# called as hook(name, device, dtype, fn) and returns the function to use (fn itself, or a
# wrapper that times it). Empty in normal runs: one list check per lookup.
kernel_hooks: list[Callable[[str, str, Any, Any], Any]] = []


def family_of(function: str) -> str:
    """The kernel family of a contract function: "linear_act_forward" -> "linear_act",
    "sigmoid_bce_forward_backward" -> "sigmoid_bce", "adam_step" -> "adam"."""
    for suffix in FUNCTION_SUFFIXES:
        if function.endswith(suffix) and len(function) > len(suffix):
            return function[: -len(suffix)]
    raise ValueError(
        f"kernel function {function!r} does not end with one of {FUNCTION_SUFFIXES}, so its "
        "family is unknown"
    )


def kernel_families(functions: tuple[str, ...] | None = None) -> dict[str, tuple[str, ...]]:
    """{family: its contract functions}, in the order of KERNEL_FUNCTIONS (or `functions`).

    >>> kernel_families(("linear_act_forward", "linear_act_backward", "adam_step"))
    {'linear_act': ('linear_act_forward', 'linear_act_backward'), 'adam': ('adam_step',)}
    """
    families: dict[str, tuple[str, ...]] = {}
    for name in KERNEL_FUNCTIONS if functions is None else functions:
        family = family_of(name)
        families[family] = families.get(family, ()) + (name,)
    return families


def _supports(module: ModuleType, dtype: str) -> bool:
    """Whether an implementation handles arrays of `dtype` (SUPPORTED_DTYPES, default all)."""
    supported = getattr(module, "SUPPORTED_DTYPES", None)
    return supported is None or dtype in supported


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


def _choose(device: str, dtype: str) -> tuple[str, ModuleType | None, str]:
    """Pick the implementation for `device` and arrays of `dtype`, and say why."""
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
            if _supports(module, dtype):
                return forced, module, f"forced by MINIGAN_BACKEND={forced}"
            reasons.append(f"MINIGAN_BACKEND={forced} does not support {dtype}")
        else:
            reasons.append(f"MINIGAN_BACKEND={forced} applies to {DEVICE_OF_IMPL[forced]} only")
    for impl in candidates:
        module, why = _try_import(impl)
        if module is not None and _supports(module, dtype):
            reason = "; ".join(
                reasons + [f"{impl} is the first usable choice of {list(candidates)}"]
            )
            return impl, module, reason
        reasons.append(why or f"{impl} does not support {dtype}")
    return "none", None, "; ".join(reasons)


def _dtype_name(dtype: Any) -> str:
    return "float32" if dtype is None else np.dtype(dtype).name


def implementation(device: str, dtype: Any = None) -> tuple[str, ModuleType]:
    """The (name, module) of the kernel implementation used on `device` for `dtype`.

    `dtype` defaults to float32. The compiled extension is FP32-only, so float64 arrays on
    cuda run on the CuPy fallback.
    """
    key = (device, _dtype_name(dtype))
    if key not in _chosen:
        _chosen[key] = _choose(*key)
    name, module, reason = _chosen[key]
    if module is None:
        raise RuntimeError(f"no kernel implementation is usable on {device} for {key[1]}: {reason}")
    return name, module


def kernel(name: str, device: str, dtype: Any = None) -> Any:
    """The function `name` of the kernel contract for `device` and arrays of `dtype`
    (passed through the `kernel_hooks`, if any)."""
    fn = getattr(implementation(device, dtype)[1], name)
    for hook in kernel_hooks:
        fn = hook(name, device, dtype, fn)
    return fn


def reset() -> None:
    """Forget cached choices (after changing MINIGAN_BACKEND, mostly for tests)."""
    _chosen.clear()


def backend_info() -> dict[str, dict[str, str]]:
    """Per device: which implementation runs the fused kernels, and why.

    Returns {"cpu": {"implementation": ..., "reason": ..., "float64": ...}, "cuda": {...}}:
    the implementation and reason are for float32 arrays; "float64" names the one used for
    float64 arrays. Every function of KERNEL_FUNCTIONS follows the same choice.
    """
    info = {}
    for device in PREFERENCE:
        entry: dict[str, str] = {}
        for dtype in ("float32", "float64"):
            key = (device, dtype)
            if key not in _chosen:
                try:
                    _chosen[key] = _choose(device, dtype)
                except (ValueError, RuntimeError) as exc:
                    _chosen[key] = ("none", None, str(exc))
            name, _module, reason = _chosen[key]
            if dtype == "float32":
                entry.update(implementation=name, reason=reason)
            else:
                entry["float64"] = name
        info[device] = entry
    return info


_cpu_kernels_prepared = False


def prepare_cpu_kernels(report: Callable[[str], None] | None = print) -> float:
    """Compile every numba kernel of the float32 CPU path now (or load it from numba's
    on-disk cache), so that no training step pays for it later; returns the seconds it took.

    When something had to be compiled (a first run, or changed kernels), ``report`` gets
    one line "compiling CPU kernels... N s"; a run that finds everything in the cache
    reports nothing. Does nothing when the float32 CPU path is not numba. Call it after
    sizing the thread pools (cpu_threads.set_num_threads), as the training scripts do.
    """
    global _cpu_kernels_prepared
    impl, module = implementation("cpu", "float32")
    if _cpu_kernels_prepared or impl != "numba":
        return 0.0
    cpu_threads.num_threads()  # size the pools first (the default) if nobody has
    start = time.perf_counter()
    compiled = module.compile_every_kernel()
    elapsed = time.perf_counter() - start
    if compiled and report is not None:
        report(f"compiling CPU kernels... {elapsed:.1f} s (cached: later runs skip this)")
    _cpu_kernels_prepared = True
    return elapsed
