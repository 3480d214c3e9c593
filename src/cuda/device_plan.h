/* device_plan.h: the host-side arithmetic of the CUDA path, which needs no
 * GPU and is tested on the CPU: fp16/bf16 conversion, the attention tile
 * table, the packing of a batch into one block of int32 for a single upload,
 * the layout of the per-session device workspace, and the layout (and
 * converted image) of a model's weights on the device.
 *
 * T = tokens in the packed batch, B = sequences, C = hidden, F =
 * intermediate, L = labels. */
#ifndef ENCORE_DEVICE_PLAN_H
#define ENCORE_DEVICE_PLAN_H

#include "cpu/forward_cpu.h"
#include "core/model.h"
#include "core/safetensors.h"

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

/* The element type of activations and GEMM weights on the device. */
typedef enum encore_cuda_dtype {
    ENCORE_CUDA_F32 = 0,
    ENCORE_CUDA_F16,
    ENCORE_CUDA_BF16
} encore_cuda_dtype;

size_t encore_cuda_dtype_size(encore_cuda_dtype dt);
const char *encore_cuda_dtype_name(encore_cuda_dtype dt);
/* The device dtype a session precision asks for (DEFAULT = fp16). */
encore_cuda_dtype encore_cuda_dtype_of(encore_precision precision);

/* n values from fp32 to dt (dst holds n * dtype_size bytes), and back. */
void encore_convert_from_f32(const float *src, size_t n, encore_cuda_dtype dt, void *dst);
void encore_convert_to_f32(const void *src, size_t n, encore_cuda_dtype dt, float *dst);

/* Query rows per attention tile: every attention kernel tiles queries by
 * this, so one tile table serves them all. */
#define ENCORE_ATTENTION_TILE_Q 64

/* tile_start: (B + 1) first tile of each sequence when each sequence is cut
 * into ceil(len / tile_rows) tiles of queries; returns the number of tiles
 * (tile_start[B]). seq_start: (B + 1). */
int encore_attention_tiles(const int32_t *seq_start, int B, int tile_rows, int32_t *tile_start);

/* One int32 block that holds a batch for the device, copied with one upload:
 * ids (T), type_ids (T), positions (T), seq_start (B + 1), tile_start (B + 1),
 * at the element offsets below. */
typedef struct encore_cuda_packed {
    int T, B, max_len;
    int n_tiles;        /* attention blocks to launch, >= tile_start[B] (tiles past it exit) */
    size_t ids, type_ids, positions, seq_start, tile_start; /* element offsets */
    size_t n_ints;                                         /* elements used */
} encore_cuda_packed;

/* Elements a staging block needs for batches of up to max_tokens tokens (and
 * so at most max_tokens sequences). */
size_t encore_cuda_packed_capacity(int max_tokens);
/* Pack b into staging (encore_cuda_packed_capacity(T) elements at least). */
void encore_cuda_pack(const encore_batch *b, int32_t *staging, encore_cuda_packed *out);

/* ---- graph shapes ----------------------------------------------------------
 * A CUDA graph replays one shape, and serving traffic brings a new token
 * count with nearly every batch. Batches that run as graphs are therefore
 * padded up to a bucket shape, so that a handful of graphs serve them all:
 *   - T_b tokens, the smallest step of a ladder with four steps per octave
 *     (16, 20, 24, 28, 32, 40, ...; at most 25 % more rows than T);
 *   - B_b sequences, a power of two;
 *   - the B_b - B padding sequences take the T_b - T padding tokens, each
 *     between 1 and ENCORE_ATTENTION_TILE_Q of them (one attention tile,
 *     so padding costs no more attention than a real tile does), with id 0,
 *     type 0 and position 0, valid for every model;
 *   - the attention grid is the most tiles any batch of that shape can have,
 *     (T_b - B_b) / TILE_Q + B_b, and tiles past tile_start[B_b] exit at once.
 * Sequences are independent, so the real rows come out as they would alone;
 * they come first, so the first T rows and B sequences are the batch's. */
int encore_cuda_bucket_tokens(int T);
/* The bucket shape for a batch of T tokens in B sequences, no larger than
 * max_tokens: 1 and *T_b, *B_b, or 0 when none fits (run unpadded). */
int encore_cuda_bucket_shape(int T, int B, int max_tokens, int *T_b, int *B_b);
/* The most attention tiles a batch of T tokens in B sequences can have. */
int encore_cuda_max_tiles(int T, int B);
/* Pack b padded to (T_b, B_b), a shape from encore_cuda_bucket_shape; staging
 * holds encore_cuda_packed_capacity(T_b) elements at least. out->T, out->B
 * are T_b, B_b and out->n_tiles is encore_cuda_max_tiles(T_b, B_b). */
void encore_cuda_pack_padded(const encore_batch *b, int T_b, int B_b, int32_t *staging, encore_cuda_packed *out);

/* The device workspace of a session: one allocation, cut into buffers at
 * these byte offsets (each aligned to ENCORE_CUDA_ALIGN), sized once for
 * batches of up to max_tokens tokens. */
#define ENCORE_CUDA_ALIGN 256
#define ENCORE_CUDA_MLM_ROWS 64 /* mask positions per pass of the MLM head */
#define ENCORE_CUDA_BLAS_WORKSPACE (32u << 20) /* cuBLAS workspace: 32 MiB as advised for Hopper */

typedef struct encore_cuda_layout {
    int max_tokens;           /* T_max; also the most sequences a pass can hold */
    encore_cuda_dtype dtype;
    size_t x;                 /* (T, C) dtype: hidden state */
    size_t qkv;               /* (T, 3C) dtype: fused projection; its first T*C also hold the attention projection */
    size_t ctx;               /* (T, C) dtype: attention output before its projection */
    size_t ffn;               /* (T, F) dtype */
    size_t ints;              /* encore_cuda_packed_capacity(T_max) int32: the packed batch */
    size_t pooled;            /* (B, C) fp32: pooled or first-token states */
    size_t pre;               /* (B, C) fp32: pre-classifier / pooler output */
    size_t logits;            /* (B, L) fp32 */
    size_t mlm_rows;          /* (ENCORE_CUDA_MLM_ROWS + 1) int32: mask positions (fill-mask models only) */
    size_t mlm_zero;          /* (C) fp32 zeros: the LayerNorm's absent bias */
    size_t mlm_logits;        /* (ENCORE_CUDA_MLM_ROWS, V) fp32: the MLM head's output */
    size_t splade_slot;       /* (ENCORE_CUDA_MLM_ROWS) int32: each row's sequence in the pass (SPLADE) */
    size_t splade_acc;        /* (ENCORE_CUDA_MLM_ROWS, V) fp32: the pass's pooled weights (SPLADE) */
    size_t deberta_c2p;       /* (H, T, 2 span) fp32: DeBERTa's q_i . pos_k[r], every token and row r */
    size_t deberta_p2c;       /* (H, T, 2 span) fp32: DeBERTa's k_j . pos_q[r] */
    size_t blas;              /* ENCORE_CUDA_BLAS_WORKSPACE bytes */
    size_t total;             /* bytes of the whole allocation */
} encore_cuda_layout;

/* Plan the workspace for config c. Fails (OUT_OF_MEMORY, with a message)
 * when the sizes overflow or exceed max_bytes (0 = no limit). */
encore_status encore_cuda_layout_plan(const encore_config *c, int max_tokens, encore_cuda_dtype dt,
                                      size_t max_bytes, encore_cuda_layout *out);

/* Where a model's weights live on the device. GEMM weights (qkv_w,
 * attn_out_w, ffn_in_w, ffn_out_w) are in the session dtype; embeddings,
 * biases, LayerNorm parameters and the head stay fp32 (they are small, and
 * the head's logits keep fp32 accuracy). */
typedef struct encore_cuda_layer_weights {
    void *qkv_w;        /* (3C, C) dtype */
    float *qkv_b;       /* (3C) */
    void *attn_out_w;   /* (C, C) dtype */
    float *attn_out_b;  /* (C) */
    float *ln1_g, *ln1_b;
    void *ffn_in_w;     /* (F, C) dtype */
    float *ffn_in_b;    /* (F) */
    void *ffn_out_w;    /* (C, F) dtype */
    float *ffn_out_b;   /* (C) */
    float *ln2_g, *ln2_b;
} encore_cuda_layer_weights;

typedef struct encore_cuda_weights_view {
    encore_cuda_dtype dtype;
    float *word_emb;    /* (V, E): E = embedding_size, C but for ELECTRA */
    float *pos_emb;     /* (P, E) */
    float *type_emb;    /* (type_vocab_size, E) or NULL */
    float *emb_ln_g, *emb_ln_b;
    float *rel_bias;    /* MPNet: (H, 2 rel_span - 1), else NULL */
    /* DeBERTa with relative attention, else NULL: every layer's key and
     * query projections of the normalized relative embeddings, per head,
     * (n_layers, 2, H, 2 span, D) dtype, pos_k then pos_q; and the bucketed
     * row of every distance, (2 rel_span - 1) int32. */
    void *deberta_pos;
    int32_t *deberta_index;
    void *emb_proj_w;   /* ELECTRA: embeddings_project (C, E) dtype, else NULL */
    float *emb_proj_b;  /* (C) */
    encore_cuda_layer_weights *layers; /* (n_layers), host memory, owned by the caller */
    float *pre_w, *pre_b, *cls_w, *cls_b; /* NULL without a head */
    /* The MLM head, fp32; NULL without one. mlm_decoder (V, C) is word_emb
     * when tied. */
    float *mlm_w, *mlm_b, *mlm_ln_g, *mlm_ln_b, *mlm_decoder, *mlm_bias;
} encore_cuda_weights_view;

/* Lay out m's weights in one block of device memory at address base.
 * *bytes gets the block size. With image non-NULL, also write the converted
 * weights into image (bytes long), the exact bytes to upload. With view
 * non-NULL (view->layers holding n_layers entries), point every weight at
 * base + its offset. */
void encore_cuda_weights_image(const encore_model *m, encore_cuda_dtype dt, uintptr_t base, void *image,
                               size_t *bytes, encore_cuda_weights_view *view);

#ifdef __cplusplus
}
#endif

#endif /* ENCORE_DEVICE_PLAN_H */
