/* erf_cpu.c: a vectorised erf for the exact GELU (erf_cpu.h).
 *
 * erf is odd, so the AVX2 version (and the AVX-512 one, the same operations
 * on 16 lanes) works on |x| and puts the sign back. On
 * [0, 4) it cuts |x| into 8 intervals of width 1/2 and evaluates, on
 * interval i, a degree-8 polynomial in t = |x| - (i/2 + 1/4), |t| <= 1/4:
 * a Chebyshev fit of erf (mpmath.chebyfit, 40 digits) whose own error is
 * below 6e-11, with coefficients rounded to float. Each lane picks its
 * interval's coefficient with one permute per Horner step. Below 1/8, where
 * the result should keep its relative accuracy (erf(x) ~ 1.13 x), the
 * Taylor series to x^7 takes over (its error: below x^9 / 200). For |x| >= 4,
 * erf(x) = 1 to float precision (1 - erf(4) = 1.5e-8). The error left is
 * float rounding: at most 6.5e-8 against erf in double, found by checking
 * every float in [0, inf) (libm's erff: 5.8e-8); tests/test_gemm.cc sweeps it
 * again.
 *
 * Regenerate the table: for i in 0..7, at mp.dps = 40,
 * mpmath.chebyfit(lambda t: mpmath.erf(i/2 + 1/4 + t), [-0.25, 0.25], 9),
 * reversed (chebyfit lists the highest degree first), each rounded to float. */
#include "cpu/erf_cpu.h"

#include <math.h>
#include <string.h>

#if defined(__x86_64__) || defined(__i386__)
#include <immintrin.h>

/* ERF_COEF[j][i]: the coefficient of t^j on interval i. */
static const float ERF_COEF[9][8] __attribute__((aligned(32))) = {
    {2.763263881e-01F, 7.111556530e-01F, 9.229001403e-01F, 9.866716862e-01F, 9.985373020e-01F, 9.998993874e-01F, 9.999957085e-01F, 9.999998808e-01F},
    {1.060014129e+00F, 6.429310441e-01F, 2.365211248e-01F, 5.277499557e-02F, 7.142319344e-03F, 5.862772814e-04F, 2.918901191e-05F, 8.814288321e-07F},
    {-2.650035322e-01F, -4.821982980e-01F, -2.956514060e-01F, -9.235624224e-02F, -1.607021689e-02F, -1.612262451e-03F, -9.486432828e-05F, -3.305369319e-06F},
    {-3.091704845e-01F, 2.678835019e-02F, 1.675358862e-01F, 9.015738964e-02F, 2.172451280e-02F, 2.760380274e-03F, 1.958126377e-04F, 7.970326806e-06F},
    {1.269806474e-01F, 1.506869942e-01F, -6.159314420e-03F, -4.810225964e-02F, -1.908338442e-02F, -3.258107463e-03F, -2.865695860e-04F, -1.384153893e-05F},
    {8.003626019e-02F, -5.321707204e-02F, -4.718656093e-02F, 6.618472748e-03F, 1.066006161e-02F, 2.756290603e-03F, 3.136287851e-04F, 1.833007991e-05F},
    {-4.052067548e-02F, -2.687365189e-02F, 2.129608579e-02F, 8.965908550e-03F, -2.904263325e-03F, -1.657688990e-03F, -2.635146957e-04F, -1.925549077e-05F},
    {-1.580328867e-02F, 1.788534597e-02F, 3.745186841e-03F, -5.933097098e-03F, -7.215428050e-04F, 6.358191022e-04F, 1.735972182e-04F, 1.714452446e-05F},
    {9.439026937e-03F, 2.326572081e-03F, -5.586788990e-03F, 6.686899578e-04F, 9.975857101e-04F, -8.129268826e-05F, -8.195002010e-05F, -1.149546188e-05F}
};

/* erf of 8 lanes. NaN stays NaN; +-inf gives +-1. */
__attribute__((target("avx2,fma"))) static inline __m256 erf8(__m256 x) {
    const __m256 sign_bit = _mm256_set1_ps(-0.0f);
    const __m256 ax = _mm256_andnot_ps(sign_bit, x);
    const __m256 sign = _mm256_and_ps(sign_bit, x);
    /* Interval index floor(2|x|), at most 7; min_ps gives 7 for NaN too. */
    const __m256 twice = _mm256_min_ps(_mm256_add_ps(ax, ax), _mm256_set1_ps(7.0f));
    const __m256i i = _mm256_cvttps_epi32(twice);
    const __m256 mid = _mm256_fmadd_ps(_mm256_cvtepi32_ps(i), _mm256_set1_ps(0.5f), _mm256_set1_ps(0.25f));
    const __m256 t = _mm256_sub_ps(ax, mid);
    __m256 p = _mm256_permutevar8x32_ps(_mm256_load_ps(ERF_COEF[8]), i);
    for (int j = 7; j >= 0; j--) p = _mm256_fmadd_ps(p, t, _mm256_permutevar8x32_ps(_mm256_load_ps(ERF_COEF[j]), i));
    /* |x| < 1/8: 2/sqrt(pi) (x - x^3/3 + x^5/10 - x^7/42). */
    const __m256 x2 = _mm256_mul_ps(ax, ax);
    __m256 s = _mm256_set1_ps((float)(-2.0 / 42 / 1.7724538509055160273));
    s = _mm256_fmadd_ps(s, x2, _mm256_set1_ps((float)(2.0 / 10 / 1.7724538509055160273)));
    s = _mm256_fmadd_ps(s, x2, _mm256_set1_ps((float)(-2.0 / 3 / 1.7724538509055160273)));
    s = _mm256_fmadd_ps(s, x2, _mm256_set1_ps((float)(2.0 / 1.7724538509055160273)));
    p = _mm256_blendv_ps(p, _mm256_mul_ps(s, ax), _mm256_cmp_ps(ax, _mm256_set1_ps(0.125f), _CMP_LT_OQ));
    /* |x| >= 4 (not NaN): 1. */
    p = _mm256_blendv_ps(p, _mm256_set1_ps(1.0f), _mm256_cmp_ps(ax, _mm256_set1_ps(4.0f), _CMP_GE_OQ));
    return _mm256_or_ps(p, sign);
}

__attribute__((target("avx2,fma"))) static void erf_avx2(const float *x, float *y, size_t n) {
    size_t i = 0;
    for (; i + 8 <= n; i += 8) _mm256_storeu_ps(y + i, erf8(_mm256_loadu_ps(x + i)));
    if (i < n) {
        /* The last n % 8 go through the same code, so that an element's
         * value does not depend on where it sits. */
        float tmp[8] = {0};
        memcpy(tmp, x + i, (n - i) * sizeof(float));
        _mm256_storeu_ps(tmp, erf8(_mm256_loadu_ps(tmp)));
        memcpy(y + i, tmp, (n - i) * sizeof(float));
    }
}

/* gelu(v) = (v / 2) (1 + erf(v / sqrt 2)), rounded step by step as the
 * portable version below. */
__attribute__((target("avx2,fma"))) static inline __m256 gelu8(__m256 v) {
    const __m256 e = erf8(_mm256_mul_ps(v, _mm256_set1_ps((float)M_SQRT1_2)));
    return _mm256_mul_ps(_mm256_mul_ps(_mm256_set1_ps(0.5f), v), _mm256_add_ps(_mm256_set1_ps(1.0f), e));
}

__attribute__((target("avx2,fma"))) static void bias_gelu_avx2(float *row, const float *bias, size_t n) {
    size_t i = 0;
    for (; i + 8 <= n; i += 8)
        _mm256_storeu_ps(row + i, gelu8(bias ? _mm256_add_ps(_mm256_loadu_ps(row + i), _mm256_loadu_ps(bias + i))
                                             : _mm256_loadu_ps(row + i)));
    if (i < n) {
        float tmp[8] = {0};
        for (size_t k = i; k < n; k++) tmp[k - i] = bias ? row[k] + bias[k] : row[k];
        _mm256_storeu_ps(tmp, gelu8(_mm256_loadu_ps(tmp)));
        memcpy(row + i, tmp, (n - i) * sizeof(float));
    }
}
__attribute__((target("avx2,fma"))) static void gelu_block_avx2(float *x, size_t ldx, int rows, int cols) {
    const int whole = cols / 8 * 8;
    for (int r = 0; r < rows; r++) {
        float *row = x + (size_t)r * ldx;
        for (int i = 0; i < whole; i += 8) _mm256_storeu_ps(row + i, gelu8(_mm256_loadu_ps(row + i)));
        if (whole < cols) bias_gelu_avx2(row + whole, NULL, (size_t)(cols - whole));
    }
}

/* The AVX-512 versions: erf8's operations on 16 lanes, so each element gets
 * the bits the AVX2 version gives it. The 8 coefficients of a row sit in the
 * low half of a zmm register and vpermps picks from them; the last n % 16
 * elements go through masked loads and stores. AVX-512F only (the bitwise
 * and/or run on the integer forms, which AVX-512DQ would spare). */
#define AVX512 __attribute__((target("avx512f,avx2,fma")))

AVX512 static inline __m512 erf16(__m512 x) {
    const __m512i sign_bit = _mm512_set1_epi32((int)0x80000000u);
    const __m512i xi = _mm512_castps_si512(x);
    const __m512 ax = _mm512_castsi512_ps(_mm512_andnot_si512(sign_bit, xi));
    const __m512i sign = _mm512_and_si512(sign_bit, xi);
    const __m512 twice = _mm512_min_ps(_mm512_add_ps(ax, ax), _mm512_set1_ps(7.0f));
    const __m512i i = _mm512_cvttps_epi32(twice);
    const __m512 mid = _mm512_fmadd_ps(_mm512_cvtepi32_ps(i), _mm512_set1_ps(0.5f), _mm512_set1_ps(0.25f));
    const __m512 t = _mm512_sub_ps(ax, mid);
    __m512 p = _mm512_permutexvar_ps(i, _mm512_zextps256_ps512(_mm256_load_ps(ERF_COEF[8])));
    for (int j = 7; j >= 0; j--)
        p = _mm512_fmadd_ps(p, t, _mm512_permutexvar_ps(i, _mm512_zextps256_ps512(_mm256_load_ps(ERF_COEF[j]))));
    const __m512 x2 = _mm512_mul_ps(ax, ax);
    __m512 s = _mm512_set1_ps((float)(-2.0 / 42 / 1.7724538509055160273));
    s = _mm512_fmadd_ps(s, x2, _mm512_set1_ps((float)(2.0 / 10 / 1.7724538509055160273)));
    s = _mm512_fmadd_ps(s, x2, _mm512_set1_ps((float)(-2.0 / 3 / 1.7724538509055160273)));
    s = _mm512_fmadd_ps(s, x2, _mm512_set1_ps((float)(2.0 / 1.7724538509055160273)));
    p = _mm512_mask_blend_ps(_mm512_cmp_ps_mask(ax, _mm512_set1_ps(0.125f), _CMP_LT_OQ), p, _mm512_mul_ps(s, ax));
    p = _mm512_mask_blend_ps(_mm512_cmp_ps_mask(ax, _mm512_set1_ps(4.0f), _CMP_GE_OQ), p, _mm512_set1_ps(1.0f));
    return _mm512_castsi512_ps(_mm512_or_si512(_mm512_castps_si512(p), sign));
}

/* Lanes [0, n) of 16, n < 16. */
AVX512 static inline __mmask16 first_lanes(size_t n) { return (__mmask16)((1u << n) - 1u); }

AVX512 static void erf_avx512(const float *x, float *y, size_t n) {
    size_t i = 0;
    for (; i + 16 <= n; i += 16) _mm512_storeu_ps(y + i, erf16(_mm512_loadu_ps(x + i)));
    if (i < n) {
        const __mmask16 m = first_lanes(n - i);
        _mm512_mask_storeu_ps(y + i, m, erf16(_mm512_maskz_loadu_ps(m, x + i)));
    }
}

AVX512 static inline __m512 gelu16(__m512 v) {
    const __m512 e = erf16(_mm512_mul_ps(v, _mm512_set1_ps((float)M_SQRT1_2)));
    return _mm512_mul_ps(_mm512_mul_ps(_mm512_set1_ps(0.5f), v), _mm512_add_ps(_mm512_set1_ps(1.0f), e));
}

AVX512 static void bias_gelu_avx512(float *row, const float *bias, size_t n) {
    size_t i = 0;
    for (; i + 16 <= n; i += 16)
        _mm512_storeu_ps(row + i, gelu16(bias ? _mm512_add_ps(_mm512_loadu_ps(row + i), _mm512_loadu_ps(bias + i))
                                              : _mm512_loadu_ps(row + i)));
    if (i < n) {
        const __mmask16 m = first_lanes(n - i);
        __m512 v = _mm512_maskz_loadu_ps(m, row + i);
        if (bias) v = _mm512_add_ps(v, _mm512_maskz_loadu_ps(m, bias + i));
        _mm512_mask_storeu_ps(row + i, m, gelu16(v));
    }
}

AVX512 static void gelu_block_avx512(float *x, size_t ldx, int rows, int cols) {
    for (int r = 0; r < rows; r++) bias_gelu_avx512(x + (size_t)r * ldx, NULL, (size_t)cols);
}
#undef AVX512
#else
static void erf_avx2(const float *x, float *y, size_t n) { (void)x, (void)y, (void)n; }
static void erf_avx512(const float *x, float *y, size_t n) { (void)x, (void)y, (void)n; }
static void bias_gelu_avx512(float *row, const float *bias, size_t n) { (void)row, (void)bias, (void)n; }
static void gelu_block_avx512(float *x, size_t ldx, int rows, int cols) { (void)x, (void)ldx, (void)rows, (void)cols; }
static void bias_gelu_avx2(float *row, const float *bias, size_t n) { (void)row, (void)bias, (void)n; }
static void gelu_block_avx2(float *x, size_t ldx, int rows, int cols) { (void)x, (void)ldx, (void)rows, (void)cols; }
#endif

int encore_erf_isa_cpu(const float *x, float *y, size_t n, encore_cpu_isa isa) {
    const int path = encore_cpu_isa_resolve(isa);
    if (path < 0) return -1;
    if (path == ENCORE_CPU_ISA_AVX512)
        erf_avx512(x, y, n);
    else if (path == ENCORE_CPU_ISA_AVX2)
        erf_avx2(x, y, n);
    else
        for (size_t i = 0; i < n; i++) y[i] = erff(x[i]);
    return 0;
}

int encore_bias_gelu_isa_cpu(float *row, const float *bias, size_t n, encore_cpu_isa isa) {
    const int path = encore_cpu_isa_resolve(isa);
    if (path < 0) return -1;
    if (path == ENCORE_CPU_ISA_AVX512) {
        bias_gelu_avx512(row, bias, n);
    } else if (path == ENCORE_CPU_ISA_AVX2) {
        bias_gelu_avx2(row, bias, n);
    } else {
        for (size_t i = 0; i < n; i++) {
            const float v = bias ? row[i] + bias[i] : row[i];
            row[i] = 0.5f * v * (1.0f + erff(v * (float)M_SQRT1_2));
        }
    }
    return 0;
}

int encore_gelu_block_isa_cpu(float *x, size_t ldx, int rows, int cols, encore_cpu_isa isa) {
    const int path = encore_cpu_isa_resolve(isa);
    if (path < 0) return -1;
    if (path == ENCORE_CPU_ISA_AVX512) {
        gelu_block_avx512(x, ldx, rows, cols);
    } else if (path == ENCORE_CPU_ISA_AVX2) {
        gelu_block_avx2(x, ldx, rows, cols);
    } else {
        for (int r = 0; r < rows; r++) encore_bias_gelu_isa_cpu(x + (size_t)r * ldx, NULL, (size_t)cols, isa);
    }
    return 0;
}
