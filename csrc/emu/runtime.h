// csrc/emu/runtime.h: the emulator's controls and reports, for csrc/emu/python.cpp (the
// Python-facing functions of minigan._C_emu) and csrc/emu/runtime.cpp.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>
#include <vector>

namespace emu {

// The order in which the scheduler runs the threads of a block. MIXED: forward, reverse and
// shuffled in turn, by block index and launch count (the default: deterministic, varied).
enum class ThreadOrder : int { FORWARD = 0, REVERSE = 1, SHUFFLE = 2, MIXED = 3 };

struct Stats {
    unsigned long long launches = 0, blocks = 0, threads = 0, switches = 0, barriers = 0,
                       warp_ops = 0, accesses = 0, failures = 0;
};

void set_thread_order(ThreadOrder order, uint64_t seed);
// Run only these linear block indices (x fastest) of every later launch, to test a huge
// grid's last blocks; enabled = false runs every block again.
void set_only_blocks(bool enabled, const std::vector<unsigned long long>& blocks);
void set_race_check(bool enabled);
// What ptxas reported for a kernel (static shared memory, __launch_bounds__ threads,
// registers), used by the launch checks; name is the kernel's base name.
void set_kernel_info(const std::string& name, long long static_smem, int max_threads, int regs);
// Memory the Python wrapper hands to one call (its arrays): valid for kernel accesses until
// clear_call_buffers().
void register_call_buffer(uintptr_t ptr, size_t bytes);
void clear_call_buffers();
size_t call_buffer_count();
Stats stats();
void reset_stats();
// Static shared memory the last block used (its __shared__ variables, bytes).
size_t static_shared_bytes();

std::string fmt_location(const char* file, unsigned line, unsigned column);
// Undefined behaviour: fails the launch inside kernel code; in host code it is kept until
// the next launch or take_host_error() (the handlers must return there).
void report_undefined(const std::string& what);
std::string take_host_error();

}  // namespace emu
