/* ner.c: POST / on a token-classification model, with the Hugging Face
 * Inference API's payload
 *   {"inputs": "text" | [...], "parameters": {"aggregation_strategy": "simple",
 *    "ignore_labels": ["O"], "stride": 16}}
 * answered as transformers' pipeline("token-classification") answers (the
 * pipeline's defaults: strategy "none", ignore_labels ["O"]); pipelines.c
 * routes the request and calls this once per text. */
#include "inference.h"

#include <stdlib.h>

int serve_model_is_token_classifier(const serve_ctx *ctx) {
    return encore_model_token_head(ctx->model) == ENCORE_TOKEN_HEAD_CLASSIFY;
}

int serve_run_ner(serve_ctx *ctx, encore_session *s, const char *text, const cJSON *params, serve_buf *b,
                  serve_reply *r) {
    encore_token_classify_params p = encore_token_classify_default_params();
    const cJSON *agg = cJSON_GetObjectItemCaseSensitive(params, "aggregation_strategy");
    const cJSON *ignore = cJSON_GetObjectItemCaseSensitive(params, "ignore_labels");
    const cJSON *stride = cJSON_GetObjectItemCaseSensitive(params, "stride");
    if (agg && !cJSON_IsNull(agg)) {
        if (!cJSON_IsString(agg) || encore_aggregation_from_name(agg->valuestring, &p.aggregation) != ENCORE_STATUS_OK) {
            serve_reply_error(ctx, r, 422, SERVE_ERROR_VALIDATION,
                              "`aggregation_strategy` must be one of none, simple, first, average, max");
            return -1;
        }
    }
    if (stride && !cJSON_IsNull(stride)) {
        if (!cJSON_IsNumber(stride) || stride->valuedouble < 0 || stride->valuedouble > 1e9 ||
            stride->valuedouble != (double)(int)stride->valuedouble) {
            serve_reply_error(ctx, r, 422, SERVE_ERROR_VALIDATION, "`stride` must be an integer >= 0");
            return -1;
        }
        if (agg && !cJSON_IsNull(agg) && p.aggregation == ENCORE_AGGREGATION_NONE) {
            /* as the pipeline refuses it */
            serve_reply_error(ctx, r, 422, SERVE_ERROR_VALIDATION,
                              "`stride` needs an `aggregation_strategy` other than \"none\"");
            return -1;
        }
        p.stride = stride->valueint;
    }
    const char **labels = NULL;
    if (ignore && !cJSON_IsNull(ignore)) {
        int ok = cJSON_IsArray(ignore), n = 0;
        labels = ok ? malloc(((size_t)cJSON_GetArraySize(ignore) + 1) * sizeof *labels) : NULL;
        const cJSON *item;
        if (ok && !labels) {
            serve_reply_error(ctx, r, 500, SERVE_ERROR_BACKEND, "out of memory");
            return -1;
        }
        if (ok) cJSON_ArrayForEach(item, ignore) {
                if (!cJSON_IsString(item)) ok = 0;
                else labels[n++] = item->valuestring;
            }
        if (!ok) {
            free(labels);
            serve_reply_error(ctx, r, 422, SERVE_ERROR_VALIDATION, "`ignore_labels` must be a list of strings");
            return -1;
        }
        p.ignore_labels = labels;
        p.n_ignore_labels = n;
    }
    encore_token_classify_result *res = NULL;
    const encore_status st = encore_session_token_classify(s, text, p, &res);
    free(labels);
    if (st != ENCORE_STATUS_OK) {
        const int code = st == ENCORE_STATUS_UNSUPPORTED || st == ENCORE_STATUS_OUT_OF_MEMORY ||
                                 st == ENCORE_STATUS_DEVICE_ERROR
                             ? 500
                             : 422;
        serve_reply_error(ctx, r, code, code == 500 ? SERVE_ERROR_BACKEND : SERVE_ERROR_VALIDATION, "%s",
                          encore_session_last_error(s));
        return -1;
    }
    const int grouped = res->aggregation != ENCORE_AGGREGATION_NONE;
    serve_buf_puts(b, "[");
    for (int i = 0; i < res->n_entities; i++) {
        const encore_entity *e = &res->entities[i];
        serve_buf_puts(b, i ? ",{" : "{");
        serve_buf_puts(b, grouped ? "\"entity_group\":" : "\"entity\":");
        serve_buf_json_cstring(b, e->entity);
        serve_buf_puts(b, ",\"score\":");
        serve_buf_json_float(b, e->score);
        if (!grouped) serve_buf_printf(b, ",\"index\":%d", (int)e->index);
        serve_buf_puts(b, ",\"word\":");
        serve_buf_json_cstring(b, e->word);
        serve_buf_printf(b, ",\"start\":%d,\"end\":%d}", (int)e->start, (int)e->end);
    }
    serve_buf_puts(b, "]");
    encore_token_classify_result_free(res);
    return 0;
}
