/* fuzz_qa.c: any question and context, with any parameters, through the
 * overflowing windows (encore_model_tokenize_overflow) and question
 * answering (encore_session_question_answer) on the tiny span-head fixtures
 * (BERT's WordPiece, RoBERTa's byte-level BPE, XLM-R's Unigram words).
 *
 * Checked: a refusal is a status with nothing left behind; every window
 * holds at most max_seq_len tokens, the whole question, and a piece of the
 * context that starts `step` tokens after the previous one's; every answer
 * lies inside the context (0 <= start <= end <= its characters) and is its
 * text there, scores are finite, positive and best first, at most top_k.
 *
 * Input: byte 0: flags (1: align_to_words off, 2: handle_impossible_answer,
 * bits 2-4: top_k - 1, bits 5-6: the fixture, BERT, RoBERTa or XLM-R); byte 1: max_seq_len (8 + byte % 57); byte 2:
 * doc_stride (byte % (max_seq_len + 2)); byte 3: max_answer_len (1 + byte %
 * 20); then the question, and the context after the first NUL. */
#include "fuzz_common.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

static const char *const fixture_names[3] = {"tiny-bert-qa", "tiny-roberta-qa", "tiny-xlmr-qa"};
static encore_model *models[3];
static encore_session *sessions[3];
static encore_model *model; /* the input's */

/* Byte offset of character c of s (len bytes, valid UTF-8). */
static size_t char_to_byte(const char *s, size_t len, int c) {
    size_t i = 0;
    for (int k = 0; k < c && i < len; k++) {
        const int n = encore_utf8_decode(s + i, len - i, NULL);
        i += n > 0 ? (size_t)n : 1;
    }
    return i;
}

static int n_chars(const char *s, size_t len) {
    int c = 0;
    for (size_t i = 0; i < len; i++) c += ((unsigned char)s[i] & 0xC0) != 0x80;
    return c;
}

static void check_windows(const char *question, const char *context, int max_len, int stride) {
    encore_overflow_params op = encore_overflow_default_params();
    op.max_length = max_len;
    op.stride = stride;
    encore_input in = {question, context};
    encore_encoding **w = NULL;
    int n = -1;
    const encore_status st = encore_model_tokenize_overflow(model, in, op, &w, &n);
    if (st != ENCORE_STATUS_OK) {
        FUZZ_CHECK(w == NULL && n == 0, "a refused input left windows");
        FUZZ_CHECK(st == ENCORE_STATUS_BAD_INPUT, "status %d: %s", (int)st, encore_last_error());
        return;
    }
    FUZZ_CHECK(n >= 1, "no window");
    int question_tokens = -1, prev_first = -1, prev_len = 0;
    for (int i = 0; i < n; i++) {
        const encore_encoding *e = w[i];
        FUZZ_CHECK(n == 1 || e->n_tokens <= max_len, "a window of %d tokens, max_length %d", e->n_tokens, max_len);
        int q = 0, c = 0;
        for (int t = 0; t < e->n_tokens; t++) {
            q += e->sequence_ids[t] == 0;
            c += e->sequence_ids[t] == 1;
        }
        FUZZ_CHECK(question_tokens < 0 || q == question_tokens, "the question is cut: %d then %d tokens",
                   question_tokens, q);
        question_tokens = q;
        /* the context's piece: where it starts in the whole context, by offset */
        int first = -1;
        for (int t = 0; t < e->n_tokens && first < 0; t++)
            if (e->sequence_ids[t] == 1) first = e->offsets[2 * t];
        FUZZ_CHECK(n == 1 || c >= 1, "a window without context");
        FUZZ_CHECK(i == 0 || first >= prev_first, "windows out of order");
        FUZZ_CHECK(i == 0 || stride < prev_len, "a stride of %d over a piece of %d", stride, prev_len);
        prev_first = first;
        prev_len = c;
    }
    encore_encodings_free(w, n);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    if (!models[0]) {
        fuzz_quiet();
        encore_session_params sp = encore_session_default_params();
        sp.n_threads = 1;
        for (int i = 0; i < 3; i++)
            if (encore_model_load(fuzz_fixture(fixture_names[i]), encore_model_default_params(), &models[i]) !=
                    ENCORE_STATUS_OK ||
                encore_session_create(models[i], sp, &sessions[i]) != ENCORE_STATUS_OK) {
                fprintf(stderr, "cannot load the fixture model %s: %s\n", fixture_names[i], encore_last_error());
                abort();
            }
    }
    if (size < 4) return 0;
    const int which = ((data[0] >> 5) & 3) % 3;
    model = models[which];
    encore_session *session = sessions[which];
    encore_qa_params p = encore_qa_default_params();
    p.align_to_words = !(data[0] & 1);
    p.handle_impossible_answer = (data[0] & 2) != 0;
    p.top_k = ((data[0] >> 2) & 7) + 1;
    p.max_seq_len = 8 + data[1] % 57;
    p.doc_stride = data[2] % (p.max_seq_len + 2);
    p.max_answer_len = 1 + data[3] % 20;
    char *all = fuzz_strndup(data + 4, size - 4); /* the question ends at the first NUL */
    const size_t q_len = strlen(all);
    const char *context = q_len < size - 4 ? all + q_len + 1 : "";
    const size_t c_len = strlen(context);

    if (encore_utf8_validate(all, q_len) == q_len && encore_utf8_validate(context, c_len) == c_len && c_len > 0)
        check_windows(all, context, p.max_seq_len, p.doc_stride);

    encore_qa_result *r = NULL;
    const encore_status st = encore_session_question_answer(session, all, context, p, &r);
    if (st != ENCORE_STATUS_OK) {
        FUZZ_CHECK(r == NULL, "a refused question left a result");
        FUZZ_CHECK(st == ENCORE_STATUS_BAD_INPUT || st == ENCORE_STATUS_INVALID_ARGUMENT, "status %d: %s", (int)st,
                   encore_session_last_error(session));
    } else {
        FUZZ_CHECK(r->n_answers <= p.top_k, "%d answers for top_k %d", r->n_answers, p.top_k);
        const int chars = n_chars(context, c_len);
        for (int i = 0; i < r->n_answers; i++) {
            const encore_qa_answer *a = &r->answers[i];
            FUZZ_CHECK(0 <= a->start && a->start <= a->end && a->end <= chars, "answer %d at [%d, %d) of %d characters",
                       i, a->start, a->end, chars);
            const size_t bs = char_to_byte(context, c_len, a->start), be = char_to_byte(context, c_len, a->end);
            FUZZ_CHECK(strlen(a->answer) == be - bs && memcmp(a->answer, context + bs, be - bs) == 0,
                       "answer %d is not the context at its offsets", i);
            FUZZ_CHECK(isfinite(a->score) && a->score >= 0.0f, "answer %d scores %g", i, (double)a->score);
            FUZZ_CHECK(i == 0 || a->score <= r->answers[i - 1].score, "answers out of order");
        }
        encore_qa_result_free(r);
    }
    free(all);
    return 0;
}
