/* request.c: read a POST body and tokenize its inputs; see request.h. */
#include "request.h"

#include "json_buf.h"
#include "json_nul.h"

#include <limits.h>
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
    "a string, a list of token ids, or a list of strings and lists of token ids",
    "a string, a list of token ids, or a list of strings and lists of token ids",
    "a list of token ids or a list of lists of token ids",
};

static const char *const form_keys[] = {"inputs", "inputs", "inputs", "input", "ids"};

/* Room for one more input in the four per-input arrays, grown
 * geometrically so that n inputs cost O(n) copying. Returns 0, or -1 out of
 * memory (the arrays stay as they were). */
static int reserve_input(serve_request *req) {
    if (req->n < req->cap) return 0;
    const size_t cap = req->cap ? (size_t)req->cap * 2 : 8;
    if (cap > (size_t)INT_MAX) return -1;
    encore_input *items = realloc(req->inputs, cap * sizeof *items);
    if (items) req->inputs = items;
    int32_t **idl = realloc(req->ids, cap * sizeof *idl);
    if (idl) req->ids = idl;
    int *nl = realloc(req->n_ids, cap * sizeof *nl);
    if (nl) req->n_ids = nl;
    char **owned = realloc(req->owned, cap * sizeof *owned);
    if (owned) req->owned = owned;
    if (!items || !idl || !nl || !owned) return -1;
    req->cap = (int)cap;
    return 0;
}

/* One more input; ids (n_ids of them) are copied when non-NULL. */
static int add_input_ids(serve_request *req, const char *text, const char *pair, const int32_t *ids, int n_ids) {
    if (reserve_input(req) != 0) return -1;
    req->inputs[req->n].text = text;
    req->inputs[req->n].text_pair = pair;
    req->ids[req->n] = NULL;
    req->n_ids[req->n] = 0;
    req->owned[req->n] = NULL;
    if (ids) {
        req->ids[req->n] = malloc((size_t)(n_ids > 0 ? n_ids : 1) * sizeof **req->ids);
        if (!req->ids[req->n]) return -1;
        if (n_ids) memcpy(req->ids[req->n], ids, (size_t)n_ids * sizeof *ids);
        req->n_ids[req->n] = n_ids;
    }
    req->n++;
    return 0;
}

static int add_input(serve_request *req, const char *text, const char *pair) {
    return add_input_ids(req, text, pair, NULL, 0);
}

/* A token id: a JSON integer in [0, INT32_MAX]. */
static int token_id(const cJSON *v, int32_t *id) {
    if (!cJSON_IsNumber(v) || v->valuedouble < 0 || v->valuedouble > 2147483647.0 ||
        v->valuedouble != (double)(int32_t)v->valuedouble)
        return -1;
    *id = (int32_t)v->valuedouble;
    return 0;
}

/* A list of token ids as one input. Returns 0, -1 for a wrong shape, -2 out
 * of memory. */
static int add_ids(serve_request *req, const cJSON *a) {
    const int n = cJSON_GetArraySize(a);
    int32_t *ids = malloc((size_t)(n > 0 ? n : 1) * sizeof *ids);
    if (!ids) return -2;
    int k = 0;
    const cJSON *v;
    cJSON_ArrayForEach(v, a) {
        if (token_id(v, &ids[k]) != 0) {
            free(ids);
            return -1;
        }
        k++;
    }
    const int st = add_input_ids(req, "", NULL, ids, k) ? -2 : 0;
    free(ids);
    return st;
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

/* A batch of more inputs than --max-client-batch-size: refused before its
 * items are read; *count gets how many it has. */
static int over_batch_limit(const serve_ctx *ctx, const cJSON *batch, int *count) {
    *count = cJSON_GetArraySize(batch);
    return *count > ctx->cfg.max_client_batch_size;
}

/* Fill req->inputs from "inputs". Returns 0, -1 for a wrong shape, -2 out
 * of memory, -3 for a batch over --max-client-batch-size (*count: its
 * size). */
static int read_inputs(const serve_ctx *ctx, const cJSON *in, serve_input_form form, serve_request *req, int *count) {
    if (cJSON_IsString(in) && form == SERVE_INPUTS_IDS) return -1;
    if (cJSON_IsString(in)) return add_input(req, in->valuestring, NULL) ? -2 : 0;
    if (!cJSON_IsArray(in)) return -1;
    const cJSON *first = cJSON_GetArrayItem(in, 0);
    if (!first) return 0; /* [] : empty, reported by the caller */
    if (form == SERVE_INPUTS_EMBED || form == SERVE_INPUTS_OPENAI || form == SERVE_INPUTS_IDS) {
        if (cJSON_IsNumber(first)) return add_ids(req, in); /* [id, ...]: one input */
        req->is_batch = 1;
        if (over_batch_limit(ctx, in, count)) return -3;
        const cJSON *item;
        cJSON_ArrayForEach(item, in) {
            if (cJSON_IsArray(item)) {
                const int st = add_ids(req, item);
                if (st) return st;
            } else if (!cJSON_IsString(item) || form == SERVE_INPUTS_IDS) {
                return -1;
            } else if (add_input(req, item->valuestring, NULL)) {
                return -2;
            }
        }
        return 0;
    }
    if (form == SERVE_INPUTS_TEXTS) {
        req->is_batch = 1;
        if (over_batch_limit(ctx, in, count)) return -3;
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
    if (over_batch_limit(ctx, in, count)) return -3;
    const cJSON *item;
    cJSON_ArrayForEach(item, in) {
        if (sequence(item, &text, &pair)) return -1;
        if (add_input(req, text, pair)) return -2;
    }
    return 0;
}

int serve_request_add(serve_request *req, const char *text, const char *pair) {
    return add_input(req, text, pair);
}

static void batch_too_large(serve_ctx *ctx, int count, serve_reply *r) {
    serve_reply_error(ctx, r, 422, SERVE_ERROR_VALIDATION,
                      "batch size %d > maximum allowed batch size %d (--max-client-batch-size)", count,
                      ctx->cfg.max_client_batch_size);
}

/* An upper bound on the JSON values in a body, without parsing it: every
 * value but the first follows a ',' or opens with '[' or '{' (outside
 * strings). O(len), no allocation. */
static size_t count_values(const char *body, size_t len) {
    size_t n = 1;
    int in_string = 0;
    for (size_t i = 0; i < len; i++) {
        const char c = body[i];
        if (in_string) {
            if (c == '\\') i++;
            else if (c == '"') in_string = 0;
        } else if (c == '"') {
            in_string = 1;
        } else if (c == ',' || c == '[' || c == '{') {
            n++;
        }
    }
    return n;
}

size_t serve_request_max_values(const serve_ctx *ctx) {
    /* --max-client-batch-size inputs of up to the model's length in token
     * ids each, a list around each, and room for the options. */
    const size_t per_input = (size_t)encore_model_max_length(ctx->model) + 2;
    return (size_t)ctx->cfg.max_client_batch_size * per_input + 1024;
}

int serve_request_parse_json(serve_ctx *ctx, const char *body, size_t len, serve_request *req, serve_reply *r) {
    memset(req, 0, sizeof *req);
    /* cJSON spends about 80 bytes on each value: a list of 1-digit ids in a
     * 2 MB body would take 80 MB. A body with more values than any valid
     * request holds is refused before it is parsed. */
    const size_t values = count_values(body, len), max_values = serve_request_max_values(ctx);
    if (values > max_values) {
        serve_reply_error(ctx, r, 413, SERVE_ERROR_VALIDATION,
                          "the request body holds about %zu JSON values, more than the %zu a request can use "
                          "(--max-client-batch-size %d inputs of up to %d token ids)",
                          values, max_values, ctx->cfg.max_client_batch_size, encore_model_max_length(ctx->model));
        return -1;
    }
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
        serve_reply_error(ctx, r, 422, SERVE_ERROR_VALIDATION, "the request body must be a JSON object");
        return -1;
    }
    req->options = req->root;
    return 0;
}

int serve_request_parse(serve_ctx *ctx, const char *body, size_t len, serve_input_form form, serve_request *req,
                        serve_reply *r) {
    if (serve_request_parse_json(ctx, body, len, req, r) != 0) return -1;
    const char *key = form_keys[form];
    const cJSON *in = cJSON_GetObjectItemCaseSensitive(req->root, key);
    if (!in) {
        serve_reply_error(ctx, r, 422, SERVE_ERROR_VALIDATION, "missing field `%s`", key);
        return -1;
    }
    int count = 0;
    int st = read_inputs(ctx, in, form, req, &count);
    if (st == -3) {
        batch_too_large(ctx, count, r);
        return -1;
    }
    if (st == -2) {
        serve_reply_error(ctx, r, 500, SERVE_ERROR_BACKEND, "out of memory reading the inputs");
        return -1;
    }
    if (st == -1) {
        serve_reply_error(ctx, r, 422, SERVE_ERROR_VALIDATION, "`%s` must be %s", key, form_shapes[form]);
        return -1;
    }
    return serve_request_check_count(ctx, req, key, r);
}

int serve_request_check_count(serve_ctx *ctx, serve_request *req, const char *key, serve_reply *r) {
    if (req->n == 0) {
        serve_reply_error(ctx, r, 400, SERVE_ERROR_EMPTY, "`%s` cannot be empty", key);
        return -1;
    }
    if (req->n > ctx->cfg.max_client_batch_size) {
        batch_too_large(ctx, req->n, r);
        return -1;
    }
    for (int i = 0; i < req->n; i++) {
        const encore_input *x = &req->inputs[i];
        if (req->ids[i] ? req->n_ids[i] == 0 : !*x->text && (!x->text_pair || !*x->text_pair)) {
            if (req->is_batch)
                serve_reply_error(ctx, r, 400, SERVE_ERROR_EMPTY, "input %d: `%s` cannot be empty", i, key);
            else
                serve_reply_error(ctx, r, 400, SERVE_ERROR_EMPTY, "`%s` cannot be empty", key);
            return -1;
        }
    }
    return 0;
}

int serve_request_bool(serve_ctx *ctx, const serve_request *req, const char *key, int dflt, int nullable, int *value,
                       serve_reply *r) {
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(req->options, key);
    if (!v || (nullable && cJSON_IsNull(v))) {
        *value = dflt;
        return 0;
    }
    if (!cJSON_IsBool(v)) {
        serve_reply_error(ctx, r, 422, SERVE_ERROR_VALIDATION, "`%s` must be true or false%s", key,
                          cJSON_IsNull(v) ? ", not null" : "");
        return -1;
    }
    *value = cJSON_IsTrue(v);
    return 0;
}

int serve_request_truncation(serve_ctx *ctx, const serve_request *req, encore_truncation_side *side, serve_reply *r) {
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(req->options, "truncation_direction");
    *side = ENCORE_TRUNCATION_SIDE_RIGHT;
    if (!v) return 0;
    /* TEI takes either spelling (huggingface_hub sends "left"/"right"). */
    const char *s = cJSON_IsString(v) ? v->valuestring : "";
    if (strcmp(s, "Right") == 0 || strcmp(s, "right") == 0) return 0;
    if (strcmp(s, "Left") == 0 || strcmp(s, "left") == 0) {
        *side = ENCORE_TRUNCATION_SIDE_LEFT;
        return 0;
    }
    serve_reply_error(ctx, r, 422, SERVE_ERROR_VALIDATION,
                      "`truncation_direction` must be \"Left\" or \"Right\" (or \"left\", \"right\")");
    return -1;
}

int serve_request_dimensions(serve_ctx *ctx, const serve_request *req, const char *key, int *dims, serve_reply *r) {
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(req->options, key);
    const int hidden = encore_model_hidden_size(ctx->model);
    *dims = 0;
    if (!v || cJSON_IsNull(v)) return 0;
    if (!cJSON_IsNumber(v) || v->valuedouble != (double)(long)v->valuedouble || v->valuedouble < 1) {
        serve_reply_error(ctx, r, 422, SERVE_ERROR_VALIDATION, "`%s` must be a whole number of at least 1", key);
        return -1;
    }
    if (v->valuedouble > hidden) {
        serve_reply_error(ctx, r, 422, SERVE_ERROR_VALIDATION,
                          "`%s` is %.0f but the model's embeddings have %d dimensions", key, v->valuedouble, hidden);
        return -1;
    }
    *dims = (int)v->valuedouble;
    return 0;
}

int serve_request_prompt(serve_ctx *ctx, const serve_request *req, const char **prompt, serve_reply *r) {
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(req->options, "prompt_name");
    *prompt = ctx->default_prompt;
    if (!v || cJSON_IsNull(v)) return 0;
    if (!cJSON_IsString(v)) {
        serve_reply_error(ctx, r, 422, SERVE_ERROR_VALIDATION, "`prompt_name` must be a string or null");
        return -1;
    }
    const cJSON *p = ctx->prompts ? cJSON_GetObjectItemCaseSensitive(ctx->prompts, v->valuestring) : NULL;
    if (!ctx->prompts) {
        serve_reply_error(ctx, r, 422, SERVE_ERROR_VALIDATION,
                          "`prompt_name` is set to `%s` but the model has no prompts (no `prompts` in "
                          "config_sentence_transformers.json)",
                          v->valuestring);
        return -1;
    }
    if (!cJSON_IsString(p)) {
        serve_buf names = {0};
        const cJSON *item;
        cJSON_ArrayForEach(item, ctx->prompts) {
            if (names.len) serve_buf_puts(&names, ", ");
            serve_buf_puts(&names, item->string);
        }
        serve_reply_error(ctx, r, 422, SERVE_ERROR_VALIDATION,
                          "Prompt name `%s` not found in the available prompts: %s", v->valuestring,
                          names.data ? names.data : "");
        serve_buf_free(&names);
        return -1;
    }
    *prompt = p->valuestring;
    return 0;
}

static long count_chars(const char *s) {
    long n = 0;
    for (; s && *s; s++) n += ((unsigned char)*s & 0xc0) != 0x80;
    return n;
}

int serve_request_tokenize(serve_ctx *ctx, serve_request *req, encore_tokenize_params params, const char *prompt,
                           serve_reply *r) {
    const double t0 = serve_now();
    req->encodings = calloc((size_t)req->n, sizeof *req->encodings);
    if (!req->encodings) {
        serve_reply_error(ctx, r, 500, SERVE_ERROR_BACKEND, "out of memory");
        return -1;
    }
    for (int i = 0; i < req->n; i++) {
        if (prompt && *prompt && !req->ids[i]) {
            if (req->inputs[i].text_pair) {
                serve_reply_error(ctx, r, 422, SERVE_ERROR_VALIDATION, "a prompt cannot be used with a pair of texts");
                return -1;
            }
            const size_t pl = strlen(prompt), tl = strlen(req->inputs[i].text);
            req->owned[i] = malloc(pl + tl + 1);
            if (!req->owned[i]) {
                serve_reply_error(ctx, r, 500, SERVE_ERROR_BACKEND, "out of memory");
                return -1;
            }
            /* sentence-transformers' encode: prompt + sentence. */
            memcpy(req->owned[i], prompt, pl);
            memcpy(req->owned[i] + pl, req->inputs[i].text, tl + 1);
            req->inputs[i].text = req->owned[i];
        }
        encore_status st =
            req->ids[i] ? encore_model_encoding_from_ids(ctx->model, req->ids[i], req->n_ids[i], params,
                                                         &req->encodings[i])
                        : encore_model_tokenize_with(ctx->model, req->inputs[i], params, &req->encodings[i]);
        if (st != ENCORE_STATUS_OK) {
            char where[32] = "";
            if (req->is_batch) snprintf(where, sizeof where, "input %d: ", i);
            if (st == ENCORE_STATUS_TOO_LONG)
                serve_reply_error(ctx, r, 422, SERVE_ERROR_VALIDATION, "Input validation error: %s%s", where,
                                  encore_last_error());
            else if (st == ENCORE_STATUS_BAD_INPUT && req->ids[i])
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
    for (int i = 0; req->ids && i < req->n; i++) free(req->ids[i]);
    for (int i = 0; req->owned && i < req->n; i++) free(req->owned[i]);
    free(req->encodings);
    free(req->ids);
    free(req->n_ids);
    free(req->owned);
    free(req->inputs);
    cJSON_Delete(req->root);
    memset(req, 0, sizeof *req);
}
