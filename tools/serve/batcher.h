/* batcher.h: the model thread. Connection threads tokenize their inputs and
 * hand them over as a job; the model thread packs the queued inputs of many
 * jobs into batches by a token budget, runs each batch with one library call,
 * and wakes a job's thread as soon as its last input is done.
 *
 * Fairness: a batch takes inputs round-robin from the queued jobs (one input
 * per job per pass), and a job that still has inputs left goes to the back
 * of the queue. So a request with many long inputs runs as several batches
 * while requests that arrive meanwhile go into the very next batch: no
 * request waits behind another for more than one batch. */
#ifndef ENCORE_SERVE_BATCHER_H
#define ENCORE_SERVE_BATCHER_H

#include "encore.h"
#include "metrics.h"

#include <pthread.h>

/* What a job asks of the library. Inputs of one batch share a task. */
typedef enum serve_task {
    SERVE_TASK_SCORES = 0,       /* encore_session_classify_encoded */
    SERVE_TASK_LOGITS,           /* encore_session_logits_encoded (raw_scores) */
    SERVE_TASK_EMBED,            /* encore_session_embed_encoded, the model's pooling */
    SERVE_TASK_EMBED_NORMALIZED, /* the same, L2-normalized */
    SERVE_TASK_HIDDEN,           /* encore_session_hidden_states_encoded: every token's
                                    hidden state; out holds the inputs' tokens one after
                                    another, width floats per token */
    SERVE_TASK_SPARSE,           /* encore_session_embed_sparse_encoded: one weight per
                                    vocabulary entry (SPLADE models) */
    SERVE_TASK_COUNT
} serve_task;

typedef struct serve_job {
    /* Set by the caller of serve_batcher_run. */
    serve_task task;
    int n_inputs;
    const encore_encoding *const *encodings; /* (n_inputs) */
    float *out;                              /* (n_inputs, serve_batcher_width(task)); for
                                                SERVE_TASK_HIDDEN (sum of n_tokens, width) */
    int urgent;                              /* run at once, without waiting to fill a batch
                                                (the warm-up, health probes) */
    /* Set by the batcher. */
    encore_status status;                    /* the first failure of any input, else OK */
    char error[512];
    double t_enqueued, t_first_batch, t_finished; /* serve_now() seconds */
    /* Private to the batcher. */
    int next_input, n_finished, finished;
    unsigned long last_batch;                /* the last batch that took one of its inputs */
    pthread_cond_t done;
    struct serve_job *link;
} serve_job;

typedef struct serve_batcher_params {
    encore_session_params session; /* device, threads; max_batch_tokens is set from below */
    int max_batch_tokens;          /* token budget of one batch (one input alone may exceed it) */
    int max_batch_requests;        /* inputs per batch; 0 = no limit */
    long batch_wait_us;            /* how long the oldest input may wait for more to fill a batch */
} serve_batcher_params;

typedef struct serve_batcher serve_batcher;

/* Create the session (on the caller's thread, so that an error is reported
 * here) and start the model thread. metrics may be NULL. */
encore_status serve_batcher_create(const encore_model *model, serve_batcher_params params, serve_metrics *metrics,
                                   serve_batcher **out);

/* Floats per input in a job's out for this task (per token for
 * SERVE_TASK_HIDDEN). */
int serve_batcher_width(const serve_batcher *b, serve_task task);
/* The task of the warm-up and the health probe: a forward pass any model
 * can run (SPLADE weights for a SPLADE model, else an embedding). */
serve_task serve_batcher_probe_task(const serve_batcher *b);
encore_device serve_batcher_device(const serve_batcher *b);
/* serve_now() of the last batch that succeeded; 0 if none yet. */
double serve_batcher_last_success(serve_batcher *b);

/* Queue the job and wait until every input has run. Returns 0, or -1 when
 * the batcher is stopping and did not take the job. */
int serve_batcher_run(serve_batcher *b, serve_job *job);

/* Shutdown has begun: stop holding batches back to fill them (jobs are
 * still taken, for requests that arrived before). */
void serve_batcher_drain(serve_batcher *b);

/* Refuse new jobs, run every queued one (without waiting to fill batches),
 * then join the model thread. */
void serve_batcher_stop(serve_batcher *b);
/* Stop if needed, then free. NULL is a no-op. */
void serve_batcher_free(serve_batcher *b);

/* Monotonic clock in seconds. */
double serve_now(void);

#endif /* ENCORE_SERVE_BATCHER_H */
