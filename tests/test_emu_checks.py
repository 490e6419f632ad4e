# tests/test_emu_checks.py: proof that the CUDA emulator's checks bite. Each case builds a
# deliberately broken copy of a real kernel from csrc/ (a removed barrier, an off-by-one
# bound, a misaligned float4 load, a shared-memory race, a thread that leaves before a
# barrier, an oversized block, launch bounds exceeded, too much shared memory), runs it in a
# subprocess through the ordinary wrapper (emu_ext) and asserts that the emulator refuses it
# with the expected message naming the kernel (and the block and thread where one is at
# fault). Controls: the unmodified kernels pass the same scenarios, and a raised
# cudaFuncSetAttribute limit lets a large dynamic shared-memory request through.
"""Mutation tests of the CUDA emulator's checks (minigan._C_emu)."""

from __future__ import annotations

import re
import shutil
import subprocess
import sys
import textwrap
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

import pytest
from emu_cupy.toolchain import build_module

ROOT = Path(__file__).resolve().parents[1]
CSRC = ROOT / "csrc"

pytestmark = [
    pytest.mark.emu,
    pytest.mark.skipif(shutil.which("g++") is None, reason="the emulated build needs g++"),
]


@dataclass(frozen=True)
class Mutant:
    name: str
    source: str  # file under csrc/
    pattern: str  # regex that must match exactly once in the real source
    replacement: str
    scenario: str  # name of a function in SCENARIOS
    expect: str  # regex the error must match ("" = the run must succeed)
    names_thread: bool = True  # the message names the block and thread at fault
    order: str = "forward"  # the emulator's thread order for the run


MUTANTS = [
    Mutant(
        "removed barrier after the tile loads (v2 GEMM)",
        "gemm.cu",
        r"(Bs\[ty\]\[tx\] = load_b<BK>\([^;]*\);\s*)__syncthreads\(\);",
        r"\1",
        "gemm_v2",
        r"gemm_v2_smem: read of uninitialised shared memory",
    ),
    Mutant(
        "removed barrier at the end of the k-tile (v2 GEMM)",
        "gemm.cu",
        r"(acc \+= As\[ty\]\[kk\] \* Bs\[kk\]\[tx\];\s*)__syncthreads\(\);",
        r"\1",
        "gemm_v2",
        r"gemm_v2_smem: shared-memory race: a read .* conflicts with a write by thread",
    ),
    Mutant(
        "removed barrier before a scalar-indexed shared read (batchnorm s_mu[0])",
        "batchnorm.cu",
        r"(s_is\[tid\] = invstd;\s*\}\s*)__syncthreads\(\);(\s*// 4\. Normalise)",
        r"\1\2",
        "batchnorm",
        r"bn_forward_train_v2<false>: (shared-memory race|read of uninitialised shared memory)",
        order="reverse",
    ),
    Mutant(
        "shared-memory race (column sum without its barrier)",
        "gemm.cu",
        r"(red\[row_lane\]\[lane\] = s;\s*)__syncthreads\(\);",
        r"\1",
        "bias_grad",
        r"column_sum_act.*shared-memory race",
        order="reverse",
    ),
    Mutant(
        "off-by-one bound (column sum writes one past the end)",
        "gemm.cu",
        r"if \(row_lane == 0 && j < cols\)",
        "if (row_lane == 0 && j <= cols)",
        "bias_grad",
        r"column_sum_act.*out-of-bounds global write of 4 bytes .*0 bytes past the end of the "
        r"20-byte buffer",
    ),
    Mutant(
        "misaligned float4 load (v3 GEMM)",
        "gemm.cu",
        r"\*reinterpret_cast<const float4\*>\(src \+ off\)",
        "*reinterpret_cast<const float4*>(src + off + 1)",
        "gemm_v3",
        r"gemm_v3_regblock.*misaligned",
    ),
    Mutant(
        "a thread leaves before a barrier (barrier divergence)",
        "gemm.cu",
        r"(\n\s*)(red\[row_lane\]\[lane\] = s;)",
        r"\1if (threadIdx.x == 7) return;\1\2",
        "bias_grad",
        r"column_sum_act.*barrier divergence: thread \(7,0,0\) exited while 255 other thread",
        names_thread=False,
    ),
    Mutant(
        "undefined behaviour in host code (signed overflow in a launcher)",
        "linear_act.cu",
        r'(const char\* name = "linear_act_forward";)',
        r"\1 { volatile int big = 2147483647; big = big + 1; }",
        "gemm_v1",
        r"\[emu\] in host code: .*linear_act\.cu:\d+:\d+: undefined behaviour: signed integer "
        r"overflow in \+",
        names_thread=False,
    ),
    Mutant(
        "oversized block (v1 GEMM with 64 x 32 threads)",
        "gemm.cu",
        r"(gemm_v1_naive<AK, BK>, dim3\(gx, gy, zcount\),\s*)dim3\(16, 16\)",
        r"\1dim3(64, 32)",
        "gemm_v1",
        r"gemm_v1_naive: launch refused .*block \(64,32,1\) has 2048 threads, more than the 1024",
        names_thread=False,
    ),
    Mutant(
        "block larger than __launch_bounds__ (Adam v1 with 512 threads)",
        "adam.cu",
        r"(adam_v1, blocks, )ADAM_THREADS(, 0)",
        r"\g<1>2 * ADAM_THREADS\2",
        "adam_v1",
        r"adam_v1: launch refused .*512 threads, more than the kernel's __launch_bounds__ \(256\)",
        names_thread=False,
    ),
    Mutant(
        "oversized shared memory (40 KiB dynamic + 16.5 KiB static, no attribute)",
        "gemm.cu",
        r"(gemm_v3_regblock<AK, BK>, dim3\(gx, gy, zcount\),\s*NT3, )0(, stream)",
        r"\g<1>40 * 1024\2",
        "gemm_v3",
        r"gemm_v3_regblock: launch refused .*40960 bytes of dynamic shared memory \(\+ 16896 "
        r"static\); the limit is 32256 bytes",
        names_thread=False,
    ),
    Mutant(
        "control: 60 KiB dynamic shared memory after raising the attribute runs",
        "gemm.cu",
        r"(\n\s*)(launch_kernel\(\(name \+ \": gemm_v3_regblock\"\), gemm_v3_regblock<AK, BK>, "
        r"dim3\(gx, gy, zcount\),\s*NT3, )0(, stream)",
        r"\1cudaFuncSetAttribute(gemm_v3_regblock<AK, BK>, "
        r"cudaFuncAttributeMaxDynamicSharedMemorySize, 200 * 1024);\1\g<2>60 * 1024\3",
        "gemm_v3",
        "",
    ),
    Mutant(
        "more shared memory than sm_90 has, even with the attribute raised",
        "gemm.cu",
        r"(\n\s*)(launch_kernel\(\(name \+ \": gemm_v3_regblock\"\), gemm_v3_regblock<AK, BK>, "
        r"dim3\(gx, gy, zcount\),\s*NT3, )0(, stream)",
        r"\1cudaFuncSetAttribute(gemm_v3_regblock<AK, BK>, "
        r"cudaFuncAttributeMaxDynamicSharedMemorySize, 227 * 1024);\1\g<2>220 * 1024\3",
        "gemm_v3",
        r"gemm_v3_regblock: launch refused .*cudaFuncSetAttribute\(MaxDynamicSharedMemorySize, "
        r"232448\) fails on the GPU: with 16896 bytes of static shared memory the kernel may ask "
        r"for at most 215552 dynamic bytes",
        names_thread=False,
    ),
]

# The scenarios run in the subprocess: each calls one family through the ordinary wrapper
# and compares with the NumPy reference (so a mutant that is NOT caught also fails loudly
# when its results are wrong, and the control must be right).
SCENARIO_SCRIPT = textwrap.dedent(
    """
    import importlib.util, sys
    import numpy as np
    path, scenario, order = sys.argv[1:4]
    spec = importlib.util.spec_from_file_location("minigan._C_emu", path)
    mod = importlib.util.module_from_spec(spec)
    sys.modules["minigan._C_emu"] = mod
    spec.loader.exec_module(mod)
    from minigan.backend import emu_ext, numpy_ref as nr
    mod.emu_set_thread_order(order)
    # ptxas' figures of the kernels these scenarios launch (tools/kernel_resources.py)
    mod.emu_set_kernel_info("gemm_v3_regblock", 16896, 256, 128)
    mod.emu_set_kernel_info("adam_v1", 0, 256, 32)
    r = np.random.default_rng(0)

    def linear(version, n, k, m):
        x = r.standard_normal((n, k)).astype(np.float32)
        w = r.standard_normal((m, k)).astype(np.float32)
        with emu_ext.forced_kernel_version("gemm", version):
            y = emu_ext.linear_act_forward(x, w, None)
        err = np.abs(y - nr.linear_act_forward(x.astype(float), w.astype(float), None)).max()
        assert err < 1e-4, err

    def bias_grad():
        dy = r.standard_normal((9, 5)).astype(np.float32)
        x = r.standard_normal((9, 3)).astype(np.float32)
        w = r.standard_normal((5, 3)).astype(np.float32)
        _, _, db = emu_ext.linear_act_backward(dy, x, w, dy, need_dx=False, need_dw=False)
        assert np.abs(db - dy.sum(0)).max() < 1e-5

    def batchnorm():
        x = r.standard_normal((6, 3, 5, 5)).astype(np.float32)
        with emu_ext.forced_kernel_version("batchnorm", 2):
            y, _, _ = emu_ext.batchnorm_forward(x, None, None, None, None, True)
        ref = nr.batchnorm_forward(x.astype(float), None, None, None, None, True)[0]
        assert np.abs(y - ref).max() < 1e-4

    def adam():
        p = [r.standard_normal(300).astype(np.float32)]
        g = [r.standard_normal(300).astype(np.float32)]
        with emu_ext.forced_kernel_version("adam", 1):
            emu_ext.adam_step(p, g, [np.zeros(300, np.float32)], [np.zeros(300, np.float32)], 1)

    {
        "gemm_v1": lambda: linear(1, 20, 24, 18),
        "gemm_v2": lambda: linear(2, 16, 40, 16),
        "gemm_v3": lambda: linear(3, 8, 16, 8),
        "bias_grad": bias_grad,
        "adam_v1": adam,
        "batchnorm": batchnorm,
    }[scenario]()
    print("scenario completed")
    """
)


def _mutate(m: Mutant, out_dir: Path) -> Path:
    text = (CSRC / m.source).read_text()
    new, count = re.subn(m.pattern, m.replacement, text)
    assert count == 1, f"mutant '{m.name}': pattern matched {count} times in csrc/{m.source}"
    path = out_dir / m.source
    path.write_text(new)
    return path


@pytest.fixture(scope="module")
def built(tmp_path_factory) -> dict[str, Path]:
    """Every mutant's module (plus the unmodified one), built in parallel; each reuses the
    objects of the normal emulated build for the files it does not change."""
    build = build_module()  # csrc/emu/build.py, loaded once by the CuPy stand-in's toolchain
    try:
        build.build(verbose=False)  # the normal build: its objects are reused
    except RuntimeError as exc:
        pytest.fail(f"the emulated build fails: {exc}")
    main_objects = ROOT / "build" / "emu"
    root = tmp_path_factory.mktemp("emu_mutants")

    def one(item: tuple[int, Mutant | None]) -> tuple[str, Path]:
        i, m = item
        work = root / f"m{i}"
        objects = work / "obj"
        objects.mkdir(parents=True)
        for o in main_objects.glob("*.o"):
            shutil.copy2(o, objects / o.name)
        sources = [CSRC / s for s in build.KERNEL_SOURCES]
        if m is not None:
            mutated = _mutate(m, work)
            sources = [mutated if s.name == m.source else s for s in sources]
        out = work / build.module_path(work).name
        build.build(out=out, kernel_sources=sources, build_dir=objects, verbose=False)
        return ("control" if m is None else m.name), out

    items = [(0, None)] + [(i + 1, m) for i, m in enumerate(MUTANTS)]
    with ThreadPoolExecutor(max_workers=2) as pool:
        return dict(pool.map(one, items))


def _run(module: Path, scenario: str, order: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-c", SCENARIO_SCRIPT, str(module), scenario, order],
        capture_output=True,
        text=True,
        cwd=ROOT,
        timeout=300,
    )


@pytest.mark.parametrize(
    "scenario", ["gemm_v1", "gemm_v2", "gemm_v3", "bias_grad", "adam_v1", "batchnorm"]
)
@pytest.mark.parametrize("order", ["forward", "reverse"])
def test_unmodified_kernels_pass_every_scenario(built, scenario, order):
    proc = _run(built["control"], scenario, order)
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert "scenario completed" in proc.stdout


@pytest.mark.parametrize("mutant", MUTANTS, ids=[m.name for m in MUTANTS])
def test_the_emulator_catches_the_mutant(built, mutant):
    proc = _run(built[mutant.name], mutant.scenario, mutant.order)
    if not mutant.expect:  # a control that must run and be right
        assert proc.returncode == 0, proc.stderr[-3000:]
        return
    assert proc.returncode != 0, f"mutant '{mutant.name}' was not caught:\n{proc.stdout}"
    last = proc.stderr.strip().splitlines()[-1]
    assert "RuntimeError: [emu] " in last, proc.stderr
    assert re.search(mutant.expect, last), f"unexpected message:\n{last}"
    if mutant.names_thread:
        assert re.search(r"\[block \(\d+,\d+,\d+\), thread \(\d+,\d+,\d+\)\]", last), last
