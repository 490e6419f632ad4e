// csrc/emu/runtime.cpp: the runtime of the CUDA emulator (see emu.h): fibers and the block
// scheduler, barriers and warp operations, the memory checker that the compiler's
// instrumentation calls on every load and store of kernel code, undefined-behaviour
// reports, launch-limit checks and host versions of the CUDA runtime API.
//
// This file is compiled WITHOUT instrumentation: only csrc/*.cu are instrumented.
//
// Model:
//   * a launch runs its blocks one after another (optionally only some of them, for tests
//     of huge grids); a block runs all its threads as fibers on the calling OS thread, in a
//     deterministic order that varies between blocks and launches (forward, reverse,
//     shuffled), so code that depends on an order the hardware does not promise shows up;
//   * a fiber runs until it waits (at __syncthreads, a warp operation) or exits. When no
//     fiber can run, the scheduler completes warp operations whose live lanes have all
//     arrived, then releases a barrier that every live thread waits at; anything else is an
//     error (barrier divergence, a shuffle reading an exited lane, deadlock);
//   * every load and store of kernel code goes through check_access(): its own stack (local
//     memory) and the launch's arguments are fine; shared memory (the block's __shared__
//     variables, allocated by shared_variable, and the dynamic buffer) must be aligned and is
//     race-checked (a shadow word per 4 bytes, per byte for sub-word accesses: writers and
//     readers in the current barrier interval, ordered by __syncwarp where one completed);
//     the kernel's module globals are readable; anything else must lie inside a buffer
//     registered for the launch (the arrays the Python wrapper passed, or emulated
//     cudaMalloc allocations), aligned to the access size, as the GPU requires.
#include "runtime.h"

#include <dlfcn.h>
#include <link.h>
#include <sys/mman.h>

#include <algorithm>
#include <array>
#include <chrono>
#include <cinttypes>
#include <cstdarg>
#include <cstdio>
#include <cstdlib>
#include <map>
#include <mutex>
#include <stdexcept>
#include <string>
#include <unordered_map>
#include <vector>

#include "emu.h"

#if !defined(__x86_64__)
#include <ucontext.h>
#endif

namespace emu {

Builtins g_builtins{};

namespace {

// ----- limits of the emulated device: an H100 (sm_90) ----------------------------------------
constexpr int kMaxThreadsPerBlock = 1024;
constexpr unsigned kMaxBlockDim[3] = {1024, 1024, 64};
constexpr unsigned long long kMaxGridDim[3] = {2147483647ull, 65535ull, 65535ull};
constexpr size_t kDefaultSharedPerBlock = 48 * 1024;
constexpr size_t kMaxSharedPerBlockOptin = 227 * 1024;
constexpr int kSmCount = 132;
constexpr size_t kFiberStackBytes = 256 * 1024;

// ----- fibers --------------------------------------------------------------------------------
#if defined(__x86_64__)
// emu_switch_context(save, next): saves the callee-saved registers, MXCSR and the x87
// control word on the current stack, stores the stack pointer in *save, and resumes the
// context whose stack pointer is `next`. A new context starts in emu_fiber_entry with the
// entry function in r13 and its argument in r12.
extern "C" void emu_switch_context(void** save, void* next);
extern "C" void emu_fiber_entry();
asm(R"(
    .text
    .p2align 4
    .globl emu_switch_context
    .hidden emu_switch_context
    .type emu_switch_context, @function
emu_switch_context:
    pushq %rbp
    pushq %rbx
    pushq %r12
    pushq %r13
    pushq %r14
    pushq %r15
    subq $8, %rsp
    stmxcsr (%rsp)
    fnstcw 4(%rsp)
    movq %rsp, (%rdi)
    movq %rsi, %rsp
    ldmxcsr (%rsp)
    fldcw 4(%rsp)
    addq $8, %rsp
    popq %r15
    popq %r14
    popq %r13
    popq %r12
    popq %rbx
    popq %rbp
    ret
    .size emu_switch_context, .-emu_switch_context

    .p2align 4
    .globl emu_fiber_entry
    .hidden emu_fiber_entry
    .type emu_fiber_entry, @function
emu_fiber_entry:
    movq %r12, %rdi
    callq *%r13
    ud2
    .size emu_fiber_entry, .-emu_fiber_entry
)");
#endif

enum class State : uint8_t { READY, AT_BARRIER, AT_WARP, EXITED };

struct WarpRequest {
    WarpOpKind kind;
    unsigned mask;
    unsigned long long value, result;
    int arg, width;
    const char* file;
    int line;
};

struct Thread {
    char* stack_lo = nullptr;  // usable stack [stack_lo, stack_hi)
    char* stack_hi = nullptr;
#if defined(__x86_64__)
    void* sp = nullptr;
#else
    ucontext_t ctx;
#endif
    State state = State::READY;
    uint3 idx{};
    int tid = 0;  // linear index in the block
    const char* barrier_file = nullptr;
    int barrier_line = 0;
    WarpRequest warp{};
};

// ----- the current launch --------------------------------------------------------------------
// An address range [lo, hi).
struct Range {
    uintptr_t lo = 0, hi = 0;
};
struct ModuleMemory;

struct Launch {
    const char* name = "";
    void (*run_thread)(void*) = nullptr;
    void* closure = nullptr;
    uintptr_t params_lo = 0, params_hi = 0;
    dim3 grid, block;
    int nthreads = 0;
    uint3 block_idx{};
    char* dyn_shared = nullptr;
    size_t dyn_bytes = 0;
    const ModuleMemory* module = nullptr;  // the kernel's module: its globals
    size_t shared_limit = 0;  // static + dynamic shared memory allowed (48 KiB or raised)
    bool failed = false;
    std::string error;
};

struct Buffer {
    uintptr_t lo, hi;
};

// The race-check state of 4 bytes of shared memory (check_shadow): who wrote and who read
// them in the barrier interval (epoch) w_epoch / r_epoch. A set of accesses is kept as the
// latest thread (w_tid / r_tid), the lanes of its warp that belong to the set (w_lanes /
// r_lanes) and the warp's __syncwarp count at the latest of them (w_seq / r_seq); accesses
// of several warps are only flagged (nothing orders them inside a barrier interval). Plain
// writes leave one writer; the writer set grows only by atomics.
struct ShadowWord {
    uint32_t w_epoch = 0, r_epoch = 0;
    uint32_t w_seq = 0, r_seq = 0;
    uint32_t w_lanes = 0, r_lanes = 0;
    uint16_t w_tid = 0, r_tid = 0;
    uint8_t flags = 0;  // kAtomicWrites | kWritersOfManyWarps | kReadersOfManyWarps | kSplit
};
constexpr uint8_t kAtomicWrites = 1;        // the writes of the set are all atomic
constexpr uint8_t kWritersOfManyWarps = 2;  // atomic writers of several warps
constexpr uint8_t kReadersOfManyWarps = 4;  // readers of several warps
constexpr uint8_t kSplit = 8;  // accessed in parts: tracked per byte (Emulator::split_words)

struct KernelInfo {
    long long static_smem = -1;  // bytes, -1 = unknown
    int max_threads = 0;         // __launch_bounds__, 0 = none
    int registers = 0;
};

struct Emulator {
    std::mutex mutex;  // one launch at a time
    bool in_kernel = false;
    Launch launch;
    std::vector<Thread> threads;
    Thread* current = nullptr;
#if defined(__x86_64__)
    void* scheduler_sp = nullptr;
#else
    ucontext_t scheduler_ctx;
#endif
    char* stacks = nullptr;  // kMaxThreadsPerBlock stacks, each below a guard page
    // memory
    std::vector<Buffer> device_buffers;  // emulated cudaMalloc: live until cudaFree
    std::vector<Buffer> call_buffers;    // registered by the Python wrapper for one call
    std::vector<ShadowWord> shadow;
    // Static shared memory of the running block: variables allocated on first use
    // (shared_variable), in an arena as large as an sm_90 block may have.
    struct SharedVariable {
        const void* key;
        size_t offset, bytes;
        const char* name;
    };
    std::vector<char> shared_arena;
    uintptr_t shared_base = 0;  // 256-byte aligned start inside shared_arena
    size_t shared_used = 0;
    std::vector<SharedVariable> shared_variables;
    uint32_t epoch = 1;
    uint32_t block_epoch = 1;  // the epoch at which the running block started
    // Shadow state per byte of the words accessed in parts (1- or 2-byte accesses), by
    // shadow index: bytes of one word written by different threads are no race.
    std::unordered_map<size_t, std::array<ShadowWord, 4>> split_words;
    // __syncwarp ordering (vector clocks, never reset: all values only grow). warp_seq[w]:
    // the number of __syncwarp()s completed in warp w; lane_clock[t][l]: the latest of them
    // that lane l took part in and that thread t is ordered after (through a chain of
    // __syncwarp()s). An access of lane l at count r is ordered before thread t's accesses
    // once lane_clock[t][l] > r.
    uint32_t warp_seq[kMaxThreadsPerBlock / 32] = {};
    uint32_t lane_clock[kMaxThreadsPerBlock][32] = {};
    // configuration
    ThreadOrder order = ThreadOrder::MIXED;
    uint64_t seed = 0x5eed;
    bool only_blocks_set = false;
    std::vector<unsigned long long> only_blocks;
    bool race_check = true;
    std::unordered_map<std::string, KernelInfo> kernel_info;
    std::unordered_map<const void*, int> max_dynamic_smem;  // cudaFuncSetAttribute
    std::unordered_map<const void*, std::string> kernel_names;
    Stats stats;
    cudaError_t last_error = cudaSuccess;
    std::string host_error;  // undefined behaviour seen in host code, not yet reported
};

Emulator& E() {
    static Emulator* e = new Emulator();  // never destroyed: used until process exit
    return *e;
}

// The memory of the module (shared object) that holds the launched kernel: its globals
// (__device__ / __constant__ variables, static tables) which kernel code may read, and
// write where the segment is writable. Found once per kernel with dl_iterate_phdr.
struct ModuleMemory {
    std::vector<Range> readable;
    std::vector<Range> writable;
};
const ModuleMemory& module_memory_of(const void* code) {
    static std::map<const void*, ModuleMemory> cache;  // kernel address -> its module
    auto it = cache.find(code);
    if (it != cache.end()) return it->second;
    struct Search {
        uintptr_t code;
        ModuleMemory found;
    } search{reinterpret_cast<uintptr_t>(code), {}};
    dl_iterate_phdr(
        [](dl_phdr_info* info, size_t, void* arg) -> int {
            auto* s = static_cast<Search*>(arg);
            ModuleMemory m;
            bool holds_code = false;
            for (int i = 0; i < info->dlpi_phnum; ++i) {
                const ElfW(Phdr) & ph = info->dlpi_phdr[i];
                if (ph.p_type != PT_LOAD) continue;
                const Range r{info->dlpi_addr + ph.p_vaddr,
                              info->dlpi_addr + ph.p_vaddr + ph.p_memsz};
                if ((ph.p_flags & PF_X) && s->code >= r.lo && s->code < r.hi) holds_code = true;
                if (ph.p_flags & PF_R) m.readable.push_back(r);
                if (ph.p_flags & PF_W) m.writable.push_back(r);
            }
            if (!holds_code) return 0;
            s->found = m;
            return 1;
        },
        &search);
    return cache[code] = search.found;
}

bool in_ranges(const std::vector<Range>& v, uintptr_t a, size_t n) {
    for (const Range& r : v) {
        if (a >= r.lo && a + n <= r.hi) return true;
    }
    return false;
}

std::string fmt(const char* f, ...) __attribute__((format(printf, 1, 2)));
std::string fmt(const char* f, ...) {
    char buf[1024];
    va_list ap;
    va_start(ap, f);
    vsnprintf(buf, sizeof buf, f, ap);
    va_end(ap);
    return buf;
}

std::string dims(uint3 v) { return fmt("(%u,%u,%u)", v.x, v.y, v.z); }
std::string dims(dim3 v) { return fmt("(%u,%u,%u)", v.x, v.y, v.z); }

std::string where(const Thread* t) {
    const Emulator& e = E();
    std::string s = "block " + dims(e.launch.block_idx);
    if (t != nullptr) s += ", thread " + dims(t->idx);
    return s;
}

// ----- switching -----------------------------------------------------------------------------
void switch_to(Thread* t) {
    Emulator& e = E();
    e.current = t;
    g_builtins.thread_idx = t->idx;
    ++e.stats.switches;
#if defined(__x86_64__)
    emu_switch_context(&e.scheduler_sp, t->sp);
#else
    swapcontext(&e.scheduler_ctx, &t->ctx);
#endif
    e.current = nullptr;
}

void yield_to_scheduler() {
    Emulator& e = E();
    Thread* t = e.current;
#if defined(__x86_64__)
    emu_switch_context(&t->sp, e.scheduler_sp);
#else
    swapcontext(&t->ctx, &e.scheduler_ctx);
#endif
}

// A checked failure inside kernel code: record it and abandon the fiber (kernels hold no
// resources that need unwinding). Outside a kernel: an exception.
[[noreturn]] void fail(const std::string& what) {
    Emulator& e = E();
    if (!e.in_kernel || e.current == nullptr) throw std::runtime_error(what);
    if (!e.launch.failed) {
        e.launch.failed = true;
        e.launch.error = std::string(e.launch.name) + ": " + what + " [" + where(e.current) + "]";
    }
    e.current->state = State::EXITED;
    yield_to_scheduler();
    __builtin_trap();  // never resumed
}

void fiber_main(void* arg) {
    Thread* t = static_cast<Thread*>(arg);
    Emulator& e = E();
    e.launch.run_thread(e.launch.closure);
    t->state = State::EXITED;
    yield_to_scheduler();
    __builtin_trap();
}

void start_fiber(Thread* t) {
#if defined(__x86_64__)
    uint64_t* sp = reinterpret_cast<uint64_t*>(t->stack_hi);  // 16-byte aligned
    uint32_t mxcsr;
    uint16_t fpcw;
    asm volatile("stmxcsr %0" : "=m"(mxcsr));
    asm volatile("fnstcw %0" : "=m"(fpcw));
    *--sp = reinterpret_cast<uint64_t>(&emu_fiber_entry);  // popped by `ret`
    *--sp = 0;                                             // rbp
    *--sp = 0;                                             // rbx
    *--sp = reinterpret_cast<uint64_t>(t);                 // r12: the argument
    *--sp = reinterpret_cast<uint64_t>(&fiber_main);       // r13: the entry function
    *--sp = 0;                                             // r14
    *--sp = 0;                                             // r15
    *--sp = static_cast<uint64_t>(mxcsr) | (static_cast<uint64_t>(fpcw) << 32);
    t->sp = sp;
#else
    getcontext(&t->ctx);
    t->ctx.uc_stack.ss_sp = t->stack_lo;
    t->ctx.uc_stack.ss_size = t->stack_hi - t->stack_lo;
    t->ctx.uc_link = nullptr;
    makecontext(&t->ctx, reinterpret_cast<void (*)()>(&fiber_main), 1, t);
#endif
}

void ensure_stacks() {
    Emulator& e = E();
    if (e.stacks != nullptr) return;
    const size_t page = 4096, slot = kFiberStackBytes + page;
    void* mem = mmap(nullptr, slot * kMaxThreadsPerBlock, PROT_READ | PROT_WRITE,
                     MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
    if (mem == MAP_FAILED) throw std::runtime_error("emu: cannot map fiber stacks");
    e.stacks = static_cast<char*>(mem);
    e.threads.resize(kMaxThreadsPerBlock);
    for (int i = 0; i < kMaxThreadsPerBlock; ++i) {
        char* base = e.stacks + i * slot;
        mprotect(base, page, PROT_NONE);  // guard page: a stack overflow faults
        e.threads[i].stack_lo = base + page;
        e.threads[i].stack_hi = base + slot;
    }
}

// ----- memory checks ----------------------------------------------------------------------------
const Buffer* find_buffer(const std::vector<Buffer>& v, uintptr_t a, size_t n) {
    for (const Buffer& b : v) {
        if (a >= b.lo && a + n <= b.hi) return &b;
    }
    return nullptr;
}

// The registered buffer nearest to `a`, described for an error message.
std::string nearest_buffer(uintptr_t a) {
    const Emulator& e = E();
    const Buffer* best = nullptr;
    uintptr_t best_d = UINTPTR_MAX;
    for (const auto* v : {&e.call_buffers, &e.device_buffers}) {
        for (const Buffer& b : *v) {
            const uintptr_t d = a < b.lo ? b.lo - a : (a >= b.hi ? a - b.hi + 1 : 0);
            if (d < best_d) best_d = d, best = &b;
        }
    }
    if (best == nullptr) return "no buffer is registered for this launch";
    const unsigned long long size = best->hi - best->lo;
    if (a < best->lo) {
        return fmt("%llu bytes before the %llu-byte buffer at 0x%" PRIxPTR,
                   (unsigned long long)(best->lo - a), size, best->lo);
    }
    return fmt("%llu bytes past the end of the %llu-byte buffer at 0x%" PRIxPTR,
               (unsigned long long)(a - best->hi), size, best->lo);
}

// A race between this thread's access (`kind`) and an earlier one: by thread `other_tid`, or
// (other_tid < 0) by threads of several warps (`other_kind` is then plural).
void race(const char* kind, uintptr_t address, int other_tid, const char* other_kind) {
    const Emulator& e = E();
    if (other_tid < 0) {
        fail(fmt("shared-memory race: %s of shared memory at 0x%" PRIxPTR
                 " conflicts with %s by threads of several warps in the same barrier interval "
                 "(no __syncthreads() between them)",
                 kind, address, other_kind));
    }
    const Thread& o = e.threads[other_tid];
    const bool same_warp = e.current != nullptr && (e.current->tid >> 5) == (other_tid >> 5);
    fail(fmt("shared-memory race: %s of shared memory at 0x%" PRIxPTR
             " conflicts with a %s by thread %s in the same barrier interval "
             "(no __syncthreads() between them%s)",
             kind, address, other_kind, dims(o.idx).c_str(),
             same_warp ? ", nor a __syncwarp() that both lanes took part in" : ""));
}

// The race check of one access against one shadow entry (a word, or one byte of a word
// accessed in parts), then its record. Two accesses of one barrier interval, at least one a
// plain write (or a plain access against an atomic write), conflict unless they are of the
// same thread, or of lanes of one warp ordered by __syncwarp() (Emulator::lane_clock).
// A set of readers (or of atomic writers) of one warp is kept as its lanes and the latest
// __syncwarp count among them: a new access is ordered after the set when every lane of it
// took part in a later __syncwarp() that the new access is ordered after. That is exact for
// one access and conservative for several: a set member that synced after its own access
// but not after the set's latest one counts as unordered (a possible false report that
// needs reads of one word split by partial-mask __syncwarp()s). A read ordered after the
// whole set replaces it, so reads separated by __syncwarp() never accumulate.
inline void check_shadow(ShadowWord& s, uintptr_t a, bool write, bool atomic) {
    Emulator& e = E();
    const int me = e.current->tid, lane = me & 31, warp = me >> 5;
    const uint32_t bit = 1u << lane;
    const uint32_t* known = e.lane_clock[me];
    const uint32_t ep = e.epoch, now = e.warp_seq[warp];
    // A thread of the set (latest `tid`, its warp's `lanes`, latest count `seq`) whose access
    // is not ordered before this one, or -1.
    auto unordered = [&](int tid, uint32_t lanes, uint32_t seq) -> int {
        if ((tid >> 5) != warp) return tid;
        for (lanes &= ~bit; lanes != 0; lanes &= lanes - 1) {
            const int l = __builtin_ctz(lanes);
            if (known[l] <= seq) return warp * 32 + l;
        }
        return -1;
    };
    const char* kind = atomic ? "an atomic write" : write ? "a write" : "a read";
    const bool atomic_writes = (s.flags & kAtomicWrites) != 0;
    if (s.w_epoch == ep && !(atomic && atomic_writes)) {  // atomics do not race each other
        if (s.flags & kWritersOfManyWarps) race(kind, a, -1, "atomic writes");
        const int o = unordered(s.w_tid, s.w_lanes, s.w_seq);
        if (o >= 0) race(kind, a, o, atomic_writes ? "atomic write" : "write");
    }
    if (write && s.r_epoch == ep) {
        if (s.flags & kReadersOfManyWarps) race(kind, a, -1, "reads");
        const int o = unordered(s.r_tid, s.r_lanes, s.r_seq);
        if (o >= 0) race(kind, a, o, "read");
    }
    if (write) {
        // An atomic joins the earlier atomic writers it is not ordered after; any other
        // write is ordered after every earlier access (else it was reported above).
        const bool join = atomic && atomic_writes && s.w_epoch == ep;
        if (join && ((s.flags & kWritersOfManyWarps) || (s.w_tid >> 5) != warp)) {
            s.flags |= kWritersOfManyWarps;
        } else if (join && unordered(s.w_tid, s.w_lanes, s.w_seq) >= 0) {
            s.w_lanes |= bit;
        } else {
            s.w_lanes = bit;
            s.flags &= ~(kWritersOfManyWarps | kAtomicWrites);
            if (atomic) s.flags |= kAtomicWrites;
        }
        s.w_epoch = ep;
        s.w_tid = static_cast<uint16_t>(me);
        s.w_seq = now;
        // The reads are ordered before this plain write, hence before every later access
        // that must be ordered after it; not before a later atomic write, which need not be.
        if (!atomic) s.r_epoch = 0;
    } else if (s.r_epoch != ep) {
        s.r_epoch = ep;
        s.r_tid = static_cast<uint16_t>(me);
        s.r_lanes = bit;
        s.r_seq = now;
        s.flags &= ~kReadersOfManyWarps;
    } else if ((s.flags & kReadersOfManyWarps) || (s.r_tid >> 5) != warp) {
        s.flags |= kReadersOfManyWarps;
        s.r_tid = static_cast<uint16_t>(me);
    } else {
        s.r_lanes = unordered(s.r_tid, s.r_lanes, s.r_seq) >= 0 ? (s.r_lanes | bit) : bit;
        s.r_tid = static_cast<uint16_t>(me);
        s.r_seq = now;
    }
}

void check_shared(uintptr_t a, size_t n, bool write, bool atomic, size_t word_base,
                  uintptr_t region_lo) {
    Emulator& e = E();
    auto uninitialised = [&]() {
        fail(fmt("read of uninitialised shared memory at 0x%" PRIxPTR
                 " (no thread of this block has written it; its contents are undefined "
                 "on the GPU)",
                 a));
    };
    const uintptr_t first = (a - region_lo) / 4, last = (a + n - 1 - region_lo) / 4;
    for (uintptr_t w = first; w <= last; ++w) {
        const size_t index = word_base + w;
        ShadowWord& s = e.shadow[index];
        // the bytes [lo, hi) of this word that the access covers
        const uintptr_t word_lo = region_lo + 4 * w;
        const unsigned lo = a > word_lo ? static_cast<unsigned>(a - word_lo) : 0u;
        const unsigned hi = static_cast<unsigned>(std::min<uintptr_t>(a + n - word_lo, 4));
        if (!(s.flags & kSplit) && lo == 0 && hi == 4) {
            if (!write && s.w_epoch < e.block_epoch) uninitialised();
            if (e.race_check) {
                check_shadow(s, a, write, atomic);
            } else if (write) {
                s.w_epoch = e.epoch;
            }
            continue;
        }
        // A part of the word, or a word accessed in parts before: one entry per byte, each
        // starting as a copy of the word's (also for the uninitialised-read check: a read is
        // of uninitialised memory when none of the bytes it covers in a word was written).
        if (!(s.flags & kSplit)) {
            e.split_words[index] = {s, s, s, s};
            s.flags |= kSplit;
        }
        std::array<ShadowWord, 4>& bytes = e.split_words[index];
        if (!write) {
            bool written = false;
            for (unsigned k = lo; k < hi; ++k) written |= bytes[k].w_epoch >= e.block_epoch;
            if (!written) uninitialised();
        }
        for (unsigned k = lo; k < hi; ++k) {
            if (e.race_check) {
                check_shadow(bytes[k], a, write, atomic);
            } else if (write) {
                bytes[k].w_epoch = e.epoch;
            }
        }
        if (write && !atomic && lo == 0 && hi == 4) {
            // a plain write of the whole word left its four bytes in the same state
            s = bytes[0];
            s.flags &= ~kSplit;
            e.split_words.erase(index);
        }
    }
}

inline void check_access(uintptr_t a, size_t n, bool write, bool atomic) {
    Emulator& e = E();
    if (!e.in_kernel || e.current == nullptr) return;  // host code of the .cu files
    ++e.stats.accesses;
    const Thread* t = e.current;
    if (a >= reinterpret_cast<uintptr_t>(t->stack_lo) &&
        a + n <= reinterpret_cast<uintptr_t>(t->stack_hi)) {
        return;  // the thread's own local memory
    }
    if (a >= e.launch.params_lo && a + n <= e.launch.params_hi) return;  // the launch's arguments
    const uintptr_t b = reinterpret_cast<uintptr_t>(&g_builtins);
    if (a >= b && a + n <= b + sizeof(g_builtins)) {
        if (write) fail("a write to a built-in variable (threadIdx, blockIdx, ...)");
        return;
    }
    const char* what = write ? "write" : "read";
    if ((n == 2 || n == 4 || n == 8 || n == 16) && (a & (n - 1)) != 0) {
        fail(fmt("misaligned %zu-byte %s at 0x%" PRIxPTR " (a %zu-byte access must be %zu-byte "
                 "aligned: misaligned address error on the GPU)",
                 n, what, a, n, n));
    }
    const uintptr_t slo = e.shared_base;
    if (a >= slo && a < slo + kMaxSharedPerBlockOptin) {
        if (a + n > slo + e.shared_used) {
            fail(fmt("shared-memory %s of %zu bytes at byte offset %" PRIuPTR
                     " lies beyond the block's shared variables (%zu bytes)",
                     what, n, a - slo, e.shared_used));
        }
        check_shared(a, n, write, atomic, 0, slo);
        return;
    }
    const uintptr_t dlo = reinterpret_cast<uintptr_t>(e.launch.dyn_shared);
    if (e.launch.dyn_bytes > 0 && a >= dlo && a < dlo + e.launch.dyn_bytes + 64) {
        if (a + n > dlo + e.launch.dyn_bytes) {
            fail(fmt("out-of-bounds dynamic shared-memory %s of %zu bytes at byte offset %" PRIuPTR
                     " (the launch asked for %zu bytes)",
                     what, n, a - dlo, e.launch.dyn_bytes));
        }
        check_shared(a, n, write, atomic, kMaxSharedPerBlockOptin / 4 + 1, dlo);
        return;
    }
    if (find_buffer(e.call_buffers, a, n) || find_buffer(e.device_buffers, a, n)) return;
    if (e.launch.module != nullptr &&
        in_ranges(write ? e.launch.module->writable : e.launch.module->readable, a, n)) {
        return;  // a global variable of the kernel's module
    }
    fail(fmt("out-of-bounds global %s of %zu bytes at 0x%" PRIxPTR " (%s)", what, n, a,
             nearest_buffer(a).c_str()));
}

// ----- scheduling a block --------------------------------------------------------------------
uint64_t splitmix(uint64_t x) {
    x += 0x9e3779b97f4a7c15ull;
    x = (x ^ (x >> 30)) * 0xbf58476d1ce4e5b9ull;
    x = (x ^ (x >> 27)) * 0x94d049bb133111ebull;
    return x ^ (x >> 31);
}

std::vector<int> thread_order(int n, unsigned long long block_linear) {
    Emulator& e = E();
    std::vector<int> order(n);
    for (int i = 0; i < n; ++i) order[i] = i;
    ThreadOrder mode = e.order;
    // MIXED: by block and by launch, so that the blocks of a grid differ and so do repeated
    // launches of a single block (deterministic for a given sequence of launches).
    if (mode == ThreadOrder::MIXED) {
        mode = static_cast<ThreadOrder>((block_linear + e.stats.launches) % 3);
    }
    if (mode == ThreadOrder::REVERSE) {
        std::reverse(order.begin(), order.end());
    } else if (mode == ThreadOrder::SHUFFLE) {
        uint64_t s = splitmix(e.seed ^ (block_linear * 0x100000001b3ull) ^ e.stats.launches);
        for (int i = n - 1; i > 0; --i) {
            s = splitmix(s);
            std::swap(order[i], order[static_cast<int>(s % static_cast<uint64_t>(i + 1))]);
        }
    }
    return order;
}

const char* warp_op_name(WarpOpKind k) {
    switch (k) {
        case WARP_SHFL_IDX:
            return "__shfl_sync";
        case WARP_SHFL_UP:
            return "__shfl_up_sync";
        case WARP_SHFL_DOWN:
            return "__shfl_down_sync";
        case WARP_SHFL_XOR:
            return "__shfl_xor_sync";
        case WARP_BALLOT:
            return "__ballot_sync";
        case WARP_ANY:
            return "__any_sync";
        case WARP_ALL:
            return "__all_sync";
        default:
            return "__syncwarp";
    }
}

// The lane whose value lane `lane` reads in a shuffle, exactly as PTX shfl.sync computes it:
// b = the lane/delta/lane-mask argument's low 5 bits, segments of `width` lanes; a source
// outside the range the mode allows means the lane's own value. (bfly may read an earlier
// segment: only j > maxLane falls back.)
int shuffle_source(WarpOpKind kind, int lane, int arg, int width) {
    const int b = static_cast<int>(static_cast<unsigned>(arg) & 31u);
    const int c = width - 1, min_lane = lane & ~c & 31, max_lane = min_lane | c;
    switch (kind) {
        case WARP_SHFL_IDX:
            return min_lane | (b & c);
        case WARP_SHFL_UP:
            return lane - b < min_lane ? lane : lane - b;
        case WARP_SHFL_DOWN:
            return lane + b > max_lane ? lane : lane + b;
        case WARP_SHFL_XOR:
            return (lane ^ b) > max_lane ? lane : (lane ^ b);
        default:
            return lane;
    }
}

// Completes the warp operations whose taking-part lanes have all arrived. The lanes that
// take part are the mask's lanes that have not exited (lanes past the end of the block count
// as exited), as CUDA requires; they must all wait at an operation of the same kind and
// mask (a lane waiting at another one may get there once that one completes: lanes of one
// warp may sync in different groups, in any order). Returns whether any operation
// completed; sets launch.error (scheduler side) for a shuffle that reads a lane outside the
// mask or an exited one, and, when nothing could complete, for lanes that wait for each
// other at different warp operations.
bool resolve_warps(int nthreads) {
    Emulator& e = E();
    bool any = false;
    std::string mismatch;
    for (int w = 0; w * 32 < nthreads; ++w) {
        const int base = w * 32, lanes = std::min(32, nthreads - base);
        unsigned seen = 0;  // lanes whose operation was looked at in this pass
        for (int first = 0; first < lanes; ++first) {
            if ((seen >> first & 1u) || e.threads[base + first].state != State::AT_WARP) continue;
            const WarpRequest& r0 = e.threads[base + first].warp;
            const unsigned mask = r0.mask;
            unsigned live = 1u << first;  // the lanes that take part (all arrived when complete)
            bool complete = true;
            for (int l = 0; l < lanes; ++l) {
                if (!(mask >> l & 1u)) continue;
                const Thread& t = e.threads[base + l];
                if (t.state == State::AT_WARP) {
                    if (t.warp.mask != mask || t.warp.kind != r0.kind) {
                        if (mismatch.empty()) {
                            mismatch = fmt(
                                "lanes of warp %d wait for each other at different warp "
                                "operations: lane %d at %s mask 0x%08x (%s:%d), lane %d at %s "
                                "mask 0x%08x (%s:%d)",
                                w, first, warp_op_name(r0.kind), mask, r0.file, r0.line, l,
                                warp_op_name(t.warp.kind), t.warp.mask, t.warp.file, t.warp.line);
                        }
                        complete = false;
                    } else {
                        live |= 1u << l;
                    }
                } else if (t.state != State::EXITED) {
                    complete = false;  // waiting at a block barrier (a deadlock: release_barrier)
                }
            }
            seen |= live;
            if (!complete) continue;
            // Every taking-part lane has arrived: compute their results.
            unsigned ballot = 0;
            for (int l = 0; l < 32; ++l) {
                if ((live >> l & 1u) && e.threads[base + l].warp.value != 0) ballot |= 1u << l;
            }
            for (int l = 0; l < 32; ++l) {
                if (!(live >> l & 1u)) continue;
                Thread& t = e.threads[base + l];
                WarpRequest& r = t.warp;
                if (r.kind <= WARP_SHFL_XOR) {
                    const int src = shuffle_source(r.kind, l, r.arg, r.width);  // in [0, 31]
                    if (!(mask >> src & 1u)) {
                        e.launch.error =
                            fmt("%s (%s:%d): lane %d reads lane %d, which is not in the "
                                "mask 0x%08x (its value is undefined on the GPU)",
                                warp_op_name(r.kind), r.file, r.line, l, src, mask);
                        return false;
                    }
                    if (!(live >> src & 1u)) {
                        e.launch.error =
                            src >= lanes
                                ? fmt("%s (%s:%d) with mask 0x%08x: lane %d (thread %s) reads lane "
                                      "%d, which does not exist (warp %d has only %d threads; its "
                                      "value is undefined on the GPU)",
                                      warp_op_name(r.kind), r.file, r.line, mask, l,
                                      dims(t.idx).c_str(), src, w, lanes)
                                : fmt("%s (%s:%d) with mask 0x%08x: lane %d (thread %s) reads lane "
                                      "%d (thread %s), which has exited (its value is undefined "
                                      "on the GPU)",
                                      warp_op_name(r.kind), r.file, r.line, mask, l,
                                      dims(t.idx).c_str(), src,
                                      dims(e.threads[base + src].idx).c_str());
                        return false;
                    }
                    r.result = e.threads[base + src].warp.value;
                } else if (r.kind == WARP_BALLOT) {
                    r.result = ballot;
                } else if (r.kind == WARP_ANY) {
                    r.result = ballot != 0;
                } else if (r.kind == WARP_ALL) {
                    r.result = ballot == live;
                }
            }
            if (r0.kind == WARP_SYNC) {
                // A memory barrier among the taking-part lanes: each is now ordered after what
                // any of them was ordered after, and after each other's accesses so far.
                const uint32_t seq = ++e.warp_seq[w];
                uint32_t joined[32];
                for (int k = 0; k < 32; ++k) {
                    uint32_t m = 0;
                    for (unsigned ls = live; ls != 0; ls &= ls - 1) {
                        m = std::max(m, e.lane_clock[base + __builtin_ctz(ls)][k]);
                    }
                    joined[k] = (live >> k & 1u) ? seq : m;
                }
                for (unsigned ls = live; ls != 0; ls &= ls - 1) {
                    std::memcpy(e.lane_clock[base + __builtin_ctz(ls)], joined, sizeof joined);
                }
            }
            for (int l = 0; l < 32; ++l) {
                if (live >> l & 1u) e.threads[base + l].state = State::READY;
            }
            ++e.stats.warp_ops;
            any = true;
        }
    }
    if (!any && !mismatch.empty()) e.launch.error = mismatch;
    return any;
}

// Releases the block barrier when every live thread waits at the same one; otherwise
// explains why the block can make no progress (launch.error).
bool release_barrier(int nthreads) {
    Emulator& e = E();
    int waiting = 0, exited = 0, at_warp = -1, first = -1;
    for (int i = 0; i < nthreads; ++i) {
        const Thread& t = e.threads[i];
        if (t.state == State::AT_BARRIER) {
            ++waiting;
            if (first < 0) first = i;
        } else if (t.state == State::EXITED) {
            ++exited;
        } else if (t.state == State::AT_WARP && at_warp < 0) {
            at_warp = i;
        }
    }
    if (first < 0 && at_warp >= 0) {
        const Thread& t = e.threads[at_warp];
        e.launch.error = fmt(
            "deadlock: thread %s waits at %s (%s:%d) mask 0x%08x for lanes that "
            "never arrive",
            dims(t.idx).c_str(), warp_op_name(t.warp.kind), t.warp.file, t.warp.line, t.warp.mask);
        return false;
    }
    const Thread& f = e.threads[first];
    if (at_warp >= 0) {
        // a lane that the warp operation waits for (its mask names it) waits at the barrier
        const Thread& t = e.threads[at_warp];
        const int base = at_warp & ~31;
        const Thread* b = &f;
        bool named = false;
        for (int l = 0; l < 32 && base + l < nthreads && !named; ++l) {
            if ((t.warp.mask >> l & 1u) && e.threads[base + l].state == State::AT_BARRIER) {
                b = &e.threads[base + l];
                named = true;
            }
        }
        e.launch.error =
            fmt("deadlock: thread %s waits at %s (%s:%d) mask 0x%08x while thread %s%s waits "
                "at __syncthreads() (%s:%d)",
                dims(t.idx).c_str(), warp_op_name(t.warp.kind), t.warp.file, t.warp.line,
                t.warp.mask, dims(b->idx).c_str(), named ? ", a lane of that mask," : "",
                b->barrier_file, b->barrier_line);
        return false;
    }
    if (exited > 0) {
        int ex = 0;
        while (e.threads[ex].state != State::EXITED) ++ex;
        e.launch.error =
            fmt("barrier divergence: thread %s exited while %d other thread(s) wait "
                "at __syncthreads() (%s:%d); every thread of the block must reach "
                "each barrier",
                dims(e.threads[ex].idx).c_str(), waiting, f.barrier_file, f.barrier_line);
        return false;
    }
    for (int i = 0; i < nthreads; ++i) {
        const Thread& t = e.threads[i];
        if (t.barrier_line != f.barrier_line || t.barrier_file != f.barrier_file) {
            e.launch.error =
                fmt("barrier divergence: thread %s waits at __syncthreads() (%s:%d) "
                    "while thread %s waits at a different one (%s:%d)",
                    dims(f.idx).c_str(), f.barrier_file, f.barrier_line, dims(t.idx).c_str(),
                    t.barrier_file, t.barrier_line);
            return false;
        }
    }
    ++e.epoch;
    ++e.stats.barriers;
    for (int i = 0; i < nthreads; ++i) e.threads[i].state = State::READY;
    return true;
}

void run_block(uint3 bidx, unsigned long long linear) {
    Emulator& e = E();
    Launch& L = e.launch;
    L.block_idx = bidx;
    g_builtins.block_idx = bidx;
    // Shared memory starts uninitialised: reading a word that no thread of this block has
    // written is an error (check_shared); dynamic shared memory is also filled with NaN.
    if (L.dyn_bytes > 0) std::memset(L.dyn_shared, 0xff, L.dyn_bytes);
    ++e.epoch;
    e.block_epoch = e.epoch;  // shared words written before this are uninitialised here
    e.shared_used = 0;
    e.shared_variables.clear();
    const int n = L.nthreads;
    for (int i = 0; i < n; ++i) {
        Thread& t = e.threads[i];
        t.tid = i;
        t.idx = {i % L.block.x, (i / L.block.x) % L.block.y, i / (L.block.x * L.block.y)};
        t.state = State::READY;
        t.barrier_file = nullptr;
        t.barrier_line = 0;
        start_fiber(&t);
    }
    const std::vector<int> order = thread_order(n, linear);
    int exited = 0;
    while (true) {
        for (int i : order) {
            Thread& t = e.threads[i];
            if (t.state != State::READY) continue;
            switch_to(&t);
            if (L.failed) return;
            if (t.state == State::EXITED) ++exited;
        }
        if (exited == n) return;
        if (resolve_warps(n)) continue;
        if (!L.error.empty()) {
            L.failed = true;
            L.error = std::string(L.name) + ": " + L.error + " [" + where(nullptr) + "]";
            return;
        }
        if (release_barrier(n)) continue;
        L.failed = true;
        L.error = std::string(L.name) + ": " + L.error + " [" + where(nullptr) + "]";
        return;
    }
}

// "family: kernel<args>" -> "kernel<args>": the launch name's last part is the kernel's
// name as ptxas reports it (tests/test_kernel_resources.py checks every launch site).
std::string kernel_name(const std::string& full) {
    const size_t colon = full.rfind(": ");
    return colon == std::string::npos ? full : full.substr(colon + 2);
}

// "family: kernel<args>" -> "kernel".
std::string base_name(const std::string& full) {
    std::string s = kernel_name(full);
    const size_t lt = s.find('<');
    if (lt != std::string::npos) s = s.substr(0, lt);
    return s;
}

[[noreturn]] void refuse(const char* name, const std::string& why) {
    Emulator& e = E();
    e.last_error = cudaSuccess;  // a refused launch is reported here, at once
    throw std::runtime_error("[emu] " + std::string(name) +
                             ": launch refused (cudaErrorInvalidConfiguration on the GPU): " + why);
}

void check_launch_config(const char* name, const void* kernel, dim3 grid, dim3 block, size_t smem) {
    Emulator& e = E();
    const unsigned bd[3] = {block.x, block.y, block.z};
    const unsigned long long gd[3] = {grid.x, grid.y, grid.z};
    const char* axis = "xyz";
    for (int i = 0; i < 3; ++i) {
        if (bd[i] == 0 || gd[i] == 0) {
            refuse(name,
                   "grid " + dims(grid) + " / block " + dims(block) + " has a zero dimension");
        }
        if (bd[i] > kMaxBlockDim[i]) {
            refuse(name, fmt("blockDim.%c = %u exceeds the limit %u (block %s)", axis[i], bd[i],
                             kMaxBlockDim[i], dims(block).c_str()));
        }
        if (gd[i] > kMaxGridDim[i]) {
            refuse(name, fmt("gridDim.%c = %llu exceeds the limit %llu (grid %s)", axis[i], gd[i],
                             kMaxGridDim[i], dims(grid).c_str()));
        }
    }
    const unsigned long long threads = 1ull * block.x * block.y * block.z;
    if (threads > kMaxThreadsPerBlock) {
        refuse(name, fmt("block %s has %llu threads, more than the %d a block may have",
                         dims(block).c_str(), threads, kMaxThreadsPerBlock));
    }
    const KernelInfo* info = nullptr;
    // ptxas' figures: of this instantiation when the name says which, else of the kernel
    // (emu_ext merges its instantiations conservatively).
    auto it = e.kernel_info.find(kernel_name(name));
    if (it == e.kernel_info.end()) it = e.kernel_info.find(base_name(name));
    if (it != e.kernel_info.end()) info = &it->second;
    if (info != nullptr && info->max_threads > 0 && threads > (unsigned)info->max_threads) {
        refuse(name, fmt("block %s has %llu threads, more than the kernel's __launch_bounds__ "
                         "(%d)",
                         dims(block).c_str(), threads, info->max_threads));
    }
    const long long static_smem = info != nullptr && info->static_smem > 0 ? info->static_smem : 0;
    if (info != nullptr && info->registers > 0) {
        // sm_90: 64K registers per block, allocated per warp in units of 256.
        const long long per_warp = (info->registers * 32LL + 255) / 256 * 256;
        const long long need = per_warp * ((threads + 31) / 32);
        if (need > 65536) {
            refuse(name, fmt("block %s needs %lld registers (%d per thread), more than the 65536 "
                             "of a block (cudaErrorLaunchOutOfResources on the GPU)",
                             dims(block).c_str(), need, info->registers));
        }
    }
    auto raised = e.max_dynamic_smem.find(kernel);
    if (raised != e.max_dynamic_smem.end() &&
        static_cast<size_t>(raised->second) + static_smem > kMaxSharedPerBlockOptin) {
        refuse(name, fmt("cudaFuncSetAttribute(MaxDynamicSharedMemorySize, %d) fails on the GPU: "
                         "with %lld bytes of static shared memory the kernel may ask for at most "
                         "%lld dynamic bytes",
                         raised->second, static_smem,
                         static_cast<long long>(kMaxSharedPerBlockOptin) - static_smem));
    }
    const size_t dyn_limit =
        raised != e.max_dynamic_smem.end()
            ? (size_t)raised->second
            : kDefaultSharedPerBlock - std::min<size_t>(static_smem, kDefaultSharedPerBlock);
    if (smem > dyn_limit || static_smem + smem > kMaxSharedPerBlockOptin) {
        refuse(name,
               fmt("asks for %zu bytes of dynamic shared memory (+ %lld static); the limit is "
                   "%zu bytes%s, at most %zu bytes per block on sm_90",
                   smem, static_smem, dyn_limit,
                   raised == e.max_dynamic_smem.end()
                       ? " (48 KiB in all unless cudaFuncSetAttribute("
                         "cudaFuncAttributeMaxDynamicSharedMemorySize) raised it)"
                       : " (as raised by cudaFuncSetAttribute)",
                   kMaxSharedPerBlockOptin));
    }
}

}  // namespace

// ----- launch --------------------------------------------------------------------------------
void run_grid(const char* name, const void* kernel, dim3 grid, dim3 block, size_t smem_bytes,
              cudaStream_t /*stream*/, void (*run_thread)(void*), void* closure, const void* params,
              size_t params_bytes) {
    Emulator& e = E();
    std::lock_guard<std::mutex> lock(e.mutex);
    if (e.in_kernel)
        throw std::runtime_error(std::string(name) + ": nested launch in the emulator");
    if (!e.host_error.empty()) throw std::runtime_error(take_host_error());
    e.kernel_names[kernel] = base_name(name);
    check_launch_config(name, kernel, grid, block, smem_bytes);
    ensure_stacks();
    if (e.shared_arena.empty()) {
        e.shared_arena.resize(kMaxSharedPerBlockOptin + 256);
        e.shared_base =
            (reinterpret_cast<uintptr_t>(e.shared_arena.data()) + 255) & ~uintptr_t(255);
    }
    const size_t words = kMaxSharedPerBlockOptin / 4 + 1 + (smem_bytes + 3) / 4 + 1;
    if (e.shadow.size() < words) e.shadow.resize(words);
    std::vector<char> dyn(smem_bytes + 64);
    Launch& L = e.launch;
    L = Launch{};
    L.name = name;
    L.run_thread = run_thread;
    L.closure = closure;
    L.params_lo = reinterpret_cast<uintptr_t>(params);
    L.params_hi = L.params_lo + params_bytes;
    L.grid = grid;
    L.block = block;
    L.nthreads = static_cast<int>(block.x * block.y * block.z);
    // 16-byte aligned dynamic shared memory, as on the GPU
    L.dyn_shared =
        reinterpret_cast<char*>((reinterpret_cast<uintptr_t>(dyn.data()) + 15) & ~uintptr_t(15));
    L.dyn_bytes = smem_bytes;
    L.module = &module_memory_of(kernel);
    L.shared_limit =
        e.max_dynamic_smem.count(kernel) ? kMaxSharedPerBlockOptin : kDefaultSharedPerBlock;
    g_builtins.block_dim = block;
    g_builtins.grid_dim = grid;
    ++e.stats.launches;
    e.in_kernel = true;
    const unsigned long long nblocks = 1ull * grid.x * grid.y * grid.z;
    auto run_linear = [&](unsigned long long b) {
        const uint3 bidx{static_cast<unsigned>(b % grid.x),
                         static_cast<unsigned>((b / grid.x) % grid.y),
                         static_cast<unsigned>(b / (1ull * grid.x * grid.y))};
        run_block(bidx, b);
        ++e.stats.blocks;
        e.stats.threads += L.nthreads;
    };
    if (e.only_blocks_set) {
        for (unsigned long long b : e.only_blocks) {
            if (b < nblocks) run_linear(b);
            if (L.failed) break;
        }
    } else {
        for (unsigned long long b = 0; b < nblocks && !L.failed; ++b) run_linear(b);
    }
    e.in_kernel = false;
    e.current = nullptr;
    if (L.failed) {
        ++e.stats.failures;
        throw std::runtime_error("[emu] " + L.error);
    }
}

void* dynamic_shared() { return E().launch.dyn_shared; }

void* shared_variable(const void* key, size_t bytes, size_t align, const char* name) {
    Emulator& e = E();
    if (!e.in_kernel || e.current == nullptr) {
        throw std::runtime_error(std::string("__shared__ ") + name + " used outside a kernel");
    }
    for (const auto& v : e.shared_variables) {
        if (v.key == key) return reinterpret_cast<void*>(e.shared_base + v.offset);
    }
    // Exactly the alignment the declaration asks for, no more: a variable aligned to 4 bytes
    // starts at an address that is not 8-byte aligned, so a wider vector view of it is
    // caught as misaligned (on the GPU its placement is up to the compiler).
    size_t offset = (e.shared_used + align - 1) / align * align;
    if (align < 16 && offset % (2 * align) == 0) offset += align;
    const size_t total = offset + bytes;
    const Launch& L = e.launch;
    if (total > kDefaultSharedPerBlock) {
        fail(
            fmt("__shared__ %s (%zu bytes) brings the kernel's static shared memory to %zu "
                "bytes, over the 48 KiB a kernel may declare statically (ptxas refuses it)",
                name, bytes, total));
    }
    if (total + L.dyn_bytes > L.shared_limit) {
        fail(
            fmt("__shared__ %s: %zu bytes of static + %zu of dynamic shared memory exceed the "
                "%zu bytes allowed per block%s",
                name, total, L.dyn_bytes, L.shared_limit,
                L.shared_limit == kDefaultSharedPerBlock
                    ? " (48 KiB unless cudaFuncSetAttribute raised the dynamic limit)"
                    : ""));
    }
    std::memset(reinterpret_cast<void*>(e.shared_base + offset), 0xff, bytes);  // NaN
    e.shared_variables.push_back({key, offset, bytes, name});
    e.shared_used = total;
    return reinterpret_cast<void*>(e.shared_base + offset);
}

// ----- intrinsics ----------------------------------------------------------------------------
void syncthreads(const char* file, int line) {
    Emulator& e = E();
    Thread* t = e.current;
    if (t == nullptr) throw std::runtime_error("__syncthreads() called outside a kernel");
    t->state = State::AT_BARRIER;
    t->barrier_file = file;
    t->barrier_line = line;
    yield_to_scheduler();
}

unsigned long long warp_op(const char* file, int line, WarpOpKind kind, unsigned mask,
                           unsigned long long value, int arg, int width) {
    Emulator& e = E();
    Thread* t = e.current;
    if (t == nullptr) throw std::runtime_error("warp operation called outside a kernel");
    const int lane = t->tid & 31;
    if (!(mask >> lane & 1u)) {
        fail(fmt("%s (%s:%d) called by lane %d, which is not in its mask 0x%08x",
                 warp_op_name(kind), file, line, lane, mask));
    }
    if (width < 1 || width > 32 || (width & (width - 1)) != 0) {
        fail(fmt("%s (%s:%d): width %d is not a power of two in [1, 32]", warp_op_name(kind), file,
                 line, width));
    }
    t->warp = WarpRequest{kind, mask, value, 0, arg, width, file, line};
    t->state = State::AT_WARP;
    yield_to_scheduler();
    return t->warp.result;
}

void syncwarp(const char* file, int line, unsigned mask) {
    warp_op(file, line, WARP_SYNC, mask, 0, 0, 32);
}

#define EMU_ATOMIC(fn, T, expr)                                              \
    T fn(T* p, T v) {                                                        \
        check_access(reinterpret_cast<uintptr_t>(p), sizeof(T), true, true); \
        const T old = *p;                                                    \
        *p = (expr);                                                         \
        return old;                                                          \
    }
EMU_ATOMIC(atomic_add_f32, float, old + v)
EMU_ATOMIC(atomic_add_f64, double, old + v)
EMU_ATOMIC(atomic_add_i32, int,
           static_cast<int>(static_cast<unsigned>(old) + static_cast<unsigned>(v)))
EMU_ATOMIC(atomic_add_u32, unsigned, old + v)
EMU_ATOMIC(atomic_add_u64, unsigned long long, old + v)
EMU_ATOMIC(atomic_max_i32, int, old > v ? old : v)
EMU_ATOMIC(atomic_min_i32, int, old < v ? old : v)
EMU_ATOMIC(atomic_exch_i32, int, v)
EMU_ATOMIC(atomic_exch_f32, float, v)
#undef EMU_ATOMIC
int atomic_cas_i32(int* p, int expected, int desired) {
    check_access(reinterpret_cast<uintptr_t>(p), sizeof(int), true, true);
    const int old = *p;
    if (old == expected) *p = desired;
    return old;
}
unsigned atomic_cas_u32(unsigned* p, unsigned expected, unsigned desired) {
    check_access(reinterpret_cast<uintptr_t>(p), sizeof(unsigned), true, true);
    const unsigned old = *p;
    if (old == expected) *p = desired;
    return old;
}

// ----- function attributes -------------------------------------------------------------------
cudaError_t func_set_attribute(const void* func, cudaFuncAttribute attr, int value) {
    Emulator& e = E();
    if (attr == cudaFuncAttributeMaxDynamicSharedMemorySize) {
        if (value < 0 || static_cast<size_t>(value) > kMaxSharedPerBlockOptin) {
            return e.last_error = cudaErrorInvalidValue;
        }
        e.max_dynamic_smem[func] = value;
    }
    return cudaSuccess;
}

cudaError_t func_get_attributes(cudaFuncAttributes* attr, const void* func) {
    Emulator& e = E();
    if (attr == nullptr || func == nullptr) return e.last_error = cudaErrorInvalidValue;
    *attr = cudaFuncAttributes{};
    attr->maxThreadsPerBlock = kMaxThreadsPerBlock;
    attr->ptxVersion = attr->binaryVersion = 90;
    auto name = e.kernel_names.find(func);
    if (name != e.kernel_names.end()) {
        auto it = e.kernel_info.find(name->second);
        if (it != e.kernel_info.end()) {
            if (it->second.max_threads > 0) attr->maxThreadsPerBlock = it->second.max_threads;
            attr->sharedSizeBytes = it->second.static_smem > 0 ? it->second.static_smem : 0;
            attr->numRegs = it->second.registers;
        }
    }
    auto raised = e.max_dynamic_smem.find(func);
    attr->maxDynamicSharedSizeBytes =
        raised != e.max_dynamic_smem.end()
            ? raised->second
            : static_cast<int>(kDefaultSharedPerBlock - attr->sharedSizeBytes);
    return cudaSuccess;
}

// ----- configuration and reports (python.cpp) ------------------------------------------------
void set_thread_order(ThreadOrder order, uint64_t seed) {
    E().order = order;
    E().seed = seed;
}
void set_only_blocks(bool enabled, const std::vector<unsigned long long>& blocks) {
    E().only_blocks_set = enabled;
    E().only_blocks = blocks;
}
void set_race_check(bool enabled) { E().race_check = enabled; }
void set_kernel_info(const std::string& name, long long static_smem, int max_threads, int regs) {
    E().kernel_info[name] = KernelInfo{static_smem, max_threads, regs};
}
void register_call_buffer(uintptr_t ptr, size_t bytes) {
    if (bytes > 0) E().call_buffers.push_back({ptr, ptr + bytes});
}
void clear_call_buffers() { E().call_buffers.clear(); }
size_t call_buffer_count() { return E().call_buffers.size(); }
Stats stats() { return E().stats; }
void reset_stats() { E().stats = Stats{}; }
size_t static_shared_bytes() { return E().shared_used; }

}  // namespace emu

// ----- the compiler's instrumentation hooks (GCC -fsanitize=kernel-address, outline calls) ---
// Default visibility: kernels in other shared objects (tests/emu_cupy) call them too.
#pragma GCC visibility push(default)
extern "C" {
#define EMU_HOOK(n)                                                                       \
    void __asan_load##n##_noabort(uintptr_t a) { emu::check_access(a, n, false, false); } \
    void __asan_store##n##_noabort(uintptr_t a) { emu::check_access(a, n, true, false); }
EMU_HOOK(1)
EMU_HOOK(2)
EMU_HOOK(4)
EMU_HOOK(8)
EMU_HOOK(16)
#undef EMU_HOOK
void __asan_loadN_noabort(uintptr_t a, size_t n) { emu::check_access(a, n, false, false); }
void __asan_storeN_noabort(uintptr_t a, size_t n) { emu::check_access(a, n, true, false); }
void __asan_handle_no_return() {}
}
#pragma GCC visibility pop

// ----- undefined behaviour (GCC -fsanitize=undefined calls these; no libubsan is linked) -----
namespace {
struct SourceLocation {
    const char* file;
    uint32_t line, column;
};
struct TypeDescriptor {
    uint16_t kind, info;
    char name[1];
};
struct TypeMismatchData {
    SourceLocation loc;
    const TypeDescriptor* type;
    unsigned char log_alignment, type_check_kind;
};

// Inside kernel code: the launch fails (the fiber is abandoned). In host code of the .cu
// files (launchers): the compiler treats these handlers as non-throwing, so the report is
// kept and raised by the next launch or at the end of the wrapper's call
// (emu_take_host_error), and execution goes on as UBSan's recover mode does.
void undefined(const void* data, const std::string& what) {
    const SourceLocation& loc = *static_cast<const SourceLocation*>(data);
    emu::report_undefined(emu::fmt_location(loc.file, loc.line, loc.column) +
                          ": undefined behaviour: " + what);
}
}  // namespace

namespace emu {
std::string fmt_location(const char* file, unsigned line, unsigned column) {
    return std::string(file ? file : "?") + ":" + std::to_string(line) + ":" +
           std::to_string(column);
}
void report_undefined(const std::string& what) {
    Emulator& e = E();
    if (e.in_kernel && e.current != nullptr) fail(what);
    if (e.host_error.empty()) e.host_error = "[emu] in host code: " + what;
}
std::string take_host_error() {
    std::string msg;
    std::swap(msg, E().host_error);
    return msg;
}
}  // namespace emu

#pragma GCC visibility push(default)  // see the instrumentation hooks above
extern "C" {
void __ubsan_handle_type_mismatch_v1(void* raw, uintptr_t ptr) {
    const auto* d = static_cast<const TypeMismatchData*>(raw);
    const uintptr_t align = uintptr_t(1) << d->log_alignment;
    const char* type = d->type ? d->type->name : "?";
    if (ptr == 0) return undefined(raw, std::string("null pointer use of type ") + type);
    if (ptr & (align - 1)) {
        char addr[32];
        snprintf(addr, sizeof addr, "0x%" PRIxPTR, ptr);
        return undefined(raw, std::string("misaligned address ") + addr + " for type " + type +
                                  ", which needs " + std::to_string(align) + "-byte alignment");
    }
    undefined(raw, std::string("object too small for type ") + type);
}
#define EMU_UB2(handler, what) \
    void handler(void* d, void*, void*) { undefined(d, what); }
#define EMU_UB1(handler, what) \
    void handler(void* d, void*) { undefined(d, what); }
#define EMU_UB0(handler, what) \
    void handler(void* d) { undefined(d, what); }
EMU_UB2(__ubsan_handle_add_overflow, "signed integer overflow in +")
EMU_UB2(__ubsan_handle_sub_overflow, "signed integer overflow in -")
EMU_UB2(__ubsan_handle_mul_overflow, "signed integer overflow in *")
EMU_UB2(__ubsan_handle_divrem_overflow, "integer division overflow or division by zero")
EMU_UB2(__ubsan_handle_shift_out_of_bounds, "shift exponent out of range")
EMU_UB2(__ubsan_handle_pointer_overflow, "pointer arithmetic overflow")
EMU_UB1(__ubsan_handle_negate_overflow, "signed integer overflow in negation")
EMU_UB1(__ubsan_handle_out_of_bounds, "array index out of bounds")
EMU_UB1(__ubsan_handle_load_invalid_value, "load of a value invalid for its type (bool/enum)")
EMU_UB1(__ubsan_handle_float_cast_overflow, "float to integer conversion out of range")
EMU_UB1(__ubsan_handle_vla_bound_not_positive, "variable-length array bound not positive")
EMU_UB1(__ubsan_handle_invalid_builtin, "invalid builtin argument (clz/ctz of 0)")
// These two must not return (the code after them is unreachable): in host code, where no
// launch can be failed, report and abort.
#define EMU_UB_NORETURN(handler, what)                                \
    void handler(void* d) {                                           \
        undefined(d, what);                                           \
        std::fprintf(stderr, "%s\n", emu::take_host_error().c_str()); \
        std::abort();                                                 \
    }
EMU_UB_NORETURN(__ubsan_handle_builtin_unreachable, "__builtin_unreachable reached")
EMU_UB_NORETURN(__ubsan_handle_missing_return, "end of a value-returning function without return")
#undef EMU_UB_NORETURN
EMU_UB0(__ubsan_handle_nonnull_arg, "null pointer passed as an argument declared nonnull")
EMU_UB0(__ubsan_handle_nonnull_return_v1, "null pointer returned from a function declared nonnull")
#undef EMU_UB0
#undef EMU_UB1
#undef EMU_UB2
}
#pragma GCC visibility pop

// ----- the CUDA runtime API ------------------------------------------------------------------
namespace {
std::chrono::steady_clock::time_point& event_time(cudaEvent_t ev) {
    return *reinterpret_cast<std::chrono::steady_clock::time_point*>(ev);
}
}  // namespace

const char* cudaGetErrorName(cudaError_t err) {
    switch (err) {
        case cudaSuccess:
            return "cudaSuccess";
        case cudaErrorInvalidValue:
            return "cudaErrorInvalidValue";
        case cudaErrorMemoryAllocation:
            return "cudaErrorMemoryAllocation";
        case cudaErrorInvalidConfiguration:
            return "cudaErrorInvalidConfiguration";
        case cudaErrorInvalidDevice:
            return "cudaErrorInvalidDevice";
        case cudaErrorInvalidDeviceFunction:
            return "cudaErrorInvalidDeviceFunction";
        case cudaErrorNoDevice:
            return "cudaErrorNoDevice";
        default:
            return "cudaErrorLaunchFailure";
    }
}
const char* cudaGetErrorString(cudaError_t err) {
    return err == cudaSuccess ? "no error" : "error reported by the CUDA emulator";
}
cudaError_t cudaGetLastError() {
    const cudaError_t e = emu::E().last_error;
    emu::E().last_error = cudaSuccess;
    return e;
}
cudaError_t cudaPeekAtLastError() { return emu::E().last_error; }
cudaError_t cudaGetDeviceCount(int* count) {
    *count = 1;
    return cudaSuccess;
}
cudaError_t cudaGetDevice(int* device) {
    *device = 0;
    return cudaSuccess;
}
cudaError_t cudaSetDevice(int device) {
    return device == 0 ? cudaSuccess : (emu::E().last_error = cudaErrorInvalidDevice);
}
cudaError_t cudaDeviceSynchronize() { return cudaSuccess; }
cudaError_t cudaDeviceGetAttribute(int* value, cudaDeviceAttr attr, int device) {
    if (device != 0) return emu::E().last_error = cudaErrorInvalidDevice;
    switch (attr) {
        case cudaDevAttrMaxThreadsPerBlock:
            *value = emu::kMaxThreadsPerBlock;
            break;
        case cudaDevAttrMaxBlockDimX:
            *value = 1024;
            break;
        case cudaDevAttrMaxBlockDimY:
            *value = 1024;
            break;
        case cudaDevAttrMaxBlockDimZ:
            *value = 64;
            break;
        case cudaDevAttrMaxGridDimX:
            *value = 2147483647;
            break;
        case cudaDevAttrMaxGridDimY:
            *value = 65535;
            break;
        case cudaDevAttrMaxGridDimZ:
            *value = 65535;
            break;
        case cudaDevAttrMaxSharedMemoryPerBlock:
            *value = 48 * 1024;
            break;
        case cudaDevAttrWarpSize:
            *value = 32;
            break;
        case cudaDevAttrMaxRegistersPerBlock:
            *value = 65536;
            break;
        case cudaDevAttrMultiProcessorCount:
            *value = emu::kSmCount;
            break;
        case cudaDevAttrComputeCapabilityMajor:
            *value = 9;
            break;
        case cudaDevAttrComputeCapabilityMinor:
            *value = 0;
            break;
        case cudaDevAttrMaxSharedMemoryPerMultiprocessor:
            *value = 228 * 1024;
            break;
        case cudaDevAttrMaxSharedMemoryPerBlockOptin:
            *value = 227 * 1024;
            break;
        default:
            return emu::E().last_error = cudaErrorInvalidValue;
    }
    return cudaSuccess;
}
cudaError_t cudaGetDeviceProperties(cudaDeviceProp* p, int device) {
    if (device != 0) return emu::E().last_error = cudaErrorInvalidDevice;
    *p = cudaDeviceProp{};
    snprintf(p->name, sizeof p->name, "NVIDIA H100 (emulated on the CPU by minigan)");
    p->totalGlobalMem = 80ull << 30;
    p->sharedMemPerBlock = 48 * 1024;
    p->sharedMemPerBlockOptin = 227 * 1024;
    p->sharedMemPerMultiprocessor = 228 * 1024;
    p->regsPerBlock = 65536;
    p->warpSize = warpSize;
    p->maxThreadsPerBlock = 1024;
    p->maxThreadsDim[0] = 1024;
    p->maxThreadsDim[1] = 1024;
    p->maxThreadsDim[2] = 64;
    p->maxGridSize[0] = 2147483647;
    p->maxGridSize[1] = 65535;
    p->maxGridSize[2] = 65535;
    p->major = 9;
    p->minor = 0;
    p->multiProcessorCount = emu::kSmCount;
    p->maxThreadsPerMultiProcessor = 2048;
    p->l2CacheSize = 50 * 1024 * 1024;
    return cudaSuccess;
}
cudaError_t cudaMalloc(void** ptr, size_t bytes) {
    // Exactly `bytes` (so one past the end is out of bounds), 256-byte aligned like the GPU's
    // allocator, filled with NaN so that reading before writing shows up in results.
    void* p = nullptr;
    if (posix_memalign(&p, 256, bytes == 0 ? 1 : bytes) != 0) {
        return emu::E().last_error = cudaErrorMemoryAllocation;
    }
    std::memset(p, 0xff, bytes);
    emu::E().device_buffers.push_back(
        {reinterpret_cast<uintptr_t>(p), reinterpret_cast<uintptr_t>(p) + bytes});
    *ptr = p;
    return cudaSuccess;
}
cudaError_t cudaFree(void* ptr) {
    if (ptr == nullptr) return cudaSuccess;
    auto& v = emu::E().device_buffers;
    auto it = std::find_if(v.begin(), v.end(), [&](const emu::Buffer& b) {
        return b.lo == reinterpret_cast<uintptr_t>(ptr);
    });
    if (it == v.end()) return emu::E().last_error = cudaErrorInvalidValue;
    v.erase(it);
    free(ptr);
    return cudaSuccess;
}
cudaError_t cudaMemcpy(void* dst, const void* src, size_t bytes, cudaMemcpyKind) {
    std::memmove(dst, src, bytes);
    return cudaSuccess;
}
cudaError_t cudaMemcpyAsync(void* dst, const void* src, size_t bytes, cudaMemcpyKind kind,
                            cudaStream_t) {
    return cudaMemcpy(dst, src, bytes, kind);
}
cudaError_t cudaMemset(void* dst, int value, size_t bytes) {
    std::memset(dst, value, bytes);
    return cudaSuccess;
}
cudaError_t cudaMemsetAsync(void* dst, int value, size_t bytes, cudaStream_t) {
    return cudaMemset(dst, value, bytes);
}
cudaError_t cudaStreamCreate(cudaStream_t* stream) {
    *stream = reinterpret_cast<cudaStream_t>(new char[1]);
    return cudaSuccess;
}
cudaError_t cudaStreamDestroy(cudaStream_t stream) {
    delete[] reinterpret_cast<char*>(stream);
    return cudaSuccess;
}
cudaError_t cudaStreamSynchronize(cudaStream_t) { return cudaSuccess; }  // launches are synchronous
cudaError_t cudaEventCreate(cudaEvent_t* ev) {
    *ev = reinterpret_cast<cudaEvent_t>(new std::chrono::steady_clock::time_point());
    return cudaSuccess;
}
cudaError_t cudaEventDestroy(cudaEvent_t ev) {
    delete &event_time(ev);
    return cudaSuccess;
}
cudaError_t cudaEventRecord(cudaEvent_t ev, cudaStream_t) {
    event_time(ev) = std::chrono::steady_clock::now();
    return cudaSuccess;
}
cudaError_t cudaEventSynchronize(cudaEvent_t) { return cudaSuccess; }
cudaError_t cudaEventElapsedTime(float* ms, cudaEvent_t start, cudaEvent_t end) {
    *ms = std::chrono::duration<float, std::milli>(event_time(end) - event_time(start)).count();
    return cudaSuccess;
}
