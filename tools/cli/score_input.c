/* score_input.c: split the input of `encore score` into records, then parse,
 * check and tokenize each one. */
#include "score_input.h"

#include "json_nul.h"

#include <cjson/cJSON.h>
#include <errno.h>
#include <fcntl.h>
#include <math.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <unistd.h>

/* A slot keeps a record buffer of up to KEEP_RAW_CAP bytes for the next record. */
enum { READ_BUFFER = 1 << 20, KEEP_RAW_CAP = 1 << 12, MAX_COLUMNS = 4096 };

const char *score_problem_name(score_problem p) {
    static const char *names[SCORE_PROBLEM_COUNT] = {"none",        "invalid_utf8", "malformed", "missing_field",
                                                     "empty_text",  "too_large",    "too_long",  "failed"};
    return p >= 0 && p < SCORE_PROBLEM_COUNT ? names[p] : "unknown";
}

void score_record_reset(score_record *r) {
    free(r->id);
    r->id = NULL;
    r->id_is_string = 0;
    encore_encoding_free(r->enc);
    r->enc = NULL;
    free(r->text);
    free(r->pair);
    free(r->answer);
    r->text = r->pair = r->answer = NULL;
    r->problem = SCORE_PROBLEM_NONE;
    r->message[0] = '\0';
    r->truncated = 0;
    free(r->out);
    r->out = NULL;
    r->out_len = 0;
    if (r->raw_cap > KEEP_RAW_CAP) {
        free(r->raw);
        r->raw = NULL;
        r->raw_cap = 0;
    }
    r->raw_len = 0;
}

void score_record_free(score_record *r) {
    score_record_reset(r);
    free(r->raw);
    r->raw = NULL;
    r->raw_cap = 0;
}

/* ---- reading --------------------------------------------------------- */

/* Refill the buffer. Returns the bytes now available, 0 at the end, -1 on error. */
static long fill(score_reader *r) {
    if (r->buf_pos < r->buf_len) return (long)(r->buf_len - r->buf_pos);
    if (r->eof) return 0;
    r->buf_pos = r->buf_len = 0;
    for (;;) {
        if (r->is_pipe) { /* a pipe may stay silent: wake up now and then to see if the run is over */
            struct pollfd pfd = {r->fd, POLLIN, 0};
            if (r->cancel && atomic_load(r->cancel)) {
                snprintf(r->error, sizeof r->error, "stopped");
                return -1;
            }
            if (poll(&pfd, 1, 200) == 0) continue;
        }
        ssize_t n = read(r->fd, r->buf, READ_BUFFER);
        if (n > 0) {
            r->buf_len = (size_t)n;
            return n;
        }
        if (n == 0) {
            /* The end of a regular file: it must be the end it had when it
             * was opened. A file cut short would end in a partial record,
             * which must not be scored as a whole one. */
            if (r->is_file && !score_reader_unchanged(r, r->error, sizeof r->error)) return -1;
            r->eof = 1;
            return 0;
        }
        if (errno != EINTR) {
            snprintf(r->error, sizeof r->error, "reading the input: %s", strerror(errno));
            return -1;
        }
    }
}

static int raw_append(score_record *rec, const char *p, size_t n, size_t max) {
    if (rec->raw_len + n > max) {
        rec->oversized = 1;
        n = max > rec->raw_len ? max - rec->raw_len : 0;
    }
    if (rec->raw_len + n + 1 > rec->raw_cap) {
        size_t cap = rec->raw_cap ? rec->raw_cap : 256;
        while (cap < rec->raw_len + n + 1) cap *= 2;
        char *grown = realloc(rec->raw, cap);
        if (!grown) return 0;
        rec->raw = grown;
        rec->raw_cap = cap;
    }
    memcpy(rec->raw + rec->raw_len, p, n);
    rec->raw_len += n;
    rec->raw[rec->raw_len] = '\0';
    return 1;
}

/* CSV quoting states, so that a newline inside quotes stays in its record. */
enum { CSV_FIELD_START, CSV_UNQUOTED, CSV_QUOTED, CSV_QUOTE_IN_QUOTED };

/* Bytes of buf[0..n) that belong to the current record, up to and including
 * its ending newline (*ended = 1), for CSV. */
static size_t csv_scan(const char *buf, size_t n, int *state, int64_t *lines, int *ended) {
    for (size_t i = 0; i < n; i++) {
        char c = buf[i];
        switch (*state) {
        case CSV_FIELD_START:
        case CSV_UNQUOTED:
            if (c == '"' && *state == CSV_FIELD_START) *state = CSV_QUOTED;
            else if (c == ',') *state = CSV_FIELD_START;
            else if (c == '\n') {
                *ended = 1;
                return i + 1;
            } else *state = CSV_UNQUOTED;
            break;
        case CSV_QUOTED:
            if (c == '"') *state = CSV_QUOTE_IN_QUOTED;
            else if (c == '\n') (*lines)++;
            break;
        case CSV_QUOTE_IN_QUOTED:
            if (c == '"') *state = CSV_QUOTED;
            else if (c == ',') *state = CSV_FIELD_START;
            else if (c == '\n') {
                *ended = 1;
                return i + 1;
            } else *state = CSV_UNQUOTED;
            break;
        }
    }
    return n;
}

/* One raw record, blank ones included. Returns 1, 0 at the end, -1 on error. */
static int next_raw(score_reader *r, score_record *rec) {
    rec->raw_len = 0;
    rec->oversized = 0;
    if (!rec->raw && !raw_append(rec, "", 0, r->max_record)) goto oom;
    rec->line = r->line + 1;
    int64_t inner_lines = 0;
    int state = CSV_FIELD_START, ended = 0, any = 0;
    while (!ended) {
        long avail = fill(r);
        if (avail < 0) return -1;
        if (avail == 0) break;
        const char *p = r->buf + r->buf_pos;
        size_t take;
        if (r->format == SCORE_INPUT_CSV) {
            take = csv_scan(p, (size_t)avail, &state, &inner_lines, &ended);
        } else {
            const char *nl = memchr(p, '\n', (size_t)avail);
            take = nl ? (size_t)(nl - p) + 1 : (size_t)avail;
            ended = nl != NULL;
        }
        any = 1;
        if (!raw_append(rec, p, ended ? take - 1 : take, r->max_record)) goto oom;
        r->buf_pos += take;
        r->offset += (int64_t)take;
    }
    if (!any) return 0;
    r->line += 1 + inner_lines;
    if (rec->raw_len > 0 && rec->raw[rec->raw_len - 1] == '\r' && !rec->oversized) rec->raw[--rec->raw_len] = '\0';
    rec->end_line = r->line;
    rec->end_offset = r->offset;
    return 1;
oom:
    snprintf(r->error, sizeof r->error, "out of memory reading a record of line %lld", (long long)r->line + 1);
    return -1;
}

/* White space only. (Not strchr(" \t...", c): it finds a NUL byte too, at
 * the string's end, and a line of NUL bytes was dropped as blank.) */
static int is_space(char c) { return c == ' ' || c == '\t' || c == '\r' || c == '\n' || c == '\f' || c == '\v'; }

static int blank(const char *s, size_t n) {
    for (size_t i = 0; i < n; i++)
        if (!is_space(s[i])) return 0;
    return 1;
}

int score_reader_next(score_reader *r, score_record *rec) {
    for (;;) {
        int got = next_raw(r, rec);
        if (got <= 0) return got;
        /* A blank line is no record in JSONL, TSV and CSV; in plain text it is
         * an empty text, reported as such. */
        if (r->format == SCORE_INPUT_TEXT || rec->oversized) return 1;
        if (r->format == SCORE_INPUT_JSONL ? !blank(rec->raw, rec->raw_len) : rec->raw_len > 0) return 1;
    }
}

/* ---- fields ---------------------------------------------------------- */

/* Split a TSV or CSV record into fields, in a copy owned by *store. Returns
 * the number of fields, or -1 when a CSV quote is not closed. */
static int split_fields(const char *raw, size_t len, int csv, char **fields, int max, char **store) {
    char *out = malloc(len + 1);
    *store = out;
    if (!out) return -2;
    int n = 0;
    size_t i = 0;
    for (;;) {
        char *field = out;
        if (csv && i < len && raw[i] == '"') {
            i++;
            int closed = 0;
            while (i < len) {
                if (raw[i] == '"') {
                    if (i + 1 < len && raw[i + 1] == '"') {
                        *out++ = '"';
                        i += 2;
                        continue;
                    }
                    i++;
                    closed = 1;
                    break;
                }
                *out++ = raw[i++];
            }
            if (!closed) return -1;
            while (i < len && raw[i] != ',') *out++ = raw[i++]; /* "a"b reads as ab, as Python's csv */
        } else {
            const char sep = csv ? ',' : '\t';
            while (i < len && raw[i] != sep) *out++ = raw[i++];
        }
        *out++ = '\0';
        if (n < max) fields[n] = field;
        n++;
        if (i >= len) break;
        i++; /* the separator */
    }
    /* CSV written on Windows: a quoted last field before "\r\n" leaves no '\r' (stripped by the reader). */
    return n;
}

static int find_column(char **fields, int n, const char *name) {
    for (int i = 0; i < n && i < MAX_COLUMNS; i++)
        if (strcmp(fields[i], name) == 0) return i;
    return -1;
}

static int read_header(score_reader *r, const score_options *o) {
    score_record head = {0};
    int got = next_raw(r, &head);
    if (got <= 0) {
        if (got == 0) snprintf(r->error, sizeof r->error, "the input is empty; %s needs a header row",
                               score_input_format_name(r->format));
        score_record_free(&head);
        return 0;
    }
    char **fields = malloc(MAX_COLUMNS * sizeof *fields);
    char *store = NULL;
    int n = fields ? split_fields(head.raw, head.raw_len, r->format == SCORE_INPUT_CSV, fields, MAX_COLUMNS, &store)
                   : -2;
    int ok = n > 0;
    if (n == -1) snprintf(r->error, sizeof r->error, "the header row has a quote that is not closed");
    else if (n < 0) snprintf(r->error, sizeof r->error, "out of memory");
    if (ok) {
        r->n_columns = n;
        r->text_col = find_column(fields, n, o->text_field);
        r->pair_col = o->pair_field ? find_column(fields, n, o->pair_field) : -1;
        r->id_col = find_column(fields, n, o->id_field);
        const char *missing = r->text_col < 0                      ? o->text_field
                              : o->pair_field && r->pair_col < 0   ? o->pair_field
                              : o->id_field_given && r->id_col < 0 ? o->id_field
                                                                   : NULL;
        if (missing) {
            int k = snprintf(r->error, sizeof r->error, "the header row has no '%s' column (it has:", missing);
            for (int i = 0; i < n && i < MAX_COLUMNS && k > 0 && (size_t)k < sizeof r->error; i++)
                k += snprintf(r->error + k, sizeof r->error - (size_t)k, " '%s'", fields[i]);
            if (k > 0 && (size_t)k < sizeof r->error - 1) snprintf(r->error + k, sizeof r->error - (size_t)k, ")");
            ok = 0;
        }
    }
    free(store);
    free(fields);
    score_record_free(&head);
    return ok;
}

static score_input_format format_from_name(const char *path) {
    const char *dot = strrchr(path, '.');
    if (!dot || strchr(dot, '/')) return SCORE_INPUT_AUTO;
    if (!strcasecmp(dot, ".jsonl") || !strcasecmp(dot, ".ndjson") || !strcasecmp(dot, ".json")) return SCORE_INPUT_JSONL;
    if (!strcasecmp(dot, ".tsv") || !strcasecmp(dot, ".tab")) return SCORE_INPUT_TSV;
    if (!strcasecmp(dot, ".csv")) return SCORE_INPUT_CSV;
    if (!strcasecmp(dot, ".txt")) return SCORE_INPUT_TEXT;
    return SCORE_INPUT_AUTO;
}

int score_reader_open(score_reader *r, const score_options *o) {
    memset(r, 0, sizeof *r);
    r->fd = -1;
    r->size = -1;
    r->max_record = o->max_record_bytes;
    r->text_col = r->pair_col = r->id_col = -1;
    const int is_stdin = strcmp(o->input_path, "-") == 0;
    r->fd = is_stdin ? 0 : open(o->input_path, O_RDONLY | O_CLOEXEC);
    if (r->fd < 0) {
        snprintf(r->error, sizeof r->error, "cannot open %s: %s", o->input_path, strerror(errno));
        return 0;
    }
    struct stat st;
    if (fstat(r->fd, &st) == 0 && S_ISREG(st.st_mode)) {
        r->size = r->file_size = (int64_t)st.st_size;
        r->file_mtime = st.st_mtim;
        r->is_file = 1;
    } else {
        r->is_pipe = 1;
    }
    if (r->size >= 0 && lseek(r->fd, 0, SEEK_CUR) != 0) r->is_pipe = 1; /* a redirected stdin, part read */
#ifdef POSIX_FADV_SEQUENTIAL
    if (r->size >= 0) posix_fadvise(r->fd, 0, 0, POSIX_FADV_SEQUENTIAL);
#endif
    r->buf = malloc(READ_BUFFER);
    if (!r->buf) {
        snprintf(r->error, sizeof r->error, "out of memory");
        return 0;
    }
    if (fill(r) < 0) return 0;
    /* A UTF-8 byte order mark is no part of the first record. */
    if (r->buf_len >= 3 && memcmp(r->buf, "\xef\xbb\xbf", 3) == 0) {
        r->buf_pos = 3;
        r->offset = 3;
    }
    r->format = o->input_format != SCORE_INPUT_AUTO ? o->input_format : format_from_name(o->input_path);
    if (r->format == SCORE_INPUT_AUTO) {
        size_t i = r->buf_pos;
        while (i < r->buf_len && is_space(r->buf[i])) i++;
        r->format = i < r->buf_len && r->buf[i] == '{' ? SCORE_INPUT_JSONL : SCORE_INPUT_TEXT;
    }
    if (r->format == SCORE_INPUT_TEXT && o->pair_field) {
        snprintf(r->error, sizeof r->error, "plain text input has no fields; --pair-field needs jsonl, tsv or csv");
        return 0;
    }
    if (r->format == SCORE_INPUT_TSV || r->format == SCORE_INPUT_CSV) return read_header(r, o);
    return 1;
}

void score_reader_close(score_reader *r) {
    if (r->fd > 0) close(r->fd);
    r->fd = -1;
    free(r->buf);
    r->buf = NULL;
}

int score_reader_unchanged(const score_reader *r, char *err, size_t errlen) {
    if (!r->is_file) return 1;
    struct stat st;
    const off_t at = lseek(r->fd, 0, SEEK_CUR);
    if (fstat(r->fd, &st) != 0) {
        snprintf(err, errlen, "cannot check the input: %s", strerror(errno));
        return 0;
    }
    if ((int64_t)st.st_size == r->file_size && st.st_mtim.tv_sec == r->file_mtime.tv_sec &&
        st.st_mtim.tv_nsec == r->file_mtime.tv_nsec && (at < 0 || (int64_t)at <= r->file_size))
        return 1;
    if ((int64_t)st.st_size < r->file_size)
        snprintf(err, errlen,
                 "the input shrank from %lld to %lld bytes while it was read: its last record may be cut, and "
                 "what follows is lost; score a file that stays put",
                 (long long)r->file_size, (long long)st.st_size);
    else
        snprintf(err, errlen,
                 "the input changed while it was read (%lld bytes at the start, %lld now, modified since): the "
                 "records read may not be what it holds; score a file that stays put",
                 (long long)r->file_size, (long long)st.st_size);
    return 0;
}

static void hash_u64(tools_sha256 *h, uint64_t v) {
    uint8_t b[8];
    for (int i = 0; i < 8; i++) b[i] = (uint8_t)(v >> (8 * i));
    tools_sha256_update(h, b, 8);
}

void score_record_hash(tools_sha256 *h, const score_record *rec) {
    hash_u64(h, (uint64_t)rec->line);
    hash_u64(h, (uint64_t)rec->end_line);
    hash_u64(h, (uint64_t)rec->end_offset);
    hash_u64(h, (uint64_t)rec->raw_len);
    const uint8_t oversized = (uint8_t)(rec->oversized != 0);
    tools_sha256_update(h, &oversized, 1);
    tools_sha256_update(h, rec->raw, rec->raw_len);
}

int score_reader_replay(score_reader *r, int64_t records, int64_t offset, int64_t line, const uint8_t sha256[32],
                        tools_sha256 *hash) {
    tools_sha256_init(hash);
    if (r->size >= 0 && offset > r->size) {
        snprintf(r->error, sizeof r->error, "the input has %lld bytes, fewer than the %lld the checkpoint covers",
                 (long long)r->size, (long long)offset);
        return 0;
    }
    score_record rec;
    memset(&rec, 0, sizeof rec);
    int ok = 1;
    for (int64_t i = 0; ok && i < records; i++) {
        const int got = score_reader_next(r, &rec);
        if (got == 0)
            snprintf(r->error, sizeof r->error, "the input holds %lld records, fewer than the %lld the checkpoint covers",
                     (long long)i, (long long)records);
        ok = got > 0;
        if (ok) score_record_hash(hash, &rec);
        score_record_reset(&rec);
    }
    score_record_free(&rec);
    if (!ok) return 0;
    if (r->offset != offset || r->line != line) {
        snprintf(r->error, sizeof r->error,
                 "the checkpoint's %lld records end at byte %lld (line %lld) of the input, but the input's end "
                 "at byte %lld (line %lld): it is not this input's checkpoint, or the input changed",
                 (long long)records, (long long)offset, (long long)line, (long long)r->offset, (long long)r->line);
        return 0;
    }
    uint8_t got[32];
    tools_sha256_digest(hash, got);
    if (memcmp(got, sha256, 32) != 0) {
        snprintf(r->error, sizeof r->error,
                 "the input's first %lld records are not those the checkpoint covers: the input changed since",
                 (long long)records);
        return 0;
    }
    return 1;
}

/* ---- checking and tokenizing ----------------------------------------- */

static void fail(score_record *rec, score_problem p, const char *fmt, const char *arg) {
    rec->problem = p;
    snprintf(rec->message, sizeof rec->message, fmt, arg);
}

/* The id of a JSON record: a string as it is, other values as JSON text. */
static char *json_id(const cJSON *v, int *is_string) {
    *is_string = cJSON_IsString(v);
    if (*is_string) return strdup(v->valuestring);
    if (cJSON_IsNumber(v) && v->valuedouble == floor(v->valuedouble) && fabs(v->valuedouble) < 9007199254740992.0) {
        char buf[32];
        snprintf(buf, sizeof buf, "%lld", (long long)v->valuedouble);
        return strdup(buf);
    }
    return cJSON_PrintUnformatted(v);
}

static const char *kind_of(const cJSON *v) {
    return cJSON_IsNumber(v) ? "a number" : cJSON_IsBool(v) ? "a boolean" : cJSON_IsNull(v) ? "null"
         : cJSON_IsArray(v) ? "an array" : "an object";
}

/* Text and pair of a JSONL record; the strings live in *json. */
static void parse_jsonl(const score_options *o, score_record *rec, cJSON **json, const char **text, const char **pair) {
    *json = cJSON_ParseWithLengthOpts(rec->raw, rec->raw_len + 1, NULL, 1);
    if (!cJSON_IsObject(*json)) {
        fail(rec, SCORE_PROBLEM_MALFORMED, *json ? "the line is JSON but not an object%s" : "malformed JSON%s", "");
        return;
    }
    const cJSON *id = cJSON_GetObjectItemCaseSensitive(*json, o->id_field);
    if (id && !cJSON_IsNull(id)) {
        rec->id = json_id(id, &rec->id_is_string);
    } else if (o->id_field_given) {
        fail(rec, SCORE_PROBLEM_MISSING_FIELD, "no '%s' field", o->id_field);
        return;
    }
    const char *names[2] = {o->text_field, o->pair_field};
    const char **outs[2] = {text, pair};
    for (int k = 0; k < 2 && names[k]; k++) {
        const cJSON *v = cJSON_GetObjectItemCaseSensitive(*json, names[k]);
        if (k == 1 && (!v || cJSON_IsNull(v))) break; /* no pair: a single text */
        if (!v) {
            fail(rec, SCORE_PROBLEM_MISSING_FIELD, "no '%s' field", names[k]);
            return;
        }
        if (!cJSON_IsString(v)) {
            rec->problem = SCORE_PROBLEM_MISSING_FIELD;
            snprintf(rec->message, sizeof rec->message, "field '%s' is %s, not a string", names[k], kind_of(v));
            return;
        }
        *outs[k] = v->valuestring;
    }
}

static void parse_columns(const score_reader *r, const score_options *o, score_record *rec, char **store,
                          const char **text, const char **pair) {
    char *fields[MAX_COLUMNS];
    int n = split_fields(rec->raw, rec->raw_len, r->format == SCORE_INPUT_CSV, fields, MAX_COLUMNS, store);
    if (n == -1) {
        fail(rec, SCORE_PROBLEM_MALFORMED, "malformed CSV: a quote is not closed%s", "");
        return;
    }
    if (n < 0) {
        fail(rec, SCORE_PROBLEM_FAILED, "out of memory%s", "");
        return;
    }
    if (n > MAX_COLUMNS) n = MAX_COLUMNS;
    if (r->id_col >= 0 && r->id_col < n) {
        rec->id = strdup(fields[r->id_col]);
        rec->id_is_string = 1;
    } else if (r->id_col >= 0) {
        fail(rec, SCORE_PROBLEM_MISSING_FIELD, "no '%s' column on this row", o->id_field);
        return;
    }
    if (r->text_col >= n || (r->pair_col >= 0 && r->pair_col >= n)) {
        fail(rec, SCORE_PROBLEM_MISSING_FIELD, "no '%s' column on this row",
             r->text_col >= n ? o->text_field : o->pair_field);
        return;
    }
    *text = fields[r->text_col];
    *pair = r->pair_col >= 0 ? fields[r->pair_col] : NULL;
}

static int utf8_valid(const char *s) {
    const size_t len = strlen(s);
    return encore_utf8_validate(s, len) == len;
}

void score_record_prepare(const score_reader *r, const score_options *o, const encore_model *model,
                          score_record *rec) {
    if (rec->oversized) {
        rec->problem = SCORE_PROBLEM_TOO_LARGE;
        snprintf(rec->message, sizeof rec->message, "the record is longer than %zu bytes (--max-record-bytes)",
                 o->max_record_bytes);
        return;
    }
    const size_t bad = encore_utf8_validate(rec->raw, rec->raw_len);
    if (bad < rec->raw_len) {
        rec->problem = SCORE_PROBLEM_INVALID_UTF8;
        snprintf(rec->message, sizeof rec->message, "invalid UTF-8 at byte %zu of the record", bad + 1);
        return;
    }
    const char *nul = memchr(rec->raw, '\0', rec->raw_len);
    if (nul) {
        rec->problem = SCORE_PROBLEM_MALFORMED;
        snprintf(rec->message, sizeof rec->message, "a NUL byte at byte %ld of the record",
                 (long)(nul - rec->raw) + 1);
        return;
    }
    const long nul_escape = r->format == SCORE_INPUT_JSONL ? encore_json_nul_escape(rec->raw, rec->raw_len) : -1;
    if (nul_escape >= 0) {
        /* cJSON would end the text there, and score what came before. */
        rec->problem = SCORE_PROBLEM_MALFORMED;
        snprintf(rec->message, sizeof rec->message,
                 "U+0000 (\\u0000 at byte %ld of the record), which encore's texts cannot carry", nul_escape + 1);
        return;
    }
    cJSON *json = NULL;
    char *store = NULL;
    const char *text = NULL, *pair = NULL;
    if (r->format == SCORE_INPUT_JSONL) parse_jsonl(o, rec, &json, &text, &pair);
    else if (r->format == SCORE_INPUT_TSV || r->format == SCORE_INPUT_CSV)
        parse_columns(r, o, rec, &store, &text, &pair);
    else text = rec->raw;
    if (rec->problem == SCORE_PROBLEM_NONE && rec->id && rec->id_is_string &&
        !utf8_valid(rec->id))
        fail(rec, SCORE_PROBLEM_INVALID_UTF8, "the id is not valid UTF-8%s", "");
    /* A blank text is a bad record, but for the structured pipelines, which
     * answer it their own way (no entities, or an error of the pipeline's). */
    if (rec->problem == SCORE_PROBLEM_NONE) {
        const char *names[2] = {o->text_field, o->pair_field};
        const char *texts[2] = {text, pair};
        for (int k = 0; k < 2 && texts[k] && rec->problem == SCORE_PROBLEM_NONE; k++) {
            if (!utf8_valid(texts[k]))
                fail(rec, SCORE_PROBLEM_INVALID_UTF8, "'%s' is not valid UTF-8", names[k]);
            else if (!cli_task_is_structured(o->task) && blank(texts[k], strlen(texts[k])))
                fail(rec, SCORE_PROBLEM_EMPTY_TEXT, r->format == SCORE_INPUT_TEXT ? "the line is empty%s"
                                                                                   : "'%s' is empty",
                     r->format == SCORE_INPUT_TEXT ? "" : names[k]);
        }
    }
    if (rec->problem == SCORE_PROBLEM_NONE && o->task == CLI_TASK_QA && !pair)
        fail(rec, SCORE_PROBLEM_MISSING_FIELD, "no '%s' field", o->pair_field);
    if (rec->problem == SCORE_PROBLEM_NONE && cli_task_is_structured(o->task)) {
        /* The pipeline tokenizes as it needs (windows, hypotheses) when the
         * model runs the record. */
        rec->text = strdup(text);
        rec->pair = pair ? strdup(pair) : NULL;
        if (!rec->text || (pair && !rec->pair)) fail(rec, SCORE_PROBLEM_FAILED, "out of memory%s", "");
    } else if (rec->problem == SCORE_PROBLEM_NONE) {
        encore_input in = {text, pair};
        encore_status st = encore_model_tokenize_for_task(model, in, encore_model_task(model), o->model.truncate, &rec->enc);
        if (st == ENCORE_STATUS_OK) {
            rec->truncated = rec->enc->n_untruncated > rec->enc->n_tokens;
        } else {
            rec->problem = st == ENCORE_STATUS_TOO_LONG ? SCORE_PROBLEM_TOO_LONG : SCORE_PROBLEM_FAILED;
            snprintf(rec->message, sizeof rec->message, "%s", encore_last_error());
            encore_encoding_free(rec->enc);
            rec->enc = NULL;
        }
    }
    cJSON_Delete(json);
    free(store);
}
