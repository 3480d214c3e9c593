// test_tokenizer.cc: encore's tokenizer against Hugging Face's fast tokenizer.
//
// Every case of every reference dump (tests/fixtures/reference/*.json, made by
// transformers' BertTokenizer) is tokenized with the tokenizer of its model
// directory and must give the same ids, type ids, tokens and byte offsets.
// Then the error paths: bad UTF-8, missing and malformed files.
#include <gtest/gtest.h>

#include <unistd.h>

#include <algorithm>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <string>
#include <vector>

#include "fixtures.h"
#include "tokenizer.h"

namespace fs = std::filesystem;

namespace {

struct TokenizerDeleter {
    void operator()(encore_tokenizer *t) const { encore_tokenizer_free(t); }
};
struct EncodingDeleter {
    void operator()(encore_encoding *e) const { encore_encoding_free(e); }
};
using Tokenizer = std::unique_ptr<encore_tokenizer, TokenizerDeleter>;
using Encoding = std::unique_ptr<encore_encoding, EncodingDeleter>;

Tokenizer load_tokenizer(const std::string &dir) {
    encore_tokenizer *t = nullptr;
    encore_status st = encore_tokenizer_load(dir.c_str(), &t);
    EXPECT_EQ(st, ENCORE_STATUS_OK) << dir << ": " << encore_last_error();
    return Tokenizer(t);
}

// The names of the reference dumps, e.g. "tiny-bert-sst", "tok-cased".
std::vector<std::string> reference_names() {
    std::vector<std::string> names;
    std::error_code ec;
    for (const auto &e : fs::directory_iterator(fixtures::dir() + "/reference", ec))
        if (e.path().extension() == ".json") names.push_back(e.path().stem().string());
    std::sort(names.begin(), names.end());
    return names;
}

std::vector<int> ints(const cJSON *arr) {
    std::vector<int> out;
    const cJSON *v;
    cJSON_ArrayForEach(v, arr) out.push_back(v->valueint);
    return out;
}

template <typename T>
std::string show(const std::vector<T> &v) {
    std::ostringstream s;
    s << "[";
    for (size_t i = 0; i < v.size(); i++) s << (i ? ", " : "") << v[i];
    s << "]";
    return s.str();
}

// Compare one field; on a mismatch say where and show both sides.
template <typename T>
void expect_same(const std::string &what, const std::vector<T> &got, const std::vector<T> &want,
                 const std::string &case_name) {
    if (got == want) return;
    size_t i = 0;
    while (i < got.size() && i < want.size() && got[i] == want[i]) i++;
    ADD_FAILURE() << "case " << case_name << ": " << what << " differ at token " << i << "\n  got:  " << show(got)
                  << "\n  want: " << show(want);
}

class Reference : public ::testing::TestWithParam<std::string> {};

TEST_P(Reference, MatchesTransformers) {
    auto ref = fixtures::load(GetParam());
    ASSERT_TRUE(ref && ref->root) << "cannot read reference " << GetParam();
    const cJSON *root = ref->root;
    const std::string model = fixtures::str(root, "model");
    const int max_length = fixtures::get(root, "max_length")->valueint;
    Tokenizer tok = load_tokenizer(fixtures::model_dir(model));
    ASSERT_TRUE(tok);

    int n_cases = 0, n_skipped = 0;
    const cJSON *c;
    cJSON_ArrayForEach(c, fixtures::get(root, "cases")) {
        const std::string name = fixtures::str(c, "name");
        if (fixtures::has_nul(c)) {  // a C string cannot carry its U+0000
            n_skipped++;
            continue;
        }
        n_cases++;
        encore_input in = fixtures::input(c);
        const bool truncate = cJSON_IsTrue(fixtures::get(c, "truncation"));
        encore_encoding *raw = nullptr;
        encore_status st = encore_tokenizer_encode(tok.get(), in.text, in.text_pair, truncate ? max_length : 0, &raw);
        Encoding enc(raw);
        if (st != ENCORE_STATUS_OK || !enc) {
            ADD_FAILURE() << "case " << name << ": " << encore_status_str(st) << ": " << encore_last_error();
            continue;
        }
        const int n = enc->n_tokens;
        std::vector<int> ids(enc->ids, enc->ids + n), type_ids(enc->type_ids, enc->type_ids + n), offsets;
        std::vector<std::string> tokens;
        for (int i = 0; i < n; i++) {
            const char *t = encore_tokenizer_id_to_token(tok.get(), ids[i]);
            tokens.push_back(t ? t : "(null)");
            offsets.push_back(enc->offsets[2 * i]);
            offsets.push_back(enc->offsets[2 * i + 1]);
        }
        std::vector<int> want_offsets;
        const cJSON *pair;
        cJSON_ArrayForEach(pair, fixtures::get(c, "offsets")) {
            want_offsets.push_back(cJSON_GetArrayItem(pair, 0)->valueint);
            want_offsets.push_back(cJSON_GetArrayItem(pair, 1)->valueint);
        }
        std::vector<std::string> want_tokens;
        const cJSON *t;
        cJSON_ArrayForEach(t, fixtures::get(c, "tokens")) want_tokens.push_back(t->valuestring);

        expect_same("ids", ids, ints(fixtures::get(c, "ids")), name);
        expect_same("type_ids", type_ids, ints(fixtures::get(c, "type_ids")), name);
        expect_same("tokens", tokens, want_tokens, name);
        expect_same("offsets", offsets, want_offsets, name);
        if (truncate) {
            EXPECT_LE(n, max_length) << "case " << name;
        }
    }
    EXPECT_GT(n_cases, 0) << GetParam() << " has no usable cases";
    if (n_skipped) std::printf("%s: %d cases, %d skipped for U+0000\n", GetParam().c_str(), n_cases, n_skipped);
}

std::string param_name(const ::testing::TestParamInfo<std::string> &info) {
    std::string s = info.param;
    for (char &ch : s)
        if (!isalnum((unsigned char)ch)) ch = '_';
    return s;
}

INSTANTIATE_TEST_SUITE_P(Fixtures, Reference, ::testing::ValuesIn(reference_names()), param_name);
GTEST_ALLOW_UNINSTANTIATED_PARAMETERIZED_TEST(Reference);

TEST(TokenizerFixtures, ReferencesExist) {
    EXPECT_FALSE(reference_names().empty()) << "no reference dumps under " << fixtures::dir() << "/reference";
}

// ---- settings and lookups ---------------------------------------------------

TEST(Tokenizer, SettingsFromConfig) {
    Tokenizer bert = load_tokenizer(fixtures::model_dir("tiny-bert-sst"));
    Tokenizer cased = load_tokenizer(fixtures::model_dir("tok-cased"));
    Tokenizer distil = load_tokenizer(fixtures::model_dir("tiny-distilbert-sst"));  // vocab.txt only
    ASSERT_TRUE(bert && cased && distil);
    const encore_tokenizer_settings *s = encore_tokenizer_get_settings(bert.get());
    EXPECT_EQ(s->lowercase, 1);
    EXPECT_EQ(s->strip_accents, -1);
    EXPECT_EQ(s->handle_chinese_chars, 1);
    EXPECT_EQ(s->clean_text, 1);
    EXPECT_EQ(s->max_input_chars_per_word, 100);
    EXPECT_EQ(s->model_max_length, 64);
    EXPECT_EQ(s->add_type_ids, 1);
    EXPECT_EQ(encore_tokenizer_get_settings(cased.get())->lowercase, 0);

    encore_tokenizer_set_add_type_ids(distil.get(), 0);
    EXPECT_EQ(encore_tokenizer_get_settings(distil.get())->add_type_ids, 0);
    // Both ways of loading the same vocabulary agree.
    EXPECT_EQ(encore_tokenizer_vocab_size(bert.get()), encore_tokenizer_vocab_size(distil.get()));
    for (const char *t : {"[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]", "the", "##s"}) {
        int32_t id = encore_tokenizer_token_to_id(bert.get(), t);
        EXPECT_GE(id, 0) << t;
        EXPECT_EQ(encore_tokenizer_token_to_id(distil.get(), t), id) << t;
        EXPECT_STREQ(encore_tokenizer_id_to_token(bert.get(), id), t);
    }
    EXPECT_EQ(encore_tokenizer_token_to_id(bert.get(), "no-such-token-here"), -1);
    EXPECT_EQ(encore_tokenizer_id_to_token(bert.get(), -1), nullptr);
    EXPECT_EQ(encore_tokenizer_id_to_token(bert.get(), encore_tokenizer_vocab_size(bert.get())), nullptr);
}

// ---- truncation ---------------------------------------------------------------

std::vector<int> encode_ids(encore_tokenizer *tok, const char *a, const char *b, int max_len) {
    encore_encoding *raw = nullptr;
    EXPECT_EQ(encore_tokenizer_encode(tok, a, b, max_len, &raw), ENCORE_STATUS_OK) << encore_last_error();
    Encoding e(raw);
    return e ? std::vector<int>(e->ids, e->ids + e->n_tokens) : std::vector<int>();
}

// tokenizers' longest_first: the shorter side stays whole when the longer can
// take the rest; otherwise the budget is split in half, the odd token going to
// the second text.
TEST(Tokenizer, LongestFirstSplit) {
    Tokenizer tok = load_tokenizer(fixtures::model_dir("tiny-bert-sst"));
    ASSERT_TRUE(tok);
    const char *two = "the the", *four = "the the the the", *eight = "the the the the the the the the";
    auto sides = [&](const char *a, const char *b, int max_len) {
        std::vector<int> ids = encode_ids(tok.get(), a, b, max_len);
        // [CLS] A [SEP] B [SEP]
        auto sep = std::find(ids.begin() + 1, ids.end(), ids.back());
        return std::make_pair(int(sep - ids.begin()) - 1, int(ids.end() - sep) - 2);
    };
    // The unit cases of tokenizers' truncation.rs with max_length 7 (10 with specials).
    EXPECT_EQ(sides(two, four, 10), std::make_pair(2, 4));
    EXPECT_EQ(sides(two, eight, 10), std::make_pair(2, 5));
    EXPECT_EQ(sides(four, four, 10), std::make_pair(3, 4));
    EXPECT_EQ(sides(four, eight, 10), std::make_pair(3, 4));
    EXPECT_EQ(sides(eight, two, 10), std::make_pair(5, 2));
    EXPECT_EQ(sides(eight, four, 10), std::make_pair(4, 3));
    EXPECT_EQ(sides(eight, eight, 10), std::make_pair(3, 4));
    EXPECT_EQ(sides("", eight, 10), std::make_pair(0, 7));
    // Single text: keep max_len - 2.
    EXPECT_EQ(encode_ids(tok.get(), eight, nullptr, 5).size(), 5u);
    EXPECT_EQ(encode_ids(tok.get(), eight, nullptr, 2).size(), 2u);
    EXPECT_EQ(encode_ids(tok.get(), eight, nullptr, 0).size(), 10u);

    encore_encoding *e = nullptr;
    EXPECT_EQ(encore_tokenizer_encode(tok.get(), "x", "y", 2, &e), ENCORE_STATUS_INVALID_ARGUMENT);
    EXPECT_EQ(encore_tokenizer_encode(tok.get(), "x", nullptr, -1, &e), ENCORE_STATUS_INVALID_ARGUMENT);
    EXPECT_EQ(e, nullptr);
}

// ---- bad input ------------------------------------------------------------------

TEST(Tokenizer, InvalidUtf8) {
    Tokenizer tok = load_tokenizer(fixtures::model_dir("tiny-bert-sst"));
    ASSERT_TRUE(tok);
    struct Case {
        const char *name, *text;
        size_t offset;
    } cases[] = {
        {"lone continuation byte", "ok \x80 no", 3},
        {"truncated sequence", "caf\xC3", 3},
        {"truncated in the middle", "ab\xE4\xB8 x", 2},
        {"overlong slash", "a/\xC0\xAF", 2},
        {"overlong 3-byte", "\xE0\x80\xAF", 0},
        {"surrogate", "x\xED\xA0\x80y", 1},
        {"past U+10FFFF", "\xF4\x90\x80\x80", 0},
        {"invalid byte FF", "abc\xFF", 3},
    };
    for (const Case &c : cases) {
        for (int as_pair = 0; as_pair < 2; as_pair++) {
            encore_encoding *e = reinterpret_cast<encore_encoding *>(0x1);
            encore_status st = as_pair ? encore_tokenizer_encode(tok.get(), "fine", c.text, 0, &e)
                                       : encore_tokenizer_encode(tok.get(), c.text, nullptr, 0, &e);
            EXPECT_EQ(st, ENCORE_STATUS_BAD_INPUT) << c.name;
            EXPECT_EQ(e, nullptr) << c.name;
            std::string msg = encore_last_error(), want = "byte offset " + std::to_string(c.offset);
            EXPECT_NE(msg.find(want), std::string::npos) << c.name << ": '" << want << "' not in: " << msg;
            if (as_pair) {
                EXPECT_NE(msg.find("pair"), std::string::npos) << msg;
            }
        }
    }
    // Valid edge cases: the largest code point, U+FFFF, and 4-byte emoji.
    encore_encoding *e = nullptr;
    EXPECT_EQ(encore_tokenizer_encode(tok.get(), "\xF4\x8F\xBF\xBF \xEF\xBF\xBF \xF0\x9F\x98\x80", nullptr, 0, &e),
              ENCORE_STATUS_OK)
        << encore_last_error();
    encore_encoding_free(e);
}

TEST(Tokenizer, NullArguments) {
    Tokenizer tok = load_tokenizer(fixtures::model_dir("tiny-bert-sst"));
    ASSERT_TRUE(tok);
    encore_encoding *e = nullptr;
    EXPECT_EQ(encore_tokenizer_encode(tok.get(), nullptr, nullptr, 0, &e), ENCORE_STATUS_INVALID_ARGUMENT);
    EXPECT_EQ(encore_tokenizer_encode(nullptr, "x", nullptr, 0, &e), ENCORE_STATUS_INVALID_ARGUMENT);
    EXPECT_EQ(encore_tokenizer_encode(tok.get(), "x", nullptr, 0, nullptr), ENCORE_STATUS_INVALID_ARGUMENT);
    encore_tokenizer *t = nullptr;
    EXPECT_EQ(encore_tokenizer_load(nullptr, &t), ENCORE_STATUS_INVALID_ARGUMENT);
    encore_encoding_free(nullptr);
    encore_tokenizer_free(nullptr);
}

// ---- bad model directories ----------------------------------------------------------

// A fresh directory under the system temp dir, removed at the end.
class TempDir {
public:
    TempDir() {
        static int counter = 0;
        path_ = fs::temp_directory_path() /
                ("encore-tok-" + std::to_string(::getpid()) + "-" + std::to_string(counter++));
        fs::remove_all(path_);
        fs::create_directories(path_);
    }
    ~TempDir() { fs::remove_all(path_); }
    std::string path() const { return path_.string(); }
    void write(const std::string &name, const std::string &data) const {
        std::ofstream(path_ / name, std::ios::binary) << data;
    }
    void copy_from(const std::string &dir, const std::string &name) const {
        fs::copy_file(fs::path(dir) / name, path_ / name, fs::copy_options::overwrite_existing);
    }

private:
    fs::path path_;
};

void expect_load_error(const std::string &dir, encore_status status, const std::vector<std::string> &parts) {
    encore_tokenizer *t = reinterpret_cast<encore_tokenizer *>(0x1);
    EXPECT_EQ(encore_tokenizer_load(dir.c_str(), &t), status) << encore_last_error();
    EXPECT_EQ(t, nullptr);
    std::string msg = encore_last_error();
    for (const auto &p : parts) EXPECT_NE(msg.find(p), std::string::npos) << "'" << p << "' not in: " << msg;
}

TEST(TokenizerLoad, MissingDirectory) {
    std::string dir = fixtures::dir() + "/models/no-such-model";
    expect_load_error(dir, ENCORE_STATUS_IO_ERROR, {dir});
}

TEST(TokenizerLoad, NoTokenizerFiles) {
    TempDir d;
    d.write("config.json", "{}");
    expect_load_error(d.path(), ENCORE_STATUS_IO_ERROR, {d.path(), "tokenizer.json", "vocab.txt"});
}

TEST(TokenizerLoad, MalformedTokenizerJson) {
    TempDir d;
    d.write("tokenizer.json", "{\"model\": {\"vocab\": {\"[UNK]\": 0,}");
    expect_load_error(d.path(), ENCORE_STATUS_BAD_MODEL, {d.path() + "/tokenizer.json", "JSON"});
}

TEST(TokenizerLoad, MalformedTokenizerConfig) {
    TempDir d;
    d.copy_from(fixtures::model_dir("tiny-bert-sst"), "tokenizer.json");
    d.write("tokenizer_config.json", "{\"do_lower_case\": tru");
    expect_load_error(d.path(), ENCORE_STATUS_BAD_MODEL, {"tokenizer_config.json", "JSON"});
}

TEST(TokenizerLoad, VocabWithoutSpecialTokens) {
    TempDir d;
    d.write("vocab.txt", "[PAD]\n[UNK]\nhello\n[SEP]\n");  // no [CLS]
    expect_load_error(d.path(), ENCORE_STATUS_BAD_MODEL, {"vocab.txt", "[CLS]"});
    d.write("vocab.txt", "[PAD]\n[CLS]\nhello\n[SEP]\n");  // no [UNK]
    expect_load_error(d.path(), ENCORE_STATUS_BAD_MODEL, {"vocab.txt", "[UNK]"});
}

TEST(TokenizerLoad, TokenizerJsonWithoutVocab) {
    TempDir d;
    d.write("tokenizer.json", "{\"model\": {\"type\": \"WordPiece\"}}");
    expect_load_error(d.path(), ENCORE_STATUS_BAD_MODEL, {"tokenizer.json", "vocab"});
    d.write("tokenizer.json", "{\"model\": {\"type\": \"BPE\", \"vocab\": {}}}");
    expect_load_error(d.path(), ENCORE_STATUS_UNSUPPORTED, {"tokenizer.json", "BPE"});
}

// vocab.txt as tokenizers reads it: one token a line, trailing whitespace
// trimmed, CRLF accepted, a later duplicate taking the token. What
// transformers 5.24 gives for this file: len 8, ids [2, 6, 5, 7, 3] for
// "Hello worlds", and the missing [MASK] added with id 7 (the count of
// distinct tokens), which id_to_token then reports instead of "##s".
TEST(TokenizerLoad, VocabTxtLines) {
    TempDir d;
    d.write("vocab.txt", "[PAD]\r\n[UNK]\n[CLS]  \n[SEP]\nhello\nworld\t\nhello\n##s");
    Tokenizer tok = load_tokenizer(d.path());
    ASSERT_TRUE(tok);
    EXPECT_EQ(encore_tokenizer_vocab_size(tok.get()), 8);
    EXPECT_EQ(encore_tokenizer_token_to_id(tok.get(), "[PAD]"), 0);
    EXPECT_EQ(encore_tokenizer_token_to_id(tok.get(), "[CLS]"), 2);
    EXPECT_EQ(encore_tokenizer_token_to_id(tok.get(), "world"), 5);
    EXPECT_EQ(encore_tokenizer_token_to_id(tok.get(), "hello"), 6);
    EXPECT_EQ(encore_tokenizer_token_to_id(tok.get(), "[MASK]"), 7);
    EXPECT_EQ(encore_tokenizer_id_to_token(tok.get(), 4), nullptr);
    EXPECT_STREQ(encore_tokenizer_id_to_token(tok.get(), 7), "[MASK]");
    EXPECT_EQ(encode_ids(tok.get(), "Hello worlds", nullptr, 0), (std::vector<int>{2, 6, 5, 7, 3}));
}

}  // namespace
