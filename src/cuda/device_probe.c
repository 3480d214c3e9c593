/* device_probe.c: find out whether a CUDA session can run (device_probe.h). */
#include "cuda/device_probe.h"

#include <stdio.h>

#ifdef ENCORE_HAVE_CUDA
#include <cuda_runtime_api.h>
#endif

static void say(char *why, size_t n, const char *msg) {
    if (why && n) snprintf(why, n, "%s", msg);
}

int encore_cuda_built(void) {
#ifdef ENCORE_HAVE_CUDA
    return 1;
#else
    return 0;
#endif
}

int encore_cuda_probe(int index, char *why, size_t n) {
#ifdef ENCORE_HAVE_CUDA
    char msg[320];
    int count = 0;
    cudaError_t err = cudaGetDeviceCount(&count);
    if (err != cudaSuccess) {
        (void)cudaGetLastError(); /* clear it: a missing driver is not this thread's sticky error */
        snprintf(msg, sizeof msg, "no usable CUDA device (%s)", cudaGetErrorString(err));
        say(why, n, msg);
        return 0;
    }
    if (index < 0 || index >= count) {
        snprintf(msg, sizeof msg, "CUDA device %d does not exist (%d found)", index, count);
        say(why, n, msg);
        return 0;
    }
    struct cudaDeviceProp prop;
    err = cudaGetDeviceProperties(&prop, index);
    if (err != cudaSuccess) {
        (void)cudaGetLastError();
        snprintf(msg, sizeof msg, "CUDA device %d: %s", index, cudaGetErrorString(err));
        say(why, n, msg);
        return 0;
    }
    if (prop.major < 8) {
        snprintf(msg, sizeof msg, "CUDA device %d (%.100s) has compute capability %d.%d; encore needs 8.0 or newer",
                 index, prop.name, prop.major, prop.minor);
        say(why, n, msg);
        return 0;
    }
    say(why, n, "");
    return 1;
#else
    (void)index;
    say(why, n, "encore was built without CUDA");
    return 0;
#endif
}
