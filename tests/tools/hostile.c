/* hostile.c: a hostile cluster member for integration tests. Unlike forge.c (a stranger), it holds a
 * valid key of the keyring, so every frame it sends passes the origin and signature checks: what
 * stops it is the bounds on records (gossip/state_limits.c), the origin rule for counter slots and
 * the wire version check. Each attack goes to the target's ROUTER socket in frames of its own.
 *
 *   hostile ENDPOINT KEY_DIR NAME PEERS_DIR VICTIM
 * ENDPOINT: the target's sync endpoint (tcp://HOST:PORT). KEY_DIR/NAME.key: the member's key.
 * PEERS_DIR: the cluster's public keys; VICTIM: the honest node whose counter slots it forges.
 * Prints one "sent: ATTACK (N records)" line per attack; exit 0 when all was handed to ZeroMQ. */
#include <czmq.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "agent/util.h"
#include "gossip/keyring.h"
#include "gossip/wire.h"

#define YEAR_MS (365LL * 86400 * 1000)
#define PER_FRAME 400   /* records per frame: well under the frame size limit */

struct hostile {
    zsock_t *d;
    struct gossip_identity *me;
    int64_t now;
    uint64_t hlc;      /* every frame and record gets a fresh stamp: no replay drop hides a refusal */
    uint64_t seq;
    struct gossip_writer w;
    int rc;
};

static uint64_t stamp(struct hostile *h)
{
    return h->hlc += 1;
}

/* Sends what the writer holds as one SYNC_DATA frame (version lets a test send an old one). */
static void flush(struct hostile *h, uint8_t version)
{
    if (h->w.entries == 0) return;
    struct gossip_frame_header fh = {.type = GOSSIP_FRAME_SYNC_DATA, .origin = h->me->origin, .epoch = 1,
                                     .seq = ++h->seq, .hlc = stamp(h)};
    uint8_t *f;
    size_t len;
    if (gossip_wire_frame_encode(&fh, (const uint8_t *)h->w.buf.data, h->w.buf.size, h->me, &f, &len) < 0) {
        h->rc = 1;
        return;
    }
    if (version != GOSSIP_WIRE_VERSION) {
        /* The header is signed too: an old-version frame is re-signed as its sender would have. */
        f[1] = version;
        gossip_sign(h->me, f, len - GOSSIP_SIG_LEN, f + len - GOSSIP_SIG_LEN);
    }
    if (zmq_send(zsock_resolve(h->d), f, len, 0) < 0) h->rc = 1;
    free(f);
    gossip_writer_reset(&h->w);
}

/* Signs a record as the member (a valid signature: the bounds alone must refuse it) and queues it. */
static void record(struct hostile *h, const char *key, uint8_t action, uint8_t kind, int64_t expires_at,
                   const char *reason)
{
    struct gossip_ban b = {.action = action, .kind = kind, .expires_at = expires_at, .level = 0};
    snprintf(b.key, sizeof b.key, "%s", key);
    snprintf(b.reason, sizeof b.reason, "%s", reason);
    snprintf(b.scenario, sizeof b.scenario, "hostile");
    b.hlc = stamp(h);
    gossip_ban_sign(&b, h->me);
    if (gossip_writer_ban(&h->w, &b) < 0) h->rc = 1;
    if (h->w.entries >= PER_FRAME) flush(h, GOSSIP_WIRE_VERSION);
}

static void sent(const char *what, int n)
{
    printf("sent: %s (%d records)\n", what, n);
}

int main(int argc, char **argv)
{
    if (argc != 6) {
        fprintf(stderr, "usage: hostile ENDPOINT KEY_DIR NAME PEERS_DIR VICTIM\n");
        return 2;
    }
    struct hostile h = {.now = sg_now_ms()};
    h.me = gossip_identity_load(argv[2], argv[3]);
    struct gossip_keyring *kr = gossip_keyring_new();
    if (!h.me || gossip_keyring_load_dir(kr, argv[4]) < 0) return 1;
    const struct gossip_peer_key *victim = gossip_keyring_find_name(kr, argv[5]);
    if (!victim) { fprintf(stderr, "hostile: no key for %s in %s\n", argv[5], argv[4]); return 1; }
    h.hlc = (uint64_t)h.now << 16;
    gossip_writer_init(&h.w);
    h.d = zsock_new(ZMQ_DEALER);
    zsock_set_linger(h.d, 5000);
    if (zsock_connect(h.d, "%s", argv[1]) < 0) { fprintf(stderr, "hostile: cannot connect %s\n", argv[1]); return 1; }
    char key[GOSSIP_KEY_MAX + 1];
    const int64_t day = 86400000;

    /* A 50-year unban: the address would never be decided again. */
    record(&h, "ip:198.51.100.10", GOSSIP_BAN_ACTION_UNBAN, GOSSIP_BAN_KIND_BLOCK, h.now + 50 * YEAR_MS, "shield");
    flush(&h, GOSSIP_WIRE_VERSION);
    sent("a 50-year unban of 198.51.100.10", 1);
    /* A 50-year hold of an account. */
    record(&h, "user:victim@example.jp", GOSSIP_BAN_ACTION_BAN, GOSSIP_BAN_KIND_HOLD, h.now + 50 * YEAR_MS, "hold");
    flush(&h, GOSSIP_WIRE_VERSION);
    sent("a 50-year hold of victim@example.jp", 1);
    /* Thousands of /16 bans, then a /8. */
    for (int i = 0; i < 2000; i++) {
        snprintf(key, sizeof key, "net:%d.%d.0.0/16", 11 + i / 256, i % 256);
        record(&h, key, GOSSIP_BAN_ACTION_BAN, GOSSIP_BAN_KIND_BLOCK, h.now + day, "wide");
    }
    flush(&h, GOSSIP_WIRE_VERSION);
    sent("2000 /16 bans", 2000);
    record(&h, "net:44.0.0.0/8", GOSSIP_BAN_ACTION_BAN, GOSSIP_BAN_KIND_BLOCK, h.now + day, "wider");
    flush(&h, GOSSIP_WIRE_VERSION);
    sent("a /8 ban", 1);
    /* Control characters and invalid UTF-8 in keys and reasons. */
    record(&h, "ip:198.51.100.30", GOSSIP_BAN_ACTION_BAN, GOSSIP_BAN_KIND_BLOCK, h.now + day, "evil\n\x1b[2J");
    record(&h, "ip:198.51.100.31\n", GOSSIP_BAN_ACTION_BAN, GOSSIP_BAN_KIND_BLOCK, h.now + day, "newline key");
    record(&h, "user:ev\x1b]0;pwned\x07il", GOSSIP_BAN_ACTION_BAN, GOSSIP_BAN_KIND_HOLD, h.now + day, "osc key");
    record(&h, "ip:198.51.100.32", GOSSIP_BAN_ACTION_BAN, GOSSIP_BAN_KIND_BLOCK, h.now + day, "bad \xc3\x28 utf-8");
    record(&h, "ip:198.51.100.33", GOSSIP_BAN_ACTION_BAN, GOSSIP_BAN_KIND_BLOCK, h.now + day, "c1 \xc2\x9b" "31m");
    flush(&h, GOSSIP_WIRE_VERSION);
    sent("control characters and invalid UTF-8 in keys and reasons", 5);
    /* Kinds their keys do not take, and a key of no known form. */
    record(&h, "ip:198.51.100.40", GOSSIP_BAN_ACTION_BAN, GOSSIP_BAN_KIND_HOLD, h.now + day, "kind");
    record(&h, "offense:ip:198.51.100.41", GOSSIP_BAN_ACTION_BAN, GOSSIP_BAN_KIND_BLOCK, h.now + day, "kind");
    record(&h, "bogus:198.51.100.42", GOSSIP_BAN_ACTION_BAN, GOSSIP_BAN_KIND_BLOCK, h.now + day, "form");
    flush(&h, GOSSIP_WIRE_VERSION);
    sent("records whose kind does not match their key", 3);
    /* Counter slots of another origin (an honest node, and a non-member), relayed as by a sync. */
    int64_t bucket = h.now - h.now % 10000;
    gossip_writer_slot(&h.w, "auth-ip|ip:203.0.113.99", bucket, victim->origin, 7, 1000);
    gossip_writer_slot(&h.w, "auth-ip|ip:203.0.113.99", bucket, 0x0123456789abcdefULL, 7, 1000);
    flush(&h, GOSSIP_WIRE_VERSION);
    sent("counter slots of other origins", 2);
    /* An old wire version, otherwise valid, carrying a ban within every bound. */
    record(&h, "ip:198.51.100.60", GOSSIP_BAN_ACTION_BAN, GOSSIP_BAN_KIND_BLOCK, h.now + day, "old");
    flush(&h, 1);
    sent("a wire version 1 frame", 1);
    /* A short unban (within the limits: taken), then within-limit bans that pass the budgets. */
    record(&h, "ip:198.51.100.50", GOSSIP_BAN_ACTION_UNBAN, GOSSIP_BAN_KIND_BLOCK, h.now + day, "short shield");
    flush(&h, GOSSIP_WIRE_VERSION);
    sent("a one-day unban of 198.51.100.50", 1);
    for (int i = 0; i < 64; i++) {
        snprintf(key, sizeof key, "net:198.18.%d.0/24", i);
        record(&h, key, GOSSIP_BAN_ACTION_BAN, GOSSIP_BAN_KIND_BLOCK, h.now + day, "budget");
    }
    flush(&h, GOSSIP_WIRE_VERSION);
    sent("64 /24 bans (16384 addresses)", 64);
    for (int i = 0; i < 150; i++) {
        snprintf(key, sizeof key, "ip:198.19.%d.%d", i / 200, 1 + i % 200);
        record(&h, key, GOSSIP_BAN_ACTION_BAN, GOSSIP_BAN_KIND_BLOCK, h.now + day, "records");
    }
    flush(&h, GOSSIP_WIRE_VERSION);
    sent("150 address bans", 150);

    zsock_destroy(&h.d);   /* the linger delivers what is queued */
    gossip_writer_fini(&h.w);
    gossip_keyring_destroy(&kr);
    gossip_identity_destroy(&h.me);
    return h.rc;
}
