/* pull_internal.h: what the two halves of `encore pull` share: pull.c (the
 * Hub protocol, the cache and the command) and pull_http.c (the libcurl
 * layer and small helpers). */
#ifndef ENCORE_CLI_PULL_INTERNAL_H
#define ENCORE_CLI_PULL_INTERNAL_H

#include <curl/curl.h>
#include <stddef.h>

#define PULL_ATTEMPTS 5              /* tries per request */
#define PULL_BACKOFF_MS 1000         /* first retry delay; doubles each time */
#define PULL_BACKOFF_MAX_MS 30000
#define PULL_MAX_RELATIVE_REDIRECTS 5 /* a renamed repo answers with a relative redirect */
#define PULL_MAX_API_BYTES (64 << 20)

typedef struct pull_ctx {
    const char *repo_id;
    const char *revision;
    char *endpoint;              /* no trailing '/' */
    char *repo_dir;              /* $CACHE/models--{org}--{name} */
    char *lock_dir;              /* $CACHE/.locks/models--{org}--{name} */
    char commit[41];
    struct curl_slist *headers;
    int has_token;
    int backoff_ms;
    int quiet;
    int tty;                     /* stderr is a terminal: live progress line */
    int progress_open;           /* a progress line is on screen without its newline */
    char *snapshot;              /* after a pull: the snapshot directory */
} pull_ctx;

typedef struct http_response {
    long status;                 /* of the last response (after redirects) */
    long long content_length;    /* -1: not sent */
    long long linked_size;       /* X-Linked-Size, -1: not sent */
    long long range_start;       /* first byte of Content-Range, -1: not sent */
    char etag[256];
    char linked_etag[256];       /* X-Linked-Etag: an LFS file's sha256 */
    char error_code[64];         /* X-Error-Code: RepoNotFound, RevisionNotFound, EntryNotFound, GatedRepo */
    char error_message[256];     /* X-Error-Message */
    int location_relative;       /* Location: /path, on the same host */
    char redirect_url[4096];     /* where a 3xx points, resolved */
} http_response;

/* Where a response body goes: memory (fd < 0) or the end of a file. */
typedef struct body_sink {
    const http_response *resp;
    char *buf;                   /* memory body */
    size_t len, cap;
    int fd;                      /* file body, opened O_APPEND */
    long long offset;            /* bytes in the file before this request */
    long long written;           /* bytes this request added */
    long long total;             /* the file's expected size, -1: unknown */
    int started;
    int bad_range;               /* a 206 that does not start where the file ends */
    int write_errno;
    const char *label;
    pull_ctx *ctx;
    double last_progress;
} body_sink;

/* ---- pull_http.c ---- */

/* p, or on NULL "out of memory" on stderr and exit(1) (the CLI's policy). */
void *check_alloc(void *p);
/* A malloc'd printf. */
char *xprintf(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
/* "12.3 MB" and the like, into buf. */
const char *format_size(long long bytes, char *buf, size_t cap);
/* CLOCK_MONOTONIC in seconds. */
double now_s(void);
/* Clear the live progress line, if one is on screen. */
void end_progress(pull_ctx *c);

void response_reset(http_response *r);
/* One request. head: HEAD without following redirects; otherwise GET into
 * sink, following redirects. err gets libcurl's message on failure. */
CURLcode http_perform(pull_ctx *c, const char *url, int head, const char *range, http_response *r,
                      body_sink *sink, char *err, size_t err_cap);
/* Worth another try: the network or the server may recover. */
int is_transient(CURLcode rc, long status);
/* The endpoint cannot be reached at all (offline): the cache may do. */
int is_unreachable(CURLcode rc);
/* Sleep before retry number attempt (exponential, capped), saying why. */
void pull_backoff(pull_ctx *c, int attempt, const char *what, const char *why);
/* An HTTP error from the Hub in words a user can act on; filename is NULL for
 * the model info request. */
void report_http_error(pull_ctx *c, const http_response *r, const char *filename);

#endif /* ENCORE_CLI_PULL_INTERNAL_H */
