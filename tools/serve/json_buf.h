/* json_buf.h: a growable byte buffer that writes JSON text for the server's
 * responses. A failed allocation sets `failed` and turns every later append
 * into a no-op, so callers check once at the end. */
#ifndef ENCORE_SERVE_JSON_BUF_H
#define ENCORE_SERVE_JSON_BUF_H

#include <stddef.h>

typedef struct serve_buf {
    char *data;      /* (cap) always NUL-terminated when non-NULL */
    size_t len, cap;
    int failed;      /* an allocation failed; the content is incomplete */
} serve_buf;

void serve_buf_free(serve_buf *b);
void serve_buf_append(serve_buf *b, const char *s, size_t n);
void serve_buf_puts(serve_buf *b, const char *s);
void serve_buf_printf(serve_buf *b, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

/* A JSON string of the n bytes at s: quotes, backslashes and control
 * characters escaped, UTF-8 as it is, bytes that are not UTF-8 as U+FFFD. */
void serve_buf_json_string(serve_buf *b, const char *s, size_t n);
void serve_buf_json_cstring(serve_buf *b, const char *s);

/* The shortest decimal that reads back as the same float32 (serde_json and
 * numpy print floats this way), with ".0" on whole numbers; NaN and
 * infinities, which JSON cannot hold, as null. */
void serve_buf_json_float(serve_buf *b, float v);

/* Hand the text over to the caller (free() it); NULL when an allocation
 * failed. The buffer is left empty. */
char *serve_buf_take(serve_buf *b, size_t *len);

#endif /* ENCORE_SERVE_JSON_BUF_H */
