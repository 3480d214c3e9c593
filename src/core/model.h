/* model.h: the private layout of encore_model: config, tokenizer and fp32
 * weights, ready for the CPU forward pass. */
#ifndef ENCORE_MODEL_H
#define ENCORE_MODEL_H

#include "core/config.h"
#include "encore.h"
#include "cpu/gemm_cpu.h"
#include "tokenizer/tokenizer.h"

#ifdef __cplusplus
extern "C" {
#endif

/* C = hidden size, F = intermediate size, V = vocabulary, P = positions,
 * L = labels. Linear weights are (out, in), as PyTorch stores them, packed
 * into column panels for the CPU GEMM (gemm_cpu.h); encore_unpack_matrix
 * gives the (out, in) matrix back. */
typedef struct encore_layer_weights {
    encore_packed_matrix qkv_w;      /* (3C, C) query, key, value rows stacked */
    float *qkv_b;                    /* (3C) */
    encore_packed_matrix attn_out_w; /* (C, C) */
    float *attn_out_b;               /* (C) */
    float *ln1_g;                    /* (C) LayerNorm after attention */
    float *ln1_b;                    /* (C) */
    encore_packed_matrix ffn_in_w;   /* (F, C) */
    float *ffn_in_b;                 /* (F) */
    encore_packed_matrix ffn_out_w;  /* (C, F) */
    float *ffn_out_b;                /* (C) */
    float *ln2_g;                    /* (C) LayerNorm after the feed-forward block */
    float *ln2_b;                    /* (C) */
} encore_layer_weights;

struct encore_model {
    encore_config config;
    encore_tokenizer *tokenizer;
    int max_length;             /* tokens per input, special tokens included */
    encore_pooling pooling;     /* from 1_Pooling/config.json, else mean */
    int embed_max_length;       /* sentence_bert_config.json max_seq_length, capped by
                                   max_length: sentence-transformers cuts embedding
                                   inputs there */

    /* E = config.embedding_size: C but for ELECTRA */
    float *word_emb;            /* (V, E) */
    float *pos_emb;             /* (P, E); NULL for DeBERTa-v3 (position_biased_input false) */
    float *type_emb;            /* (type_vocab_size, E), NULL for DistilBERT and MPNet */
    float *rel_weight;          /* MPNet: (rel_buckets, H) relative_attention_bias, else NULL */
    float *emb_ln_g;            /* (E) */
    float *emb_ln_b;            /* (E) */
    /* ELECTRA with E != C: embeddings_project, (C, E) and (C); else unused */
    int has_emb_proj;
    encore_packed_matrix emb_proj_w;
    float *emb_proj_b;
    encore_layer_weights *layers; /* (n_layers) */

    /* Classification head. BERT: pooler dense + tanh, then classifier.
     * DistilBERT: pre_classifier + ReLU, then classifier. RoBERTa and MPNet:
     * classifier.dense + tanh, then classifier.out_proj; ELECTRA the same
     * with GELU. */
    encore_packed_matrix pre_w; /* (C, C) */
    float *pre_b;               /* (C) */
    encore_packed_matrix cls_w; /* (L, C) */
    float *cls_b;               /* (L) */

    /* Per-token head: BertForTokenClassification's classifier (L, C), or
     * BertForQuestionAnswering's qa_outputs (2, C); fp32. */
    float *tok_w;               /* (n_token_outputs, C) */
    float *tok_b;               /* (n_token_outputs) */

    /* Masked-language-model head (fill-mask), computed at mask positions
     * only. BERT: cls.predictions.transform.dense + act + LayerNorm, then
     * the decoder; DistilBERT: vocab_transform + act + vocab_layer_norm,
     * then vocab_projector. The decoder is tied to word_emb unless the file
     * holds one of its own. */
    encore_packed_matrix mlm_w; /* (C, C) */
    float *mlm_b;               /* (C) */
    float *mlm_ln_g;            /* (C) */
    float *mlm_ln_b;            /* (C) */
    float *mlm_decoder;         /* (V, C): word_emb, or the file's untied decoder */
    float *mlm_bias;            /* (V) */

    float *arena;               /* every weight above lives in this one block,
                                   64-byte aligned */

    /* MPNet: rel_weight spread over every distance a text can span, for
     * the attention (cpu_ops.h: encore_attention_rel); NULL otherwise. */
    float *rel_bias;            /* (H, 2 rel_span - 1) */
    int rel_span;               /* max_position_embeddings: the longest text it spans */

    /* DeBERTa-v2 with relative_attention: rel_emb (in the arena), and for
     * the attention (cpu_ops.h: encore_attention_dis) every layer's key and
     * query projections of it (NULL for a term pos_att_type leaves out)
     * and the row of every distance a text can span; NULL otherwise. */
    float *rel_emb;             /* (2 span, C) encoder.rel_embeddings, then its LayerNorm */
    float *rel_ln_g, *rel_ln_b; /* (C) encoder.LayerNorm, or NULL */
    float *deberta_pos;         /* (n_layers, 2, H, D, 2 span): pos_k, then pos_q, per head transposed */
    int32_t *deberta_index;     /* (2 rel_span - 1) */

    /* SPLADE (sparse.c): sentence-transformers' SpladePooling over the MLM
     * head's logits at every token, the decoder packed for the CPU GEMM. */
    int splade;                 /* 1 for a SPLADE model */
    int splade_sum;             /* pooling_strategy "sum" (else "max") */
    int splade_log1p_twice;     /* activation_function "log1p_relu" (else "relu") */
    encore_packed_matrix splade_decoder; /* (V, C), in splade_arena */
    float *splade_arena;

    /* Device copies of the weights (src/cuda/device_weights.c): made by the first
     * CUDA session that needs them, shared by all, guarded by that file's
     * lock; NULL until then and in CPU-only builds. */
    struct encore_cuda_weights *cuda_weights;
};

/* MPNet's relative position bucket of key j for query i, rel = j - i. */
int encore_mpnet_bucket(int rel);

/* The MLM head's transform on T hidden states: dense, activation,
 * LayerNorm. h: (T, C), t: (T, C). (fill_mask.c) */
void encore_mlm_transform_cpu(const encore_model *m, const float *h, int T, float *t);

/* Read the directory's SPLADE settings (modules.json) and pack the decoder
 * (bf16 for ENCORE_WEIGHTS_BF16, else fp32); force:
 * encore_model_params.splade. (sparse.c) */
encore_status encore_model_load_splade(encore_model *m, const char *dir, int force, encore_weights weights);

#ifdef __cplusplus
}
#endif

#endif /* ENCORE_MODEL_H */
