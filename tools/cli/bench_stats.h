/* bench_stats.h: clocks, percentiles, the model's FLOP count, and one cell's
 * figures. */
#ifndef ENCORE_CLI_BENCH_STATS_H
#define ENCORE_CLI_BENCH_STATS_H

#include "encore.h"

#include <stddef.h>

/* The shape that sets the FLOP count, as the loaded model has it. */
typedef struct bench_shape {
    int layers, hidden, heads, intermediate;
    int labels;    /* 0: no classification head (embedding model) */
    int vocab;
} bench_shape;

void bench_shape_read(const encore_model *model, bench_shape *s);

/* FLOPs of the model on one sequence of n tokens: 2 per multiply-add of the
 * matrix products (Q/K/V, attention scores QK^T and context PV, output
 * projection, the two FFN products, and the head's pooler and classifier on
 * the first token). LayerNorm, softmax, GELU and embeddings are a few FLOPs
 * per element and are left out, as FLOP counts of transformers usually do. */
double bench_flops(const bench_shape *s, int n_tokens);

/* Seconds on a monotonic clock. */
double bench_now(void);

/* The p-th percentile (0..100) of n sorted values, interpolating linearly
 * between the two nearest ranks (numpy.percentile's default). */
double bench_percentile(const double *sorted, int n, double p);

/* The timed calls of one cell. */
typedef struct bench_samples {
    double *tokenize_s;  /* (n) seconds to tokenize the call's texts */
    double *model_s;     /* (n) seconds of the model call on the encodings */
    int n, cap;
    double tokens;       /* all tokens of all timed calls */
    double flops;        /* all model FLOPs of all timed calls */
} bench_samples;

int bench_samples_add(bench_samples *s, double tokenize_s, double model_s, double tokens, double flops);
void bench_samples_free(bench_samples *s);

/* One (device, batch, length) cell. Times in milliseconds. */
typedef struct bench_cell {
    const char *device;       /* "cpu" or "cuda" */
    const char *precision;    /* "fp32", "fp16", "bf16" */
    int batch;
    int seq_len;              /* tokens per text; 0 for --texts */
    const char *skipped;      /* why the cell was not measured, or NULL */
    char skipped_buf[256];
    int iters;
    double mean_tokens;       /* per text */
    double latency_p50, latency_p90, latency_p99, latency_mean, latency_min;
    double tokenize_p50, tokenize_mean;
    double model_p50, model_p90, model_p99, model_mean;
    double seq_per_s, tokens_per_s;  /* end to end: tokenization included */
    double model_gflop;              /* per call, mean */
    double model_gflop_per_s;        /* model part alone */
} bench_cell;

/* Fill the figures of a cell from its samples (sorts copies). */
int bench_cell_summarize(bench_cell *c, const bench_samples *s);

#endif /* ENCORE_CLI_BENCH_STATS_H */
