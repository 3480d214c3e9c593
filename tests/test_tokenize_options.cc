// The tokenizer settings beyond the defaults, against Hugging Face's own
// output (tests/fixtures/reference/tiny-bert-prompts.json, made by
// models/make_fixtures.py with tokenizers): truncation on the left, token
// ids given by the caller, and decoding ids back to text.
#include "fixtures.h"

#include <gtest/gtest.h>

#include <memory>
#include <string>
#include <vector>

namespace {

using fixtures::get;

struct ModelDeleter {
    void operator()(encore_model *m) const { encore_model_free(m); }
};
struct EncodingDeleter {
    void operator()(encore_encoding *e) const { encore_encoding_free(e); }
};
using Model = std::unique_ptr<encore_model, ModelDeleter>;
using Encoding = std::unique_ptr<encore_encoding, EncodingDeleter>;

Model load_model(const std::string &name) {
    encore_model *m = nullptr;
    EXPECT_EQ(encore_model_load(fixtures::model_dir(name).c_str(), encore_model_default_params(), &m),
              ENCORE_STATUS_OK)
        << encore_last_error();
    return Model(m);
}

std::vector<int32_t> ints(const cJSON *obj, const char *key) {
    std::vector<int32_t> out;
    for (double v : fixtures::numbers(obj, key)) out.push_back((int32_t)v);
    return out;
}

std::vector<int32_t> ids_of(const encore_encoding *e) { return std::vector<int32_t>(e->ids, e->ids + e->n_tokens); }

TEST(TokenizeOptions, LeftTruncationKeepsTheLastTokensAsTokenizers) {
    auto ref = fixtures::load("tiny-bert-prompts");
    ASSERT_TRUE(ref && ref->root) << "missing reference tiny-bert-prompts.json";
    Model m = load_model("tiny-bert-prompts");
    ASSERT_TRUE(m);
    const cJSON *cases = get(ref->root, "left_truncation");
    ASSERT_GE(cJSON_GetArraySize(cases), 2) << "the reference has no left-truncation cases";
    const cJSON *c;
    cJSON_ArrayForEach(c, cases) {
        SCOPED_TRACE(fixtures::str(c, "name"));
        encore_tokenize_params p = encore_tokenize_default_params();
        p.truncate = 1;
        p.truncation_side = ENCORE_TRUNCATION_SIDE_LEFT;
        encore_encoding *raw = nullptr;
        ASSERT_EQ(encore_model_tokenize_with(m.get(), fixtures::input(c), p, &raw), ENCORE_STATUS_OK)
            << encore_last_error();
        Encoding e(raw);
        EXPECT_EQ(ids_of(e.get()), ints(c, "ids"));
        EXPECT_EQ(std::vector<int32_t>(e->type_ids, e->type_ids + e->n_tokens), ints(c, "type_ids"));
        std::vector<int32_t> offsets;
        const cJSON *pair;
        cJSON_ArrayForEach(pair, get(c, "offsets")) {
            for (double v : fixtures::numbers(pair)) offsets.push_back((int32_t)v);
        }
        EXPECT_EQ(std::vector<int32_t>(e->offsets, e->offsets + 2 * e->n_tokens), offsets);
        // Cut on the right, the same input differs: the test can fail.
        p.truncation_side = ENCORE_TRUNCATION_SIDE_RIGHT;
        ASSERT_EQ(encore_model_tokenize_with(m.get(), fixtures::input(c), p, &raw), ENCORE_STATUS_OK);
        Encoding right(raw);
        EXPECT_NE(ids_of(right.get()), ints(c, "ids"));
        EXPECT_EQ(right->n_tokens, e->n_tokens);
    }
}

TEST(TokenizeOptions, LeftTruncationOfPromptedTextsAsSentenceTransformers) {
    auto ref = fixtures::load("tiny-bert-prompts");
    ASSERT_TRUE(ref && ref->root);
    Model m = load_model("tiny-bert-prompts");
    ASSERT_TRUE(m);
    const cJSON *c;
    int n = 0;
    cJSON_ArrayForEach(c, get(ref->root, "texts")) {
        SCOPED_TRACE(fixtures::str(c, "name"));
        const std::string text = "passage: " + fixtures::str(c, "text");
        encore_tokenize_params p = encore_tokenize_default_params();
        p.task = ENCORE_TASK_EMBED;
        p.truncate = 1;
        for (auto side : {ENCORE_TRUNCATION_SIDE_RIGHT, ENCORE_TRUNCATION_SIDE_LEFT}) {
            p.truncation_side = side;
            encore_encoding *raw = nullptr;
            ASSERT_EQ(encore_model_tokenize_with(m.get(), encore_input{text.c_str(), nullptr}, p, &raw),
                      ENCORE_STATUS_OK);
            Encoding e(raw);
            EXPECT_EQ(ids_of(e.get()),
                      ints(c, side == ENCORE_TRUNCATION_SIDE_LEFT ? "ids_passage_left" : "ids_passage"));
        }
        n++;
    }
    EXPECT_GE(n, 4);
}

TEST(TokenizeOptions, TokenIdsAreTakenAsTheyAreAndCheckedAgainstTheVocabulary) {
    Model m = load_model("tiny-bert-prompts");
    ASSERT_TRUE(m);
    const std::vector<int32_t> ids = {2, 100, 200, 300, 3};
    encore_tokenize_params p = encore_tokenize_default_params();
    encore_encoding *raw = nullptr;
    ASSERT_EQ(encore_model_encoding_from_ids(m.get(), ids.data(), (int)ids.size(), p, &raw), ENCORE_STATUS_OK);
    Encoding e(raw);
    EXPECT_EQ(ids_of(e.get()), ids);
    for (int i = 0; i < e->n_tokens; i++) EXPECT_EQ(e->type_ids[i], 0);

    // Over-long: refused, or cut on either side.
    const int limit = encore_model_task_max_length(m.get(), ENCORE_TASK_CLASSIFY);
    std::vector<int32_t> many;
    for (int i = 0; i < limit + 5; i++) many.push_back(10 + i);
    EXPECT_EQ(encore_model_encoding_from_ids(m.get(), many.data(), (int)many.size(), p, &raw), ENCORE_STATUS_TOO_LONG);
    EXPECT_EQ(raw, nullptr);
    p.truncate = 1;
    ASSERT_EQ(encore_model_encoding_from_ids(m.get(), many.data(), (int)many.size(), p, &raw), ENCORE_STATUS_OK);
    Encoding right(raw);
    EXPECT_EQ(ids_of(right.get()), std::vector<int32_t>(many.begin(), many.begin() + limit));
    p.truncation_side = ENCORE_TRUNCATION_SIDE_LEFT;
    ASSERT_EQ(encore_model_encoding_from_ids(m.get(), many.data(), (int)many.size(), p, &raw), ENCORE_STATUS_OK);
    Encoding left(raw);
    EXPECT_EQ(ids_of(left.get()), std::vector<int32_t>(many.end() - limit, many.end()));

    // Out of the vocabulary, and no ids at all.
    const int32_t bad[] = {2, 1500, 3}, negative[] = {-1};
    EXPECT_EQ(encore_model_encoding_from_ids(m.get(), bad, 3, p, &raw), ENCORE_STATUS_BAD_INPUT);
    EXPECT_NE(std::string(encore_last_error()).find("1500"), std::string::npos) << encore_last_error();
    EXPECT_EQ(encore_model_encoding_from_ids(m.get(), negative, 1, p, &raw), ENCORE_STATUS_BAD_INPUT);
    EXPECT_EQ(encore_model_encoding_from_ids(m.get(), bad, 0, p, &raw), ENCORE_STATUS_INVALID_ARGUMENT);
    EXPECT_EQ(encore_model_encoding_from_ids(nullptr, bad, 1, p, &raw), ENCORE_STATUS_INVALID_ARGUMENT);
}

TEST(TokenizeOptions, DecodeIsTokenizersDecode) {
    auto ref = fixtures::load("tiny-bert-prompts");
    ASSERT_TRUE(ref && ref->root);
    Model m = load_model("tiny-bert-prompts");
    ASSERT_TRUE(m);
    const cJSON *c;
    int n = 0;
    cJSON_ArrayForEach(c, get(ref->root, "cases")) {
        SCOPED_TRACE(fixtures::str(c, "name"));
        const std::vector<int32_t> ids = ints(c, "ids");
        for (int skip = 0; skip < 2; skip++) {
            size_t len = 0;
            ASSERT_EQ(encore_model_decode(m.get(), ids.data(), (int)ids.size(), skip, nullptr, 0, &len),
                      ENCORE_STATUS_OK);
            std::string text(len + 1, 'x');
            size_t len2 = 0;
            ASSERT_EQ(encore_model_decode(m.get(), ids.data(), (int)ids.size(), skip, &text[0], text.size(), &len2),
                      ENCORE_STATUS_OK);
            EXPECT_EQ(len2, len);
            text.resize(len);
            EXPECT_EQ(text, fixtures::str(c, skip ? "skip_special" : "keep_special"));
            // A buffer too small is cut and NUL-terminated, and says the length.
            if (len > 3) {
                char small[4];
                ASSERT_EQ(encore_model_decode(m.get(), ids.data(), (int)ids.size(), skip, small, sizeof small, &len2),
                          ENCORE_STATUS_OK);
                EXPECT_EQ(len2, len);
                EXPECT_EQ(std::string(small), text.substr(0, 3));
            }
        }
        n++;
    }
    EXPECT_GE(n, 40);
    EXPECT_TRUE(encore_model_token_is_special(m.get(), 2));  // [CLS]
    EXPECT_FALSE(encore_model_token_is_special(m.get(), 100));
    size_t len = 0;
    EXPECT_EQ(encore_model_decode(nullptr, nullptr, 0, 1, nullptr, 0, &len), ENCORE_STATUS_INVALID_ARGUMENT);
}

}  // namespace
