/* json_write.h: the tools' one JSON writer: strings and floats, written in
 * the two dialects the tools print.
 *
 *   TOOLS_JSON_PYTHON  what Python's json.dumps writes, so that the CLI's
 *                      lines match transformers' pipeline byte for byte:
 *                      non-ASCII as \uXXXX escapes (surrogate pairs above
 *                      U+FFFF), floats as repr() (fixed from 1e-4 up to
 *                      1e16, exponent form outside), NaN, Infinity and
 *                      -Infinity as Python spells them.
 *   TOOLS_JSON_UTF8    strict JSON for the server: UTF-8 as it is, floats
 *                      in C's %g layout of the shortest digits with ".0" on
 *                      whole numbers, NaN and infinities (which JSON cannot
 *                      hold) as null.
 *
 * In both, a float has the fewest significant digits that read back as the
 * same value, and a byte of a string that is not UTF-8 (encore_utf8_decode()
 * rules) is written as \ufffd, one byte at a time. */
#ifndef ENCORE_TOOLS_JSON_WRITE_H
#define ENCORE_TOOLS_JSON_WRITE_H

#include <stddef.h>

#ifdef __cplusplus
extern "C" {
#endif

typedef enum tools_json_dialect {
    TOOLS_JSON_PYTHON = 0,
    TOOLS_JSON_UTF8
} tools_json_dialect;

/* Room for any number tools_json_format_float() writes, NUL included. */
#define TOOLS_JSON_NUMBER_MAX 32

/* The shortest significant digits that read back as v: as a double, or as
 * a float32 when as_float32 != 0 (v then holds a float). Writes them to
 * digits, NUL-terminated, without the sign and without trailing zeros
 * ("0" for zero), and the decimal exponent of the first one to *exp10, so
 * that |v| reads back from "d.ddd e exp10". Returns the digit count (1 to
 * 17). v must be finite. */
int tools_json_shortest_digits(double v, int as_float32, char digits[18], int *exp10);

/* v as a JSON number in the dialect's layout (see above), into buf (len at
 * least TOOLS_JSON_NUMBER_MAX); returns the length written. */
size_t tools_json_format_float(double v, int as_float32, tools_json_dialect dialect, char *buf, size_t len);

/* Where a writer sends its text: the n bytes at s. */
typedef void (*tools_json_sink)(void *ctx, const char *s, size_t n);

/* The n bytes at s as a JSON string, quotes included: '"', '\\' and the
 * control characters escaped (\n \r \t \b \f, else \u00XX). */
void tools_json_write_string(tools_json_sink sink, void *ctx, const char *s, size_t n, tools_json_dialect dialect);

#ifdef __cplusplus
}
#endif

#endif /* ENCORE_TOOLS_JSON_WRITE_H */
