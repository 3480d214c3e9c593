/* forward_cuda.c: BERT / DistilBERT encoder on a GPU, the same post-LayerNorm
 * graph as forward_cpu.c:
 *   x = LN(emb)
 *   per layer: x = LN(x + attn(x) W_o + b_o); x = LN(x + act(x W_1 + b_1) W_2 + b_2)
 * GEMMs are cuBLAS (fused QKV with its bias as the epilogue, tensor cores for
 * fp16/bf16); the rest is kernels/: embedding gather + LN, fused attention, bias
 * + residual + LN, bias + GELU, pooling and the head. One upload of the packed
 * batch, one download of the result; small batches replay a CUDA graph. */
#include "cuda/forward_cuda.h"

#include "core/common.h"
#include "core/token_check.h"
#include "cuda_check.h"
#include "cuda/device_blas.h"
#include "cuda/device_weights.h"
#include "kernels.h"

#include <cuda_runtime_api.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* Batches of at most this many tokens run as CUDA graphs: there, launch gaps
 * are a large part of the time. */
#define GRAPH_MAX_TOKENS 4096
/* Batches are padded to bucket shapes (device_plan.h) before they run as
 * graphs: about 4 token buckets per octave times a few batch sizes. */
#define GRAPH_CACHE 32

typedef struct graph_key {
    int T, B, n_tiles, what, pooling, normalize;
} graph_key;

typedef struct graph_entry {
    graph_key key;
    int hits;               /* runs seen with this key; captured on the second */
    cudaGraphExec_t exec;   /* NULL until captured */
    unsigned long long used;
} graph_entry;

struct encore_cuda_session {
    const encore_model *model;
    int device;
    encore_cuda_dtype dtype;
    const encore_cuda_weights *weights;
    const encore_blas *blas;
    cublasHandle_t handle;
    cudaStream_t stream;
    encore_cuda_layout layout;
    unsigned char *ws;      /* device workspace, layout.total bytes */
    int32_t *staging;       /* pinned: the packed batch, encore_cuda_packed_capacity(T_max) ints */
    void *result;           /* pinned: the result on its way back */
    size_t result_bytes;
    int graphs_on;
    graph_entry graphs[GRAPH_CACHE];
    unsigned long long clock;
    encore_cuda_graph_stats stats;
};

static int env_graphs_on(void) {
    const char *v = getenv("ENCORE_CUDA_GRAPHS");
    if (v && v[0] == '0') return 0;
    return !encore_cuda_sync_debug();
}

static void drop_graphs(encore_cuda_session *s) {
    for (int i = 0; i < GRAPH_CACHE; i++) {
        if (s->graphs[i].exec) cudaGraphExecDestroy(s->graphs[i].exec);
        memset(&s->graphs[i], 0, sizeof s->graphs[i]);
    }
}

/* The caller's current device, to restore after working on the session's. */
static int current_device(void) {
    int d = -1;
    if (cudaGetDevice(&d) != cudaSuccess) {
        (void)cudaGetLastError();
        d = -1;
    }
    return d;
}

static void restore_device(int prev, int used) {
    if (prev >= 0 && prev != used) cudaSetDevice(prev);
}

void encore_cuda_session_free(encore_cuda_session *s) {
    if (!s) return;
    const int prev = current_device();
    cudaSetDevice(s->device);
    if (s->stream) cudaStreamSynchronize(s->stream);
    drop_graphs(s);
    if (s->handle) s->blas->destroy(s->handle);
    if (s->stream) cudaStreamDestroy(s->stream);
    cudaFree(s->ws);
    cudaFreeHost(s->staging);
    cudaFreeHost(s->result);
    (void)cudaGetLastError();
    restore_device(prev, s->device);
    free(s);
}

static encore_status create(encore_cuda_session *s, const encore_model *m, int device, encore_cuda_dtype dt,
                            int max_tokens) {
    const encore_config *c = &m->config;
    s->model = m;
    s->device = device;
    s->dtype = dt;
    s->graphs_on = env_graphs_on();
    encore_status st;
    if (c->hidden_size % c->n_heads != 0 || c->hidden_size / c->n_heads > 128)
        return encore_fail(ENCORE_STATUS_UNSUPPORTED, "the CUDA attention takes head sizes up to 128, not %d",
                           c->hidden_size / c->n_heads);
    ENCORE_CUDA_CHECK(cudaSetDevice(device));
    if ((st = encore_kernels_cuda_prepare()) != ENCORE_STATUS_OK) return st;
    if ((st = encore_blas_load(&s->blas)) != ENCORE_STATUS_OK) return st;
    if ((st = encore_cuda_weights_get(m, device, dt, &s->weights)) != ENCORE_STATUS_OK) return st;
    size_t free_bytes = 0, total_bytes = 0;
    ENCORE_CUDA_CHECK(cudaMemGetInfo(&free_bytes, &total_bytes));
    if ((st = encore_cuda_layout_plan(c, max_tokens, dt, free_bytes, &s->layout)) != ENCORE_STATUS_OK) return st;
    ENCORE_CUDA_CHECK(cudaMalloc((void **)&s->ws, s->layout.total));
    ENCORE_CUDA_CHECK(cudaMallocHost((void **)&s->staging, encore_cuda_packed_capacity(max_tokens) * sizeof(int32_t)));
    const size_t width = (size_t)(c->n_labels > c->hidden_size ? c->n_labels : c->hidden_size);
    s->result_bytes = (size_t)max_tokens * width * sizeof(float);
    ENCORE_CUDA_CHECK(cudaMallocHost(&s->result, s->result_bytes));
    ENCORE_CUDA_CHECK(cudaStreamCreateWithFlags(&s->stream, cudaStreamNonBlocking));
    if ((st = encore_blas_handle_create(s->blas, &s->handle)) != ENCORE_STATUS_OK) return st;
    ENCORE_CUBLAS_CHECK(s->blas->set_stream(s->handle, s->stream));
    ENCORE_CUBLAS_CHECK(s->blas->set_workspace(s->handle, s->ws + s->layout.blas, ENCORE_CUDA_BLAS_WORKSPACE));
    return ENCORE_STATUS_OK;
}

encore_status encore_cuda_session_create(const encore_model *m, int device, encore_cuda_dtype dt, int max_tokens,
                                         encore_cuda_session **out) {
    *out = NULL;
    encore_cuda_session *s = calloc(1, sizeof *s);
    if (!s) return encore_fail(ENCORE_STATUS_OUT_OF_MEMORY, "out of memory");
    const int prev = current_device();
    encore_status st = create(s, m, device, dt, max_tokens);
    restore_device(prev, device);
    if (st != ENCORE_STATUS_OK) {
        char msg[ENCORE_ERROR_LEN];
        snprintf(msg, sizeof msg, "%s", encore_last_error());
        encore_cuda_session_free(s);
        return encore_fail(st, "%s", msg);
    }
    encore_log(ENCORE_LOG_LEVEL_INFO, "CUDA session on device %d: %s, workspace %.1f MiB for %d tokens", device,
               encore_cuda_dtype_name(dt), s->layout.total / 1048576.0, max_tokens);
    *out = s;
    return ENCORE_STATUS_OK;
}

encore_cuda_dtype encore_cuda_session_dtype(const encore_cuda_session *s) { return s->dtype; }
int encore_cuda_session_max_tokens(const encore_cuda_session *s) { return s->layout.max_tokens; }
const void *encore_cuda_session_weights(const encore_cuda_session *s) { return s->weights; }
encore_cuda_graph_stats encore_cuda_session_graph_stats(const encore_cuda_session *s) {
    encore_cuda_graph_stats st = s->stats;
    for (int i = 0; i < GRAPH_CACHE; i++) st.cached += s->graphs[i].exec != NULL;
    return st;
}
void encore_cuda_session_set_graphs(encore_cuda_session *s, int on) {
    s->graphs_on = on && !encore_cuda_sync_debug();
    if (!s->graphs_on) drop_graphs(s);
}

/* Everything between the upload and the download, on s->stream. */
static encore_status enqueue(encore_cuda_session *s, const encore_cuda_packed *p, encore_cuda_output what,
                             encore_pooling pooling, int normalize) {
    const encore_config *c = &s->model->config;
    const encore_cuda_weights_view *W = &s->weights->view;
    const encore_blas *blas = s->blas;
    const encore_cuda_dtype dt = s->dtype;
    const int T = p->T, B = p->B, C = c->hidden_size, F = c->intermediate_size, H = c->n_heads, D = C / H;
    const float eps = c->layer_norm_eps;
    cudaStream_t st = s->stream;
    const int32_t *ints = (const int32_t *)(s->ws + s->layout.ints);
    const int32_t *ids = ints + p->ids, *type_ids = ints + p->type_ids, *positions = ints + p->positions;
    const int32_t *seq_start = ints + p->seq_start, *tile_start = ints + p->tile_start;
    void *x = s->ws + s->layout.x;      // (T, C)
    void *qkv = s->ws + s->layout.qkv;  // (T, 3C)
    void *proj = qkv;                   // (T, C) in qkv's first T*C, free after attention
    void *ctx = s->ws + s->layout.ctx;  // (T, C)
    void *ffn = s->ws + s->layout.ffn;  // (T, F)
    encore_status e;
#define RUN(call)                                     \
    do {                                              \
        if ((e = (call)) != ENCORE_STATUS_OK) return e; \
    } while (0)
    if (W->emb_proj_w) {
        /* ELECTRA: embeddings of E (<= 3C) in qkv's space, projected to C
         * with the bias in the GEMM's epilogue */
        const int E = c->embedding_size;
        RUN(encore_embed_cuda(ids, type_ids, positions, T, E, W->word_emb, W->pos_emb, W->type_emb, W->emb_ln_g,
                              W->emb_ln_b, eps, dt, qkv, st));
        RUN(encore_bias_rows_cuda(x, W->emb_proj_b, T, C, dt, st));
        RUN(encore_linear_accumulate_cuda(blas, s->handle, qkv, W->emb_proj_w, T, C, E, dt, x));
    } else {
        RUN(encore_embed_cuda(ids, type_ids, positions, T, C, W->word_emb, W->pos_emb, W->type_emb, W->emb_ln_g,
                              W->emb_ln_b, eps, dt, x, st));
    }
    /* The heads and CLS pooling read each sequence's first token alone: the
     * last layer goes on from its attention with those B rows only (as the
     * CPU path does), gathered into qkv's space, free after the attention
     * (T >= B: every sequence, padding included, has a token). */
    const int first_only = what == ENCORE_CUDA_OUTPUT_LOGITS || what == ENCORE_CUDA_OUTPUT_SCORES ||
                           (what == ENCORE_CUDA_OUTPUT_EMBED && pooling == ENCORE_POOLING_CLS);
    const size_t row_bytes = (size_t)C * encore_cuda_dtype_size(dt);
    for (int l = 0; l < c->n_layers; l++) {
        const encore_cuda_layer_weights *w = &W->layers[l];
        /* The qkv bias in the GEMM's epilogue (bias rows, then beta = 1): q, k
         * and v are rounded to dt once, as in PyTorch, and the attention
         * takes them as they are. */
        RUN(encore_bias_rows_cuda(qkv, w->qkv_b, T, 3 * C, dt, st));
        RUN(encore_linear_accumulate_cuda(blas, s->handle, x, w->qkv_w, T, 3 * C, C, dt, qkv));
        if (c->is_deberta) {
            /* The disentangled terms: every token's query against every row
             * of pos_k (c2p), every key against pos_q (p2c), as GEMMs; the
             * attention picks each pair's row. */
            const int R = 2 * c->deberta_span;
            float *c2p = NULL, *p2c = NULL;
            if (W->deberta_pos) {
                const size_t table = (size_t)H * R * D * encore_cuda_dtype_size(dt);  // one layer's pos_k, in bytes
                const unsigned char *pos_k = (const unsigned char *)W->deberta_pos + (size_t)l * 2 * table;
                if (c->deberta_c2p) {
                    c2p = (float *)(s->ws + s->layout.deberta_c2p);
                    RUN(encore_heads_by_table_cuda(blas, s->handle, qkv, 3 * C, pos_k, T, H, D, R, dt, c2p));
                }
                if (c->deberta_p2c) {
                    p2c = (float *)(s->ws + s->layout.deberta_p2c);
                    RUN(encore_heads_by_table_cuda(blas, s->handle, (unsigned char *)qkv + row_bytes, 3 * C,
                                                   pos_k + table, T, H, D, R, dt, p2c));
                }
            }
            const float scale = 1.0f / sqrtf((float)D * (float)(1 + c->deberta_c2p + c->deberta_p2c));
            RUN(encore_attention_dis_cuda(qkv, c2p, p2c, W->deberta_index, s->model->rel_span - 1, R, T, scale,
                                          seq_start, tile_start, p->n_tiles, B, H, D, ENCORE_ATTENTION_AUTO, dt, ctx,
                                          st));
        } else {
            RUN(encore_attention_cuda(qkv, NULL, W->rel_bias, s->model->rel_span, seq_start, tile_start, p->n_tiles, B,
                                      H, D, ENCORE_ATTENTION_AUTO, dt, ctx, st));
        }
        const int rows = first_only && l == c->n_layers - 1 ? B : T;
        void *in = ctx, *res = x, *out = x;  // attention output, residual, layer output: (rows, C)
        void *p1 = proj;
        if (rows < T) {
            in = qkv;
            p1 = (unsigned char *)qkv + (size_t)B * row_bytes;
            res = out = (unsigned char *)qkv + 2 * (size_t)B * row_bytes;
            RUN(encore_copy_rows_cuda(ctx, seq_start, in, NULL, B, C, dt, st));
            RUN(encore_copy_rows_cuda(x, seq_start, res, NULL, B, C, dt, st));
        }
        RUN(encore_linear_cuda(blas, s->handle, in, w->attn_out_w, rows, C, C, dt, p1));
        RUN(encore_bias_residual_layernorm_cuda(p1, w->attn_out_b, res, w->ln1_g, w->ln1_b, eps, rows, C, dt, st));
        RUN(encore_linear_cuda(blas, s->handle, p1, w->ffn_in_w, rows, F, C, dt, ffn));
        RUN(encore_bias_act_cuda(ffn, w->ffn_in_b, c->activation, rows, F, dt, st));
        RUN(encore_linear_cuda(blas, s->handle, ffn, w->ffn_out_w, rows, C, F, dt, out));
        RUN(encore_bias_residual_layernorm_cuda(out, w->ffn_out_b, p1, w->ln2_g, w->ln2_b, eps, rows, C, dt, st));
        if (rows < T) RUN(encore_copy_rows_cuda(out, NULL, x, seq_start, B, C, dt, st));
    }
    float *pooled = (float *)(s->ws + s->layout.pooled);  // (B, C)
    float *pre = (float *)(s->ws + s->layout.pre);        // (B, C)
    float *logits = (float *)(s->ws + s->layout.logits);  // (B, L)
    if (what == ENCORE_CUDA_OUTPUT_LOGITS || what == ENCORE_CUDA_OUTPUT_SCORES) {
        const int L = c->n_labels;
        RUN(encore_pool_cuda(x, seq_start, B, C, ENCORE_POOLING_CLS, 0, dt, pooled, st));
        RUN(encore_linear_cuda(blas, s->handle, pooled, W->pre_w, B, C, C, ENCORE_CUDA_F32, pre));
        if (c->is_deberta && c->head_activation != ENCORE_ACTIVATION_TANH)
            RUN(encore_bias_act_cuda(pre, W->pre_b, c->head_activation, B, C, ENCORE_CUDA_F32, st)); /* ContextPooler */
        else
            RUN(encore_head_act_cuda(pre, W->pre_b, B, C,
                                     c->is_distilbert ? ENCORE_HEAD_ACT_RELU
                                     : c->is_electra  ? ENCORE_HEAD_ACT_GELU
                                                      : ENCORE_HEAD_ACT_TANH,
                                     st));
        RUN(encore_linear_cuda(blas, s->handle, pre, W->cls_w, B, L, C, ENCORE_CUDA_F32, logits));
        RUN(encore_scores_cuda(logits, W->cls_b, B, L,
                               what == ENCORE_CUDA_OUTPUT_SCORES ? c->score_function : ENCORE_SCORE_FUNCTION_NONE, st));
    } else if (what == ENCORE_CUDA_OUTPUT_EMBED) {
        RUN(encore_pool_cuda(x, seq_start, B, C, pooling, normalize, dt, pooled, st));
    }
#undef RUN
    return ENCORE_STATUS_OK;
}

/* The entry for k, or a slot for it: a free one, else the least recently
 * used shape that was never captured, and only when every slot holds a
 * captured graph the least recently used graph, so that one-off shapes do
 * not evict the graphs that serving traffic replays. */
static graph_entry *find_graph(encore_cuda_session *s, const graph_key *k) {
    graph_entry *victim = NULL;
    for (int i = 0; i < GRAPH_CACHE; i++) {
        graph_entry *g = &s->graphs[i];
        if (g->hits && memcmp(&g->key, k, sizeof *k) == 0) return g;
        if (!victim || (!g->exec && victim->exec) || (!g->exec == !victim->exec && g->used < victim->used))
            victim = g;
    }
    if (victim->exec) cudaGraphExecDestroy(victim->exec);
    memset(victim, 0, sizeof *victim);
    victim->key = *k;
    return victim;
}

/* Capture enqueue() into g->exec. On failure graphs are turned off for the
 * session and the caller runs eagerly. */
static void capture(encore_cuda_session *s, graph_entry *g, const encore_cuda_packed *p, encore_cuda_output what,
                    encore_pooling pooling, int normalize) {
    cudaGraph_t graph = NULL;
    cudaError_t err = cudaStreamBeginCapture(s->stream, cudaStreamCaptureModeThreadLocal);
    encore_status st = ENCORE_STATUS_DEVICE_ERROR;
    if (err == cudaSuccess) {
        st = enqueue(s, p, what, pooling, normalize);
        err = cudaStreamEndCapture(s->stream, &graph);
    }
    if (err == cudaSuccess && st == ENCORE_STATUS_OK) err = cudaGraphInstantiate(&g->exec, graph, 0);
    if (graph) cudaGraphDestroy(graph);
    if (err != cudaSuccess || st != ENCORE_STATUS_OK) {
        encore_log(ENCORE_LOG_LEVEL_INFO, "CUDA graph capture failed (%s); running without graphs",
                   err != cudaSuccess ? cudaGetErrorString(err) : encore_last_error());
        (void)cudaGetLastError();
        g->exec = NULL;
        s->graphs_on = 0;
        drop_graphs(s);
    }
}

static encore_status check_batch(const encore_cuda_session *s, const encore_batch *b) {
    if (b->T > s->layout.max_tokens)
        return encore_fail(ENCORE_STATUS_INVALID_ARGUMENT, "a batch of %d tokens in a CUDA session sized for %d",
                           b->T, s->layout.max_tokens);
    const encore_status st = encore_model_check_tokens(s->model, b->ids, b->type_ids, b->positions, b->T);
    return st != ENCORE_STATUS_OK ? st : encore_model_check_span(s->model, b->max_len);
}

/* ENCORE_CUDA_CHECK for calls made after work that reads the pinned staging
 * buffer was queued: on failure, the stream is drained before returning,
 * so that the next call cannot rewrite the buffer under a copy still in
 * flight. */
#define CHECK_DRAINED(call, stream)                                                               \
    do {                                                                                          \
        cudaError_t drained_err_ = (call);                                                        \
        if (drained_err_ != cudaSuccess) {                                                        \
            const encore_status drained_st_ = encore_cuda_fail(drained_err_, #call, __FILE__, __LINE__); \
            cudaStreamSynchronize(stream);                                                        \
            return drained_st_;                                                                   \
        }                                                                                         \
    } while (0)

static encore_status run(encore_cuda_session *s, const encore_batch *b, encore_cuda_output what,
                         encore_pooling pooling, int normalize, float *out);

/* Runs on the session's device and gives the caller back its own. */
encore_status encore_cuda_session_run(encore_cuda_session *s, const encore_batch *b, encore_cuda_output what,
                                      encore_pooling pooling, int normalize, float *out) {
    const int prev = current_device();
    const encore_status st = run(s, b, what, pooling, normalize, out);
    restore_device(prev, s->device);
    return st;
}

static encore_status run(encore_cuda_session *s, const encore_batch *b, encore_cuda_output what,
                         encore_pooling pooling, int normalize, float *out) {
    const encore_config *c = &s->model->config;
    encore_status st = check_batch(s, b);
    if (st != ENCORE_STATUS_OK || b->B == 0) return st;
    if ((what == ENCORE_CUDA_OUTPUT_LOGITS || what == ENCORE_CUDA_OUTPUT_SCORES) && !c->has_head)
        return encore_fail(ENCORE_STATUS_UNSUPPORTED, "%s has no classification head", c->architecture_name);
    if (what != ENCORE_CUDA_OUTPUT_EMBED) {
        pooling = ENCORE_POOLING_DEFAULT;
        normalize = 0;
    }
    ENCORE_CUDA_CHECK(cudaSetDevice(s->device));
    /* Batches that may run as graphs are padded to a bucket shape, so that
     * traffic with ever-new token counts replays a few graphs; the first run
     * of a shape is padded the same way, so each shape computes alike. */
    encore_cuda_packed p;
    int T_b = 0, B_b = 0;
    const int graph_shape = s->graphs_on && b->T <= GRAPH_MAX_TOKENS &&
                            encore_cuda_bucket_shape(b->T, b->B, s->layout.max_tokens, &T_b, &B_b);
    if (graph_shape)
        encore_cuda_pack_padded(b, T_b, B_b, s->staging, &p);
    else
        encore_cuda_pack(b, s->staging, &p);
    CHECK_DRAINED(cudaMemcpyAsync(s->ws + s->layout.ints, s->staging, p.n_ints * sizeof(int32_t),
                                  cudaMemcpyHostToDevice, s->stream),
                  s->stream);

    graph_entry *g = NULL;
    if (graph_shape) {
        const graph_key key = {p.T, p.B, p.n_tiles, (int)what, (int)pooling, normalize};
        g = find_graph(s, &key);
        g->hits++;
        g->used = ++s->clock;
        if (!g->exec && g->hits >= 2) {
            capture(s, g, &p, what, pooling, normalize);
            if (g->exec) s->stats.captures++;
        }
    }
    if (g && g->exec && s->graphs_on) {
        CHECK_DRAINED(cudaGraphLaunch(g->exec, s->stream), s->stream);
        s->stats.replays++;
        s->stats.padded_tokens += (unsigned long long)(p.T - b->T);
    } else if ((st = enqueue(s, &p, what, pooling, normalize)) != ENCORE_STATUS_OK) {
        cudaStreamSynchronize(s->stream);
        return st;
    }

    const int C = c->hidden_size;
    const void *src = NULL;
    size_t bytes = 0;
    switch (what) {
    case ENCORE_CUDA_OUTPUT_LOGITS:
    case ENCORE_CUDA_OUTPUT_SCORES:  /* the batch's own B rows come first, padding after */
        src = s->ws + s->layout.logits;
        bytes = (size_t)b->B * c->n_labels * sizeof(float);
        break;
    case ENCORE_CUDA_OUTPUT_EMBED:
        src = s->ws + s->layout.pooled;
        bytes = (size_t)b->B * C * sizeof(float);
        break;
    case ENCORE_CUDA_OUTPUT_HIDDEN:
        src = s->ws + s->layout.x;
        bytes = (size_t)b->T * C * encore_cuda_dtype_size(s->dtype);
        break;
    }
    CHECK_DRAINED(cudaMemcpyAsync(s->result, src, bytes, cudaMemcpyDeviceToHost, s->stream), s->stream);
    ENCORE_CUDA_CHECK(cudaStreamSynchronize(s->stream));
    if (what == ENCORE_CUDA_OUTPUT_HIDDEN)
        encore_convert_to_f32(s->result, (size_t)b->T * C, s->dtype, out);
    else
        memcpy(out, s->result, bytes);
    return ENCORE_STATUS_OK;
}

/* What the masked-language-model head's callers check first: the head is
 * on the device, and the batch fits. */
static encore_status check_mlm(const encore_cuda_session *s, const encore_batch *b) {
    const encore_config *c = &s->model->config;
    if (!c->has_mlm || !s->weights->view.mlm_w)
        return encore_fail(ENCORE_STATUS_UNSUPPORTED, "%s has no masked-language-model head", c->architecture_name);
    return check_batch(s, b);
}

/* The MLM head's logits, before the decoder's bias, for the n rows of x
 * whose positions d_rows holds (n of them, then T): gathered into h (n, C)
 * fp32, dense + activation + LayerNorm into t, then the (V, C) decoder into
 * logits (n, V); h is left zeroed. zero: (C) zeros. */
static encore_status head_logits(encore_cuda_session *s, const void *x, const int32_t *d_rows, int n, float *h,
                                 float *t, const float *zero, float *logits) {
    const encore_config *c = &s->model->config;
    const encore_cuda_weights_view *W = &s->weights->view;
    const int C = c->hidden_size, V = c->vocab_size;
    cudaStream_t st = s->stream;
    encore_status e;
    if ((e = encore_pool_cuda(x, d_rows, n, C, ENCORE_POOLING_CLS, 0, s->dtype, h, st))) return e;
    if ((e = encore_linear_cuda(s->blas, s->handle, h, W->mlm_w, n, C, C, ENCORE_CUDA_F32, t))) return e;
    if ((e = encore_bias_act_cuda(t, W->mlm_b, c->mlm_activation, n, C, ENCORE_CUDA_F32, st))) return e;
    ENCORE_CUDA_CHECK(cudaMemsetAsync(h, 0, (size_t)n * C * sizeof(float), st));
    if ((e = encore_bias_residual_layernorm_cuda(t, zero, h, W->mlm_ln_g, W->mlm_ln_b, c->layer_norm_eps, n, C,
                                                 ENCORE_CUDA_F32, st)))
        return e;
    return encore_linear_cuda(s->blas, s->handle, t, W->mlm_decoder, n, V, C, ENCORE_CUDA_F32, logits);
}

static encore_status mlm(encore_cuda_session *s, const encore_batch *b, const int32_t *rows, int n_rows,
                         float *probs) {
    const encore_config *c = &s->model->config;
    const encore_cuda_weights_view *W = &s->weights->view;
    encore_status e = check_mlm(s, b);
    if (e != ENCORE_STATUS_OK) return e;
    for (int i = 0; i < n_rows; i++)
        if (rows[i] < 0 || rows[i] >= b->T || (i > 0 && rows[i] <= rows[i - 1]))
            return encore_fail(ENCORE_STATUS_INVALID_ARGUMENT, "mask row %d is out of order or outside the batch", i);
    const int C = c->hidden_size, V = c->vocab_size;
    cudaStream_t st = s->stream;
    ENCORE_CUDA_CHECK(cudaSetDevice(s->device));
    /* The encoder alone, unpadded and eagerly (no graph): the hidden state
     * stays in the workspace's x. */
    encore_cuda_packed p;
    encore_cuda_pack(b, s->staging, &p);
    CHECK_DRAINED(cudaMemcpyAsync(s->ws + s->layout.ints, s->staging, p.n_ints * sizeof(int32_t),
                                  cudaMemcpyHostToDevice, st),
                  st);
    if ((e = enqueue(s, &p, ENCORE_CUDA_OUTPUT_HIDDEN, ENCORE_POOLING_DEFAULT, 0)) != ENCORE_STATUS_OK) {
        cudaStreamSynchronize(st);
        return e;
    }
#define RUN(call)                                       \
    do {                                                \
        if ((e = (call)) != ENCORE_STATUS_OK) {         \
            cudaStreamSynchronize(st);                  \
            return e;                                   \
        }                                               \
    } while (0)
    const void *x = s->ws + s->layout.x;                      // (T, C) dtype
    int32_t *d_rows = (int32_t *)(s->ws + s->layout.mlm_rows); // (R + 1)
    float *zero = (float *)(s->ws + s->layout.mlm_zero);       // (C)
    float *h = (float *)(s->ws + s->layout.pooled);            // (R, C) the masks' hidden states, then zeros
    float *t = (float *)(s->ws + s->layout.pre);               // (R, C) the transform
    float *logits = (float *)(s->ws + s->layout.mlm_logits);   // (R, V)
    CHECK_DRAINED(cudaMemsetAsync(zero, 0, (size_t)C * sizeof(float), st), st);
    for (int r0 = 0; r0 < n_rows; r0 += ENCORE_CUDA_MLM_ROWS) {
        const int n = n_rows - r0 < ENCORE_CUDA_MLM_ROWS ? n_rows - r0 : ENCORE_CUDA_MLM_ROWS;
        /* The masks' rows, gathered as the first tokens of one-token
         * "sequences" starting at each mask (the pooler's CLS gather). */
        int32_t *h_rows = s->staging;  // the packed batch is on the device already
        CHECK_DRAINED(cudaStreamSynchronize(st), st);
        memcpy(h_rows, rows + r0, (size_t)n * sizeof(int32_t));
        h_rows[n] = b->T;
        CHECK_DRAINED(cudaMemcpyAsync(d_rows, h_rows, (size_t)(n + 1) * sizeof(int32_t), cudaMemcpyHostToDevice, st),
                      st);
        RUN(head_logits(s, x, d_rows, n, h, t, zero, logits));
        RUN(encore_scores_cuda(logits, W->mlm_bias, n, V, ENCORE_SCORE_FUNCTION_SOFTMAX, st));
        CHECK_DRAINED(cudaMemcpyAsync(probs + (size_t)r0 * V, logits, (size_t)n * V * sizeof(float),
                                      cudaMemcpyDeviceToHost, st),
                      st);
    }
#undef RUN
    ENCORE_CUDA_CHECK(cudaStreamSynchronize(st));
    return ENCORE_STATUS_OK;
}

/* SPLADE: the encoder, then the MLM head on every token, ENCORE_CUDA_MLM_ROWS
 * rows at a time, each pass's rows pooled on the device into one row per
 * sequence it touches, those rows merged into weights on the host. */
static encore_status splade(encore_cuda_session *s, const encore_batch *b, int sum, int log1p_twice,
                            float *weights) {
    const encore_config *c = &s->model->config;
    const encore_cuda_weights_view *W = &s->weights->view;
    encore_status e = check_mlm(s, b);
    if (e != ENCORE_STATUS_OK) return e;
    const int C = c->hidden_size, V = c->vocab_size, R = ENCORE_CUDA_MLM_ROWS;
    float *part = malloc(encore_size_mul((size_t)R, (size_t)V) * sizeof(float)); /* a pass's rows, on the host */
    if (!part) return encore_fail(ENCORE_STATUS_OUT_OF_MEMORY, "out of memory for SPLADE's pooled rows");
    memset(weights, 0, (size_t)b->B * V * sizeof(float));
    cudaStream_t st = s->stream;
    ENCORE_CUDA_CHECK(cudaSetDevice(s->device));
    encore_cuda_packed p;
    encore_cuda_pack(b, s->staging, &p);
#define RUN(call)                                       \
    do {                                                \
        if ((e = (call)) != ENCORE_STATUS_OK) {         \
            cudaStreamSynchronize(st);                  \
            free(part);                                 \
            return e;                                   \
        }                                               \
    } while (0)
#define DRAINED(call)                                                                   \
    do {                                                                                \
        cudaError_t err_ = (call);                                                      \
        if (err_ != cudaSuccess) {                                                      \
            e = encore_cuda_fail(err_, #call, __FILE__, __LINE__);                      \
            cudaStreamSynchronize(st);                                                  \
            free(part);                                                                 \
            return e;                                                                   \
        }                                                                               \
    } while (0)
    DRAINED(cudaMemcpyAsync(s->ws + s->layout.ints, s->staging, p.n_ints * sizeof(int32_t), cudaMemcpyHostToDevice,
                            st));
    RUN(enqueue(s, &p, ENCORE_CUDA_OUTPUT_HIDDEN, ENCORE_POOLING_DEFAULT, 0));
    const void *x = s->ws + s->layout.x;                        // (T, C) dtype
    int32_t *d_rows = (int32_t *)(s->ws + s->layout.mlm_rows);   // (R + 1)
    int32_t *d_slot = (int32_t *)(s->ws + s->layout.splade_slot); // (R)
    float *zero = (float *)(s->ws + s->layout.mlm_zero);         // (C)
    float *h = (float *)(s->ws + s->layout.pooled);              // (R, C) the rows' hidden states, then zeros
    float *t = (float *)(s->ws + s->layout.pre);                 // (R, C) the transform
    float *logits = (float *)(s->ws + s->layout.mlm_logits);     // (R, V)
    float *acc = (float *)(s->ws + s->layout.splade_acc);        // (R, V)
    DRAINED(cudaMemsetAsync(zero, 0, (size_t)C * sizeof(float), st));
    int seq = 0; /* the sequence of row r0 */
    for (int r0 = 0; r0 < b->T; r0 += R) {
        const int n = b->T - r0 < R ? b->T - r0 : R;
        while (b->seq_start[seq + 1] <= r0) seq++;
        /* Rows r0.. as the first tokens of one-token "sequences" (the
         * pooler's gather), and each row's sequence, from seq on. */
        DRAINED(cudaStreamSynchronize(st)); /* the staging buffer is free again */
        int32_t *h_rows = s->staging, *h_slot = s->staging + n + 1; /* 2n + 1 <= 5 T_max + 2 ints */
        int slots = 0;
        for (int i = 0, q = seq; i < n; i++) {
            while (b->seq_start[q + 1] <= r0 + i) q++;
            h_rows[i] = r0 + i;
            h_slot[i] = q - seq;
            slots = q - seq + 1;
        }
        h_rows[n] = b->T;
        DRAINED(cudaMemcpyAsync(d_rows, h_rows, (size_t)(n + 1) * sizeof(int32_t), cudaMemcpyHostToDevice, st));
        DRAINED(cudaMemcpyAsync(d_slot, h_slot, (size_t)n * sizeof(int32_t), cudaMemcpyHostToDevice, st));
        RUN(head_logits(s, x, d_rows, n, h, t, zero, logits));
        DRAINED(cudaMemsetAsync(acc, 0, (size_t)slots * V * sizeof(float), st));
        RUN(encore_splade_fold_cuda(logits, W->mlm_bias, d_slot, n, V, sum, log1p_twice, acc, st));
        DRAINED(cudaMemcpyAsync(part, acc, (size_t)slots * V * sizeof(float), cudaMemcpyDeviceToHost, st));
        DRAINED(cudaStreamSynchronize(st));
        for (int j = 0; j < slots; j++) {
            const float *a = part + (size_t)j * V;
            float *w = weights + (size_t)(seq + j) * V;
            if (sum)
                for (int v = 0; v < V; v++) w[v] += a[v];
            else
                for (int v = 0; v < V; v++) w[v] = a[v] > w[v] ? a[v] : w[v];
        }
    }
#undef RUN
#undef DRAINED
    free(part);
    return ENCORE_STATUS_OK;
}

#undef CHECK_DRAINED

encore_status encore_cuda_session_splade(encore_cuda_session *s, const encore_batch *b, int sum, int log1p_twice,
                                         float *weights) {
    const int prev = current_device();
    const encore_status st = splade(s, b, sum, log1p_twice, weights);
    restore_device(prev, s->device);
    return st;
}

encore_status encore_cuda_session_mlm(encore_cuda_session *s, const encore_batch *b, const int32_t *rows, int n_rows,
                                      float *probs) {
    const int prev = current_device();
    const encore_status st = mlm(s, b, rows, n_rows, probs);
    restore_device(prev, s->device);
    return st;
}
