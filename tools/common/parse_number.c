/* parse_number.c: see parse_number.h. */
#include "parse_number.h"

#include <errno.h>
#include <stdlib.h>

int tools_parse_long(const char *s, long lo, long hi, long *out) {
    if (!s) return 0;
    char *end = NULL;
    errno = 0;
    const long v = strtol(s, &end, 10);
    if (errno || end == s || *end || v < lo || v > hi) return 0;
    *out = v;
    return 1;
}

int tools_parse_double(const char *s, double lo, double hi, double *out) {
    if (!s) return 0;
    char *end = NULL;
    const double v = strtod(s, &end);
    if (end == s || *end || !(v >= lo && v <= hi)) return 0;
    *out = v;
    return 1;
}
