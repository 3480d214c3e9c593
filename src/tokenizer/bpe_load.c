/* bpe_load.c: loading a byte-level BPE model (RoBERTa's) the way tokenizers
 * 0.23 does: from tokenizer.json's model, pre_tokenizer and normalizer, or
 * from the vocab.json + merges.txt of a slow-tokenizer directory
 * (BPE::read_file). Whatever tokenizers would refuse (a merge naming a
 * token the vocabulary lacks) is refused here too, and so are the settings
 * encore does not implement (dropout, byte_fallback, subword affixes, other
 * normalizers and pre-tokenizers), each named in the error. */
#include "tokenizer/tokenizer_internal.h"

#include "core/common.h"
#include "core/utf8.h"

#include <errno.h>
#include <math.h>
#include <stdio.h>

#define MAX_TOKEN_ID (1 << 24) /* as tokenizer.c: ids past this are a broken file */
#define MAX_MERGES (1 << 24)

static const char *json_type(const cJSON *v) {
    const cJSON *t = cJSON_GetObjectItemCaseSensitive(v, "type");
    return cJSON_IsString(t) ? t->valuestring : NULL;
}

/* A boolean field: 1/0, dflt when absent or null. */
static int json_bool(const cJSON *obj, const char *key, int dflt) {
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(obj, key);
    return cJSON_IsBool(v) ? cJSON_IsTrue(v) : dflt;
}

static encore_status load_vocab(encore_tokenizer *tok, const char *path, const cJSON *vocab, const char *what) {
    if (!cJSON_IsObject(vocab))
        return encore_fail(ENCORE_STATUS_BAD_MODEL, "%s: %s is missing or not an object", path, what);
    if (!encore_tok_vocab_alloc(tok, (size_t)cJSON_GetArraySize(vocab))) return tok_out_of_memory();
    const cJSON *v;
    cJSON_ArrayForEach(v, vocab) {
        if (!cJSON_IsNumber(v) || !(v->valuedouble >= 0) || v->valuedouble > MAX_TOKEN_ID ||
            v->valuedouble != floor(v->valuedouble))
            return encore_fail(ENCORE_STATUS_BAD_MODEL, "%s: %s[\"%s\"] is not a valid id", path, what, v->string);
        encore_status st = encore_tok_vocab_insert(tok, v->string, strlen(v->string), (int32_t)v->valuedouble);
        if (st != ENCORE_STATUS_OK) return st;
    }
    return ENCORE_STATUS_OK;
}

/* The merges, in rank order: each "a b" or ["a", "b"]. */
typedef struct merge_text {
    const char *a, *b;
    size_t na, nb;
} merge_text;

static encore_status add_merges(encore_tokenizer *tok, const char *path, const merge_text *m, size_t n) {
    if (n > MAX_MERGES) return encore_fail(ENCORE_STATUS_BAD_MODEL, "%s: %zu merges are too many", path, n);
    size_t cap = 16;
    while (cap < 2 * n) cap *= 2;
    tok->merges = malloc(cap * sizeof *tok->merges);
    if (!tok->merges) return tok_out_of_memory();
    for (size_t i = 0; i < cap; i++) tok->merges[i].a = -1;
    tok->merge_mask = (uint32_t)(cap - 1);
    char *joined = NULL;
    size_t joined_cap = 0;
    encore_status st = ENCORE_STATUS_OK;
    for (size_t r = 0; r < n && st == ENCORE_STATUS_OK; r++) {
        const int32_t a = tok_vocab_find(tok, 0, m[r].a, m[r].na), b = tok_vocab_find(tok, 0, m[r].b, m[r].nb);
        if (!tok_grow((void **)&joined, &joined_cap, m[r].na + m[r].nb + 1, 1)) {
            st = tok_out_of_memory();
            break;
        }
        memcpy(joined, m[r].a, m[r].na);
        memcpy(joined + m[r].na, m[r].b, m[r].nb);
        joined[m[r].na + m[r].nb] = '\0';
        const int32_t id = tok_vocab_find(tok, 0, joined, m[r].na + m[r].nb);
        if (a < 0 || b < 0 || id < 0) {
            /* tokenizers: MergeTokenOutOfVocabulary */
            const int which = a < 0 ? 0 : b < 0 ? 1 : 2;
            const char *t = which == 0 ? m[r].a : which == 1 ? m[r].b : joined;
            const int len = (int)(which == 0 ? m[r].na : which == 1 ? m[r].nb : m[r].na + m[r].nb);
            st = encore_fail(ENCORE_STATUS_BAD_MODEL, "%s: merge %zu (\"%.*s\" \"%.*s\") %s \"%.*s\", which is not in "
                             "the vocabulary", path, r + 1, (int)m[r].na, m[r].a, (int)m[r].nb, m[r].b,
                             which == 2 ? "makes" : "names", len > 200 ? 200 : len, t);
            break;
        }
        /* collected into a HashMap: a later duplicate wins */
        uint32_t h = ((uint32_t)a * 0x9E3779B1u) ^ ((uint32_t)b * 0x85EBCA77u);
        h ^= h >> 15;
        for (uint32_t i = h & tok->merge_mask;; i = (i + 1) & tok->merge_mask) {
            bpe_merge *slot = &tok->merges[i];
            if (slot->a < 0 || (slot->a == a && slot->b == b)) {
                *slot = (bpe_merge){a, b, (uint32_t)r, id};
                break;
            }
        }
    }
    free(joined);
    return st;
}

/* Split "a b" at its one space (tokenizers: exactly two parts). */
static int split_merge(const char *s, size_t n, merge_text *out) {
    const char *sp = memchr(s, ' ', n);
    if (!sp || memchr(sp + 1, ' ', n - (size_t)(sp + 1 - s))) return 0;
    *out = (merge_text){s, sp + 1, (size_t)(sp - s), n - (size_t)(sp + 1 - s)};
    return 1;
}

static encore_status load_json_merges(encore_tokenizer *tok, const char *path, const cJSON *merges) {
    if (!merges || cJSON_IsNull(merges)) return add_merges(tok, path, NULL, 0);
    if (!cJSON_IsArray(merges))
        return encore_fail(ENCORE_STATUS_BAD_MODEL, "%s: model.merges is not a list", path);
    const size_t n = (size_t)cJSON_GetArraySize(merges);
    merge_text *m = malloc((n + 1) * sizeof *m);
    if (!m) return tok_out_of_memory();
    size_t k = 0, i = 0;
    const cJSON *v;
    cJSON_ArrayForEach(v, merges) {
        i++;
        if (cJSON_IsString(v)) {
            if (strncmp(v->valuestring, "#version", 8) == 0) continue;
            if (split_merge(v->valuestring, strlen(v->valuestring), &m[k])) {
                k++;
                continue;
            }
        } else if (cJSON_IsArray(v) && cJSON_GetArraySize(v) == 2 && cJSON_IsString(cJSON_GetArrayItem(v, 0)) &&
                   cJSON_IsString(cJSON_GetArrayItem(v, 1))) {
            const char *a = cJSON_GetArrayItem(v, 0)->valuestring, *b = cJSON_GetArrayItem(v, 1)->valuestring;
            m[k++] = (merge_text){a, b, strlen(a), strlen(b)};
            continue;
        }
        free(m);
        return encore_fail(ENCORE_STATUS_BAD_MODEL,
                           "%s: model.merges[%zu] is neither \"a b\" nor [\"a\", \"b\"]", path, i - 1);
    }
    encore_status st = add_merges(tok, path, m, k);
    free(m);
    return st;
}

/* The id of each byte's byte char, the symbols BPE starts from. */
static void byte_table(encore_tokenizer *tok) {
    for (unsigned b = 0; b < 256; b++) {
        unsigned c = b;
        if (!((b >= 0x21 && b <= 0x7E) || (b >= 0xA1 && b <= 0xAC) || b >= 0xAE))
            c = b <= 0x20 ? 0x100 + b : b <= 0xA0 ? 0x100 + 33 + (b - 0x7F) : 0x100 + 67;
        char s[4];
        const int n = encore_utf8_encode(c, s);
        tok->byte_id[b] = tok_vocab_find(tok, 0, s, (size_t)n);
    }
}

static encore_status unsupported(const char *path, const char *what) {
    return encore_fail(ENCORE_STATUS_UNSUPPORTED, "%s: %s is not supported with a byte-level BPE model", path, what);
}

/* ByteLevel pre-tokenizer, alone or the one step of a Sequence. */
static encore_status load_pre_tokenizer(encore_tokenizer *tok, const char *path, const cJSON *pre) {
    const char *type = json_type(pre);
    if (type && strcmp(type, "Sequence") == 0) {
        const cJSON *list = cJSON_GetObjectItemCaseSensitive(pre, "pretokenizers");
        if (cJSON_GetArraySize(list) == 1) return load_pre_tokenizer(tok, path, cJSON_GetArrayItem(list, 0));
        return unsupported(path, "a pre_tokenizer Sequence of other than one ByteLevel");
    }
    if (!type || strcmp(type, "ByteLevel") != 0) {
        char what[160];
        snprintf(what, sizeof what, "pre_tokenizer %s (only ByteLevel)", type ? type : "null");
        return unsupported(path, what);
    }
    tok->add_prefix_space = json_bool(pre, "add_prefix_space", 1);
    tok->use_regex = json_bool(pre, "use_regex", 1);
    return ENCORE_STATUS_OK;
}

/* An affix of a subword: only "" or null. */
static int no_affix(const cJSON *model, const char *key) {
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(model, key);
    return !v || cJSON_IsNull(v) || (cJSON_IsString(v) && v->valuestring[0] == '\0');
}

encore_status encore_bpe_load_json(encore_tokenizer *tok, const char *path, const cJSON *json) {
    const cJSON *model = cJSON_GetObjectItemCaseSensitive(json, "model");
    tok->model = TOK_BPE;
    const cJSON *norm = cJSON_GetObjectItemCaseSensitive(json, "normalizer");
    if (norm && !cJSON_IsNull(norm)) {
        char what[160];
        snprintf(what, sizeof what, "normalizer %s", json_type(norm) ? json_type(norm) : "(untyped)");
        return unsupported(path, what);
    }
    encore_status st = load_pre_tokenizer(tok, path, cJSON_GetObjectItemCaseSensitive(json, "pre_tokenizer"));
    if (st != ENCORE_STATUS_OK) return st;

    const cJSON *dropout = cJSON_GetObjectItemCaseSensitive(model, "dropout");
    if (dropout && !cJSON_IsNull(dropout) && !(cJSON_IsNumber(dropout) && dropout->valuedouble == 0))
        return unsupported(path, "BPE dropout");
    if (json_bool(model, "byte_fallback", 0)) return unsupported(path, "BPE byte_fallback");
    if (!no_affix(model, "continuing_subword_prefix")) return unsupported(path, "a BPE continuing_subword_prefix");
    if (!no_affix(model, "end_of_word_suffix")) return unsupported(path, "a BPE end_of_word_suffix");
    tok->fuse_unk = json_bool(model, "fuse_unk", 0);
    tok->ignore_merges = json_bool(model, "ignore_merges", 0);

    const cJSON *decoder = cJSON_GetObjectItemCaseSensitive(json, "decoder");
    const char *dtype = json_type(decoder);
    if (decoder && !cJSON_IsNull(decoder) && (!dtype || strcmp(dtype, "ByteLevel") != 0)) {
        char what[160];
        snprintf(what, sizeof what, "decoder %s (only ByteLevel)", dtype ? dtype : "(untyped)");
        return unsupported(path, what);
    }
    tok->byte_decoder = decoder && !cJSON_IsNull(decoder);

    if ((st = load_vocab(tok, path, cJSON_GetObjectItemCaseSensitive(model, "vocab"), "model.vocab")) !=
        ENCORE_STATUS_OK)
        return st;
    if ((st = load_json_merges(tok, path, cJSON_GetObjectItemCaseSensitive(model, "merges"))) != ENCORE_STATUS_OK)
        return st;
    const cJSON *unk = cJSON_GetObjectItemCaseSensitive(model, "unk_token");
    tok->bpe_unk = -1;
    if (cJSON_IsString(unk)) {
        tok->bpe_unk = tok_vocab_find(tok, 0, unk->valuestring, strlen(unk->valuestring));
        if (tok->bpe_unk < 0)
            return encore_fail(ENCORE_STATUS_BAD_MODEL, "%s: the BPE unk_token %s is not in the vocabulary", path,
                               unk->valuestring);
    }
    byte_table(tok);
    return ENCORE_STATUS_OK;
}

encore_status encore_bpe_load_files(encore_tokenizer *tok, const char *vocab_path, const char *merges_path) {
    tok->model = TOK_BPE;
    tok->use_regex = 1;
    tok->byte_decoder = 1;
    tok->bpe_unk = -1;
    size_t len;
    errno = 0;
    char *buf = encore_read_file(vocab_path, &len);
    if (!buf)
        return encore_fail(errno == ENOMEM ? ENCORE_STATUS_OUT_OF_MEMORY : ENCORE_STATUS_IO_ERROR,
                           "cannot read %s: %s", vocab_path, errno ? strerror(errno) : "read error");
    size_t bad = encore_utf8_validate(buf, len);
    cJSON *vocab = bad == len ? cJSON_ParseWithLength(buf, len) : NULL;
    free(buf);
    if (!vocab)
        return encore_fail(ENCORE_STATUS_BAD_MODEL, "%s is not valid JSON%s", vocab_path,
                           bad < len ? " (invalid UTF-8)" : "");
    /* BPE::read_file keeps the entries whose value is a number */
    cJSON *v = vocab->child;
    while (v) {
        cJSON *next = v->next;
        if (!cJSON_IsNumber(v)) cJSON_Delete(cJSON_DetachItemViaPointer(vocab, v));
        v = next;
    }
    encore_status st = load_vocab(tok, vocab_path, vocab, "the vocabulary");
    cJSON_Delete(vocab);
    if (st != ENCORE_STATUS_OK) return st;

    errno = 0;
    buf = encore_read_file(merges_path, &len);
    if (!buf)
        return encore_fail(errno == ENOMEM ? ENCORE_STATUS_OUT_OF_MEMORY : ENCORE_STATUS_IO_ERROR,
                           "cannot read %s: %s", merges_path, errno ? strerror(errno) : "read error");
    if (encore_utf8_validate(buf, len) < len) {
        free(buf);
        return encore_fail(ENCORE_STATUS_BAD_MODEL, "%s: invalid UTF-8", merges_path);
    }
    size_t n_lines = 1;
    for (size_t i = 0; i < len; i++) n_lines += buf[i] == '\n';
    merge_text *m = malloc(n_lines * sizeof *m);
    if (!m) {
        free(buf);
        return tok_out_of_memory();
    }
    /* BufRead::lines: split at \n, a \r before it dropped, no empty last
     * line; "#version" lines skipped, every other "a b" exactly. */
    size_t k = 0, line = 0;
    for (size_t start = 0; start < len && st == ENCORE_STATUS_OK;) {
        const char *nl = memchr(buf + start, '\n', len - start);
        size_t end = nl ? (size_t)(nl - buf) : len, e = end;
        line++;
        if (nl && e > start && buf[e - 1] == '\r') e--;
        if (!(e - start >= 8 && memcmp(buf + start, "#version", 8) == 0)) {
            if (split_merge(buf + start, e - start, &m[k])) k++;
            else st = encore_fail(ENCORE_STATUS_BAD_MODEL, "%s: line %zu is not a merge \"a b\"", merges_path, line);
        }
        start = end + 1;
    }
    if (st == ENCORE_STATUS_OK) st = add_merges(tok, merges_path, m, k);
    free(m);
    free(buf);
    if (st == ENCORE_STATUS_OK) byte_table(tok);
    return st;
}
