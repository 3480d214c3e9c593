/* fuzz_config.c: config.json on any bytes: parsed, range-checked, and what
 * is accepted is within the documented limits (core/config.h). */
#include "fuzz_common.h"

#include "core/config.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    static int ready;
    if (!ready) {
        fuzz_quiet();
        ready = 1;
    }
    fuzz_write("config.json", data, size);
    encore_config c;
    if (encore_config_load(fuzz_dir(), &c) != ENCORE_STATUS_OK) return 0;
    FUZZ_CHECK(c.hidden_size >= 1 && c.hidden_size <= ENCORE_MAX_HIDDEN_SIZE, "hidden_size %d", c.hidden_size);
    FUZZ_CHECK(c.n_heads >= 1 && c.hidden_size % c.n_heads == 0, "%d heads, hidden %d", c.n_heads, c.hidden_size);
    FUZZ_CHECK(c.intermediate_size >= 1 && c.intermediate_size <= ENCORE_MAX_INTERMEDIATE_SIZE, "intermediate %d",
               c.intermediate_size);
    FUZZ_CHECK(c.n_layers >= 1 && c.n_layers <= ENCORE_MAX_LAYERS, "layers %d", c.n_layers);
    FUZZ_CHECK(c.vocab_size >= 1 && c.vocab_size <= ENCORE_MAX_VOCAB, "vocab %d", c.vocab_size);
    FUZZ_CHECK(c.max_position_embeddings >= 1 && c.max_position_embeddings <= ENCORE_MAX_POSITIONS, "positions %d",
               c.max_position_embeddings);
    FUZZ_CHECK(c.is_distilbert || c.is_mpnet ? c.type_vocab_size == 0
               : c.is_deberta                    ? c.type_vocab_size >= 0 && c.type_vocab_size <= ENCORE_MAX_TYPE_VOCAB
                                                 : c.type_vocab_size >= 1 && c.type_vocab_size <= ENCORE_MAX_TYPE_VOCAB,
               "type vocab %d", c.type_vocab_size);
    /* DeBERTa: the relative rows each way, and a log-bucket range above them */
    FUZZ_CHECK(!c.is_deberta || (c.deberta_span >= 1 && c.deberta_span <= ENCORE_MAX_POSITIONS &&
                                 c.deberta_max_rel >= 1 && c.deberta_max_rel <= ENCORE_MAX_POSITIONS &&
                                 (c.deberta_buckets <= 0 || c.deberta_max_rel - 1 > c.deberta_buckets / 2)),
               "DeBERTa span %d, buckets %d, max relative %d", c.deberta_span, c.deberta_buckets, c.deberta_max_rel);
    FUZZ_CHECK(c.is_deberta || c.has_positions, "absolute positions off outside DeBERTa");
    FUZZ_CHECK(c.is_mpnet ? c.rel_buckets >= ENCORE_MPNET_BUCKETS && c.rel_buckets <= 4096 : c.rel_buckets == 0,
               "relative position buckets %d", c.rel_buckets);
    FUZZ_CHECK(!c.is_roberta && !c.is_mpnet ? c.position_base == 0
                                            : c.position_base >= 1 && c.position_base < c.max_position_embeddings,
               "position base %d of %d positions", c.position_base, c.max_position_embeddings);
    FUZZ_CHECK(c.is_electra ? c.embedding_size >= 1 && c.embedding_size <= 3 * c.hidden_size
                            : c.embedding_size == c.hidden_size,
               "embedding size %d, hidden %d", c.embedding_size, c.hidden_size);
    FUZZ_CHECK(c.layer_norm_eps >= 0 && c.layer_norm_eps <= 1, "eps %g", c.layer_norm_eps);
    if (c.has_head) {
        FUZZ_CHECK(c.n_labels >= 1 && c.n_labels <= ENCORE_MAX_LABELS, "labels %d", c.n_labels);
        for (int i = 0; i < c.n_labels; i++) FUZZ_CHECK(c.labels[i] != NULL, "label %d is missing", i);
    }
    encore_config_free(&c);
    return 0;
}
