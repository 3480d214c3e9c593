// test_token_heads.cc: encore_session_token_logits_encoded, the per-token
// heads of BertForTokenClassification / DistilBertForTokenClassification
// (`classifier`) and BertForQuestionAnswering /
// DistilBertForQuestionAnswering (`qa_outputs`), against the logits
// transformers computes on the tiny fixtures (models/make_fixtures.py,
// reference_token_head). Built twice: on the CPU (test_token_heads) and,
// with ENCORE_HAVE_CUDA, on a CUDA session in fp32 (test_cuda_token_heads,
// label cuda, which runs under the CUDA emulation too).
#include <gtest/gtest.h>

#include <unistd.h>

#include <cmath>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <string>
#include <vector>

#include "fixtures.h"
#include "pipeline_session.h"
#include "encore.h"

namespace {

// fp32 logits, as the brief holds every output: within 1e-4 of transformers'.
constexpr double kLogitTol = 1e-4;

using pipeline_session::Loaded;

void open(const std::string &dir, Loaded *l, int max_batch_tokens = 0) {
    pipeline_session::Options o;
    o.max_batch_tokens = max_batch_tokens;
    pipeline_session::open_dir(dir, l, o);
}


struct Case {
    std::string name;
    encore_encoding *enc = nullptr;
    std::vector<double> want;  // (n_tokens, outputs), row-major
};

struct Cases {
    std::vector<Case> list;
    ~Cases() {
        for (auto &c : list) encore_encoding_free(c.enc);
    }
    std::vector<const encore_encoding *> encodings() const {
        std::vector<const encore_encoding *> v;
        for (auto &c : list) v.push_back(c.enc);
        return v;
    }
    size_t tokens() const {
        size_t n = 0;
        for (auto &c : list) n += (size_t)c.enc->n_tokens;
        return n;
    }
};

// The reference's fitting cases, tokenized by encore (ids checked against
// the reference's), with the logits transformers gave them.
void read_cases(const cJSON *root, const encore_model *m, int outputs, Cases *out) {
    const cJSON *cases = fixtures::get(root, "cases");
    ASSERT_TRUE(cJSON_IsArray(cases)) << "the reference has no cases";
    const cJSON *c;
    cJSON_ArrayForEach(c, cases) {
        if (cJSON_IsTrue(fixtures::get(c, "too_long")) || fixtures::has_nul(c)) continue;
        Case k;
        k.name = fixtures::str(c, "name");
        encore_tokenize_params tp = encore_tokenize_default_params();
        tp.task = ENCORE_TASK_CLASSIFY;
        tp.truncate = cJSON_IsTrue(fixtures::get(c, "truncation"));
        ASSERT_EQ(encore_model_tokenize_with(m, fixtures::input(c), tp, &k.enc), ENCORE_STATUS_OK)
            << k.name << ": " << encore_last_error();
        std::vector<double> ids = fixtures::numbers(c, "ids");
        ASSERT_EQ((size_t)k.enc->n_tokens, ids.size()) << k.name;
        for (int t = 0; t < k.enc->n_tokens; t++) ASSERT_EQ(k.enc->ids[t], (int32_t)ids[t]) << k.name << " token " << t;
        const cJSON *rows = fixtures::get(c, "token_logits");
        ASSERT_TRUE(cJSON_IsArray(rows)) << k.name << ": no token_logits in the reference";
        ASSERT_EQ(cJSON_GetArraySize(rows), k.enc->n_tokens) << k.name;
        const cJSON *row;
        cJSON_ArrayForEach(row, rows) {
            std::vector<double> v = fixtures::numbers(row);
            ASSERT_EQ((int)v.size(), outputs) << k.name;
            k.want.insert(k.want.end(), v.begin(), v.end());
        }
        out->list.push_back(k);
        k.enc = nullptr;  // owned by the list now
    }
    ASSERT_GE(out->list.size(), 10u) << "too few cases in the reference";
}

// NaN-aware: a NaN on either side must be a NaN on both.
void expect_logits(const float *got, const Case &c, int outputs, const std::string &how) {
    for (size_t i = 0; i < c.want.size(); i++) {
        const double w = c.want[i], g = got[i];
        const std::string where = c.name + " (" + how + ") token " + std::to_string(i / outputs) + " output " +
                                  std::to_string(i % outputs);
        if (std::isnan(w) || std::isnan(g)) {
            EXPECT_TRUE(std::isnan(w) && std::isnan(g)) << where << ": " << g << " vs " << w;
            continue;
        }
        EXPECT_NEAR(g, w, kLogitTol) << where;
    }
}

struct HeadCase {
    const char *model;
    encore_architecture arch;
    encore_token_head head;
};

class TokenHeads : public ::testing::TestWithParam<HeadCase> {};

// Every fitting case in one call, one at a time, and in chunks of a few
// tokens: the same logits, within tolerance of transformers'.
TEST_P(TokenHeads, MatchTransformers) {
    NEED_DEVICE();
    const HeadCase &hc = GetParam();
    auto ref = fixtures::load(hc.model);
    ASSERT_TRUE(ref && ref->root) << "no reference for " << hc.model;
    Loaded l;
    ASSERT_NO_FATAL_FAILURE(open(fixtures::model_dir(hc.model), &l));
    EXPECT_EQ(encore_model_architecture(l.model), hc.arch);
    EXPECT_EQ(encore_model_token_head(l.model), hc.head);
    EXPECT_EQ(encore_model_n_labels(l.model), 0) << "no sequence-classification head";

    const cJSON *labels = fixtures::get(ref->root, "labels");
    int outputs = 2;
    if (hc.head == ENCORE_TOKEN_HEAD_CLASSIFY) {
        ASSERT_TRUE(cJSON_IsArray(labels));
        outputs = cJSON_GetArraySize(labels);
        for (int i = 0; i < outputs; i++)
            EXPECT_STREQ(encore_model_token_label(l.model, i), cJSON_GetArrayItem(labels, i)->valuestring);
        EXPECT_EQ(encore_model_token_label(l.model, outputs), nullptr);
        EXPECT_EQ(encore_model_token_label(l.model, -1), nullptr);
    } else {
        EXPECT_EQ(encore_model_token_label(l.model, 0), nullptr);
    }
    ASSERT_EQ(encore_model_n_token_outputs(l.model), outputs);

    Cases cases;
    ASSERT_NO_FATAL_FAILURE(read_cases(ref->root, l.model, outputs, &cases));
    std::vector<const encore_encoding *> encs = cases.encodings();
    std::vector<float> all(cases.tokens() * outputs, NAN);
    ASSERT_EQ(encore_session_token_logits_encoded(l.session, encs.data(), (int)encs.size(), all.data()),
              ENCORE_STATUS_OK)
        << encore_session_last_error(l.session);
    size_t at = 0;
    for (const Case &c : cases.list) {
        expect_logits(all.data() + at, c, outputs, "batched");
        std::vector<float> one((size_t)c.enc->n_tokens * outputs, NAN);
        ASSERT_EQ(encore_session_token_logits_encoded(l.session, &c.enc, 1, one.data()), ENCORE_STATUS_OK);
        expect_logits(one.data(), c, outputs, "alone");
#ifndef ENCORE_HAVE_CUDA
        // On the CPU a text's result does not depend on its batch, bit for bit.
        for (size_t i = 0; i < one.size(); i++) ASSERT_EQ(one[i], all[at + i]) << c.name << " value " << i;
#endif
        at += one.size();
    }

    // Chunks of at most 40 tokens (one input alone when longer): the same.
    Loaded small;
    ASSERT_NO_FATAL_FAILURE(open(fixtures::model_dir(hc.model), &small, 40));
    std::vector<float> chunked(all.size(), NAN);
    ASSERT_EQ(encore_session_token_logits_encoded(small.session, encs.data(), (int)encs.size(), chunked.data()),
              ENCORE_STATUS_OK)
        << encore_session_last_error(small.session);
    at = 0;
    for (const Case &c : cases.list) {
        expect_logits(chunked.data() + at, c, outputs, "chunked");
        at += c.want.size();
    }
}

INSTANTIATE_TEST_SUITE_P(
    Fixtures, TokenHeads,
    ::testing::Values(
        HeadCase{"tiny-bert-ner", ENCORE_ARCHITECTURE_BERT_TOKEN_CLASSIFICATION, ENCORE_TOKEN_HEAD_CLASSIFY},
        HeadCase{"tiny-distilbert-ner", ENCORE_ARCHITECTURE_DISTILBERT_TOKEN_CLASSIFICATION,
                 ENCORE_TOKEN_HEAD_CLASSIFY},
        HeadCase{"tiny-roberta-ner", ENCORE_ARCHITECTURE_ROBERTA_TOKEN_CLASSIFICATION, ENCORE_TOKEN_HEAD_CLASSIFY},
        HeadCase{"tiny-xlmr-ner", ENCORE_ARCHITECTURE_ROBERTA_TOKEN_CLASSIFICATION, ENCORE_TOKEN_HEAD_CLASSIFY},
        HeadCase{"tiny-mpnet-ner", ENCORE_ARCHITECTURE_MPNET_TOKEN_CLASSIFICATION, ENCORE_TOKEN_HEAD_CLASSIFY},
        HeadCase{"tiny-mpnet-qa", ENCORE_ARCHITECTURE_MPNET_QUESTION_ANSWERING, ENCORE_TOKEN_HEAD_SPAN},
        HeadCase{"tiny-electra-ner", ENCORE_ARCHITECTURE_ELECTRA_TOKEN_CLASSIFICATION, ENCORE_TOKEN_HEAD_CLASSIFY},
        HeadCase{"tiny-electra-qa", ENCORE_ARCHITECTURE_ELECTRA_QUESTION_ANSWERING, ENCORE_TOKEN_HEAD_SPAN},
        HeadCase{"tiny-bert-qa", ENCORE_ARCHITECTURE_BERT_QUESTION_ANSWERING, ENCORE_TOKEN_HEAD_SPAN},
        HeadCase{"tiny-distilbert-qa", ENCORE_ARCHITECTURE_DISTILBERT_QUESTION_ANSWERING, ENCORE_TOKEN_HEAD_SPAN}
#ifndef ENCORE_HAVE_CUDA
        // (on the device, RoBERTa's network is the NER fixtures' above)
        ,
        HeadCase{"tiny-roberta-qa", ENCORE_ARCHITECTURE_ROBERTA_QUESTION_ANSWERING, ENCORE_TOKEN_HEAD_SPAN},
        HeadCase{"tiny-xlmr-qa", ENCORE_ARCHITECTURE_ROBERTA_QUESTION_ANSWERING, ENCORE_TOKEN_HEAD_SPAN}
#endif
        ,
        HeadCase{"tiny-deberta-ner", ENCORE_ARCHITECTURE_DEBERTA_V2_TOKEN_CLASSIFICATION, ENCORE_TOKEN_HEAD_CLASSIFY},
        HeadCase{"tiny-deberta-qa", ENCORE_ARCHITECTURE_DEBERTA_V2_QUESTION_ANSWERING, ENCORE_TOKEN_HEAD_SPAN}),
    [](const ::testing::TestParamInfo<HeadCase> &param) {
        std::string s = param.param.model;
        for (char &ch : s)
            if (ch == '-') ch = '_';
        return s;
    });

// A model without a per-token head refuses with a status, and a token
// model refuses the sequence calls; bad arguments are refused too.
TEST(TokenHeadErrors, WrongHeadAndBadArguments) {
    NEED_DEVICE();
    Loaded seq, tok;
    ASSERT_NO_FATAL_FAILURE(open(fixtures::model_dir("tiny-bert-sst"), &seq));
    ASSERT_NO_FATAL_FAILURE(open(fixtures::model_dir("tiny-bert-ner"), &tok));
    EXPECT_EQ(encore_model_token_head(seq.model), ENCORE_TOKEN_HEAD_NONE);
    EXPECT_EQ(encore_model_n_token_outputs(seq.model), 0);
    EXPECT_EQ(encore_model_token_label(seq.model, 0), nullptr);

    encore_input in = {"Paris is lovely in spring.", nullptr};
    encore_encoding *enc = nullptr;
    ASSERT_EQ(encore_model_tokenize(seq.model, in, 1, &enc), ENCORE_STATUS_OK);
    float out[4096];
    const encore_encoding *one[1] = {enc};
    EXPECT_EQ(encore_session_token_logits_encoded(seq.session, one, 1, out), ENCORE_STATUS_UNSUPPORTED);
    EXPECT_NE(std::string(encore_session_last_error(seq.session)).find("per-token head"), std::string::npos)
        << encore_session_last_error(seq.session);
    encore_encoding_free(enc);

    float scores[16];
    EXPECT_EQ(encore_session_classify(tok.session, &in, 1, scores), ENCORE_STATUS_UNSUPPORTED);
    EXPECT_EQ(encore_session_token_logits_encoded(tok.session, nullptr, 1, out), ENCORE_STATUS_INVALID_ARGUMENT);
    const encore_encoding *none[1] = {nullptr};
    EXPECT_EQ(encore_session_token_logits_encoded(tok.session, none, 1, out), ENCORE_STATUS_INVALID_ARGUMENT);
    EXPECT_EQ(encore_session_token_logits_encoded(nullptr, none, 1, out), ENCORE_STATUS_INVALID_ARGUMENT);
    EXPECT_EQ(encore_session_token_logits_encoded(tok.session, none, 0, out), ENCORE_STATUS_OK);
}

// A token classifier whose config names more labels than its classifier
// holds is a bad model, named as such, not a crash or a silent misread.
TEST(TokenHeadErrors, LabelsThatDoNotMatchTheHead) {
    namespace fs = std::filesystem;
    char tmpl[] = "/tmp/encore-token-head-XXXXXX";
    ASSERT_NE(mkdtemp(tmpl), nullptr);
    const fs::path dir = tmpl;
    fs::copy(fixtures::model_dir("tiny-bert-ner"), dir, fs::copy_options::recursive | fs::copy_options::overwrite_existing);
    std::ifstream in(dir / "config.json");
    std::stringstream ss;
    ss << in.rdbuf();
    in.close();
    cJSON *cfg = cJSON_Parse(ss.str().c_str());
    ASSERT_NE(cfg, nullptr);
    cJSON *id2label = cJSON_GetObjectItemCaseSensitive(cfg, "id2label");
    ASSERT_TRUE(cJSON_IsObject(id2label));
    cJSON_AddStringToObject(id2label, std::to_string(cJSON_GetArraySize(id2label)).c_str(), "B-EXTRA");
    cJSON_DeleteItemFromObjectCaseSensitive(cfg, "label2id");
    char *text = cJSON_Print(cfg);
    std::ofstream(dir / "config.json") << text;
    cJSON_free(text);
    cJSON_Delete(cfg);

    encore_model *m = nullptr;
    EXPECT_EQ(encore_model_load(dir.c_str(), encore_model_default_params(), &m), ENCORE_STATUS_BAD_MODEL);
    EXPECT_EQ(m, nullptr);
    EXPECT_NE(std::string(encore_last_error()).find("classifier.weight"), std::string::npos) << encore_last_error();
    encore_model_free(m);
    fs::remove_all(dir);
}

}  // namespace
