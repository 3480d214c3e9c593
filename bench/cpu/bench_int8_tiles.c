/* bench_int8_tiles: whole k loops of 5-row AVX2 int8 tiles (16 columns, one
 * group of 128 k), written in assembly so that every accumulator stays in a
 * register, timed on data in L1. Each is a way to compute int8 dot products
 * without VNNI; the figure is cycles per row and step of 4 k (64
 * multiply-adds), the clock taken from the FMA rate as in bench_int8_ops.
 *
 *   exact, vpabsb         the plain AVX2 tile (gemm_i8_cpu.c) on weights
 *                         four k to a lane: |a - 128| times the weight
 *                         signed by a - 128
 *   exact, |a-128| stored the same with |a - 128| stored beside a - 128
 *   exact, int16          weights widened by vpmovsxbw, vpmaddwd on int16
 *                         pairs of k (a panel laid out by pairs of k): the
 *                         plain AVX2 tile on weights packed for it
 *   exact, int16 stored   the same on weights stored as int16: plain
 *                         loads instead of vpmovsxbw
 *   int16, 3 x 32 / 3 x 16, qword
 *                         wider tiles on int16 weights read as memory
 *                         operands, so that one broadcast of a row's
 *                         activations serves 32 columns, or 16 columns
 *                         and four k (lanes 2i and 2i + 1 both column i)
 *   exact, nibble weights w = 16 wh + wl (|wh|, |wl| <= 8), vpmaddubsw of
 *                         a by both, int16 sums for 8 pairs of k, then
 *                         vpmaddwd by (1, 16) into int32
 *   saturating            vpmaddubsw of a (0-255) by w, no sign step: what
 *                         ONNX Runtime's u8 x s8 AVX2 kernel does; exact
 *                         only for weights of 7 bits
 *   vpmaddwd only, vpaddd only
 *                         the int16 tile's 4 multiplies, or its 4 adds, a
 *                         row-step alone: the bounds its mix runs against
 *
 * The weights and activations are random bytes: only the time is measured
 * (the sums are stored so that the loops are kept).
 *
 *   build/bench/cpu/bench_int8_tiles
 *
 * Each figure is the best of 15 runs (a floor for a shared machine's
 * noise). */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#if defined(__x86_64__)
#include "bench_x86.h"

#define STEPS 32 /* steps of 4 k in a group of 128 */
#define ROWS 5
#define CALLS 100000L
#define RUNS 15

/* Inputs, big enough for every layout: a (STEPS, ROWS, up to 16 bytes),
 * b (STEPS, up to 256 bytes: the 32-column int16 tile's). */
static uint8_t act[STEPS * ROWS * 16] __attribute__((aligned(64)));
static uint8_t wts[STEPS * 256] __attribute__((aligned(64)));
static int32_t sums[ROWS * 16] __attribute__((aligned(64)));
static const int16_t ones[16] __attribute__((aligned(32))) = {1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1};
static const int16_t one_sixteen[16] __attribute__((aligned(32))) = {1, 16, 1, 16, 1, 16, 1, 16,
                                                                     1, 16, 1, 16, 1, 16, 1, 16};

/* Row r's accumulators are ymm(2r) and ymm(2r+1); ymm11 and ymm12 hold the
 * weights of a step, ymm13-15 are temporaries. */
#define FOR_ROWS(R) R(0, 0, 1) R(1, 2, 3) R(2, 4, 5) R(3, 6, 7) R(4, 8, 9)
#define ZERO_ACC                                                                                             \
    "vpxor %%ymm0, %%ymm0, %%ymm0\n\tvpxor %%ymm1, %%ymm1, %%ymm1\n\tvpxor %%ymm2, %%ymm2, %%ymm2\n\t"       \
    "vpxor %%ymm3, %%ymm3, %%ymm3\n\tvpxor %%ymm4, %%ymm4, %%ymm4\n\tvpxor %%ymm5, %%ymm5, %%ymm5\n\t"       \
    "vpxor %%ymm6, %%ymm6, %%ymm6\n\tvpxor %%ymm7, %%ymm7, %%ymm7\n\tvpxor %%ymm8, %%ymm8, %%ymm8\n\t"       \
    "vpxor %%ymm9, %%ymm9, %%ymm9\n\t"
#define STORE_ACC "vmovdqu %%ymm0, (%[out])\n\tvmovdqu %%ymm9, 32(%[out])\n\t"
#define CLOBBERS                                                                                             \
    "xmm0", "xmm1", "xmm2", "xmm3", "xmm4", "xmm5", "xmm6", "xmm7", "xmm8", "xmm9", "xmm11", "xmm12", "xmm13", \
        "xmm14", "xmm15", "memory", "cc"
#define ACC(L, H, t0, t1)                                                                                    \
    "vpaddd %%ymm" #t0 ", %%ymm" #L ", %%ymm" #L "\n\tvpaddd %%ymm" #t1 ", %%ymm" #H ", %%ymm" #H "\n\t"
#define LOAD_Q "vmovdqu (%[b]), %%ymm11\n\tvmovdqu 32(%[b]), %%ymm12\n\t"

/* Row r of a step of 4 k, a - 128 at 4r: |a - 128|, the weights signed. */
#define ROW_EXACT(r, L, H)                                                                                   \
    "vpbroadcastd 4*" #r "(%[a]), %%ymm13\n\tvpabsb %%ymm13, %%ymm14\n\t"                                    \
    "vpsignb %%ymm13, %%ymm11, %%ymm15\n\tvpsignb %%ymm13, %%ymm12, %%ymm13\n\t"                             \
    "vpmaddubsw %%ymm15, %%ymm14, %%ymm15\n\tvpmaddubsw %%ymm13, %%ymm14, %%ymm13\n\t"                       \
    "vpmaddwd %[ones], %%ymm15, %%ymm15\n\tvpmaddwd %[ones], %%ymm13, %%ymm13\n\t" ACC(L, H, 15, 13)
/* The same with |a - 128| read from 8r + 4. */
#define ROW_STORED(r, L, H)                                                                                  \
    "vpbroadcastd 8*" #r "(%[a]), %%ymm13\n\tvpbroadcastd 8*" #r "+4(%[a]), %%ymm14\n\t"                     \
    "vpsignb %%ymm13, %%ymm11, %%ymm15\n\tvpsignb %%ymm13, %%ymm12, %%ymm13\n\t"                             \
    "vpmaddubsw %%ymm15, %%ymm14, %%ymm15\n\tvpmaddubsw %%ymm13, %%ymm14, %%ymm13\n\t"                       \
    "vpmaddwd %[ones], %%ymm15, %%ymm15\n\tvpmaddwd %[ones], %%ymm13, %%ymm13\n\t" ACC(L, H, 15, 13)
/* a (0-255) by w, saturating. */
#define ROW_SAT(r, L, H)                                                                                     \
    "vpbroadcastd 4*" #r "(%[a]), %%ymm13\n\t"                                                               \
    "vpmaddubsw %%ymm11, %%ymm13, %%ymm15\n\tvpmaddubsw %%ymm12, %%ymm13, %%ymm14\n\t"                       \
    "vpmaddwd %[ones], %%ymm15, %%ymm15\n\tvpmaddwd %[ones], %%ymm14, %%ymm14\n\t" ACC(L, H, 15, 14)
/* A pair of k: two int16 of a - 128 at 4r, by 8 columns x 2 k of int16
 * weights in ymm11 and ymm12. */
#define ROW_INT16(r, L, H)                                                                                   \
    "vpbroadcastd 4*" #r "(%[a]), %%ymm13\n\t"                                                               \
    "vpmaddwd %%ymm11, %%ymm13, %%ymm15\n\tvpmaddwd %%ymm12, %%ymm13, %%ymm14\n\t" ACC(L, H, 15, 14)
/* A pair of k: (a0, a1, a0, a1) at 4r by 8 columns x (wl0, wl1, wh0, wh1),
 * int16 sums. */
#define ROW_NIBBLE(r, L, H)                                                                                  \
    "vpbroadcastd 4*" #r "(%[a]), %%ymm13\n\t"                                                               \
    "vpmaddubsw %%ymm11, %%ymm13, %%ymm15\n\tvpmaddubsw %%ymm12, %%ymm13, %%ymm14\n\t"                       \
    "vpaddw %%ymm15, %%ymm" #L ", %%ymm" #L "\n\tvpaddw %%ymm14, %%ymm" #H ", %%ymm" #H "\n\t"
/* int16 sums of accumulator i into int32 ones in memory, then zeroed. */
#define FLUSH(i)                                                                                             \
    "vpmaddwd %[w116], %%ymm" #i ", %%ymm15\n\tvpaddd 32*" #i "(%[wide]), %%ymm15, %%ymm15\n\t"              \
    "vmovdqa %%ymm15, 32*" #i "(%[wide])\n\tvpxor %%ymm" #i ", %%ymm" #i ", %%ymm" #i "\n\t"
#define FLUSH_ALL FLUSH(0) FLUSH(1) FLUSH(2) FLUSH(3) FLUSH(4) FLUSH(5) FLUSH(6) FLUSH(7) FLUSH(8) FLUSH(9)

/* A loop of iters iterations of body, a and b advanced by astep and bstep. */
#define TILE_LOOP(body, astep, bstep, iters, ...)                                                            \
    const uint8_t *a = act, *b = wts;                                                                        \
    long left = (iters);                                                                                     \
    __asm__ volatile(ZERO_ACC "1:\n\t" body "add $" #bstep ", %[b]\n\tadd $" #astep ", %[a]\n\t"             \
                              "dec %[n]\n\tjnz 1b\n\t" STORE_ACC                                             \
                     : [a] "+r"(a), [b] "+r"(b), [n] "+r"(left)                                              \
                     : [ones] "m"(*(const int16_t(*)[16])ones), [out] "r"(sums)__VA_ARGS__                    \
                     : CLOBBERS)

__attribute__((target("avx2"))) static void tile_exact(void) {
    TILE_LOOP(LOAD_Q FOR_ROWS(ROW_EXACT), 20, 64, STEPS, );
}
__attribute__((target("avx2"))) static void tile_stored(void) {
    TILE_LOOP(LOAD_Q FOR_ROWS(ROW_STORED), 40, 64, STEPS, );
}
__attribute__((target("avx2"))) static void tile_saturating(void) {
    TILE_LOOP(LOAD_Q FOR_ROWS(ROW_SAT), 20, 64, STEPS, );
}
/* Two pairs of k a step: 16 bytes of weights widened per 8 columns. */
#define INT16_PAIR(at)                                                                                       \
    "vpmovsxbw " #at "(%[b]), %%ymm11\n\tvpmovsxbw " #at "+16(%[b]), %%ymm12\n\t" FOR_ROWS(ROW_INT16)        \
    "add $20, %[a]\n\t"
__attribute__((target("avx2"))) static void tile_int16(void) {
    TILE_LOOP(INT16_PAIR(0) INT16_PAIR(32), 0, 64, STEPS, );
}
/* The same on weights stored as int16 (64 bytes a pair of k): plain loads
 * instead of vpmovsxbw. */
#define INT16_STORED_PAIR(at)                                                                                \
    "vmovdqu " #at "(%[b]), %%ymm11\n\tvmovdqu " #at "+32(%[b]), %%ymm12\n\t" FOR_ROWS(ROW_INT16)          \
    "add $20, %[a]\n\t"
__attribute__((target("avx2"))) static void tile_int16_stored(void) {
    TILE_LOOP(INT16_STORED_PAIR(0) INT16_STORED_PAIR(64), 0, 128, STEPS, );
}
/* Wider tiles on int16 weights read as memory operands (one broadcast of a
 * row's pair of k serves more columns), rows r = 0..2, 4 accumulators
 * each (ymm 4r .. 4r+3). 32 columns: a pair of k of row r at 4r, weights
 * 128 bytes a pair of k. */
#define FOR_ROWS3(R) R(0, 0, 1, 2, 3) R(1, 4, 5, 6, 7) R(2, 8, 9, 10, 11)
#define MADD_ACC(off, acc, t)                                                                                \
    "vpmaddwd " #off "(%[b]), %%ymm13, %%ymm" #t "\n\tvpaddd %%ymm" #t ", %%ymm" #acc ", %%ymm" #acc "\n\t"
#define ROW_W32(r, A0, A1, A2, A3)                                                                           \
    "vpbroadcastd 4*" #r "(%[a]), %%ymm13\n\t" MADD_ACC(0, A0, 14) MADD_ACC(32, A1, 15) MADD_ACC(64, A2, 14)    \
        MADD_ACC(96, A3, 15)
#define W32_PAIR FOR_ROWS3(ROW_W32) "add $12, %[a]\n\tadd $128, %[b]\n\t"
/* 16 columns, four k a broadcast: a row's (a0, a1, a2, a3) at 8r as one
 * qword; weight lanes 2i and 2i + 1 hold column i's k 0-1 and k 2-3 (the
 * two lanes added once at the end), 128 bytes a step of 4 k. */
#define ROW_Q16(r, A0, A1, A2, A3)                                                                           \
    "vpbroadcastq 8*" #r "(%[a]), %%ymm13\n\t" MADD_ACC(0, A0, 14) MADD_ACC(32, A1, 15) MADD_ACC(64, A2, 14)    \
        MADD_ACC(96, A3, 15)
#define ZERO_ACC12 ZERO_ACC "vpxor %%ymm10, %%ymm10, %%ymm10\n\tvpxor %%ymm11, %%ymm11, %%ymm11\n\t"
#define TILE_LOOP12(body, iters)                                                                             \
    const uint8_t *a = act, *b = wts;                                                                        \
    long left = (iters);                                                                                     \
    __asm__ volatile(ZERO_ACC12 "1:\n\t" body "dec %[n]\n\tjnz 1b\n\t" STORE_ACC                             \
                     : [a] "+r"(a), [b] "+r"(b), [n] "+r"(left)                                              \
                     : [out] "r"(sums)                                                                       \
                     : CLOBBERS, "xmm10")
/* 64 pairs of k (128 k) of 3 rows by 32 columns: as many products as
 * 5 rows x 16 columns x 128 k times 1.2. */
__attribute__((target("avx2"))) static void tile_w32(void) { TILE_LOOP12(W32_PAIR, STEPS * 2); }
#define Q16_STEP FOR_ROWS3(ROW_Q16) "add $24, %[a]\n\tadd $128, %[b]\n\t"
__attribute__((target("avx2"))) static void tile_q16(void) { TILE_LOOP12(Q16_STEP, STEPS); }

/* The int16 tile's multiplies alone (no broadcast, no add), and its adds
 * alone. */
#define ROW_MUL_ONLY(r, L, H) "vpmaddwd %%ymm11, %%ymm13, %%ymm" #L "\n\tvpmaddwd %%ymm12, %%ymm13, %%ymm" #H "\n\t"
#define ROW_ADD_ONLY(r, L, H) ACC(L, H, 15, 14)
__attribute__((target("avx2"))) static void tile_mul_only(void) {
    TILE_LOOP(FOR_ROWS(ROW_MUL_ONLY) FOR_ROWS(ROW_MUL_ONLY), 0, 0, STEPS, );
}
__attribute__((target("avx2"))) static void tile_add_only(void) {
    TILE_LOOP(FOR_ROWS(ROW_ADD_ONLY) FOR_ROWS(ROW_ADD_ONLY), 0, 0, STEPS, );
}
/* Eight pairs of k (four steps) an iteration, then the int16 sums flushed. */
#define NIBBLE_PAIR LOAD_Q FOR_ROWS(ROW_NIBBLE) "add $64, %[b]\n\tadd $20, %[a]\n\t"
__attribute__((target("avx2"))) static void tile_nibble(void) {
    static int32_t wide[10 * 8] __attribute__((aligned(32)));
    TILE_LOOP(NIBBLE_PAIR NIBBLE_PAIR NIBBLE_PAIR NIBBLE_PAIR NIBBLE_PAIR NIBBLE_PAIR NIBBLE_PAIR NIBBLE_PAIR
                  FLUSH_ALL,
              0, 0, STEPS / 4, , [w116] "m"(*(const int16_t(*)[16])one_sixteen), [wide] "r"(wide));
}

/* Seconds of one vfmadd231ps ymm slot: 8 independent FMAs on two pipes take
 * 4 cycles. */
__attribute__((target("avx2,fma"))) static double cycle_seconds(void) {
    double best = 1e30;
    for (int run = 0; run < RUNS; run++) {
        const double t0 = bench_now();
        for (long n = 0; n < 2000000L; n++)
            __asm__ volatile("vfmadd231ps %%ymm14, %%ymm15, %%ymm0\n\tvfmadd231ps %%ymm14, %%ymm15, %%ymm1\n\t"
                             "vfmadd231ps %%ymm14, %%ymm15, %%ymm2\n\tvfmadd231ps %%ymm14, %%ymm15, %%ymm3\n\t"
                             "vfmadd231ps %%ymm14, %%ymm15, %%ymm4\n\tvfmadd231ps %%ymm14, %%ymm15, %%ymm5\n\t"
                             "vfmadd231ps %%ymm14, %%ymm15, %%ymm6\n\tvfmadd231ps %%ymm14, %%ymm15, %%ymm7\n\t" ::
                                 : "xmm0", "xmm1", "xmm2", "xmm3", "xmm4", "xmm5", "xmm6", "xmm7");
        const double dt = (bench_now() - t0) / 2000000.0;
        best = dt < best ? dt : best;
    }
    return best / 4.0;
}

static double best_call(void (*tile)(void)) {
    double best = 1e30;
    for (int run = 0; run < RUNS; run++) {
        const double t0 = bench_now();
        for (long i = 0; i < CALLS; i++) tile();
        const double dt = (bench_now() - t0) / (double)CALLS;
        best = dt < best ? dt : best;
    }
    return best;
}

int main(void) {
    if (!bench_start_avx2()) return 0;
    srand(1);
    for (size_t i = 0; i < sizeof act; i++) act[i] = (uint8_t)rand();
    for (size_t i = 0; i < sizeof wts; i++) wts[i] = (uint8_t)rand();
    const double cycle = cycle_seconds();
    printf("clock, from the FMA rate: %.2f GHz\n", 1e-9 / cycle);
    printf("%-26s %s\n", "tile (5 rows x 16 columns)", "cycles per row and 4 k");
    static const struct {
        const char *name;
        void (*tile)(void);
    } tiles[] = {{"exact, vpabsb", tile_exact},     {"exact, |a-128| stored", tile_stored},
                 {"exact, int16", tile_int16},      {"exact, int16 stored", tile_int16_stored},
                 {"exact, nibble weights", tile_nibble},
                 {"saturating", tile_saturating},   {"vpmaddwd only", tile_mul_only},
                 {"vpaddd only", tile_add_only}};
    for (size_t i = 0; i < sizeof tiles / sizeof tiles[0]; i++)
        printf("%-26s %6.2f\n", tiles[i].name, best_call(tiles[i].tile) / cycle / (STEPS * ROWS));
    /* Row-steps of 64 products: 64 pairs of k x 3 rows x 32 columns, and
     * 32 steps of 4 k x 3 rows x 16 columns. */
    printf("%-26s %6.2f\n", "exact, int16, 3 x 32", best_call(tile_w32) / cycle / (STEPS * 2 * 3 * 2 * 32 / 64));
    printf("%-26s %6.2f\n", "exact, int16, 3 x 16, qword", best_call(tile_q16) / cycle / (STEPS * 3));
    return sums[0] == 12345 ? 1 : 0; /* the sums are used */
}
#else
int main(void) {
    printf("skipped: x86-64 only\n");
    return 0;
}
#endif
