// fixtures.h: read the reference dumps of tests/fixtures (see its README).
#pragma once

#include <cJSON.h>
#include <gtest/gtest.h>

#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <memory>
#include <sstream>
#include <string>
#include <vector>

#include "encore.h"

namespace fixtures {

inline std::string dir() { return ENCORE_FIXTURES_DIR; }
inline std::string model_dir(const std::string &name) { return dir() + "/models/" + name; }

struct Json {
    cJSON *root = nullptr;
    explicit Json(cJSON *r) : root(r) {}
    Json(const Json &) = delete;
    ~Json() { cJSON_Delete(root); }
};

inline std::unique_ptr<Json> load(const std::string &name) {
    std::ifstream f(dir() + "/reference/" + name + ".json");
    if (!f) return nullptr;
    std::stringstream ss;
    ss << f.rdbuf();
    return std::make_unique<Json>(cJSON_Parse(ss.str().c_str()));
}

inline const cJSON *get(const cJSON *obj, const char *key) { return cJSON_GetObjectItemCaseSensitive(obj, key); }

// A string of the reference; missing or not a string is a test failure (and
// reads as ""): test fixtures::has first for a key that may be absent.
inline std::string str(const cJSON *obj, const char *key) {
    const cJSON *v = get(obj, key);
    if (cJSON_IsString(v)) return v->valuestring;
    ADD_FAILURE() << "\"" << key << "\" is " << (v ? "not a string" : "missing");
    return "";
}

inline bool has(const cJSON *obj, const char *key) {
    const cJSON *v = get(obj, key);
    return v && !cJSON_IsNull(v);
}

// The numbers of a JSON array. Anything else (a missing key reads as null)
// is a test failure, not an empty list: a comparison against an empty list
// would compare nothing and pass.
inline std::vector<double> numbers_named(const cJSON *arr, const std::string &what) {
    std::vector<double> out;
    if (!cJSON_IsArray(arr)) {
        ADD_FAILURE() << what << " is " << (arr ? "not a list" : "missing");
        return out;
    }
    const cJSON *v;
    cJSON_ArrayForEach(v, arr) {
        if (!cJSON_IsNumber(v)) {
            ADD_FAILURE() << what << " holds something that is not a number";
            return {};
        }
        out.push_back(v->valuedouble);
    }
    return out;
}

inline std::vector<double> numbers(const cJSON *arr) { return numbers_named(arr, "the list"); }
inline std::vector<double> numbers(const cJSON *obj, const char *key) {
    return numbers_named(get(obj, key), "\"" + std::string(key) + "\"");
}

// A number of the reference; missing or not a number is a test failure, and
// reads as NaN, which no comparison passes.
inline double number(const cJSON *obj, const char *key) {
    const cJSON *v = get(obj, key);
    if (cJSON_IsNumber(v)) return v->valuedouble;
    ADD_FAILURE() << "\"" << key << "\" is " << (v ? "not a number" : "missing");
    return NAN;
}

// The input of a case; the strings live as long as the JSON.
inline encore_input input(const cJSON *c) {
    const cJSON *pair = get(c, "text_pair");
    return {get(c, "text")->valuestring, cJSON_IsString(pair) ? pair->valuestring : nullptr};
}

// A C string cannot hold U+0000, and cJSON cuts a string at "\u0000": a case
// whose tokens reach past the end of its C string had one.
inline bool has_nul(const cJSON *c) {
    const cJSON *offsets = get(c, "offsets"), *seq = get(c, "sequence_ids");
    size_t len[2] = {std::strlen(get(c, "text")->valuestring), 0};
    const cJSON *pair = get(c, "text_pair");
    if (cJSON_IsString(pair)) len[1] = std::strlen(pair->valuestring);
    for (int i = 0; i < cJSON_GetArraySize(offsets); i++) {
        const cJSON *s = cJSON_GetArrayItem(seq, i);
        if (!cJSON_IsNumber(s)) continue;
        if (cJSON_GetArrayItem(cJSON_GetArrayItem(offsets, i), 1)->valueint > (int)len[s->valueint]) return true;
    }
    return false;
}

// Whether a test that needs a model that is not there must fail rather than
// skip: ENCORE_REQUIRE_REAL_MODEL=1 (scripts/test.sh sets it), so that a
// suite that has the models does not pass by skipping their tests.
inline bool require_real_model() {
    const char *v = std::getenv("ENCORE_REQUIRE_REAL_MODEL");
    return v && *v && std::strcmp(v, "0") != 0;
}

// A JSON answer against the reference's: the same structure, keys in the
// same order, strings equal, numbers within tol (a pipeline's output as a
// server or a CLI writes it against what the pipeline returned).
// The question-answering pipeline's output with the zero-score spans at its
// end taken off (in place): where top_k exceeds the spans of non-zero score,
// numpy's argpartition fills the list with arbitrary zero-score spans, and
// encore stops at the non-zero ones (question_answering.c). A list of
// answers keeps its first; a list of such lists is trimmed in each. Returns
// whether anything was taken off.
inline bool drop_zero_score_fill(cJSON *output) {
    if (!cJSON_IsArray(output)) return false;
    bool dropped = false;
    if (cJSON_IsArray(output->child)) {
        for (cJSON *item = output->child; item; item = item->next) dropped |= drop_zero_score_fill(item);
        return dropped;
    }
    int n = cJSON_GetArraySize(output);
    while (n > 1) {
        const cJSON *score = get(cJSON_GetArrayItem(output, n - 1), "score");
        if (!cJSON_IsNumber(score) || score->valuedouble != 0.0) break;
        cJSON_DeleteItemFromArray(output, --n);
        dropped = true;
    }
    return dropped;
}

inline void expect_json_close(const cJSON *got, const cJSON *want, const std::string &where, double tol) {
    ASSERT_NE(got, nullptr) << where << ": missing";
    if (cJSON_IsArray(want)) {
        ASSERT_TRUE(cJSON_IsArray(got)) << where;
        ASSERT_EQ(cJSON_GetArraySize(got), cJSON_GetArraySize(want)) << where;
        for (int i = 0; i < cJSON_GetArraySize(want); i++)
            expect_json_close(cJSON_GetArrayItem(got, i), cJSON_GetArrayItem(want, i),
                              where + "[" + std::to_string(i) + "]", tol);
    } else if (cJSON_IsObject(want)) {
        ASSERT_TRUE(cJSON_IsObject(got)) << where;
        const cJSON *a = got->child, *b = want->child;
        for (; a && b; a = a->next, b = b->next) {
            ASSERT_STREQ(a->string, b->string) << where;  // same keys in the same order
            expect_json_close(a, b, where + "." + b->string, tol);
        }
        EXPECT_TRUE(!a && !b) << where << ": other keys";
    } else if (cJSON_IsNumber(want)) {
        ASSERT_TRUE(cJSON_IsNumber(got)) << where;
        EXPECT_NEAR(got->valuedouble, want->valuedouble, tol) << where;
    } else if (cJSON_IsString(want)) {
        ASSERT_TRUE(cJSON_IsString(got)) << where;
        EXPECT_STREQ(got->valuestring, want->valuestring) << where;
    } else {
        FAIL() << where << ": an unexpected type in the reference";
    }
}

// A list of strings joined with commas, as the CLIs' list options take them.
inline std::string join(const cJSON *list) {
    std::string out;
    const cJSON *item;
    cJSON_ArrayForEach(item, list) {
        if (item != list->child) out += ",";
        out += item->valuestring;
    }
    return out;
}

// A string as a JSON string literal.
inline std::string quote(const std::string &s) {
    cJSON *v = cJSON_CreateString(s.c_str());
    char *p = cJSON_PrintUnformatted(v);
    std::string out = p ? p : "";
    cJSON_free(p);
    cJSON_Delete(v);
    return out;
}

// JSON text of an item, on one line.
inline std::string dumps(const cJSON *item) {
    char *p = cJSON_PrintUnformatted(item);
    std::string out = p ? p : "";
    cJSON_free(p);
    return out;
}

// The command-line options of a question-answering reference case's
// parameters (the pipeline's keyword arguments).
inline std::vector<std::string> qa_args(const cJSON *params) {
    std::vector<std::string> a;
    const struct {
        const char *key, *opt;
    } nums[] = {{"top_k", "--top-k"}, {"doc_stride", "--doc-stride"}, {"max_answer_len", "--max-answer-len"},
                {"max_seq_len", "--max-seq-len"}, {"max_question_len", "--max-question-len"}};
    for (const auto &n : nums)
        if (const cJSON *v = get(params, n.key)) a.insert(a.end(), {n.opt, std::to_string(v->valueint)});
    if (cJSON_IsTrue(get(params, "handle_impossible_answer"))) a.push_back("--handle-impossible-answer");
    if (cJSON_IsFalse(get(params, "align_to_words"))) a.push_back("--no-align-to-words");
    return a;
}

}  // namespace fixtures

// Skip the test, saying why (a streamed message), because a model it needs is
// missing; fail instead under ENCORE_REQUIRE_REAL_MODEL.
#define SKIP_WITHOUT_MODEL(why)                                                                \
    do {                                                                                       \
        if (fixtures::require_real_model())                                                    \
            FAIL() << why << " (and ENCORE_REQUIRE_REAL_MODEL is set: the model is required)"; \
        else                                                                                   \
            GTEST_SKIP() << why;                                                               \
    } while (0)
