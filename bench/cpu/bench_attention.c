/* bench_attention: the CPU attention alone (src/cpu/cpu_ops.c) on one
 * sequence of S tokens with the default model's heads (12 of 32), on one
 * thread: S x S scores, softmax and p v per head, one layer's worth per
 * call. Prints the best and the median of N calls (a floor and a middle
 * for the noise of a shared machine).
 *
 *   build/bench/cpu/bench_attention [S [N]]     (default: 352 300)
 */
#include "cpu/cpu_ops.h"

#include <omp.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <time.h>

static double now(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

static int by_value(const void *a, const void *b) {
    const double x = *(const double *)a, y = *(const double *)b;
    return x < y ? -1 : x > y;
}

int main(int argc, char **argv) {
    const int S = argc > 1 ? atoi(argv[1]) : 352, calls = argc > 2 ? atoi(argv[2]) : 300;
    const int H = 12, D = 32, C = H * D;
    if (S < 1 || S > 100000 || calls < 1 || calls > 1000000) {
        fprintf(stderr, "usage: bench_attention [S (1-100000) [calls (1-1000000)]]\n");
        return 2;
    }
    omp_set_num_threads(1);
    float *qkv = malloc(sizeof(float) * (size_t)S * 3 * C), *out = malloc(sizeof(float) * (size_t)S * C);
    float *scratch = malloc(sizeof(float) * encore_attention_scratch_floats(1, S, D));
    double *t = malloc(sizeof(double) * (size_t)calls);
    if (!qkv || !out || !scratch || !t) {
        fprintf(stderr, "bench_attention: out of memory\n");
        return 1;
    }
    srand(1);
    for (size_t i = 0; i < (size_t)S * 3 * C; i++) qkv[i] = (float)rand() / (float)RAND_MAX - 0.5f;
    const int32_t seq_start[2] = {0, S};
    for (int i = 0; i < calls; i++) {
        const double t0 = now();
        encore_attention_cpu(qkv, seq_start, 1, H, D, NULL, scratch, S, out);
        t[i] = now() - t0;
    }
    qsort(t, (size_t)calls, sizeof *t, by_value);
    printf("S=%d, %d heads of %d, 1 thread, %d calls: best %.3f ms, median %.3f ms\n", S, H, D, calls, t[0] * 1e3,
           t[calls / 2] * 1e3);
    free(qkv);
    free(out);
    free(scratch);
    free(t);
    return 0;
}
