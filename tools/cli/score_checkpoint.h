/* score_checkpoint.h: where an `encore score` run stands, written atomically
 * (temporary file, fsync, rename, fsync of the directory) so that a run killed
 * at any instant resumes from its last checkpoint. The output is fsynced before
 * a checkpoint names its length, so the output always holds at least that. */
#ifndef ENCORE_CLI_SCORE_CHECKPOINT_H
#define ENCORE_CLI_SCORE_CHECKPOINT_H

#include "score_input.h"

#include <stddef.h>
#include <stdint.h>

/* Counts over the whole job, carried across resumes. */
typedef struct score_stats {
    int64_t records;                         /* records written, errors included */
    int64_t scored;                          /* records with a result */
    int64_t truncated;
    int64_t tokens;                          /* tokens of the scored records */
    int64_t problems[SCORE_PROBLEM_COUNT];   /* error records by kind */
} score_stats;

typedef struct score_checkpoint {
    char job[2048];          /* score_job_string() of the run that wrote it */
    int complete;            /* the run reached the end of the input (or stopped with --strict) */
    int exit_status;         /* of a complete run */
    int64_t input_offset;    /* input bytes done: a record boundary */
    int64_t input_line;      /* lines done */
    int64_t output_bytes;    /* output length that holds those records */
    int64_t index_bytes;     /* --format npy: length of the index */
    score_stats stats;
} score_checkpoint;

/* Write atomically. Returns 0 with a message in err on failure. */
int score_checkpoint_write(const char *path, const score_checkpoint *c, char *err, size_t errlen);

/* Returns 1 when read, 0 when there is no checkpoint, -1 when it is
 * unreadable (err says why). */
int score_checkpoint_read(const char *path, score_checkpoint *c, char *err, size_t errlen);

#endif /* ENCORE_CLI_SCORE_CHECKPOINT_H */
