/* pull.h: `encore pull`, download a model from the Hugging Face Hub into the
 * huggingface_hub cache and print its snapshot directory. */
#ifndef ENCORE_CLI_PULL_H
#define ENCORE_CLI_PULL_H

/* argv[0] is "pull"; the rest are its arguments:
 *   MODEL_ID [--revision REV] [--cache DIR] [--endpoint URL] [--quiet]
 * Prints the snapshot directory on stdout and progress on stderr. Returns the
 * exit status: 0 done, 1 download failed, 2 usage error. */
int encore_cli_pull(int argc, char **argv);

#endif /* ENCORE_CLI_PULL_H */
