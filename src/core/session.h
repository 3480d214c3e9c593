/* session.h: private session entry points used by the tests. */
#ifndef ENCORE_SESSION_H
#define ENCORE_SESSION_H

#include "encore.h"

#ifdef __cplusplus
extern "C" {
#endif

/* Tokens per forward pass: a call with more is split into chunks of whole
 * inputs, which bounds memory and does not change any result. */
#define ENCORE_CHUNK_TOKENS 8192

/* The last hidden state of every input, concatenated: (sum of n_tokens, C).
 * n_tokens: (n_inputs). The inputs must fit one chunk. out is malloc'd. */
encore_status encore_session_hidden_states(encore_session *session, const encore_input *inputs, int n_inputs,
                                           float **out, int32_t *n_tokens);

/* For the pipelines built on a session (pipelines.c): its model, whether it
 * truncates, and the last-error hand-over (copies this thread's last error
 * into the session and returns status). */
const struct encore_model *encore_session_model(const encore_session *session);
int encore_session_truncates(const encore_session *session);
encore_status encore_session_fail(encore_session *session, encore_status status);

/* The CUDA backend of a session that runs on a GPU, else NULL (always NULL
 * in a build without CUDA). */
struct encore_cuda_session;
struct encore_cuda_session *encore_session_cuda_backend(encore_session *session);

#ifdef __cplusplus
}
#endif

#endif /* ENCORE_SESSION_H */
