// test_score_hostile.cc: `encore score` against inputs and checkpoints it
// must not trust (issue 14, finding 4): a line of NUL bytes, an input that
// shrinks or changes while it is read, checkpoints damaged or tampered with
// (even with a valid checksum), and records of many megabytes on several
// tokenizer threads. A resume either writes what an uninterrupted run writes,
// or refuses with exit status 2 and leaves the output as it was.
#include <gtest/gtest.h>

#include <fcntl.h>
#include <sys/resource.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <cstdio>
#include <functional>
#include <string>
#include <thread>
#include <vector>

#include "fixtures.h"
#include "score_helpers.h"
#include "sha256.h"

using fixtures::get;
using score_test::JsonLines;
using score_test::Result;
using score_test::Scratch;

namespace {

std::vector<std::string> base_args(const std::string &in, const std::string &out) {
    return {"score", "--model", fixtures::model_dir("tiny-bert-sst"), "--input", in, "--output", out,
            "--threads", "1", "--tokenizer-threads", "1", "--quiet"};
}

std::vector<std::string> with(std::vector<std::string> a, const std::vector<std::string> &more) {
    a.insert(a.end(), more.begin(), more.end());
    return a;
}

std::string sha256_hex(const std::string &data) {
    tools_sha256 h;
    tools_sha256_init(&h);
    tools_sha256_update(&h, data.data(), data.size());
    uint8_t d[32];
    tools_sha256_digest(&h, d);
    char hex[65];
    tools_sha256_hex(d, hex);
    return hex;
}

// ---- a NUL-only line --------------------------------------------------------

// blank() took strchr(" \t...", '\0') for white space (it finds the string's
// terminator), so a line of NUL bytes was dropped as blank: four lines in,
// fewer records out, and nothing said. Now it is a record of its own, an
// error record (a NUL byte), and the exit status says so.
TEST(ScoreHostile, NulOnlyJsonlLineIsAnErrorRecordNotDropped) {
    Scratch s;
    const std::string in = std::string("{\"text\": \"a fine film\"}\n") + std::string(4, '\0') + "\n" +
                           "{\"text\": \"a dull film\"}\n" + std::string(1, '\0') + "\n";
    score_test::write_file(s.path("in.jsonl"), in);
    Result r = score_test::run(with(base_args(s.path("in.jsonl"), s.path("out.jsonl")), {"--input-format", "jsonl"}));
    EXPECT_EQ(r.status, 1) << r.err;
    JsonLines got(score_test::read_file(s.path("out.jsonl")));
    ASSERT_EQ(got.size(), 4u) << score_test::read_file(s.path("out.jsonl"));
    for (size_t i : {1u, 3u}) {
        ASSERT_TRUE(got[i]);
        EXPECT_EQ(score_test::number(got[i], "line"), (double)i + 1);
        EXPECT_EQ(score_test::string(got[i], "problem"), "malformed");
        EXPECT_NE(score_test::string(got[i], "error").find("NUL"), std::string::npos);
    }
    EXPECT_TRUE(get(got[0], "label") && get(got[2], "label"));
}

// ---- an input that changes while it is read --------------------------------

// Records long enough that the file is large, short enough to score fast.
std::string long_records(int n, std::vector<size_t> *line_starts) {
    std::string out, text;
    for (int k = 0; k < 400; k++) text += k % 7 ? "word " : "film ";
    for (int i = 0; i < n; i++) {
        if (line_starts) line_starts->push_back(out.size());
        out += "{\"id\": " + std::to_string(i) + ", \"text\": \"" + text + "\"}\n";
    }
    return out;
}

struct Checkpoint {
    long long records = -1, input_offset = -1;
    bool complete = false;
};

Checkpoint read_checkpoint(const std::string &path) {
    Checkpoint c;
    cJSON *root = cJSON_Parse(score_test::read_file(path).c_str());
    if (!root) return c;
    const cJSON *r = get(root, "records"), *o = get(root, "input_offset");
    if (cJSON_IsString(r)) c.records = std::atoll(r->valuestring);
    if (cJSON_IsString(o)) c.input_offset = std::atoll(o->valuestring);
    c.complete = cJSON_IsTrue(get(root, "complete"));
    cJSON_Delete(root);
    return c;
}

// Start a run on a large input; once it has checkpointed some records (and
// the reader, at most a ring and a read buffer ahead of the writer, is far
// from the end), `change` the file; the run must fail with exit status 2 and
// `message`, and leave no complete checkpoint. Returns the output.
std::string change_while_read(const std::function<void(const std::string &, size_t)> &change,
                              const std::string &message) {
    Scratch s;
    std::vector<size_t> starts;
    const std::string input = long_records(12000, &starts);  // ~25 MB
    const std::string in = s.path("in.jsonl"), out = s.path("out.jsonl");
    score_test::write_file(in, input);
    auto args = with(base_args(in, out), {"--window", "16", "--checkpoint-every", "0.02"});
    score_test::Proc p = score_test::spawn(args, s.path("stdout"), s.path("stderr"));
    const auto t0 = std::chrono::steady_clock::now();
    Checkpoint c;
    while (std::chrono::steady_clock::now() - t0 < std::chrono::seconds(60)) {
        c = read_checkpoint(out + ".ckpt");
        if (c.records > 0) break;
        std::this_thread::sleep_for(std::chrono::milliseconds(2));
    }
    EXPECT_GT(c.records, 0) << "the run never checkpointed";
    // The reader is at most 48 records (100 KB) and a 1 MiB buffer ahead.
    EXPECT_LT(c.input_offset + (4 << 20), (long long)input.size() / 2) << "the run got too far before the change";
    change(in, starts[starts.size() / 2] + 17);  // half way, in the middle of a record
    const int status = score_test::wait_status(p);
    const std::string err = score_test::read_file(s.path("stderr"));
    EXPECT_EQ(status, 2) << err;
    EXPECT_NE(err.find(message), std::string::npos) << err;
    EXPECT_FALSE(read_checkpoint(out + ".ckpt").complete) << "a changed input was checkpointed as complete";
    return score_test::read_file(out);
}

// The file cut short in the middle of a record: the run used to score the
// cut record as a whole one, exit 0 and mark the job complete at an offset
// past the new end of the file.
TEST(ScoreHostile, InputCutShortWhileReadFailsAndIsNotMarkedComplete) {
    const std::string out = change_while_read(
        [](const std::string &path, size_t at) { ASSERT_EQ(::truncate(path.c_str(), (off_t)at), 0); }, "shrank");
    // No record from the cut line or past it was written.
    JsonLines got(out);
    ASSERT_GT(got.size(), 0u);
    ASSERT_TRUE(got[got.size() - 1]);
    EXPECT_LT(score_test::number(got[got.size() - 1], "id"), 6000);
}

// Changed in place, same size, after the reader read it: the records read
// are not what the file holds any more.
TEST(ScoreHostile, InputRewrittenWhileReadFails) {
    change_while_read(
        [](const std::string &path, size_t at) {
            std::this_thread::sleep_for(std::chrono::milliseconds(20));  // a later modification time
            int fd = ::open(path.c_str(), O_WRONLY);
            ASSERT_GE(fd, 0);
            ASSERT_EQ(::pwrite(fd, "X", 1, (off_t)at), 1);
            ::close(fd);
        },
        "changed while it was read");
}

// ---- tampered checkpoints ---------------------------------------------------

// The checkpoint, as JSON, and sealed again after an edit the way encore
// seals it (SHA-256 over every field in a fixed order, score_checkpoint.c),
// so that the edit is caught by what the checkpoint says, not only by its
// checksum.
struct CheckpointFile {
    cJSON *root;
    explicit CheckpointFile(const std::string &path) : root(cJSON_Parse(score_test::read_file(path).c_str())) {
        EXPECT_TRUE(root) << path;
    }
    ~CheckpointFile() { cJSON_Delete(root); }
    std::string str(const char *key, const cJSON *obj = nullptr) const {
        const cJSON *v = get(obj ? obj : root, key);
        return cJSON_IsString(v) ? v->valuestring : cJSON_IsNumber(v) ? std::to_string((long long)v->valuedouble)
               : cJSON_IsBool(v) ? (cJSON_IsTrue(v) ? "1" : "0")
                                 : "";
    }
    void set(const char *key, const std::string &value) {
        cJSON_DeleteItemFromObjectCaseSensitive(root, key);
        cJSON_AddStringToObject(root, key, value.c_str());
    }
    void set_number(const char *key, double value) {
        cJSON_DeleteItemFromObjectCaseSensitive(root, key);
        cJSON_AddNumberToObject(root, key, value);
    }
    void set_bool(const char *key, bool value) {
        cJSON_DeleteItemFromObjectCaseSensitive(root, key);
        cJSON_AddBoolToObject(root, key, value);
    }
    void set_problem(const char *key, const std::string &value) {
        cJSON *p = cJSON_GetObjectItemCaseSensitive(root, "problems");
        cJSON_DeleteItemFromObjectCaseSensitive(p, key);
        cJSON_AddStringToObject(p, key, value.c_str());
    }
    void seal() {
        if (!get(root, "checksum")) return;  // (a checkpoint without one: nothing to seal)
        const cJSON *p = get(root, "problems");
        std::string text = "encore score checkpoint " + str("version") + "\njob=" + str("job") + "\ncomplete=" +
                           str("complete") + "\nexit_status=" + str("exit_status");
        for (const char *k : {"input_offset", "input_line", "output_bytes", "index_bytes", "records", "scored",
                              "truncated", "tokens", "input_sha256", "output_sha256", "index_sha256"})
            text += std::string("\n") + k + "=" + str(k);
        text += "\n";
        for (const char *k : {"invalid_utf8", "malformed", "missing_field", "empty_text", "too_large", "too_long",
                              "failed"})
            text += std::string(k) + "=" + str(k, p) + "\n";
        set("checksum", sha256_hex(text));
    }
    void save(const std::string &path) {
        char *t = cJSON_Print(root);
        score_test::write_file(path, t);
        free(t);
    }
};

const char *kEmptySha256 = "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855";

// An input with a bad record in the middle. A --strict run stops before it,
// leaving a checkpoint of the records before it (deterministically: no kill
// timing); a --resume without --strict must finish the job exactly as one
// uninterrupted run does.
struct StoppedJob {
    Scratch s;
    std::string in, ref, out, ckpt;
    std::vector<std::string> args;  // without --output
    std::string ref_bytes, out_bytes, ckpt_bytes;
    static constexpr int kRecords = 300, kBad = 170;

    explicit StoppedJob(const std::vector<std::string> &extra = {}, const std::string &ext = "jsonl") {
        std::string input;
        for (int i = 0; i < kRecords; i++)
            input += i == kBad ? "{\"id\": " + std::to_string(i) + ", \"text\": broken}\n"
                               : "{\"id\": " + std::to_string(i) + ", \"text\": \"record " + std::to_string(i) +
                                     (i % 3 ? " was a fine film" : " bored me") + "\"}\n";
        in = s.path("in.jsonl");
        ref = s.path("ref." + ext);
        out = s.path("out." + ext);
        ckpt = out + ".ckpt";
        score_test::write_file(in, input);
        args = with({"score", "--model", fixtures::model_dir("tiny-bert-sst"), "--input", in, "--threads", "1",
                     "--tokenizer-threads", "1", "--window", "32", "--quiet"},
                    extra);
        Result r = score_test::run(with(args, {"--output", ref}));
        EXPECT_EQ(r.status, 1) << r.err;
        r = score_test::run(with(args, {"--output", out, "--strict"}));
        EXPECT_EQ(r.status, 1) << r.err;
        ref_bytes = score_test::read_file(ref);
        out_bytes = score_test::read_file(out);
        ckpt_bytes = score_test::read_file(ckpt);
        Checkpoint c = read_checkpoint(ckpt);
        EXPECT_FALSE(c.complete);
        EXPECT_GT(c.records, 0);
        EXPECT_LT(c.records, kRecords);
    }
    // Put the stopped job's files back, let `tamper` change them, resume.
    Result resume(const std::function<void(CheckpointFile &)> &tamper_checkpoint,
                  const std::function<void()> &tamper_files = nullptr) {
        score_test::write_file(out, out_bytes);
        score_test::write_file(ckpt, ckpt_bytes);
        if (tamper_checkpoint) {
            CheckpointFile c(ckpt);
            tamper_checkpoint(c);
            c.save(ckpt);
        }
        if (tamper_files) tamper_files();
        return score_test::run(with(args, {"--output", out, "--resume"}));
    }
};

// Resume with a checkpoint (or files) tampered with: refused, exit 2, a
// message naming the checkpoint or what does not match, and the output left
// as it was before the resume.
void expect_refused(StoppedJob &j, const std::string &what, const std::function<void(CheckpointFile &)> &tamper,
                    const std::function<void()> &tamper_files = nullptr) {
    SCOPED_TRACE(what);
    Result r = j.resume(tamper, tamper_files);
    const std::string after = score_test::read_file(j.out);
    EXPECT_EQ(r.status, 2) << r.err;
    EXPECT_NE(r.err.find("cannot resume"), std::string::npos) << r.err;
    EXPECT_NE(r.err.find("without --resume"), std::string::npos) << r.err;
    EXPECT_TRUE(after != j.ref_bytes) << "the resume went on as if nothing were wrong";
    if (!tamper_files) {
        EXPECT_TRUE(after == j.out_bytes) << "a refused resume changed the output";
    }
}

TEST(ScoreHostile, UntouchedCheckpointResumesToTheSameBytes) {
    StoppedJob j;
    Result r = j.resume(nullptr);
    EXPECT_EQ(r.status, 1) << r.err;  // the bad record
    EXPECT_TRUE(score_test::read_file(j.out) == j.ref_bytes);
}

TEST(ScoreHostile, DamagedCheckpointsAreRefused) {
    StoppedJob j;
    // An edit that is not sealed again: the checksum fails.
    expect_refused(j, "an edit without the checksum", [](CheckpointFile &c) { c.set("scored", "1"); });
    // Cut in half (a copy that stopped short).
    expect_refused(j, "half a checkpoint", nullptr, [&] {
        score_test::write_file(j.ckpt, j.ckpt_bytes.substr(0, j.ckpt_bytes.size() / 2));
    });
    // An older format without checksums.
    expect_refused(j, "version 1", [](CheckpointFile &c) {
        c.set_number("version", 1);
        cJSON_DeleteItemFromObjectCaseSensitive(c.root, "checksum");
    });
}

// Sealed again after the edit: what the checkpoint says is checked against
// itself, the input and the output.
TEST(ScoreHostile, TamperedCheckpointsWithAValidChecksumAreRefused) {
    StoppedJob j;
    expect_refused(j, "INT64_MAX records", [](CheckpointFile &c) {
        c.set("records", "9223372036854775807");
        c.set("scored", "9223372036854775807");
        c.seal();
    });
    expect_refused(j, "INT64_MAX tokens", [](CheckpointFile &c) {
        c.set("tokens", "9223372036854775807");
        c.seal();
    });
    expect_refused(j, "an input offset in the middle of a line", [](CheckpointFile &c) {
        c.set("input_offset", std::to_string(std::stoll(c.str("input_offset")) - 5));
        c.seal();
    });
    expect_refused(j, "input offset 0 with the records kept", [](CheckpointFile &c) {
        c.set("input_offset", "0");
        c.seal();
    });
    expect_refused(j, "input offset 0, no records: the output would be duplicated", [](CheckpointFile &c) {
        for (const char *k : {"input_offset", "input_line", "records", "scored", "truncated", "tokens"}) c.set(k, "0");
        for (const char *k : {"invalid_utf8", "malformed", "missing_field", "empty_text", "too_large", "too_long",
                              "failed"})
            c.set_problem(k, "0");
        c.set("input_sha256", kEmptySha256);
        c.seal();
    });
    expect_refused(j, "output_bytes short of a record's end, its hash matching", [&](CheckpointFile &c) {
        const long long n = std::stoll(c.str("output_bytes")) - 3;
        c.set("output_bytes", std::to_string(n));
        c.set("output_sha256", sha256_hex(j.out_bytes.substr(0, (size_t)n)));
        c.seal();
    });
    expect_refused(j, "output_bytes 0, its hash matching", [](CheckpointFile &c) {
        c.set("output_bytes", "0");
        c.set("output_sha256", kEmptySha256);
        c.seal();
    });
    expect_refused(j, "a bogus exit status", [](CheckpointFile &c) {
        c.set_bool("complete", true);
        c.set_number("exit_status", 7);
        c.seal();
    });
    expect_refused(j, "more lines than bytes", [](CheckpointFile &c) {
        c.set("input_line", std::to_string(std::stoll(c.str("input_offset")) + 1));
        c.seal();
    });
}

TEST(ScoreHostile, ChangedInputOrOutputIsRefused) {
    StoppedJob j;
    // A byte of a record the checkpoint covers (the input changed since).
    const std::string input = score_test::read_file(j.in);
    expect_refused(j, "the input changed", nullptr, [&] {
        std::string changed = input;
        changed[changed.find("record 3 ") + 7] = '4';
        score_test::write_file(j.in, changed);
    });
    score_test::write_file(j.in, input);
    // A byte of the output the checkpoint covers.
    expect_refused(j, "the output changed", nullptr, [&] {
        std::string changed = j.out_bytes;
        changed[changed.size() / 2] ^= 1;
        score_test::write_file(j.out, changed);
    });
    // The output cut short.
    expect_refused(j, "the output cut short", nullptr,
                   [&] { score_test::write_file(j.out, j.out_bytes.substr(0, j.out_bytes.size() - 10)); });
}

// .npy: the rows must be whole rows of the records the checkpoint covers.
TEST(ScoreHostile, NpyRowCountsMustMatchTheCheckpoint) {
    StoppedJob j({"--format", "npy"}, "npy");
    Result r = j.resume(nullptr);
    EXPECT_EQ(r.status, 1) << r.err;
    EXPECT_TRUE(score_test::read_file(j.out) == j.ref_bytes);
    expect_refused(j, "output_bytes not on a row", [&](CheckpointFile &c) {
        const long long n = std::stoll(c.str("output_bytes")) - 4;
        c.set("output_bytes", std::to_string(n));
        c.set("output_sha256", sha256_hex(j.out_bytes.substr(128, (size_t)n - 128)));
        c.seal();
    });
    expect_refused(j, "one record less, its row kept", [&](CheckpointFile &c) {
        c.set("records", std::to_string(std::stoll(c.str("records")) - 1));
        c.set("scored", std::to_string(std::stoll(c.str("scored")) - 1));
        c.seal();
    });
}

// ---- huge records -------------------------------------------------------------

// Peak RSS of a run (the child's ru_maxrss), in MiB.
double peak_rss_mib(const std::vector<std::string> &args) {
    Scratch s;
    score_test::Proc p = score_test::spawn(args, s.path("stdout"), s.path("stderr"));
    int status = 0;
    struct rusage ru;
    EXPECT_EQ(wait4(p.pid, &status, 0, &ru), p.pid);
    EXPECT_TRUE(WIFEXITED(status) && WEXITSTATUS(status) == 0) << score_test::read_file(s.path("stderr"));
    return (double)ru.ru_maxrss / 1024.0;
}

// 8 MiB records (the default --max-record-bytes) cost about 250 MB per
// tokenizer thread: the text, cJSON's copy of it, and the tokenizer's
// scratch at ~26 bytes a character. The tokenizer now works through a text
// in bounded chunks and keeps only the tokens the model takes, so each more
// tokenizer thread costs about two copies of the record (README: "Memory").
TEST(ScoreHostile, HugeRecordsCostBoundedMemoryPerTokenizerThread) {
    Scratch s;
    std::string text;
    const char *words[] = {"alpha", "beta", "film", "great", "dull", "the", "a", "of", "ending", "plot"};
    for (unsigned i = 0; text.size() < ((size_t)8 << 20) - 64; i = i * 1103515245u + 12345u)
        text += std::string(words[(i >> 16) % 10]) + " ";
    text.resize(((size_t)8 << 20) - 64);
    std::string input;
    for (int i = 0; i < 8; i++) input += "{\"id\": " + std::to_string(i) + ", \"text\": \"" + text + "\"}\n";
    score_test::write_file(s.path("in.jsonl"), input);
    auto args = [&](int threads) {
        return std::vector<std::string>{"score", "--model", fixtures::model_dir("tiny-bert-sst"), "--input",
                                        s.path("in.jsonl"), "--output", s.path("out.jsonl"), "--threads", "1",
                                        "--tokenizer-threads", std::to_string(threads), "--quiet"};
    };
    // Under ASan, no quarantine of freed blocks: it would hold on to every
    // record's memory and measure the sanitizer, not encore.
    const char *asan = getenv("ASAN_OPTIONS");
    const std::string saved = asan ? asan : "";
    setenv("ASAN_OPTIONS", (saved + (saved.empty() ? "" : ":") + "quarantine_size_mb=0:thread_local_quarantine_size_kb=0").c_str(), 1);
    const double one = peak_rss_mib(args(1)), four = peak_rss_mib(args(4));
    if (asan) setenv("ASAN_OPTIONS", saved.c_str(), 1);
    else unsetenv("ASAN_OPTIONS");
    const double per_thread = (four - one) / 3;
    std::printf("[ memory ] peak RSS %.0f MiB with 1 tokenizer thread, %.0f MiB with 4: %.0f MiB per more thread\n",
                one, four, per_thread);
    // Two copies of an 8 MiB record and the tokenizer's bounded scratch; the
    // sanitizers' shadow memory and redzones roughly double that.
#if defined(__SANITIZE_ADDRESS__)
    const double bound = 64;
#else
    const double bound = 32;
#endif
    EXPECT_LT(per_thread, bound) << "MiB per tokenizer thread for 8 MiB records";
}

}  // namespace
