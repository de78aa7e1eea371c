/* test_gossip_bgsave.c: the snapshot child writes exactly what a synchronous save writes, of the
 * state as it was at the fork; never two children at once; a failed child leaves the previous
 * snapshot alone and is counted; sliced expiry ends in the same state as a full one. */
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
#include <sys/stat.h>
#include <unistd.h>

#include "agent/util.h"
#include "gossip/bgsave.h"
#include "gossip/state.h"
#include "tests/support/state_same.h"

#define T0 1700000000000LL
#define BUCKET 10000
#define WMAX 600000

static struct gossip_identity *id;
static struct gossip_keyring *kr;
static char dir[] = "/tmp/test_gossip_bgsave.XXXXXX";

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
static struct gossip_state *filled(unsigned counters)
{
    struct gossip_state_config cfg;
    gossip_state_config_default(&cfg);
    cfg.bucket_ms = BUCKET;
    cfg.window_max_ms = WMAX;
    cfg.ban_grace_ms = 60000;
    struct gossip_state *st = gossip_state_new(&cfg, id, kr, 7);
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

/* The child's file equals a synchronous save of the state at the fork, whatever the parent does
 * to the state meanwhile (copy-on-write). */
static void test_child_equals_sync_save(void **state)
{
    (void)state;
    struct gossip_state *st = filled(20000);
    char sync_path[128], bg_path[128];
    in_dir("sync.snap", sync_path, sizeof sync_path);
    in_dir("bg.snap", bg_path, sizeof bg_path);
    assert_int_equal(gossip_state_save(st, sync_path), 0);
    struct gossip_bgsave *b = gossip_bgsave_new();
    assert_int_equal(gossip_bgsave_start(b, st, bg_path), 0);
    /* The parent goes on changing the state while the child writes. */
    for (unsigned i = 0; i < 5000; i++) {
        char key[64];
        snprintf(key, sizeof key, "auth-ip|ip:172.16.%u.%u", i >> 8, i & 255);
        gossip_state_counter_add(st, key, 1, T0);
    }
    assert_int_equal(gossip_bgsave_wait(b), 1);
    assert_false(gossip_bgsave_running(b));
    assert_files_equal(sync_path, bg_path);
    char tmp[160];
    snprintf(tmp, sizeof tmp, "%s.tmp", bg_path);
    assert_int_equal(access(tmp, F_OK), -1);
    struct gossip_bgsave_stats s;
    gossip_bgsave_get_stats(b, &s);
    assert_int_equal(s.started, 1);
    assert_int_equal(s.saved, 1);
    assert_int_equal(s.failed, 0);
    /* The file restores the state it was taken from. */
    struct gossip_state_config cfg;
    gossip_state_config_default(&cfg);
    cfg.bucket_ms = BUCKET;
    cfg.window_max_ms = WMAX;
    struct gossip_state *back = gossip_state_new(&cfg, id, kr, 8);
    assert_int_equal(gossip_state_load(back, bg_path, T0 + 119 * BUCKET), 0);
    struct gossip_state_stats bs;
    gossip_state_stats(back, &bs);
    assert_true(bs.counter_keys > 5000);   /* those whose bucket is still inside the window */
    gossip_state_destroy(&back);
    gossip_bgsave_destroy(&b);
    gossip_bgsave_destroy(&b);
    gossip_state_destroy(&st);
}

/* A child that cannot finish (here it waits on a FIFO where path.tmp would be) keeps a second
 * start out: never two children. What the FIFO delivers is the synchronous encoding. */
static void test_never_two_at_once(void **state)
{
    (void)state;
    struct gossip_state *st = filled(3000);
    char path[128], tmp[160];
    in_dir("fifo.snap", path, sizeof path);
    snprintf(tmp, sizeof tmp, "%s.tmp", path);
    assert_int_equal(mkfifo(tmp, 0600), 0);
    struct gossip_bgsave *b = gossip_bgsave_new();
    assert_int_equal(gossip_bgsave_start(b, st, path), 0);
    assert_true(gossip_bgsave_running(b));
    assert_int_equal(gossip_bgsave_poll(b), 0);
    assert_int_equal(gossip_bgsave_start(b, st, path), 1);
    struct gossip_bgsave_stats s;
    gossip_bgsave_get_stats(b, &s);
    assert_int_equal(s.started, 1);
    assert_int_equal(s.skipped, 1);
    size_t len;
    uint8_t *got = slurp(tmp, &len), *want;
    size_t wlen;
    gossip_state_encode(st, &want, &wlen);
    assert_int_equal(len, wlen);
    assert_memory_equal(got, want, len);
    free(got);
    free(want);
    /* Its fsync on a FIFO fails (EINVAL): a failure, counted, and no snapshot put in place. */
    int r = gossip_bgsave_wait(b);
    gossip_bgsave_get_stats(b, &s);
    assert_int_equal(s.saved + s.failed, 1);
    assert_int_equal(r, s.saved ? 1 : -1);
    gossip_bgsave_destroy(&b);
    unlink(tmp);
    unlink(path);
    gossip_state_destroy(&st);
}

/* A child that fails (no such directory) is counted; the previous snapshot stays as it was. */
static void test_failure_keeps_previous(void **state)
{
    (void)state;
    struct gossip_state *st = filled(100);
    struct gossip_bgsave *b = gossip_bgsave_new();
    assert_int_equal(gossip_bgsave_start(b, st, "/nonexistent-dir/state.snap"), 0);
    assert_int_equal(gossip_bgsave_wait(b), -1);
    char path[128], copy[128];
    in_dir("keep.snap", path, sizeof path);
    in_dir("keep.copy", copy, sizeof copy);
    assert_int_equal(gossip_state_save(st, path), 0);
    assert_int_equal(gossip_state_save(st, copy), 0);
    /* A directory where the file should go: the child's open fails. */
    char tmp[160];
    snprintf(tmp, sizeof tmp, "%s.tmp", path);
    assert_int_equal(mkdir(tmp, 0700), 0);
    gossip_state_counter_add(st, "auth-ip|ip:192.0.2.1", 1, T0);
    assert_int_equal(gossip_bgsave_start(b, st, path), 0);
    assert_int_equal(gossip_bgsave_wait(b), -1);
    assert_files_equal(path, copy);
    struct gossip_bgsave_stats s;
    gossip_bgsave_get_stats(b, &s);
    assert_int_equal(s.started, 2);
    assert_int_equal(s.failed, 2);
    assert_int_equal(s.saved, 0);
    rmdir(tmp);
    gossip_bgsave_destroy(&b);
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
    struct gossip_state_stats s;
    gossip_state_stats(sliced, &s);
    assert_true(s.counter_keys < 30000);
    assert_true(s.counter_keys > 0);
    gossip_state_destroy(&full);
    gossip_state_destroy(&sliced);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_child_equals_sync_save),
        cmocka_unit_test(test_never_two_at_once),
        cmocka_unit_test(test_failure_keeps_previous),
        cmocka_unit_test(test_sliced_expiry_converges),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
