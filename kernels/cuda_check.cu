// cuda_check.cu: the error path of every CUDA call (cuda_check.h).
#include "cuda_check.h"

#include "core/common.h"

#include <cuda_runtime.h>

#include <cstdlib>
#include <cstring>

extern "C" encore_status encore_cuda_fail(cudaError_t err, const char *stmt, const char *file, int line) {
    const char *base = std::strrchr(file, '/');
    base = base ? base + 1 : file;
    const encore_status status =
        err == cudaErrorMemoryAllocation ? ENCORE_STATUS_OUT_OF_MEMORY : ENCORE_STATUS_DEVICE_ERROR;
    return encore_fail(status, "CUDA error %s (%s) at %s:%d: %s", cudaGetErrorName(err), cudaGetErrorString(err),
                       base, line, stmt);
}

extern "C" int encore_cuda_sync_debug(void) {
    static int mode = -1;  // benign race: every thread computes the same value
    if (mode < 0) {
        const char *v = std::getenv("ENCORE_CUDA_SYNC");
        mode = v && v[0] == '1';
    }
    return mode;
}

extern "C" encore_status encore_cuda_check_launch(cudaStream_t stream, const char *what, const char *file, int line) {
    cudaError_t err = cudaGetLastError();
    if (err == cudaSuccess && encore_cuda_sync_debug()) err = cudaStreamSynchronize(stream);
    return err == cudaSuccess ? ENCORE_STATUS_OK : encore_cuda_fail(err, what, file, line);
}
