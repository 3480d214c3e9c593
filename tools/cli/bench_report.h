/* bench_report.h: what `encore bench` ran on, and its results as a table and
 * as JSON. */
#ifndef ENCORE_CLI_BENCH_REPORT_H
#define ENCORE_CLI_BENCH_REPORT_H

#include "bench_options.h"
#include "bench_stats.h"

#include <stdio.h>

typedef struct bench_system {
    char cpu[160];          /* model name from /proc/cpuinfo */
    int cores;              /* online logical CPUs */
    int threads;            /* CPU threads the sessions use */
    char build_type[48];    /* CMAKE_BUILD_TYPE, + sanitizers */
    double load[3];         /* load average at the start; -1 when unknown */
    char gpu[256];          /* name, clocks, memory; "" when no CUDA cell ran */
} bench_system;

typedef struct bench_run {
    const bench_options *options;
    const char *model_dir;
    const char *architecture;
    bench_shape shape;
    int max_length;
    int n_texts;            /* --texts: texts in the file */
    bench_system system;
    bench_cell *cells;
    int n_cells;
} bench_run;

/* CPU, cores, threads, build type and load average. */
void bench_system_probe(bench_system *s, int threads);

/* The GPU's name, clocks and memory from nvidia-smi (the public API does
 * not name devices); "" when nvidia-smi is not there. */
void bench_system_probe_gpu(bench_system *s, int device_index);

void bench_print_header(FILE *f, const bench_run *r);
void bench_print_table(FILE *f, const bench_run *r);

/* The CUDA cell's speed-up over the CPU cell of the same batch and length
 * (ratio of mean latencies, so of throughputs too); 0 when either is
 * missing or skipped. */
double bench_speedup(const bench_run *r, const bench_cell *cuda);

/* Write the JSON document to path ("-": stdout). Returns 0 with a message in
 * err on failure. */
int bench_write_json(const char *path, const bench_run *r, char *err, size_t err_len);

#endif /* ENCORE_CLI_BENCH_REPORT_H */
