// test_tokenizer.cc: encore's tokenizer against Hugging Face's fast tokenizer.
//
// Every case of every reference dump (tests/fixtures/reference/*.json, made by
// transformers' BertTokenizer) is tokenized with the tokenizer of its model
// directory and must give the same ids, type ids, tokens, sequence ids and
// byte offsets. Then corner cases checked against transformers by hand
// (Unicode-version quirks, added-token options, longest_first splits, vocab.txt
// parsing) and the error paths: bad UTF-8, missing and malformed files.
#include <gtest/gtest.h>

#include <unistd.h>

#include <algorithm>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <memory>
#include <sstream>
#include <string>
#include <vector>

#include "fixtures.h"
#include "temp_dir.h"
#include "tokenizer/tokenizer.h"
#include "tokenizer/tokenizer_internal.h"
#include "tokenizer_helpers.h"

namespace fs = std::filesystem;

namespace {

using namespace tokenizer_test;


// The names of the reference dumps, e.g. "tiny-bert-sst", "tok-cased". A
// NAME.KIND.json (tiny-bert-ner.ner.json, tiny-bert-qa.overflow.json) is
// another kind of dump, a pipeline's or a tokenizer mode's, read by its own
// test.
std::vector<std::string> reference_names() {
    std::vector<std::string> names;
    std::error_code ec;
    for (const auto &e : fs::directory_iterator(fixtures::dir() + "/reference", ec))
        if (e.path().extension() == ".json" && e.path().stem().extension().empty())
            names.push_back(e.path().stem().string());
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
    // An embedding model's cases are cut where sentence-transformers cuts
    // them: at embed_max_length (sentence_bert_config.json's max_seq_length).
    const cJSON *embed_max_length = fixtures::get(root, "embed_max_length");
    const int max_length = (embed_max_length ? embed_max_length : fixtures::get(root, "max_length"))->valueint;
    // A PEFT adapter's tokenizer is its base model's, named relative to it.
    std::string dir = fixtures::model_dir(model);
    if (fs::exists(dir + "/adapter_config.json")) {
        std::ifstream in(dir + "/adapter_config.json");
        const std::string text((std::istreambuf_iterator<char>(in)), {});
        cJSON *cfg = cJSON_Parse(text.c_str());
        const cJSON *base = cJSON_GetObjectItemCaseSensitive(cfg, "base_model_name_or_path");
        ASSERT_TRUE(cJSON_IsString(base)) << dir;
        dir += "/" + std::string(base->valuestring);
        cJSON_Delete(cfg);
    }
    Tokenizer tok = load_tokenizer(dir);
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
        std::vector<int> sequence_ids(enc->sequence_ids, enc->sequence_ids + n), want_sequence_ids;
        const cJSON *sid;
        cJSON_ArrayForEach(sid, fixtures::get(c, "sequence_ids"))
            want_sequence_ids.push_back(cJSON_IsNumber(sid) ? sid->valueint : -1);
        // tokenizers' word_ids(): -1 for its None (special tokens)
        std::vector<int> word_ids(enc->word_ids, enc->word_ids + n);
        const cJSON *want_word_ids = cJSON_GetObjectItemCaseSensitive(c, "word_ids");
        EXPECT_TRUE(cJSON_IsArray(want_word_ids)) << "case " << name << ": the reference has no word_ids";
        std::vector<int> want_offsets;
        const cJSON *pair;
        cJSON_ArrayForEach(pair, fixtures::get(c, "offsets")) {
            want_offsets.push_back(cJSON_GetArrayItem(pair, 0)->valueint);
            want_offsets.push_back(cJSON_GetArrayItem(pair, 1)->valueint);
        }
        std::vector<std::string> want_tokens;
        const cJSON *t;
        cJSON_ArrayForEach(t, fixtures::get(c, "tokens")) want_tokens.push_back(t->valuestring);
        // tokenizers' token for an added token matched in a text is the text
        // it matched, with the spaces an lstrip/rstrip took, which offset
        // trimming (RoBERTa's) then leaves out of the offsets: check that it
        // is those spaces, then the token's own text at the offsets.
        for (size_t i = 0; i < want_tokens.size() && i < tokens.size(); i++) {
            const added_token *a = nullptr;
            for (int k = 0; k < tok->n_added; k++)
                if (tok->added[k].id == ids[i]) a = &tok->added[k];
            if (!a || sequence_ids[i] < 0 || want_tokens[i] == tokens[i]) continue;
            const std::string &w = want_tokens[i];
            size_t lead = 0, trail = 0;
            while (lead < w.size() && isspace((unsigned char)w[lead])) lead++;
            while (trail < w.size() - lead && isspace((unsigned char)w[w.size() - 1 - trail])) trail++;
            const std::string src = sequence_ids[i] ? in.text_pair : in.text;
            const int start = offsets[2 * i], end = offsets[2 * i + 1];
            if (start >= (int)lead && end + trail <= src.size() &&
                src.substr(start - lead, end - start + lead + trail) == w &&
                w.substr(lead, w.size() - lead - trail) == tokens[i])
                tokens[i] = w;  // the same token, as tokenizers names it
            // without offset trimming (XLM-R), the offsets take the spaces too
            if (end <= (int)src.size() && start <= end && src.substr(start, end - start) == w &&
                w.substr(lead, w.size() - lead - trail) == tokens[i])
                tokens[i] = w;
        }

        // tokenizers' token for a Unigram model's unknown piece is the
        // (normalized) text it stands for, a run of unknowns fused; the id
        // is the unknown token's, compared below with the offsets.
        if (tok->model == TOK_UNIGRAM)
            for (size_t i = 0; i < want_tokens.size() && i < tokens.size(); i++)
                if (ids[i] == encore_tokenizer_unk_id(tok.get()) && sequence_ids[i] >= 0) tokens[i] = want_tokens[i];

        expect_same("ids", ids, ints(fixtures::get(c, "ids")), name);
        expect_same("type_ids", type_ids, ints(fixtures::get(c, "type_ids")), name);
        expect_same("tokens", tokens, want_tokens, name);
        expect_same("offsets", offsets, want_offsets, name);
        expect_same("sequence_ids", sequence_ids, want_sequence_ids, name);
        if (cJSON_IsArray(want_word_ids)) expect_same("word_ids", word_ids, ints(want_word_ids), name);
        if (truncate) {
            EXPECT_LE(n, max_length) << "case " << name;
            encore_encoding *whole = nullptr;
            ASSERT_EQ(encore_tokenizer_encode(tok.get(), in.text, in.text_pair, 0, &whole), ENCORE_STATUS_OK);
            EXPECT_EQ(enc->n_untruncated, whole->n_tokens) << "case " << name;
            encore_encoding_free(whole);
        } else {
            EXPECT_EQ(enc->n_untruncated, n) << "case " << name;
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

// ---- corner cases, checked against transformers ------------------------------

// Expected ids and byte offsets from transformers 5.24.0 / tokenizers 0.23.3
// (the versions the fixtures were made with), e.g.
//   t = AutoTokenizer.from_pretrained("tests/fixtures/models/tiny-bert-sst")
//   e = t(text, return_offsets_mapping=True)   # then char -> byte offsets
struct Expected {
    const char *model, *text;
    std::vector<int> ids, offsets;  // offsets flattened: start, end, ...
};

void expect_encoding(encore_tokenizer *tok, const Expected &x) {
    encore_encoding *raw = nullptr;
    ASSERT_EQ(encore_tokenizer_encode(tok, x.text, nullptr, 0, &raw), ENCORE_STATUS_OK) << encore_last_error();
    Encoding e(raw);
    std::vector<int> ids(e->ids, e->ids + e->n_tokens), offsets(e->offsets, e->offsets + 2 * e->n_tokens);
    expect_same("ids", ids, x.ids, std::string(x.model) + " \"" + x.text + "\"");
    expect_same("offsets", offsets, x.offsets, std::string(x.model) + " \"" + x.text + "\"");
}

TEST(Tokenizer, UnicodeCornerCases) {
    const std::vector<Expected> cases = {
        // NFD reorders U+1D165 (class 216) before U+0301 (230); tokenizers
        // aligns by position, so the word's end is U+1D165's, not U+1D16D's.
        {"tiny-bert-sst", "e\u0301\U0001D165\U0001D16D x", {2, 1, 77, 3}, {0, 0, 0, 7, 12, 13, 0, 0}},
        {"tok-keep-accents", "e\u0301\U0001D165\U0001D16D x", {2, 1, 77, 3}, {0, 0, 0, 11, 12, 13, 0, 0}},
        // U+08CE (Unicode 14) is no mark to tokenizers' NFD: no reordering.
        {"tiny-bert-sst", "K\u0345\u08CE k", {2, 1, 64, 3}, {0, 0, 0, 6, 7, 8, 0, 0}},
        // U+2B820 is outside tokenizers' CJK ranges, U+2B920 inside.
        {"tiny-bert-sst", "\U0002B820\U0002B920 a", {2, 1, 1, 54, 3}, {0, 0, 0, 4, 4, 8, 9, 10, 0, 0}},
        // Unassigned U+0378 and U+0890 (a Cf of Unicode 14) are kept.
        {"tiny-bert-sst", "ab\u0378cd \u0890ef", {2, 1, 1, 3}, {0, 0, 0, 6, 7, 12, 0, 0}},
        // ZWSP, soft hyphen, U+2066 and U+FFFD are dropped.
        {"tiny-bert-sst", "a\u200Bb\u00ADc\u2066d\uFFFDe", {2, 445, 181, 683, 3}, {0, 0, 0, 5, 7, 8, 11, 16, 0, 0}},
        // U+0130 lowercases to "i" U+0307; without accent stripping both
        // characters point at the two bytes of U+0130.
        {"tiny-bert-sst", "\u0130stanbul I\u0307i", {2, 352, 198, 335, 180, 359, 62, 187, 3},
         {0, 0, 0, 3, 3, 4, 4, 6, 6, 7, 7, 9, 10, 11, 13, 14, 0, 0}},
        {"tok-keep-accents", "\u0130stanbul I\u0307i", {2, 62, 217, 354, 335, 180, 359, 62, 217, 187, 3},
         {0, 0, 0, 2, 0, 2, 2, 4, 4, 6, 6, 7, 7, 9, 10, 11, 11, 13, 13, 14, 0, 0}},
        {"tok-cased", "\u0130stanbul I\u0307i", {2, 85, 354, 335, 180, 359, 40, 217, 187, 3},
         {0, 0, 0, 2, 2, 4, 4, 6, 6, 7, 7, 9, 10, 11, 11, 13, 13, 14, 0, 0}},
        // Hangul decomposes to jamo under NFD; U+1E9B U+0323 has a mark
        // that reorders.
        {"tiny-bert-sst", "\uD55C\uAD6D\uC5B4 \u1E9B\u0323", {2, 1, 1, 3}, {0, 0, 0, 9, 10, 13, 0, 0}},
        {"tok-keep-accents", "\uD55C\uAD6D\uC5B4 \u1E9B\u0323", {2, 1, 1, 3}, {0, 0, 0, 9, 10, 15, 0, 0}},
    };
    for (const Expected &x : cases) {
        Tokenizer tok = load_tokenizer(fixtures::model_dir(x.model));
        ASSERT_TRUE(tok);
        expect_encoding(tok.get(), x);
    }
}

// Added tokens from tokenizer_config.json's added_tokens_decoder with every
// option: normalized ("Café Noir" also matches "café noir"), lstrip/rstrip
// (taking the spaces around them), single_word ("yo" not inside "yoyo" or
// "_yo").
TEST(Tokenizer, AddedTokenOptions) {
    TempDir d("encore-tok");
    d.copy_from(fixtures::model_dir("tiny-bert-sst"), "vocab.txt");
    auto entry = [](int id, const char *content, bool lstrip, bool normalized, bool rstrip, bool single_word,
                    bool special) {
        auto b = [](bool v) { return v ? "true" : "false"; };
        return "\"" + std::to_string(id) + "\": {\"content\": \"" + content + "\", \"lstrip\": " + b(lstrip) +
               ", \"normalized\": " + b(normalized) + ", \"rstrip\": " + b(rstrip) +
               ", \"single_word\": " + b(single_word) + ", \"special\": " + b(special) + "}";
    };
    d.write("tokenizer_config.json",
            "{\"tokenizer_class\": \"BertTokenizer\", \"do_lower_case\": true, \"added_tokens_decoder\": {" +
                entry(0, "[PAD]", false, false, false, false, true) + ", " +
                entry(1, "[UNK]", false, false, false, false, true) + ", " +
                entry(2, "[CLS]", false, false, false, false, true) + ", " +
                entry(3, "[SEP]", false, false, false, false, true) + ", " +
                entry(4, "[MASK]", true, false, false, false, true) + ", " +
                entry(1500, "Caf\u00e9 Noir", false, true, false, false, false) + ", " +
                entry(1501, "<x>", true, false, true, false, false) + ", " +
                entry(1502, "yo", false, false, false, true, false) + ", " +
                entry(1503, "@@", false, true, true, false, false) + "}}");
    Tokenizer tok = load_tokenizer(d.path());
    ASSERT_TRUE(tok);
    EXPECT_EQ(encore_tokenizer_vocab_size(tok.get()), 1504);
    EXPECT_STREQ(encore_tokenizer_id_to_token(tok.get(), 1501), "<x>");
    const std::vector<Expected> cases = {
        {"added", "hi Caf\u00e9 Noir <x>  yo yoyo _yo @@  a", {2, 800, 1500, 1501, 1502, 78, 612, 193, 1, 78, 193, 1503, 54, 3},
         {0, 0, 0, 2, 3, 13, 13, 19, 19, 21, 22, 23, 23, 25, 25, 26, 27, 28, 28, 29, 29, 30, 31, 35, 35, 36, 0, 0}},
        {"added", "CAFE  noir<x>yo", {2, 820, 602, 567, 382, 1501, 1502, 3},
         {0, 0, 0, 2, 2, 4, 6, 8, 8, 10, 10, 13, 13, 15, 0, 0}},
        {"added", "x[UNK]y caf\u00e9 noir  [MASK]!", {2, 77, 1, 78, 1500, 4, 5, 3},
         {0, 0, 0, 1, 1, 6, 6, 7, 8, 18, 18, 26, 26, 27, 0, 0}},
    };
    for (const Expected &x : cases) expect_encoding(tok.get(), x);
}

// ---- chunked encoding ------------------------------------------------------------

// The encoder normalizes and splits a text a chunk at a time (16 KiB), and
// keeps only the pieces an encoding can hold (the first, or with left
// truncation the last, in a ring), so that a long text needs bounded
// scratch. Each must give exactly what one pass keeping every piece gives
// (the tests' reference mode): with tiny chunks, every text of every
// fixture, alone, in pairs, repeated into long texts, and texts made to reach
// the cuts' edge cases (words longer than max_input_chars_per_word across
// chunks, runs of combining marks, dropped control characters among marks,
// CJK without spaces, added tokens) must encode identically, ids, types,
// sequence ids and offsets, truncated or not.
struct EncodingValue {
    encore_status status;
    std::vector<int32_t> ids, types, seqs, offsets;
    int32_t untruncated = 0;
    bool operator==(const EncodingValue &o) const {
        return status == o.status && ids == o.ids && types == o.types && seqs == o.seqs && offsets == o.offsets &&
               untruncated == o.untruncated;
    }
};

EncodingValue encode_value(encore_tokenizer *tok, const std::string &a, const std::string *b, int max_len,
                           int left = 0) {
    encore_encoding *raw = nullptr;
    EncodingValue v;
    v.status = encore_tokenizer_encode_side(tok, a.c_str(), b ? b->c_str() : nullptr, max_len, left, &raw);
    Encoding e(raw);
    if (e) {
        v.ids.assign(e->ids, e->ids + e->n_tokens);
        v.types.assign(e->type_ids, e->type_ids + e->n_tokens);
        v.seqs.assign(e->sequence_ids, e->sequence_ids + e->n_tokens);
        v.offsets.assign(e->offsets, e->offsets + 2 * e->n_tokens);
        v.untruncated = e->n_untruncated;
    }
    return v;
}

std::vector<std::string> chunk_test_texts() {
    std::vector<std::string> texts;
    for (const std::string &name : reference_names()) {
        auto ref = fixtures::load(name);
        if (!ref) continue;
        const cJSON *c;
        cJSON_ArrayForEach(c, fixtures::get(ref->root, "cases")) {
            const cJSON *t = fixtures::get(c, "text");
            if (cJSON_IsString(t)) texts.push_back(t->valuestring);
        }
    }
    std::sort(texts.begin(), texts.end());
    texts.erase(std::unique(texts.begin(), texts.end()), texts.end());
    std::string all;
    for (const auto &t : texts) all += t + (all.size() % 3 ? " " : "");
    texts.push_back(all);
    const std::string marks = "\xcc\x81\xcc\xa3\xcd\x85\xcc\x81\xcc\xa3";  // U+0301 (230), U+0323 (220), U+0345 (240)
    std::string many_marks = "A";
    for (int i = 0; i < 40; i++) many_marks += marks;
    texts.push_back(many_marks + " caf\xc3\xa9 " + many_marks + "b" + marks);
    texts.push_back("a\xcc\x81\xe2\x80\x8b\xcc\xa3 x\xcc\x81\x01\xcc\xa3 e\xcc\x81\xf0\x9d\x85\xa5\xcc\xa3");
    texts.push_back(std::string(250, 'a') + " " + std::string(99, 'b') + " " + std::string(101, 'c') + ",d" +
                    std::string(300, 'e') + "!");
    texts.push_back("\xe4\xbd\xa0\xe5\xa5\xbd\xe4\xb8\x96\xe7\x95\x8c\xe4\xbd\xa0\xe5\xa5\xbd" + std::string(120, 'x') +
                    "\xe4\xb8\x96\xe7\x95\x8c");
    texts.push_back("[CLS]hello[SEP] [MASK]  x[UNK]y [MASK]" + std::string(130, 'z') + "[SEP]");
    texts.push_back("\xc4\xb0stanbul \xc3\x9f \xef\xac\x81 \xe2\x80\x83\ttab\r\nnew \x7f\x7f end");
    return texts;
}

TEST(Tokenizer, ChunkedEncodingEqualsOnePass) {
    std::vector<std::string> dirs;
    for (const auto &e : fs::directory_iterator(fixtures::dir() + "/models"))
        if (fs::exists(e.path() / "vocab.txt") || fs::exists(e.path() / "tokenizer.json"))
            dirs.push_back(e.path().string());
    std::sort(dirs.begin(), dirs.end());
    const std::vector<std::string> texts = chunk_test_texts();
    size_t compared = 0;
    for (const std::string &dir : dirs) {
        Tokenizer tok = load_tokenizer(dir);
        ASSERT_TRUE(tok);
        for (size_t i = 0; i < texts.size(); i++) {
            const std::string *pair = i % 3 == 1 ? &texts[(i * 7) % texts.size()] : nullptr;
            for (int max_len : {0, 17, -17}) {  // -17: 17, truncating on the left
                const int left = max_len < 0;
                encore_tok_set_chunk_bytes(SIZE_MAX);  // one pass, every piece kept
                const EncodingValue want = encode_value(tok.get(), texts[i], pair, std::abs(max_len), left);
                for (size_t chunk : {1, 2, 3, 5, 8, 13, 64, 16384}) {
                    encore_tok_set_chunk_bytes(chunk);
                    const EncodingValue got = encode_value(tok.get(), texts[i], pair, std::abs(max_len), left);
                    compared++;
                    if (!(got == want)) {
                        ADD_FAILURE() << fs::path(dir).filename() << ", text " << i << (pair ? " with a pair" : "")
                                      << ", max_len " << max_len << ", chunks of " << chunk << " bytes: ids "
                                      << show(got.ids) << " want " << show(want.ids) << "; offsets "
                                      << show(got.offsets) << " want " << show(want.offsets) << "; untruncated "
                                      << got.untruncated << " want " << want.untruncated;
                        break;
                    }
                }
            }
        }
    }
    encore_tok_set_chunk_bytes(0);
    EXPECT_GT(compared, 1000u);
}

// The limit of a caller that refuses long inputs: the count without the
// tokens, the same count as a full encoding.
TEST(Tokenizer, BoundedEncodingCountsWhatItRefuses) {
    Tokenizer tok = load_tokenizer(fixtures::model_dir("tiny-bert-sst"));
    ASSERT_TRUE(tok);
    std::string text;
    for (int i = 0; i < 5000; i++) text += "the film was good ";
    encore_encoding *raw = nullptr;
    ASSERT_EQ(encore_tokenizer_encode(tok.get(), text.c_str(), nullptr, 0, &raw), ENCORE_STATUS_OK);
    Encoding full(raw);
    int32_t n = 0;
    raw = nullptr;
    EXPECT_EQ(encore_tokenizer_encode_bounded(tok.get(), text.c_str(), nullptr, 0, 0, 64, &raw, &n),
              ENCORE_STATUS_TOO_LONG);
    EXPECT_EQ(raw, nullptr);
    EXPECT_EQ(n, full->n_tokens);
    EXPECT_EQ(encore_tokenizer_encode_bounded(tok.get(), "the film", nullptr, 0, 0, 64, &raw, &n), ENCORE_STATUS_OK);
    Encoding small(raw);
    ASSERT_TRUE(small);
    EXPECT_EQ(small->n_tokens, n);
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


TEST(TokenizerLoad, MissingDirectory) {
    std::string dir = fixtures::dir() + "/models/no-such-model";
    expect_load_error(dir, ENCORE_STATUS_IO_ERROR, {dir});
}

TEST(TokenizerLoad, NoTokenizerFiles) {
    TempDir d("encore-tok");
    d.write("config.json", "{}");
    expect_load_error(d.path(), ENCORE_STATUS_IO_ERROR, {d.path(), "tokenizer.json", "vocab.txt"});
}

TEST(TokenizerLoad, MalformedTokenizerJson) {
    TempDir d("encore-tok");
    d.write("tokenizer.json", "{\"model\": {\"vocab\": {\"[UNK]\": 0,}");
    expect_load_error(d.path(), ENCORE_STATUS_BAD_MODEL, {d.path() + "/tokenizer.json", "JSON"});
}

TEST(TokenizerLoad, MalformedTokenizerConfig) {
    TempDir d("encore-tok");
    d.copy_from(fixtures::model_dir("tiny-bert-sst"), "tokenizer.json");
    d.write("tokenizer_config.json", "{\"do_lower_case\": tru");
    expect_load_error(d.path(), ENCORE_STATUS_BAD_MODEL, {"tokenizer_config.json", "JSON"});
}

TEST(TokenizerLoad, VocabWithoutSpecialTokens) {
    TempDir d("encore-tok");
    d.write("vocab.txt", "[PAD]\n[UNK]\nhello\n[SEP]\n");  // no [CLS]
    expect_load_error(d.path(), ENCORE_STATUS_BAD_MODEL, {"vocab.txt", "[CLS]"});
    d.write("vocab.txt", "[PAD]\n[CLS]\nhello\n[SEP]\n");  // no [UNK]
    expect_load_error(d.path(), ENCORE_STATUS_BAD_MODEL, {"vocab.txt", "[UNK]"});
}

TEST(TokenizerLoad, TokenizerJsonWithoutVocab) {
    TempDir d("encore-tok");
    d.write("tokenizer.json", "{\"model\": {\"type\": \"WordPiece\"}}");
    expect_load_error(d.path(), ENCORE_STATUS_BAD_MODEL, {"tokenizer.json", "vocab"});
    d.write("tokenizer.json", "{\"model\": {\"type\": \"BPE\"}, \"pre_tokenizer\": {\"type\": \"ByteLevel\"}}");
    expect_load_error(d.path(), ENCORE_STATUS_BAD_MODEL, {"tokenizer.json", "vocab"});
    d.write("tokenizer.json", "{\"model\": {\"type\": \"Unigram\", \"vocab\": []}}");
    expect_load_error(d.path(), ENCORE_STATUS_BAD_MODEL, {"tokenizer.json", "vocab", "empty"});
    d.write("tokenizer.json", "{\"model\": {\"type\": \"WordLevel\", \"vocab\": {}}}");
    expect_load_error(d.path(), ENCORE_STATUS_UNSUPPORTED, {"tokenizer.json", "WordLevel"});
}

// vocab.txt as tokenizers reads it: one token a line, trailing whitespace
// trimmed, CRLF accepted, a later duplicate taking the token. What
// transformers 5.24 gives for this file: len 8, ids [2, 6, 5, 7, 3] for
// "Hello worlds", and the missing [MASK] added with id 7 (the count of
// distinct tokens), which id_to_token then reports instead of "##s".
TEST(TokenizerLoad, VocabTxtLines) {
    TempDir d("encore-tok");
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
