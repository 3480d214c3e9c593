/* common.h: private helpers shared by the host library: error reporting,
 * logging and small allocation wrappers. */
#ifndef ENCORE_COMMON_H
#define ENCORE_COMMON_H

#include "encore.h"

#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

#if defined(__GNUC__)
#define ENCORE_PRINTF(a, b) __attribute__((format(printf, a, b)))
#else
#define ENCORE_PRINTF(a, b)
#endif

#define ENCORE_ERROR_LEN 512

/* Record a message as this thread's last error and return status, so that a
 * failure reads `return encore_fail(ENCORE_STATUS_BAD_MODEL, "...", ...);`. */
encore_status encore_fail(encore_status status, const char *fmt, ...) ENCORE_PRINTF(2, 3);

/* Log through the user's callback (or stderr). */
void encore_log(encore_log_level level, const char *fmt, ...) ENCORE_PRINTF(2, 3);

/* Read a whole file into a malloc'd NUL-terminated buffer; NULL with errno
 * set on failure (EFBIG past ENCORE_MAX_TEXT_FILE bytes: config.json and the
 * tokenizer files of a model from a stranger, read whole, may not be
 * endless). size_out may be NULL. */
#define ENCORE_MAX_TEXT_FILE ((size_t)1 << 30)
char *encore_read_file(const char *path, size_t *size_out);

/* Checked size arithmetic for sizes that come from files: a result that
 * does not fit is SIZE_MAX, which stays SIZE_MAX through further sums and
 * products by nonzero sizes, so that a chain of them is checked once at the end. */
static inline size_t encore_size_add(size_t a, size_t b) {
    size_t r;
    return __builtin_add_overflow(a, b, &r) ? SIZE_MAX : r;
}
static inline size_t encore_size_mul(size_t a, size_t b) {
    size_t r;
    return __builtin_mul_overflow(a, b, &r) ? SIZE_MAX : r;
}

#ifdef __cplusplus
}
#endif

#endif /* ENCORE_COMMON_H */
