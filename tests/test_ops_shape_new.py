# tests/test_ops_shape_new.py: the shape and indexing ops of issue 12 (expand,
# broadcast_to, squeeze, unsqueeze, flip, split, chunk, gather, pad, cat, one_hot),
# integer-array/boolean indexing and its scatter-add backward, and item assignment
# (setitem): gradchecks in float64, forward and backward against PyTorch CPU, and the
# errors that name the op.
from __future__ import annotations

import numpy as np
import pytest

import minigan as mg
from minigan import ops

torch = pytest.importorskip("torch")

TOL = 1e-12


def rng(seed: int = 0) -> np.random.Generator:
    return np.random.default_rng(seed)


def t64(a, requires_grad: bool = True) -> mg.Tensor:
    return mg.tensor(np.asarray(a, dtype=np.float64), requires_grad=requires_grad)


def _outputs(out) -> list:
    return list(out) if isinstance(out, tuple | list) else [out]


def compare_torch(mg_fn, torch_fn, arrays, seed: int = 1, compared=None) -> None:
    """Forward and input gradients of mg_fn vs torch_fn in float64, with the same random
    upstream gradient for every output (tuples of outputs allowed); float arrays get
    gradients, integer arrays are passed as index tensors. `compared`: the inputs whose
    gradients are compared (default: all float inputs)."""
    arrays = [np.asarray(a) for a in arrays]
    grad = [a.dtype.kind == "f" for a in arrays]
    mts = [mg.tensor(a, requires_grad=g) for a, g in zip(arrays, grad)]
    tts = [torch.tensor(a, requires_grad=g) for a, g in zip(arrays, grad)]
    outs, refs = _outputs(mg_fn(*mts)), _outputs(torch_fn(*tts))
    assert len(outs) == len(refs)
    g = rng(seed)
    mg_loss, torch_loss = None, None
    for out, ref in zip(outs, refs):
        assert out.shape == tuple(ref.shape), (out.shape, tuple(ref.shape))
        np.testing.assert_allclose(out.numpy(), ref.detach().numpy(), rtol=TOL, atol=TOL)
        dy = g.standard_normal(out.shape)
        term = (out * mg.tensor(dy)).sum()
        mg_loss = term if mg_loss is None else mg_loss + term
        tterm = (ref * torch.tensor(dy)).sum()
        torch_loss = tterm if torch_loss is None else torch_loss + tterm
    if not any(grad):
        return
    mg_loss.backward()
    torch_loss.backward()
    for i, needs in enumerate(grad):
        if needs and (compared is None or i in compared):
            expected = tts[i].grad
            expected = np.zeros(arrays[i].shape) if expected is None else expected.numpy()
            actual = np.zeros(arrays[i].shape) if mts[i].grad is None else mts[i].grad.numpy()
            np.testing.assert_allclose(actual, expected, rtol=TOL, atol=TOL, err_msg=f"grad {i}")


def check(mg_fn, torch_fn, shapes_or_arrays, seed: int = 0, compared=None) -> None:
    """gradcheck (float64) and the PyTorch comparison, on random inputs of the given
    shapes (or on the given arrays)."""
    g = rng(seed)
    arrays = [
        g.standard_normal(a) if isinstance(a, tuple) else np.asarray(a) for a in shapes_or_arrays
    ]
    inputs = [t64(a) if a.dtype.kind == "f" else mg.tensor(a) for a in arrays]
    if any(a.dtype.kind == "f" and a.size for a in arrays):
        assert mg.gradcheck(mg_fn, inputs)
    compare_torch(mg_fn, torch_fn, arrays, compared=compared)


# ----- expand / broadcast_to ----------------------------------------------------------------
EXPAND_CASES = [
    ((3, 1), (3, 4)),
    ((3, 1), (2, -1, 5)),
    ((1,), (0,)),
    ((), (2, 3)),
    ((2, 3), (2, 3)),
    ((1, 2, 1), (4, -1, -1, 3)),
    ((2, 0), (3, 2, 0)),
]


@pytest.mark.parametrize(("shape", "sizes"), EXPAND_CASES)
def test_expand_and_broadcast_to(shape, sizes):
    check(lambda t: ops.expand(t, *sizes), lambda t: t.expand(*sizes), [shape])
    check(lambda t: ops.expand(t, sizes), lambda t: t.expand(sizes), [shape])
    check(lambda t: ops.broadcast_to(t, sizes), lambda t: torch.broadcast_to(t, sizes), [shape])


def test_expand_gradient_is_the_sum_over_the_copies():
    x = t64([[1.0], [2.0]])
    ops.expand(x, 3, 2, 4).sum().backward()
    np.testing.assert_array_equal(x.grad.numpy(), [[12.0], [12.0]])


@pytest.mark.parametrize(
    ("shape", "sizes", "match"),
    [
        ((2, 3), (3, 3), r"expand: the size 3 of dim 0 must match the existing size 2"),
        ((2, 3), (3,), r"expand: the number of sizes \(1"),
        ((2, 3), (-1, 2, 3), r"expand: size -1 is not allowed for the new leading dim 0"),
        ((1, 3), (-2, 3), r"expand: the size -2 of dim 0"),
    ],
)
def test_expand_errors(shape, sizes, match):
    with pytest.raises(ValueError, match=match):
        ops.expand(mg.zeros(*shape), *sizes)
    with pytest.raises(RuntimeError):
        torch.zeros(shape).expand(*sizes)  # PyTorch refuses the same sizes


def test_broadcast_to_error_names_the_op_and_sizes_must_be_ints():
    with pytest.raises(ValueError, match="expand"):
        ops.broadcast_to(mg.zeros(2, 3), (4, 3))
    with pytest.raises(TypeError, match="broadcast_to: sizes must be ints"):
        ops.broadcast_to(mg.zeros(2, 3), (2.0, 3))


# ----- squeeze / unsqueeze ------------------------------------------------------------------
@pytest.mark.parametrize(
    ("shape", "dim"),
    [
        ((1, 3, 1), None),
        ((1, 3, 1), 0),
        ((1, 3, 1), -1),
        ((1, 3, 1), (0, 2)),
        ((1, 3, 1), (-1, 1)),
        ((1, 3, 1), 1),  # not of size 1: a no-op
        ((), None),
        ((), 0),
        ((), -1),
        ((0, 1), 1),
        ((0, 1), None),
        ((1, 1), (0, 1)),
    ],
)
def test_squeeze(shape, dim):
    if dim is None:
        check(lambda t: ops.squeeze(t), lambda t: torch.squeeze(t), [shape])
    else:
        check(lambda t: ops.squeeze(t, dim), lambda t: torch.squeeze(t, dim), [shape])


@pytest.mark.parametrize(
    ("shape", "dim"), [((2, 3), d) for d in range(-3, 3)] + [((), 0), ((), -1)]
)
def test_unsqueeze(shape, dim):
    check(lambda t: ops.unsqueeze(t, dim), lambda t: torch.unsqueeze(t, dim), [shape])


def test_squeeze_unsqueeze_errors():
    x = mg.zeros(1, 3)
    with pytest.raises(IndexError, match=r"squeeze: dim 2 is out of range"):
        ops.squeeze(x, 2)
    with pytest.raises(IndexError, match=r"squeeze: dim -3"):
        ops.squeeze(x, (0, -3))
    with pytest.raises(ValueError, match="squeeze.*more than once"):
        ops.squeeze(x, (0, 0))
    with pytest.raises(IndexError, match=r"unsqueeze: dim 3 is out of range"):
        ops.unsqueeze(x, 3)
    with pytest.raises(IndexError, match=r"unsqueeze: dim -4"):
        ops.unsqueeze(x, -4)
    with pytest.raises(TypeError, match="unsqueeze: dim must be an int"):
        ops.unsqueeze(x, 1.0)


# ----- flip ---------------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("shape", "dims"),
    [((2, 3, 4), (0,)), ((2, 3, 4), (0, 2)), ((2, 3, 4), (-1,)), ((2, 3, 4), ()), ((0, 3), (0,))]
    + [((2, 3, 4), (2, 1, 0)), ((), (0,)), ((), ())],
)
def test_flip(shape, dims):
    check(lambda t: ops.flip(t, dims), lambda t: torch.flip(t, dims), [shape])


def test_flip_accepts_an_int_and_errors():
    x = np.arange(6.0).reshape(2, 3)
    np.testing.assert_array_equal(ops.flip(mg.tensor(x), -1).numpy(), x[:, ::-1])
    with pytest.raises(ValueError, match="flip.*more than once"):
        ops.flip(mg.tensor(x), (0, -2))
    with pytest.raises(IndexError, match="flip: dim 2 is out of range"):
        ops.flip(mg.tensor(x), (2,))


# ----- split / chunk ------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("shape", "sizes", "dim"),
    [
        ((5, 4), 2, 0),
        ((5, 4), [1, 3], -1),
        ((5, 4), 10, 0),
        ((5, 4), [0, 5, 0], 0),
        ((0, 3), 2, 0),
        ((0, 3), 0, 0),
        ((2, 6, 3), 4, 1),
        ((2, 6, 3), (1, 1, 1), -1),
    ],
)
def test_split(shape, sizes, dim):
    check(
        lambda t: ops.split(t, sizes, dim),
        lambda t: torch.split(t, list(sizes) if isinstance(sizes, tuple) else sizes, dim),
        [shape],
    )


@pytest.mark.parametrize(
    ("shape", "chunks", "dim"),
    [((5,), 3, 0), ((6,), 4, 0), ((0, 2), 3, 0), ((4, 6), 3, 1), ((4, 6), 4, -1), ((3,), 5, 0)],
)
def test_chunk(shape, chunks, dim):
    check(lambda t: ops.chunk(t, chunks, dim), lambda t: torch.chunk(t, chunks, dim), [shape])


def test_split_gradient_lands_in_the_used_slices_only():
    x = t64(np.arange(10.0).reshape(5, 2))
    a, b, c = ops.split(x, 2, 0)
    (b * 3.0).sum().backward()
    expected = np.zeros((5, 2))
    expected[2:4] = 3.0
    np.testing.assert_array_equal(x.grad.numpy(), expected)
    x.zero_grad()
    p, q = ops.chunk(x, 2, 1)
    (q * q).sum().backward()  # only the second column
    np.testing.assert_array_equal(x.grad.numpy(), np.stack([np.zeros(5), 2 * x.numpy()[:, 1]], 1))
    compare_torch(
        lambda t: ops.split(t, [2, 3])[1] * 2.0,
        lambda t: t.split([2, 3])[1] * 2.0,
        [np.ones((5, 2))],
    )


def test_split_chunk_errors():
    x = mg.zeros(4, 3)
    with pytest.raises(ValueError, match=r"split: sections \[1, 1\] must .*sum to 4"):
        ops.split(x, [1, 1])
    with pytest.raises(ValueError, match="split: sections .* non-negative"):
        ops.split(x, [5, -1])
    with pytest.raises(ValueError, match="split: split_size must be positive"):
        ops.split(x, -1)
    with pytest.raises(ValueError, match="split: split_size must be positive"):
        ops.split(x, 0)
    with pytest.raises(ValueError, match="split: cannot split a 0-d tensor"):
        ops.split(mg.tensor(1.0), 1)
    with pytest.raises(IndexError, match="split: dim 2 is out of range"):
        ops.split(x, 2, 2)
    with pytest.raises(TypeError, match="split: split_size_or_sections"):
        ops.split(x, 1.5)
    with pytest.raises(ValueError, match="chunk: chunks must be a positive int"):
        ops.chunk(x, 0)
    with pytest.raises(IndexError, match="chunk: dim -3"):
        ops.chunk(x, 2, -3)


# ----- gather -------------------------------------------------------------------------------
def _gather_case(shape, index_shape, dim, seed):
    g = rng(seed)
    n = shape[dim] if shape else 1
    return g.standard_normal(shape), g.integers(0, n, index_shape)


@pytest.mark.parametrize(
    ("shape", "index_shape", "dim"),
    [
        ((4, 3), (4, 3), 0),
        ((4, 3), (2, 5), 1),  # smaller in the other dim, larger (repeats) along dim
        ((4, 3), (3, 2), -1),
        ((2, 3, 4), (2, 2, 6), -1),
        ((2, 3, 4), (1, 5, 2), 1),
        ((2, 3, 4), (4, 3, 4), 0),
        ((5,), (0,), 0),
        ((4, 3), (0, 3), 0),
    ],
)
def test_gather(shape, index_shape, dim):
    x, index = _gather_case(shape, index_shape, dim, seed=len(index_shape) + dim)
    check(lambda t, i: ops.gather(t, dim, i), lambda t, i: torch.gather(t, dim, i), [x, index])


def test_gather_scatter_adds_repeated_reads_and_0d():
    x = t64([1.0, 2.0, 3.0])
    out = ops.gather(x, 0, mg.tensor([2, 2, 0, 2]))
    np.testing.assert_array_equal(out.numpy(), [3.0, 3.0, 1.0, 3.0])
    out.sum().backward()
    np.testing.assert_array_equal(x.grad.numpy(), [1.0, 0.0, 3.0])
    check(
        lambda t, i: ops.gather(t, 0, i),
        lambda t, i: torch.gather(t, 0, i),
        [np.array(2.5), np.array(0)],
    )


def test_gather_errors():
    x = mg.zeros(2, 3)
    with pytest.raises(IndexError, match="gather: index -1 is out of bounds for dim 1 with size 3"):
        ops.gather(x, 1, mg.tensor([[-1]]))
    with pytest.raises(IndexError, match="gather: index 3 is out of bounds for dim 1"):
        ops.gather(x, 1, mg.tensor([[0, 3]]))
    with pytest.raises(TypeError, match="gather: index must be an integer tensor"):
        ops.gather(x, 1, mg.tensor([[0.0]]))
    with pytest.raises(ValueError, match="gather: index of shape \\(1,\\) must have as many dims"):
        ops.gather(x, 1, mg.tensor([0]))
    with pytest.raises(ValueError, match="gather: index of shape \\(3, 1\\) must be no larger"):
        ops.gather(x, 1, mg.tensor([[0], [0], [0]]))
    with pytest.raises(IndexError, match="gather: dim 2 is out of range"):
        ops.gather(x, 2, mg.tensor([[0]]))


# ----- pad ----------------------------------------------------------------------------------
F = torch.nn.functional


@pytest.mark.parametrize(
    ("shape", "pad", "value"),
    [
        ((2, 3), (1, 2), None),
        ((2, 3), (1, 2, 0, 1), 1.5),
        ((2, 3), (-1, 2), None),
        ((2, 3), (-1, -2, 1, -1), -2.0),
        ((2, 3, 4), (0, 0, 0, 0, 2, 1), 0.0),
        ((3,), (2, 2), None),
        ((2, 3), (), None),
        ((2, 0), (1, 1), 3.0),
        ((2, 3), (-2, -1), None),  # crops dim to 0
    ],
)
def test_pad_constant(shape, pad, value):
    kw = {} if value is None else {"value": value}
    check(lambda t: ops.pad(t, pad, **kw), lambda t: F.pad(t, pad, **kw), [shape])


@pytest.mark.parametrize("mode", ["reflect", "replicate", "circular"])
@pytest.mark.parametrize(
    ("shape", "pad"),
    [
        ((2, 3, 5), (2, 1)),
        ((1, 2, 4, 5), (1, 2, 3, 1)),
        ((2, 3, 5), (-1, 2)),
        ((1, 2, 3, 4, 4), (1, 1, 2, 0, 0, 2)),
        ((1, 1, 5), (2, -3)),
        ((1, 1, 5), (-2, 2)),
    ],
)
def test_pad_reflect_replicate_circular(mode, shape, pad):
    check(lambda t: ops.pad(t, pad, mode=mode), lambda t: F.pad(t, pad, mode=mode), [shape])


def test_pad_reflect_gradient_by_hand():
    x = t64([1.0, 2.0, 3.0])
    out = ops.pad(x, (2, 1), mode="reflect")  # [3, 2, 1, 2, 3, 2]
    np.testing.assert_array_equal(out.numpy(), [3.0, 2.0, 1.0, 2.0, 3.0, 2.0])
    out.backward(np.array([1.0, 10.0, 100.0, 1000.0, 10000.0, 100000.0]))
    np.testing.assert_array_equal(x.grad.numpy(), [100.0, 101010.0, 10001.0])


def test_pad_errors():
    x = mg.zeros(2, 3)
    with pytest.raises(ValueError, match="pad: the pad tuple \\(1,\\) must have an even length"):
        ops.pad(x, (1,))
    with pytest.raises(ValueError, match="pad: the pad tuple .* at most 2 \\* ndim = 4"):
        ops.pad(x, (1, 1, 1, 1, 1, 1))
    with pytest.raises(ValueError, match='pad: mode "reflect" pads dim 1 of size 3 by at most 2'):
        ops.pad(x, (3, 0), mode="reflect")
    with pytest.raises(ValueError, match='pad: mode "circular" pads dim 1 of size 3 by at most 3'):
        ops.pad(x, (0, 4), mode="circular")
    with pytest.raises(ValueError, match="pad: mode must be one of"):
        ops.pad(x, (1, 1), mode="foo")
    with pytest.raises(ValueError, match='pad: mode "reflect" does not take a value'):
        ops.pad(x, (1, 1), mode="reflect", value=1.0)
    with pytest.raises(ValueError, match="pad: pads \\(-2, -2\\) make dim 1 of size 3 negative"):
        ops.pad(x, (-2, -2))
    with pytest.raises(TypeError, match="pad: pad must be a tuple of ints"):
        ops.pad(x, 1)
    with pytest.raises(ValueError, match="replicate"):
        ops.pad(mg.zeros(2, 0), (1, 0), mode="replicate")


# ----- cat ----------------------------------------------------------------------------------
@pytest.mark.parametrize("dim", [0, 1, -1, -2])
def test_cat(dim):
    shapes = [(2, 3), (2, 3)] if dim in (0, -2) else [(2, 1), (2, 4)]
    shapes = [(1, 3), (2, 3)] if dim in (0, -2) else shapes
    check(lambda a, b: ops.cat([a, b], dim), lambda a, b: torch.cat([a, b], dim), shapes)
    check(lambda a, b: ops.cat((a, b), dim=dim), lambda a, b: torch.cat((a, b), dim=dim), shapes)


def test_cat_errors_name_an_op():
    with pytest.raises((ValueError, IndexError), match="concat|cat"):
        ops.cat([mg.zeros(2, 3), mg.zeros(2, 4)], 0)
    with pytest.raises(IndexError, match="dim 2 is out of range"):
        ops.cat([mg.zeros(2, 3), mg.zeros(2, 3)], 2)


# ----- one_hot ------------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("values", "num_classes"),
    [([0, 3, 1], -1), ([0, 3, 1], 5), ([[1, 0], [2, 2]], 3), (2, -1), (np.zeros(0, int), 3)],
)
def test_one_hot(values, num_classes):
    values = np.asarray(values, dtype=np.int64)
    out = ops.one_hot(mg.tensor(values), num_classes)
    ref = F.one_hot(torch.tensor(values), num_classes)
    assert out.dtype == np.int64 and out.shape == tuple(ref.shape)
    np.testing.assert_array_equal(out.numpy(), ref.numpy())
    assert not out.requires_grad


def test_one_hot_errors():
    with pytest.raises(ValueError, match="one_hot: class values must be non-negative, got -1"):
        ops.one_hot(mg.tensor([0, -1]), 3)
    with pytest.raises(ValueError, match="one_hot: class values must be smaller than num_c.*=2"):
        ops.one_hot(mg.tensor([0, 2]), 2)
    with pytest.raises(ValueError, match="one_hot: cannot infer num_classes"):
        ops.one_hot(mg.tensor(np.zeros(0, np.int64)))
    with pytest.raises(TypeError, match="one_hot: expected an integer tensor"):
        ops.one_hot(mg.tensor([1.0]))
    with pytest.raises(ValueError, match="one_hot: num_classes must be -1"):
        ops.one_hot(mg.tensor([1]), -2)


# ----- getitem: advanced indexing and its scatter-add backward -------------------------------
_X = (4, 5)
GETITEM_CASES = {
    "repeated ints": (np.array([0, 2, 2, 3, 0, 0]),),
    "repeated pairs": (np.array([1, 1, 3]), np.array([0, 0, 4])),
    "negative ints": (np.array([-1, -4, -1]),),
    "2-d int array": (np.array([[0, 1], [1, 1]]),),
    "slice + array": (slice(1, None), np.array([4, 4, 0])),
    "array + slice": (np.array([3, 3]), slice(None, None, 2)),
    "int + array": (2, np.array([1, 1, -1])),
    "none + array": (None, np.array([0, 0]), slice(None)),
    "ellipsis + array": (Ellipsis, np.array([-5, 4, 4])),
    "bool mask 2-d": (np.array([[True, False, True, False, True]] * 2 + [[False] * 5] * 2),),
    "bool mask rows": (np.array([True, False, True, True]),),
    "bool mask + slice": (np.array([False, True, False, True]), slice(1, 3)),
    "empty int": (np.zeros(0, dtype=np.int64),),
    "basic": (slice(None, None, 2), -1),
}


@pytest.mark.parametrize("name", list(GETITEM_CASES))
def test_getitem_advanced_backward(name):
    index = GETITEM_CASES[name]
    index = index[0] if len(index) == 1 else index
    torch_index = (
        tuple(torch.tensor(p) if isinstance(p, np.ndarray) else p for p in index)
        if isinstance(index, tuple)
        else torch.tensor(index)
    )
    check(lambda t: t[index], lambda t: t[torch_index], [_X], seed=3)


def test_getitem_with_tensor_indices_and_repeats_by_hand():
    x = t64(np.arange(12.0).reshape(4, 3))
    out = x[mg.tensor([1, 1, 1]), mg.tensor([0, 0, 2])]
    np.testing.assert_array_equal(out.numpy(), [3.0, 3.0, 5.0])
    out.sum().backward()
    expected = np.zeros((4, 3))
    expected[1, 0], expected[1, 2] = 2.0, 1.0
    np.testing.assert_array_equal(x.grad.numpy(), expected)
    y = t64([1.0, 2.0])
    y[[]].sum().backward()  # an empty list selects nothing
    np.testing.assert_array_equal(y.grad.numpy(), [0.0, 0.0])


@pytest.mark.parametrize(
    ("index", "match"),
    [
        (5, "getitem: index 5 is out of bounds for dim 0 with size 4"),
        (-5, "getitem: index -5 is out of bounds for dim 0 with size 4"),
        ((0, 5), "getitem: index 5 is out of bounds for dim 1 with size 5"),
        (np.array([0, 4]), "getitem: index 4 is out of bounds for dim 0"),
        ((slice(None), np.array([-6])), "getitem: index -6 is out of bounds for dim 1"),
        ((Ellipsis, [9]), "getitem: index 9 is out of bounds for dim 1"),
        (np.array([True, False]), "getitem: boolean mask of shape \\(2,\\) does not match"),
        ((0, 0, 0), "getitem: too many indices for a tensor of shape \\(4, 5\\)"),
        (np.array([0.5]), "getitem: only integers, slices"),
        (1.0, "getitem: only integers, slices"),
        ((Ellipsis, Ellipsis), "getitem: an index can only have a single Ellipsis"),
    ],
)
def test_getitem_errors(index, match):
    with pytest.raises(IndexError, match=match):
        mg.zeros(*_X)[index]


# ----- setitem ------------------------------------------------------------------------------
def test_setitem_on_a_plain_leaf_writes_in_place():
    x = mg.zeros(3, 4)
    before, shared = x.data, x.detach()
    ops.setitem(x, (slice(None), 1), 7.0)
    x[[0, 2], -1] = mg.tensor([1.0, 2.0])
    expected = np.zeros((3, 4), np.float32)
    expected[:, 1], expected[[0, 2], -1] = 7.0, [1.0, 2.0]
    np.testing.assert_array_equal(x.numpy(), expected)
    assert x.data is before and x.is_leaf and not x.requires_grad
    np.testing.assert_array_equal(shared.numpy(), expected)  # same memory, as in PyTorch
    m = mg.tensor(np.arange(6.0).reshape(2, 3))
    m[mg.tensor(m.numpy() > 2.0)] = 0.0  # a boolean Tensor mask
    np.testing.assert_array_equal(m.numpy(), [[0.0, 1.0, 2.0], [0.0, 0.0, 0.0]])


def test_setitem_casts_like_pytorch():
    i = mg.tensor([1, 2, 3])
    i[0] = 7.9  # an integer tensor truncates, as torch does
    ti = torch.tensor([1, 2, 3])
    ti[0] = 7.9
    assert i.tolist() == ti.tolist() and i.dtype == np.int64
    f = mg.zeros(2)
    f[1] = mg.tensor([2.5], dtype="float64")  # extra leading size-1 dim and another dtype
    assert f.tolist() == [0.0, 2.5] and f.dtype == np.float32


def test_setitem_on_a_leaf_that_requires_grad():
    w = mg.zeros(3, requires_grad=True)
    with pytest.raises(
        RuntimeError, match="a leaf Variable that requires grad is being used in an"
    ):
        w[0] = 1.0
    tw = torch.zeros(3, requires_grad=True)
    with pytest.raises(RuntimeError, match="a leaf Variable that requires grad"):
        tw[0] = 1.0
    with mg.no_grad():
        w[0] = 1.0  # allowed without grad mode (initialisation), as in PyTorch
    assert w.tolist() == [1.0, 0.0, 0.0] and w.is_leaf and w.requires_grad


# A position written twice keeps the last write: only that write's element of the value
# gets its gradient (gradcheck checks it). PyTorch counts every write, so for these cases
# only the forward and the gradient of the overwritten tensor are compared with it.
REPEATS = ("repeated ints, scalar value", "repeated ints, row value", "mixed")
SETITEM_CASES = {
    "int": (1, (5,)),
    "slice, broadcast value": ((slice(None), slice(1, 3)), (1, 2)),
    "scalar value": ((0, 2), ()),
    "int array": (np.array([3, 0]), (2, 5)),
    "repeated ints, scalar value": (np.array([1, 1, 1]), ()),
    "repeated ints, row value": (np.array([2, 2]), (5,)),
    "bool mask": (np.array([True, False, True, False]), (1, 5)),
    "mixed": ((slice(1, None), np.array([0, 4, -1])), (3,)),
    "negative": ((-1, -2), ()),
    "ellipsis": ((Ellipsis, 0), (4,)),
}


def _torch_index(index):
    if isinstance(index, tuple):
        return tuple(torch.tensor(p) if isinstance(p, np.ndarray) else p for p in index)
    return torch.tensor(index) if isinstance(index, np.ndarray) else index


@pytest.mark.parametrize("name", list(SETITEM_CASES))
def test_setitem_records_a_node_on_a_non_leaf(name):
    index, value_shape = SETITEM_CASES[name]

    def mg_fn(x, v):
        y = x * 2.0
        y[index] = v
        assert y.grad_fn == ("SetItem" if mg.is_grad_enabled() else None)
        return y.tanh()

    def torch_fn(x, v):
        y = x * 2.0
        y[_torch_index(index)] = v
        return y.tanh()

    check(
        mg_fn, torch_fn, [(4, 5), value_shape], seed=5, compared=(0,) if name in REPEATS else None
    )


def test_setitem_gradients_by_hand():
    x = t64([1.0, 2.0, 3.0, 4.0])
    v = t64(10.0)
    y = x * 1.0
    ops.setitem(y, [0, 2, 2], v)  # v written to two positions (one of them twice)
    assert y.tolist() == [10.0, 2.0, 10.0, 4.0]
    y.backward(np.array([1.0, 2.0, 3.0, 4.0]))
    np.testing.assert_array_equal(x.grad.numpy(), [0.0, 2.0, 0.0, 4.0])  # zero where overwritten
    np.testing.assert_array_equal(v.grad.numpy(), 1.0 + 3.0)  # g at each position it holds
    w = t64([7.0, 8.0, 9.0])
    y = x * 1.0
    ops.setitem(y, [1, 3, 1], w)  # position 1 ends up holding w[2] (the last write)
    assert y.tolist() == [1.0, 9.0, 3.0, 8.0]
    y.backward(np.array([1.0, 2.0, 3.0, 4.0]))
    np.testing.assert_array_equal(w.grad.numpy(), [0.0, 4.0, 2.0])
    b = t64([[1.0], [2.0]])  # broadcast along the columns: row sums of the kept writes
    y = mg.zeros(3, 2, dtype="float64")
    ops.setitem(y, [2, 0], b)
    y.backward(np.arange(6.0).reshape(3, 2))
    np.testing.assert_array_equal(b.grad.numpy(), [[4.0 + 5.0], [0.0 + 1.0]])


def test_setitem_into_a_buffer_makes_it_require_grad():
    w = t64([1.5, -2.0])
    buf = mg.zeros(2, 3, dtype="float64")
    buf[:, 1] = w
    assert buf.requires_grad and buf.grad_fn == "SetItem" and not buf.is_leaf
    (buf * buf).sum().backward()
    np.testing.assert_array_equal(w.grad.numpy(), [3.0, -4.0])
    w32 = mg.tensor([1.0, 2.0], requires_grad=True)
    buf64 = mg.zeros(2, dtype="float64")
    buf64[:] = w32  # cast to the buffer's dtype; the gradient comes back as float32
    buf64.sum().backward()
    assert w32.grad.dtype == np.float32 and w32.grad.tolist() == [1.0, 1.0]


def test_setitem_keeps_values_saved_by_earlier_ops():
    x = t64([0.5, 1.0, 2.0])
    e = x.exp()  # Exp saves its output for backward
    e[1] = 0.0
    e.sum().backward()
    np.testing.assert_allclose(x.grad.numpy(), [np.exp(0.5), 0.0, np.exp(2.0)], rtol=1e-15)
    y = x * 1.0
    with mg.no_grad():
        y[0] = 5.0  # a no-grad write on a non-leaf: not recorded
    assert y.grad_fn == "Mul" and y.tolist() == [5.0, 1.0, 2.0]


def test_a_write_after_use_raises_at_backward_instead_of_a_wrong_gradient():
    """The version counter: an op that used t before t[i] = v would backpropagate with the
    overwritten values (a saved input) or send its gradient through the write; both give
    wrong numbers, so the backward raises, naming the op (PyTorch raises in these cases)."""
    w = t64([1.0, 2.0, 3.0])
    x = mg.tensor(np.array([4.0, 5.0, 6.0]))  # a leaf without grad, written in place
    y = w * x  # Mul saved x for dL/dw
    x[0] = 0.0
    with pytest.raises(RuntimeError, match=r"backward through Mul: its input 1 .* in-place"):
        y.sum().backward()
    a = t64([0.5, 1.0, 2.0])
    t = a * 2.0
    u = t.exp()  # used t before the write: its gradient must not pass through the write
    t[0] = 1.0
    with pytest.raises(RuntimeError, match=r"backward through Exp: its input 0 .*version 0, now 1"):
        (u.sum() + t.sum()).backward()
    # writing first and using afterwards is fine, and exact
    t = a * 2.0
    t[0] = 1.0
    (t.exp()).sum().backward()
    np.testing.assert_allclose(a.grad.numpy(), [0.0, 2 * np.exp(2.0), 2 * np.exp(4.0)])


def test_setitem_errors():
    x = mg.zeros(3, 4)
    with pytest.raises(ValueError, match="setitem: cannot write a value of shape \\(3,\\) to"):
        x[0] = mg.zeros(3)
    with pytest.raises(ValueError, match="setitem: cannot write a value of shape \\(2,\\)"):
        y = mg.zeros(3, 4, requires_grad=True) * 1.0
        y[:, 0] = mg.zeros(2, requires_grad=True)
    with pytest.raises(IndexError, match="setitem: index 3 is out of bounds for dim 0 with size 3"):
        x[3] = 1.0
    with pytest.raises(IndexError, match="setitem: index -5 is out of bounds for dim 1"):
        x[0, [1, -5]] = 1.0
    with pytest.raises(IndexError, match="setitem: too many indices"):
        x[0, 0, 0] = 1.0
    with pytest.raises(IndexError, match="setitem: index tensors must be integer or bool"):
        x[mg.tensor([0.0])] = 1.0
    with pytest.raises(RuntimeError, match="setitem: more than one element .* single memory"):
        e = ops.expand(mg.zeros(1, 4), 3, 4)
        e[0, 0] = 1.0
    with pytest.raises(TypeError, match="setitem: complex values are not supported"):
        x[0, 0] = 1j


# ----- in-place writes through aliases (one version counter per buffer) -----------------
ALIASES = {
    "detach": lambda x: x.detach(),
    "reshape": lambda x: x.reshape(3),
    "view": lambda x: x.view(3),
    "basic slice": lambda x: x[0:2],
    "split piece": lambda x: x.split(2)[0],
    "slice of a reshape": lambda x: x.reshape(1, 3)[0][0:2],
    "Tensor(t), no copy": lambda x: mg.Tensor(x) if isinstance(x, mg.Tensor) else x,
}


@pytest.mark.parametrize("alias", list(ALIASES))
def test_a_write_through_an_alias_raises_at_backward_as_pytorch(alias):
    """Review H2: w * x saves x; writing x's memory through an alias (x.detach()[0] = 100,
    x.reshape(3)[0] = 100, ...) used to bump only the alias's version, and the backward
    silently used 100: w.grad = [100, 2, 3]. Now the alias shares x's version counter and
    the backward raises, as PyTorch's does."""
    make = ALIASES[alias]
    w = t64(np.ones(3))
    x = mg.tensor(np.array([1.0, 2.0, 3.0]))
    z = (w * x).sum()
    a = make(x)
    assert a._version_counter is x._version_counter
    a[0] = 100.0
    assert x.tolist()[0] == 100.0 and x._version == a._version == 1
    with pytest.raises(RuntimeError, match=r"backward through Mul: its input 1 .* in-place"):
        z.backward()
    if alias != "Tensor(t), no copy":  # torch.Tensor(t) is no alias in PyTorch's sense
        wt = torch.ones(3, dtype=torch.float64, requires_grad=True)
        xt = torch.tensor([1.0, 2.0, 3.0], dtype=torch.float64)
        zt = (wt * xt).sum()
        make(xt)[0] = 100.0
        with pytest.raises(RuntimeError, match="modified by an inplace operation"):
            zt.backward()


def test_versions_shared_and_counted_as_pytorch():
    """t._version is readable and counts writes into the buffer through any alias."""
    t, tt = mg.zeros(4, dtype="float64"), torch.zeros(4, dtype=torch.float64)
    for a, kind in ((t, mg), (tt, torch)):
        d, r = a.detach(), a.reshape(2, 2)
        a[0] = 1.0
        d[1] = 2.0
        r[1, 1] = 3.0
        assert a._version == d._version == r._version == 3, kind
        c = mg.tensor(t) if kind is mg else tt.clone()  # a copy: its own counter
        c[0] = 5.0
        assert a._version == 3 and c._version == 1 and a.tolist()[0] == 1.0
    assert t.tolist() == tt.tolist() == [1.0, 2.0, 0.0, 3.0]


def test_a_write_that_gives_a_new_array_leaves_the_aliases_consumers_valid():
    """A recorded write (or a no-grad write into a non-leaf) gives t a new array and a
    fresh counter one past the old value: t's earlier consumers raise, but tensors still
    sharing the old buffer were not written, so their consumers backpropagate, exactly
    (checked against NumPy). PyTorch writes into the shared buffer instead (the
    detached tensor sees the new value) and raises here: see docs/tensor-rules.md."""
    w = t64([1.0, 2.0, 3.0])
    y = w * 2.0
    d = y.detach()
    z = (w * d).sum()  # Mul saved d, the buffer y had before the write
    y[0] = mg.tensor(5.0, requires_grad=True)  # recorded: y gets a new array
    assert d.tolist() == [2.0, 4.0, 6.0] and y.tolist() == [5.0, 4.0, 6.0]
    assert y._version == 1 and d._version == 0
    z.backward()
    np.testing.assert_array_equal(w.grad.numpy(), np.array([2.0, 4.0, 6.0]))
    y2 = w * 3.0
    d2 = y2.detach()  # an alias of y2's buffer, used by u
    u = (w * d2 * d2).sum()
    with mg.no_grad():
        y2[1] = 0.0  # a non-leaf: a copy, d2's buffer untouched
    assert d2.tolist() == [3.0, 6.0, 9.0] and y2._version == 1 and d2._version == 0
    w.grad = None
    u.backward()
    np.testing.assert_array_equal(w.grad.numpy(), np.array([9.0, 36.0, 81.0]))
    s = y2.sum()  # y2's own consumers still raise after its next write
    with mg.no_grad():
        y2[2] = 0.0
    with pytest.raises(RuntimeError, match=r"backward through Sum: .*version 1, now 2"):
        s.backward()
    # documented strictness: a graph path through an op that used y3 (here the reshape)
    # raises after y3 got a new array, though only y3's node could be reached
    y3 = w * 3.0
    u3 = (y3.reshape(3) * 1.0).sum()
    with mg.no_grad():
        y3[1] = 0.0
    with pytest.raises(RuntimeError, match=r"backward through Reshape: its input 0 .*in-place"):
        u3.backward()


def test_to_a_non_float_dtype_gives_a_constant_as_pytorch():
    """Review M1: t.to(int64) of a tensor requiring grad kept requires_grad (and sent a
    gradient back through the cast); PyTorch's result is a constant."""
    for dtype, tdtype in ((np.int64, torch.int64), (np.int32, torch.int32), (np.bool_, torch.bool)):
        x = t64([1.5, -2.0, 0.0])
        y = x.to(dtype=dtype)
        yt = torch.tensor([1.5, -2.0, 0.0], dtype=torch.float64, requires_grad=True).to(tdtype)
        assert y.requires_grad is yt.requires_grad is False
        assert y.is_leaf and y.grad_fn is None and y.dtype == dtype
        assert y.tolist() == yt.tolist()
        assert ops.to_copy(x, "cpu", dtype).requires_grad is False
    x = t64([1.5, -2.0])
    f = x.to(dtype=np.float32)  # a float cast stays differentiable
    assert f.requires_grad and f.grad_fn == "ToDevice"
    (f * 2).sum().backward()
    assert x.grad.dtype == np.float64 and x.grad.tolist() == [2.0, 2.0]


def _write_after_sum(w, x, y):
    z = y.sum()
    y[0] = 5.0
    (z + y.sum()).backward()


def _self_assignment(w, x, y):
    y[0:2] = y[2:4]
    y.sum().backward()


def _write_into_a_constant_after_add(w, x, y):
    z = (w + x).sum()
    x[0] = 7.0
    z.backward()


STRICTER_THAN_PYTORCH = [_write_after_sum, _self_assignment, _write_into_a_constant_after_add]


@pytest.mark.parametrize("case", STRICTER_THAN_PYTORCH, ids=lambda f: f.__name__)
def test_the_documented_cases_where_minigan_raises_and_pytorch_does_not(case):
    """Review M4: docs/tensor-rules.md ('In-place writes') lists these; if one starts to
    work in minigan (the check relaxed), update the doc and this test."""
    for lib in (torch, mg):
        w = lib.tensor(np.arange(4.0), requires_grad=True)
        x, y = lib.tensor(np.ones(4)), w * 2
        if lib is torch:
            case(w, x, y)  # works in PyTorch
        else:
            with pytest.raises(RuntimeError, match="modified by an in-place operation"):
                case(w, x, y)
