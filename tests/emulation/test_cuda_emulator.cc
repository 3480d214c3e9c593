// test_cuda_emulator.cc: the CUDA emulation's own test. Known bugs injected
// into copies of the kernels (tests/emulation/CMakeLists.txt builds them,
// launchers renamed <launcher>_<mutant>) must each be caught: as a kernel
// fault, as results that differ from the unmodified kernel's, or (memory
// errors) as the process dying under the guard pages or AddressSanitizer.
// Then the runtime rules the emulation enforces, on small kernels of its own.
#include <gtest/gtest.h>

#include "common.cuh"
#include "cuda/device_blas.h"
#include "cuda/device_plan.h"
#include "emu.h"
#include "kernels.h"

#include <cmath>
#include <random>
#include <string>
#include <vector>

extern "C" {
#define ENCORE_MUTANT_ATTENTION(m)                                                                                 \
    encore_status encore_attention_cuda_##m(const void *qkv, const float *qkv_bias, const float *rel_bias,          \
                                            int rel_span, const int32_t *seq_start, const int32_t *tile_start,     \
                                            int n_tiles, int B, int H, int D, encore_attention_impl impl,          \
                                            encore_cuda_dtype dt, void *out, cudaStream_t stream);                 \
    encore_status encore_kernels_cuda_prepare_##m(void);
ENCORE_MUTANT_ATTENTION(no_syncthreads)
ENCORE_MUTANT_ATTENTION(no_syncwarp)
ENCORE_MUTANT_ATTENTION(no_syncwarp_after_store)
ENCORE_MUTANT_ATTENTION(misaligned_wmma_ldm)
ENCORE_MUTANT_ATTENTION(half_warp_wmma_load)
#undef ENCORE_MUTANT_ATTENTION
encore_status encore_scores_cuda_no_trailing_barrier(float *logits, const float *bias, int B, int L,
                                                     encore_score_function fn, cudaStream_t stream);
encore_status encore_bias_act_cuda_global_read_past_end(void *x, const float *bias, encore_activation act, int T,
                                                        int N, encore_cuda_dtype dt, cudaStream_t stream);
encore_status encore_bias_residual_layernorm_cuda_smem_write_past_end(void *x, const float *bias,
                                                                      const void *residual, const float *gamma,
                                                                      const float *beta, float eps, int T, int C,
                                                                      encore_cuda_dtype dt, cudaStream_t stream);
encore_status encore_bias_residual_layernorm_cuda_row_read_past_end(void *x, const float *bias, const void *residual,
                                                                    const float *gamma, const float *beta, float eps,
                                                                    int T, int C, encore_cuda_dtype dt,
                                                                    cudaStream_t stream);
}

namespace {

using AttentionFn = encore_status (*)(const void *, const float *, const float *, int, const int32_t *,
                                      const int32_t *, int, int, int, int, encore_attention_impl, encore_cuda_dtype,
                                      void *, cudaStream_t);
using PrepareFn = encore_status (*)(void);

struct Outcome {
    encore_status status = ENCORE_STATUS_OK;
    cudaError_t sync = cudaSuccess;
    std::string fault;
    std::vector<float> out;
};

void *device_copy(const void *src, size_t bytes) {
    void *p = nullptr;
    EXPECT_EQ(cudaMalloc(&p, bytes), cudaSuccess);
    EXPECT_EQ(cudaMemcpy(p, src, bytes, cudaMemcpyHostToDevice), cudaSuccess);
    return p;
}

// Two sequences (7 and 40 tokens), 2 heads of 64: one query tile each, two
// key tiles for the longer one.
Outcome run_attention(AttentionFn attention, PrepareFn prepare, encore_attention_impl impl, encore_cuda_dtype dt) {
    cudaDeviceReset();
    const std::vector<int32_t> start = {0, 7, 47};
    const int B = 2, T = 47, H = 2, D = 64, C = H * D;
    std::mt19937 rng(7);
    std::normal_distribution<float> nd(0.0f, 1.0f);
    std::vector<float> qkv((size_t)T * 3 * C);
    for (float &v : qkv) v = nd(rng);
    std::vector<unsigned char> qkv_dt(qkv.size() * encore_cuda_dtype_size(dt));
    encore_convert_from_f32(qkv.data(), qkv.size(), dt, qkv_dt.data());
    std::vector<int32_t> tiles(B + 1);
    const int n_tiles = encore_attention_tiles(start.data(), B, ENCORE_ATTENTION_TILE_Q, tiles.data());
    void *d_qkv = device_copy(qkv_dt.data(), qkv_dt.size());
    void *d_start = device_copy(start.data(), start.size() * 4), *d_tiles = device_copy(tiles.data(), tiles.size() * 4);
    void *d_out = nullptr;
    const size_t out_bytes = (size_t)T * C * encore_cuda_dtype_size(dt);
    EXPECT_EQ(cudaMalloc(&d_out, out_bytes), cudaSuccess);  // NaN-poisoned
    Outcome r;
    r.status = prepare();
    if (r.status == ENCORE_STATUS_OK)
        r.status = attention(d_qkv, nullptr, nullptr, 0, static_cast<int32_t *>(d_start),
                             static_cast<int32_t *>(d_tiles), n_tiles, B, H, D, impl, dt, d_out, nullptr);
    r.sync = cudaDeviceSynchronize();
    r.fault = encore_emu::last_fault();
    if (r.sync == cudaSuccess) {
        std::vector<unsigned char> raw(out_bytes);
        EXPECT_EQ(cudaMemcpy(raw.data(), d_out, out_bytes, cudaMemcpyDeviceToHost), cudaSuccess);
        r.out.resize((size_t)T * C);
        encore_convert_to_f32(raw.data(), r.out.size(), dt, r.out.data());
    }
    for (void *p : {d_qkv, d_start, d_tiles, d_out}) cudaFree(p);
    cudaDeviceReset();
    return r;
}

Outcome clean(encore_attention_impl impl, encore_cuda_dtype dt) {
    Outcome r = run_attention(encore_attention_cuda, encore_kernels_cuda_prepare, impl, dt);
    EXPECT_EQ(r.status, ENCORE_STATUS_OK) << encore_last_error();
    EXPECT_EQ(r.sync, cudaSuccess);
    EXPECT_EQ(r.fault, "");
    for (float v : r.out) EXPECT_TRUE(std::isfinite(v));
    return r;
}

// Caught: a failed launch or run, or an output that is not the unmodified
// kernel's (the same operations in the same order: bit-identical when right).
bool caught(const Outcome &bug, const Outcome &good, std::string *how) {
    if (bug.status != ENCORE_STATUS_OK || bug.sync != cudaSuccess) {
        *how = "fault: " + bug.fault;
        return true;
    }
    size_t differ = 0;
    for (size_t i = 0; i < good.out.size(); i++)
        if (!(bug.out[i] == good.out[i])) differ++;
    *how = std::to_string(differ) + " of " + std::to_string(good.out.size()) + " outputs differ";
    return differ > 0;
}

TEST(InjectedBug, RemovedSyncthreads) {
    const Outcome good = clean(ENCORE_ATTENTION_SIMT, ENCORE_CUDA_F32);
    const Outcome bug = run_attention(encore_attention_cuda_no_syncthreads, encore_kernels_cuda_prepare_no_syncthreads,
                                  ENCORE_ATTENTION_SIMT, ENCORE_CUDA_F32);
    std::string how;
    EXPECT_TRUE(caught(bug, good, &how)) << how;
    std::printf("removed __syncthreads: %s\n", how.c_str());
}

TEST(InjectedBug, RemovedSyncwarp) {
    const Outcome good = clean(ENCORE_ATTENTION_SIMT, ENCORE_CUDA_F32);
    const Outcome bug = run_attention(encore_attention_cuda_no_syncwarp, encore_kernels_cuda_prepare_no_syncwarp,
                                  ENCORE_ATTENTION_SIMT, ENCORE_CUDA_F32);
    std::string how;
    EXPECT_TRUE(caught(bug, good, &how)) << how;
    std::printf("removed __syncwarp: %s\n", how.c_str());
}

TEST(InjectedBug, RemovedSyncwarpAfterWmmaStore) {
    const Outcome good = clean(ENCORE_ATTENTION_TENSOR, ENCORE_CUDA_F16);
    const Outcome bug = run_attention(encore_attention_cuda_no_syncwarp_after_store,
                                  encore_kernels_cuda_prepare_no_syncwarp_after_store, ENCORE_ATTENTION_TENSOR,
                                  ENCORE_CUDA_F16);
    std::string how;
    EXPECT_TRUE(caught(bug, good, &how)) << how;
    std::printf("removed __syncwarp after a WMMA store: %s\n", how.c_str());
}

TEST(InjectedBug, MisalignedWmmaLeadingDimension) {
    const Outcome bug = run_attention(encore_attention_cuda_misaligned_wmma_ldm,
                                  encore_kernels_cuda_prepare_misaligned_wmma_ldm, ENCORE_ATTENTION_TENSOR,
                                  ENCORE_CUDA_F16);
    EXPECT_NE(bug.sync, cudaSuccess);
    EXPECT_NE(bug.fault.find("leading dimension"), std::string::npos) << bug.fault;
}

TEST(InjectedBug, HalfAWarpSkipsAWmmaLoad) {
    const Outcome bug = run_attention(encore_attention_cuda_half_warp_wmma_load,
                                  encore_kernels_cuda_prepare_half_warp_wmma_load, ENCORE_ATTENTION_TENSOR,
                                  ENCORE_CUDA_F16);
    EXPECT_NE(bug.sync, cudaSuccess);
    EXPECT_NE(bug.fault.find("wmma::load_matrix_sync"), std::string::npos) << bug.fault;
}

// x (T, N) fp32 and a bias through bias_act; the mutant reads one vector past x.
void gelu(decltype(&encore_bias_act_cuda) fn) {
    const int T = 4, N = 64;
    std::vector<float> x((size_t)T * N, 0.5f), bias(N, 0.25f);
    void *d_x = device_copy(x.data(), x.size() * 4), *d_b = device_copy(bias.data(), bias.size() * 4);
    const encore_status st = fn(d_x, static_cast<float *>(d_b), ENCORE_ACTIVATION_GELU, T, N, ENCORE_CUDA_F32, nullptr);
    const cudaError_t e = cudaDeviceSynchronize();
    cudaFree(d_x);
    cudaFree(d_b);
    if (st != ENCORE_STATUS_OK || e != cudaSuccess) std::exit(3);
}

// x, residual (T, C) fp32. C = 66, not a multiple of 4, takes the kernel
// that stages rows in shared memory, where the smem mutant's last warp writes
// past its buffer; C = 64 keeps rows in registers, where the row mutant's
// last row reads past the allocation.
void layernorm(decltype(&encore_bias_residual_layernorm_cuda) fn, int C) {
    const int T = 8;
    std::vector<float> x((size_t)T * C, 1.0f), p(C, 0.5f);
    void *d_x = device_copy(x.data(), x.size() * 4), *d_r = device_copy(x.data(), x.size() * 4);
    void *d_p = device_copy(p.data(), p.size() * 4);
    float *fp = static_cast<float *>(d_p);
    const encore_status st = fn(d_x, fp, d_r, fp, fp, 1e-5f, T, C, ENCORE_CUDA_F32, nullptr);
    const cudaError_t e = cudaDeviceSynchronize();
    for (void *q : {d_x, d_r, d_p}) cudaFree(q);
    if (st != ENCORE_STATUS_OK || e != cudaSuccess) std::exit(3);
}

// Memory errors end the process: at the guard page after each allocation, or
// in AddressSanitizer's report in the sanitizer build.
TEST(InjectedBugDeathTest, GlobalReadPastTheEnd) {
    GTEST_FLAG_SET(death_test_style, "threadsafe");
    gelu(encore_bias_act_cuda);  // the unmodified kernel runs clean
    EXPECT_DEATH(gelu(encore_bias_act_cuda_global_read_past_end), "");
}

TEST(InjectedBugDeathTest, SharedWritePastTheEnd) {
    GTEST_FLAG_SET(death_test_style, "threadsafe");
    layernorm(encore_bias_residual_layernorm_cuda, 66);
    EXPECT_DEATH(layernorm(encore_bias_residual_layernorm_cuda_smem_write_past_end, 66), "");
}

TEST(InjectedBugDeathTest, RowReadPastTheEnd) {
    GTEST_FLAG_SET(death_test_style, "threadsafe");
    layernorm(encore_bias_residual_layernorm_cuda, 64);
    EXPECT_DEATH(layernorm(encore_bias_residual_layernorm_cuda_row_read_past_end, 64), "");
}

// ---- the runtime's rules, on small kernels -------------------------------------

__global__ void early_exit_kernel(int *out) {
    if (threadIdx.x == 0) return;
    __syncthreads();
    out[threadIdx.x] = 1;
}

__global__ void divergent_barrier_kernel(int *out) {
    if (threadIdx.x < 16) {
        __syncthreads();
    } else {
        __syncthreads();
    }
    out[threadIdx.x] = 1;
}

__global__ void shuffle_kernel(int *out) {
    if (threadIdx.x >= 8 && threadIdx.x < 16) return;
    out[threadIdx.x] = __shfl_xor_sync(0xffffffffu, (int)threadIdx.x, 1);
}

__global__ void store_index_kernel(int *out) {
    out[blockIdx.x * blockDim.x + threadIdx.x] =
        __shfl_xor_sync(0xffffffffu, (int)(blockIdx.x * 1000 + threadIdx.x), 3);
}

__global__ void smem_kernel(int *out) { out[threadIdx.x] = encore::dynamic_smem<int>()[0]; }

struct Buffer {
    int *p = nullptr;
    explicit Buffer(size_t n) { EXPECT_EQ(cudaMalloc((void **)&p, n * 4), cudaSuccess); }
    ~Buffer() { cudaFree(p); }
};

cudaError_t launch_and_sync(void (*k)(int *), unsigned blocks, unsigned threads, size_t smem, int *out) {
    encore::launch(k, blocks, threads, smem, nullptr, out);
    const cudaError_t launch = cudaGetLastError();
    return launch != cudaSuccess ? launch : cudaDeviceSynchronize();
}

TEST(EmulatorRules, ThreadExitingBeforeABarrierIsAFaultNotAHang) {
    cudaDeviceReset();
    Buffer b(64);
    EXPECT_EQ(launch_and_sync(early_exit_kernel, 1, 64, 0, b.p), cudaErrorLaunchFailure);
    EXPECT_NE(encore_emu::last_fault().find("exited"), std::string::npos) << encore_emu::last_fault();
    EXPECT_EQ(cudaGetLastError(), cudaErrorLaunchFailure) << "kernel faults are sticky";
    cudaDeviceReset();
    EXPECT_EQ(cudaGetLastError(), cudaSuccess);
}

TEST(EmulatorRules, BarrierFromDivergentPathsIsAFault) {
    cudaDeviceReset();
    Buffer b(64);
    EXPECT_EQ(launch_and_sync(divergent_barrier_kernel, 1, 64, 0, b.p), cudaErrorLaunchFailure);
    EXPECT_NE(encore_emu::last_fault().find("divergent"), std::string::npos) << encore_emu::last_fault();
    cudaDeviceReset();
}

TEST(EmulatorRules, ShuffleMaskNamingExitedLanesIsAFault) {
    cudaDeviceReset();
    Buffer b(32);
    EXPECT_EQ(launch_and_sync(shuffle_kernel, 1, 32, 0, b.p), cudaErrorLaunchFailure);
    EXPECT_NE(encore_emu::last_fault().find("exited"), std::string::npos) << encore_emu::last_fault();
    cudaDeviceReset();
}

TEST(EmulatorRules, LaunchLimitsAreCheckedAsTheDriverChecksThem) {
    cudaDeviceReset();
    Buffer b(2048);
    EXPECT_EQ(launch_and_sync(store_index_kernel, 1, 1025, 0, b.p), cudaErrorInvalidConfiguration);
    EXPECT_EQ(cudaGetLastError(), cudaSuccess) << "a launch error is not sticky";
    EXPECT_EQ(launch_and_sync(store_index_kernel, 0, 32, 0, b.p), cudaErrorInvalidConfiguration);
    // More than 48 KB of dynamic shared memory needs the kernel's opt-in, up to the architecture's limit.
    EXPECT_EQ(launch_and_sync(smem_kernel, 1, 32, 64 * 1024, b.p), cudaErrorInvalidValue);
    EXPECT_EQ(cudaFuncSetAttribute(smem_kernel, cudaFuncAttributeMaxDynamicSharedMemorySize, 64 * 1024), cudaSuccess);
    EXPECT_EQ(launch_and_sync(smem_kernel, 1, 32, 64 * 1024, b.p), cudaSuccess);
    EXPECT_EQ(cudaFuncSetAttribute(smem_kernel, cudaFuncAttributeMaxDynamicSharedMemorySize, 1 << 20),
              cudaErrorInvalidValue);
    (void)cudaGetLastError();
}

// A race no barrier or warp operation meets: without the barrier that ends a
// block reduction, a warp that runs ahead overwrites the shared partials of
// the last reduction with those of the next one before the other warps have
// read them. With warps resumed together (the default) every read comes
// before every write and the bug does not show; with +ahead it does.
TEST(InjectedBug, RemovedTrailingBarrierNeedsWarpsRunningAhead) {
    cudaDeviceReset();
    const int B = 3, L = 3000;
    std::vector<float> x((size_t)B * L);
    std::mt19937 rng(5);
    std::normal_distribution<float> n(0.0f, 3.0f);
    for (float &v : x) v = n(rng);
    auto run = [&](encore_status (*scores)(float *, const float *, int, int, encore_score_function, cudaStream_t),
                   bool ahead) {
        encore_emu::set_order(0, 1, ahead);
        float *d = nullptr;
        EXPECT_EQ(cudaMalloc((void **)&d, x.size() * 4), cudaSuccess);
        EXPECT_EQ(cudaMemcpy(d, x.data(), x.size() * 4, cudaMemcpyHostToDevice), cudaSuccess);
        EXPECT_EQ(scores(d, nullptr, B, L, ENCORE_SCORE_FUNCTION_SOFTMAX, nullptr), ENCORE_STATUS_OK);
        std::vector<float> out(x.size());
        EXPECT_EQ(cudaMemcpy(out.data(), d, out.size() * 4, cudaMemcpyDeviceToHost), cudaSuccess);
        cudaFree(d);
        return out;
    };
    const std::vector<float> good = run(encore_scores_cuda, true);
    EXPECT_EQ(run(encore_scores_cuda, false), good) << "the clean kernel depends on how warps are resumed";
    const bool shown_without = run(encore_scores_cuda_no_trailing_barrier, false) != good;
    const std::vector<float> bug = run(encore_scores_cuda_no_trailing_barrier, true);
    int differ = 0;
    for (size_t i = 0; i < good.size(); i++) differ += !(bug[i] == good[i]);
    EXPECT_GT(differ, 0) << "warps running ahead did not show the removed barrier";
    std::printf("removed trailing barrier: %d of %zu outputs differ with +ahead (%s without)\n", differ, good.size(),
                shown_without ? "shown" : "not shown");
    encore_emu::set_order(0, 1);
}

TEST(EmulatorRules, ResultsDoNotDependOnBlockOrder) {
    cudaDeviceReset();
    Buffer b(8 * 64);
    std::vector<int> want(8 * 64), got(8 * 64);
    for (int i = 0; i < 8 * 64; i++) want[i] = (i / 64) * 1000 + ((i % 64) ^ 3);
    for (int order : {0, 1, 2}) {
        encore_emu::set_order(order, 12345);
        ASSERT_EQ(launch_and_sync(store_index_kernel, 8, 64, 0, b.p), cudaSuccess);
        ASSERT_EQ(cudaMemcpy(got.data(), b.p, got.size() * 4, cudaMemcpyDeviceToHost), cudaSuccess);
        EXPECT_EQ(got, want) << "order " << order;
    }
    encore_emu::set_order(0, 1);
}

TEST(EmulatorRules, CallsIllegalDuringCaptureFailAsCudaFails) {
    cudaDeviceReset();
    cudaStream_t s = nullptr;
    ASSERT_EQ(cudaStreamCreateWithFlags(&s, cudaStreamNonBlocking), cudaSuccess);
    Buffer b(64);
    ASSERT_EQ(cudaStreamBeginCapture(s, cudaStreamCaptureModeThreadLocal), cudaSuccess);
    encore::launch(store_index_kernel, 1, 64, 0, s, b.p);
    EXPECT_EQ(cudaGetLastError(), cudaSuccess);
    void *p = nullptr;
    EXPECT_EQ(cudaMalloc(&p, 16), cudaErrorStreamCaptureUnsupported);
    cudaGraph_t g = nullptr;
    EXPECT_EQ(cudaStreamEndCapture(s, &g), cudaErrorStreamCaptureInvalidated);
    EXPECT_EQ(g, nullptr);
    (void)cudaGetLastError();
    // A clean capture replays its work.
    ASSERT_EQ(cudaMemset(b.p, 0, 64 * 4), cudaSuccess);
    ASSERT_EQ(cudaStreamBeginCapture(s, cudaStreamCaptureModeThreadLocal), cudaSuccess);
    encore::launch(store_index_kernel, 1, 64, 0, s, b.p);
    ASSERT_EQ(cudaStreamEndCapture(s, &g), cudaSuccess);
    std::vector<int> got(64);
    ASSERT_EQ(cudaMemcpy(got.data(), b.p, 256, cudaMemcpyDeviceToHost), cudaSuccess);
    EXPECT_EQ(got[5], 0) << "captured work does not run until the graph is launched";
    cudaGraphExec_t x = nullptr;
    ASSERT_EQ(cudaGraphInstantiate(&x, g, 0), cudaSuccess);
    ASSERT_EQ(cudaGraphLaunch(x, s), cudaSuccess);
    ASSERT_EQ(cudaStreamSynchronize(s), cudaSuccess);
    ASSERT_EQ(cudaMemcpy(got.data(), b.p, 256, cudaMemcpyDeviceToHost), cudaSuccess);
    EXPECT_EQ(got[5], 5 ^ 3);
    cudaGraphExecDestroy(x);
    cudaGraphDestroy(g);
    cudaStreamDestroy(s);
}

// encore's rule on cuBLAS (README): a product with fp16 output on a handle
// that allows reductions in fp16 fails; encore_blas_handle_create's handle
// forbids them, and the same product runs.
TEST(EmulatorRules, HalfOutputProductsNeedFp32Reductions) {
    cudaDeviceReset();
    const encore_blas *blas = nullptr;
    ASSERT_EQ(encore_blas_load(&blas), ENCORE_STATUS_OK) << encore_last_error();
    const int T = 3, N = 16, K = 32;
    Buffer x(T * K / 2), w(N * K / 2), out(T * N / 2);  // fp16: two per int
    ASSERT_EQ(cudaMemset(x.p, 0, T * K * 2), cudaSuccess);
    ASSERT_EQ(cudaMemset(w.p, 0, N * K * 2), cudaSuccess);
    cublasHandle_t plain = nullptr, ours = nullptr;
    ASSERT_EQ(blas->create(&plain), CUBLAS_STATUS_SUCCESS);
    EXPECT_EQ(encore_linear_cuda(blas, plain, x.p, w.p, T, N, K, ENCORE_CUDA_F16, out.p), ENCORE_STATUS_DEVICE_ERROR);
    EXPECT_NE(std::string(encore_last_error()).find("NOT_SUPPORTED"), std::string::npos) << encore_last_error();
    ASSERT_EQ(encore_blas_handle_create(blas, &ours), ENCORE_STATUS_OK) << encore_last_error();
    EXPECT_EQ(encore_linear_cuda(blas, ours, x.p, w.p, T, N, K, ENCORE_CUDA_F16, out.p), ENCORE_STATUS_OK)
        << encore_last_error();
    EXPECT_EQ(cudaDeviceSynchronize(), cudaSuccess);
    blas->destroy(plain);
    blas->destroy(ours);
}

}  // namespace
