// emu_cublas.cc: the cuBLAS entry points encore loads (src/cuda/device_blas.c),
// on the CPU, built as a module that the emulation build dlopens in place of
// libcublas. Arguments are checked as cuBLAS checks them (handle, transpose
// modes, sizes, leading dimensions, data and compute types); the GEMM runs in
// order on the handle's stream (recorded while the stream is captured), with
// fp16 / bf16 / fp32 operands widened exactly to fp32, fp32 accumulation
// (OpenBLAS sgemm) and one rounding to the output type.
#include "emu.h"

#include <cublas_api.h>
#include <cuda_bf16.h>
#include <cuda_fp16.h>

#include <cblas.h>

#include <new>
#include <vector>

struct cublasContext {
    cudaStream_t stream = nullptr;
    cublasMath_t math = CUBLAS_DEFAULT_MATH;
};

namespace {

float load(const void *p, cudaDataType t, size_t i) {
    switch (t) {
    case CUDA_R_16F: return __half2float(static_cast<const __half *>(p)[i]);
    case CUDA_R_16BF: return __bfloat162float(static_cast<const __nv_bfloat16 *>(p)[i]);
    default: return static_cast<const float *>(p)[i];
    }
}

void store(void *p, cudaDataType t, size_t i, float v) {
    switch (t) {
    case CUDA_R_16F: static_cast<__half *>(p)[i] = __float2half_rn(v); break;
    case CUDA_R_16BF: static_cast<__nv_bfloat16 *>(p)[i] = __float2bfloat16_rn(v); break;
    default: static_cast<float *>(p)[i] = v; break;
    }
}

bool op_ok(cublasOperation_t op) { return op == CUBLAS_OP_N || op == CUBLAS_OP_T || op == CUBLAS_OP_C; }

// The (A/B type, C type, compute type) combinations cublasGemmEx takes that
// this emulation implements.
cublasStatus_t check_types(cudaDataType ab, cudaDataType btype, cudaDataType c, cublasComputeType_t compute) {
    if (ab != btype) return CUBLAS_STATUS_NOT_SUPPORTED;
    const bool fp32_compute = compute == CUBLAS_COMPUTE_32F || compute == CUBLAS_COMPUTE_32F_PEDANTIC ||
                              compute == CUBLAS_COMPUTE_32F_FAST_16F || compute == CUBLAS_COMPUTE_32F_FAST_16BF ||
                              compute == CUBLAS_COMPUTE_32F_FAST_TF32;
    if (!fp32_compute) return CUBLAS_STATUS_NOT_SUPPORTED;
    if (ab == CUDA_R_32F) return c == CUDA_R_32F ? CUBLAS_STATUS_SUCCESS : CUBLAS_STATUS_NOT_SUPPORTED;
    if (ab == CUDA_R_16F || ab == CUDA_R_16BF)
        return (c == ab || c == CUDA_R_32F) ? CUBLAS_STATUS_SUCCESS : CUBLAS_STATUS_NOT_SUPPORTED;
    return CUBLAS_STATUS_NOT_SUPPORTED;
}

// rows x cols stored column-major with leading dimension ld, widened to fp32
// (only the elements the matrix covers are read).
std::vector<float> widen(const void *p, cudaDataType t, int rows, int cols, int ld) {
    std::vector<float> out((size_t)ld * cols);
    for (int c = 0; c < cols; c++)
        for (int r = 0; r < rows; r++) out[(size_t)c * ld + r] = load(p, t, (size_t)c * ld + r);
    return out;
}

}  // namespace

extern "C" {

ENCORE_EMU_API cublasStatus_t cublasCreate_v2(cublasHandle_t *handle) {
    if (!handle) return CUBLAS_STATUS_INVALID_VALUE;
    *handle = new (std::nothrow) cublasContext;
    return *handle ? CUBLAS_STATUS_SUCCESS : CUBLAS_STATUS_ALLOC_FAILED;
}

ENCORE_EMU_API cublasStatus_t cublasDestroy_v2(cublasHandle_t handle) {
    if (!handle) return CUBLAS_STATUS_NOT_INITIALIZED;
    delete handle;
    return CUBLAS_STATUS_SUCCESS;
}

ENCORE_EMU_API cublasStatus_t cublasSetStream_v2(cublasHandle_t handle, cudaStream_t stream) {
    if (!handle) return CUBLAS_STATUS_NOT_INITIALIZED;
    if (!encore_emu::stream_valid(stream)) return CUBLAS_STATUS_INVALID_VALUE;
    handle->stream = stream;
    return CUBLAS_STATUS_SUCCESS;
}

ENCORE_EMU_API cublasStatus_t cublasSetWorkspace_v2(cublasHandle_t handle, void *workspace, size_t bytes) {
    if (!handle) return CUBLAS_STATUS_NOT_INITIALIZED;
    if ((workspace == nullptr) != (bytes == 0) || (uintptr_t)workspace % 256 != 0) return CUBLAS_STATUS_INVALID_VALUE;
    return CUBLAS_STATUS_SUCCESS;
}

ENCORE_EMU_API cublasStatus_t cublasSetMathMode(cublasHandle_t handle, cublasMath_t mode) {
    if (!handle) return CUBLAS_STATUS_NOT_INITIALIZED;
    const int base = (int)mode & ~(int)CUBLAS_MATH_DISALLOW_REDUCED_PRECISION_REDUCTION;
    if (base < 0 || base > CUBLAS_TF32_TENSOR_OP_MATH) return CUBLAS_STATUS_INVALID_VALUE;
    handle->math = mode;
    return CUBLAS_STATUS_SUCCESS;
}

ENCORE_EMU_API const char *cublasGetStatusString(cublasStatus_t status) {
    switch (status) {
    case CUBLAS_STATUS_SUCCESS: return "CUBLAS_STATUS_SUCCESS";
    case CUBLAS_STATUS_NOT_INITIALIZED: return "CUBLAS_STATUS_NOT_INITIALIZED";
    case CUBLAS_STATUS_ALLOC_FAILED: return "CUBLAS_STATUS_ALLOC_FAILED";
    case CUBLAS_STATUS_INVALID_VALUE: return "CUBLAS_STATUS_INVALID_VALUE";
    case CUBLAS_STATUS_ARCH_MISMATCH: return "CUBLAS_STATUS_ARCH_MISMATCH";
    case CUBLAS_STATUS_MAPPING_ERROR: return "CUBLAS_STATUS_MAPPING_ERROR";
    case CUBLAS_STATUS_EXECUTION_FAILED: return "CUBLAS_STATUS_EXECUTION_FAILED";
    case CUBLAS_STATUS_INTERNAL_ERROR: return "CUBLAS_STATUS_INTERNAL_ERROR";
    case CUBLAS_STATUS_NOT_SUPPORTED: return "CUBLAS_STATUS_NOT_SUPPORTED";
    }
    return "CUBLAS_STATUS_UNKNOWN_ERROR";
}

// C (m, n) = alpha op(A) (m, k) op(B) (k, n) + beta C, column-major.
ENCORE_EMU_API cublasStatus_t cublasGemmEx(cublasHandle_t handle, cublasOperation_t transa, cublasOperation_t transb,
                                           int m, int n, int k, const void *alpha, const void *A, cudaDataType Atype,
                                           int lda, const void *B, cudaDataType Btype, int ldb, const void *beta,
                                           void *C, cudaDataType Ctype, int ldc, cublasComputeType_t compute,
                                           cublasGemmAlgo_t algo) {
    if (!handle) return CUBLAS_STATUS_NOT_INITIALIZED;
    if (!op_ok(transa) || !op_ok(transb) || m < 0 || n < 0 || k < 0 || !alpha || !beta)
        return CUBLAS_STATUS_INVALID_VALUE;
    const int a_rows = transa == CUBLAS_OP_N ? m : k, a_cols = transa == CUBLAS_OP_N ? k : m;
    const int b_rows = transb == CUBLAS_OP_N ? k : n, b_cols = transb == CUBLAS_OP_N ? n : k;
    if (lda < (a_rows > 1 ? a_rows : 1) || ldb < (b_rows > 1 ? b_rows : 1) || ldc < (m > 1 ? m : 1))
        return CUBLAS_STATUS_INVALID_VALUE;
    const cublasStatus_t ts = check_types(Atype, Btype, Ctype, compute);
    if (ts != CUBLAS_STATUS_SUCCESS) return ts;
    // encore's rule, not cuBLAS's: a product with fp16/bf16 output is rounded
    // once, so its handle must forbid reductions in the output type (split-K
    // partial sums added in fp16/bf16, which cuBLAS may otherwise choose and
    // this emulation, which always sums in fp32, would never show).
    if (Ctype != CUDA_R_32F && !((int)handle->math & (int)CUBLAS_MATH_DISALLOW_REDUCED_PRECISION_REDUCTION))
        return CUBLAS_STATUS_NOT_SUPPORTED;
    if (!((int)algo >= -1 && (int)algo <= 23) && !((int)algo >= 99 && (int)algo <= 115))
        return CUBLAS_STATUS_INVALID_VALUE;
    if (m == 0 || n == 0) return CUBLAS_STATUS_SUCCESS;
    if (!C || (k > 0 && (!A || !B))) return CUBLAS_STATUS_INVALID_VALUE;
    // alpha and beta are host scalars of the compute type (fp32), read now.
    const float al = *static_cast<const float *>(alpha), be = *static_cast<const float *>(beta);
    const cudaError_t e = encore_emu::enqueue_host(handle->stream, [=]() {
        std::vector<float> a = widen(A, Atype, a_rows, a_cols, lda), b = widen(B, Btype, b_rows, b_cols, ldb);
        std::vector<float> c((size_t)ldc * n, 0.0f);
        if (be != 0.0f) c = widen(C, Ctype, m, n, ldc);
        if (k > 0)
            cblas_sgemm(CblasColMajor, transa == CUBLAS_OP_N ? CblasNoTrans : CblasTrans,
                        transb == CUBLAS_OP_N ? CblasNoTrans : CblasTrans, m, n, k, al, a.data(), lda, b.data(), ldb,
                        be, c.data(), ldc);
        else
            for (float &v : c) v *= be;
        for (int j = 0; j < n; j++)
            for (int i = 0; i < m; i++) store(C, Ctype, (size_t)j * ldc + i, c[(size_t)j * ldc + i]);
    });
    return e == cudaSuccess ? CUBLAS_STATUS_SUCCESS : CUBLAS_STATUS_EXECUTION_FAILED;
}

}  // extern "C"
