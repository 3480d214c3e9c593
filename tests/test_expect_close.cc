// test_expect_close.cc: the test helpers fail when they must. EXPECT_CLOSE
// (expect_close.h) on NaN, Inf, a size mismatch, an element just outside
// atol + rtol * |want|, and nothing to compare; fixtures::numbers on a key the
// reference lacks; SKIP_WITHOUT_MODEL under ENCORE_REQUIRE_REAL_MODEL.
#include <gtest/gtest-spi.h>
#include <gtest/gtest.h>

#include <array>
#include <cmath>
#include <cstdlib>
#include <limits>
#include <string>
#include <vector>

#include "expect_close.h"
#include "fixtures.h"

namespace {

const double kNan = std::numeric_limits<double>::quiet_NaN();
const double kInf = std::numeric_limits<double>::infinity();

TEST(ExpectClose, EqualValuesPass) {
    const std::vector<float> a = {1.0f, -2.5f, 0.0f, 3e38f};
    EXPECT_CLOSE(a, a, 0, 0);
    const std::vector<double> inf = {kInf, -kInf, 1.0};
    EXPECT_CLOSE(inf, inf, 0, 0);  // the same infinity is the same value
}

TEST(ExpectClose, WithinTheBoundPasses) {
    // |diff| == atol + rtol * |want| exactly (in binary): the bound is inclusive.
    const std::vector<double> want = {1.0, -4.0, 0.0}, got = {1.375, -4.5, 0.25};
    EXPECT_CLOSE(got, want, 0.25, 0.125);
    // Mixed element types and a pointer view.
    const std::array<float, 3> f = {1.375f, -4.5f, 0.25f};
    EXPECT_CLOSE(approx::values(f.data(), f.size()), want, 0.25, 0.125);
}

TEST(ExpectClose, NanInTheOutputFails) {
    const std::vector<double> want = {1.0, 2.0, 3.0}, got = {1.0, kNan, 3.0};
    EXPECT_NONFATAL_FAILURE(EXPECT_CLOSE(got, want, 1e-3, 1e-3), "worst at index 1: got nan, want 2");
    // A loop that keeps max(worst, |diff|) would pass NaN: this one does not,
    // with any tolerance.
    EXPECT_NONFATAL_FAILURE(EXPECT_CLOSE(got, want, 1e30, 1e30), "1 of them NaN or Inf");
}

TEST(ExpectClose, NanOrInfInTheReferenceFails) {
    const std::vector<double> got = {1.0, 2.0};
    EXPECT_NONFATAL_FAILURE(EXPECT_CLOSE(got, (std::vector<double>{1.0, kNan}), 1, 1), "NaN or Inf");
    EXPECT_NONFATAL_FAILURE(EXPECT_CLOSE(got, (std::vector<double>{kInf, 2.0}), 1, 1), "worst at index 0");
    // NaN on both sides is not "the same value".
    EXPECT_NONFATAL_FAILURE(EXPECT_CLOSE((std::vector<double>{kNan}), (std::vector<double>{kNan}), 1, 1), "NaN");
    EXPECT_NONFATAL_FAILURE(EXPECT_CLOSE((std::vector<double>{kInf}), (std::vector<double>{-kInf}), 1, 1), "NaN or Inf");
}

void assert_two_against_three() {
    const std::vector<double> a = {1.0, 2.0, 3.0}, b = {1.0, 2.0};
    ASSERT_CLOSE(b, a, 1, 1);
}

TEST(ExpectClose, SizeMismatchFails) {
    const std::vector<double> a = {1.0, 2.0, 3.0}, b = {1.0, 2.0};
    EXPECT_NONFATAL_FAILURE(EXPECT_CLOSE(a, b, 1, 1), "got has 3 elements, want has 2");
    EXPECT_FATAL_FAILURE(assert_two_against_three(), "got has 2 elements, want has 3");
}

TEST(ExpectClose, NothingToCompareFails) {
    const std::vector<double> none;
    EXPECT_NONFATAL_FAILURE(EXPECT_CLOSE(none, none, 1, 1), "nothing to compare");
}

TEST(ExpectClose, JustOutsideTheBoundFailsAndTheWorstIsReported) {
    const double atol = 1e-4, rtol = 1e-3;
    std::vector<double> want = {10.0, -10.0, 0.5, 100.0}, got = want;
    // Element 1 just outside atol + rtol * |want| (the next double up), element 3 further out.
    got[1] = std::nextafter(want[1] - (atol + rtol * 10.0), -kInf);
    got[3] = want[3] + 2 * (atol + rtol * 100.0);
    EXPECT_NONFATAL_FAILURE(EXPECT_CLOSE(got, want, atol, rtol), "2 of 4 elements outside");
    EXPECT_NONFATAL_FAILURE(EXPECT_CLOSE(got, want, atol, rtol), "worst at index 3: got 100.2002, want 100");
    got[3] = want[3];
    EXPECT_NONFATAL_FAILURE(EXPECT_CLOSE(got, want, atol, rtol), "1 of 4 elements outside");
    got[1] = want[1] - (atol + rtol * 10.0) * 0.999;
    EXPECT_CLOSE(got, want, atol, rtol);
}

TEST(ExpectClose, MessageNamesTheExpressions) {
    const std::vector<double> logits = {1.0}, reference = {2.0};
    EXPECT_NONFATAL_FAILURE(EXPECT_CLOSE(logits, reference, 0, 0) << "case 7", "logits vs reference");
    EXPECT_NONFATAL_FAILURE(EXPECT_CLOSE(logits, reference, 0, 0) << "case 7", "case 7");
}

// ---- the references' readers -----------------------------------------------

TEST(Fixtures, MissingKeyFailsInsteadOfComparingNothing) {
    auto ref = fixtures::load("tiny-bert-embed");
    ASSERT_TRUE(ref && ref->root);
    const cJSON *c = cJSON_GetArrayItem(fixtures::get(ref->root, "cases"), 0);
    ASSERT_TRUE(c);
    EXPECT_EQ(fixtures::numbers(c, "embedding_mean").size(), 32u);
    EXPECT_NONFATAL_FAILURE(fixtures::numbers(c, "embeddings_mean"), "\"embeddings_mean\" is missing");
    EXPECT_NONFATAL_FAILURE(fixtures::numbers(c, "text"), "\"text\" is not a list");
    EXPECT_NONFATAL_FAILURE(fixtures::numbers(c, "offsets"), "not a number");
    EXPECT_NONFATAL_FAILURE(fixtures::str(c, "txt"), "\"txt\" is missing");
    EXPECT_NONFATAL_FAILURE(fixtures::str(c, "ids"), "\"ids\" is not a string");
    EXPECT_NONFATAL_FAILURE(fixtures::number(c, "max_len"), "\"max_len\" is missing");
    EXPECT_FALSE(fixtures::str(c, "name").empty());
    // And a comparison against it fails twice: the key, then the sizes.
    const std::vector<float> got(32, 0.0f);
    ::testing::TestPartResultArray failures;
    {
        ::testing::ScopedFakeTestPartResultReporter intercept(
            ::testing::ScopedFakeTestPartResultReporter::INTERCEPT_ONLY_CURRENT_THREAD, &failures);
        EXPECT_CLOSE(got, fixtures::numbers(c, "no_such_key"), 1, 1);
    }
    ASSERT_EQ(failures.size(), 2);
    const std::string first = failures.GetTestPartResult(0).message(), second = failures.GetTestPartResult(1).message();
    EXPECT_NE(first.find("\"no_such_key\" is missing"), std::string::npos) << first;
    EXPECT_NE(second.find("got has 32 elements, want has 0"), std::string::npos) << second;
}

void needs_a_model() { SKIP_WITHOUT_MODEL("no model at /nonexistent"); }

TEST(Fixtures, MissingModelFailsWhenTheModelIsRequired) {
    const char *saved = std::getenv("ENCORE_REQUIRE_REAL_MODEL");
    const std::string keep = saved ? saved : "";
    setenv("ENCORE_REQUIRE_REAL_MODEL", "1", 1);
    EXPECT_FATAL_FAILURE(needs_a_model(), "ENCORE_REQUIRE_REAL_MODEL is set");
    setenv("ENCORE_REQUIRE_REAL_MODEL", "0", 1);
    EXPECT_FALSE(fixtures::require_real_model());
    if (saved)
        setenv("ENCORE_REQUIRE_REAL_MODEL", keep.c_str(), 1);
    else
        unsetenv("ENCORE_REQUIRE_REAL_MODEL");
}

}  // namespace
