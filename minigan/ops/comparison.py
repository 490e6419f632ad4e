# Comparisons and selection: eq, ne, lt, le, gt, ge (elementwise with broadcasting, bool
# results, not differentiable) and where(condition, input, other) (differentiable in input
# and other). Operands are promoted to one dtype by PyTorch's rule (`result_dtype`).
from __future__ import annotations

from typing import Any

import numpy as np

from ..autograd import Context, Function, no_grad
from ..device import array_module_of as _xp
from ..tensor import Tensor
from ._util import (
    cast_operand,
    check_broadcastable,
    check_same_device,
    check_tensor,
    result_dtype,
    unbroadcast,
)


def _prepare(op: str, like: Tensor, *values: Any, wrap: bool = False) -> list[Tensor]:
    """The operands as tensors of their common dtype (`result_dtype`: PyTorch's promotion,
    Python numbers weak) on like's device; a cast of a tensor that requires grad is
    differentiable (`cast_operand`), so its gradient comes back in its own dtype.

    A Python integer that does not fit an integer dtype wraps around when `wrap` (PyTorch's
    comparisons: int8 tensor == 300 compares with 44) and otherwise raises OverflowError
    naming the op (PyTorch's where)."""
    dtype = result_dtype(op, *values)
    return [cast_operand(v, dtype, like, op, wrap) for v in values]


# ----- comparisons ----------------------------------------------------------------------
class _Comparison(Function):
    """Base of the six comparisons. Their outputs are bool, so they have no derivative:
    the public functions run them under no_grad (the output never requires grad, as in
    PyTorch) and backward is never called."""

    @staticmethod
    def backward(ctx: Context, g: Any) -> Any:
        raise RuntimeError("comparisons are not differentiable (their output is bool)")


class Eq(_Comparison):
    """z = (a == b) elementwise, in the promoted dtype. No gradient."""

    @staticmethod
    def forward(ctx: Context, a: Any, b: Any) -> Any:
        return _xp(a).asarray(a == b)


class Ne(_Comparison):
    """z = (a != b) elementwise (True where either is NaN). No gradient."""

    @staticmethod
    def forward(ctx: Context, a: Any, b: Any) -> Any:
        return _xp(a).asarray(a != b)


class Lt(_Comparison):
    """z = (a < b) elementwise. No gradient."""

    @staticmethod
    def forward(ctx: Context, a: Any, b: Any) -> Any:
        return _xp(a).asarray(a < b)


class Le(_Comparison):
    """z = (a <= b) elementwise. No gradient."""

    @staticmethod
    def forward(ctx: Context, a: Any, b: Any) -> Any:
        return _xp(a).asarray(a <= b)


class Gt(_Comparison):
    """z = (a > b) elementwise. No gradient."""

    @staticmethod
    def forward(ctx: Context, a: Any, b: Any) -> Any:
        return _xp(a).asarray(a > b)


class Ge(_Comparison):
    """z = (a >= b) elementwise. No gradient."""

    @staticmethod
    def forward(ctx: Context, a: Any, b: Any) -> Any:
        return _xp(a).asarray(a >= b)


def _compare(fn: type[_Comparison], op: str, input: Any, other: Any) -> Tensor:  # noqa: A002
    """Check and promote the operands, then run comparison `fn` without recording a graph."""
    check_tensor(op, input)
    with no_grad():  # nothing here is recorded, not even a cast of an input
        a, b = _prepare(op, input, input, other, wrap=True)
        check_same_device(op, a, b)
        check_broadcastable(op, a, b)
        return fn.apply(a, b)


def eq(input: Tensor, other: Tensor | float) -> Tensor:  # noqa: A002 - PyTorch's name
    """Elementwise input == other with broadcasting; a bool tensor, not differentiable.

    Forward: z_i = [a_i == b_i], computed in the promoted dtype (`result_dtype`: a Python
    number never widens the tensor's dtype). Backward: none; z is a constant (bool) and
    never requires grad, even when an input does (as in PyTorch).
    """
    return _compare(Eq, "eq", input, other)


def ne(input: Tensor, other: Tensor | float) -> Tensor:  # noqa: A002
    """Elementwise input != other with broadcasting; bool, not differentiable (see eq)."""
    return _compare(Ne, "ne", input, other)


def lt(input: Tensor, other: Tensor | float) -> Tensor:  # noqa: A002
    """Elementwise input < other with broadcasting; bool, not differentiable (see eq)."""
    return _compare(Lt, "lt", input, other)


def le(input: Tensor, other: Tensor | float) -> Tensor:  # noqa: A002
    """Elementwise input <= other with broadcasting; bool, not differentiable (see eq)."""
    return _compare(Le, "le", input, other)


def gt(input: Tensor, other: Tensor | float) -> Tensor:  # noqa: A002
    """Elementwise input > other with broadcasting; bool, not differentiable (see eq)."""
    return _compare(Gt, "gt", input, other)


def ge(input: Tensor, other: Tensor | float) -> Tensor:  # noqa: A002
    """Elementwise input >= other with broadcasting; bool, not differentiable (see eq)."""
    return _compare(Ge, "ge", input, other)


# ----- where ----------------------------------------------------------------------------
class Where(Function):
    """z = input where condition else other; condition, input and other broadcast together.

    Forward:  z_i = c_i ? a_i : b_i (a and b already cast to one dtype by `where`).
    Backward: dz/da = [c] and dz/db = [not c]: the incoming gradient g goes to input where
    the condition holds and to other where it does not (0 elsewhere), then each is summed
    back to its operand's shape (`unbroadcast`).
    The condition (bool) gets no gradient.
    """

    @staticmethod
    def forward(ctx: Context, cond: Any, a: Any, b: Any) -> Any:
        ctx.save_for_backward(cond)
        ctx.shapes = (a.shape, b.shape)
        return _xp(a).where(cond, a, b)

    @staticmethod
    def backward(ctx: Context, g: Any) -> tuple:
        (cond,) = ctx.saved
        sa, sb = ctx.shapes
        xp = _xp(g)
        zero = xp.zeros((), dtype=g.dtype)
        ga = gb = None
        if ctx.needs_input_grad[1]:
            ga = unbroadcast(xp.where(cond, g, zero), sa)
        if ctx.needs_input_grad[2]:
            gb = unbroadcast(xp.where(cond, zero, g), sb)
        return None, ga, gb


def where(condition: Tensor, input: Any, other: Any) -> Tensor:  # noqa: A002 - PyTorch's names
    """Elementwise selection: input where condition is True, other where it is False.

    `condition` must be a bool tensor (e.g. `x > 0`); `input` and `other` are tensors or
    Python numbers; all three broadcast together. The result has the promoted dtype of
    input and other (`result_dtype`) and lives on condition's device.
    Forward: z_i = c_i ? a_i : b_i. Backward: g·[c] to input and g·[not c] to other, each
    summed back to its shape; a value not selected anywhere gets a zero gradient.
    """
    if not isinstance(condition, Tensor):
        raise TypeError(
            f"where: condition must be a bool Tensor (e.g. x > 0), got {type(condition).__name__}"
        )
    if condition.dtype != np.bool_:
        raise TypeError(
            f"where: condition must be a bool tensor, got dtype {condition.dtype} "
            f"(shape {condition.shape}); compare it first, e.g. where(c != 0, ...)"
        )
    a, b = _prepare("where", condition, input, other)
    check_same_device("where", condition, a, b)
    check_broadcastable("where", condition, a, b)
    return Where.apply(condition, a, b)
