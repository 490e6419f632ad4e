# Shared benchmark setup: thread count pinned for repeatable CPU timings, PyTorch imported
# only when present (it is a baseline here, never a minigan dependency).
from __future__ import annotations

import pytest

try:
    import torch

    torch.set_num_threads(max(1, torch.get_num_threads()))
except ImportError:  # pragma: no cover - torch is optional
    torch = None


@pytest.fixture
def torch_or_skip():
    if torch is None:
        pytest.skip("PyTorch is not installed (baseline only)")
    return torch
