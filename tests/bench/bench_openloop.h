/* bench_openloop.h: open-loop load for the request/answer benches: requests leave on a fixed
 * schedule (rate per second), whatever the server's pace, over a pool of keep-alive loopback
 * connections, and each latency is measured from the request's INTENDED send time, so a server that
 * stalls is charged for every request that should have left meanwhile (no coordinated omission).
 * A request whose time has come waits for a free connection; that wait counts too. One client
 * thread, ppoll with nanosecond timeouts, timer slack set to 1 ns. */
#ifndef SG_TESTS_BENCH_OPENLOOP_H
#define SG_TESTS_BENCH_OPENLOOP_H

#include "tests/bench/bench_clients.h"

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <stdbool.h>
#include <sys/prctl.h>
#include <time.h>

#define BENCH_OL_CONNS 16

/* A whole answer in buf (len bytes, and room for a NUL after them)? 1: complete and good, -1:
 * complete and bad, 0: incomplete. */
typedef int (*bench_answer_fn)(char *buf, size_t len);

struct bench_ol_result {
    int64_t *lat_ns;     /* sorted, n of them (caller frees) */
    size_t n, failed;
    size_t late_sends;   /* requests sent more than one interval after their time (no free connection,
                          * or the client thread itself was late: both count in the latencies) */
    double secs;         /* first intended send to last answer */
};

struct bench_ol_conn {
    int fd;
    bool busy;
    int64_t intended;
    size_t len;
    char buf[4096];
};

static inline void bench_openloop(int port, const char *req, size_t req_len, int rate, int secs, bench_answer_fn check,
                                  struct bench_ol_result *r)
{
    prctl(PR_SET_TIMERSLACK, 1UL, 0, 0, 0);
    size_t total = (size_t)rate * (size_t)secs;
    int64_t interval = 1000000000LL / rate;
    struct bench_ol_conn *c = sg_xcalloc(BENCH_OL_CONNS, sizeof *c);
    struct pollfd pfd[BENCH_OL_CONNS];
    memset(r, 0, sizeof *r);
    r->lat_ns = sg_xcalloc(total, sizeof(int64_t));
    for (int i = 0; i < BENCH_OL_CONNS; i++) {
        c[i].fd = bench_connect(port);
        if (c[i].fd < 0) { r->failed++; goto out; }
        fcntl(c[i].fd, F_SETFL, fcntl(c[i].fd, F_GETFL) | O_NONBLOCK);
        pfd[i] = (struct pollfd){.fd = c[i].fd, .events = POLLIN};
    }
    int64_t t0 = sg_mono_ns() + 10000000LL, last = t0, deadline = t0 + (int64_t)(secs + 10) * 1000000000LL;
    size_t sent = 0;
    while (r->n + r->failed < total && sg_mono_ns() < deadline) {
        int64_t now = sg_mono_ns();
        size_t due = now < t0 ? 0 : (size_t)((now - t0) / interval) + 1;
        if (due > total) due = total;
        for (int i = 0; i < BENCH_OL_CONNS && sent < due; i++) {
            if (c[i].busy) continue;
            if (send(c[i].fd, req, req_len, MSG_NOSIGNAL) != (ssize_t)req_len) { r->failed++; sent++; continue; }
            c[i].busy = true;
            c[i].intended = t0 + (int64_t)sent * interval;
            if (now - c[i].intended > interval) r->late_sends++;
            c[i].len = 0;
            sent++;
        }
        /* Sleep until the next send is due (only if a connection is free for it), or an answer. */
        bool any_free = false;
        for (int i = 0; i < BENCH_OL_CONNS; i++) any_free |= !c[i].busy;
        int64_t wait = 100000000LL;
        if (sent < total && any_free) {
            int64_t next = t0 + (int64_t)sent * interval - sg_mono_ns();
            wait = next > 0 ? next : 0;
        }
        struct timespec ts = {.tv_sec = wait / 1000000000LL, .tv_nsec = wait % 1000000000LL};
        if (ppoll(pfd, BENCH_OL_CONNS, &ts, NULL) <= 0) continue;
        for (int i = 0; i < BENCH_OL_CONNS; i++) {
            if (!(pfd[i].revents & (POLLIN | POLLERR | POLLHUP)) || !c[i].busy) continue;
            ssize_t got = recv(c[i].fd, c[i].buf + c[i].len, sizeof c[i].buf - 1 - c[i].len, 0);
            if (got <= 0) {
                if (got < 0 && errno == EAGAIN) continue;
                r->failed++;
                c[i].busy = false;
                goto out;
            }
            c[i].len += (size_t)got;
            int ok = check(c[i].buf, c[i].len);
            if (ok == 0) continue;
            int64_t done = sg_mono_ns();
            if (ok > 0) r->lat_ns[r->n++] = done - c[i].intended;
            else r->failed++;
            last = done;
            c[i].busy = false;
        }
    }
    r->secs = (double)(last - t0) / 1e9;
out:
    for (int i = 0; i < BENCH_OL_CONNS; i++)
        if (c[i].fd > 0) close(c[i].fd);
    free(c);
    qsort(r->lat_ns, r->n, sizeof(int64_t), bench_cmp_i64);
}

#endif
