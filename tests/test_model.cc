// test_model.cc: the CPU forward pass against transformers and
// sentence-transformers, on the reference dumps in tests/fixtures.
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <memory>
#include <string>
#include <vector>

#include "embed_limit.h"
#include "cpu/cpu_ops.h"
#include "expect_close.h"
#include "fixtures.h"
#include "core/model.h"
#include "core/token_check.h"
#include "core/safetensors.h"
#include "core/session.h"

using fixtures::get;

namespace {

// fp32 on both sides; the sums differ only in order (OpenBLAS vs PyTorch's
// GEMMs, our double-precision LayerNorm statistics), which moves a logit of
// this size by ~1e-6. 1e-4 is the product's promise for fp32 logits.
constexpr double kLogitTol = 1e-4;
// Hidden states pass through the same arithmetic as logits: same bound.
constexpr double kHiddenTol = 1e-4;
// Scores and embeddings are O(1) values after a softmax / mean / norm that
// do not amplify error: the promise for embeddings is 1e-5.
constexpr double kScoreTol = 1e-5;
constexpr double kEmbedTol = 1e-5;

struct Loaded {
    encore_model *model = nullptr;
    encore_session *session = nullptr;
    encore_session *session_no_trunc = nullptr;
    std::unique_ptr<fixtures::Json> ref;
    encore_safetensors *hidden = nullptr;
    ~Loaded() {
        encore_session_free(session);
        encore_session_free(session_no_trunc);
        encore_model_free(model);
        encore_safetensors_close(hidden);
    }
};

std::unique_ptr<Loaded> load(const std::string &name) {
    auto l = std::make_unique<Loaded>();
    l->ref = fixtures::load(name);
    if (!l->ref || !l->ref->root) return nullptr;
    if (encore_model_load(fixtures::model_dir(name).c_str(), encore_model_default_params(), &l->model) !=
        ENCORE_STATUS_OK) {
        ADD_FAILURE() << "loading " << name << ": " << encore_last_error();
        return nullptr;
    }
    encore_session_params p = encore_session_default_params();
    EXPECT_EQ(encore_session_create(l->model, p, &l->session), ENCORE_STATUS_OK);
    p.truncate = 0;
    EXPECT_EQ(encore_session_create(l->model, p, &l->session_no_trunc), ENCORE_STATUS_OK);
    std::string hidden = fixtures::dir() + "/reference/" + name + ".hidden.safetensors";
    EXPECT_EQ(encore_safetensors_open(hidden.c_str(), &l->hidden), ENCORE_STATUS_OK) << encore_last_error();
    return l;
}

// Cases that can run: not over-long, no U+0000 (see fixtures::has_nul).
std::vector<const cJSON *> runnable(const Loaded &l) {
    std::vector<const cJSON *> out;
    const cJSON *c;
    cJSON_ArrayForEach(c, get(l.ref->root, "cases")) {
        if (cJSON_IsTrue(get(c, "too_long")) || fixtures::has_nul(c)) continue;
        out.push_back(c);
    }
    return out;
}

encore_session *session_for(const Loaded &l, const cJSON *c) {
    return cJSON_IsTrue(get(c, "truncation")) ? l.session : l.session_no_trunc;
}

class Classifier : public ::testing::TestWithParam<std::string> {};

TEST_P(Classifier, LogitsAndScoresMatchTransformers) {
    auto l = load(GetParam());
    ASSERT_TRUE(l);
    const int L = encore_model_n_labels(l->model);
    ASSERT_EQ(L, cJSON_GetArraySize(get(l->ref->root, "labels")));
    for (int i = 0; i < L; i++)
        EXPECT_STREQ(encore_model_label(l->model, i), cJSON_GetArrayItem(get(l->ref->root, "labels"), i)->valuestring);
    double worst = 0;
    int n = 0;
    for (const cJSON *c : runnable(*l)) {
        encore_input in = fixtures::input(c);
        std::vector<float> logits(L), scores(L);
        ASSERT_EQ(encore_session_logits(session_for(*l, c), &in, 1, logits.data()), ENCORE_STATUS_OK)
            << fixtures::str(c, "name") << ": " << encore_last_error();
        ASSERT_EQ(encore_session_classify(session_for(*l, c), &in, 1, scores.data()), ENCORE_STATUS_OK);
        const std::vector<double> want = fixtures::numbers(c, "logits");
        EXPECT_CLOSE(logits, want, kLogitTol, 0) << "logits of case " << fixtures::str(c, "name");
        EXPECT_CLOSE(scores, fixtures::numbers(c, "scores"), kScoreTol, 0)
            << "scores of case " << fixtures::str(c, "name");
        worst = std::max(worst, approx::max_abs_diff(logits, want));
        n++;
    }
    EXPECT_GT(n, 20);
    std::printf("[ %s ] %d cases, largest logit difference %.3g\n", GetParam().c_str(), n, worst);
}

INSTANTIATE_TEST_SUITE_P(Models, Classifier,
                         ::testing::Values("tiny-bert-sst", "tiny-distilbert-sst", "tiny-bert-multilabel",
                                           "tiny-roberta-sst", "tiny-xlmr-sst", "tiny-mpnet-sst", "tiny-electra-sst",
                                           "tiny-deberta-sst", "tiny-deberta-v2-sst"));
// PEFT LoRA adapters on the tiny models, merged at load, against transformers + peft.
INSTANTIATE_TEST_SUITE_P(Adapters, Classifier,
                         ::testing::Values("lora-bert-cls", "lora-bert-patterns", "lora-distilbert-cls"));

class AnyModel : public ::testing::TestWithParam<std::string> {};

TEST_P(AnyModel, LastHiddenStateMatchesTransformers) {
    auto l = load(GetParam());
    ASSERT_TRUE(l);
    const int C = encore_model_hidden_size(l->model);
    int i = -1;
    const cJSON *c;
    int checked = 0;
    cJSON_ArrayForEach(c, get(l->ref->root, "cases")) {
        i++;
        if (cJSON_IsTrue(get(c, "too_long")) || fixtures::has_nul(c)) continue;
        encore_input in = fixtures::input(c);
        float *raw = nullptr;
        int32_t n_tokens = 0;
        ASSERT_EQ(encore_session_hidden_states(session_for(*l, c), &in, 1, &raw, &n_tokens), ENCORE_STATUS_OK)
            << encore_last_error();
        std::unique_ptr<float, decltype(&std::free)> hidden(raw, &std::free);
        const encore_tensor_info *t = encore_safetensors_find(l->hidden, fixtures::str(c, "hidden").c_str());
        ASSERT_TRUE(t) << fixtures::str(c, "hidden");
        ASSERT_EQ(t->n_dims, 2);
        ASSERT_EQ(t->shape[0], n_tokens) << fixtures::str(c, "name");
        ASSERT_EQ(t->shape[1], C);
        std::vector<float> want(t->n_elements);
        ASSERT_EQ(encore_tensor_to_f32(t, want.data()), ENCORE_STATUS_OK) << encore_last_error();
        EXPECT_CLOSE(approx::values(hidden.get(), (size_t)n_tokens * C), want, kHiddenTol, 0)
            << "hidden state of case " << fixtures::str(c, "name");
        checked++;
    }
    EXPECT_GT(checked, 20);
}

TEST_P(AnyModel, BatchResultsDoNotDependOnTheBatch) {
    auto l = load(GetParam());
    ASSERT_TRUE(l);
    std::vector<encore_input> inputs;
    for (const cJSON *c : runnable(*l))
        if (!cJSON_IsTrue(get(c, "truncation"))) inputs.push_back(fixtures::input(c));
    ASSERT_GT(inputs.size(), 10u);
    const int C = encore_model_hidden_size(l->model);
    const int n = (int)inputs.size();
    std::vector<float> together((size_t)n * C), reversed((size_t)n * C), alone(C);
    ASSERT_EQ(encore_session_embed(l->session, inputs.data(), n, ENCORE_POOLING_MEAN, 0, together.data()),
              ENCORE_STATUS_OK)
        << encore_last_error();
    std::vector<encore_input> rev(inputs.rbegin(), inputs.rend());
    ASSERT_EQ(encore_session_embed(l->session, rev.data(), n, ENCORE_POOLING_MEAN, 0, reversed.data()),
              ENCORE_STATUS_OK);
    // Packed batches have no padding and each sequence attends only to
    // itself, so a text's arithmetic is the same in any batch except for one
    // thing: OpenBLAS picks its GEMM kernel by matrix size, which can change
    // the summation order and so the last bits (seen: 1e-6 on values ~0.6).
    // A mask or position bug moves values by 1e-2 or more.
    const double tol = 1e-5;
    for (int i = 0; i < n; i++) {
        ASSERT_EQ(encore_session_embed(l->session, &inputs[i], 1, ENCORE_POOLING_MEAN, 0, alone.data()),
                  ENCORE_STATUS_OK);
        ASSERT_CLOSE(approx::values(&together[(size_t)i * C], C), alone, tol, 0) << "input " << i;
        ASSERT_CLOSE(approx::values(&reversed[(size_t)(n - 1 - i) * C], C), alone, tol, 0) << "input " << i;
    }
}

INSTANTIATE_TEST_SUITE_P(Models, AnyModel,
                         ::testing::Values("tiny-bert-sst", "tiny-distilbert-sst", "tiny-bert-multilabel",
                                           "tiny-bert-embed", "tiny-distilbert-embed", "tiny-roberta-sst",
                                           "tiny-roberta-embed", "tiny-xlmr-sst", "tiny-xlmr-embed",
                                           "tiny-mpnet-sst", "tiny-mpnet-embed", "tiny-electra-sst",
                                           "tiny-electra-embed", "tiny-deberta-sst", "tiny-deberta-embed",
                                           "tiny-deberta-v2-sst"));
INSTANTIATE_TEST_SUITE_P(Adapters, AnyModel,
                         ::testing::Values("lora-bert-cls", "lora-bert-patterns", "lora-distilbert-cls",
                                           "lora-bert-embed"));

class Embedder : public ::testing::TestWithParam<std::string> {};

// The reference for one of the embedding keys of a case. sentence-transformers
// embeds single texts only, so a pair case has no "embedding" or
// "embedding_normalized": the model's pooling of the pair's hidden states
// ("embedding_mean" or "embedding_cls") stands for the first, and that
// divided by max(|x|, 1e-12), as sentence-transformers normalises, for the
// second. A single text missing a key still fails (fixtures::numbers).
std::vector<double> reference_embedding(const Loaded &l, const cJSON *c, const std::string &key) {
    if (!cJSON_IsString(get(c, "text_pair")) || (key != "embedding" && key != "embedding_normalized"))
        return fixtures::numbers(c, key.c_str());
    std::vector<double> v =
        fixtures::numbers(c, encore_model_pooling(l.model) == ENCORE_POOLING_CLS ? "embedding_cls" : "embedding_mean");
    if (key == "embedding_normalized") {
        double norm = 0;
        for (double x : v) norm += x * x;
        norm = std::max(std::sqrt(norm), 1e-12);
        for (double &x : v) x /= norm;
    }
    return v;
}

TEST_P(Embedder, EmbeddingsMatchSentenceTransformers) {
    auto l = load(GetParam());
    ASSERT_TRUE(l);
    const int C = encore_model_hidden_size(l->model);
    int n = 0, pairs = 0;
    for (const cJSON *c : runnable(*l)) {
        encore_input in = fixtures::input(c);
        encore_session *s = session_for(*l, c);
        pairs += in.text_pair != nullptr;
        std::vector<float> e(C);
        struct Want { const char *key; encore_pooling pooling; int normalize; } wants[] = {
            {"embedding", ENCORE_POOLING_DEFAULT, 0},
            {"embedding_normalized", ENCORE_POOLING_DEFAULT, 1},
            {"embedding_mean", ENCORE_POOLING_MEAN, 0},
            {"embedding_cls", ENCORE_POOLING_CLS, 0},
        };
        for (const Want &w : wants) {
            ASSERT_EQ(encore_session_embed(s, &in, 1, w.pooling, w.normalize, e.data()), ENCORE_STATUS_OK)
                << encore_last_error();
            EXPECT_CLOSE(e, reference_embedding(*l, c, w.key), kEmbedTol, 0)
                << w.key << " of case " << fixtures::str(c, "name");
        }
        n++;
    }
    EXPECT_GT(n, 20);
    EXPECT_GE(pairs, 5);
}

INSTANTIATE_TEST_SUITE_P(Models, Embedder,
                         ::testing::Values("tiny-bert-embed", "tiny-distilbert-embed", "tiny-roberta-embed",
                                           "tiny-xlmr-embed", "tiny-mpnet-embed", "tiny-bert-embed-st6",
                                           "tiny-electra-embed", "tiny-deberta-embed"));
INSTANTIATE_TEST_SUITE_P(Adapters, Embedder, ::testing::Values("lora-bert-embed"));

// MPNet's relative position buckets against transformers'
// MPNetEncoder.relative_position_bucket at every distance from -600 to 600
// (past the last bucket, 128 away, each way), dumped by make_fixtures.py.
TEST(Mpnet, BucketsMatchTransformers) {
    auto ref = fixtures::load("tiny-mpnet-embed");
    ASSERT_TRUE(ref && ref->root);
    const cJSON *b = fixtures::get(ref->root, "mpnet_buckets");
    ASSERT_TRUE(cJSON_IsObject(b)) << "the reference has no mpnet_buckets";
    const cJSON *first = fixtures::get(b, "first"), *list = fixtures::get(b, "buckets");
    ASSERT_TRUE(cJSON_IsNumber(first) && cJSON_IsArray(list));
    ASSERT_EQ(cJSON_GetArraySize(list), 1201);
    int i = 0;
    const cJSON *v;
    cJSON_ArrayForEach(v, list) {
        const int rel = first->valueint + i++;
        ASSERT_TRUE(cJSON_IsNumber(v));
        EXPECT_EQ(encore_mpnet_bucket(rel), v->valueint) << "relative position " << rel;
    }
}

// DeBERTa-v2's logarithmic relative position buckets against transformers'
// make_log_bucket_position (in float, as build_relative_position takes it) at
// every distance from -1100 to 1100, for four settings of position_buckets
// and max_position, dumped by make_fixtures.py.
TEST(Deberta, BucketsMatchTransformers) {
    auto ref = fixtures::load("tiny-deberta-embed");
    ASSERT_TRUE(ref && ref->root);
    const cJSON *sets = fixtures::get(ref->root, "deberta_buckets");
    ASSERT_TRUE(cJSON_IsArray(sets)) << "the reference has no deberta_buckets";
    ASSERT_EQ(cJSON_GetArraySize(sets), 4);
    const cJSON *set;
    cJSON_ArrayForEach(set, sets) {
        const int buckets = fixtures::get(set, "buckets")->valueint;
        const int max_position = fixtures::get(set, "max_position")->valueint;
        const int first = fixtures::get(set, "first")->valueint;
        const cJSON *values = fixtures::get(set, "values");
        ASSERT_EQ(cJSON_GetArraySize(values), 2201);
        int i = 0, differ = 0;
        const cJSON *v;
        cJSON_ArrayForEach(v, values) {
            const int rel = first + i++;
            ASSERT_TRUE(cJSON_IsNumber(v));
            if (encore_deberta_bucket(rel, buckets, max_position) != v->valueint && differ++ < 5)
                ADD_FAILURE() << "buckets " << buckets << ", max_position " << max_position << ", relative position "
                              << rel << ": " << encore_deberta_bucket(rel, buckets, max_position) << ", want "
                              << v->valueint;
        }
        EXPECT_EQ(differ, 0);
    }
}

// MPNet on texts of 130 to 500 tokens (tiny-mpnet-long: 514 positions),
// where most key-query distances lie past the last relative position bucket:
// the hidden states, the embeddings (sentence-transformers' own, mean pooled,
// normalized) and the four texts in one batch against transformers.
TEST(Mpnet, LongTextsMatchTransformers) {
    auto l = load("tiny-mpnet-long");
    ASSERT_TRUE(l);
    const int C = encore_model_hidden_size(l->model);
    std::vector<encore_input> inputs;
    std::vector<std::vector<double>> means;
    int longest = 0, i = -1;
    const cJSON *c;
    cJSON_ArrayForEach(c, get(l->ref->root, "cases")) {
        i++;
        encore_input in = fixtures::input(c);
        inputs.push_back(in);
        float *raw = nullptr;
        int32_t n_tokens = 0;
        ASSERT_EQ(encore_session_hidden_states(l->session_no_trunc, &in, 1, &raw, &n_tokens), ENCORE_STATUS_OK)
            << encore_last_error();
        std::unique_ptr<float, decltype(&std::free)> hidden(raw, &std::free);
        longest = std::max(longest, (int)n_tokens);
        const encore_tensor_info *t = encore_safetensors_find(l->hidden, fixtures::str(c, "hidden").c_str());
        ASSERT_TRUE(t && t->n_dims == 2 && t->shape[0] == n_tokens && t->shape[1] == C) << fixtures::str(c, "name");
        std::vector<float> want(t->n_elements);
        ASSERT_EQ(encore_tensor_to_f32(t, want.data()), ENCORE_STATUS_OK);
        EXPECT_CLOSE(approx::values(hidden.get(), (size_t)n_tokens * C), want, kHiddenTol, 0)
            << "hidden state of " << fixtures::str(c, "name");
        std::vector<float> e(C);
        struct Want { const char *key; encore_pooling pooling; int normalize; } wants[] = {
            {"embedding", ENCORE_POOLING_DEFAULT, 0},
            {"embedding_normalized", ENCORE_POOLING_DEFAULT, 1},
            {"embedding_mean", ENCORE_POOLING_MEAN, 0},
        };
        for (const Want &w : wants) {
            if (!get(c, w.key)) continue;  // a pair: sentence-transformers embeds single texts only
            ASSERT_EQ(encore_session_embed(l->session_no_trunc, &in, 1, w.pooling, w.normalize, e.data()),
                      ENCORE_STATUS_OK)
                << encore_last_error();
            EXPECT_CLOSE(e, reference_embedding(*l, c, w.key), kEmbedTol, 0)
                << w.key << " of " << fixtures::str(c, "name");
        }
        means.push_back(reference_embedding(*l, c, "embedding_mean"));
    }
    ASSERT_EQ(inputs.size(), 4u);
    EXPECT_GT(longest, 400);
    std::vector<float> together(inputs.size() * C);
    ASSERT_EQ(encore_session_embed(l->session_no_trunc, inputs.data(), (int)inputs.size(), ENCORE_POOLING_MEAN, 0,
                                   together.data()),
              ENCORE_STATUS_OK);
    for (size_t k = 0; k < inputs.size(); k++)
        EXPECT_CLOSE(approx::values(&together[k * C], C), means[k], kEmbedTol, 0) << "input " << k << " in a batch";
}

// A sequence longer than MPNet's bias table spans is refused, never read
// past the table: padding tokens share a position, so 100 of them would
// pass the position check of a model with 66 positions (the session's
// length check refuses them first; the forward pass checks the span too).
TEST(Mpnet, SequenceLongerThanTheBiasSpansIsRefused) {
    encore_model *m = nullptr;
    ASSERT_EQ(encore_model_load(fixtures::model_dir("tiny-mpnet-embed").c_str(), encore_model_default_params(), &m),
              ENCORE_STATUS_OK)
        << encore_last_error();
    encore_session *s = nullptr;
    ASSERT_EQ(encore_session_create(m, encore_session_default_params(), &s), ENCORE_STATUS_OK);
    std::vector<int32_t> ids(100, 1), types(100, 0), offsets(200, 0), seq(100, -1), words(100, -1);
    ids[0] = 0;
    ids[99] = 2;
    encore_encoding enc{100, ids.data(), types.data(), offsets.data(), seq.data(), 100, words.data()};
    const encore_encoding *one = &enc;
    std::vector<float> hidden(100 * 32);
    EXPECT_NE(encore_session_hidden_states_encoded(s, &one, 1, hidden.data()), ENCORE_STATUS_OK);
    EXPECT_EQ(encore_model_check_span(m, 66), ENCORE_STATUS_OK);
    EXPECT_EQ(encore_model_check_span(m, 67), ENCORE_STATUS_BAD_INPUT);
    EXPECT_NE(std::string(encore_last_error()).find("relative position bias"), std::string::npos)
        << encore_last_error();
    encore_session_free(s);
    encore_model_free(m);
}

TEST(Model, OverLongInputFailsWithoutTruncationAndIsCutWithIt) {
    auto l = load("tiny-bert-sst");
    ASSERT_TRUE(l);
    int seen = 0;
    const cJSON *c;
    cJSON_ArrayForEach(c, get(l->ref->root, "cases")) {
        if (!cJSON_IsTrue(get(c, "too_long"))) continue;
        encore_input in = fixtures::input(c);
        float scores[2];
        EXPECT_EQ(encore_session_classify(l->session_no_trunc, &in, 1, scores), ENCORE_STATUS_TOO_LONG);
        std::string msg = encore_session_last_error(l->session_no_trunc);
        EXPECT_NE(msg.find("input 0"), std::string::npos) << msg;
        EXPECT_NE(msg.find("at most 64"), std::string::npos) << msg;
        EXPECT_NE(msg.find(std::to_string(cJSON_GetArraySize(get(c, "ids"))) + " tokens"), std::string::npos) << msg;
        EXPECT_EQ(encore_session_classify(l->session, &in, 1, scores), ENCORE_STATUS_OK);
        seen++;
    }
    EXPECT_GE(seen, 2);
}

TEST(Model, MetadataComesFromTheDirectory) {
    auto l = load("tiny-distilbert-sst");
    ASSERT_TRUE(l);
    EXPECT_EQ(encore_model_architecture(l->model), ENCORE_ARCHITECTURE_DISTILBERT_SEQUENCE_CLASSIFICATION);
    EXPECT_EQ(encore_model_max_length(l->model), 64);
    EXPECT_EQ(encore_model_score_function(l->model), ENCORE_SCORE_FUNCTION_SOFTMAX);
    auto m = load("tiny-bert-multilabel");
    ASSERT_TRUE(m);
    EXPECT_EQ(encore_model_score_function(m->model), ENCORE_SCORE_FUNCTION_SIGMOID);
    EXPECT_EQ(encore_model_n_labels(m->model), 3);
    auto e = load("tiny-distilbert-embed");
    ASSERT_TRUE(e);
    EXPECT_EQ(encore_model_pooling(e->model), ENCORE_POOLING_CLS);
    EXPECT_EQ(encore_model_n_labels(e->model), 0);
    float out[3];
    encore_input in = {"hello", nullptr};
    EXPECT_EQ(encore_session_classify(e->session, &in, 1, out), ENCORE_STATUS_UNSUPPORTED);
    EXPECT_NE(std::string(encore_session_last_error(e->session)).find("no classification head"), std::string::npos);
}

// ---- the embedding limit: tiny-bert-embed-short (max_seq_length 16, model 64)

struct ModelHandle {
    encore_model *model = nullptr;
    encore_session *session = nullptr;
    encore_session *session_no_trunc = nullptr;
    ~ModelHandle() {
        encore_session_free(session);
        encore_session_free(session_no_trunc);
        encore_model_free(model);
    }
};

void open_embed_limit(ModelHandle *h) {
    ASSERT_EQ(encore_model_load(fixtures::model_dir(embed_limit::kModel).c_str(), encore_model_default_params(),
                                &h->model),
              ENCORE_STATUS_OK)
        << encore_last_error();
    encore_session_params p = encore_session_default_params();
    ASSERT_EQ(encore_session_create(h->model, p, &h->session), ENCORE_STATUS_OK);
    p.truncate = 0;
    ASSERT_EQ(encore_session_create(h->model, p, &h->session_no_trunc), ENCORE_STATUS_OK);
}

std::vector<double> as_doubles(const float *v, int n) { return std::vector<double>(v, v + n); }

std::vector<double> ids_of(const encore_encoding *e) { return std::vector<double>(e->ids, e->ids + e->n_tokens); }

TEST(EmbedLimit, EachTaskHasItsOwnLimit) {
    ModelHandle h;
    ASSERT_NO_FATAL_FAILURE(open_embed_limit(&h));
    EXPECT_EQ(encore_model_task(h.model), ENCORE_TASK_EMBED);
    EXPECT_EQ(encore_model_max_length(h.model), embed_limit::kModelLimit);
    EXPECT_EQ(encore_model_task_max_length(h.model, ENCORE_TASK_CLASSIFY), embed_limit::kModelLimit);
    EXPECT_EQ(encore_model_task_max_length(h.model, ENCORE_TASK_EMBED), embed_limit::kEmbedLimit);
    EXPECT_EQ(encore_model_task_max_length(h.model, (encore_task)7), 0);
    encore_encoding *e = nullptr;
    EXPECT_EQ(encore_model_tokenize_for_task(h.model, {"hi", nullptr}, (encore_task)7, 1, &e),
              ENCORE_STATUS_INVALID_ARGUMENT);
    EXPECT_EQ(e, nullptr);
    // Without sentence_bert_config.json both tasks take the model's limit.
    auto c = load("tiny-bert-sst");
    ASSERT_TRUE(c);
    EXPECT_EQ(encore_model_task(c->model), ENCORE_TASK_CLASSIFY);
    EXPECT_EQ(encore_model_task_max_length(c->model, ENCORE_TASK_EMBED), 64);
}

// Texts between the two limits are cut at max_seq_length, as
// sentence-transformers cuts them, by every path to an embedding: the
// tokenizer for ENCORE_TASK_EMBED, encore_session_embed alone and batched,
// and encore_session_embed_encoded.
TEST(EmbedLimit, EmbeddingsAreCutWhereSentenceTransformersCutsThem) {
    std::string why;
    const auto cases = embed_limit::cases(&why);
    ASSERT_FALSE(cases.empty()) << why;
    ModelHandle h;
    ASSERT_NO_FATAL_FAILURE(open_embed_limit(&h));
    const int C = embed_limit::kHidden;
    ASSERT_EQ(encore_model_hidden_size(h.model), C);
    std::vector<encore_input> all;
    for (const auto &k : cases) {
        SCOPED_TRACE(k.name);
        const encore_input in = {k.text.c_str(), nullptr};
        all.push_back(in);
        encore_encoding *embed = nullptr, *classify = nullptr;
        ASSERT_EQ(encore_model_tokenize_for_task(h.model, in, ENCORE_TASK_EMBED, 1, &embed), ENCORE_STATUS_OK);
        std::unique_ptr<encore_encoding, decltype(&encore_encoding_free)> hold(embed, encore_encoding_free);
        EXPECT_EQ(ids_of(embed), k.ids);
        EXPECT_EQ(embed->n_untruncated, k.n_tokens);
        ASSERT_EQ(encore_model_tokenize_for_task(h.model, in, ENCORE_TASK_CLASSIFY, 1, &classify), ENCORE_STATUS_OK);
        EXPECT_EQ(classify->n_tokens, std::min(k.n_tokens, embed_limit::kModelLimit));
        encore_encoding_free(classify);
        for (int normalize : {0, 1}) {
            const auto &want = normalize ? k.embedding_normalized : k.embedding;
            std::vector<float> e(C);
            ASSERT_EQ(encore_session_embed(h.session, &in, 1, ENCORE_POOLING_DEFAULT, normalize, e.data()),
                      ENCORE_STATUS_OK)
                << encore_session_last_error(h.session);
            EXPECT_LE(embed_limit::max_diff(as_doubles(e.data(), C), want), kEmbedTol) << "embed " << normalize;
            const encore_encoding *encs[1] = {embed};
            ASSERT_EQ(encore_session_embed_encoded(h.session, encs, 1, ENCORE_POOLING_DEFAULT, normalize, e.data()),
                      ENCORE_STATUS_OK)
                << encore_session_last_error(h.session);
            EXPECT_LE(embed_limit::max_diff(as_doubles(e.data(), C), want), kEmbedTol) << "embed_encoded " << normalize;
        }
    }
    std::vector<float> batch(all.size() * C);
    ASSERT_EQ(encore_session_embed(h.session, all.data(), (int)all.size(), ENCORE_POOLING_DEFAULT, 0, batch.data()),
              ENCORE_STATUS_OK);
    for (size_t i = 0; i < cases.size(); i++)
        EXPECT_LE(embed_limit::max_diff(as_doubles(&batch[i * C], C), cases[i].embedding), kEmbedTol)
            << cases[i].name << " in a batch";
}

// An encoding longer than the embedding limit (one made for classification)
// would give an embedding sentence-transformers never gives: refused, not
// silently embedded. Without truncation, such a text is too long.
TEST(EmbedLimit, EmbedEncodedRefusesAnEncodingLongerThanTheEmbeddingLimit) {
    std::string why;
    const auto cases = embed_limit::cases(&why);
    ASSERT_FALSE(cases.empty()) << why;
    ModelHandle h;
    ASSERT_NO_FATAL_FAILURE(open_embed_limit(&h));
    const embed_limit::Case *shorter = nullptr;
    for (const auto &k : cases)
        if (k.n_tokens <= embed_limit::kEmbedLimit) shorter = &k;
    ASSERT_NE(shorter, nullptr);
    encore_encoding *ok = nullptr;
    ASSERT_EQ(encore_model_tokenize_for_task(h.model, {shorter->text.c_str(), nullptr}, ENCORE_TASK_EMBED, 0, &ok),
              ENCORE_STATUS_OK);
    std::unique_ptr<encore_encoding, decltype(&encore_encoding_free)> hold_ok(ok, encore_encoding_free);
    int seen = 0;
    for (const auto &k : cases) {
        if (!k.between()) continue;
        SCOPED_TRACE(k.name);
        const encore_input in = {k.text.c_str(), nullptr};
        encore_encoding *whole = nullptr;
        ASSERT_EQ(encore_model_tokenize_for_task(h.model, in, ENCORE_TASK_CLASSIFY, 0, &whole), ENCORE_STATUS_OK);
        std::unique_ptr<encore_encoding, decltype(&encore_encoding_free)> hold(whole, encore_encoding_free);
        ASSERT_EQ(whole->n_tokens, k.n_tokens);
        const encore_encoding *encs[2] = {ok, whole};
        std::vector<float> e(2 * embed_limit::kHidden, NAN);
        EXPECT_EQ(encore_session_embed_encoded(h.session, encs, 2, ENCORE_POOLING_DEFAULT, 0, e.data()),
                  ENCORE_STATUS_BAD_INPUT);
        const std::string msg = encore_session_last_error(h.session);
        EXPECT_NE(msg.find("input 1"), std::string::npos) << msg;
        EXPECT_NE(msg.find(std::to_string(k.n_tokens) + " tokens"), std::string::npos) << msg;
        EXPECT_NE(msg.find("at most 16"), std::string::npos) << msg;
        EXPECT_NE(msg.find("max_seq_length"), std::string::npos) << msg;

        encore_encoding *none = nullptr;
        EXPECT_EQ(encore_model_tokenize_for_task(h.model, in, ENCORE_TASK_EMBED, 0, &none), ENCORE_STATUS_TOO_LONG);
        EXPECT_EQ(none, nullptr);
        EXPECT_NE(std::string(encore_last_error()).find("embeddings take at most 16"), std::string::npos)
            << encore_last_error();
        EXPECT_EQ(encore_session_embed(h.session_no_trunc, &in, 1, ENCORE_POOLING_DEFAULT, 0, e.data()),
                  ENCORE_STATUS_TOO_LONG);
        EXPECT_NE(std::string(encore_session_last_error(h.session_no_trunc)).find("input 0"), std::string::npos);
        seen++;
    }
    EXPECT_GE(seen, 3);
    // At the limit, and shorter, without truncation: fine.
    std::vector<float> e(embed_limit::kHidden);
    const encore_encoding *encs[1] = {ok};
    EXPECT_EQ(encore_session_embed_encoded(h.session, encs, 1, ENCORE_POOLING_DEFAULT, 0, e.data()), ENCORE_STATUS_OK);
    EXPECT_LE(embed_limit::max_diff(as_doubles(e.data(), embed_limit::kHidden), shorter->embedding), kEmbedTol);
    int at_limit = 0;
    for (const auto &k : cases) {
        if (k.n_tokens > embed_limit::kEmbedLimit) continue;
        at_limit += k.n_tokens == embed_limit::kEmbedLimit;
        const encore_input in = {k.text.c_str(), nullptr};
        EXPECT_EQ(encore_session_embed(h.session_no_trunc, &in, 1, ENCORE_POOLING_DEFAULT, 0, e.data()),
                  ENCORE_STATUS_OK)
            << k.name << ": " << encore_session_last_error(h.session_no_trunc);
        EXPECT_LE(embed_limit::max_diff(as_doubles(e.data(), embed_limit::kHidden), k.embedding), kEmbedTol) << k.name;
    }
    EXPECT_EQ(at_limit, 1);
}

}  // namespace

// Low-precision weights: the encoder's linear weights rounded to bf16, or
// quantized to int8 with per-row scales, at load (the arithmetic stays
// fp32, except int8-dynamic's, which quantizes the activations too; the
// head stays fp32). The logits must move (the option is applied)
// and stay close. When this test was written the largest change was 1.98e-2
// for bf16 (each weight moves by up to 2^-9 of itself), 2.18e-2 for int8
// (each by up to half a step, max|w| / 254 of its row) and 2.39e-2 for
// int8-dynamic (the same weights, and each activation by up to half a step of
// its group's range / 255); 6e-2 leaves about 2.5-3x
// room and still catches a wrong layout, a missing scale or an unwidened
// value, whose errors are of the logits' own size. An unknown weights value
// is refused.
TEST(Model, LowPrecisionWeightsStayCloseToFp32) {
    const std::string dir = fixtures::model_dir("tiny-bert-sst");
    encore_model *m32 = nullptr;
    encore_model_params p = encore_model_default_params();
    ASSERT_EQ(p.weights, ENCORE_WEIGHTS_FP32);
    ASSERT_EQ(encore_model_load(dir.c_str(), p, &m32), ENCORE_STATUS_OK) << encore_last_error();
    encore_session *s32 = nullptr;
    ASSERT_EQ(encore_session_create(m32, encore_session_default_params(), &s32), ENCORE_STATUS_OK);
    const std::vector<encore_input> in = {{"This movie was a wonderful, heartfelt delight.", nullptr},
                                          {"Dull, lifeless and far too long.", nullptr},
                                          {"A film.", "It has a plot."}};
    const int L = encore_model_n_labels(m32);
    std::vector<float> a(in.size() * L);
    ASSERT_EQ(encore_session_logits(s32, in.data(), (int)in.size(), a.data()), ENCORE_STATUS_OK);
    const struct {
        encore_weights weights;
        const char *name;
        double bound;
    } kinds[] = {{ENCORE_WEIGHTS_BF16, "bf16", 6e-2},
                 {ENCORE_WEIGHTS_INT8, "int8", 6e-2},
                 {ENCORE_WEIGHTS_INT8_DYNAMIC, "int8-dynamic", 6e-2}};
    for (const auto &kind : kinds) {
        encore_model *m = nullptr;
        encore_session *s = nullptr;
        p.weights = kind.weights;
        ASSERT_EQ(encore_model_load(dir.c_str(), p, &m), ENCORE_STATUS_OK) << encore_last_error();
        ASSERT_EQ(encore_session_create(m, encore_session_default_params(), &s), ENCORE_STATUS_OK);
        std::vector<float> b(in.size() * L);
        ASSERT_EQ(encore_session_logits(s, in.data(), (int)in.size(), b.data()), ENCORE_STATUS_OK);
        double worst = 0.0;
        bool moved = false;
        for (size_t i = 0; i < a.size(); i++) {
            ASSERT_TRUE(std::isfinite(b[i])) << kind.name << " logit " << i;
            worst = std::max(worst, (double)std::fabs(a[i] - b[i]));
            moved |= a[i] != b[i];
        }
        EXPECT_TRUE(moved) << kind.name << " weights gave the fp32 logits bit for bit: the option was not applied";
        EXPECT_LE(worst, kind.bound) << kind.name;
        std::printf("[ note ] %s weights: largest logit change %.3g\n", kind.name, worst);
        encore_session_free(s);
        encore_model_free(m);
    }
    encore_session_free(s32);
    encore_model_free(m32);

    encore_model *bad = nullptr;
    p.weights = (encore_weights)7;
    EXPECT_EQ(encore_model_load(dir.c_str(), p, &bad), ENCORE_STATUS_INVALID_ARGUMENT);
    EXPECT_EQ(bad, nullptr);
}
