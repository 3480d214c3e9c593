/*
 * backend.c: libtriton_encore.so, encore as a Triton Inference Server
 * backend. It keeps Triton's split of state: a model state holds the loaded
 * encore_model (immutable weights, shared by every instance) and the options
 * from config.pbtxt; an instance state holds one encore_session, used only by
 * the thread Triton runs that instance on.
 *
 * Execute takes the requests of one batch (the dynamic batcher's, or a single
 * request), decodes and tokenizes each request's texts, runs all of them in
 * one forward pass, and answers each request with its outputs or with its own
 * error: a bad request never fails its neighbours, and nothing a client sends
 * makes the backend abort.
 */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <cjson/cJSON.h>

#include "encore.h"
#include "triton_api.h"
#include "triton_config.h"
#include "triton_tensor.h"

/* ---- small helpers ---------------------------------------------------------- */

static TRITONSERVER_Error *error_new(TRITONSERVER_Error_Code code, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));
static TRITONSERVER_Error *error_new(TRITONSERVER_Error_Code code, const char *fmt, ...)
{
    char msg[1024];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    return TRITONSERVER_ErrorNew(code, msg);
}

static void log_message(TRITONSERVER_LogLevel level, int line, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
static void log_message(TRITONSERVER_LogLevel level, int line, const char *fmt, ...)
{
    if (!TRITONSERVER_LogIsEnabled(level))
        return;
    char msg[1024];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    TRITONSERVER_Error *err = TRITONSERVER_LogMessage(level, __FILE__, line, msg);
    if (err)
        TRITONSERVER_ErrorDelete(err);
}
#define LOG_INFO(...) log_message(TRITONSERVER_LOG_INFO, __LINE__, __VA_ARGS__)
#define LOG_WARN(...) log_message(TRITONSERVER_LOG_WARN, __LINE__, __VA_ARGS__)
#define LOG_ERROR(...) log_message(TRITONSERVER_LOG_ERROR, __LINE__, __VA_ARGS__)

/* Log and drop an error from a call whose failure leaves nothing to undo. */
static void log_if_error(TRITONSERVER_Error *err, const char *what)
{
    if (err) {
        LOG_ERROR("encore: %s: %s", what, TRITONSERVER_ErrorMessage(err));
        TRITONSERVER_ErrorDelete(err);
    }
}

/* The library's log lines, in Triton's log. */
static void log_from_encore(encore_log_level level, const char *message, void *user_data)
{
    TRITONSERVER_LogLevel l = level == ENCORE_LOG_LEVEL_DEBUG  ? TRITONSERVER_LOG_VERBOSE
                              : level == ENCORE_LOG_LEVEL_INFO ? TRITONSERVER_LOG_INFO
                              : level == ENCORE_LOG_LEVEL_WARN ? TRITONSERVER_LOG_WARN
                                                               : TRITONSERVER_LOG_ERROR;
    log_message(l, __LINE__, "encore: %s", message);
}

static uint64_t now_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts); /* what steady_clock reads on Linux */
    return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

/* A Triton message (JSON) as cJSON; NULL with *err set when it cannot be read. */
static cJSON *message_json(TRITONSERVER_Message *message, TRITONSERVER_Error **err)
{
    const char *base = NULL;
    size_t size = 0;
    *err = TRITONSERVER_MessageSerializeToJson(message, &base, &size);
    if (*err)
        return NULL;
    cJSON *json = cJSON_ParseWithLength(base, size);
    if (!json)
        *err = error_new(TRITONSERVER_ERROR_INTERNAL, "encore: cannot parse the JSON Triton gave");
    return json;
}

/* Triton's default for max_batch_size when auto-completion sets it
 * (tritonserver --backend-config=default-max-batch-size=N; 4 unless given). */
static int g_default_max_batch_size = 4;

/* ---- backend ------------------------------------------------------------------ */

TRITONSERVER_Error *TRITONBACKEND_Initialize(TRITONBACKEND_Backend *backend)
{
    uint32_t major = 0, minor = 0;
    TRITONSERVER_Error *err = TRITONBACKEND_ApiVersion(&major, &minor);
    if (err)
        return err;
    if (major != ENCORE_TRITON_API_MAJOR || minor < ENCORE_TRITON_MIN_API_MINOR)
        return error_new(TRITONSERVER_ERROR_UNSUPPORTED,
                         "encore backend needs Triton backend API %d.%d or a later 1.x; this server has %u.%u",
                         ENCORE_TRITON_API_MAJOR, ENCORE_TRITON_MIN_API_MINOR, major, minor);
    encore_log_set(log_from_encore, NULL);

    TRITONSERVER_Message *config_message = NULL;
    err = TRITONBACKEND_BackendConfig(backend, &config_message);
    if (err)
        return err;
    cJSON *config = message_json(config_message, &err);
    if (err)
        return err;
    const cJSON *cmdline = cJSON_GetObjectItemCaseSensitive(config, "cmdline");
    const cJSON *dmbs = cJSON_GetObjectItemCaseSensitive(cmdline, "default-max-batch-size");
    int64_t v = 0;
    if (dmbs && encore_triton_json_int(dmbs, &v) == 0 && v >= 0 && v <= 1 << 20)
        g_default_max_batch_size = (int)v;
    cJSON_Delete(config);
    LOG_INFO("encore %s backend: Triton backend API %u.%u, default max_batch_size %d", ENCORE_VERSION, major,
             minor, g_default_max_batch_size);
    return NULL;
}

TRITONSERVER_Error *TRITONBACKEND_Finalize(TRITONBACKEND_Backend *backend)
{
    encore_log_set(NULL, NULL);
    return NULL;
}

/* ---- model --------------------------------------------------------------------- */

typedef struct model_state {
    char name[256];
    encore_model *model;
    encore_triton_options options;
    encore_triton_model_facts facts;
    int64_t max_batch_size;
} model_state;

static TRITONSERVER_Error *model_config_json(TRITONBACKEND_Model *model, cJSON **out)
{
    TRITONSERVER_Message *message = NULL;
    TRITONSERVER_Error *err = TRITONBACKEND_ModelConfig(model, 1, &message);
    if (err)
        return err;
    *out = message_json(message, &err);
    log_if_error(TRITONSERVER_MessageDelete(message), "deleting a message");
    return err;
}

/* Auto-completion: fill in the inputs and outputs and hand the result back. */
static TRITONSERVER_Error *model_complete_config(TRITONBACKEND_Model *model, model_state *state, cJSON **config)
{
    char msg[512];
    int changed = 0;
    if (encore_triton_config_complete(*config, &state->facts, g_default_max_batch_size, &changed, msg,
                                      sizeof msg) != 0)
        return error_new(TRITONSERVER_ERROR_INVALID_ARG, "encore model '%s': %s", state->name, msg);
    if (!changed)
        return NULL;
    char *text = cJSON_PrintUnformatted(*config);
    if (!text)
        return error_new(TRITONSERVER_ERROR_INTERNAL, "encore: out of memory");
    TRITONSERVER_Message *message = NULL;
    TRITONSERVER_Error *err = TRITONSERVER_MessageNewFromSerializedJson(&message, text, strlen(text));
    cJSON_free(text);
    if (err)
        return err;
    err = TRITONBACKEND_ModelSetConfig(model, 1, message);
    log_if_error(TRITONSERVER_MessageDelete(message), "deleting a message");
    if (err)
        return err;
    /* Triton may add fields of its own: read the configuration it keeps. */
    cJSON_Delete(*config);
    *config = NULL;
    return model_config_json(model, config);
}

static void model_state_free(model_state *state)
{
    if (!state)
        return;
    encore_model_free(state->model);
    free(state);
}

TRITONSERVER_Error *TRITONBACKEND_ModelInitialize(TRITONBACKEND_Model *model)
{
    const char *name = NULL, *location = NULL;
    uint64_t version = 0;
    TRITONBACKEND_ArtifactType artifact = TRITONBACKEND_ARTIFACT_FILESYSTEM;
    TRITONSERVER_Error *err = TRITONBACKEND_ModelName(model, &name);
    if (!err)
        err = TRITONBACKEND_ModelVersion(model, &version);
    if (!err)
        err = TRITONBACKEND_ModelRepository(model, &artifact, &location);
    if (err)
        return err;
    if (artifact != TRITONBACKEND_ARTIFACT_FILESYSTEM)
        return error_new(TRITONSERVER_ERROR_UNSUPPORTED, "encore model '%s': only file-system repositories", name);

    model_state *state = calloc(1, sizeof *state);
    if (!state)
        return error_new(TRITONSERVER_ERROR_INTERNAL, "encore: out of memory");
    snprintf(state->name, sizeof state->name, "%s", name);

    cJSON *config = NULL;
    char msg[512];
    err = model_config_json(model, &config);
    if (err)
        goto fail;
    if (encore_triton_options_parse(config, location, version, &state->options, msg, sizeof msg) != 0) {
        err = error_new(TRITONSERVER_ERROR_INVALID_ARG, "encore model '%s': %s", name, msg);
        goto fail;
    }
    encore_model_params params = encore_model_default_params();
    params.weights = state->options.weights;
    params.splade = state->options.splade;
    encore_status status = encore_model_load(state->options.model_directory, params, &state->model);
    if (status != ENCORE_STATUS_OK) {
        err = error_new(TRITONSERVER_ERROR_INVALID_ARG, "encore model '%s': cannot load %s (%s): %s", name,
                        state->options.model_directory, encore_status_str(status), encore_last_error());
        goto fail;
    }
    state->facts.task = encore_model_task(state->model);
    state->facts.n_labels = encore_model_n_labels(state->model);
    state->facts.sparse = encore_model_is_sparse(state->model);
    state->facts.hidden_size =
        state->facts.sparse ? encore_model_vocab_size(state->model) : encore_model_hidden_size(state->model);
    if (state->facts.sparse && (state->options.normalize || state->options.pooling != ENCORE_POOLING_DEFAULT)) {
        err = error_new(TRITONSERVER_ERROR_INVALID_ARG,
                        "encore model '%s': a SPLADE model's EMBEDDING is its vocabulary weights, with no normalize "
                        "or pooling mean|cls",
                        name);
        goto fail;
    }

    bool auto_complete = false;
    err = TRITONBACKEND_ModelAutoCompleteConfig(model, &auto_complete);
    if (!err && auto_complete)
        err = model_complete_config(model, state, &config);
    if (err)
        goto fail;
    if (encore_triton_config_check(config, &state->facts, msg, sizeof msg) != 0) {
        err = error_new(TRITONSERVER_ERROR_INVALID_ARG, "encore model '%s': %s", name, msg);
        goto fail;
    }
    state->max_batch_size = encore_triton_config_max_batch_size(config);
    cJSON_Delete(config);
    config = NULL;

    err = TRITONBACKEND_ModelSetState(model, state);
    if (err)
        goto fail;
    LOG_INFO("encore model '%s' version %llu: %s from %s, %s, max_batch_size %lld", name,
             (unsigned long long)version, encore_model_architecture_name(state->model),
             state->options.model_directory,
             state->facts.task == ENCORE_TASK_CLASSIFY ? "classifier (SCORES, LABEL)"
             : state->facts.sparse                     ? "SPLADE weights (EMBEDDING)"
                                                       : "embeddings (EMBEDDING)",
             (long long)state->max_batch_size);
    return NULL;

fail:
    cJSON_Delete(config);
    model_state_free(state);
    return err;
}

TRITONSERVER_Error *TRITONBACKEND_ModelFinalize(TRITONBACKEND_Model *model)
{
    void *state = NULL;
    TRITONSERVER_Error *err = TRITONBACKEND_ModelState(model, &state);
    if (err)
        return err;
    model_state_free(state);
    return NULL;
}

/* ---- model instance ---------------------------------------------------------------- */

typedef struct instance_state {
    model_state *model;
    encore_session *session;
    char name[256];
} instance_state;

TRITONSERVER_Error *TRITONBACKEND_ModelInstanceInitialize(TRITONBACKEND_ModelInstance *instance)
{
    const char *name = NULL;
    TRITONSERVER_InstanceGroupKind kind = TRITONSERVER_INSTANCEGROUPKIND_AUTO;
    int32_t device_id = 0;
    TRITONBACKEND_Model *model = NULL;
    void *mstate = NULL;
    TRITONSERVER_Error *err = TRITONBACKEND_ModelInstanceName(instance, &name);
    if (!err)
        err = TRITONBACKEND_ModelInstanceKind(instance, &kind);
    if (!err)
        err = TRITONBACKEND_ModelInstanceDeviceId(instance, &device_id);
    if (!err)
        err = TRITONBACKEND_ModelInstanceModel(instance, &model);
    if (!err)
        err = TRITONBACKEND_ModelState(model, &mstate);
    if (err)
        return err;
    model_state *ms = mstate;

    encore_session_params params = encore_session_default_params();
    params.n_threads = ms->options.n_threads;
    params.truncate = ms->options.truncate;
    params.precision = ms->options.precision;
    params.max_batch_tokens = ms->options.max_batch_tokens;
    /* The instance group's kind decides the device; KIND_MODEL (and AUTO)
     * instances take the "device" parameter. */
    if (kind == TRITONSERVER_INSTANCEGROUPKIND_GPU) {
        params.device = ENCORE_DEVICE_CUDA;
        params.device_index = device_id;
    } else if (kind == TRITONSERVER_INSTANCEGROUPKIND_CPU) {
        params.device = ENCORE_DEVICE_CPU;
    } else {
        params.device = ms->options.device;
        params.device_index = device_id > 0 ? device_id : 0;
    }

    instance_state *state = calloc(1, sizeof *state);
    if (!state)
        return error_new(TRITONSERVER_ERROR_INTERNAL, "encore: out of memory");
    state->model = ms;
    snprintf(state->name, sizeof state->name, "%s", name);
    encore_status status = encore_session_create(ms->model, params, &state->session);
    if (status != ENCORE_STATUS_OK) {
        err = error_new(TRITONSERVER_ERROR_INVALID_ARG, "encore instance '%s': cannot create a session (%s): %s",
                        name, encore_status_str(status), encore_last_error());
        free(state);
        return err;
    }
    err = TRITONBACKEND_ModelInstanceSetState(instance, state);
    if (err) {
        encore_session_free(state->session);
        free(state);
        return err;
    }
    if (encore_session_device(state->session) == ENCORE_DEVICE_CUDA)
        LOG_INFO("encore instance '%s': runs on CUDA device %d", name, params.device_index);
    else
        LOG_INFO("encore instance '%s': runs on the CPU%s", name,
                 params.device == ENCORE_DEVICE_CPU ? "" : " (no usable GPU)");
    return NULL;
}

TRITONSERVER_Error *TRITONBACKEND_ModelInstanceFinalize(TRITONBACKEND_ModelInstance *instance)
{
    void *state = NULL;
    TRITONSERVER_Error *err = TRITONBACKEND_ModelInstanceState(instance, &state);
    if (err)
        return err;
    instance_state *is = state;
    if (is) {
        encore_session_free(is->session);
        free(is);
    }
    return NULL;
}

/* ---- execute --------------------------------------------------------------------------- */

/* One request of a batch as the backend works through it. */
typedef struct request_work {
    TRITONBACKEND_Request *request;
    TRITONSERVER_Error *error;  /* this request's own failure; NULL while it goes well */
    int64_t n;                  /* texts in it */
    int64_t first;              /* index of its first text in the batch's encodings */
    char **texts, **pairs;      /* (n) each; pairs NULL without TEXT_PAIR */
    int64_t n_texts, n_pairs;   /* how many of each were allocated */
    encore_encoding **encodings; /* (n) */
} request_work;

static void request_work_clear(request_work *w)
{
    encore_triton_texts_free(w->texts, w->n_texts);
    encore_triton_texts_free(w->pairs, w->n_pairs);
    for (int64_t i = 0; w->encodings && i < w->n; i++)
        encore_encoding_free(w->encodings[i]);
    free(w->texts);
    free(w->pairs);
    free(w->encodings);
    w->texts = w->pairs = NULL;
    w->encodings = NULL;
}

/* The strings of one BYTES input in CPU memory: the input's own buffer when it
 * has one, else a copy of its buffers into *copy. */
static TRITONSERVER_Error *input_bytes(TRITONBACKEND_Input *input, const char *name, uint64_t byte_size,
                                       uint32_t buffer_count, const uint8_t **data, uint8_t **copy)
{
    *copy = NULL;
    if (buffer_count == 0) {
        *data = (const uint8_t *)"";
        return NULL;
    }
    if (buffer_count > 1) {
        *copy = malloc(byte_size ? byte_size : 1);
        if (!*copy)
            return error_new(TRITONSERVER_ERROR_INTERNAL, "encore: out of memory");
    }
    uint64_t filled = 0;
    for (uint32_t b = 0; b < buffer_count; b++) {
        const void *buffer = NULL;
        uint64_t size = 0;
        TRITONSERVER_MemoryType mt = TRITONSERVER_MEMORY_CPU;
        int64_t mt_id = 0;
        TRITONSERVER_Error *err = TRITONBACKEND_InputBuffer(input, b, &buffer, &size, &mt, &mt_id);
        if (!err && mt == TRITONSERVER_MEMORY_GPU)
            err = error_new(TRITONSERVER_ERROR_INVALID_ARG, "input %s: text in GPU memory is not supported", name);
        if (!err && size > byte_size - filled)
            err = error_new(TRITONSERVER_ERROR_INTERNAL, "input %s: buffers larger than the tensor", name);
        if (err) {
            free(*copy);
            *copy = NULL;
            return err;
        }
        if (buffer_count == 1) {
            *data = buffer;
            return NULL;
        }
        memcpy(*copy + filled, buffer, size);
        filled += size;
    }
    *data = *copy;
    return NULL;
}

/* Read a request's TEXT (and TEXT_PAIR) into w. */
static TRITONSERVER_Error *request_read(request_work *w, const model_state *ms)
{
    uint32_t n_inputs = 0;
    TRITONSERVER_Error *err = TRITONBACKEND_RequestInputCount(w->request, &n_inputs);
    if (err)
        return err;
    char ***slots[2] = {&w->texts, &w->pairs};
    int64_t *allocated[2] = {&w->n_texts, &w->n_pairs};
    int64_t counts[2] = {-1, -1};
    for (uint32_t i = 0; i < n_inputs; i++) {
        TRITONBACKEND_Input *input = NULL;
        const char *name = NULL;
        TRITONSERVER_DataType dtype = TRITONSERVER_TYPE_INVALID;
        const int64_t *shape = NULL;
        uint32_t dims = 0, buffer_count = 0;
        uint64_t byte_size = 0;
        err = TRITONBACKEND_RequestInputByIndex(w->request, i, &input);
        if (!err)
            err = TRITONBACKEND_InputProperties(input, &name, &dtype, &shape, &dims, &byte_size, &buffer_count);
        if (err)
            return err;
        int slot = !strcmp(name, ENCORE_TRITON_INPUT_TEXT) ? 0 : !strcmp(name, ENCORE_TRITON_INPUT_TEXT_PAIR) ? 1 : -1;
        if (slot < 0)
            return error_new(TRITONSERVER_ERROR_INVALID_ARG,
                             "unknown input '%s': an encore model takes TEXT and TEXT_PAIR", name);
        if (*slots[slot])
            return error_new(TRITONSERVER_ERROR_INVALID_ARG, "input %s given twice", name);
        if (dtype != TRITONSERVER_TYPE_BYTES)
            return error_new(TRITONSERVER_ERROR_INVALID_ARG, "input %s must be BYTES (TYPE_STRING)", name);
        char msg[256];
        int64_t count = 0;
        if (encore_triton_text_count(shape, dims, ms->max_batch_size, &count, msg, sizeof msg) != 0)
            return error_new(TRITONSERVER_ERROR_INVALID_ARG, "input %s: %s", name, msg);
        const uint8_t *data = NULL;
        uint8_t *copy = NULL;
        err = input_bytes(input, name, byte_size, buffer_count, &data, &copy);
        if (err)
            return err;
        *slots[slot] = calloc((size_t)count, sizeof(char *));
        if (!*slots[slot]) {
            free(copy);
            return error_new(TRITONSERVER_ERROR_INTERNAL, "encore: out of memory");
        }
        counts[slot] = count;
        *allocated[slot] = count;
        int rc = encore_triton_bytes_decode(data, byte_size, count, *slots[slot], msg, sizeof msg);
        free(copy);
        if (rc != 0)
            return error_new(TRITONSERVER_ERROR_INVALID_ARG, "input %s: %s", name, msg);
    }
    if (counts[0] < 0)
        return error_new(TRITONSERVER_ERROR_INVALID_ARG, "the request has no TEXT input");
    if (counts[1] >= 0 && counts[1] != counts[0])
        return error_new(TRITONSERVER_ERROR_INVALID_ARG, "TEXT has %lld texts but TEXT_PAIR has %lld",
                         (long long)counts[0], (long long)counts[1]);
    w->n = counts[0];
    return NULL;
}

static TRITONSERVER_Error_Code status_code(encore_status status)
{
    switch (status) {
    case ENCORE_STATUS_INVALID_ARGUMENT:
    case ENCORE_STATUS_BAD_INPUT:
    case ENCORE_STATUS_TOO_LONG:
        return TRITONSERVER_ERROR_INVALID_ARG;
    case ENCORE_STATUS_UNSUPPORTED:
        return TRITONSERVER_ERROR_UNSUPPORTED;
    case ENCORE_STATUS_QUEUE_FULL:
        return TRITONSERVER_ERROR_UNAVAILABLE;
    default:
        return TRITONSERVER_ERROR_INTERNAL;
    }
}

/* Tokenize a request's texts for the model's task. */
static TRITONSERVER_Error *request_tokenize(request_work *w, const model_state *ms)
{
    w->encodings = calloc(w->n ? (size_t)w->n : 1, sizeof *w->encodings);
    if (!w->encodings)
        return error_new(TRITONSERVER_ERROR_INTERNAL, "encore: out of memory");
    for (int64_t i = 0; i < w->n; i++) {
        encore_input in = {w->texts[i], w->pairs ? w->pairs[i] : NULL};
        encore_status status = encore_model_tokenize_for_task(ms->model, in, ms->facts.task, ms->options.truncate,
                                                              &w->encodings[i]);
        if (status != ENCORE_STATUS_OK)
            return error_new(status_code(status), "text %lld: %s (%s)", (long long)i, encore_last_error(),
                             encore_status_str(status));
    }
    return NULL;
}

/* Is output name requested (no list means all)? */
static int output_wanted(TRITONBACKEND_Request *request, const char *name)
{
    uint32_t count = 0;
    TRITONSERVER_Error *err = TRITONBACKEND_RequestOutputCount(request, &count);
    if (err) {
        TRITONSERVER_ErrorDelete(err);
        return 1;
    }
    if (count == 0)
        return 1;
    for (uint32_t i = 0; i < count; i++) {
        const char *out = NULL;
        err = TRITONBACKEND_RequestOutputName(request, i, &out);
        if (err) {
            TRITONSERVER_ErrorDelete(err);
            continue;
        }
        if (!strcmp(out, name))
            return 1;
    }
    return 0;
}

static TRITONSERVER_Error *output_buffer(TRITONBACKEND_Response *response, const char *name,
                                         TRITONSERVER_DataType dtype, const int64_t *shape, uint32_t dims,
                                         uint64_t byte_size, void **buffer)
{
    TRITONBACKEND_Output *output = NULL;
    TRITONSERVER_Error *err = TRITONBACKEND_ResponseOutput(response, &output, name, dtype, shape, dims);
    if (err)
        return err;
    TRITONSERVER_MemoryType mt = TRITONSERVER_MEMORY_CPU;
    int64_t mt_id = 0;
    err = TRITONBACKEND_OutputBuffer(output, buffer, byte_size, &mt, &mt_id);
    if (err)
        return err;
    if (mt == TRITONSERVER_MEMORY_GPU)
        return error_new(TRITONSERVER_ERROR_UNSUPPORTED, "output %s: Triton gave a GPU buffer", name);
    return NULL;
}

/* Fill a response with a request's rows of the batch's results: (rows, width). */
static TRITONSERVER_Error *response_fill(TRITONBACKEND_Response *response, const request_work *w,
                                         const model_state *ms, const float *rows, int width)
{
    int batched = ms->max_batch_size > 0;
    int64_t shape[2];
    uint32_t dims = 0;
    if (batched)
        shape[dims++] = w->n;
    shape[dims++] = width;
    void *buffer = NULL;
    TRITONSERVER_Error *err = NULL;
    if (ms->facts.task == ENCORE_TASK_EMBED) {
        if (output_wanted(w->request, ENCORE_TRITON_OUTPUT_EMBEDDING)) {
            err = output_buffer(response, ENCORE_TRITON_OUTPUT_EMBEDDING, TRITONSERVER_TYPE_FP32, shape, dims,
                                (uint64_t)w->n * (uint64_t)width * sizeof(float), &buffer);
            if (err)
                return err;
            memcpy(buffer, rows, (size_t)w->n * (size_t)width * sizeof(float));
        }
        return NULL;
    }
    if (output_wanted(w->request, ENCORE_TRITON_OUTPUT_SCORES)) {
        err = output_buffer(response, ENCORE_TRITON_OUTPUT_SCORES, TRITONSERVER_TYPE_FP32, shape, dims,
                            (uint64_t)w->n * (uint64_t)width * sizeof(float), &buffer);
        if (err)
            return err;
        memcpy(buffer, rows, (size_t)w->n * (size_t)width * sizeof(float));
    }
    if (output_wanted(w->request, ENCORE_TRITON_OUTPUT_LABEL)) {
        /* The best label, as the pipeline's top-1 (the first of equal scores). */
        const char **labels = malloc((size_t)w->n * sizeof *labels);
        if (!labels)
            return error_new(TRITONSERVER_ERROR_INTERNAL, "encore: out of memory");
        uint64_t size = 0;
        for (int64_t i = 0; i < w->n; i++) {
            const float *row = rows + (size_t)i * (size_t)width;
            int best = 0;
            for (int j = 1; j < width; j++)
                if (row[j] > row[best])
                    best = j;
            labels[i] = encore_model_label(ms->model, best);
            if (!labels[i]) { /* a loaded classifier names every label (LABEL_i without id2label) */
                free(labels);
                return error_new(TRITONSERVER_ERROR_INTERNAL, "encore: label %d has no name", best);
            }
            size += encore_triton_bytes_size(labels[i]);
        }
        shape[dims - 1] = 1;
        err = output_buffer(response, ENCORE_TRITON_OUTPUT_LABEL, TRITONSERVER_TYPE_BYTES, shape, dims, size,
                            &buffer);
        if (!err) {
            uint8_t *p = buffer;
            for (int64_t i = 0; i < w->n; i++)
                p += encore_triton_bytes_write(p, labels[i]);
        }
        free(labels);
    }
    return err;
}

TRITONSERVER_Error *TRITONBACKEND_ModelInstanceExecute(TRITONBACKEND_ModelInstance *instance,
                                                       TRITONBACKEND_Request **requests,
                                                       const uint32_t request_count)
{
    uint64_t exec_start = now_ns();
    void *vstate = NULL;
    TRITONSERVER_Error *err = TRITONBACKEND_ModelInstanceState(instance, &vstate);
    if (err)
        return err; /* the requests stay Triton's */
    instance_state *is = vstate;
    model_state *ms = is->model;

    request_work *work = calloc(request_count ? request_count : 1, sizeof *work);
    if (!work)
        return error_new(TRITONSERVER_ERROR_INTERNAL, "encore: out of memory");

    /* Decode and tokenize each request; a failure is that request's alone. */
    int64_t total = 0;
    for (uint32_t r = 0; r < request_count; r++) {
        request_work *w = &work[r];
        w->request = requests[r];
        w->error = request_read(w, ms);
        if (!w->error)
            w->error = request_tokenize(w, ms);
        if (w->error)
            continue;
        w->first = total;
        total += w->n;
    }

    /* One forward pass for every text of the batch. */
    int width = ms->facts.task == ENCORE_TASK_CLASSIFY ? ms->facts.n_labels : ms->facts.hidden_size;
    const encore_encoding **encodings = calloc(total ? (size_t)total : 1, sizeof *encodings);
    float *results = malloc((total ? (size_t)total : 1) * (size_t)width * sizeof(float));
    TRITONSERVER_Error *batch_error = NULL;
    if (!encodings || !results)
        batch_error = error_new(TRITONSERVER_ERROR_INTERNAL, "encore: out of memory");
    for (uint32_t r = 0; !batch_error && r < request_count; r++)
        for (int64_t i = 0; !work[r].error && i < work[r].n; i++)
            encodings[work[r].first + i] = work[r].encodings[i];
    uint64_t compute_start = now_ns();
    if (!batch_error && total > 0) {
        encore_status status =
            ms->facts.task == ENCORE_TASK_CLASSIFY ? encore_session_classify_encoded(is->session, encodings, (int)total, results)
            : ms->facts.sparse ? encore_session_embed_sparse_encoded(is->session, encodings, (int)total, results)
                               : encore_session_embed_encoded(is->session, encodings, (int)total, ms->options.pooling,
                                               ms->options.normalize, results);
        if (status != ENCORE_STATUS_OK)
            batch_error = error_new(status_code(status), "encore: %s (%s)", encore_session_last_error(is->session),
                                    encore_status_str(status));
    }
    uint64_t compute_end = now_ns();

    /* One response per request: its outputs, or its error. */
    for (uint32_t r = 0; r < request_count; r++) {
        request_work *w = &work[r];
        TRITONBACKEND_Response *response = NULL;
        TRITONSERVER_Error *rerr = TRITONBACKEND_ResponseNew(&response, w->request);
        if (rerr) {
            log_if_error(rerr, "creating a response");
            if (!w->error)
                w->error = error_new(TRITONSERVER_ERROR_INTERNAL, "no response");
            continue;
        }
        if (!w->error && batch_error)
            w->error = TRITONSERVER_ErrorNew(TRITONSERVER_ErrorCode(batch_error),
                                             TRITONSERVER_ErrorMessage(batch_error));
        if (!w->error)
            w->error = response_fill(response, w, ms, results + (size_t)w->first * (size_t)width, width);
        log_if_error(TRITONBACKEND_ResponseSend(response, TRITONSERVER_RESPONSE_COMPLETE_FINAL, w->error),
                     "sending a response");
    }
    uint64_t exec_end = now_ns();

    int64_t batch_size = 0;
    for (uint32_t r = 0; r < request_count; r++) {
        request_work *w = &work[r];
        if (!w->error)
            batch_size += w->n;
        log_if_error(TRITONBACKEND_ModelInstanceReportStatistics(instance, w->request, w->error == NULL, exec_start,
                                                                 compute_start, compute_end, exec_end),
                     "reporting request statistics");
        log_if_error(TRITONBACKEND_RequestRelease(w->request, TRITONSERVER_REQUEST_RELEASE_ALL),
                     "releasing a request");
        if (w->error)
            TRITONSERVER_ErrorDelete(w->error);
        request_work_clear(w);
    }
    if (batch_size > 0)
        log_if_error(TRITONBACKEND_ModelInstanceReportBatchStatistics(instance, (uint64_t)batch_size, exec_start,
                                                                      compute_start, compute_end, exec_end),
                     "reporting batch statistics");
    if (batch_error)
        TRITONSERVER_ErrorDelete(batch_error);
    free(encodings);
    free(results);
    free(work);
    return NULL;
}
