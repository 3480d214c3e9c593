/* bench_plot.h: `encore bench --plot`: a PNG drawn by gnuplot through a pipe:
 * latency (p50) against batch for each device and length, throughput against
 * batch, and the CUDA/CPU speed-up written on the throughput panel when both
 * devices ran. */
#ifndef ENCORE_CLI_BENCH_PLOT_H
#define ENCORE_CLI_BENCH_PLOT_H

#include "bench_report.h"

#include <stddef.h>

/* Returns 0 with a message in err when gnuplot is missing or fails. */
int bench_plot(const char *png_path, const bench_run *r, char *err, size_t err_len);

#endif /* ENCORE_CLI_BENCH_PLOT_H */
