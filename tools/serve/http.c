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
 * is touched).
 *
 * Slow clients: MHD refuses connections past --max-connections, and past
 * --max-connections-per-client from one address, so that one client cannot
 * take every slot. MHD's timeout is an inactivity timeout (any byte resets
 * it), so a watchdog thread gives each request an absolute deadline,
 * --request-timeout from the connection's start (or the end of its previous
 * reply) until its body is complete, and closes connections past it.
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
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

/* One open connection and its deadline. MHD calls on_connection's CLOSED
 * before it closes the descriptor (test_serve_hostile.cc checks that of the
 * installed libmicrohttpd), and the watchdog shuts a descriptor down only
 * with conns_lock held, which CLOSED takes too: so the watchdog never
 * touches a descriptor number that has been closed and reused. */
typedef struct http_conn {
    struct http_conn *prev, *next;
    int fd;
    double deadline; /* serve_now() past which the watchdog closes it; 0: none */
    int shut;        /* the watchdog has shut it down */
} http_conn;

struct serve_http {
    serve_ctx *ctx;
    struct MHD_Daemon *daemon;
    MHD_socket quiesced_socket; /* the listening socket after MHD_quiesce_daemon, closed after stop */
    atomic_int in_flight;       /* requests started and not yet completed */
    atomic_size_t inflight_bytes; /* reserved for bodies and what is built from them (--max-inflight-bytes) */
    pthread_mutex_t conns_lock;
    http_conn *conns;           /* every open connection, under conns_lock */
    pthread_t watchdog;
    int watchdog_running;
    pthread_mutex_t stop_lock;
    pthread_cond_t stop_cond;
    int stopping;               /* under stop_lock */
};

/* The deadline of a connection: cfg.request_timeout_s from now, or none. */
static void set_deadline(serve_http *h, struct MHD_Connection *conn, int armed) {
    const union MHD_ConnectionInfo *info = MHD_get_connection_info(conn, MHD_CONNECTION_INFO_SOCKET_CONTEXT);
    http_conn *c = info ? info->socket_context : NULL;
    if (!c) return;
    pthread_mutex_lock(&h->conns_lock);
    c->deadline = armed ? serve_now() + h->ctx->cfg.request_timeout_s : 0;
    pthread_mutex_unlock(&h->conns_lock);
}

static void on_connection(void *cls, struct MHD_Connection *conn, void **socket_context,
                          enum MHD_ConnectionNotificationCode code) {
    serve_http *h = cls;
    if (code == MHD_CONNECTION_NOTIFY_STARTED) {
        const union MHD_ConnectionInfo *info = MHD_get_connection_info(conn, MHD_CONNECTION_INFO_CONNECTION_FD);
        http_conn *c = info ? calloc(1, sizeof *c) : NULL;
        *socket_context = c;
        if (!c) return; /* no deadline for it; MHD's inactivity timeout still holds */
        c->fd = info->connect_fd;
        c->deadline = serve_now() + h->ctx->cfg.request_timeout_s;
        pthread_mutex_lock(&h->conns_lock);
        c->next = h->conns;
        if (h->conns) h->conns->prev = c;
        h->conns = c;
        pthread_mutex_unlock(&h->conns_lock);
    } else if (code == MHD_CONNECTION_NOTIFY_CLOSED) {
        http_conn *c = *socket_context;
        if (!c) return;
        pthread_mutex_lock(&h->conns_lock);
        if (c->prev) c->prev->next = c->next;
        else h->conns = c->next;
        if (c->next) c->next->prev = c->prev;
        pthread_mutex_unlock(&h->conns_lock);
        free(c);
        *socket_context = NULL;
    }
}

/* Close connections past their deadline: every 100 ms, a pass over the
 * open connections (a thousand take microseconds). shutdown() wakes the
 * connection's thread, which sees the end of the stream and closes. */
static void *watchdog_main(void *arg) {
    serve_http *h = arg;
    pthread_mutex_lock(&h->stop_lock);
    while (!h->stopping) {
        struct timespec ts;
        clock_gettime(CLOCK_REALTIME, &ts);
        ts.tv_nsec += 100 * 1000 * 1000;
        if (ts.tv_nsec >= 1000000000L) {
            ts.tv_sec++;
            ts.tv_nsec -= 1000000000L;
        }
        pthread_cond_timedwait(&h->stop_cond, &h->stop_lock, &ts);
        if (h->stopping) break;
        const double now = serve_now();
        pthread_mutex_lock(&h->conns_lock);
        for (http_conn *c = h->conns; c; c = c->next)
            if (c->deadline > 0 && now > c->deadline && !c->shut) {
                shutdown(c->fd, SHUT_RDWR);
                c->shut = 1;
            }
        pthread_mutex_unlock(&h->conns_lock);
    }
    pthread_mutex_unlock(&h->stop_lock);
    return NULL;
}

/* One request while its body arrives. */
typedef struct http_request {
    double t_start;
    char *body; /* (cap) */
    size_t len, cap;
    int too_large;  /* the body is over --max-body-bytes; its bytes are dropped */
    int late;       /* it started after shutdown began */
    int answered;
    int json;       /* Content-Type is JSON (serve_is_json_type) */
    int overloaded; /* its body would take the byte budget past --max-inflight-bytes; its bytes are dropped */
    size_t declared;  /* Content-Length, or 0 */
    size_t reserved;  /* bytes of --max-inflight-bytes it holds */
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

static enum MHD_Result send_reply(serve_http *h, struct MHD_Connection *conn, serve_reply *r) {
    static char empty[1];
    /* The request is in (or refused): no deadline while the reply goes out;
     * MHD's inactivity timeout covers a client that stops reading. */
    set_deadline(h, conn, 0);
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

/* Reserve the memory a body of len bytes will take (serve_body_memory)
 * from --max-inflight-bytes, on top of what q holds. Returns 0, or -1 when
 * it does not fit (nothing reserved). */
static int reserve(serve_http *h, http_request *q, size_t len) {
    const size_t want = serve_body_memory(len);
    if (want <= q->reserved) return 0;
    const size_t more = want - q->reserved, max = h->ctx->cfg.max_inflight_bytes;
    size_t cur = atomic_load(&h->inflight_bytes);
    do {
        if (cur > max || more > max - cur) return -1;
    } while (!atomic_compare_exchange_weak(&h->inflight_bytes, &cur, cur + more));
    q->reserved = want;
    return 0;
}

static void overloaded(serve_http *h, serve_reply *r) {
    memset(r, 0, sizeof *r);
    serve_reply_error(h->ctx, r, 429, SERVE_ERROR_OVERLOADED,
                      "Model is overloaded: the request bodies being served take the memory set by "
                      "--max-inflight-bytes %zu",
                      h->ctx->cfg.max_inflight_bytes);
    r->close = 1;
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
            return send_reply(h, conn, &r);
        }
        if (escaped) { /* no route has a '%' */
            memset(&r, 0, sizeof r);
            serve_route_not_found(h->ctx, method, url, &r);
            q->answered = 1;
            return send_reply(h, conn, &r);
        }
        /* A declared body over the limit is refused before it is read. */
        const char *cl = MHD_lookup_connection_value(conn, MHD_HEADER_KIND, MHD_HTTP_HEADER_CONTENT_LENGTH);
        unsigned long long size = cl ? strtoull(cl, NULL, 10) : 0;
        if (size > h->ctx->cfg.max_body_bytes) {
            too_large(h, &r, size);
            q->answered = 1;
            return send_reply(h, conn, &r);
        }
        /* A declared body reserves its memory before it is read. */
        q->declared = (size_t)size;
        if (size && reserve(h, q, (size_t)size) != 0) {
            overloaded(h, &r);
            q->answered = 1;
            return send_reply(h, conn, &r);
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
        if (q->too_large || q->overloaded) return MHD_YES;
        const int over = q->len + n > h->ctx->cfg.max_body_bytes;
        /* A body without Content-Length (chunked) reserves as it grows. */
        if (over || reserve(h, q, q->len + n) != 0) {
            if (over) q->too_large = 1;
            else q->overloaded = 1;
            free(q->body);
            q->body = NULL;
            q->len = q->cap = 0;
            return MHD_YES;
        }
        if (q->len + n > q->cap) {
            size_t cap = q->cap ? q->cap : 4096;
            while (cap < q->len + n) cap *= 2;
            /* No more than the declared length (the reservation counts it once). */
            if (q->declared >= q->len + n && cap > q->declared) cap = q->declared;
            char *p = realloc(q->body, cap);
            if (!p) return MHD_NO;
            q->body = p;
            q->cap = cap;
        }
        memcpy(q->body + q->len, upload_data, n);
        q->len += n;
        return MHD_YES;
    }
    /* The whole request is in: no deadline while the model works. */
    set_deadline(h, conn, 0);
    q->answered = 1;
    serve_reply r;
    if (q->too_large) {
        too_large(h, &r, 0);
    } else if (q->overloaded) {
        overloaded(h, &r);
    } else if (q->late) {
        memset(&r, 0, sizeof r);
        serve_reply_error(h->ctx, &r, 503, SERVE_ERROR_UNHEALTHY, "shutting down");
        r.close = 1;
    } else {
        serve_route(h->ctx, method, url, q->body ? q->body : "", q->len, q->json, q->t_start, &r);
    }
    return send_reply(h, conn, &r);
}

static void on_completed(void *cls, struct MHD_Connection *conn, void **con_cls, enum MHD_RequestTerminationCode why) {
    serve_http *h = cls;
    http_request *q = *con_cls;
    (void)why;
    /* The next request on a keep-alive connection, or the wait for it, has
     * its own deadline from now. */
    set_deadline(h, conn, 1);
    if (!q || q == (void *)&escaped_path_marker) return;
    free(q->body);
    atomic_fetch_sub(&h->inflight_bytes, q->reserved);
    free(q);
    *con_cls = NULL;
    atomic_fetch_sub(&h->in_flight, 1);
}

static void on_mhd_error(void *cls, const char *fmt, va_list ap) {
    serve_http *h = cls;
    if (h->ctx->cfg.model.quiet) return;
    fputs("encore serve: ", stderr);
    vfprintf(stderr, fmt, ap);
}

static void destroy(serve_http *h) {
    pthread_mutex_destroy(&h->conns_lock);
    pthread_mutex_destroy(&h->stop_lock);
    pthread_cond_destroy(&h->stop_cond);
    free(h);
}

/* Each connection holds a descriptor: raise the soft limit on open files
 * toward the hard one when the connection limit needs more. */
static void raise_open_files(const serve_ctx *ctx, unsigned connections) {
    struct rlimit rl;
    const rlim_t want = (rlim_t)connections + 64; /* the model's files, the listener, stdio */
    if (getrlimit(RLIMIT_NOFILE, &rl) != 0 || rl.rlim_cur >= want) return;
    rl.rlim_cur = rl.rlim_max == RLIM_INFINITY || rl.rlim_max > want ? want : rl.rlim_max;
    setrlimit(RLIMIT_NOFILE, &rl);
    if (rl.rlim_cur < want && !ctx->cfg.model.quiet)
        fprintf(stderr,
                "encore serve: the open file limit (hard %llu) is under --max-connections %u plus 64; connections "
                "past it are refused\n",
                (unsigned long long)rl.rlim_max, connections);
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
    pthread_mutex_init(&h->conns_lock, NULL);
    pthread_mutex_init(&h->stop_lock, NULL);
    pthread_cond_init(&h->stop_cond, NULL);
    const unsigned limit = (unsigned)ctx->cfg.max_connections;
    raise_open_files(ctx, limit);
    h->daemon = MHD_start_daemon(flags, (uint16_t)ctx->cfg.port, NULL, NULL, on_request, h,
                                 MHD_OPTION_EXTERNAL_LOGGER, on_mhd_error, h,
                                 MHD_OPTION_SOCK_ADDR, use->ai_addr,
                                 MHD_OPTION_NOTIFY_COMPLETED, on_completed, h,
                                 MHD_OPTION_NOTIFY_CONNECTION, on_connection, h,
                                 MHD_OPTION_URI_LOG_CALLBACK, on_uri, h,
                                 MHD_OPTION_CONNECTION_LIMIT, limit,
                                 MHD_OPTION_PER_IP_CONNECTION_LIMIT, (unsigned)ctx->cfg.max_connections_per_client,
                                 MHD_OPTION_CONNECTION_TIMEOUT, 120u,
                                 MHD_OPTION_END);
    freeaddrinfo(ai);
    if (h->daemon && pthread_create(&h->watchdog, NULL, watchdog_main, h) == 0) h->watchdog_running = 1;
    else if (h->daemon) {
        fprintf(stderr, "encore serve: cannot start the request deadline thread\n");
        MHD_stop_daemon(h->daemon);
        h->daemon = NULL;
        destroy(h);
        return -1;
    }
    if (!h->daemon) {
        fprintf(stderr, "encore serve: cannot listen on %s:%d (in use, or not an address of this machine)\n",
                ctx->cfg.host, ctx->cfg.port);
        destroy(h);
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
    pthread_mutex_lock(&h->stop_lock);
    h->stopping = 1;
    pthread_cond_signal(&h->stop_cond);
    pthread_mutex_unlock(&h->stop_lock);
    if (h->watchdog_running) pthread_join(h->watchdog, NULL);
    MHD_stop_daemon(h->daemon);
    if (h->quiesced_socket != MHD_INVALID_SOCKET) close(h->quiesced_socket);
    destroy(h);
}
