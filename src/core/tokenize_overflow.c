/* tokenize_overflow.c: an over-long input as several windows, as tokenizers
 * gives them with return_overflowing_tokens=True and a stride: the text that
 * is cut (the pair's second text for truncation="only_second", its first
 * for "only_first", the only text of a single input) is split into pieces
 * that each fill what the window leaves, every piece after the first
 * repeating the last `stride` tokens of the one before; the other text and
 * the special tokens are in every window. This is tokenizers'
 * Encoding::truncate (direction right) followed by its post-processor, which
 * for a pair whose first text has no overflow lists the first window, then
 * the others in order. The question-answering pipeline reads its contexts
 * this way (doc_stride). */
#include "core/common.h"
#include "core/model.h"
#include "tokenizer/tokenizer.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

encore_overflow_params encore_overflow_default_params(void) {
    encore_overflow_params p;
    p.max_length = 0;
    p.stride = 0;
    p.truncate_first = 0;
    return p;
}

void encore_encodings_free(encore_encoding **encodings, int n) {
    for (int i = 0; encodings && i < n; i++) encore_encoding_free(encodings[i]);
    free(encodings);
}

/* One window: the whole encoding's tokens [0, a) then [b, c) then [d, n):
 * the parts before, inside and after the cut text's piece. One block, as the
 * tokenizer lays out its encodings, so encore_encoding_free frees it. */
static encore_encoding *window(const encore_encoding *full, int a, int b, int c, int d) {
    const int n = a + (c - b) + (full->n_tokens - d);
    encore_encoding *w = malloc(sizeof *w + 6 * (size_t)n * sizeof(int32_t));
    if (!w) return NULL;
    w->n_tokens = n;
    w->n_untruncated = full->n_tokens;
    w->ids = (int32_t *)(w + 1);
    w->type_ids = w->ids + n;
    w->sequence_ids = w->type_ids + n;
    w->offsets = w->sequence_ids + n;
    w->word_ids = w->offsets + 2 * n;
    const int from[3] = {0, b, d}, to[3] = {a, c, full->n_tokens};
    int k = 0;
    for (int part = 0; part < 3; part++)
        for (int i = from[part]; i < to[part]; i++, k++) {
            w->ids[k] = full->ids[i];
            w->type_ids[k] = full->type_ids[i];
            w->sequence_ids[k] = full->sequence_ids[i];
            w->offsets[2 * k] = full->offsets[2 * i];
            w->offsets[2 * k + 1] = full->offsets[2 * i + 1];
            w->word_ids[k] = full->word_ids[i];
        }
    return w;
}

encore_status encore_model_tokenize_overflow(const encore_model *m, encore_input input, encore_overflow_params p,
                                             encore_encoding ***out, int *n_out) {
    if (!m || !input.text || !out || !n_out)
        return encore_fail(ENCORE_STATUS_INVALID_ARGUMENT, "encore_model_tokenize_overflow: NULL argument");
    *out = NULL;
    *n_out = 0;
    const int model_max = encore_model_max_length(m);
    const int max_len = p.max_length ? p.max_length : model_max;
    if (max_len < 1 || max_len > model_max)
        return encore_fail(ENCORE_STATUS_INVALID_ARGUMENT, "max_length %d is out of range: the model takes 1 to %d tokens",
                           p.max_length, model_max);
    if (p.stride < 0) return encore_fail(ENCORE_STATUS_INVALID_ARGUMENT, "stride %d is negative", p.stride);
    const int pair = input.text_pair && input.text_pair[0];
    if (p.truncate_first != 0 && p.truncate_first != 1)
        return encore_fail(ENCORE_STATUS_INVALID_ARGUMENT, "truncate_first is 0 or 1, not %d", p.truncate_first);
    /* The whole input once, untruncated: WordPiece splits each word alone,
     * so a window's tokens are a slice of these. */
    encore_encoding *full = NULL;
    encore_status st = encore_tokenizer_encode(m->tokenizer, input.text, input.text_pair, 0, &full);
    if (st != ENCORE_STATUS_OK) return st;
    const int n = full->n_tokens;
    /* The cut text's tokens: [first, last) of the encoding. */
    const int cut_seq = pair ? (p.truncate_first ? 0 : 1) : 0;
    int first = -1, last = -1;
    for (int i = 0; i < n; i++)
        if (full->sequence_ids[i] == cut_seq) {
            if (first < 0) first = i;
            last = i + 1;
        }
    if (first < 0) first = last = pair && cut_seq == 0 ? 1 : n - 1; /* an empty text: nothing to cut */
    const int len = last - first;      /* tokens of the cut text */
    const int room = max_len - (n - len); /* what the window leaves it */
    int n_windows = 1;
    if (n > max_len) {
        if (room <= 0) {
            encore_encoding_free(full);
            return encore_fail(ENCORE_STATUS_BAD_INPUT,
                               "the input does not fit in %d tokens: the %s and the special tokens take %d, which "
                               "leaves no room for the %s text",
                               max_len, pair ? (cut_seq ? "first text" : "second text") : "special tokens", n - len,
                               pair ? (cut_seq ? "second" : "first") : "");
        }
        if (p.stride >= room) {
            encore_encoding_free(full);
            return encore_fail(ENCORE_STATUS_BAD_INPUT,
                               "stride %d must be less than the %d tokens each window leaves the cut text "
                               "(max_length %d less %d for the rest)",
                               p.stride, room, max_len, n - len);
        }
        const int step = room - p.stride;
        n_windows = 1 + (len - room + step - 1) / step;
    }
    encore_encoding **w = calloc((size_t)n_windows, sizeof *w);
    if (!w) {
        encore_encoding_free(full);
        return encore_fail(ENCORE_STATUS_OUT_OF_MEMORY, "out of memory for %d windows", n_windows);
    }
    if (n_windows == 1) {
        w[0] = full;
        *out = w;
        *n_out = 1;
        return ENCORE_STATUS_OK;
    }
    const int step = room - p.stride;
    for (int i = 0; i < n_windows; i++) {
        const int start = i * step, stop = start + room < len ? start + room : len;
        w[i] = window(full, first, first + start, first + stop, last);
        if (!w[i]) {
            encore_encodings_free(w, i);
            encore_encoding_free(full);
            return encore_fail(ENCORE_STATUS_OUT_OF_MEMORY, "out of memory for %d windows", n_windows);
        }
    }
    encore_encoding_free(full);
    *out = w;
    *n_out = n_windows;
    return ENCORE_STATUS_OK;
}
