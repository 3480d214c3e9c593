/* bench_x86.h: what the x86 instruction benchmarks (bench_int8_ops,
 * bench_int8_tiles) share: a monotonic clock, the CPU's brand string and
 * the check for AVX2. */
#ifndef ENCORE_BENCH_X86_H
#define ENCORE_BENCH_X86_H

#include <cpuid.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

static inline double bench_now(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

/* The CPU's brand string (CPUID 0x80000002-4) into name (n bytes), or
 * "unknown". */
static inline void bench_cpu_name(char *name, size_t n) {
    unsigned r[12];
    if ((unsigned)__get_cpuid_max(0x80000000u, NULL) < 0x80000004u) {
        snprintf(name, n, "unknown");
        return;
    }
    for (unsigned i = 0; i < 3; i++) __cpuid(0x80000002u + i, r[4 * i], r[4 * i + 1], r[4 * i + 2], r[4 * i + 3]);
    memcpy(name, r, n < sizeof r ? n : sizeof r);
    name[n - 1 < sizeof r ? n - 1 : sizeof r] = '\0';
}

/* Prints the CPU; 1 when it has AVX2 and FMA, else prints why the
 * benchmark is skipped and returns 0. */
static inline int bench_start_avx2(void) {
    __builtin_cpu_init();
    char name[49];
    bench_cpu_name(name, sizeof name);
    printf("CPU: %s\n", name);
    if (!__builtin_cpu_supports("avx2") || !__builtin_cpu_supports("fma")) {
        printf("skipped: this CPU lacks avx2 or fma\n");
        return 0;
    }
    return 1;
}

#endif /* ENCORE_BENCH_X86_H */
