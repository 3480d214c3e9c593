// test_tokenizer_unigram.cc: encore's SentencePiece Unigram tokenizer (XLM-R's)
// against Hugging Face tokenizers 0.23.3 / transformers 5.24.0.
//
// The reference dumps (tests/fixtures/reference/tiny-xlmr-*.json) are checked
// by test_tokenizer.cc: there the directory names XLMRobertaTokenizer, which
// transformers 5 rebuilds from the file's pieces and charsmap. Here, the
// tokenizer.json taken as it is (no tokenizer_class: tokenizers' own
// pipeline), in the layouts tokenizers' and transformers' converters write
// (Precompiled, Strip, Replace; Metaspace with each prepend scheme, split or
// not); decoding; the settings encore refuses and crafted files; long inputs.
// Expected values come from tokenizers itself; offsets are its character
// offsets made byte offsets:
//
//   import json, copy
//   from tokenizers import Tokenizer
//   base = json.load_tokenizer(open("tests/fixtures/models/tiny-xlmr-sst/tokenizer.json"))
//   P = base["normalizer"]  # the fixture's Precompiled (nmt_nfkc)
//   def tk(normalizer, pre):
//       j = copy.deepcopy(base); j["normalizer"] = normalizer; j["pre_tokenizer"] = pre
//       return Tokenizer.from_str(json.dumps(j))
//   def ms(scheme, split=True):
//       return {"type": "Metaspace", "replacement": "\u2581", "prepend_scheme": scheme, "split": split}
//   conv = {"type": "Sequence", "normalizers": [P, {"type": "Strip", "strip_left": False, "strip_right": True},
//           {"type": "Replace", "pattern": {"Regex": " {2,}"}, "content": "\u2581"}]}
//   CONVERTER = tk(conv, ms("always")); FIRST = tk(conv, ms("first")); NEVER = tk(P, ms("never"))
//   NO_SPLIT = tk(P, ms("always", False))
//   STRIP_BOTH = tk({"type": "Sequence", "normalizers": [{"type": "Strip", "strip_left": True,
//                    "strip_right": True}, P]}, ms("first"))
//   REPLACE_STR = tk({"type": "Sequence", "normalizers": [P, {"type": "Replace", "pattern": {"String": "film"},
//                     "content": "movie"}]}, ms("always"))
//   def show(t, text, pair=None):
//       e = t.encode(text, pair)
//       cb = lambda s, o: len(s[:o].encode())
//       offs = []
//       for (s, e2), sid in zip(e.offsets, e.sequence_ids):
//           src = text if sid in (0, None) else pair
//           offs += [cb(src, s), cb(src, e2)]
//       print(e.ids, offs)
#include <gtest/gtest.h>

#include <cstring>
#include <fstream>
#include <functional>
#include <memory>
#include <random>
#include <string>
#include <vector>

#include "fixtures.h"
#include "temp_dir.h"
#include "tokenizer_helpers.h"
#include "tokenizer/tokenizer.h"
#include "tokenizer/tokenizer_internal.h"

namespace {

using namespace tokenizer_test;

const std::string &xlmr_dir() {
    static const std::string dir = fixtures::model_dir("tiny-xlmr-sst");
    return dir;
}

// The fixture's tokenizer.json changed by edit, and its tokenizer_config.json
// changed by edit_config (by default: without tokenizer_class, so that the
// file is taken as it is), in a temp dir.
void write_dir(const TempDir &d, const std::function<void(cJSON *)> &edit,
               const std::function<void(cJSON *)> &edit_config = [](cJSON *c) {
                   cJSON_DeleteItemFromObjectCaseSensitive(c, "tokenizer_class");
               }) {
    for (const char *name : {"tokenizer.json", "tokenizer_config.json"}) {
        cJSON *j = cJSON_Parse(read_file(xlmr_dir() + "/" + name).c_str());
        ASSERT_NE(j, nullptr) << name;
        (std::strcmp(name, "tokenizer.json") == 0 ? edit : edit_config)(j);
        char *s = cJSON_PrintUnformatted(j);
        d.write(name, s);
        cJSON_free(s);
        cJSON_Delete(j);
    }
}

cJSON *precompiled() {
    cJSON *j = cJSON_Parse(read_file(xlmr_dir() + "/tokenizer.json").c_str());
    cJSON *p = cJSON_DetachItemFromObjectCaseSensitive(j, "normalizer");
    cJSON_Delete(j);
    return p;
}

cJSON *sequence(std::vector<cJSON *> items) {
    cJSON *s = cJSON_CreateObject(), *list = cJSON_CreateArray();
    cJSON_AddStringToObject(s, "type", "Sequence");
    for (cJSON *i : items) cJSON_AddItemToArray(list, i);
    cJSON_AddItemToObject(s, "normalizers", list);
    return s;
}

cJSON *metaspace(const char *scheme, bool split = true) {
    cJSON *m = cJSON_CreateObject();
    cJSON_AddStringToObject(m, "type", "Metaspace");
    cJSON_AddStringToObject(m, "replacement", "\u2581");
    cJSON_AddStringToObject(m, "prepend_scheme", scheme);
    cJSON_AddBoolToObject(m, "split", split);
    return m;
}

struct Expected {
    const char *text, *pair;
    std::vector<int> ids, offsets;  // offsets flattened: start, end, ...
};

void expect_encodings(const std::string &dir, const Expected *rows, size_t n, const char *what) {
    Tokenizer tok = load_tokenizer(dir);
    ASSERT_TRUE(tok);
    for (size_t i = 0; i < n; i++) {
        const Expected &x = rows[i];
        encore_encoding *raw = nullptr;
        ASSERT_EQ(encore_tokenizer_encode(tok.get(), x.text, x.pair, 0, &raw), ENCORE_STATUS_OK) << encore_last_error();
        Encoding e(raw);
        EXPECT_EQ(std::vector<int>(e->ids, e->ids + e->n_tokens), x.ids) << what << ": \"" << x.text << "\"";
        EXPECT_EQ(std::vector<int>(e->offsets, e->offsets + 2 * e->n_tokens), x.offsets)
            << what << ": \"" << x.text << "\"";
    }
}

const Expected CONVERTER[] = {
    {" Hello   w\u00f6rld  ", nullptr, {0, 5, 1904, 476, 29, 53, 1871, 35, 49, 20, 2}, {0, 0, 0, 1, 1, 2, 2, 5, 5, 6, 8, 10, 10, 12, 12, 13, 13, 14, 14, 15, 0, 0}},
    {"\ufb01ne \uff21\uff22\uff23 e\u0301 caf\u00e9", nullptr, {0, 649, 5, 1062, 1869, 1453, 5, 415, 139, 80, 415, 2}, {0, 0, 0, 5, 5, 6, 6, 9, 9, 12, 12, 15, 15, 16, 16, 17, 19, 22, 22, 23, 23, 25, 0, 0}},
    {"\u200bstart \u200b", nullptr, {0, 450, 2}, {0, 0, 0, 8, 0, 0}},
    {"the <mask> film<s>was", nullptr, {0, 6, 2001, 33, 0, 194, 2}, {0, 0, 0, 3, 3, 10, 10, 15, 15, 18, 18, 21, 0, 0}},
    {"a  good  film", "not  bad ", {0, 7, 115, 33, 2, 2, 72, 181, 2}, {0, 0, 0, 1, 2, 7, 8, 13, 0, 0, 0, 0, 0, 3, 4, 8, 0, 0}},
    {"\u2460\u00bd x\u00b2 \u3000wide", nullptr, {0, 479, 611, 1954, 612, 5, 298, 612, 53, 158, 11, 2}, {0, 0, 0, 3, 3, 5, 3, 5, 3, 5, 5, 6, 6, 7, 7, 9, 10, 14, 14, 16, 16, 17, 0, 0}},
};
const Expected FIRST[] = {
    {" Hello   w\u00f6rld  ", nullptr, {0, 5, 1904, 476, 29, 53, 1871, 35, 49, 20, 2}, {0, 0, 0, 1, 1, 2, 2, 5, 5, 6, 8, 10, 10, 12, 12, 13, 13, 14, 14, 15, 0, 0}},
    {"\ufb01ne \uff21\uff22\uff23 e\u0301 caf\u00e9", nullptr, {0, 649, 5, 1062, 1869, 1453, 5, 415, 139, 80, 415, 2}, {0, 0, 0, 5, 5, 6, 6, 9, 9, 12, 12, 15, 15, 16, 16, 17, 19, 22, 22, 23, 23, 25, 0, 0}},
    {"\u200bstart \u200b", nullptr, {0, 450, 2}, {0, 0, 0, 8, 0, 0}},
    {"the <mask> film<s>was", nullptr, {0, 6, 2001, 33, 0, 75, 28, 4, 2}, {0, 0, 0, 3, 3, 10, 10, 15, 15, 18, 18, 19, 19, 20, 20, 21, 0, 0}},
    {"a  good  film", "not  bad ", {0, 7, 115, 33, 2, 2, 72, 181, 2}, {0, 0, 0, 1, 2, 7, 8, 13, 0, 0, 0, 0, 0, 3, 4, 8, 0, 0}},
    {"\u2460\u00bd x\u00b2 \u3000wide", nullptr, {0, 479, 611, 1954, 612, 5, 298, 612, 53, 158, 11, 2}, {0, 0, 0, 3, 3, 5, 3, 5, 3, 5, 5, 6, 6, 7, 7, 9, 10, 14, 14, 16, 16, 17, 0, 0}},
};
const Expected NEVER[] = {
    {" Hello   w\u00f6rld  ", nullptr, {0, 5, 1904, 476, 29, 5, 5, 53, 1871, 35, 49, 20, 5, 5, 2}, {0, 0, 0, 1, 1, 2, 2, 5, 5, 6, 6, 7, 7, 8, 8, 10, 10, 12, 12, 13, 13, 14, 14, 15, 15, 16, 16, 17, 0, 0}},
    {"\ufb01ne \uff21\uff22\uff23 e\u0301 caf\u00e9", nullptr, {0, 80, 276, 5, 1062, 1869, 1453, 5, 415, 139, 80, 415, 2}, {0, 0, 0, 3, 0, 5, 5, 6, 6, 9, 9, 12, 12, 15, 15, 16, 16, 17, 19, 22, 22, 23, 23, 25, 0, 0}},
    {"\u200bstart \u200b", nullptr, {0, 450, 5, 5, 2}, {0, 0, 0, 8, 8, 9, 9, 12, 0, 0}},
    {"the <mask> film<s>was", nullptr, {0, 387, 2001, 33, 0, 75, 28, 4, 2}, {0, 0, 0, 3, 3, 10, 10, 15, 15, 18, 18, 19, 19, 20, 20, 21, 0, 0}},
    {"a  good  film", "not  bad ", {0, 28, 5, 115, 5, 33, 2, 2, 317, 13, 5, 181, 5, 2}, {0, 0, 0, 1, 1, 2, 2, 7, 7, 8, 8, 13, 0, 0, 0, 0, 0, 2, 2, 3, 3, 4, 4, 8, 8, 9, 0, 0}},
    {"\u2460\u00bd x\u00b2 \u3000wide", nullptr, {0, 611, 611, 1954, 612, 5, 298, 612, 5, 53, 158, 11, 2}, {0, 0, 0, 3, 3, 5, 3, 5, 3, 5, 5, 6, 6, 7, 7, 9, 9, 10, 10, 14, 14, 16, 16, 17, 0, 0}},
};
const Expected NO_SPLIT[] = {
    {" Hello   w\u00f6rld  ", nullptr, {0, 5, 1904, 476, 29, 5, 5, 53, 1871, 35, 49, 20, 5, 5, 2}, {0, 0, 0, 1, 1, 2, 2, 5, 5, 6, 6, 7, 7, 8, 8, 10, 10, 12, 12, 13, 13, 14, 14, 15, 15, 16, 16, 17, 0, 0}},
    {"\ufb01ne \uff21\uff22\uff23 e\u0301 caf\u00e9", nullptr, {0, 649, 5, 1062, 1869, 1453, 5, 415, 139, 80, 415, 2}, {0, 0, 0, 5, 5, 6, 6, 9, 9, 12, 12, 15, 15, 16, 16, 17, 19, 22, 22, 23, 23, 25, 0, 0}},
    {"\u200bstart \u200b", nullptr, {0, 450, 5, 5, 2}, {0, 0, 0, 8, 8, 9, 9, 12, 0, 0}},
    {"the <mask> film<s>was", nullptr, {0, 6, 2001, 33, 0, 194, 2}, {0, 0, 0, 3, 3, 10, 10, 15, 15, 18, 18, 21, 0, 0}},
    {"a  good  film", "not  bad ", {0, 7, 5, 115, 5, 33, 2, 2, 72, 5, 181, 5, 2}, {0, 0, 0, 1, 1, 2, 2, 7, 7, 8, 8, 13, 0, 0, 0, 0, 0, 3, 3, 4, 4, 8, 8, 9, 0, 0}},
    {"\u2460\u00bd x\u00b2 \u3000wide", nullptr, {0, 479, 611, 1954, 612, 5, 298, 612, 5, 53, 158, 11, 2}, {0, 0, 0, 3, 3, 5, 3, 5, 3, 5, 5, 6, 6, 7, 7, 9, 9, 10, 10, 14, 14, 16, 16, 17, 0, 0}},
};
const Expected STRIP_BOTH[] = {
    {" Hello   w\u00f6rld  ", nullptr, {0, 1904, 476, 29, 5, 5, 53, 1871, 35, 49, 20, 2}, {0, 0, 1, 2, 2, 5, 5, 6, 6, 7, 7, 8, 8, 10, 10, 12, 12, 13, 13, 14, 14, 15, 0, 0}},
    {"\ufb01ne \uff21\uff22\uff23 e\u0301 caf\u00e9", nullptr, {0, 649, 5, 1062, 1869, 1453, 5, 415, 139, 80, 415, 2}, {0, 0, 0, 5, 5, 6, 6, 9, 9, 12, 12, 15, 15, 16, 16, 17, 19, 22, 22, 23, 23, 25, 0, 0}},
    {"\u200bstart \u200b", nullptr, {0, 450, 5, 5, 2}, {0, 0, 0, 8, 8, 9, 9, 12, 0, 0}},
    {"the <mask> film<s>was", nullptr, {0, 6, 2001, 80, 132, 24, 0, 75, 28, 4, 2}, {0, 0, 0, 3, 3, 10, 11, 12, 12, 14, 14, 15, 15, 18, 18, 19, 19, 20, 20, 21, 0, 0}},
    {"a  good  film", "not  bad ", {0, 7, 5, 115, 5, 33, 2, 2, 72, 5, 181, 2}, {0, 0, 0, 1, 1, 2, 2, 7, 7, 8, 8, 13, 0, 0, 0, 0, 0, 3, 3, 4, 4, 8, 0, 0}},
    {"\u2460\u00bd x\u00b2 \u3000wide", nullptr, {0, 479, 611, 1954, 612, 5, 298, 612, 5, 53, 158, 11, 2}, {0, 0, 0, 3, 3, 5, 3, 5, 3, 5, 5, 6, 6, 7, 7, 9, 9, 10, 10, 14, 14, 16, 16, 17, 0, 0}},
};
const Expected REPLACE_STR[] = {
    {" Hello   w\u00f6rld  ", nullptr, {0, 5, 1904, 476, 29, 5, 5, 53, 1871, 35, 49, 20, 5, 5, 2}, {0, 0, 0, 1, 1, 2, 2, 5, 5, 6, 6, 7, 7, 8, 8, 10, 10, 12, 12, 13, 13, 14, 14, 15, 15, 16, 16, 17, 0, 0}},
    {"\ufb01ne \uff21\uff22\uff23 e\u0301 caf\u00e9", nullptr, {0, 649, 5, 1062, 1869, 1453, 5, 415, 139, 80, 415, 2}, {0, 0, 0, 5, 5, 6, 6, 9, 9, 12, 12, 15, 15, 16, 16, 17, 19, 22, 22, 23, 23, 25, 0, 0}},
    {"\u200bstart \u200b", nullptr, {0, 450, 5, 5, 2}, {0, 0, 0, 8, 8, 9, 9, 12, 0, 0}},
    {"the <mask> film<s>was", nullptr, {0, 6, 2001, 44, 0, 194, 2}, {0, 0, 0, 3, 3, 10, 10, 15, 15, 18, 18, 21, 0, 0}},
    {"a  good  film", "not  bad ", {0, 7, 5, 115, 5, 44, 2, 2, 72, 5, 181, 5, 2}, {0, 0, 0, 1, 1, 2, 2, 7, 7, 8, 8, 13, 0, 0, 0, 0, 0, 3, 3, 4, 4, 8, 8, 9, 0, 0}},
    {"\u2460\u00bd x\u00b2 \u3000wide", nullptr, {0, 479, 611, 1954, 612, 5, 298, 612, 5, 53, 158, 11, 2}, {0, 0, 0, 3, 3, 5, 3, 5, 3, 5, 5, 6, 6, 7, 7, 9, 9, 10, 10, 14, 14, 16, 16, 17, 0, 0}},
};

}  // namespace

TEST(Unigram, LoadsAsXlmRoberta) {
    Tokenizer tok = load_tokenizer(xlmr_dir());
    ASSERT_TRUE(tok);
    EXPECT_EQ(tok->model, TOK_UNIGRAM);
    EXPECT_EQ(encore_tokenizer_unk_id(tok.get()), 3);
    EXPECT_STREQ(encore_tokenizer_id_to_token(tok.get(), 3), "<unk>");
    // <s> A </s></s> B </s>, every type id 0
    encore_encoding *raw = nullptr;
    ASSERT_EQ(encore_tokenizer_encode(tok.get(), "good", "bad", 0, &raw), ENCORE_STATUS_OK);
    Encoding e(raw);
    ASSERT_GE(e->n_tokens, 6);
    EXPECT_EQ(e->ids[0], 0);
    EXPECT_EQ(e->ids[e->n_tokens - 1], 2);
    for (int i = 0; i < e->n_tokens; i++) EXPECT_EQ(e->type_ids[i], 0);
}

TEST(Unigram, FileAsItIs) {
    struct Variant {
        const char *name;
        std::function<void(cJSON *)> edit;
        const Expected *rows;
        size_t n;
    };
    auto converter = [] {
        return sequence({precompiled(), cJSON_Parse("{\"type\": \"Strip\", \"strip_left\": false, \"strip_right\": true}"),
                         cJSON_Parse("{\"type\": \"Replace\", \"pattern\": {\"Regex\": \" {2,}\"}, \"content\": \"\u2581\"}")});
    };
    const Variant variants[] = {
        {"converter", [&](cJSON *j) { set(j, "normalizer", converter()); set(j, "pre_tokenizer", metaspace("always")); },
         CONVERTER, std::size(CONVERTER)},
        {"first", [&](cJSON *j) { set(j, "normalizer", converter()); set(j, "pre_tokenizer", metaspace("first")); },
         FIRST, std::size(FIRST)},
        {"never", [](cJSON *j) { set(j, "pre_tokenizer", metaspace("never")); }, NEVER, std::size(NEVER)},
        {"no_split", [](cJSON *j) { set(j, "pre_tokenizer", metaspace("always", false)); }, NO_SPLIT,
         std::size(NO_SPLIT)},
        {"strip_both",
         [](cJSON *j) {
             set(j, "normalizer",
                 sequence({cJSON_Parse("{\"type\": \"Strip\", \"strip_left\": true, \"strip_right\": true}"),
                           precompiled()}));
             set(j, "pre_tokenizer", metaspace("first"));
         },
         STRIP_BOTH, std::size(STRIP_BOTH)},
        {"replace_str",
         [](cJSON *j) {
             set(j, "normalizer",
                 sequence({precompiled(), cJSON_Parse("{\"type\": \"Replace\", \"pattern\": {\"String\": \"film\"}, "
                                                      "\"content\": \"movie\"}")}));
             set(j, "pre_tokenizer", metaspace("always"));
         },
         REPLACE_STR, std::size(REPLACE_STR)},
    };
    for (const Variant &v : variants) {
        TempDir d("encore-unigram");
        write_dir(d, v.edit);
        expect_encodings(d.path(), v.rows, v.n, v.name);
    }
}

// The Metaspace decoder drops the first token's U+2581 (prepending
// schemes), makes the others spaces; tokenizers:
//   t.decode([0, 100, 200, 300, 2], skip_special_tokens=False) == "<s> or yourage</s>"
//   t.decode([0, 100, 200, 300, 2]) == "or yourage"
TEST(Unigram, Decode) {
    Tokenizer tok = load_tokenizer(xlmr_dir());
    ASSERT_TRUE(tok);
    const int32_t ids[] = {0, 100, 200, 300, 2};
    char buf[256];
    ASSERT_NE(encore_tokenizer_decode(tok.get(), ids, 5, 0, buf, sizeof buf), SIZE_MAX);
    EXPECT_STREQ(buf, "<s> or yourage</s>");
    ASSERT_NE(encore_tokenizer_decode(tok.get(), ids, 5, 1, buf, sizeof buf), SIZE_MAX);
    EXPECT_STREQ(buf, "or yourage");
    // prepend_scheme never keeps the first token's space
    TempDir d("encore-unigram");
    write_dir(d, [](cJSON *) {}, [](cJSON *c) { set(c, "add_prefix_space", cJSON_CreateFalse()); });
    Tokenizer never = load_tokenizer(d.path());
    ASSERT_TRUE(never);
    ASSERT_NE(encore_tokenizer_decode(never.get(), ids + 1, 3, 1, buf, sizeof buf), SIZE_MAX);
    EXPECT_STREQ(buf, " or yourage");
}

TEST(UnigramLoad, RefusesWhatItDoesNotImplement) {
    struct Case {
        std::function<void(cJSON *)> edit, edit_config;
        std::vector<std::string> message;
    } cases[] = {
        {[](cJSON *j) { set(model_of(j), "byte_fallback", cJSON_CreateTrue()); }, nullptr, {"byte_fallback"}},
        {[](cJSON *j) { set(j, "normalizer", cJSON_Parse("{\"type\": \"NFKC\"}")); }, nullptr, {"normalizer NFKC"}},
        {[](cJSON *j) {
             set(j, "normalizer", cJSON_Parse("{\"type\": \"Replace\", \"pattern\": {\"Regex\": \"a+\"}, \"content\": \"\"}"));
         },
         nullptr,
         {"a+"}},
        {[](cJSON *j) { set(j, "pre_tokenizer", cJSON_Parse("{\"type\": \"BertPreTokenizer\"}")); }, nullptr,
         {"pre_tokenizer BertPreTokenizer"}},
        {[](cJSON *j) {
             set(j, "pre_tokenizer", cJSON_Parse("{\"type\": \"Sequence\", \"pretokenizers\": [{\"type\": \"Metaspace\", "
                                                 "\"replacement\": \"_\"}, {\"type\": \"WhitespaceSplit\"}]}"));
         },
         nullptr,
         {"after Metaspace"}},
        {[](cJSON *j) { set(j, "decoder", cJSON_Parse("{\"type\": \"ByteLevel\"}")); }, nullptr, {"decoder ByteLevel"}},
        {[](cJSON *) {}, [](cJSON *c) { set(c, "tokenizer_class", cJSON_CreateString("CamembertTokenizer")); },
         {"CamembertTokenizer"}},
    };
    for (const Case &c : cases) {
        TempDir d("encore-unigram");
        if (c.edit_config) write_dir(d, c.edit, c.edit_config);
        else write_dir(d, c.edit);
        std::vector<std::string> parts = c.message;
        expect_load_error(d.path(), ENCORE_STATUS_UNSUPPORTED, parts);
    }
}

TEST(UnigramLoad, CraftedTokenizerJson) {
    auto normalizer = [](const char *charsmap) {
        return [charsmap](cJSON *j) {
            cJSON *p = cJSON_CreateObject();
            cJSON_AddStringToObject(p, "type", "Precompiled");
            cJSON_AddStringToObject(p, "precompiled_charsmap", charsmap);
            set(j, "normalizer", p);
        };
    };
    struct Case {
        std::function<void(cJSON *)> edit;
        std::vector<std::string> message;
    } cases[] = {
        {normalizer("not base64!"), {"base64"}},
        {normalizer("AAAA"), {"trie size"}},        // 3 bytes: no room for the size
        {normalizer("/////w=="), {"trie size"}},     // a size of 2^32 - 1
        {normalizer("CAAAAAAAAAAAAAAA/w=="), {"UTF-8"}},  // 8 bytes of trie, then 0xFF
        {[](cJSON *j) { set(model_of(j), "vocab", cJSON_CreateObject()); }, {"model.vocab"}},
        {[](cJSON *j) { cJSON_AddItemToArray(cJSON_GetObjectItemCaseSensitive(model_of(j), "vocab"), cJSON_Parse("[\"x\"]")); },
         {"[piece, score]"}},
        {[](cJSON *j) {
             cJSON_AddItemToArray(cJSON_GetObjectItemCaseSensitive(model_of(j), "vocab"), cJSON_Parse("[\"x\", \"-1\"]"));
         },
         {"[piece, score]"}},
        {[](cJSON *j) { cJSON_AddItemToArray(cJSON_GetObjectItemCaseSensitive(model_of(j), "vocab"), cJSON_Parse("[\"\", -1]")); },
         {"empty piece"}},
        {[](cJSON *j) { set(model_of(j), "unk_id", cJSON_CreateNumber(1e9)); }, {"unk_id"}},
        {[](cJSON *j) { set(model_of(j), "unk_id", cJSON_CreateNumber(-1)); }, {"unk_id"}},
        {[](cJSON *j) { set(model_of(j), "unk_id", cJSON_CreateString("3")); }, {"unk_id"}},
        {[](cJSON *j) { set(j, "pre_tokenizer", cJSON_Parse("{\"type\": \"Metaspace\", \"replacement\": \"ab\"}")); },
         {"replacement"}},
        {[](cJSON *j) {
             set(j, "pre_tokenizer", cJSON_Parse("{\"type\": \"Metaspace\", \"replacement\": \"_\", \"prepend_scheme\": \"x\"}"));
         },
         {"prepend_scheme"}},
    };
    for (const Case &c : cases) {
        TempDir d("encore-unigram");
        write_dir(d, c.edit);
        expect_load_error(d.path(), ENCORE_STATUS_BAD_MODEL, c.message);
    }
    // XLMRobertaTokenizer's unknown token is piece 3: a vocabulary of 3 is refused.
    TempDir d("encore-unigram");
    write_dir(
        d,
        [](cJSON *j) {
            set(model_of(j), "vocab", cJSON_Parse("[[\"<s>\", 0], [\"<pad>\", 0], [\"</s>\", 0]]"));
            set(model_of(j), "unk_id", cJSON_CreateNull());
        },
        [](cJSON *) {});
    expect_load_error(d.path(), ENCORE_STATUS_BAD_MODEL, {"piece 3"});
}

// A charsmap whose trie is noise: lookups wander the array but stay in it;
// every text encodes.
TEST(UnigramLoad, NoiseCharsmap) {
    std::mt19937 rng(7);
    const char *texts[] = {"a film \u00e9\u0301 \uff21 \u200b", "\u1100\u1161\u11a8 \U0001F600\u200d\u2764",
                           "plain ascii text", "\x01\x7f\t\n"};
    for (int trial = 0; trial < 40; trial++) {
        std::string raw;
        const uint32_t units = 1 + rng() % 300;
        const uint32_t size = 4 * units;
        for (int k = 0; k < 4; k++) raw.push_back((char)(size >> (8 * k)));
        for (uint32_t i = 0; i < size; i++) raw.push_back((char)(rng() & 0xFF));
        raw += std::string("x\0yy\0\xc3\xa9\0", 7);
        static const char *b64 = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
        std::string enc;
        for (size_t i = 0; i < raw.size(); i += 3) {
            uint32_t v = (uint8_t)raw[i] << 16;
            if (i + 1 < raw.size()) v |= (uint8_t)raw[i + 1] << 8;
            if (i + 2 < raw.size()) v |= (uint8_t)raw[i + 2];
            enc += b64[v >> 18];
            enc += b64[(v >> 12) & 63];
            enc += i + 1 < raw.size() ? b64[(v >> 6) & 63] : '=';
            enc += i + 2 < raw.size() ? b64[v & 63] : '=';
        }
        TempDir d("encore-unigram");
        write_dir(d, [&](cJSON *j) {
            cJSON *p = cJSON_CreateObject();
            cJSON_AddStringToObject(p, "type", "Precompiled");
            cJSON_AddStringToObject(p, "precompiled_charsmap", enc.c_str());
            set(j, "normalizer", p);
        });
        Tokenizer tok = load_tokenizer(d.path());
        ASSERT_TRUE(tok);
        for (const char *t : texts) {
            encore_encoding *raw_enc = nullptr;
            EXPECT_EQ(encore_tokenizer_encode(tok.get(), t, nullptr, 0, &raw_enc), ENCORE_STATUS_OK)
                << encore_last_error();
            encore_encoding_free(raw_enc);
        }
    }
}

// tokenizers: Unigram with unk_id null fails (MissingUnkId) on a character
// no piece covers; encore returns the status.
TEST(Unigram, NoUnknownPiece) {
    TempDir d("encore-unigram");
    write_dir(d, [](cJSON *j) { set(model_of(j), "unk_id", cJSON_CreateNull()); });
    Tokenizer tok = load_tokenizer(d.path());
    ASSERT_TRUE(tok);
    encore_encoding *raw = nullptr;
    EXPECT_EQ(encore_tokenizer_encode(tok.get(), "a film", nullptr, 0, &raw), ENCORE_STATUS_OK);
    encore_encoding_free(raw);
    raw = nullptr;
    EXPECT_EQ(encore_tokenizer_encode(tok.get(), "a \u2603 film", nullptr, 0, &raw), ENCORE_STATUS_BAD_INPUT);
    EXPECT_EQ(raw, nullptr);
    EXPECT_NE(std::string(encore_last_error()).find("U+2603"), std::string::npos) << encore_last_error();
}

// A megabyte without a space is one piece for Viterbi; many words, many
// pieces. Both encode, the counts agree with the offsets, and cutting gives
// the first tokens of the whole.
TEST(Unigram, LongInputs) {
    Tokenizer tok = load_tokenizer(xlmr_dir());
    ASSERT_TRUE(tok);
    for (const std::string &text : {std::string(1 << 20, 'a'), [] {
                                        std::string s;
                                        while (s.size() < (1 << 20)) s += "the film is a \u00e9 \uff21 joy ";
                                        return s;
                                    }()}) {
        encore_encoding *raw = nullptr;
        ASSERT_EQ(encore_tokenizer_encode(tok.get(), text.c_str(), nullptr, 0, &raw), ENCORE_STATUS_OK);
        Encoding whole(raw);
        ASSERT_GT(whole->n_tokens, 1000);
        int prev_end = 0;
        for (int i = 1; i + 1 < whole->n_tokens; i++) {
            EXPECT_LE(whole->offsets[2 * i], whole->offsets[2 * i + 1]);
            EXPECT_GE(whole->offsets[2 * i + 1], prev_end);
            prev_end = whole->offsets[2 * i + 1];
        }
        EXPECT_EQ(prev_end, (int)text.size() - (text.back() == ' ' ? 1 : 0));
        ASSERT_EQ(encore_tokenizer_encode(tok.get(), text.c_str(), nullptr, 64, &raw), ENCORE_STATUS_OK);
        Encoding cut(raw);
        ASSERT_EQ(cut->n_tokens, 64);
        EXPECT_EQ(cut->n_untruncated, whole->n_tokens);
        for (int i = 1; i < 63; i++) EXPECT_EQ(cut->ids[i], whole->ids[i]) << i;
    }
}

// A normalizer that expands every match a thousandfold (crafted: nmt_nfkc's
// longest replacement is 18 chars) gets a status, not the memory.
TEST(Unigram, ExpandingNormalizerIsRefused) {
    TempDir d("encore-unigram");
    const std::string big(4000, 'x');
    write_dir(d, [&](cJSON *j) {
        cJSON *r = cJSON_CreateObject();
        cJSON_AddStringToObject(r, "type", "Replace");
        cJSON *pattern = cJSON_AddObjectToObject(r, "pattern");
        cJSON_AddStringToObject(pattern, "String", "film");
        cJSON_AddStringToObject(r, "content", big.c_str());
        set(j, "normalizer", r);
    });
    Tokenizer tok = load_tokenizer(d.path());
    ASSERT_TRUE(tok);
    encore_encoding *raw = nullptr;
    EXPECT_EQ(encore_tokenizer_encode(tok.get(), "a film", nullptr, 0, &raw), ENCORE_STATUS_OK);
    encore_encoding_free(raw);
    std::string text;
    for (int i = 0; i < 200; i++) text += "film ";
    raw = nullptr;
    EXPECT_EQ(encore_tokenizer_encode(tok.get(), text.c_str(), nullptr, 0, &raw), ENCORE_STATUS_BAD_INPUT);
    EXPECT_EQ(raw, nullptr);
    EXPECT_NE(std::string(encore_last_error()).find("normalizer"), std::string::npos) << encore_last_error();
}
