/* score_checkpoint.c: the checkpoint file of `encore score`, a small JSON
 * object. */
#include "score_checkpoint.h"

#include "read_file.h"

#include <cjson/cJSON.h>
#include <errno.h>
#include <fcntl.h>
#include <libgen.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

enum { CHECKPOINT_VERSION = 1 };

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
    char num[32];
#define PUT_INT(obj, key, v)                                 \
    do {                                                     \
        snprintf(num, sizeof num, "%lld", (long long)(v));   \
        cJSON_AddStringToObject(obj, key, num);              \
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
#undef PUT_INT
    cJSON_AddItemToObject(root, "problems", problems);
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

static int get_int(const cJSON *obj, const char *key, int64_t *out) {
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(obj, key);
    if (!cJSON_IsString(v)) return 0;
    char *end = NULL;
    long long n = strtoll(v->valuestring, &end, 10);
    if (!*v->valuestring || *end || n < 0) return 0;
    *out = n;
    return 1;
}

int score_checkpoint_read(const char *path, score_checkpoint *c, char *err, size_t errlen) {
    memset(c, 0, sizeof *c);
    char *text = tools_read_file(path, NULL);
    if (!text) {
        if (errno == ENOENT) return 0;
        snprintf(err, errlen, "cannot read the checkpoint %s: %s", path, strerror(errno));
        return -1;
    }
    cJSON *root = cJSON_Parse(text);
    free(text);
    const cJSON *version = cJSON_GetObjectItemCaseSensitive(root, "version");
    const cJSON *job = cJSON_GetObjectItemCaseSensitive(root, "job");
    const cJSON *problems = cJSON_GetObjectItemCaseSensitive(root, "problems");
    int ok = cJSON_IsNumber(version) && version->valueint == CHECKPOINT_VERSION && cJSON_IsString(job) &&
             cJSON_IsObject(problems) && get_int(root, "input_offset", &c->input_offset) &&
             get_int(root, "input_line", &c->input_line) && get_int(root, "output_bytes", &c->output_bytes) &&
             get_int(root, "index_bytes", &c->index_bytes) && get_int(root, "records", &c->stats.records) &&
             get_int(root, "scored", &c->stats.scored) && get_int(root, "truncated", &c->stats.truncated) &&
             get_int(root, "tokens", &c->stats.tokens);
    for (int p = 1; ok && p < SCORE_PROBLEM_COUNT; p++)
        ok = get_int(problems, score_problem_name((score_problem)p), &c->stats.problems[p]);
    if (ok) {
        snprintf(c->job, sizeof c->job, "%s", job->valuestring);
        c->complete = cJSON_IsTrue(cJSON_GetObjectItemCaseSensitive(root, "complete"));
        const cJSON *st = cJSON_GetObjectItemCaseSensitive(root, "exit_status");
        c->exit_status = cJSON_IsNumber(st) ? st->valueint : 0;
    } else {
        snprintf(err, errlen, "the checkpoint %s is damaged or from another version of encore; delete it to "
                 "start over", path);
    }
    cJSON_Delete(root);
    return ok ? 1 : -1;
}
