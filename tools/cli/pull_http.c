/* pull_http.c: the libcurl layer of `encore pull`: one request at a time
 * (HEAD or GET, into memory or appended to a file, with live progress),
 * which failures are worth a retry, the retry delay, and HTTP errors from the
 * Hub in words a user can act on. Plus the small helpers both halves use. */
#include "pull_internal.h"

#include "encore.h"

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>
#include <unistd.h>

/* ---- small helpers ---------------------------------------------------- */

void *check_alloc(void *p) {
    if (!p) {
        fputs("encore: out of memory\n", stderr);
        exit(1);
    }
    return p;
}

char *xprintf(const char *fmt, ...) {
    va_list ap;
    va_start(ap, fmt);
    char *s = NULL;
    int n = vasprintf(&s, fmt, ap);
    va_end(ap);
    return check_alloc(n < 0 ? NULL : s);
}

const char *format_size(long long bytes, char *buf, size_t cap) {
    if (bytes < 0) snprintf(buf, cap, "?");
    else if (bytes < 1000) snprintf(buf, cap, "%lld B", bytes);
    else if (bytes < 1000 * 1000) snprintf(buf, cap, "%.1f kB", bytes / 1e3);
    else if (bytes < 1000LL * 1000 * 1000) snprintf(buf, cap, "%.1f MB", bytes / 1e6);
    else snprintf(buf, cap, "%.2f GB", bytes / 1e9);
    return buf;
}

double now_s(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + ts.tv_nsec * 1e-9;
}

/* Clear the live progress line: the "downloading" line above says it all. */
void end_progress(pull_ctx *c) {
    if (c->progress_open) fputs("\r\033[K", stderr);
    c->progress_open = 0;
}

/* ---- HTTP ------------------------------------------------------------- */

void response_reset(http_response *r) {
    memset(r, 0, sizeof *r);
    r->content_length = r->linked_size = r->range_start = -1;
}

static void copy_value(char *dst, size_t cap, const char *v, size_t n) {
    if (n >= cap) n = cap - 1;
    memcpy(dst, v, n);
    dst[n] = '\0';
}

/* libcurl calls this once per header line, for every response of a redirect
 * chain; a status line starts a new response. */
static size_t on_header(char *line, size_t size, size_t count, void *user) {
    http_response *r = user;
    const size_t n = size * count;
    size_t len = n;
    while (len > 0 && (line[len - 1] == '\r' || line[len - 1] == '\n')) len--;
    char value[512];
    if (len >= 5 && strncmp(line, "HTTP/", 5) == 0) {
        response_reset(r);
        copy_value(value, sizeof value, line, len);
        const char *sp = strchr(value, ' ');
        r->status = sp ? strtol(sp + 1, NULL, 10) : 0;
        return n;
    }
    const char *colon = memchr(line, ':', len);
    if (!colon) return n;
    const size_t name_len = (size_t)(colon - line);
    const char *v = colon + 1, *end = line + len;
    while (v < end && (*v == ' ' || *v == '\t')) v++;
    while (end > v && (end[-1] == ' ' || end[-1] == '\t')) end--;
    copy_value(value, sizeof value, v, (size_t)(end - v));
#define HEADER_IS(h) (name_len == sizeof(h) - 1 && strncasecmp(line, h, name_len) == 0)
    if (HEADER_IS("ETag")) copy_value(r->etag, sizeof r->etag, value, strlen(value));
    else if (HEADER_IS("X-Linked-Etag")) copy_value(r->linked_etag, sizeof r->linked_etag, value, strlen(value));
    else if (HEADER_IS("X-Linked-Size")) r->linked_size = strtoll(value, NULL, 10);
    else if (HEADER_IS("Content-Length")) r->content_length = strtoll(value, NULL, 10);
    else if (HEADER_IS("Content-Range") && strncasecmp(value, "bytes ", 6) == 0)
        r->range_start = strtoll(value + 6, NULL, 10);
    else if (HEADER_IS("X-Error-Code")) copy_value(r->error_code, sizeof r->error_code, value, strlen(value));
    else if (HEADER_IS("X-Error-Message")) copy_value(r->error_message, sizeof r->error_message, value, strlen(value));
    else if (HEADER_IS("Location")) r->location_relative = value[0] == '/' && value[1] != '/';
#undef HEADER_IS
    return n;
}

static size_t on_body(char *data, size_t size, size_t count, void *user) {
    body_sink *s = user;
    const size_t n = size * count;
    if (s->fd < 0) {
        if (s->len + n + 1 > s->cap) {
            if (s->len + n + 1 > PULL_MAX_API_BYTES) return 0;
            size_t cap = s->cap ? s->cap : 1 << 16;
            while (cap < s->len + n + 1) cap *= 2;
            s->buf = check_alloc(realloc(s->buf, cap));
            s->cap = cap;
        }
        memcpy(s->buf + s->len, data, n);
        s->len += n;
        s->buf[s->len] = '\0';
        return n;
    }
    const long status = s->resp->status;
    if (status < 200 || status >= 300) return n; /* an error page, not the file */
    if (!s->started) {
        s->started = 1;
        if (status == 206) {
            if (s->resp->range_start != s->offset) {
                s->bad_range = 1;
                return 0;
            }
        } else if (s->offset > 0) { /* the server ignored Range: start over */
            if (ftruncate(s->fd, 0) != 0) {
                s->write_errno = errno;
                return 0;
            }
            s->offset = 0;
        }
    }
    for (size_t done = 0; done < n;) {
        ssize_t w = write(s->fd, data + done, n - done);
        if (w < 0 && errno == EINTR) continue;
        if (w <= 0) {
            s->write_errno = w < 0 ? errno : EIO;
            return 0;
        }
        done += (size_t)w;
    }
    s->written += (long long)n;
    return n;
}

static int on_progress(void *user, curl_off_t dltotal, curl_off_t dlnow, curl_off_t ultotal, curl_off_t ulnow) {
    (void)dltotal, (void)ultotal, (void)ulnow;
    body_sink *s = user;
    if (!s->ctx->tty || s->ctx->quiet) return 0;
    const double t = now_s();
    if (t - s->last_progress < 0.25) return 0;
    s->last_progress = t;
    const long long done = s->offset + (long long)dlnow;
    char a[32], b[32];
    if (s->total > 0)
        fprintf(stderr, "\r\033[K  %s: %s / %s (%.0f%%)", s->label, format_size(done, a, sizeof a),
                format_size(s->total, b, sizeof b), 100.0 * (double)done / (double)s->total);
    else fprintf(stderr, "\r\033[K  %s: %s", s->label, format_size(done, a, sizeof a));
    s->ctx->progress_open = 1;
    return 0;
}

/* One request. head: HEAD without following redirects; otherwise GET into
 * sink, following redirects. err gets libcurl's message on failure. */
CURLcode http_perform(pull_ctx *c, const char *url, int head, const char *range, http_response *r,
                             body_sink *sink, char *err, size_t err_cap) {
    response_reset(r);
    CURL *h = curl_easy_init();
    if (!h) {
        snprintf(err, err_cap, "cannot start libcurl");
        return CURLE_FAILED_INIT;
    }
    char errbuf[CURL_ERROR_SIZE] = "";
    curl_easy_setopt(h, CURLOPT_URL, url);
    curl_easy_setopt(h, CURLOPT_HTTPHEADER, c->headers);
    curl_easy_setopt(h, CURLOPT_USERAGENT, "encore/" ENCORE_VERSION);
    curl_easy_setopt(h, CURLOPT_HEADERFUNCTION, on_header);
    curl_easy_setopt(h, CURLOPT_HEADERDATA, r);
    curl_easy_setopt(h, CURLOPT_ERRORBUFFER, errbuf);
    curl_easy_setopt(h, CURLOPT_NOSIGNAL, 1L);
    curl_easy_setopt(h, CURLOPT_CONNECTTIMEOUT, 30L);
    curl_easy_setopt(h, CURLOPT_LOW_SPEED_LIMIT, 1L);   /* a stalled transfer: under 1 B/s ... */
    curl_easy_setopt(h, CURLOPT_LOW_SPEED_TIME, 60L);   /* ... for a minute */
#if LIBCURL_VERSION_NUM >= 0x075500
    curl_easy_setopt(h, CURLOPT_PROTOCOLS_STR, "http,https");
    curl_easy_setopt(h, CURLOPT_REDIR_PROTOCOLS_STR, "http,https");
#endif
    if (head) {
        curl_easy_setopt(h, CURLOPT_NOBODY, 1L);
    } else {
        curl_easy_setopt(h, CURLOPT_FOLLOWLOCATION, 1L);
        curl_easy_setopt(h, CURLOPT_MAXREDIRS, 10L);
        curl_easy_setopt(h, CURLOPT_WRITEFUNCTION, on_body);
        curl_easy_setopt(h, CURLOPT_WRITEDATA, sink);
        if (range) curl_easy_setopt(h, CURLOPT_RANGE, range);
        if (sink->fd >= 0) {
            curl_easy_setopt(h, CURLOPT_NOPROGRESS, 0L);
            curl_easy_setopt(h, CURLOPT_XFERINFOFUNCTION, on_progress);
            curl_easy_setopt(h, CURLOPT_XFERINFODATA, sink);
        }
    }
    CURLcode rc = curl_easy_perform(h);
    char *redirect = NULL;
    if (curl_easy_getinfo(h, CURLINFO_REDIRECT_URL, &redirect) == CURLE_OK && redirect)
        copy_value(r->redirect_url, sizeof r->redirect_url, redirect, strlen(redirect));
    snprintf(err, err_cap, "%s", errbuf[0] ? errbuf : curl_easy_strerror(rc));
    curl_easy_cleanup(h);
    return rc;
}

/* Worth another try: the network or the server may recover. */
int is_transient(CURLcode rc, long status) {
    switch (rc) {
    case CURLE_OK: return status == 429 || status >= 500;
    case CURLE_COULDNT_CONNECT:
    case CURLE_OPERATION_TIMEDOUT:
    case CURLE_PARTIAL_FILE:
    case CURLE_RECV_ERROR:
    case CURLE_SEND_ERROR:
    case CURLE_GOT_NOTHING:
    case CURLE_HTTP2:
    case CURLE_HTTP2_STREAM:
    case CURLE_SSL_CONNECT_ERROR: return 1;
    default: return 0;
    }
}

/* The endpoint cannot be reached at all (offline): the cache may do. */
int is_unreachable(CURLcode rc) {
    return rc == CURLE_COULDNT_RESOLVE_HOST || rc == CURLE_COULDNT_RESOLVE_PROXY || rc == CURLE_COULDNT_CONNECT ||
           rc == CURLE_OPERATION_TIMEDOUT;
}

void pull_backoff(pull_ctx *c, int attempt, const char *what, const char *why) {
    long ms = (long)c->backoff_ms << (attempt - 1);
    if (ms > PULL_BACKOFF_MAX_MS) ms = PULL_BACKOFF_MAX_MS;
    end_progress(c);
    if (!c->quiet)
        fprintf(stderr, "encore: %s: %s; retrying in %.1f s (%d of %d)\n", what, why, ms / 1000.0, attempt,
                PULL_ATTEMPTS - 1);
    struct timespec ts = {ms / 1000, (ms % 1000) * 1000000L};
    while (nanosleep(&ts, &ts) != 0 && errno == EINTR) {}
}

/* An HTTP error from the Hub in words a user can act on; filename is NULL for
 * the model info request. */
void report_http_error(pull_ctx *c, const http_response *r, const char *filename) {
    const char *code = r->error_code;
    const long st = r->status;
    const char *hint = st == 401 ? (c->has_token ? "HF_TOKEN cannot read it" : "a private or gated model needs HF_TOKEN")
                       : st == 403 && !c->has_token ? "set HF_TOKEN"
                                                    : "";
    char extra[400] = "";
    if (r->error_message[0] && hint[0]) snprintf(extra, sizeof extra, " (%s; %s)", r->error_message, hint);
    else if (r->error_message[0] || hint[0]) snprintf(extra, sizeof extra, " (%s)", r->error_message[0] ? r->error_message : hint);
    end_progress(c);
    if (strcmp(code, "RevisionNotFound") == 0)
        fprintf(stderr, "encore: revision '%s' not found in model %s on %s: %ld%s\n", c->revision, c->repo_id,
                c->endpoint, st, extra);
    else if (strcmp(code, "EntryNotFound") == 0 || (filename && st == 404 && strcmp(code, "RepoNotFound") != 0))
        fprintf(stderr, "encore: %s not found in model %s on %s: %ld%s\n", filename ? filename : "file",
                c->repo_id, c->endpoint, st, extra);
    else if (strcmp(code, "GatedRepo") == 0)
        fprintf(stderr,
                "encore: model %s is gated: accept its conditions at %s/%s, then set HF_TOKEN to a token of "
                "that account: %ld%s\n",
                c->repo_id, c->endpoint, c->repo_id, st, extra);
    else if (st == 401 || st == 404 || strcmp(code, "RepoNotFound") == 0)
        fprintf(stderr, "encore: model %s not found on %s: %ld%s\n", c->repo_id, c->endpoint, st, extra);
    else if (st == 403)
        fprintf(stderr, "encore: access to model %s on %s denied: 403%s\n", c->repo_id, c->endpoint, extra);
    else if (filename)
        fprintf(stderr, "encore: %s of model %s: HTTP %ld from %s%s\n", filename, c->repo_id, st, c->endpoint, extra);
    else fprintf(stderr, "encore: model %s: HTTP %ld from %s%s\n", c->repo_id, st, c->endpoint, extra);
}

