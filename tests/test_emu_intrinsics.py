# tests/test_emu_intrinsics.py: the CUDA intrinsics of the emulator that minigan's own
# kernels use little or not at all, checked with small test kernels written here: every warp
# shuffle variant (idx, up, down with a width, xor) and their lane arithmetic against a model
# of PTX shfl.sync for every width, votes (ballot, any, all), a partial-mask shuffle,
# __syncwarp as a memory fence between lanes (full and partial masks, chained, a shared-memory
# warp reduction), warp operations whose mask names lanes that exited, atomics on shared and
# global memory (and plain accesses racing with them), 1- and 2-byte shared accesses, the
# thread order of repeated single-block launches, dynamic shared memory
# (MINIGAN_DYNAMIC_SHARED); and the errors: a shuffle reading a lane that exited or does not
# exist, a warp operation waiting for a lane at a barrier, threads at different barriers.
# The kernels are compiled with the emulated build's flags and run by minigan._C_emu's
# runtime (through tests/emu_cupy's toolchain).
"""Tests of the emulator's warp operations, atomics and dynamic shared memory."""

from __future__ import annotations

import numpy as np
import pytest
from emu_cupy import toolchain

pytestmark = [
    pytest.mark.emu,
    pytest.mark.skipif(bool(toolchain.unavailable_reason()), reason=toolchain.unavailable_reason()),
]

HEADER = """
#include "carray.cuh"  // minigan::launch_kernel, run_launch, MINIGAN_CUPY_ENTRY
"""


def entry(kernel: str, params: list[str]) -> str:
    """The extern "C" entry point that launches `kernel` with parameters of these types."""
    args = ",\n            ".join(
        f"*static_cast<{t} const*>(args[{k}])" for k, t in enumerate(params)
    )
    return f"""
MINIGAN_CUPY_ENTRY minigan_cupy_launch(void* const* args, unsigned grid, unsigned block,
                                       size_t smem, char* error, size_t error_size) {{
    return minigan_cupy::run_launch(error, error_size, [&] {{
        minigan::launch_kernel("test: {kernel}", {kernel}, dim3(grid), dim3(block), smem,
            nullptr, {args});
    }});
}}
"""


def ptr(a: np.ndarray) -> np.ndarray:
    return np.array([a.ctypes.data], dtype=np.uint64)


WARP_OPS = """
__global__ void warp_ops(float* out) {
    const int lane = threadIdx.x & 31;
    const float v = (float)threadIdx.x;
    float* o = out + threadIdx.x * 8;
    o[0] = __shfl_sync(0xffffffffu, v, 3);
    o[1] = __shfl_up_sync(0xffffffffu, v, 1);
    o[2] = __shfl_down_sync(0xffffffffu, v, 2, 16);
    o[3] = __shfl_xor_sync(0xffffffffu, v, 5);
    o[4] = (float)__popc(__ballot_sync(0xffffffffu, lane % 3 == 0));
    o[5] = (float)__any_sync(0xffffffffu, lane == 7);
    o[6] = (float)__all_sync(0xffffffffu, lane < 31);
    o[7] = lane < 16 ? __shfl_xor_sync(0x0000ffffu, v, 1) : -1.f;  // half the warp
}
"""


def expected_warp_ops(threads: int) -> np.ndarray:
    out = np.zeros((threads, 8), np.float32)
    for t in range(threads):
        base, lane = t - t % 32, t % 32
        seg = lane - lane % 16
        out[t, 0] = base + 3
        out[t, 1] = t - 1 if lane >= 1 else t
        out[t, 2] = t + 2 if lane + 2 < seg + 16 else t
        out[t, 3] = base + (lane ^ 5)
        out[t, 4] = len(range(0, 32, 3))
        out[t, 5] = 1.0
        out[t, 6] = 0.0
        out[t, 7] = base + (lane ^ 1) if lane < 16 else -1.0
    return out


def test_warp_shuffles_and_votes():
    kernel = toolchain.load(HEADER + WARP_OPS + entry("warp_ops", ["float*"]), "warp_ops")
    out = np.full(64 * 8, np.nan, np.float32)
    kernel.launch([ptr(out)], grid=1, block=64, smem=0, buffers=[(out.ctypes.data, out.nbytes)])
    np.testing.assert_array_equal(out.reshape(64, 8), expected_warp_ops(64))


ATOMICS = """
__global__ void atomics(float* out, int* counter) {
    MINIGAN_DYNAMIC_SHARED(float, buf);
    __shared__ int s_count;
    if (threadIdx.x == 0) s_count = 0;
    buf[threadIdx.x] = (float)threadIdx.x;
    __syncthreads();
    atomicAdd(&s_count, 1);
    atomicAdd(counter, 2);
    atomicAdd(out + blockDim.x, buf[blockDim.x - 1 - threadIdx.x]);
    __syncthreads();
    out[threadIdx.x] = buf[blockDim.x - 1 - threadIdx.x];
    if (threadIdx.x == 0) out[blockDim.x + 1] = (float)s_count;
}
"""


def test_atomics_and_dynamic_shared_memory():
    source = HEADER + ATOMICS + entry("atomics", ["float*", "int*"])
    kernel = toolchain.load(source, "atomics")
    n = 96
    out = np.zeros(n + 2, np.float32)
    counter = np.zeros(1, np.int32)
    buffers = [(out.ctypes.data, out.nbytes), (counter.ctypes.data, counter.nbytes)]
    kernel.launch([ptr(out), ptr(counter)], grid=3, block=n, smem=4 * n, buffers=buffers)
    np.testing.assert_array_equal(out[:n], np.arange(n)[::-1])
    assert out[n] == 3 * sum(range(n)), "global atomicAdd over 3 blocks"
    assert out[n + 1] == n, "shared atomicAdd within a block"
    assert counter[0] == 2 * 3 * n


def test_dynamic_shared_memory_is_bounded_by_the_request():
    kernel = toolchain.load(HEADER + ATOMICS + entry("atomics", ["float*", "int*"]), "atomics")
    n = 96
    out, counter = np.zeros(n + 2, np.float32), np.zeros(1, np.int32)
    buffers = [(out.ctypes.data, out.nbytes), (counter.ctypes.data, counter.nbytes)]
    with pytest.raises(RuntimeError, match="out-of-bounds dynamic shared-memory write"):
        kernel.launch([ptr(out), ptr(counter)], grid=1, block=n, smem=4 * n - 4, buffers=buffers)


EXCHANGE = """
__global__ void exchange(float* out, int use_syncwarp) {
    __shared__ float s[32];
    s[threadIdx.x] = 0.f;
    __syncthreads();
    s[threadIdx.x] = (float)threadIdx.x;
    if (use_syncwarp) __syncwarp();
    out[threadIdx.x] = s[(threadIdx.x + 1) & 31];
}
"""


def test_syncwarp_orders_shared_memory_between_lanes():
    kernel = toolchain.load(HEADER + EXCHANGE + entry("exchange", ["float*", "int"]), "exchange")
    out = np.full(32, np.nan, np.float32)
    buffers = [(out.ctypes.data, out.nbytes)]
    kernel.launch([ptr(out), np.array([1], np.int32)], 1, 32, 0, buffers)
    np.testing.assert_array_equal(out, (np.arange(32) + 1) % 32)
    with pytest.raises(RuntimeError, match=r"exchange: shared-memory race.*\[block \(0,0,0\)"):
        kernel.launch([ptr(out), np.array([0], np.int32)], 1, 32, 0, buffers)


EXITED_LANE = """
__global__ void exited_lane(float* out) {
    if (threadIdx.x == 5) return;
    out[threadIdx.x] = __shfl_down_sync(0xffffffffu, (float)threadIdx.x, 1);
}
"""

MISSING_LANE = """
__global__ void missing_lane(float* out) {
    out[threadIdx.x] = __shfl_down_sync(0xffffffffu, (float)threadIdx.x, 4);
}
"""

WARP_WAITS_FOR_BARRIER = """
__global__ void warp_waits_for_barrier(float* out) {
    if (threadIdx.x == 0) {
        __syncthreads();
    } else {
        __syncwarp();
    }
    out[threadIdx.x] = 1.f;
}
"""

DIFFERENT_WARP_OPS = """
__global__ void different_warp_ops(float* out) {
    if (threadIdx.x == 0) out[0] = __shfl_sync(0x3u, 1.f, 1);
    if (threadIdx.x == 1) out[1] = (float)__ballot_sync(0x3u, 1);
}
"""

DIFFERENT_BARRIERS = """
__global__ void different_barriers(float* out) {
    if (threadIdx.x < 32) {
        __syncthreads();
    } else {
        __syncthreads();
    }
    out[threadIdx.x] = 1.f;
}
"""


@pytest.mark.parametrize(
    "source, name, block, message",
    [
        (
            EXITED_LANE,  # lane 4 reads lane 5, which returned: undefined on the GPU
            "exited_lane",
            32,
            r"__shfl_down_sync .* lane 4 \(thread \(4,0,0\)\) reads lane 5 \(thread \(5,0,0\)\), "
            r"which has exited",
        ),
        (
            MISSING_LANE,  # warp 1 of a 40-thread block has lanes 0..7 only
            "missing_lane",
            40,
            r"__shfl_down_sync .* lane 4 \(thread \(36,0,0\)\) reads lane 8, which does not exist",
        ),
        (
            WARP_WAITS_FOR_BARRIER,
            "warp_waits_for_barrier",
            32,
            r"deadlock: thread \(1,0,0\) waits at __syncwarp .* mask 0xffffffff while thread "
            r"\(0,0,0\), a lane of that mask, waits at __syncthreads\(\)",
        ),
        (
            DIFFERENT_WARP_OPS,
            "different_warp_ops",
            32,
            r"lanes of warp 0 wait for each other at different warp operations: lane 0 at "
            r"__shfl_sync mask 0x00000003 .*, lane 1 at __ballot_sync mask 0x00000003",
        ),
        (DIFFERENT_BARRIERS, "different_barriers", 64, r"barrier divergence: .* a different one"),
    ],
)
def test_warp_and_barrier_misuse_is_reported(source, name, block, message):
    kernel = toolchain.load(HEADER + source + entry(name, ["float*"]), name)
    out = np.zeros(block, np.float32)
    with pytest.raises(RuntimeError, match=message):
        kernel.launch([ptr(out)], 1, block, 0, [(out.ctypes.data, out.nbytes)])


# ----- shuffle lane arithmetic: PTX shfl.sync -----------------------------------------------
SHUFFLE_ARGS = [0, 1, 2, 3, 5, 7, 8, 9, 15, 16, 17, 24, 31, 32, 33, 45, -1, -6]
WIDTHS = [1, 2, 4, 8, 16, 32]
SHUFFLE_MODES = ["idx", "up", "down", "xor"]

SHUFFLE_LANES = """
__global__ void shuffle_lanes(int* out) {
    const int args[] = {ARGS};
    const int lane = threadIdx.x;
    int k = 0;
    for (int w = 1; w <= 32; w *= 2) {
        for (int i = 0; i < (int)(sizeof args / sizeof args[0]); ++i, ++k) {
            const int b = args[i];
            int* o = out + k * 4 * 32 + lane;
            o[0] = __shfl_sync(0xffffffffu, lane, b, w);
            o[32] = __shfl_up_sync(0xffffffffu, lane, b, w);
            o[64] = __shfl_down_sync(0xffffffffu, lane, b, w);
            o[96] = __shfl_xor_sync(0xffffffffu, lane, b, w);
        }
    }
}
""".replace("ARGS", ", ".join(map(str, SHUFFLE_ARGS)))


def ptx_shuffle_source(mode: str, lane: int, arg: int, width: int) -> int:
    """The lane whose value `lane` gets, as the PTX ISA defines shfl.sync: b = the argument's
    low 5 bits; CUDA passes c = ((32 - width) << 8) | (0 for up, 31 otherwise)."""
    b = arg & 31
    seg_mask = (32 - width) & 31  # c[12:8] = ~(width - 1) & 31
    min_lane = lane & seg_mask
    max_lane = min_lane | (~seg_mask & 31)
    if mode == "idx":
        j = min_lane | (b & ~seg_mask & 31)
        return j
    if mode == "up":
        j = lane - b
        return j if j >= min_lane else lane
    j = lane + b if mode == "down" else lane ^ b
    return j if j <= max_lane else lane


def test_shuffle_model_is_cudas_documented_behaviour():
    """The model agrees with the CUDA programming guide where the guide defines the result
    (argument below the width): lanes move within their segment of `width` lanes."""
    for width in WIDTHS:
        for lane in range(32):
            seg = lane - lane % width
            for b in range(width):
                assert ptx_shuffle_source("idx", lane, b, width) == seg + b
                assert ptx_shuffle_source("up", lane, b, width) == (
                    lane - b if lane % width >= b else lane
                )
                assert ptx_shuffle_source("down", lane, b, width) == (
                    lane + b if lane % width + b < width else lane
                )
                assert ptx_shuffle_source("xor", lane, b, width) == lane ^ b
    # beyond the guide: a butterfly may reach into an earlier segment, never a later one
    assert ptx_shuffle_source("xor", 9, 8, 8) == 1
    assert ptx_shuffle_source("xor", 9, 16, 8) == 9
    assert ptx_shuffle_source("idx", 9, 35, 8) == 8 + 3  # low 5 bits, then within the segment


def test_shuffle_lane_arithmetic_matches_ptx_for_every_width():
    kernel = toolchain.load(
        HEADER + SHUFFLE_LANES + entry("shuffle_lanes", ["int*"]), "shuffle_lanes"
    )
    shape = (len(WIDTHS), len(SHUFFLE_ARGS), len(SHUFFLE_MODES), 32)
    out = np.full(shape, -1, np.int32)
    kernel.launch([ptr(out)], 1, 32, 0, [(out.ctypes.data, out.nbytes)])
    expected = np.array(
        [
            [
                [[ptx_shuffle_source(m, lane, b, w) for lane in range(32)] for m in SHUFFLE_MODES]
                for b in SHUFFLE_ARGS
            ]
            for w in WIDTHS
        ],
        np.int32,
    )
    for wi, w in enumerate(WIDTHS):
        for bi, b in enumerate(SHUFFLE_ARGS):
            for mi, m in enumerate(SHUFFLE_MODES):
                np.testing.assert_array_equal(
                    out[wi, bi, mi], expected[wi, bi, mi], err_msg=f"{m} width {w} arg {b}"
                )


# ----- exited lanes: the mask's non-exited lanes take part -----------------------------------
EXITED_VOTES = """
__global__ void exited_votes(unsigned* out) {
    __shared__ float s[64];
    const int lane = threadIdx.x & 31, base = threadIdx.x - lane;
    const int lanes = min(32, (int)blockDim.x - base);
    if (lane % 4 == 1) return;  // lanes 1, 5, 9, ... leave early
    s[threadIdx.x] = (float)threadIdx.x;
    __syncwarp();  // names the exited lanes (and, in warp 1, lanes past the block's end)
    unsigned* o = out + threadIdx.x * 6;
    o[0] = __ballot_sync(0xffffffffu, 1);
    o[1] = __any_sync(0xffffffffu, threadIdx.x == 2);
    o[2] = __all_sync(0xffffffffu, lane % 4 != 1);
    o[3] = __all_sync(0xffffffffu, lane != 3);
    o[4] = (unsigned)__shfl_sync(0xffffffffu, (int)threadIdx.x, 0);
    o[5] = (unsigned)s[base + (lane + 4) % lanes];  // another live lane's, ordered by __syncwarp
}
"""


@pytest.mark.parametrize("order", ["forward", "reverse", "shuffle"])
def test_warp_operations_complete_among_the_lanes_that_did_not_exit(order):
    emu = toolchain.runtime()[0]
    kernel = toolchain.load(
        HEADER + EXITED_VOTES + entry("exited_votes", ["unsigned*"]), "exited_votes"
    )
    n = 40
    out = np.full((n, 6), 0xAAAAAAAA, np.uint32)
    emu.emu_set_thread_order(order)
    try:
        kernel.launch([ptr(out)], 1, n, 0, [(out.ctypes.data, out.nbytes)])
    finally:
        emu.emu_set_thread_order("mixed")
    for t in range(n):
        lane, base = t % 32, t - t % 32
        lanes = min(32, n - base)
        if lane % 4 == 1:
            assert (out[t] == 0xAAAAAAAA).all(), f"thread {t} exited"
            continue
        ballot = sum(1 << k for k in range(lanes) if k % 4 != 1)
        expected = [ballot, int(base == 0), 1, 0, base, base + (lane + 4) % lanes]
        assert out[t].tolist() == expected, f"thread {t}"


# ----- __syncwarp(mask) orders memory among the mask's lanes ----------------------------------
HALF_WARPS = """
__global__ void half_warps(float* out, int partner) {
    __shared__ float s[32];
    const int lane = threadIdx.x;
    s[lane] = (float)lane;
    __syncwarp(lane < 16 ? 0x0000ffffu : 0xffff0000u);
    out[lane] = s[lane ^ partner];
}
"""

CHAIN = """
__global__ void chain(float* out, int broken) {
    __shared__ float s[1];
    const int lane = threadIdx.x;  // 3 threads: lane 0 writes, lane 2 reads
    if (lane == 0) s[0] = 42.f;
    if (broken) {
        if (lane >= 1) __syncwarp(0x6u);
        if (lane <= 1) __syncwarp(0x3u);
    } else {
        if (lane <= 1) __syncwarp(0x3u);  // lane 0 -> lane 1
        if (lane >= 1) __syncwarp(0x6u);  // lane 1 -> lane 2
    }
    if (lane == 2) out[0] = s[0];
}
"""


@pytest.mark.parametrize("order", ["forward", "reverse", "shuffle"])
def test_partial_mask_syncwarp_orders_its_lanes_only(order):
    emu = toolchain.runtime()[0]
    halves = toolchain.load(
        HEADER + HALF_WARPS + entry("half_warps", ["float*", "int"]), "half_warps"
    )
    chain = toolchain.load(HEADER + CHAIN + entry("chain", ["float*", "int"]), "chain")
    out = np.full(32, np.nan, np.float32)
    buffers = [(out.ctypes.data, out.nbytes)]
    emu.emu_set_thread_order(order)
    try:
        halves.launch([ptr(out), np.array([1], np.int32)], 1, 32, 0, buffers)
        np.testing.assert_array_equal(out, np.arange(32) ^ 1)
        other_half = r"half_warps: shared-memory race: a read .* nor a __syncwarp\(\) that both"
        with pytest.raises(RuntimeError, match=other_half):
            halves.launch([ptr(out), np.array([16], np.int32)], 1, 32, 0, buffers)
        chain.launch([ptr(out), np.array([0], np.int32)], 1, 3, 0, buffers)
        assert out[0] == 42.0, "ordered through lane 1's two __syncwarp()s"
        unordered = r"chain: shared-memory race: a read .* write by thread \(0,0,0\)"
        with pytest.raises(RuntimeError, match=unordered):
            chain.launch([ptr(out), np.array([1], np.int32)], 1, 3, 0, buffers)
    finally:
        emu.emu_set_thread_order("mixed")


WARP_REDUCE = """
__global__ void warp_reduce(float* out, int use_syncwarp) {
    __shared__ float s[64];
    const int t = threadIdx.x;  // one warp
    s[t] = (float)(t + 1);
    s[t + 32] = 0.f;
    __syncthreads();
    float v = s[t];
    for (int offset = 16; offset > 0; offset >>= 1) {
        v += s[t + offset];             // read by this lane and by lane t - offset's partner
        if (use_syncwarp) __syncwarp();
        s[t] = v;                       // written after every reader of the step
        if (use_syncwarp) __syncwarp();
    }
    if (t == 0) out[0] = v;
}
"""


@pytest.mark.parametrize("order", ["forward", "reverse", "shuffle"])
def test_shared_memory_warp_reduction_needs_syncwarp_between_steps(order):
    emu = toolchain.runtime()[0]
    kernel = toolchain.load(
        HEADER + WARP_REDUCE + entry("warp_reduce", ["float*", "int"]), "warp_reduce"
    )
    out = np.full(1, np.nan, np.float32)
    buffers = [(out.ctypes.data, out.nbytes)]
    emu.emu_set_thread_order(order)
    try:
        kernel.launch([ptr(out), np.array([1], np.int32)], 1, 32, 0, buffers)
        assert out[0] == sum(range(1, 33))
        with pytest.raises(RuntimeError, match=r"warp_reduce: shared-memory race"):
            kernel.launch([ptr(out), np.array([0], np.int32)], 1, 32, 0, buffers)
    finally:
        emu.emu_set_thread_order("mixed")


# ----- atomics against plain accesses -------------------------------------------------------
ATOMIC_THEN_PLAIN = """
__global__ void atomic_then_plain(int* out, int mode) {
    __shared__ int s;
    if (threadIdx.x == 0) s = 0;
    __syncthreads();
    atomicAdd(&s, 1);
    if (mode == 2) __syncwarp();  // orders the warp's atomics before lane 0's read
    if (threadIdx.x == 0) {
        if (mode == 1) {
            s = 7;  // a plain write
        } else {
            out[0] = s;  // a plain read
        }
    }
    __syncthreads();
    if (threadIdx.x == 0) out[1] = s;
}
"""


@pytest.mark.parametrize("order", ["forward", "reverse", "shuffle"])
@pytest.mark.parametrize(
    "mode, block, message",
    [
        (0, 32, r"shared-memory race: (a read .* atomic write by|an atomic write .* a read by)"),
        (1, 32, r"shared-memory race: (a write .* atomic write by|an atomic write .* a write by)"),
        (0, 64, r"shared-memory race: (a read .* atomic write|an atomic write .* a read by)"),
        (2, 64, r"shared-memory race: (a read .* atomic write|an atomic write .* a read by)"),
        (2, 32, None),  # one warp, ordered by __syncwarp(): no race
    ],
)
def test_plain_access_after_atomics_of_other_threads_is_a_race(order, mode, block, message):
    emu = toolchain.runtime()[0]
    source = HEADER + ATOMIC_THEN_PLAIN + entry("atomic_then_plain", ["int*", "int"])
    kernel = toolchain.load(source, "atomic_then_plain")
    out = np.full(2, -1, np.int32)
    buffers = [(out.ctypes.data, out.nbytes)]
    emu.emu_set_thread_order(order)
    try:
        if message is None:
            kernel.launch([ptr(out), np.array([mode], np.int32)], 1, block, 0, buffers)
            assert out.tolist() == [block, block]
        else:
            with pytest.raises(RuntimeError, match=message):
                kernel.launch([ptr(out), np.array([mode], np.int32)], 1, block, 0, buffers)
    finally:
        emu.emu_set_thread_order("mixed")


# ----- 1- and 2-byte shared accesses ----------------------------------------------------------
BYTES = """
__global__ void bytes(unsigned* out, int divide) {
    __shared__ __align__(4) unsigned char f[32];
    __shared__ unsigned short h[32];
    const int t = threadIdx.x;
    f[t / divide] = (unsigned char)(3 * t);   // divide = 1: one byte per thread
    h[t / divide] = (unsigned short)(1000 + t);
    out[96 + t] = f[t / divide];              // its own byte, in the same interval
    __syncthreads();
    out[t] = f[31 - t];
    out[32 + t] = h[31 - t];
    out[64 + t] = reinterpret_cast<const unsigned*>(f)[t / 4];  // whole words of 4 writers
}
"""


def test_threads_writing_different_bytes_of_a_word_do_not_race():
    kernel = toolchain.load(HEADER + BYTES + entry("bytes", ["unsigned*", "int"]), "bytes")
    out = np.zeros(128, np.uint32)
    buffers = [(out.ctypes.data, out.nbytes)]
    kernel.launch([ptr(out), np.array([1], np.int32)], 1, 32, 0, buffers)
    t = np.arange(32)
    f = (3 * t).astype(np.uint8)
    np.testing.assert_array_equal(out[:32], f[::-1])
    np.testing.assert_array_equal(out[32:64], 1000 + t[::-1])
    np.testing.assert_array_equal(out[64:96], f.view("<u4")[t // 4])
    np.testing.assert_array_equal(out[96:], f)
    with pytest.raises(RuntimeError, match=r"bytes: shared-memory race: a write .* a write by"):
        kernel.launch([ptr(out), np.array([2], np.int32)], 1, 32, 0, buffers)


# ----- thread order of single-block launches --------------------------------------------------
TICKETS = """
__global__ void tickets(int* out, int* counter) {
    out[threadIdx.x] = atomicAdd(counter, 1);
}
"""


def test_mixed_order_varies_between_launches_of_one_block():
    emu = toolchain.runtime()[0]
    kernel = toolchain.load(HEADER + TICKETS + entry("tickets", ["int*", "int*"]), "tickets")
    emu.emu_set_thread_order("mixed")
    n = 64
    kinds = []
    for _ in range(3):
        out, counter = np.full(n, -1, np.int32), np.zeros(1, np.int32)
        buffers = [(out.ctypes.data, out.nbytes), (counter.ctypes.data, counter.nbytes)]
        kernel.launch([ptr(out), ptr(counter)], 1, n, 0, buffers)
        assert sorted(out.tolist()) == list(range(n))
        if (out == np.arange(n)).all():
            kinds.append("forward")
        elif (out == np.arange(n)[::-1]).all():
            kinds.append("reverse")
        else:
            kinds.append("shuffle")
    assert sorted(kinds) == ["forward", "reverse", "shuffle"], kinds
