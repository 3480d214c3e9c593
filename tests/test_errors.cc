// test_errors.cc: every way a model directory or an input can be bad gives a
// status and a message that names the problem; nothing crashes.
#include <gtest/gtest.h>

#include <cstring>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <map>
#include <string>
#include <vector>

#include "fixtures.h"
#include "core/safetensors.h"

namespace fs = std::filesystem;

namespace {

// A scratch copy of a fixture model directory that a test may break.
class ScratchModel {
public:
    explicit ScratchModel(const std::string &name) {
        path_ = fs::temp_directory_path() / ("encore-test-" + name + "-" + std::to_string(::getpid()) + "-" +
                                             std::to_string(counter_++));
        fs::remove_all(path_);
        fs::copy(fixtures::model_dir(name), path_, fs::copy_options::recursive);
    }
    ~ScratchModel() { fs::remove_all(path_); }
    std::string path() const { return path_.string(); }
    std::string file(const std::string &f) const { return (path_ / f).string(); }

    std::string read(const std::string &f) const {
        std::ifstream in(file(f), std::ios::binary);
        return std::string(std::istreambuf_iterator<char>(in), {});
    }
    void write(const std::string &f, const std::string &data) const {
        std::ofstream out(file(f), std::ios::binary | std::ios::trunc);
        out << data;
    }
    // Replace the first occurrence of `from` in file f.
    void edit(const std::string &f, const std::string &from, const std::string &to) const {
        std::string s = read(f);
        size_t at = s.find(from);
        ASSERT_NE(at, std::string::npos) << from << " not in " << f;
        s.replace(at, from.size(), to);
        write(f, s);
    }

private:
    fs::path path_;
    static inline int counter_ = 0;
};

// Load and expect failure with `status` and a message holding each of `parts`.
void expect_load_error(const std::string &dir, encore_status status, std::vector<std::string> parts) {
    encore_model *m = reinterpret_cast<encore_model *>(0x1);
    EXPECT_EQ(encore_model_load(dir.c_str(), encore_model_default_params(), &m), status) << encore_last_error();
    EXPECT_EQ(m, nullptr);
    std::string msg = encore_last_error();
    for (const auto &p : parts) EXPECT_NE(msg.find(p), std::string::npos) << "'" << p << "' not in: " << msg;
}

// Rewrite model.safetensors through our own reader, letting `change` drop or
// reshape tensors (return false to drop).
struct Tensor { std::string dtype; std::vector<int64_t> shape; std::string bytes; };
void rewrite_weights(const ScratchModel &s, const std::function<bool(const std::string &, Tensor &)> &change) {
    encore_safetensors *st = nullptr;
    ASSERT_EQ(encore_safetensors_open(s.file("model.safetensors").c_str(), &st), ENCORE_STATUS_OK);
    std::map<std::string, Tensor> tensors;
    std::ifstream in(s.file("model.safetensors"), std::ios::binary);
    const std::string file((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
    for (int i = 0; i < st->n_tensors; i++) {
        const encore_tensor_info &t = st->tensors[i];
        Tensor x{t.dtype_name, std::vector<int64_t>(t.shape, t.shape + t.n_dims),
                 file.substr(st->data_start + t.begin, t.n_bytes)};
        if (change(t.name, x)) tensors[t.name] = x;
    }
    encore_safetensors_close(st);
    std::string header = "{", data;
    for (auto &[name, t] : tensors) {
        if (header.size() > 1) header += ",";
        header += "\"" + name + "\":{\"dtype\":\"" + t.dtype + "\",\"shape\":[";
        for (size_t i = 0; i < t.shape.size(); i++) header += (i ? "," : "") + std::to_string(t.shape[i]);
        header += "],\"data_offsets\":[" + std::to_string(data.size()) + "," +
                  std::to_string(data.size() + t.bytes.size()) + "]}";
        data += t.bytes;
    }
    header += "}";
    std::string out(8, '\0');
    uint64_t n = header.size();
    for (int i = 0; i < 8; i++) out[i] = (char)((n >> (8 * i)) & 0xff);
    s.write("model.safetensors", out + header + data);
}

TEST(LoadErrors, MissingDirectory) {
    expect_load_error("/nonexistent/encore-model", ENCORE_STATUS_IO_ERROR, {"/nonexistent/encore-model", "does not exist"});
}

TEST(LoadErrors, MissingConfig) {
    ScratchModel s("tiny-bert-sst");
    fs::remove(s.file("config.json"));
    expect_load_error(s.path(), ENCORE_STATUS_IO_ERROR, {"config.json"});
}

TEST(LoadErrors, MalformedConfig) {
    ScratchModel s("tiny-bert-sst");
    s.write("config.json", "{\"architectures\": [\"BertModel\"");
    expect_load_error(s.path(), ENCORE_STATUS_BAD_MODEL, {"config.json", "not a JSON object"});
}

TEST(LoadErrors, UnknownArchitectureIsNamed) {
    ScratchModel s("tiny-bert-sst");
    s.edit("config.json", "BertForSequenceClassification", "ModernBertForSequenceClassification");
    expect_load_error(s.path(), ENCORE_STATUS_UNSUPPORTED, {"ModernBertForSequenceClassification", "not supported"});
}

// RoBERTa's heads that encore does not run are refused by name, and so is a
// PEFT adapter on a RoBERTa model.
TEST(LoadErrors, RobertaTokenHeadsAreNamed) {
    for (const char *arch : {"RobertaForCausalLM", "RobertaForMultipleChoice"}) {
        ScratchModel s("tiny-roberta-sst");
        s.edit("config.json", "RobertaForSequenceClassification", arch);
        expect_load_error(s.path(), ENCORE_STATUS_UNSUPPORTED, {arch, "not supported"});
    }
}

// MPNet: its other heads are named; its bias table must hold the 32
// buckets transformers reads; a checkpoint without the table, or a
// tokenizer without tokenizer.json, is refused by name.
TEST(LoadErrors, MpnetProblemsAreNamed) {
    {
        ScratchModel s("tiny-mpnet-sst");
        s.edit("config.json", "MPNetForSequenceClassification", "MPNetForMultipleChoice");
        expect_load_error(s.path(), ENCORE_STATUS_UNSUPPORTED, {"MPNetForMultipleChoice", "not supported"});
    }
    {
        ScratchModel s("tiny-mpnet-sst");
        s.edit("config.json", "\"relative_attention_num_buckets\": 32", "\"relative_attention_num_buckets\": 16");
        expect_load_error(s.path(), ENCORE_STATUS_BAD_MODEL, {"relative_attention_num_buckets", "16"});
    }
    {
        ScratchModel s("tiny-mpnet-sst");
        s.edit("config.json", "\"relative_attention_num_buckets\": 32", "\"relative_attention_num_buckets\": 40");
        expect_load_error(s.path(), ENCORE_STATUS_BAD_MODEL, {"relative_attention_bias"});
    }
    {
        ScratchModel s("tiny-mpnet-embed");
        fs::remove(s.file("tokenizer.json"));
        expect_load_error(s.path(), ENCORE_STATUS_UNSUPPORTED, {"MPNetTokenizer", "tokenizer.json"});
    }
}

// ELECTRA: the generator and pre-training heads are named; embeddings wider
// than three hidden sizes (the projection's room) are refused.
TEST(LoadErrors, ElectraProblemsAreNamed) {
    for (const char *arch : {"ElectraForMaskedLM", "ElectraForPreTraining", "ElectraForMultipleChoice"}) {
        ScratchModel s("tiny-electra-sst");
        s.edit("config.json", "ElectraForSequenceClassification", arch);
        expect_load_error(s.path(), ENCORE_STATUS_UNSUPPORTED, {arch, "not supported"});
    }
    ScratchModel s("tiny-electra-sst");
    s.edit("config.json", "\"embedding_size\": 16", "\"embedding_size\": 97");
    expect_load_error(s.path(), ENCORE_STATUS_BAD_MODEL, {"embedding_size", "97"});
}

// DeBERTa's settings encore does not run are refused by name, and so are its
// masked-LM head and a tokenizer that lowercases or splits punctuation.
TEST(LoadErrors, DebertaProblemsAreNamed) {
    {
        ScratchModel s("tiny-deberta-sst");
        s.edit("config.json", "\"share_att_key\": true", "\"share_att_key\": false");
        expect_load_error(s.path(), ENCORE_STATUS_UNSUPPORTED, {"share_att_key", "not supported"});
    }
    {
        ScratchModel s("tiny-deberta-sst");
        s.edit("config.json", "\"c2p\"", "\"p2p\"");
        expect_load_error(s.path(), ENCORE_STATUS_UNSUPPORTED, {"pos_att_type", "p2p"});
    }
    {
        ScratchModel s("tiny-deberta-sst");
        s.edit("config.json", "\"position_buckets\": 16", "\"conv_kernel_size\": 3, \"position_buckets\": 16");
        expect_load_error(s.path(), ENCORE_STATUS_UNSUPPORTED, {"conv_kernel_size", "not supported"});
    }
    {
        ScratchModel s("tiny-deberta-sst");
        s.edit("config.json", "\"position_buckets\": 16", "\"position_buckets\": 200");
        expect_load_error(s.path(), ENCORE_STATUS_BAD_MODEL, {"max_relative_positions", "position_buckets"});
    }
    {
        ScratchModel s("tiny-deberta-sst");
        s.edit("config.json", "DebertaV2ForSequenceClassification", "DebertaV2ForMaskedLM");
        expect_load_error(s.path(), ENCORE_STATUS_UNSUPPORTED, {"DebertaV2ForMaskedLM", "not supported"});
    }
    {
        ScratchModel s("tiny-deberta-sst");
        s.edit("tokenizer_config.json", "\"do_lower_case\": false", "\"do_lower_case\": true");
        expect_load_error(s.path(), ENCORE_STATUS_UNSUPPORTED, {"DebertaV2Tokenizer", "do_lower_case"});
    }
    {
        /* the relative embeddings: (2 position_buckets, hidden) */
        ScratchModel s("tiny-deberta-sst");
        s.edit("config.json", "\"position_buckets\": 16", "\"position_buckets\": 12");
        expect_load_error(s.path(), ENCORE_STATUS_BAD_MODEL, {"rel_embeddings"});
    }
}

// DebertaV2Config also takes pos_att_type as a string ("c2p|p2c", any case,
// as the original checkpoints write it): the same model as the list.
TEST(LoadErrors, DebertaPosAttTypeAsAStringIsTheList) {
    ScratchModel s("tiny-deberta-v2-sst");
    s.edit("config.json", "\"pos_att_type\": [\n    \"c2p\"\n  ]", "\"pos_att_type\": \" C2P |\"");
    encore_model *list = nullptr, *str = nullptr;
    ASSERT_EQ(encore_model_load(fixtures::model_dir("tiny-deberta-v2-sst").c_str(), encore_model_default_params(),
                                &list),
              ENCORE_STATUS_OK)
        << encore_last_error();
    ASSERT_EQ(encore_model_load(s.path().c_str(), encore_model_default_params(), &str), ENCORE_STATUS_OK)
        << encore_last_error();
    encore_session *a = nullptr, *b = nullptr;
    ASSERT_EQ(encore_session_create(list, encore_session_default_params(), &a), ENCORE_STATUS_OK);
    ASSERT_EQ(encore_session_create(str, encore_session_default_params(), &b), ENCORE_STATUS_OK);
    encore_input in = {"a text long enough for its distances to reach the clamp of twenty four relative "
                       "positions, and then some more words beyond it",
                       nullptr};
    float la[2], lb[2];
    ASSERT_EQ(encore_session_logits(a, &in, 1, la), ENCORE_STATUS_OK);
    ASSERT_EQ(encore_session_logits(b, &in, 1, lb), ENCORE_STATUS_OK);
    EXPECT_EQ(std::memcmp(la, lb, sizeof la), 0);
    encore_session_free(a);
    encore_session_free(b);
    encore_model_free(list);
    encore_model_free(str);
}

TEST(LoadErrors, UnsupportedActivationIsNamed) {
    ScratchModel s("tiny-bert-sst");
    s.edit("config.json", "\"hidden_act\": \"gelu\"", "\"hidden_act\": \"mish\"");
    expect_load_error(s.path(), ENCORE_STATUS_UNSUPPORTED, {"hidden_act", "mish"});
}

TEST(LoadErrors, ConfigKeyMissing) {
    ScratchModel s("tiny-distilbert-sst");
    s.edit("config.json", "\"n_heads\"", "\"n_heads_renamed\"");
    expect_load_error(s.path(), ENCORE_STATUS_BAD_MODEL, {"n_heads", "missing"});
}

TEST(LoadErrors, MissingWeightsFile) {
    ScratchModel s("tiny-bert-sst");
    fs::remove(s.file("model.safetensors"));
    expect_load_error(s.path(), ENCORE_STATUS_IO_ERROR, {"model.safetensors", "missing"});
}

TEST(LoadErrors, MissingTensorIsNamed) {
    ScratchModel s("tiny-bert-sst");
    rewrite_weights(s, [](const std::string &name, Tensor &) {
        return name != "bert.encoder.layer.1.attention.self.key.weight";
    });
    expect_load_error(s.path(), ENCORE_STATUS_BAD_MODEL, {"bert.encoder.layer.1.attention.self.key.weight", "missing"});
}

TEST(LoadErrors, WrongShapeIsNamed) {
    ScratchModel s("tiny-bert-sst");
    s.edit("config.json", "\"intermediate_size\": 37", "\"intermediate_size\": 38");
    expect_load_error(s.path(), ENCORE_STATUS_BAD_MODEL,
                      {"bert.encoder.layer.0.intermediate.dense.weight", "[37, 32]", "[38, 32]"});
}

TEST(LoadErrors, UnsupportedDtypeIsNamed) {
    ScratchModel s("tiny-bert-sst");
    rewrite_weights(s, [](const std::string &name, Tensor &t) {
        if (name == "classifier.bias") t.dtype = "I32";  // same byte size as F32
        return true;
    });
    expect_load_error(s.path(), ENCORE_STATUS_UNSUPPORTED, {"classifier.bias", "I32"});
}

TEST(LoadErrors, LabelCountDisagreesWithClassifier) {
    ScratchModel s("tiny-bert-sst");
    s.edit("config.json", "\"1\": \"POSITIVE\"", "\"1\": \"POSITIVE\", \"2\": \"NEUTRAL\"");
    expect_load_error(s.path(), ENCORE_STATUS_BAD_MODEL, {"classifier.weight", "[2, 32]", "[3, 32]"});
}

struct BadFile { const char *name; std::string bytes; const char *expect; };

TEST(SafetensorsErrors, MalformedFilesAreRejected) {
    auto header = [](const std::string &json, size_t data_bytes) {
        std::string out(8, '\0');
        for (int i = 0; i < 8; i++) out[i] = (char)((json.size() >> (8 * i)) & 0xff);
        return out + json + std::string(data_bytes, '\0');
    };
    std::string huge(8, '\0');
    huge[7] = 0x7f;
    const BadFile cases[] = {
        {"short", "abc", "shorter than its 8-byte header"},
        {"huge header length", huge + "{}", "header length"},
        {"not json", header("not json at all", 0), "not a JSON object"},
        {"offsets outside", header("{\"a\":{\"dtype\":\"F32\",\"shape\":[4],\"data_offsets\":[0,16]}}", 8),
         "fall outside"},
        {"size mismatch", header("{\"a\":{\"dtype\":\"F32\",\"shape\":[3],\"data_offsets\":[0,16]}}", 16),
         "need 12"},
        {"bad dtype", header("{\"a\":{\"dtype\":\"F99\",\"shape\":[4],\"data_offsets\":[0,16]}}", 16),
         "unknown dtype 'F99'"},
        {"negative dim", header("{\"a\":{\"dtype\":\"F32\",\"shape\":[-4],\"data_offsets\":[0,16]}}", 16),
         "bad shape"},
        {"no offsets", header("{\"a\":{\"dtype\":\"F32\",\"shape\":[4]}}", 16), "data_offsets"},
    };
    fs::path p = fs::temp_directory_path() / ("encore-st-" + std::to_string(::getpid()) + ".safetensors");
    for (const BadFile &c : cases) {
        {
            std::ofstream out(p, std::ios::binary | std::ios::trunc);
            out << c.bytes;
        }
        encore_safetensors *st = nullptr;
        EXPECT_EQ(encore_safetensors_open(p.c_str(), &st), ENCORE_STATUS_BAD_MODEL) << c.name;
        EXPECT_EQ(st, nullptr);
        std::string msg = encore_last_error();
        EXPECT_NE(msg.find(c.expect), std::string::npos) << c.name << ": " << msg;
        EXPECT_NE(msg.find(p.string()), std::string::npos) << c.name << ": " << msg;
    }
    fs::remove(p);
}

TEST(Safetensors, HalfAndBfloat16Widen) {
    EXPECT_EQ(encore_f16_to_f32(0x3c00), 1.0f);
    EXPECT_EQ(encore_f16_to_f32(0xc000), -2.0f);
    EXPECT_EQ(encore_f16_to_f32(0x7bff), 65504.0f);
    EXPECT_EQ(encore_f16_to_f32(0x0001), std::ldexp(1.0f, -24));  // smallest subnormal
    EXPECT_EQ(encore_f16_to_f32(0x03ff), std::ldexp(1023.0f, -24));  // largest subnormal
    EXPECT_EQ(encore_f16_to_f32(0x3555), 0.333251953125f);
    EXPECT_TRUE(std::isinf(encore_f16_to_f32(0x7c00)));
    EXPECT_TRUE(std::isnan(encore_f16_to_f32(0x7e00)));
    EXPECT_TRUE(std::signbit(encore_f16_to_f32(0x8000)));
    EXPECT_EQ(encore_bf16_to_f32(0x3f80), 1.0f);
    EXPECT_EQ(encore_bf16_to_f32(0xc0a0), -5.0f);
}

TEST(ApiErrors, NullArgumentsAndFreeingNull) {
    encore_model *m = nullptr;
    EXPECT_EQ(encore_model_load(nullptr, encore_model_default_params(), &m), ENCORE_STATUS_INVALID_ARGUMENT);
    encore_session *s = nullptr;
    EXPECT_EQ(encore_session_create(nullptr, encore_session_default_params(), &s), ENCORE_STATUS_INVALID_ARGUMENT);
    encore_model_free(nullptr);
    encore_session_free(nullptr);
    encore_encoding_free(nullptr);
    for (int i = 0; i < ENCORE_STATUS_COUNT; i++)
        EXPECT_STRNE(encore_status_str((encore_status)i), "unknown status") << i;
}

TEST(ApiErrors, InvalidUtf8FailsTheCallAndNamesTheInput) {
    encore_model *m = nullptr;
    ASSERT_EQ(encore_model_load(fixtures::model_dir("tiny-bert-sst").c_str(), encore_model_default_params(), &m),
              ENCORE_STATUS_OK);
    encore_session *s = nullptr;
    ASSERT_EQ(encore_session_create(m, encore_session_default_params(), &s), ENCORE_STATUS_OK);
    encore_input inputs[] = {{"fine", nullptr}, {"caf\xc3", nullptr}, {"also fine", "\xff pair"}};
    float scores[6];
    EXPECT_EQ(encore_session_classify(s, inputs, 3, scores), ENCORE_STATUS_BAD_INPUT);
    std::string msg = encore_session_last_error(s);
    EXPECT_NE(msg.find("input 1"), std::string::npos) << msg;
    EXPECT_NE(msg.find("UTF-8"), std::string::npos) << msg;
    EXPECT_EQ(encore_session_classify(s, inputs + 2, 1, scores), ENCORE_STATUS_BAD_INPUT);
    // The session still works after a failure.
    EXPECT_EQ(encore_session_classify(s, inputs, 1, scores), ENCORE_STATUS_OK);
    EXPECT_NEAR(scores[0] + scores[1], 1.0f, 1e-6);
    EXPECT_EQ(encore_session_classify(s, nullptr, 1, scores), ENCORE_STATUS_INVALID_ARGUMENT);
    encore_session_free(s);
    encore_model_free(m);
}

}  // namespace
