/* score_output.h: the output of `encore score`: one record per input record,
 * in input order, as JSONL, TSV, or a float32 .npy matrix plus a JSONL index.
 *
 * JSONL, classifier:  {"id": "a7", "label": "POSITIVE", "score": 0.9998}
 *   with --top-k:     {"id": "a7", "scores": [{"label": "POSITIVE", "score": 0.9998}, ...]}
 * JSONL, embedding:   {"id": "a7", "embedding": [0.0132, ...]}
 * A record without an id carries "line" instead; a truncated text adds
 * "truncated": true; a bad record is {"id"?, "line", "error", "problem"}.
 * Numbers are written as Python's json.dumps writes the pipeline's floats
 * (json_out.h), so they read back to the same float32. */
#ifndef ENCORE_CLI_SCORE_OUTPUT_H
#define ENCORE_CLI_SCORE_OUTPUT_H

#include "score_checkpoint.h"
#include "score_input.h"
#include "score_options.h"

#include <stdint.h>
#include <stdio.h>

typedef struct score_writer {
    const score_options *o;
    const encore_model *model;
    int n_labels;            /* 0: an embedding model */
    int width;               /* floats per result: n_labels or hidden size */
    FILE *out;
    FILE *index;             /* --format npy */
    char index_path[4200];
    int64_t rows;            /* --format npy: rows written (row i is record i) */
    char error[256];
} score_writer;

/* Open the output: truncated and with a fresh header, or, to resume, cut back
 * to the lengths a checkpoint recorded. */
int score_writer_open(score_writer *w, const score_options *o, const encore_model *model,
                      const score_checkpoint *resume_from);

/* Format one record's output into rec->out: its JSONL or TSV line, or with
 * --format npy its index line. result: width floats (NULL for an error
 * record). Thread-safe: any number of records at once. Returns 0 when out of
 * memory. */
int score_writer_format(const score_writer *w, score_record *rec, const float *result);

/* Append a formatted record (with --format npy, its row and index line).
 * Records must come in order. */
int score_writer_put(score_writer *w, const score_record *rec, const float *result);

/* Flush to the disk (fsync unless stdout) and report the lengths written. */
int score_writer_sync(score_writer *w, int64_t *out_bytes, int64_t *index_bytes);

/* Close; returns 0 if a late write failed. */
int score_writer_close(score_writer *w);

#endif /* ENCORE_CLI_SCORE_OUTPUT_H */
