// csrc/sigmoid_bce.cu: binary cross-entropy on logits, loss and gradient in one pass
// (numpy_ref.sigmoid_bce_forward_backward, PyTorch binary_cross_entropy_with_logits).
//
// Layout: logits, targets and dlogits are flat float32 arrays of n elements (any shape,
// C-contiguous). Per element, with e = exp(-|x|) in (0, 1] (never overflows, so logits of
// +-1e4 give finite results):
//   l  = max(x, 0) - x t + log1p(e)
//   dx = sigmoid(x) - t,  sigmoid(x) = 1 / (1 + e) if x >= 0 else e / (1 + e)
// Outputs (both `=`): dlogits = dx / n for "mean" (dx for "sum"), and the scalar
// loss = sum l / n ("mean") or sum l ("sum").
// Two kernels: bce_partial reads x and t once, writes dlogits and one partial loss sum
// per block (block tree reduction) into the caller's workspace; bce_finalize (one block)
// sums the partials into the loss. No atomics, so the result is deterministic.
// Versions (kernel_version(FAMILY_SIGMOID_BCE)):
//   v1: scalar grid-stride loop, one element per iteration.
//   v2 (default): float4 grid-stride loop (when all three arrays are 16-byte aligned),
//       scalar tail.
#include <algorithm>
#include <string>

#include "checks.h"
#include "common.cuh"
#include "minigan.h"

namespace minigan {
namespace {

constexpr int BCE_THREADS = 256;

// Returns the loss of one element and stores its gradient in `grad`.
__device__ __forceinline__ float bce_elem(float x, float t, int mean, float nf, float& grad) {
    const float e = expf(-fabsf(x));
    const float loss = (x > 0.f ? x : 0.f) - x * t + log1pf(e);
    const float sig = x >= 0.f ? 1.f / (1.f + e) : e / (1.f + e);
    float g = sig - t;
    if (mean) g = g / nf;
    grad = g;
    return loss;
}

__global__ void __launch_bounds__(BCE_THREADS)
    bce_partial_v1(const float* __restrict__ logits, const float* __restrict__ targets,
                   float* __restrict__ dlogits, long long n, int mean, float nf,
                   float* __restrict__ partials) {
    float acc = 0.f;
    for (long long i = blockIdx.x * (long long)blockDim.x + threadIdx.x; i < n;
         i += (long long)gridDim.x * blockDim.x) {
        float g;
        acc += bce_elem(logits[i], targets[i], mean, nf, g);
        dlogits[i] = g;
    }
    acc = block_reduce_sum(acc);
    if (threadIdx.x == 0) partials[blockIdx.x] = acc;
}

__global__ void __launch_bounds__(BCE_THREADS)
    bce_partial_v2(const float* __restrict__ logits, const float* __restrict__ targets,
                   float* __restrict__ dlogits, long long n, int mean, float nf,
                   float* __restrict__ partials) {
    const long long gtid = blockIdx.x * (long long)blockDim.x + threadIdx.x;
    const long long stride = (long long)gridDim.x * blockDim.x;
    const long long n4 = n / 4;
    const float4* x4 = reinterpret_cast<const float4*>(logits);
    const float4* t4 = reinterpret_cast<const float4*>(targets);
    float4* d4 = reinterpret_cast<float4*>(dlogits);
    float acc = 0.f;
    for (long long v = gtid; v < n4; v += stride) {
        const float4 x = x4[v], t = t4[v];
        float4 g;
        acc += bce_elem(x.x, t.x, mean, nf, g.x);
        acc += bce_elem(x.y, t.y, mean, nf, g.y);
        acc += bce_elem(x.z, t.z, mean, nf, g.z);
        acc += bce_elem(x.w, t.w, mean, nf, g.w);
        d4[v] = g;
    }
    for (long long i = n4 * 4 + gtid; i < n; i += stride) {  // the last n % 4 elements
        float g;
        acc += bce_elem(logits[i], targets[i], mean, nf, g);
        dlogits[i] = g;
    }
    acc = block_reduce_sum(acc);
    if (threadIdx.x == 0) partials[blockIdx.x] = acc;
}

__global__ void __launch_bounds__(BCE_THREADS)
    bce_finalize(const float* __restrict__ partials, int num, float* __restrict__ loss, int mean,
                 float nf) {
    float s = 0.f;
    for (int i = threadIdx.x; i < num; i += blockDim.x) s += partials[i];
    s = block_reduce_sum(s);
    if (threadIdx.x == 0) loss[0] = mean ? s / nf : s;
}

}  // namespace

void sigmoid_bce_forward_backward(const float* logits, const float* targets, float* loss,
                                  float* dlogits, int64_t n, bool mean, float* partials,
                                  int64_t num_partials, cudaStream_t stream) {
    const char* name = "sigmoid_bce_forward_backward";
    check_range(name, "n", n, 1, kInt64Max);
    check_range(name, "num_partials", num_partials, 1, kInt64Max);
    check_ptr(name, "logits", logits, n);
    check_ptr(name, "targets", targets, n);
    check_ptr(name, "loss", loss, 1);
    check_ptr(name, "dlogits", dlogits, n);
    check_ptr(name, "partials", partials, num_partials);
    const float nf = (float)n;
    const int version = kernel_version(FAMILY_SIGMOID_BCE);
    const bool vec = version == 2 && aligned16(logits) && aligned16(targets) && aligned16(dlogits);
    const int64_t per_block = BCE_THREADS * (vec ? 4 : 1);
    // <= 65535 (also bce_finalize's `num`, an int); the kernels' element loops are 64-bit.
    const int blocks = (int)std::min<int64_t>(std::min<int64_t>(num_partials, 65535),
                                              ceil_div<int64_t>(n, per_block));
    if (vec) {
        launch_kernel("sigmoid_bce_forward_backward: bce_partial_v2", bce_partial_v2, blocks,
                      BCE_THREADS, 0, stream, logits, targets, dlogits, n, mean, nf, partials);
    } else {
        launch_kernel("sigmoid_bce_forward_backward: bce_partial_v1", bce_partial_v1, blocks,
                      BCE_THREADS, 0, stream, logits, targets, dlogits, n, mean, nf, partials);
    }
    launch_kernel("sigmoid_bce_forward_backward: bce_finalize", bce_finalize, 1, BCE_THREADS, 0,
                  stream, partials, blocks, loss, mean, nf);
}

}  // namespace minigan
