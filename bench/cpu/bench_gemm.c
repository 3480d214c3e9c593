/* bench_gemm: the packed GEMM (src/cpu/gemm_cpu.c) alone, against OpenBLAS's
 * sgemm on the same products (encore_blas_linear, which the CUDA tests keep
 * as their reference): the default model's four products of a layer
 * (hidden 384, intermediate 1536) at T rows, on 1 thread and on all; on
 * fp32 panels, and on int8 ones weight-only (--weights int8) and with int8
 * activations (int8-dynamic, src/cpu/gemm_i8_cpu.c).
 * OpenBLAS runs single-threaded inside each OpenMP thread's column slice,
 * as encore_blas_linear does. Each cell is the best of a
 * number of calls (a floor for noise on a shared machine).
 *
 *   build/bench/cpu/bench_gemm [T ...]      (default: 25 128 1600)
 */
#include "blas_reference.h"
#include "cpu/gemm_cpu.h"
#include "cpu/gemm_i8_cpu.h"

#include <cblas.h>
#include <omp.h>
#include <stdio.h>
#include <stdint.h>
#include <stdlib.h>
#include <time.h>

static double now(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

static float *random_floats(size_t n, float scale) {
    float *v = malloc(n * sizeof(float));
    if (!v) return NULL;
    for (size_t i = 0; i < n; i++) v[i] = scale * ((float)rand() / (float)RAND_MAX - 0.5f);
    return v;
}

enum { N_PRODUCTS = 4 };
static const int shapes[N_PRODUCTS][2] = {{1152, 384}, {384, 384}, {1536, 384}, {384, 1536}}; /* N, K */

typedef struct product {
    float *w, *packed, *bias;
    encore_packed_matrix m;
    /* int8 weight-only, and int8-dynamic */
    int8_t *q8, *q4;
    float *scales8, *scales4;
    int32_t *wsums;
    encore_packed_matrix m8, m4;
} product;

enum { FP32 = 0, INT8 = 1, INT8_DYNAMIC = 2, BLAS = 3 };

/* Best time of the four products over calls calls, in ms. */
static double best_ms(const product *p, const float *x, float *out, int T, int kind, int calls) {
    double best = 1e30;
    for (int c = 0; c < calls; c++) {
        const double t0 = now();
        for (int i = 0; i < N_PRODUCTS; i++) {
            const int N = shapes[i][0], K = shapes[i][1];
            if (kind == BLAS)
                encore_blas_linear(x, p[i].w, p[i].bias, T, N, K, out);
            else
                encore_linear_packed_cpu(x, kind == FP32 ? &p[i].m : kind == INT8 ? &p[i].m8 : &p[i].m4, p[i].bias, T,
                                         out);
        }
        const double dt = (now() - t0) * 1e3;
        if (dt < best) best = dt;
    }
    return best;
}

int main(int argc, char **argv) {
    int lengths[16] = {25, 128, 1600}, n_lengths = 3;
    if (argc > 1) {
        n_lengths = 0;
        for (int i = 1; i < argc && n_lengths < 16; i++) lengths[n_lengths++] = atoi(argv[i]);
    }
    openblas_set_num_threads(1);
    srand(1);
    product p[N_PRODUCTS];
    for (int i = 0; i < N_PRODUCTS; i++) {
        const int N = shapes[i][0], K = shapes[i][1];
        p[i].w = random_floats((size_t)N * K, 0.1f);
        p[i].bias = random_floats((size_t)N, 1.0f);
        p[i].packed = malloc(encore_packed_floats(N, K) * sizeof(float));
        const size_t rows = ((size_t)N + 15) / 16 * 16;
        p[i].q8 = malloc(encore_packed_floats(N, K));
        p[i].q4 = malloc(encore_packed_i8_dynamic_bytes((size_t)N, (size_t)K));
        p[i].scales8 = malloc(rows * sizeof(float));
        p[i].scales4 = malloc(rows * sizeof(float));
        p[i].wsums = malloc(rows * (size_t)encore_i8_groups(K) * sizeof(int32_t));
        if (!p[i].w || !p[i].bias || !p[i].packed || !p[i].q8 || !p[i].q4 || !p[i].scales8 || !p[i].scales4 ||
            !p[i].wsums) {
            fprintf(stderr, "bench_gemm: out of memory\n");
            return 1;
        }
        encore_pack_matrix(p[i].w, N, K, p[i].packed, &p[i].m);
        encore_pack_matrix_i8(p[i].w, N, K, p[i].q8, p[i].scales8, &p[i].m8);
        encore_pack_matrix_i8_dynamic(p[i].w, N, K, encore_i8_pairs_preferred(), p[i].q4, p[i].scales4, p[i].wsums,
                                      &p[i].m4);
    }
    const int max_threads = omp_get_max_threads();
    printf("%6s %7s %12s %12s %9s %10s %10s %14s\n", "T", "threads", "packed ms", "OpenBLAS ms", "ratio", "GFLOP/s",
           "int8 ms", "int8-dyn ms");
    for (int l = 0; l < n_lengths; l++) {
        const int T = lengths[l];
        if (T <= 0) continue;
        float *x = random_floats((size_t)T * 1536, 1.0f), *out = malloc((size_t)T * 1536 * sizeof(float));
        if (!x || !out) {
            fprintf(stderr, "bench_gemm: out of memory\n");
            return 1;
        }
        double flops = 0.0;
        for (int i = 0; i < N_PRODUCTS; i++) flops += 2.0 * T * shapes[i][0] * shapes[i][1];
        const int calls = T <= 128 ? 200 : 20;
        const int settings[2] = {1, max_threads};
        for (int k = 0; k < (max_threads > 1 ? 2 : 1); k++) {
            const int th = settings[k];
            omp_set_num_threads(th);
            for (int kind = FP32; kind <= BLAS; kind++) best_ms(p, x, out, T, kind, 2); /* warm up */
            const double packed = best_ms(p, x, out, T, FP32, calls), blas = best_ms(p, x, out, T, BLAS, calls);
            const double i8 = best_ms(p, x, out, T, INT8, calls), dyn = best_ms(p, x, out, T, INT8_DYNAMIC, calls);
            printf("%6d %7d %12.3f %12.3f %8.2fx %10.1f %10.3f %14.3f\n", T, th, packed, blas, blas / packed,
                   flops / (packed * 1e-3) / 1e9, i8, dyn);
        }
        free(x);
        free(out);
    }
    for (int i = 0; i < N_PRODUCTS; i++) {
        free(p[i].w);
        free(p[i].bias);
        free(p[i].packed);
        free(p[i].q8);
        free(p[i].q4);
        free(p[i].scales8);
        free(p[i].scales4);
        free(p[i].wsums);
    }
    return 0;
}
