/* fuzz_adapter.c: a PEFT LoRA adapter directory from crafted
 * adapter_config.json and adapter_model.safetensors, loaded onto a tiny
 * committed base model (the merge at load: target modules, modules saved
 * whole, rank_pattern and alpha_pattern, rsLoRA, LoRA matrices of any shape
 * and dtype); when the model loads, classify and embed on it must not crash.
 *
 * Input: byte 0 chooses the weights (fp32, bf16, int8 by byte % 3), bytes
 * 1-2 are adapter_config.json's length n (little-endian), then n bytes of
 * adapter_config.json, then adapter_model.safetensors. The bases are the
 * fixtures tiny-bert-embed, tiny-bert-sst and tiny-distilbert-sst, linked
 * beside the adapter as bert-embed, bert-sst and distilbert-sst, so that a
 * base_model_name_or_path of "bert-sst" finds its base as "../base" finds it
 * in tests/fixtures/models. make_seeds.py writes the committed lora-*
 * fixtures (real peft adapters) in this form. */
#include "fuzz_common.h"

#include <unistd.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    static int ready;
    if (!ready) {
        fuzz_quiet();
        static const char *const bases[][2] = {
            {"bert-embed", "tiny-bert-embed"}, {"bert-sst", "tiny-bert-sst"}, {"distilbert-sst", "tiny-distilbert-sst"}};
        for (size_t i = 0; i < sizeof bases / sizeof bases[0]; i++) {
            char target[1024];
            snprintf(target, sizeof target, "%s", fuzz_fixture(bases[i][1]));
            if (symlink(target, fuzz_path(0, bases[i][0])) != 0) {
                perror("symlink");
                abort();
            }
        }
        /* A base named as a Hub id is looked up in this empty cache only. */
        setenv("HF_HUB_CACHE", fuzz_path(0, "hub"), 1);
        ready = 1;
    }
    const encore_input texts[2] = {{"the film was good !", NULL}, {"hello world", "a bad play"}};
    return fuzz_load_and_run(data, size, "adapter_config.json", "adapter_model.safetensors", texts, 0);
}
