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
    /* Running hashes for the checkpoints: of the records written (their
     * input, score_record_hash), of the output's bytes (past the .npy
     * header, which is rewritten in place) and of the index. */
    tools_sha256 records_hash, out_hash, index_hash;
    char error[512];
} score_writer;

/* Open the output: truncated and with a fresh header, or, to resume, check
 * the output against the checkpoint (its length, its hash, one line per
 * record ending on a line end, the .npy header and row count) and cut it
 * back to the length the checkpoint recorded. records_hash: the hash of the
 * records the checkpoint covers (score_reader_replay), NULL for a fresh run.
 * Returns 0 with w->error when the output does not match. */
int score_writer_open(score_writer *w, const score_options *o, const encore_model *model,
                      const score_checkpoint *resume_from, const tools_sha256 *records_hash);

/* Format one record's output into rec->out: its JSONL or TSV line, or with
 * --format npy its index line. result: width floats (NULL for an error
 * record). Thread-safe: any number of records at once. Returns 0 when out of
 * memory. */
int score_writer_format(const score_writer *w, score_record *rec, const float *result);

/* Append a formatted record (with --format npy, its row and index line).
 * Records must come in order. */
int score_writer_put(score_writer *w, const score_record *rec, const float *result);

/* Flush to the disk (fsync unless stdout) and record in *state the lengths
 * written and the hashes of the records and of the bytes written. */
int score_writer_sync(score_writer *w, score_checkpoint *state);

/* Close; returns 0 if a late write failed. */
int score_writer_close(score_writer *w);

#endif /* ENCORE_CLI_SCORE_OUTPUT_H */
