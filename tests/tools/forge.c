/* forge.c: a hostile peer for integration tests: sends forged, garbled and oversized gossip frames
 * to an agent's ROUTER socket, each carrying a ban record that must never be enforced.
 *
 *   forge ENDPOINT VICTIM_PUBKEY_FILE BAN_ADDRESS
 * ENDPOINT is the target's sync endpoint (tcp://HOST:PORT); VICTIM_PUBKEY_FILE is a real node's
 * public key (public knowledge), whose origin the forger claims; BAN_ADDRESS is what the forged
 * records try to ban. Prints what it sent; exit 0 when everything was handed to ZeroMQ. */
#include <czmq.h>
#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "agent/util.h"
#include "gossip/keyring.h"
#include "gossip/wire.h"

/* Header: type, version, reserved (2), body_len (4), then the origin. */
#define ORIGIN_AT 8

static int read_pub(const char *path, uint8_t pk[GOSSIP_PK_LEN])
{
    FILE *f = fopen(path, "r");
    if (!f) return -1;
    char line[256] = "";
    if (!fgets(line, sizeof line, f)) line[0] = '\0';
    fclose(f);
    line[strcspn(line, "\r\n")] = '\0';
    size_t n = 0;
    if (sodium_base642bin(pk, GOSSIP_PK_LEN, line, strlen(line), NULL, &n, NULL, sodium_base64_VARIANT_ORIGINAL) < 0 ||
        n != GOSSIP_PK_LEN)
        return -1;
    return 0;
}

int main(int argc, char **argv)
{
    if (argc != 4) {
        fprintf(stderr, "usage: forge ENDPOINT VICTIM_PUBKEY_FILE BAN_ADDRESS\n");
        return 2;
    }
    if (sodium_init() < 0) return 1;
    uint8_t victim[GOSSIP_PK_LEN], seed[32];
    if (read_pub(argv[2], victim) < 0) { fprintf(stderr, "forge: cannot read %s\n", argv[2]); return 1; }
    randombytes_buf(seed, sizeof seed);
    struct gossip_identity *me = gossip_identity_from_seed("stranger", seed);
    int64_t now = sg_now_ms();

    /* A ban record signed by the stranger, claiming to be the victim node's. */
    struct gossip_ban b = {.action = GOSSIP_BAN_ACTION_BAN, .kind = GOSSIP_BAN_KIND_BLOCK,
                           .expires_at = now + 3600000, .hlc = (uint64_t)now << 16};
    snprintf(b.key, sizeof b.key, "ip:%s", argv[3]);
    snprintf(b.reason, sizeof b.reason, "forged");
    snprintf(b.scenario, sizeof b.scenario, "forged");
    uint64_t claimed = gossip_origin_of(victim);
    gossip_ban_sign(&b, me);     /* signs as the stranger (and sets the author to it) ... */
    b.author = claimed;          /* ... then claims the real node wrote it */
    struct gossip_writer w;
    gossip_writer_init(&w);
    gossip_writer_ban(&w, &b);
    gossip_writer_slot(&w, "auth-ip|ip:203.0.113.250", now - now % 10000, me->origin, 1, 100000);

    uint8_t *frames[6];
    size_t lens[6];
    const char *what[6];
    int n = 0;
    /* 1: the stranger's own origin: unknown to the keyring. */
    struct gossip_frame_header h = {.type = GOSSIP_FRAME_SYNC_DATA, .origin = me->origin, .epoch = 1, .seq = 1,
                                    .hlc = (uint64_t)now << 16};
    gossip_wire_frame_encode(&h, (const uint8_t *)w.buf.data, w.buf.size, me, &frames[n], &lens[n]);
    what[n++] = "signed by an unknown key";
    /* 2: the victim's origin, the stranger's signature: bad signature. */
    h.origin = me->origin;
    gossip_wire_frame_encode(&h, (const uint8_t *)w.buf.data, w.buf.size, me, &frames[n], &lens[n]);
    for (int i = 0; i < 8; i++) frames[n][ORIGIN_AT + i] = (uint8_t)(claimed >> (56 - 8 * i));
    what[n++] = "claiming a real node's origin with a forged signature";
    /* 3: the same frame as DELTA type. */
    h.type = GOSSIP_FRAME_DELTA;
    h.origin = me->origin;
    gossip_wire_frame_encode(&h, (const uint8_t *)w.buf.data, w.buf.size, me, &frames[n], &lens[n]);
    for (int i = 0; i < 8; i++) frames[n][ORIGIN_AT + i] = (uint8_t)(claimed >> (56 - 8 * i));
    what[n++] = "a DELTA claiming a real node's origin";
    /* 4: truncated. */
    frames[n] = sg_xmalloc(lens[0] / 2);
    memcpy(frames[n], frames[0], lens[0] / 2);
    lens[n] = lens[0] / 2;
    what[n++] = "truncated";
    /* 5: noise. */
    lens[n] = 300;
    frames[n] = sg_xmalloc(lens[n]);
    randombytes_buf(frames[n], lens[n]);
    what[n++] = "random bytes";
    /* 6: a header declaring a 4 GiB body. */
    lens[n] = 200;
    frames[n] = sg_xcalloc(1, lens[n]);
    memcpy(frames[n], frames[1], GOSSIP_WIRE_HEADER_LEN);
    memset(frames[n] + 4, 0xff, 4);
    what[n++] = "a header declaring a 4 GiB body";

    /* No wait for the connection: a DEALER queues what is sent before it is up, and the linger
     * makes zsock_destroy() wait (up to 2 s) until the queue has gone out. */
    zsock_t *d = zsock_new(ZMQ_DEALER);
    zsock_set_linger(d, 2000);
    if (zsock_connect(d, "%s", argv[1]) < 0) { fprintf(stderr, "forge: cannot connect %s\n", argv[1]); return 1; }
    int rc = 0;
    for (int r = 0; r < 3; r++)
        for (int i = 0; i < n; i++) {
            if (zmq_send(zsock_resolve(d), frames[i], lens[i], 0) < 0) rc = 1;
            if (r == 0) printf("sent: %s (%zu bytes)\n", what[i], lens[i]);
        }
    zsock_destroy(&d);
    for (int i = 0; i < n; i++) free(frames[i]);
    gossip_writer_fini(&w);
    gossip_identity_destroy(&me);
    return rc;
}
