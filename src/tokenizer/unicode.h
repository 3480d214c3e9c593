/* unicode.h: the Unicode character classes the tokenizer needs,
 * each defined the way Hugging Face tokenizers (Rust) defines it. */
#ifndef ENCORE_UNICODE_H
#define ENCORE_UNICODE_H

#include "core/utf8.h"

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

/* Longest canonical decomposition of one code point (Unicode has 4). */
#define ENCORE_UNICODE_MAX_DECOMPOSITION 8

/* Rust's char::is_whitespace: the White_Space property. */
int encore_unicode_is_whitespace(uint32_t c);

/* BERT's "control" as tokenizers has it: Cc, Co and the Unicode 8.0 Cf,
 * except \t \n \r (U+0000 and U+FFFD are in the table too). */
int encore_unicode_is_control(uint32_t c);

/* BERT's CJK ideograph ranges, as tokenizers' BertNormalizer lists them. */
int encore_unicode_is_chinese(uint32_t c);

/* BERT's punctuation: ASCII punctuation, or Pc Pd Ps Pe Pi Pf Po as of Unicode 8.0. */
int encore_unicode_is_punctuation(uint32_t c);

/* A regex \w character: letters, marks, decimal digits, Pc, joiners. */
int encore_unicode_is_word(uint32_t c);

/* Oniguruma's \p{L} and \p{N} (Unicode 16.0), as the GPT-2 pattern of
 * tokenizers' ByteLevel pre-tokenizer sees them. Its \s is
 * encore_unicode_is_whitespace. */
int encore_unicode_is_letter(uint32_t c);
int encore_unicode_is_number(uint32_t c);

/* General category Mn as of Unicode 8.0 (what tokenizers strips as accents). */
int encore_unicode_is_nonspacing_mark(uint32_t c);

/* Canonical combining class as tokenizers' NFD has it (0 for starters and
 * for marks newer than its Unicode 9.0 tables). */
int encore_unicode_combining_class(uint32_t c);

/* Full canonical decomposition of c (NFD of one code point) into out; returns
 * the count (1 when c does not decompose). */
int encore_unicode_decompose(uint32_t c, uint32_t out[ENCORE_UNICODE_MAX_DECOMPOSITION]);

/* Rust's char::to_lowercase: one or two code points (U+0130 gives "i\u0307"). */
int encore_unicode_lowercase(uint32_t c, uint32_t out[2]);

#ifdef __cplusplus
}
#endif

#endif /* ENCORE_UNICODE_H */
