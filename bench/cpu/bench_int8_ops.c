/* bench_int8_ops: the throughput of the AVX2 instructions the plain AVX2
 * int8 tile (src/cpu/gemm_i8_cpu.c) is made of, alone and mixed, on this
 * CPU. Each line runs a block of independent instructions (no chain
 * between them) many times and prints its time in units of one
 * vfmadd231ps ymm slot, taken as half a cycle (two FMA pipes: Zen 2-5,
 * Skylake and later), so "cycles" below are that estimate. Mixes that
 * take as long as the sum of their parts share execution ports; mixes
 * that take as long as the longer part do not.
 *
 *   build/bench/cpu/bench_int8_ops
 *
 * Each figure is the best of 15 runs (a floor for a shared machine's
 * noise). */
#include <stdio.h>
#include <string.h>
#include <time.h>

#if defined(__x86_64__)
#include "bench_x86.h"

#define STEPS 2000000L
#define RUNS 15

/* Eight independent instructions writing ymm0-ymm7 from ymm14 and ymm15. */
#define X8(op) op(0) op(1) op(2) op(3) op(4) op(5) op(6) op(7)
#define MADDUBS(i) "vpmaddubsw %%ymm14, %%ymm15, %%ymm" #i "\n\t"
#define SIGN(i) "vpsignb %%ymm14, %%ymm15, %%ymm" #i "\n\t"
#define MADDWD(i) "vpmaddwd %%ymm14, %%ymm15, %%ymm" #i "\n\t"
#define ADDD(i) "vpaddd %%ymm14, %%ymm15, %%ymm" #i "\n\t"
#define ADDW(i) "vpaddw %%ymm14, %%ymm15, %%ymm" #i "\n\t"
#define ABS(i) "vpabsb %%ymm15, %%ymm" #i "\n\t"
#define FMA(i) "vfmadd231ps %%ymm14, %%ymm15, %%ymm" #i "\n\t"
#define MOVSX(i) "vpmovsxbw " #i "*16(%0), %%ymm" #i "\n\t"
#define MOVSXR(i) "vpmovsxbw %%xmm14, %%ymm" #i "\n\t"
#define CLOBBERS "xmm0", "xmm1", "xmm2", "xmm3", "xmm4", "xmm5", "xmm6", "xmm7"

/* Best seconds per step of a block. */
#define TIME_BLOCK(out, block)                                                                               \
    do {                                                                                                     \
        double best = 1e30;                                                                                  \
        for (int run = 0; run < RUNS; run++) {                                                               \
            const double t0 = bench_now();                                                                   \
            for (long n = 0; n < STEPS; n++) __asm__ volatile(block ::"r"(mem) : CLOBBERS);              \
            const double dt = (bench_now() - t0) / (double)STEPS;                                            \
            best = dt < best ? dt : best;                                                                    \
        }                                                                                                    \
        (out) = best;                                                                                        \
    } while (0)

__attribute__((target("avx2,fma"))) static int run(void) {
    static signed char mem[8 * 16] __attribute__((aligned(64))); /* what vpmovsxbw reads */
    double fma, t;
    TIME_BLOCK(fma, X8(FMA));
    const double cycle = fma / 4.0; /* 8 FMAs on two pipes */
    printf("clock, from the FMA rate: %.2f GHz\n", 1e-9 / cycle);
    printf("%-44s %8s\n", "instructions (independent)", "cycles");
#define ROW(label, block)                                                                                    \
    do {                                                                                                     \
        TIME_BLOCK(t, block);                                                                                \
        printf("%-44s %8.2f\n", label, t / cycle);                                                           \
    } while (0)
    ROW("8 vpmaddubsw", X8(MADDUBS));
    ROW("8 vpmaddwd", X8(MADDWD));
    ROW("8 vpsignb", X8(SIGN));
    ROW("8 vpabsb", X8(ABS));
    ROW("8 vpaddd", X8(ADDD));
    ROW("8 vpaddw", X8(ADDW));
    ROW("8 vpmaddubsw + 8 vpmaddwd", X8(MADDUBS) X8(MADDWD));
    ROW("8 vpmaddubsw + 8 vpsignb", X8(MADDUBS) X8(SIGN));
    ROW("8 vpmaddubsw + 8 vpabsb", X8(MADDUBS) X8(ABS));
    ROW("8 vpmaddubsw + 8 vpaddw", X8(MADDUBS) X8(ADDW));
    /* The exact tile's step for 4 rows (each: 2 vpsignb, 2 vpmaddubsw,
     * 2 vpmaddwd, 2 vpaddd; its one vpabsb per row left out). */
    ROW("tile: 8 sign + 8 maddubs + 8 maddwd + 8 addd", X8(SIGN) X8(MADDUBS) X8(MADDWD) X8(ADDD));
    /* Without the sign step: what a kernel that lets vpmaddubsw saturate
     * (or one on 7-bit weights, which cannot) would run. */
    ROW("8 maddubs + 8 maddwd + 8 addd (no sign)", X8(MADDUBS) X8(MADDWD) X8(ADDD));
    /* Widening bytes to int16 (for vpmaddwd products, exact). */
    ROW("8 vpmovsxbw (16 bytes from memory)", X8(MOVSX));
    ROW("8 vpmovsxbw (from a register)", X8(MOVSXR));
    ROW("8 vpmovsxbw (memory) + 8 vpmaddwd", X8(MOVSX) X8(MADDWD));
#undef ROW
    return 0;
}

int main(void) {
    if (!bench_start_avx2()) return 0;
    return run();
}
#else
int main(void) {
    printf("skipped: x86-64 only\n");
    return 0;
}
#endif
