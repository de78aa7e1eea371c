/* http.c: libmicrohttpd in the agent's zloop (see http.h).
 *
 * Why external polling (MHD_USE_EPOLL without an internal thread): the auth-policy answers read
 * the replicated ban map and its reports feed the scenario engine, and a metrics scrape reads every
 * component's counters; all of them are owned by the loop's thread and not thread-safe. MHD's own
 * epoll fd is polled by zloop and MHD_run() is called when it is readable or when the one-shot
 * timer armed from MHD_get_timeout() after each run fires, so requests are handled on the loop's thread with no lock and no snapshot
 * copy. MHD does request parsing, header and memory limits and timeouts; bodies are capped here. */
#include "agent/http.h"
#include "agent/util.h"
#include "enforce/policy_listen.h"

#include <microhttpd.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define HTTP_CONN_LIMIT 256
#define HTTP_PER_IP_LIMIT 8   /* connections from one address when remote clients are allowed */
#define HTTP_CONN_MEMORY (32 * 1024)
#define HTTP_LOG_GAP_NS 1000000000LL   /* at most one MHD message logged a second */
#define HTTP_IDLE_TIMER_MS 1000   /* the longest wait between runs when MHD names no timeout */

struct http_server {
    zloop_t *loop;
    const char *what;
    http_handler_fn *fn;
    void *arg;
    size_t max_body;
    struct MHD_Daemon *d;
    int epfd, timer_id, port;
    int64_t log_ns;       /* when the last MHD message was logged */
    uint64_t log_quiet;   /* MHD messages not logged since */
    struct http_stats st;
};

/* Per connection (MHD's socket context): requests answered on it. */
struct conn {
    uint64_t answered;
};

/* One request's context, from its request line (on_uri) to its completion (on_completed). */
struct req_ctx {
    int64_t t0;       /* when MHD parsed the request line */
    char *buf;        /* the body read so far (max_body bytes), NULL until the headers were handled */
    size_t len;
};

const char *http_request_header(const struct http_request *r, const char *name)
{
    return MHD_lookup_connection_value(r->conn, MHD_HEADER_KIND, name);
}

const char *http_request_arg(const struct http_request *r, const char *name)
{
    return MHD_lookup_connection_value(r->conn, MHD_GET_ARGUMENT_KIND, name);
}

/* Calls the handler and queues its reply; the latency counts from t0, the request line. */
static enum MHD_Result answer(struct http_server *h, struct MHD_Connection *c, struct http_request *req, int64_t t0)
{
    struct http_reply rep = {.code = 500, .content_type = "text/plain"};
    const union MHD_ConnectionInfo *ci = MHD_get_connection_info(c, MHD_CONNECTION_INFO_SOCKET_CONTEXT);
    if (ci && ci->socket_context) ((struct conn *)ci->socket_context)->answered++;
    h->fn(req, &rep, h->arg);
    sg_hist_observe_ns(&h->st.latency, sg_mono_ns() - t0);
    struct MHD_Response *r = rep.body ? MHD_create_response_from_buffer(rep.len, rep.body, MHD_RESPMEM_MUST_FREE)
                                      : MHD_create_response_from_buffer(0, (void *)"", MHD_RESPMEM_PERSISTENT);
    if (!r) { free(rep.body); return MHD_NO; }
    MHD_add_response_header(r, MHD_HTTP_HEADER_CONTENT_TYPE, rep.content_type);
    if (rep.allow) MHD_add_response_header(r, MHD_HTTP_HEADER_ALLOW, rep.allow);
    enum MHD_Result rc = MHD_queue_response(c, (unsigned)rep.code, r);
    MHD_destroy_response(r);
    return rc;
}

static enum MHD_Result on_request(void *cls, struct MHD_Connection *c, const char *url, const char *method,
                                  const char *version, const char *data, size_t *data_size, void **con_cls)
{
    (void)version;
    struct http_server *h = cls;
    struct http_request req = {.method = method, .url = url, .conn = c};
    struct req_ctx *u = *con_cls;
    if (!u) return MHD_NO;   /* on_uri always sets it */
    if (!u->buf) {
        /* Headers only: a method without a body to read, or an announced oversize body, is
         * handed over now, before reading any of it. */
        const char *cl = MHD_lookup_connection_value(c, MHD_HEADER_KIND, MHD_HTTP_HEADER_CONTENT_LENGTH);
        bool big = cl && strtoull(cl, NULL, 10) > h->max_body;
        if (strcmp(method, MHD_HTTP_METHOD_POST) || big) {
            req.oversize = big;
            return answer(h, c, &req, u->t0);
        }
        u->buf = sg_xmalloc(h->max_body + 1);   /* + 1: never a 0-byte malloc */
        return MHD_YES;
    }
    if (*data_size) {
        /* A chunked body gives no length first: on the first byte over the cap, close the
         * connection (counted) rather than read the rest, so the slot is freed at once. */
        if (*data_size > h->max_body - u->len) {
            h->st.body_cut++;
            return MHD_NO;
        }
        memcpy(u->buf + u->len, data, *data_size);
        u->len += *data_size;
        *data_size = 0;
        return MHD_YES;
    }
    req.body = u->buf;
    req.len = u->len;
    return answer(h, c, &req, u->t0);
}

/* MHD's error messages (one per malformed request or refused connection, client-driven): all
 * counted, at most one logged per HTTP_LOG_GAP_NS with the number left out before it. */
__attribute__((format(printf, 2, 0))) static void on_mhd_log(void *cls, const char *fmt, va_list ap)
{
    struct http_server *h = cls;
    h->st.errors++;
    int64_t now = sg_mono_ns();
    if (h->log_ns && now - h->log_ns < HTTP_LOG_GAP_NS) { h->log_quiet++; return; }
    char msg[256];
    vsnprintf(msg, sizeof msg, fmt, ap);
    msg[strcspn(msg, "\r\n")] = '\0';
    sg_log(SG_LOG_NOTICE, "%s: %s (%" PRIu64 " more since the last such line)", h->what, msg, h->log_quiet);
    h->log_ns = now;
    h->log_quiet = 0;
}

/* Called by MHD on each request line, before the headers are read: its return value becomes the
 * request's context, so the latency counts the headers and body reads and the waits on the loop
 * between them, not only the handler. */
static void *on_uri(void *cls, const char *uri, struct MHD_Connection *c)
{
    (void)cls; (void)uri; (void)c;
    struct req_ctx *u = sg_xcalloc(1, sizeof *u);
    u->t0 = sg_mono_ns();
    return u;
}

static void on_completed(void *cls, struct MHD_Connection *c, void **con_cls, enum MHD_RequestTerminationCode toe)
{
    (void)cls; (void)c; (void)toe;
    struct req_ctx *u = *con_cls;
    if (u) free(u->buf);
    free(u);
    *con_cls = NULL;
}

static void on_connection(void *cls, struct MHD_Connection *c, void **socket_context,
                          enum MHD_ConnectionNotificationCode toe)
{
    (void)c;
    struct http_server *h = cls;
    if (toe == MHD_CONNECTION_NOTIFY_STARTED) {
        *socket_context = sg_xcalloc(1, sizeof(struct conn));
        return;
    }
    struct conn *k = *socket_context;
    if (k && !k->answered) h->st.broken++;
    free(k);
    *socket_context = NULL;
}

static int on_timer(zloop_t *loop, int timer_id, void *arg);

/* MHD's contract in external mode: its epoll fd must not be waited on longer than
 * MHD_get_timeout(). Work may remain that no fd edge will announce (buffered requests after the
 * bounded passes, the listen socket MHD re-adds to its epoll set only inside MHD_run once under the
 * connection limit, connection timeouts), so each run ends by arming a one-shot timer at that
 * timeout: 1 ms when MHD says 0 (run again soon), HTTP_IDLE_TIMER_MS when it has none. */
static void run(struct http_server *h)
{
    MHD_UNSIGNED_LONG_LONG t = HTTP_IDLE_TIMER_MS;
    for (int i = 0; i < 8; i++) {
        MHD_run(h->d);
        if (MHD_get_timeout(h->d, &t) != MHD_YES) { t = HTTP_IDLE_TIMER_MS; break; }
        if (t > 0) break;
    }
    if (h->timer_id >= 0) zloop_timer_end(h->loop, h->timer_id);
    h->timer_id = zloop_timer(h->loop, t < 1 ? 1 : t > HTTP_IDLE_TIMER_MS ? HTTP_IDLE_TIMER_MS : (size_t)t, 1, on_timer, h);
}

static int on_ready(zloop_t *loop, zmq_pollitem_t *item, void *arg)
{
    (void)loop; (void)item;
    run(arg);
    return 0;
}

static int on_timer(zloop_t *loop, int timer_id, void *arg)
{
    (void)loop; (void)timer_id;
    struct http_server *h = arg;
    h->timer_id = -1;   /* one-shot: zloop drops it after this call */
    run(h);
    return 0;
}

struct http_server *http_server_new(zloop_t *loop, const char *what, const char *listen, bool allow_remote,
                                    unsigned timeout_s, size_t max_body, http_handler_fn *fn, void *arg)
{
    struct http_server *h = sg_xcalloc(1, sizeof *h);
    h->loop = loop;
    h->what = what;
    h->fn = fn;
    h->arg = arg;
    h->max_body = max_body;
    h->epfd = -1;
    h->timer_id = -1;
    int fd = policy_listen_tcp(listen, allow_remote, &h->port);
    if (fd < 0) { free(h); return NULL; }
    h->d = MHD_start_daemon(MHD_USE_EPOLL | MHD_USE_ERROR_LOG, 0, NULL, NULL, on_request, h,
                            MHD_OPTION_EXTERNAL_LOGGER, on_mhd_log, h,
                            MHD_OPTION_LISTEN_SOCKET, (MHD_socket)fd,
                            MHD_OPTION_CONNECTION_LIMIT, (unsigned)HTTP_CONN_LIMIT,
                            MHD_OPTION_CONNECTION_TIMEOUT, timeout_s ? timeout_s : (unsigned)HTTP_CONN_TIMEOUT_DEFAULT_S,
                            MHD_OPTION_PER_IP_CONNECTION_LIMIT, allow_remote ? (unsigned)HTTP_PER_IP_LIMIT : 0u,
                            MHD_OPTION_CONNECTION_MEMORY_LIMIT, (size_t)HTTP_CONN_MEMORY,
                            MHD_OPTION_URI_LOG_CALLBACK, on_uri, NULL,
                            MHD_OPTION_NOTIFY_COMPLETED, on_completed, NULL,
                            MHD_OPTION_NOTIFY_CONNECTION, on_connection, h, MHD_OPTION_END);
    if (!h->d) {
        sg_log(SG_LOG_ERR, "%s: cannot start the HTTP server on %s", what, listen);
        close(fd);
        free(h);
        return NULL;
    }
    const union MHD_DaemonInfo *di = MHD_get_daemon_info(h->d, MHD_DAEMON_INFO_EPOLL_FD);
    h->epfd = di ? di->epoll_fd : -1;
    zmq_pollitem_t it = {.fd = h->epfd, .events = ZMQ_POLLIN};
    if (h->epfd < 0 || zloop_poller(loop, &it, on_ready, h) < 0) {
        sg_log(SG_LOG_ERR, "%s: cannot poll the HTTP server", what);
        http_server_destroy(&h);
        return NULL;
    }
    run(h);   /* arms the first timer */
    sg_log(SG_LOG_INFO, "%s: listening on %s (port %d)", what, listen, h->port);
    return h;
}

int http_server_port(const struct http_server *h)
{
    return h->port;
}

void http_server_stats(const struct http_server *h, struct http_stats *out)
{
    *out = h->st;
}

void http_server_destroy(struct http_server **ph)
{
    struct http_server *h = *ph;
    if (!h) return;
    if (h->epfd >= 0) {
        zmq_pollitem_t it = {.fd = h->epfd, .events = ZMQ_POLLIN};
        zloop_poller_end(h->loop, &it);
    }
    if (h->timer_id >= 0) zloop_timer_end(h->loop, h->timer_id);
    if (h->d) {
        MHD_socket fd = MHD_quiesce_daemon(h->d);
        MHD_stop_daemon(h->d);
        if (fd != MHD_INVALID_SOCKET) close(fd);
    }
    free(h);
    *ph = NULL;
}
