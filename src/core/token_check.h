/* token_check.h: the one check that a packed batch's tokens fit the model,
 * run by every backend before its embedding lookup reads the tables. */
#ifndef ENCORE_TOKEN_CHECK_H
#define ENCORE_TOKEN_CHECK_H

#include "core/model.h"

#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

/* ENCORE_STATUS_OK when every token t < T has an id in [0, vocab_size), a
 * position in [0, max_position_embeddings) and, for models with token type
 * embeddings, a type id in [0, type_vocab_size); otherwise
 * ENCORE_STATUS_BAD_INPUT, with a message that names the first bad token and
 * which of its values is out of range. ids, type_ids, positions: (T). */
encore_status encore_model_check_tokens(const encore_model *m, const int32_t *ids, const int32_t *type_ids,
                                        const int32_t *positions, int T);

/* ENCORE_STATUS_OK unless the model has a relative position bias (MPNet)
 * and a sequence of max_len tokens is longer than it spans: then
 * ENCORE_STATUS_BAD_INPUT. */
encore_status encore_model_check_span(const encore_model *m, int max_len);

#ifdef __cplusplus
}
#endif

#endif /* ENCORE_TOKEN_CHECK_H */
