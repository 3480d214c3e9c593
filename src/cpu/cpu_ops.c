/* cpu_ops.c: the CPU path's ops other than the GEMM (gemm_cpu.c) and the
 * exact GELU (erf_cpu.c), and the matrix-vector product of fill-mask's
 * decoder. Each op is written first as plain loops, the readable statement of
 * what it computes; attention, softmax and LayerNorm add AVX2 and AVX-512
 * versions beside it, chosen at run time, and the tests hold each to a
 * reference in double. The AVX-512 versions do the AVX2 versions'
 * arithmetic in the same order on wider vectors, so they give the same
 * bits. */
#include "cpu/cpu_ops.h"

#include "cpu/cpu_isa.h"
#include "cpu/erf_cpu.h"

#if defined(__x86_64__) || defined(__i386__)
#include <immintrin.h>
#endif
#include <math.h>
#include <omp.h>
#include <string.h>

/* Normalise one row in place with statistics in double, as exact as we can
 * make them: the CUDA kernels and PyTorch both accumulate in fp32, and the
 * reference should be the better of the two. */
static void layernorm_row_portable(float *x, const float *gamma, const float *beta, float eps, int C) {
    double mean = 0.0, var = 0.0;
    for (int c = 0; c < C; c++) mean += x[c];
    mean /= C;
    for (int c = 0; c < C; c++) var += (x[c] - mean) * (x[c] - mean);
    var /= C;
    float rstd = (float)(1.0 / sqrt(var + (double)eps));
    float m = (float)mean;
    for (int c = 0; c < C; c++) x[c] = (x[c] - m) * rstd * gamma[c] + beta[c];
}

#if defined(__x86_64__) || defined(__i386__)
__attribute__((target("avx2,fma"))) static double hsum_pd(__m256d v) {
    const __m128d s = _mm_add_pd(_mm256_castpd256_pd128(v), _mm256_extractf128_pd(v, 1));
    return _mm_cvtsd_f64(_mm_add_sd(s, _mm_unpackhi_pd(s, s)));
}

/* The same for C a multiple of 8, the sums in 8 double lanes (the order of
 * a double sum of floats changes its last bits at most, far below float's),
 * and the normalisation in float with the same operations in the same
 * order, the last two fused. The FMAs are written out, so that the AVX-512
 * version below can repeat them exactly. */
__attribute__((target("avx2,fma"))) static void layernorm_row_avx2(float *x, const float *gamma, const float *beta,
                                                                    float eps, int C) {
    __m256d s0 = _mm256_setzero_pd(), s1 = s0;
    for (int c = 0; c < C; c += 8) {
        const __m256 v = _mm256_loadu_ps(x + c);
        s0 = _mm256_add_pd(s0, _mm256_cvtps_pd(_mm256_castps256_ps128(v)));
        s1 = _mm256_add_pd(s1, _mm256_cvtps_pd(_mm256_extractf128_ps(v, 1)));
    }
    const double mean = hsum_pd(_mm256_add_pd(s0, s1)) / C;
    const __m256d md = _mm256_set1_pd(mean);
    __m256d v0 = _mm256_setzero_pd(), v1 = v0;
    for (int c = 0; c < C; c += 8) {
        const __m256 v = _mm256_loadu_ps(x + c);
        const __m256d d0 = _mm256_sub_pd(_mm256_cvtps_pd(_mm256_castps256_ps128(v)), md);
        const __m256d d1 = _mm256_sub_pd(_mm256_cvtps_pd(_mm256_extractf128_ps(v, 1)), md);
        v0 = _mm256_fmadd_pd(d0, d0, v0);
        v1 = _mm256_fmadd_pd(d1, d1, v1);
    }
    const double var = hsum_pd(_mm256_add_pd(v0, v1)) / C;
    const __m256 rstd = _mm256_set1_ps((float)(1.0 / sqrt(var + (double)eps)));
    const __m256 m = _mm256_set1_ps((float)mean);
    for (int c = 0; c < C; c += 8) {
        const __m256 y = _mm256_mul_ps(_mm256_sub_ps(_mm256_loadu_ps(x + c), m), rstd);
        _mm256_storeu_ps(x + c, _mm256_fmadd_ps(y, _mm256_loadu_ps(gamma + c), _mm256_loadu_ps(beta + c)));
    }
}

#define AVX512 __attribute__((target("avx512f,avx2,fma")))

/* The AVX2 version on zmm registers. Eight floats widen to one zmm of
 * doubles whose lane l sums the x[c] with c % 8 == l, as lane l of the AVX2
 * version's (s0, s1) pair does, in the same order; the normalisation runs
 * 16 floats at a time, then 8. */
AVX512 static void layernorm_row_avx512(float *x, const float *gamma, const float *beta, float eps, int C) {
    __m512d s = _mm512_setzero_pd();
    for (int c = 0; c < C; c += 8) s = _mm512_add_pd(s, _mm512_cvtps_pd(_mm256_loadu_ps(x + c)));
    const double mean = hsum_pd(_mm256_add_pd(_mm512_castpd512_pd256(s), _mm512_extractf64x4_pd(s, 1))) / C;
    const __m512d md = _mm512_set1_pd(mean);
    __m512d v = _mm512_setzero_pd();
    for (int c = 0; c < C; c += 8) {
        const __m512d d = _mm512_sub_pd(_mm512_cvtps_pd(_mm256_loadu_ps(x + c)), md);
        v = _mm512_fmadd_pd(d, d, v);
    }
    const double var = hsum_pd(_mm256_add_pd(_mm512_castpd512_pd256(v), _mm512_extractf64x4_pd(v, 1))) / C;
    const float rstd = (float)(1.0 / sqrt(var + (double)eps)), m = (float)mean;
    int c = 0;
    for (; c + 16 <= C; c += 16) {
        const __m512 y = _mm512_mul_ps(_mm512_sub_ps(_mm512_loadu_ps(x + c), _mm512_set1_ps(m)), _mm512_set1_ps(rstd));
        _mm512_storeu_ps(x + c, _mm512_fmadd_ps(y, _mm512_loadu_ps(gamma + c), _mm512_loadu_ps(beta + c)));
    }
    if (c < C) {  // 8 left
        const __m256 y = _mm256_mul_ps(_mm256_sub_ps(_mm256_loadu_ps(x + c), _mm256_set1_ps(m)), _mm256_set1_ps(rstd));
        _mm256_storeu_ps(x + c, _mm256_fmadd_ps(y, _mm256_loadu_ps(gamma + c), _mm256_loadu_ps(beta + c)));
    }
}
#endif

/* LayerNorm of one row on the given path (PORTABLE, AVX2 or AVX512); the
 * vector versions take C a multiple of 8. */
static void layernorm_row_path(float *x, const float *gamma, const float *beta, float eps, int C, int path) {
#if defined(__x86_64__) || defined(__i386__)
    if (C % 8 == 0 && path == ENCORE_CPU_ISA_AVX512) {
        layernorm_row_avx512(x, gamma, beta, eps, C);
        return;
    }
    if (C % 8 == 0 && path == ENCORE_CPU_ISA_AVX2) {
        layernorm_row_avx2(x, gamma, beta, eps, C);
        return;
    }
#endif
    (void)path;
    layernorm_row_portable(x, gamma, beta, eps, C);
}

static void layernorm_row(float *x, const float *gamma, const float *beta, float eps, int C) {
    layernorm_row_path(x, gamma, beta, eps, C, encore_cpu_isa_resolve(ENCORE_CPU_ISA_BEST));
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
        if (pos) {
            const float *p = pos + (size_t)positions[t] * C;  // (C)
            for (int c = 0; c < C; c++) row[c] = w[c] + p[c];
        } else { /* DeBERTa-v3: no absolute positions */
            memcpy(row, w, (size_t)C * sizeof(float));
        }
        if (type) {
            const float *ty = type + (size_t)type_ids[t] * C;
            for (int c = 0; c < C; c++) row[c] += ty[c];
        }
        layernorm_row(row, gamma, beta, eps, C);
    }
}

/* out[n] += w[n] . x over k in order: the statement of what the vector
 * versions compute. */
static void matvec_rows_portable(const float *w, const float *x, int n0, int n1, int K, float *out) {
    for (int n = n0; n < n1; n++) {
        const float *row = w + (size_t)n * K;
        float sum = 0.0f;
        for (int k = 0; k < K; k++) sum += row[k] * x[k];
        out[n] += sum;
    }
}

#if defined(__x86_64__) || defined(__i386__)
/* The same with each row's sum in 4 x 8 lanes (k mod 32), then the rest of
 * k in order. The matrix is read once, so this is bound by memory, and
 * 256-bit vectors keep up with it on AVX-512 machines too: one version
 * for both, with the same bits on both. */
__attribute__((target("avx2,fma"))) static void matvec_rows_avx2(const float *w, const float *x, int n0, int n1,
                                                                  int K, float *out) {
    for (int n = n0; n < n1; n++) {
        const float *row = w + (size_t)n * K;
        __m256 s0 = _mm256_setzero_ps(), s1 = s0, s2 = s0, s3 = s0;
        int k = 0;
        for (; k + 32 <= K; k += 32) {
            s0 = _mm256_fmadd_ps(_mm256_loadu_ps(row + k), _mm256_loadu_ps(x + k), s0);
            s1 = _mm256_fmadd_ps(_mm256_loadu_ps(row + k + 8), _mm256_loadu_ps(x + k + 8), s1);
            s2 = _mm256_fmadd_ps(_mm256_loadu_ps(row + k + 16), _mm256_loadu_ps(x + k + 16), s2);
            s3 = _mm256_fmadd_ps(_mm256_loadu_ps(row + k + 24), _mm256_loadu_ps(x + k + 24), s3);
        }
        const __m256 s = _mm256_add_ps(_mm256_add_ps(s0, s1), _mm256_add_ps(s2, s3));
        __m128 h = _mm_add_ps(_mm256_castps256_ps128(s), _mm256_extractf128_ps(s, 1));
        h = _mm_add_ps(h, _mm_movehl_ps(h, h));
        h = _mm_add_ss(h, _mm_movehdup_ps(h));
        float sum = _mm_cvtss_f32(h);
        for (; k < K; k++) sum = fmaf(row[k], x[k], sum);
        out[n] += sum;
    }
}
#endif

int encore_matvec_isa_cpu(const float *w, const float *x, int N, int K, float *out, encore_cpu_isa isa) {
    const int use_avx2 = encore_cpu_isa_use_avx2(isa);
    if (use_avx2 < 0) return -1;
    /* Rows in blocks of 64 over the threads: each row's sum is one
     * thread's, so the result is the same for any thread count. */
    const int blocks = (N + 63) / 64;
#pragma omp parallel for schedule(static) if ((size_t)N * K >= PARALLEL_MIN_ELEMENTS)
    for (int i = 0; i < blocks; i++) {
        const int n0 = i * 64, n1 = n0 + 64 < N ? n0 + 64 : N;
#if defined(__x86_64__) || defined(__i386__)
        if (use_avx2) {
            matvec_rows_avx2(w, x, n0, n1, K, out);
            continue;
        }
#endif
        matvec_rows_portable(w, x, n0, n1, K, out);
    }
    return 0;
}

void encore_matvec_cpu(const float *w, const float *x, int N, int K, float *out) {
    encore_matvec_isa_cpu(w, x, N, K, out, ENCORE_CPU_ISA_BEST);
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
    case ENCORE_ACTIVATION_TANH: return tanhf(v);
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

void encore_act_block_cpu(float *x, size_t ldx, int rows, int cols, encore_activation act) {
    if (act == ENCORE_ACTIVATION_GELU) {
        encore_gelu_block_isa_cpu(x, ldx, rows, cols, ENCORE_CPU_ISA_BEST);
        return;
    }
    for (int r = 0; r < rows; r++)
        for (int n = 0; n < cols; n++) x[(size_t)r * ldx + n] = activate(x[(size_t)r * ldx + n], act);
}

void encore_residual_layernorm_row_cpu(float *row, const float *residual, const float *gamma, const float *beta,
                                       float eps, int C) {
    for (int c = 0; c < C; c++) row[c] += residual[c];
    layernorm_row(row, gamma, beta, eps, C);
}

int encore_residual_layernorm_row_isa_cpu(float *row, const float *residual, const float *gamma, const float *beta,
                                          float eps, int C, encore_cpu_isa isa) {
    const int path = encore_cpu_isa_resolve(isa);
    if (path < 0) return -1;
    for (int c = 0; c < C; c++) row[c] += residual[c];
    layernorm_row_path(row, gamma, beta, eps, C, path);
    return 0;
}

/* Keys per row of the transposed keys, rounded up to whole vectors. */
static size_t padded_keys(int max_len) { return ((size_t)max_len + 7) / 8 * 8; }

/* Queries the AVX-512 head takes at a time (the AVX2 head takes 4): its 32
 * registers hold 8 queries x 32 keys of sums, 16 accumulators, enough to
 * keep both FMA pipes busy through their latency. */
#define QB_AVX512 8

/* Per thread: the transposed keys (D, padded), QB_AVX512 rows of scores and
 * the values gathered (padded, D). */
static size_t scratch_per_thread(int max_len, int D) {
    return padded_keys(max_len) * (size_t)(2 * D + QB_AVX512);
}

size_t encore_attention_scratch_floats(int threads, int max_len, int D) {
    return (size_t)threads * scratch_per_thread(max_len, D);
}

/* Softmax in place over p[0, n), one score at a time. */
static inline void softmax_row_portable(float *p, int n) {
    float mx = -INFINITY, sum = 0.0f;
    for (int j = 0; j < n; j++) mx = p[j] > mx ? p[j] : mx;
    for (int j = 0; j < n; j++) {
        p[j] = expf(p[j] - mx);
        sum += p[j];
    }
    for (int j = 0; j < n; j++) p[j] /= sum;
}

/* Query i's scores p[0, S) += the relative position bias of each key j:
 * rel[j - i] (rel: the head's row of encore_attention_rel, centred). */
__attribute__((always_inline)) static inline void add_rel_bias(float *restrict p, const float *rel, int i, int S) {
    const float *restrict r = rel - i;
    for (int j = 0; j < S; j++) p[j] += r[j];
}

/* One head of one sequence: o (S, D), row stride ldo, from q, k, v (S, D),
 * row stride ld. kt: (D, S) scratch for the keys transposed, so that a
 * query's scores come out S at a time: for each d, p[0..S) += q[d] * kt[d].
 * Every loop is unit stride and vectorises, over keys or over D. Written
 * once, compiled twice below: for AVX2 + FMA and for any x86-64. */
__attribute__((always_inline)) static inline void attend_head(const float *restrict q, const float *restrict k,
                                                              const float *restrict v, int S, int D, size_t ld,
                                                              float scale, const float *rel, float *restrict kt,
                                                              float *restrict p, float *restrict o, size_t ldo) {
    for (int j = 0; j < S; j++)
        for (int d = 0; d < D; d++) kt[(size_t)d * S + j] = k[(size_t)j * ld + d];
    for (int i = 0; i < S; i++) {
        const float *qi = q + (size_t)i * ld;
        for (int j = 0; j < S; j++) p[j] = 0.0f;
        for (int d = 0; d < D; d++) {
            const float qd = qi[d];
            const float *kd = kt + (size_t)d * S;
            for (int j = 0; j < S; j++) p[j] += qd * kd[j];
        }
        for (int j = 0; j < S; j++) p[j] *= scale;
        if (rel) add_rel_bias(p, rel, i, S);
        softmax_row_portable(p, S);
        float *oi = o + (size_t)i * ldo;
        for (int d = 0; d < D; d++) oi[d] = 0.0f;
        for (int j = 0; j < S; j++) {
            const float *vj = v + (size_t)j * ld;
            for (int d = 0; d < D; d++) oi[d] += p[j] * vj[d];
        }
    }
}

#if defined(__x86_64__) || defined(__i386__)
/* The constants of exp8 and exp16, written once so that the two widths
 * cannot drift apart: the clamp, log2(e), ln 2 split in a high part exact
 * in float and the rest (Cody-Waite), and Cephes' degree-6 polynomial for
 * e^r, highest power first. */
#define EXP_LO -87.33654f
#define EXP_HI 88.0f
#define EXP_LOG2E 1.44269504088896341f
#define EXP_LN2_HI 0.693359375f
#define EXP_LN2_LO -2.12194440e-4f
#define EXP_P0 1.9875691500e-4f
#define EXP_P1 1.3981999507e-3f
#define EXP_P2 8.3333337670e-3f
#define EXP_P3 4.1665795894e-2f
#define EXP_P4 1.6666665459e-1f
#define EXP_P5 5.0000001201e-1f

/* e^x for 8 floats, within about 2 ulp of expf: x = n ln2 + r with |r| <=
 * ln2 / 2, e^r from Cephes' degree-6 polynomial, times 2^n built in the
 * exponent bits. Below -87.3 (where expf turns denormal, under 1e-38) it
 * gives 0. Softmax only: its arguments are <= 0. */
__attribute__((target("avx2,fma"))) static inline __m256 exp8(__m256 x) {
    const __m256 lo = _mm256_set1_ps(EXP_LO);
    const __m256 under = _mm256_cmp_ps(x, lo, _CMP_LT_OQ);
    x = _mm256_max_ps(_mm256_min_ps(x, _mm256_set1_ps(EXP_HI)), lo);
    const __m256 n = _mm256_round_ps(_mm256_mul_ps(x, _mm256_set1_ps(EXP_LOG2E)),
                                     _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC);
    __m256 r = _mm256_fnmadd_ps(n, _mm256_set1_ps(EXP_LN2_HI), x);
    r = _mm256_fnmadd_ps(n, _mm256_set1_ps(EXP_LN2_LO), r);
    __m256 y = _mm256_set1_ps(EXP_P0);
    y = _mm256_fmadd_ps(y, r, _mm256_set1_ps(EXP_P1));
    y = _mm256_fmadd_ps(y, r, _mm256_set1_ps(EXP_P2));
    y = _mm256_fmadd_ps(y, r, _mm256_set1_ps(EXP_P3));
    y = _mm256_fmadd_ps(y, r, _mm256_set1_ps(EXP_P4));
    y = _mm256_fmadd_ps(y, r, _mm256_set1_ps(EXP_P5));
    y = _mm256_fmadd_ps(y, _mm256_mul_ps(r, r), _mm256_add_ps(r, _mm256_set1_ps(1.0f)));
    const __m256i e = _mm256_slli_epi32(_mm256_add_epi32(_mm256_cvtps_epi32(n), _mm256_set1_epi32(127)), 23);
    return _mm256_andnot_ps(under, _mm256_mul_ps(y, _mm256_castsi256_ps(e)));
}

/* The sum of the exponentials in 4 x 8 lanes: block b of 8 keys goes into
 * s<b % 4>, so that the adds do not wait on each other one block after the
 * next (a chain of dependent adds had been the slowest part of a long
 * row). For the blocks after the last whole 4: */
__attribute__((target("avx2,fma"), always_inline)) static inline void add_block(__m256 *s0, __m256 *s1, __m256 *s2,
                                                                                __m256 *s3, int b, __m256 e) {
    switch (b & 3) {
    case 0: *s0 = _mm256_add_ps(*s0, e); break;
    case 1: *s1 = _mm256_add_ps(*s1, e); break;
    case 2: *s2 = _mm256_add_ps(*s2, e); break;
    default: *s3 = _mm256_add_ps(*s3, e); break;
    }
}

/* Softmax in place over pr[0, S), 8 at a time. */
__attribute__((target("avx2,fma"))) static void softmax_row_avx2(float *pr, int S) {
    const int S8 = S / 8 * 8;
    __m256 vmx = _mm256_set1_ps(-INFINITY);
    for (int j = 0; j < S8; j += 8) vmx = _mm256_max_ps(vmx, _mm256_loadu_ps(pr + j));
    float m8[8];
    _mm256_storeu_ps(m8, vmx);
    float mx = -INFINITY;
    for (int l = 0; l < 8; l++) mx = m8[l] > mx ? m8[l] : mx;
    for (int j = S8; j < S; j++) mx = pr[j] > mx ? pr[j] : mx;
    const __m256 bmx = _mm256_set1_ps(mx);
    __m256 s0 = _mm256_setzero_ps(), s1 = s0, s2 = s0, s3 = s0;
    int at = 0;
    for (; at + 32 <= S8; at += 32) {
        const __m256 e0 = exp8(_mm256_sub_ps(_mm256_loadu_ps(pr + at), bmx));
        const __m256 e1 = exp8(_mm256_sub_ps(_mm256_loadu_ps(pr + at + 8), bmx));
        const __m256 e2 = exp8(_mm256_sub_ps(_mm256_loadu_ps(pr + at + 16), bmx));
        const __m256 e3 = exp8(_mm256_sub_ps(_mm256_loadu_ps(pr + at + 24), bmx));
        _mm256_storeu_ps(pr + at, e0);
        _mm256_storeu_ps(pr + at + 8, e1);
        _mm256_storeu_ps(pr + at + 16, e2);
        _mm256_storeu_ps(pr + at + 24, e3);
        s0 = _mm256_add_ps(s0, e0);
        s1 = _mm256_add_ps(s1, e1);
        s2 = _mm256_add_ps(s2, e2);
        s3 = _mm256_add_ps(s3, e3);
    }
    for (; at < S8; at += 8) {
        const __m256 e = exp8(_mm256_sub_ps(_mm256_loadu_ps(pr + at), bmx));
        _mm256_storeu_ps(pr + at, e);
        add_block(&s0, &s1, &s2, &s3, at / 8, e);
    }
    if (S8 < S) {  // the last few, through a zero-padded vector
        float t[8] = {0};
        for (int j = S8; j < S; j++) t[j - S8] = pr[j] - mx;
        const __m256 live = _mm256_cmp_ps(_mm256_setr_ps(0, 1, 2, 3, 4, 5, 6, 7), _mm256_set1_ps((float)(S - S8)),
                                          _CMP_LT_OQ);
        const __m256 e = _mm256_and_ps(live, exp8(_mm256_loadu_ps(t)));
        _mm256_storeu_ps(t, e);
        for (int j = S8; j < S; j++) pr[j] = t[j - S8];
        add_block(&s0, &s1, &s2, &s3, S8 / 8, e);
    }
    const __m256 vsum = _mm256_add_ps(_mm256_add_ps(s0, s1), _mm256_add_ps(s2, s3));
    float s8[8];
    _mm256_storeu_ps(s8, vsum);
    const float sum = ((s8[0] + s8[1]) + (s8[2] + s8[3])) + ((s8[4] + s8[5]) + (s8[6] + s8[7]));
    const __m256 bsum = _mm256_set1_ps(sum);
    for (int j = 0; j < S8; j += 8) _mm256_storeu_ps(pr + j, _mm256_div_ps(_mm256_loadu_ps(pr + j), bsum));
    for (int j = S8; j < S; j++) pr[j] /= sum;
}

/* The AVX2 head for D a multiple of 8, with its sums in registers: the
 * plain loops above keep them in memory, and each step then waits on the
 * last one's store. kt: (D, Sp), the keys transposed and zero-padded to Sp,
 * a multiple of 8; p: (4, Sp) then (Sp, D) for the values.
 * - scores: 4 queries x 16 keys at a time, 8 accumulators over d;
 * - softmax: per query, 8 keys at a time (exp8);
 * - p v: 2 queries x 32 columns at a time, 8 accumulators over keys.
 * Queries past the last (when S is not a multiple of 4 or 2) reuse the last
 * query's row and are not stored. */
__attribute__((target("avx2,fma"))) static void attend_head_avx2_d8(const float *q, const float *k,
                                                                     const float *v_strided, int S, int D, size_t ld,
                                                                     float scale, const float *rel, float *kt,
                                                                     float *p, float *o, size_t ldo) {
    const int Sp = (S + 7) / 8 * 8;
    for (int d = 0; d < D; d++) {
        float *row = kt + (size_t)d * Sp;
        for (int j = 0; j < S; j++) row[j] = k[(size_t)j * ld + d];
        for (int j = S; j < Sp; j++) row[j] = 0.0f;
    }
    /* The head's values side by side, (S, D): p v sweeps them once per two
     * queries, and in qkv they lie 3C floats apart, a new cache line each
     * (for a long text, farther apart than L2 holds). */
    float *v = p + 4 * (size_t)Sp;
    for (int j = 0; j < S; j++) memcpy(v + (size_t)j * D, v_strided + (size_t)j * ld, (size_t)D * sizeof(float));
    const size_t ldv = (size_t)D;
    const __m256 vscale = _mm256_set1_ps(scale);
    for (int i0 = 0; i0 < S; i0 += 4) {
        const int rows = S - i0 < 4 ? S - i0 : 4;
        const float *qr[4];
        for (int r = 0; r < 4; r++) qr[r] = q + (size_t)(i0 + (r < rows ? r : rows - 1)) * ld;
        int j0 = 0;
        for (; j0 + 16 <= Sp; j0 += 16) {
            __m256 a0 = _mm256_setzero_ps(), a1 = a0, a2 = a0, a3 = a0, b0 = a0, b1 = a0, b2 = a0, b3 = a0;
            for (int d = 0; d < D; d++) {
                const __m256 k0 = _mm256_loadu_ps(kt + (size_t)d * Sp + j0);
                const __m256 k1 = _mm256_loadu_ps(kt + (size_t)d * Sp + j0 + 8);
                const __m256 x0 = _mm256_broadcast_ss(qr[0] + d), x1 = _mm256_broadcast_ss(qr[1] + d);
                const __m256 x2 = _mm256_broadcast_ss(qr[2] + d), x3 = _mm256_broadcast_ss(qr[3] + d);
                a0 = _mm256_fmadd_ps(x0, k0, a0);
                b0 = _mm256_fmadd_ps(x0, k1, b0);
                a1 = _mm256_fmadd_ps(x1, k0, a1);
                b1 = _mm256_fmadd_ps(x1, k1, b1);
                a2 = _mm256_fmadd_ps(x2, k0, a2);
                b2 = _mm256_fmadd_ps(x2, k1, b2);
                a3 = _mm256_fmadd_ps(x3, k0, a3);
                b3 = _mm256_fmadd_ps(x3, k1, b3);
            }
            _mm256_storeu_ps(p + 0 * (size_t)Sp + j0, _mm256_mul_ps(a0, vscale));
            _mm256_storeu_ps(p + 0 * (size_t)Sp + j0 + 8, _mm256_mul_ps(b0, vscale));
            _mm256_storeu_ps(p + 1 * (size_t)Sp + j0, _mm256_mul_ps(a1, vscale));
            _mm256_storeu_ps(p + 1 * (size_t)Sp + j0 + 8, _mm256_mul_ps(b1, vscale));
            _mm256_storeu_ps(p + 2 * (size_t)Sp + j0, _mm256_mul_ps(a2, vscale));
            _mm256_storeu_ps(p + 2 * (size_t)Sp + j0 + 8, _mm256_mul_ps(b2, vscale));
            _mm256_storeu_ps(p + 3 * (size_t)Sp + j0, _mm256_mul_ps(a3, vscale));
            _mm256_storeu_ps(p + 3 * (size_t)Sp + j0 + 8, _mm256_mul_ps(b3, vscale));
        }
        if (j0 < Sp) {  // one block of 8 keys left
            __m256 a0 = _mm256_setzero_ps(), a1 = a0, a2 = a0, a3 = a0;
            for (int d = 0; d < D; d++) {
                const __m256 k0 = _mm256_loadu_ps(kt + (size_t)d * Sp + j0);
                a0 = _mm256_fmadd_ps(_mm256_broadcast_ss(qr[0] + d), k0, a0);
                a1 = _mm256_fmadd_ps(_mm256_broadcast_ss(qr[1] + d), k0, a1);
                a2 = _mm256_fmadd_ps(_mm256_broadcast_ss(qr[2] + d), k0, a2);
                a3 = _mm256_fmadd_ps(_mm256_broadcast_ss(qr[3] + d), k0, a3);
            }
            _mm256_storeu_ps(p + 0 * (size_t)Sp + j0, _mm256_mul_ps(a0, vscale));
            _mm256_storeu_ps(p + 1 * (size_t)Sp + j0, _mm256_mul_ps(a1, vscale));
            _mm256_storeu_ps(p + 2 * (size_t)Sp + j0, _mm256_mul_ps(a2, vscale));
            _mm256_storeu_ps(p + 3 * (size_t)Sp + j0, _mm256_mul_ps(a3, vscale));
        }
        /* Softmax over the S real keys of each query, then p / sum. */
        if (rel)
            for (int r = 0; r < rows; r++) add_rel_bias(p + (size_t)r * Sp, rel, i0 + r, S);
        for (int r = 0; r < rows; r++) softmax_row_avx2(p + (size_t)r * Sp, S);
        for (int r0 = 0; r0 < rows; r0 += 2) {
            const float *p0 = p + (size_t)r0 * Sp, *p1 = r0 + 1 < rows ? p0 + Sp : p0;
            float *o0 = o + (size_t)(i0 + r0) * ldo, *o1 = o0 + ldo;
            int c0 = 0;
            /* 32 columns at a time, the 8 sums named so that they stay in
             * registers (an indexed array of them went to the stack). */
            for (; c0 + 32 <= D; c0 += 32) {
                __m256 a0 = _mm256_setzero_ps(), a1 = a0, a2 = a0, a3 = a0, b0 = a0, b1 = a0, b2 = a0, b3 = a0;
                for (int j = 0; j < S; j++) {
                    const float *vj = v + (size_t)j * ldv + c0;
                    const __m256 w0 = _mm256_broadcast_ss(p0 + j), w1 = _mm256_broadcast_ss(p1 + j);
                    const __m256 v0 = _mm256_loadu_ps(vj), v1 = _mm256_loadu_ps(vj + 8);
                    const __m256 v2 = _mm256_loadu_ps(vj + 16), v3 = _mm256_loadu_ps(vj + 24);
                    a0 = _mm256_fmadd_ps(w0, v0, a0);
                    a1 = _mm256_fmadd_ps(w0, v1, a1);
                    a2 = _mm256_fmadd_ps(w0, v2, a2);
                    a3 = _mm256_fmadd_ps(w0, v3, a3);
                    b0 = _mm256_fmadd_ps(w1, v0, b0);
                    b1 = _mm256_fmadd_ps(w1, v1, b1);
                    b2 = _mm256_fmadd_ps(w1, v2, b2);
                    b3 = _mm256_fmadd_ps(w1, v3, b3);
                }
                _mm256_storeu_ps(o0 + c0, a0);
                _mm256_storeu_ps(o0 + c0 + 8, a1);
                _mm256_storeu_ps(o0 + c0 + 16, a2);
                _mm256_storeu_ps(o0 + c0 + 24, a3);
                if (r0 + 1 < rows) {
                    _mm256_storeu_ps(o1 + c0, b0);
                    _mm256_storeu_ps(o1 + c0 + 8, b1);
                    _mm256_storeu_ps(o1 + c0 + 16, b2);
                    _mm256_storeu_ps(o1 + c0 + 24, b3);
                }
            }
            for (; c0 < D; c0 += 8) {  // the last 8-24 columns, 8 at a time
                __m256 a0 = _mm256_setzero_ps(), b0 = a0;
                for (int j = 0; j < S; j++) {
                    const __m256 v0 = _mm256_loadu_ps(v + (size_t)j * ldv + c0);
                    a0 = _mm256_fmadd_ps(_mm256_broadcast_ss(p0 + j), v0, a0);
                    b0 = _mm256_fmadd_ps(_mm256_broadcast_ss(p1 + j), v0, b0);
                }
                _mm256_storeu_ps(o0 + c0, a0);
                if (r0 + 1 < rows) _mm256_storeu_ps(o1 + c0, b0);
            }
        }
    }
}

__attribute__((target("avx2,fma"))) static void attend_head_avx2(const float *q, const float *k, const float *v, int S,
                                                                  int D, size_t ld, float scale, const float *rel,
                                                                  float *kt, float *p, float *o, size_t ldo) {
    if (D % 8 == 0)
        attend_head_avx2_d8(q, k, v, S, D, ld, scale, rel, kt, p, o, ldo);
    else
        attend_head(q, k, v, S, D, ld, scale, rel, kt, p, o, ldo);
}

/* exp8 on 16 lanes: the same operations, so the same bits. */
AVX512 static inline __m512 exp16(__m512 x) {
    const __m512 lo = _mm512_set1_ps(EXP_LO);
    const __mmask16 under = _mm512_cmp_ps_mask(x, lo, _CMP_LT_OQ);
    x = _mm512_max_ps(_mm512_min_ps(x, _mm512_set1_ps(EXP_HI)), lo);
    const __m512 n = _mm512_roundscale_ps(_mm512_mul_ps(x, _mm512_set1_ps(EXP_LOG2E)),
                                          _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC);
    __m512 r = _mm512_fnmadd_ps(n, _mm512_set1_ps(EXP_LN2_HI), x);
    r = _mm512_fnmadd_ps(n, _mm512_set1_ps(EXP_LN2_LO), r);
    __m512 y = _mm512_set1_ps(EXP_P0);
    y = _mm512_fmadd_ps(y, r, _mm512_set1_ps(EXP_P1));
    y = _mm512_fmadd_ps(y, r, _mm512_set1_ps(EXP_P2));
    y = _mm512_fmadd_ps(y, r, _mm512_set1_ps(EXP_P3));
    y = _mm512_fmadd_ps(y, r, _mm512_set1_ps(EXP_P4));
    y = _mm512_fmadd_ps(y, r, _mm512_set1_ps(EXP_P5));
    y = _mm512_fmadd_ps(y, _mm512_mul_ps(r, r), _mm512_add_ps(r, _mm512_set1_ps(1.0f)));
    const __m512i e = _mm512_slli_epi32(_mm512_add_epi32(_mm512_cvtps_epi32(n), _mm512_set1_epi32(127)), 23);
    return _mm512_maskz_mov_ps((__mmask16)~under, _mm512_mul_ps(y, _mm512_castsi512_ps(e)));
}

/* Lanes [0, n) of 16, 0 <= n < 16. */
AVX512 static inline __mmask16 first_lanes(int n) { return (__mmask16)((1u << n) - 1u); }

/* softmax_row_avx2 16 keys at a time. The sum of the exponentials keeps
 * the AVX2 version's 4 x 8 lanes and order: sums01 holds its sums[0] and
 * sums[1] (low and high half), sums23 its sums[2] and sums[3]; 16 keys are
 * two blocks of 8, the first of them even, so 16 keys starting at key
 * 32 i go into sums01 and those at 32 i + 16 into sums23. Lanes past the
 * row add 0, which changes no sum. So the weights come out with the same
 * bits. */
AVX512 static void softmax_row_avx512(float *pr, int S) {
    const int S16 = S / 16 * 16, rest = S - S16;
    __m512 vmx = _mm512_set1_ps(-INFINITY);
    for (int j = 0; j < S16; j += 16) vmx = _mm512_max_ps(vmx, _mm512_loadu_ps(pr + j));
    if (rest) vmx = _mm512_max_ps(vmx, _mm512_mask_loadu_ps(vmx, first_lanes(rest), pr + S16));
    const float mx = _mm512_reduce_max_ps(vmx);  // exact: the order of a max does not matter
    const __m512 bmx = _mm512_set1_ps(mx);
    __m512 sums01 = _mm512_setzero_ps(), sums23 = sums01;
    int at = 0;
    for (; at + 32 <= S16; at += 32) {
        const __m512 e0 = exp16(_mm512_sub_ps(_mm512_loadu_ps(pr + at), bmx));
        const __m512 e1 = exp16(_mm512_sub_ps(_mm512_loadu_ps(pr + at + 16), bmx));
        _mm512_storeu_ps(pr + at, e0);
        _mm512_storeu_ps(pr + at + 16, e1);
        sums01 = _mm512_add_ps(sums01, e0);
        sums23 = _mm512_add_ps(sums23, e1);
    }
    if (at < S16) {  // one more 16, at 32 i
        const __m512 e = exp16(_mm512_sub_ps(_mm512_loadu_ps(pr + at), bmx));
        _mm512_storeu_ps(pr + at, e);
        sums01 = _mm512_add_ps(sums01, e);
    }
    if (rest) {  // the last few, in lanes [0, rest), 0 in the others
        const __mmask16 live = first_lanes(rest);
        const __m512 e = _mm512_maskz_mov_ps(live, exp16(_mm512_sub_ps(_mm512_maskz_loadu_ps(live, pr + S16), bmx)));
        _mm512_mask_storeu_ps(pr + S16, live, e);
        if ((S16 / 16) % 2 == 0)
            sums01 = _mm512_add_ps(sums01, e);
        else
            sums23 = _mm512_add_ps(sums23, e);
    }
    const __m256 s01 = _mm256_add_ps(_mm512_castps512_ps256(sums01),
                                     _mm256_castpd_ps(_mm512_extractf64x4_pd(_mm512_castps_pd(sums01), 1)));
    const __m256 s23 = _mm256_add_ps(_mm512_castps512_ps256(sums23),
                                     _mm256_castpd_ps(_mm512_extractf64x4_pd(_mm512_castps_pd(sums23), 1)));
    const __m256 vsum = _mm256_add_ps(s01, s23);
    float s8[8];
    _mm256_storeu_ps(s8, vsum);
    const float sum = ((s8[0] + s8[1]) + (s8[2] + s8[3])) + ((s8[4] + s8[5]) + (s8[6] + s8[7]));
    const __m512 bsum = _mm512_set1_ps(sum);
    for (int j = 0; j < S16; j += 16) _mm512_storeu_ps(pr + j, _mm512_div_ps(_mm512_loadu_ps(pr + j), bsum));
    if (rest)
        _mm512_mask_storeu_ps(pr + S16, first_lanes(rest),
                              _mm512_div_ps(_mm512_maskz_loadu_ps(first_lanes(rest), pr + S16), bsum));
}

/* The AVX-512 head for D a multiple of 8, laid out as attend_head_avx2_d8
 * (kt: (D, Sp), Sp a multiple of 8; p: (QB_AVX512, Sp) then the values
 * (S, D)) and summing each score over d, and each output over keys, in the
 * same order, so it gives that version's bits. zmm registers take 16 keys
 * or columns, and a pass takes 8 queries (the AVX2 head 4):
 * - scores: 8 queries x 32 keys at a time, then 16, then 8 (masked);
 * - softmax: softmax_row_avx512;
 * - p v: 8 queries x 32 columns at a time, then 16, then 8 (masked).
 * Queries past the last reuse the last query's row and are not stored. The
 * loops over the 8 queries have constant bounds, so the accumulators stay
 * in registers. */
AVX512 static void attend_head_avx512_d8(const float *q, const float *k, const float *v_strided, int S, int D,
                                         size_t ld, float scale, const float *rel, float *kt, float *p, float *o,
                                         size_t ldo) {
    enum { QB = QB_AVX512 };
    const int Sp = (S + 7) / 8 * 8;
    for (int d = 0; d < D; d++) {
        float *row = kt + (size_t)d * Sp;
        for (int j = 0; j < S; j++) row[j] = k[(size_t)j * ld + d];
        for (int j = S; j < Sp; j++) row[j] = 0.0f;
    }
    float *v = p + QB * (size_t)Sp;
    for (int j = 0; j < S; j++) memcpy(v + (size_t)j * D, v_strided + (size_t)j * ld, (size_t)D * sizeof(float));
    const __m512 vscale = _mm512_set1_ps(scale);
    for (int i0 = 0; i0 < S; i0 += QB) {
        const int rows = S - i0 < QB ? S - i0 : QB;
        const float *qr[QB];
        float *pr[QB], *orow[QB];
        for (int r = 0; r < QB; r++) {
            qr[r] = q + (size_t)(i0 + (r < rows ? r : rows - 1)) * ld;
            pr[r] = p + (size_t)r * Sp;
            orow[r] = o + (size_t)(i0 + (r < rows ? r : 0)) * ldo;
        }
        int j0 = 0;
        for (; j0 + 32 <= Sp; j0 += 32) {
            __m512 a[QB], b[QB];
            for (int r = 0; r < QB; r++) a[r] = b[r] = _mm512_setzero_ps();
            for (int d = 0; d < D; d++) {
                const __m512 k0 = _mm512_loadu_ps(kt + (size_t)d * Sp + j0);
                const __m512 k1 = _mm512_loadu_ps(kt + (size_t)d * Sp + j0 + 16);
                for (int r = 0; r < QB; r++) {
                    const __m512 x = _mm512_set1_ps(qr[r][d]);
                    a[r] = _mm512_fmadd_ps(x, k0, a[r]);
                    b[r] = _mm512_fmadd_ps(x, k1, b[r]);
                }
            }
            for (int r = 0; r < QB; r++) {
                _mm512_storeu_ps(pr[r] + j0, _mm512_mul_ps(a[r], vscale));
                _mm512_storeu_ps(pr[r] + j0 + 16, _mm512_mul_ps(b[r], vscale));
            }
        }
        for (; j0 < Sp; j0 += 16) {  // 16 keys, then 8 (Sp is a multiple of 8)
            const __mmask16 m = Sp - j0 >= 16 ? (__mmask16)0xFFFF : (__mmask16)0x00FF;
            __m512 a[QB];
            for (int r = 0; r < QB; r++) a[r] = _mm512_setzero_ps();
            for (int d = 0; d < D; d++) {
                const __m512 k0 = _mm512_maskz_loadu_ps(m, kt + (size_t)d * Sp + j0);
                for (int r = 0; r < QB; r++) a[r] = _mm512_fmadd_ps(_mm512_set1_ps(qr[r][d]), k0, a[r]);
            }
            for (int r = 0; r < QB; r++) _mm512_mask_storeu_ps(pr[r] + j0, m, _mm512_mul_ps(a[r], vscale));
        }
        if (rel)
            for (int r = 0; r < rows; r++) add_rel_bias(pr[r], rel, i0 + r, S);
        for (int r = 0; r < rows; r++) softmax_row_avx512(pr[r], S);
        /* p v, the 8 rows at once: pr[r] for r >= rows is a copy of no
         * query's weights, computed and not stored. */
        int c0 = 0;
        for (; c0 + 32 <= D; c0 += 32) {
            __m512 a[QB], b[QB];
            for (int r = 0; r < QB; r++) a[r] = b[r] = _mm512_setzero_ps();
            for (int j = 0; j < S; j++) {
                const float *vj = v + (size_t)j * D + c0;
                const __m512 v0 = _mm512_loadu_ps(vj), v1 = _mm512_loadu_ps(vj + 16);
                for (int r = 0; r < QB; r++) {
                    const __m512 w = _mm512_set1_ps(pr[r][j]);
                    a[r] = _mm512_fmadd_ps(w, v0, a[r]);
                    b[r] = _mm512_fmadd_ps(w, v1, b[r]);
                }
            }
            for (int r = 0; r < rows; r++) {
                _mm512_storeu_ps(orow[r] + c0, a[r]);
                _mm512_storeu_ps(orow[r] + c0 + 16, b[r]);
            }
        }
        for (; c0 < D; c0 += 16) {  // 16 columns, then 8 (D is a multiple of 8)
            const __mmask16 m = D - c0 >= 16 ? (__mmask16)0xFFFF : (__mmask16)0x00FF;
            __m512 a[QB];
            for (int r = 0; r < QB; r++) a[r] = _mm512_setzero_ps();
            for (int j = 0; j < S; j++) {
                const __m512 v0 = _mm512_maskz_loadu_ps(m, v + (size_t)j * D + c0);
                for (int r = 0; r < QB; r++) a[r] = _mm512_fmadd_ps(_mm512_set1_ps(pr[r][j]), v0, a[r]);
            }
            for (int r = 0; r < rows; r++) _mm512_mask_storeu_ps(orow[r] + c0, m, a[r]);
        }
    }
}

AVX512 static void attend_head_avx512(const float *q, const float *k, const float *v, int S, int D, size_t ld,
                                      float scale, const float *rel, float *kt, float *p, float *o, size_t ldo) {
    if (D % 8 == 0)
        attend_head_avx512_d8(q, k, v, S, D, ld, scale, rel, kt, p, o, ldo);
    else
        attend_head_avx2(q, k, v, S, D, ld, scale, rel, kt, p, o, ldo);
}
#undef AVX512
#endif

static void attend_head_portable(const float *q, const float *k, const float *v, int S, int D, size_t ld, float scale,
                                 const float *rel, float *kt, float *p, float *o, size_t ldo) {
    attend_head(q, k, v, S, D, ld, scale, rel, kt, p, o, ldo);
}

int encore_softmax_isa_cpu(float *row, int n, encore_cpu_isa isa) {
    const int path = encore_cpu_isa_resolve(isa);
    if (path < 0) return -1;
#if defined(__x86_64__) || defined(__i386__)
    if (path == ENCORE_CPU_ISA_AVX512) {
        softmax_row_avx512(row, n);
        return 0;
    }
    if (path == ENCORE_CPU_ISA_AVX2) {
        softmax_row_avx2(row, n);
        return 0;
    }
#endif
    softmax_row_portable(row, n);
    return 0;
}

int encore_attention_isa_cpu(const float *qkv, const int32_t *seq_start, int B, int H, int D,
                             const encore_attention_rel *rel_bias, float *scratch, int max_len, float *out,
                             encore_cpu_isa isa) {
    const int path = encore_cpu_isa_resolve(isa);
    if (path < 0) return -1;
    const int C = H * D;
    const size_t ld = 3 * (size_t)C;  // row stride of qkv
    const float scale = 1.0f / sqrtf((float)D);
    /* OpenMP spreads (sequence, head) pairs over the cores. Even one short
     * text is worth splitting over the heads: at 25 tokens and 12 heads of
     * 32 this is ~0.1 ms a layer, against a few microseconds to wake the
     * pool. */
    size_t work = 0;  // multiply-adds of q k^T and p v over all sequences
    for (int b = 0; b < B; b++) work += (size_t)(seq_start[b + 1] - seq_start[b]) * (seq_start[b + 1] - seq_start[b]);
    work *= 2 * (size_t)C;
#pragma omp parallel for collapse(2) schedule(dynamic) if (work >= 200000)
    for (int b = 0; b < B; b++) {
        for (int h = 0; h < H; h++) {
            const int S = seq_start[b + 1] - seq_start[b];
            const float *rel = rel_bias ? encore_attention_rel_row(rel_bias, h) : NULL;
            const float *q = qkv + (size_t)seq_start[b] * ld + h * D;  // (S, D), stride ld
            float *o = out + (size_t)seq_start[b] * C + h * D;         // (S, D), stride C
            float *kt = scratch + (size_t)omp_get_thread_num() * scratch_per_thread(max_len, D);  // (D, S)
            float *p = kt + padded_keys(max_len) * D;  // (S), or (QB, padded) for the _d8 heads
#if defined(__x86_64__) || defined(__i386__)
            if (path == ENCORE_CPU_ISA_AVX512) {
                attend_head_avx512(q, q + C, q + 2 * C, S, D, ld, scale, rel, kt, p, o, (size_t)C);
                continue;
            }
            if (path == ENCORE_CPU_ISA_AVX2) {
                attend_head_avx2(q, q + C, q + 2 * C, S, D, ld, scale, rel, kt, p, o, (size_t)C);
                continue;
            }
#endif
            attend_head_portable(q, q + C, q + 2 * C, S, D, ld, scale, rel, kt, p, o, (size_t)C);
        }
    }
    return 0;
}

void encore_attention_cpu(const float *qkv, const int32_t *seq_start, int B, int H, int D,
                          const encore_attention_rel *rel, float *scratch, int max_len, float *out) {
    encore_attention_isa_cpu(qkv, seq_start, B, H, D, rel, scratch, max_len, out, ENCORE_CPU_ISA_BEST);
}

void encore_layernorm_rows_cpu(float *x, const float *gamma, const float *beta, float eps, int rows, int C) {
    for (int r = 0; r < rows; r++) layernorm_row(x + (size_t)r * C, gamma, beta, eps, C);
}

/* ---- DeBERTa-v2: disentangled attention ---------------------------------- */

int encore_deberta_bucket(int rel, int buckets, int max_position) {
    if (buckets <= 0) return rel;
    const int mid = buckets / 2;
    const int sign = (rel > 0) - (rel < 0);
    const int abs_pos = rel < mid && rel > -mid ? mid - 1 : (rel < 0 ? -rel : rel);
    if (abs_pos <= mid) return rel;
    /* torch, in float32: log(abs_pos / mid) / log(tensor((max_position - 1) / mid)) * (mid - 1), ceiled, + mid */
    const float ratio = (float)abs_pos / (float)mid;
    const float top = (float)((double)(max_position - 1) / (double)mid);
    const float log_pos = ceilf(logf(ratio) / logf(top) * (float)(mid - 1)) + (float)mid;
    return (int)(log_pos * (float)sign);
}

size_t encore_attention_dis_scratch_floats(int threads, int max_len, int D, int span) {
    const size_t n = (size_t)max_len;
    size_t w = 2 * n > 1 ? 2 * n - 1 : 1;
    if (w > 2 * (size_t)span) w = 2 * (size_t)span;
    /* keys transposed (D, n), p2c (n, W), c2p (W), scores (n) */
    return (size_t)threads * (D * n + n * w + w + n + 16);
}

/* One (sequence, head): the body of both paths below (compiled twice). */
__attribute__((always_inline)) static inline void dis_head(const float *qkv, int start, int n, int h, int H, int D,
                                                          const encore_attention_dis *dis, float *scratch,
                                                          float *out) {
    const int C = H * D;
    const size_t ld = 3 * (size_t)C, span2 = 2 * (size_t)dis->span;
    const int maxd = dis->max_dist;
    const int use = dis->pos_k || dis->pos_q;
    /* the rows of pos_k / pos_q any pair of this sequence reads: index is
     * monotone in the distance */
    const int rlo = use ? dis->index[maxd - (n - 1)] : 0, rhi = use ? dis->index[maxd + (n - 1)] : 0;
    const int W = rhi - rlo + 1;
    float *kt = scratch;                    // (D, n)
    float *p2c = kt + (size_t)D * n;        // (n, W)
    float *c2p = p2c + (size_t)n * W;       // (W)
    float *p = c2p + W;                     // (n)
    const float scale = dis->scale;
    for (int j = 0; j < n; j++) {
        const float *k = qkv + (size_t)(start + j) * ld + C + (size_t)h * D;
        for (int d = 0; d < D; d++) kt[(size_t)d * n + j] = k[d];
    }
    const float *pq = dis->pos_q ? dis->pos_q + (size_t)h * D * span2 + rlo : NULL;  // (D, 2 span), column rlo
    const float *pk = dis->pos_k ? dis->pos_k + (size_t)h * D * span2 + rlo : NULL;
    if (pq) {
        for (int j = 0; j < n; j++) {
            float *row = p2c + (size_t)j * W;
            for (int w = 0; w < W; w++) row[w] = 0.0f;
            for (int d = 0; d < D; d++) {
                const float kd = kt[(size_t)d * n + j];
                const float *col = pq + (size_t)d * span2;
                for (int w = 0; w < W; w++) row[w] += kd * col[w];
            }
        }
    }
    for (int i = 0; i < n; i++) {
        const float *q = qkv + (size_t)(start + i) * ld + (size_t)h * D;
        if (pk) {
            for (int w = 0; w < W; w++) c2p[w] = 0.0f;
            for (int d = 0; d < D; d++) {
                const float qd = q[d];
                const float *col = pk + (size_t)d * span2;
                for (int w = 0; w < W; w++) c2p[w] += qd * col[w];
            }
        }
        for (int j = 0; j < n; j++) p[j] = 0.0f;
        for (int d = 0; d < D; d++) {
            const float qd = q[d];
            const float *krow = kt + (size_t)d * n;
            for (int j = 0; j < n; j++) p[j] += qd * krow[j];
        }
        const int32_t *idx = dis->index + maxd + i; /* idx[-j]: the row of distance i - j */
        for (int j = 0; j < n; j++) {
            const int r = use ? idx[-j] - rlo : 0;
            float rel = 0.0f;
            if (pk) rel += c2p[r] * scale;
            if (pq) rel += p2c[(size_t)j * W + r] * scale;
            p[j] = p[j] * scale + rel;
        }
        softmax_row_portable(p, n);
        float *o = out + (size_t)(start + i) * C + (size_t)h * D;
        for (int d = 0; d < D; d++) o[d] = 0.0f;
        for (int j = 0; j < n; j++) {
            const float *v = qkv + (size_t)(start + j) * ld + 2 * (size_t)C + (size_t)h * D;
            const float pj = p[j];
            for (int d = 0; d < D; d++) o[d] += pj * v[d];
        }
    }
}

static void dis_head_portable(const float *qkv, int start, int n, int h, int H, int D,
                              const encore_attention_dis *dis, float *scratch, float *out) {
    dis_head(qkv, start, n, h, H, D, dis, scratch, out);
}

#if defined(__x86_64__) || defined(__i386__)
__attribute__((target("avx2,fma"))) static void dis_head_avx2(const float *qkv, int start, int n, int h, int H,
                                                              int D, const encore_attention_dis *dis,
                                                              float *scratch, float *out) {
    dis_head(qkv, start, n, h, H, D, dis, scratch, out);
}
#endif

int encore_attention_dis_isa_cpu(const float *qkv, const int32_t *seq_start, int B, int H, int D,
                                 const encore_attention_dis *dis, float *scratch, int max_len, float *out,
                                 encore_cpu_isa isa) {
    const int path = encore_cpu_isa_resolve(isa);
    if (path < 0) return -1;
    const size_t per_thread = encore_attention_dis_scratch_floats(1, max_len, D, dis->span);
#pragma omp parallel for collapse(2) schedule(dynamic, 1)
    for (int b = 0; b < B; b++) {
        for (int h = 0; h < H; h++) {
            float *sc = scratch + (size_t)omp_get_thread_num() * per_thread;
            const int start = seq_start[b], n = seq_start[b + 1] - start;
#if defined(__x86_64__) || defined(__i386__)
            if (path != ENCORE_CPU_ISA_PORTABLE) {
                dis_head_avx2(qkv, start, n, h, H, D, dis, sc, out);
                continue;
            }
#endif
            dis_head_portable(qkv, start, n, h, H, D, dis, sc, out);
        }
    }
    return 0;
}

void encore_attention_dis_cpu(const float *qkv, const int32_t *seq_start, int B, int H, int D,
                              const encore_attention_dis *dis, float *scratch, int max_len, float *out) {
    encore_attention_dis_isa_cpu(qkv, seq_start, B, H, D, dis, scratch, max_len, out, ENCORE_CPU_ISA_BEST);
}
