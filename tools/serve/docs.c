/* docs.c: GET /docs, the API's documentation for a person: an HTML page
 * made from the compiled-in OpenAPI document (tools/serve/openapi.json), so
 * that the two never differ. Plain HTML, no scripts: each route with its
 * summary, description, request body and responses, then every schema. */
#include "server.h"
#include "json_buf.h"

#include <cJSON.h>
#include <stdlib.h>
#include <string.h>

extern const unsigned char serve_openapi_json[];
extern const size_t serve_openapi_json_len;

static void put_escaped(serve_buf *b, const char *s) {
    for (; s && *s; s++) {
        switch (*s) {
        case '<': serve_buf_puts(b, "&lt;"); break;
        case '>': serve_buf_puts(b, "&gt;"); break;
        case '&': serve_buf_puts(b, "&amp;"); break;
        case '"': serve_buf_puts(b, "&quot;"); break;
        default: serve_buf_append(b, s, 1);
        }
    }
}

static const char *string_of(const cJSON *obj, const char *key) {
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(obj, key);
    return cJSON_IsString(v) ? v->valuestring : NULL;
}

/* The schema a "$ref" names ("#/components/schemas/X" -> X), or its type. */
static void put_schema_name(serve_buf *b, const cJSON *content) {
    const cJSON *media;
    cJSON_ArrayForEach(media, content) {
        const cJSON *schema = cJSON_GetObjectItemCaseSensitive(media, "schema");
        const char *ref = string_of(schema, "$ref");
        serve_buf_puts(b, "<code>");
        put_escaped(b, media->string);
        serve_buf_puts(b, "</code> ");
        if (ref && strrchr(ref, '/')) {
            const char *name = strrchr(ref, '/') + 1;
            serve_buf_puts(b, "<a href=\"#schema-");
            put_escaped(b, name);
            serve_buf_puts(b, "\">");
            put_escaped(b, name);
            serve_buf_puts(b, "</a> ");
        } else if (string_of(schema, "type")) {
            put_escaped(b, string_of(schema, "type"));
            serve_buf_puts(b, " ");
        }
    }
}

static void put_operation(serve_buf *b, const char *path, const char *method, const cJSON *op) {
    serve_buf_puts(b, "<h3><code>");
    for (const char *m = method; *m; m++) serve_buf_printf(b, "%c", *m >= 'a' && *m <= 'z' ? *m - 'a' + 'A' : *m);
    serve_buf_puts(b, " ");
    put_escaped(b, path);
    serve_buf_puts(b, "</code> ");
    put_escaped(b, string_of(op, "summary"));
    serve_buf_puts(b, "</h3>\n");
    if (string_of(op, "description")) {
        serve_buf_puts(b, "<p>");
        put_escaped(b, string_of(op, "description"));
        serve_buf_puts(b, "</p>\n");
    }
    const cJSON *body = cJSON_GetObjectItemCaseSensitive(op, "requestBody");
    if (body) {
        serve_buf_puts(b, "<p>Request body: ");
        put_schema_name(b, cJSON_GetObjectItemCaseSensitive(body, "content"));
        serve_buf_puts(b, "</p>\n");
    }
    serve_buf_puts(b, "<table><tr><th>status</th><th>meaning</th><th>body</th></tr>\n");
    const cJSON *resp;
    cJSON_ArrayForEach(resp, cJSON_GetObjectItemCaseSensitive(op, "responses")) {
        serve_buf_puts(b, "<tr><td>");
        put_escaped(b, resp->string);
        serve_buf_puts(b, "</td><td>");
        put_escaped(b, string_of(resp, "description"));
        serve_buf_puts(b, "</td><td>");
        put_schema_name(b, cJSON_GetObjectItemCaseSensitive(resp, "content"));
        serve_buf_puts(b, "</td></tr>\n");
    }
    serve_buf_puts(b, "</table>\n");
}

char *serve_docs_html(size_t *len) {
    cJSON *doc = cJSON_ParseWithLength((const char *)serve_openapi_json, serve_openapi_json_len);
    if (!doc) return NULL;
    serve_buf b = {0};
    const cJSON *info = cJSON_GetObjectItemCaseSensitive(doc, "info");
    serve_buf_puts(&b, "<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\"><title>");
    put_escaped(&b, string_of(info, "title"));
    serve_buf_puts(&b, " API</title>\n<style>body{font-family:sans-serif;max-width:60em;margin:2em auto;padding:0 1em}"
                       "code,pre{background:#f4f4f4}table{border-collapse:collapse}"
                       "td,th{border:1px solid #ccc;padding:.2em .5em;text-align:left;vertical-align:top}"
                       "pre{padding:.5em;overflow-x:auto}</style></head><body>\n<h1>");
    put_escaped(&b, string_of(info, "title"));
    serve_buf_puts(&b, " ");
    put_escaped(&b, string_of(info, "version"));
    serve_buf_puts(&b, "</h1>\n<p>");
    put_escaped(&b, string_of(info, "description"));
    serve_buf_puts(&b, "</p>\n<p>The same API as an OpenAPI 3 document: <a href=\"/openapi.json\">/openapi.json</a>."
                       "</p>\n<h2>Routes</h2>\n");
    const cJSON *path;
    cJSON_ArrayForEach(path, cJSON_GetObjectItemCaseSensitive(doc, "paths")) {
        const cJSON *op;
        cJSON_ArrayForEach(op, path) put_operation(&b, path->string, op->string, op);
    }
    serve_buf_puts(&b, "<h2>Schemas</h2>\n");
    const cJSON *schema;
    cJSON_ArrayForEach(schema, cJSON_GetObjectItemCaseSensitive(cJSON_GetObjectItemCaseSensitive(doc, "components"),
                                                                 "schemas")) {
        serve_buf_puts(&b, "<h3 id=\"schema-");
        put_escaped(&b, schema->string);
        serve_buf_puts(&b, "\">");
        put_escaped(&b, schema->string);
        serve_buf_puts(&b, "</h3>\n<pre>");
        char *text = cJSON_Print(schema);
        if (!text) b.failed = 1;
        put_escaped(&b, text);
        cJSON_free(text);
        serve_buf_puts(&b, "</pre>\n");
    }
    serve_buf_puts(&b, "</body></html>\n");
    cJSON_Delete(doc);
    return serve_buf_take(&b, len);
}
