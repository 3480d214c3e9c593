// test_serve_ner.cc: encore serve's POST / on a token classifier, with the
// Hugging Face Inference API's token-classification payload, on the real
// server over 127.0.0.1, against what transformers'
// pipeline("token-classification") answered for the same calls
// (tests/fixtures/reference/*.ner.json).
#include <gtest/gtest.h>

#include <string>

#include "fixtures.h"
#include "serve_harness.h"

using fixtures::get;
using serve_harness::Client;
using serve_harness::Response;
using serve_harness::Server;

namespace {

// Scores: float32 written in their shortest form, the pipeline's the same
// arithmetic in another order: 1e-5, as in test_ner.
constexpr double kScoreTol = 1e-5;

void expect_same(const cJSON *got, const cJSON *want, const std::string &where) {
    fixtures::expect_json_close(got, want, where, kScoreTol);
}

// {"inputs": text, "parameters": {"aggregation_strategy": ..., "ignore_labels": [...] if set}}.
std::string payload(const cJSON *c) {
    cJSON *root = cJSON_CreateObject(), *params = cJSON_CreateObject();
    cJSON_AddItemToObject(root, "inputs", cJSON_CreateString(fixtures::str(c, "text").c_str()));
    for (const char *key : {"aggregation_strategy", "ignore_labels", "stride"})
        if (fixtures::has(c, key)) cJSON_AddItemToObject(params, key, cJSON_Duplicate(get(c, key), 1));
    cJSON_AddItemToObject(root, "parameters", params);
    std::string out = fixtures::dumps(root);
    cJSON_Delete(root);
    return out;
}

void replay(const std::string &model) {
    auto ref = fixtures::load(model + ".ner");
    ASSERT_TRUE(ref && ref->root) << "no reference for " << model;
    Server s;
    ASSERT_TRUE(s.start({"--model", fixtures::model_dir(model)})) << s.error();
    Client client;
    int n = 0;
    const cJSON *c;
    cJSON_ArrayForEach(c, get(ref->root, "pipeline_cases")) {
        const std::string where = model + " case " + fixtures::str(c, "name");
        Response r = client.post(s.url("/"), payload(c));
        ASSERT_EQ(r.status, 200) << where << ": " << r.body;
        fixtures::Json got(cJSON_Parse(r.body.c_str()));
        expect_same(got.root, get(c, "result"), where);
        n++;
    }
    EXPECT_GE(n, 150);
}

TEST(ServeNer, BertAnswersAsThePipeline) { replay("tiny-bert-ner"); }

TEST(ServeNer, DistilBertAnswersAsThePipeline) { replay("tiny-distilbert-ner"); }

TEST(ServeNer, RobertaAnswersAsThePipeline) { replay("tiny-roberta-ner"); }

TEST(ServeNer, XlmRobertaAnswersAsThePipeline) { replay("tiny-xlmr-ner"); }

TEST(ServeNer, MpnetAnswersAsThePipeline) { replay("tiny-mpnet-ner"); }

TEST(ServeNer, ListsAndBadInput) {
    auto ref = fixtures::load("tiny-bert-ner.ner");
    ASSERT_TRUE(ref && ref->root);
    Server s;
    ASSERT_TRUE(s.start({"--model", fixtures::model_dir("tiny-bert-ner")})) << s.error();
    Client c;
    // A list of inputs: a list of results, each as the pipeline gave it
    // (no parameters: the pipeline's defaults).
    const cJSON *names = nullptr, *empty = nullptr, *k;
    cJSON_ArrayForEach(k, get(ref->root, "pipeline_cases")) {
        if (fixtures::str(k, "name") == "names/none") names = k;
        if (fixtures::str(k, "name") == "empty/none") empty = k;
    }
    ASSERT_TRUE(names && empty);
    Response r = c.post(s.url("/"), "{\"inputs\": [\"" + fixtures::str(names, "text") + "\", \"\"]}");
    ASSERT_EQ(r.status, 200) << r.body;
    fixtures::Json list(cJSON_Parse(r.body.c_str()));
    ASSERT_TRUE(cJSON_IsArray(list.root));
    ASSERT_EQ(cJSON_GetArraySize(list.root), 2);
    expect_same(cJSON_GetArrayItem(list.root, 0), get(names, "result"), "list[0]");
    expect_same(cJSON_GetArrayItem(list.root, 1), get(empty, "result"), "list[1]");
    // Bad input: a status and a message, and the server lives on.
    r = c.post(s.url("/"), R"({"inputs": "a", "parameters": {"aggregation_strategy": "mean"}})");
    EXPECT_EQ(r.status, 422);
    EXPECT_NE(r.body.find("aggregation_strategy"), std::string::npos) << r.body;
    r = c.post(s.url("/"), R"({"inputs": "a", "parameters": {"aggregation_strategy": 1}})");
    EXPECT_EQ(r.status, 422) << r.body;
    r = c.post(s.url("/"), R"({"inputs": "a", "parameters": {"ignore_labels": "O"}})");
    EXPECT_EQ(r.status, 422);
    EXPECT_NE(r.body.find("ignore_labels"), std::string::npos) << r.body;
    r = c.post(s.url("/"), R"({"inputs": "a", "parameters": {"ignore_labels": ["O", 3]}})");
    EXPECT_EQ(r.status, 422) << r.body;
    r = c.post(s.url("/"), R"({"inputs": "a", "parameters": {"stride": 8, "aggregation_strategy": "none"}})");
    EXPECT_EQ(r.status, 422) << r.body;
    r = c.post(s.url("/"), R"({"inputs": "a", "parameters": {"stride": -1, "aggregation_strategy": "max"}})");
    EXPECT_EQ(r.status, 422) << r.body;
    r = c.post(s.url("/"), R"({"inputs": "a", "parameters": {"stride": 1.5, "aggregation_strategy": "max"}})");
    EXPECT_EQ(r.status, 422) << r.body;
    r = c.post(s.url("/"), R"({"inputs": "a", "parameters": {"stride": 64, "aggregation_strategy": "max"}})");
    EXPECT_EQ(r.status, 422) << r.body;
    EXPECT_NE(r.body.find("stride"), std::string::npos) << r.body;
    r = c.post(s.url("/"), R"({"inputs": "bad \udc00 surrogate"})");
    EXPECT_EQ(r.status / 100, 4) << r.body;
    r = c.post(s.url("/"), R"({"inputs": []})");
    EXPECT_EQ(r.status, 400) << r.body;
    r = c.post(s.url("/"), R"({"inputs": 3})");
    EXPECT_EQ(r.status, 422) << r.body;
    r = c.post(s.url("/"), R"({"inputs": "Paris", "parameters": {"aggregation_strategy": null, "ignore_labels": null}})");
    EXPECT_EQ(r.status, 200) << r.body;
}

}  // namespace
