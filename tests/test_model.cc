// test_model.cc: the CPU forward pass against transformers and
// sentence-transformers, on the reference dumps in tests/fixtures.
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <cstdlib>
#include <string>
#include <vector>

#include "expect_close.h"
#include "fixtures.h"
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
                         ::testing::Values("tiny-bert-sst", "tiny-distilbert-sst", "tiny-bert-multilabel"));

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
        encore_tensor_to_f32(t, want.data());
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
                                           "tiny-bert-embed", "tiny-distilbert-embed"));

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

INSTANTIATE_TEST_SUITE_P(Models, Embedder, ::testing::Values("tiny-bert-embed", "tiny-distilbert-embed"));

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

}  // namespace
