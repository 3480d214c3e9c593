/* cpu_isa.h: which vector instructions the CPU path may use. The library is
 * built for plain x86-64; the AVX2 + FMA kernels (gemm_cpu.c, erf_cpu.c) are
 * compiled per function and chosen at run time, so the same binary runs on
 * CPUs without them. */
#ifndef ENCORE_CPU_ISA_H
#define ENCORE_CPU_ISA_H

#ifdef __cplusplus
extern "C" {
#endif

/* Which code computes an op: the best the CPU has, or a given one (tests use
 * this to check both). */
typedef enum encore_cpu_isa {
    ENCORE_CPU_ISA_BEST = 0,
    ENCORE_CPU_ISA_PORTABLE, /* plain C, any CPU */
    ENCORE_CPU_ISA_AVX2,     /* AVX2 + FMA; only when the CPU has them */
} encore_cpu_isa;

/* 1 when this CPU runs AVX2 and FMA instructions. */
int encore_cpu_has_avx2(void);

/* 1 when isa (BEST resolved) means the AVX2 code, 0 for the portable code,
 * -1 when isa is AVX2 and the CPU lacks it. */
int encore_cpu_isa_use_avx2(encore_cpu_isa isa);

#ifdef __cplusplus
}
#endif

#endif /* ENCORE_CPU_ISA_H */
