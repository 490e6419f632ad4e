# tests/test_conv_groups_dilation.py: conv2d and conv_transpose2d with groups and dilation
# (built in the ops layer on the unchanged kernels): forward and backward against PyTorch,
# gradcheck, the groups=1/dilation=1 fast path bit-identical to the plain kernel calls,
# the nn layers, and the errors.
from __future__ import annotations

import math

import numpy as np
import pytest

import minigan
from minigan import backend, nn, ops
from minigan.ops import fused

torch = pytest.importorskip("torch")
F = torch.nn.functional


def rng(seed: int = 0) -> np.random.Generator:
    return np.random.default_rng(seed)


def _compare_with_torch(mg_fn, torch_fn, arrays, dtype=np.float64, rtol=1e-10, seed=1):
    """Run both on the same values and the same random dy; compare y and every gradient
    relative to the largest reference value."""
    mts = [minigan.tensor(a.astype(dtype), requires_grad=True) for a in arrays]
    tts = [torch.tensor(a.astype(dtype), requires_grad=True) for a in arrays]
    y = mg_fn(*mts)
    ty = torch_fn(*tts)
    assert y.shape == tuple(ty.shape)
    dy = rng(seed).standard_normal(y.shape).astype(dtype)
    y.backward(grad=dy)
    ty.backward(torch.tensor(dy))
    pairs = [("y", y.numpy(), ty.detach().numpy())]
    pairs += [
        (f"grad {i}", m.grad.numpy(), t.grad.numpy()) for i, (m, t) in enumerate(zip(mts, tts))
    ]
    for name, got, want in pairs:
        scale = max(float(np.abs(want).max(initial=0.0)), 1e-30)
        err = float(np.abs(got - want).max(initial=0.0)) / scale
        assert err <= rtol, f"{name}: relative error {err:.3g} > {rtol:g}"


# ----- conv2d ---------------------------------------------------------------------------
# (N, C, H, W), O, kernel, stride, padding, dilation, groups, bias
CONV_CASES = [
    ((2, 4, 7, 6), 6, 3, 1, 1, 2, 2, True),
    ((1, 6, 9, 8), 3, 2, 2, 0, 3, 3, False),
    ((2, 3, 5, 5), 3, 3, 1, 2, 1, 3, True),  # depthwise, dilation 1
    ((2, 2, 6, 7), 4, 2, 1, 0, 2, 1, True),  # dilation only
    ((1, 4, 11, 9), 8, (3, 2), (2, 1), (1, 2), (2, 3), 4, True),  # pairs, odd sizes
    ((3, 8, 5, 6), 4, 1, 1, 0, 1, 2, False),  # 1x1 grouped
    ((1, 6, 10, 10), 6, 3, 3, 3, (3, 1), 6, True),  # depthwise, stride 3
    ((2, 4, 4, 4), 2, 2, 1, 0, 3, 2, True),  # the dilated kernel spans the whole image
]


@pytest.mark.parametrize("case", CONV_CASES, ids=[str(i) for i in range(len(CONV_CASES))])
def test_conv2d_matches_torch(case):
    shape, o, k, s, p, d, g, bias = case
    kh, kw = (k, k) if isinstance(k, int) else k
    r = rng(sum(map(ord, str(case))))
    arrays = [r.standard_normal(shape), r.standard_normal((o, shape[1] // g, kh, kw))]
    if bias:
        arrays.append(r.standard_normal(o))

    def mg_fn(*t):
        return ops.conv2d(*t, stride=s, padding=p, dilation=d, groups=g)

    def torch_fn(*t):
        return F.conv2d(*t, stride=s, padding=p, dilation=d, groups=g)

    _compare_with_torch(mg_fn, torch_fn, arrays)
    # float32: the CPU kernels (numba), same formulation
    _compare_with_torch(mg_fn, torch_fn, arrays, dtype=np.float32, rtol=2e-5)


@pytest.mark.parametrize("case", [CONV_CASES[0], CONV_CASES[4], CONV_CASES[6]])
def test_conv2d_gradcheck(case):
    shape, o, k, s, p, d, g, bias = case
    kh, kw = (k, k) if isinstance(k, int) else k
    r = rng(7)
    shape = (1,) + shape[1:]
    x = minigan.tensor(r.standard_normal(shape), requires_grad=True)
    w = minigan.tensor(r.standard_normal((o, shape[1] // g, kh, kw)), requires_grad=True)
    b = minigan.tensor(r.standard_normal(o), requires_grad=True)
    assert minigan.gradcheck(
        lambda x, w, b: ops.conv2d(x, w, b, stride=s, padding=p, dilation=d, groups=g), [x, w, b]
    )


def test_conv2d_empty_batch():
    x = minigan.zeros(0, 4, 6, 6, dtype="float64", requires_grad=True)
    w = minigan.tensor(rng(1).standard_normal((4, 2, 2, 2)), requires_grad=True)
    y = ops.conv2d(x, w, groups=2, dilation=2)
    assert y.shape == tuple(
        F.conv2d(torch.zeros(0, 4, 6, 6), torch.zeros(4, 2, 2, 2), groups=2, dilation=2).shape
    )
    y.sum().backward()
    assert x.grad.shape == (0, 4, 6, 6)
    assert np.array_equal(w.grad.numpy(), np.zeros((4, 2, 2, 2)))


def test_conv2d_only_needed_grads():
    """A constant weight or input gets no gradient, and the other one is still right."""
    r = rng(3)
    x_np, w_np = r.standard_normal((2, 4, 6, 6)), r.standard_normal((4, 2, 3, 3))
    tx = torch.tensor(x_np, requires_grad=True)
    tw = torch.tensor(w_np, requires_grad=True)
    F.conv2d(tx, tw, groups=2, dilation=2).sum().backward()
    x = minigan.tensor(x_np, requires_grad=True)
    w = minigan.tensor(w_np)
    ops.conv2d(x, w, groups=2, dilation=2).sum().backward()
    assert w.grad is None
    np.testing.assert_allclose(x.grad.numpy(), tx.grad.numpy(), rtol=1e-12, atol=1e-12)
    x, w = minigan.tensor(x_np), minigan.tensor(w_np, requires_grad=True)
    ops.conv2d(x, w, groups=2, dilation=2).sum().backward()
    assert x.grad is None
    np.testing.assert_allclose(w.grad.numpy(), tw.grad.numpy(), rtol=1e-12, atol=1e-12)


# ----- conv_transpose2d -------------------------------------------------------------------
# (N, Cin, H, W), Cout, kernel, stride, padding, output_padding, dilation, groups, bias
CONVT_CASES = [
    ((2, 4, 3, 4), 6, 3, 2, 1, 1, 2, 2, True),
    ((1, 6, 4, 3), 3, 2, 1, 0, 1, 2, 3, True),  # output_padding >= stride, < dilation
    ((2, 2, 3, 3), 4, 3, 1, 2, 1, 2, 1, False),  # padding > 0 with output_padding
    ((2, 4, 3, 3), 2, 3, 2, 1, 1, 1, 2, True),  # groups only
    ((1, 3, 5, 4), 3, (2, 3), (1, 2), (0, 1), (1, 1), (3, 2), 3, True),  # pairs, depthwise
    ((2, 4, 2, 2), 8, 1, 1, 0, 0, 1, 4, False),  # 1x1 grouped
    ((1, 2, 4, 5), 2, 3, 3, 3, 2, 2, 1, True),  # padding 3 crops into the kernel's span
    ((1, 2, 3, 3), 2, 2, 1, 0, 2, 3, 2, True),  # output_padding 2 past the canvas
]


@pytest.mark.parametrize("case", CONVT_CASES, ids=[str(i) for i in range(len(CONVT_CASES))])
def test_conv_transpose2d_matches_torch(case):
    shape, cout, k, s, p, op, d, g, bias = case
    kh, kw = (k, k) if isinstance(k, int) else k
    r = rng(sum(map(ord, str(case))))
    arrays = [r.standard_normal(shape), r.standard_normal((shape[1], cout // g, kh, kw))]
    if bias:
        arrays.append(r.standard_normal(cout))

    def mg_fn(*t):
        return ops.conv_transpose2d(
            *t, stride=s, padding=p, output_padding=op, groups=g, dilation=d
        )

    def torch_fn(*t):
        return F.conv_transpose2d(*t, stride=s, padding=p, output_padding=op, groups=g, dilation=d)

    _compare_with_torch(mg_fn, torch_fn, arrays)
    _compare_with_torch(mg_fn, torch_fn, arrays, dtype=np.float32, rtol=2e-5)


@pytest.mark.parametrize("case", [CONVT_CASES[0], CONVT_CASES[1], CONVT_CASES[4]])
def test_conv_transpose2d_gradcheck(case):
    shape, cout, k, s, p, op, d, g, _ = case
    kh, kw = (k, k) if isinstance(k, int) else k
    r = rng(11)
    shape = (1,) + shape[1:]
    x = minigan.tensor(r.standard_normal(shape), requires_grad=True)
    w = minigan.tensor(r.standard_normal((shape[1], cout // g, kh, kw)), requires_grad=True)
    b = minigan.tensor(r.standard_normal(cout), requires_grad=True)

    def fn(x, w, b):
        return ops.conv_transpose2d(
            x, w, b, stride=s, padding=p, output_padding=op, groups=g, dilation=d
        )

    assert minigan.gradcheck(fn, [x, w, b])


def test_conv_transpose2d_is_the_adjoint_of_conv2d():
    """<conv2d(u, w), v> == <u, conv_transpose2d(v, w)> with groups and dilation (exact math,
    independent of PyTorch)."""
    r = rng(5)
    w = minigan.tensor(r.standard_normal((6, 2, 3, 2)))
    u = minigan.tensor(r.standard_normal((2, 4, 9, 8)))
    kw = dict(stride=2, padding=1, dilation=(2, 3), groups=2)
    y = ops.conv2d(u, w, **kw)
    v = minigan.tensor(r.standard_normal(y.shape))
    back = ops.conv_transpose2d(v, w, output_padding=0, **kw)
    assert back.shape == u.shape
    lhs = float((y.numpy() * v.numpy()).sum())
    rhs = float((u.numpy() * back.numpy()).sum())
    assert math.isclose(lhs, rhs, rel_tol=1e-12)


# ----- the fast path is the plain kernel call ----------------------------------------------
@pytest.mark.parametrize("dtype", ["float32", "float64"])
def test_fast_path_is_bit_identical_to_the_kernels(dtype):
    r = rng(9)
    x_np = r.standard_normal((2, 3, 9, 8)).astype(dtype)
    w_np = r.standard_normal((5, 3, 3, 3)).astype(dtype)
    b_np = r.standard_normal(5).astype(dtype)
    dy_np = r.standard_normal((2, 5, 5, 4)).astype(dtype)
    fwd = backend.kernel("conv2d_forward", "cpu", np.dtype(dtype))
    bwd = backend.kernel("conv2d_backward", "cpu", np.dtype(dtype))
    y_ref = fwd(x_np, w_np, b_np, (2, 2), (1, 1))
    dx_ref, dw_ref, db_ref = bwd(dy_np, x_np, w_np, (2, 2), (1, 1), True, True, True)
    for kwargs in ({}, {"dilation": 1, "groups": 1}, {"dilation": (1, 1)}):
        x = minigan.tensor(x_np, requires_grad=True)
        w = minigan.tensor(w_np, requires_grad=True)
        b = minigan.tensor(b_np, requires_grad=True)
        y = ops.conv2d(x, w, b, stride=2, padding=1, **kwargs)
        assert y._node.function is fused.Conv2d  # the fused op, not the grouped one
        y.backward(grad=dy_np)
        assert np.array_equal(y.numpy(), y_ref)
        assert np.array_equal(x.grad.numpy(), dx_ref)
        assert np.array_equal(w.grad.numpy(), dw_ref)
        assert np.array_equal(b.grad.numpy(), db_ref)

    t_fwd = backend.kernel("conv_transpose2d_forward", "cpu", np.dtype(dtype))
    t_bwd = backend.kernel("conv_transpose2d_backward", "cpu", np.dtype(dtype))
    wt_np = r.standard_normal((2, 5, 3, 3)).astype(dtype)
    xt_np = r.standard_normal((2, 2, 4, 4)).astype(dtype)
    yt_ref = t_fwd(xt_np, wt_np, b_np, (2, 2), (1, 1), (1, 1))
    dyt = r.standard_normal(yt_ref.shape).astype(dtype)
    dxt_ref, dwt_ref, dbt_ref = t_bwd(dyt, xt_np, wt_np, (2, 2), (1, 1), (1, 1), True, True, True)
    xt = minigan.tensor(xt_np, requires_grad=True)
    wt = minigan.tensor(wt_np, requires_grad=True)
    bt = minigan.tensor(b_np, requires_grad=True)
    yt = ops.conv_transpose2d(xt, wt, bt, 2, 1, 1, groups=1, dilation=1)
    assert yt._node.function is fused.ConvTranspose2d
    yt.backward(grad=dyt)
    assert np.array_equal(yt.numpy(), yt_ref)
    assert np.array_equal(xt.grad.numpy(), dxt_ref)
    assert np.array_equal(wt.grad.numpy(), dwt_ref)
    assert np.array_equal(bt.grad.numpy(), dbt_ref)


def test_grouped_path_uses_the_same_kernels_per_group():
    """groups g == g ordinary convolutions on the channel slices, concatenated (exactly)."""
    r = rng(2)
    x = minigan.tensor(r.standard_normal((2, 6, 7, 7)).astype(np.float32))
    w = minigan.tensor(r.standard_normal((9, 2, 3, 3)).astype(np.float32))
    y = ops.conv2d(x, w, groups=3, padding=1)
    parts = [
        ops.conv2d(x[:, 2 * k : 2 * k + 2], w[3 * k : 3 * k + 3], padding=1).numpy()
        for k in range(3)
    ]
    assert np.array_equal(y.numpy(), np.concatenate(parts, axis=1))


# ----- nn layers ---------------------------------------------------------------------------
def test_conv2d_layer_groups_dilation_matches_torch():
    minigan.manual_seed(0)
    mg = nn.Conv2d(4, 6, 3, stride=2, padding=2, dilation=2, groups=2)
    assert mg.weight.shape == (6, 2, 3, 3)
    bound = 1 / math.sqrt(2 * 9)  # fan_in = in/groups · kh · kw, as PyTorch
    assert np.abs(mg.bias.numpy()).max() <= bound
    t = torch.nn.Conv2d(4, 6, 3, stride=2, padding=2, dilation=2, groups=2).double()
    with torch.no_grad():
        t.weight.copy_(torch.tensor(mg.weight.numpy()))
        t.bias.copy_(torch.tensor(mg.bias.numpy()))
    x = rng(1).standard_normal((2, 4, 9, 9))
    y = mg(minigan.tensor(x.astype(np.float32)))
    np.testing.assert_allclose(y.numpy(), t(torch.tensor(x)).detach().numpy(), rtol=1e-5, atol=1e-5)
    assert "dilation=(2, 2), groups=2" in repr(mg)
    assert "groups" not in repr(nn.Conv2d(4, 6, 3))  # reprs of plain layers are unchanged


def test_conv_transpose2d_layer_groups_dilation_matches_torch():
    minigan.manual_seed(0)
    # PyTorch's positional order: ..., output_padding, groups, bias, dilation
    mg = nn.ConvTranspose2d(4, 6, 3, 1, 1, 1, 2, True, 2)
    assert mg.weight.shape == (4, 3, 3, 3)
    t = torch.nn.ConvTranspose2d(4, 6, 3, 1, 1, 1, 2, True, 2).double()
    with torch.no_grad():
        t.weight.copy_(torch.tensor(mg.weight.numpy()))
        t.bias.copy_(torch.tensor(mg.bias.numpy()))
    x = rng(1).standard_normal((2, 4, 5, 4))
    y = mg(minigan.tensor(x.astype(np.float32)))
    np.testing.assert_allclose(y.numpy(), t(torch.tensor(x)).detach().numpy(), rtol=1e-5, atol=1e-5)


@pytest.mark.parametrize(
    "make, message",
    [
        (
            lambda: nn.Conv2d(4, 6, 3, groups=3),
            r"Conv2d: in_channels \(4\) must be divisible by groups \(3\)",
        ),
        (lambda: nn.Conv2d(4, 6, 3, groups=4), r"Conv2d: out_channels \(6\) must be divisible"),
        (lambda: nn.Conv2d(4, 4, 3, groups=0), "Conv2d: groups must be a positive int"),
        (lambda: nn.ConvTranspose2d(6, 4, 3, groups=4), r"ConvTranspose2d: in_channels \(6\)"),
        (lambda: nn.ConvTranspose2d(2, 2, 3, output_padding=2, dilation=2), "output_padding"),
    ],
)
def test_layer_constructor_errors(make, message):
    with pytest.raises(ValueError, match=message):
        make()


def test_conv_transpose2d_layer_accepts_output_padding_below_dilation():
    layer = nn.ConvTranspose2d(2, 2, 3, stride=1, output_padding=1, dilation=2)
    assert layer(minigan.zeros(1, 2, 4, 4)).shape == (1, 2, 9, 9)


# ----- errors --------------------------------------------------------------------------------
def _t(*shape):
    return minigan.zeros(*shape, dtype="float64")


@pytest.mark.parametrize(
    "call, exc, message",
    [
        (
            lambda: ops.conv2d(_t(1, 4, 5, 5), _t(6, 2, 3, 3), groups=3),
            ValueError,
            r"groups=3 must divide",
        ),
        (
            lambda: ops.conv2d(_t(1, 4, 5, 5), _t(6, 4, 3, 3), groups=2),
            ValueError,
            r"weight must have shape \(O, C/groups",
        ),
        (
            lambda: ops.conv2d(_t(1, 4, 5, 5), _t(6, 2, 3, 3), _t(4), groups=2),
            ValueError,
            "conv2d: bias must have shape",
        ),
        (
            lambda: ops.conv2d(_t(1, 4, 5, 5), _t(6, 4, 3, 3), dilation=0),
            ValueError,
            "conv2d: dilation must be >= 1",
        ),
        (
            lambda: ops.conv2d(_t(1, 4, 5, 5), _t(6, 4, 3, 3), groups=0),
            ValueError,
            "conv2d: groups must be >= 1",
        ),
        (
            lambda: ops.conv2d(_t(1, 4, 5, 5), _t(6, 4, 3, 3), groups=1.0),
            TypeError,
            "conv2d: groups must be an int",
        ),
        (
            lambda: ops.conv2d(_t(1, 4, 5, 5), _t(6, 4, 3, 3), dilation=3),
            ValueError,
            r"smaller than the dilated kernel's span 7x7",
        ),
        (
            lambda: ops.conv2d(_t(1, 4, 5, 5), _t(6, 4, 3, 3), dilation=(1, 2, 3)),
            ValueError,
            "conv2d: dilation must be an int or a pair",
        ),
        (
            lambda: ops.conv2d(_t(4, 5, 5), _t(6, 4, 3, 3), groups=2),
            ValueError,
            "conv2d: expected input",
        ),
        (
            lambda: ops.conv_transpose2d(_t(1, 4, 3, 3), _t(4, 2, 3, 3), groups=3),
            ValueError,
            "conv_transpose2d: groups=3 must divide",
        ),
        (
            lambda: ops.conv_transpose2d(_t(1, 4, 3, 3), _t(4, 2, 3, 3), _t(2), groups=2),
            ValueError,
            r"conv_transpose2d: bias must have shape \(4,\)",
        ),
        (
            lambda: ops.conv_transpose2d(
                _t(1, 4, 3, 3), _t(4, 2, 3, 3), output_padding=2, dilation=2
            ),
            ValueError,
            "smaller than the stride",
        ),
        (
            lambda: ops.conv_transpose2d(_t(1, 4, 1, 1), _t(4, 2, 2, 2), padding=2, dilation=2),
            ValueError,
            "is empty",
        ),
        (
            lambda: ops.conv_transpose2d(_t(1, 4, 3, 3), _t(3, 2, 3, 3), groups=2),
            ValueError,
            "conv_transpose2d: expected input",
        ),
    ],
)
def test_errors_name_the_op_and_the_problem(call, exc, message):
    with pytest.raises(exc, match=message):
        call()


def test_dilation_padded_input_smaller_than_span_is_refused_like_torch():
    with pytest.raises(RuntimeError):
        F.conv2d(torch.zeros(1, 4, 5, 5), torch.zeros(6, 4, 3, 3), dilation=3)
