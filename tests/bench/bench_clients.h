/* bench_clients.h: closed-loop load for the request/answer benches (bench_policy,
 * bench_authpolicy): one thread per connection (as one Postfix smtpd process holds one policy
 * connection and waits for each answer), each with one request in flight, BENCH_CONNS of them (or
 * as many as asked, up to BENCH_CONNS_MAX) for at most BENCH_PER_CONN requests or BENCH_SECONDS;
 * latencies merged and sorted. */
#ifndef SG_TESTS_BENCH_CLIENTS_H
#define SG_TESTS_BENCH_CLIENTS_H

#include "agent/util.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#define BENCH_CONNS 4
#define BENCH_PER_CONN 50000
#define BENCH_SECONDS 5
#define BENCH_CONNS_MAX 128

/* One request on fd and its whole answer: 0, or -1 (the client stops). */
typedef int (*bench_request_fn)(int fd);

struct bench_client {
    int port;
    int seconds;
    bench_request_fn fn;
    int64_t *lat_ns;
    size_t n, failed;
};

struct bench_result {
    int64_t *lat_ns;     /* sorted, n of them (caller frees) */
    size_t n, failed;
    double secs;
};

static inline int bench_connect(int port)
{
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    if (fd < 0) return -1;
    struct sockaddr_in sa = {.sin_family = AF_INET, .sin_port = htons((uint16_t)port)};
    sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    int one = 1;
    setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
    struct timeval tv = {.tv_sec = 5};
    setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
    if (connect(fd, (struct sockaddr *)&sa, sizeof sa) != 0) { close(fd); return -1; }
    return fd;
}

static inline void *bench_client_main(void *arg)
{
    struct bench_client *c = arg;
    int fd = bench_connect(c->port);
    if (fd < 0) { c->failed = 1; return NULL; }
    int64_t deadline = sg_mono_ms() + c->seconds * 1000;
    for (size_t i = 0; i < BENCH_PER_CONN && sg_mono_ms() < deadline; i++) {
        int64_t t0 = sg_mono_ns();
        if (c->fn(fd) != 0) { c->failed++; break; }
        c->lat_ns[c->n++] = sg_mono_ns() - t0;
    }
    close(fd);
    return NULL;
}

static inline int bench_cmp_i64(const void *a, const void *b)
{
    int64_t x = *(const int64_t *)a, y = *(const int64_t *)b;
    return x < y ? -1 : x > y;
}

/* conns connections (at most BENCH_CONNS_MAX) for at most seconds each. */
static inline void bench_run_clients_n(int port, bench_request_fn fn, int conns, int seconds, struct bench_result *r)
{
    struct bench_client cl[BENCH_CONNS_MAX];
    pthread_t th[BENCH_CONNS_MAX];
    if (conns > BENCH_CONNS_MAX) conns = BENCH_CONNS_MAX;
    int64_t t0 = sg_mono_ns();
    for (int i = 0; i < conns; i++) {
        cl[i] = (struct bench_client){.port = port, .seconds = seconds, .fn = fn,
                                      .lat_ns = sg_xcalloc(BENCH_PER_CONN, sizeof(int64_t))};
        pthread_create(&th[i], NULL, bench_client_main, &cl[i]);
    }
    memset(r, 0, sizeof *r);
    for (int i = 0; i < conns; i++) {
        pthread_join(th[i], NULL);
        r->n += cl[i].n;
        r->failed += cl[i].failed;
    }
    r->secs = (double)(sg_mono_ns() - t0) / 1e9;
    r->lat_ns = sg_xcalloc(r->n ? r->n : 1, sizeof(int64_t));
    size_t k = 0;
    for (int i = 0; i < conns; i++) {
        memcpy(r->lat_ns + k, cl[i].lat_ns, cl[i].n * sizeof(int64_t));
        k += cl[i].n;
        free(cl[i].lat_ns);
    }
    qsort(r->lat_ns, r->n, sizeof(int64_t), bench_cmp_i64);
}

static inline void bench_run_clients(int port, bench_request_fn fn, struct bench_result *r)
{
    bench_run_clients_n(port, fn, BENCH_CONNS, BENCH_SECONDS, r);
}

#endif
