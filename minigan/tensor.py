# The Tensor: one NumPy (cpu) or CuPy (cuda) array plus what autograd needs
# (`requires_grad`, `.grad`, the Node that produced it). Operators and methods such as
# `+`, `@`, `.sum()` are attached by `minigan.ops` so that this file stays small.
from __future__ import annotations

from typing import Any

import numpy as np

from . import autograd
from .device import array_module, device_of, normalize_device, to_device, to_numpy

DTYPES = (np.float32, np.float64)
DEFAULT_DTYPE = np.float32


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

    __slots__ = ("data", "requires_grad", "grad", "_node", "_retains_grad", "name", "__weakref__")
    __array_priority__ = 1000  # make numpy scalars/arrays defer to Tensor's operators

    def __init__(
        self,
        data: Any,
        requires_grad: bool = False,
        dtype: Any = None,
        device: str | None = None,
    ) -> None:
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
        t.name = None
        return t

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
        from .ops.shape import ToDevice  # noqa: PLC0415 - avoid an import cycle

        device = self.device if device is None else normalize_device(device)
        dtype = self.dtype if dtype is None else np.dtype(dtype)
        if device == self.device and dtype == self.dtype:
            return self
        return ToDevice.apply(self, device=device, dtype=dtype)

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
        """A tensor sharing this data, cut from the graph (no gradient flows through it)."""
        return Tensor._from_op(self.data, requires_grad=False)

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


def _is_integer_data(data: Any) -> bool:
    """True for Python ints / nested lists of ints (bools excluded)."""
    if isinstance(data, bool):
        return False
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
    return t
