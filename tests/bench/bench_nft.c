/* bench_nft.c: `make bench` figures for the nft backend (100,000 bans in one transaction vs one
 * `nft` process per ban, as fail2ban and sshguard do), and a small CLI over the enforce API that
 * the integration tests run inside their network namespaces (ban/unban/reconcile/remove/status). */
#include "enforce/enforce.h"
#include "enforce/enforce_nft.h"   /* the backend's lookup, for has */

#include "agent/util.h"

#include <arpa/inet.h>
#include <errno.h>
#include <sched.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#define BENCH_BANS 100000
#define PEER_BANS 1000u

static void usage(void)
{
    fprintf(stderr,
            "usage: bench_nft [OPTIONS] [COMMAND ARGS...]\n"
            "  (no command)              run the benchmark in a private network namespace\n"
            "  ban ADDR[/LEN] SECONDS... queue bans and commit them in one transaction\n"
            "  unban ADDR[/LEN]...       queue unbans and commit\n"
            "  reconcile [ADDR=SECONDS]...  make the sets equal to this list (ADDR+N: N addresses)\n"
            "  reconcile-start [ADDR=SECONDS]...  the same, run by the ticks that follow (script)\n"
            "  remove                    delete the table\n"
            "  status                    print kernel set sizes and drop counters\n"
            "  has ADDR...               look each address up in the kernel sets (no dump);\n"
            "                            exit 4 when one is not held\n"
            "  script                    commands from stdin in one process (ban/unban queue,\n"
            "                            commit, reconcile, status, stats, sh CMD, sleep S,\n"
            "                            tick, ticks-until STAGE|done)\n"
            "options: --table NAME --reject --dry-run --ports P,P,... --allow CIDR --node ADDR\n"
            "         --min4 N --min6 N --bans N (benchmark size)\n");
}

static void print_stats(const struct enforce *e)
{
    struct enforce_stats s;
    enforce_get_stats(e, &s);
    printf("stats: applied=%llu removed=%llu refused=%llu covered=%llu failed=%llu bad=%llu "
           "reconciled_added=%llu reconciled_removed=%llu reconciled_retimed=%llu transactions=%llu retries=%llu "
           "reconcile_slices=%llu\n",
           (unsigned long long)s.applied, (unsigned long long)s.removed, (unsigned long long)s.refused_by_guard,
           (unsigned long long)s.covered, (unsigned long long)s.failed, (unsigned long long)s.bad_input,
           (unsigned long long)s.reconciled_added, (unsigned long long)s.reconciled_removed,
           (unsigned long long)s.reconciled_retimed, (unsigned long long)s.transactions,
           (unsigned long long)s.retries, (unsigned long long)s.reconcile_slices);
}

/* 198.18.0.0/15 is the benchmarking range (RFC 2544): 131,072 addresses, never real hosts. */
static void bench_addr(uint32_t i, struct enforce_prefix *p)
{
    memset(p, 0, sizeof *p);
    p->family = AF_INET;
    p->len = 32;
    uint32_t a = htonl((198u << 24 | 18u << 16) + i);
    memcpy(p->addr, &a, 4);
}

/* One `nft add element` process per ban, the way fail2ban's and sshguard's nftables actions
 * work; returns the elapsed ns for n bans, or -1. */
static int64_t peer_per_process(uint32_t first, uint32_t n)
{
    if (system("nft add table inet bench_peer && nft add set inet bench_peer ban4 "
               "'{ type ipv4_addr; flags interval, timeout; }'") != 0)
        return -1;
    int64_t t0 = sg_mono_ns();
    for (uint32_t i = 0; i < n; i++) {
        struct enforce_prefix p;
        char a[ENFORCE_PREFIX_STRLEN], el[96];
        bench_addr(first + i, &p);
        snprintf(el, sizeof el, "{ %s timeout 3600s }", enforce_prefix_format(&p, a, sizeof a));
        pid_t pid = fork();
        if (pid < 0) return -1;
        if (pid == 0) {
            execlp("nft", "nft", "add", "element", "inet", "bench_peer", "ban4", el, (char *)NULL);
            _exit(127);
        }
        int st;
        if (waitpid(pid, &st, 0) < 0 || !WIFEXITED(st) || WEXITSTATUS(st) != 0) return -1;
    }
    return sg_mono_ns() - t0;
}

#define TICKS 21

static int64_t thread_cpu_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
    return (int64_t)ts.tv_sec * 1000000000LL + ts.tv_nsec;
}

static int dbl_cmp(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return x < y ? -1 : x > y;
}

/* Median time of TICKS commits of per_tick new bans each (addresses from first on). */
static double bench_ticks(struct enforce *e, uint32_t first, uint32_t per_tick)
{
    double t[TICKS];
    for (int k = 0; k < TICKS; k++) {
        int64_t t0 = sg_mono_ns();
        for (uint32_t i = 0; i < per_tick; i++) {
            struct enforce_prefix p;
            bench_addr(first + (uint32_t)k * per_tick + i, &p);
            enforce_ban(e, &p, 3600);
        }
        enforce_commit(e);
        t[k] = (double)(sg_mono_ns() - t0) / 1e6;
    }
    qsort(t, TICKS, sizeof t[0], dbl_cmp);
    return t[TICKS / 2];
}

static int run_bench(struct enforce_config *cfg, uint32_t nbans)
{
    /* A private network namespace: the host's firewall is never touched, and everything we
     * made disappears with this process. */
    if (unshare(CLONE_NEWNET) < 0) {
        printf("note: bench_nft skipped: unshare(CLONE_NEWNET): %s (needs root)\n", strerror(errno));
        return 0;
    }
    struct enforce *e = enforce_new(cfg);
    if (!e || enforce_setup(e) < 0) {
        printf("note: bench_nft skipped: nftables unavailable\n");
        enforce_destroy(&e);
        return 0;
    }
    struct enforce_prefix p;
    int64_t t0 = sg_mono_ns();
    for (uint32_t i = 0; i < nbans; i++) {
        bench_addr(i, &p);
        enforce_ban(e, &p, 3600);
    }
    int rc = enforce_commit(e);
    int64_t batch_ns = sg_mono_ns() - t0;
    struct enforce_kernel k;
    if (rc < 0 || enforce_get_kernel(e, &k) < 0 || k.set4 != nbans) {
        fprintf(stderr, "bench_nft: commit failed or set holds %zu of %u\n", k.set4, nbans);
        enforce_destroy(&e);
        return 1;
    }
    double batch_ms = (double)batch_ns / 1e6, batch_rate = nbans / ((double)batch_ns / 1e9);

    /* A tick on top of what is held: the latency of one ban, and of 100, from queue to ACK. */
    double tick1 = bench_ticks(e, nbans, 1), tick100 = bench_ticks(e, nbans + 1000, 100);

    /* Reconcile of the same list: a dump of nbans elements and no changes. */
    struct enforce_ban *w = sg_xcalloc(nbans, sizeof *w);
    for (uint32_t i = 0; i < nbans; i++) {
        bench_addr(i, &w[i].prefix);
        w[i].timeout_s = 3600;
    }
    /* As the agent runs it: the call, then one slice per tick (here back to back). Each slice
     * timed, wall and this thread's CPU (the machine may be shared). */
    t0 = sg_mono_ns();
    int64_t c0 = thread_cpu_ns(), s0 = t0, sc0 = c0;
    rc = enforce_reconcile_start(e, w, nbans);
    /* [0]: every slice; [1]: those that sent no transaction (a slice that applies part of the
     * plan costs the kernel's commit of an interval set, as any tick's commit does). */
    double slice_max[2] = {0, 0}, slice_cpu_max[2] = {0, 0};
    unsigned slices = 0;
    struct enforce_stats st;
    enforce_get_stats(e, &st);
    uint64_t tx0 = st.transactions;
    for (;;) {
        int64_t now = sg_mono_ns(), cnow = thread_cpu_ns();
        double ms = (double)(now - s0) / 1e6, cms = (double)(cnow - sc0) / 1e6;
        enforce_get_stats(e, &st);
        for (int x = 0; x < 2; x++) {
            if (x && st.transactions != tx0) continue;
            slice_max[x] = ms > slice_max[x] ? ms : slice_max[x];
            slice_cpu_max[x] = cms > slice_cpu_max[x] ? cms : slice_cpu_max[x];
        }
        tx0 = st.transactions;
        slices++;
        if (rc < 0 || !enforce_reconciling(e)) break;
        s0 = now;
        sc0 = cnow;
        enforce_tick(e);
    }
    double rec_ms = (double)(sg_mono_ns() - t0) / 1e6, rec_cpu_ms = (double)(thread_cpu_ns() - c0) / 1e6;
    free(w);
    /* The reconcile read the sets back from the kernel: nothing missing, nothing extra. */
    enforce_get_stats(e, &st);
    if (rc < 0 || st.reconciled_added || st.reconciled_removed != TICKS * 101) {
        fprintf(stderr, "bench_nft: the kernel does not hold the %u bans (%llu missing, %llu extra)\n", nbans,
                (unsigned long long)st.reconciled_added, (unsigned long long)st.reconciled_removed);
        enforce_destroy(&e);
        return 1;
    }

    /* The drift check on top of the held bans: a tick with nothing queued looks a slice of them
     * up in the kernel (enough that every ban is checked each 30 s). Ticks 50 ms apart, as the
     * agent's. The slice must find nothing missing. */
    double drift[TICKS];
    enforce_tick(e);
    for (int i = 0; i < TICKS; i++) {
        usleep(50000);
        int64_t d0 = sg_mono_ns();
        enforce_tick(e);
        drift[i] = (double)(sg_mono_ns() - d0) / 1e6;
    }
    qsort(drift, TICKS, sizeof drift[0], dbl_cmp);
    enforce_get_stats(e, &st);
    if (st.drift_missing) {
        fprintf(stderr, "bench_nft: the drift check found %llu of the held bans missing\n",
                (unsigned long long)st.drift_missing);
        enforce_destroy(&e);
        return 1;
    }

    /* The peer runs on a clean namespace: nft loads the whole ruleset for each command, so our
     * 100k elements left in place would slow every one of its processes down. */
    enforce_remove_table(e);
    int64_t peer_ns = peer_per_process(nbans, PEER_BANS);
    if (peer_ns < 0) {
        fprintf(stderr, "bench_nft: the per-process peer (nft add element) failed\n");
        enforce_destroy(&e);
        return 1;
    }
    double peer_rate = PEER_BANS / ((double)peer_ns / 1e9);
    double peer_ms_scaled = (double)peer_ns / 1e6 * ((double)nbans / PEER_BANS);
    unsigned kb = nbans / 1000;
    printf("bench: nft_batch_%uk_bans_ms %.1f ms vs=nft-per-process ratio=%.0f\n", kb, batch_ms, peer_ms_scaled / batch_ms);
    printf("bench: nft_batch_bans_per_s %.0f bans/s vs=nft-per-process ratio=%.0f\n", batch_rate, batch_rate / peer_rate);
    printf("bench: nft_per_process_bans_per_s %.0f bans/s\n", peer_rate);
    printf("bench: nft_per_process_%uk_bans_est_ms %.0f ms\n", kb, peer_ms_scaled);
    printf("bench: nft_tick_1_ban_%uk_held_ms %.2f ms\n", kb, tick1);
    printf("bench: nft_tick_100_bans_%uk_held_ms %.2f ms\n", kb, tick100);
    printf("bench: nft_reconcile_%uk_unchanged_ms %.1f ms (wall, %u slices back to back; %.1f ms CPU; "
           "the agent runs a slice every 5 ms: it spans ~%.1f s plus the slices' own time)\n", kb, rec_ms, slices, rec_cpu_ms, slices * 0.005);
    printf("bench: nft_reconcile_%uk_slice_max_ms %.2f ms (wall; %.2f ms CPU incl. the kernel's; target: a few ms; "
           "slices that send no transaction)\n", kb, slice_max[1], slice_cpu_max[1]);
    printf("bench: nft_reconcile_%uk_apply_slice_max_ms %.2f ms (wall; %.2f ms CPU; a slice of at most 2048 "
           "changes: the kernel's commit of an interval set, as for any tick's commit)\n", kb, slice_max[0], slice_cpu_max[0]);
    printf("bench: nft_drift_check_tick_%uk_held_ms %.2f ms\n", kb, drift[TICKS / 2]);
    printf("note: nft per-process peer: %u `nft add element` processes timed, scaled to %u; ticks: median of %d "
           "commits, queue to ACK\n", PEER_BANS, nbans, TICKS);
    enforce_destroy(&e);
    return 0;
}

static int parse_ports(const char *s, struct enforce_config *cfg)
{
    cfg->nports = 0;
    char *dup = sg_xstrdup(s), *save = NULL;
    for (char *t = strtok_r(dup, ",", &save); t; t = strtok_r(NULL, ",", &save)) {
        long v = strtol(t, NULL, 10);
        if (v < 1 || v > 65535 || cfg->nports == ENFORCE_MAX_PORTS) {
            free(dup);
            return -1;
        }
        cfg->ports[cfg->nports++] = (uint16_t)v;
    }
    free(dup);
    return 0;
}

/* "ADDR+COUNT": COUNT consecutive IPv4 addresses from ADDR (large sets for the tests). Returns
 * the count (1 for a plain address or prefix, parsed into *first), or 0 on bad text. */
static uint32_t parse_span(char *text, struct enforce_prefix *first)
{
    char *plus = strchr(text, '+');
    if (plus) *plus = '\0';
    if (enforce_prefix_parse(text, first) < 0) return 0;
    if (!plus) return 1;
    unsigned long n = strtoul(plus + 1, NULL, 10);
    if (first->family != AF_INET || first->len != 32 || n < 1 || n > 2000000) return 0;
    return (uint32_t)n;
}

static void span_at(const struct enforce_prefix *first, uint32_t i, struct enforce_prefix *p)
{
    uint32_t a;
    *p = *first;
    memcpy(&a, first->addr, 4);
    a = htonl(ntohl(a) + i);
    memcpy(p->addr, &a, 4);
}

/* Runs ticks back to back until the reconcile reaches stage (or "done": is over), at most
 * 1,000,000; prints how many and where it stopped. */
static int ticks_until(struct enforce *e, const char *stage)
{
    unsigned long n = 0;
    for (; n < 1000000; n++) {
        const char *st = enforce_reconcile_stage(e);
        if (!st ? !strcmp(stage, "done") : !strcmp(st, stage)) break;
        enforce_tick(e);
    }
    const char *st = enforce_reconcile_stage(e);
    printf("ticks: %lu stage: %s\n", n, st ? st : "done");
    return 0;
}

/* One command over the API. Returns 0, 1 (the API call failed), 2 (usage), 3 (a ban refused or
 * bad input), 4 (has: an address not held). With commit, ban and unban commit at once; in a
 * script they only queue. */
static int run_cmd(struct enforce *e, int argc, char **argv, bool commit)
{
    if (argc < 1) return 2;
    const char *cmd = argv[0];
    int i = 1, rc = 0, refused = 0, absent = 0;
    if (!strcmp(cmd, "ban")) {
        for (; i + 1 < argc; i += 2) {
            struct enforce_prefix first, p;
            uint32_t k = strchr(argv[i], '+') ? parse_span(argv[i], &first) : 0;
            if (!k && enforce_ban_text(e, argv[i], (uint32_t)strtoul(argv[i + 1], NULL, 10)) < 0) refused = 1;
            for (uint32_t j = 0; j < k; j++) {
                span_at(&first, j, &p);
                if (enforce_ban(e, &p, (uint32_t)strtoul(argv[i + 1], NULL, 10)) < 0) refused = 1;
            }
        }
        if (i != argc) return 2;
        if (commit && enforce_commit(e) < 0) rc = 1;
    } else if (!strcmp(cmd, "unban")) {
        for (; i < argc; i++)
            if (enforce_unban_text(e, argv[i]) < 0) refused = 1;
        if (commit && enforce_commit(e) < 0) rc = 1;
    } else if (!strcmp(cmd, "commit")) {
        if (enforce_commit(e) < 0) rc = 1;
    } else if (!strcmp(cmd, "reconcile") || !strcmp(cmd, "reconcile-start")) {
        size_t n = 0, cap = (size_t)argc;
        struct enforce_ban *w = sg_xcalloc(cap, sizeof *w);
        for (; i < argc; i++) {
            char *eq = strchr(argv[i], '=');
            if (eq) *eq = '\0';
            struct enforce_prefix first;
            uint32_t k = eq ? parse_span(argv[i], &first) : 0;
            if (!k) {
                refused = 1;
                continue;
            }
            if (n + k > cap) w = sg_xrealloc(w, (cap = n + k + (size_t)argc) * sizeof *w);
            for (uint32_t j = 0; j < k; j++) {
                span_at(&first, j, &w[n].prefix);
                w[n++].timeout_s = (uint32_t)strtoul(eq + 1, NULL, 10);
            }
        }
        if ((cmd[9] ? enforce_reconcile_start(e, w, n) : enforce_reconcile(e, w, n)) < 0) rc = 1;
        free(w);
    } else if (!strcmp(cmd, "tick")) {
        if (enforce_tick(e) < 0) rc = 1;
    } else if (!strcmp(cmd, "ticks-until")) {
        if (argc != 2) return 2;
        rc = ticks_until(e, argv[1]);
    } else if (!strcmp(cmd, "remove")) {
        if (enforce_remove_table(e) < 0) rc = 1;
    } else if (!strcmp(cmd, "status")) {
        struct enforce_kernel k;
        if (enforce_get_kernel(e, &k) < 0) rc = 1;
        else printf("kernel: table=%s set4=%zu set6=%zu drop4=%llu/%lluB drop6=%llu/%lluB\n",
                    k.table_present ? "yes" : "no", k.set4, k.set6, (unsigned long long)k.drop_packets4,
                    (unsigned long long)k.drop_bytes4, (unsigned long long)k.drop_packets6,
                    (unsigned long long)k.drop_bytes6);
    } else if (!strcmp(cmd, "stats")) {
        print_stats(e);
    } else if (!strcmp(cmd, "has")) {
        /* One GETSETELEM request per address, as the drift check: `nft get element` reads the
         * whole set first, seconds at 100k intervals, and starts again when the ruleset changes. */
        for (; i < argc; i++) {
            struct enforce_nft_probe pr;
            memset(&pr, 0, sizeof pr);
            if (enforce_prefix_parse(argv[i], &pr.p) < 0) return 2;
            if (!e->ops->lookup || e->ops->lookup(e->be, &pr, 1) < 0) return 1;
            printf("%s: %s\n", argv[i], pr.found ? "held" : "absent");
            if (!pr.found) absent = 1;
        }
    } else {
        return 2;
    }
    return rc ? rc : refused ? 3 : absent ? 4 : 0;
}

/* Commands from stdin, one per line, in one process: the agent's view (a mirror kept across
 * ticks). Extra commands: "sh CMD" runs a shell command, "sleep SECONDS". Each line answers
 * "> LINE = RC". Returns 0 when every line ran (the answers carry the results). */
static int run_script(struct enforce *e)
{
    char line[65536];
    while (fgets(line, sizeof line, stdin)) {
        line[strcspn(line, "\n")] = '\0';
        if (!line[0] || line[0] == '#') continue;
        int rc;
        if (!strncmp(line, "sh ", 3)) {
            fflush(stdout);
            rc = system(line + 3);
            rc = rc == -1 ? 1 : WEXITSTATUS(rc);
        } else if (!strncmp(line, "sleep ", 6)) {
            rc = 0;
            usleep((useconds_t)(atof(line + 6) * 1e6));
        } else {
            char copy[sizeof line], *args[4096], *save = NULL;
            int n = 0;
            strcpy(copy, line);
            for (char *t = strtok_r(copy, " ", &save); t && n < 4096; t = strtok_r(NULL, " ", &save)) args[n++] = t;
            rc = n ? run_cmd(e, n, args, false) : 2;
        }
        printf("> %s = %d\n", line, rc);
        fflush(stdout);
    }
    return 0;
}

int main(int argc, char **argv)
{
    struct enforce_config cfg;
    const char *allow[16], *nodes[16];
    uint32_t nbans = BENCH_BANS;
    memset(&cfg, 0, sizeof cfg);
    cfg.allow = allow;
    cfg.nodes = nodes;
    int i = 1;
    for (; i < argc && !strncmp(argv[i], "--", 2); i++) {
        const char *o = argv[i], *v = i + 1 < argc ? argv[i + 1] : NULL;
        if (!strcmp(o, "--reject")) cfg.verdict = ENFORCE_REJECT;
        else if (!strcmp(o, "--dry-run")) cfg.backend = ENFORCE_BACKEND_DRYRUN;
        else if (!v) { usage(); return 2; }
        else if (!strcmp(o, "--table")) cfg.table = argv[++i];
        else if (!strcmp(o, "--ports")) { if (parse_ports(argv[++i], &cfg) < 0) { usage(); return 2; } }
        else if (!strcmp(o, "--allow") && cfg.nallow < 16) allow[cfg.nallow++] = argv[++i];
        else if (!strcmp(o, "--node") && cfg.nnodes < 16) nodes[cfg.nnodes++] = argv[++i];
        else if (!strcmp(o, "--min4")) cfg.min_prefix4 = atoi(argv[++i]);
        else if (!strcmp(o, "--min6")) cfg.min_prefix6 = atoi(argv[++i]);
        else if (!strcmp(o, "--bans")) nbans = (uint32_t)strtoul(argv[++i], NULL, 10);
        else { usage(); return 2; }
    }
    if (i >= argc) {
        if (nbans < 1 || nbans > 120000) { usage(); return 2; }
        return run_bench(&cfg, nbans);
    }
    struct enforce *e = enforce_new(&cfg);
    if (!e) return 1;
    int rc;
    if (!strcmp(argv[i], "script")) rc = run_script(e);
    else rc = run_cmd(e, argc - i, argv + i, true);
    if (rc == 2) usage();
    print_stats(e);
    enforce_destroy(&e);
    return rc;
}
