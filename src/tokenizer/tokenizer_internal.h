/* tokenizer_internal.h: what tokenizer.c (loading), tokenizer_encode.c
 * (encoding), bpe_load.c and bpe.c (byte-level BPE) and unigram.c
 * (SentencePiece Unigram) share: the tokenizer's
 * layout, the normalizer's output and the vocabulary lookup. Private to the
 * tokenizer (and its tests). */
#ifndef ENCORE_TOKENIZER_INTERNAL_H
#define ENCORE_TOKENIZER_INTERNAL_H

#include "core/common.h"
#include "tokenizer/tokenizer.h"

#include <cjson/cJSON.h>

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#define NO_TEXT UINT32_MAX
#define MAX_TEMPLATE_ITEMS 32

typedef struct vocab_slot {
    uint32_t hash;
    uint32_t text; /* offset of the token in the pool */
    uint32_t len;  /* its length in bytes */
    int32_t id;    /* -1: empty */
} vocab_slot;

typedef struct added_token {
    uint32_t text, len;            /* content, in the pool */
    uint32_t pattern, pattern_len; /* what is matched: the content, or its normalized form */
    int32_t id;
    int special, normalized, lstrip, rstrip, single_word;
} added_token;

typedef struct template_item {
    int32_t sequence; /* 0: the text, 1: the pair, -1: a special token */
    int32_t id;       /* the special token's id */
    int32_t type_id;
} template_item;

/* The model of a tokenizer. */
enum { TOK_WORDPIECE = 0, TOK_BPE = 1, TOK_UNIGRAM = 2 };

typedef struct unigram_model unigram_model;

/* One merge of a BPE model: the pair (a, b) of ids gives new_id at rank;
 * an open-addressing slot, empty when a < 0. */
typedef struct bpe_merge {
    int32_t a, b;
    uint32_t rank;
    int32_t new_id;
} bpe_merge;

typedef struct token_template {
    template_item items[MAX_TEMPLATE_ITEMS];
    int n_items;
    int n_special;
} token_template;

struct encore_tokenizer {
    encore_tokenizer_settings settings;
    int strip_accents;            /* resolved: follows lowercase when settings say -1 */
    char *pool;                   /* every token's text, NUL-terminated */
    size_t pool_len, pool_cap;
    uint32_t *id_text;            /* (n_ids) pool offset of each id's text, or NO_TEXT */
    int32_t n_ids;
    vocab_slot *slots;            /* (mask + 1) open addressing over the model vocabulary */
    uint32_t mask;
    int32_t n_vocab;              /* distinct tokens in the model vocabulary */
    size_t max_token_len;         /* bytes of its longest token */
    uint32_t prefix, prefix_len;  /* continuing_subword_prefix, in the pool */
    int32_t unk_id;
    added_token *added;           /* (n_added) */
    int n_added;
    int *pass_tokens[2];          /* indices into added, longest pattern first: */
    int n_pass_tokens[2];         /*   [0] matched in the raw text, [1] in the normalized */
    uint8_t first_byte[2][256];   /* which bytes start a pattern of each pass */
    token_template single, pair;

    int model;                    /* TOK_WORDPIECE, TOK_BPE or TOK_UNIGRAM */
    unigram_model *unigram;       /* TOK_UNIGRAM (unigram.c) */
    /* byte-level BPE (bpe_load.c, bpe.c) */
    bpe_merge *merges;            /* (merge_mask + 1) open addressing over (a, b) */
    uint32_t merge_mask;
    int32_t byte_id[256];         /* id of each byte's byte char alone, -1 when not in the vocabulary */
    int32_t bpe_unk;              /* the BPE model's unk_token id, -1 when null */
    int fuse_unk, ignore_merges;
    int add_prefix_space;         /* ByteLevel pre-tokenizer: a space before a split that has none */
    int use_regex;                /* ByteLevel pre-tokenizer: split with the GPT-2 pattern */
    int trim_offsets;             /* post-processor (RobertaProcessing, ByteLevel): trim spaces off offsets */
    int trim_prefix_space;        /*   its add_prefix_space: keep one leading space of a first token */
    int byte_decoder;             /* decoder ByteLevel (else tokens joined with spaces) */
    int decode_cleanup;           /* transformers' clean_up_tokenization_spaces after a BPE decode */
};

/* One segment of text after the normalizer. */
typedef struct norm_text {
    uint32_t *cp;    /* (n) code points */
    int32_t *src;    /* (n, 2) byte range in the original of the char each came from */
    uint8_t *ccc;    /* (n) combining class, for canonical reordering */
    uint8_t *added;  /* (n) 1: added by a decomposition (NFD's second and later chars) */
    int32_t *in_src; /* (n_in, 2) while decomposing: the source of each char NFD took in */
    int32_t *pos;    /* (n + 1) byte offset of each char in utf8 */
    size_t n, n_in, cap;
    size_t run;      /* while normalizing: where the marks not yet in canonical order start */
    char *utf8;      /* (pos[n]) the normalized segment as UTF-8 */
    size_t utf8_cap;
} norm_text;

static inline int tok_grow(void **p, size_t *cap, size_t need, size_t elem) {
    if (need <= *cap) return 1;
    size_t n = *cap ? *cap : 16;
    while (n < need) n *= 2;
    void *q = realloc(*p, n * elem);
    if (!q) return 0;
    *p = q;
    *cap = n;
    return 1;
}

static inline encore_status tok_out_of_memory(void) {
    return encore_fail(ENCORE_STATUS_OUT_OF_MEMORY, "out of memory while tokenizing");
}

static inline uint32_t tok_fnv1a(uint32_t h, const char *s, size_t n) {
    for (size_t i = 0; i < n; i++) h = (h ^ (unsigned char)s[i]) * 16777619u;
    return h;
}
#define TOK_FNV_SEED 2166136261u

/* The vocabulary: open addressing, linear probing, FNV-1a. The slot of
 * prefix + s (prefix only when with_prefix), empty (id -1) when absent. */
static inline vocab_slot *tok_vocab_slot(const encore_tokenizer *tok, int with_prefix, const char *s,
                                         size_t n) {
    const char *pre = tok->pool + tok->prefix;
    size_t np = with_prefix ? tok->prefix_len : 0;
    uint32_t h = tok_fnv1a(tok_fnv1a(TOK_FNV_SEED, pre, np), s, n);
    for (uint32_t i = h & tok->mask;; i = (i + 1) & tok->mask) {
        vocab_slot *slot = &tok->slots[i];
        if (slot->id < 0) return slot;
        if (slot->hash == h && slot->len == np + n &&
            memcmp(tok->pool + slot->text, pre, np) == 0 &&
            memcmp(tok->pool + slot->text + np, s, n) == 0)
            return slot;
    }
}

/* Id of prefix + s in the model vocabulary, -1 if absent. */
static inline int32_t tok_vocab_find(const encore_tokenizer *tok, int with_prefix, const char *s,
                                     size_t n) {
    return tok_vocab_slot(tok, with_prefix, s, n)->id;
}

#ifdef __cplusplus
extern "C" {
#endif

/* BertNormalizer over text[a, b) (valid UTF-8) into t (tokenizer_encode.c). */
encore_status encore_tok_normalize(const encore_tokenizer *tok, norm_text *t, const char *text, size_t a,
                                   size_t b);
/* The same, after the t->n characters t holds already. text[a] must start a
 * character that no normalization reaches back across (tokenizer_encode.c:
 * starter_at), so that the result is what one call over both would give. */
encore_status encore_tok_normalize_append(const encore_tokenizer *tok, norm_text *t, const char *text, size_t a,
                                          size_t b);
void encore_tok_norm_free(norm_text *t);

/* What tokenizer.c's loader lends bpe_load.c. */
int encore_tok_vocab_alloc(encore_tokenizer *tok, size_t n_entries);
encore_status encore_tok_vocab_insert(encore_tokenizer *tok, const char *s, size_t n, int32_t id);

/* bpe_load.c: the BPE model of tokenizer.json (model, pre_tokenizer,
 * normalizer checked), or vocab.json + merges.txt; then the byte table. */
encore_status encore_bpe_load_json(encore_tokenizer *tok, const char *path, const cJSON *json);
encore_status encore_bpe_load_files(encore_tokenizer *tok, const char *vocab_path, const char *merges_path);

/* bpe.c: the ByteLevel pre-tokenizer and BPE over text[a, b) (valid UTF-8,
 * free of added tokens), each token handed to emit with its byte range, how
 * many characters trimming takes off each end, and new_word when it is the
 * first token of a pre-tokenizer split (unigram.c's emit the same way). */
typedef encore_status (*tok_emit_fn)(void *ctx, int32_t id, int32_t start, int32_t end, int lead, int trail,
                                     int new_word);
typedef struct bpe_scratch bpe_scratch;
encore_status encore_bpe_encode(const encore_tokenizer *tok, bpe_scratch **scratch, const char *text, size_t a,
                                size_t b, tok_emit_fn emit, void *ctx);
void encore_bpe_scratch_free(bpe_scratch *s);
/* How many leading and trailing characters of s[0, n) ByteLevel's
 * process_offsets counts as spaces ('\u0120' or white space). */
void encore_bpe_count_spaces(const char *s, size_t n, int *lead, int *trail);
/* The ByteLevel decoder: byte chars back to bytes, then invalid UTF-8
 * replaced by U+FFFD as Python's bytes.decode(errors="replace"). Appends to
 * *out (malloc'd, *len bytes, *cap allocated); 0 when out of memory. */
int encore_bpe_decode_bytes(const char *s, size_t n, char **buf, size_t *len, size_t *cap);
size_t encore_bpe_fix_utf8(const char *in, size_t n, char *out);

/* unigram.c: a SentencePiece Unigram tokenizer.json (model, normalizer,
 * pre_tokenizer and decoder checked; the model alone with class_pipeline). */
/* class_pipeline: the tokenizer class rebuilds the normalizer, the
 * pre-tokenizer and the decoder itself (transformers 5's DebertaV2Tokenizer),
 * so the file's are not read. */
encore_status encore_unigram_load_json(encore_tokenizer *tok, const char *path, const cJSON *json, int class_pipeline);
void encore_unigram_free(unigram_model *u);
int32_t encore_unigram_unk_id(const encore_tokenizer *tok);
/* What transformers 5's XLMRobertaTokenizer makes of the file: the first
 * Precompiled normalizer alone, WhitespaceSplit and Metaspace (prepending
 * per add_prefix_space), the Metaspace decoder, piece 3 unknown. */
encore_status encore_unigram_as_xlm_roberta(encore_tokenizer *tok, const char *path, int add_prefix_space);
/* transformers 5's DebertaV2Tokenizer over the file's pieces: white-space
 * runs, tabs and newlines to one space, NFC, the right end stripped,
 * Metaspace (prepend "always", or "first" without add_prefix_space). */
encore_status encore_unigram_as_deberta_v2(encore_tokenizer *tok, const char *path, int add_prefix_space);
/* Encoding one split text[a, b) (valid UTF-8, free of raw added tokens):
 * normalize it into the scratch (its normalized UTF-8 lent back, for the
 * normalized added tokens), then tokenize byte ranges of that, and map a
 * byte range of it back to the text. */
typedef struct unigram_scratch unigram_scratch;
encore_status encore_unigram_normalize(const encore_tokenizer *tok, unigram_scratch **scratch, const char *text,
                                       size_t a, size_t b, const char **utf8, size_t *len);
encore_status encore_unigram_tokenize(const encore_tokenizer *tok, unigram_scratch *s, size_t start, size_t stop,
                                      tok_emit_fn emit, void *ctx);
void encore_unigram_source(const unigram_scratch *s, size_t start, size_t stop, int32_t *src_start,
                           int32_t *src_end);
void encore_unigram_scratch_free(unigram_scratch *s);
/* The Metaspace decoder (or tokens joined with spaces), appended to *out. */
int encore_unigram_decode(const encore_tokenizer *tok, const char *const *tokens, int n_tokens, char **out,
                          size_t *len, size_t *cap);

/* For tests and fuzzers only (not thread-safe): the bytes the encoder
 * normalizes at a time (0: the default, 16 KiB; SIZE_MAX: a whole segment
 * at once, the reference a chunked encoding must equal). */
void encore_tok_set_chunk_bytes(size_t n);

#ifdef __cplusplus
}
#endif

#endif /* ENCORE_TOKENIZER_INTERNAL_H */
