// test_first_only.cc: the first-only forward pass. Classification heads and
// CLS pooling read each sequence's first token alone, so the CPU path runs
// the last layer's products on those rows only (encore_forward_cpu with
// first_only). Each row of a product depends on that row alone, so the rows
// it keeps must be the same bits as the full pass gives them: checked here on
// every weight storage, on one and two threads, for a batch of sequences of
// different lengths, through the forward pass and through the session calls
// that take the shortcut (logits, classify's head, CLS embeddings).
#include <gtest/gtest.h>
#include <omp.h>

#include <cstring>
#include <string>
#include <tuple>
#include <vector>

#include "core/model.h"
#include "cpu/forward_cpu.h"
#include "encore.h"
#include "fixtures.h"

namespace {

const char *const kTexts[][2] = {
    {"a short one", nullptr},
    {"the second text of the batch is longer than the first by a good many words", nullptr},
    {"ok", nullptr},
    {"a text with a pair", "and the pair it comes with"},
    {"unflinchingly bleak and desperate", nullptr},
};

std::string weights_name(encore_weights w) {
    switch (w) {
    case ENCORE_WEIGHTS_FP32: return "fp32";
    case ENCORE_WEIGHTS_BF16: return "bf16";
    case ENCORE_WEIGHTS_INT8: return "int8";
    default: return "int8_dynamic";
    }
}

class FirstOnly : public ::testing::TestWithParam<std::tuple<const char *, encore_weights>> {
protected:
    void SetUp() override {
        encore_model_params mp = encore_model_default_params();
        mp.weights = std::get<1>(GetParam());
        const std::string dir = fixtures::model_dir(std::get<0>(GetParam()));
        ASSERT_EQ(encore_model_load(dir.c_str(), mp, &model_), ENCORE_STATUS_OK) << encore_last_error();
        encore_batch_use_model(&batch_, model_);
        for (const auto &t : kTexts) {
            encore_encoding *enc = nullptr;
            encore_input in = {t[0], t[1]};
            ASSERT_EQ(encore_model_tokenize(model_, in, 1, &enc), ENCORE_STATUS_OK) << encore_last_error();
            encs_.push_back(enc);
            ASSERT_EQ(encore_batch_append(&batch_, enc), ENCORE_STATUS_OK);
        }
        ASSERT_EQ(batch_.B, (int)encs_.size());
        ASSERT_GT(batch_.T, 2 * batch_.B);  // rows that the first-only pass leaves out
        C_ = encore_model_hidden_size(model_);
    }
    void TearDown() override {
        encore_cpu_workspace_free(&ws_);
        encore_batch_free(&batch_);
        for (encore_encoding *e : encs_) encore_encoding_free(e);
        encore_model_free(model_);
    }
    // Each sequence's first row of the last hidden state, from a pass with
    // or without first_only, on n threads.
    std::vector<float> first_rows(int first_only, int threads) {
        omp_set_num_threads(threads);
        const float *hidden = nullptr;
        EXPECT_EQ(encore_forward_cpu(model_, &batch_, &ws_, first_only, &hidden), ENCORE_STATUS_OK)
            << encore_last_error();
        std::vector<float> rows((size_t)batch_.B * C_);
        if (!hidden) return rows;
        for (int s = 0; s < batch_.B; s++)
            std::memcpy(&rows[(size_t)s * C_], hidden + (size_t)batch_.seq_start[s] * C_, (size_t)C_ * sizeof(float));
        return rows;
    }

    encore_model *model_ = nullptr;
    std::vector<encore_encoding *> encs_;
    encore_batch batch_{};
    encore_cpu_workspace ws_{};
    int C_ = 0;
};

TEST_P(FirstOnly, KeepsTheFullPassBitsOfEachFirstRow) {
    for (int threads : {1, 2}) {
        const std::vector<float> full = first_rows(0, threads);
        const std::vector<float> first = first_rows(1, threads);
        ASSERT_EQ(full.size(), first.size());
        for (size_t i = 0; i < full.size(); i++)
            ASSERT_EQ(std::memcmp(&full[i], &first[i], sizeof(float)), 0)
                << "sequence " << i / C_ << ", feature " << i % C_ << ", " << threads << " threads: full pass "
                << full[i] << ", first-only " << first[i];
        // And a full pass after a first-only one in the same workspace is
        // whole again.
        EXPECT_EQ(first_rows(0, threads), full);
    }
    omp_set_num_threads(omp_get_num_procs());
}

TEST_P(FirstOnly, SessionCallsMatchTheFullHiddenStates) {
    encore_session_params sp = encore_session_default_params();
    sp.n_threads = 2;
    encore_session *s = nullptr;
    ASSERT_EQ(encore_session_create(model_, sp, &s), ENCORE_STATUS_OK) << encore_last_error();
    const int B = batch_.B;
    std::vector<float> hidden((size_t)batch_.T * C_);
    ASSERT_EQ(encore_session_hidden_states_encoded(s, encs_.data(), B, hidden.data()), ENCORE_STATUS_OK)
        << encore_session_last_error(s);
    // CLS embeddings: the first rows of the hidden states, bit for bit.
    std::vector<float> cls((size_t)B * C_);
    ASSERT_EQ(encore_session_embed_encoded(s, encs_.data(), B, ENCORE_POOLING_CLS, 0, cls.data()), ENCORE_STATUS_OK)
        << encore_session_last_error(s);
    for (int i = 0; i < B; i++)
        EXPECT_EQ(std::memcmp(&cls[(size_t)i * C_], &hidden[(size_t)batch_.seq_start[i] * C_],
                              (size_t)C_ * sizeof(float)),
                  0)
            << "CLS embedding of input " << i;
    if (model_->config.has_head) {
        // Logits: the head on the full hidden states.
        const int L = model_->config.n_labels;
        std::vector<float> want((size_t)B * L), got((size_t)B * L), scratch(2 * (size_t)C_);
        encore_head_cpu(model_, &batch_, hidden.data(), scratch.data(), want.data());
        ASSERT_EQ(encore_session_logits_encoded(s, encs_.data(), B, got.data()), ENCORE_STATUS_OK)
            << encore_session_last_error(s);
        for (size_t i = 0; i < want.size(); i++)
            EXPECT_EQ(std::memcmp(&want[i], &got[i], sizeof(float)), 0)
                << "logit " << i << ": head on the full pass " << want[i] << ", session " << got[i];
    }
    encore_session_free(s);
}

INSTANTIATE_TEST_SUITE_P(
    Fixtures, FirstOnly,
    ::testing::Combine(::testing::Values("tiny-bert-sst", "tiny-distilbert-sst", "tiny-bert-nli", "lora-distilbert-cls",
                                         "tiny-bert-embed", "tiny-distilbert-embed", "tiny-roberta-sst",
                                         "tiny-roberta-embed", "tiny-xlmr-sst", "tiny-xlmr-embed", "tiny-mpnet-sst",
                                         "tiny-mpnet-embed", "tiny-electra-sst", "tiny-electra-embed",
                                         "tiny-deberta-sst", "tiny-deberta-embed", "tiny-deberta-v2-sst"),
                       ::testing::Values(ENCORE_WEIGHTS_FP32, ENCORE_WEIGHTS_BF16, ENCORE_WEIGHTS_INT8,
                                         ENCORE_WEIGHTS_INT8_DYNAMIC)),
    [](const ::testing::TestParamInfo<FirstOnly::ParamType> &p) {
        std::string name = std::get<0>(p.param);
        for (char &ch : name)
            if (ch == '-') ch = '_';
        return name + "_" + weights_name(std::get<1>(p.param));
    });

}  // namespace
