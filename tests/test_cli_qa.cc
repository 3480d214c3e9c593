// test_cli_qa.cc: `encore qa` prints what transformers 4.57's
// pipeline("question-answering") returns, json.dumps'd, one line per
// question: the same layout and texts, offsets exact, scores within
// tolerance, for every case of tests/fixtures/reference/<model>.qa.json
// (questions as arguments with --context, and {question, context} JSON lines
// on stdin). Runs the real binary.
#include <gtest/gtest.h>

#include <regex>
#include <string>
#include <vector>

#include "cli_run.h"
#include "expect_close.h"
#include "fixtures.h"

using fixtures::get;

namespace {

using cli::layout;
using cli::lines;
using cli::numbers_in;
using cli::run;

// Scores within test_qa's 1e-5 (see there); offsets are integers, and
// integers within 1e-5 are equal.
constexpr double kScoreTol = 1e-5;

void expect_same(const std::string &got, const std::string &want, const std::string &what) {
    EXPECT_EQ(layout(got), layout(want)) << what << "\n got: " << got << "\nwant: " << want;
    EXPECT_CLOSE(numbers_in(got), numbers_in(want), kScoreTol, 0) << what << "\n got: " << got;
}

// One printed result against the pipeline's, parsed: the same shape and keys
// in the same order, texts and offsets equal, scores within kScoreTol.
void expect_same_json(const cJSON *got, const cJSON *want, const std::string &what) {
    ASSERT_TRUE(got) << what << ": not JSON";
    ASSERT_EQ(got->type & 0xFF, want->type & 0xFF) << what;
    if (cJSON_IsArray(want) || cJSON_IsObject(want)) {
        ASSERT_EQ(cJSON_GetArraySize(got), cJSON_GetArraySize(want)) << what;
        const cJSON *g = got->child;
        for (const cJSON *w = want->child; w; w = w->next, g = g->next) {
            if (w->string) {
                EXPECT_STREQ(g->string, w->string) << what;
            }
            expect_same_json(g, w, what + (w->string ? std::string(".") + w->string : std::string("[]")));
        }
    } else if (cJSON_IsNumber(want)) {
        EXPECT_NEAR(got->valuedouble, want->valuedouble, kScoreTol) << what;
    } else if (cJSON_IsString(want)) {
        EXPECT_STREQ(got->valuestring, want->valuestring) << what;
    }
}

class CliQa : public ::testing::TestWithParam<const char *> {};

TEST_P(CliQa, PrintsWhatThePipelineReturns) {
    const std::string name = GetParam();
    auto ref = fixtures::load(name + ".qa");
    ASSERT_TRUE(ref && ref->root) << name;
    int n = 0, stdin_cases = 0;
    const cJSON *c;
    cJSON_ArrayForEach(c, get(ref->root, "cases")) {
        const std::string cname = fixtures::str(c, "name");
        std::vector<std::string> args = {"qa", "--model", fixtures::model_dir(name), "--quiet"};
        const std::vector<std::string> p = fixtures::qa_args(get(c, "parameters"));
        args.insert(args.end(), p.begin(), p.end());
        const cJSON *inputs = get(c, "inputs");
        cJSON *output = cJSON_GetObjectItemCaseSensitive(c, "output");
        const bool trimmed = fixtures::drop_zero_score_fill(output);
        std::vector<const cJSON *> want;  // one result per question
        cli::Result r;
        if (cJSON_IsArray(inputs)) {
            // {question, context} JSON lines on stdin
            std::string in;
            const cJSON *item;
            cJSON_ArrayForEach(item, inputs) in += fixtures::dumps(item) + "\n";
            cJSON_ArrayForEach(item, output) want.push_back(item);
            r = run(args, in);
            stdin_cases++;
        } else {
            args.insert(args.end(), {"--context", fixtures::str(inputs, "context"), "--"});
            const cJSON *q = get(inputs, "question");
            if (cJSON_IsArray(q)) {
                const cJSON *item;
                cJSON_ArrayForEach(item, q) args.push_back(item->valuestring);
                cJSON_ArrayForEach(item, output) want.push_back(item);
            } else {
                args.push_back(q->valuestring);
                want.push_back(output);
            }
            r = run(args);
            if (!cJSON_IsArray(q) && !trimmed) {
                // One question: its line is the pipeline's json.dumps, byte for
                // byte but for the digits of the score.
                expect_same(r.out, fixtures::str(c, "json") + "\n", cname);
            }
        }
        EXPECT_EQ(r.status, 0) << cname;
        const std::vector<std::string> got = lines(r.out);
        ASSERT_EQ(got.size(), want.size()) << cname << "\n" << r.out;
        for (size_t i = 0; i < got.size(); i++) {
            cJSON *g = cJSON_Parse(got[i].c_str());
            expect_same_json(g, want[i], cname + " line " + std::to_string(i));
            cJSON_Delete(g);
        }
        n++;
    }
    EXPECT_GE(n, 20);
    EXPECT_GE(stdin_cases, 1);
}

INSTANTIATE_TEST_SUITE_P(Fixtures, CliQa, ::testing::Values("tiny-bert-qa", "tiny-distilbert-qa", "tiny-roberta-qa",
                                                                     "tiny-xlmr-qa", "tiny-mpnet-qa",
                                                                     "tiny-electra-qa", "tiny-deberta-qa"));

TEST(CliQa, RefusesBadInput) {
    const std::string qa = fixtures::model_dir("tiny-bert-qa");
    // A bad line costs its own line; the others still print.
    cli::Result r = run({"qa", "--model", qa, "--quiet"},
                        "{\"question\": \"Which city?\", \"context\": \"Paris is a city.\"}\nnot json\n"
                        "{\"question\": \"\", \"context\": \"Paris is a city.\"}\n"
                        "{\"question\": \"Which city?\", \"context\": \"Paris is a city.\"}\n");
    EXPECT_EQ(r.status, 1);
    const std::string out = r.out;
    size_t lines = 0;
    for (char ch : out) lines += ch == '\n';
    EXPECT_EQ(lines, 4u) << out;
    EXPECT_NE(out.find("\"error\": \"each line is a JSON object"), std::string::npos) << out;
    EXPECT_NE(out.find("\"error\": \"the question is empty\""), std::string::npos) << out;
    // Questions as arguments need a context; bad numbers; a model without a span head.
    EXPECT_EQ(run({"qa", "--model", qa, "--quiet", "Who?"}).status, 2);
    EXPECT_EQ(run({"qa", "--model", qa, "--quiet", "--top-k", "0", "--context", "c", "Who?"}).status, 2);
    EXPECT_EQ(run({"qa", "--model", qa, "--quiet", "--doc-stride", "x", "--context", "c", "Who?"}).status, 2);
    EXPECT_EQ(run({"qa", "--model", qa, "--quiet", "--max-seq-len", "16", "--doc-stride", "17", "--context", "c",
                   "Who?"})
                  .status,
              2);
    EXPECT_EQ(run({"qa", "--model", fixtures::model_dir("tiny-bert-ner"), "--quiet", "--context", "c", "Who?"}).status,
              2);
    EXPECT_EQ(run({"qa", "--help"}).status, 0);
}

}  // namespace
