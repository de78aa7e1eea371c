/* bench_gossip_mesh.c: `make bench` figures of the cluster transport, measured between real
 * processes on loopback: delta latency in a 16-node cluster (write on one node -> merged on all
 * others, p50/p99) and how many deltas per second one node publishes and another merges.
 * The nodes are bench_meshnode processes (same directory as this program). Bounded: about 25 s. */
#include <errno.h>
#include <inttypes.h>
#include <libgen.h>
#include <signal.h>
#include <spawn.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "agent/util.h"
#include "tests/support/portblock.h"

#define NODES 16
#define LAT_RATE 20        /* deltas per second per node */
#define LAT_COUNT 100      /* per node: 1600 deltas in all, each to be merged on 15 nodes */
#define FLOOD 200000

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

/* Starts n nodes with the given extra arguments for node 0 and for the others, runs them for
 * duration_ms after a common start time, and waits for them. */
static int run_cluster(int n, int base_port, int duration_ms, const char *const *args0, const char *const *args)
{
    pid_t pids[NODES];
    char idx[16], nodes[16], port[16], start[32], dur[16];
    int64_t start_at = sg_now_ms() + 2500;   /* every SUB connected before the first write */
    snprintf(nodes, sizeof nodes, "%d", n);
    snprintf(port, sizeof port, "%d", base_port);
    snprintf(start, sizeof start, "%" PRId64, start_at);
    snprintf(dur, sizeof dur, "%d", duration_ms + 2500);
    for (int i = 0; i < n; i++) {
        snprintf(idx, sizeof idx, "%d", i);
        char *argv[32] = { g_node, "node", "--dir", g_dir, "--index", idx, "--nodes", nodes, "--base-port", port,
                           "--start-at", start, "--duration", dur };
        int k = 14;
        for (const char *const *a = i == 0 ? args0 : args; *a && k < 31; a++)
            argv[k++] = (char *)*a;
        pids[i] = spawn(argv);
        if (pids[i] < 0) {
            fprintf(stderr, "bench_gossip_mesh: cannot start %s: %s\n", g_node, strerror(errno));
            reap(pids, i, 0);
            return -1;
        }
    }
    reap(pids, n, sg_mono_ms() + duration_ms + 10000);
    return 0;
}

static int cmp_i64(const void *a, const void *b)
{
    int64_t x = *(const int64_t *)a, y = *(const int64_t *)b;
    return (x > y) - (x < y);
}

static int latency(int base_port)
{
    static const char *const args[] = { "--lat", "--rate", "20", "--count", "100", "--sync-ms", "10000", NULL };
    if (run_cluster(NODES, base_port, LAT_COUNT * 1000 / LAT_RATE + 3000, args, args) < 0)
        return -1;
    /* worst[w][s]: latency until the last receiver merged delta s of writer w; seen: receivers so far */
    static int64_t worst[NODES][LAT_COUNT];
    static uint32_t seen[NODES][LAT_COUNT];
    for (int r = 0; r < NODES; r++) {
        char p[128];
        snprintf(p, sizeof p, "%s/node%d.lat", g_dir, r);
        FILE *f = fopen(p, "r");
        if (!f)
            continue;
        int w;
        uint64_t s;
        int64_t us;
        while (fscanf(f, "%d %" SCNu64 " %" SCNd64, &w, &s, &us) == 3) {
            if (w < 0 || w >= NODES || w == r || s >= LAT_COUNT || (seen[w][s] >> r & 1))
                continue;   /* the first merge counts; a later sync bringing it again does not */
            seen[w][s] |= 1u << r;
            if (us > worst[w][s])
                worst[w][s] = us;
        }
        fclose(f);
    }
    int64_t *v = sg_xcalloc(NODES * LAT_COUNT, sizeof *v);
    size_t nv = 0, missing = 0;
    for (int w = 0; w < NODES; w++)
        for (int s = 0; s < LAT_COUNT; s++) {
            if (__builtin_popcount(seen[w][s]) == NODES - 1)
                v[nv++] = worst[w][s];
            else
                missing++;
        }
    if (nv == 0) {
        fprintf(stderr, "bench_gossip_mesh: no delta reached every node\n");
        free(v);
        return -1;
    }
    qsort(v, nv, sizeof *v, cmp_i64);
    printf("bench: mesh16_delta_to_all_p50 %.2f ms\n", v[nv / 2] / 1000.0);
    printf("bench: mesh16_delta_to_all_p99 %.2f ms\n", v[nv * 99 / 100] / 1000.0);
    printf("bench: mesh16_delta_to_all_max %.2f ms\n", v[nv - 1] / 1000.0);
    printf("bench: mesh16_deltas_not_everywhere %zu of %d\n", missing, NODES * LAT_COUNT);
    free(v);
    return 0;
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

static int throughput(int base_port)
{
    static const char *const writer[] = { "--flood", "200000", "--count", "0", "--sync-ms", "10000", NULL };
    static const char *const reader[] = { "--count", "0", "--sync-ms", "10000", NULL };
    if (run_cluster(2, base_port, 8000, writer, reader) < 0)
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
    snprintf(g_dir, sizeof g_dir, "/tmp/sg-bench-mesh.XXXXXX");
    if (!mkdtemp(g_dir))
        return 1;
    char nodes[16];
    snprintf(nodes, sizeof nodes, "%d", NODES);
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
    /* Both clusters fit in one reserved block: 2 * NODES ports, then 4 more. */
    _Static_assert(2 * NODES + 2 + 4 <= PORTBLOCK_SIZE, "the clusters' ports fit in one block");
    int base = portblock_take();
    if (base < 0)
        fprintf(stderr, "bench_gossip_mesh: no free block of ports\n");
    else if (st == 0 && latency(base) == 0 && throughput(base + 2 * NODES + 2) == 0)
        rc = 0;
    char rm[128];
    snprintf(rm, sizeof rm, "rm -rf %s", g_dir);
    if (system(rm) != 0)
        fprintf(stderr, "bench_gossip_mesh: could not remove %s\n", g_dir);
    return rc;
}
