/* weights_option.h: the --weights option every command that loads a model
 * takes: how the CPU path stores the linear layers' weights. */
#ifndef ENCORE_TOOLS_WEIGHTS_OPTION_H
#define ENCORE_TOOLS_WEIGHTS_OPTION_H

#include <string.h>

#include "encore.h"

#define ENCORE_WEIGHTS_OPTION_HELP                                                                            \
    "  --weights W        how the CPU stores the linear layers' weights: fp32 (default, the\n"                \
    "                     reference), bf16 (half the bytes), int8 (a quarter; weight-only,\n"                  \
    "                     per-row scales) or int8-dynamic (int8 weights and activations, integer\n"          \
    "                     dot products: the fastest); see the README for what each costs\n"

/* The weights a --weights value names; 0, or -1 for a name it does not know. */
static inline int encore_weights_parse(const char *name, encore_weights *out) {
    if (strcmp(name, "fp32") == 0) *out = ENCORE_WEIGHTS_FP32;
    else if (strcmp(name, "bf16") == 0) *out = ENCORE_WEIGHTS_BF16;
    else if (strcmp(name, "int8") == 0) *out = ENCORE_WEIGHTS_INT8;
    else if (strcmp(name, "int8-dynamic") == 0) *out = ENCORE_WEIGHTS_INT8_DYNAMIC;
    else return -1;
    return 0;
}

static inline const char *encore_weights_name(encore_weights w) {
    return w == ENCORE_WEIGHTS_BF16           ? "bf16"
           : w == ENCORE_WEIGHTS_INT8         ? "int8"
           : w == ENCORE_WEIGHTS_INT8_DYNAMIC ? "int8-dynamic"
                                              : "fp32";
}

#endif /* ENCORE_TOOLS_WEIGHTS_OPTION_H */
