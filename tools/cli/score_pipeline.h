/* score_pipeline.h: the engine of `encore score`, a bounded pipeline
 *
 *   reader thread -> tokenizer threads -> model (calling thread) -> writer thread
 *
 * over a ring of 3 windows of records. The reader splits the input into
 * records; the tokenizer threads parse, check and tokenize them in any order;
 * the model takes one window of consecutive records at a time, sorts it by
 * length, runs it in batches of at most --batch-tokens tokens and hands it
 * on; the writer writes the window in input order and checkpoints. Memory is
 * bounded by the ring (3 windows of records, at most ~96 MiB of input text),
 * whatever the input's size. Checkpoints fall on window ends and a window's
 * end depends on the input alone, so a resumed run batches exactly as an
 * uninterrupted one and its output is the same to the byte. */
#ifndef ENCORE_CLI_SCORE_PIPELINE_H
#define ENCORE_CLI_SCORE_PIPELINE_H

#include "score_checkpoint.h"
#include "score_input.h"
#include "score_output.h"
#include "score_progress.h"

#include <signal.h>
#include <stdatomic.h>

/* Set by a SIGINT/SIGTERM handler: finish the scored records, checkpoint,
 * stop. */
extern volatile sig_atomic_t score_interrupt_requested;

typedef enum score_outcome {
    SCORE_OUTCOME_DONE = 0,      /* the whole input */
    SCORE_OUTCOME_STRICT,        /* --strict met a bad record */
    SCORE_OUTCOME_INTERRUPTED,
    SCORE_OUTCOME_FAILED         /* an I/O or model error ends the run */
} score_outcome;

typedef struct score_job {
    const score_options *o;
    const encore_model *model;
    encore_session *session;
    score_reader *reader;
    score_writer *writer;
    score_progress *progress;
    const char *checkpoint_path;  /* NULL: no checkpoints (stdout) */
    /* In: where the run starts (job, offsets, counts). Out: where it ended,
     * the output synced to it, ready to be written as the final checkpoint. */
    score_checkpoint state;
    /* Out. */
    score_timing timing;
    int64_t strict_line;          /* --strict: the line of the bad record */
    char strict_message[256];
    char error[512];              /* why it failed */
} score_job;

score_outcome score_pipeline_run(score_job *job);

#endif /* ENCORE_CLI_SCORE_PIPELINE_H */
