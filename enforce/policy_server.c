/* policy_server.c: the Postfix policy-delegation server on the agent's zloop: non-blocking accept,
 * per-connection buffers with hard caps, pipelined requests, idle/request timeouts, counters
 * (accepting, and who may take a slot: policy_accept.c). */
#include "enforce/policy.h"
#include "enforce/policy_conn.h"
#include "enforce/policy_listen.h"
#include "agent/util.h"

#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

void policy_config_defaults(struct policy_config *cfg)
{
    memset(cfg, 0, sizeof *cfg);
    cfg->unix_mode = 0666;
    cfg->peer_uid = -1;
    cfg->max_conns_per_source = 32;
    cfg->max_line = 2048;
    cfg->max_request = 16384;
    cfg->max_attrs = 64;
    cfg->max_conns = 512;
    cfg->overflow = POLICY_OVERFLOW_DROP_IDLE;
    cfg->idle_timeout_ms = 600000;
    cfg->request_timeout_ms = 10000;
}

/* ---- connection list ------------------------------------------------------------------- */

static void list_unlink(struct policy_server *s, struct conn *c)
{
    if (c->prev) c->prev->next = c->next; else s->head = c->next;
    if (c->next) c->next->prev = c->prev; else s->tail = c->prev;
    c->prev = c->next = NULL;
}

void policy_conn_append(struct policy_server *s, struct conn *c)
{
    c->prev = s->tail;
    c->next = NULL;
    if (s->tail) s->tail->next = c; else s->head = c;
    s->tail = c;
}

/* Activity moves a connection to the tail, so the head is the least recently active one. */
static void conn_touch(struct conn *c)
{
    c->last_active_ms = sg_mono_ms();
    if (c->srv->tail != c) {
        list_unlink(c->srv, c);
        policy_conn_append(c->srv, c);
    }
}

bool policy_conn_idle(const struct conn *c)
{
    return !c->closing && !c->shut && c->in_len == c->in_head && c->out_len == c->out_off;
}

static int on_conn(zloop_t *loop, zmq_pollitem_t *item, void *arg);

/* Tolerant: a hang-up is reported as an error, and zloop drops a poller that reports errors on two
 * turns in a row. A refused client that closes with input still unread gives exactly that (one
 * drain per turn), and a dropped poller would have left its connection open for good. on_conn
 * handles errors itself: recv or send tells what happened. */
int policy_conn_poll(struct conn *c, short events)
{
    zmq_pollitem_t item = {.socket = NULL, .fd = c->fd, .events = events, .revents = 0};
    zloop_poller_end(c->srv->loop, &item);
    if (zloop_poller(c->srv->loop, &item, on_conn, c) != 0)
        return -1;
    zloop_poller_set_tolerant(c->srv->loop, &item);
    return 0;
}

/* Frees c. Safe from c's own handler and from the accept handler (zloop rebuilds its poll set
 * before touching another poller), never from the timer: see on_tick. */
void policy_conn_close(struct conn *c)
{
    struct policy_server *s = c->srv;
    zmq_pollitem_t item = {.socket = NULL, .fd = c->fd, .events = 0, .revents = 0};
    zloop_poller_end(s->loop, &item);
    if (c->shut) {
        struct linger lg = {.l_onoff = 1, .l_linger = 0};
        setsockopt(c->fd, SOL_SOCKET, SO_LINGER, &lg, sizeof lg);
    }
    close(c->fd);
    list_unlink(s, c);
    s->nconns--;
    free(c->in);
    free(c);
}

/* ---- output ---------------------------------------------------------------------------- */

/* Sends what is queued. Returns 0 (all sent, or blocked and now polled for POLLOUT) or -1 when
 * the connection is broken. */
static int conn_flush(struct conn *c)
{
    while (c->out_off < c->out_len) {
        ssize_t n = send(c->fd, c->out + c->out_off, c->out_len - c->out_off,
                         MSG_NOSIGNAL | MSG_DONTWAIT);
        if (n > 0) {
            c->out_off += (size_t)n;
            c->last_active_ms = sg_mono_ms();
            continue;
        }
        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) {
            /* Only POLLOUT while blocked: reading on would let a client that never reads its
             * answers make us buffer without bound. */
            if (!c->want_out) {
                c->want_out = true;
                c->blocked_since_ms = sg_mono_ms();
                if (policy_conn_poll(c, ZMQ_POLLOUT) != 0)
                    return -1;
            }
            return 0;
        }
        if (n < 0 && errno != EPIPE && errno != ECONNRESET)
            c->srv->st.io_errors++;
        return -1;
    }
    c->out_off = c->out_len = 0;
    if (c->want_out) {
        c->want_out = false;
        if (policy_conn_poll(c, ZMQ_POLLIN) != 0)
            return -1;
    }
    if (c->closing && c->close_deadline_ms == 0) {
        /* The error answer is out: half-close so the client reads it and its EOF, and keep
         * draining its input so that unread bytes do not turn our close into a reset. */
        shutdown(c->fd, SHUT_WR);
        c->close_deadline_ms = sg_mono_ms() + CLOSE_LINGER_MS;
    }
    return 0;
}

static void conn_queue(struct conn *c, const char *action)
{
    int n = snprintf(c->out + c->out_len, OUT_CAP - c->out_len, "action=%s\n\n", action);
    if (n > 0 && (size_t)n < OUT_CAP - c->out_len)
        c->out_len += (size_t)n;
}

/* A request that cannot be served: answer a temporary error (Postfix will retry or apply its
 * default), then close, because after a framing error the stream cannot be trusted any more. */
static void conn_fail(struct conn *c, enum policy_err err)
{
    struct policy_server *s = c->srv;
    if (err == POLICY_ERR_MALFORMED)
        s->st.malformed++;
    else
        s->st.oversized++;
    int64_t now = sg_mono_ms();
    if (now - s->last_refuse_log_ms > 10000) {
        s->last_refuse_log_ms = now;
        sg_log(SG_LOG_WARN, "policy: refused a request: %s (so far: %lu malformed, %lu oversized)",
               policy_err_str(err), (unsigned long)s->st.malformed, (unsigned long)s->st.oversized);
    }
    char action[128];
    snprintf(action, sizeof action, "DEFER_IF_PERMIT 4.3.0 Policy request refused: %s",
             policy_err_str(err));
    conn_queue(c, action);
    s->st.answers[POLICY_CLASS_DEFER]++;
    c->closing = true;
}

/* ---- requests -------------------------------------------------------------------------- */

static void conn_answer(struct conn *c, char *req_buf, size_t req_len)
{
    struct policy_server *s = c->srv;
    enum policy_err err;
    if (policy_request_parse(req_buf, req_len, s->cfg.max_attrs, &s->req, &err) != 0) {
        conn_fail(c, err);
        return;
    }
    s->st.requests++;
    c->proven = true;
    char action[POLICY_ACTION_MAX];
    action[0] = '\0';
    int64_t t0 = sg_mono_ns();
    int rc = s->decide(&s->req, action, sizeof action, s->arg);
    sg_hist_observe_ns(&s->st.latency, sg_mono_ns() - t0);
    action[sizeof action - 1] = '\0';
    if (rc != 0 || !action[0] || strpbrk(action, "\r\n")) {
        /* The protocol's "trouble" path: no reply, close; Postfix applies default_action. */
        s->st.decide_errors++;
        if (rc == 0)
            sg_log(SG_LOG_WARN, "policy: decide() gave an empty or multi-line action; closing");
        c->closing = true;
        return;
    }
    conn_queue(c, action);
    s->st.answers[policy_action_classify(action)]++;
}

/* Answers every complete request buffered, in order (Postfix may pipeline), until the input
 * runs dry, the output blocks, or the connection fails. Returns -1 when it is broken. */
static int conn_process(struct conn *c)
{
    struct policy_server *s = c->srv;
    while (!c->closing && !c->want_out && c->in_head < c->in_len) {
        if (c->out_len + ANSWER_MAX > OUT_CAP) {
            if (conn_flush(c) != 0)
                return -1;
            continue;
        }
        size_t end = 0;
        enum policy_err err;
        char *req = c->in + c->in_head;
        int r = policy_frame_scan(&c->frame, req, c->in_len - c->in_head, s->cfg.max_line,
                                  s->cfg.max_request, s->cfg.max_attrs, &end, &err);
        if (r == 0)
            break;
        if (r < 0) {
            conn_fail(c, err);
            break;
        }
        conn_answer(c, req, end);
        c->in_head += end;
        memset(&c->frame, 0, sizeof c->frame);
        c->request_start_ms = c->in_head < c->in_len ? sg_mono_ms() : 0;
    }
    if (c->in_head == c->in_len)
        c->in_head = c->in_len = 0;
    return 0;
}

/* Makes room for at least one more byte: compaction first, then growth up to the cap. */
static bool conn_make_room(struct conn *c)
{
    struct policy_server *s = c->srv;
    if (c->in_head > 0) {
        memmove(c->in, c->in + c->in_head, c->in_len - c->in_head);
        c->in_len -= c->in_head;
        c->in_head = 0;
    }
    size_t max_cap = s->cfg.max_request + 4096;
    if (c->in_len < c->in_cap)
        return true;
    if (c->in_cap >= max_cap)
        return false;
    size_t cap = c->in_cap * 2 > max_cap ? max_cap : c->in_cap * 2;
    c->in = sg_xrealloc(c->in, cap);
    c->in_cap = cap;
    return true;
}

static void conn_read(struct conn *c)
{
    struct policy_server *s = c->srv;
    char drain[4096];
    char *dst;
    size_t room;
    if (c->closing) {
        dst = drain;
        room = sizeof drain;
    } else {
        if (!conn_make_room(c)) {
            /* Cannot happen while the frame limits hold (they trip first); closing is safe. */
            conn_fail(c, POLICY_ERR_TOO_BIG);
            return;
        }
        dst = c->in + c->in_len;
        room = c->in_cap - c->in_len;
    }
    ssize_t n = recv(c->fd, dst, room, MSG_DONTWAIT);
    if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR))
        return;
    if (n <= 0) {
        if (n < 0 && errno != ECONNRESET)
            s->st.io_errors++;
        /* A request cut off by the client's close is a truncated request. */
        if (!c->closing && !c->shut && c->in_len > c->in_head)
            s->st.malformed++;
        policy_conn_close(c);
        return;
    }
    if (c->closing)
        return;
    if (c->in_len == c->in_head)
        c->request_start_ms = sg_mono_ms();
    c->in_len += (size_t)n;
    conn_touch(c);
    if (conn_process(c) != 0 || conn_flush(c) != 0)
        policy_conn_close(c);
}

static int on_conn(zloop_t *loop, zmq_pollitem_t *item, void *arg)
{
    (void)loop;
    struct conn *c = arg;
    if (c->want_out && (item->revents & ZMQ_POLLOUT)) {
        if (conn_flush(c) != 0) {
            policy_conn_close(c);
            return 0;
        }
        if (!c->want_out) {
            /* Unblocked: answer what was left waiting, then wait for input again. */
            if (conn_process(c) != 0 || conn_flush(c) != 0)
                policy_conn_close(c);
        }
        return 0;
    }
    /* POLLERR includes hang-ups: recv() tells which, and returns 0 after a shutdown by on_tick. */
    if (item->revents & (ZMQ_POLLIN | ZMQ_POLLERR))
        conn_read(c);
    return 0;
}

/* ---- timer ----------------------------------------------------------------------------- */

/* Expired connections are shut down here, not closed: zloop may still dispatch this round's
 * events to them after a timer, with the pointer we gave it. The shutdown makes their fd report
 * EOF, and their own handler closes them safely on the next round. */
static int on_tick(zloop_t *loop, int timer_id, void *arg)
{
    (void)loop;
    (void)timer_id;
    struct policy_server *s = arg;
    int64_t now = sg_mono_ms();
    for (struct conn *c = s->head; c; c = c->next) {
        if (c->shut)
            continue;
        bool expire = false;
        if (c->closing) {
            if (c->close_deadline_ms && now > c->close_deadline_ms)
                expire = true;          /* a lingering error close, not a timeout */
            else if (!c->close_deadline_ms && now - c->last_active_ms > s->cfg.request_timeout_ms)
                expire = true;
        } else if (c->want_out || c->in_len > c->in_head) {
            /* Blocked output counts from when it blocked, not from the last byte that got
             * through: a client reading a byte now and then must not hold us forever. */
            int64_t since = c->want_out ? c->blocked_since_ms : c->request_start_ms;
            if (now - since > s->cfg.request_timeout_ms) {
                expire = true;
                s->st.timeouts++;
            }
        } else if (now - c->last_active_ms > (c->proven ? s->cfg.idle_timeout_ms : s->cfg.request_timeout_ms)) {
            /* A connection that never sent a request gets the request timeout: Postfix
             * connects when it has something to ask, a half-open client holds a slot. */
            expire = true;
            s->st.timeouts++;
        }
        if (expire) {
            c->shut = true;
            shutdown(c->fd, SHUT_RDWR);
        }
    }
    for (size_t i = 0; i < s->nls; i++)
        if (s->ls[i].paused && policy_listener_poll(s, &s->ls[i]) != 0)
            s->ls[i].paused = true;
    return 0;
}

/* ---- lifecycle ------------------------------------------------------------------------- */

policy_server_t *policy_server_new(zloop_t *loop, const struct policy_config *cfg,
                                   policy_decide_fn *decide, void *arg)
{
    if (!loop || !cfg || !decide) {
        sg_log(SG_LOG_ERR, "policy: server needs a loop, a config and a decide function");
        return NULL;
    }
    if (!cfg->unix_path && !cfg->tcp_addr) {
        sg_log(SG_LOG_ERR, "policy: no unix_path and no tcp_addr to listen on");
        return NULL;
    }
    if (cfg->max_line < 16 || cfg->max_request < cfg->max_line || cfg->max_attrs < 1 ||
        cfg->max_attrs > POLICY_ATTRS_MAX || cfg->max_conns < 1 || cfg->idle_timeout_ms < 1 ||
        cfg->request_timeout_ms < 1) {
        sg_log(SG_LOG_ERR, "policy: bad limits (max_line >= 16, max_request >= max_line, "
               "1 <= max_attrs <= %d, max_conns >= 1, timeouts > 0)", POLICY_ATTRS_MAX);
        return NULL;
    }
    struct policy_server *s = sg_xcalloc(1, sizeof *s);
    s->loop = loop;
    s->cfg = *cfg;
    s->decide = decide;
    s->arg = arg;
    s->tcp_port = -1;
    s->timer_id = -1;
    if (cfg->unix_path) {
        s->unix_path = sg_xstrdup(cfg->unix_path);
        int fd = policy_listen_unix(s->unix_path, cfg->unix_mode);
        if (fd < 0) {
            free(s->unix_path);
            s->unix_path = NULL;        /* not ours: destroy must not unlink it */
            goto fail;
        }
        s->ls[s->nls++] = (struct listener){.srv = s, .fd = fd, .is_unix = true};
    }
    if (cfg->tcp_addr) {
        s->tcp_addr = sg_xstrdup(cfg->tcp_addr);
        int fd = policy_listen_tcp(s->tcp_addr, cfg->allow_remote, &s->tcp_port);
        if (fd < 0)
            goto fail;
        s->ls[s->nls++] = (struct listener){.srv = s, .fd = fd};
    }
    s->cfg.unix_path = s->unix_path;
    s->cfg.tcp_addr = s->tcp_addr;
    for (size_t i = 0; i < s->nls; i++)
        if (policy_listener_poll(s, &s->ls[i]) != 0)
            goto fail;
    int64_t t = s->cfg.request_timeout_ms < s->cfg.idle_timeout_ms ? s->cfg.request_timeout_ms
                                                                     : s->cfg.idle_timeout_ms;
    t /= 4;
    t = t < 50 ? 50 : t > 1000 ? 1000 : t;
    s->timer_id = zloop_timer(loop, (size_t)t, 0, on_tick, s);
    if (s->timer_id < 0)
        goto fail;
    sg_log(SG_LOG_INFO, "policy: listening%s%s%s%s (port %d)", s->unix_path ? " on unix:" : "",
           s->unix_path ? s->unix_path : "", s->tcp_addr ? " on inet:" : "",
           s->tcp_addr ? s->tcp_addr : "", s->tcp_port);
    return s;
fail:
    policy_server_destroy(&s);
    return NULL;
}

void policy_server_destroy(policy_server_t **sp)
{
    if (!sp || !*sp)
        return;
    struct policy_server *s = *sp;
    while (s->head)
        policy_conn_close(s->head);
    for (size_t i = 0; i < s->nls; i++) {
        zmq_pollitem_t li = {.socket = NULL, .fd = s->ls[i].fd, .events = 0, .revents = 0};
        zloop_poller_end(s->loop, &li);
        close(s->ls[i].fd);
    }
    if (s->timer_id >= 0)
        zloop_timer_end(s->loop, s->timer_id);
    if (s->unix_path)
        unlink(s->unix_path);
    free(s->unix_path);
    free(s->tcp_addr);
    free(s);
    *sp = NULL;
}

void policy_server_stats(const policy_server_t *s, struct policy_stats *out)
{
    *out = s->st;
    out->conns_open = s->nconns;
}

int policy_server_tcp_port(const policy_server_t *s)
{
    return s->tcp_port;
}
