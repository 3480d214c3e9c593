// test_cli.cc: the encore command line prints what transformers' pipeline
// prints: same JSON layout, same labels in the same order, scores within
// tolerance. Runs the real binary.
#include <gtest/gtest.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <filesystem>
#include <fstream>
#include <regex>
#include <cmath>
#include <iterator>
#include <map>
#include <string>
#include <vector>

#include "cli_run.h"
#include "embed_limit.h"
#include "expect_close.h"
#include "fixtures.h"

using fixtures::get;

namespace {

using Result = cli::Result;
using cli::layout;
using cli::lines;
using cli::numbers_in;
using cli::run;

// Scores: fp32 softmax/sigmoid of logits within 1e-4; see test_model.cc.
constexpr double kScoreTol = 1e-5;

void expect_same_as_pipeline(const std::string &got, const std::string &want, const std::string &what) {
    EXPECT_EQ(layout(got), layout(want)) << what << "\n got: " << got << "\nwant: " << want;
    EXPECT_CLOSE(numbers_in(got), numbers_in(want), kScoreTol, 0) << what << "\n got: " << got;
}

class Pipeline : public ::testing::TestWithParam<std::string> {};

TEST_P(Pipeline, ClassifyPrintsWhatThePipelinePrints) {
    const std::string name = GetParam();
    auto ref = fixtures::load(name);
    ASSERT_TRUE(ref && ref->root);
    const std::string dir = fixtures::model_dir(name);
    int n = 0, top_2 = 0;
    const cJSON *c;
    cJSON_ArrayForEach(c, get(ref->root, "cases")) {
        if (cJSON_IsTrue(get(c, "too_long")) || fixtures::has_nul(c)) continue;
        std::vector<std::string> args = {"classify", "--model", dir, "--quiet"};
        if (!cJSON_IsTrue(get(c, "truncation"))) args.push_back("--no-truncation");
        encore_input in = fixtures::input(c);
        if (in.text_pair) args.insert(args.end(), {"--pair", in.text_pair});
        std::vector<std::string> top_all = args;
        top_all.insert(top_all.end(), {"--top-k", "all"});
        args.insert(args.end(), {"--", in.text});
        top_all.insert(top_all.end(), {"--", in.text});
        Result r = run(args);
        ASSERT_EQ(r.status, 0) << fixtures::str(c, "name");
        expect_same_as_pipeline(r.out, fixtures::str(c, "pipeline") + "\n", fixtures::str(c, "name"));
        r = run(top_all);
        expect_same_as_pipeline(r.out, fixtures::str(c, "pipeline_top_k_all") + "\n", fixtures::str(c, "name"));
        if (fixtures::has(c, "pipeline_top_k_2")) {
            args.insert(args.end() - 2, {"--top-k", "2"});
            r = run(args);
            expect_same_as_pipeline(r.out, fixtures::str(c, "pipeline_top_k_2") + "\n", fixtures::str(c, "name"));
            top_2++;
        }
        n++;
    }
    EXPECT_GT(n, 20);
    // The fixtures with more than two labels carry top_k=2 for every case.
    if (cJSON_GetArraySize(get(ref->root, "labels")) > 2) {
        EXPECT_EQ(top_2, n);
    }
}

INSTANTIATE_TEST_SUITE_P(Models, Pipeline,
                         ::testing::Values("tiny-bert-sst", "tiny-distilbert-sst", "tiny-bert-multilabel",
                                           "tiny-roberta-sst", "tiny-xlmr-sst", "tiny-mpnet-sst", "tiny-electra-sst",
                                           "tiny-deberta-sst"));

TEST(Cli, StdinGivesOneLinePerTextInOrderAndKeepsGoodLinesAroundBadOnes) {
    auto ref = fixtures::load("tiny-bert-sst");
    ASSERT_TRUE(ref && ref->root);
    const std::string dir = fixtures::model_dir("tiny-bert-sst");
    std::vector<const cJSON *> picked;
    const cJSON *c;
    cJSON_ArrayForEach(c, get(ref->root, "cases")) {
        std::string t = fixtures::str(c, "text");
        if (!fixtures::has(c, "text_pair") && !cJSON_IsTrue(get(c, "truncation")) && !cJSON_IsTrue(get(c, "too_long")) &&
            t.find_first_of("\n\r") == std::string::npos && !fixtures::has_nul(c))
            picked.push_back(c);
    }
    ASSERT_GT(picked.size(), 10u);
    std::string input;
    for (size_t i = 0; i < picked.size(); i++) {
        input += fixtures::str(picked[i], "text") + "\n";
        if (i == 3) input += "bad \xc3\x28 utf-8\n";  // line 5 is not UTF-8
    }
    Result r = run({"classify", "--model", dir, "--quiet", "--batch", "4", "--no-truncation"}, input);
    EXPECT_EQ(r.status, 1);  // one text failed
    auto out = lines(r.out);
    ASSERT_EQ(out.size(), picked.size() + 1);
    for (size_t i = 0, k = 0; i < out.size(); i++) {
        if (i == 4) {
            EXPECT_NE(out[i].find("\"error\""), std::string::npos) << out[i];
            EXPECT_NE(out[i].find("UTF-8"), std::string::npos) << out[i];
            EXPECT_NE(out[i].find("\"status\": \"bad input\""), std::string::npos) << out[i];
            continue;
        }
        expect_same_as_pipeline(out[i] + "\n", fixtures::str(picked[k], "pipeline") + "\n",
                                fixtures::str(picked[k], "name"));
        k++;
    }
}

TEST(Cli, TokenizePrintsIdsAndTokens) {
    auto ref = fixtures::load("tiny-bert-sst");
    ASSERT_TRUE(ref && ref->root);
    const cJSON *c = cJSON_GetArrayItem(get(ref->root, "cases"), 0);
    Result r = run({"tokenize", "--model", fixtures::model_dir("tiny-bert-sst"), "--quiet", "--", fixtures::str(c, "text")});
    ASSERT_EQ(r.status, 0);
    cJSON *got = cJSON_Parse(r.out.c_str());
    ASSERT_TRUE(got) << r.out;
    EXPECT_EQ(fixtures::numbers(got, "ids"), fixtures::numbers(c, "ids"));
    const cJSON *gt = get(got, "tokens"), *wt = get(c, "tokens");
    ASSERT_EQ(cJSON_GetArraySize(gt), cJSON_GetArraySize(wt));
    for (int i = 0; i < cJSON_GetArraySize(gt); i++)
        EXPECT_STREQ(cJSON_GetArrayItem(gt, i)->valuestring, cJSON_GetArrayItem(wt, i)->valuestring);
    cJSON_Delete(got);
}

TEST(Cli, EmbedMatchesSentenceTransformers) {
    for (const char *model :
         {"tiny-bert-embed", "tiny-roberta-embed", "tiny-xlmr-embed", "tiny-mpnet-embed", "tiny-deberta-embed"}) {
        auto ref = fixtures::load(model);
        ASSERT_TRUE(ref && ref->root);
        const cJSON *c = cJSON_GetArrayItem(get(ref->root, "cases"), 0);
        Result r = run({"embed", "--model", fixtures::model_dir(model), "--quiet", "--normalize", "--",
                        fixtures::str(c, "text")});
        ASSERT_EQ(r.status, 0) << model;
        // Embeddings within 1e-5 of sentence-transformers, as test_model.cc.
        EXPECT_CLOSE(numbers_in(r.out), fixtures::numbers(c, "embedding_normalized"), 1e-5, 0) << model << ": " << r.out;
    }
}

// A model whose sentence_bert_config.json max_seq_length (16) is below its
// limit (64): `encore embed` and `encore tokenize` cut texts at 16 tokens, as
// sentence-transformers does.
TEST(Cli, EmbedCutsTextsAtMaxSeqLengthAsSentenceTransformers) {
    std::string why;
    const auto cases = embed_limit::cases(&why);
    ASSERT_FALSE(cases.empty()) << why;
    const std::string dir = fixtures::model_dir(embed_limit::kModel);
    std::vector<std::string> texts;
    for (const auto &k : cases) texts.push_back(k.text);
    for (bool normalize : {false, true}) {
        std::vector<std::string> args = {"embed", "--model", dir, "--quiet"};
        if (normalize) args.push_back("--normalize");
        args.push_back("--");
        args.insert(args.end(), texts.begin(), texts.end());
        Result r = run(args);
        ASSERT_EQ(r.status, 0) << r.out;
        auto out = lines(r.out);
        ASSERT_EQ(out.size(), cases.size());
        for (size_t i = 0; i < cases.size(); i++) {
            // Embeddings within 1e-5 of sentence-transformers, as test_model.cc.
            const auto &want = normalize ? cases[i].embedding_normalized : cases[i].embedding;
            EXPECT_LE(embed_limit::max_diff(numbers_in(out[i]), want), 1e-5) << cases[i].name << ": " << out[i];
        }
    }
    std::vector<std::string> tok = {"tokenize", "--model", dir, "--quiet", "--"};
    tok.insert(tok.end(), texts.begin(), texts.end());
    Result t = run(tok);
    ASSERT_EQ(t.status, 0);
    auto out = lines(t.out);
    ASSERT_EQ(out.size(), cases.size());
    for (size_t i = 0; i < cases.size(); i++) {
        cJSON *got = cJSON_Parse(out[i].c_str());
        ASSERT_TRUE(got) << out[i];
        EXPECT_EQ(fixtures::numbers(got, "ids"), cases[i].ids) << cases[i].name;
        cJSON_Delete(got);
    }
    // Without truncation a text between the limits is too long to embed.
    for (const auto &k : cases) {
        if (!k.between()) continue;
        Result r = run({"embed", "--model", dir, "--quiet", "--no-truncation", "--", k.text});
        EXPECT_EQ(r.status, 1) << k.name;
        EXPECT_NE(r.out.find("embeddings take at most 16"), std::string::npos) << r.out;
        break;
    }
}

TEST(Cli, ModelsListsTheDefaultModelAndTheHubCache) {
    namespace fs = std::filesystem;
    fs::path cache = fs::temp_directory_path() / ("encore-models-" + std::to_string(::getpid()));
    fs::remove_all(cache);
    fs::create_directories(cache / "models--acme--tiny-sst/refs");
    fs::create_directories(cache / "models--acme--tiny-sst/snapshots/abc123");
    fs::copy(fixtures::model_dir("tiny-bert-sst") + "/config.json", cache / "models--acme--tiny-sst/snapshots/abc123");
    std::ofstream(cache / "models--acme--tiny-sst/refs/main") << "abc123\n";
    fs::create_directories(cache / "datasets--acme--data");  // not a model
    setenv("HF_HUB_CACHE", cache.c_str(), 1);
    setenv("ENCORE_MODEL", fixtures::model_dir("tiny-bert-sst").c_str(), 1);
    Result r = run({"models"});
    unsetenv("HF_HUB_CACHE");
    unsetenv("ENCORE_MODEL");
    EXPECT_EQ(r.status, 0) << r.out;
    EXPECT_NE(r.out.find("default model: " + fixtures::model_dir("tiny-bert-sst") + " (present)"), std::string::npos)
        << r.out;
    EXPECT_NE(r.out.find("default embedding model: " + fixtures::model_dir("tiny-bert-sst") + " (present)"),
              std::string::npos)
        << r.out;
    EXPECT_NE(r.out.find("acme/tiny-sst"), std::string::npos) << r.out;
    EXPECT_NE(r.out.find((cache / "models--acme--tiny-sst/snapshots/abc123").string()), std::string::npos) << r.out;
    EXPECT_EQ(r.out.find("datasets"), std::string::npos) << r.out;
    fs::remove_all(cache);
}

// Without --model or $ENCORE_MODEL, embed uses the all-MiniLM-L6-v2 embedding
// model and every other command the sentiment model (both built by
// models/default/assemble.py; the test skips, saying so, without them, and
// fails instead under ENCORE_REQUIRE_REAL_MODEL=1).
TEST(Cli, DefaultModelsPerCommand) {
    namespace fs = std::filesystem;
    const std::string cls = ENCORE_DEFAULT_MODEL_DIR, emb = ENCORE_DEFAULT_EMBED_MODEL_DIR;
    // (the sentiment model is a PEFT LoRA adapter directory on its base)
    if (!fs::exists(cls + "/adapter_model.safetensors") || !fs::exists(emb + "/model.safetensors"))
        SKIP_WITHOUT_MODEL("the default models are not at " << cls << " and " << emb
                                                             << " (models/default/assemble.py builds them)");
    unsetenv("ENCORE_MODEL");
    Result e = run({"embed", "--quiet", "--", "a fine film"});
    Result e_dir = run({"embed", "--model", emb, "--quiet", "--", "a fine film"});
    ASSERT_EQ(e.status, 0) << e.out;
    EXPECT_EQ(e.out, e_dir.out);
    EXPECT_EQ(numbers_in(e.out).size(), 384u) << e.out;
    Result c = run({"classify", "--quiet", "--", "a fine film"});
    Result c_dir = run({"classify", "--model", cls, "--quiet", "--", "a fine film"});
    ASSERT_EQ(c.status, 0) << c.out;
    EXPECT_EQ(c.out, c_dir.out);
    EXPECT_NE(c.out.find("\"label\""), std::string::npos) << c.out;
    // The sentiment model's own hidden states are not the embedding model's.
    Result e_cls = run({"embed", "--model", cls, "--quiet", "--", "a fine film"});
    ASSERT_EQ(e_cls.status, 0) << e_cls.out;
    EXPECT_NE(e_cls.out, e.out);
}

// --weights reaches the model in every command that loads one: fp32 is the
// default (bit for bit), bf16 and int8 change the scores a little (the
// label and a score within 0.05 here; the library's bounds are in
// test_model), and an unknown value is a usage error naming the choices.
TEST(Cli, WeightsOptionReachesEveryCommand) {
    const std::string model = fixtures::model_dir("tiny-bert-sst");
    const std::string text = "This movie was a wonderful, heartfelt delight.";
    const Result plain = run({"classify", "--model", model, "--quiet", text});
    ASSERT_EQ(plain.status, 0);
    EXPECT_EQ(run({"classify", "--weights", "fp32", "--model", model, "--quiet", text}).out, plain.out);
    const auto score_of = [](const std::string &out) {
        const size_t at = out.find("\"score\": ");
        return at == std::string::npos ? std::nan("") : std::stod(out.substr(at + 9));
    };
    const auto label_of = [](const std::string &out) { return out.substr(0, out.find("\"score\"")); };
    for (const char *w : {"bf16", "int8", "int8-dynamic"}) {
        const Result r = run({"classify", "--weights", w, "--model", model, "--quiet", text});
        ASSERT_EQ(r.status, 0) << w;
        EXPECT_NE(r.out, plain.out) << w << ": the weights did not change";
        EXPECT_EQ(label_of(r.out), label_of(plain.out)) << w;
        EXPECT_NEAR(score_of(r.out), score_of(plain.out), 0.05) << w;
    }
    const std::string err = testing::TempDir() + "weights_err.txt";
    cli::Options quiet;
    quiet.stderr_path = err;
    EXPECT_EQ(cli::run({"classify", "--weights", "int4", "--model", model, "hi"}, quiet).status, 2);
    std::ifstream in(err);
    const std::string said((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
    EXPECT_NE(said.find("fp32, bf16, int8 or int8-dynamic"), std::string::npos) << said;
    for (const char *cmd : {"bench", "score", "serve"})
        EXPECT_EQ(cli::run({cmd, "--weights", "int4", "--model", model}, quiet).status, 2) << cmd;
}

// The options every model command takes (--model, --device, --threads,
// --weights, --no-truncation, --quiet) are read by one parser: each command
// refuses the same bad values with the same words and exit status 2, and
// --device reaches classify, embed and eval as it reaches the others.
TEST(Cli, ModelOptionsAreReadAlikeByEveryCommand) {
    const std::string model = fixtures::model_dir("tiny-bert-sst");
    const std::string err = testing::TempDir() + "model_options_err.txt";
    cli::Options quiet;
    quiet.stderr_path = err;
    const auto said = [&] {
        std::ifstream in(err);
        return std::string((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
    };
    const std::vector<std::vector<std::string>> commands = {
        {"classify"},  {"embed"}, {"eval", "--tsv", "-"}, {"fill-mask"}, {"zero-shot", "--labels", "a,b"},
        {"ner"},       {"qa", "--context", "c"},          {"score", "--input", "-", "--output", "-"},
        {"serve", "--port", "0"}};
    const std::vector<std::pair<std::vector<std::string>, std::string>> bad = {
        {{"--threads", "0"}, "--threads takes a number from 1 to 4096, not '0'"},
        {{"--threads", "4097"}, "--threads takes a number from 1 to 4096, not '4097'"},
        {{"--device", "tpu"}, "--device takes cpu, cuda or auto, not 'tpu'"},
        {{"--weights", "int4"}, "--weights takes fp32, bf16, int8 or int8-dynamic, not 'int4'"},
        {{"--precision", "fp8"}, "--precision takes default, fp32, fp16 or bf16, not 'fp8'"},
        {{"--dtype", "float64"}, "--dtype takes default, fp32, fp16 or bf16, not 'float64'"},
        {{"--model"}, "--model needs a value"}};
    for (const auto &cmd : commands)
        for (const auto &[opts, words] : bad) {
            std::vector<std::string> args = cmd;
            if (opts[0] != "--model") args.insert(args.end(), {"--model", model});
            args.insert(args.end(), opts.begin(), opts.end());
            EXPECT_EQ(cli::run(args, quiet).status, 2) << cmd[0] << " " << opts[0];
            EXPECT_NE(said().find(words), std::string::npos) << cmd[0] << ": " << said();
        }
    // The CPU computes in fp32: half precision needs --device cuda.
    const std::map<std::string, std::string> own_model = {{"fill-mask", "tiny-bert-mlm"},
                                                          {"zero-shot", "tiny-bert-nli"},
                                                          {"ner", "tiny-bert-ner"},
                                                          {"qa", "tiny-bert-qa"}};
    for (const auto &cmd : commands) {
        std::vector<std::string> args = cmd;
        const std::string dir = own_model.count(cmd[0]) ? fixtures::model_dir(own_model.at(cmd[0])) : model;
        args.insert(args.end(), {"--model", dir, "--precision", "fp16", "--device", "cpu"});
        if (cmd[0] != "score" && cmd[0] != "serve" && cmd[0] != "eval") args.push_back("a film");
        EXPECT_EQ(cli::run(args, quiet).status, 2) << cmd[0];
        EXPECT_NE(said().find("the CPU computes in fp32 only; fp16 and bf16 need CUDA"), std::string::npos)
            << cmd[0] << ": " << said();
    }
    // qa cuts long contexts into windows: it has no --no-truncation.
    EXPECT_EQ(cli::run({"qa", "--model", model, "--context", "c", "--no-truncation", "q"}, quiet).status, 2);
    EXPECT_NE(said().find("unknown option --no-truncation for qa"), std::string::npos) << said();
    // --device cuda on classify and embed: without a usable GPU the session
    // runs on the CPU and logs why, once, and the answer is the CPU's; on a
    // GPU the answer is the GPU's.
    const std::string text = "This movie was a wonderful, heartfelt delight.";
    for (const char *cmd : {"classify", "embed"}) {
        const Result cpu = run({cmd, "--model", model, "--quiet", "--", text});
        ASSERT_EQ(cpu.status, 0) << cmd;
        const Result cuda = cli::run(
            {cmd, "--model", model, "--device", "cuda", "--precision", "fp32", "--threads", "1", "--", text}, quiet);
        const std::string log = said();
        ASSERT_EQ(cuda.status, 0) << cmd << ": " << log;
        if (log.find("no usable CUDA device") != std::string::npos) {
            EXPECT_EQ(cuda.out, cpu.out) << cmd << ": the CPU fallback is the CPU path";
            EXPECT_EQ(std::count(log.begin(), log.end(), '\n'), 1) << log;
        } else {
            // On a GPU, in fp32: the CPU's answer within fp32's tolerance.
            EXPECT_EQ(layout(cuda.out), layout(cpu.out)) << cmd;
            EXPECT_CLOSE(numbers_in(cuda.out), numbers_in(cpu.out), 1e-4, 0) << cmd;
        }
    }
}

TEST(Cli, UsageErrorsExitWithTwo) {
    EXPECT_EQ(run({"eval", "--model", "x"}).status, 2);                         // no --tsv
    EXPECT_EQ(run({"frobnicate", "--model", "x"}).status, 2);                   // unknown command
    EXPECT_EQ(run({"classify", "--model", "/nonexistent", "hi"}).status, 2);    // no such model
    EXPECT_EQ(run({"classify", "--model", fixtures::model_dir("tiny-bert-embed"), "hi"}).status, 2);  // no head
    EXPECT_EQ(run({"classify", "--top-k", "0", "--model", "x"}).status, 2);
    // Numbers are read whole: "2x" is not 2.
    const std::string model = fixtures::model_dir("tiny-bert-sst");
    for (const char *opt : {"--top-k", "--threads", "--batch"}) {
        EXPECT_EQ(run({"classify", opt, "2x", "--model", model, "hi"}).status, 2) << opt;
        EXPECT_EQ(run({"classify", opt, "99999999999999999999", "--model", model, "hi"}).status, 2) << opt;
        EXPECT_EQ(run({"classify", opt, "2", "--model", model, "hi"}).status, 0) << opt;
    }
}

// encore fill-mask and encore zero-shot print the pipelines' json.dumps,
// one line per text: options from each reference case.
TEST(Cli, FillMaskPrintsWhatThePipelinePrints) {
    for (const char *name : {"tiny-bert-mlm", "tiny-distilbert-mlm", "tiny-roberta-mlm", "tiny-xlmr-mlm",
                             "tiny-mpnet-mlm"}) {
        auto ref = fixtures::load(name);
        ASSERT_TRUE(ref && ref->root) << name;
        int n = 0;
        const cJSON *c;
        cJSON_ArrayForEach(c, get(ref->root, "pipeline_cases")) {
            std::vector<std::string> args = {"fill-mask", "--model", fixtures::model_dir(name), "--quiet"};
            if (fixtures::has(c, "top_k")) args.insert(args.end(), {"--top-k", std::to_string(get(c, "top_k")->valueint)});
            const cJSON *t = get(c, "targets");
            if (cJSON_IsString(t)) args.insert(args.end(), {"--targets", t->valuestring});
            if (cJSON_IsArray(t)) args.insert(args.end(), {"--targets", fixtures::join(t)});
            args.insert(args.end(), {"--", fixtures::str(c, "text")});
            Result r = run(args);
            EXPECT_EQ(r.status, 0) << name << " " << fixtures::str(c, "name");
            expect_same_as_pipeline(r.out, fixtures::str(c, "pipeline") + "\n", fixtures::str(c, "name"));
            n++;
        }
        EXPECT_GE(n, 10) << name;
    }
}

TEST(Cli, ZeroShotPrintsWhatThePipelinePrints) {
    for (const std::string model : {"tiny-bert-nli", "tiny-roberta-nli", "tiny-deberta-nli"}) {
        auto ref = fixtures::load(model);
        ASSERT_TRUE(ref && ref->root) << model;
        int n = 0, label_string = 0;
        const cJSON *c;
        cJSON_ArrayForEach(c, get(ref->root, "pipeline_cases")) {
            std::vector<std::string> args = {"zero-shot", "--model", fixtures::model_dir(model), "--quiet"};
            const cJSON *labels = get(c, "candidate_labels");
            // A string is split by the CLI as the pipeline splits it.
            label_string += cJSON_IsString(labels);
            args.insert(args.end(), {"--labels", cJSON_IsString(labels) ? std::string(labels->valuestring)
                                                                        : fixtures::join(labels)});
            if (fixtures::has(c, "hypothesis_template"))
                args.insert(args.end(), {"--hypothesis-template", fixtures::str(c, "hypothesis_template")});
            if (cJSON_IsTrue(get(c, "multi_label"))) args.push_back("--multi-label");
            args.insert(args.end(), {"--", fixtures::str(c, "text")});
            Result r = run(args);
            const std::string where = model + " " + fixtures::str(c, "name");
            EXPECT_EQ(r.status, 0) << where;
            expect_same_as_pipeline(r.out, fixtures::str(c, "pipeline") + "\n", where);
            n++;
        }
        EXPECT_GE(n, 10) << model;
        EXPECT_EQ(label_string, 1) << model;
    }
}

TEST(Cli, FillMaskAndZeroShotRefuseBadInput) {
    const std::string mlm = fixtures::model_dir("tiny-bert-mlm"), nli = fixtures::model_dir("tiny-bert-nli"),
                      sst = fixtures::model_dir("tiny-bert-sst");
    // A text without a mask costs its own line; the others still print.
    Result r = run({"fill-mask", "--model", mlm, "--quiet"}, "a [MASK] film\nno mask here\n[MASK] acting\n");
    EXPECT_EQ(r.status, 1);
    auto out = lines(r.out);
    ASSERT_EQ(out.size(), 3u) << r.out;
    EXPECT_EQ(out[0].rfind("[{\"score\": ", 0), 0u) << out[0];
    EXPECT_NE(out[1].find("no mask token"), std::string::npos) << out[1];
    EXPECT_NE(out[1].find("\"status\": \"bad input\""), std::string::npos) << out[1];
    EXPECT_EQ(out[2].rfind("[{\"score\": ", 0), 0u) << out[2];
    // Targets that are no tokens at all: the text's error line.
    r = run({"fill-mask", "--model", mlm, "--quiet", "--targets", " , ", "a [MASK] film"});
    EXPECT_EQ(r.status, 1);
    EXPECT_NE(r.out.find("no target"), std::string::npos) << r.out;
    // Models without the head each task needs, options out of range.
    EXPECT_EQ(run({"fill-mask", "--model", sst, "--quiet", "a [MASK] film"}).status, 2);
    EXPECT_EQ(run({"fill-mask", "--model", nli, "--quiet", "a [MASK] film"}).status, 2);
    EXPECT_EQ(run({"fill-mask", "--model", mlm, "--top-k", "0", "a [MASK] film"}).status, 2);
    EXPECT_EQ(run({"fill-mask", "--model", mlm, "--labels", "a", "a [MASK] film"}).status, 2);
    EXPECT_EQ(run({"zero-shot", "--model", nli, "--quiet", "a film"}).status, 2);  // no --labels
    EXPECT_EQ(run({"zero-shot", "--model", nli, "--quiet", "--labels", " , ,", "a film"}).status, 2);
    EXPECT_EQ(run({"zero-shot", "--model", sst, "--quiet", "--labels", "good", "a film"}).status, 2);
    EXPECT_EQ(run({"zero-shot", "--model", mlm, "--quiet", "--labels", "good", "a film"}).status, 2);
    r = run({"zero-shot", "--model", nli, "--quiet", "--labels", "good", "--hypothesis-template", "no place", "a film"});
    EXPECT_EQ(r.status, 1);
    EXPECT_NE(r.out.find("hypothesis_template"), std::string::npos) << r.out;
    EXPECT_EQ(run({"fill-mask", "--help"}).status, 0);
    EXPECT_EQ(run({"zero-shot", "--help"}).status, 0);
}

}  // namespace
