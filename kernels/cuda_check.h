/* cuda_check.h: turn CUDA and launch errors into encore statuses. Every CUDA
 * call in encore goes through ENCORE_CUDA_CHECK, which returns from the
 * calling function with ENCORE_STATUS_DEVICE_ERROR (OUT_OF_MEMORY for a failed
 * allocation) and records the file, line and statement as the last error.
 * Setting ENCORE_CUDA_SYNC=1 in the environment synchronises after every
 * kernel launch, so that an asynchronous fault is reported at the launch that
 * caused it (and turns CUDA graphs off). */
#ifndef ENCORE_CUDA_CHECK_H
#define ENCORE_CUDA_CHECK_H

#include "encore.h"

#include <cuda_runtime_api.h>

#ifdef __cplusplus
extern "C" {
#endif

/* Record err with where it happened; return the status it maps to. */
encore_status encore_cuda_fail(cudaError_t err, const char *stmt, const char *file, int line);

/* 1 when ENCORE_CUDA_SYNC=1 (read once). */
int encore_cuda_sync_debug(void);

/* After a launch on stream: the launch error, then (debug) the run's. */
encore_status encore_cuda_check_launch(cudaStream_t stream, const char *what, const char *file, int line);

#ifdef __cplusplus
}
#endif

#define ENCORE_CUDA_CHECK(call)                                                  \
    do {                                                                         \
        cudaError_t encore_err_ = (call);                                        \
        if (encore_err_ != cudaSuccess)                                          \
            return encore_cuda_fail(encore_err_, #call, __FILE__, __LINE__);     \
    } while (0)

#define ENCORE_CUDA_CHECK_LAUNCH(stream, what)                                               \
    do {                                                                                     \
        encore_status encore_st_ = encore_cuda_check_launch((stream), (what), __FILE__, __LINE__); \
        if (encore_st_ != ENCORE_STATUS_OK) return encore_st_;                               \
    } while (0)

#endif /* ENCORE_CUDA_CHECK_H */
