/* tokenizer_encode.c: encoding with BERT's WordPiece tokenizer, token for
 * token and offset for offset what Hugging Face's fast tokenizer gives
 * (transformers' BertTokenizer over the tokenizers Rust pipeline):
 *
 *   text -> split out added tokens such as [CLS] (AddedVocabulary)
 *        -> BertNormalizer: clean text, space out CJK, strip accents, lowercase
 *        -> BertPreTokenizer: split on whitespace, isolate punctuation
 *        -> WordPiece: greedy longest match, "##" for the rest of a word
 *        -> truncation (longest_first) -> template [CLS] A [SEP] (B [SEP])
 *
 * Every normalized character keeps the byte range of the character of the
 * caller's text it came from, so token offsets are byte offsets into that
 * text. The tokenizer is immutable once loaded; encoding keeps its scratch on
 * the call, so any number of threads may share one tokenizer.
 */
#include "tokenizer/tokenizer_internal.h"

#include "tokenizer/unicode.h"

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

typedef struct scratch {
    norm_text norm;
    match_list raw, normalized;
    piece_list seq[2];
} scratch;

static encore_status push_piece(piece_list *l, int32_t id, int32_t start, int32_t end) {
    if (!tok_grow((void **)&l->v, &l->cap, l->n + 1, sizeof *l->v)) return tok_out_of_memory();
    l->v[l->n++] = (piece){id, start, end};
    return ENCORE_STATUS_OK;
}

static encore_status push_match(match_list *l, size_t start, size_t stop, int32_t id) {
    if (!tok_grow((void **)&l->v, &l->cap, l->n + 1, sizeof *l->v)) return tok_out_of_memory();
    l->v[l->n++] = (match){start, stop, id};
    return ENCORE_STATUS_OK;
}

static int norm_reserve(norm_text *t, size_t need) {
    if (need + 1 <= t->cap) return 1;
    /* every array has room for cap entries: grow each from the same cap */
    size_t cap[6] = {t->cap, t->cap, t->cap, t->cap, t->cap, t->cap};
    if (!tok_grow((void **)&t->cp, &cap[0], need + 1, sizeof *t->cp) ||
        !tok_grow((void **)&t->src, &cap[1], need + 1, 2 * sizeof *t->src) ||
        !tok_grow((void **)&t->ccc, &cap[2], need + 1, sizeof *t->ccc) ||
        !tok_grow((void **)&t->added, &cap[3], need + 1, sizeof *t->added) ||
        !tok_grow((void **)&t->in_src, &cap[4], need + 1, 2 * sizeof *t->in_src) ||
        !tok_grow((void **)&t->pos, &cap[5], need + 1, sizeof *t->pos))
        return 0;
    t->cap = cap[0];
    return 1;
}

void encore_tok_norm_free(norm_text *t) {
    free(t->cp);
    free(t->src);
    free(t->ccc);
    free(t->added);
    free(t->in_src);
    free(t->pos);
    free(t->utf8);
}

static void scratch_free(scratch *s) {
    encore_tok_norm_free(&s->norm);
    free(s->raw.v);
    free(s->normalized.v);
    free(s->seq[0].v);
    free(s->seq[1].v);
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

encore_status encore_tok_normalize(const encore_tokenizer *tok, norm_text *t, const char *text, size_t a,
                               size_t b) {
    const encore_tokenizer_settings *s = &tok->settings;
    t->n = t->n_in = 0;
    if (!norm_reserve(t, 0)) return tok_out_of_memory();
    for (size_t p = a; p < b;) {
        int32_t start = (int32_t)p;
        uint32_t c = encore_utf8_next(text, &p);
        if (s->clean_text) {
            if (c == 0 || c == 0xFFFD || encore_unicode_is_control(c)) continue;
            if (encore_unicode_is_whitespace(c)) c = ' ';
        }
        if (!norm_reserve(t, t->n + 3 * ENCORE_UNICODE_MAX_DECOMPOSITION)) return tok_out_of_memory();
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
    if (!tok_grow((void **)&t->utf8, &t->utf8_cap, 4 * t->n + 1, 1)) return tok_out_of_memory();
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
    return encore_utf8_next(s, &b);
}

static uint32_t char_at(const char *s, size_t at) { return encore_utf8_next(s, &at); }

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
                encore_utf8_next(s, &p);
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
            id = tok_vocab_find(tok, s > a, t->utf8 + t->pos[s], (size_t)(t->pos[e] - t->pos[s]));
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
    encore_status st = encore_tok_normalize(tok, t, text, a, b);
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
    return encore_tokenizer_encode_side(tok, text, pair, max_len, 0, out);
}

encore_status encore_tokenizer_encode_side(const encore_tokenizer *tok, const char *text, const char *pair,
                                           int32_t max_len, int left, encore_encoding **out) {
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

    /* Size the scratch once for the common case (about a character and a
     * token per byte at most) instead of growing it step by step. */
    scratch sc = {0};
    size_t longest = len[0] > len[1] ? len[0] : len[1];
    if (!norm_reserve(&sc.norm, longest + 16) ||
        !tok_grow((void **)&sc.norm.utf8, &sc.norm.utf8_cap, 2 * longest + 16, 1) ||
        !tok_grow((void **)&sc.seq[0].v, &sc.seq[0].cap, len[0] + 2, sizeof(piece)) ||
        (pair && !tok_grow((void **)&sc.seq[1].v, &sc.seq[1].cap, len[1] + 2, sizeof(piece)))) {
        scratch_free(&sc);
        return tok_out_of_memory();
    }
    st = encode_text(tok, &sc, text, len[0], &sc.seq[0]);
    if (st == ENCORE_STATUS_OK && pair) st = encode_text(tok, &sc, pair, len[1], &sc.seq[1]);
    if (st != ENCORE_STATUS_OK) {
        scratch_free(&sc);
        return st;
    }
    size_t keep[2] = {sc.seq[0].n, sc.seq[1].n};
    if (max_len > 0) truncate_lengths(&keep[0], &keep[1], pair != NULL, (size_t)(max_len - tmpl->n_special));

    size_t n = 0, n_untruncated = 0;
    for (int i = 0; i < tmpl->n_items; i++) {
        int seq = tmpl->items[i].sequence;
        n += seq < 0 ? 1 : keep[seq];
        n_untruncated += seq < 0 ? 1 : sc.seq[seq].n;
    }
    /* One block: the struct, then ids (n), type_ids (n), sequence_ids (n),
     * offsets (n, 2). */
    encore_encoding *enc = malloc(sizeof *enc + 5 * n * sizeof(int32_t));
    if (!enc) {
        scratch_free(&sc);
        return tok_out_of_memory();
    }
    enc->n_tokens = (int32_t)n;
    enc->n_untruncated = (int32_t)n_untruncated;
    enc->ids = (int32_t *)(enc + 1);
    enc->type_ids = enc->ids + n;
    enc->sequence_ids = enc->type_ids + n;
    enc->offsets = enc->sequence_ids + n;
    size_t k = 0;
    for (int i = 0; i < tmpl->n_items; i++) {
        const template_item *it = &tmpl->items[i];
        if (it->sequence < 0) {
            enc->ids[k] = it->id;
            enc->type_ids[k] = it->type_id;
            enc->sequence_ids[k] = -1;
            enc->offsets[2 * k] = enc->offsets[2 * k + 1] = 0;
            k++;
            continue;
        }
        /* Left truncation keeps a sequence's last keep[] pieces. */
        const size_t first = left ? sc.seq[it->sequence].n - keep[it->sequence] : 0;
        for (size_t j = 0; j < keep[it->sequence]; j++, k++) {
            const piece *p = &sc.seq[it->sequence].v[first + j];
            enc->ids[k] = p->id;
            enc->type_ids[k] = it->type_id;
            enc->sequence_ids[k] = it->sequence;
            enc->offsets[2 * k] = p->start;
            enc->offsets[2 * k + 1] = p->end;
        }
    }
    scratch_free(&sc);
    *out = enc;
    return ENCORE_STATUS_OK;
}
