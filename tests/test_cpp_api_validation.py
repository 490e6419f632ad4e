# tests/test_cpp_api_validation.py: the C++ API of csrc/minigan.h validates its own
# arguments (null pointers, sizes, split counts and chunks that become grid dimensions,
# int64 overflow of size products) before any CUDA call, so it is tested without a GPU
# through the built extension: minigan._C (nvcc) and/or minigan._C_emu (the CPU emulator),
# whichever imports. Also: device_status's architecture message comes from the build
# (__CUDA_ARCH_LIST__), the unused GEMM layout is not compiled, and (emulator only) im2col /
# col2im write the right values at the last elements of a per-image grid near 2^31.
"""Argument validation of the C++ API (csrc/checks.h) and related build facts, no GPU."""

from __future__ import annotations

import importlib
import re
from collections.abc import Callable
from pathlib import Path
from types import ModuleType
from typing import Any

import numpy as np
import pytest


def _importable(name: str) -> bool:
    try:
        importlib.import_module(name)
    except ImportError:
        return False
    return True


MODULES = [name for name in ("minigan._C", "minigan._C_emu") if _importable(name)]
if not MODULES:
    pytest.skip("neither minigan._C nor minigan._C_emu is built", allow_module_level=True)

FAKE = 1 << 20  # a non-null, aligned "pointer": validation must fail before it is used
I32 = 2**31 - 1
# conv2d geometry (N, C, H, W, O, kh, kw, sh, sw, ph, pw, Ho, Wo): 4x4 image, 3x3 kernel;
# a call needs 36 workspace floats (+ 9 per split of the weight gradient).
GEOM = [1, 1, 4, 4, 1, 3, 3, 1, 1, 0, 0, 2, 2]
# A consistent geometry whose im2col size C*kh*kw*Ho*Wo = 4 (2^31 - 1)^2 overflows int64
# (O = 0 keeps the weight, and so the bindings' own size products, empty).
GEOM_OVERFLOW = [1, 4, 1, 1, 0, I32, I32, 1, 1, 2**30 - 1, 2**30 - 1, 1, 1]
# A consistent geometry whose padded height H + 2 ph = 2^31 + 1 exceeds the int range of
# the im2col / col2im row arithmetic (i sh + a, h + ph).
GEOM_PAD = [1, 1, 1, 1, 1, 1, 1, 2**30, 1, 2**30, 0, 3, 1]


@pytest.fixture(params=MODULES, scope="module")
def ext(request: pytest.FixtureRequest) -> ModuleType:
    return importlib.import_module(request.param)


@pytest.fixture
def api(ext: ModuleType) -> Any:
    """The test-only submodule calling the C++ API without the bindings' own checks."""
    sub = getattr(ext, "_test_cpp_api", None)
    assert sub is not None, f"{ext.__name__} has no _test_cpp_api submodule"
    return sub


# ----- defect 2: every C++ entry point rejects a null required pointer ---------------------------

# (function, kernel name in the message, argument, call with that argument null). Each
# call is valid except for the null pointer; without the C++ check it would reach a launch.
NULL_POINTER_CASES: list[tuple[str, str, str, Callable[[Any], Any]]] = [
    ("linear_act_forward", "linear_act_forward", "x",
     lambda a: a.linear_act_forward(0, FAKE, 0, FAKE, 4, 4, 4, 0, 0.0)),
    ("linear_act_forward", "linear_act_forward", "w",
     lambda a: a.linear_act_forward(FAKE, 0, 0, FAKE, 4, 4, 4, 0, 0.0)),
    ("linear_act_forward", "linear_act_forward", "y",
     lambda a: a.linear_act_forward(FAKE, FAKE, 0, 0, 4, 4, 4, 0, 0.0)),
    ("linear_act_backward", "linear_act_backward", "dy",
     lambda a: a.linear_act_backward(0, FAKE, FAKE, FAKE, FAKE, FAKE, FAKE, 4, 4, 4, 0, 0.0,
                                     0, 0, 1)),
    ("linear_act_backward", "linear_act_backward", "y",  # act = relu reads act'(y) off y
     lambda a: a.linear_act_backward(FAKE, FAKE, FAKE, 0, FAKE, FAKE, FAKE, 4, 4, 4, 1, 0.0,
                                     0, 0, 1)),
    ("linear_act_backward", "linear_act_backward", "x",  # dw needs x
     lambda a: a.linear_act_backward(FAKE, 0, FAKE, FAKE, 0, FAKE, 0, 4, 4, 4, 0, 0.0,
                                     0, 0, 1)),
    ("linear_act_backward", "linear_act_backward", "w",  # dx needs w
     lambda a: a.linear_act_backward(FAKE, FAKE, 0, FAKE, FAKE, 0, 0, 4, 4, 4, 0, 0.0,
                                     0, 0, 1)),
    ("linear_act_backward", "linear_act_backward", "workspace",  # split-K partials
     lambda a: a.linear_act_backward(FAKE, FAKE, FAKE, FAKE, 0, FAKE, 0, 4, 4, 4, 0, 0.0,
                                     0, 32, 2)),
    ("conv2d_forward", "conv2d_forward", "x",
     lambda a: a.conv2d_forward(0, FAKE, 0, FAKE, GEOM, FAKE, 100, 1)),
    ("conv2d_forward", "conv2d_forward", "w",
     lambda a: a.conv2d_forward(FAKE, 0, 0, FAKE, GEOM, FAKE, 100, 1)),
    ("conv2d_forward", "conv2d_forward", "y",
     lambda a: a.conv2d_forward(FAKE, FAKE, 0, 0, GEOM, FAKE, 100, 1)),
    ("conv2d_backward", "conv2d_backward", "dy",
     lambda a: a.conv2d_backward(0, FAKE, FAKE, FAKE, FAKE, FAKE, GEOM, FAKE, 100, 1, 1)),
    ("conv2d_backward", "conv2d_backward", "x",
     lambda a: a.conv2d_backward(FAKE, 0, FAKE, 0, FAKE, 0, GEOM, FAKE, 100, 1, 1)),
    ("conv2d_backward", "conv2d_backward", "w",
     lambda a: a.conv2d_backward(FAKE, FAKE, 0, FAKE, 0, 0, GEOM, FAKE, 100, 1, 1)),
    ("conv_transpose2d_forward", "conv_transpose2d_forward", "x",
     lambda a: a.conv_transpose2d_forward(0, FAKE, 0, FAKE, GEOM, FAKE, 100, 1)),
    ("conv_transpose2d_forward", "conv_transpose2d_forward", "w",
     lambda a: a.conv_transpose2d_forward(FAKE, 0, 0, FAKE, GEOM, FAKE, 100, 1)),
    ("conv_transpose2d_forward", "conv_transpose2d_forward", "y",
     lambda a: a.conv_transpose2d_forward(FAKE, FAKE, 0, 0, GEOM, FAKE, 100, 1)),
    ("conv_transpose2d_backward", "conv_transpose2d_backward", "dy",
     lambda a: a.conv_transpose2d_backward(0, FAKE, FAKE, FAKE, FAKE, FAKE, GEOM, FAKE, 100, 1,
                                           1)),
    ("conv_transpose2d_backward", "conv_transpose2d_backward", "x",
     lambda a: a.conv_transpose2d_backward(FAKE, 0, FAKE, 0, FAKE, 0, GEOM, FAKE, 100, 1, 1)),
    ("conv_transpose2d_backward", "conv_transpose2d_backward", "w",
     lambda a: a.conv_transpose2d_backward(FAKE, FAKE, 0, FAKE, 0, 0, GEOM, FAKE, 100, 1, 1)),
    ("batchnorm_forward_train", "batchnorm_forward", "x",
     lambda a: a.batchnorm_forward_train(0, 0, 0, 0, 0, FAKE, FAKE, FAKE, 4, 3, 1, 0.1, 1e-5)),
    ("batchnorm_forward_train", "batchnorm_forward", "y",
     lambda a: a.batchnorm_forward_train(FAKE, 0, 0, 0, 0, 0, FAKE, FAKE, 4, 3, 1, 0.1, 1e-5)),
    ("batchnorm_forward_train", "batchnorm_forward", "mean",
     lambda a: a.batchnorm_forward_train(FAKE, 0, 0, 0, 0, FAKE, 0, FAKE, 4, 3, 1, 0.1, 1e-5)),
    ("batchnorm_forward_train", "batchnorm_forward", "invstd",
     lambda a: a.batchnorm_forward_train(FAKE, 0, 0, 0, 0, FAKE, FAKE, 0, 4, 3, 1, 0.1, 1e-5)),
    ("batchnorm_forward_eval", "batchnorm_forward", "x",
     lambda a: a.batchnorm_forward_eval(0, 0, 0, FAKE, FAKE, FAKE, FAKE, FAKE, 4, 3, 1, 1e-5)),
    ("batchnorm_forward_eval", "batchnorm_forward", "y",
     lambda a: a.batchnorm_forward_eval(FAKE, 0, 0, FAKE, FAKE, 0, FAKE, FAKE, 4, 3, 1, 1e-5)),
    ("batchnorm_forward_eval", "batchnorm_forward", "mean",
     lambda a: a.batchnorm_forward_eval(FAKE, 0, 0, FAKE, FAKE, FAKE, 0, FAKE, 4, 3, 1, 1e-5)),
    ("batchnorm_forward_eval", "batchnorm_forward", "invstd",
     lambda a: a.batchnorm_forward_eval(FAKE, 0, 0, FAKE, FAKE, FAKE, FAKE, 0, 4, 3, 1, 1e-5)),
    ("batchnorm_backward", "batchnorm_backward", "dy",
     lambda a: a.batchnorm_backward(0, FAKE, 0, FAKE, FAKE, FAKE, 0, 0, 4, 3, 1, True)),
    ("batchnorm_backward", "batchnorm_backward", "x",
     lambda a: a.batchnorm_backward(FAKE, 0, 0, FAKE, FAKE, FAKE, 0, 0, 4, 3, 1, True)),
    ("batchnorm_backward", "batchnorm_backward", "mean",
     lambda a: a.batchnorm_backward(FAKE, FAKE, 0, 0, FAKE, FAKE, 0, 0, 4, 3, 1, True)),
    ("batchnorm_backward", "batchnorm_backward", "invstd",
     lambda a: a.batchnorm_backward(FAKE, FAKE, 0, FAKE, 0, FAKE, 0, 0, 4, 3, 1, True)),
    ("sigmoid_bce_forward_backward", "sigmoid_bce_forward_backward", "logits",
     lambda a: a.sigmoid_bce_forward_backward(0, FAKE, FAKE, FAKE, 10, True, FAKE, 1)),
    ("sigmoid_bce_forward_backward", "sigmoid_bce_forward_backward", "targets",
     lambda a: a.sigmoid_bce_forward_backward(FAKE, 0, FAKE, FAKE, 10, True, FAKE, 1)),
    ("sigmoid_bce_forward_backward", "sigmoid_bce_forward_backward", "loss",
     lambda a: a.sigmoid_bce_forward_backward(FAKE, FAKE, 0, FAKE, 10, True, FAKE, 1)),
    ("sigmoid_bce_forward_backward", "sigmoid_bce_forward_backward", "dlogits",
     lambda a: a.sigmoid_bce_forward_backward(FAKE, FAKE, FAKE, 0, 10, True, FAKE, 1)),
    ("sigmoid_bce_forward_backward", "sigmoid_bce_forward_backward", "partials",
     lambda a: a.sigmoid_bce_forward_backward(FAKE, FAKE, FAKE, FAKE, 10, True, 0, 1)),
    ("adam_step", "adam_step", "table",
     lambda a: a.adam_step(0, 2, 4, 8, 1, 1e-3, 0.9, 0.999, 1e-8, 0.0)),
]  # fmt: skip


@pytest.mark.parametrize(
    "function, kernel, arg, call",
    NULL_POINTER_CASES,
    ids=[f"{f}-{arg}" for f, _k, arg, _c in NULL_POINTER_CASES],
)
def test_cpp_entry_point_rejects_a_null_pointer(api, function, kernel, arg, call):
    with pytest.raises(ValueError, match=rf"^{kernel}: {arg} is a null pointer but must hold \d"):
        call(api)


# ----- defect 2: sizes, split counts, chunks and size products (C++ API directly) ---------------

CPP_BOUND_CASES: list[tuple[str, Callable[[Any], Any], str]] = [
    ("linear-N-negative",
     lambda a: a.linear_act_forward(FAKE, FAKE, 0, FAKE, -1, 4, 4, 0, 0.0),
     r"^linear_act_forward: N=-1 is outside \[0, 2\^31 - 1\]$"),
    ("linear-workspace-K-negative",
     lambda a: a.linear_act_workspace_floats(-1, 4, 2),
     r"^linear_act_workspace_floats: K=-1 is outside \[0, 2\^31 - 1\]$"),
    ("bce-n-zero",
     lambda a: a.sigmoid_bce_forward_backward(FAKE, FAKE, FAKE, FAKE, 0, True, FAKE, 1),
     r"^sigmoid_bce_forward_backward: n=0 is outside \[1, 2\^63 - 1\]$"),
    ("adam-max-numel-above-total",
     lambda a: a.adam_step(FAKE, 1, 8, 4, 1, 1e-3, 0.9, 0.999, 1e-8, 0.0),
     r"^adam_step: max_numel=8 is outside \[0, 4\] \(at most total_numel\)$"),
    ("adam-table-misaligned",
     lambda a: a.adam_step(FAKE + 4, 1, 4, 4, 1, 1e-3, 0.9, 0.999, 1e-8, 0.0),
     r"^adam_step: table is not 8-byte aligned$"),
    ("batchnorm-eval-size-overflow",
     lambda a: a.batchnorm_forward_eval(FAKE, 0, 0, FAKE, FAKE, FAKE, FAKE, FAKE, 2**62, 4, 4,
                                        1e-5),
     r"^batchnorm_forward: x \(N\*C\*P\) = 4611686018427387904 \* 4 \* 4 overflows int64$"),
    ("batchnorm-backward-size-overflow",
     lambda a: a.batchnorm_backward(FAKE, FAKE, 0, FAKE, FAKE, FAKE, 0, 0, 2**62, 4, 4, True),
     r"^batchnorm_backward: x \(N\*C\*P\) = 4611686018427387904 \* 4 \* 4 overflows int64$"),
]  # fmt: skip


@pytest.mark.parametrize(
    "call, match", [c[1:] for c in CPP_BOUND_CASES], ids=[c[0] for c in CPP_BOUND_CASES]
)
def test_cpp_entry_point_checks_sizes(api, call, match):
    with pytest.raises(ValueError, match=match):
        call(api)


# ----- defect 2: checks the bindings never made, reached through the public bindings -------------

BINDING_CASES: list[tuple[str, Callable[[ModuleType], Any], str]] = [
    ("linear-workspace-splits",
     lambda m: m.linear_act_workspace_floats(5, 7, 70000),
     r"^linear_act_workspace_floats: splits=70000 is outside \[1, 65535\] \(the reduction is "
     r"split over gridDim\.z\)$"),
    ("linear-workspace-overflow",
     lambda m: m.linear_act_workspace_floats(I32, I32, 65535),
     r"^linear_act_workspace_floats: workspace \(splits\*M\*K\) = 65535 \* 2147483647 \* "
     r"2147483647 overflows int64$"),
    ("linear-backward-splits",
     lambda m: m.linear_act_backward(FAKE, FAKE, FAKE, FAKE, 0, FAKE, 0, 1, 1, 1, 0, 0.0, FAKE,
                                     70000, 70000, 0),
     r"^linear_act_backward: splits=70000 is outside \[1, 65535\]"),
    ("conv-workspace-chunk",
     lambda m: m.conv_workspace_floats(GEOM, 70000, 1, False),
     r"^conv_workspace_floats: chunk=70000 is outside \[1, 65535\]"),
    ("conv-workspace-splits",
     lambda m: m.conv_workspace_floats(GEOM, 1, 70000, True),
     r"^conv_workspace_floats: splits=70000 is outside \[1, 65535\]"),
    ("conv-workspace-overflow",
     lambda m: m.conv_workspace_floats(GEOM_OVERFLOW, 1, 1, False),
     r"^conv_workspace_floats: C\*kh\*kw\*Ho\*Wo = 4 \* 2147483647 \* 2147483647 \* 1 \* 1 "
     r"overflows int64$"),
    ("conv2d-forward-overflow",
     lambda m: m.conv2d_forward(FAKE, FAKE, 0, FAKE, GEOM_OVERFLOW, FAKE, 100, 1, 0),
     r"^conv2d_forward: C\*kh\*kw\*Ho\*Wo = 4 \* 2147483647 \* 2147483647 \* 1 \* 1 "
     r"overflows int64$"),
    ("conv2d-backward-splits",
     lambda m: m.conv2d_backward(FAKE, FAKE, FAKE, FAKE, FAKE, FAKE, GEOM, FAKE, 10**6, 1, 70000,
                                 0),
     r"^conv2d_backward: splits=70000 is outside \[1, 65535\]"),
    ("conv-transpose2d-backward-splits",
     lambda m: m.conv_transpose2d_backward(FAKE, FAKE, FAKE, FAKE, FAKE, FAKE, GEOM, FAKE, 10**6,
                                           1, 70000, 0),
     r"^conv_transpose2d_backward: splits=70000 is outside \[1, 65535\]"),
]  # fmt: skip


@pytest.mark.parametrize(
    "call, match", [c[1:] for c in BINDING_CASES], ids=[c[0] for c in BINDING_CASES]
)
def test_bindings_reach_the_cpp_checks(ext, call, match):
    with pytest.raises(ValueError, match=match):
        call(ext)


# ----- defect 1: the 32-bit index arithmetic of im2col / col2im stays in range ------------------


@pytest.mark.parametrize("function", ["conv2d_forward", "conv_transpose2d_forward"])
def test_padded_size_beyond_int_range_is_rejected(ext, function):
    # im2col computes the padded row i sh + a (up to H + 2 ph - 1) and col2im h + ph in int:
    # a padded height past 2^31 - 1 used to pass validation and overflow on the device.
    with pytest.raises(
        ValueError,
        match=rf"^{function}: padded height H \+ 2 ph=2147483649 is outside \[1, 2\^31 - 1\]",
    ):
        getattr(ext, function)(FAKE, FAKE, 0, FAKE, GEOM_PAD, FAKE, 100, 1, 0)


def _emulator() -> ModuleType:
    if "minigan._C_emu" not in MODULES:
        pytest.skip("minigan._C_emu (the CPU emulator) is not built")
    emu = importlib.import_module("minigan._C_emu")
    if not hasattr(emu, "emu_run_only_blocks"):
        pytest.skip("minigan._C_emu has no emu_run_only_blocks")
    return emu


def _window_pointer(buf: np.ndarray, first: int) -> int:
    """A float pointer p such that p[first + i] is buf[i]: the kernel indexes a huge tensor
    of which only the window buf (registered with the emulator) is ever touched."""
    if buf.ctypes.data < first * 4:
        pytest.skip("the window buffer sits too low in the address space for this trick")
    return buf.ctypes.data - first * 4


def _run_last_block(emu: ModuleType, block: int, buffers: list[np.ndarray], call) -> None:
    emu.emu_clear_buffers()
    for b in buffers:
        emu.emu_register_buffer(b.ctypes.data, b.nbytes)
    emu.emu_run_only_blocks([block])
    try:
        call()
    finally:
        emu.emu_run_only_blocks(None)
        emu.emu_clear_buffers()


def test_im2col_last_elements_near_2_31():
    """im2col (through conv2d_forward) over one image of C*kh*kw*Ho*Wo = 2^31 - 128 columns
    (C = 14913080, 3x3 kernel, 4x4 image, padding 1): only the LAST block of the 2^23-block
    grid runs (emu_run_only_blocks), so only the last 256 thread indices, 2^31 - 256 ..
    2^31 - 1, are formed; the first 128 of them are the last columns of the matrix and must
    hold x_pad[C - 1][i + a][j + b] of their (c, a, b, i, j) decomposition (zeros in the
    padding), the other 128 are past the end and must not be written. The column window and
    the last input channel are the only memory registered, so any wrapped (negative or
    out-of-image) index is reported by the emulator's memory checker.

    With 256-thread blocks the old 32-bit `blockIdx.x * blockDim.x + threadIdx.x` cannot
    exceed 2^31 - 1 when per_image <= 2^31 - 1 (the validated limit), so this passes on the
    old kernel too: it guards the 64-bit index (any block size) rather than reproducing a
    failure; the overflow that did exist (the padded row) is rejected by validation, see
    test_padded_size_beyond_int_range_is_rejected."""
    emu = _emulator()
    C, H, W, k, Ho, Wo = (2**31 - 1) // 144, 4, 4, 3, 4, 4
    P = Ho * Wo
    per_image = C * k * k * P
    assert 2**31 - 256 < per_image <= I32
    last_block = -(-per_image // 256) - 1
    first = last_block * 256
    x_last = np.random.default_rng(0).standard_normal(H * W).astype(np.float32)
    cols = np.full(256, -7.0, np.float32)  # -7: not written
    w, y = np.zeros(16, np.float32), np.zeros(16, np.float32)
    geom = [1, C, H, W, 1, k, k, 1, 1, 1, 1, Ho, Wo]
    _run_last_block(
        emu,
        last_block,
        [x_last, cols, w, y],
        lambda: emu.conv2d_forward(
            _window_pointer(x_last, (C - 1) * H * W),
            w.ctypes.data,
            0,
            y.ctypes.data,  # the GEMM's grid has no block `last_block`: y is not written
            geom,
            _window_pointer(cols, first),
            per_image,
            1,
            0,
        ),
    )
    want = np.full(256, -7.0, np.float32)
    for t in range(256):
        idx = first + t
        if idx >= per_image:
            continue
        kk, p = divmod(idx, P)
        c, r = divmod(kk, k * k)
        a, b = divmod(r, k)
        i, j = divmod(p, Wo)
        h, w_ = i - 1 + a, j - 1 + b
        assert c == C - 1
        want[t] = x_last[h * W + w_] if 0 <= h < H and 0 <= w_ < W else 0.0
    np.testing.assert_array_equal(cols, want)


def test_col2im_last_elements_near_2_31():
    """col2im (through conv_transpose2d_forward) over one image of C*H*W = 2^31 - 4 pixels
    (C = 2^29 - 1 channels of 2x2, 1x1 kernel, stride 2: Ho = Wo = 1): only the last block
    of its 2^23-block grid runs (the GEMM before it has 2^22 blocks, so none of it runs);
    its first 252 threads are the last pixels of the image and must hold dcols[c] + b[c] at
    (h, w) = (0, 0) and b[c] elsewhere (no tap covers them), the last 4 are past the end and
    must not be written. As for im2col, this passes on the old kernel as well (see
    test_im2col_last_elements_near_2_31)."""
    emu = _emulator()
    C, H, W = 2**29 - 1, 2, 2
    per_image = C * H * W
    last_block = -(-per_image // 256) - 1
    first = last_block * 256
    c0 = first // (H * W)  # the first channel of the window
    rng = np.random.default_rng(1)
    dcols = rng.standard_normal(64).astype(np.float32)  # workspace floats c0 .. c0 + 63
    bias = rng.standard_normal(64).astype(np.float32)  # b[c0 .. c0 + 63]
    out = np.full(256, -7.0, np.float32)
    x, w = np.zeros(16, np.float32), np.zeros(16, np.float32)
    geom = [1, C, H, W, 1, 1, 1, 2, 2, 0, 0, 1, 1]
    _run_last_block(
        emu,
        last_block,
        [dcols, bias, out, x, w],
        lambda: emu.conv_transpose2d_forward(
            x.ctypes.data,  # read by the GEMM only, which does not run
            w.ctypes.data,
            _window_pointer(bias, c0),
            _window_pointer(out, first),
            geom,
            _window_pointer(dcols, c0),
            C,
            1,
            0,
        ),
    )
    want = np.full(256, -7.0, np.float32)
    for t in range(256):
        idx = first + t
        if idx >= per_image:
            continue
        c, hw = divmod(idx, H * W)
        want[t] = (dcols[c - c0] if hw == 0 else 0.0) + bias[c - c0]
    np.testing.assert_array_equal(out, want)


# ----- defect 3: device_status names the architectures actually compiled -------------------------


def test_arch_message_comes_from_the_build(ext, api):
    archs = tuple(ext.CUDA_ARCHS)
    if not archs:  # not compiled by nvcc (the emulator): no GPU is "too old"
        assert api.arch_reason(1, 0) == ""
        return
    assert archs == tuple(sorted(archs)) and all(a >= 30 for a in archs), archs
    # nvcc's __CUDA_ARCH_LIST__ must agree with the code the module embeds (the PTX
    # `.target sm_XX` lines, where the binary keeps them readable).
    targets = {int(t) for t in re.findall(rb"\.target sm_(\d+)", Path(ext.__file__).read_bytes())}
    if targets:
        assert set(archs) == targets
    oldest = archs[0]
    names = ", ".join(f"sm_{a}" for a in archs)
    assert api.arch_reason(oldest // 10 - 1, 5) == (
        f"GPU compute capability {oldest // 10 - 1}.5 is older than {oldest // 10}."
        f"{oldest % 10}, the oldest architecture minigan._C is built for ({names})"
    )
    assert api.arch_reason(oldest // 10, oldest % 10) == ""
    assert api.arch_reason(99, 0) == ""


# ----- defect 4: no GEMM kernel is compiled for a layout nobody launches ------------------------

GEMM_KERNEL = re.compile(rb"(gemm_v[123]_[a-z]+)ILb([01])ELb([01])E")


def test_only_launched_gemm_layouts_are_compiled(ext):
    # Callers (linear_act.cu, conv2d.cu) use <a_kcontig, b_kcontig> = <1, 1>, <1, 0> and
    # <0, 0>; <0, 1> used to be instantiated for v1, v2 and v3 and never launched.
    found = {
        (name.decode(), ak == b"1", bk == b"1")
        for name, ak, bk in GEMM_KERNEL.findall(Path(ext.__file__).read_bytes())
    }
    if not found:
        pytest.skip("no GEMM kernel name is readable in the binary")
    assert {name for name, _ak, _bk in found} == {
        "gemm_v1_naive",
        "gemm_v2_smem",
        "gemm_v3_regblock",
    }
    assert {(ak, bk) for _name, ak, bk in found} == {(True, True), (True, False), (False, False)}
