// test_tokenizer_bpe.cc: encore's byte-level BPE (RoBERTa) against Hugging
// Face tokenizers 0.23.3 / transformers 5.24.0.
//
// The reference dumps (tests/fixtures/reference/tiny-roberta-*.json) are
// checked by test_tokenizer.cc; here, the settings they do not cover, each
// made by rewriting the fixture's tokenizer.json in a temp dir: merges
// written "a b", ignore_merges, add_prefix_space, an unk_token; the
// vocab.json + merges.txt layout; decoding; the settings encore refuses and
// crafted files; long inputs. Expected values come from tokenizers itself,
// with the Python quoted above each table; offsets there are tokenizers'
// character offsets made byte offsets:
//
//   import json, copy
//   from tokenizers import Tokenizer
//   base = json.load_tokenizer(open("tests/fixtures/models/tiny-roberta-sst/tokenizer.json"))
//   def tk(mod):
//       j = copy.deepcopy(base); mod(j); return Tokenizer.from_str(json.dumps(j))
//   def show(t, text, pair=None):
//       e = t.encode(text, pair)
//       cb = lambda s, o: len(s[:o].encode())
//       offs = []
//       for (s, e2), sid in zip(e.offsets, e.sequence_ids):
//           src = text if sid in (0, None) else pair
//           offs += [cb(src, s), cb(src, e2)]
//       print(e.ids, offs)
#include <gtest/gtest.h>

#include <unistd.h>

#include <chrono>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <functional>
#include <memory>
#include <sstream>
#include <string>
#include <vector>

#include "fixtures.h"
#include "temp_dir.h"
#include "tokenizer_helpers.h"
#include "tokenizer/tokenizer.h"
#include "tokenizer/tokenizer_internal.h"
#include "tokenizer/unicode.h"

namespace fs = std::filesystem;

namespace {

using namespace tokenizer_test;


const std::string &roberta_dir() {
    static const std::string dir = fixtures::model_dir("tiny-roberta-sst");
    return dir;
}




// The fixture's tokenizer.json, changed by edit, in a temp dir of its own
// (with the fixture's tokenizer_config.json).
void write_tokenizer_json(const TempDir &d, const std::function<void(cJSON *)> &edit) {
    cJSON *j = cJSON_Parse(read_file(roberta_dir() + "/tokenizer.json").c_str());
    ASSERT_NE(j, nullptr);
    edit(j);
    char *s = cJSON_PrintUnformatted(j);
    d.write("tokenizer.json", s);
    cJSON_free(s);
    cJSON_Delete(j);
    d.copy_from(roberta_dir(), "tokenizer_config.json");
}



struct Expected {
    const char *text, *pair;
    std::vector<int> ids, offsets;  // offsets flattened: start, end, ...
};

void expect_encoding(encore_tokenizer *tok, const Expected &x) {
    encore_encoding *raw = nullptr;
    ASSERT_EQ(encore_tokenizer_encode(tok, x.text, x.pair, 0, &raw), ENCORE_STATUS_OK) << encore_last_error();
    Encoding e(raw);
    EXPECT_EQ(std::vector<int>(e->ids, e->ids + e->n_tokens), x.ids) << "\"" << x.text << "\"";
    EXPECT_EQ(std::vector<int>(e->offsets, e->offsets + 2 * e->n_tokens), x.offsets) << "\"" << x.text << "\"";
}

struct Value {
    encore_status status;
    std::vector<int> ids, types, seqs, offsets;
    int untruncated = 0;
    bool operator==(const Value &o) const {
        return status == o.status && ids == o.ids && types == o.types && seqs == o.seqs && offsets == o.offsets &&
               untruncated == o.untruncated;
    }
};

Value encode(encore_tokenizer *tok, const char *text, const char *pair, int max_len = 0, int left = 0) {
    encore_encoding *raw = nullptr;
    Value v;
    v.status = encore_tokenizer_encode_side(tok, text, pair, max_len, left, &raw);
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

// Every text and pair of the fixture's reference cases.
struct RefCase {
    std::string name, text, pair;
    bool has_pair;
};
std::vector<RefCase> reference_cases() {
    std::vector<RefCase> out;
    auto ref = fixtures::load("tiny-roberta-sst");
    EXPECT_TRUE(ref && ref->root);
    if (!ref || !ref->root) return out;
    const cJSON *c;
    cJSON_ArrayForEach(c, fixtures::get(ref->root, "cases")) {
        if (fixtures::has_nul(c)) continue;
        const cJSON *p = fixtures::get(c, "text_pair");
        out.push_back({fixtures::str(c, "name"), fixtures::str(c, "text"),
                       cJSON_IsString(p) ? p->valuestring : "", cJSON_IsString(p) != 0});
    }
    return out;
}

// Two tokenizers agree on every reference case, cut or not (but for the
// cases named in except).
void expect_same_encodings(encore_tokenizer *a, encore_tokenizer *b, const std::vector<std::string> &except = {}) {
    int n = 0;
    for (const RefCase &c : reference_cases()) {
        if (std::find(except.begin(), except.end(), c.name) != except.end()) continue;
        const char *pair = c.has_pair ? c.pair.c_str() : nullptr;
        for (int max_len : {0, 9}) {
            EXPECT_TRUE(encode(a, c.text.c_str(), pair, max_len) == encode(b, c.text.c_str(), pair, max_len))
                << c.name << " max_len " << max_len;
            n++;
        }
    }
    EXPECT_GT(n, 80);
}

// ---- the fixture's tokenizer ---------------------------------------------------

TEST(Bpe, LoadsAsBpe) {
    Tokenizer tok = load_tokenizer(roberta_dir());
    ASSERT_TRUE(tok);
    EXPECT_EQ(tok->model, TOK_BPE);
    EXPECT_EQ(encore_tokenizer_vocab_size(tok.get()), 1200);
    EXPECT_EQ(encore_tokenizer_unk_id(tok.get()), 3);
    EXPECT_EQ(encore_tokenizer_token_to_id(tok.get(), "<mask>"), 4);
    EXPECT_STREQ(encore_tokenizer_id_to_token(tok.get(), 225), "\xc4\xa0");  // 'Ġ'
    EXPECT_TRUE(encore_tokenizer_is_special(tok.get(), 0));
    EXPECT_FALSE(encore_tokenizer_is_special(tok.get(), 225));
}

// RobertaProcessing: <s> A </s> </s> B </s>, every type id 0; the budget of
// a pair is max_len - 4.
TEST(Bpe, PairTemplateAndTruncation) {
    Tokenizer tok = load_tokenizer(roberta_dir());
    ASSERT_TRUE(tok);
    Value v = encode(tok.get(), "the film", "was good fun", 7);
    EXPECT_EQ(v.ids.size(), 7u);
    EXPECT_EQ(v.types, std::vector<int>(7, 0));
    EXPECT_EQ(v.seqs, (std::vector<int>{-1, 0, -1, -1, 1, 1, -1}));
    EXPECT_EQ(v.untruncated, 10);
    encore_encoding *e = nullptr;
    EXPECT_EQ(encore_tokenizer_encode(tok.get(), "x", "y", 3, &e), ENCORE_STATUS_INVALID_ARGUMENT);
}

// Left truncation keeps the last tokens; the first kept one is trimmed like
// any other (the add_prefix_space exception is off here).
TEST(Bpe, LeftTruncation) {
    Tokenizer tok = load_tokenizer(roberta_dir());
    ASSERT_TRUE(tok);
    Value whole = encode(tok.get(), "  two  spaces   three", nullptr);
    Value left = encode(tok.get(), "  two  spaces   three", nullptr, 5, 1);
    ASSERT_EQ(left.ids.size(), 5u);
    EXPECT_EQ(std::vector<int>(left.ids.begin() + 1, left.ids.end() - 1),
              std::vector<int>(whole.ids.end() - 4, whole.ids.end() - 1));
    EXPECT_EQ(std::vector<int>(left.offsets.begin() + 2, left.offsets.end() - 2),
              std::vector<int>(whole.offsets.end() - 8, whole.offsets.end() - 2));
}

// ---- settings of tokenizer.json --------------------------------------------------

// tokenizers >= 0.20 writes merges as ["a", "b"]; older files as "a b".
TEST(Bpe, StringMergesEqualPairMerges) {
    TempDir d("encore-bpe");
    write_tokenizer_json(d, [](cJSON *j) {
        cJSON *merges = cJSON_GetObjectItemCaseSensitive(model_of(j), "merges");
        cJSON *strings = cJSON_CreateArray();
        cJSON *m;
        cJSON_ArrayForEach(m, merges) {
            std::string s = std::string(cJSON_GetArrayItem(m, 0)->valuestring) + " " + cJSON_GetArrayItem(m, 1)->valuestring;
            cJSON_AddItemToArray(strings, cJSON_CreateString(s.c_str()));
        }
        set(model_of(j), "merges", strings);
    });
    Tokenizer a = load_tokenizer(roberta_dir()), b = load_tokenizer(d.path());
    ASSERT_TRUE(a && b);
    expect_same_encodings(a.get(), b.get());
}

// ignore_merges: a piece that is a vocabulary entry is that token. The
// vocabulary gets "Ġhello" (id 1200), which no merge makes.
//   def im(j, flag): j["model"]["vocab"]["Ġhello"] = 1200; j["model"]["ignore_merges"] = flag
//   show(tk(lambda j: im(j, True)), "say hello hello, hellos")
TEST(Bpe, IgnoreMerges) {
    for (bool flag : {true, false}) {
        TempDir d("encore-bpe");
        write_tokenizer_json(d, [&](cJSON *j) {
            cJSON_AddItemToObject(cJSON_GetObjectItemCaseSensitive(model_of(j), "vocab"), "\xc4\xa0hello",
                                  cJSON_CreateNumber(1200));
            set(model_of(j), "ignore_merges", cJSON_CreateBool(flag));
        });
        Tokenizer tok = load_tokenizer(d.path());
        ASSERT_TRUE(tok);
        if (flag)
            expect_encoding(tok.get(), {"say hello hello, hellos", nullptr, {0, 87, 360, 1200, 1200, 16, 400, 736, 597, 2},
                                        {0, 0, 0, 1, 1, 3, 4, 9, 10, 15, 15, 16, 17, 19, 19, 21, 21, 23, 0, 0}});
        else
            expect_encoding(tok.get(), {"say hello hello, hellos", nullptr,
                                        {0, 87, 360, 400, 736, 83, 400, 736, 83, 16, 400, 736, 597, 2},
                                        {0, 0, 0, 1, 1, 3, 4, 6, 6, 8, 8, 9, 10, 12, 12, 14, 14, 15, 15, 16, 17, 19,
                                         19, 21, 21, 23, 0, 0}});
    }
}

// add_prefix_space in the pre-tokenizer: a space before each split of text
// that has none, aligned to the split's first character. Trimming then takes
// it off the offsets unless the post-processor's own add_prefix_space keeps
// one on a first token (first of its sequence, or at offset 0).
//   show(tk(lambda j: j["pre_tokenizer"].update(add_prefix_space=True)), text)
//   def both(j): j["pre_tokenizer"].update(add_prefix_space=True); j["post_processor"].update(add_prefix_space=True)
//   show(tk(both), text)
TEST(Bpe, AddPrefixSpace) {
    for (bool post : {false, true}) {
        TempDir d("encore-bpe");
        write_tokenizer_json(d, [&](cJSON *j) {
            set(cJSON_GetObjectItemCaseSensitive(j, "pre_tokenizer"), "add_prefix_space", cJSON_CreateTrue());
            set(cJSON_GetObjectItemCaseSensitive(j, "post_processor"), "add_prefix_space", cJSON_CreateBool(post));
        });
        Tokenizer tok = load_tokenizer(d.path());
        ASSERT_TRUE(tok);
        const std::vector<Expected> pre_only = {
            {"hello world", nullptr, {0, 400, 736, 83, 807, 2}, {0, 0, 1, 2, 2, 4, 4, 5, 6, 11, 0, 0}},
            {"<mask>hello", nullptr, {0, 4, 400, 736, 83, 2}, {0, 0, 0, 6, 7, 8, 8, 10, 10, 11, 0, 0}},
            {"\u00e9t\u00e9 <s>x", nullptr, {0, 225, 830, 88, 830, 225, 0, 225, 92, 2},
             {0, 0, 2, 2, 0, 2, 2, 3, 3, 5, 6, 6, 6, 9, 10, 10, 9, 10, 0, 0}},
            {"  two", nullptr, {0, 225, 863, 2}, {0, 0, 1, 1, 2, 5, 0, 0}},
        };
        const std::vector<Expected> both = {
            {"hello world", nullptr, {0, 400, 736, 83, 807, 2}, {0, 0, 0, 2, 2, 4, 4, 5, 6, 11, 0, 0}},
            {"<mask>hello", nullptr, {0, 4, 400, 736, 83, 2}, {0, 0, 0, 6, 7, 8, 8, 10, 10, 11, 0, 0}},
            {"\u00e9t\u00e9 <s>x", nullptr, {0, 225, 830, 88, 830, 225, 0, 225, 92, 2},
             {0, 0, 0, 0, 0, 2, 2, 3, 3, 5, 6, 6, 6, 9, 10, 10, 9, 10, 0, 0}},
            {"  two", nullptr, {0, 225, 863, 2}, {0, 0, 0, 0, 2, 5, 0, 0}},
            {"hello", "world there", {0, 400, 736, 83, 2, 2, 807, 1092, 2},
             {0, 0, 0, 2, 2, 4, 4, 5, 0, 0, 0, 0, 0, 5, 6, 11, 0, 0}},
        };
        for (const Expected &x : post ? both : pre_only) expect_encoding(tok.get(), x);
    }
}

// A byte char missing from the vocabulary: the unk_token when there is one
// (fused into one with fuse_unk), else nothing, the symbols after it taking
// its place in the offsets (tokenizers' Word::get_offsets). "Ã" and "©" (the
// two byte chars of "é") are taken out, with their merges.
//   def unk(j, fuse):
//       v = j["model"]["vocab"]
//       for k in ["Ã", "©"]: del v[k]
//       j["model"]["merges"] = [m for m in j["model"]["merges"] if "Ã" not in "".join(m) and "©" not in "".join(m)]
//       j["model"]["unk_token"] = "<unk>"; j["model"]["fuse_unk"] = fuse
//   show(tk(lambda j: unk(j, False)), "café éé the")   # and True; and unk_token None
TEST(Bpe, MissingByteChars) {
    for (int mode = 0; mode < 3; mode++) {  // unk, fused unk, no unk
        TempDir d("encore-bpe");
        write_tokenizer_json(d, [&](cJSON *j) {
            cJSON *m = model_of(j);
            cJSON *v = cJSON_GetObjectItemCaseSensitive(m, "vocab");
            cJSON_DeleteItemFromObjectCaseSensitive(v, "\xc3\x83");
            cJSON_DeleteItemFromObjectCaseSensitive(v, "\xc2\xa9");
            cJSON *merges = cJSON_GetObjectItemCaseSensitive(m, "merges"), *kept = cJSON_CreateArray();
            cJSON *x;
            cJSON_ArrayForEach(x, merges) {
                std::string s = std::string(cJSON_GetArrayItem(x, 0)->valuestring) + cJSON_GetArrayItem(x, 1)->valuestring;
                if (s.find("\xc3\x83") == std::string::npos && s.find("\xc2\xa9") == std::string::npos)
                    cJSON_AddItemToArray(kept, cJSON_Duplicate(x, 1));
            }
            set(m, "merges", kept);
            set(m, "unk_token", mode == 2 ? cJSON_CreateNull() : cJSON_CreateString("<unk>"));
            set(m, "fuse_unk", cJSON_CreateBool(mode == 1));
        });
        Tokenizer tok = load_tokenizer(d.path());
        ASSERT_TRUE(tok);
        const Expected want[3] = {
            {"caf\u00e9 \u00e9\u00e9 the", nullptr, {0, 71, 69, 74, 3, 3, 225, 3, 3, 3, 3, 272, 2},
             {0, 0, 0, 1, 1, 2, 2, 3, 3, 5, 3, 5, 6, 6, 6, 8, 6, 8, 8, 10, 8, 10, 11, 14, 0, 0}},
            {"caf\u00e9 \u00e9\u00e9 the", nullptr, {0, 71, 69, 74, 3, 225, 3, 272, 2},
             {0, 0, 0, 1, 1, 2, 2, 3, 3, 5, 6, 6, 6, 10, 11, 14, 0, 0}},
            {"caf\u00e9 \u00e9\u00e9 the", nullptr, {0, 71, 69, 74, 225, 272, 2},
             {0, 0, 0, 1, 1, 2, 2, 3, 6, 6, 11, 14, 0, 0}},
        };
        expect_encoding(tok.get(), want[mode]);
    }
}

// ---- vocab.json + merges.txt -------------------------------------------------------

// The slow-tokenizer layout, as transformers 5.24's RobertaTokenizer loads
// it: the same encodings as tokenizer.json, except that <mask> is no longer
// lstrip (transformers 5 makes the named tokens of tokenizer_config.json
// plain AddedTokens):
//   t = AutoTokenizer.from_pretrained(dir_with_vocab_merges_and_config)
//   t.added_tokens_decoder[4]  # AddedToken("<mask>", lstrip=False, ...)
//   e = t("<s> hi </s> there <mask> and<mask>x <pad><unk>", return_offsets_mapping=True)
TEST(Bpe, VocabJsonAndMergesTxt) {
    TempDir d("encore-bpe");
    for (const char *f : {"vocab.json", "merges.txt", "tokenizer_config.json"}) d.copy_from(roberta_dir(), f);
    Tokenizer a = load_tokenizer(roberta_dir()), b = load_tokenizer(d.path());
    ASSERT_TRUE(a && b);
    EXPECT_EQ(b->model, TOK_BPE);
    EXPECT_EQ(encore_tokenizer_vocab_size(b.get()), 1200);
    expect_same_encodings(a.get(), b.get(), {"bpe_specials_literal"});
    expect_encoding(b.get(), {"<s> hi </s> there <mask> and<mask>x <pad><unk>", nullptr,
                              {0, 0, 299, 77, 225, 2, 1092, 225, 4, 285, 4, 92, 225, 1, 3, 2},
                              {0, 0, 0, 3, 4, 5, 5, 6, 7, 7, 7, 11, 12, 17, 18, 18, 18, 24, 25, 28, 28, 34, 34, 35, 36,
                               36, 36, 41, 41, 46, 0, 0}});
    // Without tokenizer_config.json: RobertaTokenizer's defaults.
    TempDir bare("encore-bpe");
    for (const char *f : {"vocab.json", "merges.txt"}) bare.copy_from(roberta_dir(), f);
    Tokenizer c = load_tokenizer(bare.path());
    ASSERT_TRUE(c);
    expect_same_encodings(b.get(), c.get());
}

// ---- decoding ----------------------------------------------------------------------

// transformers' decode (tokenizers' ByteLevel decoder, invalid UTF-8 as
// U+FFFD, no cleanup: clean_up_tokenization_spaces is false) and
// convert_tokens_to_string:
//   t = AutoTokenizer.from_pretrained("tests/fixtures/models/tiny-roberta-sst")
//   t.decode(ids, skip_special_tokens=False), t.decode(ids, skip_special_tokens=True)
TEST(Bpe, Decode) {
    Tokenizer tok = load_tokenizer(roberta_dir());
    ASSERT_TRUE(tok);
    struct Case {
        std::vector<int32_t> ids;
        const char *keep, *skip;
    } cases[] = {
        {{0, 299, 77, 225, 2, 1092, 4, 285, 4, 92, 2}, "<s> hi </s> there<mask> and<mask>x</s>", " hi  there andx"},
        {{0, 131, 126, 225, 131, 2}, "<s>\u00bd \uFFFD</s>", "\u00bd \uFFFD"},
        {{131, 131, 126}, "\uFFFD\u00bd", "\uFFFD\u00bd"},
        {{126, 71, 1, 3, 99999, -1}, "\uFFFDc<pad><unk>", "\uFFFDc"},
        {{0, 75, 499, 225, 177, 258, 251, 227, 890, 2}, "<s>great \U0001F600 fun</s>", "great \U0001F600 fun"},
    };
    char buf[256];
    for (const Case &c : cases) {
        size_t n = encore_tokenizer_decode(tok.get(), c.ids.data(), (int)c.ids.size(), 0, buf, sizeof buf);
        EXPECT_STREQ(buf, c.keep);
        EXPECT_EQ(n, strlen(c.keep));
        encore_tokenizer_decode(tok.get(), c.ids.data(), (int)c.ids.size(), 1, buf, sizeof buf);
        EXPECT_STREQ(buf, c.skip);
    }
    // snprintf's contract: the full length, the text cut to fit.
    const int32_t ids[] = {0, 299, 77, 2};
    EXPECT_EQ(encore_tokenizer_decode(tok.get(), ids, 4, 0, buf, 5), strlen("<s> hi</s>"));
    EXPECT_STREQ(buf, "<s> ");
    // t.convert_tokens_to_string(["Ġhe", "ll", "o", "Ġ<mask>", "Â", "Ã©", "x"])
    const char *tokens[] = {"\xc4\xa0he", "ll", "o", "\xc4\xa0<mask>", "\xc3\x82", "\xc3\x83\xc2\xa9", "x"};
    encore_tokenizer_decode_tokens(tok.get(), tokens, 7, buf, sizeof buf);
    EXPECT_STREQ(buf, " hello <mask>\uFFFD\u00e9x");
    // A token that is not all byte chars is its own text.
    const char *other[] = {"\xc4\xa0x", "\xe4\xb8\x96"};
    encore_tokenizer_decode_tokens(tok.get(), other, 2, buf, sizeof buf);
    EXPECT_STREQ(buf, " x\xe4\xb8\x96");
}

// ---- refusals and crafted files ----------------------------------------------------


TEST(BpeLoad, RefusesWhatItDoesNotImplement) {
    struct Case {
        std::function<void(cJSON *)> edit;
        std::vector<std::string> message;
    } cases[] = {
        {[](cJSON *j) { set(model_of(j), "dropout", cJSON_CreateNumber(0.1)); }, {"dropout"}},
        {[](cJSON *j) { set(model_of(j), "byte_fallback", cJSON_CreateTrue()); }, {"byte_fallback"}},
        {[](cJSON *j) { set(model_of(j), "continuing_subword_prefix", cJSON_CreateString("##")); },
         {"continuing_subword_prefix"}},
        {[](cJSON *j) { set(model_of(j), "end_of_word_suffix", cJSON_CreateString("</w>")); }, {"end_of_word_suffix"}},
        {[](cJSON *j) { set(j, "normalizer", cJSON_Parse("{\"type\": \"NFC\"}")); }, {"normalizer NFC"}},
        {[](cJSON *j) { set(j, "pre_tokenizer", cJSON_Parse("{\"type\": \"Whitespace\"}")); },
         {"pre_tokenizer Whitespace"}},
        {[](cJSON *j) {
             set(j, "pre_tokenizer", cJSON_Parse("{\"type\": \"Sequence\", \"pretokenizers\": [{\"type\": \"Digits\"}, "
                                                 "{\"type\": \"ByteLevel\"}]}"));
         },
         {"Sequence"}},
        {[](cJSON *j) { set(j, "decoder", cJSON_Parse("{\"type\": \"WordPiece\"}")); }, {"decoder WordPiece"}},
        {[](cJSON *j) { set(j, "post_processor", cJSON_Parse("{\"type\": \"Foo\"}")); }, {"post_processor Foo"}},
        {[](cJSON *j) { set(model_of(j), "type", cJSON_CreateString("WordLevel")); }, {"WordLevel"}},
    };
    for (const Case &c : cases) {
        TempDir d("encore-bpe");
        write_tokenizer_json(d, c.edit);
        std::vector<std::string> parts = c.message;
        parts.push_back("tokenizer.json");
        expect_load_error(d.path(), ENCORE_STATUS_UNSUPPORTED, parts);
    }
    // What is accepted: dropout 0, a Sequence of one ByteLevel, no decoder.
    TempDir d("encore-bpe");
    write_tokenizer_json(d, [](cJSON *j) {
        set(model_of(j), "dropout", cJSON_CreateNumber(0));
        set(j, "pre_tokenizer", cJSON_Parse("{\"type\": \"Sequence\", \"pretokenizers\": [{\"type\": \"ByteLevel\", "
                                            "\"add_prefix_space\": false, \"trim_offsets\": true, \"use_regex\": true}]}"));
    });
    Tokenizer a = load_tokenizer(roberta_dir()), b = load_tokenizer(d.path());
    ASSERT_TRUE(a && b);
    expect_same_encodings(a.get(), b.get());
}

TEST(BpeLoad, CraftedTokenizerJson) {
    struct Case {
        std::function<void(cJSON *)> edit;
        std::vector<std::string> message;
    } cases[] = {
        // tokenizers: MergeTokenOutOfVocabulary
        {[](cJSON *j) {
             cJSON_AddItemToArray(cJSON_GetObjectItemCaseSensitive(model_of(j), "merges"),
                                  cJSON_Parse("[\"zzz\", \"a\"]"));
         },
         {"zzz", "not in the vocabulary"}},
        {[](cJSON *j) {
             cJSON_AddItemToArray(cJSON_GetObjectItemCaseSensitive(model_of(j), "merges"), cJSON_Parse("[\"q\", \"q\"]"));
         },
         {"qq", "not in the vocabulary"}},
        {[](cJSON *j) {
             cJSON_AddItemToArray(cJSON_GetObjectItemCaseSensitive(model_of(j), "merges"), cJSON_CreateString("a b c"));
         },
         {"merges[939]"}},
        {[](cJSON *j) {
             cJSON_AddItemToArray(cJSON_GetObjectItemCaseSensitive(model_of(j), "merges"), cJSON_CreateNumber(3));
         },
         {"merges[939]"}},
        {[](cJSON *j) {
             cJSON_AddItemToArray(cJSON_GetObjectItemCaseSensitive(model_of(j), "merges"), cJSON_Parse("[\"a\"]"));
         },
         {"merges[939]"}},
        {[](cJSON *j) { set(model_of(j), "merges", cJSON_CreateString("a b")); }, {"merges"}},
        {[](cJSON *j) { set(cJSON_GetObjectItemCaseSensitive(model_of(j), "vocab"), "a", cJSON_CreateNumber(-1)); },
         {"vocab[\"a\"]"}},
        {[](cJSON *j) { set(cJSON_GetObjectItemCaseSensitive(model_of(j), "vocab"), "a", cJSON_CreateNumber(1e30)); },
         {"vocab[\"a\"]"}},
        {[](cJSON *j) { set(cJSON_GetObjectItemCaseSensitive(model_of(j), "vocab"), "a", cJSON_CreateNumber(2.5)); },
         {"vocab[\"a\"]"}},
        {[](cJSON *j) { set(cJSON_GetObjectItemCaseSensitive(model_of(j), "vocab"), "a", cJSON_CreateString("7")); },
         {"vocab[\"a\"]"}},
        {[](cJSON *j) { set(model_of(j), "vocab", cJSON_CreateArray()); }, {"vocab"}},
        {[](cJSON *j) { set(model_of(j), "unk_token", cJSON_CreateString("<nope>")); }, {"<nope>"}},
        {[](cJSON *j) { set(j, "post_processor", cJSON_Parse("{\"type\": \"RobertaProcessing\", \"sep\": [\"</s>\", 5000], "
                                                           "\"cls\": [\"<s>\", 0]}")); },
         {"5000"}},
        {[](cJSON *j) { set(j, "post_processor", cJSON_Parse("{\"type\": \"RobertaProcessing\"}")); }, {"cls"}},
    };
    for (const Case &c : cases) {
        TempDir d("encore-bpe");
        write_tokenizer_json(d, c.edit);
        expect_load_error(d.path(), ENCORE_STATUS_BAD_MODEL, c.message);
    }
    // Duplicate ids and a duplicate merge load (the later wins, as in a
    // HashMap); nothing crashes on encoding.
    TempDir d("encore-bpe");
    write_tokenizer_json(d, [](cJSON *j) {
        cJSON *v = cJSON_GetObjectItemCaseSensitive(model_of(j), "vocab");
        set(v, "zz", cJSON_CreateNumber(7));
        cJSON *merges = cJSON_GetObjectItemCaseSensitive(model_of(j), "merges");
        cJSON_AddItemToArray(merges, cJSON_Duplicate(cJSON_GetArrayItem(merges, 0), 1));
    });
    Tokenizer tok = load_tokenizer(d.path());
    ASSERT_TRUE(tok);
    EXPECT_EQ(encode(tok.get(), "a film about zz", nullptr).status, ENCORE_STATUS_OK);
}

TEST(BpeLoad, CraftedVocabJsonAndMergesTxt) {
    const std::string merges = read_file(roberta_dir() + "/merges.txt");
    struct Case {
        std::string vocab, merges;
        encore_status status;
        std::vector<std::string> message;
    } cases[] = {
        {"[1, 2]", merges, ENCORE_STATUS_BAD_MODEL, {"vocab.json"}},
        {"{\"a\": 1,", merges, ENCORE_STATUS_BAD_MODEL, {"vocab.json", "JSON"}},
        {"{\"a\xff\": 1}", merges, ENCORE_STATUS_BAD_MODEL, {"vocab.json", "UTF-8"}},
        {read_file(roberta_dir() + "/vocab.json"), "#version: 0.2\na b c\n", ENCORE_STATUS_BAD_MODEL, {"merges.txt", "line 2"}},
        {read_file(roberta_dir() + "/vocab.json"), "#version: 0.2\n\n", ENCORE_STATUS_BAD_MODEL, {"merges.txt", "line 2"}},
        {read_file(roberta_dir() + "/vocab.json"), "zzz a\n", ENCORE_STATUS_BAD_MODEL, {"merges.txt", "zzz"}},
        {read_file(roberta_dir() + "/vocab.json"), "a \xff\n", ENCORE_STATUS_BAD_MODEL, {"merges.txt", "UTF-8"}},
    };
    for (const Case &c : cases) {
        TempDir d("encore-bpe");
        d.write("vocab.json", c.vocab);
        d.write("merges.txt", c.merges);
        expect_load_error(d.path(), c.status, c.message);
    }
    // CRLF lines and no "#version" line are fine; so are non-numbers in
    // vocab.json, which BPE::read_file skips.
    TempDir d("encore-bpe");
    std::string crlf;
    for (char ch : merges.substr(merges.find('\n') + 1)) crlf += ch == '\n' ? std::string("\r\n") : std::string(1, ch);
    std::string vocab = read_file(roberta_dir() + "/vocab.json");
    vocab.insert(1, "\"note\": \"x\", ");
    d.write("vocab.json", vocab);
    d.write("merges.txt", crlf);
    d.copy_from(roberta_dir(), "tokenizer_config.json");
    Tokenizer a = load_tokenizer(roberta_dir()), b = load_tokenizer(d.path());
    ASSERT_TRUE(a && b);
    expect_same_encodings(a.get(), b.get(), {"bpe_specials_literal"});
    // A config naming another tokenizer class.
    TempDir other("encore-bpe");
    other.copy_from(roberta_dir(), "vocab.json");
    other.copy_from(roberta_dir(), "merges.txt");
    other.write("tokenizer_config.json", "{\"tokenizer_class\": \"GPT2Tokenizer\"}");
    expect_load_error(other.path(), ENCORE_STATUS_UNSUPPORTED, {"GPT2Tokenizer"});
}

// ---- the pattern's Unicode classes -----------------------------------------------------

// Oniguruma's \p{L} and \p{N} are Unicode 16.0 (unicode.c).
TEST(Bpe, UnicodeClasses) {
    for (uint32_t c : {0x61u, 0xE9u, 0x4E16u, 0x1C89u, 0x105C0u, 0x2EBF0u}) EXPECT_TRUE(encore_unicode_is_letter(c)) << c;
    for (uint32_t c : {0x31u, 0xBDu, 0xB2u, 0x10D40u, 0x1E5F1u}) EXPECT_TRUE(encore_unicode_is_number(c)) << c;
    for (uint32_t c : {0x20u, 0x21u, 0x301u, 0x10D40u, 0x1F600u, 0x378u}) EXPECT_FALSE(encore_unicode_is_letter(c)) << c;
    for (uint32_t c : {0x61u, 0x10D4Au, 0x2030u}) EXPECT_FALSE(encore_unicode_is_number(c)) << c;
}

// ---- long inputs ---------------------------------------------------------------------

// One piece of a million letters: BPE's merge loop is n log n, not n^2.
// And 10 MB of words, counted against a limit without keeping its tokens.
TEST(Bpe, LongInputs) {
    Tokenizer tok = load_tokenizer(roberta_dir());
    ASSERT_TRUE(tok);
    const auto t0 = std::chrono::steady_clock::now();
    std::string aaa(1 << 20, 'a');
    Value v = encode(tok.get(), aaa.c_str(), nullptr, 16);
    EXPECT_EQ(v.status, ENCORE_STATUS_OK);
    EXPECT_EQ(v.ids.size(), 16u);
    std::string words;
    while (words.size() < (10u << 20)) words += "the film was a charming and often affecting journey . ";
    encore_encoding *raw = nullptr;
    int32_t n = 0;
    EXPECT_EQ(encore_tokenizer_encode_bounded(tok.get(), words.c_str(), nullptr, 0, 0, 512, &raw, &n),
              ENCORE_STATUS_TOO_LONG);
    EXPECT_GT(n, 1000000);
    Value left = encode(tok.get(), words.c_str(), nullptr, 8, 1);
    EXPECT_EQ(left.ids.size(), 8u);
    const double seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
    EXPECT_LT(seconds, 60.0);  // about a second in a release build; sanitizers are ~10x slower
}

}  // namespace
