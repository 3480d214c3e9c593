/* request.h: the body of a POST request, as TEI reads it: JSON with
 * "inputs" and options; the inputs tokenized on the connection's thread. */
#ifndef ENCORE_SERVE_REQUEST_H
#define ENCORE_SERVE_REQUEST_H

#include "server.h"

#include <cJSON.h>

typedef enum serve_input_form {
    /* /predict: "text" | ["text"] | ["text", "pair"] (one input) |
     * [["text"], ["text", "pair"], ...] (a batch) */
    SERVE_INPUTS_PREDICT = 0,
    /* /embed, /tokenize: "text" | ["text", ...] (a batch) */
    SERVE_INPUTS_TEXTS
} serve_input_form;

typedef struct serve_request {
    cJSON *root;
    encore_input *inputs;        /* (n) strings owned by root */
    int n;
    int is_batch;                /* the response is a list of results, one per input */
    encore_encoding **encodings; /* (n) after serve_request_tokenize */
    long n_tokens;               /* all inputs, special tokens included */
    long n_chars;                /* all inputs, in characters */
    double tokenization_s;
} serve_request;

/* Parse the body and its "inputs"; check the count against
 * --max-client-batch-size. Returns 0, or -1 with the error reply set. */
int serve_request_parse(serve_ctx *ctx, const char *body, size_t len, serve_input_form form, serve_request *req,
                        serve_reply *r);

/* A boolean option: its value, or dflt when absent or null. Returns 0, or -1
 * with the error reply set. */
int serve_request_bool(serve_ctx *ctx, const serve_request *req, const char *key, int dflt, int *value,
                       serve_reply *r);

/* Tokenize every input for the task it is run for (truncate: cut over-long
 * ones to that task's maximum, else reject them). Returns 0, or -1 with the
 * error reply set. */
int serve_request_tokenize(serve_ctx *ctx, serve_request *req, encore_task task, int truncate, serve_reply *r);

void serve_request_free(serve_request *req);

#endif /* ENCORE_SERVE_REQUEST_H */
