/* fuzz_splade.c: a SPLADE model's sentence-transformers files from any
 * bytes: modules.json and the SpladePooling config.json it may point at,
 * beside the committed tiny-bert-splade model's other files. A directory
 * that loads as SPLADE gives weights that are finite and never negative
 * (log1p of relu, max or sum); one that loads otherwise embeds as before; a
 * load that fails leaves no model.
 *
 * Input: modules.json, "\0\0", 1_SpladePooling/config.json, and
 * optionally "\0\0" and one byte whose low bit sets
 * encore_model_params.splade. make_seeds.py writes the fixture's own files
 * and variants in this form. */
#include "fuzz_common.h"

#include <math.h>
#include <sys/stat.h>
#include <unistd.h>

static const char *const kept[] = {"config.json", "model.safetensors", "tokenizer.json", "tokenizer_config.json",
                                   "sentence_bert_config.json", "config_sentence_transformers.json"};

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    static int ready;
    if (!ready) {
        fuzz_quiet();
        for (size_t i = 0; i < sizeof kept / sizeof kept[0]; i++) {
            char target[1024];
            snprintf(target, sizeof target, "%s/%s", fuzz_fixture("tiny-bert-splade"), kept[i]);
            if (symlink(target, fuzz_path(0, kept[i])) != 0) {
                perror("symlink");
                abort();
            }
        }
        if (mkdir(fuzz_path(0, "1_SpladePooling"), 0755) != 0) {
            perror("mkdir");
            abort();
        }
        ready = 1;
    }
    const uint8_t *parts[3];
    size_t lens[3];
    const int n = fuzz_split(data, size, parts, lens, 3);
    fuzz_write("modules.json", parts[0], lens[0]);
    if (n > 1) fuzz_write("1_SpladePooling/config.json", parts[1], lens[1]);
    else fuzz_write("1_SpladePooling/config.json", NULL, 0);
    encore_model_params mp = encore_model_default_params();
    mp.splade = n > 2 && lens[2] > 0 ? parts[2][0] & 1 : 0;

    encore_model *m = NULL;
    if (encore_model_load(fuzz_dir(), mp, &m) != ENCORE_STATUS_OK) {
        FUZZ_CHECK(m == NULL, "a failed load left a model");
        return 0;
    }
    encore_session *s = NULL;
    encore_session_params sp = encore_session_default_params();
    sp.n_threads = 1;
    FUZZ_CHECK(encore_session_create(m, sp, &s) == ENCORE_STATUS_OK, "%s", encore_last_error());
    const encore_input texts[2] = {{"the film was good !", NULL}, {"a bad play", NULL}};
    if (encore_model_is_sparse(m)) {
        const int V = encore_model_vocab_size(m);
        float *w = malloc(2 * (size_t)V * sizeof *w);
        FUZZ_CHECK(w != NULL, "out of memory");
        FUZZ_CHECK(encore_session_embed_sparse(s, texts, 2, w) == ENCORE_STATUS_OK, "%s",
                   encore_session_last_error(s));
        for (int i = 0; i < 2 * V; i++) FUZZ_CHECK(isfinite(w[i]) && w[i] >= 0.0f, "weight %d is %g", i, w[i]);
        free(w);
    } else {
        float e[2 * 64];
        FUZZ_CHECK(encore_model_hidden_size(m) <= 64, "hidden %d", encore_model_hidden_size(m));
        FUZZ_CHECK(encore_session_embed(s, texts, 2, ENCORE_POOLING_MEAN, 0, e) == ENCORE_STATUS_OK, "%s",
                   encore_session_last_error(s));
        float w[1];
        FUZZ_CHECK(encore_session_embed_sparse(s, texts, 1, w) == ENCORE_STATUS_UNSUPPORTED,
                   "a model that is not SPLADE gave SPLADE weights");
    }
    encore_session_free(s);
    encore_model_free(m);
    return 0;
}
