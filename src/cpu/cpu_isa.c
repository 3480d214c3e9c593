/* cpu_isa.c: run-time CPU feature check (cpu_isa.h). */
#include "cpu/cpu_isa.h"

int encore_cpu_has_avx2(void) {
#if defined(__x86_64__) || defined(__i386__)
    /* Racing first calls compute the same answer; the int store is atomic
     * on x86. */
    static volatile int cached = -1;
    if (cached < 0) {
        __builtin_cpu_init();
        cached = __builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma");
    }
    return cached;
#else
    return 0;
#endif
}

int encore_cpu_isa_use_avx2(encore_cpu_isa isa) {
    switch (isa) {
    case ENCORE_CPU_ISA_PORTABLE: return 0;
    case ENCORE_CPU_ISA_AVX2: return encore_cpu_has_avx2() ? 1 : -1;
    case ENCORE_CPU_ISA_BEST: break;
    }
    return encore_cpu_has_avx2();
}
