# tests/test_cuda_ext_build.py: what can be checked of the CUDA extension WITHOUT a GPU:
# minigan._C (when built) imports without a driver, exposes the expected functions, rejects
# bad arguments with a ValueError naming the kernel before touching the GPU, reports launch
# errors as RuntimeError; cuda_ext imports anywhere, explains why it is unusable, checks
# shapes before needing a GPU, and agrees with _C on the activation codes.
"""CPU-runnable tests of minigan._C and minigan.backend.cuda_ext (no GPU needed)."""

from __future__ import annotations

import importlib

import numpy as np
import pytest

import minigan
from minigan import backend
from minigan.backend import cuda_ext
from minigan.backend import numpy_ref as nr

try:
    _C = importlib.import_module("minigan._C")
except ImportError:  # a pure-Python install
    _C = None

needs_ext = pytest.mark.skipif(_C is None, reason="minigan._C is not built")
no_gpu = pytest.mark.skipif(
    _C is not None and _C.device_status() == "",
    reason="a usable GPU is present (these tests check the no-GPU behaviour)",
)

EXPECTED_FUNCTIONS = (
    "linear_act_forward",
    "linear_act_backward",
    "linear_act_workspace_floats",
    "conv2d_forward",
    "conv2d_backward",
    "conv_transpose2d_forward",
    "conv_transpose2d_backward",
    "conv_workspace_floats",
    "batchnorm_forward",
    "batchnorm_backward",
    "sigmoid_bce_forward_backward",
    "adam_step",
    "device_status",
    "set_device",
    "set_kernel_version",
    "get_kernel_version",
)

# conv2d geometry (N, C, H, W, O, kh, kw, sh, sw, ph, pw, Ho, Wo): 4x4 image, 3x3 kernel.
GEOM = [1, 1, 4, 4, 1, 3, 3, 1, 1, 0, 0, 2, 2]
FAKE = 1 << 20  # a non-null, aligned "pointer" that must never be dereferenced


# ----- cuda_ext without a GPU -------------------------------------------------------------------


def test_cuda_ext_implements_the_whole_contract():
    for name in backend.KERNEL_FUNCTIONS:
        assert callable(getattr(cuda_ext, name)), name
    assert cuda_ext.SUPPORTED_DTYPES == ("float32",)


def test_unavailable_reason_is_a_string():
    assert isinstance(cuda_ext.unavailable_reason(), str)


@pytest.mark.skipif(minigan.cuda_is_available(), reason="a CUDA GPU is usable here")
def test_unavailable_reason_explains_why_without_gpu():
    why = cuda_ext.unavailable_reason()
    assert why, "cuda_ext must explain why it cannot run on a machine without a GPU"
    assert any(word in why for word in ("minigan._C", "cupy", "GPU", "driver")), why
    with pytest.raises(RuntimeError, match="linear_act_forward: the CUDA extension"):
        x = np.zeros((2, 3), np.float32)
        cuda_ext.linear_act_forward(x, np.zeros((4, 3), np.float32), None)


def test_backend_info_mentions_the_ext_reason():
    reason = minigan.backend_info()["cuda"]["reason"]
    if cuda_ext.unavailable_reason():
        assert "ext" in reason


@pytest.mark.parametrize(
    "call, match",
    [
        (
            lambda: cuda_ext.linear_act_forward(np.zeros((2, 3)), np.zeros((4, 5)), None),
            "linear_act_forward: x has 3 features",
        ),
        (
            lambda: cuda_ext.linear_act_forward(np.zeros((2, 3)), np.zeros((4, 3)), np.zeros(5)),
            "linear_act_forward: b.shape",
        ),
        (
            lambda: cuda_ext.linear_act_forward(np.zeros((2, 3)), np.zeros((4, 3)), None, "elu"),
            "linear_act_forward: unknown activation",
        ),
        (
            lambda: cuda_ext.linear_act_backward(
                np.zeros((2, 5)), np.zeros((2, 3)), np.zeros((4, 3)), np.zeros((2, 4))
            ),
            "linear_act_backward: dy and y must have shape",
        ),
        (
            lambda: cuda_ext.conv2d_forward(np.zeros((1, 2, 5, 5)), np.zeros((3, 4, 3, 3)), None),
            "conv2d_forward: x has 2 channels",
        ),
        (
            lambda: cuda_ext.conv2d_backward(
                np.zeros((1, 3, 2, 2)), np.zeros((1, 2, 5, 5)), np.zeros((3, 2, 3, 3))
            ),
            "conv2d_backward: dy.shape",
        ),
        (
            lambda: cuda_ext.conv_transpose2d_forward(
                np.zeros((1, 2, 5, 5)), np.zeros((2, 3, 3, 3)), None, 2, 0, 2
            ),
            "conv_transpose2d_forward: output_padding",
        ),
        (
            lambda: cuda_ext.conv_transpose2d_backward(
                np.zeros((1, 3, 6, 6)), np.zeros((1, 2, 5, 5)), np.zeros((2, 3, 3, 3)), 1, 0, 0
            ),
            "conv_transpose2d_backward: dy.shape",
        ),
        (
            lambda: cuda_ext.batchnorm_forward(
                np.zeros((1, 3)), None, None, None, None, training=True
            ),
            "batchnorm_forward: expected more than 1 value",
        ),
        (
            lambda: cuda_ext.batchnorm_forward(
                np.zeros((4, 3)), np.zeros(2), None, None, None, training=True
            ),
            "batchnorm_forward: gamma.shape",
        ),
        (
            lambda: cuda_ext.batchnorm_backward(
                np.zeros((4, 2)), np.zeros((4, 3)), None, np.zeros(3), np.zeros(3), True
            ),
            "batchnorm_backward: dy.shape",
        ),
        (
            lambda: cuda_ext.sigmoid_bce_forward_backward(np.zeros(3), np.zeros(4)),
            "sigmoid_bce_forward_backward: targets.shape",
        ),
        (
            lambda: cuda_ext.sigmoid_bce_forward_backward(np.zeros(3), np.zeros(3), "max"),
            "sigmoid_bce_forward_backward: reduction",
        ),
        (
            lambda: cuda_ext.adam_step(
                [np.zeros(3)], [np.zeros(4)], [np.zeros(3)], [np.zeros(3)], 1
            ),
            r"adam_step: grads\[0\].shape",
        ),
        (
            lambda: cuda_ext.adam_step(
                [np.zeros(3)], [np.zeros(3)], [np.zeros(3)], [np.zeros(3)], 0
            ),
            "adam_step: step must be a positive int",
        ),
    ],
)
def test_cuda_ext_checks_shapes_before_needing_a_gpu(call, match):
    # Shape errors are found by the wrapper's pure-shape checks (shared with numpy_ref), so
    # they raise the same ValueError on any machine, GPU or not.
    with pytest.raises(ValueError, match=match):
        call()


def test_split_k_heuristic():
    # A small output (one 128x128 tile) with a long reduction is split to fill the GPU...
    assert cuda_ext.split_k(100, 100, k_tiles=10_000, sm_count=132) == 64
    # ...but every split keeps at least 32 k-tiles,
    assert cuda_ext.split_k(100, 100, k_tiles=64, sm_count=132) == 2
    # and a big output is not split at all.
    assert cuda_ext.split_k(4096, 4096, k_tiles=512, sm_count=132) == 1
    assert cuda_ext.split_k(0, 100, k_tiles=512, sm_count=132) == 1


def test_conv_chunk_bounds_the_workspace():
    geom = [1000, 64, 14, 14, 128, 4, 4, 2, 2, 1, 1, 7, 7]
    per_image = 64 * 4 * 4 * 7 * 7
    chunk = cuda_ext.conv_chunk(geom)
    assert 1 <= chunk <= 1000 and chunk * per_image <= cuda_ext.CONV_WORKSPACE_FLOATS
    assert cuda_ext.conv_chunk(geom, budget_floats=1) == 1  # never 0 images
    assert cuda_ext.conv_chunk([3, *geom[1:]]) == 3  # never more than the batch


# ----- minigan._C without a GPU ------------------------------------------------------------------


@needs_ext
def test_extension_exposes_the_expected_functions():
    missing = [name for name in EXPECTED_FUNCTIONS if not callable(getattr(_C, name, None))]
    assert not missing, f"minigan._C lacks {missing}"
    assert _C.CUDA_RUNTIME_VERSION >= 12000


@needs_ext
def test_activation_codes_match_the_cpp_enum():
    assert dict(_C.ACTIVATIONS) == cuda_ext.ACTIVATION_CODES
    # ... and follow the order of numpy_ref.ACTIVATIONS (code = position).
    assert [cuda_ext.ACTIVATION_CODES[a] for a in nr.ACTIVATIONS] == list(
        range(len(nr.ACTIVATIONS))
    )


@needs_ext
@no_gpu
def test_device_status_explains_the_missing_gpu():
    status = _C.device_status()
    assert status and ("GPU" in status or "driver" in status), status


# One call per function with a null required pointer: ValueError naming the kernel, raised
# by argument validation before any CUDA call (so no segfault, with or without a GPU).
NULL_POINTER_CALLS = {
    "linear_act_forward": lambda: _C.linear_act_forward(0, FAKE, 0, FAKE, 4, 4, 4, 0, 0.0, 0),
    "linear_act_backward": lambda: _C.linear_act_backward(
        0, FAKE, FAKE, FAKE, FAKE, FAKE, FAKE, 4, 4, 4, 0, 0.0, 0, 0, 1, 0
    ),
    "conv2d_forward": lambda: _C.conv2d_forward(0, FAKE, 0, FAKE, GEOM, FAKE, 1000, 1, 0),
    "conv2d_backward": lambda: _C.conv2d_backward(
        0, FAKE, FAKE, FAKE, FAKE, FAKE, GEOM, FAKE, 1000, 1, 1, 0
    ),
    "conv_transpose2d_forward": lambda: _C.conv_transpose2d_forward(
        0, FAKE, 0, FAKE, GEOM, FAKE, 1000, 1, 0
    ),
    "conv_transpose2d_backward": lambda: _C.conv_transpose2d_backward(
        0, FAKE, FAKE, FAKE, FAKE, FAKE, GEOM, FAKE, 1000, 1, 1, 0
    ),
    "batchnorm_forward": lambda: _C.batchnorm_forward(
        0, 0, 0, 0, 0, FAKE, FAKE, FAKE, 4, 3, 1, True, 0.1, 1e-5, 0
    ),
    "batchnorm_backward": lambda: _C.batchnorm_backward(
        0, FAKE, 0, FAKE, FAKE, FAKE, 0, 0, 4, 3, 1, True, 0
    ),
    "sigmoid_bce_forward_backward": lambda: _C.sigmoid_bce_forward_backward(
        0, FAKE, FAKE, FAKE, 10, True, FAKE, 1, 0
    ),
    "adam_step": lambda: _C.adam_step(0, 2, 4, 8, 1, 1e-3, 0.9, 0.999, 1e-8, 0.0, 0),
}


@needs_ext
@pytest.mark.parametrize("kernel", sorted(NULL_POINTER_CALLS))
def test_null_pointer_raises_value_error_naming_the_kernel(kernel):
    with pytest.raises(ValueError, match=f"^{kernel}: .*null pointer"):
        NULL_POINTER_CALLS[kernel]()


@needs_ext
@pytest.mark.parametrize(
    "call, match",
    [
        (lambda: _C.linear_act_forward(FAKE, FAKE, 0, FAKE, -1, 4, 4, 0, 0.0, 0), "N=-1"),
        (lambda: _C.linear_act_forward(FAKE, FAKE, 0, FAKE, 4, 4, 4, 7, 0.0, 0), "activation"),
        (lambda: _C.linear_act_forward(FAKE + 2, FAKE, 0, FAKE, 4, 4, 4, 0, 0.0, 0), "aligned"),
        (
            lambda: _C.linear_act_backward(
                FAKE, FAKE, FAKE, FAKE, 0, FAKE, 0, 4, 4, 4, 0, 0.0, FAKE, 1, 4, 0
            ),
            "workspace",
        ),
        (lambda: _C.conv2d_forward(FAKE, FAKE, 0, FAKE, GEOM[:-1], FAKE, 100, 1, 0), "13 entries"),
        (
            lambda: _C.conv2d_forward(FAKE, FAKE, 0, FAKE, [*GEOM[:-1], 3], FAKE, 100, 1, 0),
            "does not match",
        ),
        (lambda: _C.conv2d_forward(FAKE, FAKE, 0, FAKE, GEOM, FAKE, 35, 1, 0), "workspace of 35"),
        (lambda: _C.conv2d_forward(FAKE, FAKE, 0, FAKE, GEOM, FAKE, 100, 0, 0), "chunk"),
        (
            lambda: _C.batchnorm_forward(
                FAKE, 0, 0, 0, 0, FAKE, FAKE, FAKE, 1, 3, 1, True, 0.1, 1e-5, 0
            ),
            "more than 1 value",
        ),
        (
            lambda: _C.batchnorm_forward(
                FAKE, 0, 0, 0, 0, FAKE, FAKE, FAKE, 4, 3, 1, False, 0.1, 1e-5, 0
            ),
            "running_mean",
        ),
        (
            lambda: _C.sigmoid_bce_forward_backward(FAKE, FAKE, FAKE, FAKE, 0, True, FAKE, 1, 0),
            "n=0",
        ),
        (lambda: _C.adam_step(FAKE, 1, 4, 4, 0, 1e-3, 0.9, 0.999, 1e-8, 0.0, 0), "step"),
        (lambda: _C.set_kernel_version("gemm", 9), "versions 1..3"),
        (lambda: _C.set_kernel_version("softmax", 1), "unknown kernel family"),
    ],
)
def test_bad_arguments_raise_value_error(call, match):
    with pytest.raises(ValueError, match=match):
        call()


@needs_ext
def test_kernel_versions_default_to_the_fastest():
    for family, fastest in _C.KERNEL_FAMILIES.items():
        assert _C.get_kernel_version(family) == fastest
    _C.set_kernel_version("gemm", 1)
    try:
        assert _C.get_kernel_version("gemm") == 1
    finally:
        _C.set_kernel_version("gemm", 0)
    assert _C.get_kernel_version("gemm") == 3


@needs_ext
def test_workspace_sizes():
    # chunk images of C*kh*kw x Ho*Wo columns, plus splits partial weight gradients.
    assert _C.conv_workspace_floats(GEOM, 1, 1, False) == 9 * 4
    assert _C.conv_workspace_floats(GEOM, 1, 3, True) == 9 * 4 + 3 * 9
    assert _C.linear_act_workspace_floats(5, 7, 1) == 0
    assert _C.linear_act_workspace_floats(5, 7, 4) == 4 * 5 * 7


@needs_ext
@no_gpu
def test_launch_without_a_driver_raises_runtime_error_naming_the_kernel():
    # The arguments pass validation, so the kernel is launched: without a driver the launch
    # fails and the error must come back as a RuntimeError naming the kernel.
    with pytest.raises(RuntimeError, match="^linear_act_forward: gemm_v3_regblock: CUDA error"):
        _C.linear_act_forward(FAKE, FAKE, 0, FAKE, 1, 1, 1, 0, 0.0, 0)
    with pytest.raises(RuntimeError, match="^adam_step: adam_v2: CUDA error"):
        _C.adam_step(FAKE, 1, 4, 4, 1, 1e-3, 0.9, 0.999, 1e-8, 0.0, 0)


# ----- setup.py's nvcc flags ------------------------------------------------------------------


def _setup_function(name: str):
    """One function of setup.py, compiled on its own (importing setup.py would run setup())."""
    import ast
    import os as _os
    from pathlib import Path

    source = (Path(__file__).resolve().parents[1] / "setup.py").read_text()
    tree = ast.parse(source)
    node = next(n for n in tree.body if isinstance(n, ast.FunctionDef) and n.name == name)
    namespace = {"os": _os}
    exec(compile(ast.Module(body=[node], type_ignores=[]), "setup.py", "exec"), namespace)
    return namespace[name]


@pytest.mark.parametrize(
    "archs, ptx", [("80,90", "90"), ("90,80", "90"), ("90,100,80", "100"), ("86", "86")]
)
def test_ptx_is_embedded_for_the_highest_arch(monkeypatch, archs, ptx):
    """Regression: the PTX (JIT-compiled by GPUs newer than every listed arch) was that of
    the LAST arch in MINIGAN_CUDA_ARCHS, not of the highest."""
    monkeypatch.setenv("MINIGAN_CUDA_ARCHS", archs)
    flags = _setup_function("gencode_flags")()
    codes = [flags[i + 1] for i in range(0, len(flags), 2)]
    assert codes[-1] == f"arch=compute_{ptx},code=compute_{ptx}"
    for a in archs.split(","):
        assert f"arch=compute_{a},code=sm_{a}" in codes
