# Interop: DLPack in and out (NumPy, PyTorch; CuPy on a GPU machine), sharing memory.
from __future__ import annotations

import numpy as np
import pytest
from helpers import requires_cuda

import minigan


def test_from_dlpack_numpy_shares_memory():
    a = np.arange(6, dtype=np.float32).reshape(2, 3)
    t = minigan.from_dlpack(a)
    assert t.device == "cpu" and t.shape == (2, 3) and t.dtype == np.float32
    t.data[0, 0] = 42
    assert a[0, 0] == 42


def test_dlpack_round_trip_with_torch():
    torch = pytest.importorskip("torch")
    src = torch.arange(12, dtype=torch.float64).reshape(3, 4)
    t = minigan.from_dlpack(src)
    assert t.dtype == np.float64 and t.shape == (3, 4)
    np.testing.assert_array_equal(t.numpy(), src.numpy())
    back = torch.from_dlpack(minigan.tensor([[1.0, 2.0]]))
    assert back.dtype == torch.float32 and back.tolist() == [[1.0, 2.0]]


def test_from_dlpack_rejects_non_dlpack_objects():
    with pytest.raises(TypeError, match="from_dlpack"):
        minigan.from_dlpack([1, 2, 3])


@requires_cuda
def test_cuda_dlpack_with_cupy():
    import cupy

    c = cupy.arange(5, dtype=cupy.float32)
    t = minigan.from_dlpack(c)
    assert t.device == "cuda"
    t.data[0] = 9
    assert float(c[0]) == 9
    back = cupy.from_dlpack(t)
    assert back.data.ptr == c.data.ptr
