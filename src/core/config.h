/* config.h: the parts of a Hugging Face config.json that encore uses. */
#ifndef ENCORE_CONFIG_H
#define ENCORE_CONFIG_H

#include "encore.h"

#ifdef __cplusplus
extern "C" {
#endif

/* The largest values encore takes from config.json (README: "Limits on
 * model files"). Far above any BERT or DistilBERT released, and small enough
 * that every size derived from them (3C x C, F x C, V x C, ...) fits its
 * type with room to spare; the weights they imply must also fit the data
 * of model.safetensors (model.c). */
#define ENCORE_MAX_HIDDEN_SIZE 16384          /* hidden_size, dim */
#define ENCORE_MAX_INTERMEDIATE_SIZE 65536    /* intermediate_size, hidden_dim */
#define ENCORE_MAX_LAYERS 256                 /* num_hidden_layers, n_layers */
#define ENCORE_MAX_POSITIONS 65536            /* max_position_embeddings */
#define ENCORE_MAX_VOCAB (1 << 24)            /* vocab_size (the tokenizer's id limit too) */
#define ENCORE_MAX_TYPE_VOCAB 1024            /* type_vocab_size */
#define ENCORE_MAX_LABELS 65536               /* num_labels, id2label */
/* MPNet's relative position buckets: 16 each way, exact below 8, then
 * logarithmic up to a distance of 128 (transformers' MPNetEncoder). */
#define ENCORE_MPNET_BUCKETS 32
#define ENCORE_MPNET_MAX_DISTANCE 128
/* num_attention_heads / n_heads: 1 to hidden_size, dividing it;
 * layer_norm_eps: a number from 0 to 1. */

typedef enum encore_activation {
    ENCORE_ACTIVATION_GELU = 0,   /* exact erf form ("gelu") */
    ENCORE_ACTIVATION_GELU_TANH,  /* "gelu_new", "gelu_pytorch_tanh", "gelu_fast" */
    ENCORE_ACTIVATION_RELU,
    ENCORE_ACTIVATION_SILU,
    ENCORE_ACTIVATION_TANH        /* a DeBERTa pooler's only (pooler_hidden_act "tanh"), on the CPU */
} encore_activation;

typedef struct encore_config {
    encore_architecture architecture;
    char architecture_name[64];
    int is_distilbert;
    int is_roberta;               /* RoBERTa: BERT's layers, positions after padding_idx, no token types */
    int is_mpnet;                 /* MPNet: RoBERTa's positions, no token types, relative position bias */
    int rel_buckets;              /* MPNet: rows of relative_attention_bias */
    int is_electra;               /* ELECTRA: BERT's layers, embeddings of embedding_size, GELU head */
    int embedding_size;           /* E: the embeddings' width; hidden_size but for ELECTRA */
    int is_deberta;               /* DeBERTa-v2/v3: disentangled attention */
    int deberta_rel;              /* relative_attention: the c2p and p2c terms */
    int deberta_c2p, deberta_p2c; /* pos_att_type's terms (both count in the scale) */
    int deberta_buckets;          /* position_buckets (<= 0: relative positions unbucketed) */
    int deberta_max_rel;          /* max_relative_positions (max_position_embeddings when < 1) */
    int deberta_span;             /* rows each way of rel_embeddings: position_buckets, else max_relative_positions */
    int deberta_rel_ln;           /* norm_rel_ebd has layer_norm */
    int has_positions;            /* absolute position embeddings (DeBERTa: position_biased_input) */
    encore_activation head_activation; /* DeBERTa's pooler_hidden_act */
    int position_base;            /* the first token's position: padding_idx + 1 for RoBERTa, else 0 */
    int has_head;                 /* a sequence-classification head */
    int has_mlm;                  /* a masked-language-model head (fill-mask) */
    encore_token_head token_head; /* a head on every token (NER, question answering) */
    int vocab_size;
    int hidden_size;              /* C */
    int n_layers;
    int n_heads;
    int intermediate_size;        /* F */
    int max_position_embeddings;  /* P */
    int type_vocab_size;          /* 0 for DistilBERT */
    float layer_norm_eps;
    encore_activation activation;
    encore_activation mlm_activation; /* the masked-LM head's (fill-mask) */
    int n_labels;
    char **labels;                /* (n_labels) id2label, in id order */
    int entailment_id;            /* the id of label2id's first label that starts with
                                     "entail" (any case), as the zero-shot pipeline
                                     finds it; -1 when none does */
    encore_score_function score_function;
} encore_config;

/* Parse dir/config.json. Errors name the file and the key. */
encore_status encore_config_load(const char *dir, encore_config *cfg);
/* cfg, an encoder's config read from dir, made the sequence classifier that
 * transformers' AutoModelForSequenceClassification builds on it: the labels
 * are dir/config.json's id2label (num_labels, else 2: LABEL_0, LABEL_1). */
encore_status encore_config_as_classifier(const char *dir, encore_config *cfg);
void encore_config_free(encore_config *cfg);

#ifdef __cplusplus
}
#endif

#endif /* ENCORE_CONFIG_H */
