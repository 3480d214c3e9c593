// test_token_check.cc: a packed batch whose token ids, token types or
// positions fall outside the model's tables is refused before any table is
// read, with ENCORE_STATUS_BAD_INPUT and a message naming the bad value. The
// CPU forward pass is driven directly, since a tokenized input never holds
// such tokens; the CUDA path runs the same check (test_cuda_e2e covers it on
// a GPU).
#include <gtest/gtest.h>

#include <string>

#include "core/model.h"
#include "core/token_check.h"
#include "cpu/forward_cpu.h"
#include "encore.h"
#include "fixtures.h"

namespace {

class TokenCheck : public ::testing::TestWithParam<const char *> {
protected:
    void SetUp() override {
        ASSERT_EQ(encore_model_load(fixtures::model_dir(GetParam()).c_str(), encore_model_default_params(), &model_),
                  ENCORE_STATUS_OK)
            << encore_last_error();
        encore_input in = {"a short text", "and its pair"};
        ASSERT_EQ(encore_model_tokenize(model_, in, 1, &enc_), ENCORE_STATUS_OK) << encore_last_error();
        ASSERT_EQ(encore_batch_append(&batch_, enc_), ENCORE_STATUS_OK);
        ASSERT_GE(batch_.T, 4);
    }
    void TearDown() override {
        encore_cpu_workspace_free(&ws_);
        encore_batch_free(&batch_);
        encore_encoding_free(enc_);
        encore_model_free(model_);
    }
    // Run the CPU forward pass; the message of a failure, "" on success.
    encore_status forward(std::string *message) {
        const float *hidden = nullptr;
        encore_status st = encore_forward_cpu(model_, &batch_, &ws_, 0, &hidden);
        *message = st == ENCORE_STATUS_OK ? "" : encore_last_error();
        return st;
    }
    const encore_config &config() const { return model_->config; }

    encore_model *model_ = nullptr;
    encore_encoding *enc_ = nullptr;
    encore_batch batch_{};
    encore_cpu_workspace ws_{};
};

TEST_P(TokenCheck, AValidBatchRuns) {
    std::string msg;
    EXPECT_EQ(forward(&msg), ENCORE_STATUS_OK) << msg;
}

TEST_P(TokenCheck, ANegativePositionIsBadInput) {
    batch_.positions[2] = -1;
    std::string msg;
    EXPECT_EQ(forward(&msg), ENCORE_STATUS_BAD_INPUT);
    EXPECT_NE(msg.find("token 2"), std::string::npos) << msg;
    EXPECT_NE(msg.find("its position -1 is not in [0, " + std::to_string(config().max_position_embeddings) + ")"),
              std::string::npos)
        << msg;
}

TEST_P(TokenCheck, APositionPastTheTableIsBadInput) {
    batch_.positions[1] = config().max_position_embeddings;
    std::string msg;
    EXPECT_EQ(forward(&msg), ENCORE_STATUS_BAD_INPUT);
    EXPECT_NE(msg.find("its position " + std::to_string(config().max_position_embeddings)), std::string::npos) << msg;
}

TEST_P(TokenCheck, IdsOutsideTheVocabularyAreBadInput) {
    for (int32_t id : {-1, config().vocab_size}) {
        batch_.ids[3] = id;
        std::string msg;
        EXPECT_EQ(forward(&msg), ENCORE_STATUS_BAD_INPUT) << id;
        EXPECT_NE(msg.find("token 3"), std::string::npos) << msg;
        EXPECT_NE(msg.find("its id " + std::to_string(id) + " is not in"), std::string::npos) << msg;
    }
}

TEST_P(TokenCheck, TokenTypesAreCheckedWhereTheModelHasThem) {
    for (int32_t type : {-1, 7}) {
        batch_.type_ids[0] = type;
        std::string msg;
        if (model_->type_emb) {
            EXPECT_EQ(forward(&msg), ENCORE_STATUS_BAD_INPUT) << type;
            EXPECT_NE(msg.find("its type " + std::to_string(type) + " is not in [0, " +
                               std::to_string(config().type_vocab_size) + ")"),
                      std::string::npos)
                << msg;
        } else {  // DistilBERT has no token type embeddings and ignores them
            EXPECT_EQ(forward(&msg), ENCORE_STATUS_OK) << msg;
        }
    }
}

TEST_P(TokenCheck, TheCheckAloneNamesTheFirstBadToken) {
    batch_.positions[1] = -5;
    batch_.ids[2] = -1;
    EXPECT_EQ(encore_model_check_tokens(model_, batch_.ids, batch_.type_ids, batch_.positions, batch_.T),
              ENCORE_STATUS_BAD_INPUT);
    EXPECT_NE(std::string(encore_last_error()).find("token 1 "), std::string::npos) << encore_last_error();
    // Only the tokens before T are read.
    EXPECT_EQ(encore_model_check_tokens(model_, batch_.ids, batch_.type_ids, batch_.positions, 1), ENCORE_STATUS_OK);
}

INSTANTIATE_TEST_SUITE_P(Fixtures, TokenCheck, ::testing::Values("tiny-bert-sst", "tiny-distilbert-sst"),
                         [](const ::testing::TestParamInfo<const char *> &p) {
                             std::string s = p.param;
                             for (char &c : s)
                                 if (c == '-') c = '_';
                             return s;
                         });

}  // namespace
