/* score_progress.c: progress lines and the summary of `encore score`. */
#include "score_progress.h"

#include "json_out.h"

#include <stdio.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

double score_now(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

void score_progress_init(score_progress *p, score_progress_mode mode, int64_t input_size, int64_t start_offset,
                         const score_stats *start) {
    memset(p, 0, sizeof *p);
    p->tty = isatty(2);
    p->mode = mode == SCORE_PROGRESS_AUTO ? (p->tty ? SCORE_PROGRESS_HUMAN : SCORE_PROGRESS_NONE) : mode;
    p->t0 = p->last = score_now();
    p->input_size = input_size;
    p->start_offset = start_offset;
    p->start = *start;
}

static void hms(double s, char *buf, size_t len) {
    long t = (long)(s + 0.5);
    snprintf(buf, len, "%ld:%02ld:%02ld", t / 3600, t / 60 % 60, t % 60);
}

void score_progress_update(score_progress *p, const score_stats *s, int64_t offset) {
    if (p->mode == SCORE_PROGRESS_NONE) return;
    const double t = score_now();
    if (t - p->last < 1.0) return;
    p->last = t;
    const double elapsed = t - p->t0;
    const double rps = (double)(s->records - p->start.records) / elapsed;
    const double tps = (double)(s->tokens - p->start.tokens) / elapsed;
    double percent = -1, eta = -1;
    if (p->input_size > 0) {
        percent = 100.0 * (double)offset / (double)p->input_size;
        const double bps = (double)(offset - p->start_offset) / elapsed;
        if (bps > 0) eta = (double)(p->input_size - offset) / bps;
    }
    if (p->mode == SCORE_PROGRESS_JSON) {
        fprintf(stderr, "{\"event\": \"progress\", \"records\": %lld, \"records_per_s\": %.1f, \"tokens_per_s\": %.1f, ",
                (long long)s->records, rps, tps);
        if (percent >= 0) fprintf(stderr, "\"percent\": %.2f, ", percent);
        else fputs("\"percent\": null, ", stderr);
        if (eta >= 0) fprintf(stderr, "\"eta_s\": %.1f, ", eta);
        else fputs("\"eta_s\": null, ", stderr);
        fprintf(stderr, "\"elapsed_s\": %.1f}\n", elapsed);
    } else {
        char e[32] = "";
        if (eta >= 0) hms(eta, e, sizeof e);
        fprintf(stderr, "%sscore: %lld records, %.0f records/s, %.0f tokens/s", p->tty ? "\r" : "",
                (long long)s->records, rps, tps);
        if (percent >= 0) fprintf(stderr, ", %.1f%%, ETA %s", percent, e);
        fputs(p->tty ? "   " : "\n", stderr);
        p->line_open = p->tty;
    }
    fflush(stderr);
}

static int64_t errors(const score_stats *s) {
    int64_t n = 0;
    for (int k = 1; k < SCORE_PROBLEM_COUNT; k++) n += s->problems[k];
    return n;
}

void score_progress_summary(score_progress *p, const score_stats *s, const score_timing *t, int complete,
                            const char *note, int quiet) {
    if (p->line_open) fputc('\n', stderr);
    p->line_open = 0;
    if (quiet) return;
    const int64_t records = s->records - p->start.records, tokens = s->tokens - p->start.tokens;
    const double wall = t->wall_s > 0 ? t->wall_s : 1e-9;
    if (p->mode == SCORE_PROGRESS_JSON) {
        fprintf(stderr, "{\"event\": \"summary\", \"complete\": %s, \"records\": %lld, \"scored\": %lld, "
                        "\"errors\": %lld, \"truncated\": %lld, \"tokens\": %lld, \"problems\": {",
                complete ? "true" : "false", (long long)s->records, (long long)s->scored, (long long)errors(s),
                (long long)s->truncated, (long long)s->tokens);
        for (int k = 1; k < SCORE_PROBLEM_COUNT; k++)
            fprintf(stderr, "%s\"%s\": %lld", k > 1 ? ", " : "", score_problem_name((score_problem)k),
                    (long long)s->problems[k]);
        fprintf(stderr, "}, \"this_run\": {\"records\": %lld, \"tokens\": %lld}, \"wall_s\": %.3f, "
                        "\"records_per_s\": %.1f, \"tokens_per_s\": %.1f, \"time_s\": {\"read\": %.3f, "
                        "\"tokenize\": %.3f, \"model\": %.3f, \"format\": %.3f, \"write\": %.3f, "
                        "\"checkpoint\": %.3f, \"model_wait\": %.3f}, \"tokenizer_threads\": %d",
                (long long)records, (long long)tokens, t->wall_s, (double)records / wall, (double)tokens / wall,
                t->read_s, t->tokenize_s, t->model_s, t->format_s, t->write_s, t->checkpoint_s, t->model_wait_s,
                t->tokenizer_threads);
        if (note) {
            fputs(", \"note\": ", stderr);
            json_write_string(stderr, note);
        }
        fputs("}\n", stderr);
        return;
    }
    fprintf(stderr, "score: %s: %lld records (%lld scored, %lld errors, %lld truncated), %lld tokens\n",
            complete ? "done" : "stopped", (long long)s->records, (long long)s->scored, (long long)errors(s),
            (long long)s->truncated, (long long)s->tokens);
    if (errors(s)) {
        fputs("score: errors:", stderr);
        for (int k = 1; k < SCORE_PROBLEM_COUNT; k++)
            if (s->problems[k]) fprintf(stderr, " %s %lld", score_problem_name((score_problem)k), (long long)s->problems[k]);
        fputc('\n', stderr);
    }
    fprintf(stderr, "score: this run: %lld records in %.2f s: %.1f records/s, %.0f tokens/s\n", (long long)records,
            t->wall_s, (double)records / wall, (double)tokens / wall);
    fprintf(stderr, "score: time (busy, overlapped): read %.2f s, tokenize %.2f s and format %.2f s (%d worker%s), "
                    "model %.2f s, write %.2f s, checkpoints %.2f s; the model waited %.2f s for input\n",
            t->read_s, t->tokenize_s, t->format_s, t->tokenizer_threads, t->tokenizer_threads == 1 ? "" : "s",
            t->model_s, t->write_s, t->checkpoint_s, t->model_wait_s);
    if (note) fprintf(stderr, "score: %s\n", note);
}
