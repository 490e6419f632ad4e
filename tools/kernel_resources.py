#!/usr/bin/env python3
"""tools/kernel_resources.py: ptxas resource report, theoretical occupancy and a spill gate
for the hand-written CUDA kernels in csrc/*.cu.

What it does (no GPU needed, only nvcc):

1. Compiles every csrc/*.cu for every arch of MINIGAN_CUDA_ARCHS (default "80,90", parsed
   exactly like setup.py does) with `nvcc -std=c++17 -O3 -Icsrc -Xptxas -v --cubin --keep`,
   one nvcc per (file, arch), in parallel. `--cubin` skips the host compiler; ptxas'
   figures are the same as in the `-c` build of setup.py (its `-lineinfo` does not change
   them either).
2. Parses ptxas' per-kernel report (registers, spill stores / loads, stack frame, static
   shared memory, constant memory, barriers) and the kept PTX (`.maxntid` /
   `.minnctapersm`, i.e. `__launch_bounds__`), and demangles each kernel to a readable name
   such as `gemm_v3_regblock<true, true>`.
3. Takes the threads per block the launcher uses from LAUNCH_THREADS (a committed table,
   read off the launch_kernel(...) calls) or, for kernels with launch bounds, `.maxntid`;
   the launch sites in csrc/*.cu are scanned as a cross-check, and a disagreement is
   printed as a warning.
4. Computes the theoretical occupancy per SM (see `occupancy`) for the arch of each row.
5. Writes a JSON report (--json), a markdown table (--markdown, or stdout), replaces the
   section between the kernel-resources markers of a README (--update-readme), and gates
   spills against a committed budget (--check-budget): exit status 1 when a kernel spills
   more bytes (stores + loads) than its budget.

Exit status: 0 ok, 1 over the spill budget, 2 cannot run (no nvcc, a compile error, a bad
argument or budget file).

    python3 tools/kernel_resources.py --markdown /tmp/res.md --json /tmp/res.json \\
        --check-budget csrc/resource_budget.json --update-readme benchmarks/README.md

The module defines: the ptxas / PTX / launch-site parsers (parse_ptxas_output,
parse_ptx_launch_bounds, scan_launch_sites), readable_name, SmLimits + SM_LIMITS +
occupancy, build_report (runs nvcc), render_table / render_section, replace_section,
validate_budget / check_budget and main.
"""

from __future__ import annotations

import argparse
import datetime
import json
import math
import os
import re
import shutil
import subprocess
import sys
import tempfile
import textwrap
import time
from collections.abc import Mapping
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
CSRC = ROOT / "csrc"
NVCC_FLAGS = ["-std=c++17", "-O3", "-Icsrc", "-Xptxas", "-v"]
BEGIN_MARKER = "<!-- kernel-resources:begin -->"
END_MARKER = "<!-- kernel-resources:end -->"
REPORT_VERSION = 1

# Threads per block of every kernel as its launcher in csrc/ launches it (all launches
# pass 0 bytes of dynamic shared memory). Kernels with __launch_bounds__ need no entry:
# their `.maxntid` is used (their launchers use exactly that many threads). Keyed by the
# kernel's name without template arguments. Checked against the launch_kernel(...) calls
# on every run and by tests/test_kernel_resources.py.
LAUNCH_THREADS: dict[str, int] = {
    # gemm.cu
    "gemm_v1_naive": 256,  # dim3(16, 16)
    "gemm_v2_smem": 256,  # dim3(16, 16)
    "gemm_sum_partials": 256,
    "channel_sum_kernel": 256,
    "column_sum_act_kernel": 256,  # 8 row lanes x 32 columns
    # conv2d.cu
    "im2col_kernel": 256,
    "col2im_kernel": 256,
    # batchnorm.cu
    "bn_forward_train_v1": 128,
    "bn_backward_v1": 128,
    "bn_eval_stats": 256,
    "bn_eval_apply": 256,
}


def say(msg: str) -> None:
    """One line of progress / diagnostics on stderr (stdout may carry the table)."""
    print(f"kernel_resources: {msg}", file=sys.stderr, flush=True)


# ----- arch list and toolchain --------------------------------------------------------------------


def cuda_archs(env: Mapping[str, str] | None = None) -> list[str]:
    """MINIGAN_CUDA_ARCHS ("80,90" by default) as ["80", "90"], validated like setup.py."""
    env = os.environ if env is None else env
    archs = [a.strip() for a in env.get("MINIGAN_CUDA_ARCHS", "80,90").split(",")]
    archs = [a for a in archs if a]
    if not archs or not all(a.isdigit() for a in archs):
        raise SystemExit(f"MINIGAN_CUDA_ARCHS must look like '80,90', got {archs!r}")
    return archs


def find_nvcc() -> str | None:
    """$NVCC, else the nvcc setup.py would use: $CUDA_HOME, $CUDA_PATH, PATH, /usr/local/cuda."""
    env = os.environ
    candidates = [env.get("NVCC")]
    candidates += [
        str(Path(h) / "bin" / "nvcc") for h in (env.get("CUDA_HOME"), env.get("CUDA_PATH")) if h
    ]
    candidates += [shutil.which("nvcc"), "/usr/local/cuda/bin/nvcc"]
    for c in candidates:
        if c and Path(c).is_file() and os.access(c, os.X_OK):
            return c
    return None


def nvcc_version(nvcc: str) -> str:
    """The release nvcc reports, e.g. "V13.0.88" (the last line of `nvcc --version` if it
    has no such pattern)."""
    out = subprocess.run([nvcc, "--version"], capture_output=True, text=True).stdout
    m = re.search(r"\bV(\d+\.\d+\.\d+)", out)
    if m:
        return "V" + m.group(1)
    lines = out.strip().splitlines()
    return lines[-1] if lines else "unknown"


def demangle(names: list[str], nvcc: str | None = None) -> dict[str, str]:
    """{mangled: demangled} via c++filt (or the toolkit's cu++filt); names it cannot
    demangle map to themselves."""
    tools = [shutil.which("c++filt"), shutil.which("cu++filt")]
    if nvcc:
        tools.append(str(Path(nvcc).resolve().parent / "cu++filt"))
    tool = next((t for t in tools if t and Path(t).is_file()), None)
    if tool is None or not names:
        if names:
            say("warning: neither c++filt nor cu++filt found; kernel names stay mangled")
        return {n: n for n in names}
    proc = subprocess.run([tool], input="\n".join(names) + "\n", capture_output=True, text=True)
    out = proc.stdout.splitlines()
    if proc.returncode != 0 or len(out) != len(names):
        return {n: n for n in names}
    return dict(zip(names, out))


# ----- parsers ------------------------------------------------------------------------------------


@dataclass
class PtxasEntry:
    """ptxas' figures for one kernel (entry function) compiled for one arch."""

    mangled: str
    arch: str  # "sm_90"
    registers: int = 0
    spill_stores: int = 0  # bytes
    spill_loads: int = 0  # bytes
    stack_frame: int = 0  # bytes per thread
    smem: int = 0  # static shared memory, bytes per block
    cmem: dict[str, int] = field(default_factory=dict)  # bank -> bytes (not always printed)
    barriers: int | None = None


_ENTRY_RE = re.compile(r"Compiling entry function '(?P<name>[^']+)' for '(?P<arch>sm_\w+)'")
_PROPS_RE = re.compile(r"Function properties for (?P<name>\S+)")
_STACK_RE = re.compile(
    r"(?P<stack>\d+) bytes stack frame, (?P<st>\d+) bytes spill stores, "
    r"(?P<ld>\d+) bytes spill loads"
)
_USED_RE = re.compile(r"Used (?P<regs>\d+) registers(?P<rest>.*)")
_SMEM_RE = re.compile(r"(\d+) bytes smem")
_CMEM_RE = re.compile(r"(\d+) bytes cmem\[(\d+)\]")
_BARRIERS_RE = re.compile(r"used (\d+) barriers")


def parse_ptxas_output(text: str) -> list[PtxasEntry]:
    """The entry functions in ptxas' `-v` output, in order of appearance.

    The report of one kernel looks like (CUDA 12/13; `cmem[...]` is printed for some
    archs only, `used N barriers` only by newer ptxas):

        ptxas info    : Compiling entry function '_Z...' for 'sm_90'
        ptxas info    : Function properties for _Z...
            16 bytes stack frame, 20 bytes spill stores, 16 bytes spill loads
        ptxas info    : Used 128 registers, used 1 barriers, 16896 bytes smem, 512 bytes cmem[0]

    "Function properties" blocks of non-inlined device functions (callees) name another
    function than the entry being compiled and are skipped.
    """
    entries: list[PtxasEntry] = []
    current: PtxasEntry | None = None
    props_for: str | None = None
    for line in text.splitlines():
        if m := _ENTRY_RE.search(line):
            current = PtxasEntry(mangled=m.group("name"), arch=m.group("arch"))
            entries.append(current)
            props_for = None
        elif m := _PROPS_RE.search(line):
            props_for = m.group("name")
        elif m := _STACK_RE.search(line):
            if current is not None and props_for == current.mangled:
                current.stack_frame = int(m.group("stack"))
                current.spill_stores = int(m.group("st"))
                current.spill_loads = int(m.group("ld"))
            props_for = None
        elif (m := _USED_RE.search(line)) and current is not None:
            current.registers = int(m.group("regs"))
            rest = m.group("rest")
            if s := _SMEM_RE.search(rest):
                current.smem = int(s.group(1))
            if b := _BARRIERS_RE.search(rest):
                current.barriers = int(b.group(1))
            for size, bank in _CMEM_RE.findall(rest):
                current.cmem[bank] = int(size)
    return entries


@dataclass
class LaunchBounds:
    """The PTX performance directives of one kernel (from __launch_bounds__)."""

    max_threads: int | None = None  # .maxntid x*y*z (or .reqntid)
    min_blocks: int | None = None  # .minnctapersm


_MAXNTID_RE = re.compile(r"\.(?:maxntid|reqntid)\s+(\d+)(?:\s*,\s*(\d+))?(?:\s*,\s*(\d+))?")


def parse_ptx_launch_bounds(ptx: str) -> dict[str, LaunchBounds]:
    """{mangled entry name: LaunchBounds} for every `.entry` of a PTX file.

    The directives sit between an entry's parameter list and its body:

        .visible .entry _Z...(
            .param .align 8 .b8 _Z..._param_0[152]
        )
        .maxntid 256, 1, 1
        .minnctapersm 2
        {
    """
    bounds: dict[str, LaunchBounds] = {}
    for m in re.finditer(r"\.entry\s+([\w$.]+)\s*\(", ptx):
        header_end = ptx.find("{", m.end())
        header = ptx[m.end() : header_end if header_end >= 0 else len(ptx)]
        lb = LaunchBounds()
        if t := _MAXNTID_RE.search(header):
            lb.max_threads = math.prod(int(x) for x in t.groups() if x is not None)
        if b := re.search(r"\.minnctapersm\s+(\d+)", header):
            lb.min_blocks = int(b.group(1))
        bounds[m.group(1)] = lb
    return bounds


def _top_level_split(s: str, sep: str, angles: bool = True) -> list[str]:
    """s split at occurrences of sep outside (), [] and, with angles, <> (template
    arguments; only for demangled names, where < and > are always brackets)."""
    opening, closing = ("(<[", ")>]") if angles else ("([", ")]")
    parts, depth, start, i = [], 0, 0, 0
    while i < len(s):
        ch = s[i]
        if ch in opening:
            depth += 1
        elif ch in closing:
            depth -= 1
        elif depth == 0 and s.startswith(sep, i):
            parts.append(s[start:i])
            start = i + len(sep)
            i = start
            continue
        i += 1
    parts.append(s[start:])
    return parts


def readable_name(demangled: str) -> str:
    """A short kernel name from a demangled signature:

    "void minigan::(anonymous namespace)::gemm_v3_regblock<false, true>(minigan::...)"
        -> "gemm_v3_regblock<false, true>"
    "minigan::(anonymous namespace)::adam_v2(unsigned long const*, int)" -> "adam_v2"

    A name that was not demangled (still "_Z...") is returned unchanged.
    """
    s = demangled.strip().replace("(anonymous namespace)::", "")
    if s.endswith(")"):  # drop the parameter list: the last balanced (...) group
        depth = 0
        for i in range(len(s) - 1, -1, -1):
            depth += {")": 1, "(": -1}.get(s[i], 0)
            if depth == 0:
                s = s[:i]
                break
    s = _top_level_split(s.strip(), " ")[-1]  # drop a return type ("void ")
    return _top_level_split(s, "::")[-1]  # drop namespaces


def base_name(name: str) -> str:
    """The kernel name without its template arguments: "gemm_v1_naive<true, false>" ->
    "gemm_v1_naive"."""
    return name.split("<", 1)[0]


@dataclass
class LaunchSite:
    """One launch_kernel(name, kernel, grid, block, smem, stream, ...) call in csrc/."""

    file: str
    line: int
    kernel: str  # base name
    block: str  # the block argument as written
    threads: int | None  # block resolved to a thread count (None: not a constant)
    smem: str  # the dynamic shared memory argument as written


def _resolve_int(expr: str, consts: dict[str, int]) -> int | None:
    """An integer constant expression of a launch site: 256, NT3, dim3(16, 16), (unsigned)X."""
    expr = re.sub(r"^\((?:unsigned|int|size_t)\)\s*", "", expr.strip())
    if re.fullmatch(r"\d+[uU]?", expr):
        return int(expr.rstrip("uU"))
    if expr in consts:
        return consts[expr]
    if m := re.fullmatch(r"dim3\s*\((.*)\)", expr, re.S):
        dims = [_resolve_int(d, consts) for d in _top_level_split(m.group(1), ",", False)]
        return None if any(d is None for d in dims) else math.prod(dims)  # type: ignore[misc]
    return None


def scan_launch_sites(csrc: Path = CSRC) -> list[LaunchSite]:
    """Every launch_kernel(...) call in csrc/*.cu, its block size resolved where it is a
    literal, a dim3 of literals or a `constexpr int` of the same file."""
    sites: list[LaunchSite] = []
    for path in sorted(csrc.glob("*.cu")):
        text = path.read_text()
        # Blank out comments (prose with commas and parens), keeping offsets for line numbers.
        code = re.sub(r"//[^\n]*", lambda c: " " * len(c.group()), text)
        consts: dict[str, int] = {}
        for decl in re.findall(r"constexpr\s+int\s+([^;]*);", code):
            for name, value in re.findall(r"(\w+)\s*=\s*(\d+)\b", decl):
                consts[name] = int(value)
        for m in re.finditer(r"\blaunch_kernel\s*\(", code):
            depth, i = 1, m.end()
            while i < len(code) and depth:
                depth += {"(": 1, ")": -1}.get(code[i], 0)
                i += 1
            # Split at commas outside parentheses; in source code < may be a comparison,
            # so the template arguments of the kernel argument are glued back instead.
            args = [a.strip() for a in _top_level_split(code[m.end() : i - 1], ",", False)]
            while len(args) > 2 and args[1].count("<") > args[1].count(">"):
                args[1:3] = [f"{args[1]}, {args[2]}"]
            if len(args) < 6:
                continue
            sites.append(
                LaunchSite(
                    file=f"csrc/{path.name}",
                    line=text.count("\n", 0, m.start()) + 1,
                    kernel=base_name(args[1]),
                    block=args[3],
                    threads=_resolve_int(args[3], consts),
                    smem=args[4],
                )
            )
    return sites


# ----- occupancy ----------------------------------------------------------------------------------


@dataclass(frozen=True)
class SmLimits:
    """Per-SM limits of one compute capability (CUDA C++ Programming Guide, "Technical
    Specifications per Compute Capability", and the occupancy calculator)."""

    max_threads_per_sm: int
    max_warps_per_sm: int
    max_blocks_per_sm: int
    smem_per_sm: int  # bytes, the largest shared-memory carveout
    regs_per_sm: int = 65536  # 32-bit registers
    max_regs_per_thread: int = 255
    reg_alloc_unit: int = 256  # registers are allocated per warp in units of 256
    warp_alloc_granularity: int = 4  # = 4 SM sub-partitions, each with 1/4 of the registers
    smem_reserved_per_block: int = 1024  # bytes the system reserves per resident block
    smem_alloc_unit: int = 128  # bytes
    max_threads_per_block: int = 1024
    warp_size: int = 32


SM_LIMITS: dict[str, SmLimits] = {
    "sm_80": SmLimits(2048, 64, 32, 164 * 1024),  # A100
    "sm_86": SmLimits(1536, 48, 16, 100 * 1024),
    "sm_89": SmLimits(1536, 48, 24, 100 * 1024),
    "sm_90": SmLimits(2048, 64, 32, 228 * 1024),  # H100 / H200
}


def occupancy(
    threads: int, registers: int, smem: int, limits: SmLimits = SM_LIMITS["sm_90"]
) -> dict[str, Any]:
    """Theoretical occupancy of a kernel with `threads` per block, `registers` per thread
    and `smem` bytes of (static + dynamic) shared memory per block.

    With W = ceil(threads / 32) warps per block, each resource bounds the resident blocks
    per SM (sm_90 numbers in brackets):

      registers   per warp: Rw = ceil(registers * 32 / 256) * 256
                  warps:    Wr = floor(floor(65536 / Rw) / 4) * 4   (4 = warp allocation
                            granularity: each of the 4 sub-partitions holds 16384
                            registers, so Wr = 4 * floor(16384 / Rw))
                  blocks:   B_regs = floor(Wr / W)                  (0: launch fails)
      shared mem  per block: S = ceil((smem + 1024) / 128) * 128   (1 KiB reserved)
                  blocks:   B_smem = floor(228 KiB / S)
      threads     blocks:   B_warps = floor(64 / W)                 (2048 threads = 64 warps)
      blocks      blocks:   B_blocks = 32

      B = min(B_regs, B_smem, B_warps, B_blocks),  active warps = B * W,
      occupancy = B * W / 64.

    Example: 256 threads (W = 8), 128 registers: Rw = 4096, Wr = 16, B_regs = 2, so
    2 blocks = 16 warps = 25 % (limited by registers).

    Returns blocks_per_sm, active_warps, occupancy (0..1), limiter and the per-resource
    block limits (blocks_by). The limiter names the resources that reach the minimum
    ("registers", "shared memory", "threads", "blocks", joined by " + " on a tie), or is
    "none" at full occupancy (where the thread limit is reached by definition).
    """
    warps_per_block = math.ceil(threads / limits.warp_size)
    if registers > 0:
        regs_per_warp = math.ceil(registers * limits.warp_size / limits.reg_alloc_unit)
        regs_per_warp *= limits.reg_alloc_unit
        warps_by_regs = limits.regs_per_sm // regs_per_warp
        warps_by_regs -= warps_by_regs % limits.warp_alloc_granularity
        blocks_by_regs = warps_by_regs // warps_per_block
    else:
        blocks_by_regs = limits.max_blocks_per_sm
    if registers > limits.max_regs_per_thread:
        blocks_by_regs = 0
    smem_per_block = smem + limits.smem_reserved_per_block
    smem_per_block = math.ceil(smem_per_block / limits.smem_alloc_unit) * limits.smem_alloc_unit
    by = {
        "registers": blocks_by_regs,
        "shared memory": limits.smem_per_sm // smem_per_block,
        "threads": limits.max_warps_per_sm // warps_per_block,
        "blocks": limits.max_blocks_per_sm,
    }
    if threads > limits.max_threads_per_block:
        by["threads"] = 0
    blocks = min(by.values())
    active_warps = blocks * warps_per_block
    limiter = " + ".join(k for k, v in by.items() if v == blocks)
    return {
        "blocks_per_sm": blocks,
        "active_warps": active_warps,
        "occupancy": active_warps / limits.max_warps_per_sm,
        "limiter": "none" if active_warps == limits.max_warps_per_sm else limiter,
        "blocks_by": by,
    }


# ----- the report ---------------------------------------------------------------------------------


@dataclass
class CompileResult:
    source: str  # "csrc/gemm.cu"
    arch: str  # "90"
    entries: list[PtxasEntry]
    bounds: dict[str, LaunchBounds]
    error: str = ""


def compile_one(nvcc: str, source: str, arch: str, workdir: Path) -> CompileResult:
    """nvcc -cubin of one source for one arch, keeping the PTX; ptxas -v goes to stderr."""
    keep = workdir / f"{Path(source).stem}.sm_{arch}"
    keep.mkdir(parents=True)
    cmd = [
        nvcc,
        *NVCC_FLAGS,
        "--cubin",
        "-gencode",
        f"arch=compute_{arch},code=sm_{arch}",
        "--keep",
        "--keep-dir",
        str(keep),
        source,
        "-o",
        str(keep / "out.cubin"),
    ]
    proc = subprocess.run(cmd, cwd=ROOT, capture_output=True, text=True)
    if proc.returncode != 0:
        err = f"{' '.join(cmd)}\n{proc.stdout}{proc.stderr}"
        return CompileResult(source, arch, [], {}, error=err)
    bounds: dict[str, LaunchBounds] = {}
    for ptx in keep.glob("*.ptx"):
        bounds.update(parse_ptx_launch_bounds(ptx.read_text()))
    entries = parse_ptxas_output(proc.stdout + proc.stderr)
    if sorted(e.mangled for e in entries) != sorted(bounds):
        # A kernel without figures would slip through the spill gate: refuse instead.
        err = (
            f"{source} sm_{arch}: the PTX has {len(bounds)} kernels but ptxas' -v output "
            f"gave figures for {len(entries)} (has its format changed?)\n{proc.stderr}"
        )
        return CompileResult(source, arch, entries, bounds, error=err)
    return CompileResult(source, arch, entries, bounds)


def kernel_records(
    results: list[CompileResult], names: dict[str, str], sites: list[LaunchSite]
) -> tuple[list[dict[str, Any]], list[str]]:
    """One record per (kernel, arch) with every figure, and the warnings found on the way.

    `names` maps mangled names to demangled ones."""
    warnings: list[str] = []
    site_threads: dict[str, set[int | None]] = {}
    for s in sites:
        site_threads.setdefault(s.kernel, set()).add(s.threads)
        if s.smem != "0":
            warnings.append(
                f"{s.file}:{s.line}: {s.kernel} is launched with {s.smem} bytes of dynamic "
                "shared memory; the occupancy counts static shared memory only"
            )
    records: list[dict[str, Any]] = []
    for r in results:
        for e in r.entries:
            name = readable_name(names.get(e.mangled, e.mangled))
            base = base_name(name)
            lb = r.bounds.get(e.mangled, LaunchBounds())
            at_sites = sorted(t for t in site_threads.get(base, set()) if t is not None)
            if base in LAUNCH_THREADS:
                threads, source = LAUNCH_THREADS[base], "table"
            elif lb.max_threads is not None:
                threads, source = lb.max_threads, "launch bounds"
            elif len(at_sites) == 1:
                threads, source = at_sites[0], "launch site"
                warnings.append(
                    f"{name}: threads per block read off its launch site; add it to LAUNCH_THREADS"
                )
            else:
                threads, source = None, "unknown"
            if base not in site_threads:
                warnings.append(f"{name} ({r.source}): no launch_kernel(...) call found")
            elif threads is not None and at_sites and at_sites != [threads]:
                warnings.append(
                    f"{name}: launch sites use {at_sites} threads per block, the report "
                    f"assumes {threads} ({source})"
                )
            if threads is not None and lb.max_threads is not None and threads > lb.max_threads:
                warnings.append(
                    f"{name}: {threads} threads exceed __launch_bounds__ {lb.max_threads}"
                )
            limits = SM_LIMITS.get(e.arch)
            occ = occupancy(threads, e.registers, e.smem, limits) if threads and limits else None
            records.append(
                {
                    "kernel": name,
                    "source": r.source,
                    "arch": e.arch,
                    "registers": e.registers,
                    "spill_stores": e.spill_stores,
                    "spill_loads": e.spill_loads,
                    "stack_frame": e.stack_frame,
                    "smem": e.smem,
                    "cmem": e.cmem,
                    "barriers": e.barriers,
                    "max_threads": lb.max_threads,
                    "min_blocks": lb.min_blocks,
                    "threads_per_block": threads,
                    "threads_source": source,
                    "occupancy": occ,
                    "mangled": e.mangled,
                }
            )
    records.sort(key=lambda k: (k["source"], k["kernel"], int(k["arch"][3:])))
    return records, list(dict.fromkeys(warnings))  # each warning once (not once per arch)


def build_report(nvcc: str, archs: list[str], jobs: int) -> dict[str, Any]:
    """Compiles every csrc/*.cu for every arch (largest files first, `jobs` at a time) and
    returns the report dict that --json writes."""
    sources = sorted(CSRC.glob("*.cu"), key=lambda p: -p.stat().st_size)
    todo = [(f"csrc/{p.name}", a) for p in sources for a in archs]
    started = time.monotonic()
    with tempfile.TemporaryDirectory(prefix="kernel_resources.") as tmp:
        with ThreadPoolExecutor(max_workers=max(1, min(jobs, len(todo)))) as pool:
            results = list(pool.map(lambda t: compile_one(nvcc, t[0], t[1], Path(tmp)), todo))
    failed = [r.error for r in results if r.error]
    if failed:
        say("nvcc failed:\n" + "\n".join(failed))
        raise SystemExit(2)
    mangled = sorted({e.mangled for r in results for e in r.entries})
    records, warnings = kernel_records(results, demangle(mangled, nvcc), scan_launch_sites())
    seen: dict[tuple[str, str], str] = {}
    for k in records:  # two anonymous-namespace kernels of the same name in two files
        other = seen.setdefault((k["kernel"], k["arch"]), k["source"])
        if other != k["source"]:
            warnings.append(f"{k['kernel']} is defined in {other} and {k['source']}")
    if not records:
        say("ptxas reported no kernels at all")
        raise SystemExit(2)
    return {
        "version": REPORT_VERSION,
        "date": datetime.date.today().isoformat(),
        "nvcc": nvcc_version(nvcc),
        "archs": [f"sm_{a}" for a in archs],
        "flags": NVCC_FLAGS,
        "sources": [f"csrc/{p.name}" for p in sorted(sources)],
        "seconds": round(time.monotonic() - started, 1),
        "kernels": records,
        "warnings": warnings,
    }


# ----- output -------------------------------------------------------------------------------------


def _occupancy_cell(occ: dict[str, Any] | None) -> str:
    if occ is None:
        return "?"
    return f"{occ['occupancy'] * 100:.0f}% ({occ['active_warps']} warps)"


def render_table(report: dict[str, Any]) -> str:
    """The markdown table, one row per kernel and arch."""
    lines = [
        "| kernel | arch | regs | spill st/ld (bytes) | smem (bytes) | stack | threads/block "
        "| occupancy | limiter |",
        "|---|---|---:|---:|---:|---:|---:|---:|---|",
    ]
    for k in report["kernels"]:
        spill = f"{k['spill_stores']} / {k['spill_loads']}"
        if k["spill_stores"] or k["spill_loads"]:
            spill = f"**{spill}**"
        threads = k["threads_per_block"] if k["threads_per_block"] is not None else "?"
        if k["max_threads"] is not None:
            threads = f"{threads} (bounds {k['max_threads']}"
            threads += f", min {k['min_blocks']} blocks)" if k["min_blocks"] else ")"
        occ = k["occupancy"]
        lines.append(
            f"| `{k['kernel']}` | {k['arch']} | {k['registers']} | {spill} | {k['smem']} "
            f"| {k['stack_frame']} | {threads} | {_occupancy_cell(occ)} "
            f"| {occ['limiter'] if occ else '?'} |"
        )
    return "\n".join(lines) + "\n"


def render_section(report: dict[str, Any]) -> str:
    """The README section: a heading, how the table was made, and the table."""
    about = (
        "Generated by `python3 tools/kernel_resources.py --update-readme benchmarks/README.md` "
        f"on {report['date']} with nvcc {report['nvcc']} (`{' '.join(report['flags'])}`) "
        f"for {', '.join(report['archs'])}; do not edit by hand. Registers are per thread, "
        "spills and stack in bytes per thread, static shared memory in bytes per block. "
        "Occupancy is the theoretical one on the row's arch (sm_90: H100 / H200) at the "
        "block size the launcher uses: resident warps per SM out of 64, limited by "
        "registers, shared memory (+1 KiB reserved per block), threads or blocks per SM "
        "(none: full occupancy). CI fails when a kernel spills more bytes (stores + loads) "
        "than its budget in `csrc/resource_budget.json`; spills are in bold."
    )
    return (
        "## Kernel resources (ptxas)\n\n" + textwrap.fill(about, 92) + "\n\n" + render_table(report)
    )


def replace_section(text: str, section: str) -> str:
    """text with the part between BEGIN_MARKER and END_MARKER replaced by section (markers
    kept), or the marked section appended when the markers are missing. Idempotent."""
    block = f"{BEGIN_MARKER}\n{section.rstrip()}\n{END_MARKER}"
    begin, end = text.find(BEGIN_MARKER), text.find(END_MARKER)
    if begin >= 0 and end > begin:
        return text[:begin] + block + text[end + len(END_MARKER) :]
    if begin >= 0 or end >= 0:
        raise ValueError(f"found only one of {BEGIN_MARKER} / {END_MARKER}")
    return text.rstrip("\n") + "\n\n" + block + "\n"


# ----- the spill gate -----------------------------------------------------------------------------


def validate_budget(budget: Any) -> None:
    """Raises ValueError unless budget looks like csrc/resource_budget.json:

        {"default_spill_bytes": 0,
         "kernels": {"<kernel>": {"sm_90": 36, "reason": "..."},   # per arch (+ a note)
                     "<kernel>": 8}}                                # every arch
    Keys starting with "_" are comments."""
    if not isinstance(budget, dict):
        raise ValueError("the budget must be a JSON object")
    if not isinstance(budget.get("default_spill_bytes", 0), int):
        raise ValueError("default_spill_bytes must be an integer")
    kernels = budget.get("kernels", {})
    if not isinstance(kernels, dict):
        raise ValueError("kernels must be an object {kernel name: budget}")
    for name, entry in kernels.items():
        if isinstance(entry, int):
            continue
        if not isinstance(entry, dict):
            raise ValueError(f"kernels[{name!r}] must be an integer or {{'sm_XX': int}}")
        for key, value in entry.items():
            if key == "reason" or key.startswith("_"):
                continue
            if not re.fullmatch(r"sm_\d+", key) or not isinstance(value, int):
                raise ValueError(f"kernels[{name!r}][{key!r}]: expected 'sm_XX': integer")


def spill_budget(budget: dict[str, Any], kernel: str, arch: str) -> int:
    """The spill budget (bytes, stores + loads) of kernel on arch: kernels[kernel] as an
    int (every arch) or as {"sm_90": n, ...} (other archs: the default), else default."""
    default = int(budget.get("default_spill_bytes", 0))
    entry = budget.get("kernels", {}).get(kernel)
    if isinstance(entry, int):
        return entry
    if isinstance(entry, dict):
        return int(entry.get(arch, default))
    return default


def check_budget(report: dict[str, Any], budget: dict[str, Any]) -> tuple[list[str], list[str]]:
    """(failures, notes): a failure for every kernel and arch spilling more than its budget;
    notes for budget entries that name no compiled kernel (stale) and for budgets that can
    be lowered."""
    failures: list[str] = []
    notes: list[str] = []
    for k in report["kernels"]:
        spilled = k["spill_stores"] + k["spill_loads"]
        allowed = spill_budget(budget, k["kernel"], k["arch"])
        where = f"{k['kernel']} ({k['source']}) on {k['arch']}"
        figures = (
            f"{k['spill_stores']} bytes spill stores + {k['spill_loads']} bytes spill loads, "
            f"{k['registers']} registers, {k['stack_frame']} bytes stack"
        )
        if spilled > allowed:
            failures.append(f"{where} spills {spilled} bytes ({figures}); budget {allowed}")
        elif spilled < allowed:
            notes.append(f"{where} spills {spilled} bytes, budget {allowed}: it can be lowered")
    compiled = {k["kernel"] for k in report["kernels"]}
    for name in budget.get("kernels", {}):
        if name not in compiled:
            notes.append(f"budget entry {name!r} names no compiled kernel (stale: remove it)")
    return failures, notes


# ----- command line -------------------------------------------------------------------------------


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(
        description="ptxas register / spill / shared-memory report of csrc/*.cu, "
        "occupancy, and a spill gate.",
    )
    ap.add_argument("--json", metavar="PATH", help="write the full report as JSON")
    ap.add_argument("--markdown", metavar="PATH", help="write the markdown table ('-': stdout)")
    ap.add_argument("--update-readme", metavar="PATH", help="replace the marked section of PATH")
    ap.add_argument(
        "--check-budget", metavar="PATH", help="exit 1 when a kernel spills more than PATH allows"
    )
    ap.add_argument(
        "--from-json", metavar="PATH", help="read a report written by --json instead of compiling"
    )
    ap.add_argument(
        "--jobs", type=int, default=os.cpu_count() or 1, help="parallel nvcc (default: CPUs)"
    )
    args = ap.parse_args(argv)

    if args.from_json:
        report = json.loads(Path(args.from_json).read_text())
    else:
        nvcc = find_nvcc()
        if nvcc is None:
            say("nvcc not found ($NVCC, PATH, $CUDA_HOME/bin, /usr/local/cuda/bin)")
            return 2
        report = build_report(nvcc, cuda_archs(), args.jobs)
        say(
            f"{len(report['kernels'])} kernel builds from {len(report['sources'])} files for "
            f"{', '.join(report['archs'])} in {report['seconds']} s ({report['nvcc']})"
        )
    for w in report.get("warnings", []):
        say(f"warning: {w}")

    if args.json:
        Path(args.json).write_text(json.dumps(report, indent=1) + "\n")
    if args.markdown and args.markdown != "-":
        Path(args.markdown).write_text(render_table(report))
    elif args.markdown == "-" or not (args.json or args.update_readme or args.check_budget):
        sys.stdout.write(render_table(report))
    if args.update_readme:
        readme = Path(args.update_readme)
        old = readme.read_text() if readme.exists() else ""
        new = replace_section(old, render_section(report))
        if new != old:
            readme.write_text(new)
        say(f"{readme}: section {'updated' if new != old else 'unchanged'}")

    if args.check_budget:
        try:
            budget = json.loads(Path(args.check_budget).read_text())
            validate_budget(budget)
        except (OSError, ValueError) as exc:
            say(f"cannot read the budget {args.check_budget}: {exc}")
            return 2
        failures, notes = check_budget(report, budget)
        for n in notes:
            say(f"note: {n}")
        for f in failures:
            say(f"OVER BUDGET: {f}")
        if failures:
            say(
                f"{len(failures)} kernel build(s) spill more than {args.check_budget} allows: "
                "fix the register pressure, or raise the budget there with a reason"
            )
            return 1
        say(f"spills within {args.check_budget}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
