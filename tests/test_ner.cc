// test_ner.cc: encore_session_token_classify against transformers'
// pipeline("token-classification") on the tiny token classifiers
// (models/make_ner_refs.py dumps what the pipeline returns: every
// aggregation strategy, ignore_labels default, empty and custom), and its
// refusals of bad input. Built twice: on the CPU (test_ner) and, with
// ENCORE_HAVE_CUDA, on a CUDA session in fp32 (test_cuda_ner, label cuda,
// which runs under the CUDA emulation too, on fewer cases: the device only
// computes the logits, the post-processing is the same host code).
#include <gtest/gtest.h>

#include <cmath>
#include <set>
#include <string>
#include <vector>

#include "fixtures.h"
#include "pipeline_session.h"
#include "encore.h"

namespace {

// Scores: the pipeline's are float32 from torch and numpy, encore's the same
// arithmetic in another order (fp32 GEMMs, a double softmax and means);
// 1e-5 is two orders above what they differ by on these fixtures.
constexpr double kScoreTol = 1e-5;

using pipeline_session::Loaded;

void open(const std::string &name, Loaded *l, int truncate = 1) {
    pipeline_session::Options o;
    o.truncate = truncate;
    pipeline_session::open_dir(fixtures::model_dir(name), l, o);
}


// The byte offset of code point `chars` of s: the test's own count, to hold
// the library's character offsets and byte offsets to each other.
size_t byte_of_char(const std::string &s, int chars) {
    size_t b = 0;
    for (int c = 0; c < chars && b < s.size(); c++) {
        b++;
        while (b < s.size() && ((unsigned char)s[b] & 0xC0) == 0x80) b++;
    }
    return b;
}

// Which cases run: all on the CPU; under CUDA (and its slow emulation) the
// strategies none and average, without ignore_labels, on a few texts, and
// simple on CJK (a group of several words for every tokenizer).
bool runs_here(const std::string &name) {
#ifdef ENCORE_HAVE_CUDA
    static const std::set<std::string> kCuda = {"names/none/all",   "names/average/all",      "accents/none/all",
                                                "cjk/average/all",  "unknown/none/all",       "long/average/all",
                                                "longer/stride8/simple", "cjk/simple/all"};
    return kCuda.count(name) > 0;
#else
    (void)name;
    return true;
#endif
}

struct Counts {
    int cases = 0, entities = 0, multi_token_groups = 0, non_ascii = 0, strided = 0;
};

void expect_case(const encore_token_classify_result *r, const cJSON *c, const std::string &text,
                 encore_aggregation agg, const std::string &where, Counts *n) {
    const cJSON *want = fixtures::get(c, "result");
    ASSERT_TRUE(cJSON_IsArray(want)) << where;
    EXPECT_EQ(r->aggregation, agg) << where;
    ASSERT_EQ(r->n_entities, cJSON_GetArraySize(want)) << where;
    for (int i = 0; i < r->n_entities; i++) {
        const encore_entity &e = r->entities[i];
        const cJSON *d = cJSON_GetArrayItem(want, i);
        const std::string at = where + " entity " + std::to_string(i);
        if (agg == ENCORE_AGGREGATION_NONE) {
            EXPECT_EQ(std::string(e.entity), fixtures::str(d, "entity")) << at;
            const cJSON *index = fixtures::get(d, "index");
            ASSERT_TRUE(cJSON_IsNumber(index)) << at;
            EXPECT_EQ(e.index, index->valueint) << at;
        } else {
            EXPECT_EQ(std::string(e.entity), fixtures::str(d, "entity_group")) << at;
            EXPECT_FALSE(fixtures::has(d, "index")) << at;
            EXPECT_EQ(e.index, -1) << at;
        }
        EXPECT_EQ(std::string(e.word), fixtures::str(d, "word")) << at;
        const cJSON *start = fixtures::get(d, "start"), *end = fixtures::get(d, "end"),
                    *score = fixtures::get(d, "score");
        ASSERT_TRUE(cJSON_IsNumber(start) && cJSON_IsNumber(end) && cJSON_IsNumber(score)) << at;
        EXPECT_EQ(e.start, start->valueint) << at;
        EXPECT_EQ(e.end, end->valueint) << at;
        EXPECT_NEAR(e.score, score->valuedouble, kScoreTol) << at;
        // The byte span is the character span.
        EXPECT_EQ((size_t)e.start_byte, byte_of_char(text, e.start)) << at;
        EXPECT_EQ((size_t)e.end_byte, byte_of_char(text, e.end)) << at;
        n->entities++;
        n->multi_token_groups += agg != ENCORE_AGGREGATION_NONE && std::string(e.word).find(' ') != std::string::npos;
        n->non_ascii += e.end_byte - e.start_byte != e.end - e.start;
    }
}

void ner_parity(const std::string &name) {
    auto ref = fixtures::load(name + ".ner");
    ASSERT_TRUE(ref && ref->root) << "no reference tests/fixtures/reference/" << name << ".ner.json";
    const cJSON *cases = fixtures::get(ref->root, "pipeline_cases");
    ASSERT_TRUE(cJSON_IsArray(cases) && cJSON_GetArraySize(cases) > 0) << name << ": no cases";
    Loaded l;
    ASSERT_NO_FATAL_FAILURE(open(name, &l));
    // The labels are the model's, in id order.
    const cJSON *labels = fixtures::get(ref->root, "labels");
    ASSERT_EQ(encore_model_n_token_outputs(l.model), cJSON_GetArraySize(labels));
    for (int i = 0; i < cJSON_GetArraySize(labels); i++)
        EXPECT_EQ(std::string(encore_model_token_label(l.model, i)), cJSON_GetArrayItem(labels, i)->valuestring);
    Counts n;
    std::set<std::string> strategies;
    const cJSON *c;
    cJSON_ArrayForEach(c, cases) {
        const std::string case_name = fixtures::str(c, "name");
        if (!runs_here(case_name)) continue;
        const std::string where = name + " case " + case_name;
        const std::string text = fixtures::str(c, "text");
        encore_token_classify_params p = encore_token_classify_default_params();
        // null: not passed to the pipeline (its default, none)
        if (fixtures::has(c, "aggregation_strategy")) {
            ASSERT_EQ(encore_aggregation_from_name(fixtures::str(c, "aggregation_strategy").c_str(), &p.aggregation),
                      ENCORE_STATUS_OK)
                << where;
        }
        if (fixtures::has(c, "stride")) {
            p.stride = fixtures::get(c, "stride")->valueint;
            n.strided++;
        }
        std::vector<const char *> ignore;
        const cJSON *ig = fixtures::get(c, "ignore_labels"), *item;
        if (cJSON_IsArray(ig)) {
            cJSON_ArrayForEach(item, ig) ignore.push_back(item->valuestring);
            static const char *const kNone[1] = {nullptr};
            p.ignore_labels = ignore.empty() ? kNone : ignore.data();  // non-NULL: ignore these (maybe none)
            p.n_ignore_labels = (int)ignore.size();
        }
        encore_token_classify_result *r = nullptr;
        ASSERT_EQ(encore_session_token_classify(l.session, text.c_str(), p, &r), ENCORE_STATUS_OK)
            << where << ": " << encore_session_last_error(l.session);
        expect_case(r, c, text, p.aggregation, where, &n);
        encore_token_classify_result_free(r);
        strategies.insert(encore_aggregation_name(p.aggregation));
        n.cases++;
    }
#ifdef ENCORE_HAVE_CUDA
    EXPECT_EQ(n.cases, 8) << "the CUDA case list names cases the reference lacks";
    EXPECT_EQ(n.strided, 1);
#else
    EXPECT_GE(n.cases, 150);
    EXPECT_GE(n.strided, 30);
    EXPECT_EQ(strategies.size(), 5u);
#endif
    EXPECT_GT(n.entities, 20);
    EXPECT_GT(n.multi_token_groups, 0) << "no group of several words";
    EXPECT_GT(n.non_ascii, 0) << "no entity over non-ASCII text";
}

TEST(Ner, BertMatchesPipeline) {
    NEED_DEVICE();
    ner_parity("tiny-bert-ner");
}

TEST(Ner, DistilBertMatchesPipeline) {
    NEED_DEVICE();
    ner_parity("tiny-distilbert-ner");
}

TEST(Ner, RobertaMatchesPipeline) {
    NEED_DEVICE();
    ner_parity("tiny-roberta-ner");
}

TEST(Ner, XlmRobertaMatchesPipeline) {
    NEED_DEVICE();
    ner_parity("tiny-xlmr-ner");
}

TEST(Ner, MpnetMatchesPipeline) {
    NEED_DEVICE();
    ner_parity("tiny-mpnet-ner");
}

TEST(Ner, ElectraMatchesPipeline) {
    NEED_DEVICE();
    ner_parity("tiny-electra-ner");
}

TEST(Ner, DebertaMatchesPipeline) {
    NEED_DEVICE();
    ner_parity("tiny-deberta-ner");
}

// ---- the strategy names ---------------------------------------------------

TEST(Ner, AggregationNames) {
    const char *names[] = {"none", "simple", "first", "average", "max"};
    for (int i = 0; i < 5; i++) {
        encore_aggregation a;
        ASSERT_EQ(encore_aggregation_from_name(names[i], &a), ENCORE_STATUS_OK) << names[i];
        EXPECT_EQ((int)a, i);
        EXPECT_STREQ(encore_aggregation_name(a), names[i]);
    }
    // The pipeline takes AggregationStrategy[name.upper()]: any case.
    encore_aggregation a = ENCORE_AGGREGATION_NONE;
    EXPECT_EQ(encore_aggregation_from_name("SIMPLE", &a), ENCORE_STATUS_OK);
    EXPECT_EQ(a, ENCORE_AGGREGATION_SIMPLE);
    EXPECT_EQ(encore_aggregation_from_name("Average", &a), ENCORE_STATUS_OK);
    EXPECT_EQ(a, ENCORE_AGGREGATION_AVERAGE);
    for (const char *bad : {"", "simpl", "simplex", "mean", "none ", "maximum"}) {
        EXPECT_EQ(encore_aggregation_from_name(bad, &a), ENCORE_STATUS_INVALID_ARGUMENT) << bad;
        EXPECT_NE(std::string(encore_last_error()).find("none, simple, first, average or max"), std::string::npos)
            << encore_last_error();
    }
    EXPECT_EQ(encore_aggregation_from_name(nullptr, &a), ENCORE_STATUS_INVALID_ARGUMENT);
    EXPECT_EQ(encore_aggregation_from_name("none", nullptr), ENCORE_STATUS_INVALID_ARGUMENT);
    EXPECT_EQ(encore_aggregation_name((encore_aggregation)5), nullptr);
    EXPECT_EQ(encore_aggregation_name((encore_aggregation)-1), nullptr);
}

// ---- bad input: a status and a message, never a crash ----------------------

TEST(Ner, RefusesBadInput) {
    NEED_DEVICE();
    Loaded l;
    ASSERT_NO_FATAL_FAILURE(open("tiny-bert-ner", &l));
    encore_token_classify_params p = encore_token_classify_default_params();
    encore_token_classify_result *r = nullptr;
    EXPECT_EQ(encore_session_token_classify(l.session, "bad \xff utf-8", p, &r), ENCORE_STATUS_BAD_INPUT);
    EXPECT_EQ(r, nullptr);
    EXPECT_EQ(encore_session_token_classify(l.session, "overlong \xc0\xaf", p, &r), ENCORE_STATUS_BAD_INPUT);
    EXPECT_EQ(encore_session_token_classify(l.session, "surrogate \xed\xa0\x80", p, &r), ENCORE_STATUS_BAD_INPUT);
    EXPECT_EQ(encore_session_token_classify(l.session, nullptr, p, &r), ENCORE_STATUS_INVALID_ARGUMENT);
    EXPECT_EQ(encore_session_token_classify(l.session, "a", p, nullptr), ENCORE_STATUS_INVALID_ARGUMENT);
    EXPECT_EQ(encore_session_token_classify(nullptr, "a", p, &r), ENCORE_STATUS_INVALID_ARGUMENT);
    p.aggregation = (encore_aggregation)7;
    EXPECT_EQ(encore_session_token_classify(l.session, "a", p, &r), ENCORE_STATUS_INVALID_ARGUMENT);
    EXPECT_NE(std::string(encore_session_last_error(l.session)).find("aggregation strategy"), std::string::npos)
        << encore_session_last_error(l.session);
    p = encore_token_classify_default_params();
    const char *with_null[] = {"O", nullptr};
    p.ignore_labels = with_null;
    p.n_ignore_labels = 2;
    EXPECT_EQ(encore_session_token_classify(l.session, "a", p, &r), ENCORE_STATUS_INVALID_ARGUMENT);
    p.n_ignore_labels = -1;
    EXPECT_EQ(encore_session_token_classify(l.session, "a", p, &r), ENCORE_STATUS_INVALID_ARGUMENT);
    EXPECT_EQ(r, nullptr);
    encore_token_classify_result_free(nullptr);
}

// What the pipeline and tokenizers refuse of a stride: the window or more
// (the pipeline), a stride that leaves a window no new tokens (tokenizers:
// 62 of 64 tokens are the text's); below -1 is no stride at all.
TEST(Ner, RefusesBadStrides) {
    NEED_DEVICE();
    Loaded l;
    ASSERT_NO_FATAL_FAILURE(open("tiny-bert-ner", &l));
    std::string text;
    for (int i = 0; i < 80; i++) text += "word ";
    encore_token_classify_params p = encore_token_classify_default_params();
    p.aggregation = ENCORE_AGGREGATION_SIMPLE;
    encore_token_classify_result *r = nullptr;
    for (int stride : {64, 100, -2}) {
        p.stride = stride;
        EXPECT_EQ(encore_session_token_classify(l.session, text.c_str(), p, &r), ENCORE_STATUS_INVALID_ARGUMENT)
            << stride;
        EXPECT_NE(std::string(encore_session_last_error(l.session)).find("stride"), std::string::npos);
    }
    for (int stride : {62, 63}) {
        p.stride = stride;
        EXPECT_EQ(encore_session_token_classify(l.session, text.c_str(), p, &r), ENCORE_STATUS_BAD_INPUT) << stride;
        EXPECT_NE(std::string(encore_session_last_error(l.session)).find("stride"), std::string::npos)
            << encore_session_last_error(l.session);
    }
    EXPECT_EQ(r, nullptr);
    // The largest stride tokenizers takes covers the whole text.
    p.stride = 61;
    ASSERT_EQ(encore_session_token_classify(l.session, text.c_str(), p, &r), ENCORE_STATUS_OK)
        << encore_session_last_error(l.session);
    ASSERT_GT(r->n_entities, 0);
    EXPECT_EQ(r->entities[r->n_entities - 1].end_byte, (int)text.size() - 1);
    encore_token_classify_result_free(r);
}

// The pipeline always truncates; a session that does not gives TOO_LONG.
TEST(Ner, LongTextWithoutTruncationIsTooLong) {
    NEED_DEVICE();
    Loaded l;
    ASSERT_NO_FATAL_FAILURE(open("tiny-bert-ner", &l, 0));
    std::string text;
    for (int i = 0; i < 80; i++) text += "word ";
    encore_token_classify_result *r = nullptr;
    EXPECT_EQ(encore_session_token_classify(l.session, text.c_str(), encore_token_classify_default_params(), &r),
              ENCORE_STATUS_TOO_LONG);
    EXPECT_EQ(r, nullptr);
}

TEST(Ner, RefusesModelsWithoutATokenClassifier) {
    NEED_DEVICE();
    for (const char *name : {"tiny-bert-sst", "tiny-bert-qa", "tiny-bert-mlm"}) {
        Loaded l;
        ASSERT_NO_FATAL_FAILURE(open(name, &l));
        encore_token_classify_result *r = nullptr;
        EXPECT_EQ(encore_session_token_classify(l.session, "a film", encore_token_classify_default_params(), &r),
                  ENCORE_STATUS_UNSUPPORTED)
            << name;
        EXPECT_EQ(r, nullptr);
        EXPECT_NE(std::string(encore_session_last_error(l.session)).find("no token classifier"), std::string::npos)
            << encore_session_last_error(l.session);
    }
}

}  // namespace
