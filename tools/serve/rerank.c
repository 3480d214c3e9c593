/* rerank.c: the routes that score texts against one other text: /rerank
 * (a cross-encoder on (query, text) pairs) and /similarity (the cosine of
 * embeddings). */
#include "inference.h"

#include <stdlib.h>
#include <string.h>

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
    serve_embed_options o;
    if (ok && serve_request_check_count(ctx, &req, "inputs", r) == 0 &&
        serve_embed_options_read(ctx, &req, 0, &o, r) == 0 && serve_admit(ctx, r) == 0) {
        serve_metrics_request(ctx->metrics, SERVE_METHOD_BATCH);
        serve_job job;
        float *out = NULL;
        int C = 0;
        o.normalize = 1; /* cosine */
        o.dims = 0;
        if (serve_embed_run(ctx, &req, &o, &job, &out, &C, r) == 0) {
            serve_buf b = {0};
            serve_buf_puts(&b, "[");
            for (int i = 1; i < req.n; i++) {
                double dot = 0;
                for (int k = 0; k < C; k++) dot += (double)out[k] * out[(size_t)i * C + k];
                if (i > 1) serve_buf_puts(&b, ",");
                serve_buf_json_float(&b, (float)dot);
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
        } else if (serve_admit(ctx, r) == 0) {
            serve_metrics_request(ctx->metrics, SERVE_METHOD_BATCH);
            serve_job job;
            float *out = NULL;
            tp.task = ENCORE_TASK_CLASSIFY;
            tp.truncate = truncate;
            if (serve_request_tokenize(ctx, &req, tp, NULL, r) == 0 &&
                serve_run(ctx, &req, raw_scores ? SERVE_TASK_LOGITS : SERVE_TASK_SCORES, &job, &out, r) == 0) {
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
                    serve_reply_body(ctx, &b, r);
                    serve_finish(ctx, &req, &job, t_start, r);
                }
                free(order);
            }
            free(out);
            serve_release(ctx);
        }
    }
    serve_request_free(&req);
}
