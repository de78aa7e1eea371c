/* test_gossip_sync.c: the sync's descent from partitions to leaves: the leaf sums kept on every
 * change equal a recomputation and add up to the partition digests; an exchange run through the real
 * SYNC_LEAVES codec (digest, leaf sums, pull, entries of the leaves that differ) leaves two replicas
 * identical while sending only the entries of the leaves that differ; and the SYNC_LEAVES decoder
 * refuses every truncation, wrong length, role, mask and trailing byte with its code. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "gossip/state.h"
#include "gossip/state_int.h"   /* gossip_state_leaves_full: the definition the kept sums must match */
#include "tests/support/two_keys.h"

#define T0 1700000000000LL

static int setup(void **state)
{
    (void)state;
    return two_keys_setup("a", 0x41, "b", 0x42, true);
}

static void add_keys(struct gossip_state *st, unsigned from, unsigned to, int64_t now)
{
    char key[64];
    for (unsigned i = from; i < to; i++) {
        snprintf(key, sizeof key, "auth-ip|ip:10.%u.%u.%u", (i >> 16) & 255, (i >> 8) & 255, i & 255);
        gossip_state_counter_add(st, key, 1 + i % 3, now - (int64_t)(i % 5) * 10000);
        if (i % 7 == 0) {
            snprintf(key, sizeof key, "users|ip:10.%u.%u.%u", (i >> 16) & 255, (i >> 8) & 255, i & 255);
            gossip_state_distinct_add(st, key, "alice", 5, now);
        }
        if (i % 11 == 0) {
            snprintf(key, sizeof key, "ip:10.%u.%u.%u", (i >> 16) & 255, (i >> 8) & 255, i & 255);
            struct gossip_ban_spec sp = { .key = key, .action = GOSSIP_BAN_ACTION_BAN,
                                          .kind = GOSSIP_BAN_KIND_BLOCK, .expires_at = now + 3600000 };
            gossip_state_ban_put(st, &sp, now, NULL);
        }
    }
}

static void assert_leaves_kept(const struct gossip_state *st)
{
    uint64_t *full = malloc(GOSSIP_SYNC_LEAVES * sizeof *full);
    gossip_state_leaves_full(st, full);
    uint64_t parts[GOSSIP_PARTITIONS], sum[GOSSIP_PARTITIONS] = { 0 };
    gossip_state_digest(st, parts);
    for (unsigned p = 0; p < GOSSIP_PARTITIONS; p++) {
        uint64_t leaf[GOSSIP_SYNC_FANOUT];
        gossip_state_digest_leaves(st, p, leaf);
        for (unsigned s = 0; s < GOSSIP_SYNC_FANOUT; s++) {
            assert_true(leaf[s] == full[p + GOSSIP_PARTITIONS * s]);
            sum[p] += leaf[s];
        }
    }
    assert_memory_equal(parts, sum, sizeof sum);
    free(full);
}

/* Kept sums equal the recomputed ones after adds, merges, bans, unbans and expiry. */
static void test_leaves_kept(void **state)
{
    (void)state;
    struct gossip_state *a = gossip_state_new(NULL, ida, kr, 1);
    add_keys(a, 0, 3000, T0);
    assert_leaves_kept(a);
    struct gossip_ban_spec un = { .key = "ip:10.0.0.0", .action = GOSSIP_BAN_ACTION_UNBAN };
    assert_int_equal(gossip_state_ban_put(a, &un, T0 + 1, NULL), 0);
    assert_leaves_kept(a);
    gossip_state_expire(a, T0 + 3600000 + 20000);
    assert_leaves_kept(a);
    uint64_t leaf[GOSSIP_SYNC_FANOUT];
    gossip_state_digest_leaves(a, GOSSIP_PARTITIONS, leaf);   /* out of range: zeros, no read past */
    for (unsigned s = 0; s < GOSSIP_SYNC_FANOUT; s++) assert_true(leaf[s] == 0);
    gossip_state_destroy(&a);
}

/* Runs "from's entries of the leaves in want" into to, through bodies of at most 16 KiB; returns the
 * entries sent. */
static size_t send_leaves(struct gossip_state *from, struct gossip_state *to, const uint8_t *want, uint64_t sender)
{
    struct gossip_writer w;
    gossip_writer_init(&w);
    uint64_t cursor = 0;
    size_t entries = 0;
    int more;
    do {
        gossip_writer_reset(&w);
        more = gossip_state_export_leaves(from, want, &cursor, &w, 16384);
        assert_true(w.buf.size <= 16384);
        entries += w.entries;
        struct gossip_body *b = NULL;
        assert_int_equal(gossip_body_decode((const uint8_t *)w.buf.data, w.buf.size, 0, &b), GOSSIP_WIRE_OK);
        gossip_state_merge(to, b, sender, GOSSIP_MERGE_SENDER_SLOTS_ONLY, T0, NULL);
        gossip_body_destroy(&b);
    } while (more);
    gossip_writer_fini(&w);
    return entries;
}

/* The exchange of transport_sync.c, frame bodies through the real codec: a asks, b answers with the
 * leaf sums of the partitions that differ, a pulls the leaves that differ and sends its own, b sends
 * its own. Returns the entries sent both ways; *leaves gets how many leaves differed. */
static size_t exchange(struct gossip_state *a, struct gossip_state *b, size_t *leaves)
{
    uint64_t da[GOSSIP_PARTITIONS], db[GOSSIP_PARTITIONS], mask = 0;
    gossip_state_digest(a, da);
    gossip_state_digest(b, db);
    for (unsigned p = 0; p < GOSSIP_PARTITIONS; p++)
        if (da[p] != db[p]) mask |= 1ULL << p;
    *leaves = 0;
    if (!mask) return 0;
    struct gossip_writer w;
    gossip_writer_init(&w);
    uint8_t *sums = malloc((size_t)__builtin_popcountll(mask) * GOSSIP_SYNC_LEAF_BYTES);
    struct gossip_sync_leaves m = { .role = 0, .recipient = ida->origin, .mask = mask, .bin = sums };
    m.bin_len = gossip_state_leaf_sums(b, mask, sums);
    assert_int_equal(gossip_wire_sync_leaves_encode(&m, &w), 0);
    struct gossip_sync_leaves got;
    assert_int_equal(gossip_wire_sync_leaves_decode((const uint8_t *)w.buf.data, w.buf.size, &got), GOSSIP_WIRE_OK);
    assert_true(got.mask == mask && got.recipient == ida->origin && got.role == 0);
    uint8_t want[GOSSIP_SYNC_PULL_BYTES];
    *leaves = gossip_state_leaves_differ(a, got.mask, got.bin, want);
    struct gossip_sync_leaves pull = { .role = 1, .recipient = idb->origin, .bin = want, .bin_len = sizeof want };
    assert_int_equal(gossip_wire_sync_leaves_encode(&pull, &w), 0);
    assert_int_equal(gossip_wire_sync_leaves_decode((const uint8_t *)w.buf.data, w.buf.size, &got), GOSSIP_WIRE_OK);
    assert_memory_equal(got.bin, want, sizeof want);
    size_t n = send_leaves(a, b, want, ida->origin);
    n += send_leaves(b, a, got.bin, idb->origin);
    free(sums);
    gossip_writer_fini(&w);
    return n;
}

static size_t entries_of(const struct gossip_state *st)
{
    struct gossip_state_stats s;
    gossip_state_stats(st, &s);
    return s.counter_cells + s.sketch_buckets + s.bans + s.tombstones;
}

static void assert_same_digest(const struct gossip_state *a, const struct gossip_state *b)
{
    uint64_t da[GOSSIP_PARTITIONS], db[GOSSIP_PARTITIONS];
    gossip_state_digest(a, da);
    gossip_state_digest(b, db);
    assert_memory_equal(da, db, sizeof da);
}

/* A few keys missing among 40,000: every partition differs, but only the leaves of those keys travel,
 * and one exchange makes the replicas equal. Then each side holds something the other lacks. */
static void test_descent_sends_only_differing_leaves(void **state)
{
    (void)state;
    struct gossip_state *a = gossip_state_new(NULL, ida, kr, 1), *b = gossip_state_new(NULL, idb, kr, 1);
    add_keys(b, 0, 40000, T0);
    uint8_t all[GOSSIP_SYNC_PULL_BYTES];
    memset(all, 0xff, sizeof all);
    send_leaves(b, a, all, idb->origin);   /* a holds what b held */
    assert_same_digest(a, b);
    size_t leaves;
    assert_int_equal(exchange(a, b, &leaves), 0);   /* equal: nothing moves */
    assert_int_equal(leaves, 0);

    add_keys(b, 40000, 40200, T0);   /* 200 keys, some with a sketch and a ban: every partition differs */
    uint64_t da[GOSSIP_PARTITIONS], db[GOSSIP_PARTITIONS];
    gossip_state_digest(a, da);
    gossip_state_digest(b, db);
    int differ = 0;
    for (unsigned p = 0; p < GOSSIP_PARTITIONS; p++) differ += da[p] != db[p];
    assert_true(differ > 60);
    size_t sent = exchange(a, b, &leaves);
    assert_true(leaves > 0 && leaves <= 200 + 200 / 7 + 200 / 11 + 1);
    /* a leaf holds about 40,000 / 16,384 keys: far less than the state, which is what 64 partitions sent */
    assert_true(sent < entries_of(b) / 20);
    assert_same_digest(a, b);
    uint8_t *ea, *eb;
    size_t la, lb;
    gossip_state_encode(a, &ea, &la);
    gossip_state_encode(b, &eb, &lb);
    assert_true(la == lb && memcmp(ea, eb, la) == 0);
    free(ea);
    free(eb);

    /* both ways: a writes its own keys, b more of its own; one exchange mends both */
    add_keys(a, 50000, 50100, T0);
    add_keys(b, 60000, 60100, T0);
    exchange(a, b, &leaves);
    assert_same_digest(a, b);
    assert_leaves_kept(a);
    assert_leaves_kept(b);
    gossip_state_destroy(&a);
    gossip_state_destroy(&b);
}

/* export(mask) is export_leaves(the leaves of mask): same bytes. */
static void test_export_mask_is_its_leaves(void **state)
{
    (void)state;
    struct gossip_state *b = gossip_state_new(NULL, idb, kr, 1);
    add_keys(b, 0, 2000, T0);
    uint64_t mask = 0x8000000000000005ULL;
    uint8_t leaves[GOSSIP_SYNC_PULL_BYTES] = { 0 };
    for (unsigned l = 0; l < GOSSIP_SYNC_LEAVES; l++)
        if (mask >> (l % GOSSIP_PARTITIONS) & 1) leaves[l / 8] |= (uint8_t)(1u << (l % 8));
    struct gossip_writer w1, w2;
    gossip_writer_init(&w1);
    gossip_writer_init(&w2);
    uint64_t c1 = 0, c2 = 0;
    while (gossip_state_export(b, mask, &c1, &w1, SIZE_MAX)) {}
    while (gossip_state_export_leaves(b, leaves, &c2, &w2, SIZE_MAX)) {}
    assert_true(w1.entries > 0);
    assert_int_equal(w1.buf.size, w2.buf.size);
    assert_memory_equal(w1.buf.data, w2.buf.data, w1.buf.size);
    gossip_writer_fini(&w1);
    gossip_writer_fini(&w2);
    gossip_state_destroy(&b);
}

/* ---- the SYNC_LEAVES codec ---- */

static size_t encode(const struct gossip_sync_leaves *m, uint8_t *out, size_t cap)
{
    struct gossip_writer w;
    gossip_writer_init(&w);
    assert_int_equal(gossip_wire_sync_leaves_encode(m, &w), 0);
    assert_true(w.buf.size <= cap);
    memcpy(out, w.buf.data, w.buf.size);
    size_t n = w.buf.size;
    gossip_writer_fini(&w);
    return n;
}

static void test_leaves_codec(void **state)
{
    (void)state;
    static uint8_t bin[GOSSIP_PARTITIONS * GOSSIP_SYNC_LEAF_BYTES], body[sizeof bin + 64];
    for (size_t i = 0; i < sizeof bin; i++) bin[i] = (uint8_t)(i * 31);
    struct gossip_sync_leaves got;
    /* every mask size: one partition (bin 16), all 64 (bin 32), and a pull */
    const uint64_t masks[] = { 1, 0x00ff00ff00ff00ffULL, ~0ULL };
    for (size_t k = 0; k < 3; k++) {
        struct gossip_sync_leaves m = { .role = 0, .recipient = UINT64_MAX - k, .mask = masks[k], .bin = bin,
                                        .bin_len = (size_t)__builtin_popcountll(masks[k]) * GOSSIP_SYNC_LEAF_BYTES };
        size_t n = encode(&m, body, sizeof body);
        assert_int_equal(gossip_wire_sync_leaves_decode(body, n, &got), GOSSIP_WIRE_OK);
        assert_true(got.role == 0 && got.recipient == m.recipient && got.mask == m.mask && got.bin_len == m.bin_len);
        assert_memory_equal(got.bin, bin, m.bin_len);
        /* every truncation and a trailing byte */
        for (size_t cut = 0; cut < n; cut++)
            assert_int_not_equal(gossip_wire_sync_leaves_decode(body, cut, &got), GOSSIP_WIRE_OK);
        body[n] = 0;
        assert_int_equal(gossip_wire_sync_leaves_decode(body, n + 1, &got), GOSSIP_WIRE_ELENGTH);
    }
    struct gossip_sync_leaves pull = { .role = 1, .recipient = 7, .bin = bin, .bin_len = GOSSIP_SYNC_PULL_BYTES };
    size_t n = encode(&pull, body, sizeof body);
    assert_int_equal(gossip_wire_sync_leaves_decode(body, n, &got), GOSSIP_WIRE_OK);
    assert_true(got.role == 1 && got.mask == 0 && got.bin_len == GOSSIP_SYNC_PULL_BYTES);
    /* every bit flip of the head (before the bin): refused or read as another valid message, never past the end */
    for (size_t i = 0; i < 16 && i < n; i++)
        for (int bit = 0; bit < 8; bit++) {
            body[i] ^= (uint8_t)(1u << bit);
            if (gossip_wire_sync_leaves_decode(body, n, &got) == GOSSIP_WIRE_OK)
                assert_true(got.bin + got.bin_len == body + n);
            body[i] ^= (uint8_t)(1u << bit);
        }
    /* the encoder refuses what the decoder would */
    struct gossip_writer w;
    gossip_writer_init(&w);
    struct gossip_sync_leaves bad[] = {
        { .role = 0, .mask = 0, .bin = bin, .bin_len = 0 },                           /* no partition */
        { .role = 0, .mask = 3, .bin = bin, .bin_len = GOSSIP_SYNC_LEAF_BYTES },        /* short */
        { .role = 1, .mask = 1, .bin = bin, .bin_len = GOSSIP_SYNC_PULL_BYTES },        /* a pull with a mask */
        { .role = 1, .mask = 0, .bin = bin, .bin_len = GOSSIP_SYNC_PULL_BYTES - 1 },
        { .role = 2, .mask = 0, .bin = bin, .bin_len = GOSSIP_SYNC_PULL_BYTES },
    };
    for (size_t k = 0; k < sizeof bad / sizeof bad[0]; k++)
        assert_int_equal(gossip_wire_sync_leaves_encode(&bad[k], &w), -1);
    gossip_writer_fini(&w);
    /* hand-made bodies: role 2, a bin shorter than the mask says, a negative integer, a map */
    const uint8_t role2[] = { 0x94, 0x02, 0x00, 0x00, 0xc4, 0x00 };
    assert_int_equal(gossip_wire_sync_leaves_decode(role2, sizeof role2, &got), GOSSIP_WIRE_EFIELD);
    const uint8_t shortbin[] = { 0x94, 0x00, 0x00, 0x01, 0xc5, 0x00, 0x08 };
    assert_int_equal(gossip_wire_sync_leaves_decode(shortbin, sizeof shortbin, &got), GOSSIP_WIRE_EFIELD);
    const uint8_t lying[] = { 0x94, 0x00, 0x00, 0x01, 0xc6, 0x00, 0x00, 0x08, 0x00 };   /* 2048 declared, 0 there */
    assert_int_equal(gossip_wire_sync_leaves_decode(lying, sizeof lying, &got), GOSSIP_WIRE_ETRUNCATED);
    const uint8_t neg[] = { 0x94, 0xff, 0x00, 0x00, 0xc4, 0x00 };
    assert_int_equal(gossip_wire_sync_leaves_decode(neg, sizeof neg, &got), GOSSIP_WIRE_EMALFORMED);
    const uint8_t map[] = { 0x84, 0x00, 0x00, 0x00, 0x00 };
    assert_int_equal(gossip_wire_sync_leaves_decode(map, sizeof map, &got), GOSSIP_WIRE_EMALFORMED);
    assert_int_equal(gossip_wire_sync_leaves_decode(map, 0, &got), GOSSIP_WIRE_EMALFORMED);
}

/* The merge's scattered order is a permutation, and neighbours in a body land far apart whatever
 * its size: a body in table order merged nearly in order piles keys onto one run of slots. */
static void test_merge_order_scatters(void **state)
{
    (void)state;
    static const size_t sizes[] = {1024, 4096, 999983, 1000000, 1000003, 1999966, 2000006, 1 << 20};
    for (size_t s = 0; s < sizeof sizes / sizeof sizes[0]; s++) {
        size_t n = sizes[s];
        uint8_t *seen = calloc(n, 1);
        size_t prev = gossip_state_merge_index(0, n), min_gap = n;
        seen[prev] = 1;
        for (size_t k = 1; k < n; k++) {
            size_t j = gossip_state_merge_index(k, n);
            assert_true(j < n);
            assert_int_equal(seen[j], 0);
            seen[j] = 1;
            size_t gap = j > prev ? j - prev : prev - j;
            if (gap < min_gap) min_gap = gap;
            prev = j;
        }
        if (min_gap < n / 8) fail_msg("n=%zu: neighbours %zu apart", n, min_gap);
        free(seen);
    }
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_merge_order_scatters),
        cmocka_unit_test(test_leaves_kept),
        cmocka_unit_test(test_descent_sends_only_differing_leaves),
        cmocka_unit_test(test_export_mask_is_its_leaves),
        cmocka_unit_test(test_leaves_codec),
    };
    return cmocka_run_group_tests(tests, setup, two_keys_teardown);
}
