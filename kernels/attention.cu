// attention.cu: fused multi-head self-attention over a packed, padding-free
// batch, flash-attention style. The grid is (query tiles of all sequences,
// heads); a block finds its sequence in the tile table (tile_start, built on
// the host by encore_attention_tiles), walks that sequence's keys tile by tile
// with an online softmax (running max m and sum l per query row, earlier
// partial outputs rescaled by exp(m_old - m_new)), and writes O / l. Nothing
// of size S x S reaches device memory; accumulation is fp32. A qkv bias, when
// given, is added as Q, K and V are loaded.
//
// Precision: the SIMT kernel adds the bias in fp32 and computes in fp32 from
// the stored values. The tensor-core kernel stages Q, K and V (+ bias) in
// shared memory in the 16-bit dtype, the tensor cores' operand type: with a
// bias, q + b is rounded there a second time after the GEMM rounded q, which
// neither the CPU twin nor PyTorch do (PyTorch adds the bias in the GEMM
// epilogue). With scores in the hundreds that rounding moves the softmax
// visibly, so the forward pass adds the bias in the QKV GEMM's epilogue
// (encore_bias_rows_cuda + encore_linear_accumulate_cuda) and passes NULL
// here: q, k and v are then rounded once, and after the staging, which
// changes nothing, products are exact and sums fp32.
//
// Two kernels:
//   - tensor cores (WMMA 16x16x16, fp16 or bf16 operands, fp32 accumulators)
//     for D in {32, 64, 128}: S = Q K^T and O += P V on the tensor cores, the
//     softmax by lane pairs, one row each;
//   - SIMT fp32 for everything else (fp32 activations, small or odd D): a warp
//     per query row at a time, one key per lane.
// Scores are pre-multiplied by log2(e) / sqrt(D) so that exp2 gives the
// softmax; a relative position bias (MPNet's), when given, is added to them
// times log2(e), read from a (H, 2 span - 1) fp32 table at the key's distance
// from the query.
//
// CPU twin: encore_attention_cpu (src/cpu/cpu_ops.c).
#include "common.cuh"

#include <mma.h>

namespace {

constexpr int TQ = ENCORE_ATTENTION_TILE_Q;  // query rows per block
constexpr float kLog2e = 1.4426950408889634f;

// What is added to the scaled scores, times log2(e): MPNet's relative
// position bias, a (H, 2 span - 1) table; or DeBERTa's disentangled terms,
// (c2p[h][start + i][r] + p2c[h][start + j][r]) * scale with r = index[i - j
// + max_dist] ((H, T, R) tables of every token against every row r, each
// NULL when the model leaves its term out); or nothing.
struct RelBias {
    const float *table;
    int span;
    const float *c2p, *p2c;
    const int32_t *index;
    int max_dist, R, T;
    float scale;  // DeBERTa's score scale times log2(e)
    // Head h's bias for query i and key j of the sequence that starts at
    // token start.
    __device__ __forceinline__ float at(int h, int start, int i, int j) const {
        if (table) return table[(size_t)h * (2 * span - 1) + span - 1 + j - i] * kLog2e;
        if (!index) return 0.0f;
        // clamped: a graph's padding sequence may outrun a short model's span
        const int r = index[min(max(i - j + max_dist, 0), 2 * max_dist)];
        float v = 0.0f;
        if (c2p) v += c2p[((size_t)h * T + start + i) * R + r];
        if (p2c) v += p2c[((size_t)h * T + start + j) * R + r];
        return v * scale;
    }
};

// The sequence that owns tile: the last b with tile_start[b] <= tile.
__device__ __forceinline__ int find_sequence(const int32_t *__restrict__ tile_start, int B, int tile) {
    int lo = 0, hi = B - 1;
    while (lo < hi) {
        const int mid = (lo + hi + 1) / 2;
        if (tile_start[mid] <= tile)
            lo = mid;
        else
            hi = mid - 1;
    }
    return lo;
}

// ---- SIMT fp32 ---------------------------------------------------------------

constexpr int kSimtWarps = 8;               // 256 threads
constexpr int kSimtRows = TQ / kSimtWarps;  // query rows per warp
constexpr int kSimtTK = 32;                 // keys per tile: one per lane

template <int DMAX> constexpr size_t simt_smem_bytes() {
    // sQ (TQ, DMAX), sK (TK, DMAX + 1), sV (TK, DMAX), sP (warps, TK)
    return sizeof(float) * ((size_t)TQ * DMAX + (size_t)kSimtTK * (DMAX + 1) + (size_t)kSimtTK * DMAX +
                            (size_t)kSimtWarps * kSimtTK);
}

template <typename S, int DMAX>
__global__ __launch_bounds__(kSimtWarps * 32) void attention_simt_kernel(
    const S *__restrict__ qkv, const float *__restrict__ bias, RelBias rel, const int32_t *__restrict__ seq_start,
    const int32_t *__restrict__ tile_start, int B, int H, int D, float scale, S *__restrict__ out) {
    float *smem = encore::dynamic_smem<float>();
    float *sQ = smem;                             // (TQ, DMAX) scaled queries
    float *sK = sQ + TQ * DMAX;                   // (TK, DMAX + 1): the +1 puts each lane's key on its own bank
    float *sV = sK + kSimtTK * (DMAX + 1);        // (TK, DMAX)
    float *sP = sV + kSimtTK * DMAX;              // (warps, TK) probabilities of the row in hand
    constexpr int DPL = DMAX / 32;                // output dims per lane

    const int tile = blockIdx.x, h = blockIdx.y;
    if (tile >= tile_start[B]) return;  // a spare block of a graph-shaped launch: the whole block leaves
    const int b = find_sequence(tile_start, B, tile);
    const int start = seq_start[b], len = seq_start[b + 1] - start;
    const int q0 = (tile - tile_start[b]) * TQ;
    const int nq = min(TQ, len - q0);
    const int C = H * D;
    const size_t ld = 3 * (size_t)C;  // row stride of qkv
    const int warp = threadIdx.x / 32, lane = threadIdx.x % 32;

    for (int i = threadIdx.x; i < TQ * DMAX; i += blockDim.x) {
        const int r = i / DMAX, d = i % DMAX;
        float v = 0.0f;
        if (r < nq && d < D) {
            v = encore::to_float<S>(qkv[(size_t)(start + q0 + r) * ld + h * D + d]);
            if (bias) v += bias[h * D + d];
        }
        sQ[i] = v * scale;
    }

    float o[kSimtRows][DPL], m[kSimtRows], l[kSimtRows];
#pragma unroll
    for (int r = 0; r < kSimtRows; r++) {
        m[r] = -INFINITY;
        l[r] = 0.0f;
#pragma unroll
        for (int i = 0; i < DPL; i++) o[r][i] = 0.0f;
    }

    for (int k0 = 0; k0 < len; k0 += kSimtTK) {
        const int nk = min(kSimtTK, len - k0);
        __syncthreads();  // the previous tile's keys are used up (and sQ is written)
        for (int i = threadIdx.x; i < kSimtTK * DMAX; i += blockDim.x) {
            const int r = i / DMAX, d = i % DMAX;
            float kv = 0.0f, vv = 0.0f;
            if (r < nk && d < D) {
                const size_t at = (size_t)(start + k0 + r) * ld + h * D + d;
                kv = encore::to_float<S>(qkv[at + C]);
                vv = encore::to_float<S>(qkv[at + 2 * C]);
                if (bias) {
                    kv += bias[C + h * D + d];
                    vv += bias[2 * C + h * D + d];
                }
            }
            sK[r * (DMAX + 1) + d] = kv;
            sV[r * DMAX + d] = vv;
        }
        __syncthreads();
#pragma unroll
        for (int rr = 0; rr < kSimtRows; rr++) {
            const int r = warp * kSimtRows + rr;
            if (r >= nq) continue;  // uniform across the warp
            float s = -INFINITY;
            if (lane < nk) {
                const float *q = sQ + r * DMAX;
                const float *k = sK + lane * (DMAX + 1);
                float dot = 0.0f;
                for (int d = 0; d < D; d++) dot += q[d] * k[d];
                s = dot + rel.at(h, start, q0 + r, k0 + lane);
            }
            const float m_new = fmaxf(m[rr], encore::warp_max(s));  // finite: key 0 of the tile is valid
            const float p = lane < nk ? exp2f(s - m_new) : 0.0f;
            const float alpha = exp2f(m[rr] - m_new);  // 0 on the first tile
            l[rr] = l[rr] * alpha + encore::warp_sum(p);
            m[rr] = m_new;
            sP[warp * kSimtTK + lane] = p;
            __syncwarp();
#pragma unroll
            for (int i = 0; i < DPL; i++) o[rr][i] *= alpha;
            for (int j = 0; j < nk; j++) {
                const float pj = sP[warp * kSimtTK + j];
#pragma unroll
                for (int i = 0; i < DPL; i++) o[rr][i] += pj * sV[j * DMAX + lane + 32 * i];
            }
            __syncwarp();  // sP is rewritten by the next row
        }
    }

#pragma unroll
    for (int rr = 0; rr < kSimtRows; rr++) {
        const int r = warp * kSimtRows + rr;
        if (r >= nq) continue;
        const float inv = 1.0f / l[rr];
        S *dst = out + (size_t)(start + q0 + r) * C + h * D;
#pragma unroll
        for (int i = 0; i < DPL; i++) {
            const int d = lane + 32 * i;
            if (d < D) dst[d] = encore::from_float<S>(o[rr][i] * inv);
        }
    }
}

// ---- tensor cores (WMMA) -------------------------------------------------------

constexpr int kTcWarps = 4;  // 16 query rows each
constexpr int kTcTK = 32;    // keys per tile

constexpr size_t round128(size_t n) { return (n + 127) / 128 * 128; }

template <int D> struct TcLayout {
    // Leading dimensions (elements), padded against bank conflicts and kept
    // multiples of 8 (16-bit) or 4 (fp32) as WMMA requires.
    static constexpr int LDQ = D + 8, LDK = D + 8, LDV = D + 8, LDS = kTcTK + 4, LDP = kTcTK + 8, LDO = D + 4;
    static constexpr size_t q = 0;                                            // (TQ, LDQ) 16-bit
    static constexpr size_t k = q + round128((size_t)TQ * LDQ * 2);           // (TK, LDK) 16-bit
    static constexpr size_t v = k + round128((size_t)kTcTK * LDK * 2);        // (TK, LDV) 16-bit
    static constexpr size_t s = v + round128((size_t)kTcTK * LDV * 2);        // (TQ, LDS) fp32 scores
    static constexpr size_t p = s + round128((size_t)TQ * LDS * 4);           // (TQ, LDP) 16-bit probabilities
    static constexpr size_t o = p + round128((size_t)TQ * LDP * 2);           // (TQ, LDO) fp32 output
    static constexpr size_t bytes = o + round128((size_t)TQ * LDO * 4);
};

// rows x D values of head h from qkv (+ part * C) into shared memory, bias
// added, zeros past n rows; 16-byte accesses.
template <typename S, int D>
__device__ __forceinline__ void tc_load_rows(S *dst, int ldd, const S *__restrict__ qkv, size_t ld, int row0, int n,
                                             int rows, int col0, const float *__restrict__ bias) {
    constexpr int CH = D / 8;  // 8-element chunks per row
    for (int i = threadIdx.x; i < rows * CH; i += blockDim.x) {
        const int r = i / CH, c = (i % CH) * 8;
        float v[8];
        if (r < n) {
            encore::load_vec<S, 8>(qkv + (size_t)(row0 + r) * ld + col0 + c, v);
            if (bias) {
#pragma unroll
                for (int j = 0; j < 8; j++) v[j] += bias[col0 + c + j];
            }
        } else {
#pragma unroll
            for (int j = 0; j < 8; j++) v[j] = 0.0f;
        }
        encore::store_vec<S, 8>(dst + r * ldd + c, v);
    }
}

template <typename S, int D>
__global__ __launch_bounds__(kTcWarps * 32) void attention_tc_kernel(
    const S *__restrict__ qkv, const float *__restrict__ bias, RelBias rel, const int32_t *__restrict__ seq_start,
    const int32_t *__restrict__ tile_start, int B, int H, float scale, S *__restrict__ out) {
    using namespace nvcuda;
    using Lay = TcLayout<D>;
    unsigned char *smem_raw = encore::dynamic_smem<unsigned char>();
    S *sQ = reinterpret_cast<S *>(smem_raw + Lay::q);
    S *sK = reinterpret_cast<S *>(smem_raw + Lay::k);
    S *sV = reinterpret_cast<S *>(smem_raw + Lay::v);
    float *sS = reinterpret_cast<float *>(smem_raw + Lay::s);
    S *sP = reinterpret_cast<S *>(smem_raw + Lay::p);
    float *sO = reinterpret_cast<float *>(smem_raw + Lay::o);

    const int tile = blockIdx.x, h = blockIdx.y;
    if (tile >= tile_start[B]) return;  // a spare block of a graph-shaped launch: the whole block leaves
    const int b = find_sequence(tile_start, B, tile);
    const int start = seq_start[b], len = seq_start[b + 1] - start;
    const int q0 = (tile - tile_start[b]) * TQ;
    const int nq = min(TQ, len - q0);
    const int C = H * D;
    const size_t ld = 3 * (size_t)C;
    const int warp = threadIdx.x / 32, lane = threadIdx.x % 32;
    const int w0 = warp * 16;          // this warp's first query row
    const bool active = w0 < nq;       // warps past the sequence's end only help load
    const int row = w0 + lane / 2;     // softmax: two lanes per row
    const int half = lane % 2;

    tc_load_rows<S, D>(sQ, Lay::LDQ, qkv, ld, start + q0, nq, TQ, h * D, bias);
    for (int i = threadIdx.x; i < TQ * Lay::LDO; i += blockDim.x) sO[i] = 0.0f;
    __syncthreads();

    wmma::fragment<wmma::matrix_a, 16, 16, 16, S, wmma::row_major> qf[D / 16];
    if (active) {
#pragma unroll
        for (int kk = 0; kk < D / 16; kk++) wmma::load_matrix_sync(qf[kk], sQ + w0 * Lay::LDQ + kk * 16, Lay::LDQ);
    }
    float m_run = -INFINITY, l_run = 0.0f;

    for (int k0 = 0; k0 < len; k0 += kTcTK) {
        const int nk = min(kTcTK, len - k0);
        __syncthreads();  // every warp is done with the previous keys
        tc_load_rows<S, D>(sK, Lay::LDK, qkv, ld, start + k0, nk, kTcTK, C + h * D, bias);
        tc_load_rows<S, D>(sV, Lay::LDV, qkv, ld, start + k0, nk, kTcTK, 2 * C + h * D, bias);
        __syncthreads();
        if (!active) continue;

        // S (16, TK) = Q (16, D) K^T (D, TK) for this warp's rows.
#pragma unroll
        for (int n0 = 0; n0 < kTcTK; n0 += 16) {
            wmma::fragment<wmma::accumulator, 16, 16, 16, float> acc;
            wmma::fill_fragment(acc, 0.0f);
#pragma unroll
            for (int kk = 0; kk < D / 16; kk++) {
                wmma::fragment<wmma::matrix_b, 16, 16, 16, S, wmma::col_major> kf;
                wmma::load_matrix_sync(kf, sK + n0 * Lay::LDK + kk * 16, Lay::LDK);
                wmma::mma_sync(acc, qf[kk], kf, acc);
            }
            wmma::store_matrix_sync(sS + w0 * Lay::LDS + n0, acc, Lay::LDS, wmma::mem_row_major);
        }
        __syncwarp();

        // Online softmax: lanes 2i and 2i+1 share row w0 + i, 16 columns each.
        {
            float sv[16];
            float mx = -INFINITY;
#pragma unroll
            for (int c = 0; c < 16; c++) {
                const int col = half * 16 + c;
                sv[c] = col < nk ? sS[row * Lay::LDS + col] * scale + rel.at(h, start, q0 + row, k0 + col) : -INFINITY;
                mx = fmaxf(mx, sv[c]);
            }
            mx = fmaxf(mx, __shfl_xor_sync(0xffffffffu, mx, 1));
            const float m_new = fmaxf(m_run, mx);
            const float alpha = exp2f(m_run - m_new);
            float sum = 0.0f;
#pragma unroll
            for (int c = 0; c < 16; c++) {
                const float p = exp2f(sv[c] - m_new);
                sum += p;
                sP[row * Lay::LDP + half * 16 + c] = encore::from_float<S>(p);
            }
            sum += __shfl_xor_sync(0xffffffffu, sum, 1);
            l_run = l_run * alpha + sum;
            m_run = m_new;
            float *orow = sO + row * Lay::LDO + half * (D / 2);
#pragma unroll
            for (int d = 0; d < D / 2; d++) orow[d] *= alpha;
        }
        __syncwarp();

        // O (16, D) += P (16, TK) V (TK, D), accumulators through shared memory
        // (their rows were rescaled above).
        wmma::fragment<wmma::matrix_a, 16, 16, 16, S, wmma::row_major> pf[kTcTK / 16];
#pragma unroll
        for (int kk = 0; kk < kTcTK / 16; kk++) wmma::load_matrix_sync(pf[kk], sP + w0 * Lay::LDP + kk * 16, Lay::LDP);
#pragma unroll
        for (int n0 = 0; n0 < D; n0 += 16) {
            wmma::fragment<wmma::accumulator, 16, 16, 16, float> acc;
            wmma::load_matrix_sync(acc, sO + w0 * Lay::LDO + n0, Lay::LDO, wmma::mem_row_major);
#pragma unroll
            for (int kk = 0; kk < kTcTK / 16; kk++) {
                wmma::fragment<wmma::matrix_b, 16, 16, 16, S, wmma::row_major> vf;
                wmma::load_matrix_sync(vf, sV + kk * 16 * Lay::LDV + n0, Lay::LDV);
                wmma::mma_sync(acc, pf[kk], vf, acc);
            }
            wmma::store_matrix_sync(sO + w0 * Lay::LDO + n0, acc, Lay::LDO, wmma::mem_row_major);
        }
        __syncwarp();
    }

    if (!active || row >= nq) return;
    const float inv = 1.0f / l_run;
    const float *orow = sO + row * Lay::LDO + half * (D / 2);
    S *dst = out + (size_t)(start + q0 + row) * C + h * D + half * (D / 2);
#pragma unroll
    for (int d = 0; d < D / 2; d += 8) {
        float v[8];
#pragma unroll
        for (int j = 0; j < 8; j++) v[j] = orow[d + j] * inv;
        encore::store_vec<S, 8>(dst + d, v);
    }
}

// ---- launch -------------------------------------------------------------------

template <typename S, int DMAX>
encore_status launch_simt(const S *qkv, const float *bias, RelBias rel, const int32_t *seq_start,
                          const int32_t *tile_start, int n_tiles, int B, int H, int D, float scale, S *out,
                          cudaStream_t stream) {
    encore::launch(attention_simt_kernel<S, DMAX>, dim3((unsigned)n_tiles, (unsigned)H), kSimtWarps * 32,
                   simt_smem_bytes<DMAX>(), stream, qkv, bias, rel, seq_start, tile_start, B, H, D, scale, out);
    ENCORE_CUDA_CHECK_LAUNCH(stream, "attention_simt_kernel");
    return ENCORE_STATUS_OK;
}

template <typename S>
encore_status dispatch_simt(const void *qkv, const float *bias, RelBias rel, const int32_t *seq_start,
                            const int32_t *tile_start, int n_tiles, int B, int H, int D, float scale, void *out,
                            cudaStream_t stream) {
    const S *q = static_cast<const S *>(qkv);
    S *o = static_cast<S *>(out);
    if (D <= 32) return launch_simt<S, 32>(q, bias, rel, seq_start, tile_start, n_tiles, B, H, D, scale, o, stream);
    if (D <= 64) return launch_simt<S, 64>(q, bias, rel, seq_start, tile_start, n_tiles, B, H, D, scale, o, stream);
    return launch_simt<S, 128>(q, bias, rel, seq_start, tile_start, n_tiles, B, H, D, scale, o, stream);
}

template <typename S, int D>
encore_status launch_tc(const S *qkv, const float *bias, RelBias rel, const int32_t *seq_start,
                        const int32_t *tile_start, int n_tiles, int B, int H, float scale, S *out,
                        cudaStream_t stream) {
    encore::launch(attention_tc_kernel<S, D>, dim3((unsigned)n_tiles, (unsigned)H), kTcWarps * 32, TcLayout<D>::bytes,
                   stream, qkv, bias, rel, seq_start, tile_start, B, H, scale, out);
    ENCORE_CUDA_CHECK_LAUNCH(stream, "attention_tc_kernel");
    return ENCORE_STATUS_OK;
}

template <typename S>
encore_status dispatch_tc(const void *qkv, const float *bias, RelBias rel, const int32_t *seq_start,
                          const int32_t *tile_start, int n_tiles, int B, int H, int D, float scale, void *out,
                          cudaStream_t stream) {
    const S *q = static_cast<const S *>(qkv);
    S *o = static_cast<S *>(out);
    switch (D) {
    case 32: return launch_tc<S, 32>(q, bias, rel, seq_start, tile_start, n_tiles, B, H, scale, o, stream);
    case 64: return launch_tc<S, 64>(q, bias, rel, seq_start, tile_start, n_tiles, B, H, scale, o, stream);
    default: return launch_tc<S, 128>(q, bias, rel, seq_start, tile_start, n_tiles, B, H, scale, o, stream);
    }
}

template <typename K> cudaError_t allow_smem(K kernel, size_t bytes) {
    return cudaFuncSetAttribute(kernel, cudaFuncAttributeMaxDynamicSharedMemorySize, (int)bytes);
}

template <typename S> cudaError_t prepare_dtype() {
    cudaError_t e = cudaSuccess;
    if (e == cudaSuccess) e = allow_smem(attention_simt_kernel<S, 32>, simt_smem_bytes<32>());
    if (e == cudaSuccess) e = allow_smem(attention_simt_kernel<S, 64>, simt_smem_bytes<64>());
    if (e == cudaSuccess) e = allow_smem(attention_simt_kernel<S, 128>, simt_smem_bytes<128>());
    return e;
}

template <typename S> cudaError_t prepare_tc() {
    cudaError_t e = cudaSuccess;
    if (e == cudaSuccess) e = allow_smem(attention_tc_kernel<S, 32>, TcLayout<32>::bytes);
    if (e == cudaSuccess) e = allow_smem(attention_tc_kernel<S, 64>, TcLayout<64>::bytes);
    if (e == cudaSuccess) e = allow_smem(attention_tc_kernel<S, 128>, TcLayout<128>::bytes);
    return e;
}

}  // namespace

extern "C" encore_status encore_kernels_cuda_prepare(void) {
    ENCORE_CUDA_CHECK(prepare_dtype<float>());
    ENCORE_CUDA_CHECK(prepare_dtype<__half>());
    ENCORE_CUDA_CHECK(prepare_dtype<__nv_bfloat16>());
    ENCORE_CUDA_CHECK(prepare_tc<__half>());
    ENCORE_CUDA_CHECK(prepare_tc<__nv_bfloat16>());
    return ENCORE_STATUS_OK;
}

extern "C" int encore_attention_cuda_supports(encore_attention_impl impl, int D, encore_cuda_dtype dt) {
    if (D < 1 || D > 128) return 0;
    if (impl == ENCORE_ATTENTION_TENSOR) return dt != ENCORE_CUDA_F32 && (D == 32 || D == 64 || D == 128);
    return 1;
}

namespace {

// Both entry points: the checks, the kernel's choice, the launch. scale
// multiplies q . k (log2(e) included).
encore_status attend(const void *qkv, const float *qkv_bias, const RelBias &rel, float scale,
                     const int32_t *seq_start, const int32_t *tile_start, int n_tiles, int B, int H, int D,
                     encore_attention_impl impl, encore_cuda_dtype dt, void *out, cudaStream_t stream) {
    if (D < 1 || D > 128) return encore_fail(ENCORE_STATUS_UNSUPPORTED, "attention head size %d (at most 128)", D);
    // Tensor cores need D in {32, 64, 128} and 16-byte aligned rows.
    const bool aligned = (uintptr_t)qkv % 16 == 0 && (uintptr_t)out % 16 == 0 && (H * D) % 8 == 0;
    const bool tc_ok = encore_attention_cuda_supports(ENCORE_ATTENTION_TENSOR, D, dt) && aligned;
    if (impl == ENCORE_ATTENTION_TENSOR && !tc_ok)
        return encore_fail(ENCORE_STATUS_UNSUPPORTED, "no tensor-core attention for %s with head size %d",
                           encore_cuda_dtype_name(dt), D);
    const bool use_tc = impl == ENCORE_ATTENTION_TENSOR || (impl == ENCORE_ATTENTION_AUTO && tc_ok);
    if (use_tc) {
        if (dt == ENCORE_CUDA_F16)
            return dispatch_tc<__half>(qkv, qkv_bias, rel, seq_start, tile_start, n_tiles, B, H, D, scale, out,
                                       stream);
        return dispatch_tc<__nv_bfloat16>(qkv, qkv_bias, rel, seq_start, tile_start, n_tiles, B, H, D, scale, out,
                                          stream);
    }
    ENCORE_DISPATCH_DTYPE(dt, return dispatch_simt<scalar_t>(qkv, qkv_bias, rel, seq_start, tile_start, n_tiles, B,
                                                             H, D, scale, out, stream));
    return encore_fail(ENCORE_STATUS_INVALID_ARGUMENT, "unknown dtype %d", (int)dt);
}

}  // namespace

extern "C" encore_status encore_attention_cuda(const void *qkv, const float *qkv_bias, const float *rel_bias,
                                               int rel_span, const int32_t *seq_start, const int32_t *tile_start,
                                               int n_tiles, int B, int H, int D, encore_attention_impl impl,
                                               encore_cuda_dtype dt, void *out, cudaStream_t stream) {
    if (B == 0 || n_tiles == 0) return ENCORE_STATUS_OK;
    if (!qkv || !seq_start || !tile_start || !out || B < 0 || n_tiles < 0 || H < 1 || H > 65535 ||
        (rel_bias && rel_span < 1))
        return encore_fail(ENCORE_STATUS_INVALID_ARGUMENT, "encore_attention_cuda: bad arguments");
    RelBias rel{};
    rel.table = rel_bias;
    rel.span = rel_span;
    return attend(qkv, qkv_bias, rel, kLog2e / sqrtf((float)D), seq_start, tile_start, n_tiles, B, H, D, impl, dt,
                  out, stream);
}

extern "C" encore_status encore_attention_dis_cuda(const void *qkv, const float *c2p, const float *p2c,
                                                   const int32_t *index, int max_dist, int R, int T, float scale,
                                                   const int32_t *seq_start, const int32_t *tile_start, int n_tiles,
                                                   int B, int H, int D, encore_attention_impl impl,
                                                   encore_cuda_dtype dt, void *out, cudaStream_t stream) {
    if (B == 0 || n_tiles == 0) return ENCORE_STATUS_OK;
    if (!qkv || !seq_start || !tile_start || !out || B < 0 || n_tiles < 0 || H < 1 || H > 65535 || T < 0 ||
        !(scale > 0.0f) || ((c2p || p2c) && (!index || max_dist < 0 || R < 1)))
        return encore_fail(ENCORE_STATUS_INVALID_ARGUMENT, "encore_attention_dis_cuda: bad arguments");
    RelBias rel{};
    if (c2p || p2c) {
        rel.c2p = c2p;
        rel.p2c = p2c;
        rel.index = index;
        rel.max_dist = max_dist;
        rel.R = R;
        rel.T = T;
        rel.scale = scale * kLog2e;
    }
    return attend(qkv, nullptr, rel, scale * kLog2e, seq_start, tile_start, n_tiles, B, H, D, impl, dt, out, stream);
}
