// csrc/minigan.h: the host launchers of every kernel family (plain C++: raw device
// pointers, sizes and the CUDA stream to launch on), as called by bindings.cpp.
//
// Conventions for every launcher:
//   * tensors are float32, C-contiguous: row-major matrices, NCHW images;
//   * outputs are written with `=` (the launchers never read them first), except the
//     in-place updates that say so (batchnorm running statistics, Adam's p, m, v);
//   * a null output pointer means "not needed" where the comment says so;
//   * nothing is allocated: scratch memory ("workspace") is passed in by the caller, with
//     its size in floats; *_workspace_floats() says how much a call needs;
//   * work is queued on `stream` and not waited for; a launch error throws
//     std::runtime_error naming the kernel, a bad argument std::invalid_argument;
//   * every launcher validates its own arguments before any CUDA call (the Python bindings
//     are not the only caller): sizes in range, pointers non-null where they must hold
//     elements, size products free of int64 overflow, split counts and chunks within the
//     grid limits (1..65535). The checks and their messages are csrc/checks.h's.
#pragma once

#include <cuda_runtime_api.h>

#include <atomic>
#include <cstdint>

namespace minigan {

// ----- kernel versions ------------------------------------------------------------------------
// Each family keeps its simple versions next to the fast one, so that the fast one can be
// tested against them. 0 = automatic (the fastest); see the file headers for the list.
enum KernelFamily : int {
    FAMILY_GEMM = 0,         // linear_act and the GEMMs inside conv: 1 naive, 2 smem, 3 register
    FAMILY_BATCHNORM = 1,    // 1 one thread per channel, 2 block per channel (group)
    FAMILY_SIGMOID_BCE = 2,  // 1 scalar grid-stride, 2 float4 grid-stride
    FAMILY_ADAM = 3,         // 1 flat index + binary search, 2 blockIdx.y = tensor, float4
    NUM_FAMILIES = 4,
};
constexpr int kMaxVersion[NUM_FAMILIES] = {3, 2, 2, 2};

// One process-wide slot per family (an inline function's static is shared by every
// translation unit of the module).
inline std::atomic<int>& kernel_version_slot(int family) {
    static std::atomic<int> slots[NUM_FAMILIES] = {};
    return slots[family];
}
// The version to run: the slot, or the family's fastest when the slot is 0.
inline int kernel_version(int family) {
    const int v = kernel_version_slot(family).load();
    return v == 0 ? kMaxVersion[family] : v;
}

// ----- linear_act (linear_act.cu) -------------------------------------------------------------
// y (N, M) = act(x (N, K) . w (M, K)^T + b (M,)); b may be null.
void linear_act_forward(const float* x, const float* w, const float* b, float* y, int64_t N,
                        int64_t K, int64_t M, int act, float slope, cudaStream_t stream);

// dz = dy * act'(y) (fused into the operand loads), dx (N, K) = dz . w, dw (M, K) = dz^T . x,
// db (M,) = sum_n dz. Null dx / dw / db: not computed. dw may split its reduction over N
// into `splits` (1..65535) partial products (workspace: linear_act_workspace_floats floats).
void linear_act_backward(const float* dy, const float* x, const float* w, const float* y, float* dx,
                         float* dw, float* db, int64_t N, int64_t K, int64_t M, int act,
                         float slope, float* workspace, int64_t workspace_floats, int splits,
                         cudaStream_t stream);
int64_t linear_act_workspace_floats(int64_t K, int64_t M, int splits);

// ----- conv2d / conv_transpose2d (conv2d.cu) -----------------------------------------------------
// The geometry of one conv2d: input (N, C, H, W), weight (O, C, kh, kw), output
// (N, O, Ho, Wo) with Ho = (H + 2 ph - kh) / sh + 1. A conv_transpose2d is described by the
// conv2d it is the adjoint of: its input is that conv2d's output (N, O=Cin, Ho=Hin, Wo=Win)
// and its output that conv2d's input (N, C=Cout, H=Hout, W=Wout).
struct ConvGeometry {
    int64_t N, C, H, W, O, kh, kw, sh, sw, ph, pw, Ho, Wo;
};
constexpr int kConvGeometryFields = 13;

// Workspace of one call: `chunk` (1..65535) images of im2col columns (C kh kw x Ho Wo floats
// each) plus, when the weight gradient is split `splits` > 1 ways (at most 65535), the
// partial weight gradients.
int64_t conv_workspace_floats(const ConvGeometry& g, int64_t chunk, int splits, bool weight_grad);

void conv2d_forward(const float* x, const float* w, const float* b, float* y, const ConvGeometry& g,
                    float* workspace, int64_t workspace_floats, int64_t chunk, cudaStream_t stream);
void conv2d_backward(const float* dy, const float* x, const float* w, float* dx, float* dw,
                     float* db, const ConvGeometry& g, float* workspace, int64_t workspace_floats,
                     int64_t chunk, int splits, cudaStream_t stream);
void conv_transpose2d_forward(const float* x, const float* w, const float* b, float* y,
                              const ConvGeometry& g, float* workspace, int64_t workspace_floats,
                              int64_t chunk, cudaStream_t stream);
void conv_transpose2d_backward(const float* dy, const float* x, const float* w, float* dx,
                               float* dw, float* db, const ConvGeometry& g, float* workspace,
                               int64_t workspace_floats, int64_t chunk, int splits,
                               cudaStream_t stream);

// ----- batchnorm (batchnorm.cu) ----------------------------------------------------------------
// x viewed as (N, C, P): P = H * W for images, 1 for (N, C). gamma / beta / running stats
// may be null. Writes y, mean (C,), invstd (C,); updates running_mean / running_var in place.
void batchnorm_forward_train(const float* x, const float* gamma, const float* beta,
                             float* running_mean, float* running_var, float* y, float* mean,
                             float* invstd, int64_t N, int64_t C, int64_t P, double momentum,
                             double eps, cudaStream_t stream);
void batchnorm_forward_eval(const float* x, const float* gamma, const float* beta,
                            const float* running_mean, const float* running_var, float* y,
                            float* mean, float* invstd, int64_t N, int64_t C, int64_t P, double eps,
                            cudaStream_t stream);
// Null dx / dgamma / dbeta: not computed; gamma null means gamma = 1.
void batchnorm_backward(const float* dy, const float* x, const float* gamma, const float* mean,
                        const float* invstd, float* dx, float* dgamma, float* dbeta, int64_t N,
                        int64_t C, int64_t P, bool training, cudaStream_t stream);

// ----- activation (activation.cu) -----------------------------------------------------------
// y = act(x) and dx = dy * act'(x) (read off y) over n flat elements; act_kind is a code of
// the Activation enum (common.cuh), slope leaky_relu's (>= 0). n = 0 launches nothing.
void activation_forward(const float* x, float* y, int64_t n, int act_kind, float slope,
                        cudaStream_t stream);
void activation_backward(const float* dy, const float* y, float* dx, int64_t n, int act_kind,
                         float slope, cudaStream_t stream);

// ----- sigmoid_bce (sigmoid_bce.cu) --------------------------------------------------------------
// loss (a single float) and dlogits (n,) from logits and targets (n,). `partials` holds
// num_partials >= 1 floats of per-block partial sums.
void sigmoid_bce_forward_backward(const float* logits, const float* targets, float* loss,
                                  float* dlogits, int64_t n, bool mean, float* partials,
                                  int64_t num_partials, cudaStream_t stream);

// ----- adam (adam.cu) ------------------------------------------------------------------------
// `table` is a DEVICE array of 6 T uint64: T param pointers, T grad pointers, T exp_avg
// pointers, T exp_avg_sq pointers, T sizes (elements), T exclusive prefix sums of the sizes.
// max_numel / total_numel: the largest size and the sum (host values, for the grid).
void adam_step(const uint64_t* table, int64_t num_tensors, int64_t max_numel, int64_t total_numel,
               int64_t step, double lr, double beta1, double beta2, double eps, double weight_decay,
               cudaStream_t stream);

// ----- runtime ------------------------------------------------------------------------------
// "" when a device is usable by this module's kernels, else why not (no driver, no GPU,
// driver too old for this CUDA runtime, no kernel image for the GPU's architecture).
const char* gemm_probe_kernel_name();
cudaError_t gemm_probe();
// The architectures this module's kernels were compiled for: nvcc's __CUDA_ARCH_LIST__ as
// a string ("800,900": compute capability x 100, ascending), or "unknown" when the .cu
// files were not compiled by nvcc (the emulated build).
const char* cuda_arch_list();

}  // namespace minigan
