/* read_file.c: see read_file.h. */
#include "read_file.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

char *tools_read_file(const char *path, size_t *len) {
    FILE *f = fopen(path, "rb");
    if (!f) return NULL;
    /* Read to the end rather than trust a size read beforehand: the file may
     * be a pipe, or change while it is read. */
    size_t cap = 4096, n = 0;
    char *buf = malloc(cap);
    int err = buf ? 0 : ENOMEM;
    while (!err) {
        if (n + 1 >= cap) {
            char *p = cap <= ((size_t)-1) / 2 ? realloc(buf, cap * 2) : NULL;
            if (!p) {
                err = ENOMEM;
                break;
            }
            buf = p;
            cap *= 2;
        }
        errno = 0;
        const size_t got = fread(buf + n, 1, cap - n - 1, f);
        n += got;
        if (got == 0) {
            if (ferror(f)) err = errno ? errno : EIO;
            break;
        }
    }
    fclose(f);
    if (err) {
        free(buf);
        errno = err;
        return NULL;
    }
    buf[n] = '\0';
    if (len) *len = n;
    return buf;
}

int tools_read_first_line(const char *path, char *buf, size_t cap) {
    if (cap == 0) return 0;
    buf[0] = '\0';
    FILE *f = fopen(path, "r");
    if (!f) return 0;
    if (!fgets(buf, (int)(cap > 0x7fffffff ? 0x7fffffff : cap), f)) buf[0] = '\0';
    fclose(f);
    buf[strcspn(buf, "\r\n")] = '\0';
    return 1;
}
