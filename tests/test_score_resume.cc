// test_score_resume.cc: an `encore score` run killed with SIGKILL at random
// instants, and resumed with --resume each time, ends with an output equal
// byte for byte to an uninterrupted run's: no record lost, duplicated or torn.
// Every kill counted landed mid-run (the checkpoint says so); the instants
// come from a fixed seed, printed, that ENCORE_RESUME_SEED overrides.
#include <gtest/gtest.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <random>
#include <string>
#include <thread>
#include <vector>

#include "fixtures.h"
#include "score_helpers.h"

using fixtures::get;
using score_test::Result;
using score_test::Scratch;

namespace {

// Records per job: enough for many windows and checkpoints. Sanitizer and -O0
// builds run the model ~10x slower, and get fewer.
#if defined(__SANITIZE_ADDRESS__) || !defined(__OPTIMIZE__)
constexpr int kRecords = 600, kShortRecords = 400;
constexpr const char *kWindow = "64";
#else
constexpr int kRecords = 4000, kShortRecords = 3000;
constexpr const char *kWindow = "256";
#endif
// Seconds between checkpoints: many per run, and kills between them.
constexpr double kCheckpointEvery = 0.05;

// Records of varied length, with a bad one now and then so that error records
// and the summary's counts cross the interruptions too.
std::string make_input(int n) {
    static const char *words[] = {"a",     "film",   "that",   "wonderful", "dull",     "plot",  "actors",
                                  "never", "quite",  "works",  "but",       "charming", "score", "the",
                                  "ending", "moving", "boring", "clever",    "script",   "sad"};
    std::mt19937 rng(1234);  // the input is fixed; only the kill times are random
    std::string out;
    for (int i = 0; i < n; i++) {
        if (i % 211 == 17) {
            out += "{\"id\": " + std::to_string(i) + ", \"text\": \"bad \xff\"}\n";
            continue;
        }
        if (i % 307 == 5) {
            out += "{\"id\": " + std::to_string(i) + "}\n";
            continue;
        }
        int len = 1 + (int)(rng() % 40);
        std::string text;
        for (int k = 0; k < len; k++) text += std::string(k ? " " : "") + words[rng() % 20];
        out += "{\"id\": " + std::to_string(i) + ", \"text\": \"" + text + "\"}\n";
    }
    return out;
}

double seconds_since(std::chrono::steady_clock::time_point t) {
    return std::chrono::duration<double>(std::chrono::steady_clock::now() - t).count();
}

struct Job {
    Scratch s;
    std::vector<std::string> args;  // without --output
    std::string out;
};

Job make_job(int n, const std::vector<std::string> &extra, const std::string &out_name,
             const std::string &model = "tiny-bert-sst") {
    Job j;
    score_test::write_file(j.s.path("in.jsonl"), make_input(n));
    j.args = {"score", "--model", fixtures::model_dir(model), "--input", j.s.path("in.jsonl"),
              "--threads", "1", "--window", kWindow, "--checkpoint-every", std::to_string(kCheckpointEvery),
              "--progress", "json"};
    j.args.insert(j.args.end(), extra.begin(), extra.end());
    j.out = out_name;
    return j;
}

std::vector<std::string> args_for(const Job &j, const std::string &out, bool resume) {
    std::vector<std::string> a = j.args;
    a.insert(a.end(), {"--output", out});
    if (resume) a.push_back("--resume");
    return a;
}

// The seed of the kill instants: fixed, so that a failure can be replayed,
// and printed; ENCORE_RESUME_SEED in the environment sets another.
unsigned kill_seed() {
    const char *env = std::getenv("ENCORE_RESUME_SEED");
    const unsigned seed = env && *env ? (unsigned)std::strtoul(env, nullptr, 0) : 20261201u;
    std::printf("[ seed ] kill instants from seed %u (ENCORE_RESUME_SEED sets another)\n", seed);
    return seed;
}

// What the checkpoint beside an output says: records done (0 without a
// checkpoint) and whether the job is complete.
struct Checkpointed {
    long long records = 0;
    bool complete = false;
};

Checkpointed checkpointed(const std::string &out) {
    Checkpointed c;
    if (!score_test::exists(out + ".ckpt")) return c;
    cJSON *root = cJSON_Parse(score_test::read_file(out + ".ckpt").c_str());
    EXPECT_TRUE(root) << "the checkpoint " << out << ".ckpt is not JSON";
    const cJSON *records = get(root, "records");
    EXPECT_TRUE(cJSON_IsString(records)) << "the checkpoint has no \"records\"";
    if (cJSON_IsString(records)) c.records = std::atoll(records->valuestring);
    c.complete = cJSON_IsTrue(get(root, "complete"));
    cJSON_Delete(root);
    return c;
}

// Records in the checkpoint beside an output as it is now, for polling while
// a run goes on: 0 when there is none yet. The run writes it whole and
// renames it into place, so a reader never sees half of one.
long long peek_records(const std::string &out) {
    if (!score_test::exists(out + ".ckpt")) return 0;
    cJSON *root = cJSON_Parse(score_test::read_file(out + ".ckpt").c_str());
    const cJSON *records = root ? get(root, "records") : nullptr;
    const long long n = cJSON_IsString(records) ? std::atoll(records->valuestring) : 0;
    cJSON_Delete(root);
    return n;
}

// The reference run; then runs killed with SIGKILL and resumed until `kills`
// kills landed mid-run: the run had checkpointed records beyond those it
// started from, but not all of them. A kill that came too early (nothing
// new checkpointed) is retried; one that came too late (the run had
// finished) ends the series, which is checked like the last one, and a new
// series starts with earlier kills. Each series is finished with --resume
// and its output (and side files, and the summary's counts) must equal the
// reference's byte for byte. From stdin (a pipe) when from_stdin.
void kill_and_resume(const std::vector<std::string> &extra, const std::string &out_name,
                     const std::vector<std::string> &side_files, int kills, int n_records = kRecords,
                     bool from_stdin = false, const std::string &model = "tiny-bert-sst") {
    Job j = make_job(n_records, extra, out_name, model);
    const std::string input = score_test::read_file(j.s.path("in.jsonl"));
    const std::string *feed = from_stdin ? &input : nullptr;
    auto args = [&](const std::string &out, bool resume) {
        auto a = args_for(j, out, resume);
        for (size_t i = 0; from_stdin && i + 1 < a.size(); i++)
            if (a[i] == "--input") a[i + 1] = "-";
        return a;
    };
    const std::string ref = j.s.path("ref-" + out_name), got = j.s.path(out_name);
    auto t0 = std::chrono::steady_clock::now();
    Result r = score_test::run(args(ref, false), feed);
    const double full = seconds_since(t0);
    ASSERT_EQ(r.status, 1) << r.err;  // the bad records
    cJSON *ref_sum = score_test::summary(r.err);
    ASSERT_TRUE(ref_sum) << r.err;
    const long long total = (long long)score_test::number(ref_sum, "records");
    ASSERT_EQ(total, n_records);
    const unsigned seed = kill_seed();
    std::mt19937 rng(seed);
    SCOPED_TRACE("seed " + std::to_string(seed) + ", full run " + std::to_string(full) + " s");
    // Finish the series with --resume and compare with the reference.
    auto finish_and_compare = [&](const std::string &series) {
        Result last = score_test::run(args(got, true), feed);
        EXPECT_EQ(last.status, 1) << series << ": " << last.err;
        EXPECT_TRUE(score_test::read_file(got) == score_test::read_file(ref)) << series << ": outputs differ: " << got;
        for (const auto &side : side_files)
            EXPECT_TRUE(score_test::read_file(j.s.path(side)) == score_test::read_file(j.s.path("ref-" + side)))
                << series << ": " << side;
        // The counts carried across the interruptions add up to the reference's.
        cJSON *sum = score_test::summary(last.err);
        ASSERT_TRUE(sum) << series << ": " << last.err;
        for (const char *key : {"records", "scored", "errors", "tokens", "truncated"})
            EXPECT_EQ(score_test::number(sum, key), score_test::number(ref_sum, key)) << series << ": " << key;
        cJSON_Delete(sum);
    };
    // The kill instant: the moment the run is seen to checkpoint records
    // beyond those it started from (the checkpoint is polled), plus a random
    // share of the work this run has left, small enough to leave room for the
    // kills still to land. Waiting for the checkpoint, not for a time, keeps
    // the kills landing on a machine whose speed changes under load. The work
    // left is estimated from the reference run times a scale that shrinks
    // after a kill that came too late. A kill that came before any new
    // checkpoint (the poll gave up) is counted too early and retried.
    double scale = 1.0;
    int landed = 0, series = 1;
    long long before = 0;  // records checkpointed when this run started
    bool fresh = true;
    std::string history;
    const int max_attempts = 8 * kills + 8;
    const double poll_limit = 10 * full + 10;  // seconds; the poll gives up after
    for (int attempt = 0; landed < kills && attempt < max_attempts; attempt++) {
        if (fresh) {  // no output or checkpoint of an earlier series
            std::remove(got.c_str());
            std::remove((got + ".ckpt").c_str());
        }
        score_test::Proc p = score_test::spawn(args(got, !fresh), j.s.path("stdout"), j.s.path("stderr"), feed);
        t0 = std::chrono::steady_clock::now();
        long long seen = before;
        while (seen <= before && seconds_since(t0) < poll_limit) {
            std::this_thread::sleep_for(std::chrono::milliseconds(1));
            seen = std::max(seen, peek_records(got));
        }
        const double at = seconds_since(t0);
        const double left = scale * full * (double)std::max(total - seen, 0LL) / (double)total;
        std::uniform_real_distribution<double> share(0.0, 1.0 / (kills - landed));
        const double wait = share(rng) * left;
        std::this_thread::sleep_for(std::chrono::duration<double>(wait));
        kill(p.pid, SIGKILL);
        const int status = score_test::wait_status(p);
        ASSERT_TRUE(status == 128 + SIGKILL || status == 1) << status << ": " << score_test::read_file(j.s.path("stderr"));
        const Checkpointed c = checkpointed(got);
        char line[200];
        std::snprintf(line, sizeof line,
                      "\n  series %d, checkpoint seen after %.3f s, kill %.3f s later: %s, %lld -> %lld of %lld records",
                      series, at, wait, status == 1 ? "finished" : "killed", before, c.records, total);
        history += line;
        if (status == 1 || c.complete || c.records >= total) {
            history += " (too late)";
            finish_and_compare("series " + std::to_string(series));
            fresh = true;
            before = 0;
            series++;
            scale *= 0.5;
        } else if (c.records <= before) {
            history += " (too early)";
        } else {
            landed++;
            before = c.records;
            fresh = false;
        }
    }
    std::printf("[ kills ] %d of %d landed mid-run:%s\n", landed, kills, history.c_str());
    EXPECT_EQ(landed, kills) << "kills that landed mid-run, in " << max_attempts << " attempts:" << history;
    finish_and_compare("series " + std::to_string(series));
    cJSON_Delete(ref_sum);
}

TEST(ScoreResume, SigkillAtRandomInstantsThenResumeGivesTheSameBytesJsonl) {
    kill_and_resume({}, "out.jsonl", {}, 6);
}

TEST(ScoreResume, SigkillAtRandomInstantsThenResumeGivesTheSameBytesNpy) {
    kill_and_resume({"--format", "npy"}, "out.npy", {"out.index.jsonl"}, 3);
}

TEST(ScoreResume, SigkillAtRandomInstantsThenResumeGivesTheSameBytesTsv) {
    kill_and_resume({"--format", "tsv", "--top-k", "all"}, "out.tsv", {}, 3);
}

// The pipelines that answer with structured JSON run a record at a time,
// not in batches; their runs resume the same.
TEST(ScoreResume, SigkillAtRandomInstantsThenResumeGivesTheSameBytesNer) {
    kill_and_resume({"--aggregation-strategy", "simple"}, "out.jsonl", {}, 3, kShortRecords, false, "tiny-bert-ner");
}

// A pipe cannot seek: resuming reads the records already done and drops them.
TEST(ScoreResume, FromStdin) {
    kill_and_resume({}, "out.jsonl", {}, 1, kShortRecords, true);
}

// Ctrl-C: the scored records are written and checkpointed, exit status 130;
// --resume finishes the job; another --resume has nothing to do; a different
// job refuses the checkpoint. The interrupt must land mid-run (some records
// done, not all): one that came too early or too late is retried at
// another instant.
TEST(ScoreResume, InterruptThenResumeThenNothingLeftThenAnotherJobIsRefused) {
    Job j = make_job(kShortRecords, {}, "out.jsonl");
    const std::string ref = j.s.path("ref.jsonl"), out = j.s.path("out.jsonl");
    auto t0 = std::chrono::steady_clock::now();
    ASSERT_EQ(score_test::run(args_for(j, ref, false)).status, 1);
    const double full = seconds_since(t0);
    const unsigned seed = kill_seed();
    std::mt19937 rng(seed);
    SCOPED_TRACE("seed " + std::to_string(seed) + ", full run " + std::to_string(full) + " s");
    // The interrupt comes a random share of the run after its first
    // checkpoint is seen (so after encore set its handler), the share
    // halved after one that came too late.
    std::uniform_real_distribution<double> share(0.0, 0.6);
    double scale = 1.0;
    bool landed = false;
    std::string history;
    for (int attempt = 0; !landed && attempt < 8; attempt++) {
        std::remove(out.c_str());
        std::remove((out + ".ckpt").c_str());
        score_test::Proc p = score_test::spawn(args_for(j, out, false), j.s.path("stdout"), j.s.path("stderr"));
        t0 = std::chrono::steady_clock::now();
        while (peek_records(out) <= 0 && seconds_since(t0) < 10 * full + 10)
            std::this_thread::sleep_for(std::chrono::milliseconds(1));
        const double delay = seconds_since(t0) + scale * share(rng) * full;
        std::this_thread::sleep_until(t0 + std::chrono::duration_cast<std::chrono::steady_clock::duration>(
                                               std::chrono::duration<double>(delay)));
        kill(p.pid, SIGINT);
        bool signaled = false;
        const int status = score_test::wait_status(p, &signaled);
        const std::string err = score_test::read_file(j.s.path("stderr"));
        if (signaled) {
            // Killed by the signal itself: it came before encore set its
            // handler (a slow start, as under ASan), so too early.
            char line[120];
            std::snprintf(line, sizeof line, "\n  interrupt after %.3f s: before the handler was set", delay);
            history += line;
            scale *= 1.5;
            continue;
        }
        ASSERT_TRUE(status == 130 || status == 1) << status << ": " << err;  // 1: it had finished
        double records = -1;
        if (status == 130) {
            cJSON *sum = score_test::summary(err);
            ASSERT_TRUE(sum) << err;
            EXPECT_FALSE(cJSON_IsTrue(get(sum, "complete")));
            records = score_test::number(sum, "records");
            cJSON_Delete(sum);
            EXPECT_EQ((long long)records, checkpointed(out).records) << "the summary and the checkpoint disagree";
        }
        char line[120];
        std::snprintf(line, sizeof line, "\n  interrupt after %.3f s: %s, %.0f of %d records", delay,
                      status == 1 ? "finished" : "stopped", records, kShortRecords);
        history += line;
        if (status == 1) {
            scale *= 0.5;  // too late
        } else if (records <= 0) {
            scale *= 1.5;  // too early
        } else {
            landed = records < kShortRecords;
        }
    }
    std::printf("[ interrupt ]%s\n", history.c_str());
    ASSERT_TRUE(landed) << "no interrupt landed mid-run:" << history;
    Result r = score_test::run(args_for(j, out, true));
    EXPECT_EQ(r.status, 1) << r.err;
    EXPECT_TRUE(score_test::read_file(out) == score_test::read_file(ref));
    // Complete: nothing to do, same exit status, output untouched.
    r = score_test::run(args_for(j, out, true));
    EXPECT_EQ(r.status, 1) << r.err;
    EXPECT_NE(r.err.find("nothing to do"), std::string::npos) << r.err;
    EXPECT_TRUE(score_test::read_file(out) == score_test::read_file(ref));
    // Other options make another output: the checkpoint is not theirs. Other
    // weights change the scores too: a resumed run must not mix them.
    for (const std::vector<std::string> &extra :
         std::vector<std::vector<std::string>>{{"--top-k", "all"}, {"--weights", "int8"}}) {
        auto other = args_for(j, out, true);
        other.insert(other.end(), extra.begin(), extra.end());
        r = score_test::run(other);
        EXPECT_EQ(r.status, 2) << extra[0];
        EXPECT_NE(r.err.find("another job"), std::string::npos) << r.err;
        EXPECT_TRUE(score_test::read_file(out) == score_test::read_file(ref));
    }
}

}  // namespace
