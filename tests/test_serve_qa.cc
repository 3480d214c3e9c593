// test_serve_qa.cc: encore serve's POST / on a question-answering model with
// the Hugging Face Inference API's payload ({"inputs": {"question",
// "context"} | [...], "parameters": {...}}), on the real server over
// 127.0.0.1, against what transformers 4.57's pipeline("question-answering")
// answered for the same calls (tests/fixtures/reference/<model>.qa.json).
// Built again with ENCORE_HAVE_CUDA (test_cuda_serve_qa, label cuda, which
// runs under the CUDA emulation too): the same calls to a server started
// with --device cuda --precision fp32, whose QA session must run on the GPU
// in fp32 to answer within the same tolerance.
#include <gtest/gtest.h>

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

// The server writes float32 scores in their shortest form; test_qa explains
// the 1e-5.
constexpr double kScoreTol = 1e-5;

void expect_same(const cJSON *got, const cJSON *want, const std::string &where) {
    fixtures::expect_json_close(got, want, where, kScoreTol);
}

// The case as an Inference API payload: keyword inputs become {question,
// context} objects (a list when there are several questions).
std::string payload(const cJSON *c) {
    cJSON *root = cJSON_CreateObject();
    const cJSON *in = get(c, "inputs");
    const cJSON *q = get(in, "question");
    cJSON *inputs;
    if (cJSON_IsArray(in)) {
        inputs = cJSON_Duplicate(in, 1);
    } else if (cJSON_IsArray(q)) {
        inputs = cJSON_CreateArray();
        const cJSON *item;
        cJSON_ArrayForEach(item, q) {
            cJSON *pair = cJSON_CreateObject();
            cJSON_AddItemToObject(pair, "question", cJSON_Duplicate(item, 1));
            cJSON_AddItemToObject(pair, "context", cJSON_Duplicate(get(in, "context"), 1));
            cJSON_AddItemToArray(inputs, pair);
        }
    } else {
        inputs = cJSON_Duplicate(in, 1);
    }
    cJSON_AddItemToObject(root, "inputs", inputs);
    cJSON_AddItemToObject(root, "parameters", cJSON_Duplicate(get(c, "parameters"), 1));
    std::string out = fixtures::dumps(root);
    cJSON_Delete(root);
    return out;
}

class ServeQa : public ::testing::TestWithParam<const char *> {};

TEST_P(ServeQa, AnswersAsThePipeline) {
    NEED_DEVICE();
    const std::string model = GetParam();
    auto ref = fixtures::load(model + ".qa");
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
    cJSON_ArrayForEach(c, get(ref->root, "cases")) {
        const std::string where = model + " case " + fixtures::str(c, "name");
        Response r = client.post(s.url("/"), payload(c));
        ASSERT_EQ(r.status, 200) << where << ": " << r.body;
        fixtures::Json got(cJSON_Parse(r.body.c_str()));
        cJSON *output = cJSON_GetObjectItemCaseSensitive(c, "output");
        fixtures::drop_zero_score_fill(output);
        expect_same(got.root, output, where);
        n++;
    }
    EXPECT_GE(n, 20);
}

#ifdef ENCORE_HAVE_CUDA
// Every case through the emulated device costs minutes: the BERT shapes
// (test_cuda_qa runs RoBERTa's span head on the device).
INSTANTIATE_TEST_SUITE_P(Fixtures, ServeQa, ::testing::Values("tiny-bert-qa", "tiny-distilbert-qa"));
#else
INSTANTIATE_TEST_SUITE_P(Fixtures, ServeQa,
                         ::testing::Values("tiny-bert-qa", "tiny-distilbert-qa", "tiny-roberta-qa", "tiny-xlmr-qa",
                                           "tiny-mpnet-qa", "tiny-electra-qa", "tiny-deberta-qa"));
#endif

TEST(ServeQa, ListsAndBadInput) {
    Server s;
    ASSERT_TRUE(s.start({"--model", fixtures::model_dir("tiny-bert-qa")})) << s.error();
    Client c;
    const std::string pair = R"({"question": "Which city?", "context": "Paris is the capital of France."})";
    // A list of one: that one result, as the pipeline returns it.
    Response one = c.post(s.url("/"), R"({"inputs": )" + pair + "}");
    ASSERT_EQ(one.status, 200) << one.body;
    Response list1 = c.post(s.url("/"), R"({"inputs": [)" + pair + "]}");
    ASSERT_EQ(list1.status, 200) << list1.body;
    EXPECT_EQ(list1.body, one.body);
    fixtures::Json bare(cJSON_Parse(one.body.c_str()));
    EXPECT_TRUE(cJSON_IsObject(bare.root)) << one.body;
    Response two = c.post(s.url("/"), R"({"inputs": [)" + pair + "," + pair + R"(], "parameters": {"top_k": 2}})");
    ASSERT_EQ(two.status, 200) << two.body;
    fixtures::Json both(cJSON_Parse(two.body.c_str()));
    ASSERT_TRUE(cJSON_IsArray(both.root));
    ASSERT_EQ(cJSON_GetArraySize(both.root), 2);
    EXPECT_TRUE(cJSON_IsArray(cJSON_GetArrayItem(both.root, 0)));
    // Bad input: a status and a message, and the server lives on.
    Response r = c.post(s.url("/"), R"({"inputs": "just a string"})");
    EXPECT_EQ(r.status, 422);
    EXPECT_NE(r.body.find("question"), std::string::npos) << r.body;
    r = c.post(s.url("/"), R"({"inputs": {"question": "Which city?"}})");
    EXPECT_EQ(r.status, 422) << r.body;
    r = c.post(s.url("/"), R"({"inputs": {"question": "", "context": "Paris."}})");
    EXPECT_EQ(r.status, 422);
    EXPECT_NE(r.body.find("the question is empty"), std::string::npos) << r.body;
    r = c.post(s.url("/"), R"({"inputs": [], "parameters": {}})");
    EXPECT_EQ(r.status, 400) << r.body;
    r = c.post(s.url("/"), R"({"inputs": )" + pair + R"(, "parameters": {"top_k": 0}})");
    EXPECT_EQ(r.status, 422) << r.body;
    r = c.post(s.url("/"), R"({"inputs": )" + pair + R"(, "parameters": {"align_to_words": "yes"}})");
    EXPECT_EQ(r.status, 422) << r.body;
    r = c.post(s.url("/"), R"({"inputs": )" + pair + R"(, "parameters": {"max_seq_len": 16, "doc_stride": 17}})");
    EXPECT_EQ(r.status, 422);
    EXPECT_NE(r.body.find("doc_stride"), std::string::npos) << r.body;
    r = c.post(s.url("/"), R"({"inputs": )" + pair + "}");
    EXPECT_EQ(r.status, 200) << r.body;
    EXPECT_EQ(r.body, one.body);
}

}  // namespace
