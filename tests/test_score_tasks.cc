// test_score_tasks.cc: `encore score` runs fill-mask, zero-shot, token
// classification and question answering over a file, and each output
// record's "result" is what transformers' pipeline returned for that record
// (tests/fixtures/reference: *.json pipeline_cases, *.ner.json, *.qa.json):
// the same structure, keys, labels, words and offsets, scores within 1e-5.
// Runs the real binary; records of one set of options go through one run.
#include <gtest/gtest.h>

#include <map>
#include <memory>
#include <string>
#include <vector>

#include "fixtures.h"
#include "score_helpers.h"

using fixtures::get;

namespace {

// Scores: the tolerance of the pipeline tests (test_pipelines, test_ner,
// test_qa). Offsets, indices and token ids are integers: within 1e-5 is equal.
constexpr double kScoreTol = 1e-5;

struct Lines {
    int status = -1;
    std::string err;
    std::vector<cJSON *> records;
    ~Lines() {
        for (cJSON *r : records) cJSON_Delete(r);
    }
};

// Run encore score on the JSONL records, and parse its output lines.
std::unique_ptr<Lines> score(const std::string &model, const std::vector<std::string> &extra,
                             const std::string &records) {
    score_test::Scratch s;
    score_test::write_file(s.path("in.jsonl"), records);
    std::vector<std::string> args = {"score", "--model", fixtures::model_dir(model), "--input", s.path("in.jsonl"),
                                     "--output", s.path("out.jsonl"), "--quiet", "--threads", "1"};
    args.insert(args.end(), extra.begin(), extra.end());
    const score_test::Result r = score_test::run(args);
    auto out = std::make_unique<Lines>();
    out->status = r.status;
    out->err = r.err;
    for (const std::string &line : score_test::lines(score_test::read_file(s.path("out.jsonl"))))
        out->records.push_back(cJSON_Parse(line.c_str()));
    return out;
}

// A group of records run with the same options: their input lines and the
// pipeline's answers, in order.
struct Group {
    std::string input;
    std::vector<cJSON *> want;  // owned
    std::vector<std::string> names;
    ~Group() {
        for (cJSON *w : want) cJSON_Delete(w);
    }
    void add(const std::string &fields, const cJSON *answer, const std::string &name) {
        input += "{\"id\": " + std::to_string(want.size()) + ", " + fields + "}\n";
        want.push_back(cJSON_Duplicate(answer, 1));
        names.push_back(name);
    }
    void add_text(const std::string &text, const std::string &pipeline_json, const std::string &name) {
        cJSON *answer = cJSON_Parse(pipeline_json.c_str());
        ASSERT_TRUE(answer) << name;
        add("\"text\": " + fixtures::quote(text), answer, name);
        cJSON_Delete(answer);
    }
};

// Each output record: its id, and the pipeline's answer as "result".
int expect_results(const std::string &model, const std::vector<std::string> &args, const Group &g) {
    std::string what = model;
    for (const auto &a : args) what += " " + a;
    auto got = score(model, args, g.input);
    EXPECT_EQ(got->status, 0) << what << "\n" << got->err;
    EXPECT_EQ(got->records.size(), g.want.size()) << what;
    if (got->records.size() != g.want.size()) return 0;
    for (size_t i = 0; i < g.want.size(); i++) {
        const cJSON *rec = got->records[i];
        const std::string at = what + ": " + g.names[i];
        EXPECT_TRUE(cJSON_IsObject(rec)) << at;
        if (!cJSON_IsObject(rec)) continue;
        const cJSON *id = get(rec, "id");
        EXPECT_TRUE(cJSON_IsNumber(id) && id->valueint == (int)i) << at;
        EXPECT_FALSE(fixtures::has(rec, "error")) << at << ": " << fixtures::dumps(rec);
        fixtures::expect_json_close(get(rec, "result"), g.want[i], at, kScoreTol);
    }
    return (int)g.want.size();
}

TEST(ScoreTasks, FillMaskGivesWhatThePipelineGives) {
    for (const char *name : {"tiny-bert-mlm", "tiny-distilbert-mlm", "tiny-roberta-mlm", "tiny-xlmr-mlm",
                             "tiny-mpnet-mlm"}) {
        auto ref = fixtures::load(name);
        ASSERT_TRUE(ref && ref->root) << name;
        std::map<std::vector<std::string>, Group> groups;
        const cJSON *c;
        cJSON_ArrayForEach(c, get(ref->root, "pipeline_cases")) {
            std::vector<std::string> args;  // the task from the model: no --task
            if (fixtures::has(c, "top_k")) args.insert(args.end(), {"--top-k", std::to_string(get(c, "top_k")->valueint)});
            const cJSON *t = get(c, "targets");
            if (cJSON_IsString(t)) args.insert(args.end(), {"--targets", t->valuestring});
            if (cJSON_IsArray(t)) args.insert(args.end(), {"--targets", fixtures::join(t)});
            groups[args].add_text(fixtures::str(c, "text"), fixtures::str(c, "pipeline"), fixtures::str(c, "name"));
        }
        int n = 0;
        for (const auto &[args, g] : groups) n += expect_results(name, args, g);
        EXPECT_GE(n, 10) << name;
        EXPECT_GE(groups.size(), 3u) << name;
    }
}

TEST(ScoreTasks, ZeroShotGivesWhatThePipelineGives) {
    auto ref = fixtures::load("tiny-bert-nli");
    ASSERT_TRUE(ref && ref->root);
    std::map<std::vector<std::string>, Group> groups;
    const cJSON *c;
    cJSON_ArrayForEach(c, get(ref->root, "pipeline_cases")) {
        const cJSON *labels = get(c, "candidate_labels");
        // --labels alone picks zero-shot on a classifier; --task names it too.
        std::vector<std::string> args = {"--labels",
                                         cJSON_IsString(labels) ? std::string(labels->valuestring) : fixtures::join(labels)};
        if (fixtures::has(c, "hypothesis_template"))
            args.insert(args.end(), {"--hypothesis-template", fixtures::str(c, "hypothesis_template")});
        if (cJSON_IsTrue(get(c, "multi_label"))) args.insert(args.end(), {"--task", "zero-shot-classification",
                                                                          "--multi-label"});
        groups[args].add_text(fixtures::str(c, "text"), fixtures::str(c, "pipeline"), fixtures::str(c, "name"));
    }
    int n = 0;
    for (const auto &[args, g] : groups) n += expect_results("tiny-bert-nli", args, g);
    EXPECT_GE(n, 10);
}

TEST(ScoreTasks, TokenClassificationGivesWhatThePipelineGives) {
    for (const char *name : {"tiny-bert-ner", "tiny-distilbert-ner", "tiny-roberta-ner", "tiny-xlmr-ner",
                             "tiny-mpnet-ner"}) {
        auto ref = fixtures::load(std::string(name) + ".ner");
        ASSERT_TRUE(ref && ref->root) << name;
        std::map<std::vector<std::string>, Group> groups;
        const cJSON *c;
        cJSON_ArrayForEach(c, get(ref->root, "pipeline_cases")) {
            std::vector<std::string> args;
            if (fixtures::has(c, "aggregation_strategy"))
                args.insert(args.end(), {"--aggregation-strategy", fixtures::str(c, "aggregation_strategy")});
            const cJSON *ig = get(c, "ignore_labels");
            if (cJSON_IsArray(ig)) args.insert(args.end(), {"--ignore-labels", fixtures::join(ig)});
            if (fixtures::has(c, "stride")) args.insert(args.end(), {"--stride", std::to_string(get(c, "stride")->valueint)});
            groups[args].add_text(fixtures::str(c, "text"), fixtures::str(c, "pipeline"), fixtures::str(c, "name"));
        }
        int n = 0, strided = 0;
        for (const auto &[args, g] : groups) {
            n += expect_results(name, args, g);
            for (const auto &a : args) strided += a == "--stride";
        }
        EXPECT_GE(n, 200) << name;
        EXPECT_GE(strided, 2) << name;
    }
}

TEST(ScoreTasks, QuestionAnsweringGivesWhatThePipelineGives) {
    for (const char *name : {"tiny-bert-qa", "tiny-distilbert-qa", "tiny-roberta-qa", "tiny-xlmr-qa", "tiny-mpnet-qa"}) {
        auto ref = fixtures::load(std::string(name) + ".qa");
        ASSERT_TRUE(ref && ref->root) << name;
        std::map<std::vector<std::string>, Group> groups;
        const cJSON *c;
        cJSON_ArrayForEach(c, get(ref->root, "cases")) {
            const std::string cname = fixtures::str(c, "name");
            Group &g = groups[fixtures::qa_args(get(c, "parameters"))];
            const cJSON *inputs = get(c, "inputs"), *output = get(c, "output");
            auto add = [&](const cJSON *question, const cJSON *context, const cJSON *answer, const std::string &n) {
                g.add("\"question\": " + fixtures::dumps(question) + ", \"context\": " + fixtures::dumps(context), answer, n);
            };
            if (cJSON_IsArray(inputs)) {  // {question, context} pairs: a result each
                for (int i = 0; i < cJSON_GetArraySize(inputs); i++) {
                    const cJSON *in = cJSON_GetArrayItem(inputs, i);
                    add(get(in, "question"), get(in, "context"), cJSON_GetArrayItem(output, i),
                        cname + "[" + std::to_string(i) + "]");
                }
            } else if (cJSON_IsArray(get(inputs, "question"))) {  // questions on one context
                const cJSON *q = get(inputs, "question");
                for (int i = 0; i < cJSON_GetArraySize(q); i++)
                    add(cJSON_GetArrayItem(q, i), get(inputs, "context"), cJSON_GetArrayItem(output, i),
                        cname + "[" + std::to_string(i) + "]");
            } else {
                add(get(inputs, "question"), get(inputs, "context"), output, cname);
            }
        }
        int n = 0;
        for (const auto &[args, g] : groups) n += expect_results(name, args, g);
        EXPECT_GE(n, 20) << name;
        EXPECT_GE(groups.size(), 5u) << name;
    }
}

// Named fields, and TSV: the same answers.
TEST(ScoreTasks, QuestionAnsweringReadsNamedFieldsAndTsv) {
    const std::string q = "Where is the tower?", ctx = "The old tower stands in Paris, near the river.";
    Group g;
    cJSON *want = nullptr;
    {
        auto base = score("tiny-bert-qa", {}, "{\"id\": 0, \"question\": " + fixtures::quote(q) +
                                                   ", \"context\": " + fixtures::quote(ctx) + "}\n");
        ASSERT_EQ(base->status, 0) << base->err;
        ASSERT_EQ(base->records.size(), 1u);
        want = cJSON_Duplicate(get(base->records[0], "result"), 1);
    }
    ASSERT_TRUE(cJSON_IsObject(want));
    auto named = score("tiny-bert-qa", {"--text-field", "q", "--pair-field", "c"},
                       "{\"id\": 0, \"q\": " + fixtures::quote(q) + ", \"c\": " + fixtures::quote(ctx) + "}\n");
    ASSERT_EQ(named->status, 0) << named->err;
    ASSERT_EQ(named->records.size(), 1u);
    fixtures::expect_json_close(get(named->records[0], "result"), want, "named fields", 0);

    score_test::Scratch s;
    score_test::write_file(s.path("in.tsv"), "id\tquestion\tcontext\n7\t" + q + "\t" + ctx + "\n");
    const score_test::Result r = score_test::run({"score", "--model", fixtures::model_dir("tiny-bert-qa"), "--input",
                                                  s.path("in.tsv"), "--output", "-", "--quiet"});
    ASSERT_EQ(r.status, 0) << r.err;
    cJSON *line = cJSON_Parse(r.out.c_str());
    ASSERT_TRUE(line) << r.out;
    EXPECT_STREQ(cJSON_GetStringValue(get(line, "id")), "7");
    fixtures::expect_json_close(get(line, "result"), want, "tsv", 0);
    cJSON_Delete(line);
    cJSON_Delete(want);
}

// A record the pipeline refuses costs its own record; the run goes on.
TEST(ScoreTasks, BadRecordsBecomeErrorRecords) {
    auto fm = score("tiny-bert-mlm", {},
                    "{\"id\": 0, \"text\": \"a [MASK] film\"}\n{\"id\": 1, \"text\": \"no mask here\"}\n"
                    "{\"id\": 2, \"text\": \"bad \xff\"}\n{\"id\": 3, \"text\": \"[MASK] acting\"}\n");
    EXPECT_EQ(fm->status, 1) << fm->err;
    ASSERT_EQ(fm->records.size(), 4u);
    EXPECT_TRUE(cJSON_IsArray(get(fm->records[0], "result")));
    EXPECT_NE(std::string(cJSON_GetStringValue(get(fm->records[1], "error"))).find("no mask token"), std::string::npos);
    EXPECT_STREQ(cJSON_GetStringValue(get(fm->records[1], "problem")), "failed");
    EXPECT_STREQ(cJSON_GetStringValue(get(fm->records[2], "problem")), "invalid_utf8");
    EXPECT_TRUE(cJSON_IsArray(get(fm->records[3], "result")));

    auto qa = score("tiny-bert-qa", {},
                    "{\"id\": 0, \"question\": \"Which city?\"}\n"
                    "{\"id\": 1, \"question\": \"\", \"context\": \"Paris is a city.\"}\n"
                    "{\"id\": 2, \"question\": \"Which city?\", \"context\": \"Paris is a city.\"}\n");
    EXPECT_EQ(qa->status, 1) << qa->err;
    ASSERT_EQ(qa->records.size(), 3u);
    EXPECT_STREQ(cJSON_GetStringValue(get(qa->records[0], "problem")), "missing_field");
    EXPECT_STREQ(cJSON_GetStringValue(get(qa->records[1], "error")), "the question is empty");
    EXPECT_TRUE(cJSON_IsObject(get(qa->records[2], "result")));

    // Over-long with --no-truncation: the record's error.
    std::string text;
    for (int i = 0; i < 80; i++) text += "word ";
    auto ner = score("tiny-bert-ner", {"--no-truncation"},
                     "{\"id\": 0, \"text\": \"" + text + "\"}\n{\"id\": 1, \"text\": \"Paris\"}\n");
    EXPECT_EQ(ner->status, 1) << ner->err;
    ASSERT_EQ(ner->records.size(), 2u);
    EXPECT_TRUE(fixtures::has(ner->records[0], "error"));
    EXPECT_TRUE(cJSON_IsArray(get(ner->records[1], "result")));
}

// Options and models that cannot go together: exit status 2, before any
// record is read.
TEST(ScoreTasks, RefusesOptionsAndModelsThatDoNotFit) {
    score_test::Scratch s;
    score_test::write_file(s.path("in.jsonl"), "{\"text\": \"a [MASK] film\", \"question\": \"q\", \"context\": \"c\"}\n");
    score_test::write_file(s.path("in.txt"), "a film\n");
    auto run = [&](const std::string &model, std::vector<std::string> extra, const char *input = "in.jsonl") {
        std::vector<std::string> args = {"score", "--model", fixtures::model_dir(model), "--input", s.path(input),
                                         "--output", "-", "--quiet"};
        args.insert(args.end(), extra.begin(), extra.end());
        return score_test::run(args);
    };
    struct Case {
        const char *model;
        std::vector<std::string> args;
        const char *input, *message;
    } cases[] = {
        {"tiny-bert-sst", {"--task", "ner"}, "in.jsonl", "cannot run ner"},
        {"tiny-bert-ner", {"--labels", "a,b"}, "in.jsonl", "cannot run zero-shot"},
        {"tiny-bert-nli", {"--task", "zero-shot"}, "in.jsonl", "needs --labels"},
        {"tiny-bert-nli", {"--labels", " , "}, "in.jsonl", "no candidate labels"},
        {"tiny-bert-mlm", {"--aggregation-strategy", "first"}, "in.jsonl", "options of ner"},
        {"tiny-bert-mlm", {"--top-k", "all"}, "in.jsonl", "not all"},
        {"tiny-bert-mlm", {"--format", "tsv"}, "in.jsonl", "JSONL only"},
        {"tiny-bert-ner", {"--pair-field", "x"}, "in.jsonl", "drop --pair-field"},
        {"tiny-bert-ner", {"--top-k", "2"}, "in.jsonl", "takes no --top-k"},
        {"tiny-bert-ner", {"--stride", "4", "--aggregation-strategy", "none"}, "in.jsonl", "--stride needs"},
        {"tiny-bert-qa", {}, "in.txt", "--pair-field needs jsonl"},
        {"tiny-bert-qa", {"--pooling", "mean"}, "in.jsonl", "--pooling"},
        {"tiny-bert-sst", {"--task", "frobnicate"}, "in.jsonl", "--task takes"},
    };
    for (const Case &c : cases) {
        const score_test::Result r = run(c.model, c.args, c.input);
        std::string what = c.model;
        for (const auto &a : c.args) what += " " + a;
        EXPECT_EQ(r.status, 2) << what << "\n" << r.err;
        EXPECT_NE(r.err.find(c.message), std::string::npos) << what << "\n" << r.err;
        EXPECT_EQ(r.out, "") << what;
    }
    // An embedding of a masked-language model stays one --task away.
    const score_test::Result r = run("tiny-bert-mlm", {"--task", "embed"}, "in.txt");
    EXPECT_EQ(r.status, 0) << r.err;
    EXPECT_NE(r.out.find("\"embedding\": ["), std::string::npos) << r.out;
}

// A finished job resumes to nothing; the same job with other task options
// is another job.
TEST(ScoreTasks, ResumeKnowsTheTaskOptions) {
    score_test::Scratch s;
    score_test::write_file(s.path("in.jsonl"), "{\"text\": \"John lives in Paris.\"}\n{\"text\": \"Mary\"}\n");
    auto args = [&](const std::string &strategy, bool resume) {
        std::vector<std::string> a = {"score", "--model", fixtures::model_dir("tiny-bert-ner"), "--input",
                                      s.path("in.jsonl"), "--output", s.path("out.jsonl"), "--quiet",
                                      "--aggregation-strategy", strategy};
        if (resume) a.push_back("--resume");
        return a;
    };
    ASSERT_EQ(score_test::run(args("simple", false)).status, 0);
    const std::string first = score_test::read_file(s.path("out.jsonl"));
    EXPECT_EQ(score_test::lines(first).size(), 2u);
    EXPECT_EQ(score_test::run(args("simple", true)).status, 0);
    EXPECT_EQ(score_test::read_file(s.path("out.jsonl")), first);
    const score_test::Result other = score_test::run(args("first", true));
    EXPECT_EQ(other.status, 2);
    EXPECT_NE(other.err.find("another job"), std::string::npos) << other.err;
    EXPECT_EQ(score_test::read_file(s.path("out.jsonl")), first);
}

}  // namespace
