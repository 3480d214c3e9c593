/* routes.c: the route table, error replies, and the GET routes: /info,
 * /health, /metrics. The POST routes are in inference.c. */
#include "json_buf.h"
#include "server.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

void serve_reply_header(serve_reply *r, const char *name, const char *fmt, ...) {
    if (r->n_headers >= (int)(sizeof r->headers / sizeof r->headers[0])) return;
    snprintf(r->headers[r->n_headers][0], sizeof r->headers[0][0], "%s", name);
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(r->headers[r->n_headers][1], sizeof r->headers[0][1], fmt, ap);
    va_end(ap);
    r->n_headers++;
}

void serve_reply_error(serve_ctx *ctx, serve_reply *r, int status, serve_error_type type, const char *fmt, ...) {
    char message[1024];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(message, sizeof message, fmt, ap);
    va_end(ap);
    serve_buf b = {0};
    serve_buf_puts(&b, "{\"error\":");
    serve_buf_json_cstring(&b, message);
    serve_buf_puts(&b, ",\"error_type\":");
    serve_buf_json_cstring(&b, serve_error_type_name(type));
    serve_buf_puts(&b, "}");
    free(r->body);
    r->body = serve_buf_take(&b, &r->len);
    if (!r->body) r->len = 0;
    r->status = status;
    r->content_type = "application/json";
    r->error_type = (int)type;
    snprintf(r->error, sizeof r->error, "%s", message);
    serve_metrics_failure(ctx->metrics, type);
}

static void reply_json(serve_reply *r, serve_buf *b) {
    r->body = serve_buf_take(b, &r->len);
    r->status = r->body ? 200 : 500;
    if (!r->body) r->len = 0;
    r->content_type = "application/json";
}

static const char *device_name(encore_device d) {
    return d == ENCORE_DEVICE_CUDA ? "cuda" : d == ENCORE_DEVICE_AUTO ? "auto" : "cpu";
}

static void route_info(serve_ctx *ctx, serve_reply *r) {
    const encore_model *m = ctx->model;
    const serve_config *c = &ctx->cfg;
    const encore_device device = serve_batcher_device(ctx->batcher);
    serve_buf b = {0};
    serve_buf_puts(&b, "{\"model_id\":");
    serve_buf_json_cstring(&b, c->model_id);
    /* The CPU computes in fp32 whatever the weights' dtype; CUDA in
     * --precision's, fp16 by default. */
    serve_buf_puts(&b, ",\"model_sha\":");
    if (c->model_sha) serve_buf_json_cstring(&b, c->model_sha);
    else serve_buf_puts(&b, "null");
    const char *dtype = device != ENCORE_DEVICE_CUDA                  ? "float32"
                        : c->model.precision == ENCORE_PRECISION_FP32 ? "float32"
                        : c->model.precision == ENCORE_PRECISION_BF16 ? "bfloat16"
                                                                : "float16";
    serve_buf_printf(&b, ",\"model_dtype\":\"%s\",\"model_type\":", dtype);
    const int n_labels = encore_model_n_labels(m);
    if (n_labels > 0) {
        serve_buf_puts(&b, serve_model_is_reranker(ctx) ? "{\"reranker\":{\"id2label\":{" : "{\"classifier\":{\"id2label\":{");
        for (int i = 0; i < n_labels; i++) {
            serve_buf_printf(&b, "%s\"%d\":", i ? "," : "", i);
            serve_buf_json_cstring(&b, encore_model_label(m, i));
        }
        serve_buf_puts(&b, "},\"label2id\":{");
        for (int i = 0; i < n_labels; i++) {
            if (i) serve_buf_puts(&b, ",");
            serve_buf_json_cstring(&b, encore_model_label(m, i));
            serve_buf_printf(&b, ":%d", i);
        }
        serve_buf_puts(&b, "}}}");
    } else {
        serve_buf_printf(&b, "{\"embedding\":{\"pooling\":\"%s\"}}",
                         encore_model_is_sparse(m)                     ? "splade"
                         : encore_model_pooling(m) == ENCORE_POOLING_CLS ? "cls"
                                                                          : "mean");
    }
    serve_buf_printf(&b, ",\"max_concurrent_requests\":%d,\"max_input_length\":%d,\"max_batch_tokens\":%d",
                     c->max_concurrent_requests, encore_model_task_max_length(m, encore_model_task(m)),
                     c->max_batch_tokens);
    if (c->max_batch_requests > 0) serve_buf_printf(&b, ",\"max_batch_requests\":%d", c->max_batch_requests);
    else serve_buf_puts(&b, ",\"max_batch_requests\":null");
    /* Inputs are tokenized on the thread of their connection: as many at
     * once as there are cores to run them. */
    serve_buf_printf(&b,
                     ",\"max_client_batch_size\":%d,\"auto_truncate\":%s,\"tokenization_workers\":%d"
                     ",\"version\":\"%s\",\"sha\":null,\"docker_label\":null,\"served_model_name\":",
                     c->max_client_batch_size, c->auto_truncate ? "true" : "false", c->tokenization_workers,
                     ENCORE_VERSION);
    serve_buf_json_cstring(&b, c->served_model_name);
    serve_buf_puts(&b, ",\"model_dir\":");
    serve_buf_json_cstring(&b, c->model.model_dir);
    /* encore's own fields. */
    const encore_score_function sf = encore_model_score_function(m);
    serve_buf_printf(&b, ",\"device\":\"%s\",\"architecture\":", device_name(device));
    serve_buf_json_cstring(&b, encore_model_architecture_name(m));
    serve_buf_printf(&b, ",\"hidden_size\":%d,\"num_labels\":%d,\"score_function\":%s,\"max_body_bytes\":%zu"
                         ",\"batch_wait_us\":%ld}",
                     encore_model_hidden_size(m), n_labels,
                     n_labels == 0                          ? "null"
                     : sf == ENCORE_SCORE_FUNCTION_SIGMOID ? "\"sigmoid\""
                     : sf == ENCORE_SCORE_FUNCTION_SOFTMAX ? "\"softmax\""
                                                           : "\"none\"",
                     c->max_body_bytes, c->batch_wait_us);
    reply_json(r, &b);
}

/* 200 when a forward pass works: one succeeded in the last second, or a
 * probe through the model thread does now. */
static void route_health(serve_ctx *ctx, serve_reply *r) {
    if (atomic_load(&ctx->draining)) {
        serve_reply_error(ctx, r, 503, SERVE_ERROR_UNHEALTHY, "shutting down");
        r->close = 1;
        return;
    }
    r->content_type = NULL; /* an empty 200 */
    if (serve_now() - serve_batcher_last_success(ctx->batcher) < 1.0) {
        r->status = 200;
        return;
    }
    const serve_task task = serve_batcher_probe_task(ctx->batcher);
    float *out = malloc((size_t)serve_batcher_width(ctx->batcher, task) * sizeof *out);
    const encore_encoding *encs[1] = {ctx->probe};
    serve_job job = {.task = task, .n_inputs = 1, .encodings = encs, .out = out, .urgent = 1};
    if (!out || serve_batcher_run(ctx->batcher, &job) != 0 || job.status != ENCORE_STATUS_OK)
        serve_reply_error(ctx, r, 503, SERVE_ERROR_UNHEALTHY, "unhealthy: %s", out ? job.error : "out of memory");
    else
        r->status = 200;
    free(out);
}

/* tools/serve/openapi.json, compiled in (embed_file.cmake). */
extern const unsigned char serve_openapi_json[];
extern const size_t serve_openapi_json_len;

static void route_openapi(serve_ctx *ctx, serve_reply *r) {
    r->body = malloc(serve_openapi_json_len);
    if (!r->body) {
        serve_reply_error(ctx, r, 500, SERVE_ERROR_BACKEND, "out of memory");
        return;
    }
    memcpy(r->body, serve_openapi_json, serve_openapi_json_len);
    r->len = serve_openapi_json_len;
    r->status = 200;
    r->content_type = "application/json";
}

static void route_docs(serve_ctx *ctx, serve_reply *r) {
    r->body = serve_docs_html(&r->len);
    if (!r->body) {
        r->len = 0;
        serve_reply_error(ctx, r, 500, SERVE_ERROR_BACKEND, "out of memory");
        return;
    }
    r->status = 200;
    r->content_type = "text/html; charset=utf-8";
}

static void route_metrics(serve_ctx *ctx, serve_reply *r) {
    r->body = serve_metrics_render(ctx->metrics, &r->len);
    r->status = r->body ? 200 : 500;
    if (!r->body) r->len = 0;
    r->content_type = "text/plain; version=0.0.4; charset=utf-8";
}

static void method_not_allowed(serve_ctx *ctx, serve_reply *r, const char *method, const char *path,
                               const char *allow) {
    serve_reply_error(ctx, r, 405, SERVE_ERROR_METHOD_NOT_ALLOWED, "method %s is not allowed on %s (allowed: %s)",
                      method, path, allow);
    r->allow = allow;
}

/* POST / and /invocations: the model's own task, as TEI routes them:
 * /rerank for a re-ranker, /predict for another classifier, /embed_sparse
 * for a SPLADE model, else /embed; and, with the Hugging Face Inference API's payloads, fill-mask for a
 * masked-language model, zero-shot for an NLI classifier asked with
 * candidate_labels, and token classification (NER) for a token classifier. */
static void model_task(serve_ctx *ctx, const char *body, size_t len, double t_start, serve_reply *r) {
    if (serve_model_is_qa(ctx)) {
        serve_route_qa(ctx, body, len, r); /* question answering (qa.c) */
        return;
    }
    /* A SPLADE model is a masked-language model served for its weights, as
     * TEI serves it. */
    if (encore_model_is_sparse(ctx->model)) {
        serve_route_embed_sparse(ctx, body, len, t_start, r);
        return;
    }
    if ((serve_model_is_fill_mask(ctx) || serve_model_is_nli(ctx) || serve_model_is_token_classifier(ctx)) &&
        serve_route_pipeline(ctx, body, len, r))
        return;
    if (serve_model_is_reranker(ctx)) serve_route_rerank(ctx, body, len, t_start, r);
    else if (encore_model_n_labels(ctx->model) > 0) serve_route_predict(ctx, body, len, t_start, r);
    else serve_route_embed(ctx, body, len, t_start, r);
}

void serve_route_not_found(serve_ctx *ctx, const char *method, const char *path, serve_reply *r) {
    serve_reply_error(ctx, r, 404, SERVE_ERROR_NOT_FOUND,
                      "no route %s %s; the routes are POST /predict, /embed, /embed_all, /tokenize, /rerank, /similarity, "
                      "/decode, /embed_sparse, /v1/embeddings, /invocations, /, and GET /info, /health, /ping, "
                      "/metrics, /openapi.json, /docs",
                      method, path);
}

/* As the mime crate reads it for axum's Json extractor: type "application"
 * and subtype "json" or "*+json", any case, parameters ignored. */
int serve_is_json_type(const char *content_type) {
    if (!content_type) return 0;
    const char *p = content_type;
    while (*p == ' ' || *p == '\t') p++;
    if (strncasecmp(p, "application/", 12) != 0) return 0;
    p += 12;
    const char *end = p;
    while (*end && *end != ';' && *end != ' ' && *end != '\t') end++;
    const size_t n = (size_t)(end - p);
    if (n == 0) return 0;
    if (!((n == 4 && strncasecmp(p, "json", 4) == 0) || (n > 5 && strncasecmp(end - 5, "+json", 5) == 0))) return 0;
    while (*end == ' ' || *end == '\t') end++;
    return *end == '\0' || *end == ';';
}

/* TEI's Json extractor refuses a body without a JSON Content-Type. */
static void unsupported_type(serve_ctx *ctx, serve_reply *r) {
    serve_reply_error(ctx, r, 415, SERVE_ERROR_VALIDATION,
                      "Expected request with `Content-Type: application/json`");
}

void serve_route(serve_ctx *ctx, const char *method, const char *path, const char *body, size_t len, int json,
                 double t_start, serve_reply *r) {
    static const char *const get_routes[] = {"/health", "/info", "/metrics", "/ping", "/openapi.json", "/docs"};
    static const char *const post_routes[] = {"/predict",    "/embed",         "/tokenize",     "/v1/embeddings",
                                              "/decode",     "/similarity",    "/rerank",       "/embed_sparse",
                                              "/invocations", "/embed_all"};
    memset(r, 0, sizeof *r);
    r->content_type = "application/json";
    const int is_get = strcmp(method, "GET") == 0 || strcmp(method, "HEAD") == 0;
    const int is_post = strcmp(method, "POST") == 0;

    if (strcmp(path, "/") == 0) {
        /* Hugging Face Inference API style: GET / is the health check, POST /
         * is the model's task (as TEI routes it). */
        if (is_get) route_health(ctx, r);
        else if (!is_post) method_not_allowed(ctx, r, method, path, "GET, HEAD, POST");
        else if (!json) unsupported_type(ctx, r);
        else model_task(ctx, body, len, t_start, r);
        return;
    }
    for (size_t i = 0; i < sizeof get_routes / sizeof *get_routes; i++) {
        if (strcmp(path, get_routes[i]) != 0) continue;
        if (!is_get) method_not_allowed(ctx, r, method, path, "GET, HEAD");
        else if (i == 0 || i == 3) route_health(ctx, r); /* GET /ping: SageMaker's health check */
        else if (i == 1) route_info(ctx, r);
        else if (i == 4) route_openapi(ctx, r);
        else if (i == 5) route_docs(ctx, r);
        else route_metrics(ctx, r);
        return;
    }
    for (size_t i = 0; i < sizeof post_routes / sizeof *post_routes; i++) {
        if (strcmp(path, post_routes[i]) != 0) continue;
        if (!is_post) method_not_allowed(ctx, r, method, path, "POST");
        else if (!json) unsupported_type(ctx, r);
        else if (i == 0) serve_route_predict(ctx, body, len, t_start, r);
        else if (i == 1) serve_route_embed(ctx, body, len, t_start, r);
        else if (i == 2) serve_route_tokenize(ctx, body, len, r);
        else if (i == 3) serve_route_openai_embeddings(ctx, body, len, t_start, r);
        else if (i == 4) serve_route_decode(ctx, body, len, r);
        else if (i == 5) serve_route_similarity(ctx, body, len, t_start, r);
        else if (i == 6) serve_route_rerank(ctx, body, len, t_start, r);
        else if (i == 7) serve_route_embed_sparse(ctx, body, len, t_start, r);
        else if (i == 8) model_task(ctx, body, len, t_start, r); /* SageMaker's /invocations */
        else serve_route_embed_all(ctx, body, len, t_start, r);
        return;
    }
    serve_route_not_found(ctx, method, path, r);
}
