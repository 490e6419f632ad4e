# tests/emu_cupy/codegen.py: the code generator of the CuPy stand-in. Turns a
# cupy.ElementwiseKernel / cupy.ReductionKernel definition plus the argument types of one call
# into a CUDA C translation unit, the way CuPy does (cupy/_core/_kernel.pyx,
# cupy/_core/_reduction.pyx): typedefs of the type placeholders, a `__global__` kernel whose
# parameters are CArray / scalar / CIndexer values, the user's code pasted verbatim, and an
# extern "C" entry point that launches the kernel through csrc/common.cuh's launch_kernel
# (in the emulated build: the CUDA emulator of minigan._C_emu). Also the packing of CArray /
# CIndexer arguments into the bytes the entry point reads.
"""CUDA C source generation for the stand-in's ElementwiseKernel and ReductionKernel."""

from __future__ import annotations

import textwrap
from dataclasses import dataclass

import numpy as np

MAX_NDIM = 8  # MINIGAN_CUPY_MAX_NDIM in carray.cuh

# numpy dtype -> the C type CuPy names it by (cupy/_core/_scalar.pyx get_typename).
_TYPENAMES = {
    np.dtype(np.bool_): "bool",
    np.dtype(np.int8): "signed char",
    np.dtype(np.uint8): "unsigned char",
    np.dtype(np.int16): "short",
    np.dtype(np.uint16): "unsigned short",
    np.dtype(np.int32): "int",
    np.dtype(np.uint32): "unsigned int",
    np.dtype(np.int64): "long long",
    np.dtype(np.uint64): "unsigned long long",
    np.dtype(np.float32): "float",
    np.dtype(np.float64): "double",
}
_DTYPE_OF_TYPENAME = {name: dtype for dtype, name in _TYPENAMES.items()}


def typename(dtype: np.dtype) -> str:
    """The C type of a NumPy dtype (float32 -> "float")."""
    try:
        return _TYPENAMES[np.dtype(dtype)]
    except KeyError:
        raise TypeError(f"the CuPy stand-in does not support dtype {np.dtype(dtype)}") from None


def dtype_of_typename(name: str) -> np.dtype:
    """The NumPy dtype of a C type name ("double" -> float64)."""
    try:
        return _DTYPE_OF_TYPENAME[name]
    except KeyError:
        raise TypeError(f"the CuPy stand-in does not know the C type {name!r}") from None


@dataclass(frozen=True)
class Param:
    """One declared kernel parameter (CuPy's ParameterInfo): `[raw] type name`.

    ctype is the type as written in code: a one-letter placeholder ("T") or the C name of a
    fixed dtype (then `dtype` is that dtype). Inputs are const, outputs are not."""

    name: str
    ctype: str | None
    dtype: np.dtype | None
    raw: bool
    is_const: bool
    indexer: bool = False


def parse_params(spec: str, is_const: bool) -> tuple[Param, ...]:
    """Parse "T x, raw T y, float32 z" (CuPy's _get_param_info)."""
    if not spec.strip():
        return ()
    params = []
    for item in spec.strip().split(","):
        words = item.split()
        if len(words) < 2:
            raise ValueError(f"Syntax error: {item}")
        type_word, name = words[-2:]
        raw = False
        const = is_const
        for keyword in words[:-2]:
            if keyword == "raw":
                raw = True
            elif keyword == "_non_const":
                const = False
            else:
                raise ValueError(f'Unknown keyword "{keyword}"')
        if type_word == "CIndexer":
            params.append(Param(name, None, None, raw, const, indexer=True))
        elif len(type_word) == 1:
            params.append(Param(name, type_word, None, raw, const))
        else:
            dtype = np.dtype(type_word)
            params.append(Param(name, typename(dtype), dtype, raw, const))
    return tuple(params)


@dataclass(frozen=True)
class ArgInfo:
    """What one argument of a call is: an array, a scalar or an indexer, and its dtype."""

    kind: str  # "array", "scalar" or "indexer"
    dtype: np.dtype | None = None


def typedefs(type_map: tuple[tuple[str, np.dtype], ...]) -> str:
    """`typedef float T;` for every resolved type placeholder."""
    return "".join(f"typedef {typename(dtype)} {ctype};\n" for ctype, dtype in type_map)


def kernel_params(params: tuple[Param, ...], arginfos: tuple[ArgInfo, ...]) -> list[str]:
    """The kernel's parameter declarations (CuPy's _get_kernel_params): an array is a
    CArray named _raw_<name> (just <name> when raw), a scalar a const value, an indexer a
    CIndexer."""
    decls = []
    for p, a in zip(params, arginfos, strict=True):
        if a.kind == "indexer":
            decls.append(f"CIndexer {p.name}")
        elif a.kind == "array":
            const = "const " if p.is_const else ""
            var = p.name if p.raw else f"_raw_{p.name}"
            decls.append(f"{const}CArray<{typename(a.dtype)}> {var}")
        else:
            decls.append(f"const {typename(a.dtype)} {p.name}")
    return decls


def _entry(
    kernel: str, params: tuple[Param, ...], arginfos: tuple[ArgInfo, ...], label: str
) -> str:
    """The extern "C" entry point: reads argument k from args[k] and launches the kernel
    through launch_kernel (the emulator's launch in this build)."""
    values = []
    for k, a in enumerate(arginfos):
        if a.kind == "indexer":
            ctype = "CIndexer"
        elif a.kind == "array":
            ctype = f"CArray<{typename(a.dtype)}>"
        else:
            ctype = typename(a.dtype)
        values.append(f"*static_cast<const {ctype}*>(args[{k}])")
    assert len(values) == len(params)
    arg_lines = ",\n".join(f"            {v}" for v in values)
    return (
        "// Called through ctypes: args[k] points to the value of parameter k.\n"
        "MINIGAN_CUPY_ENTRY minigan_cupy_launch(void* const* args, unsigned grid, unsigned block,\n"
        "                                       size_t smem, char* error, size_t error_size) {\n"
        "    return minigan_cupy::run_launch(error, error_size, [&] {\n"
        f'        minigan::launch_kernel("{label}", {kernel},\n'
        f"            dim3(grid), dim3(block), smem, nullptr,\n{arg_lines});\n"
        "    });\n"
        "}\n"
    )


def _header(kind: str, name: str, type_map: tuple[tuple[str, np.dtype], ...]) -> str:
    types = ", ".join(f"{c} = {typename(d)}" for c, d in type_map) or "none"
    return (
        f"// Generated by tests/emu_cupy (the CuPy stand-in) from cupy.{kind}\n"
        f"// {name!r} ({types}); compiled as host C++ for the CUDA emulator (minigan._C_emu).\n"
        '#include "carray.cuh"\n'
        f"static_assert(MINIGAN_CUPY_MAX_NDIM == {MAX_NDIM}, "
        '"codegen.py and carray.cuh disagree");\n'
    )


def elementwise_source(
    name: str,
    params: tuple[Param, ...],
    arginfos: tuple[ArgInfo, ...],
    type_map: tuple[tuple[str, np.dtype], ...],
    operation: str,
    preamble: str = "",
) -> str:
    """The translation unit of one ElementwiseKernel call signature.

    As in CuPy (_get_elementwise_kernel_code): every non-raw array parameter becomes a
    reference to the current element, `const T &x` for inputs and `T &y` for outputs, bound
    inside the grid-stride loop over i (the linear index of the broadcast output shape);
    then the operation, verbatim."""
    refs = []
    for p, a in zip(params, arginfos, strict=True):
        if a.kind == "array" and not p.raw:
            const = "const " if p.is_const else ""
            refs.append(f"{const}{p.ctype} &{p.name} = _raw_{p.name}[_ind.get()];")
    body = "\n".join([*refs, operation])
    decls = ",\n    ".join(kernel_params(params, arginfos))
    kernel = (
        f'extern "C" __global__ void {name}(\n    {decls}) {{\n'
        "    CUPY_FOR(i, _ind.size()) {\n"
        "        _ind.set(i);\n"
        f"{textwrap.indent(body, ' ' * 8)}\n"
        "    }\n"
        "}\n"
    )
    return "\n".join(
        [
            _header("ElementwiseKernel", name, type_map),
            typedefs(type_map) + preamble,
            kernel,
            _entry(name, params, arginfos, f"cupy: {name}"),
        ]
    )


def reduction_source(
    name: str,
    params: tuple[Param, ...],
    arginfos: tuple[ArgInfo, ...],
    type_map: tuple[tuple[str, np.dtype], ...],
    nin: int,
    nout: int,
    block_size: int,
    reduce_type: str,
    identity: str,
    map_expr: str,
    reduce_expr: str,
    post_map_expr: str,
    preamble: str = "",
) -> str:
    """The translation unit of one ReductionKernel call signature.

    CuPy's reduction template (_create_reduction_function_code): the input index space is
    (reduced axes..., output axes...), so input element j belongs to output i = j % out_size;
    each block handles `_block_stride` outputs with block_size / _block_stride threads per
    output. A thread folds its strided share with REDUCE starting from the identity, then the
    block combines the partial values in a shared-memory tree (a __syncthreads() after every
    level), and thread i < _block_stride applies POST_MAP to its output element. Inputs are
    `const T x = _raw_x[_in_ind.get()]` (by value), outputs `T &s = _raw_s[_out_ind.get()]`."""
    input_expr = "\n".join(
        (f"const {p.ctype} {p.name}" if p.is_const else f"{p.ctype}& {p.name}")
        + f" = _raw_{p.name}[_in_ind.get()];"
        for p, a in zip(params[:nin], arginfos[:nin], strict=True)
        if a.kind == "array" and not p.raw
    )
    output_expr = "\n".join(
        f"{p.ctype} &{p.name} = _raw_{p.name}[_out_ind.get()];"
        for p, a in zip(params[nin : nin + nout], arginfos[nin : nin + nout], strict=True)
        if a.kind == "array" and not p.raw and not p.is_const
    )
    decls = ",\n    ".join(kernel_params(params, arginfos))
    pad = " " * 12
    kernel = f"""\
#define REDUCE(a, b) ({reduce_expr})
#define POST_MAP(a) ({post_map_expr})
#define _REDUCE(_offset) if (_tid < _offset) {{ \\
    _type_reduce _a = _sdata[_tid], _b = _sdata[(_tid + _offset)]; \\
    _sdata[_tid] = REDUCE(_a, _b); \\
}}

typedef {reduce_type} _type_reduce;
extern "C" __global__ void {name}(
    {decls}) {{
    MINIGAN_CUPY_SHARED(_type_reduce, _sdata, {block_size});
    unsigned int _tid = threadIdx.x;

    IndexT _J_offset = _tid >> __popc(_block_stride - 1);  // _tid / _block_stride
    ptrdiff_t _j_offset = (ptrdiff_t)_J_offset * _out_ind.size();
    IndexT _J_stride = {block_size} >> __popc(_block_stride - 1);
    ptrdiff_t _j_stride = (ptrdiff_t)_J_stride * _out_ind.size();

    for (ptrdiff_t _i_base = (ptrdiff_t)blockIdx.x * _block_stride;
         _i_base < _out_ind.size();
         _i_base += (ptrdiff_t)gridDim.x * _block_stride) {{
        _type_reduce _s = _type_reduce({identity});
        ptrdiff_t _i = _i_base + (_tid & (_block_stride - 1));  // _tid % _block_stride
        IndexT _J = _J_offset;
        for (ptrdiff_t _j = _i + _j_offset; _j < _in_ind.size();
             _j += _j_stride, _J += _J_stride) {{
            _in_ind.set(_j);
{textwrap.indent(input_expr, pad)}
            _type_reduce _a = static_cast<_type_reduce>({map_expr});
            _s = REDUCE(_s, _a);
        }}
        _sdata[_tid] = _s;
        __syncthreads();
        for (unsigned int _block = {block_size} / 2; _block >= _block_stride; _block >>= 1) {{
            if (_tid < _block) {{
                _REDUCE(_block);
            }}
            __syncthreads();
        }}
        if (_tid < _block_stride) {{
            _s = _sdata[_tid];
        }}
        if (_tid < _block_stride && _i < _out_ind.size()) {{
            _out_ind.set(static_cast<ptrdiff_t>(_i));
{textwrap.indent(output_expr, pad)}
            POST_MAP(_s);
        }}
    }}
}}
"""
    return "\n".join(
        [
            _header("ReductionKernel", name, type_map),
            typedefs(type_map) + preamble,
            kernel,
            _entry(name, params, arginfos, f"cupy: {name}"),
        ]
    )


def pack_array(
    data: int, shape: tuple[int, ...], strides: tuple[int, ...], size: int
) -> np.ndarray:
    """The bytes of a CArray<T> (data pointer, size, ndim, shape[8], strides[8] in bytes)."""
    if len(shape) > MAX_NDIM:
        raise NotImplementedError(f"the CuPy stand-in supports at most {MAX_NDIM} dimensions")
    fields = np.zeros(3 + 2 * MAX_NDIM, dtype=np.int64)
    fields[0] = data  # a user-space address: below 2**63
    fields[1] = size
    fields[2] = len(shape)
    fields[3 : 3 + len(shape)] = shape
    fields[3 + MAX_NDIM : 3 + MAX_NDIM + len(strides)] = strides
    return fields


def pack_indexer(shape: tuple[int, ...]) -> np.ndarray:
    """The bytes of a CIndexer (size, ndim, shape[8], index[8])."""
    if len(shape) > MAX_NDIM:
        raise NotImplementedError(f"the CuPy stand-in supports at most {MAX_NDIM} dimensions")
    fields = np.zeros(2 + 2 * MAX_NDIM, dtype=np.int64)
    fields[0] = int(np.prod(shape, dtype=np.int64))
    fields[1] = len(shape)
    fields[2 : 2 + len(shape)] = shape
    return fields
