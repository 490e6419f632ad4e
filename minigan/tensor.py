# The Tensor: one NumPy (cpu) or CuPy (cuda) array plus what autograd needs
# (`requires_grad`, `.grad`, the Node that produced it), its Python protocol (operators,
# comparisons, bool/float/int/np.asarray) and its methods (`.sum()`, `.exp()`, ...).
#
# Every operator and op method is written out below and calls the op of the same PyTorch
# name through `_ops`, the namespace of minigan.ops. This file cannot import minigan.ops
# (the ops are built on Tensor: that import would go upwards), so minigan/ops/__init__.py
# hands its namespace over once, at import, with `bind_ops`. That call is the one dispatch
# point between the two layers.
from __future__ import annotations

import numbers
from collections.abc import Iterator
from typing import Any

import numpy as np

from . import autograd
from .device import array_module, device_of, normalize_device, to_device, to_numpy

DTYPES = (np.float32, np.float64)
DEFAULT_DTYPE = np.float32


class _UnboundOps:
    """Stands in for minigan.ops until `bind_ops` runs (importing minigan does it)."""

    def __getattr__(self, name: str) -> Any:
        raise RuntimeError(
            f"Tensor.{name}: the ops are not bound yet; import minigan (or minigan.ops) first"
        )


# The namespace the methods call (minigan.ops once bound). Looked up at call time, so an
# op added to minigan.ops later is found by its method.
_ops: Any = _UnboundOps()


def bind_ops(namespace: Any) -> None:
    """Give Tensor's operators and methods the ops they call (minigan/ops/__init__.py calls
    this once with its own module)."""
    global _ops
    _ops = namespace


def _is_complex_data(data: Any) -> bool:
    """True for complex scalars, complex arrays and (nested) lists holding a complex."""
    dtype = getattr(data, "dtype", None)
    if dtype is not None:
        return np.dtype(dtype).kind == "c"
    if isinstance(data, complex):
        return True
    if isinstance(data, list | tuple):
        return any(_is_complex_data(d) for d in data)
    return False


class VersionCounter:
    """How many times a buffer has been written in place; shared by every tensor that
    views that buffer (PyTorch's version counter).

    `detach()`, `Tensor(t)` without a copy, and an op output that aliases an input's
    memory (reshape, a basic-slice getitem, split, ...: see `autograd.Function.apply`)
    share their source's counter. An in-place write into the buffer (setitem on a leaf,
    an optimizer step) adds 1 to `value`, so a backward through any op that used any of
    those tensors before the write raises (autograd.Node.check_versions).
    """

    __slots__ = ("value",)

    def __init__(self, value: int = 0) -> None:
        self.value = value

    def __repr__(self) -> str:
        return f"VersionCounter({self.value})"


def _comparable(other: Any) -> bool:
    """True for the operands `==` / `!=` compare elementwise: tensors, NumPy/CuPy arrays,
    and numbers (Python's and NumPy's scalars, bools included)."""
    if isinstance(other, Tensor | numbers.Number | np.ndarray | np.generic):
        return True
    return hasattr(other, "__cuda_array_interface__")  # a CuPy array


def _as_array(data: Any, dtype: Any, device: str) -> Any:
    """Convert `data` (array, scalar, nested lists, Tensor) into an array on `device`."""
    if isinstance(data, Tensor):
        data = data.data
    arr = to_device(data, device, dtype)
    if arr.dtype.kind == "f" and arr.dtype not in DTYPES:
        arr = arr.astype(DEFAULT_DTYPE)
    return arr


class Tensor:
    """An N-d array with reverse-mode automatic differentiation.

    Attributes:
      data: the underlying numpy.ndarray (cpu) or cupy.ndarray (cuda).
      requires_grad: whether gradients flow to this tensor.
      grad: a Tensor accumulating d(loss)/d(self) after `backward()` (leaves only,
        unless `retain_grad()` was called).
    Floating tensors are float32 by default; float64 is supported (used by gradcheck).
    Integer tensors exist for indices and labels and never require grad.
    """

    __slots__ = (
        "data",
        "requires_grad",
        "grad",
        "_node",
        "_retains_grad",
        "_version_counter",
        "name",
        "__weakref__",
    )
    __array_priority__ = 1000  # make numpy scalars/arrays defer to Tensor's operators
    # `==` is elementwise (it returns a Tensor), so hashing stays by identity, as in
    # PyTorch: tensors work as dict keys and set members, compared by `is`.
    __hash__ = object.__hash__

    def __init__(
        self,
        data: Any,
        requires_grad: bool = False,
        dtype: Any = None,
        device: str | None = None,
    ) -> None:
        if _is_complex_data(data.data if isinstance(data, Tensor) else data):
            raise TypeError(
                "Tensor: complex data is not supported (minigan tensors are real: bool, "
                "integer or float32/float64); pass .real or abs() explicitly"
            )
        if device is None:
            device = data.device if isinstance(data, Tensor) else device_of(data)
        device = normalize_device(device)
        if dtype is None:
            src = data.data if isinstance(data, Tensor) else data
            src_dtype = getattr(src, "dtype", None)
            if src_dtype is not None and np.dtype(src_dtype).kind in "iub":
                dtype = src_dtype
            elif src_dtype is not None and np.dtype(src_dtype) in DTYPES:
                dtype = src_dtype
            elif src_dtype is None and _is_bool_data(src):
                dtype = np.bool_
            elif src_dtype is None and _is_integer_data(src):
                dtype = np.int64
            else:
                dtype = DEFAULT_DTYPE
        self.data = _as_array(data, dtype, device)
        if requires_grad and self.data.dtype.kind != "f":
            raise TypeError(
                f"only floating tensors can require gradients (got dtype {self.data.dtype})"
            )
        self.requires_grad = bool(requires_grad)
        self.grad: Tensor | None = None
        self._node: autograd.Node | None = None
        self._retains_grad = False
        # bumped by every in-place write into the buffer; autograd checks it. A tensor
        # wrapping another's array without a copy shares that tensor's counter.
        root = autograd.root_buffer
        if isinstance(data, Tensor) and root(self.data) is root(data.data):
            self._version_counter = data._version_counter
        else:
            self._version_counter = VersionCounter()
        self.name: str | None = None

    @classmethod
    def _from_op(cls, data: Any, requires_grad: bool) -> Tensor:
        """Wrap an op's output array without copying or converting it."""
        t = cls.__new__(cls)
        t.data = data
        t.requires_grad = requires_grad
        t.grad = None
        t._node = None
        t._retains_grad = False
        t._version_counter = VersionCounter()
        t.name = None
        return t

    # ----- version counter (in-place writes) --------------------------------------------
    @property
    def _version(self) -> int:
        """How many in-place writes the buffer has seen (PyTorch's `t._version`): the
        value of the counter shared by every tensor aliasing this one's memory."""
        return self._version_counter.value

    def _bump_version(self) -> None:
        """Record an in-place write into this tensor's buffer: every tensor sharing the
        buffer (and so the counter) sees the new version."""
        self._version_counter.value += 1

    def _rewired_version(self) -> None:
        """Record a write that gave this tensor a new array (setitem on a non-leaf or a
        recorded setitem): a fresh counter, one past the old value, so this tensor's
        earlier consumers fail the check, while the tensors still sharing the old buffer
        (which was not written) keep theirs."""
        self._version_counter = VersionCounter(self._version_counter.value + 1)

    # ----- properties -------------------------------------------------------------------
    @property
    def shape(self) -> tuple[int, ...]:
        return tuple(self.data.shape)

    @property
    def dtype(self) -> np.dtype:
        return self.data.dtype

    @property
    def device(self) -> str:
        return device_of(self.data)

    @property
    def ndim(self) -> int:
        return self.data.ndim

    @property
    def size(self) -> int:
        return int(self.data.size)

    @property
    def is_leaf(self) -> bool:
        """True for tensors created by the user (not by an op that recorded a graph)."""
        return self._node is None

    @property
    def grad_fn(self) -> str | None:
        """Name of the op that produced this tensor, or None for leaves."""
        return None if self._node is None else self._node.name

    def __len__(self) -> int:
        if self.ndim == 0:
            raise TypeError("len() of a 0-d tensor")
        return self.shape[0]

    def __repr__(self) -> str:
        extra = ""
        if self._node is not None:
            extra = f", grad_fn={self._node.name}"
        elif self.requires_grad:
            extra = ", requires_grad=True"
        body = np.array2string(self.numpy(), precision=4, separator=", ", threshold=50)
        return f"Tensor({body}, dtype={self.dtype}, device={self.device}{extra})"

    # ----- conversion -------------------------------------------------------------------
    def numpy(self) -> np.ndarray:
        """The values as a NumPy array (a copy from the GPU for cuda tensors)."""
        return to_numpy(self.data)

    def item(self) -> float:
        """The value of a one-element tensor as a Python number."""
        if self.size != 1:
            raise ValueError(f"item() needs a tensor with one element, got shape {self.shape}")
        return self.data.reshape(()).item()

    def tolist(self) -> Any:
        return self.numpy().tolist()

    def to(self, device: str | None = None, dtype: Any = None) -> Tensor:
        """A copy on another device and/or dtype (self if nothing changes).

        Differentiable: the gradient flows back to the original device/dtype.
        """
        device = self.device if device is None else normalize_device(device)
        dtype = self.dtype if dtype is None else np.dtype(dtype)
        if device == self.device and dtype == self.dtype:
            return self
        return _ops.to_copy(self, device=device, dtype=dtype)

    def cpu(self) -> Tensor:
        return self.to("cpu")

    def cuda(self) -> Tensor:
        return self.to("cuda")

    def float(self) -> Tensor:
        return self.to(dtype=np.float32)

    def double(self) -> Tensor:
        return self.to(dtype=np.float64)

    def __dlpack__(self, *args: Any, **kwargs: Any) -> Any:
        return self.data.__dlpack__(*args, **kwargs)

    def __dlpack_device__(self) -> Any:
        return self.data.__dlpack_device__()

    # ----- autograd ---------------------------------------------------------------------
    def detach(self) -> Tensor:
        """A tensor sharing this data, cut from the graph (no gradient flows through it).

        It shares the version counter too (as PyTorch): writing into the detached tensor
        writes into this one's buffer, so a backward through an op that used this
        tensor before the write raises."""
        t = Tensor._from_op(self.data, requires_grad=False)
        t._version_counter = self._version_counter
        return t

    def requires_grad_(self, flag: bool = True) -> Tensor:
        if flag and self.dtype.kind != "f":
            raise TypeError(f"only floating tensors can require gradients (got {self.dtype})")
        if not flag and self._node is not None:
            raise RuntimeError("requires_grad_(False) only works on leaf tensors; use detach()")
        self.requires_grad = flag
        return self

    def retain_grad(self) -> None:
        """Keep `.grad` for this non-leaf tensor after backward."""
        self._retains_grad = True

    def zero_grad(self) -> None:
        self.grad = None

    def _accumulate_grad(self, g: Any) -> None:
        """`.grad += g`; the first time, take a private copy (g may be shared)."""
        if self.grad is None:
            self.grad = Tensor._from_op(g.astype(self.dtype, copy=True), requires_grad=False)
        else:
            self.grad.data += g

    def backward(self, grad: Any = None, retain_graph: bool = False) -> None:
        """Compute d(self)/d(leaf) for every leaf that requires grad, adding into `.grad`.

        `grad` is d(loss)/d(self); it may be omitted only for one-element tensors (then 1).
        """
        if not self.requires_grad:
            raise RuntimeError(
                "backward() on a tensor that does not require grad: no input of the "
                "computation had requires_grad=True (or it ran under no_grad())"
            )
        xp = array_module(self.device)
        if grad is None:
            if self.size != 1:
                raise RuntimeError(
                    f"backward() without a grad argument needs a one-element tensor, got "
                    f"shape {self.shape}; pass grad= with the same shape"
                )
            g = xp.ones(self.data.shape, dtype=self.dtype)
        else:
            g = grad.data if isinstance(grad, Tensor) else xp.asarray(grad, dtype=self.dtype)
            if tuple(g.shape) != self.shape:
                raise ValueError(
                    f"backward(): grad has shape {tuple(g.shape)} but the tensor has shape "
                    f"{self.shape}"
                )
            if device_of(g) != self.device:
                raise ValueError(f"backward(): grad is on {device_of(g)}, tensor on {self.device}")
            g = g.astype(self.dtype, copy=False)
        autograd.run_backward(self, g, retain_graph=retain_graph)

    # ----- Python protocol: truth value, numbers, NumPy, iteration ----------------------
    def __bool__(self) -> bool:
        """bool(t): the truth value of a one-element tensor (0-d included), as PyTorch."""
        if self.size == 1:
            return bool(self.data.reshape(()).item())
        what = "no values" if self.size == 0 else "more than one value"
        raise RuntimeError(
            f"Boolean value of Tensor with {what} is ambiguous (shape {self.shape}); use "
            ".any() or .all() of a comparison, or compare t.item()"
        )

    def __float__(self) -> float:
        """float(t) of a one-element tensor."""
        return float(self._one_value("float"))

    def __int__(self) -> int:
        """int(t) of a one-element tensor (floats truncate toward zero, as int(x))."""
        return int(self._one_value("int"))

    def __index__(self) -> int:
        """operator.index(t) of a one-element integer tensor (so it can index a list)."""
        if self.dtype.kind not in "iu":
            raise TypeError(f"only integer tensors can be used as an index, got {self.dtype}")
        return int(self._one_value("index"))

    def _one_value(self, what: str) -> Any:
        if self.size != 1:
            raise ValueError(
                f"{what}(): only one-element tensors can be converted to Python scalars, got "
                f"shape {self.shape}"
            )
        return self.data.reshape(()).item()

    def __array__(self, dtype: Any = None, copy: bool | None = None) -> np.ndarray:
        """np.asarray(t): the values as a NumPy array (copied from the GPU for cuda)."""
        arr = self.numpy()
        if dtype is not None and arr.dtype != np.dtype(dtype):
            return arr.astype(dtype)
        return arr.copy() if copy else arr

    def __iter__(self) -> Iterator[Tensor]:
        """Iterate over the first dim (t[0], t[1], ...), as PyTorch."""
        if self.ndim == 0:
            raise TypeError("iteration over a 0-d tensor")
        for i in range(self.shape[0]):
            yield self[i]

    # ----- arithmetic operators (elementwise with broadcasting; minigan.ops) ------------
    def __add__(self, other: Any) -> Tensor:
        """self + other (ops.add)."""
        return _ops.add(self, other)

    def __radd__(self, other: Any) -> Tensor:
        """other + self (ops.add)."""
        return _ops.add(other, self)

    def __sub__(self, other: Any) -> Tensor:
        """self - other (ops.sub)."""
        return _ops.sub(self, other)

    def __rsub__(self, other: Any) -> Tensor:
        """other - self (ops.sub)."""
        return _ops.sub(other, self)

    def __mul__(self, other: Any) -> Tensor:
        """self * other (ops.mul)."""
        return _ops.mul(self, other)

    def __rmul__(self, other: Any) -> Tensor:
        """other * self (ops.mul)."""
        return _ops.mul(other, self)

    def __truediv__(self, other: Any) -> Tensor:
        """self / other, true division (ops.div)."""
        return _ops.div(self, other)

    def __rtruediv__(self, other: Any) -> Tensor:
        """other / self, true division (ops.div)."""
        return _ops.div(other, self)

    def __pow__(self, other: Any) -> Tensor:
        """self ** other (ops.pow)."""
        return _ops.pow(self, other)

    def __rpow__(self, other: Any) -> Tensor:
        """other ** self (ops.pow)."""
        return _ops.pow(other, self)

    def __matmul__(self, other: Any) -> Tensor:
        """self @ other (ops.matmul)."""
        return _ops.matmul(self, other)

    def __rmatmul__(self, other: Any) -> Tensor:
        """other @ self (ops.matmul)."""
        return _ops.matmul(other, self)

    def __neg__(self) -> Tensor:
        """-self (ops.neg)."""
        return _ops.neg(self)

    def __abs__(self) -> Tensor:
        """abs(self) (ops.abs)."""
        return _ops.abs(self)

    # ----- comparison operators (elementwise, bool result, no gradient) -----------------
    def __eq__(self, other: Any) -> Any:
        """self == other, elementwise (ops.eq), for a tensor, an array or a number.

        Anything else (None, a string, a list, an object) gives NotImplemented, so Python
        falls back to identity: `t == None` is False and `t in [None, "a"]` works, as in
        PyTorch (whose `t == [1, 2]` is False too; use `t.eq(...)` or a tensor)."""
        if not _comparable(other):
            return NotImplemented
        return _ops.eq(self, other)

    def __ne__(self, other: Any) -> Any:
        """self != other, elementwise (ops.ne); NotImplemented (so True for anything but
        the tensor itself) for operands that `==` does not compare, see __eq__."""
        if not _comparable(other):
            return NotImplemented
        return _ops.ne(self, other)

    def __lt__(self, other: Any) -> Tensor:
        """self < other, elementwise (ops.lt)."""
        return _ops.lt(self, other)

    def __le__(self, other: Any) -> Tensor:
        """self <= other, elementwise (ops.le)."""
        return _ops.le(self, other)

    def __gt__(self, other: Any) -> Tensor:
        """self > other, elementwise (ops.gt)."""
        return _ops.gt(self, other)

    def __ge__(self, other: Any) -> Tensor:
        """self >= other, elementwise (ops.ge)."""
        return _ops.ge(self, other)

    # ----- indexing ---------------------------------------------------------------------
    def __getitem__(self, index: Any) -> Tensor:
        """self[index] (ops.getitem)."""
        return _ops.getitem(self, index)

    def __setitem__(self, index: Any, value: Any) -> None:
        """self[index] = value, in place (ops.setitem)."""
        _ops.setitem(self, index, value)

    # ----- elementwise methods ----------------------------------------------------------
    def add(self, other: Any) -> Tensor:
        """ops.add(self, other)."""
        return _ops.add(self, other)

    def sub(self, other: Any) -> Tensor:
        """ops.sub(self, other)."""
        return _ops.sub(self, other)

    def mul(self, other: Any) -> Tensor:
        """ops.mul(self, other)."""
        return _ops.mul(self, other)

    def div(self, other: Any) -> Tensor:
        """ops.div(self, other)."""
        return _ops.div(self, other)

    def pow(self, exponent: Any) -> Tensor:
        """ops.pow(self, exponent)."""
        return _ops.pow(self, exponent)

    def neg(self) -> Tensor:
        """ops.neg(self)."""
        return _ops.neg(self)

    def abs(self) -> Tensor:
        """ops.abs(self)."""
        return _ops.abs(self)

    def exp(self) -> Tensor:
        """ops.exp(self)."""
        return _ops.exp(self)

    def log(self) -> Tensor:
        """ops.log(self)."""
        return _ops.log(self)

    def sqrt(self) -> Tensor:
        """ops.sqrt(self)."""
        return _ops.sqrt(self)

    def rsqrt(self) -> Tensor:
        """ops.rsqrt(self)."""
        return _ops.rsqrt(self)

    def square(self) -> Tensor:
        """ops.square(self)."""
        return _ops.square(self)

    def sin(self) -> Tensor:
        """ops.sin(self)."""
        return _ops.sin(self)

    def cos(self) -> Tensor:
        """ops.cos(self)."""
        return _ops.cos(self)

    def sign(self) -> Tensor:
        """ops.sign(self)."""
        return _ops.sign(self)

    def floor(self) -> Tensor:
        """ops.floor(self)."""
        return _ops.floor(self)

    def clip(self, min: Any = None, max: Any = None) -> Tensor:  # noqa: A002
        """ops.clip(self, min, max)."""
        return _ops.clip(self, min, max)

    def clamp(self, min: Any = None, max: Any = None) -> Tensor:  # noqa: A002
        """ops.clamp(self, min, max), PyTorch's name of clip."""
        return _ops.clamp(self, min, max)

    def maximum(self, other: Any) -> Tensor:
        """ops.maximum(self, other)."""
        return _ops.maximum(self, other)

    def minimum(self, other: Any) -> Tensor:
        """ops.minimum(self, other)."""
        return _ops.minimum(self, other)

    def eq(self, other: Any) -> Tensor:
        """ops.eq(self, other)."""
        return _ops.eq(self, other)

    def ne(self, other: Any) -> Tensor:
        """ops.ne(self, other)."""
        return _ops.ne(self, other)

    def lt(self, other: Any) -> Tensor:
        """ops.lt(self, other)."""
        return _ops.lt(self, other)

    def le(self, other: Any) -> Tensor:
        """ops.le(self, other)."""
        return _ops.le(self, other)

    def gt(self, other: Any) -> Tensor:
        """ops.gt(self, other)."""
        return _ops.gt(self, other)

    def ge(self, other: Any) -> Tensor:
        """ops.ge(self, other)."""
        return _ops.ge(self, other)

    def where(self, condition: Any, other: Any) -> Tensor:
        """ops.where(condition, self, other): self where condition, else other."""
        return _ops.where(condition, self, other)

    # ----- activations ------------------------------------------------------------------
    def relu(self) -> Tensor:
        """ops.relu(self)."""
        return _ops.relu(self)

    def leaky_relu(self, negative_slope: float = 0.01) -> Tensor:
        """ops.leaky_relu(self, negative_slope)."""
        return _ops.leaky_relu(self, negative_slope)

    def tanh(self) -> Tensor:
        """ops.tanh(self)."""
        return _ops.tanh(self)

    def sigmoid(self) -> Tensor:
        """ops.sigmoid(self)."""
        return _ops.sigmoid(self)

    def softplus(self) -> Tensor:
        """ops.softplus(self)."""
        return _ops.softplus(self)

    def softmax(self, dim: int, dtype: Any = None) -> Tensor:
        """ops.softmax(self, dim, dtype)."""
        return _ops.softmax(self, dim, dtype)

    def log_softmax(self, dim: int, dtype: Any = None) -> Tensor:
        """ops.log_softmax(self, dim, dtype)."""
        return _ops.log_softmax(self, dim, dtype)

    # ----- reductions -------------------------------------------------------------------
    def sum(
        self, dim: Any = None, keepdim: bool = False, *, axis: Any = None, keepdims: Any = None
    ) -> Tensor:
        """ops.sum(self, dim, keepdim) (axis/keepdims: NumPy-style aliases)."""
        return _ops.sum(self, dim, keepdim, axis=axis, keepdims=keepdims)

    def mean(
        self, dim: Any = None, keepdim: bool = False, *, axis: Any = None, keepdims: Any = None
    ) -> Tensor:
        """ops.mean(self, dim, keepdim) (axis/keepdims: NumPy-style aliases)."""
        return _ops.mean(self, dim, keepdim, axis=axis, keepdims=keepdims)

    def max(
        self, dim: Any = None, keepdim: bool = False, *, axis: Any = None, keepdims: Any = None
    ) -> Any:
        """ops.max: the max (no dim), (values, indices) (int dim), maximum(self, other)
        (a Tensor), or NumPy's values-only max (axis=)."""
        return _ops.max(self, dim, keepdim, axis=axis, keepdims=keepdims)

    def min(
        self, dim: Any = None, keepdim: bool = False, *, axis: Any = None, keepdims: Any = None
    ) -> Any:
        """ops.min: the forms of max, for the minimum."""
        return _ops.min(self, dim, keepdim, axis=axis, keepdims=keepdims)

    def argmax(self, dim: int | None = None, keepdim: bool = False) -> Tensor:
        """ops.argmax(self, dim, keepdim)."""
        return _ops.argmax(self, dim, keepdim)

    def amax(self, dim: Any = (), keepdim: bool = False) -> Tensor:
        """ops.amax(self, dim, keepdim)."""
        return _ops.amax(self, dim, keepdim)

    def amin(self, dim: Any = (), keepdim: bool = False) -> Tensor:
        """ops.amin(self, dim, keepdim)."""
        return _ops.amin(self, dim, keepdim)

    def argmin(self, dim: int | None = None, keepdim: bool = False) -> Tensor:
        """ops.argmin(self, dim, keepdim)."""
        return _ops.argmin(self, dim, keepdim)

    def prod(self, dim: int | None = None, keepdim: bool = False) -> Tensor:
        """ops.prod(self, dim, keepdim)."""
        return _ops.prod(self, dim, keepdim)

    def cumsum(self, dim: int) -> Tensor:
        """ops.cumsum(self, dim)."""
        return _ops.cumsum(self, dim)

    def logsumexp(self, dim: Any, keepdim: bool = False) -> Tensor:
        """ops.logsumexp(self, dim, keepdim)."""
        return _ops.logsumexp(self, dim, keepdim)

    def var(self, dim: Any = None, *args: Any, **kwargs: Any) -> Tensor:
        """ops.var(self, dim, unbiased / correction=1, keepdim=False)."""
        return _ops.var(self, dim, *args, **kwargs)

    def std(self, dim: Any = None, *args: Any, **kwargs: Any) -> Tensor:
        """ops.std(self, dim, unbiased / correction=1, keepdim=False)."""
        return _ops.std(self, dim, *args, **kwargs)

    # ----- shape ops --------------------------------------------------------------------
    def reshape(self, *shape: Any) -> Tensor:
        """ops.reshape(self, *shape)."""
        return _ops.reshape(self, *shape)

    def view(self, *shape: Any) -> Tensor:
        """ops.reshape(self, *shape) (minigan has no views: a reshape)."""
        return _ops.reshape(self, *shape)

    def permute(self, *dims: Any) -> Tensor:
        """ops.permute(self, *dims)."""
        return _ops.permute(self, *dims)

    def transpose(self, dim0: int = -2, dim1: int = -1) -> Tensor:
        """ops.transpose(self, dim0, dim1)."""
        return _ops.transpose(self, dim0, dim1)

    def flatten(self, start_dim: int = 1, end_dim: int = -1) -> Tensor:
        """ops.flatten(self, start_dim, end_dim) (start_dim defaults to 1, not 0)."""
        return _ops.flatten(self, start_dim, end_dim)

    def expand(self, *sizes: Any) -> Tensor:
        """ops.expand(self, *sizes)."""
        return _ops.expand(self, *sizes)

    def broadcast_to(self, shape: Any) -> Tensor:
        """ops.broadcast_to(self, shape)."""
        return _ops.broadcast_to(self, shape)

    def squeeze(self, dim: Any = None) -> Tensor:
        """ops.squeeze(self, dim)."""
        return _ops.squeeze(self, dim)

    def unsqueeze(self, dim: int) -> Tensor:
        """ops.unsqueeze(self, dim)."""
        return _ops.unsqueeze(self, dim)

    def flip(self, *dims: Any) -> Tensor:
        """ops.flip(self, dims)."""
        if len(dims) == 1 and isinstance(dims[0], tuple | list):
            dims = tuple(dims[0])
        return _ops.flip(self, dims)

    def split(self, split_size_or_sections: Any, dim: int = 0) -> tuple[Tensor, ...]:
        """ops.split(self, split_size_or_sections, dim)."""
        return _ops.split(self, split_size_or_sections, dim)

    def chunk(self, chunks: int, dim: int = 0) -> tuple[Tensor, ...]:
        """ops.chunk(self, chunks, dim)."""
        return _ops.chunk(self, chunks, dim)

    def gather(self, dim: int, index: Tensor) -> Tensor:
        """ops.gather(self, dim, index)."""
        return _ops.gather(self, dim, index)

    def matmul(self, other: Any) -> Tensor:
        """ops.matmul(self, other)."""
        return _ops.matmul(self, other)

    @property
    def T(self) -> Tensor:  # noqa: N802 - PyTorch's name
        """The transpose of the last two dims (ops.transpose(self, -2, -1))."""
        return _ops.transpose(self, -2, -1)

    @property
    def mT(self) -> Tensor:  # noqa: N802 - PyTorch's name
        """The transpose of the last two dims (ops.transpose(self, -2, -1))."""
        return _ops.transpose(self, -2, -1)


autograd.set_tensor_class(Tensor)  # the class Function.apply wraps its outputs in


def _is_bool_data(data: Any) -> bool:
    """True for Python bools / non-empty nested lists of bools only (PyTorch makes a bool
    tensor of them: tensor([True, False]).dtype is bool)."""
    if isinstance(data, bool):
        return True
    if isinstance(data, list | tuple) and data:
        return all(_is_bool_data(d) for d in data)
    return False


def _is_integer_data(data: Any) -> bool:
    """True for Python ints / nested lists of ints, bools allowed among them (a list of
    bools alone is bool: `_is_bool_data` is asked first; [True, 2] is int64, as PyTorch)."""
    if isinstance(data, int):
        return True
    if isinstance(data, list | tuple) and data:
        return all(_is_integer_data(d) for d in data)
    return False


def tensor(
    data: Any, requires_grad: bool = False, dtype: Any = None, device: str | None = None
) -> Tensor:
    """Create a tensor holding a copy of `data` (lists, scalars, numpy/cupy arrays, Tensors).

    `Tensor(array)` wraps an array without copying when dtype and device already match.
    """
    t = Tensor(data, requires_grad=requires_grad, dtype=dtype, device=device)
    source = data.data if isinstance(data, Tensor) else data
    if t.data is source:
        t.data = t.data.copy()
        t._version_counter = VersionCounter()  # a copy: its own version counter
    return t
