// common.cuh: device helpers shared by the kernels: dtype traits, vector
// loads, warp reductions and one-row LayerNorm.
#pragma once

#include "core/common.h"
#include "cuda_check.h"
#include "kernels.h"

#include <cuda_bf16.h>
#include <cuda_fp16.h>
#include <cuda_runtime.h>

namespace encore {

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
