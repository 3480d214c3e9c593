/* gemm_cpu.h: the linear layers of the CPU path, out = x W^T (+ b), on
 * weights packed once at model load.
 *
 * Packed layout. W is (N, K) row-major, as PyTorch stores a Linear weight.
 * Its rows are cut into column panels of ENCORE_PANEL (16) output features;
 * panel p holds W[16p + j][k] at panels[(p * K + k) * 16 + j], so one k step
 * of a panel is 16 contiguous floats (two AVX registers) and a panel is read
 * front to back. Rows past N in the last panel are zero. Panels start on a
 * 64-byte boundary when the storage does.
 *
 * Summation order. Every output element is bias (or 0) followed by one
 * multiply-add per k, k = 0 .. K-1 in order, in fp32. That order does not
 * depend on T, on the thread count or on the cache blocking, so row t of the
 * result is bitwise the same whether x holds one sequence or a whole batch.
 * The AVX2 path fuses each multiply-add (FMA); the portable path, for CPUs
 * without AVX2/FMA, rounds the product and the sum separately, so the two
 * paths differ in the last bits, each stable on its own.
 *
 * bf16 weights. The same panels may hold bf16 values (the top 16 bits of
 * each fp32, rounded to nearest even at packing): half the bytes to stream,
 * the same fp32 arithmetic on the widened values, so a product on bf16
 * panels is bitwise the product on fp32 panels of the rounded weights.
 *
 * int8 weights. Or int8 values q with one scale per output feature n
 * (symmetric: scale_n = max_k |W[n][k]| / 127, q = round(W / scale_n) in
 * [-127, 127]): a quarter of the bytes. The product sums x_k * q_k in fp32
 * (exact conversions, FMA in k order as above), then out = sum * scale_n +
 * b_n. Activations stay fp32: weight-only quantization. The same int8
 * weights, packed four k at a time (panels_q4), multiply int8 activations
 * instead: gemm_i8_cpu.h. */
#ifndef ENCORE_GEMM_CPU_H
#define ENCORE_GEMM_CPU_H

#include "cpu/cpu_isa.h"

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

#define ENCORE_PANEL 16

/* Exactly one of the four panel pointers is set. */
typedef struct encore_packed_matrix {
    float *panels;         /* (ceil(N / 16), K, 16) fp32 */
    uint16_t *panels_bf16; /* (ceil(N / 16), K, 16) bf16 */
    int8_t *panels_i8;     /* (ceil(N / 16), K, 16) int8, with scales */
    int8_t *panels_q4;     /* (ceil(N / 16), ceil(K / 4), 16, 4) int8 for integer dot products, with
                              scales and wsums (gemm_i8_cpu.h) */
    float *scales;         /* int8: (ceil(N / 16) * 16) per output row, 0 past N */
    int32_t *wsums;        /* panels_q4: (ceil(N / 16) * 16) sum of each row's int8 values, 0 past N */
    int q4_pairs;          /* panels_q4 in pairs of k (encore_pack_matrix_i8_dynamic) */
    int N, K;
} encore_packed_matrix;

/* Elements (floats, or bf16 values) the packed form of an (N, K) matrix
 * takes. */
size_t encore_packed_floats(int N, int K);

/* Pack w (N, K) into dst (encore_packed_floats(N, K) floats) and describe it
 * in *out. */
void encore_pack_matrix(const float *w, int N, int K, float *dst, encore_packed_matrix *out);

/* The same with the weights rounded to bf16 (dst holds
 * encore_packed_floats(N, K) bf16 values). */
void encore_pack_matrix_bf16(const float *w, int N, int K, uint16_t *dst, encore_packed_matrix *out);

/* The same in int8 (dst holds encore_packed_floats(N, K) int8 values,
 * scales ceil(N / 16) * 16 floats). */
void encore_pack_matrix_i8(const float *w, int N, int K, int8_t *dst, float *scales, encore_packed_matrix *out);

/* The inverse: w (N, K) from the packed form (bf16 widened exactly; int8
 * times its scale). */
void encore_unpack_matrix(const encore_packed_matrix *p, float *w);

/* Part of one row: dst (len) = W[n][k0 .. k0 + len) (the CUDA path uploads
 * the weights row by row this way). */
void encore_unpack_matrix_row(const encore_packed_matrix *p, int n, int k0, int len, float *dst);

/* Work fused onto a product, done in the same parallel region so that it
 * is spread over the same threads and needs no fork of its own. Either
 * callback may be NULL.
 * - block: elementwise work on a finished block of the output, rows
 *   [t0, t0 + rows) and columns [n0, n0 + cols) at c = out + t0 * N + n0,
 *   row stride ldc; called while the block is still in cache.
 * - row: work on whole rows (a LayerNorm), after every thread has finished
 *   its part of the product: row t of out, N floats. The rows are split
 *   over the threads.
 * Both see exactly the sums the plain product gives, whatever the thread
 * count, so fusing leaves results bitwise the same. */
typedef struct encore_linear_epilogue {
    void (*block)(float *c, size_t ldc, int rows, int n0, int cols, const void *ctx);
    void (*row)(float *row, int t, const void *ctx);
    const void *ctx;
} encore_linear_epilogue;

/* out = x W^T (+ b). x: (T, K), b: (N) or NULL, out: (T, N); x and out must
 * not overlap. Splits the panels over the OpenMP threads when the product
 * is large enough to pay for waking them. */
void encore_linear_packed_cpu(const float *x, const encore_packed_matrix *w, const float *b, int T, float *out);

/* The same with the code path and thread count chosen by the caller
 * (threads <= 0: decide as encore_linear_packed_cpu does). Returns 0, or -1
 * when isa is AVX2 and the CPU lacks it. */
int encore_linear_packed_isa_cpu(const float *x, const encore_packed_matrix *w, const float *b, int T, float *out,
                                 encore_cpu_isa isa, int threads);

/* out = epilogue(x W^T (+ b)); ep may be NULL. */
void encore_linear_packed_fused_cpu(const float *x, const encore_packed_matrix *w, const float *b, int T, float *out,
                                    const encore_linear_epilogue *ep);

/* The same with the code path and thread count chosen by the caller, as
 * encore_linear_packed_isa_cpu. */
int encore_linear_packed_fused_isa_cpu(const float *x, const encore_packed_matrix *w, const float *b, int T,
                                       float *out, const encore_linear_epilogue *ep, encore_cpu_isa isa, int threads);

#ifdef __cplusplus
}
#endif

#endif /* ENCORE_GEMM_CPU_H */
