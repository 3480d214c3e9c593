/* fuzz_common.c: see fuzz_common.h. */
#include "fuzz_common.h"

#include <dirent.h>
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#ifndef ENCORE_FIXTURES_DIR
#error "ENCORE_FIXTURES_DIR must name tests/fixtures"
#endif

static char dir[256];

static void remove_dir(void) {
    DIR *d = opendir(dir);
    if (!d) return;
    struct dirent *e;
    char path[512];
    while ((e = readdir(d))) {
        if (e->d_name[0] == '.') continue;
        snprintf(path, sizeof path, "%s/%s", dir, e->d_name);
        unlink(path);
    }
    closedir(d);
    rmdir(dir);
}

const char *fuzz_dir(void) {
    if (!dir[0]) {
        struct stat st;
        snprintf(dir, sizeof dir, "%s/encore-fuzz-XXXXXX",
                 stat("/dev/shm", &st) == 0 && S_ISDIR(st.st_mode) ? "/dev/shm" : "/tmp");
        if (!mkdtemp(dir)) {
            perror("mkdtemp");
            abort();
        }
        atexit(remove_dir);
    }
    return dir;
}

const char *fuzz_path(int slot, const char *name) {
    static char paths[4][512];
    snprintf(paths[slot & 3], sizeof paths[0], "%s/%s", fuzz_dir(), name);
    return paths[slot & 3];
}

void fuzz_write(const char *name, const void *data, size_t n) {
    const char *path = fuzz_path(3, name);
    if (!data) {
        unlink(path);
        return;
    }
    int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0644);
    if (fd < 0) {
        perror(path);
        abort();
    }
    const char *p = data;
    while (n > 0) {
        ssize_t w = write(fd, p, n);
        if (w <= 0) {
            perror(path);
            abort();
        }
        p += w;
        n -= (size_t)w;
    }
    close(fd);
}

const char *fuzz_fixture(const char *name) {
    static char path[1024];
    snprintf(path, sizeof path, "%s/models/%s", ENCORE_FIXTURES_DIR, name);
    return path;
}

static void quiet(encore_log_level level, const char *message, void *user_data) {
    (void)level, (void)message, (void)user_data;
}

void fuzz_quiet(void) { encore_log_set(quiet, NULL); }

int fuzz_split(const uint8_t *data, size_t size, const uint8_t **parts, size_t *lens, int max) {
    int n = 0;
    size_t start = 0;
    for (size_t i = 0; i + 1 < size && n < max - 1; i++) {
        if (data[i] == 0 && data[i + 1] == 0) {
            parts[n] = data + start;
            lens[n++] = i - start;
            start = i + 2;
            i++;
        }
    }
    parts[n] = data + start;
    lens[n++] = size - start;
    return n;
}

char *fuzz_strndup(const uint8_t *data, size_t n) {
    char *s = malloc(n + 1);
    if (!s) abort();
    memcpy(s, data, n);
    s[n] = '\0';
    return s;
}

int fuzz_same_encoding(const encore_encoding *a, const encore_encoding *b) {
    if (!a || !b) return a == b;
    const size_t n = (size_t)a->n_tokens * sizeof(int32_t);
    return a->n_tokens == b->n_tokens && a->n_untruncated == b->n_untruncated && memcmp(a->ids, b->ids, n) == 0 &&
           memcmp(a->type_ids, b->type_ids, n) == 0 && memcmp(a->sequence_ids, b->sequence_ids, n) == 0 &&
           memcmp(a->offsets, b->offsets, 2 * n) == 0 && memcmp(a->word_ids, b->word_ids, n) == 0;
}

int fuzz_load_and_run(const uint8_t *data, size_t size, const char *first_name, const char *second_name,
                      const encore_input texts[2], int cls_pass) {
    if (size < 3) return 0;
    const encore_weights weights[4] = {ENCORE_WEIGHTS_FP32, ENCORE_WEIGHTS_BF16, ENCORE_WEIGHTS_INT8,
                                       ENCORE_WEIGHTS_INT8_DYNAMIC};
    encore_model_params mp = encore_model_default_params();
    mp.weights = weights[data[0] % 4];
    size_t n = (size_t)data[1] | (size_t)data[2] << 8;
    if (n > size - 3) n = size - 3;
    fuzz_write(first_name, data + 3, n);
    fuzz_write(second_name, data + 3 + n, size - 3 - n);
    encore_model *m = NULL;
    if (encore_model_load(fuzz_dir(), mp, &m) != ENCORE_STATUS_OK) {
        FUZZ_CHECK(m == NULL, "a failed load left a model");
        return 0;
    }
    encore_session_params sp = encore_session_default_params();
    sp.n_threads = 1;
    encore_session *s = NULL;
    if (encore_session_create(m, sp, &s) == ENCORE_STATUS_OK) {
        const int labels = encore_model_n_labels(m), hidden = encore_model_hidden_size(m);
        float *out = malloc(sizeof(float) * 2 * (size_t)(labels > hidden ? labels : hidden));
        if (labels > 0) encore_session_classify(s, texts, 2, out);
        encore_session_embed(s, texts, 2, ENCORE_POOLING_MEAN, 1, out);
        if (cls_pass) encore_session_embed(s, texts, 1, ENCORE_POOLING_CLS, 0, out);
        free(out);
        encore_session_free(s);
    }
    encore_model_free(m);
    return 0;
}
