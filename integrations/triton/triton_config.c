/* triton_config.c: parameters, auto-completion and checks of an encore
 * model's Triton configuration (see triton_config.h). */
#include "triton_config.h"

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

int triton_fail(char *err, size_t err_size, const char *fmt, ...)
{
    if (err && err_size) {
        va_list ap;
        va_start(ap, fmt);
        vsnprintf(err, err_size, fmt, ap);
        va_end(ap);
    }
    return -1;
}

int encore_triton_json_int(const cJSON *item, int64_t *out)
{
    if (cJSON_IsNumber(item)) {
        double v = item->valuedouble;
        if (v != (double)(int64_t)v)
            return -1;
        *out = (int64_t)v;
        return 0;
    }
    if (cJSON_IsString(item) && item->valuestring[0]) {
        char *end = NULL;
        errno = 0;
        long long v = strtoll(item->valuestring, &end, 10);
        if (errno || *end)
            return -1;
        *out = (int64_t)v;
        return 0;
    }
    return -1;
}

int64_t encore_triton_config_max_batch_size(const cJSON *config)
{
    const cJSON *item = cJSON_GetObjectItemCaseSensitive(config, "max_batch_size");
    int64_t v = 0;
    if (!item)
        return 0;
    if (encore_triton_json_int(item, &v) != 0 || v < 0)
        return -1;
    return v;
}

/* parameters { key: "name" value: { string_value: "..." } } */
static const char *parameter(const cJSON *config, const char *name)
{
    const cJSON *params = cJSON_GetObjectItemCaseSensitive(config, "parameters");
    const cJSON *p = cJSON_GetObjectItemCaseSensitive(params, name);
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(p, "string_value");
    return cJSON_IsString(v) ? v->valuestring : NULL;
}

static int parse_bool(const char *s, int *out)
{
    if (!strcmp(s, "true") || !strcmp(s, "1") || !strcmp(s, "yes")) {
        *out = 1;
        return 0;
    }
    if (!strcmp(s, "false") || !strcmp(s, "0") || !strcmp(s, "no")) {
        *out = 0;
        return 0;
    }
    return -1;
}

static int parse_count(const char *s, int *out)
{
    char *end = NULL;
    errno = 0;
    long v = strtol(s, &end, 10);
    if (errno || !s[0] || *end || v < 0 || v > 1 << 20)
        return -1;
    *out = (int)v;
    return 0;
}

int encore_triton_options_parse(const cJSON *config, const char *model_folder, uint64_t version,
                                encore_triton_options *out, char *err, size_t err_size)
{
    memset(out, 0, sizeof *out);
    out->weights = ENCORE_WEIGHTS_FP32;
    out->pooling = ENCORE_POOLING_DEFAULT;
    out->normalize = 0;
    out->truncate = 1;
    out->device = ENCORE_DEVICE_AUTO;
    out->precision = ENCORE_PRECISION_DEFAULT;

    const cJSON *params = cJSON_GetObjectItemCaseSensitive(config, "parameters");
    const cJSON *p = NULL;
    cJSON_ArrayForEach(p, params) {
        static const char *const known[] = {"model_directory", "weights", "pooling", "normalize", "truncate",
                                            "device", "precision", "threads", "max_batch_tokens"};
        int ok = 0;
        for (size_t i = 0; i < sizeof known / sizeof known[0]; i++)
            ok |= p->string && !strcmp(p->string, known[i]);
        if (!ok)
            return triton_fail(err, err_size,
                        "unknown parameter '%s' (encore takes model_directory, weights, pooling, normalize, "
                        "truncate, device, precision, threads, max_batch_tokens)",
                        p->string ? p->string : "");
        if (!cJSON_IsString(cJSON_GetObjectItemCaseSensitive(p, "string_value")))
            return triton_fail(err, err_size, "parameter '%s' needs a string_value", p->string);
    }

    const char *dir = parameter(config, "model_directory");
    int n;
    if (dir && dir[0] == '/')
        n = snprintf(out->model_directory, sizeof out->model_directory, "%s", dir);
    else if (dir)
        n = snprintf(out->model_directory, sizeof out->model_directory, "%s/%s", model_folder, dir);
    else
        n = snprintf(out->model_directory, sizeof out->model_directory, "%s/%llu", model_folder,
                     (unsigned long long)version);
    if (n < 0 || (size_t)n >= sizeof out->model_directory)
        return triton_fail(err, err_size, "the model directory's path is too long");

    const char *s;
    if ((s = parameter(config, "weights"))) {
        if (!strcmp(s, "fp32")) out->weights = ENCORE_WEIGHTS_FP32;
        else if (!strcmp(s, "bf16")) out->weights = ENCORE_WEIGHTS_BF16;
        else if (!strcmp(s, "int8")) out->weights = ENCORE_WEIGHTS_INT8;
        else if (!strcmp(s, "int8-dynamic")) out->weights = ENCORE_WEIGHTS_INT8_DYNAMIC;
        else return triton_fail(err, err_size, "parameter weights: '%s' is not fp32, bf16, int8 or int8-dynamic", s);
    }
    if ((s = parameter(config, "pooling"))) {
        if (!strcmp(s, "default")) out->pooling = ENCORE_POOLING_DEFAULT;
        else if (!strcmp(s, "mean")) out->pooling = ENCORE_POOLING_MEAN;
        else if (!strcmp(s, "cls")) out->pooling = ENCORE_POOLING_CLS;
        else if (!strcmp(s, "splade")) out->splade = 1;
        else return triton_fail(err, err_size, "parameter pooling: '%s' is not default, mean, cls or splade", s);
    }
    if ((s = parameter(config, "normalize")) && parse_bool(s, &out->normalize) != 0)
        return triton_fail(err, err_size, "parameter normalize: '%s' is not true or false", s);
    if ((s = parameter(config, "truncate")) && parse_bool(s, &out->truncate) != 0)
        return triton_fail(err, err_size, "parameter truncate: '%s' is not true or false", s);
    if ((s = parameter(config, "device"))) {
        if (!strcmp(s, "cpu")) out->device = ENCORE_DEVICE_CPU;
        else if (!strcmp(s, "cuda")) out->device = ENCORE_DEVICE_CUDA;
        else if (!strcmp(s, "auto")) out->device = ENCORE_DEVICE_AUTO;
        else return triton_fail(err, err_size, "parameter device: '%s' is not cpu, cuda or auto", s);
    }
    if ((s = parameter(config, "precision"))) {
        if (!strcmp(s, "default")) out->precision = ENCORE_PRECISION_DEFAULT;
        else if (!strcmp(s, "fp32")) out->precision = ENCORE_PRECISION_FP32;
        else if (!strcmp(s, "fp16")) out->precision = ENCORE_PRECISION_FP16;
        else if (!strcmp(s, "bf16")) out->precision = ENCORE_PRECISION_BF16;
        else return triton_fail(err, err_size, "parameter precision: '%s' is not default, fp32, fp16 or bf16", s);
    }
    if ((s = parameter(config, "threads")) && parse_count(s, &out->n_threads) != 0)
        return triton_fail(err, err_size, "parameter threads: '%s' is not a count (0 = all cores)", s);
    if ((s = parameter(config, "max_batch_tokens")) && parse_count(s, &out->max_batch_tokens) != 0)
        return triton_fail(err, err_size, "parameter max_batch_tokens: '%s' is not a count (0 = default)", s);
    return 0;
}

/* ---- the tensors a model serves ------------------------------------------- */

typedef struct tensor_spec {
    const char *name;
    const char *data_type;
    int64_t dim;       /* the one dim after the batch dim */
    int optional;      /* inputs only */
} tensor_spec;

static int task_outputs(const encore_triton_model_facts *facts, tensor_spec *out)
{
    if (facts->task == ENCORE_TASK_CLASSIFY) {
        out[0] = (tensor_spec){ENCORE_TRITON_OUTPUT_SCORES, "TYPE_FP32", facts->n_labels, 0};
        out[1] = (tensor_spec){ENCORE_TRITON_OUTPUT_LABEL, "TYPE_STRING", 1, 0};
        return 2;
    }
    out[0] = (tensor_spec){ENCORE_TRITON_OUTPUT_EMBEDDING, "TYPE_FP32", facts->hidden_size, 0};
    return 1;
}

static const tensor_spec k_inputs[2] = {
    {ENCORE_TRITON_INPUT_TEXT, "TYPE_STRING", 1, 0},
    {ENCORE_TRITON_INPUT_TEXT_PAIR, "TYPE_STRING", 1, 1},
};

static const cJSON *find_tensor(const cJSON *list, const char *name)
{
    const cJSON *t = NULL;
    cJSON_ArrayForEach(t, list) {
        const cJSON *n = cJSON_GetObjectItemCaseSensitive(t, "name");
        if (cJSON_IsString(n) && !strcmp(n->valuestring, name))
            return t;
    }
    return NULL;
}

static cJSON *tensor_json(const tensor_spec *spec)
{
    cJSON *t = cJSON_CreateObject();
    cJSON *dims = cJSON_CreateArray();
    if (!t || !dims) {
        cJSON_Delete(t);
        cJSON_Delete(dims);
        return NULL;
    }
    cJSON_AddItemToArray(dims, cJSON_CreateNumber((double)spec->dim));
    cJSON_AddStringToObject(t, "name", spec->name);
    cJSON_AddStringToObject(t, "data_type", spec->data_type);
    cJSON_AddItemToObject(t, "dims", dims);
    if (spec->optional)
        cJSON_AddTrueToObject(t, "optional");
    return t;
}

/* The array config[key], created when absent; NULL when it is not an array. */
static cJSON *tensor_list(cJSON *config, const char *key)
{
    cJSON *list = cJSON_GetObjectItemCaseSensitive(config, key);
    if (!list)
        list = cJSON_AddArrayToObject(config, key);
    return cJSON_IsArray(list) ? list : NULL;
}

int encore_triton_config_complete(cJSON *config, const encore_triton_model_facts *facts,
                                  int default_max_batch_size, int *changed, char *err, size_t err_size)
{
    *changed = 0;
    if (!cJSON_IsObject(config))
        return triton_fail(err, err_size, "the model configuration is not a JSON object");
    int64_t max_batch = encore_triton_config_max_batch_size(config);
    if (max_batch < 0)
        return triton_fail(err, err_size, "max_batch_size is not a non-negative integer");
    cJSON *inputs = tensor_list(config, "input");
    cJSON *outputs = tensor_list(config, "output");
    if (!inputs || !outputs)
        return triton_fail(err, err_size, "input and output must be lists");

    if (max_batch == 0 && cJSON_GetArraySize(inputs) == 0 && default_max_batch_size > 0) {
        cJSON_DeleteItemFromObjectCaseSensitive(config, "max_batch_size");
        cJSON_AddNumberToObject(config, "max_batch_size", default_max_batch_size);
        if (!cJSON_GetObjectItemCaseSensitive(config, "dynamic_batching") &&
            !cJSON_GetObjectItemCaseSensitive(config, "sequence_batching") &&
            !cJSON_GetObjectItemCaseSensitive(config, "ensemble_scheduling"))
            cJSON_AddObjectToObject(config, "dynamic_batching");
        *changed = 1;
    }

    for (int i = 0; i < 2; i++) {
        if (find_tensor(inputs, k_inputs[i].name))
            continue;
        cJSON *t = tensor_json(&k_inputs[i]);
        if (!t)
            return triton_fail(err, err_size, "out of memory");
        cJSON_AddItemToArray(inputs, t);
        *changed = 1;
    }
    tensor_spec outs[2];
    int n_out = task_outputs(facts, outs);
    for (int i = 0; i < n_out; i++) {
        if (find_tensor(outputs, outs[i].name))
            continue;
        cJSON *t = tensor_json(&outs[i]);
        if (!t)
            return triton_fail(err, err_size, "out of memory");
        cJSON_AddItemToArray(outputs, t);
        *changed = 1;
    }
    return 0;
}

static int check_tensor(const cJSON *t, const tensor_spec *spec, int is_input, char *err, size_t err_size)
{
    const cJSON *dt = cJSON_GetObjectItemCaseSensitive(t, "data_type");
    if (!cJSON_IsString(dt) || strcmp(dt->valuestring, spec->data_type))
        return triton_fail(err, err_size, "%s %s must have data_type %s, not %s", is_input ? "input" : "output",
                    spec->name, spec->data_type, cJSON_IsString(dt) ? dt->valuestring : "(none)");
    const cJSON *dims = cJSON_GetObjectItemCaseSensitive(t, "dims");
    int64_t d = 0;
    if (!cJSON_IsArray(dims) || cJSON_GetArraySize(dims) != 1 ||
        encore_triton_json_int(cJSON_GetArrayItem(dims, 0), &d) != 0 || d != spec->dim)
        return triton_fail(err, err_size, "%s %s must have dims [%lld] (batch dimension aside)",
                    is_input ? "input" : "output", spec->name, (long long)spec->dim);
    const cJSON *reshape = cJSON_GetObjectItemCaseSensitive(t, "reshape");
    const cJSON *rshape = cJSON_GetObjectItemCaseSensitive(reshape, "shape");
    if (cJSON_GetArraySize(rshape) > 0)
        return triton_fail(err, err_size, "%s %s: reshape is not supported", is_input ? "input" : "output", spec->name);
    if (is_input && !spec->optional && cJSON_IsTrue(cJSON_GetObjectItemCaseSensitive(t, "optional")))
        return triton_fail(err, err_size, "input %s cannot be optional", spec->name);
    if (is_input && spec->optional && !cJSON_IsTrue(cJSON_GetObjectItemCaseSensitive(t, "optional")))
        return triton_fail(err, err_size, "input %s must be marked optional: true", spec->name);
    return 0;
}

int encore_triton_config_check(const cJSON *config, const encore_triton_model_facts *facts,
                               char *err, size_t err_size)
{
    if (!cJSON_IsObject(config))
        return triton_fail(err, err_size, "the model configuration is not a JSON object");
    if (encore_triton_config_max_batch_size(config) < 0)
        return triton_fail(err, err_size, "max_batch_size is not a non-negative integer");
    if (facts->task == ENCORE_TASK_CLASSIFY && facts->n_labels < 1)
        return triton_fail(err, err_size, "the classifier has no labels");
    const cJSON *inputs = cJSON_GetObjectItemCaseSensitive(config, "input");
    const cJSON *outputs = cJSON_GetObjectItemCaseSensitive(config, "output");
    if (!find_tensor(inputs, ENCORE_TRITON_INPUT_TEXT))
        return triton_fail(err, err_size, "the configuration has no input TEXT (TYPE_STRING, dims [1])");
    const cJSON *t = NULL;
    cJSON_ArrayForEach(t, inputs) {
        const cJSON *n = cJSON_GetObjectItemCaseSensitive(t, "name");
        const char *name = cJSON_IsString(n) ? n->valuestring : "";
        const tensor_spec *spec = NULL;
        for (int i = 0; i < 2; i++)
            if (!strcmp(name, k_inputs[i].name))
                spec = &k_inputs[i];
        if (!spec)
            return triton_fail(err, err_size, "unknown input '%s': an encore model takes TEXT and TEXT_PAIR", name);
        if (check_tensor(t, spec, 1, err, err_size) != 0)
            return -1;
    }
    tensor_spec outs[2];
    int n_out = task_outputs(facts, outs);
    if (cJSON_GetArraySize(outputs) == 0)
        return triton_fail(err, err_size, "the configuration has no outputs");
    cJSON_ArrayForEach(t, outputs) {
        const cJSON *n = cJSON_GetObjectItemCaseSensitive(t, "name");
        const char *name = cJSON_IsString(n) ? n->valuestring : "";
        const tensor_spec *spec = NULL;
        for (int i = 0; i < n_out; i++)
            if (!strcmp(name, outs[i].name))
                spec = &outs[i];
        if (!spec)
            return triton_fail(err, err_size, "unknown output '%s': %s", name,
                        facts->task == ENCORE_TASK_CLASSIFY
                            ? "a classifier gives SCORES and LABEL"
                            : "an embedding model gives EMBEDDING");
        if (check_tensor(t, spec, 0, err, err_size) != 0)
            return -1;
    }
    return 0;
}
