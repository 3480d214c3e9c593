// test_json_write.cc: the tools' JSON writer (tools/common/json_write.h).
// Floats: the digits are the fewest that read back as the same value, for
// random bit patterns (subnormals, both ends of the exponent range), zeros
// and the edges of the range, as float32 and as double; both layouts read
// back and are laid out as Python's repr and C's %g lay them out. Strings:
// the escapes of each dialect, and bytes that are not UTF-8.
#include <gtest/gtest.h>

#include <cfloat>
#include <cmath>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <limits>
#include <random>
#include <string>

#include "json_write.h"

namespace {

std::string format(double v, int as_float32, tools_json_dialect d) {
    char buf[TOOLS_JSON_NUMBER_MAX];
    const size_t n = tools_json_format_float(v, as_float32, d, buf, sizeof buf);
    EXPECT_EQ(n, std::strlen(buf));
    return buf;
}

bool reads_back(const char *text, double v, int as_float32) {
    return as_float32 ? std::strtof(text, nullptr) == static_cast<float>(v) : std::strtod(text, nullptr) == v;
}

// Every property of one finite value.
void check_value(double v, int as_float32) {
    SCOPED_TRACE(testing::Message() << (as_float32 ? "float32 " : "double ") << std::hexfloat << v);
    char digits[18];
    int exp10 = 0;
    const int nd = tools_json_shortest_digits(v, as_float32, digits, &exp10);
    ASSERT_GE(nd, 1);
    ASSERT_LE(nd, as_float32 ? 9 : 17);
    ASSERT_EQ(std::strlen(digits), static_cast<size_t>(nd));
    // The digits read back ...
    std::string sci = std::string(std::signbit(v) ? "-" : "") + digits[0] + "." + (digits + 1) + "0e" +
                      std::to_string(exp10);
    ASSERT_TRUE(reads_back(sci.c_str(), v, as_float32)) << sci;
    if (nd > 1) {
        ASSERT_NE(digits[nd - 1], '0') << digits;
    }
    // ... and no fewer digits do.
    for (int k = 1; k < nd; k++) {
        char shorter[40];
        std::snprintf(shorter, sizeof shorter, "%.*e", k - 1, v);
        ASSERT_FALSE(reads_back(shorter, v, as_float32)) << shorter << " is shorter than " << sci;
    }
    // Both layouts read back; each switches to exponent form where its model does.
    const std::string py = format(v, as_float32, TOOLS_JSON_PYTHON);
    const std::string c = format(v, as_float32, TOOLS_JSON_UTF8);
    ASSERT_TRUE(reads_back(py.c_str(), v, as_float32)) << py;
    ASSERT_TRUE(reads_back(c.c_str(), v, as_float32)) << c;
    const bool py_fixed = exp10 >= -4 && exp10 < 16;
    ASSERT_EQ(py.find('e') == std::string::npos, py_fixed) << py;
    if (py_fixed) {
        ASSERT_NE(py.find('.'), std::string::npos) << py;  // "1.0", never "1"
    }
    const bool c_fixed = exp10 >= -4 && exp10 < nd;
    ASSERT_EQ(c.find('e') == std::string::npos, c_fixed) << c;
    if (c_fixed) {
        ASSERT_NE(c.find('.'), std::string::npos) << c;
    }
    // The %g layout is printf's own with the precision found, plus ".0".
    char g[40];
    std::snprintf(g, sizeof g, "%.*g", nd, v);
    std::string want = g;
    if (want.find_first_of(".e") == std::string::npos) want += ".0";
    ASSERT_EQ(c, want);
}

TEST(JsonFloat, ShortestDigitsForRandomFloat32) {
    std::mt19937 rng(20261201);
    int checked = 0;
    for (int i = 0; i < 200000; i++) {
        const uint32_t bits = rng();
        float f;
        std::memcpy(&f, &bits, sizeof f);
        if (!std::isfinite(f)) continue;
        check_value(f, 1);
        checked++;
        if (HasFatalFailure()) return;
    }
    EXPECT_GT(checked, 190000);
}

TEST(JsonFloat, ShortestDigitsForRandomDoubles) {
    std::mt19937_64 rng(20261201);
    for (int i = 0; i < 30000; i++) {
        const uint64_t bits = rng();
        double d;
        std::memcpy(&d, &bits, sizeof d);
        if (!std::isfinite(d)) continue;
        check_value(d, 0);
        if (HasFatalFailure()) return;
    }
}

TEST(JsonFloat, ShortestDigitsAtTheEdges) {
    // Powers of two are where the gap below a value is half the gap above.
    for (int e = -149; e <= 127; e++) {
        const float p = std::ldexp(1.0f, e);
        for (float f : {p, std::nextafter(p, 0.0f), std::nextafter(p, INFINITY), -p}) {
            if (!std::isfinite(f)) continue;
            check_value(f, 1);
            check_value(f, 0);  // a float32 widened to double, as the CLI's scores
        }
    }
    for (int e = -1074; e <= 1023; e += 7) check_value(std::ldexp(1.0, e), 0);
    for (float f : {0.0f, -0.0f, FLT_MIN, FLT_TRUE_MIN, FLT_MAX, -FLT_MAX, 1e-4f, 1e16f, 0.1f, 1.0f / 3.0f})
        check_value(f, 1);
    for (double d : {0.0, -0.0, DBL_MIN, DBL_TRUE_MIN, DBL_MAX, 1e-4, 9.999999999999999e15, 1e16, 0.1})
        check_value(d, 0);
}

TEST(JsonFloat, KnownLayouts) {
    struct Case {
        double v;
        int as_float32;
        const char *python, *utf8;
    };
    const Case cases[] = {
        {0.0, 1, "0.0", "0.0"},
        {-0.0, 1, "-0.0", "-0.0"},
        {1.0, 1, "1.0", "1.0"},
        {0.5, 1, "0.5", "0.5"},
        {-2.25, 1, "-2.25", "-2.25"},
        {0.1f, 1, "0.1", "0.1"},
        {0.1f, 0, "0.10000000149011612", "0.10000000149011612"},
        {0.0001, 0, "0.0001", "0.0001"},
        {0.00001, 0, "1e-05", "1e-05"},
        {1.5e-7f, 1, "1.5e-07", "1.5e-07"},
        {123456.0, 1, "123456.0", "123456.0"},
        {1e7, 1, "10000000.0", "1e+07"},
        {123456789.0f, 1, "123456790.0", "1.2345679e+08"},
        {1e15, 0, "1000000000000000.0", "1e+15"},
        {1e16, 0, "1e+16", "1e+16"},
        {FLT_MAX, 1, "3.4028235e+38", "3.4028235e+38"},
        {FLT_TRUE_MIN, 1, "1e-45", "1e-45"},
        {DBL_MAX, 0, "1.7976931348623157e+308", "1.7976931348623157e+308"},
        {DBL_TRUE_MIN, 0, "5e-324", "5e-324"},
        {0.99983513355255127, 0, "0.9998351335525513", "0.9998351335525513"},
    };
    for (const Case &c : cases) {
        EXPECT_EQ(format(c.v, c.as_float32, TOOLS_JSON_PYTHON), c.python) << c.v;
        EXPECT_EQ(format(c.v, c.as_float32, TOOLS_JSON_UTF8), c.utf8) << c.v;
    }
}

TEST(JsonFloat, NanAndInfinity) {
    // Python's json.dumps writes NaN, Infinity and -Infinity; JSON has no
    // such numbers, so the strict dialect writes null.
    const double nan = std::numeric_limits<double>::quiet_NaN(), inf = std::numeric_limits<double>::infinity();
    for (int f32 : {0, 1}) {
        EXPECT_EQ(format(nan, f32, TOOLS_JSON_PYTHON), "NaN");
        EXPECT_EQ(format(-nan, f32, TOOLS_JSON_PYTHON), "NaN");
        EXPECT_EQ(format(inf, f32, TOOLS_JSON_PYTHON), "Infinity");
        EXPECT_EQ(format(-inf, f32, TOOLS_JSON_PYTHON), "-Infinity");
        for (double v : {nan, inf, -inf}) EXPECT_EQ(format(v, f32, TOOLS_JSON_UTF8), "null");
    }
}

TEST(JsonFloat, ShortBuffersAreCutAndTerminated) {
    char buf[6];
    EXPECT_EQ(tools_json_format_float(1.0 / 3.0, 0, TOOLS_JSON_PYTHON, buf, sizeof buf), 5u);
    EXPECT_STREQ(buf, "0.333");
    EXPECT_EQ(tools_json_format_float(-INFINITY, 0, TOOLS_JSON_PYTHON, buf, sizeof buf), 5u);
    EXPECT_STREQ(buf, "-Infi");
}

void append(void *out, const char *s, size_t n) { static_cast<std::string *>(out)->append(s, n); }

std::string json_string(const std::string &s, tools_json_dialect d) {
    std::string out;
    tools_json_write_string(append, &out, s.data(), s.size(), d);
    return out;
}

TEST(JsonString, Escapes) {
    const std::string s = std::string("a\"b\\c\n\r\t\b\f\x01\x1f\x7f ", 14) + std::string(1, '\0') + "z";
    EXPECT_EQ(json_string(s, TOOLS_JSON_PYTHON), "\"a\\\"b\\\\c\\n\\r\\t\\b\\f\\u0001\\u001f\\u007f \\u0000z\"");
    EXPECT_EQ(json_string(s, TOOLS_JSON_UTF8), "\"a\\\"b\\\\c\\n\\r\\t\\b\\f\\u0001\\u001f\x7f \\u0000z\"");
    EXPECT_EQ(json_string("", TOOLS_JSON_PYTHON), "\"\"");
}

TEST(JsonString, NonAscii) {
    const std::string s = "caf\xC3\xA9 \xE2\x82\xAC \xF0\x9F\x98\x80";  // café € 😀
    EXPECT_EQ(json_string(s, TOOLS_JSON_PYTHON), "\"caf\\u00e9 \\u20ac \\ud83d\\ude00\"");
    EXPECT_EQ(json_string(s, TOOLS_JSON_UTF8), "\"" + s + "\"");
}

TEST(JsonString, BytesThatAreNotUtf8BecomeReplacementCharacters) {
    // A stray continuation byte, a truncated sequence, a surrogate, an
    // overlong form, a code point past U+10FFFF: each byte on its own.
    const std::string s = "a\x80" "b\xC3" "c\xED\xA0\x80" "d\xC0\xAF" "e\xF4\x90\x80\x80";
    EXPECT_EQ(json_string(s, TOOLS_JSON_UTF8),
              "\"a\\ufffdb\\ufffdc\\ufffd\\ufffd\\ufffdd\\ufffd\\ufffde\\ufffd\\ufffd\\ufffd\\ufffd\"");
    EXPECT_EQ(json_string(s, TOOLS_JSON_PYTHON),
              "\"a\\ufffdb\\ufffdc\\ufffd\\ufffd\\ufffdd\\ufffd\\ufffde\\ufffd\\ufffd\\ufffd\\ufffd\"");
    // A truncated sequence at the very end is not read past n.
    const char euro[] = "\xE2\x82\xAC";
    std::string out;
    tools_json_write_string(append, &out, euro, 2, TOOLS_JSON_UTF8);
    EXPECT_EQ(out, "\"\\ufffd\\ufffd\"");
}

}  // namespace
