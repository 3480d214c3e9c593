/* gemm_i8_cpu.c: out = x W^T (+ b) by u8 x s8 integer dot products
 * (layouts, quantization and arithmetic: gemm_i8_cpu.h; threads and the
 * choice of path: gemm_cpu.c).
 *
 * Blocking: rows of x in blocks of MCI, each quantized block in tiles of
 * up to MRI rows (AVX-512 VNNI: 14 rows by two panels, 28 zmm
 * accumulators; AVX-VNNI: 6 rows by one panel, 12 ymm; plain AVX2: 5 rows
 * by one panel, 10 ymm). A tile
 * runs over one group of ENCORE_I8_GROUP k with its int32 sums in
 * registers, adds them into fp32 sums (scaled by the group's activation
 * scale) and goes on to the next group; at K <= 3072 a panel's K4 * 64
 * bytes stay in L1/L2 while the tiles pass over it. Each finished tile is
 * dequantized at once and handed to the block epilogue. */
#include "cpu/gemm_i8_cpu.h"

#include "core/common.h"
#include "cpu/cpu_isa.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#if defined(__x86_64__) || defined(__i386__)
#include <cpuid.h>
#include <immintrin.h>
#define HAVE_X86 1
#else
#define HAVE_X86 0
#endif

#define MRI512 14 /* rows per AVX-512 VNNI tile */
#define MRI256 6  /* rows per AVX-VNNI and portable tile */
#define MRIAVX2 5 /* rows per plain AVX2 tile: 10 accumulators, and room for its temporaries */
#define MCI 126   /* rows per block: a multiple of 14 and 6 (the 5-row tiles: 22 of 5, 4 of 4) */

/* How far ahead in its panel a tile asks for weights, in 64-byte lines
 * (2 KB; one line is one k group step): as in gemm_cpu.c, a short text
 * streams the weights from memory once, panel after panel. It made one
 * text 10-25 % faster on DistilBERT's shape (AVX-512 VNNI, Zen 5); 24 to
 * 48 lines measured alike. A prefetch never faults. (-DPREFETCH_LINES_I8=0
 * builds without, for comparisons.) */
#ifndef PREFETCH_LINES_I8
#define PREFETCH_LINES_I8 32
#endif

/* c of a tile: (rows, TILE_LD) int32 sums, two panels wide. */
#define TILE_LD (2 * ENCORE_PANEL)

#if HAVE_X86
/* AVX-VNNI (CPUID leaf 7, sub-leaf 1, EAX bit 4), read with cpuid: older
 * compilers' __builtin_cpu_supports does not know the name (clang 14). The
 * AVX state the OS must save is checked with AVX2. */
static int cpu_has_avx_vnni(void) {
    unsigned a, b, c, d;
    if (__get_cpuid_max(0, NULL) < 7) return 0;
    __cpuid_count(7, 1, a, b, c, d);
    (void)b, (void)c, (void)d;
    return (a >> 4) & 1u;
}
#endif

int encore_i8_kernel_available(encore_i8_kernel k) {
#if HAVE_X86
    __builtin_cpu_init();
    switch (k) {
    case ENCORE_I8_KERNEL_PORTABLE: return 1;
    case ENCORE_I8_KERNEL_AVX2: return encore_cpu_has_avx2();
    case ENCORE_I8_KERNEL_AVX_VNNI: return encore_cpu_has_avx2() && cpu_has_avx_vnni();
    case ENCORE_I8_KERNEL_AVX512_VNNI:
        return encore_cpu_has_avx512() && __builtin_cpu_supports("avx512vnni") && __builtin_cpu_supports("avx512bw");
    default: return 0;
    }
#else
    return k == ENCORE_I8_KERNEL_PORTABLE;
#endif
}

const char *encore_i8_kernel_name(encore_i8_kernel k) {
    switch (k) {
    case ENCORE_I8_KERNEL_PORTABLE: return "portable";
    case ENCORE_I8_KERNEL_AVX2: return "avx2";
    case ENCORE_I8_KERNEL_AVX_VNNI: return "avx_vnni";
    case ENCORE_I8_KERNEL_AVX512_VNNI: return "avx512_vnni";
    default: return "unknown";
    }
}

int encore_i8_kernel_levels(encore_i8_kernel k) {
    (void)k;
    return 255;
}

int encore_i8_kernel_choose(int path, const char *env, const int available[ENCORE_I8_KERNEL_COUNT],
                            int *env_ignored) {
    if (env_ignored) *env_ignored = 0;
    encore_i8_kernel best = ENCORE_I8_KERNEL_PORTABLE;
    if (path == ENCORE_CPU_ISA_AVX512 && available[ENCORE_I8_KERNEL_AVX512_VNNI])
        best = ENCORE_I8_KERNEL_AVX512_VNNI;
    else if (path >= ENCORE_CPU_ISA_AVX2 && available[ENCORE_I8_KERNEL_AVX_VNNI])
        best = ENCORE_I8_KERNEL_AVX_VNNI;
    else if (path >= ENCORE_CPU_ISA_AVX2 && available[ENCORE_I8_KERNEL_AVX2])
        best = ENCORE_I8_KERNEL_AVX2;
    if (!env || !*env) return (int)best;
    for (int k = ENCORE_I8_KERNEL_PORTABLE; k < ENCORE_I8_KERNEL_COUNT; k++) {
        if (strcmp(env, encore_i8_kernel_name((encore_i8_kernel)k)) != 0) continue;
        /* A cap: a kernel above the path's own, or one the CPU lacks (AVX-VNNI
         * on an AVX-512 VNNI Xeon without it), is not taken. */
        if (k <= (int)best && available[k]) return k;
        break;
    }
    if (env_ignored) *env_ignored = 1;
    return (int)best;
}

encore_i8_kernel encore_i8_kernel_for_path(int path) {
    /* Read once per path; racing first calls compute the same answer (and
     * may both warn). */
    static volatile int cached[ENCORE_CPU_ISA_AVX512 + 1] = {-1, -1, -1, -1};
    if (path < ENCORE_CPU_ISA_PORTABLE || path > ENCORE_CPU_ISA_AVX512) path = ENCORE_CPU_ISA_PORTABLE;
    if (cached[path] < 0) {
        int available[ENCORE_I8_KERNEL_COUNT];
        for (int k = 0; k < ENCORE_I8_KERNEL_COUNT; k++) available[k] = encore_i8_kernel_available((encore_i8_kernel)k);
        const char *env = getenv("ENCORE_CPU_INT8");
        int ignored = 0;
        const int k = encore_i8_kernel_choose(path, env, available, &ignored);
        if (ignored)
            encore_log(ENCORE_LOG_LEVEL_WARN,
                       "ENCORE_CPU_INT8=%s is not an int8 kernel the %s path can run on this CPU (portable, avx2, "
                       "avx_vnni or avx512_vnni, at most the path's own); using %s",
                       env, encore_cpu_isa_name((encore_cpu_isa)path), encore_i8_kernel_name((encore_i8_kernel)k));
        cached[path] = k;
    }
    return (encore_i8_kernel)cached[path];
}

static size_t groups(size_t K) { return (K + 3) / 4; }

int encore_i8_groups(int K) { return K <= 0 ? 0 : (K - 1) / ENCORE_I8_GROUP + 1; }

size_t encore_packed_i8_dynamic_bytes(size_t N, size_t K) {
    const size_t rows = (N + ENCORE_PANEL - 1) / ENCORE_PANEL * ENCORE_PANEL, g = groups(K);
    if (rows && g > SIZE_MAX / 4 / rows) return SIZE_MAX;
    return rows * g * 4;
}

/* Where weight (n, k) lies in the packed bytes. */
static size_t q4_at(size_t n, size_t k, size_t K4) {
    return (((n / ENCORE_PANEL) * K4 + k / 4) * ENCORE_PANEL + n % ENCORE_PANEL) * 4 + k % 4;
}

/* Byte i (k % 4) of feature j (n % 16) within a group of four k of a
 * panel, laid out in pairs of k. */
static size_t pair_at(size_t j, size_t i) { return i / 2 * 32 + j / 8 * 16 + j % 8 * 2 + i % 2; }

/* round(x / scale) clamped to [-127, 127]: a weight's int8 value. */
static int8_t quantize_weight(float x, float scale) {
    const long v = lrintf(x / scale);
    return (int8_t)(v > 127 ? 127 : v < -127 ? -127 : v);
}

/* The largest |x| of row (K), NaNs left out (as fabsf(NaN) > m is false);
 * on AVX2 when vec: the same maximum (max is exact, in any order). */
#if HAVE_X86
__attribute__((target("avx2,fma"))) static float row_amax_avx2(const float *row, int K) {
    const __m256 sign = _mm256_set1_ps(-0.0f);
    __m256 m = _mm256_setzero_ps();
    int k = 0;
    for (; k + 8 <= K; k += 8) m = _mm256_max_ps(_mm256_andnot_ps(sign, _mm256_loadu_ps(row + k)), m);  // NaN: m
    float lanes[8];
    _mm256_storeu_ps(lanes, m);
    float amax = 0.0f;
    for (int i = 0; i < 8; i++) amax = lanes[i] > amax ? lanes[i] : amax;
    for (; k < K; k++) amax = fabsf(row[k]) > amax ? fabsf(row[k]) : amax;
    return amax;
}

/* q[k] = quantize_weight(x[k], scale) for k < n: the same
 * division, rounded once, and the same rounding to nearest even
 * (vcvtps2dq in the default rounding mode, as lrintf); a NaN gives
 * INT_MIN there as lrintf's LONG_MIN does, clamped to -127 alike. */
__attribute__((target("avx2,fma"))) static void quantize_weights_avx2(const float *x, int n, float scale, int8_t *q) {
    const __m256 s = _mm256_set1_ps(scale);
    const __m256i hi = _mm256_set1_epi32(127), lo = _mm256_set1_epi32(-127);
    int k = 0;
    for (; k + 8 <= n; k += 8) {
        const __m256i v = _mm256_cvtps_epi32(_mm256_div_ps(_mm256_loadu_ps(x + k), s));
        int32_t lanes[8];
        _mm256_storeu_si256((__m256i *)lanes, _mm256_max_epi32(_mm256_min_epi32(v, hi), lo));
        for (int i = 0; i < 8; i++) q[k + i] = (int8_t)lanes[i];
    }
    for (; k < n; k++) q[k] = quantize_weight(x[k], scale);
}
#endif

float encore_i8_weight_scale(const float *row, int K) {
    float amax = 0.0f;
#if HAVE_X86
    if (encore_cpu_has_avx2())
        amax = row_amax_avx2(row, K);
    else
#endif
        for (int k = 0; k < K; k++) amax = fabsf(row[k]) > amax ? fabsf(row[k]) : amax;
    return amax > 0.0f && isfinite(amax) ? amax / 127.0f : 0.0f;
}

void encore_i8_quantize_weights(const float *x, int n, float scale, int8_t *q) {
#if HAVE_X86
    if (encore_cpu_has_avx2()) {
        quantize_weights_avx2(x, n, scale, q);
        return;
    }
#endif
    for (int k = 0; k < n; k++) q[k] = quantize_weight(x[k], scale);
}

/* k per chunk of a row quantized at once: whole groups of four and of
 * ENCORE_I8_GROUP. */
#define PACK_CHUNK 4096

int encore_pack_matrix_i8_dynamic(const float *w, int N, int K, int pairs, int8_t *dst, float *scales,
                                  int32_t *wsums, encore_packed_matrix *out) {
    if (K <= 0 || N <= 0) return -1;
    const size_t K4 = groups((size_t)K), rows = ((size_t)N + ENCORE_PANEL - 1) / ENCORE_PANEL * ENCORE_PANEL;
    const int ng = encore_i8_groups(K);
    memset(dst, 0, encore_packed_i8_dynamic_bytes((size_t)N, (size_t)K));
    memset(scales, 0, rows * sizeof(float));
    memset(wsums, 0, rows * (size_t)ng * sizeof(int32_t));
    int8_t q[PACK_CHUNK + 4];
    for (int n = 0; n < N; n++) {
        /* The same int8 values weight-only int8 packs (gemm_cpu.c). */
        const float *row = w + (size_t)n * K;
        const float scale = encore_i8_weight_scale(row, K);
        scales[n] = scale;
        if (scale == 0.0f) continue;
        const size_t j = (size_t)n % ENCORE_PANEL;
        int8_t *panel = dst + (size_t)n / ENCORE_PANEL * K4 * ENCORE_PANEL * 4;
        for (int k0 = 0; k0 < K; k0 += PACK_CHUNK) {
            const int len = K - k0 < PACK_CHUNK ? K - k0 : PACK_CHUNK;
            memset(q + len, 0, 4);  // k past K: 0
            encore_i8_quantize_weights(row + k0, len, scale, q);
            for (int k = 0; k < len; k++) wsums[(size_t)((k0 + k) / ENCORE_I8_GROUP) * rows + (size_t)n] += q[k];
            /* Each group of four k of this feature: its 4 bytes in a lane,
             * or 2 and 2 in pairs of k. */
            for (int k = 0; k < len; k += 4) {
                int8_t *step = panel + ((size_t)(k0 + k) / 4) * ENCORE_PANEL * 4;
                if (pairs) {
                    memcpy(step + pair_at(j, 0), q + k, 2);
                    memcpy(step + pair_at(j, 2), q + k + 2, 2);
                } else {
                    memcpy(step + j * 4, q + k, 4);
                }
            }
        }
    }
    memset(out, 0, sizeof *out);
    out->panels_q4 = dst;
    out->scales = scales;
    out->wsums = wsums;
    out->q4_pairs = pairs != 0;
    out->N = N;
    out->K = K;
    return 0;
}

size_t encore_i8_q4_at(const encore_packed_matrix *w, size_t n, size_t k) {
    const size_t K4 = groups((size_t)w->K);
    if (!w->q4_pairs) return q4_at(n, k, K4);
    return ((n / ENCORE_PANEL) * K4 + k / 4) * ENCORE_PANEL * 4 + pair_at(n % ENCORE_PANEL, k % 4);
}

encore_i8_kernel encore_i8_kernel_for_matrix(encore_i8_kernel k, const encore_packed_matrix *w) {
    if (!w->q4_pairs || k == ENCORE_I8_KERNEL_PORTABLE) return k;
    return ENCORE_I8_KERNEL_AVX2;
}

int encore_i8_pairs_preferred(void) {
    return encore_i8_kernel_for_path(encore_cpu_isa_resolve(ENCORE_CPU_ISA_BEST)) == ENCORE_I8_KERNEL_AVX2;
}

/* The smallest and largest of x (n) and 0, and whether all are finite. */
static void span_range(const float *x, int n, float *lo_out, float *hi_out, int *finite) {
    float lo = 0.0f, hi = 0.0f;
    int ok = 1;
    for (int k = 0; k < n; k++) {
        if (!isfinite(x[k])) ok = 0;
        lo = x[k] < lo ? x[k] : lo;
        hi = x[k] > hi ? x[k] : hi;
    }
    *lo_out = lo;
    *hi_out = hi;
    *finite = ok;
}

/* x (n) to bytes at a, for a span of the given scale and zero point. A NaN
 * scale (a span with a NaN or infinity) gives zeros. */
static void quantize_span(const float *x, int n, float scale, int32_t zero, int levels, uint8_t *a) {
    if (isnan(scale)) {
        memset(a, 0, (size_t)n);
        return;
    }
    const float inv = 1.0f / scale;
    for (int k = 0; k < n; k++) {
        /* |x * inv| <= levels (+ rounding), so the conversion is in range. */
        const long q = lrintf(x[k] * inv) + zero;
        a[k] = (uint8_t)(q < 0 ? 0 : q > levels ? levels : q);
    }
}

#if HAVE_X86
/* The same, 8 values at a time. min and max are exact, and the conversion
 * rounds to nearest even as lrintf does (the default rounding mode), so the
 * bytes are the plain C's. */
__attribute__((target("avx2,fma"))) static void span_range_avx2(const float *x, int n, float *lo_out,
                                                                 float *hi_out, int *finite) {
    __m256 lo = _mm256_setzero_ps(), hi = _mm256_setzero_ps(), bad = _mm256_setzero_ps();
    const __m256 inf = _mm256_set1_ps(INFINITY), abs_mask = _mm256_castsi256_ps(_mm256_set1_epi32(0x7fffffff));
    int k = 0;
    for (; k + 8 <= n; k += 8) {
        const __m256 v = _mm256_loadu_ps(x + k);
        lo = _mm256_min_ps(lo, v);
        hi = _mm256_max_ps(hi, v);
        bad = _mm256_or_ps(bad, _mm256_cmp_ps(_mm256_and_ps(v, abs_mask), inf, _CMP_NLT_UQ));  // inf or NaN
    }
    float l[8], h[8];
    _mm256_storeu_ps(l, lo);
    _mm256_storeu_ps(h, hi);
    float tlo, thi;
    int ok;
    span_range(x + k, n - k, &tlo, &thi, &ok);
    for (int i = 0; i < 8; i++) {
        tlo = l[i] < tlo ? l[i] : tlo;
        thi = h[i] > thi ? h[i] : thi;
    }
    *lo_out = tlo;
    *hi_out = thi;
    *finite = ok && !_mm256_movemask_ps(bad);
}

__attribute__((target("avx2,fma"))) static void quantize_span_avx2(const float *x, int n, float scale, int32_t zero,
                                                                    int levels, uint8_t *a) {
    if (isnan(scale)) {
        memset(a, 0, (size_t)n);
        return;
    }
    const float inv = 1.0f / scale;
    const __m256 vinv = _mm256_set1_ps(inv);
    const __m256i z = _mm256_set1_epi32(zero), top = _mm256_set1_epi32(levels), bottom = _mm256_setzero_si256();
    int k = 0;
    for (; k + 8 <= n; k += 8) {
        __m256i q = _mm256_add_epi32(_mm256_cvtps_epi32(_mm256_mul_ps(_mm256_loadu_ps(x + k), vinv)), z);
        q = _mm256_min_epi32(_mm256_max_epi32(q, bottom), top);
        const __m128i w = _mm_packus_epi32(_mm256_castsi256_si128(q), _mm256_extracti128_si256(q, 1));
        _mm_storel_epi64((__m128i *)(void *)(a + k), _mm_packus_epi16(w, w));
    }
    quantize_span(x + k, n - k, scale, zero, levels, a + k);
}
#endif

/* A span's scale and zero point (gemm_i8_cpu.h) from its range. */
static void params_of_range(float lo, float hi, int finite, int levels, float *scale, int32_t *zero) {
    const float s = (hi - lo) / (float)levels;
    if (!finite || !isfinite(s)) {
        *scale = NAN;
        *zero = 0;
    } else if (s == 0.0f) {
        /* All zeros: every byte 0, and any scale gives 0. */
        *scale = 1.0f;
        *zero = 0;
    } else {
        const long z = lrintf(-lo / s);
        *scale = s;
        *zero = (int32_t)(z < 0 ? 0 : z > levels ? levels : z);
    }
}

/* A span's scale and zero point, on AVX2 when vec. */
static void span_params(const float *x, int n, int levels, int vec, float *scale, int32_t *zero) {
    float lo, hi;
    int finite;
#if HAVE_X86
    if (vec)
        span_range_avx2(x, n, &lo, &hi, &finite);
    else
#endif
        span_range(x, n, &lo, &hi, &finite);
    (void)vec;
    params_of_range(lo, hi, finite, levels, scale, zero);
}

#if HAVE_X86
/* One whole group (ENCORE_I8_GROUP k) of a row in one pass, held in zmm
 * registers: its range, scale and zero point, then its bytes, written 4 at
 * a time, stride bytes apart (a row of a tile). The same values as
 * span_params and quantize_span: a min or max is exact in any order, and
 * each byte is the same rounding of the same product. */
#define GROUP_VECS (ENCORE_I8_GROUP / 16)
__attribute__((target("avx512f,avx512bw,avx2,fma"))) static void quantize_group_avx512(const float *x, int levels,
                                                                                        float *scale, int32_t *zero,
                                                                                        uint8_t *dst, size_t stride) {
    __m512 v[GROUP_VECS];
    __m512 lo = _mm512_setzero_ps(), hi = _mm512_setzero_ps();
    const __m512 inf = _mm512_set1_ps(INFINITY);
    __mmask16 bad = 0;
    for (int i = 0; i < GROUP_VECS; i++) {
        v[i] = _mm512_loadu_ps(x + 16 * i);
        lo = _mm512_min_ps(lo, v[i]);
        hi = _mm512_max_ps(hi, v[i]);
        bad |= _mm512_cmp_ps_mask(_mm512_abs_ps(v[i]), inf, _CMP_NLT_UQ);  // inf or NaN
    }
    params_of_range(_mm512_reduce_min_ps(lo), _mm512_reduce_max_ps(hi), !bad, levels, scale, zero);
    if (isnan(*scale)) {
        for (int q = 0; q < ENCORE_I8_GROUP / 4; q++) memset(dst + (size_t)q * stride, 0, 4);
        return;
    }
    const __m512 inv = _mm512_set1_ps(1.0f / *scale);
    const __m512i z = _mm512_set1_epi32(*zero), top = _mm512_set1_epi32(levels), bottom = _mm512_setzero_si512();
    for (int i = 0; i < GROUP_VECS; i++) {
        __m512i q = _mm512_add_epi32(_mm512_cvtps_epi32(_mm512_mul_ps(v[i], inv)), z);
        q = _mm512_min_epi32(_mm512_max_epi32(q, bottom), top);
        uint32_t b[4];
        _mm_storeu_si128((__m128i *)(void *)b, _mm512_cvtepi32_epi8(q));
        for (int j = 0; j < 4; j++) memcpy(dst + (size_t)(4 * i + j) * stride, b + j, 4);
    }
}
#undef GROUP_VECS
#endif

#if HAVE_X86
/* One whole group of a row for the plain AVX2 tiles on weights in pairs of
 * k: the same range, scale, zero point and rounding as span_params and
 * quantize_span, each value written as the int16 a - z, four (one group
 * of four k) at a time, stride bytes apart (a row of a tile). A NaN scale
 * (zero point 0) gives 0, as the bytes' path does. */
__attribute__((target("avx2,fma"))) static void quantize_group_pairs_avx2(const float *x, int levels, float *scale,
                                                                           int32_t *zero, uint8_t *dst,
                                                                           size_t stride) {
    float lo, hi;
    int finite;
    span_range_avx2(x, ENCORE_I8_GROUP, &lo, &hi, &finite);
    params_of_range(lo, hi, finite, levels, scale, zero);
    const int nan = isnan(*scale);
    const __m256 inv = _mm256_set1_ps(1.0f / *scale);
    const __m256i z = _mm256_set1_epi32(*zero), top = _mm256_set1_epi32(levels), bottom = _mm256_setzero_si256();
    for (int k = 0; k < ENCORE_I8_GROUP; k += 8) {
        __m256i q = bottom;
        if (!nan) {
            q = _mm256_add_epi32(_mm256_cvtps_epi32(_mm256_mul_ps(_mm256_loadu_ps(x + k), inv)), z);
            q = _mm256_sub_epi32(_mm256_min_epi32(_mm256_max_epi32(q, bottom), top), z);
        }
        const __m128i w = _mm_packs_epi32(_mm256_castsi256_si128(q), _mm256_extracti128_si256(q, 1));
        uint8_t *d = dst + (size_t)(k / 4) * stride;
        _mm_storel_epi64((__m128i *)(void *)d, w);
        _mm_storel_epi64((__m128i *)(void *)(d + stride), _mm_unpackhi_epi64(w, w));
    }
}
#endif

/* quantize_span, on AVX2 when vec. */
static void quantize_on(const float *x, int n, float scale, int32_t zero, int levels, int vec, uint8_t *a) {
#if HAVE_X86
    if (vec) {
        quantize_span_avx2(x, n, scale, zero, levels, a);
        return;
    }
#endif
    (void)vec;
    quantize_span(x, n, scale, zero, levels, a);
}

void encore_i8_quantize_row(const float *x, int K, int levels, uint8_t *a, float *scale, int32_t *zero) {
    span_params(x, K, levels, 0, scale, zero);
    quantize_span(x, K, *scale, *zero, levels, a);
}

/* ---- register tiles: c (mr, TILE_LD) = a (kg groups, mr rows) x panels ---- */

/* The portable tile: np panels (1 or 2) b0, b1, each (kg, 16) groups. */
static void tile_portable(int mr, int np, int kg, const int32_t *a, const int32_t *b0, const int32_t *b1, int32_t *c,
                          int pairs) {
    const uint8_t *ab = (const uint8_t *)a;
    for (int pn = 0; pn < np; pn++) {
        const int8_t *bb = (const int8_t *)(pn ? b1 : b0);
        for (int r = 0; r < mr; r++)
            for (int j = 0; j < ENCORE_PANEL; j++) {
                int32_t sum = 0;
                for (int g = 0; g < kg; g++) {
                    const uint8_t *x = ab + ((size_t)g * mr + r) * 4;
                    const int8_t *q = bb + (size_t)g * ENCORE_PANEL * 4;
                    for (size_t i = 0; i < 4; i++) sum += x[i] * q[pairs ? pair_at((size_t)j, i) : (size_t)j * 4 + i];
                }
                c[r * TILE_LD + pn * ENCORE_PANEL + j] = sum;
            }
    }
}

#if HAVE_X86
typedef void (*tile_i8_fn)(int kg, const int32_t *a, const int32_t *b0, const int32_t *b1, int32_t *c);

/* 512-bit vpdpbusd: up to 14 rows by np panels; x<r>, y<r> hold row r's
 * sums for the first and second panel. With acc, the sums are not stored
 * in c but added into the fp32 sums there at once, from the registers, as
 * accumulate() does (the same operations in the same order, so the same
 * bits): acc (mr, TILE_LD) += (sums - z wsum) s, row r's s and z at
 * s[r * sz_ld], z[r * sz_ld]. */
#define ROWS14(X) X(0) X(1) X(2) X(3) X(4) X(5) X(6) X(7) X(8) X(9) X(10) X(11) X(12) X(13)
__attribute__((target("avx512f,avx512bw,avx512vnni,avx2,fma"), always_inline)) static inline void
tile_avx512_vnni(const int mr, const int np, int kg, const int32_t *a, const int32_t *b0, const int32_t *b1,
                 int32_t *c, float *acc, const float *s, const int32_t *z, size_t sz_ld, const int32_t *wsum) {
#define T_INIT(r) __m512i x##r = _mm512_setzero_si512(), y##r = _mm512_setzero_si512();
    ROWS14(T_INIT)
#undef T_INIT
    for (int g = 0; g < kg; g++) {
        if (PREFETCH_LINES_I8 > 0) {
            _mm_prefetch((const char *)(b0 + (size_t)g * ENCORE_PANEL) + PREFETCH_LINES_I8 * 64, _MM_HINT_T0);
            if (np > 1)
                _mm_prefetch((const char *)(b1 + (size_t)g * ENCORE_PANEL) + PREFETCH_LINES_I8 * 64, _MM_HINT_T0);
        }
        const __m512i p0 = _mm512_loadu_si512((const void *)(b0 + (size_t)g * ENCORE_PANEL));
        const __m512i p1 = np > 1 ? _mm512_loadu_si512((const void *)(b1 + (size_t)g * ENCORE_PANEL)) : p0;
#define T_STEP(r)                                                                                            \
    if (mr > r) {                                                                                            \
        const __m512i ar = _mm512_set1_epi32(a[(size_t)g * mr + r]);                                         \
        x##r = _mm512_dpbusd_epi32(x##r, ar, p0);                                                            \
        if (np > 1) y##r = _mm512_dpbusd_epi32(y##r, ar, p1);                                                \
    }
        ROWS14(T_STEP)
#undef T_STEP
    }
    if (acc) {
        const __m512i w0 = _mm512_loadu_si512((const void *)wsum);
        const __m512i w1 = np > 1 ? _mm512_loadu_si512((const void *)(wsum + ENCORE_PANEL)) : w0;
#define T_ADD(r)                                                                                             \
    if (mr > r) {                                                                                            \
        const __m512 sr = _mm512_set1_ps(s[r * sz_ld]);                                                      \
        const __m512i zr = _mm512_set1_epi32(z[r * sz_ld]);                                                  \
        float *ar = acc + r * TILE_LD;                                                                       \
        const __m512i v0 = _mm512_sub_epi32(x##r, _mm512_mullo_epi32(zr, w0));                              \
        _mm512_storeu_ps(ar, _mm512_add_ps(_mm512_loadu_ps(ar), _mm512_mul_ps(_mm512_cvtepi32_ps(v0), sr)));  \
        if (np > 1) {                                                                                        \
            const __m512i v1 = _mm512_sub_epi32(y##r, _mm512_mullo_epi32(zr, w1));                          \
            _mm512_storeu_ps(ar + ENCORE_PANEL, _mm512_add_ps(_mm512_loadu_ps(ar + ENCORE_PANEL),            \
                                                              _mm512_mul_ps(_mm512_cvtepi32_ps(v1), sr)));   \
        }                                                                                                    \
    }
        ROWS14(T_ADD)
#undef T_ADD
        return;
    }
#define T_STORE(r)                                                                                           \
    if (mr > r) {                                                                                            \
        _mm512_storeu_si512((void *)(c + r * TILE_LD), x##r);                                                \
        if (np > 1) _mm512_storeu_si512((void *)(c + r * TILE_LD + ENCORE_PANEL), y##r);                     \
    }
    ROWS14(T_STORE)
#undef T_STORE
}
#undef ROWS14

/* 256-bit tiles, one panel: l<r>, h<r> hold row r's features 0-7 and 8-15.
 * vnni: vpdpbusd (VEX). madd (AVX2 without VNNI): vpmaddubsw multiplies
 * u8 by s8 and adds pairs into int16, which saturates for a * q (a pair of
 * 255 * 127 is 64770). So the activation bytes are stored as a - 128 (s8,
 * their top bit flipped, encore_i8_rows_quantize), 5 rows a tile (the
 * temporaries below need the registers of a sixth); |a - 128| <= 128 is the u8 operand
 * and its sign moved onto the weight (vpsignb: q in [-127, 127] negates
 * safely): a pair is at most 2 * 128 * 127 = 32512, exact; vpmaddwd by ones
 * widens the pairs into int32. The tile sums sum (a - 128) q, which
 * tile_product turns into sum a q by adding 128 wsum: the same int32 sums
 * as the other kernels (gemm_i8_cpu.h). */
#define ROWS6(X) X(0) X(1) X(2) X(3) X(4) X(5)
#define TILE256_LOOP(DOT)                                                                                    \
    const __m256i ones = _mm256_set1_epi16(1);                                                               \
    (void)ones;                                                                                              \
    (void)b1;                                                                                                \
    ROWS6(T_INIT)                                                                                            \
    for (int g = 0; g < kg; g++) {                                                                           \
        if (PREFETCH_LINES_I8 > 0)                                                                           \
            _mm_prefetch((const char *)(b0 + (size_t)g * ENCORE_PANEL) + PREFETCH_LINES_I8 * 64, _MM_HINT_T0);  \
        const __m256i q0 = _mm256_loadu_si256((const __m256i *)(b0 + (size_t)g * ENCORE_PANEL));            \
        const __m256i q1 = _mm256_loadu_si256((const __m256i *)(b0 + (size_t)g * ENCORE_PANEL + 8));        \
        ROWS6(DOT)                                                                                           \
    }
#define T_INIT(r) __m256i l##r = _mm256_setzero_si256(), h##r = _mm256_setzero_si256();
#define T_STORE(r)                                                                                           \
    if (mr > r) {                                                                                            \
        _mm256_storeu_si256((__m256i *)(c + r * TILE_LD), l##r);                                             \
        _mm256_storeu_si256((__m256i *)(c + r * TILE_LD + 8), h##r);                                         \
    }
#define T_VNNI(r)                                                                                            \
    if (mr > r) {                                                                                            \
        const __m256i ar = _mm256_set1_epi32(a[(size_t)g * mr + r]);                                         \
        l##r = _mm256_dpbusd_avx_epi32(l##r, ar, q0);                                                        \
        h##r = _mm256_dpbusd_avx_epi32(h##r, ar, q1);                                                        \
    }
#define T_MADD(r)                                                                                            \
    if (mr > r) {                                                                                            \
        const __m256i sr = _mm256_set1_epi32(a[(size_t)g * mr + r]);                                         \
        const __m256i ur = _mm256_abs_epi8(sr);                                                              \
        l##r = _mm256_add_epi32(l##r, _mm256_madd_epi16(_mm256_maddubs_epi16(ur, _mm256_sign_epi8(q0, sr)), ones)); \
        h##r = _mm256_add_epi32(h##r, _mm256_madd_epi16(_mm256_maddubs_epi16(ur, _mm256_sign_epi8(q1, sr)), ones)); \
    }
/* With acc (the plain AVX2 _acc tiles), the sums go from the registers into
 * the fp32 sums there, as the AVX-512 tile's do: acc (mr, 16) += (sums - z' wsum) s,
 * with z' = z - zbias. The plain AVX2 tile sums (a - 128) q, so its zbias of
 * 128 adds the 128 wsum back: sum a q - z wsum = sum (a - 128) q - (z - 128)
 * wsum, the same int32 (wrapping alike), so the same bits as accumulate(). */
#define T_ADD256(r)                                                                                          \
    if (mr > r) {                                                                                            \
        const __m256 sr = _mm256_set1_ps(s[r * sz_ld]);                                                      \
        const __m256i zr = _mm256_set1_epi32(z[r * sz_ld] - zbias);                                          \
        float *ar = acc + r * TILE_LD;                                                                       \
        const __m256i v0 = _mm256_sub_epi32(l##r, _mm256_mullo_epi32(zr, w0));                              \
        const __m256i v1 = _mm256_sub_epi32(h##r, _mm256_mullo_epi32(zr, w1));                              \
        _mm256_storeu_ps(ar, _mm256_add_ps(_mm256_loadu_ps(ar), _mm256_mul_ps(_mm256_cvtepi32_ps(v0), sr)));  \
        _mm256_storeu_ps(ar + 8, _mm256_add_ps(_mm256_loadu_ps(ar + 8), _mm256_mul_ps(_mm256_cvtepi32_ps(v1), sr))); \
    }
/* The same for the int16 tile, whose sums are sum (a - z) q already. */
#define T_ADD256_EXACT(r)                                                                                    \
    if (mr > r) {                                                                                            \
        const __m256 sr = _mm256_set1_ps(s[r * sz_ld]);                                                      \
        float *ar = acc + r * TILE_LD;                                                                       \
        _mm256_storeu_ps(ar, _mm256_add_ps(_mm256_loadu_ps(ar), _mm256_mul_ps(_mm256_cvtepi32_ps(l##r), sr))); \
        _mm256_storeu_ps(ar + 8, _mm256_add_ps(_mm256_loadu_ps(ar + 8), _mm256_mul_ps(_mm256_cvtepi32_ps(h##r), sr))); \
    }
#define TILE256_ACC_BODY(DOT)                                                                                \
    TILE256_LOOP(DOT)                                                                                        \
    if (acc) {                                                                                               \
        const __m256i w0 = _mm256_loadu_si256((const __m256i *)wsum);                                        \
        const __m256i w1 = _mm256_loadu_si256((const __m256i *)(wsum + 8));                                  \
        ROWS6(T_ADD256)                                                                                      \
        return;                                                                                              \
    }                                                                                                        \
    ROWS6(T_STORE)
__attribute__((target("avx2,fma,avxvnni"), always_inline)) static inline void
tile_avx_vnni(const int mr, int kg, const int32_t *a, const int32_t *b0, const int32_t *b1, int32_t *c) {
    TILE256_LOOP(T_VNNI)
    ROWS6(T_STORE)
}
__attribute__((target("avx2,fma"), always_inline)) static inline void
tile_avx2(const int mr, int kg, const int32_t *a, const int32_t *b0, const int32_t *b1, int32_t *c, float *acc,
          const float *s, const int32_t *z, size_t sz_ld, const int32_t *wsum, int32_t zbias) {
    TILE256_ACC_BODY(T_MADD)
}
/* The int16 tile, on weights in pairs of k (encore_pack_matrix_i8_dynamic): per
 * group of four k, two pairs; per pair, the weights of features 0-7 and
 * 8-15 widened to int16 (vpmovsxbw from memory), and for each row the
 * pair's two a - z (int16, one int32 lane of the rows) broadcast and
 * multiplied by vpmaddwd into int32 pairs: exact, sum (a - z) q, which
 * is sum a q - z wsum, the sums the other tiles reach after their
 * zero-point correction, with none to do here; 8 vector
 * operations a row and group of four k where tile_avx2 takes 9. The k
 * loop is assembly: GCC's allocation of the same intrinsics kept 8 of the
 * 10 accumulators on the stack and gave back the operation saved
 * (bench/cpu/bench_int8_tiles times the same loop). ymm11-12 hold a pair's
 * weights, ymm13 the broadcast, ymm14-15 the products. */
#define P_ROW(r, j, L, H)                                                                                    \
    "vpbroadcastd 8*" #r "+4*" #j "(%[a]), %%ymm13\n\t"                                                       \
    "vpmaddwd %%ymm11, %%ymm13, %%ymm14\n\t"                                                                 \
    "vpmaddwd %%ymm12, %%ymm13, %%ymm15\n\t"                                                                 \
    "vpaddd %%ymm14, %[" L "], %[" L "]\n\t"                                                                  \
    "vpaddd %%ymm15, %[" H "], %[" H "]\n\t"
#define P_WEIGHTS(j) "vpmovsxbw 32*" #j "(%[b]), %%ymm11\n\tvpmovsxbw 32*" #j "+16(%[b]), %%ymm12\n\t"
#define P_ROWS1(j) P_ROW(0, j, "l0", "h0")
#define P_ROWS2(j) P_ROWS1(j) P_ROW(1, j, "l1", "h1")
#define P_ROWS3(j) P_ROWS2(j) P_ROW(2, j, "l2", "h2")
#define P_ROWS4(j) P_ROWS3(j) P_ROW(3, j, "l3", "h3")
#define P_ROWS5(j) P_ROWS4(j) P_ROW(4, j, "l4", "h4")
#define P_STEP(rows)                                                                                         \
    __asm__(P_WEIGHTS(0) rows(0) P_WEIGHTS(1) rows(1)                                                        \
            : [l0] "+x"(l0), [h0] "+x"(h0), [l1] "+x"(l1), [h1] "+x"(h1), [l2] "+x"(l2), [h2] "+x"(h2),       \
              [l3] "+x"(l3), [h3] "+x"(h3), [l4] "+x"(l4), [h4] "+x"(h4)                                      \
            : [a] "r"(ag), [b] "r"(bg)                                                                       \
            : "xmm11", "xmm12", "xmm13", "xmm14", "xmm15", "memory")
__attribute__((target("avx2,fma"), always_inline)) static inline void
tile_avx2p(const int mr, int kg, const int32_t *a, const int32_t *b0, int32_t *c, float *acc, const float *s,
           size_t sz_ld) {
    __m256i l0 = _mm256_setzero_si256(), h0 = l0, l1 = l0, h1 = l0, l2 = l0, h2 = l0, l3 = l0, h3 = l0, l4 = l0,
            h4 = l0, l5 = l0, h5 = l0;  // l5, h5: ROWS6's sixth row, never run (mr <= 5)
    for (int g = 0; g < kg; g++) {
        const int32_t *ag = a + (size_t)g * mr * 2, *bg = b0 + (size_t)g * ENCORE_PANEL;
        if (PREFETCH_LINES_I8 > 0) _mm_prefetch((const char *)bg + PREFETCH_LINES_I8 * 64, _MM_HINT_T0);
        switch (mr) {
        case 1: P_STEP(P_ROWS1); break;
        case 2: P_STEP(P_ROWS2); break;
        case 3: P_STEP(P_ROWS3); break;
        case 4: P_STEP(P_ROWS4); break;
        default: P_STEP(P_ROWS5); break;
        }
    }
    if (acc) {
        ROWS6(T_ADD256_EXACT)
        return;
    }
    ROWS6(T_STORE)
}
#undef P_STEP
#undef P_ROWS5
#undef P_ROWS4
#undef P_ROWS3
#undef P_ROWS2
#undef P_ROWS1
#undef P_WEIGHTS
#undef P_ROW
#undef T_ADD256
#undef T_ADD256_EXACT
#undef TILE256_ACC_BODY
#undef TILE256_LOOP
#undef T_INIT
#undef T_STORE
#undef T_VNNI
#undef T_MADD
#undef ROWS6

#define T512_ONE(m, np)                                                                                       \
    __attribute__((target("avx512f,avx512bw,avx512vnni,avx2,fma"))) static void t512_##m##x##np(            \
        int kg, const int32_t *a, const int32_t *b0, const int32_t *b1, int32_t *c) {                          \
        tile_avx512_vnni(m, np, kg, a, b0, b1, c, NULL, NULL, NULL, 0, NULL);                                 \
    }                                                                                                         \
    __attribute__((target("avx512f,avx512bw,avx512vnni,avx2,fma"))) static void t512a_##m##x##np(           \
        int kg, const int32_t *a, const int32_t *b0, const int32_t *b1, float *acc, const float *s,           \
        const int32_t *z, size_t sz_ld, const int32_t *wsum) {                                                 \
        tile_avx512_vnni(m, np, kg, a, b0, b1, NULL, acc, s, z, sz_ld, wsum);                                 \
    }
#define T512(m) T512_ONE(m, 1) T512_ONE(m, 2)
T512(1)
T512(2)
T512(3)
T512(4)
T512(5)
T512(6)
T512(7)
T512(8)
T512(9)
T512(10)
T512(11)
T512(12)
T512(13)
T512(14)
#undef T512
#undef T512_ONE
#define TVNNI(m)                                                                                              \
    __attribute__((target("avx2,fma,avxvnni"))) static void tvnni_##m(int kg, const int32_t *a,               \
                                                                       const int32_t *b0, const int32_t *b1,   \
                                                                       int32_t *c) {                           \
        tile_avx_vnni(m, kg, a, b0, b1, c);                                                                   \
    }
#define TAVX2(m)                                                                                              \
    __attribute__((target("avx2,fma"))) static void tavx2_##m(int kg, const int32_t *a, const int32_t *b0,    \
                                                               const int32_t *b1, int32_t *c) {                \
        tile_avx2(m, kg, a, b0, b1, c, NULL, NULL, NULL, 0, NULL, 0);                                         \
    }                                                                                                         \
    __attribute__((target("avx2,fma"))) static void tavx2a_##m(int kg, const int32_t *a, const int32_t *b0,   \
                                                                float *acc, const float *s, const int32_t *z,  \
                                                                size_t sz_ld, const int32_t *wsum) {           \
        tile_avx2(m, kg, a, b0, b0, NULL, acc, s, z, sz_ld, wsum, 128);                                       \
    }
TVNNI(1) TVNNI(2) TVNNI(3) TVNNI(4) TVNNI(5) TVNNI(6)
TAVX2(1) TAVX2(2) TAVX2(3) TAVX2(4) TAVX2(5)
#define TAVX2P(m)                                                                                             \
    __attribute__((target("avx2,fma"))) static void tavx2p_##m(int kg, const int32_t *a, const int32_t *b0,   \
                                                               const int32_t *b1, int32_t *c) {               \
        (void)b1;                                                                                             \
        tile_avx2p(m, kg, a, b0, c, NULL, NULL, 0);                                                           \
    }                                                                                                         \
    __attribute__((target("avx2,fma"))) static void tavx2pa_##m(int kg, const int32_t *a, const int32_t *b0,  \
                                                                float *acc, const float *s, const int32_t *z,  \
                                                                size_t sz_ld, const int32_t *wsum) {          \
        (void)z, (void)wsum; /* its sums need no zero-point correction */                                    \
        tile_avx2p(m, kg, a, b0, NULL, acc, s, sz_ld);                                                        \
    }
TAVX2P(1) TAVX2P(2) TAVX2P(3) TAVX2P(4) TAVX2P(5)
#undef TVNNI
#undef TAVX2
#undef TAVX2P
/* tiles512[np - 1][mr], tiles_vnni[mr], tiles_avx2[mr]. */
#define ROW14(pre, np)                                                                                        \
    {NULL, pre##1x##np, pre##2x##np, pre##3x##np, pre##4x##np, pre##5x##np, pre##6x##np, pre##7x##np,         \
     pre##8x##np, pre##9x##np, pre##10x##np, pre##11x##np, pre##12x##np, pre##13x##np, pre##14x##np}
static const tile_i8_fn tiles512[2][MRI512 + 1] = {ROW14(t512_, 1), ROW14(t512_, 2)};
typedef void (*tile_i8_acc_fn)(int kg, const int32_t *a, const int32_t *b0, const int32_t *b1, float *acc,
                               const float *s, const int32_t *z, size_t sz_ld, const int32_t *wsum);
static const tile_i8_acc_fn tiles512_acc[2][MRI512 + 1] = {ROW14(t512a_, 1), ROW14(t512a_, 2)};
#undef ROW14
static const tile_i8_fn tiles_vnni[MRI256 + 1] = {NULL, tvnni_1, tvnni_2, tvnni_3, tvnni_4, tvnni_5, tvnni_6};
static const tile_i8_fn tiles_avx2[MRIAVX2 + 1] = {NULL, tavx2_1, tavx2_2, tavx2_3, tavx2_4, tavx2_5};
/* One panel into acc (mr, 16): tiles_avx2_acc[mr]. */
typedef void (*tile_i8_acc256_fn)(int kg, const int32_t *a, const int32_t *b0, float *acc, const float *s,
                                  const int32_t *z, size_t sz_ld, const int32_t *wsum);
static const tile_i8_acc256_fn tiles_avx2_acc[MRIAVX2 + 1] = {NULL, tavx2a_1, tavx2a_2, tavx2a_3, tavx2a_4, tavx2a_5};
/* The same on weights in pairs of k. */
static const tile_i8_fn tiles_avx2p[MRIAVX2 + 1] = {NULL, tavx2p_1, tavx2p_2, tavx2p_3, tavx2p_4, tavx2p_5};
static const tile_i8_acc256_fn tiles_avx2p_acc[MRIAVX2 + 1] = {NULL,       tavx2pa_1, tavx2pa_2,
                                                                tavx2pa_3, tavx2pa_4, tavx2pa_5};
#endif

/* One tile of mr rows by np panels on kernel k. */
static void run_tile(encore_i8_kernel k, int pairs, int mr, int np, int kg, const int32_t *a, const int32_t *b0,
                     const int32_t *b1, int32_t *c) {
#if HAVE_X86
    if (k == ENCORE_I8_KERNEL_AVX2 && pairs) {
        tiles_avx2p[mr](kg, a, b0, b1, c);
        if (np > 1) tiles_avx2p[mr](kg, a, b1, b1, c + ENCORE_PANEL);
        return;
    }
    if (k == ENCORE_I8_KERNEL_AVX512_VNNI) {
        tiles512[np - 1][mr](kg, a, b0, b1, c);
        return;
    }
    if (k == ENCORE_I8_KERNEL_AVX_VNNI || k == ENCORE_I8_KERNEL_AVX2) {
        const tile_i8_fn *t = k == ENCORE_I8_KERNEL_AVX_VNNI ? tiles_vnni : tiles_avx2;
        t[mr](kg, a, b0, b1, c);
        if (np > 1) t[mr](kg, a, b1, b1, c + ENCORE_PANEL);
        return;
    }
#endif
    tile_portable(mr, np, kg, a, b0, b1, c, pairs);
}

static int tile_rows(encore_i8_kernel k) {
    return k == ENCORE_I8_KERNEL_AVX512_VNNI ? MRI512 : k == ENCORE_I8_KERNEL_AVX2 ? MRIAVX2 : MRI256;
}

/* Tiles of a block of mc rows: as few as mr_max allows, heights as even as
 * can be (gemm_cpu.c's tile_start). */
static int tile_count(int mc, int mr_max) { return (mc + mr_max - 1) / mr_max; }

static int tile_start(int mc, int mr_max, int i) {
    const int n = tile_count(mc, mr_max), base = mc / n, extra = mc % n;
    return i * base + (i < extra ? i : extra);
}

/* int32 words of a row's bytes per group of four k: 1, or 2 for the int16
 * pairs. */
static size_t row_words(const encore_i8_rows *rows) { return rows->pairs ? 2 : 1; }

size_t encore_i8_rows_bytes(int T, int K) {
    if (T <= 0 || K <= 0) return 0;
    /* Room for the int16 pairs, whichever the layout. */
    const size_t per_row = groups((size_t)K) * 8 + (size_t)encore_i8_groups(K) * (sizeof(float) + sizeof(int32_t));
    return (size_t)T > SIZE_MAX / per_row ? SIZE_MAX : (size_t)T * per_row;
}

void encore_i8_rows_layout(int T, int K, encore_i8_kernel k, const encore_packed_matrix *w, void *buf,
                           encore_i8_rows *rows) {
    const size_t K4 = groups((size_t)K);
    const int ng = encore_i8_groups(K);
    const int pairs = k == ENCORE_I8_KERNEL_AVX2 && w && w->q4_pairs;
    int32_t *a = buf;                                                 // (T, K4, 1 or 2) in tiles
    float *scale = (float *)(a + (size_t)T * K4 * (pairs ? 2 : 1));  // (T, ng)
    int32_t *zero = (int32_t *)(scale + (size_t)T * ng);  // (T, ng)
    rows->a = a;
    rows->scale = scale;
    rows->zero = zero;
    rows->T = T;
    rows->K = K;
    rows->groups = ng;
    rows->kernel = k;
    rows->pairs = pairs;
}

/* The tile that row t of T lies in: its first row and its height (the
 * blocks of MCI rows and tile_start's heights, inverted). */
static void row_tile(int T, int t, int mr_max, int *first, int *mr) {
    const int t0 = t / MCI * MCI, mc = T - t0 < MCI ? T - t0 : MCI, r = t - t0;
    const int n = tile_count(mc, mr_max), base = mc / n, extra = mc % n;
    const int i = r < extra * (base + 1) ? r / (base + 1) : extra + (r - extra * (base + 1)) / base;
    *first = t0 + tile_start(mc, mr_max, i);
    *mr = tile_start(mc, mr_max, i + 1) - tile_start(mc, mr_max, i);
}

void encore_i8_rows_quantize(const float *x, int t0, int t1, int levels, const encore_i8_rows *rows) {
    const int K = rows->K, ng = rows->groups, mr_max = tile_rows(rows->kernel);
    const int vec = rows->kernel != ENCORE_I8_KERNEL_PORTABLE;  // every SIMD kernel has AVX2
    const size_t K4 = groups((size_t)K), words = row_words(rows);
    float *scale = (float *)rows->scale;
    int32_t *zero = (int32_t *)rows->zero;
    uint8_t row[ENCORE_I8_GROUP];
    for (int t = t0; t < t1; t++) {
        int first, mr;
        row_tile(rows->T, t, mr_max, &first, &mr);
        /* This row's groups of 4 bytes (or 4 int16), mr apart: the tile is
         * (K4, mr). */
        uint8_t *tile = (uint8_t *)(rows->a + (size_t)first * K4 * words) + (size_t)(t - first) * 4 * words;
        const float *xr = x + (size_t)t * K;
        for (int g = 0; g < ng; g++) {
            const int k0 = g * ENCORE_I8_GROUP, n = K - k0 < ENCORE_I8_GROUP ? K - k0 : ENCORE_I8_GROUP;
            float *sg = scale + (size_t)t * ng + g;
            int32_t *zg = zero + (size_t)t * ng + g;
#if HAVE_X86
            if (rows->kernel == ENCORE_I8_KERNEL_AVX512_VNNI && n == ENCORE_I8_GROUP) {
                quantize_group_avx512(xr + k0, levels, sg, zg, tile + (size_t)k0 * mr, (size_t)mr * 4);
                continue;
            }
            if (rows->pairs && n == ENCORE_I8_GROUP) {
                quantize_group_pairs_avx2(xr + k0, levels, sg, zg, tile + (size_t)k0 / 4 * mr * 8, (size_t)mr * 8);
                continue;
            }
#endif
            span_params(xr + k0, n, levels, vec, sg, zg);
            /* Padding k past K is 0, and its weights are 0 too. */
            if (n < ENCORE_I8_GROUP) memset(row, 0, sizeof row);
            quantize_on(xr + k0, n, *sg, *zg, levels, vec, row);
            if (rows->pairs) {  // a - z as int16 (k past K: -z, by weights of 0)
                for (int q = 0; q < (n + 3) / 4; q++) {
                    int16_t v[4];
                    for (int i = 0; i < 4; i++) v[i] = (int16_t)(row[4 * q + i] - *zg);
                    memcpy(tile + ((size_t)k0 / 4 + q) * mr * 8, v, sizeof v);
                }
                continue;
            }
            if (rows->kernel == ENCORE_I8_KERNEL_AVX2)  // its vpsignb tiles take a - 128, as s8
                for (int k = 0; k < ENCORE_I8_GROUP; k++) row[k] ^= 0x80;
            for (int q = 0; q < (n + 3) / 4; q++) memcpy(tile + ((size_t)k0 / 4 + q) * mr * 4, row + 4 * q, 4);
        }
    }
}

void encore_i8_rows_prepare(const float *x, int T, int K, encore_i8_kernel k, const encore_packed_matrix *w,
                            int levels, void *buf, encore_i8_rows *rows) {
    encore_i8_rows_layout(T, K, k, w, buf, rows);
    encore_i8_rows_quantize(x, 0, T, levels, rows);
}

/* Group g's sums c (mr, TILE_LD) of the tile whose first row is t into the
 * tile's fp32 sums acc (mr, TILE_LD): acc += (c - z wsum) s. Plain C, the
 * same for every kernel. */
static void accumulate(float *acc, const int32_t *c, int mr, int cols, const encore_i8_rows *rows, int t, int g,
                       const int32_t *wsum) {
    for (int r = 0; r < mr; r++) {
        const float s = rows->scale[(size_t)(t + r) * rows->groups + g];
        const int32_t z = rows->zero[(size_t)(t + r) * rows->groups + g];
        for (int j = 0; j < cols; j++) acc[r * TILE_LD + j] += (float)(c[r * TILE_LD + j] - z * wsum[j]) * s;
    }
}

#if HAVE_X86
/* The same on 16 (AVX-512) or 8 (AVX2) columns at a time, over whole
 * vectors (columns past cols are padding: zero sums, zero weight sums).
 * The same operations, each rounded once, in the same order (no FMA: this
 * file is built with -ffp-contract=off), so the same bits as the plain C. */
__attribute__((target("avx512f,avx2,fma"))) static void accumulate_avx512(float *acc, const int32_t *c, int mr,
                                                                           int cols, const encore_i8_rows *rows,
                                                                           int t, int g, const int32_t *wsum) {
    for (int r = 0; r < mr; r++) {
        const __m512 s = _mm512_set1_ps(rows->scale[(size_t)(t + r) * rows->groups + g]);
        const __m512i z = _mm512_set1_epi32(rows->zero[(size_t)(t + r) * rows->groups + g]);
        for (int j = 0; j < cols; j += 16) {
            const __m512i v = _mm512_sub_epi32(_mm512_loadu_si512((const void *)(c + r * TILE_LD + j)),
                                               _mm512_mullo_epi32(z, _mm512_loadu_si512((const void *)(wsum + j))));
            float *a = acc + r * TILE_LD + j;
            _mm512_storeu_ps(a, _mm512_add_ps(_mm512_loadu_ps(a), _mm512_mul_ps(_mm512_cvtepi32_ps(v), s)));
        }
    }
}

__attribute__((target("avx2,fma"))) static void accumulate_avx2(float *acc, const int32_t *c, int mr, int cols,
                                                                 const encore_i8_rows *rows, int t, int g,
                                                                 const int32_t *wsum) {
    for (int r = 0; r < mr; r++) {
        const __m256 s = _mm256_set1_ps(rows->scale[(size_t)(t + r) * rows->groups + g]);
        const __m256i z = _mm256_set1_epi32(rows->zero[(size_t)(t + r) * rows->groups + g]);
        for (int j = 0; j < cols; j += 8) {
            const __m256i v =
                _mm256_sub_epi32(_mm256_loadu_si256((const __m256i *)(c + r * TILE_LD + j)),
                                 _mm256_mullo_epi32(z, _mm256_loadu_si256((const __m256i *)(wsum + j))));
            float *a = acc + r * TILE_LD + j;
            _mm256_storeu_ps(a, _mm256_add_ps(_mm256_loadu_ps(a), _mm256_mul_ps(_mm256_cvtepi32_ps(v), s)));
        }
    }
}
#endif

/* accumulate on the kernel's vectors. */
static void accumulate_on(encore_i8_kernel k, float *acc, const int32_t *c, int mr, int cols,
                          const encore_i8_rows *rows, int t, int g, const int32_t *wsum) {
#if HAVE_X86
    if (k == ENCORE_I8_KERNEL_AVX512_VNNI) {
        accumulate_avx512(acc, c, mr, cols, rows, t, g, wsum);
        return;
    }
    if (k == ENCORE_I8_KERNEL_AVX_VNNI || k == ENCORE_I8_KERNEL_AVX2) {
        accumulate_avx2(acc, c, mr, cols, rows, t, g, wsum);
        return;
    }
#endif
    accumulate(acc, c, mr, cols, rows, t, g, wsum);
}

#if HAVE_X86
/* The same 8 columns at a time (a multiply, then an add: this file is
 * built with -ffp-contract=off, so the same bits as the plain C). */
__attribute__((target("avx2"))) static void finish_avx2(const float *acc, int mr, int cols, int t,
                                                        const encore_packed_matrix *w, int n0, const float *b,
                                                        float *out) {
    const float *sc = w->scales + n0, *bn = b ? b + n0 : NULL;
    for (int r = 0; r < mr; r++) {
        float *o = out + (size_t)(t + r) * w->N + n0;
        const float *ar = acc + r * TILE_LD;
        int j = 0;
        for (; j + 8 <= cols; j += 8) {
            __m256 v = _mm256_mul_ps(_mm256_loadu_ps(ar + j), _mm256_loadu_ps(sc + j));
            if (bn) v = _mm256_add_ps(v, _mm256_loadu_ps(bn + j));
            _mm256_storeu_ps(o + j, v);
        }
        for (; j < cols; j++) {
            const float v = ar[j] * sc[j];
            o[j] = bn ? v + bn[j] : v;
        }
    }
}
#endif

/* out[t + r][n0 + j] = acc * scale_n (+ b_n), on AVX2 when vec. */
static void finish(const float *acc, int mr, int cols, int t, const encore_packed_matrix *w, int n0, const float *b,
                   float *out, int vec) {
#if HAVE_X86
    if (vec) {
        finish_avx2(acc, mr, cols, t, w, n0, b, out);
        return;
    }
#endif
    (void)vec;
    for (int r = 0; r < mr; r++) {
        float *o = out + (size_t)(t + r) * w->N + n0;
        for (int j = 0; j < cols; j++) {
            const float v = acc[r * TILE_LD + j] * w->scales[n0 + j];
            o[j] = b ? v + b[n0 + j] : v;
        }
    }
}

static size_t wsum_stride(const encore_packed_matrix *w) {
    return ((size_t)w->N + ENCORE_PANEL - 1) / ENCORE_PANEL * ENCORE_PANEL;
}

/* The tile of mr rows at row t (its bytes at a) by np panels from p: group
 * by group, int32 sums into c, then into acc. With sums != NULL (the
 * tests), each group's int32 sums go there too: (groups, T, N). */
static void tile_product(const encore_i8_rows *rows, const encore_packed_matrix *w, int p, int np, int t, int mr,
                         int cols, const int32_t *a, float *acc, int32_t *sums) {
    const size_t K4 = groups((size_t)w->K), G4 = ENCORE_I8_GROUP / 4, words = row_words(rows);
    const int32_t *b0 = (const int32_t *)(const void *)w->panels_q4 + (size_t)p * K4 * ENCORE_PANEL;  // (K4, 16)
    const int32_t *b1 = np > 1 ? b0 + K4 * ENCORE_PANEL : b0;                                           // (K4, 16)
    const int n0 = p * ENCORE_PANEL;
    int32_t c[MRI512 * TILE_LD];
    memset(acc, 0, sizeof(float) * (size_t)mr * TILE_LD);
    for (int g = 0; g < rows->groups; g++) {
        const size_t g0 = (size_t)g * G4, kg = K4 - g0 < G4 ? K4 - g0 : G4;
        const int32_t *wsum = w->wsums + (size_t)g * wsum_stride(w) + n0;
#if HAVE_X86
        if (rows->kernel == ENCORE_I8_KERNEL_AVX512_VNNI && !sums) {
            /* The sums go from the registers into acc. */
            const size_t at = (size_t)t * rows->groups + g;
            tiles512_acc[np - 1][mr]((int)kg, a + g0 * mr, b0 + g0 * ENCORE_PANEL, b1 + g0 * ENCORE_PANEL, acc,
                                     rows->scale + at, rows->zero + at, (size_t)rows->groups, wsum);
            continue;
        }
        if (rows->kernel == ENCORE_I8_KERNEL_AVX2 && !sums) {
            /* The same from 256-bit registers, a panel at a time: the plain
             * AVX2 tiles only (the AVX-VNNI ones keep the stored sums: no
             * CPU at hand has AVX-VNNI without AVX-512 to test them on). */
            const size_t at = (size_t)t * rows->groups + g;
            const tile_i8_acc256_fn *f = rows->pairs ? tiles_avx2p_acc : tiles_avx2_acc;
            f[mr]((int)kg, a + g0 * mr * words, b0 + g0 * ENCORE_PANEL, acc, rows->scale + at, rows->zero + at,
                  (size_t)rows->groups, wsum);
            if (np > 1)
                f[mr]((int)kg, a + g0 * mr * words, b1 + g0 * ENCORE_PANEL, acc + ENCORE_PANEL, rows->scale + at,
                      rows->zero + at, (size_t)rows->groups, wsum + ENCORE_PANEL);
            continue;
        }
#endif
        run_tile(rows->kernel, w->q4_pairs, mr, np, (int)kg, a + g0 * mr * words, b0 + g0 * ENCORE_PANEL,
                 b1 + g0 * ENCORE_PANEL, c);
        if (rows->kernel == ENCORE_I8_KERNEL_AVX2)  // its tiles sum (a - 128) q, or (a - z) q
            for (int r = 0; r < mr; r++) {
                const int32_t zb = rows->pairs ? rows->zero[(size_t)(t + r) * rows->groups + g] : 128;
                for (int j = 0; j < cols; j++) c[r * TILE_LD + j] += zb * wsum[j];
            }
        accumulate_on(rows->kernel, acc, c, mr, cols, rows, t, g, wsum);
        if (sums)
            for (int r = 0; r < mr; r++)
                memcpy(sums + ((size_t)g * rows->T + t + r) * w->N + n0, c + r * TILE_LD, (size_t)cols * sizeof(int32_t));
    }
}

/* Panels [p0, p1), every row. */
static void panels(const encore_i8_rows *rows, const encore_packed_matrix *w, const float *b, float *out, int p0,
                   int p1, const encore_linear_epilogue *ep, int32_t *sums) {
    const int N = w->N, T = rows->T, mr_max = tile_rows(rows->kernel);
    const int vec = rows->kernel != ENCORE_I8_KERNEL_PORTABLE;  // every SIMD kernel has AVX2
    const size_t K4 = groups((size_t)w->K);
    float acc[MRI512 * TILE_LD];
    for (int t0 = 0; t0 < T; t0 += MCI) {
        const int mc = T - t0 < MCI ? T - t0 : MCI;
        for (int p = p0; p < p1; p++) {
            const int n0 = p * ENCORE_PANEL;
            const int np = p + 1 < p1 && N - n0 > ENCORE_PANEL ? 2 : 1;
            const int cols = N - n0 < np * ENCORE_PANEL ? N - n0 : np * ENCORE_PANEL;
            for (int i = 0; i < tile_count(mc, mr_max); i++) {
                const int r0 = tile_start(mc, mr_max, i), mr = tile_start(mc, mr_max, i + 1) - r0;
                tile_product(rows, w, p, np, t0 + r0, mr, cols, rows->a + (size_t)(t0 + r0) * K4 * row_words(rows),
                             acc, sums);
                if (out) finish(acc, mr, cols, t0 + r0, w, n0, b, out, vec);
                if (out && ep && ep->block)
                    ep->block(out + (size_t)(t0 + r0) * N + n0, (size_t)N, mr, n0, cols, ep->ctx);
            }
            p += np - 1;
        }
    }
}

void encore_i8_panels(const encore_i8_rows *rows, const encore_packed_matrix *w, const float *b, float *out, int p0,
                      int p1, const encore_linear_epilogue *ep) {
    panels(rows, w, b, out, p0, p1, ep, NULL);
}

void encore_i8_product_unbuffered(const float *x, int T, const encore_packed_matrix *w, const float *b, float *out,
                                  encore_i8_kernel k, const encore_linear_epilogue *ep) {
    const int N = w->N, K = w->K, levels = encore_i8_kernel_levels(k), ng = encore_i8_groups(K);
    const int vec = k != ENCORE_I8_KERNEL_PORTABLE;
    uint8_t a[ENCORE_I8_GROUP];
    for (int t = 0; t < T; t++) {
        const float *xr = x + (size_t)t * K;
        float *o = out + (size_t)t * N;  // (N) the fp32 sums, as a tile's acc
        for (int n = 0; n < N; n++) o[n] = 0.0f;
        for (int g = 0; g < ng; g++) {
            const int k0 = g * ENCORE_I8_GROUP, kc = K - k0 < ENCORE_I8_GROUP ? K - k0 : ENCORE_I8_GROUP;
            float s;
            int32_t z;
            span_params(xr + k0, kc, levels, vec, &s, &z);
            quantize_on(xr + k0, kc, s, z, levels, vec, a);
            const int32_t *wsum = w->wsums + (size_t)g * wsum_stride(w);
            for (int n = 0; n < N; n++) {
                int32_t sum = 0;
                for (int i = 0; i < kc; i++) sum += a[i] * w->panels_q4[encore_i8_q4_at(w, (size_t)n, (size_t)(k0 + i))];
                o[n] += (float)(sum - z * wsum[n]) * s;
            }
        }
        for (int n = 0; n < N; n++) {
            const float v = o[n] * w->scales[n];
            o[n] = b ? v + b[n] : v;
        }
        if (ep && ep->block) ep->block(o, (size_t)N, 1, 0, N, ep->ctx);
    }
}

int encore_i8_sums(const float *x, const encore_packed_matrix *w, int T, encore_i8_kernel k, int levels,
                   int32_t *sums, float *scale, int32_t *zero) {
    if (levels == 0) levels = encore_i8_kernel_levels(k);
    if (!w->panels_q4 || !encore_i8_kernel_available(k) || encore_i8_kernel_for_matrix(k, w) != k || levels < 1 ||
        levels > encore_i8_kernel_levels(k))
        return -1;
    const size_t bytes = encore_i8_rows_bytes(T, w->K);
    if (bytes == 0) return 0;
    if (bytes == SIZE_MAX) return -2;
    void *buf = malloc(bytes);
    if (!buf) return -2;
    encore_i8_rows rows;
    encore_i8_rows_prepare(x, T, w->K, k, w, levels, buf, &rows);
    panels(&rows, w, NULL, NULL, 0, (w->N + ENCORE_PANEL - 1) / ENCORE_PANEL, NULL, sums);
    if (scale) memcpy(scale, rows.scale, (size_t)T * rows.groups * sizeof(float));
    if (zero) memcpy(zero, rows.zero, (size_t)T * rows.groups * sizeof(int32_t));
    free(buf);
    return 0;
}
