/* fuzz_safetensors.c: the safetensors reader on any bytes: open, validate the
 * header, and read every loadable tensor as fp32 (the file is whole: every
 * read must succeed, and the file must be found unchanged). */
#include "fuzz_common.h"

#include "core/safetensors.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    static int ready;
    if (!ready) {
        fuzz_quiet();
        ready = 1;
    }
    fuzz_write("model.safetensors", data, size);
    encore_safetensors *st = NULL;
    if (encore_safetensors_open(fuzz_path(0, "model.safetensors"), &st) != ENCORE_STATUS_OK) {
        FUZZ_CHECK(st == NULL, "a failed open left a handle");
        return 0;
    }
    uint64_t bytes = 0;
    for (int i = 0; i < st->n_tensors; i++) {
        const encore_tensor_info *t = &st->tensors[i];
        FUZZ_CHECK(encore_safetensors_find(st, t->name) == t, "tensor '%s' is not found by its name", t->name);
        FUZZ_CHECK(t->begin + t->n_bytes <= st->data_size, "tensor '%s' ends past the data", t->name);
        bytes += t->n_bytes;
        if (t->dtype == ENCORE_DTYPE_OTHER || t->n_elements > (1 << 20)) continue;
        float *dst = malloc((size_t)(t->n_elements ? t->n_elements : 1) * sizeof(float));
        const encore_status rs = encore_tensor_to_f32(t, dst);
        free(dst);
        FUZZ_CHECK(rs == ENCORE_STATUS_OK, "tensor '%s' could not be read: %s", t->name, encore_last_error());
    }
    /* No two tensors share a byte, so together they fit the data. */
    FUZZ_CHECK(bytes <= st->data_size, "%llu tensor bytes in %llu data bytes", (unsigned long long)bytes,
               (unsigned long long)st->data_size);
    FUZZ_CHECK(encore_safetensors_check_unchanged(st) == ENCORE_STATUS_OK, "%s", encore_last_error());
    encore_safetensors_close(st);
    return 0;
}
