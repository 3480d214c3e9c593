/* fuzz_token_classify.c: any bytes as a text through the NER pipeline
 * (encore_session_token_classify) on a tiny token classifier: every
 * aggregation strategy, ignore lists, strides. The entities must be
 * well-formed: labels and words present, scores in [0, 1], spans inside the
 * text, character offsets that count the code points before their byte
 * offsets, in text order.
 *
 * Input: byte 0 holds flags (bits 0-2: the strategy, mod 5; bit 3: ignore
 * nothing instead of the default O; bit 4: a stride; bits 5-7: the stride,
 * times 8, from 0 to 56, or 61 when 7, the largest the 64-token windows
 * take); the rest is the text (up to the first NUL). */
#include "fuzz_common.h"

static encore_model *model;
static encore_session *session;

/* Code points in s[0, n): the harness's own count. */
static int32_t chars_before(const char *s, int32_t n) {
    int32_t c = 0;
    for (int32_t i = 0; i < n; i++) c += ((unsigned char)s[i] & 0xC0) != 0x80;
    return c;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    if (!model) {
        fuzz_quiet();
        encore_session_params sp = encore_session_default_params();
        sp.n_threads = 1;
        if (encore_model_load(fuzz_fixture("tiny-bert-ner"), encore_model_default_params(), &model) != ENCORE_STATUS_OK ||
            encore_session_create(model, sp, &session) != ENCORE_STATUS_OK) {
            fprintf(stderr, "cannot load the fixture model: %s\n", encore_last_error());
            abort();
        }
    }
    if (size < 1) return 0;
    const int flags = data[0];
    char *text = fuzz_strndup(data + 1, size - 1);
    const int32_t len = (int32_t)strlen(text);
    encore_token_classify_params p = encore_token_classify_default_params();
    p.aggregation = (encore_aggregation)((flags & 7) % 5);
    static const char *const none[1] = {NULL};
    if (flags & 8) p.ignore_labels = none, p.n_ignore_labels = 0;
    if (flags & 16) p.stride = ((flags >> 5) & 7) == 7 ? 61 : ((flags >> 5) & 7) * 8;
    encore_token_classify_result *r = NULL;
    const encore_status st = encore_session_token_classify(session, text, p, &r);
    if (st != ENCORE_STATUS_OK) {
        FUZZ_CHECK(r == NULL, "a failed call left a result");
        FUZZ_CHECK(st == ENCORE_STATUS_BAD_INPUT, "status %d: %s", (int)st, encore_session_last_error(session));
    } else {
        FUZZ_CHECK(r->aggregation == p.aggregation, "the result's strategy");
        int32_t last_start = -1;
        for (int i = 0; i < r->n_entities; i++) {
            const encore_entity *e = &r->entities[i];
            FUZZ_CHECK(e->entity && *e->entity && e->word, "entity %d: no label or word", i);
            FUZZ_CHECK(e->score >= 0.0f && e->score <= 1.0f, "entity %d: score %g", i, (double)e->score);
            FUZZ_CHECK(0 <= e->start_byte && e->start_byte <= e->end_byte && e->end_byte <= len,
                       "entity %d: bytes [%d, %d) of %d", i, e->start_byte, e->end_byte, len);
            FUZZ_CHECK(e->start == chars_before(text, e->start_byte) && e->end == chars_before(text, e->end_byte),
                       "entity %d: characters [%d, %d) for bytes [%d, %d)", i, e->start, e->end, e->start_byte,
                       e->end_byte);
            FUZZ_CHECK((p.aggregation == ENCORE_AGGREGATION_NONE) == (e->index >= 0), "entity %d: index %d", i,
                       e->index);
            FUZZ_CHECK(e->start >= last_start, "entity %d starts at %d, before %d", i, e->start, last_start);
            last_start = e->start;
        }
    }
    encore_token_classify_result_free(r);
    free(text);
    return 0;
}
