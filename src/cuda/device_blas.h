/* device_blas.h: cuBLAS, opened with dlopen by the first CUDA session so that
 * programs that never use the GPU do not pay for loading it, and the one GEMM
 * shape the encoder needs. */
#ifndef ENCORE_DEVICE_BLAS_H
#define ENCORE_DEVICE_BLAS_H

#include "cuda/device_plan.h"
#include "encore.h"

#include <cublas_api.h>

#ifdef __cplusplus
extern "C" {
#endif

/* The cuBLAS entry points encore calls. */
typedef struct encore_blas {
    cublasStatus_t (*create)(cublasHandle_t *handle);
    cublasStatus_t (*destroy)(cublasHandle_t handle);
    cublasStatus_t (*set_stream)(cublasHandle_t handle, cudaStream_t stream);
    cublasStatus_t (*set_workspace)(cublasHandle_t handle, void *workspace, size_t bytes);
    cublasStatus_t (*set_math_mode)(cublasHandle_t handle, cublasMath_t mode);
    const char *(*status_string)(cublasStatus_t status);
    cublasStatus_t (*gemm_ex)(cublasHandle_t handle, cublasOperation_t transa, cublasOperation_t transb, int m, int n,
                              int k, const void *alpha, const void *A, cudaDataType Atype, int lda, const void *B,
                              cudaDataType Btype, int ldb, const void *beta, void *C, cudaDataType Ctype, int ldc,
                              cublasComputeType_t compute, cublasGemmAlgo_t algo);
} encore_blas;

/* Load cuBLAS once per process (thread-safe); *out stays valid for good.
 * DEVICE_ERROR with the loader's message when it cannot be found. */
encore_status encore_blas_load(const encore_blas **out);

/* A cuBLAS handle set up as encore's products need it: default math (the
 * tensor cores for fp16/bf16, plain fp32 without TF32) with reductions in
 * the fp32 accumulator (CUBLAS_MATH_DISALLOW_REDUCED_PRECISION_REDUCTION:
 * otherwise cuBLAS may add split-K partial sums in fp16/bf16, rounding an
 * output more than once, where the kernels round it once). *out is NULL
 * after a failure. */
encore_status encore_blas_handle_create(const encore_blas *blas, cublasHandle_t *out);

/* Record a cuBLAS failure as the last error; returns DEVICE_ERROR (or
 * OUT_OF_MEMORY for CUBLAS_STATUS_ALLOC_FAILED). */
encore_status encore_blas_fail(cublasStatus_t status, const char *stmt, const char *file, int line);

#define ENCORE_CUBLAS_CHECK(call)                                                  \
    do {                                                                           \
        cublasStatus_t encore_bs_ = (call);                                        \
        if (encore_bs_ != CUBLAS_STATUS_SUCCESS)                                   \
            return encore_blas_fail(encore_bs_, #call, __FILE__, __LINE__);        \
    } while (0)

/* out = x W^T on the tensor cores (fp16/bf16 operands) or in plain fp32
 * (no TF32), fp32 accumulation either way. x: (T, K), w: (N, K) as PyTorch
 * stores it, out: (T, N), all of dtype dt, row-major. The caller set the
 * handle's stream. CPU twin: encore_blas_linear (tests/reference) without its bias. */
encore_status encore_linear_cuda(const encore_blas *blas, cublasHandle_t handle, const void *x, const void *w, int T,
                                 int N, int K, encore_cuda_dtype dt, void *out);

/* out += x W^T: as encore_linear_cuda, adding to what out holds (beta = 1)
 * in fp32 before the one rounding to dt. With out preset to bias rows
 * (encore_bias_rows_cuda), the bias epilogue of a GEMM. */
encore_status encore_linear_accumulate_cuda(const encore_blas *blas, cublasHandle_t handle, const void *x,
                                            const void *w, int T, int N, int K, encore_cuda_dtype dt, void *out);

/* For each head h < H: out_h = x_h W_h^T in fp32, where x_h (T, D) is head
 * h's slice of rows of x (x + h D, ldx elements apart), W_h (R, D) the
 * row-major table at w + h R D, and out_h (T, R) lies at out + h T R; x and
 * w of dtype dt, fp32 accumulation. DeBERTa's c2p (queries against pos_k)
 * and p2c (keys against pos_q) terms for every token and every row r.
 * CPU twin: the c2p and p2c sums of encore_attention_dis_cpu. */
encore_status encore_heads_by_table_cuda(const encore_blas *blas, cublasHandle_t handle, const void *x, int ldx,
                                         const void *w, int T, int H, int D, int R, encore_cuda_dtype dt,
                                         float *out);

#ifdef __cplusplus
}
#endif

#endif /* ENCORE_DEVICE_BLAS_H */
