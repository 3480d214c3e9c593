/* inference.h: what the POST routes share (inference.c, openai.c,
 * rerank.c): admission against --max-concurrent-requests, a run on the model
 * thread, TEI's timing headers, and the embedding options and run. */
#ifndef ENCORE_SERVE_INFERENCE_H
#define ENCORE_SERVE_INFERENCE_H

#include "json_buf.h"
#include "request.h"

/* The options every embedding route reads, with TEI's defaults. */
typedef struct serve_embed_options {
    int truncate, normalize, dims;
    encore_truncation_side side;
    const char *prompt;
} serve_embed_options;

/* Admit one more inference request, or answer 429. Returns 0 or -1. */
int serve_admit(serve_ctx *ctx, serve_reply *r);
/* The admitted request is answered. */
void serve_release(serve_ctx *ctx);
/* Run the request's inputs on the model thread. out: (n, width), malloc'd
 * ((tokens, width) for SERVE_TASK_HIDDEN). Returns 0, or -1 with the error
 * reply set. */
int serve_run(serve_ctx *ctx, serve_request *req, serve_task task, serve_job *job, float **out, serve_reply *r);
/* TEI's timing headers (milliseconds), and the success metrics. */
void serve_finish(serve_ctx *ctx, const serve_request *req, const serve_job *job, double t_start, serve_reply *r);
/* A 200 with the buffer as its JSON body (500 when it ran out of memory). */
void serve_reply_body(serve_ctx *ctx, serve_buf *b, serve_reply *r);
/* Read the embedding options; the OpenAI route has only "dimensions". */
int serve_embed_options_read(serve_ctx *ctx, const serve_request *req, int openai, serve_embed_options *o,
                             serve_reply *r);
/* Tokenize and embed the request's inputs: *out (n, *width), cut to
 * o->dims and normalized again when asked. The caller has admitted the
 * request. Returns 0, or -1 with the error reply set; free(*out) either way. */
int serve_embed_run(serve_ctx *ctx, serve_request *req, const serve_embed_options *o, serve_job *job, float **out,
                    int *width, serve_reply *r);
/* A JSON list of n floats. */
void serve_write_vector(serve_buf *b, const float *v, int n);

#endif /* ENCORE_SERVE_INFERENCE_H */
