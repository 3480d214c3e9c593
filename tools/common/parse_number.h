/* parse_number.h: numbers given on the command line, read whole: "12x",
 * "" and out-of-range values are refused rather than read in part. Callers
 * say what was wrong in their own words. */
#ifndef ENCORE_TOOLS_PARSE_NUMBER_H
#define ENCORE_TOOLS_PARSE_NUMBER_H

#ifdef __cplusplus
extern "C" {
#endif

/* A base-10 whole number in [lo, hi] (strtol's syntax: leading white space
 * and a sign allowed) and nothing after it: 1 with *out set, else 0 and
 * *out untouched (a number too large for a long included). */
int tools_parse_long(const char *s, long lo, long hi, long *out);

/* A number in [lo, hi] (strtod's syntax) and nothing after it: 1 with *out
 * set, else 0 and *out untouched. NaN is never in range; a magnitude too
 * large or too small for a double reads as strtod reads it (HUGE_VAL, 0). */
int tools_parse_double(const char *s, double lo, double hi, double *out);

#ifdef __cplusplus
}
#endif

#endif /* ENCORE_TOOLS_PARSE_NUMBER_H */
