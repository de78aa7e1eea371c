/* bad_relay.c: a hostile relay for integration tests (79_gossip_sites.sh). It holds a valid key of
 * the keyring and is configured as a relay peer of the node under test, so its own RELAY frames pass
 * the outer checks; what it carries must not: a frame claiming another author with a forged
 * signature, and a RELAY frame inside its RELAY frame (a re-relay). It binds a PUB (a CURVE server
 * with its own key, as an agent's PUB is) and publishes both every 100 ms for SECONDS seconds.
 *
 *   bad_relay BIND KEY_DIR NAME PEERS_DIR AUTHOR SECONDS
 * BIND: tcp://HOST:PORT for its PUB. KEY_DIR/NAME.key: its key. PEERS_DIR: the cluster's public keys;
 * AUTHOR: the honest node whose frames it forges. Exit 0 when everything was handed to ZeroMQ. */
#include <czmq.h>
#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "agent/util.h"
#include "gossip/keyring.h"
#include "gossip/wire.h"

static uint64_t hlc;

static uint8_t *frame(const struct gossip_identity *id, uint8_t type, const uint8_t *body, size_t blen, size_t *len)
{
    struct gossip_frame_header h = { .type = type, .origin = id->origin, .epoch = 1, .seq = 0, .hlc = ++hlc };
    uint8_t *out = NULL;
    if (gossip_wire_frame_encode(&h, body, blen, id, &out, len) < 0)
        exit(1);
    return out;
}

int main(int argc, char **argv)
{
    if (argc != 7) {
        fprintf(stderr, "usage: bad_relay BIND KEY_DIR NAME PEERS_DIR AUTHOR SECONDS\n");
        return 2;
    }
    struct gossip_identity *me = gossip_identity_load(argv[2], argv[3]);
    struct gossip_keyring *kr = gossip_keyring_new();
    if (!me || gossip_keyring_load_dir(kr, argv[4]) < 0 || sodium_init() < 0)
        return 1;
    const struct gossip_peer_key *author = gossip_keyring_find_name(kr, argv[5]);
    if (!author) {
        fprintf(stderr, "bad_relay: no key for %s in %s\n", argv[5], argv[4]);
        return 1;
    }
    uint8_t curve_sk[32];
    if (crypto_sign_ed25519_sk_to_curve25519(curve_sk, me->sk) != 0)
        return 1;
    zsock_t *pub = zsock_new(ZMQ_PUB);
    zsock_set_curve_server(pub, 1);
    zsock_set_curve_secretkey_bin(pub, curve_sk);
    if (zsock_bind(pub, "%s", argv[1]) < 0) {
        fprintf(stderr, "bad_relay: cannot bind %s\n", argv[1]);
        return 1;
    }
    hlc = (uint64_t)sg_now_ms() << 16;
    /* a DELTA of AUTHOR (a counter slot of its own) signed with our key: its signature cannot hold */
    struct gossip_writer w;
    gossip_writer_init(&w);
    gossip_writer_slot(&w, "forged", sg_now_ms() / 10000 * 10000, author->origin, 1, 1000000);
    struct gossip_identity forged = *me;
    forged.origin = author->origin;
    int rounds = atoi(argv[6]) * 10;
    for (int i = 0; i < rounds && !zsys_interrupted; i++) {   /* czmq turns SIGTERM into this flag */
        size_t dlen, l1, inner_len, l2;
        struct gossip_frame_header h = { .type = GOSSIP_FRAME_DELTA, .origin = author->origin, .epoch = 1,
                                         .seq = (uint64_t)i + 1, .hlc = ++hlc };
        uint8_t *delta = NULL;
        if (gossip_wire_frame_encode(&h, (const uint8_t *)w.buf.data, w.buf.size, &forged, &delta, &dlen) < 0)
            return 1;
        uint8_t *tampered = frame(me, GOSSIP_FRAME_RELAY, delta, dlen, &l1);
        uint8_t *inner = frame(me, GOSSIP_FRAME_RELAY, delta, dlen, &inner_len);
        uint8_t *rerelay = frame(me, GOSSIP_FRAME_RELAY, inner, inner_len, &l2);
        int rc = zmq_send(zsock_resolve(pub), tampered, l1, 0) < 0 || zmq_send(zsock_resolve(pub), rerelay, l2, 0) < 0;
        free(delta), free(tampered), free(inner), free(rerelay);
        if (rc)
            return 1;
        zclock_sleep(100);
    }
    printf("sent: forged relayed deltas of %s and re-relays for up to %s s\n", argv[5], argv[6]);
    gossip_writer_fini(&w);
    zsock_destroy(&pub);
    gossip_keyring_destroy(&kr);
    gossip_identity_destroy(&me);
    sodium_memzero(curve_sk, sizeof curve_sk);
    return 0;
}
