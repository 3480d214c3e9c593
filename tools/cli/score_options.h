/* score_options.h: the command line of `encore score`. */
#ifndef ENCORE_CLI_SCORE_OPTIONS_H
#define ENCORE_CLI_SCORE_OPTIONS_H

#include "encore.h"
#include "model_options.h"
#include "task.h"

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

typedef enum score_input_format {
    SCORE_INPUT_AUTO = 0,   /* from the file name, else by looking at the first byte */
    SCORE_INPUT_JSONL,
    SCORE_INPUT_TSV,
    SCORE_INPUT_CSV,
    SCORE_INPUT_TEXT        /* one text per line */
} score_input_format;

typedef enum score_output_format {
    SCORE_OUTPUT_JSONL = 0,
    SCORE_OUTPUT_TSV,
    SCORE_OUTPUT_NPY        /* float32 matrix (records, width) + an index of ids, JSONL */
} score_output_format;

typedef enum score_progress_mode {
    SCORE_PROGRESS_AUTO = 0, /* human on a terminal, none otherwise */
    SCORE_PROGRESS_HUMAN,
    SCORE_PROGRESS_JSON,
    SCORE_PROGRESS_NONE
} score_progress_mode;

typedef struct score_options {
    tools_model_options model;    /* --model, --device, --precision, --threads, --weights, --no-truncation, --quiet */
    const char *input_path;       /* "-" for stdin */
    const char *output_path;      /* "-" for stdout (no checkpoint) */
    const char *checkpoint_path;  /* default OUTPUT.ckpt */
    score_input_format input_format;
    score_output_format format;
    const char *text_field;       /* default "text" */
    int text_field_given;
    const char *pair_field;       /* NULL: single texts */
    const char *id_field;         /* default "id"; optional unless given */
    int id_field_given;
    int top_k;                    /* labels per record; -1 = all */
    int top_k_given;              /* --top-k was given: write a list of {label, score} */
    cli_task task;                /* --task; CLI_TASK_AUTO until score_options_resolve_task() */
    cli_task_params task_params;  /* the options of fill-mask, zero-shot, ner and qa */
    encore_pooling pooling;
    int normalize;
    int batch_tokens;             /* tokens per forward pass */
    int window;                   /* records sorted by length together */
    int tokenizer_threads;        /* workers: parse, tokenize, format */
    score_progress_mode progress;
    double checkpoint_every;      /* seconds between checkpoints; 0 = after every window */
    size_t max_record_bytes;
    int resume;
    int strict;
    char checkpoint_buf[4096];
} score_options;

/* argv[0] is "score". Returns 1 when the options are usable, 0 after printing
 * why they are not, -1 for --help. */
int score_parse_args(int argc, char **argv, score_options *o);

void score_usage(FILE *f);

/* Once the model is loaded: the task (--task, else zero-shot when --labels
 * was given, else the model's own, cli_task_for_model), checked against the
 * model and the other options; qa reads "question" and "context" unless the
 * fields are named. Returns 0 after printing why on stderr. */
int score_options_resolve_task(score_options *o, const encore_model *model);

/* The options that decide the output's bytes, as one line; a checkpoint
 * written with another line belongs to another job. device: where the
 * session runs after any fallback (with the weights and, on a GPU, the
 * precision: they change the scores). */
void score_job_string(const score_options *o, score_input_format resolved_input, encore_device device, char *buf,
                      size_t len);

const char *score_input_format_name(score_input_format f);

#endif /* ENCORE_CLI_SCORE_OPTIONS_H */
