/* bench_load.c: how long encore_model_load takes on a model directory, the
 * files in the page cache (one load first to warm it; the figure is the
 * loader's: reading, checking, widening and packing the weights, the
 * tokenizer and the config).
 *
 *   build/bench/cpu/bench_load DIR [LOADS [fp32|bf16|int8]]
 *
 * Prints the minimum, median and maximum wall time of LOADS loads (default 15). */
#include "encore.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

static double now_ms(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec * 1e3 + (double)ts.tv_nsec * 1e-6;
}

static int by_value(const void *a, const void *b) {
    const double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

int main(int argc, char **argv) {
    if (argc < 2) {
        fprintf(stderr, "usage: %s DIR [LOADS [fp32|bf16|int8]]\n", argv[0]);
        return 2;
    }
    const int loads = argc > 2 ? atoi(argv[2]) : 15;
    if (loads < 1 || loads > 10000) {
        fprintf(stderr, "LOADS must be 1 to 10000\n");
        return 2;
    }
    encore_model_params p = encore_model_default_params();
    if (argc > 3) {
        if (strcmp(argv[3], "bf16") == 0) p.weights = ENCORE_WEIGHTS_BF16;
        else if (strcmp(argv[3], "int8") == 0) p.weights = ENCORE_WEIGHTS_INT8;
        else if (strcmp(argv[3], "fp32") != 0) {
            fprintf(stderr, "weights: fp32, bf16 or int8\n");
            return 2;
        }
    }
    double *ms = malloc(sizeof *ms * (size_t)loads);
    if (!ms) return 1;
    for (int i = -1; i < loads; i++) {
        encore_model *m = NULL;
        const double t0 = now_ms();
        const encore_status s = encore_model_load(argv[1], p, &m);
        const double t1 = now_ms();
        if (s != ENCORE_STATUS_OK) {
            fprintf(stderr, "%s: %s\n", encore_status_str(s), encore_last_error());
            free(ms);
            return 1;
        }
        encore_model_free(m);
        if (i >= 0) ms[i] = t1 - t0;
    }
    qsort(ms, (size_t)loads, sizeof *ms, by_value);
    printf("%s: %d loads, min %.1f ms, median %.1f ms, max %.1f ms\n", argv[1], loads, ms[0], ms[loads / 2],
           ms[loads - 1]);
    free(ms);
    return 0;
}
