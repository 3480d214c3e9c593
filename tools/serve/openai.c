/* openai.c: POST /v1/embeddings, OpenAI's embeddings API over the same
 * embeddings as /embed: its request and response shapes, base64 floats, and
 * its error shape. */
#include "inference.h"

#include <stdlib.h>
#include <string.h>

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
    serve_embed_options o;
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
    } else if (serve_embed_options_read(ctx, &req, 1, &o, r) == 0 && serve_admit(ctx, r) == 0) {
        base64 = cJSON_IsString(fmt) && strcmp(fmt->valuestring, "base64") == 0;
        serve_job job;
        float *out = NULL;
        int C = 0;
        if (serve_embed_run(ctx, &req, &o, &job, &out, &C, r) == 0) {
            serve_buf b = {0};
            serve_buf_puts(&b, "{\"object\":\"list\",\"data\":[");
            for (int i = 0; i < req.n; i++) {
                serve_buf_puts(&b, i ? ",{\"object\":\"embedding\",\"embedding\":" : "{\"object\":\"embedding\",\"embedding\":");
                if (base64) write_base64_floats(&b, out + (size_t)i * C, C);
                else serve_write_vector(&b, out + (size_t)i * C, C);
                serve_buf_printf(&b, ",\"index\":%d}", i);
            }
            serve_buf_puts(&b, "],\"model\":");
            serve_buf_json_cstring(&b, ctx->cfg.served_model_name);
            serve_buf_printf(&b, ",\"usage\":{\"prompt_tokens\":%ld,\"total_tokens\":%ld}}", req.n_tokens,
                             req.n_tokens);
            serve_reply_body(ctx, &b, r);
            serve_finish(ctx, &req, &job, t_start, r);
        }
        free(out);
        serve_release(ctx);
    }
    if (r->status >= 400) openai_error(r);
    serve_request_free(&req);
}
