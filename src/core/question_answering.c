/* question_answering.c: transformers 4.57's QuestionAnsweringPipeline (fast
 * tokenizer path) on a session. The question and the context become windows
 * of max_seq_len tokens (the context cut only_second with doc_stride, see
 * tokenize_overflow.c); the span head gives each token a start and an end
 * logit; then the pipeline's post-processing on the host, as its
 * select_starts_ends / decode_spans / postprocess do:
 *
 *   - per window, tokens that cannot be in an answer (the question, the
 *     special tokens but [CLS]) get the logit -10000, then a softmax of the
 *     start and of the end logits over the window;
 *   - with handle_impossible_answer the null score is the smallest
 *     p_start([CLS]) * p_end([CLS]) over the windows; [CLS] is then zeroed;
 *   - the spans start <= end < start + max_answer_len, scored
 *     p_start * p_end, best first, the window's top (top_k * 2 + 10 with
 *     align_to_words, else top_k);
 *   - each span to characters of the context: its first and last tokens'
 *     offsets, or, with align_to_words, those of the words they are in
 *     (the tokens of the word within the window); an answer whose text
 *     (compared in lower case) is already listed adds its score to it;
 *   - the null answer {score, 0, 0, ""} appended, a stable sort by score,
 *     the first top_k.
 * Scores are computed in double (the pipeline: float32 numpy, then Python
 * floats); they agree to about 1e-7. One difference: when a window has fewer
 * spans of non-zero score than it takes, numpy's argpartition fills the rest
 * with arbitrary zero-score spans; encore takes only the non-zero ones, so a
 * zero-score answer never appears. */
#include "core/common.h"
#include "core/model.h"
#include "core/session.h"
#include "tokenizer/tokenizer.h"
#include "tokenizer/unicode.h"

#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* The pipeline's mask value for tokens that cannot be in an answer. */
#define QA_MASKED_LOGIT (-10000.0)

encore_qa_params encore_qa_default_params(void) {
    encore_qa_params p;
    p.top_k = 1;
    p.doc_stride = -1;
    p.max_answer_len = 15;
    p.max_seq_len = 0;
    p.max_question_len = 64;
    p.handle_impossible_answer = 0;
    p.align_to_words = 1;
    return p;
}

void encore_qa_result_free(encore_qa_result *r) {
    if (!r) return;
    for (int i = 0; r->answers && i < r->n_answers; i++) free(r->answers[i].answer);
    free(r->answers);
    free(r);
}

/* An answer while the windows are read: byte offsets into the context. */
typedef struct qa_candidate {
    double score;
    int start, end; /* bytes */
} qa_candidate;

typedef struct qa_list {
    qa_candidate *items;
    int n, cap;
} qa_list;

static int list_push(qa_list *l, qa_candidate c) {
    if (l->n == l->cap) {
        const int cap = l->cap ? 2 * l->cap : 16;
        qa_candidate *p = realloc(l->items, (size_t)cap * sizeof *p);
        if (!p) return 0;
        l->items = p;
        l->cap = cap;
    }
    l->items[l->n++] = c;
    return 1;
}

/* Next code point of s[*i, n) lowered as Rust's char::to_lowercase (the
 * tokenizer's tables): up to two in out, their count returned; 0 at the end. */
static int lower_next(const char *s, size_t n, size_t *i, uint32_t out[2]) {
    if (*i >= n) return 0;
    uint32_t cp;
    int len = encore_utf8_decode(s + *i, n - *i, &cp);
    *i += len > 0 ? (size_t)len : 1;
    return encore_unicode_lowercase(cp, out);
}

/* Python's a.lower() == b.lower() for the pipeline's merge of answers (the
 * final-sigma rule aside). */
static int same_lower(const char *a, size_t na, const char *b, size_t nb) {
    size_t i = 0, j = 0;
    uint32_t x[2], y[2];
    int nx = 0, ny = 0, ix = 0, iy = 0;
    for (;;) {
        if (ix == nx) {
            nx = lower_next(a, na, &i, x);
            ix = 0;
        }
        if (iy == ny) {
            ny = lower_next(b, nb, &j, y);
            iy = 0;
        }
        if (nx == 0 || ny == 0) return nx == 0 && ny == 0;
        if (x[ix++] != y[iy++]) return 0;
    }
}

/* Characters (code points) in s[0, n): Python's index of byte offset n. */
static int char_index(const char *s, int n) {
    int c = 0;
    for (int i = 0; i < n; i++) c += ((unsigned char)s[i] & 0xC0) != 0x80;
    return c;
}

/* The softmax of the window's logits (column col of its (L, 2) rows) with the
 * masked tokens at QA_MASKED_LOGIT. p: (L). */
static void masked_softmax(const float *logits, int col, const unsigned char *allowed, int L, double *p) {
    double mx = -INFINITY;
    for (int i = 0; i < L; i++) {
        p[i] = allowed[i] ? (double)logits[2 * i + col] : QA_MASKED_LOGIT;
        mx = p[i] > mx ? p[i] : mx;
    }
    double sum = 0.0;
    for (int i = 0; i < L; i++) sum += (p[i] = exp(p[i] - mx));
    for (int i = 0; i < L; i++) p[i] /= sum;
}

typedef struct qa_span {
    double score;
    int s, e;
} qa_span;

/* Best first; ties: the smaller flat index (s, e) first, as np.argmax. */
static int span_cmp(const void *a, const void *b) {
    const qa_span *x = a, *y = b;
    if (x->score != y->score) return x->score < y->score ? 1 : -1;
    if (x->s != y->s) return x->s < y->s ? -1 : 1;
    return (x->e > y->e) - (x->e < y->e);
}

/* Keep the k best of the spans seen so far in top[0, *n) (sorted). */
static void top_insert(qa_span *top, int *n, int k, qa_span c) {
    int j = *n;
    if (j == k) {
        if (span_cmp(&c, &top[k - 1]) >= 0) return;
        j = k - 1;
    } else {
        (*n)++;
    }
    while (j > 0 && span_cmp(&c, &top[j - 1]) < 0) {
        top[j] = top[j - 1];
        j--;
    }
    top[j] = c;
}

/* The first and last tokens of the word token t is in, within the window:
 * tokenizers' word_to_chars(token_to_word(t)), from the tokenizer's word ids
 * (the pre-tokenizer's splits: WordPiece's words, byte-level BPE's regex
 * pieces, Metaspace's words). */
static void word_bounds(const encore_encoding *w, int t, int *first, int *last) {
    int a = t, b = t;
    const int32_t seq = w->sequence_ids[t], word = w->word_ids[t];
    while (a > 0 && w->sequence_ids[a - 1] == seq && w->word_ids[a - 1] == word) a--;
    while (b + 1 < w->n_tokens && w->sequence_ids[b + 1] == seq && w->word_ids[b + 1] == word) b++;
    *first = a;
    *last = b;
}

typedef struct qa_work {
    encore_encoding **windows;
    int n_windows;
    float *logits;        /* (total tokens, 2) */
    double *ps, *pe;      /* (max_seq_len) */
    unsigned char *allowed; /* (max_seq_len) */
    qa_span *top;         /* (pre_topk) */
    qa_list answers;
} qa_work;

static void work_free(qa_work *w) {
    encore_encodings_free(w->windows, w->n_windows);
    free(w->logits);
    free(w->ps);
    free(w->pe);
    free(w->allowed);
    free(w->top);
    free(w->answers.items);
}

static encore_status check_params(const encore_model *m, encore_qa_params *p) {
    if (p->top_k < 1) return encore_fail(ENCORE_STATUS_INVALID_ARGUMENT, "top_k must be >= 1 (got %d)", p->top_k);
    if (p->max_answer_len < 1)
        return encore_fail(ENCORE_STATUS_INVALID_ARGUMENT, "max_answer_len must be >= 1 (got %d)", p->max_answer_len);
    const int model_max = encore_model_max_length(m);
    if (p->max_seq_len == 0) {
        /* The pipeline: min(tokenizer.model_max_length, 384). */
        const int tok_max = encore_tokenizer_get_settings(m->tokenizer)->model_max_length;
        p->max_seq_len = tok_max > 0 && tok_max < 384 ? tok_max : 384;
        if (p->max_seq_len > model_max) p->max_seq_len = model_max;
    }
    if (p->max_seq_len < 1 || p->max_seq_len > model_max)
        return encore_fail(ENCORE_STATUS_INVALID_ARGUMENT, "max_seq_len %d is out of range: the model takes 1 to %d tokens",
                           p->max_seq_len, model_max);
    if (p->doc_stride < 0) p->doc_stride = p->max_seq_len / 2 < 128 ? p->max_seq_len / 2 : 128;
    if (p->doc_stride > p->max_seq_len)
        return encore_fail(ENCORE_STATUS_INVALID_ARGUMENT, "doc_stride (%d) is larger than max_seq_len (%d)",
                           p->doc_stride, p->max_seq_len);
    return ENCORE_STATUS_OK;
}

static encore_status answer(encore_session *s, const char *question, const char *context, encore_qa_params p,
                            qa_work *w, encore_qa_result *r) {
    const encore_model *m = encore_session_model(s);
    if (encore_model_token_head(m) != ENCORE_TOKEN_HEAD_SPAN)
        return encore_fail(ENCORE_STATUS_UNSUPPORTED,
                           "%s is not a question-answering model (it has no span head, qa_outputs); question "
                           "answering needs a *ForQuestionAnswering model",
                           encore_model_architecture_name(m));
    if (!question[0]) return encore_fail(ENCORE_STATUS_BAD_INPUT, "the question is empty");
    if (!context[0]) return encore_fail(ENCORE_STATUS_BAD_INPUT, "the context is empty");
    encore_status st = check_params(m, &p);
    if (st != ENCORE_STATUS_OK) return st;
    const size_t ctx_len = strlen(context);
    if (encore_utf8_validate(question, strlen(question)) != strlen(question))
        return encore_fail(ENCORE_STATUS_BAD_INPUT, "the question is not valid UTF-8");
    if (encore_utf8_validate(context, ctx_len) != ctx_len)
        return encore_fail(ENCORE_STATUS_BAD_INPUT, "the context is not valid UTF-8");

    encore_overflow_params op = encore_overflow_default_params();
    op.max_length = p.max_seq_len;
    op.stride = p.doc_stride;
    encore_input in = {question, context};
    if ((st = encore_model_tokenize_overflow(m, in, op, &w->windows, &w->n_windows)) != ENCORE_STATUS_OK) {
        char msg[ENCORE_ERROR_LEN];
        snprintf(msg, sizeof msg, "%s", encore_last_error());
        return encore_fail(st, "%s (max_seq_len %d, doc_stride %d)", msg, p.max_seq_len, p.doc_stride);
    }
    size_t total = 0;
    int has_context = 0;
    for (int i = 0; i < w->n_windows; i++) {
        total += (size_t)w->windows[i]->n_tokens;
        for (int t = 0; t < w->windows[i]->n_tokens; t++) has_context |= w->windows[i]->sequence_ids[t] == 1;
    }
    if (!has_context) return encore_fail(ENCORE_STATUS_BAD_INPUT, "the context has no tokens (only spaces or controls)");
    const int pre_topk = p.align_to_words ? (p.top_k > (INT32_MAX - 10) / 2 ? INT32_MAX : p.top_k * 2 + 10) : p.top_k;
    const int M = p.max_seq_len;
    /* no more spans than a window has: M * max_answer_len at most */
    const long long spans = (long long)M * (p.max_answer_len < M ? p.max_answer_len : M);
    const int k_cap = (long long)pre_topk < spans ? pre_topk : (int)spans;
    const size_t lbytes = encore_size_mul(encore_size_mul(total, 2), sizeof(float));
    w->logits = lbytes == SIZE_MAX ? NULL : malloc(lbytes);
    w->ps = malloc((size_t)M * sizeof *w->ps);
    w->pe = malloc((size_t)M * sizeof *w->pe);
    w->allowed = malloc((size_t)M);
    w->top = malloc((size_t)k_cap * sizeof *w->top);
    if (!w->logits || !w->ps || !w->pe || !w->allowed || !w->top)
        return encore_fail(ENCORE_STATUS_OUT_OF_MEMORY, "out of memory for %d windows", w->n_windows);
    if ((st = encore_session_token_logits_encoded(s, (const encore_encoding *const *)w->windows, w->n_windows,
                                                  w->logits)) != ENCORE_STATUS_OK)
        return st;

    double min_null = 1000000.0; /* the pipeline's "large and positive" start */
    const float *lg = w->logits;
    for (int wi = 0; wi < w->n_windows; lg += 2 * (size_t)w->windows[wi]->n_tokens, wi++) {
        const encore_encoding *e = w->windows[wi];
        const int L = e->n_tokens;
        const int32_t cls = e->ids[0]; /* [CLS] A [SEP] B [SEP] */
        for (int t = 0; t < L; t++) w->allowed[t] = e->sequence_ids[t] == 1 || e->ids[t] == cls;
        masked_softmax(lg, 0, w->allowed, L, w->ps);
        masked_softmax(lg, 1, w->allowed, L, w->pe);
        if (p.handle_impossible_answer && w->ps[0] * w->pe[0] < min_null) min_null = w->ps[0] * w->pe[0];
        w->ps[0] = w->pe[0] = 0.0;
        int n_top = 0;
        for (int a = 0; a < L; a++) {
            /* Spans of the context only: the pipeline also leaves unmasked a
             * [CLS] typed into the question, whose offsets are not the
             * context's; encore does not answer with it. */
            if (w->ps[a] <= 0.0 || e->sequence_ids[a] != 1) continue;
            const int last = a + p.max_answer_len - 1 < L - 1 ? a + p.max_answer_len - 1 : L - 1;
            for (int b = a; b <= last; b++) {
                if (w->pe[b] <= 0.0 || e->sequence_ids[b] != 1) continue;
                qa_span c = {w->ps[a] * w->pe[b], a, b};
                if (c.score > 0.0) top_insert(w->top, &n_top, k_cap, c);
            }
        }
        for (int i = 0; i < n_top; i++) {
            int a = w->top[i].s, b = w->top[i].e;
            if (p.align_to_words) {
                int f, l;
                word_bounds(e, a, &f, &l);
                a = f;
                word_bounds(e, b, &f, &l);
                b = l;
            }
            /* Context tokens: byte offsets into the context (the tokenizer's). */
            const int bs = e->offsets[2 * a], be = e->offsets[2 * b + 1];
            int found = -1;
            for (int j = 0; j < w->answers.n && found < 0; j++) {
                const qa_candidate *q = &w->answers.items[j];
                if (same_lower(context + q->start, (size_t)(q->end - q->start), context + bs, (size_t)(be - bs)))
                    found = j;
            }
            if (found >= 0) {
                w->answers.items[found].score += w->top[i].score;
            } else {
                qa_candidate c = {w->top[i].score, bs, be < bs ? bs : be};
                if (!list_push(&w->answers, c)) return encore_fail(ENCORE_STATUS_OUT_OF_MEMORY, "out of memory");
            }
        }
    }
    if (p.handle_impossible_answer) {
        qa_candidate c = {min_null, 0, 0};
        if (!list_push(&w->answers, c)) return encore_fail(ENCORE_STATUS_OUT_OF_MEMORY, "out of memory");
    }
    /* Python's sorted(..., reverse=True) is stable: a stable insertion sort. */
    qa_candidate *a = w->answers.items;
    for (int i = 1; i < w->answers.n; i++) {
        qa_candidate c = a[i];
        int j = i;
        while (j > 0 && a[j - 1].score < c.score) {
            a[j] = a[j - 1];
            j--;
        }
        a[j] = c;
    }
    const int n = w->answers.n < p.top_k ? w->answers.n : p.top_k;
    r->answers = calloc(n ? (size_t)n : 1, sizeof *r->answers);
    if (!r->answers) return encore_fail(ENCORE_STATUS_OUT_OF_MEMORY, "out of memory");
    for (int i = 0; i < n; i++) {
        encore_qa_answer *o = &r->answers[i];
        const size_t len = (size_t)(a[i].end - a[i].start);
        o->answer = malloc(len + 1);
        if (!o->answer) return encore_fail(ENCORE_STATUS_OUT_OF_MEMORY, "out of memory");
        memcpy(o->answer, context + a[i].start, len);
        o->answer[len] = '\0';
        o->score = (float)a[i].score;
        o->start = char_index(context, a[i].start);
        o->end = char_index(context, a[i].end);
        r->n_answers = i + 1;
    }
    return ENCORE_STATUS_OK;
}

encore_status encore_session_question_answer(encore_session *s, const char *question, const char *context,
                                             encore_qa_params params, encore_qa_result **out) {
    if (!s) return encore_fail(ENCORE_STATUS_INVALID_ARGUMENT, "NULL session");
    if (!out) {
        encore_fail(ENCORE_STATUS_INVALID_ARGUMENT, "encore_session_question_answer: NULL result");
        return encore_session_fail(s, ENCORE_STATUS_INVALID_ARGUMENT);
    }
    *out = NULL;
    if (!question || !context) {
        encore_fail(ENCORE_STATUS_BAD_INPUT, "a question needs a context: %s is missing", !question ? "the question" : "the context");
        return encore_session_fail(s, ENCORE_STATUS_BAD_INPUT);
    }
    encore_qa_result *r = calloc(1, sizeof *r);
    if (!r) {
        encore_fail(ENCORE_STATUS_OUT_OF_MEMORY, "out of memory");
        return encore_session_fail(s, ENCORE_STATUS_OUT_OF_MEMORY);
    }
    qa_work w;
    memset(&w, 0, sizeof w);
    encore_status st = answer(s, question, context, params, &w, r);
    work_free(&w);
    if (st != ENCORE_STATUS_OK) {
        encore_qa_result_free(r);
        return encore_session_fail(s, st);
    }
    *out = r;
    return ENCORE_STATUS_OK;
}
