/* cpu_ops.h: the fp32 CPU operators of the forward pass. They are the
 * reference the CUDA kernels in kernels/ are held to, and take their
 * arguments in the same order. T = tokens in the packed batch, C = hidden,
 * F = intermediate, H = heads, D = head size (C / H), B = sequences. */
#ifndef ENCORE_CPU_OPS_H
#define ENCORE_CPU_OPS_H

#include "core/config.h"
#include "cpu/cpu_isa.h"

#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

/* out = LayerNorm(word[ids] + pos[positions] (+ type[type_ids])).
 * type may be NULL (DistilBERT). out: (T, C). */
void encore_embed_cpu(const int32_t *ids, const int32_t *type_ids, const int32_t *positions, int T, int C,
                      const float *word, const float *pos, const float *type, const float *gamma,
                      const float *beta, float eps, float *out);

/* out += W x for an unpacked W (N, K), row-major, x (K), out (N): the
 * decoder of fill-mask's head, whose matrix is the word embeddings, read
 * once per masked token. Rows are split over the OpenMP threads; each
 * row's sum is one thread's, so any thread count gives the same bits. */
void encore_matvec_cpu(const float *w, const float *x, int N, int K, float *out);

/* The same on a given path (tests): -1 when the CPU lacks it. AVX2 and
 * AVX-512 share one version (the product waits on memory, not on
 * arithmetic); the portable one sums in order. */
int encore_matvec_isa_cpu(const float *w, const float *x, int N, int K, float *out, encore_cpu_isa isa);

/* x = LayerNorm(x + bias + residual), in place. x, residual: (T, C). */
void encore_bias_residual_layernorm_cpu(float *x, const float *bias, const float *residual, const float *gamma,
                                        const float *beta, float eps, int T, int C);

/* x = act(x + bias), in place. x: (T, N). */
void encore_bias_act_cpu(float *x, const float *bias, encore_activation act, int T, int N);

/* The fused forms, for one thread's part of a product (gemm_cpu.h's
 * epilogues), whose bias is already in the sums:
 * x = act(x) on a block of rows x cols, row stride ldx; */
void encore_act_block_cpu(float *x, size_t ldx, int rows, int cols, encore_activation act);

/* row = LayerNorm(row + residual) on one row of C. */
void encore_residual_layernorm_row_cpu(float *row, const float *residual, const float *gamma, const float *beta,
                                       float eps, int C);

/* The same with the code path chosen by the caller (the vector versions
 * take C a multiple of 8; other widths run the plain loops). Returns 0, or
 * -1 when isa names a path the CPU lacks. */
int encore_residual_layernorm_row_isa_cpu(float *row, const float *residual, const float *gamma, const float *beta,
                                          float eps, int C, encore_cpu_isa isa);

/* Softmax in place over row[0, n), the way attention computes it on the
 * chosen code path (AVX2: exponentials within about 2 ulp of expf, 0 below
 * e^-87.3; AVX-512: the AVX2 bits). Returns 0, or -1 when isa names a path
 * the CPU lacks. */
int encore_softmax_isa_cpu(float *row, int n, encore_cpu_isa isa);

/* A relative position bias added to attention scores (MPNet's): table (H,
 * 2 span - 1), the bias of query i and key j in head h at
 * table[h (2 span - 1) + span - 1 + j - i]; every sequence is at most span
 * tokens long. */
typedef struct encore_attention_rel {
    const float *table;
    int span;
} encore_attention_rel;

/* Head h's row of the table, centred: row[j - i]. */
static inline const float *encore_attention_rel_row(const encore_attention_rel *rel, int h) {
    return rel->table + (size_t)h * (2 * (size_t)rel->span - 1) + (size_t)rel->span - 1;
}

/* Multi-head self-attention over a packed batch. qkv: (T, 3C), queries, keys
 * and values side by side; seq_start: (B + 1) token offsets of each sequence;
 * rel: a relative position bias added to the scaled scores, or NULL;
 * scratch: encore_attention_scratch_floats(omp_get_max_threads(), max_len, D)
 * floats, max_len at least the longest sequence; out: (T, C). Each sequence
 * attends only to itself, so no padding or mask is needed. */
size_t encore_attention_scratch_floats(int threads, int max_len, int D);
void encore_attention_cpu(const float *qkv, const int32_t *seq_start, int B, int H, int D,
                          const encore_attention_rel *rel, float *scratch, int max_len, float *out);

/* The same with the code path chosen by the caller (AVX-512 gives the AVX2
 * bits). Returns 0, or -1 when isa names a path the CPU lacks. */
int encore_attention_isa_cpu(const float *qkv, const int32_t *seq_start, int B, int H, int D,
                             const encore_attention_rel *rel, float *scratch, int max_len, float *out,
                             encore_cpu_isa isa);

/* LayerNorm of each of rows rows of x (rows, C), in place. */
void encore_layernorm_rows_cpu(float *x, const float *gamma, const float *beta, float eps, int rows, int C);

/* DeBERTa-v2's disentangled attention (transformers' DisentangledSelfAttention
 * with share_att_key): score(i, j) = (q_i.k_j + q_i.pos_k[r] + k_j.pos_q[r])
 * * scale, r = index[i - j + max_dist]: the relative position i - j,
 * bucketed and clamped into the 2 span rows of the layer's key and query
 * projections of the normalized relative embeddings. pos_k and pos_q are
 * laid out per head, transposed: (H, D, 2 span); NULL for a term the model
 * does not use. index is non-decreasing; every sequence is at most
 * max_dist + 1 tokens long. */
typedef struct encore_attention_dis {
    const float *pos_q, *pos_k;
    const int32_t *index; /* (2 max_dist + 1) */
    int max_dist;
    int span;
    float scale;          /* 1 / sqrt(D (1 + the number of c2p and p2c terms)) */
} encore_attention_dis;

/* scratch: encore_attention_dis_scratch_floats(omp_get_max_threads(),
 * max_len, D, span) floats; out: (T, C). */
size_t encore_attention_dis_scratch_floats(int threads, int max_len, int D, int span);
void encore_attention_dis_cpu(const float *qkv, const int32_t *seq_start, int B, int H, int D,
                              const encore_attention_dis *dis, float *scratch, int max_len, float *out);
/* The same with the code path chosen by the caller (AVX-512 runs AVX2's).
 * Returns 0, or -1 when isa names a path the CPU lacks. */
int encore_attention_dis_isa_cpu(const float *qkv, const int32_t *seq_start, int B, int H, int D,
                                 const encore_attention_dis *dis, float *scratch, int max_len, float *out,
                                 encore_cpu_isa isa);

/* The same with each bucket computed as transformers' make_log_bucket_position
 * does, in float: rel itself within buckets / 2 of 0, else
 * sign(rel) (ceil(log(|rel| / mid) / log((max_position - 1) / mid) (mid - 1))
 * + mid), mid = buckets / 2; buckets <= 0 leaves rel as it is. */
int encore_deberta_bucket(int rel, int buckets, int max_position);

#ifdef __cplusplus
}
#endif

#endif /* ENCORE_CPU_OPS_H */
