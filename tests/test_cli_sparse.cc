// test_cli_sparse.cc: `encore embed` and `encore score` on SPLADE models
// against sentence-transformers' SparseEncoder (tiny-*-splade fixtures).
// Runs the real binary.
#include <gtest/gtest.h>

#include <cmath>
#include <cstring>
#include <fstream>
#include <sstream>
#include <string>
#include <vector>

#include "cli_run.h"
#include "core/safetensors.h"
#include "expect_close.h"
#include "fixtures.h"
#include "splade_reference.h"
#include "temp_dir.h"

using fixtures::get;

namespace {

constexpr double kWeightTol = 1e-4;  // test_sparse.cc's

struct Reference {
    std::unique_ptr<fixtures::Json> doc;
    encore_safetensors *st = nullptr;
    std::vector<const cJSON *> cases;  // single texts with weights, none empty
    int V = 0;
    explicit Reference(const std::string &name) : doc(fixtures::load(name)) {
        const std::string path = fixtures::dir() + "/reference/" + name + ".splade.safetensors";
        if (encore_safetensors_open(path.c_str(), &st) != ENCORE_STATUS_OK) ADD_FAILURE() << encore_last_error();
        if (!doc || !doc->root) return;
        V = (int)fixtures::number(doc->root, "vocab_size");
        const cJSON *c;
        cJSON_ArrayForEach(c, get(doc->root, "cases")) {
            // One text per line: no line breaks, no U+0000, not blank
            // (encore score makes a blank text an error record).
            const std::string t = fixtures::str(c, "text");
            if (fixtures::has(c, "splade") && !fixtures::has_nul(c) && t.find_first_not_of(" \t") != std::string::npos &&
                t.find_first_of("\r\n\x0b\x0c\x1c\x1d\x1e\x85") == std::string::npos && t.find("\xe2\x80\xa8") == std::string::npos &&
                t.find("\xe2\x80\xa9") == std::string::npos)
                cases.push_back(c);
        }
    }
    ~Reference() { encore_safetensors_close(st); }
    std::vector<double> weights(const cJSON *c) const {
        const std::vector<float> v = splade_reference::weights(st, c);
        return std::vector<double>(v.begin(), v.end());
    }
};

using splade_reference::dense;

class SpladeCli : public ::testing::TestWithParam<std::string> {};

TEST_P(SpladeCli, EmbedPrintsTheWeightsThatAreNotZero) {
    Reference ref(GetParam());
    ASSERT_GT(ref.cases.size(), 20u);
    std::string input;
    for (const cJSON *c : ref.cases) input += fixtures::str(c, "text") + "\n";
    cli::Result r = cli::run({"embed", "--quiet", "--model", fixtures::model_dir(GetParam())}, input);
    ASSERT_EQ(r.status, 0) << r.out.substr(0, 300);
    std::vector<std::string> out = cli::lines(r.out);
    ASSERT_EQ(out.size(), ref.cases.size());
    for (size_t i = 0; i < out.size(); i++) {
        cJSON *j = cJSON_Parse(out[i].c_str());
        std::string error;
        std::vector<double> got = dense(j, ref.V, &error);
        cJSON_Delete(j);
        ASSERT_EQ(error, "") << out[i].substr(0, 200);
        EXPECT_CLOSE(got, ref.weights(ref.cases[i]), kWeightTol, 1e-5) << fixtures::str(ref.cases[i], "name");
    }
    // No normalizing or other pooling of a SPLADE model's weights.
    for (const char *opt : {"--normalize", "--pooling"}) {
        std::vector<std::string> args = {"embed", "--quiet", "--model", fixtures::model_dir(GetParam()), opt};
        if (std::strcmp(opt, "--pooling") == 0) args.push_back("mean");
        args.push_back("a");
        EXPECT_EQ(cli::run(args).status, 2) << opt;
    }
}

TEST_P(SpladeCli, ScoreWritesSparseJsonlAndDenseNpy) {
    Reference ref(GetParam());
    ASSERT_GT(ref.cases.size(), 20u);
    TempDir d("test_cli_sparse");
    std::string in;
    for (const cJSON *c : ref.cases) in += "{\"text\": " + fixtures::quote(fixtures::str(c, "text")) + "}\n";
    d.write("in.jsonl", in);
    const std::string model = fixtures::model_dir(GetParam());
    cli::Result r = cli::run({"score", "--quiet", "--model", model, "--input", d.path() + "/in.jsonl", "--output",
                              d.path() + "/out.jsonl"});
    ASSERT_EQ(r.status, 0);
    std::ifstream f(d.path() + "/out.jsonl");
    std::stringstream ss;
    ss << f.rdbuf();
    std::vector<std::string> out = cli::lines(ss.str());
    ASSERT_EQ(out.size(), ref.cases.size());
    for (size_t i = 0; i < out.size(); i++) {
        cJSON *j = cJSON_Parse(out[i].c_str());
        std::string error;
        std::vector<double> got = dense(get(j, "sparse_embedding"), ref.V, &error);
        EXPECT_EQ((int)fixtures::number(j, "line"), (int)i + 1);
        cJSON_Delete(j);
        ASSERT_EQ(error, "") << out[i].substr(0, 200);
        EXPECT_CLOSE(got, ref.weights(ref.cases[i]), kWeightTol, 1e-5) << fixtures::str(ref.cases[i], "name");
    }
    // npy: (records, V) float32 after the 128-byte header, every weight.
    r = cli::run({"score", "--quiet", "--model", model, "--input", d.path() + "/in.jsonl", "--output",
                  d.path() + "/out.npy", "--format", "npy"});
    ASSERT_EQ(r.status, 0);
    std::ifstream nf(d.path() + "/out.npy", std::ios::binary);
    std::string npy((std::istreambuf_iterator<char>(nf)), std::istreambuf_iterator<char>());
    ASSERT_EQ(npy.size(), 128 + ref.cases.size() * (size_t)ref.V * 4);
    for (size_t i = 0; i < ref.cases.size(); i++) {
        std::vector<float> row(ref.V);
        std::memcpy(row.data(), npy.data() + 128 + i * (size_t)ref.V * 4, (size_t)ref.V * 4);
        EXPECT_CLOSE(row, ref.weights(ref.cases[i]), kWeightTol, 1e-5) << "npy row " << i;
    }
    // TSV would be a column per vocabulary entry: refused.
    r = cli::run({"score", "--quiet", "--model", model, "--input", d.path() + "/in.jsonl", "--output",
                  d.path() + "/out.tsv", "--format", "tsv"});
    EXPECT_EQ(r.status, 2);
}

INSTANTIATE_TEST_SUITE_P(Fixtures, SpladeCli, ::testing::Values("tiny-bert-splade", "tiny-distilbert-splade"));

// --pooling splade on a *ForMaskedLM model; refused on a model without the head.
TEST(SpladeCliOptions, PoolingSplade) {
    cli::Result r = cli::run({"embed", "--quiet", "--model", fixtures::model_dir("tiny-bert-mlm"), "--pooling", "splade",
                              "a fine film"});
    ASSERT_EQ(r.status, 0);
    std::ifstream vocab(fixtures::model_dir("tiny-bert-mlm") + "/vocab.txt");
    int V = 0;
    for (std::string line; std::getline(vocab, line);) V++;
    ASSERT_GT(V, 100);
    cJSON *j = cJSON_Parse(r.out.c_str());
    std::string error;
    EXPECT_EQ(dense(j, V, &error).size(), (size_t)V) << error << r.out.substr(0, 200);
    EXPECT_GT(cJSON_GetArraySize(j), 10);
    cJSON_Delete(j);
    r = cli::run({"embed", "--quiet", "--model", fixtures::model_dir("tiny-bert-embed"), "--pooling", "splade", "a"});
    EXPECT_EQ(r.status, 2);
}

}  // namespace
