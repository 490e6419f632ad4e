# tests/test_devices.py: minigan.backend.devices, the one place that probes for CUDA and moves
# arrays between devices. Runs without a GPU: a fake `cupy` module (installed in sys.modules
# by monkeypatch) plays a CuPy that is installed but finds no driver, one that sees a GPU,
# and a missing one; the errors users get from Tensor, --device cuda and the backends must
# name the device, what was found and what to do. A static check keeps every other module
# of minigan from probing or copying on its own.
"""Tests of device probing, the errors it gives, and host <-> device transfers."""

from __future__ import annotations

import re
import sys
import types
from pathlib import Path

import numpy as np
import pytest

import minigan
from minigan import backend
from minigan.backend import cuda_ext, cupy_kernels, devices
from minigan.training import choose_device

ROOT = Path(__file__).resolve().parents[1]


class CUDARuntimeError(RuntimeError):
    """Stands in for cupy_backends.cuda.api.runtime.CUDARuntimeError."""


def fake_cupy(device_count: int | None, version: str = "13.6.0") -> types.ModuleType:
    """A module that looks like CuPy to the probe: `device_count` GPUs, or (None) a
    getDeviceCount that fails the way CuPy does without an NVIDIA driver."""
    runtime = types.SimpleNamespace()

    def get_device_count() -> int:
        if device_count is None:
            raise CUDARuntimeError("cudaErrorNoDevice: no CUDA-capable device is detected")
        return device_count

    runtime.getDeviceCount = get_device_count
    runtime.runtimeGetVersion = lambda: 13000
    runtime.driverGetVersion = lambda: 0  # what CUDA reports when no driver is installed
    module = types.ModuleType("cupy")
    module.__version__ = version
    module.cuda = types.SimpleNamespace(runtime=runtime)
    module.asarray = lambda a, dtype=None: FakeCupyArray(np.asarray(a, dtype=dtype))
    return module


class FakeCupyArray:
    """An array whose type lives in module "cupy" (how minigan recognises CuPy arrays)."""

    __module__ = "cupy"

    def __init__(self, host: np.ndarray) -> None:
        self.host = host
        self.dtype = host.dtype

    def get(self) -> np.ndarray:
        return self.host.copy()


@pytest.fixture
def install_cupy(monkeypatch: pytest.MonkeyPatch):
    """install_cupy(module) puts `module` (a fake CuPy, or None for "not installed") into
    sys.modules as `cupy` for this test and forgets every cached probe before and after."""

    def install(module: types.ModuleType | None) -> None:
        monkeypatch.setitem(sys.modules, "cupy", module)
        devices.reset()
        backend.reset()

    yield install
    devices.reset()  # runs before monkeypatch restores sys.modules: nothing probes in between
    backend.reset()


# ----------------------------------------------------------------------------------
# A CuPy that is installed but finds no driver: a clear minigan error everywhere
# ----------------------------------------------------------------------------------


def assert_clear_error(message: str) -> None:
    """The message names the device, what was found (CuPy's version, the CUDA error) and
    what to do."""
    assert "cuda" in message, message
    assert "cupy 13.6.0" in message, message
    assert "CUDARuntimeError: cudaErrorNoDevice" in message, message
    assert "no NVIDIA driver found" in message, message
    assert "nvidia-smi" in message and "cupy-cuda12x" in message, message


def test_tensor_on_cuda_without_a_driver_is_a_clear_error(install_cupy):
    install_cupy(fake_cupy(device_count=None))
    for make in (
        lambda: minigan.tensor([1.0, 2.0], device="cuda"),
        lambda: minigan.zeros(3, device="cuda"),
        lambda: minigan.ones(2).to("cuda"),
    ):
        with pytest.raises(RuntimeError) as err:
            make()
        message = str(err.value)
        assert message.startswith("device 'cuda' is not available: cupy 13.6.0"), message
        assert message.endswith("Or use device 'cpu'."), message
        assert_clear_error(message)


def test_device_cuda_flag_without_a_driver_is_a_clear_error(install_cupy, capsys):
    install_cupy(fake_cupy(device_count=None))
    with pytest.raises(RuntimeError) as err:
        minigan.resolve_device("cuda")
    message = str(err.value)
    assert message.startswith("--device cuda was requested but CUDA is not usable: cupy 13.6.0")
    assert message.endswith("Use --device cpu (or auto).")
    assert_clear_error(message)
    # What the examples do with it: print it and exit with status 2.
    with pytest.raises(SystemExit) as exc:
        choose_device("cuda")
    assert exc.value.code == 2
    assert_clear_error(capsys.readouterr().err)


def test_auto_falls_back_to_cpu_and_says_why(install_cupy):
    install_cupy(fake_cupy(device_count=None))
    device, why = minigan.resolve_device("auto")
    assert device == "cpu"
    assert why.startswith("auto: using cpu (cupy 13.6.0 (built for CUDA 13.0) is installed")
    assert "cudaErrorNoDevice" in why
    assert not minigan.cuda_is_available()


def test_every_backend_reports_the_one_probe(install_cupy, monkeypatch):
    install_cupy(fake_cupy(device_count=None))
    reason = devices.cuda_unavailable_reason()
    assert reason.startswith("cupy 13.6.0 (built for CUDA 13.0) is installed but found no usable")
    assert cupy_kernels.unavailable_reason() == reason
    info = minigan.backend_info()["cuda"]
    assert info["implementation"] == "none" and reason in info["reason"]
    # The compiled extension, once minigan._C itself sees a GPU, defers to the same probe.
    fake_ext = types.ModuleType("minigan._C")
    fake_ext.device_status = lambda: ""
    monkeypatch.setitem(sys.modules, "minigan._C", fake_ext)
    assert cuda_ext.CupyRuntime().state == (None, None, reason)


def test_a_cupy_that_sees_no_gpu_says_so(install_cupy):
    install_cupy(fake_cupy(device_count=0))
    assert devices.cuda_unavailable_reason() == "cupy 13.6.0 is installed but sees no CUDA GPU"
    with pytest.raises(RuntimeError, match="CUDA_VISIBLE_DEVICES"):
        devices.cupy_module()


def test_missing_cupy_keeps_its_reason_and_says_how_to_install(install_cupy):
    install_cupy(None)  # None in sys.modules: `import cupy` raises ImportError
    assert devices.cuda_unavailable_reason().startswith("cupy is not importable (ModuleNotFound")
    assert devices.imported_cupy() is None
    with pytest.raises(RuntimeError) as err:
        minigan.zeros(1, device="cuda")
    message = str(err.value)
    assert message.startswith("device 'cuda' is not available: cupy is not importable")
    assert "pip install cupy-cuda13x" in message and "[cuda]" in message


def test_a_cupy_with_a_gpu_is_the_cuda_array_module(install_cupy):
    fake = fake_cupy(device_count=2)
    install_cupy(fake)
    assert minigan.cuda_is_available() and devices.cuda_unavailable_reason() == ""
    assert devices.cupy_module() is fake and devices.array_module("cuda") is fake
    assert minigan.resolve_device("auto") == ("cuda", "auto: using cuda (a CUDA GPU is available)")
    assert minigan.resolve_device("cuda") == ("cuda", "using cuda")


def test_the_probe_runs_once_until_reset(install_cupy):
    fake = fake_cupy(device_count=1)
    calls = []
    count = fake.cuda.runtime.getDeviceCount
    fake.cuda.runtime.getDeviceCount = lambda: calls.append(1) or count()
    install_cupy(fake)
    for _ in range(3):
        assert devices.cuda_is_available()
    devices.cupy_module()
    assert len(calls) == 1
    devices.reset()
    assert devices.cuda_is_available() and len(calls) == 2


# ----------------------------------------------------------------------------------
# Transfers
# ----------------------------------------------------------------------------------


def test_to_numpy_and_to_device_on_the_host():
    a = np.arange(6.0).reshape(2, 3)
    assert devices.to_numpy(a) is a  # no copy unless asked
    copy = devices.to_numpy(a, copy=True)
    assert copy is not a and np.array_equal(copy, a)
    assert devices.to_numpy([1, 2]).tolist() == [1, 2]
    b = devices.to_device(a, "cpu", np.float32)
    assert b.dtype == np.float32 and np.array_equal(b, a)
    assert devices.to_device(a, "cpu") is a
    assert devices.device_of(a) == "cpu" and devices.device_of(3.0) == "cpu"


def test_transfers_with_a_gpu_array(install_cupy):
    install_cupy(fake_cupy(device_count=1))
    host = np.arange(4, dtype=np.float64)
    on_gpu = devices.to_device(host, "cuda", np.float32)
    assert isinstance(on_gpu, FakeCupyArray) and devices.device_of(on_gpu) == "cuda"
    assert on_gpu.dtype == np.float32
    back = devices.to_numpy(on_gpu)
    assert isinstance(back, np.ndarray) and np.array_equal(back, host)
    back64 = devices.to_device(on_gpu, "cpu", np.float64)
    assert back64.dtype == np.float64 and np.array_equal(back64, host)


def test_minigan_device_is_the_same_api():
    from minigan import device

    for name in device.__all__:
        assert getattr(device, name) is getattr(devices, name), name


# ----------------------------------------------------------------------------------
# One place: no other module of minigan probes for GPUs or copies between devices
# ----------------------------------------------------------------------------------

# Spellings of a device probe or a host <-> device copy; only backend/devices.py may use them.
# (cupy.asarray is not among them: inside the CuPy backend it converts dtypes on the GPU.)
FORBIDDEN = {
    "getDeviceCount": re.compile(r"getDeviceCount"),
    "import cupy": re.compile(r"^\s*(import cupy|from cupy\b)", re.MULTILINE),
    "cupy.asnumpy": re.compile(r"\basnumpy\("),
    ".get() (a CuPy device-to-host copy)": re.compile(r"\.get\(\)"),
}


def test_no_other_module_probes_devices_or_moves_arrays():
    owner = ROOT / "minigan" / "backend" / "devices.py"
    offenders = []
    for path in sorted((ROOT / "minigan").rglob("*.py")):
        if path == owner:
            continue
        text = path.read_text(encoding="utf-8")
        for what, pattern in FORBIDDEN.items():
            for m in pattern.finditer(text):
                line = text.count("\n", 0, m.start()) + 1
                offenders.append(f"{path.relative_to(ROOT)}:{line}: {what}")
    assert not offenders, (
        "probe devices and move arrays through minigan.backend.devices (cupy_module, "
        "to_numpy, to_device), not by hand:\n" + "\n".join(offenders)
    )
