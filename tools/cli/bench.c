/* bench.c: `encore bench`: load the model, then time every (device, batch,
 * length) cell. One timed call tokenizes the batch's texts for the model's
 * task (encore_model_tokenize_for_task) and runs the model on the encodings
 * (encore_session_*_encoded), so the two parts are timed apart and their sum
 * is what encore_session_classify (or _embed) costs. */
#include "bench.h"

#include "bench_inputs.h"
#include "bench_options.h"
#include "bench_plot.h"
#include "bench_report.h"
#include "bench_stats.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

typedef struct bench_ctx {
    const bench_options *o;
    const encore_model *model;
    bench_run *run;
    bench_words words;
    bench_texts file;           /* --texts */
    encore_encoding **encs;     /* (max batch) */
    float *out;                 /* (max batch, width) */
    int width;                  /* labels, or hidden size for embedding models */
    encore_task task;           /* classify, or embed for models without a head */
} bench_ctx;

/* The log sink while benchmarking: keeps the last warning (the reason a CUDA
 * session fell back to the CPU) and prints unless --quiet. */
static char last_warning[512];
static void bench_log(encore_log_level level, const char *message, void *user_data) {
    const int quiet = *(const int *)user_data;
    if (level >= ENCORE_LOG_LEVEL_WARN) snprintf(last_warning, sizeof last_warning, "%s", message);
    if (!quiet && level >= ENCORE_LOG_LEVEL_WARN) fprintf(stderr, "encore: %s\n", message);
}

static const char *precision_name(encore_device device, encore_precision p, encore_weights weights) {
    if (device == ENCORE_DEVICE_CPU)
        return weights == ENCORE_WEIGHTS_BF16           ? "fp32-bf16w"
               : weights == ENCORE_WEIGHTS_INT8         ? "fp32-int8w"
               : weights == ENCORE_WEIGHTS_INT8_DYNAMIC ? "int8-dynamic"
                                                        : "fp32";
    switch (p) {
    case ENCORE_PRECISION_FP32: return "fp32";
    case ENCORE_PRECISION_BF16: return "bf16";
    default: return "fp16";
    }
}

/* One timed (or warm-up) call: tokenize texts[0..batch), run the model. */
static int one_call(bench_ctx *x, encore_session *session, const char *const *texts, int batch,
                    bench_samples *samples, char *err, size_t err_len) {
    const int truncate = 1;
    double t0 = bench_now();
    int tokens = 0;
    for (int k = 0; k < batch; k++) {
        encore_input in = {texts[k], NULL};
        encore_encoding_free(x->encs[k]);
        x->encs[k] = NULL;
        if (encore_model_tokenize_for_task(x->model, in, x->task, truncate, &x->encs[k]) != ENCORE_STATUS_OK) {
            snprintf(err, err_len, "text '%.40s': %s", texts[k], encore_last_error());
            return 0;
        }
        tokens += x->encs[k]->n_tokens;
    }
    double t1 = bench_now();
    const encore_encoding *const *encs = (const encore_encoding *const *)x->encs;
    encore_status st = x->task == ENCORE_TASK_CLASSIFY ? encore_session_classify_encoded(session, encs, batch, x->out)
                       : encore_model_is_sparse(x->model) /* SPLADE: its weights */
                           ? encore_session_embed_sparse_encoded(session, encs, batch, x->out)
                           : encore_session_embed_encoded(session, encs, batch, ENCORE_POOLING_DEFAULT, 0, x->out);
    double t2 = bench_now();
    if (st != ENCORE_STATUS_OK) {
        snprintf(err, err_len, "%s", encore_session_last_error(session));
        return 0;
    }
    if (!samples) return 1;
    double flops = 0;
    for (int k = 0; k < batch; k++) flops += bench_flops(&x->run->shape, x->encs[k]->n_tokens);
    if (!bench_samples_add(samples, t1 - t0, t2 - t1, tokens, flops)) {
        snprintf(err, err_len, "out of memory");
        return 0;
    }
    return 1;
}

/* The texts of call i: synthetic texts are the same every call; file texts
 * continue where the previous call stopped, cycling. */
static void call_texts(const bench_ctx *x, const bench_texts *synthetic, int call, int batch, const char **texts) {
    for (int k = 0; k < batch; k++)
        texts[k] = synthetic ? synthetic->texts[k]
                             : x->file.texts[(int)(((long long)call * batch + k) % x->file.n)];
}

static int run_cell(bench_ctx *x, encore_session *session, bench_cell *c, char *err, size_t err_len) {
    const bench_options *o = x->o;
    bench_texts synthetic = {0};
    if (!o->texts_path && !bench_texts_synthetic(x->model, &x->words, c->seq_len, c->batch, &synthetic, err, err_len))
        return 0;
    const bench_texts *syn = o->texts_path ? NULL : &synthetic;
    const char **texts = malloc((size_t)c->batch * sizeof *texts);
    bench_samples samples = {0};
    int ok = texts != NULL;
    if (!ok) snprintf(err, err_len, "out of memory");
    /* Warm-up and timed calls both start at the first texts, so that a peer
     * timed on the same file sees the same texts. */
    for (int i = 0; ok && i < o->warmup; i++) {
        call_texts(x, syn, i, c->batch, texts);
        ok = one_call(x, session, texts, c->batch, NULL, err, err_len);
    }
    double start = bench_now();
    for (int i = 0; ok; i++) {
        if (o->iters ? i >= o->iters : i >= BENCH_MIN_ITERS && bench_now() - start >= o->seconds) break;
        call_texts(x, syn, i, c->batch, texts);
        ok = one_call(x, session, texts, c->batch, &samples, err, err_len);
    }
    if (ok && !bench_cell_summarize(c, &samples)) {
        snprintf(err, err_len, "out of memory");
        ok = 0;
    }
    free(texts);
    bench_samples_free(&samples);
    bench_texts_free(&synthetic);
    return ok;
}

static void progress(const bench_options *o, const bench_cell *c) {
    if (o->quiet) return;
    char len[32];
    if (c->seq_len) snprintf(len, sizeof len, "len %d", c->seq_len);
    else snprintf(len, sizeof len, "texts");
    if (c->skipped) fprintf(stderr, "bench: %s batch %d %s: skipped (%s)\n", c->device, c->batch, len, c->skipped);
    else
        fprintf(stderr, "bench: %s batch %d %s: p50 %.3f ms, %.1f seq/s, %.1f GFLOP/s (%d calls)\n", c->device,
                c->batch, len, c->latency_p50, c->seq_per_s, c->model_gflop_per_s, c->iters);
}

/* Every cell of one device. Returns the number of cells that failed. */
static int run_device(bench_ctx *x, encore_device device, bench_cell **next) {
    const bench_options *o = x->o;
    const char *name = device == ENCORE_DEVICE_CUDA ? "cuda" : "cpu";
    encore_session_params sp = encore_session_default_params();
    sp.n_threads = o->threads;
    sp.device = device;
    sp.device_index = o->device_index;
    sp.precision = device == ENCORE_DEVICE_CUDA ? o->precision : ENCORE_PRECISION_DEFAULT;
    encore_session *session = NULL;
    char why[256] = "";
    last_warning[0] = '\0';
    if (encore_session_create(x->model, sp, &session) != ENCORE_STATUS_OK)
        snprintf(why, sizeof why, "no session: %.240s", encore_last_error());
    else if (encore_session_device(session) != device)
        snprintf(why, sizeof why, "no usable GPU (%.230s)",
                 last_warning[0] ? last_warning : "the session fell back to the CPU");
    else if (device == ENCORE_DEVICE_CUDA)
        bench_system_probe_gpu(&x->run->system, o->device_index);

    const int n_lens = o->texts_path ? 1 : o->n_seq_lens;
    int failed = 0;
    for (int li = 0; li < n_lens; li++) {
        for (int bi = 0; bi < o->n_batches; bi++) {
            bench_cell *c = (*next)++;
            x->run->n_cells++;
            c->device = name;
            c->precision = precision_name(device, sp.precision, o->weights);
            c->batch = o->batches[bi];
            c->seq_len = o->texts_path ? 0 : o->seq_lens[li];
            if (why[0]) {
                snprintf(c->skipped_buf, sizeof c->skipped_buf, "%s", why);
                c->skipped = c->skipped_buf;
            } else if (c->seq_len > x->run->max_length) {
                snprintf(c->skipped_buf, sizeof c->skipped_buf, "longer than %s (%d tokens)",
                         x->task == ENCORE_TASK_EMBED ? "embeddings take" : "the model takes", x->run->max_length);
                c->skipped = c->skipped_buf;
            } else if (c->seq_len == 1) {
                snprintf(c->skipped_buf, sizeof c->skipped_buf, "a text has at least 2 tokens ([CLS] and [SEP])");
                c->skipped = c->skipped_buf;
            } else {
                char err[512];
                if (!run_cell(x, session, c, err, sizeof err)) {
                    fprintf(stderr, "encore bench: %s batch %d: %s\n", name, c->batch, err);
                    snprintf(c->skipped_buf, sizeof c->skipped_buf, "failed: %.240s", err);
                    c->skipped = c->skipped_buf;
                    failed++;
                }
            }
            progress(o, c);
        }
    }
    encore_session_free(session);
    return failed;
}

static int max_int(const int *v, int n) {
    int m = 0;
    for (int i = 0; i < n; i++) m = v[i] > m ? v[i] : m;
    return m;
}

int encore_cli_bench(int argc, char **argv, const char *default_model_dir) {
    bench_options o;
    int parsed = bench_parse_args(argc, argv, default_model_dir, &o);
    if (parsed < 0) {
        bench_usage(stdout);
        return 0;
    }
    if (parsed == 0) {
        fprintf(stderr, "run 'encore bench --help' for the options\n");
        return 2;
    }
    encore_log_set(bench_log, &o.quiet);

    encore_model *model = NULL;
    encore_model_params mp = encore_model_default_params();
    mp.weights = o.weights;
    if (encore_model_load(o.model_dir, mp, &model) != ENCORE_STATUS_OK) {
        fprintf(stderr, "encore bench: %s\n", encore_last_error());
        encore_log_set(NULL, NULL);
        return 2;
    }
    bench_run run;
    memset(&run, 0, sizeof run);
    run.options = &o;
    run.model_dir = o.model_dir;
    run.architecture = encore_model_architecture_name(model);
    bench_ctx x;
    memset(&x, 0, sizeof x);
    x.o = &o;
    x.model = model;
    x.run = &run;
    x.task = encore_model_task(model);
    run.max_length = encore_model_task_max_length(model, x.task);
    char err[512];
    int rc = 2;
    const int max_batch = max_int(o.batches, o.n_batches);
    bench_shape_read(model, &run.shape);
    if (o.texts_path ? !bench_texts_read(o.texts_path, &x.file, err, sizeof err)
                     : !bench_words_collect(model, &x.words, err, sizeof err)) {
        fprintf(stderr, "encore bench: %s\n", err);
        goto done;
    }
    run.n_texts = x.file.n;
    x.width = run.shape.labels > 0           ? run.shape.labels
              : encore_model_is_sparse(model) ? encore_model_vocab_size(model)
                                              : run.shape.hidden;
    x.encs = calloc((size_t)max_batch, sizeof *x.encs);
    x.out = malloc((size_t)max_batch * (size_t)x.width * sizeof *x.out);
    const int n_lens = o.texts_path ? 1 : o.n_seq_lens;
    run.cells = calloc((size_t)(o.n_devices * n_lens * o.n_batches), sizeof *run.cells);
    if (!x.encs || !x.out || !run.cells) {
        fprintf(stderr, "encore bench: out of memory\n");
        goto done;
    }
    bench_system_probe(&run.system, o.threads);
    const int table = !o.json_path || strcmp(o.json_path, "-") != 0;
    if (table) bench_print_header(stdout, &run);
    fflush(stdout);

    bench_cell *next = run.cells;
    int failed = 0;
    for (int d = 0; d < o.n_devices; d++) failed += run_device(&x, o.devices[d], &next);

    if (table) bench_print_table(stdout, &run);
    rc = failed ? 1 : 0;
    if (o.json_path && !bench_write_json(o.json_path, &run, err, sizeof err)) {
        fprintf(stderr, "encore bench: %s\n", err);
        rc = 1;
    }
    if (o.plot_path) {
        if (!bench_plot(o.plot_path, &run, err, sizeof err)) {
            fprintf(stderr, "encore bench: --plot: %s\n", err);
            rc = 1;
        } else if (!o.quiet) {
            fprintf(stderr, "bench: plot written to %s\n", o.plot_path);
        }
    }
done:
    if (x.encs)
        for (int k = 0; k < max_batch; k++) encore_encoding_free(x.encs[k]);
    free(x.encs);
    free(x.out);
    free(run.cells);
    bench_words_free(&x.words);
    bench_texts_free(&x.file);
    encore_model_free(model);
    encore_log_set(NULL, NULL);
    return rc;
}
