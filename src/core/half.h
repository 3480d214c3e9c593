/* half.h: IEEE binary16 (fp16) and bfloat16 (bf16) to and from fp32, for
 * checkpoints stored in 16 bits, bf16 weights on the CPU and the device
 * precisions. */
#ifndef ENCORE_HALF_H
#define ENCORE_HALF_H

#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

/* fp16 and bf16 from fp32, round to nearest even; NaN stays NaN (quiet),
 * overflow goes to infinity. */
uint16_t encore_f32_to_f16(float f);
uint16_t encore_f32_to_bf16(float f);

/* The way back, exact. */
float encore_f16_to_f32(uint16_t h);
float encore_bf16_to_f32(uint16_t b);

#ifdef __cplusplus
}
#endif

#endif /* ENCORE_HALF_H */
