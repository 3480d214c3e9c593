/* score_progress.h: progress lines and the closing summary of `encore score`,
 * on stderr. Human lines on a terminal (or with --progress human), JSON lines
 * with --progress json:
 *
 *   {"event": "progress", "records": 120000, "records_per_s": 5120.4, "tokens_per_s": 80211.7,
 *    "percent": 12.5, "eta_s": 160.2, "elapsed_s": 23.4}
 *   {"event": "summary", "complete": true, "records": ..., "problems": {...}, "time_s": {...}, ...}
 */
#ifndef ENCORE_CLI_SCORE_PROGRESS_H
#define ENCORE_CLI_SCORE_PROGRESS_H

#include "score_checkpoint.h"
#include "score_options.h"

#include <stdint.h>

/* Where this run's time went. Stages overlap: each is the busy time of its
 * threads; model_wait is the time the model waited for tokenized records. */
typedef struct score_timing {
    double wall_s;
    double read_s;           /* reading and splitting records */
    double tokenize_s;       /* parsing and tokenizing, summed over the worker threads */
    double model_s;          /* in the model */
    double format_s;         /* formatting the output records, summed over the worker threads */
    double write_s;          /* writing the output */
    double checkpoint_s;     /* fsync and checkpoints */
    double model_wait_s;
    int tokenizer_threads;
} score_timing;

typedef struct score_progress {
    score_progress_mode mode;   /* resolved: HUMAN, JSON or NONE */
    int tty;
    double t0, last;
    int64_t input_size;         /* -1 when unknown */
    int64_t start_offset;       /* input offset this run started at */
    score_stats start;          /* counts this run started with */
    int line_open;              /* a \r line is on the terminal */
} score_progress;

double score_now(void);

void score_progress_init(score_progress *p, score_progress_mode mode, int64_t input_size, int64_t start_offset,
                         const score_stats *start);

/* Print a progress line if one is due (about once a second). */
void score_progress_update(score_progress *p, const score_stats *s, int64_t offset);

/* The closing summary; quiet prints nothing. */
void score_progress_summary(score_progress *p, const score_stats *s, const score_timing *t, int complete,
                            const char *note, int quiet);

#endif /* ENCORE_CLI_SCORE_PROGRESS_H */
