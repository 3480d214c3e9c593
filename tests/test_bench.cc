// test_bench.cc: `encore bench` on the tiny fixture models: a short run whose
// JSON must hold every (device, batch, length) cell with figures that agree
// with each other and with the FLOP count worked out here from config.json.
// Runs the real binary.
#include <gtest/gtest.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <memory>
#include <set>
#include <sstream>
#include <utility>
#include <string>
#include <vector>

#include "cli_run.h"
#include "encore.h"
#include "fixtures.h"

using fixtures::get;

namespace {

using Outcome = cli::Result;

// Run encore with args; stdout captured, stderr dropped (progress lines).
Outcome encore(const std::vector<std::string> &args) {
    cli::Options o;
    o.stderr_path = "/dev/null";
    return cli::run(args, o);
}

std::string temp_path(const std::string &name) {
    const char *dir = getenv("TMPDIR");
    return std::string(dir && *dir ? dir : "/tmp") + "/encore_test_bench_" + std::to_string(getpid()) + "_" + name;
}

std::string slurp(const std::string &path) {
    std::ifstream f(path, std::ios::binary);
    std::stringstream ss;
    ss << f.rdbuf();
    return ss.str();
}

double num(const cJSON *obj, const char *key) {
    const cJSON *v = get(obj, key);
    return cJSON_IsNumber(v) ? v->valuedouble : NAN;
}

double num(const cJSON *obj, const char *key, const char *sub) { return num(get(obj, key), sub); }

// The FLOP count of bench_stats.h, worked out independently: 2 per
// multiply-add of every matrix product, on one sequence of S tokens.
double flops(int layers, int C, int F, int labels, int S) {
    double per_layer = 2.0 * S * C * 3 * C   // Q, K, V
                       + 2.0 * S * S * C     // scores, all heads
                       + 2.0 * S * S * C     // probabilities x V
                       + 2.0 * S * C * C     // output projection
                       + 2.0 * S * C * F * 2;  // FFN in and out
    return layers * per_layer + 2.0 * C * C + 2.0 * C * labels;  // + pooler and classifier
}

// Figures of a measured cell that must hold whatever the machine's speed.
void expect_sane(const cJSON *c, int batch, double tokens_per_text, const std::string &what) {
    SCOPED_TRACE(what);
    const double p50 = num(c, "latency_ms", "p50"), p90 = num(c, "latency_ms", "p90"),
                 p99 = num(c, "latency_ms", "p99"), mean = num(c, "latency_ms", "mean"),
                 lo = num(c, "latency_ms", "min");
    ASSERT_TRUE(std::isfinite(p50) && std::isfinite(p90) && std::isfinite(p99) && std::isfinite(mean));
    EXPECT_GT(lo, 0.0);
    EXPECT_LE(lo, p50);
    EXPECT_LE(p50, p90);
    EXPECT_LE(p90, p99);
    EXPECT_LT(p99, 60e3) << "a call of a tiny model took a minute";
    // Latency is tokenization plus model: the means add up (each is rounded
    // to 1e-4 ms in the JSON).
    EXPECT_NEAR(num(c, "tokenize_ms", "mean") + num(c, "model_ms", "mean"), mean, 3e-4);
    EXPECT_GE(num(c, "tokenize_ms", "p50"), 0.0);
    EXPECT_GT(num(c, "model_ms", "p50"), 0.0);
    EXPECT_NEAR(num(c, "mean_tokens"), tokens_per_text, 0.006);
    // Throughput is the batch over the mean latency. The JSON rounds the mean
    // by up to 0.5e-4 ms, so the true mean may be that much smaller: a
    // relative error of up to 0.5e-4 / (mean - 0.5e-4) (a tiny model's call
    // takes ~0.04 ms, so this is ~1.4e-3), and the rates to 0.01 and 0.1.
    ASSERT_GT(mean, 1e-4);
    const double seq_per_s = batch * 1e3 / mean, rel = 0.5e-4 / (mean - 0.5e-4) + 1e-5;
    EXPECT_NEAR(num(c, "seq_per_s"), seq_per_s, rel * seq_per_s + 0.01);
    EXPECT_NEAR(num(c, "tokens_per_s"), seq_per_s * tokens_per_text, rel * seq_per_s * tokens_per_text + 0.1);
    EXPECT_GT(num(c, "model_gflop_per_s"), 0.0);
    EXPECT_TRUE(std::isfinite(num(c, "model_gflop_per_s")));
}

struct Doc {
    cJSON *root = nullptr;
    explicit Doc(const std::string &text) : root(cJSON_Parse(text.c_str())) {}
    ~Doc() { cJSON_Delete(root); }
};

const std::string kBertSst = fixtures::model_dir("tiny-bert-sst");

TEST(Bench, SyntheticLengthsGiveEveryCell) {
    const std::string json = temp_path("synthetic.json");
    Outcome r = encore({"bench", "--model", kBertSst, "--batch", "1,3", "--seq-len", "8,20,100", "--warmup", "1",
                    "--iters", "4", "--threads", "1", "--json", json});
    ASSERT_EQ(r.status, 0) << r.out;
    EXPECT_NE(r.out.find("p50"), std::string::npos) << "no table on stdout:\n" << r.out;
    Doc doc(slurp(json));
    std::remove(json.c_str());
    ASSERT_NE(doc.root, nullptr);
    const cJSON *model = get(doc.root, "model");
    const int layers = (int)num(model, "layers"), C = (int)num(model, "hidden_size"),
              F = (int)num(model, "intermediate_size"), labels = (int)num(model, "labels");
    EXPECT_EQ(layers, 2);
    EXPECT_EQ(C, 32);
    EXPECT_EQ(F, 37);
    EXPECT_EQ(labels, 2);
    EXPECT_EQ(num(get(doc.root, "system"), "threads"), 1.0);
    EXPECT_TRUE(cJSON_IsString(get(get(doc.root, "system"), "cpu")));
    EXPECT_TRUE(cJSON_IsString(get(get(doc.root, "system"), "build_type")));

    std::set<std::pair<int, int>> seen;
    const cJSON *c;
    cJSON_ArrayForEach(c, get(doc.root, "cells")) {
        const int batch = (int)num(c, "batch"), len = (int)num(c, "seq_len");
        const std::string what = "batch " + std::to_string(batch) + " len " + std::to_string(len);
        EXPECT_EQ(fixtures::str(c, "device"), "cpu");
        EXPECT_EQ(fixtures::str(c, "precision"), "fp32");
        seen.insert({batch, len});
        if (len == 100) {
            // tiny-bert-sst takes 64 tokens: reported, not measured.
            EXPECT_NE(fixtures::str(c, "skipped").find("64"), std::string::npos) << what;
            continue;
        }
        ASSERT_FALSE(fixtures::has(c, "skipped")) << what << ": " << fixtures::str(c, "skipped");
        EXPECT_EQ(num(c, "iters"), 4.0) << what;
        expect_sane(c, batch, len, what);
        // rounded to 1e-6 GFLOP in the JSON
        EXPECT_NEAR(num(c, "model_gflop"), batch * flops(layers, C, F, labels, len) * 1e-9, 1e-6) << what;
    }
    std::set<std::pair<int, int>> want = {{1, 8}, {3, 8}, {1, 20}, {3, 20}, {1, 100}, {3, 100}};
    EXPECT_EQ(seen, want);
}

// --texts: call i takes texts i*batch.. cycling; the header row of a TSV
// file names the column. mean_tokens tells which texts were run.
TEST(Bench, TextsFromTsvCycle) {
    const std::string tsv = temp_path("texts.tsv"), json = temp_path("texts.json");
    const std::vector<std::string> texts = {"a charming and often affecting journey .", "bleak and desperate",
                                            "the best film of the year !", "it is not good",
                                            "a very long sentence that goes on and on about nothing in particular"};
    {
        std::ofstream f(tsv);
        f << "sentence\tlabel\n";
        for (const auto &t : texts) f << t << " \t1\n";
    }
    Outcome r = encore({"bench", "--model", kBertSst, "--texts", tsv, "--batch", "2", "--warmup", "0", "--iters", "3",
                    "--threads", "1", "--json", json, "--quiet"});
    std::remove(tsv.c_str());
    ASSERT_EQ(r.status, 0) << r.out;
    Doc doc(slurp(json));
    std::remove(json.c_str());
    ASSERT_NE(doc.root, nullptr);
    EXPECT_EQ(num(get(doc.root, "settings"), "n_texts"), 5.0);

    encore_model *model = nullptr;
    ASSERT_EQ(encore_model_load(kBertSst.c_str(), encore_model_default_params(), &model), ENCORE_STATUS_OK);
    double tokens = 0;
    for (int i = 0; i < 6; i++) {  // 3 calls of 2 texts: texts 0..4, then 0 again
        encore_encoding *enc = nullptr;
        ASSERT_EQ(encore_model_tokenize(model, {texts[i % 5].c_str(), nullptr}, 1, &enc), ENCORE_STATUS_OK);
        tokens += enc->n_tokens;
        encore_encoding_free(enc);
    }
    encore_model_free(model);

    const cJSON *cells = get(doc.root, "cells");
    ASSERT_EQ(cJSON_GetArraySize(cells), 1);
    const cJSON *c = cJSON_GetArrayItem(cells, 0);
    EXPECT_TRUE(cJSON_IsNull(get(c, "seq_len")));
    expect_sane(c, 2, tokens / 6, "texts");
}

// --json - writes the document alone on stdout; a DistilBERT, an
// embedding model and a RoBERTa (byte-level BPE: its synthetic words must
// be one token after a space too) work too.
TEST(Bench, JsonOnStdoutForOtherArchitectures) {
    for (const char *name : {"tiny-distilbert-sst", "tiny-bert-embed", "tiny-roberta-sst", "tiny-xlmr-sst",
                             "tiny-mpnet-embed"}) {
        Outcome r = encore({"bench", "--model", fixtures::model_dir(name), "--batch", "2", "--seq-len", "16", "--iters",
                        "2", "--warmup", "0", "--threads", "1", "--json", "-", "--quiet"});
        ASSERT_EQ(r.status, 0) << name;
        Doc doc(r.out);
        ASSERT_NE(doc.root, nullptr) << name << ": stdout is not JSON:\n" << r.out;
        const cJSON *c = cJSON_GetArrayItem(get(doc.root, "cells"), 0);
        ASSERT_NE(c, nullptr);
        expect_sane(c, 2, 16, name);
    }
}

// A PEFT LoRA adapter directory (no config.json of its own: the default
// sentiment model is one) is timed, and its shape is its base's, read from
// the base's config.json here.
TEST(Bench, AdapterDirectoriesAreTimedWithTheirBasesShape) {
    const std::string dir = fixtures::model_dir("lora-bert-cls");
    Outcome r = encore({"bench", "--model", dir, "--batch", "2", "--seq-len", "16", "--iters", "2", "--warmup", "0",
                        "--threads", "1", "--json", "-", "--quiet"});
    ASSERT_EQ(r.status, 0) << r.out;
    Doc doc(r.out);
    ASSERT_NE(doc.root, nullptr) << "stdout is not JSON:\n" << r.out;
    std::ifstream f(fixtures::model_dir("tiny-bert-embed") + "/config.json");
    std::stringstream text;
    text << f.rdbuf();
    Doc base(text.str());
    ASSERT_NE(base.root, nullptr);
    const cJSON *model = get(doc.root, "model");
    for (auto [ours, theirs] : {std::pair{"layers", "num_hidden_layers"}, std::pair{"heads", "num_attention_heads"},
                                std::pair{"intermediate_size", "intermediate_size"}, std::pair{"hidden_size", "hidden_size"}}) {
        ASSERT_TRUE(cJSON_IsNumber(get(model, ours))) << ours;
        EXPECT_EQ(get(model, ours)->valueint, get(base.root, theirs)->valueint) << ours;
    }
    expect_sane(cJSON_GetArrayItem(get(doc.root, "cells"), 0), 2, 16, "lora-bert-cls");
}

// An embedding model whose sentence_bert_config.json max_seq_length (16) is
// below its limit (64) is timed on what sentence-transformers embeds: texts
// cut at 16 tokens, and no synthetic length above 16.
TEST(Bench, EmbeddingModelsAreTimedOnTextsCutAtMaxSeqLength) {
    const std::string dir = fixtures::model_dir("tiny-bert-embed-short"), tsv = temp_path("long.tsv");
    {
        std::ofstream f(tsv);
        f << "sentence\tlabel\n";
        f << "I didn't like it, but it's not the worst film I've seen.\t0\n";  // 24 tokens
        f << "the the the the the the the the the the the the the the the the the the the the\t1\n";  // 22 tokens
    }
    Outcome r = encore({"bench", "--model", dir, "--texts", tsv, "--batch", "2", "--warmup", "0", "--iters", "2",
                        "--threads", "1", "--json", "-", "--quiet"});
    std::remove(tsv.c_str());
    ASSERT_EQ(r.status, 0) << r.out;
    Doc doc(r.out);
    ASSERT_NE(doc.root, nullptr) << r.out;
    EXPECT_EQ(num(get(doc.root, "model"), "max_length"), 16.0);
    const cJSON *c = cJSON_GetArrayItem(get(doc.root, "cells"), 0);
    ASSERT_NE(c, nullptr);
    ASSERT_FALSE(fixtures::has(c, "skipped")) << fixtures::str(c, "skipped");
    expect_sane(c, 2, 16, "texts cut at 16 tokens");

    r = encore({"bench", "--model", dir, "--seq-len", "16,17", "--batch", "1", "--warmup", "0", "--iters", "2",
                "--threads", "1", "--json", "-", "--quiet"});
    ASSERT_EQ(r.status, 0) << r.out;
    Doc lens(r.out);
    ASSERT_NE(lens.root, nullptr) << r.out;
    int n = 0;
    cJSON_ArrayForEach(c, get(lens.root, "cells")) {
        n++;
        if (num(c, "seq_len") == 17.0) {
            EXPECT_NE(fixtures::str(c, "skipped").find("embeddings take (16 tokens)"), std::string::npos)
                << fixtures::str(c, "skipped");
        } else {
            ASSERT_FALSE(fixtures::has(c, "skipped")) << fixtures::str(c, "skipped");
            expect_sane(c, 1, 16, "len 16");
        }
    }
    EXPECT_EQ(n, 2);
}

// Without a usable GPU the cuda cells are there, marked skipped, and the CPU
// cells are measured; on a GPU the cuda cells must be as sane as the CPU's.
TEST(Bench, CudaCellsSkippedOrMeasured) {
    Outcome r = encore({"bench", "--model", kBertSst, "--device", "cpu,cuda", "--batch", "2", "--seq-len", "8",
                    "--iters", "2", "--warmup", "1", "--threads", "1", "--json", "-", "--quiet"});
    ASSERT_EQ(r.status, 0);
    Doc doc(r.out);
    ASSERT_NE(doc.root, nullptr);
    std::set<std::string> devices;
    const cJSON *c;
    cJSON_ArrayForEach(c, get(doc.root, "cells")) {
        const std::string device = fixtures::str(c, "device");
        devices.insert(device);
        if (device == "cuda" && fixtures::has(c, "skipped")) {
            EXPECT_NE(fixtures::str(c, "skipped").find("GPU"), std::string::npos);
            continue;
        }
        expect_sane(c, 2, 8, device);
        if (device == "cuda") {
            EXPECT_GT(num(c, "speedup_vs_cpu"), 0.0);
        }
    }
    EXPECT_EQ(devices, (std::set<std::string>{"cpu", "cuda"}));
}

// `encore --version` and the bench JSON name the CPU kernels the process
// runs: the same as the library reports in this process (same environment),
// and capped by ENCORE_CPU_ISA / ENCORE_CPU_INT8 in the child's.
TEST(Bench, NamesTheCpuKernels) {
    const std::string here = std::string("cpu kernels: ") + encore_cpu_path() + ", int8 " + encore_cpu_int8_kernel();
    Outcome r = encore({"--version"});
    ASSERT_EQ(r.status, 0);
    EXPECT_NE(r.out.find("\n" + here + "\n"), std::string::npos) << r.out;

    cli::Options o;
    o.stderr_path = "/dev/null";
    o.env = {{"ENCORE_CPU_ISA", "portable"}};
    o.unset = {"ENCORE_CPU_INT8"};
    r = cli::run({"--version"}, o);
    EXPECT_NE(r.out.find("cpu kernels: portable, int8 portable\n"), std::string::npos) << r.out;

    const std::string json = temp_path("kernels.json");
    r = encore({"bench", "--model", kBertSst, "--batch", "1", "--seq-len", "8", "--warmup", "0", "--iters", "1",
                "--threads", "1", "--json", json});
    ASSERT_EQ(r.status, 0) << r.out;
    Doc doc(slurp(json));
    std::remove(json.c_str());
    EXPECT_EQ(fixtures::str(get(doc.root, "system"), "cpu_kernels"), encore_cpu_path());
    EXPECT_EQ(fixtures::str(get(doc.root, "system"), "cpu_int8_kernel"), encore_cpu_int8_kernel());

    // As an AVX2 CPU without VNNI runs (an EPYC before Zen 4), where this
    // CPU has AVX2.
    std::ifstream info("/proc/cpuinfo");
    std::string line;
    while (std::getline(info, line) && line.rfind("flags", 0) != 0) {
    }
    if (line.find(" avx2") == std::string::npos || line.find(" fma") == std::string::npos) {
        std::printf("[ note ] this CPU lacks avx2: the avx2 caps are not run\n");
        return;
    }
    o.env = {{"ENCORE_CPU_ISA", "avx2"}, {"ENCORE_CPU_INT8", "avx2"}};
    r = cli::run({"--version"}, o);
    EXPECT_NE(r.out.find("cpu kernels: avx2, int8 avx2\n"), std::string::npos) << r.out;
    // An int8 kernel above the path's own is not taken, with a warning.
    const std::string err = temp_path("kernels.err");
    o.stderr_path = err;
    o.env = {{"ENCORE_CPU_ISA", "avx2"}, {"ENCORE_CPU_INT8", "avx512_vnni"}};
    r = cli::run({"--version"}, o);
    const std::string warned = slurp(err);
    std::remove(err.c_str());
    EXPECT_EQ(r.out.find("int8 avx512_vnni"), std::string::npos) << r.out;
    EXPECT_NE(warned.find("ENCORE_CPU_INT8=avx512_vnni is not an int8 kernel"), std::string::npos) << warned;
}

TEST(Bench, UsageErrors) {
    EXPECT_EQ(encore({"bench", "--model", kBertSst, "--seq-len", "0"}).status, 2);
    EXPECT_EQ(encore({"bench", "--model", kBertSst, "--batch", "1,x"}).status, 2);
    EXPECT_EQ(encore({"bench", "--model", kBertSst, "--seq-len", "8", "--texts", "/dev/null"}).status, 2);
    EXPECT_EQ(encore({"bench", "--model", kBertSst, "--iters", "3", "--seconds", "1"}).status, 2);
    EXPECT_EQ(encore({"bench", "--model", kBertSst, "--device", "tpu"}).status, 2);
    EXPECT_EQ(encore({"bench", "--model", "/nonexistent/model"}).status, 2);
    EXPECT_EQ(encore({"bench", "--model", kBertSst, "--texts", "/nonexistent/texts.txt"}).status, 2);
    Outcome help = encore({"bench", "--help"});
    EXPECT_EQ(help.status, 0);
    EXPECT_NE(help.out.find("--seq-len"), std::string::npos);
}

bool have_gnuplot() { return std::system("command -v gnuplot >/dev/null 2>&1") == 0; }

TEST(Bench, PlotIsAPng) {
    if (!have_gnuplot()) GTEST_SKIP() << "gnuplot is not installed";
    const std::string png = temp_path("plot.png");
    Outcome r = encore({"bench", "--model", kBertSst, "--batch", "1,2", "--seq-len", "8,16", "--iters", "2", "--warmup",
                    "0", "--threads", "1", "--plot", png, "--quiet"});
    EXPECT_EQ(r.status, 0);
    const std::string bytes = slurp(png);
    std::remove(png.c_str());
    ASSERT_GT(bytes.size(), 1000u);
    EXPECT_EQ(bytes.substr(0, 8), std::string("\x89PNG\r\n\x1a\n", 8));
}

}  // namespace
