// splade_reference.h: the SPLADE fixtures' reference weights
// (tests/fixtures/reference/<name>.splade.safetensors, one (vocab_size)
// float32 tensor per single-text case, named by the case's "splade" key) and
// the sparse lists encore prints and serves ([{"index", "value"}, ...]).
#ifndef ENCORE_TESTS_SPLADE_REFERENCE_H
#define ENCORE_TESTS_SPLADE_REFERENCE_H

#include <string>
#include <vector>

#include "core/safetensors.h"
#include "fixtures.h"

namespace splade_reference {

// The weights of case c, or empty when the file lacks them.
inline std::vector<float> weights(encore_safetensors *st, const cJSON *c) {
    const encore_tensor_info *t = encore_safetensors_find(st, fixtures::str(c, "splade").c_str());
    if (!t) return {};
    std::vector<float> v(t->n_elements);
    if (encore_tensor_to_f32(t, v.data()) != ENCORE_STATUS_OK) return {};
    return v;
}

// A sparse list as V dense weights. Entries must come in vocabulary order,
// once each, none of them 0; otherwise *error says where, and the result is
// empty.
inline std::vector<double> dense(const cJSON *list, int V, std::string *error) {
    if (!cJSON_IsArray(list)) {
        *error = "not a list";
        return {};
    }
    std::vector<double> d(V, 0.0);
    int last = -1;
    const cJSON *e;
    cJSON_ArrayForEach(e, list) {
        const cJSON *i = fixtures::get(e, "index"), *v = fixtures::get(e, "value");
        if (!cJSON_IsNumber(i) || !cJSON_IsNumber(v) || i->valueint <= last || i->valueint >= V || v->valuedouble == 0) {
            *error = "bad entry after index " + std::to_string(last);
            return {};
        }
        last = i->valueint;
        d[last] = v->valuedouble;
    }
    return d;
}

}  // namespace splade_reference

#endif  // ENCORE_TESTS_SPLADE_REFERENCE_H
