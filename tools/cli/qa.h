/* qa.h: `encore qa`, question answering on the command line (qa.c). */
#ifndef ENCORE_CLI_QA_H
#define ENCORE_CLI_QA_H

/* argv[0] is "qa". Returns the exit status: 0, 1 when a question failed, 2
 * for bad options or a model without a span head. */
int encore_cli_qa(int argc, char **argv, const char *default_model_dir);

#endif /* ENCORE_CLI_QA_H */
