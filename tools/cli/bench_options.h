/* bench_options.h: the command line of `encore bench`. */
#ifndef ENCORE_CLI_BENCH_OPTIONS_H
#define ENCORE_CLI_BENCH_OPTIONS_H

#include "encore.h"

#include <stdio.h>

#define BENCH_MAX_LIST 16  /* values in one comma-separated list */

typedef struct bench_options {
    const char *model_dir;
    encore_device devices[2];     /* in the order given: CPU and/or CUDA */
    int n_devices;
    int batches[BENCH_MAX_LIST];  /* texts per call */
    int n_batches;
    int seq_lens[BENCH_MAX_LIST]; /* tokens per synthetic text, special tokens included */
    int n_seq_lens;
    const char *texts_path;       /* --texts FILE: real texts instead of synthetic lengths */
    int warmup;                   /* untimed calls before each cell */
    int iters;                    /* timed calls per cell; 0: run for `seconds` */
    double seconds;               /* timed seconds per cell when iters is 0 */
    int threads;                  /* CPU threads; 0 = all cores */
    int device_index;             /* which GPU */
    encore_precision precision;   /* for CUDA cells; the CPU is always fp32 */
    encore_weights weights;       /* how the CPU stores the linear weights (--weights) */
    const char *json_path;        /* "-" for stdout */
    const char *plot_path;
    int quiet;
} bench_options;

/* Fewest timed calls in --seconds mode, so that a slow cell still has a
 * median of several calls. */
#define BENCH_MIN_ITERS 3

void bench_usage(FILE *f);

/* argv[0] is "bench". Returns 1 to run, 0 on a usage error (message on
 * stderr), -1 for --help. */
int bench_parse_args(int argc, char **argv, const char *default_model_dir, bench_options *o);

#endif /* ENCORE_CLI_BENCH_OPTIONS_H */
