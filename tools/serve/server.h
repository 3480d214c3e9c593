/* server.h: what the parts of `encore serve` share: its settings, the
 * loaded model, the model thread, the metrics, and a reply to one HTTP
 * request. */
#ifndef ENCORE_SERVE_SERVER_H
#define ENCORE_SERVE_SERVER_H

#include "batcher.h"
#include "encore.h"
#include "metrics.h"
#include "model_options.h"

#include <pthread.h>
#include <stdatomic.h>
#include <stddef.h>

typedef struct serve_config {
    tools_model_options model;     /* --model, --device, --precision, --threads, --weights, --quiet */
    const char *model_id;          /* --model-id, default the Hub id of a Hub cache snapshot, else the
                                      directory's name */
    const char *model_sha;         /* the snapshot's revision, or NULL */
    const char *served_model_name; /* --served-model-name, default model_id */
    const char *default_prompt_name; /* --default-prompt-name */
    const char *default_prompt;      /* --default-prompt */
    int tokenization_workers;      /* inputs tokenized at once: the cores (on the connection threads) */
    const char *host;
    int port;                    /* 0: any free port (printed on startup) */
    int max_batch_tokens;
    int max_batch_requests;      /* 0: no limit */
    int max_concurrent_requests; /* inference requests served at once; more get 429 */
    int max_client_batch_size;   /* inputs in one request */
    size_t max_body_bytes;
    int max_connections;           /* open connections at once; more are refused */
    int max_connections_per_client; /* open connections from one address; 0: no cap */
    size_t max_inflight_bytes;     /* memory for request bodies and what is built from them, all requests */
    double request_timeout_s;      /* a request's head and body must arrive within this */
    long batch_wait_us;
    int auto_truncate;           /* "truncate" when a request does not say */
} serve_config;

typedef struct serve_ctx {
    serve_config cfg;
    const encore_model *model;
    serve_batcher *batcher;
    serve_metrics *metrics;
    encore_encoding *probe;          /* a short input for /health */
    const struct cJSON *prompts;     /* "prompts" of config_sentence_transformers.json, or NULL */
    const char *default_prompt;      /* put before every text that asks for no prompt; NULL: none */
    atomic_int inference_requests;   /* inference requests admitted and not yet answered */
    atomic_int draining;             /* shutting down: new requests get 503 */
    pthread_mutex_t pipeline_lock;   /* one fill-mask / zero-shot request at a time */
    encore_session *pipeline_session; /* theirs, made at the first one (pipelines.c) */
} serve_ctx;

/* The memory a request with a body of len bytes may take while it is
 * parsed and tokenized, as --max-inflight-bytes counts it: the body, the
 * JSON tree (its strings copied; its values capped by
 * serve_request_max_values) and the tokenizer's buffers. Measured worst
 * cases of 2 MB bodies (bench/RESULTS.md): 3.9 times the body (one long
 * truncated text of punctuation or CJK, a token per character); 5 leaves
 * room. */
static inline size_t serve_body_memory(size_t len) {
    return len > ((size_t)-1 - 65536) / 5 ? (size_t)-1 : 5 * len + 65536;
}

/* One HTTP response, built by the routes and sent by http.c. */
typedef struct serve_reply {
    int status;
    char *body;                /* malloc'd; NULL for none */
    size_t len;
    const char *content_type;  /* static */
    const char *allow;         /* static; the Allow header of a 405 */
    int close;                 /* send Connection: close */
    int n_headers;
    char headers[10][2][40];   /* extra name/value pairs */
    int error_type;            /* an error reply (status >= 400): its serve_error_type */
    char error[1024];          /* its message */
} serve_reply;

void serve_reply_header(serve_reply *r, const char *name, const char *fmt, ...) __attribute__((format(printf, 3, 4)));

/* An error reply {"error": message, "error_type": type}, counted in the
 * metrics. */
void serve_reply_error(serve_ctx *ctx, serve_reply *r, int status, serve_error_type type, const char *fmt, ...)
    __attribute__((format(printf, 5, 6)));

/* Answer one request. body: the request body (len bytes, not NUL-terminated);
 * json: its Content-Type is JSON (serve_is_json_type; POST routes answer 415
 * without it); t_start: serve_now() when the request arrived. */
void serve_route(serve_ctx *ctx, const char *method, const char *path, const char *body, size_t len, int json,
                 double t_start, serve_reply *reply);
/* The 404 of a path that is no route. */
/* GET /docs: an HTML page made from the compiled-in OpenAPI document;
 * NULL when out of memory. */
char *serve_docs_html(size_t *len);
void serve_route_not_found(serve_ctx *ctx, const char *method, const char *path, serve_reply *r);
/* Whether a Content-Type header (NULL: none) is JSON as TEI takes it:
 * application/json or application/...+json, with any parameters. */
int serve_is_json_type(const char *content_type);

/* The POST routes, in inference.c. */
void serve_route_predict(serve_ctx *ctx, const char *body, size_t len, double t_start, serve_reply *r);
void serve_route_embed(serve_ctx *ctx, const char *body, size_t len, double t_start, serve_reply *r);
void serve_route_tokenize(serve_ctx *ctx, const char *body, size_t len, serve_reply *r);
void serve_route_openai_embeddings(serve_ctx *ctx, const char *body, size_t len, double t_start, serve_reply *r);
void serve_route_embed_all(serve_ctx *ctx, const char *body, size_t len, double t_start, serve_reply *r);
void serve_route_decode(serve_ctx *ctx, const char *body, size_t len, serve_reply *r);
void serve_route_similarity(serve_ctx *ctx, const char *body, size_t len, double t_start, serve_reply *r);
void serve_route_rerank(serve_ctx *ctx, const char *body, size_t len, double t_start, serve_reply *r);
void serve_route_embed_sparse(serve_ctx *ctx, const char *body, size_t len, double t_start, serve_reply *r);
/* A classifier with one label: TEI's re-ranker (/rerank). */
int serve_model_is_reranker(const serve_ctx *ctx);
/* POST / on a fill-mask model, or on an NLI classifier with
 * "candidate_labels" in "parameters" (zero-shot), in pipelines.c. */
int serve_model_is_fill_mask(const serve_ctx *ctx);
int serve_model_is_nli(const serve_ctx *ctx);
/* Answer the request and return 1, or return 0 when it is not one for the
 * pipelines (a classifier's request without candidate_labels). */
int serve_route_pipeline(serve_ctx *ctx, const char *body, size_t len, serve_reply *r);
/* A token classifier: POST / is the NER pipeline (ner.c), one text at a
 * time on the pipelines' session; serve_run_ner appends one text's entities
 * to b, or sets the error reply and returns -1. */
int serve_model_is_token_classifier(const serve_ctx *ctx);
struct serve_buf;
struct cJSON;
int serve_run_ner(serve_ctx *ctx, encore_session *s, const char *text, const struct cJSON *params,
                  struct serve_buf *b, serve_reply *r);
/* POST / on a question-answering model (a span head), in qa.c. */
int serve_model_is_qa(const serve_ctx *ctx);
void serve_route_qa(serve_ctx *ctx, const char *body, size_t len, serve_reply *r);

/* The HTTP listener, in http.c. */
typedef struct serve_http serve_http;
/* Start listening on cfg.host:cfg.port; *port gets the bound port. Returns 0,
 * or -1 with a message on stderr. */
int serve_http_start(serve_ctx *ctx, serve_http **out, int *port);
/* Stop accepting connections; requests that arrive on open connections get
 * 503 and the connection closes. */
void serve_http_quiesce(serve_http *h);
/* Wait until no request is being received or answered, at most timeout_s.
 * Returns the number still in flight. */
int serve_http_wait_idle(serve_http *h, double timeout_s);
void serve_http_stop(serve_http *h);

#endif /* ENCORE_SERVE_SERVER_H */
