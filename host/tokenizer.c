/* tokenizer.c: BERT's WordPiece tokenizer, giving token for token and offset
 * for offset what Hugging Face's fast tokenizer gives (transformers'
 * BertTokenizer over the tokenizers Rust pipeline):
 *
 *   text -> split out added tokens such as [CLS] (AddedVocabulary)
 *        -> BertNormalizer: clean text, space out CJK, strip accents, lowercase
 *        -> BertPreTokenizer: split on whitespace, isolate punctuation
 *        -> WordPiece: greedy longest match, "##" for the rest of a word
 *        -> truncation (longest_first) -> template [CLS] A [SEP] (B [SEP])
 *
 * Every normalized character keeps the byte range of the character of the
 * caller's text it came from, so token offsets are byte offsets into that
 * text. Loading (files, vocabulary, added tokens, template) comes first,
 * then encoding. The tokenizer is immutable once loaded; encoding keeps its
 * scratch on the call, so any number of threads may share one.
 */
#include "tokenizer.h"

#include "common.h"
#include "unicode.h"

#include <cjson/cJSON.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#define NO_TEXT UINT32_MAX
#define MAX_TEMPLATE_ITEMS 32
#define MAX_TOKEN_ID (1 << 24) /* ids past this are a broken file, not a vocabulary */

typedef struct vocab_slot {
    uint32_t hash;
    uint32_t text; /* offset of the token in the pool */
    uint32_t len;  /* its length in bytes */
    int32_t id;    /* -1: empty */
} vocab_slot;

typedef struct added_token {
    uint32_t text, len;            /* content, in the pool */
    uint32_t pattern, pattern_len; /* what is matched: the content, or its normalized form */
    int32_t id;
    int special, normalized, lstrip, rstrip, single_word;
} added_token;

typedef struct template_item {
    int32_t sequence; /* 0: the text, 1: the pair, -1: a special token */
    int32_t id;       /* the special token's id */
    int32_t type_id;
} template_item;

typedef struct token_template {
    template_item items[MAX_TEMPLATE_ITEMS];
    int n_items;
    int n_special;
} token_template;

struct encore_tokenizer {
    encore_tokenizer_settings settings;
    int strip_accents;            /* resolved: follows lowercase when settings say -1 */
    char *pool;                   /* every token's text, NUL-terminated */
    size_t pool_len, pool_cap;
    uint32_t *id_text;            /* (n_ids) pool offset of each id's text, or NO_TEXT */
    int32_t n_ids;
    vocab_slot *slots;            /* (mask + 1) open addressing over the model vocabulary */
    uint32_t mask;
    int32_t n_vocab;              /* distinct tokens in the model vocabulary */
    uint32_t prefix, prefix_len;  /* continuing_subword_prefix, in the pool */
    int32_t unk_id;
    added_token *added;           /* (n_added) */
    int n_added;
    int *pass_tokens[2];          /* indices into added, longest pattern first: */
    int n_pass_tokens[2];         /*   [0] matched in the raw text, [1] in the normalized */
    uint8_t first_byte[2][256];   /* which bytes start a pattern of each pass */
    token_template single, pair;
};

/* ---- scratch of one encode call ------------------------------------------ */

typedef struct piece {
    int32_t id, start, end; /* byte range in its own text */
} piece;

typedef struct piece_list {
    piece *v;
    size_t n, cap;
} piece_list;

typedef struct match {
    size_t start, stop; /* byte range in the text searched */
    int32_t id;
} match;

typedef struct match_list {
    match *v;
    size_t n, cap;
} match_list;

/* One segment of text after the normalizer. */
typedef struct norm_text {
    uint32_t *cp;    /* (n) code points */
    int32_t *src;    /* (n, 2) byte range in the original of the char each came from */
    uint8_t *ccc;    /* (n) combining class, for canonical reordering */
    uint8_t *added;  /* (n) 1: added by a decomposition (NFD's second and later chars) */
    int32_t *in_src; /* (n_in, 2) while decomposing: the source of each char NFD took in */
    int32_t *pos;    /* (n + 1) byte offset of each char in utf8 */
    size_t n, n_in, cap;
    char *utf8;      /* (pos[n]) the normalized segment as UTF-8 */
    size_t utf8_cap;
} norm_text;

typedef struct scratch {
    norm_text norm;
    match_list raw, normalized;
    piece_list seq[2];
} scratch;

static int grow(void **p, size_t *cap, size_t need, size_t elem) {
    if (need <= *cap) return 1;
    size_t n = *cap ? *cap : 16;
    while (n < need) n *= 2;
    void *q = realloc(*p, n * elem);
    if (!q) return 0;
    *p = q;
    *cap = n;
    return 1;
}

static encore_status out_of_memory(void) {
    return encore_fail(ENCORE_STATUS_OUT_OF_MEMORY, "out of memory while tokenizing");
}

static encore_status push_piece(piece_list *l, int32_t id, int32_t start, int32_t end) {
    if (!grow((void **)&l->v, &l->cap, l->n + 1, sizeof *l->v)) return out_of_memory();
    l->v[l->n++] = (piece){id, start, end};
    return ENCORE_STATUS_OK;
}

static encore_status push_match(match_list *l, size_t start, size_t stop, int32_t id) {
    if (!grow((void **)&l->v, &l->cap, l->n + 1, sizeof *l->v)) return out_of_memory();
    l->v[l->n++] = (match){start, stop, id};
    return ENCORE_STATUS_OK;
}

static int norm_reserve(norm_text *t, size_t need) {
    if (need + 1 <= t->cap) return 1;
    /* every array has room for cap entries: grow each from the same cap */
    size_t cap[6] = {t->cap, t->cap, t->cap, t->cap, t->cap, t->cap};
    if (!grow((void **)&t->cp, &cap[0], need + 1, sizeof *t->cp) ||
        !grow((void **)&t->src, &cap[1], need + 1, 2 * sizeof *t->src) ||
        !grow((void **)&t->ccc, &cap[2], need + 1, sizeof *t->ccc) ||
        !grow((void **)&t->added, &cap[3], need + 1, sizeof *t->added) ||
        !grow((void **)&t->in_src, &cap[4], need + 1, 2 * sizeof *t->in_src) ||
        !grow((void **)&t->pos, &cap[5], need + 1, sizeof *t->pos))
        return 0;
    t->cap = cap[0];
    return 1;
}

static void norm_free(norm_text *t) {
    free(t->cp);
    free(t->src);
    free(t->ccc);
    free(t->added);
    free(t->in_src);
    free(t->pos);
    free(t->utf8);
}

static void scratch_free(scratch *s) {
    norm_free(&s->norm);
    free(s->raw.v);
    free(s->normalized.v);
    free(s->seq[0].v);
    free(s->seq[1].v);
}

/* ---- vocabulary ---------------------------------------------------------- */

static uint32_t fnv1a(uint32_t h, const char *s, size_t n) {
    for (size_t i = 0; i < n; i++) h = (h ^ (unsigned char)s[i]) * 16777619u;
    return h;
}
#define FNV_SEED 2166136261u

/* Append a string to the pool; NO_TEXT when out of memory. */
static uint32_t pool_add(encore_tokenizer *tok, const char *s, size_t n) {
    if (tok->pool_len + n + 1 >= NO_TEXT) return NO_TEXT;
    if (!grow((void **)&tok->pool, &tok->pool_cap, tok->pool_len + n + 1, 1)) return NO_TEXT;
    uint32_t off = (uint32_t)tok->pool_len;
    memcpy(tok->pool + off, s, n);
    tok->pool[off + n] = '\0';
    tok->pool_len += n + 1;
    return off;
}

static int ensure_ids(encore_tokenizer *tok, int32_t id) {
    if (id < tok->n_ids) return 1;
    uint32_t *p = realloc(tok->id_text, ((size_t)id + 1) * sizeof *p);
    if (!p) return 0;
    for (int32_t i = tok->n_ids; i <= id; i++) p[i] = NO_TEXT;
    tok->id_text = p;
    tok->n_ids = id + 1;
    return 1;
}

static int vocab_alloc(encore_tokenizer *tok, size_t n_entries) {
    size_t n = 16;
    while (n < 2 * n_entries) n *= 2;
    tok->slots = malloc(n * sizeof *tok->slots);
    if (!tok->slots) return 0;
    for (size_t i = 0; i < n; i++) tok->slots[i].id = -1;
    tok->mask = (uint32_t)(n - 1);
    return 1;
}

/* Find the slot of prefix + s (prefix only when with_prefix). */
static vocab_slot *vocab_slot_of(const encore_tokenizer *tok, int with_prefix, const char *s,
                                 size_t n) {
    const char *pre = tok->pool + tok->prefix;
    size_t np = with_prefix ? tok->prefix_len : 0;
    uint32_t h = fnv1a(fnv1a(FNV_SEED, pre, np), s, n);
    for (uint32_t i = h & tok->mask;; i = (i + 1) & tok->mask) {
        vocab_slot *slot = &tok->slots[i];
        if (slot->id < 0) return slot;
        if (slot->hash == h && slot->len == np + n &&
            memcmp(tok->pool + slot->text, pre, np) == 0 &&
            memcmp(tok->pool + slot->text + np, s, n) == 0)
            return slot;
    }
}

static int32_t vocab_find(const encore_tokenizer *tok, int with_prefix, const char *s, size_t n) {
    return vocab_slot_of(tok, with_prefix, s, n)->id;
}

/* Add a model vocabulary entry; a later duplicate wins, as in a Rust HashMap
 * filled in file order. The table must have room (vocab_alloc). */
static encore_status vocab_insert(encore_tokenizer *tok, const char *s, size_t n, int32_t id) {
    vocab_slot *slot = vocab_slot_of(tok, 0, s, n);
    if (slot->id >= 0) {
        if (tok->id_text[slot->id] == slot->text) tok->id_text[slot->id] = NO_TEXT;
    } else {
        slot->text = pool_add(tok, s, n);
        if (slot->text == NO_TEXT) return out_of_memory();
        slot->hash = fnv1a(FNV_SEED, s, n);
        slot->len = (uint32_t)n;
        tok->n_vocab++;
    }
    if (!ensure_ids(tok, id)) return out_of_memory();
    slot->id = id;
    tok->id_text[id] = slot->text;
    return ENCORE_STATUS_OK;
}

static const added_token *added_find(const encore_tokenizer *tok, const char *s, size_t n) {
    for (int i = 0; i < tok->n_added; i++) {
        const added_token *a = &tok->added[i];
        if (a->len == n && memcmp(tok->pool + a->text, s, n) == 0) return a;
    }
    return NULL;
}

/* AddedVocabulary::token_to_id: the added tokens first, then the model. */
static int32_t token_id(const encore_tokenizer *tok, const char *s) {
    size_t n = strlen(s);
    const added_token *a = added_find(tok, s, n);
    return a ? a->id : vocab_find(tok, 0, s, n);
}

/* ---- files --------------------------------------------------------------- */

static int file_exists(const char *path) {
    struct stat st;
    return stat(path, &st) == 0 && S_ISREG(st.st_mode);
}

static encore_status read_file(const char *path, char **out, size_t *len) {
    FILE *f = fopen(path, "rb");
    if (!f) return encore_fail(ENCORE_STATUS_IO_ERROR, "cannot open %s: %s", path, strerror(errno));
    char *buf = NULL;
    size_t n = 0, cap = 0;
    for (;;) {
        if (!grow((void **)&buf, &cap, n + 65536, 1)) {
            free(buf);
            fclose(f);
            return encore_fail(ENCORE_STATUS_OUT_OF_MEMORY, "out of memory reading %s", path);
        }
        size_t got = fread(buf + n, 1, cap - n - 1, f);
        n += got;
        if (got == 0) break;
    }
    int failed = ferror(f);
    fclose(f);
    if (failed) {
        free(buf);
        return encore_fail(ENCORE_STATUS_IO_ERROR, "cannot read %s", path);
    }
    buf[n] = '\0';
    *out = buf;
    *len = n;
    return ENCORE_STATUS_OK;
}

static encore_status load_json(const char *path, cJSON **out) {
    char *buf;
    size_t len;
    encore_status st = read_file(path, &buf, &len);
    if (st != ENCORE_STATUS_OK) return st;
    const char *end = NULL;
    *out = cJSON_ParseWithLengthOpts(buf, len, &end, 0);
    long at = end ? (long)(end - buf) : -1;
    free(buf);
    if (!*out) return encore_fail(ENCORE_STATUS_BAD_MODEL, "%s is not valid JSON (error near byte %ld)", path, at);
    return ENCORE_STATUS_OK;
}

/* A boolean field: 1/0, dflt when absent, -1 when null (and null_ok). */
static int json_flag(const cJSON *obj, const char *key, int dflt) {
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(obj, key);
    if (cJSON_IsBool(v)) return cJSON_IsTrue(v);
    if (cJSON_IsNull(v)) return -1;
    return dflt;
}

static const char *json_string(const cJSON *obj, const char *key) {
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(obj, key);
    return cJSON_IsString(v) ? v->valuestring : NULL;
}

/* A token written as "[CLS]" or as {"content": "[CLS]", ...}. */
static const char *token_content(const cJSON *v) {
    if (cJSON_IsString(v)) return v->valuestring;
    if (cJSON_IsObject(v)) return json_string(v, "content");
    return NULL;
}

/* ---- loading ------------------------------------------------------------- */

/* What transformers reads from tokenizer_config.json and special_tokens_map.json. */
typedef struct config_files {
    cJSON *config, *special_map;
    const cJSON *names[7];  /* bos eos unk sep pad cls mask, in transformers' order */
    const cJSON *extra;     /* additional_special_tokens / extra_special_tokens */
    const cJSON *decoder;   /* added_tokens_decoder */
} config_files;

static const char *const NAME_KEYS[7] = {"bos_token", "eos_token", "unk_token", "sep_token",
                                         "pad_token", "cls_token", "mask_token"};
static const char *const NAME_DEFAULTS[7] = {NULL, NULL, "[UNK]", "[SEP]", "[PAD]", "[CLS]", "[MASK]"};
enum { NAME_UNK = 2, NAME_SEP = 3, NAME_CLS = 5 };

static const char *config_name(const config_files *cf, int i) {
    const char *s = token_content(cf->names[i]);
    return s ? s : NAME_DEFAULTS[i];
}

static encore_status read_config(encore_tokenizer *tok, const char *dir, config_files *cf) {
    char path[4096];
    encore_status st;
    snprintf(path, sizeof path, "%s/tokenizer_config.json", dir);
    if (file_exists(path) && (st = load_json(path, &cf->config)) != ENCORE_STATUS_OK) return st;
    snprintf(path, sizeof path, "%s/special_tokens_map.json", dir);
    if (file_exists(path) && (st = load_json(path, &cf->special_map)) != ENCORE_STATUS_OK) return st;

    /* transformers builds the normalizer from these keys and their defaults,
     * whatever tokenizer.json's normalizer says. */
    encore_tokenizer_settings *s = &tok->settings;
    int v = json_flag(cf->config, "do_lower_case", 1);
    s->lowercase = v != 0;
    v = json_flag(cf->config, "tokenize_chinese_chars", 1);
    s->handle_chinese_chars = v != 0;
    s->strip_accents = json_flag(cf->config, "strip_accents", -1);
    const cJSON *m = cJSON_GetObjectItemCaseSensitive(cf->config, "model_max_length");
    if (cJSON_IsNumber(m) && m->valuedouble >= 1 && m->valuedouble <= 1e9)
        s->model_max_length = (int)m->valuedouble;

    /* special_tokens_map.json counts only when the config has no added_tokens_decoder. */
    cf->decoder = cJSON_GetObjectItemCaseSensitive(cf->config, "added_tokens_decoder");
    const cJSON *sources[2] = {cf->decoder ? NULL : cf->special_map, cf->config};
    for (int k = 0; k < 2; k++) {
        for (int i = 0; i < 7; i++)
            if (!cf->names[i] || cJSON_IsNull(cf->names[i]))
                cf->names[i] = cJSON_GetObjectItemCaseSensitive(sources[k], NAME_KEYS[i]);
        if (!cf->extra) cf->extra = cJSON_GetObjectItemCaseSensitive(sources[k], "additional_special_tokens");
        if (!cf->extra) cf->extra = cJSON_GetObjectItemCaseSensitive(sources[k], "extra_special_tokens");
    }
    return ENCORE_STATUS_OK;
}

/* AddedVocabulary::add_tokens for one token: it keeps its vocabulary id, or
 * takes a new one; a second entry with the same content replaces the first's
 * settings. v is "content" or an AddedToken object. */
static encore_status add_token(encore_tokenizer *tok, const cJSON *v, int special) {
    const char *content = token_content(v);
    if (!content || !*content) return ENCORE_STATUS_OK;
    size_t n = strlen(content);
    added_token t = {0};
    t.special = cJSON_IsObject(v) && !special ? json_flag(v, "special", 0) == 1 : special;
    t.normalized = cJSON_IsObject(v) ? json_flag(v, "normalized", !t.special) == 1 : !t.special;
    t.lstrip = cJSON_IsObject(v) && json_flag(v, "lstrip", 0) == 1;
    t.rstrip = cJSON_IsObject(v) && json_flag(v, "rstrip", 0) == 1;
    t.single_word = cJSON_IsObject(v) && json_flag(v, "single_word", 0) == 1;

    added_token *old = (added_token *)added_find(tok, content, n);
    if (old) {
        t.text = old->text;
        t.len = old->len;
        t.id = old->id;
        *old = t;
        return ENCORE_STATUS_OK;
    }
    t.id = vocab_find(tok, 0, content, n);
    if (t.id < 0) {
        /* tokenizers' choice, quirks included: the model vocabulary's size
         * (its count of distinct tokens, which a vocab.txt with duplicate
         * lines makes smaller than its last id), or past the added ids. */
        int32_t max_added = -1;
        for (int i = 0; i < tok->n_added; i++)
            if (tok->added[i].id > max_added) max_added = tok->added[i].id;
        t.id = max_added >= tok->n_vocab || (max_added >= 0 && tok->n_vocab == 0) ? max_added + 1 : tok->n_vocab;
    }
    t.text = pool_add(tok, content, n);
    t.len = (uint32_t)n;
    added_token *a = realloc(tok->added, ((size_t)tok->n_added + 1) * sizeof *a);
    if (t.text == NO_TEXT || !a || !ensure_ids(tok, t.id)) {
        if (a) tok->added = a;
        return encore_fail(ENCORE_STATUS_OUT_OF_MEMORY, "out of memory loading the tokenizer");
    }
    tok->added = a;
    tok->added[tok->n_added++] = t;
    tok->id_text[t.id] = t.text; /* id_to_token looks at the added tokens first */
    return ENCORE_STATUS_OK;
}

/* The added tokens transformers ends up with: tokenizer_config.json's
 * added_tokens_decoder, else tokenizer.json's added_tokens; then every named
 * special token not among them. */
static encore_status load_added_tokens(encore_tokenizer *tok, const config_files *cf,
                                       const cJSON *json_added) {
    encore_status st = ENCORE_STATUS_OK;
    const cJSON *v;
    const cJSON *list = cf->decoder ? cf->decoder : json_added;
    cJSON_ArrayForEach(v, list) {
        if ((st = add_token(tok, v, 0)) != ENCORE_STATUS_OK) return st;
    }
    for (int i = 0; i < 7 && st == ENCORE_STATUS_OK; i++) {
        const char *name = config_name(cf, i);
        if (name && !added_find(tok, name, strlen(name))) {
            if (cf->names[i] && !cJSON_IsNull(cf->names[i])) {
                st = add_token(tok, cf->names[i], 1);
            } else {
                cJSON *s = cJSON_CreateString(name);
                st = s ? add_token(tok, s, 1) : out_of_memory();
                cJSON_Delete(s);
            }
        }
    }
    cJSON_ArrayForEach(v, cf->extra) {
        const char *name = token_content(v);
        if (st == ENCORE_STATUS_OK && name && !added_find(tok, name, strlen(name))) st = add_token(tok, v, 1);
    }
    return st;
}

static encore_status load_vocab_txt(encore_tokenizer *tok, const char *path) {
    char *buf;
    size_t len;
    encore_status st = read_file(path, &buf, &len);
    if (st != ENCORE_STATUS_OK) return st;
    size_t bad = encore_utf8_validate(buf, len);
    if (bad < len) {
        size_t line = 1;
        for (size_t i = 0; i < bad; i++) line += buf[i] == '\n';
        free(buf);
        return encore_fail(ENCORE_STATUS_BAD_MODEL, "%s: invalid UTF-8 on line %zu", path, line);
    }
    size_t n_lines = 0;
    for (size_t i = 0; i < len; i++) n_lines += buf[i] == '\n';
    if (len > 0 && buf[len - 1] != '\n') n_lines++;
    if (n_lines > MAX_TOKEN_ID || !vocab_alloc(tok, n_lines)) {
        free(buf);
        return encore_fail(ENCORE_STATUS_BAD_MODEL, "%s: cannot hold %zu tokens", path, n_lines);
    }
    /* tokenizers' WordPiece::read_file: id = line index, each line with its
     * trailing whitespace trimmed (str::trim_end), later duplicates winning. */
    size_t start = 0;
    for (int32_t id = 0; start < len && st == ENCORE_STATUS_OK; id++) {
        const char *nl = memchr(buf + start, '\n', len - start);
        size_t end = nl ? (size_t)(nl - buf) : len;
        size_t e = end;
        while (e > start) {
            size_t b = e - 1;
            while (b > start && ((unsigned char)buf[b] & 0xC0) == 0x80) b--;
            size_t p = b;
            if (!encore_unicode_is_whitespace(encore_utf8_decode(buf, &p))) break;
            e = b;
        }
        st = vocab_insert(tok, buf + start, e - start, id);
        start = end + 1;
    }
    free(buf);
    return st;
}

static encore_status load_tokenizer_json(encore_tokenizer *tok, const char *path, const cJSON *json,
                                         const char **unk) {
    const cJSON *model = cJSON_GetObjectItemCaseSensitive(json, "model");
    const cJSON *vocab = cJSON_GetObjectItemCaseSensitive(model, "vocab");
    const char *type = json_string(model, "type");
    if (type && strcmp(type, "WordPiece") != 0)
        return encore_fail(ENCORE_STATUS_UNSUPPORTED, "%s: model type %s is not supported (only WordPiece)",
                           path, type);
    if (!cJSON_IsObject(vocab))
        return encore_fail(ENCORE_STATUS_BAD_MODEL, "%s: model.vocab is missing or not an object", path);

    const cJSON *norm = cJSON_GetObjectItemCaseSensitive(json, "normalizer");
    const char *norm_type = json_string(norm, "type");
    if (norm && !cJSON_IsNull(norm) && (!norm_type || strcmp(norm_type, "BertNormalizer") != 0))
        return encore_fail(ENCORE_STATUS_UNSUPPORTED, "%s: normalizer %s is not supported (only BertNormalizer)",
                           path, norm_type ? norm_type : "(untyped)");
    tok->settings.clean_text = json_flag(norm, "clean_text", 1) != 0;
    const cJSON *pre = cJSON_GetObjectItemCaseSensitive(json, "pre_tokenizer");
    const char *pre_type = json_string(pre, "type");
    if (pre && !cJSON_IsNull(pre) && (!pre_type || strcmp(pre_type, "BertPreTokenizer") != 0))
        return encore_fail(ENCORE_STATUS_UNSUPPORTED,
                           "%s: pre_tokenizer %s is not supported (only BertPreTokenizer)", path,
                           pre_type ? pre_type : "(untyped)");

    const cJSON *m = cJSON_GetObjectItemCaseSensitive(model, "max_input_chars_per_word");
    if (cJSON_IsNumber(m) && m->valuedouble >= 0 && m->valuedouble <= 1e9)
        tok->settings.max_input_chars_per_word = (int)m->valuedouble;
    const char *prefix = json_string(model, "continuing_subword_prefix");
    if (prefix) {
        tok->prefix = pool_add(tok, prefix, strlen(prefix));
        tok->prefix_len = (uint32_t)strlen(prefix);
        if (tok->prefix == NO_TEXT) return out_of_memory();
    }
    if (json_string(model, "unk_token")) *unk = json_string(model, "unk_token");

    if (!vocab_alloc(tok, (size_t)cJSON_GetArraySize(vocab))) return out_of_memory();
    const cJSON *v;
    cJSON_ArrayForEach(v, vocab) {
        if (!cJSON_IsNumber(v) || v->valuedouble < 0 || v->valuedouble > MAX_TOKEN_ID ||
            v->valuedouble != (double)v->valueint)
            return encore_fail(ENCORE_STATUS_BAD_MODEL, "%s: model.vocab[\"%s\"] is not a valid id", path,
                               v->string);
        encore_status st = vocab_insert(tok, v->string, strlen(v->string), v->valueint);
        if (st != ENCORE_STATUS_OK) return st;
    }
    return ENCORE_STATUS_OK;
}

static void default_template(encore_tokenizer *tok, int32_t cls, int32_t sep) {
    token_template *s = &tok->single, *p = &tok->pair;
    s->n_items = 3;
    s->n_special = 2;
    s->items[0] = (template_item){-1, cls, 0};
    s->items[1] = (template_item){0, 0, 0};
    s->items[2] = (template_item){-1, sep, 0};
    *p = *s;
    p->n_items = 5;
    p->n_special = 3;
    p->items[3] = (template_item){1, 0, 1};
    p->items[4] = (template_item){-1, sep, 1};
}

/* One list of TemplateProcessing: {"SpecialToken": {"id": "[CLS]", "type_id": 0}}
 * expands to the ids special_tokens gives it; {"Sequence": {"id": "A", ...}}. */
static encore_status parse_template(const char *path, const cJSON *list, const cJSON *specials,
                                    token_template *t, const char *what) {
    const cJSON *item;
    t->n_items = t->n_special = 0;
    cJSON_ArrayForEach(item, list) {
        const cJSON *sp = cJSON_GetObjectItemCaseSensitive(item, "SpecialToken");
        const cJSON *seq = cJSON_GetObjectItemCaseSensitive(item, "Sequence");
        const cJSON *body = sp ? sp : seq;
        const char *name = json_string(body, "id");
        const cJSON *type = cJSON_GetObjectItemCaseSensitive(body, "type_id");
        int32_t type_id = cJSON_IsNumber(type) ? type->valueint : 0;
        if (!name)
            return encore_fail(ENCORE_STATUS_BAD_MODEL, "%s: post_processor.%s has an item without an id", path,
                               what);
        if (t->n_items == MAX_TEMPLATE_ITEMS)
            return encore_fail(ENCORE_STATUS_UNSUPPORTED, "%s: post_processor.%s is too long", path, what);
        if (seq) {
            t->items[t->n_items++] = (template_item){strcmp(name, "B") == 0 ? 1 : 0, 0, type_id};
            continue;
        }
        const cJSON *ids = cJSON_GetObjectItemCaseSensitive(cJSON_GetObjectItemCaseSensitive(specials, name), "ids");
        if (!cJSON_IsArray(ids) || cJSON_GetArraySize(ids) == 0)
            return encore_fail(ENCORE_STATUS_BAD_MODEL, "%s: post_processor has no ids for special token %s",
                               path, name);
        const cJSON *id;
        cJSON_ArrayForEach(id, ids) {
            if (t->n_items == MAX_TEMPLATE_ITEMS)
                return encore_fail(ENCORE_STATUS_UNSUPPORTED, "%s: post_processor.%s is too long", path, what);
            t->items[t->n_items++] = (template_item){-1, cJSON_IsNumber(id) ? id->valueint : -1, type_id};
            t->n_special++;
        }
    }
    return ENCORE_STATUS_OK;
}

/* post_processor of tokenizer.json: TemplateProcessing or BertProcessing. */
static encore_status load_template(encore_tokenizer *tok, const char *path, const cJSON *post) {
    const char *type = json_string(post, "type");
    if (type && strcmp(type, "TemplateProcessing") == 0) {
        const cJSON *specials = cJSON_GetObjectItemCaseSensitive(post, "special_tokens");
        encore_status st = parse_template(path, cJSON_GetObjectItemCaseSensitive(post, "single"), specials,
                                          &tok->single, "single");
        if (st != ENCORE_STATUS_OK) return st;
        return parse_template(path, cJSON_GetObjectItemCaseSensitive(post, "pair"), specials, &tok->pair,
                              "pair");
    }
    if (type && strcmp(type, "BertProcessing") == 0) {
        const cJSON *cls = cJSON_GetArrayItem(cJSON_GetObjectItemCaseSensitive(post, "cls"), 1);
        const cJSON *sep = cJSON_GetArrayItem(cJSON_GetObjectItemCaseSensitive(post, "sep"), 1);
        if (!cJSON_IsNumber(cls) || !cJSON_IsNumber(sep))
            return encore_fail(ENCORE_STATUS_BAD_MODEL, "%s: BertProcessing needs cls and sep ids", path);
        default_template(tok, cls->valueint, sep->valueint);
        return ENCORE_STATUS_OK;
    }
    return encore_fail(ENCORE_STATUS_UNSUPPORTED, "%s: post_processor %s is not supported", path,
                       type ? type : "(untyped)");
}

static encore_status normalize(const encore_tokenizer *tok, norm_text *t, const char *text, size_t a,
                               size_t b);

/* Sort each pass's tokens longest pattern first (leftmost-longest matching)
 * and note the bytes that can start a pattern. Normalized tokens are matched
 * by the normalizer's output for their content. */
static encore_status prepare_added_tokens(encore_tokenizer *tok) {
    encore_status st = ENCORE_STATUS_OK;
    norm_text nt = {0};
    for (int p = 0; p < 2; p++) {
        tok->pass_tokens[p] = malloc(((size_t)tok->n_added + 1) * sizeof(int));
        if (!tok->pass_tokens[p]) return out_of_memory();
    }
    for (int i = 0; i < tok->n_added && st == ENCORE_STATUS_OK; i++) {
        added_token *a = &tok->added[i];
        a->pattern = a->text;
        a->pattern_len = a->len;
        if (a->normalized) {
            st = normalize(tok, &nt, tok->pool + a->text, 0, a->len);
            if (st != ENCORE_STATUS_OK) break;
            a->pattern = pool_add(tok, nt.utf8, (size_t)nt.pos[nt.n]);
            a->pattern_len = (uint32_t)nt.pos[nt.n];
            if (a->pattern == NO_TEXT) st = out_of_memory();
        }
        if (a->pattern_len == 0) continue;
        int p = a->normalized;
        int k = tok->n_pass_tokens[p]++;
        while (k > 0 && tok->added[tok->pass_tokens[p][k - 1]].pattern_len < a->pattern_len) {
            tok->pass_tokens[p][k] = tok->pass_tokens[p][k - 1];
            k--;
        }
        tok->pass_tokens[p][k] = i;
    }
    for (int p = 0; p < 2; p++)
        for (int k = 0; k < tok->n_pass_tokens[p]; k++)
            tok->first_byte[p][(unsigned char)tok->pool[tok->added[tok->pass_tokens[p][k]].pattern]] = 1;
    norm_free(&nt);
    return st;
}

static encore_status check_template(const encore_tokenizer *tok, const char *what) {
    const token_template *ts[2] = {&tok->single, &tok->pair};
    for (int k = 0; k < 2; k++)
        for (int i = 0; i < ts[k]->n_items; i++) {
            int32_t id = ts[k]->items[i].id;
            if (ts[k]->items[i].sequence < 0 && (id < 0 || id >= tok->n_ids || tok->id_text[id] == NO_TEXT))
                return encore_fail(ENCORE_STATUS_BAD_MODEL, "%s: special token id %d of the template is not in the vocabulary",
                                   what, (int)id);
        }
    return ENCORE_STATUS_OK;
}

static encore_status load(encore_tokenizer *tok, const char *dir, config_files *cf, cJSON **json) {
    char path[4096], vocab_path[4096];
    struct stat sb;
    if (stat(dir, &sb) != 0 || !S_ISDIR(sb.st_mode))
        return encore_fail(ENCORE_STATUS_IO_ERROR, "cannot open tokenizer directory %s: %s", dir,
                           stat(dir, &sb) != 0 ? strerror(errno) : "not a directory");
    encore_status st = read_config(tok, dir, cf);
    if (st != ENCORE_STATUS_OK) return st;

    const char *unk = config_name(cf, NAME_UNK);
    const char *source;
    snprintf(path, sizeof path, "%s/tokenizer.json", dir);
    snprintf(vocab_path, sizeof vocab_path, "%s/vocab.txt", dir);
    if (file_exists(path)) {
        source = path;
        if ((st = load_json(path, json)) != ENCORE_STATUS_OK) return st;
        if ((st = load_tokenizer_json(tok, path, *json, &unk)) != ENCORE_STATUS_OK) return st;
    } else if (file_exists(vocab_path)) {
        source = vocab_path;
        if ((st = load_vocab_txt(tok, vocab_path)) != ENCORE_STATUS_OK) return st;
    } else {
        return encore_fail(ENCORE_STATUS_IO_ERROR, "%s has neither tokenizer.json nor vocab.txt", dir);
    }
    st = load_added_tokens(tok, cf, cJSON_GetObjectItemCaseSensitive(*json, "added_tokens"));
    if (st != ENCORE_STATUS_OK) return st;

    tok->unk_id = vocab_find(tok, 0, unk, strlen(unk));
    if (tok->unk_id < 0)
        return encore_fail(ENCORE_STATUS_BAD_MODEL, "%s: the unknown token %s is not in the vocabulary", source, unk);
    const cJSON *post = cJSON_GetObjectItemCaseSensitive(*json, "post_processor");
    if (post && !cJSON_IsNull(post)) {
        if ((st = load_template(tok, path, post)) != ENCORE_STATUS_OK) return st;
    } else {
        /* vocab.txt, or no post_processor: [CLS] A [SEP] (B [SEP]) by name */
        const char *names[2] = {config_name(cf, NAME_CLS), config_name(cf, NAME_SEP)};
        int32_t ids[2];
        for (int i = 0; i < 2; i++) {
            /* transformers would give a missing one a new id past the
             * model's embeddings; refuse instead */
            ids[i] = names[i] ? vocab_find(tok, 0, names[i], strlen(names[i])) : -1;
            if (ids[i] < 0)
                return encore_fail(ENCORE_STATUS_BAD_MODEL, "%s: the special token %s is not in the vocabulary",
                                   source, names[i] ? names[i] : (i ? "sep_token" : "cls_token"));
        }
        default_template(tok, ids[0], ids[1]);
    }
    if ((st = check_template(tok, source)) != ENCORE_STATUS_OK) return st;

    tok->strip_accents = tok->settings.strip_accents < 0 ? tok->settings.lowercase : tok->settings.strip_accents;
    return prepare_added_tokens(tok);
}

encore_status encore_tokenizer_load(const char *dir, encore_tokenizer **out) {
    if (!dir || !out) return encore_fail(ENCORE_STATUS_INVALID_ARGUMENT, "encore_tokenizer_load: NULL argument");
    *out = NULL;
    encore_tokenizer *tok = calloc(1, sizeof *tok);
    if (!tok) return out_of_memory();
    tok->settings = (encore_tokenizer_settings){.clean_text = 1,
                                                .handle_chinese_chars = 1,
                                                .strip_accents = -1,
                                                .lowercase = 1,
                                                .max_input_chars_per_word = 100,
                                                .model_max_length = 0,
                                                .add_type_ids = 1};
    tok->prefix = pool_add(tok, "##", 2); /* tokenizers' default continuing_subword_prefix */
    tok->prefix_len = 2;
    config_files cf = {0};
    cJSON *json = NULL;
    encore_status st = tok->prefix == NO_TEXT ? out_of_memory() : load(tok, dir, &cf, &json);
    cJSON_Delete(cf.config);
    cJSON_Delete(cf.special_map);
    cJSON_Delete(json);
    if (st != ENCORE_STATUS_OK) {
        encore_tokenizer_free(tok);
        return st;
    }
    *out = tok;
    return ENCORE_STATUS_OK;
}

void encore_tokenizer_free(encore_tokenizer *tok) {
    if (!tok) return;
    free(tok->pool);
    free(tok->id_text);
    free(tok->slots);
    free(tok->added);
    free(tok->pass_tokens[0]);
    free(tok->pass_tokens[1]);
    free(tok);
}

const encore_tokenizer_settings *encore_tokenizer_get_settings(const encore_tokenizer *tok) {
    return &tok->settings;
}

void encore_tokenizer_set_add_type_ids(encore_tokenizer *tok, int add_type_ids) {
    tok->settings.add_type_ids = add_type_ids != 0;
}

int32_t encore_tokenizer_vocab_size(const encore_tokenizer *tok) { return tok->n_ids; }

const char *encore_tokenizer_id_to_token(const encore_tokenizer *tok, int32_t id) {
    if (id < 0 || id >= tok->n_ids || tok->id_text[id] == NO_TEXT) return NULL;
    return tok->pool + tok->id_text[id];
}

int32_t encore_tokenizer_token_to_id(const encore_tokenizer *tok, const char *token) {
    return token ? token_id(tok, token) : -1;
}

/* ---- normalizer ---------------------------------------------------------- */

/* Append c; with a combining class, move it before the marks of higher class
 * that precede it (NFD's canonical ordering), taking its added flag along. */
static void norm_push(norm_text *t, uint32_t c, int32_t start, int32_t end, uint8_t ccc, uint8_t added) {
    size_t i = t->n++;
    t->src[2 * i] = start;
    t->src[2 * i + 1] = end;
    for (; i > 0 && ccc != 0 && t->ccc[i - 1] > ccc; i--) {
        t->cp[i] = t->cp[i - 1];
        t->ccc[i] = t->ccc[i - 1];
        t->added[i] = t->added[i - 1];
    }
    t->cp[i] = c;
    t->ccc[i] = ccc;
    t->added[i] = added;
}

/* One character after clean_text and handle_chinese_chars, aligned to
 * text[s, e): decomposed when stripping accents (its source goes to in_src
 * until the segment is done), else lowercased now, lowercasing being last. */
static void norm_push_char(const encore_tokenizer *tok, norm_text *t, uint32_t c, int32_t s, int32_t e) {
    uint32_t d[ENCORE_UNICODE_MAX_DECOMPOSITION];
    int n;
    if (tok->strip_accents) {
        t->in_src[2 * t->n_in] = s;
        t->in_src[2 * t->n_in + 1] = e;
        t->n_in++;
        n = encore_unicode_decompose(c, d);
        for (int k = 0; k < n; k++)
            norm_push(t, d[k], 0, 0, (uint8_t)encore_unicode_combining_class(d[k]), k > 0);
        return;
    }
    n = tok->settings.lowercase ? encore_unicode_lowercase(c, d) : (d[0] = c, 1);
    for (int k = 0; k < n; k++) norm_push(t, d[k], s, e, 0, 0);
}

/* After NFD, which characters of text did each come from. tokenizers aligns
 * by position, not by character: the k-th character NFD kept (not added by
 * a decomposition) takes the k-th input's source, an added one the source
 * of the last input consumed. After canonical reordering the two can
 * differ: "e\u0301\U0001D165" gives U+1D165 the source of U+0301. */
static void align_decomposed(norm_text *t) {
    size_t k = 0;
    for (size_t i = 0; i < t->n; i++) {
        size_t from = t->added[i] ? k - (k > 0) : k++;
        t->src[2 * i] = k > 0 ? t->in_src[2 * from] : 0;
        t->src[2 * i + 1] = k > 0 ? t->in_src[2 * from + 1] : 0;
    }
}

/* BertNormalizer over text[a, b) (valid UTF-8) into t. */
static encore_status normalize(const encore_tokenizer *tok, norm_text *t, const char *text, size_t a,
                               size_t b) {
    const encore_tokenizer_settings *s = &tok->settings;
    t->n = t->n_in = 0;
    if (!norm_reserve(t, 0)) return out_of_memory();
    for (size_t p = a; p < b;) {
        int32_t start = (int32_t)p;
        uint32_t c = encore_utf8_decode(text, &p);
        if (s->clean_text) {
            if (c == 0 || c == 0xFFFD || encore_unicode_is_control(c)) continue;
            if (encore_unicode_is_whitespace(c)) c = ' ';
        }
        if (!norm_reserve(t, t->n + 3 * ENCORE_UNICODE_MAX_DECOMPOSITION)) return out_of_memory();
        if (s->handle_chinese_chars && encore_unicode_is_chinese(c)) {
            norm_push_char(tok, t, ' ', start, (int32_t)p);
            norm_push_char(tok, t, c, start, (int32_t)p);
            norm_push_char(tok, t, ' ', start, (int32_t)p);
        } else {
            norm_push_char(tok, t, c, start, (int32_t)p);
        }
    }
    if (tok->strip_accents) {
        /* Drop the nonspacing marks, then lowercase: 1:1 once decomposed,
         * as U+0130, the one char that lowercases to two, is now I U+0307. */
        align_decomposed(t);
        size_t n = 0;
        for (size_t i = 0; i < t->n; i++) {
            if (encore_unicode_is_nonspacing_mark(t->cp[i])) continue;
            uint32_t l[2] = {t->cp[i], 0};
            if (s->lowercase) encore_unicode_lowercase(t->cp[i], l);
            t->cp[n] = l[0];
            t->src[2 * n] = t->src[2 * i];
            t->src[2 * n + 1] = t->src[2 * i + 1];
            n++;
        }
        t->n = n;
    }
    if (!grow((void **)&t->utf8, &t->utf8_cap, 4 * t->n + 1, 1)) return out_of_memory();
    int32_t at = 0;
    for (size_t i = 0; i < t->n; i++) {
        t->pos[i] = at;
        at += encore_utf8_encode(t->cp[i], t->utf8 + at);
    }
    t->pos[t->n] = at;
    return ENCORE_STATUS_OK;
}

/* ---- added tokens -------------------------------------------------------- */

/* Where the char that ends at s[at] starts (at > 0). */
static size_t char_start_before(const char *s, size_t at) {
    size_t b = at - 1;
    while (b > 0 && ((unsigned char)s[b] & 0xC0) == 0x80) b--;
    return b;
}

/* The code point that ends at s[at] (at > 0), and the one at s[at] (at < len). */
static uint32_t char_before(const char *s, size_t at) {
    size_t b = char_start_before(s, at);
    return encore_utf8_decode(s, &b);
}

static uint32_t char_at(const char *s, size_t at) { return encore_utf8_decode(s, &at); }

/* AddedVocabulary::find_matches: the added tokens of one pass in s[0, len),
 * leftmost-longest and non-overlapping, with single_word, lstrip and rstrip. */
static encore_status find_added(const encore_tokenizer *tok, int pass, const char *s, size_t len,
                                match_list *out) {
    out->n = 0;
    size_t prev_stop = 0;
    const int *cand = tok->pass_tokens[pass];
    int n_cand = tok->n_pass_tokens[pass];
    for (size_t from = 0; n_cand > 0 && from < len;) {
        const added_token *hit = NULL;
        size_t start = from;
        for (; start < len; start++) {
            if (!tok->first_byte[pass][(unsigned char)s[start]]) continue;
            for (int k = 0; k < n_cand && !hit; k++) {
                const added_token *t = &tok->added[cand[k]];
                if (t->pattern_len <= len - start &&
                    memcmp(s + start, tok->pool + t->pattern, t->pattern_len) == 0)
                    hit = t;
            }
            if (hit) break;
        }
        if (!hit) break;
        size_t stop = start + hit->pattern_len;
        from = stop; /* the search goes on after the match, even one set aside */
        if (hit->single_word && ((start > 0 && encore_unicode_is_word(char_before(s, start))) ||
                                 (stop < len && encore_unicode_is_word(char_at(s, stop)))))
            continue;
        if (hit->lstrip) {
            size_t b = start;
            while (b > 0 && encore_unicode_is_whitespace(char_before(s, b))) b = char_start_before(s, b);
            start = b > prev_stop ? b : prev_stop;
        }
        if (hit->rstrip) {
            while (stop < len && encore_unicode_is_whitespace(char_at(s, stop))) {
                size_t p = stop;
                encore_utf8_decode(s, &p);
                stop = p;
            }
        }
        encore_status st = push_match(out, start, stop, hit->id);
        if (st != ENCORE_STATUS_OK) return st;
        prev_stop = stop;
    }
    return ENCORE_STATUS_OK;
}

/* ---- pre-tokenizer and WordPiece ----------------------------------------- */

/* WordPiece over the word t[a, b): greedy longest match from the left, the
 * continuing prefix on all but the first piece, the unknown token for the
 * whole word when it is too long or any part of it matches nothing. */
static encore_status wordpiece(const encore_tokenizer *tok, const norm_text *t, size_t a, size_t b,
                               piece_list *out) {
    int32_t word_start = t->src[2 * a], word_end = t->src[2 * (b - 1) + 1];
    if (b - a > (size_t)tok->settings.max_input_chars_per_word)
        return push_piece(out, tok->unk_id, word_start, word_end);
    size_t first = out->n;
    for (size_t s = a; s < b;) {
        int32_t id = -1;
        size_t e = b;
        for (; e > s; e--) {
            id = vocab_find(tok, s > a, t->utf8 + t->pos[s], (size_t)(t->pos[e] - t->pos[s]));
            if (id >= 0) break;
        }
        if (id < 0) {
            out->n = first;
            return push_piece(out, tok->unk_id, word_start, word_end);
        }
        encore_status st = push_piece(out, id, t->src[2 * s], t->src[2 * (e - 1) + 1]);
        if (st != ENCORE_STATUS_OK) return st;
        s = e;
    }
    return ENCORE_STATUS_OK;
}

/* BertPreTokenizer over t[a, b): whitespace separates words and is dropped,
 * each punctuation character is a word of its own. */
static encore_status pretokenize(const encore_tokenizer *tok, const norm_text *t, size_t a, size_t b,
                                 piece_list *out) {
    encore_status st = ENCORE_STATUS_OK;
    size_t w = a;
    for (size_t i = a; i < b && st == ENCORE_STATUS_OK; i++) {
        uint32_t c = t->cp[i];
        int space = encore_unicode_is_whitespace(c);
        if (!space && !encore_unicode_is_punctuation(c)) continue;
        if (w < i) st = wordpiece(tok, t, w, i, out);
        if (!space && st == ENCORE_STATUS_OK) st = wordpiece(tok, t, i, i + 1, out);
        w = i + 1;
    }
    if (w < b && st == ENCORE_STATUS_OK) st = wordpiece(tok, t, w, b, out);
    return st;
}

/* Index of the char that starts at byte off of the normalized text. */
static size_t char_index(const norm_text *t, size_t off) {
    size_t lo = 0, hi = t->n;
    while (lo < hi) {
        size_t mid = (lo + hi) / 2;
        if ((size_t)t->pos[mid] < off) lo = mid + 1;
        else hi = mid;
    }
    return lo;
}

/* text[a, b), free of raw added tokens: normalize, split out the normalized
 * added tokens, pre-tokenize and WordPiece the rest. */
static encore_status encode_segment(const encore_tokenizer *tok, scratch *sc, const char *text, size_t a,
                                    size_t b, piece_list *out) {
    norm_text *t = &sc->norm;
    encore_status st = normalize(tok, t, text, a, b);
    if (st != ENCORE_STATUS_OK || t->n == 0) return st;
    if ((st = find_added(tok, 1, t->utf8, (size_t)t->pos[t->n], &sc->normalized)) != ENCORE_STATUS_OK)
        return st;
    size_t c = 0;
    for (size_t i = 0; i < sc->normalized.n && st == ENCORE_STATUS_OK; i++) {
        const match *m = &sc->normalized.v[i];
        size_t ca = char_index(t, m->start), cb = char_index(t, m->stop);
        if (c < ca) st = pretokenize(tok, t, c, ca, out);
        if (st == ENCORE_STATUS_OK && ca < cb)
            st = push_piece(out, m->id, t->src[2 * ca], t->src[2 * (cb - 1) + 1]);
        c = cb;
    }
    if (c < t->n && st == ENCORE_STATUS_OK) st = pretokenize(tok, t, c, t->n, out);
    return st;
}

static encore_status encode_text(const encore_tokenizer *tok, scratch *sc, const char *text, size_t len,
                                 piece_list *out) {
    out->n = 0;
    encore_status st = find_added(tok, 0, text, len, &sc->raw);
    size_t p = 0;
    for (size_t i = 0; i < sc->raw.n && st == ENCORE_STATUS_OK; i++) {
        const match *m = &sc->raw.v[i];
        if (p < m->start) st = encode_segment(tok, sc, text, p, m->start, out);
        if (st == ENCORE_STATUS_OK) st = push_piece(out, m->id, (int32_t)m->start, (int32_t)m->stop);
        p = m->stop;
    }
    if (p < len && st == ENCORE_STATUS_OK) st = encode_segment(tok, sc, text, p, len, out);
    return st;
}

/* ---- truncation, template, result ---------------------------------------- */

/* tokenizers' truncate_encodings, strategy longest_first, to budget tokens. */
static void truncate_lengths(size_t *n1, size_t *n2, int has_pair, size_t budget) {
    if (*n1 + *n2 <= budget) return;
    if (!has_pair) {
        *n1 = budget;
        return;
    }
    size_t a = *n1, b = *n2;
    int swap = a > b;
    if (swap) a = *n2, b = *n1;
    /* a is the shorter: keep it whole if the longer still gets as much */
    b = a > budget ? a : (a > budget - a ? a : budget - a);
    if (a + b > budget) {
        a = budget / 2;
        b = a + budget % 2;
    }
    if (swap) {
        size_t x = a;
        a = b;
        b = x;
    }
    if (a < *n1) *n1 = a;
    if (b < *n2) *n2 = b;
}

void encore_encoding_free(encore_encoding *encoding) { free(encoding); }

static encore_status check_text(const char *text, const char *what, size_t *len) {
    *len = strlen(text);
    size_t bad = encore_utf8_validate(text, *len);
    if (bad < *len)
        return encore_fail(ENCORE_STATUS_BAD_INPUT, "invalid UTF-8 in the %s at byte offset %zu (byte 0x%02X)",
                           what, bad, (unsigned)(unsigned char)text[bad]);
    if (*len > INT32_MAX / 4)
        return encore_fail(ENCORE_STATUS_BAD_INPUT, "the %s is too large to tokenize (%zu bytes)", what, *len);
    return ENCORE_STATUS_OK;
}

encore_status encore_tokenizer_encode(const encore_tokenizer *tok, const char *text, const char *pair,
                                      int32_t max_len, encore_encoding **out) {
    if (out) *out = NULL;
    if (!tok || !text || !out)
        return encore_fail(ENCORE_STATUS_INVALID_ARGUMENT, "encore_tokenizer_encode: %s is NULL",
                           !tok ? "the tokenizer" : !text ? "the text" : "the output pointer");
    const token_template *tmpl = pair && *pair ? &tok->pair : &tok->single;
    if (max_len < 0 || (max_len > 0 && max_len < tmpl->n_special))
        return encore_fail(ENCORE_STATUS_INVALID_ARGUMENT,
                           "max_len %d leaves no room for the %d special tokens", (int)max_len, tmpl->n_special);
    size_t len[2] = {0, 0};
    encore_status st = check_text(text, "text", &len[0]);
    if (st == ENCORE_STATUS_OK && pair) st = check_text(pair, "text pair", &len[1]);
    if (st != ENCORE_STATUS_OK) return st;
    /* transformers tokenizes one input with an empty text_pair as a single
     * text (`[(text, text_pair)] if text_pair else [text]`). */
    if (pair && !*pair) pair = NULL;

    scratch sc = {0};
    st = encode_text(tok, &sc, text, len[0], &sc.seq[0]);
    if (st == ENCORE_STATUS_OK && pair) st = encode_text(tok, &sc, pair, len[1], &sc.seq[1]);
    if (st != ENCORE_STATUS_OK) {
        scratch_free(&sc);
        return st;
    }
    size_t keep[2] = {sc.seq[0].n, sc.seq[1].n};
    if (max_len > 0) truncate_lengths(&keep[0], &keep[1], pair != NULL, (size_t)(max_len - tmpl->n_special));

    size_t n = 0;
    for (int i = 0; i < tmpl->n_items; i++)
        n += tmpl->items[i].sequence < 0 ? 1 : keep[tmpl->items[i].sequence];
    /* One block: the struct, then ids (n), type_ids (n), offsets (n, 2). */
    encore_encoding *enc = malloc(sizeof *enc + 4 * n * sizeof(int32_t));
    if (!enc) {
        scratch_free(&sc);
        return out_of_memory();
    }
    enc->n_tokens = (int32_t)n;
    enc->ids = (int32_t *)(enc + 1);
    enc->type_ids = enc->ids + n;
    enc->offsets = enc->type_ids + n;
    size_t k = 0;
    for (int i = 0; i < tmpl->n_items; i++) {
        const template_item *it = &tmpl->items[i];
        if (it->sequence < 0) {
            enc->ids[k] = it->id;
            enc->type_ids[k] = it->type_id;
            enc->offsets[2 * k] = enc->offsets[2 * k + 1] = 0;
            k++;
            continue;
        }
        for (size_t j = 0; j < keep[it->sequence]; j++, k++) {
            const piece *p = &sc.seq[it->sequence].v[j];
            enc->ids[k] = p->id;
            enc->type_ids[k] = it->type_id;
            enc->offsets[2 * k] = p->start;
            enc->offsets[2 * k + 1] = p->end;
        }
    }
    scratch_free(&sc);
    *out = enc;
    return ENCORE_STATUS_OK;
}
