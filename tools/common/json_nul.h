/* json_nul.h: find a \u0000 escape in JSON text. cJSON decodes it to a NUL
 * byte, which ends the C string it returns, so a text holding U+0000 would
 * lose everything after it without a word; the callers reject it instead. */
#ifndef ENCORE_JSON_NUL_H
#define ENCORE_JSON_NUL_H

#include <stddef.h>

/* The offset of the first \u0000 escape in json[0, len) (the backslash), or
 * -1. An escape is a backslash preceded by an even number of backslashes
 * (so "\\u0000", an escaped backslash and the text u0000, is none). */
static inline long encore_json_nul_escape(const char *json, size_t len) {
    size_t run = 0;  // backslashes just before i
    for (size_t i = 0; i < len; i++) {
        if (json[i] != '\\') {
            run = 0;
            continue;
        }
        if (run % 2 == 0 && i + 5 < len && json[i + 1] == 'u' && json[i + 2] == '0' && json[i + 3] == '0' &&
            json[i + 4] == '0' && json[i + 5] == '0')
            return (long)i;
        run++;
    }
    return -1;
}

#endif /* ENCORE_JSON_NUL_H */
