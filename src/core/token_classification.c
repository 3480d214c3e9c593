/* token_classification.c: transformers' TokenClassificationPipeline (NER)
 * on a session. The encoder and the token classifier run on the session's
 * device (encore_session_token_logits_encoded); the post-processing runs
 * here, step for step as the pipeline's: softmax per token, the "pre
 * entities" (special tokens out, sub-words found by their length against
 * the text they cover), word aggregation (first / average / max), grouping
 * of B-/I- runs, then ignore_labels. Offsets are the pipeline's character
 * offsets (code points), from the tokenizer's byte offsets. */
#include "core/common.h"
#include "core/model.h"
#include "core/session.h"
#include "tokenizer/tokenizer.h"

#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static const char *const AGGREGATION_NAMES[] = {"none", "simple", "first", "average", "max"};
#define N_AGGREGATIONS ((int)(sizeof AGGREGATION_NAMES / sizeof *AGGREGATION_NAMES))

encore_status encore_aggregation_from_name(const char *name, encore_aggregation *out) {
    if (!name || !out) return encore_fail(ENCORE_STATUS_INVALID_ARGUMENT, "NULL aggregation strategy name or result");
    for (int i = 0; i < N_AGGREGATIONS; i++) {
        const char *a = AGGREGATION_NAMES[i];
        size_t k = 0;
        while (a[k] && name[k] && (name[k] == a[k] || name[k] == a[k] - 'a' + 'A')) k++;
        if (!a[k] && !name[k]) {
            *out = (encore_aggregation)i;
            return ENCORE_STATUS_OK;
        }
    }
    return encore_fail(ENCORE_STATUS_INVALID_ARGUMENT,
                       "unknown aggregation strategy '%.64s' (none, simple, first, average or max)", name);
}

const char *encore_aggregation_name(encore_aggregation a) {
    return (int)a >= 0 && (int)a < N_AGGREGATIONS ? AGGREGATION_NAMES[a] : NULL;
}

encore_token_classify_params encore_token_classify_default_params(void) {
    encore_token_classify_params p;
    p.aggregation = ENCORE_AGGREGATION_NONE;
    p.ignore_labels = NULL;
    p.n_ignore_labels = 0;
    p.stride = -1;
    return p;
}

static void entity_free(encore_entity *e) {
    free(e->entity);
    free(e->word);
}

void encore_token_classify_result_free(encore_token_classify_result *r) {
    if (!r) return;
    for (int i = 0; r->entities && i < r->n_entities; i++) entity_free(&r->entities[i]);
    free(r->entities);
    free(r);
}

/* One token that is not special: the pipeline's pre_entity. */
typedef struct pre_entity {
    const char *word;   /* the vocabulary token, or for [UNK] the text it covers (in slices) */
    const float *scores;/* (L) softmax over the labels */
    int32_t index;      /* position in the encoding */
    int32_t start, end; /* characters */
    int32_t start_byte, end_byte;
    int is_subword;
} pre_entity;

/* An entity before grouping: a token (NONE, SIMPLE) or a word. */
typedef struct token_entity {
    int label;
    float score;
    int32_t index;
    char *word;         /* owned */
    int32_t start, end, start_byte, end_byte;
} token_entity;

typedef struct ner_work {
    encore_encoding **windows; /* (n_windows): one encoding, or the stride's windows */
    int n_windows;
    int widest;           /* tokens of the longest window */
    float *scores;        /* (sum of the windows' tokens, L) logits, then softmax in place */
    pre_entity *pre;      /* (widest) one window's */
    char **slices;        /* (widest) the texts of its [UNK] tokens */
    token_entity *ents;   /* (widest) */
    int n_ents;
    const char **words;   /* (widest) scratch for decoding */
    double *acc;          /* (L) */
    float *avg;           /* (L) */
} ner_work;

/* Ready the per-window scratch for the next window. */
static void work_next_window(ner_work *w) {
    for (int i = 0; w->slices && i < w->widest; i++) {
        free(w->slices[i]);
        w->slices[i] = NULL;
    }
    for (int i = 0; w->ents && i < w->n_ents; i++) free(w->ents[i].word);
    w->n_ents = 0;
}

static void work_free(ner_work *w) {
    work_next_window(w);
    encore_encodings_free(w->windows, w->n_windows);
    free(w->scores);
    free(w->pre);
    free(w->slices);
    free(w->ents);
    free(w->words);
    free(w->acc);
    free(w->avg);
}

/* Code points in s[0, n) (valid UTF-8: the tokenizer checked it). */
static int32_t count_chars(const char *s, size_t n) {
    int32_t c = 0;
    for (size_t i = 0; i < n; i++) c += ((unsigned char)s[i] & 0xC0) != 0x80;
    return c;
}

/* Character index of byte offset b; the cursor remembers the last answer so
 * that offsets in text order cost one pass over the text. */
typedef struct char_cursor {
    const char *text;
    int32_t byte, chars;
} char_cursor;

static int32_t char_index(char_cursor *c, int32_t b) {
    if (b < c->byte) c->byte = 0, c->chars = 0;
    c->chars += count_chars(c->text + c->byte, (size_t)(b - c->byte));
    c->byte = b;
    return c->chars;
}

/* tokenizers' decode of token strings into a new string; NULL when out of memory. */
static char *decode_words(const encore_model *m, const char *const *words, int n) {
    const size_t len = encore_tokenizer_decode_tokens(m->tokenizer, words, n, NULL, 0);
    if (len == SIZE_MAX) return NULL;
    char *s = malloc(len + 1);
    if (s && encore_tokenizer_decode_tokens(m->tokenizer, words, n, s, len + 1) == SIZE_MAX) {
        free(s);
        return NULL;
    }
    return s;
}

static char *dup_str(const char *s, size_t n) {
    char *d = malloc(n + 1);
    if (!d) return NULL;
    memcpy(d, s, n);
    d[n] = '\0';
    return d;
}

/* numpy's argmax: the first of the largest (NaN counts as the largest). */
static int argmax(const float *v, int n) {
    int best = 0;
    for (int i = 0; i < n; i++) {
        if (isnan(v[i])) return i;
        if (v[i] > v[best]) best = i;
    }
    return best;
}

/* The pipeline's get_tag: "B-X" -> (B, X), "I-X" -> (I, X), else (I, label). */
static const char *tag_of(const char *label, int *is_b) {
    *is_b = strncmp(label, "B-", 2) == 0;
    if (*is_b || strncmp(label, "I-", 2) == 0) return label + 2;
    return label;
}

static int ignored(const char *label, const char *const *ignore, int n_ignore) {
    for (int i = 0; i < n_ignore; i++)
        if (strcmp(label, ignore[i]) == 0) return 1;
    return 0;
}

/* Softmax per token, as the pipeline's numpy: exp(l - max) / sum. */
static void softmax_rows(float *x, int rows, int L) {
    for (int t = 0; t < rows; t++) {
        float *r = x + (size_t)t * L;
        float mx = r[0];
        for (int l = 1; l < L; l++) mx = r[l] > mx ? r[l] : mx;
        double sum = 0.0;
        for (int l = 0; l < L; l++) sum += exp((double)r[l] - mx);
        for (int l = 0; l < L; l++) r[l] = (float)(exp((double)r[l] - mx) / sum);
    }
}

/* aggregate_word: the tokens [a, b) of one word as one entity. */
static encore_status aggregate_word(const encore_model *m, encore_aggregation agg, const pre_entity *pre, int a,
                                    int b, int L, ner_work *w, token_entity *out) {
    for (int i = a; i < b; i++) w->words[i - a] = pre[i].word;
    if (!(out->word = decode_words(m, w->words, b - a))) return encore_fail(ENCORE_STATUS_OUT_OF_MEMORY, "out of memory");
    const float *scores = pre[a].scores;
    if (agg == ENCORE_AGGREGATION_MAX) {
        /* max(entities, key=scores.max()): the first token with the largest score */
        float best = pre[a].scores[argmax(pre[a].scores, L)];
        for (int i = a + 1; i < b; i++) {
            const float s = pre[i].scores[argmax(pre[i].scores, L)];
            if (s > best) best = s, scores = pre[i].scores;
        }
    }
    if (agg == ENCORE_AGGREGATION_AVERAGE) {
        /* np.nanmean over the tokens, label by label */
        for (int l = 0; l < L; l++) {
            double sum = 0.0;
            int n = 0;
            for (int i = a; i < b; i++)
                if (!isnan(pre[i].scores[l])) sum += pre[i].scores[l], n++;
            w->acc[l] = n ? sum / n : NAN;
        }
        for (int l = 0; l < L; l++) w->avg[l] = (float)w->acc[l];
        out->label = argmax(w->avg, L);
        out->score = w->avg[out->label];
    } else {
        out->label = argmax(scores, L);
        out->score = scores[out->label];
    }
    out->index = -1;
    out->start = pre[a].start;
    out->end = pre[b - 1].end;
    out->start_byte = pre[a].start_byte;
    out->end_byte = pre[b - 1].end_byte;
    return ENCORE_STATUS_OK;
}

/* group_sub_entities: the entities [a, b) as one group, appended to r if its
 * group is not ignored. */
static encore_status group(const encore_model *m, const token_entity *ents, int a, int b, ner_work *w,
                           const char *const *ignore, int n_ignore, encore_token_classify_result *r) {
    /* entities[0]["entity"].split("-", 1)[-1] */
    const char *label = encore_model_token_label(m, ents[a].label);
    const char *dash = strchr(label, '-');
    const char *name = dash ? dash + 1 : label;
    if (ignored(name, ignore, n_ignore)) return ENCORE_STATUS_OK;
    encore_entity *e = &r->entities[r->n_entities];
    memset(e, 0, sizeof *e);
    double sum = 0.0;
    int n = 0;
    for (int i = a; i < b; i++)
        if (!isnan(ents[i].score)) sum += ents[i].score, n++;
    e->score = n ? (float)(sum / n) : NAN;
    e->index = -1;
    e->start = ents[a].start;
    e->end = ents[b - 1].end;
    e->start_byte = ents[a].start_byte;
    e->end_byte = ents[b - 1].end_byte;
    for (int i = a; i < b; i++) w->words[i - a] = ents[i].word;
    e->entity = dup_str(name, strlen(name));
    e->word = decode_words(m, w->words, b - a);
    r->n_entities++;
    if (!e->entity || !e->word) return encore_fail(ENCORE_STATUS_OUT_OF_MEMORY, "out of memory");
    return ENCORE_STATUS_OK;
}

/* One window's entities (the pipeline's gather_pre_entities, aggregate and
 * the ignore_labels filter), appended to r. scores: (enc->n_tokens, L). */
static encore_status classify_window(const encore_model *m, const char *text, size_t text_len,
                                     const encore_encoding *enc, const float *scores, encore_aggregation agg,
                                     const char *const *ignore, int n_ignore, int L, ner_work *w,
                                     encore_token_classify_result *r) {
    encore_status st;
    const int T = enc->n_tokens;
    work_next_window(w);
    /* gather_pre_entities */
    const int32_t unk = encore_tokenizer_unk_id(m->tokenizer);
    char_cursor cur = {text, 0, 0};
    int n_pre = 0;
    for (int t = 0; t < T; t++) {
        if (enc->sequence_ids[t] < 0) continue; /* the special tokens the tokenizer adds */
        const int32_t b0 = enc->offsets[2 * t], b1 = enc->offsets[2 * t + 1];
        if (b0 < 0 || b1 < b0 || (size_t)b1 > text_len)
            return encore_fail(ENCORE_STATUS_BAD_INPUT, "token %d has offsets [%d, %d) outside the text", t, b0, b1);
        pre_entity *e = &w->pre[n_pre++];
        e->scores = scores + (size_t)t * L;
        e->index = t;
        e->start_byte = b0;
        e->end_byte = b1;
        e->start = char_index(&cur, b0);
        e->end = char_index(&cur, b1);
        const char *tok = encore_model_token(m, enc->ids[t]);
        if (enc->ids[t] == unk || !tok) {
            /* the pipeline's word for [UNK] is the text it covers, and no sub-word */
            if (!(w->slices[t] = dup_str(text + b0, (size_t)(b1 - b0))))
                return encore_fail(ENCORE_STATUS_OUT_OF_MEMORY, "out of memory");
            e->word = w->slices[t];
            e->is_subword = 0;
        } else if (!encore_tokenizer_has_subword_prefix(m->tokenizer)) {
            /* Byte-level BPE and SentencePiece's Unigram (RoBERTa's, XLM-R's,
             * DeBERTa's) have no continuing-subword prefix, so the
             * pipeline falls back on the text: a sub-word unless a space
             * ends the text before it or starts it (start > 0 and " " not
             * in sentence[start - 1:start + 1]). The token's word is its
             * vocabulary string ("Ġword"), as convert_ids_to_tokens gives. */
            e->word = tok;
            e->is_subword = b0 > 0 && text[b0 - 1] != ' ' && ((size_t)b0 >= text_len || text[b0] != ' ');
        } else {
            e->word = tok;
            /* len(word) != len(sentence[start:end]), in characters */
            e->is_subword = count_chars(tok, strlen(tok)) != e->end - e->start;
        }
    }

    /* aggregate: one entity per token (NONE, SIMPLE) or per word */
    if (agg == ENCORE_AGGREGATION_NONE || agg == ENCORE_AGGREGATION_SIMPLE) {
        for (int i = 0; i < n_pre; i++) {
            token_entity *e = &w->ents[w->n_ents++];
            e->label = argmax(w->pre[i].scores, L);
            e->score = w->pre[i].scores[e->label];
            e->index = w->pre[i].index;
            e->start = w->pre[i].start;
            e->end = w->pre[i].end;
            e->start_byte = w->pre[i].start_byte;
            e->end_byte = w->pre[i].end_byte;
            if (!(e->word = dup_str(w->pre[i].word, strlen(w->pre[i].word))))
                return encore_fail(ENCORE_STATUS_OUT_OF_MEMORY, "out of memory");
        }
    } else {
        for (int a = 0; a < n_pre;) {
            int b = a + 1;
            while (b < n_pre && w->pre[b].is_subword) b++;
            token_entity *e = &w->ents[w->n_ents++];
            e->word = NULL;
            if ((st = aggregate_word(m, agg, w->pre, a, b, L, w, e))) return st;
            a = b;
        }
    }

    if (agg == ENCORE_AGGREGATION_NONE) {
        for (int i = 0; i < w->n_ents; i++) {
            token_entity *e = &w->ents[i];
            const char *label = encore_model_token_label(m, e->label);
            if (ignored(label, ignore, n_ignore)) continue;
            encore_entity *o = &r->entities[r->n_entities++];
            o->entity = dup_str(label, strlen(label));
            o->score = e->score;
            o->index = e->index;
            o->word = e->word;
            e->word = NULL;
            o->start = e->start;
            o->end = e->end;
            o->start_byte = e->start_byte;
            o->end_byte = e->end_byte;
            if (!o->entity) return encore_fail(ENCORE_STATUS_OUT_OF_MEMORY, "out of memory");
        }
        return ENCORE_STATUS_OK;
    }
    /* group_entities: a run of one tag, broken by a B- or another tag */
    for (int a = 0; a < w->n_ents;) {
        int b = a + 1, last_b;
        const char *last = tag_of(encore_model_token_label(m, w->ents[a].label), &last_b);
        for (; b < w->n_ents; b++) {
            int is_b;
            const char *tag = tag_of(encore_model_token_label(m, w->ents[b].label), &is_b);
            if (strcmp(tag, last) != 0 || is_b) break;
            last = tag;
        }
        if ((st = group(m, w->ents, a, b, w, ignore, n_ignore, r))) return st;
        a = b;
    }
    return ENCORE_STATUS_OK;
}

/* Python's sorted(entities, key=start) is stable: ties keep their order. */
typedef struct by_start {
    int32_t start;
    int pos;
} by_start;

static int cmp_start(const void *a, const void *b) {
    const by_start *x = a, *y = b;
    if (x->start != y->start) return (x->start > y->start) - (x->start < y->start);
    return (x->pos > y->pos) - (x->pos < y->pos);
}

/* aggregate_overlapping_entities: the windows' entities sorted by start; of
 * entities that overlap the one kept before, the longer (or as long and
 * more confident) is kept. */
static encore_status merge_overlaps(encore_token_classify_result *r) {
    const int n = r->n_entities;
    if (n == 0) return ENCORE_STATUS_OK;
    encore_entity *e = r->entities;
    by_start *ord = malloc((size_t)n * sizeof *ord);
    int *keep = malloc((size_t)(n + 1) * sizeof *keep);
    char *used = calloc((size_t)n, 1), *copied = calloc((size_t)(n + 1), 1);
    encore_entity *out = calloc((size_t)(n + 1), sizeof *out);
    encore_status st = ENCORE_STATUS_OK;
    if (!ord || !keep || !used || !copied || !out) st = encore_fail(ENCORE_STATUS_OUT_OF_MEMORY, "out of memory");
    int k = 0;
    if (st == ENCORE_STATUS_OK) {
        for (int i = 0; i < n; i++) ord[i].start = e[i].start, ord[i].pos = i;
        qsort(ord, (size_t)n, sizeof *ord, cmp_start);
        int prev = ord[0].pos;
        for (int i = 0; i < n; i++) {
            const int cur = ord[i].pos;
            if (e[prev].start <= e[cur].start && e[cur].start < e[prev].end) {
                const int32_t cur_len = e[cur].end - e[cur].start, prev_len = e[prev].end - e[prev].start;
                if (cur_len > prev_len || (cur_len == prev_len && e[cur].score > e[prev].score)) prev = cur;
            } else {
                keep[k++] = prev;
                prev = cur;
            }
        }
        keep[k++] = prev;
        /* An entity kept twice (only an empty span can be) is copied. */
        for (int j = 0; j < k && st == ENCORE_STATUS_OK; j++) {
            out[j] = e[keep[j]];
            if (!used[keep[j]]) {
                used[keep[j]] = 1;
                continue;
            }
            copied[j] = 1;
            out[j].entity = dup_str(e[keep[j]].entity, strlen(e[keep[j]].entity));
            out[j].word = dup_str(e[keep[j]].word, strlen(e[keep[j]].word));
            if (!out[j].entity || !out[j].word) st = encore_fail(ENCORE_STATUS_OUT_OF_MEMORY, "out of memory");
        }
    }
    if (st != ENCORE_STATUS_OK) {
        for (int j = 0; out && copied && j < k; j++)
            if (copied[j]) entity_free(&out[j]);
        free(out);
    } else {
        for (int i = 0; i < n; i++)
            if (!used[i]) entity_free(&e[i]);
        free(r->entities);
        r->entities = out;
        r->n_entities = k;
    }
    free(ord);
    free(keep);
    free(used);
    free(copied);
    return st;
}

static encore_status classify(encore_session *s, const char *text, encore_token_classify_params p, ner_work *w,
                              encore_token_classify_result *r) {
    const encore_model *m = encore_session_model(s);
    encore_status st;
    if (encore_model_token_head(m) != ENCORE_TOKEN_HEAD_CLASSIFY)
        return encore_fail(ENCORE_STATUS_UNSUPPORTED,
                           "%s has no token classifier; token classification needs BertForTokenClassification or "
                           "DistilBertForTokenClassification",
                           m->config.architecture_name);
    if (!encore_aggregation_name(p.aggregation))
        return encore_fail(ENCORE_STATUS_INVALID_ARGUMENT,
                           "unknown aggregation strategy %d (ENCORE_AGGREGATION_NONE to ENCORE_AGGREGATION_MAX)",
                           (int)p.aggregation);
    static const char *const default_ignore[] = {"O"};
    const char *const *ignore = p.ignore_labels ? p.ignore_labels : default_ignore;
    const int n_ignore = p.ignore_labels ? p.n_ignore_labels : 1;
    if (n_ignore < 0) return encore_fail(ENCORE_STATUS_INVALID_ARGUMENT, "n_ignore_labels is %d", n_ignore);
    for (int i = 0; i < n_ignore; i++)
        if (!ignore[i]) return encore_fail(ENCORE_STATUS_INVALID_ARGUMENT, "ignore label %d is NULL", i);
    const int L = encore_model_n_token_outputs(m);
    for (int l = 0; l < L; l++)
        if (!encore_model_token_label(m, l))
            return encore_fail(ENCORE_STATUS_BAD_MODEL, "the token classifier has no label for id %d", l);
    const int max_len = encore_model_max_length(m);
    if (p.stride < -1 || p.stride >= max_len)
        return encore_fail(ENCORE_STATUS_INVALID_ARGUMENT,
                           "stride is %d; it must be -1 (no windows) or from 0 to less than the model's %d tokens",
                           p.stride, max_len);

    encore_input in = {text, NULL};
    if (p.stride >= 0) {
        /* the pipeline's tokenizer call with return_overflowing_tokens and the stride */
        encore_overflow_params op = encore_overflow_default_params();
        op.stride = p.stride;
        if ((st = encore_model_tokenize_overflow(m, in, op, &w->windows, &w->n_windows))) return st;
    } else {
        encore_tokenize_params tp = encore_tokenize_default_params();
        tp.task = ENCORE_TASK_CLASSIFY;
        tp.truncate = encore_session_truncates(s);
        if (!(w->windows = calloc(1, sizeof *w->windows))) return encore_fail(ENCORE_STATUS_OUT_OF_MEMORY, "out of memory");
        w->n_windows = 1;
        if ((st = encore_model_tokenize_with(m, in, tp, &w->windows[0]))) return st;
    }
    size_t total = 0;
    for (int i = 0; i < w->n_windows; i++) {
        total += (size_t)w->windows[i]->n_tokens;
        if (w->windows[i]->n_tokens > w->widest) w->widest = w->windows[i]->n_tokens;
    }
    const int T = w->widest;
    w->scores = malloc(encore_size_mul(total, (size_t)L) * sizeof(float));
    w->pre = malloc((size_t)T * sizeof *w->pre);
    w->slices = calloc((size_t)T, sizeof *w->slices);
    w->ents = calloc((size_t)T, sizeof *w->ents);
    w->words = malloc((size_t)T * sizeof *w->words);
    w->acc = malloc((size_t)(L > 0 ? L : 1) * sizeof *w->acc);
    w->avg = malloc((size_t)(L > 0 ? L : 1) * sizeof *w->avg);
    r->entities = calloc(total + 1, sizeof *r->entities);
    if (!w->scores || !w->pre || !w->slices || !w->ents || !w->words || !w->acc || !w->avg || !r->entities)
        return encore_fail(ENCORE_STATUS_OUT_OF_MEMORY, "out of memory");
    if ((st = encore_session_token_logits_encoded(s, (const encore_encoding *const *)w->windows, w->n_windows,
                                                  w->scores)))
        return st;
    softmax_rows(w->scores, (int)total, L);

    const size_t text_len = strlen(text);
    const float *scores = w->scores;
    for (int i = 0; i < w->n_windows; i++) {
        if ((st = classify_window(m, text, text_len, w->windows[i], scores, p.aggregation, ignore, n_ignore, L, w, r)))
            return st;
        scores += (size_t)w->windows[i]->n_tokens * L;
    }
    return w->n_windows > 1 ? merge_overlaps(r) : ENCORE_STATUS_OK;
}

encore_status encore_session_token_classify(encore_session *s, const char *text, encore_token_classify_params params,
                                            encore_token_classify_result **out) {
    if (!s) return encore_fail(ENCORE_STATUS_INVALID_ARGUMENT, "NULL session");
    if (out) *out = NULL;
    if (!text || !out) {
        encore_fail(ENCORE_STATUS_INVALID_ARGUMENT, "encore_session_token_classify: NULL text or result");
        return encore_session_fail(s, ENCORE_STATUS_INVALID_ARGUMENT);
    }
    encore_token_classify_result *r = calloc(1, sizeof *r);
    if (!r) {
        encore_fail(ENCORE_STATUS_OUT_OF_MEMORY, "out of memory");
        return encore_session_fail(s, ENCORE_STATUS_OUT_OF_MEMORY);
    }
    r->aggregation = params.aggregation;
    ner_work w;
    memset(&w, 0, sizeof w);
    encore_status st = classify(s, text, params, &w, r);
    work_free(&w);
    if (st != ENCORE_STATUS_OK) {
        encore_token_classify_result_free(r);
        return encore_session_fail(s, st);
    }
    *out = r;
    return ENCORE_STATUS_OK;
}
