/* tokenizer.c: loading a tokenizer from a model directory the way
 * transformers does: BERT's WordPiece from tokenizer.json, else vocab.txt;
 * RoBERTa's byte-level BPE from tokenizer.json, else vocab.json + merges.txt
 * (the BPE model itself: bpe_load.c); with tokenizer_config.json and
 * special_tokens_map.json; then the lookups and decoding. Encoding is in
 * tokenizer_encode.c (BPE's: bpe.c); what they share, in
 * tokenizer_internal.h. */
#include "tokenizer/tokenizer_internal.h"

#include "tokenizer/unicode.h"

#include <cjson/cJSON.h>
#include <errno.h>
#include <stdio.h>
#include <sys/stat.h>

#define MAX_TOKEN_ID (1 << 24) /* ids past this are a broken file, not a vocabulary */

/* ---- vocabulary ---------------------------------------------------------- */

/* Append a string to the pool; NO_TEXT when out of memory. */
static uint32_t pool_add(encore_tokenizer *tok, const char *s, size_t n) {
    if (tok->pool_len + n + 1 >= NO_TEXT) return NO_TEXT;
    if (!tok_grow((void **)&tok->pool, &tok->pool_cap, tok->pool_len + n + 1, 1)) return NO_TEXT;
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

int encore_tok_vocab_alloc(encore_tokenizer *tok, size_t n_entries) {
    size_t n = 16;
    while (n < 2 * n_entries) n *= 2;
    tok->slots = malloc(n * sizeof *tok->slots);
    if (!tok->slots) return 0;
    for (size_t i = 0; i < n; i++) tok->slots[i].id = -1;
    tok->mask = (uint32_t)(n - 1);
    return 1;
}

/* Add a model vocabulary entry; a later duplicate wins, as in a Rust HashMap
 * filled in file order. The table must have room (vocab_alloc). */
encore_status encore_tok_vocab_insert(encore_tokenizer *tok, const char *s, size_t n, int32_t id) {
    vocab_slot *slot = tok_vocab_slot(tok, 0, s, n);
    if (slot->id >= 0) {
        if (tok->id_text[slot->id] == slot->text) tok->id_text[slot->id] = NO_TEXT;
    } else {
        slot->text = pool_add(tok, s, n);
        if (slot->text == NO_TEXT) return tok_out_of_memory();
        slot->hash = tok_fnv1a(TOK_FNV_SEED, s, n);
        slot->len = (uint32_t)n;
        tok->n_vocab++;
        if (n > tok->max_token_len) tok->max_token_len = n;
    }
    if (!ensure_ids(tok, id)) return tok_out_of_memory();
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
    return a ? a->id : tok_vocab_find(tok, 0, s, n);
}

/* ---- files --------------------------------------------------------------- */

static int file_exists(const char *path) {
    struct stat st;
    return stat(path, &st) == 0 && S_ISREG(st.st_mode);
}

static encore_status read_file(const char *path, char **out, size_t *len) {
    errno = 0;
    *out = encore_read_file(path, len);
    if (!*out)
        return encore_fail(errno == ENOMEM ? ENCORE_STATUS_OUT_OF_MEMORY : ENCORE_STATUS_IO_ERROR,
                           "cannot read %s: %s", path, errno ? strerror(errno) : "read error");
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
    if (!*out)
        return encore_fail(ENCORE_STATUS_BAD_MODEL, "%s is not valid JSON (error near byte %ld)", path, at);
    return ENCORE_STATUS_OK;
}

/* A boolean field: 1/0, dflt when absent, -1 when null. */
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
    const char *const *defaults; /* the names when the files give none: BERT's, or RoBERTa's for BPE */
} config_files;

static const char *const NAME_KEYS[7] = {"bos_token", "eos_token", "unk_token", "sep_token",
                                         "pad_token", "cls_token", "mask_token"};
static const char *const NAME_DEFAULTS[7] = {NULL, NULL, "[UNK]", "[SEP]", "[PAD]", "[CLS]", "[MASK]"};
/* RobertaTokenizer's defaults */
static const char *const BPE_NAME_DEFAULTS[7] = {"<s>", "</s>", "<unk>", "</s>", "<pad>", "<s>", "<mask>"};
enum { NAME_BOS = 0, NAME_EOS = 1, NAME_UNK = 2, NAME_SEP = 3, NAME_CLS = 5 };

static const char *config_name(const config_files *cf, int i) {
    const char *s = token_content(cf->names[i]);
    return s ? s : (cf->defaults ? cf->defaults : NAME_DEFAULTS)[i];
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
 * settings. v is "content" or an AddedToken object; a named special token
 * (unk_token, ...) is special whatever v says. */
static encore_status add_token(encore_tokenizer *tok, const cJSON *v, int named_special) {
    const char *content = token_content(v);
    if (!content || !*content) return ENCORE_STATUS_OK;
    size_t n = strlen(content);
    added_token t = {0};
    t.special = named_special || (cJSON_IsObject(v) && json_flag(v, "special", 0) == 1);
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
    t.id = tok_vocab_find(tok, 0, content, n);
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
                st = s ? add_token(tok, s, 1) : tok_out_of_memory();
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
    if (n_lines > MAX_TOKEN_ID || !encore_tok_vocab_alloc(tok, n_lines)) {
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
            if (!encore_unicode_is_whitespace(encore_utf8_next(buf, &p))) break;
            e = b;
        }
        st = encore_tok_vocab_insert(tok, buf + start, e - start, id);
        start = end + 1;
    }
    free(buf);
    return st;
}

static encore_status load_tokenizer_json(encore_tokenizer *tok, const char *path, const cJSON *json,
                                         int class_pipeline, const char **unk) {
    const cJSON *model = cJSON_GetObjectItemCaseSensitive(json, "model");
    const cJSON *vocab = cJSON_GetObjectItemCaseSensitive(model, "vocab");
    const char *type = json_string(model, "type");
    if (type && strcmp(type, "BPE") == 0) return encore_bpe_load_json(tok, path, json);
    if (type && strcmp(type, "Unigram") == 0) return encore_unigram_load_json(tok, path, json, class_pipeline);
    if (type && strcmp(type, "WordPiece") != 0)
        return encore_fail(ENCORE_STATUS_UNSUPPORTED,
                           "%s: model type %s is not supported (only WordPiece, BPE and Unigram)", path, type);
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
        if (tok->prefix == NO_TEXT) return tok_out_of_memory();
    }
    if (json_string(model, "unk_token")) *unk = json_string(model, "unk_token");

    if (!encore_tok_vocab_alloc(tok, (size_t)cJSON_GetArraySize(vocab))) return tok_out_of_memory();
    const cJSON *v;
    cJSON_ArrayForEach(v, vocab) {
        if (!cJSON_IsNumber(v) || v->valuedouble < 0 || v->valuedouble > MAX_TOKEN_ID ||
            v->valuedouble != (double)v->valueint)
            return encore_fail(ENCORE_STATUS_BAD_MODEL, "%s: model.vocab[\"%s\"] is not a valid id", path,
                               v->string);
        encore_status st = encore_tok_vocab_insert(tok, v->string, strlen(v->string), v->valueint);
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

/* RobertaProcessing: <s> A </s> (</s> B </s>), every type id 0. */
static void roberta_template(encore_tokenizer *tok, int32_t cls, int32_t sep) {
    default_template(tok, cls, sep);
    token_template *p = &tok->pair;
    p->n_items = 6;
    p->n_special = 4;
    p->items[3] = (template_item){-1, sep, 0};
    p->items[4] = (template_item){1, 0, 0};
    p->items[5] = (template_item){-1, sep, 0};
}

/* post_processor of tokenizer.json: TemplateProcessing, BertProcessing,
 * RobertaProcessing, ByteLevel (offsets trimmed, no special tokens), or a
 * Sequence of them. */
static encore_status load_template(encore_tokenizer *tok, const char *path, const cJSON *post) {
    const char *type = json_string(post, "type");
    if (type && strcmp(type, "Sequence") == 0) {
        const cJSON *item;
        cJSON_ArrayForEach(item, cJSON_GetObjectItemCaseSensitive(post, "processors")) {
            encore_status st = load_template(tok, path, item);
            if (st != ENCORE_STATUS_OK) return st;
        }
        return ENCORE_STATUS_OK;
    }
    if (type && (strcmp(type, "ByteLevel") == 0 || strcmp(type, "RobertaProcessing") == 0)) {
        tok->trim_offsets = json_flag(post, "trim_offsets", 1) != 0;
        tok->trim_prefix_space = json_flag(post, "add_prefix_space", 1) == 1;
        if (type[0] == 'B') {
            /* no special tokens: A (B, type id 1) */
            tok->single = (token_template){.items = {{0, 0, 0}}, .n_items = 1};
            tok->pair = (token_template){.items = {{0, 0, 0}, {1, 0, 1}}, .n_items = 2};
            return ENCORE_STATUS_OK;
        }
        const cJSON *cls = cJSON_GetArrayItem(cJSON_GetObjectItemCaseSensitive(post, "cls"), 1);
        const cJSON *sep = cJSON_GetArrayItem(cJSON_GetObjectItemCaseSensitive(post, "sep"), 1);
        if (!cJSON_IsNumber(cls) || !cJSON_IsNumber(sep))
            return encore_fail(ENCORE_STATUS_BAD_MODEL, "%s: RobertaProcessing needs cls and sep ids", path);
        roberta_template(tok, cls->valueint, sep->valueint);
        return ENCORE_STATUS_OK;
    }
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

static _Thread_local const encore_tokenizer *sort_tokens;

static int longest_first(const void *x, const void *y) {
    const int a = *(const int *)x, b = *(const int *)y;
    const uint32_t la = sort_tokens->added[a].pattern_len, lb = sort_tokens->added[b].pattern_len;
    if (la != lb) return la > lb ? -1 : 1;
    return a < b ? -1 : a > b;
}

/* Sort each pass's tokens longest pattern first (leftmost-longest matching)
 * and note the bytes that can start a pattern. Normalized tokens are matched
 * by the normalizer's output for their content. */
static encore_status prepare_added_tokens(encore_tokenizer *tok) {
    encore_status st = ENCORE_STATUS_OK;
    norm_text nt = {0};
    unigram_scratch *us = NULL;
    for (int p = 0; p < 2; p++) {
        tok->pass_tokens[p] = malloc(((size_t)tok->n_added + 1) * sizeof(int));
        if (!tok->pass_tokens[p]) return tok_out_of_memory();
    }
    for (int i = 0; i < tok->n_added && st == ENCORE_STATUS_OK; i++) {
        added_token *a = &tok->added[i];
        a->pattern = a->text;
        a->pattern_len = a->len;
        if (a->normalized && tok->model == TOK_WORDPIECE) { /* BPE: no normalizer */
            st = encore_tok_normalize(tok, &nt, tok->pool + a->text, 0, a->len);
            if (st != ENCORE_STATUS_OK) break;
            a->pattern = pool_add(tok, nt.utf8, (size_t)nt.pos[nt.n]);
            a->pattern_len = (uint32_t)nt.pos[nt.n];
            if (a->pattern == NO_TEXT) st = tok_out_of_memory();
        } else if (a->normalized && tok->model == TOK_UNIGRAM) {
            const char *norm;
            size_t len;
            /* the content is in the pool, which pool_add may move */
            char *content = malloc(a->len + 1);
            if (!content) {
                st = tok_out_of_memory();
                break;
            }
            memcpy(content, tok->pool + a->text, a->len);
            st = encore_unigram_normalize(tok, &us, content, 0, a->len, &norm, &len);
            if (st == ENCORE_STATUS_OK) {
                a->pattern = pool_add(tok, norm, len);
                a->pattern_len = (uint32_t)len;
                if (a->pattern == NO_TEXT) st = tok_out_of_memory();
            }
            free(content);
            if (st != ENCORE_STATUS_OK) break;
        }
        if (a->pattern_len == 0) continue;
        int p = a->normalized;
        tok->pass_tokens[p][tok->n_pass_tokens[p]++] = i;
    }
    /* Longest pattern first, in file order among equals (a stable sort, in
     * n log n: a tokenizer file may list a million added tokens). */
    sort_tokens = tok;
    for (int p = 0; p < 2 && st == ENCORE_STATUS_OK; p++)
        qsort(tok->pass_tokens[p], (size_t)tok->n_pass_tokens[p], sizeof(int), longest_first);
    for (int p = 0; p < 2; p++)
        for (int k = 0; k < tok->n_pass_tokens[p]; k++)
            tok->first_byte[p][(unsigned char)tok->pool[tok->added[tok->pass_tokens[p][k]].pattern]] = 1;
    encore_tok_norm_free(&nt);
    encore_unigram_scratch_free(us);
    return st;
}

static encore_status check_template(const encore_tokenizer *tok, const char *what) {
    const token_template *ts[2] = {&tok->single, &tok->pair};
    for (int k = 0; k < 2; k++)
        for (int i = 0; i < ts[k]->n_items; i++) {
            int32_t id = ts[k]->items[i].id;
            if (ts[k]->items[i].sequence < 0 && (id < 0 || id >= tok->n_ids || tok->id_text[id] == NO_TEXT))
                return encore_fail(ENCORE_STATUS_BAD_MODEL,
                                   "%s: the template's special token id %d is not in the vocabulary", what, (int)id);
        }
    return ENCORE_STATUS_OK;
}

/* The ids of the special tokens named a and b (NAME_*), from the added
 * tokens and the model (or the model alone); a missing one is refused. */
static encore_status named_ids(const encore_tokenizer *tok, const config_files *cf, const char *source, int a, int b,
                               int model_only, int32_t ids[2]) {
    const int which[2] = {a, b};
    for (int i = 0; i < 2; i++) {
        const char *name = config_name(cf, which[i]);
        ids[i] = !name ? -1 : model_only ? tok_vocab_find(tok, 0, name, strlen(name)) : token_id(tok, name);
        if (ids[i] < 0)
            return encore_fail(ENCORE_STATUS_BAD_MODEL, "%s: the special token %s is not in the vocabulary", source,
                               name ? name : NAME_KEYS[which[i]]);
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
    char bpe_vocab[4096], bpe_merges[4096];
    snprintf(path, sizeof path, "%s/tokenizer.json", dir);
    snprintf(vocab_path, sizeof vocab_path, "%s/vocab.txt", dir);
    snprintf(bpe_vocab, sizeof bpe_vocab, "%s/vocab.json", dir);
    snprintf(bpe_merges, sizeof bpe_merges, "%s/merges.txt", dir);
    /* Without tokenizer.json: RoBERTa's slow-tokenizer files when the
     * config names a RobertaTokenizer, or when there is no vocab.txt. */
    const char *cls_name = json_string(cf->config, "tokenizer_class");
    const int roberta = cls_name && strncmp(cls_name, "Roberta", 7) == 0;
    /* transformers 5 rebuilds a SentencePiece tokenizer in its class's own
     * way, from the file's pieces and charsmap: XLMRobertaTokenizer's is
     * emulated; the file is taken as it is only without a class of its own.
     * DebertaV2Tokenizer keeps only the pieces: the file's normalizer,
     * pre-tokenizer and decoder are not even read. */
    const int xlmr = cls_name && strncmp(cls_name, "XLMRobertaTokenizer", 19) == 0;
    const int deberta = cls_name && strncmp(cls_name, "DebertaV2Tokenizer", 18) == 0;
    if (file_exists(path)) {
        source = path;
        if ((st = load_json(path, json)) != ENCORE_STATUS_OK) return st;
        if ((st = load_tokenizer_json(tok, path, *json, deberta, &unk)) != ENCORE_STATUS_OK) return st;
    } else if (file_exists(bpe_vocab) && file_exists(bpe_merges) && (roberta || !file_exists(vocab_path))) {
        if (cls_name && !roberta)
            return encore_fail(ENCORE_STATUS_UNSUPPORTED,
                               "%s: tokenizer_class %s is not supported without tokenizer.json (only "
                               "RobertaTokenizer)", dir, cls_name);
        source = bpe_vocab;
        if ((st = encore_bpe_load_files(tok, bpe_vocab, bpe_merges)) != ENCORE_STATUS_OK) return st;
        /* transformers' RobertaTokenizer: ByteLevel(add_prefix_space) and
         * RobertaProcessing(trim_offsets, add_prefix_space) from the config */
        tok->add_prefix_space = json_flag(cf->config, "add_prefix_space", 0) == 1;
        tok->trim_offsets = json_flag(cf->config, "trim_offsets", 1) != 0;
        tok->trim_prefix_space = tok->add_prefix_space;
    } else if (file_exists(vocab_path)) {
        /* MPNetTokenizer's template and <mask> come from its class, which
         * encore reads only as tokenizer.json writes them */
        if (cls_name && strncmp(cls_name, "MPNet", 5) == 0)
            return encore_fail(ENCORE_STATUS_UNSUPPORTED,
                               "%s: tokenizer_class %s is supported with tokenizer.json only (save the tokenizer "
                               "with transformers to write one)", dir, cls_name);
        source = vocab_path;
        if ((st = load_vocab_txt(tok, vocab_path)) != ENCORE_STATUS_OK) return st;
    } else {
        return encore_fail(ENCORE_STATUS_IO_ERROR, "%s has neither tokenizer.json nor vocab.txt (nor vocab.json and "
                           "merges.txt)", dir);
    }
    if (tok->model == TOK_UNIGRAM) {
        if (xlmr) {
            st = encore_unigram_as_xlm_roberta(tok, source, json_flag(cf->config, "add_prefix_space", 1) != 0);
            if (st != ENCORE_STATUS_OK) return st;
        } else if (deberta) {
            /* its Lowercase and Punctuation steps are not implemented */
            if (json_flag(cf->config, "do_lower_case", 0) == 1 || json_flag(cf->config, "split_by_punct", 0) == 1)
                return encore_fail(ENCORE_STATUS_UNSUPPORTED,
                                   "%s: DebertaV2Tokenizer with do_lower_case or split_by_punct is not supported",
                                   dir);
            st = encore_unigram_as_deberta_v2(tok, source, json_flag(cf->config, "add_prefix_space", 1) != 0);
            if (st != ENCORE_STATUS_OK) return st;
        } else if (cls_name && strcmp(cls_name, "PreTrainedTokenizerFast") != 0 &&
                   strcmp(cls_name, "TokenizersBackend") != 0) {
            return encore_fail(ENCORE_STATUS_UNSUPPORTED,
                               "%s: tokenizer_class %s is not supported with a Unigram model (only "
                               "XLMRobertaTokenizer, DebertaV2Tokenizer, or none)", dir, cls_name);
        }
    }
    if (tok->model == TOK_BPE || tok->model == TOK_UNIGRAM) {
        /* no BertNormalizer: the BERT settings read from the config do nothing */
        tok->settings.clean_text = tok->settings.handle_chinese_chars = tok->settings.lowercase = 0;
        tok->settings.strip_accents = 0;
        cf->defaults = BPE_NAME_DEFAULTS;
        unk = config_name(cf, NAME_UNK);
        tok->decode_cleanup = json_flag(cf->config, "clean_up_tokenization_spaces", 0) == 1;
    }
    st = load_added_tokens(tok, cf, cJSON_GetObjectItemCaseSensitive(*json, "added_tokens"));
    if (st != ENCORE_STATUS_OK) return st;

    tok->unk_id = tok->model == TOK_UNIGRAM ? encore_unigram_unk_id(tok)
                  : unk                     ? tok_vocab_find(tok, 0, unk, strlen(unk))
                                            : -1;
    if (tok->unk_id < 0 && tok->model == TOK_WORDPIECE)
        return encore_fail(ENCORE_STATUS_BAD_MODEL, "%s: the unknown token %s is not in the vocabulary", source,
                           unk);
    const cJSON *post = cJSON_GetObjectItemCaseSensitive(*json, "post_processor");
    int32_t ids[2];
    if (tok->model == TOK_UNIGRAM && xlmr) {
        /* XLMRobertaTokenizer's own template: bos A eos (eos B eos) */
        if ((st = named_ids(tok, cf, source, NAME_BOS, NAME_EOS, 0, ids)) != ENCORE_STATUS_OK) return st;
        tok->trim_offsets = 0;
        roberta_template(tok, ids[0], ids[1]);
    } else if (post && !cJSON_IsNull(post)) {
        if ((st = load_template(tok, path, post)) != ENCORE_STATUS_OK) return st;
    } else if (tok->model == TOK_BPE || tok->model == TOK_UNIGRAM) {
        /* transformers' RobertaTokenizer sets RobertaProcessing from the
         * names, XLMRobertaTokenizer the same template */
        if ((st = named_ids(tok, cf, source, NAME_CLS, NAME_SEP, 0, ids)) != ENCORE_STATUS_OK) return st;
        tok->trim_offsets = json_flag(cf->config, "trim_offsets", 1) != 0;
        tok->trim_prefix_space = json_flag(cf->config, "add_prefix_space", 0) == 1;
        roberta_template(tok, ids[0], ids[1]);
    } else {
        /* vocab.txt, or no post_processor: [CLS] A [SEP] (B [SEP]) by name,
         * from the model vocabulary (transformers would give a missing one
         * a new id past the model's embeddings; refused instead) */
        if ((st = named_ids(tok, cf, source, NAME_CLS, NAME_SEP, 1, ids)) != ENCORE_STATUS_OK) return st;
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
    if (!tok) return tok_out_of_memory();
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
    encore_status st = tok->prefix == NO_TEXT ? tok_out_of_memory() : load(tok, dir, &cf, &json);
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
    free(tok->merges);
    encore_unigram_free(tok->unigram);
    free(tok);
}

const encore_tokenizer_settings *encore_tokenizer_get_settings(const encore_tokenizer *tok) {
    return &tok->settings;
}

void encore_tokenizer_set_add_type_ids(encore_tokenizer *tok, int add_type_ids) {
    tok->settings.add_type_ids = add_type_ids != 0;
}

int32_t encore_tokenizer_vocab_size(const encore_tokenizer *tok) { return tok->n_ids; }

int encore_tokenizer_has_subword_prefix(const encore_tokenizer *tok) { return tok->model == TOK_WORDPIECE; }

const char *encore_tokenizer_id_to_token(const encore_tokenizer *tok, int32_t id) {
    if (id < 0 || id >= tok->n_ids || tok->id_text[id] == NO_TEXT) return NULL;
    return tok->pool + tok->id_text[id];
}

int encore_tokenizer_is_special(const encore_tokenizer *tok, int32_t id) {
    for (int i = 0; i < tok->n_added; i++)
        if (tok->added[i].id == id) return tok->added[i].special;
    return 0;
}

/* Replace each from[r] in t[0, n) by to[r], rule after rule over the whole
 * text; every replacement is no longer than what it replaces. Returns the
 * new length. */
static size_t replace_all(char *t, size_t n, const char *const *from, const char *const *to, size_t rules) {
    for (size_t r = 0; r < rules; r++) {
        const size_t fl = strlen(from[r]), tl = strlen(to[r]);
        size_t w = 0;
        for (size_t i = 0; i < n;) {
            if (i + fl <= n && memcmp(t + i, from[r], fl) == 0) {
                memmove(t + w, to[r], tl);
                w += tl;
                i += fl;
            } else {
                t[w++] = t[i++];
            }
        }
        n = w;
    }
    return n;
}

/* tokenizers' WordPiece decoder's cleanup, applied to each token with the
 * space put before it. */
static size_t cleanup(char *t, size_t n) {
    static const char *const from[] = {" .", " ?", " !", " ,", " ' ", " n't", " 'm", " do not", " 's", " 've", " 're"};
    static const char *const to[] = {".", "?", "!", ",", "'", "n't", "'m", " don't", "'s", "'ve", "'re"};
    return replace_all(t, n, from, to, sizeof from / sizeof *from);
}

/* transformers' clean_up_tokenization, on a whole decoded text. */
static size_t cleanup_text(char *t, size_t n) {
    static const char *const from[] = {" .", " ?", " !", " ,", " ' ", " n't", " 'm", " 's", " 've", " 're"};
    static const char *const to[] = {".", "?", "!", ",", "'", "n't", "'m", "'s", "'ve", "'re"};
    return replace_all(t, n, from, to, sizeof from / sizeof *from);
}

/* tokenizers' decode for a BPE tokenizer: the ByteLevel decoder over the
 * tokens (or, with no decoder, the tokens joined with spaces), invalid UTF-8
 * replaced, then transformers' cleanup when the config asks for it. A
 * Unigram tokenizer's the same way, with its Metaspace decoder. */
static size_t bpe_decode(const encore_tokenizer *tok, const char *const *tokens, int n_tokens, char *buf,
                         size_t cap) {
    char *raw = NULL, *fixed = NULL;
    size_t len = 0, raw_cap = 0;
    int ok = 1;
    if (tok->model == TOK_UNIGRAM) ok = encore_unigram_decode(tok, tokens, n_tokens, &raw, &len, &raw_cap);
    for (int i = 0; i < n_tokens && ok && tok->model != TOK_UNIGRAM; i++) {
        const size_t n = strlen(tokens[i]);
        if (tok->byte_decoder) {
            ok = encore_bpe_decode_bytes(tokens[i], n, &raw, &len, &raw_cap);
        } else if ((ok = tok_grow((void **)&raw, &raw_cap, len + n + 2, 1))) {
            if (i > 0) raw[len++] = ' ';
            memcpy(raw + len, tokens[i], n);
            len += n;
        }
    }
    if (ok && len > 0) ok = (fixed = malloc(3 * len)) != NULL;
    if (!ok) {
        free(raw);
        return SIZE_MAX;
    }
    if (len > 0) len = encore_bpe_fix_utf8(raw, len, fixed);
    if (tok->decode_cleanup) len = cleanup_text(fixed, len);
    for (size_t k = 0; k < len && k + 1 < cap; k++) buf[k] = fixed[k];
    if (cap) buf[len < cap ? len : cap - 1] = '\0';
    free(raw);
    free(fixed);
    return len;
}

size_t encore_tokenizer_decode(const encore_tokenizer *tok, const int32_t *ids, int n_ids, int skip_special,
                               char *buf, size_t cap) {
    if (tok->model == TOK_BPE || tok->model == TOK_UNIGRAM) {
        const char **tokens = malloc(((size_t)(n_ids > 0 ? n_ids : 0) + 1) * sizeof *tokens);
        if (!tokens) return SIZE_MAX;
        int n = 0;
        for (int i = 0; i < n_ids; i++) {
            const char *t = encore_tokenizer_id_to_token(tok, ids[i]);
            if (t && !(skip_special && encore_tokenizer_is_special(tok, ids[i]))) tokens[n++] = t;
        }
        size_t len = bpe_decode(tok, tokens, n, buf, cap);
        free(tokens);
        return len;
    }
    const char *prefix = tok->prefix_len ? tok->pool + tok->prefix : "##";
    const size_t prefix_len = tok->prefix_len ? tok->prefix_len : 2;
    size_t len = 0;
    int first = 1;
    char piece[1024];
    for (int i = 0; i < n_ids; i++) {
        const char *t = encore_tokenizer_id_to_token(tok, ids[i]);
        if (!t || (skip_special && encore_tokenizer_is_special(tok, ids[i]))) continue;
        size_t n = 0;
        if (!first && strncmp(t, prefix, prefix_len) == 0) t += prefix_len;
        else if (!first) piece[n++] = ' ';
        first = 0;
        size_t tl = strlen(t);
        if (tl > sizeof piece - n) tl = sizeof piece - n; /* tokens are far shorter */
        memcpy(piece + n, t, tl);
        n = cleanup(piece, n + tl);
        for (size_t k = 0; k < n; k++, len++)
            if (len + 1 < cap) buf[len] = piece[k];
    }
    if (cap) buf[len < cap ? len : cap - 1] = '\0';
    return len;
}

size_t encore_tokenizer_decode_tokens(const encore_tokenizer *tok, const char *const *tokens, int n_tokens,
                                      char *buf, size_t cap) {
    if (tok->model == TOK_BPE || tok->model == TOK_UNIGRAM) return bpe_decode(tok, tokens, n_tokens, buf, cap);
    const char *prefix = tok->prefix_len ? tok->pool + tok->prefix : "##";
    const size_t prefix_len = tok->prefix_len ? tok->prefix_len : 2;
    size_t len = 0, piece_cap = 0;
    char *piece = NULL;
    for (int i = 0; i < n_tokens; i++) {
        const char *t = tokens[i];
        size_t n = 0;
        if (i > 0 && strncmp(t, prefix, prefix_len) == 0) t += prefix_len;
        const size_t tl = strlen(t);
        if (tl + 2 > piece_cap) {
            char *p = realloc(piece, tl + 2);
            if (!p) {
                free(piece);
                return SIZE_MAX;
            }
            piece = p;
            piece_cap = tl + 2;
        }
        if (i > 0 && t == tokens[i]) piece[n++] = ' ';
        memcpy(piece + n, t, tl);
        n = cleanup(piece, n + tl);
        for (size_t k = 0; k < n; k++, len++)
            if (len + 1 < cap) buf[len] = piece[k];
    }
    free(piece);
    if (cap) buf[len < cap ? len : cap - 1] = '\0';
    return len;
}

int32_t encore_tokenizer_unk_id(const encore_tokenizer *tok) { return tok->unk_id; }

int32_t encore_tokenizer_token_to_id(const encore_tokenizer *tok, const char *token) {
    return token ? token_id(tok, token) : -1;
}

