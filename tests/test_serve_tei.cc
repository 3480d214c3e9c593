// test_serve_tei.cc: what makes `encore serve` a drop-in for Hugging Face
// text-embeddings-inference (TEI) beyond the core routes (test_serve.cc):
// prompts, Matryoshka dimensions, left truncation and token-id inputs held
// to sentence-transformers' own embeddings (tiny-bert-prompts.json); /rerank
// held to sentence-transformers' CrossEncoder (tiny-bert-rerank.json);
// /v1/embeddings in OpenAI's shape; /decode held to tokenizers' decode;
// /similarity, /embed_sparse, /invocations, /ping; TEI's validation errors;
// and connections that arrive while the server drains. The server is the
// real binary on 127.0.0.1.
#include <gtest/gtest.h>

#include <cmath>
#include <cstring>
#include <fstream>
#include <sstream>
#include <string>
#include <chrono>
#include <thread>
#include <vector>

#include "core/safetensors.h"
#include "expect_close.h"
#include "fixtures.h"
#include "serve_harness.h"
#include "splade_reference.h"

using fixtures::get;
using serve_harness::Client;
using serve_harness::Response;
using serve_harness::Server;

namespace {

const bool curl_ready = curl_global_init(CURL_GLOBAL_DEFAULT) == CURLE_OK;

// The server's embeddings are the library's fp32 CPU path; sentence-
// transformers' are torch's. The fixture tests (test_model) hold the two
// within 1e-5 elementwise on normalized vectors; the bar for
// clients is a cosine of at least 0.99999.
constexpr double kCosine = 0.99999;
constexpr double kTol = 1e-5;
// CrossEncoder scores: sigmoid of a logit that the library matches within
// 1e-5 (test_model's classifier tolerance).
constexpr double kScoreTol = 1e-5;

struct JsonDoc {
    cJSON *root;
    explicit JsonDoc(const std::string &s) : root(cJSON_ParseWithLength(s.data(), s.size())) {}
    JsonDoc(const JsonDoc &) = delete;
    ~JsonDoc() { cJSON_Delete(root); }
};

std::string ids_json(const std::vector<double> &ids) {
    std::string s = "[";
    for (size_t i = 0; i < ids.size(); i++) s += (i ? "," : "") + std::to_string((long)ids[i]);
    return s + "]";
}

// Numbers of a JSON array (a failure, and empty, when it is not one).
std::vector<double> nums(const cJSON *a) { return fixtures::numbers(a); }

double cosine(const std::vector<double> &a, const std::vector<double> &b) {
    if (a.size() != b.size() || a.empty()) return NAN;
    double ab = 0, aa = 0, bb = 0;
    for (size_t i = 0; i < a.size(); i++) {
        ab += a[i] * b[i];
        aa += a[i] * a[i];
        bb += b[i] * b[i];
    }
    return ab / std::sqrt(aa * bb);
}

double norm(const std::vector<double> &a) {
    double s = 0;
    for (double v : a) s += v * v;
    return std::sqrt(s);
}

// got is want (normalized, when normalize) within kTol elementwise and a
// cosine of at least kCosine; "" when it is. NaN fails every comparison.
std::string same_embedding(const std::vector<double> &got, const std::vector<double> &want, bool normalize) {
    if (got.size() != want.size() || got.empty())
        return "sizes " + std::to_string(got.size()) + " and " + std::to_string(want.size());
    const double c = cosine(got, want);
    if (!(c >= kCosine)) return "cosine " + std::to_string(c);
    const double n = normalize ? norm(want) : 1.0;
    for (size_t i = 0; i < got.size(); i++)
        if (!(std::fabs(got[i] - want[i] / n) <= kTol))
            return "element " + std::to_string(i) + ": " + std::to_string(got[i]) + " vs " + std::to_string(want[i] / n);
    return "";
}

void expect_error(const Response &r, long status, const std::string &type, const std::string &what,
                  const std::string &message_part = "") {
    EXPECT_EQ(r.status, status) << what << ": " << r.body << r.curl_error;
    JsonDoc d(r.body);
    ASSERT_TRUE(cJSON_IsObject(d.root)) << what << ": " << r.body;
    const cJSON *e = get(d.root, "error"), *t = get(d.root, "error_type");
    ASSERT_TRUE(cJSON_IsString(e) && cJSON_IsString(t)) << what << ": " << r.body;
    EXPECT_EQ(std::string(t->valuestring), type) << what << ": " << r.body;
    if (!message_part.empty()) {
        EXPECT_NE(std::string(e->valuestring).find(message_part), std::string::npos) << what << ": " << r.body;
    }
}

#define START(server, ...)                                                                 \
    do {                                                                                   \
        ASSERT_TRUE(curl_ready);                                                           \
        ASSERT_TRUE((server).start({"--threads", "1", __VA_ARGS__})) << (server).error(); \
    } while (0)

// /embed's one vector for a body.
std::vector<double> embed_one(Client &c, const Server &s, const std::string &body, std::string *error) {
    Response r = c.post(s.url("/embed"), body);
    if (r.status != 200) {
        *error = std::to_string(r.status) + " " + r.body;
        return {};
    }
    JsonDoc d(r.body);
    if (cJSON_GetArraySize(d.root) != 1) {
        *error = "not one vector: " + r.body;
        return {};
    }
    return nums(cJSON_GetArrayItem(d.root, 0));
}

TEST(ServeTei, EmbedPromptsDimensionsAndLeftTruncationAreSentenceTransformers) {
    auto ref = fixtures::load("tiny-bert-prompts");
    ASSERT_TRUE(ref && ref->root) << "missing reference tiny-bert-prompts.json";
    Server s, none;
    START(s, "--model", fixtures::model_dir("tiny-bert-prompts"));
    START(none, "--model", fixtures::model_dir("tiny-bert-prompts"), "--default-prompt", "");
    Client c;
    int n = 0;
    const cJSON *t;
    cJSON_ArrayForEach(t, get(ref->root, "texts")) {
        const std::string name = fixtures::str(t, "name"), text = fixtures::quote(fixtures::str(t, "text"));
        SCOPED_TRACE(name);
        std::string err;
        // The default prompt of config_sentence_transformers.json applies.
        auto v = embed_one(c, s, "{\"inputs\": " + text + ", \"truncate\": true}", &err);
        EXPECT_EQ(same_embedding(v, nums(get(t, "embedding_default")), true), "") << err;
        // A named prompt, normalized or not.
        v = embed_one(c, s, "{\"inputs\": " + text + ", \"truncate\": true, \"prompt_name\": \"passage\"}", &err);
        EXPECT_EQ(same_embedding(v, nums(get(t, "embedding_passage")), true), "") << err;
        v = embed_one(c, s,
                      "{\"inputs\": " + text + ", \"truncate\": true, \"prompt_name\": \"passage\", \"normalize\": false}",
                      &err);
        EXPECT_EQ(same_embedding(v, nums(get(t, "embedding_passage")), false), "") << err;
        // No prompt: a server whose default prompt is empty.
        v = embed_one(c, none, "{\"inputs\": " + text + ", \"truncate\": true}", &err);
        EXPECT_EQ(same_embedding(v, nums(get(t, "embedding_none")), true), "") << err;
        // truncate_dim=16 with normalize_embeddings.
        v = embed_one(c, s,
                      "{\"inputs\": " + text + ", \"truncate\": true, \"prompt_name\": \"passage\", \"dimensions\": 16}",
                      &err);
        EXPECT_EQ(same_embedding(v, nums(get(t, "embedding_passage_dim16")), false), "") << err;
        EXPECT_NEAR(norm(v), 1.0, 1e-6);
        // The tokenizer cutting on the left.
        v = embed_one(c, s,
                      "{\"inputs\": " + text +
                          ", \"truncate\": true, \"prompt_name\": \"passage\", \"truncation_direction\": \"Left\"}",
                      &err);
        EXPECT_EQ(same_embedding(v, nums(get(t, "embedding_passage_left")), true), "") << err;
        // The same tokens given as ids (TEI takes them as they are).
        v = embed_one(c, s, "{\"inputs\": " + ids_json(nums(get(t, "ids_passage"))) + "}", &err);
        EXPECT_EQ(same_embedding(v, nums(get(t, "embedding_passage")), true), "") << err;
        // /tokenize applies the prompt too.
        Response r = c.post(s.url("/tokenize"), "{\"inputs\": " + text + ", \"truncate\": true, \"prompt_name\": \"passage\"}");
        ASSERT_EQ(r.status, 200) << r.body;
        JsonDoc d(r.body);
        std::vector<double> ids;
        const cJSON *tok;
        cJSON_ArrayForEach(tok, cJSON_GetArrayItem(d.root, 0)) ids.push_back(fixtures::number(tok, "id"));
        EXPECT_EQ(ids, nums(get(t, "ids_passage")));
        // The references differ where the options differ: the checks above can fail.
        EXPECT_LT(cosine(nums(get(t, "embedding_default")), nums(get(t, "embedding_passage"))), kCosine);
        EXPECT_LT(cosine(nums(get(t, "embedding_none")), nums(get(t, "embedding_passage"))), kCosine);
        if (name == "long") {
            EXPECT_LT(cosine(nums(get(t, "embedding_passage_left")), nums(get(t, "embedding_passage"))), kCosine);
        }
        n++;
    }
    EXPECT_EQ(n, 4);
    // A batch mixing a text and token ids.
    const cJSON *first = cJSON_GetArrayItem(get(ref->root, "texts"), 0);
    Response r = c.post(s.url("/embed"), "{\"inputs\": [" + fixtures::quote(fixtures::str(first, "text")) + ", " +
                                             ids_json(nums(get(first, "ids_passage"))) + "]}");
    ASSERT_EQ(r.status, 200) << r.body;
    JsonDoc d(r.body);
    EXPECT_EQ(same_embedding(nums(cJSON_GetArrayItem(d.root, 0)), nums(get(first, "embedding_default")), true), "");
    EXPECT_EQ(same_embedding(nums(cJSON_GetArrayItem(d.root, 1)), nums(get(first, "embedding_passage")), true), "");
    EXPECT_EQ(s.stop(), 0);
}

TEST(ServeTei, InvalidOptionsAre422AsTEIAnswersThem) {
    Server s, cls;
    START(s, "--model", fixtures::model_dir("tiny-bert-prompts"));
    START(cls, "--model", fixtures::model_dir("tiny-bert-sst"));
    Client c;
    const std::string embed = s.url("/embed");
    // null where TEI's field is not an Option.
    expect_error(c.post(embed, "{\"inputs\": \"a\", \"normalize\": null}"), 422, "Validation", "normalize null",
                 "`normalize`");
    expect_error(c.post(cls.url("/predict"), "{\"inputs\": \"a\", \"raw_scores\": null}"), 422, "Validation",
                 "raw_scores null");
    expect_error(c.post(s.url("/tokenize"), "{\"inputs\": \"a\", \"add_special_tokens\": null}"), 422, "Validation",
                 "add_special_tokens null");
    // ... and accepted where it is (truncate, prompt_name, dimensions).
    EXPECT_EQ(c.post(embed, "{\"inputs\": \"a\", \"truncate\": null, \"prompt_name\": null, \"dimensions\": null}").status, 200);
    EXPECT_EQ(c.post(embed, "{\"inputs\": \"a\", \"truncation_direction\": \"left\"}").status, 200);
    EXPECT_EQ(c.post(embed, "{\"inputs\": \"a\", \"truncation_direction\": \"Right\"}").status, 200);
    for (const char *dir : {"\"LEFT\"", "\"RIGHT\"", "\"Up\"", "null", "1"})
        expect_error(c.post(embed, std::string("{\"inputs\": \"a\", \"truncation_direction\": ") + dir + "}"), 422,
                     "Validation", dir, "truncation_direction");
    for (const char *dims : {"0", "33", "1.5", "\"8\"", "-1"})
        expect_error(c.post(embed, std::string("{\"inputs\": \"a\", \"dimensions\": ") + dims + "}"), 422, "Validation",
                     dims, "dimensions");
    expect_error(c.post(embed, "{\"inputs\": \"a\", \"prompt_name\": \"nope\"}"), 422, "Validation", "unknown prompt",
                 "passage");
    expect_error(c.post(embed, "{\"inputs\": \"a\", \"prompt_name\": 3}"), 422, "Validation", "prompt_name number");
    expect_error(c.post(cls.url("/embed"), "{\"inputs\": \"a\", \"prompt_name\": \"query\"}"), 422, "Validation",
                 "a model without prompts", "no prompts");
    // Token ids out of the vocabulary, negative, or not whole.
    expect_error(c.post(embed, "{\"inputs\": [2, 99999, 3]}"), 422, "Validation", "id out of vocabulary", "99999");
    expect_error(c.post(embed, "{\"inputs\": [2, -1, 3]}"), 422, "Validation", "negative id");
    expect_error(c.post(embed, "{\"inputs\": [2, 1.5, 3]}"), 422, "Validation", "fractional id");
    expect_error(c.post(embed, "{\"inputs\": [[2, 3], []]}"), 400, "Empty", "empty id list");
    // Too many ids without truncate; cut with it.
    std::string many = "[";
    for (int i = 0; i < 70; i++) many += (i ? ",10" : "10");
    many += "]";
    expect_error(c.post(embed, "{\"inputs\": " + many + "}"), 422, "Validation", "70 ids", "64");
    EXPECT_EQ(c.post(embed, "{\"inputs\": " + many + ", \"truncate\": true}").status, 200);
    EXPECT_EQ(s.stop(), 0);
}

TEST(ServeTei, OpenAIEmbeddingsAreTheEmbedVectorsInOpenAIsShape) {
    auto ref = fixtures::load("tiny-bert-prompts");
    ASSERT_TRUE(ref && ref->root);
    Server s;
    START(s, "--model", fixtures::model_dir("tiny-bert-prompts"), "--served-model-name", "my-model");
    Client c;
    const cJSON *t0 = cJSON_GetArrayItem(get(ref->root, "texts"), 0), *t1 = cJSON_GetArrayItem(get(ref->root, "texts"), 1);
    const std::string a = fixtures::quote(fixtures::str(t0, "text")), b = fixtures::quote(fixtures::str(t1, "text"));
    Response r = c.post(s.url("/v1/embeddings"), "{\"input\": [" + a + ", " + b + "], \"model\": \"x\", \"user\": \"u\"}");
    ASSERT_EQ(r.status, 200) << r.body;
    JsonDoc d(r.body);
    EXPECT_STREQ(get(d.root, "object")->valuestring, "list");
    EXPECT_STREQ(get(d.root, "model")->valuestring, "my-model");
    const cJSON *data = get(d.root, "data");
    ASSERT_EQ(cJSON_GetArraySize(data), 2) << r.body;
    for (int i = 0; i < 2; i++) {
        const cJSON *e = cJSON_GetArrayItem(data, i);
        EXPECT_STREQ(get(e, "object")->valuestring, "embedding");
        EXPECT_EQ(get(e, "index")->valueint, i);
        EXPECT_EQ(same_embedding(nums(get(e, "embedding")), nums(get(i ? t1 : t0, "embedding_default")), true), "");
    }
    // usage: the tokens embedded (the default prompt included).
    Response tk = c.post(s.url("/tokenize"), "{\"inputs\": [" + a + ", " + b + "]}");
    JsonDoc td(tk.body);
    const int tokens = cJSON_GetArraySize(cJSON_GetArrayItem(td.root, 0)) + cJSON_GetArraySize(cJSON_GetArrayItem(td.root, 1));
    EXPECT_EQ(get(get(d.root, "usage"), "prompt_tokens")->valueint, tokens);
    EXPECT_EQ(get(get(d.root, "usage"), "total_tokens")->valueint, tokens);

    // base64: the float32 bytes, little-endian; with dimensions.
    r = c.post(s.url("/v1/embeddings"), "{\"input\": " + a + ", \"encoding_format\": \"base64\", \"dimensions\": 16}");
    ASSERT_EQ(r.status, 200) << r.body;
    JsonDoc d64(r.body);
    const cJSON *e = get(cJSON_GetArrayItem(get(d64.root, "data"), 0), "embedding");
    ASSERT_TRUE(cJSON_IsString(e)) << r.body;
    const std::string b64 = e->valuestring;
    static const std::string chars = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    std::string bytes;
    unsigned acc = 0;
    int bits = 0;
    for (char ch : b64) {
        if (ch == '=') break;
        size_t v = chars.find(ch);
        ASSERT_NE(v, std::string::npos) << b64;
        acc = acc << 6 | (unsigned)v;
        bits += 6;
        if (bits >= 8) {
            bits -= 8;
            bytes.push_back((char)(acc >> bits & 0xff));
        }
    }
    ASSERT_EQ(bytes.size(), 16 * sizeof(float)) << b64;
    std::vector<double> v(16);
    for (int k = 0; k < 16; k++) {
        float f;
        memcpy(&f, bytes.data() + 4 * k, 4);
        v[k] = f;
    }
    // The default prompt, cut to 16 and normalized.
    std::vector<double> want = nums(get(t0, "embedding_default"));
    want.resize(16);
    EXPECT_EQ(same_embedding(v, want, true), "");

    // Token ids, one list and a list of lists.
    r = c.post(s.url("/v1/embeddings"), "{\"input\": [" + ids_json(nums(get(t0, "ids_passage"))) + "]}");
    ASSERT_EQ(r.status, 200) << r.body;
    JsonDoc di(r.body);
    EXPECT_EQ(same_embedding(nums(get(cJSON_GetArrayItem(get(di.root, "data"), 0), "embedding")),
                             nums(get(t0, "embedding_passage")), true),
              "");

    // Errors: OpenAI's {"error": {...}} with TEI's fields beside it.
    for (const char *bad : {"{\"inputs\": \"a\"}", "{\"input\": \"a\", \"encoding_format\": \"hex\"}",
                            "{\"input\": \"a\", \"dimensions\": 1000}", "{\"input\": 5}", "not json"}) {
        r = c.post(s.url("/v1/embeddings"), bad);
        EXPECT_TRUE(r.status == 422 || r.status == 400) << bad << ": " << r.status;
        JsonDoc de(r.body);
        const cJSON *err = get(de.root, "error");
        ASSERT_TRUE(cJSON_IsObject(err)) << bad << ": " << r.body;
        EXPECT_TRUE(cJSON_IsString(get(err, "message"))) << r.body;
        EXPECT_STREQ(get(err, "type")->valuestring, "invalid_request_error");
        EXPECT_TRUE(cJSON_IsString(get(de.root, "message"))) << r.body;
        EXPECT_EQ(get(de.root, "code")->valueint, r.status);
        EXPECT_STREQ(get(de.root, "type")->valuestring, get(de.root, "error_type")->valuestring);
        EXPECT_STREQ(get(de.root, "error_type")->valuestring, r.status == 400 && strcmp(bad, "not json") ? "Empty" : "Validation");
    }
    EXPECT_EQ(s.stop(), 0);
}

class RerankModel : public ::testing::TestWithParam<std::string> {};

TEST_P(RerankModel, RerankIsCrossEncoderPredictInItsOrder) {
    const std::string model = GetParam();
    auto ref = fixtures::load(model);
    ASSERT_TRUE(ref && ref->root) << "missing reference " << model << ".json";
    Server s;
    START(s, "--model", fixtures::model_dir(model));
    Client c;
    std::string texts = "[";
    std::vector<std::string> text_list;
    const cJSON *t;
    cJSON_ArrayForEach(t, get(ref->root, "texts")) {
        texts += (text_list.empty() ? "" : ",") + fixtures::quote(t->valuestring);
        text_list.push_back(t->valuestring);
    }
    texts += "]";
    ASSERT_GE(text_list.size(), 5u);
    const std::string query = fixtures::quote(fixtures::str(ref->root, "query"));
    const std::vector<double> want = nums(get(ref->root, "scores")), want_raw = nums(get(ref->root, "raw_scores")),
                              rank = nums(get(ref->root, "rank"));
    ASSERT_EQ(want.size(), text_list.size());
    for (const char *route : {"/rerank", "/", "/invocations"}) {
        SCOPED_TRACE(route);
        for (int raw = 0; raw < 2; raw++) {
            Response r = c.post(s.url(route), "{\"query\": " + query + ", \"texts\": " + texts +
                                                  ", \"truncate\": true, \"return_text\": true, \"raw_scores\": " +
                                                  (raw ? "true" : "false") + "}");
            ASSERT_EQ(r.status, 200) << r.body;
            JsonDoc d(r.body);
            ASSERT_EQ(cJSON_GetArraySize(d.root), (int)want.size()) << r.body;
            for (int k = 0; k < (int)want.size(); k++) {
                const cJSON *x = cJSON_GetArrayItem(d.root, k);
                const int index = (int)fixtures::number(x, "index");
                EXPECT_EQ(index, (int)rank[(size_t)k]) << "position " << k << ": " << r.body;
                ASSERT_TRUE(index >= 0 && index < (int)want.size());
                EXPECT_NEAR(fixtures::number(x, "score"), (raw ? want_raw : want)[(size_t)index], kScoreTol);
                EXPECT_EQ(fixtures::str(x, "text"), text_list[(size_t)index]);
            }
        }
    }
    // No text unless asked.
    Response r = c.post(s.url("/rerank"), "{\"query\": \"q\", \"texts\": [\"a\", \"b\"]}");
    ASSERT_EQ(r.status, 200) << r.body;
    JsonDoc d(r.body);
    EXPECT_FALSE(get(cJSON_GetArrayItem(d.root, 0), "text")) << r.body;
    // /info says re-ranker.
    Response info = c.get(s.url("/info"));
    JsonDoc di(info.body);
    EXPECT_TRUE(get(get(di.root, "model_type"), "reranker")) << info.body;
    expect_error(c.post(s.url("/rerank"), "{\"query\": \"q\", \"texts\": []}"), 400, "Empty", "no texts");
    expect_error(c.post(s.url("/rerank"), "{\"query\": \"\", \"texts\": [\"a\"]}"), 400, "Empty", "empty query");
    EXPECT_EQ(c.post(s.url("/rerank"), "{\"query\": \"q\", \"texts\": [\"\"]}").status, 200);
    expect_error(c.post(s.url("/rerank"), "{\"query\": \"q\"}"), 422, "Validation", "no texts field");
    expect_error(c.post(s.url("/rerank"), "{\"query\": \"q\", \"texts\": [1]}"), 422, "Validation", "a number");
    EXPECT_EQ(s.stop(), 0);

    Server e;
    START(e, "--model", fixtures::model_dir("tiny-bert-sst"));
    expect_error(c.post(e.url("/rerank"), "{\"query\": \"q\", \"texts\": [\"a\"]}"), 424, "Backend",
                 "a two-label classifier", "re-ranker");
}

INSTANTIATE_TEST_SUITE_P(CrossEncoders, RerankModel,
                         ::testing::Values("tiny-bert-rerank", "tiny-roberta-rerank", "tiny-electra-rerank",
                                           "tiny-deberta-rerank"),
                         [](const ::testing::TestParamInfo<std::string> &p) {
                             std::string n = p.param;
                             for (char &ch : n)
                                 if (ch == '-') ch = '_';
                             return n;
                         });

TEST(ServeTei, DecodeSimilarityEmbedSparseAndSageMaker) {
    auto ref = fixtures::load("tiny-bert-prompts");
    ASSERT_TRUE(ref && ref->root);
    Server s;
    START(s, "--model", fixtures::model_dir("tiny-bert-prompts"), "--default-prompt", "");
    Client c;
    // /decode: tokenizers' decode, special tokens skipped by default.
    int n = 0;
    const cJSON *cs;
    cJSON_ArrayForEach(cs, get(ref->root, "cases")) {
        if (n++ % 5) continue; /* a sample: the library test checks them all */
        const std::string ids = ids_json(nums(get(cs, "ids")));
        Response r = c.post(s.url("/decode"), "{\"ids\": " + ids + "}");
        ASSERT_EQ(r.status, 200) << r.body;
        JsonDoc d(r.body);
        ASSERT_EQ(cJSON_GetArraySize(d.root), 1) << r.body;
        EXPECT_EQ(std::string(cJSON_GetArrayItem(d.root, 0)->valuestring), fixtures::str(cs, "skip_special"));
        r = c.post(s.url("/decode"), "{\"ids\": [" + ids + "," + ids + "], \"skip_special_tokens\": false}");
        ASSERT_EQ(r.status, 200) << r.body;
        JsonDoc d2(r.body);
        ASSERT_EQ(cJSON_GetArraySize(d2.root), 2) << r.body;
        EXPECT_EQ(std::string(cJSON_GetArrayItem(d2.root, 1)->valuestring), fixtures::str(cs, "keep_special"));
    }
    expect_error(c.post(s.url("/decode"), "{\"ids\": \"text\"}"), 422, "Validation", "decode a string");
    expect_error(c.post(s.url("/decode"), "{\"ids\": [[1], \"text\"]}"), 422, "Validation", "decode a string in a batch");
    expect_error(c.post(s.url("/decode"), "{\"inputs\": [1, 2]}"), 422, "Validation", "decode without ids", "`ids`");

    // /similarity: cosine of the embeddings (no prompt on this server).
    const cJSON *texts = get(ref->root, "texts");
    std::string sentences = "[";
    for (int i = 1; i < cJSON_GetArraySize(texts); i++)
        sentences += (i > 1 ? "," : "") + fixtures::quote(fixtures::str(cJSON_GetArrayItem(texts, i), "text"));
    sentences += "]";
    Response r = c.post(s.url("/similarity"), "{\"inputs\": {\"source_sentence\": " +
                                                  fixtures::quote(fixtures::str(cJSON_GetArrayItem(texts, 0), "text")) +
                                                  ", \"sentences\": " + sentences +
                                                  "}, \"parameters\": {\"truncate\": true}}");
    ASSERT_EQ(r.status, 200) << r.body;
    JsonDoc d(r.body);
    ASSERT_EQ(cJSON_GetArraySize(d.root), cJSON_GetArraySize(texts) - 1) << r.body;
    const std::vector<double> src = nums(get(cJSON_GetArrayItem(texts, 0), "embedding_none"));
    for (int i = 1; i < cJSON_GetArraySize(texts); i++)
        EXPECT_NEAR(cJSON_GetArrayItem(d.root, i - 1)->valuedouble,
                    cosine(src, nums(get(cJSON_GetArrayItem(texts, i), "embedding_none"))), kTol);
    expect_error(c.post(s.url("/similarity"), "{\"inputs\": {\"source_sentence\": \"a\", \"sentences\": []}}"), 400,
                 "Empty", "no sentences");
    expect_error(c.post(s.url("/similarity"), "{\"inputs\": {\"sentences\": [\"a\"]}}"), 422, "Validation",
                 "no source");

    // /embed_sparse: TEI's answer for a model without SPLADE pooling.
    expect_error(c.post(s.url("/embed_sparse"), "{\"inputs\": \"a\"}"), 424, "Backend", "embed_sparse", "SPLADE");
    expect_error(c.post(s.url("/embed_sparse"), "{\"inputs\": 3}"), 422, "Validation", "embed_sparse bad body");

    // SageMaker: GET /ping is the health check, POST /invocations the task.
    EXPECT_EQ(c.get(s.url("/ping")).status, 200);
    r = c.post(s.url("/invocations"), "{\"inputs\": \"a\"}");
    EXPECT_EQ(r.status, 200) << r.body;
    EXPECT_EQ(s.stop(), 0);
}

// The reference SPLADE weights of a case, as doubles.
std::vector<double> reference_weights(encore_safetensors *st, const cJSON *c) {
    const std::vector<float> v = splade_reference::weights(st, c);
    return std::vector<double>(v.begin(), v.end());
}
using splade_reference::dense;

// /embed_sparse on a SPLADE model against sentence-transformers'
// SparseEncoder, and TEI's answers on the other routes for such a model.
TEST(ServeTei, EmbedSparseIsSentenceTransformersSparseEncoder) {
    for (const char *name : {"tiny-bert-splade", "tiny-distilbert-splade"}) {
        SCOPED_TRACE(name);
        auto ref = fixtures::load(name);
        ASSERT_TRUE(ref && ref->root);
        encore_safetensors *st = nullptr;
        const std::string path = fixtures::dir() + "/reference/" + name + ".splade.safetensors";
        ASSERT_EQ(encore_safetensors_open(path.c_str(), &st), ENCORE_STATUS_OK) << encore_last_error();
        const int V = (int)fixtures::number(ref->root, "vocab_size");
        Server s;
        START(s, "--model", fixtures::model_dir(name), "--max-client-batch-size", "64");
        Client c;
        Response r = c.get(s.url("/info"));
        JsonDoc info(r.body);
        EXPECT_STREQ(get(get(get(info.root, "model_type"), "embedding"), "pooling")->valuestring, "splade") << r.body;
        // The health probe runs the model's own pass once a second has gone
        // by without a successful one (a mean-pooled embedding would fail).
        std::this_thread::sleep_for(std::chrono::milliseconds(1100));
        r = c.get(s.url("/health"));
        EXPECT_EQ(r.status, 200) << r.body;

        std::vector<const cJSON *> cases;
        std::string body = "{\"truncate\": true, \"inputs\": [";
        const cJSON *cs;
        cJSON_ArrayForEach(cs, get(ref->root, "cases")) {
            // TEI refuses an empty input (400), so the empty text stays out.
            if (!fixtures::has(cs, "splade") || fixtures::has_nul(cs) || fixtures::str(cs, "text").empty()) continue;
            body += (cases.empty() ? "" : ",") + fixtures::quote(fixtures::str(cs, "text"));
            cases.push_back(cs);
        }
        body += "]}";
        ASSERT_GT(cases.size(), 20u);
        r = c.post(s.url("/embed_sparse"), body);
        ASSERT_EQ(r.status, 200) << r.body;
        JsonDoc d(r.body);
        ASSERT_EQ(cJSON_GetArraySize(d.root), (int)cases.size()) << r.body.substr(0, 200);
        for (size_t i = 0; i < cases.size(); i++) {
            std::string error;
            std::vector<double> got = dense(cJSON_GetArrayItem(d.root, (int)i), V, &error);
            ASSERT_EQ(error, "") << fixtures::str(cases[i], "name");
            std::vector<double> want = reference_weights(st, cases[i]);
            ASSERT_EQ(want.size(), (size_t)V);
            EXPECT_CLOSE(got, want, 1e-4, 1e-5) << fixtures::str(cases[i], "name");
        }
        // A single input: a list of one list, the same weights; / and
        // /invocations route a SPLADE model here.
        const std::string one = "{\"inputs\": " + fixtures::quote(fixtures::str(cases[0], "text")) + "}";
        for (const char *route : {"/embed_sparse", "/", "/invocations"}) {
            r = c.post(s.url(route), one);
            ASSERT_EQ(r.status, 200) << route << ": " << r.body;
            JsonDoc o(r.body);
            ASSERT_EQ(cJSON_GetArraySize(o.root), 1) << route;
            std::string error;
            EXPECT_CLOSE(dense(cJSON_GetArrayItem(o.root, 0), V, &error), reference_weights(st, cases[0]),
                         1e-4, 1e-5)
                << route << error;
        }
        // /embed: normalize (its default) is refused as TEI refuses it;
        // without it, the dense weights.
        expect_error(c.post(s.url("/embed"), one), 424, "Backend", "embed normalized", "normalize");
        r = c.post(s.url("/embed"), "{\"normalize\": false, \"inputs\": " +
                                        fixtures::quote(fixtures::str(cases[0], "text")) + "}");
        ASSERT_EQ(r.status, 200) << r.body.substr(0, 200);
        JsonDoc e(r.body);
        EXPECT_CLOSE(nums(cJSON_GetArrayItem(e.root, 0)), reference_weights(st, cases[0]), 1e-4, 1e-5);
        r = c.post(s.url("/v1/embeddings"), "{\"input\": \"a\"}");  // OpenAI's are always normalized
        EXPECT_EQ(r.status, 424) << r.body;
        EXPECT_NE(r.body.find("`normalize` is not available for SPLADE models"), std::string::npos) << r.body;
        expect_error(c.post(s.url("/embed_all"), one), 424, "Backend", "embed_all", "SPLADE");
        expect_error(c.post(s.url("/predict"), one), 424, "Backend", "predict");
        // Bad requests stay requests' errors.
        expect_error(c.post(s.url("/embed_sparse"), "{\"inputs\": 3}"), 422, "Validation", "bad inputs");
        expect_error(c.post(s.url("/embed_sparse"), "{\"inputs\": \"a\", \"truncate\": 1}"), 422, "Validation",
                     "bad truncate");
        expect_error(c.post(s.url("/embed_sparse"), "{\"inputs\": []}"), 400, "Empty", "no inputs");
        std::string longer = "{\"inputs\": \"";
        for (int i = 0; i < 300; i++) longer += "good ";
        expect_error(c.post(s.url("/embed_sparse"), longer + "\"}"), 422, "Validation", "over-long");
        r = c.post(s.url("/embed_sparse"), longer + "\", \"truncate\": true}");
        EXPECT_EQ(r.status, 200) << r.body.substr(0, 200);
        EXPECT_EQ(s.stop(), 0);
        encore_safetensors_close(st);
    }
}

// TEI's --pooling splade on a *ForMaskedLM model without SpladePooling.
TEST(ServeTei, PoolingSpladeServesAMaskedLm) {
    Server s;
    START(s, "--model", fixtures::model_dir("tiny-bert-mlm"), "--pooling", "splade");
    Client c;
    Response r = c.post(s.url("/embed_sparse"), "{\"inputs\": [\"a fine film\", \"dull\"]}");
    ASSERT_EQ(r.status, 200) << r.body;
    JsonDoc d(r.body);
    ASSERT_EQ(cJSON_GetArraySize(d.root), 2);
    EXPECT_GT(cJSON_GetArraySize(cJSON_GetArrayItem(d.root, 0)), 10) << r.body.substr(0, 200);
    EXPECT_EQ(s.stop(), 0);
    Server bad;
    EXPECT_FALSE(bad.start({"--model", fixtures::model_dir("tiny-bert-mlm"), "--pooling", "mean"}, 30));
    Server no_head;
    EXPECT_FALSE(no_head.start({"--model", fixtures::model_dir("tiny-bert-embed"), "--pooling", "splade"}, 30));
}

TEST(ServeTei, OpenApiDocumentIsTheOneInTheRepository) {
    Server s;
    START(s, "--model", fixtures::model_dir("tiny-bert-sst"));
    Client c;
    Response r = c.get(s.url("/openapi.json"));
    ASSERT_EQ(r.status, 200);
    EXPECT_EQ(r.headers["content-type"], "application/json");
    std::ifstream f(std::string(ENCORE_SOURCE_DIR) + "/tools/serve/openapi.json", std::ios::binary);
    ASSERT_TRUE(f) << "cannot read tools/serve/openapi.json";
    std::stringstream want;
    want << f.rdbuf();
    EXPECT_EQ(r.body, want.str());
    JsonDoc d(r.body);
    EXPECT_STREQ(get(d.root, "openapi")->valuestring, "3.0.3");
    // Every route the server answers is in it.
    for (const char *path : {"/predict", "/rerank", "/embed", "/embed_all", "/embed_sparse", "/similarity", "/tokenize",
                             "/decode", "/v1/embeddings", "/", "/invocations", "/info", "/health", "/ping", "/metrics",
                             "/openapi.json", "/docs"})
        EXPECT_TRUE(get(get(d.root, "paths"), path)) << path;
    EXPECT_EQ(s.stop(), 0);
}

// GET /docs: a web page made from that document: every route with its
// summary, every schema, text escaped for HTML, and no script.
TEST(ServeTei, DocsPageShowsEveryRouteAndSchema) {
    Server s;
    START(s, "--model", fixtures::model_dir("tiny-bert-sst"));
    Client c;
    Response r = c.get(s.url("/docs"));
    ASSERT_EQ(r.status, 200);
    EXPECT_EQ(r.headers["content-type"], "text/html; charset=utf-8");
    std::ifstream f(std::string(ENCORE_SOURCE_DIR) + "/tools/serve/openapi.json", std::ios::binary);
    ASSERT_TRUE(f) << "cannot read tools/serve/openapi.json";
    std::stringstream text;
    text << f.rdbuf();
    JsonDoc d(text.str());
    auto escaped = [](const std::string &in) {
        std::string out;
        for (char ch : in) {
            if (ch == '<') out += "&lt;";
            else if (ch == '>') out += "&gt;";
            else if (ch == '&') out += "&amp;";
            else if (ch == '"') out += "&quot;";
            else out += ch;
        }
        return out;
    };
    int routes = 0, schemas = 0;
    const cJSON *path;
    cJSON_ArrayForEach(path, get(d.root, "paths")) {
        const cJSON *op;
        cJSON_ArrayForEach(op, path) {
            std::string method = op->string;
            for (char &ch : method) ch = (char)toupper((unsigned char)ch);
            const std::string head = "<h3><code>" + method + " " + escaped(path->string) + "</code> " +
                                     escaped(get(op, "summary")->valuestring) + "</h3>";
            EXPECT_NE(r.body.find(head), std::string::npos) << head;
            routes++;
        }
    }
    const cJSON *schema;
    cJSON_ArrayForEach(schema, get(get(d.root, "components"), "schemas")) {
        EXPECT_NE(r.body.find("<h3 id=\"schema-" + std::string(schema->string) + "\">"), std::string::npos)
            << schema->string;
        schemas++;
    }
    EXPECT_GE(routes, 18);
    EXPECT_GE(schemas, 10);
    EXPECT_EQ(r.body.find("<script"), std::string::npos);
    // The document's descriptions hold backquotes and angle brackets; none
    // reaches the page unescaped (every '<' opens one of the page's tags).
    for (size_t at = r.body.find('<'); at != std::string::npos; at = r.body.find('<', at + 1))
        EXPECT_TRUE(isalpha((unsigned char)r.body[at + 1]) || r.body[at + 1] == '/' || r.body[at + 1] == '!')
            << r.body.substr(at, 40);
    EXPECT_EQ(c.post(s.url("/docs"), "{}").status, 405);
    EXPECT_EQ(s.stop(), 0);
}

// Prompt settings that cannot work stop the server at startup with 2 (and a
// message on stderr) instead of failing every request.
TEST(ServeTei, BadPromptSettingsExitWithTwo) {
    ASSERT_TRUE(curl_ready);
    Server a, b, c, d;
    EXPECT_FALSE(a.start({"--model", fixtures::model_dir("tiny-bert-prompts"), "--default-prompt-name", "nope"}));
    EXPECT_EQ(a.wait_exit(30), 2);
    EXPECT_FALSE(b.start({"--model", fixtures::model_dir("tiny-bert-sst"), "--default-prompt-name", "query"}));
    EXPECT_EQ(b.wait_exit(30), 2);
    EXPECT_FALSE(c.start({"--model", fixtures::model_dir("tiny-bert-prompts"), "--default-prompt", "x: ",
                          "--default-prompt-name", "query"}));
    EXPECT_EQ(c.wait_exit(30), 2);
    // A named default prompt replaces the file's default_prompt_name.
    START(d, "--model", fixtures::model_dir("tiny-bert-prompts"), "--default-prompt-name", "passage");
    auto ref = fixtures::load("tiny-bert-prompts");
    ASSERT_TRUE(ref && ref->root);
    const cJSON *t = cJSON_GetArrayItem(get(ref->root, "texts"), 0);
    Client cl;
    std::string err;
    auto v = embed_one(cl, d, "{\"inputs\": " + fixtures::quote(fixtures::str(t, "text")) + "}", &err);
    EXPECT_EQ(same_embedding(v, nums(get(t, "embedding_passage")), true), "") << err;
    EXPECT_EQ(d.stop(), 0);
}

TEST(ServeTei, InfoNamesTheModelAsTEIDoes) {
    Server s, d;
    START(s, "--model", fixtures::model_dir("tiny-bert-prompts") + "/", "--model-id", "org/name");
    START(d, "--model", fixtures::model_dir("tiny-bert-prompts") + "/");
    Client c;
    JsonDoc a(c.get(s.url("/info")).body), b(c.get(d.url("/info")).body);
    EXPECT_STREQ(get(a.root, "model_id")->valuestring, "org/name");
    EXPECT_STREQ(get(a.root, "served_model_name")->valuestring, "org/name");
    EXPECT_STREQ(get(b.root, "model_id")->valuestring, "tiny-bert-prompts");  // the trailing / dropped
    EXPECT_TRUE(get(get(b.root, "model_type"), "embedding"));
    EXPECT_TRUE(cJSON_IsNull(get(b.root, "model_sha")));
    EXPECT_EQ(s.stop(), 0);

    // A snapshot in a Hub cache (as `encore pull` leaves it): the Hub id and
    // the revision.
    char tmpl[] = "/tmp/encore-hub-XXXXXX";
    ASSERT_TRUE(mkdtemp(tmpl));
    const std::string root = tmpl, snap = root + "/models--org--tiny-bert--x/snapshots";
    const std::string sha = "0123456789abcdef0123456789abcdef01234567";
    ASSERT_EQ(system(("mkdir -p " + snap).c_str()), 0);
    ASSERT_EQ(symlink(fixtures::model_dir("tiny-bert-prompts").c_str(), (snap + "/" + sha).c_str()), 0);
    Server h;
    START(h, "--model", snap + "/" + sha);
    JsonDoc hd(c.get(h.url("/info")).body);
    EXPECT_STREQ(get(hd.root, "model_id")->valuestring, "org/tiny-bert--x");
    EXPECT_STREQ(get(hd.root, "model_sha")->valuestring, sha.c_str());
    EXPECT_EQ(h.stop(), 0);
    EXPECT_EQ(system(("rm -rf " + root).c_str()), 0);
}

// /embed_all: every token's hidden state, as transformers' last_hidden_state
// (tests/fixtures/reference/tiny-bert-embed.hidden.safetensors).
TEST(ServeTei, EmbedAllIsTransformersLastHiddenState) {
    auto ref = fixtures::load("tiny-bert-embed");
    ASSERT_TRUE(ref && ref->root) << "missing reference tiny-bert-embed.json";
    encore_safetensors *st = nullptr;
    const std::string path = fixtures::dir() + "/reference/tiny-bert-embed.hidden.safetensors";
    ASSERT_EQ(encore_safetensors_open(path.c_str(), &st), ENCORE_STATUS_OK) << encore_last_error();
    std::unique_ptr<encore_safetensors, decltype(&encore_safetensors_close)> hold(st, &encore_safetensors_close);
    Server s;
    // A small batch budget: the inputs of one request run in several batches.
    START(s, "--model", fixtures::model_dir("tiny-bert-embed"), "--max-batch-tokens", "40");
    Client c;
    std::string batch = "[";
    std::vector<const cJSON *> cases;
    const cJSON *cs;
    cJSON_ArrayForEach(cs, get(ref->root, "cases")) {
        if (!fixtures::has(cs, "hidden") || !cJSON_IsNull(get(cs, "text_pair")) || cases.size() >= 6) continue;
        const std::string text = fixtures::str(cs, "text");
        if (text.find('\0') != std::string::npos || text.find_first_not_of(" ") == std::string::npos) continue;
        batch += (cases.empty() ? "" : ",") + fixtures::quote(text);
        cases.push_back(cs);
    }
    batch += "]";
    ASSERT_GE(cases.size(), 5u);
    Response r = c.post(s.url("/embed_all"), "{\"inputs\": " + batch + ", \"truncate\": true}");
    ASSERT_EQ(r.status, 200) << r.body;
    JsonDoc d(r.body);
    ASSERT_EQ(cJSON_GetArraySize(d.root), (int)cases.size()) << r.body.substr(0, 200);
    // transformers and encore's fp32 CPU path agree within 1e-4 on hidden
    // states of these random-weight models (test_model's kHiddenTol).
    for (size_t i = 0; i < cases.size(); i++) {
        SCOPED_TRACE(fixtures::str(cases[i], "name"));
        const encore_tensor_info *t = encore_safetensors_find(st, fixtures::str(cases[i], "hidden").c_str());
        ASSERT_TRUE(t);
        std::vector<float> want((size_t)t->n_elements);
        ASSERT_EQ(encore_tensor_to_f32(t, want.data()), ENCORE_STATUS_OK) << encore_last_error();
        const cJSON *tokens = cJSON_GetArrayItem(d.root, (int)i);
        ASSERT_EQ(cJSON_GetArraySize(tokens), t->shape[0]);
        size_t k = 0;
        double worst = 0;
        const cJSON *tok;
        cJSON_ArrayForEach(tok, tokens) {
            const std::vector<double> v = nums(tok);
            ASSERT_EQ((int64_t)v.size(), t->shape[1]);
            for (double x : v) {
                const double e = std::fabs(x - want[k++]);
                worst = e > worst || e != e ? e : worst;
            }
        }
        EXPECT_LE(worst, 1e-4);
    }
    expect_error(c.post(s.url("/embed_all"), "{\"inputs\": \"a\", \"truncation_direction\": \"up\"}"), 422,
                 "Validation", "bad direction");
    EXPECT_EQ(s.stop(), 0);
}

// A connection that arrives while the server drains is refused, or answered
// 503: never accepted and then reset.
TEST(ServeTei, ConnectionsDuringTheDrainAreRefusedNotReset) {
    Server s;
    START(s, "--model", fixtures::model_dir("tiny-bert-embed"));
    // A request still arriving keeps the drain open: its headers are in,
    // its body is not.
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    struct sockaddr_in addr = {};
    addr.sin_family = AF_INET;
    addr.sin_port = htons((uint16_t)s.port());
    addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    ASSERT_EQ(connect(fd, (struct sockaddr *)&addr, sizeof addr), 0);
    const std::string body = "{\"inputs\": \"held\"}";
    const std::string head = "POST /embed HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: " +
                             std::to_string(body.size()) + "\r\nConnection: close\r\n\r\n";
    ASSERT_EQ(send(fd, head.data(), head.size(), MSG_NOSIGNAL), (ssize_t)head.size());
    ASSERT_EQ(send(fd, body.data(), 5, MSG_NOSIGNAL), 5);
    std::this_thread::sleep_for(std::chrono::milliseconds(200));
    kill(s.pid(), SIGTERM);
    std::this_thread::sleep_for(std::chrono::milliseconds(200));
    int refused = 0, answered_503 = 0, other = 0;
    for (int i = 0; i < 10; i++) {
        if (serve_harness::connect_refused(s.port())) {
            refused++;
            continue;
        }
        const std::string got = serve_harness::raw_exchange(s.port(), "GET /health HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n", 5);
        if (got.rfind("HTTP/1.1 503", 0) == 0) answered_503++;
        else other++;
    }
    EXPECT_EQ(other, 0) << refused << " refused, " << answered_503 << " answered 503";
    // The held request still completes.
    ASSERT_EQ(send(fd, body.data() + 5, body.size() - 5, MSG_NOSIGNAL), (ssize_t)(body.size() - 5));
    std::string out;
    char buf[4096];
    ssize_t k;
    while ((k = recv(fd, buf, sizeof buf, 0)) > 0) out.append(buf, (size_t)k);
    close(fd);
    EXPECT_EQ(out.rfind("HTTP/1.1 200", 0), 0u) << out;
    EXPECT_EQ(s.wait_exit(30), 0);
}

}  // namespace
