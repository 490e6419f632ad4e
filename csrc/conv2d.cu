// csrc/conv2d.cu: conv2d and conv_transpose2d (PyTorch semantics, dilation 1, groups 1),
// forward and backward, as im2col / col2im + the GEMM core (gemm.cu).
//
// Layout: NCHW float32, C-contiguous. conv2d: x (N, C, H, W), w (O, C, kh, kw), b (O,),
// y (N, O, Ho, Wo) with Ho = (H + 2 ph - kh) / sh + 1. conv_transpose2d: x (N, Cin, Hin,
// Win), w (Cin, Cout, kh, kw), b (Cout,), y (N, Cout, Hout, Wout). Every output (y, dx, dw,
// db) is written with `=`.
//
// Why im2col + GEMM (and not an implicit GEMM): it reuses the one tested GEMM core
// unchanged, and the gather / scatter is a separate, trivially checkable kernel. The cost
// is one extra write + read of the column matrix per call, through a workspace that the
// Python wrapper allocates (the extension never allocates); images are processed in chunks
// so the workspace stays bounded. An implicit-GEMM loader is the next step for speed.
//
// Everything is expressed on ONE conv2d geometry (ConvGeometry in minigan.h), with
// CKK = C kh kw and P = Ho Wo, through three primitives:
//   conv_forward_core    out (N, O, Ho, Wo) = conv(in (N, C, H, W), w) [+ bias per O]
//                        per image: cols (CKK x P) = im2col(in_n);
//                        out_n (O x P) = W (O x CKK) . cols       (GEMM, batch = images)
//   conv_input_grad_core out (N, C, H, W) = conv^T(g (N, O, Ho, Wo), w) [+ bias per C]
//                        per image: dcols (CKK x P) = W^T (CKK x O) . g_n (O x P);
//                        out_n = col2im(dcols)                    (a gather: no atomics)
//   conv_weight_grad     dw (O x CKK) = sum_n g_n (O x P) . cols_n^T (P x CKK)
//                        (GEMM reducing over images and P; split-K over `splits` blocks)
// and a channel sum for the bias gradients. Then:
//   conv2d forward           = conv_forward_core(x, w, b)
//   conv2d dx                = conv_input_grad_core(dy, w)
//   conv2d dw                = conv_weight_grad(g = dy, in = x)
//   conv2d db                = channel_sum(dy)
//   conv_transpose2d forward = conv_input_grad_core(x, w, b)  (x plays the conv2d output)
//   conv_transpose2d dx      = conv_forward_core(dy, w)        (dy plays the conv2d input)
//   conv_transpose2d dw      = conv_weight_grad(g = x, in = dy)  -> (Cin, Cout, kh, kw)
//   conv_transpose2d db      = channel_sum(dy)
// Kernel versions:
//   im2col: v1 only, one thread per column-matrix element (coalesced writes).
//   col2im: v1 only, one thread per output pixel, gathering its <= kh kw taps (no atomics,
//           deterministic).
//   GEMMs: the GEMM core's versions (v1 naive, v2 smem tiles, v3 register-blocked).
#include <algorithm>
#include <string>

#include "checks.h"
#include "gemm.cuh"
#include "minigan.h"

namespace minigan {
namespace {

// 32-bit arithmetic in these two kernels is exact because validate() bounds, per image,
// C kh kw Ho Wo, C H W and O Ho Wo by 2^31 - 1, and the padded sizes H + 2 ph, W + 2 pw by
// 2^31 - 1 (so i sh + a <= H + 2 ph - 1 and h + ph fit an int). Only the thread index is
// formed in 64 bits and narrowed after the bounds check: blockIdx.x * blockDim.x +
// threadIdx.x is an unsigned 32-bit sum that stays below 2^31 over a grid of
// ceil(per_image / 256) blocks only because 256 divides 2^31 (another block size would
// wrap the int). Offsets across images (n * per_image, up to chunk x 2^31) are 64-bit.

// cols[n][(c, a, b)][(i, j)] = xpad[n][c][i sh + a][j sw + b] for the images of one chunk.
// grid.y = image, grid.x covers the CKK * P elements of one image.
__global__ void im2col_kernel(const float* __restrict__ x, float* __restrict__ cols, int C, int H,
                              int W, int kh, int kw, int sh, int sw, int ph, int pw, int Ho,
                              int Wo) {
    const int P = Ho * Wo;
    const int per_image = C * kh * kw * P;
    const long long idx64 = (long long)blockIdx.x * blockDim.x + threadIdx.x;
    if (idx64 >= per_image) return;
    const int idx = (int)idx64;  // < per_image <= 2^31 - 1
    const long long n = blockIdx.y;
    const int p = idx % P;
    const int k = idx / P;
    const int j = p % Wo, i = p / Wo;
    const int b = k % kw, a = (k / kw) % kh, c = k / (kw * kh);
    const int h = i * sh - ph + a, w = j * sw - pw + b;
    float v = 0.f;
    if (h >= 0 && h < H && w >= 0 && w < W) v = x[((n * C + c) * H + h) * W + w];
    cols[n * per_image + idx] = v;
}

// out[n][c][h][w] = sum over the taps (a, b) whose window (i, j) covers (h, w) of
// dcols[n][(c, a, b)][(i, j)], with h + ph = i sh + a and w + pw = j sw + b, plus bias[c].
__global__ void col2im_kernel(const float* __restrict__ dcols, const float* __restrict__ bias,
                              float* __restrict__ out, int C, int H, int W, int kh, int kw, int sh,
                              int sw, int ph, int pw, int Ho, int Wo) {
    const int per_image = C * H * W;
    const long long idx64 = (long long)blockIdx.x * blockDim.x + threadIdx.x;
    if (idx64 >= per_image) return;
    const int idx = (int)idx64;  // < per_image <= 2^31 - 1
    const long long n = blockIdx.y;
    const int w = idx % W, h = (idx / W) % H, c = idx / (W * H);
    const int P = Ho * Wo;
    const float* d = dcols + n * ((long long)C * kh * kw * P) + (long long)c * kh * kw * P;
    const int hp = h + ph, wp = w + pw;
    float s = 0.f;
    for (int a = 0; a < kh; ++a) {
        const int ti = hp - a;
        if (ti < 0) break;  // larger a only makes ti smaller
        if (ti % sh != 0) continue;
        const int i = ti / sh;
        if (i >= Ho) continue;
        for (int b = 0; b < kw; ++b) {
            const int tj = wp - b;
            if (tj < 0) break;
            if (tj % sw != 0) continue;
            const int j = tj / sw;
            if (j >= Wo) continue;
            s += d[(long long)(a * kw + b) * P + i * Wo + j];
        }
    }
    if (bias != nullptr) s += bias[c];
    out[n * per_image + idx] = s;
}

struct Dims {
    int64_t CKK, P;
};

// Only after validate() / check_fields() (no overflow: each field <= 2^31 - 1 and the
// products are checked there).
Dims dims_of(const ConvGeometry& g) { return {g.C * g.kh * g.kw, g.Ho * g.Wo}; }

const char* const kFieldNames[kConvGeometryFields] = {"N",  "C",  "H",  "W",  "O",  "kh", "kw",
                                                      "sh", "sw", "ph", "pw", "Ho", "Wo"};

// Every field in [0, 2^31 - 1], and the products the workspace sizes use free of overflow.
void check_fields(const char* name, const ConvGeometry& g) {
    const int64_t v[kConvGeometryFields] = {g.N,  g.C,  g.H,  g.W,  g.O,  g.kh, g.kw,
                                            g.sh, g.sw, g.ph, g.pw, g.Ho, g.Wo};
    for (int i = 0; i < kConvGeometryFields; ++i) {
        check_range(name, (std::string("geometry field ") + kFieldNames[i]).c_str(), v[i], 0,
                    kInt32Max);
    }
    checked_mul(name, "C*kh*kw*Ho*Wo", {g.C, g.kh, g.kw, g.Ho, g.Wo});
    checked_mul(name, "O*C*kh*kw", {g.O, g.C, g.kh, g.kw});
}

void validate(const char* name, const ConvGeometry& g) {
    check_fields(name, g);
    if (g.H < 1 || g.W < 1 || g.kh < 1 || g.kw < 1 || g.sh < 1 || g.sw < 1) {
        invalid(name, "H, W, kh, kw, sh, sw must be >= 1");
    }
    // The padded sizes bound the kernels' 32-bit row / column arithmetic (see im2col_kernel).
    check_range(name, "padded height H + 2 ph", g.H + 2 * g.ph, g.kh, kInt32Max,
                "at least kh; the kernels index padded rows with ints");
    check_range(name, "padded width W + 2 pw", g.W + 2 * g.pw, g.kw, kInt32Max,
                "at least kw; the kernels index padded columns with ints");
    const int64_t ho = (g.H + 2 * g.ph - g.kh) / g.sh + 1;
    const int64_t wo = (g.W + 2 * g.pw - g.kw) / g.sw + 1;
    if (ho != g.Ho || wo != g.Wo) {
        invalid(name, "output size " + std::to_string(g.Ho) + "x" + std::to_string(g.Wo) +
                          " does not match (H + 2 ph - kh) / sh + 1 = " + std::to_string(ho) + "x" +
                          std::to_string(wo));
    }
    // One image of each tensor the kernels index with ints (see im2col_kernel).
    check_range(name, "C*kh*kw*Ho*Wo (im2col columns per image)",
                checked_mul(name, "C*kh*kw*Ho*Wo", {g.C, g.kh, g.kw, g.Ho, g.Wo}), 0, kInt32Max);
    check_range(name, "C*H*W (input elements per image)",
                checked_mul(name, "C*H*W", {g.C, g.H, g.W}), 0, kInt32Max);
    check_range(name, "O*Ho*Wo (output elements per image)",
                checked_mul(name, "O*Ho*Wo", {g.O, g.Ho, g.Wo}), 0, kInt32Max);
}

// The element counts of the conv2d's tensors (valid geometry: no overflow).
struct Counts {
    int64_t in, out, weight;  // N C H W, N O Ho Wo, O C kh kw
};
Counts counts_of(const char* name, const ConvGeometry& g) {
    return {checked_mul(name, "N*C*H*W", {g.N, g.C, g.H, g.W}),
            checked_mul(name, "N*O*Ho*Wo", {g.N, g.O, g.Ho, g.Wo}),
            checked_mul(name, "O*C*kh*kw", {g.O, g.C, g.kh, g.kw})};
}

void check_chunk(const char* name, int64_t chunk) {
    check_range(name, "chunk", chunk, 1, kMaxGridYZ, "images per im2col launch, gridDim.y");
}

// conv_workspace_floats after check_fields / check_chunk / check_splits, with `name`.
int64_t workspace_floats_of(const char* name, const ConvGeometry& g, int64_t chunk, int splits,
                            bool weight_grad) {
    int64_t need = checked_mul(name, "workspace columns (chunk*C*kh*kw*Ho*Wo)",
                               {chunk, g.C, g.kh, g.kw, g.Ho, g.Wo});
    if (weight_grad && splits > 1) {
        const int64_t partials = checked_mul(name, "workspace partials (splits*O*C*kh*kw)",
                                             {splits, g.O, g.C, g.kh, g.kw});
        need = checked_add(name, "workspace (columns + partials)", need, partials);
    }
    return need;
}

void validate_plan(const char* name, const ConvGeometry& g, float* ws, int64_t ws_floats,
                   int64_t chunk, int splits, bool weight_grad) {
    check_chunk(name, chunk);
    check_splits(name, splits);
    check_range(name, "workspace_floats", ws_floats, 0, kInt64Max);
    const int64_t need = workspace_floats_of(name, g, chunk, splits, weight_grad);
    if (ws_floats < need) {
        invalid(name, "workspace of " + std::to_string(ws_floats) + " floats is smaller than the " +
                          std::to_string(need) + " needed (chunk=" + std::to_string(chunk) +
                          ", splits=" + std::to_string(splits) + ")");
    }
    check_ptr(name, "workspace", ws, need);
}

void im2col(const float* in, float* cols, int64_t images, const ConvGeometry& g,
            cudaStream_t stream, const std::string& name) {
    const Dims d = dims_of(g);
    const int64_t per_image = d.CKK * d.P;
    if (images == 0 || per_image == 0) return;
    const dim3 grid((unsigned)ceil_div<int64_t>(per_image, 256), (unsigned)images);
    launch_kernel((name + ": im2col_kernel"), im2col_kernel, grid, 256, 0, stream, in, cols,
                  (int)g.C, (int)g.H, (int)g.W, (int)g.kh, (int)g.kw, (int)g.sh, (int)g.sw,
                  (int)g.ph, (int)g.pw, (int)g.Ho, (int)g.Wo);
}

void col2im(const float* dcols, const float* bias, float* out, int64_t images,
            const ConvGeometry& g, cudaStream_t stream, const std::string& name) {
    const int64_t per_image = g.C * g.H * g.W;
    if (images == 0 || per_image == 0) return;
    const dim3 grid((unsigned)ceil_div<int64_t>(per_image, 256), (unsigned)images);
    launch_kernel((name + ": col2im_kernel"), col2im_kernel, grid, 256, 0, stream, dcols, bias, out,
                  (int)g.C, (int)g.H, (int)g.W, (int)g.kh, (int)g.kw, (int)g.sh, (int)g.sw,
                  (int)g.ph, (int)g.pw, (int)g.Ho, (int)g.Wo);
}

// out (N, O, Ho, Wo) = conv(in (N, C, H, W), w (O, C, kh, kw)) + bias[o].
void conv_forward_core(const float* in, const float* w, const float* bias, float* out,
                       const ConvGeometry& g, float* ws, int64_t chunk, cudaStream_t stream,
                       const char* name) {
    const Dims d = dims_of(g);
    for (int64_t n0 = 0; n0 < g.N; n0 += chunk) {
        const int64_t nc = std::min(chunk, g.N - n0);
        im2col(in + n0 * g.C * g.H * g.W, ws, nc, g, stream, name);
        GemmArgs a;
        a.M = g.O;
        a.N = d.P;
        a.K = d.CKK;
        a.A = w;  // A(o, k) = w[o * CKK + k], shared by every image
        a.lda = d.CKK;
        a.a_batch_stride = 0;
        a.a_kcontig = true;
        a.B = ws;  // B(k, p) = cols_n[k * P + p]
        a.ldb = d.P;
        a.b_batch_stride = d.CKK * d.P;
        a.b_kcontig = false;
        a.C = out + n0 * g.O * d.P;
        a.ldc = d.P;
        a.c_batch_stride = g.O * d.P;
        a.batch = nc;
        a.bias = bias;
        a.bias_mode = BIAS_ROW;
        gemm(a, stream, name);
    }
}

// out (N, C, H, W) = conv^T(g_out (N, O, Ho, Wo), w (O, C, kh, kw)) + bias[c].
void conv_input_grad_core(const float* g_out, const float* w, const float* bias, float* out,
                          const ConvGeometry& g, float* ws, int64_t chunk, cudaStream_t stream,
                          const char* name) {
    const Dims d = dims_of(g);
    for (int64_t n0 = 0; n0 < g.N; n0 += chunk) {
        const int64_t nc = std::min(chunk, g.N - n0);
        GemmArgs a;
        a.M = d.CKK;
        a.N = d.P;
        a.K = g.O;
        a.A = w;  // A(k, o) = w[o * CKK + k]: the row index k is contiguous
        a.lda = d.CKK;
        a.a_batch_stride = 0;
        a.a_kcontig = false;
        a.B = g_out + n0 * g.O * d.P;  // B(o, p) = g_n[o * P + p]
        a.ldb = d.P;
        a.b_batch_stride = g.O * d.P;
        a.b_kcontig = false;
        a.C = ws;  // dcols_n (CKK x P)
        a.ldc = d.P;
        a.c_batch_stride = d.CKK * d.P;
        a.batch = nc;
        gemm(a, stream, name);
        col2im(ws, bias, out + n0 * g.C * g.H * g.W, nc, g, stream, name);
    }
}

// dw (O, CKK) = sum_n g_out_n (O x P) . im2col(in_n)^T (P x CKK).
void conv_weight_grad(const float* g_out, const float* in, float* dw, const ConvGeometry& g,
                      float* ws, int64_t chunk, int splits, cudaStream_t stream, const char* name) {
    const Dims d = dims_of(g);
    if (g.N == 0 || d.P == 0) {  // an empty sum
        if (g.O * d.CKK > 0) {
            MINIGAN_CUDA_CHECK(cudaMemsetAsync(dw, 0, sizeof(float) * g.O * d.CKK, stream), name);
        }
        return;
    }
    float* cols = ws;
    float* partials = ws + chunk * d.CKK * d.P;
    for (int64_t n0 = 0; n0 < g.N; n0 += chunk) {
        const int64_t nc = std::min(chunk, g.N - n0);
        im2col(in + n0 * g.C * g.H * g.W, cols, nc, g, stream, name);
        GemmArgs a;
        a.M = g.O;
        a.N = d.CKK;
        a.K = d.P;
        a.A = g_out + n0 * g.O * d.P;  // A(o, p) = g_n[o * P + p]
        a.lda = d.P;
        a.a_batch_stride = g.O * d.P;
        a.a_kcontig = true;
        a.B = cols;  // B(p, k) = cols_n[k * P + p]: the reduction index p is contiguous
        a.ldb = d.P;
        a.b_batch_stride = d.CKK * d.P;
        a.b_kcontig = true;
        a.C = dw;
        a.ldc = d.CKK;
        a.batch = nc;
        a.reduce_batch = true;
        a.accumulate = n0 > 0;  // later chunks add to the first one's sum
        a.splits = splits;
        a.partials = splits > 1 ? partials : nullptr;
        gemm(a, stream, name);
    }
}

}  // namespace

int64_t conv_workspace_floats(const ConvGeometry& g, int64_t chunk, int splits, bool weight_grad) {
    const char* name = "conv_workspace_floats";
    check_fields(name, g);
    check_chunk(name, chunk);
    check_splits(name, splits);
    return workspace_floats_of(name, g, chunk, splits, weight_grad);
}

void conv2d_forward(const float* x, const float* w, const float* b, float* y, const ConvGeometry& g,
                    float* workspace, int64_t workspace_floats, int64_t chunk,
                    cudaStream_t stream) {
    const char* name = "conv2d_forward";
    validate(name, g);
    validate_plan(name, g, workspace, workspace_floats, chunk, 1, false);
    const Counts n = counts_of(name, g);
    check_ptr(name, "x", x, n.in);
    check_ptr(name, "w", w, n.weight);
    check_ptr(name, "y", y, n.out);
    conv_forward_core(x, w, b, y, g, workspace, chunk, stream, name);
}

void conv2d_backward(const float* dy, const float* x, const float* w, float* dx, float* dw,
                     float* db, const ConvGeometry& g, float* workspace, int64_t workspace_floats,
                     int64_t chunk, int splits, cudaStream_t stream) {
    const char* name = "conv2d_backward";
    validate(name, g);
    check_splits(name, splits);
    if (dx != nullptr || dw != nullptr) {  // db alone needs no workspace
        validate_plan(name, g, workspace, workspace_floats, chunk, splits, dw != nullptr);
    }
    const Counts n = counts_of(name, g);
    check_ptr(name, "dy", dy, n.out);
    if (dw != nullptr) check_ptr(name, "x", x, n.in);
    if (dx != nullptr) check_ptr(name, "w", w, n.weight);
    if (dx != nullptr) conv_input_grad_core(dy, w, nullptr, dx, g, workspace, chunk, stream, name);
    if (dw != nullptr) conv_weight_grad(dy, x, dw, g, workspace, chunk, splits, stream, name);
    if (db != nullptr) channel_sum(dy, db, g.N, g.O, g.Ho * g.Wo, false, stream, name);
}

void conv_transpose2d_forward(const float* x, const float* w, const float* b, float* y,
                              const ConvGeometry& g, float* workspace, int64_t workspace_floats,
                              int64_t chunk, cudaStream_t stream) {
    const char* name = "conv_transpose2d_forward";
    validate(name, g);
    validate_plan(name, g, workspace, workspace_floats, chunk, 1, false);
    const Counts n = counts_of(name, g);  // x plays the conv2d output, y its input
    check_ptr(name, "x", x, n.out);
    check_ptr(name, "w", w, n.weight);
    check_ptr(name, "y", y, n.in);
    conv_input_grad_core(x, w, b, y, g, workspace, chunk, stream, name);
}

void conv_transpose2d_backward(const float* dy, const float* x, const float* w, float* dx,
                               float* dw, float* db, const ConvGeometry& g, float* workspace,
                               int64_t workspace_floats, int64_t chunk, int splits,
                               cudaStream_t stream) {
    const char* name = "conv_transpose2d_backward";
    validate(name, g);
    check_splits(name, splits);
    if (dx != nullptr || dw != nullptr) {  // db alone needs no workspace
        validate_plan(name, g, workspace, workspace_floats, chunk, splits, dw != nullptr);
    }
    const Counts n = counts_of(name, g);  // dy plays the conv2d input, x its output
    check_ptr(name, "dy", dy, n.in);
    if (dw != nullptr) check_ptr(name, "x", x, n.out);
    if (dx != nullptr) check_ptr(name, "w", w, n.weight);
    if (dx != nullptr) conv_forward_core(dy, w, nullptr, dx, g, workspace, chunk, stream, name);
    if (dw != nullptr) conv_weight_grad(x, dy, dw, g, workspace, chunk, splits, stream, name);
    if (db != nullptr) channel_sum(dy, db, g.N, g.C, g.H * g.W, false, stream, name);
}

}  // namespace minigan
