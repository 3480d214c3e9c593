// The int8 x int8 linear layers (src/cpu/gemm_i8_cpu.c): every integer kernel
// (AVX-512 VNNI, AVX-VNNI, AVX2 vpmaddubsw) against the portable one, sum for
// sum (integer sums are exact, so they must be equal); the dequantized
// product on every CPU path against x W^T in double, within the error that
// quantizing x and W allows; the worst cases for saturation and for the
// int32 range; shapes that are not multiples of the block sizes; and the
// batch and thread independence of a row's result.
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <limits>
#include <random>
#include <string>
#include <vector>

#include "cpu/gemm_cpu.h"
#include "cpu/gemm_i8_cpu.h"
#include "cpu_paths.h"

namespace {

struct PackedI8 {
    std::vector<int8_t> q;
    std::vector<float> scales;
    std::vector<int32_t> wsums;
    encore_packed_matrix m{};
    int status;
    // pairs: laid out in pairs of k, as a model loaded for the plain AVX2
    // kernel is.
    PackedI8(const std::vector<float> &w, int N, int K, bool pairs = false)
        : q(encore_packed_i8_dynamic_bytes((size_t)N, (size_t)K)), scales((size_t)(N + 15) / 16 * 16),
          wsums(scales.size() * (size_t)encore_i8_groups(K)) {
        status = encore_pack_matrix_i8_dynamic(w.data(), N, K, pairs, q.data(), scales.data(), wsums.data(), &m);
    }
};

std::vector<float> random_vector(size_t n, std::mt19937 &rng, float lo, float hi) {
    std::uniform_real_distribution<float> u(lo, hi);
    std::vector<float> v(n);
    for (auto &x : v) x = u(rng);
    return v;
}

const encore_i8_kernel kKernels[] = {ENCORE_I8_KERNEL_PORTABLE, ENCORE_I8_KERNEL_AVX2, ENCORE_I8_KERNEL_AVX_VNNI,
                                     ENCORE_I8_KERNEL_AVX512_VNNI};

// The CPU feature a kernel needs that this CPU may lack, for the skip message.
const char *needs(encore_i8_kernel k) {
    switch (k) {
    case ENCORE_I8_KERNEL_AVX2: return "avx2";
    case ENCORE_I8_KERNEL_AVX_VNNI: return "avx_vnni";
    case ENCORE_I8_KERNEL_AVX512_VNNI: return "avx512_vnni";
    default: return "nothing";
    }
}

// Shapes (T, N, K): M = 1, K not a multiple of 4, N not a multiple of 16,
// one panel and an odd panel count, row counts past a tile (6, 14) and past
// a block of rows (126), and the default model's widths.
struct Shape {
    int T, N, K;
};
const Shape kShapes[] = {{1, 1, 1},    {1, 16, 4},    {1, 17, 5},    {2, 33, 7},     {6, 48, 64},
                         {14, 32, 130}, {15, 40, 385}, {29, 50, 257}, {130, 20, 11}, {1, 384, 1536},
                         {9, 1536, 384}};

// One instance per integer kernel; a kernel this CPU cannot run is skipped,
// naming the CPU feature it lacks (scripts/check_skips.py counts those skips
// as expected). The dispatch that picks among them is tested on every CPU
// (DispatchPicksTheKernelForEachCpuAndCap).
class GemmI8Kernel : public ::testing::TestWithParam<encore_i8_kernel> {
  protected:
    void SetUp() override {
        if (!encore_i8_kernel_available(GetParam()))
            GTEST_SKIP() << "this CPU lacks " << needs(GetParam()) << ": the " << encore_i8_kernel_name(GetParam())
                         << " int8 kernel cannot run here";
    }
};

// Whether kernel k reads weights in pairs of k (the portable and plain AVX2
// kernels do; the VNNI ones refuse them).
bool reads_pairs(encore_i8_kernel k) { return k == ENCORE_I8_KERNEL_PORTABLE || k == ENCORE_I8_KERNEL_AVX2; }

// Each SIMD kernel gives the portable kernel's integer sums exactly, at the
// same activation levels (255 on every kernel), on weights four k to a
// lane and, where it reads them, in pairs of k (the plain AVX2 kernel's
// int16 tiles); those sums are the same as on four k to a lane.
TEST_P(GemmI8Kernel, GivesThePortableSums) {
    std::mt19937 rng(7);
    const encore_i8_kernel k = GetParam();
    for (const Shape &s : kShapes)
        for (bool pairs : {false, true}) {
            // Lopsided activations, as after a GELU, and weights of both signs.
            const auto x = random_vector((size_t)s.T * s.K, rng, -0.3f, 2.0f);
            const auto w = random_vector((size_t)s.N * s.K, rng, -0.1f, 0.1f);
            PackedI8 p(w, s.N, s.K, pairs), ref(w, s.N, s.K);
            ASSERT_EQ(p.status, 0);
            ASSERT_EQ(ref.status, 0);
            const int levels = encore_i8_kernel_levels(k);
            const size_t n = (size_t)encore_i8_groups(s.K) * s.T * s.N;
            std::vector<int32_t> got(n, -1), want(n, -2);
            if (pairs && !reads_pairs(k)) {
                EXPECT_EQ(encore_i8_sums(x.data(), &p.m, s.T, k, 0, got.data(), nullptr, nullptr), -1)
                    << encore_i8_kernel_name(k) << " took weights in pairs of k";
                continue;
            }
            ASSERT_EQ(encore_i8_sums(x.data(), &p.m, s.T, k, 0, got.data(), nullptr, nullptr), 0);
            ASSERT_EQ(encore_i8_sums(x.data(), &ref.m, s.T, ENCORE_I8_KERNEL_PORTABLE, levels, want.data(), nullptr,
                                     nullptr),
                      0);
            // Not all zero: the sums carry the product (a 1 x 1 product of a
            // negative x is 0: its byte is the zero point's, 0).
            if (s.K >= 4) {
                ASSERT_TRUE(std::any_of(want.begin(), want.end(), [](int32_t v) { return v != 0; }));
            }
            for (size_t i = 0; i < got.size(); i++)
                ASSERT_EQ(got[i], want[i]) << encore_i8_kernel_name(k) << (pairs ? " (pairs of k)" : "")
                                           << " T=" << s.T << " N=" << s.N << " K=" << s.K << " at " << i;
        }
}

// The worst case's operands: row 0 of x all +1 (every byte at the top
// level), row 1 all -1 (zero point at the top, every byte 0); features of w
// alternate all +1 and all -1 (q = +-127), and the last mixes the two along
// k, so that pairs of opposite sign meet too.
std::vector<float> worst_case_x(int T, int K) {
    std::vector<float> x((size_t)T * K);
    for (int k = 0; k < K; k++) {
        x[k] = 1.0f;
        x[(size_t)K + k] = -1.0f;
    }
    return x;
}
std::vector<float> worst_case_w(int N, int K) {
    std::vector<float> w((size_t)N * K);
    for (int n = 0; n < N; n++)
        for (int k = 0; k < K; k++)
            w[(size_t)n * K + k] = n == N - 1 ? (k % 2 ? -1.0f : 1.0f) : (n % 2 ? -1.0f : 1.0f);
    return w;
}
// Both, and w packed.
struct WorstCase {
    static constexpr int T = 2, N = 18;
    std::vector<float> x;
    PackedI8 p;
    explicit WorstCase(int K, bool pairs = false) : x(worst_case_x(T, K)), p(worst_case_w(N, K), N, K, pairs) {}
};
const int kWorstCaseK[] = {4, 7, 64, ENCORE_I8_GROUP, 4 * ENCORE_I8_GROUP - 3};

// The largest sums: activations all at the top level (255) or all 0, times
// weights all at +-127, over whole groups and a short last one. The AVX2
// kernel's pairs of |a - 128| q reach 2 * 128 * 127 = 32512 at a = 0, just
// under vpmaddubsw's int16 saturation at 32767. Each kernel must give the
// exact sums (a saturating pair of a q would lose 2 * 255 * 127 - 32767 =
// 32003).
TEST_P(GemmI8Kernel, WorstCaseSumsDoNotSaturateOrOverflow) {
    const encore_i8_kernel k = GetParam();
    for (int K : kWorstCaseK)
        for (bool pairs : {false, true}) {
            if (pairs && !reads_pairs(k)) continue;
            const WorstCase c(K, pairs);
            const int T = c.T, N = c.N;
            const std::vector<float> &x = c.x;
            const PackedI8 &p = c.p;
            ASSERT_EQ(p.status, 0);
            const int64_t L = encore_i8_kernel_levels(k);
            const int G = encore_i8_groups(K);
            std::vector<int32_t> sums((size_t)G * T * N);
            std::vector<int32_t> zero((size_t)T * G);
            ASSERT_EQ(encore_i8_sums(x.data(), &p.m, T, k, 0, sums.data(), nullptr, zero.data()), 0);
            for (int g = 0; g < G; g++) {
                EXPECT_EQ(zero[g], 0);
                EXPECT_EQ(zero[(size_t)G + g], L);
                const int k0 = g * ENCORE_I8_GROUP, len = std::min(ENCORE_I8_GROUP, K - k0);
                for (int n = 0; n < N; n++) {
                    int64_t want0 = 0;
                    for (int k2 = k0; k2 < k0 + len; k2++)
                        want0 += L * (n == N - 1 ? (k2 % 2 ? -127 : 127) : n % 2 ? -127 : 127);
                    const int32_t *sg = sums.data() + (size_t)g * T * N;
                    EXPECT_EQ(sg[n], want0) << encore_i8_kernel_name(k) << (pairs ? " (pairs of k)" : "") << " K=" << K
                                            << " g=" << g << " n=" << n;
                    EXPECT_EQ(sg[(size_t)N + n], 0) << encore_i8_kernel_name(k) << " K=" << K << " n=" << n;
                }
            }
        }
}

// The full product is exact on every CPU path this CPU has: x w = +-K.
TEST(GemmI8, WorstCaseProductIsExactOnEveryPath) {
    for (int K : kWorstCaseK)
        for (bool pairs : {false, true}) {
            const WorstCase c(K, pairs);
            const int T = c.T, N = c.N;
            const std::vector<float> &x = c.x;
            const PackedI8 &p = c.p;
            ASSERT_EQ(p.status, 0);
            std::vector<float> out((size_t)T * N);
            for (encore_cpu_isa isa : isas()) {
                ASSERT_EQ(encore_linear_packed_isa_cpu(x.data(), &p.m, nullptr, T, out.data(), isa, 1), 0);
                for (int n = 0; n < N - 1; n++) {
                    const double want = (n % 2 ? -1.0 : 1.0) * K;
                    EXPECT_NEAR(out[n], want, 1e-6 * K) << encore_cpu_isa_name(isa) << " K=" << K;
                    EXPECT_NEAR(out[(size_t)N + n], -want, 1e-6 * K) << encore_cpu_isa_name(isa) << " K=" << K;
                }
            }
        }
}

INSTANTIATE_TEST_SUITE_P(Kernels, GemmI8Kernel, ::testing::ValuesIn(kKernels),
                         [](const ::testing::TestParamInfo<encore_i8_kernel> &p) {
                             return std::string(encore_i8_kernel_name(p.param));
                         });

// x W^T + b in double; the bound on |(x W^T)_q - x W^T| that quantizing
// allows: x_k = s (a_k - z) + e_k (s, z: k's group's) with |e_k| <= s / 2 (up to s where the
// clamp at 0 or L meets a rounded zero point: s below), W = sw q + d with
// |d| <= sw / 2, so the error is at most sum_k s |w_k| + (sw/2) |x_k| +
// s sw / 2, plus fp32 rounding of the dequantized value (a few ulps of the
// magnitude, covered by 1e-5 of sum |x w| + |b|).
TEST(GemmI8, ProductWithinTheQuantizationBound) {
    std::mt19937 rng(11);
    for (const Shape &s : kShapes) {
        const auto x = random_vector((size_t)s.T * s.K, rng, -1.5f, 3.0f);
        const auto w = random_vector((size_t)s.N * s.K, rng, -0.2f, 0.2f);
        const auto b = random_vector((size_t)s.N, rng, -1.0f, 1.0f);
        PackedI8 p(w, s.N, s.K);
        ASSERT_EQ(p.status, 0);
        for (encore_cpu_isa isa : isas()) {
            const encore_i8_kernel kernel = encore_i8_kernel_for_path(isa);
            const int L = encore_i8_kernel_levels(kernel);
            std::vector<float> out((size_t)s.T * s.N);
            ASSERT_EQ(encore_linear_packed_isa_cpu(x.data(), &p.m, b.data(), s.T, out.data(), isa, 1), 0);
            double worst_ratio = 0.0;
            for (int t = 0; t < s.T; t++) {
                const float *xr = x.data() + (size_t)t * s.K;
                std::vector<double> sxg;  // each group's activation scale
                for (int k0 = 0; k0 < s.K; k0 += ENCORE_I8_GROUP) {
                    const float *e = xr + std::min(s.K, k0 + ENCORE_I8_GROUP);
                    const float lo = std::min(0.0f, *std::min_element(xr + k0, e));
                    const float hi = std::max(0.0f, *std::max_element(xr + k0, e));
                    sxg.push_back(((double)hi - lo) / L);
                }
                for (int n = 0; n < s.N; n++) {
                    const float *wr = w.data() + (size_t)n * s.K;
                    double amax = 0.0;
                    for (int k = 0; k < s.K; k++) amax = std::max(amax, (double)std::fabs(wr[k]));
                    const double sw = amax / 127.0;
                    double ref = b[n], bound = 0.0, mag = std::fabs(b[n]);
                    for (int k = 0; k < s.K; k++) {
                        ref += (double)xr[k] * wr[k];
                        const double sx = sxg[k / ENCORE_I8_GROUP];
                        bound += sx * std::fabs(wr[k]) + sw / 2 * std::fabs(xr[k]) + sx * sw / 2;
                        mag += std::fabs((double)xr[k] * wr[k]);
                    }
                    bound += 1e-5 * mag;
                    const double err = std::fabs((double)out[(size_t)t * s.N + n] - ref);
                    ASSERT_LE(err, bound) << encore_cpu_isa_name(isa) << " T=" << s.T << " N=" << s.N
                                          << " K=" << s.K << " t=" << t << " n=" << n;
                    worst_ratio = std::max(worst_ratio, err / bound);
                }
            }
            // The bound is loose (it adds K worst cases; the errors are random
            // and mostly cancel), but not vacuous: errors reach a part of it.
            if (s.K >= 64) {
                EXPECT_GT(worst_ratio, 1e-3) << encore_cpu_isa_name(isa) << " K=" << s.K;
            }
        }
    }
}

// A row's result is bitwise the same alone or in a batch, on 1, 2 or 3
// threads (which quantize the rows in shares cut inside tiles), and, on paths with the same activation levels, on every path;
// the unbuffered product (taken when no buffer can be had) gives the same
// bits too.
TEST(GemmI8, RowResultIndependentOfBatchThreadsAndPath) {
    std::mt19937 rng(3);
    const int T = 140, N = 1536, K = 384;
    const auto x = random_vector((size_t)T * K, rng, -1.0f, 2.0f);
    const auto w = random_vector((size_t)N * K, rng, -0.1f, 0.1f);
    const auto b = random_vector((size_t)N, rng, -1.0f, 1.0f);
    PackedI8 p(w, N, K), pp(w, N, K, true);
    ASSERT_EQ(p.status, 0);
    ASSERT_EQ(pp.status, 0);
    std::vector<float> portable((size_t)T * N);
    ASSERT_EQ(encore_linear_packed_isa_cpu(x.data(), &p.m, b.data(), T, portable.data(), ENCORE_CPU_ISA_PORTABLE, 1),
              0);
    for (encore_cpu_isa isa : isas()) {
        const encore_i8_kernel kernel = encore_i8_kernel_for_path(isa);
        std::vector<float> all((size_t)T * N), all2((size_t)T * N), one((size_t)N), unbuf((size_t)T * N);
        ASSERT_EQ(encore_linear_packed_isa_cpu(x.data(), &p.m, b.data(), T, all.data(), isa, 1), 0);
        for (int threads : {2, 3}) {
            ASSERT_EQ(encore_linear_packed_isa_cpu(x.data(), &p.m, b.data(), T, all2.data(), isa, threads), 0);
            EXPECT_EQ(std::memcmp(all.data(), all2.data(), all.size() * sizeof(float)), 0)
                << encore_cpu_isa_name(isa) << " on " << threads << " threads";
        }
        for (int t : {0, 5, 77, T - 1}) {
            ASSERT_EQ(encore_linear_packed_isa_cpu(x.data() + (size_t)t * K, &p.m, b.data(), 1, one.data(), isa, 1),
                      0);
            EXPECT_EQ(std::memcmp(one.data(), all.data() + (size_t)t * N, N * sizeof(float)), 0)
                << encore_cpu_isa_name(isa) << " row " << t;
        }
        encore_i8_product_unbuffered(x.data(), T, &p.m, b.data(), unbuf.data(), kernel, nullptr);
        EXPECT_EQ(std::memcmp(unbuf.data(), all.data(), all.size() * sizeof(float)), 0) << encore_cpu_isa_name(isa);
        // On weights in pairs of k (the int16 tiles where the path's kernel
        // is the plain AVX2 one, or a VNNI kernel's path: the plain AVX2
        // kernel, then), on 1 and 2 threads and unbuffered: the same bits.
        for (int threads : {1, 2}) {
            ASSERT_EQ(encore_linear_packed_isa_cpu(x.data(), &pp.m, b.data(), T, all2.data(), isa, threads), 0);
            EXPECT_EQ(std::memcmp(all.data(), all2.data(), all.size() * sizeof(float)), 0)
                << encore_cpu_isa_name(isa) << " on weights in pairs of k, " << threads << " threads";
        }
        encore_i8_product_unbuffered(x.data(), T, &pp.m, b.data(), unbuf.data(),
                                     encore_i8_kernel_for_matrix(kernel, &pp.m), nullptr);
        EXPECT_EQ(std::memcmp(unbuf.data(), all.data(), all.size() * sizeof(float)), 0)
            << encore_cpu_isa_name(isa) << " unbuffered, weights in pairs of k";
        if (encore_i8_kernel_levels(kernel) == 255) {
            EXPECT_EQ(std::memcmp(portable.data(), all.data(), all.size() * sizeof(float)), 0)
                << encore_cpu_isa_name(isa) << " (" << encore_i8_kernel_name(kernel) << ") differs from portable";
        }
    }
}

// The packed weights are weight-only int8's values: unpacked, bitwise the
// same matrix, and the weight sums are the sums of those values per group.
TEST(GemmI8, PacksWeightOnlyInt8Values) {
    std::mt19937 rng(5);
    const int N = 37, K = 53;
    const auto w = random_vector((size_t)N * K, rng, -1.0f, 1.0f);
    PackedI8 p(w, N, K);
    ASSERT_EQ(p.status, 0);
    std::vector<int8_t> q8(encore_packed_floats(N, K));
    std::vector<float> sc8((size_t)(N + 15) / 16 * 16);
    encore_packed_matrix m8{};
    encore_pack_matrix_i8(w.data(), N, K, q8.data(), sc8.data(), &m8);
    std::vector<float> a((size_t)N * K), b8((size_t)N * K);
    encore_unpack_matrix(&p.m, a.data());
    encore_unpack_matrix(&m8, b8.data());
    EXPECT_EQ(std::memcmp(a.data(), b8.data(), a.size() * sizeof(float)), 0);
    // In pairs of k: the same values at other bytes, and the same sums.
    PackedI8 pp(w, N, K, true);
    ASSERT_EQ(pp.status, 0);
    EXPECT_EQ(pp.m.q4_pairs, 1);
    EXPECT_EQ(p.m.q4_pairs, 0);
    EXPECT_NE(std::memcmp(pp.q.data(), p.q.data(), p.q.size()), 0);
    EXPECT_EQ(pp.wsums, p.wsums);
    std::vector<float> ap((size_t)N * K);
    encore_unpack_matrix(&pp.m, ap.data());
    EXPECT_EQ(std::memcmp(ap.data(), a.data(), a.size() * sizeof(float)), 0);
    for (int n = 0; n < N; n++)
        for (int k = 0; k < K; k++)
            ASSERT_EQ(pp.q[encore_i8_q4_at(&pp.m, (size_t)n, (size_t)k)], p.q[encore_i8_q4_at(&p.m, (size_t)n, (size_t)k)])
                << n << ", " << k;
    const size_t stride = (size_t)(N + 15) / 16 * 16;
    for (int g = 0; g < encore_i8_groups(K); g++)
        for (int n = 0; n < N; n++) {
            int64_t sum = 0;
            for (int k = g * ENCORE_I8_GROUP; k < std::min(K, (g + 1) * ENCORE_I8_GROUP); k++)
                sum += std::lrint(a[(size_t)n * K + k] / p.m.scales[n]);
            EXPECT_EQ(p.m.wsums[g * stride + n], sum) << n;
        }
    // No shape: refused before anything is written; sizes past size_t too.
    encore_packed_matrix none{};
    EXPECT_EQ(encore_pack_matrix_i8_dynamic(w.data(), 1, 0, 0, nullptr, nullptr, nullptr, &none), -1);
    EXPECT_EQ(encore_pack_matrix_i8_dynamic(w.data(), 0, 4, 1, nullptr, nullptr, nullptr, &none), -1);
    EXPECT_EQ(encore_packed_i8_dynamic_bytes(SIZE_MAX / 2, 8), SIZE_MAX);
}

// A row holding a NaN or an infinity gives NaN outputs, as the fp32
// product does, and leaves the other rows alone; an all-zero row gives the
// bias. On both weight layouts, with the non-finite values in a whole group
// and the zeros over a whole group and a short one.
TEST(GemmI8, NonFiniteAndZeroRows) {
    std::mt19937 rng(9);
    const int T = 4, N = 20, K = ENCORE_I8_GROUP + 33;
    auto x = random_vector((size_t)T * K, rng, -1.0f, 1.0f);
    const auto w = random_vector((size_t)N * K, rng, -1.0f, 1.0f);
    const auto b = random_vector((size_t)N, rng, -1.0f, 1.0f);
    std::vector<float> clean((size_t)T * N), out((size_t)T * N);
    for (bool pairs : {false, true})
        for (encore_cpu_isa isa : isas()) {
            SCOPED_TRACE(pairs ? "weights in pairs of k" : "weights four k to a lane");
            PackedI8 p(w, N, K, pairs);
            ASSERT_EQ(p.status, 0);
            ASSERT_EQ(encore_linear_packed_isa_cpu(x.data(), &p.m, b.data(), T, clean.data(), isa, 1), 0);
            auto y = x;
            y[5] = std::numeric_limits<float>::quiet_NaN();
            y[(size_t)K + 2] = std::numeric_limits<float>::infinity();
            std::fill(y.begin() + 2 * K, y.begin() + 3 * K, 0.0f);
            ASSERT_EQ(encore_linear_packed_isa_cpu(y.data(), &p.m, b.data(), T, out.data(), isa, 1), 0);
            for (int n = 0; n < N; n++) {
                EXPECT_TRUE(std::isnan(out[n])) << encore_cpu_isa_name(isa);
                EXPECT_TRUE(std::isnan(out[(size_t)N + n])) << encore_cpu_isa_name(isa);
                EXPECT_EQ(out[(size_t)2 * N + n], b[n]) << encore_cpu_isa_name(isa);
                EXPECT_EQ(out[(size_t)3 * N + n], clean[(size_t)3 * N + n]) << encore_cpu_isa_name(isa);
            }
        }
}

// The fused epilogues see exactly the sums the plain product gives.
void add_column(float *c, size_t ldc, int rows, int n0, int cols, const void *) {
    for (int r = 0; r < rows; r++)
        for (int j = 0; j < cols; j++) c[r * ldc + j] = c[r * ldc + j] * 2.0f + (float)(n0 + j);
}

void halve_row(float *row, int t, const void *ctx) {
    const int N = *(const int *)ctx;
    for (int n = 0; n < N; n++) row[n] = row[n] * 0.5f - (float)t;
}

TEST(GemmI8, FusedEpiloguesMatchSeparatePasses) {
    std::mt19937 rng(13);
    for (const Shape &s : kShapes) {
        const auto x = random_vector((size_t)s.T * s.K, rng, -1.0f, 1.0f);
        const auto w = random_vector((size_t)s.N * s.K, rng, -1.0f, 1.0f);
        PackedI8 p(w, s.N, s.K);
        for (encore_cpu_isa isa : isas()) {
            for (int threads : {1, 2}) {
                std::vector<float> plain((size_t)s.T * s.N), fused((size_t)s.T * s.N);
                ASSERT_EQ(encore_linear_packed_isa_cpu(x.data(), &p.m, nullptr, s.T, plain.data(), isa, threads), 0);
                for (int t = 0; t < s.T; t++) {
                    add_column(plain.data() + (size_t)t * s.N, (size_t)s.N, 1, 0, s.N, nullptr);
                    halve_row(plain.data() + (size_t)t * s.N, t, &s.N);
                }
                const encore_linear_epilogue ep = {add_column, halve_row, &s.N};
                ASSERT_EQ(encore_linear_packed_fused_isa_cpu(x.data(), &p.m, nullptr, s.T, fused.data(), &ep, isa,
                                                             threads),
                          0);
                EXPECT_EQ(std::memcmp(plain.data(), fused.data(), plain.size() * sizeof(float)), 0)
                    << encore_cpu_isa_name(isa) << " threads " << threads << " T=" << s.T << " N=" << s.N;
            }
        }
    }
}

}  // namespace

// The kernel each path takes on CPUs other than this one, and ENCORE_CPU_INT8
// as a cap: an AVX-512 VNNI Xeon without AVX-VNNI, a VNNI-less AVX2 EPYC,
// an Alder Lake (AVX-VNNI, no AVX-512), a Zen 4/5 (both).
TEST(GemmI8, DispatchPicksTheKernelForEachCpuAndCap) {
    const int P = ENCORE_I8_KERNEL_PORTABLE, A2 = ENCORE_I8_KERNEL_AVX2, AV = ENCORE_I8_KERNEL_AVX_VNNI,
              A5 = ENCORE_I8_KERNEL_AVX512_VNNI;
    const int plain[4] = {1, 0, 0, 0}, epyc2[4] = {1, 1, 0, 0}, alder[4] = {1, 1, 1, 0}, xeon[4] = {1, 1, 0, 1},
              zen5[4] = {1, 1, 1, 1};
    const int pP = ENCORE_CPU_ISA_PORTABLE, p2 = ENCORE_CPU_ISA_AVX2, p5 = ENCORE_CPU_ISA_AVX512;
    struct Case {
        const char *cpu;
        const int *available;
        int path;
        const char *env;
        int want, ignored;
    } cases[] = {
        {"plain", plain, pP, nullptr, P, 0},     {"epyc2", epyc2, p2, nullptr, A2, 0},
        {"epyc2", epyc2, pP, nullptr, P, 0},     {"alder", alder, p2, nullptr, AV, 0},
        {"xeon", xeon, p5, nullptr, A5, 0},      {"xeon", xeon, p2, nullptr, A2, 0},
        {"zen5", zen5, p5, nullptr, A5, 0},      {"zen5", zen5, p2, nullptr, AV, 0},
        {"zen5", zen5, pP, nullptr, P, 0},       {"zen5", zen5, p5, "", A5, 0},
        {"zen5", zen5, p5, "avx2", A2, 0},       {"zen5", zen5, p5, "avx_vnni", AV, 0},
        {"zen5", zen5, p5, "portable", P, 0},    {"zen5", zen5, p5, "avx512_vnni", A5, 0},
        {"zen5", zen5, p2, "avx512_vnni", AV, 1}, {"zen5", zen5, pP, "avx2", P, 1},
        {"xeon", xeon, p5, "avx_vnni", A5, 1},   {"xeon", xeon, p5, "avx2", A2, 0},
        {"epyc2", epyc2, p2, "avx_vnni", A2, 1}, {"zen5", zen5, p5, "vnni", A5, 1},
        {"zen5", zen5, p5, "AVX2", A5, 1},
    };
    for (const Case &c : cases) {
        int ignored = -1;
        EXPECT_EQ(encore_i8_kernel_choose(c.path, c.env, c.available, &ignored), c.want)
            << c.cpu << " path " << encore_cpu_isa_name((encore_cpu_isa)c.path)
            << " env=" << (c.env ? c.env : "(unset)");
        EXPECT_EQ(ignored, c.ignored) << c.cpu << " env=" << (c.env ? c.env : "(unset)");
    }
    // This CPU, with this process's ENCORE_CPU_INT8 (unset in the test
    // environment, or honoured when set).
    int here[ENCORE_I8_KERNEL_COUNT];
    for (int k = 0; k < ENCORE_I8_KERNEL_COUNT; k++) here[k] = encore_i8_kernel_available((encore_i8_kernel)k);
    for (int path : {pP, p2, p5}) {
        if (encore_cpu_isa_resolve((encore_cpu_isa)path) < 0) continue;
        EXPECT_EQ((int)encore_i8_kernel_for_path(path),
                  encore_i8_kernel_choose(path, std::getenv("ENCORE_CPU_INT8"), here, nullptr))
            << encore_cpu_isa_name((encore_cpu_isa)path);
    }
}
