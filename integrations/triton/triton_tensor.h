/*
 * triton_tensor.h: the tensor layouts an encore model exchanges with Triton,
 * as pure functions tested on their own: the shape of a TEXT input, the
 * BYTES serialization of its strings (each element a little-endian uint32
 * length, then that many bytes) and of the LABEL output.
 */
#ifndef ENCORE_TRITON_TENSOR_H
#define ENCORE_TRITON_TENSOR_H

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

/* The number of texts a TEXT or TEXT_PAIR input of this shape holds: shape
 * [n, 1] with 1 <= n <= max_batch_size when the model batches
 * (max_batch_size > 0), else [1]. Returns 0, or -1 with a message in err. */
int encore_triton_text_count(const int64_t *shape, uint32_t dims_count, int64_t max_batch_size,
                             int64_t *count, char *err, size_t err_size);

/* Decode count BYTES elements from data[0, size) into texts[0, count):
 * NUL-terminated copies the caller frees with encore_triton_texts_free. Each
 * must be valid UTF-8 without NUL bytes, and the elements must fill data
 * exactly. Returns 0, or -1 with a message in err (texts then all NULL). */
int encore_triton_bytes_decode(const uint8_t *data, size_t size, int64_t count, char **texts,
                               char *err, size_t err_size);
void encore_triton_texts_free(char **texts, int64_t count);

/* Bytes one string takes as a BYTES element, and the writing of it; returns
 * the bytes written. */
size_t encore_triton_bytes_size(const char *s);
size_t encore_triton_bytes_write(uint8_t *dst, const char *s);

#ifdef __cplusplus
}
#endif

#endif /* ENCORE_TRITON_TENSOR_H */
