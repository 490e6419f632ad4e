# tests/test_pooling.py: max_pool2d, avg_pool2d, nearest interpolate and dropout2d, and
# their layers (MaxPool2d, AvgPool2d, Upsample, Dropout2d): forward, backward and indices
# against PyTorch over a grid of kernel/stride/padding/dilation/ceil_mode values, gradcheck,
# tie and NaN rules, dropout2d's statistics and seeding, and the errors.
from __future__ import annotations

import itertools
import warnings

import numpy as np
import pytest

import minigan
from minigan import nn, ops
from minigan.nn import functional as mF

torch = pytest.importorskip("torch")
F = torch.nn.functional


def rng(seed: int = 0) -> np.random.Generator:
    return np.random.default_rng(seed)


def _grid_inputs(shape, seed):
    """Values on a coarse grid (many ties, so the first-maximum rule is exercised)."""
    return np.round(rng(seed).standard_normal(shape) * 2) / 2


def _run_both(mg_fn, torch_fn, x_np, dtype=np.float64, seed=1):
    """y, dx (and any extra outputs) of both libraries for the same x and dy."""
    x = minigan.tensor(x_np.astype(dtype), requires_grad=True)
    tx = torch.tensor(x_np.astype(dtype), requires_grad=True)
    out, tout = mg_fn(x), torch_fn(tx)
    y, extra = (out[0], out[1:]) if isinstance(out, tuple) else (out, ())
    ty, textra = (tout[0], tout[1:]) if isinstance(tout, tuple) else (tout, ())
    assert y.shape == tuple(ty.shape)
    dy = rng(seed).standard_normal(y.shape).astype(dtype)
    y.backward(grad=dy)
    ty.backward(torch.tensor(dy))
    return (
        (y.numpy(), x.grad.numpy(), [e.numpy() for e in extra]),
        (ty.detach().numpy(), tx.grad.numpy(), [e.numpy() for e in textra]),
    )


# ----- max_pool2d --------------------------------------------------------------------------
SHAPES = [(2, 3, 7, 6), (3, 5, 5), (1, 2, 9, 10)]
KERNELS = [1, 2, 3, (2, 3)]
STRIDES = [None, 1, 2, (1, 3)]


def _max_cases():
    for shape, k, s, p, d, ceil in itertools.product(
        SHAPES, KERNELS, STRIDES, [0, 1], [1, 2], [False, True]
    ):
        kh, kw = (k, k) if isinstance(k, int) else k
        if p > ((min(kh, kw) - 1) * d + 1) // 2:
            continue  # refused by both (tested below)
        yield shape, k, s, p, d, ceil


MAX_CASES = list(_max_cases())


def test_max_pool2d_grid_matches_torch_with_indices_and_ties():
    """Values, indices (flat r·W + c) and gradients equal PyTorch's over the whole grid,
    on inputs full of ties (the first maximum wins)."""
    assert len(MAX_CASES) > 100
    checked = 0
    for i, (shape, k, s, p, d, ceil) in enumerate(MAX_CASES):
        x_np = _grid_inputs(shape, i)
        try:
            F.max_pool2d(torch.tensor(x_np), k, s, p, d, ceil)
        except RuntimeError:
            with pytest.raises(ValueError, match="max_pool2d"):
                ops.max_pool2d(minigan.tensor(x_np), k, s, p, d, ceil)
            continue
        got, want = _run_both(
            lambda x: ops.max_pool2d(x, k, s, p, d, ceil, return_indices=True),  # noqa: B023
            lambda x: F.max_pool2d(x, k, s, p, d, ceil, return_indices=True),  # noqa: B023
            x_np,
        )
        case = f"shape={shape} k={k} s={s} p={p} d={d} ceil={ceil}"
        assert np.array_equal(got[0], want[0]), case
        assert got[2][0].dtype == np.int64 and np.array_equal(got[2][0], want[2][0]), case
        np.testing.assert_allclose(got[1], want[1], rtol=1e-12, atol=1e-12, err_msg=case)
        checked += 1
    assert checked > 100


def test_max_pool2d_float32_and_integer_inputs():
    x_np = rng(3).standard_normal((2, 3, 8, 7))
    got, want = _run_both(
        lambda x: ops.max_pool2d(x, 3, 2, 1), lambda x: F.max_pool2d(x, 3, 2, 1), x_np, np.float32
    )
    assert got[0].dtype == np.float32
    assert np.array_equal(got[0], want[0])
    # overlapping windows add their gradients in another order: float32 rounding
    np.testing.assert_allclose(got[1], want[1], rtol=1e-6, atol=1e-6)
    xi = rng(4).integers(-5, 5, (2, 3, 6, 6))
    y, idx = ops.max_pool2d(minigan.tensor(xi), 2, return_indices=True)
    ty, tidx = F.max_pool2d(torch.tensor(xi), 2, return_indices=True)
    assert y.dtype == np.int64 and np.array_equal(y.numpy(), ty.numpy())
    assert np.array_equal(idx.numpy(), tidx.numpy())


def test_max_pool2d_nan_propagates_like_torch():
    x_np = rng(5).standard_normal((1, 2, 6, 6))
    x_np[0, 0, 1, 1] = np.nan
    x_np[0, 1, 4, 2] = np.nan
    x_np[0, 1, 4, 3] = np.nan
    got, want = _run_both(
        lambda x: ops.max_pool2d(x, 3, 1, 1, return_indices=True),
        lambda x: F.max_pool2d(x, 3, 1, 1, return_indices=True),
        x_np,
    )
    np.testing.assert_array_equal(got[0], want[0])  # NaN positions equal too
    assert np.array_equal(got[2][0], want[2][0])
    np.testing.assert_allclose(got[1], want[1], rtol=1e-12, atol=1e-12)


def test_max_pool2d_gradient_goes_to_the_first_maximum():
    """An independent check of the tie rule: a constant image sends each window's whole
    gradient to its top-left element."""
    x = minigan.tensor(np.ones((1, 1, 4, 4)), requires_grad=True)
    ops.max_pool2d(x, 2, 1).sum().backward()
    expected = np.zeros((4, 4))
    expected[:3, :3] = 1.0  # every top-left corner of the 3x3 windows
    assert np.array_equal(x.grad.numpy()[0, 0], expected)


def test_max_pool2d_gradcheck():
    # distinct values (a permutation) keep every window away from a tie
    x_np = rng(6).permutation(2 * 2 * 7 * 6).reshape(2, 2, 7, 6) / 10.0
    for kwargs in (
        dict(kernel_size=3, stride=2, padding=1),
        dict(kernel_size=(2, 3), stride=(1, 2), dilation=2, ceil_mode=True),
    ):
        x = minigan.tensor(x_np, requires_grad=True)
        assert minigan.gradcheck(lambda x: ops.max_pool2d(x, **kwargs), [x])  # noqa: B023


def test_max_pool2d_empty_batch():
    x = minigan.zeros(0, 3, 5, 5, dtype="float64", requires_grad=True)
    y, idx = ops.max_pool2d(x, 2, return_indices=True)
    assert y.shape == idx.shape == tuple(F.max_pool2d(torch.zeros(0, 3, 5, 5), 2).shape)
    y.sum().backward()
    assert x.grad.shape == (0, 3, 5, 5)


# ----- avg_pool2d ---------------------------------------------------------------------------
def _avg_cases():
    for shape, k, s, p, ceil, cip, div in itertools.product(
        SHAPES, KERNELS, STRIDES, [0, 1], [False, True], [True, False], [None, 3]
    ):
        kh, kw = (k, k) if isinstance(k, int) else k
        if p > min(kh, kw) // 2:
            continue
        yield shape, k, s, p, ceil, cip, div


AVG_CASES = list(_avg_cases())


def test_avg_pool2d_grid_matches_torch():
    assert len(AVG_CASES) > 150
    for i, (shape, k, s, p, ceil, cip, div) in enumerate(AVG_CASES):
        x_np = rng(i).standard_normal(shape)
        got, want = _run_both(
            lambda x: ops.avg_pool2d(x, k, s, p, ceil, cip, div),  # noqa: B023
            lambda x: F.avg_pool2d(x, k, s, p, ceil, cip, div),  # noqa: B023
            x_np,
        )
        case = f"shape={shape} k={k} s={s} p={p} ceil={ceil} cip={cip} div={div}"
        np.testing.assert_allclose(got[0], want[0], rtol=1e-12, atol=1e-12, err_msg=case)
        np.testing.assert_allclose(got[1], want[1], rtol=1e-12, atol=1e-12, err_msg=case)


def test_avg_pool2d_independent_values():
    """count_include_pad with padding, by hand: a corner window of a ones image with
    padding 1 and a 3x3 kernel holds 4 ones in 9 slots (4/9), or 4 in 4 (1.0)."""
    x = minigan.tensor(np.ones((1, 1, 4, 4)))
    assert ops.avg_pool2d(x, 3, 1, 1).numpy()[0, 0, 0, 0] == pytest.approx(4 / 9)
    assert ops.avg_pool2d(x, 3, 1, 1, count_include_pad=False).numpy()[0, 0, 0, 0] == 1.0
    assert ops.avg_pool2d(x, 3, 1, 1, divisor_override=2).numpy()[0, 0, 0, 0] == 2.0


def test_avg_pool2d_float32_and_integer_inputs():
    x_np = rng(7).standard_normal((2, 3, 8, 7))
    got, want = _run_both(
        lambda x: ops.avg_pool2d(x, 3, 2, 1, True),
        lambda x: F.avg_pool2d(x, 3, 2, 1, True),
        x_np,
        np.float32,
    )
    assert got[0].dtype == np.float32
    np.testing.assert_allclose(got[0], want[0], rtol=1e-6, atol=1e-6)
    np.testing.assert_allclose(got[1], want[1], rtol=1e-6, atol=1e-6)
    # minigan's dtype rule: integer input computes in the default float dtype
    xi = rng(8).integers(-5, 5, (1, 2, 4, 4))
    y = ops.avg_pool2d(minigan.tensor(xi), 2)
    assert y.dtype == np.float32
    np.testing.assert_allclose(y.numpy(), F.avg_pool2d(torch.tensor(xi).float(), 2).numpy())


def test_avg_pool2d_gradcheck():
    x = minigan.tensor(rng(9).standard_normal((2, 2, 7, 6)), requires_grad=True)
    assert minigan.gradcheck(
        lambda x: ops.avg_pool2d(x, 3, 2, 1, ceil_mode=True, count_include_pad=False), [x]
    )
    assert minigan.gradcheck(lambda x: ops.avg_pool2d(x, (2, 3), divisor_override=5), [x])


# ----- interpolate (nearest) -------------------------------------------------------------------
UPSAMPLE_CASES = [
    ((2, 3, 5), dict(scale_factor=2)),
    ((2, 3, 5), dict(size=12)),
    ((2, 3, 4, 5), dict(scale_factor=2)),
    ((2, 3, 4, 5), dict(scale_factor=1.7)),
    ((2, 3, 4, 5), dict(scale_factor=0.6)),
    ((2, 3, 4, 5), dict(scale_factor=(3, 2.5))),
    ((2, 3, 4, 5), dict(size=(7, 3))),
    ((2, 3, 4, 5), dict(size=(4, 5))),
    ((2, 3, 4, 5), dict(scale_factor=1.3, recompute_scale_factor=True)),
    ((1, 2, 7, 9), dict(scale_factor=3)),
    ((1, 2, 7, 9), dict(size=(20, 30))),
    ((1, 2, 3, 4, 5), dict(scale_factor=2)),
    ((1, 2, 3, 4, 5), dict(size=(5, 3, 7))),
    ((0, 2, 3, 4), dict(scale_factor=2)),
]


@pytest.mark.parametrize("shape, kwargs", UPSAMPLE_CASES)
def test_interpolate_nearest_matches_torch(shape, kwargs):
    x_np = rng(len(shape)).standard_normal(shape)
    got, want = _run_both(
        lambda x: mF.interpolate(x, mode="nearest", **kwargs),
        lambda x: F.interpolate(x, mode="nearest", **kwargs),
        x_np,
    )
    assert np.array_equal(got[0], want[0])
    np.testing.assert_allclose(got[1], want[1], rtol=1e-12, atol=1e-12)


def test_interpolate_backward_sums_the_copies():
    """Independent check: upsampling by 2 copies each pixel 4 times, so a gradient of ones
    comes back as 4 everywhere; by 3x2, as 6."""
    x = minigan.tensor(np.zeros((1, 1, 3, 4)), requires_grad=True)
    mF.interpolate(x, scale_factor=2).sum().backward()
    assert np.array_equal(x.grad.numpy(), np.full((1, 1, 3, 4), 4.0))
    x.zero_grad()
    mF.interpolate(x, scale_factor=(3, 2)).sum().backward()
    assert np.array_equal(x.grad.numpy(), np.full((1, 1, 3, 4), 6.0))


def test_interpolate_gradcheck():
    x = minigan.tensor(rng(10).standard_normal((1, 2, 3, 4)), requires_grad=True)
    assert minigan.gradcheck(lambda x: mF.interpolate(x, size=(5, 7)), [x])
    assert minigan.gradcheck(lambda x: mF.interpolate(x, scale_factor=2), [x])


# ----- dropout2d ------------------------------------------------------------------------------
def test_dropout2d_zeroes_whole_channels_and_scales_the_rest():
    p = 0.3
    scale = 1.0 / (1.0 - p)
    minigan.manual_seed(0)
    x_np = rng(11).uniform(1.0, 2.0, (64, 32, 3, 4))
    x = minigan.tensor(x_np, dtype="float64", requires_grad=True)
    y = mF.dropout2d(x, p).numpy()
    kept = y.reshape(64, 32, -1)[:, :, 0] != 0  # x > 0, so a zero means dropped
    # every channel map is all-zero or all-scaled by exactly 1/(1-p)
    expected = np.where(kept[:, :, None, None], x_np * scale, 0.0)
    assert np.array_equal(y, expected)
    sigma = np.sqrt(p * (1 - p) / kept.size)  # binomial standard deviation of the fraction
    assert abs(float((~kept).mean()) - p) < 5 * sigma
    # gradient: the same mask, scaled
    x.zero_grad()
    minigan.manual_seed(0)
    mF.dropout2d(x, p).sum().backward()
    grad = np.where(kept[:, :, None, None], scale, 0.0) * np.ones(x.shape)
    assert np.array_equal(x.grad.numpy(), grad)


def test_dropout2d_is_reproducible_under_manual_seed():
    x = minigan.ones(8, 16, 2, 2)
    minigan.manual_seed(123)
    a = mF.dropout2d(x, 0.5).numpy()
    b = mF.dropout2d(x, 0.5).numpy()
    minigan.manual_seed(123)
    assert np.array_equal(mF.dropout2d(x, 0.5).numpy(), a)
    assert not np.array_equal(a, b)  # the stream moves on


def test_dropout2d_identity_cases_and_layer():
    x = minigan.randn(2, 3, 4, 4)
    assert mF.dropout2d(x, 0.5, training=False) is x
    assert mF.dropout2d(x, 0.0) is x
    layer = nn.Dropout2d(0.5)
    layer.eval()
    assert np.array_equal(layer(x).numpy(), x.numpy())
    layer.train()
    minigan.manual_seed(1)
    y = layer(x)
    minigan.manual_seed(1)
    assert np.array_equal(y.numpy(), mF.dropout2d(x, 0.5).numpy())
    assert repr(layer) == "Dropout2d(p=0.5)"


def test_dropout2d_3d_input_is_read_as_n_c_l_like_torch():
    x = minigan.ones(6, 5, 7)
    with pytest.warns(UserWarning, match="dropout2d"):
        y = mF.dropout2d(x, 0.5).numpy()
    assert np.all(np.ptp(y, axis=2) == 0)  # one mask entry per (n, c) row
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        mF.dropout2d(minigan.ones(2, 3, 4, 4), 0.5)  # 4-d: no warning


# ----- layers -----------------------------------------------------------------------------------
def test_pooling_layers_match_torch():
    x_np = rng(12).standard_normal((2, 3, 9, 8))
    pairs = [
        (nn.MaxPool2d(3, 2, 1, ceil_mode=True), torch.nn.MaxPool2d(3, 2, 1, ceil_mode=True)),
        (nn.MaxPool2d(2, dilation=2), torch.nn.MaxPool2d(2, dilation=2)),
        (nn.AvgPool2d(3, 2, 1, count_include_pad=False), torch.nn.AvgPool2d(3, 2, 1, False, False)),
        (nn.Upsample(scale_factor=2), torch.nn.Upsample(scale_factor=2)),
        (nn.Upsample(size=(11, 5)), torch.nn.Upsample(size=(11, 5))),
    ]
    for mg, tl in pairs:
        got, want = _run_both(mg, tl, x_np)
        np.testing.assert_allclose(got[0], want[0], rtol=1e-12, atol=1e-12, err_msg=repr(mg))
        np.testing.assert_allclose(got[1], want[1], rtol=1e-12, atol=1e-12, err_msg=repr(mg))
    y, idx = nn.MaxPool2d(2, return_indices=True)(minigan.tensor(x_np))
    ty, tidx = torch.nn.MaxPool2d(2, return_indices=True)(torch.tensor(x_np))
    assert np.array_equal(idx.numpy(), tidx.numpy())
    assert repr(nn.MaxPool2d(2)) == repr(torch.nn.MaxPool2d(2))
    assert repr(nn.Upsample(scale_factor=2)) == repr(torch.nn.Upsample(scale_factor=2))


def test_functional_aliases():
    assert mF.max_pool2d is ops.max_pool2d and mF.avg_pool2d is ops.avg_pool2d
    assert mF.conv2d is ops.conv2d and mF.conv_transpose2d is ops.conv_transpose2d


# ----- errors -----------------------------------------------------------------------------------
def _x(*shape):
    return minigan.zeros(*shape)


@pytest.mark.parametrize(
    "call, exc, message",
    [
        (lambda: ops.max_pool2d(_x(1, 1, 5, 5), 3, padding=2), ValueError, "max_pool2d: padding"),
        (lambda: ops.avg_pool2d(_x(1, 1, 5, 5), 2, padding=2), ValueError, "avg_pool2d: padding"),
        (lambda: ops.max_pool2d(_x(1, 1, 1, 1), 2), ValueError, r"max_pool2d: .*\(too small\)"),
        (lambda: ops.max_pool2d(_x(5, 5), 2), ValueError, r"max_pool2d: expected input \(N, C"),
        (lambda: ops.max_pool2d(_x(2, 0, 5, 5), 2), ValueError, "max_pool2d: expected non-empty"),
        (lambda: ops.max_pool2d(_x(1, 1, 5, 5), 0), ValueError, "kernel_size must be >= 1"),
        (lambda: ops.max_pool2d(_x(1, 1, 5, 5), 2, stride=0), ValueError, "stride must be >= 1"),
        (lambda: ops.max_pool2d(_x(1, 1, 5, 5), 2.0), TypeError, "kernel_size must be an int"),
        (lambda: ops.max_pool2d(_x(1, 1, 5, 5), 2, dilation=0), ValueError, "dilation"),
        (
            lambda: ops.max_pool2d(minigan.tensor(np.ones((1, 1, 4, 4), bool)), 2),
            TypeError,
            "max_pool2d: expected a float or integer",
        ),
        (
            lambda: ops.avg_pool2d(_x(1, 1, 4, 4), 2, divisor_override=0),
            ValueError,
            "divisor_override",
        ),
        (
            lambda: mF.interpolate(_x(1, 1, 4, 4), scale_factor=2, mode="bilinear"),
            NotImplementedError,
            "bilinear",
        ),
        (lambda: nn.Upsample(scale_factor=2, mode="bicubic"), NotImplementedError, "bicubic"),
        (lambda: mF.interpolate(_x(1, 1, 4, 4), size=3, scale_factor=2), ValueError, "exactly one"),
        (lambda: mF.interpolate(_x(1, 1, 4, 4)), ValueError, "exactly one"),
        (
            lambda: mF.interpolate(_x(1, 1, 4, 4), size=(3, 3, 3)),
            ValueError,
            "one entry per spatial dim",
        ),
        (lambda: mF.interpolate(_x(1, 1, 4, 4), scale_factor=0.1), ValueError, "greater than 0"),
        (lambda: mF.interpolate(_x(1, 1, 4, 4), scale_factor=-1.0), ValueError, "positive"),
        (
            lambda: mF.interpolate(_x(4, 4), scale_factor=2),
            ValueError,
            r"upsample_nearest \(interpolate, mode=.nearest.\): expected input",
        ),
        (
            lambda: mF.interpolate(_x(1, 1, 4, 4), scale_factor=2, align_corners=True),
            ValueError,
            "align_corners",
        ),
        (
            lambda: mF.interpolate(_x(1, 1, 4, 4), size=8, recompute_scale_factor=True),
            ValueError,
            "recompute",
        ),
        (
            lambda: mF.dropout2d(_x(2, 3, 4, 4), 1.0),
            ValueError,
            r"dropout2d: p must be in \[0, 1\)",
        ),
        (lambda: mF.dropout2d(_x(3), 0.5), ValueError, "dropout2d: expected input"),
        (lambda: nn.Dropout2d(-0.1), ValueError, "Dropout2d: p"),
    ],
)
def test_errors_name_the_op(call, exc, message):
    with pytest.raises(exc, match=message):
        call()


def test_torch_refuses_what_minigan_refuses():
    """The pooling limits mirror PyTorch's (so the errors above are not minigan inventions)."""
    with pytest.raises(RuntimeError, match="pad should be"):
        F.max_pool2d(torch.zeros(1, 1, 5, 5), 3, padding=2)
    with pytest.raises(RuntimeError, match="too small"):
        F.max_pool2d(torch.zeros(1, 1, 1, 1), 2)
