// cuda_fp16.h (emulation): the fp16 storage type and the conversions the
// kernels use, round-to-nearest-even as on the device. Written for encore's
// CUDA emulation; it is not NVIDIA's header.
#pragma once

#include <math.h>
#include <stdint.h>
#include <string.h>

#include "cuda_runtime.h"

struct __half {
    uint16_t x;
};

inline float __half2float(__half h) {
    const uint32_t sign = (uint32_t)(h.x & 0x8000u) << 16, e = (h.x >> 10) & 0x1fu, m = h.x & 0x3ffu;
    uint32_t bits;
    if (e == 0) {
        const float v = ldexpf((float)m, -24);  // zero or subnormal, exact
        memcpy(&bits, &v, 4);
        bits |= sign;
    } else if (e == 31) {
        bits = sign | 0x7f800000u | (m << 13);
    } else {
        bits = sign | ((e + 112u) << 23) | (m << 13);
    }
    float f;
    memcpy(&f, &bits, 4);
    return f;
}

inline __half __float2half_rn(float v) {
    uint32_t f;
    memcpy(&f, &v, 4);
    const uint16_t sign = (uint16_t)((f >> 16) & 0x8000u);
    const uint32_t a = f & 0x7fffffffu;
    __half h;
    if (a >= 0x7f800000u) {
        h.x = (uint16_t)(sign | (a > 0x7f800000u ? 0x7e00u : 0x7c00u));  // NaN stays NaN, Inf stays Inf
    } else if (a >= 0x477ff000u) {
        h.x = (uint16_t)(sign | 0x7c00u);  // 65520 and above round to Inf
    } else if (a < 0x38800000u) {
        float av;
        memcpy(&av, &a, 4);
        h.x = (uint16_t)(sign | (uint16_t)nearbyintf(av * 16777216.0f));  // subnormal: units of 2^-24, ties to even
    } else {
        uint32_t r = (((a >> 23) - 112u) << 10) | ((a & 0x7fffffu) >> 13);
        const uint32_t rem = a & 0x1fffu;
        if (rem > 0x1000u || (rem == 0x1000u && (r & 1u))) r++;
        h.x = (uint16_t)(sign | r);
    }
    return h;
}

inline __half __float2half(float v) { return __float2half_rn(v); }
