// csrc/batchnorm.cu: batch normalisation over channel axis 1, training and eval, forward
// and backward (numpy_ref.batchnorm_forward / batchnorm_backward semantics).
//
// Layout: x is (N, C) or (N, C, H, W), float32, C-contiguous, viewed as (N, C, P) with
// P = H W (P = 1 for (N, C)); element (n, c, p) is at (n C + c) P + p. Statistics are per
// channel over its n = N P elements.
// Forward, training (y, mean, invstd written with `=`; running stats updated IN PLACE):
//   mean = sum x / n, var = sum (x - mean)^2 / n (biased), invstd = 1 / sqrt(var + eps)
//   running_mean = (1 - momentum) running_mean + momentum mean
//   running_var  = (1 - momentum) running_var  + momentum n / (n - 1) var
//   y = (x - mean) invstd gamma + beta          (gamma = 1, beta = 0 when null)
// Forward, eval: mean = running_mean, invstd = 1 / sqrt(running_var + eps), same y.
// Backward (dx, dgamma, dbeta written with `=`, null = not needed), xhat = (x - mean) invstd:
//   dbeta = sum dy, dgamma = sum dy xhat
//   training: dx = gamma invstd / n (n dy - sum dy - xhat sum dy xhat)
//   eval:     dx = gamma invstd dy
// Versions (kernel_version(FAMILY_BATCHNORM)):
//   v1 naive: one thread per channel, serial loops (two-pass mean / variance, then the
//      normalise loop; backward: both sums, then dx). Slow, obviously right: the oracle.
//   v2 (default): one block per channel (or per 32 channels when P == 1, so that reads of
//      an (N, C) matrix are coalesced across the channels of a row). Training forward is
//      ONE kernel: Welford (count, mean, M2) per thread in one read of x, merged by a
//      shared-memory tree (Chan's formula), then a second read of x writes y. Backward is
//      ONE kernel: both sums (sum dy, sum dy (x - mean)) in one read of dy and x, a tree
//      reduction, then a second read writes dx: 2 reads + 1 write, the minimum without
//      keeping the channel in shared memory.
//   eval forward: a per-channel kernel for mean / invstd, then an elementwise kernel.
#include <algorithm>
#include <string>

#include "checks.h"
#include "common.cuh"
#include "minigan.h"

namespace minigan {
namespace {

constexpr int BN_THREADS = 256;

// Calls f(offset) for the elements start, start + step, ... of channel c, as (n, p) =
// divmod(e, P), stepping (n, p) without a division per element. ROWS: P == 1.
template <bool ROWS, typename F>
__device__ __forceinline__ void for_channel(long long N, int C, int P, int c, int start, int step,
                                            F f) {
    if (ROWS) {
        for (long long e = start; e < N; e += step) f(e * C + c);
    } else {
        // p in 64 bits: p + dr reaches P - 1 + 255, past 2^31 - 1 when P is within 255 of it.
        long long n = start / P;
        long long p = start % P;
        const int dq = step / P, dr = step % P;
        while (n < N) {
            f((n * C + c) * (long long)P + p);
            n += dq;
            p += dr;
            if (p >= P) {
                p -= P;
                ++n;
            }
        }
    }
}

// (n_a, mean_a, m2_a) <- the merge of two Welford states (Chan et al.).
__device__ __forceinline__ void welford_merge(float& n_a, float& mean_a, float& m2_a, float n_b,
                                              float mean_b, float m2_b) {
    if (n_b == 0.f) return;
    if (n_a == 0.f) {
        n_a = n_b;
        mean_a = mean_b;
        m2_a = m2_b;
        return;
    }
    const float n = n_a + n_b;
    const float delta = mean_b - mean_a;
    const float r = n_b / n;
    mean_a += delta * r;
    m2_a += m2_b + delta * delta * n_a * r;
    n_a = n;
}

__device__ __forceinline__ void update_running(float* rmean, float* rvar, int c, float mean,
                                               float var, float one_minus_mom, float mom,
                                               float var_factor) {
    if (rmean != nullptr) {
        rmean[c] = rmean[c] * one_minus_mom + mom * mean;
        rvar[c] = rvar[c] * one_minus_mom + var_factor * var;
    }
}

// ----- v1: one thread per channel -----------------------------------------------------------

__global__ void bn_forward_train_v1(const float* __restrict__ x, const float* __restrict__ gamma,
                                    const float* __restrict__ beta, float* rmean, float* rvar,
                                    float* __restrict__ y, float* __restrict__ mean_out,
                                    float* __restrict__ invstd_out, long long N, int C, int P,
                                    float one_minus_mom, float mom, float var_factor, float eps) {
    const long long c64 = (long long)blockIdx.x * blockDim.x + threadIdx.x;  // unsigned product
    if (c64 >= C) return;
    const int c = (int)c64;  // < C <= 2^31 - 1
    const float nf = (float)(N * P);
    float s = 0.f;
    for (long long n = 0; n < N; ++n)
        for (int p = 0; p < P; ++p) s += x[(n * C + c) * P + p];
    const float mean = s / nf;
    float q = 0.f;
    for (long long n = 0; n < N; ++n) {
        for (int p = 0; p < P; ++p) {
            const float d = x[(n * C + c) * P + p] - mean;
            q += d * d;
        }
    }
    const float var = q / nf;
    const float invstd = 1.f / sqrtf(var + eps);
    mean_out[c] = mean;
    invstd_out[c] = invstd;
    update_running(rmean, rvar, c, mean, var, one_minus_mom, mom, var_factor);
    const float g = gamma != nullptr ? gamma[c] : 1.f;
    const float b = beta != nullptr ? beta[c] : 0.f;
    for (long long n = 0; n < N; ++n) {
        for (int p = 0; p < P; ++p) {
            const long long off = (n * C + c) * P + p;
            y[off] = (x[off] - mean) * invstd * g + b;
        }
    }
}

__global__ void bn_backward_v1(const float* __restrict__ dy, const float* __restrict__ x,
                               const float* __restrict__ gamma, const float* __restrict__ mean,
                               const float* __restrict__ invstd, float* __restrict__ dx,
                               float* __restrict__ dgamma, float* __restrict__ dbeta, long long N,
                               int C, int P, int training) {
    const long long c64 = (long long)blockIdx.x * blockDim.x + threadIdx.x;  // unsigned product
    if (c64 >= C) return;
    const int c = (int)c64;  // < C <= 2^31 - 1
    const float nf = (float)(N * P);
    const float mu = mean[c], is = invstd[c];
    float sdy = 0.f, sdyx = 0.f;
    for (long long n = 0; n < N; ++n) {
        for (int p = 0; p < P; ++p) {
            const long long off = (n * C + c) * P + p;
            sdy += dy[off];
            sdyx += dy[off] * ((x[off] - mu) * is);
        }
    }
    if (dgamma != nullptr) dgamma[c] = sdyx;
    if (dbeta != nullptr) dbeta[c] = sdy;
    if (dx == nullptr) return;
    const float scale = (gamma != nullptr ? gamma[c] : 1.f) * is;
    for (long long n = 0; n < N; ++n) {
        for (int p = 0; p < P; ++p) {
            const long long off = (n * C + c) * P + p;
            if (training) {
                const float xhat = (x[off] - mu) * is;
                dx[off] = scale / nf * (nf * dy[off] - sdy - xhat * sdyx);
            } else {
                dx[off] = dy[off] * scale;
            }
        }
    }
}

// ----- v2: a block per channel (or per 32 channels of an (N, C) matrix) -------------------

template <bool ROWS>
__global__ void __launch_bounds__(BN_THREADS)
    bn_forward_train_v2(const float* __restrict__ x, const float* __restrict__ gamma,
                        const float* __restrict__ beta, float* rmean, float* rvar,
                        float* __restrict__ y, float* __restrict__ mean_out,
                        float* __restrict__ invstd_out, long long N, int C, int P,
                        float one_minus_mom, float mom, float var_factor, float eps) {
    constexpr int CPB = ROWS ? 32 : 1;       // channels per block
    constexpr int LANES = BN_THREADS / CPB;  // threads per channel
    __shared__ float s_n[BN_THREADS], s_mean[BN_THREADS], s_m2[BN_THREADS];
    __shared__ float s_mu[CPB], s_is[CPB];
    const int tid = threadIdx.x;
    const int lane_c = tid % CPB, lane_e = tid / CPB;
    // 32-bit is exact: CPB = 1 launches C <= 2^31 - 1 blocks; CPB = 32 launches ceil(C / 32),
    // so 32 blockIdx.x + 31 <= 2^31 - 1.
    const int c = blockIdx.x * CPB + lane_c;
    const bool active = c < C;

    // 1. Welford over this thread's elements (one read of x).
    float wn = 0.f, wmean = 0.f, wm2 = 0.f;
    if (active) {
        for_channel<ROWS>(N, C, P, c, lane_e, LANES, [&](long long off) {
            const float v = x[off];
            wn += 1.f;
            const float d = v - wmean;
            wmean += d / wn;
            wm2 += d * (v - wmean);
        });
    }
    s_n[tid] = wn;
    s_mean[tid] = wmean;
    s_m2[tid] = wm2;
    __syncthreads();
    // 2. Tree merge; tid and tid + s hold the same channel because s is a multiple of CPB.
    for (int s = BN_THREADS / 2; s >= CPB; s >>= 1) {
        if (tid < s) {
            float n_a = s_n[tid], mean_a = s_mean[tid], m2_a = s_m2[tid];
            welford_merge(n_a, mean_a, m2_a, s_n[tid + s], s_mean[tid + s], s_m2[tid + s]);
            s_n[tid] = n_a;
            s_mean[tid] = mean_a;
            s_m2[tid] = m2_a;
        }
        __syncthreads();
    }
    // 3. The channel's statistics and running-stat update (one thread per channel).
    if (tid < CPB && active) {
        const float mean = s_mean[tid];
        const float var = s_m2[tid] / s_n[tid];
        const float invstd = 1.f / sqrtf(var + eps);
        mean_out[c] = mean;
        invstd_out[c] = invstd;
        update_running(rmean, rvar, c, mean, var, one_minus_mom, mom, var_factor);
        s_mu[tid] = mean;
        s_is[tid] = invstd;
    }
    __syncthreads();
    // 4. Normalise (second read of x).
    if (active) {
        const float mu = s_mu[lane_c], is = s_is[lane_c];
        const float g = gamma != nullptr ? gamma[c] : 1.f;
        const float b = beta != nullptr ? beta[c] : 0.f;
        for_channel<ROWS>(N, C, P, c, lane_e, LANES,
                          [&](long long off) { y[off] = (x[off] - mu) * is * g + b; });
    }
}

template <bool ROWS>
__global__ void __launch_bounds__(BN_THREADS)
    bn_backward_v2(const float* __restrict__ dy, const float* __restrict__ x,
                   const float* __restrict__ gamma, const float* __restrict__ mean,
                   const float* __restrict__ invstd, float* __restrict__ dx,
                   float* __restrict__ dgamma, float* __restrict__ dbeta, long long N, int C, int P,
                   int training, int need_sums) {
    constexpr int CPB = ROWS ? 32 : 1;
    constexpr int LANES = BN_THREADS / CPB;
    __shared__ float s_a[BN_THREADS], s_b[BN_THREADS];
    __shared__ float s_sdy[CPB], s_sdyx[CPB];
    const int tid = threadIdx.x;
    const int lane_c = tid % CPB, lane_e = tid / CPB;
    // 32-bit is exact: CPB = 1 launches C <= 2^31 - 1 blocks; CPB = 32 launches ceil(C / 32),
    // so 32 blockIdx.x + 31 <= 2^31 - 1.
    const int c = blockIdx.x * CPB + lane_c;
    const bool active = c < C;
    const float mu = active ? mean[c] : 0.f;
    const float is = active ? invstd[c] : 0.f;

    if (need_sums) {  // kernel-uniform, so the barriers inside are safe
        // 1. sum dy and sum dy (x - mean) (one read of dy and x).
        float a = 0.f, b = 0.f;
        if (active) {
            for_channel<ROWS>(N, C, P, c, lane_e, LANES, [&](long long off) {
                const float d = dy[off];
                a += d;
                b += d * (x[off] - mu);
            });
        }
        s_a[tid] = a;
        s_b[tid] = b;
        __syncthreads();
        for (int s = BN_THREADS / 2; s >= CPB; s >>= 1) {
            if (tid < s) {
                s_a[tid] += s_a[tid + s];
                s_b[tid] += s_b[tid + s];
            }
            __syncthreads();
        }
        if (tid < CPB && active) {
            const float sdy = s_a[tid];
            const float sdyx = s_b[tid] * is;  // sum dy xhat
            if (dgamma != nullptr) dgamma[c] = sdyx;
            if (dbeta != nullptr) dbeta[c] = sdy;
            s_sdy[tid] = sdy;
            s_sdyx[tid] = sdyx;
        }
        __syncthreads();
    }
    // 2. dx (second read of dy and x).
    if (dx != nullptr && active) {
        const float scale = (gamma != nullptr ? gamma[c] : 1.f) * is;
        if (training) {
            const float nf = (float)(N * P);
            const float sdy = s_sdy[lane_c], sdyx = s_sdyx[lane_c];
            const float k = scale / nf;
            for_channel<ROWS>(N, C, P, c, lane_e, LANES, [&](long long off) {
                const float xhat = (x[off] - mu) * is;
                dx[off] = k * (nf * dy[off] - sdy - xhat * sdyx);
            });
        } else {
            for_channel<ROWS>(N, C, P, c, lane_e, LANES,
                              [&](long long off) { dx[off] = dy[off] * scale; });
        }
    }
}

// ----- eval forward ------------------------------------------------------------------------

__global__ void bn_eval_stats(const float* __restrict__ rmean, const float* __restrict__ rvar,
                              float* __restrict__ mean, float* __restrict__ invstd, int C,
                              float eps) {
    const long long c64 = (long long)blockIdx.x * blockDim.x + threadIdx.x;  // unsigned product
    if (c64 >= C) return;
    const int c = (int)c64;  // < C <= 2^31 - 1
    mean[c] = rmean[c];
    invstd[c] = 1.f / sqrtf(rvar[c] + eps);
}

__global__ void bn_eval_apply(const float* __restrict__ x, const float* __restrict__ gamma,
                              const float* __restrict__ beta, const float* __restrict__ mean,
                              const float* __restrict__ invstd, float* __restrict__ y,
                              long long total, int C, int P) {
    for (long long idx = blockIdx.x * (long long)blockDim.x + threadIdx.x; idx < total;
         idx += (long long)gridDim.x * blockDim.x) {
        const int c = (int)((idx / P) % C);
        float v = (x[idx] - mean[c]) * invstd[c];
        if (gamma != nullptr) v *= gamma[c];
        if (beta != nullptr) v += beta[c];
        y[idx] = v;
    }
}

// N >= 0, 0 <= C <= 2^31 - 1, 1 <= P <= 2^31 - 1 (the kernels index channels and positions
// with ints), and N * C * P free of int64 overflow; returns N * C * P.
int64_t check_sizes(const char* name, int64_t N, int64_t C, int64_t P) {
    check_range(name, "N", N, 0, kInt64Max);
    check_size(name, "C", C);
    check_range(name, "P", P, 1, kInt32Max);
    return checked_mul(name, "x (N*C*P)", {N, C, P});
}

}  // namespace

void batchnorm_forward_train(const float* x, const float* gamma, const float* beta,
                             float* running_mean, float* running_var, float* y, float* mean,
                             float* invstd, int64_t N, int64_t C, int64_t P, double momentum,
                             double eps, cudaStream_t stream) {
    const char* name = "batchnorm_forward";
    const int64_t total = check_sizes(name, N, C, P);
    check_ptr(name, "x", x, total);
    check_ptr(name, "y", y, total);
    check_ptr(name, "mean", mean, C);
    check_ptr(name, "invstd", invstd, C);
    if (C == 0) return;
    const int64_t n = N * P;  // <= N * C * P: no overflow
    if (n <= 1) invalid(name, "expected more than 1 value per channel when training");
    if ((running_mean == nullptr) != (running_var == nullptr)) {
        invalid(name, "give both running_mean and running_var, or neither");
    }
    const float omm = (float)(1.0 - momentum), mom = (float)momentum;
    const float var_factor = (float)(momentum * (double)n / (double)(n - 1));
    if (kernel_version(FAMILY_BATCHNORM) == 1) {
        launch_kernel("batchnorm_forward: bn_forward_train_v1", bn_forward_train_v1,
                      ceil_div<unsigned>((unsigned)C, 128), 128, 0, stream, x, gamma, beta,
                      running_mean, running_var, y, mean, invstd, N, (int)C, (int)P, omm, mom,
                      var_factor, (float)eps);
    } else if (P == 1) {
        launch_kernel("batchnorm_forward: bn_forward_train_v2<true>", bn_forward_train_v2<true>,
                      ceil_div<unsigned>((unsigned)C, 32), BN_THREADS, 0, stream, x, gamma, beta,
                      running_mean, running_var, y, mean, invstd, N, (int)C, 1, omm, mom,
                      var_factor, (float)eps);
    } else {
        launch_kernel("batchnorm_forward: bn_forward_train_v2<false>", bn_forward_train_v2<false>,
                      (unsigned)C, BN_THREADS, 0, stream, x, gamma, beta, running_mean, running_var,
                      y, mean, invstd, N, (int)C, (int)P, omm, mom, var_factor, (float)eps);
    }
}

void batchnorm_forward_eval(const float* x, const float* gamma, const float* beta,
                            const float* running_mean, const float* running_var, float* y,
                            float* mean, float* invstd, int64_t N, int64_t C, int64_t P, double eps,
                            cudaStream_t stream) {
    const char* name = "batchnorm_forward";
    const int64_t total = check_sizes(name, N, C, P);
    check_ptr(name, "x", x, total);
    check_ptr(name, "y", y, total);
    check_ptr(name, "mean", mean, C);
    check_ptr(name, "invstd", invstd, C);
    if (C == 0) return;
    if (running_mean == nullptr || running_var == nullptr) {
        invalid(name, "eval mode needs running_mean and running_var (null: " +
                          std::string(running_mean == nullptr ? "running_mean" : "running_var") +
                          ")");
    }
    launch_kernel("batchnorm_forward: bn_eval_stats", bn_eval_stats,
                  ceil_div<unsigned>((unsigned)C, 256), 256, 0, stream, running_mean, running_var,
                  mean, invstd, (int)C, (float)eps);
    if (total == 0) return;
    const unsigned blocks = (unsigned)std::min<int64_t>(ceil_div<int64_t>(total, 256), 8192);
    launch_kernel("batchnorm_forward: bn_eval_apply", bn_eval_apply, blocks, 256, 0, stream, x,
                  gamma, beta, mean, invstd, y, total, (int)C, (int)P);
}

void batchnorm_backward(const float* dy, const float* x, const float* gamma, const float* mean,
                        const float* invstd, float* dx, float* dgamma, float* dbeta, int64_t N,
                        int64_t C, int64_t P, bool training, cudaStream_t stream) {
    const char* name = "batchnorm_backward";
    const int64_t total = check_sizes(name, N, C, P);
    const bool need_sums = dgamma != nullptr || dbeta != nullptr || (training && dx != nullptr);
    if (!need_sums && dx == nullptr) return;
    check_ptr(name, "dy", dy, total);
    check_ptr(name, "x", x, total);
    check_ptr(name, "mean", mean, C);
    check_ptr(name, "invstd", invstd, C);
    if (C == 0) return;
    if (kernel_version(FAMILY_BATCHNORM) == 1) {
        launch_kernel("batchnorm_backward: bn_backward_v1", bn_backward_v1,
                      ceil_div<unsigned>((unsigned)C, 128), 128, 0, stream, dy, x, gamma, mean,
                      invstd, dx, dgamma, dbeta, N, (int)C, (int)P, training);
    } else if (P == 1) {
        launch_kernel("batchnorm_backward: bn_backward_v2<true>", bn_backward_v2<true>,
                      ceil_div<unsigned>((unsigned)C, 32), BN_THREADS, 0, stream, dy, x, gamma,
                      mean, invstd, dx, dgamma, dbeta, N, (int)C, 1, training, need_sums);
    } else {
        launch_kernel("batchnorm_backward: bn_backward_v2<false>", bn_backward_v2<false>,
                      (unsigned)C, BN_THREADS, 0, stream, dy, x, gamma, mean, invstd, dx, dgamma,
                      dbeta, N, (int)C, (int)P, training, need_sums);
    }
}

}  // namespace minigan
