/* pull.h: `encore pull`, download a model from the Hugging Face Hub into the
 * huggingface_hub cache and print its snapshot directory. */
#ifndef ENCORE_CLI_PULL_H
#define ENCORE_CLI_PULL_H

/* argv[0] is "pull"; the rest are its arguments:
 *   MODEL_ID [--revision REV] [--cache DIR] [--endpoint URL] [--quiet]
 * Prints the snapshot directory on stdout and progress on stderr. Returns the
 * exit status: 0 done, 1 download failed, 2 usage error. */
int encore_cli_pull(int argc, char **argv);

/* The huggingface_hub cache folder: $HF_HUB_CACHE, else $HF_HOME/hub, else
 * $XDG_CACHE_HOME/huggingface/hub, else ~/.cache/huggingface/hub. malloc'd. */
char *encore_cli_hub_cache(void);

#endif /* ENCORE_CLI_PULL_H */
