/* json_write.c: see json_write.h. */
#include "json_write.h"

#include "encore.h"

#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>

/* Whether "%.*e" of v with prec digits after the point reads back as v. */
static int round_trips(double v, int as_float32, int prec, char *sci, size_t len) {
    snprintf(sci, len, "%.*e", prec, v);
    return as_float32 ? strtof(sci, NULL) == (float)v : strtod(sci, NULL) == v;
}

int tools_json_shortest_digits(double v, int as_float32, char digits[18], int *exp10) {
    /* Correctly rounded p-digit decimals are never further from v than the
     * (p-1)-digit ones, so the first p that reads back is the shortest. Most
     * scores and embeddings need 7 to 9 digits of a float32, short values
     * such as 0.5 need few: try 6 first, then the counts below or above. 9
     * digits always read back as a float32, 17 as a double. */
    char sci[40];
    int lo = 0, hi = 5; /* precisions: digits after the point */
    if (!round_trips(v, as_float32, hi, sci, sizeof sci)) lo = 6, hi = as_float32 ? 8 : 16;
    int prec = lo;
    while (prec < hi && !round_trips(v, as_float32, prec, sci, sizeof sci)) prec++;
    if (prec == hi) snprintf(sci, sizeof sci, "%.*e", hi, v);
    /* sci = [-]d[.ddd]e[+-]xx */
    const char *s = sci + (sci[0] == '-');
    int nd = 0;
    for (; *s && *s != 'e'; s++)
        if (*s != '.' && nd < 17) digits[nd++] = *s;
    while (nd > 1 && digits[nd - 1] == '0') nd--;
    digits[nd] = '\0';
    *exp10 = atoi(s + 1);
    return nd;
}

size_t tools_json_format_float(double v, int as_float32, tools_json_dialect dialect, char *buf, size_t len) {
    const char *special = NULL;
    if (isnan(v)) special = dialect == TOOLS_JSON_PYTHON ? "NaN" : "null";
    else if (isinf(v)) special = dialect == TOOLS_JSON_UTF8 ? "null" : v > 0 ? "Infinity" : "-Infinity";
    if (special) {
        const int n = snprintf(buf, len, "%s", special);
        return n < 0 ? 0 : (size_t)n < len ? (size_t)n : len - 1;
    }
    char digits[18];
    int exp;
    const int nd = tools_json_shortest_digits(v, as_float32, digits, &exp);
    /* Fixed or exponent form: Python's repr switches at 1e-4 and 1e16; C's
     * %g at 1e-4 and at 10^(digits), the precision it was given. */
    const int fixed = exp >= -4 && exp < (dialect == TOOLS_JSON_PYTHON ? 16 : nd);
    char *o = buf;
    char *end = buf + len - 1;
#define PUT(c) do { if (o < end) *o++ = (c); } while (0)
    if (signbit(v)) PUT('-');
    if (fixed && exp < 0) {
        PUT('0');
        PUT('.');
        for (int i = 0; i < -exp - 1; i++) PUT('0');
        for (int i = 0; i < nd; i++) PUT(digits[i]);
    } else if (fixed) {
        for (int i = 0; i <= exp; i++) PUT(i < nd ? digits[i] : '0');
        PUT('.');
        if (nd > exp + 1)
            for (int i = exp + 1; i < nd; i++) PUT(digits[i]);
        else
            PUT('0');
    } else {
        PUT(digits[0]);
        if (nd > 1) {
            PUT('.');
            for (int i = 1; i < nd; i++) PUT(digits[i]);
        }
        char e[16];
        snprintf(e, sizeof e, "e%c%02d", exp < 0 ? '-' : '+', abs(exp));
        for (char *c = e; *c; c++) PUT(*c);
    }
#undef PUT
    *o = '\0';
    return (size_t)(o - buf);
}

void tools_json_write_string(tools_json_sink sink, void *ctx, const char *s, size_t n, tools_json_dialect dialect) {
    static const char hex[] = "0123456789abcdef";
    sink(ctx, "\"", 1);
    size_t run = 0; /* bytes before s + i written as they are, not yet sent */
    for (size_t i = 0; i < n;) {
        uint32_t c = (unsigned char)s[i];
        int bytes = 1;
        if (c >= 0x80) bytes = encore_utf8_decode(s + i, n - i, &c); /* 0 and U+FFFD: not UTF-8 */
        const int as_is = bytes > 0 && c >= 0x20 && c != '"' && c != '\\' && (dialect == TOOLS_JSON_UTF8 || c < 0x7f);
        if (as_is) {
            run += (size_t)bytes;
            i += (size_t)bytes;
            continue;
        }
        if (run) sink(ctx, s + i - run, run);
        run = 0;
        char esc[16] = {'\\', 0};
        size_t k = 2;
        switch (c) {
        case '"': esc[1] = '"'; break;
        case '\\': esc[1] = '\\'; break;
        case '\n': esc[1] = 'n'; break;
        case '\r': esc[1] = 'r'; break;
        case '\t': esc[1] = 't'; break;
        case '\b': esc[1] = 'b'; break;
        case '\f': esc[1] = 'f'; break;
        default:
            if (c >= 0x10000) { /* only in TOOLS_JSON_PYTHON: a surrogate pair */
                c -= 0x10000;
                k = (size_t)snprintf(esc, sizeof esc, "\\u%04x\\u%04x", (unsigned)(0xd800 + (c >> 10)),
                                     (unsigned)(0xdc00 + (c & 0x3ff)));
            } else {
                esc[1] = 'u';
                esc[2] = hex[(c >> 12) & 15];
                esc[3] = hex[(c >> 8) & 15];
                esc[4] = hex[(c >> 4) & 15];
                esc[5] = hex[c & 15];
                k = 6;
            }
        }
        sink(ctx, esc, k);
        i += bytes > 0 ? (size_t)bytes : 1;
    }
    if (run) sink(ctx, s + n - run, run);
    sink(ctx, "\"", 1);
}
