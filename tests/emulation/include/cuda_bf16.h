// cuda_bf16.h (emulation): the bf16 storage type and its conversions,
// round-to-nearest-even as on the device. Written for encore's CUDA
// emulation; it is not NVIDIA's header.
#pragma once

#include <stdint.h>
#include <string.h>

#include "cuda_runtime.h"

struct __nv_bfloat16 {
    uint16_t x;
};

inline float __bfloat162float(__nv_bfloat16 h) {
    const uint32_t bits = (uint32_t)h.x << 16;
    float f;
    memcpy(&f, &bits, 4);
    return f;
}

inline __nv_bfloat16 __float2bfloat16_rn(float v) {
    uint32_t f;
    memcpy(&f, &v, 4);
    __nv_bfloat16 h;
    if ((f & 0x7fffffffu) > 0x7f800000u)
        h.x = (uint16_t)((f >> 16) | 0x40u);  // quiet NaN
    else
        h.x = (uint16_t)((f + 0x7fffu + ((f >> 16) & 1u)) >> 16);
    return h;
}

inline __nv_bfloat16 __float2bfloat16(float v) { return __float2bfloat16_rn(v); }
