/* forward_cpu.c: BERT / DistilBERT encoder, post-LayerNorm:
 *   x = LN(emb)
 *   per layer: x = LN(x + attn(x) W_o + b_o); x = LN(x + act(x W_1 + b_1) W_2 + b_2)
 * then the head or pooling. */
#include "cpu/forward_cpu.h"

#include "core/common.h"
#include "core/token_check.h"
#include "cpu/cpu_ops.h"
#include "cpu/gemm_cpu.h"

#include <math.h>
#include <omp.h>
#include <stdlib.h>
#include <string.h>

/* Grow *p to hold want elements of size elem (at least doubling). */
static int grow(void **p, size_t *cap, size_t want, size_t elem) {
    if (want <= *cap) return 1;
    size_t n = want > 2 * *cap ? want : 2 * *cap;
    void *q = realloc(*p, n * elem);
    if (!q) return 0;
    *p = q;
    *cap = n;
    return 1;
}

void encore_batch_clear(encore_batch *batch) {
    batch->B = 0;
    batch->T = 0;
    batch->max_len = 0;
}

void encore_batch_use_model(encore_batch *batch, const encore_model *m) {
    batch->position_base = m->config.position_base;
    batch->zero_type_ids = m->config.is_roberta;
}

encore_status encore_batch_append(encore_batch *b, const encore_encoding *enc) {
    size_t T = (size_t)b->T + (size_t)enc->n_tokens;
    size_t cap_ids = b->cap_T, cap_types = b->cap_T, cap_pos = b->cap_T;
    if (!grow((void **)&b->ids, &cap_ids, T, sizeof(int32_t)) ||
        !grow((void **)&b->type_ids, &cap_types, T, sizeof(int32_t)) ||
        !grow((void **)&b->positions, &cap_pos, T, sizeof(int32_t)) ||
        !grow((void **)&b->seq_start, &b->cap_B, (size_t)b->B + 2, sizeof(int32_t)))
        return encore_fail(ENCORE_STATUS_OUT_OF_MEMORY, "out of memory for a batch of %zu tokens", T);
    b->cap_T = cap_ids;
    const int32_t pad = b->position_base - 1;
    int32_t next = b->position_base;
    for (int i = 0; i < enc->n_tokens; i++) {
        b->ids[b->T + i] = enc->ids[i];
        b->type_ids[b->T + i] = b->zero_type_ids ? 0 : enc->type_ids[i];
        b->positions[b->T + i] = b->position_base > 0 && enc->ids[i] == pad ? pad : next++;
    }
    b->seq_start[b->B] = b->T;
    b->B++;
    b->T = (int)T;
    b->seq_start[b->B] = b->T;
    if (enc->n_tokens > b->max_len) b->max_len = enc->n_tokens;
    return ENCORE_STATUS_OK;
}

void encore_batch_free(encore_batch *b) {
    free(b->ids);
    free(b->type_ids);
    free(b->positions);
    free(b->seq_start);
    memset(b, 0, sizeof *b);
}

void encore_cpu_workspace_free(encore_cpu_workspace *ws) {
    free(ws->x);
    free(ws->qkv);
    free(ws->ctx);
    free(ws->ffn);
    free(ws->scratch);
    memset(ws, 0, sizeof *ws);
}

static encore_status reserve(encore_cpu_workspace *ws, const encore_config *c, const encore_batch *b) {
    size_t T = (size_t)b->T, C = (size_t)c->hidden_size, F = (size_t)c->intermediate_size;
    if (T > ws->cap_T) {
        float *x = realloc(ws->x, T * C * sizeof(float));
        if (x) ws->x = x;
        float *qkv = realloc(ws->qkv, T * 3 * C * sizeof(float));
        if (qkv) ws->qkv = qkv;
        float *ctx = realloc(ws->ctx, T * C * sizeof(float));
        if (ctx) ws->ctx = ctx;
        float *ffn = realloc(ws->ffn, T * F * sizeof(float));
        if (ffn) ws->ffn = ffn;
        if (!x || !qkv || !ctx || !ffn)
            return encore_fail(ENCORE_STATUS_OUT_OF_MEMORY, "out of memory for a batch of %zu tokens", T);
        ws->cap_T = T;
    }
    size_t scratch = encore_attention_scratch_floats(omp_get_max_threads(), b->max_len, c->hidden_size / c->n_heads);
    if (c->is_deberta) {
        const size_t dis = encore_attention_dis_scratch_floats(omp_get_max_threads(), b->max_len,
                                                               c->hidden_size / c->n_heads, c->deberta_span);
        if (dis > scratch) scratch = dis;
    }
    if (scratch > ws->cap_scratch) {
        float *s = realloc(ws->scratch, scratch * sizeof(float));
        if (!s) return encore_fail(ENCORE_STATUS_OUT_OF_MEMORY, "out of memory");
        ws->scratch = s;
        ws->cap_scratch = scratch;
    }
    return ENCORE_STATUS_OK;
}

/* The epilogues fused onto the layer's products (gemm_cpu.h). */
typedef struct residual_ln {
    const float *residual;  // (T, C)
    const float *gamma, *beta;
    float eps;
    int C;
} residual_ln;

static void residual_ln_row(float *row, int t, const void *ctx) {
    const residual_ln *r = ctx;
    encore_residual_layernorm_row_cpu(row, r->residual + (size_t)t * r->C, r->gamma, r->beta, r->eps, r->C);
}

static void act_block(float *c, size_t ldc, int rows, int n0, int cols, const void *ctx) {
    (void)n0;
    encore_act_block_cpu(c, ldc, rows, cols, *(const encore_activation *)ctx);
}

/* Rows [0, B) of a (T, C) <- its rows at seq_start[0 .. B), in place: row
 * s comes from row seq_start[s] >= s, which no earlier move has written. */
static void gather_first(float *a, const int32_t *seq_start, int B, int C) {
    for (int s = 0; s < B; s++)
        if (seq_start[s] != s) memmove(a + (size_t)s * C, a + (size_t)seq_start[s] * C, (size_t)C * sizeof(float));
}

/* The inverse: row s to row seq_start[s], from the last sequence back, so
 * that no row is written before it has been read. */
static void scatter_first(float *a, const int32_t *seq_start, int B, int C) {
    for (int s = B - 1; s >= 0; s--)
        if (seq_start[s] != s) memmove(a + (size_t)seq_start[s] * C, a + (size_t)s * C, (size_t)C * sizeof(float));
}

encore_status encore_forward_cpu(const encore_model *m, const encore_batch *b, encore_cpu_workspace *ws,
                                 int first_only, const float **hidden) {
    const encore_config *c = &m->config;
    const int T = b->T, C = c->hidden_size;
    const int H = c->n_heads, D = C / H;
    const float eps = c->layer_norm_eps;
    const encore_attention_rel rel = {m->rel_bias, m->rel_span};
    encore_status s = encore_model_check_tokens(m, b->ids, b->type_ids, b->positions, T);
    if (s != ENCORE_STATUS_OK) return s;
    if ((s = encore_model_check_span(m, b->max_len)) != ENCORE_STATUS_OK) return s;
    s = reserve(ws, c, b);
    if (s != ENCORE_STATUS_OK) return s;

    float *x = ws->x;  // (T, C)
    if (m->has_emb_proj) {
        /* ELECTRA: embeddings of E (<= 3C) in qkv's space, projected to C */
        encore_embed_cpu(b->ids, b->type_ids, b->positions, T, c->embedding_size, m->word_emb, m->pos_emb,
                         m->type_emb, m->emb_ln_g, m->emb_ln_b, eps, ws->qkv);
        encore_linear_packed_cpu(ws->qkv, &m->emb_proj_w, m->emb_proj_b, T, x);
    } else {
        encore_embed_cpu(b->ids, b->type_ids, b->positions, T, C, m->word_emb, m->pos_emb, m->type_emb, m->emb_ln_g,
                         m->emb_ln_b, eps, x);
    }
    for (int l = 0; l < c->n_layers; l++) {
        const encore_layer_weights *w = &m->layers[l];
        encore_linear_packed_cpu(x, &w->qkv_w, w->qkv_b, T, ws->qkv);                  // (T, 3C)
        if (c->is_deberta) {
            const size_t rows = 2 * (size_t)c->deberta_span * C;
            const float *pos = m->deberta_pos ? m->deberta_pos + (size_t)l * 2 * rows : NULL;
            const encore_attention_dis dis = {pos && c->deberta_p2c ? pos + rows : NULL,
                                              pos && c->deberta_c2p ? pos : NULL, m->deberta_index,
                                              m->rel_span - 1, c->deberta_span,
                                              1.0f / sqrtf((float)D * (float)(1 + c->deberta_c2p + c->deberta_p2c))};
            encore_attention_dis_cpu(ws->qkv, b->seq_start, b->B, H, D, &dis, ws->scratch, b->max_len, ws->ctx);
        } else {
            encore_attention_cpu(ws->qkv, b->seq_start, b->B, H, D, m->rel_bias ? &rel : NULL, ws->scratch,
                                 b->max_len, ws->ctx);  // (T, C)
        }
        /* The last layer of a first-only pass goes on with each sequence's
         * first row alone (B rows, moved to the front of ctx and x): its
         * keys and values needed every row, nothing after them does. */
        const int rows = first_only && l == c->n_layers - 1 ? b->B : T;
        if (rows < T) {
            gather_first(ws->ctx, b->seq_start, b->B, C);
            gather_first(x, b->seq_start, b->B, C);
        }
        /* Each product carries its bias and what follows it (LayerNorm with
         * the residual, or the activation), so nothing runs between the
         * products on one thread while the others wait. The projection
         * lands in qkv's first T*C floats, free again now. */
        float *proj = ws->qkv;  // (rows, C)
        const residual_ln ln1 = {x, w->ln1_g, w->ln1_b, eps, C};
        const encore_linear_epilogue ep1 = {NULL, residual_ln_row, &ln1};
        encore_linear_packed_fused_cpu(ws->ctx, &w->attn_out_w, w->attn_out_b, rows, proj, &ep1);
        const encore_linear_epilogue act = {act_block, NULL, &c->activation};
        encore_linear_packed_fused_cpu(proj, &w->ffn_in_w, w->ffn_in_b, rows, ws->ffn, &act);  // (rows, F)
        const residual_ln ln2 = {proj, w->ln2_g, w->ln2_b, eps, C};
        const encore_linear_epilogue ep2 = {NULL, residual_ln_row, &ln2};
        encore_linear_packed_fused_cpu(ws->ffn, &w->ffn_out_w, w->ffn_out_b, rows, x, &ep2);  // (rows, C)
        if (rows < T) scatter_first(x, b->seq_start, b->B, C);
    }
    *hidden = x;
    return ENCORE_STATUS_OK;
}

void encore_head_cpu(const encore_model *m, const encore_batch *b, const float *hidden, float *scratch,
                     float *logits) {
    const encore_config *c = &m->config;
    const int C = c->hidden_size, L = c->n_labels;
    float *first = scratch;     // (C)
    float *pre = scratch + C;   // (C)
    for (int s = 0; s < b->B; s++) {
        memcpy(first, hidden + (size_t)b->seq_start[s] * C, (size_t)C * sizeof(float));  // (C) first token
        encore_linear_packed_cpu(first, &m->pre_w, m->pre_b, 1, pre);
        if (c->is_electra)
            encore_act_block_cpu(pre, (size_t)C, 1, C, ENCORE_ACTIVATION_GELU); /* ElectraClassificationHead */
        else if (c->is_deberta)
            encore_act_block_cpu(pre, (size_t)C, 1, C, c->head_activation); /* ContextPooler */
        else
            for (int i = 0; i < C; i++) pre[i] = c->is_distilbert ? (pre[i] > 0.0f ? pre[i] : 0.0f) : tanhf(pre[i]);
        encore_linear_packed_cpu(pre, &m->cls_w, m->cls_b, 1, logits + (size_t)s * L);
    }
}

void encore_pool_cpu(const encore_batch *b, const float *hidden, int C, encore_pooling pooling, int normalize,
                     float *out) {
    for (int s = 0; s < b->B; s++) {
        const int start = b->seq_start[s], n = b->seq_start[s + 1] - start;
        float *o = out + (size_t)s * C;
        if (pooling == ENCORE_POOLING_CLS) {
            memcpy(o, hidden + (size_t)start * C, (size_t)C * sizeof(float));
        } else {
            for (int i = 0; i < C; i++) {
                double sum = 0.0;
                for (int t = 0; t < n; t++) sum += hidden[(size_t)(start + t) * C + i];
                o[i] = (float)(sum / n);
            }
        }
        if (normalize) {
            /* sentence-transformers: x / max(||x||, 1e-12) */
            double norm = 0.0;
            for (int i = 0; i < C; i++) norm += (double)o[i] * o[i];
            norm = sqrt(norm);
            if (norm < 1e-12) norm = 1e-12;
            for (int i = 0; i < C; i++) o[i] = (float)(o[i] / norm);
        }
    }
}

void encore_scores_cpu(float *logits, int B, int L, encore_score_function fn) {
    for (int s = 0; s < B; s++) {
        float *row = logits + (size_t)s * L;
        if (fn == ENCORE_SCORE_FUNCTION_SIGMOID) {
            for (int i = 0; i < L; i++) row[i] = 1.0f / (1.0f + expf(-row[i]));
        } else if (fn == ENCORE_SCORE_FUNCTION_SOFTMAX) {
            float mx = row[0], sum = 0.0f;
            for (int i = 1; i < L; i++) mx = row[i] > mx ? row[i] : mx;
            for (int i = 0; i < L; i++) {
                row[i] = expf(row[i] - mx);
                sum += row[i];
            }
            for (int i = 0; i < L; i++) row[i] /= sum;
        }
    }
}
