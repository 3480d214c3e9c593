/* device_blas.c: cuBLAS through dlopen, and the encoder's GEMM. */
#include "cuda/device_blas.h"

#include "core/common.h"

#include <cuda_runtime_api.h>
#include <dlfcn.h>
#include <pthread.h>
#include <stdio.h>
#include <string.h>

static encore_blas g_blas;
static encore_status g_status = ENCORE_STATUS_OK;
static char g_error[ENCORE_ERROR_LEN];
static pthread_once_t g_once = PTHREAD_ONCE_INIT;

static void *sym(void *lib, const char *name, int *missing) {
    void *p = dlsym(lib, name);
    if (!p && !*missing) {
        *missing = 1;
        snprintf(g_error, sizeof g_error, "cuBLAS has no symbol %s", name);
    }
    return p;
}

static void load_once(void) {
#ifdef ENCORE_CUBLAS_LIBRARY
    const char *name = ENCORE_CUBLAS_LIBRARY; /* the CPU emulation's cuBLAS (tests/emulation) */
#else
    /* The cuBLAS of the CUDA major version encore was built with: a cuBLAS of
     * another major version needs another runtime than the one linked. */
    char name[32];
    snprintf(name, sizeof name, "libcublas.so.%d", CUDART_VERSION / 1000);
#endif
    void *lib = dlopen(name, RTLD_NOW | RTLD_LOCAL);
    if (!lib) {
        const char *why = dlerror();
        snprintf(g_error, sizeof g_error, "cannot load cuBLAS (%s): %s", name, why ? why : "not found");
        g_status = ENCORE_STATUS_DEVICE_ERROR;
        return;
    }
    int missing = 0;
    /* dlsym's void * becomes a function pointer by copying its bytes, which
     * POSIX guarantees to work. */
#define LOAD(field, name)                              \
    do {                                               \
        void *p_ = sym(lib, name, &missing);           \
        memcpy(&g_blas.field, &p_, sizeof p_);         \
    } while (0)
    LOAD(create, "cublasCreate_v2");
    LOAD(destroy, "cublasDestroy_v2");
    LOAD(set_stream, "cublasSetStream_v2");
    LOAD(set_workspace, "cublasSetWorkspace_v2");
    LOAD(set_math_mode, "cublasSetMathMode");
    LOAD(status_string, "cublasGetStatusString");
    LOAD(gemm_ex, "cublasGemmEx");
#undef LOAD
    if (missing) g_status = ENCORE_STATUS_DEVICE_ERROR;
}

encore_status encore_blas_load(const encore_blas **out) {
    pthread_once(&g_once, load_once);
    if (g_status != ENCORE_STATUS_OK) return encore_fail(g_status, "%s", g_error);
    *out = &g_blas;
    return ENCORE_STATUS_OK;
}

encore_status encore_blas_fail(cublasStatus_t status, const char *stmt, const char *file, int line) {
    const char *base = strrchr(file, '/');
    base = base ? base + 1 : file;
    const char *what = g_blas.status_string ? g_blas.status_string(status) : "cuBLAS error";
    return encore_fail(status == CUBLAS_STATUS_ALLOC_FAILED ? ENCORE_STATUS_OUT_OF_MEMORY : ENCORE_STATUS_DEVICE_ERROR,
                       "cuBLAS error %d (%s) at %s:%d: %s", (int)status, what, base, line, stmt);
}

encore_status encore_blas_handle_create(const encore_blas *blas, cublasHandle_t *out) {
    *out = NULL;
    cublasHandle_t h = NULL;
    ENCORE_CUBLAS_CHECK(blas->create(&h));
    const cublasStatus_t bs =
        blas->set_math_mode(h, (cublasMath_t)(CUBLAS_DEFAULT_MATH | CUBLAS_MATH_DISALLOW_REDUCED_PRECISION_REDUCTION));
    if (bs != CUBLAS_STATUS_SUCCESS) {
        blas->destroy(h);
        return encore_blas_fail(bs, "cublasSetMathMode", __FILE__, __LINE__);
    }
    *out = h;
    return ENCORE_STATUS_OK;
}

static cudaDataType cuda_type(encore_cuda_dtype dt) {
    switch (dt) {
    case ENCORE_CUDA_F16: return CUDA_R_16F;
    case ENCORE_CUDA_BF16: return CUDA_R_16BF;
    case ENCORE_CUDA_F32: break;
    }
    return CUDA_R_32F;
}

static encore_status linear(const encore_blas *blas, cublasHandle_t handle, const void *x, const void *w, int T,
                            int N, int K, encore_cuda_dtype dt, float beta, void *out) {
    if (T == 0) return ENCORE_STATUS_OK;
    const float one = 1.0f;
    const cudaDataType t = cuda_type(dt);
    /* Row-major out (T, N) is column-major out^T (N, T) = W (N, K) x^T: with
     * column-major views, A = w seen as (K, N) transposed, B = x seen as (K, T). */
    ENCORE_CUBLAS_CHECK(blas->gemm_ex(handle, CUBLAS_OP_T, CUBLAS_OP_N, N, T, K, &one, w, t, K, x, t, K, &beta, out, t,
                                      N, CUBLAS_COMPUTE_32F, CUBLAS_GEMM_DEFAULT));
    return ENCORE_STATUS_OK;
}

encore_status encore_linear_cuda(const encore_blas *blas, cublasHandle_t handle, const void *x, const void *w, int T,
                                 int N, int K, encore_cuda_dtype dt, void *out) {
    return linear(blas, handle, x, w, T, N, K, dt, 0.0f, out);
}

encore_status encore_linear_accumulate_cuda(const encore_blas *blas, cublasHandle_t handle, const void *x,
                                            const void *w, int T, int N, int K, encore_cuda_dtype dt, void *out) {
    return linear(blas, handle, x, w, T, N, K, dt, 1.0f, out);
}

encore_status encore_heads_by_table_cuda(const encore_blas *blas, cublasHandle_t handle, const void *x, int ldx,
                                         const void *w, int T, int H, int D, int R, encore_cuda_dtype dt,
                                         float *out) {
    if (T == 0) return ENCORE_STATUS_OK;
    const float one = 1.0f, zero = 0.0f;
    const cudaDataType t = cuda_type(dt);
    const size_t esize = encore_cuda_dtype_size(dt);
    /* Row-major out_h (T, R) is column-major (R, T) = W_h (R, D) x_h^T: A = W_h
     * seen as (D, R) transposed, B = x_h seen as (D, T) with leading
     * dimension ldx. */
    for (int h = 0; h < H; h++) {
        const unsigned char *xh = (const unsigned char *)x + (size_t)h * D * esize;
        const unsigned char *wh = (const unsigned char *)w + (size_t)h * R * D * esize;
        ENCORE_CUBLAS_CHECK(blas->gemm_ex(handle, CUBLAS_OP_T, CUBLAS_OP_N, R, T, D, &one, wh, t, D, xh, t, ldx, &zero,
                                          out + (size_t)h * T * R, CUDA_R_32F, R, CUBLAS_COMPUTE_32F,
                                          CUBLAS_GEMM_DEFAULT));
    }
    return ENCORE_STATUS_OK;
}
