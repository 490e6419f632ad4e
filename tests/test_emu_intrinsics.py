# tests/test_emu_intrinsics.py: the CUDA intrinsics of the emulator that minigan's own
# kernels use little or not at all, checked with small test kernels written here: every warp
# shuffle variant (idx, up, down with a width, xor), votes (ballot, any, all), a partial-mask
# shuffle, __syncwarp as a memory fence between lanes, atomics on shared and global memory,
# dynamic shared memory (MINIGAN_DYNAMIC_SHARED); and the errors: a lane that exited named in
# a mask, threads at different barriers. The kernels are compiled with the emulated build's
# flags and run by minigan._C_emu's runtime (through tests/emu_cupy's toolchain).
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
            EXITED_LANE,
            "exited_lane",
            32,
            r"__shfl_down_sync .* lane 5 \(thread \(5,0,0\)\) has exited",
        ),
        (DIFFERENT_BARRIERS, "different_barriers", 64, r"barrier divergence: .* a different one"),
    ],
)
def test_warp_and_barrier_misuse_is_reported(source, name, block, message):
    kernel = toolchain.load(HEADER + source + entry(name, ["float*"]), name)
    out = np.zeros(block, np.float32)
    with pytest.raises(RuntimeError, match=message):
        kernel.launch([ptr(out)], 1, block, 0, [(out.ctypes.data, out.nbytes)])
