/* device_plan.c: host-side arithmetic of the CUDA path (see device_plan.h).
 * Plain C with no CUDA, so that it is built and tested everywhere. */
#include "cuda/device_plan.h"

#include "core/common.h"

#include <math.h>
#include <stdio.h>
#include <string.h>

size_t encore_cuda_dtype_size(encore_cuda_dtype dt) { return dt == ENCORE_CUDA_F32 ? 4 : 2; }

const char *encore_cuda_dtype_name(encore_cuda_dtype dt) {
    switch (dt) {
    case ENCORE_CUDA_F32: return "fp32";
    case ENCORE_CUDA_F16: return "fp16";
    case ENCORE_CUDA_BF16: return "bf16";
    }
    return "?";
}

encore_cuda_dtype encore_cuda_dtype_of(encore_precision precision) {
    switch (precision) {
    case ENCORE_PRECISION_FP32: return ENCORE_CUDA_F32;
    case ENCORE_PRECISION_BF16: return ENCORE_CUDA_BF16;
    case ENCORE_PRECISION_DEFAULT:
    case ENCORE_PRECISION_FP16: break;
    }
    return ENCORE_CUDA_F16;
}

/* ---- fp16 / bf16 ---------------------------------------------------------- */

void encore_convert_from_f32(const float *src, size_t n, encore_cuda_dtype dt, void *dst) {
    if (dt == ENCORE_CUDA_F32) {
        memcpy(dst, src, n * sizeof(float));
        return;
    }
    uint16_t *d = dst;
    if (dt == ENCORE_CUDA_F16)
        for (size_t i = 0; i < n; i++) d[i] = encore_f32_to_f16(src[i]);
    else
        for (size_t i = 0; i < n; i++) d[i] = encore_f32_to_bf16(src[i]);
}

void encore_convert_to_f32(const void *src, size_t n, encore_cuda_dtype dt, float *dst) {
    if (dt == ENCORE_CUDA_F32) {
        memcpy(dst, src, n * sizeof(float));
        return;
    }
    const uint16_t *s = src;
    if (dt == ENCORE_CUDA_F16)
        for (size_t i = 0; i < n; i++) dst[i] = encore_f16_to_f32(s[i]);
    else
        for (size_t i = 0; i < n; i++) dst[i] = encore_bf16_to_f32(s[i]);
}

/* ---- batches ----------------------------------------------------------------- */

int encore_attention_tiles(const int32_t *seq_start, int B, int tile_rows, int32_t *tile_start) {
    int n = 0;
    for (int b = 0; b < B; b++) {
        tile_start[b] = n;
        const int len = seq_start[b + 1] - seq_start[b];
        n += (len + tile_rows - 1) / tile_rows;
    }
    tile_start[B] = n;
    return n;
}

size_t encore_cuda_packed_capacity(int max_tokens) {
    /* three (T) arrays and two (B + 1) arrays with B <= T */
    return 5 * (size_t)max_tokens + 2;
}

/* Lay b out in staging for a batch of T_b tokens in B_b sequences (T_b >= T,
 * B_b >= B): b's ids, type ids, positions and sequence starts, at the
 * offsets of that size; the padding is the caller's. */
static void lay_out(const encore_batch *b, int T_b, int B_b, int32_t *staging, encore_cuda_packed *p) {
    const size_t T = (size_t)b->T, B = (size_t)b->B, Tp = (size_t)T_b, Bp = (size_t)B_b;
    p->T = T_b;
    p->B = B_b;
    p->max_len = b->max_len;
    p->ids = 0;
    p->type_ids = Tp;
    p->positions = 2 * Tp;
    p->seq_start = 3 * Tp;
    p->tile_start = 3 * Tp + Bp + 1;
    p->n_ints = 3 * Tp + 2 * (Bp + 1);
    memcpy(staging + p->ids, b->ids, T * sizeof(int32_t));
    memcpy(staging + p->type_ids, b->type_ids, T * sizeof(int32_t));
    memcpy(staging + p->positions, b->positions, T * sizeof(int32_t));
    memcpy(staging + p->seq_start, b->seq_start, (B + 1) * sizeof(int32_t));
}

void encore_cuda_pack(const encore_batch *b, int32_t *staging, encore_cuda_packed *p) {
    lay_out(b, b->T, b->B, staging, p);
    p->n_tiles = encore_attention_tiles(staging + p->seq_start, b->B, ENCORE_ATTENTION_TILE_Q,
                                        staging + p->tile_start);
}

/* ---- graph shapes ---------------------------------------------------------- */

int encore_cuda_bucket_tokens(int T) {
    /* m * 2^e with m in 4..7: 16, 20, 24, 28, 32, 40, 48, 56, 64, 80, ... */
    for (int e = 2; e < 28; e++)
        for (int m = 4; m < 8; m++)
            if ((m << e) >= T) return m << e;
    return T;  /* beyond 2^30: no bucket, the caller runs unpadded */
}

int encore_cuda_max_tiles(int T, int B) {
    /* each sequence of len tokens has ceil(len / TQ) <= (len - 1) / TQ + 1 tiles */
    if (B <= 0) return 0;
    return (T - B) / ENCORE_ATTENTION_TILE_Q + B;
}

/* Q padding sequences can take P padding tokens, 1 to TILE_Q each. */
static int paddable(long long P, long long Q) {
    if (Q == 0) return P == 0;
    return P >= Q && P <= Q * ENCORE_ATTENTION_TILE_Q;
}

int encore_cuda_bucket_shape(int T, int B, int max_tokens, int *T_b, int *B_b) {
    if (T < 1 || B < 1 || B > T || max_tokens < T) return 0;
    for (int tb = encore_cuda_bucket_tokens(T); tb <= max_tokens && tb >= T; tb = encore_cuda_bucket_tokens(tb + 1)) {
        long long bb = 1;
        while (bb < B) bb *= 2;
        for (; bb <= tb; bb *= 2)
            if (paddable((long long)tb - T, bb - B)) {
                *T_b = tb;
                *B_b = (int)bb;
                return 1;
            }
        if (tb == encore_cuda_bucket_tokens(tb + 1)) break;  /* past the ladder */
    }
    return 0;
}

void encore_cuda_pack_padded(const encore_batch *b, int T_b, int B_b, int32_t *staging, encore_cuda_packed *p) {
    const size_t T = (size_t)b->T, B = (size_t)b->B, Tp = (size_t)T_b, Bp = (size_t)B_b;
    lay_out(b, T_b, B_b, staging, p);
    for (size_t t = T; t < Tp; t++) staging[p->ids + t] = staging[p->type_ids + t] = staging[p->positions + t] = 0;
    int32_t *start = staging + p->seq_start;
    /* P padding tokens over Q sequences as evenly as can be: each gets P / Q,
     * the first P % Q one more (1 <= length <= TILE_Q by paddable()). */
    const size_t Q = Bp - B, P = Tp - T;
    for (size_t q = 0; q < Q; q++) start[B + q + 1] = start[B + q] + (int32_t)(P / Q + (q < P % Q));
    encore_attention_tiles(start, B_b, ENCORE_ATTENTION_TILE_Q, staging + p->tile_start);
    p->n_tiles = encore_cuda_max_tiles(T_b, B_b);
}

/* ---- workspace ------------------------------------------------------------- */

/* *off += n * elem bytes, aligned; 0 on overflow. */
static int carve(size_t *off, size_t *at, size_t n, size_t elem) {
    const size_t a = ENCORE_CUDA_ALIGN;
    if (elem && n > (SIZE_MAX / 4) / elem) return 0;
    const size_t bytes = n * elem;
    if (*off > SIZE_MAX / 4) return 0;
    *at = *off;
    *off = (*off + bytes + a - 1) / a * a;
    return 1;
}

encore_status encore_cuda_layout_plan(const encore_config *c, int max_tokens, encore_cuda_dtype dt,
                                      size_t max_bytes, encore_cuda_layout *L) {
    memset(L, 0, sizeof *L);
    if (max_tokens < 1)
        return encore_fail(ENCORE_STATUS_INVALID_ARGUMENT, "a device workspace for %d tokens", max_tokens);
    const size_t T = (size_t)max_tokens, C = (size_t)c->hidden_size, F = (size_t)c->intermediate_size;
    const size_t Lb = (size_t)(c->n_labels > 0 ? c->n_labels : 1);
    const size_t e = encore_cuda_dtype_size(dt);
    size_t off = 0;
    L->max_tokens = max_tokens;
    L->dtype = dt;
    int ok = carve(&off, &L->x, T * C, e) && carve(&off, &L->qkv, T * 3 * C, e) && carve(&off, &L->ctx, T * C, e) &&
             carve(&off, &L->ffn, T * F, e) &&
             carve(&off, &L->ints, encore_cuda_packed_capacity(max_tokens), sizeof(int32_t)) &&
             carve(&off, &L->pooled, T * C, sizeof(float)) && carve(&off, &L->pre, T * C, sizeof(float)) &&
             carve(&off, &L->logits, T * Lb, sizeof(float)) && carve(&off, &L->blas, ENCORE_CUDA_BLAS_WORKSPACE, 1);
    if (ok && c->has_mlm)
        ok = carve(&off, &L->mlm_rows, ENCORE_CUDA_MLM_ROWS + 1, sizeof(int32_t)) &&
             carve(&off, &L->mlm_zero, C, sizeof(float)) &&
             carve(&off, &L->mlm_logits, encore_size_mul(ENCORE_CUDA_MLM_ROWS, (size_t)c->vocab_size), sizeof(float)) &&
             carve(&off, &L->splade_slot, ENCORE_CUDA_MLM_ROWS, sizeof(int32_t)) &&
             carve(&off, &L->splade_acc, encore_size_mul(ENCORE_CUDA_MLM_ROWS, (size_t)c->vocab_size), sizeof(float));
    if (ok && c->is_deberta && c->deberta_rel) {
        /* each attention term's table of every token against every row */
        const size_t rows = encore_size_mul(encore_size_mul(T, (size_t)c->n_heads), 2 * (size_t)c->deberta_span);
        if (c->deberta_c2p) ok = carve(&off, &L->deberta_c2p, rows, sizeof(float));
        if (ok && c->deberta_p2c) ok = carve(&off, &L->deberta_p2c, rows, sizeof(float));
    }
    if (!ok)
        return encore_fail(ENCORE_STATUS_OUT_OF_MEMORY, "a device workspace for %d tokens does not fit in memory",
                           max_tokens);
    L->total = off;
    if (max_bytes && L->total > max_bytes)
        return encore_fail(ENCORE_STATUS_OUT_OF_MEMORY,
                           "a device workspace for %d tokens needs %.1f MiB but only %.1f MiB are free; "
                           "lower max_batch_tokens",
                           max_tokens, L->total / 1048576.0, max_bytes / 1048576.0);
    return ENCORE_STATUS_OK;
}

/* ---- weights ----------------------------------------------------------------- */

typedef struct image_writer {
    uintptr_t base;
    unsigned char *image;
    size_t off;
    encore_cuda_dtype dt;
} image_writer;

/* Place n values of src at the next aligned offset, converted to dt (or kept
 * fp32 when convert is 0); return their device address. */
static void *place(image_writer *w, const float *src, size_t n, int convert) {
    const encore_cuda_dtype dt = convert ? w->dt : ENCORE_CUDA_F32;
    const size_t at = w->off;
    w->off = (w->off + n * encore_cuda_dtype_size(dt) + ENCORE_CUDA_ALIGN - 1) / ENCORE_CUDA_ALIGN * ENCORE_CUDA_ALIGN;
    if (w->image && src) encore_convert_from_f32(src, n, dt, w->image + at);
    return src ? (void *)(w->base + at) : NULL;
}

/* Place a linear weight, which the model keeps packed for the CPU GEMM, as
 * the (N, K) row-major matrix the device GEMM reads, unpacked a piece of a
 * row at a time. */
static void *place_matrix(image_writer *w, const encore_packed_matrix *p, int convert) {
    const encore_cuda_dtype dt = convert ? w->dt : ENCORE_CUDA_F32;
    const size_t esize = encore_cuda_dtype_size(dt), K = (size_t)p->K;
    const size_t at = w->off;
    place(w, NULL, (size_t)p->N * K, convert);  // reserves the room
    if (w->image) {
        float piece[256];
        for (int n = 0; n < p->N; n++)
            for (size_t k0 = 0; k0 < K; k0 += 256) {
                const size_t len = K - k0 < 256 ? K - k0 : 256;
                encore_unpack_matrix_row(p, n, (int)k0, (int)len, piece);
                encore_convert_from_f32(piece, len, dt, w->image + at + ((size_t)n * K + k0) * esize);
            }
    }
    return (void *)(w->base + at);
}

/* Place n int32 values as they are; return their device address. */
static int32_t *place_ints(image_writer *w, const int32_t *src, size_t n) {
    const size_t at = w->off;
    w->off = (w->off + n * sizeof(int32_t) + ENCORE_CUDA_ALIGN - 1) / ENCORE_CUDA_ALIGN * ENCORE_CUDA_ALIGN;
    if (w->image) memcpy(w->image + at, src, n * sizeof(int32_t));
    return (int32_t *)(w->base + at);
}

/* DeBERTa's per-layer position projections, which the model keeps per head
 * transposed for the CPU, (n_layers, 2, H, D, 2 span) fp32, as the device's
 * GEMM reads them: (n_layers, 2, H, 2 span, D) in dt, one head's (2 span, D)
 * table at a time. */
static void *place_deberta_pos(image_writer *w, const encore_model *m) {
    const encore_config *c = &m->config;
    const size_t H = (size_t)c->n_heads, D = (size_t)(c->hidden_size / c->n_heads), R = 2 * (size_t)c->deberta_span;
    const size_t tables = 2 * (size_t)c->n_layers * H, esize = encore_cuda_dtype_size(w->dt);
    const size_t at = w->off;
    place(w, NULL, tables * R * D, 1);  // reserves the room
    if (w->image)
        for (size_t t = 0; t < tables; t++) {
            const float *src = m->deberta_pos + t * D * R;             // (D, R)
            unsigned char *dst = w->image + at + t * R * D * esize;  // (R, D)
            for (size_t d = 0; d < D; d++)
                for (size_t r = 0; r < R; r++) encore_convert_from_f32(src + d * R + r, 1, w->dt, dst + (r * D + d) * esize);
        }
    return (void *)(w->base + at);
}

void encore_cuda_weights_image(const encore_model *m, encore_cuda_dtype dt, uintptr_t base, void *image,
                               size_t *bytes, encore_cuda_weights_view *view) {
    const encore_config *c = &m->config;
    const size_t C = (size_t)c->hidden_size, F = (size_t)c->intermediate_size;
    image_writer w = {base, image, 0, dt};
    encore_cuda_weights_view v;
    memset(&v, 0, sizeof v);
    v.dtype = dt;
    v.layers = view ? view->layers : NULL;
    const size_t E = (size_t)c->embedding_size;
    v.word_emb = place(&w, m->word_emb, (size_t)c->vocab_size * E, 0);
    v.pos_emb = m->pos_emb ? place(&w, m->pos_emb, (size_t)c->max_position_embeddings * E, 0) : NULL;
    v.type_emb = m->type_emb ? place(&w, m->type_emb, (size_t)c->type_vocab_size * E, 0) : NULL;
    v.emb_ln_g = place(&w, m->emb_ln_g, E, 0);
    v.emb_ln_b = place(&w, m->emb_ln_b, E, 0);
    if (m->has_emb_proj) {
        v.emb_proj_w = place_matrix(&w, &m->emb_proj_w, 1);
        v.emb_proj_b = place(&w, m->emb_proj_b, C, 0);
    }
    v.rel_bias = m->rel_bias ? place(&w, m->rel_bias, (size_t)c->n_heads * (2 * (size_t)m->rel_span - 1), 0) : NULL;
    if (m->deberta_pos) {
        v.deberta_pos = place_deberta_pos(&w, m);
        v.deberta_index = place_ints(&w, m->deberta_index, 2 * (size_t)m->rel_span - 1);
    }
    for (int l = 0; l < c->n_layers; l++) {
        const encore_layer_weights *h = &m->layers[l];
        encore_cuda_layer_weights d;
        d.qkv_w = place_matrix(&w, &h->qkv_w, 1);
        d.qkv_b = place(&w, h->qkv_b, 3 * C, 0);
        d.attn_out_w = place_matrix(&w, &h->attn_out_w, 1);
        d.attn_out_b = place(&w, h->attn_out_b, C, 0);
        d.ln1_g = place(&w, h->ln1_g, C, 0);
        d.ln1_b = place(&w, h->ln1_b, C, 0);
        d.ffn_in_w = place_matrix(&w, &h->ffn_in_w, 1);
        d.ffn_in_b = place(&w, h->ffn_in_b, F, 0);
        d.ffn_out_w = place_matrix(&w, &h->ffn_out_w, 1);
        d.ffn_out_b = place(&w, h->ffn_out_b, C, 0);
        d.ln2_g = place(&w, h->ln2_g, C, 0);
        d.ln2_b = place(&w, h->ln2_b, C, 0);
        if (v.layers) v.layers[l] = d;
    }
    if (c->has_head) {
        v.pre_w = place_matrix(&w, &m->pre_w, 0);
        v.pre_b = place(&w, m->pre_b, C, 0);
        v.cls_w = place_matrix(&w, &m->cls_w, 0);
        v.cls_b = place(&w, m->cls_b, (size_t)c->n_labels, 0);
    }
    if (c->has_mlm) {
        v.mlm_w = place_matrix(&w, &m->mlm_w, 0);
        v.mlm_b = place(&w, m->mlm_b, C, 0);
        v.mlm_ln_g = place(&w, m->mlm_ln_g, C, 0);
        v.mlm_ln_b = place(&w, m->mlm_ln_b, C, 0);
        v.mlm_bias = place(&w, m->mlm_bias, (size_t)c->vocab_size, 0);
        v.mlm_decoder = m->mlm_decoder == m->word_emb ? v.word_emb
                                                      : place(&w, m->mlm_decoder, (size_t)c->vocab_size * C, 0);
    }
    *bytes = w.off;
    if (view) *view = v;
}
