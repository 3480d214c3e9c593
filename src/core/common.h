/* common.h: private helpers shared by the host library: error reporting,
 * logging and small allocation wrappers. */
#ifndef ENCORE_COMMON_H
#define ENCORE_COMMON_H

#include "encore.h"

#include <stdarg.h>
#include <stddef.h>

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
 * set on failure. size_out may be NULL. */
char *encore_read_file(const char *path, size_t *size_out);

#ifdef __cplusplus
}
#endif

#endif /* ENCORE_COMMON_H */
