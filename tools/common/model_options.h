/* model_options.h: the options every command that loads a model takes, read
 * by one parser: --model, --device, --precision (or TEI's --dtype, with
 * TEI's float16/float32/bfloat16 too), --threads, --weights,
 * --no-truncation and --quiet. */
#ifndef ENCORE_TOOLS_MODEL_OPTIONS_H
#define ENCORE_TOOLS_MODEL_OPTIONS_H

#include "encore.h"

typedef struct tools_model_options {
    const char *model_dir;  /* NULL: the command's default */
    encore_device device;   /* default ENCORE_DEVICE_CPU */
    encore_precision precision; /* the GPU's arithmetic; default: fp16 on CUDA (the CPU is fp32) */
    encore_weights weights; /* default fp32 */
    int threads;            /* 0: all cores */
    int truncate;           /* 1; 0 after --no-truncation */
    int quiet;              /* --quiet: no log lines */
    int splade;             /* --pooling splade: a *ForMaskedLM model as SPLADE */
} tools_model_options;

/* Which of the options a command takes (all, unless it says otherwise). */
enum {
    TOOLS_MODEL_OPT_TRUNCATION = 1u << 0, /* --no-truncation */
};

void tools_model_options_init(tools_model_options *m);

/* Read option a (next: the argument after it, or NULL) if it is one of the
 * above and not in the bits of `without`. Returns 0 when it is not one, 1
 * when it took no value, 2 when it took next, -1 after printing "PROG: why"
 * on stderr (a missing or bad value). */
int tools_model_option(tools_model_options *m, unsigned without, const char *a, const char *next, const char *prog);

/* The model's and the session's parameters for these options. */
encore_model_params tools_model_params(const tools_model_options *m);
encore_session_params tools_session_params(const tools_model_options *m);

/* "default", "fp32", "fp16", "bf16". */
const char *tools_precision_name(encore_precision p);

/* The usage lines of --device and --precision, for an option column 29 wide. */
#define TOOLS_DEVICE_OPTIONS_HELP                                                                             \
    "  --device cpu|cuda|auto     where to run (default cpu); cuda without a usable GPU runs\n"               \
    "                             on the CPU and logs why; auto takes a GPU when there is one\n"              \
    "  --precision P              the GPU's arithmetic: default (fp16), fp32, fp16 or bf16; the\n"           \
    "                             CPU computes in fp32 (fp16 and bf16 with --device cpu fail)\n"

/* Sends the library's log lines nowhere when --quiet was given. */
void tools_model_options_apply_quiet(const tools_model_options *m);

#endif /* ENCORE_TOOLS_MODEL_OPTIONS_H */
