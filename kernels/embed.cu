// embed.cu: embedding gather + LayerNorm:
//   out[t] = LayerNorm(word[ids[t]] (+ pos[positions[t]]) (+ type[type_ids[t]]))
// One warp per token, the sum kept in shared memory in fp32 (the tables are
// fp32 on the device), written once in the activation dtype.
// CPU twin: encore_embed_cpu (src/cpu/cpu_ops.c).
#include "common.cuh"

namespace {

constexpr int kWarps = 4;  // tokens per block

template <typename S, int VEC>
__global__ __launch_bounds__(kWarps * 32) void embed_kernel(
    const int32_t *__restrict__ ids, const int32_t *__restrict__ type_ids, const int32_t *__restrict__ positions,
    int n_tokens, int C, const float *__restrict__ word, const float *__restrict__ pos,
    const float *__restrict__ type, const float *__restrict__ gamma, const float *__restrict__ beta, float eps,
    S *__restrict__ out) {
    float *smem = encore::dynamic_smem<float>();  // (warps, C)
    const int warp = threadIdx.x / 32, lane = threadIdx.x % 32;
    const int t = blockIdx.x * (blockDim.x / 32) + warp;
    if (t >= n_tokens) return;
    float *buf = smem + (size_t)warp * C;
    const float *w = word + (size_t)ids[t] * C;      // (C)
    const float *p = pos ? pos + (size_t)positions[t] * C : nullptr;  // (C)
    const float *ty = type ? type + (size_t)type_ids[t] * C : nullptr;
    for (int c = lane; c < C; c += 32) {
        float v = w[c];
        if (p) v += p[c];
        if (ty) v += ty[c];
        buf[c] = v;
    }
    __syncwarp();
    encore::warp_layernorm_store<S, VEC>(buf, C, gamma, beta, eps, out + (size_t)t * C);
}

template <typename S>
encore_status launch(const int32_t *ids, const int32_t *type_ids, const int32_t *positions, int T, int C,
                     const float *word, const float *pos, const float *type, const float *gamma, const float *beta,
                     float eps, S *out, cudaStream_t stream) {
    const int warps = (size_t)kWarps * C * sizeof(float) <= 48 * 1024 ? kWarps : 1;
    const size_t smem = (size_t)warps * C * sizeof(float);
    const dim3 grid((unsigned)((T + warps - 1) / warps)), block(warps * 32);
    if (encore::vec_width<S>(C, out, out) > 1)
        encore::launch(embed_kernel<S, 16 / sizeof(S)>, grid, block, smem, stream, ids, type_ids, positions, T, C, word,
                       pos, type, gamma, beta, eps, out);
    else
        encore::launch(embed_kernel<S, 1>, grid, block, smem, stream, ids, type_ids, positions, T, C, word, pos, type,
                       gamma, beta, eps, out);
    ENCORE_CUDA_CHECK_LAUNCH(stream, "embed_kernel");
    return ENCORE_STATUS_OK;
}

}  // namespace

extern "C" encore_status encore_embed_cuda(const int32_t *ids, const int32_t *type_ids, const int32_t *positions,
                                           int T, int C, const float *word, const float *pos, const float *type,
                                           const float *gamma, const float *beta, float eps, encore_cuda_dtype dt,
                                           void *out, cudaStream_t stream) {
    if (T == 0) return ENCORE_STATUS_OK;
    if (!ids || !word || !gamma || !beta || !out || (pos && !positions) || (type && !type_ids) || T < 0 || C < 1)
        return encore_fail(ENCORE_STATUS_INVALID_ARGUMENT, "encore_embed_cuda: bad arguments");
    if ((size_t)C * sizeof(float) > 48 * 1024)
        return encore_fail(ENCORE_STATUS_UNSUPPORTED, "embeddings of %d columns (at most 12288)", C);
    ENCORE_DISPATCH_DTYPE(dt, return launch<scalar_t>(ids, type_ids, positions, T, C, word, pos, type, gamma, beta,
                                                      eps, static_cast<scalar_t *>(out), stream));
    return encore_fail(ENCORE_STATUS_INVALID_ARGUMENT, "unknown dtype %d", (int)dt);
}
