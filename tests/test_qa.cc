// test_qa.cc: encore_session_question_answer against transformers 4.57's
// pipeline("question-answering") on the tiny span-head fixtures
// (tests/fixtures/reference/<model>.qa.json, made by models/make_qa_refs.py):
// the shape of each result (a bare answer or a list), every answer's text and
// character offsets exactly, scores within kScoreTol; and the refusals of bad
// input. Built twice: on the CPU (test_qa) and, with ENCORE_HAVE_CUDA, on a
// CUDA session in fp32 (test_cuda_qa, label cuda, which runs under the CUDA
// emulation too, on a few short cases: each emulated GPU thread is a fiber).
#include <gtest/gtest.h>

#include <set>
#include <string>
#include <vector>

#include "encore.h"
#include "fixtures.h"
#include "pipeline_session.h"

namespace {

// The pipeline's scores are float32 numpy softmaxes multiplied and summed in
// Python floats; encore's are the same in double from its own fp32 logits,
// which agree with transformers' to about 1e-6 (test_token_heads). Scores here
// are products of two probabilities of about 0.1, so 1e-5 is ten times what
// the fixtures differ by (measured: under 3e-7).
constexpr double kScoreTol = 1e-5;

using pipeline_session::Loaded;

void open(const std::string &name, Loaded *l) { pipeline_session::open_dir(fixtures::model_dir(name), l); }

#ifdef ENCORE_HAVE_CUDA
// Under the emulation each window costs seconds: a few short cases, one of
// them with several windows.
const std::set<std::string> kCudaCases = {"short", "max_seq_len_24", "impossible_wins_top_k", "accents",
                                          "impossible_null_wins"};
#endif

encore_qa_params params_of(const cJSON *p) {
    encore_qa_params q = encore_qa_default_params();
    const cJSON *v;
    if ((v = fixtures::get(p, "top_k"))) q.top_k = v->valueint;
    if ((v = fixtures::get(p, "doc_stride"))) q.doc_stride = v->valueint;
    if ((v = fixtures::get(p, "max_answer_len"))) q.max_answer_len = v->valueint;
    if ((v = fixtures::get(p, "max_seq_len"))) q.max_seq_len = v->valueint;
    if ((v = fixtures::get(p, "max_question_len"))) q.max_question_len = v->valueint;
    if ((v = fixtures::get(p, "handle_impossible_answer"))) q.handle_impossible_answer = cJSON_IsTrue(v);
    if ((v = fixtures::get(p, "align_to_words"))) q.align_to_words = cJSON_IsTrue(v);
    return q;
}

// The (question, context) pairs of a case, as the pipeline's argument
// handler makes them: question= and context= keywords (a list of questions
// shares one context) or a list of {question, context}.
std::vector<std::pair<std::string, std::string>> pairs_of(const cJSON *inputs) {
    std::vector<std::pair<std::string, std::string>> out;
    if (cJSON_IsArray(inputs)) {
        const cJSON *item;
        cJSON_ArrayForEach(item, inputs) out.emplace_back(fixtures::str(item, "question"), fixtures::str(item, "context"));
        return out;
    }
    const cJSON *q = fixtures::get(inputs, "question");
    const std::string context = fixtures::str(inputs, "context");
    if (cJSON_IsArray(q)) {
        const cJSON *item;
        cJSON_ArrayForEach(item, q) out.emplace_back(item->valuestring, context);
    } else {
        out.emplace_back(fixtures::str(inputs, "question"), context);
    }
    return out;
}

// One pair's result against the pipeline's: a bare answer when there is one.
void expect_result(const encore_qa_result *r, const cJSON *want, const std::string &where) {
    std::vector<const cJSON *> answers;
    if (cJSON_IsObject(want)) {
        answers.push_back(want);
    } else {
        ASSERT_TRUE(cJSON_IsArray(want)) << where;
        const cJSON *a;
        cJSON_ArrayForEach(a, want) answers.push_back(a);
        EXPECT_NE(answers.size(), 1u) << where << ": the pipeline returns one answer bare";
    }
    ASSERT_EQ(r->n_answers, (int)answers.size()) << where;
    for (int i = 0; i < r->n_answers; i++) {
        const std::string at = where + " answer " + std::to_string(i);
        const encore_qa_answer &got = r->answers[i];
        EXPECT_EQ(std::string(got.answer), fixtures::str(answers[i], "answer")) << at;
        EXPECT_EQ(got.start, (int)fixtures::get(answers[i], "start")->valuedouble) << at;
        EXPECT_EQ(got.end, (int)fixtures::get(answers[i], "end")->valuedouble) << at;
        EXPECT_NEAR(got.score, fixtures::get(answers[i], "score")->valuedouble, kScoreTol) << at;
    }
}

class QaReference : public ::testing::TestWithParam<const char *> {};

TEST_P(QaReference, MatchesPipeline) {
    NEED_DEVICE();
    const std::string name = GetParam();
    auto ref = fixtures::load(name + ".qa");
    ASSERT_TRUE(ref && ref->root) << "tests/fixtures/reference/" << name << ".qa.json is missing";
    Loaded l;
    open(name, &l);
    ASSERT_TRUE(l.session);
    const cJSON *cases = fixtures::get(ref->root, "cases");
    ASSERT_TRUE(cJSON_IsArray(cases));
    int checked = 0;
    const cJSON *c;
    cJSON_ArrayForEach(c, cases) {
        const std::string cname = fixtures::str(c, "name");
#ifdef ENCORE_HAVE_CUDA
        if (!kCudaCases.count(cname)) continue;
#endif
        const auto pairs = pairs_of(fixtures::get(c, "inputs"));
        const encore_qa_params p = params_of(fixtures::get(c, "parameters"));
        cJSON *output = cJSON_GetObjectItemCaseSensitive(c, "output");
        fixtures::drop_zero_score_fill(output);
        ASSERT_FALSE(pairs.empty()) << cname;
        for (size_t i = 0; i < pairs.size(); i++) {
            const std::string where = cname + " pair " + std::to_string(i);
            // Several pairs: a list with one result per pair.
            const cJSON *want = pairs.size() > 1 ? cJSON_GetArrayItem(output, (int)i) : output;
            encore_qa_result *r = nullptr;
            ASSERT_EQ(encore_session_question_answer(l.session, pairs[i].first.c_str(), pairs[i].second.c_str(), p, &r),
                      ENCORE_STATUS_OK)
                << where << ": " << encore_session_last_error(l.session);
            expect_result(r, want, where);
            encore_qa_result_free(r);
            checked++;
        }
    }
#ifdef ENCORE_HAVE_CUDA
    EXPECT_EQ(checked, (int)kCudaCases.size());
#else
    EXPECT_GE(checked, 20);
#endif
}

#ifdef ENCORE_HAVE_CUDA
// RoBERTa's network once (XLM-R's is the same on the device; its tokenizer
// and words are host code, which test_qa covers), MPNet's, ELECTRA's and
// DeBERTa's.
INSTANTIATE_TEST_SUITE_P(Fixtures, QaReference,
                         ::testing::Values("tiny-bert-qa", "tiny-distilbert-qa", "tiny-roberta-qa", "tiny-mpnet-qa",
                                           "tiny-electra-qa", "tiny-deberta-qa"));
#else
INSTANTIATE_TEST_SUITE_P(Fixtures, QaReference,
                         ::testing::Values("tiny-bert-qa", "tiny-distilbert-qa", "tiny-roberta-qa", "tiny-xlmr-qa",
                                           "tiny-mpnet-qa", "tiny-electra-qa", "tiny-deberta-qa"));
#endif

encore_status ask(encore_session *s, const char *q, const char *c, encore_qa_params p, std::string *err) {
    encore_qa_result *r = nullptr;
    const encore_status st = encore_session_question_answer(s, q, c, p, &r);
    *err = encore_session_last_error(s);
    if (st != ENCORE_STATUS_OK) {
        EXPECT_EQ(r, nullptr);
    }
    encore_qa_result_free(r);
    return st;
}

TEST(Qa, RefusesBadInput) {
    NEED_DEVICE();
    Loaded l;
    open("tiny-bert-qa", &l);
    ASSERT_TRUE(l.session);
    const encore_qa_params d = encore_qa_default_params();
    std::string err;
    EXPECT_EQ(ask(l.session, "Who?", nullptr, d, &err), ENCORE_STATUS_BAD_INPUT);
    EXPECT_NE(err.find("context"), std::string::npos) << err;
    EXPECT_EQ(ask(l.session, nullptr, "A context.", d, &err), ENCORE_STATUS_BAD_INPUT);
    EXPECT_EQ(ask(l.session, "", "A context.", d, &err), ENCORE_STATUS_BAD_INPUT);
    EXPECT_NE(err.find("question is empty"), std::string::npos) << err;
    EXPECT_EQ(ask(l.session, "Who?", "", d, &err), ENCORE_STATUS_BAD_INPUT);
    EXPECT_NE(err.find("context is empty"), std::string::npos) << err;
    EXPECT_EQ(ask(l.session, "Who?", "   ", d, &err), ENCORE_STATUS_BAD_INPUT);
    EXPECT_NE(err.find("no tokens"), std::string::npos) << err;
    const char bad[] = {'W', 'h', 'o', (char)0xE2, (char)0x82, '?', 0};
    EXPECT_EQ(ask(l.session, bad, "A context.", d, &err), ENCORE_STATUS_BAD_INPUT);
    EXPECT_NE(err.find("UTF-8"), std::string::npos) << err;
    EXPECT_EQ(ask(l.session, "Who?", bad, d, &err), ENCORE_STATUS_BAD_INPUT);
    EXPECT_NE(err.find("UTF-8"), std::string::npos) << err;

    encore_qa_params p = d;
    p.max_seq_len = 16;
    p.doc_stride = 17;  // the pipeline: doc_stride larger than max_seq_len
    EXPECT_EQ(ask(l.session, "Who?", "A context.", p, &err), ENCORE_STATUS_INVALID_ARGUMENT);
    EXPECT_NE(err.find("doc_stride"), std::string::npos) << err;
    p.doc_stride = 12;  // tokenizers: the stride must be less than the room the question leaves (16 - 2 - 3)
    EXPECT_EQ(ask(l.session, "Who?", "One two three four five six seven eight nine ten eleven twelve.", p, &err),
              ENCORE_STATUS_BAD_INPUT);
    EXPECT_NE(err.find("stride"), std::string::npos) << err;
    p.doc_stride = 2;   // a question that leaves the context no room
    EXPECT_EQ(ask(l.session, "Who watched the harbour through binoculars every single evening?",
                  "One two three four five six seven eight nine ten eleven twelve.", p, &err),
              ENCORE_STATUS_BAD_INPUT);
    EXPECT_NE(err.find("no room"), std::string::npos) << err;
    p = d;
    p.max_seq_len = encore_model_max_length(l.model) + 1;
    EXPECT_EQ(ask(l.session, "Who?", "A context.", p, &err), ENCORE_STATUS_INVALID_ARGUMENT);
    EXPECT_NE(err.find("max_seq_len"), std::string::npos) << err;
    p = d;
    p.top_k = 0;
    EXPECT_EQ(ask(l.session, "Who?", "A context.", p, &err), ENCORE_STATUS_INVALID_ARGUMENT);
    p = d;
    p.max_answer_len = 0;
    EXPECT_EQ(ask(l.session, "Who?", "A context.", p, &err), ENCORE_STATUS_INVALID_ARGUMENT);
    encore_qa_result *r = nullptr;
    EXPECT_EQ(encore_session_question_answer(l.session, "Who?", "A context.", d, nullptr),
              ENCORE_STATUS_INVALID_ARGUMENT);
    EXPECT_EQ(encore_session_question_answer(nullptr, "Who?", "A context.", d, &r), ENCORE_STATUS_INVALID_ARGUMENT);
    encore_qa_result_free(nullptr);
}

// UTF-8 of code points below U+10000.
std::string utf8(const std::u32string &s) {
    std::string out;
    for (char32_t ch : s) {
        if (ch < 0x80) {
            out += (char)ch;
        } else if (ch < 0x800) {
            out += (char)(0xC0 | (ch >> 6));
            out += (char)(0x80 | (ch & 0x3F));
        } else {
            out += (char)(0xE0 | (ch >> 12));
            out += (char)(0x80 | ((ch >> 6) & 0x3F));
            out += (char)(0x80 | (ch & 0x3F));
        }
    }
    return out;
}

// [CLS] and [SEP] typed into the text are special tokens: in the question
// the pipeline leaves a [CLS] unmasked (its offsets are the question's), so
// encore answers from context tokens only. Every answer must be the context's
// text at its offsets, in characters (the context here is not ASCII).
TEST(Qa, AnswersAreSpansOfTheContext) {
    NEED_DEVICE();
    Loaded l;
    open("tiny-bert-qa", &l);
    ASSERT_TRUE(l.session);
    // The second context is shorter than the question: a [CLS] near the
    // question's end has offsets past it.
    const std::u32string contexts[] = {U"[CLS] Zürich [SEP] is where the café 東京 served crème brûlée [CLS].",
                                       U"Zürich [CLS] café."};
    const char *question = "[CLS] Where, in the end, did they serve it? Where exactly? [SEP] [CLS]?";
    encore_qa_params p = encore_qa_default_params();
    p.top_k = 50;
    for (int k = 0; k < 4; k++) {
        const std::u32string &ctx32 = contexts[k / 2];
        const std::string ctx = utf8(ctx32);
        p.align_to_words = k % 2;
        SCOPED_TRACE("context " + std::to_string(k / 2) + (p.align_to_words ? ", words" : ", tokens"));
        encore_qa_result *r = nullptr;
        ASSERT_EQ(encore_session_question_answer(l.session, question, ctx.c_str(), p, &r), ENCORE_STATUS_OK)
            << encore_session_last_error(l.session);
        EXPECT_GE(r->n_answers, 3);
        for (int i = 0; i < r->n_answers; i++) {
            const encore_qa_answer &a = r->answers[i];
            ASSERT_GE(a.start, 0);
            ASSERT_LE(a.start, a.end);
            ASSERT_LE(a.end, (int)ctx32.size());
            EXPECT_EQ(std::string(a.answer), utf8(ctx32.substr((size_t)a.start, (size_t)(a.end - a.start))))
                << "answer " << i;
            EXPECT_GT(a.score, 0.0f);
            if (i) {
                EXPECT_LE(a.score, r->answers[i - 1].score);
            }
        }
        encore_qa_result_free(r);
    }
}

TEST(Qa, RefusesModelWithoutSpanHead) {
    NEED_DEVICE();
    Loaded l;
    open("tiny-bert-ner", &l);
    ASSERT_TRUE(l.session);
    std::string err;
    EXPECT_EQ(ask(l.session, "Who?", "A context.", encore_qa_default_params(), &err), ENCORE_STATUS_UNSUPPORTED);
    EXPECT_NE(err.find("not a question-answering model"), std::string::npos) << err;
}

}  // namespace
