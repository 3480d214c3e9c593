/* inference.c: the POST routes and what they share (inference.h).
 * /predict, /embed and /embed_all tokenize on the connection's thread, run on
 * the model thread (batcher.c) and format the result as TEI does; /tokenize
 * only tokenizes, for the model's task, and /decode only decodes. Each route
 * tokenizes for the task it runs, so that /embed cuts inputs where
 * sentence-transformers does. /v1/embeddings is in openai.c, /rerank and
 * /similarity in rerank.c. */
#include "inference.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

/* Admit one more inference request, or answer 429. */
int serve_admit(serve_ctx *ctx, serve_reply *r) {
    const int limit = ctx->cfg.max_concurrent_requests;
    const int n = atomic_fetch_add(&ctx->inference_requests, 1) + 1;
    if (n > limit) {
        atomic_fetch_sub(&ctx->inference_requests, 1);
        serve_reply_error(ctx, r, 429, SERVE_ERROR_OVERLOADED,
                          "Model is overloaded: %d requests are being served, the limit set by "
                          "--max-concurrent-requests %d",
                          limit, limit);
        return -1;
    }
    serve_metrics_concurrent_requests(ctx->metrics, n);
    return 0;
}

void serve_release(serve_ctx *ctx) {
    const int n = atomic_fetch_sub(&ctx->inference_requests, 1) - 1;
    serve_metrics_concurrent_requests(ctx->metrics, n);
}

/* Run the request's inputs on the model thread. out: (n, width), malloc'd.
 * Returns 0, or -1 with the error reply set. */
int serve_run(serve_ctx *ctx, serve_request *req, serve_task task, serve_job *job, float **out, serve_reply *r) {
    const int width = serve_batcher_width(ctx->batcher, task);
    /* Hidden states: one row per token of every input. */
    const size_t rows = task == SERVE_TASK_HIDDEN ? (size_t)req->n_tokens : (size_t)req->n;
    *out = malloc(rows * (size_t)(width > 0 ? width : 1) * sizeof **out);
    if (!*out) {
        serve_reply_error(ctx, r, 500, SERVE_ERROR_BACKEND, "out of memory");
        return -1;
    }
    memset(job, 0, sizeof *job);
    job->task = task;
    job->n_inputs = req->n;
    job->encodings = (const encore_encoding *const *)req->encodings;
    job->out = *out;
    for (int i = 0; i < req->n; i++) serve_metrics_input_length(ctx->metrics, req->encodings[i]->n_tokens);
    if (serve_batcher_run(ctx->batcher, job) != 0) {
        serve_reply_error(ctx, r, 503, SERVE_ERROR_UNHEALTHY, "shutting down");
        r->close = 1;
        return -1;
    }
    if (job->status != ENCORE_STATUS_OK) {
        serve_reply_error(ctx, r, 424, SERVE_ERROR_BACKEND, "Inference failed: %s", job->error);
        return -1;
    }
    return 0;
}

/* TEI's timing headers (milliseconds), and the success metrics. */
void serve_finish(serve_ctx *ctx, const serve_request *req, const serve_job *job, double t_start, serve_reply *r) {
    const double total = serve_now() - t_start;
    const double queue = job->t_first_batch - job->t_enqueued, inference = job->t_finished - job->t_first_batch;
    serve_reply_header(r, "x-compute-type", "%s",
                       serve_batcher_device(ctx->batcher) == ENCORE_DEVICE_CUDA ? "gpu" : "cpu");
    serve_reply_header(r, "x-compute-time", "%ld", (long)(1e3 * total));
    serve_reply_header(r, "x-compute-characters", "%ld", req->n_chars);
    serve_reply_header(r, "x-compute-tokens", "%ld", req->n_tokens);
    serve_reply_header(r, "x-total-time", "%ld", (long)(1e3 * total));
    serve_reply_header(r, "x-tokenization-time", "%ld", (long)(1e3 * req->tokenization_s));
    serve_reply_header(r, "x-queue-time", "%ld", (long)(1e3 * queue));
    serve_reply_header(r, "x-inference-time", "%ld", (long)(1e3 * inference));
    serve_metrics_success(ctx->metrics, req->is_batch ? SERVE_METHOD_BATCH : SERVE_METHOD_SINGLE, total,
                          req->tokenization_s, queue, inference);
}

void serve_reply_body(serve_ctx *ctx, serve_buf *b, serve_reply *r) {
    r->body = serve_buf_take(b, &r->len);
    if (r->body) {
        r->status = 200;
        r->content_type = "application/json";
    } else {
        serve_reply_error(ctx, r, 500, SERVE_ERROR_BACKEND, "out of memory writing the response");
    }
}

/* One input's predictions, best first: [{"score": s, "label": l}, ...]. As
 * TEI, a stable ascending sort, reversed (so equal scores list the higher
 * label id first). Returns -1 on a NaN score. */
static int write_predictions(const encore_model *m, const float *scores, serve_buf *b) {
    const int L = encore_model_n_labels(m);
    int order[L];
    for (int i = 0; i < L; i++) {
        if (scores[i] != scores[i]) return -1;
        int j = i;
        while (j > 0 && scores[order[j - 1]] > scores[i]) {
            order[j] = order[j - 1];
            j--;
        }
        order[j] = i;
    }
    serve_buf_puts(b, "[");
    for (int k = L - 1; k >= 0; k--) {
        serve_buf_puts(b, k == L - 1 ? "{\"score\":" : ",{\"score\":");
        serve_buf_json_float(b, scores[order[k]]);
        serve_buf_puts(b, ",\"label\":");
        serve_buf_json_cstring(b, encore_model_label(m, order[k]));
        serve_buf_puts(b, "}");
    }
    serve_buf_puts(b, "]");
    return 0;
}

void serve_route_predict(serve_ctx *ctx, const char *body, size_t len, double t_start, serve_reply *r) {
    serve_request req;
    if (serve_request_parse(ctx, body, len, SERVE_INPUTS_PREDICT, &req, r) != 0) {
        serve_request_free(&req);
        return;
    }
    serve_metrics_request(ctx->metrics, req.is_batch ? SERVE_METHOD_BATCH : SERVE_METHOD_SINGLE);
    int truncate = 0, raw_scores = 0;
    encore_tokenize_params tp = encore_tokenize_default_params();
    /* The options' types first, then what the model can do (as TEI: its
     * JSON extractor, then the handler). */
    if (serve_request_bool(ctx, &req, "truncate", ctx->cfg.auto_truncate, 1, &truncate, r) != 0 ||
        serve_request_bool(ctx, &req, "raw_scores", 0, 0, &raw_scores, r) != 0 ||
        serve_request_truncation(ctx, &req, &tp.truncation_side, r) != 0) {
        /* the reply is set */
    } else if (encore_model_n_labels(ctx->model) == 0) {
        serve_reply_error(ctx, r, 424, SERVE_ERROR_BACKEND,
                          "model is not a classifier: %s has no classification head; use /embed",
                          encore_model_architecture_name(ctx->model));
    } else if (serve_admit(ctx, r) == 0) {
        serve_job job;
        float *out = NULL;
        tp.task = ENCORE_TASK_CLASSIFY;
        tp.truncate = truncate;
        if (serve_request_tokenize(ctx, &req, tp, NULL, r) == 0 &&
            serve_run(ctx, &req, raw_scores ? SERVE_TASK_LOGITS : SERVE_TASK_SCORES, &job, &out, r) == 0) {
            const int L = encore_model_n_labels(ctx->model);
            serve_buf b = {0};
            int nan = 0;
            if (req.is_batch) serve_buf_puts(&b, "[");
            for (int i = 0; i < req.n && !nan; i++) {
                if (i) serve_buf_puts(&b, ",");
                nan = write_predictions(ctx->model, out + (size_t)i * L, &b) != 0;
            }
            if (req.is_batch) serve_buf_puts(&b, "]");
            if (nan) {
                serve_buf_free(&b);
                serve_reply_error(ctx, r, 424, SERVE_ERROR_BACKEND, "score is NaN");
            } else {
                serve_reply_body(ctx, &b, r);
                serve_finish(ctx, &req, &job, t_start, r);
            }
        }
        free(out);
        serve_release(ctx);
    }
    serve_request_free(&req);
}

/* L2-normalize a row in place, as sentence-transformers' normalize (a zero
 * vector stays zero). */
static void normalize_row(float *v, int n) {
    double ss = 0;
    for (int k = 0; k < n; k++) ss += (double)v[k] * v[k];
    const double norm = sqrt(ss);
    if (norm > 0)
        for (int k = 0; k < n; k++) v[k] = (float)(v[k] / (norm > 1e-12 ? norm : 1e-12));
}


/* Read the embedding options; the OpenAI route has no "normalize" (always
 * on), "truncate", "truncation_direction" or "prompt_name" of its own. */
int serve_embed_options_read(serve_ctx *ctx, const serve_request *req, int openai, serve_embed_options *o, serve_reply *r) {
    o->truncate = ctx->cfg.auto_truncate;
    o->normalize = 1;
    o->dims = 0;
    o->side = ENCORE_TRUNCATION_SIDE_RIGHT;
    o->prompt = ctx->default_prompt;
    if (openai) return serve_request_dimensions(ctx, req, "dimensions", &o->dims, r);
    return serve_request_bool(ctx, req, "truncate", ctx->cfg.auto_truncate, 1, &o->truncate, r) ||
                   serve_request_bool(ctx, req, "normalize", 1, 0, &o->normalize, r) ||
                   serve_request_truncation(ctx, req, &o->side, r) ||
                   serve_request_prompt(ctx, req, &o->prompt, r) ||
                   serve_request_dimensions(ctx, req, "dimensions", &o->dims, r)
               ? -1
               : 0;
}

/* Tokenize and embed the request's inputs: *out (n, *width) with
 * Matryoshka truncation to o->dims (then re-normalized, as TEI and
 * sentence-transformers' truncate_dim with normalize_embeddings do). The
 * caller has admitted the request. Returns 0, or -1 with the error reply
 * set; free(*out) either way. */
int serve_embed_run(serve_ctx *ctx, serve_request *req, const serve_embed_options *o, serve_job *job, float **out,
                     int *width, serve_reply *r) {
    encore_tokenize_params tp = encore_tokenize_default_params();
    tp.task = ENCORE_TASK_EMBED;
    tp.truncate = o->truncate;
    tp.truncation_side = o->side;
    *out = NULL;
    /* Unnormalized when the vector is cut: it is normalized after. A SPLADE
     * model's embedding is its vocabulary weights, never normalized (TEI
     * refuses normalize there, its default included). */
    serve_task task = o->normalize && !o->dims ? SERVE_TASK_EMBED_NORMALIZED : SERVE_TASK_EMBED;
    if (encore_model_is_sparse(ctx->model)) {
        if (o->normalize) {
            serve_reply_error(ctx, r, 424, SERVE_ERROR_BACKEND,
                              "`normalize` is not available for SPLADE models (the embedding is the vocabulary "
                              "weights: /embed with \"normalize\": false, or /embed_sparse)");
            return -1;
        }
        task = SERVE_TASK_SPARSE;
    }
    if (serve_request_tokenize(ctx, req, tp, o->prompt, r) != 0 || serve_run(ctx, req, task, job, out, r) != 0) return -1;
    const int C = serve_batcher_width(ctx->batcher, task);
    *width = C;
    if (o->dims && o->dims < C) {
        for (int i = 0; i < req->n; i++) memmove(*out + (size_t)i * o->dims, *out + (size_t)i * C, (size_t)o->dims * sizeof **out);
        *width = o->dims;
    }
    if (o->dims && o->normalize)
        for (int i = 0; i < req->n; i++) normalize_row(*out + (size_t)i * *width, *width);
    return 0;
}

void serve_write_vector(serve_buf *b, const float *v, int n) {
    serve_buf_puts(b, "[");
    for (int k = 0; k < n; k++) {
        if (k) serve_buf_puts(b, ",");
        serve_buf_json_float(b, v[k]);
    }
    serve_buf_puts(b, "]");
}

void serve_route_embed(serve_ctx *ctx, const char *body, size_t len, double t_start, serve_reply *r) {
    serve_request req;
    if (serve_request_parse(ctx, body, len, SERVE_INPUTS_EMBED, &req, r) != 0) {
        serve_request_free(&req);
        return;
    }
    serve_metrics_request(ctx->metrics, req.is_batch ? SERVE_METHOD_BATCH : SERVE_METHOD_SINGLE);
    serve_embed_options o;
    if (serve_embed_options_read(ctx, &req, 0, &o, r) == 0 && serve_admit(ctx, r) == 0) {
        serve_job job;
        float *out = NULL;
        int C = 0;
        if (serve_embed_run(ctx, &req, &o, &job, &out, &C, r) == 0) {
            serve_buf b = {0};
            serve_buf_puts(&b, "[");
            for (int i = 0; i < req.n; i++) {
                if (i) serve_buf_puts(&b, ",");
                serve_write_vector(&b, out + (size_t)i * C, C);
            }
            serve_buf_puts(&b, "]");
            serve_reply_body(ctx, &b, r);
            serve_finish(ctx, &req, &job, t_start, r);
        }
        free(out);
        serve_release(ctx);
    }
    serve_request_free(&req);
}

/* The options of /embed_all and /embed_sparse, TEI's: "truncate",
 * "truncation_direction" and "prompt_name" (*prompt keeps its value without
 * one). Returns 0, or -1 with the error reply set. */
static int read_token_options(serve_ctx *ctx, const serve_request *req, encore_tokenize_params *tp,
                              const char **prompt, serve_reply *r) {
    *tp = encore_tokenize_default_params();
    tp->task = ENCORE_TASK_EMBED;
    return serve_request_bool(ctx, req, "truncate", ctx->cfg.auto_truncate, 1, &tp->truncate, r) != 0 ||
                   serve_request_truncation(ctx, req, &tp->truncation_side, r) != 0 ||
                   serve_request_prompt(ctx, req, prompt, r) != 0
               ? -1
               : 0;
}

/* POST /embed_all: every token's last hidden state, before pooling. */
void serve_route_embed_all(serve_ctx *ctx, const char *body, size_t len, double t_start, serve_reply *r) {
    serve_request req;
    if (serve_request_parse(ctx, body, len, SERVE_INPUTS_EMBED, &req, r) != 0) {
        serve_request_free(&req);
        return;
    }
    serve_metrics_request(ctx->metrics, req.is_batch ? SERVE_METHOD_BATCH : SERVE_METHOD_SINGLE);
    encore_tokenize_params tp;
    const char *prompt = NULL;
    if (read_token_options(ctx, &req, &tp, &prompt, r) != 0) {
        /* the reply is set */
    } else if (encore_model_is_sparse(ctx->model)) {
        serve_reply_error(ctx, r, 424, SERVE_ERROR_BACKEND, "`embed_all` is not available for SPLADE models");
    } else if (serve_admit(ctx, r) == 0) {
        serve_job job;
        float *out = NULL;
        if (serve_request_tokenize(ctx, &req, tp, prompt, r) == 0 && serve_run(ctx, &req, SERVE_TASK_HIDDEN, &job, &out, r) == 0) {
            const int C = serve_batcher_width(ctx->batcher, SERVE_TASK_HIDDEN);
            serve_buf b = {0};
            size_t at = 0;
            serve_buf_puts(&b, "[");
            for (int i = 0; i < req.n; i++) {
                serve_buf_puts(&b, i ? ",[" : "[");
                for (int t = 0; t < req.encodings[i]->n_tokens; t++, at++) {
                    if (t) serve_buf_puts(&b, ",");
                    serve_write_vector(&b, out + at * (size_t)C, C);
                }
                serve_buf_puts(&b, "]");
            }
            serve_buf_puts(&b, "]");
            serve_reply_body(ctx, &b, r);
            serve_finish(ctx, &req, &job, t_start, r);
        }
        free(out);
        serve_release(ctx);
    }
    serve_request_free(&req);
}

/* TEI's SimpleToken: special tokens carry their token text and no offsets;
 * other tokens the bytes [start, stop) of the input they came from. */
static void write_tokens(const encore_model *m, const char *text, const encore_encoding *e, int add_special,
                         serve_buf *b) {
    const size_t text_len = strlen(text);
    serve_buf_puts(b, "[");
    int first = 1;
    for (int k = 0; k < e->n_tokens; k++) {
        const int start = e->offsets[2 * k], stop = e->offsets[2 * k + 1];
        const int special = start == 0 && stop == 0; /* a token from the text spans at least one byte */
        if (special && !add_special) continue;
        serve_buf_printf(b, "%s{\"id\":%d,\"text\":", first ? "" : ",", e->ids[k]);
        first = 0;
        if (special || start < 0 || stop < start || (size_t)stop > text_len) {
            const char *token = encore_model_token(m, e->ids[k]);
            serve_buf_json_cstring(b, token ? token : "");
        } else {
            serve_buf_json_string(b, text + start, (size_t)(stop - start));
        }
        if (special) serve_buf_puts(b, ",\"special\":true,\"start\":null,\"stop\":null}");
        else serve_buf_printf(b, ",\"special\":false,\"start\":%d,\"stop\":%d}", start, stop);
    }
    serve_buf_puts(b, "]");
}

void serve_route_tokenize(serve_ctx *ctx, const char *body, size_t len, serve_reply *r) {
    serve_request req;
    int add_special = 1;
    encore_tokenize_params tp = encore_tokenize_default_params();
    tp.task = encore_model_task(ctx->model);
    const char *prompt = NULL;
    if (serve_request_parse(ctx, body, len, SERVE_INPUTS_TEXTS, &req, r) == 0 &&
        serve_request_bool(ctx, &req, "add_special_tokens", 1, 0, &add_special, r) == 0 &&
        serve_request_bool(ctx, &req, "truncate", ctx->cfg.auto_truncate, 1, &tp.truncate, r) == 0 &&
        serve_request_truncation(ctx, &req, &tp.truncation_side, r) == 0 &&
        serve_request_prompt(ctx, &req, &prompt, r) == 0 &&
        serve_request_tokenize(ctx, &req, tp, prompt, r) == 0) {
        serve_buf b = {0};
        serve_buf_puts(&b, "[");
        for (int i = 0; i < req.n; i++) {
            if (i) serve_buf_puts(&b, ",");
            write_tokens(ctx->model, req.inputs[i].text, req.encodings[i], add_special, &b);
        }
        serve_buf_puts(&b, "]");
        serve_reply_body(ctx, &b, r);
    }
    serve_request_free(&req);
}

/* POST /decode: token ids back to text, one string per list of ids. */
void serve_route_decode(serve_ctx *ctx, const char *body, size_t len, serve_reply *r) {
    serve_request req;
    int skip = 1;
    if (serve_request_parse(ctx, body, len, SERVE_INPUTS_IDS, &req, r) == 0 &&
        serve_request_bool(ctx, &req, "skip_special_tokens", 1, 0, &skip, r) == 0) {
        serve_buf b = {0};
        serve_buf_puts(&b, "[");
        for (int i = 0; i < req.n && r->status < 400; i++) {
            size_t n = 0;
            char *text = NULL;
            if (encore_model_decode(ctx->model, req.ids[i], req.n_ids[i], skip, NULL, 0, &n) == ENCORE_STATUS_OK &&
                (text = malloc(n + 1)) != NULL &&
                encore_model_decode(ctx->model, req.ids[i], req.n_ids[i], skip, text, n + 1, &n) == ENCORE_STATUS_OK) {
                if (i) serve_buf_puts(&b, ",");
                serve_buf_json_string(&b, text, n);
            } else {
                serve_reply_error(ctx, r, 422, SERVE_ERROR_TOKENIZER, "Tokenization error: %s",
                                  text ? encore_last_error() : "out of memory");
            }
            free(text);
        }
        serve_buf_puts(&b, "]");
        if (r->status < 400) serve_reply_body(ctx, &b, r);
        else serve_buf_free(&b);
    }
    serve_request_free(&req);
}

/* POST /embed_sparse: a SPLADE model's weights, as TEI gives them: for each
 * input the entries that are not 0, [{"index": i, "value": w}, ...] in
 * vocabulary order; a list of them for a single input too. Other models get
 * TEI's 424. */
void serve_route_embed_sparse(serve_ctx *ctx, const char *body, size_t len, double t_start, serve_reply *r) {
    serve_request req;
    if (serve_request_parse(ctx, body, len, SERVE_INPUTS_EMBED, &req, r) != 0) {
        serve_request_free(&req);
        return;
    }
    serve_metrics_request(ctx->metrics, req.is_batch ? SERVE_METHOD_BATCH : SERVE_METHOD_SINGLE);
    encore_tokenize_params tp;
    const char *prompt = ctx->default_prompt;
    if (read_token_options(ctx, &req, &tp, &prompt, r) != 0) {
        /* the reply is set */
    } else if (!encore_model_is_sparse(ctx->model)) {
        serve_reply_error(ctx, r, 424, SERVE_ERROR_BACKEND,
                          "Model is not an embedding model with SPLADE pooling: /embed_sparse is not available");
    } else if (serve_admit(ctx, r) == 0) {
        serve_job job;
        float *out = NULL;
        if (serve_request_tokenize(ctx, &req, tp, prompt, r) == 0 &&
            serve_run(ctx, &req, SERVE_TASK_SPARSE, &job, &out, r) == 0) {
            const int V = serve_batcher_width(ctx->batcher, SERVE_TASK_SPARSE);
            serve_buf b = {0};
            serve_buf_puts(&b, "[");
            for (int i = 0; i < req.n; i++) {
                const float *w = out + (size_t)i * V;
                serve_buf_puts(&b, i ? ",[" : "[");
                for (int v = 0, first = 1; v < V; v++) {
                    if (w[v] == 0.0f) continue;
                    serve_buf_printf(&b, first ? "{\"index\":%d,\"value\":" : ",{\"index\":%d,\"value\":", v);
                    serve_buf_json_float(&b, w[v]);
                    serve_buf_puts(&b, "}");
                    first = 0;
                }
                serve_buf_puts(&b, "]");
            }
            serve_buf_puts(&b, "]");
            serve_reply_body(ctx, &b, r);
            serve_finish(ctx, &req, &job, t_start, r);
        }
        free(out);
        serve_release(ctx);
    }
    serve_request_free(&req);
}
