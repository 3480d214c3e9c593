/* eval.c: `encore eval`: accuracy of a classifier on a labelled TSV file
 * (a header row, a text column and a label column, as GLUE's SST-2). */
#include "eval.h"

#include "parse_number.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

typedef struct row {
    char *text;
    int label;   /* label id */
} row;

static double now(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + ts.tv_nsec * 1e-9;
}

/* Split a TSV line in place into at most max fields. */
static int split_tabs(char *line, char **fields, int max) {
    int n = 0;
    fields[n++] = line;
    for (char *p = line; *p && n < max; p++) {
        if (*p == '\t') {
            *p = '\0';
            fields[n++] = p + 1;
        }
    }
    return n;
}

/* A gold label is a label id ("1") or a label name ("POSITIVE"). */
static int parse_label(const encore_model *model, const char *s) {
    const int L = encore_model_n_labels(model);
    for (int i = 0; i < L; i++)
        if (strcmp(encore_model_label(model, i), s) == 0) return i;
    long v;
    return tools_parse_long(s, 0, L - 1, &v) ? (int)v : -1;
}

static int column(char **fields, int n, const char *name) {
    for (int i = 0; i < n; i++)
        if (strcmp(fields[i], name) == 0) return i;
    return -1;
}

static int read_rows(const char *path, const encore_model *model, const eval_options *o, row **out, int *n_out) {
    FILE *f = strcmp(path, "-") == 0 ? stdin : fopen(path, "r");
    if (!f) {
        fprintf(stderr, "encore: cannot open %s\n", path);
        return 0;
    }
    char *line = NULL;
    size_t cap = 0;
    ssize_t len;
    int text_col = -1, label_col = -1, n = 0, rows_cap = 0, line_no = 0, ok = 1;
    row *rows = NULL;
    while (ok && (len = getline(&line, &cap, f)) >= 0) {
        line_no++;
        while (len > 0 && (line[len - 1] == '\n' || line[len - 1] == '\r')) line[--len] = '\0';
        char *fields[64];
        int nf = split_tabs(line, fields, 64);
        if (line_no == 1) {
            text_col = column(fields, nf, o->text_column);
            label_col = column(fields, nf, o->label_column);
            if (text_col < 0 || label_col < 0) {
                fprintf(stderr, "encore: %s: the header has no '%s' and '%s' columns\n", path, o->text_column,
                        o->label_column);
                ok = 0;
            }
            continue;
        }
        if (len == 0) continue;
        int label = nf > label_col ? parse_label(model, fields[label_col]) : -1;
        if (nf <= text_col || label < 0) {
            fprintf(stderr, "encore: %s:%d: no text or no known label\n", path, line_no);
            ok = 0;
            break;
        }
        if (n == rows_cap) {
            rows_cap = rows_cap ? 2 * rows_cap : 1024;
            row *grown = realloc(rows, (size_t)rows_cap * sizeof *rows);
            if (!grown) {
                ok = 0;
                break;
            }
            rows = grown;
        }
        rows[n].text = strdup(fields[text_col]);
        rows[n].label = label;
        if (!rows[n++].text) ok = 0;
    }
    free(line);
    if (f != stdin) fclose(f);
    *out = rows;
    *n_out = n;
    return ok;
}

int encore_cli_eval(const encore_model *model, encore_session *session, const eval_options *o) {
    row *rows = NULL;
    int n = 0;
    const int L = encore_model_n_labels(model);
    int ok = read_rows(o->path, model, o, &rows, &n);
    const int show = isatty(2) || o->progress;
    int correct = 0, failed = 0, done = 0;
    const int batch = o->batch;
    encore_input *inputs = malloc((size_t)batch * sizeof *inputs);
    float *scores = malloc((size_t)batch * (size_t)L * sizeof(float));
    double start = now(), last_report = 0;
    for (int i = 0; ok && inputs && scores && i < n; i += batch) {
        int m = n - i < batch ? n - i : batch;
        for (int k = 0; k < m; k++) inputs[k] = (encore_input){rows[i + k].text, NULL};
        if (encore_session_classify(session, inputs, m, scores) != ENCORE_STATUS_OK) {
            /* One bad text must not sink the batch: score one by one. */
            for (int k = 0; k < m; k++) {
                if (encore_session_classify(session, &inputs[k], 1, scores + (size_t)k * L) != ENCORE_STATUS_OK) {
                    fprintf(stderr, "encore: text %d: %s\n", i + k + 1, encore_session_last_error(session));
                    scores[(size_t)k * L] = -1.0f; /* marks a failure below */
                }
            }
        }
        for (int k = 0; k < m; k++) {
            const float *s = scores + (size_t)k * L;
            if (s[0] < 0.0f) {
                failed++;
                continue;
            }
            int best = 0;
            for (int j = 1; j < L; j++)
                if (s[j] > s[best]) best = j;
            correct += best == rows[i + k].label;
        }
        done += m;
        double t = now() - start;
        if (show && (t - last_report > 0.5 || done == n)) {
            fprintf(stderr, "%seval: %d/%d texts (%.0f%%), %.1f texts/s, accuracy so far %.2f%%", isatty(2) ? "\r" : "", done, n,
                    100.0 * done / n, done / t, 100.0 * correct / (done - failed > 0 ? done - failed : 1));
            if (done == n || !isatty(2)) fputc('\n', stderr);
            last_report = t;
        }
    }
    double seconds = now() - start;
    if (ok && n > 0) {
        printf("accuracy %.2f%% (%d of %d) on %s\n", 100.0 * correct / n, correct, n, o->path);
        printf("%d texts in %.2f s: %.1f texts/s%s\n", n, seconds, n / seconds, failed ? " (some failed)" : "");
        if (failed) printf("%d texts failed and count as wrong\n", failed);
    } else if (ok) {
        fprintf(stderr, "encore: %s holds no labelled rows\n", o->path);
        ok = 0;
    }
    for (int i = 0; i < n; i++) free(rows[i].text);
    free(rows);
    free(inputs);
    free(scores);
    return ok && !failed ? 0 : 1;
}
