// test_pipelines.cc: encore_session_fill_mask and encore_session_zero_shot
// against transformers' pipeline("fill-mask") and
// pipeline("zero-shot-classification") on the tiny fixtures
// (models/make_fixtures.py dumps what the pipelines return), and their
// refusals of bad input. Built twice: on the CPU (test_pipelines) and, with
// ENCORE_HAVE_CUDA, on a CUDA session in fp32 (test_cuda_pipelines, label
// cuda, which runs under the CUDA emulation too).
#include <gtest/gtest.h>

#include <unistd.h>

#include <cmath>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <string>
#include <vector>

#include "fixtures.h"
#include "pipeline_session.h"
#include "encore.h"

namespace {

// Scores: the pipeline's are float32 from torch/numpy, encore's the same
// arithmetic in another order (fp32 GEMMs, a double softmax); 1e-5 is a
// hundred times what the fixtures differ by (measured: under 2e-7).
constexpr double kScoreTol = 1e-5;

using pipeline_session::Loaded;

void open(const std::string &name, Loaded *l) { pipeline_session::open_dir(fixtures::model_dir(name), l); }


void expect_score(double got, const cJSON *want, const std::string &where) {
    ASSERT_TRUE(cJSON_IsNumber(want)) << where << ": the reference score is missing";
    const double w = want->valuedouble;
    if (std::isnan(w)) {
        EXPECT_TRUE(std::isnan(got)) << where;
        return;
    }
    EXPECT_NEAR(got, w, kScoreTol) << where;
}

// One mask's predictions against the pipeline's list of dicts.
void expect_predictions(const encore_fill_mask_prediction *p, int k, const cJSON *want, const std::string &where) {
    ASSERT_TRUE(cJSON_IsArray(want)) << where;
    ASSERT_EQ(k, cJSON_GetArraySize(want)) << where;
    for (int j = 0; j < k; j++) {
        const cJSON *d = cJSON_GetArrayItem(want, j);
        const std::string at = where + " prediction " + std::to_string(j);
        const cJSON *token = fixtures::get(d, "token");
        ASSERT_TRUE(cJSON_IsNumber(token)) << at;
        EXPECT_EQ(p[j].token, token->valueint) << at;
        EXPECT_EQ(std::string(p[j].token_str), fixtures::str(d, "token_str")) << at;
        EXPECT_EQ(std::string(p[j].sequence), fixtures::str(d, "sequence")) << at;
        expect_score(p[j].score, fixtures::get(d, "score"), at);
    }
}

void fill_mask_parity(const std::string &name) {
    auto ref = fixtures::load(name);
    ASSERT_TRUE(ref && ref->root) << "no reference tests/fixtures/reference/" << name << ".json";
    const cJSON *cases = fixtures::get(ref->root, "pipeline_cases");
    ASSERT_TRUE(cJSON_IsArray(cases) && cJSON_GetArraySize(cases) > 0) << name << ": no cases";
    Loaded l;
    ASSERT_NO_FATAL_FAILURE(open(name, &l));
    int multi = 0, with_targets = 0;
    const cJSON *c;
    cJSON_ArrayForEach(c, cases) {
        const std::string where = name + " case " + fixtures::str(c, "name");
        encore_fill_mask_params p = encore_fill_mask_default_params();
        if (fixtures::has(c, "top_k")) p.top_k = fixtures::get(c, "top_k")->valueint;
        std::vector<const char *> targets;
        const cJSON *t = fixtures::get(c, "targets");
        if (cJSON_IsString(t)) targets.push_back(t->valuestring);
        const cJSON *item;
        if (cJSON_IsArray(t)) cJSON_ArrayForEach(item, t) targets.push_back(item->valuestring);
        p.targets = targets.empty() ? nullptr : targets.data();
        p.n_targets = (int)targets.size();
        with_targets += !targets.empty();
        encore_fill_mask_result *r = nullptr;
        ASSERT_EQ(encore_session_fill_mask(l.session, fixtures::str(c, "text").c_str(), p, &r), ENCORE_STATUS_OK)
            << where << ": " << encore_session_last_error(l.session);
        const cJSON *want = fixtures::get(c, "result");
        ASSERT_TRUE(cJSON_IsArray(want)) << where;
        // One mask: a list of dicts; several: a list of those per mask.
        const bool nested = cJSON_IsArray(cJSON_GetArrayItem(want, 0));
        if (!nested) {
            EXPECT_EQ(r->n_masks, 1) << where;
            expect_predictions(r->predictions, r->k, want, where);
        } else {
            multi++;
            ASSERT_EQ(r->n_masks, cJSON_GetArraySize(want)) << where;
            for (int m = 0; m < r->n_masks; m++)
                expect_predictions(r->predictions + (size_t)m * r->k, r->k, cJSON_GetArrayItem(want, m),
                                   where + " mask " + std::to_string(m));
        }
        encore_fill_mask_result_free(r);
    }
    EXPECT_GT(multi, 0) << "no case with several masks";
    EXPECT_GT(with_targets, 0) << "no case with targets";
}

TEST(FillMask, BertMatchesPipeline) {
    NEED_DEVICE();
    fill_mask_parity("tiny-bert-mlm");
}

TEST(FillMask, DistilBertMatchesPipeline) {
    NEED_DEVICE();
    fill_mask_parity("tiny-distilbert-mlm");
}

TEST(FillMask, RobertaMatchesPipeline) {
    NEED_DEVICE();
    fill_mask_parity("tiny-roberta-mlm");
}

TEST(FillMask, XlmRobertaMatchesPipeline) {
    NEED_DEVICE();
    fill_mask_parity("tiny-xlmr-mlm");
}

TEST(FillMask, MpnetMatchesPipeline) {
    NEED_DEVICE();
    fill_mask_parity("tiny-mpnet-mlm");
}

// The pipeline splits a label string itself; the C API takes a list. The
// CLI's splitting is checked against that case in test_cli.
void zero_shot_parity(const std::string &name, bool expect_ties) {
    auto ref = fixtures::load(name);
    ASSERT_TRUE(ref && ref->root) << "no reference tests/fixtures/reference/" << name << ".json";
    const cJSON *cases = fixtures::get(ref->root, "pipeline_cases");
    ASSERT_TRUE(cJSON_IsArray(cases) && cJSON_GetArraySize(cases) > 0) << name << ": no cases";
    Loaded l;
    ASSERT_NO_FATAL_FAILURE(open(name, &l));
    int ran = 0, ties = 0;
    const cJSON *c;
    cJSON_ArrayForEach(c, cases) {
        const std::string where = name + " case " + fixtures::str(c, "name");
        const cJSON *cand = fixtures::get(c, "candidate_labels");
        if (cJSON_IsString(cand)) continue;
        ASSERT_TRUE(cJSON_IsArray(cand)) << where;
        std::vector<const char *> labels;
        const cJSON *item;
        cJSON_ArrayForEach(item, cand) labels.push_back(item->valuestring);
        encore_zero_shot_params p = encore_zero_shot_default_params();
        if (fixtures::has(c, "hypothesis_template"))
            p.hypothesis_template = fixtures::get(c, "hypothesis_template")->valuestring;
        if (fixtures::has(c, "multi_label")) p.multi_label = cJSON_IsTrue(fixtures::get(c, "multi_label"));
        const int n = (int)labels.size();
        std::vector<float> scores(n);
        std::vector<int> order(n);
        ASSERT_EQ(encore_session_zero_shot(l.session, fixtures::str(c, "text").c_str(), labels.data(), n, p,
                                           scores.data(), order.data()),
                  ENCORE_STATUS_OK)
            << where << ": " << encore_session_last_error(l.session);
        const cJSON *want = fixtures::get(c, "result");
        EXPECT_EQ(fixtures::str(want, "sequence"), fixtures::str(c, "text")) << where;
        const cJSON *wl = fixtures::get(want, "labels"), *ws = fixtures::get(want, "scores");
        ASSERT_TRUE(cJSON_IsArray(wl) && cJSON_IsArray(ws)) << where;
        ASSERT_EQ(cJSON_GetArraySize(wl), n) << where;
        ASSERT_EQ(cJSON_GetArraySize(ws), n) << where;
        for (int i = 0; i < n; i++) {
            const std::string at = where + " rank " + std::to_string(i);
            EXPECT_EQ(std::string(labels[order[i]]), cJSON_GetArrayItem(wl, i)->valuestring) << at;
            expect_score(scores[order[i]], cJSON_GetArrayItem(ws, i), at);
            if (i > 0) ties += cJSON_GetArrayItem(ws, i)->valuedouble == cJSON_GetArrayItem(ws, i - 1)->valuedouble;
        }
        ran++;
    }
    EXPECT_GE(ran, 8) << "too few cases ran";
    // Labels only an uncased tokenizer cannot tell apart tie.
    if (expect_ties) {
        EXPECT_GT(ties, 0) << "no case with tied candidates";
    }
}

TEST(ZeroShot, MatchesPipeline) {
    NEED_DEVICE();
    zero_shot_parity("tiny-bert-nli", true);
    zero_shot_parity("tiny-roberta-nli", false);
    zero_shot_parity("tiny-deberta-nli", false);
}

// ---- bad input: a status and a message, never a crash ----------------------

TEST(FillMask, RefusesBadInput) {
    NEED_DEVICE();
    Loaded l;
    ASSERT_NO_FATAL_FAILURE(open("tiny-bert-mlm", &l));
    encore_fill_mask_params p = encore_fill_mask_default_params();
    encore_fill_mask_result *r = nullptr;
    EXPECT_EQ(encore_session_fill_mask(l.session, "no mask here", p, &r), ENCORE_STATUS_BAD_INPUT);
    EXPECT_EQ(r, nullptr);
    EXPECT_NE(std::string(encore_session_last_error(l.session)).find("no mask token"), std::string::npos)
        << encore_session_last_error(l.session);
    EXPECT_EQ(encore_session_fill_mask(l.session, "", p, &r), ENCORE_STATUS_BAD_INPUT);
    EXPECT_EQ(encore_session_fill_mask(l.session, "bad \xff utf-8 [MASK]", p, &r), ENCORE_STATUS_BAD_INPUT);
    // Targets of which none is a token, nor has one.
    const char *empty[] = {"  ", ""};
    p.targets = empty;
    p.n_targets = 2;
    EXPECT_EQ(encore_session_fill_mask(l.session, "a [MASK] film", p, &r), ENCORE_STATUS_BAD_INPUT);
    EXPECT_NE(std::string(encore_session_last_error(l.session)).find("target"), std::string::npos);
    p = encore_fill_mask_default_params();
    p.top_k = 0;
    EXPECT_EQ(encore_session_fill_mask(l.session, "a [MASK] film", p, &r), ENCORE_STATUS_INVALID_ARGUMENT);
    p = encore_fill_mask_default_params();
    p.n_targets = 1;  // and no list
    EXPECT_EQ(encore_session_fill_mask(l.session, "a [MASK] film", p, &r), ENCORE_STATUS_INVALID_ARGUMENT);
    p = encore_fill_mask_default_params();
    EXPECT_EQ(encore_session_fill_mask(l.session, nullptr, p, &r), ENCORE_STATUS_INVALID_ARGUMENT);
    EXPECT_EQ(encore_session_fill_mask(l.session, "a [MASK]", p, nullptr), ENCORE_STATUS_INVALID_ARGUMENT);
    EXPECT_EQ(encore_session_fill_mask(nullptr, "a [MASK]", p, &r), ENCORE_STATUS_INVALID_ARGUMENT);
    // top_k beyond the vocabulary: every token, best first.
    p.top_k = 1 << 20;
    ASSERT_EQ(encore_session_fill_mask(l.session, "a [MASK]", p, &r), ENCORE_STATUS_OK);
    EXPECT_EQ(r->k, 1500);
    double sum = 0.0;
    for (int j = 0; j < r->k; j++) sum += r->predictions[j].score;
    EXPECT_NEAR(sum, 1.0, 1e-4);
    encore_fill_mask_result_free(r);
    encore_fill_mask_result_free(nullptr);
}

TEST(FillMask, RefusesModelWithoutTheHead) {
    NEED_DEVICE();
    Loaded l;
    ASSERT_NO_FATAL_FAILURE(open("tiny-bert-sst", &l));
    encore_fill_mask_result *r = nullptr;
    EXPECT_EQ(encore_session_fill_mask(l.session, "a [MASK] film", encore_fill_mask_default_params(), &r),
              ENCORE_STATUS_UNSUPPORTED);
    EXPECT_NE(std::string(encore_session_last_error(l.session)).find("masked-language-model head"),
              std::string::npos)
        << encore_session_last_error(l.session);
}

TEST(ZeroShot, RefusesBadInput) {
    NEED_DEVICE();
    Loaded l;
    ASSERT_NO_FATAL_FAILURE(open("tiny-bert-nli", &l));
    const char *labels[] = {"good", "bad"};
    float scores[2];
    int order[2];
    encore_zero_shot_params p = encore_zero_shot_default_params();
    EXPECT_EQ(encore_session_zero_shot(l.session, "a film", labels, 0, p, scores, order), ENCORE_STATUS_BAD_INPUT);
    EXPECT_NE(std::string(encore_session_last_error(l.session)).find("no candidate labels"), std::string::npos);
    for (const char *tpl : {"no place", "{label}", "a } b {}", "{0!r}"}) {
        p.hypothesis_template = tpl;
        EXPECT_EQ(encore_session_zero_shot(l.session, "a film", labels, 2, p, scores, order),
                  ENCORE_STATUS_BAD_INPUT)
            << tpl;
        EXPECT_NE(std::string(encore_session_last_error(l.session)).find("hypothesis_template"), std::string::npos)
            << tpl;
    }
    // Python's format: {0} is the label, {{ }} are braces.
    p.hypothesis_template = "{{{0}}}";
    EXPECT_EQ(encore_session_zero_shot(l.session, "a film", labels, 2, p, scores, order), ENCORE_STATUS_OK);
    p = encore_zero_shot_default_params();
    EXPECT_EQ(encore_session_zero_shot(l.session, "bad \xff", labels, 2, p, scores, order), ENCORE_STATUS_BAD_INPUT);
    const char *with_null[] = {"good", nullptr};
    EXPECT_EQ(encore_session_zero_shot(l.session, "a film", with_null, 2, p, scores, order),
              ENCORE_STATUS_INVALID_ARGUMENT);
    EXPECT_EQ(encore_session_zero_shot(l.session, nullptr, labels, 2, p, scores, order),
              ENCORE_STATUS_INVALID_ARGUMENT);
    EXPECT_EQ(encore_session_zero_shot(l.session, "a film", labels, 2, p, nullptr, order),
              ENCORE_STATUS_INVALID_ARGUMENT);
}

TEST(ZeroShot, RefusesModelsThatAreNotNli) {
    NEED_DEVICE();
    const char *labels[] = {"good"};
    float scores[1];
    int order[1];
    {
        Loaded l;  // labels NEGATIVE/POSITIVE: no entailment
        ASSERT_NO_FATAL_FAILURE(open("tiny-bert-sst", &l));
        EXPECT_EQ(encore_session_zero_shot(l.session, "a film", labels, 1, encore_zero_shot_default_params(), scores,
                                           order),
                  ENCORE_STATUS_UNSUPPORTED);
        EXPECT_NE(std::string(encore_session_last_error(l.session)).find("entail"), std::string::npos);
    }
    {
        Loaded l;  // no classification head at all
        ASSERT_NO_FATAL_FAILURE(open("tiny-bert-mlm", &l));
        EXPECT_EQ(encore_session_zero_shot(l.session, "a film", labels, 1, encore_zero_shot_default_params(), scores,
                                           order),
                  ENCORE_STATUS_UNSUPPORTED);
        EXPECT_NE(std::string(encore_session_last_error(l.session)).find("classification head"), std::string::npos);
    }
}

// A config that names the MLM architecture over weights without its head:
// the loader names the missing tensor, and nothing runs.
TEST(FillMask, ModelWithoutItsHeadTensorsIsRefusedAtLoad) {
    namespace fs = std::filesystem;
    const fs::path dir = fs::temp_directory_path() / ("encore-mlm-no-head-" + std::to_string(getpid()));
    fs::remove_all(dir);
    fs::create_directories(dir);
    for (const auto &e : fs::directory_iterator(fixtures::model_dir("tiny-bert-sst")))
        fs::copy_file(e.path(), dir / e.path().filename());
    std::stringstream ss;
    ss << std::ifstream(dir / "config.json").rdbuf();
    std::string config = ss.str();
    const std::string from = "BertForSequenceClassification";
    ASSERT_NE(config.find(from), std::string::npos);
    config.replace(config.find(from), from.size(), "BertForMaskedLM");
    std::ofstream(dir / "config.json") << config;
    encore_model *m = nullptr;
    EXPECT_EQ(encore_model_load(dir.c_str(), encore_model_default_params(), &m), ENCORE_STATUS_BAD_MODEL);
    EXPECT_EQ(m, nullptr);
    EXPECT_NE(std::string(encore_last_error()).find("cls.predictions.transform.dense.weight"), std::string::npos)
        << encore_last_error();
    encore_model_free(m);
    fs::remove_all(dir);
}

}  // namespace
