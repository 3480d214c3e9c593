/* safetensors.h: read-only access to a .safetensors file through mmap. */
#ifndef ENCORE_SAFETENSORS_H
#define ENCORE_SAFETENSORS_H

#include "core/half.h"
#include "encore.h"

#include <stddef.h>
#include <stdint.h>

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
    const void *data;               /* points into the mapping */
    uint64_t begin;                 /* data_offsets[0], from the start of the data */
    size_t n_bytes;
} encore_tensor_info;

typedef struct encore_safetensors {
    char *path;
    void *map;
    size_t map_size;
    uint64_t data_size;             /* bytes after the header */
    int n_tensors;
    encore_tensor_info *tensors;    /* sorted by name */
} encore_safetensors;

/* Map and validate a file: header length, JSON, dtypes, shapes against byte
 * ranges (integers, products checked), ranges inside the file, unique names,
 * no two tensors sharing a byte. Errors name the file and the tensor. */
encore_status encore_safetensors_open(const char *path, encore_safetensors **out);
void encore_safetensors_close(encore_safetensors *st);

/* NULL when absent. */
const encore_tensor_info *encore_safetensors_find(const encore_safetensors *st, const char *name);

/* Convert n elements of a tensor to f32 (F32 copy, F16 and BF16 widen). */
void encore_tensor_to_f32(const encore_tensor_info *t, float *dst);


#ifdef __cplusplus
}
#endif

#endif /* ENCORE_SAFETENSORS_H */
