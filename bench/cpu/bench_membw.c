/* bench_membw: how fast this machine reads memory, on 1 thread and on all
 * of them: a sum over a 256 MiB array (far above any cache), 4 independent
 * AVX sums so that the adds never wait on each other, best of 5. A short
 * text's forward pass streams its fp32 weights once per call, so this
 * bounds it (bench/RESULTS.md).
 *
 *   build/bench/cpu/bench_membw
 */
#include <immintrin.h>
#include <omp.h>
#include <stdio.h>
#include <stdlib.h>
#include <time.h>

static double now(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

/* Sum of a[0, n), n a multiple of 32. */
__attribute__((target("avx"))) static float sum_block(const float *a, size_t n) {
    __m256 s0 = _mm256_setzero_ps(), s1 = s0, s2 = s0, s3 = s0;
    for (size_t i = 0; i < n; i += 32) {
        s0 = _mm256_add_ps(s0, _mm256_loadu_ps(a + i));
        s1 = _mm256_add_ps(s1, _mm256_loadu_ps(a + i + 8));
        s2 = _mm256_add_ps(s2, _mm256_loadu_ps(a + i + 16));
        s3 = _mm256_add_ps(s3, _mm256_loadu_ps(a + i + 24));
    }
    float v[8];
    _mm256_storeu_ps(v, _mm256_add_ps(_mm256_add_ps(s0, s1), _mm256_add_ps(s2, s3)));
    return v[0] + v[1] + v[2] + v[3] + v[4] + v[5] + v[6] + v[7];
}

int main(void) {
    if (!__builtin_cpu_supports("avx")) {
        fprintf(stderr, "bench_membw: this CPU has no AVX\n");
        return 1;
    }
    const size_t n = (size_t)64 << 20; /* floats: 256 MiB */
    const size_t chunk = (size_t)1 << 16; /* floats a thread sums at a time */
    float *a = malloc(n * sizeof(float));
    if (!a) {
        fprintf(stderr, "bench_membw: out of memory\n");
        return 1;
    }
    for (size_t i = 0; i < n; i++) a[i] = (float)(i & 1023);
    const int settings[2] = {1, omp_get_max_threads()};
    for (int k = 0; k < (settings[1] > 1 ? 2 : 1); k++) {
        const int th = settings[k];
        double best = 1e30, total = 0.0;
        for (int rep = 0; rep < 5; rep++) {
            const double t0 = now();
            double sum = 0.0;
#pragma omp parallel for num_threads(th) reduction(+ : sum) schedule(static)
            for (size_t i = 0; i < n; i += chunk) sum += sum_block(a + i, chunk);
            const double dt = now() - t0;
            if (dt < best) best = dt;
            total += sum;
        }
        printf("%d thread%s: %.1f GB/s (checksum %.0f)\n", th, th == 1 ? "" : "s",
               (double)n * sizeof(float) / best / 1e9, total);
    }
    free(a);
    return 0;
}
