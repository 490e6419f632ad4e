// csrc/linear_act.cu: the dense layer y = act(x W^T + b), forward and backward, as three
// calls of the GEMM core (gemm.cu) plus one column reduction.
//
// Shapes and layout (float32, row-major, C-contiguous):
//   x (N, K), W (M, K) (PyTorch Linear layout), b (M,) or null, y (N, M), dy (N, M).
// Forward (y written with `=`):
//   y = act(x . W^T + b)          GEMM (N x M, reduction K), A = x (k-contiguous),
//                                 B(k, j) = W[j, k] (k-contiguous), bias + act epilogue
// Backward (dx, dW, db written with `=`; a null pointer skips that gradient):
//   dz = dy * act'(y)             NOT materialised: fused into the loads of dy in the
//                                 GEMMs' A operand (and in the db reduction)
//   dx = dz . W                   GEMM (N x K, reduction M), A = dz (k-contiguous),
//                                 B = W (n-contiguous)
//   dW = dz^T . x                 GEMM (M x K, reduction N), A(m, n) = dz[n, m]
//                                 (m-contiguous), B = x (n-contiguous); the reduction over
//                                 the batch N may be split `splits` ways (split-K) into a
//                                 workspace of splits * M * K floats, then summed
//   db = sum_n dz                 column_sum_act (32 columns per block)
// Versions: those of the GEMM core (v1 naive, v2 shared-memory tiles, v3 register-blocked
// 128x128x8 with 8x8 micro-tiles; see gemm.cu), chosen by kernel_version(FAMILY_GEMM).
#include <string>

#include "checks.h"
#include "gemm.cuh"
#include "minigan.h"

namespace minigan {

namespace {

void check_sizes(const char* name, int64_t N, int64_t K, int64_t M) {
    check_size(name, "N", N);
    check_size(name, "K", K);
    check_size(name, "M", M);
}

// splits * M * K floats (0 for splits = 1), checked for overflow.
int64_t workspace_floats_for(const char* name, int64_t K, int64_t M, int splits) {
    if (splits > 1) checked_mul(name, "workspace (splits*M*K)", {splits, M, K});
    return gemm_partials_floats(M, K, splits);
}

}  // namespace

int64_t linear_act_workspace_floats(int64_t K, int64_t M, int splits) {
    const char* name = "linear_act_workspace_floats";
    check_size(name, "K", K);
    check_size(name, "M", M);
    check_splits(name, splits);
    return workspace_floats_for(name, K, M, splits);
}

void linear_act_forward(const float* x, const float* w, const float* b, float* y, int64_t N,
                        int64_t K, int64_t M, int act_kind, float slope, cudaStream_t stream) {
    const char* name = "linear_act_forward";
    check_sizes(name, N, K, M);
    check_act(name, act_kind);
    check_ptr(name, "x", x, checked_mul(name, "x (N*K)", {N, K}));
    check_ptr(name, "w", w, checked_mul(name, "w (M*K)", {M, K}));
    check_ptr(name, "y", y, checked_mul(name, "y (N*M)", {N, M}));
    GemmArgs g;
    g.M = N;
    g.N = M;
    g.K = K;
    g.A = x;
    g.lda = K;
    g.a_kcontig = true;
    g.B = w;
    g.ldb = K;
    g.b_kcontig = true;
    g.C = y;
    g.ldc = M;
    g.bias = b;
    g.bias_mode = BIAS_COL;
    g.act = act_kind;
    g.slope = slope;
    gemm(g, stream, name);
}

void linear_act_backward(const float* dy, const float* x, const float* w, const float* y, float* dx,
                         float* dw, float* db, int64_t N, int64_t K, int64_t M, int act_kind,
                         float slope, float* workspace, int64_t workspace_floats, int splits,
                         cudaStream_t stream) {
    const char* name = "linear_act_backward";
    check_sizes(name, N, K, M);
    check_act(name, act_kind);
    check_splits(name, splits);
    check_range(name, "workspace_floats", workspace_floats, 0, kInt64Max);
    const int64_t nm = checked_mul(name, "dy (N*M)", {N, M});
    check_ptr(name, "dy", dy, nm);
    if (act_kind != ACT_NONE) check_ptr(name, "y", y, nm);  // act'(y) is read off y
    if (dw != nullptr) check_ptr(name, "x", x, checked_mul(name, "x (N*K)", {N, K}));
    if (dx != nullptr) check_ptr(name, "w", w, checked_mul(name, "w (M*K)", {M, K}));
    check_ptr(name, "workspace", workspace, workspace_floats);
    const int64_t need = dw != nullptr ? workspace_floats_for(name, K, M, splits) : 0;
    if (workspace_floats < need) {
        invalid(name, "workspace of " + std::to_string(workspace_floats) +
                          " floats is smaller than the " + std::to_string(need) +
                          " needed for splits=" + std::to_string(splits));
    }
    if (dx != nullptr) {
        GemmArgs g;
        g.M = N;
        g.N = K;
        g.K = M;
        g.A = dy;
        g.lda = M;
        g.a_kcontig = true;
        g.a_act_y = y;
        g.a_act = act_kind;
        g.a_slope = slope;
        g.B = w;
        g.ldb = K;
        g.b_kcontig = false;
        g.C = dx;
        g.ldc = K;
        gemm(g, stream, name);
    }
    if (dw != nullptr) {
        GemmArgs g;
        g.M = M;
        g.N = K;
        g.K = N;
        g.A = dy;
        g.lda = M;
        g.a_kcontig = false;
        g.a_act_y = y;
        g.a_act = act_kind;
        g.a_slope = slope;
        g.B = x;
        g.ldb = K;
        g.b_kcontig = false;
        g.C = dw;
        g.ldc = K;
        g.batch = 1;
        g.reduce_batch = true;
        g.splits = splits;
        g.partials = splits > 1 ? workspace : nullptr;
        gemm(g, stream, name);
    }
    if (db != nullptr) column_sum_act(dy, y, act_kind, slope, db, N, M, stream, name);
}

}  // namespace minigan
