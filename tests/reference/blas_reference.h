/* blas_reference.h: OpenBLAS's sgemm as an independent reference for the
 * packed CPU GEMM and the CUDA products, in the tests and benchmarks only
 * (libencore itself links no BLAS). */
#ifndef ENCORE_BLAS_REFERENCE_H
#define ENCORE_BLAS_REFERENCE_H

#ifdef __cplusplus
extern "C" {
#endif

/* out = x W^T (+ b) on an unpacked W. x: (T, K), W: (N, K), b: (N) or
 * NULL, out: (T, N). The output columns are split over the OpenMP threads,
 * each a single-threaded sgemm, so every element sums over K in the same
 * order whatever T is. */
void encore_blas_linear(const float *x, const float *w, const float *b, int T, int N, int K, float *out);

#ifdef __cplusplus
}
#endif

#endif /* ENCORE_BLAS_REFERENCE_H */
