// cli_run.h: run the built encore binary (ENCORE_CLI) in a child process,
// with stdin text, stdout captured and stderr sent where the test wants it.
#pragma once

#include <fcntl.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cstdlib>
#include <map>
#include <regex>
#include <string>
#include <vector>

#include "text_lines.h"

namespace cli {

struct Result {
    int status;        // exit status, -1 if it did not exit normally
    std::string out;   // stdout
};

struct Options {
    std::string input;                            // written to stdin
    std::string stderr_path;                      // "" keeps the test's stderr
    std::map<std::string, std::string> env;       // set in the child
    std::vector<std::string> unset;               // removed from the child's environment
};

// In a forked child: become the encore binary with these arguments.
[[noreturn]] inline void exec_encore(const std::vector<std::string> &args) {
    std::vector<char *> argv;
    std::string bin = ENCORE_CLI;
    argv.push_back(bin.data());
    for (const auto &a : args) argv.push_back(const_cast<char *>(a.c_str()));
    argv.push_back(nullptr);
    execv(bin.c_str(), argv.data());
    _exit(127);
}

inline Result run(const std::vector<std::string> &args, const Options &o = {}) {
    int in_pipe[2], out_pipe[2];
    if (pipe(in_pipe) != 0 || pipe(out_pipe) != 0) return {-1, ""};
    pid_t pid = fork();
    if (pid == 0) {
        dup2(in_pipe[0], 0);
        dup2(out_pipe[1], 1);
        close(in_pipe[1]);
        close(out_pipe[0]);
        if (!o.stderr_path.empty()) {
            int fd = open(o.stderr_path.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0644);
            if (fd >= 0) dup2(fd, 2);
        }
        for (const auto &v : o.unset) unsetenv(v.c_str());
        for (const auto &e : o.env) setenv(e.first.c_str(), e.second.c_str(), 1);
        exec_encore(args);
    }
    close(in_pipe[0]);
    close(out_pipe[1]);
    if (!o.input.empty() && write(in_pipe[1], o.input.data(), o.input.size()) < 0) {
    }
    close(in_pipe[1]);
    std::string out;
    char buf[4096];
    ssize_t n;
    while ((n = read(out_pipe[0], buf, sizeof buf)) > 0) out.append(buf, (size_t)n);
    close(out_pipe[0]);
    int status = 0;
    waitpid(pid, &status, 0);
    return {WIFEXITED(status) ? WEXITSTATUS(status) : -1, out};
}

// With this text on stdin, the test's stderr kept.
inline Result run(const std::vector<std::string> &args, const std::string &input) {
    Options o;
    o.input = input;
    return run(args, o);
}

using text_lines::lines;

// JSON text split into its layout (numbers replaced by '#') and its numbers:
// a command's answer has the reference's layout (keys, labels, words) to
// the letter, and numbers close to the reference's.
inline const std::regex &number_pattern() {
    static const std::regex number(R"(-?\d+(\.\d+)?([eE][-+]?\d+)?)");
    return number;
}
inline std::string layout(const std::string &s) { return std::regex_replace(s, number_pattern(), "#"); }
inline std::vector<double> numbers_in(const std::string &s) {
    std::vector<double> out;
    for (auto it = std::sregex_iterator(s.begin(), s.end(), number_pattern()); it != std::sregex_iterator(); ++it)
        out.push_back(std::stod(it->str()));
    return out;
}

}  // namespace cli
