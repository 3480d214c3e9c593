/* bench.h: `encore bench`, latency and throughput of a model on the CPU and
 * the GPU: per (device, batch, length) cell, p50/p90/p99 latency, sequences
 * and tokens per second, achieved GFLOP/s of the model part, tokenization
 * time on its own; a table on stdout, --json for machines, --plot for a PNG
 * drawn by gnuplot. */
#ifndef ENCORE_CLI_BENCH_H
#define ENCORE_CLI_BENCH_H

/* argv[0] is "bench"; the rest are its options (encore bench --help).
 * default_model_dir is used without --model. Returns the exit status: 0 every
 * cell measured (cells skipped for a reason still count), 1 a cell failed or
 * the JSON or plot could not be written, 2 usage or model error. */
int encore_cli_bench(int argc, char **argv, const char *default_model_dir);

#endif /* ENCORE_CLI_BENCH_H */
