# tests/test_conformance.py: the PyTorch conformance suite. Every public op of minigan.ops
# and minigan.nn.functional (the table in tests/conformance_cases.py) against PyTorch CPU,
# forward and backward, in float32 and float64; a test that no public op lacks a spec; the
# training-mode law of the random ops; and docs/pytorch-ops.md kept equal to the table.
"""PyTorch conformance.

For each spec and dtype, every case runs on both sides with the same input values (the
float64 generator values rounded to the dtype under test): the outputs must have the same
count, shape, dtype and `requires_grad`, and the same values; then the same random upstream
gradient is backpropagated through both (``out.backward(g)`` per output, PyTorch's
``torch.autograd.backward(outs, gs)``) and the gradient of every differentiable input must
agree. A case marked ``raises`` must raise in PyTorch (checked, so the case is real) and in
minigan, with the expected exception class and a message that names the op.

The edge cases of issue 12's "Why" list that are about op results live in the table (dims
out of range, 0-d reductions with dim 0/-1, pow's gradient at a zero or negative base,
integer promotion, the target gradient of BCE-with-logits, BCE probabilities out of range);
the ones about the Tensor protocol and optimizers (``bool(t)``, ``t == u``, complex data,
``optimizer.step()`` without gradients) are tested in tests/test_tensor_rules.py.
"""

from __future__ import annotations

import importlib
import inspect
import zlib
from typing import Any

import conformance_cases as cc
import numpy as np
import pytest
from helpers import assert_close

import minigan
from minigan.tensor import Tensor

# Tolerances, relative to the largest |value| of the compared PyTorch array (assert_close's
# rule: |a - e| <= tol·max|e| + tol·|e|):
# * float64: 1e-9. Both sides compute in float64; they differ only in summation order and
#   libm (each ~1e-16 relative per operation), over reductions of at most ~100 terms: the
#   difference stays below 1e-13, and 1e-9 (the repo's TOL64, docs/testing.md) leaves room
#   for the few ill-conditioned cases (var of a 3-element row, logsumexp at ±1000).
# * float32: 2e-5. Both sides round in float32 (unit roundoff u = 2^-24 ≈ 6e-8) with
#   different algorithms (summation order, exp/erf/tanh implementations accurate to a few
#   ulp, conv/matmul by different BLAS kernels). The repo's float32 policy bounds one side's
#   error by 16·sqrt(K)·u for a reduction of length K; our largest K is ~64 (conv windows,
#   var over 24 elements), i.e. 7.6e-6 per side, 1.5e-5 for the difference of two
#   independent float32 results; 2e-5 is that, rounded up.
TOL = {np.dtype(np.float32): 2e-5, np.dtype(np.float64): 1e-9}
DTYPES = [np.float32, np.float64]

# Names an op's error message may use instead of its own (aliases share one mechanism).
ERROR_NAMES = {
    "ops.cat": ("cat", "concat"),
    "ops.concat": ("concat", "cat"),
    "ops.clip": ("clip", "clamp"),
    "ops.clamp": ("clamp", "clip"),
}


# ----- conversions ---------------------------------------------------------------------------


def _is_float(a: Any) -> bool:
    return isinstance(a, np.ndarray | np.generic) and a.dtype.kind == "f"


def _has_float(args: tuple) -> bool:
    return any(_is_float(a) or (isinstance(a, list) and any(map(_is_float, a))) for a in args)


def _to_mg(a: Any, dtype: np.dtype, grad: bool, leaves: list) -> Any:
    if isinstance(a, np.generic):  # a NumPy scalar (0-d arithmetic returns one): a 0-d tensor
        a = np.asarray(a)
    if isinstance(a, list):
        return [_to_mg(x, dtype, grad, leaves) for x in a]
    if isinstance(a, np.ndarray):
        if a.dtype.kind == "f":
            t = Tensor(a.astype(dtype), requires_grad=grad)
            if grad:
                leaves.append(t)
            return t
        return Tensor(a.copy())
    return a


def _to_torch(T: Any, a: Any, dtype: np.dtype, grad: bool, leaves: list) -> Any:
    if isinstance(a, np.generic):  # a NumPy scalar (0-d arithmetic returns one): a 0-d tensor
        a = np.asarray(a)
    if isinstance(a, list):
        return [_to_torch(T, x, dtype, grad, leaves) for x in a]
    if isinstance(a, np.ndarray):
        if a.dtype.kind == "f":
            t = T.from_numpy(a.astype(dtype)).requires_grad_(grad)
            if grad:
                leaves.append(t)
            return t
        return T.from_numpy(a.copy())
    return a


def _resolve_torch(T: Any, dotted: str) -> Any:
    obj = T
    for part in dotted.split("."):
        obj = getattr(obj, part)
    return obj


def resolve_mg(spec: cc.Spec) -> Any:
    module = importlib.import_module(spec.module)
    fn = getattr(module, spec.short, None)
    if fn is None:
        raise AssertionError(f"{spec.module} has no {spec.short!r} (the op does not exist yet)")
    return fn


def _outputs(value: Any) -> list:
    return list(value) if isinstance(value, tuple | list) else [value]


def _show(a: np.ndarray) -> str:
    return np.array2string(a, precision=6, threshold=12) if a.size <= 24 else f"array{a.shape}"


def compare(actual: np.ndarray, expected: np.ndarray, tol: float, what: str) -> None:
    """Equal shape/dtype; integers and bools exactly; floats within `tol`, with NaN and ±inf
    required at the same places."""
    if actual.shape != expected.shape:
        raise AssertionError(f"{what}: shape {actual.shape}, PyTorch {expected.shape}")
    if actual.dtype != expected.dtype:
        raise AssertionError(f"{what}: dtype {actual.dtype}, PyTorch {expected.dtype}")
    if actual.dtype.kind != "f":
        if not np.array_equal(actual, expected):
            raise AssertionError(f"{what}: {_show(actual)}, PyTorch {_show(expected)}")
        return
    a, e = actual.astype(np.float64), expected.astype(np.float64)
    special = ~np.isfinite(e)
    if not np.array_equal(np.isnan(a), np.isnan(e)) or not np.array_equal(
        np.where(np.isinf(a), a, 0), np.where(np.isinf(e), e, 0)
    ):
        raise AssertionError(f"{what}: NaN/inf differ: {_show(a)}, PyTorch {_show(e)}")
    try:
        assert_close(np.where(special, 0, a), np.where(special, 0, e), tol, what)
    except AssertionError as err:
        raise AssertionError(f"{err}\n  minigan {_show(a)}\n  PyTorch {_show(e)}") from None


# ----- one case ------------------------------------------------------------------------------


def _check_error(spec: cc.Spec, case: cc.Case, fn: Any, T: Any, dtype: np.dtype) -> None:
    targs = [_to_torch(T, a, dtype, False, []) for a in case.args]
    tkw = {
        k: _to_torch(T, v, dtype, False, []) for k, v in (case.torch_kwargs or case.kwargs).items()
    }
    try:
        _call_torch(spec, T, targs, tkw)
    except Exception:  # noqa: BLE001 - any PyTorch error confirms the case is an error
        if case.unsupported:
            raise AssertionError(
                "marked unsupported but PyTorch raises too (fix the case)"
            ) from None
    else:
        if not case.unsupported:
            raise AssertionError("the case expects an error but PyTorch raised none (fix the case)")
    margs = [_to_mg(a, dtype, False, []) for a in case.args]
    mkw = {k: _to_mg(v, dtype, False, []) for k, v in case.kwargs.items()}
    names = ERROR_NAMES.get(spec.name, (spec.short,))
    try:
        out = _call_mg(spec, fn, margs, mkw)
    except case.raises as err:
        if not any(n in str(err) for n in names):
            raise AssertionError(
                f"{type(err).__name__} does not name the op ({' or '.join(names)}): {err}"
            ) from None
        return
    except Exception as err:  # noqa: BLE001
        raise AssertionError(
            f"raised {type(err).__name__}: {err}; expected {case.raises}"
        ) from None
    shown = [_show(o.numpy()) if isinstance(o, Tensor) else repr(o) for o in _outputs(out)]
    raise AssertionError(f"no error (PyTorch raises); minigan returned {shown}")


def _call_torch(spec: cc.Spec, T: Any, args: list, kwargs: dict) -> Any:
    if isinstance(spec.torch, str):
        return _resolve_torch(T, spec.torch)(*args, **kwargs)
    return spec.torch(T, *args, **kwargs)


def _call_mg(spec: cc.Spec, fn: Any, args: list, kwargs: dict) -> Any:
    if spec.mg_call is not None:
        return spec.mg_call(fn, *args, **kwargs)
    return fn(*args, **kwargs)


def run_case(spec: cc.Spec, case: cc.Case, fn: Any, T: Any, dtype: np.dtype) -> None:
    """Compare one case forward and backward; raise AssertionError describing a mismatch."""
    if case.raises is not None:
        _check_error(spec, case, fn, T, dtype)
        return
    tol = {np.dtype(np.float32): spec.tol32, np.dtype(np.float64): spec.tol64}.get(dtype)
    tol = tol if tol is not None else TOL[dtype]

    def wants_grad(i: int) -> bool:
        return spec.diff is None or i in spec.diff

    mg_leaves: list = []
    t_leaves: list = []
    margs = [_to_mg(a, dtype, wants_grad(i), mg_leaves) for i, a in enumerate(case.args)]
    targs = [_to_torch(T, a, dtype, wants_grad(i), t_leaves) for i, a in enumerate(case.args)]
    mkw = {k: _to_mg(v, dtype, False, []) for k, v in case.kwargs.items()}
    tkw = {
        k: _to_torch(T, v, dtype, False, []) for k, v in (case.torch_kwargs or case.kwargs).items()
    }

    t_outs = _outputs(_call_torch(spec, T, targs, tkw))
    m_outs = _outputs(_call_mg(spec, fn, margs, mkw))
    if len(m_outs) != len(t_outs):
        raise AssertionError(f"{len(m_outs)} outputs, PyTorch {len(t_outs)}")
    for k, (m, t) in enumerate(zip(m_outs, t_outs, strict=True)):
        if not isinstance(m, Tensor):
            raise AssertionError(f"output {k} is a {type(m).__name__}, not a Tensor")
        compare(m.numpy(), t.detach().numpy(), tol, f"output {k}")
        if m.requires_grad != t.requires_grad:
            raise AssertionError(
                f"output {k}: requires_grad={m.requires_grad}, PyTorch {t.requires_grad}"
            )

    pairs = [(m, t) for m, t in zip(m_outs, t_outs, strict=True) if t.requires_grad]
    if not case.grad or not pairs:
        return
    rng = np.random.default_rng(zlib.crc32(f"{spec.name}/{case.id}".encode()))
    grads = [rng.standard_normal(t.shape).astype(dtype) for _, t in pairs]
    T.autograd.backward([t for _, t in pairs], [T.from_numpy(g.copy()) for g in grads])
    for (m, _), g in zip(pairs, grads, strict=True):
        m.backward(Tensor(g.copy()), retain_graph=True)
    for i, (ml, tl) in enumerate(zip(mg_leaves, t_leaves, strict=True)):
        expected = tl.grad.numpy() if tl.grad is not None else np.zeros(tl.shape, dtype=dtype)
        actual = ml.grad.numpy() if ml.grad is not None else np.zeros(ml.shape, dtype=ml.dtype)
        compare(actual, expected, tol, f"gradient of differentiable input {i}")


# ----- the tests -----------------------------------------------------------------------------


@pytest.fixture(scope="module")
def T() -> Any:  # noqa: N802 - the torch module
    torch = pytest.importorskip("torch")
    torch.set_num_threads(1)  # small ops; threads only add noise on a shared machine
    return torch


@pytest.mark.parametrize("dtype", DTYPES, ids=["float32", "float64"])
@pytest.mark.parametrize("spec", cc.SPECS, ids=[s.name for s in cc.SPECS])
def test_op_matches_pytorch(spec: cc.Spec, dtype: Any, T: Any) -> None:
    fn = resolve_mg(spec)
    dtype = np.dtype(dtype)
    failures = []
    for case in spec.cases(np.random.default_rng(spec.seed())):
        if dtype == np.float64 and not _has_float(case.args) and case.raises is None:
            continue  # integer-only inputs: nothing depends on the float dtype, ran once
        minigan.manual_seed(0)
        try:
            run_case(spec, case, fn, T, dtype)
        except Exception as err:  # noqa: BLE001 - collect every case's failure
            failures.append(f"[{case.id}] {type(err).__name__}: {err}")
    if failures:
        pytest.fail(
            f"{spec.name} vs {spec.torch_label} ({dtype}): {len(failures)} case(s) differ:\n"
            + "\n".join(failures),
            pytrace=False,
        )


METHOD_SPECS = [s for s in cc.SPECS if s.method]


@pytest.mark.parametrize("spec", METHOD_SPECS, ids=[s.name for s in METHOD_SPECS])
def test_tensor_method_is_the_op(spec: cc.Spec) -> None:
    """x.<method>(*rest) is the op (the same values) for every non-error case."""
    fn = resolve_mg(spec)
    method = getattr(Tensor, spec.method, None)
    assert method is not None, f"Tensor has no method {spec.method!r} (PyTorch has)"
    for case in spec.cases(np.random.default_rng(spec.seed())):
        if case.raises is not None or not isinstance(case.args[0], np.ndarray):
            continue
        args = [_to_mg(a, np.dtype(np.float64), False, []) for a in case.args]
        kwargs = {k: _to_mg(v, np.dtype(np.float64), False, []) for k, v in case.kwargs.items()}
        want = _outputs(fn(*args, **kwargs))
        got = _outputs(getattr(args[0], spec.method)(*args[1:], **kwargs))
        assert len(got) == len(want), f"[{case.id}] x.{spec.method}: {len(got)} outputs"
        for g, w in zip(got, want, strict=True):
            np.testing.assert_array_equal(g.numpy(), w.numpy(), err_msg=f"[{case.id}]")


def _public_ops() -> dict[str, Any]:
    """'ops.<name>' for minigan.ops.__all__, 'F.<name>' for the functions of
    minigan.nn.functional (defined there, or re-exported from minigan.ops)."""
    import minigan.nn.functional as F  # noqa: N812, PLC0415
    import minigan.ops as ops  # noqa: PLC0415

    out = {f"ops.{n}": getattr(ops, n) for n in ops.__all__}
    op_objects = {id(v) for v in out.values()}
    for n, v in vars(F).items():
        if n.startswith("_") or not inspect.isfunction(v):
            continue
        if v.__module__ == F.__name__ or id(v) in op_objects:
            out[f"F.{n}"] = v
    return out


def test_every_public_op_has_a_spec() -> None:
    """New ops cannot skip the suite: a public op needs a spec (or a listed reason)."""
    public = _public_ops()
    missing = []
    for name, obj in public.items():
        if name in cc.BY_NAME or name in cc.NO_PYTORCH_EQUIVALENT:
            continue
        if name in cc.ALIASES and public.get(cc.ALIASES[name]) is obj:
            continue  # an old name of the same function
        same = [n for n, o in public.items() if o is obj and n in cc.BY_NAME]
        if same:
            continue  # a re-export (e.g. F.relu is ops.relu) of a spec'd function
        missing.append(name)
    assert not missing, (
        f"public ops without a conformance spec in tests/conformance_cases.py: {missing} "
        "(add a spec, or a reason to NO_PYTORCH_EQUIVALENT)"
    )


def test_every_spec_names_a_public_op() -> None:
    """The table lists no op that does not exist (an op named here must land)."""
    public = _public_ops()
    absent = [s.name for s in cc.SPECS if s.name not in public]
    assert not absent, f"specs of ops that minigan does not export: {absent}"


@pytest.mark.parametrize("name", ["F.dropout", "F.dropout2d"])
def test_dropout_training_mode_law(name: str) -> None:
    """Training mode draws a random mask m: y = x·m/(1-p), dy/dx = m/(1-p) (as PyTorch);
    dropout2d zeroes whole channels. About a fraction p is dropped."""
    fn = resolve_mg(cc.BY_NAME[name])
    p = 0.25
    x = Tensor(np.random.default_rng(0).uniform(0.5, 1.5, (8, 16, 4, 4)), requires_grad=True)
    y = fn(x, p=p, training=True)
    keep = y.numpy() != 0
    np.testing.assert_allclose(y.numpy()[keep], x.numpy()[keep] / (1 - p), rtol=1e-6)
    if name == "F.dropout2d":
        per_channel = keep.reshape(8, 16, -1)
        assert (per_channel.all(-1) | ~per_channel.any(-1)).all(), "a channel partly dropped"
    assert 0.15 < 1 - keep.mean() < 0.35, f"dropped fraction {1 - keep.mean():.3f}, p={p}"
    g = np.random.default_rng(1).standard_normal(x.shape)
    y.backward(Tensor(g))
    np.testing.assert_allclose(x.grad.numpy(), g * keep / (1 - p), rtol=1e-6)


def test_doc_table_is_current() -> None:
    """docs/pytorch-ops.md's table is the spec table (regenerate it with
    `python tests/conformance_cases.py --write-doc`)."""
    text = cc.DOC.read_text(encoding="utf-8")
    assert cc.doc_section(text) == cc.render_table(), (
        "docs/pytorch-ops.md is out of date: run python tests/conformance_cases.py --write-doc"
    )
