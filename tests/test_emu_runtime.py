# tests/test_emu_runtime.py: the emulator's host side: the CUDA runtime API it provides (an
# sm_90 H100's properties and limits, NaN-filled exact-size allocations, copies, memset,
# streams, events, error codes), the dispatcher's MINIGAN_BACKEND=emu, and the wrapper's
# errors for arrays that are not the emulator's device memory.
"""Tests of minigan._C_emu's runtime API and of the emu implementation's plumbing."""

from __future__ import annotations

import numpy as np
import pytest
from helpers import use_backend

import minigan
from minigan import backend
from minigan.backend import emu_ext

pytestmark = [
    pytest.mark.emu,
    pytest.mark.skipif(bool(emu_ext.unavailable_reason()), reason=emu_ext.unavailable_reason()),
]


@pytest.fixture(scope="module")
def emu():
    import minigan._C_emu as module

    return module


def test_device_properties_are_an_h100s(emu):
    got = emu.emu_runtime_selftest()
    assert (got["major"], got["minor"]) == (9, 0)
    assert got["multiProcessorCount"] == got["attr_sm_count"] == 132
    assert got["sharedMemPerBlock"] == 48 * 1024
    assert got["sharedMemPerBlockOptin"] == 227 * 1024
    assert got["maxThreadsPerBlock"] == 1024
    assert got["maxThreadsDim"] == (1024, 1024, 64)
    assert got["maxGridSize"] == (2**31 - 1, 65535, 65535)
    assert "emulated" in got["name"]
    assert emu.EMU_SM_COUNT == emu_ext.EMU.rt.sm_count(0) == got["multiProcessorCount"]


def test_allocation_copies_memset_streams_events(emu):
    got = emu.emu_runtime_selftest()
    assert got["malloc"] == "cudaSuccess" and got["malloc_aligned_256"]
    assert got["fresh_is_nan"], "fresh device memory must read as NaN"
    assert got["copied"] and got["memset_zero"]
    assert got["free"] == "cudaSuccess"
    assert got["double_free"] == "cudaErrorInvalidValue"
    assert got["last_error_at_end"] == "cudaErrorInvalidValue"  # sticky until read
    assert got["event_ms_nonnegative"]


def test_errors_are_sticky_until_read(emu):
    got = emu.emu_runtime_selftest()
    assert got["bad_device_error"] == "cudaErrorInvalidDevice"
    assert got["last_error_after"] == "cudaErrorInvalidDevice"


def test_emulated_device_status_is_usable(emu):
    assert emu.device_status() == ""
    assert emu.EMULATED is True


def test_dispatcher_uses_emu_only_when_asked():
    with use_backend("numpy"):
        assert backend.implementation("cpu", np.float32)[0] == "numpy"
    with use_backend("emu"):
        assert backend.implementation("cpu", np.float32)[0] == "emu"
        # the emulated kernels are float32 only: float64 stays on the NumPy reference
        assert backend.implementation("cpu", np.float64)[0] == "numpy"
        info = minigan.backend_info()["cpu"]
        assert info["implementation"] == "emu" and "MINIGAN_BACKEND=emu" in info["reason"]


def test_ops_run_through_the_emulator_when_forced(emu):
    rng = np.random.default_rng(0)
    x = rng.standard_normal((5, 7)).astype(np.float32)
    t = (rng.random((5, 3)) > 0.5).astype(np.float32)

    def forward_backward():
        minigan.manual_seed(0)
        layer = minigan.nn.Linear(7, 3)
        loss = minigan.nn.functional.binary_cross_entropy_with_logits(layer(minigan.tensor(x)), t)
        loss.backward()
        return loss.numpy(), layer.weight.grad.numpy()

    with use_backend("numpy"):
        expected = forward_backward()
    before = emu.emu_stats()["launches"]
    with use_backend("emu"):
        got = forward_backward()
    assert emu.emu_stats()["launches"] > before, "the emulated kernels did not run"
    for g, e in zip(got, expected):
        np.testing.assert_allclose(g, e, rtol=1e-5, atol=1e-6)


class _NotAnArray:
    """Has an array's shape attributes but is not the emulator's device memory."""

    ndim, shape, dtype, size = 2, (2, 3), np.dtype(np.float32), 6


def test_wrapper_refuses_arrays_that_are_not_emulator_memory():
    with pytest.raises(TypeError, match=r"linear_act_forward: x must be a NumPy array"):
        emu_ext.linear_act_forward(_NotAnArray(), np.zeros((4, 3), np.float32), None)
    with pytest.raises(TypeError, match="supports float32 only"):
        emu_ext.linear_act_forward(np.zeros((2, 2)), np.zeros((3, 2), np.float32), None)


def test_buffers_are_registered_only_during_a_call(emu):
    emu_ext.linear_act_forward(np.ones((2, 3), np.float32), np.ones((4, 3), np.float32), None)
    assert emu.emu_buffer_count() == 0, "a call must not leave memory registered"


@pytest.mark.skipif(
    not emu_ext.RESOURCES_FILE.is_file(),
    reason="no ptxas figures (`make emu-build` writes them when nvcc is present)",
)
def test_ptxas_figures_reach_the_launch_checks(emu):
    """The figures of every kernel (and of each instantiation) are handed to the emulator,
    and the launch checks use them: a launch over a kernel's __launch_bounds__ is refused."""
    assert emu_ext.load_kernel_resources(emu) >= 20
    import json

    report = json.loads(emu_ext.RESOURCES_FILE.read_text())
    names = {k["kernel"] for k in report["kernels"] if k["arch"] == "sm_90"}
    for expected in ("adam_v1", "bn_forward_train_v2<true>", "gemm_v3_regblock<true, true>"):
        assert expected in names
    bounds = {k["kernel"]: k["max_threads"] for k in report["kernels"] if k["arch"] == "sm_90"}
    assert bounds["adam_v1"] == 256
    emu.emu_set_kernel_info("adam_v1", 0, 1, 32)  # as if ptxas said: 1 thread at most
    try:
        with pytest.raises(
            RuntimeError, match=r"adam_v1: launch refused .*__launch_bounds__ \(1\)"
        ):
            with emu_ext.forced_kernel_version("adam", 1):
                ones, zeros = np.ones(4, np.float32), np.zeros(4, np.float32)
                emu_ext.adam_step([ones], [ones.copy()], [zeros], [zeros.copy()], 1)
    finally:
        emu_ext.load_kernel_resources(emu)
