/* blas_reference.c: see blas_reference.h. */
#include "blas_reference.h"

#include <cblas.h>
#include <omp.h>
#include <stddef.h>
#include <string.h>

void encore_blas_linear(const float *x, const float *w, const float *b, int T, int N, int K, float *out) {
    /* OpenBLAS's own threads would spin beside OpenMP's on the same cores. */
    openblas_set_num_threads(1);
    float beta = 0.0f;
    if (b) {
        for (int t = 0; t < T; t++) memcpy(out + (size_t)t * N, b, (size_t)N * sizeof(float));
        beta = 1.0f;
    }
    /* Small products stay on one thread. */
    const double flops = 2.0 * T * N * K;
    const int threads = flops < 3e7 ? 1 : omp_get_max_threads();
#pragma omp parallel num_threads(threads)
    {
        const int nt = omp_get_num_threads(), id = omp_get_thread_num();
        const int step = (N + nt - 1) / nt;
        const int n0 = id * step, n1 = n0 + step < N ? n0 + step : N;
        if (n1 > n0)
            cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, T, n1 - n0, K, 1.0f, x, K, w + (size_t)n0 * K, K,
                        beta, out + n0, N);
    }
}
