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
    if (st->fd >= 0) close(st->fd);
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

static encore_status parse_tensor(encore_safetensors *st, const cJSON *item, uint64_t data_size,
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
    t->file = st;
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

/* n bytes at offset off, all of them: 0; the file ends first: 1 (it was
 * truncated since it was opened); a read error: -1, errno set. */
static int read_fully(int fd, void *buf, size_t n, uint64_t off) {
    uint8_t *p = buf;
    while (n > 0) {
        /* Linux reads at most 0x7ffff000 bytes a call; ask for no more. */
        const size_t want = n < ((size_t)1 << 30) ? n : ((size_t)1 << 30);
        const ssize_t got = pread(fd, p, want, (off_t)off);
        if (got < 0) {
            if (errno == EINTR) continue;
            return -1;
        }
        if (got == 0) return 1;
        p += got;
        off += (uint64_t)got;
        n -= (size_t)got;
    }
    return 0;
}

static encore_status read_failed(const char *path, int r, const char *what, uint64_t end) {
    if (r > 0)
        return encore_fail(ENCORE_STATUS_BAD_MODEL,
                           "%s changed while it was read: it now ends before byte %llu, where %s ends (truncated or "
                           "rewritten by another program?)",
                           path, (unsigned long long)end, what);
    return encore_fail(ENCORE_STATUS_IO_ERROR, "cannot read %s: %s", path, strerror(errno));
}

encore_status encore_safetensors_open(const char *path, encore_safetensors **out) {
    if (!path || !out) return encore_fail(ENCORE_STATUS_INVALID_ARGUMENT, "safetensors: NULL argument");
    *out = NULL;
    int fd = open(path, O_RDONLY | O_CLOEXEC);
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
    encore_safetensors *st = calloc(1, sizeof *st);
    if (!st || !(st->path = strdup(path))) {
        free(st);
        close(fd);
        return encore_fail(ENCORE_STATUS_OUT_OF_MEMORY, "out of memory");
    }
    st->fd = fd;
    st->file_size = sb.st_size;
    st->nlink = sb.st_nlink;
    st->mtime = sb.st_mtim;
    st->ctime = sb.st_ctim;

    uint8_t len_bytes[8];
    int r = read_fully(fd, len_bytes, 8, 0);
    if (r != 0) {
        encore_status s = read_failed(path, r, "the header length", 8);
        encore_safetensors_close(st);
        return s;
    }
    uint64_t header_len = 0;
    for (int i = 7; i >= 0; i--) header_len = (header_len << 8) | len_bytes[i];
    if (header_len == 0 || header_len > SAFETENSORS_MAX_HEADER || header_len > (uint64_t)sb.st_size - 8) {
        encore_status s = encore_fail(ENCORE_STATUS_BAD_MODEL,
                                      "%s is not a safetensors file: header length %llu does not fit a %lld-byte file",
                                      path, (unsigned long long)header_len, (long long)sb.st_size);
        encore_safetensors_close(st);
        return s;
    }
    char *text = malloc((size_t)header_len);
    if (!text) {
        encore_safetensors_close(st);
        return encore_fail(ENCORE_STATUS_OUT_OF_MEMORY, "out of memory for a %llu-byte header",
                           (unsigned long long)header_len);
    }
    r = read_fully(fd, text, (size_t)header_len, 8);
    if (r != 0) {
        encore_status s = read_failed(path, r, "the header", 8 + header_len);
        free(text);
        encore_safetensors_close(st);
        return s;
    }
    cJSON *header = cJSON_ParseWithLength(text, (size_t)header_len);
    free(text);
    if (!cJSON_IsObject(header)) {
        cJSON_Delete(header);
        encore_status s = encore_fail(ENCORE_STATUS_BAD_MODEL, "%s: the header is not a JSON object", path);
        encore_safetensors_close(st);
        return s;
    }
    st->data_start = 8 + header_len;
    st->data_size = (uint64_t)sb.st_size - 8 - header_len;

    int n = cJSON_GetArraySize(header);
    st->tensors = calloc((size_t)(n > 0 ? n : 1), sizeof *st->tensors);
    encore_status status = st->tensors ? ENCORE_STATUS_OK
                                       : encore_fail(ENCORE_STATUS_OUT_OF_MEMORY, "out of memory");
    const cJSON *item;
    cJSON_ArrayForEach(item, header) {
        if (status != ENCORE_STATUS_OK) break;
        if (strcmp(item->string, "__metadata__") == 0) continue;
        status = parse_tensor(st, item, st->data_size, &st->tensors[st->n_tensors]);
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

encore_status encore_safetensors_check_unchanged(const encore_safetensors *st) {
    struct stat sb;
    if (fstat(st->fd, &sb) != 0)
        return encore_fail(ENCORE_STATUS_IO_ERROR, "cannot stat %s: %s", st->path, strerror(errno));
    const int ctime_moved = sb.st_ctim.tv_sec != st->ctime.tv_sec || sb.st_ctim.tv_nsec != st->ctime.tv_nsec;
    if (sb.st_size != st->file_size || sb.st_mtim.tv_sec != st->mtime.tv_sec ||
        sb.st_mtim.tv_nsec != st->mtime.tv_nsec || (ctime_moved && sb.st_nlink == st->nlink))
        return encore_fail(ENCORE_STATUS_BAD_MODEL,
                           "%s changed while it was read (%lld bytes when opened, %lld now, or written since): its "
                           "weights may mix two versions; load it again once it is complete",
                           st->path, (long long)st->file_size, (long long)sb.st_size);
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

encore_status encore_tensor_to_f32(const encore_tensor_info *t, float *dst) {
    if (t->dtype == ENCORE_DTYPE_OTHER) return ENCORE_STATUS_OK;
    const encore_safetensors *st = t->file;
    const uint64_t off = st->data_start + t->begin;
    /* F32 straight into dst. F16 and BF16 into dst's second half (dst holds
     * 4 bytes an element, the tensor 2), then widened front to back: element
     * i is written to bytes [4i, 4i + 4), below byte 2n + 2(i + 1) where the
     * next element still waits, so nothing is overwritten before it is read. */
    uint8_t *raw = (uint8_t *)dst + (t->dtype == ENCORE_DTYPE_F32 ? 0 : t->n_bytes);
    const int r = read_fully(st->fd, raw, t->n_bytes, off);
    if (r != 0) {
        char what[600];
        snprintf(what, sizeof what, "tensor '%s'", t->name);
        return read_failed(st->path, r, what, off + t->n_bytes);
    }
    if (t->dtype == ENCORE_DTYPE_F32) return ENCORE_STATUS_OK;
    const int f16 = t->dtype == ENCORE_DTYPE_F16;
    for (int64_t i = 0; i < t->n_elements; i++) {
        uint16_t h;
        memcpy(&h, raw + 2 * i, 2);
        const float v = f16 ? encore_f16_to_f32(h) : encore_bf16_to_f32(h);
        memcpy((uint8_t *)dst + 4 * i, &v, 4);
    }
    return ENCORE_STATUS_OK;
}
