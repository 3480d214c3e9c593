// layernorm.cu: fused bias + residual + LayerNorm, in place:
//   x = LayerNorm(x + bias + residual) * gamma + beta
// One warp per row; the row's fp32 sum waits in shared memory while the
// warp takes two-pass fp32 statistics, so x is read once and written once.
// CPU twin: encore_bias_residual_layernorm_cpu (src/cpu/cpu_ops.c).
#include "common.cuh"

namespace {

constexpr int kWarps = 4;  // rows per block

template <typename S, int VEC>
__global__ __launch_bounds__(kWarps * 32) void bias_residual_layernorm_kernel(
    S *__restrict__ x, const float *__restrict__ bias, const S *__restrict__ residual,
    const float *__restrict__ gamma, const float *__restrict__ beta, float eps, int n_rows, int C) {
    float *smem = encore::dynamic_smem<float>();  // (warps, C)
    const int warp = threadIdx.x / 32, lane = threadIdx.x % 32;
    const int row = blockIdx.x * (blockDim.x / 32) + warp;
    if (row >= n_rows) return;  // whole warps leave; no block barrier follows
    float *buf = smem + (size_t)warp * C;
    S *xr = x + (size_t)row * C;                // (C)
    const S *rr = residual + (size_t)row * C;   // (C)
    for (int c = lane * VEC; c < C; c += 32 * VEC) {
        float a[VEC], r[VEC];
        encore::load_vec<S, VEC>(xr + c, a);
        encore::load_vec<S, VEC>(rr + c, r);
#pragma unroll
        for (int i = 0; i < VEC; i++) buf[c + i] = a[i] + bias[c + i] + r[i];
    }
    __syncwarp();
    encore::warp_layernorm_store<S, VEC>(buf, C, gamma, beta, eps, xr);
}

template <typename S>
encore_status launch(S *x, const float *bias, const S *residual, const float *gamma, const float *beta, float eps,
                     int n_rows, int C, cudaStream_t stream) {
    const int warps = (size_t)kWarps * C * sizeof(float) <= 48 * 1024 ? kWarps : 1;
    const size_t smem = (size_t)warps * C * sizeof(float);
    const dim3 grid((unsigned)((n_rows + warps - 1) / warps)), block(warps * 32);
    if (encore::vec_width<S>(C, x, residual) > 1)
        encore::launch(bias_residual_layernorm_kernel<S, 16 / sizeof(S)>, grid, block, smem, stream, x, bias, residual,
                       gamma, beta, eps, n_rows, C);
    else
        encore::launch(bias_residual_layernorm_kernel<S, 1>, grid, block, smem, stream, x, bias, residual, gamma, beta,
                       eps, n_rows, C);
    ENCORE_CUDA_CHECK_LAUNCH(stream, "bias_residual_layernorm_kernel");
    return ENCORE_STATUS_OK;
}

}  // namespace

extern "C" encore_status encore_bias_residual_layernorm_cuda(void *x, const float *bias, const void *residual,
                                                             const float *gamma, const float *beta, float eps,
                                                             int T, int C, encore_cuda_dtype dt, cudaStream_t stream) {
    if (T == 0) return ENCORE_STATUS_OK;
    if (!x || !bias || !residual || !gamma || !beta || T < 0 || C < 1)
        return encore_fail(ENCORE_STATUS_INVALID_ARGUMENT, "encore_bias_residual_layernorm_cuda: bad arguments");
    if ((size_t)C * sizeof(float) > 48 * 1024)
        return encore_fail(ENCORE_STATUS_UNSUPPORTED, "LayerNorm over %d columns (at most 12288)", C);
    ENCORE_DISPATCH_DTYPE(dt, return launch<scalar_t>(static_cast<scalar_t *>(x), bias,
                                                      static_cast<const scalar_t *>(residual), gamma, beta, eps, T,
                                                      C, stream));
    return encore_fail(ENCORE_STATUS_INVALID_ARGUMENT, "unknown dtype %d", (int)dt);
}
