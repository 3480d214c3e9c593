// test_cuda_ops.cc: the op table. Every CUDA kernel (and the cuBLAS GEMM
// wrapper) against its CPU twin in src/cpu/cpu_ops.c / src/cpu/forward_cpu.c, over
// lengths 1, 7, 128, 129 and 512 and a batch of all five mixed, in fp32, fp16
// and bf16. Inputs are drawn fresh from a seeded generator and rounded to the
// dtype first, so the CPU twin sees exactly what the GPU sees; outputs are
// poisoned with NaN before each run, so an element the kernel never wrote
// fails; NaN and Inf are reported on their own. A case passes when
// |gpu - cpu| <= atol + rtol * |cpu| everywhere, with the tolerances of
// tolerance() below, each with its reason. Without a GPU every case skips.
#include <gtest/gtest.h>

#include <cuda_runtime_api.h>
#include <omp.h>

#include <algorithm>
#include <cmath>
#include <cstring>
#include <random>
#include <ostream>
#include <sstream>
#include <string>
#include <vector>

#include "blas_reference.h"
#include "cpu/cpu_ops.h"
#include "cuda_check.h"
#include "cuda/device_blas.h"
#include "cuda/device_plan.h"
#include "cuda/device_probe.h"
#include "cpu/forward_cpu.h"
#include "expect_close.h"
#include "kernels.h"

namespace {

enum class Op { Embed, LayerNorm, BiasAct, Attention, AttentionDis, Pool, HeadAct, Scores, Linear, LinearBias, CopyRows };

struct Tol {
    double atol, rtol;
    const char *why;
};

// The tolerance of an op in a dtype, and why it is that size.
Tol tolerance(Op op, encore_cuda_dtype dt, encore_attention_impl impl) {
    const bool attn = op == Op::Attention || op == Op::AttentionDis;
    if (dt == ENCORE_CUDA_F32) {
        if (attn)
            return {2e-5, 1e-4,
                    "fp32 both sides; the online softmax rescales partial sums and uses exp2 of pre-scaled scores, "
                    "a few ulps of each probability"};
        if (op == Op::Linear || op == Op::LinearBias)
            return {1e-5, 1e-4, "fp32 GEMM (no TF32); only the summation order differs over K terms"};
        return {1e-5, 1e-5,
                "fp32 both sides; erf/exp/tanh implementations and fp32 vs double statistics differ by a few ulps"};
    }
    const bool half = dt == ENCORE_CUDA_F16;
    if (attn && impl != ENCORE_ATTENTION_SIMT)
        return half ? Tol{3e-3, 4e-3,
                          "probabilities are rounded to fp16 (2^-11 relative) before P V on the tensor cores, and "
                          "the output is rounded to fp16 again: a few fp16 ulps of |V| (< 4)"}
                    : Tol{2.5e-2, 2e-2,
                          "probabilities are rounded to bf16 (2^-8 relative) before P V on the tensor cores, and the "
                          "output is rounded to bf16 again: a few bf16 ulps of |V| (< 4)"};
    if (op == Op::Linear || op == Op::LinearBias)
        return half ? Tol{2e-3, 2e-3, "fp32 accumulation; one rounding of the output to fp16 (2^-11) and order"}
                    : Tol{1.6e-2, 1.6e-2, "fp32 accumulation; one rounding of the output to bf16 (2^-8) and order"};
    return half ? Tol{1e-3, 2e-3,
                      "fp32 arithmetic, one rounding of the output to fp16: half an ulp is 2^-11 relative; 4 ulps of "
                      "margin"}
                : Tol{8e-3, 1.6e-2,
                      "fp32 arithmetic, one rounding of the output to bf16: half an ulp is 2^-8 relative; 4 ulps of "
                      "margin"};
}

struct Case {
    Op op;
    encore_cuda_dtype dt;
    std::vector<int> lengths;  // sequences of the packed batch
    int C = 32;                // hidden (or N for bias_act / linear)
    int H = 4;                 // heads (attention)
    int K = 0;                 // inner size (linear)
    int variant = 0;           // activation, pooling mode, score function, "no type embeddings", or spare attention tiles (+ 100: a relative position bias)
    encore_attention_impl impl = ENCORE_ATTENTION_AUTO;
    float scale = 1.0f;        // input spread; large values test softmax stability
    std::string name;
};

// gtest prints a case by its name (ctest lists it so).
void PrintTo(const Case &c, std::ostream *os) { *os << c.name; }

// ---- helpers ------------------------------------------------------------------

struct Dev {
    void *p = nullptr;
    size_t bytes = 0;
    explicit Dev(size_t n) : bytes(n ? n : 1) { EXPECT_EQ(cudaMalloc(&p, bytes), cudaSuccess); }
    ~Dev() { cudaFree(p); }
    Dev(const Dev &) = delete;
    void poison() { EXPECT_EQ(cudaMemset(p, 0xff, bytes), cudaSuccess); }  // NaN in every dtype
    template <typename T> T *as() { return static_cast<T *>(p); }
};

size_t esize(encore_cuda_dtype dt) { return encore_cuda_dtype_size(dt); }

// Round host values to dt in place (what the device will hold).
void quantize(std::vector<float> &v, encore_cuda_dtype dt) {
    std::vector<unsigned char> tmp(v.size() * esize(dt));
    encore_convert_from_f32(v.data(), v.size(), dt, tmp.data());
    encore_convert_to_f32(tmp.data(), v.size(), dt, v.data());
}

void upload(Dev &d, const std::vector<float> &v, encore_cuda_dtype dt) {
    std::vector<unsigned char> tmp(v.size() * esize(dt));
    encore_convert_from_f32(v.data(), v.size(), dt, tmp.data());
    ASSERT_EQ(cudaMemcpy(d.p, tmp.data(), tmp.size(), cudaMemcpyHostToDevice), cudaSuccess);
}

void upload_ints(Dev &d, const std::vector<int32_t> &v) {
    ASSERT_EQ(cudaMemcpy(d.p, v.data(), v.size() * 4, cudaMemcpyHostToDevice), cudaSuccess);
}

std::vector<float> download(const Dev &d, size_t n, encore_cuda_dtype dt) {
    std::vector<unsigned char> tmp(n * esize(dt));
    EXPECT_EQ(cudaMemcpy(tmp.data(), d.p, tmp.size(), cudaMemcpyDeviceToHost), cudaSuccess);
    std::vector<float> out(n);
    encore_convert_to_f32(tmp.data(), n, dt, out.data());
    return out;
}

std::vector<float> randn(size_t n, std::mt19937 &rng, float scale, encore_cuda_dtype dt) {
    std::normal_distribution<float> nd(0.0f, scale);
    std::vector<float> v(n);
    for (auto &x : v) x = nd(rng);
    quantize(v, dt);
    return v;
}

std::vector<int32_t> starts_of(const std::vector<int> &lengths) {
    std::vector<int32_t> s(1, 0);
    for (int n : lengths) s.push_back(s.back() + n);
    return s;
}

// Compare with the op's tolerance (expect_close.h: NaN and Inf fail, and are
// reported first).
void expect_close(const std::vector<float> &got, const std::vector<float> &want, Tol tol, const std::string &what) {
    EXPECT_CLOSE(got, want, tol.atol, tol.rtol) << what << " (" << tol.why << "; unwritten elements stay NaN)";
}

// ---- the table -------------------------------------------------------------------

const std::vector<std::vector<int>> kBatches = {{1}, {7}, {128}, {129}, {512}, {1, 7, 128, 129, 512}};

std::string batch_name(const std::vector<int> &l) {
    if (l.size() == 1) return "len" + std::to_string(l[0]);
    return "mixed";
}

std::vector<Case> all_cases() {
    std::vector<Case> cases;
    const encore_cuda_dtype dts[] = {ENCORE_CUDA_F32, ENCORE_CUDA_F16, ENCORE_CUDA_BF16};
    for (encore_cuda_dtype dt : dts) {
        const std::string d = encore_cuda_dtype_name(dt);
        for (const auto &b : kBatches) {
            const std::string bn = batch_name(b);
            cases.push_back({Op::Embed, dt, b, 768, 0, 0, 0, {}, 1.0f, "embed_" + d + "_" + bn + "_C768"});
            cases.push_back({Op::LayerNorm, dt, b, 768, 0, 0, 0, {}, 1.0f, "layernorm_" + d + "_" + bn + "_C768"});
            cases.push_back({Op::BiasAct, dt, b, 3072, 0, 0, ENCORE_ACTIVATION_GELU, {}, 1.0f,
                             "gelu_" + d + "_" + bn + "_N3072"});
            // DistilBERT/BERT-base heads (D 64), MiniLM's (D 32), D 128, and the
            // fixtures' (D 8, SIMT only), on every attention kernel that takes them.
            const struct { int C, H; } shapes[] = {{768, 12}, {384, 12}, {256, 2}, {32, 4}};
            for (auto s : shapes) {
                for (encore_attention_impl impl : {ENCORE_ATTENTION_SIMT, ENCORE_ATTENTION_TENSOR}) {
                    if (!encore_attention_cuda_supports(impl, s.C / s.H, dt)) continue;
                    if (s.C == 256 && b.size() == 1 && b[0] != 129) continue;  // D 128: the mixed batch and one odd length
                    cases.push_back({Op::Attention, dt, b, s.C, s.H, 0, 0, impl, 1.0f,
                                     "attention_" + std::string(impl == ENCORE_ATTENTION_SIMT ? "simt_" : "tc_") + d +
                                         "_" + bn + "_H" + std::to_string(s.H) + "D" + std::to_string(s.C / s.H)});
                }
            }
            cases.push_back({Op::Pool, dt, b, 768, 0, 0, ENCORE_POOLING_MEAN, {}, 1.0f, "pool_mean_" + d + "_" + bn});
        }
        // Odd widths take the scalar (non-vector) paths.
        const std::vector<int> mixed = kBatches.back();
        cases.push_back({Op::Embed, dt, mixed, 100, 0, 0, 1, {}, 1.0f, "embed_" + d + "_mixed_C100_notype"});
        cases.push_back({Op::LayerNorm, dt, mixed, 100, 0, 0, 0, {}, 1.0f, "layernorm_" + d + "_mixed_C100"});
        cases.push_back({Op::LayerNorm, dt, mixed, 32, 0, 0, 0, {}, 1.0f, "layernorm_" + d + "_mixed_C32"});
        // Rows held in registers, 1 to 8 pieces per lane (MiniLM's 384, BERT-large's
        // 1,024, 2,048), and rows past that through shared memory (4,096 in fp16,
        // 2,048 in fp32).
        for (int C : {384, 1024, 2048, 4096})
            cases.push_back({Op::LayerNorm, dt, mixed, C, 0, 0, 0, {}, 1.0f,
                             "layernorm_" + d + "_mixed_C" + std::to_string(C)});
        // DeBERTa's disentangled attention (head size 64, as deberta-v3's), on
        // each kernel that takes the dtype; each term alone in fp32.
        for (encore_attention_impl impl : {ENCORE_ATTENTION_SIMT, ENCORE_ATTENTION_TENSOR}) {
            if (!encore_attention_cuda_supports(impl, 64, dt)) continue;
            const std::string in = impl == ENCORE_ATTENTION_SIMT ? "simt_" : "tc_";
            cases.push_back({Op::AttentionDis, dt, mixed, 128, 2, 0, 3, impl, 1.0f,
                             "attention_dis_" + in + d + "_mixed_H2D64"});
            if (dt == ENCORE_CUDA_F32)
                for (int v : {1, 2})
                    cases.push_back({Op::AttentionDis, dt, mixed, 128, 2, 0, v, impl, 1.0f,
                                     "attention_dis_" + in + d + "_mixed_H2D64_" + (v == 1 ? "c2p" : "p2c")});
        }
        for (int act : {ENCORE_ACTIVATION_GELU, ENCORE_ACTIVATION_GELU_TANH, ENCORE_ACTIVATION_RELU,
                        ENCORE_ACTIVATION_SILU})
            cases.push_back({Op::BiasAct, dt, mixed, 37, 0, 0, act, {}, 3.0f,
                             "bias_act" + std::to_string(act) + "_" + d + "_mixed_N37"});
        // Large inputs: the softmax sees scores in the hundreds.
        for (encore_attention_impl impl : {ENCORE_ATTENTION_SIMT, ENCORE_ATTENTION_TENSOR})
            if (encore_attention_cuda_supports(impl, 64, dt))
                cases.push_back({Op::Attention, dt, mixed, 768, 12, 0, 0, impl, 4.0f,
                                 "attention_" + std::string(impl == ENCORE_ATTENTION_SIMT ? "simt_" : "tc_") + d +
                                     "_mixed_H12D64_extreme"});
        // A graph-shaped launch: more blocks than tiles (variant = spare
        // tiles); the spare blocks must leave every output row alone. The
        // kernels' early exit only saves their work: the contract this holds
        // is that no spare block writes or reads out of bounds (the
        // emulation's ASan run sees that).
        for (encore_attention_impl impl : {ENCORE_ATTENTION_SIMT, ENCORE_ATTENTION_TENSOR})
            if (encore_attention_cuda_supports(impl, 32, dt))
                cases.push_back({Op::Attention, dt, mixed, 384, 12, 0, 9, impl, 1.0f,
                                 "attention_" + std::string(impl == ENCORE_ATTENTION_SIMT ? "simt_" : "tc_") + d +
                                     "_mixed_H12D32_spare_tiles"});
        // MPNet's relative position bias (variant 100): all-mpnet-base's
        // heads (D 64) and D 32, on every kernel that takes them.
        for (int C : {768, 384})
            for (encore_attention_impl impl : {ENCORE_ATTENTION_SIMT, ENCORE_ATTENTION_TENSOR})
                if (encore_attention_cuda_supports(impl, C / 12, dt))
                    cases.push_back({Op::Attention, dt, mixed, C, 12, 0, 100, impl, 1.0f,
                                     "attention_" + std::string(impl == ENCORE_ATTENTION_SIMT ? "simt_" : "tc_") + d +
                                         "_mixed_H12D" + std::to_string(C / 12) + "_relative_bias"});
        cases.push_back({Op::Pool, dt, mixed, 768, 0, 0, ENCORE_POOLING_CLS, {}, 1.0f, "pool_cls_" + d + "_mixed"});
        cases.push_back({Op::Pool, dt, mixed, 768, 0, 0, ENCORE_POOLING_MEAN + 10, {}, 1.0f,
                         "pool_mean_normalized_" + d + "_mixed"});
        cases.push_back({Op::Pool, dt, mixed, 768, 0, 0, ENCORE_POOLING_CLS + 10, {}, 1.0f,
                         "pool_cls_normalized_" + d + "_mixed"});
        for (const auto &b : kBatches) {
            cases.push_back({Op::Linear, dt, b, 2304, 0, 768, 0, {}, 1.0f, "linear_" + d + "_" + batch_name(b) + "_qkv"});
        }
        cases.push_back({Op::Linear, dt, kBatches.back(), 37, 0, 32, 0, {}, 1.0f, "linear_" + d + "_mixed_N37K32"});
        // The QKV projection with its bias as the epilogue: bias rows, then the GEMM adds to them.
        cases.push_back({Op::LinearBias, dt, {129}, 2304, 0, 768, 0, {}, 1.0f, "linear_bias_" + d + "_len129_qkv"});
        cases.push_back({Op::LinearBias, dt, kBatches.back(), 37, 0, 32, 0, {}, 1.0f,
                         "linear_bias_" + d + "_mixed_N37K32"});
        // Each sequence's first row gathered and scattered back, as the
        // first-only last layer does; C 100 is not a multiple of a warp.
        for (int C : {768, 100})
            cases.push_back({Op::CopyRows, dt, kBatches.back(), C, 0, 0, 0, {}, 1.0f,
                             "copy_rows_" + d + "_mixed_C" + std::to_string(C)});
    }
    for (int act : {ENCORE_HEAD_ACT_TANH, ENCORE_HEAD_ACT_RELU, ENCORE_HEAD_ACT_GELU})
        cases.push_back({Op::HeadAct, ENCORE_CUDA_F32, {1, 7, 128}, 768, 0, 0, act, {}, 2.0f,
                         act == ENCORE_HEAD_ACT_RELU   ? "head_act_relu"
                         : act == ENCORE_HEAD_ACT_GELU ? "head_act_gelu"
                                                       : "head_act_tanh"});
    for (int fn : {ENCORE_SCORE_FUNCTION_SOFTMAX, ENCORE_SCORE_FUNCTION_SIGMOID, ENCORE_SCORE_FUNCTION_NONE})
        for (int L : {1, 2, 3, 40, 1023, 1024, 1031, 30522})  // from 1024 one block a row
            cases.push_back({Op::Scores, ENCORE_CUDA_F32, {1, 7, 128, 129, 512}, L, 0, 0, fn, {}, 5.0f,
                             "scores" + std::to_string(fn) + "_L" + std::to_string(L)});
    return cases;
}

class CudaOps : public ::testing::TestWithParam<Case> {
  protected:
    void SetUp() override {
        char why[256];
        if (!encore_cuda_probe(0, why, sizeof why)) GTEST_SKIP() << "no usable CUDA device: " << why;
        ASSERT_EQ(cudaSetDevice(0), cudaSuccess);
        ASSERT_EQ(encore_kernels_cuda_prepare(), ENCORE_STATUS_OK) << encore_last_error();
    }
};

void run_embed(const Case &c, std::mt19937 &rng) {
    const auto start = starts_of(c.lengths);
    const int T = start.back(), C = c.C, V = 97, P = 512, NT = 2;
    std::vector<int32_t> ids(T), types(T), pos(T);
    std::uniform_int_distribution<int> vid(0, V - 1);
    for (size_t s = 0; s + 1 < start.size(); s++)
        for (int t = start[s]; t < start[s + 1]; t++) {
            ids[t] = vid(rng);
            types[t] = (t - start[s]) % NT;
            pos[t] = t - start[s];
        }
    // Tables and LayerNorm parameters are fp32 on the device.
    auto word = randn((size_t)V * C, rng, 1.0f, ENCORE_CUDA_F32), posv = randn((size_t)P * C, rng, 0.5f, ENCORE_CUDA_F32);
    auto type = randn((size_t)NT * C, rng, 0.5f, ENCORE_CUDA_F32);
    auto gamma = randn(C, rng, 1.0f, ENCORE_CUDA_F32), beta = randn(C, rng, 1.0f, ENCORE_CUDA_F32);
    const bool no_type = c.variant == 1;
    std::vector<float> want((size_t)T * C);
    encore_embed_cpu(ids.data(), types.data(), pos.data(), T, C, word.data(), posv.data(), no_type ? nullptr : type.data(),
                     gamma.data(), beta.data(), 1e-12f, want.data());
    Dev d_ids(T * 4), d_types(T * 4), d_pos(T * 4), d_word(word.size() * 4), d_posv(posv.size() * 4),
        d_type(type.size() * 4), d_g(C * 4), d_b(C * 4), d_out((size_t)T * C * esize(c.dt));
    upload_ints(d_ids, ids);
    upload_ints(d_types, types);
    upload_ints(d_pos, pos);
    upload(d_word, word, ENCORE_CUDA_F32);
    upload(d_posv, posv, ENCORE_CUDA_F32);
    upload(d_type, type, ENCORE_CUDA_F32);
    upload(d_g, gamma, ENCORE_CUDA_F32);
    upload(d_b, beta, ENCORE_CUDA_F32);
    d_out.poison();
    ASSERT_EQ(encore_embed_cuda(d_ids.as<int32_t>(), d_types.as<int32_t>(), d_pos.as<int32_t>(), T, C, d_word.as<float>(),
                                d_posv.as<float>(), no_type ? nullptr : d_type.as<float>(), d_g.as<float>(),
                                d_b.as<float>(), 1e-12f, c.dt, d_out.p, nullptr),
              ENCORE_STATUS_OK)
        << encore_last_error();
    ASSERT_EQ(cudaDeviceSynchronize(), cudaSuccess);
    expect_close(download(d_out, want.size(), c.dt), want, tolerance(c.op, c.dt, c.impl), c.name);
}

void run_layernorm(const Case &c, std::mt19937 &rng) {
    const int T = starts_of(c.lengths).back(), C = c.C;
    auto x = randn((size_t)T * C, rng, 2.0f, c.dt), res = randn((size_t)T * C, rng, 2.0f, c.dt);
    auto bias = randn(C, rng, 1.0f, ENCORE_CUDA_F32), gamma = randn(C, rng, 1.0f, ENCORE_CUDA_F32),
         beta = randn(C, rng, 1.0f, ENCORE_CUDA_F32);
    std::vector<float> want = x;
    encore_bias_residual_layernorm_cpu(want.data(), bias.data(), res.data(), gamma.data(), beta.data(), 1e-5f, T, C);
    Dev d_x(x.size() * esize(c.dt)), d_res(res.size() * esize(c.dt)), d_bias(C * 4), d_g(C * 4), d_b(C * 4);
    upload(d_x, x, c.dt);
    upload(d_res, res, c.dt);
    upload(d_bias, bias, ENCORE_CUDA_F32);
    upload(d_g, gamma, ENCORE_CUDA_F32);
    upload(d_b, beta, ENCORE_CUDA_F32);
    ASSERT_EQ(encore_bias_residual_layernorm_cuda(d_x.p, d_bias.as<float>(), d_res.p, d_g.as<float>(), d_b.as<float>(),
                                                  1e-5f, T, C, c.dt, nullptr),
              ENCORE_STATUS_OK)
        << encore_last_error();
    ASSERT_EQ(cudaDeviceSynchronize(), cudaSuccess);
    expect_close(download(d_x, want.size(), c.dt), want, tolerance(c.op, c.dt, c.impl), c.name);
}

void run_bias_act(const Case &c, std::mt19937 &rng) {
    const int T = starts_of(c.lengths).back(), N = c.C;
    auto x = randn((size_t)T * N, rng, c.scale, c.dt), bias = randn(N, rng, 1.0f, ENCORE_CUDA_F32);
    std::vector<float> want = x;
    encore_bias_act_cpu(want.data(), bias.data(), (encore_activation)c.variant, T, N);
    Dev d_x(x.size() * esize(c.dt)), d_bias(N * 4);
    upload(d_x, x, c.dt);
    upload(d_bias, bias, ENCORE_CUDA_F32);
    ASSERT_EQ(encore_bias_act_cuda(d_x.p, d_bias.as<float>(), (encore_activation)c.variant, T, N, c.dt, nullptr),
              ENCORE_STATUS_OK)
        << encore_last_error();
    ASSERT_EQ(cudaDeviceSynchronize(), cudaSuccess);
    expect_close(download(d_x, want.size(), c.dt), want, tolerance(c.op, c.dt, c.impl), c.name);
}

// Attention in double: the exact answer the fp32 cases are held to.
std::vector<float> attention_exact(const std::vector<float> &qkv, const std::vector<int32_t> &start, int H, int D,
                                   const encore_attention_rel *rel) {
    const int C = H * D, T = start.back();
    std::vector<float> out((size_t)T * C);
    std::vector<double> p;
    for (size_t b = 0; b + 1 < start.size(); b++) {
        const int s0 = start[b], n = start[b + 1] - s0;
        p.resize(n);
        for (int h = 0; h < H; h++)
            for (int i = 0; i < n; i++) {
                const float *q = &qkv[(size_t)(s0 + i) * 3 * C + h * D];
                double mx = -INFINITY, sum = 0;
                for (int j = 0; j < n; j++) {
                    const float *k = &qkv[(size_t)(s0 + j) * 3 * C + C + h * D];
                    double dot = 0;
                    for (int d = 0; d < D; d++) dot += (double)q[d] * k[d];
                    p[j] = dot / std::sqrt((double)D);
                    if (rel) p[j] += encore_attention_rel_row(rel, h)[j - i];
                    mx = std::max(mx, p[j]);
                }
                for (int j = 0; j < n; j++) sum += (p[j] = std::exp(p[j] - mx));
                for (int d = 0; d < D; d++) {
                    double o = 0;
                    for (int j = 0; j < n; j++) o += p[j] * qkv[(size_t)(s0 + j) * 3 * C + 2 * C + h * D + d];
                    out[(size_t)(s0 + i) * C + h * D + d] = (float)(o / sum);
                }
            }
    }
    return out;
}

void run_attention(const Case &c, std::mt19937 &rng) {
    const auto start = starts_of(c.lengths);
    const int T = start.back(), B = (int)c.lengths.size(), C = c.C, H = c.H, D = C / H;
    auto qkv = randn((size_t)T * 3 * C, rng, c.scale, c.dt);
    auto bias = randn(3 * C, rng, 0.5f * c.scale, ENCORE_CUDA_F32);
    // The CPU twin takes the bias already added. The SIMT kernel adds it on
    // load in fp32, to the same rounded values; the tensor-core kernel stages
    // q, k and v + bias in the 16-bit dtype, its operand type, so its twin
    // sees them rounded so too (the forward pass adds the bias in the QKV
    // GEMM instead, so that nothing is rounded twice).
    std::vector<float> biased = qkv;
    for (int t = 0; t < T; t++)
        for (int j = 0; j < 3 * C; j++) biased[(size_t)t * 3 * C + j] += bias[j];
    const bool tc = c.impl == ENCORE_ATTENTION_TENSOR ||
                    (c.impl == ENCORE_ATTENTION_AUTO && encore_attention_cuda_supports(ENCORE_ATTENTION_TENSOR, D, c.dt));
    if (tc) quantize(biased, c.dt);
    int max_len = 0;
    for (int n : c.lengths) max_len = std::max(max_len, n);
    // variant >= 100: a relative position bias (MPNet's), random per head
    // and distance, spanning a few more tokens than the longest sequence.
    const int span = max_len + 3;
    const std::vector<float> table =
        c.variant >= 100 ? randn((size_t)H * (2 * span - 1), rng, 2.0f, ENCORE_CUDA_F32) : std::vector<float>();
    const encore_attention_rel rel{table.data(), span};
    const encore_attention_rel *relp = c.variant >= 100 ? &rel : nullptr;
    std::vector<float> scratch(encore_attention_scratch_floats(omp_get_max_threads(), max_len, D)), want((size_t)T * C);
    encore_attention_cpu(biased.data(), start.data(), B, H, D, relp, scratch.data(), max_len, want.data());
    std::vector<int32_t> tiles(B + 1);
    const int n_tiles = encore_attention_tiles(start.data(), B, ENCORE_ATTENTION_TILE_Q, tiles.data());
    Dev d_qkv(qkv.size() * esize(c.dt)), d_bias(3 * C * 4), d_start((B + 1) * 4), d_tiles((B + 1) * 4),
        d_out((size_t)T * C * esize(c.dt)), d_rel(std::max<size_t>(table.size(), 1) * 4);
    upload(d_qkv, qkv, c.dt);
    upload(d_bias, bias, ENCORE_CUDA_F32);
    if (relp) upload(d_rel, table, ENCORE_CUDA_F32);
    upload_ints(d_start, start);
    upload_ints(d_tiles, tiles);
    d_out.poison();
    // variant: spare blocks launched past the last tile, as a padded graph shape does.
    ASSERT_EQ(encore_attention_cuda(d_qkv.p, d_bias.as<float>(), relp ? d_rel.as<float>() : nullptr, span,
                                    d_start.as<int32_t>(), d_tiles.as<int32_t>(), n_tiles + c.variant % 100, B, H, D,
                                    c.impl, c.dt, d_out.p, nullptr),
              ENCORE_STATUS_OK)
        << encore_last_error();
    ASSERT_EQ(cudaDeviceSynchronize(), cudaSuccess);
    Tol tol = tolerance(c.op, c.dt, c.impl);
    if (c.dt == ENCORE_CUDA_F32) {
        // fp32 rounding of the scores grows with their size (hundreds in the
        // extreme cases) in both implementations alike. Hold the kernel to the
        // exact (double) answer: as close as the CPU twin gets, twice over,
        // plus the stated tolerance.
        const std::vector<float> exact = attention_exact(biased, start, H, D, relp);
        double cpu_err = 0;
        for (size_t i = 0; i < exact.size(); i++) cpu_err = std::max(cpu_err, (double)std::fabs(want[i] - exact[i]));
        tol.atol += 2 * cpu_err;
        expect_close(download(d_out, want.size(), c.dt), exact, tol, c.name + " (against double)");
        return;
    }
    expect_close(download(d_out, want.size(), c.dt), want, tol, c.name);
}

// DeBERTa's disentangled attention: the c2p and p2c tables of every token
// against every row (encore_heads_by_table_cuda), then
// encore_attention_dis_cuda. CPU twin: encore_attention_dis_cpu over the same
// queries, keys and position projections, rounded to dt alike. Log buckets
// as deberta-v3 has them, scaled down (16 of them over 64 positions); the
// longer sequences' far pairs share the last rows. variant: 1 c2p, 2 p2c,
// 3 both.
void run_attention_dis(const Case &c, std::mt19937 &rng) {
    const auto start = starts_of(c.lengths);
    const int T = start.back(), B = (int)c.lengths.size(), C = c.C, H = c.H, D = C / H;
    int max_len = 0;
    for (int n : c.lengths) max_len = std::max(max_len, n);
    const int span = 16, R = 2 * span, P = max_len + 3;
    const bool use_c2p = c.variant & 1, use_p2c = c.variant & 2;
    auto qkv = randn((size_t)T * 3 * C, rng, c.scale, c.dt);
    auto pos = randn((size_t)2 * H * R * D, rng, c.scale, c.dt);  // (2, H, R, D): pos_k, pos_q, as on the device
    std::vector<float> pos_t(pos.size());                          // (2, H, D, R): the CPU's
    for (int k = 0; k < 2 * H; k++)
        for (int r = 0; r < R; r++)
            for (int d = 0; d < D; d++) pos_t[((size_t)k * D + d) * R + r] = pos[((size_t)k * R + r) * D + d];
    std::vector<int32_t> index(2 * (size_t)P - 1);
    for (int d = -(P - 1); d <= P - 1; d++)
        index[d + P - 1] = std::min(std::max(encore_deberta_bucket(d, span, 64) + span, 0), R - 1);
    const float scale = 1.0f / std::sqrt((float)D * (float)(1 + use_c2p + use_p2c));
    const encore_attention_dis dis = {use_p2c ? pos_t.data() + (size_t)H * D * R : nullptr,
                                      use_c2p ? pos_t.data() : nullptr, index.data(), P - 1, span, scale};
    std::vector<float> scratch(encore_attention_dis_scratch_floats(omp_get_max_threads(), max_len, D, span)),
        want((size_t)T * C);
    encore_attention_dis_cpu(qkv.data(), start.data(), B, H, D, &dis, scratch.data(), max_len, want.data());

    const encore_blas *blas = nullptr;
    ASSERT_EQ(encore_blas_load(&blas), ENCORE_STATUS_OK) << encore_last_error();
    cublasHandle_t handle = nullptr;
    ASSERT_EQ(encore_blas_handle_create(blas, &handle), ENCORE_STATUS_OK) << encore_last_error();
    std::vector<int32_t> tiles(B + 1);
    const int n_tiles = encore_attention_tiles(start.data(), B, ENCORE_ATTENTION_TILE_Q, tiles.data());
    const size_t e = esize(c.dt), table = (size_t)H * T * R;
    Dev d_qkv(qkv.size() * e), d_pos(pos.size() * e), d_index(index.size() * 4), d_c2p(table * 4), d_p2c(table * 4),
        d_start((B + 1) * 4), d_tiles((B + 1) * 4), d_out((size_t)T * C * e);
    upload(d_qkv, qkv, c.dt);
    upload(d_pos, pos, c.dt);
    upload_ints(d_index, index);
    upload_ints(d_start, start);
    upload_ints(d_tiles, tiles);
    d_c2p.poison();
    d_p2c.poison();
    d_out.poison();
    encore_status st = ENCORE_STATUS_OK;
    if (use_c2p)  // queries against pos_k
        st = encore_heads_by_table_cuda(blas, handle, d_qkv.p, 3 * C, d_pos.p, T, H, D, R, c.dt, d_c2p.as<float>());
    if (st == ENCORE_STATUS_OK && use_p2c)  // keys against pos_q
        st = encore_heads_by_table_cuda(blas, handle, static_cast<unsigned char *>(d_qkv.p) + C * e, 3 * C,
                                        static_cast<unsigned char *>(d_pos.p) + (size_t)H * R * D * e, T, H, D, R,
                                        c.dt, d_p2c.as<float>());
    if (st == ENCORE_STATUS_OK)
        st = encore_attention_dis_cuda(d_qkv.p, use_c2p ? d_c2p.as<float>() : nullptr,
                                       use_p2c ? d_p2c.as<float>() : nullptr, d_index.as<int32_t>(), P - 1, R, T,
                                       scale, d_start.as<int32_t>(), d_tiles.as<int32_t>(), n_tiles, B, H, D, c.impl,
                                       c.dt, d_out.p, nullptr);
    EXPECT_EQ(cudaDeviceSynchronize(), cudaSuccess);
    blas->destroy(handle);
    ASSERT_EQ(st, ENCORE_STATUS_OK) << encore_last_error();
    expect_close(download(d_out, want.size(), c.dt), want, tolerance(c.op, c.dt, c.impl), c.name);
}

void run_pool(const Case &c, std::mt19937 &rng) {
    const auto start = starts_of(c.lengths);
    const int T = start.back(), B = (int)c.lengths.size(), C = c.C;
    const int normalize = c.variant >= 10;
    const encore_pooling pooling = (encore_pooling)(c.variant % 10);
    auto hidden = randn((size_t)T * C, rng, 1.0f, c.dt);
    encore_batch b{};
    b.B = B;
    b.T = T;
    std::vector<int32_t> st = start;
    b.seq_start = st.data();
    std::vector<float> want((size_t)B * C);
    encore_pool_cpu(&b, hidden.data(), C, pooling, normalize, want.data());
    Dev d_h(hidden.size() * esize(c.dt)), d_start((B + 1) * 4), d_out((size_t)B * C * 4);
    upload(d_h, hidden, c.dt);
    upload_ints(d_start, start);
    d_out.poison();
    ASSERT_EQ(encore_pool_cuda(d_h.p, d_start.as<int32_t>(), B, C, pooling, normalize, c.dt, d_out.as<float>(), nullptr),
              ENCORE_STATUS_OK)
        << encore_last_error();
    ASSERT_EQ(cudaDeviceSynchronize(), cudaSuccess);
    // The output is fp32 whatever the input dtype: the fp32 tolerance applies.
    expect_close(download(d_out, want.size(), ENCORE_CUDA_F32), want, tolerance(c.op, ENCORE_CUDA_F32, c.impl), c.name);
}

void run_head_act(const Case &c, std::mt19937 &rng) {
    const int B = (int)c.lengths.size(), N = c.C;
    auto x = randn((size_t)B * N, rng, c.scale, ENCORE_CUDA_F32), bias = randn(N, rng, 1.0f, ENCORE_CUDA_F32);
    std::vector<float> want = x;
    for (int i = 0; i < B * N; i++) {
        const float v = want[i] + bias[i % N];
        want[i] = c.variant == ENCORE_HEAD_ACT_RELU ? (v > 0.0f ? v : 0.0f)
                  : c.variant == ENCORE_HEAD_ACT_GELU ? v
                                                      : tanhf(v);
    }
    // ELECTRA's head: the encoder's GELU on the CPU (encore_head_cpu)
    if (c.variant == ENCORE_HEAD_ACT_GELU) encore_act_block_cpu(want.data(), (size_t)N, B, N, ENCORE_ACTIVATION_GELU);
    Dev d_x(x.size() * 4), d_bias(N * 4);
    upload(d_x, x, ENCORE_CUDA_F32);
    upload(d_bias, bias, ENCORE_CUDA_F32);
    ASSERT_EQ(encore_head_act_cuda(d_x.as<float>(), d_bias.as<float>(), B, N, (encore_head_act)c.variant, nullptr),
              ENCORE_STATUS_OK);
    ASSERT_EQ(cudaDeviceSynchronize(), cudaSuccess);
    expect_close(download(d_x, x.size(), ENCORE_CUDA_F32), want, tolerance(c.op, c.dt, c.impl), c.name);
}

void run_scores(const Case &c, std::mt19937 &rng) {
    const int B = (int)c.lengths.size(), L = c.C;
    auto x = randn((size_t)B * L, rng, c.scale, ENCORE_CUDA_F32), bias = randn(L, rng, 1.0f, ENCORE_CUDA_F32);
    std::vector<float> want = x;
    for (int i = 0; i < B * L; i++) want[i] += bias[i % L];
    if (L < 1024) {
        encore_scores_cpu(want.data(), B, L, (encore_score_function)c.variant);
    } else {
        // Vocabulary-wide rows: the CPU twin adds L exponentials one after the
        // other in fp32, itself off by up to ~L ulps of the sum (3e-5 at L =
        // 30522), so both sides are held to the same function in double.
        for (int b = 0; b < B; b++) {
            float *r = want.data() + (size_t)b * L;
            if (c.variant == ENCORE_SCORE_FUNCTION_SIGMOID) {
                for (int i = 0; i < L; i++) r[i] = (float)(1.0 / (1.0 + std::exp(-(double)r[i])));
            } else if (c.variant == ENCORE_SCORE_FUNCTION_SOFTMAX) {
                double mx = r[0], sum = 0.0;
                for (int i = 1; i < L; i++) mx = std::max(mx, (double)r[i]);
                for (int i = 0; i < L; i++) sum += std::exp((double)r[i] - mx);
                for (int i = 0; i < L; i++) r[i] = (float)(std::exp((double)r[i] - mx) / sum);
            }
        }
    }
    Dev d_x(x.size() * 4), d_bias(L * 4);
    upload(d_x, x, ENCORE_CUDA_F32);
    upload(d_bias, bias, ENCORE_CUDA_F32);
    ASSERT_EQ(encore_scores_cuda(d_x.as<float>(), d_bias.as<float>(), B, L, (encore_score_function)c.variant, nullptr),
              ENCORE_STATUS_OK);
    ASSERT_EQ(cudaDeviceSynchronize(), cudaSuccess);
    expect_close(download(d_x, x.size(), ENCORE_CUDA_F32), want, tolerance(c.op, c.dt, c.impl), c.name);
}

void run_linear(const Case &c, std::mt19937 &rng) {
    const int T = starts_of(c.lengths).back(), N = c.C, K = c.K;
    // Spread 1/sqrt(K) keeps the outputs near 1, where the tolerances are stated.
    auto x = randn((size_t)T * K, rng, 1.0f, c.dt), w = randn((size_t)N * K, rng, 1.0f / std::sqrt((float)K), c.dt);
    std::vector<float> want((size_t)T * N);
    encore_blas_linear(x.data(), w.data(), nullptr, T, N, K, want.data());
    const encore_blas *blas = nullptr;
    ASSERT_EQ(encore_blas_load(&blas), ENCORE_STATUS_OK) << encore_last_error();
    cublasHandle_t handle = nullptr;
    ASSERT_EQ(encore_blas_handle_create(blas, &handle), ENCORE_STATUS_OK) << encore_last_error();
    Dev d_x(x.size() * esize(c.dt)), d_w(w.size() * esize(c.dt)), d_out(want.size() * esize(c.dt));
    upload(d_x, x, c.dt);
    upload(d_w, w, c.dt);
    d_out.poison();
    const encore_status st = encore_linear_cuda(blas, handle, d_x.p, d_w.p, T, N, K, c.dt, d_out.p);
    EXPECT_EQ(cudaDeviceSynchronize(), cudaSuccess);
    blas->destroy(handle);
    ASSERT_EQ(st, ENCORE_STATUS_OK) << encore_last_error();
    expect_close(download(d_out, want.size(), c.dt), want, tolerance(c.op, c.dt, c.impl), c.name);
}

// encore_bias_rows_cuda, then encore_linear_accumulate_cuda: x W^T + bias,
// the bias rounded to dt when written (as a 16-bit model stores it), the sum
// rounded once. CPU twin: encore_blas_linear with that bias.
void run_linear_bias(const Case &c, std::mt19937 &rng) {
    const int T = starts_of(c.lengths).back(), N = c.C, K = c.K;
    auto x = randn((size_t)T * K, rng, 1.0f, c.dt), w = randn((size_t)N * K, rng, 1.0f / std::sqrt((float)K), c.dt);
    auto bias = randn(N, rng, 1.0f, ENCORE_CUDA_F32);
    std::vector<float> rounded = bias;
    quantize(rounded, c.dt);
    std::vector<float> want((size_t)T * N);
    encore_blas_linear(x.data(), w.data(), rounded.data(), T, N, K, want.data());
    const encore_blas *blas = nullptr;
    ASSERT_EQ(encore_blas_load(&blas), ENCORE_STATUS_OK) << encore_last_error();
    cublasHandle_t handle = nullptr;
    ASSERT_EQ(encore_blas_handle_create(blas, &handle), ENCORE_STATUS_OK) << encore_last_error();
    Dev d_x(x.size() * esize(c.dt)), d_w(w.size() * esize(c.dt)), d_b(N * 4), d_out(want.size() * esize(c.dt));
    upload(d_x, x, c.dt);
    upload(d_w, w, c.dt);
    upload(d_b, bias, ENCORE_CUDA_F32);
    d_out.poison();
    encore_status st = encore_bias_rows_cuda(d_out.p, d_b.as<float>(), T, N, c.dt, nullptr);
    if (st == ENCORE_STATUS_OK) st = encore_linear_accumulate_cuda(blas, handle, d_x.p, d_w.p, T, N, K, c.dt, d_out.p);
    EXPECT_EQ(cudaDeviceSynchronize(), cudaSuccess);
    blas->destroy(handle);
    ASSERT_EQ(st, ENCORE_STATUS_OK) << encore_last_error();
    expect_close(download(d_out, want.size(), c.dt), want, tolerance(c.op, c.dt, c.impl), c.name);
}

// encore_copy_rows_cuda: the first row of each sequence gathered (src_rows
// = seq_start), then scattered back into a NaN-poisoned matrix (dst_rows =
// seq_start). Both bit for bit; the scatter writes those rows and no other.
// CPU twin: the row moves of gather_first / scatter_first.
void run_copy_rows(const Case &c, std::mt19937 &rng) {
    const std::vector<int32_t> starts = starts_of(c.lengths);
    const int T = starts.back(), B = (int)c.lengths.size(), C = c.C;
    const auto x = randn((size_t)T * C, rng, 1.0f, c.dt);
    Dev d_x(x.size() * esize(c.dt)), d_rows(starts.size() * 4), d_first((size_t)B * C * esize(c.dt)),
        d_back(x.size() * esize(c.dt));
    upload(d_x, x, c.dt);
    upload_ints(d_rows, starts);
    d_first.poison();
    d_back.poison();
    encore_status st = encore_copy_rows_cuda(d_x.p, d_rows.as<int32_t>(), d_first.p, nullptr, B, C, c.dt, nullptr);
    if (st == ENCORE_STATUS_OK)
        st = encore_copy_rows_cuda(d_first.p, nullptr, d_back.p, d_rows.as<int32_t>(), B, C, c.dt, nullptr);
    EXPECT_EQ(cudaDeviceSynchronize(), cudaSuccess);
    ASSERT_EQ(st, ENCORE_STATUS_OK) << encore_last_error();
    const std::vector<float> first = download(d_first, (size_t)B * C, c.dt), back = download(d_back, x.size(), c.dt);
    std::vector<char> kept(T, 0);
    for (int s = 0; s < B; s++) {
        kept[starts[s]] = 1;
        EXPECT_EQ(std::memcmp(&first[(size_t)s * C], &x[(size_t)starts[s] * C], (size_t)C * sizeof(float)), 0)
            << c.name << ": gathered row " << s;
    }
    for (int t = 0; t < T; t++)
        for (int i = 0; i < C; i++) {
            const float v = back[(size_t)t * C + i];
            if (kept[t])
                ASSERT_EQ(std::memcmp(&v, &x[(size_t)t * C + i], sizeof v), 0) << c.name << ": row " << t << ", " << i;
            else
                ASSERT_TRUE(std::isnan(v)) << c.name << ": row " << t << " is not a first row but was written";
        }
}

TEST_P(CudaOps, MatchesTheCpuTwin) {
    const Case &c = GetParam();
    std::mt19937 rng((unsigned)std::hash<std::string>()(c.name));  // fresh, reproducible inputs per case
    switch (c.op) {
    case Op::Embed: run_embed(c, rng); break;
    case Op::LayerNorm: run_layernorm(c, rng); break;
    case Op::BiasAct: run_bias_act(c, rng); break;
    case Op::Attention: run_attention(c, rng); break;
    case Op::AttentionDis: run_attention_dis(c, rng); break;
    case Op::Pool: run_pool(c, rng); break;
    case Op::HeadAct: run_head_act(c, rng); break;
    case Op::Scores: run_scores(c, rng); break;
    case Op::Linear: run_linear(c, rng); break;
    case Op::LinearBias: run_linear_bias(c, rng); break;
    case Op::CopyRows: run_copy_rows(c, rng); break;
    }
    EXPECT_EQ(cudaGetLastError(), cudaSuccess);
}

INSTANTIATE_TEST_SUITE_P(Table, CudaOps, ::testing::ValuesIn(all_cases()),
                         [](const ::testing::TestParamInfo<Case> &i) { return i.param.name; });

// Arguments a launcher must refuse before touching the device.
TEST(CudaOpsArguments, BadArgumentsAreStatusesNotCrashes) {
    char why[256];
    if (!encore_cuda_probe(0, why, sizeof why)) GTEST_SKIP() << "no usable CUDA device: " << why;
    float dummy = 0.0f;
    EXPECT_EQ(encore_attention_cuda(&dummy, nullptr, nullptr, 0, nullptr, nullptr, 1, 1, 1, 64, ENCORE_ATTENTION_AUTO,
                                    ENCORE_CUDA_F16, &dummy, nullptr),
              ENCORE_STATUS_INVALID_ARGUMENT);
    int32_t *fake = reinterpret_cast<int32_t *>(&dummy);
    EXPECT_EQ(encore_attention_cuda(&dummy, nullptr, nullptr, 0, fake, fake, 1, 1, 1, 256, ENCORE_ATTENTION_AUTO, ENCORE_CUDA_F16,
                                    &dummy, nullptr),
              ENCORE_STATUS_UNSUPPORTED);
    EXPECT_EQ(encore_attention_cuda(&dummy, nullptr, nullptr, 0, fake, fake, 1, 1, 1, 8, ENCORE_ATTENTION_TENSOR, ENCORE_CUDA_F16,
                                    &dummy, nullptr),
              ENCORE_STATUS_UNSUPPORTED);
    EXPECT_EQ(encore_bias_residual_layernorm_cuda(nullptr, nullptr, nullptr, nullptr, nullptr, 1e-5f, 4, 8,
                                                  ENCORE_CUDA_F16, nullptr),
              ENCORE_STATUS_INVALID_ARGUMENT);
    EXPECT_EQ(encore_bias_act_cuda(nullptr, nullptr, ENCORE_ACTIVATION_GELU, 4, 8, ENCORE_CUDA_F16, nullptr),
              ENCORE_STATUS_INVALID_ARGUMENT);
    EXPECT_EQ(encore_pool_cuda(nullptr, nullptr, 1, 8, ENCORE_POOLING_MEAN, 0, ENCORE_CUDA_F16, nullptr, nullptr),
              ENCORE_STATUS_INVALID_ARGUMENT);
    // An unknown dtype is refused, not a silent no-op.
    EXPECT_EQ(encore_pool_cuda(fake, fake, 1, 8, ENCORE_POOLING_MEAN, 0, (encore_cuda_dtype)7, &dummy, nullptr),
              ENCORE_STATUS_INVALID_ARGUMENT);
    // A copy of rows onto themselves, or with a negative count, is refused.
    EXPECT_EQ(encore_copy_rows_cuda(&dummy, nullptr, &dummy, nullptr, 1, 8, ENCORE_CUDA_F16, nullptr),
              ENCORE_STATUS_INVALID_ARGUMENT);
    EXPECT_EQ(encore_copy_rows_cuda(fake, nullptr, &dummy, nullptr, -1, 8, ENCORE_CUDA_F16, nullptr),
              ENCORE_STATUS_INVALID_ARGUMENT);
    // Zero-sized work is a no-op.
    EXPECT_EQ(encore_bias_act_cuda(nullptr, nullptr, ENCORE_ACTIVATION_GELU, 0, 8, ENCORE_CUDA_F16, nullptr),
              ENCORE_STATUS_OK);
}

// A fault inside a kernel surfaces as a status with the CUDA error's name.
TEST(CudaOpsArguments, CudaErrorsBecomeStatusesWithFileAndLine) {
    const encore_status st = encore_cuda_fail(cudaErrorMemoryAllocation, "cudaMalloc(&p, n)", "/x/y/file.c", 42);
    EXPECT_EQ(st, ENCORE_STATUS_OUT_OF_MEMORY);
    const std::string msg = encore_last_error();
    EXPECT_NE(msg.find("file.c:42"), std::string::npos) << msg;
    EXPECT_NE(msg.find("cudaMalloc(&p, n)"), std::string::npos) << msg;
    EXPECT_EQ(encore_cuda_fail(cudaErrorIllegalAddress, "k<<<>>>", "f.cu", 1), ENCORE_STATUS_DEVICE_ERROR);
}

}  // namespace
