// emu_runtime.cc: the CUDA runtime on the CPU, for running encore's kernels
// and host code without a GPU (tests/emulation/README.md says what it proves
// and what it cannot).
//
// Kernels: every thread of a block is a fiber (emu_fiber.h); blocks run one
// at a time, in the order ENCORE_EMU_ORDER asks. __syncthreads parks a thread
// until all threads of its block arrive; warp operations (shuffles,
// __syncwarp, WMMA) park it until the lanes of their mask arrive, and carry
// the lanes' values. A thread that exits while others wait for it, lanes or
// threads that meet at different barriers, a mask naming absent lanes, and
// a block where every thread waits are kernel faults: reported, the launch
// fails (cudaErrorLaunchFailure, sticky until cudaDeviceReset), never a hang.
//
// Memory: device memory is host memory, NaN-poisoned (0xff) when allocated.
// Under AddressSanitizer it comes from malloc, so a kernel's out-of-bounds
// access is an ASan report; otherwise each allocation ends at a guard page.
//
// Streams run their work when it is enqueued (so the host sees results at the
// next synchronisation, as on the device); a stream being captured records
// its work into a graph instead, and the calls CUDA forbids during capture
// fail as CUDA fails them.
#include "emu.h"
#include "emu_fiber.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>

#include <algorithm>
#include <chrono>
#include <deque>
#include <map>
#include <memory>
#include <mutex>
#include <random>
#include <set>
#include <string>
#include <thread>
#include <vector>

// ---- handles ----------------------------------------------------------------

struct encore_emu_graph {
    std::vector<std::function<void()>> ops;
};

struct encore_emu_graph_exec {
    std::vector<std::function<void()>> ops;
};

struct encore_emu_stream {
    unsigned flags = 0;
    bool capturing = false;
    bool invalidated = false;
    cudaStreamCaptureMode mode = cudaStreamCaptureModeGlobal;
    std::thread::id capture_thread;
    std::unique_ptr<encore_emu_graph> graph;
};

struct encore_emu_event {
    bool recorded = false;
    std::chrono::steady_clock::time_point at;
};

namespace encore_emu {

ENCORE_EMU_API Thread *g_thread = nullptr;
ENCORE_EMU_API Block *g_block = nullptr;

namespace {

// The emulated device: an sm_80 (A100) by default, ENCORE_EMU_SM=90 an H100.
struct Device {
    int sm = 80;
    size_t total = (size_t)80 << 30;
    size_t smem_optin = 166912;  // 163 KB on sm_80, 227 KB on sm_90
};

Device &device() {
    static Device d = [] {
        Device x;
        const char *v = getenv("ENCORE_EMU_SM");
        if (v && atoi(v) == 90) {
            x.sm = 90;
            x.smem_optin = 232448;
        }
        return x;
    }();
    return d;
}

std::recursive_mutex g_lock;  // runtime state; kernels run under it, one at a time
thread_local cudaError_t t_last = cudaSuccess;
thread_local int t_device = 0;
cudaError_t g_sticky = cudaSuccess;
std::string g_fault;

struct Alloc {
    size_t bytes;
    void *map;  // guard-page mapping, or nullptr (malloc)
    size_t map_bytes;
};
std::map<uintptr_t, Alloc> g_allocs;  // device allocations by address
size_t g_allocated = 0;
std::map<const void *, int> g_smem_optin;  // cudaFuncAttributeMaxDynamicSharedMemorySize per kernel
std::set<encore_emu_stream *> g_streams;
encore_emu_stream g_legacy;

int g_order = 0;
unsigned g_seed = 1;
// Warps run ahead: the lanes a warp operation releases resume at once, before
// any other warp of the block, so that a warp can get to its next barrier-free
// stretch while the others are still behind (ENCORE_EMU_ORDER=...+ahead).
bool g_ahead = false;

cudaError_t ret(cudaError_t e) {
    if (e != cudaSuccess) t_last = e;
    return e;
}

// ---- memory -------------------------------------------------------------------

void *alloc_poisoned(size_t bytes, Alloc *a) {
    const size_t n = bytes ? bytes : 1;
#ifdef ENCORE_EMU_ASAN
    void *p = nullptr;
    if (posix_memalign(&p, 256, n) != 0) return nullptr;
    a->map = nullptr;
    a->map_bytes = 0;
#else
    // The allocation ends where a PROT_NONE page begins (16-byte alignment
    // leaves at most 15 bytes of slack), so a read past the end faults.
    const size_t page = 4096, rounded = (n + 15) / 16 * 16;
    const size_t map_bytes = (rounded + page - 1) / page * page + page;
    void *m = mmap(nullptr, map_bytes, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
    if (m == MAP_FAILED) return nullptr;
    mprotect(static_cast<char *>(m) + map_bytes - page, page, PROT_NONE);
    void *p = static_cast<char *>(m) + map_bytes - page - rounded;
    a->map = m;
    a->map_bytes = map_bytes;
#endif
    a->bytes = bytes;
    memset(p, 0xff, n);  // NaN in fp32, fp16 and bf16; -1 in int32
    return p;
}

void free_alloc(void *p, const Alloc &a) {
    if (a.map)
        munmap(a.map, a.map_bytes);
    else
        free(p);
}

// The allocation holding [p, p + n), or nullptr.
const Alloc *find_device(const void *p, size_t n) {
    auto it = g_allocs.upper_bound((uintptr_t)p);
    if (it == g_allocs.begin()) return nullptr;
    --it;
    const uintptr_t lo = it->first, q = (uintptr_t)p;
    if (q < lo || q + n > lo + it->second.bytes) return nullptr;
    return &it->second;
}

// ---- capture ------------------------------------------------------------------

encore_emu_stream *resolve(cudaStream_t s) { return s ? s : &g_legacy; }

// Captures that forbid "potentially unsafe" calls on this thread: its own
// (global or thread-local mode) and global-mode captures of other threads.
bool unsafe_call_forbidden() {
    for (encore_emu_stream *s : g_streams) {
        if (!s->capturing) continue;
        if (s->mode == cudaStreamCaptureModeGlobal) return true;
        if (s->mode == cudaStreamCaptureModeThreadLocal && s->capture_thread == std::this_thread::get_id()) return true;
    }
    return false;
}

// A forbidden call invalidates the captures it conflicts with.
cudaError_t forbidden_during_capture() {
    for (encore_emu_stream *s : g_streams)
        if (s->capturing && (s->mode == cudaStreamCaptureModeGlobal || s->capture_thread == std::this_thread::get_id()))
            s->invalidated = true;
    return ret(cudaErrorStreamCaptureUnsupported);
}

// Work for stream: recorded when it is being captured, else run now. The
// legacy stream cannot take work while a blocking capture is in progress.
cudaError_t submit(cudaStream_t stream, std::function<void()> op) {
    encore_emu_stream *s = resolve(stream);
    if (s != &g_legacy && !g_streams.count(s)) return ret(cudaErrorInvalidResourceHandle);
    if (s == &g_legacy) {
        for (encore_emu_stream *o : g_streams)
            if (o->capturing && !(o->flags & cudaStreamNonBlocking)) {
                o->invalidated = true;
                return ret(cudaErrorStreamCaptureImplicit);
            }
    }
    if (s->capturing) {
        if (s->invalidated) return ret(cudaErrorStreamCaptureInvalidated);
        s->graph->ops.push_back(std::move(op));
        return cudaSuccess;
    }
    if (g_sticky != cudaSuccess) return ret(g_sticky);
    op();
    return g_sticky != cudaSuccess ? ret(g_sticky) : cudaSuccess;
}

// ---- blocks and fibers ---------------------------------------------------------

enum State { kRunnable, kWaiting, kDone };

struct Fiber {
    FiberContext ctx;
    Thread th;
    State state = kRunnable;
    int parity = 0;  // of the warp exchange it waits on
};

struct Warp {
    unsigned present = 0;  // lanes that exist and have not exited
    unsigned arrived = 0;
    unsigned mask = 0;
    Collective kind = kSyncwarp;
    int parity = 0;
    Exchange ex[2];
};

struct BlockRun {
    std::vector<Fiber> *fibers = nullptr;
    std::vector<Warp> warps;
    unsigned n = 0, arrived = 0, done = 0;
    std::deque<unsigned> ahead;  // released lanes to run before anything else (g_ahead)
    int barrier_line = 0;
    const char *barrier_file = nullptr;
    bool aborted = false;
    void (*body)(void *) = nullptr;
    void *args = nullptr;
};

FiberContext g_sched;            // the scheduler's own context
std::vector<Fiber> g_fibers;     // reused across blocks and launches
BlockRun *g_run = nullptr;
Fiber *g_cur = nullptr;

const char *kind_name(Collective k) {
    switch (k) {
    case kSyncwarp: return "__syncwarp";
    case kShuffle: return "__shfl_*_sync";
    case kWmmaLoad: return "wmma::load_matrix_sync";
    case kWmmaStore: return "wmma::store_matrix_sync";
    case kWmmaMma: return "wmma::mma_sync";
    }
    return "?";
}

std::string where() {
    char buf[160];
    if (!g_block) return "outside a kernel";
    if (g_thread)
        snprintf(buf, sizeof buf, "block (%u,%u,%u) thread (%u,%u,%u)", g_block->idx.x, g_block->idx.y,
                 g_block->idx.z, g_thread->idx.x, g_thread->idx.y, g_thread->idx.z);
    else
        snprintf(buf, sizeof buf, "block (%u,%u,%u)", g_block->idx.x, g_block->idx.y, g_block->idx.z);
    return buf;
}

void record_fault(const std::string &msg) {
    if (g_fault.empty()) {
        g_fault = msg;
        fprintf(stderr, "encore CUDA emulation: kernel fault: %s\n", msg.c_str());
    }
    g_sticky = cudaErrorLaunchFailure;
    if (g_run) g_run->aborted = true;
}

// Park the running fiber until something makes it runnable again.
void park() {
    g_cur->state = kWaiting;
    fiber_switch(&g_cur->ctx, &g_sched);
}

void fiber_main(void *p) {
    fiber_started(&g_sched);
    Fiber *f = static_cast<Fiber *>(p);
    g_run->body(g_run->args);
    // The thread exits.
    f->state = kDone;
    BlockRun &r = *g_run;
    r.done++;
    Warp &w = r.warps[f->th.warp];
    const unsigned bit = 1u << f->th.lane;
    w.present &= ~bit;
    if (w.arrived && (w.mask & bit)) {
        char buf[200];
        snprintf(buf, sizeof buf, "%s exited while lanes 0x%08x of its warp wait for it at %s (mask 0x%08x)",
                 where().c_str(), w.arrived, kind_name(w.kind), w.mask);
        record_fault(buf);
    } else if (r.arrived) {
        char buf[200];
        snprintf(buf, sizeof buf, "%s exited while %u threads wait at __syncthreads (%s:%d)", where().c_str(),
                 r.arrived, r.barrier_file, r.barrier_line);
        record_fault(buf);
    }
    fiber_switch(&f->ctx, &g_sched);
    abort();  // a finished fiber is never resumed
}

std::vector<unsigned> order_of(unsigned n, unsigned salt) {
    std::vector<unsigned> o(n);
    for (unsigned i = 0; i < n; i++) o[i] = i;
    if (g_order == 1) std::reverse(o.begin(), o.end());
    if (g_order == 2) {
        std::mt19937 rng(g_seed * 2654435761u + salt);
        std::shuffle(o.begin(), o.end(), rng);
    }
    return o;
}

void run_block(const Launch &l, Block &blk) {
    const unsigned n = l.block.x * l.block.y * l.block.z;
    if (g_fibers.size() < n) g_fibers.resize(n);
    BlockRun r;
    r.fibers = &g_fibers;
    r.n = n;
    r.body = l.body;
    r.args = l.args;
    r.warps.resize((n + 31) / 32);
    g_run = &r;
    g_block = &blk;
    for (unsigned i = 0; i < n; i++) {
        Fiber &f = g_fibers[i];
        f.state = kRunnable;
        f.th.idx = {i % l.block.x, (i / l.block.x) % l.block.y, i / (l.block.x * l.block.y)};
        f.th.linear = i;
        f.th.lane = i % 32;
        f.th.warp = i / 32;
        r.warps[i / 32].present |= 1u << (i % 32);
        fiber_init(&f.ctx, fiber_main, &f);
    }
    const std::vector<unsigned> order = order_of(n, blk.idx.x ^ (blk.idx.y << 16));
    auto resume = [&](Fiber &f) {
        g_cur = &f;
        g_thread = &f.th;
        fiber_switch(&g_sched, &f.ctx);
        g_thread = nullptr;
    };
    while (r.done < n && !r.aborted) {
        bool ran = false;
        for (unsigned i : order) {
            Fiber &f = g_fibers[i];
            if (f.state != kRunnable) continue;
            ran = true;
            resume(f);
            // Lanes a warp operation released run before the next thread.
            while (!r.ahead.empty() && !r.aborted) {
                Fiber &a = g_fibers[r.ahead.front()];
                r.ahead.pop_front();
                if (a.state == kRunnable) resume(a);
            }
            if (r.aborted) break;
        }
        if (!ran && !r.aborted) {
            // Every live thread waits and nothing can release them.
            std::string msg = where() + ": deadlock, every thread waits:";
            for (unsigned i = 0; i < n && msg.size() < 600; i++) {
                const Fiber &f = g_fibers[i];
                if (f.state != kWaiting) continue;
                const Warp &w = r.warps[f.th.warp];
                char buf[120];
                if (w.arrived >> f.th.lane & 1u)
                    snprintf(buf, sizeof buf, " thread %u at %s (mask 0x%08x);", i, kind_name(w.kind), w.mask);
                else
                    snprintf(buf, sizeof buf, " thread %u at __syncthreads (%s:%d);", i, r.barrier_file, r.barrier_line);
                msg += buf;
            }
            record_fault(msg);
        }
    }
    if (r.aborted)
        for (unsigned i = 0; i < n; i++)
            if (g_fibers[i].state != kDone) g_fibers[i].ctx.dirty = true;
    g_run = nullptr;
    g_cur = nullptr;
}

cudaError_t check_launch(const Launch &l) {
    const dim3 b = l.block, g = l.grid;
    if (b.x == 0 || b.y == 0 || b.z == 0 || g.x == 0 || g.y == 0 || g.z == 0) return cudaErrorInvalidConfiguration;
    if (b.x > 1024 || b.y > 1024 || b.z > 64 || (size_t)b.x * b.y * b.z > 1024) return cudaErrorInvalidConfiguration;
    if (g.x > 2147483647u || g.y > 65535 || g.z > 65535) return cudaErrorInvalidConfiguration;
    if (l.smem > 48 * 1024) {
        auto it = g_smem_optin.find(l.kernel);
        if (l.smem > device().smem_optin || it == g_smem_optin.end() || (size_t)it->second < l.smem)
            return cudaErrorInvalidValue;
    }
    return cudaSuccess;
}

void execute(const Launch &l) {
    Alloc smem_alloc{};
    unsigned char *smem = nullptr;
    if (l.smem) {
        smem = static_cast<unsigned char *>(alloc_poisoned(l.smem, &smem_alloc));
        if (!smem) {
            record_fault("cannot allocate dynamic shared memory");
            return;
        }
    }
    const unsigned nb = l.grid.x * l.grid.y * l.grid.z;
    const std::vector<unsigned> order = order_of(nb, 0x9e37u);
    for (unsigned i : order) {
        Block blk;
        blk.idx = {i % l.grid.x, (i / l.grid.x) % l.grid.y, i / (l.grid.x * l.grid.y)};
        blk.dim = l.block;
        blk.grid = l.grid;
        blk.smem = smem;
        blk.smem_bytes = l.smem;
        if (smem) memset(smem, 0xff, l.smem);  // shared memory starts as garbage
        run_block(l, blk);
        g_block = nullptr;
        if (g_sticky != cudaSuccess) break;
    }
    if (smem) free_alloc(smem, smem_alloc);
}

}  // namespace

// ---- the kernel side ------------------------------------------------------------

[[noreturn]] void fault(const char *fmt, ...) {
    char msg[512];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    record_fault(where() + ": " + msg);
    if (g_cur) fiber_switch(&g_cur->ctx, &g_sched);  // abandoned: never resumed
    fprintf(stderr, "encore CUDA emulation: fault outside a kernel: %s\n", msg);
    abort();
}

const Exchange *warp_exchange(Collective kind, unsigned mask, const void *mine, size_t bytes,
                              void (*finish)(Exchange *)) {
    if (!g_run || !g_cur) fault("%s outside a kernel", kind_name(kind));
    BlockRun &r = *g_run;
    Warp &w = r.warps[g_cur->th.warp];
    const unsigned lane = g_cur->th.lane, bit = 1u << lane;
    if (!(mask & bit)) fault("%s with mask 0x%08x, which leaves out the calling lane %u", kind_name(kind), mask, lane);
    if (mask & ~w.present)
        fault("%s with mask 0x%08x names lanes 0x%08x that have exited or do not exist", kind_name(kind), mask,
              mask & ~w.present);
    if (w.arrived && (w.kind != kind || w.mask != mask))
        fault("lane %u reaches %s (mask 0x%08x) while lanes 0x%08x of its warp wait at %s (mask 0x%08x): divergent "
              "warp operations",
              lane, kind_name(kind), mask, w.arrived, kind_name(w.kind), w.mask);
    if (!w.arrived) {
        w.kind = kind;
        w.mask = mask;
    }
    const int p = w.parity;
    if (bytes) memcpy(w.ex[p].slot[lane], mine, bytes);
    w.arrived |= bit;
    if (w.arrived == mask) {
        if (finish) finish(&w.ex[p]);
        for (unsigned i = 0; i < 32; i++)
            if (mask >> i & 1u) {
                Fiber &f = (*r.fibers)[g_cur->th.warp * 32 + i];
                if (&f != g_cur) {
                    f.state = kRunnable;
                    if (g_ahead) r.ahead.push_back(g_cur->th.warp * 32 + i);
                }
            }
        w.arrived = 0;
        w.parity ^= 1;
        return &w.ex[p];
    }
    park();
    return &w.ex[p];
}

void block_barrier(int line, const char *file) {
    if (!g_run || !g_cur) fault("__syncthreads outside a kernel");
    BlockRun &r = *g_run;
    if (r.done)
        fault("__syncthreads (%s:%d) after %u threads of the block exited", file, line, r.done);
    if (r.arrived && (r.barrier_line != line || strcmp(r.barrier_file, file) != 0))
        fault("__syncthreads at %s:%d while %u threads wait at %s:%d: a barrier reached from divergent paths", file,
              line, r.arrived, r.barrier_file, r.barrier_line);
    r.barrier_line = line;
    r.barrier_file = file;
    if (++r.arrived == r.n) {
        r.arrived = 0;
        for (unsigned i = 0; i < r.n; i++)
            if (&(*r.fibers)[i] != g_cur) (*r.fibers)[i].state = kRunnable;
        return;
    }
    park();
}

void enqueue_launch(const Launch &l, cudaStream_t stream) {
    std::lock_guard<std::recursive_mutex> lock(g_lock);
    std::shared_ptr<void> args(l.args, l.destroy);
    const cudaError_t e = check_launch(l);
    if (e != cudaSuccess) {
        ret(e);
        return;
    }
    Launch copy = l;
    submit(stream, [copy, args]() {
        Launch run = copy;
        run.args = args.get();
        execute(run);
    });
}

cudaError_t enqueue_host(cudaStream_t stream, std::function<void()> fn) {
    std::lock_guard<std::recursive_mutex> lock(g_lock);
    return submit(stream, std::move(fn));
}

bool stream_valid(cudaStream_t stream) {
    std::lock_guard<std::recursive_mutex> lock(g_lock);
    return !stream || g_streams.count(stream);
}

std::string last_fault() {
    std::lock_guard<std::recursive_mutex> lock(g_lock);
    return g_fault;
}

void set_order(int order, unsigned seed, bool ahead) {
    std::lock_guard<std::recursive_mutex> lock(g_lock);
    g_order = order;
    g_seed = seed;
    g_ahead = ahead;
}

namespace {
struct OrderFromEnv {
    OrderFromEnv() {
        const char *v = getenv("ENCORE_EMU_ORDER");
        if (!v) return;
        g_ahead = strstr(v, "+ahead") != nullptr;
        if (!strncmp(v, "reverse", 7)) g_order = 1;
        if (!strncmp(v, "shuffle", 7)) {
            g_order = 2;
            if (v[7] == ':') g_seed = (unsigned)strtoul(v + 8, nullptr, 10);
        }
    }
} g_order_from_env;
}  // namespace

}  // namespace encore_emu

// ---- the runtime API -----------------------------------------------------------------

using namespace encore_emu;

#define LOCK std::lock_guard<std::recursive_mutex> lock_(g_lock)

extern "C" {

// Two identical devices (sharing the one host memory), so that code which
// selects a device can be checked to leave the caller's selection alone.
constexpr int kDevices = 2;

ENCORE_EMU_API cudaError_t cudaGetDeviceCount(int *count) {
    if (!count) return ret(cudaErrorInvalidValue);
    *count = kDevices;
    return cudaSuccess;
}

ENCORE_EMU_API cudaError_t cudaGetDeviceProperties(struct cudaDeviceProp *prop, int dev) {
    if (!prop) return ret(cudaErrorInvalidValue);
    if (dev < 0 || dev >= kDevices) return ret(cudaErrorInvalidDevice);
    memset(prop, 0, sizeof *prop);
    const Device &d = device();
    snprintf(prop->name, sizeof prop->name, "encore CUDA emulation (sm_%d)", d.sm);
    prop->totalGlobalMem = d.total;
    prop->sharedMemPerBlock = 48 * 1024;
    prop->sharedMemPerBlockOptin = d.smem_optin;
    prop->warpSize = 32;
    prop->maxThreadsPerBlock = 1024;
    prop->maxThreadsDim[0] = 1024;
    prop->maxThreadsDim[1] = 1024;
    prop->maxThreadsDim[2] = 64;
    prop->maxGridSize[0] = 2147483647;
    prop->maxGridSize[1] = 65535;
    prop->maxGridSize[2] = 65535;
    prop->multiProcessorCount = d.sm == 90 ? 132 : 108;
    prop->major = d.sm / 10;
    prop->minor = d.sm % 10;
    return cudaSuccess;
}

ENCORE_EMU_API cudaError_t cudaSetDevice(int dev) {
    if (dev < 0 || dev >= kDevices) return ret(cudaErrorInvalidDevice);
    t_device = dev;
    return cudaSuccess;
}

ENCORE_EMU_API cudaError_t cudaGetDevice(int *dev) {
    if (!dev) return ret(cudaErrorInvalidValue);
    *dev = t_device;
    return cudaSuccess;
}

ENCORE_EMU_API cudaError_t cudaDeviceSynchronize(void) {
    LOCK;
    if (unsafe_call_forbidden()) return forbidden_during_capture();
    return ret(g_sticky);
}

ENCORE_EMU_API cudaError_t cudaDeviceReset(void) {
    LOCK;
    g_sticky = cudaSuccess;
    g_fault.clear();
    t_last = cudaSuccess;
    return cudaSuccess;
}

ENCORE_EMU_API cudaError_t cudaMemGetInfo(size_t *free_bytes, size_t *total_bytes) {
    LOCK;
    if (!free_bytes || !total_bytes) return ret(cudaErrorInvalidValue);
    *total_bytes = device().total;
    *free_bytes = device().total - std::min(g_allocated, device().total);
    return ret(g_sticky);
}

ENCORE_EMU_API cudaError_t cudaGetLastError(void) {
    LOCK;
    if (g_sticky != cudaSuccess) return g_sticky;
    const cudaError_t e = t_last;
    t_last = cudaSuccess;
    return e;
}

ENCORE_EMU_API cudaError_t cudaPeekAtLastError(void) {
    LOCK;
    return g_sticky != cudaSuccess ? g_sticky : t_last;
}

ENCORE_EMU_API const char *cudaGetErrorName(cudaError_t err) {
    switch (err) {
#define NAME(e) \
    case e: return #e;
        NAME(cudaSuccess)
        NAME(cudaErrorInvalidValue)
        NAME(cudaErrorMemoryAllocation)
        NAME(cudaErrorInitializationError)
        NAME(cudaErrorInvalidConfiguration)
        NAME(cudaErrorInvalidDeviceFunction)
        NAME(cudaErrorNoDevice)
        NAME(cudaErrorInvalidDevice)
        NAME(cudaErrorInvalidResourceHandle)
        NAME(cudaErrorIllegalState)
        NAME(cudaErrorNotReady)
        NAME(cudaErrorIllegalAddress)
        NAME(cudaErrorLaunchOutOfResources)
        NAME(cudaErrorLaunchFailure)
        NAME(cudaErrorNotSupported)
        NAME(cudaErrorStreamCaptureUnsupported)
        NAME(cudaErrorStreamCaptureInvalidated)
        NAME(cudaErrorStreamCaptureUnmatched)
        NAME(cudaErrorStreamCaptureImplicit)
        NAME(cudaErrorStreamCaptureWrongThread)
#undef NAME
    }
    return "cudaErrorUnknown";
}

ENCORE_EMU_API const char *cudaGetErrorString(cudaError_t err) {
    switch (err) {
    case cudaSuccess: return "no error";
    case cudaErrorInvalidValue: return "invalid argument";
    case cudaErrorMemoryAllocation: return "out of memory";
    case cudaErrorInitializationError: return "initialization error";
    case cudaErrorInvalidConfiguration: return "invalid configuration argument";
    case cudaErrorInvalidDeviceFunction: return "invalid device function";
    case cudaErrorNoDevice: return "no CUDA-capable device is detected";
    case cudaErrorInvalidDevice: return "invalid device ordinal";
    case cudaErrorInvalidResourceHandle: return "invalid resource handle";
    case cudaErrorIllegalState: return "the operation cannot be performed in the present state";
    case cudaErrorNotReady: return "device not ready";
    case cudaErrorIllegalAddress: return "an illegal memory access was encountered";
    case cudaErrorLaunchOutOfResources: return "too many resources requested for launch";
    case cudaErrorLaunchFailure: return "unspecified launch failure";
    case cudaErrorNotSupported: return "operation not supported";
    case cudaErrorStreamCaptureUnsupported: return "operation not permitted when stream is capturing";
    case cudaErrorStreamCaptureInvalidated: return "operation failed due to a previous error during capture";
    case cudaErrorStreamCaptureUnmatched: return "capture was not initiated in this stream";
    case cudaErrorStreamCaptureImplicit: return "operation would make the legacy stream depend on a capturing blocking stream";
    case cudaErrorStreamCaptureWrongThread: return "attempt to terminate a thread-local capture sequence from another thread";
    }
    return "unknown error";
}

ENCORE_EMU_API cudaError_t cudaMalloc(void **ptr, size_t bytes) {
    LOCK;
    if (!ptr) return ret(cudaErrorInvalidValue);
    *ptr = nullptr;
    if (unsafe_call_forbidden()) return forbidden_during_capture();
    if (g_sticky != cudaSuccess) return ret(g_sticky);
    if (bytes > device().total - std::min(g_allocated, device().total)) return ret(cudaErrorMemoryAllocation);
    Alloc a{};
    void *p = alloc_poisoned(bytes, &a);
    if (!p) return ret(cudaErrorMemoryAllocation);
    g_allocs[(uintptr_t)p] = a;
    g_allocated += bytes;
    *ptr = p;
    return cudaSuccess;
}

ENCORE_EMU_API cudaError_t cudaFree(void *ptr) {
    LOCK;
    if (!ptr) return cudaSuccess;
    if (unsafe_call_forbidden()) return forbidden_during_capture();
    auto it = g_allocs.find((uintptr_t)ptr);
    if (it == g_allocs.end()) return ret(cudaErrorInvalidValue);
    g_allocated -= it->second.bytes;
    free_alloc(ptr, it->second);
    g_allocs.erase(it);
    return cudaSuccess;
}

ENCORE_EMU_API cudaError_t cudaMallocHost(void **ptr, size_t bytes) {
    LOCK;
    if (!ptr) return ret(cudaErrorInvalidValue);
    if (unsafe_call_forbidden()) return forbidden_during_capture();
    *ptr = malloc(bytes ? bytes : 1);
    return *ptr ? cudaSuccess : ret(cudaErrorMemoryAllocation);
}

ENCORE_EMU_API cudaError_t cudaFreeHost(void *ptr) {
    free(ptr);
    return cudaSuccess;
}

namespace {
// The device side of a copy must lie inside one allocation.
cudaError_t check_copy(void *dst, const void *src, size_t bytes, cudaMemcpyKind kind) {
    if (bytes == 0) return cudaSuccess;
    if (!dst || !src) return cudaErrorInvalidValue;
    if ((kind == cudaMemcpyHostToDevice || kind == cudaMemcpyDeviceToDevice) && !find_device(dst, bytes))
        return cudaErrorInvalidValue;
    if ((kind == cudaMemcpyDeviceToHost || kind == cudaMemcpyDeviceToDevice) && !find_device(src, bytes))
        return cudaErrorInvalidValue;
    if ((int)kind < 0 || kind > cudaMemcpyDefault) return cudaErrorInvalidValue;
    return cudaSuccess;
}
}  // namespace

ENCORE_EMU_API cudaError_t cudaMemcpy(void *dst, const void *src, size_t bytes, cudaMemcpyKind kind) {
    LOCK;
    if (unsafe_call_forbidden()) return forbidden_during_capture();
    const cudaError_t e = check_copy(dst, src, bytes, kind);
    if (e != cudaSuccess) return ret(e);
    return submit(nullptr, [=]() {
        if (bytes) memmove(dst, src, bytes);
    });
}

ENCORE_EMU_API cudaError_t cudaMemcpyAsync(void *dst, const void *src, size_t bytes, cudaMemcpyKind kind,
                                           cudaStream_t stream) {
    LOCK;
    const cudaError_t e = check_copy(dst, src, bytes, kind);
    if (e != cudaSuccess) return ret(e);
    return submit(stream, [=]() {
        if (bytes) memmove(dst, src, bytes);
    });
}

ENCORE_EMU_API cudaError_t cudaMemset(void *dst, int value, size_t bytes) {
    LOCK;
    if (unsafe_call_forbidden()) return forbidden_during_capture();
    if (bytes && !find_device(dst, bytes)) return ret(cudaErrorInvalidValue);
    return submit(nullptr, [=]() { memset(dst, value, bytes); });
}

ENCORE_EMU_API cudaError_t cudaMemsetAsync(void *dst, int value, size_t bytes, cudaStream_t stream) {
    LOCK;
    if (bytes && !find_device(dst, bytes)) return ret(cudaErrorInvalidValue);
    return submit(stream, [=]() { memset(dst, value, bytes); });
}

ENCORE_EMU_API cudaError_t cudaStreamCreateWithFlags(cudaStream_t *stream, unsigned int flags) {
    LOCK;
    if (!stream || (flags & ~1u)) return ret(cudaErrorInvalidValue);
    encore_emu_stream *s = new encore_emu_stream;
    s->flags = flags;
    g_streams.insert(s);
    *stream = s;
    return cudaSuccess;
}

ENCORE_EMU_API cudaError_t cudaStreamCreate(cudaStream_t *stream) { return cudaStreamCreateWithFlags(stream, 0); }

ENCORE_EMU_API cudaError_t cudaStreamDestroy(cudaStream_t stream) {
    LOCK;
    if (!stream || !g_streams.count(stream)) return ret(cudaErrorInvalidResourceHandle);
    if (stream->capturing) return ret(cudaErrorStreamCaptureUnsupported);
    g_streams.erase(stream);
    delete stream;
    return cudaSuccess;
}

ENCORE_EMU_API cudaError_t cudaStreamSynchronize(cudaStream_t stream) {
    LOCK;
    encore_emu_stream *s = resolve(stream);
    if (s != &g_legacy && !g_streams.count(s)) return ret(cudaErrorInvalidResourceHandle);
    if (s->capturing) {
        s->invalidated = true;
        return ret(cudaErrorStreamCaptureUnsupported);
    }
    if (unsafe_call_forbidden()) return forbidden_during_capture();
    return ret(g_sticky);
}

ENCORE_EMU_API cudaError_t cudaStreamBeginCapture(cudaStream_t stream, cudaStreamCaptureMode mode) {
    LOCK;
    if (!stream) return ret(cudaErrorStreamCaptureUnsupported);  // the legacy stream cannot be captured
    if (!g_streams.count(stream)) return ret(cudaErrorInvalidResourceHandle);
    if (stream->capturing) return ret(cudaErrorIllegalState);
    if ((int)mode < 0 || mode > cudaStreamCaptureModeRelaxed) return ret(cudaErrorInvalidValue);
    stream->capturing = true;
    stream->invalidated = false;
    stream->mode = mode;
    stream->capture_thread = std::this_thread::get_id();
    stream->graph.reset(new encore_emu_graph);
    return cudaSuccess;
}

ENCORE_EMU_API cudaError_t cudaStreamEndCapture(cudaStream_t stream, cudaGraph_t *graph) {
    LOCK;
    if (!graph) return ret(cudaErrorInvalidValue);
    *graph = nullptr;
    if (!stream || !g_streams.count(stream)) return ret(cudaErrorInvalidResourceHandle);
    if (!stream->capturing) return ret(cudaErrorIllegalState);
    if (stream->mode != cudaStreamCaptureModeRelaxed && stream->capture_thread != std::this_thread::get_id())
        return ret(cudaErrorStreamCaptureWrongThread);
    stream->capturing = false;
    if (stream->invalidated) {
        stream->graph.reset();
        return ret(cudaErrorStreamCaptureInvalidated);
    }
    *graph = stream->graph.release();
    return cudaSuccess;
}

ENCORE_EMU_API cudaError_t cudaStreamIsCapturing(cudaStream_t stream, cudaStreamCaptureStatus *status) {
    LOCK;
    if (!status) return ret(cudaErrorInvalidValue);
    encore_emu_stream *s = resolve(stream);
    *status = !s->capturing ? cudaStreamCaptureStatusNone
              : s->invalidated ? cudaStreamCaptureStatusInvalidated
                               : cudaStreamCaptureStatusActive;
    return cudaSuccess;
}

ENCORE_EMU_API cudaError_t cudaEventCreate(cudaEvent_t *event) {
    if (!event) return ret(cudaErrorInvalidValue);
    *event = new encore_emu_event;
    return cudaSuccess;
}

ENCORE_EMU_API cudaError_t cudaEventDestroy(cudaEvent_t event) {
    if (!event) return ret(cudaErrorInvalidResourceHandle);
    delete event;
    return cudaSuccess;
}

ENCORE_EMU_API cudaError_t cudaEventRecord(cudaEvent_t event, cudaStream_t stream) {
    LOCK;
    if (!event) return ret(cudaErrorInvalidResourceHandle);
    return submit(stream, [event]() {
        event->recorded = true;
        event->at = std::chrono::steady_clock::now();
    });
}

ENCORE_EMU_API cudaError_t cudaEventSynchronize(cudaEvent_t event) {
    LOCK;
    if (!event) return ret(cudaErrorInvalidResourceHandle);
    if (unsafe_call_forbidden()) return forbidden_during_capture();
    return ret(g_sticky);
}

ENCORE_EMU_API cudaError_t cudaEventElapsedTime(float *ms, cudaEvent_t start, cudaEvent_t end) {
    if (!ms || !start || !end) return ret(cudaErrorInvalidValue);
    if (!start->recorded || !end->recorded) return ret(cudaErrorInvalidResourceHandle);
    *ms = std::chrono::duration<float, std::milli>(end->at - start->at).count();
    return cudaSuccess;
}

ENCORE_EMU_API cudaError_t cudaGraphInstantiate(cudaGraphExec_t *exec, cudaGraph_t graph, unsigned long long flags) {
    LOCK;
    if (!exec || !graph) return ret(cudaErrorInvalidValue);
    (void)flags;
    encore_emu_graph_exec *e = new encore_emu_graph_exec;
    e->ops = graph->ops;
    *exec = e;
    return cudaSuccess;
}

ENCORE_EMU_API cudaError_t cudaGraphLaunch(cudaGraphExec_t exec, cudaStream_t stream) {
    LOCK;
    if (!exec) return ret(cudaErrorInvalidValue);
    std::vector<std::function<void()>> ops = exec->ops;
    return submit(stream, [ops]() {
        for (const auto &op : ops) {
            if (g_sticky != cudaSuccess) return;
            op();
        }
    });
}

ENCORE_EMU_API cudaError_t cudaGraphExecDestroy(cudaGraphExec_t exec) {
    delete exec;
    return cudaSuccess;
}

ENCORE_EMU_API cudaError_t cudaGraphDestroy(cudaGraph_t graph) {
    delete graph;
    return cudaSuccess;
}

ENCORE_EMU_API cudaError_t cudaFuncSetAttribute(const void *func, cudaFuncAttribute attr, int value) {
    LOCK;
    if (!func) return ret(cudaErrorInvalidDeviceFunction);
    if (attr != cudaFuncAttributeMaxDynamicSharedMemorySize || value < 0 || (size_t)value > device().smem_optin)
        return ret(cudaErrorInvalidValue);
    g_smem_optin[func] = value;
    return cudaSuccess;
}

}  // extern "C"
