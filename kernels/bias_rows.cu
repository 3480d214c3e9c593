// bias_rows.cu: every row of out set to a bias vector, in the activation
// dtype: out[t][n] = bias[n] rounded to dt. The forward pass writes it where
// the QKV GEMM will accumulate (beta = 1), so that the bias is added in fp32
// to the GEMM's sums and the result is rounded once, as PyTorch's GEMM
// epilogue does, instead of rounding q/k/v and then q/k/v + bias.
// CPU twin: the loop in test_cuda_ops.cc's run_bias_rows (the CPU path adds
// the bias inside encore_linear_cpu).
#include "common.cuh"

namespace {

template <typename S>
__global__ void bias_rows_kernel(S *__restrict__ out, const float *__restrict__ bias, size_t n, int N) {
    for (size_t i = blockIdx.x * (size_t)blockDim.x + threadIdx.x; i < n; i += (size_t)gridDim.x * blockDim.x)
        out[i] = encore::from_float<S>(bias[i % (size_t)N]);
}

}  // namespace

extern "C" encore_status encore_bias_rows_cuda(void *out, const float *bias, int T, int N, encore_cuda_dtype dt,
                                               cudaStream_t stream) {
    if (T == 0) return ENCORE_STATUS_OK;
    if (!out || !bias || T < 0 || N < 1)
        return encore_fail(ENCORE_STATUS_INVALID_ARGUMENT, "encore_bias_rows_cuda: bad arguments");
    const size_t n = (size_t)T * N, want = (n + 255) / 256;
    const unsigned blocks = (unsigned)(want < 65536 ? want : 65536);
    switch (dt) {
    case ENCORE_CUDA_F32:
        encore::launch(bias_rows_kernel<float>, blocks, 256, 0, stream, static_cast<float *>(out), bias, n, N);
        break;
    case ENCORE_CUDA_F16:
        encore::launch(bias_rows_kernel<__half>, blocks, 256, 0, stream, static_cast<__half *>(out), bias, n, N);
        break;
    case ENCORE_CUDA_BF16:
        encore::launch(bias_rows_kernel<__nv_bfloat16>, blocks, 256, 0, stream, static_cast<__nv_bfloat16 *>(out),
                       bias, n, N);
        break;
    default: return encore_fail(ENCORE_STATUS_INVALID_ARGUMENT, "unknown dtype %d", (int)dt);
    }
    ENCORE_CUDA_CHECK_LAUNCH(stream, "bias_rows_kernel");
    return ENCORE_STATUS_OK;
}
