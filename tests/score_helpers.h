// score_helpers.h: run the encore binary for the `encore score` tests, with
// files in a scratch directory.
#pragma once

#include <cJSON.h>
#include <gtest/gtest.h>
#include <fcntl.h>
#include <signal.h>
#include <stdlib.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cmath>
#include <cstdio>
#include <fstream>
#include <sstream>
#include <string>
#include <vector>

#include "cli_run.h"
#include "text_lines.h"

namespace score_test {

struct Result {
    int status;       // exit status; 128 + signal when killed
    std::string out;  // stdout
    std::string err;  // stderr
};

inline std::string read_file(const std::string &path) {
    std::ifstream f(path, std::ios::binary);
    std::stringstream ss;
    ss << f.rdbuf();
    return ss.str();
}

inline void write_file(const std::string &path, const std::string &data) {
    std::ofstream f(path, std::ios::binary | std::ios::trunc);
    f << data;
}

inline bool exists(const std::string &path) {
    struct stat st;
    return stat(path.c_str(), &st) == 0;
}

// A fresh directory under $TMPDIR (or /tmp), removed by the destructor.
struct Scratch {
    std::string dir;
    Scratch() {
        const char *t = getenv("TMPDIR");
        std::string tmpl = std::string(t && *t ? t : "/tmp") + "/encore-score-XXXXXX";
        std::vector<char> buf(tmpl.begin(), tmpl.end());
        buf.push_back('\0');
        dir = mkdtemp(buf.data()) ? buf.data() : "";
    }
    ~Scratch() {
        if (!dir.empty()) {
            std::string cmd = "rm -rf '" + dir + "'";
            if (system(cmd.c_str()) != 0) {}
        }
    }
    std::string path(const std::string &name) const { return dir + "/" + name; }
};

// A running binary, and the process feeding its stdin (0 when none).
struct Proc {
    pid_t pid = -1;
    pid_t feeder = 0;
};

// Start the binary: stdout and stderr to files; stdin from a pipe that a
// child process feeds with `input` (a real pipe, not a file), or /dev/null.
inline Proc spawn(const std::vector<std::string> &args, const std::string &out_path, const std::string &err_path,
                  const std::string *input = nullptr) {
    Proc p;
    int in_pipe[2] = {-1, -1};
    if (input && pipe(in_pipe) != 0) return p;
    p.pid = fork();
    if (p.pid == 0) {
        int in = input ? in_pipe[0] : open("/dev/null", O_RDONLY);
        int out = open(out_path.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0644);
        int err = open(err_path.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0644);
        dup2(in, 0);
        dup2(out, 1);
        dup2(err, 2);
        if (input) close(in_pipe[1]);
        cli::exec_encore(args);
    }
    if (input) {
        close(in_pipe[0]);
        p.feeder = fork();
        if (p.feeder == 0) {
            signal(SIGPIPE, SIG_DFL);  // the reader may go away (killed, or --strict)
            size_t done = 0;
            while (done < input->size()) {
                ssize_t w = write(in_pipe[1], input->data() + done, input->size() - done);
                if (w <= 0) break;
                done += (size_t)w;
            }
            _exit(0);
        }
        close(in_pipe[1]);
    }
    return p;
}

// Wait for the binary (and its feeder); exit status, 128 + signal if killed.
inline int wait_status(const Proc &p, bool *signaled = nullptr) {
    int status = 0;
    if (waitpid(p.pid, &status, 0) != p.pid) return -1;
    if (p.feeder > 0) {
        int ignored;
        waitpid(p.feeder, &ignored, 0);
    }
    if (signaled) *signaled = WIFSIGNALED(status);
    return WIFEXITED(status) ? WEXITSTATUS(status) : WIFSIGNALED(status) ? 128 + WTERMSIG(status) : -1;
}

// Run to the end and capture stdout and stderr.
inline Result run(const std::vector<std::string> &args, const std::string *input = nullptr) {
    Scratch s;
    Proc p = spawn(args, s.path("stdout"), s.path("stderr"), input);
    int status = wait_status(p);
    return {status, read_file(s.path("stdout")), read_file(s.path("stderr"))};
}

using text_lines::lines;

// Parsed JSON lines; the caller owns them (cJSON_Delete).
struct JsonLines {
    std::vector<cJSON *> items;
    explicit JsonLines(const std::string &text) {
        for (const auto &l : lines(text)) items.push_back(cJSON_Parse(l.c_str()));
    }
    JsonLines(const JsonLines &) = delete;
    ~JsonLines() {
        for (cJSON *c : items) cJSON_Delete(c);
    }
    size_t size() const { return items.size(); }
    const cJSON *operator[](size_t i) const { return items[i]; }
};

// The {"event": "summary", ...} line of --progress json, or nullptr.
inline cJSON *summary(const std::string &err) {
    for (const auto &l : lines(err)) {
        cJSON *c = cJSON_Parse(l.c_str());
        const cJSON *ev = cJSON_GetObjectItemCaseSensitive(c, "event");
        if (cJSON_IsString(ev) && std::string(ev->valuestring) == "summary") return c;
        cJSON_Delete(c);
    }
    return nullptr;
}

// A number of a JSON object; missing or not a number is a test failure, and
// reads as NaN, which no comparison passes (not even with another missing one).
inline double number(const cJSON *obj, const char *key) {
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(obj, key);
    if (cJSON_IsNumber(v)) return v->valuedouble;
    ADD_FAILURE() << "\"" << key << "\" is " << (v ? "not a number" : "missing");
    return NAN;
}

inline std::string string(const cJSON *obj, const char *key) {
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(obj, key);
    return cJSON_IsString(v) ? v->valuestring : "";
}

}  // namespace score_test
