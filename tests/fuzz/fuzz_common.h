/* fuzz_common.h: what the libFuzzer harnesses of tests/fuzz share: a scratch
 * directory of their own, files written into it, the fixture models, and
 * the split of one input into parts. Each harness defines
 * LLVMFuzzerTestOneInput; built with -fsanitize=fuzzer it is a fuzzer, built
 * with replay_main.c it runs saved inputs (the seed corpora and the crashes
 * found, as ctest tests). */
#ifndef ENCORE_FUZZ_COMMON_H
#define ENCORE_FUZZ_COMMON_H

#include "encore.h"

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#ifdef __cplusplus
extern "C" {
#endif

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* A directory of this process's own, made on first use (in /dev/shm when
 * there is one), removed at exit. */
const char *fuzz_dir(void);

/* dir/name; the buffer is static per slot (0..3). */
const char *fuzz_path(int slot, const char *name);

/* Write n bytes to fuzz_dir()/name (or remove it when data is NULL). */
void fuzz_write(const char *name, const void *data, size_t n);

/* A fixture model directory: tests/fixtures/models/NAME. */
const char *fuzz_fixture(const char *name);

/* Silence the library's log (the fuzzers feed it nonsense on purpose). */
void fuzz_quiet(void);

/* Abort with a message: a property the harness checks does not hold. */
#define FUZZ_CHECK(cond, ...)                                                  \
    do {                                                                       \
        if (!(cond)) {                                                         \
            fprintf(stderr, "fuzz check failed: %s: ", #cond);                 \
            fprintf(stderr, __VA_ARGS__);                                      \
            fputc('\n', stderr);                                               \
            abort();                                                           \
        }                                                                      \
    } while (0)

/* Cut data into up to max parts at each "\0\0" (text never holds two NUL
 * bytes in a row); returns the count. */
int fuzz_split(const uint8_t *data, size_t size, const uint8_t **parts, size_t *lens, int max);

/* A NUL-terminated copy of n bytes (free it). */
char *fuzz_strndup(const uint8_t *data, size_t n);

/* The model harnesses' input: byte 0 picks the weights (fp32, bf16, int8),
 * bytes 1-2 the length of the first file; the rest is that file (written as
 * first_name) then the second (second_name), in fuzz_dir(). The directory is
 * loaded; a load that fails must leave no model. A model that loads
 * classifies (when it has labels) and embeds texts (2 inputs, the second a
 * pair), with [CLS] pooling too when cls_pass. Returns 0. */
int fuzz_load_and_run(const uint8_t *data, size_t size, const char *first_name, const char *second_name,
                      const encore_input texts[2], int cls_pass);

/* Do two encodings (either may be NULL) hold the same tokens? */
int fuzz_same_encoding(const encore_encoding *a, const encore_encoding *b);

#ifdef __cplusplus
}
#endif

#endif /* ENCORE_FUZZ_COMMON_H */
