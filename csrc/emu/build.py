# csrc/emu/build.py: builds minigan._C_emu, the CUDA kernels of csrc/ compiled as host C++
# and run by the CPU emulator of the CUDA execution model (csrc/emu/emu.h, runtime.cpp).
#
#   python3 csrc/emu/build.py            build (incrementally) into minigan/_C_emu*.so
#   python3 csrc/emu/build.py --force    rebuild everything
#
# What is compiled how:
#   csrc/*.cu       g++ -x c++ with -DMINIGAN_EMU -D__CUDACC__, csrc/emu first on the include
#                   path (its cuda_runtime_api.h is the emulator), after one source rewrite:
#                   every `__shared__ T name[dims];` becomes `EMU_SHARED(align, T, name, [dims]);`
#                   (same line, so reports keep csrc/'s line numbers), a reference into the
#                   block's shared memory that the runtime allocates; so every shared access
#                   goes through a pointer the compiler must instrument (it skips accesses to
#                   a static variable it can prove in bounds). The rewritten copies of the
#                   kernel files and csrc/'s headers live in BUILD_DIR/src. Two instrumentations:
#                   -fsanitize=kernel-address with outline calls, so that every load and store
#                   calls the emulator's memory checker (no libasan is linked: runtime.cpp
#                   implements the hooks), and -fsanitize=undefined, whose reports the runtime
#                   turns into errors naming the kernel, block and thread;
#   runtime.cpp     the emulator itself, not instrumented;
#   bindings.cpp    the very same pybind11 bindings as minigan._C, as module _C_emu, plus
#   python.cpp      the emulator's controls.
# setup.py calls build() when MINIGAN_BUILD_EMU=1; `make emu-build` runs this file.
from __future__ import annotations

import argparse
import os
import re
import shutil
import subprocess
import sys
import sysconfig
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
CSRC = ROOT / "csrc"
EMU = CSRC / "emu"
KERNEL_SOURCES = [
    "gemm.cu",
    "linear_act.cu",
    "conv2d.cu",
    "batchnorm.cu",
    "activation.cu",
    "sigmoid_bce.cu",
    "adam.cu",
]

COMMON_FLAGS = [
    "-std=c++17",
    "-fPIC",
    "-g",
    "-fvisibility=hidden",
    "-DMINIGAN_EMU",
    f"-I{EMU}",
    f"-I{CSRC}",
]
# The instrumentation of kernel code (see the header of this file).
KERNEL_FLAGS = [
    "-x",
    "c++",
    "-O1",
    "-D__CUDACC__",
    "-fsanitize=kernel-address",
    "--param",
    "asan-instrumentation-with-call-threshold=0",  # a call per access
    "--param",
    "asan-stack=0",  # the fiber's own stack needs no check
    "--param",
    "asan-globals=0",
    "-fsanitize=undefined,float-cast-overflow",  # the GPU saturates float->int; x86 does not
    "-fno-sanitize=vptr",
]


# `__shared__ [__align__(N)] TYPE declarator[, declarator...];` on one line of code.
_SHARED_DECL = re.compile(
    r"__shared__\s+(?:__align__\((\d+)\)\s+)?"
    r"((?:(?:unsigned|signed|const|volatile|long|short)\s+)*[A-Za-z_][\w:]*(?:<[^<>;]*>)?)\s+"
    r"([^;]+);"
)
_DECLARATOR = re.compile(r"\s*([A-Za-z_]\w*)\s*((?:\[[^\]]+\]\s*)*)$")


def _emu_shared(m: re.Match, where: str) -> str:
    """EMU_SHARED(...) statements for one matched __shared__ declaration."""
    align, ctype, declarators = m.group(1) or "0", m.group(2), m.group(3)
    parts = []
    for d in declarators.split(","):
        dm = _DECLARATOR.match(d)
        if dm is None:
            raise ValueError(f"{where}: cannot rewrite '{m.group(0)}'")
        name, dims = dm.group(1), dm.group(2).replace(" ", "")
        parts.append(f"EMU_SHARED({align}, {ctype}, {name}, {dims});")
    return " ".join(parts)


def rewrite_shared(text: str, origin: str) -> str:
    """The source with every __shared__ declaration rewritten for the emulator (see the
    header of this file); `origin` (the original path) goes into a #line directive so that
    compiler messages and the emulator's reports name the original file and line.
    Preprocessor lines and comments are left alone (the GPU-only `extern __shared__` of
    MINIGAN_DYNAMIC_SHARED sits in a #define)."""
    out = []
    for number, line in enumerate(text.split("\n"), start=1):
        code, sep, comment = line.partition("//")
        if "__shared__" in code and not code.lstrip().startswith("#"):
            where = f"{origin}:{number}"
            code = _SHARED_DECL.sub(lambda m, where=where: _emu_shared(m, where), code)
            if "__shared__" in code:
                raise ValueError(
                    f"{where}: a __shared__ declaration the emulated build cannot rewrite: "
                    f"{line.strip()}"
                )
        out.append(code + sep + comment)
    return f'#line 1 "{origin}"\n' + "\n".join(out)


def _write_if_changed(path: Path, text: str) -> None:
    if not path.exists() or path.read_text() != text:
        path.write_text(text)


def prepare_sources(kernel_sources: list[Path], build_dir: Path) -> list[Path]:
    """Rewritten copies of csrc/'s headers and of the given kernel files in build_dir/src
    (rewritten only when their text changes, so incremental builds stay incremental);
    returns the paths of the kernel copies."""
    src_dir = build_dir / "src"
    src_dir.mkdir(parents=True, exist_ok=True)
    for header in sorted(CSRC.glob("*.h")) + sorted(CSRC.glob("*.cuh")):
        _write_if_changed(src_dir / header.name, rewrite_shared(header.read_text(), str(header)))
    copies = []
    for source in kernel_sources:
        copy = src_dir / source.name
        _write_if_changed(copy, rewrite_shared(source.read_text(), str(source.resolve())))
        copies.append(copy)
    return copies


def kernel_include_flags(build_dir: Path | None = None) -> list[str]:
    """-I flags for kernel code: the rewritten headers first, then csrc/emu and csrc."""
    return [f"-I{(build_dir or ROOT / 'build' / 'emu') / 'src'}"]


def _cxx() -> str:
    return os.environ.get("CXX", "g++")


def _pybind_includes() -> list[str]:
    import pybind11

    return [f"-I{pybind11.get_include()}", f"-I{sysconfig.get_paths()['include']}"]


def _headers() -> list[Path]:
    return sorted(CSRC.glob("*.h")) + sorted(CSRC.glob("*.cuh")) + sorted(EMU.glob("*.h"))


def compile_jobs(
    kernel_sources: list[Path] | None = None, build_dir: Path | None = None
) -> list[tuple[Path, Path, list[str]]]:
    """(source, object, command) of every translation unit of the module."""
    build_dir = build_dir or ROOT / "build" / "emu"
    kernel_sources = kernel_sources or [CSRC / s for s in KERNEL_SOURCES]
    jobs = []
    include = kernel_include_flags(build_dir)
    for src, copy in zip(kernel_sources, prepare_sources(kernel_sources, build_dir)):
        obj = build_dir / (src.stem + ".o")
        cmd = [_cxx(), *include, *COMMON_FLAGS, *KERNEL_FLAGS, "-c", str(copy), "-o", str(obj)]
        jobs.append((src, obj, cmd))
    runtime = EMU / "runtime.cpp"
    jobs.append(
        (
            runtime,
            build_dir / "runtime.o",
            [_cxx(), *COMMON_FLAGS, "-O2", "-c", str(runtime), "-o", str(build_dir / "runtime.o")],
        )
    )
    for src in (CSRC / "bindings.cpp", EMU / "python.cpp"):
        obj = build_dir / (src.stem + ".o")
        cmd = [
            _cxx(),
            *COMMON_FLAGS,
            *_pybind_includes(),
            "-O1",
            "-DMINIGAN_MODULE_NAME=_C_emu",
            "-c",
            str(src),
            "-o",
            str(obj),
        ]
        jobs.append((src, obj, cmd))
    return jobs


def module_path(out_dir: Path | None = None) -> Path:
    suffix = sysconfig.get_config_var("EXT_SUFFIX") or ".so"
    return (out_dir or ROOT / "minigan") / f"_C_emu{suffix}"


def build(
    force: bool = False,
    out: Path | None = None,
    kernel_sources: list[Path] | None = None,
    build_dir: Path | None = None,
    verbose: bool = True,
) -> Path:
    """Compile what is stale (or everything with force) and link the module; returns its path.

    kernel_sources / build_dir / out let tests build variants of the kernels (mutants)
    into a separate directory, reusing nothing from the main build."""
    if shutil.which(_cxx()) is None:
        raise RuntimeError(f"the emulated build needs a C++ compiler ({_cxx()} not found)")
    build_dir = build_dir or ROOT / "build" / "emu"
    build_dir.mkdir(parents=True, exist_ok=True)
    out = out or module_path()
    header_mtime = max(h.stat().st_mtime for h in _headers())
    jobs = compile_jobs(kernel_sources, build_dir)
    stale = [
        j
        for j in jobs
        if force
        or not j[1].exists()
        or j[1].stat().st_mtime < max(j[0].stat().st_mtime, header_mtime)
    ]
    t0 = time.perf_counter()

    def run(job: tuple[Path, Path, list[str]]) -> str:
        src, _obj, cmd = job
        proc = subprocess.run(cmd, capture_output=True, text=True)
        return "" if proc.returncode == 0 else f"{' '.join(cmd)}\n{proc.stdout}{proc.stderr}"

    if stale and verbose:
        print(f"emu build: compiling {len(stale)} file(s)", file=sys.stderr, flush=True)
    with ThreadPoolExecutor(max_workers=max(1, min(len(stale), os.cpu_count() or 1))) as pool:
        errors = [e for e in pool.map(run, stale) if e]
    if errors:
        raise RuntimeError("emulated build failed:\n" + "\n".join(errors))
    objects = [str(obj) for _src, obj, _cmd in jobs]
    if stale or force or not out.exists():
        link = [_cxx(), "-shared", "-o", str(out), *objects, "-lpthread"]
        proc = subprocess.run(link, capture_output=True, text=True)
        if proc.returncode != 0:
            raise RuntimeError(f"emulated build: link failed:\n{' '.join(link)}\n{proc.stderr}")
    if verbose:
        print(
            f"emu build: {out.relative_to(ROOT) if out.is_relative_to(ROOT) else out} "
            f"({time.perf_counter() - t0:.1f} s)",
            file=sys.stderr,
        )
    return out


def main() -> int:
    parser = argparse.ArgumentParser(description="Build minigan._C_emu (CUDA kernels on the CPU).")
    parser.add_argument("--force", action="store_true", help="rebuild every file")
    args = parser.parse_args()
    try:
        build(force=args.force)
    except RuntimeError as exc:
        print(exc, file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
