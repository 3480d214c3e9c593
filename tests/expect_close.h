// expect_close.h: the one elementwise comparison of numbers in the tests.
//
//   EXPECT_CLOSE(got, want, atol, rtol) << "what";
//   ASSERT_CLOSE(approx::values(ptr, n), want, atol, rtol);
//
// got and want are containers with data() and size() (std::vector, a
// std::array), or approx::values(pointer, n). They pass when they have the
// same, non-zero number of elements and, for every i,
//
//   |got[i] - want[i]| <= atol + rtol * |want[i]|
//
// NaN on either side fails, and so does an infinity unless the other side is
// the same infinity: a NaN compares false with everything, so a loop that
// keeps the largest difference with max() or `>` would let it through. On
// failure the message says how many elements are out, the worst one (a
// non-finite one first) with both values, and the bound.
#pragma once

#include <gtest/gtest.h>

#include <cmath>
#include <cstddef>
#include <limits>
#include <sstream>

namespace approx {

// n numbers at p: what the comparison reads.
template <typename T>
struct Values {
    const T *data;
    size_t size;
};

template <typename T>
Values<T> values(const T *p, size_t n) {
    return {p, n};
}
template <typename T>
Values<T> values(Values<T> v) {
    return v;
}
template <typename C>
auto values(const C &c) -> Values<typename C::value_type> {
    return {c.data(), c.size()};
}

// Whether one pair is close, as the header says.
inline bool element_close(double got, double want, double atol, double rtol) {
    if (std::isnan(got) || std::isnan(want)) return false;
    if (std::isinf(got) || std::isinf(want)) return got == want;
    return std::fabs(got - want) <= atol + rtol * std::fabs(want);
}

template <typename G, typename W>
::testing::AssertionResult all_close(Values<G> got, Values<W> want, double atol, double rtol) {
    if (got.size != want.size)
        return ::testing::AssertionFailure() << "got has " << got.size << " elements, want has " << want.size;
    if (got.size == 0) return ::testing::AssertionFailure() << "nothing to compare: both have 0 elements";
    size_t bad = 0, nonfinite = 0, worst = 0;
    double worst_excess = -1.0;
    bool worst_nonfinite = false;
    for (size_t i = 0; i < got.size; i++) {
        const double g = (double)got.data[i], w = (double)want.data[i];
        if (element_close(g, w, atol, rtol)) continue;
        bad++;
        if (!std::isfinite(g) || !std::isfinite(w)) {
            if (!worst_nonfinite) worst = i;
            worst_nonfinite = true;
            nonfinite++;
            continue;
        }
        const double excess = std::fabs(g - w) - (atol + rtol * std::fabs(w));
        if (!worst_nonfinite && excess > worst_excess) {
            worst_excess = excess;
            worst = i;
        }
    }
    if (bad == 0) return ::testing::AssertionSuccess();
    const double g = (double)got.data[worst], w = (double)want.data[worst];
    std::ostringstream os;
    os.precision(9);
    os << bad << " of " << got.size << " elements outside atol " << atol << " + rtol " << rtol << " * |want|";
    if (nonfinite) os << " (" << nonfinite << " of them NaN or Inf against a different value)";
    os << "; worst at index " << worst << ": got " << g << ", want " << w;
    if (!worst_nonfinite) os << ", |diff| " << std::fabs(g - w) << " > bound " << atol + rtol * std::fabs(w);
    return ::testing::AssertionFailure() << os.str();
}

// The largest |got[i] - want[i]|, NaN if any side is NaN: for a report line
// only (the comparison is EXPECT_CLOSE's).
template <typename G, typename W>
double max_abs_diff(const G &got_c, const W &want_c) {
    const auto got = values(got_c);
    const auto want = values(want_c);
    double m = 0;
    for (size_t i = 0; i < got.size && i < want.size; i++) {
        const double d = std::fabs((double)got.data[i] - (double)want.data[i]);
        if (std::isnan(d)) return d;
        if (d > m) m = d;
    }
    return m;
}

// The predicate-formatter behind EXPECT_CLOSE / ASSERT_CLOSE: names the two
// expressions compared.
template <typename G, typename W>
::testing::AssertionResult check(const char *got_expr, const char *want_expr, const char *, const char *,
                                 const G &got, const W &want, double atol, double rtol) {
    ::testing::AssertionResult r = all_close(values(got), values(want), atol, rtol);
    if (r) return r;
    return ::testing::AssertionFailure() << got_expr << " vs " << want_expr << ": " << r.message();
}

}  // namespace approx

#define EXPECT_CLOSE(got, want, atol, rtol) EXPECT_PRED_FORMAT4(::approx::check, got, want, atol, rtol)
#define ASSERT_CLOSE(got, want, atol, rtol) ASSERT_PRED_FORMAT4(::approx::check, got, want, atol, rtol)
