// test_serve.cc: `encore serve` on 127.0.0.1 (a free port), driven over HTTP.
// Every route is checked for its response shape (TEI's) and for its values
// against the library on the same texts; every bad input for its status and
// JSON error; 64 clients at once for cross-talk; SIGTERM with requests in
// flight for a graceful exit. The server is the real binary (ENCORE_CLI).
#include <gtest/gtest.h>

#include <atomic>
#include <mutex>
#include <random>
#include <set>
#include <sstream>

#include "embed_limit.h"
#include "expect_close.h"
#include "fixtures.h"
#include "serve_harness.h"

using fixtures::get;
using serve_harness::Client;
using serve_harness::Response;
using serve_harness::Server;

namespace {

// libcurl's global state, set up once before any thread uses it.
const bool curl_ready = curl_global_init(CURL_GLOBAL_DEFAULT) == CURLE_OK;

// Server values against the library: both run the same library calls, but the
// server packs a request's inputs into batches with other requests' inputs,
// and OpenBLAS picks its GEMM kernel by matrix size, which changes the
// summation order and so the last bits (test_model.cc, BatchResultsDoNotDepend-
// OnTheBatch, sees 1e-6). A response mixed up with another request's moves
// values by 1e-2 or more.
constexpr double kTol = 1e-5;

struct JsonDoc {
    cJSON *root;
    explicit JsonDoc(const std::string &s) : root(cJSON_ParseWithLength(s.data(), s.size())) {}
    JsonDoc(const JsonDoc &) = delete;
    ~JsonDoc() { cJSON_Delete(root); }
};

std::string print(cJSON *v) {
    std::string out = fixtures::dumps(v);
    cJSON_Delete(v);
    return out;
}

cJSON *strings(const std::vector<std::string> &v) {
    cJSON *a = cJSON_CreateArray();
    for (auto &s : v) cJSON_AddItemToArray(a, cJSON_CreateString(s.c_str()));
    return a;
}

// {"inputs": inputs, extra...}; extra is JSON text of more members, e.g.
// "\"truncate\": true".
std::string body(cJSON *inputs, const std::string &extra = "") {
    cJSON *o = cJSON_CreateObject();
    cJSON_AddItemToObject(o, "inputs", inputs);
    std::string s = print(o);
    if (!extra.empty()) s = s.substr(0, s.size() - 1) + "," + extra + "}";
    return s;
}

std::string body(const std::string &text, const std::string &extra = "") {
    return body(cJSON_CreateString(text.c_str()), extra);
}

// The library on the server's model, for the values a response must hold.
struct Lib {
    encore_model *model = nullptr;
    encore_session *session = nullptr;
    explicit Lib(const std::string &name) {
        encore_model_load(fixtures::model_dir(name).c_str(), encore_model_default_params(), &model);
        encore_session_params p = encore_session_default_params();
        p.n_threads = 1;  // tiny models; no OpenMP team spinning against the server's threads
        if (model) encore_session_create(model, p, &session);
    }
    Lib(const Lib &) = delete;
    ~Lib() {
        encore_session_free(session);
        encore_model_free(model);
    }
    int labels() const { return encore_model_n_labels(model); }
    int hidden() const { return encore_model_hidden_size(model); }
    std::vector<float> scores(const std::vector<encore_input> &in, bool raw = false) {
        std::vector<float> out(in.size() * (size_t)labels());
        encore_status st = raw ? encore_session_logits(session, in.data(), (int)in.size(), out.data())
                               : encore_session_classify(session, in.data(), (int)in.size(), out.data());
        EXPECT_EQ(st, ENCORE_STATUS_OK) << encore_session_last_error(session);
        return out;
    }
    std::vector<float> embed(const std::vector<encore_input> &in, bool normalize) {
        std::vector<float> out(in.size() * (size_t)hidden());
        EXPECT_EQ(encore_session_embed(session, in.data(), (int)in.size(), ENCORE_POOLING_DEFAULT, normalize,
                                       out.data()),
                  ENCORE_STATUS_OK)
            << encore_session_last_error(session);
        return out;
    }
};

// Fixture texts the server takes as they are: not empty, no U+0000, not
// over-long. pairs: the pair cases instead of the single ones.
std::vector<std::pair<std::string, std::string>> texts(const std::string &model, bool pairs) {
    auto ref = fixtures::load(model);
    std::vector<std::pair<std::string, std::string>> out;
    const cJSON *c;
    cJSON_ArrayForEach(c, get(ref->root, "cases")) {
        if (cJSON_IsTrue(get(c, "too_long")) || cJSON_IsTrue(get(c, "truncation")) || fixtures::has_nul(c)) continue;
        encore_input in = fixtures::input(c);
        if ((in.text_pair != nullptr) != pairs || (!*in.text && !(in.text_pair && *in.text_pair))) continue;
        out.push_back({in.text, in.text_pair ? in.text_pair : ""});
    }
    // The loops over these texts would check nothing without them.
    EXPECT_FALSE(out.empty()) << model << ": no fixture texts" << (pairs ? " with a pair" : "");
    return out;
}

// A text of about n words, for over-long inputs (the fixture models take 64
// tokens).
std::string words(int n, int seed = 0) {
    static const char *const w[] = {"movie", "plot", "wonderful", "dull", "acting", "the", "a", "heartfelt"};
    std::string s;
    for (int i = 0; i < n; i++) s += std::string(i ? " " : "") + w[(i + seed) % 8];
    return s;
}

// One input's predictions: every label once, best first, scores as want.
// Returns "" or what is wrong.
std::string check_predictions(const cJSON *list, const float *want, const encore_model *model) {
    const int L = encore_model_n_labels(model);
    if (!cJSON_IsArray(list) || cJSON_GetArraySize(list) != L) return "not a list of " + std::to_string(L);
    std::set<std::string> seen;
    double prev = INFINITY;
    const cJSON *p;
    cJSON_ArrayForEach(p, list) {
        const cJSON *score = get(p, "score"), *label = get(p, "label");
        if (!cJSON_IsNumber(score) || !cJSON_IsString(label) || cJSON_GetArraySize(p) != 2)
            return "not {\"score\": number, \"label\": string}";
        int id = -1;
        for (int i = 0; i < L; i++)
            if (std::string(encore_model_label(model, i)) == label->valuestring) id = i;
        if (id < 0 || !seen.insert(label->valuestring).second) return std::string("bad label ") + label->valuestring;
        if (!approx::element_close(score->valuedouble, want[id], kTol, 0))
            return std::string("score of ") + label->valuestring + " is " + std::to_string(score->valuedouble) +
                   ", the library gives " + std::to_string(want[id]);
        if (score->valuedouble > prev) return "not sorted best first";
        prev = score->valuedouble;
    }
    return "";
}

std::string check_vector(const cJSON *v, const float *want, int n) {
    if (!cJSON_IsArray(v) || cJSON_GetArraySize(v) != n) return "not a list of " + std::to_string(n) + " numbers";
    std::vector<double> got;
    const cJSON *x;
    cJSON_ArrayForEach(x, v) {
        if (!cJSON_IsNumber(x)) return "not a number";
        got.push_back(x->valuedouble);
    }
    ::testing::AssertionResult close = approx::all_close(approx::values(got), approx::values(want, n), kTol, 0);
    return close ? "" : std::string("against the library: ") + close.message();
}

// An error response: this status, and a JSON body of exactly {"error":
// string, "error_type": type}.
void expect_error(const Response &r, long status, const std::string &type, const std::string &what,
                  const std::string &message_part = "") {
    EXPECT_EQ(r.status, status) << what << ": " << r.body << r.curl_error;
    EXPECT_EQ(r.headers.count("content-type") ? r.headers.at("content-type") : "", "application/json") << what;
    JsonDoc d(r.body);
    ASSERT_TRUE(cJSON_IsObject(d.root)) << what << ": " << r.body;
    EXPECT_EQ(cJSON_GetArraySize(d.root), 2) << what << ": " << r.body;
    const cJSON *e = get(d.root, "error"), *t = get(d.root, "error_type");
    ASSERT_TRUE(cJSON_IsString(e) && cJSON_IsString(t)) << what << ": " << r.body;
    EXPECT_EQ(std::string(t->valuestring), type) << what << ": " << r.body;
    EXPECT_GT(strlen(e->valuestring), 5u) << what;
    if (!message_part.empty()) {
        EXPECT_NE(std::string(e->valuestring).find(message_part), std::string::npos) << what << ": " << r.body;
    }
}

// A value of the /metrics text (first line that starts with name).
double metric(Client &c, const Server &s, const std::string &name) {
    Response r = c.get(s.url("/metrics"));
    std::istringstream in(r.body);
    std::string line;
    while (std::getline(in, line))
        if (line.compare(0, name.size() + 1, name + " ") == 0) return std::stod(line.substr(name.size() + 1));
    return -1;
}

// Poll until metric(name) >= value or timeout_s; returns the last value.
double wait_metric(Client &c, const Server &s, const std::string &name, double value, double timeout_s = 30) {
    const double deadline = serve_harness::now_s() + timeout_s;
    double v = -1;
    while (serve_harness::now_s() < deadline && (v = metric(c, s, name)) < value)
        std::this_thread::sleep_for(std::chrono::milliseconds(5));
    return v;
}

// One model thread is plenty for the tiny fixture models, and keeps OpenMP
// and OpenBLAS from spinning against the test's own threads on a small
// machine (which made single requests take up to 200 ms on 2 busy cores).
#define START(server, ...)                                                       \
    do {                                                                         \
        ASSERT_TRUE(curl_ready);                                                 \
        ASSERT_TRUE((server).start({"--threads", "1", __VA_ARGS__})) << (server).error(); \
    } while (0)

// ---- routes, shapes and values ------------------------------------------------

TEST(ServePredict, SingleTextsGiveTheLibrarysScoresBestFirst) {
    for (const std::string model :
         {"tiny-bert-sst", "tiny-roberta-sst", "tiny-xlmr-sst", "tiny-mpnet-sst", "tiny-electra-sst", "tiny-deberta-sst"}) {
        SCOPED_TRACE(model);
        Lib lib(model);
        Server s;
        START(s, "--model", fixtures::model_dir(model));
        Client c;
        int n = 0;
        for (auto &[text, pair] : texts(model, false)) {
            std::vector<encore_input> in = {{text.c_str(), nullptr}};
            Response r = c.post(s.url("/predict"), body(text));
            ASSERT_EQ(r.status, 200) << text << ": " << r.body;
            EXPECT_EQ(r.headers["content-type"], "application/json");
            JsonDoc d(r.body);
            EXPECT_EQ(check_predictions(d.root, lib.scores(in).data(), lib.model), "") << text << ": " << r.body;
            // raw_scores: the logits, before softmax.
            r = c.post(s.url("/predict"), body(text, "\"raw_scores\": true"));
            JsonDoc raw(r.body);
            EXPECT_EQ(check_predictions(raw.root, lib.scores(in, true).data(), lib.model), "")
                << text << ": " << r.body;
            n++;
        }
        EXPECT_GT(n, 25);
        EXPECT_EQ(s.stop(), 0);
    }
}

TEST(ServePredict, PairsAndBatchesAsTEI) {
    Lib lib("tiny-bert-sst");
    Server s;
    START(s, "--model", fixtures::model_dir("tiny-bert-sst"));
    Client c;
    auto pairs = texts("tiny-bert-sst", true);
    auto singles = texts("tiny-bert-sst", false);
    ASSERT_GE(pairs.size(), 3u);
    // ["text", "pair"] is one input, a pair.
    for (auto &[text, pair] : pairs) {
        Response r = c.post(s.url("/predict"), body(strings({text, pair})));
        ASSERT_EQ(r.status, 200) << r.body;
        JsonDoc d(r.body);
        std::vector<encore_input> in = {{text.c_str(), pair.c_str()}};
        EXPECT_EQ(check_predictions(d.root, lib.scores(in).data(), lib.model), "") << r.body;
    }
    // ["text"] is one input too.
    Response one = c.post(s.url("/predict"), body(strings({singles[0].first})));
    JsonDoc d1(one.body);
    std::vector<encore_input> in1 = {{singles[0].first.c_str(), nullptr}};
    EXPECT_EQ(check_predictions(d1.root, lib.scores(in1).data(), lib.model), "") << one.body;
    // [["a"], ["b", "c"], ...] is a batch: a list of results in input order.
    cJSON *batch = cJSON_CreateArray();
    std::vector<encore_input> in;
    for (size_t i = 0; i < 6; i++) {
        if (i % 2) {
            cJSON_AddItemToArray(batch, strings({pairs[i % pairs.size()].first, pairs[i % pairs.size()].second}));
            in.push_back({pairs[i % pairs.size()].first.c_str(), pairs[i % pairs.size()].second.c_str()});
        } else {
            cJSON_AddItemToArray(batch, strings({singles[i].first}));
            in.push_back({singles[i].first.c_str(), nullptr});
        }
    }
    Response r = c.post(s.url("/predict"), body(batch));
    ASSERT_EQ(r.status, 200) << r.body;
    JsonDoc d(r.body);
    ASSERT_EQ(cJSON_GetArraySize(d.root), 6) << r.body;
    auto want = lib.scores(in);
    for (int i = 0; i < 6; i++)
        EXPECT_EQ(check_predictions(cJSON_GetArrayItem(d.root, i), want.data() + i * lib.labels(), lib.model), "")
            << "input " << i << ": " << r.body;
    // TEI's timing headers.
    for (const char *h : {"x-compute-type", "x-compute-time", "x-compute-characters", "x-compute-tokens",
                          "x-total-time", "x-tokenization-time", "x-queue-time", "x-inference-time"})
        EXPECT_EQ(r.headers.count(h), 1u) << h;
    EXPECT_EQ(s.stop(), 0);
}

TEST(ServePredict, MultiLabelScoresAreTheLibrarysSigmoids) {
    Lib lib("tiny-bert-multilabel");
    Server s;
    START(s, "--model", fixtures::model_dir("tiny-bert-multilabel"));
    Client c;
    auto t = texts("tiny-bert-multilabel", false);
    std::vector<std::string> batch;
    std::vector<encore_input> in;
    for (size_t i = 0; i < 8; i++) {
        batch.push_back(t[i].first);
        in.push_back({t[i].first.c_str(), nullptr});
    }
    cJSON *b = cJSON_CreateArray();
    for (auto &x : batch) cJSON_AddItemToArray(b, strings({x}));
    Response r = c.post(s.url("/predict"), body(b));
    ASSERT_EQ(r.status, 200) << r.body;
    JsonDoc d(r.body);
    auto want = lib.scores(in);
    for (int i = 0; i < 8; i++) {
        EXPECT_EQ(check_predictions(cJSON_GetArrayItem(d.root, i), want.data() + 3 * i, lib.model), "") << r.body;
        EXPECT_GT(std::fabs(want[3 * i] + want[3 * i + 1] + want[3 * i + 2] - 1.0), 1e-3);  // not a softmax
    }
    EXPECT_EQ(s.stop(), 0);
}

class ServeEmbedModel : public ::testing::TestWithParam<std::string> {};

TEST_P(ServeEmbedModel, VectorsAreTheLibrarysNormalizedByDefault) {
    const std::string model = GetParam();
    Lib lib(model);
    Server s;
    START(s, "--model", fixtures::model_dir(model));
    Client c;
    const int C = lib.hidden();
    auto t = texts(model, false);
    for (auto &[text, pair] : t) {
        std::vector<encore_input> in = {{text.c_str(), nullptr}};
        Response r = c.post(s.url("/embed"), body(text));
        ASSERT_EQ(r.status, 200) << r.body;
        JsonDoc d(r.body);
        ASSERT_EQ(cJSON_GetArraySize(d.root), 1) << r.body;  // always a list of vectors
        EXPECT_EQ(check_vector(cJSON_GetArrayItem(d.root, 0), lib.embed(in, true).data(), C), "") << text;
        r = c.post(s.url("/embed"), body(text, "\"normalize\": false"));
        JsonDoc raw(r.body);
        EXPECT_EQ(check_vector(cJSON_GetArrayItem(raw.root, 0), lib.embed(in, false).data(), C), "") << text;
    }
    std::vector<std::string> batch;
    std::vector<encore_input> in;
    for (size_t i = 0; i < 10; i++) {
        batch.push_back(t[i].first);
        in.push_back({t[i].first.c_str(), nullptr});
    }
    Response r = c.post(s.url("/embed"), body(strings(batch), "\"normalize\": false, \"truncate\": null"));
    ASSERT_EQ(r.status, 200) << r.body;
    JsonDoc d(r.body);
    ASSERT_EQ(cJSON_GetArraySize(d.root), 10);
    auto want = lib.embed(in, false);
    for (int i = 0; i < 10; i++)
        EXPECT_EQ(check_vector(cJSON_GetArrayItem(d.root, i), want.data() + (size_t)i * C, C), "") << "input " << i;
    // POST / on a model without a classification head is /embed.
    Response root = c.post(s.url("/"), body(t[0].first));
    EXPECT_EQ(root.status, 200);
    JsonDoc dr(root.body);
    std::vector<encore_input> in0 = {{t[0].first.c_str(), nullptr}};
    EXPECT_EQ(check_vector(cJSON_GetArrayItem(dr.root, 0), lib.embed(in0, true).data(), C), "");
    EXPECT_EQ(s.stop(), 0);
}

INSTANTIATE_TEST_SUITE_P(Embedders, ServeEmbedModel,
                         ::testing::Values("tiny-bert-embed", "tiny-roberta-embed", "tiny-xlmr-embed", "tiny-mpnet-embed",
                                           "tiny-electra-embed"),
                         [](const ::testing::TestParamInfo<std::string> &p) {
                             std::string n = p.param;
                             for (char &ch : n)
                                 if (ch == '-') ch = '_';
                             return n;
                         });

TEST(ServeTokenize, IdsOffsetsAndSpecialTokensAreTheTokenizers) {
    Lib lib("tiny-bert-sst");
    Server s;
    START(s, "--model", fixtures::model_dir("tiny-bert-sst"));
    Client c;
    auto t = texts("tiny-bert-sst", false);
    std::vector<std::string> batch;
    for (auto &x : t) batch.push_back(x.first);
    batch.resize(20);
    for (int special = 0; special < 2; special++) {
        const char *option = special ? "\"add_special_tokens\": true" : "\"add_special_tokens\": false";
        Response r = c.post(s.url("/tokenize"), body(strings(batch), option));
        ASSERT_EQ(r.status, 200) << r.body;
        JsonDoc d(r.body);
        ASSERT_EQ(cJSON_GetArraySize(d.root), 20);
        for (int i = 0; i < 20; i++) {
            encore_encoding *enc = nullptr;
            ASSERT_EQ(encore_model_tokenize(lib.model, {batch[i].c_str(), nullptr}, 0, &enc), ENCORE_STATUS_OK);
            const cJSON *tokens = cJSON_GetArrayItem(d.root, i);
            ASSERT_EQ(cJSON_GetArraySize(tokens), enc->n_tokens - (special ? 0 : 2)) << batch[i];
            int k = special ? 0 : 1;
            const cJSON *tok;
            cJSON_ArrayForEach(tok, tokens) {
                EXPECT_EQ(cJSON_GetArraySize(tok), 5);
                EXPECT_EQ(get(tok, "id")->valueint, enc->ids[k]) << batch[i];
                const bool is_special = k == 0 || k == enc->n_tokens - 1;
                EXPECT_EQ(cJSON_IsTrue(get(tok, "special")), is_special);
                if (is_special) {
                    EXPECT_TRUE(cJSON_IsNull(get(tok, "start")) && cJSON_IsNull(get(tok, "stop")));
                    EXPECT_STREQ(get(tok, "text")->valuestring, encore_model_token(lib.model, enc->ids[k]));
                } else {
                    const int start = enc->offsets[2 * k], stop = enc->offsets[2 * k + 1];
                    EXPECT_EQ(get(tok, "start")->valueint, start);
                    EXPECT_EQ(get(tok, "stop")->valueint, stop);
                    EXPECT_EQ(std::string(get(tok, "text")->valuestring), batch[i].substr(start, stop - start));
                }
                k++;
            }
            encore_encoding_free(enc);
        }
    }
    // One string gives a list with one token list, as TEI.
    Response r = c.post(s.url("/tokenize"), body("hello world"));
    JsonDoc d(r.body);
    EXPECT_EQ(cJSON_GetArraySize(d.root), 1) << r.body;
    EXPECT_GE(cJSON_GetArraySize(cJSON_GetArrayItem(d.root, 0)), 4) << r.body;
    EXPECT_EQ(s.stop(), 0);
}

// A model whose sentence_bert_config.json max_seq_length (16) is below its
// limit (64): /embed and POST / cut texts at 16 tokens, as
// sentence-transformers does, and say so in /info and /tokenize (as TEI).
TEST(ServeEmbed, TextsAreCutAtMaxSeqLengthAsSentenceTransformers) {
    std::string why;
    const auto cases = embed_limit::cases(&why);
    ASSERT_FALSE(cases.empty()) << why;
    Server s;
    START(s, "--model", fixtures::model_dir(embed_limit::kModel));
    Client c;
    auto vector_of = [](const cJSON *v) {
        std::vector<double> out;
        const cJSON *x;
        cJSON_ArrayForEach(x, v) out.push_back(cJSON_IsNumber(x) ? x->valuedouble : NAN);
        return out;
    };
    // Within 1e-5 of sentence-transformers, as test_model.cc.
    constexpr double kStTol = 1e-5;
    std::vector<std::string> all;
    for (const auto &k : cases) {
        SCOPED_TRACE(k.name);
        all.push_back(k.text);
        for (const char *route : {"/embed", "/"}) {
            Response r = c.post(s.url(route), body(k.text, "\"truncate\": true"));
            ASSERT_EQ(r.status, 200) << route << ": " << r.body;
            JsonDoc d(r.body);
            EXPECT_LE(embed_limit::max_diff(vector_of(cJSON_GetArrayItem(d.root, 0)), k.embedding_normalized), kStTol)
                << route;
        }
        Response r = c.post(s.url("/tokenize"), body(k.text, "\"truncate\": true"));
        ASSERT_EQ(r.status, 200) << r.body;
        JsonDoc t(r.body);
        std::vector<double> ids;
        const cJSON *tok;
        cJSON_ArrayForEach(tok, cJSON_GetArrayItem(t.root, 0)) ids.push_back(get(tok, "id")->valuedouble);
        EXPECT_EQ(ids, k.ids);
        // Without truncation: what fits is embedded, a longer text is refused.
        r = c.post(s.url("/embed"), body(k.text, "\"truncate\": false"));
        if (k.n_tokens <= embed_limit::kEmbedLimit) {
            EXPECT_EQ(r.status, 200) << r.body;
        } else {
            expect_error(r, 422, "Validation", k.name, "at most 16");
        }
    }
    Response r = c.post(s.url("/embed"), body(strings(all), "\"truncate\": true, \"normalize\": false"));
    ASSERT_EQ(r.status, 200) << r.body;
    JsonDoc d(r.body);
    ASSERT_EQ(cJSON_GetArraySize(d.root), (int)cases.size());
    for (size_t i = 0; i < cases.size(); i++)
        EXPECT_LE(embed_limit::max_diff(vector_of(cJSON_GetArrayItem(d.root, (int)i)), cases[i].embedding), kStTol)
            << cases[i].name << " in a batch";
    r = c.get(s.url("/info"));
    JsonDoc info(r.body);
    EXPECT_EQ(get(info.root, "max_input_length")->valueint, embed_limit::kEmbedLimit) << r.body;
    EXPECT_EQ(s.stop(), 0);
}

TEST(ServeInfo, DescribesTheModelAndTheLimits) {
    Server s, e;
    START(s, "--model", fixtures::model_dir("tiny-bert-sst"), "--max-batch-tokens", "1000", "--max-client-batch-size",
          "7", "--max-concurrent-requests", "9", "--max-batch-requests", "5");
    START(e, "--model", fixtures::model_dir("tiny-bert-embed"));
    Client c;
    Response r = c.get(s.url("/info"));
    ASSERT_EQ(r.status, 200);
    JsonDoc d(r.body);
    ASSERT_TRUE(cJSON_IsObject(d.root)) << r.body;
    // TEI's model_id is the name the model was loaded by: here the
    // directory's name, and served_model_name follows it.
    EXPECT_STREQ(get(d.root, "model_id")->valuestring, "tiny-bert-sst");
    EXPECT_STREQ(get(d.root, "served_model_name")->valuestring, "tiny-bert-sst");
    EXPECT_EQ(std::string(get(d.root, "model_dir")->valuestring), fixtures::model_dir("tiny-bert-sst"));
    EXPECT_EQ(get(d.root, "tokenization_workers")->valueint, (int)sysconf(_SC_NPROCESSORS_ONLN));
    EXPECT_STREQ(get(d.root, "model_dtype")->valuestring, "float32");
    EXPECT_STREQ(get(d.root, "version")->valuestring, ENCORE_VERSION);
    EXPECT_EQ(get(d.root, "max_input_length")->valueint, 64);
    EXPECT_EQ(get(d.root, "max_batch_tokens")->valueint, 1000);
    EXPECT_EQ(get(d.root, "max_batch_requests")->valueint, 5);
    EXPECT_EQ(get(d.root, "max_client_batch_size")->valueint, 7);
    EXPECT_EQ(get(d.root, "max_concurrent_requests")->valueint, 9);
    EXPECT_TRUE(cJSON_IsFalse(get(d.root, "auto_truncate")));
    EXPECT_STREQ(get(d.root, "device")->valuestring, "cpu");
    const cJSON *cls = get(get(d.root, "model_type"), "classifier");
    ASSERT_TRUE(cls) << r.body;
    EXPECT_STREQ(get(get(cls, "id2label"), "1")->valuestring, "POSITIVE");
    EXPECT_EQ(get(get(cls, "label2id"), "NEGATIVE")->valueint, 0);

    r = c.get(e.url("/info"));
    JsonDoc de(r.body);
    EXPECT_STREQ(get(get(get(de.root, "model_type"), "embedding"), "pooling")->valuestring, "mean") << r.body;
    EXPECT_TRUE(cJSON_IsNull(get(de.root, "max_batch_requests")));
    EXPECT_EQ(s.stop(), 0);
    EXPECT_EQ(e.stop(), 0);
}

TEST(ServeHealth, HealthAndMetrics) {
    Server s;
    START(s, "--model", fixtures::model_dir("tiny-bert-sst"));
    Client c;
    Response h = c.get(s.url("/health"));
    EXPECT_EQ(h.status, 200);
    EXPECT_EQ(h.body, "");
    EXPECT_EQ(c.get(s.url("/")).status, 200);  // Inference API health route
    EXPECT_EQ(c.request("HEAD", s.url("/health")).status, 200);
    // Health still answers once the last forward pass is old: it runs one.
    std::this_thread::sleep_for(std::chrono::milliseconds(1100));
    EXPECT_EQ(c.get(s.url("/health")).status, 200);

    for (int i = 0; i < 3; i++) EXPECT_EQ(c.post(s.url("/predict"), body("a fine film")).status, 200);
    EXPECT_EQ(c.post(s.url("/predict"), body(cJSON_Parse("[[\"a\"], [\"b\"]]"))).status, 200);
    EXPECT_EQ(c.post(s.url("/predict"), "{").status, 400);
    Response m = c.get(s.url("/metrics"));
    ASSERT_EQ(m.status, 200);
    EXPECT_EQ(m.headers["content-type"].rfind("text/plain", 0), 0u) << m.headers["content-type"];
    for (const char *line : {"te_request_count{method=\"single\"} 3", "te_request_count{method=\"batch\"} 1",
                             "te_request_success{method=\"single\"} 3", "te_request_failure{err=\"validation\"} 1",
                             "te_queue_size 0", "# TYPE te_request_duration histogram",
                             "te_request_duration_count 4", "te_request_input_length_bucket{le=\"+Inf\"} 5",
                             "# TYPE te_batch_next_tokens histogram", "te_request_queue_duration_sum",
                             "te_request_inference_duration_bucket", "te_request_tokenization_duration_count 4",
                             "te_batch_next_size_bucket{le=\"1\"}", "te_batch_inference_duration_count"})
        EXPECT_NE(m.body.find(line), std::string::npos) << line << "\n" << m.body;
    EXPECT_EQ(s.stop(), 0);
}

// ---- bad input ------------------------------------------------------------------

TEST(ServeBadInput, EveryCaseGetsItsStatusAndAJsonErrorAndTheServerKeepsServing) {
    Lib lib("tiny-bert-sst");
    Server s;
    START(s, "--model", fixtures::model_dir("tiny-bert-sst"), "--max-client-batch-size", "4", "--max-body-bytes",
          "2000");
    Client c;
    const std::string predict = s.url("/predict"), embed = s.url("/embed"), tokenize = s.url("/tokenize");
    // Malformed JSON.
    expect_error(c.post(predict, "{\"inputs\": \"abc\""), 400, "Validation", "unterminated object", "JSON");
    expect_error(c.post(predict, "{\"inputs\": \"abc\"} x"), 400, "Validation", "trailing garbage", "JSON");
    expect_error(c.post(embed, ""), 400, "Validation", "empty body");
    expect_error(c.post(tokenize, "not json"), 400, "Validation", "not JSON");
    // Wrong types.
    expect_error(c.post(predict, "[\"abc\"]"), 422, "Validation", "not an object");
    expect_error(c.post(predict, "{\"text\": \"abc\"}"), 422, "Validation", "no inputs", "`inputs`");
    expect_error(c.post(predict, "{\"inputs\": 5}"), 422, "Validation", "number");
    expect_error(c.post(predict, "{\"inputs\": [\"a\", \"b\", \"c\"]}"), 422, "Validation", "three strings");
    expect_error(c.post(predict, "{\"inputs\": [[\"a\", 1]]}"), 422, "Validation", "number in a pair");
    expect_error(c.post(embed, "{\"inputs\": [\"a\", [\"b\"]]}"), 422, "Validation", "list in a batch");
    expect_error(c.post(embed, "{\"inputs\": {\"a\": 1}}"), 422, "Validation", "object");
    expect_error(c.post(predict, "{\"inputs\": \"a\", \"truncate\": \"yes\"}"), 422, "Validation", "truncate",
                 "`truncate`");
    expect_error(c.post(predict, "{\"inputs\": \"a\", \"raw_scores\": 1}"), 422, "Validation", "raw_scores");
    expect_error(c.post(embed, "{\"inputs\": \"a\", \"normalize\": \"no\"}"), 422, "Validation", "normalize");
    // U+0000, which cJSON would turn into the end of the text; an escaped
    // backslash before "u0000" is no such escape.
    expect_error(c.post(predict, "{\"inputs\": \"good\\u0000 bad\"}"), 422, "Validation", "U+0000", "U+0000");
    expect_error(c.post(embed, "{\"inputs\": [\"a\", \"b\\\\\\u0000\"]}"), 422, "Validation", "U+0000 after \\\\",
                 "U+0000");
    EXPECT_EQ(c.post(predict, "{\"inputs\": \"good \\\\u0000 bad\"}").status, 200);
    // A raw NUL byte: not JSON.
    const char raw_nul[] = "{\"inputs\": \"good\0 bad\"}";
    expect_error(c.post(predict, std::string(raw_nul, sizeof raw_nul - 1)), 400, "Validation", "raw NUL",
                 "NUL byte at byte 17");
    // Empty inputs.
    expect_error(c.post(predict, "{\"inputs\": []}"), 400, "Empty", "[]", "empty");
    expect_error(c.post(predict, "{\"inputs\": \"\"}"), 400, "Empty", "\"\"", "empty");
    expect_error(c.post(embed, "{\"inputs\": []}"), 400, "Empty", "embed []");
    expect_error(c.post(tokenize, "{\"inputs\": [\"a\", \"\"]}"), 400, "Empty", "an empty text in a batch");
    // More inputs than --max-client-batch-size.
    expect_error(c.post(embed, body(strings({"a", "b", "c", "d", "e"}))), 422, "Validation", "5 > 4",
                 "--max-client-batch-size");
    expect_error(c.post(predict, "{\"inputs\": [[\"a\"], [\"b\"], [\"c\"], [\"d\"], [\"e\"]]}"), 422, "Validation",
                 "5 > 4 predict");
    // A body over --max-body-bytes: declared up front (refused before it is
    // read; curl waits for 100 Continue, which never comes), and chunked
    // (no length: counted as it arrives).
    const std::string big = body(words(400));
    ASSERT_GT(big.size(), 2000u);
    expect_error(c.post(embed, big, {"Expect: 100-continue"}), 413, "Validation", "declared", "--max-body-bytes");
    std::string chunked = "POST /embed HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\nConnection: close\r\n\r\n";
    for (size_t at = 0; at < big.size(); at += 500) {
        std::string part = big.substr(at, 500);
        char len[16];
        snprintf(len, sizeof len, "%zx\r\n", part.size());
        chunked += len + part + "\r\n";
    }
    chunked += "0\r\n\r\n";
    std::string raw = serve_harness::raw_exchange(s.port(), chunked);
    EXPECT_EQ(raw.rfind("HTTP/1.1 413", 0), 0u) << raw;
    EXPECT_NE(raw.find("\"error_type\":\"Validation\""), std::string::npos) << raw;
    // Invalid UTF-8 (raw bytes in a JSON string), in any position of a batch.
    expect_error(c.post(predict, "{\"inputs\": \"bad \xc3\x28 utf-8\"}"), 422, "Tokenizer", "invalid UTF-8", "UTF-8");
    expect_error(c.post(embed, "{\"inputs\": [\"fine\", \"bad \xff\"]}"), 422, "Tokenizer", "invalid UTF-8 batch",
                 "input 1");
    expect_error(c.post(predict, "{\"inputs\": [\"ok\", \"\xed\xa0\x80\"]}"), 422, "Tokenizer", "UTF-16 surrogate");
    expect_error(c.post(tokenize, "{\"inputs\": \"\xc0\xaf\"}"), 422, "Tokenizer", "overlong encoding");
    // Over-long input: 422 without truncation (the default, as TEI), scores
    // of the cut input with "truncate": true.
    const std::string long_text = words(100);
    expect_error(c.post(predict, body(long_text)), 422, "Validation", "over-long", "64");
    expect_error(c.post(embed, body(long_text, "\"truncate\": false")), 422, "Validation", "over-long embed");
    expect_error(c.post(tokenize, body(long_text)), 422, "Validation", "over-long tokenize");
    Response cut = c.post(predict, body(long_text, "\"truncate\": true"));
    ASSERT_EQ(cut.status, 200) << cut.body;
    JsonDoc dc(cut.body);
    std::vector<encore_input> in = {{long_text.c_str(), nullptr}};
    EXPECT_EQ(check_predictions(dc.root, lib.scores(in).data(), lib.model), "");  // the session truncates
    // Unknown route, wrong method.
    expect_error(c.get(s.url("/nope")), 404, "NotFound", "unknown GET route");
    expect_error(c.post(s.url("/predict/extra"), body("a")), 404, "NotFound", "unknown POST route");
    Response wrong = c.get(predict);
    expect_error(wrong, 405, "MethodNotAllowed", "GET /predict");
    EXPECT_EQ(wrong.headers["allow"], "POST");
    Response wrong2 = c.post(s.url("/info"), body("a"));
    expect_error(wrong2, 405, "MethodNotAllowed", "POST /info");
    EXPECT_EQ(wrong2.headers["allow"], "GET, HEAD");
    expect_error(c.request("DELETE", s.url("/")), 405, "MethodNotAllowed", "DELETE /");
    const std::string small = body("a");
    expect_error(c.request("PUT", embed, &small), 405, "MethodNotAllowed", "PUT /embed");

    // Still serving, with the right answer.
    Response ok = c.post(predict, body("still here"));
    ASSERT_EQ(ok.status, 200) << ok.body;
    JsonDoc d(ok.body);
    std::vector<encore_input> in2 = {{"still here", nullptr}};
    EXPECT_EQ(check_predictions(d.root, lib.scores(in2).data(), lib.model), "");
    EXPECT_EQ(c.get(s.url("/health")).status, 200);
    EXPECT_EQ(s.stop(), 0);
}

TEST(ServeBadInput, PredictOnAModelWithoutAHeadIs424) {
    Server s;
    START(s, "--model", fixtures::model_dir("tiny-bert-embed"));
    Client c;
    expect_error(c.post(s.url("/predict"), body("a")), 424, "Backend", "no head", "classif");
    EXPECT_EQ(c.post(s.url("/embed"), body("a")).status, 200);
    EXPECT_EQ(s.stop(), 0);
}

TEST(ServeBadInput, AutoTruncateCutsByDefault) {
    Server s;
    START(s, "--model", fixtures::model_dir("tiny-bert-sst"), "--auto-truncate");
    Client c;
    EXPECT_EQ(c.post(s.url("/predict"), body(words(100))).status, 200);
    expect_error(c.post(s.url("/predict"), body(words(100), "\"truncate\": false")), 422, "Validation", "asked");
    EXPECT_EQ(s.stop(), 0);
}

TEST(ServeStartup, BadModelOrOptionsExitWithTwo) {
    Server a, b, d;
    EXPECT_FALSE(a.start({"--model", "/nonexistent/model"}));
    EXPECT_EQ(a.wait_exit(30), 2);
    EXPECT_FALSE(b.start({"--model", fixtures::model_dir("tiny-bert-sst"), "--max-batch-tokens", "0"}));
    EXPECT_EQ(b.wait_exit(30), 2);
    EXPECT_FALSE(d.start({"--model", fixtures::model_dir("tiny-bert-sst"), "--device", "tpu"}));
    EXPECT_EQ(d.wait_exit(30), 2);
}

// ---- overload and shutdown ------------------------------------------------------

// A request on its own thread.
struct Background {
    Response r;
    std::thread t;
    Background(const std::string &url, const std::string &b)
        : t([this, url, b] {
              Client c;
              r = c.post(url, b);
          }) {}
    ~Background() {
        if (t.joinable()) t.join();
    }
};

TEST(ServeOverload, AFullServerAnswers429NamingTheLimit) {
    Lib lib("tiny-bert-sst");
    Server s;
    // Batches wait up to 20 s to fill, so the first two requests stay in
    // flight until SIGTERM (shutdown stops the wait).
    START(s, "--model", fixtures::model_dir("tiny-bert-sst"), "--max-concurrent-requests", "2", "--batch-wait-us",
          "20000000");
    Client c;
    Background a(s.url("/predict"), body("first")), b(s.url("/embed"), body("second"));
    ASSERT_EQ(wait_metric(c, s, "te_queue_size", 2), 2);
    const double t0 = serve_harness::now_s();
    expect_error(c.post(s.url("/predict"), body("third")), 429, "Overloaded", "third request",
                 "--max-concurrent-requests 2");
    expect_error(c.post(s.url("/embed"), body("fourth")), 429, "Overloaded", "fourth request");
    // Routes that do not run the model still answer.
    EXPECT_EQ(c.post(s.url("/tokenize"), body("fifth")).status, 200);
    EXPECT_EQ(c.get(s.url("/info")).status, 200);
    EXPECT_EQ(s.stop(SIGTERM), 0);
    EXPECT_LT(serve_harness::now_s() - t0, 15);
    a.t.join();
    b.t.join();
    EXPECT_EQ(a.r.status, 200) << a.r.body << a.r.curl_error;
    EXPECT_EQ(b.r.status, 200) << b.r.body << b.r.curl_error;
    JsonDoc d(a.r.body);
    std::vector<encore_input> in = {{"first", nullptr}};
    EXPECT_EQ(check_predictions(d.root, lib.scores(in).data(), lib.model), "");
}

TEST(ServeShutdown, SigtermAnswersEveryRequestInFlightThenExitsZero) {
    Lib lib("tiny-bert-sst");
    Server s;
    START(s, "--model", fixtures::model_dir("tiny-bert-sst"), "--batch-wait-us", "20000000");
    Client c;
    auto t = texts("tiny-bert-sst", false);
    constexpr int kRequests = 16, kInputs = 4;
    std::vector<std::unique_ptr<Background>> bg;
    std::vector<std::vector<encore_input>> in(kRequests);
    for (int i = 0; i < kRequests; i++) {
        cJSON *batch = cJSON_CreateArray();
        for (int k = 0; k < kInputs; k++) {
            const std::string &text = t[(size_t)(i * kInputs + k) % t.size()].first;
            cJSON_AddItemToArray(batch, strings({text}));
            in[i].push_back({text.c_str(), nullptr});
        }
        bg.push_back(std::make_unique<Background>(s.url("/predict"), body(batch)));
    }
    // Every input is queued (the batch is held back to fill) when the signal
    // comes.
    ASSERT_EQ(wait_metric(c, s, "te_queue_size", kRequests * kInputs), kRequests * kInputs);
    const double t0 = serve_harness::now_s();
    EXPECT_EQ(s.stop(SIGTERM), 0);
    EXPECT_LT(serve_harness::now_s() - t0, 15);  // did not sit out the 20 s batch wait
    for (int i = 0; i < kRequests; i++) {
        bg[i]->t.join();
        ASSERT_EQ(bg[i]->r.status, 200) << bg[i]->r.body << bg[i]->r.curl_error;
        JsonDoc d(bg[i]->r.body);
        auto want = lib.scores(in[i]);
        for (int k = 0; k < kInputs; k++)
            EXPECT_EQ(check_predictions(cJSON_GetArrayItem(d.root, k), want.data() + k * 2, lib.model), "");
    }
    EXPECT_TRUE(serve_harness::connect_refused(s.port()));
}

TEST(ServeShutdown, SigintDoesTheSame) {
    Server s;
    START(s, "--model", fixtures::model_dir("tiny-bert-embed"), "--batch-wait-us", "20000000");
    Client c;
    Background a(s.url("/embed"), body("one")), b(s.url("/embed"), body(strings({"two", "three"})));
    ASSERT_EQ(wait_metric(c, s, "te_queue_size", 3), 3);
    EXPECT_EQ(s.stop(SIGINT), 0);
    a.t.join();
    b.t.join();
    EXPECT_EQ(a.r.status, 200);
    EXPECT_EQ(b.r.status, 200);
    JsonDoc d(b.r.body);
    EXPECT_EQ(cJSON_GetArraySize(d.root), 2);
}

// ---- load: many clients, no cross-talk ---------------------------------------------

TEST(ServeLoad, SixtyFourClientsTimesHundredRequestsEachGetTheirOwnAnswers) {
    Lib lib("tiny-bert-sst");
    Server s;
    START(s, "--model", fixtures::model_dir("tiny-bert-sst"), "--auto-truncate");
    const int L = lib.labels(), C = lib.hidden();
    // Texts of mixed lengths: the fixture texts (2 to 64 tokens), longer ones
    // cut to 64, and pairs.
    std::vector<std::pair<std::string, std::string>> pool = texts("tiny-bert-sst", false);
    for (int i = 0; i < 4; i++) pool.push_back({words(10 + 25 * i, i), ""});
    for (auto &p : texts("tiny-bert-sst", true)) pool.push_back(p);
    std::vector<encore_input> in;
    for (auto &p : pool) in.push_back({p.first.c_str(), p.second.empty() ? nullptr : p.second.c_str()});
    const auto scores = lib.scores(in), emb = lib.embed(in, true), emb_raw = lib.embed(in, false);

    constexpr int kClients = 64, kRequests = 100;
    std::atomic<int> failures{0}, done{0};
    std::mutex m;
    std::vector<std::string> errors;
    auto fail = [&](const std::string &what) {
        std::lock_guard<std::mutex> lock(m);
        if (errors.size() < 10) errors.push_back(what);
        failures++;
    };
    std::vector<std::thread> clients;
    for (int id = 0; id < kClients; id++) {
        clients.emplace_back([&, id] {
            Client c;
            std::mt19937 rng(1234 + id);
            for (int q = 0; q < kRequests; q++) {
                const int kind = (int)(rng() % 4), n = 1 + (int)(rng() % 3);
                std::vector<size_t> pick;
                for (int k = 0; k < n; k++) pick.push_back(rng() % pool.size());
                const bool pair_ok = kind < 2;  // /embed takes single texts only
                for (auto &p : pick)
                    while (!pair_ok && !pool[p].second.empty()) p = (p + 1) % pool.size();
                const bool batch = kind % 2 == 1;
                if (!batch) pick.resize(1);
                const bool normalize = rng() % 2;
                std::string req;
                if (kind < 2) {  // /predict
                    cJSON *inputs = batch ? cJSON_CreateArray() : nullptr;
                    for (size_t p : pick) {
                        cJSON *one = pool[p].second.empty() ? strings({pool[p].first})
                                                            : strings({pool[p].first, pool[p].second});
                        if (batch) cJSON_AddItemToArray(inputs, one);
                        else inputs = one;
                    }
                    req = body(inputs);
                } else {  // /embed
                    std::vector<std::string> t;
                    for (size_t p : pick) t.push_back(pool[p].first);
                    req = batch ? body(strings(t), normalize ? "" : "\"normalize\": false")
                                : body(t[0], normalize ? "" : "\"normalize\": false");
                }
                Response r = c.post(s.url(kind < 2 ? "/predict" : "/embed"), req);
                const std::string where = "client " + std::to_string(id) + " request " + std::to_string(q) + ": ";
                if (r.status != 200) {
                    fail(where + std::to_string(r.status) + " " + r.body + r.curl_error);
                    continue;
                }
                JsonDoc d(r.body);
                if (batch && cJSON_GetArraySize(d.root) != (int)pick.size()) {
                    fail(where + "wrong count: " + r.body);
                    continue;
                }
                for (size_t k = 0; k < pick.size(); k++) {
                    const cJSON *item = batch ? cJSON_GetArrayItem(d.root, (int)k) : d.root;
                    if (kind >= 2 && !batch) item = cJSON_GetArrayItem(d.root, 0);
                    std::string e = kind < 2 ? check_predictions(item, scores.data() + pick[k] * L, lib.model)
                                             : check_vector(item, (normalize ? emb : emb_raw).data() + pick[k] * C, C);
                    if (!e.empty()) fail(where + "input " + std::to_string(k) + ": " + e);
                }
                done++;
            }
        });
    }
    for (auto &t : clients) t.join();
    for (auto &e : errors) ADD_FAILURE() << e;
    EXPECT_EQ(failures.load(), 0);
    EXPECT_EQ(done.load(), kClients * kRequests);
    Client c;
    // Requests were batched together (more than one input per batch).
    EXPECT_GT(metric(c, s, "te_batch_next_size_count"), 0);
    EXPECT_LT(metric(c, s, "te_batch_next_size_count"), metric(c, s, "te_request_input_length_count"));
    EXPECT_EQ(s.stop(), 0);
}

}  // namespace
