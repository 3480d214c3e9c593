/* safetensors.h: read-only access to a .safetensors file. The header is read
 * and checked at open; tensor data is read with pread() into the caller's
 * buffer when it is asked for, and never mapped: a file that another process
 * truncates or rewrites during a load gives an error, never SIGBUS. */
#ifndef ENCORE_SAFETENSORS_H
#define ENCORE_SAFETENSORS_H

#include "core/half.h"
#include "encore.h"

#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>
#include <time.h>

#ifdef __cplusplus
extern "C" {
#endif

typedef enum encore_dtype {
    ENCORE_DTYPE_F32 = 0,
    ENCORE_DTYPE_F16,
    ENCORE_DTYPE_BF16,
    ENCORE_DTYPE_OTHER      /* present in the file but not loadable as weights */
} encore_dtype;

#define ENCORE_MAX_DIMS 8

typedef struct encore_tensor_info {
    char *name;
    encore_dtype dtype;
    char dtype_name[16];            /* as written in the header, e.g. "F16" */
    int n_dims;
    int64_t shape[ENCORE_MAX_DIMS];
    int64_t n_elements;
    const struct encore_safetensors *file; /* the file its bytes are read from */
    uint64_t begin;                 /* data_offsets[0], from the start of the data */
    size_t n_bytes;
} encore_tensor_info;

typedef struct encore_safetensors {
    char *path;
    int fd;                         /* open until encore_safetensors_close */
    uint64_t data_start;            /* file offset of the data: 8 + the header's length */
    uint64_t data_size;             /* bytes after the header */
    /* The file as open found it, for encore_safetensors_check_unchanged. */
    off_t file_size;
    nlink_t nlink;
    struct timespec mtime, ctime;
    int n_tensors;
    encore_tensor_info *tensors;    /* sorted by name */
} encore_safetensors;

/* Open and validate a file: header length, JSON, dtypes, shapes against byte
 * ranges (integers, products checked), ranges inside the file, unique names,
 * no two tensors sharing a byte. Errors name the file and the tensor. The
 * file stays open (one descriptor) until encore_safetensors_close. */
encore_status encore_safetensors_open(const char *path, encore_safetensors **out);
void encore_safetensors_close(encore_safetensors *st);

/* NULL when absent. */
const encore_tensor_info *encore_safetensors_find(const encore_safetensors *st, const char *name);

/* Read a tensor's n_elements into dst as f32 (F32 copied, F16 and BF16
 * widened; ENCORE_DTYPE_OTHER reads nothing). A file that has become shorter
 * than its header promised (truncated since it was opened) gives
 * ENCORE_STATUS_BAD_MODEL, a failed read ENCORE_STATUS_IO_ERROR; dst's
 * contents are then undefined. */
encore_status encore_tensor_to_f32(const encore_tensor_info *t, float *dst);

/* After every tensor wanted has been read: fails (ENCORE_STATUS_BAD_MODEL)
 * when the file's size or modification time differ from what open found, or
 * its change time while its link count does not, that is when it was
 * written, truncated or grown while it was read (the change time also
 * catches a write whose modification time was set back), so that the
 * weights read may mix two versions of it. A file replaced by a rename (or
 * unlinked) is still the file open read, whole: its change time moves with
 * its link count, and it passes. */
encore_status encore_safetensors_check_unchanged(const encore_safetensors *st);


#ifdef __cplusplus
}
#endif

#endif /* ENCORE_SAFETENSORS_H */
