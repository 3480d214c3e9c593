// The Triton backend's pure parts: configuration parameters, auto-completion
// and checks, TEXT shapes and the BYTES layout. The backend itself runs inside
// a real tritonserver in tests/run.sh; these cases reach the corners a client
// cannot (malformed BYTES data, every parameter's bad values) and run under
// ASan + UBSan in the sanitizer build.
#include <gtest/gtest.h>

#include <cstdint>
#include <cstring>
#include <string>
#include <vector>

#include "triton_config.h"
#include "triton_tensor.h"

namespace {

// A BYTES tensor's bytes, built by hand from the documented layout (uint32
// little-endian length, then the bytes), independent of the code under test.
std::vector<uint8_t> bytes_tensor(const std::vector<std::string> &elements)
{
    std::vector<uint8_t> out;
    for (const std::string &e : elements) {
        uint32_t n = (uint32_t)e.size();
        out.push_back((uint8_t)(n & 0xff));
        out.push_back((uint8_t)((n >> 8) & 0xff));
        out.push_back((uint8_t)((n >> 16) & 0xff));
        out.push_back((uint8_t)((n >> 24) & 0xff));
        out.insert(out.end(), e.begin(), e.end());
    }
    return out;
}

struct Json {
    cJSON *j;
    explicit Json(const char *text) : j(cJSON_Parse(text)) { EXPECT_NE(j, nullptr) << text; }
    ~Json() { cJSON_Delete(j); }
};

const encore_triton_model_facts kClassifier = {ENCORE_TASK_CLASSIFY, 2, 32, 0};
const encore_triton_model_facts kEmbedder = {ENCORE_TASK_EMBED, 0, 48, 0};

}  // namespace

TEST(TritonTensor, DecodesBytesElements)
{
    std::vector<uint8_t> data = bytes_tensor({"hello", "", "d\xc3\xa9j\xc3\xa0 vu"});
    char *texts[3];
    char err[256] = "";
    ASSERT_EQ(encore_triton_bytes_decode(data.data(), data.size(), 3, texts, err, sizeof err), 0) << err;
    EXPECT_STREQ(texts[0], "hello");
    EXPECT_STREQ(texts[1], "");
    EXPECT_STREQ(texts[2], "d\xc3\xa9j\xc3\xa0 vu");
    encore_triton_texts_free(texts, 3);
}

TEST(TritonTensor, RejectsMalformedBytes)
{
    char *texts[2];
    char err[256];
    struct Case {
        std::vector<uint8_t> data;
        int64_t count;
        const char *message;
    };
    std::vector<uint8_t> two = bytes_tensor({"ab", "cd"});
    std::vector<uint8_t> cut(two.begin(), two.end() - 1);
    std::vector<uint8_t> short_len = {3, 0};
    std::vector<uint8_t> huge_len = {0xff, 0xff, 0xff, 0xff, 'a'};
    std::vector<Case> cases = {
        {cut, 2, "runs past the end"},
        {short_len, 1, "ends before its length"},
        {huge_len, 1, "runs past the end"},
        {two, 1, "left over"},
        {bytes_tensor({"ab"}), 2, "ends before its length"},
        {bytes_tensor({std::string("a\0b", 3)}), 1, "NUL byte"},
        {bytes_tensor({"ok", "bad \xff here"}), 2, "invalid UTF-8 at byte 4"},
        {bytes_tensor({"\xed\xa0\x80"}), 1, "invalid UTF-8 at byte 0"},  // a surrogate
    };
    for (const Case &c : cases) {
        err[0] = '\0';
        EXPECT_EQ(encore_triton_bytes_decode(c.data.data(), c.data.size(), c.count, texts, err, sizeof err), -1)
            << c.message;
        EXPECT_NE(std::strstr(err, c.message), nullptr) << "got: " << err << ", want: " << c.message;
        for (int64_t i = 0; i < c.count; i++)
            EXPECT_EQ(texts[i], nullptr);  // nothing left to free after a failure
    }
}

TEST(TritonTensor, WritesBytesElements)
{
    uint8_t buf[16];
    ASSERT_EQ(encore_triton_bytes_size("POSITIVE"), 12u);
    ASSERT_EQ(encore_triton_bytes_write(buf, "POSITIVE"), 12u);
    std::vector<uint8_t> want = bytes_tensor({"POSITIVE"});
    EXPECT_EQ(std::vector<uint8_t>(buf, buf + 12), want);
}

TEST(TritonTensor, TextCountFollowsMaxBatchSize)
{
    int64_t n = 0;
    char err[256];
    const int64_t batch3[] = {3, 1}, batch0[] = {0, 1}, wide[] = {2, 2}, one[] = {1};
    EXPECT_EQ(encore_triton_text_count(batch3, 2, 8, &n, err, sizeof err), 0);
    EXPECT_EQ(n, 3);
    EXPECT_EQ(encore_triton_text_count(batch3, 2, 2, &n, err, sizeof err), -1);
    EXPECT_NE(std::strstr(err, "max_batch_size 2"), nullptr) << err;
    EXPECT_EQ(encore_triton_text_count(batch0, 2, 8, &n, err, sizeof err), -1);
    EXPECT_EQ(encore_triton_text_count(wide, 2, 8, &n, err, sizeof err), -1);
    EXPECT_EQ(encore_triton_text_count(one, 1, 8, &n, err, sizeof err), -1);
    EXPECT_EQ(encore_triton_text_count(one, 1, 0, &n, err, sizeof err), 0);
    EXPECT_EQ(n, 1);
    EXPECT_EQ(encore_triton_text_count(batch3, 2, 0, &n, err, sizeof err), -1);
    EXPECT_EQ(encore_triton_text_count(nullptr, 0, 0, &n, err, sizeof err), -1);
}

TEST(TritonConfig, ParsesParameters)
{
    Json c(R"({"parameters": {"pooling": {"string_value": "cls"}, "normalize": {"string_value": "true"},
               "truncate": {"string_value": "false"}, "device": {"string_value": "cuda"},
               "precision": {"string_value": "bf16"}, "weights": {"string_value": "int8"},
               "threads": {"string_value": "2"}, "model_directory": {"string_value": "hf"}}})");
    encore_triton_options o;
    char err[256] = "";
    ASSERT_EQ(encore_triton_options_parse(c.j, "/repo/m", 1, &o, err, sizeof err), 0) << err;
    EXPECT_EQ(o.pooling, ENCORE_POOLING_CLS);
    EXPECT_EQ(o.normalize, 1);
    EXPECT_EQ(o.truncate, 0);
    EXPECT_EQ(o.device, ENCORE_DEVICE_CUDA);
    EXPECT_EQ(o.precision, ENCORE_PRECISION_BF16);
    EXPECT_EQ(o.weights, ENCORE_WEIGHTS_INT8);
    EXPECT_EQ(o.n_threads, 2);
    EXPECT_STREQ(o.model_directory, "/repo/m/hf");
}

TEST(TritonConfig, DefaultsToTheVersionFolder)
{
    Json c(R"({"name": "m"})");
    encore_triton_options o;
    char err[256] = "";
    ASSERT_EQ(encore_triton_options_parse(c.j, "/repo/m", 3, &o, err, sizeof err), 0) << err;
    EXPECT_STREQ(o.model_directory, "/repo/m/3");
    EXPECT_EQ(o.truncate, 1);
    EXPECT_EQ(o.normalize, 0);
    EXPECT_EQ(o.pooling, ENCORE_POOLING_DEFAULT);
    EXPECT_EQ(o.device, ENCORE_DEVICE_AUTO);

    Json abs(R"({"parameters": {"model_directory": {"string_value": "/models/x"}}})");
    ASSERT_EQ(encore_triton_options_parse(abs.j, "/repo/m", 1, &o, err, sizeof err), 0) << err;
    EXPECT_STREQ(o.model_directory, "/models/x");
}

TEST(TritonConfig, RejectsBadParameters)
{
    const char *cases[][2] = {
        {R"({"parameters": {"pooling": {"string_value": "max"}}})", "pooling"},
        {R"({"parameters": {"normalize": {"string_value": "maybe"}}})", "normalize"},
        {R"({"parameters": {"truncate": {"string_value": ""}}})", "truncate"},
        {R"({"parameters": {"device": {"string_value": "tpu"}}})", "device"},
        {R"({"parameters": {"precision": {"string_value": "fp8"}}})", "precision"},
        {R"({"parameters": {"weights": {"string_value": "int4"}}})", "weights"},
        {R"({"parameters": {"threads": {"string_value": "-1"}}})", "threads"},
        {R"({"parameters": {"threads": {"string_value": "2x"}}})", "threads"},
        {R"({"parameters": {"pooling": {"int_value": 1}}})", "string_value"},
        {R"({"parameters": {"poolng": {"string_value": "cls"}}})", "unknown parameter 'poolng'"},
    };
    for (auto &c : cases) {
        Json j(c[0]);
        encore_triton_options o;
        char err[256] = "";
        EXPECT_EQ(encore_triton_options_parse(j.j, "/repo/m", 1, &o, err, sizeof err), -1) << c[0];
        EXPECT_NE(std::strstr(err, c[1]), nullptr) << "got: " << err;
    }
}

TEST(TritonConfig, CompletesAnEmptyClassifierConfig)
{
    Json c(R"({"name": "sst", "backend": "encore", "max_batch_size": 0, "input": [], "output": []})");
    int changed = 0;
    char err[256] = "";
    ASSERT_EQ(encore_triton_config_complete(c.j, &kClassifier, 8, &changed, err, sizeof err), 0) << err;
    EXPECT_EQ(changed, 1);
    EXPECT_EQ(encore_triton_config_max_batch_size(c.j), 8);
    EXPECT_TRUE(cJSON_IsObject(cJSON_GetObjectItem(c.j, "dynamic_batching")));
    ASSERT_EQ(encore_triton_config_check(c.j, &kClassifier, err, sizeof err), 0) << err;
    char *text = cJSON_PrintUnformatted(c.j);
    std::string s(text);
    cJSON_free(text);
    EXPECT_NE(s.find(R"({"name":"TEXT","data_type":"TYPE_STRING","dims":[1]})"), std::string::npos) << s;
    EXPECT_NE(s.find(R"({"name":"TEXT_PAIR","data_type":"TYPE_STRING","dims":[1],"optional":true})"),
              std::string::npos) << s;
    EXPECT_NE(s.find(R"({"name":"SCORES","data_type":"TYPE_FP32","dims":[2]})"), std::string::npos) << s;
    EXPECT_NE(s.find(R"({"name":"LABEL","data_type":"TYPE_STRING","dims":[1]})"), std::string::npos) << s;
    EXPECT_EQ(s.find("EMBEDDING"), std::string::npos) << s;

    // Complete already: nothing changes.
    ASSERT_EQ(encore_triton_config_complete(c.j, &kClassifier, 8, &changed, err, sizeof err), 0) << err;
    EXPECT_EQ(changed, 0);
}

TEST(TritonConfig, CompletesAnEmbeddingConfigKeepingTheUsersChoices)
{
    // Inputs declared and max_batch_size 0: the user's choice, kept.
    Json c(R"({"max_batch_size": "0", "input": [{"name": "TEXT", "data_type": "TYPE_STRING", "dims": ["1"]}],
               "sequence_batching": {}})");
    int changed = 0;
    char err[256] = "";
    ASSERT_EQ(encore_triton_config_complete(c.j, &kEmbedder, 8, &changed, err, sizeof err), 0) << err;
    EXPECT_EQ(changed, 1);
    EXPECT_EQ(encore_triton_config_max_batch_size(c.j), 0);
    EXPECT_EQ(cJSON_GetObjectItem(c.j, "dynamic_batching"), nullptr);
    ASSERT_EQ(encore_triton_config_check(c.j, &kEmbedder, err, sizeof err), 0) << err;
    const cJSON *out = cJSON_GetArrayItem(cJSON_GetObjectItem(c.j, "output"), 0);
    EXPECT_STREQ(cJSON_GetObjectItem(out, "name")->valuestring, "EMBEDDING");
    EXPECT_EQ(cJSON_GetArrayItem(cJSON_GetObjectItem(out, "dims"), 0)->valueint, 48);
}

TEST(TritonConfig, ChecksTensorsAgainstTheModel)
{
    const char *cases[][2] = {
        {R"({"input": [], "output": [{"name": "SCORES", "data_type": "TYPE_FP32", "dims": [2]}]})", "no input TEXT"},
        {R"({"input": [{"name": "TEXT", "data_type": "TYPE_INT32", "dims": [1]}],
             "output": [{"name": "SCORES", "data_type": "TYPE_FP32", "dims": [2]}]})", "TYPE_STRING"},
        {R"({"input": [{"name": "TEXT", "data_type": "TYPE_STRING", "dims": [4]}],
             "output": [{"name": "SCORES", "data_type": "TYPE_FP32", "dims": [2]}]})", "dims [1]"},
        {R"({"input": [{"name": "TEXT", "data_type": "TYPE_STRING", "dims": [1]}],
             "output": [{"name": "SCORES", "data_type": "TYPE_FP32", "dims": [3]}]})", "dims [2]"},
        {R"({"input": [{"name": "TEXT", "data_type": "TYPE_STRING", "dims": [1]}],
             "output": [{"name": "EMBEDDING", "data_type": "TYPE_FP32", "dims": [32]}]})", "unknown output"},
        {R"({"input": [{"name": "TEXT", "data_type": "TYPE_STRING", "dims": [1]},
                       {"name": "IDS", "data_type": "TYPE_STRING", "dims": [1]}],
             "output": [{"name": "LABEL", "data_type": "TYPE_STRING", "dims": [1]}]})", "unknown input 'IDS'"},
        {R"({"input": [{"name": "TEXT", "data_type": "TYPE_STRING", "dims": [1]},
                       {"name": "TEXT_PAIR", "data_type": "TYPE_STRING", "dims": [1]}],
             "output": [{"name": "LABEL", "data_type": "TYPE_STRING", "dims": [1]}]})", "optional"},
        {R"({"input": [{"name": "TEXT", "data_type": "TYPE_STRING", "dims": [1]}], "output": []})", "no outputs"},
        {R"({"max_batch_size": -2, "input": [{"name": "TEXT", "data_type": "TYPE_STRING", "dims": [1]}],
             "output": [{"name": "LABEL", "data_type": "TYPE_STRING", "dims": [1]}]})", "max_batch_size"},
    };
    for (auto &c : cases) {
        Json j(c[0]);
        char err[256] = "";
        EXPECT_EQ(encore_triton_config_check(j.j, &kClassifier, err, sizeof err), -1) << c[0];
        EXPECT_NE(std::strstr(err, c[1]), nullptr) << "got: " << err << " want: " << c[1];
    }
}
