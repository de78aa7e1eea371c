/* bench_gossip_mesh.c: `make bench` figures of the cluster transport, measured between real
 * processes on loopback (bench_meshnode, same directory as this program):
 *  - the CPU cost of one frame at each step (sign, verify, decode, merge), in this process, for
 *    frames of 1 to 200 entries: docs/scale.md extrapolates cluster sizes from these;
 *  - delta latency (write on one node -> merged on all others, p50/p99/max), deltas that never
 *    reached every node, bytes per node per second and CPU per node, in clusters of 16 nodes,
 *    of 16 nodes absorbing 50,000 deltas/s cluster-wide, and of 64 nodes;
 *  - how many deltas per second one node publishes and another merges.
 * Bounded: about 70 s on a quiet machine, 6 minutes at most. On 2 cores the 64-node and the loaded runs are CPU-bound: the per-node
 * CPU line says how much of a core one node needed. */
#include <errno.h>
#include <inttypes.h>
#include <libgen.h>
#include <signal.h>
#include <spawn.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "agent/util.h"
#include "gossip/state.h"
#include "gossip/wire.h"
#include "tests/support/portblock.h"

#define MAX_NODES 64
#define FLOOD 200000
#define LOAD_EVENTS 50000  /* cluster-wide deltas per second in the loaded run (issue 19) */

extern char **environ;

static char g_node[4096], g_dir[64];

static pid_t spawn(char *const argv[])
{
    pid_t pid;
    if (posix_spawn(&pid, argv[0], NULL, NULL, argv, environ) != 0)
        return -1;
    return pid;
}

/* Waits for the children until deadline (mono ms), then kills the stragglers. */
static void reap(pid_t *pids, int n, int64_t deadline)
{
    int left = n;
    while (left > 0 && sg_mono_ms() < deadline) {
        for (int i = 0; i < n; i++)
            if (pids[i] > 0 && waitpid(pids[i], NULL, WNOHANG) == pids[i]) {
                pids[i] = 0;
                left--;
            }
        usleep(50000);
    }
    for (int i = 0; i < n; i++)
        if (pids[i] > 0) {
            kill(pids[i], SIGKILL);
            waitpid(pids[i], NULL, 0);
        }
}

/* One cluster run: n nodes, PUB ports from pub_base, ROUTER ports from sync_base (0: interleaved
 * after pub_base). The nodes start writing together, after every SUB had time to connect, and run
 * for duration_ms. With lat_expect, they start on SIGUSR1 once every node has heard all its peers
 * (at most 60 s after spawn), and are stopped (SIGTERM: they write their status and exit) as soon
 * as their status files say that lat_expect timed deltas were merged in all, or drain_ms after
 * duration_ms at the latest. */
struct run {
    int n, pub_base, sync_base, duration_ms;
    const char *const *args0, *const *args;   /* extra arguments for node 0 and the others */
    int64_t lat_expect;
    int drain_ms;
};

static int64_t status_val(int node, const char *key);

/* Waits until the nodes merged every timed delta or the deadline (mono ms) passes. */
static void wait_merged(const struct run *r, int64_t deadline)
{
    while (sg_mono_ms() < deadline) {
        int64_t sum = 0;
        for (int i = 0; i < r->n; i++) {
            int64_t v = status_val(i, "lat_merged");
            sum += v > 0 ? v : 0;
        }
        if (sum >= r->lat_expect)
            return;
        usleep(250000);
    }
}

/* Waits until every node reports that it heard all its peers (every SUB connection up), at most
 * until the deadline (mono ms). Returns the nodes that did. */
static int wait_connected(const struct run *r, int64_t deadline)
{
    int ok = 0;
    while (sg_mono_ms() < deadline) {
        ok = 0;
        for (int i = 0; i < r->n; i++)
            ok += status_val(i, "peers_heard") == r->n - 1;
        if (ok == r->n)
            break;
        usleep(250000);
    }
    return ok;
}

static int run_cluster(const struct run *r, const char *name)
{
    pid_t pids[MAX_NODES];
    char idx[16], nodes[16], port[16], sport[16], start[32], dur[16];
    /* timed runs start on a signal once connected; the others at a time every SUB should be up by */
    int settle = r->lat_expect ? 0 : 2500;
    int connect_max = r->lat_expect ? 60000 : 0;
    int64_t start_at = sg_now_ms() + settle;
    snprintf(nodes, sizeof nodes, "%d", r->n);
    snprintf(port, sizeof port, "%d", r->pub_base);
    snprintf(sport, sizeof sport, "%d", r->sync_base);
    snprintf(start, sizeof start, "%" PRId64, start_at);
    snprintf(dur, sizeof dur, "%d", connect_max + r->duration_ms + r->drain_ms + settle);
    for (int i = 0; i < r->n; i++) {
        char p[128];
        snprintf(p, sizeof p, "%s/node%d.status", g_dir, i);
        unlink(p);   /* the previous run's */
    }
    for (int i = 0; i < r->n; i++) {
        snprintf(idx, sizeof idx, "%d", i);
        char *argv[40] = { g_node, "node", "--dir", g_dir, "--index", idx, "--nodes", nodes, "--base-port", port,
                           "--start-at", start, "--duration", dur };
        int k = 14;
        if (r->sync_base) {
            argv[k++] = "--sync-base-port";
            argv[k++] = sport;
        }
        if (r->lat_expect)
            argv[k++] = "--go-signal";
        for (const char *const *a = i == 0 ? r->args0 : r->args; *a && k < 39; a++)
            argv[k++] = (char *)*a;
        pids[i] = spawn(argv);
        if (pids[i] < 0) {
            fprintf(stderr, "bench_gossip_mesh: cannot start %s: %s\n", g_node, strerror(errno));
            reap(pids, i, 0);
            return -1;
        }
    }
    if (r->lat_expect) {
        int64_t t0 = sg_mono_ms();
        int ok = wait_connected(r, t0 + connect_max);
        printf("bench: %s_connected_ms %" PRId64 " ms (%d of %d nodes heard all %d peers, from spawn)\n", name,
               sg_mono_ms() - t0, ok, r->n, r->n - 1);
        for (int i = 0; i < r->n; i++)
            kill(pids[i], SIGUSR1);
        usleep((useconds_t)r->duration_ms * 1000);
        wait_merged(r, sg_mono_ms() + r->drain_ms);
        for (int i = 0; i < r->n; i++)
            kill(pids[i], SIGTERM);
    }
    reap(pids, r->n, sg_mono_ms() + connect_max + r->duration_ms + r->drain_ms + settle + 15000);
    return 0;
}

static int cmp_i64(const void *a, const void *b)
{
    int64_t x = *(const int64_t *)a, y = *(const int64_t *)b;
    return (x > y) - (x < y);
}

static int64_t status_val(int node, const char *key)
{
    char p[128], line[256];
    snprintf(p, sizeof p, "%s/node%d.status", g_dir, node);
    FILE *f = fopen(p, "r");
    int64_t v = -1;
    size_t kl = strlen(key);
    while (f && fgets(line, sizeof line, f))
        if (strncmp(line, key, kl) == 0 && line[kl] == ' ')
            v = strtoll(line + kl + 1, NULL, 10);
    if (f)
        fclose(f);
    return v;
}

/* Per node per second over the measured window: bytes received and put on the wire (mean and
 * max over the nodes), frames received and verified, CPU (all threads of the node). */
static void traffic(const char *name, int n, const char *ctx)
{
    double in_sum = 0, in_max = 0, out_sum = 0, out_max = 0, fr_sum = 0, cpu_sum = 0, cpu_max = 0;
    int got = 0;
    for (int i = 0; i < n; i++) {
        int64_t ms = status_val(i, "win_ms");
        if (ms <= 0)
            continue;
        double in = status_val(i, "win_bytes_in") * 1000.0 / ms, out = status_val(i, "win_bytes_out") * 1000.0 / ms;
        double fr = status_val(i, "win_frames_in") * 1000.0 / ms, cpu = status_val(i, "win_cpu_us") / 10.0 / ms;
        in_sum += in, out_sum += out, fr_sum += fr, cpu_sum += cpu;
        in_max = in > in_max ? in : in_max;
        out_max = out > out_max ? out : out_max;
        cpu_max = cpu > cpu_max ? cpu : cpu_max;
        got++;
    }
    if (!got) {
        fprintf(stderr, "bench_gossip_mesh: %s: no node reported its window\n", name);
        return;
    }
    printf("bench: %s_bytes_received_per_node %.0f B/s (mean; max %.0f; %s)\n", name, in_sum / got, in_max, ctx);
    printf("bench: %s_bytes_sent_per_node %.0f B/s (mean; max %.0f; on the wire: a published frame once per "
           "subscriber)\n", name, out_sum / got, out_max);
    printf("bench: %s_frames_verified_per_node %.0f frames/s (mean)\n", name, fr_sum / got);
    printf("bench: %s_cpu_per_node %.1f %% of a core (mean; max %.1f; %d nodes on %ld cpus)\n", name, cpu_sum / got,
           cpu_max, n, sysconf(_SC_NPROCESSORS_ONLN));
}

/* Delta-to-all latency: every node writes `count` timestamped deltas at `rate` per second (plus
 * bg deltas per second of background load); for each delta, the time until the last of the n-1
 * others merged it. Prints p50/p99/max, the deltas that did not reach every node, and traffic. */
static int latency(const char *name, int n, int pub_base, int sync_base, int rate, int count, int bg)
{
    char rs[16], cs[16], bs[16], ws[16];
    int window = count * 1000 / rate;
    snprintf(rs, sizeof rs, "%d", rate);
    snprintf(cs, sizeof cs, "%d", count);
    snprintf(bs, sizeof bs, "%d", bg);
    snprintf(ws, sizeof ws, "%d", window);
    const char *const args[] = { "--lat", "--rate", rs, "--count", cs, "--sync-ms", "10000", "--bg-rate", bs,
                                 "--window-ms", ws, NULL };
    struct run r = { .n = n, .pub_base = pub_base, .sync_base = sync_base, .duration_ms = window + 1000,
                     .args0 = args, .args = args, .lat_expect = (int64_t)n * (n - 1) * count, .drain_ms = 30000 };
    if (run_cluster(&r, name) < 0)
        return -1;
    /* worst[w * count + s]: latency until the last receiver merged delta s of writer w; seen: bitmask
     * of the receivers so far */
    int64_t *worst = sg_xcalloc((size_t)n * (size_t)count, sizeof *worst);
    uint64_t *seen = sg_xcalloc((size_t)n * (size_t)count, sizeof *seen);
    for (int rcv = 0; rcv < n; rcv++) {
        char p[128];
        snprintf(p, sizeof p, "%s/node%d.lat", g_dir, rcv);
        FILE *f = fopen(p, "r");
        if (!f)
            continue;
        int w;
        uint64_t s;
        int64_t us;
        while (fscanf(f, "%d %" SCNu64 " %" SCNd64, &w, &s, &us) == 3) {
            if (w < 0 || w >= n || w == rcv || s >= (uint64_t)count)
                continue;
            size_t k = (size_t)w * (size_t)count + s;
            if (seen[k] >> rcv & 1)
                continue;   /* the first merge counts; a later sync bringing it again does not */
            seen[k] |= 1ull << rcv;
            if (us > worst[k])
                worst[k] = us;
        }
        fclose(f);
        unlink(p);
    }
    int64_t *v = sg_xcalloc((size_t)n * (size_t)count, sizeof *v);
    size_t nv = 0, missing = 0;
    for (size_t k = 0; k < (size_t)n * (size_t)count; k++) {
        if (__builtin_popcountll(seen[k]) == n - 1)
            v[nv++] = worst[k];
        else
            missing++;
    }
    char ctx[160];
    snprintf(ctx, sizeof ctx, "%d nodes, %d timed deltas/s%s%.0f background deltas/s cluster-wide", n, n * rate,
             bg ? " and " : ", ", (double)n * bg);
    if (nv == 0) {
        fprintf(stderr, "bench_gossip_mesh: %s: no delta reached every node\n", name);
        free(v), free(worst), free(seen);
        return -1;
    }
    qsort(v, nv, sizeof *v, cmp_i64);
    printf("bench: %s_delta_to_all_p50 %.2f ms (%s)\n", name, v[nv / 2] / 1000.0, ctx);
    printf("bench: %s_delta_to_all_p99 %.2f ms (target < 100)\n", name, v[nv * 99 / 100] / 1000.0);
    printf("bench: %s_delta_to_all_max %.2f ms\n", name, v[nv - 1] / 1000.0);
    printf("bench: %s_deltas_not_everywhere %zu of %d (target 0; not merged by every node within 30 s of the "
           "last write)\n", name, missing, n * count);
    if (bg) {
        int64_t bw = 0;
        for (int i = 0; i < n; i++)
            bw += status_val(i, "bg_written") > 0 ? status_val(i, "bg_written") : 0;
        printf("bench: %s_background_written %.0f deltas/s cluster-wide (offered %d)\n", name,
               bw * 1000.0 / window, n * bg);
    }
    traffic(name, n, ctx);
    free(v), free(worst), free(seen);
    return 0;
}

static int throughput(int base_port)
{
    static const char *const writer[] = { "--flood", "200000", "--count", "0", "--sync-ms", "10000", NULL };
    static const char *const reader[] = { "--count", "0", "--sync-ms", "10000", NULL };
    struct run r = { .n = 2, .pub_base = base_port, .duration_ms = 8000, .args0 = writer, .args = reader };
    if (run_cluster(&r, "mesh_flood") < 0)
        return -1;
    int64_t seen = status_val(1, "flood_seen"), first = status_val(1, "flood_first_us");
    int64_t last = status_val(1, "flood_last_us"), start = status_val(0, "flood_start_us");
    if (seen != FLOOD || last <= first || start <= 0) {
        fprintf(stderr, "bench_gossip_mesh: the reader merged %" PRId64 " of %d flood deltas\n", seen, FLOOD);
        return -1;
    }
    printf("bench: mesh_publish_to_merge_rate %.0f deltas/s\n", FLOOD / ((last - start) / 1e6));
    printf("bench: mesh_merge_rate %.0f deltas/s\n", FLOOD / ((last - first) / 1e6));
    return 0;
}

/* ---- the CPU cost of one frame at each step, in this process ---- */

static int64_t cpu_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &ts);
    return (int64_t)ts.tv_sec * 1000000000LL + ts.tv_nsec;
}

#define COST_FRAMES 400

/* Frames of `entries` counter deltas on address keys, as a node's flush makes them (take_delta), each
 * signed, then verified, decoded and merged by a second node. Prints microseconds of CPU per frame. */
static int frame_costs(size_t entries)
{
    uint8_t seed[32];
    memset(seed, 1, sizeof seed);
    struct gossip_identity *ida = gossip_identity_from_seed("a", seed);
    memset(seed, 2, sizeof seed);
    struct gossip_identity *idb = gossip_identity_from_seed("b", seed);
    struct gossip_keyring *kr = gossip_keyring_new();
    gossip_keyring_add_identity(kr, ida);
    gossip_keyring_add_identity(kr, idb);
    struct gossip_state *a = gossip_state_new(NULL, ida, kr, 1), *b = gossip_state_new(NULL, idb, kr, 1);
    struct gossip_writer w;
    gossip_writer_init(&w);
    uint8_t *fr[COST_FRAMES];
    size_t flen[COST_FRAMES], bytes = 0;
    struct gossip_body *bodies[COST_FRAMES] = { 0 };
    int64_t now = sg_now_ms(), t_sign = 0, t_verify = 0, t_decode = 0, t_merge = 0;
    char key[64];
    int rc = -1;
    unsigned k = 0;
    for (int i = 0; i < COST_FRAMES; i++) {
        for (size_t e = 0; e < entries; e++, k++) {
            snprintf(key, sizeof key, "auth-ip|ip:10.%u.%u.%u", (k >> 16) & 255, (k >> 8) & 255, k & 255);
            gossip_state_counter_add(a, key, 1, now);
        }
        gossip_writer_reset(&w);
        gossip_state_take_delta(a, &w, GOSSIP_WIRE_MAX_BODY);
        struct gossip_frame_header h = { .type = GOSSIP_FRAME_DELTA, .origin = ida->origin, .epoch = 1,
                                         .seq = (uint64_t)i + 1, .hlc = (uint64_t)now << 16 };
        int64_t t0 = cpu_ns();
        gossip_wire_frame_encode(&h, (const uint8_t *)w.buf.data, w.buf.size, ida, &fr[i], &flen[i]);
        t_sign += cpu_ns() - t0;
        bytes += flen[i];
    }
    const uint8_t *body[COST_FRAMES];
    size_t blen[COST_FRAMES];
    int64_t t0 = cpu_ns();
    for (int i = 0; i < COST_FRAMES; i++) {
        struct gossip_frame_header h;
        if (gossip_wire_frame_verify(fr[i], flen[i], kr, &h, &body[i], &blen[i]) != GOSSIP_WIRE_OK)
            goto out;
    }
    t_verify = cpu_ns() - t0;
    t0 = cpu_ns();
    for (int i = 0; i < COST_FRAMES; i++)
        if (gossip_body_decode(body[i], blen[i], 0, &bodies[i]) != GOSSIP_WIRE_OK)
            goto out;
    t_decode = cpu_ns() - t0;
    t0 = cpu_ns();
    for (int i = 0; i < COST_FRAMES; i++) {
        struct gossip_merge_result res;
        gossip_state_merge(b, bodies[i], ida->origin, GOSSIP_MERGE_SENDER_SLOTS_ONLY, now, &res);
    }
    t_merge = cpu_ns() - t0;
    printf("bench: mesh_frame_cpu_%zu_entries sign %.1f verify %.1f decode %.1f merge %.1f us/frame "
           "(%zu bytes/frame)\n", entries, t_sign / 1e3 / COST_FRAMES, t_verify / 1e3 / COST_FRAMES,
           t_decode / 1e3 / COST_FRAMES, t_merge / 1e3 / COST_FRAMES, bytes / COST_FRAMES);
    rc = 0;
out:
    for (int i = 0; i < COST_FRAMES; i++) {
        free(fr[i]);
        gossip_body_destroy(&bodies[i]);
    }
    gossip_writer_fini(&w);
    gossip_state_destroy(&a);
    gossip_state_destroy(&b);
    gossip_keyring_destroy(&kr);
    gossip_identity_destroy(&ida);
    gossip_identity_destroy(&idb);
    return rc;
}

int main(int argc, char **argv)
{
    (void)argc;
    char self[4096];
    ssize_t n = readlink("/proc/self/exe", self, sizeof self - 1);
    if (n < 0)
        return 1;
    self[n] = 0;
    snprintf(g_node, sizeof g_node, "%s/bench_meshnode", dirname(self));
    if (access(g_node, X_OK) != 0) {
        fprintf(stderr, "%s: %s not built\n", argv[0], g_node);
        return 1;
    }
    if (sodium_init() < 0)
        return 1;
    snprintf(g_dir, sizeof g_dir, "/tmp/sg-bench-mesh.XXXXXX");
    if (!mkdtemp(g_dir))
        return 1;
    char nodes[16];
    snprintf(nodes, sizeof nodes, "%d", MAX_NODES);
    char *kg[] = { g_node, "keygen", g_dir, nodes, NULL };
    pid_t kp = spawn(kg);
    int st = 1;
    if (kp > 0)
        waitpid(kp, &st, 0);
    /* the figures move with whatever else the machine runs: say how busy it was */
    double load = -1;
    FILE *la = fopen("/proc/loadavg", "r");
    if (la) {
        if (fscanf(la, "%lf", &load) != 1)
            load = -1;
        fclose(la);
    }
    printf("bench: mesh_host_loadavg_1m %.2f load cpus=%ld\n", load, sysconf(_SC_NPROCESSORS_ONLN));
    int rc = 1;
    /* Four blocks: the 16-node run and the throughput pair; the loaded 16-node run; 64 PUB and 64
     * ROUTER ports for the 64-node run. */
    _Static_assert(2 * 16 + 2 + 4 <= PORTBLOCK_SIZE && MAX_NODES <= PORTBLOCK_SIZE, "the ports fit the blocks");
    int b[4];
    for (int i = 0; i < 4; i++)
        b[i] = portblock_take();
    if (b[0] < 0 || b[1] < 0 || b[2] < 0 || b[3] < 0)
        fprintf(stderr, "bench_gossip_mesh: no free block of ports\n");
    else if (st == 0) {
        /* every run, even after one failed: each prints its own lines */
        rc = frame_costs(1) | frame_costs(4) | frame_costs(32) | frame_costs(200);
        rc |= latency("mesh16", 16, b[0], 0, 20, 100, 0);
        rc |= latency("mesh16_50k", 16, b[1], 0, 20, 100, LOAD_EVENTS / 16);
        rc |= latency("mesh64", 64, b[2], b[3], 2, 16, 0);
        rc |= throughput(b[0] + 2 * 16 + 2);
        rc = rc ? 1 : 0;
    }
    char rm[128];
    snprintf(rm, sizeof rm, "rm -rf %s", g_dir);
    if (system(rm) != 0)
        fprintf(stderr, "bench_gossip_mesh: could not remove %s\n", g_dir);
    return rc;
}
