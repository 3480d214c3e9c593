/* gemm_cpu.c: out = x W^T (+ b) on packed weights (layout and summation
 * order: gemm_cpu.h).
 *
 * Blocking, from the inside out:
 * - a register tile lives in registers while k runs; each k step loads the
 *   panel's 16 floats once and broadcasts one float of each row; the rows
 *   split into tiles of even heights (tile_start). AVX2: up to MR (6) rows
 *   by one panel, 12 ymm registers. AVX-512: up to MR512 (14) rows by two
 *   panels (32 columns), 28 of the 32 zmm registers;
 * - KC steps of k at a time, so the panel slice (KC x 16 floats, 16 KiB) stays
 *   in L1 while every row tile of the block passes over it;
 * - MC rows of x at a time, so the block of x (MC x KC floats, 120 KiB) stays
 *   in L2 while the thread's panels pass over it;
 * - the panels are split over the OpenMP threads: in contiguous ranges, or
 *   for few rows (a short text, where a late thread costs most) in chunks
 *   that the threads take from a shared counter.
 * A later k block starts from the partial sums already in out, which leaves
 * each element's sum in plain k order. */
#include "cpu/gemm_cpu.h"

#include "cpu/gemm_i8_cpu.h"

#include "core/half.h"

#include <math.h>
#include <omp.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#if defined(__x86_64__) || defined(__i386__)
#include <immintrin.h>
#define HAVE_X86 1
#else
#define HAVE_X86 0
#endif

#define MR 6    /* rows of x per register tile (portable and AVX2) */
#define MR512 14 /* rows of x per AVX-512 register tile */
#define MR_MAX MR512
#ifndef KC
#define KC 256  /* k steps per cache block */
#endif
#ifndef MC
#define MC 126  /* rows of x per cache block (a multiple of MR and MR512) */
#endif
/* How far ahead in its panel a tile asks for weights, in 64-byte lines
 * (4 KB). A short text streams every weight from memory once per call,
 * through as many panels as the layer has (each a separate run of K * 64
 * bytes for fp32), and the hardware prefetcher starts each run late and
 * stays close behind. One software prefetch per line, this far ahead, made
 * one text 20-27 % faster on DistilBERT's shape and the default model
 * (AVX-512, Zen 5; 9 % on the AVX2 tile) and batch 64 at one thread 12 %;
 * 48 to 128 lines measured alike (bench/RESULTS.md). A prefetch never
 * faults, so the last ones may point past the panels. (-DPREFETCH_LINES=0
 * builds without, for comparisons.) */
#ifndef PREFETCH_LINES
#define PREFETCH_LINES 64
#endif
#ifndef FULL_K_MAX_ROWS
#define FULL_K_MAX_ROWS 48  /* up to this many rows, no k blocks (see linear_share) */
#endif

/* Below this many multiply-adds a product runs on one thread: waking the
 * other threads costs more than they save (measured on the 2-core
 * development machine: see bench/RESULTS.md). */
#define PARALLEL_MIN_MACS 1000000.0

size_t encore_packed_floats(int N, int K) {
    /* In size_t from the start: N + 15 overflows int for N near INT_MAX. */
    return ((size_t)N + ENCORE_PANEL - 1) / ENCORE_PANEL * ENCORE_PANEL * (size_t)K;
}

/* The weight types a panel holds, as the tiles are specialised for them. */
enum { WT_F32 = 0, WT_BF16 = 1, WT_I8 = 2 };

/* Where element (n, k) of an (N, K) matrix lies in its panels. */
static size_t packed_at(int n, int k, int K) {
    return (size_t)(n / ENCORE_PANEL) * K * ENCORE_PANEL + (size_t)k * ENCORE_PANEL + n % ENCORE_PANEL;
}

/* k of a weight row quantized at once for int8. */
#define PACK_CHUNK 4096

/* w (N, K) into panels of weight type wt at dst (rows past N zero), and
 * for int8 one scale per row into scales (ceil(N / 16) * 16, 0 past N):
 * symmetric, scale = max |w| / 127, q = round(w / scale) in [-127, 127]
 * (never -128, so that the range is symmetric). */
static void pack_panels(const float *w, int N, int K, int wt, void *dst, float *scales, encore_packed_matrix *out) {
    const size_t P = ((size_t)N + ENCORE_PANEL - 1) / ENCORE_PANEL;
    const size_t esize = wt == WT_F32 ? sizeof(float) : wt == WT_BF16 ? sizeof(uint16_t) : sizeof(int8_t);
    memset(dst, 0, encore_packed_floats(N, K) * esize);
    if (wt == WT_I8) memset(scales, 0, P * ENCORE_PANEL * sizeof(float));
    int8_t q[PACK_CHUNK];
    for (int n = 0; n < N; n++) {
        const float *row = w + (size_t)n * K;
        if (wt == WT_I8) {
            /* The same values as int8-dynamic's (gemm_i8_cpu.h). */
            const float scale = encore_i8_weight_scale(row, K);
            scales[n] = scale;
            if (scale == 0.0f) continue;
            for (int k0 = 0; k0 < K; k0 += PACK_CHUNK) {
                const int len = K - k0 < PACK_CHUNK ? K - k0 : PACK_CHUNK;
                encore_i8_quantize_weights(row + k0, len, scale, q);
                for (int k = 0; k < len; k++) ((int8_t *)dst)[packed_at(n, k0 + k, K)] = q[k];
            }
            continue;
        }
        for (int k = 0; k < K; k++) {
            const size_t at = packed_at(n, k, K);
            if (wt == WT_F32)
                ((float *)dst)[at] = row[k];
            else
                ((uint16_t *)dst)[at] = encore_f32_to_bf16(row[k]);
        }
    }
    out->panels = wt == WT_F32 ? dst : NULL;
    out->panels_bf16 = wt == WT_BF16 ? dst : NULL;
    out->panels_i8 = wt == WT_I8 ? dst : NULL;
    out->panels_q4 = NULL;
    out->q4_pairs = 0;
    out->scales = wt == WT_I8 ? scales : NULL;
    out->wsums = NULL;
    out->N = N;
    out->K = K;
}

void encore_pack_matrix(const float *w, int N, int K, float *dst, encore_packed_matrix *out) {
    pack_panels(w, N, K, WT_F32, dst, NULL, out);
}

void encore_pack_matrix_bf16(const float *w, int N, int K, uint16_t *dst, encore_packed_matrix *out) {
    pack_panels(w, N, K, WT_BF16, dst, NULL, out);
}

void encore_pack_matrix_i8(const float *w, int N, int K, int8_t *dst, float *scales, encore_packed_matrix *out) {
    pack_panels(w, N, K, WT_I8, dst, scales, out);
}

void encore_unpack_matrix_row(const encore_packed_matrix *p, int n, int k0, int len, float *dst) {
    if (p->panels_q4) {
        /* Groups of four k per lane, or pairs of k (gemm_i8_cpu.h). */
        for (int i = 0; i < len; i++)
            dst[i] = (float)p->panels_q4[encore_i8_q4_at(p, (size_t)n, (size_t)(k0 + i))] * p->scales[n];
        return;
    }
    const size_t at = packed_at(n, 0, p->K);
    if (p->panels_i8) {
        for (int k = 0; k < len; k++) dst[k] = (float)p->panels_i8[at + (size_t)(k0 + k) * ENCORE_PANEL] * p->scales[n];
        return;
    }
    if (p->panels_bf16) {
        for (int k = 0; k < len; k++) dst[k] = encore_bf16_to_f32(p->panels_bf16[at + (size_t)(k0 + k) * ENCORE_PANEL]);
        return;
    }
    for (int k = 0; k < len; k++) dst[k] = p->panels[at + (size_t)(k0 + k) * ENCORE_PANEL];
}

void encore_unpack_matrix(const encore_packed_matrix *p, float *w) {
    for (int n = 0; n < p->N; n++) encore_unpack_matrix_row(p, n, 0, p->K, w + (size_t)n * p->K);
}

/* What a tile does at the ends of its k range. fp32 and bf16 panels: the
 * first k block starts from init (the bias, 16 floats per panel, or NULL
 * for 0), a later one from the partial sums in c. int8 panels: the sums are
 * of x * q and start from 0; the last k block scales them by the column's
 * scale and adds init: out = (sum_k x_k q_k) * scale + bias. */
typedef struct tile_ends {
    const float *init;  /* (16 * panels) bias, or NULL */
    const float *scale; /* int8: (16 * panels) per-column scales */
    int first, last;
    /* The AVX2 tile's share of the next panel, asked for into L2 as it
     * goes: pf + k * pf_step at k step k (pf NULL: none; panels_block). */
    const char *pf;
    size_t pf_step;
} tile_ends;

/* One k step of a panel slice b, 16 values, as fp32 (exact for bf16 and int8). */
static void panel_row_portable(const void *b, int wt, int k, float *dst) {
    for (int j = 0; j < ENCORE_PANEL; j++) {
        const size_t i = (size_t)k * ENCORE_PANEL + j;
        dst[j] = wt == WT_BF16 ? encore_bf16_to_f32(((const uint16_t *)b)[i])
                 : wt == WT_I8 ? (float)((const int8_t *)b)[i]
                               : ((const float *)b)[i];
    }
}

/* One register tile: c (mr, 16), row stride ldc, starts and ends as e says,
 * and adds a^T b: a (kc, MR) holds mr rows of x interleaved by pack_rows, b
 * (kc, 16) is a slice of a panel. The portable version; the compiler
 * vectorises the j loops. */
static void tile_portable(int mr, int kc, const float *a, const void *b, int wt, float *c, size_t ldc,
                          const tile_ends *e) {
    float acc[MR][ENCORE_PANEL];
    for (int r = 0; r < mr; r++)
        for (int j = 0; j < ENCORE_PANEL; j++)
            acc[r][j] = !e->first ? c[r * ldc + j] : e->init && wt != WT_I8 ? e->init[j] : 0.0f;
    float bk[ENCORE_PANEL];
    for (int k = 0; k < kc; k++) {
        panel_row_portable(b, wt, k, bk);
        for (int r = 0; r < mr; r++) {
            const float ar = a[(size_t)k * MR + r];
            for (int j = 0; j < ENCORE_PANEL; j++) acc[r][j] += ar * bk[j];
        }
    }
    if (wt == WT_I8 && e->last)
        for (int r = 0; r < mr; r++)
            for (int j = 0; j < ENCORE_PANEL; j++) acc[r][j] = acc[r][j] * e->scale[j] + (e->init ? e->init[j] : 0.0f);
    for (int r = 0; r < mr; r++)
        for (int j = 0; j < ENCORE_PANEL; j++) c[r * ldc + j] = acc[r][j];
}

#if HAVE_X86
/* 8 weights of a panel row from element i on, as fp32: bf16 widened by a
 * shift (its bits are the top half of the float's), int8 converted. */
__attribute__((target("avx2,fma"), always_inline)) static inline __m256 load8(const void *b, int wt, size_t i) {
    if (wt == WT_BF16)
        return _mm256_castsi256_ps(
            _mm256_slli_epi32(_mm256_cvtepu16_epi32(_mm_loadu_si128((const __m128i *)((const uint16_t *)b + i))), 16));
    if (wt == WT_I8)
        return _mm256_cvtepi32_ps(_mm256_cvtepi8_epi32(_mm_loadl_epi64((const __m128i *)((const int8_t *)b + i))));
    return _mm256_loadu_ps((const float *)b + i);
}

/* The AVX2 tile, same contract. Written for a constant mr and weight type:
 * each caller below fixes them, and the rows past mr drop out at compile
 * time. The accumulators are named variables, not an array, so that they
 * stay in registers: l<r> and h<r> hold columns 0-7 and 8-15 of row r. */
#define TILE_ROWS(X) X(0) X(1) X(2) X(3) X(4) X(5)
__attribute__((target("avx2,fma"), always_inline)) static inline void
tile_avx2(const int mr, const int wt, int kc, const float *a, const void *b, float *c, size_t ldc,
          const tile_ends *e) {
    const int from_init = e->first && e->init && wt != WT_I8;
    const __m256 i0 = from_init ? _mm256_loadu_ps(e->init) : _mm256_setzero_ps();
    const __m256 i1 = from_init ? _mm256_loadu_ps(e->init + 8) : _mm256_setzero_ps();
#define TILE_INIT(r)                                                                                         \
    __m256 l##r = i0, h##r = i1;                                                                             \
    if (mr > r && !e->first) {                                                                               \
        l##r = _mm256_loadu_ps(c + r * ldc);                                                                 \
        h##r = _mm256_loadu_ps(c + r * ldc + 8);                                                             \
    }
    TILE_ROWS(TILE_INIT)
#undef TILE_INIT
    const int elem = wt == WT_F32 ? 4 : wt == WT_BF16 ? 2 : 1;   /* bytes per weight */
    const int line_steps = 64 / (ENCORE_PANEL * elem);            /* k steps per cache line */
    for (int k = 0; k < kc; k++) {
        if (PREFETCH_LINES > 0 && k % line_steps == 0)
            _mm_prefetch((const char *)b + ((size_t)k * ENCORE_PANEL * elem + PREFETCH_LINES * 64), _MM_HINT_T0);
        if (e->pf) _mm_prefetch(e->pf + (size_t)k * e->pf_step, _MM_HINT_T1);
        const __m256 b0 = load8(b, wt, (size_t)k * ENCORE_PANEL);
        const __m256 b1 = load8(b, wt, (size_t)k * ENCORE_PANEL + 8);
#define TILE_STEP(r)                                                                                         \
    if (mr > r) {                                                                                            \
        const __m256 ar = _mm256_broadcast_ss(a + (size_t)k * MR + r);                                      \
        l##r = _mm256_fmadd_ps(ar, b0, l##r);                                                                \
        h##r = _mm256_fmadd_ps(ar, b1, h##r);                                                                \
    }
        TILE_ROWS(TILE_STEP)
#undef TILE_STEP
    }
    if (wt == WT_I8 && e->last) {
        const __m256 s0 = _mm256_loadu_ps(e->scale), s1 = _mm256_loadu_ps(e->scale + 8);
        const __m256 z0 = e->init ? _mm256_loadu_ps(e->init) : _mm256_setzero_ps();
        const __m256 z1 = e->init ? _mm256_loadu_ps(e->init + 8) : _mm256_setzero_ps();
#define TILE_SCALE(r)                                                                                        \
    l##r = _mm256_fmadd_ps(l##r, s0, z0);                                                                    \
    h##r = _mm256_fmadd_ps(h##r, s1, z1);
        TILE_ROWS(TILE_SCALE)
#undef TILE_SCALE
    }
#define TILE_STORE(r)                                                                                        \
    if (mr > r) {                                                                                            \
        _mm256_storeu_ps(c + r * ldc, l##r);                                                                 \
        _mm256_storeu_ps(c + r * ldc + 8, h##r);                                                             \
    }
    TILE_ROWS(TILE_STORE)
#undef TILE_STORE
}
#undef TILE_ROWS

typedef void (*tile_fn)(int kc, const float *a, const void *b, float *c, size_t ldc, const tile_ends *e);
#define TILE_AVX2_ONE(m, wt, name)                                                                            \
    __attribute__((target("avx2,fma"))) static void name(int kc, const float *a, const void *b, float *c,     \
                                                          size_t ldc, const tile_ends *e) {                    \
        tile_avx2(m, wt, kc, a, b, c, ldc, e);                                                                \
    }
#define TILE_AVX2(m)                                                                                          \
    TILE_AVX2_ONE(m, WT_F32, tile_avx2_f32_##m)                                                               \
    TILE_AVX2_ONE(m, WT_BF16, tile_avx2_bf16_##m)                                                             \
    TILE_AVX2_ONE(m, WT_I8, tile_avx2_i8_##m)
TILE_AVX2(1)
TILE_AVX2(2)
TILE_AVX2(3)
TILE_AVX2(4)
TILE_AVX2(5)
TILE_AVX2(6)
#undef TILE_AVX2
#undef TILE_AVX2_ONE
#define TILES2(pre) {NULL, pre##1, pre##2, pre##3, pre##4, pre##5, pre##6}
/* tiles_avx2[weight type][mr]. */
static const tile_fn tiles_avx2[3][MR + 1] = {TILES2(tile_avx2_f32_), TILES2(tile_avx2_bf16_),
                                             TILES2(tile_avx2_i8_)};
#undef TILES2

/* 16 weights of a panel row from element i on, as fp32 (see load8). */
__attribute__((target("avx512f,avx2,fma"), always_inline)) static inline __m512 load16(const void *b, int wt,
                                                                                      size_t i) {
    if (wt == WT_BF16)
        return _mm512_castsi512_ps(_mm512_slli_epi32(
            _mm512_cvtepu16_epi32(_mm256_loadu_si256((const __m256i *)((const uint16_t *)b + i))), 16));
    if (wt == WT_I8)
        return _mm512_cvtepi32_ps(_mm512_cvtepi8_epi32(_mm_loadu_si128((const __m128i *)((const int8_t *)b + i))));
    return _mm512_loadu_ps((const float *)b + i);
}

/* The AVX-512 tile: up to MR512 rows by np (1 or 2) panels, the same
 * contract with a (kc, MR512), b0 and b1 two panel slices (kc, 16) (b1
 * unused when np is 1), c (mr, 16 * np), and e's init and scale 16 * np
 * floats. x<r> and y<r> hold row r's columns of the first and second panel:
 * with two panels, 28 accumulators and the two panel vectors fill 30 of the
 * 32 zmm registers, and each broadcast feeds two FMAs. Each element still
 * sums the bias and then one FMA per k in order, so the result is bitwise
 * the AVX2 tile's. */
#define TILE512_ROWS(X) X(0) X(1) X(2) X(3) X(4) X(5) X(6) X(7) X(8) X(9) X(10) X(11) X(12) X(13)
__attribute__((target("avx512f,avx2,fma"), always_inline)) static inline void
tile_avx512(const int mr, const int np, const int wt, int kc, const float *a, const void *b0, const void *b1,
            float *c, size_t ldc, const tile_ends *e) {
    const int from_init = e->first && e->init && wt != WT_I8;
    const __m512 i0 = from_init ? _mm512_loadu_ps(e->init) : _mm512_setzero_ps();
    const __m512 i1 = from_init && np > 1 ? _mm512_loadu_ps(e->init + ENCORE_PANEL) : _mm512_setzero_ps();
#define TILE_INIT(r)                                                                                         \
    __m512 x##r = i0, y##r = i1;                                                                             \
    if (mr > r && !e->first) {                                                                               \
        x##r = _mm512_loadu_ps(c + r * ldc);                                                                 \
        if (np > 1) y##r = _mm512_loadu_ps(c + r * ldc + ENCORE_PANEL);                                      \
    }
    TILE512_ROWS(TILE_INIT)
#undef TILE_INIT
    const int elem = wt == WT_F32 ? 4 : wt == WT_BF16 ? 2 : 1;   /* bytes per weight */
    const int line_steps = 64 / (ENCORE_PANEL * elem);            /* k steps per cache line */
    for (int k = 0; k < kc; k++) {
        if (PREFETCH_LINES > 0 && k % line_steps == 0) {
            _mm_prefetch((const char *)b0 + ((size_t)k * ENCORE_PANEL * elem + PREFETCH_LINES * 64), _MM_HINT_T0);
            if (np > 1)
                _mm_prefetch((const char *)b1 + ((size_t)k * ENCORE_PANEL * elem + PREFETCH_LINES * 64), _MM_HINT_T0);
        }
        const __m512 p0 = load16(b0, wt, (size_t)k * ENCORE_PANEL);
        const __m512 p1 = np > 1 ? load16(b1, wt, (size_t)k * ENCORE_PANEL) : p0;
#define TILE_STEP(r)                                                                                         \
    if (mr > r) {                                                                                            \
        const __m512 ar = _mm512_set1_ps(a[(size_t)k * MR512 + r]);                                          \
        x##r = _mm512_fmadd_ps(ar, p0, x##r);                                                                \
        if (np > 1) y##r = _mm512_fmadd_ps(ar, p1, y##r);                                                    \
    }
        TILE512_ROWS(TILE_STEP)
#undef TILE_STEP
    }
    if (wt == WT_I8 && e->last) {
        const __m512 s0 = _mm512_loadu_ps(e->scale);
        const __m512 s1 = np > 1 ? _mm512_loadu_ps(e->scale + ENCORE_PANEL) : s0;
        const __m512 z0 = e->init ? _mm512_loadu_ps(e->init) : _mm512_setzero_ps();
        const __m512 z1 = e->init && np > 1 ? _mm512_loadu_ps(e->init + ENCORE_PANEL) : _mm512_setzero_ps();
#define TILE_SCALE(r)                                                                                        \
    x##r = _mm512_fmadd_ps(x##r, s0, z0);                                                                    \
    if (np > 1) y##r = _mm512_fmadd_ps(y##r, s1, z1);
        TILE512_ROWS(TILE_SCALE)
#undef TILE_SCALE
    }
#define TILE_STORE(r)                                                                                        \
    if (mr > r) {                                                                                            \
        _mm512_storeu_ps(c + r * ldc, x##r);                                                                 \
        if (np > 1) _mm512_storeu_ps(c + r * ldc + ENCORE_PANEL, y##r);                                      \
    }
    TILE512_ROWS(TILE_STORE)
#undef TILE_STORE
}
#undef TILE512_ROWS

typedef void (*tile512_fn)(int kc, const float *a, const void *b0, const void *b1, float *c, size_t ldc,
                           const tile_ends *e);
#define TILE_AVX512_ONE(m, np, wt, name)                                                                      \
    __attribute__((target("avx512f,avx2,fma"))) static void name(int kc, const float *a, const void *b0,      \
                                                                  const void *b1, float *c, size_t ldc,        \
                                                                  const tile_ends *e) {                        \
        tile_avx512(m, np, wt, kc, a, b0, b1, c, ldc, e);                                                    \
    }
#define TILE_AVX512(m)                                                                                        \
    TILE_AVX512_ONE(m, 1, WT_F32, tile_avx512_f32_##m##x1)                                                    \
    TILE_AVX512_ONE(m, 2, WT_F32, tile_avx512_f32_##m##x2)                                                    \
    TILE_AVX512_ONE(m, 1, WT_BF16, tile_avx512_bf16_##m##x1)                                                  \
    TILE_AVX512_ONE(m, 2, WT_BF16, tile_avx512_bf16_##m##x2)                                                  \
    TILE_AVX512_ONE(m, 1, WT_I8, tile_avx512_i8_##m##x1)                                                      \
    TILE_AVX512_ONE(m, 2, WT_I8, tile_avx512_i8_##m##x2)
TILE_AVX512(1)
TILE_AVX512(2)
TILE_AVX512(3)
TILE_AVX512(4)
TILE_AVX512(5)
TILE_AVX512(6)
TILE_AVX512(7)
TILE_AVX512(8)
TILE_AVX512(9)
TILE_AVX512(10)
TILE_AVX512(11)
TILE_AVX512(12)
TILE_AVX512(13)
TILE_AVX512(14)
#undef TILE_AVX512
#undef TILE_AVX512_ONE
#define TILES512(pre, np)                                                                                     \
    {NULL,             pre##1x##np,  pre##2x##np,  pre##3x##np,  pre##4x##np,  pre##5x##np,                    \
     pre##6x##np,      pre##7x##np,  pre##8x##np,  pre##9x##np,  pre##10x##np, pre##11x##np,                   \
     pre##12x##np,     pre##13x##np, pre##14x##np}
/* tiles_avx512[weight type][np - 1][mr]. */
static const tile512_fn tiles_avx512[3][2][MR512 + 1] = {
    {TILES512(tile_avx512_f32_, 1), TILES512(tile_avx512_f32_, 2)},
    {TILES512(tile_avx512_bf16_, 1), TILES512(tile_avx512_bf16_, 2)},
    {TILES512(tile_avx512_i8_, 1), TILES512(tile_avx512_i8_, 2)},
};
#undef TILES512
#endif

/* One register tile of one panel on the given path (ENCORE_CPU_ISA_*,
 * resolved); a is packed for that path's tile height (path_rows). */
static void run_tile(int path, int wt, int mr, int kc, const float *a, const void *b, float *c, size_t ldc,
                     const tile_ends *e) {
#if HAVE_X86
    if (path == ENCORE_CPU_ISA_AVX512) {
        tiles_avx512[wt][0][mr](kc, a, b, b, c, ldc, e);
        return;
    }
    if (path == ENCORE_CPU_ISA_AVX2) {
        tiles_avx2[wt][mr](kc, a, b, c, ldc, e);
        return;
    }
#endif
    (void)path;
    tile_portable(mr, kc, a, b, wt, c, ldc, e);
}

static int weight_type(const encore_packed_matrix *w) {
    return w->panels_bf16 ? WT_BF16 : w->panels_i8 ? WT_I8 : WT_F32;
}

/* Panel p of w from k step k0 on: (kc, 16) fp32, bf16 or int8. */
static const void *panel_at(const encore_packed_matrix *w, int p, int k0) {
    const size_t at = ((size_t)p * w->K + k0) * ENCORE_PANEL;
    return w->panels_bf16 ? (const void *)(w->panels_bf16 + at)
           : w->panels_i8 ? (const void *)(w->panels_i8 + at)
                          : (const void *)(w->panels + at);
}

/* The most rows a register tile of the path holds: how rows are packed. */
static int path_rows(int path) { return path == ENCORE_CPU_ISA_AVX512 ? MR512 : MR; }

/* How mc rows split into register tiles: as few as MR allows, with heights
 * as even as can be (differing by one at most). A tile's k loop takes about
 * max(4, mr) cycles a step on a core with two FMA pipes of latency 4: below
 * 4 rows its accumulators wait on their own last FMA. So 25 rows go as
 * 5+5+5+5+5 (25 cycles a step), not 6+6+6+6+1 (28): every tile short of
 * MR rows is cheaper, and no tile pays for one row (the same holds for
 * MR512 on AVX-512). Tile i starts at row tile_start(mc, mr_max, i), and is
 * mr_max floats wide in the packed rows whatever its height. */
static int tile_count(int mc, int mr_max) { return (mc + mr_max - 1) / mr_max; }

static int tile_start(int mc, int mr_max, int i) {
    const int n = tile_count(mc, mr_max), base = mc / n, extra = mc % n;
    return i * base + (i < extra ? i : extra);
}

/* Copy rows [0, mc) x columns [0, kc) of x (row stride ldx) into dst as
 * tile_count(mc, mr_max) tiles, each (kc, mr_max): the floats a tile step
 * broadcasts lie side by side, and a tile reads its rows front to back. */
__attribute__((always_inline)) static inline void pack_rows_as(const float *x, size_t ldx, int mc, int kc,
                                                              const int mr_max, float *dst) {
    for (int i = 0; i < tile_count(mc, mr_max); i++) {
        const int r0 = tile_start(mc, mr_max, i), mr = tile_start(mc, mr_max, i + 1) - r0;
        float *tile = dst + (size_t)i * mr_max * kc;  // (kc, mr_max)
        for (int r = 0; r < mr; r++) {
            const float *row = x + (size_t)(r0 + r) * ldx;
            for (int k = 0; k < kc; k++) tile[(size_t)k * mr_max + r] = row[k];
        }
    }
}

/* The tile height is a constant in each copy, as the stride of the packed
 * rows: with a variable one the copy costs twice the instructions. */
static void pack_rows(const float *x, size_t ldx, int mc, int kc, int mr_max, float *dst) {
    if (mr_max == MR512)
        pack_rows_as(x, ldx, mc, kc, MR512, dst);
    else
        pack_rows_as(x, ldx, mc, kc, MR, dst);
}

/* Panels [p0, p1) of one block of the product: rows [t0, t0 + mc) of x,
 * packed in a_buf, by k steps [k0, k0 + kc). */
static void panels_block(int path, const float *a_buf, const encore_packed_matrix *w, const float *bias, int t0,
                         int mc, int k0, int kc, float *out, int p0, int p1, const encore_linear_epilogue *ep) {
    const int N = w->N, K = w->K, mr_max = path_rows(path), wt = weight_type(w);
    const int first = k0 == 0, last = k0 + kc == K;
    for (int p = p0; p < p1; p++) {
        const int n0 = p * ENCORE_PANEL, nr = N - n0 < ENCORE_PANEL ? N - n0 : ENCORE_PANEL;
        const void *b = panel_at(w, p, k0);  // (kc, 16)
#if HAVE_X86
        if (path == ENCORE_CPU_ISA_AVX512 && p + 1 < p1 && N - n0 >= 2 * ENCORE_PANEL) {
            /* Two full panels side by side: 32 columns of out. */
            const void *b1 = panel_at(w, p + 1, k0);  // (kc, 16)
            const tile_ends e = {bias ? bias + n0 : NULL, w->scales ? w->scales + n0 : NULL, first, last, NULL, 0};
            for (int i = 0; i < tile_count(mc, mr_max); i++) {
                const int r0 = tile_start(mc, mr_max, i), mr = tile_start(mc, mr_max, i + 1) - r0;
                const float *a = a_buf + (size_t)i * mr_max * kc;  // (kc, MR512)
                float *c = out + (size_t)(t0 + r0) * N + n0;       // (mr, 32), row stride N
                tiles_avx512[wt][1][mr](kc, a, b, b1, c, (size_t)N, &e);
                if (last && ep && ep->block) ep->block(c, (size_t)N, mr, n0, 2 * ENCORE_PANEL, ep->ctx);
            }
            p++;
            continue;
        }
#endif
        const float *init = bias ? bias + n0 : NULL;
        float edge_init[ENCORE_PANEL];
        if (nr < ENCORE_PANEL && bias) {
            /* The last panel is narrower than 16: pad its bias. */
            memset(edge_init, 0, sizeof edge_init);
            memcpy(edge_init, bias + n0, (size_t)nr * sizeof(float));
            init = edge_init;
        }
        tile_ends e = {init, w->scales ? w->scales + n0 : NULL, first, last, NULL, 0};
        /* On AVX2, for few rows (a short text), the tiles of this panel ask
         * for the next one into L2, each a slice of it, while they compute:
         * the first tile of a panel otherwise waits for memory alone (it
         * streams the panel) while the others compute from the cache. One
         * text on DistilBERT's shape, 1 thread, Zen 3: 1.17x faster; at
         * batch 64 it cost about 7 %, so many rows go without. */
        const int nt = tile_count(mc, mr_max);
        const size_t elem = wt == WT_F32 ? 4 : wt == WT_BF16 ? 2 : 1;
        const size_t slice = ((size_t)kc * ENCORE_PANEL * elem + (size_t)nt - 1) / (size_t)nt;
        const size_t step = (slice + (size_t)kc - 1) / (size_t)kc;
        const char *next = path == ENCORE_CPU_ISA_AVX2 && mc <= FULL_K_MAX_ROWS && p + 1 < p1
                               ? (const char *)panel_at(w, p + 1, k0)
                               : NULL;
        for (int i = 0; i < nt; i++) {
            const int r0 = tile_start(mc, mr_max, i), mr = tile_start(mc, mr_max, i + 1) - r0;
            const float *a = a_buf + (size_t)i * mr_max * kc;  // (kc, mr_max)
            if (next) {
                e.pf = next + (size_t)i * slice;
                e.pf_step = step;
            }
            float *c = out + (size_t)(t0 + r0) * N + n0;       // (mr, nr), row stride N
            if (nr == ENCORE_PANEL) {
                run_tile(path, wt, mr, kc, a, b, c, (size_t)N, &e);
            } else {
                /* Narrow last panel: work in a full-width copy. */
                float tmp[MR_MAX * ENCORE_PANEL];
                for (int r = 0; r < mr; r++) {
                    memset(tmp + r * ENCORE_PANEL, 0, sizeof(float) * ENCORE_PANEL);
                    if (!first) memcpy(tmp + r * ENCORE_PANEL, c + (size_t)r * N, (size_t)nr * sizeof(float));
                }
                run_tile(path, wt, mr, kc, a, b, tmp, ENCORE_PANEL, &e);
                for (int r = 0; r < mr; r++)
                    memcpy(c + (size_t)r * N, tmp + r * ENCORE_PANEL, (size_t)nr * sizeof(float));
            }
            if (last && ep && ep->block) ep->block(c, (size_t)N, mr, n0, nr, ep->ctx);
        }
    }
}

/* Panels [p0, p1) of the product, every row of x, k in blocks of kb.
 * a_buf: (MC, kb) floats for the packed rows. */
static void linear_panels(int path, const float *x, const encore_packed_matrix *w, const float *bias, int T,
                          float *out, int p0, int p1, float *a_buf, int kb, const encore_linear_epilogue *ep) {
    const int K = w->K;
    for (int t0 = 0; t0 < T; t0 += MC) {
        const int mc = T - t0 < MC ? T - t0 : MC;
        for (int k0 = 0; k0 < K; k0 += kb) {
            const int kc = K - k0 < kb ? K - k0 : kb;
            pack_rows(x + (size_t)t0 * K + k0, (size_t)K, mc, kc, path_rows(path), a_buf);
            panels_block(path, a_buf, w, bias, t0, mc, k0, kc, out, p0, p1, ep);
        }
    }
}

/* Each thread packs rows of x into a buffer of its own, kept between
 * products (it only grows) and freed when the thread ends, so that no
 * product allocates: a short text runs ~30 products per layer pass. */
typedef struct row_buffer {
    size_t cap;    /* floats */
    float data[];
} row_buffer;

static pthread_key_t row_buffer_key;
static pthread_once_t row_buffer_once = PTHREAD_ONCE_INIT;
static int row_buffer_ok;

static void row_buffer_init(void) { row_buffer_ok = pthread_key_create(&row_buffer_key, free) == 0; }

/* This thread's buffer of at least n floats, or NULL when out of memory. */
static float *thread_row_buffer(size_t n) {
    pthread_once(&row_buffer_once, row_buffer_init);
    if (!row_buffer_ok) return NULL;
    row_buffer *b = pthread_getspecific(row_buffer_key);
    if (!b || b->cap < n) {
        row_buffer *grown = realloc(b, sizeof *b + n * sizeof(float));
        if (!grown) return NULL;
        grown->cap = n;
        if (pthread_setspecific(row_buffer_key, grown) != 0) {
            free(grown);
            return NULL;
        }
        b = grown;
    }
    return b->data;
}

/* One thread's share: panels [p0, p1), rows packed into the thread's
 * buffer. Should that buffer not grow, go a register tile of rows at a time
 * through a stack buffer: slower, and the same result, since the order of
 * each sum is the same. */
static void linear_share(int path, const float *x, const encore_packed_matrix *w, const float *bias, int T,
                         float *out, int p0, int p1, const encore_linear_epilogue *ep) {
    /* Few rows (a short text): no k blocks. Every panel then streams
     * front to back once, one contiguous run of weights for the whole share
     * (the hardware prefetcher's best case, and weights are what a short
     * text waits for), and tiles keep their sums in registers over all of K
     * instead of storing and reloading them per block. The sums are the
     * same, bit for bit: a k block resumes from exactly what the last one
     * stored. */
    const int kb = T <= FULL_K_MAX_ROWS ? w->K : w->K < KC ? w->K : KC;
    const int mr_max = path_rows(path);
    const int rows = tile_count(T < MC ? T : MC, mr_max) * mr_max;
    float *a_buf = thread_row_buffer((size_t)rows * kb);
    if (a_buf) {
        linear_panels(path, x, w, bias, T, out, p0, p1, a_buf, kb, ep);
    } else {
        float small[MR_MAX * KC];
        for (int t0 = 0; t0 < T; t0 += mr_max)
            linear_panels(path, x + (size_t)t0 * w->K, w, bias, T - t0 < mr_max ? T - t0 : mr_max,
                          out + (size_t)t0 * w->N, p0, p1, small, KC, ep);
    }
}

/* Few rows over a team: each thread packs all the rows once (full K: no
 * k blocks at this size), then takes chunks of panels from a shared
 * counter until none are left, so that a thread that runs slower (another
 * process on its core) computes fewer. Which thread computes a panel
 * changes nothing in its sums. Returns the panels this thread computed. */
static int linear_share_queue(int path, const float *x, const encore_packed_matrix *w, const float *bias, int T,
                              float *out, atomic_int *next, int P, int chunk, const encore_linear_epilogue *ep) {
    const int K = w->K, mr_max = path_rows(path);
    float *a_buf = thread_row_buffer((size_t)tile_count(T, mr_max) * mr_max * K);
    if (a_buf) pack_rows(x, (size_t)K, T, K, mr_max, a_buf);
    int done = 0;
    for (;;) {
        const int p0 = atomic_fetch_add_explicit(next, chunk, memory_order_relaxed);
        if (p0 >= P) break;
        const int p1 = p0 + chunk < P ? p0 + chunk : P;
        if (a_buf)
            panels_block(path, a_buf, w, bias, 0, T, 0, K, out, p0, p1, ep);
        else
            linear_share(path, x, w, bias, T, out, p0, p1, ep);
        done += p1 - p0;
    }
    return done;
}

/* A contention guard. When other processes keep the cores busy, the
 * threads of a team wait for a core, at the fork, at the join, and while a
 * thread spins at the join on the core its own master needs; a parallel
 * product then costs far more than it saves (seen: one text 16x slower on 2
 * threads than on 1 on a 2-core machine where another process was training
 * on both cores). So parallel products keep score: over a window of
 * GUARD_WINDOW of them, the wall time is summed, and so is the CPU time the
 * first thread spent on its share, scaled from its panels to all of them
 * (about what one thread alone would have taken on a free core). When the
 * wall time is the larger, threads did not pay over the window, and the
 * products that would have gone parallel run on one thread for a while
 * (backoff products, doubling while the windows keep failing), then threads
 * are tried again. Single slow products do not count: on a shared machine
 * one thread is often descheduled for a moment, and judging product by
 * product kept a 2-core machine with a little background load serial almost
 * all the time (13 ms a text instead of 8). The result does not change, only
 * who computes it. */
#define BACKOFF_MIN 256
#define BACKOFF_MAX 16384
#define GUARD_WINDOW 64
static atomic_int serial_left, backoff = BACKOFF_MIN, window_count;
static atomic_llong window_wall_ns, window_serial_ns;

/* Add one parallel product to the window; judge the window when it is full. */
static void guard_record(double wall_s, double serial_s) {
    atomic_fetch_add_explicit(&window_wall_ns, (long long)(wall_s * 1e9), memory_order_relaxed);
    atomic_fetch_add_explicit(&window_serial_ns, (long long)(serial_s * 1e9), memory_order_relaxed);
    if (atomic_fetch_add_explicit(&window_count, 1, memory_order_relaxed) + 1 < GUARD_WINDOW) return;
    const long long wall = atomic_exchange_explicit(&window_wall_ns, 0, memory_order_relaxed);
    const long long serial = atomic_exchange_explicit(&window_serial_ns, 0, memory_order_relaxed);
    atomic_store_explicit(&window_count, 0, memory_order_relaxed);
    if (wall > serial) {
        const int n = atomic_load_explicit(&backoff, memory_order_relaxed);
        atomic_store_explicit(&serial_left, n, memory_order_relaxed);
        atomic_store_explicit(&backoff, n * 2 < BACKOFF_MAX ? n * 2 : BACKOFF_MAX, memory_order_relaxed);
    } else {
        atomic_store_explicit(&backoff, BACKOFF_MIN, memory_order_relaxed);
    }
}

static double seconds(clockid_t clock) {
    struct timespec ts;
    clock_gettime(clock, &ts);
    return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

int encore_linear_packed_fused_isa_cpu(const float *x, const encore_packed_matrix *w, const float *b, int T,
                                       float *out, const encore_linear_epilogue *ep, encore_cpu_isa isa, int threads) {
    const int path = encore_cpu_isa_resolve(isa);
    if (path < 0) return -1;
    if (T <= 0 || w->N <= 0) return 0;
    const int P = (w->N + ENCORE_PANEL - 1) / ENCORE_PANEL;
    const int guarded = threads <= 0;
    if (guarded) {
        const double macs = (double)T * w->N * w->K;
        threads = macs < PARALLEL_MIN_MACS ? 1 : omp_get_max_threads();
        if (threads > 1 && atomic_load_explicit(&serial_left, memory_order_relaxed) > 0) {
            atomic_fetch_sub_explicit(&serial_left, 1, memory_order_relaxed);
            threads = 1;
        }
    }
    if (threads > P) threads = P;
    const int rows = ep && ep->row;
    /* Integer dot products: every row quantized once into this thread's
     * buffer, which the team then reads (gemm_i8_cpu.h); by the team, when
     * there is one, each thread a range of rows. */
    encore_i8_rows i8;
    const int is_i8 = w->panels_q4 != NULL;
    int i8_levels = 0;
    if (is_i8) {
        const encore_i8_kernel kernel = encore_i8_kernel_for_matrix(encore_i8_kernel_for_path(path), w);
        const size_t bytes = encore_i8_rows_bytes(T, w->K);
        void *buf = bytes == SIZE_MAX ? NULL : thread_row_buffer((bytes + sizeof(float) - 1) / sizeof(float));
        if (!buf) {
            encore_i8_product_unbuffered(x, T, w, b, out, kernel, ep);
            if (rows)
                for (int t = 0; t < T; t++) ep->row(out + (size_t)t * w->N, t, ep->ctx);
            return 0;
        }
        i8_levels = encore_i8_kernel_levels(kernel);
        encore_i8_rows_layout(T, w->K, kernel, w, buf, &i8);
        if (threads <= 1) encore_i8_rows_quantize(x, 0, T, i8_levels, &i8);
    }
    if (threads <= 1) {
        if (is_i8)
            encore_i8_panels(&i8, w, b, out, 0, P, ep);
        else
            linear_share(path, x, w, b, T, out, 0, P, ep);
        if (rows)
            for (int t = 0; t < T; t++) ep->row(out + (size_t)t * w->N, t, ep->ctx);
        return 0;
    }
    const double start = seconds(CLOCK_MONOTONIC);
    /* Few rows: panels from a shared counter, in chunks that give each
     * thread about 8 turns. More rows: one contiguous range each, the same
     * for every block of rows and k. */
    const int queued = T <= FULL_K_MAX_ROWS;
    int chunk = P / (threads * 8) > 1 ? P / (threads * 8) : 1;
    if ((path == ENCORE_CPU_ISA_AVX512 || is_i8) && chunk % 2) chunk++;  // whole pairs of panels
    atomic_int next = 0;
    double serial_estimate = -1.0;  // the first thread's CPU time, scaled to the whole product
#pragma omp parallel num_threads(threads)
    {
        const int nt = omp_get_num_threads(), id = omp_get_thread_num();
        double cpu0 = id == 0 && guarded ? seconds(CLOCK_THREAD_CPUTIME_ID) : 0.0, quantize_cpu = 0.0;
        if (is_i8) {
            encore_i8_rows_quantize(x, (int)((long)T * id / nt), (int)((long)T * (id + 1) / nt), i8_levels, &i8);
            /* Every row before any panel; the wait is not work. */
            if (id == 0 && guarded) quantize_cpu = seconds(CLOCK_THREAD_CPUTIME_ID) - cpu0;
#pragma omp barrier
            if (id == 0 && guarded) cpu0 = seconds(CLOCK_THREAD_CPUTIME_ID);
        }
        int mine;
        if (queued && is_i8) {
            mine = 0;
            for (;;) {
                const int p0 = atomic_fetch_add_explicit(&next, chunk, memory_order_relaxed);
                if (p0 >= P) break;
                const int p1 = p0 + chunk < P ? p0 + chunk : P;
                encore_i8_panels(&i8, w, b, out, p0, p1, ep);
                mine += p1 - p0;
            }
        } else if (queued) {
            mine = linear_share_queue(path, x, w, b, T, out, &next, P, chunk, ep);
        } else {
            /* Contiguous panel ranges, as even as the panel count allows. */
            int p0 = (int)((long)P * id / nt), p1 = (int)((long)P * (id + 1) / nt);
            if (is_i8) {
                /* Whole pairs of panels, for the two-panel tiles. */
                p0 = id == 0 ? 0 : (p0 + 1) / 2 * 2;
                p1 = id == nt - 1 ? P : (p1 + 1) / 2 * 2;
                encore_i8_panels(&i8, w, b, out, p0, p1, ep);
            } else {
                linear_share(path, x, w, b, T, out, p0, p1, ep);
            }
            mine = p1 - p0;
        }
        const double product = id == 0 && guarded ? seconds(CLOCK_THREAD_CPUTIME_ID) - cpu0 : 0.0;
        double rows_cpu = 0.0;
        if (rows) {
            /* Whole rows need every thread's columns. The wait at the
             * barrier is not work, so it stays out of the share's time. */
#pragma omp barrier
            const double cpu1 = id == 0 && guarded ? seconds(CLOCK_THREAD_CPUTIME_ID) : 0.0;
            const int t0 = (int)((long)T * id / nt), t1 = (int)((long)T * (id + 1) / nt);
            for (int t = t0; t < t1; t++) ep->row(out + (size_t)t * w->N, t, ep->ctx);
            if (id == 0 && guarded) rows_cpu = seconds(CLOCK_THREAD_CPUTIME_ID) - cpu1;
        }
        if (id == 0 && guarded && nt > 1 && mine > 0)
            serial_estimate = product * P / mine + (rows_cpu + quantize_cpu) * nt;
    }
    if (serial_estimate >= 0.0) guard_record(seconds(CLOCK_MONOTONIC) - start, serial_estimate);
    return 0;
}

int encore_linear_packed_isa_cpu(const float *x, const encore_packed_matrix *w, const float *b, int T, float *out,
                                 encore_cpu_isa isa, int threads) {
    return encore_linear_packed_fused_isa_cpu(x, w, b, T, out, NULL, isa, threads);
}

void encore_linear_packed_fused_cpu(const float *x, const encore_packed_matrix *w, const float *b, int T, float *out,
                                    const encore_linear_epilogue *ep) {
    encore_linear_packed_fused_isa_cpu(x, w, b, T, out, ep, ENCORE_CPU_ISA_BEST, 0);
}

void encore_linear_packed_cpu(const float *x, const encore_packed_matrix *w, const float *b, int T, float *out) {
    encore_linear_packed_fused_isa_cpu(x, w, b, T, out, NULL, ENCORE_CPU_ISA_BEST, 0);
}
