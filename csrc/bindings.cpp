// csrc/bindings.cpp: the Python module minigan._C (pybind11). Every function takes device
// pointers as integers (CuPy's `array.data.ptr`), sizes, and the CUDA stream handle to
// launch on (`cupy.cuda.get_current_stream().ptr`); it validates its arguments, raising
// ValueError that names the kernel (C++ std::invalid_argument), and queues the kernels
// without waiting. A CUDA launch error becomes RuntimeError naming the kernel
// (std::runtime_error). Nothing here allocates device memory.
//
// The thin Python wrapper that allocates outputs / workspaces and checks shapes is
// minigan/backend/cuda_ext.py; call that, not this module, from library code.
#include <pybind11/pybind11.h>
#include <pybind11/stl.h>

#include <cstdint>
#include <string>
#include <vector>

#include "checks.h"
#include "common.cuh"
#include "minigan.h"

namespace py = pybind11;
using minigan::invalid;

#ifdef MINIGAN_EMU
void emu_add_python_bindings(pybind11::module_& m);  // csrc/emu/python.cpp
#endif

namespace {

using Ptr = std::uintptr_t;

cudaStream_t as_stream(Ptr s) { return reinterpret_cast<cudaStream_t>(s); }
float* fp(Ptr p) { return reinterpret_cast<float*>(p); }

// The checks are csrc/checks.h's, shared with the C++ API (which repeats the ones that
// matter for safety: it is also called without these bindings).
using minigan::check_act;
using minigan::check_size;
using minigan::checked_mul;

// An optional pointer (0 = absent): only its alignment is checked (an integer from Python
// may be anything; a float* must be 4-byte aligned).
void optional(const char* kernel, const char* what, Ptr p) {
    if (p % 4 != 0) invalid(kernel, std::string(what) + " is not 4-byte aligned");
}

// A pointer that must be usable for `count` floats: non-null when count > 0, 4-byte aligned.
void need(const char* kernel, const char* what, Ptr p, int64_t count) {
    minigan::check_ptr(kernel, what, fp(p), count);
    optional(kernel, what, p);
}

minigan::ConvGeometry geometry(const char* kernel, const std::vector<int64_t>& v) {
    if (v.size() != minigan::kConvGeometryFields) {
        invalid(kernel,
                "geometry must have 13 entries (N, C, H, W, O, kh, kw, sh, sw, ph, pw, "
                "Ho, Wo), got " +
                    std::to_string(v.size()));
    }
    for (size_t i = 0; i < v.size(); ++i) check_size(kernel, "geometry entry", v[i]);
    return {v[0], v[1], v[2], v[3], v[4], v[5], v[6], v[7], v[8], v[9], v[10], v[11], v[12]};
}

const char* family_names[minigan::NUM_FAMILIES] = {"gemm", "batchnorm", "sigmoid_bce", "adam"};

int family_index(const std::string& family) {
    for (int i = 0; i < minigan::NUM_FAMILIES; ++i) {
        if (family == family_names[i]) return i;
    }
    invalid("set_kernel_version", "unknown kernel family '" + family +
                                      "' (expected gemm, batchnorm, sigmoid_bce or adam)");
}

// The architectures the kernels were compiled for, as compute capability x 10 (80, 90), read
// off minigan::cuda_arch_list() (nvcc's __CUDA_ARCH_LIST__, "800,900"); empty when unknown
// (the emulated build).
std::vector<int> compiled_archs() {
    std::vector<int> archs;
    const std::string list = minigan::cuda_arch_list();
    size_t pos = 0;
    while (pos < list.size()) {
        size_t end = list.find(',', pos);
        if (end == std::string::npos) end = list.size();
        const std::string item = list.substr(pos, end - pos);
        if (item.empty() || item.find_first_not_of("0123456789") != std::string::npos) return {};
        archs.push_back(std::stoi(item) / 10);
        pos = end + 1;
    }
    return archs;
}

// "sm_80, sm_90" for the compiled architectures.
std::string arch_names(const std::vector<int>& archs) {
    std::string s;
    for (int a : archs) s += (s.empty() ? "sm_" : ", sm_") + std::to_string(a);
    return s;
}

// "" when a GPU of compute capability major.minor is not older than the oldest compiled
// architecture (or the list is unknown: the kernel-image probe decides), else why not.
std::string arch_reason(int major, int minor) {
    const std::vector<int> archs = compiled_archs();
    if (archs.empty()) return "";
    int oldest = archs.front();
    for (int a : archs) oldest = a < oldest ? a : oldest;
    if (major * 10 + minor >= oldest) return "";
    return "GPU compute capability " + std::to_string(major) + "." + std::to_string(minor) +
           " is older than " + std::to_string(oldest / 10) + "." + std::to_string(oldest % 10) +
           ", the oldest architecture minigan._C is built for (" + arch_names(archs) + ")";
}

std::string device_status() {
    int count = 0;
    cudaError_t err = cudaGetDeviceCount(&count);
    if (err != cudaSuccess) {
        cudaGetLastError();
        return std::string("the CUDA runtime (") + std::to_string(CUDART_VERSION) +
               ") found no usable GPU/driver: " + cudaGetErrorName(err) + ": " +
               cudaGetErrorString(err);
    }
    if (count < 1) return "no CUDA GPU";
    int dev = 0, major = 0, minor = 0;
    MINIGAN_CUDA_CHECK(cudaGetDevice(&dev), "device_status");
    MINIGAN_CUDA_CHECK(cudaDeviceGetAttribute(&major, cudaDevAttrComputeCapabilityMajor, dev),
                       "device_status");
    MINIGAN_CUDA_CHECK(cudaDeviceGetAttribute(&minor, cudaDevAttrComputeCapabilityMinor, dev),
                       "device_status");
    const std::string cc = std::to_string(major) + "." + std::to_string(minor);
    const std::string too_old = arch_reason(major, minor);
    if (!too_old.empty()) return too_old;
    err = minigan::gemm_probe();
    if (err != cudaSuccess) {
        cudaGetLastError();
        const std::vector<int> archs = compiled_archs();
        return "minigan._C has no usable kernel image for this GPU (compute capability " + cc +
               "; built for " + (archs.empty() ? "unknown architectures" : arch_names(archs)) +
               "): " + cudaGetErrorName(err) + ": " + cudaGetErrorString(err);
    }
    return "";
}

// ----- _test_cpp_api: TEST-ONLY -------------------------------------------------------------
// The C++ API of minigan.h called with the raw arguments, WITHOUT the checks that the
// bindings above make first, so that tests/test_cpp_api_validation.py can show that every
// entry point validates its own arguments (C++ callers do not go through these bindings).
// Never use it from library code: an argument the C++ API failed to reject would reach the
// device. Launches go to the default stream.
minigan::ConvGeometry raw_geometry(const std::vector<int64_t>& v) {
    if (v.size() != minigan::kConvGeometryFields) invalid("_test_cpp_api", "geometry needs 13");
    return {v[0], v[1], v[2], v[3], v[4], v[5], v[6], v[7], v[8], v[9], v[10], v[11], v[12]};
}

void add_test_cpp_api(py::module_& m) {
    py::module_ t =
        m.def_submodule("_test_cpp_api",
                        "TEST-ONLY: the C++ API called without the bindings' own argument checks.");
    t.def("linear_act_forward",
          [](Ptr x, Ptr w, Ptr b, Ptr y, int64_t N, int64_t K, int64_t M, int act, float slope) {
              minigan::linear_act_forward(fp(x), fp(w), fp(b), fp(y), N, K, M, act, slope, nullptr);
          });
    t.def("linear_act_backward", [](Ptr dy, Ptr x, Ptr w, Ptr y, Ptr dx, Ptr dw, Ptr db, int64_t N,
                                    int64_t K, int64_t M, int act, float slope, Ptr workspace,
                                    int64_t workspace_floats, int splits) {
        minigan::linear_act_backward(fp(dy), fp(x), fp(w), fp(y), fp(dx), fp(dw), fp(db), N, K, M,
                                     act, slope, fp(workspace), workspace_floats, splits, nullptr);
    });
    t.def("linear_act_workspace_floats", &minigan::linear_act_workspace_floats);
    t.def("conv_workspace_floats",
          [](const std::vector<int64_t>& geom, int64_t chunk, int splits, bool weight_grad) {
              return minigan::conv_workspace_floats(raw_geometry(geom), chunk, splits, weight_grad);
          });
    t.def("conv2d_forward", [](Ptr x, Ptr w, Ptr b, Ptr y, const std::vector<int64_t>& geom,
                               Ptr workspace, int64_t workspace_floats, int64_t chunk) {
        minigan::conv2d_forward(fp(x), fp(w), fp(b), fp(y), raw_geometry(geom), fp(workspace),
                                workspace_floats, chunk, nullptr);
    });
    t.def("conv2d_backward", [](Ptr dy, Ptr x, Ptr w, Ptr dx, Ptr dw, Ptr db,
                                const std::vector<int64_t>& geom, Ptr workspace,
                                int64_t workspace_floats, int64_t chunk, int splits) {
        minigan::conv2d_backward(fp(dy), fp(x), fp(w), fp(dx), fp(dw), fp(db), raw_geometry(geom),
                                 fp(workspace), workspace_floats, chunk, splits, nullptr);
    });
    t.def("conv_transpose2d_forward",
          [](Ptr x, Ptr w, Ptr b, Ptr y, const std::vector<int64_t>& geom, Ptr workspace,
             int64_t workspace_floats, int64_t chunk) {
              minigan::conv_transpose2d_forward(fp(x), fp(w), fp(b), fp(y), raw_geometry(geom),
                                                fp(workspace), workspace_floats, chunk, nullptr);
          });
    t.def("conv_transpose2d_backward",
          [](Ptr dy, Ptr x, Ptr w, Ptr dx, Ptr dw, Ptr db, const std::vector<int64_t>& geom,
             Ptr workspace, int64_t workspace_floats, int64_t chunk, int splits) {
              minigan::conv_transpose2d_backward(fp(dy), fp(x), fp(w), fp(dx), fp(dw), fp(db),
                                                 raw_geometry(geom), fp(workspace),
                                                 workspace_floats, chunk, splits, nullptr);
          });
    t.def("batchnorm_forward_train",
          [](Ptr x, Ptr gamma, Ptr beta, Ptr running_mean, Ptr running_var, Ptr y, Ptr mean,
             Ptr invstd, int64_t N, int64_t C, int64_t P, double momentum, double eps) {
              minigan::batchnorm_forward_train(fp(x), fp(gamma), fp(beta), fp(running_mean),
                                               fp(running_var), fp(y), fp(mean), fp(invstd), N, C,
                                               P, momentum, eps, nullptr);
          });
    t.def("batchnorm_forward_eval",
          [](Ptr x, Ptr gamma, Ptr beta, Ptr running_mean, Ptr running_var, Ptr y, Ptr mean,
             Ptr invstd, int64_t N, int64_t C, int64_t P, double eps) {
              minigan::batchnorm_forward_eval(fp(x), fp(gamma), fp(beta), fp(running_mean),
                                              fp(running_var), fp(y), fp(mean), fp(invstd), N, C, P,
                                              eps, nullptr);
          });
    t.def("batchnorm_backward",
          [](Ptr dy, Ptr x, Ptr gamma, Ptr mean, Ptr invstd, Ptr dx, Ptr dgamma, Ptr dbeta,
             int64_t N, int64_t C, int64_t P, bool training) {
              minigan::batchnorm_backward(fp(dy), fp(x), fp(gamma), fp(mean), fp(invstd), fp(dx),
                                          fp(dgamma), fp(dbeta), N, C, P, training, nullptr);
          });
    t.def("activation_forward", [](Ptr x, Ptr y, int64_t n, int act, float slope) {
        minigan::activation_forward(fp(x), fp(y), n, act, slope, nullptr);
    });
    t.def("activation_backward", [](Ptr dy, Ptr y, Ptr dx, int64_t n, int act, float slope) {
        minigan::activation_backward(fp(dy), fp(y), fp(dx), n, act, slope, nullptr);
    });
    t.def("sigmoid_bce_forward_backward",
          [](Ptr logits, Ptr targets, Ptr loss, Ptr dlogits, int64_t n, bool mean, Ptr partials,
             int64_t num_partials) {
              minigan::sigmoid_bce_forward_backward(fp(logits), fp(targets), fp(loss), fp(dlogits),
                                                    n, mean, fp(partials), num_partials, nullptr);
          });
    t.def("adam_step",
          [](Ptr table, int64_t num_tensors, int64_t max_numel, int64_t total_numel, int64_t step,
             double lr, double beta1, double beta2, double eps, double weight_decay) {
              minigan::adam_step(reinterpret_cast<const uint64_t*>(table), num_tensors, max_numel,
                                 total_numel, step, lr, beta1, beta2, eps, weight_decay, nullptr);
          });
    t.def("arch_reason", &arch_reason, py::arg("major"), py::arg("minor"),
          "device_status's verdict on a GPU of this compute capability ('' = not too old).");
}

}  // namespace

// The emulated build (csrc/emu/) compiles this same file as minigan._C_emu.
#ifndef MINIGAN_MODULE_NAME
#define MINIGAN_MODULE_NAME _C
#endif

PYBIND11_MODULE(MINIGAN_MODULE_NAME, m) {
    m.doc() =
        "minigan's hand-written CUDA kernels (raw device pointers + sizes + stream). Use "
        "minigan.backend.cuda_ext, which allocates outputs and checks shapes.";

    py::dict acts;
    acts["none"] = static_cast<int>(minigan::ACT_NONE);
    acts["relu"] = static_cast<int>(minigan::ACT_RELU);
    acts["leaky_relu"] = static_cast<int>(minigan::ACT_LEAKY_RELU);
    acts["tanh"] = static_cast<int>(minigan::ACT_TANH);
    acts["sigmoid"] = static_cast<int>(minigan::ACT_SIGMOID);
    m.attr("ACTIVATIONS") = acts;
    m.attr("CUDA_RUNTIME_VERSION") = CUDART_VERSION;
    // The architectures compiled in, as compute capability x 10 (nvcc's __CUDA_ARCH_LIST__):
    // (80, 90) for the default build, () when unknown (the emulated build).
    m.attr("CUDA_ARCHS") = py::tuple(py::cast(compiled_archs()));
    py::dict families;
    for (int i = 0; i < minigan::NUM_FAMILIES; ++i) {
        families[family_names[i]] = minigan::kMaxVersion[i];
    }
    m.attr("KERNEL_FAMILIES") = families;

    m.def("device_status", &device_status,
          "'' when a GPU usable by these kernels is present, else the reason.");
    m.def(
        "set_device", [](int device) { MINIGAN_CUDA_CHECK(cudaSetDevice(device), "set_device"); },
        py::arg("device"), "Make `device` current for this module's CUDA runtime (this thread).");
    m.def(
        "set_kernel_version",
        [](const std::string& family, int version) {
            const int f = family_index(family);
            if (version < 0 || version > minigan::kMaxVersion[f]) {
                invalid("set_kernel_version",
                        family + " has versions 1.." + std::to_string(minigan::kMaxVersion[f]) +
                            " (0 = automatic), got " + std::to_string(version));
            }
            minigan::kernel_version_slot(f).store(version);
        },
        py::arg("family"), py::arg("version"),
        "Force a kernel version (1 = the naive one, ...; 0 = automatic) for testing.");
    m.def(
        "get_kernel_version",
        [](const std::string& family) { return minigan::kernel_version(family_index(family)); },
        py::arg("family"), "The version that runs now for a family.");

    // ----- linear_act ------------------------------------------------------------------
    m.def(
        "linear_act_forward",
        [](Ptr x, Ptr w, Ptr b, Ptr y, int64_t N, int64_t K, int64_t M, int act, float slope,
           Ptr stream) {
            const char* k = "linear_act_forward";
            check_size(k, "N", N);
            check_size(k, "K", K);
            check_size(k, "M", M);
            check_act(k, act);
            need(k, "x", x, checked_mul(k, "N*K", {N, K}));
            need(k, "w", w, checked_mul(k, "M*K", {M, K}));
            optional(k, "b", b);
            need(k, "y", y, checked_mul(k, "N*M", {N, M}));
            minigan::linear_act_forward(fp(x), fp(w), fp(b), fp(y), N, K, M, act, slope,
                                        as_stream(stream));
        },
        py::arg("x"), py::arg("w"), py::arg("b"), py::arg("y"), py::arg("N"), py::arg("K"),
        py::arg("M"), py::arg("act"), py::arg("slope"), py::arg("stream"),
        "y (N, M) = act(x (N, K) w (M, K)^T + b (M,)); b = 0 for none.");
    m.def(
        "linear_act_backward",
        [](Ptr dy, Ptr x, Ptr w, Ptr y, Ptr dx, Ptr dw, Ptr db, int64_t N, int64_t K, int64_t M,
           int act, float slope, Ptr workspace, int64_t workspace_floats, int splits, Ptr stream) {
            const char* k = "linear_act_backward";
            check_size(k, "N", N);
            check_size(k, "K", K);
            check_size(k, "M", M);
            check_size(k, "workspace_floats", workspace_floats);
            check_act(k, act);
            need(k, "dy", dy, checked_mul(k, "N*M", {N, M}));
            need(k, "y", y, act == minigan::ACT_NONE ? 0 : checked_mul(k, "N*M", {N, M}));
            need(k, "x", x, dw != 0 ? checked_mul(k, "N*K", {N, K}) : 0);
            need(k, "w", w, dx != 0 ? checked_mul(k, "M*K", {M, K}) : 0);
            optional(k, "dx", dx);
            optional(k, "dw", dw);
            optional(k, "db", db);
            need(k, "workspace", workspace, workspace_floats);
            // splits and the workspace size: checked by linear_act_backward itself.
            minigan::linear_act_backward(fp(dy), fp(x), fp(w), fp(y), fp(dx), fp(dw), fp(db), N, K,
                                         M, act, slope, fp(workspace), workspace_floats, splits,
                                         as_stream(stream));
        },
        py::arg("dy"), py::arg("x"), py::arg("w"), py::arg("y"), py::arg("dx"), py::arg("dw"),
        py::arg("db"), py::arg("N"), py::arg("K"), py::arg("M"), py::arg("act"), py::arg("slope"),
        py::arg("workspace"), py::arg("workspace_floats"), py::arg("splits"), py::arg("stream"),
        "dx = dz w, dw = dz^T x, db = sum dz with dz = dy act'(y); a 0 output pointer skips it.");
    m.def(
        "linear_act_workspace_floats",
        [](int64_t K, int64_t M, int splits) {
            return minigan::linear_act_workspace_floats(K, M, splits);  // checks its arguments
        },
        py::arg("K"), py::arg("M"), py::arg("splits"));

    // ----- conv2d / conv_transpose2d ------------------------------------------------------
    m.def(
        "conv_workspace_floats",
        [](const std::vector<int64_t>& geom, int64_t chunk, int splits, bool weight_grad) {
            const char* k = "conv_workspace_floats";
            const minigan::ConvGeometry g = geometry(k, geom);
            return minigan::conv_workspace_floats(g, chunk, splits, weight_grad);  // checks them
        },
        py::arg("geometry"), py::arg("chunk"), py::arg("splits"), py::arg("weight_grad"),
        "Floats of workspace a conv call needs (geometry = N, C, H, W, O, kh, kw, sh, sw, ph, "
        "pw, Ho, Wo of the conv2d).");

    auto conv_fwd = [](const char* k, bool transpose, Ptr x, Ptr w, Ptr b, Ptr y,
                       const std::vector<int64_t>& geom, Ptr workspace, int64_t workspace_floats,
                       int64_t chunk, Ptr stream) {
        const minigan::ConvGeometry g = geometry(k, geom);
        check_size(k, "workspace_floats", workspace_floats);
        const int64_t in_count = checked_mul(k, "N*C*H*W", {g.N, g.C, g.H, g.W});
        const int64_t out_count = checked_mul(k, "N*O*Ho*Wo", {g.N, g.O, g.Ho, g.Wo});
        need(k, "x", x, transpose ? out_count : in_count);
        need(k, "w", w, checked_mul(k, "O*C*kh*kw", {g.O, g.C, g.kh, g.kw}));
        optional(k, "b", b);
        need(k, "y", y, transpose ? in_count : out_count);
        need(k, "workspace", workspace, workspace_floats);
        if (transpose) {
            minigan::conv_transpose2d_forward(fp(x), fp(w), fp(b), fp(y), g, fp(workspace),
                                              workspace_floats, chunk, as_stream(stream));
        } else {
            minigan::conv2d_forward(fp(x), fp(w), fp(b), fp(y), g, fp(workspace), workspace_floats,
                                    chunk, as_stream(stream));
        }
    };
    auto conv_bwd = [](const char* k, bool transpose, Ptr dy, Ptr x, Ptr w, Ptr dx, Ptr dw, Ptr db,
                       const std::vector<int64_t>& geom, Ptr workspace, int64_t workspace_floats,
                       int64_t chunk, int splits, Ptr stream) {
        const minigan::ConvGeometry g = geometry(k, geom);
        check_size(k, "workspace_floats", workspace_floats);
        const int64_t in_count = checked_mul(k, "N*C*H*W", {g.N, g.C, g.H, g.W});
        const int64_t out_count = checked_mul(k, "N*O*Ho*Wo", {g.N, g.O, g.Ho, g.Wo});
        need(k, "dy", dy, transpose ? in_count : out_count);
        need(k, "x", x, dw != 0 ? (transpose ? out_count : in_count) : 0);
        need(k, "w", w, dx != 0 ? checked_mul(k, "O*C*kh*kw", {g.O, g.C, g.kh, g.kw}) : 0);
        optional(k, "dx", dx);
        optional(k, "dw", dw);
        optional(k, "db", db);
        need(k, "workspace", workspace, workspace_floats);
        if (transpose) {
            minigan::conv_transpose2d_backward(fp(dy), fp(x), fp(w), fp(dx), fp(dw), fp(db), g,
                                               fp(workspace), workspace_floats, chunk, splits,
                                               as_stream(stream));
        } else {
            minigan::conv2d_backward(fp(dy), fp(x), fp(w), fp(dx), fp(dw), fp(db), g, fp(workspace),
                                     workspace_floats, chunk, splits, as_stream(stream));
        }
    };
    m.def(
        "conv2d_forward",
        [conv_fwd](Ptr x, Ptr w, Ptr b, Ptr y, const std::vector<int64_t>& geom, Ptr workspace,
                   int64_t workspace_floats, int64_t chunk, Ptr stream) {
            conv_fwd("conv2d_forward", false, x, w, b, y, geom, workspace, workspace_floats, chunk,
                     stream);
        },
        py::arg("x"), py::arg("w"), py::arg("b"), py::arg("y"), py::arg("geometry"),
        py::arg("workspace"), py::arg("workspace_floats"), py::arg("chunk"), py::arg("stream"),
        "y (N, O, Ho, Wo) = conv2d(x (N, C, H, W), w (O, C, kh, kw)) + b.");
    m.def(
        "conv2d_backward",
        [conv_bwd](Ptr dy, Ptr x, Ptr w, Ptr dx, Ptr dw, Ptr db, const std::vector<int64_t>& geom,
                   Ptr workspace, int64_t workspace_floats, int64_t chunk, int splits, Ptr stream) {
            conv_bwd("conv2d_backward", false, dy, x, w, dx, dw, db, geom, workspace,
                     workspace_floats, chunk, splits, stream);
        },
        py::arg("dy"), py::arg("x"), py::arg("w"), py::arg("dx"), py::arg("dw"), py::arg("db"),
        py::arg("geometry"), py::arg("workspace"), py::arg("workspace_floats"), py::arg("chunk"),
        py::arg("splits"), py::arg("stream"),
        "dx, dw, db of conv2d for dy (N, O, Ho, Wo); a 0 output pointer skips it.");
    m.def(
        "conv_transpose2d_forward",
        [conv_fwd](Ptr x, Ptr w, Ptr b, Ptr y, const std::vector<int64_t>& geom, Ptr workspace,
                   int64_t workspace_floats, int64_t chunk, Ptr stream) {
            conv_fwd("conv_transpose2d_forward", true, x, w, b, y, geom, workspace,
                     workspace_floats, chunk, stream);
        },
        py::arg("x"), py::arg("w"), py::arg("b"), py::arg("y"), py::arg("geometry"),
        py::arg("workspace"), py::arg("workspace_floats"), py::arg("chunk"), py::arg("stream"),
        "y (N, C, H, W) = conv_transpose2d(x (N, O, Ho, Wo), w (O, C, kh, kw)) + b, with the "
        "geometry of the conv2d it is the adjoint of.");
    m.def(
        "conv_transpose2d_backward",
        [conv_bwd](Ptr dy, Ptr x, Ptr w, Ptr dx, Ptr dw, Ptr db, const std::vector<int64_t>& geom,
                   Ptr workspace, int64_t workspace_floats, int64_t chunk, int splits, Ptr stream) {
            conv_bwd("conv_transpose2d_backward", true, dy, x, w, dx, dw, db, geom, workspace,
                     workspace_floats, chunk, splits, stream);
        },
        py::arg("dy"), py::arg("x"), py::arg("w"), py::arg("dx"), py::arg("dw"), py::arg("db"),
        py::arg("geometry"), py::arg("workspace"), py::arg("workspace_floats"), py::arg("chunk"),
        py::arg("splits"), py::arg("stream"),
        "dx, dw, db of conv_transpose2d for dy (N, C, H, W); a 0 output pointer skips it.");

    // ----- batchnorm ---------------------------------------------------------------------
    m.def(
        "batchnorm_forward",
        [](Ptr x, Ptr gamma, Ptr beta, Ptr running_mean, Ptr running_var, Ptr y, Ptr mean,
           Ptr invstd, int64_t N, int64_t C, int64_t P, bool training, double momentum, double eps,
           Ptr stream) {
            const char* k = "batchnorm_forward";
            check_size(k, "N", N);
            check_size(k, "C", C);
            check_size(k, "P", P);
            const int64_t total = checked_mul(k, "N*C*P", {N, C, P});
            need(k, "x", x, total);
            need(k, "y", y, total);
            need(k, "mean", mean, C);
            need(k, "invstd", invstd, C);
            optional(k, "gamma", gamma);
            optional(k, "beta", beta);
            if (training) {
                optional(k, "running_mean", running_mean);
                optional(k, "running_var", running_var);
                minigan::batchnorm_forward_train(fp(x), fp(gamma), fp(beta), fp(running_mean),
                                                 fp(running_var), fp(y), fp(mean), fp(invstd), N, C,
                                                 P, momentum, eps, as_stream(stream));
            } else {
                need(k, "running_mean", running_mean, C);
                need(k, "running_var", running_var, C);
                minigan::batchnorm_forward_eval(fp(x), fp(gamma), fp(beta), fp(running_mean),
                                                fp(running_var), fp(y), fp(mean), fp(invstd), N, C,
                                                P, eps, as_stream(stream));
            }
        },
        py::arg("x"), py::arg("gamma"), py::arg("beta"), py::arg("running_mean"),
        py::arg("running_var"), py::arg("y"), py::arg("mean"), py::arg("invstd"), py::arg("N"),
        py::arg("C"), py::arg("P"), py::arg("training"), py::arg("momentum"), py::arg("eps"),
        py::arg("stream"),
        "Batch norm of x viewed as (N, C, P); running stats (0 = none) updated in place.");
    m.def(
        "batchnorm_backward",
        [](Ptr dy, Ptr x, Ptr gamma, Ptr mean, Ptr invstd, Ptr dx, Ptr dgamma, Ptr dbeta, int64_t N,
           int64_t C, int64_t P, bool training, Ptr stream) {
            const char* k = "batchnorm_backward";
            check_size(k, "N", N);
            check_size(k, "C", C);
            check_size(k, "P", P);
            const int64_t total = checked_mul(k, "N*C*P", {N, C, P});
            need(k, "dy", dy, total);
            need(k, "x", x, total);
            need(k, "mean", mean, C);
            need(k, "invstd", invstd, C);
            optional(k, "gamma", gamma);
            optional(k, "dx", dx);
            optional(k, "dgamma", dgamma);
            optional(k, "dbeta", dbeta);
            minigan::batchnorm_backward(fp(dy), fp(x), fp(gamma), fp(mean), fp(invstd), fp(dx),
                                        fp(dgamma), fp(dbeta), N, C, P, training,
                                        as_stream(stream));
        },
        py::arg("dy"), py::arg("x"), py::arg("gamma"), py::arg("mean"), py::arg("invstd"),
        py::arg("dx"), py::arg("dgamma"), py::arg("dbeta"), py::arg("N"), py::arg("C"),
        py::arg("P"), py::arg("training"), py::arg("stream"),
        "dx, dgamma, dbeta of batch norm; a 0 output pointer skips it.");

    // ----- activation ----------------------------------------------------------------------
    m.def(
        "activation_forward",
        [](Ptr x, Ptr y, int64_t n, int act, float slope, Ptr stream) {
            const char* k = "activation_forward";
            if (n < 0) invalid(k, "n=" + std::to_string(n) + " must be >= 0");
            check_act(k, act);
            if (n > 0) {
                need(k, "x", x, n);
                need(k, "y", y, n);
            }
            minigan::activation_forward(fp(x), fp(y), n, act, slope, as_stream(stream));
        },
        py::arg("x"), py::arg("y"), py::arg("n"), py::arg("act"), py::arg("slope"),
        py::arg("stream"), "y = act(x) over n flat elements (one pass).");
    m.def(
        "activation_backward",
        [](Ptr dy, Ptr y, Ptr dx, int64_t n, int act, float slope, Ptr stream) {
            const char* k = "activation_backward";
            if (n < 0) invalid(k, "n=" + std::to_string(n) + " must be >= 0");
            check_act(k, act);
            if (n > 0) {
                need(k, "dy", dy, n);
                need(k, "y", y, n);
                need(k, "dx", dx, n);
            }
            minigan::activation_backward(fp(dy), fp(y), fp(dx), n, act, slope, as_stream(stream));
        },
        py::arg("dy"), py::arg("y"), py::arg("dx"), py::arg("n"), py::arg("act"), py::arg("slope"),
        py::arg("stream"), "dx = dy * act'(x), read off the output y (one pass).");

    // ----- sigmoid_bce ---------------------------------------------------------------------
    m.def(
        "sigmoid_bce_forward_backward",
        [](Ptr logits, Ptr targets, Ptr loss, Ptr dlogits, int64_t n, bool mean, Ptr partials,
           int64_t num_partials, Ptr stream) {
            const char* k = "sigmoid_bce_forward_backward";
            if (n < 1) invalid(k, "n=" + std::to_string(n) + " must be >= 1");
            if (num_partials < 1) invalid(k, "num_partials must be >= 1");
            need(k, "logits", logits, n);
            need(k, "targets", targets, n);
            need(k, "loss", loss, 1);
            need(k, "dlogits", dlogits, n);
            need(k, "partials", partials, num_partials);
            minigan::sigmoid_bce_forward_backward(fp(logits), fp(targets), fp(loss), fp(dlogits), n,
                                                  mean, fp(partials), num_partials,
                                                  as_stream(stream));
        },
        py::arg("logits"), py::arg("targets"), py::arg("loss"), py::arg("dlogits"), py::arg("n"),
        py::arg("mean"), py::arg("partials"), py::arg("num_partials"), py::arg("stream"),
        "loss[0] and dlogits of the stable BCE on logits (mean or sum).");

    // ----- adam ---------------------------------------------------------------------------
    m.def(
        "adam_step",
        [](Ptr table, int64_t num_tensors, int64_t max_numel, int64_t total_numel, int64_t step,
           double lr, double beta1, double beta2, double eps, double weight_decay, Ptr stream) {
            const char* k = "adam_step";
            if (num_tensors < 0) invalid(k, "num_tensors must be >= 0");
            if (max_numel < 0 || total_numel < 0 || max_numel > total_numel) {
                invalid(k, "bad max_numel / total_numel");
            }
            if (step < 1) invalid(k, "step must be a positive int (1-based)");
            if (num_tensors > 0 && table == 0) invalid(k, "table is a null pointer");
            if (table % 8 != 0) invalid(k, "table is not 8-byte aligned");
            minigan::adam_step(reinterpret_cast<const uint64_t*>(table), num_tensors, max_numel,
                               total_numel, step, lr, beta1, beta2, eps, weight_decay,
                               as_stream(stream));
        },
        py::arg("table"), py::arg("num_tensors"), py::arg("max_numel"), py::arg("total_numel"),
        py::arg("step"), py::arg("lr"), py::arg("beta1"), py::arg("beta2"), py::arg("eps"),
        py::arg("weight_decay"), py::arg("stream"),
        "One in-place Adam step of every tensor in the device pointer table (one launch).");

    add_test_cpp_api(m);  // TEST-ONLY submodule _test_cpp_api (see above)

#ifdef MINIGAN_EMU
    // The emulator's controls and reports (csrc/emu/python.cpp).
    emu_add_python_bindings(m);
#endif
}
