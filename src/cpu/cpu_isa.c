/* cpu_isa.c: run-time CPU feature check and the choice of code path
 * (cpu_isa.h). */
#include "cpu/cpu_isa.h"

#include "core/common.h"
#include "cpu/gemm_i8_cpu.h"

#include <stdlib.h>
#include <string.h>

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

int encore_cpu_has_avx512(void) {
#if defined(__x86_64__) || defined(__i386__)
    /* __builtin_cpu_supports reports AVX-512F only when the OS has enabled
     * the zmm state (XCR0), so a kernel that does not save it never gets
     * the AVX-512 path. */
    static volatile int cached = -1;
    if (cached < 0) {
        __builtin_cpu_init();
        cached = encore_cpu_has_avx2() && __builtin_cpu_supports("avx512f");
    }
    return cached;
#else
    return 0;
#endif
}

const char *encore_cpu_isa_name(encore_cpu_isa isa) {
    switch (isa) {
    case ENCORE_CPU_ISA_BEST: return "best";
    case ENCORE_CPU_ISA_PORTABLE: return "portable";
    case ENCORE_CPU_ISA_AVX2: return "avx2";
    case ENCORE_CPU_ISA_AVX512: return "avx512";
    }
    return "unknown";
}

static int has_path(encore_cpu_isa isa, int has_avx2, int has_avx512) {
    switch (isa) {
    case ENCORE_CPU_ISA_PORTABLE: return 1;
    case ENCORE_CPU_ISA_AVX2: return has_avx2;
    case ENCORE_CPU_ISA_AVX512: return has_avx512;
    case ENCORE_CPU_ISA_BEST: break;
    }
    return 0;
}

int encore_cpu_isa_choose(encore_cpu_isa isa, const char *env, int has_avx2, int has_avx512, int *env_ignored) {
    if (env_ignored) *env_ignored = 0;
    has_avx512 = has_avx512 && has_avx2;
    if (isa != ENCORE_CPU_ISA_BEST) return has_path(isa, has_avx2, has_avx512) ? (int)isa : -1;
    const int best = has_avx512 ? ENCORE_CPU_ISA_AVX512 : has_avx2 ? ENCORE_CPU_ISA_AVX2 : ENCORE_CPU_ISA_PORTABLE;
    if (!env || !*env) return best;
    static const encore_cpu_isa named[] = {ENCORE_CPU_ISA_PORTABLE, ENCORE_CPU_ISA_AVX2, ENCORE_CPU_ISA_AVX512};
    for (size_t i = 0; i < sizeof named / sizeof named[0]; i++) {
        if (strcmp(env, encore_cpu_isa_name(named[i])) != 0) continue;
        if (has_path(named[i], has_avx2, has_avx512)) return (int)named[i];
        break;
    }
    if (env_ignored) *env_ignored = 1;
    return best;
}

int encore_cpu_isa_resolve(encore_cpu_isa isa) {
    if (isa != ENCORE_CPU_ISA_BEST)
        return encore_cpu_isa_choose(isa, NULL, encore_cpu_has_avx2(), encore_cpu_has_avx512(), NULL);
    /* Racing first calls compute the same answer (and may both warn). */
    static volatile int cached = -1;
    if (cached < 0) {
        const char *env = getenv("ENCORE_CPU_ISA");
        int ignored = 0;
        const int path =
            encore_cpu_isa_choose(ENCORE_CPU_ISA_BEST, env, encore_cpu_has_avx2(), encore_cpu_has_avx512(), &ignored);
        if (ignored)
            encore_log(ENCORE_LOG_LEVEL_WARN,
                       "ENCORE_CPU_ISA=%s is not a path this CPU can run (portable, avx2 or avx512 where the CPU "
                       "has it); using %s",
                       env, encore_cpu_isa_name((encore_cpu_isa)path));
        cached = path;
    }
    return cached;
}

int encore_cpu_isa_use_avx2(encore_cpu_isa isa) {
    const int path = encore_cpu_isa_resolve(isa);
    return path < 0 ? -1 : path >= ENCORE_CPU_ISA_AVX2;
}

const char *encore_cpu_path(void) {
    const int path = encore_cpu_isa_resolve(ENCORE_CPU_ISA_BEST);
    return encore_cpu_isa_name(path < 0 ? ENCORE_CPU_ISA_PORTABLE : (encore_cpu_isa)path);
}

const char *encore_cpu_int8_kernel(void) {
    return encore_i8_kernel_name(encore_i8_kernel_for_path(encore_cpu_isa_resolve(ENCORE_CPU_ISA_BEST)));
}
