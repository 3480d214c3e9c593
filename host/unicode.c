/* unicode.c: UTF-8 validation and the character classes of BERT's
 * tokenizer, on top of utf8proc's character database. Each predicate follows
 * the Rust definition that Hugging Face tokenizers uses. */
#include "unicode.h"

#include <utf8proc.h>

size_t encore_utf8_validate(const char *s, size_t len) {
    const unsigned char *p = (const unsigned char *)s;
    size_t i = 0;
    while (i < len) {
        unsigned char b = p[i];
        if (b < 0x80) {
            i++;
            continue;
        }
        /* The lead byte fixes the length and the range of the second byte:
         * that range excludes overlong forms, surrogates and > U+10FFFF. */
        size_t n;
        unsigned char lo = 0x80, hi = 0xBF;
        if (b >= 0xC2 && b <= 0xDF) {
            n = 2;
        } else if (b >= 0xE0 && b <= 0xEF) {
            n = 3;
            if (b == 0xE0) lo = 0xA0;
            if (b == 0xED) hi = 0x9F;
        } else if (b >= 0xF0 && b <= 0xF4) {
            n = 4;
            if (b == 0xF0) lo = 0x90;
            if (b == 0xF4) hi = 0x8F;
        } else {
            return i; /* a stray continuation byte, C0, C1 or F5..FF */
        }
        if (len - i < n || p[i + 1] < lo || p[i + 1] > hi) return i;
        for (size_t k = 2; k < n; k++)
            if ((p[i + k] & 0xC0) != 0x80) return i;
        i += n;
    }
    return len;
}

uint32_t encore_utf8_decode(const char *s, size_t *pos) {
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

int encore_unicode_is_whitespace(uint32_t c) {
    /* The White_Space property, which Rust's char::is_whitespace tests. */
    if (c >= 0x09 && c <= 0x0D) return 1;
    switch (c) {
    case 0x20: case 0x85: case 0xA0: case 0x1680: case 0x2028: case 0x2029:
    case 0x202F: case 0x205F: case 0x3000:
        return 1;
    default:
        return c >= 0x2000 && c <= 0x200A;
    }
}

int encore_unicode_is_control(uint32_t c) {
    if (c == '\t' || c == '\n' || c == '\r') return 0;
    switch (utf8proc_category((utf8proc_int32_t)c)) {
    case UTF8PROC_CATEGORY_CC: case UTF8PROC_CATEGORY_CF: case UTF8PROC_CATEGORY_CS:
    case UTF8PROC_CATEGORY_CO: case UTF8PROC_CATEGORY_CN:
        return 1;
    default:
        return 0;
    }
}

int encore_unicode_is_chinese(uint32_t c) {
    /* tokenizers' list (normalizers/bert.rs). Note its fifth range starts at
     * U+2B920, not U+2B820 as in Google's original BERT. */
    return (c >= 0x4E00 && c <= 0x9FFF) || (c >= 0x3400 && c <= 0x4DBF) ||
           (c >= 0x20000 && c <= 0x2A6DF) || (c >= 0x2A700 && c <= 0x2B73F) ||
           (c >= 0x2B740 && c <= 0x2B81F) || (c >= 0x2B920 && c <= 0x2CEAF) ||
           (c >= 0xF900 && c <= 0xFAFF) || (c >= 0x2F800 && c <= 0x2FA1F);
}

int encore_unicode_is_punctuation(uint32_t c) {
    /* Rust's is_ascii_punctuation also takes $ + < = > ^ ` | ~ (symbols). */
    if ((c >= 0x21 && c <= 0x2F) || (c >= 0x3A && c <= 0x40) || (c >= 0x5B && c <= 0x60) ||
        (c >= 0x7B && c <= 0x7E))
        return 1;
    switch (utf8proc_category((utf8proc_int32_t)c)) {
    case UTF8PROC_CATEGORY_PC: case UTF8PROC_CATEGORY_PD: case UTF8PROC_CATEGORY_PS:
    case UTF8PROC_CATEGORY_PE: case UTF8PROC_CATEGORY_PI: case UTF8PROC_CATEGORY_PF:
    case UTF8PROC_CATEGORY_PO:
        return 1;
    default:
        return 0;
    }
}

int encore_unicode_is_word(uint32_t c) {
    /* Rust regex \w: Alphabetic, M, Nd, Pc, Join_Control. Alphabetic is the
     * letters and Nl plus Other_Alphabetic, whose only code points outside M
     * are the circled and squared Latin letters tested below. */
    if (c == 0x200C || c == 0x200D) return 1;
    if ((c >= 0x24B6 && c <= 0x24E9) || (c >= 0x1F130 && c <= 0x1F149) ||
        (c >= 0x1F150 && c <= 0x1F169) || (c >= 0x1F170 && c <= 0x1F189))
        return 1;
    switch (utf8proc_category((utf8proc_int32_t)c)) {
    case UTF8PROC_CATEGORY_LU: case UTF8PROC_CATEGORY_LL: case UTF8PROC_CATEGORY_LT:
    case UTF8PROC_CATEGORY_LM: case UTF8PROC_CATEGORY_LO: case UTF8PROC_CATEGORY_NL:
    case UTF8PROC_CATEGORY_MN: case UTF8PROC_CATEGORY_MC: case UTF8PROC_CATEGORY_ME:
    case UTF8PROC_CATEGORY_ND: case UTF8PROC_CATEGORY_PC:
        return 1;
    default:
        return 0;
    }
}

int encore_unicode_is_nonspacing_mark(uint32_t c) {
    return utf8proc_category((utf8proc_int32_t)c) == UTF8PROC_CATEGORY_MN;
}

int encore_unicode_combining_class(uint32_t c) {
    return utf8proc_get_property((utf8proc_int32_t)c)->combining_class;
}

int encore_unicode_decompose(uint32_t c, uint32_t out[ENCORE_UNICODE_MAX_DECOMPOSITION]) {
    utf8proc_int32_t buf[ENCORE_UNICODE_MAX_DECOMPOSITION];
    int last_boundclass = 0;
    utf8proc_ssize_t n = utf8proc_decompose_char((utf8proc_int32_t)c, buf,
                                                 ENCORE_UNICODE_MAX_DECOMPOSITION,
                                                 UTF8PROC_DECOMPOSE, &last_boundclass);
    if (n <= 0 || n > ENCORE_UNICODE_MAX_DECOMPOSITION) {
        out[0] = c; /* cannot happen for a valid code point */
        return 1;
    }
    for (utf8proc_ssize_t i = 0; i < n; i++) out[i] = (uint32_t)buf[i];
    return (int)n;
}

int encore_unicode_lowercase(uint32_t c, uint32_t out[2]) {
    if (c < 0x80) {
        out[0] = (c >= 'A' && c <= 'Z') ? c + 32 : c;
        return 1;
    }
    /* The one unconditional multi-character lowercase mapping of
     * SpecialCasing.txt; utf8proc gives only the simple mapping 'i'. */
    if (c == 0x130) {
        out[0] = 'i';
        out[1] = 0x307;
        return 2;
    }
    out[0] = (uint32_t)utf8proc_tolower((utf8proc_int32_t)c);
    return 1;
}
