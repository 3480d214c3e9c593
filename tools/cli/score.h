/* score.h: `encore score`, batch scoring of large files: streamed, tokenized
 * on a pool of threads, length-bucketed, written in input order, resumable
 * after an interruption (see score_pipeline.h). */
#ifndef ENCORE_CLI_SCORE_H
#define ENCORE_CLI_SCORE_H

/* argv[0] is "score"; the rest are its options (encore score --help).
 * Returns the exit status: 0 every record scored, 1 some records were errors
 * or --strict stopped, 2 usage, model or I/O error, 130 interrupted. */
int encore_cli_score(int argc, char **argv);

#endif /* ENCORE_CLI_SCORE_H */
