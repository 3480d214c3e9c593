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
    int32_t lead, trail;    /* BPE: the characters ByteLevel's offset trimming counts as spaces at each end */
    int32_t word;           /* the pre-tokenizer's word it is in: tokenizers' word id */
} piece;

/* The pieces of one sequence: all are counted, `keep` kept (a truncated
 * encoding needs no more, and a long text would need memory for all of
 * them): the first ones, or with `last` the last ones, in a ring. */
typedef struct piece_list {
    piece *v;
    size_t n, cap;   /* kept: min(count, keep); piece i is v[i] or, in a ring, v[i % keep] */
    size_t count;    /* made */
    size_t keep;
    int last;        /* keep the last pieces */
    int32_t words;   /* words begun: the pre-tokenizer's splits and the added tokens */
    piece *word;     /* the pieces of the word being WordPiece'd, before they are pushed */
    size_t word_n, word_cap;
} piece_list;

/* A piece; new_word when it is the first of a word (tokenizers numbers the
 * splits of the pre-tokenized text, added tokens among them, from 0 in each
 * sequence: a token's word id is the split it came from). */
static encore_status push_trimmed(piece_list *l, int32_t id, int32_t start, int32_t end, int lead, int trail,
                                  int new_word) {
    const size_t i = l->count++;
    if (new_word || l->words == 0) l->words++;
    const piece p = {id, start, end, lead, trail, l->words - 1};
    if (l->n < l->keep) {
        if (!tok_grow((void **)&l->v, &l->cap, l->n + 1, sizeof *l->v)) return tok_out_of_memory();
        l->v[l->n++] = p;
    } else if (l->last) {
        l->v[i % l->keep] = p;
    }
    return ENCORE_STATUS_OK;
}

static encore_status push_piece(piece_list *l, int32_t id, int32_t start, int32_t end, int new_word) {
    return push_trimmed(l, id, start, end, 0, 0, new_word);
}

/* bpe.c's and unigram.c's tokens go to a piece list. */
static encore_status emit_piece(void *ctx, int32_t id, int32_t start, int32_t end, int lead, int trail,
                                int new_word) {
    return push_trimmed(ctx, id, start, end, lead, trail, new_word);
}

/* An added token matched at text[start, stop): its spaces, for trimming
 * (tokenizers' token for it is the text it matched, lstrip'd spaces too). */
static encore_status push_added(const encore_tokenizer *tok, piece_list *l, int32_t id, const char *text,
                                size_t start, size_t stop) {
    int lead = 0, trail = 0;
    if (tok->model == TOK_BPE) encore_bpe_count_spaces(text + start, stop - start, &lead, &trail);
    return push_trimmed(l, id, (int32_t)start, (int32_t)stop, lead, trail, 1);
}

/* Piece i of those made (one that was kept). */
static const piece *piece_at(const piece_list *l, size_t i) { return &l->v[l->last ? i % l->keep : i]; }

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
    match_list normalized;
    piece_list seq[2];
    bpe_scratch *bpe;
    unigram_scratch *unigram;
} scratch;

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
    free(s->normalized.v);
    for (int i = 0; i < 2; i++) {
        free(s->seq[i].v);
        free(s->seq[i].word);
    }
    encore_bpe_scratch_free(s->bpe);
    encore_unigram_scratch_free(s->unigram);
}

/* ---- normalizer ---------------------------------------------------------- */

/* NFD's canonical ordering of the marks [t->run, end): a stable sort by
 * combining class, each mark taking its added flag along. Short runs by
 * insertion; long ones (an attacker's thousands of marks on one letter)
 * by counting, in linear time. */
static void order_marks(norm_text *t, size_t end) {
    const size_t a = t->run, k = end > a ? end - a : 0;
    t->run = end;
    if (k < 2) return;
    uint8_t *tmp = k > 16 ? malloc(k * (sizeof(uint32_t) + 2)) : NULL;
    if (!tmp) {
        for (size_t i = a + 1; i < end; i++) {
            const uint32_t c = t->cp[i];
            const uint8_t ccc = t->ccc[i], added = t->added[i];
            size_t j = i;
            for (; j > a && t->ccc[j - 1] > ccc; j--) {
                t->cp[j] = t->cp[j - 1];
                t->ccc[j] = t->ccc[j - 1];
                t->added[j] = t->added[j - 1];
            }
            t->cp[j] = c;
            t->ccc[j] = ccc;
            t->added[j] = added;
        }
        return;
    }
    size_t at[257] = {0};
    for (size_t i = a; i < end; i++) at[t->ccc[i] + 1]++;
    for (int c = 1; c <= 256; c++) at[c] += at[c - 1];
    uint32_t *cp = (uint32_t *)(void *)tmp;
    uint8_t *added = tmp + k * sizeof(uint32_t);
    for (size_t i = a; i < end; i++) {
        const size_t to = at[t->ccc[i]]++;
        cp[to] = t->cp[i];
        added[to] = t->added[i];
    }
    size_t i = a;
    for (int c = 0; c < 256; c++)
        for (size_t n = at[c] - (c ? at[c - 1] : 0); n > 0; n--, i++) t->ccc[i] = (uint8_t)c;
    memcpy(t->cp + a, cp, k * sizeof *cp);
    memcpy(t->added + a, added, k);
    free(tmp);
}

/* Append c. A character of combining class 0 ends the run of marks before
 * it, which is put in canonical order then (marks never move past it). */
static void norm_push(norm_text *t, uint32_t c, int32_t start, int32_t end, uint8_t ccc, uint8_t added) {
    const size_t i = t->n;
    if (ccc == 0) order_marks(t, i);
    t->n++;
    t->src[2 * i] = start;
    t->src[2 * i + 1] = end;
    t->cp[i] = c;
    t->ccc[i] = ccc;
    t->added[i] = added;
    if (ccc == 0) t->run = i + 1;
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
static void align_decomposed(norm_text *t, size_t first) {
    size_t k = 0;
    for (size_t i = first; i < t->n; i++) {
        size_t from = t->added[i] ? k - (k > 0) : k++;
        t->src[2 * i] = k > 0 ? t->in_src[2 * from] : 0;
        t->src[2 * i + 1] = k > 0 ? t->in_src[2 * from + 1] : 0;
    }
}

encore_status encore_tok_normalize_append(const encore_tokenizer *tok, norm_text *t, const char *text, size_t a,
                                          size_t b) {
    const encore_tokenizer_settings *s = &tok->settings;
    const size_t n0 = t->n;
    t->n_in = 0;
    t->run = n0;
    if (!norm_reserve(t, n0)) return tok_out_of_memory();
    if (n0 == 0) t->pos[0] = 0;
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
    order_marks(t, t->n);
    if (tok->strip_accents) {
        /* Drop the nonspacing marks, then lowercase: 1:1 once decomposed,
         * as U+0130, the one char that lowercases to two, is now I U+0307. */
        align_decomposed(t, n0);
        size_t n = n0;
        for (size_t i = n0; i < t->n; i++) {
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
    int32_t at = t->pos[n0];
    if (!tok_grow((void **)&t->utf8, &t->utf8_cap, (size_t)at + 4 * (t->n - n0) + 1, 1)) return tok_out_of_memory();
    for (size_t i = n0; i < t->n; i++) {
        t->pos[i] = at;
        at += encore_utf8_encode(t->cp[i], t->utf8 + at);
    }
    t->pos[t->n] = at;
    return ENCORE_STATUS_OK;
}

encore_status encore_tok_normalize(const encore_tokenizer *tok, norm_text *t, const char *text, size_t a,
                                   size_t b) {
    t->n = 0;
    return encore_tok_normalize_append(tok, t, text, a, b);
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
 * leftmost-longest and non-overlapping, with single_word, lstrip and rstrip;
 * one match at a time, so that a long text needs no list of them. */
typedef struct added_iter {
    size_t from;      /* where the search goes on */
    size_t prev_stop; /* where the last match ended (an lstrip stops there) */
} added_iter;

static int next_added(const encore_tokenizer *tok, int pass, const char *s, size_t len, added_iter *it,
                      match *out) {
    const int *cand = tok->pass_tokens[pass];
    int n_cand = tok->n_pass_tokens[pass];
    while (n_cand > 0 && it->from < len) {
        const added_token *hit = NULL;
        size_t start = it->from;
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
        if (!hit) {
            it->from = len;
            return 0;
        }
        size_t stop = start + hit->pattern_len;
        it->from = stop; /* the search goes on after the match, even one set aside */
        if (hit->single_word && ((start > 0 && encore_unicode_is_word(char_before(s, start))) ||
                                 (stop < len && encore_unicode_is_word(char_at(s, stop)))))
            continue;
        if (hit->lstrip) {
            size_t b = start;
            while (b > 0 && encore_unicode_is_whitespace(char_before(s, b))) b = char_start_before(s, b);
            start = b > it->prev_stop ? b : it->prev_stop;
        }
        if (hit->rstrip) {
            while (stop < len && encore_unicode_is_whitespace(char_at(s, stop))) {
                size_t p = stop;
                encore_utf8_next(s, &p);
                stop = p;
            }
        }
        *out = (match){start, stop, hit->id};
        it->prev_stop = stop;
        return 1;
    }
    return 0;
}

/* Every match of a pass in s[0, len), into out. */
static encore_status find_added(const encore_tokenizer *tok, int pass, const char *s, size_t len,
                                match_list *out) {
    out->n = 0;
    added_iter it = {0, 0};
    match m;
    while (next_added(tok, pass, s, len, &it, &m)) {
        encore_status st = push_match(out, m.start, m.stop, m.id);
        if (st != ENCORE_STATUS_OK) return st;
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
        return push_piece(out, tok->unk_id, word_start, word_end, 1);
    /* The word's pieces wait in out->word until it is known whether they all
     * match (else the word is one [UNK]): pushed pieces may not be taken back
     * from a ring. */
    out->word_n = 0;
    for (size_t s = a; s < b;) {
        /* No vocabulary entry is longer than max_token_len bytes: the search
         * starts at the longest piece that could match (the same result; a
         * word of a million characters costs no cube of them). */
        size_t e = s + 1;
        while (e < b && (size_t)(t->pos[e + 1] - t->pos[s]) <= tok->max_token_len) e++;
        int32_t id = -1;
        for (; e > s; e--) {
            id = tok_vocab_find(tok, s > a, t->utf8 + t->pos[s], (size_t)(t->pos[e] - t->pos[s]));
            if (id >= 0) break;
        }
        if (id < 0) return push_piece(out, tok->unk_id, word_start, word_end, 1);
        if (!tok_grow((void **)&out->word, &out->word_cap, out->word_n + 1, sizeof *out->word))
            return tok_out_of_memory();
        out->word[out->word_n++] = (piece){id, t->src[2 * s], t->src[2 * (e - 1) + 1], 0, 0, 0};
        s = e;
    }
    for (size_t i = 0; i < out->word_n; i++) {
        encore_status st = push_piece(out, out->word[i].id, out->word[i].start, out->word[i].end, i == 0);
        if (st != ENCORE_STATUS_OK) return st;
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

/* text[a, b), free of raw added tokens, at once: normalize, split out the
 * normalized added tokens, pre-tokenize and WordPiece the rest. */
static encore_status encode_segment_whole(const encore_tokenizer *tok, scratch *sc, const char *text, size_t a,
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
            st = push_piece(out, m->id, t->src[2 * ca], t->src[2 * (cb - 1) + 1], 1);
        c = cb;
    }
    if (c < t->n && st == ENCORE_STATUS_OK) st = pretokenize(tok, t, c, t->n, out);
    return st;
}

/* Raw bytes the chunked path normalizes at a time (past them, to the next
 * character where it may cut). Tests and fuzzers make it tiny, to check
 * that every cut gives what one pass gives (tokenizer_internal.h). */
enum { CHUNK_BYTES = 16 << 10 };
static size_t chunk_bytes = CHUNK_BYTES;

void encore_tok_set_chunk_bytes(size_t n) { chunk_bytes = n ? n : CHUNK_BYTES; }

/* May the text be cut before text[p] and each side normalized alone? Not
 * before a character clean_text drops (a run of marks may go on across it);
 * with decomposition (strip_accents), only before a character whose
 * decomposition starts with combining class 0, which the canonical ordering
 * of the marks after it never passes. */
static int starter_at(const encore_tokenizer *tok, const char *text, size_t p) {
    uint32_t c = encore_utf8_next(text, &p);
    if (tok->settings.clean_text && (c == 0 || c == 0xFFFD || encore_unicode_is_control(c))) return 0;
    if (!tok->strip_accents) return 1;
    uint32_t d[ENCORE_UNICODE_MAX_DECOMPOSITION];
    encore_unicode_decompose(c, d);
    return encore_unicode_combining_class(d[0]) == 0;
}

/* Where the pre-tokenizer splits: white space and punctuation. */
static int is_separator(uint32_t c) { return encore_unicode_is_whitespace(c) || encore_unicode_is_punctuation(c); }

/* Keep only the characters [from, t->n) of t, moved to its front. */
static void keep_tail(norm_text *t, size_t from) {
    const size_t n = t->n - from;
    const int32_t base = t->pos[from], bytes = t->pos[t->n] - base;
    memmove(t->cp, t->cp + from, n * sizeof *t->cp);
    memmove(t->src, t->src + 2 * from, 2 * n * sizeof *t->src);
    memmove(t->utf8, t->utf8 + base, (size_t)bytes);
    for (size_t i = 0; i <= n; i++) t->pos[i] = t->pos[from + i] - base;
    t->n = n;
}

/* text[a, b) as encode_segment_whole does it, for a tokenizer without
 * normalized added tokens, a chunk at a time: each chunk is normalized
 * after the unfinished word of the one before (cut only where starter_at
 * says normalization allows it), the complete words are WordPiece'd, and the
 * unfinished one is kept for the next; a word already longer than
 * max_input_chars_per_word is one [UNK] whatever follows, so only its ends
 * are kept. The scratch stays about a chunk and a word. */
static encore_status encode_segment_chunked(const encore_tokenizer *tok, scratch *sc, const char *text, size_t a,
                                            size_t b, piece_list *out) {
    norm_text *t = &sc->norm;
    const size_t max_chars = (size_t)tok->settings.max_input_chars_per_word;
    encore_status st = ENCORE_STATUS_OK;
    int long_word = 0;
    int32_t long_start = 0, long_end = 0;
    t->n = 0;
    for (size_t p = a; p < b && st == ENCORE_STATUS_OK;) {
        size_t q = b - p > chunk_bytes ? p + chunk_bytes : b;
        while (q < b && ((unsigned char)text[q] & 0xC0) == 0x80) q++;
        while (q < b && !starter_at(tok, text, q)) {
            encore_utf8_next(text, &q);
        }
        const int last = q >= b;
        if ((st = encore_tok_normalize_append(tok, t, text, p, q)) != ENCORE_STATUS_OK) break;
        p = q;
        size_t from = 0;
        if (long_word) {
            while (from < t->n && !is_separator(t->cp[from])) from++;
            if (from > 0) long_end = t->src[2 * (from - 1) + 1];
            if (from == t->n && !last) { /* the long word goes on */
                t->n = 0;
                t->pos[0] = 0;
                continue;
            }
            long_word = 0;
            if ((st = push_piece(out, tok->unk_id, long_start, long_end, 1)) != ENCORE_STATUS_OK) break;
        }
        /* Complete words: up to the last separator, or all at the end. */
        size_t done = t->n;
        if (!last) {
            while (done > from && !is_separator(t->cp[done - 1])) done--;
        }
        if (from < done && (st = pretokenize(tok, t, from, done, out)) != ENCORE_STATUS_OK) break;
        if (t->n - done > max_chars) {
            long_word = 1;
            long_start = t->src[2 * done];
            long_end = t->src[2 * (t->n - 1) + 1];
            t->n = 0;
            t->pos[0] = 0;
        } else {
            keep_tail(t, done);
        }
    }
    return st;
}

/* text[a, b), free of raw added tokens, with byte-level BPE: no normalizer,
 * so the "normalized" added tokens are found in the text itself, and the
 * rest goes to bpe.c a split at a time, its pieces streamed (no chunks
 * needed: the scratch is the longest piece's). */
static encore_status encode_segment_bpe(const encore_tokenizer *tok, scratch *sc, const char *text, size_t a,
                                        size_t b, piece_list *out) {
    encore_status st = ENCORE_STATUS_OK;
    added_iter it = {0, 0};
    match m;
    size_t p = 0;
    while (st == ENCORE_STATUS_OK && next_added(tok, 1, text + a, b - a, &it, &m)) {
        if (p < m.start) st = encore_bpe_encode(tok, &sc->bpe, text, a + p, a + m.start, emit_piece, out);
        if (st == ENCORE_STATUS_OK) st = push_added(tok, out, m.id, text, a + m.start, a + m.stop);
        p = m.stop;
    }
    if (st == ENCORE_STATUS_OK && a + p < b) st = encore_bpe_encode(tok, &sc->bpe, text, a + p, b, emit_piece, out);
    return st;
}

/* text[a, b), free of raw added tokens, with a Unigram model: normalized
 * whole (unigram.c), the normalized added tokens split out of that, and
 * each split between them pre-tokenized and tokenized. */
static encore_status encode_segment_unigram(const encore_tokenizer *tok, scratch *sc, const char *text, size_t a,
                                            size_t b, piece_list *out) {
    const char *norm;
    size_t len;
    encore_status st = encore_unigram_normalize(tok, &sc->unigram, text, a, b, &norm, &len);
    if (st != ENCORE_STATUS_OK || len == 0) return st;
    if (tok->n_pass_tokens[1] == 0) return encore_unigram_tokenize(tok, sc->unigram, 0, len, emit_piece, out);
    if ((st = find_added(tok, 1, norm, len, &sc->normalized)) != ENCORE_STATUS_OK) return st;
    size_t p = 0;
    for (size_t i = 0; i < sc->normalized.n && st == ENCORE_STATUS_OK; i++) {
        const match *m = &sc->normalized.v[i];
        if (p < m->start) st = encore_unigram_tokenize(tok, sc->unigram, p, m->start, emit_piece, out);
        if (st == ENCORE_STATUS_OK) {
            int32_t s0, s1;
            encore_unigram_source(sc->unigram, m->start, m->stop, &s0, &s1);
            st = push_piece(out, m->id, s0, s1, 1);
        }
        p = m->stop;
    }
    if (st == ENCORE_STATUS_OK && p < len) st = encore_unigram_tokenize(tok, sc->unigram, p, len, emit_piece, out);
    return st;
}

static encore_status encode_segment(const encore_tokenizer *tok, scratch *sc, const char *text, size_t a,
                                    size_t b, piece_list *out) {
    if (tok->model == TOK_BPE) return encode_segment_bpe(tok, sc, text, a, b, out);
    if (tok->model == TOK_UNIGRAM) return encode_segment_unigram(tok, sc, text, a, b, out);
    if (tok->n_pass_tokens[1] > 0) return encode_segment_whole(tok, sc, text, a, b, out);
    return encode_segment_chunked(tok, sc, text, a, b, out);
}

static encore_status encode_text(const encore_tokenizer *tok, scratch *sc, const char *text, size_t len,
                                 piece_list *out) {
    out->n = out->count = 0;
    out->words = 0;
    encore_status st = ENCORE_STATUS_OK;
    added_iter it = {0, 0};
    match m;
    size_t p = 0;
    while (st == ENCORE_STATUS_OK && next_added(tok, 0, text, len, &it, &m)) {
        if (p < m.start) st = encode_segment(tok, sc, text, p, m.start, out);
        if (st == ENCORE_STATUS_OK) st = push_added(tok, out, m.id, text, m.start, m.stop);
        p = m.stop;
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

/* ByteLevel's process_offsets, as transformers sees it (on character
 * offsets): lead leading "spaces" move the start right by as many
 * characters (not past the end), trail trailing ones the end left (not
 * before the start, and only when the end is at least trail characters in);
 * a first token (first kept, or at offset 0) keeps a single leading space
 * when the post-processor has add_prefix_space. */
static void trim_offsets(const encore_tokenizer *tok, const char *text, const piece *p, int first, int32_t *start,
                         int32_t *end) {
    size_t s = (size_t)p->start, e = (size_t)p->end;
    int lead = p->lead;
    if (lead > 0 && (first || p->start == 0) && tok->trim_prefix_space && lead == 1) lead = 0;
    for (int k = 0; k < lead && s < e; k++) encore_utf8_next(text, &s);
    if (p->trail > 0) {
        size_t b = e;
        int k = 0;
        for (; k < p->trail && b > 0; k++) b = char_start_before(text, b);
        if (k == p->trail) e = b > s ? b : s;
    }
    *start = (int32_t)s;
    *end = (int32_t)e;
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

encore_status encore_tokenizer_encode_bounded(const encore_tokenizer *tok, const char *text, const char *pair,
                                              int32_t max_len, int left, int32_t max_tokens, encore_encoding **out,
                                              int32_t *n_tokens) {
    if (out) *out = NULL;
    if (n_tokens) *n_tokens = 0;
    if (!tok || !text || !out)
        return encore_fail(ENCORE_STATUS_INVALID_ARGUMENT, "encore_tokenizer_encode: %s is NULL",
                           !tok ? "the tokenizer" : !text ? "the text" : "the output pointer");
    const token_template *tmpl = pair && *pair ? &tok->pair : &tok->single;
    if (max_len < 0 || (max_len > 0 && max_len < tmpl->n_special))
        return encore_fail(ENCORE_STATUS_INVALID_ARGUMENT,
                           "max_len %d leaves no room for the %d special tokens", (int)max_len, tmpl->n_special);
    if (max_tokens < 0) return encore_fail(ENCORE_STATUS_INVALID_ARGUMENT, "max_tokens %d", (int)max_tokens);
    size_t len[2] = {0, 0};
    encore_status st = check_text(text, "text", &len[0]);
    if (st == ENCORE_STATUS_OK && pair) st = check_text(pair, "text pair", &len[1]);
    if (st != ENCORE_STATUS_OK) return st;
    /* transformers tokenizes one input with an empty text_pair as a single
     * text (`[(text, text_pair)] if text_pair else [text]`). */
    if (pair && !*pair) pair = NULL;

    /* Pieces kept per sequence: truncation keeps at most the budget of
     * each (the first pieces, or the last with left truncation); a caller's
     * limit, all of an input it will take. (All, in the tests' one-pass
     * reference.) */
    size_t keep = max_len > 0 ? (size_t)(max_len - tmpl->n_special) : max_tokens > 0 ? (size_t)max_tokens : SIZE_MAX;
    if (chunk_bytes == SIZE_MAX || keep == 0) keep = SIZE_MAX;
    scratch sc = {0};
    for (int i = 0; i < 2; i++) {
        sc.seq[i].keep = keep;
        sc.seq[i].last = left && keep != SIZE_MAX;
    }
    /* Scratch for the common case (a character and a token per byte at most,
     * a chunk at a time) rather than grown step by step. */
    size_t longest = len[0] > len[1] ? len[0] : len[1];
    const size_t chars = longest < 2 * CHUNK_BYTES ? longest : 2 * CHUNK_BYTES;
    if (!norm_reserve(&sc.norm, chars + 16) ||
        !tok_grow((void **)&sc.norm.utf8, &sc.norm.utf8_cap, 2 * chars + 16, 1) ||
        !tok_grow((void **)&sc.seq[0].v, &sc.seq[0].cap, (len[0] < keep ? len[0] : keep) + 2, sizeof(piece)) ||
        (pair && !tok_grow((void **)&sc.seq[1].v, &sc.seq[1].cap, (len[1] < keep ? len[1] : keep) + 2, sizeof(piece)))) {
        scratch_free(&sc);
        return tok_out_of_memory();
    }
    st = encode_text(tok, &sc, text, len[0], &sc.seq[0]);
    if (st == ENCORE_STATUS_OK && pair) st = encode_text(tok, &sc, pair, len[1], &sc.seq[1]);
    if (st != ENCORE_STATUS_OK) {
        scratch_free(&sc);
        return st;
    }
    size_t keep_n[2] = {sc.seq[0].count, sc.seq[1].count};
    if (max_len > 0) truncate_lengths(&keep_n[0], &keep_n[1], pair != NULL, (size_t)(max_len - tmpl->n_special));

    size_t n = 0, n_untruncated = 0;
    for (int i = 0; i < tmpl->n_items; i++) {
        int seq = tmpl->items[i].sequence;
        n += seq < 0 ? 1 : keep_n[seq];
        n_untruncated += seq < 0 ? 1 : sc.seq[seq].count;
    }
    if (n_tokens) *n_tokens = n_untruncated > INT32_MAX ? INT32_MAX : (int32_t)n_untruncated;
    if (max_len == 0 && max_tokens > 0 && n_untruncated > (size_t)max_tokens) {
        scratch_free(&sc);
        return encore_fail(ENCORE_STATUS_TOO_LONG, "the input is %zu tokens long, more than %d", n_untruncated,
                           (int)max_tokens);
    }
    for (int i = 0; i < 2; i++)
        if (keep_n[i] > sc.seq[i].n) { /* cannot happen: truncation keeps at most what was kept */
            scratch_free(&sc);
            return encore_fail(ENCORE_STATUS_INVALID_ARGUMENT, "encore_tokenizer_encode: internal error");
        }
    /* One block: the struct, then ids (n), type_ids (n), sequence_ids (n),
     * offsets (n, 2), word_ids (n). */
    encore_encoding *enc = malloc(sizeof *enc + 6 * n * sizeof(int32_t));
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
    enc->word_ids = enc->offsets + 2 * n;
    size_t k = 0;
    for (int i = 0; i < tmpl->n_items; i++) {
        const template_item *it = &tmpl->items[i];
        if (it->sequence < 0) {
            enc->ids[k] = it->id;
            enc->type_ids[k] = it->type_id;
            enc->sequence_ids[k] = -1;
            enc->offsets[2 * k] = enc->offsets[2 * k + 1] = 0;
            enc->word_ids[k] = -1;
            k++;
            continue;
        }
        /* The first keep_n pieces, or with left truncation the last ones. */
        const piece_list *l = &sc.seq[it->sequence];
        const size_t first = left ? l->count - keep_n[it->sequence] : 0;
        for (size_t j = 0; j < keep_n[it->sequence]; j++, k++) {
            const piece *p = piece_at(l, first + j);
            enc->ids[k] = p->id;
            enc->type_ids[k] = it->type_id;
            enc->sequence_ids[k] = it->sequence;
            enc->offsets[2 * k] = p->start;
            enc->offsets[2 * k + 1] = p->end;
            enc->word_ids[k] = p->word;
            if (tok->trim_offsets && (p->lead > 0 || p->trail > 0))
                trim_offsets(tok, it->sequence ? pair : text, p, j == 0, &enc->offsets[2 * k],
                             &enc->offsets[2 * k + 1]);
        }
    }
    scratch_free(&sc);
    *out = enc;
    return ENCORE_STATUS_OK;
}

encore_status encore_tokenizer_encode(const encore_tokenizer *tok, const char *text, const char *pair,
                                      int32_t max_len, encore_encoding **out) {
    return encore_tokenizer_encode_bounded(tok, text, pair, max_len, 0, 0, out, NULL);
}

encore_status encore_tokenizer_encode_side(const encore_tokenizer *tok, const char *text, const char *pair,
                                           int32_t max_len, int left, encore_encoding **out) {
    return encore_tokenizer_encode_bounded(tok, text, pair, max_len, left, 0, out, NULL);
}
