/* serve.h: `encore serve`, an HTTP server for one model that speaks Hugging
 * Face text-embeddings-inference's API (see README, "Serving"). */
#ifndef ENCORE_SERVE_H
#define ENCORE_SERVE_H

/* The serve command: argv[0] is "serve". default_model_dir is the model used
 * without --model (may be NULL). Returns the process exit status: 0 after a
 * clean shutdown (SIGTERM, SIGINT), 2 on a usage or model error. */
int encore_cli_serve(int argc, char **argv, const char *default_model_dir);

#endif /* ENCORE_SERVE_H */
