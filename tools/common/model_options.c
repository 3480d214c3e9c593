/* model_options.c: the options every command that loads a model takes. */
#include "model_options.h"

#include "device_option.h"
#include "parse_number.h"
#include "weights_option.h"

#include <stdio.h>
#include <string.h>

/* More threads than this is a typing error, not a machine. */
#define THREADS_MAX 4096

void tools_model_options_init(tools_model_options *m) {
    memset(m, 0, sizeof *m);
    m->device = ENCORE_DEVICE_CPU;
    m->weights = ENCORE_WEIGHTS_FP32;
    m->truncate = 1;
}

static int bad(const char *prog, const char *opt, const char *value, const char *want) {
    fprintf(stderr, "%s: %s takes %s, not '%s'\n", prog, opt, want, value);
    return -1;
}

int tools_model_option(tools_model_options *m, unsigned without, const char *a, const char *next, const char *prog) {
    if (strcmp(a, "--quiet") == 0) {
        m->quiet = 1;
        return 1;
    }
    if (strcmp(a, "--no-truncation") == 0 && !(without & TOOLS_MODEL_OPT_TRUNCATION)) {
        m->truncate = 0;
        return 1;
    }
    if (strcmp(a, "--model") != 0 && strcmp(a, "--device") != 0 && strcmp(a, "--threads") != 0 &&
        strcmp(a, "--weights") != 0 && strcmp(a, "--precision") != 0 && strcmp(a, "--dtype") != 0)
        return 0;
    if (!next) {
        fprintf(stderr, "%s: %s needs a value\n", prog, a);
        return -1;
    }
    long v;
    if (strcmp(a, "--model") == 0) {
        m->model_dir = next;
    } else if (strcmp(a, "--device") == 0) {
        if (encore_device_parse(next, &m->device) != 0) return bad(prog, a, next, "cpu, cuda or auto");
    } else if (strcmp(a, "--precision") == 0 || strcmp(a, "--dtype") == 0) { /* --dtype: TEI's name */
        if (strcmp(next, "default") == 0) m->precision = ENCORE_PRECISION_DEFAULT;
        else if (strcmp(next, "fp32") == 0 || strcmp(next, "float32") == 0) m->precision = ENCORE_PRECISION_FP32;
        else if (strcmp(next, "fp16") == 0 || strcmp(next, "float16") == 0) m->precision = ENCORE_PRECISION_FP16;
        else if (strcmp(next, "bf16") == 0 || strcmp(next, "bfloat16") == 0) m->precision = ENCORE_PRECISION_BF16;
        else return bad(prog, a, next, "default, fp32, fp16 or bf16");
    } else if (strcmp(a, "--threads") == 0) {
        if (!tools_parse_long(next, 1, THREADS_MAX, &v)) return bad(prog, a, next, "a number from 1 to 4096");
        m->threads = (int)v;
    } else if (encore_weights_parse(next, &m->weights) != 0) {
        return bad(prog, a, next, "fp32, bf16, int8 or int8-dynamic");
    }
    return 2;
}

encore_model_params tools_model_params(const tools_model_options *m) {
    encore_model_params p = encore_model_default_params();
    p.weights = m->weights;
    p.splade = m->splade;
    return p;
}

encore_session_params tools_session_params(const tools_model_options *m) {
    encore_session_params p = encore_session_default_params();
    p.n_threads = m->threads;
    p.truncate = m->truncate;
    p.device = m->device;
    p.precision = m->precision;
    return p;
}

const char *tools_precision_name(encore_precision p) {
    return p == ENCORE_PRECISION_FP32   ? "fp32"
           : p == ENCORE_PRECISION_FP16 ? "fp16"
           : p == ENCORE_PRECISION_BF16 ? "bf16"
                                        : "default";
}

static void quiet_log(encore_log_level level, const char *message, void *user_data) {
    (void)level, (void)message, (void)user_data;
}

void tools_model_options_apply_quiet(const tools_model_options *m) {
    if (m->quiet) encore_log_set(quiet_log, NULL);
}
