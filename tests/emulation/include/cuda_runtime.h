// cuda_runtime.h (emulation): what kernels/*.cu use from the CUDA language
// when they are compiled as host C++ against encore's CPU emulation
// (tests/emulation): the qualifiers, the built-in indices, barriers, warp
// shuffles, the launcher and a few device math functions. Every CUDA thread of
// a block runs as its own fiber; a barrier or warp operation parks the fiber
// until the threads it waits for arrive (tests/emulation/emu_runtime.cc).
// Written for encore; it is not NVIDIA's header.
#pragma once

#ifndef __cplusplus
#error "cuda_runtime.h (emulation) is C++; C code includes cuda_runtime_api.h"
#endif

#include "cuda_runtime_api.h"

#include <math.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <tuple>
#include <type_traits>
#include <utility>

#define __global__
#define __device__
#define __host__
#define __forceinline__ inline
#define __launch_bounds__(...)
#define __align__(n) __attribute__((aligned(n)))
// Static shared memory: one instance per kernel, valid for the block that
// runs (blocks run one at a time).
#define __shared__ static

#define ENCORE_EMU_API __attribute__((visibility("default")))

struct uint3 {
    unsigned int x, y, z;
};

namespace encore_emu {

struct Thread {
    uint3 idx;          // threadIdx
    unsigned linear;    // x + y * bx + z * bx * by
    unsigned lane, warp;
};

struct Block {
    uint3 idx;          // blockIdx
    dim3 dim, grid;     // blockDim, gridDim
    unsigned char *smem;  // dynamic shared memory
    size_t smem_bytes;
};

extern ENCORE_EMU_API Thread *g_thread;  // the fiber that runs
extern ENCORE_EMU_API Block *g_block;    // its block

// Warp operations, told apart so that lanes meeting at different kinds of
// operation are reported.
enum Collective { kSyncwarp = 1, kShuffle, kWmmaLoad, kWmmaStore, kWmmaMma };

// One exchange among the lanes of mask: each lane's `bytes` (<= 128) go into
// its slot; when the last lane of mask arrives, finish (if any) runs once on
// the exchange, then every lane continues. The returned exchange stays valid
// until the lane's next warp operation.
struct Exchange {
    unsigned char slot[32][128];
    float result[256];
};
ENCORE_EMU_API const Exchange *warp_exchange(Collective kind, unsigned mask, const void *mine, size_t bytes,
                                             void (*finish)(Exchange *));
// A block-wide barrier; line tells barriers apart.
ENCORE_EMU_API void block_barrier(int line, const char *file);
// A kernel bug: report where and what, abandon the block and fail the launch.
[[noreturn]] ENCORE_EMU_API void fault(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

// A launch: body runs once per thread of every block.
struct Launch {
    const void *kernel;
    const char *name;
    dim3 grid, block;
    size_t smem;
    void (*body)(void *args);
    void *args;                    // owned by the launch: destroy(args) frees it
    void (*destroy)(void *args);
};
ENCORE_EMU_API void enqueue_launch(const Launch &l, cudaStream_t stream);

template <typename F, typename Tuple, size_t... I> void apply_args(F f, Tuple &t, std::index_sequence<I...>) {
    f(std::get<I>(t)...);
}

template <typename... P> struct Call {
    void (*kernel)(P...);
    std::tuple<std::decay_t<P>...> args;
};

template <typename... P> void run_call(void *p) {
    auto *c = static_cast<Call<P...> *>(p);
    apply_args(c->kernel, c->args, std::index_sequence_for<P...>{});
}
template <typename... P> void destroy_call(void *p) { delete static_cast<Call<P...> *>(p); }

}  // namespace encore_emu

#define threadIdx (encore_emu::g_thread->idx)
#define blockIdx (encore_emu::g_block->idx)
#define blockDim (encore_emu::g_block->dim)
#define gridDim (encore_emu::g_block->grid)

#define __syncthreads() encore_emu::block_barrier(__LINE__, __FILE__)

inline void __syncwarp(unsigned mask = 0xffffffffu) {
    encore_emu::warp_exchange(encore_emu::kSyncwarp, mask, nullptr, 0, nullptr);
}

namespace encore_emu {
template <typename T> T shuffle(unsigned mask, T v, int src, int width) {
    static_assert(sizeof(T) <= 128, "shuffle of a large type");
    const unsigned lane = g_thread->lane;
    const Exchange *x = warp_exchange(kShuffle, mask, &v, sizeof v, nullptr);
    const int base = (int)lane & ~(width - 1);
    if (src < base || src >= base + width) return v;  // outside the segment: the lane keeps its own value
    if (!(mask >> src & 1u)) fault("__shfl_*_sync: lane %u reads lane %d, which is not in the mask 0x%08x", lane, src, mask);
    T out;
    memcpy(&out, x->slot[src], sizeof out);
    return out;
}
}  // namespace encore_emu

template <typename T> inline T __shfl_xor_sync(unsigned mask, T v, int lane_mask, int width = 32) {
    return encore_emu::shuffle(mask, v, (int)(encore_emu::g_thread->lane ^ (unsigned)lane_mask), width);
}
template <typename T> inline T __shfl_sync(unsigned mask, T v, int src, int width = 32) {
    return encore_emu::shuffle(mask, v, ((int)encore_emu::g_thread->lane & ~(width - 1)) + src % width, width);
}
template <typename T> inline T __shfl_down_sync(unsigned mask, T v, unsigned delta, int width = 32) {
    return encore_emu::shuffle(mask, v, (int)(encore_emu::g_thread->lane + delta), width);
}

// Device math the host library lacks.
inline int min(int a, int b) { return a < b ? a : b; }
inline int max(int a, int b) { return a > b ? a : b; }
inline float rsqrtf(float v) { return 1.0f / sqrtf(v); }

// The C++ overload the runtime offers for kernels.
template <typename... P> inline cudaError_t cudaFuncSetAttribute(void (*kernel)(P...), cudaFuncAttribute attr, int value) {
    return cudaFuncSetAttribute(reinterpret_cast<const void *>(kernel), attr, value);
}
