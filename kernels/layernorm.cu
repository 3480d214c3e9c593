// layernorm.cu: fused bias + residual + LayerNorm, in place:
//   x = LayerNorm(x + bias + residual) * gamma + beta
// One warp per row, x read once and written once, two-pass fp32 statistics.
// Rows of up to 8 x 32 vectors (1,024 columns in fp32, 2,048 in fp16/bf16)
// stay in registers, with the fp32 parameters read 16 bytes at a time; longer
// or unaligned rows wait in shared memory instead. (On an H200 the shared-
// memory version moved 1,058 GB/s at 32,768 x 768 fp16, a quarter of a copy:
// each lane's 8 consecutive floats in shared memory cost 8-way bank conflicts.)
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

// VEC fp32 values from p, 16 bytes at a time where VEC allows (p aligned).
template <int VEC> __device__ __forceinline__ void load_f32(const float *__restrict__ p, float (&out)[VEC]) {
    if constexpr (VEC % 4 == 0) {
#pragma unroll
        for (int j = 0; j < VEC; j += 4) {
            const encore::Pack<float, 4> pk = *reinterpret_cast<const encore::Pack<float, 4> *>(p + j);
#pragma unroll
            for (int i = 0; i < 4; i++) out[j + i] = pk.v[i];
        }
    } else {
#pragma unroll
        for (int i = 0; i < VEC; i++) out[i] = p[i];
    }
}

// The row in registers: lane l holds the VEC-wide pieces l, l + 32, ...,
// ITERS of them, those past C left out.
template <typename S, int VEC, int ITERS>
__global__ __launch_bounds__(kWarps * 32) void bias_residual_layernorm_regs_kernel(
    S *__restrict__ x, const float *__restrict__ bias, const S *__restrict__ residual,
    const float *__restrict__ gamma, const float *__restrict__ beta, float eps, int n_rows, int C) {
    const int warp = threadIdx.x / 32, lane = threadIdx.x % 32;
    const int row = blockIdx.x * kWarps + warp;
    if (row >= n_rows) return;
    S *xr = x + (size_t)row * C;               // (C)
    const S *rr = residual + (size_t)row * C;  // (C)
    float v[ITERS][VEC] = {};
    float sum = 0.0f;
#pragma unroll
    for (int k = 0; k < ITERS; k++) {
        const int c = (k * 32 + lane) * VEC;
        if (c < C) {
            float r[VEC], b[VEC];
            encore::load_vec<S, VEC>(xr + c, v[k]);
            encore::load_vec<S, VEC>(rr + c, r);
            load_f32<VEC>(bias + c, b);
#pragma unroll
            for (int i = 0; i < VEC; i++) {
                v[k][i] = v[k][i] + b[i] + r[i];
                sum += v[k][i];
            }
        }
    }
    const float mean = encore::warp_sum(sum) / (float)C;
    float var = 0.0f;
#pragma unroll
    for (int k = 0; k < ITERS; k++) {
        if ((k * 32 + lane) * VEC < C) {
#pragma unroll
            for (int i = 0; i < VEC; i++) {
                const float d = v[k][i] - mean;
                var += d * d;
            }
        }
    }
    const float rstd = rsqrtf(encore::warp_sum(var) / (float)C + eps);
#pragma unroll
    for (int k = 0; k < ITERS; k++) {
        const int c = (k * 32 + lane) * VEC;
        if (c < C) {
            float g[VEC], be[VEC], y[VEC];
            load_f32<VEC>(gamma + c, g);
            load_f32<VEC>(beta + c, be);
#pragma unroll
            for (int i = 0; i < VEC; i++) y[i] = (v[k][i] - mean) * rstd * g[i] + be[i];
            encore::store_vec<S, VEC>(xr + c, y);
        }
    }
}

template <typename S, int VEC, int ITERS>
void launch_regs(S *x, const float *bias, const S *residual, const float *gamma, const float *beta, float eps,
                 int n_rows, int C, cudaStream_t stream) {
    const dim3 grid((unsigned)((n_rows + kWarps - 1) / kWarps)), block(kWarps * 32);
    encore::launch(bias_residual_layernorm_regs_kernel<S, VEC, ITERS>, grid, block, 0, stream, x, bias, residual,
                   gamma, beta, eps, n_rows, C);
}

// Launches the register version when the row fits and every pointer allows
// 16-byte accesses; false otherwise.
template <typename S>
bool launch_in_registers(S *x, const float *bias, const S *residual, const float *gamma, const float *beta,
                         float eps, int n_rows, int C, cudaStream_t stream) {
    constexpr int VEC = 16 / sizeof(S);
    if (encore::vec_width<S>(C, x, residual) != VEC || encore::vec_width<float>(C, bias, gamma) != 4 ||
        encore::vec_width<float>(C, beta, beta) != 4)
        return false;
    const int pieces = (C / VEC + 31) / 32;  // VEC-wide pieces per lane
    switch (pieces) {
    case 1: launch_regs<S, VEC, 1>(x, bias, residual, gamma, beta, eps, n_rows, C, stream); return true;
    case 2: launch_regs<S, VEC, 2>(x, bias, residual, gamma, beta, eps, n_rows, C, stream); return true;
    case 3: launch_regs<S, VEC, 3>(x, bias, residual, gamma, beta, eps, n_rows, C, stream); return true;
    case 4: launch_regs<S, VEC, 4>(x, bias, residual, gamma, beta, eps, n_rows, C, stream); return true;
    case 5:
    case 6: launch_regs<S, VEC, 6>(x, bias, residual, gamma, beta, eps, n_rows, C, stream); return true;
    case 7:
    case 8: launch_regs<S, VEC, 8>(x, bias, residual, gamma, beta, eps, n_rows, C, stream); return true;
    default: return false;
    }
}

template <typename S>
encore_status launch(S *x, const float *bias, const S *residual, const float *gamma, const float *beta, float eps,
                     int n_rows, int C, cudaStream_t stream) {
    if (launch_in_registers<S>(x, bias, residual, gamma, beta, eps, n_rows, C, stream)) {
        ENCORE_CUDA_CHECK_LAUNCH(stream, "bias_residual_layernorm_regs_kernel");
        return ENCORE_STATUS_OK;
    }
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
