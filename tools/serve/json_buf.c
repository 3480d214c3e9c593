/* json_buf.c: JSON text for responses; see json_buf.h. */
#include "json_buf.h"

#include "encore.h"

#include <math.h>
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

void serve_buf_json_string(serve_buf *b, const char *str, size_t n) {
    static const char hex[] = "0123456789abcdef";
    const unsigned char *s = (const unsigned char *)str;
    if (!reserve(b, n + 2)) return;
    b->data[b->len++] = '"';
    size_t run = 0; /* bytes before s + i that need no escape, not yet copied */
    for (size_t i = 0; i < n;) {
        const unsigned char c = s[i];
        const size_t seq = c >= 0x80 ? (size_t)encore_utf8_decode(str + i, n - i, NULL) : 1;
        if (seq > 0 && c >= 0x20 && c != '"' && c != '\\') {
            run += seq;
            i += seq;
            continue;
        }
        serve_buf_append(b, str + i - run, run);
        run = 0;
        char esc[8] = {'\\', 0};
        switch (c) {
        case '"': esc[1] = '"'; break;
        case '\\': esc[1] = '\\'; break;
        case '\n': esc[1] = 'n'; break;
        case '\r': esc[1] = 'r'; break;
        case '\t': esc[1] = 't'; break;
        case '\b': esc[1] = 'b'; break;
        case '\f': esc[1] = 'f'; break;
        default:
            if (seq == 0) {
                memcpy(esc + 1, "ufffd", 5); /* not UTF-8: U+FFFD, one byte at a time */
            } else {
                memcpy(esc + 1, "u00", 3);
                esc[4] = hex[c >> 4];
                esc[5] = hex[c & 15];
            }
        }
        serve_buf_puts(b, esc);
        i++;
    }
    serve_buf_append(b, str + n - run, run);
    serve_buf_append(b, "\"", 1);
}

void serve_buf_json_cstring(serve_buf *b, const char *s) { serve_buf_json_string(b, s, strlen(s)); }

void serve_buf_json_float(serve_buf *b, float v) {
    if (!isfinite(v)) {
        serve_buf_puts(b, "null");
        return;
    }
    /* Fewest significant digits that read back to v: 9 always do for a
     * float32. Start at 6 (most scores and embeddings need 7 to 9, short
     * values such as 0.5 need fewer) to keep the common case to few tries. */
    char out[40];
    int p = 6;
    snprintf(out, sizeof out, "%.*g", p, (double)v);
    if (strtof(out, NULL) == v) {
        for (int q = 1; q < p; q++) {
            char shorter[40];
            snprintf(shorter, sizeof shorter, "%.*g", q, (double)v);
            if (strtof(shorter, NULL) == v) {
                memcpy(out, shorter, sizeof out);
                break;
            }
        }
    } else {
        for (p = 7; p <= 9; p++) {
            snprintf(out, sizeof out, "%.*g", p, (double)v);
            if (strtof(out, NULL) == v) break;
        }
    }
    serve_buf_puts(b, out);
    if (!strpbrk(out, ".e")) serve_buf_puts(b, ".0");
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
