// csrc/adam.cu: one Adam step (PyTorch torch.optim.Adam semantics, L2 weight decay) for
// EVERY parameter in one launch (multi-tensor), in place (numpy_ref.adam_step).
//
// Layout: T parameters of any shapes, each a C-contiguous float32 array p_i with its
// gradient g_i, first moment m_i and second moment v_i of the same size n_i. The caller
// passes a DEVICE table of 6 T uint64 (built by the Python wrapper with CuPy):
//   [0, T) p_i pointers | [T, 2T) g_i | [2T, 3T) m_i | [3T, 4T) v_i | [4T, 5T) n_i |
//   [5T, 6T) exclusive prefix sums of n_i
// Per element, with t = step (1-based) and the bias corrections computed once on the host
// in double precision:
//   g = g + weight_decay p
//   m = beta1 m + (1 - beta1) g           (in place)
//   v = beta2 v + (1 - beta2) g^2         (in place)
//   p = p - lr / (1 - beta1^t) m / (sqrt(v) / sqrt(1 - beta2^t) + eps)   (in place)
// g is only read.
// Versions (kernel_version(FAMILY_ADAM)):
//   v1: a flat index over all elements of all tensors, one thread per element, the
//       tensor found by binary search in the prefix-sum table.
//   v2 (default): blockIdx.y = tensor index, a grid-stride loop over that tensor's
//       elements with float4 accesses when its four arrays are 16-byte aligned (CuPy
//       allocations are), scalar tail.
#include <algorithm>
#include <cmath>
#include <string>

#include "checks.h"
#include "common.cuh"
#include "minigan.h"

namespace minigan {
namespace {

constexpr int ADAM_THREADS = 256;

struct AdamConsts {
    float beta1, one_minus_beta1, beta2, one_minus_beta2, step_size, inv_sqrt_bc2, eps, wd;
};

// One element: returns the new (p, m, v) in a float3 {x: p, y: m, z: v}.
__device__ __forceinline__ float3 adam_update(float p, float g, float m, float v,
                                              const AdamConsts& k) {
    if (k.wd != 0.f) g = p * k.wd + g;
    m = m * k.beta1 + g * k.one_minus_beta1;
    v = v * k.beta2 + g * g * k.one_minus_beta2;
    const float denom = sqrtf(v) * k.inv_sqrt_bc2 + k.eps;
    p = p - k.step_size * (m / denom);
    return make_float3(p, m, v);
}

__device__ __forceinline__ void adam_scalar(float* p, const float* g, float* m, float* v,
                                            long long j, const AdamConsts& k) {
    const float3 r = adam_update(p[j], g[j], m[j], v[j], k);
    p[j] = r.x;
    m[j] = r.y;
    v[j] = r.z;
}

__global__ void __launch_bounds__(ADAM_THREADS)
    adam_v1(const uint64_t* __restrict__ table, int T, long long total, AdamConsts k) {
    const uint64_t* offsets = table + 5LL * T;
    for (long long idx = blockIdx.x * (long long)blockDim.x + threadIdx.x; idx < total;
         idx += (long long)gridDim.x * blockDim.x) {
        int lo = 0, hi = T - 1;  // the last tensor whose offset is <= idx
        while (lo < hi) {
            const int mid = (lo + hi + 1) / 2;
            if ((long long)offsets[mid] <= idx) {
                lo = mid;
            } else {
                hi = mid - 1;
            }
        }
        float* p = reinterpret_cast<float*>(table[lo]);
        const float* g = reinterpret_cast<const float*>(table[T + lo]);
        float* m = reinterpret_cast<float*>(table[2LL * T + lo]);
        float* v = reinterpret_cast<float*>(table[3LL * T + lo]);
        adam_scalar(p, g, m, v, idx - (long long)offsets[lo], k);
    }
}

__global__ void __launch_bounds__(ADAM_THREADS)
    adam_v2(const uint64_t* __restrict__ table, int T, int tensor_base, AdamConsts k) {
    const int i = tensor_base + blockIdx.y;
    float* p = reinterpret_cast<float*>(table[i]);
    const float* g = reinterpret_cast<const float*>(table[T + i]);
    float* m = reinterpret_cast<float*>(table[2LL * T + i]);
    float* v = reinterpret_cast<float*>(table[3LL * T + i]);
    const long long n = (long long)table[4LL * T + i];
    const long long gtid = blockIdx.x * (long long)blockDim.x + threadIdx.x;
    const long long stride = (long long)gridDim.x * blockDim.x;
    const bool vec =
        ((table[i] | table[T + i] | table[2LL * T + i] | table[3LL * T + i]) & 15u) == 0;
    long long scalar_start = 0;
    if (vec) {
        const long long n4 = n / 4;
        float4* p4 = reinterpret_cast<float4*>(p);
        const float4* g4 = reinterpret_cast<const float4*>(g);
        float4* m4 = reinterpret_cast<float4*>(m);
        float4* v4 = reinterpret_cast<float4*>(v);
        for (long long q = gtid; q < n4; q += stride) {
            const float4 pp = p4[q], mm = m4[q], vv = v4[q], gg = g4[q];
            const float3 r0 = adam_update(pp.x, gg.x, mm.x, vv.x, k);
            const float3 r1 = adam_update(pp.y, gg.y, mm.y, vv.y, k);
            const float3 r2 = adam_update(pp.z, gg.z, mm.z, vv.z, k);
            const float3 r3 = adam_update(pp.w, gg.w, mm.w, vv.w, k);
            p4[q] = make_float4(r0.x, r1.x, r2.x, r3.x);
            m4[q] = make_float4(r0.y, r1.y, r2.y, r3.y);
            v4[q] = make_float4(r0.z, r1.z, r2.z, r3.z);
        }
        scalar_start = n4 * 4;
    }
    for (long long j = scalar_start + gtid; j < n; j += stride) adam_scalar(p, g, m, v, j, k);
}

}  // namespace

void adam_step(const uint64_t* table, int64_t num_tensors, int64_t max_numel, int64_t total_numel,
               int64_t step, double lr, double beta1, double beta2, double eps, double weight_decay,
               cudaStream_t stream) {
    const char* name = "adam_step";
    // The table holds 6 T entries indexed with ints.
    check_range(name, "num_tensors", num_tensors, 0, kInt32Max / 6);
    check_range(name, "step", step, 1, kInt64Max, "1-based");
    check_range(name, "total_numel", total_numel, 0, kInt64Max);
    check_range(name, "max_numel", max_numel, 0, total_numel, "at most total_numel");
    if (num_tensors > 0 && table == nullptr) {
        invalid(name, "table is a null pointer but must hold 6 * " + std::to_string(num_tensors) +
                          " uint64 entries");
    }
    if (reinterpret_cast<std::uintptr_t>(table) % 8 != 0) {
        invalid(name, "table is not 8-byte aligned");
    }
    if (num_tensors == 0 || total_numel == 0) return;
    const double bias_c1 = 1.0 - std::pow(beta1, (double)step);
    const double bias_c2 = 1.0 - std::pow(beta2, (double)step);
    AdamConsts k;
    k.beta1 = (float)beta1;
    k.one_minus_beta1 = (float)(1.0 - beta1);
    k.beta2 = (float)beta2;
    k.one_minus_beta2 = (float)(1.0 - beta2);
    k.step_size = (float)(lr / bias_c1);
    k.inv_sqrt_bc2 = (float)(1.0 / std::sqrt(bias_c2));
    k.eps = (float)eps;
    k.wd = (float)weight_decay;
    const int T = (int)num_tensors;
    if (kernel_version(FAMILY_ADAM) == 1) {
        const unsigned blocks =
            (unsigned)std::min<int64_t>(ceil_div<int64_t>(total_numel, ADAM_THREADS), 65535);
        launch_kernel("adam_step: adam_v1", adam_v1, blocks, ADAM_THREADS, 0, stream, table, T,
                      total_numel, k);
        return;
    }
    const unsigned bx = (unsigned)std::max<int64_t>(
        1, std::min<int64_t>(ceil_div<int64_t>(max_numel, ADAM_THREADS * 4), 1024));
    for (int base = 0; base < T; base += 65535) {
        const unsigned by = (unsigned)std::min(65535, T - base);
        launch_kernel("adam_step: adam_v2", adam_v2, dim3(bx, by), ADAM_THREADS, 0, stream, table,
                      T, base, k);
    }
}

}  // namespace minigan
