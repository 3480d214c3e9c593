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
    const encore_input texts[2] = {{"the film , a b c !", NULL}, {"ok", "the films e d"}};
    return fuzz_load_and_run(data, size, "config.json", "model.safetensors", texts, 1);
}
