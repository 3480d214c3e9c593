// test_score_resume.cc: an `encore score` run killed with SIGKILL at random
// instants, and resumed with --resume each time, ends with an output equal
// byte for byte to an uninterrupted run's: no record lost, duplicated or torn.
#include <gtest/gtest.h>
#include <time.h>

#include <chrono>
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

Job make_job(int n, const std::vector<std::string> &extra, const std::string &out_name) {
    Job j;
    score_test::write_file(j.s.path("in.jsonl"), make_input(n));
    j.args = {"score", "--model", fixtures::model_dir("tiny-bert-sst"), "--input", j.s.path("in.jsonl"),
              "--threads", "1", "--window", kWindow, "--checkpoint-every", "0.05", "--progress", "json"};
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

// The reference run, then runs killed at random instants and resumed, then a
// last resume to the end; the outputs (and side files) must be equal.
void kill_and_resume(const std::vector<std::string> &extra, const std::string &out_name,
                     const std::vector<std::string> &side_files, int kills) {
    Job j = make_job(kRecords, extra, out_name);
    const std::string ref = j.s.path("ref-" + out_name), got = j.s.path(out_name);
    auto t0 = std::chrono::steady_clock::now();
    Result r = score_test::run(args_for(j, ref, false));
    const double full = seconds_since(t0);
    ASSERT_EQ(r.status, 1) << r.err;  // the bad records
    cJSON *ref_sum = score_test::summary(r.err);
    ASSERT_TRUE(ref_sum) << r.err;

    const unsigned seed = (unsigned)time(nullptr);
    std::mt19937 rng(seed);
    SCOPED_TRACE("seed " + std::to_string(seed) + ", full run " + std::to_string(full) + " s");
    // Kill until `kills` runs died mid-way. A run that ends before its kill
    // (a loaded machine) ends the series, or, before any kill landed, starts
    // it over with earlier kills.
    int killed_running = 0;
    double span = 0.6 * full;
    bool fresh = true;
    for (int attempt = 0; killed_running < kills && attempt < 4 * kills; attempt++) {
        std::uniform_real_distribution<double> when(0.02, span);  // from model loading on
        score_test::Proc p = score_test::spawn(args_for(j, got, !fresh), j.s.path("stdout"), j.s.path("stderr"));
        fresh = false;
        std::this_thread::sleep_for(std::chrono::duration<double>(when(rng)));
        kill(p.pid, SIGKILL);
        int status = score_test::wait_status(p);
        ASSERT_TRUE(status == 128 + SIGKILL || status == 1) << status << ": " << score_test::read_file(j.s.path("stderr"));
        if (status == 128 + SIGKILL) {
            killed_running++;
        } else if (killed_running > 0) {
            break;
        } else {
            span /= 2;
            fresh = true;
        }
    }
    EXPECT_GT(killed_running, 0);
    Result last = score_test::run(args_for(j, got, true));
    EXPECT_EQ(last.status, 1) << last.err;
    EXPECT_TRUE(score_test::read_file(got) == score_test::read_file(ref)) << "outputs differ: " << got;
    for (const auto &side : side_files)
        EXPECT_TRUE(score_test::read_file(j.s.path(side)) == score_test::read_file(j.s.path("ref-" + side))) << side;
    // The counts carried across the interruptions add up to the reference's.
    cJSON *sum = score_test::summary(last.err);
    ASSERT_TRUE(sum) << last.err;
    for (const char *key : {"records", "scored", "errors", "tokens", "truncated"})
        EXPECT_EQ(score_test::number(sum, key), score_test::number(ref_sum, key)) << key;
    cJSON_Delete(sum);
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

// A pipe cannot seek: resuming reads the records already done and drops them.
TEST(ScoreResume, FromStdin) {
    Job j = make_job(kShortRecords, {}, "out.jsonl");
    const std::string input = score_test::read_file(j.s.path("in.jsonl"));
    auto stdin_args = [&](const std::string &out, bool resume) {
        auto a = args_for(j, out, resume);
        for (size_t i = 0; i + 1 < a.size(); i++)
            if (a[i] == "--input") a[i + 1] = "-";
        return a;
    };
    auto t0 = std::chrono::steady_clock::now();
    Result r = score_test::run(stdin_args(j.s.path("ref.jsonl"), false), &input);
    const double full = seconds_since(t0);
    ASSERT_EQ(r.status, 1) << r.err;
    score_test::Proc p =
        score_test::spawn(stdin_args(j.s.path("out.jsonl"), false), j.s.path("stdout"), j.s.path("stderr"), &input);
    std::this_thread::sleep_for(std::chrono::duration<double>(0.6 * full));
    kill(p.pid, SIGKILL);
    score_test::wait_status(p);
    Result last = score_test::run(stdin_args(j.s.path("out.jsonl"), true), &input);
    EXPECT_EQ(last.status, 1) << last.err;
    EXPECT_TRUE(score_test::read_file(j.s.path("out.jsonl")) == score_test::read_file(j.s.path("ref.jsonl")));
}

// Ctrl-C: the scored records are written and checkpointed, exit status 130;
// --resume finishes the job; another --resume has nothing to do; a different
// job refuses the checkpoint.
TEST(ScoreResume, InterruptThenResumeThenNothingLeftThenAnotherJobIsRefused) {
    Job j = make_job(kShortRecords, {}, "out.jsonl");
    const std::string ref = j.s.path("ref.jsonl"), out = j.s.path("out.jsonl");
    auto t0 = std::chrono::steady_clock::now();
    ASSERT_EQ(score_test::run(args_for(j, ref, false)).status, 1);
    const double full = seconds_since(t0);
    score_test::Proc p = score_test::spawn(args_for(j, out, false), j.s.path("stdout"), j.s.path("stderr"));
    std::this_thread::sleep_for(std::chrono::duration<double>(0.5 * full));
    kill(p.pid, SIGINT);
    int status = score_test::wait_status(p);
    const std::string err = score_test::read_file(j.s.path("stderr"));
    EXPECT_TRUE(status == 130 || status == 1) << err;  // 1: it had finished
    if (status == 130) {
        cJSON *sum = score_test::summary(err);
        ASSERT_TRUE(sum) << err;
        EXPECT_FALSE(cJSON_IsTrue(get(sum, "complete")));
        EXPECT_GT(score_test::number(sum, "records"), 0);
        cJSON_Delete(sum);
    }
    Result r = score_test::run(args_for(j, out, true));
    EXPECT_EQ(r.status, 1) << r.err;
    EXPECT_TRUE(score_test::read_file(out) == score_test::read_file(ref));
    // Complete: nothing to do, same exit status, output untouched.
    r = score_test::run(args_for(j, out, true));
    EXPECT_EQ(r.status, 1) << r.err;
    EXPECT_NE(r.err.find("nothing to do"), std::string::npos) << r.err;
    EXPECT_TRUE(score_test::read_file(out) == score_test::read_file(ref));
    // Other options make another output: the checkpoint is not theirs.
    auto other = args_for(j, out, true);
    other.insert(other.end(), {"--top-k", "all"});
    r = score_test::run(other);
    EXPECT_EQ(r.status, 2);
    EXPECT_NE(r.err.find("another job"), std::string::npos) << r.err;
    EXPECT_TRUE(score_test::read_file(out) == score_test::read_file(ref));
}

}  // namespace
