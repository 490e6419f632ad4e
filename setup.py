# Packaging for minigan: the pure-Python package everywhere, plus the CUDA extension
# `minigan._C` (hand-written kernels in csrc/, pybind11 bindings) when nvcc and pybind11
# are found. Without the extension every op runs on the NumPy reference (cpu) or the CuPy
# fallbacks (cuda).
#
#   MINIGAN_BUILD_CUDA unset  build minigan._C when nvcc (CUDA_HOME, CUDA_PATH, PATH,
#                             /usr/local/cuda) and pybind11 are found; otherwise install
#                             pure Python and say why in one line. A failing build is
#                             reported and the pure-Python package is installed.
#   MINIGAN_BUILD_CUDA=1      the extension is required: a missing nvcc / pybind11 /
#                             libcudart_static.a, or a compile error, fails the install.
#   MINIGAN_BUILD_CUDA=0      pure Python only (and a stale in-tree minigan/_C*.so from an
#                             earlier editable build is removed, so it cannot be imported).
#   MINIGAN_CUDA_ARCHS=80,90  the SM architectures to compile for (default "80,90"); PTX of
#                             the highest one is embedded too, for newer GPUs.
#   MINIGAN_BUILD_EMU=1       also build minigan._C_emu: the same kernels compiled as host C++
#                             and run by the CPU emulator of the CUDA execution model
#                             (csrc/emu/build.py; `make emu-build` does the same in-tree).
#                             Never built by default: it is a tool for verifying the kernels
#                             without a GPU, not something a user needs.
from __future__ import annotations

import os
import shutil
import subprocess
import sys
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

from setuptools import Extension, find_packages, setup
from setuptools.command.build_ext import build_ext

try:
    from setuptools.errors import CompileError
except ImportError:  # setuptools < 59
    from distutils.errors import CompileError  # type: ignore[no-redef]

ROOT = Path(__file__).resolve().parent
CUDA_SOURCES = [
    "csrc/gemm.cu",
    "csrc/linear_act.cu",
    "csrc/conv2d.cu",
    "csrc/batchnorm.cu",
    "csrc/activation.cu",
    "csrc/sigmoid_bce.cu",
    "csrc/adam.cu",
]
CPP_SOURCES = ["csrc/bindings.cpp"]
HEADERS = ["csrc/common.cuh", "csrc/gemm.cuh", "csrc/minigan.h", "csrc/checks.h"]


def _say(msg: str) -> None:
    print(f"minigan setup: {msg}", file=sys.stderr, flush=True)


def _build_mode() -> str:
    mode = os.environ.get("MINIGAN_BUILD_CUDA", "").strip()
    if mode not in ("", "0", "1"):
        raise SystemExit(f"MINIGAN_BUILD_CUDA must be 0, 1 or unset, got {mode!r}")
    return mode


def find_cuda_home() -> Path | None:
    """The CUDA toolkit root: CUDA_HOME, CUDA_PATH, nvcc on PATH, then /usr/local/cuda.

    A root must hold bin/nvcc and include/cuda_runtime_api.h (an nvcc on PATH may be a
    wrapper script outside the toolkit, so /usr/local/cuda is tried after it)."""
    candidates = [os.environ.get("CUDA_HOME"), os.environ.get("CUDA_PATH")]
    nvcc = shutil.which("nvcc")
    if nvcc:
        candidates.append(str(Path(nvcc).resolve().parent.parent))
    candidates.append("/usr/local/cuda")
    for c in candidates:
        if (
            c
            and (Path(c) / "bin" / "nvcc").is_file()
            and (Path(c) / "include" / "cuda_runtime_api.h").is_file()
        ):
            return Path(c)
    return None


def find_cudart_static(home: Path) -> Path | None:
    """The directory holding libcudart_static.a (lib64, lib or targets/<arch>/lib)."""
    dirs = [home / "lib64", home / "lib"] + sorted((home / "targets").glob("*/lib"))
    for d in dirs:
        if (d / "libcudart_static.a").is_file():
            return d
    return None


def pybind11_include() -> str | None:
    try:
        import pybind11
    except ImportError:
        return None
    return pybind11.get_include()


def gencode_flags() -> list[str]:
    archs = [a.strip() for a in os.environ.get("MINIGAN_CUDA_ARCHS", "80,90").split(",")]
    archs = [a for a in archs if a]
    if not archs or not all(a.isdigit() for a in archs):
        raise SystemExit(f"MINIGAN_CUDA_ARCHS must look like '80,90', got {archs!r}")
    flags = []
    for a in archs:
        flags += ["-gencode", f"arch=compute_{a},code=sm_{a}"]
    newest = max(archs, key=int)  # PTX of the highest arch, JIT-compiled by newer GPUs
    flags += ["-gencode", f"arch=compute_{newest},code=compute_{newest}"]
    return flags


class CudaExtension(Extension):
    """An Extension whose .cu files (cuda_sources) are compiled by nvcc."""

    def __init__(self, name: str, cuda_sources: list[str], cuda_home: Path, **kwargs) -> None:
        super().__init__(name, **kwargs)
        self.cuda_sources = cuda_sources
        self.cuda_home = cuda_home


class EmuExtension(Extension):
    """minigan._C_emu, built by csrc/emu/build.py (g++ with the emulator's headers)."""

    def __init__(self) -> None:
        super().__init__("minigan._C_emu", sources=[])


def _emu_build_module():
    """csrc/emu/build.py as a module (the one place that knows how to build _C_emu)."""
    import importlib.util

    spec = importlib.util.spec_from_file_location("minigan_emu_build", ROOT / "csrc/emu/build.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


class BuildExtWithNvcc(build_ext):
    """build_ext that compiles CudaExtension.cuda_sources with nvcc (in parallel), then
    lets setuptools compile the C++ sources and link everything; EmuExtension is built by
    csrc/emu/build.py."""

    def build_extension(self, ext: Extension) -> None:
        if isinstance(ext, EmuExtension):
            out = Path(self.get_ext_fullpath(ext.name))
            out.parent.mkdir(parents=True, exist_ok=True)
            try:
                _emu_build_module().build(force=self.force, out=out)
            except RuntimeError as exc:
                raise CompileError(str(exc)) from exc
            return
        if isinstance(ext, CudaExtension):
            objects = self._nvcc_compile(ext)
            ext.extra_objects = [o for o in ext.extra_objects if o not in objects] + objects
        super().build_extension(ext)

    def _nvcc_compile(self, ext: CudaExtension) -> list[str]:
        nvcc = str(ext.cuda_home / "bin" / "nvcc")
        out_dir = Path(self.build_temp) / "nvcc"
        out_dir.mkdir(parents=True, exist_ok=True)
        flags = [
            "-O3",
            "-std=c++17",
            "-Xcompiler",
            "-fPIC",
            "-lineinfo",  # source lines for compute-sanitizer / ncu; no effect on speed
            *gencode_flags(),
            "-Icsrc",
        ]
        header_mtime = max(os.path.getmtime(h) for h in HEADERS)
        jobs = []
        for src in ext.cuda_sources:
            obj = out_dir / (Path(src).stem + ".o")
            stale = (
                self.force
                or not obj.exists()
                or obj.stat().st_mtime < max(os.path.getmtime(src), header_mtime)
            )
            jobs.append((src, obj, stale))

        def run(job: tuple[str, Path, bool]) -> tuple[str, str]:
            src, obj, stale = job
            if not stale:
                return src, ""
            cmd = [nvcc, *flags, "-c", src, "-o", str(obj)]
            proc = subprocess.run(cmd, capture_output=True, text=True)
            if proc.returncode != 0:
                return src, f"{' '.join(cmd)}\n{proc.stdout}{proc.stderr}"
            return src, ""

        todo = sum(stale for _, _, stale in jobs)
        if todo:
            _say(f"nvcc: compiling {todo} CUDA file(s) with {' '.join(gencode_flags())}")
        workers = max(1, min(todo, os.cpu_count() or 1))
        with ThreadPoolExecutor(max_workers=workers) as pool:
            failures = [err for _, err in pool.map(run, jobs) if err]
        if failures:
            raise CompileError("nvcc failed:\n" + "\n".join(failures))
        return [str(obj) for _, obj, _ in jobs]


def _remove_stale_inplace_extension() -> None:
    for so in [*(ROOT / "minigan").glob("_C.*.so"), *(ROOT / "minigan").glob("_C.so")]:
        so.unlink()
        _say(f"removed {so.relative_to(ROOT)} (MINIGAN_BUILD_CUDA=0)")


def cuda_extensions() -> list[Extension]:
    """The nvcc-built `minigan._C` extension (csrc/), or [] with one line saying why."""
    mode = _build_mode()
    if mode == "0":
        _remove_stale_inplace_extension()
        _say("MINIGAN_BUILD_CUDA=0: installing the pure-Python package (minigan._C not built)")
        return []
    home = find_cuda_home()
    lib_dir = find_cudart_static(home) if home else None
    include = pybind11_include()
    missing = []
    if home is None:
        missing.append("nvcc not found (CUDA_HOME, CUDA_PATH, PATH, /usr/local/cuda)")
    elif lib_dir is None:
        missing.append(f"libcudart_static.a not found under {home}")
    if include is None:
        missing.append("pybind11 is not importable at build time")
    if missing:
        why = "; ".join(missing)
        if mode == "1":
            raise SystemExit(f"MINIGAN_BUILD_CUDA=1 but minigan._C cannot be built: {why}")
        _say(f"installing the pure-Python package only (minigan._C not built: {why})")
        return []
    assert home is not None and lib_dir is not None and include is not None
    return [
        CudaExtension(
            "minigan._C",
            cuda_sources=CUDA_SOURCES,
            cuda_home=home,
            sources=CPP_SOURCES,
            depends=CUDA_SOURCES + HEADERS,
            include_dirs=[include, str(home / "include"), "csrc"],
            library_dirs=[str(lib_dir)],
            libraries=["cudart_static", "dl", "rt", "pthread"],
            extra_compile_args=["-std=c++17", "-O3", "-fvisibility=hidden"],
            language="c++",
            # Unset MINIGAN_BUILD_CUDA: a failing build falls back to pure Python (with a
            # warning); MINIGAN_BUILD_CUDA=1: it fails the install.
            optional=mode != "1",
        )
    ]


def emu_extensions() -> list[Extension]:
    """[minigan._C_emu] when MINIGAN_BUILD_EMU=1, else []."""
    mode = os.environ.get("MINIGAN_BUILD_EMU", "").strip()
    if mode not in ("", "0", "1"):
        raise SystemExit(f"MINIGAN_BUILD_EMU must be 0, 1 or unset, got {mode!r}")
    if mode != "1":
        return []
    if pybind11_include() is None:
        raise SystemExit("MINIGAN_BUILD_EMU=1 but pybind11 is not importable at build time")
    _say("MINIGAN_BUILD_EMU=1: building minigan._C_emu (the kernels on the CPU emulator)")
    return [EmuExtension()]


setup(
    name="minigan",
    version="0.1.0",
    description=(
        "A small from-scratch autograd + hand-written-kernel library that trains GANs and "
        "VAEs on MNIST"
    ),
    long_description=open("README.md", encoding="utf-8").read(),
    long_description_content_type="text/markdown",
    packages=find_packages(include=["minigan", "minigan.*"]),
    # the sample-quality metric's classifier weights and reference statistics
    package_data={"minigan.metrics": ["*.npz", "*.json"]},
    python_requires=">=3.10",
    # numba: the CPU kernels (minigan/backend/numba_cpu.py); threadpoolctl: sizes the BLAS
    # thread pool next to numba's (minigan/backend/cpu_threads.py)
    install_requires=[
        "numpy>=1.24",
        "numba>=0.59",
        "threadpoolctl>=3.1",
        "tqdm>=4.60",
        "Pillow>=9.0",
        "safetensors>=0.4",
    ],
    extras_require={
        # pybind11: make emu-build compiles the bindings of minigan._C_emu outside pip's
        # build environment; scipy: an oracle of the metric tests.
        "test": [
            "pytest>=7",
            "pytest-benchmark>=4",
            "hypothesis>=6",
            "pybind11>=2.10",
            "scipy>=1.10",
        ],
        # CuPy for the CUDA 13 toolkit minigan._C is built with (needs an NVIDIA driver >= 580);
        # [ctk] brings cuBLAS/NVRTC from PyPI, so the CuPy fallback works on a driver-only
        # machine. "cuda12" for a CUDA 12 driver.
        "cuda": ["cupy-cuda13x[ctk]"],
        "cuda12": ["cupy-cuda12x[ctk]"],
        "numba": ["numba>=0.58"],
        "dev": [
            "ruff>=0.5",
            "clang-format>=18",
            "pytest>=7",
            "pytest-benchmark>=4",
            "hypothesis>=6",
        ],
    },
    ext_modules=cuda_extensions() + emu_extensions(),
    cmdclass={"build_ext": BuildExtWithNvcc},
    zip_safe=False,
)
