// test_hostile_model.cc: model directories made by an attacker (issue 14,
// findings 1 and 2). A config.json whose sizes overflow the arithmetic, a
// model.safetensors that is mostly holes, tensors that alias each other: each
// is refused with a message that names the problem, before any weight is
// allocated or copied; nothing overflows. And weights files that another
// program truncates and rewrites while encore loads them: an error, never a
// signal, never wrong weights.
#include <gtest/gtest.h>

#include <fcntl.h>
#include <signal.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <chrono>
#include <cstdint>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <string>
#include <utility>
#include <vector>

#include "core/config.h"
#include "core/safetensors.h"
#include "cpu/gemm_cpu.h"
#include "fixtures.h"

namespace fs = std::filesystem;

namespace {

// A model directory: the tiny fixture's tokenizer, a config.json and a
// model.safetensors of our own.
class CraftedModel {
public:
    CraftedModel() {
        static int counter = 0;
        dir_ = fs::temp_directory_path() /
               ("encore-hostile-" + std::to_string(::getpid()) + "-" + std::to_string(counter++));
        fs::remove_all(dir_);
        fs::create_directories(dir_);
        for (const char *f : {"vocab.txt", "tokenizer_config.json", "special_tokens_map.json"})
            fs::copy_file(fs::path(fixtures::model_dir("tiny-bert-sst")) / f, dir_ / f);
    }
    ~CraftedModel() { fs::remove_all(dir_); }
    std::string path() const { return dir_.string(); }

    void config(const std::string &json) const {
        std::ofstream(dir_ / "config.json", std::ios::binary | std::ios::trunc) << json;
    }

    // model.safetensors: the header names `tensors` (name, dtype, shape,
    // [begin, end)); the data that follows is data_bytes long, all of it a
    // hole (ftruncate): a file of gigabytes that takes no disk.
    struct Tensor {
        std::string name, dtype;
        std::vector<int64_t> shape;
        uint64_t begin, end;
    };
    void weights(const std::vector<Tensor> &tensors, uint64_t data_bytes) const {
        std::string header = "{";
        for (const Tensor &t : tensors) {
            if (header.size() > 1) header += ",";
            header += "\"" + t.name + "\":{\"dtype\":\"" + t.dtype + "\",\"shape\":[";
            for (size_t i = 0; i < t.shape.size(); i++) header += (i ? "," : "") + std::to_string(t.shape[i]);
            header += "],\"data_offsets\":[" + std::to_string(t.begin) + "," + std::to_string(t.end) + "]}";
        }
        header += "}";
        std::string bytes(8, '\0');
        for (int i = 0; i < 8; i++) bytes[i] = (char)((header.size() >> (8 * i)) & 0xff);
        bytes += header;
        const std::string file = (dir_ / "model.safetensors").string();
        int fd = ::open(file.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0644);
        ASSERT_GE(fd, 0) << file;
        ASSERT_EQ(::write(fd, bytes.data(), bytes.size()), (ssize_t)bytes.size());
        ASSERT_EQ(::ftruncate(fd, (off_t)(bytes.size() + data_bytes)), 0) << "a sparse file of " << data_bytes;
        ::close(fd);
    }

private:
    fs::path dir_;
};

// BERT's config.json with these sizes (a BertModel: no head).
std::string bert_config(long long hidden, long long intermediate, long long layers, long long positions,
                        long long vocab, long long heads = 12, const std::string &extra = "") {
    return "{\"architectures\": [\"BertModel\"], \"model_type\": \"bert\", \"hidden_size\": " +
           std::to_string(hidden) + ", \"intermediate_size\": " + std::to_string(intermediate) +
           ", \"num_hidden_layers\": " + std::to_string(layers) + ", \"num_attention_heads\": " +
           std::to_string(heads) + ", \"max_position_embeddings\": " + std::to_string(positions) +
           ", \"type_vocab_size\": 2, \"vocab_size\": " + std::to_string(vocab) + extra + "}";
}

void expect_refused(const std::string &dir, encore_status status, const std::vector<std::string> &parts) {
    encore_model *m = reinterpret_cast<encore_model *>(0x1);
    EXPECT_EQ(encore_model_load(dir.c_str(), encore_model_default_params(), &m), status) << encore_last_error();
    EXPECT_EQ(m, nullptr);
    encore_model_free(m == reinterpret_cast<encore_model *>(0x1) ? nullptr : m);
    const std::string msg = encore_last_error();
    for (const auto &p : parts) EXPECT_NE(msg.find(p), std::string::npos) << "'" << p << "' not in: " << msg;
}

// Issue 14, finding 1, as reported: the arena's size wrapped around to
// 1.46 MB, and the 5.4 GB position embeddings of a sparse file were copied
// into it (ASan: heap-buffer-overflow WRITE in encore_tensor_to_f32; release:
// SIGSEGV). Now config.json is refused before anything is allocated.
TEST(HostileModel, ArenaSizeThatWrapsIsRefusedBeforeAnyCopy) {
    CraftedModel m;
    const int64_t C = 21504, P = 62596;
    m.config(bert_config(C, 64512, 997233795, P, 1));
    const uint64_t word = (uint64_t)C * 4, pos = (uint64_t)P * C * 4;
    m.weights({{"bert.embeddings.word_embeddings.weight", "F32", {1, C}, 0, word},
               {"bert.embeddings.position_embeddings.weight", "F32", {P, C}, word, word + pos}},
              word + pos);
    expect_refused(m.path(), ENCORE_STATUS_BAD_MODEL, {"config.json", "hidden_size", "21504", "16384"});
}

// Every size at its limit: the weights config.json implies (8.2e11, 3.3 TB
// in fp32) are far more than the 4.3 GB file holds, and that is said before
// the arena is allocated. (Before: an attempt to allocate 3.3 TB, which
// failed as "out of memory", or, under ASan, aborted.)
TEST(HostileModel, ConfigBeyondTheFilesDataIsRefusedBeforeAllocating) {
    CraftedModel m;
    const int64_t C = 16384, P = 65536;
    m.config(bert_config(C, 65536, 256, P, 1, 16));
    const uint64_t word = (uint64_t)C * 4, pos = (uint64_t)P * C * 4;
    m.weights({{"bert.embeddings.word_embeddings.weight", "F32", {1, C}, 0, word},
               {"bert.embeddings.position_embeddings.weight", "F32", {P, C}, word, word + pos}},
              word + pos);
    expect_refused(m.path(), ENCORE_STATUS_BAD_MODEL, {"config.json implies", "bytes of tensor data"});
}

// The file is large enough (a 1.7 TB hole) for what config.json implies, but
// a tensor is missing: every tensor is looked up and checked before the 3.3 TB
// arena would be allocated, so the answer is the missing tensor, not "out of
// memory" (as before).
TEST(HostileModel, EveryTensorIsCheckedBeforeTheArenaIsAllocated) {
    CraftedModel m;
    const int64_t C = 16384, P = 512;
    m.config(bert_config(C, 65536, 256, P, 1, 16));
    const uint64_t word = (uint64_t)C * 4, pos = (uint64_t)P * C * 4;
    m.weights({{"bert.embeddings.word_embeddings.weight", "F32", {1, C}, 0, word},
               {"bert.embeddings.position_embeddings.weight", "F32", {P, C}, word, word + pos}},
              (uint64_t)1700 << 30);
    expect_refused(m.path(), ENCORE_STATUS_BAD_MODEL, {"bert.embeddings.LayerNorm.weight", "missing"});
    // A tensor of the wrong shape, likewise.
    m.weights({{"bert.embeddings.word_embeddings.weight", "F32", {1, C}, 0, word},
               {"bert.embeddings.position_embeddings.weight", "F32", {P - 1, C}, word, word + pos - C * 4}},
              (uint64_t)1700 << 30);
    expect_refused(m.path(), ENCORE_STATUS_BAD_MODEL, {"position_embeddings", "[511, 16384]", "[512, 16384]"});
}

// Every tensor a small model needs, all of them pointing at the same bytes:
// each is valid alone, together they describe more weights than the file
// holds. The reference implementation refuses overlapping tensors; so does
// encore now (before, the model loaded).
TEST(HostileModel, TensorsThatShareBytesAreRefused) {
    CraftedModel m;
    const int64_t C = 8, F = 16, P = 8, V = 1500, T = 2;
    m.config(bert_config(C, F, 2, P, V, 2));
    std::vector<CraftedModel::Tensor> ts;
    const uint64_t bytes = (uint64_t)V * C * 4;
    auto add = [&](const std::string &name, std::vector<int64_t> shape) {
        uint64_t n = 4;
        for (int64_t d : shape) n *= (uint64_t)d;
        ts.push_back({name, "F32", shape, 0, n});
    };
    add("bert.embeddings.word_embeddings.weight", {V, C});
    add("bert.embeddings.position_embeddings.weight", {P, C});
    add("bert.embeddings.token_type_embeddings.weight", {T, C});
    add("bert.embeddings.LayerNorm.weight", {C});
    add("bert.embeddings.LayerNorm.bias", {C});
    for (int l = 0; l < 2; l++) {
        const std::string p = "bert.encoder.layer." + std::to_string(l) + ".";
        for (const char *q : {"query", "key", "value"}) {
            add(p + "attention.self." + q + ".weight", {C, C});
            add(p + "attention.self." + q + ".bias", {C});
        }
        add(p + "attention.output.dense.weight", {C, C});
        add(p + "attention.output.dense.bias", {C});
        add(p + "attention.output.LayerNorm.weight", {C});
        add(p + "attention.output.LayerNorm.bias", {C});
        add(p + "intermediate.dense.weight", {F, C});
        add(p + "intermediate.dense.bias", {F});
        add(p + "output.dense.weight", {C, F});
        add(p + "output.dense.bias", {C});
        add(p + "output.LayerNorm.weight", {C});
        add(p + "output.LayerNorm.bias", {C});
    }
    m.weights(ts, bytes);
    expect_refused(m.path(), ENCORE_STATUS_BAD_MODEL, {"model.safetensors", "overlap"});
}

// Headers that the old parser took, or overflowed on.
TEST(HostileModel, SafetensorsHeadersThatLieAreRefused) {
    struct Case {
        const char *name, *json;
        uint64_t data;
        const char *expect;
    };
    const Case cases[] = {
        // 2^32 cubed: the element count overflowed int64 (UBSan: signed overflow).
        {"shape product overflows",
         "{\"a\":{\"dtype\":\"F32\",\"shape\":[4294967296,4294967296,4294967296],\"data_offsets\":[0,16]}}", 16,
         "too large"},
        {"fractional offsets", "{\"a\":{\"dtype\":\"F32\",\"shape\":[4],\"data_offsets\":[0.5,16.5]}}", 17,
         "fall outside"},
        {"offsets past 2^53", "{\"a\":{\"dtype\":\"F32\",\"shape\":[4],\"data_offsets\":[1e300,1e300]}}", 16,
         "fall outside"},
        {"fractional dimension", "{\"a\":{\"dtype\":\"F32\",\"shape\":[3.5],\"data_offsets\":[0,14]}}", 16,
         "bad shape"},
        {"the same name twice",
         "{\"a\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[0,4]},"
         "\"a\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[4,8]}}",
         8, "appears twice"},
        {"overlapping tensors",
         "{\"a\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[0,8]},"
         "\"b\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[4,12]}}",
         12, "overlap"},
    };
    const fs::path p = fs::temp_directory_path() / ("encore-hostile-st-" + std::to_string(::getpid()));
    for (const Case &c : cases) {
        std::string bytes(8, '\0');
        const std::string json = c.json;
        for (int i = 0; i < 8; i++) bytes[i] = (char)((json.size() >> (8 * i)) & 0xff);
        std::ofstream(p, std::ios::binary | std::ios::trunc) << bytes << json << std::string(c.data, '\0');
        encore_safetensors *st = nullptr;
        EXPECT_EQ(encore_safetensors_open(p.c_str(), &st), ENCORE_STATUS_BAD_MODEL) << c.name;
        EXPECT_EQ(st, nullptr) << c.name;
        encore_safetensors_close(st);
        const std::string msg = encore_last_error();
        EXPECT_NE(msg.find(c.expect), std::string::npos) << c.name << ": " << msg;
    }
    fs::remove(p);
}

// ---- finding 2: config values out of range --------------------------------

// hidden_size 715827882 made 3 * hidden_size + 15 overflow int in
// encore_packed_floats (UBSan: signed integer overflow). Refused now, with
// the limit; and encore_packed_floats itself counts in size_t.
TEST(HostileConfig, HiddenSizeThatOverflowsThePackedSizeIsRefused) {
    CraftedModel m;
    m.config(bert_config(715827882, 37, 2, 64, 1500, 1));
    m.weights({}, 0);
    expect_refused(m.path(), ENCORE_STATUS_BAD_MODEL, {"config.json", "'hidden_size' is 715827882", "1 to 16384"});
    EXPECT_EQ(encore_packed_floats(2147483646, 1), (size_t)2147483648u);
    EXPECT_EQ(encore_packed_floats(2147483647, 3), (size_t)2147483648u * 3);
}

// num_labels without id2label was converted from double to int unchecked
// (UBSan: float-cast-overflow; 1e20 read as INT_MIN, -1e10 likewise).
TEST(HostileConfig, AbsurdNumLabelsAreRefused) {
    for (const char *n : {"1e20", "3e9", "-1e10", "0", "65537", "2.5"}) {
        CraftedModel m;
        m.config("{\"architectures\": [\"BertForSequenceClassification\"], \"hidden_size\": 32, "
                 "\"intermediate_size\": 37, \"num_hidden_layers\": 2, \"num_attention_heads\": 4, "
                 "\"max_position_embeddings\": 64, \"type_vocab_size\": 2, \"vocab_size\": 1500, \"num_labels\": " +
                 std::string(n) + "}");
        m.weights({}, 0);
        SCOPED_TRACE(std::string("num_labels ") + n);
        expect_refused(m.path(), ENCORE_STATUS_BAD_MODEL, {"config.json", "'num_labels' is"});
    }
}

// Each key one past its limit (and at zero, and negative) is refused with
// the key, the value and the limit; at its limit it is taken.
TEST(HostileConfig, EveryValueIsRangeChecked) {
    struct Key {
        const char *key;
        long long max;
        bool distilbert;
    };
    const Key keys[] = {
        {"hidden_size", ENCORE_MAX_HIDDEN_SIZE, false},
        {"intermediate_size", ENCORE_MAX_INTERMEDIATE_SIZE, false},
        {"num_hidden_layers", ENCORE_MAX_LAYERS, false},
        {"max_position_embeddings", ENCORE_MAX_POSITIONS, false},
        {"vocab_size", ENCORE_MAX_VOCAB, false},
        {"type_vocab_size", ENCORE_MAX_TYPE_VOCAB, false},
        {"num_attention_heads", 32, false},  // at most hidden_size (32 here)
        {"dim", ENCORE_MAX_HIDDEN_SIZE, true},
        {"hidden_dim", ENCORE_MAX_INTERMEDIATE_SIZE, true},
        {"n_layers", ENCORE_MAX_LAYERS, true},
        {"n_heads", 32, true},
    };
    auto config = [](bool distilbert, const std::string &key, const std::string &value) {
        std::vector<std::pair<std::string, std::string>> kv =
            distilbert ? std::vector<std::pair<std::string, std::string>>{{"dim", "32"},
                                                                           {"hidden_dim", "37"},
                                                                           {"n_layers", "2"},
                                                                           {"n_heads", "4"},
                                                                           {"max_position_embeddings", "64"},
                                                                           {"vocab_size", "1500"}}
                       : std::vector<std::pair<std::string, std::string>>{{"hidden_size", "32"},
                                                                           {"intermediate_size", "37"},
                                                                           {"num_hidden_layers", "2"},
                                                                           {"num_attention_heads", "4"},
                                                                           {"max_position_embeddings", "64"},
                                                                           {"type_vocab_size", "2"},
                                                                           {"vocab_size", "1500"}};
        std::string out = std::string("{\"architectures\": [\"") +
                          (distilbert ? "DistilBertModel" : "BertModel") + "\"]";
        for (auto &[k, v] : kv) out += ", \"" + k + "\": " + (k == key ? value : v);
        return out + "}";
    };
    const fs::path dir = fs::temp_directory_path() / ("encore-hostile-cfg-" + std::to_string(::getpid()));
    fs::create_directories(dir);
    for (const Key &k : keys) {
        for (const std::string &v : {std::to_string(k.max + 1), std::string("0"), std::string("-3"),
                                    std::string("1e300"), std::to_string(k.max) + ".5"}) {
            std::ofstream(dir / "config.json", std::ios::trunc) << config(k.distilbert, k.key, v);
            encore_config c;
            EXPECT_EQ(encore_config_load(dir.c_str(), &c), ENCORE_STATUS_BAD_MODEL) << k.key << " " << v;
            const std::string msg = encore_last_error();
            EXPECT_NE(msg.find(std::string("'") + k.key + "' is"), std::string::npos) << k.key << " " << v << ": " << msg;
            if (v == std::to_string(k.max + 1)) {
                EXPECT_NE(msg.find("1 to " + std::to_string(k.max)), std::string::npos) << msg;
            }
        }
        std::ofstream(dir / "config.json", std::ios::trunc)
            << config(k.distilbert, k.key, std::to_string(std::string(k.key).find("head") != std::string::npos
                                                               ? 32
                                                               : k.max));
        encore_config c;
        EXPECT_EQ(encore_config_load(dir.c_str(), &c), ENCORE_STATUS_OK) << k.key << ": " << encore_last_error();
        encore_config_free(&c);
    }
    for (const char *eps : {"-1e-12", "2", "1e300"}) {
        std::ofstream(dir / "config.json", std::ios::trunc)
            << config(false, "", "").insert(1, std::string("\"layer_norm_eps\": ") + eps + ", ");
        encore_config c;
        EXPECT_EQ(encore_config_load(dir.c_str(), &c), ENCORE_STATUS_BAD_MODEL) << eps;
        EXPECT_NE(std::string(encore_last_error()).find("layer_norm_eps"), std::string::npos) << encore_last_error();
    }
    fs::remove_all(dir);
}

// ---- weights files that change while they load ------------------------------

double now_s() {
    timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + ts.tv_nsec * 1e-9;
}

// What the loading process saw.
struct RaceCounts {
    int loads, loaded, refused, cut_mid_load;
    char first_error[256];
};

// Loads model_dir again and again in a child process while a second child
// truncates `victim` (a weights file the load reads) at a random length,
// leaves it so for 0-2 ms, writes the missing bytes back and leaves it whole
// for 0-10 ms (long enough for some loads to finish untouched, under ASan
// too), over and over. encore used to map the file: a load that touched
// a page the truncation had removed died of SIGBUS. Every load must now
// either succeed with the weights of the whole file (its logits bit-identical
// to those of a load before the writer started) or return BAD_MODEL or
// IO_ERROR. The loop runs until loads have been cut short mid-read (the file
// whole when opened, shorter when a tensor was read) 20 times and some have
// succeeded, for 20 s at most.
void load_while_truncated(const std::string &model_dir, const std::string &victim) {
    std::string bytes;
    {
        std::ifstream f(victim, std::ios::binary);
        ASSERT_TRUE(f) << victim;
        bytes.assign(std::istreambuf_iterator<char>(f), std::istreambuf_iterator<char>());
        ASSERT_GT(bytes.size(), 8u);
    }
    int ready[2], report[2];
    ASSERT_EQ(::pipe(ready), 0);
    ASSERT_EQ(::pipe(report), 0);
    const pid_t loader = ::fork();
    ASSERT_GE(loader, 0);
    if (loader == 0) {
        // The child: no gtest assertions here; what it saw goes through the pipe.
        ::close(ready[0]);
        ::close(report[0]);
        encore_log_set([](encore_log_level, const char *, void *) {}, nullptr);
        const encore_input in[2] = {{"a film of great charm", nullptr}, {"dull", "and far too long"}};
        auto logits = [&](encore_model *m, std::vector<float> &out) {
            encore_session_params sp = encore_session_default_params();
            sp.n_threads = 1;
            encore_session *s = nullptr;
            if (encore_session_create(m, sp, &s) != ENCORE_STATUS_OK) return false;
            out.assign(2 * (size_t)encore_model_n_labels(m), 0.0f);
            const bool ok = encore_session_classify(s, in, 2, out.data()) == ENCORE_STATUS_OK;
            encore_session_free(s);
            return ok;
        };
        encore_model *m = nullptr;
        std::vector<float> want, got;
        if (encore_model_load(model_dir.c_str(), encore_model_default_params(), &m) != ENCORE_STATUS_OK ||
            encore_model_n_labels(m) < 1 || !logits(m, want))
            ::_exit(10);
        encore_model_free(m);
        if (::write(ready[1], "r", 1) != 1) ::_exit(11);
        RaceCounts c{};
        const double start = now_s();
        while (now_s() - start < 20 && !(c.cut_mid_load >= 20 && c.loaded >= 20)) {
            m = reinterpret_cast<encore_model *>(0x1);
            const encore_status st = encore_model_load(model_dir.c_str(), encore_model_default_params(), &m);
            c.loads++;
            if (st == ENCORE_STATUS_OK) {
                c.loaded++;
                if (!logits(m, got)) ::_exit(12);
                if (got.size() != want.size() || std::memcmp(got.data(), want.data(), got.size() * 4) != 0)
                    ::_exit(13);  // weights that mix two states of the file
                encore_model_free(m);
            } else {
                if (m != nullptr) ::_exit(14);
                if (st != ENCORE_STATUS_BAD_MODEL && st != ENCORE_STATUS_IO_ERROR) ::_exit(15);
                c.refused++;
                if (std::strstr(encore_last_error(), "changed while it was read: it now ends before byte") &&
                    c.cut_mid_load++ == 0)
                    std::snprintf(c.first_error, sizeof c.first_error, "%s", encore_last_error());
            }
        }
        ::_exit(::write(report[1], &c, sizeof c) == (ssize_t)sizeof c ? 0 : 16);
    }
    ::close(ready[1]);
    ::close(report[1]);
    char r = 0;
    const bool loader_ready = ::read(ready[0], &r, 1) == 1;
    pid_t writer = -1;
    if (loader_ready) {
        writer = ::fork();
        if (writer == 0) {
            const int fd = ::open(victim.c_str(), O_WRONLY);
            if (fd < 0) ::_exit(1);
            unsigned seed = (unsigned)::getpid();
            for (;;) {
                const size_t cut = (size_t)rand_r(&seed) % bytes.size();
                if (::ftruncate(fd, (off_t)cut) != 0) ::_exit(2);
                ::usleep((useconds_t)(rand_r(&seed) % 2000));
                if (::pwrite(fd, bytes.data() + cut, bytes.size() - cut, (off_t)cut) != (ssize_t)(bytes.size() - cut))
                    ::_exit(3);
                ::usleep((useconds_t)(rand_r(&seed) % 10000));
            }
        }
    }
    RaceCounts c{};
    const bool reported = loader_ready && ::read(report[0], &c, sizeof c) == (ssize_t)sizeof c;
    int status = 0;
    ASSERT_EQ(::waitpid(loader, &status, 0), loader);
    if (writer > 0) {
        ::kill(writer, SIGKILL);
        ::waitpid(writer, nullptr, 0);
    }
    ::close(ready[0]);
    ::close(report[0]);
    ASSERT_GE(writer, 0) << "could not start the writer";
    ASSERT_FALSE(WIFSIGNALED(status)) << "the loading process died of signal " << WTERMSIG(status) << " ("
                                      << strsignal(WTERMSIG(status)) << ") while " << victim
                                      << " was truncated under it";
    ASSERT_TRUE(WIFEXITED(status));
    switch (WEXITSTATUS(status)) {
    case 0: break;
    case 10: FAIL() << "the untouched model did not load and classify";
    case 13: FAIL() << "a load succeeded with weights unlike the file's: it read a file that was changing";
    case 14: FAIL() << "a failed load handed back a model";
    case 15: FAIL() << "a load failed with a status other than BAD_MODEL or IO_ERROR";
    default: FAIL() << "the loading process exited with status " << WEXITSTATUS(status);
    }
    ASSERT_TRUE(reported);
    std::printf("%d loads in the race: %d loaded (logits identical), %d refused, %d of them cut short mid-read; "
                "the first of those: %s\n",
                c.loads, c.loaded, c.refused, c.cut_mid_load, c.first_error);
    // The race ran: loads met the file cut short while they read it (else
    // this test proved nothing).
    EXPECT_GT(c.cut_mid_load, 0) << "no load met the file cut short while it read it";
    EXPECT_GT(c.loaded, 0) << "no load succeeded between the writer's rounds";
}

// A copy of fixture models in a directory of their own.
class FixtureCopy {
public:
    explicit FixtureCopy(const std::vector<std::string> &models) {
        static int counter = 0;
        dir_ = fs::temp_directory_path() /
               ("encore-race-" + std::to_string(::getpid()) + "-" + std::to_string(counter++));
        fs::remove_all(dir_);
        fs::create_directories(dir_);
        for (const std::string &name : models)
            fs::copy(fixtures::model_dir(name), dir_ / name, fs::copy_options::recursive);
    }
    ~FixtureCopy() { fs::remove_all(dir_); }
    std::string path(const std::string &rel) const { return (dir_ / rel).string(); }

private:
    fs::path dir_;
};

TEST(HostileModelFile, WeightsTruncatedWhileLoadingGiveAnErrorNotASignal) {
    FixtureCopy copy({"tiny-bert-sst"});
    load_while_truncated(copy.path("tiny-bert-sst"), copy.path("tiny-bert-sst/model.safetensors"));
}

// The same for a LoRA adapter's adapter_model.safetensors (its LoRA matrices
// and the classifier head it saved whole are read while the base loads).
TEST(HostileModelFile, AdapterTruncatedWhileLoadingGivesAnErrorNotASignal) {
    FixtureCopy copy({"lora-bert-cls", "tiny-bert-embed"});
    load_while_truncated(copy.path("lora-bert-cls"), copy.path("lora-bert-cls/adapter_model.safetensors"));
}

// A file rewritten while it is read, to the same size, is caught: here
// between the header and the tensors, at the one place a test can stand
// (encore_safetensors_open returned, no tensor read), and with its
// modification time set back as it was (as cp -p or rsync -t leave it), so
// that only its change time tells.
TEST(HostileModelFile, WeightsRewrittenAfterOpenAreRefused) {
    FixtureCopy copy({"tiny-bert-sst"});
    const std::string file = copy.path("tiny-bert-sst/model.safetensors");
    encore_safetensors *st = nullptr;
    ASSERT_EQ(encore_safetensors_open(file.c_str(), &st), ENCORE_STATUS_OK) << encore_last_error();
    const encore_tensor_info *t = encore_safetensors_find(st, "bert.embeddings.word_embeddings.weight");
    ASSERT_TRUE(t);
    std::vector<float> w((size_t)t->n_elements);
    ASSERT_EQ(encore_tensor_to_f32(t, w.data()), ENCORE_STATUS_OK) << encore_last_error();
    EXPECT_EQ(encore_safetensors_check_unchanged(st), ENCORE_STATUS_OK) << encore_last_error();
    // Past the kernel's coarse clock tick (at most 10 ms), so that the
    // change time moves even where timestamps are coarse.
    ::usleep(50 * 1000);
    const auto before = fs::last_write_time(file);
    {
        const int fd = ::open(file.c_str(), O_WRONLY);
        ASSERT_GE(fd, 0);
        const char zero[4] = {0, 0, 0, 0};
        ASSERT_EQ(::pwrite(fd, zero, 4, (off_t)fs::file_size(file) - 4), 4);
        ::close(fd);
    }
    fs::last_write_time(file, before);
    EXPECT_EQ(encore_safetensors_check_unchanged(st), ENCORE_STATUS_BAD_MODEL);
    EXPECT_NE(std::string(encore_last_error()).find("changed while it was read"), std::string::npos)
        << encore_last_error();
    // Truncated: the next read comes up short and says so.
    ASSERT_EQ(::truncate(file.c_str(), 100), 0);
    EXPECT_EQ(encore_tensor_to_f32(t, w.data()), ENCORE_STATUS_BAD_MODEL);
    EXPECT_NE(std::string(encore_last_error()).find("word_embeddings"), std::string::npos) << encore_last_error();
    encore_safetensors_close(st);
}

// A file replaced by a rename while it loads (as downloaders finish files)
// is read whole as it was when it was opened: the open descriptor keeps it.
TEST(HostileModelFile, WeightsReplacedByRenameAreReadAsOpened) {
    FixtureCopy copy({"tiny-bert-sst"});
    const std::string file = copy.path("tiny-bert-sst/model.safetensors");
    const char *name = "bert.embeddings.word_embeddings.weight";
    encore_safetensors *st = nullptr;
    ASSERT_EQ(encore_safetensors_open(file.c_str(), &st), ENCORE_STATUS_OK) << encore_last_error();
    const encore_tensor_info *t = encore_safetensors_find(st, name);
    ASSERT_TRUE(t);
    std::vector<float> want((size_t)t->n_elements), got((size_t)t->n_elements);
    ASSERT_EQ(encore_tensor_to_f32(t, want.data()), ENCORE_STATUS_OK) << encore_last_error();
    // Another file, every byte of its data different, renamed over it.
    {
        std::ifstream f(file, std::ios::binary);
        std::string bytes((std::istreambuf_iterator<char>(f)), std::istreambuf_iterator<char>());
        for (size_t i = st->data_start; i < bytes.size(); i++) bytes[i] = (char)~bytes[i];
        std::ofstream(file + ".part", std::ios::binary) << bytes;
    }
    ASSERT_EQ(::rename((file + ".part").c_str(), file.c_str()), 0);
    ASSERT_EQ(encore_tensor_to_f32(t, got.data()), ENCORE_STATUS_OK) << encore_last_error();
    EXPECT_EQ(std::memcmp(got.data(), want.data(), got.size() * sizeof(float)), 0);
    EXPECT_EQ(encore_safetensors_check_unchanged(st), ENCORE_STATUS_OK) << encore_last_error();
    encore_safetensors_close(st);
}

}  // namespace
