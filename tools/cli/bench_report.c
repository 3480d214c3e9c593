/* bench_report.c: system description, table and JSON of `encore bench`. */
#include "bench_report.h"

#include <cJSON.h>

#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#ifndef ENCORE_BUILD_TYPE
#define ENCORE_BUILD_TYPE "unknown"
#endif

static void trim(char *s) {
    size_t n = strlen(s);
    while (n > 0 && (s[n - 1] == '\n' || s[n - 1] == '\r' || s[n - 1] == ' ')) s[--n] = '\0';
}

void bench_system_probe(bench_system *s, int threads) {
    memset(s, 0, sizeof *s);
    snprintf(s->cpu, sizeof s->cpu, "unknown CPU");
    FILE *f = fopen("/proc/cpuinfo", "r");
    if (f) {
        char line[512];
        while (fgets(line, sizeof line, f)) {
            if (strncmp(line, "model name", 10) == 0) {
                const char *colon = strchr(line, ':');
                if (colon) {
                    snprintf(s->cpu, sizeof s->cpu, "%s", colon + 1 + (colon[1] == ' '));
                    trim(s->cpu);
                }
                break;
            }
        }
        fclose(f);
    }
    long cores = sysconf(_SC_NPROCESSORS_ONLN);
    s->cores = cores > 0 ? (int)cores : 1;
    /* Without --threads the sessions leave OpenMP at its default:
     * OMP_NUM_THREADS when set, else one thread per core. */
    const char *omp = getenv("OMP_NUM_THREADS");
    s->threads = threads > 0 ? threads : omp && atoi(omp) > 0 ? atoi(omp) : s->cores;
    const char *sanitizers = "";
#if defined(__SANITIZE_ADDRESS__)
    sanitizers = " + ASan";
#endif
    const char *build = ENCORE_BUILD_TYPE;
    snprintf(s->build_type, sizeof s->build_type, "%s%s", build[0] ? build : "no build type", sanitizers);
    if (getloadavg(s->load, 3) != 3) s->load[0] = s->load[1] = s->load[2] = -1.0;
}

void bench_system_probe_gpu(bench_system *s, int device_index) {
    char cmd[256];
    snprintf(cmd, sizeof cmd,
             "nvidia-smi -i %d --query-gpu=name,clocks.sm,clocks.max.sm,clocks.mem,memory.total,driver_version "
             "--format=csv,noheader 2>/dev/null",
             device_index);
    FILE *p = popen(cmd, "r");
    if (!p) return;
    char line[256] = "";
    if (!fgets(line, sizeof line, p)) line[0] = '\0';
    pclose(p);
    trim(line);
    /* name, SM clock, max SM clock, memory clock, memory, driver */
    char *fields[6] = {0};
    int n = 0;
    for (char *save = NULL, *tok = strtok_r(line, ",", &save); tok && n < 6; tok = strtok_r(NULL, ",", &save)) {
        while (*tok == ' ') tok++;
        fields[n++] = tok;
    }
    if (n == 6)
        snprintf(s->gpu, sizeof s->gpu, "%s, SM clock %s (max %s), memory clock %s, %s, driver %s", fields[0],
                 fields[1], fields[2], fields[3], fields[4], fields[5]);
    else if (n >= 1)
        snprintf(s->gpu, sizeof s->gpu, "%s", fields[0]);
}

void bench_print_header(FILE *f, const bench_run *r) {
    const bench_shape *sh = &r->shape;
    fprintf(f, "encore %s bench: %s\n", ENCORE_VERSION, r->model_dir);
    fprintf(f, "model: %s, %d layers, hidden %d, %d heads, intermediate %d, ", r->architecture, sh->layers,
            sh->hidden, sh->heads, sh->intermediate);
    if (sh->labels > 0) fprintf(f, "%d labels", sh->labels);
    else fprintf(f, "no head (embeddings)");
    fprintf(f, ", max %d tokens\n", r->max_length);
    const bench_system *s = &r->system;
    fprintf(f, "cpu: %s, %d cores, %d thread%s; kernels %s, int8 %s; build %s; load average %.2f %.2f %.2f\n",
            s->cpu, s->cores, s->threads, s->threads == 1 ? "" : "s", encore_cpu_path(), encore_cpu_int8_kernel(),
            s->build_type, s->load[0], s->load[1], s->load[2]);
    if (s->gpu[0]) fprintf(f, "gpu: %s\n", s->gpu);
    const bench_options *o = r->options;
    if (o->texts_path) fprintf(f, "texts: %s (%d texts, call i takes the next `batch`)\n", o->texts_path, r->n_texts);
    else fprintf(f, "texts: synthetic, vocabulary words, exact token lengths\n");
    if (o->iters) fprintf(f, "timing: %d warm-up calls, %d timed calls per cell\n", o->warmup, o->iters);
    else
        fprintf(f, "timing: %d warm-up calls, then %.3g s (at least %d calls) per cell\n", o->warmup, o->seconds,
                BENCH_MIN_ITERS);
}

static const bench_cell *find_cell(const bench_run *r, const char *device, int batch, int seq_len) {
    for (int i = 0; i < r->n_cells; i++) {
        const bench_cell *c = &r->cells[i];
        if (strcmp(c->device, device) == 0 && c->batch == batch && c->seq_len == seq_len) return c;
    }
    return NULL;
}

double bench_speedup(const bench_run *r, const bench_cell *cuda) {
    const bench_cell *cpu = find_cell(r, "cpu", cuda->batch, cuda->seq_len);
    if (!cpu || cpu->skipped || cuda->skipped || cuda->latency_mean <= 0) return 0.0;
    return cpu->latency_mean / cuda->latency_mean;
}

void bench_print_table(FILE *f, const bench_run *r) {
    fprintf(f, "\n%-6s %-5s %6s %7s %10s %10s %10s %10s %10s %10s %11s %8s %6s\n", "device", "prec", "batch",
            r->options->texts_path ? "tokens" : "len", "tokenize", "model", "p50", "p90", "p99", "seq/s", "tokens/s",
            "GFLOP/s", "calls");
    fprintf(f, "%-6s %-5s %6s %7s %10s %10s %10s %10s %10s\n", "", "", "", r->options->texts_path ? "(mean)" : "",
            "p50 ms", "p50 ms", "ms", "ms", "ms");
    int cuda_seen = 0;
    for (int i = 0; i < r->n_cells; i++) {
        const bench_cell *c = &r->cells[i];
        char len[16];
        if (c->seq_len) snprintf(len, sizeof len, "%d", c->seq_len);
        else snprintf(len, sizeof len, "%.1f", c->mean_tokens);
        if (c->skipped) {
            fprintf(f, "%-6s %-5s %6d %7s   skipped: %s\n", c->device, c->precision, c->batch, c->seq_len ? len : "-",
                    c->skipped);
            continue;
        }
        cuda_seen |= strcmp(c->device, "cuda") == 0;
        fprintf(f, "%-6s %-5s %6d %7s %10.3f %10.3f %10.3f %10.3f %10.3f %10.1f %11.0f %8.1f %6d\n", c->device,
                c->precision, c->batch, len, c->tokenize_p50, c->model_p50, c->latency_p50, c->latency_p90,
                c->latency_p99, c->seq_per_s, c->tokens_per_s, c->model_gflop_per_s, c->iters);
    }
    if (!cuda_seen) return;
    fprintf(f, "\nspeed-up, cuda over cpu (mean latency, so throughput too):\n");
    for (int i = 0; i < r->n_cells; i++) {
        const bench_cell *c = &r->cells[i];
        double x = strcmp(c->device, "cuda") == 0 ? bench_speedup(r, c) : 0.0;
        if (x <= 0) continue;
        if (c->seq_len) fprintf(f, "  batch %d, len %d: %.1fx\n", c->batch, c->seq_len, x);
        else fprintf(f, "  batch %d: %.1fx\n", c->batch, x);
    }
}

/* Round to `digits` decimals so that the JSON reads well. */
static double rd(double v, int digits) {
    double scale = pow(10.0, digits);
    return round(v * scale) / scale;
}

static void add_stats(cJSON *obj, const char *name, double p50, double p90, double p99, double mean) {
    cJSON *o = cJSON_AddObjectToObject(obj, name);
    cJSON_AddNumberToObject(o, "p50", rd(p50, 4));
    if (p90 >= 0) cJSON_AddNumberToObject(o, "p90", rd(p90, 4));
    if (p99 >= 0) cJSON_AddNumberToObject(o, "p99", rd(p99, 4));
    cJSON_AddNumberToObject(o, "mean", rd(mean, 4));
}

static cJSON *cell_json(const bench_run *r, const bench_cell *c) {
    cJSON *o = cJSON_CreateObject();
    cJSON_AddStringToObject(o, "device", c->device);
    cJSON_AddStringToObject(o, "precision", c->precision);
    cJSON_AddNumberToObject(o, "batch", c->batch);
    if (c->seq_len) cJSON_AddNumberToObject(o, "seq_len", c->seq_len);
    else cJSON_AddNullToObject(o, "seq_len");
    if (c->skipped) {
        cJSON_AddStringToObject(o, "skipped", c->skipped);
        return o;
    }
    cJSON_AddNumberToObject(o, "iters", c->iters);
    cJSON_AddNumberToObject(o, "mean_tokens", rd(c->mean_tokens, 2));
    add_stats(o, "latency_ms", c->latency_p50, c->latency_p90, c->latency_p99, c->latency_mean);
    cJSON_AddNumberToObject(cJSON_GetObjectItem(o, "latency_ms"), "min", rd(c->latency_min, 4));
    add_stats(o, "tokenize_ms", c->tokenize_p50, -1, -1, c->tokenize_mean);
    add_stats(o, "model_ms", c->model_p50, c->model_p90, c->model_p99, c->model_mean);
    cJSON_AddNumberToObject(o, "seq_per_s", rd(c->seq_per_s, 2));
    cJSON_AddNumberToObject(o, "tokens_per_s", rd(c->tokens_per_s, 1));
    cJSON_AddNumberToObject(o, "model_gflop", rd(c->model_gflop, 6));
    cJSON_AddNumberToObject(o, "model_gflop_per_s", rd(c->model_gflop_per_s, 3));
    if (strcmp(c->device, "cuda") == 0) {
        double x = bench_speedup(r, c);
        if (x > 0) cJSON_AddNumberToObject(o, "speedup_vs_cpu", rd(x, 3));
    }
    return o;
}

int bench_write_json(const char *path, const bench_run *r, char *err, size_t err_len) {
    const bench_options *o = r->options;
    cJSON *root = cJSON_CreateObject();
    cJSON_AddStringToObject(root, "encore_version", ENCORE_VERSION);
    cJSON *model = cJSON_AddObjectToObject(root, "model");
    cJSON_AddStringToObject(model, "dir", r->model_dir);
    cJSON_AddStringToObject(model, "architecture", r->architecture);
    cJSON_AddNumberToObject(model, "layers", r->shape.layers);
    cJSON_AddNumberToObject(model, "hidden_size", r->shape.hidden);
    cJSON_AddNumberToObject(model, "heads", r->shape.heads);
    cJSON_AddNumberToObject(model, "intermediate_size", r->shape.intermediate);
    cJSON_AddNumberToObject(model, "labels", r->shape.labels);
    cJSON_AddNumberToObject(model, "max_length", r->max_length);
    cJSON *sys = cJSON_AddObjectToObject(root, "system");
    cJSON_AddStringToObject(sys, "cpu", r->system.cpu);
    cJSON_AddNumberToObject(sys, "cores", r->system.cores);
    cJSON_AddNumberToObject(sys, "threads", r->system.threads);
    cJSON_AddStringToObject(sys, "cpu_kernels", encore_cpu_path());
    cJSON_AddStringToObject(sys, "cpu_int8_kernel", encore_cpu_int8_kernel());
    cJSON_AddStringToObject(sys, "build_type", r->system.build_type);
    if (r->system.load[0] >= 0) {
        double load[3] = {rd(r->system.load[0], 2), rd(r->system.load[1], 2), rd(r->system.load[2], 2)};
        cJSON_AddItemToObject(sys, "load_average", cJSON_CreateDoubleArray(load, 3));
    }
    if (r->system.gpu[0]) cJSON_AddStringToObject(sys, "gpu", r->system.gpu);
    else cJSON_AddNullToObject(sys, "gpu");
    cJSON *set = cJSON_AddObjectToObject(root, "settings");
    if (o->texts_path) {
        cJSON_AddStringToObject(set, "texts", o->texts_path);
        cJSON_AddNumberToObject(set, "n_texts", r->n_texts);
    } else {
        cJSON_AddStringToObject(set, "texts", "synthetic");
    }
    cJSON_AddNumberToObject(set, "warmup", o->warmup);
    if (o->iters) cJSON_AddNumberToObject(set, "iters", o->iters);
    else cJSON_AddNumberToObject(set, "seconds", o->seconds);
    cJSON_AddStringToObject(set, "latency", "one call: tokenize the batch's texts, then run the model");
    cJSON_AddStringToObject(set, "flops", "matrix products of encoder and head, 2 per multiply-add, real tokens only");
    cJSON *cells = cJSON_AddArrayToObject(root, "cells");
    for (int i = 0; i < r->n_cells; i++) cJSON_AddItemToArray(cells, cell_json(r, &r->cells[i]));

    char *text = cJSON_Print(root);
    cJSON_Delete(root);
    if (!text) {
        snprintf(err, err_len, "out of memory writing the JSON");
        return 0;
    }
    int to_stdout = strcmp(path, "-") == 0;
    FILE *f = to_stdout ? stdout : fopen(path, "w");
    int ok = f && fputs(text, f) >= 0 && fputc('\n', f) != EOF;
    if (f && !to_stdout) ok = fclose(f) == 0 && ok;
    if (!ok) snprintf(err, err_len, "cannot write %s", path);
    free(text);
    return ok;
}
