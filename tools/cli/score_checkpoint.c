/* score_checkpoint.c: the checkpoint file of `encore score`, a small JSON
 * object. */
#include "score_checkpoint.h"

#include "sha256.h"

#include <cjson/cJSON.h>
#include <errno.h>
#include <fcntl.h>
#include <libgen.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

enum { CHECKPOINT_VERSION = 2 };

static int write_all(int fd, const char *p, size_t n) {
    while (n > 0) {
        ssize_t w = write(fd, p, n);
        if (w < 0 && errno == EINTR) continue;
        if (w <= 0) return 0;
        p += w;
        n -= (size_t)w;
    }
    return 1;
}

/* fsync the directory holding path, so that a rename in it survives a crash. */
static void sync_dir(const char *path) {
    char copy[4096];
    snprintf(copy, sizeof copy, "%s", path);
    int fd = open(dirname(copy), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (fd >= 0) {
        fsync(fd);
        close(fd);
    }
}

/* Counts and offsets above this are not a real run's (2^56 bytes is 64
 * PiB), and sums of a few of them cannot overflow. */
#define CHECKPOINT_MAX_COUNT ((int64_t)1 << 56)

/* The text the checksum covers: every field, in a fixed order. */
static void canonical(const score_checkpoint *c, char *buf, size_t len) {
    char in[65], out[65], index[65];
    tools_sha256_hex(c->input_sha256, in);
    tools_sha256_hex(c->output_sha256, out);
    tools_sha256_hex(c->index_sha256, index);
    int n = snprintf(buf, len,
                     "encore score checkpoint %d\njob=%s\ncomplete=%d\nexit_status=%d\ninput_offset=%lld\n"
                     "input_line=%lld\noutput_bytes=%lld\nindex_bytes=%lld\nrecords=%lld\nscored=%lld\n"
                     "truncated=%lld\ntokens=%lld\ninput_sha256=%s\noutput_sha256=%s\nindex_sha256=%s\n",
                     CHECKPOINT_VERSION, c->job, c->complete, c->exit_status, (long long)c->input_offset,
                     (long long)c->input_line, (long long)c->output_bytes, (long long)c->index_bytes,
                     (long long)c->stats.records, (long long)c->stats.scored, (long long)c->stats.truncated,
                     (long long)c->stats.tokens, in, out, index);
    for (int p = 1; p < SCORE_PROBLEM_COUNT && n > 0 && (size_t)n < len; p++)
        n += snprintf(buf + n, len - (size_t)n, "%s=%lld\n", score_problem_name((score_problem)p),
                      (long long)c->stats.problems[p]);
}

static void checksum(const score_checkpoint *c, char hex[65]) {
    char text[4096];
    canonical(c, text, sizeof text);
    tools_sha256 h;
    tools_sha256_init(&h);
    tools_sha256_update(&h, text, strlen(text));
    uint8_t d[32];
    tools_sha256_digest(&h, d);
    tools_sha256_hex(d, hex);
}

int score_checkpoint_write(const char *path, const score_checkpoint *c, char *err, size_t errlen) {
    cJSON *root = cJSON_CreateObject();
    cJSON *problems = cJSON_CreateObject();
    if (!root || !problems) {
        cJSON_Delete(root);
        cJSON_Delete(problems);
        snprintf(err, errlen, "out of memory");
        return 0;
    }
    /* Integers as strings: exact whatever their size. */
    char num[32], hex[65];
#define PUT_INT(obj, key, v)                                 \
    do {                                                     \
        snprintf(num, sizeof num, "%lld", (long long)(v));   \
        cJSON_AddStringToObject(obj, key, num);              \
    } while (0)
#define PUT_HASH(key, d)                                     \
    do {                                                     \
        tools_sha256_hex(d, hex);                            \
        cJSON_AddStringToObject(root, key, hex);             \
    } while (0)
    cJSON_AddNumberToObject(root, "version", CHECKPOINT_VERSION);
    cJSON_AddStringToObject(root, "job", c->job);
    cJSON_AddBoolToObject(root, "complete", c->complete);
    cJSON_AddNumberToObject(root, "exit_status", c->exit_status);
    PUT_INT(root, "input_offset", c->input_offset);
    PUT_INT(root, "input_line", c->input_line);
    PUT_INT(root, "output_bytes", c->output_bytes);
    PUT_INT(root, "index_bytes", c->index_bytes);
    PUT_INT(root, "records", c->stats.records);
    PUT_INT(root, "scored", c->stats.scored);
    PUT_INT(root, "truncated", c->stats.truncated);
    PUT_INT(root, "tokens", c->stats.tokens);
    for (int p = 1; p < SCORE_PROBLEM_COUNT; p++) PUT_INT(problems, score_problem_name((score_problem)p), c->stats.problems[p]);
    cJSON_AddItemToObject(root, "problems", problems);
    PUT_HASH("input_sha256", c->input_sha256);
    PUT_HASH("output_sha256", c->output_sha256);
    PUT_HASH("index_sha256", c->index_sha256);
#undef PUT_INT
#undef PUT_HASH
    checksum(c, hex);
    cJSON_AddStringToObject(root, "checksum", hex);
    char *text = cJSON_Print(root);
    cJSON_Delete(root);
    if (!text) {
        snprintf(err, errlen, "out of memory");
        return 0;
    }
    char tmp[4200];
    snprintf(tmp, sizeof tmp, "%s.tmp", path);
    int ok = 0;
    int fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
    if (fd >= 0) {
        ok = write_all(fd, text, strlen(text)) && write_all(fd, "\n", 1) && fsync(fd) == 0;
        ok = close(fd) == 0 && ok;
        ok = ok && rename(tmp, path) == 0;
    }
    if (!ok) {
        snprintf(err, errlen, "writing the checkpoint %s: %s", path, strerror(errno));
        if (fd >= 0) unlink(tmp);
    } else {
        sync_dir(path);
    }
    free(text);
    return ok;
}

/* A count written as a decimal string, in [0, CHECKPOINT_MAX_COUNT]. */
static int get_int(const cJSON *obj, const char *key, int64_t *out) {
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(obj, key);
    if (!cJSON_IsString(v)) return 0;
    const char *s = v->valuestring;
    if (*s < '0' || *s > '9' || strlen(s) > 18) return 0; /* digits only: no sign, no space, no overflow */
    int64_t n = 0;
    for (; *s; s++) {
        if (*s < '0' || *s > '9') return 0;
        n = n * 10 + (*s - '0');
    }
    if (n > CHECKPOINT_MAX_COUNT) return 0;
    *out = n;
    return 1;
}

static int get_hash(const cJSON *obj, const char *key, uint8_t out[32]) {
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(obj, key);
    return cJSON_IsString(v) && tools_sha256_parse_hex(v->valuestring, out);
}

/* Do the counts agree? NULL, or what does not. */
static const char *inconsistency(const score_checkpoint *c) {
    const score_stats *s = &c->stats;
    int64_t errors = 0;
    for (int p = 1; p < SCORE_PROBLEM_COUNT; p++) errors += s->problems[p];
    if (s->scored + errors != s->records) return "its scored and error records do not add up to its records";
    if (s->truncated > s->scored) return "it has more truncated records than scored ones";
    if (s->tokens / ((int64_t)1 << 24) > s->scored) return "it has more tokens than its records can hold";
    if (s->records > c->input_line) return "it has more records than input lines";
    if (c->input_line > c->input_offset) return "it has more input lines than input bytes";
    if (c->exit_status != 0 && c->exit_status != 1 && c->exit_status != 130)
        return "its exit status is none that encore score gives";
    if (c->complete && c->exit_status != (errors > 0)) return "its exit status does not match its error records";
    return NULL;
}

int score_checkpoint_parse(const char *text, size_t len, score_checkpoint *c, char *err, size_t errlen) {
    memset(c, 0, sizeof *c);
    cJSON *root = cJSON_ParseWithLength(text, len);
    const cJSON *version = cJSON_GetObjectItemCaseSensitive(root, "version");
    const cJSON *job = cJSON_GetObjectItemCaseSensitive(root, "job");
    const cJSON *complete = cJSON_GetObjectItemCaseSensitive(root, "complete");
    const cJSON *status = cJSON_GetObjectItemCaseSensitive(root, "exit_status");
    const cJSON *problems = cJSON_GetObjectItemCaseSensitive(root, "problems");
    const cJSON *sum = cJSON_GetObjectItemCaseSensitive(root, "checksum");
    int ok = 0;
    if (!cJSON_IsObject(root)) {
        snprintf(err, errlen, "is not a JSON object");
    } else if (!cJSON_IsNumber(version) || version->valuedouble != CHECKPOINT_VERSION) {
        snprintf(err, errlen, "%s",
                 cJSON_IsNumber(version) && version->valuedouble == 1
                     ? "was written by an older encore, without checksums"
                     : "is from another version of encore");
    } else if (!cJSON_IsString(job) || strlen(job->valuestring) >= sizeof c->job || !cJSON_IsBool(complete) ||
               !cJSON_IsNumber(status) || !(status->valuedouble >= 0 && status->valuedouble <= 255) ||
               status->valuedouble != (double)(int)status->valuedouble || !cJSON_IsObject(problems) ||
               !cJSON_IsString(sum) || !get_int(root, "input_offset", &c->input_offset) ||
               !get_int(root, "input_line", &c->input_line) || !get_int(root, "output_bytes", &c->output_bytes) ||
               !get_int(root, "index_bytes", &c->index_bytes) || !get_int(root, "records", &c->stats.records) ||
               !get_int(root, "scored", &c->stats.scored) || !get_int(root, "truncated", &c->stats.truncated) ||
               !get_int(root, "tokens", &c->stats.tokens) || !get_hash(root, "input_sha256", c->input_sha256) ||
               !get_hash(root, "output_sha256", c->output_sha256) ||
               !get_hash(root, "index_sha256", c->index_sha256)) {
        snprintf(err, errlen, "lacks a field, or has one out of range");
    } else {
        ok = 1;
        for (int p = 1; ok && p < SCORE_PROBLEM_COUNT; p++)
            ok = get_int(problems, score_problem_name((score_problem)p), &c->stats.problems[p]);
        if (!ok) snprintf(err, errlen, "lacks an error count, or has one out of range");
    }
    if (ok) {
        snprintf(c->job, sizeof c->job, "%s", job->valuestring);
        c->complete = cJSON_IsTrue(complete);
        c->exit_status = (int)status->valuedouble;
        char want[65];
        checksum(c, want);
        const char *why = inconsistency(c);
        if (strcmp(want, sum->valuestring) != 0) {
            snprintf(err, errlen, "fails its checksum (damaged or edited)");
            ok = 0;
        } else if (why) {
            snprintf(err, errlen, "is inconsistent: %s", why);
            ok = 0;
        }
    }
    cJSON_Delete(root);
    return ok ? 1 : -1;
}

int score_checkpoint_read(const char *path, score_checkpoint *c, char *err, size_t errlen) {
    memset(c, 0, sizeof *c);
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0) {
        if (errno == ENOENT) return 0;
        snprintf(err, errlen, "cannot read the checkpoint %s: %s", path, strerror(errno));
        return -1;
    }
    /* A checkpoint is a few hundred bytes: read at most 64 KiB of it. */
    enum { MAX_CHECKPOINT = 64 << 10 };
    char *text = malloc(MAX_CHECKPOINT + 1);
    size_t n = 0;
    int failed = text ? 0 : ENOMEM;
    while (!failed && n <= MAX_CHECKPOINT) {
        ssize_t got = read(fd, text + n, MAX_CHECKPOINT + 1 - n);
        if (got < 0 && errno == EINTR) continue;
        if (got < 0) failed = errno;
        if (got <= 0) break;
        n += (size_t)got;
    }
    close(fd);
    char why[200] = "is larger than a checkpoint can be";
    int ok = !failed && n <= MAX_CHECKPOINT && score_checkpoint_parse(text, n, c, why, sizeof why) == 1;
    free(text);
    if (failed) {
        snprintf(err, errlen, "cannot read the checkpoint %s: %s", path, strerror(failed));
        return -1;
    }
    if (!ok) {
        snprintf(err, errlen, "cannot resume: the checkpoint %s %s; run without --resume to start over", path, why);
        return -1;
    }
    return 1;
}
