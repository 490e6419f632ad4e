# tests/emu_cupy/toolchain.py: compiles, caches, loads and launches the kernels the CuPy
# stand-in generates (codegen.py). A generated translation unit is compiled with exactly the
# flags csrc/emu/build.py compiles csrc/*.cu with (its COMMON_FLAGS and KERNEL_FLAGS: host C++
# against the emulator's headers, every memory access instrumented), then linked into a small
# shared object that has minigan._C_emu as a dependency instead of a copy of the emulator
# runtime: its undefined emulator symbols (run_grid, g_builtins, the instrumentation hooks,
# ...) resolve at dlopen time to the minigan._C_emu that Python has already loaded, so the
# process has ONE emulator (one set of registered buffers, one emu_stats()). Shared objects
# are cached in build/emu/cupy_kernels/ under a hash of the source, the flags and the headers.
"""Compile generated CUDA C for the emulator, load it with ctypes, launch it."""

from __future__ import annotations

import ctypes
import functools
import hashlib
import importlib
import importlib.util
import os
import shutil
import subprocess
import tempfile
from collections.abc import Sequence
from pathlib import Path
from types import ModuleType

import numpy as np

ROOT = Path(__file__).resolve().parents[2]
INCLUDE_DIR = Path(__file__).resolve().parent  # carray.cuh
CACHE_DIR = ROOT / "build" / "emu" / "cupy_kernels"
ERROR_BYTES = 4096

# How much this process compiled, took from the cache and launched (for test reports).
STATS = {"compiled": 0, "cached": 0, "launches": 0}


@functools.cache
def build_module() -> ModuleType:
    """csrc/emu/build.py as a module (the one place that knows how kernels are compiled)."""
    spec = importlib.util.spec_from_file_location(
        "minigan_emu_build_for_cupy", ROOT / "csrc" / "emu" / "build.py"
    )
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@functools.cache
def runtime() -> tuple[ModuleType, Path]:
    """minigan._C_emu, imported (so it is loaded before any generated kernel), and the path
    of its shared object, which the generated kernels link against."""
    ext = importlib.import_module("minigan._C_emu")
    return ext, Path(ext.__file__).resolve()


def unavailable_reason() -> str:
    """Why generated kernels cannot run here ("" when they can)."""
    from minigan.backend import emu_ext

    why = emu_ext.unavailable_reason()
    if why:
        return f"minigan._C_emu is not usable ({why}); build it with `python3 csrc/emu/build.py`"
    try:  # the hooks kernels call must be exported (csrc/emu/runtime.cpp, emu.h: EMU_API)
        ctypes.CDLL(str(runtime()[1]))["__asan_load4_noabort"]
    except AttributeError:
        return (
            "minigan._C_emu does not export the emulator's runtime symbols (built before "
            "they were made visible); rebuild it with `python3 csrc/emu/build.py`"
        )
    cxx = build_module()._cxx()
    if shutil.which(cxx) is None:
        return f"no C++ compiler ({cxx}) to compile the generated kernels"
    return ""


@functools.cache
def _fingerprint() -> str:
    """What a compiled kernel depends on besides its source: compiler, flags, headers and the
    runtime it links against."""
    build = build_module()
    h = hashlib.sha256()
    parts = [build._cxx(), *build.COMMON_FLAGS, *build.KERNEL_FLAGS, str(runtime()[1])]
    h.update("\0".join(parts).encode())
    for header in [*build._headers(), INCLUDE_DIR / "carray.cuh", Path(build.__file__)]:
        h.update(header.read_bytes())
    return h.hexdigest()


def _run(cmd: list[str], what: str, source: Path) -> None:
    proc = subprocess.run(cmd, capture_output=True, text=True)
    if proc.returncode != 0:
        command = " ".join(cmd)
        raise RuntimeError(
            f"CuPy stand-in: {what} of {source} failed:\n{command}\n{proc.stdout}{proc.stderr}"
        )


def compile_source(source: str, name: str) -> Path:
    """The shared object of a generated translation unit, compiled unless cached.

    Compile: build.py's COMMON_FLAGS + KERNEL_FLAGS (plus -I for carray.cuh). Link: -shared
    against minigan._C_emu's shared object (not runtime.o). The .cu file is kept next to the
    .so for reading."""
    key = hashlib.sha256((_fingerprint() + source).encode()).hexdigest()[:20]
    so = CACHE_DIR / f"{name}-{key}.so"
    if so.is_file():
        STATS["cached"] += 1
        return so
    build = build_module()
    CACHE_DIR.mkdir(parents=True, exist_ok=True)
    cu = CACHE_DIR / f"{name}-{key}.cu"
    # The emulated build's source rewrite (__shared__ -> runtime-allocated shared variables),
    # and its rewritten csrc/ headers first on the include path.
    cu.write_text(build.rewrite_shared(source, str(cu)))
    build.prepare_sources([], ROOT / "build" / "emu")
    # Unique temporaries, renamed into place: parallel test processes may build the same kernel.
    fd, obj_name = tempfile.mkstemp(suffix=".o", dir=CACHE_DIR)
    os.close(fd)
    obj = Path(obj_name)
    tmp_so = obj.with_suffix(".so.tmp")
    try:
        compile_cmd = [
            build._cxx(),
            *build.kernel_include_flags(),
            *build.COMMON_FLAGS,
            *build.KERNEL_FLAGS,
            f"-I{INCLUDE_DIR}",
            "-c",
            str(cu),
            "-o",
            str(obj),
        ]
        _run(compile_cmd, "compilation", cu)
        _run([build._cxx(), "-shared", "-o", str(tmp_so), str(obj), str(runtime()[1])], "link", cu)
        os.replace(tmp_so, so)
    finally:
        obj.unlink(missing_ok=True)
        tmp_so.unlink(missing_ok=True)
    STATS["compiled"] += 1
    return so


class CompiledKernel:
    """A loaded generated kernel: `launch` registers the buffers, runs the grid in the
    emulator and raises RuntimeError with the emulator's report on any failure."""

    def __init__(self, path: Path, name: str) -> None:
        self.path = path
        self.name = name
        self._lib = ctypes.CDLL(str(path))  # RTLD_LOCAL; its emu symbols come from _C_emu
        self._entry = self._lib.minigan_cupy_launch
        self._entry.restype = ctypes.c_int
        self._entry.argtypes = [
            ctypes.POINTER(ctypes.c_void_p),
            ctypes.c_uint,
            ctypes.c_uint,
            ctypes.c_size_t,
            ctypes.c_char_p,
            ctypes.c_size_t,
        ]

    def launch(
        self,
        values: Sequence[np.ndarray],
        grid: int,
        block: int,
        smem: int,
        buffers: Sequence[tuple[int, int]],
    ) -> None:
        """Run the kernel: values[k] holds the bytes of parameter k; buffers are the
        (address, nbytes) of the arrays the kernel may touch."""
        ext = runtime()[0]
        args = (ctypes.c_void_p * len(values))(*[v.ctypes.data for v in values])
        error = ctypes.create_string_buffer(ERROR_BYTES)
        ext.emu_clear_buffers()
        try:
            for address, nbytes in buffers:
                ext.emu_register_buffer(address, nbytes)
            rc = self._entry(args, grid, block, smem, error, ERROR_BYTES)
        finally:
            ext.emu_clear_buffers()
        STATS["launches"] += 1
        if rc != 0:
            raise RuntimeError(error.value.decode(errors="replace"))


_LOADED: dict[str, CompiledKernel] = {}


def load(source: str, name: str) -> CompiledKernel:
    """The kernel of a generated source: compiled (or taken from the cache) and loaded once
    per process."""
    kernel = _LOADED.get(source)
    if kernel is None:
        runtime()  # minigan._C_emu first: the kernel's dependency resolves to this copy
        kernel = CompiledKernel(compile_source(source, name), name)
        _LOADED[source] = kernel
    return kernel
