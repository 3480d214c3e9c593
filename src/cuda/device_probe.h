/* device_probe.h: is there a GPU a CUDA session can use? Built in every
 * configuration; without CUDA it always says no. */
#ifndef ENCORE_DEVICE_PROBE_H
#define ENCORE_DEVICE_PROBE_H

#include <stddef.h>

#ifdef __cplusplus
extern "C" {
#endif

/* 1 when encore was built with CUDA, a driver is present and GPU `index`
 * exists with compute capability 8.0 or newer; otherwise 0, with the reason
 * in why (n bytes, may be NULL). */
int encore_cuda_probe(int index, char *why, size_t n);

/* 1 when this build has the CUDA backend. */
int encore_cuda_built(void);

#ifdef __cplusplus
}
#endif

#endif /* ENCORE_DEVICE_PROBE_H */
