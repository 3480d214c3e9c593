/* device_option.h: the --device option of the commands that load a model:
 * where the session runs. */
#ifndef ENCORE_TOOLS_DEVICE_OPTION_H
#define ENCORE_TOOLS_DEVICE_OPTION_H

#include <string.h>

#include "encore.h"

/* The device a --device value names ("cpu", "cuda", "auto"); 0, or -1 for a
 * name it does not know. */
static inline int encore_device_parse(const char *name, encore_device *out) {
    if (strcmp(name, "cpu") == 0) *out = ENCORE_DEVICE_CPU;
    else if (strcmp(name, "cuda") == 0) *out = ENCORE_DEVICE_CUDA;
    else if (strcmp(name, "auto") == 0) *out = ENCORE_DEVICE_AUTO;
    else return -1;
    return 0;
}

#endif /* ENCORE_TOOLS_DEVICE_OPTION_H */
