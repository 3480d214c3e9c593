/* fuzz_model_load.c: a whole model load from a crafted config.json and
 * model.safetensors (with a fixed 16-token tokenizer), then, when the model
 * loads, a forward pass on it: whatever the weights hold (NaN, Inf, huge),
 * classify and embed must not crash.
 *
 * Input: byte 0 chooses the weights (fp32, bf16, int8 by byte % 3), bytes
 * 1-2 are the config's length n (little-endian), then n bytes of
 * config.json, then model.safetensors. make_seeds.py writes tiny BERT and
 * DistilBERT models in this form. */
#include "fuzz_common.h"

static const char *vocab = "[PAD]\n[UNK]\n[CLS]\n[SEP]\n[MASK]\na\nb\nc\nd\ne\nthe\nfilm\n##s\n,\n!\nok\n";

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    static int ready;
    if (!ready) {
        fuzz_quiet();
        fuzz_write("vocab.txt", vocab, strlen(vocab));
        fuzz_write("tokenizer_config.json", "{\"do_lower_case\": true}", 23);
        ready = 1;
    }
    if (size < 3) return 0;
    const encore_weights weights[3] = {ENCORE_WEIGHTS_FP32, ENCORE_WEIGHTS_BF16, ENCORE_WEIGHTS_INT8};
    encore_model_params mp = encore_model_default_params();
    mp.weights = weights[data[0] % 3];
    size_t n = (size_t)data[1] | (size_t)data[2] << 8;
    if (n > size - 3) n = size - 3;
    fuzz_write("config.json", data + 3, n);
    fuzz_write("model.safetensors", data + 3 + n, size - 3 - n);
    encore_model *m = NULL;
    if (encore_model_load(fuzz_dir(), mp, &m) != ENCORE_STATUS_OK) {
        FUZZ_CHECK(m == NULL, "a failed load left a model");
        return 0;
    }
    encore_session_params sp = encore_session_default_params();
    sp.n_threads = 1;
    encore_session *s = NULL;
    if (encore_session_create(m, sp, &s) == ENCORE_STATUS_OK) {
        encore_input in[2] = {{"the film , a b c !", NULL}, {"ok", "the films e d"}};
        const int labels = encore_model_n_labels(m), hidden = encore_model_hidden_size(m);
        float *out = malloc(sizeof(float) * 2 * (size_t)(labels > hidden ? labels : hidden));
        if (labels > 0) encore_session_classify(s, in, 2, out);
        encore_session_embed(s, in, 2, ENCORE_POOLING_MEAN, 1, out);
        encore_session_embed(s, in, 1, ENCORE_POOLING_CLS, 0, out);
        free(out);
        encore_session_free(s);
    }
    encore_model_free(m);
    return 0;
}
