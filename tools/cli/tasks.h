/* tasks.h: `encore fill-mask`, `encore zero-shot`, `encore ner` and
 * `encore qa` (tasks.c). */
#ifndef ENCORE_CLI_TASKS_H
#define ENCORE_CLI_TASKS_H

/* argv[0] is the subcommand: "fill-mask", "zero-shot", "ner" or "qa".
 * Returns the exit status: 0, 1 when an input failed, 2 for bad options or
 * a model that cannot run the task. */
int encore_cli_task(int argc, char **argv, const char *default_model_dir);

#endif /* ENCORE_CLI_TASKS_H */
