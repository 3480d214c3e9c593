/* ner.h: `encore ner` (ner.c). */
#ifndef ENCORE_CLI_NER_H
#define ENCORE_CLI_NER_H

/* argv[0] is "ner". Returns the exit status: 0, 1 when a text failed, 2 for
 * bad options or a model without a token classifier. */
int encore_cli_ner(int argc, char **argv, const char *default_model_dir);

#endif /* ENCORE_CLI_NER_H */
