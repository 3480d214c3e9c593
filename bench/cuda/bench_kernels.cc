// bench_kernels.cc: the kernel harness, in the manner of llm.c's dev/cuda.
// For each kernel (and the cuBLAS GEMMs of the encoder) at DistilBERT shapes:
// validate against the CPU twin on a small mixed-length batch, then time the
// full-size launch (L2 flushed before every repeat, CUDA events, median of
// the repeats) and report achieved GB/s and TFLOP/s against this device's
// ceilings, measured first in the same run: a device-to-device copy for
// bandwidth and a bf16 8192^3 cuBLAS GEMM for the tensor cores.
//
//   bench_kernels [--quick]      (markdown on stdout)
#include <cuda_runtime_api.h>
#include <omp.h>

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <functional>
#include <random>
#include <string>
#include <vector>

#include "blas_reference.h"
#include "cpu/cpu_ops.h"
#include "cuda/device_blas.h"
#include "cuda/device_plan.h"
#include "cpu/forward_cpu.h"
#include "kernels.h"

namespace {

#define CK(call)                                                                                  \
    do {                                                                                          \
        cudaError_t e_ = (call);                                                                  \
        if (e_ != cudaSuccess) {                                                                  \
            std::fprintf(stderr, "%s:%d: %s: %s\n", __FILE__, __LINE__, #call, cudaGetErrorString(e_)); \
            std::exit(1);                                                                         \
        }                                                                                         \
    } while (0)

#define OK(call)                                                                                  \
    do {                                                                                          \
        if ((call) != ENCORE_STATUS_OK) {                                                         \
            std::fprintf(stderr, "%s:%d: %s: %s\n", __FILE__, __LINE__, #call, encore_last_error()); \
            std::exit(1);                                                                         \
        }                                                                                         \
    } while (0)

struct Buf {
    void *p = nullptr;
    size_t bytes = 0;
    explicit Buf(size_t n) : bytes(n) { CK(cudaMalloc(&p, n)); }
    ~Buf() { cudaFree(p); }
    Buf(const Buf &) = delete;
    template <typename T> T *as() const { return static_cast<T *>(p); }
};

std::mt19937 rng(1234);

std::vector<float> randn(size_t n, float s) {
    std::normal_distribution<float> nd(0.0f, s);
    std::vector<float> v(n);
    for (auto &x : v) x = nd(rng);
    return v;
}

// Upload v as dt; returns the values as the device holds them (rounded).
std::vector<float> put(Buf &b, std::vector<float> v, encore_cuda_dtype dt) {
    std::vector<unsigned char> tmp(v.size() * encore_cuda_dtype_size(dt));
    encore_convert_from_f32(v.data(), v.size(), dt, tmp.data());
    CK(cudaMemcpy(b.p, tmp.data(), tmp.size(), cudaMemcpyHostToDevice));
    encore_convert_to_f32(tmp.data(), v.size(), dt, v.data());
    return v;
}

std::vector<float> get(const Buf &b, size_t n, encore_cuda_dtype dt) {
    std::vector<unsigned char> tmp(n * encore_cuda_dtype_size(dt));
    CK(cudaMemcpy(tmp.data(), b.p, tmp.size(), cudaMemcpyDeviceToHost));
    std::vector<float> v(n);
    encore_convert_to_f32(tmp.data(), n, dt, v.data());
    return v;
}

void put_ints(Buf &b, const std::vector<int32_t> &v) {
    CK(cudaMemcpy(b.p, v.data(), v.size() * 4, cudaMemcpyHostToDevice));
}

double max_err(const std::vector<float> &got, const std::vector<float> &want) {
    double m = 0;
    for (size_t i = 0; i < got.size(); i++) {
        const double d = std::fabs((double)got[i] - want[i]);
        if (!(d <= m)) m = std::isnan(d) ? INFINITY : d;
    }
    return m;
}

struct Ceil {
    double gbps = 0, tflops = 0;
    const char *device = "";
};

Buf *g_flush = nullptr;

// Median time in ms of fn over reps, each after an L2 flush.
double time_ms(const std::function<void()> &fn, int reps) {
    cudaEvent_t a, b;
    CK(cudaEventCreate(&a));
    CK(cudaEventCreate(&b));
    fn();  // warm-up
    CK(cudaDeviceSynchronize());
    std::vector<float> t;
    for (int r = 0; r < reps; r++) {
        CK(cudaMemsetAsync(g_flush->p, r & 0xff, g_flush->bytes, nullptr));
        CK(cudaEventRecord(a, nullptr));
        fn();
        CK(cudaEventRecord(b, nullptr));
        CK(cudaEventSynchronize(b));
        float ms = 0;
        CK(cudaEventElapsedTime(&ms, a, b));
        t.push_back(ms);
    }
    CK(cudaGetLastError());
    cudaEventDestroy(a);
    cudaEventDestroy(b);
    std::sort(t.begin(), t.end());
    return t[t.size() / 2];
}

void row(const Ceil &c, const std::string &kernel, encore_cuda_dtype dt, const std::string &shape, double ms,
         double bytes, double flops, double err, double tol) {
    const double gbps = bytes / (ms * 1e-3) / 1e9, tflops = flops / (ms * 1e-3) / 1e12;
    const bool ok = err <= tol;
    std::printf("| %s | %s | %s | %.1f | %.0f | %.0f%% | %s | %s | %.2g %s |\n", kernel.c_str(),
                encore_cuda_dtype_name(dt), shape.c_str(), ms * 1e3, gbps, 100.0 * gbps / c.gbps,
                flops > 0 ? (std::to_string((int)std::lround(tflops)) + "").c_str() : "-",
                flops > 0 ? (std::to_string((int)std::lround(100.0 * tflops / c.tflops)) + "%").c_str() : "-", err,
                ok ? "ok" : "FAIL");
    std::fflush(stdout);
    if (!ok) std::fprintf(stderr, "VALIDATION FAILED: %s %s: max error %g > %g\n", kernel.c_str(),
                          encore_cuda_dtype_name(dt), err, tol);
}

double tol_of(encore_cuda_dtype dt, double f32, double f16, double bf16) {
    return dt == ENCORE_CUDA_F32 ? f32 : dt == ENCORE_CUDA_F16 ? f16 : bf16;
}

// Small mixed batch for validation.
const std::vector<int> kCheckLengths = {1, 7, 128, 129, 200};

std::vector<int32_t> starts(const std::vector<int> &lengths) {
    std::vector<int32_t> s(1, 0);
    for (int n : lengths) s.push_back(s.back() + n);
    return s;
}

// ---- ops -----------------------------------------------------------------------

const int C = 768, F = 3072, H = 12, D = 64;

void bench_layernorm(const Ceil &c, encore_cuda_dtype dt, int T, int reps) {
    const size_t e = encore_cuda_dtype_size(dt);
    Buf x((size_t)T * C * e), res((size_t)T * C * e), bias(C * 4), g(C * 4), b(C * 4);
    auto hb = put(bias, randn(C, 1), ENCORE_CUDA_F32), hg = put(g, randn(C, 1), ENCORE_CUDA_F32),
         hbeta = put(b, randn(C, 1), ENCORE_CUDA_F32);
    const int Tc = starts(kCheckLengths).back();
    auto hx = put(x, randn((size_t)Tc * C, 2), dt), hr = put(res, randn((size_t)Tc * C, 2), dt);
    OK(encore_bias_residual_layernorm_cuda(x.p, bias.as<float>(), res.p, g.as<float>(), b.as<float>(), 1e-12f, Tc, C,
                                           dt, nullptr));
    encore_bias_residual_layernorm_cpu(hx.data(), hb.data(), hr.data(), hg.data(), hbeta.data(), 1e-12f, Tc, C);
    const double err = max_err(get(x, hx.size(), dt), hx);
    const double ms = time_ms(
        [&] { encore_bias_residual_layernorm_cuda(x.p, bias.as<float>(), res.p, g.as<float>(), b.as<float>(), 1e-12f, T, C, dt, nullptr); },
        reps);
    row(c, "bias_residual_layernorm", dt, "T=" + std::to_string(T) + " C=768", ms, 3.0 * T * C * e, 0, err,
        tol_of(dt, 1e-4, 3e-2, 2.5e-1));
}

void bench_gelu(const Ceil &c, encore_cuda_dtype dt, int T, int reps) {
    const size_t e = encore_cuda_dtype_size(dt);
    Buf x((size_t)T * F * e), bias(F * 4);
    auto hb = put(bias, randn(F, 1), ENCORE_CUDA_F32);
    const int Tc = starts(kCheckLengths).back();
    auto hx = put(x, randn((size_t)Tc * F, 2), dt);
    OK(encore_bias_act_cuda(x.p, bias.as<float>(), ENCORE_ACTIVATION_GELU, Tc, F, dt, nullptr));
    encore_bias_act_cpu(hx.data(), hb.data(), ENCORE_ACTIVATION_GELU, Tc, F);
    const double err = max_err(get(x, hx.size(), dt), hx);
    const double ms =
        time_ms([&] { encore_bias_act_cuda(x.p, bias.as<float>(), ENCORE_ACTIVATION_GELU, T, F, dt, nullptr); }, reps);
    row(c, "bias_gelu", dt, "T=" + std::to_string(T) + " N=3072", ms, 2.0 * T * F * e, 0, err,
        tol_of(dt, 1e-5, 2e-2, 1.6e-1));
}

void bench_embed(const Ceil &c, encore_cuda_dtype dt, int T, int L, int reps) {
    const size_t e = encore_cuda_dtype_size(dt);
    const int V = 30522, P = 512;
    Buf word((size_t)V * C * 4), pos((size_t)P * C * 4), g(C * 4), b(C * 4), out((size_t)T * C * e), ids(T * 4),
        types(T * 4), posi(T * 4);
    auto hw = put(word, randn((size_t)V * C, 0.02f), ENCORE_CUDA_F32), hp = put(pos, randn((size_t)P * C, 0.02f), ENCORE_CUDA_F32);
    auto hg = put(g, randn(C, 1), ENCORE_CUDA_F32), hbeta = put(b, randn(C, 1), ENCORE_CUDA_F32);
    std::vector<int32_t> vi(T), vt(T, 0), vp(T);
    std::uniform_int_distribution<int> vid(0, V - 1);
    for (int t = 0; t < T; t++) {
        vi[t] = vid(rng);
        vp[t] = t % L;
    }
    put_ints(ids, vi);
    put_ints(types, vt);
    put_ints(posi, vp);
    const int Tc = 300;
    OK(encore_embed_cuda(ids.as<int32_t>(), types.as<int32_t>(), posi.as<int32_t>(), Tc, C, word.as<float>(),
                         pos.as<float>(), nullptr, g.as<float>(), b.as<float>(), 1e-12f, dt, out.p, nullptr));
    std::vector<float> want((size_t)Tc * C);
    encore_embed_cpu(vi.data(), vt.data(), vp.data(), Tc, C, hw.data(), hp.data(), nullptr, hg.data(), hbeta.data(),
                     1e-12f, want.data());
    const double err = max_err(get(out, want.size(), dt), want);
    const double ms = time_ms(
        [&] {
            encore_embed_cuda(ids.as<int32_t>(), types.as<int32_t>(), posi.as<int32_t>(), T, C, word.as<float>(),
                              pos.as<float>(), nullptr, g.as<float>(), b.as<float>(), 1e-12f, dt, out.p, nullptr);
        },
        reps);
    row(c, "embed", dt, "T=" + std::to_string(T) + " C=768", ms, (double)T * C * (e + 8.0), 0, err,
        tol_of(dt, 1e-4, 3e-2, 2.5e-1));
}

void bench_attention(const Ceil &c, encore_cuda_dtype dt, encore_attention_impl impl, int B, int L, int reps) {
    if (!encore_attention_cuda_supports(impl, D, dt)) return;
    const size_t e = encore_cuda_dtype_size(dt);
    const int T = B * L;
    Buf qkv((size_t)T * 3 * C * e), bias(3 * C * 4), out((size_t)T * C * e), st((B + 1) * 4), tiles((B + 1) * 4);
    auto hb = put(bias, randn(3 * C, 0.5f), ENCORE_CUDA_F32);
    // validation on the small mixed batch
    {
        const auto s = starts(kCheckLengths);
        const int Bc = (int)kCheckLengths.size(), Tc = s.back();
        auto hq = put(qkv, randn((size_t)Tc * 3 * C, 1), dt);
        std::vector<int32_t> ti(Bc + 1);
        const int nt = encore_attention_tiles(s.data(), Bc, ENCORE_ATTENTION_TILE_Q, ti.data());
        put_ints(st, s);
        put_ints(tiles, ti);
        OK(encore_attention_cuda(qkv.p, bias.as<float>(), nullptr, 0, st.as<int32_t>(), tiles.as<int32_t>(), nt, Bc, H, D, impl, dt,
                                 out.p, nullptr));
        for (int t = 0; t < Tc; t++)
            for (int j = 0; j < 3 * C; j++) hq[(size_t)t * 3 * C + j] += hb[j];
        std::vector<float> scratch(encore_attention_scratch_floats(omp_get_max_threads(), 200, D)), want((size_t)Tc * C);
        encore_attention_cpu(hq.data(), s.data(), Bc, H, D, nullptr, scratch.data(), 200, want.data());
        const double err = max_err(get(out, want.size(), dt), want);
        std::vector<int> lens(B, L);
        const auto sf = starts(lens);
        std::vector<int32_t> tf(B + 1);
        const int ntf = encore_attention_tiles(sf.data(), B, ENCORE_ATTENTION_TILE_Q, tf.data());
        put_ints(st, sf);
        put_ints(tiles, tf);
        put(qkv, randn((size_t)T * 3 * C, 1), dt);
        const double ms = time_ms(
            [&] {
                encore_attention_cuda(qkv.p, bias.as<float>(), nullptr, 0, st.as<int32_t>(), tiles.as<int32_t>(), ntf, B, H, D, impl,
                                      dt, out.p, nullptr);
            },
            reps);
        const double flops = 4.0 * B * (double)L * L * C;
        row(c, impl == ENCORE_ATTENTION_TENSOR ? "attention (tensor cores)" : "attention (simt)", dt,
            "B=" + std::to_string(B) + " L=" + std::to_string(L) + " H=12 D=64", ms, (double)T * 4 * C * e, flops, err,
            tol_of(dt, 1e-4, 1e-2, 6e-2));
    }
}

void bench_linear(const Ceil &c, const encore_blas *blas, cublasHandle_t h, encore_cuda_dtype dt, const char *name,
                  int T, int N, int K, int reps) {
    const size_t e = encore_cuda_dtype_size(dt);
    Buf x((size_t)T * K * e), w((size_t)N * K * e), out((size_t)T * N * e);
    const int Tc = 129;
    auto hx = put(x, randn((size_t)Tc * K, 1), dt), hw = put(w, randn((size_t)N * K, 1.0f / std::sqrt((float)K)), dt);
    OK(encore_linear_cuda(blas, h, x.p, w.p, Tc, N, K, dt, out.p));
    std::vector<float> want((size_t)Tc * N);
    encore_blas_linear(hx.data(), hw.data(), nullptr, Tc, N, K, want.data());
    const double err = max_err(get(out, want.size(), dt), want);
    const double ms = time_ms([&] { encore_linear_cuda(blas, h, x.p, w.p, T, N, K, dt, out.p); }, reps);
    row(c, name, dt, "T=" + std::to_string(T) + " N=" + std::to_string(N) + " K=" + std::to_string(K), ms,
        (double)(T * K + N * K + T * N) * e, 2.0 * T * N * K, err, tol_of(dt, 1e-3, 1e-2, 6e-2));
}

}  // namespace

int main(int argc, char **argv) {
    const bool quick = argc > 1 && std::strcmp(argv[1], "--quick") == 0;
    const int reps = quick ? 5 : 20;
    CK(cudaSetDevice(0));
    OK(encore_kernels_cuda_prepare());
    cudaDeviceProp prop;
    CK(cudaGetDeviceProperties(&prop, 0));
    Buf flush((size_t)std::max(prop.l2CacheSize, 1 << 20) * 2);
    g_flush = &flush;
    const encore_blas *blas = nullptr;
    OK(encore_blas_load(&blas));
    cublasHandle_t handle = nullptr;
    OK(encore_blas_handle_create(blas, &handle));

    Ceil c;
    c.device = prop.name;
    {  // copy bandwidth: 2 GiB device to device, bytes read + written
        const size_t n = (size_t)2 << 30;
        Buf a(n), b(n);
        CK(cudaMemset(a.p, 1, n));
        const double ms = time_ms([&] { cudaMemcpyAsync(b.p, a.p, n, cudaMemcpyDeviceToDevice, nullptr); }, 10);
        c.gbps = 2.0 * n / (ms * 1e-3) / 1e9;
    }
    {  // tensor-core ceiling: bf16 8192^3 through cuBLAS, random data
        const int n = 8192;
        Buf a((size_t)n * n * 2), b((size_t)n * n * 2), o((size_t)n * n * 2);
        std::vector<float> r = randn((size_t)n * 64, 1);
        std::vector<unsigned char> tmp(r.size() * 2);
        encore_convert_from_f32(r.data(), r.size(), ENCORE_CUDA_BF16, tmp.data());
        for (size_t off = 0; off < (size_t)n * n * 2; off += tmp.size()) {
            CK(cudaMemcpy((char *)a.p + off, tmp.data(), tmp.size(), cudaMemcpyHostToDevice));
            CK(cudaMemcpy((char *)b.p + off, tmp.data(), tmp.size(), cudaMemcpyHostToDevice));
        }
        const double ms = time_ms([&] { encore_linear_cuda(blas, handle, a.p, b.p, n, n, n, ENCORE_CUDA_BF16, o.p); }, 5);
        c.tflops = 2.0 * n * n * (double)n / (ms * 1e-3) / 1e12;
    }
    std::printf("## Kernels on %s (%d SMs, L2 %d MiB)\n\n", prop.name, prop.multiProcessorCount,
                prop.l2CacheSize >> 20);
    std::printf("Ceilings measured in this run: copy %.0f GB/s (read + write), bf16 GEMM 8192^3 %.0f TFLOP/s.\n",
                c.gbps, c.tflops);
    std::printf("Each row: validated against the CPU twin on a mixed batch (lengths 1, 7, 128, 129, 200), then timed\n"
                "at the shape shown: median of %d launches, L2 flushed before each.\n\n", reps);
    std::printf("| kernel | dtype | shape | us | GB/s | of copy | TFLOP/s | of GEMM | max err vs CPU |\n");
    std::printf("|---|---|---|---|---|---|---|---|---|\n");
    const int T = 256 * 128;  // DistilBERT, batch 256 at length 128
    for (encore_cuda_dtype dt : {ENCORE_CUDA_F16, ENCORE_CUDA_BF16, ENCORE_CUDA_F32}) {
        if (quick && dt != ENCORE_CUDA_F16) continue;
        bench_embed(c, dt, T, 128, reps);
        bench_layernorm(c, dt, T, reps);
        bench_gelu(c, dt, T, reps);
        for (encore_attention_impl impl : {ENCORE_ATTENTION_TENSOR, ENCORE_ATTENTION_SIMT}) {
            bench_attention(c, dt, impl, 256, 128, reps);
            bench_attention(c, dt, impl, 64, 512, reps);
            if (!quick) bench_attention(c, dt, impl, 1024, 32, reps);
        }
        bench_linear(c, blas, handle, dt, "linear qkv (cuBLAS)", T, 3 * C, C, reps);
        bench_linear(c, blas, handle, dt, "linear ffn_in (cuBLAS)", T, F, C, reps);
        bench_linear(c, blas, handle, dt, "linear ffn_out (cuBLAS)", T, C, F, reps);
    }
    blas->destroy(handle);
    return 0;
}
