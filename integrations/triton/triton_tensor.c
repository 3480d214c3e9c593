/* triton_tensor.c: TEXT shapes and BYTES (de)serialization (see triton_tensor.h). */
#include "triton_tensor.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "encore.h"
#include "triton_config.h"


int encore_triton_text_count(const int64_t *shape, uint32_t dims_count, int64_t max_batch_size,
                             int64_t *count, char *err, size_t err_size)
{
    if (max_batch_size > 0) {
        if (dims_count != 2 || shape[1] != 1 || shape[0] < 1)
            return triton_fail(err, err_size, "expected shape [batch, 1]%s", dims_count == 0 ? ", got a scalar" : "");
        if (shape[0] > max_batch_size)
            return triton_fail(err, err_size, "batch of %lld is larger than max_batch_size %lld",
                        (long long)shape[0], (long long)max_batch_size);
        *count = shape[0];
        return 0;
    }
    if (dims_count != 1 || shape[0] != 1)
        return triton_fail(err, err_size, "expected shape [1]");
    *count = 1;
    return 0;
}

void encore_triton_texts_free(char **texts, int64_t count)
{
    for (int64_t i = 0; texts && i < count; i++) {
        free(texts[i]);
        texts[i] = NULL;
    }
}

int encore_triton_bytes_decode(const uint8_t *data, size_t size, int64_t count, char **texts,
                               char *err, size_t err_size)
{
    size_t pos = 0;
    for (int64_t i = 0; i < count; i++)
        texts[i] = NULL;
    for (int64_t i = 0; i < count; i++) {
        if (size - pos < 4) {
            encore_triton_texts_free(texts, count);
            return triton_fail(err, err_size, "element %lld: the BYTES data ends before its length", (long long)i);
        }
        uint32_t len = (uint32_t)data[pos] | (uint32_t)data[pos + 1] << 8 | (uint32_t)data[pos + 2] << 16 |
                       (uint32_t)data[pos + 3] << 24;
        pos += 4;
        if (len > size - pos) {
            encore_triton_texts_free(texts, count);
            return triton_fail(err, err_size, "element %lld: length %u runs past the end of the BYTES data",
                        (long long)i, len);
        }
        const char *s = (const char *)data + pos;
        if (memchr(s, '\0', len)) {
            encore_triton_texts_free(texts, count);
            return triton_fail(err, err_size, "element %lld: the text contains a NUL byte", (long long)i);
        }
        size_t bad = encore_utf8_validate(s, len);
        if (bad != len) {
            encore_triton_texts_free(texts, count);
            return triton_fail(err, err_size, "element %lld: invalid UTF-8 at byte %zu", (long long)i, bad);
        }
        texts[i] = malloc((size_t)len + 1);
        if (!texts[i]) {
            encore_triton_texts_free(texts, count);
            return triton_fail(err, err_size, "out of memory");
        }
        memcpy(texts[i], s, len);
        texts[i][len] = '\0';
        pos += len;
    }
    if (pos != size) {
        encore_triton_texts_free(texts, count);
        return triton_fail(err, err_size, "%zu bytes left over after %lld BYTES elements", size - pos, (long long)count);
    }
    return 0;
}

size_t encore_triton_bytes_size(const char *s)
{
    return 4 + strlen(s);
}

size_t encore_triton_bytes_write(uint8_t *dst, const char *s)
{
    size_t len = strlen(s);
    dst[0] = (uint8_t)(len & 0xff);
    dst[1] = (uint8_t)(len >> 8 & 0xff);
    dst[2] = (uint8_t)(len >> 16 & 0xff);
    dst[3] = (uint8_t)(len >> 24 & 0xff);
    memcpy(dst + 4, s, len);
    return 4 + len;
}
