// pipeline_session.h: a fixture model and a session on this build's device,
// for the pipeline tests that are built twice (on the CPU, and with
// ENCORE_HAVE_CUDA on a CUDA session in fp32, the precision whose results
// are held to the pipelines'; those run under the CUDA emulation too).
#pragma once

#include <gtest/gtest.h>

#include <string>

#include "encore.h"
#ifdef ENCORE_HAVE_CUDA
#include "cuda/device_probe.h"
#endif

namespace pipeline_session {

struct Loaded {
    encore_model *model = nullptr;
    encore_session *session = nullptr;
    Loaded() = default;
    Loaded(const Loaded &) = delete;
    ~Loaded() {
        encore_session_free(session);
        encore_model_free(model);
    }
};

struct Options {
    int truncate = 1;
    int max_batch_tokens = 0;
};

// Load the model directory `dir` and open a one-thread session on this
// build's device.
inline void open_dir(const std::string &dir, Loaded *l, Options o = Options()) {
    ASSERT_EQ(encore_model_load(dir.c_str(), encore_model_default_params(), &l->model), ENCORE_STATUS_OK)
        << encore_last_error();
    encore_session_params sp = encore_session_default_params();
    sp.n_threads = 1;
    sp.truncate = o.truncate;
    sp.max_batch_tokens = o.max_batch_tokens;
#ifdef ENCORE_HAVE_CUDA
    sp.device = ENCORE_DEVICE_CUDA;
    sp.precision = ENCORE_PRECISION_FP32;
#endif
    ASSERT_EQ(encore_session_create(l->model, sp, &l->session), ENCORE_STATUS_OK) << encore_last_error();
#ifdef ENCORE_HAVE_CUDA
    ASSERT_EQ(encore_session_device(l->session), ENCORE_DEVICE_CUDA);
#endif
}

}  // namespace pipeline_session

// Skip, saying why, where this build runs on a GPU and none is usable.
#ifdef ENCORE_HAVE_CUDA
#define NEED_DEVICE()                                                              \
    do {                                                                           \
        char why[256];                                                             \
        if (!encore_cuda_probe(0, why, sizeof why))                                \
            GTEST_SKIP() << "no usable CUDA device: " << why;                      \
    } while (0)
#else
#define NEED_DEVICE() \
    do {              \
    } while (0)
#endif
