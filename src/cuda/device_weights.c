/* device_weights.c: convert a model's weights for the device and upload them
 * once (device_weights.h). The layout and the conversion are
 * encore_cuda_weights_image (device_plan.c), tested on the CPU. */
#include "cuda/device_weights.h"

#include "core/common.h"
#include "cuda_check.h"

#include <cuda_runtime_api.h>
#include <pthread.h>
#include <stdlib.h>

static pthread_mutex_t g_lock = PTHREAD_MUTEX_INITIALIZER;

static void destroy(encore_cuda_weights *w) {
    if (!w) return;
    if (w->block) {
        int prev = -1;
        cudaGetDevice(&prev);
        cudaSetDevice(w->device);
        cudaFree(w->block);
        if (prev >= 0) cudaSetDevice(prev);
        (void)cudaGetLastError();
    }
    free(w->view.layers);
    free(w);
}

static encore_status upload(const encore_model *m, int device, encore_cuda_dtype dt, encore_cuda_weights *w) {
    const encore_config *c = &m->config;
    w->device = device;
    w->dtype = dt;
    w->view.layers = calloc((size_t)c->n_layers, sizeof *w->view.layers);
    if (!w->view.layers) return encore_fail(ENCORE_STATUS_OUT_OF_MEMORY, "out of memory");
    encore_cuda_weights_image(m, dt, 0, NULL, &w->bytes, NULL);
    cudaError_t err = cudaMalloc(&w->block, w->bytes);
    if (err != cudaSuccess) {
        w->block = NULL;
        (void)cudaGetLastError();
        return encore_fail(err == cudaErrorMemoryAllocation ? ENCORE_STATUS_OUT_OF_MEMORY : ENCORE_STATUS_DEVICE_ERROR,
                           "cannot allocate %.1f MiB on CUDA device %d for the %s weights: %s", w->bytes / 1048576.0,
                           device, encore_cuda_dtype_name(dt), cudaGetErrorString(err));
    }
    void *image = malloc(w->bytes);
    if (!image) return encore_fail(ENCORE_STATUS_OUT_OF_MEMORY, "out of memory for %zu bytes of weights", w->bytes);
    size_t bytes = 0;
    encore_cuda_weights_image(m, dt, (uintptr_t)w->block, image, &bytes, &w->view);
    err = cudaMemcpy(w->block, image, bytes, cudaMemcpyHostToDevice);
    free(image);
    ENCORE_CUDA_CHECK(err);
    /* A pageable copy on the legacy stream may still be in flight when
     * cudaMemcpy returns, and sessions run on non-blocking streams, which do
     * not wait for the legacy stream: finish it before any session reads. */
    ENCORE_CUDA_CHECK(cudaStreamSynchronize(0));
    encore_log(ENCORE_LOG_LEVEL_INFO, "uploaded %s weights to CUDA device %d: %.1f MiB", encore_cuda_dtype_name(dt),
               device, w->bytes / 1048576.0);
    return ENCORE_STATUS_OK;
}

encore_status encore_cuda_weights_get(const encore_model *m, int device, encore_cuda_dtype dt,
                                      const encore_cuda_weights **out) {
    /* The model is immutable to its users; its list of device copies is the
     * one part that changes, always under g_lock. */
    encore_model *mm = (encore_model *)m;
    encore_status st = ENCORE_STATUS_OK;
    pthread_mutex_lock(&g_lock);
    encore_cuda_weights *w = mm->cuda_weights;
    while (w && !(w->device == device && w->dtype == dt)) w = w->next;
    if (!w) {
        w = calloc(1, sizeof *w);
        if (!w) {
            st = encore_fail(ENCORE_STATUS_OUT_OF_MEMORY, "out of memory");
        } else if ((st = upload(m, device, dt, w)) != ENCORE_STATUS_OK) {
            destroy(w);
            w = NULL;
        } else {
            w->next = mm->cuda_weights;
            mm->cuda_weights = w;
        }
    }
    pthread_mutex_unlock(&g_lock);
    *out = w;
    return st;
}

void encore_cuda_weights_release(encore_model *m) {
    pthread_mutex_lock(&g_lock);
    encore_cuda_weights *w = m->cuda_weights;
    m->cuda_weights = NULL;
    pthread_mutex_unlock(&g_lock);
    while (w) {
        encore_cuda_weights *next = w->next;
        destroy(w);
        w = next;
    }
}
