// head.cu: what follows the encoder. Pooling (first token or mean, then an
// optional L2 normalisation) for embeddings; the classification head's hidden
// activation (BERT pooler tanh, DistilBERT pre_classifier ReLU) after its
// GEMM; and the score function (softmax / sigmoid) after the classifier GEMM.
// The GEMMs themselves are cuBLAS calls in src/cuda/forward_cuda.c.
// CPU twins: encore_pool_cpu, the loop in encore_head_cpu, encore_scores_cpu
// (src/cpu/forward_cpu.c).
#include "common.cuh"

namespace {

constexpr int kPoolThreads = 256;

// One block per sequence. Sums in double, as the CPU reference does.
template <typename S>
__global__ __launch_bounds__(kPoolThreads) void pool_kernel(const S *__restrict__ hidden,
                                                            const int32_t *__restrict__ seq_start, int C, int mean,
                                                            int normalize, float *__restrict__ out) {
    __shared__ double partial[kPoolThreads / 32];
    const int b = blockIdx.x;
    const int start = seq_start[b], n = seq_start[b + 1] - start;
    float *o = out + (size_t)b * C;  // (C)
    double sq = 0.0;
    for (int c = threadIdx.x; c < C; c += blockDim.x) {
        float v;
        if (mean) {
            double sum = 0.0;
            for (int t = 0; t < n; t++) sum += (double)encore::to_float<S>(hidden[(size_t)(start + t) * C + c]);
            v = (float)(sum / n);
        } else {
            v = encore::to_float<S>(hidden[(size_t)start * C + c]);
        }
        o[c] = v;
        sq += (double)v * v;
    }
    if (!normalize) return;
#pragma unroll
    for (int off = 16; off > 0; off >>= 1) sq += __shfl_xor_sync(0xffffffffu, sq, off);
    if (threadIdx.x % 32 == 0) partial[threadIdx.x / 32] = sq;
    __syncthreads();
    double total = 0.0;
    for (int w = 0; w < (int)(blockDim.x / 32); w++) total += partial[w];
    double norm = sqrt(total);
    if (norm < 1e-12) norm = 1e-12;  // sentence-transformers: x / max(||x||, 1e-12)
    for (int c = threadIdx.x; c < C; c += blockDim.x) o[c] = (float)(o[c] / norm);
}

__global__ void head_act_kernel(float *__restrict__ x, const float *__restrict__ bias, size_t n, int N, int act) {
    for (size_t i = blockIdx.x * (size_t)blockDim.x + threadIdx.x; i < n; i += (size_t)gridDim.x * blockDim.x) {
        const float v = x[i] + bias[i % (size_t)N];
        x[i] = act == ENCORE_HEAD_ACT_RELU   ? (v > 0.0f ? v : 0.0f)
               : act == ENCORE_HEAD_ACT_GELU ? 0.5f * v * (1.0f + erff(v * 0.70710678118654752f))
                                             : tanhf(v);
    }
}

// One warp per row of L logits.
__global__ void scores_kernel(float *__restrict__ logits, const float *__restrict__ bias, int B, int L, int fn) {
    const int row = blockIdx.x * (blockDim.x / 32) + threadIdx.x / 32, lane = threadIdx.x % 32;
    if (row >= B) return;
    float *r = logits + (size_t)row * L;
    if (bias)
        for (int i = lane; i < L; i += 32) r[i] += bias[i];
    if (fn == ENCORE_SCORE_FUNCTION_SIGMOID) {
        for (int i = lane; i < L; i += 32) r[i] = 1.0f / (1.0f + expf(-r[i]));
    } else if (fn == ENCORE_SCORE_FUNCTION_SOFTMAX) {
        __syncwarp();
        float mx = -INFINITY;
        for (int i = lane; i < L; i += 32) mx = fmaxf(mx, r[i]);
        mx = encore::warp_max(mx);
        float sum = 0.0f;
        for (int i = lane; i < L; i += 32) sum += expf(r[i] - mx);
        sum = encore::warp_sum(sum);
        for (int i = lane; i < L; i += 32) r[i] = expf(r[i] - mx) / sum;
    }
}

// Rows of at least kWideRow logits (the fill-mask head's vocabulary-wide
// rows): one block of kWideThreads per row, so that a row's three passes are
// shared by 8 warps instead of run by one (a few dozen rows would otherwise
// occupy a few dozen warps of the GPU).
constexpr int kWideRow = 1024, kWideThreads = 256;

// The block's max or sum of v, every thread getting it. red: kWideThreads / 32
// floats of shared memory, free again when this returns.
template <bool kMax> __device__ float block_reduce(float v, float *red) {
    const int lane = threadIdx.x % 32, warp = threadIdx.x / 32;
    v = kMax ? encore::warp_max(v) : encore::warp_sum(v);
    if (lane == 0) red[warp] = v;
    __syncthreads();
    float r = red[0];
    for (int w = 1; w < kWideThreads / 32; w++) r = kMax ? fmaxf(r, red[w]) : r + red[w];
    __syncthreads();  // red is written again by the next reduction
    return r;
}

__global__ __launch_bounds__(kWideThreads) void scores_wide_kernel(float *__restrict__ logits,
                                                                     const float *__restrict__ bias, int L, int fn) {
    __shared__ float red[kWideThreads / 32];
    float *r = logits + (size_t)blockIdx.x * L;
    if (bias)
        for (int i = threadIdx.x; i < L; i += kWideThreads) r[i] += bias[i];
    if (fn == ENCORE_SCORE_FUNCTION_SIGMOID) {
        for (int i = threadIdx.x; i < L; i += kWideThreads) r[i] = 1.0f / (1.0f + expf(-r[i]));
    } else if (fn == ENCORE_SCORE_FUNCTION_SOFTMAX) {
        // Each thread reads back only the elements it wrote itself.
        float mx = -INFINITY;
        for (int i = threadIdx.x; i < L; i += kWideThreads) mx = fmaxf(mx, r[i]);
        mx = block_reduce<true>(mx, red);
        float sum = 0.0f;
        for (int i = threadIdx.x; i < L; i += kWideThreads) sum += expf(r[i] - mx);
        sum = block_reduce<false>(sum, red);
        for (int i = threadIdx.x; i < L; i += kWideThreads) r[i] = expf(r[i] - mx) / sum;
    }
}

}  // namespace

extern "C" encore_status encore_pool_cuda(const void *hidden, const int32_t *seq_start, int B, int C,
                                          encore_pooling pooling, int normalize, encore_cuda_dtype dt, float *out,
                                          cudaStream_t stream) {
    if (B == 0) return ENCORE_STATUS_OK;
    if (!hidden || !seq_start || !out || B < 0 || C < 1 || pooling == ENCORE_POOLING_DEFAULT)
        return encore_fail(ENCORE_STATUS_INVALID_ARGUMENT, "encore_pool_cuda: bad arguments");
    if ((int)dt < (int)ENCORE_CUDA_F32 || (int)dt > (int)ENCORE_CUDA_BF16)
        return encore_fail(ENCORE_STATUS_INVALID_ARGUMENT, "unknown dtype %d", (int)dt);
    const int mean = pooling == ENCORE_POOLING_MEAN;
    ENCORE_DISPATCH_DTYPE(dt, encore::launch(pool_kernel<scalar_t>, B, kPoolThreads, 0, stream,
                                             static_cast<const scalar_t *>(hidden), seq_start, C, mean, normalize,
                                             out));
    ENCORE_CUDA_CHECK_LAUNCH(stream, "pool_kernel");
    return ENCORE_STATUS_OK;
}

extern "C" encore_status encore_head_act_cuda(float *x, const float *bias, int B, int N, encore_head_act act,
                                              cudaStream_t stream) {
    if (B == 0) return ENCORE_STATUS_OK;
    if (!x || !bias || B < 0 || N < 1 || act < ENCORE_HEAD_ACT_TANH || act > ENCORE_HEAD_ACT_GELU)
        return encore_fail(ENCORE_STATUS_INVALID_ARGUMENT, "encore_head_act_cuda: bad arguments");
    const size_t n = (size_t)B * N;
    const size_t want = (n + 255) / 256;
    encore::launch(head_act_kernel, (unsigned)(want < 65536 ? want : 65536), 256, 0, stream, x, bias, n, N, (int)act);
    ENCORE_CUDA_CHECK_LAUNCH(stream, "head_act_kernel");
    return ENCORE_STATUS_OK;
}

extern "C" encore_status encore_scores_cuda(float *logits, const float *bias, int B, int L, encore_score_function fn,
                                            cudaStream_t stream) {
    if (B == 0) return ENCORE_STATUS_OK;
    if (!logits || B < 0 || L < 1)
        return encore_fail(ENCORE_STATUS_INVALID_ARGUMENT, "encore_scores_cuda: bad arguments");
    if (L >= kWideRow) {
        encore::launch(scores_wide_kernel, (unsigned)B, kWideThreads, 0, stream, logits, bias, L, (int)fn);
        ENCORE_CUDA_CHECK_LAUNCH(stream, "scores_wide_kernel");
        return ENCORE_STATUS_OK;
    }
    const int warps = 4;
    encore::launch(scores_kernel, (B + warps - 1) / warps, warps * 32, 0, stream, logits, bias, B, L, (int)fn);
    ENCORE_CUDA_CHECK_LAUNCH(stream, "scores_kernel");
    return ENCORE_STATUS_OK;
}

namespace {

// SPLADE: one thread per vocabulary entry v, over the n rows of logits in
// order, so that each entry of acc has one writer and the sums come in row
// order. acc (slots, V) starts at 0: max pooling keeps the largest logit
// (the activation never decreases; the host activates it once), sum
// pooling adds each row's log(1 + relu(x)) (log1p once more for
// "log1p_relu").
__global__ void splade_fold_kernel(const float *__restrict__ logits, const float *__restrict__ bias,
                                   const int32_t *__restrict__ slot, int n, int V, int sum, int log1p_twice,
                                   float *__restrict__ acc) {
    for (int v = blockIdx.x * blockDim.x + threadIdx.x; v < V; v += gridDim.x * blockDim.x) {
        const float b = bias[v];
        for (int r = 0; r < n; r++) {
            const float x = logits[(size_t)r * V + v] + b;
            float *a = acc + (size_t)slot[r] * V + v;
            if (!sum) {
                if (x > *a) *a = x;
            } else if (x > 0.0f) {
                float y = log1pf(x);
                if (log1p_twice) y = log1pf(y);
                *a += y;
            }
        }
    }
}

}  // namespace

extern "C" encore_status encore_splade_fold_cuda(const float *logits, const float *bias, const int32_t *slot, int n,
                                                 int V, int sum, int log1p_twice, float *acc, cudaStream_t stream) {
    if (n == 0) return ENCORE_STATUS_OK;
    if (!logits || !bias || !slot || !acc || n < 0 || V < 1)
        return encore_fail(ENCORE_STATUS_INVALID_ARGUMENT, "encore_splade_fold_cuda: bad arguments");
    const int threads = 256, blocks = (V + threads - 1) / threads;
    encore::launch(splade_fold_kernel, (unsigned)blocks, threads, 0, stream, logits, bias, slot, n, V, sum,
                   log1p_twice, acc);
    ENCORE_CUDA_CHECK_LAUNCH(stream, "splade_fold_kernel");
    return ENCORE_STATUS_OK;
}
