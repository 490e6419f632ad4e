// csrc/emu/python.cpp: the emulator's Python controls, added to minigan._C_emu by
// bindings.cpp (emu_add_python_bindings): buffer registration for the wrapper, thread
// order, running selected blocks of a huge grid, kernel resource figures, statistics.
#include <pybind11/pybind11.h>
#include <pybind11/stl.h>

#include <optional>
#include <stdexcept>
#include <string>
#include <vector>

#include "runtime.h"

namespace py = pybind11;

void emu_add_python_bindings(py::module_& m) {
    m.attr("EMULATED") = true;
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
