/* json_out.h: JSON text as Python's json.dumps writes it, so that encore's
 * output can be compared with transformers' byte for byte in format. */
#ifndef ENCORE_CLI_JSON_OUT_H
#define ENCORE_CLI_JSON_OUT_H

#include "encore.h"

#include <stddef.h>
#include <stdio.h>

/* Python's repr() of a float: the shortest digits that read back to the same
 * double, "1.0" rather than "1", exponent form below 1e-4 and from 1e16.
 * as_float32 != 0 finds the shortest digits that read back to the same
 * float32 instead (numpy's repr of a float32). buf: at least 32 bytes. */
void json_format_number(double v, int as_float32, char *buf, size_t len);

/* A JSON string with ensure_ascii=True: non-ASCII as \uXXXX escapes
 * (surrogate pairs above U+FFFF); a byte that is not UTF-8 as \ufffd. */
void json_write_string(FILE *f, const char *s);

/* Label indices ordered as transformers' pipeline lists them: best score
 * first, ties in label order (Python's stable sort). order: (L). */
void json_rank_labels(const float *scores, int L, int *order);

/* An input's failure as its output line on stdout:
 * {"error": message, "status": encore_status_str(st)} and a line end. */
void json_print_error(encore_status st, const char *message);

#endif /* ENCORE_CLI_JSON_OUT_H */
