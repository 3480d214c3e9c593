/* cpu_ops.c: plain loops and a BLAS GEMM. Readable first: this is the
 * reference implementation. The forward pass's GEMMs are in gemm_cpu.c and
 * its exact GELU in erf_cpu.c. */
#include "cpu_ops.h"

#include "erf_cpu.h"

#include <cblas.h>
#include <math.h>
#include <omp.h>
#include <string.h>

/* Normalise one row in place with statistics in double, as exact as we can
 * make them: the CUDA kernels and PyTorch both accumulate in fp32, and the
 * reference should be the better of the two. */
static void layernorm_row(float *x, const float *gamma, const float *beta, float eps, int C) {
    double mean = 0.0, var = 0.0;
    for (int c = 0; c < C; c++) mean += x[c];
    mean /= C;
    for (int c = 0; c < C; c++) var += (x[c] - mean) * (x[c] - mean);
    var /= C;
    float rstd = (float)(1.0 / sqrt(var + (double)eps));
    float m = (float)mean;
    for (int c = 0; c < C; c++) x[c] = (x[c] - m) * rstd * gamma[c] + beta[c];
}

/* Below this many elements an elementwise op runs on one thread: waking the
 * pool costs more than the work. */
#define PARALLEL_MIN_ELEMENTS (1 << 16)

void encore_embed_cpu(const int32_t *ids, const int32_t *type_ids, const int32_t *positions, int T, int C,
                      const float *word, const float *pos, const float *type, const float *gamma,
                      const float *beta, float eps, float *out) {
#pragma omp parallel for schedule(static) if ((size_t)T * C >= PARALLEL_MIN_ELEMENTS)
    for (int t = 0; t < T; t++) {
        float *row = out + (size_t)t * C;                 // (C)
        const float *w = word + (size_t)ids[t] * C;       // (C)
        const float *p = pos + (size_t)positions[t] * C;  // (C)
        for (int c = 0; c < C; c++) row[c] = w[c] + p[c];
        if (type) {
            const float *ty = type + (size_t)type_ids[t] * C;
            for (int c = 0; c < C; c++) row[c] += ty[c];
        }
        layernorm_row(row, gamma, beta, eps, C);
    }
}

void encore_linear_cpu(const float *x, const float *w, const float *b, int T, int N, int K, float *out) {
    float beta = 0.0f;
    if (b) {
        for (int t = 0; t < T; t++) memcpy(out + (size_t)t * N, b, (size_t)N * sizeof(float));
        beta = 1.0f;
    }
    /* Each OpenMP thread computes a slice of the output columns with a
     * single-threaded GEMM. Every output element still sums over K in the
     * same order, whatever T is. Small products stay on one thread. */
    const double flops = 2.0 * T * N * K;
    const int threads = flops < 3e7 ? 1 : omp_get_max_threads();
#pragma omp parallel num_threads(threads)
    {
        const int nt = omp_get_num_threads(), id = omp_get_thread_num();
        const int step = (N + nt - 1) / nt;
        const int n0 = id * step, n1 = n0 + step < N ? n0 + step : N;
        if (n1 > n0)
            cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, T, n1 - n0, K, 1.0f, x, K, w + (size_t)n0 * K, K,
                        beta, out + n0, N);
    }
}

void encore_bias_residual_layernorm_cpu(float *x, const float *bias, const float *residual, const float *gamma,
                                        const float *beta, float eps, int T, int C) {
#pragma omp parallel for schedule(static) if ((size_t)T * C >= PARALLEL_MIN_ELEMENTS)
    for (int t = 0; t < T; t++) {
        float *row = x + (size_t)t * C;
        const float *res = residual + (size_t)t * C;
        for (int c = 0; c < C; c++) row[c] = row[c] + bias[c] + res[c];
        layernorm_row(row, gamma, beta, eps, C);
    }
}

/* The activations other than the exact GELU, which erf_cpu.c vectorises. */
static float activate(float v, encore_activation act) {
    switch (act) {
    case ENCORE_ACTIVATION_GELU: break;
    case ENCORE_ACTIVATION_GELU_TANH: {
        const float k = 0.7978845608028654f; /* sqrt(2 / pi) */
        return 0.5f * v * (1.0f + tanhf(k * (v + 0.044715f * v * v * v)));
    }
    case ENCORE_ACTIVATION_RELU: return v > 0.0f ? v : 0.0f;
    case ENCORE_ACTIVATION_SILU: return v / (1.0f + expf(-v));
    }
    return v;
}

void encore_bias_act_cpu(float *x, const float *bias, encore_activation act, int T, int N) {
#pragma omp parallel for schedule(static) if ((size_t)T * N >= PARALLEL_MIN_ELEMENTS)
    for (int t = 0; t < T; t++) {
        float *row = x + (size_t)t * N;
        if (act == ENCORE_ACTIVATION_GELU)
            encore_bias_gelu_isa_cpu(row, bias, (size_t)N, ENCORE_CPU_ISA_BEST);
        else
            for (int n = 0; n < N; n++) row[n] = activate(row[n] + bias[n], act);
    }
}

void encore_attention_cpu(const float *qkv, const int32_t *seq_start, int B, int H, int D, float *scratch,
                          int max_len, float *out) {
    const int C = H * D;
    const int ld = 3 * C;  // row stride of qkv
    const float scale = 1.0f / sqrtf((float)D);
    /* Plain loops, not BLAS: OpenMP already spreads (sequence, head) pairs
     * over the cores, and the inner loops over D vectorise (the q.k dot
     * product as a SIMD reduction). Even one short text is worth splitting
     * over the heads: at 25 tokens and 12 heads of 32 this is ~0.1 ms a
     * layer, against a few microseconds to wake the pool, and it was 1.1 ms
     * of an 8.5 ms text on 2 threads while it ran on one. */
    size_t work = 0;  // multiply-adds of q k^T and p v over all sequences
    for (int b = 0; b < B; b++) work += (size_t)(seq_start[b + 1] - seq_start[b]) * (seq_start[b + 1] - seq_start[b]);
    work *= 2 * (size_t)C;
#pragma omp parallel for collapse(2) schedule(dynamic) if (work >= 200000)
    for (int b = 0; b < B; b++) {
        for (int h = 0; h < H; h++) {
            const int S = seq_start[b + 1] - seq_start[b];
            const float *q = qkv + (size_t)seq_start[b] * ld + h * D;  // (S, D), stride ld
            const float *k = q + C;                                    // (S, D), stride ld
            const float *v = q + 2 * C;                                // (S, D), stride ld
            float *o = out + (size_t)seq_start[b] * C + h * D;         // (S, D), stride C
            float *p = scratch + (size_t)omp_get_thread_num() * max_len;  // (S) one row of probabilities
            for (int i = 0; i < S; i++) {
                const float *qi = q + (size_t)i * ld;
                float mx = -INFINITY;
                for (int j = 0; j < S; j++) {
                    const float *kj = k + (size_t)j * ld;
                    float dot = 0.0f;
#pragma omp simd reduction(+ : dot)
                    for (int d = 0; d < D; d++) dot += qi[d] * kj[d];
                    p[j] = dot * scale;
                    mx = p[j] > mx ? p[j] : mx;
                }
                float sum = 0.0f;
                for (int j = 0; j < S; j++) {
                    p[j] = expf(p[j] - mx);
                    sum += p[j];
                }
                float *oi = o + (size_t)i * C;
                for (int d = 0; d < D; d++) oi[d] = 0.0f;
                for (int j = 0; j < S; j++) {
                    const float *vj = v + (size_t)j * ld;
                    const float pj = p[j] / sum;
                    for (int d = 0; d < D; d++) oi[d] += pj * vj[d];
                }
            }
        }
    }
}
