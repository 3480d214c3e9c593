/* score_output.c: write `encore score` records as JSONL, TSV or .npy. */
#include "score_output.h"

#include "json_out.h"

#include <errno.h>
#include <fcntl.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

enum { NPY_HEADER = 128, OUT_BUFFER = 1 << 20 };

/* ---- .npy ------------------------------------------------------------ */

/* Version 1.0 header for a C-order float32 matrix, padded to 128 bytes so
 * that it can be rewritten in place as rows are added. */
static void npy_header(char out[NPY_HEADER], int64_t rows, int width) {
    memset(out, ' ', NPY_HEADER);
    memcpy(out, "\x93NUMPY\x01\x00", 8);
    out[8] = (char)(NPY_HEADER - 10);
    out[9] = 0;
    char dict[NPY_HEADER];
    int n = snprintf(dict, sizeof dict, "{'descr': '<f4', 'fortran_order': False, 'shape': (%lld, %d), }",
                     (long long)rows, width);
    memcpy(out + 10, dict, (size_t)n);
    out[NPY_HEADER - 1] = '\n';
}

static int npy_write_header(score_writer *w) {
    char h[NPY_HEADER];
    npy_header(h, w->rows, w->width);
    return pwrite(fileno(w->out), h, NPY_HEADER, 0) == NPY_HEADER;
}

/* ---- text helpers ---------------------------------------------------- */

static void number(FILE *f, float v, int as_float32) {
    char buf[40];
    json_format_number((double)v, as_float32, buf, sizeof buf);
    fputs(buf, f);
}

/* A TSV cell: tab, newline, carriage return and backslash escaped. */
static void tsv_cell(FILE *f, const char *s) {
    for (; *s; s++) {
        switch (*s) {
        case '\t': fputs("\\t", f); break;
        case '\n': fputs("\\n", f); break;
        case '\r': fputs("\\r", f); break;
        case '\\': fputs("\\\\", f); break;
        default: fputc(*s, f);
        }
    }
}

static int shown_labels(const score_writer *w) {
    const int k = w->o->top_k;
    return k < 0 || k > w->n_labels ? w->n_labels : k;
}

/* "id": ...  or  "line": N  (errors carry both) */
static void json_key(FILE *f, const score_record *rec) {
    if (rec->id) {
        fputs("\"id\": ", f);
        if (rec->id_is_string) json_write_string(f, rec->id);
        else fputs(rec->id, f);
        if (rec->problem != SCORE_PROBLEM_NONE) fprintf(f, ", \"line\": %lld", (long long)rec->line);
    } else {
        fprintf(f, "\"line\": %lld", (long long)rec->line);
    }
}

static void json_error(FILE *f, const score_record *rec) {
    fputs(", \"error\": ", f);
    json_write_string(f, rec->message);
    fputs(", \"problem\": ", f);
    json_write_string(f, score_problem_name(rec->problem));
    fputs("}\n", f);
}

static void write_jsonl(const score_writer *w, FILE *f, const score_record *rec, const float *r) {
    fputc('{', f);
    json_key(f, rec);
    if (!r) {
        json_error(f, rec);
        return;
    }
    if (cli_task_is_structured(w->o->task)) {
        fputs(", \"result\": ", f);
        fputs(rec->answer ? rec->answer : "null", f);
    } else if (w->n_labels == 0 && encore_model_is_sparse(w->model)) {
        /* SPLADE: the weights that are not 0, as TEI's /embed_sparse */
        fputs(", \"sparse_embedding\": [", f);
        for (int i = 0, first = 1; i < w->width; i++) {
            if (r[i] == 0.0f) continue;
            fprintf(f, first ? "{\"index\": %d, \"value\": " : ", {\"index\": %d, \"value\": ", i);
            number(f, r[i], 1);
            fputc('}', f);
            first = 0;
        }
        fputc(']', f);
    } else if (w->n_labels == 0) {
        fputs(", \"embedding\": [", f);
        for (int i = 0; i < w->width; i++) {
            if (i) fputs(", ", f);
            number(f, r[i], 1);
        }
        fputc(']', f);
    } else {
        int order[w->n_labels];
        json_rank_labels(r, w->n_labels, order);
        if (!w->o->top_k_given) {
            fputs(", \"label\": ", f);
            json_write_string(f, encore_model_label(w->model, order[0]));
            fputs(", \"score\": ", f);
            number(f, r[order[0]], 0);
        } else {
            fputs(", \"scores\": [", f);
            for (int i = 0, n = shown_labels(w); i < n; i++) {
                fputs(i ? ", {\"label\": " : "{\"label\": ", f);
                json_write_string(f, encore_model_label(w->model, order[i]));
                fputs(", \"score\": ", f);
                number(f, r[order[i]], 0);
                fputc('}', f);
            }
            fputc(']', f);
        }
    }
    if (rec->truncated) fputs(", \"truncated\": true", f);
    fputs("}\n", f);
}

/* Columns: id, the values, truncated, error. Values: label and score; with
 * --top-k all, one score column per label in label order; with --top-k N,
 * label_i and score_i pairs; for embeddings, dim_0 ... dim_{C-1}. */
static void tsv_header(const score_writer *w, FILE *f) {
    fputs("id", f);
    if (w->n_labels == 0) {
        for (int i = 0; i < w->width; i++) fprintf(f, "\tdim_%d", i);
    } else if (!w->o->top_k_given) {
        fputs("\tlabel\tscore", f);
    } else if (w->o->top_k < 0 || w->o->top_k >= w->n_labels) {
        for (int i = 0; i < w->n_labels; i++) {
            fputc('\t', f);
            tsv_cell(f, encore_model_label(w->model, i));
        }
    } else {
        for (int i = 1; i <= shown_labels(w); i++) fprintf(f, "\tlabel_%d\tscore_%d", i, i);
    }
    fputs("\ttruncated\terror\n", f);
}

static void write_tsv(const score_writer *w, FILE *f, const score_record *rec, const float *r) {
    if (rec->id) tsv_cell(f, rec->id);
    else fprintf(f, "%lld", (long long)rec->line);
    int cells = w->n_labels == 0 ? w->width
                : !w->o->top_k_given ? 2
                : w->o->top_k < 0 || w->o->top_k >= w->n_labels ? w->n_labels
                                                                 : 2 * shown_labels(w);
    if (!r) {
        for (int i = 0; i < cells + 1; i++) fputc('\t', f);
        fprintf(f, "\tline %lld: %s: ", (long long)rec->line, score_problem_name(rec->problem));
        tsv_cell(f, rec->message);
        fputc('\n', f);
        return;
    }
    if (w->n_labels == 0) {
        for (int i = 0; i < w->width; i++) {
            fputc('\t', f);
            number(f, r[i], 1);
        }
    } else if (cells == w->n_labels && w->o->top_k_given) {
        for (int i = 0; i < w->n_labels; i++) {
            fputc('\t', f);
            number(f, r[i], 0);
        }
    } else {
        int order[w->n_labels];
        json_rank_labels(r, w->n_labels, order);
        for (int i = 0; i < cells / 2; i++) {
            fputc('\t', f);
            tsv_cell(f, encore_model_label(w->model, order[i]));
            fputc('\t', f);
            number(f, r[order[i]], 0);
        }
    }
    fprintf(f, "\t%d\t\n", rec->truncated);
}

/* The index line of a .npy row: row i is record i. */
static void write_index(FILE *f, const score_record *rec, const float *r) {
    fprintf(f, "{\"row\": %lld, ", (long long)rec->seq);
    json_key(f, rec);
    if (!r) json_error(f, rec);
    else fputs(rec->truncated ? ", \"truncated\": true}\n" : "}\n", f);
}

int score_writer_format(const score_writer *w, score_record *rec, const float *result) {
    free(rec->out);
    rec->out = NULL;
    rec->out_len = 0;
    FILE *f = open_memstream(&rec->out, &rec->out_len);
    if (!f) return 0;
    switch (w->o->format) {
    case SCORE_OUTPUT_JSONL: write_jsonl(w, f, rec, result); break;
    case SCORE_OUTPUT_TSV: write_tsv(w, f, rec, result); break;
    case SCORE_OUTPUT_NPY: write_index(f, rec, result); break;
    }
    return fclose(f) == 0 && rec->out;
}

/* Write to the output (or the index), and hash what is written. */
static void emit(FILE *f, tools_sha256 *h, const void *p, size_t n) {
    fwrite(p, 1, n, f);
    tools_sha256_update(h, p, n);
}

int score_writer_put(score_writer *w, const score_record *rec, const float *result) {
    score_record_hash(&w->records_hash, rec);
    if (w->o->format == SCORE_OUTPUT_NPY) {
        /* One float32 row; NaN for an error record. */
        if (result) {
            emit(w->out, &w->out_hash, result, sizeof(float) * (size_t)w->width);
        } else {
            const float nan = NAN;
            for (int i = 0; i < w->width; i++) emit(w->out, &w->out_hash, &nan, sizeof nan);
        }
        emit(w->index, &w->index_hash, rec->out, rec->out_len);
        w->rows++;
    } else {
        emit(w->out, &w->out_hash, rec->out, rec->out_len);
    }
    if (ferror(w->out) || (w->index && ferror(w->index))) {
        snprintf(w->error, sizeof w->error, "writing %s: %s", w->o->output_path, strerror(errno));
        return 0;
    }
    return 1;
}

/* ---- open, sync, close ----------------------------------------------- */

/* What the bytes [0, keep) of an output to resume must be. */
typedef struct expected_prefix {
    int64_t keep;            /* bytes the checkpoint recorded */
    int64_t hash_from;       /* the hash covers [hash_from, keep) */
    const uint8_t *sha256;
    int64_t lines;           /* newlines in [hash_from, keep); -1: not counted (.npy rows) */
} expected_prefix;

/* Check the first bytes of fd against *want; on a match, *h is the hash of
 * [hash_from, keep), to go on with. */
static int check_prefix(score_writer *w, int fd, const char *path, const expected_prefix *want, tools_sha256 *h) {
    tools_sha256_init(h);
    enum { CHUNK = 1 << 20 };
    char *buf = malloc(CHUNK);
    if (!buf) {
        snprintf(w->error, sizeof w->error, "out of memory");
        return 0;
    }
    int64_t at = 0, lines = 0;
    char last = '\n';
    int ok = 1;
    while (ok && at < want->keep) {
        const size_t n = want->keep - at < CHUNK ? (size_t)(want->keep - at) : CHUNK;
        const ssize_t got = pread(fd, buf, n, (off_t)at);
        if (got <= 0) {
            snprintf(w->error, sizeof w->error, "cannot read %s: %s", path, got < 0 ? strerror(errno) : "it ended");
            ok = 0;
            break;
        }
        /* Not the .npy header: a later sync may have rewritten it (with more
         * rows than the checkpoint's), and the next sync rewrites it again. */
        const size_t from = at < want->hash_from ? (size_t)(want->hash_from - at < got ? want->hash_from - at : got) : 0;
        tools_sha256_update(h, buf + from, (size_t)got - from);
        for (size_t i = from; i < (size_t)got; i++) lines += buf[i] == '\n';
        if ((size_t)got > from) last = buf[got - 1];
        at += got;
    }
    free(buf);
    if (!ok) return 0;
    uint8_t d[32];
    tools_sha256_digest(h, d);
    if (memcmp(d, want->sha256, 32) != 0) {
        snprintf(w->error, sizeof w->error,
                 "the first %lld bytes of %s are not those the checkpoint recorded: the output changed since",
                 (long long)want->keep, path);
        return 0;
    }
    if (want->lines >= 0 && lines != want->lines) {
        snprintf(w->error, sizeof w->error,
                 "the first %lld bytes of %s hold %lld lines, not the %lld the checkpoint's records make",
                 (long long)want->keep, path, (long long)lines, (long long)want->lines);
        return 0;
    }
    if (want->lines >= 0 && want->keep > want->hash_from && last != '\n') {
        snprintf(w->error, sizeof w->error, "the first %lld bytes of %s end inside a line, not after a record",
                 (long long)want->keep, path);
        return 0;
    }
    return 1;
}

/* Open path for writing: truncated, or (want != NULL) checked against what
 * a checkpoint recorded and cut back to it. */
static FILE *open_output(score_writer *w, const char *path, const expected_prefix *want, tools_sha256 *h) {
    const int resume = want != NULL;
    int fd = open(path, O_RDWR | O_CREAT | O_CLOEXEC | (resume ? 0 : O_TRUNC), 0644);
    if (fd < 0) {
        snprintf(w->error, sizeof w->error, "cannot open %s: %s", path, strerror(errno));
        return NULL;
    }
    if (resume) {
        const int64_t keep = want->keep;
        struct stat st;
        if (fstat(fd, &st) != 0 || st.st_size < keep) {
            snprintf(w->error, sizeof w->error,
                     "%s is shorter than the checkpoint says (%lld bytes): it changed since", path, (long long)keep);
            close(fd);
            return NULL;
        }
        if (!check_prefix(w, fd, path, want, h)) {
            close(fd);
            return NULL;
        }
        if (ftruncate(fd, (off_t)keep) != 0 || lseek(fd, (off_t)keep, SEEK_SET) != (off_t)keep) {
            snprintf(w->error, sizeof w->error, "cannot cut %s back to %lld bytes: %s", path, (long long)keep,
                     strerror(errno));
            close(fd);
            return NULL;
        }
    } else {
        tools_sha256_init(h);
    }
    FILE *f = fdopen(fd, "w");
    if (!f) {
        snprintf(w->error, sizeof w->error, "cannot open %s: %s", path, strerror(errno));
        close(fd);
        return NULL;
    }
    setvbuf(f, NULL, _IOFBF, OUT_BUFFER);
    return f;
}

/* The output does not match the checkpoint: say so, and what to do. */
static int resume_refused(score_writer *w) {
    char why[sizeof w->error];
    snprintf(why, sizeof why, "%s", w->error);
    snprintf(w->error, sizeof w->error, "cannot resume: %.400s; run without --resume to start over", why);
    return 0;
}

int score_writer_open(score_writer *w, const score_options *o, const encore_model *model,
                      const score_checkpoint *resume_from, const tools_sha256 *records_hash) {
    memset(w, 0, sizeof *w);
    w->o = o;
    w->model = model;
    w->n_labels = encore_model_n_labels(model);
    w->width = w->n_labels > 0            ? w->n_labels
               : encore_model_is_sparse(model) ? encore_model_vocab_size(model)
                                               : encore_model_hidden_size(model);
    tools_sha256_init(&w->records_hash);
    tools_sha256_init(&w->out_hash);
    tools_sha256_init(&w->index_hash);
    const int resume = resume_from != NULL;
    if (resume) w->records_hash = *records_hash;
    const int npy = o->format == SCORE_OUTPUT_NPY;
    const int64_t records = resume ? resume_from->stats.records : 0;
    if (resume) {
        const int64_t row_bytes = (int64_t)w->width * (int64_t)sizeof(float);
        if (npy && resume_from->output_bytes != NPY_HEADER + records * row_bytes) {
            snprintf(w->error, sizeof w->error,
                     "the checkpoint says %s holds %lld bytes, not the %lld of %lld rows of %d floats",
                     o->output_path, (long long)resume_from->output_bytes,
                     (long long)(NPY_HEADER + records * row_bytes), (long long)records, w->width);
            return resume_refused(w);
        }
    }
    const expected_prefix out_want = {resume ? resume_from->output_bytes : 0, npy ? NPY_HEADER : 0,
                                      resume ? resume_from->output_sha256 : NULL,
                                      npy ? -1 : records + (o->format == SCORE_OUTPUT_TSV)};
    if (strcmp(o->output_path, "-") == 0) {
        w->out = stdout;
        setvbuf(stdout, NULL, _IOFBF, OUT_BUFFER);
    } else if (!(w->out = open_output(w, o->output_path, resume ? &out_want : NULL, &w->out_hash))) {
        return resume ? resume_refused(w) : 0;
    }
    if (npy) {
        size_t n = strlen(o->output_path);
        if (n > 4 && strcmp(o->output_path + n - 4, ".npy") == 0)
            snprintf(w->index_path, sizeof w->index_path, "%.*s.index.jsonl", (int)(n - 4), o->output_path);
        else
            snprintf(w->index_path, sizeof w->index_path, "%s.index.jsonl", o->output_path);
        const expected_prefix index_want = {resume ? resume_from->index_bytes : 0, 0,
                                            resume ? resume_from->index_sha256 : NULL, records};
        if (!(w->index = open_output(w, w->index_path, resume ? &index_want : NULL, &w->index_hash)))
            return resume ? resume_refused(w) : 0;
    }
    if (resume) {
        w->rows = records;
        return 1;
    }
    if (o->format == SCORE_OUTPUT_TSV) {
        char *text = NULL;
        size_t len = 0;
        FILE *m = open_memstream(&text, &len);
        if (!m) return 0;
        tsv_header(w, m);
        if (fclose(m) != 0 || !text) {
            free(text);
            return 0;
        }
        emit(w->out, &w->out_hash, text, len);
        free(text);
    }
    if (npy) { /* not hashed: rewritten in place as rows come */
        char h[NPY_HEADER];
        npy_header(h, 0, w->width);
        fwrite(h, 1, NPY_HEADER, w->out);
    }
    return !ferror(w->out);
}

int score_writer_sync(score_writer *w, score_checkpoint *state) {
    int ok = fflush(w->out) == 0;
    if (ok && w->o->format == SCORE_OUTPUT_NPY) ok = npy_write_header(w) && fflush(w->index) == 0;
    if (ok && w->out != stdout) {
        ok = fsync(fileno(w->out)) == 0;
        if (ok && w->index) ok = fsync(fileno(w->index)) == 0;
    }
    if (!ok) {
        snprintf(w->error, sizeof w->error, "writing %s: %s", w->o->output_path, strerror(errno));
        return 0;
    }
    state->output_bytes = w->out == stdout ? 0 : (int64_t)ftello(w->out);
    state->index_bytes = w->index ? (int64_t)ftello(w->index) : 0;
    tools_sha256_digest(&w->records_hash, state->input_sha256);
    tools_sha256_digest(&w->out_hash, state->output_sha256);
    tools_sha256_digest(&w->index_hash, state->index_sha256);
    return 1;
}

int score_writer_close(score_writer *w) {
    int ok = 1;
    if (w->out && w->out != stdout) ok = fclose(w->out) == 0;
    else if (w->out) ok = fflush(w->out) == 0;
    if (w->index) ok = fclose(w->index) == 0 && ok;
    w->out = w->index = NULL;
    return ok;
}
