/* test_gossip_ban.c: the last-writer-wins ban map: unban beats an older ban and loses to a newer one
 * in either delivery order, ties are deterministic, tombstones are collected when due, and forged,
 * foreign, future and stale records are refused; a large body, its signatures checked on threads,
 * merges exactly as its records merged one at a time. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/key.h"
#include "gossip/state.h"
#include "gossip/state_int.h"   /* gossip_state_digest_full, the verdicts and the map of a large merge */
#include "tests/support/state_same.h"

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

/* Merges records into st as a body from sender with flags; returns the merge result. */
static struct gossip_merge_result merge_from(struct gossip_state *st, const struct gossip_ban *recs, size_t n,
                                             uint64_t sender, unsigned flags, int64_t now)
{
    struct gossip_writer w;
    gossip_writer_init(&w);
    for (size_t i = 0; i < n; i++) assert_int_equal(gossip_writer_ban(&w, &recs[i]), 0);
    struct gossip_body *b = NULL;
    assert_int_equal(gossip_body_decode((const uint8_t *)w.buf.data, w.buf.size, 0, &b), GOSSIP_WIRE_OK);
    struct gossip_merge_result res;
    gossip_state_merge(st, b, sender, flags, now, &res);
    gossip_body_destroy(&b);
    gossip_writer_fini(&w);
    return res;
}

static struct gossip_merge_result merge(struct gossip_state *st, const struct gossip_ban *recs, size_t n, int64_t now)
{
    return merge_from(st, recs, n, 0, 0, now);
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

/* ---- a large body: signatures checked on threads, then merged (gossip/state_verify.c) ---- */

#define BIG 3000   /* records in the body: well past the threshold, and merged in a scattered order */

/* A record of id's at hlc ms, expiring at exp, signed (v1: over the old layout, as an old snapshot holds). */
static struct gossip_ban signed_rec(const struct gossip_identity *id, unsigned i, int64_t ms, int64_t exp, bool v1)
{
    struct gossip_ban r;
    memset(&r, 0, sizeof r);
    snprintf(r.key, sizeof r.key, "ip:10.%u.%u.%u", (i >> 16) & 255, (i >> 8) & 255, i & 255);
    snprintf(r.reason, sizeof r.reason, "%u failures", i);
    snprintf(r.scenario, sizeof r.scenario, "auth-ip");
    r.action = GOSSIP_BAN_ACTION_BAN;
    r.kind = GOSSIP_BAN_KIND_BLOCK;
    r.level = 1;
    r.hlc = GOSSIP_HLC_MAKE(ms, i & 7);
    r.expires_at = exp;
    gossip_ban_sign(&r, id);
    if (v1) {
        uint8_t buf[GOSSIP_BAN_CANON_MAX];
        gossip_sign(id, buf, gossip_ban_canonical_v1(&r, buf), r.sig);
    }
    return r;
}

enum rec_what { REC_GOOD, REC_FORGED, REC_OLD_FORMAT };

/* The body: every kind of record the merge tells apart, each one's what[] (out). What the receiver
 * holds beforehand goes to held[] (out, *nheld). Returns the records in the body. */
static size_t big_body(struct gossip_ban *body, struct gossip_ban *held, size_t *nheld, uint8_t *what, bool restore)
{
    size_t n = 0;
    *nheld = 0;
    const int64_t hour = 3600000;
    for (unsigned i = 0; n < BIG; i++) {
        const struct gossip_identity *author = i & 1 ? idb : idc;
        struct gossip_ban h = signed_rec(author, i, T0 - 300000, T0 + hour, false), r;
        bool bad = false, hold = false;
        switch (i % 14) {
        case 0: r = signed_rec(author, i, T0 - 1000, T0 + hour, false); break;          /* new */
        case 1: r = signed_rec(author, i, T0 - 1000, T0 + hour, false);                  /* new, stretched */
                r.expires_at += 1; bad = true; break;
        case 2: r = h; hold = true; break;                                               /* a duplicate */
        case 3: r = signed_rec(author, i, T0 - 400000, T0 + 1000, false); hold = true; break;   /* a loser */
        case 4: r = signed_rec(author, i, T0 - 400000, T0 + 2 * hour, false); hold = true; break; /* outlives */
        case 5: r = signed_rec(author, i, T0 - 400000, T0 + 2 * hour, false);            /* outlives, forged */
                r.sig[7] ^= 1; hold = bad = true; break;
        case 6: r = signed_rec(author, i, T0 - 3 * GRACE, T0 - GRACE - 1, false); break; /* expired */
        case 7: r = signed_rec(author, i, T0 - 1000, T0 + hour, false); hold = true; break;     /* a winner */
        case 8: r = signed_rec(author, i, T0 - 1000, T0 + hour, false);                  /* a winner, forged */
                r.sig[40] ^= 0x80; hold = bad = true; break;
        case 9: r = signed_rec(stranger, i, T0 - 1000, T0 + hour, false); bad = true; break;    /* no key */
        case 10: r = signed_rec(author, i, T0 + 120000, T0 + hour, false); break;         /* future */
        case 11: r = signed_rec(author, i, T0 - 1000, T0 + 40 * 24 * hour, false); break; /* too long */
        case 12: r = signed_rec(ida, i, T0 - 1000, T0 + hour, restore && i % 28 == 12); break;  /* ours */
        default: r = signed_rec(ida, i, T0 - 1000, T0 + hour, false); r.sig[0] ^= 4; bad = true; break;
        }
        if (hold) held[(*nheld)++] = h;
        what[n] = bad ? REC_FORGED : restore && i % 28 == 12 ? REC_OLD_FORMAT : REC_GOOD;
        body[n++] = r;
        /* The same key again, newer, later in the body: what was decided before the merge goes stale. */
        if (i % 14 == 0 && n < BIG) {
            what[n] = i % 28 == 0 ? REC_FORGED : REC_GOOD;
            body[n] = signed_rec(author, i, T0 - 500, T0 + hour, false);
            if (what[n] == REC_FORGED) body[n].level = 9;
            n++;
        }
    }
    return n;
}

static struct gossip_body *body_of(const struct gossip_ban *recs, size_t n)
{
    struct gossip_writer w;
    gossip_writer_init(&w);
    for (size_t i = 0; i < n; i++) assert_int_equal(gossip_writer_ban(&w, &recs[i]), 0);
    struct gossip_body *b = NULL;
    assert_int_equal(gossip_body_decode((const uint8_t *)w.buf.data, w.buf.size, SIZE_MAX, &b), GOSSIP_WIRE_OK);
    gossip_writer_fini(&w);
    return b;
}

/* The keys reported to the ban callback, in order, folded into one number. */
static uint64_t cb_trace;
static void trace_cb(const struct gossip_ban *b, void *arg)
{
    (void)arg;
    cb_trace = cb_trace * 1099511628211ULL ^ gossip_table_hash(b->key) ^ b->hlc;
}

static struct gossip_state *receiver(const struct gossip_ban *held, size_t nheld, size_t max_keys)
{
    struct gossip_state_config cfg;
    gossip_state_config_default(&cfg);
    cfg.ban_grace_ms = GRACE;
    cfg.max_keys = max_keys;
    struct gossip_state *st = gossip_state_new(&cfg, ida, kr, 1);
    for (size_t i = 0; i < nheld; i++) merge(st, &held[i], 1, T0);
    gossip_state_set_ban_cb(st, trace_cb, NULL);
    return st;
}

static void add_result(struct gossip_merge_result *sum, const struct gossip_merge_result *r)
{
    size_t *s = (size_t *)sum;
    const size_t *x = (const size_t *)r;
    for (size_t i = 0; i < sizeof *r / sizeof(size_t); i++) s[i] += x[i];
}

/* One large body merged (its signatures checked on threads) leaves exactly what merging its records one
 * at a time, in the same order, leaves: the same records, keeps, digest, refusals, counters and callbacks.
 * Forged records (stretched, bit-flipped, unknown author, ours) are refused either way. With max_keys
 * tight, evictions during the merge make some verdicts missing (checked in the merge); under RESTORE our
 * records are all checked first and the old-format ones re-signed, their verdict not reused. */
static void check_big_body(size_t max_keys, unsigned flags)
{
    struct gossip_ban *recs = calloc(BIG, sizeof *recs), *held = calloc(BIG, sizeof *held);
    uint8_t what[BIG];
    size_t nheld, n = big_body(recs, held, &nheld, what, flags & GOSSIP_MERGE_RESTORE);
    struct gossip_state *par = receiver(held, nheld, max_keys), *seq = receiver(held, nheld, max_keys);
    struct gossip_body *b = body_of(recs, n);

    /* The verdicts reached on threads are those of the records they are attached to. */
    uint8_t *sig = gossip_state_verify_bans(par, b, 0, flags, T0);
    assert_non_null(sig);
    size_t checked = 0;
    for (size_t i = 0; i < n; i++) {
        if (!gossip_state_ban_needs_check(par, &b->bans[i], flags, T0)) {
            assert_int_equal(sig[i], GOSSIP_SIG_UNKNOWN);
            continue;
        }
        checked++;
        assert_int_equal(sig[i], gossip_state_ban_authentic(par, &b->bans[i]) ? GOSSIP_SIG_OK : GOSSIP_SIG_BAD);
        if (what[i] != REC_GOOD) assert_int_equal(sig[i], GOSSIP_SIG_BAD);
    }
    assert_true(checked > n / 2);
    free(sig);

    cb_trace = 0;
    struct gossip_merge_result rp;
    gossip_state_merge(par, b, 0, flags, T0, &rp);
    uint64_t trace_par = cb_trace;
    cb_trace = 0;
    struct gossip_merge_result rs;
    memset(&rs, 0, sizeof rs);
    for (size_t i = 0; i < n; i++) {
        struct gossip_body *one = body_of(&b->bans[gossip_state_merge_index(i, n)], 1);
        struct gossip_merge_result r1;
        gossip_state_merge(seq, one, 0, flags, T0, &r1);
        add_result(&rs, &r1);
        gossip_body_destroy(&one);
    }
    assert_memory_equal(&rp, &rs, sizeof rp);
    assert_true(trace_par == cb_trace);
    assert_true(rp.bans_changed > 0 && rp.rej_ban_sig > 0 && rp.rej_expired > 0 && rp.rej_future > 0 &&
                rp.rej_record > 0 && rp.ignored > 0);

    sg_test_assert_same_encoding(par, seq);
    uint64_t dp[GOSSIP_PARTITIONS], ds[GOSSIP_PARTITIONS];
    gossip_state_digest(par, dp);
    gossip_state_digest(seq, ds);
    assert_memory_equal(dp, ds, sizeof dp);
    struct gossip_state_stats sp, ss;
    gossip_state_stats(par, &sp);
    gossip_state_stats(seq, &ss);
    assert_memory_equal(sp.refused, ss.refused, sizeof sp.refused);
    assert_int_equal(sp.evicted, ss.evicted);
    assert_true(par->hlc.last == seq->hlc.last);
    for (size_t i = 0; i < n; i++) {
        const struct gossip_bkey *kp = gossip_table_get(&par->bans, b->bans[i].key, gossip_table_hash(b->bans[i].key));
        const struct gossip_bkey *ks = gossip_table_get(&seq->bans, b->bans[i].key, gossip_table_hash(b->bans[i].key));
        assert_true(!kp == !ks);
        if (what[i] == REC_OLD_FORMAT) assert_non_null(kp);
        if (!kp) continue;
        assert_true(kp->keep_until == ks->keep_until);
        /* No forged record is held, and none stretched a winner's keep. */
        if (what[i] == REC_FORGED) {
            assert_memory_not_equal(&kp->rec, &b->bans[i], sizeof kp->rec);
            assert_true(kp->keep_until < b->bans[i].expires_at || kp->rec.expires_at == kp->keep_until);
        }
        /* An old-format record of ours is held re-signed (its verdict, BAD, was not the new record's). */
        if (what[i] == REC_OLD_FORMAT) {
            assert_true(kp->rec.hlc == b->bans[i].hlc && kp->rec.author == ida->origin);
            assert_true(gossip_state_ban_authentic(par, &kp->rec));
        }
    }
    gossip_body_destroy(&b);
    gossip_state_destroy(&par);
    gossip_state_destroy(&seq);
    free(recs);
    free(held);
}

static void test_big_body_threaded_equals_one_by_one(void **state)
{
    (void)state;
    check_big_body(1000000, 0);
}

static void test_big_body_evictions(void **state)
{
    (void)state;
    check_big_body(BIG / 2, 0);
}

static void test_big_body_restore(void **state)
{
    (void)state;
    check_big_body(1000000, GOSSIP_MERGE_RESTORE);
}

/* A frame's signature vouches for its sender's own records (GOSSIP_MERGE_SENDER_SIGNED): such a record is
 * taken without a check of its own, so one whose own signature is bad is taken too (what the sender signed
 * is what it sent). Anyone else's record in the same frame is checked, and without the flag (a snapshot, a
 * body of unknown origin) every record is. Both paths: a small body, and a large one checked on threads. */
static void test_sender_vouches_own_records(void **state)
{
    (void)state;
    enum { N = 200 };
    static struct gossip_ban recs[2 * N];
    for (unsigned i = 0; i < 2 * N; i++) {
        recs[i] = signed_rec(i < N ? idb : idc, i, T0 - 1000, T0 + 3600000, false);
        if (i % 2 == 0) snprintf(recs[i].reason, sizeof recs[i].reason, "altered after signing");
    }
    const unsigned both = GOSSIP_MERGE_SENDER_SLOTS_ONLY | GOSSIP_MERGE_SENDER_SIGNED;

    /* One record of b's whose signature is bad: refused unless b's frame vouches for it. */
    struct gossip_state *st = mk(ida);
    struct gossip_merge_result r = merge_from(st, &recs[0], 1, idb->origin, GOSSIP_MERGE_SENDER_SLOTS_ONLY, T0);
    assert_int_equal(r.rej_ban_sig, 1);
    r = merge_from(st, &recs[0], 1, idc->origin, both, T0);
    assert_int_equal(r.rej_ban_sig, 1);
    assert_int_equal(r.bans_vouched, 0);
    assert_null(gossip_state_ban_get(st, recs[0].key));
    r = merge_from(st, &recs[0], 1, idb->origin, both, T0);
    assert_int_equal(r.rej_ban_sig, 0);
    assert_int_equal(r.bans_vouched, 1);
    assert_int_equal(r.bans_changed, 1);
    assert_string_equal(gossip_state_ban_get(st, recs[0].key)->reason, "altered after signing");
    gossip_state_destroy(&st);

    /* b's 200 and c's 200, half of each altered, in one body from b: b's are not even looked at by the
     * threads, c's are checked, and only c's altered ones are refused. */
    st = mk(ida);
    struct gossip_body *b = body_of(recs, 2 * N);
    uint8_t *sig = gossip_state_verify_bans(st, b, idb->origin, both, T0);
    assert_non_null(sig);
    for (unsigned i = 0; i < 2 * N; i++)
        assert_int_equal(sig[i], i < N ? GOSSIP_SIG_UNKNOWN : i % 2 ? GOSSIP_SIG_OK : GOSSIP_SIG_BAD);
    free(sig);
    gossip_body_destroy(&b);
    r = merge_from(st, recs, 2 * N, idb->origin, both | GOSSIP_MERGE_SENDER_DIRECT, T0);
    assert_int_equal(r.bans_vouched, N);
    assert_int_equal(r.bans_changed, N + N / 2);
    assert_int_equal(r.rej_ban_sig, N / 2);
    /* Relayed in this node's next delta: c's records, which came from b; not b's own, which b's frame
     * brought straight to every peer that subscribes to b. */
    assert_int_equal(gossip_state_pending(st), N / 2);
    struct gossip_writer w;
    gossip_writer_init(&w);
    size_t taken = 0, got;
    while ((got = gossip_state_take_delta(st, &w, 65536)) > 0) {
        struct gossip_body *out = NULL;
        assert_int_equal(gossip_body_decode((const uint8_t *)w.buf.data, w.buf.size, 0, &out), GOSSIP_WIRE_OK);
        for (size_t i = 0; i < out->n_bans; i++) assert_true(out->bans[i].author == idc->origin);
        gossip_body_destroy(&out);
        gossip_writer_reset(&w);
        taken += got;
    }
    gossip_writer_fini(&w);
    assert_int_equal(taken, N / 2);
    gossip_state_destroy(&st);
    /* The same frame in a relay's RELAY frame, or at a node that relays a site: b's are relayed too. */
    st = mk(ida);
    merge_from(st, recs, 2 * N, idb->origin, both, T0);
    assert_int_equal(gossip_state_pending(st), N + N / 2);
    gossip_state_destroy(&st);
    /* The same body from c: c's vouched for, b's altered ones refused. */
    st = mk(ida);
    r = merge_from(st, recs, 2 * N, idc->origin, both, T0);
    assert_int_equal(r.bans_vouched, N);
    assert_int_equal(r.rej_ban_sig, N / 2);
    gossip_state_destroy(&st);
    /* Without the flag every altered record is refused. */
    st = mk(ida);
    r = merge_from(st, recs, 2 * N, idb->origin, GOSSIP_MERGE_SENDER_SLOTS_ONLY, T0);
    assert_int_equal(r.bans_vouched, 0);
    assert_int_equal(r.rej_ban_sig, N);
    gossip_state_destroy(&st);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_unban_vs_ban_both_orders),
        cmocka_unit_test(test_concurrent_tie_is_deterministic),
        cmocka_unit_test(test_tombstone_collected_when_due),
        cmocka_unit_test(test_refused_records),
        cmocka_unit_test(test_callback_may_write),
        cmocka_unit_test(test_big_body_threaded_equals_one_by_one),
        cmocka_unit_test(test_big_body_evictions),
        cmocka_unit_test(test_big_body_restore),
        cmocka_unit_test(test_sender_vouches_own_records),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
