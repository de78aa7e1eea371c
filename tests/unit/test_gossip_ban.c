/* test_gossip_ban.c: the last-writer-wins ban map: unban beats an older ban and loses to a newer one
 * in either delivery order, ties are deterministic, tombstones are collected when due, and forged,
 * foreign, future and stale records are refused. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/key.h"
#include "gossip/state.h"
#include "gossip/state_int.h"   /* gossip_state_digest_full */

#define T0 1700000000000LL
#define GRACE 600000

static struct gossip_identity *ida, *idb, *idc, *stranger;
static struct gossip_keyring *kr;

static int setup(void **state)
{
    (void)state;
    uint8_t seed[32];
    struct gossip_identity **all[] = {&ida, &idb, &idc, &stranger};
    const char *names[] = {"a", "b", "c", "x"};
    kr = gossip_keyring_new();
    for (int i = 0; i < 4; i++) {
        memset(seed, 0x40 + i, sizeof seed);
        *all[i] = gossip_identity_from_seed(names[i], seed);
        if (i < 3) assert_int_equal(gossip_keyring_add_identity(kr, *all[i]), 0);
    }
    return 0;
}

static int teardown(void **state)
{
    (void)state;
    gossip_identity_destroy(&ida);
    gossip_identity_destroy(&idb);
    gossip_identity_destroy(&idc);
    gossip_identity_destroy(&stranger);
    gossip_keyring_destroy(&kr);
    return 0;
}

static struct gossip_state *mk(const struct gossip_identity *id)
{
    struct gossip_state_config cfg;
    gossip_state_config_default(&cfg);
    cfg.ban_grace_ms = GRACE;
    return gossip_state_new(&cfg, id, kr, 1);
}

static struct gossip_ban put(struct gossip_state *st, const char *key, uint8_t action, int64_t exp, int64_t now)
{
    struct sg_key k;
    assert_int_equal(sg_key_parse(key, &k), 0);
    struct gossip_ban_spec sp = {.key = key, .action = action, .kind = (uint8_t)k.kind, .expires_at = exp,
                                 .level = 1, .reason = "12 auth failures in 10m", .scenario = "auth-ip"};
    struct gossip_ban out;
    assert_int_equal(gossip_state_ban_put(st, &sp, now, &out), 0);
    return out;
}

/* Merges records into st; returns the merge result. */
static struct gossip_merge_result merge(struct gossip_state *st, const struct gossip_ban *recs, size_t n, int64_t now)
{
    struct gossip_writer w;
    gossip_writer_init(&w);
    for (size_t i = 0; i < n; i++) assert_int_equal(gossip_writer_ban(&w, &recs[i]), 0);
    struct gossip_body *b = NULL;
    assert_int_equal(gossip_body_decode((const uint8_t *)w.buf.data, w.buf.size, 0, &b), GOSSIP_WIRE_OK);
    struct gossip_merge_result res;
    gossip_state_merge(st, b, 0, 0, now, &res);
    gossip_body_destroy(&b);
    gossip_writer_fini(&w);
    return res;
}

static int calls;
static struct gossip_ban last_cb;
static void on_ban(const struct gossip_ban *b, void *arg)
{
    (void)arg;
    calls++;
    last_cb = *b;
}

static void test_unban_vs_ban_both_orders(void **state)
{
    (void)state;
    const char *k = "ip:203.0.113.7";
    struct gossip_state *a = mk(ida), *b = mk(idb);
    struct gossip_ban ban = put(a, k, GOSSIP_BAN_ACTION_BAN, T0 + 3600000, T0);
    assert_true(ban.author == ida->origin);
    assert_non_null(gossip_state_ban_active(a, k, T0 + 1));
    /* b learns the ban, then unbans later: the unban inherits the ban's expiry. */
    merge(b, &ban, 1, T0 + 100);
    struct gossip_ban unban = put(b, k, GOSSIP_BAN_ACTION_UNBAN, 0, T0 + 1000);
    assert_true(unban.hlc > ban.hlc);
    assert_int_equal(unban.expires_at, ban.expires_at);
    /* c, after a re-ban by a that came later still: the newest wins whatever the order. */
    struct gossip_state *a2 = mk(ida);
    merge(a2, &unban, 1, T0 + 2000);
    struct gossip_ban reban = put(a2, k, GOSSIP_BAN_ACTION_BAN, T0 + 7200000, T0 + 2000);
    assert_true(reban.hlc > unban.hlc);
    struct gossip_ban o1[] = {ban, unban}, o2[] = {unban, ban};
    struct gossip_state *c1 = mk(idc), *c2 = mk(idc);
    merge(c1, o1, 2, T0 + 3000);
    merge(c2, o2, 2, T0 + 3000);
    assert_int_equal(gossip_state_ban_get(c1, k)->action, GOSSIP_BAN_ACTION_UNBAN);
    assert_int_equal(gossip_state_ban_get(c2, k)->action, GOSSIP_BAN_ACTION_UNBAN);
    assert_null(gossip_state_ban_active(c1, k, T0 + 3000));
    struct gossip_ban o3[] = {reban, unban, ban}, o4[] = {ban, unban, reban};
    merge(c1, o3, 3, T0 + 3000);
    merge(c2, o4, 3, T0 + 3000);
    assert_memory_equal(gossip_state_ban_get(c1, k), &reban, sizeof reban);
    assert_memory_equal(gossip_state_ban_get(c2, k), &reban, sizeof reban);
    assert_non_null(gossip_state_ban_active(c2, k, T0 + 3000));
    gossip_state_destroy(&a);
    gossip_state_destroy(&a2);
    gossip_state_destroy(&b);
    gossip_state_destroy(&c1);
    gossip_state_destroy(&c2);
}

static void test_concurrent_tie_is_deterministic(void **state)
{
    (void)state;
    const char *k = "user:alice@example.jp";
    struct gossip_state *a = mk(ida), *b = mk(idb), *c1 = mk(idc), *c2 = mk(idc);
    /* Same wall time, no contact: equal hlc, the larger author id wins on every replica. */
    struct gossip_ban ra = put(a, k, GOSSIP_BAN_ACTION_BAN, T0 + 60000, T0);
    struct gossip_ban rb = put(b, k, GOSSIP_BAN_ACTION_UNBAN, T0 + 60000, T0);
    assert_true(ra.hlc == rb.hlc);
    struct gossip_ban o1[] = {ra, rb}, o2[] = {rb, ra};
    merge(c1, o1, 2, T0);
    merge(c2, o2, 2, T0);
    merge(a, &rb, 1, T0);
    merge(b, &ra, 1, T0);
    const struct gossip_ban *want = ida->origin > idb->origin ? &ra : &rb;
    struct gossip_state *all[] = {a, b, c1, c2};
    for (int i = 0; i < 4; i++) {
        assert_memory_equal(gossip_state_ban_get(all[i], k), want, sizeof *want);
        gossip_state_destroy(&all[i]);
    }
}

static void test_tombstone_collected_when_due(void **state)
{
    (void)state;
    const char *k = "net:203.0.113.0/24";
    struct gossip_state *a = mk(ida), *b = mk(idb);
    int64_t exp = T0 + 100000;
    struct gossip_ban ban = put(a, k, GOSSIP_BAN_ACTION_BAN, exp, T0);
    put(a, k, GOSSIP_BAN_ACTION_UNBAN, 0, T0 + 10000);
    struct gossip_state_stats s;
    gossip_state_stats(a, &s);
    assert_int_equal(s.tombstones, 1);
    assert_int_equal(s.bans, 0);
    /* Kept until the cancelled ban would have expired, plus the grace period. */
    assert_int_equal(gossip_state_expire(a, exp + GRACE - 1), 0);
    assert_non_null(gossip_state_ban_get(a, k));
    assert_int_equal(gossip_state_expire(a, exp + GRACE), 1);
    assert_null(gossip_state_ban_get(a, k));
    /* The ban it cancelled, arriving late, does not come back. */
    struct gossip_merge_result r = merge(a, &ban, 1, exp + GRACE);
    assert_int_equal(r.rej_expired, 1);
    assert_null(gossip_state_ban_get(a, k));
    /* An expired ban is not enforced, but is kept through the grace so it still beats older copies. */
    struct gossip_ban old = put(b, "ip:192.0.2.1", GOSSIP_BAN_ACTION_BAN, T0 + 500000, T0);
    struct gossip_ban newer = put(b, "ip:192.0.2.1", GOSSIP_BAN_ACTION_BAN, T0 + 20000, T0 + 10000);
    struct gossip_state *c = mk(idc);
    merge(c, &newer, 1, T0 + 30000);                 /* expired already, still taken */
    assert_null(gossip_state_ban_active(c, "ip:192.0.2.1", T0 + 30000));
    merge(c, &old, 1, T0 + 40000);                   /* loses, and stretches the winner's life */
    assert_null(gossip_state_ban_active(c, "ip:192.0.2.1", T0 + 40000));
    gossip_state_expire(c, T0 + 20000 + GRACE);
    assert_non_null(gossip_state_ban_get(c, "ip:192.0.2.1"));
    uint64_t kept[GOSSIP_PARTITIONS], full[GOSSIP_PARTITIONS];
    gossip_state_digest(c, kept);
    gossip_state_digest_full(c, full);
    assert_memory_equal(kept, full, sizeof kept);
    gossip_state_expire(c, T0 + 500000 + GRACE);
    assert_null(gossip_state_ban_get(c, "ip:192.0.2.1"));
    gossip_state_digest(c, kept);
    memset(full, 0, sizeof full);
    assert_memory_equal(kept, full, sizeof kept);
    gossip_state_destroy(&a);
    gossip_state_destroy(&b);
    gossip_state_destroy(&c);
}

static void test_refused_records(void **state)
{
    (void)state;
    struct gossip_state *a = mk(ida), *x = gossip_state_new(NULL, stranger, kr, 1), *b = mk(idb);
    struct gossip_ban good = put(b, "ip:203.0.113.9", GOSSIP_BAN_ACTION_BAN, T0 + 60000, T0);
    struct gossip_ban forged = good;
    forged.expires_at += 86400000;                    /* someone stretched it in transit */
    struct gossip_ban foreign = put(x, "ip:203.0.113.10", GOSSIP_BAN_ACTION_BAN, T0 + 60000, T0);
    struct gossip_ban future = put(b, "ip:203.0.113.11", GOSSIP_BAN_ACTION_BAN, T0 + 900000, T0 + 120000);
    struct gossip_ban stale = put(b, "ip:203.0.113.12", GOSSIP_BAN_ACTION_BAN, T0 - GRACE, T0 - GRACE - 1000);
    struct gossip_ban all[] = {forged, foreign, future, stale, good};
    gossip_state_set_ban_cb(a, on_ban, NULL);
    calls = 0;
    struct gossip_merge_result r = merge(a, all, 5, T0);
    assert_int_equal(r.rej_ban_sig, 2);
    assert_int_equal(r.rej_future, 1);
    assert_int_equal(r.rej_expired, 1);
    assert_int_equal(r.bans_changed, 1);
    assert_int_equal(calls, 1);
    assert_memory_equal(&last_cb, &good, sizeof good);
    assert_null(gossip_state_ban_get(a, "ip:203.0.113.10"));
    /* A duplicate changes nothing and is not reported again. */
    r = merge(a, &good, 1, T0);
    assert_int_equal(r.ignored, 1);
    assert_int_equal(calls, 1);
    /* Learned records are queued for relay, with the author's signature intact. */
    struct gossip_writer w;
    gossip_writer_init(&w);
    assert_int_equal(gossip_state_take_delta(a, &w, 65536), 1);
    struct gossip_body *body = NULL;
    assert_int_equal(gossip_body_decode((const uint8_t *)w.buf.data, w.buf.size, 0, &body), GOSSIP_WIRE_OK);
    assert_true(gossip_ban_verify(&body->bans[0], kr));
    assert_true(body->bans[0].author == idb->origin);
    gossip_body_destroy(&body);
    gossip_writer_fini(&w);
    /* Bad local specs. */
    struct gossip_ban_spec sp = {.key = "", .action = GOSSIP_BAN_ACTION_BAN, .kind = 1, .expires_at = T0 + 1};
    assert_int_equal(gossip_state_ban_put(a, &sp, T0, NULL), -1);
    sp.key = "ip:1.2.3.4";
    sp.kind = 9;
    assert_int_equal(gossip_state_ban_put(a, &sp, T0, NULL), -1);
    sp.kind = 1;
    sp.expires_at = T0;
    assert_int_equal(gossip_state_ban_put(a, &sp, T0, NULL), -1);
    sp.action = 7;
    assert_int_equal(gossip_state_ban_put(a, &sp, T0, NULL), -1);
    gossip_state_destroy(&a);
    gossip_state_destroy(&b);
    gossip_state_destroy(&x);
}

/* A callback that escalates: an address ban makes it write a prefix ban, from inside the merge. */
static struct gossip_state *escalating;
static void escalate(const struct gossip_ban *b, void *arg)
{
    (void)arg;
    if (strncmp(b->key, "ip:", 3) || b->action != GOSSIP_BAN_ACTION_BAN) return;
    struct gossip_ban_spec sp = {.key = "net:203.0.113.0/24", .action = GOSSIP_BAN_ACTION_BAN,
                                 .kind = GOSSIP_BAN_KIND_BLOCK, .expires_at = b->expires_at, .reason = "escalation"};
    assert_int_equal(gossip_state_ban_put(escalating, &sp, T0, NULL), 0);
}

static void test_callback_may_write(void **state)
{
    (void)state;
    struct gossip_state *a = mk(ida), *b = mk(idb);
    struct gossip_ban r[8];
    char key[32];
    for (int i = 0; i < 8; i++) {
        snprintf(key, sizeof key, "ip:203.0.113.%d", i + 1);
        r[i] = put(a, key, GOSSIP_BAN_ACTION_BAN, T0 + 60000, T0);
    }
    escalating = b;
    gossip_state_set_ban_cb(b, escalate, NULL);
    struct gossip_merge_result res = merge(b, r, 8, T0);
    assert_int_equal(res.bans_changed, 8);
    for (int i = 0; i < 8; i++) assert_non_null(gossip_state_ban_active(b, r[i].key, T0));
    const struct gossip_ban *net = gossip_state_ban_active(b, "net:203.0.113.0/24", T0);
    assert_non_null(net);
    assert_true(net->author == idb->origin);
    gossip_state_destroy(&a);
    gossip_state_destroy(&b);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_unban_vs_ban_both_orders),
        cmocka_unit_test(test_concurrent_tie_is_deterministic),
        cmocka_unit_test(test_tombstone_collected_when_due),
        cmocka_unit_test(test_refused_records),
        cmocka_unit_test(test_callback_may_write),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
