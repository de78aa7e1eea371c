/* authpolicy_http.c: libmicrohttpd in the agent's zloop.
 *
 * Why external polling (MHD_USE_EPOLL without an internal thread): every answer reads the
 * replicated ban map and every report feeds the scenario engine, both owned by the loop's thread
 * and not thread-safe. MHD's own epoll fd is polled by zloop and MHD_run() is called when it is
 * readable (plus a timer for connection timeouts), so requests are handled on the loop's thread
 * with no lock and no snapshot copy; an answer is a few hash lookups, so it never stalls the loop.
 * MHD does request parsing, header and memory limits and timeouts; bodies are capped here. */
#include "agent/authpolicy_http.h"
#include "agent/util.h"
#include "enforce/policy_listen.h"

#include <microhttpd.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define HTTP_CONN_LIMIT 256
#define HTTP_CONN_TIMEOUT_S 10
#define HTTP_CONN_MEMORY (32 * 1024)
#define HTTP_TIMER_MS 500

struct authpolicy_http {
    zloop_t *loop;
    struct authpolicy *ap;
    struct MHD_Daemon *d;
    int epfd, timer_id, port;
};

struct upload {
    size_t len;
    bool over;
    char buf[AUTHPOLICY_MAX_BODY];
};

static enum MHD_Result reply(struct MHD_Connection *c, int code, const char *body)
{
    struct MHD_Response *r = MHD_create_response_from_buffer(strlen(body), (void *)body, MHD_RESPMEM_MUST_COPY);
    if (!r) return MHD_NO;
    MHD_add_response_header(r, MHD_HTTP_HEADER_CONTENT_TYPE, "application/json");
    enum MHD_Result rc = MHD_queue_response(c, (unsigned)code, r);
    MHD_destroy_response(r);
    return rc;
}

static enum MHD_Result on_request(void *cls, struct MHD_Connection *c, const char *url, const char *method,
                                  const char *version, const char *data, size_t *data_size, void **con_cls)
{
    (void)url; (void)version;
    struct authpolicy_http *h = cls;
    const char *cmd = MHD_lookup_connection_value(c, MHD_GET_ARGUMENT_KIND, "command");
    const char *key = MHD_lookup_connection_value(c, MHD_HEADER_KIND, AUTHPOLICY_KEY_HEADER);
    char out[512];
    struct upload *u = *con_cls;
    if (!u) {
        /* Headers only: refuse a wrong method, a wrong key or an announced oversize body now,
         * before reading any of it. */
        const char *cl = MHD_lookup_connection_value(c, MHD_HEADER_KIND, MHD_HTTP_HEADER_CONTENT_LENGTH);
        bool big = cl && strtoull(cl, NULL, 10) > AUTHPOLICY_MAX_BODY;
        if (strcmp(method, MHD_HTTP_METHOD_POST) || big) {
            int code = authpolicy_handle(h->ap, method, cmd, key, NULL, 0, big, out, sizeof out);
            return reply(c, code, out);
        }
        *con_cls = u = malloc(sizeof *u);
        if (!u) return MHD_NO;
        u->len = 0;
        u->over = false;
        return MHD_YES;
    }
    if (*data_size) {
        /* A chunked body gives no length first: keep at most the cap, drop (and refuse) the rest. */
        size_t room = sizeof u->buf - u->len, n = *data_size < room ? *data_size : room;
        memcpy(u->buf + u->len, data, n);
        u->len += n;
        if (n < *data_size) u->over = true;
        *data_size = 0;
        return MHD_YES;
    }
    int code = authpolicy_handle(h->ap, method, cmd, key, u->buf, u->len, u->over, out, sizeof out);
    return reply(c, code, out);
}

static void on_completed(void *cls, struct MHD_Connection *c, void **con_cls, enum MHD_RequestTerminationCode toe)
{
    (void)cls; (void)c; (void)toe;
    free(*con_cls);
    *con_cls = NULL;
}

static void run(struct authpolicy_http *h)
{
    /* MHD may hold buffered work that no fd will announce again: run while it says so (bounded). */
    MHD_UNSIGNED_LONG_LONG t = 1;
    for (int i = 0; i < 8; i++) {
        MHD_run(h->d);
        if (MHD_get_timeout(h->d, &t) != MHD_YES || t > 0) break;
    }
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
    run(arg);
    return 0;
}

struct authpolicy_http *authpolicy_http_new(zloop_t *loop, const char *listen, bool allow_remote, struct authpolicy *ap)
{
    struct authpolicy_http *h = sg_xcalloc(1, sizeof *h);
    h->loop = loop;
    h->ap = ap;
    h->epfd = -1;
    h->timer_id = -1;
    int fd = policy_listen_tcp(listen, allow_remote, &h->port);
    if (fd < 0) { free(h); return NULL; }
    h->d = MHD_start_daemon(MHD_USE_EPOLL | MHD_USE_ERROR_LOG, 0, NULL, NULL, on_request, h,
                            MHD_OPTION_LISTEN_SOCKET, (MHD_socket)fd,
                            MHD_OPTION_CONNECTION_LIMIT, (unsigned)HTTP_CONN_LIMIT,
                            MHD_OPTION_CONNECTION_TIMEOUT, (unsigned)HTTP_CONN_TIMEOUT_S,
                            MHD_OPTION_CONNECTION_MEMORY_LIMIT, (size_t)HTTP_CONN_MEMORY,
                            MHD_OPTION_NOTIFY_COMPLETED, on_completed, NULL, MHD_OPTION_END);
    if (!h->d) {
        sg_log(SG_LOG_ERR, "authpolicy: cannot start the HTTP server on %s", listen);
        close(fd);
        free(h);
        return NULL;
    }
    const union MHD_DaemonInfo *di = MHD_get_daemon_info(h->d, MHD_DAEMON_INFO_EPOLL_FD);
    h->epfd = di ? di->epoll_fd : -1;
    zmq_pollitem_t it = {.fd = h->epfd, .events = ZMQ_POLLIN};
    if (h->epfd < 0 || zloop_poller(loop, &it, on_ready, h) < 0) {
        sg_log(SG_LOG_ERR, "authpolicy: cannot poll the HTTP server");
        authpolicy_http_destroy(&h);
        return NULL;
    }
    h->timer_id = zloop_timer(loop, HTTP_TIMER_MS, 0, on_timer, h);
    sg_log(SG_LOG_INFO, "authpolicy: listening on %s (port %d)", listen, h->port);
    return h;
}

int authpolicy_http_port(const struct authpolicy_http *h)
{
    return h->port;
}

void authpolicy_http_destroy(struct authpolicy_http **ph)
{
    struct authpolicy_http *h = *ph;
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
