/* bpe.c: byte-level BPE as RoBERTa uses it, token for token and offset for
 * offset what Hugging Face tokenizers (0.23) gives:
 *
 *   a split of text free of added tokens
 *     -> ByteLevel pre-tokenizer: (a space before it, with add_prefix_space)
 *        pieces of the GPT-2 pattern
 *          's|'t|'re|'ve|'m|'ll|'d| ?\p{L}+| ?\p{N}+| ?[^\s\p{L}\p{N}]+|\s+(?!\S)|\s+
 *        each byte of a piece made a printable "byte char"
 *     -> BPE: the byte chars as symbols, merged lowest rank first
 *
 * Every byte char is aligned to the whole character of the caller's text it
 * came from (the added space, to the split's first character), so a token
 * holding part of a character's bytes has that character's byte range.
 * The pattern is matched here by hand, with the leftmost-first alternation
 * of Oniguruma (the engine tokenizers uses) and its Unicode classes
 * (unicode.c). A piece is scanned and merged alone; the scratch is a few
 * arrays of the longest piece's length (about 50 bytes per byte of it). */
#include "tokenizer/tokenizer_internal.h"

#include "tokenizer/unicode.h"

/* ---- byte chars ---------------------------------------------------------- */

/* GPT-2's bytes_to_unicode: the printable bytes stand for themselves, the
 * 68 others take U+0100 upward in byte order. */
static int byte_is_printable(unsigned b) { return (b >= 0x21 && b <= 0x7E) || (b >= 0xA1 && b <= 0xAC) || b >= 0xAE; }

static uint32_t byte_char(unsigned b) {
    if (byte_is_printable(b)) return b;
    if (b <= 0x20) return 0x100 + b;                /* 0x00-0x20: U+0100-U+0120 */
    if (b <= 0xA0) return 0x100 + 33 + (b - 0x7F);  /* 0x7F-0xA0: U+0121-U+0142 */
    return 0x100 + 67;                              /* 0xAD: U+0143 */
}

/* The byte a byte char stands for, -1 when c is none. */
static int char_byte(uint32_t c) {
    if (c < 0x100) return byte_is_printable(c) ? (int)c : -1;
    if (c <= 0x120) return (int)(c - 0x100);
    if (c <= 0x142) return (int)(c - 0x100 - 33 + 0x7F);
    return c == 0x143 ? 0xAD : -1;
}

/* ---- the GPT-2 pattern --------------------------------------------------- */

/* A split: text[a, b), with a space before it when space is set. Positions
 * are logical: 0 is the added space, if any, then text[a] onwards. */
typedef struct split {
    const char *text;
    size_t a, b, n; /* n: logical length */
    int space;
} split;

static uint32_t split_char(const split *s, size_t at, size_t *next) {
    if (s->space && at == 0) {
        *next = 1;
        return ' ';
    }
    size_t p = s->a + at - (size_t)s->space;
    uint32_t c = encore_utf8_next(s->text, &p);
    *next = p - s->a + (size_t)s->space;
    return c;
}

enum { CLASS_LETTER, CLASS_NUMBER, CLASS_SPACE, CLASS_OTHER };

static int char_class(uint32_t c) {
    if (encore_unicode_is_letter(c)) return CLASS_LETTER;
    if (encore_unicode_is_number(c)) return CLASS_NUMBER;
    if (encore_unicode_is_whitespace(c)) return CLASS_SPACE;
    return CLASS_OTHER;
}

/* Where the match that starts at `at` (< s->n) ends. Every character is a
 * letter, a number, white space or other, so a match starts at every
 * position the last one ended. */
static size_t pattern_end(const split *s, size_t at) {
    size_t q, q2, q3;
    uint32_t c = split_char(s, at, &q);
    if (c == '\'' && q < s->n) { /* 's 't 're 've 'm 'll 'd, tried first */
        uint32_t d = split_char(s, q, &q2);
        if (d == 's' || d == 't' || d == 'm' || d == 'd') return q2;
        if ((d == 'r' || d == 'v' || d == 'l') && q2 < s->n) {
            uint32_t e = split_char(s, q2, &q3);
            if (e == (d == 'l' ? 'l' : 'e')) return q3;
        }
    }
    int k = char_class(c);
    if (c == ' ' && q < s->n) { /* " ?\p{L}+", " ?\p{N}+", " ?[^\s\p{L}\p{N}]+" take a space before */
        int kd = char_class(split_char(s, q, &q2));
        if (kd != CLASS_SPACE) {
            k = kd;
            q = q2;
        }
    }
    if (k != CLASS_SPACE) { /* as many of the same class as follow */
        while (q < s->n && char_class(split_char(s, q, &q2)) == k) q = q2;
        return q;
    }
    /* White space: "\s+(?!\S)" takes a run up to the end, or all of it but
     * its last character before a non-space; "\s+" one character alone. */
    size_t last = at;
    while (q < s->n && encore_unicode_is_whitespace(split_char(s, q, &q2))) {
        last = q;
        q = q2;
    }
    if (q == s->n) return q;
    return last > at ? last : q;
}

/* ---- BPE ----------------------------------------------------------------- */

typedef struct bchar {
    uint32_t nstart;    /* where it starts in the piece's byte-char string (UTF-8, 1 or 2 bytes each) */
    int32_t start, end; /* the byte range of the character it came from */
    uint32_t byte;      /* the byte it stands for */
} bchar;

typedef struct symbol {
    int32_t id;
    int32_t prev, next; /* -1 at the ends */
    uint32_t len;       /* bytes of the byte-char string it covers; 0: merged away */
} symbol;

typedef struct heap_entry {
    uint32_t rank, pos;
    int32_t new_id;
} heap_entry;

struct bpe_scratch {
    bchar *bc;       /* (n_bc) the piece's byte chars */
    size_t bc_cap;
    symbol *sym;     /* (n_sym) */
    size_t sym_cap;
    heap_entry *heap;
    size_t heap_n, heap_cap;
    char *word;      /* the piece's byte-char string, for ignore_merges */
    size_t word_cap;
};

void encore_bpe_scratch_free(bpe_scratch *s) {
    if (!s) return;
    free(s->bc);
    free(s->sym);
    free(s->heap);
    free(s->word);
    free(s);
}

static const bpe_merge *merge_find(const encore_tokenizer *tok, int32_t a, int32_t b) {
    if (!tok->merges) return NULL;
    uint32_t h = ((uint32_t)a * 0x9E3779B1u) ^ ((uint32_t)b * 0x85EBCA77u);
    h ^= h >> 15;
    for (uint32_t i = h & tok->merge_mask;; i = (i + 1) & tok->merge_mask) {
        const bpe_merge *m = &tok->merges[i];
        if (m->a < 0) return NULL;
        if (m->a == a && m->b == b) return m;
    }
}

/* tokenizers' Merge order: the lowest rank first, then the lowest position. */
static int heap_before(const heap_entry *x, const heap_entry *y) {
    return x->rank != y->rank ? x->rank < y->rank : x->pos < y->pos;
}

static int heap_push(bpe_scratch *s, heap_entry e) {
    if (!tok_grow((void **)&s->heap, &s->heap_cap, s->heap_n + 1, sizeof *s->heap)) return 0;
    size_t i = s->heap_n++;
    while (i > 0) {
        size_t parent = (i - 1) / 2;
        if (!heap_before(&e, &s->heap[parent])) break;
        s->heap[i] = s->heap[parent];
        i = parent;
    }
    s->heap[i] = e;
    return 1;
}

static heap_entry heap_pop(bpe_scratch *s) {
    heap_entry top = s->heap[0], last = s->heap[--s->heap_n];
    size_t i = 0, n = s->heap_n;
    for (;;) {
        size_t c = 2 * i + 1;
        if (c >= n) break;
        if (c + 1 < n && heap_before(&s->heap[c + 1], &s->heap[c])) c++;
        if (!heap_before(&s->heap[c], &last)) break;
        s->heap[i] = s->heap[c];
        i = c;
    }
    if (n > 0) s->heap[i] = last;
    return top;
}

/* Queue the merge of the symbols at pos and its next one, if there is one. */
static int queue_pair(const encore_tokenizer *tok, bpe_scratch *s, uint32_t pos) {
    const symbol *x = &s->sym[pos];
    if (x->next < 0) return 1;
    const bpe_merge *m = merge_find(tok, x->id, s->sym[x->next].id);
    return !m || heap_push(s, (heap_entry){m->rank, pos, m->new_id});
}

/* Word::merge_all: pop the best merge; skip it when its left symbol is gone
 * or the pair there no longer makes the same token (tokenizers checks the
 * new id only, not the rank); else merge and queue the pairs the new symbol
 * forms with its neighbours. */
static int merge_all(const encore_tokenizer *tok, bpe_scratch *s, size_t n_sym) {
    s->heap_n = 0;
    for (size_t i = 0; i + 1 < n_sym; i++)
        if (!queue_pair(tok, s, (uint32_t)i)) return 0;
    while (s->heap_n > 0) {
        const heap_entry top = heap_pop(s);
        symbol *x = &s->sym[top.pos];
        if (x->len == 0 || x->next < 0) continue;
        symbol *right = &s->sym[x->next];
        const bpe_merge *m = merge_find(tok, x->id, right->id);
        if (!m || m->new_id != top.new_id) continue;
        x->id = top.new_id;
        x->len += right->len;
        right->len = 0;
        x->next = right->next;
        if (x->next >= 0) s->sym[x->next].prev = (int32_t)top.pos;
        if (x->prev >= 0 && !queue_pair(tok, s, (uint32_t)x->prev)) return 0;
        if (!queue_pair(tok, s, top.pos)) return 0;
    }
    return 1;
}

/* The byte char holding byte `at` of the piece's byte-char string. */
static size_t bchar_at(const bpe_scratch *s, size_t n_bc, uint32_t at) {
    size_t lo = 0, hi = n_bc;
    while (hi - lo > 1) {
        size_t mid = (lo + hi) / 2;
        if (s->bc[mid].nstart <= at) lo = mid;
        else hi = mid;
    }
    return lo;
}

void encore_bpe_count_spaces(const char *s, size_t n, int *lead, int *trail) {
    int l = 0, t = 0;
    size_t p = 0;
    while (p < n) {
        uint32_t c = encore_utf8_next(s, &p);
        if (c != 0x120 && !encore_unicode_is_whitespace(c)) break;
        l++;
    }
    size_t e = n;
    while (e > 0) {
        size_t b = e - 1;
        while (b > 0 && ((unsigned char)s[b] & 0xC0) == 0x80) b--;
        size_t q = b;
        uint32_t c = encore_utf8_next(s, &q);
        if (c != 0x120 && !encore_unicode_is_whitespace(c)) break;
        t++;
        e = b;
    }
    *lead = l;
    *trail = t;
}

/* Hand a token of the piece to emit: its byte-char range [from, from + len)
 * as the range of the characters it came from. */
static encore_status emit_token(const encore_tokenizer *tok, const bpe_scratch *s, size_t n_bc, int32_t id,
                                uint32_t from, uint32_t len, tok_emit_fn emit, void *ctx) {
    /* A split is one word: its first token is the one at 0. */
    const bchar *first = &s->bc[bchar_at(s, n_bc, from)], *last = &s->bc[bchar_at(s, n_bc, from + len - 1)];
    int lead = 0, trail = 0;
    if (id >= 0 && id < tok->n_ids && tok->id_text[id] != NO_TEXT) {
        const char *t = tok->pool + tok->id_text[id];
        encore_bpe_count_spaces(t, strlen(t), &lead, &trail);
    }
    return emit(ctx, id, first->start, last->end, lead, trail, from == 0);
}

/* BPE::tokenize of the piece [from, to) of the split. */
static encore_status bpe_piece(const encore_tokenizer *tok, bpe_scratch *s, const split *sp, size_t from,
                               size_t to, tok_emit_fn emit, void *ctx) {
    /* Its byte chars: one per byte (the added space: one). */
    const size_t need = (to - from) + 1;
    if (!tok_grow((void **)&s->bc, &s->bc_cap, need, sizeof *s->bc) ||
        !tok_grow((void **)&s->sym, &s->sym_cap, need, sizeof *s->sym) ||
        (tok->ignore_merges && !tok_grow((void **)&s->word, &s->word_cap, 2 * need, 1)))
        return tok_out_of_memory();
    size_t n_bc = 0;
    uint32_t nlen = 0;
    size_t first_end = sp->a; /* the added space stands for the split's first character */
    encore_utf8_next(sp->text, &first_end);
    for (size_t at = from; at < to;) {
        size_t next;
        split_char(sp, at, &next);
        const int added = sp->space && at == 0;
        const size_t real = added ? sp->a : sp->a + at - (size_t)sp->space;
        const size_t real_end = added ? first_end : sp->a + next - (size_t)sp->space;
        const size_t n_bytes = added ? 1 : real_end - real;
        for (size_t k = 0; k < n_bytes; k++) {
            const unsigned byte = added ? ' ' : (unsigned char)sp->text[real + k];
            const uint32_t c = byte_char(byte);
            s->bc[n_bc++] = (bchar){nlen, (int32_t)real, (int32_t)real_end, byte};
            if (tok->ignore_merges) encore_utf8_encode(c, s->word + nlen);
            nlen += c < 0x80 ? 1 : 2;
        }
        at = next;
    }
    if (n_bc == 0) return ENCORE_STATUS_OK;
    if (tok->ignore_merges) {
        int32_t id = tok_vocab_find(tok, 0, s->word, nlen);
        if (id >= 0) return emit_token(tok, s, n_bc, id, 0, nlen, emit, ctx);
    }
    /* BPE::merge_word: one symbol per byte char; one that is not in the
     * vocabulary is the unknown token (fused with an unknown one before it
     * with fuse_unk), or with no unk_token nothing at all: the symbols after
     * it then take its place in the offsets, as in tokenizers. */
    size_t n_sym = 0;
    uint32_t unk_len = 0;
    for (size_t k = 0; k < n_bc; k++) {
        const uint32_t len = (k + 1 < n_bc ? s->bc[k + 1].nstart : nlen) - s->bc[k].nstart;
        const int32_t id = tok->byte_id[s->bc[k].byte];
        if (id < 0 && tok->bpe_unk < 0) continue;
        if (id < 0 && unk_len > 0 && tok->fuse_unk) {
            unk_len += len;
            continue;
        }
        if (unk_len > 0) {
            s->sym[n_sym] = (symbol){tok->bpe_unk, (int32_t)n_sym - 1, (int32_t)n_sym + 1, unk_len};
            n_sym++;
            unk_len = 0;
        }
        if (id < 0) {
            unk_len = len;
            continue;
        }
        s->sym[n_sym] = (symbol){id, (int32_t)n_sym - 1, (int32_t)n_sym + 1, len};
        n_sym++;
    }
    if (unk_len > 0) {
        s->sym[n_sym] = (symbol){tok->bpe_unk, (int32_t)n_sym - 1, (int32_t)n_sym + 1, unk_len};
        n_sym++;
    }
    if (n_sym == 0) return ENCORE_STATUS_OK;
    s->sym[n_sym - 1].next = -1;
    if (!merge_all(tok, s, n_sym)) return tok_out_of_memory();
    /* Word::get_offsets: each token's place is the sum of the lengths before it. */
    uint32_t pos = 0;
    for (int32_t i = 0; i >= 0; i = s->sym[i].next) {
        encore_status st = emit_token(tok, s, n_bc, s->sym[i].id, pos, s->sym[i].len, emit, ctx);
        if (st != ENCORE_STATUS_OK) return st;
        pos += s->sym[i].len;
    }
    return ENCORE_STATUS_OK;
}

encore_status encore_bpe_encode(const encore_tokenizer *tok, bpe_scratch **scratch, const char *text, size_t a,
                                size_t b, tok_emit_fn emit, void *ctx) {
    if (a >= b) return ENCORE_STATUS_OK;
    if (!*scratch && !(*scratch = calloc(1, sizeof **scratch))) return tok_out_of_memory();
    split sp = {text, a, b, 0, tok->add_prefix_space && text[a] != ' '};
    sp.n = b - a + (size_t)sp.space;
    if (!tok->use_regex) return bpe_piece(tok, *scratch, &sp, 0, sp.n, emit, ctx);
    encore_status st = ENCORE_STATUS_OK;
    for (size_t at = 0; at < sp.n && st == ENCORE_STATUS_OK;) {
        const size_t end = pattern_end(&sp, at);
        st = bpe_piece(tok, *scratch, &sp, at, end, emit, ctx);
        at = end;
    }
    return st;
}

/* ---- decoding ------------------------------------------------------------ */

static int append(char **buf, size_t *len, size_t *cap, const char *s, size_t n) {
    if (!tok_grow((void **)buf, cap, *len + n + 1, 1)) return 0;
    memcpy(*buf + *len, s, n);
    *len += n;
    (*buf)[*len] = '\0';
    return 1;
}

int encore_bpe_decode_bytes(const char *s, size_t n, char **buf, size_t *len, size_t *cap) {
    /* ByteLevel::decode_chain: a token all of byte chars gives their bytes,
     * any other token its own text. */
    size_t p = 0;
    while (p < n) {
        uint32_t c = encore_utf8_next(s, &p);
        if (char_byte(c) < 0) return append(buf, len, cap, s, n);
    }
    if (!tok_grow((void **)buf, cap, *len + n + 1, 1)) return 0;
    for (p = 0; p < n;) (*buf)[(*len)++] = (char)char_byte(encore_utf8_next(s, &p));
    (*buf)[*len] = '\0';
    return 1;
}

/* Bytes of the valid UTF-8 sequence at in[i], or 0; *sub: the length of
 * the maximal subpart of one (at least 1), which one U+FFFD replaces. */
static size_t utf8_at(const unsigned char *in, size_t n, size_t i, size_t *sub) {
    const unsigned c = in[i];
    size_t need;
    unsigned lo = 0x80, hi = 0xBF;
    *sub = 1;
    if (c < 0x80) return 1;
    if (c >= 0xC2 && c <= 0xDF) need = 1;
    else if (c >= 0xE0 && c <= 0xEF) {
        need = 2;
        if (c == 0xE0) lo = 0xA0;
        if (c == 0xED) hi = 0x9F;
    } else if (c >= 0xF0 && c <= 0xF4) {
        need = 3;
        if (c == 0xF0) lo = 0x90;
        if (c == 0xF4) hi = 0x8F;
    } else {
        return 0;
    }
    for (size_t k = 1; k <= need; k++) {
        if (i + k >= n) return 0;
        const unsigned d = in[i + k];
        if (d < (k == 1 ? lo : 0x80) || d > (k == 1 ? hi : 0xBF)) return 0;
        *sub = k + 1;
    }
    return need + 1;
}

size_t encore_bpe_fix_utf8(const char *in, size_t n, char *out) {
    /* String::from_utf8_lossy and Python's errors="replace" agree: each
     * maximal subpart of an invalid sequence becomes one U+FFFD. out needs
     * room for 3 bytes per byte of in. */
    const unsigned char *u = (const unsigned char *)in;
    size_t w = 0;
    for (size_t i = 0; i < n;) {
        size_t sub, k = utf8_at(u, n, i, &sub);
        if (k) {
            memmove(out + w, in + i, k);
            w += k;
            i += k;
        } else {
            memcpy(out + w, "\xEF\xBF\xBD", 3);
            w += 3;
            i += sub;
        }
    }
    return w;
}
