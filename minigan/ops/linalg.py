# Matrix multiplication with batch broadcasting: z = a @ b.
from __future__ import annotations

from typing import Any

import numpy as np

from ..autograd import Context, Function
from ..tensor import Tensor
from ._util import as_tensor_like, check_float, check_same_device, unbroadcast
from .shape import reshape


class MatMul(Function):
    """z = a @ b for a (..., n, k) and b (..., k, m), batch axes broadcast.

    Backward (per batch element, then summed over broadcast batch axes):
      dL/da = dL/dz @ bᵀ      (n, m) @ (m, k) -> (n, k)
      dL/db = aᵀ @ dL/dz      (k, n) @ (n, m) -> (k, m)
    """

    @staticmethod
    def forward(ctx: Context, a: Any, b: Any) -> Any:
        ctx.save_for_backward(a, b)
        return a @ b

    @staticmethod
    def backward(ctx: Context, g: Any) -> tuple:
        a, b = ctx.saved
        ga = unbroadcast(g @ b.swapaxes(-1, -2), a.shape) if ctx.needs_input_grad[0] else None
        gb = unbroadcast(a.swapaxes(-1, -2) @ g, b.shape) if ctx.needs_input_grad[1] else None
        return ga, gb


def matmul(a: Tensor, b: Tensor) -> Tensor:
    """Matrix product a @ b (NumPy semantics: 1-d operands are promoted, batches broadcast)."""
    if not isinstance(a, Tensor):  # e.g. ndarray @ Tensor arrives here through __rmatmul__
        a = as_tensor_like(a, b)
    if not isinstance(b, Tensor):
        b = as_tensor_like(b, a)
    check_same_device("matmul", a, b)
    check_float("matmul", a, b)
    if a.ndim == 0 or b.ndim == 0:
        raise ValueError(f"matmul: operands must be at least 1-d, got {a.shape} and {b.shape}")
    a2 = reshape(a, (1, a.shape[0])) if a.ndim == 1 else a
    b2 = reshape(b, (b.shape[0], 1)) if b.ndim == 1 else b
    if a2.shape[-1] != b2.shape[-2]:
        raise ValueError(
            f"matmul: inner dimensions differ: a.shape={a.shape}, b.shape={b.shape} "
            f"({a2.shape[-1]} != {b2.shape[-2]})"
        )
    try:
        np.broadcast_shapes(a2.shape[:-2], b2.shape[:-2])
    except ValueError:
        raise ValueError(
            f"matmul: batch dimensions cannot be broadcast: a.shape={a.shape}, b.shape={b.shape}"
        ) from None
    out = MatMul.apply(a2, b2)
    if a.ndim == 1:
        out = reshape(out, out.shape[:-2] + out.shape[-1:])
    if b.ndim == 1:
        out = reshape(out, out.shape[:-1])
    return out
