// Overflowing windows (encore_model_tokenize_overflow) against tokenizers:
// tests/fixtures/reference/tiny-bert-qa.overflow.json holds what
// tokenizer(text, text_pair, truncation=..., max_length=M, stride=S,
// return_overflowing_tokens=True, return_offsets_mapping=True) gives (made by
// models/make_qa_refs.py). Every window's ids, type ids, sequence ids and
// offsets must be equal; the cases tokenizers refuses must be refused.
#include "fixtures.h"

#include <string>
#include <vector>

namespace {

struct Model {
    encore_model *m = nullptr;
    explicit Model(const std::string &name) {
        EXPECT_EQ(encore_model_load(fixtures::model_dir(name).c_str(), encore_model_default_params(), &m),
                  ENCORE_STATUS_OK)
            << encore_last_error();
    }
    ~Model() { encore_model_free(m); }
};

// Character offset -> byte offset in a UTF-8 string (tokenizers' offsets
// count characters; encore's count bytes).
int byte_offset(const std::string &s, int chars) {
    size_t i = 0;
    for (int c = 0; c < chars && i < s.size(); c++) {
        uint32_t cp;
        const int n = encore_utf8_decode(s.data() + i, s.size() - i, &cp);
        i += n > 0 ? (size_t)n : 1;
    }
    return (int)i;
}

std::vector<int> ints(const cJSON *a) {
    std::vector<int> out;
    for (double d : fixtures::numbers(a)) out.push_back((int)d);
    return out;
}

TEST(Overflow, WindowsMatchTokenizers) {
    auto ref = fixtures::load("tiny-bert-qa.overflow");
    ASSERT_TRUE(ref && ref->root) << "tests/fixtures/reference/tiny-bert-qa.overflow.json is missing";
    Model model("tiny-bert-qa");
    ASSERT_TRUE(model.m);
    const cJSON *cases = fixtures::get(ref->root, "cases");
    ASSERT_TRUE(cJSON_IsArray(cases));
    ASSERT_GE(cJSON_GetArraySize(cases), 8);
    const cJSON *c;
    cJSON_ArrayForEach(c, cases) {
        const std::string name = fixtures::str(c, "name");
        SCOPED_TRACE(name);
        const std::string text = fixtures::str(c, "text");
        const bool pair = fixtures::has(c, "text_pair");
        const std::string text_pair = pair ? fixtures::str(c, "text_pair") : "";
        const cJSON *trunc = fixtures::get(c, "truncation");
        encore_overflow_params p = encore_overflow_default_params();
        p.max_length = (int)fixtures::get(c, "max_length")->valuedouble;
        p.stride = (int)fixtures::get(c, "stride")->valuedouble;
        p.truncate_first = cJSON_IsString(trunc) && std::string(trunc->valuestring) == "only_first";
        encore_input in = {text.c_str(), pair ? text_pair.c_str() : nullptr};
        encore_encoding **w = nullptr;
        int n = -1;
        const encore_status st = encore_model_tokenize_overflow(model.m, in, p, &w, &n);
        if (fixtures::has(c, "error")) {
            EXPECT_EQ(st, ENCORE_STATUS_BAD_INPUT) << "tokenizers refuses this: " << fixtures::str(c, "error");
            EXPECT_EQ(w, nullptr);
            EXPECT_EQ(n, 0);
            EXPECT_NE(std::string(encore_last_error()), "");
            continue;
        }
        ASSERT_EQ(st, ENCORE_STATUS_OK) << encore_last_error();
        const cJSON *windows = fixtures::get(c, "windows");
        ASSERT_EQ(n, cJSON_GetArraySize(windows));
        for (int i = 0; i < n; i++) {
            SCOPED_TRACE("window " + std::to_string(i));
            const cJSON *rw = cJSON_GetArrayItem(windows, i);
            const encore_encoding *e = w[i];
            const std::vector<int> ids = ints(fixtures::get(rw, "ids"));
            const std::vector<int> type_ids = ints(fixtures::get(rw, "type_ids"));
            const std::vector<int> seq = ints(fixtures::get(rw, "sequence_ids"));
            ASSERT_EQ(e->n_tokens, (int)ids.size());
            EXPECT_GE(e->n_untruncated, e->n_tokens);
            if (n > 1) {
                EXPECT_GT(e->n_untruncated, e->n_tokens);
            }
            const cJSON *offsets = fixtures::get(rw, "offsets");
            for (int t = 0; t < e->n_tokens; t++) {
                EXPECT_EQ(e->ids[t], ids[t]) << "token " << t;
                EXPECT_EQ(e->type_ids[t], type_ids[t]) << "token " << t;
                EXPECT_EQ(e->sequence_ids[t], seq[t]) << "token " << t;
                const std::vector<int> o = ints(cJSON_GetArrayItem(offsets, t));
                ASSERT_EQ(o.size(), 2u);
                const std::string &src = seq[t] == 1 ? text_pair : text;
                EXPECT_EQ(e->offsets[2 * t], seq[t] < 0 ? 0 : byte_offset(src, o[0])) << "token " << t;
                EXPECT_EQ(e->offsets[2 * t + 1], seq[t] < 0 ? 0 : byte_offset(src, o[1])) << "token " << t;
            }
        }
        encore_encodings_free(w, n);
    }
}

TEST(Overflow, BadArguments) {
    Model model("tiny-bert-qa");
    ASSERT_TRUE(model.m);
    encore_encoding **w = nullptr;
    int n = 0;
    encore_input in = {"a question", "a context"};
    encore_overflow_params p = encore_overflow_default_params();
    EXPECT_EQ(encore_model_tokenize_overflow(nullptr, in, p, &w, &n), ENCORE_STATUS_INVALID_ARGUMENT);
    EXPECT_EQ(encore_model_tokenize_overflow(model.m, in, p, nullptr, &n), ENCORE_STATUS_INVALID_ARGUMENT);
    p.max_length = encore_model_max_length(model.m) + 1;  // past the model's positions
    EXPECT_EQ(encore_model_tokenize_overflow(model.m, in, p, &w, &n), ENCORE_STATUS_INVALID_ARGUMENT);
    EXPECT_NE(std::string(encore_last_error()).find("max_length"), std::string::npos) << encore_last_error();
    p = encore_overflow_default_params();
    p.stride = -1;
    EXPECT_EQ(encore_model_tokenize_overflow(model.m, in, p, &w, &n), ENCORE_STATUS_INVALID_ARGUMENT);
    p = encore_overflow_default_params();
    const char bad[] = {'a', ' ', (char)0xC3, 0};  // a truncated two-byte sequence
    encore_input bad_in = {"question", bad};
    EXPECT_EQ(encore_model_tokenize_overflow(model.m, bad_in, p, &w, &n), ENCORE_STATUS_BAD_INPUT);
    EXPECT_EQ(w, nullptr);
    // The default window is the model's length, and a short input is one window
    // equal to encore_model_tokenize's encoding.
    ASSERT_EQ(encore_model_tokenize_overflow(model.m, in, p, &w, &n), ENCORE_STATUS_OK) << encore_last_error();
    ASSERT_EQ(n, 1);
    encore_encoding *one = nullptr;
    ASSERT_EQ(encore_model_tokenize(model.m, in, 0, &one), ENCORE_STATUS_OK);
    ASSERT_EQ(one->n_tokens, w[0]->n_tokens);
    for (int t = 0; t < one->n_tokens; t++) EXPECT_EQ(one->ids[t], w[0]->ids[t]);
    encore_encoding_free(one);
    encore_encodings_free(w, n);
    encore_encodings_free(nullptr, 0);
}

}  // namespace
