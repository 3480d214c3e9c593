/* bench_options.c: parse the command line of `encore bench`. */
#include "bench_options.h"

#include "parse_number.h"
#include "weights_option.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

void bench_usage(FILE *f) {
    fprintf(f,
            "usage: encore bench --model DIR [--device cpu,cuda] [--batch 1,8,64]\n"
            "                    [--seq-len 32,128,512 | --texts FILE] [--warmup N]\n"
            "                    [--iters N | --seconds S] [--threads N] [--json FILE] [--plot FILE.png]\n"
            "\n"
            "Measures latency and throughput for every (device, batch, length) cell: each\n"
            "timed call tokenizes `batch` texts and runs the model on them. Prints a table;\n"
            "--json writes every figure, --plot draws latency and throughput against batch\n"
            "(with the CUDA/CPU speed-up when both devices ran) with gnuplot.\n"
            "\n"
            "options:\n"
            "  --model DIR        Hugging Face model directory (default: $ENCORE_MODEL, else the\n"
            "                     default model that scripts/setup.sh assembles)\n"
            "  --device LIST      cpu, cuda or cpu,cuda (default cpu). Without a usable GPU the\n"
            "                     cuda cells are reported as skipped, not measured on the CPU\n"
            "  --batch LIST       texts per call (default 1,8,64)\n"
            "  --seq-len LIST     tokens per synthetic text, [CLS] and [SEP] included (default\n"
            "                     32,128,512); texts are built from vocabulary words so that\n"
            "                     each has exactly this many tokens. Lengths above the model's\n"
            "                     maximum (an embedding model's: max_seq_length) are reported\n"
            "                     as skipped\n"
            "  --texts FILE       real texts instead, one per line (a TSV file with a header row\n"
            "                     naming a 'sentence' or 'text' column, as SST-2's dev.tsv, is read\n"
            "                     by that column); call i takes the next `batch` texts, cycling\n"
            "  --warmup N         untimed calls before each cell (default 2)\n"
            "  --iters N          timed calls per cell\n"
            "  --seconds S        time each cell for S seconds, at least %d calls (default 2)\n"
            "  --threads N        CPU threads (default: all cores)\n"
            ENCORE_WEIGHTS_OPTION_HELP
            "  --gpu N            which GPU for cuda cells (default 0)\n"
            "  --precision P      cuda cells: default (fp16), fp32, fp16 or bf16; the CPU is fp32\n"
            "  --json FILE        write the results as JSON (- for stdout, then no table)\n"
            "  --plot FILE.png    draw latency and throughput against batch (needs gnuplot)\n"
            "  --quiet            no progress or log lines on stderr\n"
            "\n"
            "Latency is the wall time of one call, tokenization included; 'tokenize' and\n"
            "'model' split it. GFLOP/s counts the model part only: the matrix products of\n"
            "the encoder (Q/K/V, attention scores and context, output projection, FFN) and\n"
            "the head, 2 FLOP per multiply-add, on the real tokens (no padding).\n",
            BENCH_MIN_ITERS);
}

/* A comma-separated list of positive integers. */
static int parse_int_list(const char *flag, const char *s, int *out, int *n) {
    *n = 0;
    const char *p = s;
    while (*p) {
        char *end = NULL;
        errno = 0;
        long v = strtol(p, &end, 10);
        if (end == p || errno || v < 1 || v > 1000000 || (*end && *end != ',')) {
            fprintf(stderr, "encore bench: %s takes positive numbers separated by commas, not '%s'\n", flag, s);
            return 0;
        }
        if (*n == BENCH_MAX_LIST) {
            fprintf(stderr, "encore bench: %s takes at most %d values\n", flag, BENCH_MAX_LIST);
            return 0;
        }
        out[(*n)++] = (int)v;
        p = *end ? end + 1 : end;
    }
    if (*n == 0) {
        fprintf(stderr, "encore bench: %s needs at least one value\n", flag);
        return 0;
    }
    return 1;
}

static int parse_devices(const char *s, bench_options *o) {
    o->n_devices = 0;
    char buf[64];
    snprintf(buf, sizeof buf, "%s", s);
    for (char *save = NULL, *tok = strtok_r(buf, ",", &save); tok; tok = strtok_r(NULL, ",", &save)) {
        encore_device d;
        if (strcmp(tok, "cpu") == 0) d = ENCORE_DEVICE_CPU;
        else if (strcmp(tok, "cuda") == 0 || strcmp(tok, "gpu") == 0) d = ENCORE_DEVICE_CUDA;
        else {
            fprintf(stderr, "encore bench: --device takes cpu, cuda or cpu,cuda, not '%s'\n", s);
            return 0;
        }
        for (int i = 0; i < o->n_devices; i++)
            if (o->devices[i] == d) d = (encore_device)-1;
        if ((int)d >= 0) o->devices[o->n_devices++] = d;
    }
    if (o->n_devices == 0) {
        fprintf(stderr, "encore bench: --device needs cpu and/or cuda\n");
        return 0;
    }
    return 1;
}

static int parse_positive(const char *flag, const char *s, int allow_zero, int *out) {
    long v;
    if (!tools_parse_long(s, allow_zero ? 0 : 1, 1000000000, &v)) {
        fprintf(stderr, "encore bench: %s takes a %s number, not '%s'\n", flag, allow_zero ? "non-negative" : "positive",
                s);
        return 0;
    }
    *out = (int)v;
    return 1;
}

int bench_parse_args(int argc, char **argv, const char *default_model_dir, bench_options *o) {
    memset(o, 0, sizeof *o);
    o->devices[0] = ENCORE_DEVICE_CPU;
    o->n_devices = 1;
    const int batches[] = {1, 8, 64}, lens[] = {32, 128, 512};
    o->n_batches = o->n_seq_lens = 3;
    memcpy(o->batches, batches, sizeof batches);
    memcpy(o->seq_lens, lens, sizeof lens);
    o->warmup = 2;
    o->seconds = 2.0;
    o->precision = ENCORE_PRECISION_DEFAULT;
    int seq_len_given = 0, iters_given = 0, seconds_given = 0;
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        if (strcmp(a, "--help") == 0 || strcmp(a, "-h") == 0) return -1;
        if (strcmp(a, "--quiet") == 0) {
            o->quiet = 1;
            continue;
        }
        const char *v = i + 1 < argc ? argv[i + 1] : NULL;
        if (strncmp(a, "--", 2) != 0) {
            fprintf(stderr, "encore bench: unexpected argument '%s'\n", a);
            return 0;
        }
        if (!v) {
            fprintf(stderr, "encore bench: %s needs a value\n", a);
            return 0;
        }
        int ok = 1;
        if (strcmp(a, "--model") == 0) o->model_dir = v;
        else if (strcmp(a, "--device") == 0) ok = parse_devices(v, o);
        else if (strcmp(a, "--batch") == 0) ok = parse_int_list(a, v, o->batches, &o->n_batches);
        else if (strcmp(a, "--seq-len") == 0) {
            ok = parse_int_list(a, v, o->seq_lens, &o->n_seq_lens);
            seq_len_given = 1;
        } else if (strcmp(a, "--texts") == 0) o->texts_path = v;
        else if (strcmp(a, "--warmup") == 0) ok = parse_positive(a, v, 1, &o->warmup);
        else if (strcmp(a, "--iters") == 0) {
            ok = parse_positive(a, v, 0, &o->iters);
            iters_given = 1;
        } else if (strcmp(a, "--seconds") == 0) {
            if (!tools_parse_double(v, 0.0, 1e6, &o->seconds) || !(o->seconds > 0.0)) {
                fprintf(stderr, "encore bench: --seconds takes a positive number, not '%s'\n", v);
                ok = 0;
            }
            seconds_given = 1;
        } else if (strcmp(a, "--threads") == 0) ok = parse_positive(a, v, 0, &o->threads);
        else if (strcmp(a, "--gpu") == 0) ok = parse_positive(a, v, 1, &o->device_index);
        else if (strcmp(a, "--weights") == 0) {
            if (encore_weights_parse(v, &o->weights) != 0) {
                fprintf(stderr, "encore bench: --weights takes fp32, bf16, int8 or int8-dynamic, not '%s'\n", v);
                ok = 0;
            }
        }
        else if (strcmp(a, "--precision") == 0) {
            if (strcmp(v, "default") == 0) o->precision = ENCORE_PRECISION_DEFAULT;
            else if (strcmp(v, "fp32") == 0) o->precision = ENCORE_PRECISION_FP32;
            else if (strcmp(v, "fp16") == 0) o->precision = ENCORE_PRECISION_FP16;
            else if (strcmp(v, "bf16") == 0) o->precision = ENCORE_PRECISION_BF16;
            else {
                fprintf(stderr, "encore bench: --precision takes default, fp32, fp16 or bf16, not '%s'\n", v);
                ok = 0;
            }
        } else if (strcmp(a, "--json") == 0) o->json_path = v;
        else if (strcmp(a, "--plot") == 0) o->plot_path = v;
        else {
            fprintf(stderr, "encore bench: unknown option %s\n", a);
            return 0;
        }
        if (!ok) return 0;
        i++;
    }
    if (o->texts_path && seq_len_given) {
        fprintf(stderr, "encore bench: give --seq-len or --texts, not both\n");
        return 0;
    }
    if (iters_given && seconds_given) {
        fprintf(stderr, "encore bench: give --iters or --seconds, not both\n");
        return 0;
    }
    if (!o->model_dir) o->model_dir = default_model_dir;
    return 1;
}
