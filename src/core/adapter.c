/* adapter.c: PEFT LoRA adapters merged at load (see adapter.h). */
#include "core/adapter.h"

#include "core/common.h"
#include "cpu/cpu_isa.h"

#include <cJSON.h>
#include <errno.h>
#include <math.h>
#include <omp.h>
#include <regex.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#define PEFT_PREFIX "base_model.model."

/* One LoRA: delta = scale * B A for a Linear weight (out, in), with A (r, in)
 * and B (out, r); for an Embedding (rows, dim), A is (r, rows), B (dim, r)
 * and the delta is (B A)^T. */
typedef struct lora {
    char *module;      /* as peft names it, e.g. bert.encoder.layer.0.attention.self.query */
    const char *canon; /* the same without its bert./distilbert. prefix (points into module) */
    const encore_tensor_info *A, *B;
    int embedding;
    double scale;
    int used;
} lora;

/* A tensor saved whole: a modules_to_save module's, or a trained bias. */
typedef struct saved {
    const encore_tensor_info *t;
    char *canon; /* the base tensor it stands for, without prefix (see saved_name) */
    int used;
} saved;

struct encore_adapter {
    char *dir, *base;
    encore_safetensors *st;
    int classifier;
    int r;
    double alpha;
    int rslora;
    lora *loras;
    int n_loras;
    saved *saves;
    int n_saves;
};

static int is_dir(const char *path) {
    struct stat sb;
    return stat(path, &sb) == 0 && S_ISDIR(sb.st_mode);
}

static int is_file(const char *path) {
    struct stat sb;
    return stat(path, &sb) == 0 && S_ISREG(sb.st_mode);
}

static char *join(const char *a, const char *b) {
    char *out = NULL;
    return asprintf(&out, "%s/%s", a, b) < 0 ? NULL : out;
}

int encore_adapter_present(const char *dir) {
    char *p = join(dir, "adapter_config.json");
    const int yes = p && is_file(p);
    free(p);
    return yes;
}

/* Tensor and module names without the class-dependent model prefix. */
static const char *canonical(const char *name) {
    if (strncmp(name, PEFT_PREFIX, strlen(PEFT_PREFIX)) == 0) name += strlen(PEFT_PREFIX);
    if (strncmp(name, "bert.", 5) == 0) return name + 5;
    if (strncmp(name, "distilbert.", 11) == 0) return name + 11;
    return name;
}

/* ---- the base model ----------------------------------------------------------- */

static char *hub_cache(void) {
    const char *v;
    char *out = NULL;
    if ((v = getenv("HF_HUB_CACHE")) && *v) return strdup(v);
    if ((v = getenv("HF_HOME")) && *v) return asprintf(&out, "%s/hub", v) < 0 ? NULL : out;
    if ((v = getenv("XDG_CACHE_HOME")) && *v) return asprintf(&out, "%s/huggingface/hub", v) < 0 ? NULL : out;
    if ((v = getenv("HOME")) && *v) return asprintf(&out, "%s/.cache/huggingface/hub", v) < 0 ? NULL : out;
    return NULL;
}

/* A Hub model id, [namespace/]name, as huggingface_hub accepts it. */
static int valid_repo_id(const char *id) {
    int slashes = 0;
    if (!*id || strstr(id, "..") || strstr(id, "--") || id[0] == '/' || id[0] == '-' || id[0] == '.') return 0;
    for (const char *p = id; *p; p++) {
        if (*p == '/') {
            if (++slashes > 1 || p[1] == '\0') return 0;
        } else if (!((*p >= 'a' && *p <= 'z') || (*p >= 'A' && *p <= 'Z') || (*p >= '0' && *p <= '9') ||
                     *p == '-' || *p == '_' || *p == '.')) {
            return 0;
        }
    }
    return 1;
}

/* The snapshot of id at revision in the Hugging Face cache, or NULL. */
static char *cached_snapshot(const char *id, const char *revision) {
    if (!valid_repo_id(id) || strchr(revision, '/') || strstr(revision, "..")) return NULL;
    char *cache = hub_cache();
    if (!cache) return NULL;
    char folder[512];
    int n = snprintf(folder, sizeof folder, "models--%s", id);
    if (n < 0 || (size_t)n >= sizeof folder) {
        free(cache);
        return NULL;
    }
    for (char *p = folder; *p; p++)
        if (*p == '/') {
            memmove(p + 2, p + 1, strlen(p + 1) + 1);
            p[0] = p[1] = '-';
        }
    char *snap = NULL, *ref = NULL;
    if (asprintf(&snap, "%s/%s/snapshots/%s", cache, folder, revision) < 0) snap = NULL;
    if (snap && !is_dir(snap) && asprintf(&ref, "%s/%s/refs/%s", cache, folder, revision) >= 0) {
        free(snap);
        snap = NULL;
        char *commit = encore_read_file(ref, NULL);
        if (commit) {
            commit[strcspn(commit, " \t\r\n")] = '\0';
            if (*commit && !strchr(commit, '/') && !strstr(commit, "..") &&
                asprintf(&snap, "%s/%s/snapshots/%s", cache, folder, commit) >= 0 && !is_dir(snap)) {
                free(snap);
                snap = NULL;
            }
            free(commit);
        }
        free(ref);
    }
    free(cache);
    return snap;
}

/* As transformers does: the adapter directory itself when it holds a whole
 * model (config.json), else base_model_name_or_path, a local directory
 * (then, for adapters that travel with their base, relative to the adapter
 * directory) or a snapshot in the Hugging Face cache. */
static encore_status find_base(encore_adapter *a, const cJSON *root, const char *config_path) {
    char *own = join(a->dir, "config.json");
    if (!own) return encore_fail(ENCORE_STATUS_OUT_OF_MEMORY, "out of memory");
    const int whole = is_file(own);
    free(own);
    if (whole) return (a->base = strdup(a->dir)) ? ENCORE_STATUS_OK : encore_fail(ENCORE_STATUS_OUT_OF_MEMORY, "out of memory");
    const cJSON *b = cJSON_GetObjectItemCaseSensitive(root, "base_model_name_or_path");
    if (!cJSON_IsString(b) || !*b->valuestring)
        return encore_fail(ENCORE_STATUS_BAD_MODEL, "%s names no base model (base_model_name_or_path)", config_path);
    const char *name = b->valuestring;
    if (is_dir(name)) return (a->base = strdup(name)) ? ENCORE_STATUS_OK : encore_fail(ENCORE_STATUS_OUT_OF_MEMORY, "out of memory");
    if (name[0] != '/') {
        char *rel = join(a->dir, name);
        if (rel && is_dir(rel)) {
            a->base = rel;
            return ENCORE_STATUS_OK;
        }
        free(rel);
    }
    const cJSON *rev = cJSON_GetObjectItemCaseSensitive(root, "revision");
    const char *revision = cJSON_IsString(rev) && *rev->valuestring ? rev->valuestring : "main";
    if ((a->base = cached_snapshot(name, revision))) return ENCORE_STATUS_OK;
    return encore_fail(ENCORE_STATUS_IO_ERROR,
                       "%s: the base model '%s' is neither a local directory nor in the Hugging Face cache "
                       "(HF_HUB_CACHE, HF_HOME); `encore pull %s` fetches it",
                       config_path, name, name);
}

/* ---- adapter_config.json --------------------------------------------------------- */

static int truthy(const cJSON *root, const char *key) {
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(root, key);
    if (!v || cJSON_IsNull(v) || cJSON_IsFalse(v)) return 0;
    if (cJSON_IsArray(v) || cJSON_IsObject(v)) return cJSON_GetArraySize(v) > 0;
    if (cJSON_IsString(v)) return v->valuestring[0] != '\0';
    if (cJSON_IsNumber(v)) return v->valuedouble != 0;
    return 1;
}

/* Settings that change what a LoRA computes into something a merged weight
 * cannot hold, with the words for the error. */
static const struct {
    const char *key, *what;
} unmergeable[] = {
    {"use_dora", "DoRA (use_dora)"},
    {"lora_bias", "a LoRA bias of its own (lora_bias)"},
    {"target_parameters", "LoRA on parameters (target_parameters)"},
    {"layer_replication", "layer replication (layer_replication)"},
    {"trainable_token_indices", "trainable tokens (trainable_token_indices)"},
    {"alora_invocation_tokens", "activated LoRA (alora_invocation_tokens)"},
    {"use_qalora", "QALoRA (use_qalora)"},
    {"use_bdlora", "block-diagonal LoRA (use_bdlora)"},
    {"megatron_config", "Megatron layers (megatron_config)"},
};

static encore_status read_config(encore_adapter *a, const cJSON *root, const char *path) {
    const cJSON *type = cJSON_GetObjectItemCaseSensitive(root, "peft_type");
    if (!cJSON_IsString(type))
        return encore_fail(ENCORE_STATUS_BAD_MODEL, "%s: 'peft_type' is missing", path);
    if (strcmp(type->valuestring, "LORA") != 0)
        return encore_fail(ENCORE_STATUS_UNSUPPORTED,
                           "%s: a %s adapter cannot be merged into the weights exactly; encore loads LoRA adapters "
                           "only",
                           path, type->valuestring);
    for (size_t i = 0; i < sizeof unmergeable / sizeof unmergeable[0]; i++)
        if (truthy(root, unmergeable[i].key))
            return encore_fail(ENCORE_STATUS_UNSUPPORTED,
                               "%s: the adapter uses %s, which cannot be merged into the weights exactly; encore "
                               "loads plain LoRA adapters",
                               path, unmergeable[i].what);
    const cJSON *task = cJSON_GetObjectItemCaseSensitive(root, "task_type");
    if (cJSON_IsString(task)) {
        if (strcmp(task->valuestring, "SEQ_CLS") == 0)
            a->classifier = 1;
        else if (strcmp(task->valuestring, "FEATURE_EXTRACTION") != 0)
            return encore_fail(ENCORE_STATUS_UNSUPPORTED,
                               "%s: task_type %s is not one encore serves (SEQ_CLS and FEATURE_EXTRACTION are)", path,
                               task->valuestring);
    } else if (task && !cJSON_IsNull(task)) {
        return encore_fail(ENCORE_STATUS_BAD_MODEL, "%s: 'task_type' is not a string", path);
    }
    const cJSON *r = cJSON_GetObjectItemCaseSensitive(root, "r");
    const cJSON *alpha = cJSON_GetObjectItemCaseSensitive(root, "lora_alpha");
    if (!cJSON_IsNumber(r) || r->valuedouble < 1 || r->valuedouble > 65536 || r->valuedouble != (int)r->valuedouble)
        return encore_fail(ENCORE_STATUS_BAD_MODEL, "%s: 'r' is missing or not a rank from 1 to 65536", path);
    if (!cJSON_IsNumber(alpha) || !isfinite(alpha->valuedouble))
        return encore_fail(ENCORE_STATUS_BAD_MODEL, "%s: 'lora_alpha' is missing or not a number", path);
    a->r = (int)r->valuedouble;
    a->alpha = alpha->valuedouble;
    a->rslora = truthy(root, "use_rslora");
    const cJSON *fifo = cJSON_GetObjectItemCaseSensitive(root, "fan_in_fan_out");
    if (cJSON_IsTrue(fifo))
        /* peft itself turns it off for nn.Linear, the only layer kind here. */
        encore_log(ENCORE_LOG_LEVEL_WARN,
                   "%s: fan_in_fan_out is set, but the adapted layers are torch.nn.Linear, for which peft "
                   "turns it off; so does encore",
                   path);
    return ENCORE_STATUS_OK;
}

/* What makes a pattern key too costly to compile or match, or NULL. glibc's
 * regcomp expands counted repetitions: "((a{255}){255}){255}" took more than
 * 20 s and 3 GB before it gave up, from a file of a few bytes; back-references
 * make matching exponential. Neither belongs in a key that names modules,
 * and peft's own keys are module names, with an occasional .* or \d. */
#define PATTERN_KEY_MAX 256
static const char *pattern_key_refused(const char *key) {
    if (strlen(key) > PATTERN_KEY_MAX) return "it is longer than 256 characters";
    for (const char *p = key; *p; p++) {
        if (*p == '{') return "counted repetition ({m,n}) is not supported in pattern keys";
        if (p[0] == '\\' && p[1] >= '0' && p[1] <= '9') return "back-references are not supported in pattern keys";
        if (p[0] == '\\' && p[1]) p++;
    }
    return NULL;
}

/* peft's get_pattern_key: the first key of pattern (in file order) such that
 * the module name matches (.*\.)?(key)$, the key a Python regular
 * expression; read here as a POSIX extended one with \d, \w and \s spelt out. */
static encore_status pattern_value(const cJSON *pattern, const char *module, const char *path, const char *what,
                                   const cJSON **out) {
    *out = NULL;
    if (!pattern || cJSON_IsNull(pattern)) return ENCORE_STATUS_OK;
    if (!cJSON_IsObject(pattern)) return encore_fail(ENCORE_STATUS_BAD_MODEL, "%s: '%s' is not an object", path, what);
    const cJSON *item;
    cJSON_ArrayForEach(item, pattern) {
        const char *key = item->string;
        const char *why = pattern_key_refused(key);
        if (why)
            return encore_fail(ENCORE_STATUS_UNSUPPORTED, "%s: %s key '%.80s%s' is refused: %s", path, what, key,
                               strlen(key) > 80 ? "..." : "", why);
        size_t cap = 16 + 12 * strlen(key);
        char *re = malloc(cap);
        if (!re) return encore_fail(ENCORE_STATUS_OUT_OF_MEMORY, "out of memory");
        size_t n = (size_t)snprintf(re, cap, "^(.*\\.)?(");
        for (const char *p = key; *p; p++) {
            if (p[0] == '\\' && (p[1] == 'd' || p[1] == 'w' || p[1] == 's')) {
                const char *cls = p[1] == 'd' ? "[0-9]" : p[1] == 'w' ? "[A-Za-z0-9_]" : "[[:space:]]";
                n += (size_t)snprintf(re + n, cap - n, "%s", cls);
                p++;
            } else {
                re[n++] = *p;
                re[n] = '\0';
            }
        }
        snprintf(re + n, cap - n, ")$");
        regex_t rx;
        const int bad = regcomp(&rx, re, REG_EXTENDED | REG_NOSUB);
        free(re);
        if (bad)
            return encore_fail(ENCORE_STATUS_UNSUPPORTED, "%s: %s key '%s' is not a regular expression encore can read",
                               path, what, key);
        const int hit = regexec(&rx, module, 0, NULL, 0) == 0;
        regfree(&rx);
        if (hit) {
            if (!cJSON_IsNumber(item) || !isfinite(item->valuedouble))
                return encore_fail(ENCORE_STATUS_BAD_MODEL, "%s: %s['%s'] is not a number", path, what, key);
            *out = item;
            return ENCORE_STATUS_OK;
        }
    }
    return ENCORE_STATUS_OK;
}

/* ---- adapter_model.safetensors ---------------------------------------------------- */

static lora *lora_for(encore_adapter *a, const char *module, size_t len) {
    for (int i = 0; i < a->n_loras; i++)
        if (strlen(a->loras[i].module) == len && strncmp(a->loras[i].module, module, len) == 0) return &a->loras[i];
    char *m = strndup(module, len);
    if (!m) return NULL;
    lora *l = &a->loras[a->n_loras++];  /* room for every tensor was made */
    memset(l, 0, sizeof *l);
    l->module = m;
    l->canon = canonical(m);
    return l;
}

static int ends_with(const char *s, const char *suffix, size_t *stem) {
    const size_t n = strlen(s), k = strlen(suffix);
    if (n <= k || strcmp(s + n - k, suffix) != 0) return 0;
    *stem = n - k;
    return 1;
}

/* Remove every ".seg." (and ".seg.default.") from s, in place. */
static void drop_segment(char *s, const char *seg) {
    char pat[64], pat_default[80];
    snprintf(pat, sizeof pat, ".%s.", seg);
    snprintf(pat_default, sizeof pat_default, ".%s.default.", seg);
    char *p;
    while ((p = strstr(s, pat))) {
        const size_t cut = strncmp(p, pat_default, strlen(pat_default)) == 0 ? strlen(pat_default) : strlen(pat);
        memmove(p + 1, p + cut, strlen(p + cut) + 1);
    }
}

/* The base tensor a tensor saved whole stands for: peft writes a module saved
 * whole as classifier.weight or classifier.modules_to_save.weight, and a
 * trained bias of an adapted layer as query.base_layer.bias. */
static char *saved_name(const char *name) {
    char *s = strdup(canonical(name));
    if (!s) return NULL;
    drop_segment(s, "modules_to_save");
    drop_segment(s, "base_layer");
    const char *c = canonical(s);
    if (c != s) memmove(s, c, strlen(c) + 1);
    return s;
}

static encore_status sort_tensors(encore_adapter *a, const char *path) {
    const int n = a->st->n_tensors;
    a->loras = calloc((size_t)n + 1, sizeof *a->loras);
    a->saves = calloc((size_t)n + 1, sizeof *a->saves);
    if (!a->loras || !a->saves) return encore_fail(ENCORE_STATUS_OUT_OF_MEMORY, "out of memory");
    for (int i = 0; i < n; i++) {
        const encore_tensor_info *t = &a->st->tensors[i];
        const char *name = t->name;
        if (strncmp(name, PEFT_PREFIX, strlen(PEFT_PREFIX)) != 0)
            return encore_fail(ENCORE_STATUS_BAD_MODEL, "%s: tensor '%s' is not named as peft names them (%s...)",
                               path, name, PEFT_PREFIX);
        if (t->dtype == ENCORE_DTYPE_OTHER)
            return encore_fail(ENCORE_STATUS_UNSUPPORTED, "%s: tensor '%s' has dtype %s (F32, F16 and BF16 are supported)",
                               path, name, t->dtype_name);
        const char *mod = name + strlen(PEFT_PREFIX);
        size_t stem = 0;
        int which = -1, embedding = 0;
        if (ends_with(mod, ".lora_A.weight", &stem)) which = 0;
        else if (ends_with(mod, ".lora_B.weight", &stem)) which = 1;
        else if (ends_with(mod, ".lora_embedding_A", &stem)) which = 0, embedding = 1;
        else if (ends_with(mod, ".lora_embedding_B", &stem)) which = 1, embedding = 1;
        if (which < 0) {
            if (strstr(mod, "lora_magnitude_vector"))
                return encore_fail(ENCORE_STATUS_UNSUPPORTED,
                                   "%s: tensor '%s' is a DoRA magnitude, which cannot be merged exactly", path, name);
            if (strstr(mod, "lora_"))
                return encore_fail(ENCORE_STATUS_UNSUPPORTED, "%s: tensor '%s' is a kind of LoRA encore cannot merge",
                                   path, name);
            if (t->n_dims < 1 || t->n_dims > 2)
                return encore_fail(ENCORE_STATUS_BAD_MODEL, "%s: tensor '%s' has %d dimensions", path, name, t->n_dims);
            if (strstr(mod, ".original_module.")) continue;  /* the untrained copy of a module saved whole */
            char *canon = saved_name(mod);
            if (!canon) return encore_fail(ENCORE_STATUS_OUT_OF_MEMORY, "out of memory");
            a->saves[a->n_saves].t = t;
            a->saves[a->n_saves++].canon = canon;
            continue;
        }
        if (t->n_dims != 2)
            return encore_fail(ENCORE_STATUS_BAD_MODEL, "%s: LoRA tensor '%s' is not a matrix", path, name);
        lora *l = lora_for(a, mod, stem);
        if (!l) return encore_fail(ENCORE_STATUS_OUT_OF_MEMORY, "out of memory");
        if ((which ? l->B : l->A) || (l->A || l->B ? l->embedding != embedding : 0))
            return encore_fail(ENCORE_STATUS_BAD_MODEL, "%s: tensor '%s' repeats or mixes LoRA kinds", path, name);
        l->embedding = embedding;
        if (which) l->B = t;
        else l->A = t;
    }
    return ENCORE_STATUS_OK;
}

/* Every LoRA has both halves, of rank r, and its scale. */
static encore_status check_loras(encore_adapter *a, const cJSON *root, const char *path) {
    const cJSON *ranks = cJSON_GetObjectItemCaseSensitive(root, "rank_pattern");
    const cJSON *alphas = cJSON_GetObjectItemCaseSensitive(root, "alpha_pattern");
    for (int i = 0; i < a->n_loras; i++) {
        lora *l = &a->loras[i];
        if (!l->A || !l->B)
            return encore_fail(ENCORE_STATUS_BAD_MODEL, "%s: module '%s' has lora_%s but not lora_%s", path, l->module,
                               l->A ? "A" : "B", l->A ? "B" : "A");
        const cJSON *rv, *av;
        encore_status s;
        if ((s = pattern_value(ranks, l->module, path, "rank_pattern", &rv)) ||
            (s = pattern_value(alphas, l->module, path, "alpha_pattern", &av)))
            return s;
        const double r = rv ? rv->valuedouble : a->r, alpha = av ? av->valuedouble : a->alpha;
        /* A (r, in or rows) and B (out or dim, r) */
        /* A whole rank, in range before it is converted (1e300 would convert
         * to nothing defined; 4.5 would pass as 4 with the scale of 4.5). */
        if (!(r >= 1 && r <= 1e6) || r != (double)(int64_t)r || l->A->shape[0] != (int64_t)r ||
            l->B->shape[1] != (int64_t)r)
            return encore_fail(ENCORE_STATUS_BAD_MODEL,
                               "%s: module '%s' has LoRA matrices of rank %lld and %lld where the config gives rank %g",
                               path, l->module, (long long)l->A->shape[0], (long long)l->B->shape[1], r);
        l->scale = a->rslora ? alpha / sqrt(r) : alpha / r;
    }
    return ENCORE_STATUS_OK;
}

encore_status encore_adapter_open(const char *dir, encore_adapter **out) {
    *out = NULL;
    encore_adapter *a = calloc(1, sizeof *a);
    if (!a || !(a->dir = strdup(dir))) {
        free(a);
        return encore_fail(ENCORE_STATUS_OUT_OF_MEMORY, "out of memory");
    }
    char *config_path = join(dir, "adapter_config.json"), *weights = join(dir, "adapter_model.safetensors");
    char *text = config_path ? encore_read_file(config_path, NULL) : NULL;
    cJSON *root = text ? cJSON_Parse(text) : NULL;
    free(text);
    encore_status s = ENCORE_STATUS_OK;
    if (!config_path || !weights)
        s = encore_fail(ENCORE_STATUS_OUT_OF_MEMORY, "out of memory");
    else if (!root)
        s = encore_fail(ENCORE_STATUS_BAD_MODEL, "%s is unreadable or not JSON", config_path);
    else if (!cJSON_IsObject(root))
        s = encore_fail(ENCORE_STATUS_BAD_MODEL, "%s is not a JSON object", config_path);
    if (s == ENCORE_STATUS_OK) s = read_config(a, root, config_path);
    if (s == ENCORE_STATUS_OK && !is_file(weights)) {
        char *bin = join(dir, "adapter_model.bin");
        s = bin && is_file(bin) ? encore_fail(ENCORE_STATUS_UNSUPPORTED,
                                               "%s: encore reads adapter_model.safetensors only (peft writes it by "
                                               "default: save_pretrained(safe_serialization=True))",
                                               bin)
                                : encore_fail(ENCORE_STATUS_IO_ERROR, "%s is missing", weights);
        free(bin);
    }
    if (s == ENCORE_STATUS_OK) s = encore_safetensors_open(weights, &a->st);
    if (s == ENCORE_STATUS_OK) s = sort_tensors(a, weights);
    if (s == ENCORE_STATUS_OK) s = check_loras(a, root, config_path);
    if (s == ENCORE_STATUS_OK) s = find_base(a, root, config_path);
    cJSON_Delete(root);
    free(config_path);
    free(weights);
    if (s != ENCORE_STATUS_OK) {
        encore_adapter_free(a);
        return s;
    }
    *out = a;
    return ENCORE_STATUS_OK;
}

void encore_adapter_free(encore_adapter *a) {
    if (!a) return;
    for (int i = 0; i < a->n_loras; i++) free(a->loras[i].module);
    for (int i = 0; i < a->n_saves; i++) free(a->saves[i].canon);
    free(a->loras);
    free(a->saves);
    encore_safetensors_close(a->st);
    free(a->dir);
    free(a->base);
    free(a);
}

const char *encore_adapter_base_dir(const encore_adapter *a) { return a->base; }
uint64_t encore_adapter_data_bytes(const encore_adapter *a) { return a->st ? a->st->data_size : 0; }
int encore_adapter_is_classifier(const encore_adapter *a) { return a->classifier; }

const encore_tensor_info *encore_adapter_replacement(encore_adapter *a, const char *name) {
    const char *c = canonical(name);
    const encore_tensor_info *t = NULL;
    for (int i = 0; i < a->n_saves; i++)
        if (strcmp(a->saves[i].canon, c) == 0) {
            a->saves[i].used = 1;  /* peft may write a module saved whole under two names */
            if (!t) t = a->saves[i].t;
        }
    return t;
}

/* Rows [i0, i1) of W gain s times their rows of B A (linear), or of
 * (B A)^T (embedding). A row at a time with k outside, so that the inner
 * loop runs along a row of A: each element sums its r products in double
 * from k = 0 up, as one sum per element did, so the merged weights are the
 * same bits, and the load does not stride through A per element.
 * acc: (cols) doubles. Written once, compiled twice: for x86-64 and with
 * AVX2 (4 doubles a vector; no FMA, so the same roundings). */
__attribute__((always_inline)) static inline void merge_rows(const lora *l, const float *fa, const float *fb,
                                                              int64_t r, int64_t in, int64_t cols, int64_t i0,
                                                              int64_t i1, double *acc, float *w) {
    for (int64_t i = i0; i < i1; i++) {
        for (int64_t j = 0; j < cols; j++) acc[j] = 0.0;
        for (int64_t k = 0; k < r; k++) {
            if (l->embedding) {
                const double ak = fa[k * in + i];
                for (int64_t j = 0; j < cols; j++) acc[j] += (double)fb[j * r + k] * ak;
            } else {
                const double bk = fb[i * r + k];
                const float *ak = fa + k * in;
                for (int64_t j = 0; j < cols; j++) acc[j] += bk * ak[j];
            }
        }
        for (int64_t j = 0; j < cols; j++) w[i * cols + j] = (float)(w[i * cols + j] + l->scale * acc[j]);
    }
}

static void merge_rows_portable(const lora *l, const float *fa, const float *fb, int64_t r, int64_t in, int64_t cols,
                                int64_t i0, int64_t i1, double *acc, float *w) {
    merge_rows(l, fa, fb, r, in, cols, i0, i1, acc, w);
}

#if defined(__x86_64__) || defined(__i386__)
__attribute__((target("avx2"))) static void merge_rows_avx2(const lora *l, const float *fa, const float *fb, int64_t r,
                                                             int64_t in, int64_t cols, int64_t i0, int64_t i1,
                                                             double *acc, float *w) {
    merge_rows(l, fa, fb, r, in, cols, i0, i1, acc, w);
}
#endif

encore_status encore_adapter_merge(encore_adapter *a, const char *name, int64_t rows, int64_t cols, float *w) {
    size_t stem = 0;
    if (cols <= 0 || !ends_with(name, ".weight", &stem)) return ENCORE_STATUS_OK;
    const char *c = canonical(name);
    const size_t len = stem - (size_t)(c - name);
    lora *l = NULL;
    for (int i = 0; i < a->n_loras && !l; i++)
        if (strlen(a->loras[i].canon) == len && strncmp(a->loras[i].canon, c, len) == 0) l = &a->loras[i];
    if (!l) return ENCORE_STATUS_OK;
    const encore_tensor_info *A = l->A, *B = l->B;
    /* Linear: W (out, in) += s B (out, r) A (r, in). Embedding: W (rows, dim)
     * += s (B (dim, r) A (r, rows))^T. */
    const int64_t want_b = l->embedding ? cols : rows, want_a = l->embedding ? rows : cols;
    if (B->shape[0] != want_b || A->shape[1] != want_a)
        return encore_fail(ENCORE_STATUS_BAD_MODEL,
                           "adapter: the LoRA of '%s' is (%lld, %lld) x (%lld, %lld), which does not fit the base "
                           "weight (%lld, %lld)",
                           l->module, (long long)B->shape[0], (long long)B->shape[1], (long long)A->shape[0],
                           (long long)A->shape[1], (long long)rows, (long long)cols);
    /* The rows over the OpenMP threads (each row's sums are one thread's:
     * the same bits for any count), when there are enough to share. */
    const int64_t r = A->shape[0], in = A->shape[1];
    const int threads = rows * cols * r >= (1 << 20) ? omp_get_max_threads() : 1;
    float *fa = malloc((size_t)(A->n_elements + B->n_elements) * sizeof *fa);
    double *acc = malloc((size_t)threads * (size_t)cols * sizeof *acc);  /* a row of B A per thread, in double */
    if (!fa || !acc) {
        free(fa);
        free(acc);
        return encore_fail(ENCORE_STATUS_OUT_OF_MEMORY, "out of memory");
    }
    float *fb = fa + A->n_elements;
    encore_status s = encore_tensor_to_f32(A, fa);
    if (s == ENCORE_STATUS_OK) s = encore_tensor_to_f32(B, fb);
    if (s != ENCORE_STATUS_OK) {
        free(fa);
        free(acc);
        return s;
    }
    const int avx2 = encore_cpu_isa_use_avx2(ENCORE_CPU_ISA_BEST) == 1;
#pragma omp parallel num_threads(threads)
    {
        const int nt = omp_get_num_threads(), id = omp_get_thread_num();
        const int64_t i0 = rows * id / nt, i1 = rows * (id + 1) / nt;
        double *mine = acc + (size_t)id * (size_t)cols;
#if defined(__x86_64__) || defined(__i386__)
        if (avx2)
            merge_rows_avx2(l, fa, fb, r, in, cols, i0, i1, mine, w);
        else
#endif
            merge_rows_portable(l, fa, fb, r, in, cols, i0, i1, mine, w);
    }
    (void)avx2;
    free(fa);
    free(acc);
    l->used = 1;
    return ENCORE_STATUS_OK;
}

encore_status encore_adapter_check_used(const encore_adapter *a) {
    encore_status s = encore_safetensors_check_unchanged(a->st);
    if (s != ENCORE_STATUS_OK) return s;
    for (int i = 0; i < a->n_loras; i++)
        if (!a->loras[i].used)
            return encore_fail(ENCORE_STATUS_UNSUPPORTED,
                               "%s: the adapter has a LoRA for '%s', a weight encore does not run; it cannot be "
                               "applied",
                               a->dir, a->loras[i].module);
    for (int i = 0; i < a->n_saves; i++) {
        if (a->saves[i].used) continue;
        /* The head of a classifier: unused where the model serves embeddings. */
        const char *c = a->saves[i].canon;
        if (!a->classifier && (strncmp(c, "pooler.", 7) == 0 || strncmp(c, "classifier.", 11) == 0 ||
                               strncmp(c, "pre_classifier.", 15) == 0)) {
            encore_log(ENCORE_LOG_LEVEL_INFO, "%s: tensor '%s' belongs to a head this model does not run", a->dir,
                       a->saves[i].t->name);
            continue;
        }
        return encore_fail(ENCORE_STATUS_UNSUPPORTED,
                               "%s: the adapter saves tensor '%s', which no weight encore runs takes", a->dir,
                               a->saves[i].t->name);
    }
    return ENCORE_STATUS_OK;
}

void encore_adapter_describe(const encore_adapter *a, char *buf, size_t n) {
    snprintf(buf, n, "LoRA r %d alpha %g%s on %d weights, %d tensors saved whole", a->r, a->alpha,
             a->rslora ? " (rsLoRA)" : "", a->n_loras, a->n_saves);
}
