/* http.c: the HTTP listener, on libmicrohttpd (Debian's libmicrohttpd-dev).
 *
 * Threading: MHD_USE_THREAD_PER_CONNECTION. A connection's thread reads the
 * body, parses and tokenizes it, then blocks until the model thread has run
 * its inputs, then writes the response. That keeps a request's code straight
 * from top to bottom, and tokenization runs on as many threads as there are
 * clients, off the model thread. MHD's internal thread pool was the other
 * candidate: there a pool thread serves many connections, so a handler that
 * blocks on the model stalls every other connection of its thread; it would
 * need MHD_suspend_connection/MHD_resume_connection and a callback from the
 * model thread to stay responsive, for no gain at the connection counts an
 * inference server sees (at most --max-concurrent-requests are in inference;
 * a thread per connection costs a stack of address space, not memory that
 * is touched). Connections beyond twice --max-concurrent-requests (plus some
 * room for /health and /metrics) are refused by MHD.
 *
 * Shutdown: serve_http_quiesce stops accepting (new connections are refused
 * from then on); requests already started run to the end (their connection
 * threads finish them), later requests on open keep-alive connections get
 * 503 with Connection: close. */
#include "json_buf.h"
#include "server.h"

#include <arpa/inet.h>
#include <microhttpd.h>
#include <netdb.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

struct serve_http {
    serve_ctx *ctx;
    struct MHD_Daemon *daemon;
    MHD_socket quiesced_socket; /* the listening socket after MHD_quiesce_daemon, closed after stop */
    atomic_int in_flight;       /* requests started and not yet completed */
};

/* One request while its body arrives. */
typedef struct http_request {
    double t_start;
    char *body; /* (cap) */
    size_t len, cap;
    int too_large;  /* the body is over --max-body-bytes; its bytes are dropped */
    int late;       /* it started after shutdown began */
    int answered;
    int json;       /* Content-Type is JSON (serve_is_json_type) */
} http_request;

/* What on_uri hands on_request for a request whose raw path has a
 * percent-escape: MHD unescapes the path in place before routing (so
 * "/predict%00" would reach /predict), while TEI's router (axum) matches the
 * raw path, where no route has a '%'. */
static char escaped_path_marker;

static void *on_uri(void *cls, const char *uri, struct MHD_Connection *conn) {
    (void)cls, (void)conn;
    const char *end = strchr(uri, '?');
    const size_t n = end ? (size_t)(end - uri) : strlen(uri);
    return memchr(uri, '%', n) ? &escaped_path_marker : NULL;
}

/* Content-Length headers: how many, and whether they disagree. */
typedef struct length_headers {
    int n, differ;
    const char *first;
} length_headers;

static enum MHD_Result on_header(void *cls, enum MHD_ValueKind kind, const char *key, const char *value) {
    length_headers *l = cls;
    (void)kind;
    if (strcasecmp(key, MHD_HTTP_HEADER_CONTENT_LENGTH) != 0) return MHD_YES;
    if (l->n++ == 0) l->first = value;
    else if (strcmp(value ? value : "", l->first ? l->first : "") != 0) l->differ = 1;
    return MHD_YES;
}

/* A request head that hyper (TEI's HTTP server) refuses with 400: Content-
 * Length headers that disagree (MHD 0.9.75 takes the first), or HTTP/1.1
 * without Host. MHD_OPTION_STRICT_FOR_CLIENT 1 would refuse the latter too,
 * but with an HTML body instead of the JSON error every other reply has, and
 * it also refuses spaces in the URL. Returns 0, or -1 with the error reply
 * set. */
static int check_head(serve_http *h, struct MHD_Connection *conn, const char *version, serve_reply *r) {
    length_headers l = {0};
    MHD_get_connection_values(conn, MHD_HEADER_KIND, on_header, &l);
    memset(r, 0, sizeof *r);
    if (l.differ) {
        serve_reply_error(h->ctx, r, 400, SERVE_ERROR_VALIDATION, "the request has Content-Length headers that differ");
    } else if (strcmp(version, MHD_HTTP_VERSION_1_1) == 0 &&
               !MHD_lookup_connection_value(conn, MHD_HEADER_KIND, MHD_HTTP_HEADER_HOST)) {
        serve_reply_error(h->ctx, r, 400, SERVE_ERROR_VALIDATION, "an HTTP/1.1 request needs a Host header");
    } else {
        return 0;
    }
    r->close = 1;
    return -1;
}

static enum MHD_Result send_reply(struct MHD_Connection *conn, serve_reply *r) {
    static char empty[1];
    struct MHD_Response *resp = MHD_create_response_from_buffer_with_free_callback(
        r->body ? r->len : 0, r->body ? r->body : empty, r->body ? free : NULL);
    if (!resp) {
        free(r->body);
        return MHD_NO;
    }
    r->body = NULL;
    /* An empty body without a type (GET /health's 200) goes without one. */
    if (r->content_type || r->len)
        MHD_add_response_header(resp, MHD_HTTP_HEADER_CONTENT_TYPE, r->content_type ? r->content_type : "application/json");
    if (r->allow) MHD_add_response_header(resp, MHD_HTTP_HEADER_ALLOW, r->allow);
    if (r->close) MHD_add_response_header(resp, MHD_HTTP_HEADER_CONNECTION, "close");
    for (int i = 0; i < r->n_headers; i++) MHD_add_response_header(resp, r->headers[i][0], r->headers[i][1]);
    enum MHD_Result ok = MHD_queue_response(conn, (unsigned)r->status, resp);
    MHD_destroy_response(resp);
    return ok;
}

static void too_large(serve_http *h, serve_reply *r, unsigned long long size) {
    memset(r, 0, sizeof *r);
    if (size)
        serve_reply_error(h->ctx, r, 413, SERVE_ERROR_VALIDATION,
                          "the request body is %llu bytes, over the limit of %zu bytes (--max-body-bytes)", size,
                          h->ctx->cfg.max_body_bytes);
    else
        serve_reply_error(h->ctx, r, 413, SERVE_ERROR_VALIDATION,
                          "the request body is over the limit of %zu bytes (--max-body-bytes)",
                          h->ctx->cfg.max_body_bytes);
    r->close = 1;
}

static enum MHD_Result on_request(void *cls, struct MHD_Connection *conn, const char *url, const char *method,
                                  const char *version, const char *upload_data, size_t *upload_data_size,
                                  void **con_cls) {
    serve_http *h = cls;
    http_request *q = *con_cls;
    if (!q || q == (void *)&escaped_path_marker) {
        const int escaped = q != NULL;
        q = calloc(1, sizeof *q);
        if (!q) return MHD_NO;
        q->t_start = serve_now();
        q->late = atomic_load(&h->ctx->draining);
        q->json = serve_is_json_type(
            MHD_lookup_connection_value(conn, MHD_HEADER_KIND, MHD_HTTP_HEADER_CONTENT_TYPE));
        atomic_fetch_add(&h->in_flight, 1);
        *con_cls = q;
        serve_reply r;
        if (check_head(h, conn, version, &r) != 0) {
            q->answered = 1;
            return send_reply(conn, &r);
        }
        if (escaped) { /* no route has a '%' */
            memset(&r, 0, sizeof r);
            serve_route_not_found(h->ctx, method, url, &r);
            q->answered = 1;
            return send_reply(conn, &r);
        }
        /* A declared body over the limit is refused before it is read. */
        const char *cl = MHD_lookup_connection_value(conn, MHD_HEADER_KIND, MHD_HTTP_HEADER_CONTENT_LENGTH);
        unsigned long long size = cl ? strtoull(cl, NULL, 10) : 0;
        if (size > h->ctx->cfg.max_body_bytes) {
            too_large(h, &r, size);
            q->answered = 1;
            return send_reply(conn, &r);
        }
        return MHD_YES;
    }
    if (q->answered) {
        *upload_data_size = 0;
        return MHD_YES;
    }
    if (*upload_data_size) {
        const size_t n = *upload_data_size;
        *upload_data_size = 0;
        if (q->too_large) return MHD_YES;
        if (q->len + n > h->ctx->cfg.max_body_bytes) {
            q->too_large = 1;
            free(q->body);
            q->body = NULL;
            q->len = q->cap = 0;
            return MHD_YES;
        }
        if (q->len + n > q->cap) {
            size_t cap = q->cap ? q->cap : 4096;
            while (cap < q->len + n) cap *= 2;
            char *p = realloc(q->body, cap);
            if (!p) return MHD_NO;
            q->body = p;
            q->cap = cap;
        }
        memcpy(q->body + q->len, upload_data, n);
        q->len += n;
        return MHD_YES;
    }
    /* The whole request is in. */
    q->answered = 1;
    serve_reply r;
    if (q->too_large) {
        too_large(h, &r, 0);
    } else if (q->late) {
        memset(&r, 0, sizeof r);
        serve_reply_error(h->ctx, &r, 503, SERVE_ERROR_UNHEALTHY, "shutting down");
        r.close = 1;
    } else {
        serve_route(h->ctx, method, url, q->body ? q->body : "", q->len, q->json, q->t_start, &r);
    }
    return send_reply(conn, &r);
}

static void on_completed(void *cls, struct MHD_Connection *conn, void **con_cls, enum MHD_RequestTerminationCode why) {
    serve_http *h = cls;
    http_request *q = *con_cls;
    (void)conn, (void)why;
    if (!q || q == (void *)&escaped_path_marker) return;
    free(q->body);
    free(q);
    *con_cls = NULL;
    atomic_fetch_sub(&h->in_flight, 1);
}

static void on_mhd_error(void *cls, const char *fmt, va_list ap) {
    serve_http *h = cls;
    if (h->ctx->cfg.quiet) return;
    fputs("encore serve: ", stderr);
    vfprintf(stderr, fmt, ap);
}

int serve_http_start(serve_ctx *ctx, serve_http **out, int *port) {
    *out = NULL;
    struct addrinfo hints = {0}, *ai = NULL;
    hints.ai_family = AF_UNSPEC;
    hints.ai_socktype = SOCK_STREAM;
    hints.ai_flags = AI_PASSIVE;
    char service[16];
    snprintf(service, sizeof service, "%d", ctx->cfg.port);
    int rc = getaddrinfo(ctx->cfg.host, service, &hints, &ai);
    if (rc != 0 || !ai) {
        fprintf(stderr, "encore serve: cannot use host '%s': %s\n", ctx->cfg.host, gai_strerror(rc));
        return -1;
    }
    /* "localhost" may resolve to ::1 and 127.0.0.1: prefer IPv4, as the
     * address printed and most clients use. */
    const struct addrinfo *use = ai;
    for (const struct addrinfo *p = ai; p; p = p->ai_next)
        if (p->ai_family == AF_INET) {
            use = p;
            break;
        }
    serve_http *h = calloc(1, sizeof *h);
    if (!h) {
        freeaddrinfo(ai);
        return -1;
    }
    h->ctx = ctx;
    h->quiesced_socket = MHD_INVALID_SOCKET;
    unsigned flags = MHD_USE_THREAD_PER_CONNECTION | MHD_USE_INTERNAL_POLLING_THREAD | MHD_USE_POLL | MHD_USE_ITC |
                     MHD_USE_ERROR_LOG;
    if (use->ai_family == AF_INET6) flags |= MHD_USE_IPv6;
    const unsigned limit = 2u * (unsigned)ctx->cfg.max_concurrent_requests + 64u;
    h->daemon = MHD_start_daemon(flags, (uint16_t)ctx->cfg.port, NULL, NULL, on_request, h,
                                 MHD_OPTION_EXTERNAL_LOGGER, on_mhd_error, h,
                                 MHD_OPTION_SOCK_ADDR, use->ai_addr,
                                 MHD_OPTION_NOTIFY_COMPLETED, on_completed, h,
                                 MHD_OPTION_URI_LOG_CALLBACK, on_uri, h,
                                 MHD_OPTION_CONNECTION_LIMIT, limit,
                                 MHD_OPTION_CONNECTION_TIMEOUT, 120u,
                                 MHD_OPTION_END);
    freeaddrinfo(ai);
    if (!h->daemon) {
        fprintf(stderr, "encore serve: cannot listen on %s:%d (in use, or not an address of this machine)\n",
                ctx->cfg.host, ctx->cfg.port);
        free(h);
        return -1;
    }
    const union MHD_DaemonInfo *info = MHD_get_daemon_info(h->daemon, MHD_DAEMON_INFO_BIND_PORT);
    *port = info ? (int)info->port : ctx->cfg.port;
    *out = h;
    return 0;
}

void serve_http_quiesce(serve_http *h) {
    atomic_store(&h->ctx->draining, 1);
    if (h->quiesced_socket == MHD_INVALID_SOCKET) {
        h->quiesced_socket = MHD_quiesce_daemon(h->daemon);
        /* MHD no longer accepts on the socket, but the kernel would still
         * complete handshakes into its backlog until the socket closes at
         * the end of the drain, and then reset them. Shutting it down takes
         * it out of the listening state now, so new connections are
         * refused; the descriptor stays open (MHD may still hold it in a
         * poll set) until serve_http_stop closes it. */
        if (h->quiesced_socket != MHD_INVALID_SOCKET) shutdown(h->quiesced_socket, SHUT_RDWR);
    }
}

int serve_http_wait_idle(serve_http *h, double timeout_s) {
    const double deadline = serve_now() + timeout_s;
    int n;
    while ((n = atomic_load(&h->in_flight)) > 0 && serve_now() < deadline) {
        struct timespec ts = {0, 5 * 1000 * 1000};
        nanosleep(&ts, NULL);
    }
    return n;
}

void serve_http_stop(serve_http *h) {
    if (!h) return;
    MHD_stop_daemon(h->daemon);
    if (h->quiesced_socket != MHD_INVALID_SOCKET) close(h->quiesced_socket);
    free(h);
}
