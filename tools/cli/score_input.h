/* score_input.h: `encore score` input, streamed: split a file into records
 * (one reader thread), then parse and tokenize each record (any thread).
 *
 * Formats: JSONL (a field of each object), TSV and CSV with a header row (a
 * column), or plain text (one text per line). A record remembers the byte
 * offset just past it and its line numbers, so that a run can resume there. */
#ifndef ENCORE_CLI_SCORE_INPUT_H
#define ENCORE_CLI_SCORE_INPUT_H

#include "encore.h"
#include "score_options.h"
#include "sha256.h"

#include <stdatomic.h>
#include <stddef.h>
#include <stdint.h>
#include <time.h>

/* What can be wrong with a record. The names appear in error records and in
 * the summary. */
typedef enum score_problem {
    SCORE_PROBLEM_NONE = 0,
    SCORE_PROBLEM_INVALID_UTF8,
    SCORE_PROBLEM_MALFORMED,       /* malformed JSON or CSV, or not a JSON object */
    SCORE_PROBLEM_MISSING_FIELD,   /* the text, pair or a given id field is missing or not a string */
    SCORE_PROBLEM_EMPTY_TEXT,      /* empty or white space only */
    SCORE_PROBLEM_TOO_LARGE,       /* longer than --max-record-bytes */
    SCORE_PROBLEM_TOO_LONG,        /* more tokens than the model takes, with --no-truncation */
    SCORE_PROBLEM_FAILED,          /* the tokenizer or the model failed otherwise */
    SCORE_PROBLEM_COUNT
} score_problem;

/* "invalid_utf8", "malformed", ... */
const char *score_problem_name(score_problem p);

typedef struct score_record {
    int64_t seq;             /* 0-based record number */
    int64_t line;            /* 1-based line where the record starts */
    int64_t end_line;        /* lines consumed up to and including the record */
    int64_t end_offset;      /* input byte offset just past the record */
    char *raw;               /* (raw_len + 1) the record's bytes without the line end, NUL added */
    size_t raw_len, raw_cap;
    int oversized;           /* the record was longer than the limit; raw holds its start */
    /* Filled by score_record_prepare(). */
    char *id;                /* id text (malloc), or NULL: the output carries the line */
    int id_is_string;        /* 1: a JSON string; 0: a JSON literal to write as it is */
    score_problem problem;
    char message[192];
    encore_encoding *enc;        /* classify and embed: the tokens */
    char *text, *pair;           /* the structured tasks (task.h): the texts, copied */
    char *answer;                /* ... and what the pipeline returned, as JSON */
    int truncated;
    /* Filled by score_writer_format(): the record's output text. */
    char *out;
    size_t out_len;
} score_record;

/* Free what score_record_prepare() made; keeps the raw buffer for reuse
 * unless it grew large. */
void score_record_reset(score_record *r);
void score_record_free(score_record *r);

typedef struct score_reader {
    int fd;
    int is_pipe;             /* stdin or another stream that cannot seek */
    int is_file;             /* a regular file: it must not change while it is read */
    int64_t file_size;       /* its size and modification time when opened */
    struct timespec file_mtime;
    char *buf;               /* read buffer */
    size_t buf_len, buf_pos;
    int eof;
    int64_t offset;          /* bytes consumed */
    int64_t line;            /* lines consumed */
    int64_t size;            /* file size, or -1 when unknown */
    score_input_format format;
    size_t max_record;
    /* TSV/CSV: columns of the header; -1 when absent. */
    int text_col, pair_col, id_col;
    int n_columns;
    char error[256];         /* why a read failed */
    atomic_int *cancel;      /* non-zero: a read from a pipe gives up (returns -1) */
} score_reader;

/* Open the input, resolve the format and read the header of TSV/CSV. Returns
 * 0 and fills r->error on failure. */
int score_reader_open(score_reader *r, const score_options *o);
void score_reader_close(score_reader *r);

/* Resume: read the first `records` records again and check that they end at
 * byte `offset` and line `line` of the input and that their hash
 * (score_record_hash, from an empty hash) is `sha256`; *hash gets it, to go
 * on with. Returns 0 with r->error when anything differs. */
int score_reader_replay(score_reader *r, int64_t records, int64_t offset, int64_t line, const uint8_t sha256[32],
                        tools_sha256 *hash);

/* A regular file that changed since it was opened (other size or
 * modification time, or cut shorter than what was read): 0 and why in err;
 * else 1. Thread-safe. */
int score_reader_unchanged(const score_reader *r, char *err, size_t errlen);

/* Add a record to a running hash of the records done: its lines, where it
 * ends, and its bytes as read (the start of an oversized one). */
void score_record_hash(tools_sha256 *h, const score_record *rec);

/* The next record into rec (its raw fields; seq is the caller's). Returns 1
 * for a record, 0 at the end of the input, -1 on a read error (r->error). */
int score_reader_next(score_reader *r, score_record *rec);

/* Parse the record, check it, and tokenize it: fills id, problem, message,
 * enc and truncated. Thread-safe: any number of records at once. */
void score_record_prepare(const score_reader *r, const score_options *o, const encore_model *model,
                          score_record *rec);

#endif /* ENCORE_CLI_SCORE_INPUT_H */
