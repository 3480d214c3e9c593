// test_tools_common.cc: the tools' number parsing and file reading
// (tools/common/parse_number.h, tools/common/read_file.h).
#include <gtest/gtest.h>

#include <cerrno>
#include <climits>
#include <algorithm>
#include <cmath>
#include <cstring>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <string>
#include <unistd.h>

#include "parse_number.h"
#include "sha256.h"
#include "read_file.h"

namespace fs = std::filesystem;

namespace {

TEST(ParseNumber, WholeNumbersInRange) {
    long v = -7;
    EXPECT_TRUE(tools_parse_long("42", 1, 100, &v));
    EXPECT_EQ(v, 42);
    EXPECT_TRUE(tools_parse_long("1", 1, 100, &v));  // both bounds are in range
    EXPECT_EQ(v, 1);
    EXPECT_TRUE(tools_parse_long("100", 1, 100, &v));
    EXPECT_EQ(v, 100);
    EXPECT_TRUE(tools_parse_long("+7", 0, 10, &v));
    EXPECT_EQ(v, 7);
    EXPECT_TRUE(tools_parse_long("-3", -5, 10, &v));
    EXPECT_EQ(v, -3);
    EXPECT_TRUE(tools_parse_long(std::to_string(LONG_MAX).c_str(), 0, LONG_MAX, &v));
    EXPECT_EQ(v, LONG_MAX);
}

TEST(ParseNumber, RefusesWhatIsNotAWholeNumberInRange) {
    long v = -7;
    for (const char *s : {"", "x", "12x", "1.5", "4 ", "0x10", "101", "0", "-1", "99999999999999999999999"})
        EXPECT_FALSE(tools_parse_long(s, 1, 100, &v)) << s;
    EXPECT_FALSE(tools_parse_long(nullptr, 1, 100, &v));
    EXPECT_EQ(v, -7);  // untouched
    EXPECT_FALSE(tools_parse_long("0", 0, -1, &v));  // an empty range
}

TEST(ParseNumber, Doubles) {
    double d = -1;
    EXPECT_TRUE(tools_parse_double("0.5", 0, 1, &d));
    EXPECT_EQ(d, 0.5);
    EXPECT_TRUE(tools_parse_double("1e3", 0, 1e6, &d));
    EXPECT_EQ(d, 1000.0);
    EXPECT_TRUE(tools_parse_double("0", 0, 1, &d));
    EXPECT_EQ(d, 0.0);
    EXPECT_TRUE(tools_parse_double("inf", 0, HUGE_VAL, &d));
    EXPECT_TRUE(std::isinf(d));
    d = -1;
    for (const char *s : {"", "x", "1s", "nan", "-0.5", "2", "inf"}) EXPECT_FALSE(tools_parse_double(s, 0, 1, &d)) << s;
    EXPECT_FALSE(tools_parse_double(nullptr, 0, 1, &d));
    EXPECT_EQ(d, -1.0);
}

class TempFile {
public:
    explicit TempFile(const std::string &content) {
        path_ = (fs::temp_directory_path() / ("encore-tools-common-" + std::to_string(::getpid()) + "-" +
                                              std::to_string(counter_++)))
                    .string();
        std::ofstream(path_, std::ios::binary) << content;
    }
    ~TempFile() { fs::remove(path_); }
    const char *path() const { return path_.c_str(); }

private:
    std::string path_;
    static inline int counter_ = 0;
};

TEST(ReadFile, ReadsEveryByte) {
    std::string content;
    for (int i = 0; i < 100000; i++) content += static_cast<char>(i * 7 % 256);  // NUL bytes included
    TempFile f(content);
    size_t len = 0;
    char *text = tools_read_file(f.path(), &len);
    ASSERT_NE(text, nullptr);
    EXPECT_EQ(len, content.size());
    EXPECT_EQ(std::string(text, len), content);
    EXPECT_EQ(text[len], '\0');
    free(text);
}

TEST(ReadFile, EmptyAndMissingFiles) {
    TempFile empty("");
    size_t len = 99;
    char *text = tools_read_file(empty.path(), &len);
    ASSERT_NE(text, nullptr);
    EXPECT_EQ(len, 0u);
    EXPECT_STREQ(text, "");
    free(text);
    errno = 0;
    EXPECT_EQ(tools_read_file("/nonexistent/encore/file", nullptr), nullptr);
    EXPECT_EQ(errno, ENOENT);
}

TEST(ReadFile, FirstLine) {
    char buf[8];
    TempFile crlf("abc\r\nsecond\n");
    EXPECT_TRUE(tools_read_first_line(crlf.path(), buf, sizeof buf));
    EXPECT_STREQ(buf, "abc");
    TempFile no_newline("xyz");
    EXPECT_TRUE(tools_read_first_line(no_newline.path(), buf, sizeof buf));
    EXPECT_STREQ(buf, "xyz");
    TempFile longer("0123456789abcdef\n");
    EXPECT_TRUE(tools_read_first_line(longer.path(), buf, sizeof buf));
    EXPECT_STREQ(buf, "0123456");  // cut to fit
    TempFile empty("");
    EXPECT_TRUE(tools_read_first_line(empty.path(), buf, sizeof buf));
    EXPECT_STREQ(buf, "");
    errno = 0;
    EXPECT_FALSE(tools_read_first_line("/nonexistent/encore/file", buf, sizeof buf));
    EXPECT_EQ(errno, ENOENT);
    EXPECT_STREQ(buf, "");
}

// SHA-256 (the checkpoints of encore score): FIPS 180-4's test vectors, fed
// whole and a byte at a time, and a digest taken mid-way leaves the hash to
// go on.
TEST(Sha256, KnownVectorsAndSnapshots) {
    auto hex = [](const std::string &data, size_t step) {
        tools_sha256 h;
        tools_sha256_init(&h);
        for (size_t i = 0; i < data.size(); i += step) tools_sha256_update(&h, data.data() + i, std::min(step, data.size() - i));
        uint8_t d[32];
        tools_sha256_digest(&h, d);
        char out[65];
        tools_sha256_hex(d, out);
        return std::string(out);
    };
    const std::string abc448 = "abcdbcdecdefdefgefghfghighijhijkijkljklmklmnlmnomnopnopq";
    for (size_t step : {1, 3, 64, 1000}) {
        EXPECT_EQ(hex("", step), "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855");
        EXPECT_EQ(hex("abc", step), "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
        EXPECT_EQ(hex(abc448, step), "248d6a61d20638b8e5c026930c3e6039a33ce45964ff2167f6ecedd419db06c1");
    }
    EXPECT_EQ(hex(std::string(1000000, 'a'), 4096), "cdc76e5c9914fb9281a1c7e284d73e67f1809a48a497200e046d39ccc7112cd0");
    tools_sha256 h;
    tools_sha256_init(&h);
    tools_sha256_update(&h, "ab", 2);
    uint8_t mid[32], end[32], want[32];
    tools_sha256_digest(&h, mid);
    tools_sha256_update(&h, "c", 1);
    tools_sha256_digest(&h, end);
    ASSERT_TRUE(tools_sha256_parse_hex("ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad", want));
    EXPECT_EQ(memcmp(end, want, 32), 0);
    EXPECT_NE(memcmp(mid, want, 32), 0);
    EXPECT_FALSE(tools_sha256_parse_hex("BA7816", want));
    EXPECT_FALSE(tools_sha256_parse_hex("zz7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad", want));
    EXPECT_FALSE(tools_sha256_parse_hex("ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad0", want));
}

}  // namespace
