/* common.c: last-error messages, status names and logging. */
#include "core/common.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static _Thread_local char last_error[ENCORE_ERROR_LEN];

static encore_log_fn log_fn = NULL;
static void *log_user_data = NULL;

const char *encore_status_str(encore_status status) {
    switch (status) {
    case ENCORE_STATUS_OK: return "ok";
    case ENCORE_STATUS_INVALID_ARGUMENT: return "invalid argument";
    case ENCORE_STATUS_IO_ERROR: return "i/o error";
    case ENCORE_STATUS_BAD_MODEL: return "bad model";
    case ENCORE_STATUS_UNSUPPORTED: return "unsupported";
    case ENCORE_STATUS_BAD_INPUT: return "bad input";
    case ENCORE_STATUS_TOO_LONG: return "input too long";
    case ENCORE_STATUS_OUT_OF_MEMORY: return "out of memory";
    case ENCORE_STATUS_DEVICE_ERROR: return "device error";
    case ENCORE_STATUS_QUEUE_FULL: return "queue full";
    case ENCORE_STATUS_COUNT: break;
    }
    return "unknown status";
}

const char *encore_last_error(void) { return last_error; }

encore_status encore_fail(encore_status status, const char *fmt, ...) {
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(last_error, sizeof last_error, fmt, ap);
    va_end(ap);
    return status;
}

void encore_log_set(encore_log_fn fn, void *user_data) {
    log_fn = fn;
    log_user_data = user_data;
}

void encore_log(encore_log_level level, const char *fmt, ...) {
    char msg[1024];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    if (log_fn) {
        log_fn(level, msg, log_user_data);
        return;
    }
    if (level >= ENCORE_LOG_LEVEL_WARN) {
        static const char *names[] = {"debug", "info", "warning", "error"};
        fprintf(stderr, "encore: %s: %s\n", names[level], msg);
    }
}


char *encore_read_file(const char *path, size_t *size_out) {
    FILE *f = fopen(path, "rb");
    if (!f) return NULL;
    char *buf = NULL;
    size_t size = 0, cap = 0;
    for (;;) {
        if (size > ENCORE_MAX_TEXT_FILE) {
            free(buf);
            fclose(f);
            errno = EFBIG;
            return NULL;
        }
        if (size + 65536 + 1 > cap) {
            cap = (size + 65536 + 1) * 2;
            char *grown = realloc(buf, cap);
            if (!grown) {
                free(buf);
                fclose(f);
                return NULL;
            }
            buf = grown;
        }
        size_t got = fread(buf + size, 1, cap - size - 1, f);
        size += got;
        if (got == 0) break;
    }
    int failed = ferror(f);
    fclose(f);
    if (failed) {
        free(buf);
        return NULL;
    }
    buf[size] = '\0';
    if (size_out) *size_out = size;
    return buf;
}

