// tokenizer_helpers.h: what the tokenizer suites share: owning pointers to
// a tokenizer and an encoding, loading a directory that must load, checking
// one that must not, and editing a tokenizer.json in place.
#ifndef ENCORE_TESTS_TOKENIZER_HELPERS_H
#define ENCORE_TESTS_TOKENIZER_HELPERS_H

#include <gtest/gtest.h>

#include <cjson/cJSON.h>

#include <fstream>
#include <iterator>
#include <memory>
#include <string>
#include <vector>

#include "encore.h"
#include "tokenizer/tokenizer.h"

namespace tokenizer_test {

struct TokenizerDeleter {
    void operator()(encore_tokenizer *t) const { encore_tokenizer_free(t); }
};
struct EncodingDeleter {
    void operator()(encore_encoding *e) const { encore_encoding_free(e); }
};
using Tokenizer = std::unique_ptr<encore_tokenizer, TokenizerDeleter>;
using Encoding = std::unique_ptr<encore_encoding, EncodingDeleter>;

// The tokenizer of dir; a load that fails is a test failure (and null).
inline Tokenizer load_tokenizer(const std::string &dir) {
    encore_tokenizer *t = nullptr;
    encore_status st = encore_tokenizer_load(dir.c_str(), &t);
    EXPECT_EQ(st, ENCORE_STATUS_OK) << dir << ": " << encore_last_error();
    return Tokenizer(t);
}

// dir does not load: the status, no tokenizer, and every part in the error.
inline void expect_load_error(const std::string &dir, encore_status status, const std::vector<std::string> &parts) {
    encore_tokenizer *t = reinterpret_cast<encore_tokenizer *>(0x1);
    EXPECT_EQ(encore_tokenizer_load(dir.c_str(), &t), status) << encore_last_error();
    EXPECT_EQ(t, nullptr);
    std::string msg = encore_last_error();
    for (const auto &p : parts) EXPECT_NE(msg.find(p), std::string::npos) << "'" << p << "' not in: " << msg;
}

inline std::string read_file(const std::string &path) {
    std::ifstream in(path, std::ios::binary);
    return std::string((std::istreambuf_iterator<char>(in)), {});
}

// obj[key] = value, replacing what is there.
inline void set(cJSON *obj, const char *key, cJSON *value) {
    if (cJSON_GetObjectItemCaseSensitive(obj, key)) cJSON_ReplaceItemInObjectCaseSensitive(obj, key, value);
    else cJSON_AddItemToObject(obj, key, value);
}

inline cJSON *model_of(cJSON *j) { return cJSON_GetObjectItemCaseSensitive(j, "model"); }

}  // namespace tokenizer_test

#endif  // ENCORE_TESTS_TOKENIZER_HELPERS_H
