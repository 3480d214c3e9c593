/* fuzz_serve_request.c: the body of an HTTP request to encore serve, on any
 * bytes: the JSON parser and the "inputs" reader of every form (/predict's
 * texts and pairs, /embed's and /tokenize's texts), then the whole /tokenize
 * route (options, tokenization, the JSON answer). No socket: the harness
 * calls what http.c calls once a body has arrived.
 *
 * Input: byte 0 chooses the form (even: /predict's, odd: /embed's) and
 * auto-truncation (bit 1); the rest is the body. */
#include "fuzz_common.h"

#include "request.h"
#include "server.h"

static serve_ctx ctx;

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    if (!ctx.model) {
        fuzz_quiet();
        encore_model *m = NULL;
        if (encore_model_load(fuzz_fixture("tiny-bert-sst"), encore_model_default_params(), &m) != ENCORE_STATUS_OK) {
            fprintf(stderr, "cannot load the fixture model: %s\n", encore_last_error());
            abort();
        }
        ctx.model = m;
        ctx.cfg.max_client_batch_size = 32;
        ctx.metrics = serve_metrics_create(encore_model_max_length(m));
    }
    if (size < 1) return 0;
    ctx.cfg.auto_truncate = (data[0] >> 1) & 1;
    /* A copy of exactly the body's bytes, as the server hands it over (not
     * NUL-terminated), so that a read past its end is caught. */
    const size_t len = size - 1;
    char *body = malloc(len ? len : 1);
    memcpy(body, data + 1, len);
    serve_request req;
    serve_reply reply;
    memset(&reply, 0, sizeof reply);
    const serve_input_form form = data[0] % 2 ? SERVE_INPUTS_TEXTS : SERVE_INPUTS_PREDICT;
    if (serve_request_parse(&ctx, body, len, form, &req, &reply) == 0) {
        FUZZ_CHECK(req.n >= 1 && req.n <= ctx.cfg.max_client_batch_size, "%d inputs", req.n);
        for (int i = 0; i < req.n; i++) FUZZ_CHECK(req.inputs[i].text != NULL, "input %d has no text", i);
    } else {
        FUZZ_CHECK(reply.status >= 400 && reply.status < 600 && reply.body, "status %d", reply.status);
    }
    serve_request_free(&req);
    free(reply.body);
    memset(&reply, 0, sizeof reply);
    serve_route_tokenize(&ctx, body, len, &reply);
    FUZZ_CHECK(reply.status == 200 || (reply.status >= 400 && reply.status < 600), "status %d", reply.status);
    free(reply.body);
    free(body);
    return 0;
}
