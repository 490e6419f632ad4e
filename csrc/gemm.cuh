// csrc/gemm.cuh: the one GEMM core shared by linear_act and conv2d / conv_transpose2d, and
// the bias-gradient reductions that go with it (implemented in gemm.cu).
//
//   C[m, n] (=, or += with accumulate) epilogue( sum_k A(m, k) * B(k, n) )
//
// Operands are described by strides instead of being copied into a fixed layout, so one
// kernel serves the transpositions its callers use (a_kcontig, b_kcontig) = (true, true),
// (true, false), (false, false); (false, true) has no caller, is not compiled, and gemm()
// refuses it:
//   A(m, k) = A[m * lda + k]  when a_kcontig (the reduction index is contiguous)
//           = A[k * lda + m]  otherwise      (the row index m is contiguous)
//   B(k, n) = B[n * ldb + k]  when b_kcontig
//           = B[k * ldb + n]  otherwise      (the column index n is contiguous)
//   C[m, n] = C[m * ldc + n]  (always row-major)
// Optional fusions:
//   * A prologue: A(m, k) <- act_backward(A(m, k), Y(m, k)) where Y (a_act_y) has A's
//     layout; this is dz = dy * act'(y) computed while loading dy (linear_act backward);
//   * epilogue: + bias[m] (BIAS_ROW) or bias[n] (BIAS_COL), then act(), then (accumulate)
//     + the old C.
// Batches: `batch` items, item i reading A + i * a_batch_stride, B + i * b_batch_stride.
//   * reduce_batch = false: one product per item, C_i = C + i * c_batch_stride;
//   * reduce_batch = true: C = sum over the items (conv weight gradients sum over images);
//     version 3 may then split the (item, k) reduction over `splits` thread blocks that
//     write `partials` (splits * M * N floats), summed into C by a second small kernel.
#pragma once

#include <cstdint>

#include "common.cuh"

namespace minigan {

enum BiasMode : int { BIAS_NONE = 0, BIAS_ROW = 1, BIAS_COL = 2 };

struct GemmArgs {
    int64_t M = 0, N = 0, K = 0;
    const float* A = nullptr;
    int64_t lda = 0, a_batch_stride = 0;
    bool a_kcontig = true;
    const float* a_act_y = nullptr;  // non-null: fuse dz = dy * act'(y) into the A loads
    int a_act = ACT_NONE;
    float a_slope = 0.f;
    const float* B = nullptr;
    int64_t ldb = 0, b_batch_stride = 0;
    bool b_kcontig = true;
    float* C = nullptr;
    int64_t ldc = 0, c_batch_stride = 0;
    int64_t batch = 1;
    bool reduce_batch = false;
    const float* bias = nullptr;
    int bias_mode = BIAS_NONE;
    int act = ACT_NONE;
    float slope = 0.f;
    bool accumulate = false;
    int splits = 1;             // reduce_batch only; needs partials when > 1
    float* partials = nullptr;  // splits * M * N floats
};

// Runs the GEMM with the version chosen by kernel_version(FAMILY_GEMM). `caller` names the
// kernel family in error messages.
void gemm(const GemmArgs& args, cudaStream_t stream, const char* caller);

inline int64_t gemm_partials_floats(int64_t M, int64_t N, int splits) {
    return splits > 1 ? static_cast<int64_t>(splits) * M * N : 0;
}

// out[c] (=, or += with accumulate) sum_{n, p} g[(n * C + c) * P + p]: the bias gradient
// of an NCHW tensor (P = H * W). One block per channel.
void channel_sum(const float* g, float* out, int64_t N, int64_t C, int64_t P, bool accumulate,
                 cudaStream_t stream, const char* caller);

// out[j] = sum_i act_backward(dy[i * cols + j], y[i * cols + j]) over rows i: the bias
// gradient of linear_act with dz = dy * act'(y) computed on the fly (y may be null when
// act == ACT_NONE).
void column_sum_act(const float* dy, const float* y, int act, float slope, float* out, int64_t rows,
                    int64_t cols, cudaStream_t stream, const char* caller);

}  // namespace minigan
