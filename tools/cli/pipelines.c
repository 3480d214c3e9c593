/* pipelines.c: `encore fill-mask` and `encore zero-shot`, transformers'
 * pipeline("fill-mask") and pipeline("zero-shot-classification") on the
 * command line. One JSON line per text, in input order, as the pipeline
 * returns it (json.dumps of it). */
#include "pipelines.h"

#include "encore.h"
#include "json_out.h"
#include "parse_number.h"
#include "weights_option.h"

#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

typedef struct pipe_options {
    int zero_shot;
    const char *model_dir;
    int top_k;
    const char *targets;     /* --targets A,B,C */
    const char *labels;      /* --labels A,B,C */
    const char *hypothesis_template;
    int multi_label;
    int truncate;
    int threads;
    int quiet;
    encore_device device;
    encore_weights weights;
} pipe_options;

static void usage(FILE *f, int zero_shot) {
    if (zero_shot)
        fprintf(f,
                "usage: encore zero-shot --model DIR --labels A,B,C [--hypothesis-template T] [--multi-label]\n"
                "                        [options] [TEXT ...]\n"
                "\n"
                "Zero-shot classification with an NLI classifier, as transformers'\n"
                "pipeline(\"zero-shot-classification\"): each text gives one JSON line\n"
                "{\"sequence\": ..., \"labels\": [...], \"scores\": [...]}, labels best first.\n"
                "\n"
                "  --labels A,B,C             candidate labels, split at commas and stripped of\n"
                "                             spaces, as the pipeline splits a string (at least one)\n"
                "  --hypothesis-template T    default \"This example is {}.\"; {} is the label\n"
                "  --multi-label              score each label alone (entailment against contradiction)\n");
    else
        fprintf(f,
                "usage: encore fill-mask --model DIR [--top-k N] [--targets A,B,C] [options] [TEXT ...]\n"
                "\n"
                "Fill the [MASK] tokens of each text, as transformers' pipeline(\"fill-mask\"):\n"
                "one JSON line per text, [{\"score\", \"token\", \"token_str\", \"sequence\"}, ...]\n"
                "best first, or a list of such lists when the text has several masks.\n"
                "\n"
                "  --top-k N                  predictions per mask (default 5)\n"
                "  --targets A,B,C            score only these (split at commas, kept as written;\n"
                "                             one not in the vocabulary counts as its first token)\n");
    fprintf(f,
            "  --model DIR                Hugging Face model directory (default: $ENCORE_MODEL)\n"
            "  --device cpu|cuda|auto     where to run (default cpu)\n"
            "  --no-truncation            fail on texts longer than the model takes\n"
            "  --threads N                CPU threads (default: all cores)\n" ENCORE_WEIGHTS_OPTION_HELP
            "  --quiet                    no log lines on stderr\n"
            "Texts come from the arguments, or one per line on stdin. A text that fails gives\n"
            "{\"error\": ..., \"status\": ...} on its line and exit status 1.\n");
}

static int parse(int argc, char **argv, pipe_options *o, int *first_text) {
    int i = 1;
    for (; i < argc; i++) {
        const char *a = argv[i];
        const char *next = i + 1 < argc ? argv[i + 1] : NULL;
        if (strcmp(a, "--") == 0) {
            i++;
            break;
        }
        if (strncmp(a, "--", 2) != 0) break;
        const int takes_value = strcmp(a, "--model") == 0 || strcmp(a, "--top-k") == 0 ||
                                strcmp(a, "--targets") == 0 || strcmp(a, "--labels") == 0 ||
                                strcmp(a, "--hypothesis-template") == 0 || strcmp(a, "--threads") == 0 ||
                                strcmp(a, "--device") == 0 || strcmp(a, "--weights") == 0;
        if (takes_value && !next) {
            fprintf(stderr, "encore: %s needs a value\n", a);
            return 0;
        }
        long v;
        if (strcmp(a, "--model") == 0) o->model_dir = next;
        else if (!o->zero_shot && strcmp(a, "--top-k") == 0) {
            if (!tools_parse_long(next, 1, INT_MAX, &v)) {
                fprintf(stderr, "encore: --top-k takes a positive number, not '%s'\n", next);
                return 0;
            }
            o->top_k = (int)v;
        } else if (!o->zero_shot && strcmp(a, "--targets") == 0) o->targets = next;
        else if (o->zero_shot && strcmp(a, "--labels") == 0) o->labels = next;
        else if (o->zero_shot && strcmp(a, "--hypothesis-template") == 0) o->hypothesis_template = next;
        else if (o->zero_shot && strcmp(a, "--multi-label") == 0) o->multi_label = 1;
        else if (strcmp(a, "--threads") == 0) {
            if (!tools_parse_long(next, 1, INT_MAX, &v)) {
                fprintf(stderr, "encore: --threads takes a positive number\n");
                return 0;
            }
            o->threads = (int)v;
        } else if (strcmp(a, "--device") == 0) {
            if (strcmp(next, "cpu") == 0) o->device = ENCORE_DEVICE_CPU;
            else if (strcmp(next, "cuda") == 0) o->device = ENCORE_DEVICE_CUDA;
            else if (strcmp(next, "auto") == 0) o->device = ENCORE_DEVICE_AUTO;
            else {
                fprintf(stderr, "encore: --device takes cpu, cuda or auto, not '%s'\n", next);
                return 0;
            }
        } else if (strcmp(a, "--weights") == 0) {
            if (encore_weights_parse(next, &o->weights) != 0) {
                fprintf(stderr, "encore: --weights takes fp32, bf16, int8 or int8-dynamic, not '%s'\n", next);
                return 0;
            }
        } else if (strcmp(a, "--no-truncation") == 0) o->truncate = 0;
        else if (strcmp(a, "--quiet") == 0) o->quiet = 1;
        else {
            if (strcmp(a, "--help") != 0) fprintf(stderr, "encore: unknown option %s\n", a);
            return 0;
        }
        if (takes_value) i++;
    }
    *first_text = i;
    return 1;
}

/* Split s at commas into a malloc'd list of malloc'd strings. strip: the
 * zero-shot pipeline's parsing of a label string (each part stripped of
 * whitespace, empty parts dropped); else the parts as written. */
static char **split_list(const char *s, int strip, int *n) {
    *n = 0;
    size_t parts = 1;
    for (const char *p = s; *p; p++) parts += *p == ',';
    char **out = calloc(parts, sizeof *out);
    if (!out) return NULL;
    const char *start = s;
    for (;;) {
        const char *end = strchr(start, ',');
        if (!end) end = start + strlen(start);
        const char *a = start, *b = end;
        if (strip) {
            while (a < b && strchr(" \t\n\r\f\v", *a)) a++;
            while (b > a && strchr(" \t\n\r\f\v", b[-1])) b--;
        }
        if (!strip || b > a) {
            char *item = malloc((size_t)(b - a) + 1);
            if (!item) return out; /* the caller frees what there is */
            memcpy(item, a, (size_t)(b - a));
            item[b - a] = '\0';
            out[(*n)++] = item;
        }
        if (!*end) break;
        start = end + 1;
    }
    return out;
}

static void free_list(char **l, int n) {
    for (int i = 0; l && i < n; i++) free(l[i]);
    free(l);
}

static void print_error(encore_status st, const char *message) {
    fputs("{\"error\": ", stdout);
    json_write_string(stdout, message);
    fputs(", \"status\": ", stdout);
    json_write_string(stdout, encore_status_str(st));
    fputs("}\n", stdout);
}

static void print_number(float v) {
    char num[40];
    json_format_number((double)v, 0, num, sizeof num);
    fputs(num, stdout);
}

static void print_fill_mask(const encore_fill_mask_result *r) {
    if (r->n_masks > 1) fputc('[', stdout);
    for (int m = 0; m < r->n_masks; m++) {
        fputs(m ? ", [" : "[", stdout);
        for (int j = 0; j < r->k; j++) {
            const encore_fill_mask_prediction *p = &r->predictions[(size_t)m * r->k + j];
            fputs(j ? ", {\"score\": " : "{\"score\": ", stdout);
            print_number(p->score);
            printf(", \"token\": %d, \"token_str\": ", (int)p->token);
            json_write_string(stdout, p->token_str);
            fputs(", \"sequence\": ", stdout);
            json_write_string(stdout, p->sequence);
            fputc('}', stdout);
        }
        fputc(']', stdout);
    }
    fputs(r->n_masks > 1 ? "]\n" : "\n", stdout);
}

static void print_zero_shot(const char *text, char *const *labels, const float *scores, const int *order, int n) {
    fputs("{\"sequence\": ", stdout);
    json_write_string(stdout, text);
    fputs(", \"labels\": [", stdout);
    for (int i = 0; i < n; i++) {
        if (i) fputs(", ", stdout);
        json_write_string(stdout, labels[order[i]]);
    }
    fputs("], \"scores\": [", stdout);
    for (int i = 0; i < n; i++) {
        if (i) fputs(", ", stdout);
        print_number(scores[order[i]]);
    }
    fputs("]}\n", stdout);
}

/* One text; returns 0 on success, 1 for a failed text, 2 when the failure
 * is the model's or the options' (every text would fail alike). */
static int run_text(encore_session *session, const pipe_options *o, const char *text, char **list, int n_list,
                    float *scores, int *order) {
    encore_status st;
    if (o->zero_shot) {
        encore_zero_shot_params zp = encore_zero_shot_default_params();
        if (o->hypothesis_template) zp.hypothesis_template = o->hypothesis_template;
        zp.multi_label = o->multi_label;
        st = encore_session_zero_shot(session, text, (const char *const *)list, n_list, zp, scores, order);
        if (st == ENCORE_STATUS_OK) print_zero_shot(text, list, scores, order, n_list);
    } else {
        encore_fill_mask_params fp = encore_fill_mask_default_params();
        fp.top_k = o->top_k;
        fp.targets = (const char *const *)list;
        fp.n_targets = n_list;
        encore_fill_mask_result *r = NULL;
        st = encore_session_fill_mask(session, text, fp, &r);
        if (st == ENCORE_STATUS_OK) print_fill_mask(r);
        encore_fill_mask_result_free(r);
    }
    if (st == ENCORE_STATUS_OK) return 0;
    if (st == ENCORE_STATUS_UNSUPPORTED) {
        fprintf(stderr, "encore: %s\n", encore_session_last_error(session));
        return 2;
    }
    print_error(st, encore_session_last_error(session));
    return 1;
}

static void quiet_log(encore_log_level level, const char *message, void *user_data) {
    (void)level, (void)message, (void)user_data;
}

int encore_cli_pipeline(int argc, char **argv, const char *default_model_dir) {
    pipe_options o;
    memset(&o, 0, sizeof o);
    o.zero_shot = strcmp(argv[0], "zero-shot") == 0;
    o.top_k = 5;
    o.truncate = 1;
    o.device = ENCORE_DEVICE_CPU;
    int first_text = argc;
    if (!parse(argc, argv, &o, &first_text)) {
        const int help = argc > 1 && strcmp(argv[argc - 1], "--help") == 0;
        usage(help ? stdout : stderr, o.zero_shot);
        return help ? 0 : 2;
    }
    if (o.zero_shot && !o.labels) {
        fprintf(stderr, "encore: zero-shot needs --labels A,B,C\n");
        return 2;
    }
    int n_list = 0;
    char **list = NULL;
    if (o.zero_shot || o.targets) {
        list = split_list(o.zero_shot ? o.labels : o.targets, o.zero_shot, &n_list);
        if (!list) {
            fprintf(stderr, "encore: out of memory\n");
            return 2;
        }
        if (n_list == 0) {
            fprintf(stderr, "encore: %s gives no %s (at least one is needed)\n", o.zero_shot ? "--labels" : "--targets",
                    o.zero_shot ? "candidate labels" : "targets");
            free_list(list, n_list);
            return 2;
        }
    }
    if (!o.model_dir) {
        const char *env = getenv("ENCORE_MODEL");
        o.model_dir = env && *env ? env : default_model_dir;
    }
    if (o.quiet) encore_log_set(quiet_log, NULL);
    encore_model *model = NULL;
    encore_model_params mp = encore_model_default_params();
    mp.weights = o.weights;
    if (encore_model_load(o.model_dir, mp, &model) != ENCORE_STATUS_OK) {
        fprintf(stderr, "encore: %s\n", encore_last_error());
        free_list(list, n_list);
        return 2;
    }
    encore_session_params sp = encore_session_default_params();
    sp.n_threads = o.threads;
    sp.truncate = o.truncate;
    sp.device = o.device;
    encore_session *session = NULL;
    float *scores = malloc(((size_t)n_list + 1) * sizeof *scores);
    int *order = malloc(((size_t)n_list + 1) * sizeof *order);
    int rc = 0;
    if (!scores || !order) {
        fprintf(stderr, "encore: out of memory\n");
        rc = 2;
    } else if (encore_session_create(model, sp, &session) != ENCORE_STATUS_OK) {
        fprintf(stderr, "encore: %s\n", encore_last_error());
        rc = 2;
    } else if (first_text < argc) {
        for (int i = first_text; i < argc && rc < 2; i++) {
            int r = run_text(session, &o, argv[i], list, n_list, scores, order);
            rc = r > rc ? r : rc;
        }
    } else {
        char *line = NULL;
        size_t cap = 0;
        ssize_t len;
        while (rc < 2 && (len = getline(&line, &cap, stdin)) >= 0) {
            while (len > 0 && (line[len - 1] == '\n' || line[len - 1] == '\r')) line[--len] = '\0';
            int r = run_text(session, &o, line, list, n_list, scores, order);
            rc = r > rc ? r : rc;
        }
        free(line);
    }
    free(scores);
    free(order);
    encore_session_free(session);
    encore_model_free(model);
    free_list(list, n_list);
    return rc;
}
