// gelu.cu: fused bias + activation, in place: x = act(x + bias). The models'
// "gelu" is the exact erf form, computed as such (cuBLASLt's GELU epilogue is
// the tanh approximation, so it is not used). The other activations a config
// may name (gelu_new / tanh, relu, silu) are here too.
// CPU twin: encore_bias_act_cpu (src/cpu/cpu_ops.c).
#include "common.cuh"

namespace {

template <encore_activation ACT> __device__ __forceinline__ float activate(float v) {
    if (ACT == ENCORE_ACTIVATION_GELU) return 0.5f * v * (1.0f + erff(v * 0.70710678118654752f));
    if (ACT == ENCORE_ACTIVATION_GELU_TANH) {
        const float k = 0.7978845608028654f;  // sqrt(2 / pi)
        return 0.5f * v * (1.0f + tanhf(k * (v + 0.044715f * v * v * v)));
    }
    if (ACT == ENCORE_ACTIVATION_RELU) return v > 0.0f ? v : 0.0f;
    return v / (1.0f + expf(-v));  // SILU
}

// Each thread handles VEC consecutive elements of one row (N % VEC == 0).
template <typename S, int VEC, encore_activation ACT>
__global__ void bias_act_kernel(S *__restrict__ x, const float *__restrict__ bias, size_t n_vec, int N) {
    for (size_t i = blockIdx.x * (size_t)blockDim.x + threadIdx.x; i < n_vec; i += (size_t)gridDim.x * blockDim.x) {
        const size_t e = i * VEC;
        const int col = (int)(e % (size_t)N);
        float v[VEC];
        encore::load_vec<S, VEC>(x + e, v);
#pragma unroll
        for (int k = 0; k < VEC; k++) v[k] = activate<ACT>(v[k] + bias[col + k]);
        encore::store_vec<S, VEC>(x + e, v);
    }
}

template <typename S, int VEC>
void launch_vec(S *x, const float *bias, encore_activation act, size_t n, int N, cudaStream_t stream) {
    const size_t n_vec = n / VEC;
    const int threads = 256;
    const size_t want = (n_vec + threads - 1) / threads;
    const unsigned blocks = (unsigned)(want < 65536 ? want : 65536);
    switch (act) {
    case ENCORE_ACTIVATION_GELU:
        encore::launch(bias_act_kernel<S, VEC, ENCORE_ACTIVATION_GELU>, blocks, threads, 0, stream, x, bias, n_vec, N);
        break;
    case ENCORE_ACTIVATION_GELU_TANH:
        encore::launch(bias_act_kernel<S, VEC, ENCORE_ACTIVATION_GELU_TANH>, blocks, threads, 0, stream, x, bias, n_vec, N);
        break;
    case ENCORE_ACTIVATION_RELU:
        encore::launch(bias_act_kernel<S, VEC, ENCORE_ACTIVATION_RELU>, blocks, threads, 0, stream, x, bias, n_vec, N);
        break;
    case ENCORE_ACTIVATION_SILU:
        encore::launch(bias_act_kernel<S, VEC, ENCORE_ACTIVATION_SILU>, blocks, threads, 0, stream, x, bias, n_vec, N);
        break;
    case ENCORE_ACTIVATION_TANH: /* a DeBERTa pooler's, never an encoder's: refused by encore_bias_act_cuda */
        break;
    }
}

template <typename S>
encore_status launch(S *x, const float *bias, encore_activation act, int T, int N, cudaStream_t stream) {
    const size_t n = (size_t)T * N;
    if (encore::vec_width<S>(N, x, x) > 1)
        launch_vec<S, 16 / sizeof(S)>(x, bias, act, n, N, stream);
    else
        launch_vec<S, 1>(x, bias, act, n, N, stream);
    ENCORE_CUDA_CHECK_LAUNCH(stream, "bias_act_kernel");
    return ENCORE_STATUS_OK;
}

}  // namespace

extern "C" encore_status encore_bias_act_cuda(void *x, const float *bias, encore_activation act, int T, int N,
                                              encore_cuda_dtype dt, cudaStream_t stream) {
    if (T == 0) return ENCORE_STATUS_OK;
    if (!x || !bias || T < 0 || N < 1 || (int)act < 0 || act > ENCORE_ACTIVATION_SILU)
        return encore_fail(ENCORE_STATUS_INVALID_ARGUMENT, "encore_bias_act_cuda: bad arguments");
    ENCORE_DISPATCH_DTYPE(dt, return launch<scalar_t>(static_cast<scalar_t *>(x), bias, act, T, N, stream));
    return encore_fail(ENCORE_STATUS_INVALID_ARGUMENT, "unknown dtype %d", (int)dt);
}
