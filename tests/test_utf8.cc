// encore_utf8_validate / encore_utf8_decode: the one UTF-8 of the library and
// the tools. Valid means well-formed as the Unicode standard defines it
// (Table 3-7): every edge of that table is here, then every 1-, 2- and
// 3-byte sequence and a sweep of 4-byte ones against a reference written
// the other way round (decode by bit masks first, then reject by value).
#include <gtest/gtest.h>

#include "encore.h"

#include <cstdint>
#include <string>

namespace {

struct Case {
    const char *name;
    std::string bytes;
    int length;          // what encore_utf8_decode returns
    uint32_t codepoint;  // what it stores
};

const Case kCases[] = {
    {"nul", std::string("\0", 1), 1, 0x0},
    {"ascii", "A", 1, 0x41},
    {"del", "\x7F", 1, 0x7F},
    {"first 2-byte", "\xC2\x80", 2, 0x80},
    {"e acute", "\xC3\xA9", 2, 0xE9},
    {"last 2-byte", "\xDF\xBF", 2, 0x7FF},
    {"first 3-byte", "\xE0\xA0\x80", 3, 0x800},
    {"euro", "\xE2\x82\xAC", 3, 0x20AC},
    {"before surrogates", "\xED\x9F\xBF", 3, 0xD7FF},
    {"after surrogates", "\xEE\x80\x80", 3, 0xE000},
    {"replacement char", "\xEF\xBF\xBD", 3, 0xFFFD},
    {"last 3-byte", "\xEF\xBF\xBF", 3, 0xFFFF},
    {"first 4-byte", "\xF0\x90\x80\x80", 4, 0x10000},
    {"emoji", "\xF0\x9F\x98\x80", 4, 0x1F600},
    {"last code point", "\xF4\x8F\xBF\xBF", 4, 0x10FFFF},
    // Overlong forms.
    {"overlong C0", "\xC0\x80", 0, 0xFFFD},
    {"overlong C1", "\xC1\xBF", 0, 0xFFFD},
    {"overlong 3-byte", "\xE0\x80\x80", 0, 0xFFFD},
    {"overlong 3-byte top", "\xE0\x9F\xBF", 0, 0xFFFD},
    {"overlong 4-byte", "\xF0\x80\x80\x80", 0, 0xFFFD},
    {"overlong 4-byte top", "\xF0\x8F\xBF\xBF", 0, 0xFFFD},
    // Surrogates.
    {"first surrogate", "\xED\xA0\x80", 0, 0xFFFD},
    {"last surrogate", "\xED\xBF\xBF", 0, 0xFFFD},
    // Past U+10FFFF.
    {"U+110000", "\xF4\x90\x80\x80", 0, 0xFFFD},
    {"lead F5", "\xF5\x80\x80\x80", 0, 0xFFFD},
    {"lead FF", "\xFF", 0, 0xFFFD},
    // Stray continuation bytes.
    {"continuation 80", "\x80", 0, 0xFFFD},
    {"continuation BF", "\xBF\x41", 0, 0xFFFD},
    // Truncated sequences and bad continuations.
    {"2-byte cut", "\xC3", 0, 0xFFFD},
    {"3-byte cut", "\xE2\x82", 0, 0xFFFD},
    {"4-byte cut", "\xF0\x9F\x98", 0, 0xFFFD},
    {"ascii in 2nd byte", "\xC3\x41", 0, 0xFFFD},
    {"ascii in 3rd byte", "\xE2\x82\x41", 0, 0xFFFD},
    {"lead in 4th byte", "\xF0\x9F\x98\xC3\xA9", 0, 0xFFFD},
};

TEST(Utf8, DecodeEdgesOfTheStandard) {
    for (const Case &c : kCases) {
        uint32_t cp = 12345;
        EXPECT_EQ(encore_utf8_decode(c.bytes.data(), c.bytes.size(), &cp), c.length) << c.name;
        EXPECT_EQ(cp, c.codepoint) << c.name;
        // Validation agrees: a bad sequence is reported at its first byte.
        const std::string text = "ok " + c.bytes + " ok";
        const size_t want = c.length > 0 ? text.size() : 3;
        EXPECT_EQ(encore_utf8_validate(text.data(), text.size()), want) << c.name;
    }
}

TEST(Utf8, NeverReadsPastLen) {
    // The whole sequence is in memory, but len cuts it: it is truncated.
    const char euro[] = "\xE2\x82\xAC";
    uint32_t cp = 0;
    EXPECT_EQ(encore_utf8_decode(euro, 2, &cp), 0);
    EXPECT_EQ(cp, 0xFFFDu);
    EXPECT_EQ(encore_utf8_validate(euro, 2), 0u);
    EXPECT_EQ(encore_utf8_validate(euro, 3), 3u);
    EXPECT_EQ(encore_utf8_decode(euro, 0, &cp), 0);
    EXPECT_EQ(encore_utf8_validate(euro, 0), 0u);
    EXPECT_EQ(encore_utf8_decode(euro, 3, nullptr), 3);  // codepoint may be NULL
}

TEST(Utf8, ValidateReportsTheFirstBadOffset) {
    const std::string s = "ab\xC3\xA9" "c\xED\xA0\x80" "d\xFF";
    EXPECT_EQ(encore_utf8_validate(s.data(), s.size()), 5u);
    EXPECT_EQ(encore_utf8_validate(s.data(), 5), 5u);  // all before it is fine
    const std::string cut = "abc\xF0\x9F";
    EXPECT_EQ(encore_utf8_validate(cut.data(), cut.size()), 3u);
}

// The reference: take the bits the lead byte announces, then reject what
// is overlong, a surrogate or past U+10FFFF.
int reference_decode(const unsigned char *s, size_t len, uint32_t *out) {
    if (len == 0) return 0;
    int n;
    uint32_t c, min;
    if (s[0] < 0x80) n = 1, c = s[0], min = 0;
    else if ((s[0] & 0xE0) == 0xC0) n = 2, c = s[0] & 0x1F, min = 0x80;
    else if ((s[0] & 0xF0) == 0xE0) n = 3, c = s[0] & 0x0F, min = 0x800;
    else if ((s[0] & 0xF8) == 0xF0) n = 4, c = s[0] & 0x07, min = 0x10000;
    else return 0;
    if (len < (size_t)n) return 0;
    for (int k = 1; k < n; k++) {
        if ((s[k] & 0xC0) != 0x80) return 0;
        c = (c << 6) | (s[k] & 0x3F);
    }
    if (c < min || c > 0x10FFFF || (c >= 0xD800 && c <= 0xDFFF)) return 0;
    *out = c;
    return n;
}

void expect_same(const unsigned char *s, size_t len) {
    uint32_t want = 0xFFFD, got = 0;
    const int n = reference_decode(s, len, &want);
    ASSERT_EQ(encore_utf8_decode(reinterpret_cast<const char *>(s), len, &got), n)
        << std::hex << int(s[0]) << " " << (len > 1 ? int(s[1]) : -1) << " " << (len > 2 ? int(s[2]) : -1) << " "
        << (len > 3 ? int(s[3]) : -1);
    ASSERT_EQ(got, n > 0 ? want : 0xFFFDu);
}

TEST(Utf8, EveryShortSequenceMatchesTheReference) {
    unsigned char s[3];
    for (int a = 0; a < 256; a++) {
        s[0] = (unsigned char)a;
        expect_same(s, 1);
        for (int b = 0; b < 256; b++) {
            s[1] = (unsigned char)b;
            expect_same(s, 2);
            for (int c = 0; c < 256; c++) {
                s[2] = (unsigned char)c;
                expect_same(s, 3);
            }
            if (::testing::Test::HasFatalFailure()) return;
        }
    }
}

TEST(Utf8, FourByteSequencesMatchTheReference) {
    // Every lead and second byte, with third and fourth bytes at the edges of
    // the continuation range and just outside it.
    const int edges[] = {0x00, 0x7F, 0x80, 0x81, 0x9F, 0xA0, 0xBE, 0xBF, 0xC0, 0xFF};
    unsigned char s[4];
    for (int a = 0xC0; a < 256; a++)
        for (int b = 0; b < 256; b++)
            for (int c : edges)
                for (int d : edges) {
                    s[0] = (unsigned char)a, s[1] = (unsigned char)b, s[2] = (unsigned char)c, s[3] = (unsigned char)d;
                    expect_same(s, 4);
                    if (::testing::Test::HasFatalFailure()) return;
                }
}

TEST(Utf8, EveryScalarValueDecodesBack) {
    for (uint32_t c = 0; c <= 0x10FFFF; c++) {
        unsigned char s[4];
        int n;
        if (c < 0x80) s[0] = (unsigned char)c, n = 1;
        else if (c < 0x800) s[0] = (unsigned char)(0xC0 | (c >> 6)), n = 2;
        else if (c < 0x10000) s[0] = (unsigned char)(0xE0 | (c >> 12)), n = 3;
        else s[0] = (unsigned char)(0xF0 | (c >> 18)), n = 4;
        for (int k = 1; k < n; k++) s[k] = (unsigned char)(0x80 | ((c >> (6 * (n - 1 - k))) & 0x3F));
        uint32_t got = 0;
        const bool surrogate = c >= 0xD800 && c <= 0xDFFF;
        ASSERT_EQ(encore_utf8_decode(reinterpret_cast<const char *>(s), (size_t)n, &got), surrogate ? 0 : n) << c;
        ASSERT_EQ(got, surrogate ? 0xFFFDu : c);
    }
}

}  // namespace
