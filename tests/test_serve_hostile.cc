// test_serve_hostile.cc: `encore serve` against slow, heavy and malformed
// clients, on 127.0.0.1 with the real binary (ENCORE_CLI): oversized batches
// refused before their items are read; HTTP that TEI (hyper/axum) refuses
// refused here with the same status; request deadlines and per-address
// connection caps against slow clients; a byte budget for bodies in flight.
#include <gtest/gtest.h>

#include <fcntl.h>
#include <microhttpd.h>
#include <sys/resource.h>
#include <sys/stat.h>

#include <algorithm>
#include <cmath>
#include <atomic>
#include <fstream>
#include <mutex>
#include <sstream>

#include "expect_close.h"
#include "fixtures.h"
#include "serve_harness.h"

using fixtures::get;
using serve_harness::Client;
using serve_harness::Response;
using serve_harness::Server;

namespace {

const bool curl_ready = curl_global_init(CURL_GLOBAL_DEFAULT) == CURLE_OK;

struct JsonDoc {
    cJSON *root;
    explicit JsonDoc(const std::string &s) : root(cJSON_ParseWithLength(s.data(), s.size())) {}
    JsonDoc(const JsonDoc &) = delete;
    ~JsonDoc() { cJSON_Delete(root); }
};

// The "error" of an error reply, or "" when it has none.
std::string error_of(const Response &r) {
    JsonDoc d(r.body);
    const cJSON *e = get(d.root, "error");
    return cJSON_IsString(e) ? e->valuestring : "";
}

std::string error_type_of(const Response &r) {
    JsonDoc d(r.body);
    const cJSON *e = get(d.root, "error_type");
    return cJSON_IsString(e) ? e->valuestring : "";
}

#define START(server, ...)                                                                \
    do {                                                                                  \
        ASSERT_TRUE(curl_ready);                                                          \
        ASSERT_TRUE((server).start({"--threads", "1", __VA_ARGS__})) << (server).error(); \
    } while (0)

// The fastest of three runs of f, in seconds.
template <class F>
double fastest_of_three(F f) {
    double best = 1e9;
    for (int i = 0; i < 3; i++) {
        const double t0 = serve_harness::now_s();
        f();
        best = std::min(best, serve_harness::now_s() - t0);
    }
    return best;
}

// {"inputs": [first, "a", "a", ...]} with n items in all.
std::string many_items(size_t n, const std::string &first = "\"a\"") {
    std::string s = "{\"inputs\":[" + first;
    s.reserve(16 + 4 * n);
    for (size_t i = 1; i < n; i++) s += ",\"a\"";
    return s + "]}";
}

// ---- item lists ---------------------------------------------------------------

// A batch over --max-client-batch-size is refused when its size is known,
// before its items are read one by one: refusing 2,000,000 items costs
// about what parsing them costs. The baseline is a body of the same size
// refused for its shape right after parsing ([id, "a", ...]: the first
// item makes it a list of ids, the second is not one).
TEST(ServeHostile, AnOverLongBatchIsRefusedBeforeItsItemsAreRead) {
    Server s;
    START(s, "--model", fixtures::model_dir("tiny-bert-embed"), "--max-client-batch-size", "100000",
          "--max-body-bytes", "20000000");
    Client c;
    const size_t n = 2000000;
    const std::string many = many_items(n), shape = many_items(n, "1");
    Response r;
    const double t_many = fastest_of_three([&] { r = c.post(s.url("/embed"), many); });
    EXPECT_EQ(r.status, 422) << r.body << r.curl_error;
    EXPECT_EQ(error_of(r), "batch size 2000000 > maximum allowed batch size 100000 (--max-client-batch-size)");
    Response b;
    const double t_shape = fastest_of_three([&] { b = c.post(s.url("/embed"), shape); });
    EXPECT_EQ(b.status, 422) << b.body << b.curl_error;
    // Measured in a release build: 0.19 s against 0.21 s, and 0.63 s when the
    // items were read one by one (ASan: minutes). Twice the baseline leaves
    // room for a loaded machine; the fastest of three runs drops stalls. Under
    // ASan, beside another test, refusing took 2.3x the baseline once (1.14
    // s against 0.50 s), so there the bound is 5x: reading the items one by
    // one still costs far more.
#if defined(__SANITIZE_ADDRESS__)
    const double bound = 5;
#else
    const double bound = 2;
#endif
    EXPECT_LT(t_many, bound * t_shape) << "refusing " << n << " items took " << t_many << " s, parsing them "
                                             << t_shape << " s";
    // The same for /tokenize's and /predict's batches.
    r = c.post(s.url("/tokenize"), many);
    EXPECT_EQ(error_of(r), "batch size 2000000 > maximum allowed batch size 100000 (--max-client-batch-size)");
    EXPECT_EQ(s.stop(), 0);
}

// ---- HTTP that TEI (hyper, axum) refuses ----------------------------------

// The status line's code of a raw exchange, or 0.
int status_of(const std::string &reply) {
    if (reply.compare(0, 9, "HTTP/1.1 ") != 0 && reply.compare(0, 9, "HTTP/1.0 ") != 0) return 0;
    return std::atoi(reply.c_str() + 9);
}

std::string raw_post(const std::string &path, const std::string &body, const std::string &headers) {
    return "POST " + path + " HTTP/1.1\r\nHost: 127.0.0.1\r\n" + headers + "\r\n" + body;
}

TEST(ServeHostile, MalformedHttpGetsTheStatusTEIAnswers) {
    Server s;
    START(s, "--model", fixtures::model_dir("tiny-bert-sst"));
    const std::string json = "Content-Type: application/json\r\n";
    const std::string good = R"({"inputs":"a fine film"})";
    const std::string length = "Content-Length: " + std::to_string(good.size()) + "\r\n";
    // The raw request is sound: the cases below each break one thing.
    EXPECT_EQ(status_of(serve_harness::raw_exchange(s.port(), raw_post("/predict", good, json + length + "Connection: close\r\n"))), 200);

    // Two Content-Length headers that differ: hyper answers 400 (the first
    // one used to win). Two that agree are fine.
    std::string r = serve_harness::raw_exchange(
        s.port(), raw_post("/predict", good, json + length + "Content-Length: 3\r\nConnection: close\r\n"), 10);
    EXPECT_EQ(status_of(r), 400) << r;
    EXPECT_NE(r.find("Content-Length headers that differ"), std::string::npos) << r;
    r = serve_harness::raw_exchange(s.port(), raw_post("/predict", good, json + length + length + "Connection: close\r\n"), 10);
    EXPECT_EQ(status_of(r), 200) << r;

    // HTTP/1.1 without Host: 400; HTTP/1.0 needs none.
    r = serve_harness::raw_exchange(s.port(), "GET /health HTTP/1.1\r\nConnection: close\r\n\r\n", 10);
    EXPECT_EQ(status_of(r), 400) << r;
    EXPECT_NE(r.find("Host"), std::string::npos) << r;
    r = serve_harness::raw_exchange(s.port(), "GET /health HTTP/1.0\r\n\r\n", 10);
    EXPECT_EQ(status_of(r), 200) << r;

    // A percent-escape in the path is no route (MHD unescapes the path, so
    // /predict%00 used to reach /predict); the query may have escapes.
    for (const char *path : {"/predict%00", "/pre%64ict", "/predict%2F", "/health%00"}) {
        const bool get = std::string(path).find("health") != std::string::npos;
        const std::string req = get ? "GET " + std::string(path) + " HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n"
                                    : raw_post(path, good, json + length + "Connection: close\r\n");
        r = serve_harness::raw_exchange(s.port(), req, 10);
        EXPECT_EQ(status_of(r), 404) << path << ": " << r;
        EXPECT_NE(r.find("\"NotFound\""), std::string::npos) << path << ": " << r;
    }
    r = serve_harness::raw_exchange(s.port(), "GET /health?x=%00 HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n", 10);
    EXPECT_EQ(status_of(r), 200) << r;

    // Content-Type: axum's Json extractor answers 415 when it is missing or
    // not JSON; application/json with parameters and application/*+json pass.
    Client c;
    for (const char *type : {"", "text/plain", "application/x-www-form-urlencoded", "application/jsonx",
                             "application/xjson", "json", "multipart/form-data"}) {
        std::vector<std::string> h = {std::string("Content-Type: ") + type};
        if (!*type) h = {"Content-Type:"};  // curl then sends none
        Response x = c.post(s.url("/predict"), good, h);
        EXPECT_EQ(x.status, 415) << "'" << type << "': " << x.body;
        EXPECT_EQ(error_of(x), "Expected request with `Content-Type: application/json`") << type;
    }
    for (const char *path : {"/embed", "/tokenize", "/v1/embeddings", "/rerank", "/", "/invocations"}) {
        Response x = c.post(s.url(path), good, {"Content-Type: text/plain"});
        EXPECT_EQ(x.status, 415) << path << ": " << x.body;
    }
    for (const char *type : {"application/json", "application/json; charset=utf-8", "Application/JSON",
                             "application/vnd.api+json", "application/json;charset=UTF-8"}) {
        Response x = c.post(s.url("/predict"), good, {std::string("Content-Type: ") + type});
        EXPECT_EQ(x.status, 200) << "'" << type << "': " << x.body;
    }
    // GET routes take no body and need no type; a wrong method is still 405.
    EXPECT_EQ(c.get(s.url("/health")).status, 200);
    EXPECT_EQ(c.post(s.url("/health"), good, {"Content-Type: text/plain"}).status, 405);
    EXPECT_EQ(s.stop(), 0);
}

}  // namespace

namespace {

// ---- slow clients ---------------------------------------------------------------

// What the server's deadlines rely on, checked against the installed
// libmicrohttpd rather than trusted: in thread-per-connection mode, the
// connection's CLOSED notification comes while its descriptor is still open
// (the same socket as at STARTED), so a watchdog that holds a lock across
// shutdown() and CLOSED never shuts down a descriptor that was closed and
// reused. Connections end in the ways the server's do: a whole request, a
// client that hangs up, and a shutdown() from another thread.
struct MhdContract {
    std::mutex lock;
    std::map<void *, std::pair<int, ino_t>> open;  // socket_context -> (fd, inode)
    std::vector<int> fds;
    int started = 0, closed = 0, open_at_close = 0, same_socket = 0;
};

void contract_notify(void *cls, struct MHD_Connection *conn, void **socket_context,
                     enum MHD_ConnectionNotificationCode code) {
    auto *k = static_cast<MhdContract *>(cls);
    std::lock_guard<std::mutex> g(k->lock);
    if (code == MHD_CONNECTION_NOTIFY_STARTED) {
        const int fd = MHD_get_connection_info(conn, MHD_CONNECTION_INFO_CONNECTION_FD)->connect_fd;
        struct stat st = {};
        fstat(fd, &st);
        *socket_context = new int(0);
        k->open[*socket_context] = {fd, st.st_ino};
        k->fds.push_back(fd);
        k->started++;
    } else if (code == MHD_CONNECTION_NOTIFY_CLOSED) {
        auto [fd, ino] = k->open.at(*socket_context);
        struct stat st = {};
        if (fcntl(fd, F_GETFD) != -1) k->open_at_close++;
        if (fstat(fd, &st) == 0 && st.st_ino == ino) k->same_socket++;
        k->open.erase(*socket_context);
        delete static_cast<int *>(*socket_context);
        k->closed++;
    }
}

enum MHD_Result contract_answer(void *, struct MHD_Connection *conn, const char *, const char *, const char *,
                                const char *, size_t *upload_data_size, void **con_cls) {
    if (!*con_cls) {
        *con_cls = conn;
        return MHD_YES;
    }
    if (*upload_data_size) {
        *upload_data_size = 0;
        return MHD_YES;
    }
    static char ok[] = "ok";
    struct MHD_Response *r = MHD_create_response_from_buffer(2, ok, MHD_RESPMEM_PERSISTENT);
    enum MHD_Result q = MHD_queue_response(conn, 200, r);
    MHD_destroy_response(r);
    return q;
}

TEST(ServeHostile, LibmicrohttpdNotifiesClosedBeforeClosingTheSocket) {
    MhdContract k;
    struct MHD_Daemon *d = MHD_start_daemon(
        MHD_USE_THREAD_PER_CONNECTION | MHD_USE_INTERNAL_POLLING_THREAD | MHD_USE_POLL | MHD_USE_ITC, 0, nullptr,
        nullptr, contract_answer, nullptr, MHD_OPTION_NOTIFY_CONNECTION, contract_notify, &k, MHD_OPTION_END);
    ASSERT_NE(d, nullptr);
    const int port = MHD_get_daemon_info(d, MHD_DAEMON_INFO_BIND_PORT)->port;
    const int rounds = 20;
    for (int i = 0; i < rounds; i++) {
        // A whole request, answered.
        std::string r = serve_harness::raw_exchange(port, "GET / HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n", 10);
        EXPECT_EQ(status_of(r), 200) << r;
        // A client that hangs up halfway through its head.
        int fd = socket(AF_INET, SOCK_STREAM, 0);
        struct sockaddr_in a = {};
        a.sin_family = AF_INET;
        a.sin_port = htons((uint16_t)port);
        a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
        ASSERT_EQ(connect(fd, (struct sockaddr *)&a, sizeof a), 0);
        send(fd, "GET / HT", 8, MSG_NOSIGNAL);
        close(fd);
        // A connection shut down from another thread, as the watchdog does.
        fd = socket(AF_INET, SOCK_STREAM, 0);
        ASSERT_EQ(connect(fd, (struct sockaddr *)&a, sizeof a), 0);
        send(fd, "GET / HT", 8, MSG_NOSIGNAL);
        const double deadline = serve_harness::now_s() + 10;
        int server_fd = -1;
        while (server_fd < 0 && serve_harness::now_s() < deadline) {
            {
                std::lock_guard<std::mutex> g(k.lock);
                if ((int)k.fds.size() == 3 * i + 3) server_fd = k.fds.back();
            }
            if (server_fd < 0) std::this_thread::sleep_for(std::chrono::milliseconds(1));
        }
        ASSERT_GE(server_fd, 0);
        {
            std::lock_guard<std::mutex> g(k.lock);
            if (k.open.size() && std::any_of(k.open.begin(), k.open.end(),
                                             [&](auto &e) { return e.second.first == server_fd; }))
                shutdown(server_fd, SHUT_RDWR);
        }
        char b;
        struct pollfd p = {fd, POLLIN, 0};
        EXPECT_EQ(poll(&p, 1, 10000), 1);
        EXPECT_LE(recv(fd, &b, 1, 0), 0);  // the server's end of the stream
        close(fd);
    }
    // Every CLOSED has come once its connection has ended.
    const double deadline = serve_harness::now_s() + 10;
    while (serve_harness::now_s() < deadline) {
        {
            std::lock_guard<std::mutex> g(k.lock);
            if (k.closed == 3 * rounds) break;
        }
        std::this_thread::sleep_for(std::chrono::milliseconds(5));
    }
    MHD_stop_daemon(d);
    EXPECT_EQ(k.started, 3 * rounds);
    EXPECT_EQ(k.closed, 3 * rounds);
    EXPECT_EQ(k.open_at_close, 3 * rounds) << "CLOSED came after the descriptor was closed";
    EXPECT_EQ(k.same_socket, 3 * rounds) << "CLOSED saw another socket under the descriptor";
}

// Raise the soft limit on open files to the hard one, for the test and the
// server it starts. Returns the limit.
rlim_t raise_open_files() {
    struct rlimit rl;
    if (getrlimit(RLIMIT_NOFILE, &rl) != 0) return 0;
    rl.rlim_cur = rl.rlim_max;
    setrlimit(RLIMIT_NOFILE, &rl);
    getrlimit(RLIMIT_NOFILE, &rl);
    return rl.rlim_cur;
}

// A connection from a source address (127.0.0.x: all of 127/8 is loopback
// on Linux), non-blocking. -1 if it failed.
int connect_from(const char *source, int port) {
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    if (fd < 0) return -1;
    struct sockaddr_in src = {};
    src.sin_family = AF_INET;
    inet_pton(AF_INET, source, &src.sin_addr);
    struct sockaddr_in a = {};
    a.sin_family = AF_INET;
    a.sin_port = htons((uint16_t)port);
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    if (bind(fd, (struct sockaddr *)&src, sizeof src) != 0 || connect(fd, (struct sockaddr *)&a, sizeof a) != 0) {
        close(fd);
        return -1;
    }
    fcntl(fd, F_SETFL, fcntl(fd, F_GETFL) | O_NONBLOCK);
    return fd;
}

// Whether the server has ended the connection (end of stream or reset);
// reads and drops what came.
bool ended(int fd) {
    char buf[4096];
    for (;;) {
        ssize_t n = recv(fd, buf, sizeof buf, MSG_DONTWAIT);
        if (n == 0) return true;
        if (n < 0) return errno != EAGAIN && errno != EWOULDBLOCK;
    }
}

// Slow clients: sockets that send a request head one byte at a time, every
// period_s, from a thread, and never finish it.
class Trickle {
public:
    Trickle(std::vector<int> fds, double period_s) : fds_(std::move(fds)), period_(period_s) {
        t_ = std::thread([this] { run(); });
    }
    ~Trickle() {
        stop_ = true;
        t_.join();
        for (int fd : fds_) close(fd);
    }
    // Connections the server has ended so far.
    int ended_count() const { return ended_.load(); }

private:
    void run() {
        const std::string head = "POST /predict HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nX-Slow: ";
        std::vector<bool> gone(fds_.size());
        for (size_t at = 0; !stop_; at++) {
            int n = 0;
            for (size_t i = 0; i < fds_.size(); i++) {
                if (!gone[i] && ended(fds_[i])) gone[i] = true;
                if (!gone[i]) {
                    const char b = at < head.size() ? head[at] : 'a';
                    if (send(fds_[i], &b, 1, MSG_NOSIGNAL | MSG_DONTWAIT) < 0 && errno != EAGAIN) gone[i] = true;
                }
                n += gone[i];
            }
            ended_ = n;
            for (double until = serve_harness::now_s() + period_; !stop_ && serve_harness::now_s() < until;)
                std::this_thread::sleep_for(std::chrono::milliseconds(20));
        }
    }
    std::vector<int> fds_;
    double period_;
    std::atomic<bool> stop_{false};
    std::atomic<int> ended_{0};
    std::thread t_;
};

// A trickling connection is closed at --request-timeout although it is
// never idle (MHD's own timeout is reset by every byte), and so is an idle
// keep-alive connection; the time the model takes does not count.
TEST(ServeHostile, ATricklingConnectionIsClosedAtTheDeadline) {
    Server s;
    START(s, "--model", fixtures::model_dir("tiny-bert-sst"), "--request-timeout", "2", "--batch-wait-us", "3000000",
          "--max-batch-requests", "2");
    int fd = connect_from("127.0.0.1", s.port());
    ASSERT_GE(fd, 0);
    const double t0 = serve_harness::now_s();
    {
        Trickle slow({fd}, 1.0);  // one byte a second
        while (!slow.ended_count() && serve_harness::now_s() - t0 < 15)
            std::this_thread::sleep_for(std::chrono::milliseconds(20));
        const double t = serve_harness::now_s() - t0;
        EXPECT_EQ(slow.ended_count(), 1) << "still open after " << t << " s";
        EXPECT_GT(t, 1.5);
        EXPECT_LT(t, 5.0);
    }
    // An idle keep-alive connection after its reply.
    const std::string good = R"({"inputs":"a fine film"})";
    fd = connect_from("127.0.0.1", s.port());
    ASSERT_GE(fd, 0);
    const std::string req = raw_post("/tokenize", good, "Content-Type: application/json\r\nContent-Length: " +
                                                            std::to_string(good.size()) + "\r\n");
    ASSERT_EQ(send(fd, req.data(), req.size(), MSG_NOSIGNAL), (ssize_t)req.size());
    const double t1 = serve_harness::now_s();
    std::string reply;
    bool gone = false;
    while (!gone && serve_harness::now_s() - t1 < 15) {
        char buf[4096];
        struct pollfd p = {fd, POLLIN, 0};
        if (poll(&p, 1, 50) <= 0) continue;
        ssize_t n = recv(fd, buf, sizeof buf, 0);
        if (n <= 0) gone = true;
        else reply.append(buf, (size_t)n);
    }
    EXPECT_EQ(status_of(reply), 200) << reply;
    EXPECT_TRUE(gone);
    EXPECT_GT(serve_harness::now_s() - t1, 1.5);
    EXPECT_LT(serve_harness::now_s() - t1, 5.0);
    close(fd);
    // A request whose batch waits 3 s for company, past the 2 s deadline:
    // its body was complete, so it is answered.
    Client c;
    Response r = c.post(s.url("/predict"), good);
    EXPECT_EQ(r.status, 200) << r.body << r.curl_error;
    EXPECT_EQ(s.stop(), 0);
}

// The library's scores for one text on the server's model.
std::vector<float> library_scores(const std::string &model_name, const char *text) {
    encore_model *model = nullptr;
    encore_session *session = nullptr;
    std::vector<float> out;
    if (encore_model_load(fixtures::model_dir(model_name).c_str(), encore_model_default_params(), &model) ==
        ENCORE_STATUS_OK) {
        encore_session_params p = encore_session_default_params();
        p.n_threads = 1;
        encore_input in = {text, nullptr};
        out.resize((size_t)encore_model_n_labels(model));
        if (encore_session_create(model, p, &session) != ENCORE_STATUS_OK ||
            encore_session_classify(session, &in, 1, out.data()) != ENCORE_STATUS_OK)
            out.clear();
    }
    encore_session_free(session);
    encore_model_free(model);
    return out;
}

// /health and a /predict whose scores are the library's, each answered
// within 1 s. Returns "" or what went wrong.
// How long a request may take while slow clients hold connections: a
// server whose slots ran out would not answer at all. ASan slows the
// server's every step (once, 1.44 s for /health beside another test).
#if defined(__SANITIZE_ADDRESS__)
constexpr double kPromptS = 3.0;
#else
constexpr double kPromptS = 1.0;
#endif

std::string served_promptly(const Server &s, const std::vector<float> &want, const encore_model *labels_of) {
    Client c;
    double t0 = serve_harness::now_s();
    Response h = c.get(s.url("/health"));
    double t = serve_harness::now_s() - t0;
    if (h.status != 200) return "/health: " + std::to_string(h.status) + " " + h.curl_error;
    if (t >= kPromptS) return "/health took " + std::to_string(t) + " s";
    Client c2;  // a fresh connection for /predict too
    t0 = serve_harness::now_s();
    Response r = c2.post(s.url("/predict"), R"({"inputs":"a fine film"})");
    t = serve_harness::now_s() - t0;
    if (r.status != 200) return "/predict: " + std::to_string(r.status) + " " + r.body + r.curl_error;
    if (t >= kPromptS) return "/predict took " + std::to_string(t) + " s";
    JsonDoc d(r.body);
    if (cJSON_GetArraySize(d.root) != (int)want.size()) return "/predict: " + r.body;
    const cJSON *p;
    cJSON_ArrayForEach(p, d.root) {
        const cJSON *label = get(p, "label"), *score = get(p, "score");
        int id = -1;
        for (int i = 0; i < (int)want.size(); i++)
            if (cJSON_IsString(label) && std::string(encore_model_label(labels_of, i)) == label->valuestring) id = i;
        // The same library calls on the same text; the server may batch it
        // with nothing else, so only the last bits may differ.
        if (id < 0 || !cJSON_IsNumber(score) || std::fabs(score->valuedouble - want[(size_t)id]) > 1e-5)
            return "/predict's scores are not the library's: " + r.body;
    }
    return "";
}

// 1,100 slow connections from one address, then 1,000 spread over four
// addresses so that they fit under the per-address cap: at the default
// limits (1,088 connections, 544 per address) a client on another address
// still gets /health and a correct /predict within 1 s. Before the caps, one
// address could take every slot, and later connections were reset.
TEST(ServeHostile, AThousandSlowConnectionsLeaveRoomForOtherClients) {
    const rlim_t files = raise_open_files();
    // The test's 1,100 sockets and the server's, plus room for both.
    if (files < 2600)
        GTEST_SKIP() << "the hard limit on open files (ulimit -Hn) is " << files
                     << "; this test needs 2,600 for 1,100 connections at both ends";
    Server s;
    START(s, "--model", fixtures::model_dir("tiny-bert-sst"));
    const std::vector<float> want = library_scores("tiny-bert-sst", "a fine film");
    ASSERT_FALSE(want.empty());
    encore_model *labels = nullptr;
    ASSERT_EQ(encore_model_load(fixtures::model_dir("tiny-bert-sst").c_str(), encore_model_default_params(), &labels),
              ENCORE_STATUS_OK);
    {
        std::vector<int> fds;
        for (int i = 0; i < 1100; i++) {
            const int fd = connect_from("127.0.0.2", s.port());
            if (fd >= 0) fds.push_back(fd);
        }
        ASSERT_EQ(fds.size(), 1100u);
        Trickle slow(fds, 0.5);
        // The server has seen them all when it has refused those past the cap.
        const double t0 = serve_harness::now_s();
        while (slow.ended_count() < 1100 - 544 && serve_harness::now_s() - t0 < 20)
            std::this_thread::sleep_for(std::chrono::milliseconds(50));
        EXPECT_EQ(slow.ended_count(), 1100 - 544) << "connections from one address past the cap of 544";
        EXPECT_EQ(served_promptly(s, want, labels), "");
        std::this_thread::sleep_for(std::chrono::milliseconds(1000));  // more trickling
        EXPECT_EQ(served_promptly(s, want, labels), "");
        EXPECT_EQ(slow.ended_count(), 1100 - 544);
    }
    // The server frees the slots as it sees the connections close.
    std::this_thread::sleep_for(std::chrono::milliseconds(500));
    {
        std::vector<int> fds;
        const char *const from[] = {"127.0.0.3", "127.0.0.4", "127.0.0.5", "127.0.0.6"};
        for (int i = 0; i < 1000; i++) {
            const int fd = connect_from(from[i % 4], s.port());
            if (fd >= 0) fds.push_back(fd);
        }
        ASSERT_EQ(fds.size(), 1000u);
        Trickle slow(fds, 0.5);
        std::this_thread::sleep_for(std::chrono::milliseconds(1500));
        EXPECT_EQ(served_promptly(s, want, labels), "");
        EXPECT_EQ(slow.ended_count(), 0) << "connections under the caps were closed";
    }
    encore_model_free(labels);
    EXPECT_EQ(s.stop(), 0);
}

// ---- memory ---------------------------------------------------------------------

// A value of /proc/PID/status in kB (VmHWM, VmRSS), or -1.
long proc_status_kb(pid_t pid, const std::string &key) {
    std::ifstream f("/proc/" + std::to_string(pid) + "/status");
    std::string line;
    while (std::getline(f, line))
        if (line.compare(0, key.size() + 1, key + ":") == 0) return std::atol(line.c_str() + key.size() + 1);
    return -1;
}

// The 2 MB bodies that cost the server the most memory per body byte,
// found by measuring (bench/RESULTS.md): one long truncated text of a token
// per character, lists of tiny strings, lists of 1-digit token ids.
struct Shape {
    const char *name, *path;
    std::string body;
};

std::vector<Shape> heavy_shapes(size_t size) {
    std::vector<Shape> v;
    v.push_back({"one long text of punctuation, truncated", "/embed",
                 "{\"truncate\":true,\"inputs\":\"" + std::string(size - 40, '!') + "\"}"});
    v.push_back({"one long text, too long", "/embed", "{\"inputs\":\"" + std::string(size - 40, '!') + "\"}"});
    v.push_back({"a list of tiny strings", "/embed", many_items(size / 4)});
    std::string ids = "{\"inputs\":[1";
    while (ids.size() < size) ids += ",1";
    v.push_back({"a list of token ids", "/embed", ids + "]}"});
    std::string lists = "{\"ids\":[[1]";
    while (lists.size() < size) lists += ",[1]";
    v.push_back({"lists of token ids", "/decode", lists + "]}"});
    return v;
}

// 64 clients at once sending 2 MB bodies of each heavy shape: the server's
// peak RSS (VmHWM) stays under its idle RSS plus --max-inflight-bytes (with
// a margin for the connections' threads and the allocator); bodies past the
// budget get 429. Measured in a release build: 58 MB with a budget of 128
// MB; 216 to 320 MB before the budget and the cap on JSON values (a 2 MB
// list of ids took 87 MB to parse).
TEST(ServeHostile, SixtyFourTwoMegabyteBodiesStayUnderTheMemoryBound) {
    const size_t budget = 128u << 20;
    Server s;
    START(s, "--model", fixtures::model_dir("tiny-bert-embed"), "--max-inflight-bytes", std::to_string(budget));
    // Valid requests of the most values still fit: 32 lists of 64 ids (the
    // model's length) to /embed and to /decode.
    std::string lists;
    for (int i = 0; i < 32; i++) {
        lists += i ? ",[" : "[";
        for (int k = 0; k < 62; k++) lists += k ? ",1000" : "101";
        lists += ",102]";
    }
    Client c;
    Response r = c.post(s.url("/embed"), "{\"inputs\":[" + lists + "]}");
    EXPECT_EQ(r.status, 200) << r.body.substr(0, 300);
    r = c.post(s.url("/decode"), "{\"ids\":[" + lists + "]}");
    EXPECT_EQ(r.status, 200) << r.body.substr(0, 300);

    // Reset the peak to now (clear_refs 5), so that VmHWM is this test's.
    {
        std::ofstream f("/proc/" + std::to_string(s.pid()) + "/clear_refs");
        f << "5";
    }
    const long idle_kb = proc_status_kb(s.pid(), "VmRSS");
    ASSERT_GT(idle_kb, 0);
    std::map<long, int> statuses;
    for (auto &shape : heavy_shapes(1990000)) {
        std::vector<std::thread> ts;
        std::mutex m;
        std::map<long, int> got;
        for (int i = 0; i < 64; i++)
            ts.emplace_back([&] {
                Client each;
                Response x = each.post(s.url(shape.path), shape.body);
                std::lock_guard<std::mutex> g(m);
                got[x.status]++;
                if (x.status == 429) {
                    EXPECT_EQ(error_type_of(x), "Overloaded") << x.body;
                }
            });
        for (auto &t : ts) t.join();
        std::string seen;
        for (auto &[st, n] : got) seen += std::to_string(st) + " x" + std::to_string(n) + " ";
        // Every body is answered: with its own status, or 429 past the budget.
        EXPECT_EQ(got[0], 0) << shape.name << ": " << seen;
        for (auto &[st, n] : got) statuses[st] += n;
        const long peak_kb = proc_status_kb(s.pid(), "VmHWM");
        const double grew_mb = (peak_kb - idle_kb) / 1024.0;
#if defined(__SANITIZE_ADDRESS__)
        // ASan keeps freed memory in its quarantine (256 MB) and pads every
        // allocation with redzones.
        const double allowed_mb = 3.0 * (budget >> 20) + 300;
#else
        // The connections' threads and buffers, and allocator slack.
        const double allowed_mb = (budget >> 20) + 48;
#endif
        EXPECT_LT(grew_mb, allowed_mb) << shape.name << ": the peak RSS grew by " << grew_mb << " MB; " << seen;
    }
    // The budget was reached (64 bodies of 2 MB reserve 640 MB), and some
    // bodies were served.
    EXPECT_GT(statuses[429], 0);
    EXPECT_GT(statuses[200] + statuses[413] + statuses[422], 0);
    EXPECT_EQ(s.stop(), 0);
}

// A chunked body (no Content-Length) reserves its memory as it arrives:
// one that grows past the budget gets 429, a small one is served.
TEST(ServeHostile, ChunkedBodiesReserveAsTheyGrow) {
    Server s;
    START(s, "--model", fixtures::model_dir("tiny-bert-embed"), "--max-inflight-bytes", "1000000");
    auto chunked = [&](const std::string &body) {
        std::string req = "POST /embed HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
                          "Transfer-Encoding: chunked\r\nConnection: close\r\n\r\n";
        for (size_t at = 0; at < body.size(); at += 8192) {
            const std::string part = body.substr(at, 8192);
            char len[32];
            snprintf(len, sizeof len, "%zx\r\n", part.size());
            req += len + part + "\r\n";
        }
        return serve_harness::raw_exchange(s.port(), req + "0\r\n\r\n", 30);
    };
    std::string r = chunked("{\"truncate\":true,\"inputs\":\"" + std::string(300000, 'a') + "\"}");
    EXPECT_EQ(status_of(r), 429) << r.substr(0, 300);
    EXPECT_NE(r.find("--max-inflight-bytes 1000000"), std::string::npos) << r.substr(0, 300);
    r = chunked("{\"inputs\":\"a fine film\"}");
    EXPECT_EQ(status_of(r), 200) << r.substr(0, 300);
    // The budget is back once the refused request is done: a declared body
    // of 150 kB (750 kB reserved) fits.
    Client c;
    Response x = c.post(s.url("/embed"), "{\"truncate\":true,\"inputs\":\"" + std::string(150000, 'a') + "\"}");
    EXPECT_EQ(x.status, 200) << x.body.substr(0, 300);
    EXPECT_EQ(s.stop(), 0);
}

}  // namespace
