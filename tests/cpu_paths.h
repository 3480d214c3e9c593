// cpu_paths.h: the CPU code paths (src/cpu/cpu_isa.h) a test holds to its
// reference: every one this CPU runs, the paths it lacks named once per run so
// that the log says what this machine did not test.
#ifndef ENCORE_TESTS_CPU_PATHS_H
#define ENCORE_TESTS_CPU_PATHS_H

#include <cstdio>
#include <vector>

#include "cpu/cpu_isa.h"

inline std::vector<encore_cpu_isa> isas() {
    std::vector<encore_cpu_isa> v{ENCORE_CPU_ISA_PORTABLE};
    if (encore_cpu_has_avx2()) v.push_back(ENCORE_CPU_ISA_AVX2);
    if (encore_cpu_has_avx512()) v.push_back(ENCORE_CPU_ISA_AVX512);
    static bool said = false;
    if (!said) {
        said = true;
        if (!encore_cpu_has_avx2()) std::printf("[ note ] no AVX2 + FMA on this CPU: the avx2 path is not tested\n");
        if (!encore_cpu_has_avx512()) std::printf("[ note ] no AVX-512F on this CPU: the avx512 path is not tested\n");
    }
    return v;
}

#endif  // ENCORE_TESTS_CPU_PATHS_H
