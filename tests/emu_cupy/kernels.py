# tests/emu_cupy/kernels.py: the CuPy stand-in's ElementwiseKernel and ReductionKernel. A call
# does what CuPy's does (cupy/_core/_kernel.pyx, cupy/_core/_reduction.pyx): sort arguments
# into arrays and scalars, resolve the type placeholders from the arrays' dtypes (scalars
# take the resolved type), broadcast, allocate or check the outputs, permute the reduced axes
# first and merge contiguous axes, pick the launch configuration; then it generates the CUDA C
# source (codegen.py), compiles it for the CUDA emulator (toolchain.py) and launches it with
# every array the kernel may touch registered with the emulator. NumPy arrays are the device
# memory.
"""ElementwiseKernel and ReductionKernel that run generated CUDA C in the CUDA emulator."""

from __future__ import annotations

import math
import re
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from . import codegen, toolchain
from .codegen import ArgInfo, Param

_KERNEL_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_]*\Z")
_SCALARS = (bool, int, float, complex, np.generic)
TypeMap = tuple[tuple[str, np.dtype], ...]


def empty(shape: Sequence[int] | int, dtype: Any = float) -> np.ndarray:
    """Uninitialised device memory: every byte 0xff (NaN for floats), like the emulator's
    cudaMalloc, so that an element a kernel forgets to write shows up in results."""
    out = np.empty(shape, dtype=dtype)
    out.reshape(-1).view(np.uint8)[...] = 0xFF  # reshape: a view, even of a 0-d array
    return out


class _Scalar:
    """A scalar argument (CuPy's CScalar): its type comes from the resolved parameter type."""

    def __init__(self, value: Any) -> None:
        self.value = value

    def typed(self, dtype: np.dtype) -> np.ndarray:
        """The value converted to dtype, as a 0-d array whose bytes the kernel receives."""
        return np.array(self.value, dtype=dtype)


@dataclass
class _View:
    """An array argument as the kernel indexes it: the array's data with this shape and these
    strides (bytes); broadcast, permuted and merged versions of the array's own."""

    array: np.ndarray
    shape: tuple[int, ...]
    strides: tuple[int, ...]

    @property
    def c_contiguous(self) -> bool:
        return _is_c_contiguous(self.shape, self.strides, self.array.itemsize)

    def packed(self) -> np.ndarray:
        size = math.prod(self.shape)
        return codegen.pack_array(self.array.ctypes.data, self.shape, self.strides, size)


def _is_c_contiguous(shape: tuple[int, ...], strides: tuple[int, ...], itemsize: int) -> bool:
    """C-contiguity as NumPy and CuPy define it (axes of length 1 do not count)."""
    if 0 in shape:
        return True
    expected = itemsize
    for n, s in zip(reversed(shape), reversed(strides)):
        if n == 1:
            continue
        if s != expected:
            return False
        expected *= n
    return True


def _span(a: np.ndarray) -> tuple[int, int]:
    """(address, nbytes) of the memory an array's elements occupy, first to last byte."""
    lo = hi = a.ctypes.data
    for n, s in zip(a.shape, a.strides):
        if s < 0:
            lo += s * (n - 1)
        else:
            hi += s * (n - 1)
    return lo, hi - lo + a.itemsize


def _preprocess(args: Sequence[Any]) -> list[Any]:
    """Arrays stay, Python / NumPy scalars become _Scalar; anything else is refused."""
    out = []
    for a in args:
        if isinstance(a, np.ndarray):
            out.append(a)
        elif isinstance(a, _SCALARS):
            out.append(_Scalar(a))
        else:
            raise TypeError(f"Unsupported type {type(a)}")
    return out


def decide_params_type(
    in_params: tuple[Param, ...],
    out_params: tuple[Param, ...],
    in_dtypes: tuple[np.dtype | None, ...],
    out_dtypes: tuple[np.dtype | None, ...],
) -> tuple[tuple[np.dtype, ...], tuple[np.dtype, ...], TypeMap]:
    """CuPy's _decide_params_type_core: each placeholder takes the dtype of the first array
    declared with it (outputs first); every other array declared with it must have the same
    dtype; scalars (None) do not take part."""
    types: dict[str, np.dtype] = {}

    def bind(p: Param, dtype: np.dtype) -> None:
        if p.dtype is not None:
            if dtype != p.dtype:
                raise TypeError(f"Type is mismatched. {p.name} {dtype} {p.dtype}")
        elif p.ctype in types:
            if types[p.ctype] != dtype:
                raise TypeError(f"Type is mismatched. {p.name} {dtype} {types[p.ctype]} {p.ctype}")
        else:
            types[p.ctype] = np.dtype(dtype)

    if out_dtypes:
        for p, dtype in zip(out_params, out_dtypes, strict=True):
            if dtype is None:
                raise TypeError("Output arguments must be cupy.ndarray")
            bind(p, dtype)
    for p, dtype in zip(in_params, in_dtypes, strict=True):
        if dtype is not None:
            bind(p, dtype)

    def resolved(p: Param) -> np.dtype:
        if p.dtype is not None:
            return p.dtype
        if p.ctype not in types:
            raise TypeError(f"the type {p.ctype} of {p.name} is not decided by any array argument")
        return types[p.ctype]

    in_types = tuple(resolved(p) for p in in_params)
    out_types = tuple(resolved(p) for p in out_params)
    return in_types, out_types, tuple(sorted(types.items()))


def _broadcast_shape(args: Sequence[Any], params: Sequence[Param], use_size: bool) -> tuple:
    """The broadcast shape of the non-raw array arguments (CuPy's _broadcast)."""
    shapes = [a.shape for a, p in zip(args, params) if isinstance(a, np.ndarray) and not p.raw]
    if use_size:
        if shapes:
            raise ValueError("Specified 'size' can be used only if all of the ndarray are 'raw'.")
        return ()
    if not shapes:
        raise ValueError("Loop size is undecided.")
    return tuple(np.broadcast_shapes(*shapes))


def _out_args(
    out_args: list[Any],
    out_types: tuple[np.dtype, ...],
    shape: tuple[int, ...],
    out_params: tuple[Param, ...],
    size_given: bool,
) -> list[np.ndarray]:
    """Allocate the outputs, or check the given ones (CuPy's _get_out_args_with_params)."""
    if not out_args:
        if any(p.raw for p in out_params) and not size_given:
            raise ValueError("Output array size is Undecided")
        return [empty(shape, t) for t in out_types]
    for a, p in zip(out_args, out_params, strict=True):
        if not isinstance(a, np.ndarray):
            raise TypeError("Output arguments type must be cupy.ndarray")
        if not p.raw and a.shape != tuple(shape):
            raise ValueError("Out shape is mismatched")
    return out_args


def reduce_dims(views: Sequence[_View | None], shape: tuple[int, ...]) -> tuple[int, ...]:
    """Merge axes that every array can index as one (CuPy's _reduced_view_core); updates the
    views in place and returns the new index shape. Merging keeps the C-order linear index
    of every element, so the kernel computes the same thing with less index arithmetic."""
    ndim = len(shape)
    arrays = [v for v in views if v is not None]
    if ndim <= 1 or not arrays:
        return shape
    strided = [v for v in arrays if not v.c_contiguous]
    if strided and ndim == 2:
        return shape  # CuPy's short cut
    if not strided:
        total = math.prod(shape)
        for v in arrays:
            v.shape, v.strides = (total,), (v.array.itemsize,)
        return (total,)
    vecshape = list(shape)
    axes: list[int] = []
    last_ax = -1
    for ax in range(ndim):
        if vecshape[ax] == 1:
            continue
        if last_ax < 0:
            last_ax = ax
            continue
        if any(v.strides[ax] * vecshape[ax] != v.strides[last_ax] for v in strided):
            axes.append(last_ax)
        else:
            vecshape[ax] *= vecshape[last_ax]
        last_ax = ax
    if last_ax >= 0:
        axes.append(last_ax)
    if len(axes) == ndim:
        return shape
    new_shape = tuple(vecshape[ax] for ax in axes)
    for v in arrays:
        v.shape, v.strides = new_shape, tuple(v.strides[ax] for ax in axes)
    return new_shape


def _clp2(x: int) -> int:
    """The smallest power of two >= x (x >= 1)."""
    return 1 << (x - 1).bit_length()


def _index_space_view(a: np.ndarray, p: Param, shape: tuple[int, ...]) -> _View:
    """A raw array as it is; any other array broadcast to the loop's shape (stride 0 on the
    broadcast axes)."""
    if p.raw:
        return _View(a, a.shape, a.strides)
    return _View(a, tuple(shape), np.broadcast_to(a, shape).strides)


def _launch(
    kernel: toolchain.CompiledKernel,
    args: Sequence[Any],
    types: Sequence[np.dtype],
    views: Sequence[_View | None],
    extra: Sequence[tuple[ArgInfo, np.ndarray]],
    grid: int,
    block: int,
    smem: int,
) -> None:
    """Pack every argument (arrays as CArray, scalars typed) and launch; every array
    argument's memory is registered with the emulator for the launch."""
    values = [a.typed(t) if v is None else v.packed() for a, t, v in zip(args, types, views)]
    values += [value for _info, value in extra]
    buffers = [_span(v.array) for v in views if v is not None]
    kernel.launch(values, grid, block, smem, buffers)


def _arginfos(
    args: Sequence[Any], types: Sequence[np.dtype], extra: Sequence[tuple[ArgInfo, np.ndarray]]
) -> tuple[ArgInfo, ...]:
    infos = [
        ArgInfo("array", a.dtype) if isinstance(a, np.ndarray) else ArgInfo("scalar", np.dtype(t))
        for a, t in zip(args, types)
    ]
    return tuple(infos + [info for info, _value in extra])


class ElementwiseKernel:
    """cupy.ElementwiseKernel: `operation` runs once per element of the broadcast shape of
    the non-raw arrays, with i the element's linear index, inputs bound to `const T &x` and
    outputs to `T &y`; `raw` parameters are whole arrays the code indexes itself."""

    def __init__(
        self,
        in_params: str,
        out_params: str,
        operation: str,
        name: str = "kernel",
        reduce_dims: bool = True,
        preamble: str = "",
        no_return: bool = False,
        return_tuple: bool = False,
    ) -> None:
        if not _KERNEL_NAME.match(name):
            raise ValueError(f'Invalid kernel name: "{name}"')
        self.in_params = codegen.parse_params(in_params, True)
        self.out_params = codegen.parse_params(out_params, False)
        self.nin, self.nout = len(self.in_params), len(self.out_params)
        self.nargs = self.nin + self.nout
        indexer = codegen.parse_params("CIndexer _ind", False)
        self.params = self.in_params + self.out_params + indexer
        if "i" in [p.name for p in self.in_params + self.out_params]:
            raise ValueError("Can not use 'i' as a parameter name")
        self.operation = operation
        self.name = name
        self.reduce_dims = reduce_dims
        self.preamble = preamble
        self.no_return = no_return
        self.return_tuple = return_tuple
        self.__name__ = name

    def source(self, arginfos: tuple[ArgInfo, ...], type_map: TypeMap) -> str:
        """The generated CUDA C for one call signature."""
        return codegen.elementwise_source(
            self.name, self.params, arginfos, type_map, self.operation, self.preamble
        )

    def __call__(self, *args: Any, **kwargs: Any) -> Any:
        size = kwargs.pop("size", -1)
        kwargs.pop("stream", None)
        block_size = kwargs.pop("block_size", 128)
        if kwargs:
            raise TypeError(f"Wrong arguments {kwargs}")
        if block_size <= 0:
            raise ValueError("block_size must be greater than zero")
        if len(args) not in (self.nin, self.nargs):
            raise TypeError(
                f"Wrong number of arguments for {self.name!r}. It must be either {self.nin} "
                f"or {self.nargs} (with outputs), but given {len(args)}."
            )
        arg_list = _preprocess(args)
        shape = _broadcast_shape(arg_list, self.params, size != -1)
        in_args, out_args = arg_list[: self.nin], arg_list[self.nin :]
        in_types, out_types, type_map = decide_params_type(
            self.in_params,
            self.out_params,
            tuple(a.dtype if isinstance(a, np.ndarray) else None for a in in_args),
            tuple(a.dtype if isinstance(a, np.ndarray) else None for a in out_args),
        )
        if size != -1:
            shape = (int(size),)
        out_args = _out_args(out_args, out_types, shape, self.out_params, size != -1)
        if self.no_return:
            ret = None
        elif not self.return_tuple and self.nout == 1:
            ret = out_args[0]
        else:
            ret = tuple(out_args)
        if 0 in shape:
            return ret

        inout, types = in_args + out_args, in_types + out_types
        views = [
            _index_space_view(a, p, shape) if isinstance(a, np.ndarray) else None
            for a, p in zip(inout, self.params)
        ]
        if self.reduce_dims:
            indexed = [None if p.raw else v for v, p in zip(views, self.params)]
            shape = reduce_dims(indexed, shape)
        extra = [(ArgInfo("indexer"), codegen.pack_indexer(shape))]
        kernel = toolchain.load(self.source(_arginfos(inout, types, extra), type_map), self.name)
        total = math.prod(shape)
        grid = min(0x7FFFFFFF, (total + block_size - 1) // block_size)
        _launch(kernel, inout, types, views, extra, grid, min(block_size, total), 0)
        return ret


def _get_axis(axis: Any, ndim: int) -> tuple[tuple[int, ...], tuple[int, ...]]:
    """(reduced axes sorted, remaining axes) of an `axis` argument (CuPy's _get_axis)."""
    if axis is None:
        return tuple(range(ndim)), ()
    axes = tuple(axis) if isinstance(axis, Sequence) else (axis,)
    normalized = []
    for d in axes:
        if not -ndim <= d < ndim:
            raise np.exceptions.AxisError(d, ndim)
        normalized.append(d % ndim)
    reduce_axis = tuple(sorted(normalized))
    out_axis = tuple(d for d in range(ndim) if d not in reduce_axis)
    if len(reduce_axis) + len(out_axis) != ndim:
        raise ValueError("duplicate value in 'axis'")
    return reduce_axis, out_axis


def _contiguous_size(views: Sequence[_View], out_shape: tuple[int, ...], ndim: int) -> int:
    """How many output elements are contiguous in memory at the end of some input
    (CuPy's _get_contiguous_size): a block then handles that many neighbouring outputs."""
    out_ndim = len(out_shape)
    contiguous = 1
    for v in views:
        run = 1
        for j in range(out_ndim):
            if v.strides[ndim - j - 1] != run * v.array.itemsize:
                break
            run *= out_shape[out_ndim - j - 1]
        contiguous = max(contiguous, run)
    return contiguous


def block_specs(
    in_size: int, out_size: int, contiguous_size: int, block_size: int
) -> tuple[int, int, int]:
    """(block_size, block_stride, number of blocks) of a reduction (CuPy's _get_block_specs):
    block_stride outputs per block, block_size / block_stride threads per output."""
    reduce_block_size = max(1, in_size // out_size)
    contiguous_size = min(contiguous_size, 32)
    block_stride = max(contiguous_size, block_size // reduce_block_size)
    block_stride = _clp2(block_stride // 2 + 1)  # a power of two, at most block_size
    out_block_num = (out_size + block_stride - 1) // block_stride
    return block_size, block_stride, out_block_num


class ReductionKernel:
    """cupy.ReductionKernel: for each output element, map_expr over the input elements that
    reduce into it (inputs broadcast, `axis` reduced), folded with reduce_expr (a, b) from
    `identity`, then post_map_expr (a = the result) assigns the output."""

    block_size = 512  # CuPy's default reduction block on CUDA

    def __init__(
        self,
        in_params: str,
        out_params: str,
        map_expr: str,
        reduce_expr: str,
        post_map_expr: str,
        identity: str | None,
        name: str = "reduce_kernel",
        reduce_type: str | None = None,
        reduce_dims: bool = True,
        preamble: str = "",
    ) -> None:
        if not _KERNEL_NAME.match(name):
            raise ValueError(f'Invalid kernel name: "{name}"')
        self.in_params = codegen.parse_params(in_params, True)
        self.out_params = codegen.parse_params(out_params, False)
        self.nin, self.nout = len(self.in_params), len(self.out_params)
        self.nargs = self.nin + self.nout
        self.params = (
            self.in_params
            + self.out_params
            + codegen.parse_params("CIndexer _in_ind, CIndexer _out_ind", False)
            + codegen.parse_params("int32 _block_stride", True)
        )
        self.identity = "" if identity is None else str(identity)
        self.map_expr = map_expr
        self.reduce_expr = reduce_expr
        self.post_map_expr = post_map_expr
        self.name = name
        self.reduce_type = self.out_params[0].ctype if reduce_type is None else reduce_type
        self.reduce_dims = reduce_dims
        self.preamble = preamble
        self.__name__ = name

    def source(self, arginfos: tuple[ArgInfo, ...], type_map: TypeMap) -> str:
        """The generated CUDA C for one call signature."""
        return codegen.reduction_source(
            self.name, self.params, arginfos, type_map, self.nin, self.nout, self.block_size,
            self.reduce_type, self.identity, self.map_expr, self.reduce_expr,
            self.post_map_expr, self.preamble,
        )  # fmt: skip

    def __call__(self, *args: Any, **kwargs: Any) -> Any:
        out = kwargs.pop("out", None)
        axis = kwargs.pop("axis", None)
        keepdims = kwargs.pop("keepdims", False)
        kwargs.pop("stream", None)
        if kwargs:
            raise TypeError(f"Wrong arguments {kwargs}")
        if len(args) not in (self.nin, self.nargs):
            raise TypeError(f"Wrong number of arguments for {self.name}")
        out_args = list(args[self.nin :])
        if out is not None:
            if self.nout != 1:
                raise NotImplementedError("")
            if out_args:
                raise ValueError("cannot specify 'out' as both a positional and keyword argument")
            out_args = [out]
        in_args = _preprocess(args[: self.nin])
        out_args = _preprocess(out_args)
        shape = _broadcast_shape(in_args, self.in_params, False)
        in_types, out_types, type_map = decide_params_type(
            self.in_params,
            self.out_params,
            tuple(a.dtype if isinstance(a, np.ndarray) else None for a in in_args),
            tuple(a.dtype if isinstance(a, np.ndarray) else None for a in out_args),
        )
        reduce_axis, out_axis = _get_axis(axis, len(shape))
        first = in_args[0]
        if (
            len(in_args) == 1
            and len(out_axis) <= 1
            and isinstance(first, np.ndarray)
            and not first.flags.c_contiguous
        ):  # CuPy orders a lone input's axes by stride, so that merging can squash them
            reduce_axis = tuple(sorted(reduce_axis, key=lambda d: -abs(first.strides[d])))
            out_axis = tuple(sorted(out_axis, key=lambda d: -abs(first.strides[d])))
        if keepdims:
            out_shape = tuple(1 if d in reduce_axis else n for d, n in enumerate(shape))
        else:
            out_shape = tuple(shape[d] for d in out_axis)
        out_args = _out_args(out_args, out_types, out_shape, self.out_params, False)
        ret = out_args[0]
        if ret.size == 0:
            return ret
        if self.identity == "" and 0 in shape:
            raise ValueError(
                f"zero-size array to reduction operation {self.name} which has no identity"
            )
        index_type = np.int64 if math.prod(shape) / math.prod(out_shape) > 0x7FFFFFFF else np.int32
        type_map = type_map + (("IndexT", np.dtype(index_type)),)

        # The input index space: the reduced axes first, then the output axes.
        permutation = reduce_axis + out_axis
        if permutation != tuple(range(len(shape))) and any(p.raw for p in self.in_params):
            raise NotImplementedError("Illegal conditions")
        in_shape = tuple(shape[d] for d in permutation)
        in_views: list[_View | None] = []
        for a, p in zip(in_args, self.in_params):
            if not isinstance(a, np.ndarray):
                in_views.append(None)
            elif p.raw:
                in_views.append(_View(a, a.shape, a.strides))
            else:
                strides = np.broadcast_to(a, shape).strides
                in_views.append(_View(a, in_shape, tuple(strides[d] for d in permutation)))
        out_views = [_View(a, a.shape, a.strides) for a in out_args]
        indexed_in = [None if p.raw else v for v, p in zip(in_views, self.in_params)]
        indexed_out = [None if p.raw else v for v, p in zip(out_views, self.out_params)]
        if self.reduce_dims:
            in_shape = reduce_dims(indexed_in, in_shape)
            out_shape = reduce_dims(indexed_out, out_shape)
        contiguous = _contiguous_size([v for v in indexed_in if v is not None], out_shape,
                                      len(in_shape))  # fmt: skip
        block_size, block_stride, out_block_num = block_specs(
            math.prod(in_shape), math.prod(out_shape), contiguous, self.block_size
        )

        inout, types = in_args + out_args, in_types + out_types
        extra = [
            (ArgInfo("indexer"), codegen.pack_indexer(in_shape)),
            (ArgInfo("indexer"), codegen.pack_indexer(out_shape)),
            (ArgInfo("scalar", np.dtype(np.int32)), np.array(block_stride, dtype=np.int32)),
        ]
        kernel = toolchain.load(self.source(_arginfos(inout, types, extra), type_map), self.name)
        reduce_dtype = dict(type_map).get(self.reduce_type)
        if reduce_dtype is None:
            reduce_dtype = codegen.dtype_of_typename(self.reduce_type)
        smem = block_size * reduce_dtype.itemsize
        _launch(kernel, inout, types, in_views + out_views, extra, out_block_num, block_size, smem)
        return ret
