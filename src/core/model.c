/* model.c: load a Hugging Face model directory into an encore_model. Every
 * weight is checked against the shape config.json implies and converted to
 * fp32 into one arena; linear weights are packed there for the CPU GEMM
 * (gemm_cpu.h), and kept in that form only. */
#include "core/model.h"

#include "core/adapter.h"
#include "core/common.h"
#include "core/safetensors.h"
#include "cpu/cpu_ops.h"
#include "cpu/gemm_cpu.h"
#include "cpu/gemm_i8_cpu.h"
#ifdef ENCORE_HAVE_CUDA
#include "cuda/device_weights.h"
#endif

#include <cJSON.h>
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

/* Loading runs twice over the same code. The plan pass looks up every tensor
 * and checks its shape and dtype against the config, and counts the arena and
 * the staging buffer it will need, in checked arithmetic, with nothing
 * allocated or copied; only then is the arena allocated, exactly that large,
 * and the load pass copies. Every block of the arena is carved through
 * carve(), which refuses to pass the arena's end, so that no size from a file
 * can send a copy past it. */
typedef struct loader {
    const encore_safetensors *st;
    const char *prefix;   /* "bert.", "distilbert." or "" */
    int planning;         /* 1: check and count only */
    float *arena;         /* NULL while planning */
    size_t cap, used;     /* floats of the arena, and the next free one */
    encore_weights weights; /* how to pack the linear weights */
    float *staging;       /* the largest linear weight, unpacked, on its way to packing */
    size_t staging_cap;   /* its floats: counted while planning */
    encore_adapter *adapter; /* a LoRA adapter merged as the weights load, or NULL */
} loader;

static int file_exists(const char *path) {
    struct stat sb;
    return stat(path, &sb) == 0 && S_ISREG(sb.st_mode);
}

/* base + off, or NULL while planning (no arithmetic on a NULL pointer). */
static float *at(float *base, size_t off) { return base ? base + off : NULL; }

/* n floats of the arena, starting on a 64-byte boundary when align; *out is
 * NULL while planning. Fails when the arena (or size_t) would overflow. */
static encore_status carve(loader *ld, size_t n, int align, float **out) {
    size_t start = ld->used;
    if (align) {
        start = encore_size_add(start, 15);
        if (start != SIZE_MAX) start = start / 16 * 16;
    }
    const size_t end = encore_size_add(start, n);
    if (end == SIZE_MAX || (!ld->planning && end > ld->cap))
        return encore_fail(ENCORE_STATUS_BAD_MODEL, "%s: the weights do not fit the arena planned for them",
                           ld->st->path);
    *out = at(ld->arena, start);
    ld->used = end;
    return ENCORE_STATUS_OK;
}

/* Find a tensor; old checkpoints name LayerNorm parameters gamma/beta. */
static const encore_tensor_info *find(const loader *ld, const char *name) {
    const encore_tensor_info *t = ld->adapter ? encore_adapter_replacement(ld->adapter, name) : NULL;
    if (t) return t;
    if ((t = encore_safetensors_find(ld->st, name))) return t;
    /* A head over an encoder saved without its class prefix (an adapter's
     * base): bert.pooler.dense.weight is pooler.dense.weight there. */
    if (!*ld->prefix && strncmp(name, "bert.", 5) == 0 && (t = encore_safetensors_find(ld->st, name + 5))) return t;
    char alt[512];
    size_t n = strlen(name);
    if (n > 7 && strcmp(name + n - 7, ".weight") == 0)
        snprintf(alt, sizeof alt, "%.*s.gamma", (int)(n - 7), name);
    else if (n > 5 && strcmp(name + n - 5, ".bias") == 0)
        snprintf(alt, sizeof alt, "%.*s.beta", (int)(n - 5), name);
    else
        return NULL;
    return (strstr(name, "LayerNorm") || strstr(name, "layer_norm")) ? encore_safetensors_find(ld->st, alt) : NULL;
}

/* Copy tensor `name` (shape (rows) or (rows, cols) when cols > 0) to dst as
 * fp32; dst holds rows * max(cols, 1) floats. While planning, check only. */
static encore_status load_into(loader *ld, const char *name, int64_t rows, int64_t cols, float *dst) {
    const encore_tensor_info *t = find(ld, name);
    if (!t)
        return encore_fail(ENCORE_STATUS_BAD_MODEL, "%s: tensor '%s' is missing", ld->st->path, name);
    int want_dims = cols > 0 ? 2 : 1;
    if (t->n_dims != want_dims || t->shape[0] != rows || (cols > 0 && t->shape[1] != cols)) {
        char got[128] = "", want[64];
        size_t len = 0;
        for (int i = 0; i < t->n_dims && len < sizeof got - 24; i++)
            len += (size_t)snprintf(got + len, sizeof got - len, "%s%lld", i ? ", " : "", (long long)t->shape[i]);
        if (cols > 0)
            snprintf(want, sizeof want, "%lld, %lld", (long long)rows, (long long)cols);
        else
            snprintf(want, sizeof want, "%lld", (long long)rows);
        return encore_fail(ENCORE_STATUS_BAD_MODEL,
                           "%s: tensor '%s' has shape [%s] but config.json implies [%s]", ld->st->path, name,
                           got, want);
    }
    if (t->dtype == ENCORE_DTYPE_OTHER)
        return encore_fail(ENCORE_STATUS_UNSUPPORTED,
                           "%s: tensor '%s' has dtype %s (F32, F16 and BF16 are supported)", ld->st->path, name,
                           t->dtype_name);
    if (ld->planning) return ENCORE_STATUS_OK;
    encore_status s = encore_tensor_to_f32(t, dst);
    if (s != ENCORE_STATUS_OK) return s;
    return ld->adapter ? encore_adapter_merge(ld->adapter, name, rows, cols, dst) : ENCORE_STATUS_OK;
}

/* Carve a fresh block from the arena and load into it. */
static encore_status take(loader *ld, const char *name, int64_t rows, int64_t cols, float **out) {
    encore_status s = carve(ld, encore_size_mul((size_t)rows, (size_t)(cols > 0 ? cols : 1)), 0, out);
    return s ? s : load_into(ld, name, rows, cols, *out);
}

static encore_status take_f(loader *ld, int64_t rows, int64_t cols, float **out, const char *fmt, int layer) {
    char name[512];
    snprintf(name, sizeof name, fmt, ld->prefix, layer);
    return take(ld, name, rows, cols, out);
}

/* Floats of arena a packed (N, K) matrix takes (two bf16 or four int8
 * values to a float, and int8's scales after its panels). */
static size_t packed_body_floats(size_t N, size_t K, encore_weights weights) {
    const size_t n = encore_size_mul((N + ENCORE_PANEL - 1) / ENCORE_PANEL * ENCORE_PANEL, K);
    if (n == SIZE_MAX) return SIZE_MAX;
    switch (weights) {
    case ENCORE_WEIGHTS_BF16: return (n + 1) / 2;
    case ENCORE_WEIGHTS_INT8: return (n + 3) / 4 + (N + ENCORE_PANEL - 1) / ENCORE_PANEL * ENCORE_PANEL;
    case ENCORE_WEIGHTS_INT8_DYNAMIC: {
        /* The panels (K rounded up to 4), then scales and weight sums. */
        const size_t q = encore_packed_i8_dynamic_bytes(N, K), rows = (N + ENCORE_PANEL - 1) / ENCORE_PANEL * ENCORE_PANEL;
        const size_t sums = encore_size_mul(rows, (K + ENCORE_I8_GROUP - 1) / ENCORE_I8_GROUP);
        if (q == SIZE_MAX || sums == SIZE_MAX || q / 4 + rows > SIZE_MAX - sums) return SIZE_MAX;
        return q / 4 + rows + sums;
    }
    case ENCORE_WEIGHTS_FP32: break;
    }
    return n;
}

/* Room for an (N, K) matrix in the staging buffer: counted while planning,
 * checked when loading. */
static encore_status stage(loader *ld, int64_t N, int64_t K) {
    const size_t n = encore_size_mul((size_t)N, (size_t)K);
    if (ld->planning) {
        if (n == SIZE_MAX)
            return encore_fail(ENCORE_STATUS_BAD_MODEL, "%s: a %lld x %lld weight is too large", ld->st->path,
                               (long long)N, (long long)K);
        if (n > ld->staging_cap) ld->staging_cap = n;
        return ENCORE_STATUS_OK;
    }
    if (n > ld->staging_cap)
        return encore_fail(ENCORE_STATUS_BAD_MODEL, "%s: a %lld x %lld weight does not fit the staging planned for it",
                           ld->st->path, (long long)N, (long long)K);
    return ENCORE_STATUS_OK;
}

/* Pack ld->staging, holding an (N, K) matrix, into a fresh 64-byte aligned
 * block of the arena, in fp32, bf16 or int8. Only the packed copy stays. */
static encore_status pack_staging(loader *ld, int64_t N, int64_t K, encore_packed_matrix *out) {
    float *dst = NULL;
    encore_status s = carve(ld, packed_body_floats((size_t)N, (size_t)K, ld->weights), 1, &dst);
    if (s || ld->planning) return s;
    if (ld->weights == ENCORE_WEIGHTS_BF16) {
        encore_pack_matrix_bf16(ld->staging, (int)N, (int)K, (uint16_t *)dst, out);
    } else if (ld->weights == ENCORE_WEIGHTS_INT8_DYNAMIC) {
        const size_t q_floats = encore_packed_i8_dynamic_bytes((size_t)N, (size_t)K) / 4;  // the int8 panels
        const size_t rows = ((size_t)N + ENCORE_PANEL - 1) / ENCORE_PANEL * ENCORE_PANEL;
        /* Laid out for the kernel this CPU runs (gemm_i8_cpu.h). */
        if (encore_pack_matrix_i8_dynamic(ld->staging, (int)N, (int)K, encore_i8_pairs_preferred(), (int8_t *)dst,
                                          dst + q_floats, (int32_t *)(dst + q_floats + rows), out) != 0)
            return encore_fail(ENCORE_STATUS_BAD_MODEL, "%s: a %lld x %lld weight cannot be packed for int8-dynamic",
                               ld->st->path, (long long)N, (long long)K);
    } else if (ld->weights == ENCORE_WEIGHTS_INT8) {
        const size_t q_floats = (encore_packed_floats((int)N, (int)K) + 3) / 4;  // the int8 panels
        encore_pack_matrix_i8(ld->staging, (int)N, (int)K, (int8_t *)dst, dst + q_floats, out);
    } else {
        encore_pack_matrix(ld->staging, (int)N, (int)K, dst, out);
    }
    return ENCORE_STATUS_OK;
}

/* Load linear weight `name` (N, K) and pack it. */
static encore_status take_packed(loader *ld, const char *name, int64_t N, int64_t K, encore_packed_matrix *out) {
    encore_status s = stage(ld, N, K);
    if (s == ENCORE_STATUS_OK) s = load_into(ld, name, N, K, ld->staging);
    if (s == ENCORE_STATUS_OK) s = pack_staging(ld, N, K, out);
    return s;
}

static encore_status take_packed_f(loader *ld, int64_t N, int64_t K, encore_packed_matrix *out, const char *fmt,
                                   int layer) {
    char name[512];
    snprintf(name, sizeof name, fmt, ld->prefix, layer);
    return take_packed(ld, name, N, K, out);
}

/* Logits the per-token head gives each token. */
static int token_outputs(const encore_config *c) {
    switch (c->token_head) {
    case ENCORE_TOKEN_HEAD_CLASSIFY: return c->n_labels;
    case ENCORE_TOKEN_HEAD_SPAN: return 2;
    default: return 0;
    }
}

/* The weights config.json implies, in elements, with checked arithmetic
 * (SIZE_MAX when that does not fit). */
static size_t implied_weights(const encore_config *c) {
    const size_t C = (size_t)c->hidden_size, F = (size_t)c->intermediate_size;
    /* qkv 3C x C + 3C, out C x C + C, two LayerNorms 4C, ffn F x C + F and C x F + C */
    size_t per_layer = encore_size_add(encore_size_mul(4 * C, C), encore_size_mul(2 * F, C));
    per_layer = encore_size_add(per_layer, 8 * C + F);
    const size_t E = (size_t)c->embedding_size;
    size_t n = encore_size_mul((size_t)c->vocab_size, E);
    if (c->has_positions) n = encore_size_add(n, encore_size_mul((size_t)c->max_position_embeddings, E));
    if (c->is_deberta && c->deberta_rel) n = encore_size_add(n, encore_size_mul(2 * (size_t)c->deberta_span, C));
    n = encore_size_add(n, encore_size_mul((size_t)c->type_vocab_size, E));
    n = encore_size_add(n, 2 * E);
    if (E != C) n = encore_size_add(n, encore_size_mul(C, E) + C); /* ELECTRA's embeddings_project */
    n = encore_size_add(n, encore_size_mul((size_t)c->rel_buckets, (size_t)c->n_heads));
    n = encore_size_add(n, encore_size_mul((size_t)c->n_layers, per_layer));
    if (c->has_head) {
        n = encore_size_add(n, encore_size_mul(C, C) + C);
        n = encore_size_add(n, encore_size_mul((size_t)c->n_labels, C + 1));
    }
    if (c->token_head != ENCORE_TOKEN_HEAD_NONE)
        n = encore_size_add(n, encore_size_mul((size_t)token_outputs(c), C + 1));
    if (c->has_mlm) /* transform C x C + C, LayerNorm 2C, decoder bias V (the decoder is tied) */
        n = encore_size_add(n, encore_size_add(encore_size_mul(C, C) + 3 * C, (size_t)c->vocab_size));
    return n;
}

static encore_status load_layer(loader *ld, const encore_config *c, int i, encore_layer_weights *w) {
    const int64_t C = c->hidden_size, F = c->intermediate_size;
    encore_status s;
    char name[512];
    if ((s = carve(ld, 3 * (size_t)C, 0, &w->qkv_b)) || (s = stage(ld, 3 * C, C))) return s;
    static const char *bert_qkv[3] = {"query", "key", "value"};
    static const char *distil_qkv[3] = {"q_lin", "k_lin", "v_lin"};
    static const char *mpnet_qkv[3] = {"q", "k", "v"};
    static const char *deberta_qkv[3] = {"query_proj", "key_proj", "value_proj"};
    for (int j = 0; j < 3; j++) {
        const char *fmt = c->is_distilbert ? "%stransformer.layer.%d.attention.%s.%s"
                          : c->is_mpnet    ? "%sencoder.layer.%d.attention.attn.%s.%s"
                                           : "%sencoder.layer.%d.attention.self.%s.%s";
        const char *part = c->is_distilbert ? distil_qkv[j]
                           : c->is_mpnet    ? mpnet_qkv[j]
                           : c->is_deberta  ? deberta_qkv[j]
                                            : bert_qkv[j];
        snprintf(name, sizeof name, fmt, ld->prefix, i, part, "weight");
        if ((s = load_into(ld, name, C, C, at(ld->staging, (size_t)(j * C * C))))) return s;
        snprintf(name, sizeof name, fmt, ld->prefix, i, part, "bias");
        if ((s = load_into(ld, name, C, 0, at(w->qkv_b, (size_t)(j * C))))) return s;
    }
    if ((s = pack_staging(ld, 3 * C, C, &w->qkv_w))) return s;
    if (c->is_distilbert) {
        if ((s = take_packed_f(ld, C, C, &w->attn_out_w, "%stransformer.layer.%d.attention.out_lin.weight", i)) ||
            (s = take_f(ld, C, 0, &w->attn_out_b, "%stransformer.layer.%d.attention.out_lin.bias", i)) ||
            (s = take_f(ld, C, 0, &w->ln1_g, "%stransformer.layer.%d.sa_layer_norm.weight", i)) ||
            (s = take_f(ld, C, 0, &w->ln1_b, "%stransformer.layer.%d.sa_layer_norm.bias", i)) ||
            (s = take_packed_f(ld, F, C, &w->ffn_in_w, "%stransformer.layer.%d.ffn.lin1.weight", i)) ||
            (s = take_f(ld, F, 0, &w->ffn_in_b, "%stransformer.layer.%d.ffn.lin1.bias", i)) ||
            (s = take_packed_f(ld, C, F, &w->ffn_out_w, "%stransformer.layer.%d.ffn.lin2.weight", i)) ||
            (s = take_f(ld, C, 0, &w->ffn_out_b, "%stransformer.layer.%d.ffn.lin2.bias", i)) ||
            (s = take_f(ld, C, 0, &w->ln2_g, "%stransformer.layer.%d.output_layer_norm.weight", i)) ||
            (s = take_f(ld, C, 0, &w->ln2_b, "%stransformer.layer.%d.output_layer_norm.bias", i)))
            return s;
    } else if (c->is_mpnet) {
        if ((s = take_packed_f(ld, C, C, &w->attn_out_w, "%sencoder.layer.%d.attention.attn.o.weight", i)) ||
            (s = take_f(ld, C, 0, &w->attn_out_b, "%sencoder.layer.%d.attention.attn.o.bias", i)) ||
            (s = take_f(ld, C, 0, &w->ln1_g, "%sencoder.layer.%d.attention.LayerNorm.weight", i)) ||
            (s = take_f(ld, C, 0, &w->ln1_b, "%sencoder.layer.%d.attention.LayerNorm.bias", i)))
            return s;
    } else {
        if ((s = take_packed_f(ld, C, C, &w->attn_out_w, "%sencoder.layer.%d.attention.output.dense.weight", i)) ||
            (s = take_f(ld, C, 0, &w->attn_out_b, "%sencoder.layer.%d.attention.output.dense.bias", i)) ||
            (s = take_f(ld, C, 0, &w->ln1_g, "%sencoder.layer.%d.attention.output.LayerNorm.weight", i)) ||
            (s = take_f(ld, C, 0, &w->ln1_b, "%sencoder.layer.%d.attention.output.LayerNorm.bias", i)))
            return s;
    }
    /* BERT's and MPNet's feed-forward block */
    if (!c->is_distilbert &&
        ((s = take_packed_f(ld, F, C, &w->ffn_in_w, "%sencoder.layer.%d.intermediate.dense.weight", i)) ||
         (s = take_f(ld, F, 0, &w->ffn_in_b, "%sencoder.layer.%d.intermediate.dense.bias", i)) ||
         (s = take_packed_f(ld, C, F, &w->ffn_out_w, "%sencoder.layer.%d.output.dense.weight", i)) ||
         (s = take_f(ld, C, 0, &w->ffn_out_b, "%sencoder.layer.%d.output.dense.bias", i)) ||
         (s = take_f(ld, C, 0, &w->ln2_g, "%sencoder.layer.%d.output.LayerNorm.weight", i)) ||
         (s = take_f(ld, C, 0, &w->ln2_b, "%sencoder.layer.%d.output.LayerNorm.bias", i))))
        return s;
    return ENCORE_STATUS_OK;
}

/* The fill-mask head, fp32 like the classification head (it is read once
 * per mask, and its error would reach the scores undamped). */
static encore_status load_mlm_head(encore_model *m, loader *ld) {
    const encore_config *c = &m->config;
    const int64_t C = c->hidden_size, V = c->vocab_size;
    const encore_weights encoder_weights = ld->weights;
    ld->weights = ENCORE_WEIGHTS_FP32;
    const int lm_head = c->is_roberta || c->is_mpnet; /* RoBERTa's and MPNet's lm_head */
    const char *dense = c->is_distilbert ? "vocab_transform"
                        : lm_head        ? "lm_head.dense"
                                         : "cls.predictions.transform.dense";
    const char *ln = c->is_distilbert ? "vocab_layer_norm"
                     : lm_head        ? "lm_head.layer_norm"
                                      : "cls.predictions.transform.LayerNorm";
    const char *decoder = c->is_distilbert ? "vocab_projector.weight"
                          : lm_head        ? "lm_head.decoder.weight"
                                           : "cls.predictions.decoder.weight";
    /* BERT keeps the decoder's bias as cls.predictions.bias (older files:
     * cls.predictions.decoder.bias, the same parameter); RoBERTa as
     * lm_head.bias (or lm_head.decoder.bias). */
    const char *bias = c->is_distilbert ? "vocab_projector.bias"
                       : lm_head        ? (find(ld, "lm_head.bias") || !find(ld, "lm_head.decoder.bias")
                                               ? "lm_head.bias"
                                               : "lm_head.decoder.bias")
                       : find(ld, "cls.predictions.bias") || !find(ld, "cls.predictions.decoder.bias")
                           ? "cls.predictions.bias"
                           : "cls.predictions.decoder.bias";
    char name[128];
    encore_status s;
    snprintf(name, sizeof name, "%s.weight", dense);
    if ((s = take_packed(ld, name, C, C, &m->mlm_w))) return s;
    snprintf(name, sizeof name, "%s.bias", dense);
    if ((s = take(ld, name, C, 0, &m->mlm_b))) return s;
    snprintf(name, sizeof name, "%s.weight", ln);
    if ((s = take(ld, name, C, 0, &m->mlm_ln_g))) return s;
    snprintf(name, sizeof name, "%s.bias", ln);
    if ((s = take(ld, name, C, 0, &m->mlm_ln_b))) return s;
    if ((s = take(ld, bias, V, 0, &m->mlm_bias))) return s;
    /* Tied (tie_word_embeddings, the default): the file holds no decoder. */
    m->mlm_decoder = m->word_emb;
    if (find(ld, decoder) && (s = take(ld, decoder, V, C, &m->mlm_decoder))) return s;
    ld->weights = encoder_weights;
    return ENCORE_STATUS_OK;
}

/* One pass of the loader over every tensor (see loader). The pointers the
 * plan pass sets are NULL, and go into a throwaway model. */
static encore_status load_tensors(encore_model *m, loader *ld) {
    const encore_config *c = &m->config;
    const int64_t C = c->hidden_size, E = c->embedding_size;
    encore_status s;
    if ((s = take_f(ld, c->vocab_size, E, &m->word_emb, "%sembeddings.word_embeddings.weight", 0)) ||
        (c->has_positions &&
         (s = take_f(ld, c->max_position_embeddings, E, &m->pos_emb, "%sembeddings.position_embeddings.weight", 0))) ||
        (s = take_f(ld, E, 0, &m->emb_ln_g, "%sembeddings.LayerNorm.weight", 0)) ||
        (s = take_f(ld, E, 0, &m->emb_ln_b, "%sembeddings.LayerNorm.bias", 0)))
        return s;
    /* DeBERTa: the relative embeddings and their LayerNorm */
    if (c->is_deberta && c->deberta_rel &&
        ((s = take_f(ld, 2 * (int64_t)c->deberta_span, C, &m->rel_emb, "%sencoder.rel_embeddings.weight", 0)) ||
         (c->deberta_rel_ln && ((s = take_f(ld, C, 0, &m->rel_ln_g, "%sencoder.LayerNorm.weight", 0)) ||
                                (s = take_f(ld, C, 0, &m->rel_ln_b, "%sencoder.LayerNorm.bias", 0))))))
        return s;
    if (!c->is_distilbert && !c->is_mpnet && (!c->is_deberta || c->type_vocab_size > 0) &&
        (s = take_f(ld, c->type_vocab_size, E, &m->type_emb, "%sembeddings.token_type_embeddings.weight", 0)))
        return s;
    /* ELECTRA: embeddings_project, from E to C, where they differ */
    m->has_emb_proj = E != C;
    if (E != C && ((s = take_packed_f(ld, C, E, &m->emb_proj_w, "%sembeddings_project.weight", 0)) ||
                   (s = take_f(ld, C, 0, &m->emb_proj_b, "%sembeddings_project.bias", 0))))
        return s;
    /* MPNet: the relative position bias of every layer, (buckets, heads) */
    if (c->is_mpnet && (s = take_f(ld, c->rel_buckets, c->n_heads, &m->rel_weight,
                                   "%sencoder.relative_attention_bias.weight", 0)))
        return s;
    for (int i = 0; i < c->n_layers; i++) {
        encore_layer_weights planned;
        if ((s = load_layer(ld, c, i, ld->planning ? &planned : &m->layers[i]))) return s;
    }
    if (c->has_head) {
        /* The head stays fp32 whatever the encoder's weights: it is read
         * once per text, not once per token, so fewer bytes buy no speed,
         * and its error would reach the scores undamped. */
        const encore_weights encoder_weights = ld->weights;
        ld->weights = ENCORE_WEIGHTS_FP32;
        /* The dense layer on the first token, then the classifier:
         * BERT's pooler, DistilBERT's pre_classifier, RoBERTa's
         * classification head (dense, tanh, out_proj). */
        const int roberta_head = c->is_roberta || c->is_mpnet || c->is_electra; /* MPNet's and ELECTRA's */
        const char *pre = c->is_distilbert ? "pre_classifier"
                          : roberta_head   ? "classifier.dense"
                          : c->is_deberta  ? "pooler.dense"
                                           : "bert.pooler.dense";
        const char *out = roberta_head ? "classifier.out_proj" : "classifier";
        char name[128];
        snprintf(name, sizeof name, "%s.weight", pre);
        if ((s = take_packed(ld, name, C, C, &m->pre_w))) return s;
        snprintf(name, sizeof name, "%s.bias", pre);
        if ((s = take(ld, name, C, 0, &m->pre_b))) return s;
        snprintf(name, sizeof name, "%s.weight", out);
        if ((s = take_packed(ld, name, c->n_labels, C, &m->cls_w))) return s;
        snprintf(name, sizeof name, "%s.bias", out);
        if ((s = take(ld, name, c->n_labels, 0, &m->cls_b))) return s;
        ld->weights = encoder_weights;
    }
    if (c->token_head != ENCORE_TOKEN_HEAD_NONE) {
        /* fp32 whatever the encoder's weights, as the sequence head. */
        const char *head = c->token_head == ENCORE_TOKEN_HEAD_SPAN ? "qa_outputs" : "classifier";
        char name[64];
        snprintf(name, sizeof name, "%s.weight", head);
        if ((s = take(ld, name, token_outputs(c), C, &m->tok_w))) return s;
        snprintf(name, sizeof name, "%s.bias", head);
        if ((s = take(ld, name, token_outputs(c), 0, &m->tok_b))) return s;
    }
    if (c->has_mlm && (s = load_mlm_head(m, ld))) return s;
    return ENCORE_STATUS_OK;
}

static encore_status load_weights(encore_model *m, const encore_safetensors *st, encore_adapter *adapter,
                                  encore_weights weights) {
    const encore_config *c = &m->config;
    loader ld = {st, "", 1, NULL, 0, 0, weights, NULL, 0, adapter};
    const char *base = c->is_distilbert ? "distilbert."
                       : c->is_roberta  ? "roberta."
                       : c->is_mpnet    ? "mpnet."
                       : c->is_electra  ? "electra."
                       : c->is_deberta  ? "deberta."
                                        : "bert.";
    char probe[128];
    snprintf(probe, sizeof probe, "%sembeddings.word_embeddings.weight", base);
    if (encore_safetensors_find(st, probe)) ld.prefix = base;

    /* The config against the files: each weight takes 2 bytes at least
     * (F16, BF16), and no two tensors of a file share a byte (safetensors.c);
     * an adapter may bring tensors of its own (a classifier's head). */
    const size_t implied = implied_weights(c);
    const uint64_t data = st->data_size + (adapter ? encore_adapter_data_bytes(adapter) : 0);
    if (implied == SIZE_MAX || implied > data / 2)
        return encore_fail(ENCORE_STATUS_BAD_MODEL,
                           "%s: config.json implies %s%zu weights (at least twice as many bytes), but %s holds "
                           "%llu bytes of tensor data",
                           st->path, implied == SIZE_MAX ? "more than " : "", implied == SIZE_MAX ? SIZE_MAX : implied,
                           adapter ? "it and the adapter" : st->path, (unsigned long long)data);

    /* Plan: every tensor checked, the arena and the staging counted. */
    encore_model planned = *m;
    encore_status s = load_tensors(&planned, &ld);
    if (s != ENCORE_STATUS_OK) return s;
    const size_t n = ld.used, bytes = encore_size_mul(n, sizeof(float));
    const size_t staging_bytes = encore_size_mul(ld.staging_cap, sizeof(float));
    if (bytes == SIZE_MAX || staging_bytes == SIZE_MAX)
        return encore_fail(ENCORE_STATUS_BAD_MODEL, "%s: the weights are too large", st->path);

    /* 64-byte aligned, so that the packed panels start on cache lines. */
    if (posix_memalign((void **)&m->arena, 64, bytes > 0 ? bytes : 64) != 0) {
        m->arena = NULL;
        return encore_fail(ENCORE_STATUS_OUT_OF_MEMORY, "out of memory for %zu weights", n);
    }
    m->layers = calloc((size_t)c->n_layers, sizeof *m->layers);
    ld.staging = malloc(staging_bytes > 0 ? staging_bytes : sizeof(float));
    if (!m->layers || !ld.staging) {
        free(ld.staging);
        return encore_fail(ENCORE_STATUS_OUT_OF_MEMORY, "out of memory for %zu weights", ld.staging_cap);
    }
    ld.planning = 0;
    ld.arena = m->arena;
    ld.cap = n;
    ld.used = 0;
    s = load_tensors(m, &ld);
    free(ld.staging);
    /* Every weight was read with pread (never mapped: a file truncated under
     * a mapping kills the process with SIGBUS); a file that shrank gave a
     * short read above, and one rewritten while it was read is caught here. */
    if (s == ENCORE_STATUS_OK) s = encore_safetensors_check_unchanged(st);
    if (s == ENCORE_STATUS_OK && adapter) s = encore_adapter_check_used(adapter);
    return s;
}

/* sentence-transformers' 1_Pooling/config.json (mean pooling without it) and
 * sentence_bert_config.json's max_seq_length. */
static void read_pooling(encore_model *m, const char *dir) {
    char path[4096];
    m->embed_max_length = m->max_length;
    snprintf(path, sizeof path, "%s/sentence_bert_config.json", dir);
    char *st_config = encore_read_file(path, NULL);
    if (st_config) {
        cJSON *root = cJSON_Parse(st_config);
        const cJSON *v = cJSON_GetObjectItemCaseSensitive(root, "max_seq_length");
        if (cJSON_IsNumber(v) && v->valuedouble >= 3 && v->valuedouble < m->max_length)
            m->embed_max_length = (int)v->valuedouble;
        cJSON_Delete(root);
        free(st_config);
    }
    snprintf(path, sizeof path, "%s/1_Pooling/config.json", dir);
    m->pooling = ENCORE_POOLING_MEAN;
    char *text = encore_read_file(path, NULL);
    if (!text) return;
    cJSON *root = cJSON_Parse(text);
    free(text);
    /* sentence-transformers 6 writes "pooling_mode": "cls" (a list when
     * several modes are concatenated); earlier versions one boolean per
     * mode, "pooling_mode_cls_token" and the like. */
    const cJSON *mode = cJSON_GetObjectItemCaseSensitive(root, "pooling_mode");
    if (cJSON_IsArray(mode) && cJSON_GetArraySize(mode) == 1) mode = cJSON_GetArrayItem(mode, 0);
    const char *name = cJSON_IsString(mode) ? mode->valuestring : NULL;
    if (name ? strcmp(name, "cls") == 0 : cJSON_IsTrue(cJSON_GetObjectItemCaseSensitive(root, "pooling_mode_cls_token")))
        m->pooling = ENCORE_POOLING_CLS;
    else if (name ? strcmp(name, "mean") != 0
                  : !cJSON_IsTrue(cJSON_GetObjectItemCaseSensitive(root, "pooling_mode_mean_tokens")))
        encore_log(ENCORE_LOG_LEVEL_WARN, "%s asks for a pooling encore does not have; using mean pooling", path);
    cJSON_Delete(root);
}

/* transformers' MPNetEncoder.relative_position_bucket for rel = j - i (key
 * minus query), in float as torch computes it: 16 buckets each way (the
 * upper half for keys after the query), exact below 8, then logarithmic
 * up to ENCORE_MPNET_MAX_DISTANCE, the last bucket beyond. */
int encore_mpnet_bucket(int rel) {
    const int half = ENCORE_MPNET_BUCKETS / 2, max_exact = half / 2;
    int bucket = rel > 0 ? half : 0;
    const int n = rel < 0 ? -rel : rel;
    if (n < max_exact) return bucket + n;
    const float scaled = logf((float)n / (float)max_exact) /
                         (float)log((double)ENCORE_MPNET_MAX_DISTANCE / max_exact) * (float)(half - max_exact);
    int large = max_exact + (int)scaled;
    if (large > half - 1) large = half - 1;
    return bucket + large;
}

/* The MPNet bias of each head at each distance a text can span:
 * (H, 2 span - 1) for span = max_position_embeddings tokens (cpu_ops.h);
 * the forward passes refuse a longer text (padding tokens share a
 * position, so the positions alone do not bound it). */
static encore_status build_rel_bias(encore_model *m) {
    const int H = m->config.n_heads, span = m->config.max_position_embeddings;
    const size_t width = 2 * (size_t)span - 1;
    m->rel_bias = malloc(encore_size_mul((size_t)H, width) * sizeof(float));
    if (!m->rel_bias) return encore_fail(ENCORE_STATUS_OUT_OF_MEMORY, "out of memory");
    m->rel_span = span;
    for (size_t d = 0; d < width; d++) {
        const int bucket = encore_mpnet_bucket((int)d - (span - 1));
        for (int h = 0; h < H; h++) m->rel_bias[(size_t)h * width + d] = m->rel_weight[(size_t)bucket * H + h];
    }
    return ENCORE_STATUS_OK;
}

/* DeBERTa: the relative embeddings through their LayerNorm, then every
 * layer's key and query projections of them (with the biases, as
 * share_att_key has DisentangledSelfAttention do), and the bucketed row of
 * every distance a text of max_position_embeddings tokens spans. */
static encore_status build_deberta(encore_model *m) {
    const encore_config *c = &m->config;
    if (!c->deberta_rel) return ENCORE_STATUS_OK;
    const int C = c->hidden_size, S = c->deberta_span, P = c->max_position_embeddings;
    const size_t rows = 2 * (size_t)S;
    float *rel = malloc(encore_size_mul(encore_size_mul(rows, (size_t)C), sizeof(float)));
    float *qkv = malloc(encore_size_mul(encore_size_mul(rows, 3 * (size_t)C), sizeof(float)));
    m->deberta_pos = malloc(encore_size_mul(
        encore_size_mul(encore_size_mul((size_t)c->n_layers, 2 * rows), (size_t)C), sizeof(float)));
    m->deberta_index = malloc((2 * (size_t)P - 1) * sizeof(int32_t));
    if (!rel || !qkv || !m->deberta_pos || !m->deberta_index) {
        free(rel);
        free(qkv);
        return encore_fail(ENCORE_STATUS_OUT_OF_MEMORY, "out of memory");
    }
    memcpy(rel, m->rel_emb, rows * (size_t)C * sizeof(float));
    if (m->rel_ln_g) encore_layernorm_rows_cpu(rel, m->rel_ln_g, m->rel_ln_b, c->layer_norm_eps, (int)rows, C);
    for (int l = 0; l < c->n_layers; l++) {
        encore_linear_packed_cpu(rel, &m->layers[l].qkv_w, m->layers[l].qkv_b, (int)rows, qkv);  // (2S, 3C)
        /* per head, transposed: (H, D, 2S), pos_k then pos_q */
        float *pos_k = m->deberta_pos + (size_t)l * 2 * rows * C, *pos_q = pos_k + rows * C;
        for (size_t r = 0; r < rows; r++)
            for (int e = 0; e < C; e++) {
                pos_q[(size_t)e * rows + r] = qkv[r * 3 * C + (size_t)e];
                pos_k[(size_t)e * rows + r] = qkv[r * 3 * C + C + (size_t)e];
            }
    }
    free(rel);
    free(qkv);
    m->rel_span = P;
    for (int d = -(P - 1); d <= P - 1; d++) {
        int r = encore_deberta_bucket(d, c->deberta_buckets, c->deberta_max_rel) + S;
        m->deberta_index[d + P - 1] = r < 0 ? 0 : r > 2 * S - 1 ? 2 * S - 1 : r;
    }
    return ENCORE_STATUS_OK;
}

encore_model_params encore_model_default_params(void) {
    encore_model_params p = {0};
    return p;
}

encore_status encore_model_load(const char *dir, encore_model_params params, encore_model **out) {
    if (!dir || !out) return encore_fail(ENCORE_STATUS_INVALID_ARGUMENT, "encore_model_load: NULL argument");
    *out = NULL;
    if (params.weights != ENCORE_WEIGHTS_FP32 && params.weights != ENCORE_WEIGHTS_BF16 &&
        params.weights != ENCORE_WEIGHTS_INT8 && params.weights != ENCORE_WEIGHTS_INT8_DYNAMIC)
        return encore_fail(ENCORE_STATUS_INVALID_ARGUMENT, "encore_model_load: unknown weights type %d",
                           (int)params.weights);
    if (params.splade != 0 && params.splade != 1)
        return encore_fail(ENCORE_STATUS_INVALID_ARGUMENT, "encore_model_load: splade is %d; it must be 0 or 1",
                           params.splade);
    struct stat sb;
    if (stat(dir, &sb) != 0 || !S_ISDIR(sb.st_mode))
        return encore_fail(ENCORE_STATUS_IO_ERROR, "model directory %s does not exist", dir);
    /* A PEFT adapter directory: the base model's config, tokenizer and
     * weights, with the adapter merged into the weights (core/adapter.h). */
    encore_adapter *adapter = NULL;
    const char *adapter_dir = NULL;
    if (encore_adapter_present(dir)) {
        encore_status as = encore_adapter_open(dir, &adapter);
        if (as != ENCORE_STATUS_OK) return as;
        adapter_dir = dir;
        dir = encore_adapter_base_dir(adapter);
    }
    encore_model *m = calloc(1, sizeof *m);
    if (!m) {
        encore_adapter_free(adapter);
        return encore_fail(ENCORE_STATUS_OUT_OF_MEMORY, "out of memory");
    }
    encore_status s = encore_config_load(dir, &m->config);
    if (s == ENCORE_STATUS_OK && adapter && m->config.is_deberta)
        s = encore_fail(ENCORE_STATUS_UNSUPPORTED, "%s: PEFT adapters on a DeBERTa model are not supported yet",
                        adapter_dir);
    if (s == ENCORE_STATUS_OK && adapter && (m->config.is_roberta || m->config.is_mpnet || m->config.is_electra))
        s = encore_fail(ENCORE_STATUS_UNSUPPORTED, "%s: PEFT adapters on a%s model are not supported yet",
                        adapter_dir, m->config.is_mpnet ? "n MPNet" : m->config.is_electra ? "n ELECTRA" : " RoBERTa");
    if (s == ENCORE_STATUS_OK && adapter && encore_adapter_is_classifier(adapter))
        s = encore_config_as_classifier(dir, &m->config);
    if (s == ENCORE_STATUS_OK) s = encore_tokenizer_load(dir, &m->tokenizer);
    char path[4096];
    snprintf(path, sizeof path, "%s/model.safetensors", dir);
    if (s == ENCORE_STATUS_OK && !file_exists(path)) {
        char alt[4096];
        snprintf(alt, sizeof alt, "%s/model.safetensors.index.json", dir);
        if (file_exists(alt))
            s = encore_fail(ENCORE_STATUS_UNSUPPORTED, "%s: sharded checkpoints are not supported yet", alt);
        else
            s = encore_fail(ENCORE_STATUS_IO_ERROR,
                            "%s is missing (encore reads safetensors weights only; a pytorch_model.bin can be "
                            "converted with transformers' save_pretrained(safe_serialization=True))",
                            path);
    }
    encore_safetensors *st = NULL;
    if (s == ENCORE_STATUS_OK) s = encore_safetensors_open(path, &st);
    if (s == ENCORE_STATUS_OK) s = load_weights(m, st, adapter, params.weights);
    encore_safetensors_close(st);
    if (s == ENCORE_STATUS_OK) {
        const encore_config *c = &m->config;
        int vocab = encore_tokenizer_vocab_size(m->tokenizer);
        if (vocab > c->vocab_size)
            s = encore_fail(ENCORE_STATUS_BAD_MODEL, "%s: the tokenizer has %d tokens but the model's vocab_size is %d",
                            dir, vocab, c->vocab_size);
        /* DistilBERT and RoBERTa take no token_type_ids (RoBERTa adds its
         * one token type to every token). */
        encore_tokenizer_set_add_type_ids(m->tokenizer, !c->is_distilbert && !c->is_roberta && !c->is_mpnet &&
                                                            (!c->is_deberta || c->type_vocab_size > 0));
        int tok_max = encore_tokenizer_get_settings(m->tokenizer)->model_max_length;
        m->max_length = c->max_position_embeddings - c->position_base;
        if (tok_max > 0 && tok_max < m->max_length) m->max_length = tok_max;
        if (c->is_mpnet) s = build_rel_bias(m);
        if (c->is_deberta && s == ENCORE_STATUS_OK) s = build_deberta(m);
        read_pooling(m, dir);
        if (s == ENCORE_STATUS_OK) s = encore_model_load_splade(m, dir, params.splade, params.weights);
    }
    if (s != ENCORE_STATUS_OK) {
        encore_adapter_free(adapter);
        encore_model_free(m);
        return s;
    }
    encore_log(ENCORE_LOG_LEVEL_INFO, "loaded %s from %s: %d layers, hidden %d, %d heads", m->config.architecture_name,
               dir, m->config.n_layers, m->config.hidden_size, m->config.n_heads);
    if (adapter) {
        char what[160];
        encore_adapter_describe(adapter, what, sizeof what);
        encore_log(ENCORE_LOG_LEVEL_INFO, "merged the adapter %s into it: %s", adapter_dir, what);
        encore_adapter_free(adapter);
    }
    *out = m;
    return ENCORE_STATUS_OK;
}

void encore_model_free(encore_model *m) {
    if (!m) return;
#ifdef ENCORE_HAVE_CUDA
    encore_cuda_weights_release(m);
#endif
    encore_config_free(&m->config);
    encore_tokenizer_free(m->tokenizer);
    free(m->layers);
    free(m->arena);
    free(m->splade_arena);
    free(m->rel_bias);
    free(m->deberta_pos);
    free(m->deberta_index);
    free(m);
}

encore_architecture encore_model_architecture(const encore_model *m) { return m->config.architecture; }
const char *encore_model_architecture_name(const encore_model *m) { return m->config.architecture_name; }
int encore_model_hidden_size(const encore_model *m) { return m->config.hidden_size; }
int encore_model_n_layers(const encore_model *m) { return m->config.n_layers; }
int encore_model_n_heads(const encore_model *m) { return m->config.n_heads; }
int encore_model_intermediate_size(const encore_model *m) { return m->config.intermediate_size; }
int encore_model_vocab_size(const encore_model *m) { return m->config.vocab_size; }
int encore_model_max_length(const encore_model *m) { return m->max_length; }
int encore_model_n_labels(const encore_model *m) { return m->config.has_head ? m->config.n_labels : 0; }
encore_score_function encore_model_score_function(const encore_model *m) { return m->config.score_function; }
encore_pooling encore_model_pooling(const encore_model *m) { return m->pooling; }

const char *encore_model_label(const encore_model *m, int i) {
    if (!m->config.has_head || i < 0 || i >= m->config.n_labels) return NULL;
    return m->config.labels[i];
}

const char *encore_model_token(const encore_model *m, int32_t id) {
    return encore_tokenizer_id_to_token(m->tokenizer, id);
}

encore_token_head encore_model_token_head(const encore_model *m) { return m->config.token_head; }
int encore_model_n_token_outputs(const encore_model *m) { return token_outputs(&m->config); }
const char *encore_model_token_label(const encore_model *m, int i) {
    if (m->config.token_head != ENCORE_TOKEN_HEAD_CLASSIFY || i < 0 || i >= m->config.n_labels) return NULL;
    return m->config.labels[i];
}

encore_task encore_model_task(const encore_model *m) {
    return m->config.has_head ? ENCORE_TASK_CLASSIFY : ENCORE_TASK_EMBED;
}

int encore_model_task_max_length(const encore_model *m, encore_task task) {
    switch (task) {
    case ENCORE_TASK_CLASSIFY: return m->max_length;
    case ENCORE_TASK_EMBED: return m->embed_max_length;
    }
    return 0;
}

encore_tokenize_params encore_tokenize_default_params(void) {
    encore_tokenize_params p = {ENCORE_TASK_CLASSIFY, 0, ENCORE_TRUNCATION_SIDE_RIGHT};
    return p;
}

static encore_status too_long(const encore_model *m, encore_task task, int n, int limit) {
    if (task == ENCORE_TASK_EMBED && limit < m->max_length)
        return encore_fail(ENCORE_STATUS_TOO_LONG,
                           "the input is %d tokens long but embeddings take at most %d (max_seq_length in "
                           "sentence_bert_config.json; turn truncation on to cut it)",
                           n, limit);
    return encore_fail(ENCORE_STATUS_TOO_LONG,
                       "the input is %d tokens long but the model takes at most %d (turn truncation on to cut it)",
                       n, limit);
}

encore_status encore_model_tokenize_with(const encore_model *m, encore_input input, encore_tokenize_params params,
                                         encore_encoding **out) {
    if (!m || !out || !input.text)
        return encore_fail(ENCORE_STATUS_INVALID_ARGUMENT, "encore_model_tokenize: NULL argument");
    *out = NULL;
    const encore_task task = params.task;
    const int truncate = params.truncate;
    const int limit = encore_model_task_max_length(m, task);
    if (limit <= 0) return encore_fail(ENCORE_STATUS_INVALID_ARGUMENT, "unknown task %d", (int)task);
    if (params.truncation_side != ENCORE_TRUNCATION_SIDE_RIGHT && params.truncation_side != ENCORE_TRUNCATION_SIDE_LEFT)
        return encore_fail(ENCORE_STATUS_INVALID_ARGUMENT, "unknown truncation side %d", (int)params.truncation_side);
    encore_encoding *enc = NULL;
    int32_t total = 0;
    /* Without truncation an input over the limit is refused: the tokenizer
     * counts its tokens without holding them all. */
    encore_status s = encore_tokenizer_encode_bounded(m->tokenizer, input.text, input.text_pair, truncate ? limit : 0,
                                                      params.truncation_side == ENCORE_TRUNCATION_SIDE_LEFT,
                                                      truncate ? 0 : limit, &enc, &total);
    if (s != ENCORE_STATUS_OK && s != ENCORE_STATUS_TOO_LONG) return s;
    if (s == ENCORE_STATUS_TOO_LONG || enc->n_tokens > limit) {
        int n = enc ? enc->n_tokens : total;
        encore_encoding_free(enc);
        return too_long(m, task, n, limit);
    }
    *out = enc;
    return ENCORE_STATUS_OK;
}

encore_status encore_model_encoding_from_ids(const encore_model *m, const int32_t *ids, int n_ids,
                                             encore_tokenize_params params, encore_encoding **out) {
    if (!m || !out || !ids || n_ids < 1)
        return encore_fail(ENCORE_STATUS_INVALID_ARGUMENT, "encore_model_encoding_from_ids: %s",
                           n_ids < 1 ? "no ids" : "NULL argument");
    *out = NULL;
    const int limit = encore_model_task_max_length(m, params.task);
    if (limit <= 0) return encore_fail(ENCORE_STATUS_INVALID_ARGUMENT, "unknown task %d", (int)params.task);
    const int32_t vocab = encore_tokenizer_vocab_size(m->tokenizer);
    for (int i = 0; i < n_ids; i++)
        if (ids[i] < 0 || ids[i] >= vocab)
            return encore_fail(ENCORE_STATUS_BAD_INPUT, "token id %d at position %d is not in the vocabulary (0 to %d)",
                               (int)ids[i], i, (int)vocab - 1);
    if (n_ids > limit && !params.truncate) return too_long(m, params.task, n_ids, limit);
    const int n = n_ids > limit ? limit : n_ids;
    const int first = params.truncation_side == ENCORE_TRUNCATION_SIDE_LEFT ? n_ids - n : 0;
    /* One block, as the tokenizer lays out its encodings. */
    encore_encoding *enc = malloc(sizeof *enc + 6 * (size_t)n * sizeof(int32_t));
    if (!enc) return encore_fail(ENCORE_STATUS_OUT_OF_MEMORY, "out of memory for %d token ids", n);
    enc->n_tokens = n;
    enc->n_untruncated = n_ids;
    enc->ids = (int32_t *)(enc + 1);
    enc->type_ids = enc->ids + n;
    enc->sequence_ids = enc->type_ids + n;
    enc->offsets = enc->sequence_ids + n;
    enc->word_ids = enc->offsets + 2 * n;
    for (int i = 0; i < n; i++) {
        enc->ids[i] = ids[first + i];
        enc->type_ids[i] = 0;
        enc->sequence_ids[i] = 0;
        enc->offsets[2 * i] = enc->offsets[2 * i + 1] = 0;
        enc->word_ids[i] = -1;
    }
    *out = enc;
    return ENCORE_STATUS_OK;
}

encore_status encore_model_tokenize_for_task(const encore_model *m, encore_input input, encore_task task,
                                             int truncate, encore_encoding **out) {
    encore_tokenize_params p = encore_tokenize_default_params();
    p.task = task;
    p.truncate = truncate;
    return encore_model_tokenize_with(m, input, p, out);
}

int encore_model_token_is_special(const encore_model *m, int32_t id) {
    return m && encore_tokenizer_is_special(m->tokenizer, id);
}

encore_status encore_model_decode(const encore_model *m, const int32_t *ids, int n_ids, int skip_special_tokens,
                                  char *buf, size_t cap, size_t *len) {
    if (!m || !len || (n_ids > 0 && !ids) || n_ids < 0 || (cap > 0 && !buf))
        return encore_fail(ENCORE_STATUS_INVALID_ARGUMENT, "encore_model_decode: NULL argument or negative count");
    *len = encore_tokenizer_decode(m->tokenizer, ids, n_ids, skip_special_tokens, buf, cap);
    return ENCORE_STATUS_OK;
}

encore_status encore_model_tokenize(const encore_model *m, encore_input input, int truncate, encore_encoding **out) {
    return encore_model_tokenize_for_task(m, input, ENCORE_TASK_CLASSIFY, truncate, out);
}
