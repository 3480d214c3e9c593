/* device_weights.h: a model's weights on a GPU, uploaded once per (device,
 * dtype) by the first session that needs them and shared by every session
 * of the model after it. */
#ifndef ENCORE_DEVICE_WEIGHTS_H
#define ENCORE_DEVICE_WEIGHTS_H

#include "cuda/device_plan.h"
#include "core/model.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef struct encore_cuda_weights {
    struct encore_cuda_weights *next;  /* the model's list */
    int device;                        /* CUDA device index */
    encore_cuda_dtype dtype;
    void *block;                       /* the one device allocation every weight lives in */
    size_t bytes;
    encore_cuda_weights_view view;     /* pointers into block; view.layers is host memory */
} encore_cuda_weights;

/* The weights of m on `device` in dt: found in the model's list, or converted
 * and uploaded now. Thread-safe (one process-wide lock guards every model's
 * list). The current CUDA device must be `device`. */
encore_status encore_cuda_weights_get(const encore_model *m, int device, encore_cuda_dtype dt,
                                      const encore_cuda_weights **out);

/* Free every device copy of m's weights (encore_model_free calls it). */
void encore_cuda_weights_release(encore_model *m);

#ifdef __cplusplus
}
#endif

#endif /* ENCORE_DEVICE_WEIGHTS_H */
