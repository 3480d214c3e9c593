/* unigram.c: SentencePiece Unigram tokenizers (XLM-RoBERTa's and its kin),
 * token for token and offset for offset what Hugging Face tokenizers 0.23
 * gives from a tokenizer.json:
 *
 *   normalizer     Precompiled (SentencePiece's compiled character map, e.g.
 *                  nmt_nfkc), Replace, Strip, alone or in a Sequence
 *   pre-tokenizer  Metaspace: ' ' becomes U+2581, one is put before the
 *                  text, and the text is split before each
 *   model          Unigram: the path of pieces with the highest summed
 *                  log-probability (Viterbi), a character no piece covers
 *                  unknown, runs of unknowns fused into one token
 *   decoder        Metaspace
 *
 * Offsets: every normalized character keeps the byte range in the caller's
 * text that tokenizers' NormalizedString aligns it with. Those alignments
 * follow tokenizers' transform() to the letter, quirks included (a
 * character the charsmap removes at the very start of a text shifts the
 * alignments of the characters after it by one), since the offsets of
 * NER and question answering come from them.
 *
 * Whatever a tokenizer.json asks for that is not implemented here (byte
 * fallback, other normalizers and pre-tokenizers, a Replace regex other than
 * " {2,}" and DeBERTa-v2's "\s{2,}|[\n\r\t]") is refused by name when it is loaded. Crafted files give a status:
 * the charsmap's trie is bounds-checked at every step. */
#include "tokenizer/tokenizer_internal.h"

#include "core/utf8.h"
#include "tokenizer/grapheme.h"
#include "tokenizer/unicode.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <utf8proc.h>

#define MAX_TOKEN_ID (1 << 24)
#define MAX_STEPS 16
#define METASPACE 0x2581u /* ▁ */

enum { STEP_PRECOMPILED, STEP_REPLACE, STEP_STRIP, STEP_NFC };
enum { PREPEND_ALWAYS, PREPEND_FIRST, PREPEND_NEVER };

typedef struct norm_step {
    int kind;
    /* Replace: a literal pattern, or (spaces) the regex " {2,}" */
    char *from, *to;
    size_t from_len, to_len;
    int spaces;
    int left, right; /* Strip */
} norm_step;

struct unigram_model {
    double *score;     /* (n_pieces) by id */
    int32_t n_pieces;
    double unk_score;  /* tokenizers: the lowest piece score - 10 */
    int32_t unk_id;    /* -1: none */
    /* Precompiled: the double-array trie (darts-clone units) and the
     * NUL-separated replacements it points into */
    uint32_t *trie;
    size_t trie_n;
    char *repl;
    size_t repl_len;
    norm_step steps[MAX_STEPS];
    int n_steps;
    /* pre-tokenizer: WhitespaceSplit, then Metaspace */
    int whitespace_split;
    int metaspace;
    uint32_t replacement;
    int prepend;       /* PREPEND_* */
    int split;
    /* Metaspace decoder */
    int decoder;       /* 0: tokens joined with spaces */
    uint32_t dec_replacement;
    int dec_prepend;
};

/* ---- loading ------------------------------------------------------------- */

static const char *json_str(const cJSON *obj, const char *key) {
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(obj, key);
    return cJSON_IsString(v) ? v->valuestring : NULL;
}

static int json_bool(const cJSON *obj, const char *key, int dflt) {
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(obj, key);
    return cJSON_IsBool(v) ? cJSON_IsTrue(v) : dflt;
}

static int b64_value(unsigned char c) {
    if (c >= 'A' && c <= 'Z') return c - 'A';
    if (c >= 'a' && c <= 'z') return c - 'a' + 26;
    if (c >= '0' && c <= '9') return c - '0' + 52;
    if (c == '+') return 62;
    if (c == '/') return 63;
    return -1;
}

/* Standard base64 with padding, as serde writes the charsmap; NULL on a
 * malformed string. */
static unsigned char *b64_decode(const char *s, size_t *out_len) {
    const size_t n = strlen(s);
    if (n % 4 != 0) return NULL;
    unsigned char *out = malloc(n / 4 * 3 + 1);
    if (!out) return NULL;
    size_t k = 0;
    for (size_t i = 0; i < n; i += 4) {
        int v[4];
        for (int j = 0; j < 4; j++) {
            v[j] = s[i + j] == '=' && i + 4 == n && j >= 2 ? -2 : b64_value((unsigned char)s[i + j]);
            if (v[j] == -1 || (j == 3 && v[2] == -2 && v[3] != -2)) {
                free(out);
                return NULL;
            }
        }
        out[k++] = (unsigned char)(v[0] << 2 | v[1] >> 4);
        if (v[2] != -2) out[k++] = (unsigned char)((v[1] & 15) << 4 | v[2] >> 2);
        if (v[3] != -2) out[k++] = (unsigned char)((v[2] & 3) << 6 | v[3]);
    }
    *out_len = k;
    return out;
}

/* spm_precompiled's layout: u32 (little-endian) byte size of the trie, the
 * trie's u32 units, then the replacements (valid UTF-8). */
static encore_status load_charsmap(unigram_model *u, const char *path, const char *b64) {
    size_t len = 0;
    unsigned char *raw = b64_decode(b64, &len);
    if (!raw) return encore_fail(ENCORE_STATUS_BAD_MODEL, "%s: the Precompiled charsmap is not valid base64", path);
    encore_status st = ENCORE_STATUS_OK;
    const size_t size = len >= 4 ? (size_t)raw[0] | (size_t)raw[1] << 8 | (size_t)raw[2] << 16 | (size_t)raw[3] << 24 : 0;
    if (len < 4 || size % 4 != 0 || size > len - 4) {
        st = encore_fail(ENCORE_STATUS_BAD_MODEL, "%s: the Precompiled charsmap's trie size %zu does not fit its "
                         "%zu bytes", path, size, len);
    } else if (encore_utf8_validate((const char *)raw + 4 + size, len - 4 - size) < len - 4 - size) {
        st = encore_fail(ENCORE_STATUS_BAD_MODEL, "%s: the Precompiled charsmap's replacements are not valid UTF-8",
                         path);
    } else {
        u->trie_n = size / 4;
        u->repl_len = len - 4 - size;
        u->trie = malloc((u->trie_n + 1) * sizeof *u->trie);
        u->repl = malloc(u->repl_len + 1);
        if (!u->trie || !u->repl) {
            st = tok_out_of_memory();
        } else {
            for (size_t i = 0; i < u->trie_n; i++) {
                const unsigned char *p = raw + 4 + 4 * i;
                u->trie[i] = (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24;
            }
            memcpy(u->repl, raw + 4 + size, u->repl_len);
            u->repl[u->repl_len] = '\0';
        }
    }
    free(raw);
    return st;
}

static encore_status add_step(unigram_model *u, const char *path, const cJSON *n);

static encore_status load_normalizer(unigram_model *u, const char *path, const cJSON *n) {
    if (!n || cJSON_IsNull(n)) return ENCORE_STATUS_OK;
    const char *type = json_str(n, "type");
    if (type && strcmp(type, "Sequence") == 0) {
        const cJSON *item;
        cJSON_ArrayForEach(item, cJSON_GetObjectItemCaseSensitive(n, "normalizers")) {
            encore_status st = load_normalizer(u, path, item);
            if (st != ENCORE_STATUS_OK) return st;
        }
        return ENCORE_STATUS_OK;
    }
    return add_step(u, path, n);
}

static encore_status add_step(unigram_model *u, const char *path, const cJSON *n) {
    const char *type = json_str(n, "type");
    if (u->n_steps == MAX_STEPS)
        return encore_fail(ENCORE_STATUS_UNSUPPORTED, "%s: more than %d normalizers", path, MAX_STEPS);
    norm_step *s = &u->steps[u->n_steps];
    if (type && strcmp(type, "Precompiled") == 0) {
        const char *map = json_str(n, "precompiled_charsmap");
        if (!map) return encore_fail(ENCORE_STATUS_BAD_MODEL, "%s: Precompiled has no precompiled_charsmap", path);
        if (u->trie)
            return encore_fail(ENCORE_STATUS_UNSUPPORTED, "%s: more than one Precompiled normalizer", path);
        encore_status st = load_charsmap(u, path, map);
        if (st != ENCORE_STATUS_OK) return st;
        s->kind = STEP_PRECOMPILED;
    } else if (type && strcmp(type, "Replace") == 0) {
        const cJSON *pattern = cJSON_GetObjectItemCaseSensitive(n, "pattern");
        const char *lit = json_str(pattern, "String"), *re = json_str(pattern, "Regex");
        const char *content = json_str(n, "content");
        if (!content || (!lit && !re))
            return encore_fail(ENCORE_STATUS_BAD_MODEL, "%s: Replace needs a pattern and a content", path);
        /* transformers 4's SentencePiece converters: " {2,}"; transformers
         * 5's DeBERTa-v2 tokenizer: "\s{2,}|[\n\r\t]" */
        static const char deberta_re[] = "\\s{2,}|[\\n\\r\\t]";
        if (re && strcmp(re, " {2,}") != 0 && strcmp(re, deberta_re) != 0)
            return encore_fail(ENCORE_STATUS_UNSUPPORTED, "%s: Replace with the regex \"%.100s\" is not supported "
                               "(only \" {2,}\" and \"%s\")", path, re, deberta_re);
        if (lit && !*lit) return encore_fail(ENCORE_STATUS_UNSUPPORTED, "%s: Replace with an empty pattern", path);
        s->kind = STEP_REPLACE;
        s->spaces = !re ? 0 : strcmp(re, " {2,}") == 0 ? 1 : 2;
        s->from_len = lit ? strlen(lit) : 0;
        s->to_len = strlen(content);
        s->from = lit ? strdup(lit) : NULL;
        s->to = strdup(content);
        if ((lit && !s->from) || !s->to) return tok_out_of_memory();
    } else if (type && strcmp(type, "NFC") == 0) {
        s->kind = STEP_NFC;
    } else if (type && strcmp(type, "Strip") == 0) {
        s->kind = STEP_STRIP;
        s->left = json_bool(n, "strip_left", 0);
        s->right = json_bool(n, "strip_right", 0);
    } else {
        return encore_fail(ENCORE_STATUS_UNSUPPORTED, "%s: normalizer %s is not supported with a Unigram model (only "
                           "Precompiled, Replace, NFC and Strip)", path, type ? type : "(untyped)");
    }
    u->n_steps++;
    return ENCORE_STATUS_OK;
}

/* The one character of a replacement setting. */
static encore_status one_char(const char *path, const char *what, const char *s, uint32_t *out) {
    size_t p = 0, n = s ? strlen(s) : 0;
    if (n > 0 && encore_utf8_validate(s, n) == n) {
        *out = encore_utf8_next(s, &p);
        if (p == n) return ENCORE_STATUS_OK;
    }
    return encore_fail(ENCORE_STATUS_BAD_MODEL, "%s: %s.replacement must be one character", path, what);
}

static encore_status prepend_scheme(const char *path, const char *what, const cJSON *m, int *out) {
    const char *scheme = json_str(m, "prepend_scheme");
    if (!scheme) {
        /* tokenizers before prepend_scheme: add_prefix_space */
        *out = json_bool(m, "add_prefix_space", 1) ? PREPEND_ALWAYS : PREPEND_NEVER;
        return ENCORE_STATUS_OK;
    }
    if (strcmp(scheme, "always") == 0) *out = PREPEND_ALWAYS;
    else if (strcmp(scheme, "first") == 0) *out = PREPEND_FIRST;
    else if (strcmp(scheme, "never") == 0) *out = PREPEND_NEVER;
    else return encore_fail(ENCORE_STATUS_BAD_MODEL, "%s: %s.prepend_scheme \"%.50s\"", path, what, scheme);
    return ENCORE_STATUS_OK;
}

/* Metaspace, WhitespaceSplit, or a Sequence of WhitespaceSplit then Metaspace. */
static encore_status load_pre_tokenizer(unigram_model *u, const char *path, const cJSON *p, int depth) {
    if (!p || cJSON_IsNull(p)) return ENCORE_STATUS_OK;
    const char *type = json_str(p, "type");
    if (type && strcmp(type, "Sequence") == 0 && depth == 0) {
        const cJSON *item;
        cJSON_ArrayForEach(item, cJSON_GetObjectItemCaseSensitive(p, "pretokenizers")) {
            if (u->metaspace)
                return encore_fail(ENCORE_STATUS_UNSUPPORTED, "%s: a pre-tokenizer after Metaspace is not supported",
                                   path);
            encore_status st = load_pre_tokenizer(u, path, item, 1);
            if (st != ENCORE_STATUS_OK) return st;
        }
        return ENCORE_STATUS_OK;
    }
    if (type && strcmp(type, "WhitespaceSplit") == 0 && !u->whitespace_split) {
        u->whitespace_split = 1;
        return ENCORE_STATUS_OK;
    }
    if (!type || strcmp(type, "Metaspace") != 0)
        return encore_fail(ENCORE_STATUS_UNSUPPORTED, "%s: pre_tokenizer %s is not supported with a Unigram model "
                           "(only WhitespaceSplit and Metaspace)", path, type ? type : "(untyped)");
    encore_status st = one_char(path, "pre_tokenizer", json_str(p, "replacement"), &u->replacement);
    if (st == ENCORE_STATUS_OK) st = prepend_scheme(path, "pre_tokenizer", p, &u->prepend);
    u->metaspace = 1;
    u->split = json_bool(p, "split", 1);
    return st;
}

static encore_status load_decoder(unigram_model *u, const char *path, const cJSON *d) {
    if (!d || cJSON_IsNull(d)) return ENCORE_STATUS_OK;
    const char *type = json_str(d, "type");
    if (type && strcmp(type, "Sequence") == 0) {
        const cJSON *list = cJSON_GetObjectItemCaseSensitive(d, "decoders");
        if (cJSON_GetArraySize(list) == 1) return load_decoder(u, path, cJSON_GetArrayItem(list, 0));
    }
    if (!type || strcmp(type, "Metaspace") != 0)
        return encore_fail(ENCORE_STATUS_UNSUPPORTED, "%s: decoder %s is not supported with a Unigram model (only "
                           "Metaspace)", path, type ? type : "(untyped)");
    u->decoder = 1;
    encore_status st = one_char(path, "decoder", json_str(d, "replacement"), &u->dec_replacement);
    if (st == ENCORE_STATUS_OK) st = prepend_scheme(path, "decoder", d, &u->dec_prepend);
    return st;
}

static encore_status load_pieces(encore_tokenizer *tok, unigram_model *u, const char *path, const cJSON *model) {
    const cJSON *vocab = cJSON_GetObjectItemCaseSensitive(model, "vocab");
    if (!cJSON_IsArray(vocab))
        return encore_fail(ENCORE_STATUS_BAD_MODEL, "%s: model.vocab is missing or not a list", path);
    const int n = cJSON_GetArraySize(vocab);
    if (n > MAX_TOKEN_ID) return encore_fail(ENCORE_STATUS_BAD_MODEL, "%s: %d pieces are too many", path, n);
    /* tokenizers: EmptyVocabulary */
    if (n == 0) return encore_fail(ENCORE_STATUS_BAD_MODEL, "%s: model.vocab is empty", path);
    if (!encore_tok_vocab_alloc(tok, (size_t)n)) return tok_out_of_memory();
    u->score = malloc(((size_t)n + 1) * sizeof *u->score);
    if (!u->score) return tok_out_of_memory();
    u->n_pieces = n;
    double min_score = INFINITY;
    int32_t id = 0;
    const cJSON *v;
    cJSON_ArrayForEach(v, vocab) {
        const cJSON *piece = cJSON_GetArrayItem(v, 0), *score = cJSON_GetArrayItem(v, 1);
        if (cJSON_GetArraySize(v) != 2 || !cJSON_IsString(piece) || !cJSON_IsNumber(score) ||
            !isfinite(score->valuedouble))
            return encore_fail(ENCORE_STATUS_BAD_MODEL, "%s: model.vocab[%d] is not a [piece, score] pair", path,
                               (int)id);
        const size_t len = strlen(piece->valuestring);
        if (len == 0)
            return encore_fail(ENCORE_STATUS_BAD_MODEL, "%s: model.vocab[%d] is an empty piece", path, (int)id);
        encore_status st = encore_tok_vocab_insert(tok, piece->valuestring, len, id);
        if (st != ENCORE_STATUS_OK) return st;
        u->score[id] = score->valuedouble;
        if (score->valuedouble < min_score) min_score = score->valuedouble;
        id++;
    }
    u->unk_score = min_score - 10.0;
    const cJSON *unk = cJSON_GetObjectItemCaseSensitive(model, "unk_id");
    u->unk_id = -1;
    if (cJSON_IsNumber(unk)) {
        if (!(unk->valuedouble >= 0) || unk->valuedouble >= n || unk->valuedouble != floor(unk->valuedouble))
            return encore_fail(ENCORE_STATUS_BAD_MODEL, "%s: model.unk_id %g is not a piece of the vocabulary", path,
                               unk->valuedouble);
        u->unk_id = (int32_t)unk->valuedouble;
    } else if (unk && !cJSON_IsNull(unk)) {
        return encore_fail(ENCORE_STATUS_BAD_MODEL, "%s: model.unk_id is not a number", path);
    }
    return ENCORE_STATUS_OK;
}

void encore_unigram_free(unigram_model *u) {
    if (!u) return;
    free(u->score);
    free(u->trie);
    free(u->repl);
    for (int i = 0; i < u->n_steps; i++) {
        free(u->steps[i].from);
        free(u->steps[i].to);
    }
    free(u);
}

encore_status encore_unigram_load_json(encore_tokenizer *tok, const char *path, const cJSON *json, int class_pipeline) {
    const cJSON *model = cJSON_GetObjectItemCaseSensitive(json, "model");
    if (json_bool(model, "byte_fallback", 0))
        return encore_fail(ENCORE_STATUS_UNSUPPORTED, "%s: a Unigram model with byte_fallback is not supported", path);
    unigram_model *u = calloc(1, sizeof *u);
    if (!u) return tok_out_of_memory();
    tok->unigram = u;
    tok->model = TOK_UNIGRAM;
    encore_status st = load_pieces(tok, u, path, model);
    if (class_pipeline) return st;
    if (st == ENCORE_STATUS_OK)
        st = load_normalizer(u, path, cJSON_GetObjectItemCaseSensitive(json, "normalizer"));
    if (st == ENCORE_STATUS_OK)
        st = load_pre_tokenizer(u, path, cJSON_GetObjectItemCaseSensitive(json, "pre_tokenizer"), 0);
    if (st == ENCORE_STATUS_OK) st = load_decoder(u, path, cJSON_GetObjectItemCaseSensitive(json, "decoder"));
    return st;
}

int32_t encore_unigram_unk_id(const encore_tokenizer *tok) { return tok->unigram ? tok->unigram->unk_id : -1; }

encore_status encore_unigram_as_xlm_roberta(encore_tokenizer *tok, const char *path, int add_prefix_space) {
    unigram_model *u = tok->unigram;
    int k = 0;
    for (int i = 0; i < u->n_steps; i++) {
        if (u->steps[i].kind == STEP_PRECOMPILED && k == 0) {
            u->steps[k++] = u->steps[i];
        } else {
            free(u->steps[i].from);
            free(u->steps[i].to);
        }
    }
    u->n_steps = k;
    u->whitespace_split = u->metaspace = u->split = u->decoder = 1;
    u->replacement = u->dec_replacement = METASPACE;
    u->prepend = u->dec_prepend = add_prefix_space ? PREPEND_ALWAYS : PREPEND_NEVER;
    if (u->n_pieces <= 3)
        return encore_fail(ENCORE_STATUS_BAD_MODEL, "%s: XLMRobertaTokenizer's unknown token is piece 3, and the "
                           "vocabulary has %d pieces", path, (int)u->n_pieces);
    u->unk_id = 3;
    return ENCORE_STATUS_OK;
}

encore_status encore_unigram_as_deberta_v2(encore_tokenizer *tok, const char *path, int add_prefix_space) {
    unigram_model *u = tok->unigram;
    for (int i = 0; i < u->n_steps; i++) {
        free(u->steps[i].from);
        free(u->steps[i].to);
    }
    memset(u->steps, 0, 3 * sizeof u->steps[0]);
    u->steps[0].kind = STEP_REPLACE;
    u->steps[0].spaces = 2;
    u->steps[0].to = strdup(" ");
    u->steps[0].to_len = 1;
    u->steps[1].kind = STEP_NFC;
    u->steps[2].kind = STEP_STRIP;
    u->steps[2].right = 1;
    u->n_steps = 3;
    if (!u->steps[0].to) return tok_out_of_memory();
    u->whitespace_split = 0;
    u->metaspace = u->split = u->decoder = 1;
    u->replacement = u->dec_replacement = METASPACE;
    u->prepend = u->dec_prepend = add_prefix_space ? PREPEND_ALWAYS : PREPEND_FIRST;
    (void)path;
    return ENCORE_STATUS_OK;
}

/* ---- normalization with alignments --------------------------------------- */

/* A normalized text: its characters, and the byte range in the caller's
 * text of each (tokenizers' alignment). */
typedef struct uni_text {
    uint32_t *cp;
    int32_t *src; /* (n, 2) */
    size_t n, cap;
} uni_text;

/* One character of a transformation (tokenizers' (char, isize) pairs). */
typedef struct change {
    uint32_t c;
    int32_t change;
} change;

struct unigram_scratch {
    uni_text t, tmp;
    size_t limit;      /* the most chars the normalizer may make of a split */
    change *ch;
    size_t n_ch, ch_cap;
    /* Viterbi, per character of a piece */
    double *best;
    int32_t *from, *id;
    size_t v_cap;
    int32_t *span;     /* (n, 2) the path's pieces, last first */
    size_t span_cap;
    char *utf8;        /* one piece's UTF-8, and where each char starts */
    int32_t *pos;
    size_t utf8_cap, pos_cap;
    char *nutf8;       /* the whole normalized split's */
    size_t *npos;
    size_t nutf8_cap, npos_cap;
};

void encore_unigram_scratch_free(unigram_scratch *s) {
    if (!s) return;
    free(s->t.cp);
    free(s->t.src);
    free(s->tmp.cp);
    free(s->tmp.src);
    free(s->ch);
    free(s->best);
    free(s->from);
    free(s->id);
    free(s->span);
    free(s->utf8);
    free(s->pos);
    free(s->nutf8);
    free(s->npos);
    free(s);
}

static int text_reserve(uni_text *t, size_t need) {
    if (need <= t->cap) return 1;
    size_t cap[2] = {t->cap, t->cap};
    if (!tok_grow((void **)&t->cp, &cap[0], need, sizeof *t->cp) ||
        !tok_grow((void **)&t->src, &cap[1], need, 2 * sizeof *t->src))
        return 0;
    t->cap = cap[0] < cap[1] ? cap[0] : cap[1];
    return 1;
}

static int text_push(uni_text *t, uint32_t c, int32_t start, int32_t end) {
    if (!text_reserve(t, t->n + 1)) return 0;
    t->cp[t->n] = c;
    t->src[2 * t->n] = start;
    t->src[2 * t->n + 1] = end;
    t->n++;
    return 1;
}

/* A charsmap or a Replace may expand a text (nmt_nfkc's longest
 * replacement is 18 chars); one crafted to expand it a thousandfold gets a
 * status rather than the memory. */
static encore_status too_large(const unigram_scratch *s) {
    return encore_fail(ENCORE_STATUS_BAD_INPUT, "the tokenizer's normalizer makes more than %zu characters of the "
                       "text", s->limit);
}

static int push_change(unigram_scratch *s, uint32_t c, int32_t delta) {
    if (!tok_grow((void **)&s->ch, &s->ch_cap, s->n_ch + 1, sizeof *s->ch)) return 0;
    s->ch[s->n_ch++] = (change){c, delta};
    return 1;
}

/* NormalizedString::transform over all of s->t with the changes in s->ch:
 * a char with change 0 replaces the next old one (and takes its
 * alignment), -N also removes the N after that, 1 is new and takes the
 * alignment of the old char before the next one ((base, base) at the very
 * start). The old chars left over at the end are dropped. */
static int apply_changes(unigram_scratch *s, int32_t base) {
    uni_text *in = &s->t, *out = &s->tmp;
    out->n = 0;
    if (!text_reserve(out, s->n_ch + 1)) return 0;
    size_t used = 0;
    for (size_t k = 0; k < s->n_ch; k++) {
        const change *c = &s->ch[k];
        int32_t a = base, b = base;
        if (c->change > 0) {
            if (used > 0 && used - 1 < in->n) a = in->src[2 * (used - 1)], b = in->src[2 * (used - 1) + 1];
        } else {
            if (used < in->n) a = in->src[2 * used], b = in->src[2 * used + 1];
            else if (in->n > 0) a = b = in->src[2 * in->n - 1]; /* cannot happen: every change consumes an old char */
            used += 1 + (size_t)(c->change < 0 ? -(int64_t)c->change : 0);
        }
        out->cp[out->n] = c->c;
        out->src[2 * out->n] = a;
        out->src[2 * out->n + 1] = b;
        out->n++;
    }
    uni_text t = *in;
    *in = *out;
    *out = t;
    return 1;
}

/* spm_precompiled's transform: the replacement of the shortest key of the
 * trie that is a prefix of s[0, n) (walking stops at a NUL byte); NULL when
 * none is. *len gets its length (the replacement may be empty). */
static const char *charsmap_find(const unigram_model *u, const char *s, size_t n, size_t *len) {
    if (u->trie_n == 0) return NULL;
#define OFFSET(unit) (((unit) >> 10) << (((unit) & (1u << 9)) >> 6))
    size_t node = OFFSET(u->trie[0]);
    for (size_t i = 0; i < n; i++) {
        const unsigned char c = (unsigned char)s[i];
        if (c == 0) return NULL;
        node ^= c;
        if (node >= u->trie_n) return NULL;
        const uint32_t unit = u->trie[node];
        if ((unit & (1u << 31 | 0xFFu)) != c) return NULL;
        node ^= OFFSET(unit);
        if ((unit >> 8) & 1) {
            if (node >= u->trie_n) return NULL;
            const size_t at = u->trie[node] & 0x7FFFFFFFu;
            if (at > u->repl_len || (at < u->repl_len && ((unsigned char)u->repl[at] & 0xC0) == 0x80)) return NULL;
            *len = strlen(u->repl + at);
            return u->repl + at;
        }
    }
#undef OFFSET
    return NULL;
}

/* Precompiled's replace(): the chars of new, all with change 0, then the
 * count difference settled on the last ones (new chars 1), or on the last
 * change so far (removed chars: a negative change). */
static int replace_chars(unigram_scratch *s, size_t old_count, const char *repl, size_t len) {
    size_t p = 0, new_count = 0;
    while (p < len) {
        if (!push_change(s, encore_utf8_next(repl, &p), 0)) return 0;
        new_count++;
    }
    if (new_count > old_count) {
        for (size_t k = 0; k < new_count - old_count; k++) s->ch[s->n_ch - 1 - k].change = 1;
    } else if (new_count < old_count && s->n_ch > 0) {
        s->ch[s->n_ch - 1].change -= (int32_t)(old_count - new_count);
    }
    return 1;
}

static size_t utf8_put(uint32_t c, char *out) { return (size_t)encore_utf8_encode(c, out); }

/* The Precompiled normalizer over s->t: grapheme by grapheme, one shorter
 * than 6 bytes replaced whole when a key of the charsmap starts it, else
 * char by char. */
static encore_status precompiled(const unigram_model *u, unigram_scratch *s, int32_t base) {
    uni_text *t = &s->t;
    s->n_ch = 0;
    int modified = 0;
    for (size_t i = 0; i < t->n;) {
        size_t g = encore_grapheme_len(t->cp, t->n, i);
        if (g == 0 || g > t->n - i) g = 1;
        char buf[16];
        size_t bytes = 0;
        for (size_t k = 0; k < g && bytes < 6; k++) bytes += utf8_put(t->cp[i + k], buf + bytes);
        size_t len;
        const char *repl = bytes < 6 ? charsmap_find(u, buf, bytes, &len) : NULL;
        if (repl) {
            modified = 1;
            if (!replace_chars(s, g, repl, len)) return tok_out_of_memory();
            if (s->n_ch > s->limit) return too_large(s);
        } else {
            for (size_t k = 0; k < g; k++) {
                const size_t nb = utf8_put(t->cp[i + k], buf);
                if ((repl = charsmap_find(u, buf, nb, &len)) != NULL) {
                    modified = 1;
                    if (!replace_chars(s, 1, repl, len)) return tok_out_of_memory();
                    if (s->n_ch > s->limit) return too_large(s);
                } else if (!push_change(s, t->cp[i + k], 0)) {
                    return tok_out_of_memory();
                }
            }
        }
        i += g;
    }
    if (modified && !apply_changes(s, base)) return tok_out_of_memory();
    return ENCORE_STATUS_OK;
}

/* Does t match the step's pattern at char i? Its length in chars, or 0. */
static size_t replace_match(const norm_step *st, const uni_text *t, size_t i) {
    if (st->spaces == 2) {
        /* \s{2,}|[\n\r\t]: a run of two or more white-space chars (the
         * White_Space property, Oniguruma's \s), else one tab or newline */
        size_t k = i;
        while (k < t->n && encore_unicode_is_whitespace(t->cp[k])) k++;
        if (k - i >= 2) return k - i;
        return t->cp[i] == '\n' || t->cp[i] == '\r' || t->cp[i] == '\t' ? 1 : 0;
    }
    if (st->spaces) {
        size_t k = i;
        while (k < t->n && t->cp[k] == ' ') k++;
        return k - i >= 2 ? k - i : 0;
    }
    size_t p = 0, k = i;
    while (p < st->from_len && k < t->n) {
        if (encore_utf8_next(st->from, &p) != t->cp[k]) return 0;
        k++;
    }
    return p == st->from_len ? k - i : 0;
}

/* NormalizedString::replace: each match (leftmost, not overlapping) becomes
 * the content, every char of which is new and aligned with the match's
 * last char. */
static encore_status replace(const norm_step *st, unigram_scratch *s) {
    uni_text *in = &s->t, *out = &s->tmp;
    out->n = 0;
    for (size_t i = 0; i < in->n;) {
        const size_t m = replace_match(st, in, i);
        if (m == 0) {
            if (!text_push(out, in->cp[i], in->src[2 * i], in->src[2 * i + 1])) return tok_out_of_memory();
            i++;
            continue;
        }
        const int32_t a = in->src[2 * (i + m - 1)], b = in->src[2 * (i + m - 1) + 1];
        for (size_t p = 0; p < st->to_len;)
            if (!text_push(out, encore_utf8_next(st->to, &p), a, b)) return tok_out_of_memory();
        if (out->n > s->limit) return too_large(s);
        i += m;
    }
    uni_text t = *in;
    *in = *out;
    *out = t;
    return ENCORE_STATUS_OK;
}

/* NFC, grapheme by grapheme (canonical composition never reaches across a
 * grapheme boundary): a grapheme NFC changes is replaced whole. */
static encore_status nfc(unigram_scratch *s, int32_t base) {
    uni_text *t = &s->t;
    s->n_ch = 0;
    int modified = 0;
    char buf[64];
    for (size_t i = 0; i < t->n;) {
        size_t g = encore_grapheme_len(t->cp, t->n, i);
        if (g == 0 || g > t->n - i) g = 1;
        /* only a grapheme with a char past U+02FF (or a Hangul jamo) can
         * change; longer ones go char by char below the buffer's size */
        int maybe = 0;
        size_t bytes = 0;
        for (size_t k = 0; k < g; k++) {
            if (t->cp[i + k] >= 0x300) maybe = 1;
            if (bytes + 4 < sizeof buf) bytes += utf8_put(t->cp[i + k], buf + bytes);
            else maybe = 0;
        }
        utf8proc_uint8_t *norm = NULL;
        if (maybe) {
            const utf8proc_ssize_t n = utf8proc_map((const utf8proc_uint8_t *)buf, (utf8proc_ssize_t)bytes, &norm,
                                                    UTF8PROC_STABLE | UTF8PROC_COMPOSE);
            if (n < 0) norm = NULL;
            else if ((size_t)n == bytes && memcmp(norm, buf, bytes) == 0) {
                free(norm);
                norm = NULL;
            }
        }
        if (norm) {
            modified = 1;
            /* a composition's removed chars go on the composed char (the
             * first), as unicode-normalization-alignments counts them */
            const size_t first = s->n_ch;
            const int ok = replace_chars(s, g, (const char *)norm, strlen((const char *)norm));
            if (ok && s->n_ch > first + 1 && s->ch[s->n_ch - 1].change < 0) {
                s->ch[first].change += s->ch[s->n_ch - 1].change;
                s->ch[s->n_ch - 1].change = 0;
            }
            free(norm);
            if (!ok) return tok_out_of_memory();
            if (s->n_ch > s->limit) return too_large(s);
        } else {
            for (size_t k = 0; k < g; k++)
                if (!push_change(s, t->cp[i + k], 0)) return tok_out_of_memory();
        }
        i += g;
    }
    if (modified && !apply_changes(s, base)) return tok_out_of_memory();
    return ENCORE_STATUS_OK;
}

/* Strip: white space off either end (the chars kept keep their alignments). */
static void strip(const norm_step *st, uni_text *t) {
    size_t a = 0, b = t->n;
    if (st->right)
        while (b > 0 && encore_unicode_is_whitespace(t->cp[b - 1])) b--;
    if (st->left)
        while (a < b && encore_unicode_is_whitespace(t->cp[a])) a++;
    if (a > 0) {
        memmove(t->cp, t->cp + a, (b - a) * sizeof *t->cp);
        memmove(t->src, t->src + 2 * a, 2 * (b - a) * sizeof *t->src);
    }
    t->n = b - a;
}

/* The normalizer over text[a, b) into s->t. */
static encore_status normalize(const unigram_model *u, unigram_scratch *s, const char *text, size_t a, size_t b) {
    uni_text *t = &s->t;
    t->n = 0;
    s->limit = 64 * (b - a) + 4096;
    for (size_t p = a; p < b;) {
        const size_t q = p;
        const uint32_t c = encore_utf8_next(text, &p);
        if (!text_push(t, c, (int32_t)q, (int32_t)p)) return tok_out_of_memory();
    }
    encore_status st = ENCORE_STATUS_OK;
    for (int k = 0; k < u->n_steps && st == ENCORE_STATUS_OK; k++) {
        const norm_step *step = &u->steps[k];
        if (step->kind == STEP_PRECOMPILED) st = precompiled(u, s, (int32_t)a);
        else if (step->kind == STEP_REPLACE) st = replace(step, s);
        else if (step->kind == STEP_NFC) st = nfc(s, (int32_t)a);
        else strip(step, t);
    }
    return st;
}

/* ---- Unigram ------------------------------------------------------------- */

/* The vocabulary slot of bytes whose FNV-1a hash is h. */
static int32_t find_hashed(const encore_tokenizer *tok, uint32_t h, const char *s, size_t n) {
    for (uint32_t i = h & tok->mask;; i = (i + 1) & tok->mask) {
        const vocab_slot *slot = &tok->slots[i];
        if (slot->id < 0) return -1;
        if (slot->hash == h && slot->len == n && memcmp(tok->pool + slot->text, s, n) == 0) return slot->id;
    }
}

/* Unigram::encode_optimized over t's chars [a, b), whose UTF-8 is
 * s->utf8 at s->pos[] (relative to a): the best path by score, ties to the
 * shorter piece first found; a char no piece covers costs unk_score. The
 * tokens go to emit from the first. */
static encore_status viterbi(const encore_tokenizer *tok, unigram_scratch *s, const uni_text *t, size_t a, size_t b,
                             tok_emit_fn emit, void *ctx) {
    const unigram_model *u = tok->unigram;
    const size_t n = b - a;
    if (n == 0) return ENCORE_STATUS_OK;
    size_t cap = s->v_cap;
    if (n + 1 > cap) {
        size_t c1 = cap, c2 = cap, c3 = cap;
        if (!tok_grow((void **)&s->best, &c1, n + 1, sizeof *s->best) ||
            !tok_grow((void **)&s->from, &c2, n + 1, sizeof *s->from) ||
            !tok_grow((void **)&s->id, &c3, n + 1, sizeof *s->id))
            return tok_out_of_memory();
        s->v_cap = c1 < c2 ? (c1 < c3 ? c1 : c3) : (c2 < c3 ? c2 : c3);
    }
    const char *bytes = s->utf8;
    const int32_t *pos = s->pos;
    for (size_t i = 0; i <= n; i++) s->from[i] = -1;
    s->best[0] = 0.0;
    for (size_t i = 0; i < n; i++) {
        const double here = s->best[i];
        int single = 0;
        uint32_t h = TOK_FNV_SEED;
        for (size_t e = i + 1; e <= n && (size_t)(pos[e] - pos[i]) <= tok->max_token_len; e++) {
            h = tok_fnv1a(h, bytes + pos[e - 1], (size_t)(pos[e] - pos[e - 1]));
            const int32_t id = find_hashed(tok, h, bytes + pos[i], (size_t)(pos[e] - pos[i]));
            if (id < 0 || id >= u->n_pieces) continue;
            const double cand = here + u->score[id];
            if (s->from[e] < 0 || cand > s->best[e]) {
                s->best[e] = cand;
                s->from[e] = (int32_t)i;
                s->id[e] = id;
            }
            if (e == i + 1) single = 1;
        }
        if (!single) {
            if (u->unk_id < 0)
                return encore_fail(ENCORE_STATUS_BAD_INPUT, "the Unigram model has no unk_id, and no piece covers "
                                   "the character U+%04X", (unsigned)t->cp[a + i]);
            const double cand = here + u->unk_score;
            if (s->from[i + 1] < 0 || cand > s->best[i + 1]) {
                s->best[i + 1] = cand;
                s->from[i + 1] = (int32_t)i;
                s->id[i + 1] = u->unk_id;
            }
        }
    }
    /* Back from the end, a run of unknowns fused into one piece. */
    if (!tok_grow((void **)&s->span, &s->span_cap, 2 * (n + 1), sizeof *s->span)) return tok_out_of_memory();
    size_t n_tok = 0;
    for (size_t e = n; e > 0;) {
        size_t start = (size_t)s->from[e];
        if (s->id[e] == u->unk_id)
            while (start > 0 && s->id[start] == u->unk_id) start = (size_t)s->from[start];
        s->span[2 * n_tok] = (int32_t)start;
        s->span[2 * n_tok + 1] = (int32_t)e;
        n_tok++;
        e = start;
    }
    for (size_t k = n_tok; k-- > 0;) {
        const size_t start = (size_t)s->span[2 * k], end = (size_t)s->span[2 * k + 1];
        int32_t id = tok_vocab_find(tok, 0, bytes + pos[start], (size_t)(pos[end] - pos[start]));
        if (id < 0) id = u->unk_id;
        /* the split is one word: its first token starts it */
        encore_status st =
            emit(ctx, id, t->src[2 * (a + start)], t->src[2 * (a + end - 1) + 1], 0, 0, k == n_tok - 1);
        if (st != ENCORE_STATUS_OK) return st;
    }
    return ENCORE_STATUS_OK;
}

/* UTF-8 of t's chars [a, b) into s->utf8, positions in s->pos. */
static encore_status piece_utf8(unigram_scratch *s, const uni_text *t, size_t a, size_t b) {
    if (!tok_grow((void **)&s->utf8, &s->utf8_cap, 4 * (b - a) + 1, 1) ||
        !tok_grow((void **)&s->pos, &s->pos_cap, b - a + 1, sizeof *s->pos))
        return tok_out_of_memory();
    int32_t p = 0;
    for (size_t i = a; i < b; i++) {
        s->pos[i - a] = p;
        p += (int32_t)utf8_put(t->cp[i], s->utf8 + p);
    }
    s->pos[b - a] = p;
    return ENCORE_STATUS_OK;
}

/* Metaspace over t's chars [a, b) (one split of the text): spaces become
 * the replacement, one goes before the split when the scheme says so, and
 * each piece (split before every replacement) goes to Viterbi. */
static encore_status metaspace(const encore_tokenizer *tok, unigram_scratch *s, uni_text *t, size_t a, size_t b,
                                  int first, tok_emit_fn emit, void *ctx) {
    const unigram_model *u = tok->unigram;
    if (a == b) return ENCORE_STATUS_OK;
    if (!u->metaspace) {
        encore_status st = piece_utf8(s, t, a, b);
        return st == ENCORE_STATUS_OK ? viterbi(tok, s, t, a, b, emit, ctx) : st;
    }
    for (size_t i = a; i < b; i++)
        if (t->cp[i] == ' ') t->cp[i] = u->replacement;
    /* The prepended char takes the first char's alignment: the text's
     * chars [a, b) are read through a one-char prefix rather than moved. */
    const int prepend = t->cp[a] != u->replacement &&
                        (u->prepend == PREPEND_ALWAYS || (u->prepend == PREPEND_FIRST && first));
    uni_text v = *t;
    if (prepend) {
        /* a copy with the prefix: only this split's chars */
        uni_text *c = &s->tmp;
        c->n = 0;
        if (!text_reserve(c, b - a + 1)) return tok_out_of_memory();
        text_push(c, u->replacement, t->src[2 * a], t->src[2 * a + 1]);
        memcpy(c->cp + 1, t->cp + a, (b - a) * sizeof *c->cp);
        memcpy(c->src + 2, t->src + 2 * a, 2 * (b - a) * sizeof *c->src);
        c->n = b - a + 1;
        v = *c;
        b = b - a + 1;
        a = 0;
    }
    encore_status st = ENCORE_STATUS_OK;
    size_t p = a;
    for (size_t i = a + 1; i <= b && st == ENCORE_STATUS_OK; i++) {
        if (i < b && (!u->split || v.cp[i] != u->replacement)) continue;
        if ((st = piece_utf8(s, &v, p, i)) == ENCORE_STATUS_OK) st = viterbi(tok, s, &v, p, i, emit, ctx);
        p = i;
    }
    return st;
}

/* Normalize text[a, b) (one split of the text, free of raw added tokens)
 * into the scratch; its UTF-8 in *utf8 (*len bytes), for the search of
 * normalized added tokens. */
/* The pre-tokenizer over t's chars [a, b): WhitespaceSplit's words (each
 * "first" when it starts the text) to Metaspace, or all of them. */
static encore_status pre_tokenize(const encore_tokenizer *tok, unigram_scratch *s, uni_text *t, size_t a, size_t b,
                                  int first, tok_emit_fn emit, void *ctx) {
    if (!tok->unigram->whitespace_split) return metaspace(tok, s, t, a, b, first, emit, ctx);
    encore_status st = ENCORE_STATUS_OK;
    for (size_t i = a; i < b && st == ENCORE_STATUS_OK;) {
        if (encore_unicode_is_whitespace(t->cp[i])) {
            i++;
            continue;
        }
        size_t e = i;
        while (e < b && !encore_unicode_is_whitespace(t->cp[e])) e++;
        st = metaspace(tok, s, t, i, e, t->src[2 * i] == 0, emit, ctx);
        i = e;
    }
    return st;
}

encore_status encore_unigram_normalize(const encore_tokenizer *tok, unigram_scratch **scratch, const char *text,
                                       size_t a, size_t b, const char **utf8, size_t *len) {
    if (!*scratch && !(*scratch = calloc(1, sizeof **scratch))) return tok_out_of_memory();
    unigram_scratch *s = *scratch;
    encore_status st = normalize(tok->unigram, s, text, a, b);
    if (st != ENCORE_STATUS_OK) return st;
    const uni_text *t = &s->t;
    if (!tok_grow((void **)&s->nutf8, &s->nutf8_cap, 4 * t->n + 1, 1) ||
        !tok_grow((void **)&s->npos, &s->npos_cap, t->n + 1, sizeof *s->npos))
        return tok_out_of_memory();
    size_t p = 0;
    for (size_t i = 0; i < t->n; i++) {
        s->npos[i] = p;
        p += utf8_put(t->cp[i], s->nutf8 + p);
    }
    s->npos[t->n] = p;
    *utf8 = s->nutf8;
    *len = p;
    return ENCORE_STATUS_OK;
}

/* The normalized char that starts at byte off (or the count, past the end). */
static size_t char_at_byte(const unigram_scratch *s, size_t off) {
    size_t lo = 0, hi = s->t.n;
    while (lo < hi) {
        const size_t mid = (lo + hi) / 2;
        if (s->npos[mid] < off) lo = mid + 1;
        else hi = mid;
    }
    return lo;
}

void encore_unigram_source(const unigram_scratch *s, size_t start, size_t stop, int32_t *src_start, int32_t *src_end) {
    const size_t a = char_at_byte(s, start), b = char_at_byte(s, stop);
    *src_start = a < b ? s->t.src[2 * a] : 0;
    *src_end = a < b ? s->t.src[2 * (b - 1) + 1] : 0;
}

/* Pre-tokenize and tokenize the normalized bytes [start, stop) (a split
 * between normalized added tokens, or all of them). Metaspace's "first"
 * scheme prepends to a split that starts the text: whose first char is
 * aligned with its byte 0, as tokenizers' slice of it has it. */
encore_status encore_unigram_tokenize(const encore_tokenizer *tok, unigram_scratch *s, size_t start, size_t stop,
                                      tok_emit_fn emit, void *ctx) {
    const size_t a = char_at_byte(s, start), b = char_at_byte(s, stop);
    if (a >= b) return ENCORE_STATUS_OK;
    return pre_tokenize(tok, s, &s->t, a, b, s->t.src[2 * a] == 0, emit, ctx);
}

/* ---- decoding ------------------------------------------------------------ */

int encore_unigram_decode(const encore_tokenizer *tok, const char *const *tokens, int n_tokens, char **out,
                          size_t *len, size_t *cap) {
    const unigram_model *u = tok->unigram;
    for (int i = 0; i < n_tokens; i++) {
        const char *t = tokens[i];
        const size_t n = strlen(t);
        if (!tok_grow((void **)out, cap, *len + n + 2, 1)) return 0;
        if (!u->decoder) {
            if (i > 0) (*out)[(*len)++] = ' ';
            memcpy(*out + *len, t, n);
            *len += n;
            continue;
        }
        for (size_t p = 0; p < n;) {
            const size_t q = p;
            const uint32_t c = encore_utf8_next(t, &p);
            if (c != u->dec_replacement) {
                memcpy(*out + *len, t + q, p - q);
                *len += p - q;
            } else if (!(i == 0 && u->dec_prepend != PREPEND_NEVER)) {
                (*out)[(*len)++] = ' ';
            }
        }
    }
    return 1;
}
