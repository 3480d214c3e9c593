// test_pull.cc: `encore pull` against a fake Hugging Face Hub that
// libmicrohttpd serves on 127.0.0.1 (an ephemeral port) from a fixture model
// directory. Nothing here talks to the real Hub: every run passes --endpoint,
// and HF_ENDPOINT points at the fake too.
//
// The fake speaks the Hub's protocol as huggingface_hub uses it:
//   GET  /api/models/{repo}/revision/{rev}  -> {"sha": ..., "siblings": [{"rfilename": ...}]}
//   HEAD|GET /{repo}/resolve/{commit}/{file} -> a small file: 200 with ETag (its git blob
//        sha1); an LFS file: 302 to /cdn/{sha256} with X-Linked-Etag and X-Linked-Size
//   GET  /cdn/{sha256}                       -> the LFS bytes, honouring Range
// and can fail on purpose: 500s, a body cut off halfway, corrupted bytes.
#include <arpa/inet.h>
#include <fcntl.h>
#include <gtest/gtest.h>
#include <microhttpd.h>
#include <netinet/in.h>
#include <openssl/evp.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <map>
#include <mutex>
#include <set>
#include <sstream>
#include <string>
#include <vector>

#include "cli_run.h"
#include "fixtures.h"

namespace fs = std::filesystem;

namespace {

std::string read_file(const std::string &path) {
    std::ifstream f(path, std::ios::binary);
    std::stringstream ss;
    ss << f.rdbuf();
    return ss.str();
}

std::string hex_digest(const EVP_MD *md, const std::string &data) {
    unsigned char out[EVP_MAX_MD_SIZE];
    unsigned int len = 0;
    EVP_Digest(data.data(), data.size(), out, &len, md, nullptr);
    std::string hex;
    char b[3];
    for (unsigned int i = 0; i < len; i++) {
        snprintf(b, sizeof b, "%02x", out[i]);
        hex += b;
    }
    return hex;
}

std::string sha256(const std::string &data) { return hex_digest(EVP_sha256(), data); }

// What git (and so the Hub's ETag of a small file) calls a blob's id.
std::string git_blob_sha1(const std::string &data) {
    std::string blob = "blob " + std::to_string(data.size());
    blob.push_back('\0');
    return hex_digest(EVP_sha1(), blob + data);
}

struct Request {
    std::string method, url, range, authorization;
};

class FakeHub {
public:
    std::string repo;
    std::string commit = "0d4c2f6e8a1b3c5d7e9f0a2b4c6d8e0f1a3b5c7d";
    std::vector<std::string> listed;               // siblings in the API answer
    std::map<std::string, std::string> files;      // filename -> bytes served
    std::set<std::string> lfs = {"model.safetensors"};
    int unknown_repo_status = 404;
    // Another repository on the same endpoint: requests for it are answered
    // by that hub (its LFS redirects point at its own daemon).
    class FakeHub *next = nullptr;
    // Faults, each used up by the body GETs (or API calls) it hits.
    int api_500s = 0;
    std::map<std::string, int> body_500s;          // filename -> 500s before success
    std::map<std::string, int> body_truncations;   // filename -> bodies cut off halfway
    std::map<std::string, std::string> corrupt;    // filename -> bytes served instead

    FakeHub(const std::string &fixture, const std::string &repo_id) : repo(repo_id) {
        const std::string dir = fixtures::model_dir(fixture);
        for (const auto &e : fs::recursive_directory_iterator(dir)) {
            if (!e.is_regular_file()) continue;
            std::string rel = fs::relative(e.path(), dir).string();
            files[rel] = read_file(e.path().string());
            listed.push_back(rel);
        }
        // Files encore does not read: never to be requested.
        for (const char *extra : {".gitattributes", "README.md", "pytorch_model.bin", "onnx/model.onnx"}) {
            listed.push_back(extra);
            files[extra] = "not for encore";
        }
        sockaddr_in addr{};
        addr.sin_family = AF_INET;
        addr.sin_port = 0;
        addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
        daemon_ = MHD_start_daemon(MHD_USE_INTERNAL_POLLING_THREAD, 0, nullptr, nullptr, &FakeHub::handle, this,
                                   MHD_OPTION_SOCK_ADDR, &addr, MHD_OPTION_END);
        if (daemon_) port_ = MHD_get_daemon_info(daemon_, MHD_DAEMON_INFO_BIND_PORT)->port;
    }
    ~FakeHub() {
        if (daemon_) MHD_stop_daemon(daemon_);
    }
    bool running() const { return daemon_ && port_; }
    std::string endpoint() const { return "http://127.0.0.1:" + std::to_string(port_); }
    std::string etag(const std::string &file) const {
        return lfs.count(file) ? sha256(files.at(file)) : git_blob_sha1(files.at(file));
    }

    std::vector<Request> requests() {
        std::lock_guard<std::mutex> lock(mu_);
        return log_;
    }
    void clear_log() {
        std::lock_guard<std::mutex> lock(mu_);
        log_.clear();
    }
    // Requests that carried file contents: GETs of resolve or cdn URLs.
    int body_requests() {
        int n = 0;
        for (const auto &r : requests())
            if (r.method == "GET" && r.url.rfind("/api/", 0) != 0) n++;
        return n;
    }

private:
    MHD_Daemon *daemon_ = nullptr;
    uint16_t port_ = 0;
    std::mutex mu_;
    std::vector<Request> log_;

    struct Cut {
        std::string data;
        size_t stop;
    };
    static ssize_t read_cut(void *cls, uint64_t pos, char *buf, size_t max) {
        auto *cut = static_cast<Cut *>(cls);
        if (pos >= cut->stop) return MHD_CONTENT_READER_END_WITH_ERROR; // drop the connection
        size_t n = std::min(max, cut->stop - (size_t)pos);
        memcpy(buf, cut->data.data() + pos, n);
        return (ssize_t)n;
    }
    static void free_cut(void *cls) { delete static_cast<Cut *>(cls); }

    static MHD_Result send(MHD_Connection *conn, unsigned status, const std::string &body,
                           const std::vector<std::pair<std::string, std::string>> &headers = {}) {
        MHD_Response *r = MHD_create_response_from_buffer(body.size(), const_cast<char *>(body.data()),
                                                          MHD_RESPMEM_MUST_COPY);
        for (const auto &h : headers) MHD_add_response_header(r, h.first.c_str(), h.second.c_str());
        MHD_Result ret = MHD_queue_response(conn, status, r);
        MHD_destroy_response(r);
        return ret;
    }

    static bool take(std::map<std::string, int> &faults, const std::string &file) {
        auto it = faults.find(file);
        if (it == faults.end() || it->second == 0) return false;
        it->second--;
        return true;
    }

    // The bytes of file, from the Range header's start, maybe faulty.
    MHD_Result send_body(MHD_Connection *conn, const std::string &method, const std::string &file,
                         const std::string &range, std::vector<std::pair<std::string, std::string>> headers) {
        std::string data = files.at(file);
        if (method == "GET") {
            std::lock_guard<std::mutex> lock(mu_);
            if (take(body_500s, file)) return send(conn, 500, "busy");
            if (corrupt.count(file)) data = corrupt.at(file);
        }
        unsigned status = 200;
        size_t start = 0;
        if (range.rfind("bytes=", 0) == 0) {
            start = std::stoull(range.substr(6));
            if (start >= data.size()) return send(conn, 416, "");
            headers.push_back({"Content-Range", "bytes " + std::to_string(start) + "-" +
                                                    std::to_string(data.size() - 1) + "/" +
                                                    std::to_string(data.size())});
            status = 206;
        }
        std::string body = data.substr(start);
        bool cut;
        {
            std::lock_guard<std::mutex> lock(mu_);
            cut = method == "GET" && take(body_truncations, file);
        }
        if (!cut) return send(conn, status, body, headers);
        auto *c = new Cut{body, body.size() / 2};
        MHD_Response *r = MHD_create_response_from_callback(body.size(), 4096, &FakeHub::read_cut, c, &FakeHub::free_cut);
        for (const auto &h : headers) MHD_add_response_header(r, h.first.c_str(), h.second.c_str());
        MHD_Result ret = MHD_queue_response(conn, status, r);
        MHD_destroy_response(r);
        return ret;
    }

    std::string api_json() const {
        std::string json = "{\"id\": \"" + repo + "\", \"sha\": \"" + commit + "\", \"siblings\": [";
        for (size_t i = 0; i < listed.size(); i++) json += (i ? ", {\"rfilename\": \"" : "{\"rfilename\": \"") + listed[i] + "\"}";
        return json + "]}";
    }

    MHD_Result route(MHD_Connection *conn, const std::string &method, const std::string &url, const std::string &range) {
        if (next && url.rfind("/api/models/" + repo + "/", 0) != 0 && url.rfind("/" + repo + "/resolve/", 0) != 0 &&
            url.rfind("/cdn/", 0) != 0)
            return next->route(conn, method, url, range);
        const std::string api = "/api/models/" + repo + "/revision/";
        const std::string resolve = "/" + repo + "/resolve/" + commit + "/";
        if (url.rfind(api, 0) == 0) {
            {
                std::lock_guard<std::mutex> lock(mu_);
                if (api_500s > 0) {
                    api_500s--;
                    return send(conn, 500, "{\"error\": \"busy\"}");
                }
            }
            if (url.substr(api.size()) != "main" && url.substr(api.size()) != commit)
                return send(conn, 404, "{\"error\": \"Invalid rev id\"}", {{"X-Error-Code", "RevisionNotFound"}});
            return send(conn, 200, api_json(), {{"Content-Type", "application/json"}});
        }
        if (url.rfind("/api/models/", 0) == 0 || (url.find("/resolve/") != std::string::npos && url.rfind(resolve, 0) != 0))
            return send(conn, unknown_repo_status, "{\"error\": \"Repository not found\"}",
                        {{"X-Error-Code", "RepoNotFound"}, {"X-Error-Message", "Repository not found"}});
        if (url.rfind(resolve, 0) == 0) {
            const std::string file = url.substr(resolve.size());
            if (!files.count(file))
                return send(conn, 404, "Entry not found", {{"X-Error-Code", "EntryNotFound"}, {"X-Repo-Commit", commit}});
            const std::string tag = etag(file);
            if (lfs.count(file))
                return send(conn, 302, "", {{"Location", endpoint() + "/cdn/" + tag}, {"X-Repo-Commit", commit},
                                            {"X-Linked-Etag", "\"" + tag + "\""},
                                            {"X-Linked-Size", std::to_string(files.at(file).size())},
                                            {"ETag", "\"" + git_blob_sha1("pointer") + "\""}});
            return send_body(conn, method, file, range, {{"ETag", "\"" + tag + "\""}, {"X-Repo-Commit", commit}});
        }
        if (url.rfind("/cdn/", 0) == 0) {
            for (const auto &f : lfs)
                if (files.count(f) && url == "/cdn/" + etag(f)) return send_body(conn, method, f, range, {});
        }
        return send(conn, 404, "no such page");
    }

    static MHD_Result handle(void *cls, MHD_Connection *conn, const char *url, const char *method, const char *,
                             const char *, size_t *, void **) {
        auto *hub = static_cast<FakeHub *>(cls);
        const char *range = MHD_lookup_connection_value(conn, MHD_HEADER_KIND, "Range");
        const char *auth = MHD_lookup_connection_value(conn, MHD_HEADER_KIND, "Authorization");
        {
            std::lock_guard<std::mutex> lock(hub->mu_);
            hub->log_.push_back({method, url, range ? range : "", auth ? auth : ""});
        }
        return hub->route(conn, method, url, range ? range : "");
    }
};

struct Result {
    int status;
    std::string out, err;
};

// Run the encore binary; stdout through a pipe, stderr through a file. The
// child never sees a real token, proxy or cache, and retries fast.
Result run(const std::vector<std::string> &args, const std::string &err_path,
           const std::map<std::string, std::string> &env = {}) {
    cli::Options o;
    o.stderr_path = err_path;
    o.unset = {"HF_TOKEN", "HF_HUB_OFFLINE", "HF_HUB_CACHE", "http_proxy", "https_proxy", "HTTP_PROXY",
               "HTTPS_PROXY", "ALL_PROXY", "all_proxy"};
    o.env = {{"NO_PROXY", "*"}, {"ENCORE_PULL_BACKOFF_MS", "1"}};
    for (const auto &e : env) o.env[e.first] = e.second;
    cli::Result r = cli::run(args, o);
    return {r.status, r.out, read_file(err_path)};
}

std::string trim(std::string s) {
    while (!s.empty() && (s.back() == '\n' || s.back() == '\r')) s.pop_back();
    return s;
}

class Pull : public ::testing::Test {
protected:
    std::string tmp, cache;

    void SetUp() override {
        std::string tmpl = (fs::temp_directory_path() / "encore-pull-XXXXXX").string();
        ASSERT_NE(mkdtemp(tmpl.data()), nullptr);
        tmp = tmpl;
        cache = tmp + "/hub";
    }
    void TearDown() override { fs::remove_all(tmp); }

    Result pull(FakeHub &hub, const std::string &repo, std::map<std::string, std::string> env = {},
                std::vector<std::string> extra = {}) {
        env.emplace("HF_ENDPOINT", hub.endpoint());  // even a default endpoint is the fake
        env.emplace("HF_HOME", tmp + "/hf-home");
        std::vector<std::string> args = {"pull", repo, "--endpoint", hub.endpoint(), "--cache", cache};
        args.insert(args.end(), extra.begin(), extra.end());
        return run(args, tmp + "/stderr.txt", env);
    }
    std::string repo_dir(const std::string &folder) { return fs::canonical(cache).string() + "/" + folder; }
};

// The snapshot holds every file encore reads, byte for byte, each a relative
// link into blobs/ named by its etag.
void expect_snapshot_matches(const FakeHub &hub, const std::string &snapshot) {
    for (const auto &f : hub.files) {
        const std::string path = snapshot + "/" + f.first;
        if (f.second == "not for encore") {
            EXPECT_FALSE(fs::exists(fs::symlink_status(path))) << f.first << " should not be pulled";
            continue;
        }
        ASSERT_TRUE(fs::is_symlink(path)) << f.first;
        const std::string depth = f.first.find('/') == std::string::npos ? "../../" : "../../../";
        EXPECT_EQ(fs::read_symlink(path).string(), depth + "blobs/" + hub.etag(f.first)) << f.first;
        EXPECT_TRUE(read_file(path) == f.second) << f.first << " differs from the fixture";
    }
}

TEST_F(Pull, DownloadsASnapshotThatClassifies) {
    FakeHub hub("tiny-bert-sst", "test-org/tiny-bert-sst");
    ASSERT_TRUE(hub.running());
    Result r = pull(hub, "test-org/tiny-bert-sst");
    ASSERT_EQ(r.status, 0) << r.err;
    const std::string repo = repo_dir("models--test-org--tiny-bert-sst");
    const std::string snapshot = repo + "/snapshots/" + hub.commit;
    EXPECT_EQ(r.out, snapshot + "\n") << "stdout is the snapshot path alone";
    expect_snapshot_matches(hub, snapshot);
    EXPECT_EQ(read_file(repo + "/refs/main"), hub.commit);
    for (const auto &e : fs::directory_iterator(repo + "/blobs"))
        EXPECT_EQ(e.path().extension(), "") << "left behind: " << e.path();
    for (const auto &req : hub.requests())
        for (const char *skip : {"README.md", "pytorch_model.bin", "onnx", ".gitattributes"})
            EXPECT_EQ(req.url.find(skip), std::string::npos) << "fetched " << req.url;

    Result want = run({"classify", "--quiet", "--model", fixtures::model_dir("tiny-bert-sst"), "hello"}, tmp + "/e1");
    Result got = run({"classify", "--quiet", "--model", trim(r.out), "hello"}, tmp + "/e2");
    ASSERT_EQ(got.status, 0) << got.err;
    EXPECT_EQ(got.out, want.out);
}

// The README's NER and QA models, published under their Hub names by the
// fake hub (tiny fixtures of the same architectures): pulled, they answer
// as the fixture directories do.
TEST_F(Pull, NerAndQuestionAnsweringModelsAnswerOncePulled) {
    const struct {
        const char *fixture, *repo;
        std::vector<std::string> args;
    } cases[] = {
        {"tiny-bert-ner", "dslim/bert-base-NER",
         {"ner", "--quiet", "--aggregation-strategy", "simple", "My name is Wolfgang and I live in Berlin"}},
        {"tiny-distilbert-qa", "distilbert/distilbert-base-cased-distilled-squad",
         {"qa", "--quiet", "--context", "My name is Wolfgang and I live in Berlin", "Where do I live?"}},
        {"tiny-roberta-qa", "deepset/roberta-base-squad2",
         {"qa", "--quiet", "--context", "My name is Wolfgang and I live in Berlin", "Where do I live?"}},
    };
    for (const auto &c : cases) {
        FakeHub hub(c.fixture, c.repo);
        ASSERT_TRUE(hub.running());
        Result r = pull(hub, c.repo);
        ASSERT_EQ(r.status, 0) << c.repo << ": " << r.err;
        std::vector<std::string> want_args = c.args, got_args = c.args;
        want_args.insert(want_args.begin() + 1, {"--model", fixtures::model_dir(c.fixture)});
        got_args.insert(got_args.begin() + 1, {"--model", trim(r.out)});
        Result want = run(want_args, tmp + "/e1");
        Result got = run(got_args, tmp + "/e2");
        ASSERT_EQ(want.status, 0) << want.err;
        ASSERT_EQ(got.status, 0) << c.repo << ": " << got.err;
        EXPECT_EQ(got.out, want.out) << c.repo;
        EXPECT_NE(got.out.find("\"start\": "), std::string::npos) << got.out;
    }
}

// all-mpnet-base-v2's layout (an MPNet tokenizer.json, vocab.txt, the
// sentence-transformers modules), published under its Hub name by the fake
// hub as the tiny MPNet embedder: pulled, it embeds as the fixture does.
TEST_F(Pull, MpnetEmbedderEmbedsOncePulled) {
    FakeHub hub("tiny-mpnet-embed", "sentence-transformers/all-mpnet-base-v2");
    ASSERT_TRUE(hub.running());
    Result r = pull(hub, "sentence-transformers/all-mpnet-base-v2");
    ASSERT_EQ(r.status, 0) << r.err;
    const std::string text = "A man is eating food.";
    Result want = run({"embed", "--quiet", "--model", fixtures::model_dir("tiny-mpnet-embed"), text}, tmp + "/e1");
    Result got = run({"embed", "--quiet", "--model", trim(r.out), text}, tmp + "/e2");
    ASSERT_EQ(want.status, 0) << want.err;
    ASSERT_EQ(got.status, 0) << got.err;
    EXPECT_EQ(got.out, want.out);
    EXPECT_NE(got.out.find('['), std::string::npos) << got.out;
}

// A PEFT adapter comes with its base model, from the same endpoint into the
// same cache, where the library finds the base when it loads the adapter.
TEST_F(Pull, AdapterComesWithItsBaseModel) {
    FakeHub base("tiny-bert-embed", "test-org/tiny-bert-embed");
    FakeHub adapter("lora-bert-cls", "test-org/tiny-lora");
    ASSERT_TRUE(base.running() && adapter.running());
    adapter.next = &base;
    std::string config = adapter.files.at("adapter_config.json");
    const size_t at = config.find("\"../tiny-bert-embed\"");
    ASSERT_NE(at, std::string::npos);
    config.replace(at, strlen("\"../tiny-bert-embed\""), "\"test-org/tiny-bert-embed\"");
    adapter.files["adapter_config.json"] = config;
    adapter.lfs.insert("adapter_model.safetensors");

    Result r = pull(adapter, "test-org/tiny-lora");
    ASSERT_EQ(r.status, 0) << r.err;
    const std::string snapshot = repo_dir("models--test-org--tiny-lora") + "/snapshots/" + adapter.commit;
    EXPECT_EQ(r.out, snapshot + "\n") << "stdout is the adapter's snapshot alone";
    expect_snapshot_matches(adapter, snapshot);
    expect_snapshot_matches(base, repo_dir("models--test-org--tiny-bert-embed") + "/snapshots/" + base.commit);
    EXPECT_NE(r.err.find("pulling its base model test-org/tiny-bert-embed"), std::string::npos) << r.err;

    // The adapter from the cache classifies as the committed one does.
    Result want =
        run({"classify", "--quiet", "--model", fixtures::model_dir("lora-bert-cls"), "a gripping film"}, tmp + "/e1");
    Result got = run({"classify", "--quiet", "--model", trim(r.out), "a gripping film"}, tmp + "/e2",
                     {{"HF_HUB_CACHE", cache}});
    ASSERT_EQ(want.status, 0) << want.err;
    ASSERT_EQ(got.status, 0) << got.err;
    EXPECT_EQ(got.out, want.out);

    // An adapter whose base is not on the Hub fails, naming it.
    adapter.files["adapter_config.json"].replace(config.find("test-org/tiny-bert-embed"),
                                                 strlen("test-org/tiny-bert-embed"), "test-org/tiny-bert-gone");
    adapter.commit = "1d4c2f6e8a1b3c5d7e9f0a2b4c6d8e0f1a3b5c7d";
    Result gone = pull(adapter, "test-org/tiny-lora");
    EXPECT_NE(gone.status, 0);
    EXPECT_NE(gone.err.find("tiny-bert-gone"), std::string::npos) << gone.err;
}

TEST_F(Pull, SentenceTransformersFilesInASubfolder) {
    FakeHub hub("tiny-bert-embed", "test-org/tiny-bert-embed");
    ASSERT_TRUE(hub.running());
    Result r = pull(hub, "test-org/tiny-bert-embed");
    ASSERT_EQ(r.status, 0) << r.err;
    expect_snapshot_matches(hub, trim(r.out));
    EXPECT_TRUE(fs::is_symlink(trim(r.out) + "/1_Pooling/config.json"));
    Result want = run({"embed", "--quiet", "--model", fixtures::model_dir("tiny-bert-embed"), "hello"}, tmp + "/e1");
    Result got = run({"embed", "--quiet", "--model", trim(r.out), "hello"}, tmp + "/e2");
    ASSERT_EQ(got.status, 0) << got.err;
    EXPECT_EQ(got.out, want.out);
}

TEST_F(Pull, SecondPullDownloadsNothing) {
    FakeHub hub("tiny-bert-sst", "test-org/tiny-bert-sst");
    ASSERT_TRUE(hub.running());
    Result first = pull(hub, "test-org/tiny-bert-sst");
    ASSERT_EQ(first.status, 0) << first.err;
    EXPECT_GT(hub.body_requests(), 0);
    hub.clear_log();
    Result second = pull(hub, "test-org/tiny-bert-sst");
    ASSERT_EQ(second.status, 0) << second.err;
    EXPECT_EQ(second.out, first.out);
    EXPECT_EQ(hub.body_requests(), 0);
    EXPECT_EQ(hub.requests().size(), 1u) << "only the model info";
}

TEST_F(Pull, BlobAlreadyInTheCacheIsLinkedNotDownloaded) {
    FakeHub hub("tiny-bert-sst", "test-org/tiny-bert-sst");
    ASSERT_TRUE(hub.running());
    ASSERT_EQ(pull(hub, "test-org/tiny-bert-sst").status, 0);
    hub.commit = "1111111111111111111111111111111111111111"; // a new commit, same files
    hub.clear_log();
    Result r = pull(hub, "test-org/tiny-bert-sst");
    ASSERT_EQ(r.status, 0) << r.err;
    EXPECT_EQ(hub.body_requests(), 0);
    expect_snapshot_matches(hub, trim(r.out));
    EXPECT_EQ(read_file(repo_dir("models--test-org--tiny-bert-sst") + "/refs/main"), hub.commit);
}

TEST_F(Pull, MissingModelIsAClearError) {
    FakeHub hub("tiny-bert-sst", "test-org/tiny-bert-sst");
    ASSERT_TRUE(hub.running());
    Result r = pull(hub, "test-org/no-such-model");
    EXPECT_EQ(r.status, 1);
    EXPECT_EQ(r.out, "");
    EXPECT_NE(r.err.find("test-org/no-such-model"), std::string::npos) << r.err;
    EXPECT_NE(r.err.find("not found"), std::string::npos) << r.err;
    EXPECT_NE(r.err.find("404"), std::string::npos) << r.err;

    hub.unknown_repo_status = 401; // what the Hub answers without a token
    r = pull(hub, "test-org/no-such-model");
    EXPECT_EQ(r.status, 1);
    EXPECT_NE(r.err.find("test-org/no-such-model"), std::string::npos) << r.err;
    EXPECT_NE(r.err.find("HF_TOKEN"), std::string::npos) << r.err;

    r = pull(hub, "test-org/tiny-bert-sst", {}, {"--revision", "no-such-branch"});
    EXPECT_EQ(r.status, 1);
    EXPECT_NE(r.err.find("no-such-branch"), std::string::npos) << r.err;
}

TEST_F(Pull, MissingFileNamesTheFile) {
    FakeHub hub("tiny-bert-sst", "test-org/tiny-bert-sst");
    ASSERT_TRUE(hub.running());
    hub.files.erase("tokenizer_config.json"); // listed, but the resolve URL 404s
    Result r = pull(hub, "test-org/tiny-bert-sst");
    EXPECT_EQ(r.status, 1);
    EXPECT_NE(r.err.find("tokenizer_config.json"), std::string::npos) << r.err;
    EXPECT_FALSE(fs::exists(repo_dir("models--test-org--tiny-bert-sst") + "/refs/main"));
}

TEST_F(Pull, WithoutSafetensorsFailsBeforeDownloading) {
    FakeHub hub("tiny-bert-sst", "test-org/tiny-bert-sst");
    ASSERT_TRUE(hub.running());
    hub.listed.erase(std::find(hub.listed.begin(), hub.listed.end(), "model.safetensors"));
    Result r = pull(hub, "test-org/tiny-bert-sst");
    EXPECT_EQ(r.status, 1);
    EXPECT_NE(r.err.find("model.safetensors"), std::string::npos) << r.err;
    EXPECT_NE(r.err.find("pytorch_model.bin"), std::string::npos) << r.err;
    EXPECT_EQ(hub.body_requests(), 0);
}

TEST_F(Pull, TruncatedTransferIsResumed) {
    FakeHub hub("tiny-bert-sst", "test-org/tiny-bert-sst");
    ASSERT_TRUE(hub.running());
    hub.body_truncations["model.safetensors"] = 1;
    hub.body_truncations["vocab.txt"] = 2;
    Result r = pull(hub, "test-org/tiny-bert-sst");
    ASSERT_EQ(r.status, 0) << r.err;
    expect_snapshot_matches(hub, trim(r.out));
    int resumed = 0;
    for (const auto &req : hub.requests())
        if (req.url == "/cdn/" + hub.etag("model.safetensors") && req.range.rfind("bytes=", 0) == 0 &&
            std::stoll(req.range.substr(6)) > 0)
            resumed++;
    EXPECT_EQ(resumed, 1) << "one Range request after the cut";
}

TEST_F(Pull, PartialFileFromAnEarlierRunIsResumed) {
    FakeHub hub("tiny-bert-sst", "test-org/tiny-bert-sst");
    ASSERT_TRUE(hub.running());
    const std::string blobs = cache + "/models--test-org--tiny-bert-sst/blobs";
    fs::create_directories(blobs);
    const std::string tag = hub.etag("model.safetensors");
    std::ofstream(blobs + "/" + tag + ".incomplete", std::ios::binary) << hub.files["model.safetensors"].substr(0, 1000);
    Result r = pull(hub, "test-org/tiny-bert-sst");
    ASSERT_EQ(r.status, 0) << r.err;
    expect_snapshot_matches(hub, trim(r.out));
    bool ranged = false;
    for (const auto &req : hub.requests()) ranged |= req.range == "bytes=1000-";
    EXPECT_TRUE(ranged);
}

TEST_F(Pull, CorruptedLfsFileIsRejected) {
    FakeHub hub("tiny-bert-sst", "test-org/tiny-bert-sst");
    ASSERT_TRUE(hub.running());
    std::string bad = hub.files["model.safetensors"];
    bad[bad.size() / 2] ^= 0x5a;
    hub.corrupt["model.safetensors"] = bad;
    Result r = pull(hub, "test-org/tiny-bert-sst");
    EXPECT_EQ(r.status, 1);
    EXPECT_EQ(r.out, "");
    EXPECT_NE(r.err.find("checksum"), std::string::npos) << r.err;
    EXPECT_NE(r.err.find("model.safetensors"), std::string::npos) << r.err;
    const std::string repo = repo_dir("models--test-org--tiny-bert-sst");
    const std::string tag = hub.etag("model.safetensors");
    EXPECT_FALSE(fs::exists(repo + "/blobs/" + tag));
    EXPECT_FALSE(fs::exists(repo + "/blobs/" + tag + ".incomplete"));
    EXPECT_FALSE(fs::exists(fs::symlink_status(repo + "/snapshots/" + hub.commit + "/model.safetensors")));
    EXPECT_FALSE(fs::exists(repo + "/refs/main"));
}

TEST_F(Pull, ServerErrorsAreRetried) {
    FakeHub hub("tiny-bert-sst", "test-org/tiny-bert-sst");
    ASSERT_TRUE(hub.running());
    hub.api_500s = 1;
    hub.body_500s["config.json"] = 1;
    hub.body_500s["model.safetensors"] = 2;
    Result r = pull(hub, "test-org/tiny-bert-sst");
    ASSERT_EQ(r.status, 0) << r.err;
    expect_snapshot_matches(hub, trim(r.out));
    int api = 0;
    for (const auto &req : hub.requests()) api += req.url.rfind("/api/", 0) == 0;
    EXPECT_EQ(api, 2);
    EXPECT_NE(r.err.find("retrying"), std::string::npos) << r.err;
}

TEST_F(Pull, PersistentServerErrorGivesUp) {
    FakeHub hub("tiny-bert-sst", "test-org/tiny-bert-sst");
    ASSERT_TRUE(hub.running());
    hub.body_500s["config.json"] = 100;
    Result r = pull(hub, "test-org/tiny-bert-sst");
    EXPECT_EQ(r.status, 1);
    EXPECT_NE(r.err.find("config.json"), std::string::npos) << r.err;
    EXPECT_NE(r.err.find("500"), std::string::npos) << r.err;
}

TEST_F(Pull, TokenIsSentAsBearer) {
    FakeHub hub("tiny-bert-sst", "test-org/tiny-bert-sst");
    ASSERT_TRUE(hub.running());
    Result r = pull(hub, "test-org/tiny-bert-sst", {{"HF_TOKEN", "hf_test_token"}});
    ASSERT_EQ(r.status, 0) << r.err;
    auto reqs = hub.requests();
    ASSERT_FALSE(reqs.empty());
    EXPECT_EQ(reqs[0].authorization, "Bearer hf_test_token");
    EXPECT_EQ(r.err.find("hf_test_token"), std::string::npos) << "the token is never printed";
}

TEST_F(Pull, OfflineUsesTheCachedSnapshot) {
    FakeHub hub("tiny-bert-sst", "test-org/tiny-bert-sst");
    ASSERT_TRUE(hub.running());
    Result online = pull(hub, "test-org/tiny-bert-sst");
    ASSERT_EQ(online.status, 0) << online.err;
    hub.clear_log();
    Result offline = pull(hub, "test-org/tiny-bert-sst", {{"HF_HUB_OFFLINE", "1"}});
    EXPECT_EQ(offline.status, 0) << offline.err;
    EXPECT_EQ(offline.out, online.out);
    EXPECT_TRUE(hub.requests().empty());

    // An endpoint that refuses connections: the cache answers, with a warning.
    Result unreachable = run({"pull", "test-org/tiny-bert-sst", "--endpoint", "http://127.0.0.1:1", "--cache", cache},
                             tmp + "/stderr.txt", {{"HF_ENDPOINT", "http://127.0.0.1:1"}});
    EXPECT_EQ(unreachable.status, 0) << unreachable.err;
    EXPECT_EQ(unreachable.out, online.out);
    EXPECT_NE(unreachable.err.find("cached"), std::string::npos) << unreachable.err;

    Result missing = pull(hub, "test-org/other", {{"HF_HUB_OFFLINE", "1"}});
    EXPECT_EQ(missing.status, 1);
    EXPECT_NE(missing.err.find("test-org/other"), std::string::npos) << missing.err;
}

TEST_F(Pull, BadArgumentsAreUsageErrors) {
    FakeHub hub("tiny-bert-sst", "test-org/tiny-bert-sst");
    ASSERT_TRUE(hub.running());
    for (const char *bad : {"../etc", "org/name/extra", "org--name", "-dash/name", "org/na me"}) {
        Result r = pull(hub, bad);
        EXPECT_EQ(r.status, 2) << bad;
    }
    EXPECT_EQ(pull(hub, "test-org/tiny-bert-sst", {}, {"--revision", "../main"}).status, 2);
    EXPECT_EQ(run({"pull"}, tmp + "/stderr.txt").status, 2);
    EXPECT_TRUE(hub.requests().empty());
}

} // namespace
