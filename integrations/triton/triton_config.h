/*
 * triton_config.h: an encore model's Triton configuration (config.pbtxt, as
 * the JSON Triton hands the backend): the parameters that choose how encore
 * runs it, the inputs and outputs that auto-completion fills in, and the
 * check that a configuration matches the model. Pure functions over cJSON,
 * with no Triton calls, so that they are tested on their own.
 */
#ifndef ENCORE_TRITON_CONFIG_H
#define ENCORE_TRITON_CONFIG_H

#include <stddef.h>
#include <stdint.h>

#include <cjson/cJSON.h>

#include "encore.h"

#ifdef __cplusplus
extern "C" {
#endif

/* Writes the message into err (err_size bytes, may be 0) and returns -1: the
 * failure convention of the parsing functions here. */
int triton_fail(char *err, size_t err_size, const char *fmt, ...) __attribute__((format(printf, 3, 4)));

/* The tensor names an encore model serves. */
#define ENCORE_TRITON_INPUT_TEXT "TEXT"
#define ENCORE_TRITON_INPUT_TEXT_PAIR "TEXT_PAIR"
#define ENCORE_TRITON_OUTPUT_SCORES "SCORES"
#define ENCORE_TRITON_OUTPUT_LABEL "LABEL"
#define ENCORE_TRITON_OUTPUT_EMBEDDING "EMBEDDING"

/* What the configuration's parameters ask for. */
typedef struct encore_triton_options {
    char model_directory[4096];  /* the Hugging Face directory to load */
    encore_weights weights;      /* "weights": fp32 | bf16 | int8 */
    encore_pooling pooling;      /* "pooling": default | mean | cls (embedding models) */
    int splade;                  /* "pooling": splade, a *ForMaskedLM model as SPLADE */
    int normalize;               /* "normalize": true | false (embedding models; default false) */
    int truncate;                /* "truncate": true | false (default true) */
    encore_device device;        /* "device": cpu | cuda | auto, for KIND_MODEL instances */
    encore_precision precision;  /* "precision": default | fp32 | fp16 | bf16 */
    int n_threads;               /* "threads": CPU threads per instance; 0 = all cores */
    int max_batch_tokens;        /* "max_batch_tokens": 0 = the library's default */
} encore_triton_options;

/* What auto-completion and the check need to know of a loaded model. */
typedef struct encore_triton_model_facts {
    encore_task task;  /* ENCORE_TASK_CLASSIFY: SCORES and LABEL; ENCORE_TASK_EMBED: EMBEDDING */
    int n_labels;
    int hidden_size;   /* EMBEDDING's width: the vocabulary's for a SPLADE model */
    int sparse;        /* a SPLADE model: EMBEDDING holds its vocabulary weights */
} encore_triton_model_facts;

/* Read the parameters of a configuration. model_folder is the model's folder
 * in the repository; the model directory is the "model_directory" parameter
 * (relative paths from model_folder) or else model_folder/<version>.
 * Returns 0, or -1 with a message in err. */
int encore_triton_options_parse(const cJSON *config, const char *model_folder, uint64_t version,
                                encore_triton_options *out, char *err, size_t err_size);

/* Fill in what the configuration leaves out: the TEXT and optional TEXT_PAIR
 * inputs, the task's outputs, and, when it declares no inputs and has
 * max_batch_size 0, max_batch_size = default_max_batch_size with the dynamic
 * batcher (when no scheduler is chosen). Sets *changed when it added
 * anything. Returns 0, or -1 with a message in err. */
int encore_triton_config_complete(cJSON *config, const encore_triton_model_facts *facts,
                                  int default_max_batch_size, int *changed, char *err, size_t err_size);

/* Check that a configuration's inputs and outputs are ones the model serves,
 * with their data types and dims. Returns 0, or -1 with a message in err. */
int encore_triton_config_check(const cJSON *config, const encore_triton_model_facts *facts,
                               char *err, size_t err_size);

/* The configuration's max_batch_size (0 when absent), or -1 when it is not a
 * number. */
int64_t encore_triton_config_max_batch_size(const cJSON *config);

/* A JSON integer that protobuf's JSON may write as a number or a string.
 * Returns 0, or -1 when item is neither. */
int encore_triton_json_int(const cJSON *item, int64_t *out);

#ifdef __cplusplus
}
#endif

#endif /* ENCORE_TRITON_CONFIG_H */
