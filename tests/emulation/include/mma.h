// mma.h (emulation): WMMA 16x16x16 fragments for the CPU emulation. Each
// fragment is spread over the 32 lanes as on sm_80 (mma.m16n8k16 twice): a
// lane holds 8 elements and loads and stores only those, so a missing
// __syncwarp after a store leaves other lanes reading stale values, as on the
// device. load/store/mma are warp operations that every lane must reach;
// pointers must be 256-bit aligned and leading dimensions multiples of 16
// bytes, as the WMMA API requires. Written for encore; not NVIDIA's header.
#pragma once

#include "cuda_bf16.h"
#include "cuda_fp16.h"
#include "cuda_runtime.h"

namespace nvcuda {
namespace wmma {

struct matrix_a {};
struct matrix_b {};
struct accumulator {};
struct row_major {};
struct col_major {};
enum layout_t { mem_row_major, mem_col_major };

template <typename Use, int M, int N, int K, typename T, typename Layout = void> struct fragment {
    static_assert(M == 16 && N == 16 && K == 16, "the emulation has the m16n16k16 shape");
    enum { num_elements = 8 };
    T x[8];
};

namespace detail {

inline float to_f(float v) { return v; }
inline float to_f(__half v) { return __half2float(v); }
inline float to_f(__nv_bfloat16 v) { return __bfloat162float(v); }

// Row and column of element i of lane's share: of A (m, k), of B (k, n), of
// the accumulator (m, n).
inline void coord_a(unsigned lane, int i, int *r, int *c) {
    const int g = (int)lane >> 2, t = (int)lane & 3;
    *r = g + 8 * ((i >> 1) & 1);
    *c = 2 * t + (i & 1) + 8 * (i >> 2);
}
inline void coord_b(unsigned lane, int i, int *r, int *c) {
    const int g = (int)lane >> 2, t = (int)lane & 3, j = i & 3;
    *r = 2 * t + (j & 1) + 8 * (j >> 1);
    *c = g + 8 * (i >> 2);
}
inline void coord_acc(unsigned lane, int i, int *r, int *c) {
    const int g = (int)lane >> 2, t = (int)lane & 3, j = i & 3;
    *r = g + 8 * (j >> 1);
    *c = 2 * t + (j & 1) + 8 * (i >> 2);
}
inline void coord(matrix_a, unsigned lane, int i, int *r, int *c) { coord_a(lane, i, r, c); }
inline void coord(matrix_b, unsigned lane, int i, int *r, int *c) { coord_b(lane, i, r, c); }
inline void coord(accumulator, unsigned lane, int i, int *r, int *c) { coord_acc(lane, i, r, c); }

template <typename T> void check(const char *what, const T *p, unsigned ldm) {
    if ((uintptr_t)p % 32 != 0)
        encore_emu::fault("wmma::%s: pointer %p is not 256-bit aligned", what, (const void *)p);
    if ((ldm * sizeof(T)) % 16 != 0 || ldm < 16)
        encore_emu::fault("wmma::%s: leading dimension %u is not a multiple of %d elements (16 bytes) of at least 16",
                          what, ldm, (int)(16 / sizeof(T)));
}

inline bool row_major_of(row_major) { return true; }
inline bool row_major_of(col_major) { return false; }

// Run by the last lane to arrive: D = A B + C from every lane's share.
inline void mma_finish(encore_emu::Exchange *x) {
    float A[16][16], B[16][16], Cm[16][16];
    for (unsigned l = 0; l < 32; l++) {
        const float *s = reinterpret_cast<const float *>(x->slot[l]);
        for (int i = 0; i < 8; i++) {
            int r, c;
            coord_a(l, i, &r, &c);
            A[r][c] = s[i];
            coord_b(l, i, &r, &c);
            B[r][c] = s[8 + i];
            coord_acc(l, i, &r, &c);
            Cm[r][c] = s[16 + i];
        }
    }
    for (int m = 0; m < 16; m++)
        for (int n = 0; n < 16; n++) {
            float acc = Cm[m][n];
            for (int k = 0; k < 16; k++) acc += A[m][k] * B[k][n];
            x->result[m * 16 + n] = acc;
        }
}

}  // namespace detail

template <typename Use, typename T, typename Layout>
inline void fill_fragment(fragment<Use, 16, 16, 16, T, Layout> &f, const T &v) {
    for (int i = 0; i < 8; i++) f.x[i] = v;
}

template <typename Use, typename T, typename Layout>
inline void load_matrix_sync(fragment<Use, 16, 16, 16, T, Layout> &f, const T *p, unsigned ldm) {
    detail::check("load_matrix_sync", p, ldm);
    encore_emu::warp_exchange(encore_emu::kWmmaLoad, 0xffffffffu, nullptr, 0, nullptr);
    const unsigned lane = encore_emu::g_thread->lane;
    const bool rm = detail::row_major_of(Layout{});
    for (int i = 0; i < 8; i++) {
        int r, c;
        detail::coord(Use{}, lane, i, &r, &c);
        f.x[i] = rm ? p[(size_t)r * ldm + c] : p[(size_t)c * ldm + r];
    }
}

inline void load_matrix_sync(fragment<accumulator, 16, 16, 16, float> &f, const float *p, unsigned ldm, layout_t l) {
    detail::check("load_matrix_sync", p, ldm);
    encore_emu::warp_exchange(encore_emu::kWmmaLoad, 0xffffffffu, nullptr, 0, nullptr);
    const unsigned lane = encore_emu::g_thread->lane;
    for (int i = 0; i < 8; i++) {
        int r, c;
        detail::coord_acc(lane, i, &r, &c);
        f.x[i] = l == mem_row_major ? p[(size_t)r * ldm + c] : p[(size_t)c * ldm + r];
    }
}

inline void store_matrix_sync(float *p, const fragment<accumulator, 16, 16, 16, float> &f, unsigned ldm, layout_t l) {
    detail::check("store_matrix_sync", p, ldm);
    encore_emu::warp_exchange(encore_emu::kWmmaStore, 0xffffffffu, nullptr, 0, nullptr);
    const unsigned lane = encore_emu::g_thread->lane;
    for (int i = 0; i < 8; i++) {
        int r, c;
        detail::coord_acc(lane, i, &r, &c);
        (l == mem_row_major ? p[(size_t)r * ldm + c] : p[(size_t)c * ldm + r]) = f.x[i];
    }
}

template <typename T, typename LA, typename LB>
inline void mma_sync(fragment<accumulator, 16, 16, 16, float> &d, const fragment<matrix_a, 16, 16, 16, T, LA> &a,
                     const fragment<matrix_b, 16, 16, 16, T, LB> &b,
                     const fragment<accumulator, 16, 16, 16, float> &c) {
    float mine[24];
    for (int i = 0; i < 8; i++) {
        mine[i] = detail::to_f(a.x[i]);
        mine[8 + i] = detail::to_f(b.x[i]);
        mine[16 + i] = c.x[i];
    }
    const encore_emu::Exchange *x =
        encore_emu::warp_exchange(encore_emu::kWmmaMma, 0xffffffffu, mine, sizeof mine, detail::mma_finish);
    const unsigned lane = encore_emu::g_thread->lane;
    for (int i = 0; i < 8; i++) {
        int r, cc;
        detail::coord_acc(lane, i, &r, &cc);
        d.x[i] = x->result[r * 16 + cc];
    }
}

}  // namespace wmma
}  // namespace nvcuda
