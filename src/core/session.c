/* session.c: the public session API: tokenize, batch, run, post-process. */
#include "core/session.h"

#include "core/common.h"
#include "cuda/device_probe.h"
#include "cpu/forward_cpu.h"
#include "core/model.h"
#ifdef ENCORE_HAVE_CUDA
#include "cuda/device_plan.h"
#include "cuda/forward_cuda.h"
#endif

#include <omp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

struct encore_session {
    const encore_model *model;
    encore_session_params params;
    encore_device device;         /* after fallback */
    encore_batch batch;
    encore_cpu_workspace ws;
    float *head_scratch;          /* (2C) */
#ifdef ENCORE_HAVE_CUDA
    encore_cuda_session *cuda;    /* set when the session runs on a GPU */
#endif
    char last_error[ENCORE_ERROR_LEN];
};

/* RUN_HIDDEN_ALL: every token's hidden state, in as many chunks as it takes
 * (RUN_HIDDEN: in one chunk, for the private entry point's buffer). */
typedef enum run_kind { RUN_LOGITS, RUN_SCORES, RUN_EMBED, RUN_HIDDEN, RUN_HIDDEN_ALL } run_kind;

struct encore_cuda_session *encore_session_cuda_backend(encore_session *s) {
#ifdef ENCORE_HAVE_CUDA
    return s ? s->cuda : NULL;
#else
    (void)s;
    return NULL;
#endif
}

encore_session_params encore_session_default_params(void) {
    encore_session_params p;
    p.n_threads = 0;
    p.truncate = 1;
    p.device = ENCORE_DEVICE_CPU;
    p.device_index = 0;
    p.precision = ENCORE_PRECISION_DEFAULT;
    p.max_batch_tokens = 0;
    return p;
}

/* Copy this thread's last error into the session and return status. */
static encore_status session_fail(encore_session *s, encore_status status) {
    snprintf(s->last_error, sizeof s->last_error, "%s", encore_last_error());
    return status;
}

/* CUDA or AUTO: run on the GPU when this build has CUDA and the device is
 * usable, else on the CPU with a one-line log (WARN when CUDA was asked for,
 * INFO for AUTO). A usable GPU whose session cannot be set up (out of memory,
 * say) is an error for CUDA and a fallback for AUTO. */
static encore_status choose_device(encore_session *s) {
    const encore_session_params *p = &s->params;
    if (p->device == ENCORE_DEVICE_CPU) return ENCORE_STATUS_OK;
    const encore_log_level level = p->device == ENCORE_DEVICE_CUDA ? ENCORE_LOG_LEVEL_WARN : ENCORE_LOG_LEVEL_INFO;
    char why[256];
    if (!encore_cuda_probe(p->device_index, why, sizeof why)) {
        encore_log(level, "%s; running on the CPU", why);
        return ENCORE_STATUS_OK;
    }
#ifdef ENCORE_HAVE_CUDA
    /* A chunk holds max_batch_tokens tokens, or one input alone. */
    int max_tokens = p->max_batch_tokens > s->model->max_length ? p->max_batch_tokens : s->model->max_length;
    encore_status st = encore_cuda_session_create(s->model, p->device_index, encore_cuda_dtype_of(p->precision),
                                                  max_tokens, &s->cuda);
    if (st == ENCORE_STATUS_OK) {
        s->device = ENCORE_DEVICE_CUDA;
        return ENCORE_STATUS_OK;
    }
    if (p->device == ENCORE_DEVICE_CUDA) return st;
    encore_log(level, "CUDA device %d: %s; running on the CPU", p->device_index, encore_last_error());
#endif
    return ENCORE_STATUS_OK;
}

encore_status encore_session_create(const encore_model *model, encore_session_params params,
                                    encore_session **out) {
    if (!model || !out) return encore_fail(ENCORE_STATUS_INVALID_ARGUMENT, "encore_session_create: NULL argument");
    *out = NULL;
    if (params.n_threads < 0)
        return encore_fail(ENCORE_STATUS_INVALID_ARGUMENT, "n_threads is %d; use 0 for all cores", params.n_threads);
    if (params.max_batch_tokens < 0)
        return encore_fail(ENCORE_STATUS_INVALID_ARGUMENT, "max_batch_tokens is %d; use 0 for the default",
                           params.max_batch_tokens);
    if (params.max_batch_tokens == 0) params.max_batch_tokens = ENCORE_CHUNK_TOKENS;
    if (params.device != ENCORE_DEVICE_CPU && params.device != ENCORE_DEVICE_CUDA &&
        params.device != ENCORE_DEVICE_AUTO)
        return encore_fail(ENCORE_STATUS_INVALID_ARGUMENT, "unknown device %d", (int)params.device);
    if (params.precision == ENCORE_PRECISION_FP16 || params.precision == ENCORE_PRECISION_BF16) {
        if (params.device == ENCORE_DEVICE_CPU)
            return encore_fail(ENCORE_STATUS_UNSUPPORTED, "the CPU computes in fp32 only; fp16 and bf16 need CUDA");
    }
    encore_session *s = calloc(1, sizeof *s);
    if (!s) return encore_fail(ENCORE_STATUS_OUT_OF_MEMORY, "out of memory");
    s->model = model;
    s->params = params;
    encore_batch_use_model(&s->batch, model);
    s->device = ENCORE_DEVICE_CPU;
    s->head_scratch = malloc(2 * (size_t)model->config.hidden_size * sizeof(float));
    if (!s->head_scratch) {
        free(s);
        return encore_fail(ENCORE_STATUS_OUT_OF_MEMORY, "out of memory");
    }
    encore_status st = choose_device(s);
    if (st != ENCORE_STATUS_OK) {
        encore_session_free(s);
        return st;
    }
    *out = s;
    return ENCORE_STATUS_OK;
}

void encore_session_free(encore_session *s) {
    if (!s) return;
#ifdef ENCORE_HAVE_CUDA
    encore_cuda_session_free(s->cuda);
#endif
    encore_batch_free(&s->batch);
    encore_cpu_workspace_free(&s->ws);
    free(s->head_scratch);
    free(s);
}

const char *encore_session_last_error(const encore_session *s) { return s ? s->last_error : ""; }

encore_device encore_session_device(const encore_session *s) { return s->device; }

const encore_model *encore_session_model(const encore_session *s) { return s->model; }
int encore_session_truncates(const encore_session *s) { return s->params.truncate; }
encore_status encore_session_fail(encore_session *s, encore_status status) { return session_fail(s, status); }

/* One thread pool only: OpenMP. The forward pass's products split their
 * weight panels over the OpenMP threads (src/cpu/gemm_cpu.c). The library
 * links no BLAS: a second pool that spin-waits for work on the same cores
 * starves the first (seen with OpenBLAS's: 10x slower on a busy 2-core
 * machine), and OpenBLAS's threads spun at every process start. */
static void set_threads(const encore_session *s) {
    if (s->params.n_threads > 0) omp_set_num_threads(s->params.n_threads);
}

static void free_encodings(encore_encoding **encs, int n) {
    for (int i = 0; i < n; i++) encore_encoding_free(encs[i]);
    free(encs);
}

/* Post-process one chunk's hidden state into its rows of out. */
static void emit(encore_session *s, run_kind kind, const float *hidden, encore_pooling pooling, int normalize,
                 float *out) {
    const encore_model *m = s->model;
    const int L = m->config.n_labels;
    switch (kind) {
    case RUN_LOGITS:
    case RUN_SCORES:
        encore_head_cpu(m, &s->batch, hidden, s->head_scratch, out);
        if (kind == RUN_SCORES) encore_scores_cpu(out, s->batch.B, L, m->config.score_function);
        break;
    case RUN_EMBED:
        encore_pool_cpu(&s->batch, hidden, m->config.hidden_size, pooling, normalize, out);
        break;
    case RUN_HIDDEN:
    case RUN_HIDDEN_ALL:
        memcpy(out, hidden, (size_t)s->batch.T * m->config.hidden_size * sizeof(float));
        break;
    }
}

static encore_status check_call(encore_session *s, const void *inputs, int n, const float *out, run_kind kind) {
    if (!inputs || !out || n < 0) {
        encore_fail(ENCORE_STATUS_INVALID_ARGUMENT, "NULL inputs or output, or a negative count");
        return session_fail(s, ENCORE_STATUS_INVALID_ARGUMENT);
    }
    if ((kind == RUN_LOGITS || kind == RUN_SCORES) && !s->model->config.has_head) {
        encore_fail(ENCORE_STATUS_UNSUPPORTED, "%s has no classification head; use embed",
                    s->model->config.architecture_name);
        return session_fail(s, ENCORE_STATUS_UNSUPPORTED);
    }
    return ENCORE_STATUS_OK;
}

/* Run tokenized inputs in chunks of whole inputs of at most max_batch_tokens
 * tokens (one input alone may exceed it). out: out_width floats per input,
 * except RUN_HIDDEN, which writes every token's hidden state. */
static encore_status run_encoded(encore_session *s, const encore_encoding *const *encs, int n, run_kind kind,
                                 encore_pooling pooling, int normalize, float *out) {
    encore_status st = check_call(s, encs, n, out, kind);
    if (st != ENCORE_STATUS_OK || n == 0) return st;
    const encore_model *m = s->model;
    for (int i = 0; i < n; i++) {
        if (!encs[i] || encs[i]->n_tokens < 1 || encs[i]->n_tokens > m->max_length) {
            encore_fail(ENCORE_STATUS_INVALID_ARGUMENT, "input %d: an encoding of %d tokens (the model takes 1 to %d)",
                        i, encs[i] ? encs[i]->n_tokens : 0, m->max_length);
            return session_fail(s, ENCORE_STATUS_INVALID_ARGUMENT);
        }
    }
    set_threads(s);
    const int width = kind == RUN_EMBED ? m->config.hidden_size : m->config.n_labels;
    const int C = m->config.hidden_size;
    float *dst = out;
    for (int first = 0; first < n && st == ENCORE_STATUS_OK;) {
        encore_batch_clear(&s->batch);
        int last = first;
        while (last < n && st == ENCORE_STATUS_OK &&
               (last == first || s->batch.T + encs[last]->n_tokens <= s->params.max_batch_tokens))
            st = encore_batch_append(&s->batch, encs[last++]);
        if (kind == RUN_HIDDEN && last < n && st == ENCORE_STATUS_OK)
            st = encore_fail(ENCORE_STATUS_INVALID_ARGUMENT, "hidden states need the inputs to fit %d tokens",
                             s->params.max_batch_tokens);
        const float *hidden = NULL;
#ifdef ENCORE_HAVE_CUDA
        if (s->cuda) {
            static const encore_cuda_output what[] = {ENCORE_CUDA_OUTPUT_LOGITS, ENCORE_CUDA_OUTPUT_SCORES,
                                                      ENCORE_CUDA_OUTPUT_EMBED, ENCORE_CUDA_OUTPUT_HIDDEN,
                                                      ENCORE_CUDA_OUTPUT_HIDDEN};
            if (st == ENCORE_STATUS_OK) st = encore_cuda_session_run(s->cuda, &s->batch, what[kind], pooling, normalize, dst);
            if (st == ENCORE_STATUS_OK)
                dst += kind == RUN_HIDDEN || kind == RUN_HIDDEN_ALL ? (size_t)s->batch.T * C : (size_t)(last - first) * width;
            first = last;
            continue;
        }
#endif
        /* The head and CLS pooling read each sequence's first token alone. */
        const int first_only =
            kind == RUN_LOGITS || kind == RUN_SCORES || (kind == RUN_EMBED && pooling == ENCORE_POOLING_CLS);
        if (st == ENCORE_STATUS_OK) st = encore_forward_cpu(m, &s->batch, &s->ws, first_only, &hidden);
        if (st == ENCORE_STATUS_OK) {
            emit(s, kind, hidden, pooling, normalize, dst);
            dst += kind == RUN_HIDDEN || kind == RUN_HIDDEN_ALL ? (size_t)s->batch.T * C : (size_t)(last - first) * width;
        }
        first = last;
    }
    return st == ENCORE_STATUS_OK ? st : session_fail(s, st);
}

/* Tokenize every input first (so that a bad input fails the call before any
 * work), then run them. */
static encore_status run(encore_session *s, const encore_input *inputs, int n, run_kind kind,
                         encore_pooling pooling, int normalize, float *out, int32_t *n_tokens) {
    encore_status st = check_call(s, inputs, n, out, kind);
    if (st != ENCORE_STATUS_OK || n == 0) return st;
    encore_encoding **encs = calloc((size_t)n, sizeof *encs);
    if (!encs) {
        encore_fail(ENCORE_STATUS_OUT_OF_MEMORY, "out of memory");
        return session_fail(s, ENCORE_STATUS_OUT_OF_MEMORY);
    }
    for (int i = 0; i < n && st == ENCORE_STATUS_OK; i++) {
        /* Embeddings are cut where sentence-transformers cuts them. */
        const encore_task task = kind == RUN_EMBED ? ENCORE_TASK_EMBED : ENCORE_TASK_CLASSIFY;
        st = encore_model_tokenize_for_task(s->model, inputs[i], task, s->params.truncate, &encs[i]);
        if (st != ENCORE_STATUS_OK) {
            char msg[ENCORE_ERROR_LEN];
            snprintf(msg, sizeof msg, "%s", encore_last_error());
            encore_fail(st, "input %d: %s", i, msg);
            st = session_fail(s, st);
        } else if (n_tokens) {
            n_tokens[i] = encs[i]->n_tokens;
        }
    }
    if (st == ENCORE_STATUS_OK)
        st = run_encoded(s, (const encore_encoding *const *)encs, n, kind, pooling, normalize, out);
    free_encodings(encs, n);
    return st;
}

encore_status encore_session_logits(encore_session *s, const encore_input *inputs, int n, float *logits) {
    if (!s) return encore_fail(ENCORE_STATUS_INVALID_ARGUMENT, "NULL session");
    return run(s, inputs, n, RUN_LOGITS, ENCORE_POOLING_DEFAULT, 0, logits, NULL);
}

encore_status encore_session_classify(encore_session *s, const encore_input *inputs, int n, float *scores) {
    if (!s) return encore_fail(ENCORE_STATUS_INVALID_ARGUMENT, "NULL session");
    return run(s, inputs, n, RUN_SCORES, ENCORE_POOLING_DEFAULT, 0, scores, NULL);
}

/* A SPLADE model's own embedding is its vocabulary weights: its default
 * pooling is refused (MEAN and CLS, asked for, pool its hidden states). */
static encore_status check_default_pooling(encore_session *s, encore_pooling pooling) {
    if (pooling != ENCORE_POOLING_DEFAULT || !s->model->splade) return ENCORE_STATUS_OK;
    encore_fail(ENCORE_STATUS_UNSUPPORTED,
                "a SPLADE model's embedding is its vocabulary weights (encore_session_embed_sparse); "
                "ENCORE_POOLING_MEAN or ENCORE_POOLING_CLS pool its hidden states");
    return session_fail(s, ENCORE_STATUS_UNSUPPORTED);
}

encore_status encore_session_embed(encore_session *s, const encore_input *inputs, int n, encore_pooling pooling,
                                   int normalize, float *embeddings) {
    if (!s) return encore_fail(ENCORE_STATUS_INVALID_ARGUMENT, "NULL session");
    encore_status st = check_default_pooling(s, pooling);
    if (st != ENCORE_STATUS_OK) return st;
    if (pooling == ENCORE_POOLING_DEFAULT) pooling = s->model->pooling;
    return run(s, inputs, n, RUN_EMBED, pooling, normalize, embeddings, NULL);
}

encore_status encore_session_logits_encoded(encore_session *s, const encore_encoding *const *encs, int n,
                                            float *logits) {
    if (!s) return encore_fail(ENCORE_STATUS_INVALID_ARGUMENT, "NULL session");
    return run_encoded(s, encs, n, RUN_LOGITS, ENCORE_POOLING_DEFAULT, 0, logits);
}

encore_status encore_session_classify_encoded(encore_session *s, const encore_encoding *const *encs, int n,
                                              float *scores) {
    if (!s) return encore_fail(ENCORE_STATUS_INVALID_ARGUMENT, "NULL session");
    return run_encoded(s, encs, n, RUN_SCORES, ENCORE_POOLING_DEFAULT, 0, scores);
}

/* An embedding of more tokens than sentence-transformers keeps is not the one
 * it gives: refuse encodings made for another task. Encodings longer than the
 * model takes are left to run_encoded(), which refuses them all. */
static encore_status check_embed_lengths(encore_session *s, const encore_encoding *const *encs, int n) {
    const encore_model *m = s->model;
    for (int i = 0; encs && i < n; i++) {
        if (!encs[i] || encs[i]->n_tokens <= m->embed_max_length || encs[i]->n_tokens > m->max_length) continue;
        encore_fail(ENCORE_STATUS_BAD_INPUT,
                    "input %d: an encoding of %d tokens, but embeddings take at most %d (max_seq_length in "
                    "sentence_bert_config.json); tokenize with encore_model_tokenize_for_task(ENCORE_TASK_EMBED)",
                    i, encs[i]->n_tokens, m->embed_max_length);
        return session_fail(s, ENCORE_STATUS_BAD_INPUT);
    }
    return ENCORE_STATUS_OK;
}

encore_status encore_session_embed_encoded(encore_session *s, const encore_encoding *const *encs, int n,
                                           encore_pooling pooling, int normalize, float *embeddings) {
    if (!s) return encore_fail(ENCORE_STATUS_INVALID_ARGUMENT, "NULL session");
    encore_status st = check_default_pooling(s, pooling);
    if (st != ENCORE_STATUS_OK) return st;
    if (pooling == ENCORE_POOLING_DEFAULT) pooling = s->model->pooling;
    st = check_embed_lengths(s, encs, n);
    return st != ENCORE_STATUS_OK ? st : run_encoded(s, encs, n, RUN_EMBED, pooling, normalize, embeddings);
}

encore_status encore_session_hidden_states(encore_session *s, const encore_input *inputs, int n, float **out,
                                           int32_t *n_tokens) {
    if (!s || !out || !n_tokens) return encore_fail(ENCORE_STATUS_INVALID_ARGUMENT, "NULL argument");
    /* One chunk holds at most max_batch_tokens tokens, or one input alone. */
    int cap = s->params.max_batch_tokens > s->model->max_length ? s->params.max_batch_tokens : s->model->max_length;
    *out = malloc((size_t)cap * s->model->config.hidden_size * sizeof(float));
    if (!*out) return encore_fail(ENCORE_STATUS_OUT_OF_MEMORY, "out of memory");
    encore_status st = run(s, inputs, n, RUN_HIDDEN, ENCORE_POOLING_DEFAULT, 0, *out, n_tokens);
    if (st != ENCORE_STATUS_OK) {
        free(*out);
        *out = NULL;
    }
    return st;
}

/* The per-token head on chunks of whole inputs (at most max_batch_tokens
 * tokens, or one input alone): the encoder gives a chunk's hidden states,
 * the head's few logits per token are computed here, on the host, for CPU
 * and CUDA sessions alike. */
encore_status encore_session_token_logits_encoded(encore_session *s, const encore_encoding *const *encs, int n,
                                                  float *logits) {
    if (!s) return encore_fail(ENCORE_STATUS_INVALID_ARGUMENT, "NULL session");
    if (!encs || !logits || n < 0) {
        encore_fail(ENCORE_STATUS_INVALID_ARGUMENT, "NULL inputs or output, or a negative count");
        return session_fail(s, ENCORE_STATUS_INVALID_ARGUMENT);
    }
    const encore_model *m = s->model;
    const int L = encore_model_n_token_outputs(m);
    if (L <= 0) {
        encore_fail(ENCORE_STATUS_UNSUPPORTED, "%s has no per-token head (token classification or question "
                    "answering)", m->config.architecture_name);
        return session_fail(s, ENCORE_STATUS_UNSUPPORTED);
    }
    int widest = s->params.max_batch_tokens;
    for (int i = 0; i < n; i++) {
        if (!encs[i] || encs[i]->n_tokens < 1 || encs[i]->n_tokens > m->max_length) {
            encore_fail(ENCORE_STATUS_INVALID_ARGUMENT, "input %d: an encoding of %d tokens (the model takes 1 to %d)",
                        i, encs[i] ? encs[i]->n_tokens : 0, m->max_length);
            return session_fail(s, ENCORE_STATUS_INVALID_ARGUMENT);
        }
        if (encs[i]->n_tokens > widest) widest = encs[i]->n_tokens;
    }
    if (n == 0) return ENCORE_STATUS_OK;
    const int C = m->config.hidden_size;
    const size_t bytes = encore_size_mul(encore_size_mul((size_t)widest, (size_t)C), sizeof(float));
    float *hidden = bytes == SIZE_MAX ? NULL : malloc(bytes);
    if (!hidden) {
        encore_fail(ENCORE_STATUS_OUT_OF_MEMORY, "out of memory for the hidden states of %d tokens", widest);
        return session_fail(s, ENCORE_STATUS_OUT_OF_MEMORY);
    }
    encore_status st = ENCORE_STATUS_OK;
    float *dst = logits;
    for (int first = 0; first < n && st == ENCORE_STATUS_OK;) {
        int last = first, tokens = 0;
        while (last < n && (last == first || tokens + encs[last]->n_tokens <= s->params.max_batch_tokens))
            tokens += encs[last++]->n_tokens;
        st = run_encoded(s, encs + first, last - first, RUN_HIDDEN_ALL, ENCORE_POOLING_DEFAULT, 0, hidden);
        for (int t = 0; t < tokens && st == ENCORE_STATUS_OK; t++) {
            const float *h = hidden + (size_t)t * C;
            for (int l = 0; l < L; l++) {
                const float *w = m->tok_w + (size_t)l * C;
                double acc = 0.0;
                for (int k = 0; k < C; k++) acc += (double)w[k] * h[k];
                dst[(size_t)t * L + l] = (float)(acc + m->tok_b[l]);
            }
        }
        dst += (size_t)tokens * L;
        first = last;
    }
    free(hidden);
    return st;
}

encore_status encore_session_hidden_states_encoded(encore_session *s, const encore_encoding *const *encs, int n,
                                                   float *hidden) {
    if (!s) return encore_fail(ENCORE_STATUS_INVALID_ARGUMENT, "NULL session");
    return run_encoded(s, encs, n, RUN_HIDDEN_ALL, ENCORE_POOLING_DEFAULT, 0, hidden);
}
