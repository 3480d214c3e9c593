/* json_buf.c: JSON text for responses; see json_buf.h. */
#include "json_buf.h"

#include "json_write.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

void serve_buf_free(serve_buf *b) {
    free(b->data);
    b->data = NULL;
    b->len = b->cap = 0;
}

static int reserve(serve_buf *b, size_t extra) {
    if (b->failed) return 0;
    if (b->len + extra + 1 <= b->cap) return 1;
    size_t cap = b->cap ? b->cap : 256;
    while (cap < b->len + extra + 1) cap *= 2;
    char *p = realloc(b->data, cap);
    if (!p) {
        b->failed = 1;
        return 0;
    }
    b->data = p;
    b->cap = cap;
    return 1;
}

void serve_buf_append(serve_buf *b, const char *s, size_t n) {
    if (!reserve(b, n)) return;
    memcpy(b->data + b->len, s, n);
    b->len += n;
    b->data[b->len] = '\0';
}

void serve_buf_puts(serve_buf *b, const char *s) { serve_buf_append(b, s, strlen(s)); }

void serve_buf_printf(serve_buf *b, const char *fmt, ...) {
    char small[256];
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(small, sizeof small, fmt, ap);
    va_end(ap);
    if (n < 0) return;
    if ((size_t)n < sizeof small) {
        serve_buf_append(b, small, (size_t)n);
        return;
    }
    if (!reserve(b, (size_t)n)) return;
    va_start(ap, fmt);
    vsnprintf(b->data + b->len, (size_t)n + 1, fmt, ap);
    va_end(ap);
    b->len += (size_t)n;
}

static void buf_sink(void *b, const char *s, size_t n) { serve_buf_append(b, s, n); }

void serve_buf_json_string(serve_buf *b, const char *s, size_t n) {
    if (!reserve(b, n + 2)) return;
    tools_json_write_string(buf_sink, b, s, n, TOOLS_JSON_UTF8);
}

void serve_buf_json_cstring(serve_buf *b, const char *s) { serve_buf_json_string(b, s, strlen(s)); }

void serve_buf_json_float(serve_buf *b, float v) {
    char out[TOOLS_JSON_NUMBER_MAX];
    serve_buf_append(b, out, tools_json_format_float((double)v, 1, TOOLS_JSON_UTF8, out, sizeof out));
}

char *serve_buf_take(serve_buf *b, size_t *len) {
    if (b->failed || !reserve(b, 0)) {
        serve_buf_free(b);
        b->failed = 0;
        return NULL;
    }
    char *p = b->data;
    if (len) *len = b->len;
    b->data = NULL;
    b->len = b->cap = 0;
    return p;
}
