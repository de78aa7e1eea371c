/* policy_accept.c: the policy server's accepting side: who may take a connection slot (the
 * policy user on the unix socket, a bounded number per TCP source) and who makes room when the
 * slots are full. */
#include "enforce/policy_conn.h"
#include "enforce/policy_listen.h"
#include "agent/util.h"

#include <errno.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

static struct conn *conn_new(struct policy_server *s, int fd)
{
    /* Answers to pipelined requests go out in several sends; without this, Nagle holds each one
     * back until the client's delayed ACK (40 ms). Fails harmlessly on unix sockets. */
    int one = 1;
    setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
    struct conn *c = sg_xcalloc(1, sizeof *c);
    c->srv = s;
    c->fd = fd;
    c->in_cap = IN_INITIAL;
    c->in = sg_xmalloc(c->in_cap);
    c->last_active_ms = sg_mono_ms();
    policy_conn_append(s, c);
    s->nconns++;
    s->st.conns_accepted++;
    if (policy_conn_poll(c, ZMQ_POLLIN) != 0) {
        s->st.io_errors++;
        policy_conn_close(c);
        return NULL;
    }
    return c;
}

static void log_refused(struct policy_server *s, const char *msg)
{
    int64_t now = sg_mono_ms();
    if (now - s->last_peer_log_ms < 10000)
        return;
    s->last_peer_log_ms = now;
    sg_log(SG_LOG_WARN, "policy: %s (so far: %lu by user, %lu by source)", msg,
           (unsigned long)s->st.conns_refused_peer, (unsigned long)s->st.conns_refused_source);
}

/* Who may take a slot: on the unix socket only peer_uid and root (SO_PEERCRED), so a local
 * user is closed at once and never holds one; over TCP at most max_conns_per_source from one
 * non-loopback source. Returns true when fd was refused (closed and counted). */
static bool refuse_client(struct policy_server *s, const struct listener *l, int fd, unsigned char src[16],
                          bool *remote)
{
    *remote = false;
    if (l->is_unix) {
        long uid;
        if (policy_listen_peer_ok(fd, s->cfg.peer_uid, &uid))
            return false;
        char msg[128];
        s->st.conns_refused_peer++;
        snprintf(msg, sizeof msg, "refused a client of uid %ld on the unix socket (only uid %ld and root are served)",
                 uid, s->cfg.peer_uid);
        log_refused(s, msg);
        close(fd);
        return true;
    }
    if (policy_listen_source(fd, src) != 0)
        return false;                   /* loopback (all sources look alike), or unreadable */
    size_t n = 0;
    for (struct conn *c = s->head; c; c = c->next)
        n += c->remote && !memcmp(c->src, src, 16);
    *remote = true;
    if (n < s->cfg.max_conns_per_source)
        return false;
    char msg[96];
    s->st.conns_refused_source++;
    snprintf(msg, sizeof msg, "refused a TCP client: %zu connections from its source already", n);
    log_refused(s, msg);
    close(fd);
    return true;
}

/* At max_conns, who makes room: first a connection that never completed a request (half-open,
 * silent or dribbling: Postfix sends its request as soon as it connects); then one whose pending
 * request has been stalled for STALL_MS (Postfix writes a request at once); then the least
 * recently active idle one. Oldest first in each. */
#define STALL_MS 1000
static struct conn *pick_victim(struct policy_server *s)
{
    struct conn *stalled = NULL, *idle = NULL;
    int64_t now = sg_mono_ms();
    for (struct conn *c = s->head; c; c = c->next) {
        if (c->closing || c->shut)
            continue;
        if (!c->proven)
            return c;
        if (!stalled && !c->want_out && c->in_len > c->in_head && now - c->request_start_ms > STALL_MS)
            stalled = c;
        if (!idle && policy_conn_idle(c))
            idle = c;
    }
    return stalled ? stalled : idle;
}

static int on_accept(zloop_t *loop, zmq_pollitem_t *item, void *arg)
{
    (void)item;
    struct listener *l = arg;
    struct policy_server *s = l->srv;
    for (int i = 0; i < ACCEPT_BURST; i++) {
        int fd = accept4(l->fd, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC);
        if (fd < 0) {
            if (errno == EAGAIN || errno == EWOULDBLOCK)
                break;
            if (errno == EINTR || errno == ECONNABORTED)
                continue;
            s->st.accept_errors++;
            if (errno == EMFILE || errno == ENFILE || errno == ENOBUFS || errno == ENOMEM) {
                /* The pending connection stays queued and the listener stays readable: stop
                 * polling it until the next tick, or the loop would spin. */
                zmq_pollitem_t li = {.socket = NULL, .fd = l->fd, .events = 0, .revents = 0};
                zloop_poller_end(loop, &li);
                l->paused = true;
            }
            int64_t now = sg_mono_ms();
            if (now - s->last_accept_log_ms > 10000) {
                s->last_accept_log_ms = now;
                sg_log(SG_LOG_WARN, "policy: accept: %s", strerror(errno));
            }
            break;
        }
        unsigned char src[16];
        bool remote;
        if (refuse_client(s, l, fd, src, &remote))
            continue;
        if (s->nconns >= s->cfg.max_conns) {
            struct conn *victim = s->cfg.overflow == POLICY_OVERFLOW_DROP_IDLE ? pick_victim(s) : NULL;
            if (!victim) {
                s->st.conns_refused++;
                close(fd);
                continue;
            }
            s->st.conns_dropped++;
            policy_conn_close(victim);
        }
        struct conn *c = conn_new(s, fd);
        if (c && remote) {
            c->remote = true;
            memcpy(c->src, src, sizeof c->src);
        }
    }
    return 0;
}

int policy_listener_poll(struct policy_server *s, struct listener *l)
{
    zmq_pollitem_t li = {.socket = NULL, .fd = l->fd, .events = ZMQ_POLLIN, .revents = 0};
    l->paused = false;
    return zloop_poller(s->loop, &li, on_accept, l);
}

