/* tokenize_bench.c: encore's tokenizer throughput on a file of texts, one per
 * line, through the public API only (encore_model_tokenize), with T threads
 * each taking every T-th text. Prints one JSON line; --ids FILE also writes
 * every text's ids (one line of space-separated ids per text) to compare with
 * Hugging Face tokenizers.
 *
 *   tokenize_bench MODEL_DIR TEXTS_FILE THREADS [--ids FILE] [--repeat N]
 */
#include "encore.h"

#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

typedef struct work {
    const encore_model *model;
    char **texts;
    int n, first, step;
    long long tokens;
    int failed;
    encore_encoding **keep;  /* (n) when ids are wanted */
} work;

static double now(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

static void *run(void *arg) {
    work *w = arg;
    for (int i = w->first; i < w->n; i += w->step) {
        encore_encoding *enc = NULL;
        encore_input in = {w->texts[i], NULL};
        if (encore_model_tokenize(w->model, in, 1, &enc) != ENCORE_STATUS_OK) {
            w->failed++;
            continue;
        }
        w->tokens += enc->n_tokens;
        if (w->keep) w->keep[i] = enc;
        else encore_encoding_free(enc);
    }
    return NULL;
}

int main(int argc, char **argv) {
    if (argc < 4) {
        fprintf(stderr, "usage: tokenize_bench MODEL_DIR TEXTS_FILE THREADS [--ids FILE] [--repeat N]\n");
        return 2;
    }
    const char *ids_path = NULL;
    int repeat = 1;
    for (int i = 4; i + 1 < argc; i += 2) {
        if (strcmp(argv[i], "--ids") == 0) ids_path = argv[i + 1];
        else if (strcmp(argv[i], "--repeat") == 0) repeat = atoi(argv[i + 1]);
    }
    const int threads = atoi(argv[3]) > 0 ? atoi(argv[3]) : 1;
    encore_log_set(NULL, NULL);
    encore_model *model = NULL;
    if (encore_model_load(argv[1], encore_model_default_params(), &model) != ENCORE_STATUS_OK) {
        fprintf(stderr, "%s\n", encore_last_error());
        return 2;
    }
    FILE *f = fopen(argv[2], "r");
    if (!f) {
        perror(argv[2]);
        return 2;
    }
    char **texts = NULL;
    int n = 0, cap = 0;
    char *line = NULL;
    size_t lcap = 0;
    ssize_t len;
    long long bytes = 0;
    while ((len = getline(&line, &lcap, f)) >= 0) {
        while (len > 0 && (line[len - 1] == '\n' || line[len - 1] == '\r')) line[--len] = '\0';
        if (n == cap) {
            cap = cap ? 2 * cap : 1024;
            texts = realloc(texts, (size_t)cap * sizeof *texts);
        }
        texts[n++] = strdup(line);
        bytes += len;
    }
    free(line);
    fclose(f);

    encore_encoding **keep = ids_path ? calloc((size_t)n, sizeof *keep) : NULL;
    double best = 1e30;
    long long tokens = 0;
    int failed = 0;
    for (int r = 0; r < repeat; r++) {
        work w[64];
        pthread_t tid[64];
        const int T = threads < 64 ? threads : 64;
        const double t0 = now();
        for (int t = 0; t < T; t++) {
            w[t] = (work){model, texts, n, t, T, 0, 0, r == repeat - 1 ? keep : NULL};
            pthread_create(&tid[t], NULL, run, &w[t]);
        }
        tokens = 0;
        failed = 0;
        for (int t = 0; t < T; t++) {
            pthread_join(tid[t], NULL);
            tokens += w[t].tokens;
            failed += w[t].failed;
        }
        const double dt = now() - t0;
        if (dt < best) best = dt;
    }
    printf("{\"texts\": %d, \"tokens\": %lld, \"bytes\": %lld, \"threads\": %d, \"seconds\": %.4f, "
           "\"texts_per_s\": %.1f, \"tokens_per_s\": %.1f, \"failed\": %d, \"max_length\": %d}\n",
           n, tokens, bytes, threads, best, n / best, tokens / best, failed, encore_model_max_length(model));
    if (ids_path) {
        FILE *o = fopen(ids_path, "w");
        for (int i = 0; o && i < n; i++) {
            for (int k = 0; keep[i] && k < keep[i]->n_tokens; k++) fprintf(o, k ? " %d" : "%d", keep[i]->ids[k]);
            fputc('\n', o);
            encore_encoding_free(keep[i]);
        }
        if (o) fclose(o);
        free(keep);
    }
    for (int i = 0; i < n; i++) free(texts[i]);
    free(texts);
    encore_model_free(model);
    return 0;
}
