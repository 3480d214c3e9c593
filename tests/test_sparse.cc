// test_sparse.cc: SPLADE sparse embeddings against sentence-transformers'
// SparseEncoder, on the reference dumps in tests/fixtures (tiny-*-splade),
// and the ways a SPLADE model directory can be wrong. Built twice: on the
// CPU (test_sparse) and, with ENCORE_HAVE_CUDA, on a CUDA session in fp32
// (test_cuda_sparse, label cuda, which runs under the CUDA emulation too:
// the encoder, the MLM head and the pooling on the device).
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <filesystem>
#include <fstream>
#include <memory>
#include <sstream>
#include <string>
#include <vector>

#include "expect_close.h"
#include "fixtures.h"
#include "pipeline_session.h"
#include "splade_reference.h"
#include "temp_dir.h"
#include "core/safetensors.h"

using fixtures::get;
namespace fs = std::filesystem;

namespace {

// The weights are log(1 + relu(logit)) of fp32 logits held to 1e-4, summed
// over at most 64 tokens for "sum": 1e-4 absolute, 1e-5 relative.
constexpr double kWeightTol = 1e-4;
// An input alone against the same input in a batch: the CPU's products do
// not depend on the batch (1e-6 allows for the order of the sums); the GPU's
// GEMMs may tile a batch otherwise, which moves the hidden states by ~1e-6
// (relative: "sum" pooling adds up to 64 tokens' weights, up to ~60).
#ifdef ENCORE_HAVE_CUDA
constexpr double kBatchTol = 1e-5;
#else
constexpr double kBatchTol = 1e-6;
#endif
constexpr double kBatchRelTol = kBatchTol;

struct Model {
    encore_model *model = nullptr;
    encore_session *session = nullptr;
    ~Model() {
        encore_session_free(session);
        encore_model_free(model);
    }
};

std::unique_ptr<Model> open(const std::string &dir, int splade = 0, int truncate = 1,
                            encore_weights weights = ENCORE_WEIGHTS_FP32) {
    auto m = std::make_unique<Model>();
    encore_model_params mp = encore_model_default_params();
    mp.splade = splade;
    mp.weights = weights;
    if (encore_model_load(dir.c_str(), mp, &m->model) != ENCORE_STATUS_OK) {
        ADD_FAILURE() << "loading " << dir << ": " << encore_last_error();
        return nullptr;
    }
    encore_session_params sp = encore_session_default_params();
    sp.truncate = truncate;
#ifdef ENCORE_HAVE_CUDA
    sp.device = ENCORE_DEVICE_CUDA;
    sp.precision = ENCORE_PRECISION_FP32;
#endif
    if (encore_session_create(m->model, sp, &m->session) != ENCORE_STATUS_OK) {
        ADD_FAILURE() << encore_last_error();
        return nullptr;
    }
#ifdef ENCORE_HAVE_CUDA
    EXPECT_EQ(encore_session_device(m->session), ENCORE_DEVICE_CUDA);
#endif
    return m;
}

encore_status load_status(const std::string &dir, int splade = 0) {
    encore_model *m = nullptr;
    encore_model_params mp = encore_model_default_params();
    mp.splade = splade;
    encore_status st = encore_model_load(dir.c_str(), mp, &m);
    encore_model_free(m);
    return st;
}

// The reference weights of every case that has them, by case.
struct Reference {
    std::unique_ptr<fixtures::Json> doc;
    encore_safetensors *weights = nullptr;
    ~Reference() { encore_safetensors_close(weights); }
    std::vector<float> of(const cJSON *c) const { return splade_reference::weights(weights, c); }
};

std::unique_ptr<Reference> reference(const std::string &name) {
    auto r = std::make_unique<Reference>();
    r->doc = fixtures::load(name);
    if (!r->doc || !r->doc->root) return nullptr;
    const std::string path = fixtures::dir() + "/reference/" + name + ".splade.safetensors";
    if (encore_safetensors_open(path.c_str(), &r->weights) != ENCORE_STATUS_OK) {
        ADD_FAILURE() << path << ": " << encore_last_error();
        return nullptr;
    }
    return r;
}

std::vector<const cJSON *> splade_cases(const Reference &r) {
    std::vector<const cJSON *> out;
    const cJSON *c;
    cJSON_ArrayForEach(c, get(r.doc->root, "cases")) {
        if (fixtures::has(c, "splade") && !fixtures::has_nul(c)) out.push_back(c);
    }
    return out;
}

// Every single-text case, one call each, against SparseEncoder.encode.
void expect_matches(Model &m, const Reference &r) {
    const int V = encore_model_vocab_size(m.model);
    ASSERT_EQ(V, (int)fixtures::number(r.doc->root, "vocab_size"));
    int checked = 0;
    for (const cJSON *c : splade_cases(r)) {
        const std::string name = fixtures::str(c, "name");
        encore_input in = fixtures::input(c);
        encore_encoding *enc = nullptr;
        ASSERT_EQ(encore_model_tokenize_for_task(m.model, in, ENCORE_TASK_EMBED, 1, &enc), ENCORE_STATUS_OK) << name;
        std::vector<double> ids(enc->ids, enc->ids + enc->n_tokens);
        encore_encoding_free(enc);
        EXPECT_EQ(ids, fixtures::numbers(c, "splade_ids")) << "token ids of " << name;
        std::vector<float> got(V, NAN);
        ASSERT_EQ(encore_session_embed_sparse(m.session, &in, 1, got.data()), ENCORE_STATUS_OK)
            << name << ": " << encore_session_last_error(m.session);
        const std::vector<float> want = r.of(c);
        ASSERT_EQ(want.size(), (size_t)V) << "no reference weights for " << name;
        EXPECT_CLOSE(got, want, kWeightTol, 1e-5) << "SPLADE weights of " << name;
        // The same zeros: a weight is 0 exactly where relu cut every token,
        // up to logits within the tolerance of 0.
        int nonzero = 0;
        for (int v = 0; v < V; v++) {
            nonzero += got[v] != 0.0f;
            if ((got[v] == 0.0f) != (want[v] == 0.0f)) {
                EXPECT_LT(std::fabs(got[v] - want[v]), kWeightTol) << name << " entry " << v;
            }
        }
        EXPECT_GT(nonzero, 10) << name;
        checked++;
    }
    EXPECT_GT(checked, 20);
}

class Splade : public ::testing::TestWithParam<std::string> {};

TEST_P(Splade, MatchesSentenceTransformersSparseEncoder) {
    NEED_DEVICE();
    auto r = reference(GetParam());
    ASSERT_TRUE(r);
    auto m = open(fixtures::model_dir(GetParam()));
    ASSERT_TRUE(m);
    EXPECT_EQ(encore_model_is_sparse(m->model), 1);
    expect_matches(*m, *r);
}

// One call with every case gives each case's result alone, and the
// encoded entry point the same as the text one.
TEST_P(Splade, BatchGivesEachInputsWeights) {
    NEED_DEVICE();
    auto r = reference(GetParam());
    ASSERT_TRUE(r);
    auto m = open(fixtures::model_dir(GetParam()));
    ASSERT_TRUE(m);
    const int V = encore_model_vocab_size(m->model);
    std::vector<encore_input> inputs;
    for (const cJSON *c : splade_cases(*r)) inputs.push_back(fixtures::input(c));
    const int n = (int)inputs.size();
    ASSERT_GT(n, 20);
    std::vector<float> together((size_t)n * V, NAN), alone(V, NAN);
    ASSERT_EQ(encore_session_embed_sparse(m->session, inputs.data(), n, together.data()), ENCORE_STATUS_OK)
        << encore_session_last_error(m->session);
    std::vector<encore_encoding *> encs(n, nullptr);
    for (int i = 0; i < n; i++)
        ASSERT_EQ(encore_model_tokenize_for_task(m->model, inputs[i], ENCORE_TASK_EMBED, 1, &encs[i]),
                  ENCORE_STATUS_OK);
    std::vector<float> encoded((size_t)n * V, NAN);
    EXPECT_EQ(encore_session_embed_sparse_encoded(m->session, encs.data(), n, encoded.data()), ENCORE_STATUS_OK)
        << encore_session_last_error(m->session);
    for (encore_encoding *e : encs) encore_encoding_free(e);
    EXPECT_CLOSE(encoded, together, 0, 0) << "encoded against text inputs";
    for (int i = 0; i < n; i++) {
        ASSERT_EQ(encore_session_embed_sparse(m->session, &inputs[i], 1, alone.data()), ENCORE_STATUS_OK);
        EXPECT_CLOSE(approx::values(together.data() + (size_t)i * V, V), alone, kBatchTol, kBatchRelTol) << "input " << i;
    }
}

// --weights bf16 rounds the encoder's weights and the decoder's to bf16:
// the weights move (the option is applied), by at most what bf16 moves a
// logit (test_model's bound for its logits, 6e-2: log1p never moves more
// than its argument) per token that sum pooling adds up.
TEST_P(Splade, Bf16WeightsStayClose) {
    NEED_DEVICE();
    auto r = reference(GetParam());
    ASSERT_TRUE(r);
    auto m = open(fixtures::model_dir(GetParam()), 0, 1, ENCORE_WEIGHTS_BF16);
    ASSERT_TRUE(m);
    const int V = encore_model_vocab_size(m->model);
    const bool sum = fixtures::str(r->doc->root, "pooling_strategy") == "sum";
    double worst = 0;
    bool moved = false;
    for (const cJSON *c : splade_cases(*r)) {
        encore_input in = fixtures::input(c);
        const double tokens = sum ? (double)fixtures::numbers(c, "splade_ids").size() : 1.0;
        std::vector<float> got(V, NAN);
        ASSERT_EQ(encore_session_embed_sparse(m->session, &in, 1, got.data()), ENCORE_STATUS_OK);
        const std::vector<float> want = r->of(c);
        ASSERT_EQ(want.size(), (size_t)V);
        for (int v = 0; v < V; v++) {
            ASSERT_TRUE(std::isfinite(got[v]));
            worst = std::max(worst, (double)std::fabs(got[v] - want[v]) / tokens);
            moved |= got[v] != want[v];
        }
    }
    EXPECT_TRUE(moved);
    EXPECT_LE(worst, 6e-2);
    std::printf("[ note ] bf16 weights: largest SPLADE weight change %.3g%s\n", worst, sum ? " per token" : "");
}

INSTANTIATE_TEST_SUITE_P(Fixtures, Splade, ::testing::Values("tiny-bert-splade", "tiny-distilbert-splade"));

// A copy of a fixture directory, to change a file of.
struct Copy {
    TempDir dir{"test_sparse"};
    explicit Copy(const std::string &name) {
        fs::copy(fixtures::model_dir(name), dir.path(), fs::copy_options::recursive);
    }
    std::string path() const { return dir.path(); }
    std::string read(const std::string &f) const {
        std::ifstream in(dir.path() + "/" + f);
        std::stringstream ss;
        ss << in.rdbuf();
        return ss.str();
    }
    void replace(const std::string &f, const std::string &from, const std::string &to) const {
        std::string s = read(f);
        const size_t at = s.find(from);
        ASSERT_NE(at, std::string::npos) << from << " in " << f;
        s.replace(at, from.size(), to);
        dir.write(f, s);
    }
};

// sentence-transformers 5 named the module MLMTransformer.
TEST(SpladeLayout, MlmTransformerModuleName) {
    NEED_DEVICE();
    Copy d("tiny-bert-splade");
    d.replace("modules.json", "sentence_transformers.base.modules.transformer.Transformer",
              "sentence_transformers.sparse_encoder.models.MLMTransformer.MLMTransformer");
    auto r = reference("tiny-bert-splade");
    ASSERT_TRUE(r);
    auto m = open(d.path());
    ASSERT_TRUE(m);
    expect_matches(*m, *r);
}

// TEI's --pooling splade: a *ForMaskedLM directory without SpladePooling,
// loaded as SPLADE, is max pooling of log(1 + relu), the fixture's settings.
TEST(SpladeLayout, ForcedOnAMaskedLmWithoutModules) {
    NEED_DEVICE();
    Copy d("tiny-bert-splade");
    fs::remove(d.path() + "/modules.json");
    fs::remove_all(d.path() + "/1_SpladePooling");
    {
        auto plain = open(d.path());
        ASSERT_TRUE(plain);
        EXPECT_EQ(encore_model_is_sparse(plain->model), 0);
        encore_input in = {"a fine film", nullptr};
        std::vector<float> w(encore_model_vocab_size(plain->model));
        EXPECT_EQ(encore_session_embed_sparse(plain->session, &in, 1, w.data()), ENCORE_STATUS_UNSUPPORTED);
        EXPECT_NE(std::string(encore_session_last_error(plain->session)).find("not a SPLADE model"),
                  std::string::npos)
            << encore_session_last_error(plain->session);
    }
    auto r = reference("tiny-bert-splade");
    ASSERT_TRUE(r);
    auto m = open(d.path(), 1);
    ASSERT_TRUE(m);
    EXPECT_EQ(encore_model_is_sparse(m->model), 1);
    expect_matches(*m, *r);
}

TEST(SpladeLayout, RefusedWithoutAMaskedLmHead) {
    EXPECT_EQ(load_status(fixtures::model_dir("tiny-bert-embed"), 1), ENCORE_STATUS_UNSUPPORTED);
    EXPECT_NE(std::string(encore_last_error()).find("masked-language-model head"), std::string::npos)
        << encore_last_error();
    // A SpladePooling module over a model without the head.
    Copy d("tiny-bert-embed");
    d.dir.write("modules.json",
                "[{\"idx\":0,\"name\":\"0\",\"path\":\"\",\"type\":\"sentence_transformers.models.Transformer\"},"
                "{\"idx\":1,\"name\":\"1\",\"path\":\"1_SpladePooling\","
                "\"type\":\"sentence_transformers.sparse_encoder.models.SpladePooling\"}]");
    fs::create_directories(d.path() + "/1_SpladePooling");
    d.dir.write("1_SpladePooling/config.json", "{\"pooling_strategy\": \"max\"}");
    EXPECT_EQ(load_status(d.path()), ENCORE_STATUS_UNSUPPORTED) << encore_last_error();
}

TEST(SpladeLayout, BadSettingsAreRefusedAtLoad) {
    struct Case {
        const char *file, *from, *to;
        encore_status want;
        const char *says;
    } cases[] = {
        {"1_SpladePooling/config.json", "\"max\"", "\"mean\"", ENCORE_STATUS_UNSUPPORTED, "pooling_strategy"},
        {"1_SpladePooling/config.json", "\"relu\"", "\"gelu\"", ENCORE_STATUS_UNSUPPORTED, "activation_function"},
        {"1_SpladePooling/config.json", "\"max\"", "7", ENCORE_STATUS_UNSUPPORTED, "pooling_strategy"},
        {"1_SpladePooling/config.json", "{", "[", ENCORE_STATUS_BAD_MODEL, "not a JSON object"},
        {"modules.json", "\"1_SpladePooling\"", "\"../1_SpladePooling\"", ENCORE_STATUS_BAD_MODEL,
         "leaves the model directory"},
        {"modules.json", "\"1_SpladePooling\"", "\"/etc\"", ENCORE_STATUS_BAD_MODEL, "leaves the model directory"},
        {"modules.json", "\"1_SpladePooling\"", "\"2_Missing\"", ENCORE_STATUS_BAD_MODEL, "missing or unreadable"},
        {"modules.json", "sentence_transformers.base.modules.transformer.Transformer",
         "sentence_transformers.sparse_encoder.models.SparseStaticEmbedding", ENCORE_STATUS_UNSUPPORTED,
         "SparseStaticEmbedding"},
        {"modules.json", "[", "{", ENCORE_STATUS_BAD_MODEL, "not a JSON list"},
    };
    for (const Case &c : cases) {
        Copy d("tiny-bert-splade");
        d.replace(c.file, c.from, c.to);
        EXPECT_EQ(load_status(d.path()), c.want) << c.file << ": " << c.from << " -> " << c.to;
        EXPECT_NE(std::string(encore_last_error()).find(c.says), std::string::npos) << encore_last_error();
    }
    EXPECT_EQ(load_status(fixtures::model_dir("tiny-bert-splade"), 2), ENCORE_STATUS_INVALID_ARGUMENT);
}

TEST(SpladeCalls, BadArgumentsGiveAStatus) {
    NEED_DEVICE();
    auto m = open(fixtures::model_dir("tiny-bert-splade"), 0, 0);
    ASSERT_TRUE(m);
    const int V = encore_model_vocab_size(m->model);
    std::vector<float> w(V, NAN);
    encore_input in = {"fine", nullptr};
    EXPECT_EQ(encore_session_embed_sparse(nullptr, &in, 1, w.data()), ENCORE_STATUS_INVALID_ARGUMENT);
    EXPECT_EQ(encore_session_embed_sparse(m->session, nullptr, 1, w.data()), ENCORE_STATUS_INVALID_ARGUMENT);
    EXPECT_EQ(encore_session_embed_sparse(m->session, &in, 1, nullptr), ENCORE_STATUS_INVALID_ARGUMENT);
    EXPECT_EQ(encore_session_embed_sparse(m->session, &in, -1, w.data()), ENCORE_STATUS_INVALID_ARGUMENT);
    EXPECT_EQ(encore_session_embed_sparse(m->session, &in, 0, w.data()), ENCORE_STATUS_OK);
    const encore_encoding *none[1] = {nullptr};
    EXPECT_EQ(encore_session_embed_sparse_encoded(m->session, none, 1, w.data()), ENCORE_STATUS_INVALID_ARGUMENT);
    // Over-long with truncation off: an error, the output untouched.
    std::string longer;
    for (int i = 0; i < 200; i++) longer += "good ";
    encore_input two[2] = {{"fine", nullptr}, {longer.c_str(), nullptr}};
    std::vector<float> w2(2 * (size_t)V, NAN);
    EXPECT_EQ(encore_session_embed_sparse(m->session, two, 2, w2.data()), ENCORE_STATUS_TOO_LONG);
    EXPECT_NE(std::string(encore_session_last_error(m->session)).find("input 1"), std::string::npos)
        << encore_session_last_error(m->session);
    for (float x : w2) EXPECT_TRUE(std::isnan(x));
    // Invalid UTF-8.
    encore_input bad = {"caf\xc3", nullptr};
    EXPECT_EQ(encore_session_embed_sparse(m->session, &bad, 1, w.data()), ENCORE_STATUS_BAD_INPUT);
    // The session still works.
    EXPECT_EQ(encore_session_embed_sparse(m->session, &in, 1, w.data()), ENCORE_STATUS_OK);
    // The model's own embedding is its weights: embed's default pooling is
    // refused, an explicit one pools the hidden states.
    std::vector<float> e(encore_model_hidden_size(m->model), NAN);
    EXPECT_EQ(encore_session_embed(m->session, &in, 1, ENCORE_POOLING_DEFAULT, 0, e.data()), ENCORE_STATUS_UNSUPPORTED);
    EXPECT_NE(std::string(encore_session_last_error(m->session)).find("encore_session_embed_sparse"), std::string::npos);
    EXPECT_EQ(encore_session_embed(m->session, &in, 1, ENCORE_POOLING_MEAN, 0, e.data()), ENCORE_STATUS_OK);
    for (float x : e) EXPECT_TRUE(std::isfinite(x));
}

}  // namespace
