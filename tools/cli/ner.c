/* ner.c: `encore ner`, transformers' pipeline("token-classification") on the
 * command line. One JSON line per text, in input order: json.dumps of what
 * the pipeline returns. */
#include "ner.h"

#include "encore.h"
#include "json_out.h"
#include "parse_number.h"
#include "weights_option.h"

#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

typedef struct ner_options {
    const char *model_dir;
    const char *ignore_labels; /* --ignore-labels A,B ("" for none) */
    encore_aggregation aggregation;
    int aggregation_given;     /* --aggregation-strategy was on the command line */
    int stride;                /* --stride N, -1 without */
    int truncate;
    int threads;
    int quiet;
    encore_device device;
    encore_weights weights;
} ner_options;

static void usage(FILE *f) {
    fprintf(f,
            "usage: encore ner --model DIR [--aggregation-strategy S] [--ignore-labels A,B] [--stride N] [options]\n"
            "                  [TEXT ...]\n"
            "\n"
            "Token classification (named entities), as transformers'\n"
            "pipeline(\"token-classification\"): one JSON line per text, a list of\n"
            "{\"entity\", \"score\", \"index\", \"word\", \"start\", \"end\"} per token, or of\n"
            "{\"entity_group\", \"score\", \"word\", \"start\", \"end\"} per group with a strategy;\n"
            "start and end are character offsets into the text.\n"
            "\n"
            "  --aggregation-strategy S   none (default), simple, first, average or max\n"
            "  --ignore-labels A,B        labels (or groups) left out, split at commas (default O;\n"
            "                             \"\" leaves none out)\n"
            "  --stride N                 classify the whole text in windows of the model's length,\n"
            "                             each repeating N tokens of the one before (the pipeline's\n"
            "                             stride; not with --aggregation-strategy none)\n"
            "  --model DIR                a BertForTokenClassification or\n"
            "                             DistilBertForTokenClassification directory (default: $ENCORE_MODEL)\n"
            "  --device cpu|cuda|auto     where to run (default cpu)\n"
            "  --no-truncation            fail on texts longer than the model takes\n"
            "  --threads N                CPU threads (default: all cores)\n" ENCORE_WEIGHTS_OPTION_HELP
            "  --quiet                    no log lines on stderr\n"
            "Texts come from the arguments, or one per line on stdin. A text that fails gives\n"
            "{\"error\": ..., \"status\": ...} on its line and exit status 1.\n");
}

static int parse(int argc, char **argv, ner_options *o, int *first_text) {
    int i = 1;
    for (; i < argc; i++) {
        const char *a = argv[i];
        const char *next = i + 1 < argc ? argv[i + 1] : NULL;
        if (strcmp(a, "--") == 0) {
            i++;
            break;
        }
        if (strncmp(a, "--", 2) != 0) break;
        const int takes_value = strcmp(a, "--model") == 0 || strcmp(a, "--aggregation-strategy") == 0 ||
                                strcmp(a, "--ignore-labels") == 0 || strcmp(a, "--threads") == 0 || strcmp(a, "--stride") == 0 ||
                                strcmp(a, "--device") == 0 || strcmp(a, "--weights") == 0;
        if (takes_value && !next) {
            fprintf(stderr, "encore: %s needs a value\n", a);
            return 0;
        }
        long v;
        if (strcmp(a, "--model") == 0) o->model_dir = next;
        else if (strcmp(a, "--aggregation-strategy") == 0) {
            if (encore_aggregation_from_name(next, &o->aggregation) != ENCORE_STATUS_OK) {
                fprintf(stderr, "encore: %s\n", encore_last_error());
                return 0;
            }
            o->aggregation_given = 1;
        } else if (strcmp(a, "--stride") == 0) {
            if (!tools_parse_long(next, 0, INT_MAX, &v)) {
                fprintf(stderr, "encore: --stride takes a number >= 0, not '%s'\n", next);
                return 0;
            }
            o->stride = (int)v;
        } else if (strcmp(a, "--ignore-labels") == 0) o->ignore_labels = next;
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

/* s split at commas, in place (s is a copy the caller owns): the parts as
 * written; "" gives none. labels: room for strlen(s) + 1. */
static int split_labels(char *s, const char **labels) {
    if (!*s) return 0;
    int n = 0;
    for (char *part = s, *end;; part = end + 1) {
        end = strchr(part, ',');
        if (end) *end = '\0';
        labels[n++] = part;
        if (!end) break;
    }
    return n;
}

static void print_result(const encore_token_classify_result *r) {
    const int grouped = r->aggregation != ENCORE_AGGREGATION_NONE;
    fputc('[', stdout);
    for (int i = 0; i < r->n_entities; i++) {
        const encore_entity *e = &r->entities[i];
        fputs(i ? ", {" : "{", stdout);
        fputs(grouped ? "\"entity_group\": " : "\"entity\": ", stdout);
        json_write_string(stdout, e->entity);
        char num[40];
        json_format_number((double)e->score, 0, num, sizeof num);
        printf(", \"score\": %s", num);
        if (!grouped) printf(", \"index\": %d", (int)e->index);
        fputs(", \"word\": ", stdout);
        json_write_string(stdout, e->word);
        printf(", \"start\": %d, \"end\": %d}", (int)e->start, (int)e->end);
    }
    fputs("]\n", stdout);
}

static void print_error(encore_status st, const char *message) {
    fputs("{\"error\": ", stdout);
    json_write_string(stdout, message);
    fputs(", \"status\": ", stdout);
    json_write_string(stdout, encore_status_str(st));
    fputs("}\n", stdout);
}

/* One text; returns 0 on success, 1 for a failed text, 2 when the failure
 * is the model's or the options' (every text would fail alike). */
static int run_text(encore_session *session, encore_token_classify_params p, const char *text) {
    encore_token_classify_result *r = NULL;
    const encore_status st = encore_session_token_classify(session, text, p, &r);
    if (st == ENCORE_STATUS_OK) print_result(r);
    encore_token_classify_result_free(r);
    if (st == ENCORE_STATUS_OK) return 0;
    if (st == ENCORE_STATUS_UNSUPPORTED || st == ENCORE_STATUS_INVALID_ARGUMENT) {
        fprintf(stderr, "encore: %s\n", encore_session_last_error(session));
        return 2;
    }
    print_error(st, encore_session_last_error(session));
    return 1;
}

static void quiet_log(encore_log_level level, const char *message, void *user_data) {
    (void)level, (void)message, (void)user_data;
}

int encore_cli_ner(int argc, char **argv, const char *default_model_dir) {
    ner_options o;
    memset(&o, 0, sizeof o);
    o.aggregation = ENCORE_AGGREGATION_NONE;
    o.stride = -1;
    o.truncate = 1;
    o.device = ENCORE_DEVICE_CPU;
    int first_text = argc;
    if (!parse(argc, argv, &o, &first_text)) {
        const int help = argc > 1 && strcmp(argv[argc - 1], "--help") == 0;
        usage(help ? stdout : stderr);
        return help ? 0 : 2;
    }
    if (!o.model_dir) {
        const char *env = getenv("ENCORE_MODEL");
        o.model_dir = env && *env ? env : default_model_dir;
    }
    if (o.stride >= 0 && o.aggregation_given && o.aggregation == ENCORE_AGGREGATION_NONE) {
        /* as the pipeline refuses stride with aggregation_strategy="none" */
        fprintf(stderr, "encore: --stride needs an --aggregation-strategy other than none\n");
        return 2;
    }
    encore_token_classify_params p = encore_token_classify_default_params();
    p.aggregation = o.aggregation;
    p.stride = o.stride;
    char *owned = NULL;
    const char **labels = NULL;
    if (o.ignore_labels) {
        owned = strdup(o.ignore_labels);
        labels = malloc((strlen(o.ignore_labels) + 1) * sizeof *labels);
        if (!owned || !labels) {
            fprintf(stderr, "encore: out of memory\n");
            free(owned);
            free(labels);
            return 2;
        }
        p.n_ignore_labels = split_labels(owned, labels);
        p.ignore_labels = labels;
    }
    if (o.quiet) encore_log_set(quiet_log, NULL);
    encore_model *model = NULL;
    encore_session *session = NULL;
    encore_model_params mp = encore_model_default_params();
    mp.weights = o.weights;
    int rc = 0;
    if (encore_model_load(o.model_dir, mp, &model) != ENCORE_STATUS_OK) {
        fprintf(stderr, "encore: %s\n", encore_last_error());
        rc = 2;
    } else if (encore_model_token_head(model) != ENCORE_TOKEN_HEAD_CLASSIFY) {
        fprintf(stderr,
                "encore: %s has no token classifier; ner needs a BertForTokenClassification or "
                "DistilBertForTokenClassification directory (--model DIR)\n",
                o.model_dir);
        rc = 2;
    } else {
        encore_session_params sp = encore_session_default_params();
        sp.n_threads = o.threads;
        sp.truncate = o.truncate;
        sp.device = o.device;
        if (encore_session_create(model, sp, &session) != ENCORE_STATUS_OK) {
            fprintf(stderr, "encore: %s\n", encore_last_error());
            rc = 2;
        }
    }
    if (rc == 0 && first_text < argc) {
        for (int i = first_text; i < argc && rc < 2; i++) {
            const int r = run_text(session, p, argv[i]);
            rc = r > rc ? r : rc;
        }
    } else if (rc == 0) {
        char *line = NULL;
        size_t cap = 0;
        ssize_t len;
        while (rc < 2 && (len = getline(&line, &cap, stdin)) >= 0) {
            while (len > 0 && (line[len - 1] == '\n' || line[len - 1] == '\r')) line[--len] = '\0';
            const int r = run_text(session, p, line);
            rc = r > rc ? r : rc;
        }
        free(line);
    }
    encore_session_free(session);
    encore_model_free(model);
    free(owned);
    free(labels);
    return rc;
}
