# tests/helpers.py: the one helper the test suite uses to compare a minigan op with a
# reference (`check_op`), the tolerance policy it applies, and device/marker helpers.
"""Test helpers: ``check_op`` and the tolerance policy (see docs/testing.md).

Import from test files as ``from helpers import check_op, fd_ref, ...`` (pytest puts the
``tests/`` directory on ``sys.path``).

``check_op`` runs a minigan op forward and backward (with a random upstream gradient
``dy``) on every requested device and dtype, and compares the output and every input
gradient with a float64 reference evaluated on *the same values* (the inputs rounded to
the dtype under test, then widened to float64), so that only the op's own rounding
is measured, not the rounding of its inputs.

Tolerance policy (the numbers live in `tolerance`)::

    float64:  tol = 1e-9                          (1e-7 for finite-difference references)
    float32:  tol = c * sqrt(K) * 2^-24,  c = 16 by default,  K = the reduction length
    pass:     |actual - expected| <= tol * max|expected|  +  tol * |expected|

i.e. rtol = tol, and atol = tol measured in units of the largest reference value of
that array (floored at 1e-12 for float64 / the smallest normal number for float32).
Why sqrt(K): a float32 value that is a sum of K products of O(1) random-sign terms has
magnitude ~sqrt(K) and accumulated rounding error ~K·2^-24/sqrt(2) (each of the K
partial sums, of size ~sqrt(j), is rounded once and the K errors have random signs), so
its error relative to the array's scale is ~sqrt(K)·2^-24. Pairwise / blocked summation
(NumPy, BLAS, GPU tree reductions) does better, so this bound is safe.
"""

from __future__ import annotations

import contextlib
import importlib.util
import math
import os
import sys
from collections.abc import Callable, Iterator, Mapping, Sequence
from pathlib import Path
from types import ModuleType
from typing import Any

import numpy as np
import pytest

import minigan
from minigan import autograd
from minigan import backend as _backend
from minigan.tensor import Tensor

__all__ = [
    "EPS32",
    "FD_TOL64",
    "TOL64",
    "assert_close",
    "available_devices",
    "check_op",
    "device_params",
    "emu_counts",
    "emu_full_enabled",
    "emu_unavailable_reason",
    "fd_ref",
    "kernel_devices",
    "kernel_unavailable_reason",
    "requires_cuda",
    "requires_emu",
    "tolerance",
    "use_backend",
]

EPS32 = 2.0**-24  # unit roundoff of float32 (half the distance from 1.0 to the next float)
TOL64 = 1e-9  # float64 tolerance (summation-order differences are ~K * 2^-53 << 1e-9)
FD_TOL64 = 1e-7  # float64 tolerance for gradients that the reference got by finite differences
DEFAULT_C = 16.0  # the safety constant c of the float32 rule

_ATOL_FLOOR = {np.dtype(np.float64): 1e-12, np.dtype(np.float32): float(np.finfo(np.float32).tiny)}

# ----- devices and markers ---------------------------------------------------------------

requires_cuda = pytest.mark.skipif(
    not minigan.cuda_is_available(), reason="needs a CUDA GPU (minigan.cuda_is_available())"
)


def available_devices() -> list[str]:
    """The devices tests can run on here: ["cpu"], plus "cuda" when a usable GPU exists."""
    return ["cpu", "cuda"] if minigan.cuda_is_available() else ["cpu"]


def device_params() -> list[Any]:
    """For ``@pytest.mark.parametrize("device", device_params())``: cpu always, and cuda
    marked ``cuda`` and skipped (visibly, with the reason) when no GPU is usable."""
    return [
        pytest.param("cpu", id="cpu"),
        pytest.param("cuda", id="cuda", marks=(pytest.mark.cuda, requires_cuda)),
    ]


def kernel_unavailable_reason(device: str) -> str:
    """Why no fused-kernel implementation is usable on `device` ("" when one is)."""
    if device == "cuda" and not minigan.cuda_is_available():
        return "no CUDA GPU"
    try:
        _backend.implementation(device)
    except (RuntimeError, ValueError) as exc:
        return str(exc)
    return ""


def kernel_devices() -> list[str]:
    """The available devices on which the fused ops (linear_act, conv2d, ...) have a
    usable kernel implementation (see minigan.backend_info())."""
    return [d for d in available_devices() if not kernel_unavailable_reason(d)]


@contextlib.contextmanager
def use_backend(impl: str) -> Iterator[None]:
    """Force one kernel implementation ("numpy", "cupy" or "ext") inside the block, e.g.
    to run `check_op` against the CuPy fallback even when the extension is built."""
    old = os.environ.get("MINIGAN_BACKEND")
    os.environ["MINIGAN_BACKEND"] = impl
    _backend.reset()
    try:
        yield
    finally:
        if old is None:
            del os.environ["MINIGAN_BACKEND"]
        else:
            os.environ["MINIGAN_BACKEND"] = old
        _backend.reset()


# ----- the CUDA emulator (minigan._C_emu) ------------------------------------------------


def emu_unavailable_reason() -> str:
    """Why the CUDA emulator (minigan._C_emu, csrc/emu/) cannot run csrc/'s kernels here
    ("" when it can; build it with `python3 csrc/emu/build.py`)."""
    from minigan.backend import emu_ext  # noqa: PLC0415 (loads minigan._C_emu lazily)

    return emu_ext.unavailable_reason()


requires_emu = pytest.mark.skipif(
    bool(emu_unavailable_reason()), reason=f"needs the CUDA emulator: {emu_unavailable_reason()}"
)

# Set by conftest.py from --run-emu-full / MINIGAN_EMU_FULL=1: run the slow emulated cases.
EMU_FULL = os.environ.get("MINIGAN_EMU_FULL", "") not in ("", "0")


def emu_full_enabled() -> bool:
    """Whether the slow emulated cases (marker ``emu_full``) run in this session."""
    return EMU_FULL


_EMU_COUNTERS = ("launches", "blocks", "threads", "barriers", "warp_ops", "accesses", "failures")


@contextlib.contextmanager
def emu_counts() -> Iterator[dict[str, int]]:
    """How much the CUDA emulator ran inside the block: yields a dict that, on exit, holds
    the increase of each emu_stats() counter (launches, threads, barriers, ...); all 0 when
    the emulator is not built. Used to check that an "emu" run really ran the kernels."""
    counts = dict.fromkeys(_EMU_COUNTERS, 0)
    ext = None
    if not emu_unavailable_reason():
        import minigan._C_emu as ext  # noqa: PLC0415
    before = ext.emu_stats() if ext is not None else {}
    try:
        yield counts
    finally:
        if ext is not None:
            after = ext.emu_stats()
            counts.update({k: int(after[k]) - int(before[k]) for k in _EMU_COUNTERS})


# ----- tolerances and comparison ----------------------------------------------------------


def tolerance(dtype: Any, reduction_len: int = 1, c: float = DEFAULT_C) -> float:
    """The relative tolerance of the policy: 1e-9 for float64, c·sqrt(K)·2^-24 for float32."""
    dtype = np.dtype(dtype)
    if dtype == np.float64:
        return TOL64
    if dtype == np.float32:
        return c * math.sqrt(max(1, int(reduction_len))) * EPS32
    raise TypeError(f"no tolerance policy for dtype {dtype}")


def assert_close(
    actual: Any, expected: Any, tol: float, what: str = "value", atol_floor: float = 0.0
) -> None:
    """Assert |actual - expected| <= tol·max|expected| + tol·|expected| elementwise (and
    >= atol_floor absolute), with a message naming the worst element."""
    actual = np.asarray(actual.numpy() if isinstance(actual, Tensor) else actual)
    expected = np.asarray(expected, dtype=np.float64)
    if actual.shape != expected.shape:
        raise AssertionError(f"{what}: shape {actual.shape}, expected {expected.shape}")
    a = actual.astype(np.float64)
    if expected.size == 0:
        return
    scale = float(np.max(np.abs(expected)))
    if not np.isfinite(scale):
        raise AssertionError(f"{what}: the reference itself is not finite")
    atol = max(tol * scale, atol_floor)
    diff = np.abs(a - expected)
    allowed = atol + tol * np.abs(expected)
    bad = ~(diff <= allowed)  # NaN in actual counts as bad
    if bad.any():
        excess = np.where(np.isnan(diff), np.inf, diff - allowed)
        worst = np.unravel_index(int(np.argmax(excess)), expected.shape)
        raise AssertionError(
            f"{what}: {int(bad.sum())} of {expected.size} elements differ; worst at index "
            f"{tuple(int(i) for i in worst)}: actual={a[worst]!r} expected={expected[worst]!r} "
            f"abs_err={diff[worst]:.3g} allowed={allowed[worst]:.3g} (tol={tol:.3g}, "
            f"scale max|expected|={scale:.3g})"
        )


# ----- references ----------------------------------------------------------------------------


def fd_ref(forward: Callable[..., Any], step: float = 1e-6) -> Callable[..., list[Any]]:
    """Turn a float64 forward function into a ``ref_grad_fn`` by central differences:
    grad_i[j] = sum_k (f(x + h e_j)_k - f(x - h e_j)_k) · dy_k / (2h), h = step·max(1,|x_j|).

    Costs 2 forward calls per element of every floating input: keep those inputs small
    (a few hundred elements). Gradients obtained this way are compared with
    tol = max(policy, FD_TOL64) in float64 (the difference quotient is accurate to ~1e-10
    relative, not to 1e-15)."""

    def ref_grad(*args: Any) -> list[Any]:
        *xs, dy = args
        xs = [np.array(x, copy=True) for x in xs]
        grads: list[Any] = []
        for x in xs:
            if x.dtype.kind != "f":
                grads.append(None)
                continue
            g = np.zeros(x.shape, dtype=np.float64)
            flat, gflat = x.reshape(-1), g.reshape(-1)
            for j in range(flat.size):
                orig = flat[j]
                h = step * max(1.0, abs(float(orig)))
                flat[j] = orig + h
                plus = np.array(forward(*xs), dtype=np.float64)  # a copy, not a view of x
                flat[j] = orig - h
                minus = np.array(forward(*xs), dtype=np.float64)
                flat[j] = orig
                gflat[j] = np.sum((plus - minus) * dy) / (2 * h)
            grads.append(g)
        return grads

    ref_grad.finite_differences = True  # type: ignore[attr-defined]
    return ref_grad


def _lengths(reduction_len: int | Mapping[Any, int], n_inputs: int) -> dict[Any, int]:
    """Per compared array ("out", 0, 1, ...): its reduction length K."""
    if isinstance(reduction_len, Mapping):
        default = max(reduction_len.values(), default=1)
        keys = ["out", *range(n_inputs)]
        return {k: int(reduction_len.get(k, default)) for k in keys}
    return {k: int(reduction_len) for k in ["out", *range(n_inputs)]}


class _DtypeWatch:
    """An autograd op hook recording every op whose forward output or backward gradients
    change the floating dtype (a float32 graph must not silently compute in float64)."""

    def __init__(self) -> None:
        self.problems: list[str] = []

    def __call__(self, event: str, name: str, info: Any) -> None:
        if name == "ToDevice":  # the one op whose job is to change dtype
            return
        if event == "forward_end":
            inputs, out = info
            dtypes = {t.dtype for t in inputs if t.dtype.kind == "f"}
            if dtypes and out.dtype.kind == "f" and out.dtype not in dtypes:
                self.problems.append(
                    f"{name}.forward turned {sorted(map(str, dtypes))} into {out.dtype}"
                )
        elif event == "backward_end":
            tensor, grads = info
            parents = tensor._node.parents if tensor._node is not None else ()
            for k, (p, g) in enumerate(zip(parents, grads, strict=False)):
                if g is not None and hasattr(g, "dtype") and g.dtype != p.dtype:
                    self.problems.append(
                        f"{name}.backward returned a {g.dtype} gradient for input {k} "
                        f"of dtype {p.dtype}"
                    )


def check_op(
    op_fn: Callable[..., Tensor],
    ref_fn: Callable[..., Any],
    inputs: Sequence[np.ndarray],
    *,
    ref_grad_fn: Callable[..., Sequence[Any]] | None = None,
    grad_inputs: set[int] | None = None,
    devices: Sequence[str] = ("cpu",),
    dtypes: Sequence[Any] | Any = (np.float32, np.float64),
    reduction_len: int | Mapping[Any, int] = 1,
    c: float = DEFAULT_C,
    tol: float | None = None,
    seed: int = 0,
) -> None:
    """Compare a minigan op, forward and backward, with a float64 reference.

    Args:
      op_fn: ``op_fn(*tensors) -> Tensor``; one Tensor per entry of `inputs` (floating
        arrays become tensors of the dtype under test; integer/bool arrays stay integer
        tensors, e.g. indices). Put non-array parameters (stride, axis, ...) in a lambda.
      ref_fn: ``ref_fn(*float64_arrays) -> ndarray``, the expected output in float64.
      inputs: the input values as NumPy arrays (any float dtype; they are cast).
      ref_grad_fn: ``ref_grad_fn(*float64_arrays, dy) -> [grad_0, grad_1, ...]``, one entry
        per input (None allowed for inputs not in `grad_inputs`), the gradients of
        ``sum(ref_fn(*arrays) * dy)``. Omitted: computed from `ref_fn` by central finite
        differences (`fd_ref`; fine for inputs of a few hundred elements).
      grad_inputs: indices of the inputs whose gradient is checked (they get
        requires_grad=True); default: every floating input.
      devices: e.g. ``available_devices()``; "cuda" needs a GPU.
      dtypes: one dtype or several (default float32 and float64).
      reduction_len: K of the tolerance policy: the number of terms summed into one
        output element. An int applies to the output and every gradient; a mapping
        ``{"out": K_y, 0: K_dx0, 1: K_dx1, ...}`` sets them one by one (missing keys get
        the largest given value). E.g. for y = x @ w with x (n, k), w (k, m):
        ``{"out": k, 0: m, 1: n}``.
      c: the constant of the float32 rule (default 16).
      tol: override the policy with this relative tolerance for every comparison.
      seed: seeds the upstream gradient dy (standard normal, shape of the output).

    Checks, per device and dtype: the output is a Tensor with the dtype, device and shape
    of the reference; output and gradients are within tolerance; no op in the graph
    changed the floating dtype (forward or backward); the op did not modify its inputs
    or dy in place. Raises AssertionError naming device, dtype and the failing array.
    """
    dtypes = [np.dtype(d) for d in (dtypes if isinstance(dtypes, list | tuple) else [dtypes])]
    inputs = [np.asarray(x) for x in inputs]
    floating = [i for i, x in enumerate(inputs) if x.dtype.kind == "f"]
    grad_inputs = set(floating) if grad_inputs is None else set(grad_inputs)
    if not grad_inputs <= set(floating):
        raise ValueError(
            f"check_op: grad_inputs {sorted(grad_inputs)} must be floating inputs {floating}"
        )
    lengths = _lengths(reduction_len, len(inputs))
    grad_ref = ref_grad_fn if ref_grad_fn is not None else fd_ref(ref_fn)
    fd = getattr(grad_ref, "finite_differences", False)
    rng = np.random.default_rng(seed)
    dy64: np.ndarray | None = None

    for dtype in dtypes:
        # The values under test, and the same values widened to float64 for the reference.
        xs = [x.astype(dtype) if i in floating else x for i, x in enumerate(inputs)]
        xs_ref = [x.astype(np.float64) if i in floating else x for i, x in enumerate(xs)]
        out_ref = np.asarray(ref_fn(*[x.copy() for x in xs_ref]), dtype=np.float64)
        if dy64 is None:
            dy64 = rng.standard_normal(out_ref.shape)
        dy = dy64.astype(dtype)
        grads_ref = None
        if grad_inputs:
            grads_ref = list(grad_ref(*[x.copy() for x in xs_ref], dy.astype(np.float64)))
            if len(grads_ref) != len(inputs):
                raise ValueError(
                    f"check_op: ref_grad_fn returned {len(grads_ref)} gradients for "
                    f"{len(inputs)} inputs"
                )

        for device in devices:
            where = f"[device={device}, dtype={dtype}]"
            tensors = [
                Tensor(x.copy(), requires_grad=i in grad_inputs, device=device)
                for i, x in enumerate(xs)
            ]
            dy_t = Tensor(dy.copy(), device=device)
            watch = _DtypeWatch()
            autograd.op_hooks.append(watch)
            try:
                out = op_fn(*tensors)
                if not isinstance(out, Tensor):
                    raise AssertionError(f"{where} op returned {type(out).__name__}, not a Tensor")
                if out.dtype != dtype:
                    raise AssertionError(f"{where} output dtype {out.dtype}, expected {dtype}")
                if out.device != device:
                    raise AssertionError(f"{where} output on {out.device}, expected {device}")
                assert_close(
                    out.numpy(),
                    out_ref,
                    _tol(tol, dtype, lengths["out"], c, False),
                    f"{where} output",
                    _ATOL_FLOOR[dtype],
                )
                if grad_inputs:
                    if not out.requires_grad:
                        raise AssertionError(f"{where} output does not require grad")
                    out.backward(dy_t)
            finally:
                autograd.op_hooks.remove(watch)
            if watch.problems:
                raise AssertionError(
                    f"{where} dtype changed inside the graph: " + "; ".join(watch.problems)
                )
            for i in sorted(grad_inputs):
                assert grads_ref is not None
                if grads_ref[i] is None:
                    raise ValueError(f"check_op: ref_grad_fn gave None for checked input {i}")
                g = tensors[i].grad
                if g is None:
                    raise AssertionError(f"{where} input {i} received no gradient")
                if g.dtype != dtype or g.device != device:
                    raise AssertionError(f"{where} grad of input {i} is {g.dtype}@{g.device}")
                assert_close(
                    g.numpy(),
                    grads_ref[i],
                    _tol(tol, dtype, lengths[i], c, fd),
                    f"{where} grad of input {i}",
                    _ATOL_FLOOR[dtype],
                )
            for i, (t, x) in enumerate(zip(tensors, xs, strict=True)):
                if not np.array_equal(t.numpy(), x, equal_nan=x.dtype.kind == "f"):
                    raise AssertionError(f"{where} the op modified input {i} in place")
            if not np.array_equal(dy_t.numpy(), dy):
                raise AssertionError(f"{where} backward modified the upstream gradient dy in place")


def _tol(override: float | None, dtype: np.dtype, k: int, c: float, fd: bool) -> float:
    if override is not None:
        return override
    t = tolerance(dtype, k, c)
    return max(t, FD_TOL64) if fd else t


EXAMPLES = Path(__file__).resolve().parents[1] / "examples"


def load_example(name: str, module_name: str | None = None, reuse: bool = False) -> ModuleType:
    """Import examples/<name>.py as a module registered as `module_name` (default: name):
    a fresh import, or with reuse=True the one already registered under that name."""
    module_name = module_name or name
    if reuse and module_name in sys.modules:
        return sys.modules[module_name]
    spec = importlib.util.spec_from_file_location(module_name, EXAMPLES / f"{name}.py")
    module = importlib.util.module_from_spec(spec)
    sys.modules[module_name] = module
    spec.loader.exec_module(module)
    return module
