/* bench_inputs.c: synthetic texts of an exact token length, and texts read
 * from a file. */
#include "bench_inputs.h"

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define POOL_MAX 512  /* words kept; plenty to make texts differ */

static int is_lower_word(const char *s, size_t min_len) {
    size_t n = 0;
    for (; s[n]; n++)
        if (s[n] < 'a' || s[n] > 'z') return 0;
    return n >= min_len && n <= 12;
}

/* Does the word, alone, tokenize to [CLS] word [SEP]? And after a space
 * (byte-level BPE has "word" and " word" as different tokens, and a
 * synthetic text puts a space before every word but the first)? */
static int single_token(const encore_model *model, const char *word) {
    char spaced[64];
    if (snprintf(spaced, sizeof spaced, " %s", word) >= (int)sizeof spaced) return 0;
    int ok = 1;
    for (int i = 0; i < 2 && ok; i++) {
        encore_encoding *enc = NULL;
        encore_input in = {i == 0 ? word : spaced, NULL};
        ok = encore_model_tokenize(model, in, 1, &enc) == ENCORE_STATUS_OK && enc->n_tokens == 3;
        encore_encoding_free(enc);
    }
    return ok;
}

/* Lower-case ASCII words first (real text looks like them); a vocabulary
 * too small for that (test models) falls back to single letters, then to
 * any token that stands alone, punctuation included. */
int bench_words_collect(const encore_model *model, bench_words *out, char *err, size_t err_len) {
    memset(out, 0, sizeof *out);
    out->words = malloc(POOL_MAX * sizeof *out->words);
    if (!out->words) {
        snprintf(err, err_len, "out of memory");
        return 0;
    }
    for (int pass = 0; pass < 3 && out->n < 16; pass++) {
        out->n = 0;
        for (int32_t id = 0; out->n < POOL_MAX; id++) {
            const char *tok = encore_model_token(model, id);
            if (!tok) break;
            int candidate = pass == 0 ? is_lower_word(tok, 3)
                          : pass == 1 ? is_lower_word(tok, 1)
                                      : tok[0] && tok[0] != '[' && tok[0] != '#' && !strchr(tok, ' ');
            if (candidate && single_token(model, tok)) out->words[out->n++] = tok;
        }
    }
    if (out->n == 0) {
        snprintf(err, err_len, "the vocabulary has no token that stands alone as one word; use --texts FILE");
        bench_words_free(out);
        return 0;
    }
    return 1;
}

void bench_words_free(bench_words *w) {
    free(w->words);
    memset(w, 0, sizeof *w);
}

void bench_texts_free(bench_texts *t) {
    for (int i = 0; i < t->n; i++) free(t->texts[i]);
    free(t->texts);
    memset(t, 0, sizeof *t);
}

int bench_texts_synthetic(const encore_model *model, const bench_words *words, int n_tokens, int n,
                          bench_texts *out, char *err, size_t err_len) {
    memset(out, 0, sizeof *out);
    if (n_tokens < 2) {
        snprintf(err, err_len, "a text has at least 2 tokens ([CLS] and [SEP]), not %d", n_tokens);
        return 0;
    }
    out->texts = calloc((size_t)n, sizeof *out->texts);
    if (!out->texts) {
        snprintf(err, err_len, "out of memory");
        return 0;
    }
    const int n_words = n_tokens - 2;
    size_t longest = 0;
    for (int i = 0; i < words->n; i++) {
        size_t wl = strlen(words->words[i]);
        longest = wl > longest ? wl : longest;
    }
    uint32_t state = 2166136261u ^ (uint32_t)n_tokens;  /* fixed seed: the same texts every run */
    for (int t = 0; t < n; t++) {
        char *text = malloc((size_t)n_words * (longest + 1) + 1);
        out->texts[t] = text;
        out->n = t + 1;
        if (!text) {
            snprintf(err, err_len, "out of memory");
            bench_texts_free(out);
            return 0;
        }
        char *p = text;
        *p = '\0';
        for (int w = 0; w < n_words; w++) {
            state = state * 1664525u + 1013904223u;
            const char *word = words->words[(state >> 8) % (uint32_t)words->n];
            size_t wl = strlen(word);
            if (w) *p++ = ' ';
            memcpy(p, word, wl + 1);
            p += wl;
        }
        encore_encoding *enc = NULL;
        encore_input in = {text, NULL};
        encore_status st = encore_model_tokenize(model, in, 0, &enc);
        int got = st == ENCORE_STATUS_OK ? enc->n_tokens : -1;
        encore_encoding_free(enc);
        if (got != n_tokens) {
            snprintf(err, err_len, "a synthetic text of %d tokens tokenized to %d (%s)", n_tokens, got,
                     st == ENCORE_STATUS_OK ? "words split" : encore_last_error());
            bench_texts_free(out);
            return 0;
        }
    }
    return 1;
}

static int push(bench_texts *t, int *cap, const char *s, size_t len) {
    if (t->n == *cap) {
        int grown = *cap ? 2 * *cap : 256;
        char **texts = realloc(t->texts, (size_t)grown * sizeof *texts);
        if (!texts) return 0;
        t->texts = texts;
        *cap = grown;
    }
    char *copy = malloc(len + 1);
    if (!copy) return 0;
    memcpy(copy, s, len);
    copy[len] = '\0';
    t->texts[t->n++] = copy;
    return 1;
}

/* Field `col` (0-based) of a tab-separated line: start and length. */
static const char *field(const char *line, int col, size_t *len) {
    const char *p = line;
    for (int i = 0; i < col; i++) {
        p = strchr(p, '\t');
        if (!p) return NULL;
        p++;
    }
    const char *tab = strchr(p, '\t');
    *len = tab ? (size_t)(tab - p) : strlen(p);
    return p;
}

int bench_texts_read(const char *path, bench_texts *out, char *err, size_t err_len) {
    memset(out, 0, sizeof *out);
    FILE *f = fopen(path, "r");
    if (!f) {
        snprintf(err, err_len, "cannot open %s", path);
        return 0;
    }
    char *line = NULL;
    size_t line_cap = 0;
    ssize_t len;
    int cap = 0, col = -1, line_no = 0, ok = 1;
    while (ok && (len = getline(&line, &line_cap, f)) >= 0) {
        while (len > 0 && (line[len - 1] == '\n' || line[len - 1] == '\r')) line[--len] = '\0';
        if (++line_no == 1 && strchr(line, '\t')) {
            size_t fl;
            for (int c = 0; col < 0 && field(line, c, &fl); c++) {
                const char *fs = field(line, c, &fl);
                if ((fl == 8 && strncmp(fs, "sentence", 8) == 0) || (fl == 4 && strncmp(fs, "text", 4) == 0)) col = c;
            }
            if (col >= 0) continue;
        }
        size_t fl = (size_t)len;
        const char *fs = col >= 0 ? field(line, col, &fl) : line;
        while (fs && fl > 0 && (fs[fl - 1] == ' ' || fs[fl - 1] == '\t')) fl--;
        if (!fs || fl == 0) continue;
        if (!push(out, &cap, fs, fl)) {
            snprintf(err, err_len, "out of memory reading %s", path);
            ok = 0;
        }
    }
    free(line);
    fclose(f);
    if (ok && out->n == 0) {
        snprintf(err, err_len, "%s holds no text", path);
        ok = 0;
    }
    if (!ok) bench_texts_free(out);
    return ok;
}
