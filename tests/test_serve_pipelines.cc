// test_serve_pipelines.cc: encore serve's POST / with the Hugging Face
// Inference API's fill-mask and zero-shot payloads, on the real server over
// 127.0.0.1, against what transformers' pipelines answered for the same
// calls (tests/fixtures/reference/tiny-bert-mlm.json, tiny-bert-nli.json).
// Built again with ENCORE_HAVE_CUDA (test_cuda_serve_pipelines, label cuda,
// which runs under the CUDA emulation too): the same calls to a server
// started with --device cuda --precision fp32, whose pipelines must run on
// the GPU in fp32 to answer within the same tolerance.
#include <gtest/gtest.h>

#include <cmath>
#include <string>
#include <vector>

#include "fixtures.h"
#include "pipeline_session.h"
#include "serve_harness.h"

using fixtures::get;
using serve_harness::Client;
using serve_harness::Response;
using serve_harness::Server;

namespace {

// The server writes float32 scores in their shortest form; the pipeline's
// are the same arithmetic in another order: 1e-5, as everywhere.
constexpr double kScoreTol = 1e-5;

void expect_same(const cJSON *got, const cJSON *want, const std::string &where) {
    fixtures::expect_json_close(got, want, where, kScoreTol);
}

// {"inputs": text, "parameters": {the case's options that are set}}.
std::string payload(const cJSON *c, const char *const *keys, int n_keys) {
    cJSON *root = cJSON_CreateObject(), *params = cJSON_CreateObject();
    cJSON_AddItemToObject(root, "inputs", cJSON_CreateString(fixtures::str(c, "text").c_str()));
    for (int i = 0; i < n_keys; i++)
        if (fixtures::has(c, keys[i]))
            cJSON_AddItemToObject(params, keys[i], cJSON_Duplicate(get(c, keys[i]), 1));
    cJSON_AddItemToObject(root, "parameters", params);
    std::string out = fixtures::dumps(root);
    cJSON_Delete(root);
    return out;
}

void replay(const std::string &model, const char *const *keys, int n_keys) {
    auto ref = fixtures::load(model);
    ASSERT_TRUE(ref && ref->root) << "no reference for " << model;
    std::vector<std::string> args{"--model", fixtures::model_dir(model)};
#ifdef ENCORE_HAVE_CUDA
    args.insert(args.end(), {"--device", "cuda", "--precision", "fp32"});
#endif
    Server s;
    ASSERT_TRUE(s.start(args)) << s.error();
    Client client;
    int n = 0;
    const cJSON *c;
    cJSON_ArrayForEach(c, get(ref->root, "pipeline_cases")) {
        const std::string where = model + " case " + fixtures::str(c, "name");
        Response r = client.post(s.url("/"), payload(c, keys, n_keys));
        ASSERT_EQ(r.status, 200) << where << ": " << r.body;
        fixtures::Json got(cJSON_Parse(r.body.c_str()));
        expect_same(got.root, get(c, "result"), where);
        n++;
    }
    EXPECT_GE(n, 10);
}

TEST(ServePipelines, FillMaskAnswersAsThePipeline) {
    NEED_DEVICE();
    const char *keys[] = {"top_k", "targets"};
    replay("tiny-bert-mlm", keys, 2);
}

TEST(ServePipelines, ZeroShotAnswersAsThePipeline) {
    NEED_DEVICE();
    const char *keys[] = {"candidate_labels", "hypothesis_template", "multi_label"};
    replay("tiny-bert-nli", keys, 3);
}

TEST(ServePipelines, ListsBadInputAndPlainClassification) {
    Server mlm, nli;
    ASSERT_TRUE(mlm.start({"--model", fixtures::model_dir("tiny-bert-mlm")})) << mlm.error();
    ASSERT_TRUE(nli.start({"--model", fixtures::model_dir("tiny-bert-nli")})) << nli.error();
    Client c;
    // A list of inputs: a list of results.
    Response r = c.post(mlm.url("/"), R"({"inputs": ["a [MASK] film", "[MASK] and [MASK]"], "parameters": {"top_k": 2}})");
    ASSERT_EQ(r.status, 200) << r.body;
    fixtures::Json list(cJSON_Parse(r.body.c_str()));
    ASSERT_TRUE(cJSON_IsArray(list.root));
    ASSERT_EQ(cJSON_GetArraySize(list.root), 2);
    EXPECT_TRUE(cJSON_IsObject(cJSON_GetArrayItem(cJSON_GetArrayItem(list.root, 0), 0)));  // one mask
    EXPECT_TRUE(cJSON_IsArray(cJSON_GetArrayItem(cJSON_GetArrayItem(list.root, 1), 0)));   // two masks
    // Bad input: a status and a message, and the server lives on.
    r = c.post(mlm.url("/"), R"({"inputs": "no mask here"})");
    EXPECT_EQ(r.status, 422);
    EXPECT_NE(r.body.find("no mask token"), std::string::npos) << r.body;
    r = c.post(mlm.url("/"), R"({"inputs": "a [MASK]", "parameters": {"top_k": 0}})");
    EXPECT_EQ(r.status, 422) << r.body;
    r = c.post(mlm.url("/"), R"({"inputs": "a [MASK]", "parameters": {"targets": 3}})");
    EXPECT_EQ(r.status, 422) << r.body;
    r = c.post(mlm.url("/"), R"({"inputs": []})");
    EXPECT_EQ(r.status, 400) << r.body;
    r = c.post(nli.url("/"), R"({"inputs": "a film", "parameters": {"candidate_labels": []}})");
    EXPECT_EQ(r.status, 422);
    EXPECT_NE(r.body.find("no candidate labels"), std::string::npos) << r.body;
    r = c.post(nli.url("/"), R"({"inputs": "a film", "parameters": {"candidate_labels": ["a"], "hypothesis_template": "x"}})");
    EXPECT_EQ(r.status, 422) << r.body;
    // Without candidate_labels an NLI model classifies, as before.
    r = c.post(nli.url("/"), R"({"inputs": "a film"})");
    ASSERT_EQ(r.status, 200) << r.body;
    EXPECT_NE(r.body.find("\"label\":\"entailment\""), std::string::npos) << r.body;
    r = c.post(mlm.url("/"), R"({"inputs": "a [MASK] film"})");
    EXPECT_EQ(r.status, 200) << r.body;
}

}  // namespace
