/* erf_cpu.h: erf over arrays, and the exact (erf) GELU with its bias, with
 * AVX2 + FMA and AVX-512 versions chosen at run time (cpu_isa.h). */
#ifndef ENCORE_ERF_CPU_H
#define ENCORE_ERF_CPU_H

#include "cpu/cpu_isa.h"

#include <stddef.h>

#ifdef __cplusplus
extern "C" {
#endif

/* y[i] = erf(x[i]), i < n. The AVX2 version is within 1e-7 of erf in
 * double for every float x, and the AVX-512 one gives the same bits (the
 * portable one is libm's erff). Returns 0, or -1 when isa names a path the
 * CPU lacks. */
int encore_erf_isa_cpu(const float *x, float *y, size_t n, encore_cpu_isa isa);

/* row[i] = gelu(row[i] + bias[i]), i < n, gelu(v) = v/2 (1 + erf(v / sqrt 2)),
 * as PyTorch's exact GELU; bias may be NULL (no bias). Returns as encore_erf_isa_cpu. */
int encore_bias_gelu_isa_cpu(float *row, const float *bias, size_t n, encore_cpu_isa isa);

/* The same without bias on a block: rows x cols, row stride ldx (one
 * thread's finished block of a product). Returns as encore_erf_isa_cpu. */
int encore_gelu_block_isa_cpu(float *x, size_t ldx, int rows, int cols, encore_cpu_isa isa);

#ifdef __cplusplus
}
#endif

#endif /* ENCORE_ERF_CPU_H */
