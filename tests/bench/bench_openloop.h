/* bench_openloop.h: open-loop load for the request/answer benches: requests leave on a fixed
 * schedule (rate per second), whatever the server's pace, over a pool of keep-alive loopback
 * connections, and each latency is measured from the request's INTENDED send time, so a server that
 * stalls is charged for every request that should have left meanwhile (no coordinated omission).
 * A request whose time has come waits for a free connection; that wait counts too. BENCH_OL_THREADS
 * sender threads deal the schedule out round robin, each with BENCH_OL_CONNS connections, ppoll with
 * nanosecond timeouts and a timer slack of 1 ns. */
#ifndef SG_TESTS_BENCH_OPENLOOP_H
#define SG_TESTS_BENCH_OPENLOOP_H

#include "tests/bench/bench_clients.h"

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <stdbool.h>
#include <sys/prctl.h>
#include <time.h>

#define BENCH_OL_THREADS 4   /* sender threads, like Dovecot's auth processes asking in parallel */
#define BENCH_OL_CONNS 4     /* keep-alive connections per thread */

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

/* One sender thread: requests k, k + T, k + 2T, ... of the schedule over its own connections. */
struct bench_ol_job {
    int port;
    const char *req;
    size_t req_len;
    bench_answer_fn check;
    int64_t t0, interval;     /* this thread's first intended send and its spacing */
    size_t total;             /* its requests */
    struct bench_ol_result r;
    int64_t last;             /* its last answer */
};

static inline void *bench_ol_worker(void *arg)
{
    struct bench_ol_job *j = arg;
    struct bench_ol_result *r = &j->r;
    prctl(PR_SET_TIMERSLACK, 1UL, 0, 0, 0);
    struct bench_ol_conn *c = sg_xcalloc(BENCH_OL_CONNS, sizeof *c);
    struct pollfd pfd[BENCH_OL_CONNS];
    r->lat_ns = sg_xcalloc(j->total ? j->total : 1, sizeof(int64_t));
    j->last = j->t0;
    for (int i = 0; i < BENCH_OL_CONNS; i++) c[i].fd = -1;
    for (int i = 0; i < BENCH_OL_CONNS; i++) {
        c[i].fd = bench_connect(j->port);
        if (c[i].fd < 0) { r->failed++; goto out; }
        fcntl(c[i].fd, F_SETFL, fcntl(c[i].fd, F_GETFL) | O_NONBLOCK);
        pfd[i] = (struct pollfd){.fd = c[i].fd, .events = POLLIN};
    }
    int64_t t0 = j->t0, interval = j->interval, deadline = t0 + (int64_t)j->total * interval + 10000000000LL;
    size_t sent = 0, total = j->total;
    while (r->n + r->failed < total && sg_mono_ns() < deadline) {
        int64_t now = sg_mono_ns();
        size_t due = now < t0 ? 0 : (size_t)((now - t0) / interval) + 1;
        if (due > total) due = total;
        for (int i = 0; i < BENCH_OL_CONNS && sent < due; i++) {
            if (c[i].busy) continue;
            c[i].intended = t0 + (int64_t)sent * interval;
            sent++;
            if (send(c[i].fd, j->req, j->req_len, MSG_NOSIGNAL) != (ssize_t)j->req_len) { r->failed++; continue; }
            c[i].busy = true;
            if (now - c[i].intended > interval) r->late_sends++;
            c[i].len = 0;
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
                goto out;
            }
            c[i].len += (size_t)got;
            int ok = j->check(c[i].buf, c[i].len);
            if (ok == 0) continue;
            int64_t done = sg_mono_ns();
            if (ok > 0) r->lat_ns[r->n++] = done - c[i].intended;
            else r->failed++;
            j->last = done;
            c[i].busy = false;
        }
    }
out:
    for (int i = 0; i < BENCH_OL_CONNS; i++)
        if (c[i].fd >= 0) close(c[i].fd);
    free(c);
    return NULL;
}

/* rate requests a second for secs seconds from BENCH_OL_THREADS threads, each with BENCH_OL_CONNS
 * connections, the schedule dealt out round robin; latencies merged and sorted into r. */
static inline void bench_openloop(int port, const char *req, size_t req_len, int rate, int secs, bench_answer_fn check,
                                  struct bench_ol_result *r)
{
    struct bench_ol_job jobs[BENCH_OL_THREADS];
    pthread_t th[BENCH_OL_THREADS];
    int64_t interval = 1000000000LL / rate, t0 = sg_mono_ns() + 50000000LL;
    size_t total = (size_t)rate * (size_t)secs;
    for (int k = 0; k < BENCH_OL_THREADS; k++) {
        jobs[k] = (struct bench_ol_job){.port = port, .req = req, .req_len = req_len, .check = check,
                                        .t0 = t0 + k * interval, .interval = interval * BENCH_OL_THREADS,
                                        .total = total / BENCH_OL_THREADS + ((size_t)k < total % BENCH_OL_THREADS)};
        pthread_create(&th[k], NULL, bench_ol_worker, &jobs[k]);
    }
    memset(r, 0, sizeof *r);
    int64_t last = t0;
    for (int k = 0; k < BENCH_OL_THREADS; k++) {
        pthread_join(th[k], NULL);
        r->n += jobs[k].r.n;
        r->failed += jobs[k].r.failed;
        r->late_sends += jobs[k].r.late_sends;
        if (jobs[k].last > last) last = jobs[k].last;
    }
    r->secs = (double)(last - t0) / 1e9;
    r->lat_ns = sg_xcalloc(r->n ? r->n : 1, sizeof(int64_t));
    size_t off = 0;
    for (int k = 0; k < BENCH_OL_THREADS; k++) {
        memcpy(r->lat_ns + off, jobs[k].r.lat_ns, jobs[k].r.n * sizeof(int64_t));
        off += jobs[k].r.n;
        free(jobs[k].r.lat_ns);
    }
    qsort(r->lat_ns, r->n, sizeof(int64_t), bench_cmp_i64);
}

#endif
