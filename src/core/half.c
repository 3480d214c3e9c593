/* half.c: fp16 and bf16 to and from fp32 (half.h). */
#include "core/half.h"

#include <string.h>

static uint32_t bits_of(float f) {
    uint32_t u;
    memcpy(&u, &f, sizeof u);
    return u;
}

static float float_of(uint32_t u) {
    float f;
    memcpy(&f, &u, sizeof f);
    return f;
}

uint16_t encore_f32_to_f16(float f) {
    const uint32_t u = bits_of(f);
    const uint16_t sign = (uint16_t)((u >> 16) & 0x8000u);
    const uint32_t a = u & 0x7fffffffu;
    if (a >= 0x7f800000u) /* Inf or NaN: keep NaN quiet and non-zero */
        return (uint16_t)(sign | 0x7c00u | (a > 0x7f800000u ? 0x0200u | ((a >> 13) & 0x3ffu) : 0u));
    if (a >= 0x477ff000u) return (uint16_t)(sign | 0x7c00u); /* rounds to >= 65520: infinity */
    if (a < 0x38800000u) {
        /* Below the smallest normal half (2^-14): a subnormal half, in units
         * of 2^-24. Adding 0.5 (as a float) aligns the bits so that the float
         * adder's own round-to-nearest-even does the rounding. */
        const float r = float_of(a) + 0.5f;
        return (uint16_t)(sign | (uint16_t)(bits_of(r) - 0x3f000000u));
    }
    /* Normal: rebias the exponent (127 -> 15) and round the 23-bit mantissa
     * to 10 bits, to nearest even. A carry into the exponent is correct. */
    const uint32_t odd = (a >> 13) & 1u;
    const uint32_t r = a + 0xc8000fffu + odd; /* -(112 << 23) + 0xfff + odd, mod 2^32 */
    return (uint16_t)(sign | (uint16_t)(r >> 13));
}

uint16_t encore_f32_to_bf16(float f) {
    const uint32_t u = bits_of(f);
    if ((u & 0x7fffffffu) > 0x7f800000u) return (uint16_t)((u >> 16) | 0x0040u); /* quiet NaN */
    const uint32_t odd = (u >> 16) & 1u;
    return (uint16_t)((u + 0x7fffu + odd) >> 16); /* overflow rounds into infinity, as it should */
}

float encore_f16_to_f32(uint16_t h) {
    uint32_t sign = (uint32_t)(h & 0x8000) << 16;
    uint32_t exp = (h >> 10) & 0x1f;
    uint32_t mant = h & 0x3ff;
    uint32_t bits;
    if (exp == 0) {
        if (mant == 0) {
            bits = sign;
        } else { /* subnormal: renormalise */
            int e = -1;
            do { e++; mant <<= 1; } while (!(mant & 0x400));
            bits = sign | ((uint32_t)(127 - 15 - e) << 23) | ((mant & 0x3ff) << 13);
        }
    } else if (exp == 0x1f) {
        bits = sign | 0x7f800000u | (mant << 13);
    } else {
        bits = sign | ((exp + 127 - 15) << 23) | (mant << 13);
    }
    float f;
    memcpy(&f, &bits, sizeof f);
    return f;
}

float encore_bf16_to_f32(uint16_t b) {
    uint32_t bits = (uint32_t)b << 16;
    float f;
    memcpy(&f, &bits, sizeof f);
    return f;
}
