/* forward_cpu.h: the fp32 CPU forward pass over a packed batch (no padding:
 * the tokens of all sequences lie end to end). */
#ifndef ENCORE_FORWARD_CPU_H
#define ENCORE_FORWARD_CPU_H

#include "core/model.h"

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

typedef struct encore_batch {
    int B;              /* sequences */
    int T;              /* tokens, all sequences together */
    int max_len;        /* longest sequence */
    int32_t *ids;       /* (T) */
    int32_t *type_ids;  /* (T) */
    int32_t *positions; /* (T) position of each token in its sequence */
    int32_t *seq_start; /* (B + 1) first token of each sequence; seq_start[B] = T */
    size_t cap_T, cap_B;
    /* How the model numbers its tokens (encore_batch_use_model; zero: BERT's
     * way, positions from 0 and the tokenizer's type ids). RoBERTa counts
     * positions from padding_idx + 1 over the tokens that are not padding,
     * each padding token sitting at padding_idx (transformers'
     * create_position_ids_from_input_ids), and gives every token type 0. */
    int32_t position_base; /* padding_idx + 1, or 0 */
    int zero_type_ids;
} encore_batch;

/* Grow-only scratch buffers, reused from call to call. */
typedef struct encore_cpu_workspace {
    size_t cap_T, cap_scratch;
    float *x;       /* (T, C) hidden state */
    float *qkv;     /* (T, 3C) */
    float *ctx;     /* (T, C) attention output before its projection */
    float *ffn;     /* (T, F) */
    float *scratch; /* (threads, max_len) attention probabilities */
} encore_cpu_workspace;

/* Number the batch's tokens as model does (before the first append). */
void encore_batch_use_model(encore_batch *batch, const encore_model *model);
/* Empty the batch, then append sequences one by one. */
void encore_batch_clear(encore_batch *batch);
encore_status encore_batch_append(encore_batch *batch, const encore_encoding *enc);
void encore_batch_free(encore_batch *batch);

void encore_cpu_workspace_free(encore_cpu_workspace *ws);

/* Run the encoder. On success *hidden points at the last hidden state
 * (T, C) inside the workspace, valid until the next call. With first_only,
 * only each sequence's first row (seq_start[s]) holds the last layer's
 * state, and the other rows are left undefined: the last layer's products
 * run on B rows instead of T, for the heads and the pooling that read the
 * first token alone. Its rows are the same bits either way (each row of a
 * product depends on that row alone). */
encore_status encore_forward_cpu(const encore_model *m, const encore_batch *batch, encore_cpu_workspace *ws,
                                 int first_only, const float **hidden);

/* Classification head on each sequence's first token. scratch: (2C);
 * logits: (B, L). */
void encore_head_cpu(const encore_model *m, const encore_batch *batch, const float *hidden, float *scratch,
                     float *logits);

/* Pool each sequence (mean over its tokens, or its first token) and
 * optionally L2-normalise. out: (B, C). */
void encore_pool_cpu(const encore_batch *batch, const float *hidden, int C, encore_pooling pooling, int normalize,
                     float *out);

/* The pipeline's score function, in place on (B, L). */
void encore_scores_cpu(float *logits, int B, int L, encore_score_function fn);

#ifdef __cplusplus
}
#endif

#endif /* ENCORE_FORWARD_CPU_H */
