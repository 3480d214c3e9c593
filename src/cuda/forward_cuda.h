/* forward_cuda.h: the encoder on a GPU. A CUDA session owns a stream, a
 * cuBLAS handle, one device workspace sized at creation for max_tokens tokens
 * (no allocation per call) and pinned staging buffers; it shares the model's
 * device weights with every other session. Batches are the CPU path's packed,
 * padding-free encore_batch. */
#ifndef ENCORE_FORWARD_CUDA_H
#define ENCORE_FORWARD_CUDA_H

#include "cuda/device_plan.h"
#include "cpu/forward_cpu.h"
#include "core/model.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef struct encore_cuda_session encore_cuda_session;

/* What a run hands back, in host memory, fp32. */
typedef enum encore_cuda_output {
    ENCORE_CUDA_OUTPUT_LOGITS = 0, /* (B, L) */
    ENCORE_CUDA_OUTPUT_SCORES,     /* (B, L) after the model's score function */
    ENCORE_CUDA_OUTPUT_EMBED,      /* (B, C) pooled, optionally normalised */
    ENCORE_CUDA_OUTPUT_HIDDEN      /* (T, C) last hidden state */
} encore_cuda_output;

/* Create a session on GPU `device` computing in dt, for batches of up to
 * max_tokens tokens. Uploads the model's weights for (device, dt) if no
 * session did yet. OUT_OF_MEMORY or DEVICE_ERROR, with a message, on failure. */
encore_status encore_cuda_session_create(const encore_model *m, int device, encore_cuda_dtype dt, int max_tokens,
                                         encore_cuda_session **out);
void encore_cuda_session_free(encore_cuda_session *s);

encore_cuda_dtype encore_cuda_session_dtype(const encore_cuda_session *s);
int encore_cuda_session_max_tokens(const encore_cuda_session *s);
/* The device weights the session uses (for tests: sessions share them). */
const void *encore_cuda_session_weights(const encore_cuda_session *s);
/* Turn CUDA graphs off or on for this session (default on unless
 * ENCORE_CUDA_GRAPHS=0 or ENCORE_CUDA_SYNC=1). */
void encore_cuda_session_set_graphs(encore_cuda_session *s, int on);

/* What the graph cache has done since the session was made: graphs captured,
 * passes replayed from one, padding rows those passes carried, and graphs
 * held now. */
typedef struct encore_cuda_graph_stats {
    unsigned long long captures, replays, padded_tokens;
    int cached;
} encore_cuda_graph_stats;
encore_cuda_graph_stats encore_cuda_session_graph_stats(const encore_cuda_session *s);

/* Run batch b (b->T <= max_tokens) through the encoder and write `what` to
 * out. pooling (MEAN or CLS) and normalize apply to EMBED. Synchronous. */
encore_status encore_cuda_session_run(encore_cuda_session *s, const encore_batch *b, encore_cuda_output what,
                                      encore_pooling pooling, int normalize, float *out);

/* Fill-mask: run batch b through the encoder, then the masked-language-
 * model head on the hidden states of tokens rows[0, n_rows) (increasing
 * positions in the packed batch), ENCORE_CUDA_MLM_ROWS at a time: dense +
 * activation + LayerNorm, the (V, C) decoder and its bias, and a softmax
 * over the vocabulary, all in fp32. probs: (n_rows, V). Synchronous. */
encore_status encore_cuda_session_mlm(encore_cuda_session *s, const encore_batch *b, const int32_t *rows, int n_rows,
                                      float *probs);

/* SPLADE: run batch b through the encoder, then the masked-language-model
 * head (fp32) on every token, ENCORE_CUDA_MLM_ROWS tokens at a time, each
 * pass pooled on the device (encore_splade_fold_cuda) and merged on the
 * host. weights: (b->B, V): for max pooling (sum = 0) each entry's largest
 * logit, floored at 0, for the caller to activate; for sum pooling the
 * summed log(1 + relu) (log1p twice with log1p_twice). Synchronous. */
encore_status encore_cuda_session_splade(encore_cuda_session *s, const encore_batch *b, int sum, int log1p_twice,
                                         float *weights);

#ifdef __cplusplus
}
#endif

#endif /* ENCORE_FORWARD_CUDA_H */
