// csrc/common.cuh: what every kernel file shares. Error checking that turns a CUDA error
// into a C++ exception naming the kernel (pybind11 turns it into a Python RuntimeError),
// ceil_div, warp / block sum reductions, and the activation enum with act() and its
// gradient read off the saved output.
//
// This header is included by the .cu files (nvcc) AND by bindings.cpp (the host C++
// compiler): everything that is device code sits inside `#ifdef __CUDACC__`.
//
// Activation codes (keep equal to the registry in minigan/backend/activations.py;
// bindings.cpp exports them as _C.ACTIVATIONS, and tests/test_activations.py parses this enum
// and compares both with the registry):
//     0 NONE        y = z
//     1 RELU        y = max(z, 0)
//     2 LEAKY_RELU  y = z if z > 0 else slope * z     (slope >= 0)
//     3 TANH        y = tanh(z)
//     4 SIGMOID     y = 1 / (1 + exp(-z))             (overflow-free form)
#pragma once

#include <cuda_runtime_api.h>

#include <cstdint>
#include <cstdlib>
#include <stdexcept>
#include <string>

namespace minigan {

enum Activation : int {
    ACT_NONE = 0,
    ACT_RELU = 1,
    ACT_LEAKY_RELU = 2,
    ACT_TANH = 3,
    ACT_SIGMOID = 4,
};
constexpr int kNumActivations = 5;

// ----- errors ------------------------------------------------------------------------------

// Throws std::runtime_error("<kernel>: CUDA error <name> (<code>): <description>").
inline void cuda_check(cudaError_t err, const char* kernel_name, const char* expr, const char* file,
                       int line) {
    if (err == cudaSuccess) return;
    std::string msg = std::string(kernel_name) + ": CUDA error " + cudaGetErrorName(err) + " (" +
                      std::to_string(static_cast<int>(err)) + "): " + cudaGetErrorString(err) +
                      " [" + expr + " at " + file + ":" + std::to_string(line) + "]";
    throw std::runtime_error(msg);
}

#define MINIGAN_CUDA_CHECK(expr, kernel_name) \
    ::minigan::cuda_check((expr), (kernel_name), #expr, __FILE__, __LINE__)

// MINIGAN_CUDA_SYNC=1 in the environment: synchronise after every launch, so that an
// asynchronous fault (illegal address, ...) is reported by the kernel that caused it
// instead of by some later call. For debugging only (it serialises the GPU).
inline bool debug_sync_enabled() {
    static const bool enabled = [] {
        const char* v = std::getenv("MINIGAN_CUDA_SYNC");
        return v != nullptr && v[0] != '\0' && v[0] != '0';
    }();
    return enabled;
}

// Call right after every <<<...>>> launch: reports bad launch configurations (and, with
// MINIGAN_CUDA_SYNC=1, faults inside the kernel) as an exception naming the kernel.
inline void check_launch(const char* kernel_name, cudaStream_t stream) {
    MINIGAN_CUDA_CHECK(cudaGetLastError(), kernel_name);
    if (debug_sync_enabled()) MINIGAN_CUDA_CHECK(cudaStreamSynchronize(stream), kernel_name);
}

// A validation failure; pybind11 turns std::invalid_argument into Python's ValueError.
[[noreturn]] inline void invalid(const std::string& kernel_name, const std::string& msg) {
    throw std::invalid_argument(kernel_name + ": " + msg);
}

// ----- small integer helpers ------------------------------------------------------------------

template <typename T>
__host__ __device__ constexpr T ceil_div(T a, T b) {
    return (a + b - 1) / b;
}

inline bool aligned16(const void* p) { return (reinterpret_cast<std::uintptr_t>(p) & 15u) == 0; }

// ----- device code ------------------------------------------------------------------------------
#ifdef __CUDACC__

// The one place where kernels are launched: kernel<<<grid, block, smem_bytes, stream>>>(args)
// followed by check_launch(name). `name` ("family: kernel") is what errors report. In the
// emulated build (MINIGAN_EMU, csrc/emu/) the same call runs the grid on the CPU through
// the CUDA execution-model emulator, which checks the launch limits, barriers, shared
// memory races and every memory access; the kernel bodies are the same source either way.
template <typename... Params, typename... Args>
void launch_kernel(const std::string& name, void (*kernel)(Params...), dim3 grid, dim3 block,
                   size_t smem_bytes, cudaStream_t stream, Args... args) {
#ifdef MINIGAN_EMU
    ::emu::launch(name.c_str(), kernel, grid, block, smem_bytes, stream,
                  static_cast<Params>(args)...);
#else
    // clang-format off
    kernel<<<grid, block, smem_bytes, stream>>>(static_cast<Params>(args)...);
    // clang-format on
#endif
    check_launch(name.c_str(), stream);
}

// Dynamic shared memory (the launch's smem_bytes): MINIGAN_DYNAMIC_SHARED(float, buf)
// declares `buf` as the block's dynamic shared array, 16-byte aligned. On the GPU it is
// `extern __shared__ float buf[]`; the emulator hands out the launch's buffer instead.
#ifdef MINIGAN_EMU
#define MINIGAN_DYNAMIC_SHARED(type, name) type* name = static_cast<type*>(::emu::dynamic_shared())
#else
#define MINIGAN_DYNAMIC_SHARED(type, name) extern __shared__ __align__(16) type name[]
#endif

// Sum of v over the 32 lanes of a warp; the result is valid in lane 0.
__device__ __forceinline__ float warp_reduce_sum(float v) {
#pragma unroll
    for (int offset = 16; offset > 0; offset >>= 1) v += __shfl_down_sync(0xffffffffu, v, offset);
    return v;
}

// Sum of v over a 1-D block whose size is a multiple of 32 (at most 1024); the result is
// valid in thread 0. Every thread of the block must call it (it contains barriers). The
// leading barrier makes it safe to call several times in a row.
__device__ __forceinline__ float block_reduce_sum(float v) {
    __shared__ float warp_sums[32];
    const int lane = threadIdx.x & 31;
    const int warp = threadIdx.x >> 5;
    const int num_warps = blockDim.x >> 5;
    __syncthreads();  // a previous call may still be reading warp_sums
    v = warp_reduce_sum(v);
    if (lane == 0) warp_sums[warp] = v;
    __syncthreads();
    if (warp == 0) {
        v = lane < num_warps ? warp_sums[lane] : 0.f;
        v = warp_reduce_sum(v);
    }
    return v;
}

// act(z): the forward activation (see the table at the top of the file).
__device__ __forceinline__ float act(float z, int kind, float slope) {
    switch (kind) {
        case ACT_RELU:
            return (z > 0.f || z != z) ? z : 0.f;  // NaN propagates, like np.maximum
        case ACT_LEAKY_RELU:
            return z > 0.f ? z : z * slope;
        case ACT_TANH:
            return tanhf(z);
        case ACT_SIGMOID: {
            const float e = expf(-fabsf(z));  // in (0, 1]: never overflows
            return z >= 0.f ? 1.f / (1.f + e) : e / (1.f + e);
        }
        default:
            return z;
    }
}

// act'(z) read off the OUTPUT y = act(z) (so z need not be kept):
//   none 1, relu [y > 0], leaky_relu 1 if y > 0 else slope (slope >= 0), tanh 1 - y^2,
//   sigmoid y (1 - y).
__device__ __forceinline__ float act_grad_from_output(float y, int kind, float slope) {
    switch (kind) {
        case ACT_RELU:
            return y > 0.f ? 1.f : 0.f;
        case ACT_LEAKY_RELU:
            return y > 0.f ? 1.f : slope;
        case ACT_TANH:
            return 1.f - y * y;
        case ACT_SIGMOID:
            return (1.f - y) * y;
        default:
            return 1.f;
    }
}

// dz = dy * act'(z), written like numpy_ref.linear_act_backward so that relu passes dy
// through (or drops it) exactly instead of multiplying by 1 or 0.
__device__ __forceinline__ float act_backward(float dy, float y, int kind, float slope) {
    switch (kind) {
        case ACT_NONE:
            return dy;
        case ACT_RELU:
            return y > 0.f ? dy : 0.f;
        case ACT_LEAKY_RELU:
            return y > 0.f ? dy : dy * slope;
        default:
            return act_grad_from_output(y, kind, slope) * dy;
    }
}

#endif  // __CUDACC__

}  // namespace minigan
