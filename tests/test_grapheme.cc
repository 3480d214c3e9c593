// test_grapheme.cc: encore_grapheme_len, the extended grapheme clusters of
// UAX #29 as Hugging Face tokenizers 0.23.3 cuts them (the Rust crate
// unicode-segmentation 1.13.3, Unicode 17.0) for its Precompiled normalizer.
//
// The hand-written cases go rule by rule. Each string's clusters were checked
// with tokenizers itself, through a Precompiled map with an entry for every
// character, which replaces a cluster under 6 bytes whole (so "a" + U+0301
// gives one output character, "a" + "b" two); see models/measure_graphemes.py,
// which builds that map:
//
//   from tokenizers import normalizers
//   n = normalizers.Precompiled(charsmap).normalize_str   # every character -> "Y", U+0301 -> "Z"
//   n("a\u0301")   # 'Y': one cluster
//   n("\u0915\u094d\u0937\u0301")   # 'YYYZ': one cluster of 11 bytes, char by char
//
// Each hand-written case gives tokenizers' output under these clusters;
// where a cluster is 6 bytes or more, though, the output shows only where it
// ends (through the clusters after it), not how it would be cut otherwise.
// The cases that say "Unicode 17.0" are ones the regex module's \X (Unicode
// 18.0) cuts otherwise. tests/fixtures/unicode/graphemes.json (written by
// the same script: --fixture) holds 863 more strings with their clusters, 620
// of them cut by tokenizers' output alone (no other cut gives that output).
#include <gtest/gtest.h>

#include <cstdint>
#include <cstdio>
#include <string>
#include <vector>

#include "core/utf8.h"
#include "fixtures.h"
#include "tokenizer/grapheme.h"

namespace {

// The cluster lengths of cp, cut as callers cut it: i = 0, then i += len.
std::vector<size_t> cut(const std::vector<uint32_t> &cp) {
    std::vector<size_t> out;
    for (size_t i = 0; i < cp.size();) {
        size_t len = encore_grapheme_len(cp.data(), cp.size(), i);
        if (len == 0 || len > cp.size() - i) {
            ADD_FAILURE() << "length " << len << " at " << i << " of " << cp.size();
            break;
        }
        out.push_back(len);
        i += len;
    }
    return out;
}

std::string hex(const std::vector<uint32_t> &cp) {
    std::string s;
    char buf[16];
    for (uint32_t c : cp) {
        snprintf(buf, sizeof buf, "%s%04X", s.empty() ? "" : " ", (unsigned)c);
        s += buf;
    }
    return s;
}

struct Case {
    const char *what;
    std::vector<uint32_t> cp;
    std::vector<size_t> lengths;
};

void expect_cuts(const std::vector<Case> &cases) {
    for (const Case &c : cases) EXPECT_EQ(cut(c.cp), c.lengths) << c.what << ": " << hex(c.cp);
}

const uint32_t CR = 0x0D, LF = 0x0A, ACUTE = 0x301, ZWJ = 0x200D, ZWNJ = 0x200C;
const uint32_t HL = 0x1100, HV = 0x1161, HT = 0x11A8, HLV = 0xAC00, HLVT = 0xAC01;  // Hangul
const uint32_t KA = 0x915, SSA = 0x937, RA = 0x930, VIRAMA = 0x94D;                // Devanagari
const uint32_t COPYRIGHT = 0xA9;                                                   // Extended_Pictographic

TEST(Grapheme, Bounds) {
    const uint32_t cp[] = {'a', ACUTE};
    EXPECT_EQ(encore_grapheme_len(cp, 2, 0), 2u);
    EXPECT_EQ(encore_grapheme_len(cp, 1, 0), 1u);  // n ends the cluster
    EXPECT_EQ(encore_grapheme_len(cp, 2, 1), 1u);  // from a mark: the caller says it is a boundary
    EXPECT_EQ(encore_grapheme_len(cp, 2, 2), 0u);
    EXPECT_EQ(encore_grapheme_len(nullptr, 0, 0), 0u);
}

TEST(Grapheme, CrLfAndControls) {  // GB3, GB4, GB5
    expect_cuts({
        {"CR LF", {'a', CR, LF, 'b'}, {1, 2, 1}},
        {"CR CR LF LF", {CR, CR, LF, LF}, {1, 2, 1}},
        {"LF CR", {LF, CR}, {1, 1}},
        {"no mark after CR", {CR, ACUTE}, {1, 1}},
        {"no mark after LF", {LF, ACUTE, ACUTE}, {1, 2}},
        {"no mark after a control", {0x01, ACUTE}, {1, 1}},
        {"U+007F", {0x7F, ACUTE}, {1, 1}},
        {"C1 control", {0x85, ACUTE}, {1, 1}},
        {"SOFT HYPHEN is a control", {0xAD, ACUTE}, {1, 1}},
        {"ZERO WIDTH SPACE is a control", {0x200B, ACUTE}, {1, 1}},
        {"BOM is a control", {0xFEFF, ACUTE}, {1, 1}},
        {"LINE SEPARATOR is a control", {0x2028, ACUTE}, {1, 1}},
        {"a 4-byte control", {0xE0001, ACUTE, ACUTE}, {1, 2}},
        {"unassigned default ignorable", {0xE0FFF, ACUTE}, {1, 1}},
        {"nothing joins before a control", {'a', 0x01}, {1, 1}},
        {"not even after Prepend", {0x600, LF}, {1, 1}},
        {"Prepend then CR LF", {0x600, CR, LF}, {1, 2}},
    });
}

TEST(Grapheme, Hangul) {  // GB6, GB7, GB8
    expect_cuts({
        {"L V T", {HL, HV, HT}, {3}},
        {"L L V", {HL, HL, HV}, {3}},
        {"L LV", {HL, HLV}, {2}},
        {"L LVT", {HL, HLVT}, {2}},
        {"L T", {HL, HT}, {1, 1}},
        {"LV V", {HLV, HV}, {2}},
        {"LV T", {HLV, HT}, {2}},
        {"LV L", {HLV, HL}, {1, 1}},
        {"V V T", {HV, HV, HT}, {3}},
        {"V L", {HV, HL}, {1, 1}},
        {"LVT T", {HLVT, HT}, {2}},
        {"LVT V", {HLVT, HV}, {1, 1}},
        {"T T", {HT, HT}, {2}},
        {"T V", {HT, HV}, {1, 1}},
        {"LV LV", {HLV, HLV}, {1, 1}},
        {"precomposed syllables", {0xD55C, 0xAD6D, 0xC5B4}, {1, 1, 1}},
        {"the last syllable, LVT", {0xD7A3, HT}, {2}},
        {"the last syllable, LV", {0xD788, HV}, {2}},
        {"extended jamo", {0xA960, 0xD7B0, 0xD7CB}, {3}},
        {"L V T then a mark", {HL, HV, HT, ACUTE}, {4}},
    });
}

TEST(Grapheme, MarksAndPrepend) {  // GB9, GB9a, GB9b
    expect_cuts({
        {"two marks", {'e', ACUTE, 0x323}, {3}},
        {"a mark first", {ACUTE, 'a'}, {1, 1}},
        {"marks alone", {ACUTE, ACUTE}, {2}},
        {"ZWJ joins", {'a', ZWJ, 'b'}, {2, 1}},
        {"ZWNJ joins", {'a', ZWNJ}, {2}},
        {"variation selector", {0x2764, 0xFE0F}, {2}},
        {"tag characters", {0x1F3F4, 0xE0067, 0xE0062, 0xE007F}, {4}},
        {"a space takes marks too", {' ', ACUTE}, {2}},
        {"SpacingMark (Devanagari visarga)", {KA, 0x903}, {2}},
        {"SpacingMark (Thai SARA AM)", {0xE01, 0xE33}, {2}},
        {"SpacingMark after a space", {' ', 0x903}, {2}},
        {"Devanagari vowel sign I (SpacingMark)", {KA, 0x93F}, {2}},
        {"Prepend (Arabic number sign)", {0x600, 0x661}, {2}},
        {"Prepend takes anything but a control", {0x600, 'a'}, {2}},
        {"two Prepends", {0x600, 0x600, 'a', ACUTE}, {4}},
        {"Prepend last", {'a', 0x600}, {1, 1}},
        {"Kaithi number sign (4 bytes)", {0x110BD, KA}, {2}},
        {"nothing else joins", {'a', 'b'}, {1, 1}},
        {"CJK", {0x4E00, 0x4E01}, {1, 1}},
        // U+05C8 is a mark of Unicode 18.0; to 17.0 it is unassigned: Other.
        {"Unicode 17.0: U+05C8 does not join", {'a', 0x5C8}, {1, 1}},
    });
}

TEST(Grapheme, IndicConjuncts) {  // GB9c, in Unicode 17.0's form
    expect_cuts({
        {"KA VIRAMA SSA", {KA, VIRAMA, SSA}, {3}},
        {"two conjuncts", {KA, VIRAMA, SSA, VIRAMA, RA}, {5}},
        {"namaste", {0x928, 0x92E, 0x938, VIRAMA, 0x924, 0x947}, {1, 1, 4}},
        {"ZWJ after the linker", {KA, VIRAMA, ZWJ, SSA}, {4}},
        {"a mark after the linker", {KA, VIRAMA, ACUTE, SSA}, {4}},
        {"a mark before the linker", {KA, ACUTE, VIRAMA, SSA}, {4}},
        {"two linkers", {KA, VIRAMA, VIRAMA, SSA}, {4}},
        {"Bengali", {0x995, 0x9CD, 0x9B7}, {3}},
        {"across scripts", {KA, 0x9CD, SSA}, {3}},
        {"no linker", {KA, SSA}, {1, 1}},
        {"ZWNJ before the linker ends it", {KA, ZWNJ, VIRAMA, SSA}, {3, 1}},
        {"ZWNJ after the linker ends it", {KA, VIRAMA, ZWNJ, SSA}, {3, 1}},
        {"a SpacingMark ends it", {KA, 0x903, VIRAMA, SSA}, {3, 1}},
        {"not before a non-consonant", {KA, VIRAMA, 'a'}, {2, 1}},
        {"Devanagari vowel letter is no consonant", {KA, VIRAMA, 0x905}, {2, 1}},
        // Unicode 18.0 joins a linker with no consonant before it to the next consonant.
        {"Unicode 17.0: a linker alone", {VIRAMA, KA}, {1, 1}},
        {"Unicode 17.0: a linker after a letter", {'a', VIRAMA, KA}, {2, 1}},
        {"Unicode 17.0: a linker after a SpacingMark", {KA, 0x903, VIRAMA, SSA, ACUTE}, {3, 2}},
    });
}

TEST(Grapheme, EmojiSequences) {  // GB9 (modifiers are Extend), GB11
    expect_cuts({
        {"family", {0x1F468, ZWJ, 0x1F469, ZWJ, 0x1F467}, {5}},
        {"skin tone", {0x1F44D, 0x1F3FD}, {2}},
        {"skin tone, then a letter", {0x1F44D, 0x1F3FD, 'a'}, {2, 1}},
        {"woman technologist, medium skin tone", {0x1F469, 0x1F3FD, ZWJ, 0x1F4BB}, {4}},
        {"heart on fire", {0x2764, 0xFE0F, ZWJ, 0x1F525}, {4}},
        {"a skin tone alone", {0x1F3FB, 'a'}, {1, 1}},
        {"(c) ZWJ (c)", {COPYRIGHT, ZWJ, COPYRIGHT}, {3}},
        {"(c) mark ZWJ (c)", {COPYRIGHT, ACUTE, ZWJ, COPYRIGHT, ACUTE}, {5}},
        {"letter ZWJ (c)", {'a', ZWJ, COPYRIGHT, ACUTE}, {2, 2}},
        {"two ZWJ", {COPYRIGHT, ZWJ, ZWJ, COPYRIGHT, ACUTE}, {3, 2}},
        {"a SpacingMark ends the run", {COPYRIGHT, 0x903, ZWJ, COPYRIGHT, ACUTE}, {3, 2}},
        {"ZWJ then a letter", {0x1F600, ZWJ, 'a'}, {2, 1}},
        {"pictograph, no ZWJ", {0x1F600, 0x1F600}, {1, 1}},
        // Reserved in Unicode 17.0 and Extended_Pictographic there; 18.0
        // assigns U+1F7DA as a symbol that is not.
        {"Unicode 17.0: a reserved pictographic code point", {COPYRIGHT, ZWJ, 0x1F7DA}, {3}},
    });
}

TEST(Grapheme, RegionalIndicators) {  // GB12, GB13
    const uint32_t U = 0x1F1FA, S = 0x1F1F8, F = 0x1F1EB, R = 0x1F1F7;
    expect_cuts({
        {"two flags", {U, S, F, R}, {2, 2}},
        {"three indicators", {U, S, F}, {2, 1}},
        {"after a letter", {'a', U, S, F, R, 0x1F1E9}, {1, 2, 2, 1}},
        {"a mark between", {U, ACUTE, S}, {2, 1}},
        {"a mark after the pair", {U, S, ACUTE, F}, {3, 1}},
        {"ZWJ between", {U, ZWJ, S}, {2, 1}},
        {"a control resets the count", {U, 0x01, S, F}, {1, 1, 2}},
    });
}

TEST(Grapheme, Reference) {
    auto ref = fixtures::load("../unicode/graphemes");
    ASSERT_TRUE(ref && ref->root) << "tests/fixtures/unicode/graphemes.json is missing or not JSON "
                                     "(models/measure_graphemes.py --fixture writes it)";
    const cJSON *cases = fixtures::get(ref->root, "cases");
    ASSERT_TRUE(cJSON_IsArray(cases));
    ASSERT_GE(cJSON_GetArraySize(cases), 800);
    int observed = 0;
    const cJSON *c;
    cJSON_ArrayForEach(c, cases) {
        std::string text = fixtures::str(c, "text");
        std::vector<uint32_t> cp;
        for (size_t pos = 0; pos < text.size();) cp.push_back(encore_utf8_next(text.c_str(), &pos));
        std::vector<size_t> want;
        for (double v : fixtures::numbers(c, "lengths")) want.push_back((size_t)v);
        EXPECT_EQ(cut(cp), want) << hex(cp);
        observed += cJSON_IsTrue(fixtures::get(c, "observed"));
    }
    EXPECT_GE(observed, 600);  // cases tokenizers' output cuts alone, as the script writes them
}

}  // namespace
