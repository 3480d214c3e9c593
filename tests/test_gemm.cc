// The CPU linear layers on packed weights (src/cpu/gemm_cpu.c) against a naive
// product in double, for both code paths and 1 or 2 threads; the batch and
// thread independence of their results; and the vectorised erf and exact
// GELU (src/cpu/erf_cpu.c) against erf in double; and the epilogues fused onto
// the products against the same work done in a separate pass.
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <cstdint>
#include <cstdlib>
#include <cstring>
#include <limits>
#include <random>
#include <string>
#include <vector>

#include "core/half.h"
#include "blas_reference.h"
#include "cpu/cpu_ops.h"
#include "cpu/erf_cpu.h"
#include "cpu/gemm_cpu.h"
#include "expect_close.h"
#include "cpu_paths.h"

namespace {

struct Packed {
    std::vector<float> store;
    encore_packed_matrix m{};
    Packed(const std::vector<float> &w, int N, int K) : store(encore_packed_floats(N, K)) {
        encore_pack_matrix(w.data(), N, K, store.data(), &m);
    }
};

std::vector<float> random_vector(size_t n, std::mt19937 &rng, float scale = 1.0f) {
    std::uniform_real_distribution<float> u(-scale, scale);
    std::vector<float> v(n);
    for (auto &x : v) x = u(rng);
    return v;
}

const char *isa_name(encore_cpu_isa isa) { return encore_cpu_isa_name(isa); }

// x W^T in double, and sum_k |x_k w_k| beside it. x: (T, K), w: (N, K).
struct Reference {
    std::vector<double> sum, mag;  // (T, N)
    Reference(const std::vector<float> &x, const std::vector<float> &w, int T, int N, int K)
        : sum((size_t)T * N), mag((size_t)T * N) {
        for (int t = 0; t < T; t++)
            for (int j = 0; j < N; j++) {
                double s = 0.0, m = 0.0;
                for (int k = 0; k < K; k++) {
                    const double p = (double)x[(size_t)t * K + k] * w[(size_t)j * K + k];
                    s += p;
                    m += std::fabs(p);
                }
                sum[(size_t)t * N + j] = s;
                mag[(size_t)t * N + j] = m;
            }
    }
};

// Check out against x W^T + b in double. Tolerance: recursive fp32
// summation of K products after the bias errs by at most
// gamma_{K+1} * (|b| + sum |x_k w_k|), gamma_n = n u / (1 - n u), u = 2^-24
// (Higham, Accuracy and Stability, 3.1); FMA only makes it smaller. That
// bound is met by any correct order of the sum and missed by any wrong
// element.
void expect_matches_reference(const Reference &r, const float *b, int T, int N, int K, const std::vector<float> &out,
                              const std::string &what) {
    const double u = std::ldexp(1.0, -24), n = K + 1.0, gamma = n * u / (1.0 - n * u);
    int bad = 0;
    for (int t = 0; t < T && bad < 5; t++) {
        for (int j = 0; j < N && bad < 5; j++) {
            const double ref = r.sum[(size_t)t * N + j] + (b ? b[j] : 0.0);
            const double mag = r.mag[(size_t)t * N + j] + (b ? std::fabs(b[j]) : 0.0);
            const double got = out[(size_t)t * N + j];
            const double tol = gamma * mag + 1e-30;
            if (!(std::fabs(got - ref) <= tol)) {
                ADD_FAILURE() << what << ": out[" << t << "][" << j << "] = " << got << ", reference " << ref
                              << ", |diff| " << std::fabs(got - ref) << " > " << tol;
                bad++;
            }
        }
    }
}

struct Shape {
    int T, N, K;
};

}  // namespace

TEST(Gemm, PackUnpackRoundTrip) {
    std::mt19937 rng(1);
    for (auto s : std::vector<Shape>{{0, 1, 1}, {0, 16, 3}, {0, 17, 5}, {0, 45, 384}, {0, 2, 384}}) {
        auto w = random_vector((size_t)s.N * s.K, rng);
        Packed p(w, s.N, s.K);
        EXPECT_EQ(p.store.size() % (16 * (size_t)s.K), 0u);
        std::vector<float> back((size_t)s.N * s.K, -1.0f);
        encore_unpack_matrix(&p.m, back.data());
        EXPECT_EQ(std::memcmp(back.data(), w.data(), w.size() * sizeof(float)), 0) << s.N << "x" << s.K;
        // Rows past N in the last panel are zero, so they add nothing.
        const int P = (s.N + 15) / 16;
        for (int j = s.N; j < P * 16; j++)
            for (int k = 0; k < s.K; k++) EXPECT_EQ(p.store[((size_t)(j / 16) * s.K + k) * 16 + j % 16], 0.0f);
    }
}

TEST(Gemm, MatchesDoubleReference) {
    std::vector<Shape> shapes;
    const std::vector<std::pair<int, int>> nk = {{1, 1}, {5, 7}, {16, 16}, {17, 33}, {31, 6}, {40, 384}, {100, 257}};
    // T up to 30: every tile height of both register tiles (6 and 14 rows),
    // and row counts that split into two and three AVX-512 tiles.
    for (int T = 1; T <= 30; T++)
        for (auto p : nk) shapes.push_back({T, p.first, p.second});
    // The model's shapes (hidden 384, FFN 1536) and the cache blocks: K past
    // one k block (256), T past one row block (120), a narrow last panel.
    for (int T : {1, 7, 13, 64}) {
        shapes.push_back({T, 1152, 384});
        shapes.push_back({T, 1536, 384});
        shapes.push_back({T, 384, 1536});
        shapes.push_back({T, 2, 384});
    }
    shapes.push_back({64, 37, 1536});
    shapes.push_back({831, 50, 384});
    shapes.push_back({831, 40, 1536});
    shapes.push_back({831, 384, 97});
    std::mt19937 rng(2);
    for (const Shape &s : shapes) {
        auto x = random_vector((size_t)s.T * s.K, rng);
        auto w = random_vector((size_t)s.N * s.K, rng, 0.1f);
        auto bias = random_vector((size_t)s.N, rng);
        Packed p(w, s.N, s.K);
        const Reference ref(x, w, s.T, s.N, s.K);
        for (encore_cpu_isa isa : isas())
            for (int threads : {1, 2})
                for (int with_bias : {0, 1}) {
                    std::vector<float> out((size_t)s.T * s.N, std::nanf(""));
                    const float *b = with_bias ? bias.data() : nullptr;
                    ASSERT_EQ(encore_linear_packed_isa_cpu(x.data(), &p.m, b, s.T, out.data(), isa, threads), 0);
                    const std::string what = std::string(isa_name(isa)) + " T=" + std::to_string(s.T) +
                                             " N=" + std::to_string(s.N) + " K=" + std::to_string(s.K) +
                                             " threads=" + std::to_string(threads) + " bias=" + std::to_string(with_bias);
                    expect_matches_reference(ref, b, s.T, s.N, s.K, out, what);
                    if (HasFailure()) return;
                }
    }
}

// Each output element is summed in the same order whatever the batch, the
// thread count or the blocking, so a row is bitwise the same computed alone
// or inside a batch of 831 rows, on 1 thread or 2. Alone (and in the slice of
// 13) the product takes the few-rows path with no k blocks; the batch of 831
// takes k blocks of 256: the two must agree to the bit.
TEST(Gemm, BitwiseIndependentOfBatchAndThreads) {
    std::mt19937 rng(3);
    for (auto nk : std::vector<std::pair<int, int>>{{160, 384}, {48, 1536}, {45, 300}}) {
        const int N = nk.first, K = nk.second, T = 831;
        auto x = random_vector((size_t)T * K, rng);
        auto w = random_vector((size_t)N * K, rng, 0.1f);
        auto bias = random_vector((size_t)N, rng);
        Packed p(w, N, K);
        for (encore_cpu_isa isa : isas()) {
            std::vector<float> big((size_t)T * N), big2((size_t)T * N), one(N);
            ASSERT_EQ(encore_linear_packed_isa_cpu(x.data(), &p.m, bias.data(), T, big.data(), isa, 1), 0);
            ASSERT_EQ(encore_linear_packed_isa_cpu(x.data(), &p.m, bias.data(), T, big2.data(), isa, 2), 0);
            EXPECT_EQ(std::memcmp(big.data(), big2.data(), big.size() * sizeof(float)), 0)
                << isa_name(isa) << " N=" << N << " K=" << K << ": 1 and 2 threads differ";
            for (int t : {0, 1, 5, 6, 119, 120, 500, 830}) {
                for (int threads : {1, 2}) {
                    ASSERT_EQ(encore_linear_packed_isa_cpu(x.data() + (size_t)t * K, &p.m, bias.data(), 1, one.data(),
                                                           isa, threads),
                              0);
                    EXPECT_EQ(std::memcmp(one.data(), big.data() + (size_t)t * N, N * sizeof(float)), 0)
                        << isa_name(isa) << " N=" << N << " K=" << K << ": row " << t << " alone (" << threads
                        << " threads) differs from the same row in a batch of " << T;
                }
            }
            // A middle slice of the batch, so that rows change place in the
            // register and cache blocks.
            std::vector<float> mid((size_t)13 * N);
            ASSERT_EQ(encore_linear_packed_isa_cpu(x.data() + (size_t)100 * K, &p.m, bias.data(), 13, mid.data(), isa,
                                                   0),
                      0);
            EXPECT_EQ(std::memcmp(mid.data(), big.data() + (size_t)100 * N, mid.size() * sizeof(float)), 0)
                << isa_name(isa) << " N=" << N << " K=" << K << ": rows 100-112 differ";
        }
    }
}

// The AVX2 path runs where the CPU has AVX2 + FMA and is refused elsewhere.
TEST(Gemm, AvxPathRefusedWithoutAvx2) {
    std::vector<float> x(4), w(4), out(4);
    Packed p(w, 2, 2);
    EXPECT_EQ(encore_linear_packed_isa_cpu(x.data(), &p.m, nullptr, 2, out.data(), ENCORE_CPU_ISA_AVX2, 1),
              encore_cpu_has_avx2() ? 0 : -1);
}

TEST(Gemm, Avx512PathRefusedWithoutAvx512) {
    std::vector<float> x(4), w(4), out(4);
    Packed p(w, 2, 2);
    EXPECT_EQ(encore_linear_packed_isa_cpu(x.data(), &p.m, nullptr, 2, out.data(), ENCORE_CPU_ISA_AVX512, 1),
              encore_cpu_has_avx512() ? 0 : -1);
}

// Both vector paths sum bias then one FMA per k, in k order, so the AVX-512
// tile (14 rows by two panels) must give the AVX2 tile's bits exactly, on
// pairs of panels, a single full panel left over, and a narrow last panel.
TEST(Gemm, Avx512BitwiseEqualsAvx2) {
    if (!encore_cpu_has_avx512()) GTEST_SKIP() << "no AVX-512F on this CPU: the avx512 path cannot run here";
    std::mt19937 rng(11);
    for (auto nk : std::vector<std::pair<int, int>>{{384, 384}, {48, 1536}, {45, 300}, {16, 7}, {1536, 384}}) {
        const int N = nk.first, K = nk.second;
        auto w = random_vector((size_t)N * K, rng, 0.1f);
        auto bias = random_vector((size_t)N, rng);
        Packed p(w, N, K);
        for (int T : {1, 13, 14, 15, 25, 48, 49, 300}) {
            auto x = random_vector((size_t)T * K, rng);
            for (int threads : {1, 2}) {
                std::vector<float> a((size_t)T * N), b((size_t)T * N);
                ASSERT_EQ(encore_linear_packed_isa_cpu(x.data(), &p.m, bias.data(), T, a.data(), ENCORE_CPU_ISA_AVX2,
                                                       threads),
                          0);
                ASSERT_EQ(encore_linear_packed_isa_cpu(x.data(), &p.m, bias.data(), T, b.data(), ENCORE_CPU_ISA_AVX512,
                                                       threads),
                          0);
                EXPECT_EQ(std::memcmp(a.data(), b.data(), a.size() * sizeof(float)), 0)
                    << "N=" << N << " K=" << K << " T=" << T << " threads=" << threads;
            }
        }
    }
}

// bf16 panels: the product is bitwise the product on fp32 panels of the
// same weights rounded to bf16 (the arithmetic is the same fp32 on the
// widened values), on every path, thread count and batch shape, narrow last
// panel and panel pairs included; and unpacking gives the rounded weights.
TEST(Gemm, Bf16PanelsEqualRoundedFp32Panels) {
    std::mt19937 rng(12);
    for (auto nk : std::vector<std::pair<int, int>>{{384, 384}, {45, 300}, {48, 1536}, {5, 7}}) {
        const int N = nk.first, K = nk.second;
        auto w = random_vector((size_t)N * K, rng, 0.1f);
        std::vector<float> rounded(w.size());
        for (size_t i = 0; i < w.size(); i++) rounded[i] = encore_bf16_to_f32(encore_f32_to_bf16(w[i]));
        auto bias = random_vector((size_t)N, rng);
        Packed p32(rounded, N, K);
        std::vector<uint16_t> store16(encore_packed_floats(N, K));
        encore_packed_matrix p16{};
        encore_pack_matrix_bf16(w.data(), N, K, store16.data(), &p16);
        ASSERT_EQ(p16.panels, nullptr);
        std::vector<float> back((size_t)N * K);
        encore_unpack_matrix(&p16, back.data());
        ASSERT_EQ(std::memcmp(back.data(), rounded.data(), back.size() * sizeof(float)), 0) << "N=" << N << " K=" << K;
        for (int T : {1, 14, 25, 49, 300}) {
            auto x = random_vector((size_t)T * K, rng);
            for (encore_cpu_isa isa : isas())
                for (int threads : {1, 2}) {
                    std::vector<float> want((size_t)T * N), got((size_t)T * N, std::nanf(""));
                    ASSERT_EQ(encore_linear_packed_isa_cpu(x.data(), &p32.m, bias.data(), T, want.data(), isa, threads), 0);
                    ASSERT_EQ(encore_linear_packed_isa_cpu(x.data(), &p16, bias.data(), T, got.data(), isa, threads), 0);
                    EXPECT_EQ(std::memcmp(want.data(), got.data(), want.size() * sizeof(float)), 0)
                        << isa_name(isa) << " N=" << N << " K=" << K << " T=" << T << " threads=" << threads;
                }
        }
    }
}

// int8 panels: per-row symmetric scales (max |w| / 127, q = w / scale
// rounded to nearest even, in [-127, 127]; a row of ties checks the
// rounding), and a product that is exactly the fp32
// product of x with q (same FMAs in k order), then one multiply-add by the
// scale and the bias: fused on the vector paths, rounded twice on the
// portable one. Checked bit for bit, on every path, thread count and batch
// shape, narrow last panel and panel pairs included, with and without bias.
TEST(Gemm, Int8PanelsAreTheQuantizedProductScaled) {
    std::mt19937 rng(13);
    for (auto nk : std::vector<std::pair<int, int>>{{384, 384}, {45, 300}, {48, 1536}, {5, 7}}) {
        const int N = nk.first, K = nk.second, P = (N + ENCORE_PANEL - 1) / ENCORE_PANEL;
        auto w = random_vector((size_t)N * K, rng, 0.1f);
        for (int k = 0; k < K; k++) w[(size_t)(N - 1) * K + k] = 0.0f;  // an all-zero row: scale 0, no NaN
        // Scale 1, and every other value half-way between two steps.
        for (int k = 0; k < K; k++) w[(size_t)(N - 2) * K + k] = k == 0 ? 127.0f : (float)(k % 9) - 4.5f;
        auto bias = random_vector((size_t)N, rng);
        std::vector<int8_t> store8(encore_packed_floats(N, K));
        std::vector<float> scales((size_t)P * ENCORE_PANEL, std::nanf(""));
        encore_packed_matrix p8{};
        encore_pack_matrix_i8(w.data(), N, K, store8.data(), scales.data(), &p8);
        ASSERT_EQ(p8.panels, nullptr);
        ASSERT_EQ(p8.scales, scales.data());
        std::vector<float> q((size_t)N * K);  // the int8 values, as floats
        for (int n = 0; n < N; n++) {
            float amax = 0.0f;
            for (int k = 0; k < K; k++) amax = std::max(amax, std::fabs(w[(size_t)n * K + k]));
            ASSERT_EQ(scales[n], amax / 127.0f) << "row " << n;
            for (int k = 0; k < K; k++) {
                const int8_t v = store8[(size_t)(n / ENCORE_PANEL) * K * ENCORE_PANEL + (size_t)k * ENCORE_PANEL +
                                        n % ENCORE_PANEL];
                ASSERT_GE(v, -127);
                q[(size_t)n * K + k] = v;
                const long r = scales[n] > 0.0f ? std::lrintf(w[(size_t)n * K + k] / scales[n]) : 0;
                ASSERT_EQ(v, r > 127 ? 127 : r < -127 ? -127 : r) << n << "," << k;
            }
        }
        Packed pq(q, N, K);
        for (int T : {1, 14, 25, 49, 300}) {
            auto x = random_vector((size_t)T * K, rng);
            for (encore_cpu_isa isa : isas())
                for (int threads : {1, 2})
                    for (int with_bias : {0, 1}) {
                        std::vector<float> sum((size_t)T * N), got((size_t)T * N, std::nanf(""));
                        const float *b = with_bias ? bias.data() : nullptr;
                        ASSERT_EQ(encore_linear_packed_isa_cpu(x.data(), &pq.m, nullptr, T, sum.data(), isa, threads), 0);
                        ASSERT_EQ(encore_linear_packed_isa_cpu(x.data(), &p8, b, T, got.data(), isa, threads), 0);
                        int bad = 0;
                        for (int t = 0; t < T && bad < 3; t++)
                            for (int n = 0; n < N && bad < 3; n++) {
                                const float s = sum[(size_t)t * N + n], bn = b ? b[n] : 0.0f;
                                const float want = isa == ENCORE_CPU_ISA_PORTABLE ? s * scales[n] + bn
                                                                                  : std::fmaf(s, scales[n], bn);
                                const float g = got[(size_t)t * N + n];
                                if (std::memcmp(&want, &g, sizeof g) != 0) {
                                    ADD_FAILURE() << isa_name(isa) << " N=" << N << " K=" << K << " T=" << T
                                                  << " threads=" << threads << " bias=" << with_bias << " at (" << t
                                                  << ", " << n << "): " << g << " want " << want;
                                    bad++;
                                }
                            }
                    }
        }
    }
}

// The choice of path, for machines of every kind (the function is pure, so
// this runs whatever this CPU has): BEST is the widest the CPU has,
// ENCORE_CPU_ISA caps it, a named path the CPU lacks is refused, and an
// environment value that is unknown or beyond the CPU is ignored and said.
TEST(CpuIsa, DispatchPicksThePath) {
    const int P = ENCORE_CPU_ISA_PORTABLE, A2 = ENCORE_CPU_ISA_AVX2, A5 = ENCORE_CPU_ISA_AVX512;
    struct Case {
        encore_cpu_isa isa;
        const char *env;
        int avx2, avx512, want, ignored;
    } cases[] = {
        {ENCORE_CPU_ISA_BEST, nullptr, 0, 0, P, 0},     {ENCORE_CPU_ISA_BEST, nullptr, 1, 0, A2, 0},
        {ENCORE_CPU_ISA_BEST, nullptr, 1, 1, A5, 0},    {ENCORE_CPU_ISA_BEST, "", 1, 1, A5, 0},
        {ENCORE_CPU_ISA_BEST, "avx2", 1, 1, A2, 0},     {ENCORE_CPU_ISA_BEST, "portable", 1, 1, P, 0},
        {ENCORE_CPU_ISA_BEST, "avx512", 1, 1, A5, 0},   {ENCORE_CPU_ISA_BEST, "avx512", 1, 0, A2, 1},
        {ENCORE_CPU_ISA_BEST, "avx2", 0, 0, P, 1},      {ENCORE_CPU_ISA_BEST, "sse9", 1, 1, A5, 1},
        {ENCORE_CPU_ISA_BEST, "AVX2", 1, 1, A5, 1},     {ENCORE_CPU_ISA_BEST, nullptr, 0, 1, P, 0},
        {ENCORE_CPU_ISA_PORTABLE, "avx512", 1, 1, P, 0}, {ENCORE_CPU_ISA_AVX2, nullptr, 1, 1, A2, 0},
        {ENCORE_CPU_ISA_AVX2, nullptr, 0, 0, -1, 0},    {ENCORE_CPU_ISA_AVX512, nullptr, 1, 1, A5, 0},
        {ENCORE_CPU_ISA_AVX512, nullptr, 1, 0, -1, 0},  {ENCORE_CPU_ISA_AVX512, "portable", 1, 1, A5, 0},
    };
    for (const Case &c : cases) {
        int ignored = -1;
        EXPECT_EQ(encore_cpu_isa_choose(c.isa, c.env, c.avx2, c.avx512, &ignored), c.want)
            << encore_cpu_isa_name(c.isa) << " env=" << (c.env ? c.env : "(unset)") << " avx2=" << c.avx2
            << " avx512=" << c.avx512;
        EXPECT_EQ(ignored, c.ignored) << encore_cpu_isa_name(c.isa) << " env=" << (c.env ? c.env : "(unset)");
    }
    // This machine: BEST resolves to what the features say (ENCORE_CPU_ISA
    // unset in the test environment, or honoured when set).
    const char *env = std::getenv("ENCORE_CPU_ISA");
    EXPECT_EQ(encore_cpu_isa_resolve(ENCORE_CPU_ISA_BEST),
              encore_cpu_isa_choose(ENCORE_CPU_ISA_BEST, env, encore_cpu_has_avx2(), encore_cpu_has_avx512(), nullptr));
}

// The packed product and the BLAS one (encore_blas_linear, which the CUDA
// tests use as their reference) agree to the summation bound.
TEST(Gemm, AgreesWithBlasLinear) {
    std::mt19937 rng(4);
    const int T = 13, N = 384, K = 1536;
    auto x = random_vector((size_t)T * K, rng);
    auto w = random_vector((size_t)N * K, rng, 0.1f);
    auto bias = random_vector((size_t)N, rng);
    Packed p(w, N, K);
    std::vector<float> got((size_t)T * N), blas((size_t)T * N);
    encore_linear_packed_cpu(x.data(), &p.m, bias.data(), T, got.data());
    encore_blas_linear(x.data(), w.data(), bias.data(), T, N, K, blas.data());
    const Reference ref(x, w, T, N, K);
    expect_matches_reference(ref, bias.data(), T, N, K, got, "packed");
    expect_matches_reference(ref, bias.data(), T, N, K, blas, "blas");
}

// Erf's test points: a dense sweep of [-10, 10] (step 2^-17, about 2.6
// million points), the float neighbourhoods of the interval edges, tiny and
// huge values.
std::vector<float> erf_sweep() {
    std::vector<float> x;
    for (double v = -10.0; v <= 10.0; v += 1.0 / 131072) x.push_back((float)v);
    for (int i = 0; i <= 9; i++) {  // both sides of each interval edge i / 2, and 4
        float e = i * 0.5f;
        for (int k = 0; k < 64; k++) {
            x.push_back(e);
            x.push_back(-e);
            e = std::nextafter(e, 0.0f);
        }
        e = i * 0.5f;
        for (int k = 0; k < 64; k++) x.push_back(e = std::nextafter(e, 10.0f));
    }
    for (float v : {1e-30f, -1e-30f, 1e-45f, 3.0e38f, -3.0e38f}) x.push_back(v);
    return x;
}

// Every erf path is within 1e-7 of erf in double on erf_sweep(): the
// vectorised ones (AVX2, and AVX-512 where the CPU has it), and the portable
// one, which is libm's erff (up to 6e-8 over the same range, so 1e-7 is that
// plus rounding in the polynomial). And odd, exactly.
TEST(Erf, VectorisedWithin1e7OfDouble) {
    const std::vector<float> x = erf_sweep();
    std::vector<double> want(x.size());
    for (size_t i = 0; i < x.size(); i++) want[i] = std::erf((double)x[i]);
    for (encore_cpu_isa isa : isas()) {
        std::vector<float> y(x.size());
        ASSERT_EQ(encore_erf_isa_cpu(x.data(), y.data(), x.size(), isa), 0);
        EXPECT_CLOSE(y, want, 1e-7, 0) << isa_name(isa) << " (x = index / 131072 - 10 for the sweep)";
        for (size_t i = 0; i + 1 < x.size(); i++) {
            if (x[i + 1] == -x[i]) {
                EXPECT_EQ(y[i + 1], -y[i]) << isa_name(isa) << " " << x[i];
            }
        }
    }
}

// The AVX-512 erf and GELU run the AVX2 version's operations on 16 lanes, so
// they give its bits, element for element, whatever the length (full
// vectors, the masked tail) or the block's shape.
TEST(Erf, Avx512GivesTheAvx2Bits) {
    if (!encore_cpu_has_avx512()) GTEST_SKIP() << "no AVX-512F on this CPU: the avx512 path is not tested";
    const std::vector<float> x = erf_sweep();
    std::vector<float> a(x.size()), b(x.size());
    ASSERT_EQ(encore_erf_isa_cpu(x.data(), a.data(), x.size(), ENCORE_CPU_ISA_AVX2), 0);
    ASSERT_EQ(encore_erf_isa_cpu(x.data(), b.data(), x.size(), ENCORE_CPU_ISA_AVX512), 0);
    for (size_t i = 0; i < x.size(); i++) ASSERT_EQ(std::memcmp(&a[i], &b[i], sizeof(float)), 0) << "erf x = " << x[i];
    std::mt19937 rng(7);
    for (int N : {1, 7, 8, 15, 16, 17, 31, 33, 1536}) {
        const int T = 3, ld = N + 5;
        auto v = random_vector((size_t)T * ld, rng, 6.0f);
        auto bias = random_vector((size_t)N, rng, 0.5f);
        std::vector<float> r2 = v, r5 = v, k2 = v, k5 = v;
        for (int t = 0; t < T; t++) {
            ASSERT_EQ(encore_bias_gelu_isa_cpu(r2.data() + (size_t)t * ld, bias.data(), N, ENCORE_CPU_ISA_AVX2), 0);
            ASSERT_EQ(encore_bias_gelu_isa_cpu(r5.data() + (size_t)t * ld, bias.data(), N, ENCORE_CPU_ISA_AVX512), 0);
        }
        ASSERT_EQ(encore_gelu_block_isa_cpu(k2.data(), ld, T, N, ENCORE_CPU_ISA_AVX2), 0);
        ASSERT_EQ(encore_gelu_block_isa_cpu(k5.data(), ld, T, N, ENCORE_CPU_ISA_AVX512), 0);
        EXPECT_EQ(std::memcmp(r2.data(), r5.data(), r2.size() * sizeof(float)), 0) << "bias + GELU, N=" << N;
        EXPECT_EQ(std::memcmp(k2.data(), k5.data(), k2.size() * sizeof(float)), 0) << "GELU block, N=" << N;
    }
}

TEST(Erf, SpecialValues) {
    const float inf = std::numeric_limits<float>::infinity();
    for (encore_cpu_isa isa : isas()) {
        // 11 values: a full vector of 8 and a tail of 3.
        std::vector<float> x = {0.0f, -0.0f, inf, -inf, std::nanf(""), 4.0f, -4.0f, 3.9999998f, 0.5f, -1e-20f, 100.0f};
        std::vector<float> y(x.size());
        ASSERT_EQ(encore_erf_isa_cpu(x.data(), y.data(), x.size(), isa), 0);
        EXPECT_EQ(y[0], 0.0f);
        EXPECT_TRUE(std::signbit(y[1])) << isa_name(isa);
        EXPECT_EQ(y[2], 1.0f);
        EXPECT_EQ(y[3], -1.0f);
        EXPECT_TRUE(std::isnan(y[4])) << isa_name(isa);
        EXPECT_EQ(y[5], 1.0f);
        EXPECT_EQ(y[6], -1.0f);
        EXPECT_NEAR(y[7], std::erf(3.9999998), 1e-7);
        EXPECT_NEAR(y[8], std::erf(0.5), 1e-7);
        EXPECT_NEAR(y[9], -1.1283791670955126e-20, 1e-27);
        EXPECT_EQ(y[10], 1.0f);
    }
}

// The exact GELU with its bias: within 1e-7 (the erf bound) times |v| / 2
// plus float rounding of the products, against the formula in double; the
// AVX2 and portable paths agree to the same bound; encore_bias_act_cpu uses
// it row by row.
TEST(Erf, BiasGeluMatchesDouble) {
    std::mt19937 rng(5);
    const int T = 7, N = 1541;  // not a multiple of 8: the tail goes through the vector code too
    auto x = random_vector((size_t)T * N, rng, 6.0f);
    auto bias = random_vector((size_t)N, rng, 0.5f);
    for (encore_cpu_isa isa : isas()) {
        std::vector<float> y = x;
        for (int t = 0; t < T; t++)
            ASSERT_EQ(encore_bias_gelu_isa_cpu(y.data() + (size_t)t * N, bias.data(), N, isa), 0);
        for (size_t i = 0; i < y.size(); i++) {
            const double v = (double)(x[i] + bias[i % N]);
            const double ref = 0.5 * v * (1.0 + std::erf(v / std::sqrt(2.0)));
            const double tol = std::fabs(v) * (0.5e-7 + 3 * std::ldexp(1.0, -24)) + 1e-30;
            ASSERT_LE(std::fabs(y[i] - ref), tol) << isa_name(isa) << " v = " << v;
        }
        std::vector<float> z = x;
        encore_bias_act_cpu(z.data(), bias.data(), ENCORE_ACTIVATION_GELU, T, N);
        if (isa == isas().back()) {  // the best path, which encore_bias_act_cpu takes
            EXPECT_EQ(std::memcmp(z.data(), y.data(), z.size() * sizeof(float)), 0);
        }
    }
}

// The block GELU (no bias) gives the same bits as the row form with no bias,
// whatever the block's shape.
TEST(Erf, GeluBlockMatchesRowForm) {
    std::mt19937 rng(6);
    const int T = 9, N = 45, ld = 50;
    auto x = random_vector((size_t)T * ld, rng, 6.0f);
    for (encore_cpu_isa isa : isas()) {
        std::vector<float> rows = x, block = x;
        for (int t = 0; t < T; t++) ASSERT_EQ(encore_bias_gelu_isa_cpu(rows.data() + (size_t)t * ld, nullptr, N, isa), 0);
        ASSERT_EQ(encore_gelu_block_isa_cpu(block.data(), ld, T, N, isa), 0);
        EXPECT_EQ(std::memcmp(rows.data(), block.data(), rows.size() * sizeof(float)), 0) << isa_name(isa);
        for (int t = 0; t < T; t++)  // columns past N untouched
            for (int j = N; j < ld; j++) ASSERT_EQ(block[(size_t)t * ld + j], x[(size_t)t * ld + j]);
    }
}

namespace fused {

struct Ln {
    const float *residual, *gamma, *beta;
    int C;
};

void ln_row(float *row, int t, const void *ctx) {
    const Ln *l = static_cast<const Ln *>(ctx);
    encore_residual_layernorm_row_cpu(row, l->residual + (size_t)t * l->C, l->gamma, l->beta, 1e-12f, l->C);
}

struct Act {
    encore_activation act;
};

void act_block(float *c, size_t ldc, int rows, int n0, int cols, const void *ctx) {
    (void)n0;
    encore_act_block_cpu(c, ldc, rows, cols, static_cast<const Act *>(ctx)->act);
}

// Counts how often each element of a (T, N) output is handed to an epilogue.
struct Count {
    std::vector<int> block, row;
    const float *out;
    int N;
};

void count_block(float *c, size_t ldc, int rows, int n0, int cols, const void *ctx) {
    Count *k = const_cast<Count *>(static_cast<const Count *>(ctx));
    const size_t first = (size_t)(c - k->out);
    EXPECT_EQ((int)(first % k->N), n0);
    EXPECT_EQ(ldc, (size_t)k->N);
    for (int r = 0; r < rows; r++)
        for (int j = 0; j < cols; j++) __atomic_fetch_add(&k->block[first + (size_t)r * ldc + j], 1, __ATOMIC_RELAXED);
}

void count_row(float *row, int t, const void *ctx) {
    Count *k = const_cast<Count *>(static_cast<const Count *>(ctx));
    EXPECT_EQ(row, k->out + (size_t)t * k->N);
    __atomic_fetch_add(&k->row[t], 1, __ATOMIC_RELAXED);
}

}  // namespace fused

// An epilogue fused onto the product (an activation on each finished block,
// or LayerNorm with the residual on each row after the product) leaves the
// same bits as the plain product followed by the same work in a separate
// pass: for short texts (no k blocks) and long ones (k blocks), a narrow
// last panel, both code paths, 1 and 2 threads. Every element reaches the
// block epilogue once, every row the row epilogue once.
TEST(Gemm, FusedEpiloguesMatchSeparatePasses) {
    std::mt19937 rng(8);
    for (auto nk : std::vector<std::pair<int, int>>{{384, 1536}, {45, 300}}) {
        const int N = nk.first, K = nk.second;
        auto w = random_vector((size_t)N * K, rng, 0.1f);
        auto bias = random_vector((size_t)N, rng);
        auto gamma = random_vector((size_t)N, rng), beta = random_vector((size_t)N, rng);
        Packed p(w, N, K);
        for (int T : {1, 7, 48, 49, 200}) {
            auto x = random_vector((size_t)T * K, rng);
            auto residual = random_vector((size_t)T * N, rng);
            const fused::Ln ln{residual.data(), gamma.data(), beta.data(), N};
            for (encore_cpu_isa isa : isas()) {
                std::vector<float> plain((size_t)T * N), got((size_t)T * N);
                ASSERT_EQ(encore_linear_packed_isa_cpu(x.data(), &p.m, bias.data(), T, plain.data(), isa, 1), 0);
                for (int threads : {1, 2}) {
                    const std::string where = std::string(isa_name(isa)) + " N=" + std::to_string(N) +
                                              " T=" + std::to_string(T) + " threads=" + std::to_string(threads);
                    for (encore_activation act : {ENCORE_ACTIVATION_GELU, ENCORE_ACTIVATION_RELU}) {
                        const fused::Act a{act};
                        const encore_linear_epilogue ep{fused::act_block, nullptr, &a};
                        ASSERT_EQ(encore_linear_packed_fused_isa_cpu(x.data(), &p.m, bias.data(), T, got.data(), &ep,
                                                                     isa, threads),
                                  0);
                        std::vector<float> want = plain;
                        encore_act_block_cpu(want.data(), N, T, N, act);
                        EXPECT_EQ(std::memcmp(want.data(), got.data(), want.size() * sizeof(float)), 0)
                            << where << " activation " << act;
                    }
                    const encore_linear_epilogue ep{nullptr, fused::ln_row, &ln};
                    ASSERT_EQ(encore_linear_packed_fused_isa_cpu(x.data(), &p.m, bias.data(), T, got.data(), &ep, isa,
                                                                 threads),
                              0);
                    std::vector<float> want = plain;
                    for (int t = 0; t < T; t++) fused::ln_row(want.data() + (size_t)t * N, t, &ln);
                    EXPECT_EQ(std::memcmp(want.data(), got.data(), want.size() * sizeof(float)), 0)
                        << where << " residual LayerNorm";

                    fused::Count count{std::vector<int>((size_t)T * N), std::vector<int>(T), got.data(), N};
                    const encore_linear_epilogue counting{fused::count_block, fused::count_row, &count};
                    ASSERT_EQ(encore_linear_packed_fused_isa_cpu(x.data(), &p.m, bias.data(), T, got.data(),
                                                                 &counting, isa, threads),
                              0);
                    for (size_t i = 0; i < count.block.size(); i++)
                        ASSERT_EQ(count.block[i], 1) << where << " element " << i;
                    for (int t = 0; t < T; t++) ASSERT_EQ(count.row[t], 1) << where << " row " << t;
                }
            }
        }
    }
}
