/* qa.c: POST / (and /invocations) for a question-answering model, with the
 * Hugging Face Inference API's payload:
 *   {"inputs": {"question": "...", "context": "..."} | [{...}, ...],
 *    "parameters": {"top_k": 1, "doc_stride": 128, "max_answer_len": 15, "max_seq_len": 384,
 *                   "max_question_len": 64, "handle_impossible_answer": false,
 *                   "align_to_words": true}}
 * answered as transformers 4.57's pipeline("question-answering") answers:
 * one input gives its result (a bare answer {"score", "start", "end",
 * "answer"} when there is one, else a list); a list of several gives a list
 * of results, and a list of one gives that one result, as the pipeline does.
 * Like the other pipelines (pipelines.c) it runs on a session of its own,
 * one request at a time, beside the model thread. */
#include "inference.h"

#include <stdlib.h>
#include <string.h>

int serve_model_is_qa(const serve_ctx *ctx) { return encore_model_token_head(ctx->model) == ENCORE_TOKEN_HEAD_SPAN; }

/* The session the pipelines run on, made at the first request; NULL with
 * the error reply set. Call with pipeline_lock held. */
static encore_session *qa_session(serve_ctx *ctx, serve_reply *r) {
    if (ctx->pipeline_session) return ctx->pipeline_session;
    encore_session_params p = tools_session_params(&ctx->cfg.model);  // device, precision, threads
    if (encore_session_create(ctx->model, p, &ctx->pipeline_session) != ENCORE_STATUS_OK) {
        serve_reply_error(ctx, r, 500, SERVE_ERROR_BACKEND, "%s", encore_last_error());
        return NULL;
    }
    return ctx->pipeline_session;
}

/* The parameters into *p; 0, or -1 with a 422 reply. */
static int read_params(serve_ctx *ctx, const cJSON *params, encore_qa_params *p, serve_reply *r) {
    *p = encore_qa_default_params();
    if (!params || cJSON_IsNull(params)) return 0;
    if (!cJSON_IsObject(params)) {
        serve_reply_error(ctx, r, 422, SERVE_ERROR_VALIDATION, "`parameters` must be an object or null");
        return -1;
    }
    const struct {
        const char *key;
        int *dst;
        int min;
    } ints[] = {{"top_k", &p->top_k, 1},           {"doc_stride", &p->doc_stride, 0},
                {"max_answer_len", &p->max_answer_len, 1}, {"max_seq_len", &p->max_seq_len, 1},
                {"max_question_len", &p->max_question_len, 1}};
    for (size_t i = 0; i < sizeof ints / sizeof ints[0]; i++) {
        const cJSON *v = cJSON_GetObjectItemCaseSensitive(params, ints[i].key);
        if (!v || cJSON_IsNull(v)) continue;
        if (!cJSON_IsNumber(v) || v->valuedouble < ints[i].min || v->valuedouble > 1e9 ||
            v->valuedouble != (double)(int)v->valuedouble) {
            serve_reply_error(ctx, r, 422, SERVE_ERROR_VALIDATION, "`%s` must be an integer >= %d", ints[i].key,
                              ints[i].min);
            return -1;
        }
        *ints[i].dst = v->valueint;
    }
    const struct {
        const char *key;
        int *dst;
    } bools[] = {{"handle_impossible_answer", &p->handle_impossible_answer}, {"align_to_words", &p->align_to_words}};
    for (size_t i = 0; i < sizeof bools / sizeof bools[0]; i++) {
        const cJSON *v = cJSON_GetObjectItemCaseSensitive(params, bools[i].key);
        if (!v || cJSON_IsNull(v)) continue;
        if (!cJSON_IsBool(v)) {
            serve_reply_error(ctx, r, 422, SERVE_ERROR_VALIDATION, "`%s` must be a boolean", bools[i].key);
            return -1;
        }
        *bools[i].dst = cJSON_IsTrue(v);
    }
    return 0;
}

static int is_pair(const cJSON *v) {
    return cJSON_IsObject(v) && cJSON_IsString(cJSON_GetObjectItemCaseSensitive(v, "question")) &&
           cJSON_IsString(cJSON_GetObjectItemCaseSensitive(v, "context"));
}

static void write_answer(serve_buf *b, const encore_qa_answer *a) {
    serve_buf_puts(b, "{\"score\":");
    serve_buf_json_float(b, a->score);
    serve_buf_printf(b, ",\"start\":%d,\"end\":%d,\"answer\":", a->start, a->end);
    serve_buf_json_cstring(b, a->answer);
    serve_buf_puts(b, "}");
}

static int run_one(serve_ctx *ctx, encore_session *s, const cJSON *pair, encore_qa_params p, serve_buf *b,
                   serve_reply *r) {
    const char *q = cJSON_GetObjectItemCaseSensitive(pair, "question")->valuestring;
    const char *c = cJSON_GetObjectItemCaseSensitive(pair, "context")->valuestring;
    encore_qa_result *res = NULL;
    const encore_status st = encore_session_question_answer(s, q, c, p, &res);
    if (st != ENCORE_STATUS_OK) {
        const int code = st == ENCORE_STATUS_BAD_INPUT || st == ENCORE_STATUS_INVALID_ARGUMENT ? 422 : 500;
        serve_reply_error(ctx, r, code, code == 422 ? SERVE_ERROR_VALIDATION : SERVE_ERROR_BACKEND, "%s",
                          encore_session_last_error(s));
        return -1;
    }
    if (res->n_answers != 1) serve_buf_puts(b, "[");
    for (int i = 0; i < res->n_answers; i++) {
        if (i) serve_buf_puts(b, ",");
        write_answer(b, &res->answers[i]);
    }
    if (res->n_answers != 1) serve_buf_puts(b, "]");
    encore_qa_result_free(res);
    return 0;
}

void serve_route_qa(serve_ctx *ctx, const char *body, size_t len, serve_reply *r) {
    serve_request req;
    if (serve_request_parse_json(ctx, body, len, &req, r) != 0) {
        serve_request_free(&req);
        return;
    }
    const cJSON *in = cJSON_GetObjectItemCaseSensitive(req.root, "inputs");
    encore_qa_params p;
    int ok = read_params(ctx, cJSON_GetObjectItemCaseSensitive(req.root, "parameters"), &p, r) == 0;
    int n = 0;
    const cJSON *item;
    static const char shape[] =
        "`inputs` must be {\"question\": string, \"context\": string} or a list of such objects";
    if (!ok) {
    } else if (cJSON_IsArray(in)) {
        cJSON_ArrayForEach(item, in) ok &= is_pair(item), n++;
        if (!ok) serve_reply_error(ctx, r, 422, SERVE_ERROR_VALIDATION, "%s", shape);
        else if (n == 0) serve_reply_error(ctx, r, 400, SERVE_ERROR_EMPTY, "`inputs` cannot be empty"), ok = 0;
        else if (n > ctx->cfg.max_client_batch_size)
            serve_reply_error(ctx, r, 413, SERVE_ERROR_VALIDATION,
                              "batch size %d > maximum allowed batch size %d (--max-client-batch-size)", n,
                              ctx->cfg.max_client_batch_size),
                ok = 0;
    } else if (!is_pair(in)) {
        serve_reply_error(ctx, r, 422, SERVE_ERROR_VALIDATION, "%s", shape);
        ok = 0;
    }
    if (ok && serve_admit(ctx, r) == 0) {
        serve_buf b = {0};
        pthread_mutex_lock(&ctx->pipeline_lock);
        encore_session *s = qa_session(ctx, r);
        int rc = s ? 0 : -1;
        if (s && (!cJSON_IsArray(in) || n == 1)) {
            rc = run_one(ctx, s, cJSON_IsArray(in) ? in->child : in, p, &b, r);
        } else if (s) {
            serve_buf_puts(&b, "[");
            int i = 0;
            cJSON_ArrayForEach(item, in) {
                if (rc != 0) break;
                if (i++) serve_buf_puts(&b, ",");
                rc = run_one(ctx, s, item, p, &b, r);
            }
            serve_buf_puts(&b, "]");
        }
        pthread_mutex_unlock(&ctx->pipeline_lock);
        if (rc == 0) serve_reply_body(ctx, &b, r);
        serve_buf_free(&b);
        serve_release(ctx);
    }
    serve_request_free(&req);
}
