// test_score.cc: `encore score` gives what the pipeline and `encore classify`
// / `encore embed` give, record by record and in input order, from every
// input format, and turns bad records into error records. Runs the real
// binary on the tiny fixture models.
#include <gtest/gtest.h>

#include <cmath>
#include <cstring>
#include <map>
#include <string>
#include <vector>

#include "embed_limit.h"
#include "expect_close.h"
#include "fixtures.h"
#include "score_helpers.h"

using fixtures::get;
using score_test::JsonLines;
using score_test::Result;
using score_test::Scratch;

namespace {

// Scores against the pipeline's: fp32 softmax/sigmoid of logits within 1e-4,
// as test_cli.cc.
constexpr double kPipelineTol = 1e-5;
// Against `encore classify`/`encore embed` on the same texts: the same fp32
// computation; only the batch (a different GEMM blocking) differs, which moves
// results by a few float32 ulps.
constexpr double kSameCodeTol = 1e-6;

struct Case {
    std::string name, text, pair;
    bool has_pair = false, truncation = false;
    bool blank = false;  // the text or the pair is empty or white space: an error record
    std::string pipeline, pipeline_top_k_all;
};

bool is_blank(const std::string &s) { return s.find_first_not_of(" \t\r\n\f\v") == std::string::npos; }

// The fixture cases the pipeline scored (not the over-long ones it refused,
// nor texts a C string cannot hold).
std::vector<Case> cases(const std::string &model) {
    std::vector<Case> out;
    auto ref = fixtures::load(model);
    if (!ref || !ref->root) return out;
    const cJSON *c;
    cJSON_ArrayForEach(c, get(ref->root, "cases")) {
        if (cJSON_IsTrue(get(c, "too_long")) || fixtures::has_nul(c)) continue;
        Case k;
        k.name = fixtures::str(c, "name");
        k.text = fixtures::str(c, "text");
        k.has_pair = cJSON_IsString(get(c, "text_pair"));
        if (k.has_pair) k.pair = fixtures::str(c, "text_pair");
        k.truncation = cJSON_IsTrue(get(c, "truncation"));
        k.blank = is_blank(k.text) || (k.has_pair && is_blank(k.pair));
        k.pipeline = fixtures::str(c, "pipeline");
        k.pipeline_top_k_all = fixtures::str(c, "pipeline_top_k_all");
        out.push_back(k);
    }
    return out;
}

bool plain_line(const std::string &s) { return s.find_first_of("\t\n\r") == std::string::npos; }

std::vector<std::string> base_args(const std::string &model, const std::string &in, const std::string &out) {
    return {"score", "--model", fixtures::model_dir(model), "--input", in, "--output", out, "--threads", "1",
            "--quiet"};
}

std::vector<std::string> with(std::vector<std::string> a, const std::vector<std::string> &more) {
    a.insert(a.end(), more.begin(), more.end());
    return a;
}

// {"label", "score"} pairs of a pipeline result: a list, or a bare dict.
std::vector<std::pair<std::string, double>> labels_of(const cJSON *v) {
    std::vector<std::pair<std::string, double>> out;
    if (cJSON_IsObject(v)) {
        out.push_back({score_test::string(v, "label"), score_test::number(v, "score")});
        return out;
    }
    const cJSON *e;
    cJSON_ArrayForEach(e, v) out.push_back({score_test::string(e, "label"), score_test::number(e, "score")});
    return out;
}

void expect_labels(const cJSON *got, const std::string &want_json, double tol, const std::string &what) {
    cJSON *want = cJSON_Parse(want_json.c_str());
    auto g = labels_of(got), w = labels_of(want);
    cJSON_Delete(want);
    ASSERT_EQ(g.size(), w.size()) << what;
    std::vector<double> gs, ws;
    for (size_t i = 0; i < g.size(); i++) {
        EXPECT_EQ(g[i].first, w[i].first) << what << " #" << i;
        gs.push_back(g[i].second);
        ws.push_back(w[i].second);
    }
    EXPECT_CLOSE(gs, ws, tol, 0) << what;
}

// ---- parity with the pipeline ---------------------------------------------

class ScorePipeline : public ::testing::TestWithParam<std::string> {};

TEST_P(ScorePipeline, EveryRecordGetsWhatThePipelineGivesInInputOrder) {
    const std::string model = GetParam();
    auto cs = cases(model);
    ASSERT_GT(cs.size(), 20u);
    Scratch s;
    std::string in;
    for (size_t i = 0; i < cs.size(); i++) {
        in += "{\"id\": \"" + cs[i].name + "\", \"text\": " + fixtures::quote(cs[i].text);
        if (cs[i].has_pair) in += ", \"pair\": " + fixtures::quote(cs[i].pair);
        in += "}\n";
    }
    score_test::write_file(s.path("in.jsonl"), in);
    // A small window and batch budget: many sorted windows and batches.
    int blank = 0;
    for (const auto &c : cs) blank += c.blank;
    ASSERT_GT(blank, 0);
    auto args = with(base_args(model, s.path("in.jsonl"), s.path("top1.jsonl")),
                     {"--pair-field", "pair", "--window", "7", "--batch-tokens", "100"});
    Result r = score_test::run(args);
    ASSERT_EQ(r.status, 1) << r.err;  // the empty texts
    r = score_test::run(with(base_args(model, s.path("in.jsonl"), s.path("all.jsonl")),
                             {"--pair-field", "pair", "--top-k", "all"}));
    ASSERT_EQ(r.status, 1) << r.err;
    JsonLines top1(score_test::read_file(s.path("top1.jsonl"))), all(score_test::read_file(s.path("all.jsonl")));
    ASSERT_EQ(top1.size(), cs.size());
    ASSERT_EQ(all.size(), cs.size());
    int truncated = 0;
    for (size_t i = 0; i < cs.size(); i++) {
        SCOPED_TRACE(cs[i].name);
        ASSERT_TRUE(top1[i] && all[i]);
        EXPECT_EQ(score_test::string(top1[i], "id"), cs[i].name);
        EXPECT_EQ(score_test::string(all[i], "id"), cs[i].name);
        if (cs[i].blank) {
            // Empty texts are bad records here, where the pipeline scores [CLS] [SEP].
            EXPECT_EQ(score_test::string(top1[i], "problem"), "empty_text");
            EXPECT_EQ(score_test::number(top1[i], "line"), (double)(i + 1));
            continue;
        }
        // The best label alone, as "label" and "score".
        cJSON *want = cJSON_Parse(cs[i].pipeline.c_str());
        auto w = labels_of(want);
        cJSON_Delete(want);
        EXPECT_EQ(score_test::string(top1[i], "label"), w[0].first);
        EXPECT_NEAR(score_test::number(top1[i], "score"), w[0].second, kPipelineTol);
        expect_labels(get(all[i], "scores"), cs[i].pipeline_top_k_all, kPipelineTol, cs[i].name);
        // Over-long texts are cut as the pipeline cuts them, and flagged.
        EXPECT_EQ(cJSON_IsTrue(get(top1[i], "truncated")), cs[i].truncation);
        truncated += cs[i].truncation;
    }
    EXPECT_GT(truncated, 0);
}

INSTANTIATE_TEST_SUITE_P(Models, ScorePipeline,
                         ::testing::Values("tiny-bert-sst", "tiny-distilbert-sst", "tiny-bert-multilabel"));

// ---- parity with encore classify / embed ----------------------------------

TEST(Score, SameAsClassifyOnTheSameTexts) {
    std::vector<std::string> texts;
    for (const auto &c : cases("tiny-bert-sst"))
        if (!c.has_pair && plain_line(c.text) && !c.blank) texts.push_back(c.text);
    ASSERT_GT(texts.size(), 15u);
    // Repeated, so that the run spans several windows.
    std::string in;
    std::vector<std::string> all;
    for (int rep = 0; rep < 5; rep++)
        for (const auto &t : texts) {
            in += t + "\n";
            all.push_back(t);
        }
    Scratch s;
    score_test::write_file(s.path("in.txt"), in);
    for (const char *top_k : {"", "all"}) {
        SCOPED_TRACE(top_k);
        auto args = with(base_args("tiny-bert-sst", s.path("in.txt"), s.path("out.jsonl")), {"--window", "16"});
        std::vector<std::string> classify = {"classify", "--model", fixtures::model_dir("tiny-bert-sst"),
                                             "--threads", "1", "--quiet"};
        if (*top_k) {
            args = with(args, {"--top-k", top_k});
            classify = with(classify, {"--top-k", top_k});
        }
        classify.push_back("--");
        classify.insert(classify.end(), all.begin(), all.end());
        Result r = score_test::run(args);
        ASSERT_EQ(r.status, 0) << r.err;
        Result c = score_test::run(classify);
        ASSERT_EQ(c.status, 0);
        JsonLines got(score_test::read_file(s.path("out.jsonl"))), want(c.out);
        ASSERT_EQ(got.size(), all.size());
        ASSERT_EQ(want.size(), all.size());
        for (size_t i = 0; i < all.size(); i++) {
            EXPECT_EQ(score_test::number(got[i], "line"), (double)(i + 1));
            if (*top_k) {
                expect_labels(get(got[i], "scores"), fixtures::dumps(want[i]).c_str(), kSameCodeTol, all[i]);
            } else {
                const cJSON *w = cJSON_GetArrayItem(want[i], 0);
                EXPECT_EQ(score_test::string(got[i], "label"), score_test::string(w, "label"));
                EXPECT_NEAR(score_test::number(got[i], "score"), score_test::number(w, "score"), kSameCodeTol);
            }
        }
    }
}

TEST(Score, EmbeddingModelsGiveSentenceTransformersEmbeddings) {
    auto ref = fixtures::load("tiny-bert-embed");
    ASSERT_TRUE(ref && ref->root);
    std::vector<const cJSON *> picked;
    std::string in;
    const cJSON *c;
    cJSON_ArrayForEach(c, get(ref->root, "cases")) {
        if (cJSON_IsTrue(get(c, "too_long")) || cJSON_IsTrue(get(c, "truncation")) || fixtures::has_nul(c) ||
            cJSON_IsString(get(c, "text_pair")) || !fixtures::has(c, "embedding") || is_blank(fixtures::str(c, "text")))
            continue;
        picked.push_back(c);
        in += "{\"text\": " + fixtures::quote(fixtures::str(c, "text")) + "}\n";
    }
    ASSERT_GT(picked.size(), 10u);
    Scratch s;
    score_test::write_file(s.path("in.jsonl"), in);
    for (bool normalize : {false, true}) {
        auto args = base_args("tiny-bert-embed", s.path("in.jsonl"), s.path("out.jsonl"));
        if (normalize) args.push_back("--normalize");
        Result r = score_test::run(args);
        ASSERT_EQ(r.status, 0) << r.err;
        JsonLines got(score_test::read_file(s.path("out.jsonl")));
        ASSERT_EQ(got.size(), picked.size());
        for (size_t i = 0; i < picked.size(); i++) {
            // Embeddings within 1e-5 of sentence-transformers, as test_model.cc.
            EXPECT_CLOSE(fixtures::numbers(got[i], "embedding"),
                         fixtures::numbers(picked[i], normalize ? "embedding_normalized" : "embedding"), 1e-5, 0)
                << fixtures::str(picked[i], "name");
        }
        // And what `encore embed` prints for the first text.
        std::vector<std::string> embed = {"embed", "--model", fixtures::model_dir("tiny-bert-embed"), "--quiet",
                                          "--threads", "1"};
        if (normalize) embed.push_back("--normalize");
        embed = with(embed, {"--", fixtures::str(picked[0], "text")});
        Result e = score_test::run(embed);
        cJSON *want = cJSON_Parse(e.out.c_str());
        auto w = fixtures::numbers(want), g = fixtures::numbers(got[0], "embedding");
        cJSON_Delete(want);
        EXPECT_CLOSE(g, w, kSameCodeTol, 0);
    }
}

// A model whose sentence_bert_config.json max_seq_length (16) is below its
// limit (64): records are cut at 16 tokens, as sentence-transformers and
// `encore embed` cut them, and marked truncated.
TEST(Score, EmbeddingsAreCutAtMaxSeqLengthAsSentenceTransformers) {
    std::string why;
    const auto cases = embed_limit::cases(&why);
    ASSERT_FALSE(cases.empty()) << why;
    std::string in;
    std::vector<std::string> texts;
    for (const auto &k : cases) {
        in += "{\"text\": " + fixtures::quote(k.text) + "}\n";
        texts.push_back(k.text);
    }
    Scratch s;
    score_test::write_file(s.path("in.jsonl"), in);
    for (bool normalize : {false, true}) {
        SCOPED_TRACE(normalize ? "normalized" : "raw");
        auto args = base_args(embed_limit::kModel, s.path("in.jsonl"), s.path("out.jsonl"));
        if (normalize) args.push_back("--normalize");
        Result r = score_test::run(args);
        ASSERT_EQ(r.status, 0) << r.err;
        JsonLines got(score_test::read_file(s.path("out.jsonl")));
        ASSERT_EQ(got.size(), cases.size());
        std::vector<std::string> embed = {"embed", "--model", fixtures::model_dir(embed_limit::kModel), "--quiet",
                                          "--threads", "1"};
        if (normalize) embed.push_back("--normalize");
        embed.push_back("--");
        embed.insert(embed.end(), texts.begin(), texts.end());
        Result e = score_test::run(embed);
        ASSERT_EQ(e.status, 0);
        JsonLines cli(e.out);
        ASSERT_EQ(cli.size(), cases.size());
        for (size_t i = 0; i < cases.size(); i++) {
            const auto &k = cases[i];
            auto g = fixtures::numbers(got[i], "embedding");
            // Within 1e-5 of sentence-transformers, as test_model.cc ...
            EXPECT_LE(embed_limit::max_diff(g, normalize ? k.embedding_normalized : k.embedding), 1e-5) << k.name;
            // ... and the same computation as `encore embed`.
            EXPECT_LE(embed_limit::max_diff(g, fixtures::numbers(cli[i])), kSameCodeTol) << k.name;
            EXPECT_EQ(cJSON_IsTrue(get(got[i], "truncated")), k.n_tokens > embed_limit::kEmbedLimit) << k.name;
        }
    }
    // --no-truncation: a record longer than max_seq_length is an error record.
    Result r = score_test::run(with(base_args(embed_limit::kModel, s.path("in.jsonl"), s.path("strict.jsonl")),
                                    {"--no-truncation"}));
    EXPECT_NE(r.status, 0);
    JsonLines strict(score_test::read_file(s.path("strict.jsonl")));
    ASSERT_EQ(strict.size(), cases.size());
    for (size_t i = 0; i < cases.size(); i++) {
        const bool too_long = cases[i].n_tokens > embed_limit::kEmbedLimit;
        EXPECT_EQ(fixtures::has(strict[i], "error"), too_long) << cases[i].name;
        if (too_long) {
            EXPECT_NE(fixtures::str(strict[i], "error").find("at most 16"), std::string::npos) << cases[i].name;
        }
    }
}

// ---- input formats --------------------------------------------------------

// The same records as JSONL, TSV, CSV and plain text, from files and stdin,
// give the same results.
TEST(Score, EveryInputFormatGivesTheSameResults) {
    std::vector<std::string> texts;
    for (const auto &c : cases("tiny-bert-sst"))
        if (!c.has_pair && plain_line(c.text) && !c.blank && texts.size() < 14) texts.push_back(c.text);
    texts.push_back("a \"quoted\" word, a comma; and 'single' quotes");
    Scratch s;
    std::string jsonl, tsv = "label\ttext\tid\n", csv = "id,text,label\n", text;
    for (size_t i = 0; i < texts.size(); i++) {
        std::string id = "r" + std::to_string(i);
        jsonl += "{\"text\": " + fixtures::quote(texts[i]) + ", \"id\": \"" + id + "\", \"label\": 1}\n";
        tsv += "1\t" + texts[i] + "\t" + id + "\n";
        std::string q = texts[i];
        for (size_t p = 0; (p = q.find('"', p)) != std::string::npos; p += 2) q.insert(p, "\"");
        csv += id + ",\"" + q + "\",1\r\n";
        text += texts[i] + "\n";
    }
    score_test::write_file(s.path("in.jsonl"), jsonl);
    score_test::write_file(s.path("in.tsv"), tsv);
    score_test::write_file(s.path("in.csv"), csv);
    score_test::write_file(s.path("in.txt"), text);
    score_test::write_file(s.path("records.dat"), jsonl);  // no telling name: found by its first byte
    std::vector<std::pair<std::vector<std::string>, const std::string *>> runs = {
        {{s.path("in.jsonl")}, nullptr},
        {{s.path("in.tsv")}, nullptr},
        {{s.path("in.csv")}, nullptr},
        {{s.path("in.txt")}, nullptr},
        {{s.path("records.dat")}, nullptr},
        {{"-"}, &jsonl},
        {{"-", "--input-format", "tsv"}, &tsv},
        {{"-", "--input-format", "csv"}, &csv},
        {{"-"}, &text},
    };
    std::vector<std::string> first;
    for (const auto &[in, stdin_text] : runs) {
        SCOPED_TRACE(in[0] + (in.size() > 1 ? " " + in[2] : ""));
        auto args = base_args("tiny-bert-sst", in[0], s.path("out.jsonl"));
        args.insert(args.end(), in.begin() + 1, in.end());
        Result r = score_test::run(args, stdin_text);
        ASSERT_EQ(r.status, 0) << r.err;
        JsonLines got(score_test::read_file(s.path("out.jsonl")));
        ASSERT_EQ(got.size(), texts.size());
        std::vector<std::string> results;
        for (size_t i = 0; i < got.size(); i++) {
            ASSERT_TRUE(got[i]);
            const bool plain = stdin_text == &text || in[0] == s.path("in.txt");
            if (plain) EXPECT_EQ(score_test::number(got[i], "line"), (double)(i + 1));
            else EXPECT_EQ(score_test::string(got[i], "id"), "r" + std::to_string(i));
            results.push_back(score_test::string(got[i], "label") + " " +
                              std::to_string(score_test::number(got[i], "score")));
        }
        if (first.empty()) first = results;
        else EXPECT_EQ(results, first);
    }
}

TEST(Score, CsvQuotedFieldsMayHoldNewlinesAndLineNumbersFollowThem) {
    Scratch s;
    score_test::write_file(s.path("in.csv"),
                           "\xef\xbb\xbftext,score_me\n"              // a byte order mark, a header
                           "\"first line\nsecond line\",1\n"           // lines 2-3
                           "plain text,1\n"                            // line 4
                           "\"he said \"\"wow\"\", really\",1\n"       // line 5
                           "\"never closed,1\n");                      // line 6: malformed
    Result r = score_test::run(base_args("tiny-bert-sst", s.path("in.csv"), s.path("out.jsonl")));
    EXPECT_EQ(r.status, 1);
    JsonLines got(score_test::read_file(s.path("out.jsonl")));
    ASSERT_EQ(got.size(), 4u);
    EXPECT_EQ(score_test::number(got[0], "line"), 2);
    EXPECT_EQ(score_test::number(got[1], "line"), 4);
    EXPECT_EQ(score_test::number(got[2], "line"), 5);
    EXPECT_EQ(score_test::number(got[3], "line"), 6);
    EXPECT_EQ(score_test::string(got[3], "problem"), "malformed");
    // The quoted texts are the texts: compare with classify.
    Result c = score_test::run({"classify", "--model", fixtures::model_dir("tiny-bert-sst"), "--quiet", "--threads",
                                "1", "--", "first line\nsecond line", "he said \"wow\", really"});
    JsonLines want(c.out);
    ASSERT_EQ(want.size(), 2u);
    EXPECT_NEAR(score_test::number(got[0], "score"), score_test::number(cJSON_GetArrayItem(want[0], 0), "score"),
                kSameCodeTol);
    EXPECT_NEAR(score_test::number(got[2], "score"), score_test::number(cJSON_GetArrayItem(want[1], 0), "score"),
                kSameCodeTol);
}

// ---- bad records ----------------------------------------------------------

const char kBadJsonl[] =
    "{\"id\": 1, \"text\": \"a fine film\"}\n"        // 1 good
    "{\"id\": 2, \"text\": \"bad \xff byte\"}\n"      // 2 invalid UTF-8
    "{\"id\": 3, \"text\": 5}\n"                      // 3 not a string
    "{\"id\": 4}\n"                                   // 4 missing field
    "{\"id\": 5, \"text\": \"unterminated\n"          // 5 malformed JSON
    "\n"                                              // 6 blank: no record
    "{\"id\": 7, \"text\": \"\"}\n"                   // 7 empty
    "{\"id\": 8, \"text\": \" \\t \"}\n"              // 8 white space only
    "[\"an\", \"array\"]\n"                           // 9 not an object
    "{\"id\": \"x10\", \"text\": \"a dull film\"}\n"  // 10 good
    "{\"id\": 11, \"text\": \"a\\u0000b\"}\n"          // 11 U+0000, which cJSON would end the text at
    "{\"id\": 12, \"text\": \"a \\\\u0000\"}\n";        // 12 good: an escaped backslash, then u0000

TEST(Score, BadRecordsBecomeErrorRecordsWithTheirLineAndTheRunGoesOn) {
    Scratch s;
    score_test::write_file(s.path("in.jsonl"), kBadJsonl);
    auto args = base_args("tiny-bert-sst", s.path("in.jsonl"), s.path("out.jsonl"));
    args.pop_back();  // not --quiet: the summary
    args = with(args, {"--progress", "json"});
    Result r = score_test::run(args);
    EXPECT_EQ(r.status, 1) << r.err;  // some records failed
    JsonLines got(score_test::read_file(s.path("out.jsonl")));
    ASSERT_EQ(got.size(), 11u);
    const std::vector<std::pair<int, std::string>> want = {
        {1, ""},          {2, "invalid_utf8"}, {3, "missing_field"}, {4, "missing_field"}, {5, "malformed"},
        {7, "empty_text"}, {8, "empty_text"},  {9, "malformed"},     {10, ""},           {11, "malformed"},
        {12, ""}};
    for (size_t i = 0; i < want.size(); i++) {
        SCOPED_TRACE(i);
        ASSERT_TRUE(got[i]);
        if (want[i].second.empty()) {
            EXPECT_FALSE(get(got[i], "error"));
            EXPECT_TRUE(get(got[i], "label"));
        } else {
            EXPECT_EQ(score_test::number(got[i], "line"), want[i].first);
            EXPECT_EQ(score_test::string(got[i], "problem"), want[i].second);
            EXPECT_FALSE(score_test::string(got[i], "error").empty());
        }
    }
    // Ids are kept as they were: numbers as numbers, strings as strings.
    EXPECT_TRUE(cJSON_IsNumber(get(got[0], "id")));
    EXPECT_EQ(score_test::string(got[8], "id"), "x10");
    EXPECT_EQ(score_test::number(got[2], "id"), 3);
    cJSON *sum = score_test::summary(r.err);
    ASSERT_TRUE(sum) << r.err;
    EXPECT_EQ(score_test::number(sum, "records"), 11);
    EXPECT_EQ(score_test::number(sum, "scored"), 3);
    EXPECT_EQ(score_test::number(sum, "errors"), 8);
    const cJSON *p = get(sum, "problems");
    EXPECT_EQ(score_test::number(p, "invalid_utf8"), 1);
    EXPECT_EQ(score_test::number(p, "missing_field"), 2);
    EXPECT_EQ(score_test::number(p, "malformed"), 3);
    EXPECT_EQ(score_test::number(p, "empty_text"), 2);
    EXPECT_TRUE(cJSON_IsTrue(get(sum, "complete")));
    cJSON_Delete(sum);
}

TEST(Score, BadRecordsInTextTsvAndCsv) {
    Scratch s;
    score_test::write_file(s.path("in.txt"), "good\n\nbad \xc3\x28 utf-8\n   \nalso good");  // no final newline
    score_test::write_file(s.path("in.tsv"), "text\tlabel\ngood\t1\n\t1\nno tab here\n");
    Result r = score_test::run(base_args("tiny-bert-sst", s.path("in.txt"), s.path("out.jsonl")));
    EXPECT_EQ(r.status, 1);
    JsonLines t(score_test::read_file(s.path("out.jsonl")));
    ASSERT_EQ(t.size(), 5u);
    EXPECT_EQ(score_test::string(t[1], "problem"), "empty_text");
    EXPECT_EQ(score_test::string(t[2], "problem"), "invalid_utf8");
    EXPECT_EQ(score_test::string(t[3], "problem"), "empty_text");
    EXPECT_EQ(score_test::number(t[4], "line"), 5);
    EXPECT_TRUE(get(t[4], "label"));
    r = score_test::run(with(base_args("tiny-bert-sst", s.path("in.tsv"), s.path("out.jsonl")), {"--pair-field", "label"}));
    EXPECT_EQ(r.status, 1);
    JsonLines v(score_test::read_file(s.path("out.jsonl")));
    ASSERT_EQ(v.size(), 3u);
    EXPECT_TRUE(get(v[0], "label"));
    EXPECT_EQ(score_test::string(v[1], "problem"), "empty_text");
    EXPECT_EQ(score_test::string(v[2], "problem"), "missing_field");
    EXPECT_EQ(score_test::number(v[2], "line"), 4);
}

TEST(Score, StrictStopsAtTheFirstBadRecord) {
    Scratch s;
    score_test::write_file(s.path("in.jsonl"), kBadJsonl);
    Result r = score_test::run(with(base_args("tiny-bert-sst", s.path("in.jsonl"), s.path("out.jsonl")), {"--strict"}));
    EXPECT_EQ(r.status, 1);
    EXPECT_NE(r.err.find("in.jsonl:2:"), std::string::npos) << r.err;
    EXPECT_NE(r.err.find("invalid_utf8"), std::string::npos) << r.err;
    JsonLines got(score_test::read_file(s.path("out.jsonl")));
    ASSERT_EQ(got.size(), 1u);
    EXPECT_EQ(score_test::number(got[0], "id"), 1);
}

TEST(Score, OverLongAndOversizedRecords) {
    Scratch s;
    std::string long_text;
    for (int i = 0; i < 200; i++) long_text += "word ";
    score_test::write_file(s.path("in.txt"), "short text\n" + long_text + "\n");
    // --no-truncation: an over-long text is an error, as transformers without truncation.
    Result r = score_test::run(with(base_args("tiny-bert-sst", s.path("in.txt"), s.path("out.jsonl")), {"--no-truncation"}));
    EXPECT_EQ(r.status, 1);
    JsonLines a(score_test::read_file(s.path("out.jsonl")));
    ASSERT_EQ(a.size(), 2u);
    EXPECT_FALSE(get(a[0], "truncated"));
    EXPECT_EQ(score_test::string(a[1], "problem"), "too_long");
    // By default it is truncated and flagged.
    r = score_test::run(base_args("tiny-bert-sst", s.path("in.txt"), s.path("out.jsonl")));
    EXPECT_EQ(r.status, 0) << r.err;
    JsonLines b(score_test::read_file(s.path("out.jsonl")));
    ASSERT_EQ(b.size(), 2u);
    EXPECT_TRUE(cJSON_IsTrue(get(b[1], "truncated")));
    // A record longer than --max-record-bytes is refused without being held.
    r = score_test::run(with(base_args("tiny-bert-sst", s.path("in.txt"), s.path("out.jsonl")),
                             {"--max-record-bytes", "100"}));
    EXPECT_EQ(r.status, 1);
    JsonLines c(score_test::read_file(s.path("out.jsonl")));
    ASSERT_EQ(c.size(), 2u);
    EXPECT_EQ(score_test::string(c[1], "problem"), "too_large");
}

// ---- output formats -------------------------------------------------------

TEST(Score, TsvAndNpyHoldTheSameScoresAsJsonl) {
    Scratch s;
    score_test::write_file(s.path("in.jsonl"), kBadJsonl);
    auto args = with(base_args("tiny-bert-multilabel", s.path("in.jsonl"), s.path("out.jsonl")), {"--top-k", "all"});
    ASSERT_EQ(score_test::run(args).status, 1);
    ASSERT_EQ(score_test::run(with(base_args("tiny-bert-multilabel", s.path("in.jsonl"), s.path("out.tsv")),
                                   {"--top-k", "all", "--format", "tsv"}))
                  .status,
              1);
    ASSERT_EQ(score_test::run(with(base_args("tiny-bert-multilabel", s.path("in.jsonl"), s.path("out.npy")),
                                   {"--format", "npy"}))
                  .status,
              1);
    JsonLines js(score_test::read_file(s.path("out.jsonl")));
    ASSERT_EQ(js.size(), 11u);
    // The labels in label order, from the first good record's list.
    std::vector<std::string> labels;
    auto tsv = score_test::lines(score_test::read_file(s.path("out.tsv")));
    ASSERT_EQ(tsv.size(), 12u);
    std::vector<std::string> header;
    {
        std::string h = tsv[0];
        size_t start = 0, tab;
        while ((tab = h.find('\t', start)) != std::string::npos) {
            header.push_back(h.substr(start, tab - start));
            start = tab + 1;
        }
        header.push_back(h.substr(start));
    }
    ASSERT_GE(header.size(), 4u);
    EXPECT_EQ(header.front(), "id");
    EXPECT_EQ(header[header.size() - 2], "truncated");
    EXPECT_EQ(header.back(), "error");
    labels.assign(header.begin() + 1, header.end() - 2);
    const size_t L = labels.size();
    // .npy: header, then (11, L) float32.
    std::string npy = score_test::read_file(s.path("out.npy"));
    ASSERT_EQ(npy.size(), 128 + 11 * L * 4);
    EXPECT_EQ(npy.substr(0, 6), "\x93NUMPY");
    EXPECT_NE(npy.find("'shape': (11, " + std::to_string(L) + ")"), std::string::npos) << npy.substr(0, 128);
    auto index = score_test::lines(score_test::read_file(s.path("out.index.jsonl")));
    ASSERT_EQ(index.size(), 11u);
    for (size_t i = 0; i < 11; i++) {
        SCOPED_TRACE(i);
        cJSON *ix = cJSON_Parse(index[i].c_str());
        EXPECT_EQ(score_test::number(ix, "row"), (double)i);
        const float *row = reinterpret_cast<const float *>(npy.data() + 128 + i * L * 4);
        if (get(js[i], "error")) {
            EXPECT_EQ(score_test::string(ix, "problem"), score_test::string(js[i], "problem"));
            EXPECT_TRUE(std::isnan(row[0]));
            EXPECT_NE(tsv[i + 1].find(score_test::string(js[i], "problem")), std::string::npos);
        } else {
            // Every label's score: JSONL's text reads back to the npy float32 exactly.
            std::map<std::string, double> by_label;
            const cJSON *e;
            cJSON_ArrayForEach(e, get(js[i], "scores")) by_label[score_test::string(e, "label")] =
                score_test::number(e, "score");
            ASSERT_EQ(by_label.size(), L);
            for (size_t k = 0; k < L; k++) {
                EXPECT_EQ((float)by_label[labels[k]], row[k]) << labels[k];
                EXPECT_NE(tsv[i + 1].find(std::to_string(by_label[labels[k]]).substr(0, 6)), std::string::npos);
            }
        }
        cJSON_Delete(ix);
    }
}

TEST(Score, ProgressJsonAndUsageErrors) {
    Scratch s;
    score_test::write_file(s.path("in.txt"), "one\ntwo\n");
    auto args = base_args("tiny-bert-sst", s.path("in.txt"), "-");
    args.pop_back();
    args = with(args, {"--progress", "json"});
    Result r = score_test::run(args);
    ASSERT_EQ(r.status, 0) << r.err;
    EXPECT_EQ(score_test::lines(r.out).size(), 2u);  // --output - is stdout
    cJSON *sum = score_test::summary(r.err);
    ASSERT_TRUE(sum) << r.err;
    EXPECT_EQ(score_test::number(sum, "records"), 2);
    EXPECT_GT(score_test::number(sum, "tokens"), 4);
    const cJSON *t = get(sum, "time_s");
    for (const char *k : {"read", "tokenize", "model", "write", "model_wait"}) EXPECT_GE(score_test::number(t, k), 0) << k;
    cJSON_Delete(sum);

    const std::string m = fixtures::model_dir("tiny-bert-sst"), e = fixtures::model_dir("tiny-bert-embed");
    const std::string in = s.path("in.txt"), out = s.path("o.jsonl");
    EXPECT_EQ(score_test::run({"score", "--model", m, "--output", out}).status, 2);                   // no --input
    EXPECT_EQ(score_test::run({"score", "--model", m, "--input", in}).status, 2);                     // no --output
    EXPECT_EQ(score_test::run({"score", "--model", m, "--input", in, "--output", "-", "--resume"}).status, 2);
    EXPECT_EQ(score_test::run({"score", "--model", m, "--input", in, "--output", out, "--format", "xml"}).status, 2);
    EXPECT_EQ(score_test::run({"score", "--model", e, "--input", in, "--output", out, "--top-k", "2"}).status, 2);
    EXPECT_EQ(score_test::run({"score", "--model", m, "--input", in, "--output", out, "--normalize"}).status, 2);
    EXPECT_EQ(score_test::run({"score", "--model", m, "--input", s.path("missing"), "--output", out}).status, 2);
    EXPECT_EQ(score_test::run({"score", "--model", "/nonexistent", "--input", in, "--output", out}).status, 2);
    score_test::write_file(s.path("in.tsv"), "sentence\tlabel\nhi\t1\n");
    Result no_col = score_test::run({"score", "--model", m, "--input", s.path("in.tsv"), "--output", out});
    EXPECT_EQ(no_col.status, 2);
    EXPECT_NE(no_col.err.find("'sentence'"), std::string::npos) << no_col.err;  // says which columns there are
    EXPECT_EQ(score_test::run({"score", "--help"}).status, 0);
}

}  // namespace
