/* score_checkpoint.h: where an `encore score` run stands, written atomically
 * (temporary file, fsync, rename, fsync of the directory) so that a run killed
 * at any instant resumes from its last checkpoint. The output is fsynced before
 * a checkpoint names its length, so the output always holds at least that.
 *
 * A checkpoint is not trusted (issue 14): it carries a SHA-256 checksum over
 * all its fields, its counts must agree with one another, and it names the
 * SHA-256 of the records it covers and of the output written for them, which
 * --resume checks against the input and the output before it writes a byte
 * (score.c). Anything that does not hold is refused with exit status 2. */
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
    int complete;            /* the run reached the end of the input */
    int exit_status;         /* 0, 1 or 130: what the run that wrote it exited with (0 while it runs) */
    int64_t input_offset;    /* input bytes done: the end of the last record written */
    int64_t input_line;      /* lines done */
    int64_t output_bytes;    /* output length that holds those records */
    int64_t index_bytes;     /* --format npy: length of the index */
    score_stats stats;
    /* SHA-256 of the records done (score_record_hash(), in order), of the
     * output's bytes [0 or, for .npy, 128, output_bytes), and of the index's
     * [0, index_bytes). */
    uint8_t input_sha256[32], output_sha256[32], index_sha256[32];
} score_checkpoint;

/* Write atomically. Returns 0 with a message in err on failure. */
int score_checkpoint_write(const char *path, const score_checkpoint *c, char *err, size_t errlen);

/* Returns 1 when read, 0 when there is no checkpoint, -1 when it is
 * unreadable, damaged, tampered with or inconsistent (err says why). */
int score_checkpoint_read(const char *path, score_checkpoint *c, char *err, size_t errlen);

/* The parser behind score_checkpoint_read, on text of len bytes (not
 * necessarily NUL-terminated): 1, or -1 with err set. Checks the version,
 * the checksum, every field's range and that the counts agree (scored +
 * errors = records, truncated <= scored, records <= lines <= input bytes,
 * a complete run's exit status 0 or 1 as its errors say). */
int score_checkpoint_parse(const char *text, size_t len, score_checkpoint *c, char *err, size_t errlen);

#endif /* ENCORE_CLI_SCORE_CHECKPOINT_H */
