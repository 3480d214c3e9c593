/* metrics.h: the server's counters, gauges and histograms, rendered in the
 * Prometheus text format for GET /metrics. Names follow text-embeddings-
 * inference (te_request_count, te_request_duration, te_batch_next_size, ...)
 * so that dashboards written for TEI read encore unchanged. Every function is
 * thread-safe. */
#ifndef ENCORE_SERVE_METRICS_H
#define ENCORE_SERVE_METRICS_H

#include <stddef.h>

/* The error_type of every error response, as TEI names them where TEI has
 * the case. */
typedef enum serve_error_type {
    SERVE_ERROR_VALIDATION = 0,    /* malformed JSON, wrong type, over-long input, too many inputs */
    SERVE_ERROR_TOKENIZER,         /* the text cannot be tokenized (invalid UTF-8) */
    SERVE_ERROR_EMPTY,             /* no inputs */
    SERVE_ERROR_OVERLOADED,        /* --max-concurrent-requests reached */
    SERVE_ERROR_BACKEND,           /* the model cannot do it, or inference failed */
    SERVE_ERROR_UNHEALTHY,         /* health check failed, or shutting down */
    SERVE_ERROR_NOT_FOUND,         /* unknown route */
    SERVE_ERROR_METHOD_NOT_ALLOWED,
    SERVE_ERROR_COUNT
} serve_error_type;

/* The error_type of a response ("Validation", ...). */
const char *serve_error_type_name(serve_error_type type);

typedef enum serve_method { SERVE_METHOD_SINGLE = 0, SERVE_METHOD_BATCH, SERVE_METHOD_COUNT } serve_method;

typedef struct serve_metrics serve_metrics;

/* max_input_length bounds the te_request_input_length buckets. NULL when out
 * of memory. */
serve_metrics *serve_metrics_create(int max_input_length);
void serve_metrics_free(serve_metrics *m);

/* An inference request (/predict, /embed, POST /) arrived. */
void serve_metrics_request(serve_metrics *m, serve_method method);
/* It succeeded, with these durations in seconds. */
void serve_metrics_success(serve_metrics *m, serve_method method, double total_s, double tokenization_s,
                           double queue_s, double inference_s);
/* Any request failed with this error type. */
void serve_metrics_failure(serve_metrics *m, serve_error_type type);
/* One input of an inference request, in tokens. */
void serve_metrics_input_length(serve_metrics *m, int n_tokens);
/* The model thread ran a batch. */
void serve_metrics_batch(serve_metrics *m, int n_inputs, int n_tokens, double seconds, int ok);
/* Inputs waiting for the model thread, and requests being served. */
void serve_metrics_queue_size(serve_metrics *m, int n_inputs);
void serve_metrics_concurrent_requests(serve_metrics *m, int n_requests);

/* The Prometheus text exposition; free() it. NULL when out of memory. */
char *serve_metrics_render(serve_metrics *m, size_t *len);

#endif /* ENCORE_SERVE_METRICS_H */
