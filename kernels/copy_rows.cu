// copy_rows.cu: rows of one (rows, C) activation matrix copied into another,
// either side through an index: dst[dst_rows ? dst_rows[i] : i] =
// src[src_rows ? src_rows[i] : i] for i < n, bit for bit. The forward pass
// gathers each sequence's first row (src_rows = seq_start) before a
// first-only last layer and puts the results back after it (dst_rows =
// seq_start). CPU twin: gather_first and scatter_first in
// src/cpu/forward_cpu.c.
#include "common.cuh"

namespace {

template <typename S>
__global__ void copy_rows_kernel(const S *__restrict__ src, const int32_t *__restrict__ src_rows, S *__restrict__ dst,
                                 const int32_t *__restrict__ dst_rows, int C) {
    const size_t i = blockIdx.x;
    const size_t from = (size_t)(src_rows ? src_rows[i] : (int32_t)i) * C;
    const size_t to = (size_t)(dst_rows ? dst_rows[i] : (int32_t)i) * C;
    for (int c = threadIdx.x; c < C; c += blockDim.x) dst[to + c] = src[from + c];
}

}  // namespace

extern "C" encore_status encore_copy_rows_cuda(const void *src, const int32_t *src_rows, void *dst,
                                               const int32_t *dst_rows, int n, int C, encore_cuda_dtype dt,
                                               cudaStream_t stream) {
    if (n == 0) return ENCORE_STATUS_OK;
    if (!src || !dst || src == dst || n < 0 || C < 1)
        return encore_fail(ENCORE_STATUS_INVALID_ARGUMENT, "encore_copy_rows_cuda: bad arguments");
    const unsigned blocks = (unsigned)n, threads = C < 256 ? 32u * (unsigned)((C + 31) / 32) : 256u;
    switch (dt) {
    case ENCORE_CUDA_F32:
        encore::launch(copy_rows_kernel<float>, blocks, threads, 0, stream, static_cast<const float *>(src), src_rows,
                       static_cast<float *>(dst), dst_rows, C);
        break;
    case ENCORE_CUDA_F16:
        encore::launch(copy_rows_kernel<__half>, blocks, threads, 0, stream, static_cast<const __half *>(src),
                       src_rows, static_cast<__half *>(dst), dst_rows, C);
        break;
    case ENCORE_CUDA_BF16:
        encore::launch(copy_rows_kernel<__nv_bfloat16>, blocks, threads, 0, stream,
                       static_cast<const __nv_bfloat16 *>(src), src_rows, static_cast<__nv_bfloat16 *>(dst), dst_rows,
                       C);
        break;
    default: return encore_fail(ENCORE_STATUS_INVALID_ARGUMENT, "unknown dtype %d", (int)dt);
    }
    ENCORE_CUDA_CHECK_LAUNCH(stream, "copy_rows_kernel");
    return ENCORE_STATUS_OK;
}
