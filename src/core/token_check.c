/* token_check.c: see token_check.h. */
#include "core/token_check.h"

#include "core/common.h"

encore_status encore_model_check_tokens(const encore_model *m, const int32_t *ids, const int32_t *type_ids,
                                        const int32_t *positions, int T) {
    const encore_config *c = &m->config;
    for (int t = 0; t < T; t++) {
        const char *bad = NULL;
        int32_t value = 0, limit = 0;
        if (ids[t] < 0 || ids[t] >= c->vocab_size) bad = "id", value = ids[t], limit = c->vocab_size;
        else if (positions[t] < 0 || positions[t] >= c->max_position_embeddings)
            bad = "position", value = positions[t], limit = c->max_position_embeddings;
        else if (m->type_emb && (type_ids[t] < 0 || type_ids[t] >= c->type_vocab_size))
            bad = "type", value = type_ids[t], limit = c->type_vocab_size;
        if (bad)
            return encore_fail(ENCORE_STATUS_BAD_INPUT,
                               "token %d (id %d, type %d, position %d) is outside the model: its %s %d is not "
                               "in [0, %d)",
                               t, ids[t], type_ids[t], positions[t], bad, value, limit);
    }
    return ENCORE_STATUS_OK;
}

encore_status encore_model_check_span(const encore_model *m, int max_len) {
    if ((m->rel_bias || m->deberta_index) && max_len > m->rel_span)
        return encore_fail(ENCORE_STATUS_BAD_INPUT,
                           "a text of %d tokens is longer than the %d that the model's relative position bias spans",
                           max_len, m->rel_span);
    return ENCORE_STATUS_OK;
}
