/* safetensors.c: parse the safetensors format: an 8-byte little-endian header
 * length, a JSON header {name: {dtype, shape, data_offsets}, "__metadata__"},
 * then the raw tensor bytes. */
#include "core/safetensors.h"

#include "core/common.h"

#include <cJSON.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

/* A header larger than this is not a real model: refuse it rather than
 * allocate (the reference implementation uses 100 MB as well). */
#define SAFETENSORS_MAX_HEADER (100u * 1024u * 1024u)

static int dtype_size(const char *name, encore_dtype *dtype) {
    static const struct { const char *name; encore_dtype dtype; int size; } table[] = {
        {"F32", ENCORE_DTYPE_F32, 4},   {"F16", ENCORE_DTYPE_F16, 2},
        {"BF16", ENCORE_DTYPE_BF16, 2}, {"F64", ENCORE_DTYPE_OTHER, 8},
        {"I64", ENCORE_DTYPE_OTHER, 8}, {"I32", ENCORE_DTYPE_OTHER, 4},
        {"I16", ENCORE_DTYPE_OTHER, 2}, {"I8", ENCORE_DTYPE_OTHER, 1},
        {"U8", ENCORE_DTYPE_OTHER, 1},  {"BOOL", ENCORE_DTYPE_OTHER, 1},
        {"U16", ENCORE_DTYPE_OTHER, 2}, {"U32", ENCORE_DTYPE_OTHER, 4},
        {"U64", ENCORE_DTYPE_OTHER, 8}, {"F8_E4M3", ENCORE_DTYPE_OTHER, 1},
        {"F8_E5M2", ENCORE_DTYPE_OTHER, 1},
    };
    for (size_t i = 0; i < sizeof table / sizeof table[0]; i++) {
        if (strcmp(name, table[i].name) == 0) {
            *dtype = table[i].dtype;
            return table[i].size;
        }
    }
    return 0;
}

void encore_safetensors_close(encore_safetensors *st) {
    if (!st) return;
    if (st->map) munmap(st->map, st->map_size);
    for (int i = 0; i < st->n_tensors; i++) free(st->tensors[i].name);
    free(st->tensors);
    free(st->path);
    free(st);
}

/* Sizes in a header are JSON numbers (doubles to cJSON): integers up to 2^53
 * are exact, and no real tensor comes near that. */
#define SAFETENSORS_MAX_INT 9007199254740992.0 /* 2^53 */

static int exact_uint(const cJSON *v, uint64_t *out) {
    if (!cJSON_IsNumber(v)) return 0;
    const double d = v->valuedouble;
    if (!(d >= 0 && d <= SAFETENSORS_MAX_INT) || d != (double)(uint64_t)d) return 0;
    *out = (uint64_t)d;
    return 1;
}

static encore_status parse_tensor(encore_safetensors *st, const cJSON *item,
                                  const uint8_t *data, uint64_t data_size,
                                  encore_tensor_info *t) {
    const char *path = st->path;
    const cJSON *dtype = cJSON_GetObjectItemCaseSensitive(item, "dtype");
    const cJSON *shape = cJSON_GetObjectItemCaseSensitive(item, "shape");
    const cJSON *offsets = cJSON_GetObjectItemCaseSensitive(item, "data_offsets");
    if (!cJSON_IsObject(item) || !cJSON_IsString(dtype) || !cJSON_IsArray(shape) ||
        !cJSON_IsArray(offsets) || cJSON_GetArraySize(offsets) != 2)
        return encore_fail(ENCORE_STATUS_BAD_MODEL,
                           "%s: tensor '%s' needs dtype, shape and data_offsets [begin, end]",
                           path, item->string);
    int size = dtype_size(dtype->valuestring, &t->dtype);
    if (size == 0)
        return encore_fail(ENCORE_STATUS_BAD_MODEL, "%s: tensor '%s' has unknown dtype '%.32s'",
                           path, item->string, dtype->valuestring);
    snprintf(t->dtype_name, sizeof t->dtype_name, "%s", dtype->valuestring);
    t->n_dims = cJSON_GetArraySize(shape);
    if (t->n_dims > ENCORE_MAX_DIMS)
        return encore_fail(ENCORE_STATUS_BAD_MODEL, "%s: tensor '%s' has %d dimensions (at most %d)",
                           path, item->string, t->n_dims, ENCORE_MAX_DIMS);
    /* The element count, checked at each step: a shape whose product does
     * not fit cannot match the bytes it is given. */
    uint64_t n_elements = 1;
    int d = 0;
    const cJSON *dim;
    cJSON_ArrayForEach(dim, shape) {
        uint64_t v;
        if (!exact_uint(dim, &v))
            return encore_fail(ENCORE_STATUS_BAD_MODEL, "%s: tensor '%s' has a bad shape (dimension %d)",
                               path, item->string, d);
        t->shape[d++] = (int64_t)v;
        if (__builtin_mul_overflow(n_elements, v, &n_elements) || n_elements > (uint64_t)SAFETENSORS_MAX_INT)
            return encore_fail(ENCORE_STATUS_BAD_MODEL, "%s: tensor '%s' is too large", path,
                               item->string);
    }
    t->n_elements = (int64_t)n_elements;
    uint64_t begin, end;
    if (!exact_uint(cJSON_GetArrayItem(offsets, 0), &begin) || !exact_uint(cJSON_GetArrayItem(offsets, 1), &end) ||
        end < begin || end > data_size)
        return encore_fail(ENCORE_STATUS_BAD_MODEL,
                           "%s: tensor '%s' data_offsets [%.17g, %.17g] fall outside the %llu data bytes (or are not "
                           "integers in order)",
                           path, item->string, cJSON_GetArrayItem(offsets, 0)->valuedouble,
                           cJSON_GetArrayItem(offsets, 1)->valuedouble, (unsigned long long)data_size);
    t->begin = begin;
    t->n_bytes = (size_t)(end - begin);
    if (n_elements * (uint64_t)size != (uint64_t)t->n_bytes) /* < 2^56: no overflow */
        return encore_fail(ENCORE_STATUS_BAD_MODEL,
                           "%s: tensor '%s' holds %zu bytes but its shape and dtype need %llu",
                           path, item->string, t->n_bytes,
                           (unsigned long long)n_elements * (unsigned long long)size);
    t->data = data + begin;
    t->name = strdup(item->string);
    if (!t->name) return encore_fail(ENCORE_STATUS_OUT_OF_MEMORY, "out of memory");
    return ENCORE_STATUS_OK;
}

static int by_name(const void *a, const void *b) {
    return strcmp(((const encore_tensor_info *)a)->name, ((const encore_tensor_info *)b)->name);
}

static int by_begin(const void *a, const void *b) {
    const encore_tensor_info *x = *(const encore_tensor_info *const *)a, *y = *(const encore_tensor_info *const *)b;
    if (x->begin != y->begin) return x->begin < y->begin ? -1 : 1;
    return x->n_bytes < y->n_bytes ? -1 : x->n_bytes > y->n_bytes;
}

/* Names are unique (the tensors sorted by name, for encore_safetensors_find)
 * and no two tensors share a byte, as the reference implementation demands:
 * a header whose tensors alias one another could describe far more weights
 * than the file holds. */
static encore_status check_layout(encore_safetensors *st) {
    qsort(st->tensors, (size_t)st->n_tensors, sizeof *st->tensors, by_name);
    for (int i = 1; i < st->n_tensors; i++)
        if (strcmp(st->tensors[i - 1].name, st->tensors[i].name) == 0)
            return encore_fail(ENCORE_STATUS_BAD_MODEL, "%s: tensor '%s' appears twice in the header", st->path,
                               st->tensors[i].name);
    const encore_tensor_info **order = malloc((size_t)(st->n_tensors > 0 ? st->n_tensors : 1) * sizeof *order);
    if (!order) return encore_fail(ENCORE_STATUS_OUT_OF_MEMORY, "out of memory");
    for (int i = 0; i < st->n_tensors; i++) order[i] = &st->tensors[i];
    qsort(order, (size_t)st->n_tensors, sizeof *order, by_begin);
    encore_status s = ENCORE_STATUS_OK;
    for (int i = 1; i < st->n_tensors && s == ENCORE_STATUS_OK; i++) {
        const encore_tensor_info *a = order[i - 1], *b = order[i];
        if (b->begin < a->begin + a->n_bytes)
            s = encore_fail(ENCORE_STATUS_BAD_MODEL,
                            "%s: tensors '%s' [%llu, %llu) and '%s' [%llu, %llu) overlap in the data", st->path,
                            a->name, (unsigned long long)a->begin, (unsigned long long)(a->begin + a->n_bytes),
                            b->name, (unsigned long long)b->begin, (unsigned long long)(b->begin + b->n_bytes));
    }
    free(order);
    return s;
}

encore_status encore_safetensors_open(const char *path, encore_safetensors **out) {
    if (!path || !out) return encore_fail(ENCORE_STATUS_INVALID_ARGUMENT, "safetensors: NULL argument");
    *out = NULL;
    int fd = open(path, O_RDONLY);
    if (fd < 0) return encore_fail(ENCORE_STATUS_IO_ERROR, "cannot open %s: %s", path, strerror(errno));
    struct stat sb;
    if (fstat(fd, &sb) != 0 || !S_ISREG(sb.st_mode)) {
        close(fd);
        return encore_fail(ENCORE_STATUS_IO_ERROR, "%s is not a regular file", path);
    }
    if (sb.st_size < 8) {
        close(fd);
        return encore_fail(ENCORE_STATUS_BAD_MODEL,
                           "%s is not a safetensors file: %lld bytes, shorter than its 8-byte header length",
                           path, (long long)sb.st_size);
    }
    void *map = mmap(NULL, (size_t)sb.st_size, PROT_READ, MAP_PRIVATE, fd, 0);
    close(fd);
    if (map == MAP_FAILED) return encore_fail(ENCORE_STATUS_IO_ERROR, "cannot map %s: %s", path, strerror(errno));

    encore_safetensors *st = calloc(1, sizeof *st);
    if (!st) {
        munmap(map, (size_t)sb.st_size);
        return encore_fail(ENCORE_STATUS_OUT_OF_MEMORY, "out of memory");
    }
    st->map = map;
    st->map_size = (size_t)sb.st_size;
    st->path = strdup(path);

    const uint8_t *bytes = map;
    uint64_t header_len = 0;
    for (int i = 7; i >= 0; i--) header_len = (header_len << 8) | bytes[i];
    if (header_len == 0 || header_len > SAFETENSORS_MAX_HEADER || header_len > (uint64_t)sb.st_size - 8) {
        encore_status s = encore_fail(ENCORE_STATUS_BAD_MODEL,
                                      "%s is not a safetensors file: header length %llu does not fit a %lld-byte file",
                                      path, (unsigned long long)header_len, (long long)sb.st_size);
        encore_safetensors_close(st);
        return s;
    }
    cJSON *header = cJSON_ParseWithLength((const char *)bytes + 8, (size_t)header_len);
    if (!cJSON_IsObject(header)) {
        cJSON_Delete(header);
        encore_status s = encore_fail(ENCORE_STATUS_BAD_MODEL, "%s: the header is not a JSON object", path);
        encore_safetensors_close(st);
        return s;
    }
    const uint8_t *data = bytes + 8 + header_len;
    uint64_t data_size = (uint64_t)sb.st_size - 8 - header_len;
    st->data_size = data_size;

    int n = cJSON_GetArraySize(header);
    st->tensors = calloc((size_t)(n > 0 ? n : 1), sizeof *st->tensors);
    encore_status status = st->tensors ? ENCORE_STATUS_OK
                                       : encore_fail(ENCORE_STATUS_OUT_OF_MEMORY, "out of memory");
    const cJSON *item;
    cJSON_ArrayForEach(item, header) {
        if (status != ENCORE_STATUS_OK) break;
        if (strcmp(item->string, "__metadata__") == 0) continue;
        status = parse_tensor(st, item, data, data_size, &st->tensors[st->n_tensors]);
        if (status == ENCORE_STATUS_OK) st->n_tensors++;
    }
    cJSON_Delete(header);
    if (status == ENCORE_STATUS_OK) status = check_layout(st);
    if (status != ENCORE_STATUS_OK) {
        encore_safetensors_close(st);
        return status;
    }
    *out = st;
    return ENCORE_STATUS_OK;
}

const encore_tensor_info *encore_safetensors_find(const encore_safetensors *st, const char *name) {
    int lo = 0, hi = st->n_tensors;
    while (lo < hi) {
        const int mid = lo + (hi - lo) / 2;
        const int c = strcmp(st->tensors[mid].name, name);
        if (c == 0) return &st->tensors[mid];
        if (c < 0) lo = mid + 1;
        else hi = mid;
    }
    return NULL;
}

void encore_tensor_to_f32(const encore_tensor_info *t, float *dst) {
    /* The data may be unaligned inside the mapping: read through memcpy. */
    const uint8_t *src = t->data;
    switch (t->dtype) {
    case ENCORE_DTYPE_F32:
        memcpy(dst, src, (size_t)t->n_elements * 4);
        break;
    case ENCORE_DTYPE_F16:
        for (int64_t i = 0; i < t->n_elements; i++) {
            uint16_t h;
            memcpy(&h, src + 2 * i, 2);
            dst[i] = encore_f16_to_f32(h);
        }
        break;
    case ENCORE_DTYPE_BF16:
        for (int64_t i = 0; i < t->n_elements; i++) {
            uint16_t h;
            memcpy(&h, src + 2 * i, 2);
            dst[i] = encore_bf16_to_f32(h);
        }
        break;
    case ENCORE_DTYPE_OTHER:
        break;
    }
}
