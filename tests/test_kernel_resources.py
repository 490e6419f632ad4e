# tools/kernel_resources.py without nvcc: the ptxas / PTX / launch-site parsers on captured
# output, the occupancy math on hand-computed cases, the spill gate (CLI exit status on a
# planted spill), the README section replacement, and the committed tables in the repo.
from __future__ import annotations

import importlib.util
import json
import re
import sys
from pathlib import Path
from types import ModuleType

import pytest

ROOT = Path(__file__).resolve().parents[1]
SCRIPT = ROOT / "tools" / "kernel_resources.py"


def _load() -> ModuleType:
    spec = importlib.util.spec_from_file_location("kernel_resources", SCRIPT)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # dataclasses look their module up
    spec.loader.exec_module(module)
    return module


kr = _load()

# ptxas -v output of CUDA 13 (sm_90 prints no cmem) and of an sm_80 build with cmem, a
# spilling kernel, and the "Function properties" block of a non-inlined device function.
GEMM = (
    "_ZN7minigan39_GLOBAL__N__b41cabec_7_gemm_cu_47a3b5b2"
    "16gemm_v3_regblockILb0ELb1EEEvNS0_10GemmParamsE"
)
BCE = "_ZN7minigan47_GLOBAL__N__58c48fb8_14_sigmoid_bce_cu_ccfa50ed12bce_finalizeEPKfiPfif"
INFO = "ptxas info    : "
PTXAS_SAMPLE = "\n".join(
    [
        f"{INFO}0 bytes gmem",
        f"{INFO}Function properties for _Z6helperf",
        "    24 bytes stack frame, 8 bytes spill stores, 8 bytes spill loads",
        f"{INFO}Compiling entry function '{GEMM}' for 'sm_90'",
        f"{INFO}Function properties for {GEMM}",
        "    16 bytes stack frame, 20 bytes spill stores, 16 bytes spill loads",
        f"{INFO}Used 128 registers, used 1 barriers, 16 bytes cumulative stack size, "
        "16896 bytes smem",
        f"{INFO}Compile time = 871.893 ms",
        f"{INFO}Compiling entry function '{BCE}' for 'sm_80'",
        f"{INFO}Function properties for _Z6helperf",
        "    24 bytes stack frame, 8 bytes spill stores, 8 bytes spill loads",
        f"{INFO}Function properties for {BCE}",
        "    0 bytes stack frame, 0 bytes spill stores, 0 bytes spill loads",
        f"{INFO}Used 14 registers, used 1 barriers, 128 bytes smem, 384 bytes cmem[0], "
        "8 bytes cmem[2]",
        f"{INFO}Compiling entry function '_Z3oldPf' for 'sm_70'",
        f"{INFO}Function properties for _Z3oldPf",
        "    0 bytes stack frame, 0 bytes spill stores, 0 bytes spill loads",
        f"{INFO}Used 10 registers, 352 bytes cmem[0]",
    ]
)

PTX_SAMPLE = f"""\
.visible .entry {GEMM}(
\t.param .align 8 .b8 {GEMM}_param_0[152]
)
.maxntid 256, 1, 1
.minnctapersm 2
{{
\t.reg .pred \t%p<5>;
}}
.visible .entry {BCE}(
\t.param .u64 {BCE}_param_0
)
{{
\tret;
}}
.visible .entry _Z4tile(
)
.maxntid 16, 8, 1
{{
}}
"""


def test_parse_ptxas_output() -> None:
    gemm, bce, old = kr.parse_ptxas_output(PTXAS_SAMPLE)
    assert (gemm.mangled, gemm.arch) == (GEMM, "sm_90")
    assert (gemm.registers, gemm.spill_stores, gemm.spill_loads) == (128, 20, 16)
    assert (gemm.stack_frame, gemm.smem, gemm.barriers, gemm.cmem) == (16, 16896, 1, {})
    # the helper's spills (a callee reported inside bce's block) are not bce's
    assert (bce.arch, bce.registers, bce.spill_stores, bce.spill_loads) == ("sm_80", 14, 0, 0)
    assert (bce.smem, bce.cmem) == (128, {"0": 384, "2": 8})
    assert (old.registers, old.smem, old.barriers, old.cmem) == (10, 0, None, {"0": 352})


def test_parse_ptx_launch_bounds() -> None:
    bounds = kr.parse_ptx_launch_bounds(PTX_SAMPLE)
    assert (bounds[GEMM].max_threads, bounds[GEMM].min_blocks) == (256, 2)
    assert (bounds[BCE].max_threads, bounds[BCE].min_blocks) == (None, None)
    assert bounds["_Z4tile"].max_threads == 128


@pytest.mark.parametrize(
    ("demangled", "name"),
    [
        (
            "void minigan::(anonymous namespace)::gemm_v3_regblock<false, true>"
            "(minigan::(anonymous namespace)::GemmParams)",
            "gemm_v3_regblock<false, true>",
        ),
        (
            "minigan::(anonymous namespace)::adam_v2(unsigned long const*, int, int, "
            "minigan::(anonymous namespace)::AdamConsts)",
            "adam_v2",
        ),
        ("void ns::k<ns::Foo<1, 2>, (ns::Mode)0>(float*)", "k<ns::Foo<1, 2>, (ns::Mode)0>"),
        ("plain(int)", "plain"),
        ("_Z6mangledv", "_Z6mangledv"),
    ],
)
def test_readable_name(demangled: str, name: str) -> None:
    assert kr.readable_name(demangled) == name


@pytest.mark.parametrize(
    ("threads", "regs", "smem", "blocks", "warps", "limiter"),
    [
        (256, 128, 0, 2, 16, "registers"),  # 4096 regs/warp: 16 warps per SM
        (256, 126, 16896, 2, 16, "registers"),  # 126 * 32 rounds up to 4096 too
        (256, 40, 2176, 6, 48, "registers"),  # 1280 regs/warp: 51 -> 48 warps (granule 4)
        (256, 32, 0, 8, 64, "none"),  # full occupancy
        (128, 16, 48 * 1024, 4, 16, "shared memory"),  # (48 KiB + 1 KiB) per block
        (32, 16, 0, 32, 32, "blocks"),  # 32 one-warp blocks
        (768, 16, 0, 2, 48, "threads"),  # 24 warps per block: 2 fit in 64
        (256, 255, 0, 1, 8, "registers"),  # 8192 regs/warp: one 8-warp block
        (1024, 128, 0, 0, 0, "registers"),  # 128 K registers per block: cannot launch
    ],
)
def test_occupancy_sm90(
    threads: int, regs: int, smem: int, blocks: int, warps: int, limiter: str
) -> None:
    occ = kr.occupancy(threads, regs, smem, kr.SM_LIMITS["sm_90"])
    assert (occ["blocks_per_sm"], occ["active_warps"], occ["limiter"]) == (blocks, warps, limiter)
    assert occ["occupancy"] == pytest.approx(warps / 64)


def test_occupancy_256_threads_128_regs_is_25_percent() -> None:
    assert kr.occupancy(256, 128, 0)["occupancy"] == 0.25  # sm_90 is the default


def test_occupancy_other_limits_and_archs() -> None:
    # 128 threads, 64 regs: registers allow 8 blocks = 32 warps; sm_80's 164 KiB hold
    # floor(167936 / (40 KiB + 1 KiB)) = 4 blocks = 16 warps.
    assert kr.occupancy(128, 64, 0)["limiter"] == "registers"
    a100 = kr.occupancy(128, 64, 40 * 1024, kr.SM_LIMITS["sm_80"])
    assert (a100["blocks_per_sm"], a100["limiter"]) == (4, "shared memory")
    # 512 threads, 64 regs: 2 blocks by registers and 4 by threads; sm_86 has 48 warps
    occ = kr.occupancy(512, 64, 0, kr.SM_LIMITS["sm_86"])
    assert (occ["blocks_per_sm"], occ["limiter"]) == (2, "registers")
    assert occ["occupancy"] == pytest.approx(32 / 48)
    big = kr.occupancy(512, 40, 0)  # regs: 48 warps -> 3 blocks; threads: 4 blocks
    assert (big["blocks_per_sm"], big["limiter"]) == (3, "registers")


def _record(kernel: str, arch: str, stores: int, loads: int) -> dict:
    return {
        "kernel": kernel,
        "source": "csrc/gemm.cu",
        "arch": arch,
        "registers": 128,
        "spill_stores": stores,
        "spill_loads": loads,
        "stack_frame": 16 if stores else 0,
        "smem": 16896,
        "cmem": {},
        "barriers": 1,
        "max_threads": 256,
        "min_blocks": 2,
        "threads_per_block": 256,
        "threads_source": "launch bounds",
        "occupancy": kr.occupancy(256, 128, 16896),
        "mangled": "_Z1kv",
    }


def _fake_report(records: list[dict]) -> dict:
    return {
        "version": 1,
        "date": "2026-01-02",
        "nvcc": "V13.0.88",
        "archs": ["sm_80", "sm_90"],
        "flags": kr.NVCC_FLAGS,
        "sources": ["csrc/gemm.cu"],
        "seconds": 1.0,
        "kernels": records,
        "warnings": [],
    }


BUDGET = {
    "default_spill_bytes": 0,
    "kernels": {"gemm_v3_regblock<false, true>": {"sm_90": 36, "reason": "cap of 128 regs"}},
}


def _run_gate(tmp_path: Path, records: list[dict], budget: dict) -> int:
    report, budget_path = tmp_path / "report.json", tmp_path / "budget.json"
    report.write_text(json.dumps(_fake_report(records)))
    budget_path.write_text(json.dumps(budget))
    return kr.main(["--from-json", str(report), "--check-budget", str(budget_path)])


def test_gate_fails_on_a_planted_spill(tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    records = [
        _record("gemm_v3_regblock<false, true>", "sm_90", 20, 16),  # 36: within its budget
        _record("gemm_v3_regblock<true, true>", "sm_90", 8, 4),  # planted: default 0
    ]
    assert _run_gate(tmp_path, records, BUDGET) == 1
    err = capsys.readouterr().err
    assert "OVER BUDGET: gemm_v3_regblock<true, true> (csrc/gemm.cu) on sm_90 spills 12" in err
    assert "8 bytes spill stores + 4 bytes spill loads" in err and "budget 0" in err
    assert "gemm_v3_regblock<false, true>" not in err.split("OVER BUDGET")[1]


def test_gate_fails_over_an_override(tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    records = [_record("gemm_v3_regblock<false, true>", "sm_90", 24, 16)]
    assert _run_gate(tmp_path, records, BUDGET) == 1
    assert "on sm_90 spills 40 bytes" in capsys.readouterr().err
    # the per-arch override does not extend to sm_80
    records = [_record("gemm_v3_regblock<false, true>", "sm_80", 4, 0)]
    assert _run_gate(tmp_path, records, BUDGET) == 1


def test_gate_passes_within_budget(tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    records = [
        _record("gemm_v3_regblock<false, true>", "sm_90", 20, 16),
        _record("gemm_v3_regblock<false, true>", "sm_80", 0, 0),
        _record("bce_finalize", "sm_90", 0, 0),
    ]
    budget = {**BUDGET, "kernels": {**BUDGET["kernels"], "gone_kernel": 8}}
    assert _run_gate(tmp_path, records, budget) == 0
    err = capsys.readouterr().err
    assert "'gone_kernel' names no compiled kernel (stale" in err  # a note, not a failure
    assert "spills within" in err


def test_gate_rejects_a_malformed_budget(tmp_path: Path) -> None:
    records = [_record("bce_finalize", "sm_90", 0, 0)]
    assert _run_gate(tmp_path, records, {"kernels": {"bce_finalize": {"90": 4}}}) == 2
    assert _run_gate(tmp_path, records, {"kernels": {"bce_finalize": "4"}}) == 2


def test_committed_budget_is_valid() -> None:
    budget = json.loads((ROOT / "csrc" / "resource_budget.json").read_text())
    kr.validate_budget(budget)
    assert budget["default_spill_bytes"] == 0


def test_markdown_table(tmp_path: Path) -> None:
    report = _fake_report([_record("gemm_v3_regblock<false, true>", "sm_90", 20, 16)])
    table = kr.render_table(report)
    assert table.splitlines()[0].startswith("| kernel | arch | regs | spill st/ld (bytes) |")
    row = table.splitlines()[2]
    assert "| `gemm_v3_regblock<false, true>` | sm_90 | 128 | **20 / 16** | 16896 | 16 |" in row
    assert "256 (bounds 256, min 2 blocks) | 25% (16 warps) | registers |" in row
    out = tmp_path / "t.md"
    src = tmp_path / "r.json"
    src.write_text(json.dumps(report))
    assert kr.main(["--from-json", str(src), "--markdown", str(out)]) == 0
    assert out.read_text() == table


def test_readme_section_replacement_is_idempotent(tmp_path: Path) -> None:
    report = _fake_report([_record("bce_finalize", "sm_90", 0, 0)])
    section = kr.render_section(report)
    original = "# Benchmarks\n\nSome text.\n"
    once = kr.replace_section(original, section)
    assert once.startswith(original)
    assert once.count(kr.BEGIN_MARKER) == 1 and once.count(kr.END_MARKER) == 1
    assert "nvcc V13.0.88" in once and "2026-01-02" in once and "sm_80, sm_90" in once
    assert kr.replace_section(once, section) == once
    # a new report replaces the old section in place, keeping the text around it
    later = kr.replace_section(once + "\nAfter.\n", section.replace("2026-01-02", "2026-02-03"))
    assert "2026-01-02" not in later and "2026-02-03" in later and later.endswith("\nAfter.\n")
    with pytest.raises(ValueError):
        kr.replace_section(f"text\n{kr.BEGIN_MARKER}\n", section)
    # through the CLI: a second --update-readme leaves the file unchanged
    readme, src = tmp_path / "README.md", tmp_path / "r.json"
    readme.write_text(original)
    src.write_text(json.dumps(report))
    kr.main(["--from-json", str(src), "--update-readme", str(readme)])
    first = readme.read_text()
    kr.main(["--from-json", str(src), "--update-readme", str(readme)])
    assert readme.read_text() == first == once


def test_cuda_archs_parse_like_setup_py() -> None:
    assert kr.cuda_archs({}) == ["80", "90"]
    assert kr.cuda_archs({"MINIGAN_CUDA_ARCHS": " 75, 90 ,"}) == ["75", "90"]
    with pytest.raises(SystemExit):
        kr.cuda_archs({"MINIGAN_CUDA_ARCHS": "sm_90"})


def test_launch_threads_table_matches_the_launch_sites() -> None:
    """LAUNCH_THREADS agrees with the launch_kernel(...) calls in csrc/*.cu, and every
    launch site's block size is a constant the scanner can read."""
    sites = kr.scan_launch_sites(ROOT / "csrc")
    assert sites, "no launch_kernel(...) calls found in csrc/*.cu"
    for s in sites:
        assert s.threads is not None, f"{s.file}:{s.line}: cannot read block {s.block!r}"
        assert s.smem == "0", f"{s.file}:{s.line}: dynamic shared memory is not modelled"
        if s.kernel in kr.LAUNCH_THREADS:
            assert s.threads == kr.LAUNCH_THREADS[s.kernel], f"{s.file}:{s.line}"
    launched = {s.kernel for s in sites}
    assert set(kr.LAUNCH_THREADS) <= launched, set(kr.LAUNCH_THREADS) - launched


def test_kernel_records_threads_and_cross_checks() -> None:
    """Threads per block: LAUNCH_THREADS, else .maxntid, else the launch site (warned);
    launch sites that disagree are warned about once, not once per arch."""
    entries = kr.parse_ptxas_output(PTXAS_SAMPLE)[:2]  # gemm (sm_90), bce (sm_80)
    entries.append(kr.PtxasEntry(mangled="_Z4tile", arch="sm_90", registers=32))
    entries.append(kr.PtxasEntry(mangled="_Z4tile", arch="sm_80", registers=32))
    bounds = kr.parse_ptx_launch_bounds(PTX_SAMPLE)
    result = kr.CompileResult("csrc/x.cu", "90", entries, bounds)
    names = {
        GEMM: "void minigan::(anonymous namespace)::gemm_v3_regblock<false, true>(P)",
        BCE: "minigan::(anonymous namespace)::bce_finalize(float const*, int, float*, int, float)",
        "_Z4tile": "tile()",
    }
    sites = [
        kr.LaunchSite("csrc/gemm.cu", 1, "gemm_v3_regblock", "NT3", 256, "0"),
        kr.LaunchSite("csrc/x.cu", 2, "bce_finalize", "64", 64, "0"),
        kr.LaunchSite("csrc/x.cu", 3, "tile", "dim3(8, 8)", 64, "0"),
    ]
    records, warnings = kr.kernel_records([result], names, sites)
    by = {(r["kernel"], r["arch"]): r for r in records}
    gemm = by["gemm_v3_regblock<false, true>", "sm_90"]
    assert (gemm["threads_per_block"], gemm["threads_source"]) == (256, "launch bounds")
    assert gemm["occupancy"]["active_warps"] == 16 and gemm["spill_stores"] == 20
    bce = by["bce_finalize", "sm_80"]  # no bounds in the sample and not in the table
    assert (bce["threads_per_block"], bce["threads_source"]) == (64, "launch site")
    tile = by["tile", "sm_90"]  # .maxntid 16 x 8 x 1 but launched with 8 x 8
    assert (tile["threads_per_block"], tile["max_threads"]) == (128, 128)
    assert (
        warnings.count(
            "tile: launch sites use [64] threads per block, the report assumes 128 (launch bounds)"
        )
        == 1
    )


def test_no_nvcc_is_a_clear_error(monkeypatch: pytest.MonkeyPatch, capsys) -> None:
    monkeypatch.setattr(kr, "find_nvcc", lambda: None)
    assert kr.main(["--check-budget", "csrc/resource_budget.json"]) == 2
    assert "nvcc not found" in capsys.readouterr().err


# ----- launch names are kernel names ------------------------------------------------------------
#
# The emulator finds a kernel's ptxas figures (static shared memory, __launch_bounds__,
# registers) by the last part of its launch name ("family: kernel<args>"), so every launch
# site must name the kernel it launches, with the template arguments when they are literal.

_LAUNCH = re.compile(r"launch_kernel\(\s*(.*?),\s*([A-Za-z_]\w*(?:<[^<>]*>)?)\s*,", re.S)


def _launch_sites() -> list[tuple[str, str, str]]:
    """(file:line, kernel name from the launch name, kernel argument) of every launch."""
    sites = []
    for path in sorted((ROOT / "csrc").glob("*.cu")):
        text = path.read_text()
        for m in _LAUNCH.finditer(text):
            name_arg, kernel_arg = m.group(1), m.group(2)
            literals = re.findall(r'"[\w ]*: ([\w<>, ]+)"', name_arg)
            if not literals:  # a variable: the literal it was built from, just before
                literals = re.findall(
                    r'": ([\w<>, ]+)"', text[max(0, m.start() - 1500) : m.start()]
                )
            line = text.count("\n", 0, m.start()) + 1
            assert literals, f"{path.name}:{line}: cannot read the launch name {name_arg!r}"
            sites.append((f"{path.name}:{line}", literals[-1], kernel_arg))
    return sites


def test_every_launch_name_is_the_launched_kernels_name():
    sites = _launch_sites()
    assert len(sites) >= 15, sites  # every kernel family launches through launch_kernel
    for where, named, kernel in sites:
        assert named.split("<")[0] == kernel.split("<")[0], f"{where}: {named!r} launches {kernel}"
        literal_args = re.fullmatch(r"\w+<((?:true|false|\d+)(?:, (?:true|false|\d+))*)>", kernel)
        if literal_args:
            assert named == kernel, f"{where}: name the instantiation: {named!r} vs {kernel!r}"
