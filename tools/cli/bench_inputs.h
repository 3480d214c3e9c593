/* bench_inputs.h: the texts `encore bench` times: synthetic texts of an exact
 * token length, built from the model's own vocabulary, or lines of a file. */
#ifndef ENCORE_CLI_BENCH_INPUTS_H
#define ENCORE_CLI_BENCH_INPUTS_H

#include "encore.h"

#include <stddef.h>

typedef struct bench_texts {
    char **texts;  /* (n) NUL-terminated UTF-8, owned */
    int n;
} bench_texts;

/* Words of the vocabulary that tokenize to themselves, one token each. The
 * strings belong to the model. */
typedef struct bench_words {
    const char **words;  /* (n) */
    int n;
} bench_words;

/* Collect the word pool of a model. Returns 0 with a message in err when the
 * vocabulary has no usable word. */
int bench_words_collect(const encore_model *model, bench_words *out, char *err, size_t err_len);
void bench_words_free(bench_words *w);

/* n different texts of exactly n_tokens tokens each, special tokens included
 * ([CLS] and [SEP]: n_tokens >= 2). Checked with encore_model_tokenize. */
int bench_texts_synthetic(const encore_model *model, const bench_words *words, int n_tokens, int n,
                          bench_texts *out, char *err, size_t err_len);

/* Texts of a file, one per line, empty lines skipped. A first line with a tab
 * and a field named "sentence" or "text" is a TSV header: that column is read. */
int bench_texts_read(const char *path, bench_texts *out, char *err, size_t err_len);

void bench_texts_free(bench_texts *t);

#endif /* ENCORE_CLI_BENCH_INPUTS_H */
