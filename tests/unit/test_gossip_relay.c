/* test_gossip_relay.c: per-site relays (gossip/relay.h). What a RELAY frame may carry (one hop, only
 * DELTA and HEARTBEAT, never our own, only from a relay), what a relay re-publishes, and a transport
 * of site s2 over real TCP loopback taking RELAY frames from a test-owned PUB socket that stands for
 * its relay: a relayed delta is verified against its author and merged, the same frame again is a
 * duplicate (merged once), a tampered one, a re-relay and a relay frame from a non-relay are refused
 * and counted, and the remote-site peer is not subscribed to. */
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
#include "gossip/peer.h"
#include "gossip/relay.h"
#include "gossip/transport.h"
#include "gossip/wire.h"

static uint8_t *frame_of(const struct gossip_identity *id, uint8_t type, uint32_t epoch, uint64_t seq,
                         const uint8_t *body, size_t blen, size_t *len)
{
    static uint16_t logical;   /* every frame has its own stamp, or it is a replay */
    struct gossip_frame_header h = { .type = type, .origin = id->origin, .epoch = epoch, .seq = seq,
                                     .hlc = (uint64_t)sg_now_ms() << 16 | ++logical };
    uint8_t *out = NULL;
    assert_int_equal(gossip_wire_frame_encode(&h, body, blen, id, &out, len), 0);
    return out;
}

static void test_check_and_forward(void **state)
{
    (void)state;
    uint8_t f[GOSSIP_WIRE_HEADER_LEN] = { GOSSIP_FRAME_DELTA, 2 };
    f[15] = 7;   /* author origin 7 (big-endian at byte 8) */
    assert_int_equal(gossip_relay_check(true, 5, 9, f, sizeof f), GOSSIP_RELAY_OK);
    assert_int_equal(gossip_relay_check(false, 5, 9, f, sizeof f), GOSSIP_RELAY_NOT_RELAY);
    assert_int_equal(gossip_relay_check(true, 5, 9, f, sizeof f - 1), GOSSIP_RELAY_SHORT);
    assert_int_equal(gossip_relay_check(true, 5, 7, f, sizeof f), GOSSIP_RELAY_OWN);   /* ours */
    assert_int_equal(gossip_relay_check(true, 7, 9, f, sizeof f), GOSSIP_RELAY_OWN);   /* the relay's */
    f[0] = GOSSIP_FRAME_HEARTBEAT;
    assert_int_equal(gossip_relay_check(true, 5, 9, f, sizeof f), GOSSIP_RELAY_OK);
    f[0] = GOSSIP_FRAME_RELAY;
    assert_int_equal(gossip_relay_check(true, 5, 9, f, sizeof f), GOSSIP_RELAY_HOP);
    f[0] = GOSSIP_FRAME_SYNC_DATA;
    assert_int_equal(gossip_relay_check(true, 5, 9, f, sizeof f), GOSSIP_RELAY_TYPE);
    f[0] = GOSSIP_FRAME_REPAIR_REQ;
    assert_int_equal(gossip_relay_check(true, 5, 9, f, sizeof f), GOSSIP_RELAY_TYPE);

    assert_true(gossip_relay_forwards(true, "a", "b", false, GOSSIP_FRAME_DELTA));
    assert_true(gossip_relay_forwards(true, "a", "b", false, GOSSIP_FRAME_HEARTBEAT));
    assert_false(gossip_relay_forwards(false, "a", "b", false, GOSSIP_FRAME_DELTA));   /* not a relay */
    assert_false(gossip_relay_forwards(true, "a", "a", false, GOSSIP_FRAME_DELTA));    /* our site */
    assert_false(gossip_relay_forwards(true, "a", "", false, GOSSIP_FRAME_DELTA));     /* no site: ours */
    assert_false(gossip_relay_forwards(true, "a", "b", true, GOSSIP_FRAME_DELTA));     /* came relayed */
    assert_false(gossip_relay_forwards(true, "a", "b", false, GOSSIP_FRAME_RELAY));
    assert_false(gossip_relay_forwards(true, "a", "b", false, GOSSIP_FRAME_SYNC_DATA));
}

/* The dedupe of relayed frames is the per-author sequence check: the second copy is a replay. */
static void test_dedupe_by_author_seq(void **state)
{
    (void)state;
    uint8_t pk[GOSSIP_PK_LEN];
    memset(pk, 7, sizeof pk);
    struct gossip_peer *p = gossip_peer_new("p", pk, NULL, NULL);
    assert_int_equal(gossip_peer_seq_check(p, 10, 1), GOSSIP_SEQ_OK);
    assert_int_equal(gossip_peer_seq_check(p, 10, 1), GOSSIP_SEQ_REPLAY);   /* directly, then relayed */
    assert_int_equal(gossip_peer_seq_check(p, 10, 2), GOSSIP_SEQ_OK);
    assert_int_equal(gossip_peer_seq_check(p, 10, 2), GOSSIP_SEQ_REPLAY);
    gossip_peer_destroy(&p);
}

static int stop_loop(zloop_t *loop, int id, void *arg)
{
    (void)loop, (void)id, (void)arg;
    return -1;
}

static void run_for(zloop_t *loop, int ms)
{
    zloop_timer(loop, (size_t)ms, 1, stop_loop, NULL);
    zloop_start(loop);
}

/* ids: 0 = author in site s1, 1 = the node under test (site s2), 2 = its relay (s2, a PUB of the test). */
static void test_loopback_relayed_frames(void **state)
{
    (void)state;
    struct gossip_identity *id[3];
    struct gossip_keyring *kr = gossip_keyring_new();
    for (int i = 0; i < 3; i++) {
        uint8_t seed[32];
        char name[16];
        memset(seed, 0x50 + i, sizeof seed);
        snprintf(name, sizeof name, "r%d", i);
        id[i] = gossip_identity_from_seed(name, seed);
        gossip_keyring_add_identity(kr, id[i]);
    }
    zloop_t *loop = zloop_new();
    struct gossip_state_config sc;
    gossip_state_config_default(&sc);
    struct gossip_state *st = gossip_state_new(&sc, id[1], kr, 2000);
    int base = portblock_take();
    assert_true(base > 0);
    char ep[6][64];
    for (int i = 0; i < 6; i++)
        snprintf(ep[i], sizeof ep[i], "tcp://127.0.0.1:%d", base + i);
    zsock_t *relay_pub = zsock_new(ZMQ_PUB);
    assert_int_equal(zsock_bind(relay_pub, "%s", ep[4]), base + 4);
    struct gossip_transport_peer peers[2] = {
        { id[0]->name, ep[0], ep[1], "s1", false },
        { id[2]->name, ep[4], ep[5], "s2", true },
    };
    struct gossip_transport_config tc;
    gossip_transport_config_default(&tc);
    tc.self = id[1];
    tc.pub_bind = ep[2];
    tc.sync_bind = ep[3];
    tc.peers = peers;
    tc.n_peers = 2;
    tc.site = "s2";
    tc.sync_interval_ms = 60000;
    struct gossip_transport *t = gossip_transport_new(loop, st, kr, &tc);
    assert_non_null(t);
    struct gossip_peer_stats ps;
    assert_int_equal(gossip_transport_peer_stats(t, 0, &ps), 0);
    assert_false(ps.direct);   /* another site: not subscribed to */
    assert_string_equal(ps.site, "s1");
    assert_int_equal(gossip_transport_peer_stats(t, 1, &ps), 0);
    assert_true(ps.direct && ps.relay);
    assert_string_equal(gossip_transport_site(t), "s2");
    run_for(loop, 500);   /* the SUB connects to the relay's PUB */

    struct gossip_writer w;
    gossip_writer_init(&w);
    int64_t bucket = sg_now_ms() / 10000 * 10000;
    gossip_writer_slot(&w, "k", bucket, id[0]->origin, 1000, 5);
    size_t dlen;
    uint8_t *delta = frame_of(id[0], GOSSIP_FRAME_DELTA, 1000, 1, (const uint8_t *)w.buf.data, w.buf.size, &dlen);
    gossip_writer_reset(&w);
    gossip_writer_slot(&w, "k", bucket, id[0]->origin, 1000, 500);
    size_t tlen;
    uint8_t *tampered = frame_of(id[0], GOSSIP_FRAME_DELTA, 1000, 2, (const uint8_t *)w.buf.data, w.buf.size, &tlen);
    tampered[tlen - GOSSIP_SIG_LEN - 1] ^= 1;   /* a body byte: the author's signature no longer holds */
    uint8_t *msgs[5];
    size_t lens[5];
    msgs[0] = frame_of(id[2], GOSSIP_FRAME_RELAY, 3000, 0, delta, dlen, &lens[0]);     /* taken */
    msgs[1] = frame_of(id[2], GOSSIP_FRAME_RELAY, 3000, 0, delta, dlen, &lens[1]);     /* duplicate */
    msgs[2] = frame_of(id[2], GOSSIP_FRAME_RELAY, 3000, 0, tampered, tlen, &lens[2]);  /* bad signature */
    msgs[3] = frame_of(id[2], GOSSIP_FRAME_RELAY, 3000, 0, msgs[0], lens[0], &lens[3]); /* re-relay */
    msgs[4] = frame_of(id[0], GOSSIP_FRAME_RELAY, 1000, 0, delta, dlen, &lens[4]);     /* not from a relay */
    for (int i = 0; i < 5; i++)
        zmq_send(zsock_resolve(relay_pub), msgs[i], lens[i], 0);
    struct gossip_transport_totals tot;
    for (int i = 0; i < 40; i++) {
        run_for(loop, 50);
        gossip_transport_totals(t, &tot);
        if (tot.relayed_in + tot.relayed_dup + tot.relayed_refused >= 5)
            break;
    }
    assert_int_equal(tot.relayed_in, 1);
    assert_int_equal(tot.relayed_dup, 1);
    assert_int_equal(tot.relayed_refused, 3);
    assert_int_equal(tot.drops[GOSSIP_DROP_BAD_SIGNATURE], 1);
    assert_int_equal(tot.relayed_out, 0);   /* not a relay */
    /* merged once, from its author: 5, not 10, and not the tampered 500 */
    assert_int_equal(gossip_state_counter_total(st, "k", 60000, sg_now_ms()), 5);
    assert_int_equal(gossip_transport_peer_stats(t, 0, &ps), 0);
    assert_int_equal(ps.last_seq, 1);   /* the author is known through the relay */

    for (int i = 0; i < 5; i++)
        free(msgs[i]);
    free(delta), free(tampered);
    gossip_writer_fini(&w);
    gossip_transport_destroy(&t);
    zsock_destroy(&relay_pub);
    gossip_state_destroy(&st);
    zloop_destroy(&loop);
    for (int i = 0; i < 3; i++)
        gossip_identity_destroy(&id[i]);
    gossip_keyring_destroy(&kr);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_check_and_forward),
        cmocka_unit_test(test_dedupe_by_author_seq),
        cmocka_unit_test(test_loopback_relayed_frames),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
