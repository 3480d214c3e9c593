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
    /* /tokenize: "text" | ["text", ...] (a batch) */
    SERVE_INPUTS_TEXTS,
    /* /embed, /embed_all: "text" | [id, ...] (one input) | ["text" or [id, ...], ...] (a batch) */
    SERVE_INPUTS_EMBED,
    /* /v1/embeddings: the same, in "input" */
    SERVE_INPUTS_OPENAI,
    /* /decode: [id, ...] | [[id, ...], ...], in "ids" */
    SERVE_INPUTS_IDS,
} serve_input_form;

typedef struct serve_request {
    cJSON *root;
    const cJSON *options;        /* where the options are: root, or /similarity's "parameters" */
    encore_input *inputs;        /* (n) strings owned by root or by owned[] */
    int32_t **ids;               /* (n) token ids of an input given as ids, else NULL */
    int *n_ids;                  /* (n) */
    char **owned;                /* (n) texts made here (a prompt before the input), else NULL */
    int n;
    int cap;                     /* room in inputs, ids, n_ids and owned */
    int is_batch;                /* the response is a list of results, one per input */
    encore_encoding **encodings; /* (n) after serve_request_tokenize */
    long n_tokens;               /* all inputs, special tokens included */
    long n_chars;                /* all inputs, in characters */
    double tokenization_s;
} serve_request;

/* The most JSON values a request body may hold: what the largest valid
 * request needs (--max-client-batch-size inputs of the model's maximum
 * length in token ids), plus room for options. More get 413 unparsed. */
size_t serve_request_max_values(const serve_ctx *ctx);

/* Parse the body as a JSON object, with no inputs yet (for routes whose
 * inputs are not "inputs"). Returns 0, or -1 with the error reply set. */
int serve_request_parse_json(serve_ctx *ctx, const char *body, size_t len, serve_request *req, serve_reply *r);

/* Add one input to a request parsed with serve_request_parse_json. Returns
 * 0, or -1 out of memory. */
int serve_request_add(serve_request *req, const char *text, const char *pair);

/* Check the count of inputs (empty, over --max-client-batch-size; key names
 * them in the message). Returns 0, or -1 with the error reply set. */
int serve_request_check_count(serve_ctx *ctx, serve_request *req, const char *key, serve_reply *r);

/* Parse the body and its "inputs"; check the count against
 * --max-client-batch-size. Returns 0, or -1 with the error reply set. */
int serve_request_parse(serve_ctx *ctx, const char *body, size_t len, serve_input_form form, serve_request *req,
                        serve_reply *r);

/* A boolean option: its value, or dflt when absent (or null, when nullable:
 * TEI's Option<bool> fields). Returns 0, or -1 with the error reply set. */
int serve_request_bool(serve_ctx *ctx, const serve_request *req, const char *key, int dflt, int nullable, int *value,
                       serve_reply *r);

/* truncation_direction: "Left" or "Right" (default). */
int serve_request_truncation(serve_ctx *ctx, const serve_request *req, encore_truncation_side *side, serve_reply *r);

/* dimensions: absent or null gives 0 (all); else 1 to the hidden size. */
int serve_request_dimensions(serve_ctx *ctx, const serve_request *req, const char *key, int *dims, serve_reply *r);

/* The prompt to put before every text: prompt_name's (422 for a name not in
 * config_sentence_transformers.json's prompts), else the server's default,
 * else none (*prompt NULL). */
int serve_request_prompt(serve_ctx *ctx, const serve_request *req, const char **prompt, serve_reply *r);

/* Tokenize every input (texts with the prompt before them, when not NULL;
 * ids as they are) with these settings. Returns 0, or -1 with the error
 * reply set. */
int serve_request_tokenize(serve_ctx *ctx, serve_request *req, encore_tokenize_params params, const char *prompt,
                           serve_reply *r);

void serve_request_free(serve_request *req);

#endif /* ENCORE_SERVE_REQUEST_H */
