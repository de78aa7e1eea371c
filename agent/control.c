/* control.c: the control socket: one TAB-separated request line in, "CODE\n" + body out. */
#include "agent/control.h"
#include "agent/util.h"

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#define CONTROL_MAX_CONNS 16
#define CONTROL_IDLE_MS 3000
#define CONTROL_SEND_TIMEOUT_S 3

struct control_conn {
    int fd;
    size_t len;
    int64_t started;
    char buf[CONTROL_MAX_REQUEST];
};

struct control {
    zloop_t *loop;
    int fd;
    char *path;
    control_fn *fn;
    void *arg;
    int timer;
    struct control_conn *conns[CONTROL_MAX_CONNS];
    struct control_stats stats;
};

static void conn_close(struct control *c, int i)
{
    struct control_conn *k = c->conns[i];
    zmq_pollitem_t item = {.fd = k->fd, .events = ZMQ_POLLIN};
    zloop_poller_end(c->loop, &item);
    close(k->fd);
    free(k);
    c->conns[i] = NULL;
}

/* Splits the request in place; returns argc or -1 when it has too many fields. */
static int split_request(char *line, char **argv, bool *json)
{
    int argc = 0;
    *json = false;
    char *save = NULL;
    for (char *f = strtok_r(line, "\t", &save); f; f = strtok_r(NULL, "\t", &save)) {
        if (!strcmp(f, "--json")) { *json = true; continue; }
        if (argc >= CONTROL_MAX_ARGS) return -1;
        argv[argc++] = f;
    }
    return argc;
}

static void respond(struct control *c, struct control_conn *k)
{
    char *body = NULL;
    size_t blen = 0;
    FILE *out = open_memstream(&body, &blen);
    if (!out) sg_oom();
    char *argv[CONTROL_MAX_ARGS];
    bool json;
    int argc = split_request(k->buf, argv, &json);
    int code;
    c->stats.requests++;
    if (argc <= 0) {
        c->stats.bad_requests++;
        fprintf(out, "bad request: expected COMMAND [ARGS] separated by TAB\n");
        code = 2;
    } else {
        code = c->fn(argc, argv, json, out, c->arg);
    }
    fclose(out);
    /* The answer is written in blocking mode with a send timeout: a client that does not read
     * stalls the agent for at most CONTROL_SEND_TIMEOUT_S. */
    int fl = fcntl(k->fd, F_GETFL);
    fcntl(k->fd, F_SETFL, fl & ~O_NONBLOCK);
    struct timeval tv = {.tv_sec = CONTROL_SEND_TIMEOUT_S};
    setsockopt(k->fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof tv);
    char head[16];
    int hl = snprintf(head, sizeof head, "%d\n", code);
    if (send(k->fd, head, (size_t)hl, MSG_NOSIGNAL) == hl) {
        size_t off = 0;
        while (off < blen) {
            ssize_t w = send(k->fd, body + off, blen - off, MSG_NOSIGNAL);
            if (w <= 0) { c->stats.timeouts++; break; }
            off += (size_t)w;
        }
    }
    free(body);
}

static int on_conn(zloop_t *loop, zmq_pollitem_t *item, void *arg)
{
    (void)loop;
    struct control *c = arg;
    int i;
    for (i = 0; i < CONTROL_MAX_CONNS; i++)
        if (c->conns[i] && c->conns[i]->fd == item->fd) break;
    if (i == CONTROL_MAX_CONNS) return 0;
    struct control_conn *k = c->conns[i];
    ssize_t n = read(k->fd, k->buf + k->len, sizeof k->buf - 1 - k->len);
    if (n < 0 && (errno == EAGAIN || errno == EINTR)) return 0;
    if (n <= 0) { conn_close(c, i); return 0; }
    k->len += (size_t)n;
    char *nl = memchr(k->buf, '\n', k->len);
    if (!nl) {
        if (k->len >= sizeof k->buf - 1) {
            c->stats.bad_requests++;
            const char *msg = "2\nrequest too long\n";
            if (send(k->fd, msg, strlen(msg), MSG_NOSIGNAL) < 0) { /* closing anyway */ }
            conn_close(c, i);
        }
        return 0;
    }
    *nl = '\0';
    respond(c, k);
    conn_close(c, i);
    return 0;
}

static int on_accept(zloop_t *loop, zmq_pollitem_t *item, void *arg)
{
    struct control *c = arg;
    int fd = accept4(item->fd, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC);
    if (fd < 0) return 0;
    int slot = -1;
    for (int i = 0; i < CONTROL_MAX_CONNS; i++)
        if (!c->conns[i]) { slot = i; break; }
    if (slot < 0) {
        c->stats.bad_requests++;
        close(fd);
        return 0;
    }
    struct control_conn *k = sg_xcalloc(1, sizeof *k);
    k->fd = fd;
    k->started = sg_mono_ms();
    c->conns[slot] = k;
    zmq_pollitem_t p = {.fd = fd, .events = ZMQ_POLLIN};
    zloop_poller(loop, &p, on_conn, c);
    return 0;
}

/* Drops connections that did not send a whole request in time. */
static int on_timer(zloop_t *loop, int timer_id, void *arg)
{
    (void)loop; (void)timer_id;
    struct control *c = arg;
    int64_t now = sg_mono_ms();
    for (int i = 0; i < CONTROL_MAX_CONNS; i++)
        if (c->conns[i] && now - c->conns[i]->started > CONTROL_IDLE_MS) {
            c->stats.timeouts++;
            conn_close(c, i);
        }
    return 0;
}

struct control *control_new(zloop_t *loop, const char *path, control_fn *fn, void *arg)
{
    struct sockaddr_un sa = {.sun_family = AF_UNIX};
    if (strlen(path) >= sizeof sa.sun_path) {
        sg_log(SG_LOG_ERR, "control socket path too long: %s", path);
        return NULL;
    }
    strcpy(sa.sun_path, path);
    int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    if (fd < 0) return NULL;
    unlink(path);
    mode_t old = umask(0117);
    int rc = bind(fd, (struct sockaddr *)&sa, sizeof sa);
    umask(old);
    if (rc < 0 || listen(fd, 16) < 0) {
        sg_log(SG_LOG_ERR, "control socket %s: %s", path, strerror(errno));
        close(fd);
        return NULL;
    }
    struct control *c = sg_xcalloc(1, sizeof *c);
    c->loop = loop;
    c->fd = fd;
    c->path = sg_xstrdup(path);
    c->fn = fn;
    c->arg = arg;
    zmq_pollitem_t p = {.fd = fd, .events = ZMQ_POLLIN};
    zloop_poller(loop, &p, on_accept, c);
    c->timer = zloop_timer(loop, 1000, 0, on_timer, c);
    return c;
}

void control_destroy(struct control **pc)
{
    struct control *c = *pc;
    if (!c) return;
    for (int i = 0; i < CONTROL_MAX_CONNS; i++)
        if (c->conns[i]) conn_close(c, i);
    zmq_pollitem_t p = {.fd = c->fd, .events = ZMQ_POLLIN};
    zloop_poller_end(c->loop, &p);
    zloop_timer_end(c->loop, c->timer);
    close(c->fd);
    unlink(c->path);
    free(c->path);
    free(c);
    *pc = NULL;
}

void control_stats(const struct control *c, struct control_stats *out)
{
    *out = c->stats;
}

int control_call(const char *path, int argc, char **argv, bool json, char **body, int timeout_ms)
{
    struct sockaddr_un sa = {.sun_family = AF_UNIX};
    char *msg = NULL;
    size_t mlen = 0;
    FILE *m = open_memstream(&msg, &mlen);
    if (!m) sg_oom();
    int fd = -1, code = -1;
    if (strlen(path) >= sizeof sa.sun_path) { fprintf(m, "control socket path too long: %s\n", path); goto out; }
    strcpy(sa.sun_path, path);
    fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (fd < 0 || connect(fd, (struct sockaddr *)&sa, sizeof sa) < 0) {
        fprintf(m, "cannot reach the agent at %s: %s (is sgagent running? is -s/--socket right?)\n", path, strerror(errno));
        goto out;
    }
    struct timeval tv = {.tv_sec = timeout_ms / 1000, .tv_usec = (timeout_ms % 1000) * 1000};
    setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
    setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof tv);
    char req[CONTROL_MAX_REQUEST];
    size_t rl = 0;
    if (json) rl += (size_t)snprintf(req, sizeof req, "--json\t");
    for (int i = 0; i < argc; i++) {
        if (strpbrk(argv[i], "\t\n")) { fprintf(m, "argument %d contains a TAB or newline\n", i + 1); goto out; }
        int w = snprintf(req + rl, sizeof req - rl, "%s%s", i ? "\t" : "", argv[i]);
        if (w < 0 || (size_t)w >= sizeof req - rl) { fprintf(m, "request too long\n"); goto out; }
        rl += (size_t)w;
    }
    if (rl + 1 >= sizeof req) { fprintf(m, "request too long\n"); goto out; }
    req[rl++] = '\n';
    if (send(fd, req, rl, MSG_NOSIGNAL) != (ssize_t)rl) { fprintf(m, "send to agent failed: %s\n", strerror(errno)); goto out; }
    char buf[65536];
    size_t got = 0;
    char head[16];
    /* Status line first, byte by byte (it is short), then the body in blocks. */
    while (got < sizeof head - 1) {
        ssize_t n = read(fd, head + got, 1);
        if (n <= 0) { fprintf(m, "agent closed the connection without an answer\n"); goto out; }
        if (head[got++] == '\n') break;
    }
    head[got] = '\0';
    code = atoi(head);
    for (;;) {
        ssize_t n = read(fd, buf, sizeof buf);
        if (n <= 0) break;
        fwrite(buf, 1, (size_t)n, m);
    }
out:
    if (fd >= 0) close(fd);
    fclose(m);
    *body = msg;
    return code;
}
