/* kernels.h: the launchers of the CUDA kernels, one op per file in kernels/,
 * callable from C. Each takes a stream, checks its arguments, launches, and
 * returns a status (ENCORE_STATUS_DEVICE_ERROR with the CUDA error as the
 * last error when the launch fails). The CPU twin of each op is named in its
 * comment and takes its arguments in the same order.
 *
 * All pointers are device pointers. Activations (`void *` with a dtype) are
 * fp32, fp16 or bf16; arithmetic is fp32 throughout. T = tokens of the packed
 * batch, B = sequences, C = hidden, H = heads, D = head size, N = columns,
 * L = labels. */
#ifndef ENCORE_KERNELS_H
#define ENCORE_KERNELS_H

#include "core/config.h"
#include "cuda/device_plan.h"
#include "encore.h"

#include <cuda_runtime_api.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

/* Raise the shared-memory limits of the kernels that need more than 48 KB.
 * Call once per device before the first launch (not while capturing). */
encore_status encore_kernels_cuda_prepare(void);

/* out = LayerNorm(word[ids] (+ pos[positions]) (+ type[type_ids])); tables,
 * gamma and beta fp32; out: (T, C) dt. pos may be NULL (DeBERTa-v3), type
 * too (DistilBERT).
 * CPU twin: encore_embed_cpu. */
encore_status encore_embed_cuda(const int32_t *ids, const int32_t *type_ids, const int32_t *positions, int T, int C,
                                const float *word, const float *pos, const float *type, const float *gamma,
                                const float *beta, float eps, encore_cuda_dtype dt, void *out, cudaStream_t stream);

/* x = LayerNorm(x + bias + residual) in place, statistics in fp32.
 * x, residual: (T, C) dt; bias, gamma, beta: (C) fp32.
 * CPU twin: encore_bias_residual_layernorm_cpu. */
encore_status encore_bias_residual_layernorm_cuda(void *x, const float *bias, const void *residual,
                                                  const float *gamma, const float *beta, float eps, int T, int C,
                                                  encore_cuda_dtype dt, cudaStream_t stream);

/* x = act(x + bias) in place; GELU is the exact erf form. x: (T, N) dt;
 * bias: (N) fp32. CPU twin: encore_bias_act_cpu. */
encore_status encore_bias_act_cuda(void *x, const float *bias, encore_activation act, int T, int N,
                                   encore_cuda_dtype dt, cudaStream_t stream);

/* Every row of out (T, N) dt set to bias (N) fp32, rounded to dt: where the
 * QKV GEMM then accumulates (encore_linear_accumulate_cuda), so that the bias
 * is added to its fp32 sums and rounded once with them.
 * CPU twin: the bias of encore_linear_cpu. */
encore_status encore_bias_rows_cuda(void *out, const float *bias, int T, int N, encore_cuda_dtype dt,
                                    cudaStream_t stream);

/* Rows copied bit for bit, either side through an index: for i < n,
 * dst[dst_rows ? dst_rows[i] : i] = src[src_rows ? src_rows[i] : i], each
 * row C values of dt. src and dst must not overlap. Gathers each sequence's
 * first row (src_rows = seq_start) and scatters them back (dst_rows).
 * CPU twin: gather_first / scatter_first in src/cpu/forward_cpu.c. */
encore_status encore_copy_rows_cuda(const void *src, const int32_t *src_rows, void *dst, const int32_t *dst_rows,
                                    int n, int C, encore_cuda_dtype dt, cudaStream_t stream);

/* Which attention kernel runs. AUTO: tensor cores (WMMA) for fp16/bf16 with
 * D in {32, 64, 128}, else the fp32 SIMT kernel. */
typedef enum encore_attention_impl {
    ENCORE_ATTENTION_AUTO = 0,
    ENCORE_ATTENTION_SIMT,
    ENCORE_ATTENTION_TENSOR
} encore_attention_impl;

/* 1 when impl can run this head size and dtype. */
int encore_attention_cuda_supports(encore_attention_impl impl, int D, encore_cuda_dtype dt);

/* Fused multi-head self-attention over a packed batch, flash-attention style:
 * tiles of ENCORE_ATTENTION_TILE_Q queries, online softmax, fp32 accumulation,
 * no S x S matrix in memory. qkv: (T, 3C) dt, queries, keys and values side by
 * side; qkv_bias: (3C) fp32 added on load, or NULL; rel_bias: a relative
 * position bias (MPNet's) added to the scaled scores, (H, 2 rel_span - 1)
 * fp32, query i and key j at h (2 rel_span - 1) + rel_span - 1 + j - i, every
 * sequence at most rel_span long; or NULL; seq_start: (B + 1);
 * tile_start: (B + 1) from encore_attention_tiles; n_tiles >= tile_start[B]
 * blocks are launched and those past tile_start[B] do nothing (graph shapes);
 * out: (T, C) dt. Each sequence attends only to itself. D <= 128.
 * CPU twin: encore_attention_cpu (which takes the bias already added). */
encore_status encore_attention_cuda(const void *qkv, const float *qkv_bias, const float *rel_bias, int rel_span,
                                    const int32_t *seq_start, const int32_t *tile_start, int n_tiles, int B, int H,
                                    int D, encore_attention_impl impl, encore_cuda_dtype dt, void *out,
                                    cudaStream_t stream);

/* DeBERTa-v2's disentangled attention, as encore_attention_cuda without a
 * qkv bias: score(i, j) = (q_i . k_j + c2p[h][start + i][r] +
 * p2c[h][start + j][r]) * scale, r = index[i - j + max_dist], start the
 * sequence's first token. c2p, p2c: (H, T, R) fp32 from
 * encore_heads_by_table_cuda (src/cuda/device_blas.h), either NULL for a term
 * the model leaves out (both NULL: plain attention at this scale); index:
 * (2 max_dist + 1). CPU twin: encore_attention_dis_cpu. */
encore_status encore_attention_dis_cuda(const void *qkv, const float *c2p, const float *p2c, const int32_t *index,
                                        int max_dist, int R, int T, float scale, const int32_t *seq_start,
                                        const int32_t *tile_start, int n_tiles, int B, int H, int D,
                                        encore_attention_impl impl, encore_cuda_dtype dt, void *out,
                                        cudaStream_t stream);

/* Pool each sequence of hidden (T, C) dt: its first token or the mean of its
 * tokens, then (normalize) divide by max(||x||, 1e-12). out: (B, C) fp32.
 * CPU twin: encore_pool_cpu. */
encore_status encore_pool_cuda(const void *hidden, const int32_t *seq_start, int B, int C, encore_pooling pooling,
                               int normalize, encore_cuda_dtype dt, float *out, cudaStream_t stream);

/* The head's hidden activation. */
typedef enum encore_head_act {
    ENCORE_HEAD_ACT_TANH = 0, /* BERT's pooler, RoBERTa's and MPNet's classification heads */
    ENCORE_HEAD_ACT_RELU = 1, /* DistilBERT's pre_classifier */
    ENCORE_HEAD_ACT_GELU = 2  /* ELECTRA's classification head (the exact, erf GELU) */
} encore_head_act;

/* The head's hidden activation in place: x = act(x + bias). x: (B, N) fp32.
 * CPU twin: the activation in encore_head_cpu. */
encore_status encore_head_act_cuda(float *x, const float *bias, int B, int N, encore_head_act act,
                                   cudaStream_t stream);

/* logits = fn(logits + bias) in place per row; bias (L) or NULL.
 * logits: (B, L) fp32. CPU twin: encore_scores_cpu. */
encore_status encore_scores_cuda(float *logits, const float *bias, int B, int L, encore_score_function fn,
                                 cudaStream_t stream);

/* SPLADE pooling of rows of MLM logits (n, V) fp32 plus bias (V), row r into
 * acc's row slot[r] (acc: (slots, V) fp32, zeroed by the caller): the
 * largest logit (sum = 0; the caller activates it) or the sum of
 * log(1 + relu(x)), log1p applied twice with log1p_twice. Each entry's
 * rows are taken in order. CPU twin: fold in src/core/sparse.c. */
encore_status encore_splade_fold_cuda(const float *logits, const float *bias, const int32_t *slot, int n, int V,
                                      int sum, int log1p_twice, float *acc, cudaStream_t stream);

#ifdef __cplusplus
}
#endif

#endif /* ENCORE_KERNELS_H */
