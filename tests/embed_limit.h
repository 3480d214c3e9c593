// embed_limit.h: the cases of tests/fixtures' tiny-bert-embed-short, an
// embedding model whose sentence_bert_config.json max_seq_length (16) is below
// what the model takes (64), with sentence-transformers' embeddings of texts
// shorter than, at, between and beyond the two limits.
#pragma once

#include <algorithm>
#include <cmath>
#include <string>
#include <vector>

#include "fixtures.h"

namespace embed_limit {

inline const char *kModel = "tiny-bert-embed-short";
constexpr int kEmbedLimit = 16;  // sentence_bert_config.json max_seq_length
constexpr int kModelLimit = 64;  // max_position_embeddings and model_max_length
constexpr int kHidden = 32;

struct Case {
    std::string name, text;
    int n_tokens = 0;                  // before truncation, special tokens included
    std::vector<double> ids;           // what sentence-transformers feeds the model
    std::vector<double> embedding, embedding_normalized;
    bool between() const { return n_tokens > kEmbedLimit && n_tokens <= kModelLimit; }
};

// The cases, or an empty vector (and a message in *why) when the reference is
// missing or incomplete: a test that gets no cases must fail.
inline std::vector<Case> cases(std::string *why) {
    std::vector<Case> out;
    auto ref = fixtures::load(kModel);
    if (!ref || !ref->root) {
        *why = std::string("no reference ") + kModel + ".json";
        return {};
    }
    const cJSON *max_length = fixtures::get(ref->root, "max_length");
    const cJSON *embed_max_length = fixtures::get(ref->root, "embed_max_length");
    if (!cJSON_IsNumber(max_length) || max_length->valueint != kModelLimit || !cJSON_IsNumber(embed_max_length) ||
        embed_max_length->valueint != kEmbedLimit) {
        *why = "the reference's limits are not 64 and 16";
        return {};
    }
    const cJSON *c;
    int between = 0;
    cJSON_ArrayForEach(c, fixtures::get(ref->root, "cases")) {
        Case k;
        k.name = fixtures::str(c, "name");
        k.text = fixtures::str(c, "text");
        const cJSON *n = fixtures::get(c, "n_tokens");
        k.n_tokens = cJSON_IsNumber(n) ? n->valueint : 0;
        k.ids = fixtures::numbers(c, "ids");
        k.embedding = fixtures::numbers(c, "embedding");
        k.embedding_normalized = fixtures::numbers(c, "embedding_normalized");
        if (k.name.empty() || k.text.empty() || k.n_tokens < 2 ||
            k.ids.size() != (size_t)std::min(k.n_tokens, kEmbedLimit) || k.embedding.size() != (size_t)kHidden ||
            k.embedding_normalized.size() != (size_t)kHidden) {
            *why = "case " + k.name + " is incomplete";
            return {};
        }
        between += k.between();
        out.push_back(k);
    }
    if (out.size() < 8 || between < 3) {
        *why = "too few cases (" + std::to_string(out.size()) + ", " + std::to_string(between) +
               " between the limits)";
        return {};
    }
    return out;
}

// Largest |got - want|; infinite on NaN or a length mismatch.
inline double max_diff(const std::vector<double> &got, const std::vector<double> &want) {
    if (got.size() != want.size()) return INFINITY;
    double m = 0;
    for (size_t i = 0; i < want.size(); i++) {
        double d = std::fabs(got[i] - want[i]);
        if (std::isnan(d)) return INFINITY;
        if (d > m) m = d;
    }
    return m;
}

}  // namespace embed_limit
