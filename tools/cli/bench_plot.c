/* bench_plot.c: write a gnuplot script down a pipe to `gnuplot`. */
#include "bench_plot.h"

#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>

/* A string inside gnuplot's single quotes: a quote is written twice. */
static void put_quoted(FILE *p, const char *s) {
    fputc('\'', p);
    for (; *s; s++) {
        if (*s == '\'') fputc('\'', p);
        if (*s != '\n') fputc(*s, p);
    }
    fputc('\'', p);
}

/* One line of the plot: a device and a length, points by batch. */
typedef struct series {
    const char *device;
    int seq_len;
} series;

static int find_series(const series *s, int n, const char *device, int seq_len) {
    for (int i = 0; i < n; i++)
        if (strcmp(s[i].device, device) == 0 && s[i].seq_len == seq_len) return i;
    return -1;
}

static void series_title(char *buf, size_t n, const series *s, int texts) {
    if (texts) snprintf(buf, n, "%s, texts", s->device);
    else snprintf(buf, n, "%s, %d tokens", s->device, s->seq_len);
}

static void write_script(FILE *p, const char *png_path, const bench_run *r) {
    const int texts = r->options->texts_path != NULL;
    series list[2 * 16 * 2];
    int n_series = 0, lens[64], n_lens = 0;
    int has_cuda = 0;
    double x_min = 0, x_max = 0, best = 0, worst = 0;
    for (int i = 0; i < r->n_cells; i++) {
        const bench_cell *c = &r->cells[i];
        if (c->skipped) continue;
        if (find_series(list, n_series, c->device, c->seq_len) < 0 && n_series < (int)(sizeof list / sizeof *list))
            list[n_series++] = (series){c->device, c->seq_len};
        int known = 0;
        for (int k = 0; k < n_lens; k++) known |= lens[k] == c->seq_len;
        if (!known && n_lens < 64) lens[n_lens++] = c->seq_len;
        if (x_max == 0 || c->batch < x_min) x_min = c->batch;
        if (c->batch > x_max) x_max = c->batch;
        if (strcmp(c->device, "cuda") == 0) {
            has_cuda = 1;
            double x = bench_speedup(r, c);
            if (x > 0 && (best == 0 || x > best)) best = x;
            if (x > 0 && (worst == 0 || x < worst)) worst = x;
        }
    }

    fprintf(p, "set terminal pngcairo size 1400,600 enhanced font 'DejaVu Sans,11'\nset encoding utf8\nset output ");
    put_quoted(p, png_path);
    fputc('\n', p);
    /* Data blocks: batch, latency p50, p90, throughput (seq/s). */
    for (int s = 0; s < n_series; s++) {
        fprintf(p, "$s%d << EOD\n", s);
        for (int i = 0; i < r->n_cells; i++) {
            const bench_cell *c = &r->cells[i];
            if (c->skipped || strcmp(c->device, list[s].device) != 0 || c->seq_len != list[s].seq_len) continue;
            fprintf(p, "%d %.6g %.6g %.6g\n", c->batch, c->latency_p50, c->latency_p90, c->seq_per_s);
        }
        fprintf(p, "EOD\n");
    }
    char title[768];
    const char *slash = strrchr(r->model_dir, '/');
    const char *name = slash && slash[1] ? slash + 1 : r->model_dir;
    int len = snprintf(title, sizeof title, "encore bench: %s (%s, %d layers, hidden %d), %s, %d thread%s", name,
                       r->architecture, r->shape.layers, r->shape.hidden, r->system.cpu, r->system.threads,
                       r->system.threads == 1 ? "" : "s");
    if (has_cuda && r->system.gpu[0] && len > 0 && (size_t)len < sizeof title) {
        char gpu[sizeof r->system.gpu];
        snprintf(gpu, sizeof gpu, "%s", r->system.gpu);
        char *comma = strchr(gpu, ',');
        if (comma) *comma = '\0';
        snprintf(title + len, sizeof title - (size_t)len, " vs %s", gpu);
    }
    fprintf(p, "set multiplot layout 1,2 title ");
    put_quoted(p, title);
    fprintf(p, " font ',13'\n");
    fprintf(p, "set logscale xy 2\nset logscale y 10\nset grid xtics ytics mxtics mytics lc rgb '#dddddd'\n");
    fprintf(p, "set xrange [%g:%g]\nset xtics (", x_min / 1.5, x_max * 2.0);
    int first = 1;
    for (int b = 0; b < r->options->n_batches; b++) {
        fprintf(p, "%s\"%d\" %d", first ? "" : ", ", r->options->batches[b], r->options->batches[b]);
        first = 0;
    }
    fprintf(p, ")\nset xlabel 'batch (texts per call)' offset 0,0.3\nset key below horizontal height 1.5\n");
    fprintf(p, "set format y '%%g'\n");

    for (int panel = 0; panel < 2; panel++) {
        if (panel == 0) {
            fprintf(p, "set title 'latency of one call, p50 (tokenization included)'\nset ylabel 'ms'\n");
        } else {
            fprintf(p, "set title 'throughput'\nset ylabel 'sequences / s'\n");
            if (has_cuda && best > 0) {
                /* The speed-up next to each CUDA point, and its range. */
                int tag = 1;
                for (int i = 0; i < r->n_cells; i++) {
                    const bench_cell *c = &r->cells[i];
                    double x = !c->skipped && strcmp(c->device, "cuda") == 0 ? bench_speedup(r, c) : 0.0;
                    if (x <= 0) continue;
                    fprintf(p, "set label %d '%.1f×' at %d,%.6g offset 0.6,0.7 font ',9' tc rgb '#444444'\n", tag++, x,
                            c->batch, c->seq_per_s);
                }
                fprintf(p, "set label %d 'CUDA/CPU speed-up: %.1f× to %.1f×' at graph 0.03,0.95 font ',12'\n", tag,
                        worst, best);
            } else {
                fprintf(p, "set label 1 'CPU only: no CUDA cell ran' at graph 0.03,0.95 font ',10' tc rgb '#666666'\n");
            }
        }
        fprintf(p, "plot ");
        for (int s = 0; s < n_series; s++) {
            int color = 1;
            for (int k = 0; k < n_lens; k++)
                if (lens[k] == list[s].seq_len) color = k + 1;
            const int cuda = strcmp(list[s].device, "cuda") == 0;
            char t[64];
            series_title(t, sizeof t, &list[s], texts);
            fprintf(p, "%s$s%d using 1:%d with linespoints lw 2 lc %d dt %d pt %d ps 1.2 title ", s ? ", " : "", s,
                    panel == 0 ? 2 : 4, color, cuda ? 2 : 1, cuda ? 5 : 7);
            put_quoted(p, t);
        }
        fprintf(p, "\n");
        if (panel == 1) fprintf(p, "unset label\n");
    }
    fprintf(p, "unset multiplot\nset output\n");
}

int bench_plot(const char *png_path, const bench_run *r, char *err, size_t err_len) {
    int measured = 0;
    for (int i = 0; i < r->n_cells; i++) measured += !r->cells[i].skipped;
    if (!measured) {
        snprintf(err, err_len, "no cell was measured: nothing to plot");
        return 0;
    }
    remove(png_path);
    /* A missing gnuplot closes the pipe early: report it, do not die of it. */
    void (*old)(int) = signal(SIGPIPE, SIG_IGN);
    FILE *p = popen("gnuplot", "w");
    if (!p) {
        signal(SIGPIPE, old);
        snprintf(err, err_len, "cannot run gnuplot");
        return 0;
    }
    write_script(p, png_path, r);
    int write_failed = ferror(p);
    int status = pclose(p);
    signal(SIGPIPE, old);
    struct stat st;
    if (WIFEXITED(status) && WEXITSTATUS(status) == 127) {
        snprintf(err, err_len, "gnuplot is not installed (Debian: apt-get install gnuplot-nox)");
        return 0;
    }
    if (status != 0 || write_failed || stat(png_path, &st) != 0 || st.st_size == 0) {
        snprintf(err, err_len, "gnuplot failed to draw %s (its messages are above)", png_path);
        return 0;
    }
    return 1;
}
