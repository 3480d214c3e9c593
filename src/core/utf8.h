/* utf8.h: the library's UTF-8, one set of rules for everything that reads
 * or writes it: the tokenizer, and through encore_utf8_validate() and
 * encore_utf8_decode() in encore.h, the applications. */
#ifndef ENCORE_UTF8_H
#define ENCORE_UTF8_H

#include "encore.h"

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

/* Decode the code point at s[*pos] of text that encore_utf8_validate()
 * accepted, and advance *pos past it. No checks: the fast path for text
 * already validated. */
uint32_t encore_utf8_next(const char *s, size_t *pos);

/* Write c as UTF-8 to out (room for 4 bytes); returns the byte count. */
int encore_utf8_encode(uint32_t c, char *out);

#ifdef __cplusplus
}
#endif

#endif /* ENCORE_UTF8_H */
