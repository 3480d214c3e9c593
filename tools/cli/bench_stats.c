/* bench_stats.c: clocks, percentiles, FLOP count, cell figures. */
#include "bench_stats.h"



#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

double bench_now(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

double bench_percentile(const double *sorted, int n, double p) {
    if (n <= 0) return 0.0;
    double pos = p / 100.0 * (double)(n - 1);
    int lo = (int)pos;
    if (lo >= n - 1) return sorted[n - 1];
    double frac = pos - (double)lo;
    return sorted[lo] + frac * (sorted[lo + 1] - sorted[lo]);
}

void bench_shape_read(const encore_model *model, bench_shape *s) {
    memset(s, 0, sizeof *s);
    /* From the loaded model, so that an adapter directory (whose config is
     * its base's) reads as what runs. */
    s->layers = encore_model_n_layers(model);
    s->hidden = encore_model_hidden_size(model);
    s->heads = encore_model_n_heads(model);
    s->intermediate = encore_model_intermediate_size(model);
    s->vocab = encore_model_vocab_size(model);
    s->labels = encore_model_n_labels(model);
}

double bench_flops(const bench_shape *s, int n_tokens) {
    const double S = n_tokens, C = s->hidden, F = s->intermediate;
    /* Per layer: QKV 2*S*C*3C, output projection 2*S*C*C, FFN 2*S*C*F twice,
     * scores 2*S*S*C and context 2*S*S*C summed over the heads. */
    double per_layer = 2.0 * S * (4.0 * C * C + 2.0 * C * F) + 4.0 * S * S * C;
    double head = s->labels > 0 ? 2.0 * C * C + 2.0 * C * s->labels : 0.0;
    return s->layers * per_layer + head;
}

int bench_samples_add(bench_samples *s, double tokenize_s, double model_s, double tokens, double flops) {
    if (s->n == s->cap) {
        int cap = s->cap ? 2 * s->cap : 64;
        double *t = realloc(s->tokenize_s, (size_t)cap * sizeof *t);
        if (t) s->tokenize_s = t;
        double *m = realloc(s->model_s, (size_t)cap * sizeof *m);
        if (m) s->model_s = m;
        if (!t || !m) return 0;
        s->cap = cap;
    }
    s->tokenize_s[s->n] = tokenize_s;
    s->model_s[s->n] = model_s;
    s->n++;
    s->tokens += tokens;
    s->flops += flops;
    return 1;
}

void bench_samples_free(bench_samples *s) {
    free(s->tokenize_s);
    free(s->model_s);
    memset(s, 0, sizeof *s);
}

static int cmp_double(const void *a, const void *b) {
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

int bench_cell_summarize(bench_cell *c, const bench_samples *s) {
    const int n = s->n;
    if (n == 0) return 0;
    double *lat = malloc((size_t)n * sizeof *lat), *tok = malloc((size_t)n * sizeof *tok),
           *mod = malloc((size_t)n * sizeof *mod);
    if (!lat || !tok || !mod) {
        free(lat), free(tok), free(mod);
        return 0;
    }
    double sum_lat = 0, sum_tok = 0, sum_mod = 0;
    for (int i = 0; i < n; i++) {
        tok[i] = s->tokenize_s[i] * 1e3;
        mod[i] = s->model_s[i] * 1e3;
        lat[i] = tok[i] + mod[i];
        sum_lat += lat[i], sum_tok += tok[i], sum_mod += mod[i];
    }
    qsort(lat, (size_t)n, sizeof *lat, cmp_double);
    qsort(tok, (size_t)n, sizeof *tok, cmp_double);
    qsort(mod, (size_t)n, sizeof *mod, cmp_double);
    c->iters = n;
    c->latency_p50 = bench_percentile(lat, n, 50);
    c->latency_p90 = bench_percentile(lat, n, 90);
    c->latency_p99 = bench_percentile(lat, n, 99);
    c->latency_mean = sum_lat / n;
    c->latency_min = lat[0];
    c->tokenize_p50 = bench_percentile(tok, n, 50);
    c->tokenize_mean = sum_tok / n;
    c->model_p50 = bench_percentile(mod, n, 50);
    c->model_p90 = bench_percentile(mod, n, 90);
    c->model_p99 = bench_percentile(mod, n, 99);
    c->model_mean = sum_mod / n;
    c->mean_tokens = s->tokens / ((double)n * c->batch);
    c->seq_per_s = sum_lat > 0 ? (double)n * c->batch / (sum_lat * 1e-3) : 0;
    c->tokens_per_s = sum_lat > 0 ? s->tokens / (sum_lat * 1e-3) : 0;
    c->model_gflop = s->flops / n * 1e-9;
    c->model_gflop_per_s = sum_mod > 0 ? s->flops * 1e-9 / (sum_mod * 1e-3) : 0;
    free(lat), free(tok), free(mod);
    return 1;
}
