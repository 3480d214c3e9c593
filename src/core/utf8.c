/* utf8.c: UTF-8 as the Unicode standard defines it (Table 3-7, "Well-Formed
 * UTF-8 Byte Sequences"): no overlong forms, no surrogates, nothing past
 * U+10FFFF, no truncated sequences. */
#include "core/utf8.h"

int encore_utf8_decode(const char *s, size_t len, uint32_t *codepoint) {
    const unsigned char *p = (const unsigned char *)s;
    if (codepoint) *codepoint = 0xFFFD;
    if (!s || len == 0) return 0;
    const unsigned char b = p[0];
    if (b < 0x80) {
        if (codepoint) *codepoint = b;
        return 1;
    }
    /* The lead byte fixes the length and the range of the second byte:
     * that range excludes overlong forms, surrogates and > U+10FFFF. */
    int n;
    unsigned char lo = 0x80, hi = 0xBF;
    uint32_t c;
    if (b >= 0xC2 && b <= 0xDF) {
        n = 2;
        c = b & 0x1Fu;
    } else if (b >= 0xE0 && b <= 0xEF) {
        n = 3;
        c = b & 0x0Fu;
        if (b == 0xE0) lo = 0xA0;
        if (b == 0xED) hi = 0x9F;
    } else if (b >= 0xF0 && b <= 0xF4) {
        n = 4;
        c = b & 0x07u;
        if (b == 0xF0) lo = 0x90;
        if (b == 0xF4) hi = 0x8F;
    } else {
        return 0; /* a stray continuation byte, C0, C1 or F5..FF */
    }
    if (len < (size_t)n || p[1] < lo || p[1] > hi) return 0;
    for (int k = 1; k < n; k++) {
        if ((p[k] & 0xC0) != 0x80) return 0;
        c = (c << 6) | (p[k] & 0x3Fu);
    }
    if (codepoint) *codepoint = c;
    return n;
}

size_t encore_utf8_validate(const char *s, size_t len) {
    if (!s) return 0;
    const unsigned char *p = (const unsigned char *)s;
    size_t i = 0;
    while (i < len) {
        if (p[i] < 0x80) {
            i++;
            continue;
        }
        const int n = encore_utf8_decode(s + i, len - i, NULL);
        if (n == 0) return i;
        i += (size_t)n;
    }
    return len;
}

uint32_t encore_utf8_next(const char *s, size_t *pos) {
    const unsigned char *p = (const unsigned char *)s + *pos;
    uint32_t c = p[0];
    if (c < 0x80) {
        *pos += 1;
    } else if (c < 0xE0) {
        c = ((c & 0x1F) << 6) | (p[1] & 0x3F);
        *pos += 2;
    } else if (c < 0xF0) {
        c = ((c & 0x0F) << 12) | ((uint32_t)(p[1] & 0x3F) << 6) | (p[2] & 0x3F);
        *pos += 3;
    } else {
        c = ((c & 0x07) << 18) | ((uint32_t)(p[1] & 0x3F) << 12) |
            ((uint32_t)(p[2] & 0x3F) << 6) | (p[3] & 0x3F);
        *pos += 4;
    }
    return c;
}

int encore_utf8_encode(uint32_t c, char *out) {
    unsigned char *o = (unsigned char *)out;
    if (c < 0x80) {
        o[0] = (unsigned char)c;
        return 1;
    }
    if (c < 0x800) {
        o[0] = (unsigned char)(0xC0 | (c >> 6));
        o[1] = (unsigned char)(0x80 | (c & 0x3F));
        return 2;
    }
    if (c < 0x10000) {
        o[0] = (unsigned char)(0xE0 | (c >> 12));
        o[1] = (unsigned char)(0x80 | ((c >> 6) & 0x3F));
        o[2] = (unsigned char)(0x80 | (c & 0x3F));
        return 3;
    }
    o[0] = (unsigned char)(0xF0 | (c >> 18));
    o[1] = (unsigned char)(0x80 | ((c >> 12) & 0x3F));
    o[2] = (unsigned char)(0x80 | ((c >> 6) & 0x3F));
    o[3] = (unsigned char)(0x80 | (c & 0x3F));
    return 4;
}
