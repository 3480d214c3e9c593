// test_cli_ner.cc: `encore ner` prints what transformers'
// pipeline("token-classification") returns, json.dumps'd, one line per
// text (tests/fixtures/reference/*.ner.json), and refuses bad options.
#include <gtest/gtest.h>

#include <map>
#include <regex>
#include <string>
#include <tuple>
#include <utility>
#include <vector>

#include "cli_run.h"
#include "expect_close.h"
#include "fixtures.h"

namespace {

using fixtures::get;
using cli::layout;
using cli::lines;
using cli::numbers_in;
using cli::run;

// (start, end and index are integers: close is equal.)
// Scores: the same tolerance as test_ner, for the same reasons.
constexpr double kScoreTol = 1e-5;

// Every reference case through the CLI: the cases of one strategy and one
// ignore list go to one process, a text per stdin line.
TEST(CliNer, PrintsWhatThePipelinePrints) {
    for (const char *name : {"tiny-bert-ner", "tiny-distilbert-ner", "tiny-roberta-ner", "tiny-xlmr-ner",
                             "tiny-mpnet-ner", "tiny-electra-ner", "tiny-deberta-ner"}) {
        auto ref = fixtures::load(std::string(name) + ".ner");
        ASSERT_TRUE(ref && ref->root) << name;
        // (strategy or "" when not passed, ignore list or "default", stride or -1)
        //   -> the cases' texts and outputs
        std::map<std::tuple<std::string, std::string, int>, std::vector<const cJSON *>> runs;
        const cJSON *c;
        cJSON_ArrayForEach(c, get(ref->root, "pipeline_cases")) {
            const cJSON *ig = get(c, "ignore_labels");
            runs[{fixtures::has(c, "aggregation_strategy") ? fixtures::str(c, "aggregation_strategy") : "",
                  cJSON_IsArray(ig) ? "=" + fixtures::join(ig) : "default",
                  fixtures::has(c, "stride") ? get(c, "stride")->valueint : -1}]
                .push_back(c);
        }
        int n = 0, strided = 0;
        for (const auto &[key, cases] : runs) {
            const auto &[strategy, ignore, stride] = key;
            std::vector<std::string> args = {"ner", "--model", fixtures::model_dir(name), "--quiet"};
            if (!strategy.empty()) args.insert(args.end(), {"--aggregation-strategy", strategy});
            if (ignore != "default") args.insert(args.end(), {"--ignore-labels", ignore.substr(1)});
            if (stride >= 0) args.insert(args.end(), {"--stride", std::to_string(stride)}), strided++;
            std::string input, want;
            for (const cJSON *k : cases) {
                ASSERT_EQ(fixtures::str(k, "text").find('\n'), std::string::npos);
                input += fixtures::str(k, "text") + "\n";
                want += fixtures::str(k, "pipeline") + "\n";
            }
            const cli::Result r = run(args, input);
            const std::string what = std::string(name) + " " + strategy + " " + ignore + " " + std::to_string(stride);
            EXPECT_EQ(r.status, 0) << what;
            const auto got_lines = lines(r.out), want_lines = lines(want);
            ASSERT_EQ(got_lines.size(), want_lines.size()) << what;
            for (size_t i = 0; i < got_lines.size(); i++) {
                const std::string at = what + " case " + fixtures::str(cases[i], "name");
                EXPECT_EQ(layout(got_lines[i]), layout(want_lines[i])) << at << "\n got: " << got_lines[i]
                                                                       << "\nwant: " << want_lines[i];
                if (want_lines[i] == "[]") {
                    EXPECT_EQ(got_lines[i], "[]") << at;  // no numbers to hold to each other
                } else {
                    EXPECT_CLOSE(numbers_in(got_lines[i]), numbers_in(want_lines[i]), kScoreTol, 0) << at;
                    n++;
                }
            }
        }
        EXPECT_GE(n, 130) << name;
        EXPECT_GE(strided, 10) << name;
    }
}

// Texts on the command line, and a strategy named in capitals.
TEST(CliNer, TakesTextArguments) {
    auto ref = fixtures::load("tiny-bert-ner.ner");
    ASSERT_TRUE(ref && ref->root);
    std::vector<std::string> args = {"ner", "--model", fixtures::model_dir("tiny-bert-ner"), "--quiet",
                                     "--aggregation-strategy", "FIRST", "--"};
    std::string want;
    const cJSON *c;
    cJSON_ArrayForEach(c, get(ref->root, "pipeline_cases")) {
        if (!fixtures::has(c, "aggregation_strategy") || fixtures::str(c, "aggregation_strategy") != "first" ||
            fixtures::has(c, "ignore_labels") || fixtures::has(c, "stride"))
            continue;
        args.push_back(fixtures::str(c, "text"));
        want += fixtures::str(c, "pipeline") + "\n";
    }
    ASSERT_GT(args.size(), 10u);
    const cli::Result r = run(args);
    EXPECT_EQ(r.status, 0);
    EXPECT_EQ(layout(r.out), layout(want)) << r.out;
    EXPECT_CLOSE(numbers_in(r.out), numbers_in(want), kScoreTol, 0);
}

TEST(CliNer, RefusesBadInput) {
    const std::string ner = fixtures::model_dir("tiny-bert-ner");
    // Invalid UTF-8 costs its own line; the others still print.
    cli::Result r = run({"ner", "--model", ner, "--quiet"}, "Washington\nbad \xff text\nParis\n");
    EXPECT_EQ(r.status, 1);
    auto out = lines(r.out);
    ASSERT_EQ(out.size(), 3u) << r.out;
    EXPECT_EQ(out[0].rfind("[{\"entity\": ", 0), 0u) << out[0];
    EXPECT_NE(out[1].find("\"status\": \"bad input\""), std::string::npos) << out[1];
    EXPECT_EQ(out[2].rfind("[{\"entity\": ", 0), 0u) << out[2];
    // An unknown strategy, models without a token classifier, missing values.
    EXPECT_EQ(run({"ner", "--model", ner, "--aggregation-strategy", "mean", "a"}).status, 2);
    EXPECT_EQ(run({"ner", "--model", ner, "--aggregation-strategy"}).status, 2);
    EXPECT_EQ(run({"ner", "--model", ner, "--stride", "8", "--aggregation-strategy", "none", "a"}).status, 2);
    EXPECT_EQ(run({"ner", "--model", ner, "--stride", "-1", "--aggregation-strategy", "first", "a"}).status, 2);
    EXPECT_EQ(run({"ner", "--model", ner, "--stride", "64", "--aggregation-strategy", "first", "a"}).status, 2);
    for (const char *other : {"tiny-bert-sst", "tiny-bert-qa", "tiny-bert-mlm"})
        EXPECT_EQ(run({"ner", "--model", fixtures::model_dir(other), "--quiet", "a film"}).status, 2) << other;
    EXPECT_EQ(run({"ner", "--model", "/nonexistent", "a"}).status, 2);
    // Over-long text without truncation: the text's error line.
    std::string text;
    for (int i = 0; i < 80; i++) text += "word ";
    r = run({"ner", "--model", ner, "--quiet", "--no-truncation", text});
    EXPECT_EQ(r.status, 1);
    EXPECT_NE(r.out.find("\"error\""), std::string::npos) << r.out;
    EXPECT_EQ(run({"ner", "--help"}).status, 0);
}

}  // namespace
