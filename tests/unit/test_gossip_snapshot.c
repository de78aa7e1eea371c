/* test_gossip_snapshot.c: the incremental snapshot (written in slices across loop ticks) writes
 * exactly what a synchronous save writes when nothing changes; written while the state changes, it
 * restores to a state between the one at its start and the one at its end; a crash or a failure
 * mid-way leaves the previous file; never two saves at once; sliced expiry ends in the same state
 * as a full one; a file cut anywhere (between two entries too) or altered is refused, one written
 * before the trailer existed still loads; two states holding the same entries, whose tables place
 * them differently, have the same digests and snapshots of the same content. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <fcntl.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <signal.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "agent/util.h"
#include "gossip/snapshot.h"
#include "gossip/state.h"
#include "tests/support/state_same.h"

#define T0 1700000000000LL
#define BUCKET 10000
#define WMAX 600000

static struct gossip_identity *id;
static struct gossip_keyring *kr;
static char dir[] = "/tmp/test_gossip_snapshot.XXXXXX";

static int setup(void **state)
{
    (void)state;
    uint8_t seed[32];
    memset(seed, 0x42, sizeof seed);
    id = gossip_identity_from_seed("node0", seed);
    kr = gossip_keyring_new();
    gossip_keyring_add_identity(kr, id);
    assert_non_null(mkdtemp(dir));
    sg_log_set_level(SG_LOG_ERR);
    return 0;
}

static int teardown(void **state)
{
    (void)state;
    gossip_identity_destroy(&id);
    gossip_keyring_destroy(&kr);
    char cmd[128];
    snprintf(cmd, sizeof cmd, "rm -rf %s", dir);
    return system(cmd) == 0 ? 0 : -1;
}

/* counters keys over buckets spread across the window (some past it by the end), a sketch per ten
 * keys and a ban per hundred, some of them short. */
static struct gossip_state *empty(uint32_t epoch, size_t max_keys)
{
    struct gossip_state_config cfg;
    gossip_state_config_default(&cfg);
    cfg.bucket_ms = BUCKET;
    cfg.window_max_ms = WMAX;
    cfg.ban_grace_ms = 60000;
    if (max_keys) cfg.max_keys = max_keys;
    return gossip_state_new(&cfg, id, kr, epoch);
}

static struct gossip_state *filled(unsigned counters)
{
    struct gossip_state *st = empty(7, 0);
    char key[64];
    for (unsigned i = 0; i < counters; i++) {
        int64_t t = T0 + (int64_t)(i % 120) * BUCKET;
        snprintf(key, sizeof key, "auth-ip|ip:10.%u.%u.%u", (i >> 16) & 255, (i >> 8) & 255, i & 255);
        assert_int_equal(gossip_state_counter_add(st, key, 1 + i % 5, t), 0);
        if (i % 10 == 0) assert_int_equal(gossip_state_distinct_add(st, key, &i, sizeof i, t), 0);
        if (i % 100 == 0) {
            snprintf(key, sizeof key, "ip:10.%u.%u.%u", (i >> 16) & 255, (i >> 8) & 255, i & 255);
            struct gossip_ban_spec sp = {.key = key, .action = GOSSIP_BAN_ACTION_BAN, .kind = GOSSIP_BAN_KIND_BLOCK,
                                         .expires_at = t + (i % 200 ? 3600000 : 20000), .level = 1, .reason = "test"};
            assert_int_equal(gossip_state_ban_put(st, &sp, t, NULL), 0);
        }
    }
    return st;
}

/* The whole file (or what a FIFO delivers until its writer closes it). */
/* dir/name into buf. */
static const char *in_dir(const char *name, char *buf, size_t size)
{
    snprintf(buf, size, "%s/%s", dir, name);
    return buf;
}

static uint8_t *slurp(const char *path, size_t *len)
{
    int fd = open(path, O_RDONLY);
    assert_true(fd >= 0);
    size_t cap = 1 << 16, off = 0;
    uint8_t *b = sg_xmalloc(cap);
    ssize_t n;
    while ((n = read(fd, b + off, cap - off)) > 0) {
        off += (size_t)n;
        if (off == cap) b = sg_xrealloc(b, cap *= 2);
    }
    close(fd);
    *len = off;
    return b;
}

static void assert_files_equal(const char *a, const char *b)
{
    size_t la, lb;
    uint8_t *x = slurp(a, &la), *y = slurp(b, &lb);
    assert_true(la > 0);
    assert_int_equal(la, lb);
    assert_memory_equal(x, y, la);
    free(x);
    free(y);
}

/* Steps a save to its end; returns the number of steps. */
static unsigned run_to_end(struct gossip_snapshot *s, const struct gossip_state *st)
{
    unsigned steps = 0;
    int r;
    do {
        r = gossip_snapshot_step(s, st);
        steps++;
    } while (r == 0 && steps < 1000000);
    assert_int_equal(r, 1);
    return steps;
}

/* The canonical encoding of a fresh state (another epoch) into which the files were loaded. */
static struct gossip_state *loaded(const char *a, const char *b, int64_t now)
{
    struct gossip_state *x = empty(9, 0);
    if (a) assert_int_equal(gossip_state_load(x, a, now), 0);
    if (b) assert_int_equal(gossip_state_load(x, b, now), 0);
    return x;
}

/* Sliced, with nothing changing between slices: the same bytes as a synchronous save. */
static void test_slices_equal_sync_save(void **state)
{
    (void)state;
    struct gossip_state *st = filled(20000);
    char sync_path[128], inc_path[128], tmp[160];
    in_dir("sync.snap", sync_path, sizeof sync_path);
    in_dir("inc.snap", inc_path, sizeof inc_path);
    assert_int_equal(gossip_state_save(st, sync_path), 0);
    struct gossip_snapshot *s = gossip_snapshot_new(100);
    assert_false(gossip_snapshot_running(s));
    assert_int_equal(gossip_snapshot_start(s, inc_path), 0);
    assert_true(gossip_snapshot_running(s));
    unsigned steps = run_to_end(s, st);
    assert_true(steps > 200);   /* 20,000 counter keys, 2,000 sketch keys, 200 bans at 100 a slice */
    assert_false(gossip_snapshot_running(s));
    assert_files_equal(sync_path, inc_path);
    snprintf(tmp, sizeof tmp, "%s.tmp", inc_path);
    assert_int_equal(access(tmp, F_OK), -1);
    struct gossip_snapshot_stats ss;
    gossip_snapshot_get_stats(s, &ss);
    assert_int_equal(ss.started, 1);
    assert_int_equal(ss.saved, 1);
    assert_int_equal(ss.failed, 0);
    assert_int_equal(ss.last_slices, steps);
    /* One slice and the commit for a small state, and an empty state gives an empty (valid) file. */
    gossip_snapshot_destroy(&s);
    s = gossip_snapshot_new(0);
    struct gossip_state *none = empty(7, 0);
    assert_int_equal(gossip_snapshot_start(s, inc_path), 0);
    assert_int_equal(run_to_end(s, none), 2);
    assert_int_equal(gossip_state_save(none, sync_path), 0);
    assert_files_equal(sync_path, inc_path);   /* the head and the trailer alone */
    struct gossip_state *back = loaded(inc_path, NULL, T0);
    sg_test_assert_same_encoding(none, back);
    gossip_state_destroy(&back);
    gossip_state_destroy(&none);
    gossip_snapshot_destroy(&s);
    gossip_snapshot_destroy(&s);
    gossip_state_destroy(&st);
}

/* x <= y in the state's lattice: merging x into y changes nothing. */
static void assert_below(const char *x_path, const char *y_path, int64_t now)
{
    struct gossip_state *y = loaded(y_path, NULL, now), *xy = loaded(y_path, x_path, now);
    sg_test_assert_same_encoding(y, xy);
    gossip_state_destroy(&y);
    gossip_state_destroy(&xy);
}

static void bump_all(struct gossip_state *st, unsigned n, int64_t t)
{
    char key[64];
    for (unsigned i = 0; i < n; i++) {
        snprintf(key, sizeof key, "auth-ip|ip:10.%u.%u.%u", (i >> 16) & 255, (i >> 8) & 255, i & 255);
        assert_int_equal(gossip_state_counter_add(st, key, 1, t), 0);
    }
}

/* Written while the state changes (existing keys grow, new keys make the table resize, bans are
 * written): restored, it lies between the state at the start and the state at the end, and it
 * really is a mix (some keys as at the start, some as at the end). */
static void test_changing_state_restores_between(void **state)
{
    (void)state;
    enum { N = 20000 };
    int64_t t = T0 + 5 * BUCKET, now = T0 + 10 * BUCKET;
    struct gossip_state *st = empty(7, 0);
    bump_all(st, N, t);
    char start[128], end[128], inc[128], key[64];
    in_dir("start.snap", start, sizeof start);
    in_dir("end.snap", end, sizeof end);
    in_dir("mid.snap", inc, sizeof inc);
    assert_int_equal(gossip_state_save(st, start), 0);
    struct gossip_snapshot *s = gossip_snapshot_new(200);
    assert_int_equal(gossip_snapshot_start(s, inc), 0);
    for (int i = 0; i < 20; i++) assert_int_equal(gossip_snapshot_step(s, st), 0);
    bump_all(st, N, t);
    for (unsigned i = 0; i < 40000; i++) {   /* the counter table doubles */
        snprintf(key, sizeof key, "auth-ip|ip:172.16.%u.%u", i >> 8, i & 255);
        assert_int_equal(gossip_state_counter_add(st, key, 1, t), 0);
        if (i % 1000 == 0) {
            snprintf(key, sizeof key, "ip:172.17.%u.%u", i >> 8, i & 255);
            struct gossip_ban_spec sp = {.key = key, .action = GOSSIP_BAN_ACTION_BAN, .kind = GOSSIP_BAN_KIND_BLOCK,
                                         .expires_at = t + 3600000, .level = 1, .reason = "mid"};
            assert_int_equal(gossip_state_ban_put(st, &sp, t, NULL), 0);
        }
    }
    for (int i = 0; i < 30; i++) assert_int_equal(gossip_snapshot_step(s, st), 0);
    bump_all(st, N, t);
    run_to_end(s, st);
    assert_int_equal(gossip_state_save(st, end), 0);
    assert_below(start, inc, now);
    assert_below(inc, end, now);
    /* A mix: the first slices saw count 1, the last ones 3. */
    struct gossip_state *r = loaded(inc, NULL, now);
    uint64_t lo = UINT64_MAX, hi = 0;
    for (unsigned i = 0; i < N; i++) {
        snprintf(key, sizeof key, "auth-ip|ip:10.%u.%u.%u", (i >> 16) & 255, (i >> 8) & 255, i & 255);
        uint64_t c = gossip_state_counter_total(r, key, WMAX, now);
        if (c < lo) lo = c;
        if (c > hi) hi = c;
    }
    assert_int_equal(lo, 1);
    assert_int_equal(hi, 3);
    struct gossip_state_stats rs;
    gossip_state_stats(r, &rs);
    assert_true(rs.counter_keys > N);   /* some of the new keys, ahead of the cursor */
    assert_true(rs.counter_keys < N + 40000);
    gossip_state_destroy(&r);
    gossip_snapshot_destroy(&s);
    gossip_state_destroy(&st);
}

/* Keys evicted and buckets expired between slices (entries freed under the cursor): the save
 * ends, the file loads, and nothing freed is read (the sanitizers watch). */
static void test_entries_dropped_between_slices(void **state)
{
    (void)state;
    struct gossip_state *st = empty(7, 5000);
    char key[64], path[128];
    in_dir("drop.snap", path, sizeof path);
    for (unsigned i = 0; i < 5000; i++) {
        snprintf(key, sizeof key, "auth-ip|ip:10.0.%u.%u", i >> 8, i & 255);
        gossip_state_counter_add(st, key, 1, T0 + (int64_t)(i % 60) * BUCKET);
    }
    struct gossip_snapshot *s = gossip_snapshot_new(64);
    assert_int_equal(gossip_snapshot_start(s, path), 0);
    int r = 0;
    for (unsigned round = 0; r == 0; round++) {
        r = gossip_snapshot_step(s, st);
        for (unsigned i = 0; i < 100; i++) {   /* new keys evict old ones */
            snprintf(key, sizeof key, "auth-ip|ip:10.1.%u.%u", (round >> 8) & 255, (round * 100 + i) & 255);
            gossip_state_counter_add(st, key, 1, T0 + 65 * BUCKET);
        }
        gossip_state_expire_slice(st, T0 + 90 * BUCKET, 8);
    }
    assert_int_equal(r, 1);
    struct gossip_state *back = loaded(path, NULL, T0 + 65 * BUCKET);
    gossip_state_destroy(&back);
    gossip_snapshot_destroy(&s);
    gossip_state_destroy(&st);
}

/* A process killed mid-save leaves the previous snapshot as it was; the next save replaces the
 * stale path.tmp. */
static void test_crash_keeps_previous(void **state)
{
    (void)state;
    struct gossip_state *st = filled(5000);
    char path[128], copy[128], tmp[160];
    in_dir("crash.snap", path, sizeof path);
    in_dir("crash.copy", copy, sizeof copy);
    snprintf(tmp, sizeof tmp, "%s.tmp", path);
    assert_int_equal(gossip_state_save(st, path), 0);
    assert_int_equal(gossip_state_save(st, copy), 0);
    gossip_state_counter_add(st, "auth-ip|ip:192.0.2.1", 1, T0);
    pid_t pid = fork();
    assert_true(pid >= 0);
    if (pid == 0) {
        struct gossip_snapshot *s = gossip_snapshot_new(100);
        if (gossip_snapshot_start(s, path) != 0) _exit(2);
        for (int i = 0; i < 10; i++)
            if (gossip_snapshot_step(s, st) != 0) _exit(3);
        raise(SIGKILL);
        _exit(4);
    }
    int status;
    assert_int_equal(waitpid(pid, &status, 0), pid);
    assert_true(WIFSIGNALED(status));
    assert_int_equal(access(tmp, F_OK), 0);   /* the partial file */
    assert_files_equal(path, copy);
    struct gossip_state *back = loaded(path, NULL, T0 + 119 * BUCKET);
    gossip_state_destroy(&back);
    struct gossip_snapshot *s = gossip_snapshot_new(100);
    assert_int_equal(gossip_snapshot_start(s, path), 0);
    run_to_end(s, st);
    assert_int_equal(access(tmp, F_OK), -1);
    assert_int_equal(gossip_state_save(st, copy), 0);
    assert_files_equal(path, copy);
    gossip_snapshot_destroy(&s);
    gossip_state_destroy(&st);
}

/* A second start while one runs is refused and counted; an abort removes path.tmp. */
static void test_never_two_at_once(void **state)
{
    (void)state;
    struct gossip_state *st = filled(3000);
    char path[128], tmp[160];
    in_dir("two.snap", path, sizeof path);
    snprintf(tmp, sizeof tmp, "%s.tmp", path);
    struct gossip_snapshot *s = gossip_snapshot_new(100);
    assert_int_equal(gossip_snapshot_start(s, path), 0);
    assert_int_equal(gossip_snapshot_step(s, st), 0);
    assert_int_equal(gossip_snapshot_start(s, path), 1);
    struct gossip_snapshot_stats ss;
    gossip_snapshot_get_stats(s, &ss);
    assert_int_equal(ss.started, 1);
    assert_int_equal(ss.skipped, 1);
    assert_int_equal(access(tmp, F_OK), 0);
    gossip_snapshot_abort(s);
    assert_false(gossip_snapshot_running(s));
    assert_int_equal(access(tmp, F_OK), -1);
    assert_int_equal(access(path, F_OK), -1);
    assert_int_equal(gossip_snapshot_step(s, st), 0);   /* nothing runs */
    gossip_snapshot_get_stats(s, &ss);
    assert_int_equal(ss.aborted, 1);
    assert_int_equal(ss.saved, 0);
    /* Destroyed while running: the same. */
    assert_int_equal(gossip_snapshot_start(s, path), 0);
    assert_int_equal(gossip_snapshot_step(s, st), 0);
    gossip_snapshot_destroy(&s);
    assert_int_equal(access(tmp, F_OK), -1);
    gossip_state_destroy(&st);
}

/* A save that cannot open path.tmp is counted; the previous snapshot stays as it was. */
static void test_failure_keeps_previous(void **state)
{
    (void)state;
    struct gossip_state *st = filled(100);
    struct gossip_snapshot *s = gossip_snapshot_new(0);
    assert_int_equal(gossip_snapshot_start(s, "/nonexistent-dir/state.snap"), -1);
    char path[128], copy[128];
    in_dir("keep.snap", path, sizeof path);
    in_dir("keep.copy", copy, sizeof copy);
    assert_int_equal(gossip_state_save(st, path), 0);
    assert_int_equal(gossip_state_save(st, copy), 0);
    /* A directory where the file should go: the open fails. */
    char tmp[160];
    snprintf(tmp, sizeof tmp, "%s.tmp", path);
    assert_int_equal(mkdir(tmp, 0700), 0);
    gossip_state_counter_add(st, "auth-ip|ip:192.0.2.1", 1, T0);
    assert_int_equal(gossip_snapshot_start(s, path), -1);
    assert_false(gossip_snapshot_running(s));
    assert_files_equal(path, copy);
    struct gossip_snapshot_stats ss;
    gossip_snapshot_get_stats(s, &ss);
    assert_int_equal(ss.started, 0);
    assert_int_equal(ss.failed, 2);
    assert_int_equal(ss.saved, 0);
    rmdir(tmp);
    gossip_snapshot_destroy(&s);
    gossip_state_destroy(&st);
}

/* Expiry in slices ends where a full expiry ends, and one slice does only part of the work. */
static void test_sliced_expiry_converges(void **state)
{
    (void)state;
    struct gossip_state *full = filled(30000), *sliced = filled(30000);
    int64_t now = T0 + 140 * BUCKET + 70000;   /* past the window for the older buckets and the short bans */
    size_t all = gossip_state_expire(full, now);
    assert_true(all > 0);
    enum { PARTS = 16 };
    size_t first = gossip_state_expire_slice(sliced, now, PARTS);
    assert_true(first > 0);
    assert_true(first < all);
    size_t sum = first;
    for (int i = 1; i < 2 * PARTS; i++) sum += gossip_state_expire_slice(sliced, now, PARTS);
    assert_int_equal(sum, all);
    sg_test_assert_same_encoding(full, sliced);
    /* One part: still no more than GOSSIP_EXPIRE_SLICE_MAX slots a call (the table has 65536), so a
     * pass takes 65536 / GOSSIP_EXPIRE_SLICE_MAX calls, and not one fewer. */
    struct gossip_state *one = filled(30000);
    size_t once = gossip_state_expire_slice(one, now, 1);
    assert_true(once > 0);
    assert_true(once < all);
    enum { CALLS = 65536 / GOSSIP_EXPIRE_SLICE_MAX };
    for (int i = 1; i < CALLS - 1; i++) once += gossip_state_expire_slice(one, now, 1);
    assert_true(once < all);
    assert_int_equal(once + gossip_state_expire_slice(one, now, 1), all);
    sg_test_assert_same_encoding(full, one);
    gossip_state_destroy(&one);
    struct gossip_state_stats s;
    gossip_state_stats(sliced, &s);
    assert_true(s.counter_keys < 30000);
    assert_true(s.counter_keys > 0);
    gossip_state_destroy(&full);
    gossip_state_destroy(&sliced);
}

/* Writes b[0..len) to path and loads it into a fresh state: whether it was accepted. */
static bool loads(const char *path, const uint8_t *b, size_t len)
{
    FILE *f = fopen(path, "wb");
    assert_non_null(f);
    assert_int_equal(fwrite(b, 1, len, f), len);
    fclose(f);
    struct gossip_state *x = empty(9, 0);
    bool ok = gossip_state_load(x, path, T0 + 60 * BUCKET) == 0;
    gossip_state_destroy(&x);
    return ok;
}

/* A snapshot cut short or garbled (a disk error, a copy gone wrong, a disk full at the wrong time)
 * never crashes the load and is refused whole: cut at any length, between two entries too (the
 * entries before the cut would decode, and restoring them as the whole state would lose the rest at
 * the next save), or with any one byte altered. At start it is set aside (gossip_snapshot_restore). */
static void test_damaged_file_refused(void **state)
{
    (void)state;
    struct gossip_state *st = filled(150);
    char path[256], bad[256];
    in_dir("damaged.snap", path, sizeof path);
    in_dir("bad.snap", bad, sizeof bad);
    assert_int_equal(gossip_state_save(st, path), 0);
    size_t len;
    uint8_t *b = slurp(path, &len);
    size_t accepted = 0;
    sg_log_set_level((enum sg_log_level)(SG_LOG_ERR - 1));   /* thousands of "unreadable" lines */
    for (size_t cut = 1; cut < len; cut++)
        if (loads(bad, b, cut)) accepted++;
    assert_int_equal(accepted, 0);
    uint8_t *g = sg_xmalloc(len);
    for (size_t i = 0; i < len; i++) {
        memcpy(g, b, len);
        g[i] ^= (uint8_t)(1u << (i % 8));
        if (loads(bad, g, len)) accepted++;
    }
    free(g);
    sg_log_set_level(SG_LOG_ERR);
    assert_int_equal(accepted, 0);
    /* At start an unreadable one is refused, counted, and set aside as path.bad: the next save
     * must not replace the only copy of the previous state. Nothing of it is merged. */
    char aside[300];
    snprintf(aside, sizeof aside, "%s.bad", bad);
    (void)loads(bad, b, len - 3);
    struct gossip_snapshot *s = gossip_snapshot_new(0);
    struct gossip_state *x = empty(9, 0);
    assert_int_equal(gossip_snapshot_restore(s, x, bad, T0 + 60 * BUCKET), -1);
    struct gossip_state_stats xs;
    gossip_state_stats(x, &xs);
    assert_int_equal(xs.counter_keys + xs.sketch_keys + xs.bans, 0);
    struct gossip_snapshot_stats sn;
    gossip_snapshot_get_stats(s, &sn);
    assert_int_equal(sn.unreadable, 1);
    assert_int_equal(gossip_snapshot_start(s, bad), 0);
    assert_int_equal(gossip_snapshot_finish(s, x), 1);
    size_t klen;
    uint8_t *k = slurp(aside, &klen);
    assert_int_equal(klen, len - 3);
    assert_memory_equal(k, b, klen);
    free(k);
    assert_int_equal(gossip_snapshot_restore(s, x, path, T0 + 60 * BUCKET), 0);   /* a readable one loads */
    gossip_snapshot_destroy(&s);
    gossip_state_destroy(&x);
    free(b);
    gossip_state_destroy(&st);
}

/* A file an older sgagent wrote (the canonical encoding alone, no head or trailer) still loads whole
 * at start: an upgrade keeps the state. The next save writes the new format. */
static void test_old_format_loads(void **state)
{
    (void)state;
    struct gossip_state *st = filled(3000);
    char path[256], cur[256];
    in_dir("old.snap", path, sizeof path);
    in_dir("current.snap", cur, sizeof cur);
    assert_int_equal(gossip_state_save(st, cur), 0);
    struct gossip_state *want = loaded(cur, NULL, T0);
    uint8_t *enc;
    size_t len;
    assert_int_equal(gossip_state_encode(st, &enc, &len), 0);
    assert_true(len > 0);
    assert_true(loads(path, enc, len));
    struct gossip_snapshot *s = gossip_snapshot_new(0);
    struct gossip_state *x = empty(9, 0);
    assert_int_equal(gossip_snapshot_restore(s, x, path, T0), 0);
    struct gossip_snapshot_stats sn;
    gossip_snapshot_get_stats(s, &sn);
    assert_int_equal(sn.unreadable, 0);
    sg_test_assert_same_encoding(want, x);
    assert_int_equal(gossip_snapshot_start(s, path), 0);
    assert_int_equal(gossip_snapshot_finish(s, x), 1);
    size_t nlen;
    uint8_t *now = slurp(path, &nlen);
    char cut[256];
    assert_false(loads(in_dir("old-cut.snap", cut, sizeof cut), now, nlen - 1));   /* checked now */
    free(now);
    struct gossip_state *y = loaded(path, NULL, T0);
    sg_test_assert_same_encoding(want, y);
    gossip_state_destroy(&y);
    gossip_state_destroy(&want);
    free(enc);
    gossip_snapshot_destroy(&s);
    gossip_state_destroy(&x);
    gossip_state_destroy(&st);
}

/* Two states with the same entries: each table places them under its own secret key (gossip/table.c),
 * so their slots and their snapshots' order differ, while everything compared across nodes is the
 * same: partition digests, leaf sums, the canonical encoding, and the snapshots' content. */
static void test_placement_differs_content_same(void **state)
{
    (void)state;
    struct gossip_state *a = filled(3000), *b = filled(3000);
    sg_test_assert_same_encoding(a, b);
    uint64_t da[GOSSIP_PARTITIONS], db[GOSSIP_PARTITIONS];
    gossip_state_digest(a, da);
    gossip_state_digest(b, db);
    assert_memory_equal(da, db, sizeof da);
    uint8_t *la = sg_xmalloc(GOSSIP_SYNC_LEAVES * 8), *lb = sg_xmalloc(GOSSIP_SYNC_LEAVES * 8);
    assert_int_equal(gossip_state_leaf_sums(a, UINT64_MAX, la), GOSSIP_SYNC_LEAVES * 8);
    assert_int_equal(gossip_state_leaf_sums(b, UINT64_MAX, lb), GOSSIP_SYNC_LEAVES * 8);
    assert_memory_equal(la, lb, GOSSIP_SYNC_LEAVES * 8);
    free(la);
    free(lb);
    char pa[128], pb[128];
    in_dir("place_a.snap", pa, sizeof pa);
    in_dir("place_b.snap", pb, sizeof pb);
    struct gossip_snapshot *s = gossip_snapshot_new(100);
    assert_int_equal(gossip_snapshot_start(s, pa), 0);
    run_to_end(s, a);
    assert_int_equal(gossip_state_save(b, pb), 0);
    size_t na, nb;
    uint8_t *fa = slurp(pa, &na), *fb = slurp(pb, &nb);
    assert_int_equal(na, nb);
    assert_memory_not_equal(fa, fb, na);   /* another order */
    free(fa);
    free(fb);
    struct gossip_state *ra = loaded(pa, NULL, T0 + 119 * BUCKET), *rb = loaded(pb, NULL, T0 + 119 * BUCKET);
    sg_test_assert_same_encoding(ra, rb);
    gossip_state_digest(ra, da);
    gossip_state_digest(rb, db);
    assert_memory_equal(da, db, sizeof da);
    gossip_state_destroy(&ra);
    gossip_state_destroy(&rb);
    gossip_snapshot_destroy(&s);
    gossip_state_destroy(&a);
    gossip_state_destroy(&b);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_slices_equal_sync_save),
        cmocka_unit_test(test_changing_state_restores_between),
        cmocka_unit_test(test_entries_dropped_between_slices),
        cmocka_unit_test(test_crash_keeps_previous),
        cmocka_unit_test(test_never_two_at_once),
        cmocka_unit_test(test_failure_keeps_previous),
        cmocka_unit_test(test_sliced_expiry_converges),
        cmocka_unit_test(test_damaged_file_refused),
        cmocka_unit_test(test_old_format_loads),
        cmocka_unit_test(test_placement_differs_content_same),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
