/* metrics.c: Prometheus counters, gauges and histograms; see metrics.h. */
#include "metrics.h"

#include "json_buf.h"

#include <pthread.h>
#include <stdint.h>
#include <stdlib.h>

/* The label of te_request_failure, lower case as TEI's metrics write it. */
static const char *const error_names[SERVE_ERROR_COUNT] = {
    "validation", "tokenizer", "empty", "overloaded", "backend", "unhealthy", "not_found", "method_not_allowed",
};

/* The error_type of a response: TEI's ErrorType enum as its server
 * serializes it (the variant's name); the last two are encore's own, for
 * routes TEI answers without a body. */
static const char *const error_types[SERVE_ERROR_COUNT] = {
    "Validation", "Tokenizer", "Empty", "Overloaded", "Backend", "Unhealthy", "NotFound", "MethodNotAllowed",
};

static const char *const method_names[SERVE_METHOD_COUNT] = {"single", "batch"};

const char *serve_error_type_name(serve_error_type type) {
    return type >= 0 && type < SERVE_ERROR_COUNT ? error_types[type] : "Unknown";
}

/* A cumulative histogram as Prometheus wants it: counts[i] observations
 * <= bounds[i], plus +Inf (counts[n]). */
typedef struct histogram {
    double bounds[64];
    int n;
    uint64_t counts[65];
    double sum;
    uint64_t count;
} histogram;

static void observe(histogram *h, double v) {
    for (int i = 0; i < h->n; i++)
        if (v <= h->bounds[i]) h->counts[i]++;
    h->counts[h->n]++;
    h->sum += v;
    h->count++;
}

/* bounds: first, first*factor, ... while <= last (n at most 64). */
static void geometric(histogram *h, double first, double factor, int n, double last) {
    h->n = 0;
    for (double v = first; h->n < n && h->n < 64 && v <= last; v *= factor) h->bounds[h->n++] = v;
}

enum { H_DURATION, H_TOKENIZATION, H_QUEUE, H_INFERENCE, H_INPUT_LENGTH, H_BATCH_SIZE, H_BATCH_TOKENS,
       H_BATCH_DURATION, H_COUNT };

static const struct {
    const char *name, *help;
} histogram_info[H_COUNT] = {
    {"te_request_duration", "Time from receiving a request to its response, in seconds"},
    {"te_request_tokenization_duration", "Time spent tokenizing a request, in seconds"},
    {"te_request_queue_duration", "Time a request waited for the model thread, in seconds"},
    {"te_request_inference_duration", "Time from a request's first batch to its last, in seconds"},
    {"te_request_input_length", "Tokens of one input, special tokens included"},
    {"te_batch_next_size", "Inputs in a batch"},
    {"te_batch_next_tokens", "Tokens in a batch"},
    {"te_batch_inference_duration", "Time of one batch's forward pass, in seconds"},
};

struct serve_metrics {
    pthread_mutex_t lock;
    uint64_t requests[SERVE_METHOD_COUNT];
    uint64_t successes[SERVE_METHOD_COUNT];
    uint64_t failures[SERVE_ERROR_COUNT];
    uint64_t batches, batch_successes, batch_failures;
    int queue_size, concurrent_requests;
    histogram h[H_COUNT];
};

serve_metrics *serve_metrics_create(int max_input_length) {
    serve_metrics *m = calloc(1, sizeof *m);
    if (!m) return NULL;
    pthread_mutex_init(&m->lock, NULL);
    /* Durations: 15 us growing by 1.5x, 35 buckets (up to ~21 min), as TEI. */
    for (int k = H_DURATION; k <= H_INFERENCE; k++) geometric(&m->h[k], 1.5e-5, 1.5, 35, 1e9);
    geometric(&m->h[H_BATCH_DURATION], 1.5e-5, 1.5, 35, 1e9);
    geometric(&m->h[H_INPUT_LENGTH], 1, 2, 20, max_input_length > 0 ? max_input_length : 1);
    geometric(&m->h[H_BATCH_SIZE], 1, 2, 13, 1e9);
    geometric(&m->h[H_BATCH_TOKENS], 1, 2, 21, 1e9);
    return m;
}

void serve_metrics_free(serve_metrics *m) {
    if (!m) return;
    pthread_mutex_destroy(&m->lock);
    free(m);
}

void serve_metrics_request(serve_metrics *m, serve_method method) {
    pthread_mutex_lock(&m->lock);
    m->requests[method]++;
    pthread_mutex_unlock(&m->lock);
}

void serve_metrics_success(serve_metrics *m, serve_method method, double total_s, double tokenization_s,
                           double queue_s, double inference_s) {
    pthread_mutex_lock(&m->lock);
    m->successes[method]++;
    observe(&m->h[H_DURATION], total_s);
    observe(&m->h[H_TOKENIZATION], tokenization_s);
    observe(&m->h[H_QUEUE], queue_s);
    observe(&m->h[H_INFERENCE], inference_s);
    pthread_mutex_unlock(&m->lock);
}

void serve_metrics_failure(serve_metrics *m, serve_error_type type) {
    if (type < 0 || type >= SERVE_ERROR_COUNT) return;
    pthread_mutex_lock(&m->lock);
    m->failures[type]++;
    pthread_mutex_unlock(&m->lock);
}

void serve_metrics_input_length(serve_metrics *m, int n_tokens) {
    pthread_mutex_lock(&m->lock);
    observe(&m->h[H_INPUT_LENGTH], n_tokens);
    pthread_mutex_unlock(&m->lock);
}

void serve_metrics_batch(serve_metrics *m, int n_inputs, int n_tokens, double seconds, int ok) {
    pthread_mutex_lock(&m->lock);
    m->batches++;
    if (ok) m->batch_successes++;
    else m->batch_failures++;
    observe(&m->h[H_BATCH_SIZE], n_inputs);
    observe(&m->h[H_BATCH_TOKENS], n_tokens);
    observe(&m->h[H_BATCH_DURATION], seconds);
    pthread_mutex_unlock(&m->lock);
}

void serve_metrics_queue_size(serve_metrics *m, int n_inputs) {
    pthread_mutex_lock(&m->lock);
    m->queue_size = n_inputs;
    pthread_mutex_unlock(&m->lock);
}

void serve_metrics_concurrent_requests(serve_metrics *m, int n_requests) {
    pthread_mutex_lock(&m->lock);
    m->concurrent_requests = n_requests;
    pthread_mutex_unlock(&m->lock);
}

static void header(serve_buf *b, const char *name, const char *type, const char *help) {
    serve_buf_printf(b, "# HELP %s %s\n# TYPE %s %s\n", name, help, name, type);
}

static void render_histogram(serve_buf *b, const histogram *h, const char *name, const char *help) {
    header(b, name, "histogram", help);
    for (int i = 0; i < h->n; i++)
        serve_buf_printf(b, "%s_bucket{le=\"%.9g\"} %llu\n", name, h->bounds[i], (unsigned long long)h->counts[i]);
    serve_buf_printf(b, "%s_bucket{le=\"+Inf\"} %llu\n", name, (unsigned long long)h->counts[h->n]);
    serve_buf_printf(b, "%s_sum %.9g\n%s_count %llu\n", name, h->sum, name, (unsigned long long)h->count);
}

char *serve_metrics_render(serve_metrics *m, size_t *len) {
    serve_buf b = {0};
    pthread_mutex_lock(&m->lock);
    header(&b, "te_request_count", "counter", "Inference requests received");
    for (int i = 0; i < SERVE_METHOD_COUNT; i++)
        serve_buf_printf(&b, "te_request_count{method=\"%s\"} %llu\n", method_names[i],
                         (unsigned long long)m->requests[i]);
    header(&b, "te_request_success", "counter", "Inference requests answered with 200");
    for (int i = 0; i < SERVE_METHOD_COUNT; i++)
        serve_buf_printf(&b, "te_request_success{method=\"%s\"} %llu\n", method_names[i],
                         (unsigned long long)m->successes[i]);
    header(&b, "te_request_failure", "counter", "Requests answered with an error, by error_type");
    for (int i = 0; i < SERVE_ERROR_COUNT; i++)
        serve_buf_printf(&b, "te_request_failure{err=\"%s\"} %llu\n", error_names[i],
                         (unsigned long long)m->failures[i]);
    header(&b, "te_queue_size", "gauge", "Inputs waiting for the model thread");
    serve_buf_printf(&b, "te_queue_size %d\n", m->queue_size);
    header(&b, "te_concurrent_requests", "gauge", "Inference requests being served");
    serve_buf_printf(&b, "te_concurrent_requests %d\n", m->concurrent_requests);
    header(&b, "te_batch_inference_count", "counter", "Batches run");
    serve_buf_printf(&b, "te_batch_inference_count %llu\n", (unsigned long long)m->batches);
    header(&b, "te_batch_inference_success", "counter", "Batches that succeeded");
    serve_buf_printf(&b, "te_batch_inference_success %llu\n", (unsigned long long)m->batch_successes);
    header(&b, "te_batch_inference_failure", "counter", "Batches that failed");
    serve_buf_printf(&b, "te_batch_inference_failure %llu\n", (unsigned long long)m->batch_failures);
    for (int k = 0; k < H_COUNT; k++) render_histogram(&b, &m->h[k], histogram_info[k].name, histogram_info[k].help);
    pthread_mutex_unlock(&m->lock);
    return serve_buf_take(&b, len);
}
