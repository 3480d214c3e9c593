/* gemm_i8_cpu.h: the linear layers on int8 weights with int8 activations,
 * out = x W^T (+ b) by integer dot products (dynamic quantization).
 *
 * Weights. One scale per output feature n, symmetric, as weight-only int8
 * (scale_n = max_k |W[n][k]| / 127, q = round(W / scale_n) in [-127, 127]),
 * packed for the dot-product instructions: panels of 16 output features
 * as in gemm_cpu.h, but k in groups of four, so that one group of a panel
 * is 16 int32 lanes of 4 bytes each, lane j holding q[16p + j][4g .. 4g+3]:
 * byte (((p * K4 + g) * 16 + j) * 4 + k % 4), K4 = ceil(K / 4). k past K
 * and rows past N are zero. Each feature's sums of q over each group of
 * ENCORE_I8_GROUP k (wsum_n,g) are kept for the zero-point correction.
 *
 * Activations. Each row t of x is quantized when the product runs, each
 * group g of ENCORE_I8_GROUP k on its own scale (one scale for a whole
 * row of 1536 GELU outputs lets its few large values coarsen all the
 * others: the default model kept fp32's label on 99.29 % of the texts of
 * bench/weights/accuracy.py with one scale per token, 99.55 % with groups
 * of 256, 99.82 % with groups of 128), to unsigned bytes with a zero
 * point: lo = min(0, min_k x), hi = max(0, max_k x) over the group, s =
 * (hi - lo) / L, z = round(-lo / s), a = clamp(round(x / s) + z, 0, L).
 * Unsigned with a zero point rather than signed symmetric: vpdpbusd
 * multiplies unsigned by signed bytes, and a
 * LayerNorm's or GELU's output is lopsided (GELU never goes below -0.17),
 * so the full [lo, hi] range keeps one more bit than a symmetric one.
 * L is 255 on every path.
 *
 * The product. sum_t,n,g = sum_k in g a_t,k q_n,k in int32, exact, so it
 * is the same whatever the instruction, the order, the thread count or the
 * batch; then acc = sum over g in order of (float)(sum - z_t,g wsum_n,g) *
 * s_t,g, and out = acc * scale_n + b_n, in one piece of plain C for every
 * path. A row's result depends on that row alone: the same bits in any
 * batch, at any thread count, and on every path with the same L.
 *
 * Instructions, chosen at run time (encore_i8_kernel_for_path):
 * - AVX-512 VNNI: vpdpbusd on zmm, 14 rows by 32 features a register tile;
 * - AVX-VNNI: vpdpbusd on ymm (VEX), 6 rows by 16 features;
 * - AVX2 without VNNI: int16 products. vpmaddubsw (u8 x s8 pairs summed
 *   into int16) saturates: a q pairs reach 2 * 255 * 127 = 64770 > 32767.
 *   So this path takes a - z_t,g as int16 (at most 255 either way) and q
 *   widened to int16 (vpmovsxbw) and multiplies them with vpmaddwd (int16
 *   pairs summed into int32, exact): sum (a - z) q is sum a q - z wsum_n,g,
 *   the other paths' int32, with no zero-point correction left to do. It
 *   reads the weights in pairs of k (encore_pack_matrix_i8_dynamic: the 16
 *   bytes vpmovsxbw widens are 8 features by 2 k), which a model
 *   loaded for this kernel is packed in. On weights packed four k to a lane
 *   (loaded for a VNNI kernel) it multiplies |a - 128| (at most 128,
 *   unsigned) by q carrying the sign of a - 128 (vpsignb) with vpmaddubsw:
 *   a pair is at most 2 * 128 * 127 = 32512 and never saturates. On Zen 3
 *   the int16 tile takes 8 vector operations a row, 4 k and 16 features,
 *   the vpsignb one 9 (bench/cpu/bench_int8_tiles);
 * - portable C, the reference the others are tested against.
 *
 * Range. Within a group, |sum - z wsum|, sum and z wsum are each at most
 * 255 * 127 * ENCORE_I8_GROUP (4.1e6): int32 holds them with room to
 * spare, and the conversion to fp32 is exact (< 2^24). */
#ifndef ENCORE_GEMM_I8_CPU_H
#define ENCORE_GEMM_I8_CPU_H

#include "cpu/gemm_cpu.h"

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

/* k per activation scale (a multiple of 4). */
#define ENCORE_I8_GROUP 128

/* Groups of ENCORE_I8_GROUP in K: ceil(K / ENCORE_I8_GROUP). */
int encore_i8_groups(int K);

typedef enum encore_i8_kernel {
    ENCORE_I8_KERNEL_PORTABLE = 0, /* plain C, L = 255 */
    ENCORE_I8_KERNEL_AVX2,         /* vpmaddwd on int16 (or vpsignb + vpmaddubsw + vpmaddwd), L = 255 */
    ENCORE_I8_KERNEL_AVX_VNNI,     /* 256-bit vpdpbusd (VEX), L = 255 */
    ENCORE_I8_KERNEL_AVX512_VNNI,  /* 512-bit vpdpbusd, L = 255 */
    ENCORE_I8_KERNEL_COUNT
} encore_i8_kernel;

/* 1 when this CPU runs the kernel. */
int encore_i8_kernel_available(encore_i8_kernel k);

/* The kernel's name ("portable", "avx2", "avx_vnni", "avx512_vnni") and the
 * CPU feature it needs beyond the ones before it ("" for portable). */
const char *encore_i8_kernel_name(encore_i8_kernel k);

/* The largest activation byte the kernel takes (L above): 255 for each. */
int encore_i8_kernel_levels(encore_i8_kernel k);

/* The kernel a resolved CPU path (ENCORE_CPU_ISA_*) runs on a CPU with the
 * given kernels (available[k] != 0 when it runs kernel k): AVX512 takes
 * AVX-512 VNNI, else AVX-VNNI, else AVX2; AVX2 takes AVX-VNNI, else AVX2;
 * PORTABLE the portable one. env (ENCORE_CPU_INT8's value, or NULL) caps
 * that choice by kernel name (portable, avx2, avx_vnni, avx512_vnni); a
 * name that is unknown, above the path's own kernel or one the CPU lacks is
 * ignored and *env_ignored set to 1 (when not NULL). A pure function: the
 * dispatch tests run it for CPUs other than this one. */
int encore_i8_kernel_choose(int path, const char *env, const int available[ENCORE_I8_KERNEL_COUNT],
                            int *env_ignored);

/* encore_i8_kernel_choose for this CPU and this process's ENCORE_CPU_INT8
 * (read once; an ignored value is logged as a warning). ENCORE_CPU_INT8=avx2
 * on a VNNI CPU runs int8-dynamic as a CPU with AVX2 alone does, for tests
 * and benchmarks. */
encore_i8_kernel encore_i8_kernel_for_path(int path);

/* Bytes of the packed weights of an (N, K) matrix (K rounded up to 4),
 * SIZE_MAX when that does not fit a size_t. */
size_t encore_packed_i8_dynamic_bytes(size_t N, size_t K);

/* Pack w (N, K) into dst (encore_packed_i8_dynamic_bytes(N, K) bytes),
 * scales (ceil(N / 16) * 16, 0 past N) and wsums (encore_i8_groups(K),
 * ceil(N / 16) * 16) and describe it in *out. Four k to a lane, or with
 * pairs != 0 in pairs of k: within each group of four k of a panel (64
 * bytes), the bytes of k 0-1 of features 0-7, of k 0-1 of features 8-15,
 * then the same for k 2-3 (feature j's pair at 16 (j / 8) + 2 (j % 8),
 * plus 32 for k 2-3), which the plain AVX2 kernel's int16 tiles read
 * (encore_i8_kernel_for_matrix). Returns 0, or -1 when N or K is not
 * positive. */
int encore_pack_matrix_i8_dynamic(const float *w, int N, int K, int pairs, int8_t *dst, float *scales,
                                  int32_t *wsums, encore_packed_matrix *out);

/* A weight row's int8 scale, max |w| / 127 over row (K), NaNs left out;
 * 0 for a row of zeros or one with an infinity (its values all 0). Then
 * q[k] = round(x[k] / scale) clamped to [-127, 127] for k < n (scale > 0),
 * rounded to nearest even. Both on AVX2 where the CPU has it, the same
 * values as the plain C: weight-only int8 and int8-dynamic pack these. */
float encore_i8_weight_scale(const float *row, int K);
void encore_i8_quantize_weights(const float *x, int n, float scale, int8_t *q);

/* The byte of panels_q4 that holds weight (n, k), in either layout. */
size_t encore_i8_q4_at(const encore_packed_matrix *w, size_t n, size_t k);

/* The kernel that runs products on w when the path asks for k: weights in
 * pairs of k are read by the portable kernel or the plain AVX2 one (which
 * every CPU with a VNNI kernel also runs); any other w by k itself. */
encore_i8_kernel encore_i8_kernel_for_matrix(encore_i8_kernel k, const encore_packed_matrix *w);

/* Whether a model's int8-dynamic weights are best laid out in pairs of k
 * on this CPU: when its default path's kernel is the plain AVX2 one. */
int encore_i8_pairs_preferred(void);

/* Quantize one row x (K) as above, to a (K) bytes with at most levels:
 * *scale = s, *zero = z. A row with a NaN or an infinity gets a NaN scale,
 * so that its outputs are NaN, as the fp32 product's would be. */
void encore_i8_quantize_row(const float *x, int K, int levels, uint8_t *a, float *scale, int32_t *zero);

/* The raw integer sums of the product, sums (groups, T, N) = a q^T over
 * each group of k, with x quantized to levels (0: the kernel's own; more
 * than the kernel's own is refused) and multiplied by kernel k; scale and
 * zero (T, groups) get each row's s and z (may be NULL). Single-threaded; for the tests, which hold every
 * kernel to the portable one at the same levels. Returns 0, -1 when the CPU
 * lacks the kernel, w is not packed for it or levels is out of range, -2
 * out of memory. */
int encore_i8_sums(const float *x, const encore_packed_matrix *w, int T, encore_i8_kernel k, int levels,
                   int32_t *sums, float *scale, int32_t *zero);

/* Quantized rows of one product, as the kernels read them. */
typedef struct encore_i8_rows {
    const int32_t *a;     /* row blocks of tiles, each tile (K4, rows) int32 of 4 bytes, or with pairs
                             (K4, rows, 2) int32 of two int16 a - z */
    const float *scale;   /* (T, groups) s */
    const int32_t *zero;  /* (T, groups) z */
    int T, K, groups;
    encore_i8_kernel kernel;
    int pairs; /* the AVX2 int16 tiles' rows, for weights in pairs of k */
} encore_i8_rows;

/* Bytes encore_i8_rows_prepare needs for T rows of K (SIZE_MAX when too
 * many). */
size_t encore_i8_rows_bytes(int T, int K);

/* Quantize x (T, K) to levels (1 .. 255) for kernel k and weights w into buf
 * (encore_i8_rows_bytes bytes, 4-byte aligned) and describe it in *rows:
 * encore_i8_rows_layout, then encore_i8_rows_quantize of every row. */
void encore_i8_rows_prepare(const float *x, int T, int K, encore_i8_kernel k, const encore_packed_matrix *w,
                            int levels, void *buf, encore_i8_rows *rows);

/* The two steps apart, so that threads can share the second: describe buf
 * (as above) for T rows of K in *rows, for weights w (their layout picks
 * the rows' one); then quantize rows [t0, t1) of x into it. Each row is
 * written alone, so any split of the rows gives the same bytes. */
void encore_i8_rows_layout(int T, int K, encore_i8_kernel k, const encore_packed_matrix *w, void *buf,
                           encore_i8_rows *rows);
void encore_i8_rows_quantize(const float *x, int t0, int t1, int levels, const encore_i8_rows *rows);

/* Panels [p0, p1) of out = x W^T (+ b) for every row, from prepared rows:
 * dequantized and passed to ep->block (when set) as gemm_cpu.h says. */
void encore_i8_panels(const encore_i8_rows *rows, const encore_packed_matrix *w, const float *b, float *out, int p0,
                      int p1, const encore_linear_epilogue *ep);

/* The same product, rows [0, T), without a buffer for the quantized rows
 * (when none could be had): one row and one group at a time, with the
 * fp32 sums kept in out. The same results. */
void encore_i8_product_unbuffered(const float *x, int T, const encore_packed_matrix *w, const float *b, float *out,
                                  encore_i8_kernel k, const encore_linear_epilogue *ep);

#ifdef __cplusplus
}
#endif

#endif /* ENCORE_GEMM_I8_CPU_H */
