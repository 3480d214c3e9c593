/* sparse.c: SPLADE sparse embeddings, as sentence-transformers'
 * SparseEncoder (MLMTransformer + SpladePooling) and TEI's --pooling splade
 * compute them. On a GPU session the encoder and the masked-language-model
 * head both run there (encore_cuda_session_splade), the pooling too. On the
 * CPU the head runs at every token, the (V, C)
 * decoder as a packed GEMM over a few rows at a time, each row's logits
 * folded into its input's weights as they come: log(1 + relu(x)) (log1p
 * once more for "log1p_relu"), then the max (or sum) over the input's
 * tokens; for the max, the largest logit is kept and activated once. */
#include "core/common.h"
#include "core/model.h"
#include "core/session.h"
#include "cpu/forward_cpu.h"
#include "cpu/gemm_cpu.h"
#ifdef ENCORE_HAVE_CUDA
#include "cuda/forward_cuda.h"
#endif

#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cJSON.h>

/* Decoder rows computed per GEMM: (ROWS, V) logits at a time. */
#define SPLADE_ROWS 32

/* The last dotted part of a module type: "...splade_pooling.SpladePooling"
 * -> "SpladePooling". */
static const char *type_name(const char *type) {
    const char *dot = strrchr(type, '.');
    return dot ? dot + 1 : type;
}

/* A module path from modules.json, refused unless it names a folder inside
 * the model directory. */
static int safe_module_path(const char *p) {
    if (p[0] == '/' || strlen(p) > 256) return 0;
    for (const char *s = p; *s;) {
        const char *e = strchr(s, '/');
        size_t n = e ? (size_t)(e - s) : strlen(s);
        if ((n == 1 && s[0] == '.') || (n == 2 && s[0] == '.' && s[1] == '.')) return 0;
        s += n;
        if (*s == '/') s++;
    }
    return 1;
}

/* SpladePooling's config.json: pooling_strategy and activation_function. */
static encore_status read_splade_config(encore_model *m, const char *dir, const char *module) {
    char path[4096];
    snprintf(path, sizeof path, "%s/%s/config.json", dir, module);
    char *text = encore_read_file(path, NULL);
    if (!text) return encore_fail(ENCORE_STATUS_BAD_MODEL, "%s is missing or unreadable (SpladePooling's settings)", path);
    cJSON *root = cJSON_Parse(text);
    free(text);
    if (!cJSON_IsObject(root)) {
        cJSON_Delete(root);
        return encore_fail(ENCORE_STATUS_BAD_MODEL, "%s is not a JSON object", path);
    }
    encore_status s = ENCORE_STATUS_OK;
    const cJSON *strategy = cJSON_GetObjectItemCaseSensitive(root, "pooling_strategy");
    const cJSON *act = cJSON_GetObjectItemCaseSensitive(root, "activation_function");
    if (strategy && !cJSON_IsNull(strategy)) {
        if (cJSON_IsString(strategy) && strcmp(strategy->valuestring, "max") == 0) m->splade_sum = 0;
        else if (cJSON_IsString(strategy) && strcmp(strategy->valuestring, "sum") == 0) m->splade_sum = 1;
        else s = encore_fail(ENCORE_STATUS_UNSUPPORTED, "%s: pooling_strategy must be \"max\" or \"sum\"", path);
    }
    if (s == ENCORE_STATUS_OK && act && !cJSON_IsNull(act)) {
        if (cJSON_IsString(act) && strcmp(act->valuestring, "relu") == 0) m->splade_log1p_twice = 0;
        else if (cJSON_IsString(act) && strcmp(act->valuestring, "log1p_relu") == 0) m->splade_log1p_twice = 1;
        else
            s = encore_fail(ENCORE_STATUS_UNSUPPORTED, "%s: activation_function must be \"relu\" or \"log1p_relu\"",
                            path);
    }
    cJSON_Delete(root);
    return s;
}

/* modules.json: 1 (and the settings) when it holds a SpladePooling, 0 when
 * there is none or no modules.json, or a failure. */
static encore_status read_modules(encore_model *m, const char *dir, int *found) {
    char path[4096];
    snprintf(path, sizeof path, "%s/modules.json", dir);
    *found = 0;
    char *text = encore_read_file(path, NULL);
    if (!text) return ENCORE_STATUS_OK;
    cJSON *root = cJSON_Parse(text);
    free(text);
    if (!cJSON_IsArray(root)) {
        cJSON_Delete(root);
        return encore_fail(ENCORE_STATUS_BAD_MODEL, "%s is not a JSON list of modules", path);
    }
    /* A SparseEncoder is a Transformer for fill-mask (MLMTransformer before
     * sentence-transformers 6) then SpladePooling; its other
     * modules (SparseStaticEmbedding, Router, SparseAutoEncoder) change the
     * weights, so a SPLADE model with one of them is refused by name. */
    const char *splade_path = NULL, *other = NULL;
    const cJSON *mod;
    cJSON_ArrayForEach(mod, root) {
        const cJSON *type = cJSON_GetObjectItemCaseSensitive(mod, "type");
        const cJSON *mpath = cJSON_GetObjectItemCaseSensitive(mod, "path");
        if (!cJSON_IsString(type)) continue;
        const char *name = type_name(type->valuestring);
        if (strcmp(name, "SpladePooling") == 0) splade_path = cJSON_IsString(mpath) ? mpath->valuestring : "";
        else if (strcmp(name, "Transformer") != 0 && strcmp(name, "MLMTransformer") != 0 && !other) other = name;
    }
    encore_status s = ENCORE_STATUS_OK;
    if (splade_path && other)
        s = encore_fail(ENCORE_STATUS_UNSUPPORTED, "%s: a SPLADE model with a %s module is not supported", path, other);
    else if (splade_path && !safe_module_path(splade_path))
        s = encore_fail(ENCORE_STATUS_BAD_MODEL, "%s: SpladePooling's path '%s' leaves the model directory", path,
                        splade_path);
    else if (splade_path) {
        *found = 1;
        s = read_splade_config(m, dir, splade_path);
    }
    cJSON_Delete(root);
    return s;
}

encore_status encore_model_load_splade(encore_model *m, const char *dir, int force, encore_weights weights) {
    const encore_config *c = &m->config;
    int found = 0;
    encore_status s = read_modules(m, dir, &found);
    if (s != ENCORE_STATUS_OK) return s;
    if (!found && !force) return ENCORE_STATUS_OK;
    if (!c->has_mlm)
        return encore_fail(ENCORE_STATUS_UNSUPPORTED,
                           "%s: SPLADE needs a masked-language-model head (BertForMaskedLM, DistilBertForMaskedLM, "
                           "RobertaForMaskedLM); this model is %s",
                           dir, c->architecture_name);
    /* The decoder streams V x C weights per call, which bounds a short
     * text's time: --weights bf16 halves them (the logits then move by
     * bf16's rounding, as the encoder's do). The int8 modes keep it fp32:
     * which entries come out above 0 hangs on the logits near 0. */
    const int V = c->vocab_size, C = c->hidden_size;
    const int bf16 = weights == ENCORE_WEIGHTS_BF16;
    const size_t bytes = encore_size_mul(encore_packed_floats(V, C), bf16 ? sizeof(uint16_t) : sizeof(float));
    if (bytes == SIZE_MAX || posix_memalign((void **)&m->splade_arena, 64, bytes) != 0) {
        m->splade_arena = NULL;
        return encore_fail(ENCORE_STATUS_OUT_OF_MEMORY, "out of memory for the SPLADE decoder (%d x %d)", V, C);
    }
    if (bf16) encore_pack_matrix_bf16(m->mlm_decoder, V, C, (uint16_t *)(void *)m->splade_arena, &m->splade_decoder);
    else encore_pack_matrix(m->mlm_decoder, V, C, m->splade_arena, &m->splade_decoder);
    m->splade = 1;
    encore_log(ENCORE_LOG_LEVEL_INFO, "SPLADE: %s pooling of %s over the vocabulary of %d",
               m->splade_sum ? "sum" : "max", m->splade_log1p_twice ? "log(1 + log(1 + relu))" : "log(1 + relu)", V);
    return ENCORE_STATUS_OK;
}

int encore_model_is_sparse(const encore_model *m) { return m && m->splade; }

/* log(1 + relu(x)), or log1p once more for "log1p_relu". */
static inline float activate(const encore_model *m, float x) {
    if (!(x > 0.0f)) return 0.0f;
    const float y = log1pf(x);
    return m->splade_log1p_twice ? log1pf(y) : y;
}

/* Fold rows of logits into their inputs' weights. owner[r]: the input of
 * row r. The activation never decreases, so max pooling keeps each entry's
 * largest logit (from 0: relu's floor) and activates it once per input
 * (finish); sum pooling activates every logit. */
static void fold(const encore_model *m, const float *logits, const int *owner, int rows, float *weights) {
    const int V = m->config.vocab_size;
    for (int r = 0; r < rows; r++) {
        const float *x = logits + (size_t)r * V;
        float *w = weights + (size_t)owner[r] * V;
        if (m->splade_sum) {
            for (int v = 0; v < V; v++)
                if (x[v] > 0.0f) w[v] += activate(m, x[v]); /* relu: 0 adds nothing */
        } else {
            for (int v = 0; v < V; v++) w[v] = x[v] > w[v] ? x[v] : w[v];
        }
    }
}

/* Max pooling's activation of the largest logits, inputs [first, last). */
static void finish(const encore_model *m, int first, int last, float *weights) {
    if (m->splade_sum) return;
    const size_t V = (size_t)m->config.vocab_size;
    for (float *w = weights + (size_t)first * V, *end = weights + (size_t)last * V; w < end; w++)
        if (*w > 0.0f) *w = activate(m, *w);
}

encore_status encore_session_embed_sparse_encoded(encore_session *s, const encore_encoding *const *encs, int n,
                                                  float *weights) {
    if (!s) return encore_fail(ENCORE_STATUS_INVALID_ARGUMENT, "NULL session");
    if (!encs || !weights || n < 0) {
        encore_fail(ENCORE_STATUS_INVALID_ARGUMENT, "NULL inputs or output, or a negative count");
        return encore_session_fail(s, ENCORE_STATUS_INVALID_ARGUMENT);
    }
    const encore_model *m = encore_session_model(s);
    if (!m->splade) {
        encore_fail(ENCORE_STATUS_UNSUPPORTED,
                    "%s is not a SPLADE model (no SpladePooling in modules.json; a *ForMaskedLM model can be "
                    "loaded as one with encore_model_params.splade)",
                    m->config.architecture_name);
        return encore_session_fail(s, ENCORE_STATUS_UNSUPPORTED);
    }
    const int C = m->config.hidden_size, V = m->config.vocab_size;
    const int limit = encore_model_task_max_length(m, ENCORE_TASK_EMBED);
    for (int i = 0; i < n; i++) {
        if (!encs[i] || encs[i]->n_tokens < 1 || encs[i]->n_tokens > limit) {
            encore_fail(encs[i] && encs[i]->n_tokens > limit ? ENCORE_STATUS_BAD_INPUT : ENCORE_STATUS_INVALID_ARGUMENT,
                        "input %d: an encoding of %d tokens (the model embeds 1 to %d)", i,
                        encs[i] ? encs[i]->n_tokens : 0, limit);
            return encore_session_fail(s, encs[i] && encs[i]->n_tokens > limit ? ENCORE_STATUS_BAD_INPUT
                                                                                : ENCORE_STATUS_INVALID_ARGUMENT);
        }
    }
    if (n == 0) return ENCORE_STATUS_OK;
    memset(weights, 0, encore_size_mul((size_t)n, (size_t)V) * sizeof(float));

    /* Chunks of whole inputs of up to CHUNK tokens (one input alone when
     * longer). On the CPU: the hidden states and the transform for a chunk,
     * then the decoder SPLADE_ROWS rows at a time, in these buffers. */
    enum { CHUNK = 512 };
    int chunk = CHUNK, on_device = 0;
#ifdef ENCORE_HAVE_CUDA
    /* A GPU session's passes hold at most its workspace's tokens. */
    struct encore_cuda_session *cuda = encore_session_cuda_backend(s);
    encore_batch batch;
    memset(&batch, 0, sizeof batch);
    encore_batch_use_model(&batch, m);
    if (cuda && encore_cuda_session_max_tokens(cuda) < chunk) chunk = encore_cuda_session_max_tokens(cuda);
    on_device = cuda != NULL;
#endif
    const int widest = limit > CHUNK ? limit : CHUNK;
    const size_t hc = encore_size_mul((size_t)widest, (size_t)C);
    const size_t lc = encore_size_mul((size_t)SPLADE_ROWS, (size_t)V);
    float *hidden = NULL, *t = NULL, *logits = NULL;
    int *owner = NULL;
    encore_status st = ENCORE_STATUS_OK;
    if (!on_device) {
        hidden = hc == SIZE_MAX ? NULL : malloc(hc * sizeof(float));
        t = hc == SIZE_MAX ? NULL : malloc(hc * sizeof(float));
        logits = lc == SIZE_MAX ? NULL : malloc(lc * sizeof(float));
        owner = malloc((size_t)widest * sizeof *owner);
        if (!hidden || !t || !logits || !owner) {
            encore_fail(ENCORE_STATUS_OUT_OF_MEMORY, "out of memory for SPLADE on %d tokens", widest);
            st = encore_session_fail(s, ENCORE_STATUS_OUT_OF_MEMORY);
        }
    }
    for (int first = 0; first < n && st == ENCORE_STATUS_OK;) {
        int last = first, tokens = 0;
        while (last < n && (last == first || tokens + encs[last]->n_tokens <= chunk)) {
            for (int k = 0; owner && k < encs[last]->n_tokens; k++) owner[tokens + k] = last;
            tokens += encs[last++]->n_tokens;
        }
#ifdef ENCORE_HAVE_CUDA
        if (cuda) {
            encore_batch_clear(&batch);
            for (int i = first; i < last && st == ENCORE_STATUS_OK; i++) st = encore_batch_append(&batch, encs[i]);
            if (st == ENCORE_STATUS_OK)
                st = encore_cuda_session_splade(cuda, &batch, m->splade_sum, m->splade_log1p_twice,
                                                weights + (size_t)first * V);
            if (st != ENCORE_STATUS_OK) {
                st = encore_session_fail(s, st);
                break;
            }
            finish(m, first, last, weights);
            first = last;
            continue;
        }
#endif
        st = encore_session_hidden_states_encoded(s, encs + first, last - first, hidden);
        if (st != ENCORE_STATUS_OK) break;
        encore_mlm_transform_cpu(m, hidden, tokens, t);
        for (int r = 0; r < tokens; r += SPLADE_ROWS) {
            const int rows = tokens - r < SPLADE_ROWS ? tokens - r : SPLADE_ROWS;
            encore_linear_packed_cpu(t + (size_t)r * C, &m->splade_decoder, m->mlm_bias, rows, logits);
            fold(m, logits, owner + r, rows, weights);
        }
        finish(m, first, last, weights);
        first = last;
    }
#ifdef ENCORE_HAVE_CUDA
    encore_batch_free(&batch);
#endif
    free(hidden);
    free(t);
    free(logits);
    free(owner);
    return st;
}

encore_status encore_session_embed_sparse(encore_session *s, const encore_input *inputs, int n, float *weights) {
    if (!s) return encore_fail(ENCORE_STATUS_INVALID_ARGUMENT, "NULL session");
    if (!inputs || !weights || n < 0) {
        encore_fail(ENCORE_STATUS_INVALID_ARGUMENT, "NULL inputs or output, or a negative count");
        return encore_session_fail(s, ENCORE_STATUS_INVALID_ARGUMENT);
    }
    const encore_model *m = encore_session_model(s);
    encore_encoding **encs = calloc((size_t)(n > 0 ? n : 1), sizeof *encs);
    if (!encs) {
        encore_fail(ENCORE_STATUS_OUT_OF_MEMORY, "out of memory");
        return encore_session_fail(s, ENCORE_STATUS_OUT_OF_MEMORY);
    }
    encore_status st = ENCORE_STATUS_OK;
    for (int i = 0; i < n && st == ENCORE_STATUS_OK; i++) {
        st = encore_model_tokenize_for_task(m, inputs[i], ENCORE_TASK_EMBED, encore_session_truncates(s), &encs[i]);
        if (st != ENCORE_STATUS_OK) {
            char msg[ENCORE_ERROR_LEN];
            snprintf(msg, sizeof msg, "%s", encore_last_error());
            encore_fail(st, "input %d: %s", i, msg);
            st = encore_session_fail(s, st);
        }
    }
    if (st == ENCORE_STATUS_OK)
        st = encore_session_embed_sparse_encoded(s, (const encore_encoding *const *)encs, n, weights);
    for (int i = 0; i < n; i++) encore_encoding_free(encs[i]);
    free(encs);
    return st;
}
