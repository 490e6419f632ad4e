# The reverse-mode autograd engine: `Function` (an op with forward and backward), its
# `Context`, the `no_grad` switch, and `run_backward`, the iterative topological walk.
#
# How it works, in four lines:
#   1. Every op is a Function subclass. `Function.apply` runs `forward` on raw arrays and,
#      if any input needs a gradient, records a `Node` on the output tensor.
#   2. A Node remembers the Function, its Context (arrays saved for backward) and the
#      input tensors (its parents in the graph).
#   3. `run_backward` orders the graph so every node comes after all nodes that use it,
#      then walks it once from the output, calling each `backward`.
#   4. A tensor used twice receives two gradients: they are summed (multivariate chain rule).
from __future__ import annotations

import contextlib
from collections.abc import Callable, Iterator
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from .tensor import Tensor

_grad_enabled = [True]

# Optional observers, called as hook(event, function_name, info) for forward/backward.
# Used by tracing tools; empty in normal runs (one list check per op).
op_hooks: list[Callable[..., Any]] = []

# The class that wraps an op's output array: minigan.tensor.Tensor, which registers itself
# with `set_tensor_class` when it is defined. (tensor.py imports this module, so this module
# cannot import tensor.py: the registration keeps every import pointing downwards.)
_tensor_class: list[Any] = []


def set_tensor_class(cls: type) -> None:
    """Register the Tensor class whose `_from_op` wraps every Function's output."""
    _tensor_class[:] = [cls]


def is_grad_enabled() -> bool:
    """True unless inside `no_grad()`."""
    return _grad_enabled[-1]


@contextlib.contextmanager
def no_grad() -> Iterator[None]:
    """Inside this block ops record no graph (for evaluation, sampling and updates)."""
    _grad_enabled.append(False)
    try:
        yield
    finally:
        _grad_enabled.pop()


@contextlib.contextmanager
def enable_grad() -> Iterator[None]:
    """Turn graph recording back on inside a `no_grad` block."""
    _grad_enabled.append(True)
    try:
        yield
    finally:
        _grad_enabled.pop()


class Context:
    """Per-call scratch space shared by an op's forward and backward.

    `save_for_backward(*arrays)` keeps arrays for backward (`ctx.saved`);
    `needs_input_grad[i]` says whether input i wants a gradient, so backward can skip work.
    Other attributes (shapes, hyper-parameters) can be set freely.
    """

    def __init__(self, needs_input_grad: tuple[bool, ...]) -> None:
        self.needs_input_grad = needs_input_grad
        self.saved: tuple[Any, ...] = ()

    def save_for_backward(self, *arrays: Any) -> None:
        self.saved = arrays


class Node:
    """One recorded op application: the function, its context, its input tensors and their
    versions when the op ran (an in-place write, t[i] = v or an optimizer step, bumps the
    version counter shared by every tensor aliasing the written buffer; a backward through
    a node whose input has changed since would use stale or overwritten values, so it
    raises instead, see check_versions)."""

    __slots__ = ("function", "ctx", "parents", "versions", "freed")

    def __init__(self, function: type[Function], ctx: Context, parents: tuple[Tensor, ...]):
        self.function = function
        self.ctx = ctx
        self.parents = parents
        self.versions = tuple(p._version_counter.value for p in parents)
        self.freed = False

    def check_versions(self) -> None:
        """Raise when an input was written in place after this op used it.

        Stricter than PyTorch (which checks only the inputs an op saved): minigan's in-place
        write gives the tensor a new graph node, so a gradient that this op sends back to
        the written tensor would flow through the write as well, giving wrong numbers.
        """
        for i, (parent, version) in enumerate(zip(self.parents, self.versions, strict=True)):
            if parent._version_counter.value != version:
                raise RuntimeError(
                    f"backward through {self.name}: its input {i} (shape {parent.shape}) was "
                    "modified by an in-place operation (t[index] = value, into it or into a "
                    "tensor sharing its memory: detach(), reshape, a slice; or an optimizer "
                    f"step() updating a parameter) after {self.name} used it (version "
                    f"{version}, now {parent._version_counter.value}). Do the write (or the "
                    "step) before using the tensor, or build the new values out of place "
                    "(minigan.where, minigan.cat)."
                )

    @property
    def name(self) -> str:
        return self.function.__name__


class Function:
    """Base class of every differentiable op.

    Subclasses define two static methods working on raw arrays (numpy or cupy):
      forward(ctx, *arrays, **params) -> array
      backward(ctx, grad) -> one gradient array (or None) per tensor input, in order
    and are called through `apply(*tensors, **params)`, which wraps the result in a Tensor.
    Gradients returned by backward must have exactly the input's shape (the engine checks).
    """

    @staticmethod
    def forward(ctx: Context, *args: Any, **kwargs: Any) -> Any:
        raise NotImplementedError

    @staticmethod
    def backward(ctx: Context, grad: Any) -> Any:
        raise NotImplementedError

    @classmethod
    def apply(cls, *inputs: Tensor, **params: Any) -> Tensor:
        needs = tuple(t.requires_grad for t in inputs)
        record = is_grad_enabled() and any(needs)
        ctx = Context(needs if record else (False,) * len(inputs))
        if op_hooks:
            for hook in op_hooks:
                hook("forward_start", cls.__name__, inputs)
        out_data = cls.forward(ctx, *[t.data for t in inputs], **params)
        out = _tensor_class[0]._from_op(out_data, requires_grad=record)
        _share_version_counter(out, inputs)
        if record:
            out._node = Node(cls, ctx, inputs)
        if op_hooks:
            for hook in op_hooks:
                hook("forward_end", cls.__name__, (inputs, out))
        return out


def root_buffer(array: Any) -> Any:
    """The object that owns `array`'s memory: `.base` followed to the end (NumPy and CuPy
    views keep their owner in `.base`; NumPy collapses chains of views, so this is one or
    two attribute reads). Two arrays with the same root may share memory."""
    base = getattr(array, "base", None)
    while base is not None:
        array = base
        base = getattr(array, "base", None)
    return array


def _share_version_counter(out: Tensor, inputs: tuple[Tensor, ...]) -> None:
    """Give `out` the version counter of the first input whose memory its array shares
    (a reshape, a basic-slice getitem, a split piece, an op returning its input), so that
    an in-place write through either tensor is seen by the consumers of both. Outputs
    with memory of their own (almost every op) keep their fresh counter. Cost: a few
    attribute reads per input."""
    root = root_buffer(out.data)
    for t in inputs:
        if root_buffer(t.data) is root:
            out._version_counter = t._version_counter
            return


def _topological_order(root: Tensor) -> list[Tensor]:
    """Tensors reachable from `root` through recorded nodes, each after all its consumers.

    Iterative depth-first search with an explicit stack (a 10,000-op chain would overflow
    Python's recursion limit). Returns the post-order reversed: root first.
    """
    order: list[Tensor] = []
    visited: set[int] = set()
    stack: list[tuple[Tensor, bool]] = [(root, False)]
    while stack:
        tensor, inputs_done = stack.pop()
        if inputs_done:
            order.append(tensor)
            continue
        if id(tensor) in visited:
            continue
        visited.add(id(tensor))
        stack.append((tensor, True))
        node = tensor._node
        if node is not None:
            for parent in node.parents:
                if parent.requires_grad and id(parent) not in visited:
                    stack.append((parent, False))
    order.reverse()
    return order


def run_backward(root: Tensor, grad: Any, retain_graph: bool = False) -> None:
    """Back-propagate `grad` (d loss / d root) to every leaf that requires a gradient.

    Leaves accumulate into `.grad` (`+=`), so two backward calls add up. Unless
    `retain_graph`, each node's saved arrays are released as soon as it has run, and a
    second backward through it raises.
    """
    order = _topological_order(root)
    pending: dict[int, Any] = {id(root): grad}
    for tensor in order:
        g = pending.pop(id(tensor), None)
        if g is None:
            continue
        if tensor._retains_grad or tensor._node is None:
            tensor._accumulate_grad(g)
        node = tensor._node
        if node is None:
            continue
        if node.freed:
            raise RuntimeError(
                f"backward through {node.name} a second time: its saved values were freed "
                "by the first backward. Call backward(retain_graph=True) the first time if you "
                "need to backward through the same graph twice."
            )
        node.check_versions()
        if op_hooks:
            for hook in op_hooks:
                hook("backward_start", node.name, (tensor,))
        grads = node.function.backward(node.ctx, g)
        if not isinstance(grads, tuple):
            grads = (grads,)
        if op_hooks:
            for hook in op_hooks:
                hook("backward_end", node.name, (tensor, grads))
        if len(grads) != len(node.parents):
            raise RuntimeError(
                f"{node.name}.backward returned {len(grads)} gradients for "
                f"{len(node.parents)} inputs"
            )
        for parent, pg in zip(node.parents, grads, strict=True):
            if pg is None or not parent.requires_grad:
                continue
            if pg.shape != parent.shape:
                raise RuntimeError(
                    f"{node.name}.backward returned a gradient of shape {pg.shape} for an "
                    f"input of shape {parent.shape}"
                )
            key = id(parent)
            if key in pending:
                pending[key] = pending[key] + pg
            else:
                pending[key] = pg
        if not retain_graph:
            node.ctx.saved = ()
            node.ctx.__dict__.clear()
            node.freed = True
