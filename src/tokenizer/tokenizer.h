/* tokenizer.h: the tokenizers of BERT-family encoders, identical to Hugging
 * Face's fast tokenizers (tokenizers 0.23): BERT's WordPiece (BertNormalizer,
 * BertPreTokenizer, WordPiece and the [CLS] A [SEP] B [SEP] template), and
 * RoBERTa's byte-level BPE (ByteLevel pre-tokenizer with the GPT-2 pattern,
 * BPE, RobertaProcessing <s> A </s> </s> B </s> with its offset trimming,
 * ByteLevel decoder). */
#ifndef ENCORE_TOKENIZER_H
#define ENCORE_TOKENIZER_H

#include "encore.h"

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

typedef struct encore_tokenizer encore_tokenizer;

/* Settings read from tokenizer.json / tokenizer_config.json. */
typedef struct encore_tokenizer_settings {
    int clean_text;              /* default 1 */
    int handle_chinese_chars;    /* tokenize_chinese_chars, default 1 */
    int strip_accents;           /* -1 = follow lowercase (default), 0 or 1 */
    int lowercase;               /* do_lower_case, default 1 */
    int max_input_chars_per_word;/* default 100 */
    int model_max_length;        /* from tokenizer_config.json, 0 if absent or unbounded */
    int add_type_ids;            /* 1 if the model takes token_type_ids (BERT), 0 (DistilBERT) */
} encore_tokenizer_settings;

/* Load the tokenizer of a model directory: tokenizer.json when present
 * (model WordPiece or BPE), else RoBERTa's vocab.json + merges.txt (when
 * tokenizer_config.json names a RobertaTokenizer, or there is no vocab.txt),
 * else vocab.txt; with tokenizer_config.json and special_tokens_map.json. A
 * setting encore does not implement (BPE dropout, byte_fallback, subword
 * affixes, other normalizers, pre-tokenizers or decoders) is
 * ENCORE_STATUS_UNSUPPORTED, naming it; a broken file (a merge naming a
 * token the vocabulary lacks, a bad id) ENCORE_STATUS_BAD_MODEL.
 * On failure returns a status and sets the last error (encore_fail). */
encore_status encore_tokenizer_load(const char *dir, encore_tokenizer **out);
void encore_tokenizer_free(encore_tokenizer *tok);

const encore_tokenizer_settings *encore_tokenizer_get_settings(const encore_tokenizer *tok);
/* The model loader sets this from the architecture (0 for DistilBERT). The
 * encoding's type_ids are filled either way; the model decides whether to
 * feed them. */
void encore_tokenizer_set_add_type_ids(encore_tokenizer *tok, int add_type_ids);
int32_t encore_tokenizer_vocab_size(const encore_tokenizer *tok);
/* Whether the model marks a word's later pieces with a prefix ("##"):
 * WordPiece's do; byte-level BPE and Unigram have none (a BPE model with a
 * continuing_subword_prefix is refused at load). */
int encore_tokenizer_has_subword_prefix(const encore_tokenizer *tok);
/* Token text of an id, NULL if out of range. */
const char *encore_tokenizer_id_to_token(const encore_tokenizer *tok, int32_t id);
/* 1 if id is an added token marked special. */
int encore_tokenizer_is_special(const encore_tokenizer *tok, int32_t id);
/* tokenizers' decode with BERT's WordPiece decoder (prefix stripped,
 * cleanup on), or for BPE the ByteLevel decoder (byte chars back to bytes,
 * invalid UTF-8 replaced by U+FFFD as Python's errors="replace" does; no
 * cleanup unless tokenizer_config.json sets clean_up_tokenization_spaces):
 * ids out of range are dropped, special tokens too when skip_special.
 * Writes at most cap bytes with a NUL (when cap > 0) and returns the decoded
 * length, as snprintf; SIZE_MAX when out of memory (BPE). */
size_t encore_tokenizer_decode(const encore_tokenizer *tok, const int32_t *ids, int n_ids, int skip_special,
                               char *buf, size_t cap);
/* The same decoder on token strings (transformers' convert_tokens_to_string
 * for a fast BERT tokenizer): each string as a token, whatever it holds.
 * Returns the decoded length, as snprintf; SIZE_MAX when out of memory. */
size_t encore_tokenizer_decode_tokens(const encore_tokenizer *tok, const char *const *tokens, int n_tokens,
                                      char *buf, size_t cap);
/* The id of the unknown token ([UNK]), -1 if the vocabulary has none. */
int32_t encore_tokenizer_unk_id(const encore_tokenizer *tok);
/* Id of a token, -1 if absent. */
int32_t encore_tokenizer_token_to_id(const encore_tokenizer *tok, const char *token);

/* Encode text (and pair when non-NULL) with special tokens. When max_len > 0,
 * truncate as transformers' truncation=True (longest_first) does so the
 * result holds at most max_len tokens; max_len == 0 means no truncation.
 * An empty pair counts as no pair, as in transformers. Invalid UTF-8 gives
 * ENCORE_STATUS_BAD_INPUT. The result is one malloc'd block; free it with
 * encore_encoding_free(). */
encore_status encore_tokenizer_encode(const encore_tokenizer *tok, const char *text,
                                      const char *pair, int32_t max_len,
                                      encore_encoding **out);
/* The same, cutting each sequence at its start (left != 0) instead of its
 * end, as tokenizers does with truncation direction "left": the budget per
 * sequence is the same, the last tokens are kept. */
encore_status encore_tokenizer_encode_side(const encore_tokenizer *tok, const char *text,
                                           const char *pair, int32_t max_len, int left,
                                           encore_encoding **out);

/* The same for a caller that refuses an input of more than max_tokens tokens
 * (with max_len 0, no truncation; max_tokens 0: no limit): such an input
 * gives ENCORE_STATUS_TOO_LONG with its length in *n_tokens, and no
 * encoding, without holding all its tokens.
 *
 * Memory: an encoding holds its tokens only (at most max_len, or
 * max_tokens; with left truncation the last ones, in a ring). WordPiece:
 * the text is normalized and split a chunk of 16 KiB at a time, so that the
 * scratch stays a few MiB whatever the text's length; a word longer than
 * max_input_chars_per_word (one [UNK]) is not kept whole. Two cases are not
 * chunked: a tokenizer with added tokens matched in the normalized text
 * ("normalized": true), whose matches may cross chunks, and a run of
 * combining marks, which canonical ordering sorts as a whole. BPE: no
 * normalizer and no chunks; the GPT-2 pattern's pieces are found and merged
 * one at a time, so the scratch is about 50 bytes per byte of the longest
 * piece (a run of letters, digits, symbols or spaces: 1 MB of "aaaa" takes
 * some 50 MB, in n log n time). */
encore_status encore_tokenizer_encode_bounded(const encore_tokenizer *tok, const char *text, const char *pair,
                                              int32_t max_len, int left, int32_t max_tokens, encore_encoding **out,
                                              int32_t *n_tokens);

#ifdef __cplusplus
}
#endif

#endif /* ENCORE_TOKENIZER_H */
