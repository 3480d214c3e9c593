/* fuzz_tokenize_classify.c: any bytes as a text, or a text pair, through the
 * tokenizer of a real (tiny) model and its forward pass: tokenize for each
 * task, with and without truncation, classify and embed.
 *
 * The encoder works through a text a chunk at a time (16 KiB); here each
 * encoding is made twice, with tiny chunks (bits 3-5 of byte 0: 1 to 8
 * bytes) and in one pass, and the two must be the same.
 *
 * The same input also goes through a byte-level BPE tokenizer (RoBERTa's,
 * tests/fixtures/models/tiny-roberta-sst) and a SentencePiece Unigram one
 * (XLM-R's, tiny-xlmr-sst), tokenizers alone: cut on either side, counted
 * against a limit, decoded; neither works in chunks, so the chunk size must
 * change nothing there either.
 *
 * Input: byte 0 holds flags (1: a pair, 2: no truncation, 4: run the model
 * on a batch of the input and a fixed text; bits 3-5: the chunk; bit 6:
 * truncate those encodings on the left); the rest is the text, and with
 * flag 1 the pair after the first NUL byte. */
#include "fuzz_common.h"

#include "tokenizer/tokenizer_internal.h"

static encore_model *model;
static encore_session *session;
static encore_tokenizer *others[2]; /* BPE, Unigram */
static const char *const other_names[2] = {"tiny-roberta-sst", "tiny-xlmr-sst"};

/* Another tokenizer on the input: chunked and one-pass equal, the limits
 * kept, offsets inside their text, decoding sized as snprintf. */
static void check_other(encore_tokenizer *tok, const char *what, const char *text, const char *pair, int flags) {
    const int32_t max_len = (flags & 2) ? 0 : 12;
    const int left = (flags >> 6) & 1;
    encore_encoding *whole = NULL, *e = NULL;
    encore_tok_set_chunk_bytes(SIZE_MAX);
    const encore_status whole_st = encore_tokenizer_encode_side(tok, text, pair, max_len, left, &whole);
    encore_tok_set_chunk_bytes((size_t)((flags >> 3) & 7) + 1);
    const encore_status st = encore_tokenizer_encode_side(tok, text, pair, max_len, left, &e);
    encore_tok_set_chunk_bytes(0);
    FUZZ_CHECK(st == whole_st && fuzz_same_encoding(e, whole), "%s: a chunked encoding differs (status %d and %d)",
               what, (int)st, (int)whole_st);
    encore_encoding_free(whole);
    if (st != ENCORE_STATUS_OK) {
        FUZZ_CHECK(st == ENCORE_STATUS_BAD_INPUT, "%s: status %d: %s", what, (int)st, encore_last_error());
        return;
    }
    FUZZ_CHECK(max_len == 0 || e->n_tokens <= max_len, "%s: %d tokens for max_len %d", what, e->n_tokens,
               (int)max_len);
    for (int32_t k = 0; k < e->n_tokens; k++) {
        const char *src = e->sequence_ids[k] == 1 ? pair : text;
        FUZZ_CHECK(e->offsets[2 * k] >= 0 && e->offsets[2 * k] <= e->offsets[2 * k + 1] &&
                       (size_t)e->offsets[2 * k + 1] <= (e->sequence_ids[k] < 0 ? 0 : strlen(src)),
                   "%s: token %d has offsets [%d, %d)", what, k, e->offsets[2 * k], e->offsets[2 * k + 1]);
        /* word ids: none for special tokens; in a text, each token in the
         * word of the one before it or in the next */
        FUZZ_CHECK((e->word_ids[k] < 0) == (e->sequence_ids[k] < 0), "%s: token %d has word %d in sequence %d", what,
                   k, e->word_ids[k], e->sequence_ids[k]);
        if (k > 0 && e->sequence_ids[k] >= 0 && e->sequence_ids[k - 1] == e->sequence_ids[k])
            FUZZ_CHECK(e->word_ids[k] - e->word_ids[k - 1] == 0 || e->word_ids[k] - e->word_ids[k - 1] == 1,
                       "%s: token %d goes from word %d to %d", what, k, e->word_ids[k - 1], e->word_ids[k]);
    }
    int32_t n = 0;
    encore_encoding *bounded = NULL;
    const encore_status bst = encore_tokenizer_encode_bounded(tok, text, pair, 0, 0, 8, &bounded, &n);
    FUZZ_CHECK(bst == (e->n_untruncated > 8 ? ENCORE_STATUS_TOO_LONG : ENCORE_STATUS_OK) && n == e->n_untruncated,
               "%s: bounded status %d, %d tokens of %d", what, (int)bst, n, e->n_untruncated);
    encore_encoding_free(bounded);
    char out[96];
    const size_t len = encore_tokenizer_decode(tok, e->ids, e->n_tokens, flags & 1, out, sizeof out);
    FUZZ_CHECK(len == SIZE_MAX || strlen(out) <= (len < sizeof out ? len : sizeof out - 1), "%s: decode %zu", what,
               len);
    encore_encoding_free(e);
}

static encore_session_params single_thread(void) {
    encore_session_params p = encore_session_default_params();
    p.n_threads = 1;
    return p;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    if (!model) {
        fuzz_quiet();
        if (encore_model_load(fuzz_fixture("tiny-bert-sst"), encore_model_default_params(), &model) != ENCORE_STATUS_OK ||
            encore_session_create(model, single_thread(), &session) != ENCORE_STATUS_OK) {
            fprintf(stderr, "cannot load the fixture model: %s\n", encore_last_error());
            abort();
        }
        for (int i = 0; i < 2; i++)
            if (encore_tokenizer_load(fuzz_fixture(other_names[i]), &others[i]) != ENCORE_STATUS_OK) {
                fprintf(stderr, "cannot load the fixture tokenizer %s: %s\n", other_names[i], encore_last_error());
                abort();
            }
    }
    if (size < 1) return 0;
    const int flags = data[0];
    char *all = fuzz_strndup(data + 1, size - 1); /* the text ends at the first NUL */
    const size_t text_len = strlen(all);
    const char *pair = (flags & 1) && text_len < size - 1 ? all + text_len + 1 : NULL;
    /* (the pair, after the NUL, ends at the copy's terminating NUL or at the next NUL) */
    const encore_input in = {all, pair};
    check_other(others[0], "BPE", all, pair, flags);
    check_other(others[1], "Unigram", all, pair, flags);
    const int truncate = !(flags & 2);
    encore_encoding *enc[2] = {NULL, NULL};
    const encore_task tasks[2] = {ENCORE_TASK_CLASSIFY, ENCORE_TASK_EMBED};
    for (int t = 0; t < 2; t++) {
        encore_encoding *whole = NULL;
        encore_tok_set_chunk_bytes(SIZE_MAX);
        const encore_status whole_st = encore_model_tokenize_for_task(model, in, tasks[t], truncate, &whole);
        encore_tok_set_chunk_bytes((size_t)((flags >> 3) & 7) + 1);
        encore_status st = encore_model_tokenize_for_task(model, in, tasks[t], truncate, &enc[t]);
        encore_tok_set_chunk_bytes(0);
        FUZZ_CHECK(st == whole_st && fuzz_same_encoding(enc[t], whole),
                   "a chunked encoding differs from the one-pass one (status %d and %d)", (int)st, (int)whole_st);
        encore_encoding_free(whole);
        if (st != ENCORE_STATUS_OK) {
            FUZZ_CHECK(enc[t] == NULL, "a failed tokenization left an encoding");
            FUZZ_CHECK(st == ENCORE_STATUS_BAD_INPUT || st == ENCORE_STATUS_TOO_LONG, "status %d: %s", (int)st,
                       encore_last_error());
            continue;
        }
        const int limit = encore_model_task_max_length(model, tasks[t]);
        FUZZ_CHECK(enc[t]->n_tokens >= 1 && enc[t]->n_tokens <= limit, "%d tokens, limit %d", enc[t]->n_tokens, limit);
        FUZZ_CHECK(truncate || enc[t]->n_untruncated == enc[t]->n_tokens, "untruncated %d, tokens %d",
                   enc[t]->n_untruncated, enc[t]->n_tokens);
    }
    if (flags & 4) {
        const encore_encoding *fixed = NULL;
        encore_encoding *own = NULL;
        encore_input other = {"a fine film", NULL};
        if (encore_model_tokenize(model, other, 1, &own) == ENCORE_STATUS_OK) fixed = own;
        float out[2 * 64];
        if (enc[0] && fixed) {
            const encore_encoding *batch[2] = {enc[0], fixed};
            FUZZ_CHECK(encore_session_classify_encoded(session, batch, 2, out) == ENCORE_STATUS_OK, "classify: %s",
                       encore_session_last_error(session));
            FUZZ_CHECK(out[0] == out[0] && out[1] == out[1], "a NaN score");
        }
        if (enc[1] && fixed) {
            const encore_encoding *batch[2] = {fixed, enc[1]};
            FUZZ_CHECK(encore_session_embed_encoded(session, batch, 2, ENCORE_POOLING_MEAN, 1, out) == ENCORE_STATUS_OK,
                       "embed: %s", encore_session_last_error(session));
        }
        encore_encoding_free(own);
    }
    encore_encoding_free(enc[0]);
    encore_encoding_free(enc[1]);
    free(all);
    return 0;
}
