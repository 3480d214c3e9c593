// serve_harness.h: run `encore serve` as a child process on 127.0.0.1 and talk
// HTTP to it with libcurl (or a raw socket, for requests curl will not make).
// Every wait is bounded, so a hung server fails a test instead of hanging it.
#pragma once

#include <arpa/inet.h>
#include <curl/curl.h>
#include <netinet/in.h>
#include <poll.h>
#include <strings.h>
#include <signal.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cctype>
#include <chrono>
#include <map>
#include <string>
#include <thread>
#include <vector>

namespace serve_harness {

inline double now_s() {
    return std::chrono::duration<double>(std::chrono::steady_clock::now().time_since_epoch()).count();
}

// One `encore serve` process. start() waits for its "listening on" line.
class Server {
public:
    Server() = default;
    Server(const Server &) = delete;
    ~Server() {
        if (pid_ > 0) {
            kill(pid_, SIGKILL);
            waitpid(pid_, nullptr, 0);
        }
        if (out_ >= 0) close(out_);
    }

    // args follow "serve"; --port 0 and --quiet are added. Returns false (and
    // the reason in error()) if it did not come up within timeout_s.
    bool start(const std::vector<std::string> &args, double timeout_s = 60) {
        int p[2];
        if (pipe(p) != 0) return fail("pipe");
        pid_ = fork();
        if (pid_ == 0) {
            dup2(p[1], 1);
            close(p[0]);
            close(p[1]);
            std::vector<std::string> all = {ENCORE_CLI, "serve", "--port", "0", "--quiet"};
            all.insert(all.end(), args.begin(), args.end());
            std::vector<char *> argv;
            for (auto &a : all) argv.push_back(a.data());
            argv.push_back(nullptr);
            execv(ENCORE_CLI, argv.data());
            _exit(127);
        }
        close(p[1]);
        out_ = p[0];
        std::string text;
        const double deadline = now_s() + timeout_s;
        while (now_s() < deadline) {
            struct pollfd pfd = {out_, POLLIN, 0};
            if (poll(&pfd, 1, 100) <= 0) continue;
            char buf[256];
            ssize_t n = read(out_, buf, sizeof buf);
            if (n <= 0) return fail("the server exited before listening: " + text);
            text.append(buf, (size_t)n);
            size_t at = text.find("listening on http://127.0.0.1:");
            if (at != std::string::npos && text.find('\n', at) != std::string::npos) {
                port_ = std::stoi(text.substr(at + 30));
                return true;
            }
        }
        return fail("no 'listening on' line within the timeout: " + text);
    }

    // Send a signal and wait for the exit status (-1 if it did not exit in
    // timeout_s, or died of a signal).
    int stop(int sig = SIGTERM, double timeout_s = 60) {
        if (pid_ <= 0) return -1;
        kill(pid_, sig);
        return wait_exit(timeout_s);
    }

    int wait_exit(double timeout_s) {
        const double deadline = now_s() + timeout_s;
        int status = 0;
        while (now_s() < deadline) {
            pid_t r = waitpid(pid_, &status, WNOHANG);
            if (r == pid_) {
                pid_ = -1;
                return WIFEXITED(status) ? WEXITSTATUS(status) : -1;
            }
            std::this_thread::sleep_for(std::chrono::milliseconds(10));
        }
        return -1;
    }

    pid_t pid() const { return pid_; }
    int port() const { return port_; }
    std::string url(const std::string &path) const { return "http://127.0.0.1:" + std::to_string(port_) + path; }
    const std::string &error() const { return error_; }

private:
    bool fail(const std::string &why) {
        error_ = why;
        return false;
    }
    pid_t pid_ = -1;
    int out_ = -1;
    int port_ = 0;
    std::string error_;
};

struct Response {
    long status = 0;                          // 0: no response (curl_error says why)
    std::string body;
    std::map<std::string, std::string> headers;  // names lower-cased
    std::string curl_error;
};

inline size_t on_body(char *p, size_t size, size_t n, void *user) {
    static_cast<std::string *>(user)->append(p, size * n);
    return size * n;
}

inline size_t on_header(char *p, size_t size, size_t n, void *user) {
    std::string line(p, size * n);
    size_t colon = line.find(':');
    if (colon != std::string::npos) {
        std::string name = line.substr(0, colon), value = line.substr(colon + 1);
        for (auto &c : name) c = (char)std::tolower((unsigned char)c);
        while (!value.empty() && (value[0] == ' ')) value.erase(0, 1);
        while (!value.empty() && (value.back() == '\r' || value.back() == '\n')) value.pop_back();
        (*static_cast<std::map<std::string, std::string> *>(user))[name] = value;
    }
    return size * n;
}

// An HTTP client on one keep-alive connection (one per thread).
class Client {
public:
    Client() : curl_(curl_easy_init()) {}
    Client(const Client &) = delete;
    ~Client() { curl_easy_cleanup(curl_); }

    Response request(const std::string &method, const std::string &url, const std::string *body = nullptr,
                     const std::vector<std::string> &headers = {}, long timeout_s = 60) {
        Response r;
        curl_easy_reset(curl_);
        curl_easy_setopt(curl_, CURLOPT_URL, url.c_str());
        curl_easy_setopt(curl_, CURLOPT_TIMEOUT, timeout_s);
        curl_easy_setopt(curl_, CURLOPT_NOSIGNAL, 1L);
        curl_easy_setopt(curl_, CURLOPT_WRITEFUNCTION, on_body);
        curl_easy_setopt(curl_, CURLOPT_WRITEDATA, &r.body);
        curl_easy_setopt(curl_, CURLOPT_HEADERFUNCTION, on_header);
        curl_easy_setopt(curl_, CURLOPT_HEADERDATA, &r.headers);
        if (method == "HEAD") curl_easy_setopt(curl_, CURLOPT_NOBODY, 1L);
        else if (method != "GET" && method != "POST") curl_easy_setopt(curl_, CURLOPT_CUSTOMREQUEST, method.c_str());
        if (body) {
            curl_easy_setopt(curl_, CURLOPT_POSTFIELDS, body->data());
            curl_easy_setopt(curl_, CURLOPT_POSTFIELDSIZE_LARGE, (curl_off_t)body->size());
            if (method != "POST") curl_easy_setopt(curl_, CURLOPT_CUSTOMREQUEST, method.c_str());
        }
        struct curl_slist *list = nullptr;
        // A body goes as JSON, as TEI's clients send it (libcurl would label
        // a POST application/x-www-form-urlencoded, which TEI answers with
        // 415), unless the caller names a Content-Type of its own.
        bool typed = false;
        for (auto &h : headers) typed = typed || strncasecmp(h.c_str(), "content-type:", 13) == 0;
        if (body && !typed) list = curl_slist_append(list, "Content-Type: application/json");
        for (auto &h : headers) list = curl_slist_append(list, h.c_str());
        if (list) curl_easy_setopt(curl_, CURLOPT_HTTPHEADER, list);
        CURLcode rc = curl_easy_perform(curl_);
        curl_slist_free_all(list);
        if (rc != CURLE_OK) {
            r.curl_error = curl_easy_strerror(rc);
            return r;
        }
        curl_easy_getinfo(curl_, CURLINFO_RESPONSE_CODE, &r.status);
        return r;
    }

    Response post(const std::string &url, const std::string &body, const std::vector<std::string> &headers = {}) {
        return request("POST", url, &body, headers);
    }
    Response get(const std::string &url) { return request("GET", url); }

private:
    CURL *curl_;
};

// Send raw bytes on a fresh connection and read until the server closes it
// or timeout_s passes. Returns what came back.
inline std::string raw_exchange(int port, const std::string &bytes, double timeout_s = 30) {
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    if (fd < 0) return "";
    struct sockaddr_in a = {};
    a.sin_family = AF_INET;
    a.sin_port = htons((uint16_t)port);
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    if (connect(fd, (struct sockaddr *)&a, sizeof a) != 0) {
        close(fd);
        return "";
    }
    size_t sent = 0;
    while (sent < bytes.size()) {
        ssize_t n = send(fd, bytes.data() + sent, bytes.size() - sent, MSG_NOSIGNAL);
        if (n <= 0) break;
        sent += (size_t)n;
    }
    std::string out;
    const double deadline = now_s() + timeout_s;
    while (now_s() < deadline) {
        struct pollfd pfd = {fd, POLLIN, 0};
        if (poll(&pfd, 1, 100) <= 0) continue;
        char buf[4096];
        ssize_t n = recv(fd, buf, sizeof buf, 0);
        if (n <= 0) break;
        out.append(buf, (size_t)n);
    }
    close(fd);
    return out;
}

// Whether a TCP connection to the port is accepted (and answered) now.
inline bool connect_refused(int port) {
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    struct sockaddr_in a = {};
    a.sin_family = AF_INET;
    a.sin_port = htons((uint16_t)port);
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    bool refused = connect(fd, (struct sockaddr *)&a, sizeof a) != 0;
    close(fd);
    return refused;
}

}  // namespace serve_harness
