/* bench_authpolicy.c: Dovecot auth-policy requests per second and latency percentiles over
 * loopback: the real HTTP server (libmicrohttpd in a zloop) and request checks (jansson, the key
 * digest), a decision that allows everything. Closed loop: 4 keep-alive connections, one request in
 * flight each, as fast as answers come. Open loop: BENCH_OL_RATE requests a second on a fixed
 * schedule, latency from each request's intended send time (tests/bench/bench_openloop.h); the
 * target is p99 under 1 ms at 10,000 requests a second (printed, not asserted). */
#include "agent/authpolicy.h"
#include "agent/authpolicy_http.h"
#include "agent/util.h"
#include "tests/bench/bench_clients.h"
#include "tests/bench/bench_openloop.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#define BENCH_KEY "bench-key-0123456789abcdef"

static const char body[] =
    "{\"login\":\"alice@example.org\",\"pwhash\":\"8f3a\",\"remote\":\"203.0.113.7\",\"device_id\":\"\","
    "\"protocol\":\"imap\",\"session_id\":\"Xk2abcdEFG\",\"fail_type\":\"\"}";
static char req[1024];
static size_t req_len;

static int allow_all(const struct authpolicy_request *r, const char **msg, void *arg)
{
    (void)r; (void)msg; (void)arg;
    return 0;
}

static int stop_pipe[2] = {-1, -1};

static int on_stop(zloop_t *loop, zmq_pollitem_t *item, void *arg)
{
    (void)loop; (void)item; (void)arg;
    return -1;
}

static void *loop_main(void *arg)
{
    zloop_start(arg);
    return NULL;
}

#define BENCH_OL_RATE 10000
#define BENCH_OL_SECONDS 5

/* One answer in buf (len bytes, room for a NUL after them): 0 incomplete, 1 complete and 200 with
 * status 0, -1 anything else. */
static int check_answer(char *buf, size_t len)
{
    buf[len] = '\0';
    char *end = strstr(buf, "\r\n\r\n");
    if (!end) return 0;
    char *cl = strcasestr(buf, "Content-Length:");
    if (!cl || cl > end) return -1;
    size_t want = (size_t)(end + 4 - buf) + strtoul(cl + 15, NULL, 10);
    if (len < want) return 0;
    return !strncmp(buf, "HTTP/1.1 200", 12) && strstr(end, "\"status\":0") ? 1 : -1;
}

/* Reads one whole answer (headers, then Content-Length bytes); 0 when it is 200 with status 0. */
static int read_answer(int fd)
{
    char buf[4096];
    size_t len = 0;
    for (;;) {
        ssize_t n = recv(fd, buf + len, sizeof buf - 1 - len, 0);
        if (n <= 0) return -1;
        len += (size_t)n;
        int ok = check_answer(buf, len);
        if (ok) return ok > 0 ? 0 : -1;
    }
}

static int one_request(int fd)
{
    return send(fd, req, req_len, MSG_NOSIGNAL) == (ssize_t)req_len ? read_answer(fd) : -1;
}

int main(void)
{
    sg_log_set_level(SG_LOG_WARN);
    req_len = (size_t)snprintf(req, sizeof req,
                               "POST /?command=allow HTTP/1.1\r\nHost: 127.0.0.1\r\nX-API-Key: %s\r\n"
                               "Content-Type: application/json\r\nContent-Length: %zu\r\n\r\n%s",
                               BENCH_KEY, sizeof body - 1, body);
    struct authpolicy_ops ops = {.allow = allow_all};
    struct authpolicy *ap = authpolicy_new(BENCH_KEY, &ops);
    zloop_t *loop = zloop_new();
    struct authpolicy_http *h = ap ? authpolicy_http_new(loop, "127.0.0.1:0", false, ap) : NULL;
    if (!h || pipe(stop_pipe) != 0) {
        fprintf(stderr, "bench_authpolicy: cannot start the server\n");
        return 1;
    }
    zmq_pollitem_t it = {.fd = stop_pipe[0], .events = ZMQ_POLLIN};
    zloop_poller(loop, &it, on_stop, NULL);
    pthread_t lt;
    pthread_create(&lt, NULL, loop_main, loop);
    struct bench_result r;
    bench_run_clients(authpolicy_http_port(h), one_request, &r);
    size_t total = r.n, failed = r.failed;
    int64_t *all = r.lat_ns;
    struct bench_ol_result ol;
    bench_openloop(authpolicy_http_port(h), req, req_len, BENCH_OL_RATE, BENCH_OL_SECONDS, check_answer, &ol);
    if (write(stop_pipe[1], "x", 1) < 0) {}
    pthread_join(lt, NULL);
    struct authpolicy_stats st;
    authpolicy_stats(ap, &st);
    authpolicy_http_destroy(&h);
    authpolicy_destroy(&ap);
    zloop_destroy(&loop);
    if (failed || total == 0 || ol.failed || ol.n == 0 || st.allow != total + ol.n) {
        fprintf(stderr, "bench_authpolicy: %zu + %zu client failures, %zu + %zu answered, %lu allow counted\n", failed,
                ol.failed, total, ol.n, (unsigned long)st.allow);
        free(all);
        free(ol.lat_ns);
        return 1;
    }
    printf("bench: authpolicy_requests_per_sec %.0f req/s (%d keep-alive connections, one request in flight each, %zu requests)\n",
           (double)total / r.secs, BENCH_CONNS, total);
    printf("bench: authpolicy_latency_p50 %.1f us\n", (double)all[total / 2] / 1e3);
    printf("bench: authpolicy_latency_p99 %.1f us\n", (double)all[total * 99 / 100] / 1e3);
    printf("bench: authpolicy_openloop_rate %d req/s intended, %.0f req/s achieved (%zu requests in %.2f s, %d keep-alive "
           "connections, %zu sent over one interval of %d us late)\n",
           BENCH_OL_RATE, (double)ol.n / ol.secs, ol.n, ol.secs, BENCH_OL_THREADS * BENCH_OL_CONNS, ol.late_sends,
           1000000 / BENCH_OL_RATE);
    printf("bench: authpolicy_openloop_p50 %.1f us (from the intended send time)\n", (double)ol.lat_ns[ol.n / 2] / 1e3);
    printf("bench: authpolicy_openloop_p99 %.1f us (target < 1000 us at %d req/s)\n",
           (double)ol.lat_ns[ol.n * 99 / 100] / 1e3, BENCH_OL_RATE);
    printf("bench: authpolicy_openloop_max %.1f us\n", (double)ol.lat_ns[ol.n - 1] / 1e3);
    double load[1];
    if (getloadavg(load, 1) == 1) printf("bench: authpolicy_loadavg %.2f (1 min, while measuring)\n", load[0]);
    free(all);
    free(ol.lat_ns);
    return 0;
}
