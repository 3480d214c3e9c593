// fixtures.h: read the reference dumps of tests/fixtures (see its README).
#pragma once

#include <cJSON.h>

#include <cmath>
#include <cstdio>
#include <cstring>
#include <fstream>
#include <memory>
#include <sstream>
#include <string>
#include <vector>

#include "encore.h"

namespace fixtures {

inline std::string dir() { return ENCORE_FIXTURES_DIR; }
inline std::string model_dir(const std::string &name) { return dir() + "/models/" + name; }

struct Json {
    cJSON *root = nullptr;
    explicit Json(cJSON *r) : root(r) {}
    Json(const Json &) = delete;
    ~Json() { cJSON_Delete(root); }
};

inline std::unique_ptr<Json> load(const std::string &name) {
    std::ifstream f(dir() + "/reference/" + name + ".json");
    if (!f) return nullptr;
    std::stringstream ss;
    ss << f.rdbuf();
    return std::make_unique<Json>(cJSON_Parse(ss.str().c_str()));
}

inline const cJSON *get(const cJSON *obj, const char *key) { return cJSON_GetObjectItemCaseSensitive(obj, key); }

inline std::string str(const cJSON *obj, const char *key) {
    const cJSON *v = get(obj, key);
    return cJSON_IsString(v) ? v->valuestring : "";
}

inline bool has(const cJSON *obj, const char *key) {
    const cJSON *v = get(obj, key);
    return v && !cJSON_IsNull(v);
}

inline std::vector<double> numbers(const cJSON *arr) {
    std::vector<double> out;
    const cJSON *v;
    cJSON_ArrayForEach(v, arr) out.push_back(v->valuedouble);
    return out;
}

inline std::vector<double> numbers(const cJSON *obj, const char *key) { return numbers(get(obj, key)); }

// The input of a case; the strings live as long as the JSON.
inline encore_input input(const cJSON *c) {
    const cJSON *pair = get(c, "text_pair");
    return {get(c, "text")->valuestring, cJSON_IsString(pair) ? pair->valuestring : nullptr};
}

// A C string cannot hold U+0000, and cJSON cuts a string at "\u0000": a case
// whose tokens reach past the end of its C string had one.
inline bool has_nul(const cJSON *c) {
    const cJSON *offsets = get(c, "offsets"), *seq = get(c, "sequence_ids");
    size_t len[2] = {std::strlen(get(c, "text")->valuestring), 0};
    const cJSON *pair = get(c, "text_pair");
    if (cJSON_IsString(pair)) len[1] = std::strlen(pair->valuestring);
    for (int i = 0; i < cJSON_GetArraySize(offsets); i++) {
        const cJSON *s = cJSON_GetArrayItem(seq, i);
        if (!cJSON_IsNumber(s)) continue;
        if (cJSON_GetArrayItem(cJSON_GetArrayItem(offsets, i), 1)->valueint > (int)len[s->valueint]) return true;
    }
    return false;
}

inline double max_abs_diff(const float *got, const std::vector<double> &want) {
    double m = 0;
    for (size_t i = 0; i < want.size(); i++) {
        double d = std::fabs((double)got[i] - want[i]);
        if (std::isnan(d)) return INFINITY;
        if (d > m) m = d;
    }
    return m;
}

}  // namespace fixtures
