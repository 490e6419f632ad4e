// csrc/emu/python.cpp: the emulator's Python controls, added to minigan._C_emu by
// bindings.cpp (emu_add_python_bindings): buffer registration for the wrapper, thread
// order, running selected blocks of a huge grid, kernel resource figures, statistics.
#include <pybind11/pybind11.h>
#include <pybind11/stl.h>

#include <optional>
#include <stdexcept>
#include <string>
#include <vector>

#include "emu.h"
#include "runtime.h"

namespace py = pybind11;

namespace {

// Exercises the host CUDA runtime API of the emulator (what a test can check from Python):
// device properties and attributes, allocation (NaN-filled, exact size), copies, memset,
// streams, events, function attributes. Returns what it observed.
py::dict runtime_selftest() {
    py::dict out;
    cudaDeviceProp prop;
    if (cudaGetDeviceProperties(&prop, 0) != cudaSuccess) throw std::runtime_error("props");
    out["name"] = std::string(prop.name);
    out["major"] = prop.major;
    out["minor"] = prop.minor;
    out["multiProcessorCount"] = prop.multiProcessorCount;
    out["sharedMemPerBlock"] = prop.sharedMemPerBlock;
    out["sharedMemPerBlockOptin"] = prop.sharedMemPerBlockOptin;
    out["maxThreadsPerBlock"] = prop.maxThreadsPerBlock;
    out["maxGridSize"] =
        py::make_tuple(prop.maxGridSize[0], prop.maxGridSize[1], prop.maxGridSize[2]);
    out["maxThreadsDim"] =
        py::make_tuple(prop.maxThreadsDim[0], prop.maxThreadsDim[1], prop.maxThreadsDim[2]);
    int value = 0;
    cudaDeviceGetAttribute(&value, cudaDevAttrMultiProcessorCount, 0);
    out["attr_sm_count"] = value;
    out["bad_device_error"] = std::string(cudaGetErrorName(cudaSetDevice(1)));
    out["last_error_after"] = std::string(cudaGetErrorName(cudaGetLastError()));
    float* d = nullptr;
    out["malloc"] = std::string(cudaGetErrorName(cudaMalloc(reinterpret_cast<void**>(&d), 40)));
    out["malloc_aligned_256"] = reinterpret_cast<uintptr_t>(d) % 256 == 0;
    out["fresh_is_nan"] = d[0] != d[0] && d[9] != d[9];
    const float host[10] = {1, 2, 3, 4, 5, 6, 7, 8, 9, 10};
    cudaStream_t stream;
    cudaStreamCreate(&stream);
    cudaMemcpyAsync(d, host, sizeof host, cudaMemcpyHostToDevice, stream);
    float back[10] = {};
    cudaMemcpy(back, d, sizeof back, cudaMemcpyDeviceToHost);
    out["copied"] = back[0] == 1.f && back[9] == 10.f;
    cudaMemsetAsync(d, 0, sizeof host, stream);
    cudaStreamSynchronize(stream);
    out["memset_zero"] = d[0] == 0.f && d[9] == 0.f;
    cudaStreamDestroy(stream);
    out["free"] = std::string(cudaGetErrorName(cudaFree(d)));
    out["double_free"] = std::string(cudaGetErrorName(cudaFree(d)));
    cudaEvent_t start, stop;
    cudaEventCreate(&start);
    cudaEventCreate(&stop);
    cudaEventRecord(start);
    cudaEventRecord(stop);
    cudaEventSynchronize(stop);
    float ms = -1.f;
    cudaEventElapsedTime(&ms, start, stop);
    out["event_ms_nonnegative"] = ms >= 0.f;
    cudaEventDestroy(start);
    cudaEventDestroy(stop);
    // As on the GPU, an error stays until read: read it, so later launches do not see it.
    out["last_error_at_end"] = std::string(cudaGetErrorName(cudaGetLastError()));
    return out;
}

}  // namespace

void emu_add_python_bindings(py::module_& m) {
    m.def("emu_runtime_selftest", &runtime_selftest,
          "Exercise the emulator's host CUDA runtime API; returns what it observed.");
    m.attr("EMULATED") = true;
    int sm_count = 0;
    cudaDeviceGetAttribute(&sm_count, cudaDevAttrMultiProcessorCount, 0);
    m.attr("EMU_SM_COUNT") = sm_count;  // the emulated device's, for the wrapper's planning
    m.def("emu_register_buffer", &emu::register_call_buffer, py::arg("ptr"), py::arg("nbytes"),
          "Declare [ptr, ptr + nbytes) valid memory for kernel accesses until "
          "emu_clear_buffers() (the wrapper registers every array it passes).");
    m.def("emu_clear_buffers", &emu::clear_call_buffers, "Forget the registered buffers.");
    m.def("emu_buffer_count", &emu::call_buffer_count);
    m.def(
        "emu_set_thread_order",
        [](const std::string& order, uint64_t seed) {
            emu::ThreadOrder o;
            if (order == "forward") {
                o = emu::ThreadOrder::FORWARD;
            } else if (order == "reverse") {
                o = emu::ThreadOrder::REVERSE;
            } else if (order == "shuffle") {
                o = emu::ThreadOrder::SHUFFLE;
            } else if (order == "mixed") {
                o = emu::ThreadOrder::MIXED;
            } else {
                throw std::invalid_argument(
                    "emu_set_thread_order: order must be forward, "
                    "reverse, shuffle or mixed, got '" +
                    order + "'");
            }
            emu::set_thread_order(o, seed);
        },
        py::arg("order"), py::arg("seed") = 0x5eed,
        "The order in which each block's threads run (mixed: forward, reverse and shuffled "
        "in turn by block).");
    m.def(
        "emu_run_only_blocks",
        [](std::optional<std::vector<unsigned long long>> blocks) {
            emu::set_only_blocks(blocks.has_value(),
                                 blocks.value_or(std::vector<unsigned long long>{}));
        },
        py::arg("blocks"),
        "Run only these linear block indices of later launches (None: all blocks).");
    m.def("emu_set_race_check", &emu::set_race_check, py::arg("enabled"));
    m.def("emu_set_kernel_info", &emu::set_kernel_info, py::arg("name"), py::arg("static_smem"),
          py::arg("max_threads"), py::arg("registers"),
          "Resource figures of a kernel (from ptxas) used by the launch checks.");
    m.def("emu_static_shared_bytes", &emu::static_shared_bytes);
    m.def("emu_stats", [] {
        const emu::Stats s = emu::stats();
        py::dict d;
        d["launches"] = s.launches;
        d["blocks"] = s.blocks;
        d["threads"] = s.threads;
        d["switches"] = s.switches;
        d["barriers"] = s.barriers;
        d["warp_ops"] = s.warp_ops;
        d["accesses"] = s.accesses;
        d["failures"] = s.failures;
        return d;
    });
    m.def("emu_reset_stats", &emu::reset_stats);
    m.def("emu_take_host_error", &emu::take_host_error,
          "The first undefined-behaviour report from host code since the last call ('' if none), "
          "cleared; the wrapper raises it at the end of each call.");
}
