// bench_model.cc: encore on a GPU, end to end through the public API, on a
// DistilBERT-base-shaped model with random weights (6 layers, hidden 768, 12
// heads, FFN 3072, vocabulary 30522, fp16 weights in a real Hugging Face
// directory that transformers loads too, so that PyTorch runs the very same
// model in bench/cuda/peer_torch.py).
//
//   bench_model MODEL_DIR OUT.jsonl [SST2_DEV.tsv] [--quick] [--deberta]
//
// --deberta: a DeBERTa-v3-base-shaped model instead (12 layers, hidden 768,
// 12 heads, FFN 3072, 256 relative position buckets over 512 positions, c2p
// and p2c, no absolute positions; the tiny-deberta-sst fixture's
// SentencePiece tokenizer), on a smaller grid, fp16 only. Every row names
// its model ("model": "distilbert" or "deberta").
//
// Writes MODEL_DIR (config.json, model.safetensors, vocab.txt from the test
// fixtures, tokenizer_config.json), then times encore_session_logits_encoded
// for batch x length in {1, 8, 64, 256, 1024} x {32, 128, 512}: batches of
// pre-tokenized inputs of exactly that length, as a server that tokenizes on
// other threads would pass them; host packing, upload and download included.
// Then a mixed-length batch of real text (the SST-2 dev sentences, tokenized
// by encore). One JSON line per measurement goes to OUT.jsonl; MODEL_DIR gets
// inputs.json (the token ids of the mixed batch and of a parity batch, with
// encore's fp16 logits for it) for the PyTorch peer.
#include <cuda_runtime_api.h>

#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <random>
#include <sstream>
#include <string>
#include <vector>

#include "cuda/device_plan.h"
#include "encore.h"

namespace {

const int kC = 768, kF = 3072, kH = 12, kLayers = 6, kV = 30522, kP = 512, kLabels = 2;
// DeBERTa-v3-base: 12 layers, 128,100 tokens, 256 position buckets.
const int kDebertaLayers = 12, kDebertaV = 128100, kBuckets = 256;

// The model's name in the rows, and the special tokens the synthetic inputs
// start and end with: DistilBERT's vocabulary's, or the DeBERTa fixture's.
struct Mode {
    const char *model = "distilbert";
    int32_t cls = 2, sep = 3;
} g_mode;

void die(const char *what) {
    std::fprintf(stderr, "bench_model: %s: %s\n", what, encore_last_error());
    std::exit(1);
}

// ---- a random DistilBERT directory -------------------------------------------------

struct Tensor {
    std::string name;
    std::vector<int64_t> shape;
    std::vector<uint16_t> data;  // fp16
};

Tensor make(const std::string &name, std::vector<int64_t> shape, std::mt19937 &rng, float std, float mean = 0.0f) {
    Tensor t{name, shape, {}};
    size_t n = 1;
    for (auto d : shape) n *= (size_t)d;
    t.data.resize(n);
    std::normal_distribution<float> nd(mean, std);
    for (auto &x : t.data) x = encore_f32_to_f16(std == 0.0f ? mean : nd(rng));
    return t;
}

void write_safetensors(const std::string &dir, const std::vector<Tensor> &ts) {
    std::ostringstream h;
    h << "{\"__metadata__\":{\"format\":\"pt\"}";
    size_t off = 0;
    for (auto &t : ts) {
        h << ",\"" << t.name << "\":{\"dtype\":\"F16\",\"shape\":[";
        for (size_t i = 0; i < t.shape.size(); i++) h << (i ? "," : "") << t.shape[i];
        h << "],\"data_offsets\":[" << off << "," << off + t.data.size() * 2 << "]}";
        off += t.data.size() * 2;
    }
    h << "}";
    std::string header = h.str();
    while (header.size() % 8) header += ' ';
    std::ofstream f(dir + "/model.safetensors", std::ios::binary);
    const uint64_t n = header.size();
    f.write(reinterpret_cast<const char *>(&n), 8);
    f << header;
    for (auto &t : ts) f.write(reinterpret_cast<const char *>(t.data.data()), (std::streamsize)(t.data.size() * 2));
    if (!f) die("writing model.safetensors");
}

void copy_file(const std::string &from, const std::string &to) {
    std::ifstream in(from, std::ios::binary);
    std::ofstream out(to, std::ios::binary);
    out << in.rdbuf();
    if (!in || !out) die(("copying " + from).c_str());
}

void make_dir(const std::string &dir) {
    std::string cmd = "mkdir -p '" + dir + "'";
    if (std::system(cmd.c_str()) != 0) die("mkdir");
}

void write_model(const std::string &dir) {
    make_dir(dir);
    std::mt19937 rng(42);
    std::vector<Tensor> ts;
    const std::string p = "distilbert.";
    ts.push_back(make(p + "embeddings.word_embeddings.weight", {kV, kC}, rng, 0.02f));
    ts.push_back(make(p + "embeddings.position_embeddings.weight", {kP, kC}, rng, 0.02f));
    ts.push_back(make(p + "embeddings.LayerNorm.weight", {kC}, rng, 0.0f, 1.0f));
    ts.push_back(make(p + "embeddings.LayerNorm.bias", {kC}, rng, 0.0f, 0.0f));
    for (int l = 0; l < kLayers; l++) {
        const std::string q = p + "transformer.layer." + std::to_string(l) + ".";
        for (const char *lin : {"attention.q_lin", "attention.k_lin", "attention.v_lin", "attention.out_lin"}) {
            ts.push_back(make(q + lin + ".weight", {kC, kC}, rng, 0.02f));
            ts.push_back(make(q + lin + ".bias", {kC}, rng, 0.02f));
        }
        ts.push_back(make(q + "sa_layer_norm.weight", {kC}, rng, 0.0f, 1.0f));
        ts.push_back(make(q + "sa_layer_norm.bias", {kC}, rng, 0.0f, 0.0f));
        ts.push_back(make(q + "ffn.lin1.weight", {kF, kC}, rng, 0.02f));
        ts.push_back(make(q + "ffn.lin1.bias", {kF}, rng, 0.02f));
        ts.push_back(make(q + "ffn.lin2.weight", {kC, kF}, rng, 0.02f));
        ts.push_back(make(q + "ffn.lin2.bias", {kC}, rng, 0.02f));
        ts.push_back(make(q + "output_layer_norm.weight", {kC}, rng, 0.0f, 1.0f));
        ts.push_back(make(q + "output_layer_norm.bias", {kC}, rng, 0.0f, 0.0f));
    }
    ts.push_back(make("pre_classifier.weight", {kC, kC}, rng, 0.02f));
    ts.push_back(make("pre_classifier.bias", {kC}, rng, 0.02f));
    ts.push_back(make("classifier.weight", {kLabels, kC}, rng, 0.02f));
    ts.push_back(make("classifier.bias", {kLabels}, rng, 0.02f));
    write_safetensors(dir, ts);

    std::ofstream cfg(dir + "/config.json");
    cfg << "{\"activation\": \"gelu\", \"architectures\": [\"DistilBertForSequenceClassification\"],\n"
           " \"attention_dropout\": 0.1, \"dim\": 768, \"dropout\": 0.1, \"dtype\": \"float16\", \"hidden_dim\": 3072,\n"
           " \"id2label\": {\"0\": \"NEGATIVE\", \"1\": \"POSITIVE\"}, \"label2id\": {\"NEGATIVE\": 0, \"POSITIVE\": 1},\n"
           " \"initializer_range\": 0.02, \"max_position_embeddings\": 512, \"model_type\": \"distilbert\",\n"
           " \"n_heads\": 12, \"n_layers\": 6, \"pad_token_id\": 0, \"qa_dropout\": 0.1, \"seq_classif_dropout\": 0.2,\n"
           " \"sinusoidal_pos_embds\": false, \"tie_word_embeddings\": true, \"vocab_size\": 30522}\n";
    std::ofstream tc(dir + "/tokenizer_config.json");
    tc << "{\"cls_token\": \"[CLS]\", \"do_lower_case\": true, \"mask_token\": \"[MASK]\", \"model_max_length\": 512,\n"
          " \"pad_token\": \"[PAD]\", \"sep_token\": \"[SEP]\", \"strip_accents\": null, \"tokenize_chinese_chars\": true,\n"
          " \"tokenizer_class\": \"DistilBertTokenizer\", \"unk_token\": \"[UNK]\"}\n";
    copy_file(std::string(ENCORE_FIXTURES_DIR) + "/models/tiny-distilbert-sst/vocab.txt", dir + "/vocab.txt");
}

// DeBERTa-v3-base's shape and settings (DebertaV2ForSequenceClassification),
// random fp16 weights, the tiny-deberta-sst fixture's tokenizer with room for
// 512 tokens.
void write_deberta_model(const std::string &dir) {
    make_dir(dir);
    std::mt19937 rng(43);
    std::vector<Tensor> ts;
    const std::string p = "deberta.";
    ts.push_back(make(p + "embeddings.word_embeddings.weight", {kDebertaV, kC}, rng, 0.02f));
    ts.push_back(make(p + "embeddings.LayerNorm.weight", {kC}, rng, 0.0f, 1.0f));
    ts.push_back(make(p + "embeddings.LayerNorm.bias", {kC}, rng, 0.0f, 0.0f));
    for (int l = 0; l < kDebertaLayers; l++) {
        const std::string q = p + "encoder.layer." + std::to_string(l) + ".";
        for (const char *lin : {"attention.self.query_proj", "attention.self.key_proj", "attention.self.value_proj",
                                "attention.output.dense"}) {
            ts.push_back(make(q + lin + ".weight", {kC, kC}, rng, 0.02f));
            ts.push_back(make(q + lin + ".bias", {kC}, rng, 0.02f));
        }
        ts.push_back(make(q + "attention.output.LayerNorm.weight", {kC}, rng, 0.0f, 1.0f));
        ts.push_back(make(q + "attention.output.LayerNorm.bias", {kC}, rng, 0.0f, 0.0f));
        ts.push_back(make(q + "intermediate.dense.weight", {kF, kC}, rng, 0.02f));
        ts.push_back(make(q + "intermediate.dense.bias", {kF}, rng, 0.02f));
        ts.push_back(make(q + "output.dense.weight", {kC, kF}, rng, 0.02f));
        ts.push_back(make(q + "output.dense.bias", {kC}, rng, 0.02f));
        ts.push_back(make(q + "output.LayerNorm.weight", {kC}, rng, 0.0f, 1.0f));
        ts.push_back(make(q + "output.LayerNorm.bias", {kC}, rng, 0.0f, 0.0f));
    }
    ts.push_back(make(p + "encoder.rel_embeddings.weight", {2 * kBuckets, kC}, rng, 0.02f));
    ts.push_back(make(p + "encoder.LayerNorm.weight", {kC}, rng, 0.0f, 1.0f));
    ts.push_back(make(p + "encoder.LayerNorm.bias", {kC}, rng, 0.0f, 0.0f));
    ts.push_back(make("pooler.dense.weight", {kC, kC}, rng, 0.02f));
    ts.push_back(make("pooler.dense.bias", {kC}, rng, 0.02f));
    ts.push_back(make("classifier.weight", {kLabels, kC}, rng, 0.02f));
    ts.push_back(make("classifier.bias", {kLabels}, rng, 0.02f));
    write_safetensors(dir, ts);

    std::ofstream cfg(dir + "/config.json");
    cfg << "{\"architectures\": [\"DebertaV2ForSequenceClassification\"], \"attention_probs_dropout_prob\": 0.1,\n"
           " \"dtype\": \"float16\", \"hidden_act\": \"gelu\", \"hidden_dropout_prob\": 0.1, \"hidden_size\": 768,\n"
           " \"id2label\": {\"0\": \"NEGATIVE\", \"1\": \"POSITIVE\"}, \"label2id\": {\"NEGATIVE\": 0, \"POSITIVE\": 1},\n"
           " \"initializer_range\": 0.02, \"intermediate_size\": 3072, \"layer_norm_eps\": 1e-07,\n"
           " \"max_position_embeddings\": 512, \"max_relative_positions\": -1, \"model_type\": \"deberta-v2\",\n"
           " \"norm_rel_ebd\": \"layer_norm\", \"num_attention_heads\": 12, \"num_hidden_layers\": 12,\n"
           " \"pad_token_id\": 0, \"pooler_dropout\": 0, \"pooler_hidden_act\": \"gelu\", \"pooler_hidden_size\": 768,\n"
           " \"pos_att_type\": [\"p2c\", \"c2p\"], \"position_biased_input\": false, \"position_buckets\": 256,\n"
           " \"relative_attention\": true, \"share_att_key\": true, \"type_vocab_size\": 0, \"vocab_size\": 128100}\n";
    const std::string fixture = std::string(ENCORE_FIXTURES_DIR) + "/models/tiny-deberta-sst";
    copy_file(fixture + "/tokenizer.json", dir + "/tokenizer.json");
    std::ofstream tc(dir + "/tokenizer_config.json");
    tc << "{\"add_prefix_space\": true, \"backend\": \"tokenizers\", \"bos_token\": \"[CLS]\", \"cls_token\": \"[CLS]\",\n"
          " \"do_lower_case\": false, \"eos_token\": \"[SEP]\", \"mask_token\": \"[MASK]\", \"model_max_length\": 512,\n"
          " \"pad_token\": \"[PAD]\", \"sep_token\": \"[SEP]\", \"split_by_punct\": false,\n"
          " \"tokenizer_class\": \"DebertaV2Tokenizer\", \"unk_id\": 3, \"unk_token\": \"[UNK]\"}\n";
}

// ---- inputs ------------------------------------------------------------------------

struct Inputs {
    std::vector<std::vector<int32_t>> ids, types;
    std::vector<std::vector<int32_t>> zeros;
    std::vector<encore_encoding> encs;
    std::vector<const encore_encoding *> ptrs;
    void add(std::vector<int32_t> id) {
        types.emplace_back(id.size(), 0);
        zeros.emplace_back(2 * id.size(), 0);
        ids.push_back(std::move(id));
    }
    void finish() {
        encs.clear();
        for (size_t i = 0; i < ids.size(); i++) {
            encore_encoding e{};
            e.n_tokens = (int32_t)ids[i].size();
            e.ids = ids[i].data();
            e.type_ids = types[i].data();
            e.offsets = zeros[i].data();
            e.sequence_ids = zeros[i].data();
            e.n_untruncated = e.n_tokens;
            encs.push_back(e);
        }
        ptrs.clear();
        for (auto &e : encs) ptrs.push_back(&e);
    }
};

Inputs synthetic(int B, int L, std::mt19937 &rng) {
    Inputs in;
    std::uniform_int_distribution<int> tok(5, 1499);  // the fixture vocabulary's ordinary tokens
    for (int b = 0; b < B; b++) {
        std::vector<int32_t> id(L);
        for (int i = 0; i < L; i++) id[i] = tok(rng);
        id[0] = g_mode.cls;
        if (L > 1) id[L - 1] = g_mode.sep;
        in.add(id);
    }
    in.finish();
    return in;
}

struct Timing {
    double median_ms, min_ms;
    int reps;
};

// Run once to warm up (and once more: a small batch's second run is captured
// as a CUDA graph), then repeat for about budget_s seconds.
Timing time_it(encore_session *s, const Inputs &in, float *logits, double budget_s, int max_reps) {
    for (int w = 0; w < 3; w++)
        if (encore_session_logits_encoded(s, in.ptrs.data(), (int)in.ptrs.size(), logits) != ENCORE_STATUS_OK)
            die("warm-up");
    std::vector<double> t;
    const auto begin = std::chrono::steady_clock::now();
    while ((int)t.size() < max_reps) {
        const auto a = std::chrono::steady_clock::now();
        if (encore_session_logits_encoded(s, in.ptrs.data(), (int)in.ptrs.size(), logits) != ENCORE_STATUS_OK)
            die("run");
        const auto b = std::chrono::steady_clock::now();
        t.push_back(std::chrono::duration<double, std::milli>(b - a).count());
        if (t.size() >= 3 && std::chrono::duration<double>(b - begin).count() > budget_s) break;
    }
    std::sort(t.begin(), t.end());
    return {t[t.size() / 2], t[0], (int)t.size()};
}

encore_session *session(encore_model *m, encore_precision p, int max_tokens) {
    encore_session_params sp = encore_session_default_params();
    sp.device = ENCORE_DEVICE_CUDA;
    sp.precision = p;
    sp.max_batch_tokens = max_tokens;
    encore_session *s = nullptr;
    if (encore_session_create(m, sp, &s) != ENCORE_STATUS_OK) die("encore_session_create");
    if (encore_session_device(s) != ENCORE_DEVICE_CUDA) {
        std::fprintf(stderr, "bench_model: no usable GPU\n");
        std::exit(1);
    }
    return s;
}

const char *pname(encore_precision p) {
    return p == ENCORE_PRECISION_FP32 ? "fp32" : p == ENCORE_PRECISION_BF16 ? "bf16" : "fp16";
}

void emit(FILE *out, const char *case_name, encore_precision p, int graphs, int B, long tokens, int L, Timing t) {
    const double sps = B / (t.median_ms * 1e-3);
    std::fprintf(out,
                 "{\"engine\": \"encore\", \"model\": \"%s\", \"case\": \"%s\", \"precision\": \"%s\", \"graphs\": %d, \"batch\": %d, "
                 "\"length\": %d, \"tokens\": %ld, \"ms\": %.4f, \"min_ms\": %.4f, \"reps\": %d, \"seq_per_s\": %.1f, "
                 "\"tokens_per_s\": %.0f}\n",
                 g_mode.model, case_name, pname(p), graphs, B, L, tokens, t.median_ms, t.min_ms, t.reps, sps,
                 tokens / (t.median_ms * 1e-3));
    std::fflush(out);
    std::printf("encore %-6s %s graphs=%d B=%5d L=%4d  %9.3f ms  %10.0f seq/s\n", case_name, pname(p), graphs, B, L,
                t.median_ms, sps);
    std::fflush(stdout);
}

void ids_json(std::ostream &o, const Inputs &in) {
    o << "[";
    for (size_t i = 0; i < in.ids.size(); i++) {
        o << (i ? ",\n" : "") << "[";
        for (size_t j = 0; j < in.ids[i].size(); j++) o << (j ? "," : "") << in.ids[i][j];
        o << "]";
    }
    o << "]";
}

}  // namespace

int main(int argc, char **argv) {
    if (argc < 3) {
        std::fprintf(stderr, "usage: bench_model MODEL_DIR OUT.jsonl [SST2_DEV.tsv] [--quick] [--deberta]\n");
        return 2;
    }
    const std::string dir = argv[1];
    const char *sst2 = argc > 3 && argv[3][0] != '-' ? argv[3] : nullptr;
    bool quick = false, deberta = false;
    for (int i = 3; i < argc; i++) {
        quick |= std::strcmp(argv[i], "--quick") == 0;
        deberta |= std::strcmp(argv[i], "--deberta") == 0;
    }
    if (deberta) {
        g_mode = {"deberta", 1, 2};
        write_deberta_model(dir);
    } else {
        write_model(dir);
    }
    encore_model *m = nullptr;
    if (encore_model_load(dir.c_str(), encore_model_default_params(), &m) != ENCORE_STATUS_OK) die("load");
    FILE *out = std::fopen(argv[2], "w");
    if (!out) die("open output");

    // DeBERTa's c2p and p2c tables take 48 KiB a token: its grid stops at
    // 256 x 512 tokens (6 GiB of them).
    std::vector<int> batches = quick ? std::vector<int>{1, 64, 1024} : std::vector<int>{1, 8, 64, 256, 1024};
    std::vector<int> lengths = quick ? std::vector<int>{128} : std::vector<int>{32, 128, 512};
    if (deberta) {
        batches = quick ? std::vector<int>{1, 64, 256} : std::vector<int>{1, 8, 64, 256};
        lengths = quick ? std::vector<int>{128} : std::vector<int>{128, 512};
    }
    const int max_tokens = batches.back() * lengths.back();
    std::mt19937 rng(7);
    std::vector<float> logits((size_t)batches.back() * kLabels);
    const double budget = quick ? 0.3 : 1.0;
    {
        encore_session *s = session(m, ENCORE_PRECISION_FP16, max_tokens);
        for (int L : lengths)
            for (int B : batches) {
                Inputs in = synthetic(B, L, rng);
                emit(out, "grid", ENCORE_PRECISION_FP16, 1, B, (long)B * L, L, time_it(s, in, logits.data(), budget, 500));
            }
        // Parity batch for the peer: 8 x 128, with encore's logits.
        Inputs parity = synthetic(8, 128, rng);
        if (encore_session_logits_encoded(s, parity.ptrs.data(), 8, logits.data()) != ENCORE_STATUS_OK) die("parity");
        std::ofstream js(dir + "/inputs.json");
        js << "{\"model\": \"" << g_mode.model << "\", \"cls\": " << g_mode.cls << ", \"sep\": " << g_mode.sep
           << ", \"grid\": [";
        for (size_t i = 0; i < lengths.size() * batches.size(); i++)
            js << (i ? ", " : "") << "[" << batches[i % batches.size()] << ", " << lengths[i / batches.size()] << "]";
        js << "],\n\"parity_ids\": ";
        ids_json(js, parity);
        js << ",\n\"parity_logits\": [";
        for (int i = 0; i < 8 * kLabels; i++) js << (i ? "," : "") << logits[i];
        js << "]";
        // The mixed-length batch of real text.
        Inputs mixed;
        if (sst2) {
            std::ifstream f(sst2);
            std::string line;
            std::getline(f, line);
            while (std::getline(f, line)) {
                const std::string text = line.substr(0, line.find('\t'));
                encore_encoding *e = nullptr;
                if (encore_model_tokenize(m, {text.c_str(), nullptr}, 1, &e) != ENCORE_STATUS_OK) die("tokenize");
                mixed.add(std::vector<int32_t>(e->ids, e->ids + e->n_tokens));
                encore_encoding_free(e);
            }
        }
        mixed.finish();
        if (!mixed.ids.empty()) {
            long tokens = 0;
            int longest = 0;
            for (auto &v : mixed.ids) {
                tokens += (long)v.size();
                longest = std::max(longest, (int)v.size());
            }
            std::vector<float> ml(mixed.ids.size() * kLabels);
            emit(out, "sst2", ENCORE_PRECISION_FP16, 1, (int)mixed.ids.size(), tokens, longest,
                 time_it(s, mixed, ml.data(), budget * 2, 200));
            js << ",\n\"mixed_ids\": ";
            ids_json(js, mixed);
        }
        js << "}\n";
        encore_session_free(s);
    }
    if (deberta) {  // the rest is the DistilBERT-shaped model's
        std::fclose(out);
        encore_model_free(m);
        return 0;
    }
    // Launch overhead: batch 1 and 8 at length 128 without CUDA graphs.
    {
        setenv("ENCORE_CUDA_GRAPHS", "0", 1);
        encore_session *s = session(m, ENCORE_PRECISION_FP16, 8192);
        unsetenv("ENCORE_CUDA_GRAPHS");
        for (int B : {1, 8}) {
            Inputs in = synthetic(B, 128, rng);
            emit(out, "nograph", ENCORE_PRECISION_FP16, 0, B, (long)B * 128, 128, time_it(s, in, logits.data(), budget, 500));
        }
        encore_session_free(s);
    }
    // The other precisions at two points.
    for (encore_precision p : {ENCORE_PRECISION_BF16, ENCORE_PRECISION_FP32}) {
        encore_session *s = session(m, p, 256 * 128);
        for (int B : {1, 256}) {
            Inputs in = synthetic(B, 128, rng);
            emit(out, "grid", p, 1, B, (long)B * 128, 128, time_it(s, in, logits.data(), budget, 200));
        }
        encore_session_free(s);
    }
    std::fclose(out);
    encore_model_free(m);
    return 0;
}
