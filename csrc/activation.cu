// csrc/activation.cu: a standalone activation and its gradient, one pass each
// (numpy_ref.activation_forward / activation_backward; the ops relu, leaky_relu, tanh and
// sigmoid run these on cuda).
//
// Layout: x, y, dy, dx are flat float32 arrays of n elements (any shape, C-contiguous).
//   forward:  y[i]  = act(x[i])                      (common.cuh's act(), the registry's math)
//   backward: dx[i] = dy[i] * act'(z) read off y[i]  (common.cuh's act_backward())
// A grid-stride loop, one element per iteration: the kernel is memory bound (one read and
// one write per element forward, two reads and one write backward), so the grid is capped
// and every thread walks several elements.
#include <algorithm>

#include "checks.h"
#include "common.cuh"
#include "minigan.h"

namespace minigan {
namespace {

constexpr int ACT_THREADS = 256;
constexpr int64_t ACT_MAX_BLOCKS = 4096;

__global__ void __launch_bounds__(ACT_THREADS)
    act_forward_kernel(const float* __restrict__ x, float* __restrict__ y, long long n, int kind,
                       float slope) {
    for (long long i = blockIdx.x * (long long)blockDim.x + threadIdx.x; i < n;
         i += (long long)gridDim.x * blockDim.x) {
        y[i] = act(x[i], kind, slope);
    }
}

__global__ void __launch_bounds__(ACT_THREADS)
    act_backward_kernel(const float* __restrict__ dy, const float* __restrict__ y,
                        float* __restrict__ dx, long long n, int kind, float slope) {
    for (long long i = blockIdx.x * (long long)blockDim.x + threadIdx.x; i < n;
         i += (long long)gridDim.x * blockDim.x) {
        dx[i] = act_backward(dy[i], y[i], kind, slope);
    }
}

int act_blocks(int64_t n) {
    return (int)std::min<int64_t>(ACT_MAX_BLOCKS, ceil_div<int64_t>(n, ACT_THREADS));
}

}  // namespace

void activation_forward(const float* x, float* y, int64_t n, int act_kind, float slope,
                        cudaStream_t stream) {
    const char* name = "activation_forward";
    check_range(name, "n", n, 0, kInt64Max);
    check_act(name, act_kind);
    if (n == 0) return;
    check_ptr(name, "x", x, n);
    check_ptr(name, "y", y, n);
    launch_kernel("activation_forward: act_forward_kernel", act_forward_kernel, act_blocks(n),
                  ACT_THREADS, 0, stream, x, y, (long long)n, act_kind, slope);
}

void activation_backward(const float* dy, const float* y, float* dx, int64_t n, int act_kind,
                         float slope, cudaStream_t stream) {
    const char* name = "activation_backward";
    check_range(name, "n", n, 0, kInt64Max);
    check_act(name, act_kind);
    if (n == 0) return;
    check_ptr(name, "dy", dy, n);
    check_ptr(name, "y", y, n);
    check_ptr(name, "dx", dx, n);
    launch_kernel("activation_backward: act_backward_kernel", act_backward_kernel, act_blocks(n),
                  ACT_THREADS, 0, stream, dy, y, dx, (long long)n, act_kind, slope);
}

}  // namespace minigan
