# tests/test_activations.py: the activation registry (minigan/backend/activations.py) is the
# one source of the activations' names, codes, math and CuPy snippets. Checked here: against
# the C++ enum in csrc/common.cuh (parsed, so it runs without a build) and the names the
# bindings export, against the compiled minigan._C / minigan._C_emu when importable, the
# tables every other module derives from it, its NumPy math (formulas and finite
# differences), and that an op validates the activation name once per call.
"""Tests of the activation registry and of what derives from it."""

from __future__ import annotations

import importlib
import re
from pathlib import Path

import numpy as np
import pytest

import minigan as mg
from minigan import nn
from minigan.backend import activations, checks, cuda_ext, cupy_kernels, emu_ext
from minigan.backend import numpy_ref as nr
from minigan.ops import fused

ROOT = Path(__file__).resolve().parents[1]
REGISTRY = activations.REGISTRY
NAMES = [a.name for a in REGISTRY]


# ----------------------------------------------------------------------------------
# The registry against C++
# ----------------------------------------------------------------------------------


def cpp_enum() -> tuple[dict[str, int], int]:
    """({enumerator: value} of `enum Activation` in csrc/common.cuh, kNumActivations)."""
    text = (ROOT / "csrc" / "common.cuh").read_text(encoding="utf-8")
    body = re.search(r"enum\s+Activation\b[^{]*\{(?P<body>[^}]*)\}", text)
    assert body, "csrc/common.cuh: no `enum Activation { ... }` found"
    entries = re.findall(r"(\w+)\s*=\s*(\d+)", body.group("body"))
    count = re.search(r"kNumActivations\s*=\s*(\d+)", text)
    assert count, "csrc/common.cuh: no kNumActivations found"
    return {name: int(value) for name, value in entries}, int(count.group(1))


def test_codes_are_positions_and_names_are_unique():
    assert [a.code for a in REGISTRY] == list(range(len(REGISTRY)))
    assert len(set(NAMES)) == len(NAMES)
    assert activations.ACTIVATIONS == tuple(NAMES)
    assert activations.CODES == {a.name: a.code for a in REGISTRY}


def test_registry_matches_the_cpp_enum():
    enum, count = cpp_enum()
    assert enum == {a.cpp_enumerator: a.code for a in REGISTRY}, (
        "csrc/common.cuh's enum Activation and minigan/backend/activations.py disagree"
    )
    assert count == len(REGISTRY), "kNumActivations must equal the number of activations"


def test_bindings_export_each_enumerator_under_its_name():
    """bindings.cpp builds _C.ACTIVATIONS as acts["name"] = minigan::ACT_NAME."""
    text = (ROOT / "csrc" / "bindings.cpp").read_text(encoding="utf-8")
    exported = dict(
        re.findall(r'acts\["(\w+)"\]\s*=\s*static_cast<int>\(\s*minigan::(\w+)\s*\)', text)
    )
    assert exported == {a.name: a.cpp_enumerator for a in REGISTRY}


@pytest.mark.parametrize("module", ["minigan._C", "minigan._C_emu"])
def test_compiled_module_exports_the_registry_codes(module):
    try:
        ext = importlib.import_module(module)
    except ImportError as exc:
        pytest.skip(f"{module} is not built ({exc}); `python3 csrc/emu/build.py` builds _C_emu")
    assert dict(ext.ACTIVATIONS) == activations.CODES


# ----------------------------------------------------------------------------------
# What derives from the registry
# ----------------------------------------------------------------------------------


def test_every_table_derives_from_the_registry():
    for where in (checks, nr, cupy_kernels, fused, nn.layers):
        assert where.ACTIVATIONS == activations.ACTIVATIONS, where.__name__
    assert cuda_ext.ACTIVATION_CODES == activations.CODES
    assert emu_ext.ACTIVATION_CODES == activations.CODES


@pytest.mark.parametrize("act", REGISTRY, ids=NAMES)
def test_every_activation_has_cupy_snippets(act):
    """The CuPy fallback's elementwise bodies assign y (forward) and dz (backward). They run
    in tests/test_contract_kernels.py (on a GPU, and in the CUDA emulator through its CuPy
    stand-in)."""
    assert re.search(r"\by\s*=", act.cupy_forward), act.cupy_forward
    assert re.search(r"\bdz\s*=", act.cupy_backward), act.cupy_backward
    for snippet in (act.cupy_forward, act.cupy_backward):
        assert snippet.rstrip().endswith(";"), snippet


@pytest.mark.parametrize("act", REGISTRY, ids=NAMES)
def test_the_reference_documents_every_activation(act):
    for fn in (nr.linear_act_forward, nr.linear_act_backward):
        assert f"{act.name}:" in fn.__doc__, f"numpy_ref.{fn.__name__} lacks {act.name}'s math"


# ----------------------------------------------------------------------------------
# The NumPy math of the registry
# ----------------------------------------------------------------------------------

FORMULAS = {  # y = act(z), written directly (float64)
    "none": lambda z, s: z,
    "relu": lambda z, s: np.maximum(z, 0),
    "leaky_relu": lambda z, s: np.where(z > 0, z, s * z),
    "tanh": lambda z, s: np.tanh(z),
    "sigmoid": lambda z, s: 1 / (1 + np.exp(-z)),
}


@pytest.mark.parametrize("slope", [0.0, 0.2, 1.7])
@pytest.mark.parametrize("act", REGISTRY, ids=NAMES)
def test_reference_forward_and_gradient(act, slope):
    """apply_ matches the formula; grad(dy, y) = dy * act'(z) matches central differences
    of the formula, away from the kink at 0."""
    assert set(FORMULAS) == set(NAMES), "add the new activation's formula to FORMULAS"
    rng = np.random.default_rng(act.code)
    z = rng.standard_normal(200) * 3
    z = z[np.abs(z) > 1e-3]
    expected = FORMULAS[act.name](z, slope)
    y = act.apply_(z.copy(), slope)
    np.testing.assert_allclose(y, expected, rtol=1e-14, atol=1e-300)
    h = 1e-6
    numeric = (FORMULAS[act.name](z + h, slope) - FORMULAS[act.name](z - h, slope)) / (2 * h)
    dy = rng.standard_normal(z.shape)
    np.testing.assert_allclose(act.grad(dy, y, slope), dy * numeric, rtol=1e-6, atol=1e-8)


def test_sigmoid_reference_does_not_overflow():
    z = np.array([-1e4, -50.0, 0.0, 50.0, 1e4])
    with np.errstate(over="raise", invalid="raise", divide="raise"):  # underflow is fine
        y = activations.BY_NAME["sigmoid"].apply_(z.copy(), 0.0)
    assert np.all(np.isfinite(y)) and y[0] == 0.0 and y[2] == 0.5 and y[-1] == 1.0


# ----------------------------------------------------------------------------------
# Validation: clear errors, once per call
# ----------------------------------------------------------------------------------


def test_unknown_names_are_rejected_naming_the_op():
    with pytest.raises(ValueError, match=r"^linear_act: unknown activation 'gelu'; expected"):
        activations.lookup("linear_act", "gelu")
    with pytest.raises(ValueError, match="unknown activation"):
        activations.lookup("linear_act", ["relu"])  # not even a string
    entry = activations.BY_NAME["tanh"]
    assert activations.lookup("x", "tanh") is entry and activations.lookup("x", entry) is entry


@pytest.fixture
def name_lookups(monkeypatch):
    """A list that receives the name each time an activation NAME is looked up (validated);
    passing an entry along does not count."""
    seen: list[str] = []
    original = activations.lookup

    def counting(op, act):
        if isinstance(act, str):
            seen.append(act)
        return original(op, act)

    monkeypatch.setattr(activations, "lookup", counting)
    return seen


def test_an_op_validates_the_activation_once_per_call(name_lookups):
    x = mg.randn(4, 3, requires_grad=True)
    w = mg.randn(5, 3, requires_grad=True)
    b = mg.randn(5, requires_grad=True)
    y = mg.linear_act(x, w, b, act="leaky_relu", slope=0.2)
    y.sum().backward()  # forward kernel, backward kernel: no further lookups
    assert name_lookups == ["leaky_relu"]


def test_a_layer_validates_the_activation_once_per_call(name_lookups):
    layer = nn.Linear(3, 5, activation="tanh")
    fused_model = nn.Sequential(nn.Linear(3, 5), nn.Sigmoid())
    name_lookups.clear()  # construction validated "tanh"; count the calls only
    layer(mg.randn(2, 3)).sum().backward()
    assert name_lookups == ["tanh"]
    name_lookups.clear()
    fused_model(mg.randn(2, 3)).sum().backward()
    assert name_lookups == ["sigmoid"]


def test_a_kernel_called_directly_validates_its_name(name_lookups):
    x, w = np.ones((2, 3)), np.ones((4, 3))
    y = nr.linear_act_forward(x, w, None, "relu")
    nr.linear_act_backward(np.ones_like(y), x, w, y, "relu")
    assert name_lookups == ["relu", "relu"]  # two kernel calls, one lookup each
