/* fuzz_tokenizer_files.c: the tokenizer files of a model directory on any
 * bytes, then, when they load, encoding a few fixed texts with them and
 * decoding what they give.
 *
 * Input: byte 0 picks the files (byte 0 % 3): 0, tokenizer.json; 1,
 * vocab.txt; 2, RoBERTa's vocab.json and merges.txt. The rest is cut at each
 * "\0\0" into that file (those two files), tokenizer_config.json and
 * special_tokens_map.json (a part that is absent is no file). */
#include "fuzz_common.h"

#include "tokenizer/tokenizer.h"
#include "tokenizer/tokenizer_internal.h"

static const char *texts[] = {
    "Hello, world! [MASK] and [CLS] inside",
    "\xe4\xbd\xa0\xe5\xa5\xbd\xe4\xb8\x96\xe7\x95\x8c caf\xc3\xa9 na\xc3\xafve \xc3\x85ngstr\xc3\xb6m",
    "e\xcc\x81\xf0\x9d\x85\xa5 \xe2\x80\x83 tab\tnew\nline \x7f ctrl",
    "antidisestablishmentarianism supercalifragilisticexpialidocious",
    "",
    "   ",
    "A\xcc\x81\xcc\xa3\xcd\x85\xcc\x81\xcc\xa3\xe2\x80\x8b\xcc\xa3 x\xcc\x81\x01\xcc\xa3 caf\xc3\xa9s !!",
    "unbelievably,playing[MASK]films<x>  <x>yo yoyo hello world \xc3\xa9t\xc3\xa9 ETE",
    "<s> it's <mask>x  \t two  spaces\n\n end 'll ''VE \xc2\xbd\xc2\xb2 10th \xf0\x9f\x98\x80\xe2\x80\x8d</s> ",
};
enum { N_TEXTS = sizeof texts / sizeof texts[0] };

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    static int ready;
    if (!ready) {
        fuzz_quiet();
        ready = 1;
    }
    if (size < 1) return 0;
    const uint8_t *parts[4];
    size_t lens[4];
    const int n = fuzz_split(data + 1, size - 1, parts, lens, 4);
    static const char *const files[] = {"tokenizer.json", "vocab.txt", "vocab.json", "merges.txt"};
    const int mode = data[0] % 3, n_main = mode == 2 ? 2 : 1;
    /* the files of this mode from the first parts, no others */
    for (int f = 0; f < 4; f++) {
        const int k = f - (mode == 2 ? 2 : mode); /* which part, if this mode writes this file */
        const int mine = k >= 0 && k < n_main && k < n;
        fuzz_write(files[f], mine ? parts[k] : NULL, mine ? lens[k] : 0);
    }
    fuzz_write("tokenizer_config.json", n > n_main ? parts[n_main] : NULL, n > n_main ? lens[n_main] : 0);
    fuzz_write("special_tokens_map.json", n > n_main + 1 ? parts[n_main + 1] : NULL,
               n > n_main + 1 ? lens[n_main + 1] : 0);
    encore_tokenizer *tok = NULL;
    if (encore_tokenizer_load(fuzz_dir(), &tok) != ENCORE_STATUS_OK) {
        FUZZ_CHECK(tok == NULL, "a failed load left a tokenizer");
        return 0;
    }
    const int32_t vocab = encore_tokenizer_vocab_size(tok);
    for (size_t i = 0; i < N_TEXTS; i++) {
        for (int max_len = 0; max_len <= 9; max_len += 9) {
            encore_encoding *e = NULL, *whole = NULL;
            const char *pair = i % 2 ? texts[(i + 1) % N_TEXTS] : NULL;
            /* In chunks of 2 bytes and in one pass: the same tokens. */
            encore_tok_set_chunk_bytes(SIZE_MAX);
            const encore_status whole_st = encore_tokenizer_encode(tok, texts[i], pair, max_len, &whole);
            encore_tok_set_chunk_bytes(2);
            const encore_status st = encore_tokenizer_encode(tok, texts[i], pair, max_len, &e);
            encore_tok_set_chunk_bytes(0);
            FUZZ_CHECK(st == whole_st && fuzz_same_encoding(e, whole), "a chunked encoding differs from the one-pass one");
            encore_encoding_free(whole);
            if (st != ENCORE_STATUS_OK) continue;
            FUZZ_CHECK(max_len == 0 || e->n_tokens <= max_len, "%d tokens for max_len %d", e->n_tokens, max_len);
            FUZZ_CHECK(e->n_untruncated >= e->n_tokens, "%d untruncated < %d", e->n_untruncated, e->n_tokens);
            for (int32_t k = 0; k < e->n_tokens; k++) {
                /* An id is a vocabulary entry, or a special token's id from a
                 * template (which the model checks against its tables). */
                FUZZ_CHECK(e->sequence_ids[k] < 0 || (e->ids[k] >= 0 && e->ids[k] < vocab) ||
                               encore_tokenizer_id_to_token(tok, e->ids[k]) != NULL,
                           "token %d has id %d of a %d-token vocabulary", k, e->ids[k], vocab);
                const char *src = e->sequence_ids[k] == 1 ? pair : texts[i];
                FUZZ_CHECK(e->offsets[2 * k] <= e->offsets[2 * k + 1] &&
                               (size_t)e->offsets[2 * k + 1] <= (src ? strlen(src) : 0),
                           "token %d has offsets [%d, %d)", k, e->offsets[2 * k], e->offsets[2 * k + 1]);
            }
            /* Decoding what came out: valid UTF-8, as snprintf sizes it. */
            char out[64];
            for (int skip = 0; skip < 2; skip++) {
                const size_t len = encore_tokenizer_decode(tok, e->ids, e->n_tokens, skip, out, sizeof out);
                FUZZ_CHECK(len == SIZE_MAX || strlen(out) <= (len < sizeof out ? len : sizeof out - 1),
                           "decode gave %zu bytes and wrote %zu", len, strlen(out));
            }
            encore_encoding_free(e);
        }
    }
    encore_tokenizer_free(tok);
    return 0;
}
