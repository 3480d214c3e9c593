/* task.h: the pipelines that answer with structured JSON (fill-mask,
 * zero-shot, token classification, question answering), shared by their
 * subcommands (tasks.c) and by `encore score`: which model runs which task,
 * the task's options, and one input run to the pipeline's JSON as Python's
 * json.dumps writes what transformers returns. */
#ifndef ENCORE_CLI_TASK_H
#define ENCORE_CLI_TASK_H

#include "encore.h"

#include <stddef.h>
#include <stdio.h>

typedef enum cli_task {
    CLI_TASK_AUTO = 0, /* from the model: cli_task_for_model() */
    CLI_TASK_CLASSIFY,
    CLI_TASK_EMBED,
    CLI_TASK_FILL_MASK,
    CLI_TASK_ZERO_SHOT,
    CLI_TASK_NER,
    CLI_TASK_QA
} cli_task;

/* "classify", "embed", "fill-mask", "zero-shot", "ner", "qa" ("auto" for
 * CLI_TASK_AUTO). */
const char *cli_task_name(cli_task task);
/* The names above, plus the pipelines' own ("text-classification",
 * "feature-extraction", "zero-shot-classification", "token-classification",
 * "question-answering"). Returns 0 for another name. */
int cli_task_from_name(const char *name, cli_task *out);
/* The task transformers' pipeline() picks for the model's architecture:
 * fill-mask for *ForMaskedLM, ner and qa for the per-token heads, classify
 * for a classifier, embed otherwise. Zero-shot is never picked: it is asked
 * for. */
cli_task cli_task_for_model(const encore_model *model);
/* Whether the model can run the task; 0 with why in err when not. */
int cli_task_check_model(cli_task task, const encore_model *model, const char *model_dir, char *err, size_t len);
/* Tasks whose output is the pipeline's structured JSON (cli_task_run). */
int cli_task_is_structured(cli_task task);

/* The task options, as the pipelines name them. */
typedef struct cli_task_params {
    int top_k;                   /* fill-mask (default 5), qa (default 1); 0: the default */
    char **targets;              /* fill-mask --targets, split at commas as written */
    int n_targets;
    char **labels;               /* zero-shot --labels, split at commas and stripped */
    int n_labels;
    const char *hypothesis_template;
    int multi_label;
    encore_aggregation aggregation;
    int aggregation_given;
    char **ignore_labels;        /* ner --ignore-labels; NULL: the pipeline's default */
    int n_ignore_labels;
    int ignore_labels_given;
    int stride;                  /* ner --stride; -1 without */
    encore_qa_params qa;         /* its top_k is set from top_k by cli_task_run */
    unsigned given;              /* bit (1 << task) for each task an option given belongs to */
} cli_task_params;

void cli_task_params_init(cli_task_params *p);
void cli_task_params_free(cli_task_params *p);

/* Read option a (with next, the argument after it, or NULL) if it is a task
 * option. Returns 0 when it is not one, 1 when it took no value, 2 when it
 * took next, -1 after printing "PROG: why" on stderr. --top-k is not read
 * here: the caller owns it (classifiers take "all"). */
int cli_task_option(cli_task_params *p, const char *a, const char *next, const char *prog);
/* After the task is known: options of another task, a missing --labels,
 * lists that split to nothing, --stride with strategy none. 0 after printing
 * "PROG: why". */
int cli_task_check_params(const cli_task_params *p, cli_task task, const char *prog);
/* A SHA-256 (hex) of the options that change the task's answers, so that a
 * resumed `encore score` run can tell that they are the same. */
void cli_task_params_digest(const cli_task_params *p, char hex[65]);
/* The usage lines of the task's options. */
void cli_task_usage(FILE *f, cli_task task);

/* Run one input and write the pipeline's answer as JSON to out, without a
 * line end. text: the text (qa: the question); pair: qa's context, NULL for
 * the others. Returns the call's status; on failure nothing is written and
 * the session's last error says why. */
encore_status cli_task_run(encore_session *session, cli_task task, const cli_task_params *p, const char *text,
                           const char *pair, FILE *out);
/* Whether a failure would fail every input alike (the model or the options,
 * not the input). */
int cli_task_failure_is_fatal(encore_status status);

#endif /* ENCORE_CLI_TASK_H */
