/* bench_scale.c: figures for a farm under a million-address botnet: the event loop's lag with 1M
 * counter keys and 100k bans under 50,000 events/s (snapshots and expiry sliced), RSS of a
 * node's state at 1M and 5M counter keys and at 1M bans, and 1M bans committed to nft. */
#include <czmq.h>
#include <errno.h>
#include <sched.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "agent/util.h"
#include "enforce/enforce.h"
#include "gossip/snapshot.h"
#include "gossip/transport_int.h"
#include "gossip/state.h"

#define TICK_MS 50                /* as the agent's tick */
#define EXPIRE_SLICES 100         /* as the agent */
#define EVENTS_PER_S 50000
#define FLUSH_MS 100              /* deltas sent this often, as the transport batches them */
#define SNAPSHOT_MS 5000          /* six times as often as the agent's default, to see several */
#define SNAPSHOT_STEP_MS 10       /* as the agent: a slice of a running snapshot this often */

static struct gossip_identity *id;
static struct gossip_keyring *kr;

static long rss_kib(void)
{
    FILE *f = fopen("/proc/self/status", "r");
    char line[256];
    long kib = 0;
    while (f && fgets(line, sizeof line, f))
        if (sscanf(line, "VmRSS: %ld", &kib) == 1) break;
    if (f) fclose(f);
    return kib;
}

/* CPU time of this thread, and of this process (user + system) in ms: the machine is shared, so
 * wall-clock figures carry the other jobs too; both are printed. */
static int64_t thread_cpu_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
    return (int64_t)ts.tv_sec * 1000000000LL + ts.tv_nsec;
}

static double process_cpu_ms(void)
{
    struct rusage ru;
    getrusage(RUSAGE_SELF, &ru);
    return (ru.ru_utime.tv_sec + ru.ru_stime.tv_sec) * 1e3 + (ru.ru_utime.tv_usec + ru.ru_stime.tv_usec) / 1e3;
}

static void addr_key(char *buf, size_t n, unsigned i)
{
    snprintf(buf, n, "auth-ip|ip:10.%u.%u.%u", (i >> 16) & 255, (i >> 8) & 255, i & 255);
}

static struct gossip_state *new_state(size_t max_keys, size_t max_bans)
{
    struct gossip_state_config cfg;
    gossip_state_config_default(&cfg);
    cfg.max_keys = max_keys;
    cfg.limits.author_max_records = max_bans + 1;
    cfg.limits.author_max_span_per_hour = (uint64_t)max_bans + 1;
    return gossip_state_new(&cfg, id, kr, 1);
}

static void add_keys(struct gossip_state *st, unsigned n, int64_t now)
{
    char key[64];
    struct gossip_writer w;
    gossip_writer_init(&w);
    for (unsigned i = 0; i < n; i++) {
        addr_key(key, sizeof key, i);
        gossip_state_counter_add(st, key, 1, now);
        if ((i & 65535) == 65535)
            while (gossip_state_take_delta(st, &w, GOSSIP_WIRE_MAX_BODY)) gossip_writer_reset(&w);
    }
    while (gossip_state_take_delta(st, &w, GOSSIP_WIRE_MAX_BODY)) gossip_writer_reset(&w);
    gossip_writer_fini(&w);
}

static void add_bans(struct gossip_state *st, unsigned n, int64_t now)
{
    char key[64];
    struct gossip_writer w;
    gossip_writer_init(&w);
    for (unsigned i = 0; i < n; i++) {
        snprintf(key, sizeof key, "ip:10.%u.%u.%u", 128 + ((i >> 16) & 127), (i >> 8) & 255, i & 255);
        struct gossip_ban_spec sp = {.key = key, .action = GOSSIP_BAN_ACTION_BAN, .kind = GOSSIP_BAN_KIND_BLOCK,
                                     .expires_at = now + 3600000, .level = 1, .reason = "bench", .scenario = "auth-ip"};
        gossip_state_ban_put(st, &sp, now, NULL);
        if ((i & 65535) == 65535)
            while (gossip_state_take_delta(st, &w, GOSSIP_WIRE_MAX_BODY)) gossip_writer_reset(&w);
    }
    while (gossip_state_take_delta(st, &w, GOSSIP_WIRE_MAX_BODY)) gossip_writer_reset(&w);
    gossip_writer_fini(&w);
}

/* ---- RSS: each size in a fresh child, so that one heap does not carry over into the next ---- */

static void rss_child(unsigned keys, unsigned bans)
{
    pid_t pid = fork();
    if (pid == 0) {
        long before = rss_kib();
        struct gossip_state *st = new_state((keys > bans ? keys : bans) + 1, bans);
        int64_t now = sg_now_ms();
        add_keys(st, keys, now);
        add_bans(st, bans, now);
        long after = rss_kib();
        if (bans)
            printf("bench: scale_rss_%uk_bans %.1f MiB (process %.1f MiB; %.0f bytes per ban)\n", bans / 1000,
                   (after - before) / 1024.0, after / 1024.0, (after - before) * 1024.0 / bans);
        else
            printf("bench: scale_rss_%uM_counter_keys %.1f MiB (process %.1f MiB; %.0f bytes per key; target 5M <= 512 MiB)\n",
                   keys / 1000000, (after - before) / 1024.0, after / 1024.0, (after - before) * 1024.0 / keys);
        fflush(stdout);
        _exit(0);
    }
    int status;
    if (pid > 0) waitpid(pid, &status, 0);
}

/* ---- 1M bans into nft, in a private network namespace (a child, so nothing else moves) ---- */

static void kernel_child(unsigned n)
{
    pid_t pid = fork();
    if (pid == 0) {
        if (unshare(CLONE_NEWNET) < 0) {
            printf("note: scale_nft skipped: unshare: %s (needs root)\n", strerror(errno));
            _exit(0);
        }
        struct enforce_config cfg = {.backend = ENFORCE_BACKEND_NFT};
        struct enforce *e = enforce_new(&cfg);
        if (!e || enforce_setup(e) < 0) _exit(1);
        int64_t t0 = sg_mono_ns();
        double c0 = process_cpu_ms();
        struct rusage u0, u1;
        getrusage(RUSAGE_SELF, &u0);
        for (unsigned i = 0; i < n; i++) {
            char a[32];
            snprintf(a, sizeof a, "10.%u.%u.%u", (i >> 16) & 255, (i >> 8) & 255, i & 255);
            enforce_ban_text(e, a, 3600);
        }
        int rc = enforce_commit(e);
        double ms = (double)(sg_mono_ns() - t0) / 1e6;
        struct enforce_kernel k;
        if (rc < 0 || enforce_get_kernel(e, &k) < 0 || k.set4 != n) {
            fprintf(stderr, "bench_scale: nft holds %zu of %u bans\n", k.set4, n);
            _exit(1);
        }
        getrusage(RUSAGE_SELF, &u1);
        /* System time is the kernel's work on our batch (inserting, committing, copying it). */
        double sys_ms = (u1.ru_stime.tv_sec - u0.ru_stime.tv_sec) * 1e3 + (u1.ru_stime.tv_usec - u0.ru_stime.tv_usec) / 1e3;
        printf("bench: scale_nft_%uk_bans_applied_ms %.0f ms (wall, queue to ACK, one transaction; %.0f ms CPU, %.0f of it "
               "the kernel's; target <= 5000)\n", n / 1000, ms, process_cpu_ms() - c0, sys_ms);
        fflush(stdout);
        enforce_destroy(&e);
        _exit(0);
    }
    int status = 1;
    if (pid > 0) waitpid(pid, &status, 0);
    if (!WIFEXITED(status) || WEXITSTATUS(status)) fprintf(stderr, "bench_scale: the nft part failed\n");
}

/* ---- loop lag ---------------------------------------------------------------------------- */

struct run {
    struct gossip_state *st;
    struct enforce *enf;
    struct gossip_snapshot *snap;
    const char *snap_path;
    struct gossip_writer w;
    uint64_t rng, events, frames, seq;
    int64_t t_start, t_events, tick_expected;
    double *lag;
    size_t nlag, caplag;
    double *busy;              /* CPU ms of each callback: what the loop itself holds, whatever the machine does */
    double kind_max[4];        /* the longest of each: tick, events, flush, snapshot slice */
    double *kbusy[4];          /* the same samples by kind */
    size_t nbusy, capbusy, nkbusy[4];
    int64_t end_ms;
};

static void busy(struct run *r, int kind, int64_t c0)
{
    double ms = (double)(thread_cpu_ns() - c0) / 1e6;
    if (ms > r->kind_max[kind]) r->kind_max[kind] = ms;
    if (r->nbusy < r->capbusy) r->busy[r->nbusy++] = ms;
    if (r->nkbusy[kind] < r->capbusy) r->kbusy[kind][r->nkbusy[kind]++] = ms;
}

static int on_tick(zloop_t *loop, int timer_id, void *arg)
{
    (void)loop; (void)timer_id;
    struct run *r = arg;
    int64_t now = sg_mono_ns();
    if (r->tick_expected && r->nlag < r->caplag) {
        double lag = (double)(now - r->tick_expected) / 1e6;
        r->lag[r->nlag++] = lag > 0 ? lag : 0;
    }
    r->tick_expected = now + (int64_t)TICK_MS * 1000000;
    int64_t c0 = thread_cpu_ns();
    enforce_tick(r->enf);
    gossip_state_expire_slice(r->st, sg_now_ms(), EXPIRE_SLICES);
    busy(r, 0, c0);
    return sg_mono_ms() >= r->end_ms ? -1 : 0;
}

/* Events at the wall rate: as many as 50,000/s owe since the start, on 1M addresses. */
static int on_events(zloop_t *loop, int timer_id, void *arg)
{
    (void)loop; (void)timer_id;
    struct run *r = arg;
    int64_t due = (sg_mono_ms() - r->t_start) * EVENTS_PER_S / 1000, c0 = thread_cpu_ns();
    char key[64];
    int64_t now = sg_now_ms();
    /* At most 1,000 per call (twice the steady rate), as a follower reads a bounded chunk per
     * wakeup: after a stall the backlog is worked off over the next calls, not in one. */
    if (due > (int64_t)r->events + 1000) due = (int64_t)r->events + 1000;
    for (; (int64_t)r->events < due; r->events++) {
        r->rng = r->rng * 6364136223846793005ULL + 1442695040888963407ULL;
        addr_key(key, sizeof key, (unsigned)(r->rng >> 33) % 1000000);
        gossip_state_counter_add(r->st, key, 1, now);
    }
    busy(r, 1, c0);
    return 0;
}

/* The transport's share of the loop: deltas packed and signed into frames, as its flush does
 * (gossip/transport.c: frames of the default 64 KiB, at most TP_FLUSH_FRAMES_PER_TICK a call, the
 * rest left for the next call). */
static int on_flush(zloop_t *loop, int timer_id, void *arg)
{
    (void)loop; (void)timer_id;
    struct run *r = arg;
    int64_t c0 = thread_cpu_ns();
    struct gossip_transport_config tc;
    gossip_transport_config_default(&tc);
    for (int frames = 0; frames < TP_FLUSH_FRAMES_PER_TICK; frames++) {
        gossip_writer_reset(&r->w);
        if (!gossip_state_take_delta(r->st, &r->w, tc.max_frame_bytes - GOSSIP_WIRE_OVERHEAD)) break;
        struct gossip_frame_header h = {.type = GOSSIP_FRAME_DELTA, .origin = id->origin, .epoch = 1, .seq = ++r->seq};
        uint8_t *f;
        size_t flen;
        gossip_wire_frame_encode(&h, (const uint8_t *)r->w.buf.data, r->w.buf.size, id, &f, &flen);
        free(f);
        r->frames++;
    }
    busy(r, 2, c0);
    return 0;
}

static int on_snapshot(zloop_t *loop, int timer_id, void *arg)
{
    (void)loop; (void)timer_id;
    struct run *r = arg;
    gossip_snapshot_start(r->snap, r->snap_path);
    return 0;
}

/* A slice of the running snapshot, as the agent's step timer. */
static int on_snapshot_step(zloop_t *loop, int timer_id, void *arg)
{
    (void)loop; (void)timer_id;
    struct run *r = arg;
    if (!gossip_snapshot_running(r->snap)) return 0;
    int64_t c0 = thread_cpu_ns();
    gossip_snapshot_step(r->snap, r->st);
    busy(r, 3, c0);
    return 0;
}

static int dbl_cmp(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return x < y ? -1 : x > y;
}

static int loop_lag(unsigned keys, unsigned bans, int seconds)
{
    struct run r = {.rng = 42};
    r.snap = gossip_snapshot_new(0);
    int64_t now = sg_now_ms();
    r.st = new_state(keys + keys / 4, bans);
    add_keys(r.st, keys, now);
    add_bans(r.st, bans, now);
    struct enforce_config ec = {.backend = ENFORCE_BACKEND_DRYRUN};
    r.enf = enforce_new(&ec);
    enforce_setup(r.enf);
    struct enforce_ban *w = sg_xcalloc(bans, sizeof *w);
    for (unsigned i = 0; i < bans; i++) {
        char a[32];
        snprintf(a, sizeof a, "10.%u.%u.%u", 128 + ((i >> 16) & 127), (i >> 8) & 255, i & 255);
        enforce_prefix_parse(a, &w[i].prefix);
        w[i].timeout_s = 3600;
    }
    enforce_reconcile(r.enf, w, bans);
    free(w);
    char snap[] = "/tmp/bench_scale.XXXXXX";
    if (!mkdtemp(snap)) return 1;
    char path[64];
    snprintf(path, sizeof path, "%s/state.snap", snap);
    r.snap_path = path;
    /* What one snapshot on the loop used to cost at this size. */
    int64_t t0 = sg_mono_ns();
    gossip_state_save(r.st, path);
    double sync_ms = (double)(sg_mono_ns() - t0) / 1e6;

    gossip_writer_init(&r.w);
    r.caplag = (size_t)seconds * 1000 / TICK_MS + 16;
    r.lag = sg_xcalloc(r.caplag, sizeof *r.lag);
    r.capbusy = (size_t)seconds * 200 + 64;
    r.busy = sg_xcalloc(r.capbusy, sizeof *r.busy);
    for (int k = 0; k < 4; k++) r.kbusy[k] = sg_xcalloc(r.capbusy, sizeof *r.kbusy[k]);
    zloop_t *loop = zloop_new();
    zloop_timer(loop, TICK_MS, 0, on_tick, &r);
    zloop_timer(loop, 10, 0, on_events, &r);
    zloop_timer(loop, FLUSH_MS, 0, on_flush, &r);
    zloop_timer(loop, SNAPSHOT_MS, 0, on_snapshot, &r);
    zloop_timer(loop, SNAPSHOT_STEP_MS, 0, on_snapshot_step, &r);
    r.t_start = sg_mono_ms();
    r.end_ms = r.t_start + (int64_t)seconds * 1000;
    zloop_start(loop);
    double secs = (double)(sg_mono_ms() - r.t_start) / 1000;
    struct gossip_snapshot_stats bs;
    gossip_snapshot_get_stats(r.snap, &bs);
    qsort(r.lag, r.nlag, sizeof *r.lag, dbl_cmp);
    double p99 = r.nlag ? r.lag[(r.nlag * 99) / 100] : 0, max = r.nlag ? r.lag[r.nlag - 1] : 0;
    qsort(r.busy, r.nbusy, sizeof *r.busy, dbl_cmp);
    double bp99 = r.nbusy ? r.busy[(r.nbusy * 99) / 100] : 0, bmax = r.nbusy ? r.busy[r.nbusy - 1] : 0;
    double load[3] = {0, 0, 0};
    if (getloadavg(load, 3) < 1) load[0] = -1;
    printf("bench: scale_loop_lag_p99_ms %.2f ms (1M counter keys, 100k bans, %.0f events/s, %llu snapshots written in slices; load %.1f; target < 10)\n",
           p99, r.events / secs, (unsigned long long)bs.saved, load[0]);
    printf("bench: scale_loop_lag_max_ms %.2f ms (target < 50; %zu ticks of %d ms)\n", max, r.nlag, TICK_MS);
    printf("bench: scale_loop_callback_cpu_p99_ms %.2f ms max %.2f ms (CPU the loop's own callbacks hold it, "
           "free of the machine's other load; %zu callbacks; longest tick %.1f, events %.1f, flush %.1f, snapshot slice %.1f)\n",
           bp99, bmax, r.nbusy, r.kind_max[0], r.kind_max[1], r.kind_max[2], r.kind_max[3]);
    static const char *const kname[4] = {"tick", "events", "flush", "snapshot_slice"};
    for (int k = 0; k < 4; k++) {
        qsort(r.kbusy[k], r.nkbusy[k], sizeof *r.kbusy[k], dbl_cmp);
        size_t n = r.nkbusy[k];
        printf("bench: scale_loop_cpu_%s_p99_ms %.2f ms max %.2f ms (CPU of one callback; %zu calls)\n", kname[k],
               n ? r.kbusy[k][(n * 99) / 100] : 0, n ? r.kbusy[k][n - 1] : 0, n);
    }
    printf("bench: scale_snapshot_slice_max_ms %.2f ms wall (the longest step: a slice of %d keys, or the final fsync and rename; "
           "%.0f ms on the loop when synchronous)\n", bs.max_slice_us / 1000.0, GOSSIP_SNAPSHOT_SLICE_KEYS, sync_ms);
    printf("bench: scale_snapshot_total_ms %lld ms (start to rename, %llu slices every %d ms; %llu saved, %llu skipped)\n",
           (long long)bs.last_save_ms, (unsigned long long)bs.last_slices, SNAPSHOT_STEP_MS,
           (unsigned long long)bs.saved, (unsigned long long)bs.skipped);
    zloop_destroy(&loop);
    gossip_writer_fini(&r.w);
    gossip_snapshot_destroy(&r.snap);
    enforce_destroy(&r.enf);
    gossip_state_destroy(&r.st);
    free(r.lag);
    free(r.busy);
    for (int k = 0; k < 4; k++) free(r.kbusy[k]);
    unlink(path);
    rmdir(snap);
    return bs.failed || !bs.saved ? 1 : 0;
}

int main(int argc, char **argv)
{
    int seconds = argc > 1 ? atoi(argv[1]) : 20;
    sg_log_set_level(SG_LOG_ERR);
    setvbuf(stdout, NULL, _IOLBF, 0);
    zsys_handler_set(NULL);
    uint8_t seed[32];
    memset(seed, 9, sizeof seed);
    id = gossip_identity_from_seed("bench", seed);
    kr = gossip_keyring_new();
    gossip_keyring_add_identity(kr, id);
    /* The children first, while this process's heap is small (they start from a copy of it).
     * "bench_scale SECONDS lag" runs the loop part alone, "bench_scale 0 rss" the RSS part alone. */
    const char *only = argc > 2 ? argv[2] : "";
    if (strcmp(only, "lag")) {
        rss_child(1000000, 0);
        rss_child(5000000, 0);
        rss_child(0, 1000000);
    }
    if (!only[0]) kernel_child(1000000);
    int rc = strcmp(only, "rss") ? loop_lag(1000000, 100000, seconds > 0 ? seconds : 20) : 0;
    gossip_keyring_destroy(&kr);
    gossip_identity_destroy(&id);
    return rc;
}
