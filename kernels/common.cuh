// common.cuh: device helpers shared by the kernels: dtype traits, vector
// loads, warp reductions and one-row LayerNorm.
#pragma once

#include "core/common.h"
#include "cuda_check.h"
#include "kernels.h"

#include <cuda_bf16.h>
#include <cuda_fp16.h>
#include <cuda_runtime.h>

#include <tuple>
#include <utility>

namespace encore {

// ---- the two conventions that let the kernels also build as host C++ --------
// against the CPU emulation (tests/emulation): launches go through launch()
// instead of <<<...>>>, and dynamic shared memory through dynamic_smem<T>()
// instead of `extern __shared__`.

#ifdef ENCORE_CUDA_EMULATION
template <typename... P, typename... A>
inline void launch(void (*kernel)(P...), dim3 grid, dim3 block, size_t smem, cudaStream_t stream, A... args) {
    encore_emu::Launch l;
    l.kernel = reinterpret_cast<const void *>(kernel);
    l.grid = grid;
    l.block = block;
    l.smem = smem;
    l.body = encore_emu::run_call<P...>;
    l.args = new encore_emu::Call<P...>{kernel, std::tuple<std::decay_t<P>...>(static_cast<P>(args)...)};
    l.destroy = encore_emu::destroy_call<P...>;
    encore_emu::enqueue_launch(l, stream);
}

template <typename T> inline T *dynamic_smem() { return reinterpret_cast<T *>(encore_emu::g_block->smem); }
#else
template <typename... P, typename Tuple, size_t... I>
inline void launch_tuple(void (*kernel)(P...), dim3 grid, dim3 block, size_t smem, cudaStream_t stream, Tuple &t,
                         std::index_sequence<I...>) {
    void *ptrs[] = {static_cast<void *>(&std::get<I>(t))...};
    // The status also reaches cudaGetLastError, where ENCORE_CUDA_CHECK_LAUNCH reads it.
    (void)cudaLaunchKernel(reinterpret_cast<const void *>(kernel), grid, block, ptrs, smem, stream);
}

// kernel<<<grid, block, smem, stream>>>(args...).
template <typename... P, typename... A>
inline void launch(void (*kernel)(P...), dim3 grid, dim3 block, size_t smem, cudaStream_t stream, A... args) {
    std::tuple<std::decay_t<P>...> t(static_cast<P>(args)...);
    launch_tuple(kernel, grid, block, smem, stream, t, std::index_sequence_for<P...>{});
}

// The block's dynamic shared memory, 128-byte aligned.
template <typename T> __device__ __forceinline__ T *dynamic_smem() {
    extern __shared__ __align__(128) unsigned char encore_dynamic_smem[];
    return reinterpret_cast<T *>(encore_dynamic_smem);
}
#endif

// Conversions between the storage type and fp32.
template <typename T> __device__ __forceinline__ float to_float(T v);
template <> __device__ __forceinline__ float to_float<float>(float v) { return v; }
template <> __device__ __forceinline__ float to_float<__half>(__half v) { return __half2float(v); }
template <> __device__ __forceinline__ float to_float<__nv_bfloat16>(__nv_bfloat16 v) { return __bfloat162float(v); }

template <typename T> __device__ __forceinline__ T from_float(float v);
template <> __device__ __forceinline__ float from_float<float>(float v) { return v; }
template <> __device__ __forceinline__ __half from_float<__half>(float v) { return __float2half_rn(v); }
template <> __device__ __forceinline__ __nv_bfloat16 from_float<__nv_bfloat16>(float v) {
    return __float2bfloat16_rn(v);
}

// VEC elements of T moved as one aligned access (16 bytes for VEC * sizeof(T)
// == 16).
template <typename T, int VEC> struct alignas(sizeof(T) * VEC) Pack {
    T v[VEC];
};

template <typename T, int VEC> __device__ __forceinline__ void load_vec(const T *p, float (&out)[VEC]) {
    const Pack<T, VEC> pk = *reinterpret_cast<const Pack<T, VEC> *>(p);
#pragma unroll
    for (int i = 0; i < VEC; i++) out[i] = to_float<T>(pk.v[i]);
}

template <typename T, int VEC> __device__ __forceinline__ void store_vec(T *p, const float (&in)[VEC]) {
    Pack<T, VEC> pk;
#pragma unroll
    for (int i = 0; i < VEC; i++) pk.v[i] = from_float<T>(in[i]);
    *reinterpret_cast<Pack<T, VEC> *>(p) = pk;
}

__device__ __forceinline__ float warp_sum(float v) {
#pragma unroll
    for (int o = 16; o > 0; o >>= 1) v += __shfl_xor_sync(0xffffffffu, v, o);
    return v;
}

__device__ __forceinline__ float warp_max(float v) {
#pragma unroll
    for (int o = 16; o > 0; o >>= 1) v = fmaxf(v, __shfl_xor_sync(0xffffffffu, v, o));
    return v;
}

// Normalise one row of C fp32 values held in shared memory (buf) by one warp,
// two-pass statistics in fp32, and write gamma * x_hat + beta to out as T.
// VEC elements per access (C % VEC == 0, out aligned for VEC).
template <typename T, int VEC>
__device__ __forceinline__ void warp_layernorm_store(const float *buf, int C, const float *__restrict__ gamma,
                                                     const float *__restrict__ beta, float eps, T *__restrict__ out) {
    const int lane = threadIdx.x & 31;
    float sum = 0.0f;
    for (int c = lane; c < C; c += 32) sum += buf[c];
    const float mean = warp_sum(sum) / (float)C;
    float var = 0.0f;
    for (int c = lane; c < C; c += 32) {
        const float d = buf[c] - mean;
        var += d * d;
    }
    const float rstd = rsqrtf(warp_sum(var) / (float)C + eps);
    for (int c = lane * VEC; c < C; c += 32 * VEC) {
        float y[VEC];
#pragma unroll
        for (int i = 0; i < VEC; i++) y[i] = (buf[c + i] - mean) * rstd * gamma[c + i] + beta[c + i];
        store_vec<T, VEC>(out + c, y);
    }
}

// Elements per 16-byte access for T, or 1 when n or the pointers do not allow it.
template <typename T> __host__ inline int vec_width(int n, const void *a, const void *b) {
    const int v = 16 / (int)sizeof(T);
    const bool aligned = ((uintptr_t)a % 16 == 0) && ((uintptr_t)b % 16 == 0);
    return (n % v == 0 && aligned) ? v : 1;
}

}  // namespace encore

// Dispatch on an encore_cuda_dtype: runs BODY with `scalar_t` defined.
#define ENCORE_DISPATCH_DTYPE(dt, ...)                        \
    do {                                                      \
        switch (dt) {                                         \
        case ENCORE_CUDA_F32: {                               \
            using scalar_t = float;                           \
            __VA_ARGS__;                                      \
        } break;                                              \
        case ENCORE_CUDA_F16: {                               \
            using scalar_t = __half;                          \
            __VA_ARGS__;                                      \
        } break;                                              \
        case ENCORE_CUDA_BF16: {                              \
            using scalar_t = __nv_bfloat16;                   \
            __VA_ARGS__;                                      \
        } break;                                              \
        }                                                     \
    } while (0)
