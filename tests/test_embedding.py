# tests/test_embedding.py: nn.functional.embedding and nn.Embedding: forward and the
# scatter-add gradient into the weight rows against PyTorch CPU and a gradcheck, the
# padding_idx row without gradient, the N(0, 1) init, and the errors that name the op.
from __future__ import annotations

import numpy as np
import pytest

import minigan as mg
from minigan import nn, optim
from minigan.nn import functional as F

torch = pytest.importorskip("torch")


def rng(seed: int = 0) -> np.random.Generator:
    return np.random.default_rng(seed)


INDEX_CASES = {
    "1-d repeats": np.array([3, 0, 3, 3, 5]),
    "2-d": np.array([[1, 2, 1], [6, 0, 2]]),
    "0-d": np.array(4),
    "empty": np.zeros((0, 3), dtype=np.int64),
    "int32": np.array([2, 2, 1], dtype=np.int32),
}


@pytest.mark.parametrize("padding_idx", [None, 2, -1])
@pytest.mark.parametrize("name", list(INDEX_CASES))
def test_embedding_against_torch(name, padding_idx):
    index = INDEX_CASES[name]
    w = rng(1).standard_normal((7, 4))
    weight = mg.tensor(w, requires_grad=True)
    out = F.embedding(mg.tensor(index), weight, padding_idx=padding_idx)
    tw = torch.tensor(w, requires_grad=True)
    ref = torch.nn.functional.embedding(
        torch.tensor(index.astype(np.int64)), tw, padding_idx=padding_idx
    )
    assert out.shape == tuple(ref.shape)
    np.testing.assert_array_equal(out.numpy(), ref.detach().numpy())
    dy = rng(2).standard_normal(out.shape)
    (out * mg.tensor(dy)).sum().backward()
    (ref * torch.tensor(dy)).sum().backward()
    np.testing.assert_allclose(weight.grad.numpy(), tw.grad.numpy(), rtol=1e-12, atol=1e-12)


@pytest.mark.parametrize("padding_idx", [None, 0, -2])
def test_embedding_gradcheck(padding_idx):
    index = mg.tensor([[0, 3, 3], [1, 0, 4]])
    w = mg.tensor(rng(3).standard_normal((5, 3)), requires_grad=True)
    if padding_idx is None:
        assert mg.gradcheck(lambda w: F.embedding(index, w).tanh(), [w], atol=1e-8)
    else:  # by design the padding row gets 0, not its derivative: gradcheck the other rows
        pad_row = padding_idx % 5
        others = [r for r in range(5) if r != pad_row]

        def fn(rest):
            full = mg.stack(
                [rest[others.index(r)] if r != pad_row else w[r].detach() for r in range(5)]
            )
            return F.embedding(index, full, padding_idx).tanh()

        rest = mg.tensor(w.numpy()[others], requires_grad=True)
        assert mg.gradcheck(fn, [rest], atol=1e-8)
        out = F.embedding(index, w, padding_idx)
        out.sum().backward()
        counts = np.bincount(index.numpy().ravel(), minlength=5).astype(float)
        counts[padding_idx] = 0.0
        np.testing.assert_array_equal(w.grad.numpy(), counts[:, None] * np.ones(3))


def test_embedding_scatter_adds_by_hand_and_keeps_forward_values_at_padding():
    w = mg.tensor(np.arange(12.0).reshape(4, 3), requires_grad=True)
    out = F.embedding(mg.tensor([1, 1, 1, 3]), w, padding_idx=3)
    np.testing.assert_array_equal(out.numpy(), np.arange(12.0).reshape(4, 3)[[1, 1, 1, 3]])
    out.sum().backward()
    np.testing.assert_array_equal(w.grad.numpy()[:, 0], [0.0, 3.0, 0.0, 0.0])
    plain = F.embedding(mg.tensor([[0, 2]]), w.detach())  # no grad anywhere: no node
    assert not plain.requires_grad and plain.shape == (1, 2, 3)


def test_embedding_errors():
    w = mg.zeros(5, 3)
    with pytest.raises(IndexError, match="embedding: index 5 is out of range for a weight of 5"):
        F.embedding(mg.tensor([0, 5]), w)
    with pytest.raises(IndexError, match="embedding: index -1 is out of range"):
        F.embedding(mg.tensor([-1]), w)
    with pytest.raises(TypeError, match="embedding: input must be an integer tensor"):
        F.embedding(mg.tensor([0.0]), w)
    with pytest.raises(ValueError, match="embedding: weight must be a 2-d tensor"):
        F.embedding(mg.tensor([0]), mg.zeros(5))
    with pytest.raises(ValueError, match="embedding: padding_idx 5 must be within -5..4"):
        F.embedding(mg.tensor([0]), w, padding_idx=5)
    with pytest.raises(TypeError, match="embedding: padding_idx must be an int"):
        F.embedding(mg.tensor([0]), w, padding_idx=1.0)
    with pytest.raises(ValueError, match="Embedding: padding_idx -6"):
        nn.Embedding(5, 3, padding_idx=-6)
    with pytest.raises(ValueError, match="Embedding: sizes must be positive"):
        nn.Embedding(0, 3)


def test_embedding_module_init_repr_and_training_step():
    mg.manual_seed(0)
    emb = nn.Embedding(400, 50, padding_idx=-1)
    assert emb.padding_idx == 399 and repr(emb).startswith("Embedding(400, 50, padding_idx=399")
    w = emb.weight.numpy()
    assert emb.weight.shape == (400, 50) and emb.weight.requires_grad
    np.testing.assert_array_equal(w[399], 0.0)  # the padding row starts at 0, as in PyTorch
    # N(0, 1): 19,950 draws, so the mean is within 4/sqrt(n) = 0.03 and the std within 0.02
    assert abs(w[:399].mean()) < 0.03 and abs(w[:399].std() - 1.0) < 0.02
    assert [name for name, _ in emb.named_parameters()] == ["weight"]
    before = w.copy()
    opt = optim.SGD(emb.parameters(), lr=0.5)
    out = emb(mg.tensor([[3, 399], [3, 7]]))
    assert out.shape == (2, 2, 50)
    out.sum().backward()
    opt.step()
    after = emb.weight.numpy()
    changed = np.flatnonzero(np.any(after != before, axis=1))
    assert changed.tolist() == [3, 7]  # only the used, non-padding rows move
    np.testing.assert_allclose(after[3], before[3] - 0.5 * 2.0, rtol=1e-6)
    no_pad = nn.Embedding(3, 2)
    assert no_pad.padding_idx is None and repr(no_pad).startswith("Embedding(3, 2)")
