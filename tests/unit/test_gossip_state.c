/* test_gossip_state.c: property tests of the replicated state: random operations on 3 to 5 replicas,
 * deltas through real signed frames delivered out of order with duplicates and losses, then a full
 * exchange, must leave identical canonical encodings; merge is commutative, associative and
 * idempotent; windows end exactly at bucket edges; caps, deltas, exports and snapshots behave. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "common/key.h"
#include "gossip/state.h"
#include "gossip/state_int.h"   /* gossip_state_digest_full: the definition the kept digest must match */
#include "tests/support/state_same.h"

#define MAXR 5
#define T0 1700000000000LL
#define BUCKET 10000
#define WMAX 600000

static struct gossip_identity *ids[MAXR + 1];   /* the last one is an observer */
static struct gossip_keyring *kr;

static int setup(void **state)
{
    (void)state;
    kr = gossip_keyring_new();
    for (int i = 0; i <= MAXR; i++) {
        uint8_t seed[32];
        memset(seed, 0x10 + i, sizeof seed);
        char name[16];
        snprintf(name, sizeof name, "node%d", i);
        ids[i] = gossip_identity_from_seed(name, seed);
        assert_int_equal(gossip_keyring_add_identity(kr, ids[i]), 0);
    }
    return 0;
}

static int teardown(void **state)
{
    (void)state;
    for (int i = 0; i <= MAXR; i++) gossip_identity_destroy(&ids[i]);
    gossip_keyring_destroy(&kr);
    return 0;
}

static struct gossip_state *mk(int i, size_t max_keys)
{
    struct gossip_state_config cfg;
    gossip_state_config_default(&cfg);
    cfg.bucket_ms = BUCKET;
    cfg.window_max_ms = WMAX;
    if (max_keys) cfg.max_keys = max_keys;
    struct gossip_state *st = gossip_state_new(&cfg, ids[i], kr, 100 + (uint32_t)i);
    assert_non_null(st);
    return st;
}

static uint64_t rnd(uint64_t *s)
{
    *s ^= *s << 13;
    *s ^= *s >> 7;
    *s ^= *s << 17;
    return *s;
}

/* A signed frame in flight. */
struct msg {
    uint8_t *f;
    size_t len;
    int to;
};

static void deliver(struct gossip_state *to, const uint8_t *f, size_t len, unsigned flags, int64_t now)
{
    struct gossip_frame_header h;
    const uint8_t *body;
    size_t blen;
    assert_int_equal(gossip_wire_frame_verify(f, len, kr, &h, &body, &blen), GOSSIP_WIRE_OK);
    struct gossip_body *b = NULL;
    assert_int_equal(gossip_body_decode(body, blen, 0, &b), GOSSIP_WIRE_OK);
    struct gossip_merge_result res;
    gossip_state_merge(to, b, h.origin, flags, now, &res);
    assert_int_equal(res.rej_ban_sig + res.rej_future + res.rej_foreign, 0);
    gossip_body_destroy(&b);
}

static uint8_t *frame_of(int from, struct gossip_writer *w, uint8_t type, size_t *len)
{
    struct gossip_frame_header h = {.type = type, .origin = ids[from]->origin, .epoch = 100 + (uint32_t)from};
    uint8_t *f;
    assert_int_equal(gossip_wire_frame_encode(&h, (const uint8_t *)w->buf.data, w->buf.size, ids[from], &f, len), 0);
    return f;
}

/* Every replica sends its whole state (all partitions, in chunks) to every other one. */
static void full_exchange(struct gossip_state **r, int n, int64_t now)
{
    for (int i = 0; i < n; i++) {
        uint64_t cursor = 0;
        int more;
        do {
            struct gossip_writer w;
            gossip_writer_init(&w);
            more = gossip_state_export(r[i], UINT64_MAX, &cursor, &w, 4096);
            size_t len;
            uint8_t *f = frame_of(i, &w, GOSSIP_FRAME_SYNC_DATA, &len);
            for (int j = 0; j < n; j++)
                if (j != i) deliver(r[j], f, len, 0, now);
            free(f);
            gossip_writer_fini(&w);
        } while (more);
    }
}

static bool same_encoding(struct gossip_state *a, struct gossip_state *b)
{
    uint8_t *ea, *eb;
    size_t la, lb;
    gossip_state_encode(a, &ea, &la);
    gossip_state_encode(b, &eb, &lb);
    bool same = la == lb && !memcmp(ea, eb, la);
    free(ea);
    free(eb);
    return same;
}

/* The digest kept up to date by every change equals the one recomputed from scratch. */
static void assert_digest_kept(const struct gossip_state *st)
{
    uint64_t kept[GOSSIP_PARTITIONS], full[GOSSIP_PARTITIONS];
    gossip_state_digest(st, kept);
    gossip_state_digest_full(st, full);
    assert_memory_equal(kept, full, sizeof kept);
}

static void assert_same(struct gossip_state *a, struct gossip_state *b)
{
    sg_test_assert_same_encoding(a, b);
    uint64_t da[GOSSIP_PARTITIONS], db[GOSSIP_PARTITIONS], fa[GOSSIP_PARTITIONS], fb[GOSSIP_PARTITIONS];
    gossip_state_digest(a, da);
    gossip_state_digest(b, db);
    gossip_state_digest_full(a, fa);
    gossip_state_digest_full(b, fb);
    assert_memory_equal(da, fa, sizeof da);
    assert_memory_equal(db, fb, sizeof db);
    assert_memory_equal(da, db, sizeof da);
}

static const char *const ckeys[] = {"auth-ip|ip:203.0.113.7", "auth-ip|ip:198.51.100.9", "auth-net|net:203.0.113.0/24",
                                    "auth-user|user:alice@example.jp", "relay|ip:192.0.2.1", "sent|user:bob@example.jp"};
static const char *const skeys[] = {"users|ip:203.0.113.7", "ips|user:alice@example.jp", "users|ip:192.0.2.1"};
static const char *const bkeys[] = {"ip:203.0.113.7", "net:203.0.113.0/24", "user:alice@example.jp", "ip:2001:db8::1"};

/* Random run on n replicas; returns the replicas through r and the final time. */
static int64_t random_run(uint64_t seed, int n, struct gossip_state **r, uint64_t *expect_counts)
{
    uint64_t s = seed * 0x9e3779b97f4a7c15ULL + 1;
    int64_t now = T0;
    struct msg q[4096];
    size_t nq = 0;
    for (int i = 0; i < n; i++) r[i] = mk(i, 0);
    memset(expect_counts, 0, sizeof ckeys / sizeof ckeys[0] * sizeof *expect_counts);
    for (int step = 0; step < 400; step++) {
        uint64_t adv = rnd(&s) % 2500;
        if (now + (int64_t)adv < T0 + WMAX - 2 * BUCKET) now += (int64_t)adv;
        int who = (int)(rnd(&s) % (uint64_t)n);
        unsigned op = (unsigned)(rnd(&s) % 100);
        if (op < 40) {
            size_t k = rnd(&s) % (sizeof ckeys / sizeof ckeys[0]);
            uint64_t inc = 1 + rnd(&s) % 5;
            assert_int_equal(gossip_state_counter_add(r[who], ckeys[k], inc, now), 0);
            expect_counts[k] += inc;
        } else if (op < 55) {
            char item[32];
            snprintf(item, sizeof item, "user%u@example.jp", (unsigned)(rnd(&s) % 60));
            gossip_state_distinct_add(r[who], skeys[rnd(&s) % 3], item, strlen(item), now);
        } else if (op < 62) {
            /* The kind is the key's (common/key.h): a record whose kind does not match is refused. */
            struct sg_key tk;
            struct gossip_ban_spec sp = {.key = bkeys[rnd(&s) % 4],
                                         .expires_at = now + 60000 + (int64_t)(rnd(&s) % 600000),
                                         .level = (uint32_t)(rnd(&s) % 4), .reason = "test", .scenario = "prop"};
            sp.action = rnd(&s) % 3 ? GOSSIP_BAN_ACTION_BAN : GOSSIP_BAN_ACTION_UNBAN;
            if (sp.action == GOSSIP_BAN_ACTION_UNBAN) sp.expires_at = 0;
            assert_int_equal(sg_key_parse(sp.key, &tk), 0);
            sp.kind = (uint8_t)tk.kind;
            assert_int_equal(gossip_state_ban_put(r[who], &sp, now, NULL), 0);
        } else if (op < 82) {
            struct gossip_writer w;
            gossip_writer_init(&w);
            size_t got = gossip_state_take_delta(r[who], &w, 200 + rnd(&s) % 2000);
            if (got) {
                size_t len;
                uint8_t *f = frame_of(who, &w, GOSSIP_FRAME_DELTA, &len);
                for (int j = 0; j < n; j++) {
                    if (j == who || rnd(&s) % 5 == 0 || nq >= 4000) continue;   /* 1 in 5 lost */
                    int copies = rnd(&s) % 4 == 0 ? 2 : 1;                       /* 1 in 4 duplicated */
                    for (int c = 0; c < copies; c++) {
                        q[nq].f = malloc(len);
                        memcpy(q[nq].f, f, len);
                        q[nq].len = len;
                        q[nq++].to = j;
                    }
                }
                free(f);
            }
            gossip_writer_fini(&w);
        } else if (nq) {
            /* Deliver a random message in flight: arbitrary reordering. */
            size_t m = rnd(&s) % nq;
            deliver(r[q[m].to], q[m].f, q[m].len, GOSSIP_MERGE_SENDER_SLOTS_ONLY, now);
            free(q[m].f);
            q[m] = q[--nq];
        }
    }
    while (nq) {
        size_t m = rnd(&s) % nq;
        if (rnd(&s) % 2) deliver(r[q[m].to], q[m].f, q[m].len, GOSSIP_MERGE_SENDER_SLOTS_ONLY, now);
        free(q[m].f);
        q[m] = q[--nq];
    }
    return now;
}

static void test_replicas_converge(void **state)
{
    (void)state;
    int differed = 0;
    for (uint64_t seed = 1; seed <= 30; seed++) {
        int n = 3 + (int)(seed % 3);
        struct gossip_state *r[MAXR];
        uint64_t expect[sizeof ckeys / sizeof ckeys[0]];
        int64_t now = random_run(seed, n, r, expect);
        differed += !same_encoding(r[0], r[1]);   /* losses really happened */
        full_exchange(r, n, now);
        for (int i = 0; i < n; i++) gossip_state_expire(r[i], now);
        for (int i = 1; i < n; i++) assert_same(r[0], r[i]);
        /* Nothing counted was lost or counted twice, on any replica. */
        for (size_t k = 0; k < sizeof ckeys / sizeof ckeys[0]; k++)
            for (int i = 0; i < n; i++) assert_int_equal(gossip_state_counter_total(r[i], ckeys[k], WMAX, now), expect[k]);
        for (int i = 0; i < n; i++) gossip_state_destroy(&r[i]);
    }
    assert_true(differed > 20);
}

/* A whole state as one body: its canonical encoding (every origin's cells, as a snapshot holds them;
 * a sync export carries only the sender's own cells, so it is not the merge algebra's input). */
static void export_all(struct gossip_state *st, struct gossip_writer *w)
{
    uint8_t *enc;
    size_t len;
    gossip_writer_init(w);
    assert_int_equal(gossip_state_encode(st, &enc, &len), 0);
    msgpack_sbuffer_write(&w->buf, (const char *)enc, len);
    free(enc);
}

static void merge_bytes(struct gossip_state *st, const struct gossip_writer *w, int64_t now)
{
    struct gossip_body *b = NULL;
    assert_int_equal(gossip_body_decode((const uint8_t *)w->buf.data, w->buf.size, 0, &b), GOSSIP_WIRE_OK);
    gossip_state_merge(st, b, 0, 0, now, NULL);
    gossip_body_destroy(&b);
}

static void test_merge_algebra(void **state)
{
    (void)state;
    for (uint64_t seed = 100; seed < 110; seed++) {
        struct gossip_state *r[MAXR];
        uint64_t expect[sizeof ckeys / sizeof ckeys[0]];
        int64_t now = random_run(seed, 3, r, expect);
        struct gossip_writer x, y, z;
        export_all(r[0], &x);
        export_all(r[1], &y);
        export_all(r[2], &z);
        const struct gossip_writer *orders[][5] = {{&x, &y, &z}, {&z, &y, &x}, {&y, &z, &x},
                                                   {&x, &x, &y, &z, &z}, {&z, &x, &y, &x, &y}};
        const int lens[] = {3, 3, 3, 5, 5};
        struct gossip_state *ref = mk(MAXR, 0);
        merge_bytes(ref, &x, now);
        merge_bytes(ref, &y, now);
        merge_bytes(ref, &z, now);
        /* Commutative and idempotent: any order, any repetition, same state. */
        for (size_t o = 0; o < sizeof lens / sizeof lens[0]; o++) {
            struct gossip_state *t = mk(MAXR, 0);
            for (int i = 0; i < lens[o]; i++) merge_bytes(t, orders[o][i], now);
            assert_same(ref, t);
            gossip_state_destroy(&t);
        }
        /* Associative: x + (y + z) equals (x + y) + z. */
        struct gossip_state *yz = mk(MAXR, 0), *t = mk(MAXR, 0);
        merge_bytes(yz, &y, now);
        merge_bytes(yz, &z, now);
        struct gossip_writer yzw;
        export_all(yz, &yzw);
        merge_bytes(t, &x, now);
        merge_bytes(t, &yzw, now);
        assert_same(ref, t);
        gossip_writer_fini(&yzw);
        gossip_state_destroy(&yz);
        gossip_state_destroy(&t);
        gossip_state_destroy(&ref);
        gossip_writer_fini(&x);
        gossip_writer_fini(&y);
        gossip_writer_fini(&z);
        for (int i = 0; i < 3; i++) gossip_state_destroy(&r[i]);
    }
}

static void test_window_edges(void **state)
{
    (void)state;
    struct gossip_state *a = mk(0, 0);
    const char *k = "auth-ip|ip:203.0.113.7";
    int64_t b0 = 1700000000000LL;                      /* a bucket start (multiple of 10 s) */
    assert_int_equal(gossip_state_bucket_of(a, b0 + 9999), b0);
    gossip_state_counter_add(a, k, 1, b0);             /* first ms of bucket 0 */
    gossip_state_counter_add(a, k, 10, b0 + 9999);     /* last ms of bucket 0 */
    gossip_state_counter_add(a, k, 100, b0 + 10000);   /* first ms of bucket 1 */
    /* A 30 s window covers 3 buckets ending with now's. */
    assert_int_equal(gossip_state_counter_total(a, k, 30000, b0), 11);
    assert_int_equal(gossip_state_counter_total(a, k, 30000, b0 + 10000), 111);
    assert_int_equal(gossip_state_counter_total(a, k, 30000, b0 + 29999), 111);
    assert_int_equal(gossip_state_counter_total(a, k, 30000, b0 + 30000), 100);   /* bucket 0 just left */
    assert_int_equal(gossip_state_counter_total(a, k, 30000, b0 + 39999), 100);
    assert_int_equal(gossip_state_counter_total(a, k, 30000, b0 + 40000), 0);
    /* A window that is not a multiple of the bucket rounds up; one below one bucket is one bucket. */
    assert_int_equal(gossip_state_counter_total(a, k, 25000, b0 + 29999), 111);
    assert_int_equal(gossip_state_counter_total(a, k, 1, b0 + 10000), 100);
    /* Data from the future (skewed peer) is not counted yet. */
    assert_int_equal(gossip_state_counter_total(a, k, 30000, b0 - 1), 0);
    /* Distinct counts follow the same windows. */
    gossip_state_distinct_add(a, "u", "alice", 5, b0 + 9999);
    gossip_state_distinct_add(a, "u", "bob", 3, b0 + 10000);
    gossip_state_distinct_add(a, "u", "bob", 3, b0 + 10001);
    assert_int_equal(gossip_state_distinct_count(a, "u", 20000, b0 + 10000), 2);
    assert_int_equal(gossip_state_distinct_count(a, "u", 20000, b0 + 20000), 1);
    assert_int_equal(gossip_state_distinct_count(a, "u", 20000, b0 + 30000), 0);
    /* Buckets older than the largest window are dropped, and empty keys with them. */
    struct gossip_state_stats s;
    assert_digest_kept(a);
    gossip_state_expire(a, b0 + WMAX - 1);
    gossip_state_stats(a, &s);
    assert_int_equal(s.counter_cells, 2);
    assert_digest_kept(a);
    gossip_state_expire(a, b0 + WMAX + 10000);
    gossip_state_stats(a, &s);
    assert_int_equal(s.counter_keys + s.counter_cells + s.sketch_keys, 0);
    uint64_t zero[GOSSIP_PARTITIONS] = {0}, d[GOSSIP_PARTITIONS];
    gossip_state_digest(a, d);
    assert_memory_equal(d, zero, sizeof d);
    gossip_state_destroy(&a);
}

static void test_merge_rejections(void **state)
{
    (void)state;
    struct gossip_state *a = mk(0, 0);
    int64_t now = T0;
    gossip_state_counter_add(a, "k", 5, now);
    struct gossip_writer w;
    gossip_writer_init(&w);
    int64_t b = gossip_state_bucket_of(a, now);
    gossip_writer_slot(&w, "k", b, ids[0]->origin, 100, 9);                  /* our own slot, inflated */
    gossip_writer_slot(&w, "k", b, ids[2]->origin, 102, 3);                  /* not the sender's */
    gossip_writer_slot(&w, "k", b + 120000, ids[1]->origin, 101, 3);         /* 2 min ahead */
    gossip_writer_slot(&w, "k", b - WMAX, ids[1]->origin, 101, 3);           /* outside the window */
    gossip_writer_slot(&w, "k", b + 1, ids[1]->origin, 101, 3);              /* not bucket-aligned */
    gossip_writer_slot(&w, "k", b, ids[1]->origin, 101, 4);                  /* fine */
    gossip_writer_slot(&w, "k", b, 0x1234, 101, 4);                          /* origin not in the keyring */
    struct gossip_body *body = NULL;
    assert_int_equal(gossip_body_decode((const uint8_t *)w.buf.data, w.buf.size, 0, &body), GOSSIP_WIRE_OK);
    struct gossip_merge_result res;
    gossip_state_merge(a, body, ids[1]->origin, GOSSIP_MERGE_SENDER_SLOTS_ONLY, now, &res);
    assert_int_equal(res.changed, 1);
    assert_int_equal(res.rej_foreign, 3);
    assert_int_equal(res.rej_future, 2);
    assert_int_equal(res.rej_expired, 1);
    assert_int_equal(res.rejected, 6);
    assert_int_equal(gossip_state_counter_total(a, "k", 60000, now), 9);
    /* Same body again: nothing changes. */
    gossip_state_merge(a, body, ids[1]->origin, GOSSIP_MERGE_SENDER_SLOTS_ONLY, now, &res);
    assert_int_equal(res.changed, 0);
    assert_int_equal(res.ignored, 1);
    gossip_body_destroy(&body);
    gossip_writer_fini(&w);
    gossip_state_destroy(&a);
}

static void test_cells_cap(void **state)
{
    (void)state;
    struct gossip_state *a = mk(0, 0);
    struct gossip_writer w;
    gossip_writer_init(&w);
    /* A peer inventing epochs: one key, one bucket, GOSSIP_STATE_MAX_CELLS + 10 slots. */
    int64_t b = gossip_state_bucket_of(a, T0);
    for (uint32_t e = 1; e <= GOSSIP_STATE_MAX_CELLS + 10; e++) gossip_writer_slot(&w, "k", b, ids[1]->origin, e, 1);
    struct gossip_body *body = NULL;
    assert_int_equal(gossip_body_decode((const uint8_t *)w.buf.data, w.buf.size, SIZE_MAX, &body), GOSSIP_WIRE_OK);
    struct gossip_merge_result res;
    gossip_state_merge(a, body, ids[1]->origin, GOSSIP_MERGE_SENDER_SLOTS_ONLY, T0, &res);
    assert_int_equal(res.changed, GOSSIP_STATE_MAX_CELLS);
    assert_int_equal(res.rej_cap, 10);
    /* Slots already held still merge. */
    gossip_writer_reset(&w);
    gossip_writer_slot(&w, "k", b, ids[1]->origin, 1, 5);
    gossip_body_destroy(&body);
    assert_int_equal(gossip_body_decode((const uint8_t *)w.buf.data, w.buf.size, 0, &body), GOSSIP_WIRE_OK);
    gossip_state_merge(a, body, ids[1]->origin, GOSSIP_MERGE_SENDER_SLOTS_ONLY, T0, &res);
    assert_int_equal(res.changed, 1);
    gossip_body_destroy(&body);
    /* Only a node's own cells go out in a sync: a receiver would refuse the others. */
    uint64_t cursor = 0;
    gossip_writer_reset(&w);
    assert_int_equal(gossip_state_export(a, UINT64_MAX, &cursor, &w, 1u << 20), 0);
    assert_int_equal(w.entries, 0);
    /* Node 1 holding as many cells of its own (its current epoch's empty slot is never taken from
     * outside): exporting that key splits it across chunks instead of overflowing one. */
    struct gossip_state *c = mk(1, 0);
    gossip_writer_reset(&w);
    for (uint32_t e = 1; e <= GOSSIP_STATE_MAX_CELLS + 10; e++) gossip_writer_slot(&w, "k", b, ids[1]->origin, e, 1);
    assert_int_equal(gossip_body_decode((const uint8_t *)w.buf.data, w.buf.size, SIZE_MAX, &body), GOSSIP_WIRE_OK);
    gossip_state_merge(c, body, ids[1]->origin, 0, T0, &res);
    assert_int_equal(res.changed, GOSSIP_STATE_MAX_CELLS);
    gossip_body_destroy(&body);
    cursor = 0;
    size_t got = 0, chunks = 0;
    int more;
    do {
        gossip_writer_reset(&w);
        more = gossip_state_export(c, UINT64_MAX, &cursor, &w, 4096);
        assert_true(w.buf.size <= 4096);
        got += w.entries;
        chunks++;
    } while (more);
    assert_int_equal(got, GOSSIP_STATE_MAX_CELLS);
    assert_true(chunks > 10);
    gossip_writer_fini(&w);
    gossip_state_destroy(&c);
    gossip_state_destroy(&a);
}

/* Marks of the publish queues (gossip_state_pending_mark): a mark is passed once every entry queued
 * before it has gone into a delta, in the order they were queued, and not before, whatever came
 * after it; the queue's front is cut off as it is taken, and what stays keeps its order. Counters
 * and sketches take turns in the frames: a counter queue longer than a frame does not hold the
 * sketches back. */
static void test_pending_marks(void **state)
{
    (void)state;
    struct gossip_state *a = mk(0, 0);
    char key[64];
    struct gossip_pending_mark empty, m1, m2;
    gossip_state_pending_mark(a, &empty);
    assert_true(gossip_state_pending_sent(a, &empty));
    for (int i = 0; i < 200; i++) {
        snprintf(key, sizeof key, "auth-ip|ip:10.1.0.%d", i);
        gossip_state_counter_add(a, key, 1, T0);
    }
    gossip_state_pending_mark(a, &m1);
    assert_false(gossip_state_pending_sent(a, &m1));
    assert_true(gossip_state_pending_sent(a, &empty));
    for (int i = 0; i < 200; i++) {   /* the same keys again: they stay where they were queued */
        snprintf(key, sizeof key, "auth-ip|ip:10.1.0.%d", i);
        gossip_state_counter_add(a, key, 1, T0);
    }
    assert_true(gossip_state_pending_sent(a, &empty) && !gossip_state_pending_sent(a, &m1));
    for (int i = 0; i < 100; i++) {
        snprintf(key, sizeof key, "auth-ip|ip:10.2.0.%d", i);
        gossip_state_counter_add(a, key, 1, T0);
    }
    gossip_state_distinct_add(a, "users|x", "alice", 5, T0);
    gossip_state_pending_mark(a, &m2);
    size_t total = 0, frames = 0, first_out = 0, sketch_frame = 0;
    struct gossip_writer w;
    gossip_writer_init(&w);
    for (;;) {
        gossip_writer_reset(&w);
        size_t got = gossip_state_take_delta(a, &w, 600);
        if (!got) break;
        total += got;
        frames++;
        struct gossip_body *b = NULL;
        assert_int_equal(gossip_body_decode((const uint8_t *)w.buf.data, w.buf.size, 0, &b), GOSSIP_WIRE_OK);
        for (size_t i = 0; i < b->n_slots; i++) first_out += strncmp(b->slots[i].key, "auth-ip|ip:10.1.", 16) == 0;
        if (b->n_sketches) sketch_frame = frames;
        gossip_body_destroy(&b);
        /* m1 is passed at the frame that took the last of the first 200 keys, not before */
        assert_int_equal(gossip_state_pending_sent(a, &m1), first_out == 200);
        assert_int_equal(gossip_state_pending_sent(a, &m2), gossip_state_pending(a) == 0);
    }
    gossip_writer_fini(&w);
    assert_int_equal(total, 301);
    assert_true(frames > 10);          /* several frames, so the front was cut off on the way */
    assert_int_equal(sketch_frame, 2); /* the first frame was all counters: the sketch starts the next */
    assert_true(gossip_state_pending_sent(a, &m1) && gossip_state_pending_sent(a, &m2));
    gossip_state_destroy(&a);
}

static void test_delta_limits_and_export_chunks(void **state)
{
    (void)state;
    struct gossip_state *a = mk(0, 0), *b = mk(1, 0);
    char key[64];
    for (int i = 0; i < 300; i++) {
        snprintf(key, sizeof key, "auth-ip|ip:10.0.%d.%d", i / 250, i % 250);
        gossip_state_counter_add(a, key, (uint64_t)i + 1, T0);
    }
    gossip_state_distinct_add(a, "users|x", "alice", 5, T0);
    assert_int_equal(gossip_state_pending(a), 301);
    size_t total = 0, frames = 0;
    for (;;) {
        struct gossip_writer w;
        gossip_writer_init(&w);
        size_t got = gossip_state_take_delta(a, &w, 1000);
        if (got) {
            assert_true(w.buf.size <= 1000);
            merge_bytes(b, &w, T0);
            frames++;
        }
        gossip_writer_fini(&w);
        if (!got) break;
        total += got;
    }
    assert_int_equal(total, 301);
    assert_true(frames > 5);
    assert_int_equal(gossip_state_pending(a), 0);
    for (int i = 0; i < 300; i++) {
        snprintf(key, sizeof key, "auth-ip|ip:10.0.%d.%d", i / 250, i % 250);
        assert_int_equal(gossip_state_counter_total(b, key, 60000, T0), (uint64_t)i + 1);
    }
    /* Export of some partitions, chunked by a cursor, gives exactly those keys. */
    uint64_t mask = 0x00000000ffff0000ULL, cursor = 0;
    size_t want = 0, got = 0;
    for (int i = 0; i < 300; i++) {
        snprintf(key, sizeof key, "auth-ip|ip:10.0.%d.%d", i / 250, i % 250);
        want += (mask >> gossip_state_partition(key)) & 1;
    }
    want += (mask >> gossip_state_partition("users|x")) & 1;
    int more;
    do {
        struct gossip_writer w;
        gossip_writer_init(&w);
        more = gossip_state_export(a, mask, &cursor, &w, 700);
        assert_true(w.buf.size <= 700);
        got += w.entries;
        gossip_writer_fini(&w);
    } while (more);
    assert_int_equal(got, want);
    gossip_state_destroy(&a);
    gossip_state_destroy(&b);
}

/* Takes one delta from a and merges it into b; returns the body's size. */
static size_t one_delta(struct gossip_state *a, struct gossip_state *b, bool *had_registers)
{
    struct gossip_writer w;
    gossip_writer_init(&w);
    gossip_state_take_delta(a, &w, 65536);
    struct gossip_body *body = NULL;
    assert_int_equal(gossip_body_decode((const uint8_t *)w.buf.data, w.buf.size, 0, &body), GOSSIP_WIRE_OK);
    *had_registers = body->n_sketches && gossip_sketch_registers(body->sketches[0].sketch);
    gossip_state_merge(b, body, 0, 0, T0, NULL);
    gossip_body_destroy(&body);
    size_t n = w.buf.size;
    gossip_writer_fini(&w);
    return n;
}

static void test_sketch_deltas_carry_new_items(void **state)
{
    (void)state;
    struct gossip_state *a = mk(0, 0), *b = mk(1, 0);
    char item[32];
    bool reg;
    /* 40 new items since the last delta: past the cap, the whole HyperLogLog goes. */
    for (int i = 0; i < 40; i++) {
        snprintf(item, sizeof item, "user%d", i);
        gossip_state_distinct_add(a, "users|ip:203.0.113.7", item, strlen(item), T0);
    }
    assert_true(one_delta(a, b, &reg) > GOSSIP_SKETCH_HLL_M);
    assert_true(reg);
    /* Then 3 more: only their hashes travel, and b still ends equal to a. */
    for (int i = 40; i < 43; i++) {
        snprintf(item, sizeof item, "user%d", i);
        gossip_state_distinct_add(a, "users|ip:203.0.113.7", item, strlen(item), T0);
    }
    gossip_state_distinct_add(a, "users|ip:203.0.113.7", "user1", 5, T0);   /* no change, not sent */
    assert_true(one_delta(a, b, &reg) < 64);
    assert_false(reg);
    assert_same(a, b);
    assert_int_equal(gossip_state_pending(a), 0);
    gossip_state_destroy(&a);
    gossip_state_destroy(&b);
}

static void test_key_cap_evicts_oldest(void **state)
{
    (void)state;
    struct gossip_state *a = mk(0, 100);
    char key[32];
    for (int i = 0; i < 150; i++) {
        snprintf(key, sizeof key, "k%d", i);
        gossip_state_counter_add(a, key, 1, T0 + i * (int64_t)BUCKET);
    }
    struct gossip_state_stats s;
    gossip_state_stats(a, &s);
    assert_int_equal(s.counter_keys, 100);
    assert_int_equal(s.evicted, 50);
    assert_digest_kept(a);
    assert_true(s.mem_bytes > 100 * 40);
    /* Sampling evicts old keys: the newest ten always survive. */
    for (int i = 140; i < 150; i++) {
        snprintf(key, sizeof key, "k%d", i);
        assert_int_equal(gossip_state_counter_total(a, key, WMAX, T0 + 150 * (int64_t)BUCKET), 1);
    }
    gossip_state_destroy(&a);
}

/* What the agent serves (gossip_state_stats_recent) walks nothing: the key counts are current, the rest is
 * the census of the last complete pass of the expiry slices, which then equals a full walk. */
static void test_stats_recent_from_expiry_passes(void **state)
{
    (void)state;
    struct gossip_state *a = mk(0, 0);
    char key[48];
    int64_t now = T0 + 10 * (int64_t)BUCKET;
    for (int i = 0; i < 3000; i++) {
        snprintf(key, sizeof key, "auth-ip|ip:10.0.%d.%d", i / 256, i % 256);
        gossip_state_counter_add(a, key, 1, now - (i % 3) * (int64_t)BUCKET);
        gossip_state_counter_add(a, key, 1, now);
        if (i % 10 == 0) {
            snprintf(key, sizeof key, "auth-users|ip:10.0.%d.%d", i / 256, i % 256);
            gossip_state_distinct_add(a, key, "alice", 5, now);
        }
        if (i % 100 == 0) {
            snprintf(key, sizeof key, "ip:10.0.%d.%d", i / 256, i % 256);
            bool ban = i % 200 != 0;
            struct gossip_ban_spec sp = {.key = key, .action = ban ? GOSSIP_BAN_ACTION_BAN : GOSSIP_BAN_ACTION_UNBAN,
                                         .kind = GOSSIP_BAN_KIND_BLOCK, .expires_at = ban ? now + 600000 : 0,
                                         .level = 1, .reason = "test", .scenario = "auth-ip"};
            assert_int_equal(gossip_state_ban_put(a, &sp, now, NULL), 0);
        }
    }
    struct gossip_state_stats full, recent;
    gossip_state_stats(a, &full);
    assert_int_equal(full.counter_keys, 3000);
    assert_true(full.counter_cells > 3000 && full.sketch_keys == 300 && full.bans == 15 && full.tombstones == 15);
    gossip_state_stats_recent(a, &recent);
    assert_int_equal(recent.counter_keys, 3000);   /* current */
    assert_int_equal(recent.sketch_keys, 300);
    assert_int_equal(recent.counter_cells + recent.bans, 0);   /* no pass yet */
    assert_true(recent.mem_bytes < full.mem_bytes);
    /* Half a pass publishes nothing; a whole one publishes what a full walk finds. */
    for (int i = 0; i < 3; i++) gossip_state_expire_slice(a, now, 8);
    gossip_state_stats_recent(a, &recent);
    assert_int_equal(recent.counter_cells, 0);
    for (int i = 3; i < 8; i++) gossip_state_expire_slice(a, now, 8);
    gossip_state_stats_recent(a, &recent);
    assert_memory_equal(&recent, &full, sizeof full);
    gossip_state_destroy(&a);
}

static void test_snapshot_roundtrip(void **state)
{
    (void)state;
    struct gossip_state *r[MAXR];
    uint64_t expect[sizeof ckeys / sizeof ckeys[0]];
    int64_t now = random_run(7, 3, r, expect);
    full_exchange(r, 3, now);
    char dir[] = "/tmp/test_gossip_state.XXXXXX", path[64];
    assert_non_null(mkdtemp(dir));
    snprintf(path, sizeof path, "%s/state.snap", dir);
    assert_int_equal(gossip_state_save(r[0], path), 0);
    /* Node 0 restarts: new epoch, state restored from the snapshot, then it counts on. */
    struct gossip_state_config cfg;
    gossip_state_config_default(&cfg);
    cfg.bucket_ms = BUCKET;
    cfg.window_max_ms = WMAX;
    struct gossip_state *again = gossip_state_new(&cfg, ids[0], kr, 999);
    assert_int_equal(gossip_state_load(again, path, now), 0);
    assert_same(r[0], again);
    gossip_state_counter_add(again, ckeys[0], 1, now);
    assert_int_equal(gossip_state_counter_total(again, ckeys[0], WMAX, now), expect[0] + 1);
    assert_int_equal(gossip_state_load(again, "/nonexistent/x", now), -1);
    /* A keyring without our own key still restores our own slots and records. */
    struct gossip_keyring *peers = gossip_keyring_new();
    for (int i = 1; i <= MAXR; i++) gossip_keyring_add_identity(peers, ids[i]);
    struct gossip_state *alone = gossip_state_new(&cfg, ids[0], peers, 1000);
    assert_int_equal(gossip_state_load(alone, path, now), 0);
    assert_same(r[0], alone);
    gossip_state_destroy(&alone);
    gossip_keyring_destroy(&peers);
    unlink(path);
    rmdir(dir);
    gossip_state_destroy(&again);
    for (int i = 0; i < 3; i++) gossip_state_destroy(&r[i]);
}

/* BUCKET and WMAX, with long-lived sketch keys and limit counters kept as given (0: not apart). */
static struct gossip_state_config windowed(int64_t long_window_ms, int64_t throttle_window_ms)
{
    struct gossip_state_config cfg;
    gossip_state_config_default(&cfg);
    cfg.bucket_ms = BUCKET;
    cfg.window_max_ms = WMAX;
    cfg.long_window_ms = long_window_ms;
    cfg.throttle_window_ms = throttle_window_ms;
    return cfg;
}

/* The sending limits' counters are kept their own horizon (a day here), every other counter WMAX;
 * their buckets read back summed over writers. */
static void test_throttle_counters_kept(void **state)
{
    (void)state;
    const int64_t day = 86400000LL;
    struct gossip_state_config cfg = windowed(0, day);
    struct gossip_state *a = gossip_state_new(&cfg, ids[0], kr, 100);
    assert_non_null(a);
    const char *thr = "thr-msg-sub|user:alice", *plain = "auth|ip:203.0.113.50";
    assert_int_equal(gossip_state_counter_add(a, thr, 3, T0), 0);
    assert_int_equal(gossip_state_counter_add(a, thr, 2, T0 + BUCKET), 0);
    assert_int_equal(gossip_state_counter_add(a, plain, 1, T0), 0);
    gossip_state_expire(a, T0 + WMAX + 2 * BUCKET);
    assert_int_equal(gossip_state_counter_total(a, plain, day, T0 + WMAX + 2 * BUCKET), 0);
    assert_int_equal(gossip_state_counter_total(a, thr, day, T0 + WMAX + 2 * BUCKET), 5);
    struct gossip_bucket_sum v[4];
    int64_t b0 = gossip_state_bucket_of(a, T0);
    assert_int_equal(gossip_state_counter_buckets(a, thr, b0, b0 + day, v, 4), 2);
    assert_int_equal(v[0].bucket, b0);
    assert_int_equal(v[0].count, 3);
    assert_int_equal(v[1].count, 2);
    assert_int_equal(gossip_state_counter_buckets(a, thr, b0, b0 + day, v, 1), 1);   /* the newest kept */
    assert_int_equal(v[0].count, 2);
    gossip_state_expire(a, T0 + day + 2 * BUCKET);
    assert_int_equal(gossip_state_counter_total(a, thr, day, T0 + day + 2 * BUCKET), 0);
    gossip_state_destroy(&a);
}

/* Long-lived sketch keys (known-good addresses): day buckets kept 30 days, merged from a peer 20 days
 * late while an ordinary key's bucket of the same age is refused; expiry keeps them for their window;
 * membership is exact while a day holds at most GOSSIP_SKETCH_EXACT_MAX items, and says no beyond. */
static void test_long_lived_keys(void **state)
{
    (void)state;
    const int64_t day = 86400000LL;
    struct gossip_state_config cfg = windowed(30 * day, 0);
    struct gossip_state *a = gossip_state_new(&cfg, ids[0], kr, 100), *b = gossip_state_new(&cfg, ids[1], kr, 101);
    assert_non_null(a);
    assert_non_null(b);
    const char *good = "goodaddrs|user:mum", *plain = "okusers|ip:203.0.113.50";
    assert_int_equal(gossip_state_distinct_add(a, good, "203.0.113.50", 12, T0), 0);
    assert_int_equal(gossip_state_distinct_add(a, plain, "mum", 3, T0), 0);
    struct gossip_writer w;
    gossip_writer_init(&w);
    gossip_state_take_delta(a, &w, 65536);
    struct gossip_body *body = NULL;
    assert_int_equal(gossip_body_decode((const uint8_t *)w.buf.data, w.buf.size, 0, &body), GOSSIP_WIRE_OK);
    struct gossip_merge_result res;
    gossip_state_merge(b, body, ids[0]->origin, 0, T0 + 20 * day, &res);
    assert_int_equal(res.changed, 1);
    assert_int_equal(res.rej_expired, 1);
    gossip_body_destroy(&body);
    gossip_writer_fini(&w);
    assert_true(gossip_state_distinct_has(b, good, "203.0.113.50", 12, 30 * day, T0 + 20 * day));
    assert_false(gossip_state_distinct_has(b, good, "203.0.113.51", 12, 30 * day, T0 + 20 * day));
    assert_int_equal(gossip_state_distinct_count(b, plain, WMAX, T0 + 20 * day), 0);
    /* Expiry: the ordinary key goes after WMAX, the long-lived one after its 30 days. */
    gossip_state_expire(a, T0 + 20 * day);
    assert_int_equal(gossip_state_distinct_count(a, plain, WMAX, T0), 0);
    assert_true(gossip_state_distinct_has(a, good, "203.0.113.50", 12, 30 * day, T0 + 20 * day));
    gossip_state_expire(a, T0 + 31 * day);
    assert_false(gossip_state_distinct_has(a, good, "203.0.113.50", 12, 30 * day, T0 + 31 * day));
    /* A day with more addresses than the exact cap keeps a count only: nothing known from it. */
    char item[32];
    for (int i = 0; i < GOSSIP_SKETCH_EXACT_MAX + 8; i++) {
        snprintf(item, sizeof item, "198.51.100.%d", i);
        gossip_state_distinct_add(a, good, item, strlen(item), T0 + 40 * day);
    }
    assert_false(gossip_state_distinct_has(a, good, "198.51.100.0", 12, 30 * day, T0 + 40 * day));
    assert_true(gossip_state_distinct_count(a, good, 30 * day, T0 + 40 * day) >= GOSSIP_SKETCH_EXACT_MAX);
    gossip_state_destroy(&a);
    gossip_state_destroy(&b);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_replicas_converge),
        cmocka_unit_test(test_merge_algebra),
        cmocka_unit_test(test_window_edges),
        cmocka_unit_test(test_merge_rejections),
        cmocka_unit_test(test_cells_cap),
        cmocka_unit_test(test_delta_limits_and_export_chunks),
        cmocka_unit_test(test_pending_marks),
        cmocka_unit_test(test_sketch_deltas_carry_new_items),
        cmocka_unit_test(test_key_cap_evicts_oldest),
        cmocka_unit_test(test_stats_recent_from_expiry_passes),
        cmocka_unit_test(test_snapshot_roundtrip),
        cmocka_unit_test(test_long_lived_keys),
        cmocka_unit_test(test_throttle_counters_kept),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
