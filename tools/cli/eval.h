/* eval.h: `encore eval`, accuracy on a labelled TSV file. */
#ifndef ENCORE_CLI_EVAL_H
#define ENCORE_CLI_EVAL_H

#include "encore.h"

typedef struct eval_options {
    const char *path;          /* TSV with a header row; "-" for stdin */
    const char *text_column;   /* default "sentence" */
    const char *label_column;  /* default "label" */
    int batch;
    int progress;              /* progress on stderr even when it is not a terminal */
} eval_options;

/* Prints accuracy, counts and throughput; returns the exit status. */
int encore_cli_eval(const encore_model *model, encore_session *session, const eval_options *o);

#endif /* ENCORE_CLI_EVAL_H */
