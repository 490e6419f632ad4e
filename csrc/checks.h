// csrc/checks.h: the argument checks shared by the C++ API (the launchers declared in
// minigan.h, implemented in csrc/*.cu) and the Python bindings (bindings.cpp), so that both
// reject a bad argument the same way: std::invalid_argument (Python ValueError) through
// invalid() (common.cuh), with a message naming the kernel / function, the argument, its
// value and the accepted range:
//   "<kernel>: <what>=<value> is outside [<lo>, <hi>]"
//   "<kernel>: <what> is a null pointer but must hold <count> floats"
//   "<kernel>: <what> = <a> * <b> * ... overflows int64"
// Plain host C++ (no device code, no CUDA built-ins): included by the .cu files (nvcc, or
// the host compiler in the emulated build) and by bindings.cpp.
#pragma once

#include <cstdint>
#include <initializer_list>
#include <limits>
#include <string>

#include "common.cuh"

namespace minigan {

constexpr int64_t kInt32Max = std::numeric_limits<int32_t>::max();  // 2^31 - 1
constexpr int64_t kInt64Max = std::numeric_limits<int64_t>::max();  // 2^63 - 1
constexpr int64_t kMaxGridYZ = 65535;                               // gridDim.y / .z limit

// A bound as the messages print it: "2^31 - 1" and "2^63 - 1" read better than digits.
inline std::string bound_text(int64_t v) {
    if (v == kInt32Max) return "2^31 - 1";
    if (v == kInt64Max) return "2^63 - 1";
    return std::to_string(v);
}

// lo <= v <= hi, else "<kernel>: <what>=<v> is outside [lo, hi]" (+ " (<why>)").
inline int64_t check_range(const std::string& kernel, const char* what, int64_t v, int64_t lo,
                           int64_t hi, const char* why = nullptr) {
    if (v < lo || v > hi) {
        std::string msg = std::string(what) + "=" + std::to_string(v) + " is outside [" +
                          bound_text(lo) + ", " + bound_text(hi) + "]";
        if (why != nullptr) msg += std::string(" (") + why + ")";
        invalid(kernel, msg);
    }
    return v;
}

// A size the kernels index with 32-bit ints: 0 <= v <= 2^31 - 1.
inline int64_t check_size(const std::string& kernel, const char* what, int64_t v) {
    return check_range(kernel, what, v, 0, kInt32Max);
}

// A split-K count: it becomes gridDim.z of the GEMM, so 1 <= splits <= 65535.
inline int check_splits(const std::string& kernel, int64_t splits) {
    return static_cast<int>(check_range(kernel, "splits", splits, 1, kMaxGridYZ,
                                        "the reduction is split over gridDim.z"));
}

// The product of non-negative factors, or "<kernel>: <what> = a * b * ... overflows int64".
// A zero factor makes the product 0 whatever the others are.
inline int64_t checked_mul(const std::string& kernel, const char* what,
                           std::initializer_list<int64_t> factors) {
    std::string text;
    bool overflow = false;
    int64_t r = 1;
    for (int64_t f : factors) {
        if (f < 0) {
            invalid(kernel, std::string(what) + ": factor " + std::to_string(f) + " is negative");
        }
        if (f == 0) return 0;
        text += (text.empty() ? "" : " * ") + std::to_string(f);
        if (!overflow && __builtin_mul_overflow(r, f, &r)) overflow = true;
    }
    if (overflow) invalid(kernel, std::string(what) + " = " + text + " overflows int64");
    return r;
}

// a + b of non-negative sizes, or "<kernel>: <what> = a + b overflows int64".
inline int64_t checked_add(const std::string& kernel, const char* what, int64_t a, int64_t b) {
    int64_t r = 0;
    if (__builtin_add_overflow(a, b, &r)) {
        invalid(kernel, std::string(what) + " = " + std::to_string(a) + " + " + std::to_string(b) +
                            " overflows int64");
    }
    return r;
}

// A pointer that must hold `count` floats: non-null when count > 0.
inline void check_ptr(const std::string& kernel, const char* what, const void* p, int64_t count) {
    if (count > 0 && p == nullptr) {
        invalid(kernel, std::string(what) + " is a null pointer but must hold " +
                            std::to_string(count) + " floats");
    }
}

// An activation code of common.cuh's Activation enum.
inline int check_act(const std::string& kernel, int64_t act) {
    if (act < 0 || act >= kNumActivations) {
        invalid(kernel, "unknown activation code " + std::to_string(act) + " (expected 0.." +
                            std::to_string(kNumActivations - 1) + ")");
    }
    return static_cast<int>(act);
}

}  // namespace minigan
