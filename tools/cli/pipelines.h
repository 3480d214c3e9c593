/* pipelines.h: `encore fill-mask` and `encore zero-shot` (pipelines.c). */
#ifndef ENCORE_CLI_PIPELINES_H
#define ENCORE_CLI_PIPELINES_H

/* argv[0] is "fill-mask" or "zero-shot". Returns the exit status: 0, 1 when
 * a text failed, 2 for bad options or a model that cannot run the task. */
int encore_cli_pipeline(int argc, char **argv, const char *default_model_dir);

#endif /* ENCORE_CLI_PIPELINES_H */
