/* pull.c: `encore pull`: download a model from the Hugging Face Hub into the
 * cache layout huggingface_hub uses, so that transformers and encore share
 * one cache:
 *
 *   $CACHE/models--{org}--{name}/blobs/{etag}                    file contents
 *   $CACHE/models--{org}--{name}/snapshots/{commit}/{filename}   -> ../../blobs/{etag}
 *   $CACHE/models--{org}--{name}/refs/{revision}                 the commit hash
 *
 * The protocol is the Hub's, as huggingface_hub's hf_hub_download speaks it:
 *   GET  {endpoint}/api/models/{repo}/revision/{revision}
 *        -> {"sha": commit, "siblings": [{"rfilename": ...}, ...]}
 *   HEAD {endpoint}/{repo}/resolve/{commit}/{filename}, not following a
 *        redirect to another host: ETag, or for an LFS file X-Linked-Etag (its
 *        sha256) and X-Linked-Size, on the Hub's own answer
 *   GET  the same URL, following redirects (LFS files live on a CDN), with a
 *        Range header to resume a partial download.
 *
 * Only the files encore reads are fetched. Transient failures (connection
 * errors, 5xx, 429, a transfer that ends early) are retried with exponential
 * backoff, resuming from the bytes already on disk. */
#include "pull.h"
#include "pull_internal.h"

#include "encore.h"
#include "read_file.h"

#include <cJSON.h>
#include <openssl/evp.h>

#include <ctype.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <pwd.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

/* The files encore reads, in download order (the big one last). */
static const char *const wanted_files[] = {
    "config.json",         "tokenizer.json",   "tokenizer_config.json",     "special_tokens_map.json",
    "vocab.txt",           "modules.json",     "sentence_bert_config.json", "1_Pooling/config.json",
    "adapter_config.json", "adapter_model.safetensors", "model.safetensors",
};

/* ---- small helpers ---------------------------------------------------- */

static int is_hex(const char *s, size_t n) {
    if (strlen(s) != n) return 0;
    for (size_t i = 0; i < n; i++)
        if (!isxdigit((unsigned char)s[i])) return 0;
    return 1;
}

static int mkdir_p(const char *path) {
    char *p = check_alloc(strdup(path));
    int rc = 0;
    for (char *s = p + 1; *s && rc == 0; s++) {
        if (*s != '/') continue;
        *s = '\0';
        if (mkdir(p, 0755) != 0 && errno != EEXIST) rc = -1;
        *s = '/';
    }
    if (rc == 0 && mkdir(p, 0755) != 0 && errno != EEXIST) rc = -1;
    int saved = errno;
    free(p);
    errno = saved;
    return rc;
}

static int mkdir_parent(const char *path) {
    char *dir = check_alloc(strdup(path));
    char *slash = strrchr(dir, '/');
    int rc = 0;
    if (slash && slash != dir) {
        *slash = '\0';
        rc = mkdir_p(dir);
    }
    int saved = errno;
    free(dir);
    errno = saved;
    return rc;
}

/* Percent-encode everything but unreserved characters and those in safe. */
static char *url_quote(const char *s, const char *safe) {
    char *out = check_alloc(malloc(3 * strlen(s) + 1)), *o = out;
    for (const unsigned char *p = (const unsigned char *)s; *p; p++) {
        if (isalnum(*p) || strchr("-._~", *p) || strchr(safe, *p)) *o++ = (char)*p;
        else o += sprintf(o, "%%%02X", *p);
    }
    *o = '\0';
    return out;
}

/* huggingface_hub's rule: [namespace/]name, each part made of letters, digits,
 * '-', '_', '.', starting and ending with a letter, digit or '_', and no "--"
 * or ".." anywhere (the cache folder name uses "--" as the separator). */
static int valid_repo_id(const char *id) {
    size_t n = strlen(id);
    if (n == 0 || n > 200 || strstr(id, "--") || strstr(id, "..")) return 0;
    int slashes = 0;
    for (size_t i = 0; i < n; i++) {
        unsigned char ch = (unsigned char)id[i];
        if (ch == '/') {
            slashes++;
            continue;
        }
        if (!isalnum(ch) && !strchr("-_.", ch)) return 0;
        int edge = i == 0 || i + 1 == n || id[i - 1] == '/' || id[i + 1] == '/';
        if (edge && !isalnum(ch) && ch != '_') return 0;
    }
    return slashes <= 1 && id[0] != '/' && id[n - 1] != '/';
}

/* A branch, tag or commit; it names refs/{revision} in the cache, so no
 * "..", no empty path parts. */
static int valid_revision(const char *rev) {
    size_t n = strlen(rev);
    if (n == 0 || n > 255 || strstr(rev, "..") || strstr(rev, "//") || rev[0] == '/' || rev[n - 1] == '/') return 0;
    for (size_t i = 0; i < n; i++)
        if (!isalnum((unsigned char)rev[i]) && !strchr("-_./", rev[i])) return 0;
    return 1;
}

/* ETag: "value" or W/"value"; the value names a file in blobs/. */
static int normalize_etag(const char *etag, char *out, size_t cap) {
    if (strncmp(etag, "W/", 2) == 0) etag += 2;
    size_t n = strlen(etag);
    if (n >= 2 && etag[0] == '"' && etag[n - 1] == '"') {
        etag++;
        n -= 2;
    }
    if (n == 0 || n >= cap || etag[0] == '.') return 0;
    for (size_t i = 0; i < n; i++)
        if (!isalnum((unsigned char)etag[i]) && !strchr("-_.", etag[i])) return 0;
    memcpy(out, etag, n);
    out[n] = '\0';
    return 1;
}

static int sha256_file(const char *path, char hex[65]) {
    FILE *f = fopen(path, "rb");
    if (!f) return -1;
    const size_t cap = 1 << 20;
    unsigned char *buf = check_alloc(malloc(cap));
    EVP_MD_CTX *md = EVP_MD_CTX_new();
    int ok = md && EVP_DigestInit_ex(md, EVP_sha256(), NULL) == 1;
    size_t n;
    while (ok && (n = fread(buf, 1, cap, f)) > 0) ok = EVP_DigestUpdate(md, buf, n) == 1;
    if (ferror(f)) ok = 0;
    unsigned char digest[EVP_MAX_MD_SIZE];
    unsigned int len = 0;
    if (ok) ok = EVP_DigestFinal_ex(md, digest, &len) == 1 && len == 32;
    for (unsigned int i = 0; ok && i < len; i++) sprintf(hex + 2 * i, "%02x", digest[i]);
    EVP_MD_CTX_free(md);
    free(buf);
    fclose(f);
    return ok ? 0 : -1;
}

/* ---- the Hub ---------------------------------------------------------- */

/* GET the model's info at the revision. Returns 0 with *info set, 1 when it
 * failed (reported), 2 when the endpoint cannot be reached (why says why;
 * not reported, the caller may fall back to the cache). */
static int fetch_model_info(pull_ctx *c, cJSON **info, char *why, size_t why_cap) {
    char *rev = url_quote(c->revision, "");
    char *url = xprintf("%s/api/models/%s/revision/%s", c->endpoint, c->repo_id, rev);
    int result = 1;
    for (int attempt = 1;; attempt++) {
        http_response r;
        body_sink s = {.resp = &r, .fd = -1};
        char err[CURL_ERROR_SIZE];
        CURLcode rc = http_perform(c, url, 0, NULL, &r, &s, err, sizeof err);
        if (rc == CURLE_OK && r.status == 200) {
            *info = s.buf ? cJSON_ParseWithLength(s.buf, s.len) : NULL;
            free(s.buf);
            if (cJSON_IsObject(*info)) result = 0;
            else fprintf(stderr, "encore: %s did not answer with model info in JSON; is it a Hugging Face Hub?\n", url);
            break;
        }
        free(s.buf);
        if (rc != CURLE_OK) snprintf(why, why_cap, "%s", err);
        else snprintf(why, why_cap, "HTTP %ld", r.status);
        if (attempt < PULL_ATTEMPTS && is_transient(rc, r.status)) {
            pull_backoff(c, attempt, "model info", why);
            continue;
        }
        if (rc != CURLE_OK && is_unreachable(rc)) result = 2;
        else if (rc != CURLE_OK) fprintf(stderr, "encore: cannot get model %s from %s: %s\n", c->repo_id, c->endpoint, why);
        else report_http_error(c, &r, NULL);
        break;
    }
    if (result != 0 && *info) {
        cJSON_Delete(*info);
        *info = NULL;
    }
    free(url);
    free(rev);
    return result;
}

typedef struct file_meta {
    char etag[256];              /* the blob's name */
    long long size;              /* -1: unknown */
    int lfs;                     /* etag is the sha256 of the contents */
} file_meta;

/* HEAD the resolve URL: the Hub's own answer carries the file's identity,
 * also when it redirects to a CDN for the contents. */
static int fetch_file_meta(pull_ctx *c, const char *url, const char *filename, file_meta *m) {
    char *cur = check_alloc(strdup(url));
    int result = 1, hops = 0;
    for (int attempt = 1;;) {
        http_response r;
        char err[CURL_ERROR_SIZE], why[CURL_ERROR_SIZE + 32];
        CURLcode rc = http_perform(c, cur, 1, NULL, &r, NULL, err, sizeof err);
        const int redirect = rc == CURLE_OK && r.status >= 300 && r.status < 400;
        if (redirect && r.location_relative && !r.linked_etag[0] && r.redirect_url[0] &&
            hops < PULL_MAX_RELATIVE_REDIRECTS) {
            free(cur);
            cur = check_alloc(strdup(r.redirect_url));
            hops++;
            continue;
        }
        if (rc == CURLE_OK && r.status >= 200 && r.status < 400) {
            const char *etag = r.linked_etag[0] ? r.linked_etag : r.etag;
            if (normalize_etag(etag, m->etag, sizeof m->etag)) {
                m->lfs = r.linked_etag[0] != '\0';
                m->size = m->lfs ? r.linked_size : redirect ? -1 : r.content_length;
                result = 0;
            } else {
                fprintf(stderr, "encore: %s gave no usable ETag for %s ('%s'); is it a Hugging Face Hub?\n",
                        c->endpoint, filename, etag);
            }
            break;
        }
        if (rc != CURLE_OK) snprintf(why, sizeof why, "%s", err);
        else snprintf(why, sizeof why, "HTTP %ld", r.status);
        if (attempt < PULL_ATTEMPTS && is_transient(rc, r.status)) {
            pull_backoff(c, attempt++, filename, why);
            continue;
        }
        if (rc != CURLE_OK)
            fprintf(stderr, "encore: cannot get %s of model %s from %s: %s\n", filename, c->repo_id, c->endpoint, why);
        else report_http_error(c, &r, filename);
        break;
    }
    free(cur);
    return result;
}

/* Size, and for an LFS file the sha256 its etag names. A bad file is removed:
 * resuming it would only keep the damage. */
static int verify_download(pull_ctx *c, const char *filename, const file_meta *m, const char *part) {
    struct stat st;
    if (stat(part, &st) != 0) {
        fprintf(stderr, "encore: cannot read %s: %s\n", part, strerror(errno));
        return 1;
    }
    if (m->size >= 0 && (long long)st.st_size != m->size) {
        unlink(part);
        fprintf(stderr, "encore: %s of model %s has %lld bytes, expected %lld; removed it, run the command again\n",
                filename, c->repo_id, (long long)st.st_size, m->size);
        return 1;
    }
    if (m->lfs && is_hex(m->etag, 64)) {
        char got[65] = "";
        if (sha256_file(part, got) != 0) {
            fprintf(stderr, "encore: cannot read %s to check its sha256\n", part);
            return 1;
        }
        if (strcasecmp(got, m->etag) != 0) {
            unlink(part);
            fprintf(stderr,
                    "encore: checksum mismatch for %s of model %s: sha256 %s, expected %s; removed the download, "
                    "run the command again\n",
                    filename, c->repo_id, got, m->etag);
            return 1;
        }
    }
    return 0;
}

/* Download url to blob through blob.incomplete: resume what is there, retry
 * transient failures, verify, then rename into place. */
static int download_blob(pull_ctx *c, const char *url, const char *filename, const file_meta *m, const char *blob) {
    char *part = xprintf("%s.incomplete", blob);
    int result = 1;
    for (int attempt = 1;; attempt++) {
        struct stat st;
        long long have = stat(part, &st) == 0 ? (long long)st.st_size : 0;
        if (m->size >= 0 && have > m->size) {
            unlink(part);
            have = 0;
        }
        if (m->size >= 0 && have == m->size) { /* all there: a previous run stopped before the rename */
            result = 0;
            break;
        }
        int fd = open(part, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0644);
        if (fd < 0) {
            fprintf(stderr, "encore: cannot write %s: %s\n", part, strerror(errno));
            break;
        }
        char range[48], size_a[32], size_b[32];
        snprintf(range, sizeof range, "%lld-", have);
        if (have > 0 && !c->quiet)
            fprintf(stderr, "encore: resuming %s at %s of %s\n", filename, format_size(have, size_a, sizeof size_a),
                    format_size(m->size, size_b, sizeof size_b));
        http_response r;
        body_sink s = {.resp = &r, .fd = fd, .offset = have, .total = m->size, .label = filename, .ctx = c,
                       .last_progress = now_s()};
        char err[CURL_ERROR_SIZE], why[CURL_ERROR_SIZE + 64];
        CURLcode rc = http_perform(c, url, 0, have > 0 ? range : NULL, &r, &s, err, sizeof err);
        if (close(fd) != 0 && !s.write_errno) s.write_errno = errno;
        end_progress(c);
        if (s.write_errno) {
            fprintf(stderr, "encore: cannot write %s: %s\n", part, strerror(s.write_errno));
            break;
        }
        const long long got = stat(part, &st) == 0 ? (long long)st.st_size : 0;
        int transient;
        if (s.bad_range || (rc == CURLE_OK && r.status == 416)) { /* the partial file is of no use */
            unlink(part);
            snprintf(why, sizeof why, "the server cannot resume at byte %lld", have);
            transient = 1;
        } else if (rc == CURLE_OK && r.status >= 200 && r.status < 300) {
            if (m->size < 0 || got == m->size) {
                result = 0;
                break;
            }
            if (got > m->size) unlink(part);
            snprintf(why, sizeof why, "got %lld of %lld bytes", got, m->size);
            transient = 1;
        } else if (rc != CURLE_OK) {
            snprintf(why, sizeof why, "%s", err);
            transient = is_transient(rc, r.status);
        } else if (is_transient(rc, r.status)) {
            snprintf(why, sizeof why, "HTTP %ld", r.status);
            transient = 1;
        } else {
            report_http_error(c, &r, filename);
            break;
        }
        if (!transient || attempt >= PULL_ATTEMPTS) {
            fprintf(stderr, "encore: downloading %s of model %s failed: %s\n", filename, c->repo_id, why);
            break;
        }
        pull_backoff(c, attempt, filename, why);
    }
    if (result == 0) result = verify_download(c, filename, m, part);
    if (result == 0 && rename(part, blob) != 0) {
        fprintf(stderr, "encore: cannot rename %s: %s\n", part, strerror(errno));
        result = 1;
    }
    free(part);
    return result;
}

/* One pull at a time per blob, across processes: an exclusive flock on
 * .locks/models--{org}--{name}/{etag}.lock, as huggingface_hub does. */
static int lock_blob(pull_ctx *c, const char *etag) {
    char *path = xprintf("%s/%s.lock", c->lock_dir, etag);
    int fd = mkdir_p(c->lock_dir) == 0 ? open(path, O_RDWR | O_CREAT | O_CLOEXEC, 0644) : -1;
    if (fd >= 0 && flock(fd, LOCK_EX | LOCK_NB) != 0) {
        if (!c->quiet) fprintf(stderr, "encore: waiting for another download of %s\n", etag);
        while (flock(fd, LOCK_EX) != 0) {
            if (errno != EINTR) {
                close(fd);
                fd = -1;
                break;
            }
        }
    }
    if (fd < 0) fprintf(stderr, "encore: cannot lock %s: %s\n", path, strerror(errno));
    free(path);
    return fd;
}

/* snapshots/{commit}/{filename} -> ../../blobs/{etag}, relative so the cache
 * can move; replaced atomically. */
static int link_snapshot(pull_ctx *c, const char *filename, const char *etag, const char *link) {
    size_t depth = 2;
    for (const char *p = filename; *p; p++) depth += *p == '/';
    char *target = check_alloc(malloc(3 * depth + strlen("blobs/") + strlen(etag) + 1));
    target[0] = '\0';
    for (size_t i = 0; i < depth; i++) strcat(target, "../");
    strcat(target, "blobs/");
    strcat(target, etag);
    char *tmp = xprintf("%s.tmp%ld", link, (long)getpid());
    int rc = 0;
    unlink(tmp);
    if (mkdir_parent(link) != 0 || symlink(target, tmp) != 0 || rename(tmp, link) != 0) {
        fprintf(stderr, "encore: cannot link %s: %s\n", link, strerror(errno));
        unlink(tmp);
        rc = 1;
    }
    free(tmp);
    free(target);
    return rc;
}

/* Put filename of the commit into the snapshot; *downloaded counts fetches. */
static int pull_file(pull_ctx *c, const char *filename, int *downloaded) {
    char *link = xprintf("%s/snapshots/%s/%s", c->repo_dir, c->commit, filename);
    struct stat st;
    if (stat(link, &st) == 0 && S_ISREG(st.st_mode)) { /* a commit's files never change */
        free(link);
        return 0;
    }
    char *quoted = url_quote(filename, "/");
    char *url = xprintf("%s/%s/resolve/%s/%s", c->endpoint, c->repo_id, c->commit, quoted);
    file_meta m;
    int rc = fetch_file_meta(c, url, filename, &m);
    if (rc == 0) {
        char *blob = xprintf("%s/blobs/%s", c->repo_dir, m.etag);
        int lock = lock_blob(c, m.etag);
        if (lock < 0) rc = 1;
        else if (stat(blob, &st) != 0) { /* else another commit or a concurrent pull has it */
            char size[32];
            if (!c->quiet) fprintf(stderr, "encore: downloading %s (%s)\n", filename, format_size(m.size, size, sizeof size));
            rc = mkdir_parent(blob) == 0 ? download_blob(c, url, filename, &m, blob) : 1;
            if (rc == 0) (*downloaded)++;
        }
        if (lock >= 0) close(lock);
        if (rc == 0) rc = link_snapshot(c, filename, m.etag, link);
        free(blob);
    }
    free(url);
    free(quoted);
    free(link);
    return rc;
}

/* refs/{revision} holds the commit a branch or tag pointed to. */
static int write_ref(pull_ctx *c) {
    if (strcmp(c->revision, c->commit) == 0) return 0;
    char *path = xprintf("%s/refs/%s", c->repo_dir, c->revision);
    char *tmp = xprintf("%s.tmp%ld", path, (long)getpid());
    int rc = 1;
    FILE *f = mkdir_parent(path) == 0 ? fopen(tmp, "w") : NULL;
    if (f) {
        int ok = fputs(c->commit, f) >= 0;
        ok = fclose(f) == 0 && ok;
        rc = ok && rename(tmp, path) == 0 ? 0 : 1;
    }
    if (rc) {
        fprintf(stderr, "encore: cannot write %s: %s\n", path, strerror(errno));
        unlink(tmp);
    }
    free(tmp);
    free(path);
    return rc;
}

/* The revision's snapshot already in the cache (for offline use), or NULL. */
static char *cached_snapshot(const pull_ctx *c) {
    char commit[64] = "";
    if (is_hex(c->revision, 40)) snprintf(commit, sizeof commit, "%s", c->revision);
    else {
        char *ref = xprintf("%s/refs/%s", c->repo_dir, c->revision);
        tools_read_first_line(ref, commit, sizeof commit);
        free(ref);
    }
    if (!is_hex(commit, 40)) return NULL;
    char *dir = xprintf("%s/snapshots/%s", c->repo_dir, commit);
    char *config = xprintf("%s/config.json", dir), *weights = xprintf("%s/model.safetensors", dir);
    struct stat st;
    int ok = stat(config, &st) == 0 && stat(weights, &st) == 0;
    free(config);
    free(weights);
    if (!ok) {
        free(dir);
        return NULL;
    }
    return dir;
}

static int listed(const cJSON *siblings, const char *name) {
    const cJSON *s;
    cJSON_ArrayForEach(s, siblings) {
        const cJSON *f = cJSON_GetObjectItemCaseSensitive(s, "rfilename");
        if (cJSON_IsString(f) && strcmp(f->valuestring, name) == 0) return 1;
    }
    return 0;
}

/* encore reads config.json, model.safetensors and tokenizer.json or vocab.txt:
 * say what is missing before downloading anything. */
static int check_listing(pull_ctx *c, const cJSON *siblings) {
    /* A PEFT adapter: its weights; the model is its base (pulled after it). */
    if (listed(siblings, "adapter_config.json") && !listed(siblings, "config.json")) {
        if (listed(siblings, "adapter_model.safetensors")) return 0;
        fprintf(stderr, "encore: adapter %s at %s has no adapter_model.safetensors (%s); encore reads safetensors "
                        "adapters only\n",
                c->repo_id, c->revision, listed(siblings, "adapter_model.bin") ? "only adapter_model.bin" : "no weights");
        return 1;
    }
    if (!listed(siblings, "model.safetensors")) {
        const char *has = listed(siblings, "model.safetensors.index.json") ? "sharded safetensors"
                          : listed(siblings, "pytorch_model.bin")          ? "only pytorch_model.bin"
                                                                           : "no weights encore can read";
        fprintf(stderr,
                "encore: model %s at %s has no model.safetensors (%s); encore reads one model.safetensors "
                "file: convert the weights, or pull a revision that has it (--revision)\n",
                c->repo_id, c->revision, has);
        return 1;
    }
    if (!listed(siblings, "config.json")) {
        fprintf(stderr, "encore: model %s at %s has no config.json\n", c->repo_id, c->revision);
        return 1;
    }
    if (!listed(siblings, "tokenizer.json") && !listed(siblings, "vocab.txt")) {
        fprintf(stderr, "encore: model %s at %s has no tokenizer (tokenizer.json or vocab.txt)\n", c->repo_id,
                c->revision);
        return 1;
    }
    return 0;
}

/* ---- the command ------------------------------------------------------ */

static void pull_usage(FILE *f) {
    fputs("usage: encore pull MODEL_ID [--revision main] [--cache DIR] [--endpoint URL] [--quiet]\n"
          "\n"
          "Downloads what encore reads of a Hugging Face Hub model (config.json,\n"
          "model.safetensors, tokenizer and sentence-transformers files) into the\n"
          "huggingface_hub cache, resuming and verifying, and prints the snapshot\n"
          "directory:  encore classify --model \"$(encore pull org/name)\" TEXT\n"
          "A PEFT adapter (adapter_config.json) is pulled with its base model, which\n"
          "encore finds in the same cache when it loads the adapter (set HF_HUB_CACHE\n"
          "to DIR when --cache DIR is not the default).\n"
          "\n"
          "  --revision REV  branch, tag or commit (default main)\n"
          "  --cache DIR     default: $HF_HUB_CACHE, else $HF_HOME/hub, else ~/.cache/huggingface/hub\n"
          "  --endpoint URL  default: $HF_ENDPOINT, else https://huggingface.co\n"
          "  --quiet         no progress on stderr\n"
          "$HF_TOKEN is sent as a bearer token (private and gated models). With\n"
          "HF_HUB_OFFLINE=1, or when the endpoint cannot be reached, the cached snapshot\n"
          "is printed if there is one.\n",
          f);
}

char *encore_cli_hub_cache(void) {
    const char *v;
    if ((v = getenv("HF_HUB_CACHE")) && *v) return check_alloc(strdup(v));
    if ((v = getenv("HF_HOME")) && *v) return xprintf("%s/hub", v);
    if ((v = getenv("XDG_CACHE_HOME")) && *v) return xprintf("%s/huggingface/hub", v);
    const char *home = getenv("HOME");
    if (!home || !*home) {
        const struct passwd *pw = getpwuid(getuid());
        home = pw ? pw->pw_dir : "/tmp";
    }
    return xprintf("%s/.cache/huggingface/hub", home);
}

static int env_true(const char *name) {
    const char *v = getenv(name);
    return v && (strcmp(v, "1") == 0 || strcasecmp(v, "true") == 0 || strcasecmp(v, "yes") == 0 ||
                 strcasecmp(v, "on") == 0);
}

/* After the options are checked and the cache is ready: talk to the Hub. */
static int pull(pull_ctx *c) {
    if (env_true("HF_HUB_OFFLINE")) {
        char *snapshot = cached_snapshot(c);
        if (!snapshot) {
            fprintf(stderr, "encore: HF_HUB_OFFLINE is set and model %s at %s is not in the cache %s\n", c->repo_id,
                    c->revision, c->repo_dir);
            return 1;
        }
        c->snapshot = snapshot;
        return 0;
    }
    cJSON *info = NULL;
    char why[CURL_ERROR_SIZE + 32] = "";
    int rc = fetch_model_info(c, &info, why, sizeof why);
    if (rc == 2) {
        char *snapshot = cached_snapshot(c);
        if (snapshot) {
            if (!c->quiet) fprintf(stderr, "encore: cannot reach %s (%s); using the cached snapshot\n", c->endpoint, why);
            c->snapshot = snapshot;
            return 0;
        }
        fprintf(stderr, "encore: cannot reach %s to pull model %s: %s\n", c->endpoint, c->repo_id, why);
        return 1;
    }
    if (rc != 0) return 1;

    const cJSON *sha = cJSON_GetObjectItemCaseSensitive(info, "sha");
    const cJSON *siblings = cJSON_GetObjectItemCaseSensitive(info, "siblings");
    if (!cJSON_IsString(sha) || !is_hex(sha->valuestring, 40) || !cJSON_IsArray(siblings)) {
        fprintf(stderr, "encore: the model info of %s from %s lacks a commit sha or a file list\n", c->repo_id,
                c->endpoint);
        cJSON_Delete(info);
        return 1;
    }
    snprintf(c->commit, sizeof c->commit, "%s", sha->valuestring);
    rc = check_listing(c, siblings);
    if (rc == 0 && !c->quiet)
        fprintf(stderr, "encore: pulling %s at %s (commit %.12s) from %s\n", c->repo_id, c->revision, c->commit,
                c->endpoint);
    int downloaded = 0, files = 0;
    for (size_t i = 0; rc == 0 && i < sizeof wanted_files / sizeof *wanted_files; i++) {
        if (!listed(siblings, wanted_files[i])) continue;
        rc = pull_file(c, wanted_files[i], &downloaded);
        files++;
    }
    cJSON_Delete(info);
    if (rc == 0) rc = write_ref(c);
    if (rc != 0) return 1;
    if (!c->quiet)
        fprintf(stderr, "encore: %d file%s, %d downloaded, %d already in the cache\n", files, files == 1 ? "" : "s",
                downloaded, files - downloaded);
    c->snapshot = xprintf("%s/snapshots/%s", c->repo_dir, c->commit);
    return 0;
}

/* The cache folders of repo_id under cache: c->repo_dir and c->lock_dir. */
static void set_repo(pull_ctx *c, const char *cache, const char *repo_id) {
    /* "models--" + the repo id with '/' replaced by "--" */
    const char *slash = strchr(repo_id, '/');
    char *folder = slash ? xprintf("models--%.*s--%s", (int)(slash - repo_id), repo_id, slash + 1)
                         : xprintf("models--%s", repo_id);
    c->repo_id = repo_id;
    c->repo_dir = xprintf("%s/%s", cache, folder);
    c->lock_dir = xprintf("%s/.locks/%s", cache, folder);
    free(folder);
}

/* After pulling a PEFT adapter: its base model, as transformers would fetch
 * it, unless base_model_name_or_path is a local directory. */
static int pull_adapter_base(const pull_ctx *c, const char *cache) {
    char *path = xprintf("%s/adapter_config.json", c->snapshot);
    char *text = tools_read_file(path, NULL);
    free(path);
    if (!text) return 0;  /* not an adapter */
    cJSON *root = cJSON_Parse(text);
    free(text);
    const cJSON *b = cJSON_GetObjectItemCaseSensitive(root, "base_model_name_or_path");
    const cJSON *r = cJSON_GetObjectItemCaseSensitive(root, "revision");
    int rc = 0;
    struct stat sb;
    if (!cJSON_IsString(b) || !*b->valuestring) {
        fprintf(stderr, "encore: adapter %s names no base model (base_model_name_or_path)\n", c->repo_id);
        rc = 1;
    } else if (stat(b->valuestring, &sb) == 0 && S_ISDIR(sb.st_mode)) {
        if (!c->quiet) fprintf(stderr, "encore: the adapter's base model is the local directory %s\n", b->valuestring);
    } else if (!valid_repo_id(b->valuestring)) {
        fprintf(stderr, "encore: adapter %s names the base model '%s', which is neither a local directory nor a "
                        "model id\n",
                c->repo_id, b->valuestring);
        rc = 1;
    } else {
        pull_ctx base = *c;
        base.revision = cJSON_IsString(r) && *r->valuestring ? r->valuestring : "main";
        base.snapshot = NULL;
        set_repo(&base, cache, b->valuestring);
        if (!valid_revision(base.revision)) {
            fprintf(stderr, "encore: adapter %s names the base revision '%s', which is not a revision\n", c->repo_id,
                    base.revision);
            rc = 1;
        } else {
            if (!c->quiet) fprintf(stderr, "encore: adapter %s: pulling its base model %s\n", c->repo_id, base.repo_id);
            rc = pull(&base);
        }
        free(base.snapshot);
        free(base.repo_dir);
        free(base.lock_dir);
    }
    cJSON_Delete(root);
    return rc;
}

int encore_cli_pull(int argc, char **argv) {
    const char *repo_id = NULL, *revision = "main", *cache = NULL, *endpoint = NULL;
    int quiet = 0;
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        const int takes_value = strcmp(a, "--revision") == 0 || strcmp(a, "--cache") == 0 || strcmp(a, "--endpoint") == 0;
        if (takes_value && i + 1 >= argc) {
            fprintf(stderr, "encore: %s needs a value\n", a);
            return 2;
        }
        if (strcmp(a, "--help") == 0) {
            pull_usage(stdout);
            return 0;
        } else if (strcmp(a, "--quiet") == 0) quiet = 1;
        else if (strcmp(a, "--revision") == 0) revision = argv[++i];
        else if (strcmp(a, "--cache") == 0) cache = argv[++i];
        else if (strcmp(a, "--endpoint") == 0) endpoint = argv[++i];
        else if (a[0] == '-') {
            fprintf(stderr, "encore: unknown option %s\n", a);
            pull_usage(stderr);
            return 2;
        } else if (!repo_id) repo_id = a;
        else {
            fprintf(stderr, "encore: pull takes one MODEL_ID, got '%s' and '%s'\n", repo_id, a);
            return 2;
        }
    }
    if (!repo_id) {
        pull_usage(stderr);
        return 2;
    }
    if (!valid_repo_id(repo_id)) {
        fprintf(stderr, "encore: '%s' is not a model id; it looks like org/name, e.g. "
                        "distilbert/distilbert-base-uncased-finetuned-sst-2-english\n", repo_id);
        return 2;
    }
    if (!valid_revision(revision)) {
        fprintf(stderr, "encore: '%s' is not a revision (a branch, tag or commit)\n", revision);
        return 2;
    }
    if (!endpoint) endpoint = getenv("HF_ENDPOINT");
    if (!endpoint || !*endpoint) endpoint = "https://huggingface.co";
    if (strncmp(endpoint, "http://", 7) != 0 && strncmp(endpoint, "https://", 8) != 0) {
        fprintf(stderr, "encore: the endpoint must be an http:// or https:// URL, not '%s'\n", endpoint);
        return 2;
    }

    pull_ctx c = {.repo_id = repo_id, .revision = revision, .quiet = quiet, .tty = isatty(STDERR_FILENO)};
    c.endpoint = check_alloc(strdup(endpoint));
    for (size_t n = strlen(c.endpoint); n > 0 && c.endpoint[n - 1] == '/'; n--) c.endpoint[n - 1] = '\0';
    const char *backoff_env = getenv("ENCORE_PULL_BACKOFF_MS");
    c.backoff_ms = backoff_env && *backoff_env ? atoi(backoff_env) : PULL_BACKOFF_MS;
    if (c.backoff_ms < 0) c.backoff_ms = 0;

    char *cache_dir = cache ? check_alloc(strdup(cache)) : encore_cli_hub_cache();
    char *cache_abs = mkdir_p(cache_dir) == 0 ? realpath(cache_dir, NULL) : NULL;
    if (!cache_abs) {
        fprintf(stderr, "encore: cannot create the cache directory %s: %s\n", cache_dir, strerror(errno));
        free(cache_dir);
        free(c.endpoint);
        return 1;
    }
    set_repo(&c, cache_abs, repo_id);

    int rc = 1;
    if (curl_global_init(CURL_GLOBAL_DEFAULT) != CURLE_OK) {
        fprintf(stderr, "encore: cannot initialise libcurl\n");
    } else {
        /* The Hub's sizes and hashes are of the raw bytes: no compression. */
        c.headers = curl_slist_append(NULL, "Accept-Encoding: identity");
        /* libcurl drops a custom Authorization header when a redirect leaves
         * the host, so the token never reaches the CDN. */
        const char *token = getenv("HF_TOKEN");
        if (token && *token && c.headers) {
            char *auth = xprintf("Authorization: Bearer %s", token);
            struct curl_slist *h = curl_slist_append(c.headers, auth);
            if (h) c.headers = h;
            c.has_token = 1;
            free(auth);
        }
        rc = c.headers ? pull(&c) : 1;
        if (rc == 0) rc = pull_adapter_base(&c, cache_abs);
        end_progress(&c);
        if (rc == 0) printf("%s\n", c.snapshot);
        curl_slist_free_all(c.headers);
        curl_global_cleanup();
    }
    free(c.snapshot);
    free(c.repo_dir);
    free(c.lock_dir);
    free(cache_abs);
    free(cache_dir);
    free(c.endpoint);
    return rc;
}
