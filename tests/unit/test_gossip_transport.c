/* test_gossip_transport.c: the transport's per-origin bookkeeping (sequence gaps, repair accounting,
 * epochs, replay stamps, liveness), then two transports in one process over real TCP loopback
 * sockets: a delta arrives, losses are repaired, and hostile frames (lying msgpack counts, garbage,
 * a replay, an unknown key) are dropped and counted without changing the state. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sodium.h>

#include "agent/util.h"
#include "tests/support/portblock.h"
#include "tests/support/state_copy.h"
#include "gossip/peer.h"
#include "gossip/transport.h"
#include "gossip/transport_int.h"   /* tp_read_budget_ns */

static struct gossip_peer *mkpeer(void)
{
    uint8_t pk[GOSSIP_PK_LEN];
    memset(pk, 7, sizeof pk);
    return gossip_peer_new("p", pk, "tcp://127.0.0.1:1", "tcp://127.0.0.1:2");
}

static void test_seq_in_order_gap_repair_replay(void **state)
{
    (void)state;
    struct gossip_peer *p = mkpeer();
    /* first word: adopted without demanding history */
    assert_int_equal(gossip_peer_seq_check(p, 10, 5), GOSSIP_SEQ_OK);
    assert_int_equal(gossip_peer_seq_check(p, 10, 6), GOSSIP_SEQ_OK);
    assert_int_equal(p->n_gaps, 0);
    /* 7..9 lost */
    assert_int_equal(gossip_peer_seq_check(p, 10, 10), GOSSIP_SEQ_GAP);
    assert_int_equal(p->n_gaps, 1);
    assert_int_equal(p->gaps[0].from, 7);
    assert_int_equal(p->gaps[0].to, 9);
    assert_int_equal(p->st.gaps_seen, 3);
    /* the middle one arrives: the gap splits */
    assert_int_equal(gossip_peer_seq_check(p, 10, 8), GOSSIP_SEQ_REPAIRED);
    assert_int_equal(p->n_gaps, 2);
    assert_int_equal(gossip_peer_seq_check(p, 10, 7), GOSSIP_SEQ_REPAIRED);
    assert_int_equal(gossip_peer_seq_check(p, 10, 9), GOSSIP_SEQ_REPAIRED);
    assert_int_equal(p->n_gaps, 0);
    assert_int_equal(p->st.gaps_repaired, 3);
    /* everything seen before is a replay now, and so is seq 0 */
    for (uint64_t s = 5; s <= 10; s++)
        assert_int_equal(gossip_peer_seq_check(p, 10, s), GOSSIP_SEQ_REPLAY);
    assert_int_equal(gossip_peer_seq_check(p, 10, 0), GOSSIP_SEQ_REPLAY);
    assert_int_equal(p->st.gaps_repaired, 3);
    gossip_peer_destroy(&p);
    gossip_peer_destroy(&p);   /* safe twice */
}

static void test_seq_epochs(void **state)
{
    (void)state;
    struct gossip_peer *p = mkpeer();
    gossip_peer_seq_check(p, 10, 1);
    assert_int_equal(gossip_peer_seq_check(p, 10, 4), GOSSIP_SEQ_GAP);   /* 2..3 missing */
    /* restart: the old epoch's gaps are abandoned, the new one starts at 1, so seq 3 leaves 1..2 */
    assert_int_equal(gossip_peer_seq_check(p, 11, 3), GOSSIP_SEQ_GAP);
    assert_int_equal(p->st.gaps_abandoned, 2);
    assert_int_equal(p->st.epoch, 11);
    assert_int_equal(p->n_gaps, 1);
    assert_int_equal(p->gaps[0].from, 1);
    assert_int_equal(p->gaps[0].to, 2);
    /* frames of the old epoch are replays */
    assert_int_equal(gossip_peer_seq_check(p, 10, 5), GOSSIP_SEQ_REPLAY);
    /* a sync standing for the range covers it */
    gossip_peer_gaps_covered(p, 11, 2);
    assert_int_equal(p->n_gaps, 0);
    assert_int_equal(p->st.gaps_repaired, 2);
    gossip_peer_destroy(&p);
}

static void test_announce_and_fold(void **state)
{
    (void)state;
    struct gossip_peer *p = mkpeer();
    assert_false(gossip_peer_announce(p, 3, 100));   /* first word */
    assert_false(gossip_peer_announce(p, 3, 100));   /* nothing new */
    assert_true(gossip_peer_announce(p, 3, 104));    /* tail 101..104 never came */
    assert_int_equal(p->gaps[0].from, 101);
    assert_int_equal(p->gaps[0].to, 104);
    /* many disjoint gaps fold into the last slot instead of growing without bound */
    uint64_t s = 105;
    for (int i = 0; i < 3 * GOSSIP_PEER_MAX_GAPS; i++, s += 2)
        gossip_peer_seq_check(p, 3, s + 1);
    assert_int_equal(p->n_gaps, GOSSIP_PEER_MAX_GAPS);
    assert_true(p->gaps[GOSSIP_PEER_MAX_GAPS - 1].to == s - 2);
    gossip_peer_gap_abandon(p, 0);
    assert_int_equal(p->n_gaps, GOSSIP_PEER_MAX_GAPS - 1);
    assert_int_equal(p->st.gaps_abandoned, 4);
    gossip_peer_destroy(&p);
}

static void test_stamps_and_status(void **state)
{
    (void)state;
    struct gossip_peer *p = mkpeer();
    uint64_t base = (uint64_t)1700000000000LL << 16;
    assert_true(gossip_peer_stamp_fresh(p, GOSSIP_CH_DEALER, 9, base + 5, 60000));
    assert_false(gossip_peer_stamp_fresh(p, GOSSIP_CH_DEALER, 9, base + 5, 60000));        /* same stamp again */
    assert_true(gossip_peer_stamp_fresh(p, GOSSIP_CH_DEALER, 9, base + 3, 60000));         /* reordered, still new */
    assert_false(gossip_peer_stamp_fresh(p, GOSSIP_CH_DEALER, 9, base - (61000ULL << 16), 60000));   /* too old */
    for (uint64_t i = 0; i < GOSSIP_PEER_RECENT; i++)
        assert_true(gossip_peer_stamp_fresh(p, GOSSIP_CH_DEALER, 9, base + 100 + i, 60000));
    assert_false(gossip_peer_stamp_fresh(p, GOSSIP_CH_DEALER, 9, base + 4, 60000));        /* below all remembered: refused */
    assert_false(gossip_peer_stamp_fresh(p, GOSSIP_CH_DEALER, 8, base + 9999, 60000));     /* an older boot */
    /* a restart whose clock stepped back ten minutes is believed again */
    assert_true(gossip_peer_stamp_fresh(p, GOSSIP_CH_DEALER, 10, base - (600000ULL << 16), 60000));
    /* Channels are judged apart: a sync answer written at base + 10, read after a minute of newer
     * heartbeats, is still fresh on its own channel; the same stamp twice on it is not. */
    uint64_t later = base + (70000ULL << 16);
    assert_true(gossip_peer_stamp_fresh(p, GOSSIP_CH_SUB, 10, later, 60000));
    assert_false(gossip_peer_stamp_fresh(p, GOSSIP_CH_SUB, 10, base + 10, 60000));
    assert_true(gossip_peer_stamp_fresh(p, GOSSIP_CH_DEALER, 10, base + 10, 60000));
    assert_false(gossip_peer_stamp_fresh(p, GOSSIP_CH_DEALER, 10, base + 10, 60000));
    assert_true(gossip_peer_stamp_fresh(p, GOSSIP_CH_ROUTER, 10, base + 10, 60000));
    assert_int_equal(gossip_peer_status_at(p, 1000, 3000, 10000), GOSSIP_PEER_DEAD);   /* never heard */
    p->last_msg_mono = 1000;
    assert_int_equal(gossip_peer_status_at(p, 3500, 3000, 10000), GOSSIP_PEER_ALIVE);
    assert_int_equal(gossip_peer_status_at(p, 5000, 3000, 10000), GOSSIP_PEER_SUSPECT);
    assert_int_equal(gossip_peer_status_at(p, 12000, 3000, 10000), GOSSIP_PEER_DEAD);
    gossip_peer_destroy(&p);
}

/* ---- two transports over loopback ---- */

struct rig {
    zloop_t *loop;
    struct gossip_identity *id[3];   /* a, b, and a stranger outside the keyring */
    struct gossip_keyring *kr;
    struct gossip_state *st[2];
    struct gossip_transport *t[2];
    int port;
    size_t merged;
};

static void on_merged(const struct gossip_body *b, const struct gossip_merge_result *res, uint64_t sender, void *arg)
{
    (void)b;
    (void)sender;
    ((struct rig *)arg)->merged += res->changed;
}

static int rig_frame_budget;   /* 0: the transport's default */
static int rig_recv_budget_us; /* 0: the transport's default */
static int rig_recv_burst;     /* 0: the transport's default */

static void rig_up(struct rig *r, unsigned loss_b, size_t keep_a)
{
    memset(r, 0, sizeof *r);
    r->kr = gossip_keyring_new();
    for (int i = 0; i < 3; i++) {
        uint8_t seed[32];
        char name[16];
        memset(seed, 0x40 + i, sizeof seed);
        snprintf(name, sizeof name, "n%d", i);
        r->id[i] = gossip_identity_from_seed(name, seed);
        if (i < 2)
            gossip_keyring_add_identity(r->kr, r->id[i]);
    }
    r->loop = zloop_new();
    for (int i = 0; i < 2; i++) {
        struct gossip_state_config sc;
        gossip_state_config_default(&sc);
        r->st[i] = gossip_state_new(&sc, r->id[i], r->kr, 1000 + (uint32_t)i);
    }
    /* Each rig takes the next 4 ports of a block this process holds (outside the ephemeral range,
     * reserved against other test runs); a port that something else binds meanwhile fails the bind:
     * then a fresh block. */
    static int block = -1, next;
    for (int attempt = 0; attempt < 10 && !r->t[1]; attempt++) {
        gossip_transport_destroy(&r->t[0]);
        if (block < 0 || attempt > 0 || next + 4 > PORTBLOCK_SIZE) {
            block = portblock_take();
            next = 0;
            assert_true(block > 0);
        }
        r->port = block + next;
        next += 4;
        char ep[4][64];
        for (int i = 0; i < 4; i++)
            snprintf(ep[i], sizeof ep[i], "tcp://127.0.0.1:%d", r->port + i);
        for (int i = 0; i < 2 && (i == 0 || r->t[0]); i++) {
            struct gossip_transport_peer peer = { r->id[1 - i]->name, ep[2 * (1 - i)], ep[2 * (1 - i) + 1], NULL, false };
            struct gossip_transport_config tc;
            gossip_transport_config_default(&tc);
            tc.self = r->id[i];
            tc.pub_bind = ep[2 * i];
            tc.sync_bind = ep[2 * i + 1];
            tc.peers = &peer;
            tc.n_peers = 1;
            tc.heartbeat_ms = 100;
            tc.sync_interval_ms = 60000;   /* repair, not sync, must do the work */
            tc.test_loss_permille = i == 1 ? loss_b : 0;
            if (rig_frame_budget)
                tc.frame_budget = rig_frame_budget;
            if (rig_recv_budget_us)
                tc.recv_budget_us = rig_recv_budget_us;
            if (rig_recv_burst)
                tc.recv_burst = rig_recv_burst;
            if (i == 0 && keep_a)
                tc.repair_keep_frames = keep_a;
            r->t[i] = gossip_transport_new(r->loop, r->st[i], r->kr, &tc);
        }
    }
    assert_non_null(r->t[0]);
    assert_non_null(r->t[1]);
    gossip_transport_set_merge_cb(r->t[1], on_merged, r);
}

static void rig_down(struct rig *r)
{
    for (int i = 0; i < 2; i++) {
        gossip_transport_destroy(&r->t[i]);
        gossip_transport_destroy(&r->t[i]);
        gossip_state_destroy(&r->st[i]);
    }
    zloop_destroy(&r->loop);
    for (int i = 0; i < 3; i++)
        gossip_identity_destroy(&r->id[i]);
    gossip_keyring_destroy(&r->kr);
}

static int stop_loop(zloop_t *loop, int id, void *arg)
{
    (void)loop, (void)id, (void)arg;
    return -1;
}

/* Runs the loop for ms milliseconds. */
static void run_for(struct rig *r, int ms)
{
    zloop_timer(r->loop, (size_t)ms, 1, stop_loop, NULL);
    zloop_start(r->loop);
}

static bool same_state(struct rig *r)
{
    uint8_t *a, *b;
    size_t la, lb;
    gossip_state_encode(r->st[0], &a, &la);
    gossip_state_encode(r->st[1], &b, &lb);
    bool eq = la == lb && memcmp(a, b, la) == 0;
    free(a), free(b);
    return eq;
}

/* keep_a: frames a keeps for repair (0: default). With 1, most lost frames are gone when asked
 * for, and a answers with a digest sync that stands for them. */
static void delta_and_repair(size_t keep_a)
{
    struct rig r;
    rig_up(&r, 400, keep_a);   /* b loses 40% of what its SUB reads */
    run_for(&r, 400);  /* connect */
    int64_t now = sg_now_ms();
    for (int i = 0; i < 300; i++) {
        char key[32];
        snprintf(key, sizeof key, "k|%d", i);
        gossip_state_counter_add(r.st[0], key, 1, now);
        gossip_transport_notify(r.t[0]);
        if (i % 10 == 9)
            run_for(&r, 20);   /* several frames, so that some are lost */
    }
    for (int i = 0; i < 40 && !same_state(&r); i++)
        run_for(&r, 100);
    assert_true(same_state(&r));
    assert_true(r.merged >= 300);
    struct gossip_peer_stats ps;
    /* a resent frame may still be on its way when the last key arrived by another one */
    for (int i = 0; i < 20; i++) {
        assert_int_equal(gossip_transport_peer_stats(r.t[1], 0, &ps), 0);
        if (ps.gaps_seen == ps.gaps_repaired)
            break;
        run_for(&r, 100);
    }
    assert_string_equal(ps.name, "n0");
    assert_true(ps.gaps_seen > 0);
    assert_int_equal(ps.gaps_seen, ps.gaps_repaired);
    assert_int_equal(ps.status, GOSSIP_PEER_ALIVE);
    struct gossip_transport_totals tot;
    gossip_transport_totals(r.t[0], &tot);
    assert_true(keep_a == 1 ? tot.repairs_synced > 0 : tot.repairs_resent > 0);
    assert_int_equal(gossip_transport_peer_stats(r.t[1], 5, &ps), -1);
    char *buf = NULL;
    size_t blen = 0;
    FILE *f = open_memstream(&buf, &blen);
    assert_int_equal(gossip_transport_stats_json(r.t[1], f), 0);
    fclose(f);
    assert_non_null(strstr(buf, "\"name\":\"n0\""));
    assert_non_null(strstr(buf, "\"state\":\"alive\""));
    free(buf);
    rig_down(&r);
}

static void test_loopback_delta_and_repair(void **state)
{
    (void)state;
    delta_and_repair(0);
}

static void test_loopback_repair_by_sync(void **state)
{
    (void)state;
    delta_and_repair(1);
}

/* A rig of two nodes with this frame budget; once connected (totals then into *tot0), node 0 writes
 * a new key every 2 ms for a second (*elapsed: how long it took). Returns the keys written. */
static int write_a_second(struct rig *r, int budget, const char *prefix, struct gossip_transport_totals *tot0,
                          int64_t *elapsed)
{
    rig_frame_budget = budget;
    rig_up(r, 0, 0);
    rig_frame_budget = 0;
    run_for(r, 400);   /* connect */
    gossip_transport_totals(r->t[0], tot0);
    int64_t start = sg_mono_ms(), now = sg_now_ms();
    int keys = 0;
    while (sg_mono_ms() - start < 1000) {
        char key[32];
        snprintf(key, sizeof key, "%s|%d", prefix, keys++);
        gossip_state_counter_add(r->st[0], key, 1, now);
        gossip_transport_notify(r->t[0]);
        run_for(r, 2);
    }
    *elapsed = sg_mono_ms() - start;
    return keys;
}

/* Pacing: with a cluster budget of 20 frames/s and 2 nodes, a node that writes every 2 ms starts a
 * flush at most every 100 ms, so its frames carry more entries each, and nothing is lost. Unpaced, it
 * would flush every 5 ms (flush_delay_ms). */
/* What a node has caught up with, in its heartbeats: `seen` is what its horizon callback says (given
 * the input horizon: its live peers' `sent`), and `sent` does not pass a change of its own until that
 * change has gone out, so a peer that reads a `sent` past a change has that change already. */
struct horizon { int64_t value, input; };
static int64_t test_horizon(int64_t input_ms, void *arg)
{
    struct horizon *h = arg;
    h->input = input_ms;
    return h->value;
}

static void test_loopback_heartbeat_horizons(void **state)
{
    (void)state;
    struct rig r;
    rig_up(&r, 0, 0);
    struct horizon h = { 12345, 0 };
    gossip_transport_set_horizon_fn(r.t[1], test_horizon, &h);
    struct gossip_peer_stats of1, of0;
    for (int i = 0; i < 100; i++) {
        run_for(&r, 50);
        gossip_transport_peer_stats(r.t[0], 0, &of1);
        gossip_transport_peer_stats(r.t[1], 0, &of0);
        if (of1.seen_ms == 12345 && h.input > 0 && of0.seen_ms > 0 && gossip_transport_synced(r.t[0]) &&
            gossip_transport_synced(r.t[1]))
            break;   /* the first syncs are over too: the next comes in 60 s */
    }
    assert_int_equal(of1.seen_ms, 12345);
    assert_true(of1.sent_ms > 0 && of1.sent_ms <= sg_now_ms());
    assert_true(h.input > 0 && h.input <= sg_now_ms());   /* node 0's sent, as node 1 read it */
    assert_true(of0.seen_ms > 0);   /* without a callback: its input horizon, node 1's sent */
    /* A change of node 1 not flushed yet holds its sent back, heartbeat after heartbeat. (A flush
     * that something else asks for meanwhile sends it: then again.) */
    int64_t wrote = 0;
    char key[64];
    bool held = false;
    for (int attempt = 0; attempt < 10 && !held; attempt++) {
        struct gossip_transport_totals t0, t1;
        gossip_transport_totals(r.t[1], &t0);
        snprintf(key, sizeof key, "auth-ip|ip:192.0.2.%d", 70 + attempt);
        wrote = sg_now_ms();
        gossip_state_counter_add(r.st[1], key, 1, wrote);
        run_for(&r, 500);
        gossip_transport_totals(r.t[1], &t1);
        if (t1.deltas_flushed != t0.deltas_flushed) continue;
        gossip_transport_peer_stats(r.t[0], 0, &of1);
        assert_true(of1.sent_ms <= wrote);   /* sent: every change made before it, in ms */
        assert_true(of1.last_msg_age_ms >= 0 && of1.last_msg_age_ms < 300);   /* heartbeats came meanwhile */
        held = true;   /* (node 0 may have the change already: a sync answer carries pending entries too) */
    }
    assert_true(held);
    /* Flushed: once node 0 reads a sent past it, it has merged the change. */
    gossip_transport_notify(r.t[1]);
    for (int i = 0; i < 100 && of1.sent_ms <= wrote; i++) {
        run_for(&r, 20);
        gossip_transport_peer_stats(r.t[0], 0, &of1);
    }
    assert_true(of1.sent_ms > wrote);
    assert_int_equal(gossip_state_counter_total(r.st[0], key, 60000, wrote), 1);
    rig_down(&r);
}

/* The HEARTBEAT body a signed member writes: each shape other than [wall] and [wall, sent, seen] of
 * integers is malformed, and sent and seen are held to [0, wall] whatever it claims. */
static void test_heartbeat_body_hostile(void **state)
{
    (void)state;
    struct tp_heartbeat hb;
    msgpack_sbuffer sb;
    msgpack_packer pk;
    /* rows: array length, values (as int64), and what comes out (-1: malformed) */
    static const struct {
        unsigned n;
        int64_t v[4];
        int64_t wall, sent, seen;
    } rows[] = {
        { 3, { 5000, 4000, 3000 }, 5000, 4000, 3000 },                /* honest */
        { 1, { 5000 }, 5000, 5000, 0 },                                /* an older node: [wall] */
        { 3, { 5000, INT64_MAX, INT64_MAX }, 5000, 5000, 5000 },       /* far future: its own clock */
        { 3, { 5000, -7, INT64_MIN }, 5000, 0, 0 },                    /* negative */
        { 3, { -1, 10, 10 }, 0, 0, 0 },                                /* a clock before 1970 */
        { 2, { 5000, 4000 }, -1, -1, -1 },                             /* short */
        { 4, { 5000, 4000, 3000, 2000 }, -1, -1, -1 },                 /* long */
        { 0, { 0 }, -1, -1, -1 },                                      /* empty */
    };
    for (size_t i = 0; i < sizeof rows / sizeof rows[0]; i++) {
        msgpack_sbuffer_init(&sb);
        msgpack_packer_init(&pk, &sb, msgpack_sbuffer_write);
        msgpack_pack_array(&pk, rows[i].n);
        for (unsigned k = 0; k < rows[i].n; k++)
            msgpack_pack_int64(&pk, rows[i].v[k]);
        memset(&hb, 0x5a, sizeof hb);
        bool ok = tp_heartbeat_parse((const uint8_t *)sb.data, sb.size, &hb);
        assert_int_equal(ok, rows[i].wall >= 0);
        if (ok) {
            assert_int_equal(hb.wall, rows[i].wall);
            assert_int_equal(hb.sent, rows[i].sent);
            assert_int_equal(hb.seen, rows[i].seen);
        }
        /* every shorter prefix of it is malformed, and so is it with one byte more */
        for (size_t cut = 0; cut < sb.size; cut++)
            assert_false(tp_heartbeat_parse((const uint8_t *)sb.data, cut, &hb));
        msgpack_sbuffer_write(&sb, "\x00", 1);
        assert_false(tp_heartbeat_parse((const uint8_t *)sb.data, sb.size, &hb));
        msgpack_sbuffer_destroy(&sb);
    }
    /* not integers: a string, a float, nil, a map */
    static const uint8_t bad[][8] = {
        { 0x93, 0xa1, 'x', 0x01, 0x02 },
        { 0x93, 0xca, 0x40, 0x49, 0x0f, 0xdb, 0x01, 0x02 },
        { 0x93, 0xc0, 0x01, 0x02 },
        { 0x81, 0x01, 0x02 },
    };
    static const size_t bad_len[] = { 5, 8, 4, 3 };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++)
        assert_false(tp_heartbeat_parse(bad[i], bad_len[i], &hb));
}

static void test_loopback_flush_paced(void **state)
{
    (void)state;
    struct rig r;
    struct gossip_transport_totals tot0, tot;
    int64_t elapsed;
    int keys = write_a_second(&r, 20, "p", &tot0, &elapsed);
    for (int i = 0; i < 40 && !same_state(&r); i++)
        run_for(&r, 100);
    gossip_transport_totals(r.t[0], &tot);
    uint64_t frames = tot.deltas_flushed - tot0.deltas_flushed;
    assert_true(keys > 50);
    assert_true(frames >= 2);
    assert_true(frames <= (uint64_t)(elapsed / 100) + 2);   /* + the flush in progress at the end */
    assert_int_equal(tot.entries_published - tot0.entries_published, (uint64_t)keys);
    assert_true(same_state(&r));
    assert_int_equal(r.merged, (size_t)keys);
    rig_down(&r);
}

/* Pacing is bounded: a budget of 1 frame/s for 2 nodes would hold each flush 2 s after the last
 * (a peer list of 10000 nodes at the default budget likewise); it waits 200 ms at most, so a node
 * writing for a second flushes several times. */
static void test_loopback_flush_pace_bounded(void **state)
{
    (void)state;
    struct rig r;
    struct gossip_transport_totals tot0, tot;
    int64_t elapsed;
    (void)write_a_second(&r, 1, "b", &tot0, &elapsed);
    gossip_transport_totals(r.t[0], &tot);
    assert_true(tot.deltas_flushed - tot0.deltas_flushed >= 3);   /* unbounded: 1 (then 2 s of wait) */
    rig_down(&r);
}

/* A reader yields the loop once its time budget is spent, and the frames left queued are read on
 * the next turns: with a budget of 1 us, b reads one frame per turn of a burst, counts the cut turns,
 * and still ends with a's state whole. (Without the budget, one turn reads up to 256 frames, however
 * long their signature checks take.) */
/* A reader's turn: the base budget, or, after a turn that left messages queued, the time the loop
 * spent elsewhere since, within [base, TP_RECV_BUDGET_MAX_US]. */
static void test_read_budget(void **state)
{
    (void)state;
    assert_int_equal(tp_read_budget_ns(5000, false, 80000000), 5000000);      /* not behind: the base */
    assert_int_equal(tp_read_budget_ns(5000, true, 1000000), 5000000);        /* never below the base */
    assert_int_equal(tp_read_budget_ns(5000, true, 20000000), 20000000);      /* behind: as long as the rest */
    assert_int_equal(tp_read_budget_ns(5000, true, 900000000), TP_RECV_BUDGET_MAX_US * 1000LL);   /* capped */
}

/* A sync this node asked for that took D puts the next periodic one off to TP_SYNC_COST_FACTOR x D
 * after its end (capped) when that is later than planned; a short one leaves the plan alone. */
static void test_sync_backoff(void **state)
{
    (void)state;
    struct gossip_transport t;
    memset(&t, 0, sizeof t);
    t.cfg.sync_interval_ms = 10000;
    t.next_sync_mono = 11000;                 /* planned at its start, 1000: the 10 s interval */
    tp_sync_backoff(&t, 50, 1050);            /* 50 ms: 450 ms more would be shorter than the period */
    assert_int_equal(t.next_sync_mono, 11000);
    t.next_sync_mono = 1000;                  /* overdue (a sync asked for at once, e.g. a peer first heard) */
    tp_sync_backoff(&t, 1100, 2100);          /* 9.9 s more: still not longer than the period, not counted */
    assert_int_equal(t.next_sync_mono, 1000);
    assert_int_equal(t.tot.syncs_backed_off, 0);
    t.next_sync_mono = 11000;
    tp_sync_backoff(&t, 30000, 31000);        /* 30 s, as a sync of a whole state during an attack */
    assert_int_equal(t.next_sync_mono, 31000 + 30000LL * TP_SYNC_COST_FACTOR);
    assert_int_equal(t.tot.syncs_backed_off, 1);
    tp_sync_backoff(&t, 3600000, 3601000);    /* an hour: capped */
    assert_int_equal(t.next_sync_mono, 3601000 + TP_SYNC_BACKOFF_MAX_MS);
    assert_int_equal(t.tot.syncs_backed_off, 2);
}

static void test_loopback_recv_budget(void **state)
{
    (void)state;
    struct rig r;
    rig_recv_budget_us = 1;
    rig_up(&r, 0, 0);
    rig_recv_budget_us = 0;
    run_for(&r, 400);   /* connect */
    int64_t now = sg_now_ms();
    int keys = 0;
    for (int burst = 0; burst < 40; burst++) {   /* 40 flushes queued before b's loop turns again */
        for (int k = 0; k < 20; k++) {
            char key[32];
            snprintf(key, sizeof key, "r|%d", keys++);
            gossip_state_counter_add(r.st[0], key, 1, now);
        }
        gossip_transport_notify(r.t[0]);
        run_for(&r, 6);
    }
    for (int i = 0; i < 40 && !same_state(&r); i++)
        run_for(&r, 100);
    struct gossip_transport_totals tot;
    gossip_transport_totals(r.t[1], &tot);
    assert_true(same_state(&r));
    assert_int_equal(r.merged, (size_t)keys);
    assert_true(tot.recv_yields > 0);
    rig_down(&r);
}

/* b arrives to find 30000 keys at a, never flushed: b's first sync brings them, in several
 * SYNC_DATA frames sent over several loop turns. */
static void test_loopback_sync_large_state(void **state)
{
    (void)state;
    struct rig r;
    rig_up(&r, 0, 0);
    int64_t now = sg_now_ms();
    for (int i = 0; i < 30000; i++) {
        char key[48];
        snprintf(key, sizeof key, "auth-ip|ip:10.0.%d.%d", i / 256, i % 256);
        gossip_state_counter_add(r.st[0], key, 1 + (uint64_t)(i % 3), now);
    }
    /* a's own sync may fill b before b's request is answered: wait for both */
    for (int i = 0; i < 50 && !(same_state(&r) && gossip_transport_synced(r.t[1])); i++)
        run_for(&r, 100);
    assert_true(same_state(&r));
    assert_true(gossip_transport_synced(r.t[1]));
    struct gossip_transport_totals tot;
    gossip_transport_totals(r.t[0], &tot);
    assert_true(tot.bytes_out > 3 * 256 * 1024);   /* several full SYNC_DATA frames */
    rig_down(&r);
}

/* Both nodes start their first sync at the same moment (the exchanges cross), and every reader takes
 * one message per loop turn, so each exchange is read over as many turns as it has frames, interleaved
 * with the other exchange and with the other sockets. a holds `shared` keys that b holds too, and
 * `extra` keys b lacks. Both syncs must complete (closing digest read), b must end with a's whole
 * state, and a must not send its state twice (a request answered while the previous answer is still
 * queued unread would be answered from stale leaf sums). */
static void sync_one_message_per_turn(int shared, int extra)
{
    struct rig r;
    rig_recv_burst = 1;
    rig_up(&r, 0, 0);
    rig_recv_burst = 0;
    int64_t now = sg_now_ms();
    char key[48];
    for (int i = 0; i < shared + extra; i++) {
        snprintf(key, sizeof key, "auth-ip|ip:10.%d.%d.%d", 1 + i / 65536, i / 256 % 256, i % 256);
        gossip_state_counter_add(r.st[0], key, 1 + (uint64_t)(i % 3), now);
        if (i % 4 == 0) {
            snprintf(key, sizeof key, "ip:10.%d.%d.%d", 1 + i / 65536, i / 256 % 256, i % 256);
            struct gossip_ban_spec sp = { .key = key, .action = GOSSIP_BAN_ACTION_BAN, .kind = GOSSIP_BAN_KIND_BLOCK,
                                          .expires_at = now + 3600000, .level = 1, .reason = "test" };
            assert_int_equal(gossip_state_ban_put(r.st[0], &sp, now, NULL), 0);
        }
        if (i + 1 == shared)   /* b holds a's first keys already, as after an earlier sync */
            sg_test_copy_state(r.st[0], r.st[1], r.id[0]->origin, now);
    }
    sg_test_drain(r.st[0]);
    sg_test_drain(r.st[1]);
    size_t full = sg_test_copy_state(r.st[0], NULL, 0, now);   /* one full answer's bytes */
    for (int i = 0; i < 100 && !(same_state(&r) && gossip_transport_synced(r.t[0]) && gossip_transport_synced(r.t[1]));
         i++)
        run_for(&r, 100);
    struct gossip_transport_totals ta, tb;
    gossip_transport_totals(r.t[0], &ta);
    gossip_transport_totals(r.t[1], &tb);
    assert_true(same_state(&r));
    assert_true(gossip_transport_synced(r.t[0]));
    assert_true(gossip_transport_synced(r.t[1]));
    /* each side's exchange ended with its closing digest (one that timed out while the other side
     * held it, under load, is replaced by the next request, which is answered) */
    assert_true(ta.syncs_completed >= 1 && tb.syncs_completed >= 1);
    /* a's state went out once (unfixed, the large case sent it 1.87 times: b's request answered from
     * leaf sums taken while a's first answer was still queued unread at b) */
    assert_true(ta.bytes_out < full + full / 2);
    /* a's ban records reached b in a's own frames: vouched for by their signature, not checked one by one */
    assert_true(tb.bans_vouched >= (uint64_t)extra / 4 && tb.bans_vouched > 0);
    rig_down(&r);
}

static void test_loopback_sync_turns_sparse(void **state)
{
    (void)state;
    sync_one_message_per_turn(20000, 40);
}

static void test_loopback_sync_turns_large(void **state)
{
    (void)state;
    sync_one_message_per_turn(0, 40000);
}

/* Sends raw frames to b's ROUTER from a plain DEALER. */
static void send_raw(struct rig *r, const uint8_t *const *frames, const size_t *lens, size_t n)
{
    zsock_t *d = zsock_new(ZMQ_DEALER);
    zsock_set_linger(d, 1000);
    zsock_connect(d, "tcp://127.0.0.1:%d", r->port + 3);
    for (size_t i = 0; i < n; i++)
        zmq_send(zsock_resolve(d), frames[i], lens[i], 0);
    run_for(r, 300);
    zsock_destroy(&d);
}

static uint8_t *signed_frame(struct rig *r, int who, uint8_t type, uint64_t seq, const uint8_t *body, size_t blen,
                             size_t *len)
{
    static uint16_t logical;   /* every frame of one origin has its own stamp, or it is a replay */
    struct gossip_frame_header h = { .type = type, .origin = r->id[who]->origin, .epoch = 1000 + (uint32_t)who,
                                     .seq = seq, .hlc = (uint64_t)sg_now_ms() << 16 | ++logical };
    uint8_t *out = NULL;
    assert_int_equal(gossip_wire_frame_encode(&h, body, blen, r->id[who], &out, len), 0);
    return out;
}

static void test_loopback_hostile_frames(void **state)
{
    (void)state;
    struct rig r;
    rig_up(&r, 0, 0);
    run_for(&r, 300);
    gossip_state_counter_add(r.st[0], "x", 1, sg_now_ms());
    gossip_transport_notify(r.t[0]);
    for (int i = 0; i < 20 && !same_state(&r); i++)
        run_for(&r, 50);
    assert_true(same_state(&r));
    /* a REPAIR_REQ whose body declares a 4-billion element array; a SYNC_DIGEST with a short digest;
     * 50 bytes of noise; a DELTA a's seq 1 again (replay); a correctly signed delta from a stranger */
    static const uint8_t lying[] = { 0xdd, 0xff, 0xff, 0xff, 0xff, 0x01 };
    static const uint8_t short_digest[] = { 0x94, 0x00, 0x00, 0x00, 0xc4, 0x02, 0x01, 0x02 };
    uint8_t noise[50];
    memset(noise, 0xa5, sizeof noise);
    struct gossip_writer w;
    gossip_writer_init(&w);
    gossip_writer_slot(&w, "stranger", sg_now_ms() / 10000 * 10000, r.id[2]->origin, 1, 99);
    size_t lens[5];
    uint8_t *frames[5];
    frames[0] = signed_frame(&r, 0, GOSSIP_FRAME_REPAIR_REQ, 0, lying, sizeof lying, &lens[0]);
    frames[1] = signed_frame(&r, 0, GOSSIP_FRAME_SYNC_DIGEST, 0, short_digest, sizeof short_digest, &lens[1]);
    frames[2] = noise, lens[2] = sizeof noise;
    frames[3] = signed_frame(&r, 0, GOSSIP_FRAME_DELTA, 1, (const uint8_t *)w.buf.data, w.buf.size, &lens[3]);
    frames[4] = signed_frame(&r, 2, GOSSIP_FRAME_DELTA, 1, (const uint8_t *)w.buf.data, w.buf.size, &lens[4]);
    send_raw(&r, (const uint8_t *const *)frames, lens, 5);
    struct gossip_transport_totals tot;
    gossip_transport_totals(r.t[1], &tot);
    assert_int_equal(tot.drops[GOSSIP_DROP_MALFORMED], 3);
    assert_int_equal(tot.drops[GOSSIP_DROP_REPLAY], 1);
    assert_int_equal(tot.drops[GOSSIP_DROP_UNKNOWN_ORIGIN], 1);
    assert_int_equal(gossip_state_counter_total(r.st[1], "stranger", 60000, sg_now_ms()), 0);
    assert_true(same_state(&r));
    free(frames[0]), free(frames[1]), free(frames[3]), free(frames[4]);
    gossip_writer_fini(&w);
    rig_down(&r);
}

/* A SYNC_DIGEST request body [0, 0, 0, digests, recipient]. */
static size_t digest_request(uint8_t *buf, size_t size, uint64_t recipient)
{
    msgpack_sbuffer sb;
    msgpack_packer pk;
    msgpack_sbuffer_init(&sb);
    msgpack_packer_init(&pk, &sb, msgpack_sbuffer_write);
    uint8_t bin[GOSSIP_PARTITIONS * 8] = {0};
    msgpack_pack_array(&pk, 5);
    msgpack_pack_int(&pk, 0);
    msgpack_pack_uint32(&pk, 0);
    msgpack_pack_uint64(&pk, 0);
    msgpack_pack_bin(&pk, sizeof bin);
    msgpack_pack_bin_body(&pk, bin, sizeof bin);
    msgpack_pack_uint64(&pk, recipient);
    assert_true(sb.size <= size);
    memcpy(buf, sb.data, sb.size);
    size_t n = sb.size;
    msgpack_sbuffer_destroy(&sb);
    return n;
}

/* A sync request a signed for another node (the stranger's id stands for it) and replayed to b is
 * dropped as a replay and not answered; the same request addressed to b is answered. */
static void test_loopback_sync_request_bound_to_recipient(void **state)
{
    (void)state;
    struct rig r;
    rig_up(&r, 0, 0);
    run_for(&r, 300);
    uint8_t body[1024];
    size_t lens[2];
    uint8_t *frames[2];
    size_t n = digest_request(body, sizeof body, r.id[2]->origin);
    frames[0] = signed_frame(&r, 0, GOSSIP_FRAME_SYNC_DIGEST, 0, body, n, &lens[0]);
    struct gossip_transport_totals before, after;
    gossip_transport_totals(r.t[1], &before);
    send_raw(&r, (const uint8_t *const *)frames, lens, 1);
    gossip_transport_totals(r.t[1], &after);
    assert_int_equal(after.drops[GOSSIP_DROP_REPLAY], before.drops[GOSSIP_DROP_REPLAY] + 1);
    n = digest_request(body, sizeof body, r.id[1]->origin);
    frames[1] = signed_frame(&r, 0, GOSSIP_FRAME_SYNC_DIGEST, 0, body, n, &lens[1]);
    send_raw(&r, (const uint8_t *const *)&frames[1], &lens[1], 1);
    struct gossip_transport_totals last;
    gossip_transport_totals(r.t[1], &last);
    assert_int_equal(last.drops[GOSSIP_DROP_REPLAY], after.drops[GOSSIP_DROP_REPLAY]);
    assert_int_equal(last.drops[GOSSIP_DROP_MALFORMED], 0);
    assert_true(last.frames_out > after.frames_out);   /* answered: its digest went back */
    free(frames[0]), free(frames[1]);
    rig_down(&r);
}

/* SYNC_LEAVES from a keyring member, signed: a garbled body is a malformed drop, a pull addressed to
 * another node a replay, and a flood of pulls gets TP_EXPORT_JOBS_PER_PEER answers, the rest counted
 * as refused; nothing crashes and b's state is untouched. */
static void test_loopback_sync_leaves_hostile(void **state)
{
    (void)state;
    struct rig r;
    rig_up(&r, 0, 0);
    run_for(&r, 300);
    int64_t now = sg_now_ms();
    for (int i = 0; i < 80000; i++) {   /* a dozen frames to export: an answer outlives several loop turns */
        char key[48];
        snprintf(key, sizeof key, "auth-ip|ip:10.%d.%d.%d", 1 + i / 65536, i / 256 % 256, i % 256);
        gossip_state_counter_add(r.st[1], key, 1, now);
    }
    uint8_t *before_enc, *after_enc;
    size_t before_len, after_len;
    gossip_state_encode(r.st[1], &before_enc, &before_len);
    uint8_t all[GOSSIP_SYNC_PULL_BYTES];
    memset(all, 0xff, sizeof all);
    struct gossip_writer w;
    gossip_writer_init(&w);
    enum { N = 7 };
    uint8_t *frames[N];
    size_t lens[N];
    static const uint8_t garbled[] = { 0x94, 0x00, 0x00, 0x01, 0xc6, 0xff, 0xff, 0xff, 0xff };
    frames[0] = signed_frame(&r, 0, GOSSIP_FRAME_SYNC_LEAVES, 0, garbled, sizeof garbled, &lens[0]);
    struct gossip_sync_leaves pull = { .role = 1, .recipient = r.id[2]->origin, .bin = all, .bin_len = sizeof all };
    assert_int_equal(gossip_wire_sync_leaves_encode(&pull, &w), 0);
    frames[1] = signed_frame(&r, 0, GOSSIP_FRAME_SYNC_LEAVES, 0, (const uint8_t *)w.buf.data, w.buf.size, &lens[1]);
    pull.recipient = r.id[1]->origin;
    assert_int_equal(gossip_wire_sync_leaves_encode(&pull, &w), 0);
    for (int i = 2; i < N; i++)
        frames[i] = signed_frame(&r, 0, GOSSIP_FRAME_SYNC_LEAVES, 0, (const uint8_t *)w.buf.data, w.buf.size,
                                 &lens[i]);
    struct gossip_transport_totals before, after;
    gossip_transport_totals(r.t[1], &before);
    send_raw(&r, (const uint8_t *const *)frames, lens, N);
    gossip_transport_totals(r.t[1], &after);
    assert_int_equal(after.drops[GOSSIP_DROP_MALFORMED], before.drops[GOSSIP_DROP_MALFORMED] + 1);
    assert_int_equal(after.drops[GOSSIP_DROP_REPLAY], before.drops[GOSSIP_DROP_REPLAY] + 1);
    /* 1 answer to one peer at a time: the pulls that come while it runs are refused (how many come
     * while it runs depends on how the socket hands them over, but not all 5 can be answered) */
    assert_true(after.syncs_refused >= before.syncs_refused + 1);
    assert_true(after.frames_out > before.frames_out);                        /* the others were answered */
    gossip_state_encode(r.st[1], &after_enc, &after_len);
    assert_true(before_len == after_len && memcmp(before_enc, after_enc, after_len) == 0);
    free(before_enc), free(after_enc);
    for (int i = 0; i < N; i++)
        free(frames[i]);
    gossip_writer_fini(&w);
    rig_down(&r);
}

static void test_bad_config(void **state)
{
    (void)state;
    struct rig r;
    memset(&r, 0, sizeof r);
    uint8_t seed[32] = { 1 };
    struct gossip_identity *id = gossip_identity_from_seed("solo", seed);
    struct gossip_keyring *kr = gossip_keyring_new();
    gossip_keyring_add_identity(kr, id);
    struct gossip_state_config sc;
    gossip_state_config_default(&sc);
    struct gossip_state *st = gossip_state_new(&sc, id, kr, 1);
    zloop_t *loop = zloop_new();
    struct gossip_transport_config tc;
    gossip_transport_config_default(&tc);
    tc.self = id;
    tc.pub_bind = "tcp://127.0.0.1:*";
    tc.sync_bind = "tcp://127.0.0.1:*";
    struct gossip_transport_peer unknown = { "nobody", "tcp://127.0.0.1:1", "tcp://127.0.0.1:2", NULL, false };
    tc.peers = &unknown;
    tc.n_peers = 1;
    assert_null(gossip_transport_new(loop, st, kr, &tc));   /* a peer without a key */
    /* a peer listed twice, and this node itself as a peer */
    uint8_t seed2[32] = { 2 };
    struct gossip_identity *other = gossip_identity_from_seed("other", seed2);
    gossip_keyring_add_identity(kr, other);
    struct gossip_transport_peer twice[2] = { { "other", "tcp://127.0.0.1:1", "tcp://127.0.0.1:2", NULL, false },
                                              { "other", "tcp://127.0.0.1:3", "tcp://127.0.0.1:4", NULL, false } };
    tc.peers = twice;
    tc.n_peers = 2;
    assert_null(gossip_transport_new(loop, st, kr, &tc));
    struct gossip_transport_peer self_peer = { "solo", "tcp://127.0.0.1:1", "tcp://127.0.0.1:2", NULL, false };
    tc.peers = &self_peer;
    tc.n_peers = 1;
    assert_null(gossip_transport_new(loop, st, kr, &tc));
    gossip_identity_destroy(&other);
    tc.n_peers = 0;
    tc.pub_bind = "nonsense";
    assert_null(gossip_transport_new(loop, st, kr, &tc));   /* a bad endpoint */
    tc.pub_bind = "tcp://127.0.0.1:*";
    tc.dead_ms = 1;
    assert_null(gossip_transport_new(loop, st, kr, &tc));   /* dead before suspect */
    /* CURVE takes the process's one ZAP endpoint: a reload (destroy, new) must get it back */
    tc.dead_ms = 10000;
    tc.curve = true;
    for (int i = 0; i < 3; i++) {
        struct gossip_transport *t = gossip_transport_new(loop, st, kr, &tc);
        assert_non_null(t);
        gossip_transport_destroy(&t);
        assert_null(t);
    }
    gossip_transport_destroy(NULL);
    zloop_destroy(&loop);
    gossip_state_destroy(&st);
    gossip_keyring_destroy(&kr);
    gossip_identity_destroy(&id);
}

int main(void)
{
    zsys_handler_set(NULL);
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_seq_in_order_gap_repair_replay),
        cmocka_unit_test(test_seq_epochs),
        cmocka_unit_test(test_announce_and_fold),
        cmocka_unit_test(test_stamps_and_status),
        cmocka_unit_test(test_loopback_delta_and_repair),
        cmocka_unit_test(test_loopback_repair_by_sync),
        cmocka_unit_test(test_loopback_heartbeat_horizons),
        cmocka_unit_test(test_heartbeat_body_hostile),
        cmocka_unit_test(test_loopback_flush_paced),
        cmocka_unit_test(test_loopback_flush_pace_bounded),
        cmocka_unit_test(test_read_budget),
        cmocka_unit_test(test_sync_backoff),
        cmocka_unit_test(test_loopback_recv_budget),
        cmocka_unit_test(test_loopback_hostile_frames),
        cmocka_unit_test(test_loopback_sync_large_state),
        cmocka_unit_test(test_loopback_sync_turns_sparse),
        cmocka_unit_test(test_loopback_sync_turns_large),
        cmocka_unit_test(test_loopback_sync_request_bound_to_recipient),
        cmocka_unit_test(test_loopback_sync_leaves_hostile),
        cmocka_unit_test(test_bad_config),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
