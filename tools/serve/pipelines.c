/* pipelines.c: POST / for fill-mask and zero-shot models, with the Hugging
 * Face Inference API's payloads:
 *   fill-mask:  {"inputs": "a [MASK] film" | [...], "parameters": {"top_k": 5, "targets": [...]}}
 *   zero-shot:  {"inputs": "text" | [...], "parameters": {"candidate_labels": [...] | "a,b",
 *                "hypothesis_template": "...", "multi_label": false}}
 *   token classification (NER): {"inputs": "text" | [...], "parameters":
 *                {"aggregation_strategy": "simple", "ignore_labels": [...]}}, in ner.c
 * answered as transformers' pipelines answer (a list of inputs: a list of
 * results). These calls are whole pipelines (encore_session_fill_mask,
 * encore_session_zero_shot), not batches of encodings, so they run on a
 * session of their own, one request at a time, beside the model thread. */
#include "inference.h"

#include <stdlib.h>
#include <string.h>

static int starts_with_entail(const char *s) {
    static const char p[] = "entail";
    for (size_t i = 0; i < sizeof p - 1; i++) {
        char c = s[i];
        if (c >= 'A' && c <= 'Z') c = (char)(c - 'A' + 'a');
        if (c != p[i]) return 0;
    }
    return 1;
}

int serve_model_is_fill_mask(const serve_ctx *ctx) {
    const encore_architecture a = encore_model_architecture(ctx->model);
    return a == ENCORE_ARCHITECTURE_BERT_MASKED_LM || a == ENCORE_ARCHITECTURE_DISTILBERT_MASKED_LM ||
           a == ENCORE_ARCHITECTURE_ROBERTA_MASKED_LM || a == ENCORE_ARCHITECTURE_MPNET_MASKED_LM;
}

int serve_model_is_nli(const serve_ctx *ctx) {
    for (int i = 0; i < encore_model_n_labels(ctx->model); i++)
        if (starts_with_entail(encore_model_label(ctx->model, i))) return 1;
    return 0;
}

/* The session the pipelines run on, made at the first request; NULL with
 * the error reply set. Call with pipeline_lock held. */
static encore_session *pipeline_session(serve_ctx *ctx, serve_reply *r) {
    if (ctx->pipeline_session) return ctx->pipeline_session;
    encore_session_params p = tools_session_params(&ctx->cfg.model);  // device, precision, threads
    p.truncate = 1;
    if (encore_session_create(ctx->model, p, &ctx->pipeline_session) != ENCORE_STATUS_OK) {
        serve_reply_error(ctx, r, 500, SERVE_ERROR_BACKEND, "%s", encore_last_error());
        return NULL;
    }
    return ctx->pipeline_session;
}

/* A list of strings (or, when split, one comma-separated string split and
 * stripped as the zero-shot pipeline splits it) into *out, pointing into
 * v or into *owned. Returns the count, or -1 for another type. */
static int string_list(const cJSON *v, int split, const char ***out, char **owned) {
    *out = NULL;
    *owned = NULL;
    int n = 0;
    if (cJSON_IsString(v) && !split) {
        *out = malloc(sizeof **out);
        if (!*out) return -1;
        (*out)[0] = v->valuestring;
        return 1;
    }
    if (cJSON_IsString(v)) {
        const size_t len = strlen(v->valuestring);
        *owned = malloc(len + 1);
        *out = malloc((len / 2 + 2) * sizeof **out);
        if (!*owned || !*out) return -1;
        memcpy(*owned, v->valuestring, len + 1);
        for (char *part = *owned, *end;; part = end + 1) {
            end = strchr(part, ',');
            if (end) *end = '\0';
            char *a = part, *b = part + strlen(part);
            while (a < b && strchr(" \t\n\r\f\v", *a)) a++;
            while (b > a && strchr(" \t\n\r\f\v", b[-1])) b--;
            *b = '\0';
            if (*a) (*out)[n++] = a;
            if (!end) break;
        }
        return n;
    }
    if (!cJSON_IsArray(v)) return -1;
    *out = malloc(((size_t)cJSON_GetArraySize(v) + 1) * sizeof **out);
    if (!*out) return -1;
    const cJSON *item;
    cJSON_ArrayForEach(item, v) {
        if (!cJSON_IsString(item)) return -1;
        (*out)[n++] = item->valuestring;
    }
    return n;
}

static void reply_status(serve_ctx *ctx, serve_reply *r, encore_status st, const char *msg) {
    const int code = st == ENCORE_STATUS_UNSUPPORTED || st == ENCORE_STATUS_OUT_OF_MEMORY ||
                             st == ENCORE_STATUS_DEVICE_ERROR
                         ? 500
                         : 422;
    serve_reply_error(ctx, r, code, code == 500 ? SERVE_ERROR_BACKEND : SERVE_ERROR_VALIDATION, "%s", msg);
}

static int run_fill_mask(serve_ctx *ctx, encore_session *s, const char *text, const cJSON *params, serve_buf *b,
                         serve_reply *r) {
    encore_fill_mask_params p = encore_fill_mask_default_params();
    const cJSON *top_k = cJSON_GetObjectItemCaseSensitive(params, "top_k");
    const cJSON *targets = cJSON_GetObjectItemCaseSensitive(params, "targets");
    if (top_k && !cJSON_IsNull(top_k)) {
        if (!cJSON_IsNumber(top_k) || top_k->valuedouble < 1 || top_k->valuedouble > 1e9 ||
            top_k->valuedouble != (double)(int)top_k->valuedouble) {
            serve_reply_error(ctx, r, 422, SERVE_ERROR_VALIDATION, "`top_k` must be an integer >= 1");
            return -1;
        }
        p.top_k = top_k->valueint;
    }
    const char **list = NULL;
    char *owned = NULL;
    if (targets && !cJSON_IsNull(targets)) {
        p.n_targets = string_list(targets, 0, &list, &owned);
        if (p.n_targets < 0) {
            free(list);
            serve_reply_error(ctx, r, 422, SERVE_ERROR_VALIDATION, "`targets` must be a string or a list of strings");
            return -1;
        }
        p.targets = list;
    }
    encore_fill_mask_result *res = NULL;
    const encore_status st = encore_session_fill_mask(s, text, p, &res);
    free(list);
    free(owned);
    if (st != ENCORE_STATUS_OK) {
        reply_status(ctx, r, st, encore_session_last_error(s));
        return -1;
    }
    if (res->n_masks > 1) serve_buf_puts(b, "[");
    for (int m = 0; m < res->n_masks; m++) {
        serve_buf_puts(b, m ? ",[" : "[");
        for (int j = 0; j < res->k; j++) {
            const encore_fill_mask_prediction *pr = &res->predictions[(size_t)m * res->k + j];
            serve_buf_puts(b, j ? ",{\"score\":" : "{\"score\":");
            serve_buf_json_float(b, pr->score);
            serve_buf_printf(b, ",\"token\":%d,\"token_str\":", (int)pr->token);
            serve_buf_json_cstring(b, pr->token_str);
            serve_buf_puts(b, ",\"sequence\":");
            serve_buf_json_cstring(b, pr->sequence);
            serve_buf_puts(b, "}");
        }
        serve_buf_puts(b, "]");
    }
    if (res->n_masks > 1) serve_buf_puts(b, "]");
    encore_fill_mask_result_free(res);
    return 0;
}

static int run_zero_shot(serve_ctx *ctx, encore_session *s, const char *text, const cJSON *params, serve_buf *b,
                         serve_reply *r) {
    encore_zero_shot_params p = encore_zero_shot_default_params();
    const cJSON *labels = cJSON_GetObjectItemCaseSensitive(params, "candidate_labels");
    const cJSON *tpl = cJSON_GetObjectItemCaseSensitive(params, "hypothesis_template");
    const cJSON *multi = cJSON_GetObjectItemCaseSensitive(params, "multi_label");
    if (tpl && !cJSON_IsNull(tpl)) {
        if (!cJSON_IsString(tpl)) {
            serve_reply_error(ctx, r, 422, SERVE_ERROR_VALIDATION, "`hypothesis_template` must be a string");
            return -1;
        }
        p.hypothesis_template = tpl->valuestring;
    }
    if (multi && !cJSON_IsNull(multi)) {
        if (!cJSON_IsBool(multi)) {
            serve_reply_error(ctx, r, 422, SERVE_ERROR_VALIDATION, "`multi_label` must be a boolean");
            return -1;
        }
        p.multi_label = cJSON_IsTrue(multi);
    }
    const char **list = NULL;
    char *owned = NULL;
    const int n = string_list(labels, 1, &list, &owned);
    int rc = -1;
    float *scores = n > 0 ? malloc((size_t)n * sizeof *scores) : NULL;
    int *order = n > 0 ? malloc((size_t)n * sizeof *order) : NULL;
    if (n < 0) {
        serve_reply_error(ctx, r, 422, SERVE_ERROR_VALIDATION,
                          "`candidate_labels` must be a list of strings or a comma-separated string");
    } else if (n > 0 && (!scores || !order)) {
        serve_reply_error(ctx, r, 500, SERVE_ERROR_BACKEND, "out of memory");
    } else {
        const encore_status st = encore_session_zero_shot(s, text, list, n, p, scores, order);
        if (st != ENCORE_STATUS_OK) {
            reply_status(ctx, r, st, encore_session_last_error(s));
        } else {
            serve_buf_puts(b, "{\"sequence\":");
            serve_buf_json_cstring(b, text);
            serve_buf_puts(b, ",\"labels\":[");
            for (int i = 0; i < n; i++) {
                if (i) serve_buf_puts(b, ",");
                serve_buf_json_cstring(b, list[order[i]]);
            }
            serve_buf_puts(b, "],\"scores\":[");
            for (int i = 0; i < n; i++) {
                if (i) serve_buf_puts(b, ",");
                serve_buf_json_float(b, scores[order[i]]);
            }
            serve_buf_puts(b, "]}");
            rc = 0;
        }
    }
    free(scores);
    free(order);
    free(list);
    free(owned);
    return rc;
}

int serve_route_pipeline(serve_ctx *ctx, const char *body, size_t len, serve_reply *r) {
    const int fill_mask = serve_model_is_fill_mask(ctx), ner = serve_model_is_token_classifier(ctx);
    serve_request req;
    if (serve_request_parse_json(ctx, body, len, &req, r) != 0) {
        serve_request_free(&req);
        return 1;
    }
    const cJSON *params = cJSON_GetObjectItemCaseSensitive(req.root, "parameters");
    if (!fill_mask && !ner && !cJSON_GetObjectItemCaseSensitive(params, "candidate_labels")) {
        serve_request_free(&req);
        return 0; /* a plain classification request */
    }
    const cJSON *in = cJSON_GetObjectItemCaseSensitive(req.root, "inputs");
    const cJSON *item;
    int ok = 1, n = 0;
    if (params && !cJSON_IsNull(params) && !cJSON_IsObject(params)) {
        serve_reply_error(ctx, r, 422, SERVE_ERROR_VALIDATION, "`parameters` must be an object or null");
        ok = 0;
    } else if (cJSON_IsArray(in)) {
        cJSON_ArrayForEach(item, in) ok &= cJSON_IsString(item), n++;
        if (!ok) serve_reply_error(ctx, r, 422, SERVE_ERROR_VALIDATION, "`inputs` must be a string or a list of strings");
        else if (n == 0) serve_reply_error(ctx, r, 400, SERVE_ERROR_EMPTY, "`inputs` cannot be empty"), ok = 0;
        else if (n > ctx->cfg.max_client_batch_size)
            serve_reply_error(ctx, r, 413, SERVE_ERROR_VALIDATION,
                              "batch size %d > maximum allowed batch size %d (--max-client-batch-size)", n,
                              ctx->cfg.max_client_batch_size),
                ok = 0;
    } else if (!cJSON_IsString(in)) {
        serve_reply_error(ctx, r, 422, SERVE_ERROR_VALIDATION, "`inputs` must be a string or a list of strings");
        ok = 0;
    }
    if (ok && serve_admit(ctx, r) == 0) {
        serve_buf b = {0};
        pthread_mutex_lock(&ctx->pipeline_lock);
        encore_session *s = pipeline_session(ctx, r);
        int rc = s ? 0 : -1;
        if (s && cJSON_IsString(in)) {
            rc = ner         ? serve_run_ner(ctx, s, in->valuestring, params, &b, r)
                 : fill_mask ? run_fill_mask(ctx, s, in->valuestring, params, &b, r)
                             : run_zero_shot(ctx, s, in->valuestring, params, &b, r);
        } else if (s) {
            serve_buf_puts(&b, "[");
            int i = 0;
            cJSON_ArrayForEach(item, in) {
                if (rc != 0) break;
                if (i++) serve_buf_puts(&b, ",");
                rc = ner         ? serve_run_ner(ctx, s, item->valuestring, params, &b, r)
                     : fill_mask ? run_fill_mask(ctx, s, item->valuestring, params, &b, r)
                                 : run_zero_shot(ctx, s, item->valuestring, params, &b, r);
            }
            serve_buf_puts(&b, "]");
        }
        pthread_mutex_unlock(&ctx->pipeline_lock);
        if (rc == 0) serve_reply_body(ctx, &b, r);
        serve_buf_free(&b);
        serve_release(ctx);
    }
    serve_request_free(&req);
    return 1;
}
