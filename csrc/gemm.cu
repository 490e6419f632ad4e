// csrc/gemm.cu: the GEMM core used by linear_act (forward, dgrad, wgrad) and by conv2d /
// conv_transpose2d (after im2col), plus the bias-gradient reductions.
//
// Math (see gemm.cuh for the operand layouts and fusions):
//   C[m, n] = epilogue(sum_k A(m, k) B(k, n)),   epilogue(v) = act(v + bias) (+ old C)
// All matrices are float32; A and B are read through strides (row- or column-contiguous),
// C is row-major with leading dimension ldc. C is written with `=` unless accumulate is
// set (then `+=`); nothing else is written.
//
// Versions (kernel_version(FAMILY_GEMM); every version implements the same contract):
//   v1 naive: one thread per output element, a plain loop over k (the oracle for v2/v3).
//   v2 shared-memory tiles: 16x16 output tile per block, 16x16 A and B tiles staged in
//      shared memory, one output per thread.
//   v3 register-blocked (the default): 128x128 block tile, BK = 8, 256 threads each owning
//      an 8x8 micro-tile (two 4-wide row groups x two 4-wide column groups, so that shared
//      memory reads are conflict-free float4s and global stores are coalesced float4s).
//      Global loads are float4 where the operand is 16-byte aligned with a leading
//      dimension divisible by 4 and the 4 elements are in bounds, scalar otherwise (tails,
//      odd sizes). The next k-tile is fetched into registers while the current one is
//      multiplied, and shared memory is double-buffered, so there is one barrier per
//      k-tile. Bias + activation (forward) and dz = dy * act'(y) (backward, on the A
//      loads) are fused. For reductions over a batch (conv weight gradients) or a long K,
//      the (item, k-tile) sequence can be split over gridDim.z blocks writing partial
//      products, summed by gemm_sum_partials (split-K).
//   channel_sum: one block per channel, grid-stride over (n, p), block tree reduction.
//   column_sum_act: 32 columns per block, 8 row lanes, shared-memory reduction.
#include <algorithm>
#include <string>

#include "checks.h"
#include "gemm.cuh"
#include "minigan.h"

namespace minigan {
namespace {

struct GemmParams {
    int M, N, K;
    const float* A;
    long long lda, sab;  // leading dimension, batch stride
    const float* Ay;     // non-null: A <- act_backward(A, Ay)
    int a_act;
    float a_slope;
    const float* B;
    long long ldb, sbb;
    float* C;
    long long ldc, scz;  // C of the z-th block slice is C + z * scz
    int batch;
    int reduce;                 // 1: sum over items (z = split index); 0: z = item index
    long long tiles_per_split;  // v3, reduce: (item, k-tile) pairs per z-slice
    const float* bias;
    int bias_mode;
    int act;
    float slope;
    int accumulate;
    int a_vec, b_vec, c_vec;  // float4 accesses allowed (alignment + leading dimensions)
};

// ----- scalar element access (v1, v2 and the v3 epilogue) ----------------------------------------

template <bool AK>
__device__ __forceinline__ float load_a(const GemmParams& p, const float* A, const float* Ay, int m,
                                        int k) {
    if (m >= p.M || k >= p.K) return 0.f;
    const long long off = AK ? (long long)m * p.lda + k : (long long)k * p.lda + m;
    float v = A[off];
    if (Ay != nullptr) v = act_backward(v, Ay[off], p.a_act, p.a_slope);
    return v;
}

template <bool BK>
__device__ __forceinline__ float load_b(const GemmParams& p, const float* B, int k, int n) {
    if (k >= p.K || n >= p.N) return 0.f;
    const long long off = BK ? (long long)n * p.ldb + k : (long long)k * p.ldb + n;
    return B[off];
}

__device__ __forceinline__ float epilogue(const GemmParams& p, float acc, int m, int n) {
    float v = acc;
    if (p.bias_mode == BIAS_ROW) {
        v += p.bias[m];
    } else if (p.bias_mode == BIAS_COL) {
        v += p.bias[n];
    }
    return act(v, p.act, p.slope);
}

__device__ __forceinline__ void store_c(const GemmParams& p, float* C, int m, int n, float acc) {
    const long long off = (long long)m * p.ldc + n;
    float v = epilogue(p, acc, m, n);
    if (p.accumulate) v += C[off];
    C[off] = v;
}

// ----- v1: one thread per output ------------------------------------------------------------

template <bool AK, bool BK>
__global__ void gemm_v1_naive(GemmParams p) {
    // The column in 64 bits: blockIdx.x * 16 + threadIdx.x is an unsigned 32-bit sum that
    // stays below 2^31 for N <= 2^31 - 1 only because 16 divides 2^31 (any other block width
    // would wrap the int). After the bounds check n < N <= 2^31 - 1 fits an int.
    const long long n64 = (long long)blockIdx.x * 16 + threadIdx.x;
    const int m = blockIdx.y * 16 + threadIdx.y;  // gridDim.y <= 65535: m < 2^20
    if (m >= p.M || n64 >= p.N) return;
    const int n = (int)n64;
    const int item_begin = p.reduce ? 0 : (int)blockIdx.z;  // gridDim.z <= 65535
    const int item_end = p.reduce ? p.batch : (int)blockIdx.z + 1;
    float acc = 0.f;
    for (int item = item_begin; item < item_end; ++item) {
        const float* A = p.A + item * p.sab;  // item * (long long) stride: 64-bit
        const float* Ay = p.Ay != nullptr ? p.Ay + item * p.sab : nullptr;
        const float* B = p.B + item * p.sbb;
        for (int k = 0; k < p.K; ++k) acc += load_a<AK>(p, A, Ay, m, k) * load_b<BK>(p, B, k, n);
    }
    store_c(p, p.C + (long long)blockIdx.z * p.scz, m, n, acc);
}

// ----- v2: 16x16 shared-memory tiles ----------------------------------------------------------

constexpr int T2 = 16;

template <bool AK, bool BK>
__global__ void gemm_v2_smem(GemmParams p) {
    __shared__ float As[T2][T2 + 1];  // As[m_local][k_local]
    __shared__ float Bs[T2][T2 + 1];  // Bs[k_local][n_local]
    const int tx = threadIdx.x, ty = threadIdx.y;
    // 32-bit is exact: gridDim.y <= 65535 bounds m0; n0 = 16 blockIdx.x is a multiple of 16
    // below N <= 2^31 - 1, so n0 + 15 <= 2^31 - 1.
    const int m0 = blockIdx.y * T2, n0 = blockIdx.x * T2;
    const int item_begin = p.reduce ? 0 : (int)blockIdx.z;  // gridDim.z <= 65535
    const int item_end = p.reduce ? p.batch : (int)blockIdx.z + 1;
    const int ktiles = (int)ceil_div<long long>(p.K, T2);  // K + 15 may overflow an int
    float acc = 0.f;
    for (int item = item_begin; item < item_end; ++item) {
        const float* A = p.A + item * p.sab;
        const float* Ay = p.Ay != nullptr ? p.Ay + item * p.sab : nullptr;
        const float* B = p.B + item * p.sbb;
        // Counted in tiles: `k0 += 16` would overflow past the last tile when K > 2^31 - 16.
        for (int kt = 0; kt < ktiles; ++kt) {
            const int k0 = kt * T2;  // <= K - 1 <= 2^31 - 2, and k0 + 15 <= 2^31 - 1
            // Out-of-range elements load as 0, so every thread takes part in the barriers.
            As[ty][tx] = load_a<AK>(p, A, Ay, m0 + ty, k0 + tx);
            Bs[ty][tx] = load_b<BK>(p, B, k0 + ty, n0 + tx);
            __syncthreads();
#pragma unroll
            for (int kk = 0; kk < T2; ++kk) acc += As[ty][kk] * Bs[kk][tx];
            __syncthreads();
        }
    }
    if (m0 + ty < p.M && n0 + tx < p.N) {
        store_c(p, p.C + (long long)blockIdx.z * p.scz, m0 + ty, n0 + tx, acc);
    }
}

// ----- v3: 128x128 block tile, 8x8 register micro-tiles ---------------------------------------

constexpr int BM3 = 128, BN3 = 128, BK3 = 8, PAD3 = 4, NT3 = 256;

// Loads the 4 consecutive floats src[off .. off + 3] of which the first `valid` exist (the
// rest read as 0): one float4 when allowed and all 4 exist, else scalar loads.
__device__ __forceinline__ void load4(const float* __restrict__ src, long long off, int valid,
                                      int vec, float r[4]) {
    if (vec && valid >= 4) {
        const float4 v = *reinterpret_cast<const float4*>(src + off);
        r[0] = v.x;
        r[1] = v.y;
        r[2] = v.z;
        r[3] = v.w;
    } else {
#pragma unroll
        for (int i = 0; i < 4; ++i) r[i] = i < valid ? src[off + i] : 0.f;
    }
}

template <bool AK, bool BK>
__global__ void __launch_bounds__(NT3, 2) gemm_v3_regblock(GemmParams p) {
    // As[buf][k][m], Bs[buf][k][n]: k-major so the compute loop reads rows of 4 contiguous
    // floats. The +4 padding keeps rows 16-byte aligned and makes the transposed stores
    // (AK / BK layouts) conflict-free.
    __shared__ __align__(16) float As[2][BK3][BM3 + PAD3];
    __shared__ __align__(16) float Bs[2][BK3][BN3 + PAD3];

    const int tid = threadIdx.x;
    const int tx = tid & 15, ty = tid >> 4;  // 16 x 16 threads, each an 8x8 micro-tile
    // 32-bit is exact: m0 is a multiple of 128 below M <= 2^31 - 1 (so m0 + 127 fits), and
    // gridDim.y <= 65535 bounds n0 by 2^23.
    const int m0 = blockIdx.x * BM3, n0 = blockIdx.y * BN3;

    const long long ktiles = ceil_div<long long>(p.K, BK3);
    long long t_begin, t_end;
    int item_base;
    if (p.reduce) {
        t_begin = (long long)blockIdx.z * p.tiles_per_split;
        t_end = min(t_begin + p.tiles_per_split, (long long)p.batch * ktiles);
        item_base = 0;
    } else {
        t_begin = 0;
        t_end = ktiles;
        item_base = (int)blockIdx.z;  // gridDim.z <= 65535
    }

    // The 4 elements of the A tile (BM3 x BK3 = 1024 = 256 x 4) and of the B tile this
    // thread loads: along k when that index is contiguous in memory, else along m / n.
    const int a_i = AK ? (tid >> 1) : (tid >> 5);               // AK: row m offset;  else: k offset
    const int a_j = AK ? ((tid & 1) << 2) : ((tid & 31) << 2);  // AK: k offset; else m offset
    const int b_i = BK ? (tid >> 1) : (tid >> 5);               // BK: column n offset; else k
    const int b_j = BK ? ((tid & 1) << 2) : ((tid & 31) << 2);  // BK: k offset; else n offset

    float ra[4], rb[4];
    float acc[8][8];
#pragma unroll
    for (int i = 0; i < 8; ++i) {
#pragma unroll
        for (int j = 0; j < 8; ++j) acc[i][j] = 0.f;
    }

    // Global -> registers for the t-th (item, k-tile) pair.
    auto load_tiles = [&](long long t) {
        const int item = item_base + (int)(t / ktiles);
        const int k0 = (int)(t % ktiles) * BK3;
        {
            int valid;
            long long off;
            if (AK) {
                const int m = m0 + a_i, k = k0 + a_j;
                valid = m < p.M ? p.K - k : 0;
                off = (long long)m * p.lda + k;
            } else {
                const int k = k0 + a_i, m = m0 + a_j;
                valid = k < p.K ? p.M - m : 0;
                off = (long long)k * p.lda + m;
            }
            const long long base = (long long)item * p.sab;
            load4(p.A + base, off, valid, p.a_vec, ra);
            if (p.Ay != nullptr) {
                float ry[4];
                load4(p.Ay + base, off, valid, p.a_vec, ry);
#pragma unroll
                for (int i = 0; i < 4; ++i) ra[i] = act_backward(ra[i], ry[i], p.a_act, p.a_slope);
            }
        }
        {
            int valid;
            long long off;
            if (BK) {
                const int n = n0 + b_i, k = k0 + b_j;
                valid = n < p.N ? p.K - k : 0;
                off = (long long)n * p.ldb + k;
            } else {
                const int k = k0 + b_i, n = n0 + b_j;
                valid = k < p.K ? p.N - n : 0;
                off = (long long)k * p.ldb + n;
            }
            load4(p.B + (long long)item * p.sbb, off, valid, p.b_vec, rb);
        }
    };

    // Registers -> shared buffer `buf`.
    auto store_tiles = [&](int buf) {
        if (AK) {
#pragma unroll
            for (int i = 0; i < 4; ++i) As[buf][a_j + i][a_i] = ra[i];
        } else {
            *reinterpret_cast<float4*>(&As[buf][a_i][a_j]) =
                make_float4(ra[0], ra[1], ra[2], ra[3]);
        }
        if (BK) {
#pragma unroll
            for (int i = 0; i < 4; ++i) Bs[buf][b_j + i][b_i] = rb[i];
        } else {
            *reinterpret_cast<float4*>(&Bs[buf][b_i][b_j]) =
                make_float4(rb[0], rb[1], rb[2], rb[3]);
        }
    };

    if (t_begin < t_end) {  // block-uniform, so the barriers below are safe
        load_tiles(t_begin);
        store_tiles(0);
        __syncthreads();
        int buf = 0;
        for (long long t = t_begin; t < t_end; ++t) {
            const bool has_next = t + 1 < t_end;
            if (has_next) load_tiles(t + 1);  // in flight while we multiply
#pragma unroll
            for (int kk = 0; kk < BK3; ++kk) {
                const float4 a0 = *reinterpret_cast<const float4*>(&As[buf][kk][ty * 4]);
                const float4 a1 = *reinterpret_cast<const float4*>(&As[buf][kk][64 + ty * 4]);
                const float4 b0 = *reinterpret_cast<const float4*>(&Bs[buf][kk][tx * 4]);
                const float4 b1 = *reinterpret_cast<const float4*>(&Bs[buf][kk][64 + tx * 4]);
                const float a[8] = {a0.x, a0.y, a0.z, a0.w, a1.x, a1.y, a1.z, a1.w};
                const float b[8] = {b0.x, b0.y, b0.z, b0.w, b1.x, b1.y, b1.z, b1.w};
#pragma unroll
                for (int i = 0; i < 8; ++i) {
#pragma unroll
                    for (int j = 0; j < 8; ++j) acc[i][j] = fmaf(a[i], b[j], acc[i][j]);
                }
            }
            // The other buffer was last read in the previous iteration, before the barrier
            // that ended it, so it can be overwritten now.
            if (has_next) store_tiles(buf ^ 1);
            __syncthreads();
            buf ^= 1;
        }
    }

    // Epilogue: rows ty*4 + {0..3} and 64 + ty*4 + {0..3}; columns likewise with tx.
    float* C = p.C + (long long)blockIdx.z * p.scz;
#pragma unroll
    for (int i = 0; i < 8; ++i) {
        const int m = m0 + (i < 4 ? ty * 4 + i : 64 + ty * 4 + (i - 4));
        if (m >= p.M) continue;
#pragma unroll
        for (int h = 0; h < 2; ++h) {
            const int n = n0 + h * 64 + tx * 4;
            const long long off = (long long)m * p.ldc + n;
            if (p.c_vec && n + 3 < p.N) {
                float v[4];
#pragma unroll
                for (int j = 0; j < 4; ++j) v[j] = epilogue(p, acc[i][h * 4 + j], m, n + j);
                if (p.accumulate) {
                    const float4 old = *reinterpret_cast<const float4*>(C + off);
                    v[0] += old.x;
                    v[1] += old.y;
                    v[2] += old.z;
                    v[3] += old.w;
                }
                *reinterpret_cast<float4*>(C + off) = make_float4(v[0], v[1], v[2], v[3]);
            } else {
#pragma unroll
                for (int j = 0; j < 4; ++j) {
                    if (n + j < p.N) store_c(p, C, m, n + j, acc[i][h * 4 + j]);
                }
            }
        }
    }
}

// C[m, n] (= or +=) sum_z partials[z][m][n] (partials are dense M x N slices).
__global__ void gemm_sum_partials(const float* __restrict__ partials, float* __restrict__ C, int M,
                                  int N, long long ldc, int splits, int accumulate) {
    const long long total = (long long)M * N;
    for (long long idx = blockIdx.x * (long long)blockDim.x + threadIdx.x; idx < total;
         idx += (long long)gridDim.x * blockDim.x) {
        float s = 0.f;
        for (int z = 0; z < splits; ++z) s += partials[z * total + idx];
        const long long off = (idx / N) * ldc + idx % N;
        C[off] = accumulate ? C[off] + s : s;
    }
}

// ----- bias-gradient reductions -----------------------------------------------------------------

__global__ void channel_sum_kernel(const float* __restrict__ g, float* __restrict__ out,
                                   long long N, int C, int P, int accumulate) {
    const int c = blockIdx.x;  // gridDim.x = C <= 2^31 - 1
    // Walk the elements e = tid, tid + blockDim, ... of channel c as (n, p) = divmod(e, P),
    // stepping (n, p) without a division per element. p in 64 bits: p + dr reaches
    // P - 1 + 255, past 2^31 - 1 when P is within 255 of it.
    long long n = threadIdx.x / P;
    long long p = threadIdx.x % P;
    const int dq = blockDim.x / P, dr = blockDim.x % P;
    float s = 0.f;
    while (n < N) {
        s += g[(n * C + c) * P + p];
        n += dq;
        p += dr;
        if (p >= P) {
            p -= P;
            ++n;
        }
    }
    s = block_reduce_sum(s);
    if (threadIdx.x == 0) out[c] = accumulate ? out[c] + s : s;
}

__global__ void column_sum_act_kernel(const float* __restrict__ dy, const float* __restrict__ y,
                                      int act_kind, float slope, float* __restrict__ out,
                                      long long rows, int cols) {
    __shared__ float red[8][33];
    const int lane = threadIdx.x & 31, row_lane = threadIdx.x >> 5;  // 256 threads = 8 x 32
    // 32-bit is exact: 32 blockIdx.x is a multiple of 32 below cols <= 2^31 - 1, so
    // 32 blockIdx.x + 31 <= 2^31 - 1.
    const int j = blockIdx.x * 32 + lane;
    float s = 0.f;
    if (j < cols) {
        for (long long i = row_lane; i < rows; i += 8) {
            const long long off = i * cols + j;
            s += y != nullptr ? act_backward(dy[off], y[off], act_kind, slope) : dy[off];
        }
    }
    red[row_lane][lane] = s;
    __syncthreads();
    if (row_lane == 0 && j < cols) {
        float t = 0.f;
#pragma unroll
        for (int r = 0; r < 8; ++r) t += red[r][lane];
        out[j] = t;
    }
}

// ----- host side ---------------------------------------------------------------------------

template <bool AK, bool BK>
void launch(int version, const GemmParams& p, int zcount, cudaStream_t stream,
            const std::string& name) {
    // gemm() slices batches and bounds splits so that this never triggers.
    check_range(name, "GEMM gridDim.z", zcount, 1, kMaxGridYZ);
    if (version == 3) {
        const unsigned gx = ceil_div<unsigned>(p.M, BM3), gy = ceil_div<unsigned>(p.N, BN3);
        if (gy > kMaxGridYZ) {
            invalid(name, "GEMM N=" + std::to_string(p.N) + " is outside [0, " +
                              std::to_string(kMaxGridYZ * BN3) + "] (gridDim.y = N / " +
                              std::to_string(BN3) + " <= 65535)");
        }
        launch_kernel((name + ": gemm_v3_regblock"), gemm_v3_regblock<AK, BK>, dim3(gx, gy, zcount),
                      NT3, 0, stream, p);
        return;
    }
    const unsigned gx = ceil_div<unsigned>(p.N, 16), gy = ceil_div<unsigned>(p.M, 16);
    if (gy > kMaxGridYZ) {
        invalid(name, "GEMM M=" + std::to_string(p.M) + " is outside [0, " +
                          std::to_string(kMaxGridYZ * 16) + "] (gridDim.y = M / 16 <= 65535)");
    }
    if (version == 2) {
        launch_kernel((name + ": gemm_v2_smem"), gemm_v2_smem<AK, BK>, dim3(gx, gy, zcount),
                      dim3(16, 16), 0, stream, p);
    } else {
        launch_kernel((name + ": gemm_v1_naive"), gemm_v1_naive<AK, BK>, dim3(gx, gy, zcount),
                      dim3(16, 16), 0, stream, p);
    }
}

// Only three of the four operand layouts <a_kcontig, b_kcontig> have a caller:
//   <true, true>   linear_act forward, conv weight gradient (and gemm_probe)
//   <true, false>  linear_act dx, conv forward
//   <false, false> linear_act dw, conv input gradient
// <false, true> (an m-contiguous A with a k-contiguous B) was compiled too, in all three
// versions and for every arch, but never launched; it is no longer instantiated, and gemm()
// rejects it before reaching here.
void dispatch(int version, const GemmParams& p, bool a_kcontig, bool b_kcontig, int zcount,
              cudaStream_t stream, const std::string& name) {
    if (a_kcontig && b_kcontig) {
        launch<true, true>(version, p, zcount, stream, name);
    } else if (a_kcontig) {
        launch<true, false>(version, p, zcount, stream, name);
    } else {
        launch<false, false>(version, p, zcount, stream, name);
    }
}

// The GEMM's own checks (its callers check their arguments first, with their names; these
// keep a future caller from reaching the device with a bad GemmArgs).
void validate(const GemmArgs& g, const std::string& name) {
    check_size(name, "GEMM M", g.M);
    check_size(name, "GEMM N", g.N);
    check_size(name, "GEMM K", g.K);
    check_size(name, "GEMM batch", g.batch);
    check_range(name, "GEMM splits", g.splits, 1, kMaxGridYZ,
                "the reduction is split over gridDim.z");
    check_act(name, g.act);
    check_act(name, g.a_act);
    if (!g.a_kcontig && g.b_kcontig) {
        invalid(name,
                "GEMM layout a_kcontig=false, b_kcontig=true is not compiled (no caller uses it)");
    }
    const int64_t items = g.batch > 0 ? 1 : 0;
    const int64_t a_count = items * g.M * g.K;  // each factor <= 2^31 - 1: no overflow
    const int64_t b_count = items * g.K * g.N;
    // A reduction over zero items still writes C (zeros, or C unchanged when accumulating).
    const int64_t c_count = (g.reduce_batch ? 1 : items) * g.M * g.N;
    check_ptr(name, "GEMM A", g.A, a_count);
    // a_act needs a_act_y, unless A is empty: CuPy passes null for every empty array.
    if (g.a_act != ACT_NONE) check_ptr(name, "GEMM a_act_y", g.a_act_y, a_count);
    check_ptr(name, "GEMM B", g.B, b_count);
    check_ptr(name, "GEMM C", g.C, c_count);
    if (a_count > 0) check_range(name, "GEMM lda", g.lda, g.a_kcontig ? g.K : g.M, kInt64Max);
    if (b_count > 0) check_range(name, "GEMM ldb", g.ldb, g.b_kcontig ? g.K : g.N, kInt64Max);
    if (c_count > 0) check_range(name, "GEMM ldc", g.ldc, g.N, kInt64Max);
    check_range(name, "GEMM a_batch_stride", g.a_batch_stride, 0, kInt64Max);
    check_range(name, "GEMM b_batch_stride", g.b_batch_stride, 0, kInt64Max);
    check_range(name, "GEMM c_batch_stride", g.c_batch_stride, 0, kInt64Max);
}

}  // namespace

void gemm(const GemmArgs& g, cudaStream_t stream, const char* caller) {
    const std::string name = caller;
    validate(g, name);
    if (g.M == 0 || g.N == 0) return;
    if (!g.reduce_batch && g.batch == 0) return;

    const int version = kernel_version(FAMILY_GEMM);
    if (g.reduce_batch && version == 3 && g.splits > 1 &&
        (g.partials == nullptr || g.bias_mode != BIAS_NONE || g.act != ACT_NONE)) {
        invalid(caller, "split GEMM needs a partials buffer and no bias / activation epilogue");
    }
    // More splits than (item, k-tile) pairs would only add z-slices with nothing to sum.
    const int64_t total_tiles = g.batch * ceil_div<int64_t>(g.K, BK3);  // < 2^59
    const int splits = (int)std::min<int64_t>(g.splits, std::max<int64_t>(1, total_tiles));
    const bool split = g.reduce_batch && version == 3 && splits > 1;

    GemmParams p{};
    p.M = (int)g.M;
    p.N = (int)g.N;
    p.K = (int)g.K;
    p.A = g.A;
    p.lda = g.lda;
    p.sab = g.a_batch_stride;
    p.Ay = g.a_act == ACT_NONE ? nullptr : g.a_act_y;
    p.a_act = g.a_act;
    p.a_slope = g.a_slope;
    p.B = g.B;
    p.ldb = g.ldb;
    p.sbb = g.b_batch_stride;
    p.bias = g.bias;
    p.bias_mode = g.bias == nullptr ? BIAS_NONE : g.bias_mode;
    p.act = g.act;
    p.slope = g.slope;
    p.a_vec = aligned16(g.A) && g.lda % 4 == 0 && g.a_batch_stride % 4 == 0 &&
              (p.Ay == nullptr || aligned16(p.Ay));
    p.b_vec = aligned16(g.B) && g.ldb % 4 == 0 && g.b_batch_stride % 4 == 0;

    if (g.reduce_batch) {
        p.batch = (int)g.batch;
        p.reduce = 1;
        p.tiles_per_split =
            std::max<long long>(1, ceil_div<long long>(total_tiles, split ? splits : 1));
        if (split) {
            p.C = g.partials;
            p.ldc = g.N;
            p.scz = g.M * g.N;
            p.accumulate = 0;
        } else {
            p.C = g.C;
            p.ldc = g.ldc;
            p.scz = 0;
            p.accumulate = g.accumulate;
        }
        p.c_vec = aligned16(p.C) && p.ldc % 4 == 0 && p.scz % 4 == 0;
        dispatch(version, p, g.a_kcontig, g.b_kcontig, split ? splits : 1, stream, name);
        if (split) {
            const long long total = g.M * g.N;
            const int blocks = (int)std::min<long long>(ceil_div<long long>(total, 256), 4096);
            launch_kernel((name + ": gemm_sum_partials"), gemm_sum_partials, blocks, 256, 0, stream,
                          g.partials, g.C, p.M, p.N, g.ldc, splits, g.accumulate);
        }
        return;
    }

    // One product per item; gridDim.z <= 65535, so large batches go in slices.
    p.reduce = 0;
    p.tiles_per_split = 0;
    p.ldc = g.ldc;
    p.scz = g.c_batch_stride;
    p.accumulate = g.accumulate;
    for (int64_t i0 = 0; i0 < g.batch; i0 += kMaxGridYZ) {
        const int64_t nb = std::min<int64_t>(kMaxGridYZ, g.batch - i0);
        p.batch = (int)nb;
        p.A = g.A + i0 * g.a_batch_stride;
        p.Ay = g.a_act == ACT_NONE ? nullptr : g.a_act_y + i0 * g.a_batch_stride;
        p.B = g.B + i0 * g.b_batch_stride;
        p.C = g.C + i0 * g.c_batch_stride;
        p.c_vec = aligned16(p.C) && p.ldc % 4 == 0 && p.scz % 4 == 0;
        p.a_vec = aligned16(p.A) && g.lda % 4 == 0 && g.a_batch_stride % 4 == 0 &&
                  (p.Ay == nullptr || aligned16(p.Ay));
        p.b_vec = aligned16(p.B) && g.ldb % 4 == 0 && g.b_batch_stride % 4 == 0;
        dispatch(version, p, g.a_kcontig, g.b_kcontig, (int)nb, stream, name);
    }
}

void channel_sum(const float* g, float* out, int64_t N, int64_t C, int64_t P, bool accumulate,
                 cudaStream_t stream, const char* caller) {
    const std::string name = std::string(caller) + ": channel_sum_kernel";
    check_range(name, "N", N, 0, kInt64Max);
    check_size(name, "C", C);
    if (C == 0) return;
    check_range(name, "P", P, 1, kInt32Max);
    check_ptr(name, "out", out, C);
    check_ptr(name, "g", g, checked_mul(name, "g (N*C*P)", {N, C, P}));
    launch_kernel(name, channel_sum_kernel, (unsigned)C, 256, 0, stream, g, out, N, (int)C, (int)P,
                  accumulate);
}

void column_sum_act(const float* dy, const float* y, int act_kind, float slope, float* out,
                    int64_t rows, int64_t cols, cudaStream_t stream, const char* caller) {
    const std::string name = std::string(caller) + ": column_sum_act_kernel";
    check_range(name, "rows", rows, 0, kInt64Max);
    check_size(name, "cols", cols);
    check_act(name, act_kind);
    if (cols == 0) return;
    const int64_t count = checked_mul(name, "dy (rows*cols)", {rows, cols});
    check_ptr(name, "out", out, cols);
    check_ptr(name, "dy", dy, count);
    if (act_kind != ACT_NONE) check_ptr(name, "y", y, count);
    const unsigned blocks = ceil_div<unsigned>((unsigned)cols, 32);
    launch_kernel(name, column_sum_act_kernel, blocks, 256, 0, stream, dy,
                  act_kind == ACT_NONE ? nullptr : y, act_kind, slope, out, rows, (int)cols);
}

const char* gemm_probe_kernel_name() { return "gemm_v3_regblock"; }

// <true, true> is a launched instantiation (linear_act forward, conv weight gradient), so
// the probe adds no kernel of its own.
cudaError_t gemm_probe() {
    cudaFuncAttributes attr;
    return cudaFuncGetAttributes(&attr, gemm_v3_regblock<true, true>);
}

// nvcc defines __CUDA_ARCH_LIST__ (e.g. 800,900) in every pass of a .cu file, host pass
// included; the emulated build (host C++) does not.
#define MINIGAN_STRINGIFY_(...) #__VA_ARGS__
#define MINIGAN_STRINGIFY(...) MINIGAN_STRINGIFY_(__VA_ARGS__)
const char* cuda_arch_list() {
#ifdef __CUDA_ARCH_LIST__
    return MINIGAN_STRINGIFY(__CUDA_ARCH_LIST__);
#else
    return "unknown";
#endif
}

}  // namespace minigan
