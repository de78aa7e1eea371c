/* fuzz_frame.c: libFuzzer target for the frame decoder: header checks, signature check, body
 * pre-scan and unpack, then merge into a state; a SYNC_LEAVES body is decoded, re-encoded, compared
 * with a state's leaves (role 0) or exported from (role 1). Input byte 0 picks the mode: bit 0 set re-signs the
 * frame with the keyring's key first, so the fuzzer also reaches everything behind the signature. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "gossip/state.h"
#include "gossip/state_int.h"   /* gossip_state_digest_full */

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define NOW 1700000000000LL

static struct gossip_identity *id, *self;
static struct gossip_keyring *kr;

static void init(void)
{
    uint8_t seed[32];
    memset(seed, 0x5a, sizeof seed);   /* the corpus is signed with this key */
    id = gossip_identity_from_seed("fuzz", seed);
    memset(seed, 0x33, sizeof seed);
    self = gossip_identity_from_seed("self", seed);
    kr = gossip_keyring_new();
    gossip_keyring_add_identity(kr, id);
    gossip_keyring_add_identity(kr, self);
}

/* SYNC_LEAVES: what decodes re-encodes to a body that decodes to the same fields, and drives the
 * state's descent without reading past the bin. */
static void sync_leaves(const uint8_t *body, size_t blen)
{
    struct gossip_sync_leaves m, again;
    if (gossip_wire_sync_leaves_decode(body, blen, &m) != GOSSIP_WIRE_OK) return;
    struct gossip_writer w;
    gossip_writer_init(&w);
    if (gossip_wire_sync_leaves_encode(&m, &w) != 0) abort();
    if (gossip_wire_sync_leaves_decode((const uint8_t *)w.buf.data, w.buf.size, &again) != GOSSIP_WIRE_OK ||
        again.role != m.role || again.mask != m.mask || again.recipient != m.recipient ||
        again.bin_len != m.bin_len || memcmp(again.bin, m.bin, m.bin_len) != 0)
        abort();
    struct gossip_state *st = gossip_state_new(NULL, self, kr, 1);
    gossip_state_counter_add(st, "auth-ip|ip:192.0.2.1", 1, NOW);
    gossip_state_counter_add(st, "auth-ip|ip:192.0.2.2", 2, NOW);
    uint8_t want[GOSSIP_SYNC_PULL_BYTES];
    uint64_t cursor = 0;
    gossip_writer_reset(&w);
    if (m.role == 0) gossip_state_leaves_differ(st, m.mask, m.bin, want);
    else while (gossip_state_export_leaves(st, m.bin, &cursor, &w, 4096)) gossip_writer_reset(&w);
    gossip_state_destroy(&st);
    gossip_writer_fini(&w);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (!kr) init();
    if (size < 1) return 0;
    uint8_t mode = data[0];
    size_t len = size - 1;
    uint8_t *f = malloc(len ? len : 1);
    memcpy(f, data + 1, len);
    if ((mode & 1) && len >= GOSSIP_WIRE_OVERHEAD)
        gossip_sign(id, f, len - GOSSIP_SIG_LEN, f + len - GOSSIP_SIG_LEN);
    struct gossip_frame_header h;
    const uint8_t *body;
    size_t blen;
    enum gossip_wire_err verdict = gossip_wire_frame_verify(f, len, kr, &h, &body, &blen);
    if (verdict == GOSSIP_WIRE_OK && h.type == GOSSIP_FRAME_SYNC_LEAVES) sync_leaves(body, blen);
    if (verdict == GOSSIP_WIRE_OK && (h.type == GOSSIP_FRAME_DELTA || h.type == GOSSIP_FRAME_SYNC_DATA)) {
        struct gossip_body *b = NULL;
        if (gossip_body_decode(body, blen, 0, &b) == GOSSIP_WIRE_OK) {
            struct gossip_state *st = gossip_state_new(NULL, self, kr, 1);
            struct gossip_merge_result res;
            gossip_state_merge(st, b, h.origin, (mode & 2) ? GOSSIP_MERGE_SENDER_SLOTS_ONLY : 0, NOW, &res);
            uint8_t *enc;
            size_t elen;
            gossip_state_encode(st, &enc, &elen);
            /* Whatever was accepted must encode to something that decodes again. */
            struct gossip_body *again = NULL;
            if (gossip_body_decode(enc, elen, SIZE_MAX, &again) != GOSSIP_WIRE_OK) abort();
            gossip_body_destroy(&again);
            free(enc);
            /* The digest kept on every change must equal the one recomputed. */
            uint64_t kept[GOSSIP_PARTITIONS], full[GOSSIP_PARTITIONS];
            gossip_state_digest(st, kept);
            gossip_state_digest_full(st, full);
            if (memcmp(kept, full, sizeof kept) != 0) abort();
            gossip_state_expire(st, NOW + 7200000);
            gossip_state_destroy(&st);
            gossip_body_destroy(&b);
        }
    }
    free(f);
    return 0;
}
