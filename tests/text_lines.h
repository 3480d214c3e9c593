// text_lines.h: a command's output split into lines.
#pragma once

#include <string>
#include <vector>

namespace text_lines {

// The lines of s, each without its '\n'; text after the last '\n' is a last
// line of its own, so that an output whose end was cut off shows.
inline std::vector<std::string> lines(const std::string &s) {
    std::vector<std::string> out;
    size_t start = 0, nl;
    while ((nl = s.find('\n', start)) != std::string::npos) {
        out.push_back(s.substr(start, nl - start));
        start = nl + 1;
    }
    if (start < s.size()) out.push_back(s.substr(start));
    return out;
}

}  // namespace text_lines
