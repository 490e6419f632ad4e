# Devices for the layers above the backends (tensor, ops, nn, optim, training, examples):
# the public face of minigan.backend.devices, which owns the CUDA probe, the device names
# and the host <-> GPU transfers. Import from here above the backends; this file adds nothing.
"""Devices: ``"cpu"`` (NumPy arrays) and ``"cuda"`` (CuPy arrays).

Everything here is defined in :mod:`minigan.backend.devices` (the one place that probes for
CUDA and moves arrays between devices) and re-exported under this shorter, stable name:
``cuda_is_available``, ``cuda_unavailable_reason``, ``cupy_module``, ``normalize_device``,
``resolve_device``, ``device_of``, ``array_module``, ``array_module_of``, ``to_numpy``,
``to_device`` and ``DEVICES``.
"""

from __future__ import annotations

from .backend.devices import (
    DEVICES,
    CudaProbe,
    array_module,
    array_module_of,
    cuda_is_available,
    cuda_unavailable_reason,
    cupy_module,
    device_of,
    normalize_device,
    probe,
    resolve_device,
    to_device,
    to_numpy,
)

__all__ = [
    "DEVICES",
    "CudaProbe",
    "array_module",
    "array_module_of",
    "cuda_is_available",
    "cuda_unavailable_reason",
    "cupy_module",
    "device_of",
    "normalize_device",
    "probe",
    "resolve_device",
    "to_device",
    "to_numpy",
]
