/* json_out.c: number and string formatting in Python's json.dumps style. */
#include "json_out.h"

#include "encore.h"

#include <math.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

void json_format_number(double v, int as_float32, char *buf, size_t len) {
    if (isnan(v)) {
        snprintf(buf, len, "NaN");
        return;
    }
    if (isinf(v)) {
        snprintf(buf, len, v > 0 ? "Infinity" : "-Infinity");
        return;
    }
    /* Shortest mantissa that round-trips. */
    char sci[40];
    for (int p = 0; p < 17; p++) {
        snprintf(sci, sizeof sci, "%.*e", p, v);
        if (as_float32 ? strtof(sci, NULL) == (float)v : strtod(sci, NULL) == v) break;
    }
    /* sci = [-]d[.ddd]e[+-]xx: split into sign, digits and exponent. */
    const char *s = sci;
    int neg = 0;
    if (*s == '-') {
        neg = 1;
        s++;
    }
    char digits[24];
    int nd = 0;
    for (; *s && *s != 'e'; s++)
        if (*s != '.') digits[nd++] = *s;
    digits[nd] = '\0';
    while (nd > 1 && digits[nd - 1] == '0') digits[--nd] = '\0';
    int exp = atoi(s + 1);
    char *o = buf;
    char *end = buf + len - 1;
#define PUT(c) do { if (o < end) *o++ = (c); } while (0)
    if (neg) PUT('-');
    if (exp >= -4 && exp < 16) {
        if (exp < 0) {
            PUT('0');
            PUT('.');
            for (int i = 0; i < -exp - 1; i++) PUT('0');
            for (int i = 0; i < nd; i++) PUT(digits[i]);
        } else {
            for (int i = 0; i <= exp; i++) PUT(i < nd ? digits[i] : '0');
            PUT('.');
            if (nd > exp + 1)
                for (int i = exp + 1; i < nd; i++) PUT(digits[i]);
            else
                PUT('0');
        }
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
}

void json_write_string(FILE *f, const char *str) {
    size_t left = strlen(str);
    fputc('"', f);
    while (left > 0) {
        uint32_t cp; /* U+FFFD for a byte that is not UTF-8, one byte at a time */
        const int n = encore_utf8_decode(str, left, &cp);
        const size_t step = n > 0 ? (size_t)n : 1;
        str += step;
        left -= step;
        switch (cp) {
        case '"': fputs("\\\"", f); break;
        case '\\': fputs("\\\\", f); break;
        case '\n': fputs("\\n", f); break;
        case '\r': fputs("\\r", f); break;
        case '\t': fputs("\\t", f); break;
        case '\b': fputs("\\b", f); break;
        case '\f': fputs("\\f", f); break;
        default:
            if (cp < 0x20 || (cp >= 0x7f && cp < 0x10000)) {
                fprintf(f, "\\u%04x", cp);
            } else if (cp >= 0x10000) {
                cp -= 0x10000;
                fprintf(f, "\\u%04x\\u%04x", 0xd800 + (cp >> 10), 0xdc00 + (cp & 0x3ff));
            } else {
                fputc((int)cp, f);
            }
        }
    }
    fputc('"', f);
}

void json_rank_labels(const float *scores, int L, int *order) {
    for (int i = 0; i < L; i++) order[i] = i;
    for (int i = 1; i < L; i++) {
        int o = order[i], j = i;
        while (j > 0 && scores[order[j - 1]] < scores[o]) {
            order[j] = order[j - 1];
            j--;
        }
        order[j] = o;
    }
}
