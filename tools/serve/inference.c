/* inference.c: the POST routes. /predict and /embed tokenize on the
 * connection's thread, run on the model thread (batcher.c) and format the
 * result as TEI does; /tokenize only tokenizes, for the model's task. Each
 * route tokenizes for the task it runs, so that /embed cuts inputs where
 * sentence-transformers does. */
#include "json_buf.h"
#include "request.h"

#include <math.h>
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
    } else if (admit(ctx, r) == 0) {
        serve_job job;
        float *out = NULL;
        tp.task = ENCORE_TASK_CLASSIFY;
        tp.truncate = truncate;
        if (serve_request_tokenize(ctx, &req, tp, NULL, r) == 0 &&
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

/* L2-normalize a row in place, as sentence-transformers' normalize (a zero
 * vector stays zero). */
static void normalize_row(float *v, int n) {
    double ss = 0;
    for (int k = 0; k < n; k++) ss += (double)v[k] * v[k];
    const double norm = sqrt(ss);
    if (norm > 0)
        for (int k = 0; k < n; k++) v[k] = (float)(v[k] / (norm > 1e-12 ? norm : 1e-12));
}

/* The options every embedding route reads, with TEI's defaults. */
typedef struct embed_options {
    int truncate, normalize, dims;
    encore_truncation_side side;
    const char *prompt;
} embed_options;

/* Read the embedding options; the OpenAI route has no "normalize" (always
 * on), "truncate", "truncation_direction" or "prompt_name" of its own. */
static int embed_options_read(serve_ctx *ctx, const serve_request *req, int openai, embed_options *o, serve_reply *r) {
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
static int embed_run(serve_ctx *ctx, serve_request *req, const embed_options *o, serve_job *job, float **out,
                     int *width, serve_reply *r) {
    encore_tokenize_params tp = encore_tokenize_default_params();
    tp.task = ENCORE_TASK_EMBED;
    tp.truncate = o->truncate;
    tp.truncation_side = o->side;
    *out = NULL;
    /* Unnormalized when the vector is cut: it is normalized after. */
    const serve_task task = o->normalize && !o->dims ? SERVE_TASK_EMBED_NORMALIZED : SERVE_TASK_EMBED;
    if (serve_request_tokenize(ctx, req, tp, o->prompt, r) != 0 || run(ctx, req, task, job, out, r) != 0) return -1;
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

static void write_vector(serve_buf *b, const float *v, int n) {
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
    embed_options o;
    if (embed_options_read(ctx, &req, 0, &o, r) == 0 && admit(ctx, r) == 0) {
        serve_job job;
        float *out = NULL;
        int C = 0;
        if (embed_run(ctx, &req, &o, &job, &out, &C, r) == 0) {
            serve_buf b = {0};
            serve_buf_puts(&b, "[");
            for (int i = 0; i < req.n; i++) {
                if (i) serve_buf_puts(&b, ",");
                write_vector(&b, out + (size_t)i * C, C);
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

/* POST /embed_all: every token's last hidden state, before pooling. */
void serve_route_embed_all(serve_ctx *ctx, const char *body, size_t len, double t_start, serve_reply *r) {
    serve_request req;
    if (serve_request_parse(ctx, body, len, SERVE_INPUTS_EMBED, &req, r) != 0) {
        serve_request_free(&req);
        return;
    }
    serve_metrics_request(ctx->metrics, req.is_batch ? SERVE_METHOD_BATCH : SERVE_METHOD_SINGLE);
    encore_tokenize_params tp = encore_tokenize_default_params();
    tp.task = ENCORE_TASK_EMBED;
    const char *prompt = NULL;
    if (serve_request_bool(ctx, &req, "truncate", ctx->cfg.auto_truncate, 1, &tp.truncate, r) == 0 &&
        serve_request_truncation(ctx, &req, &tp.truncation_side, r) == 0 &&
        serve_request_prompt(ctx, &req, &prompt, r) == 0 && admit(ctx, r) == 0) {
        serve_job job;
        float *out = NULL;
        if (serve_request_tokenize(ctx, &req, tp, prompt, r) == 0 && run(ctx, &req, SERVE_TASK_HIDDEN, &job, &out, r) == 0) {
            const int C = serve_batcher_width(ctx->batcher, SERVE_TASK_HIDDEN);
            serve_buf b = {0};
            size_t at = 0;
            serve_buf_puts(&b, "[");
            for (int i = 0; i < req.n; i++) {
                serve_buf_puts(&b, i ? ",[" : "[");
                for (int t = 0; t < req.encodings[i]->n_tokens; t++, at++) {
                    if (t) serve_buf_puts(&b, ",");
                    write_vector(&b, out + at * (size_t)C, C);
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

static const char b64_chars[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";

/* The bytes of n float32 values, little-endian, in standard base64: what
 * OpenAI's encoding_format "base64" sends and its SDK decodes with numpy. */
static void write_base64_floats(serve_buf *b, const float *v, int n) {
    const unsigned char *p = (const unsigned char *)v; /* x86-64 and aarch64 Linux are little-endian */
    const size_t len = (size_t)n * sizeof *v;
    char quad[4];
    serve_buf_puts(b, "\"");
    for (size_t i = 0; i < len; i += 3) {
        const unsigned x = (unsigned)p[i] << 16 | (i + 1 < len ? (unsigned)p[i + 1] << 8 : 0u) |
                           (i + 2 < len ? (unsigned)p[i + 2] : 0u);
        quad[0] = b64_chars[x >> 18 & 63];
        quad[1] = b64_chars[x >> 12 & 63];
        quad[2] = i + 1 < len ? b64_chars[x >> 6 & 63] : '=';
        quad[3] = i + 2 < len ? b64_chars[x & 63] : '=';
        serve_buf_append(b, quad, 4);
    }
    serve_buf_puts(b, "\"");
}

/* An error in OpenAI's shape ({"error": {"message", "type", "param",
 * "code"}}) that also holds TEI's OpenAICompatErrorResponse fields
 * ("message", "code", and the error type as "type", which TEI's server
 * writes, and "error_type", which its OpenAPI document names), so clients
 * of either read it. */
static void openai_error(serve_reply *r) {
    serve_buf b = {0};
    const char *type = serve_error_type_name((serve_error_type)r->error_type);
    serve_buf_puts(&b, "{\"error\":{\"message\":");
    serve_buf_json_cstring(&b, r->error);
    serve_buf_printf(&b, ",\"type\":\"%s\",\"param\":null,\"code\":null},\"message\":",
                     r->status == 429 ? "rate_limit_error" : r->status >= 500 || r->status == 424 ? "server_error"
                                                                                              : "invalid_request_error");
    serve_buf_json_cstring(&b, r->error);
    serve_buf_printf(&b, ",\"code\":%d,\"type\":\"%s\",\"error_type\":\"%s\"}", r->status, type, type);
    size_t len = 0;
    char *body = serve_buf_take(&b, &len);
    if (!body) return; /* keep TEI's shape */
    free(r->body);
    r->body = body;
    r->len = len;
}

void serve_route_openai_embeddings(serve_ctx *ctx, const char *body, size_t len, double t_start, serve_reply *r) {
    serve_request req;
    if (serve_request_parse(ctx, body, len, SERVE_INPUTS_OPENAI, &req, r) != 0) {
        serve_request_free(&req);
        openai_error(r);
        return;
    }
    serve_metrics_request(ctx->metrics, req.is_batch ? SERVE_METHOD_BATCH : SERVE_METHOD_SINGLE);
    embed_options o;
    int base64 = 0;
    const cJSON *fmt = cJSON_GetObjectItemCaseSensitive(req.root, "encoding_format");
    const cJSON *model = cJSON_GetObjectItemCaseSensitive(req.root, "model");
    const cJSON *user = cJSON_GetObjectItemCaseSensitive(req.root, "user");
    if (fmt && !cJSON_IsNull(fmt) &&
        !(cJSON_IsString(fmt) && (strcmp(fmt->valuestring, "float") == 0 || strcmp(fmt->valuestring, "base64") == 0))) {
        serve_reply_error(ctx, r, 422, SERVE_ERROR_VALIDATION, "`encoding_format` must be \"float\" or \"base64\"");
    } else if (model && !cJSON_IsNull(model) && !cJSON_IsString(model)) {
        serve_reply_error(ctx, r, 422, SERVE_ERROR_VALIDATION, "`model` must be a string");
    } else if (user && !cJSON_IsNull(user) && !cJSON_IsString(user)) {
        serve_reply_error(ctx, r, 422, SERVE_ERROR_VALIDATION, "`user` must be a string");
    } else if (embed_options_read(ctx, &req, 1, &o, r) == 0 && admit(ctx, r) == 0) {
        base64 = cJSON_IsString(fmt) && strcmp(fmt->valuestring, "base64") == 0;
        serve_job job;
        float *out = NULL;
        int C = 0;
        if (embed_run(ctx, &req, &o, &job, &out, &C, r) == 0) {
            serve_buf b = {0};
            serve_buf_puts(&b, "{\"object\":\"list\",\"data\":[");
            for (int i = 0; i < req.n; i++) {
                serve_buf_puts(&b, i ? ",{\"object\":\"embedding\",\"embedding\":" : "{\"object\":\"embedding\",\"embedding\":");
                if (base64) write_base64_floats(&b, out + (size_t)i * C, C);
                else write_vector(&b, out + (size_t)i * C, C);
                serve_buf_printf(&b, ",\"index\":%d}", i);
            }
            serve_buf_puts(&b, "],\"model\":");
            serve_buf_json_cstring(&b, ctx->cfg.served_model_name);
            serve_buf_printf(&b, ",\"usage\":{\"prompt_tokens\":%ld,\"total_tokens\":%ld}}", req.n_tokens,
                             req.n_tokens);
            reply_body(ctx, &b, r);
            finish(ctx, &req, &job, t_start, r);
        }
        free(out);
        release(ctx);
    }
    if (r->status >= 400) openai_error(r);
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
        reply_body(ctx, &b, r);
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
        if (r->status < 400) reply_body(ctx, &b, r);
        else serve_buf_free(&b);
    }
    serve_request_free(&req);
}

/* POST /similarity: sentence-transformers' cosine similarity of
 * source_sentence to each of sentences, on the model's embeddings. */
void serve_route_similarity(serve_ctx *ctx, const char *body, size_t len, double t_start, serve_reply *r) {
    serve_request req;
    if (serve_request_parse_json(ctx, body, len, &req, r) != 0) {
        serve_request_free(&req);
        return;
    }
    const cJSON *in = cJSON_GetObjectItemCaseSensitive(req.root, "inputs");
    const cJSON *src = cJSON_GetObjectItemCaseSensitive(in, "source_sentence");
    const cJSON *sents = cJSON_GetObjectItemCaseSensitive(in, "sentences");
    const cJSON *params = cJSON_GetObjectItemCaseSensitive(req.root, "parameters");
    int ok = 1;
    if (!cJSON_IsObject(in) || !cJSON_IsString(src) || !cJSON_IsArray(sents)) {
        serve_reply_error(ctx, r, 422, SERVE_ERROR_VALIDATION,
                          "`inputs` must be an object with `source_sentence` (a string) and `sentences` (a list of "
                          "strings)");
        ok = 0;
    } else if (params && !cJSON_IsNull(params) && !cJSON_IsObject(params)) {
        serve_reply_error(ctx, r, 422, SERVE_ERROR_VALIDATION, "`parameters` must be an object or null");
        ok = 0;
    }
    const cJSON *item;
    if (ok && serve_request_add(&req, src->valuestring, NULL) != 0) ok = 0;
    if (ok) cJSON_ArrayForEach(item, sents) {
            if (!ok) break;
            if (!cJSON_IsString(item)) {
                serve_reply_error(ctx, r, 422, SERVE_ERROR_VALIDATION, "`sentences` must be a list of strings");
                ok = 0;
            } else if (serve_request_add(&req, item->valuestring, NULL) != 0) {
                serve_reply_error(ctx, r, 500, SERVE_ERROR_BACKEND, "out of memory");
                ok = 0;
            }
        }
    if (ok && req.n < 2) {
        serve_reply_error(ctx, r, 400, SERVE_ERROR_EMPTY, "`sentences` cannot be empty");
        ok = 0;
    }
    req.is_batch = 1;
    req.options = cJSON_IsObject(params) ? params : NULL;
    embed_options o;
    if (ok && serve_request_check_count(ctx, &req, "inputs", r) == 0 &&
        embed_options_read(ctx, &req, 0, &o, r) == 0 && admit(ctx, r) == 0) {
        serve_metrics_request(ctx->metrics, SERVE_METHOD_BATCH);
        serve_job job;
        float *out = NULL;
        int C = 0;
        o.normalize = 1; /* cosine */
        o.dims = 0;
        if (embed_run(ctx, &req, &o, &job, &out, &C, r) == 0) {
            serve_buf b = {0};
            serve_buf_puts(&b, "[");
            for (int i = 1; i < req.n; i++) {
                double dot = 0;
                for (int k = 0; k < C; k++) dot += (double)out[k] * out[(size_t)i * C + k];
                if (i > 1) serve_buf_puts(&b, ",");
                serve_buf_json_float(&b, (float)dot);
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

int serve_model_is_reranker(const serve_ctx *ctx) { return encore_model_n_labels(ctx->model) == 1; }

/* POST /rerank: score each of texts against query with a cross-encoder (a
 * classifier with one label), best first as TEI sorts them. */
void serve_route_rerank(serve_ctx *ctx, const char *body, size_t len, double t_start, serve_reply *r) {
    serve_request req;
    if (serve_request_parse_json(ctx, body, len, &req, r) != 0) {
        serve_request_free(&req);
        return;
    }
    const cJSON *query = cJSON_GetObjectItemCaseSensitive(req.root, "query");
    const cJSON *texts = cJSON_GetObjectItemCaseSensitive(req.root, "texts");
    int ok = 1;
    if (!cJSON_IsString(query) || !cJSON_IsArray(texts)) {
        serve_reply_error(ctx, r, 422, SERVE_ERROR_VALIDATION,
                          "the request needs `query` (a string) and `texts` (a list of strings)");
        ok = 0;
    } else if (!*query->valuestring) {
        serve_reply_error(ctx, r, 400, SERVE_ERROR_EMPTY, "`query` cannot be empty");
        ok = 0;
    }
    const cJSON *item;
    if (ok) cJSON_ArrayForEach(item, texts) {
            if (!ok) break;
            if (!cJSON_IsString(item)) {
                serve_reply_error(ctx, r, 422, SERVE_ERROR_VALIDATION, "`texts` must be a list of strings");
                ok = 0;
            } else if (serve_request_add(&req, query->valuestring, item->valuestring) != 0) {
                serve_reply_error(ctx, r, 500, SERVE_ERROR_BACKEND, "out of memory");
                ok = 0;
            }
        }
    req.is_batch = 1;
    int truncate = 0, raw_scores = 0, return_text = 0;
    encore_tokenize_params tp = encore_tokenize_default_params();
    if (ok && serve_request_check_count(ctx, &req, "texts", r) == 0 &&
        serve_request_bool(ctx, &req, "truncate", ctx->cfg.auto_truncate, 1, &truncate, r) == 0 &&
        serve_request_bool(ctx, &req, "raw_scores", 0, 0, &raw_scores, r) == 0 &&
        serve_request_bool(ctx, &req, "return_text", 0, 0, &return_text, r) == 0 &&
        serve_request_truncation(ctx, &req, &tp.truncation_side, r) == 0) {
        if (!serve_model_is_reranker(ctx)) {
            serve_reply_error(ctx, r, 424, SERVE_ERROR_BACKEND,
                              "model is not a re-ranker model: /rerank needs a classifier with one label, and %s has %d",
                              encore_model_architecture_name(ctx->model), encore_model_n_labels(ctx->model));
        } else if (admit(ctx, r) == 0) {
            serve_metrics_request(ctx->metrics, SERVE_METHOD_BATCH);
            serve_job job;
            float *out = NULL;
            tp.task = ENCORE_TASK_CLASSIFY;
            tp.truncate = truncate;
            if (serve_request_tokenize(ctx, &req, tp, NULL, r) == 0 &&
                run(ctx, &req, raw_scores ? SERVE_TASK_LOGITS : SERVE_TASK_SCORES, &job, &out, r) == 0) {
                /* TEI: a stable ascending sort by score, reversed. */
                int *order = malloc((size_t)req.n * sizeof *order);
                int nan = 0;
                for (int i = 0; order && i < req.n; i++) {
                    nan |= out[i] != out[i];
                    int j = i;
                    while (j > 0 && out[order[j - 1]] > out[i]) {
                        order[j] = order[j - 1];
                        j--;
                    }
                    order[j] = i;
                }
                if (!order || nan) {
                    serve_reply_error(ctx, r, order ? 424 : 500, SERVE_ERROR_BACKEND, order ? "score is NaN" : "out of memory");
                } else {
                    serve_buf b = {0};
                    serve_buf_puts(&b, "[");
                    for (int k = req.n - 1; k >= 0; k--) {
                        const int i = order[k];
                        serve_buf_printf(&b, "%s{\"index\":%d,", k == req.n - 1 ? "" : ",", i);
                        if (return_text) {
                            serve_buf_puts(&b, "\"text\":");
                            serve_buf_json_cstring(&b, req.inputs[i].text_pair);
                            serve_buf_puts(&b, ",");
                        }
                        serve_buf_puts(&b, "\"score\":");
                        serve_buf_json_float(&b, out[i]);
                        serve_buf_puts(&b, "}");
                    }
                    serve_buf_puts(&b, "]");
                    reply_body(ctx, &b, r);
                    finish(ctx, &req, &job, t_start, r);
                }
                free(order);
            }
            free(out);
            release(ctx);
        }
    }
    serve_request_free(&req);
}

/* POST /embed_sparse: TEI serves it only for SPLADE models, which encore
 * does not load; a valid request gets TEI's answer for other models. */
void serve_route_embed_sparse(serve_ctx *ctx, const char *body, size_t len, serve_reply *r) {
    serve_request req;
    embed_options o;
    if (serve_request_parse(ctx, body, len, SERVE_INPUTS_EMBED, &req, r) == 0 &&
        embed_options_read(ctx, &req, 0, &o, r) == 0)
        serve_reply_error(ctx, r, 424, SERVE_ERROR_BACKEND,
                          "Model is not an embedding model with SPLADE pooling: /embed_sparse is not available");
    serve_request_free(&req);
}
