/* cpu_isa.h: which vector instructions the CPU path may use. The library is
 * built for plain x86-64; the AVX2 + FMA and AVX-512 kernels (gemm_cpu.c,
 * erf_cpu.c, cpu_ops.c) are compiled per function and chosen at run time, so
 * the same binary runs on CPUs without them.
 *
 * ENCORE_CPU_ISA=portable|avx2|avx512 in the environment caps the path that
 * ENCORE_CPU_ISA_BEST picks (for tests and benchmarks); a path the CPU lacks
 * falls back to the best it has, with a warning in the log. */
#ifndef ENCORE_CPU_ISA_H
#define ENCORE_CPU_ISA_H

#ifdef __cplusplus
extern "C" {
#endif

/* Which code computes an op: the best the CPU has, or a given one (tests use
 * this to check each). An op without a version for a path runs the best
 * version below it (AVX-512 machines run the AVX2 softmax, say). */
typedef enum encore_cpu_isa {
    ENCORE_CPU_ISA_BEST = 0,
    ENCORE_CPU_ISA_PORTABLE, /* plain C, any CPU */
    ENCORE_CPU_ISA_AVX2,     /* AVX2 + FMA; only when the CPU has them */
    ENCORE_CPU_ISA_AVX512,   /* AVX-512F (+ AVX2 + FMA); only when the CPU has them */
} encore_cpu_isa;

/* 1 when this CPU runs AVX2 and FMA instructions. */
int encore_cpu_has_avx2(void);

/* 1 when this CPU (and the OS, which must save the zmm registers) runs
 * AVX-512F, AVX2 and FMA instructions. */
int encore_cpu_has_avx512(void);

/* The path isa means on a CPU with the given features: PORTABLE, AVX2 or
 * AVX512, or -1 when isa names a path the CPU lacks. For BEST, env (the
 * ENCORE_CPU_ISA value, or NULL) caps the choice; an env value that is
 * unknown, or names a path the CPU lacks, is ignored and *env_ignored set
 * to 1 (when not NULL). A pure function: the dispatch tests run it for
 * machines other than this one. */
int encore_cpu_isa_choose(encore_cpu_isa isa, const char *env, int has_avx2, int has_avx512, int *env_ignored);

/* encore_cpu_isa_choose for this CPU and this process's ENCORE_CPU_ISA
 * (read once). */
int encore_cpu_isa_resolve(encore_cpu_isa isa);

/* 1 when isa (BEST resolved) means AVX2 code or better, 0 for the portable
 * code, -1 when isa names a path the CPU lacks. */
int encore_cpu_isa_use_avx2(encore_cpu_isa isa);

/* The path's name: "portable", "avx2", "avx512" ("best" for BEST). */
const char *encore_cpu_isa_name(encore_cpu_isa isa);

#ifdef __cplusplus
}
#endif

#endif /* ENCORE_CPU_ISA_H */
