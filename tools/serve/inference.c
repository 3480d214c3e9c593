/* inference.c: the POST routes. /predict and /embed tokenize on the
 * connection's thread, run on the model thread (batcher.c) and format the
 * result as TEI does; /tokenize only tokenizes, for the model's task. Each
 * route tokenizes for the task it runs, so that /embed cuts inputs where
 * sentence-transformers does. */
#include "json_buf.h"
#include "request.h"

#include <stdlib.h>
#include <string.h>

/* Admit one more inference request, or answer 429. */
static int admit(serve_ctx *ctx, serve_reply *r) {
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

static void release(serve_ctx *ctx) {
    const int n = atomic_fetch_sub(&ctx->inference_requests, 1) - 1;
    serve_metrics_concurrent_requests(ctx->metrics, n);
}

/* Run the request's inputs on the model thread. out: (n, width), malloc'd.
 * Returns 0, or -1 with the error reply set. */
static int run(serve_ctx *ctx, serve_request *req, serve_task task, serve_job *job, float **out, serve_reply *r) {
    const int width = serve_batcher_width(ctx->batcher, task);
    *out = malloc((size_t)req->n * (size_t)(width > 0 ? width : 1) * sizeof **out);
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
static void finish(serve_ctx *ctx, const serve_request *req, const serve_job *job, double t_start, serve_reply *r) {
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

static void reply_body(serve_ctx *ctx, serve_buf *b, serve_reply *r) {
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
    if (encore_model_n_labels(ctx->model) == 0) {
        serve_reply_error(ctx, r, 424, SERVE_ERROR_BACKEND,
                          "model is not a classifier: %s has no classification head; use /embed",
                          encore_model_architecture_name(ctx->model));
    } else if (serve_request_bool(ctx, &req, "truncate", ctx->cfg.auto_truncate, &truncate, r) == 0 &&
               serve_request_bool(ctx, &req, "raw_scores", 0, &raw_scores, r) == 0 && admit(ctx, r) == 0) {
        serve_job job;
        float *out = NULL;
        if (serve_request_tokenize(ctx, &req, ENCORE_TASK_CLASSIFY, truncate, r) == 0 &&
            run(ctx, &req, raw_scores ? SERVE_TASK_LOGITS : SERVE_TASK_SCORES, &job, &out, r) == 0) {
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
                reply_body(ctx, &b, r);
                finish(ctx, &req, &job, t_start, r);
            }
        }
        free(out);
        release(ctx);
    }
    serve_request_free(&req);
}

void serve_route_embed(serve_ctx *ctx, const char *body, size_t len, double t_start, serve_reply *r) {
    serve_request req;
    if (serve_request_parse(ctx, body, len, SERVE_INPUTS_TEXTS, &req, r) != 0) {
        serve_request_free(&req);
        return;
    }
    serve_metrics_request(ctx->metrics, req.is_batch ? SERVE_METHOD_BATCH : SERVE_METHOD_SINGLE);
    int truncate = 0, normalize = 1;
    if (serve_request_bool(ctx, &req, "truncate", ctx->cfg.auto_truncate, &truncate, r) == 0 &&
        serve_request_bool(ctx, &req, "normalize", 1, &normalize, r) == 0 && admit(ctx, r) == 0) {
        serve_job job;
        float *out = NULL;
        const serve_task task = normalize ? SERVE_TASK_EMBED_NORMALIZED : SERVE_TASK_EMBED;
        if (serve_request_tokenize(ctx, &req, ENCORE_TASK_EMBED, truncate, r) == 0 &&
            run(ctx, &req, task, &job, &out, r) == 0) {
            const int C = serve_batcher_width(ctx->batcher, task);
            serve_buf b = {0};
            serve_buf_puts(&b, "[");
            for (int i = 0; i < req.n; i++) {
                serve_buf_puts(&b, i ? ",[" : "[");
                for (int k = 0; k < C; k++) {
                    if (k) serve_buf_puts(&b, ",");
                    serve_buf_json_float(&b, out[(size_t)i * C + k]);
                }
                serve_buf_puts(&b, "]");
            }
            serve_buf_puts(&b, "]");
            reply_body(ctx, &b, r);
            finish(ctx, &req, &job, t_start, r);
        }
        free(out);
        release(ctx);
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
    int add_special = 1, truncate = 0;
    if (serve_request_parse(ctx, body, len, SERVE_INPUTS_TEXTS, &req, r) == 0 &&
        serve_request_bool(ctx, &req, "add_special_tokens", 1, &add_special, r) == 0 &&
        serve_request_bool(ctx, &req, "truncate", ctx->cfg.auto_truncate, &truncate, r) == 0 &&
        serve_request_tokenize(ctx, &req, encore_model_task(ctx->model), truncate, r) == 0) {
        serve_buf b = {0};
        serve_buf_puts(&b, "[");
        for (int i = 0; i < req.n; i++) {
            if (i) serve_buf_puts(&b, ",");
            write_tokens(ctx->model, req.inputs[i].text, req.encodings[i], add_special, &b);
        }
        serve_buf_puts(&b, "]");
        reply_body(ctx, &b, r);
    }
    serve_request_free(&req);
}
