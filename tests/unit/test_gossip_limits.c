/* test_gossip_limits.c: the bounds every ban record keeps (gossip/state_limits.c): local writes are
 * clamped to the kind's maximum lifetime and remote records past it refused; an unban keeps
 * decisions off its key only for the grace; per-author budgets of records and of address space per
 * hour refuse the excess; no block wider than the minimum prefix; unclean text and mistyped keys are
 * refused; counter slots are taken from their origin only. Every refusal is counted by reason. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "gossip/state.h"
#include "tests/support/two_keys.h"

#define T0 1700000000000LL   /* not on an hour boundary: hour0() gives the next one */
#define HOUR 3600000LL
#define DAY (24 * HOUR)

static int setup(void **state)
{
    (void)state;
    return two_keys_setup("a", 0x51, "b", 0x52, true);
}

/* The start of an hour, so a test knows which records share an hour of stamps. */
static int64_t hour0(void) { return T0 - T0 % HOUR + HOUR; }

static struct gossip_state *mk(const struct gossip_identity *id, size_t max_records, uint64_t max_span)
{
    struct gossip_state_config cfg;
    gossip_state_config_default(&cfg);
    if (max_records) cfg.limits.author_max_records = max_records;
    if (max_span) cfg.limits.author_max_span_per_hour = max_span;
    struct gossip_state *st = gossip_state_new(&cfg, id, kr, 1);
    assert_non_null(st);
    return st;
}

static uint64_t refused(const struct gossip_state *st, enum gossip_refusal r)
{
    struct gossip_state_stats s;
    gossip_state_stats(st, &s);
    return s.refused[r];
}

static int put(struct gossip_state *st, const char *key, uint8_t action, uint8_t kind, int64_t exp, int64_t now)
{
    struct gossip_ban_spec sp = {.key = key, .action = action, .kind = kind, .expires_at = exp, .reason = "test",
                                 .scenario = "limits"};
    return gossip_state_ban_put(st, &sp, now, NULL);
}

/* A record as a peer would send it: stamped at now, signed by id (valid signature). */
static struct gossip_ban forge(const struct gossip_identity *id, const char *key, uint8_t action, uint8_t kind,
                               int64_t exp, int64_t now, const char *reason)
{
    struct gossip_ban b = {.action = action, .kind = kind, .expires_at = exp, .hlc = (uint64_t)now << 16};
    snprintf(b.key, sizeof b.key, "%s", key);
    snprintf(b.reason, sizeof b.reason, "%s", reason);
    snprintf(b.scenario, sizeof b.scenario, "peer");
    gossip_ban_sign(&b, id);
    return b;
}

static struct gossip_merge_result merge(struct gossip_state *st, const struct gossip_ban *b, uint64_t sender,
                                        int64_t now)
{
    struct gossip_writer w;
    gossip_writer_init(&w);
    assert_int_equal(gossip_writer_ban(&w, b), 0);
    struct gossip_body *body = NULL;
    assert_int_equal(gossip_body_decode((const uint8_t *)w.buf.data, w.buf.size, 0, &body), GOSSIP_WIRE_OK);
    struct gossip_merge_result res;
    gossip_state_merge(st, body, sender, GOSSIP_MERGE_SENDER_SLOTS_ONLY, now, &res);
    gossip_body_destroy(&body);
    gossip_writer_fini(&w);
    return res;
}

struct peer_rec {
    const char *key;
    uint8_t kind;
};

/* Each record, from peer b and stamped at T0, is refused by a. */
static void all_refused(struct gossip_state *a, const struct peer_rec *v, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        struct gossip_ban b = forge(idb, v[i].key, GOSSIP_BAN_ACTION_BAN, v[i].kind, T0 + DAY, T0, "");
        if (merge(a, &b, idb->origin, T0).rej_record != 1) fail_msg("took %s", v[i].key);
    }
}

static void test_local_writes_clamped(void **state)
{
    (void)state;
    struct gossip_state *a = mk(ida, 0, 0);
    struct gossip_ban out;
    struct gossip_ban_spec sp = {.key = "user:victim@example.jp", .action = GOSSIP_BAN_ACTION_BAN,
                                 .kind = GOSSIP_BAN_KIND_HOLD, .expires_at = T0 + 50 * 365 * DAY};
    assert_int_equal(gossip_state_ban_put(a, &sp, T0, &out), 0);
    assert_int_equal(out.expires_at, T0 + 30 * DAY);
    sp = (struct gossip_ban_spec){.key = "throttle:ip:192.0.2.1", .action = GOSSIP_BAN_ACTION_BAN,
                                  .kind = GOSSIP_BAN_KIND_THROTTLE, .expires_at = T0 + 365 * DAY};
    assert_int_equal(gossip_state_ban_put(a, &sp, T0, &out), 0);
    assert_int_equal(out.expires_at, T0 + 7 * DAY);
    /* Within the maximum: kept as asked. */
    sp = (struct gossip_ban_spec){.key = "ip:192.0.2.2", .action = GOSSIP_BAN_ACTION_BAN,
                                  .kind = GOSSIP_BAN_KIND_BLOCK, .expires_at = T0 + HOUR};
    assert_int_equal(gossip_state_ban_put(a, &sp, T0, &out), 0);
    assert_int_equal(out.expires_at, T0 + HOUR);
    /* An unban asked to last 50 years lasts as long as the longest kind. */
    sp = (struct gossip_ban_spec){.key = "ip:192.0.2.3", .action = GOSSIP_BAN_ACTION_UNBAN,
                                  .expires_at = T0 + 50 * 365 * DAY};
    assert_int_equal(gossip_state_ban_put(a, &sp, T0, &out), 0);
    assert_int_equal(out.expires_at, T0 + 30 * DAY);
    assert_int_equal(out.kind, GOSSIP_BAN_KIND_BLOCK);
    gossip_state_destroy(&a);
}

static void test_remote_lifetime_refused(void **state)
{
    (void)state;
    struct gossip_state *a = mk(ida, 0, 0);
    struct gossip_ban b = forge(idb, "ip:198.51.100.10", GOSSIP_BAN_ACTION_UNBAN, GOSSIP_BAN_KIND_BLOCK,
                                T0 + 50 * 365 * DAY, T0, "shield");
    struct gossip_merge_result r = merge(a, &b, idb->origin, T0);
    assert_int_equal(r.rej_record, 1);
    assert_int_equal(r.changed, 0);
    assert_null(gossip_state_ban_get(a, "ip:198.51.100.10"));
    b = forge(idb, "user:victim@example.jp", GOSSIP_BAN_ACTION_BAN, GOSSIP_BAN_KIND_HOLD, T0 + 50 * 365 * DAY, T0, "h");
    assert_int_equal(merge(a, &b, idb->origin, T0).rej_record, 1);
    assert_int_equal(refused(a, GOSSIP_REFUSE_TTL), 2);
    /* Exactly the maximum past its stamp is taken; one millisecond more is not. */
    b = forge(idb, "user:max@example.jp", GOSSIP_BAN_ACTION_BAN, GOSSIP_BAN_KIND_HOLD, T0 + 30 * DAY, T0, "h");
    assert_int_equal(merge(a, &b, idb->origin, T0).changed, 1);
    b = forge(idb, "user:over@example.jp", GOSSIP_BAN_ACTION_BAN, GOSSIP_BAN_KIND_HOLD, T0 + 30 * DAY + 1, T0, "h");
    assert_int_equal(merge(a, &b, idb->origin, T0).rej_record, 1);
    assert_int_equal(refused(a, GOSSIP_REFUSE_TTL), 3);
    /* A loser (older stamp) outside the bounds is refused too: it may not extend the winner's keep. */
    b = forge(idb, "user:max@example.jp", GOSSIP_BAN_ACTION_BAN, GOSSIP_BAN_KIND_HOLD, T0 + 50 * 365 * DAY, T0 - 1, "h");
    assert_int_equal(merge(a, &b, idb->origin, T0).rej_record, 1);
    assert_int_equal(refused(a, GOSSIP_REFUSE_TTL), 4);
    gossip_state_destroy(&a);
}

static void test_unban_grace(void **state)
{
    (void)state;
    struct gossip_state *a = mk(ida, 0, 0);
    assert_int_equal(put(a, "ip:192.0.2.9", GOSSIP_BAN_ACTION_BAN, GOSSIP_BAN_KIND_BLOCK, T0 + 7 * DAY, T0), 0);
    assert_true(gossip_state_ban_settled(a, "ip:192.0.2.9", T0 + DAY));
    assert_int_equal(put(a, "ip:192.0.2.9", GOSSIP_BAN_ACTION_UNBAN, 0, 0, T0 + DAY), 0);
    /* The tombstone keeps the cancelled ban's expiry (for the merge) ... */
    assert_int_equal(gossip_state_ban_get(a, "ip:192.0.2.9")->expires_at, T0 + 7 * DAY);
    assert_null(gossip_state_ban_active(a, "ip:192.0.2.9", T0 + DAY));
    /* ... but keeps decisions away only for the grace (default 1h). */
    assert_true(gossip_state_ban_settled(a, "ip:192.0.2.9", T0 + DAY + HOUR - 1));
    assert_false(gossip_state_ban_settled(a, "ip:192.0.2.9", T0 + DAY + HOUR));
    /* After the grace a new decision is written and wins over the tombstone. */
    assert_int_equal(put(a, "ip:192.0.2.9", GOSSIP_BAN_ACTION_BAN, GOSSIP_BAN_KIND_BLOCK, T0 + DAY + 2 * HOUR,
                         T0 + DAY + HOUR), 0);
    assert_non_null(gossip_state_ban_active(a, "ip:192.0.2.9", T0 + DAY + HOUR));
    /* A peer's unban: same grace, from its stamp. */
    struct gossip_ban b = forge(idb, "ip:192.0.2.10", GOSSIP_BAN_ACTION_UNBAN, GOSSIP_BAN_KIND_BLOCK, T0 + DAY, T0, "");
    assert_int_equal(merge(a, &b, idb->origin, T0).changed, 1);
    assert_true(gossip_state_ban_settled(a, "ip:192.0.2.10", T0 + HOUR / 2));
    assert_false(gossip_state_ban_settled(a, "ip:192.0.2.10", T0 + HOUR));
    assert_false(gossip_state_ban_settled(a, "ip:192.0.2.11", T0));
    gossip_state_destroy(&a);
}

static void test_author_record_budget(void **state)
{
    (void)state;
    struct gossip_state *a = mk(ida, 10, 0);
    char key[64];
    for (int i = 0; i < 15; i++) {
        snprintf(key, sizeof key, "ip:198.51.100.%d", i + 1);
        struct gossip_ban b = forge(idb, key, GOSSIP_BAN_ACTION_BAN, GOSSIP_BAN_KIND_BLOCK, T0 + DAY, T0 + i, "r");
        struct gossip_merge_result r = merge(a, &b, idb->origin, T0 + i);
        assert_int_equal(r.changed, i < 10 ? 1 : 0);
        assert_int_equal(r.rej_record, i < 10 ? 0 : 1);
    }
    assert_int_equal(refused(a, GOSSIP_REFUSE_RECORDS), 5);
    /* Replacing one of its own records does not need more room. */
    struct gossip_ban b = forge(idb, "ip:198.51.100.1", GOSSIP_BAN_ACTION_UNBAN, GOSSIP_BAN_KIND_BLOCK, T0 + DAY,
                                T0 + 100, "r");
    assert_int_equal(merge(a, &b, idb->origin, T0 + 100).changed, 1);
    /* Another author has a budget of its own, and room comes back when records go. */
    assert_int_equal(put(a, "ip:198.51.100.200", GOSSIP_BAN_ACTION_BAN, GOSSIP_BAN_KIND_BLOCK, T0 + DAY, T0 + 200), 0);
    assert_true(gossip_state_expire(a, T0 + 40 * DAY) > 0);
    b = forge(idb, "ip:198.51.100.99", GOSSIP_BAN_ACTION_BAN, GOSSIP_BAN_KIND_BLOCK, T0 + 41 * DAY, T0 + 40 * DAY, "r");
    assert_int_equal(merge(a, &b, idb->origin, T0 + 40 * DAY).changed, 1);
    /* The same budget bounds this node's own writes. */
    struct gossip_state *c = mk(ida, 2, 0);
    assert_int_equal(put(c, "ip:192.0.2.1", GOSSIP_BAN_ACTION_BAN, GOSSIP_BAN_KIND_BLOCK, T0 + HOUR, T0), 0);
    assert_int_equal(put(c, "ip:192.0.2.2", GOSSIP_BAN_ACTION_BAN, GOSSIP_BAN_KIND_BLOCK, T0 + HOUR, T0), 0);
    assert_int_equal(put(c, "ip:192.0.2.3", GOSSIP_BAN_ACTION_BAN, GOSSIP_BAN_KIND_BLOCK, T0 + HOUR, T0), -1);
    assert_int_equal(refused(c, GOSSIP_REFUSE_RECORDS), 1);
    gossip_state_destroy(&c);
    gossip_state_destroy(&a);
}

static void test_author_span_budget(void **state)
{
    (void)state;
    struct gossip_state *a = mk(ida, 0, 1024);
    int64_t h = hour0();
    char key[64];
    /* Four /24s fill the hour (4 x 256 = 1024 addresses); a fifth and even one address do not fit. */
    for (int i = 0; i < 4; i++) {
        snprintf(key, sizeof key, "net:198.18.%d.0/24", i);
        struct gossip_ban b = forge(idb, key, GOSSIP_BAN_ACTION_BAN, GOSSIP_BAN_KIND_BLOCK, h + DAY, h + i, "s");
        assert_int_equal(merge(a, &b, idb->origin, h + i).changed, 1);
    }
    struct gossip_ban b = forge(idb, "net:198.18.9.0/24", GOSSIP_BAN_ACTION_BAN, GOSSIP_BAN_KIND_BLOCK, h + DAY, h + 10, "s");
    assert_int_equal(merge(a, &b, idb->origin, h + 10).rej_record, 1);
    b = forge(idb, "ip:198.19.0.1", GOSSIP_BAN_ACTION_BAN, GOSSIP_BAN_KIND_BLOCK, h + DAY, h + 11, "s");
    assert_int_equal(merge(a, &b, idb->origin, h + 11).rej_record, 1);
    assert_int_equal(refused(a, GOSSIP_REFUSE_SPAN), 2);
    /* Throttles, holds and unbans block no address space. */
    b = forge(idb, "throttle:ip:198.19.0.2", GOSSIP_BAN_ACTION_BAN, GOSSIP_BAN_KIND_THROTTLE, h + DAY, h + 12, "s");
    assert_int_equal(merge(a, &b, idb->origin, h + 12).changed, 1);
    b = forge(idb, "ip:198.19.0.3", GOSSIP_BAN_ACTION_UNBAN, GOSSIP_BAN_KIND_BLOCK, h + DAY, h + 13, "s");
    assert_int_equal(merge(a, &b, idb->origin, h + 13).changed, 1);
    /* The next hour of stamps has its budget again; an IPv6 /48 counts 65536 /64s. */
    b = forge(idb, "net:198.18.9.0/24", GOSSIP_BAN_ACTION_BAN, GOSSIP_BAN_KIND_BLOCK, h + DAY, h + HOUR, "s");
    assert_int_equal(merge(a, &b, idb->origin, h + HOUR).changed, 1);
    b = forge(idb, "net:2001:db8:1::/48", GOSSIP_BAN_ACTION_BAN, GOSSIP_BAN_KIND_BLOCK, h + DAY, h + HOUR + 1, "s");
    assert_int_equal(merge(a, &b, idb->origin, h + HOUR + 1).rej_record, 1);
    b = forge(idb, "net:2001:db8:1::/64", GOSSIP_BAN_ACTION_BAN, GOSSIP_BAN_KIND_BLOCK, h + DAY, h + HOUR + 2, "s");
    assert_int_equal(merge(a, &b, idb->origin, h + HOUR + 2).changed, 1);
    assert_int_equal(refused(a, GOSSIP_REFUSE_SPAN), 3);
    /* New limits (a reload): what an author used is kept, even when the hour ring changes size. */
    struct gossip_record_limits l;
    gossip_record_limits_default(&l);
    l.author_max_span_per_hour = 1024;
    l.max_ttl_ms[GOSSIP_BAN_KIND_BLOCK] = 90 * DAY;
    gossip_state_set_limits(a, &l);
    b = forge(idb, "net:198.18.20.0/24", GOSSIP_BAN_ACTION_BAN, GOSSIP_BAN_KIND_BLOCK, h + DAY, h + 20, "s");
    assert_int_equal(merge(a, &b, idb->origin, h + HOUR + 3).rej_record, 1);
    assert_int_equal(refused(a, GOSSIP_REFUSE_SPAN), 4);
    b = forge(idb, "net:198.18.21.0/24", GOSSIP_BAN_ACTION_BAN, GOSSIP_BAN_KIND_BLOCK, h + 60 * DAY, h + HOUR + 4, "s");
    assert_int_equal(merge(a, &b, idb->origin, h + HOUR + 4).changed, 1);   /* 60 days: allowed now */
    gossip_state_destroy(&a);
}

static void test_min_prefix(void **state)
{
    (void)state;
    struct gossip_state *a = mk(ida, 0, 0);
    static const struct peer_rec wide[] = {
        {"net:10.1.0.0/16", GOSSIP_BAN_KIND_BLOCK}, {"net:44.0.0.0/8", GOSSIP_BAN_KIND_BLOCK},
        {"throttle:net:10.2.0.0/16", GOSSIP_BAN_KIND_THROTTLE}, {"net:2001:db8::/32", GOSSIP_BAN_KIND_BLOCK},
    };
    all_refused(a, wide, sizeof wide / sizeof wide[0]);
    assert_int_equal(refused(a, GOSSIP_REFUSE_PREFIX), 4);
    /* The minimum itself is fine, and so is the unban of a wide prefix. */
    struct gossip_ban b = forge(idb, "net:10.3.0.0/24", GOSSIP_BAN_ACTION_BAN, GOSSIP_BAN_KIND_BLOCK, T0 + DAY, T0, "w");
    assert_int_equal(merge(a, &b, idb->origin, T0).changed, 1);
    b = forge(idb, "net:2001:db8::/48", GOSSIP_BAN_ACTION_BAN, GOSSIP_BAN_KIND_BLOCK, T0 + DAY, T0 + 1, "w");
    assert_int_equal(merge(a, &b, idb->origin, T0 + 1).changed, 1);
    b = forge(idb, "net:10.4.0.0/16", GOSSIP_BAN_ACTION_UNBAN, GOSSIP_BAN_KIND_BLOCK, T0 + DAY, T0 + 2, "w");
    assert_int_equal(merge(a, &b, idb->origin, T0 + 2).changed, 1);
    /* Local writes too. */
    assert_int_equal(put(a, "net:10.5.0.0/16", GOSSIP_BAN_ACTION_BAN, GOSSIP_BAN_KIND_BLOCK, T0 + DAY, T0), -1);
    assert_int_equal(refused(a, GOSSIP_REFUSE_PREFIX), 5);
    gossip_state_destroy(&a);
}

/* Allow records (`sgcluster allow`): bounded like the others. No wider than the minimum prefix (a
 * peer's allow of 0.0.0.0/1 would switch every node off), at most max_allow (365 days), an
 * address or prefix only; their unallow may live as long, other unbans not. */
static void test_allow_records(void **state)
{
    (void)state;
    struct gossip_state *a = mk(ida, 0, 0);
    static const struct peer_rec bad[] = {
        {"allow:net:10.0.0.0/8", GOSSIP_BAN_KIND_ALLOW}, {"allow:net:2001:db8::/32", GOSSIP_BAN_KIND_ALLOW},
        {"allow:ip:10.1.2.3", GOSSIP_BAN_KIND_BLOCK}, {"ip:10.1.2.3", GOSSIP_BAN_KIND_ALLOW},
    };
    all_refused(a, bad, sizeof bad / sizeof bad[0]);
    assert_int_equal(refused(a, GOSSIP_REFUSE_PREFIX), 2);
    assert_int_equal(refused(a, GOSSIP_REFUSE_KEY), 2);
    struct gossip_ban b = forge(idb, "allow:net:10.3.0.0/24", GOSSIP_BAN_ACTION_BAN, GOSSIP_BAN_KIND_ALLOW,
                                T0 + 365 * DAY, T0, "partner");
    assert_int_equal(merge(a, &b, idb->origin, T0).changed, 1);
    b = forge(idb, "allow:ip:10.3.1.1", GOSSIP_BAN_ACTION_BAN, GOSSIP_BAN_KIND_ALLOW, T0 + 365 * DAY + 1, T0, "p");
    assert_int_equal(merge(a, &b, idb->origin, T0).rej_record, 1);
    assert_int_equal(refused(a, GOSSIP_REFUSE_TTL), 1);
    b = forge(idb, "allow:net:10.3.0.0/24", GOSSIP_BAN_ACTION_UNBAN, GOSSIP_BAN_KIND_ALLOW, T0 + 365 * DAY, T0 + 1, "");
    assert_int_equal(merge(a, &b, idb->origin, T0 + 1).changed, 1);
    b = forge(idb, "ip:10.3.2.2", GOSSIP_BAN_ACTION_UNBAN, GOSSIP_BAN_KIND_BLOCK, T0 + 365 * DAY, T0, "");
    assert_int_equal(merge(a, &b, idb->origin, T0).rej_record, 1);
    assert_int_equal(refused(a, GOSSIP_REFUSE_TTL), 2);
    /* Local writes: clamped to max_allow, and the same prefix bound. */
    struct gossip_ban out;
    struct gossip_ban_spec sp = {.key = "allow:ip:192.0.2.9", .action = GOSSIP_BAN_ACTION_BAN,
                                 .kind = GOSSIP_BAN_KIND_ALLOW, .expires_at = T0 + 50 * 365 * DAY};
    assert_int_equal(gossip_state_ban_put(a, &sp, T0, &out), 0);
    assert_int_equal(out.expires_at, (int64_t)GOSSIP_HLC_MS(out.hlc) + 365 * DAY);   /* the clock saw T0 + 1 */
    assert_int_equal(put(a, "allow:net:192.0.0.0/16", GOSSIP_BAN_ACTION_BAN, GOSSIP_BAN_KIND_ALLOW, T0 + DAY, T0), -1);
    gossip_state_destroy(&a);
}

static void test_text_and_kind(void **state)
{
    (void)state;
    struct gossip_state *a = mk(ida, 0, 0);
    static const char *const bad_reasons[] = {"a\nb", "\x1b[2J", "\xff\xfe", "\xc2\x9b"};
    for (size_t i = 0; i < sizeof bad_reasons / sizeof bad_reasons[0]; i++) {
        struct gossip_ban b = forge(idb, "ip:192.0.2.50", GOSSIP_BAN_ACTION_BAN, GOSSIP_BAN_KIND_BLOCK, T0 + DAY,
                                    T0 + (int64_t)i, bad_reasons[i]);
        assert_int_equal(merge(a, &b, idb->origin, T0 + (int64_t)i).rej_record, 1);
    }
    struct gossip_ban b = forge(idb, "user:a\x1b]0;x\x07", GOSSIP_BAN_ACTION_BAN, GOSSIP_BAN_KIND_HOLD, T0 + DAY, T0, "");
    assert_int_equal(merge(a, &b, idb->origin, T0).rej_record, 1);
    assert_int_equal(refused(a, GOSSIP_REFUSE_TEXT), 5);
    assert_null(gossip_state_ban_get(a, "ip:192.0.2.50"));
    /* Kinds their keys do not take, and keys of no known form. */
    static const struct peer_rec mistyped[] = {
        {"ip:192.0.2.51", GOSSIP_BAN_KIND_HOLD}, {"offense:ip:192.0.2.51", GOSSIP_BAN_KIND_BLOCK},
        {"bogus", GOSSIP_BAN_KIND_BLOCK},
    };
    all_refused(a, mistyped, sizeof mistyped / sizeof mistyped[0]);
    assert_int_equal(refused(a, GOSSIP_REFUSE_KEY), 3);
    assert_int_equal(put(a, "user:x", GOSSIP_BAN_ACTION_BAN, GOSSIP_BAN_KIND_BLOCK, T0 + DAY, T0), -1);
    assert_int_equal(put(a, "ip:192.0.2.52", GOSSIP_BAN_ACTION_BAN, GOSSIP_BAN_KIND_BLOCK, T0 + DAY, T0), 0);
    /* Offense memory is a kind of its own: stored, and no ban. */
    b = forge(idb, "offense:ip:192.0.2.51", GOSSIP_BAN_ACTION_BAN, GOSSIP_BAN_KIND_OFFENSE, T0 + 7 * DAY, T0, "");
    assert_int_equal(merge(a, &b, idb->origin, T0).changed, 1);
    assert_null(gossip_state_ban_active(a, "ip:192.0.2.51", T0));
    gossip_state_destroy(&a);
}

static void test_slots_from_their_origin_only(void **state)
{
    (void)state;
    struct gossip_state *a = mk(ida, 0, 0);
    struct gossip_writer w;
    gossip_writer_init(&w);
    int64_t bucket = T0 - T0 % 10000;
    gossip_writer_slot(&w, "auth-ip|ip:203.0.113.99", bucket, ida->origin, 77, 1000);   /* ours, another epoch */
    gossip_writer_slot(&w, "auth-ip|ip:203.0.113.99", bucket, 0x0123456789abcdefULL, 1, 1000);
    gossip_writer_slot(&w, "auth-ip|ip:203.0.113.99", bucket, idb->origin, 1, 3);
    gossip_writer_slot(&w, "auth-ip|ip:\x1b[2J", bucket, idb->origin, 1, 3);
    struct gossip_body *body = NULL;
    assert_int_equal(gossip_body_decode((const uint8_t *)w.buf.data, w.buf.size, 0, &body), GOSSIP_WIRE_OK);
    struct gossip_merge_result r;
    gossip_state_merge(a, body, idb->origin, GOSSIP_MERGE_SENDER_SLOTS_ONLY, T0, &r);
    assert_int_equal(r.changed, 1);
    assert_int_equal(r.rej_foreign, 2);
    assert_int_equal(refused(a, GOSSIP_REFUSE_FOREIGN_SLOT), 2);
    assert_int_equal(refused(a, GOSSIP_REFUSE_TEXT), 1);
    assert_int_equal(gossip_state_counter_total(a, "auth-ip|ip:203.0.113.99", HOUR, T0), 3);
    gossip_body_destroy(&body);
    gossip_writer_fini(&w);
    gossip_state_destroy(&a);
}

/* A record as wire version 1 signed it (magic "SGB1"; offense memory was a block). */
static struct gossip_ban v1_record(const struct gossip_identity *id, const char *key, int64_t exp)
{
    struct gossip_ban b = {.action = GOSSIP_BAN_ACTION_BAN, .kind = GOSSIP_BAN_KIND_BLOCK, .expires_at = exp,
                           .hlc = (uint64_t)T0 << 16, .author = id->origin};
    snprintf(b.key, sizeof b.key, "%s", key);
    uint8_t buf[GOSSIP_BAN_CANON_MAX];
    gossip_sign(id, buf, gossip_ban_canonical_v1(&b, buf), b.sig);
    return b;
}

/* An upgrade keeps this node's own bans: its version 1 records in the snapshot are re-signed. */
static void test_snapshot_of_version_1(void **state)
{
    (void)state;
    struct gossip_ban recs[] = {
        v1_record(ida, "ip:192.0.2.8", T0 + DAY),
        v1_record(ida, "offense:ip:192.0.2.8", T0 + 7 * DAY),
        v1_record(idb, "ip:192.0.2.9", T0 + DAY),
    };
    struct gossip_writer w;
    gossip_writer_init(&w);
    for (size_t i = 0; i < 3; i++) assert_int_equal(gossip_writer_ban(&w, &recs[i]), 0);
    char path[] = "/tmp/sgsnapv1XXXXXX";
    int fd = mkstemp(path);
    assert_true(fd >= 0);
    assert_int_equal(write(fd, w.buf.data, w.buf.size), (ssize_t)w.buf.size);
    close(fd);
    gossip_writer_fini(&w);
    struct gossip_state *a = mk(ida, 0, 0);
    assert_int_equal(gossip_state_load(a, path, T0), 0);
    unlink(path);
    const struct gossip_ban *ban = gossip_state_ban_active(a, "ip:192.0.2.8", T0);
    assert_non_null(ban);
    assert_true(gossip_ban_verify(ban, kr));
    assert_int_equal(ban->hlc, (uint64_t)T0 << 16);
    const struct gossip_ban *off = gossip_state_ban_get(a, "offense:ip:192.0.2.8");
    assert_non_null(off);
    assert_int_equal(off->kind, GOSSIP_BAN_KIND_OFFENSE);
    assert_true(gossip_ban_verify(off, kr));
    /* Another node's old record cannot be re-signed here: refused (its author re-signs its own). */
    assert_null(gossip_state_ban_get(a, "ip:192.0.2.9"));
    /* From a peer, even our own old record is not migrated: only our snapshot is. */
    struct gossip_state *c = mk(idb, 0, 0);
    assert_int_equal(merge(c, &recs[0], ida->origin, T0).rej_ban_sig, 1);
    gossip_state_destroy(&c);
    gossip_state_destroy(&a);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_local_writes_clamped),
        cmocka_unit_test(test_remote_lifetime_refused),
        cmocka_unit_test(test_unban_grace),
        cmocka_unit_test(test_author_record_budget),
        cmocka_unit_test(test_author_span_budget),
        cmocka_unit_test(test_min_prefix),
        cmocka_unit_test(test_allow_records),
        cmocka_unit_test(test_text_and_kind),
        cmocka_unit_test(test_slots_from_their_origin_only),
        cmocka_unit_test(test_snapshot_of_version_1),
    };
    return cmocka_run_group_tests(tests, setup, two_keys_teardown);
}
