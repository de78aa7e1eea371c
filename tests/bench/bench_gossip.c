/* bench_gossip.c: replicated-state and wire figures: merges/s, frames encoded and decoded per second,
 * signatures verified per second, bytes per live counter key, memory of 1,000,000 tracked addresses,
 * snapshot time of that state. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "agent/util.h"
#include "gossip/state.h"
#include "tests/support/two_keys.h"

#define T0 1700000000000LL

/* Throughputs are measured in this process's CPU time: the build machine is shared, and wall time
 * would mostly measure the other jobs. Only the snapshot (which waits for the disk) uses wall time. */
static int64_t cpu_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &ts);
    return (int64_t)ts.tv_sec * 1000000000LL + ts.tv_nsec;
}
static double secs_since(int64_t t0) { return (double)(cpu_ns() - t0) / 1e9; }
static double wall_since(int64_t t0) { return (double)(sg_mono_ns() - t0) / 1e9; }

/* Resident set size in bytes, from /proc/self/statm. */
static long rss_bytes(void)
{
    long pages = 0, rss = 0;
    FILE *f = fopen("/proc/self/statm", "r");
    if (!f) return 0;
    if (fscanf(f, "%ld %ld", &pages, &rss) != 2) rss = 0;
    fclose(f);
    return rss * sysconf(_SC_PAGESIZE);
}

static void addr_key(char *buf, size_t n, unsigned i)
{
    snprintf(buf, n, "auth-ip|ip:10.%u.%u.%u", (i >> 16) & 255, (i >> 8) & 255, i & 255);
}

/* One delta frame as the transport sends it: 200 counter slots and 4 ban records. */
static void make_body(struct gossip_state *src, struct gossip_writer *w, unsigned base)
{
    char key[64];
    for (unsigned i = 0; i < 200; i++) {
        addr_key(key, sizeof key, base + i);
        gossip_state_counter_add(src, key, 1 + i % 7, T0);
    }
    for (unsigned i = 0; i < 4; i++) {
        snprintf(key, sizeof key, "ip:192.0.2.%u", (base + i) & 255);
        struct gossip_ban_spec sp = {.key = key, .action = GOSSIP_BAN_ACTION_BAN, .kind = GOSSIP_BAN_KIND_BLOCK,
                                     .expires_at = T0 + 3600000, .level = 1, .reason = "bench", .scenario = "auth-ip"};
        gossip_state_ban_put(src, &sp, T0, NULL);
    }
    gossip_writer_reset(w);
    gossip_state_take_delta(src, w, GOSSIP_WIRE_MAX_BODY);
}

int main(void)
{
    if (two_keys_setup("a", 1, "b", 2, true) < 0) {
        fprintf(stderr, "bench_gossip: cannot make the keys\n");
        return 1;
    }

    /* Memory first, in a fresh heap, so that RSS growth is this state's alone:
     * 1,000,000 tracked addresses, one counter key each with one slot. */
    long rss0 = rss_bytes();
    struct gossip_state *m = gossip_state_new(NULL, ida, kr, 1);
    char key[64];
    int64_t t = cpu_ns();
    for (unsigned i = 0; i < 1000000; i++) {
        addr_key(key, sizeof key, i);
        gossip_state_counter_add(m, key, 1, T0);
    }
    double ins = secs_since(t);
    /* The delta queue is part of the cost only until the next flush; measure after it. */
    struct gossip_writer dw;
    gossip_writer_init(&dw);
    while (gossip_state_take_delta(m, &dw, GOSSIP_WIRE_MAX_BODY)) gossip_writer_reset(&dw);
    gossip_writer_fini(&dw);
    struct gossip_state_stats s;
    gossip_state_stats(m, &s);
    long rss1 = rss_bytes();
    printf("bench: gossip_counter_adds %.0f /s (new keys)\n", 1e6 / ins);
    printf("bench: gossip_bytes_per_counter_key %.0f bytes (heap, measured by malloc_usable_size)\n",
           (double)s.mem_bytes / (double)s.counter_keys);
    printf("bench: gossip_mem_1M_addresses %.1f MiB (heap) %.1f MiB (RSS growth)\n", s.mem_bytes / 1048576.0,
           (rss1 - rss0) / 1048576.0);
    t = cpu_ns();
    uint64_t parts[GOSSIP_PARTITIONS];
    gossip_state_digest(m, parts);
    printf("bench: gossip_digest_1M_keys %.1f us (kept current on every change)\n", secs_since(t) * 1e6);
    t = cpu_ns();
    gossip_state_expire(m, T0 + 1000);
    printf("bench: gossip_expire_scan_1M_keys %.0f ms\n", secs_since(t) * 1000);
    /* Snapshot of the 1M keys: written (sorted, fsync'd, renamed) and read back into a fresh state. */
    char path[] = "/tmp/bench_gossip.snap.XXXXXX";
    int fd = mkstemp(path);
    if (fd >= 0) {
        close(fd);
        t = sg_mono_ns();
        int64_t c0 = cpu_ns();
        int rc = gossip_state_save(m, path);
        double save_ms = wall_since(t) * 1000, save_cpu = secs_since(c0) * 1000;
        struct stat sb;
        long size = rc == 0 && stat(path, &sb) == 0 ? (long)sb.st_size : 0;
        struct gossip_state *back = gossip_state_new(NULL, ida, kr, 2);
        sg_log_set_level(SG_LOG_WARN);
        t = sg_mono_ns();
        c0 = cpu_ns();
        rc |= gossip_state_load(back, path, T0 + 1000);
        double load_ms = wall_since(t) * 1000, load_cpu = secs_since(c0) * 1000;
        struct gossip_state_stats bs;
        gossip_state_stats(back, &bs);
        if (rc == 0 && bs.counter_keys == 1000000) {
            printf("bench: gossip_snapshot_save_1M_keys %.0f ms (CPU; %.0f ms wall, %.1f MiB)\n", save_cpu, save_ms,
                   size / 1048576.0);
            printf("bench: gossip_snapshot_load_1M_keys %.0f ms (CPU; %.0f ms wall)\n", load_cpu, load_ms);
        }
        gossip_state_destroy(&back);
        unlink(path);
        unlink(strcat(path, ".tmp"));
    }
    gossip_state_destroy(&m);
    /* Frames: encode (pack + sign) and decode (verify + unpack). */
    struct gossip_state *a = gossip_state_new(NULL, ida, kr, 1);
    struct gossip_writer w;
    gossip_writer_init(&w);
    make_body(a, &w, 0);
    size_t entries = w.entries;
    int n = 0;
    t = cpu_ns();
    uint8_t *f = NULL;
    size_t flen = 0;
    while (secs_since(t) < 1.0) {
        for (int i = 0; i < 100; i++, n++) {
            free(f);
            struct gossip_frame_header h = {.type = GOSSIP_FRAME_DELTA, .origin = ida->origin, .epoch = 1,
                                            .seq = (uint64_t)n};
            gossip_wire_frame_encode(&h, (const uint8_t *)w.buf.data, w.buf.size, ida, &f, &flen);
        }
    }
    printf("bench: gossip_frames_encoded %.0f frames/s\n", n / secs_since(t));
    printf("bench: gossip_frame_size %zu bytes (%zu entries)\n", flen, entries);
    n = 0;
    t = cpu_ns();
    while (secs_since(t) < 1.0) {
        for (int i = 0; i < 100; i++, n++) {
            struct gossip_frame_header h;
            const uint8_t *body;
            size_t blen;
            struct gossip_body *b = NULL;
            if (gossip_wire_frame_verify(f, flen, kr, &h, &body, &blen) != GOSSIP_WIRE_OK ||
                gossip_body_decode(body, blen, 0, &b) != GOSSIP_WIRE_OK)
                return 1;
            gossip_body_destroy(&b);
        }
    }
    printf("bench: gossip_frames_decoded %.0f frames/s\n", n / secs_since(t));

    /* Raw signature checks on a 1 KiB message. */
    uint8_t msg[1024], sig[GOSSIP_SIG_LEN];
    memset(msg, 7, sizeof msg);
    gossip_sign(ida, msg, sizeof msg, sig);
    n = 0;
    t = cpu_ns();
    while (secs_since(t) < 1.0)
        for (int i = 0; i < 100; i++, n++)
            if (!gossip_verify(ida->pk, msg, sizeof msg, sig)) return 1;
    printf("bench: gossip_signatures_verified %.0f /s\n", n / secs_since(t));

    /* Merges: decoded slot entries applied to a state (each one a change: fresh keys every round). */
    struct gossip_state *b = gossip_state_new(NULL, idb, kr, 1);
    long merged = 0;
    t = cpu_ns();
    double spent = 0;
    for (unsigned round = 1; spent < 1.0; round++) {
        make_body(a, &w, round * 200);
        struct gossip_body *body = NULL;
        gossip_body_decode((const uint8_t *)w.buf.data, w.buf.size, 0, &body);
        int64_t m0 = cpu_ns();
        struct gossip_merge_result res;
        gossip_state_merge(b, body, ida->origin, GOSSIP_MERGE_SENDER_SLOTS_ONLY, T0, &res);
        spent += secs_since(m0);
        merged += (long)res.changed;
        gossip_body_destroy(&body);
    }
    printf("bench: gossip_merges %.0f entries/s (ban records verified on merge included)\n", merged / spent);
    gossip_state_destroy(&a);
    gossip_state_destroy(&b);
    gossip_writer_fini(&w);
    free(f);

    gossip_keyring_destroy(&kr);
    gossip_identity_destroy(&ida);
    gossip_identity_destroy(&idb);
    return 0;
}
