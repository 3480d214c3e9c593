// The CPU attention (src/cpu/cpu_ops.c) against softmax(q k^T / sqrt(D)) v in
// double, for sequences of several lengths packed in one batch, on every code
// path the CPU has and 1 and 2 threads, and a sequence's result is bitwise
// the same alone or in a batch; softmax, LayerNorm with its residual, and
// fill-mask's matrix-vector product against double. The AVX-512 versions
// give the AVX2 versions' bits.
#include <gtest/gtest.h>
#include <omp.h>

#include <cmath>
#include <cstdint>
#include <cstdio>
#include <cstring>
#include <random>
#include <string>
#include <vector>

#include "cpu/cpu_ops.h"
#include "expect_close.h"
#include "cpu_paths.h"

namespace {

bool same_bits(const std::vector<float> &a, const std::vector<float> &b) {
    return a.size() == b.size() && std::memcmp(a.data(), b.data(), a.size() * sizeof(float)) == 0;
}

// out (T, C) in double for qkv (T, 3C) packed as seq_start says; rel: a
// relative position bias added to the scaled scores, or none.
std::vector<double> reference(const std::vector<float> &qkv, const std::vector<int32_t> &seq_start, int H, int D,
                              const encore_attention_rel *rel = nullptr) {
    const int C = H * D, B = (int)seq_start.size() - 1;
    std::vector<double> out((size_t)seq_start[B] * C);
    for (int b = 0; b < B; b++) {
        const int s0 = seq_start[b], S = seq_start[b + 1] - s0;
        for (int h = 0; h < H; h++)
            for (int i = 0; i < S; i++) {
                std::vector<double> p(S);
                double mx = -INFINITY, sum = 0.0;
                for (int j = 0; j < S; j++) {
                    double dot = 0.0;
                    for (int d = 0; d < D; d++)
                        dot += (double)qkv[(size_t)(s0 + i) * 3 * C + h * D + d] *
                               qkv[(size_t)(s0 + j) * 3 * C + C + h * D + d];
                    p[j] = dot / std::sqrt((double)D);
                    if (rel) p[j] += rel->table[(size_t)h * (2 * rel->span - 1) + rel->span - 1 + j - i];
                    mx = std::max(mx, p[j]);
                }
                for (int j = 0; j < S; j++) sum += (p[j] = std::exp(p[j] - mx));
                for (int d = 0; d < D; d++) {
                    double o = 0.0;
                    for (int j = 0; j < S; j++) o += p[j] / sum * qkv[(size_t)(s0 + j) * 3 * C + 2 * C + h * D + d];
                    out[(size_t)(s0 + i) * C + h * D + d] = o;
                }
            }
    }
    return out;
}

std::vector<float> run(const std::vector<float> &qkv, const std::vector<int32_t> &seq_start, int H, int D,
                       encore_cpu_isa isa, const encore_attention_rel *rel = nullptr) {
    const int B = (int)seq_start.size() - 1;
    int max_len = 0;
    for (int b = 0; b < B; b++) max_len = std::max(max_len, seq_start[b + 1] - seq_start[b]);
    std::vector<float> scratch(encore_attention_scratch_floats(omp_get_max_threads(), max_len, D));
    std::vector<float> out((size_t)seq_start[B] * H * D, NAN);
    EXPECT_EQ(encore_attention_isa_cpu(qkv.data(), seq_start.data(), B, H, D, rel, scratch.data(), max_len, out.data(),
                                       isa),
              0);
    return out;
}

class AttentionCpu : public ::testing::TestWithParam<int> {};

TEST_P(AttentionCpu, MatchesDoubleAndIsBatchIndependent) {
    const int threads = GetParam();
    const int saved = omp_get_max_threads();
    omp_set_num_threads(threads);
    std::mt19937 rng(11);
    std::normal_distribution<float> n(0.0f, 1.5f);
    // spread 12 scales the queries so that scores lie far apart and most of
    // softmax's exponentials underflow. Head sizes: multiples of 32, 16 and
    // 8 (the vector heads' column blocks) and one that is none (the plain
    // loops); lengths: key blocks of 32, 16 and 8.
    for (float spread : {1.0f, 12.0f}) {
        for (auto hd : std::vector<std::pair<int, int>>{{12, 32}, {4, 64}, {3, 8}, {2, 40}, {2, 24}, {2, 20}}) {
            const int H = hd.first, D = hd.second, C = H * D;
            const std::vector<int> lengths{1, 5, 24, 130, 2};
            std::vector<int32_t> seq_start{0};
            for (int L : lengths) seq_start.push_back(seq_start.back() + L);
            const int T = seq_start.back();
            std::vector<float> qkv((size_t)T * 3 * C);
            for (auto &v : qkv) v = n(rng);
            for (int t = 0; t < T; t++)
                for (int c = 0; c < C; c++) qkv[(size_t)t * 3 * C + c] *= spread;
            const auto want = reference(qkv, seq_start, H, D);
            std::vector<float> avx2_out;
            for (encore_cpu_isa isa : isas()) {
                const std::string path =
                    std::string(encore_cpu_isa_name(isa)) + " spread " + std::to_string((int)spread);
                const auto got = run(qkv, seq_start, H, D, isa);
                // A score's float rounding grows with its size, and softmax
                // passes it on: the bound grows with the spread (the portable
                // path, on libm's expf, measures 4.5e-5 at spread 12, the AVX2
                // and AVX-512 paths 2.9e-5).
                EXPECT_CLOSE(got, want, 2e-5 * spread, 0) << path << " H=" << H << " D=" << D << " threads=" << threads;
                if (isa == ENCORE_CPU_ISA_AVX2) avx2_out = got;
                if (isa == ENCORE_CPU_ISA_AVX512) {
                    EXPECT_TRUE(same_bits(got, avx2_out)) << path << " H=" << H << " D=" << D << ": not the avx2 bits";
                }

                // Each sequence alone gives the bits it gave in the batch.
                for (size_t b = 0; b + 1 < seq_start.size(); b++) {
                    const int s0 = seq_start[b], S = seq_start[b + 1] - s0;
                    std::vector<float> one(qkv.begin() + (size_t)s0 * 3 * C, qkv.begin() + (size_t)(s0 + S) * 3 * C);
                    const auto alone = run(one, {0, S}, H, D, isa);
                    EXPECT_EQ(std::memcmp(alone.data(), got.data() + (size_t)s0 * C, alone.size() * sizeof(float)), 0)
                        << path << " H=" << H << " D=" << D << " sequence " << b << " (" << S
                        << " tokens) alone differs";
                }
            }
        }
    }
    omp_set_num_threads(saved);
}

// MPNet's relative position bias: a table of its own per head and distance
// (random, so that a bias read at the wrong distance or head shows), over
// lengths past every key block and the AVX-512 query block, on every path:
// against double, the AVX-512 bits the AVX2 bits, and each sequence alone
// the bits it gave in the batch.
TEST_P(AttentionCpu, RelativeBiasMatchesDouble) {
    const int threads = GetParam();
    const int saved = omp_get_max_threads();
    omp_set_num_threads(threads);
    std::mt19937 rng(13);
    std::normal_distribution<float> n(0.0f, 1.5f);
    const int span = 140;
    for (auto hd : std::vector<std::pair<int, int>>{{12, 32}, {3, 8}, {2, 20}}) {
        const int H = hd.first, D = hd.second, C = H * D;
        std::vector<float> table((size_t)H * (2 * span - 1));
        for (auto &v : table) v = 2.0f * n(rng);
        const encore_attention_rel rel{table.data(), span};
        const std::vector<int> lengths{1, 9, 33, 140, 3};
        std::vector<int32_t> seq_start{0};
        for (int L : lengths) seq_start.push_back(seq_start.back() + L);
        const int T = seq_start.back();
        std::vector<float> qkv((size_t)T * 3 * C);
        for (auto &v : qkv) v = n(rng);
        const auto want = reference(qkv, seq_start, H, D, &rel);
        const auto plain = reference(qkv, seq_start, H, D);
        std::vector<float> avx2_out;
        for (encore_cpu_isa isa : isas()) {
            const std::string path = encore_cpu_isa_name(isa);
            const auto got = run(qkv, seq_start, H, D, isa, &rel);
            EXPECT_CLOSE(got, want, 2e-5, 0) << path << " H=" << H << " D=" << D << " threads=" << threads;
            // the bias matters: without it the outputs are far from these
            double far = 0.0;
            for (size_t i = 0; i < got.size(); i++) far = std::max(far, std::fabs(got[i] - plain[i]));
            EXPECT_GT(far, 0.1) << path << " H=" << H << " D=" << D;
            if (isa == ENCORE_CPU_ISA_AVX2) avx2_out = got;
            if (isa == ENCORE_CPU_ISA_AVX512) {
                EXPECT_TRUE(same_bits(got, avx2_out)) << path << ": not the avx2 bits";
            }
            for (size_t b = 0; b + 1 < seq_start.size(); b++) {
                const int s0 = seq_start[b], S = seq_start[b + 1] - s0;
                std::vector<float> one(qkv.begin() + (size_t)s0 * 3 * C, qkv.begin() + (size_t)(s0 + S) * 3 * C);
                const auto alone = run(one, {0, S}, H, D, isa, &rel);
                EXPECT_EQ(std::memcmp(alone.data(), got.data() + (size_t)s0 * C, alone.size() * sizeof(float)), 0)
                    << path << " H=" << H << " D=" << D << " sequence " << b << " alone differs";
            }
        }
    }
    omp_set_num_threads(saved);
}

// DeBERTa's disentangled attention against the same in double on every CPU
// path: c2p and p2c at the bucketed distances (log buckets past span / 2),
// either term alone, uneven lengths in one batch; each sequence's output
// must not depend on the others.
TEST_P(AttentionCpu, DisentangledMatchesDouble) {
    const int threads = GetParam();
    const int saved = omp_get_max_threads();
    omp_set_num_threads(threads);
    std::mt19937 rng(17);
    std::normal_distribution<float> n(0.0f, 1.0f);
    const int P = 160, buckets = 32, max_rel = 160, span = buckets;
    std::vector<int32_t> index(2 * P - 1);
    for (int d = -(P - 1); d <= P - 1; d++)
        index[d + P - 1] = std::min(2 * span - 1, std::max(0, encore_deberta_bucket(d, buckets, max_rel) + span));
    for (int terms : {3, 1, 2}) {  // bit 0: c2p, bit 1: p2c
        for (auto hd : std::vector<std::pair<int, int>>{{4, 16}, {3, 8}}) {
            const int H = hd.first, D = hd.second, C = H * D;
            std::vector<float> pos_k((size_t)H * D * 2 * span), pos_q(pos_k.size());
            for (auto &v : pos_k) v = n(rng);
            for (auto &v : pos_q) v = n(rng);
            const int nterms = (terms & 1) + (terms >> 1);
            const float scale = 1.0f / std::sqrt((float)D * (float)(1 + nterms));
            const encore_attention_dis dis{terms & 2 ? pos_q.data() : nullptr, terms & 1 ? pos_k.data() : nullptr,
                                           index.data(), P - 1, span, scale};
            const std::vector<int> lengths{1, 9, 40, 150, 3};
            std::vector<int32_t> seq_start{0};
            for (int L : lengths) seq_start.push_back(seq_start.back() + L);
            const int T = seq_start.back(), B = (int)lengths.size();
            std::vector<float> qkv((size_t)T * 3 * C);
            for (auto &v : qkv) v = n(rng);
            std::vector<double> want((size_t)T * C);
            for (int b = 0; b < B; b++) {
                const int s0 = seq_start[b], S = lengths[b];
                for (int h = 0; h < H; h++)
                    for (int i = 0; i < S; i++) {
                        std::vector<double> p(S);
                        double mx = -INFINITY, sum = 0.0;
                        for (int j = 0; j < S; j++) {
                            const int r = index[i - j + P - 1];
                            double qk = 0, c2p = 0, p2c = 0;
                            for (int d = 0; d < D; d++) {
                                const double q = qkv[(size_t)(s0 + i) * 3 * C + h * D + d];
                                const double k = qkv[(size_t)(s0 + j) * 3 * C + C + h * D + d];
                                qk += q * k;
                                c2p += q * pos_k[((size_t)h * D + d) * 2 * span + r];
                                p2c += k * pos_q[((size_t)h * D + d) * 2 * span + r];
                            }
                            p[j] = (qk + (terms & 1 ? c2p : 0) + (terms & 2 ? p2c : 0)) * scale;
                            mx = std::max(mx, p[j]);
                        }
                        for (int j = 0; j < S; j++) sum += (p[j] = std::exp(p[j] - mx));
                        for (int d = 0; d < D; d++) {
                            double o = 0;
                            for (int j = 0; j < S; j++)
                                o += p[j] / sum * qkv[(size_t)(s0 + j) * 3 * C + 2 * C + h * D + d];
                            want[(size_t)(s0 + i) * C + h * D + d] = o;
                        }
                    }
            }
            for (encore_cpu_isa isa : isas()) {
                const std::string path = encore_cpu_isa_name(isa);
                std::vector<float> scratch(
                    encore_attention_dis_scratch_floats(omp_get_max_threads(), 150, D, span));
                std::vector<float> got((size_t)T * C, NAN);
                ASSERT_EQ(encore_attention_dis_isa_cpu(qkv.data(), seq_start.data(), B, H, D, &dis, scratch.data(),
                                                       150, got.data(), isa),
                          0);
                EXPECT_CLOSE(got, want, 2e-5, 0) << path << " terms " << terms << " H=" << H << " D=" << D;
                for (int b = 0; b < B; b++) {
                    const int s0 = seq_start[b], S = lengths[b];
                    std::vector<float> one(qkv.begin() + (size_t)s0 * 3 * C, qkv.begin() + (size_t)(s0 + S) * 3 * C);
                    std::vector<float> alone((size_t)S * C);
                    const std::vector<int32_t> st{0, S};
                    ASSERT_EQ(encore_attention_dis_isa_cpu(one.data(), st.data(), 1, H, D, &dis, scratch.data(), 150,
                                                           alone.data(), isa),
                              0);
                    EXPECT_EQ(std::memcmp(alone.data(), got.data() + (size_t)s0 * C, alone.size() * sizeof(float)), 0)
                        << path << " sequence " << b << " alone differs";
                }
            }
        }
    }
    omp_set_num_threads(saved);
}

INSTANTIATE_TEST_SUITE_P(Threads, AttentionCpu, ::testing::Values(1, 2),
                         [](const ::testing::TestParamInfo<int> &i) { return std::to_string(i.param) + "_threads"; });

// LayerNorm(row + residual) against the same in double on every path:
// widths that take the vector versions (multiples of 16, and of 8 only) and
// the plain loops, rows with a large common offset (where a one-pass
// variance would lose digits); encore_residual_layernorm_row_cpu runs the
// best path.
TEST(LayerNormCpu, MatchesDouble) {
    std::mt19937 rng(12);
    std::normal_distribution<float> n(0.0f, 1.0f);
    for (int C : {384, 768, 8, 24, 37}) {
        for (float offset : {0.0f, 300.0f}) {
            std::vector<float> row(C), res(C), gamma(C), beta(C);
            for (int c = 0; c < C; c++) {
                row[c] = offset + n(rng);
                res[c] = n(rng);
                gamma[c] = 1.0f + 0.1f * n(rng);
                beta[c] = 0.1f * n(rng);
            }
            std::vector<double> y(C);
            double mean = 0.0, var = 0.0;
            for (int c = 0; c < C; c++) mean += y[c] = (double)(row[c] + res[c]);
            mean /= C;
            for (int c = 0; c < C; c++) var += (y[c] - mean) * (y[c] - mean);
            var /= C;
            const float eps = 1e-12f;
            std::vector<float> avx2_row, best = row;
            encore_residual_layernorm_row_cpu(best.data(), res.data(), gamma.data(), beta.data(), eps, C);
            for (encore_cpu_isa isa : isas()) {
                std::vector<float> got = row;
                ASSERT_EQ(encore_residual_layernorm_row_isa_cpu(got.data(), res.data(), gamma.data(), beta.data(), eps,
                                                                C, isa),
                          0);
                const char *path = encore_cpu_isa_name(isa);
                std::vector<double> want(C);
                for (int c = 0; c < C; c++) want[c] = (y[c] - mean) / std::sqrt(var + eps) * gamma[c] + beta[c];
                ASSERT_CLOSE(got, want, 1e-5, 1e-5) << path << " C=" << C << " offset " << offset;
                if (isa == ENCORE_CPU_ISA_AVX2) avx2_row = got;
                if (isa == ENCORE_CPU_ISA_AVX512) {
                    EXPECT_TRUE(same_bits(got, avx2_row)) << "C=" << C << " offset " << offset << ": not the avx2 bits";
                }
                if (isa == isas().back()) {
                    EXPECT_TRUE(same_bits(got, best)) << path << " C=" << C << ": not the best path";
                }
            }
        }
    }
}

// Softmax on every code path against double: each weight within a few ulp
// of exp's, plus the rounding of x - max (which grows with the distance),
// for rows that take the vector loops (of 8 or 16), their tails, or both,
// and rows whose smallest weights underflow.
TEST(SoftmaxCpu, MatchesDouble) {
    std::mt19937 rng(13);
    for (int n : {1, 3, 8, 13, 16, 24, 29, 64, 515}) {
        for (float spread : {1.0f, 30.0f, 200.0f}) {
            std::normal_distribution<float> d(0.0f, spread);
            std::vector<float> x(n);
            for (auto &v : x) v = d(rng);
            std::vector<float> avx2_row;
            for (encore_cpu_isa isa : isas()) {
                std::vector<float> got = x;
                ASSERT_EQ(encore_softmax_isa_cpu(got.data(), n, isa), 0);
                double mx = -INFINITY, sum = 0.0;
                for (float v : x) mx = std::max(mx, (double)v);
                for (float v : x) sum += std::exp((double)v - mx);
                for (int j = 0; j < n; j++) {
                    const double want = std::exp((double)x[j] - mx) / sum;
                    const double tol = want * (1e-6 + 1.2e-7 * (mx - x[j])) + 1e-37;
                    ASSERT_NEAR(got[j], want, tol) << encore_cpu_isa_name(isa) << " n=" << n << " spread " << spread
                                                   << " x - max = " << x[j] - mx;
                }
                if (isa == ENCORE_CPU_ISA_AVX2) avx2_row = got;
                if (isa == ENCORE_CPU_ISA_AVX512) {
                    EXPECT_TRUE(same_bits(got, avx2_row)) << "n=" << n << " spread " << spread << ": not the avx2 bits";
                }
            }
        }
    }
}

// Fill-mask's decoder product (out += W x) on every code path against double,
// within the bound of a K-term float sum, for K through the vector loop (32
// at a time), its tail, or both, and N through the 64-row blocks the threads
// share. Each row is one thread's, so 1 and 2 threads give the same bits, and
// AVX-512 runs the AVX2 version (the same bits).
TEST(MatvecCpu, MatchesDoubleOnEveryPathAndThreadCount) {
    std::mt19937 rng(17);
    std::normal_distribution<float> d(0.0f, 1.0f);
    const int saved = omp_get_max_threads();
    for (int K : {1, 7, 32, 33, 100, 384}) {
        for (int N : {1, 63, 64, 65, 1000}) {
            std::vector<float> w((size_t)N * K), x(K), bias(N);
            for (auto &v : w) v = d(rng);
            for (auto &v : x) v = d(rng);
            for (auto &v : bias) v = d(rng);
            std::vector<float> avx2_out;
            for (encore_cpu_isa isa : isas()) {
                std::vector<float> first;
                for (int threads : {1, 2}) {
                    omp_set_num_threads(threads);
                    std::vector<float> got = bias;
                    ASSERT_EQ(encore_matvec_isa_cpu(w.data(), x.data(), N, K, got.data(), isa), 0);
                    for (int n = 0; n < N; n++) {
                        double want = 0.0, mag = 0.0;
                        for (int k = 0; k < K; k++) {
                            want += (double)w[(size_t)n * K + k] * x[k];
                            mag += std::fabs((double)w[(size_t)n * K + k] * x[k]);
                        }
                        // The sum's rounding (K terms), then the add of bias.
                        const double tol = (K + 2) * 6e-8 * (mag + std::fabs((double)bias[n])) + 1e-30;
                        ASSERT_NEAR(got[n], want + bias[n], tol)
                            << encore_cpu_isa_name(isa) << " N=" << N << " K=" << K << " row " << n;
                    }
                    if (first.empty())
                        first = got;
                    else
                        EXPECT_TRUE(same_bits(got, first)) << encore_cpu_isa_name(isa) << " N=" << N << " K=" << K
                                                           << ": 2 threads changed the bits";
                }
                if (isa == ENCORE_CPU_ISA_AVX2) avx2_out = first;
                if (isa == ENCORE_CPU_ISA_AVX512) {
                    EXPECT_TRUE(same_bits(first, avx2_out)) << "N=" << N << " K=" << K << ": not the avx2 bits";
                }
            }
        }
    }
    omp_set_num_threads(saved);
}

}  // namespace
