/* fill_mask.c: transformers' FillMaskPipeline on a session. The encoder
 * and the masked-language-model head run on the session's device, the head
 * at the mask positions only (a few rows against the (V, C) decoder), then
 * the pipeline's post-processing on the host: the targets, top-k, and the
 * decoded sequences. */
#include "core/common.h"
#include "core/model.h"
#include "core/session.h"
#include "cpu/cpu_ops.h"
#include "cpu/forward_cpu.h"
#include "cpu/gemm_cpu.h"
#ifdef ENCORE_HAVE_CUDA
#include "cuda/forward_cuda.h"
#endif

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

encore_fill_mask_params encore_fill_mask_default_params(void) {
    encore_fill_mask_params p;
    p.top_k = 5;
    p.targets = NULL;
    p.n_targets = 0;
    return p;
}

void encore_fill_mask_result_free(encore_fill_mask_result *r) {
    if (!r) return;
    for (int i = 0; r->predictions && i < r->n_masks * r->k; i++) {
        free(r->predictions[i].token_str);
        free(r->predictions[i].sequence);
    }
    free(r->predictions);
    free(r);
}

static int cmp_int32(const void *a, const void *b) {
    const int32_t x = *(const int32_t *)a, y = *(const int32_t *)b;
    return (x > y) - (x < y);
}

/* The pipeline's get_target_ids: a target found in the vocabulary as it is,
 * else the first token of its tokenization (a warning), else nothing (a
 * warning); repeats once. ids: (n_targets); returns how many, 0 with a
 * status on failure (*st). Sorted ascending. */
static int target_ids(const encore_model *m, const char *const *targets, int n, int32_t *ids, encore_status *st) {
    int k = 0;
    *st = ENCORE_STATUS_OK;
    for (int i = 0; i < n; i++) {
        if (!targets[i]) {
            *st = encore_fail(ENCORE_STATUS_INVALID_ARGUMENT, "target %d is NULL", i);
            return 0;
        }
        int32_t id = encore_tokenizer_token_to_id(m->tokenizer, targets[i]);
        if (id < 0) {
            encore_encoding *enc = NULL;
            encore_input in = {targets[i], NULL};
            if ((*st = encore_model_tokenize_for_task(m, in, ENCORE_TASK_CLASSIFY, 1, &enc)) != ENCORE_STATUS_OK) {
                char msg[ENCORE_ERROR_LEN];
                snprintf(msg, sizeof msg, "%s", encore_last_error());
                encore_fail(*st, "target %d: %s", i, msg);
                return 0;
            }
            /* [CLS] tokens [SEP]: the first of the tokens, if any. */
            if (enc->n_tokens <= 2) {
                encore_log(ENCORE_LOG_LEVEL_WARN,
                           "the target '%s' is not in the vocabulary and has no tokens; it is left out", targets[i]);
                encore_encoding_free(enc);
                continue;
            }
            id = enc->ids[1];
            encore_encoding_free(enc);
            encore_log(ENCORE_LOG_LEVEL_WARN, "the target '%s' is not in the vocabulary; it counts as '%s'",
                       targets[i], encore_model_token(m, id));
        }
        ids[k++] = id;
    }
    qsort(ids, (size_t)k, sizeof *ids, cmp_int32);
    int u = 0;
    for (int i = 0; i < k; i++)
        if (u == 0 || ids[i] != ids[u - 1]) ids[u++] = ids[i];
    if (u == 0) *st = encore_fail(ENCORE_STATUS_BAD_INPUT, "no target is a token or has one (at least one must)");
    return u;
}

/* The head on one hidden state h: (C) -> probabilities over the vocabulary.
 * t: (C) scratch; probs: (V). */
void encore_mlm_transform_cpu(const encore_model *m, const float *h, int T, float *t) {
    const encore_config *c = &m->config;
    const int C = c->hidden_size;
    encore_linear_packed_cpu(h, &m->mlm_w, NULL, T, t);
    encore_bias_act_cpu(t, m->mlm_b, c->mlm_activation, T, C);
    for (int r = 0; r < T; r++) {
        float *row = t + (size_t)r * C;
        double mean = 0.0, var = 0.0;
        for (int i = 0; i < C; i++) mean += row[i];
        mean /= C;
        for (int i = 0; i < C; i++) var += ((double)row[i] - mean) * ((double)row[i] - mean);
        var /= C;
        const double inv = 1.0 / sqrt(var + (double)c->layer_norm_eps);
        for (int i = 0; i < C; i++)
            row[i] = (float)(((double)row[i] - mean) * inv * m->mlm_ln_g[i] + m->mlm_ln_b[i]);
    }
}

static void mlm_head_row(const encore_model *m, const float *h, float *t, float *probs) {
    const encore_config *c = &m->config;
    const int C = c->hidden_size, V = c->vocab_size;
    encore_mlm_transform_cpu(m, h, 1, t);
    // probs = decoder (V, C) . t + bias, then softmax over V
    memcpy(probs, m->mlm_bias, (size_t)V * sizeof(float));
    encore_matvec_cpu(m->mlm_decoder, t, V, C, probs);
    float mx = probs[0];
    for (int v = 1; v < V; v++) mx = probs[v] > mx ? probs[v] : mx;
    double sum = 0.0;
    for (int v = 0; v < V; v++) sum += exp((double)probs[v] - mx);
    for (int v = 0; v < V; v++) probs[v] = (float)(exp((double)probs[v] - mx) / sum);
}

/* Indices of the k largest of vals[0, n), best first; ties: the smaller
 * index first. */
static void top_k(const float *vals, int n, int k, int *out) {
    for (int j = 0; j < k; j++) out[j] = -1;
    for (int i = 0; i < n; i++) {
        int j = k;
        while (j > 0 && (out[j - 1] < 0 || vals[i] > vals[out[j - 1]])) j--;
        if (j >= k) continue;
        memmove(out + j + 1, out + j, (size_t)(k - j - 1) * sizeof *out);
        out[j] = i;
    }
}

static char *decode(const encore_model *m, const int32_t *ids, int n, int skip_special) {
    size_t len = 0;
    if (encore_model_decode(m, ids, n, skip_special, NULL, 0, &len) != ENCORE_STATUS_OK) return NULL;
    char *s = malloc(len + 1);
    if (s && encore_model_decode(m, ids, n, skip_special, s, len + 1, &len) != ENCORE_STATUS_OK) {
        free(s);
        return NULL;
    }
    return s;
}

/* Everything the call allocates, freed in one place. */
typedef struct fill_mask_work fill_mask_work;
static encore_status mask_probs(encore_session *s, const encore_encoding *enc, const int *masks, int n_masks,
                                fill_mask_work *w);

typedef struct fill_mask_work {
    encore_encoding *enc;
    int32_t *targets;  /* (n_targets) */
    int *masks;        /* (n_masks) token positions */
    float *hidden;     /* (n_tokens, C) */
    float *probs;      /* (n_masks, V) */
    float *sel;        /* (k_cand) the candidates' probabilities */
    float *t;          /* (C) */
    int *best;         /* (k) */
    int32_t *ids;      /* (n_tokens) the filled sequence */
} fill_mask_work;

static void work_free(fill_mask_work *w) {
    encore_encoding_free(w->enc);
    free(w->targets);
    free(w->masks);
    free(w->hidden);
    free(w->probs);
    free(w->sel);
    free(w->t);
    free(w->best);
    free(w->ids);
}

/* w->probs: (n_masks, V), the softmax over the vocabulary at each mask. On a
 * GPU session the head runs there too; on the CPU, row by row here. */
static encore_status mask_probs(encore_session *s, const encore_encoding *enc, const int *masks, int n_masks,
                                fill_mask_work *w) {
    const encore_model *m = encore_session_model(s);
    const int C = m->config.hidden_size, V = m->config.vocab_size;
    encore_status st;
#ifdef ENCORE_HAVE_CUDA
    struct encore_cuda_session *cuda = encore_session_cuda_backend(s);
    if (cuda) {
        encore_batch batch;
        memset(&batch, 0, sizeof batch);
        encore_batch_use_model(&batch, m);
        int32_t *rows = malloc((size_t)n_masks * sizeof *rows);
        st = rows ? encore_batch_append(&batch, enc) : encore_fail(ENCORE_STATUS_OUT_OF_MEMORY, "out of memory");
        for (int i = 0; rows && i < n_masks; i++) rows[i] = masks[i];
        if (st == ENCORE_STATUS_OK) st = encore_cuda_session_mlm(cuda, &batch, rows, n_masks, w->probs);
        encore_batch_free(&batch);
        free(rows);
        return st;
    }
#endif
    const encore_encoding *const encs[1] = {enc};
    if ((st = encore_session_hidden_states_encoded(s, encs, 1, w->hidden))) return st;
    for (int i = 0; i < n_masks; i++) mlm_head_row(m, w->hidden + (size_t)masks[i] * C, w->t, w->probs + (size_t)i * V);
    return ENCORE_STATUS_OK;
}

static encore_status fill(encore_session *s, const char *text, encore_fill_mask_params p, fill_mask_work *w,
                          encore_fill_mask_result *r) {
    const encore_model *m = encore_session_model(s);
    const encore_config *c = &m->config;
    const int C = c->hidden_size, V = c->vocab_size;
    encore_status st;
    if (!c->has_mlm)
        return encore_fail(ENCORE_STATUS_UNSUPPORTED,
                           "%s has no masked-language-model head; fill-mask needs BertForMaskedLM, "
                           "DistilBertForMaskedLM, RobertaForMaskedLM or MPNetForMaskedLM",
                           c->architecture_name);
    if (p.top_k < 1) return encore_fail(ENCORE_STATUS_INVALID_ARGUMENT, "top_k is %d; it must be at least 1", p.top_k);
    if (p.n_targets < 0 || (p.n_targets > 0 && !p.targets))
        return encore_fail(ENCORE_STATUS_INVALID_ARGUMENT, "targets: NULL list or a negative count");
    /* BERT's [MASK] and [PAD], RoBERTa's and MPNet's <mask> and <pad>. */
    const int angle = c->is_roberta || c->is_mpnet;
    const char *mask_token = angle ? "<mask>" : "[MASK]";
    const int32_t mask_id = encore_tokenizer_token_to_id(m->tokenizer, mask_token);
    if (mask_id < 0 || mask_id >= V)
        return encore_fail(ENCORE_STATUS_UNSUPPORTED, "the tokenizer has no mask token %s in the model's vocabulary",
                           mask_token);

    int n_cand = V;
    if (p.n_targets > 0) {
        if (!(w->targets = malloc((size_t)p.n_targets * sizeof *w->targets)))
            return encore_fail(ENCORE_STATUS_OUT_OF_MEMORY, "out of memory");
        n_cand = target_ids(m, p.targets, p.n_targets, w->targets, &st);
        if (st != ENCORE_STATUS_OK) return st;
        for (int i = 0; i < n_cand; i++)
            if (w->targets[i] >= V)
                return encore_fail(ENCORE_STATUS_BAD_MODEL, "the target token %d is outside the model's vocabulary of %d",
                                   (int)w->targets[i], V);
    }
    const int k = p.top_k < n_cand ? p.top_k : n_cand;

    encore_input in = {text, NULL};
    if ((st = encore_model_tokenize_for_task(m, in, ENCORE_TASK_CLASSIFY, encore_session_truncates(s), &w->enc)))
        return st;
    const encore_encoding *enc = w->enc;
    int n_masks = 0;
    for (int i = 0; i < enc->n_tokens; i++) n_masks += enc->ids[i] == mask_id;
    if (n_masks == 0)
        return encore_fail(ENCORE_STATUS_BAD_INPUT, "no mask token (%s) in the input%s", mask_token,
                           enc->n_untruncated > enc->n_tokens ? " (after truncation)" : "");
    w->masks = malloc((size_t)n_masks * sizeof *w->masks);
    w->hidden = malloc(encore_size_mul((size_t)enc->n_tokens, (size_t)C) * sizeof(float));
    w->probs = malloc(encore_size_mul((size_t)n_masks, (size_t)V) * sizeof(float));
    w->sel = malloc((size_t)n_cand * sizeof(float));
    w->t = malloc((size_t)C * sizeof(float));
    w->best = malloc((size_t)k * sizeof(int));
    w->ids = malloc((size_t)enc->n_tokens * sizeof(int32_t));
    r->predictions = calloc((size_t)n_masks * (size_t)k, sizeof *r->predictions);
    if (!w->masks || !w->hidden || !w->probs || !w->sel || !w->t || !w->best || !w->ids || !r->predictions)
        return encore_fail(ENCORE_STATUS_OUT_OF_MEMORY, "out of memory");
    r->n_masks = n_masks;
    r->k = k;
    for (int i = 0, j = 0; i < enc->n_tokens; i++)
        if (enc->ids[i] == mask_id) w->masks[j++] = i;

    if ((st = mask_probs(s, enc, w->masks, n_masks, w))) return st;
    /* The pipeline drops the padding token from the sequence it decodes; it
     * keeps the other special tokens when there are several masks. */
    const int32_t pad_id = encore_tokenizer_token_to_id(m->tokenizer, c->is_roberta || c->is_mpnet ? "<pad>" : "[PAD]");
    for (int mi = 0; mi < n_masks; mi++) {
        const float *probs = w->probs + (size_t)mi * V;
        for (int i = 0; i < n_cand; i++) w->sel[i] = w->targets ? probs[w->targets[i]] : probs[i];
        top_k(w->sel, n_cand, k, w->best);
        for (int j = 0; j < k; j++) {
            encore_fill_mask_prediction *pr = &r->predictions[(size_t)mi * k + j];
            const int32_t tok = w->targets ? w->targets[w->best[j]] : (int32_t)w->best[j];
            pr->score = w->sel[w->best[j]];
            pr->token = tok;
            int n = 0;
            for (int i = 0; i < enc->n_tokens; i++) {
                const int32_t id = i == w->masks[mi] ? tok : enc->ids[i];
                if (id != pad_id) w->ids[n++] = id;
            }
            pr->token_str = decode(m, &tok, 1, 0);
            pr->sequence = decode(m, w->ids, n, n_masks == 1);
            if (!pr->token_str || !pr->sequence) return encore_fail(ENCORE_STATUS_OUT_OF_MEMORY, "out of memory");
        }
    }
    return ENCORE_STATUS_OK;
}

encore_status encore_session_fill_mask(encore_session *s, const char *text, encore_fill_mask_params params,
                                       encore_fill_mask_result **out) {
    if (!s) return encore_fail(ENCORE_STATUS_INVALID_ARGUMENT, "NULL session");
    if (!text || !out) {
        encore_fail(ENCORE_STATUS_INVALID_ARGUMENT, "encore_session_fill_mask: NULL text or result");
        return encore_session_fail(s, ENCORE_STATUS_INVALID_ARGUMENT);
    }
    *out = NULL;
    encore_fill_mask_result *r = calloc(1, sizeof *r);
    if (!r) {
        encore_fail(ENCORE_STATUS_OUT_OF_MEMORY, "out of memory");
        return encore_session_fail(s, ENCORE_STATUS_OUT_OF_MEMORY);
    }
    fill_mask_work w;
    memset(&w, 0, sizeof w);
    encore_status st = fill(s, text, params, &w, r);
    work_free(&w);
    if (st != ENCORE_STATUS_OK) {
        encore_fill_mask_result_free(r);
        return encore_session_fail(s, st);
    }
    *out = r;
    return ENCORE_STATUS_OK;
}
