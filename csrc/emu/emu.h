// csrc/emu/emu.h: the CUDA execution model on a CPU, for the emulated build minigan._C_emu.
//
// The same csrc/*.cu files that nvcc compiles for the GPU are compiled here as host C++
// (`g++ -x c++ -DMINIGAN_EMU -D__CUDACC__ -Icsrc/emu`), with this header standing in for
// the CUDA headers (csrc/emu/cuda_runtime_api.h includes it). It defines:
//   * the qualifiers (__global__, __device__, __shared__, __launch_bounds__, ...);
//   * dim3, uint3 and the vector types (float4 is a 16-byte aligned struct, as on the GPU);
//   * the built-ins threadIdx / blockIdx / blockDim / gridDim: the values of the emulated
//     thread that is running now;
//   * the intrinsics the kernels use (__syncthreads, warp shuffles and votes, __syncwarp,
//     atomics, fast-math functions), implemented by csrc/emu/runtime.cpp;
//   * host versions of the CUDA runtime calls (allocation, copies, memset, streams, events,
//     function attributes, device properties with the values of an sm_90 H100);
//   * emu::launch, which csrc/common.cuh's launch_kernel calls instead of <<<...>>>.
//
// How a launch runs (runtime.cpp): blocks one after another; inside a block every CUDA
// thread is a fiber (its own stack, switched cooperatively on one OS thread), so
// __syncthreads() is a real barrier and a warp shuffle is a meeting of 32 lanes. Every
// load and store the kernels make is instrumented by the compiler (GCC's kernel-address
// sanitizer ABI: a call per access) and checked by the runtime: out-of-bounds or misaligned
// global accesses, shared-memory races within one barrier interval. Launch limits are
// checked as the hardware enforces them. Every failure is a C++ exception (Python
// RuntimeError) naming the kernel, the block and the thread.
#pragma once

#include <cmath>
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <tuple>
#include <utility>

// The runtime symbols that kernel code and its launchers call (below: EMU_API: the
// intrinsics, the launch, the CUDA runtime API) keep default visibility in minigan._C_emu,
// which is otherwise built with -fvisibility=hidden, so that kernels compiled into another
// shared object that links against it (tests/emu_cupy: CuPy's generated kernels, test
// kernels) use the one emulator runtime of the process.
#define EMU_API __attribute__((visibility("default")))

// ----- qualifiers -------------------------------------------------------------------------------
#define __global__
#define __device__
#define __host__
#define __forceinline__ inline
#define __noinline__ __attribute__((noinline))
#define __launch_bounds__(...)
#define __restrict__ __restrict
#define __align__(n) __attribute__((aligned(n)))
// Shared memory: csrc/emu/build.py rewrites every `__shared__ T name[dims];` of the kernel
// sources into EMU_SHARED(align, T, name, [dims]): `name` becomes a reference into the
// block's shared memory, allocated by the runtime the first time a thread of the block
// reaches the declaration (one copy per block, NaN-filled, with exactly the alignment the
// declaration asks for, so a float4 view of a plain float array is caught as misaligned).
// Accesses through it are instrumented and race-checked like every other shared access. A
// __shared__ that the rewrite missed fails to compile with the name below.
#define __shared__ __shared___declaration_not_rewritten_by_csrc_emu_build_py
#define EMU_SHARED(align, type, name, dims)                               \
    static char emu_shared_key_##name;                                    \
    type(&name) dims = *static_cast<type(*) dims>(::emu::shared_variable( \
        &emu_shared_key_##name, sizeof(type dims), (align) ? (align) : alignof(type), #name))
// __device__ / __constant__ globals are ordinary globals of the module: kernels may read
// them (and write __device__ ones); they are not race-checked.
#define __constant__
#ifndef CUDART_VERSION
#define CUDART_VERSION 13000
#endif

// ----- vector types ------------------------------------------------------------------------------
struct uint3 {
    unsigned int x, y, z;
};
struct dim3 {
    unsigned int x, y, z;
    constexpr dim3(unsigned int vx = 1, unsigned int vy = 1, unsigned int vz = 1)
        : x(vx), y(vy), z(vz) {}
    constexpr dim3(uint3 v) : x(v.x), y(v.y), z(v.z) {}
    constexpr operator uint3() const { return {x, y, z}; }
};
struct alignas(8) float2 {
    float x, y;
};
struct float3 {
    float x, y, z;
};
struct alignas(16) float4 {
    float x, y, z, w;
};
struct alignas(8) int2 {
    int x, y;
};
struct alignas(16) int4 {
    int x, y, z, w;
};
inline float2 make_float2(float x, float y) { return {x, y}; }
inline float3 make_float3(float x, float y, float z) { return {x, y, z}; }
inline float4 make_float4(float x, float y, float z, float w) { return {x, y, z, w}; }
inline int2 make_int2(int x, int y) { return {x, y}; }
inline int4 make_int4(int x, int y, int z, int w) { return {x, y, z, w}; }

// ----- runtime types -------------------------------------------------------------------------
enum cudaError_t : int {
    cudaSuccess = 0,
    cudaErrorInvalidValue = 1,
    cudaErrorMemoryAllocation = 2,
    cudaErrorInvalidConfiguration = 9,
    cudaErrorInvalidDevice = 101,
    cudaErrorInvalidDeviceFunction = 98,
    cudaErrorLaunchFailure = 719,
    cudaErrorNoDevice = 100,
};
using cudaError = cudaError_t;
struct CUstream_st;
struct CUevent_st;
using cudaStream_t = CUstream_st*;
using cudaEvent_t = CUevent_st*;
enum cudaMemcpyKind : int {
    cudaMemcpyHostToHost = 0,
    cudaMemcpyHostToDevice = 1,
    cudaMemcpyDeviceToHost = 2,
    cudaMemcpyDeviceToDevice = 3,
    cudaMemcpyDefault = 4,
};
enum cudaDeviceAttr : int {
    cudaDevAttrMaxThreadsPerBlock = 1,
    cudaDevAttrMaxBlockDimX = 2,
    cudaDevAttrMaxBlockDimY = 3,
    cudaDevAttrMaxBlockDimZ = 4,
    cudaDevAttrMaxGridDimX = 5,
    cudaDevAttrMaxGridDimY = 6,
    cudaDevAttrMaxGridDimZ = 7,
    cudaDevAttrMaxSharedMemoryPerBlock = 8,
    cudaDevAttrWarpSize = 10,
    cudaDevAttrMaxRegistersPerBlock = 12,
    cudaDevAttrMultiProcessorCount = 16,
    cudaDevAttrComputeCapabilityMajor = 75,
    cudaDevAttrComputeCapabilityMinor = 76,
    cudaDevAttrMaxSharedMemoryPerMultiprocessor = 81,
    cudaDevAttrMaxSharedMemoryPerBlockOptin = 97,
};
enum cudaFuncAttribute : int {
    cudaFuncAttributeMaxDynamicSharedMemorySize = 8,
    cudaFuncAttributePreferredSharedMemoryCarveout = 9,
};
struct cudaFuncAttributes {
    size_t sharedSizeBytes, constSizeBytes, localSizeBytes;
    int maxThreadsPerBlock, numRegs, ptxVersion, binaryVersion, cacheModeCA;
    int maxDynamicSharedSizeBytes, preferredShmemCarveout;
};
struct cudaDeviceProp {
    char name[256];
    size_t totalGlobalMem, sharedMemPerBlock, sharedMemPerBlockOptin, sharedMemPerMultiprocessor;
    int regsPerBlock, warpSize, maxThreadsPerBlock, maxThreadsDim[3], maxGridSize[3];
    int major, minor, multiProcessorCount, maxThreadsPerMultiProcessor, l2CacheSize;
};

EMU_API const char* cudaGetErrorName(cudaError_t err);
EMU_API const char* cudaGetErrorString(cudaError_t err);
EMU_API cudaError_t cudaGetLastError();
EMU_API cudaError_t cudaPeekAtLastError();
EMU_API cudaError_t cudaGetDeviceCount(int* count);
EMU_API cudaError_t cudaGetDevice(int* device);
EMU_API cudaError_t cudaSetDevice(int device);
EMU_API cudaError_t cudaDeviceSynchronize();
EMU_API cudaError_t cudaDeviceGetAttribute(int* value, cudaDeviceAttr attr, int device);
EMU_API cudaError_t cudaGetDeviceProperties(cudaDeviceProp* prop, int device);
EMU_API cudaError_t cudaMalloc(void** ptr, size_t bytes);
EMU_API cudaError_t cudaFree(void* ptr);
EMU_API cudaError_t cudaMemcpy(void* dst, const void* src, size_t bytes, cudaMemcpyKind kind);
EMU_API cudaError_t cudaMemcpyAsync(void* dst, const void* src, size_t bytes, cudaMemcpyKind kind,
                                    cudaStream_t stream = nullptr);
EMU_API cudaError_t cudaMemset(void* dst, int value, size_t bytes);
EMU_API cudaError_t cudaMemsetAsync(void* dst, int value, size_t bytes,
                                    cudaStream_t stream = nullptr);
EMU_API cudaError_t cudaStreamCreate(cudaStream_t* stream);
EMU_API cudaError_t cudaStreamDestroy(cudaStream_t stream);
EMU_API cudaError_t cudaStreamSynchronize(cudaStream_t stream);
EMU_API cudaError_t cudaEventCreate(cudaEvent_t* event);
EMU_API cudaError_t cudaEventDestroy(cudaEvent_t event);
EMU_API cudaError_t cudaEventRecord(cudaEvent_t event, cudaStream_t stream = nullptr);
EMU_API cudaError_t cudaEventSynchronize(cudaEvent_t event);
EMU_API cudaError_t cudaEventElapsedTime(float* ms, cudaEvent_t start, cudaEvent_t end);

namespace emu {
EMU_API cudaError_t func_set_attribute(const void* func, cudaFuncAttribute attr, int value);
EMU_API cudaError_t func_get_attributes(cudaFuncAttributes* attr, const void* func);
}  // namespace emu
template <typename F>
EMU_API cudaError_t cudaFuncSetAttribute(F* func, cudaFuncAttribute attr, int value) {
    return emu::func_set_attribute(reinterpret_cast<const void*>(func), attr, value);
}
template <typename F>
EMU_API cudaError_t cudaFuncGetAttributes(cudaFuncAttributes* attr, F* func) {
    return emu::func_get_attributes(attr, reinterpret_cast<const void*>(func));
}

// ----- built-in variables --------------------------------------------------------------------
namespace emu {
struct Builtins {
    uint3 thread_idx, block_idx;
    dim3 block_dim, grid_dim;
};
extern EMU_API Builtins g_builtins;  // the running emulated thread's values (set by the scheduler)
}  // namespace emu
#define threadIdx (::emu::g_builtins.thread_idx)
#define blockIdx (::emu::g_builtins.block_idx)
#define blockDim (::emu::g_builtins.block_dim)
#define gridDim (::emu::g_builtins.grid_dim)
constexpr int warpSize = 32;

// ----- intrinsics (implemented in runtime.cpp, which is not instrumented) --------------------
namespace emu {
EMU_API void syncthreads(const char* file, int line);
EMU_API void syncwarp(const char* file, int line, unsigned mask);
enum WarpOpKind : int {
    WARP_SHFL_IDX,
    WARP_SHFL_UP,
    WARP_SHFL_DOWN,
    WARP_SHFL_XOR,
    WARP_BALLOT,
    WARP_ANY,
    WARP_ALL,
    WARP_SYNC
};
EMU_API unsigned long long warp_op(const char* file, int line, WarpOpKind kind, unsigned mask,
                                   unsigned long long value, int arg, int width);

template <typename T>
T warp_shuffle(const char* file, int line, WarpOpKind kind, unsigned mask, T v, int arg,
               int width) {
    static_assert(sizeof(T) <= 8, "warp shuffles move at most 8 bytes");
    unsigned long long bits = 0;
    std::memcpy(&bits, &v, sizeof(T));
    bits = warp_op(file, line, kind, mask, bits, arg, width);
    T out;
    std::memcpy(&out, &bits, sizeof(T));
    return out;
}

// Atomics: the runtime checks the address (bounds, alignment); atomics are race-checked
// against plain accesses, never against each other.
EMU_API float atomic_add_f32(float* p, float v);
EMU_API double atomic_add_f64(double* p, double v);
EMU_API int atomic_add_i32(int* p, int v);
EMU_API unsigned atomic_add_u32(unsigned* p, unsigned v);
EMU_API unsigned long long atomic_add_u64(unsigned long long* p, unsigned long long v);
EMU_API int atomic_max_i32(int* p, int v);
EMU_API int atomic_min_i32(int* p, int v);
EMU_API int atomic_cas_i32(int* p, int expected, int desired);
EMU_API unsigned atomic_cas_u32(unsigned* p, unsigned expected, unsigned desired);
EMU_API int atomic_exch_i32(int* p, int v);
EMU_API float atomic_exch_f32(float* p, float v);
}  // namespace emu

#define __syncthreads() ::emu::syncthreads(__FILE__, __LINE__)
#define __syncwarp(...) ::emu::syncwarp(__FILE__, __LINE__, ::emu::mask_or_all(__VA_ARGS__))
namespace emu {
constexpr unsigned mask_or_all() { return 0xffffffffu; }
constexpr unsigned mask_or_all(unsigned m) { return m; }
}  // namespace emu
#define __shfl_sync(mask, v, lane, ...)                                          \
    ::emu::warp_shuffle(__FILE__, __LINE__, ::emu::WARP_SHFL_IDX, mask, v, lane, \
                        ::emu::width_or_32(__VA_ARGS__))
#define __shfl_up_sync(mask, v, d, ...)                                      \
    ::emu::warp_shuffle(__FILE__, __LINE__, ::emu::WARP_SHFL_UP, mask, v, d, \
                        ::emu::width_or_32(__VA_ARGS__))
#define __shfl_down_sync(mask, v, d, ...)                                      \
    ::emu::warp_shuffle(__FILE__, __LINE__, ::emu::WARP_SHFL_DOWN, mask, v, d, \
                        ::emu::width_or_32(__VA_ARGS__))
#define __shfl_xor_sync(mask, v, m, ...)                                      \
    ::emu::warp_shuffle(__FILE__, __LINE__, ::emu::WARP_SHFL_XOR, mask, v, m, \
                        ::emu::width_or_32(__VA_ARGS__))
#define __ballot_sync(mask, pred) \
    static_cast<unsigned>(        \
        ::emu::warp_op(__FILE__, __LINE__, ::emu::WARP_BALLOT, mask, (pred) != 0, 0, 32))
#define __any_sync(mask, pred) \
    static_cast<int>(::emu::warp_op(__FILE__, __LINE__, ::emu::WARP_ANY, mask, (pred) != 0, 0, 32))
#define __all_sync(mask, pred) \
    static_cast<int>(::emu::warp_op(__FILE__, __LINE__, ::emu::WARP_ALL, mask, (pred) != 0, 0, 32))
namespace emu {
constexpr int width_or_32() { return 32; }
constexpr int width_or_32(int w) { return w; }
}  // namespace emu

inline float atomicAdd(float* p, float v) { return emu::atomic_add_f32(p, v); }
inline double atomicAdd(double* p, double v) { return emu::atomic_add_f64(p, v); }
inline int atomicAdd(int* p, int v) { return emu::atomic_add_i32(p, v); }
inline unsigned atomicAdd(unsigned* p, unsigned v) { return emu::atomic_add_u32(p, v); }
inline unsigned long long atomicAdd(unsigned long long* p, unsigned long long v) {
    return emu::atomic_add_u64(p, v);
}
inline int atomicMax(int* p, int v) { return emu::atomic_max_i32(p, v); }
inline int atomicMin(int* p, int v) { return emu::atomic_min_i32(p, v); }
inline int atomicCAS(int* p, int e, int d) { return emu::atomic_cas_i32(p, e, d); }
inline unsigned atomicCAS(unsigned* p, unsigned e, unsigned d) {
    return emu::atomic_cas_u32(p, e, d);
}
inline int atomicExch(int* p, int v) { return emu::atomic_exch_i32(p, v); }
inline float atomicExch(float* p, float v) { return emu::atomic_exch_f32(p, v); }
inline void __threadfence() {}
inline void __threadfence_block() {}

template <typename T>
inline T __ldg(const T* p) {
    return *p;
}

// ----- math: the CUDA device functions that host C++ lacks -----------------------------------
inline float rsqrtf(float x) { return 1.0f / std::sqrt(x); }
inline double rsqrt(double x) { return 1.0 / std::sqrt(x); }
inline float __expf(float x) { return std::exp(x); }
inline float __logf(float x) { return std::log(x); }
inline float __fdividef(float a, float b) { return a / b; }
inline float __frcp_rn(float x) { return 1.0f / x; }
inline float __fsqrt_rn(float x) { return std::sqrt(x); }
inline float __fmaf_rn(float a, float b, float c) { return std::fma(a, b, c); }
inline float __fadd_rn(float a, float b) { return a + b; }
inline float __fmul_rn(float a, float b) { return a * b; }
inline float __saturatef(float x) { return x < 0.f ? 0.f : (x > 1.f ? 1.f : x); }
inline int __float_as_int(float x) {
    int i;
    std::memcpy(&i, &x, 4);
    return i;
}
inline float __int_as_float(int i) {
    float x;
    std::memcpy(&x, &i, 4);
    return x;
}
inline int __popc(unsigned x) { return __builtin_popcount(x); }
inline int __clz(int x) { return x == 0 ? 32 : __builtin_clz(static_cast<unsigned>(x)); }
inline int __ffs(int x) { return __builtin_ffs(x); }
inline int min(int a, int b) { return a < b ? a : b; }
inline int max(int a, int b) { return a > b ? a : b; }
inline unsigned min(unsigned a, unsigned b) { return a < b ? a : b; }
inline unsigned max(unsigned a, unsigned b) { return a > b ? a : b; }
inline long long min(long long a, long long b) { return a < b ? a : b; }
inline long long max(long long a, long long b) { return a > b ? a : b; }
inline unsigned long long min(unsigned long long a, unsigned long long b) { return a < b ? a : b; }
inline unsigned long long max(unsigned long long a, unsigned long long b) { return a > b ? a : b; }
inline float min(float a, float b) { return std::fmin(a, b); }
inline float max(float a, float b) { return std::fmax(a, b); }
inline double min(double a, double b) { return std::fmin(a, b); }
inline double max(double a, double b) { return std::fmax(a, b); }

// ----- launch --------------------------------------------------------------------------------
namespace emu {

// Runs a grid: checks the configuration against the hardware limits, then every block with
// one fiber per thread, each calling run_thread(closure). Throws std::runtime_error naming
// the kernel, block and thread on any failure. `params`/`params_bytes`: the launch's copy
// of the kernel arguments (read-only to the kernel, like the GPU's parameter bank).
EMU_API void run_grid(const char* name, const void* kernel, dim3 grid, dim3 block,
                      size_t smem_bytes, cudaStream_t stream, void (*run_thread)(void*),
                      void* closure, const void* params, size_t params_bytes);

// Dynamic shared memory (`extern __shared__`): the current launch's buffer. Kernels declare
// it with MINIGAN_DYNAMIC_SHARED(type, name) (common.cuh), which is
// `extern __shared__ type name[]` on the GPU.
EMU_API void* dynamic_shared();

// The block's copy of the shared variable identified by `key` (the address of a static in
// the declaring function): allocated at the first request of each block.
EMU_API void* shared_variable(const void* key, size_t bytes, size_t align, const char* name);

template <typename... Params>
struct LaunchClosure {
    void (*kernel)(Params...);
    std::tuple<Params...> args;
};

template <typename... Params>
void run_thread_of(void* p) {
    auto* c = static_cast<LaunchClosure<Params...>*>(p);
    std::apply(c->kernel, c->args);  // each thread gets its own copies of the arguments
}

template <typename... Params, typename... Args>
void launch(const char* name, void (*kernel)(Params...), dim3 grid, dim3 block, size_t smem_bytes,
            cudaStream_t stream, Args&&... args) {
    LaunchClosure<Params...> closure{kernel, std::tuple<Params...>(std::forward<Args>(args)...)};
    run_grid(name, reinterpret_cast<const void*>(kernel), grid, block, smem_bytes, stream,
             &run_thread_of<Params...>, &closure, &closure, sizeof(closure));
}

}  // namespace emu
