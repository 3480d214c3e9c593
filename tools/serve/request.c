/* request.c: read a POST body and tokenize its inputs; see request.h. */
#include "request.h"

#include "json_nul.h"

#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* cJSON's parser writes a process-wide error position on every call, which
 * is a data race between connection threads; parsing is a small share of a
 * request's time, so it runs under a lock. */
static pthread_mutex_t parse_lock = PTHREAD_MUTEX_INITIALIZER;

static const char *const form_shapes[] = {
    "a string, a pair of strings [text, text_pair], or a batch [[text], [text, text_pair], ...]",
    "a string or a list of strings",
};

static int add_input(serve_request *req, const char *text, const char *pair) {
    encore_input *items = realloc(req->inputs, (size_t)(req->n + 1) * sizeof *items);
    if (!items) return -1;
    req->inputs = items;
    req->inputs[req->n].text = text;
    req->inputs[req->n].text_pair = pair;
    req->n++;
    return 0;
}

/* An array of one or two strings: one input, single or pair. */
static int sequence(const cJSON *a, const char **text, const char **pair) {
    const int n = cJSON_GetArraySize(a);
    if (!cJSON_IsArray(a) || n < 1 || n > 2) return -1;
    const cJSON *t = cJSON_GetArrayItem(a, 0), *p = n == 2 ? cJSON_GetArrayItem(a, 1) : NULL;
    if (!cJSON_IsString(t) || (p && !cJSON_IsString(p))) return -1;
    *text = t->valuestring;
    *pair = p ? p->valuestring : NULL;
    return 0;
}

/* Fill req->inputs from "inputs". Returns 0, -1 for a wrong shape, -2 out
 * of memory. */
static int read_inputs(const cJSON *in, serve_input_form form, serve_request *req) {
    if (cJSON_IsString(in)) return add_input(req, in->valuestring, NULL) ? -2 : 0;
    if (!cJSON_IsArray(in)) return -1;
    const cJSON *first = cJSON_GetArrayItem(in, 0);
    if (!first) return 0; /* [] : empty, reported by the caller */
    if (form == SERVE_INPUTS_TEXTS) {
        req->is_batch = 1;
        const cJSON *item;
        cJSON_ArrayForEach(item, in) {
            if (!cJSON_IsString(item)) return -1;
            if (add_input(req, item->valuestring, NULL)) return -2;
        }
        return 0;
    }
    const char *text, *pair;
    if (cJSON_IsString(first)) { /* ["text"] or ["text", "pair"]: one input */
        if (sequence(in, &text, &pair)) return -1;
        return add_input(req, text, pair) ? -2 : 0;
    }
    req->is_batch = 1;
    const cJSON *item;
    cJSON_ArrayForEach(item, in) {
        if (sequence(item, &text, &pair)) return -1;
        if (add_input(req, text, pair)) return -2;
    }
    return 0;
}

int serve_request_parse(serve_ctx *ctx, const char *body, size_t len, serve_input_form form, serve_request *req,
                        serve_reply *r) {
    memset(req, 0, sizeof *req);
    /* JSON holds no raw control characters, and cJSON would end a string at
     * a NUL byte without a word. */
    const char *raw_nul = len ? memchr(body, '\0', len) : NULL;
    if (raw_nul) {
        serve_reply_error(ctx, r, 400, SERVE_ERROR_VALIDATION,
                          "the request body is not valid JSON (a NUL byte at byte %ld)", (long)(raw_nul - body) + 1);
        return -1;
    }
    const char *end = NULL;
    pthread_mutex_lock(&parse_lock);
    req->root = len ? cJSON_ParseWithLengthOpts(body, len, &end, 0) : NULL;
    pthread_mutex_unlock(&parse_lock);
    if (!req->root) {
        if (!len)
            serve_reply_error(ctx, r, 400, SERVE_ERROR_VALIDATION,
                              "the request body is empty; send JSON such as {\"inputs\": \"text\"}");
        else
            serve_reply_error(ctx, r, 400, SERVE_ERROR_VALIDATION,
                              "the request body is not valid JSON (error at byte %ld)", end ? (long)(end - body) : 0L);
        return -1;
    }
    const long nul = encore_json_nul_escape(body, end ? (size_t)(end - body) : len);
    if (nul >= 0) {
        serve_reply_error(ctx, r, 422, SERVE_ERROR_VALIDATION,
                          "the request holds the character U+0000 (\\u0000 at byte %ld), which encore's texts "
                          "cannot carry; remove it (BERT's tokenizer drops it anyway)",
                          nul + 1);
        return -1;
    }
    /* Only white space may follow the value. */
    for (const char *p = end; p && p < body + len; p++) {
        if (*p != ' ' && *p != '\t' && *p != '\n' && *p != '\r') {
            serve_reply_error(ctx, r, 400, SERVE_ERROR_VALIDATION,
                              "the request body is not valid JSON (trailing characters at byte %ld)", (long)(p - body));
            return -1;
        }
    }
    if (!cJSON_IsObject(req->root)) {
        serve_reply_error(ctx, r, 422, SERVE_ERROR_VALIDATION,
                          "the request body must be a JSON object with \"inputs\"");
        return -1;
    }
    const cJSON *in = cJSON_GetObjectItemCaseSensitive(req->root, "inputs");
    if (!in) {
        serve_reply_error(ctx, r, 422, SERVE_ERROR_VALIDATION, "missing field `inputs`");
        return -1;
    }
    int st = read_inputs(in, form, req);
    if (st == -2) {
        serve_reply_error(ctx, r, 500, SERVE_ERROR_BACKEND, "out of memory reading the inputs");
        return -1;
    }
    if (st == -1) {
        serve_reply_error(ctx, r, 422, SERVE_ERROR_VALIDATION, "`inputs` must be %s", form_shapes[form]);
        return -1;
    }
    if (req->n == 0) {
        serve_reply_error(ctx, r, 400, SERVE_ERROR_EMPTY, "`inputs` cannot be empty");
        return -1;
    }
    if (req->n > ctx->cfg.max_client_batch_size) {
        serve_reply_error(ctx, r, 413, SERVE_ERROR_VALIDATION,
                          "batch size %d > maximum allowed batch size %d (--max-client-batch-size)", req->n,
                          ctx->cfg.max_client_batch_size);
        return -1;
    }
    for (int i = 0; i < req->n; i++) {
        const encore_input *x = &req->inputs[i];
        if (!*x->text && (!x->text_pair || !*x->text_pair)) {
            if (req->is_batch)
                serve_reply_error(ctx, r, 400, SERVE_ERROR_EMPTY, "input %d: `inputs` cannot be empty", i);
            else
                serve_reply_error(ctx, r, 400, SERVE_ERROR_EMPTY, "`inputs` cannot be empty");
            return -1;
        }
    }
    return 0;
}

int serve_request_bool(serve_ctx *ctx, const serve_request *req, const char *key, int dflt, int *value,
                       serve_reply *r) {
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(req->root, key);
    if (!v || cJSON_IsNull(v)) {
        *value = dflt;
        return 0;
    }
    if (!cJSON_IsBool(v)) {
        serve_reply_error(ctx, r, 422, SERVE_ERROR_VALIDATION, "`%s` must be true or false", key);
        return -1;
    }
    *value = cJSON_IsTrue(v);
    return 0;
}

static long count_chars(const char *s) {
    long n = 0;
    for (; s && *s; s++) n += ((unsigned char)*s & 0xc0) != 0x80;
    return n;
}

int serve_request_tokenize(serve_ctx *ctx, serve_request *req, encore_task task, int truncate, serve_reply *r) {
    const double t0 = serve_now();
    req->encodings = calloc((size_t)req->n, sizeof *req->encodings);
    if (!req->encodings) {
        serve_reply_error(ctx, r, 500, SERVE_ERROR_BACKEND, "out of memory");
        return -1;
    }
    for (int i = 0; i < req->n; i++) {
        encore_status st =
            encore_model_tokenize_for_task(ctx->model, req->inputs[i], task, truncate, &req->encodings[i]);
        if (st != ENCORE_STATUS_OK) {
            char where[32] = "";
            if (req->is_batch) snprintf(where, sizeof where, "input %d: ", i);
            if (st == ENCORE_STATUS_TOO_LONG)
                serve_reply_error(ctx, r, 422, SERVE_ERROR_VALIDATION, "Input validation error: %s%s", where,
                                  encore_last_error());
            else if (st == ENCORE_STATUS_OUT_OF_MEMORY)
                serve_reply_error(ctx, r, 500, SERVE_ERROR_BACKEND, "%s%s", where, encore_last_error());
            else
                serve_reply_error(ctx, r, 422, SERVE_ERROR_TOKENIZER, "Tokenization error: %s%s", where,
                                  encore_last_error());
            return -1;
        }
        req->n_tokens += req->encodings[i]->n_tokens;
        req->n_chars += count_chars(req->inputs[i].text) + count_chars(req->inputs[i].text_pair);
    }
    req->tokenization_s = serve_now() - t0;
    return 0;
}

void serve_request_free(serve_request *req) {
    if (req->encodings)
        for (int i = 0; i < req->n; i++) encore_encoding_free(req->encodings[i]);
    free(req->encodings);
    free(req->inputs);
    cJSON_Delete(req->root);
    memset(req, 0, sizeof *req);
}
