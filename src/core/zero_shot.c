/* zero_shot.c: transformers' ZeroShotClassificationPipeline on a session:
 * each candidate label becomes an NLI hypothesis paired with the text, the
 * classifier's logits are taken at the entailment (and contradiction) ids,
 * and the scores are normalised and sorted as the pipeline does. */
#include "core/common.h"
#include "core/model.h"
#include "core/session.h"
#include "tokenizer/tokenizer.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

encore_zero_shot_params encore_zero_shot_default_params(void) {
    encore_zero_shot_params p;
    p.hypothesis_template = "This example is {}.";
    p.multi_label = 0;
    return p;
}

/* Python's template.format(label) for the fields a template may hold here:
 * {} and {0} are the label, {{ and }} a brace. Anything else ({name}, a
 * lone brace, a format spec) is refused. Returns a malloc'd string, or NULL
 * with *st set. */
static char *format_hypothesis(const char *tpl, const char *label, encore_status *st) {
    const size_t lt = strlen(tpl), ll = strlen(label);
    size_t fields = 0;
    for (size_t i = 0; i < lt; i++) fields += tpl[i] == '{';
    size_t cap = encore_size_add(lt, encore_size_mul(fields, ll));
    char *out = cap < SIZE_MAX ? malloc(cap + 1) : NULL;
    if (!out) {
        *st = encore_fail(ENCORE_STATUS_OUT_OF_MEMORY, "out of memory");
        return NULL;
    }
    size_t n = 0;
    for (size_t i = 0; i < lt;) {
        if (tpl[i] == '{' && tpl[i + 1] == '{') {
            out[n++] = '{';
            i += 2;
        } else if (tpl[i] == '}' && tpl[i + 1] == '}') {
            out[n++] = '}';
            i += 2;
        } else if (tpl[i] == '{' && tpl[i + 1] == '}') {
            memcpy(out + n, label, ll);
            n += ll;
            i += 2;
        } else if (tpl[i] == '{' && tpl[i + 1] == '0' && tpl[i + 2] == '}') {
            memcpy(out + n, label, ll);
            n += ll;
            i += 3;
        } else if (tpl[i] == '{' || tpl[i] == '}') {
            free(out);
            *st = encore_fail(ENCORE_STATUS_BAD_INPUT,
                              "hypothesis_template \"%s\": only {} (or {0}) may stand for the label; write {{ and }} "
                              "for braces",
                              tpl);
            return NULL;
        } else {
            out[n++] = tpl[i++];
        }
    }
    out[n] = '\0';
    *st = ENCORE_STATUS_OK;
    return out;
}

typedef struct zero_shot_work {
    char **hyps;              /* (n) hypotheses */
    encore_encoding **encs;   /* (n) each (text, hypothesis) pair, tokenized */
    const encore_encoding **runs; /* (distinct) the pairs that run */
    int *row;                 /* (n) each candidate's row of logits */
    float *logits;            /* (distinct, L) */
    int n;
} zero_shot_work;

static void work_free(zero_shot_work *w) {
    for (int i = 0; w->hyps && i < w->n; i++) free(w->hyps[i]);
    for (int i = 0; w->encs && i < w->n; i++) encore_encoding_free(w->encs[i]);
    free(w->hyps);
    free(w->encs);
    free(w->runs);
    free(w->row);
    free(w->logits);
}

static int same_tokens(const encore_encoding *a, const encore_encoding *b) {
    return a->n_tokens == b->n_tokens && memcmp(a->ids, b->ids, (size_t)a->n_tokens * sizeof *a->ids) == 0 &&
           memcmp(a->type_ids, b->type_ids, (size_t)a->n_tokens * sizeof *a->type_ids) == 0;
}

/* The pipeline tokenizes each pair with truncation="only_first": a pair
 * longer than the model takes loses tokens from the end of the text only,
 * never from the hypothesis; when even an empty text would not make room,
 * it runs uncut, which is too long. The pair's layout is the tokenizer's
 * ([CLS] A [SEP] B [SEP] for BERT, <s> A </s></s> B </s> for RoBERTa): the
 * whole pair is tokenized and the text's last tokens left out. *out is one
 * block, as the tokenizer's encodings are, so encore_encoding_free() frees
 * it. */
static encore_status tokenize_pair(const encore_model *m, const char *text, const char *hyp, int truncate,
                                   encore_encoding **out) {
    const encore_input pair = {text, hyp};
    encore_status st = encore_model_tokenize_for_task(m, pair, ENCORE_TASK_CLASSIFY, 0, out);
    if (st != ENCORE_STATUS_TOO_LONG || !truncate) return st;
    encore_encoding *full = NULL;
    if ((st = encore_tokenizer_encode(m->tokenizer, text, hyp, 0, &full)) != ENCORE_STATUS_OK) return st;
    const int max_len = encore_model_max_length(m);
    int na = 0, nb = 0;
    for (int i = 0; i < full->n_tokens; i++) {
        na += full->sequence_ids[i] == 0;
        nb += full->sequence_ids[i] == 1;
    }
    const int specials = full->n_tokens - na - nb;
    const int keep = max_len - specials - nb; /* the text's tokens that fit */
    if (keep < 1 || keep >= na) {
        encore_encoding_free(full);
        return encore_fail(ENCORE_STATUS_TOO_LONG,
                           "the hypothesis takes %d of the model's %d tokens and leaves no room for the text, "
                           "which the pipeline alone cuts (truncation=\"only_first\")",
                           nb, max_len);
    }
    const int n = keep + nb + specials;
    encore_encoding *e = malloc(sizeof(encore_encoding) + (size_t)n * 6 * sizeof(int32_t));
    if (!e) {
        encore_encoding_free(full);
        return encore_fail(ENCORE_STATUS_OUT_OF_MEMORY, "out of memory");
    }
    int32_t *ints = (int32_t *)(e + 1);
    e->n_tokens = n;
    e->ids = ints;
    e->type_ids = ints + n;
    e->offsets = ints + 2 * n;
    e->sequence_ids = ints + 4 * n;
    e->word_ids = ints + 5 * n;
    e->n_untruncated = full->n_tokens;
    int k = 0, text_seen = 0;
    for (int i = 0; i < full->n_tokens; i++) {
        if (full->sequence_ids[i] == 0 && text_seen++ >= keep) continue;
        e->ids[k] = full->ids[i];
        e->type_ids[k] = full->type_ids[i];
        e->offsets[2 * k] = full->offsets[2 * i];
        e->offsets[2 * k + 1] = full->offsets[2 * i + 1];
        e->sequence_ids[k] = full->sequence_ids[i];
        e->word_ids[k] = full->word_ids[i];
        k++;
    }
    encore_encoding_free(full);
    *out = e;
    return ENCORE_STATUS_OK;
}

static encore_status classify(encore_session *s, const char *text, const char *const *labels, int n,
                              encore_zero_shot_params p, zero_shot_work *w, float *scores, int *order) {
    const encore_model *m = encore_session_model(s);
    const encore_config *c = &m->config;
    if (!c->has_head)
        return encore_fail(ENCORE_STATUS_UNSUPPORTED,
                           "%s has no sequence-classification head; zero-shot classification needs an NLI "
                           "classifier",
                           c->architecture_name);
    if (c->entailment_id < 0)
        return encore_fail(ENCORE_STATUS_UNSUPPORTED,
                           "no label of label2id in config.json starts with \"entail\"; zero-shot classification "
                           "needs an NLI classifier with an entailment label");
    if (n < 1) return encore_fail(ENCORE_STATUS_BAD_INPUT, "no candidate labels (at least one is needed)");
    if (!labels) return encore_fail(ENCORE_STATUS_INVALID_ARGUMENT, "NULL candidate labels");
    for (int i = 0; i < n; i++)
        if (!labels[i]) return encore_fail(ENCORE_STATUS_INVALID_ARGUMENT, "candidate label %d is NULL", i);
    const char *tpl = p.hypothesis_template ? p.hypothesis_template : "This example is {}.";
    const int L = c->n_labels;
    w->n = n;
    w->hyps = calloc((size_t)n, sizeof *w->hyps);
    w->encs = calloc((size_t)n, sizeof *w->encs);
    w->runs = malloc((size_t)n * sizeof *w->runs);
    w->row = malloc((size_t)n * sizeof *w->row);
    w->logits = malloc(encore_size_mul((size_t)n, (size_t)L) * sizeof(float));
    if (!w->hyps || !w->encs || !w->runs || !w->row || !w->logits)
        return encore_fail(ENCORE_STATUS_OUT_OF_MEMORY, "out of memory");
    encore_status st;
    int distinct = 0;
    for (int i = 0; i < n; i++) {
        if (!(w->hyps[i] = format_hypothesis(tpl, labels[i], &st))) return st;
        /* The pipeline refuses a template that formatting leaves as it is. */
        if (i == 0 && strcmp(w->hyps[0], tpl) == 0)
            return encore_fail(ENCORE_STATUS_BAD_INPUT,
                               "hypothesis_template \"%s\" has no place for the label; put {} where it goes", tpl);
        const encore_input in = {text, w->hyps[i]};
        if ((st = tokenize_pair(m, in.text, in.text_pair, encore_session_truncates(s), &w->encs[i]))) {
            char msg[ENCORE_ERROR_LEN];
            snprintf(msg, sizeof msg, "%s", encore_last_error());
            return encore_fail(st, "candidate %d: %s", i, msg);
        }
        /* One run per distinct token sequence: candidates the tokenizer
         * cannot tell apart get equal logits, bit for bit, as the pipeline
         * (one pair per forward pass) gives them, and so tie. */
        w->row[i] = -1;
        for (int j = 0; j < i && w->row[i] < 0; j++)
            if (same_tokens(w->encs[i], w->encs[j])) w->row[i] = w->row[j];
        if (w->row[i] < 0) {
            w->runs[distinct] = w->encs[i];
            w->row[i] = distinct++;
        }
    }
    if ((st = encore_session_logits_encoded(s, w->runs, distinct, w->logits))) return st;

    /* numpy, in float32: exp(x) / exp(x).sum() (no max subtracted). */
    const int ent = c->entailment_id, contra = ent == 0 ? L - 1 : 0;
    if (p.multi_label || n == 1) {
        for (int i = 0; i < n; i++) {
            const float *lg = w->logits + (size_t)w->row[i] * L;
            const float e = expf(lg[ent]), k = expf(lg[contra]);
            scores[i] = e / (k + e);
        }
    } else {
        float sum = 0.0f;
        for (int i = 0; i < n; i++) sum += expf(w->logits[(size_t)w->row[i] * L + ent]);
        for (int i = 0; i < n; i++) scores[i] = expf(w->logits[(size_t)w->row[i] * L + ent]) / sum;
    }
    /* list(reversed(scores.argsort())): best first; argsort keeps equal
     * scores in index order, so reversed they come later index first. */
    for (int i = 0; i < n; i++) {
        int j = i;
        while (j > 0 && scores[order[j - 1]] < scores[n - 1 - i]) {
            order[j] = order[j - 1];
            j--;
        }
        order[j] = n - 1 - i;
    }
    return ENCORE_STATUS_OK;
}

encore_status encore_session_zero_shot(encore_session *s, const char *text, const char *const *labels, int n_labels,
                                       encore_zero_shot_params params, float *scores, int *order) {
    if (!s) return encore_fail(ENCORE_STATUS_INVALID_ARGUMENT, "NULL session");
    if (!text || (n_labels > 0 && (!scores || !order))) {
        encore_fail(ENCORE_STATUS_INVALID_ARGUMENT, "encore_session_zero_shot: NULL text, scores or order");
        return encore_session_fail(s, ENCORE_STATUS_INVALID_ARGUMENT);
    }
    zero_shot_work w;
    memset(&w, 0, sizeof w);
    encore_status st = classify(s, text, labels, n_labels, params, &w, scores, order);
    work_free(&w);
    return st == ENCORE_STATUS_OK ? st : encore_session_fail(s, st);
}
