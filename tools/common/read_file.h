/* read_file.h: small files read whole, or their first line. */
#ifndef ENCORE_TOOLS_READ_FILE_H
#define ENCORE_TOOLS_READ_FILE_H

#include <stddef.h>

#ifdef __cplusplus
extern "C" {
#endif

/* The whole file in a malloc'd buffer with a NUL after its last byte (free()
 * it); *len (may be NULL) gets its size. NULL with errno set when it cannot
 * be opened or read, or memory runs out. */
char *tools_read_file(const char *path, size_t *len);

/* The file's first line, without its line ending ("\n" or "\r\n"), into buf
 * (cap bytes, NUL-terminated, cut to fit): 1, or 0 with buf "" when the file
 * cannot be opened (errno set). An empty file gives 1 and "". */
int tools_read_first_line(const char *path, char *buf, size_t cap);

#ifdef __cplusplus
}
#endif

#endif /* ENCORE_TOOLS_READ_FILE_H */
