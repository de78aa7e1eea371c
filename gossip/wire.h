/* wire.h: signed frames (fixed big-endian header, msgpack body, Ed25519 signature) and the
 * body codec for counter slots, sketch updates and ban records.
 *
 * Frame: header (36 bytes) | body (body_len bytes of msgpack) | signature (64 bytes over header+body)
 *   header: u8 type, u8 version (2), u16 reserved (0), u32 body_len, u64 origin, u32 epoch,
 *           u64 seq, u64 hlc
 * Body (DELTA and SYNC_DATA): a sequence of msgpack arrays, one per entry, no outer count:
 *   [1, key, bucket_ms, origin, epoch, count]                         counter slot (absolute value)
 *   [2, key, bucket_ms, [hash...] | bin(1024 registers)]              distinct sketch of one bucket
 *   [3, key, hlc, author, action, kind, expires_at_ms, level, reason, scenario, bin(64 sig)]  ban
 * Receive order: size, type and version; origin in keyring; signature; only then the body is
 * unpacked, each entry pre-scanned so no declared count exceeds the bytes that remain. */
#ifndef GOSSIP_WIRE_H
#define GOSSIP_WIRE_H

#include <msgpack.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "common/key.h"
#include "gossip/keyring.h"
#include "gossip/sketch.h"

/* Version 2: typed record kinds (offense memory is its own kind), records signed as "SGB2".
 * A version 1 frame is refused as GOSSIP_WIRE_EOLDVERSION: the peer runs an older sgagent. */
#define GOSSIP_WIRE_VERSION 2
#define GOSSIP_WIRE_HEADER_LEN 36
#define GOSSIP_WIRE_OVERHEAD (GOSSIP_WIRE_HEADER_LEN + GOSSIP_SIG_LEN)
#define GOSSIP_WIRE_MAX_FRAME (1u << 20)                        /* whole frame, bytes */
#define GOSSIP_WIRE_MAX_BODY (GOSSIP_WIRE_MAX_FRAME - GOSSIP_WIRE_OVERHEAD)
#define GOSSIP_WIRE_MAX_ENTRIES 65536                           /* per body */

/* Anti-entropy sync: the state is split in GOSSIP_PARTITIONS by key hash (SYNC_DIGEST). */
#define GOSSIP_PARTITIONS 64
/* Each partition is split in GOSSIP_SYNC_FANOUT leaves for the sync's second level: leaf of a key =
 * siphash(key) % GOSSIP_SYNC_LEAVES, and its partition is leaf % GOSSIP_PARTITIONS (so the leaves of
 * partition p are p + 64 * s, s < 256). */
#define GOSSIP_SYNC_FANOUT 256
#define GOSSIP_SYNC_LEAVES (GOSSIP_PARTITIONS * GOSSIP_SYNC_FANOUT)

#define GOSSIP_KEY_MAX SG_KEY_MAX /* counter, sketch and ban keys, bytes, no NUL inside */
#define GOSSIP_REASON_MAX 127
#define GOSSIP_SCENARIO_MAX 63

enum gossip_frame_type {
    GOSSIP_FRAME_DELTA = 1,
    GOSSIP_FRAME_HEARTBEAT = 2,
    GOSSIP_FRAME_REPAIR_REQ = 3,
    GOSSIP_FRAME_SYNC_DIGEST = 4,
    GOSSIP_FRAME_SYNC_DATA = 5,
    GOSSIP_FRAME_RELAY = 6,      /* body: one DELTA or HEARTBEAT frame of another author, unchanged (gossip/relay.h) */
    GOSSIP_FRAME_SYNC_LEAVES = 7,
};
#define GOSSIP_FRAME_TYPE_MAX 7

/* Why a frame or body was refused. Each has its own counter in the transport. */
enum gossip_wire_err {
    GOSSIP_WIRE_OK = 0,
    GOSSIP_WIRE_ETRUNCATED,     /* shorter than header + signature, or than body_len says */
    GOSSIP_WIRE_ETOOBIG,        /* over GOSSIP_WIRE_MAX_FRAME */
    GOSSIP_WIRE_EVERSION,       /* unknown version or reserved bits set */
    GOSSIP_WIRE_EOLDVERSION,    /* a version this node no longer speaks (the peer needs an upgrade) */
    GOSSIP_WIRE_ETYPE,          /* unknown frame type */
    GOSSIP_WIRE_ELENGTH,        /* trailing bytes after the signature */
    GOSSIP_WIRE_EUNKNOWN,       /* origin not in the keyring */
    GOSSIP_WIRE_EBADSIG,        /* frame signature does not verify */
    GOSSIP_WIRE_EMALFORMED,     /* body is not well-formed msgpack */
    GOSSIP_WIRE_ECOUNT,         /* a declared count exceeds the bytes that remain, or a cap */
    GOSSIP_WIRE_EFIELD,         /* wrong entry shape, field type or value out of range */
    GOSSIP_WIRE_ERR_MAX
};
const char *gossip_wire_strerror(enum gossip_wire_err e);

struct gossip_frame_header {
    uint8_t type;
    uint8_t version;
    uint32_t body_len;
    uint64_t origin;
    uint32_t epoch;
    uint64_t seq;
    uint64_t hlc;
};

/* Ban map record. action: ban or unban (a tombstone); kind says what a ban does.
 * The record is signed by its author over gossip_ban_canonical(); the signature travels with it. */
enum gossip_ban_action { GOSSIP_BAN_ACTION_BAN = 1, GOSSIP_BAN_ACTION_UNBAN = 2 };
enum gossip_ban_kind {
    GOSSIP_BAN_KIND_BLOCK = SG_REC_BLOCK,
    GOSSIP_BAN_KIND_THROTTLE = SG_REC_THROTTLE,
    GOSSIP_BAN_KIND_HOLD = SG_REC_HOLD,
    GOSSIP_BAN_KIND_OFFENSE = SG_REC_OFFENSE,   /* repeat-offender memory: stored and relayed, never enforced */
    GOSSIP_BAN_KIND_ALLOW = SG_REC_ALLOW,       /* an operator's exemption: no node bans what it covers */
};
#define GOSSIP_BAN_KIND_MAX GOSSIP_BAN_KIND_ALLOW

struct gossip_ban {
    char key[GOSSIP_KEY_MAX + 1];          /* a record key (common/key.h) matching kind */
    uint64_t hlc;
    uint64_t author;                       /* origin id of the writer */
    uint8_t action;                        /* enum gossip_ban_action */
    uint8_t kind;                          /* enum gossip_ban_kind */
    int64_t expires_at;                    /* unix ms; an unban keeps the cancelled ban's expiry */
    uint32_t level;                        /* repeat-offender level */
    char reason[GOSSIP_REASON_MAX + 1];
    char scenario[GOSSIP_SCENARIO_MAX + 1];
    uint8_t sig[GOSSIP_SIG_LEN];
};

/* Canonical bytes a ban signature covers (fixed binary layout, see wire.c). Returns the length
 * written into buf, which must hold GOSSIP_BAN_CANON_MAX bytes. */
#define GOSSIP_BAN_CANON_MAX 512
size_t gossip_ban_canonical(const struct gossip_ban *b, uint8_t *buf);
/* The bytes wire version 1 signed (same layout, magic "SGB1"): only to migrate a node's own records
 * from a snapshot an older sgagent wrote (gossip_state_load). */
size_t gossip_ban_canonical_v1(const struct gossip_ban *b, uint8_t *buf);
void gossip_ban_sign(struct gossip_ban *b, const struct gossip_identity *id);
/* True when the author is in the keyring and the signature verifies. */
bool gossip_ban_verify(const struct gossip_ban *b, const struct gossip_keyring *kr);
/* Shape check of a record (enums, lengths, NUL termination). */
bool gossip_ban_valid(const struct gossip_ban *b);

/* ---- frames ---- */

/* Builds header + body + signature into a fresh buffer (caller frees with free()). h->body_len and
 * h->version are filled in; h->origin must be id->origin. Returns 0, or -1 when too big. */
int gossip_wire_frame_encode(struct gossip_frame_header *h, const uint8_t *body, size_t body_len,
                             const struct gossip_identity *id, uint8_t **out, size_t *out_len);
/* Checks a received frame in the order above without unpacking anything. On success fills *h and
 * points *body into frame (borrowed). kr may not be NULL. */
enum gossip_wire_err gossip_wire_frame_verify(const uint8_t *frame, size_t len, const struct gossip_keyring *kr,
                                              struct gossip_frame_header *h, const uint8_t **body, size_t *body_len);
/* Header parse alone (no signature check), for diagnostics. */
enum gossip_wire_err gossip_wire_header_parse(const uint8_t *frame, size_t len, struct gossip_frame_header *h);

/* ---- body writer ---- */

struct gossip_writer {
    msgpack_sbuffer buf;
    msgpack_packer pk;
    size_t entries;
};
void gossip_writer_init(struct gossip_writer *w);
void gossip_writer_reset(struct gossip_writer *w);   /* empty again, keeps the buffer */
void gossip_writer_fini(struct gossip_writer *w);
/* Append one entry. Return 0, or -1 for an invalid key/record (nothing written). */
int gossip_writer_slot(struct gossip_writer *w, const char *key, int64_t bucket, uint64_t origin, uint32_t epoch,
                       uint64_t count);
int gossip_writer_sketch(struct gossip_writer *w, const char *key, int64_t bucket, const struct gossip_sketch *s);
int gossip_writer_ban(struct gossip_writer *w, const struct gossip_ban *b);
/* A sketch entry carrying only some item hashes (n <= GOSSIP_SKETCH_EXACT_MAX): merged as a union,
 * it is how a delta sends the items added since the last one. */
int gossip_writer_sketch_hashes(struct gossip_writer *w, const char *key, int64_t bucket, const uint64_t *h,
                                size_t n);

/* ---- decoded body ---- */

struct gossip_slot_entry {
    const char *key;          /* points into the body's arena */
    int64_t bucket;           /* bucket start, unix ms */
    uint64_t origin;
    uint32_t epoch;
    uint64_t count;
};
struct gossip_sketch_entry {
    const char *key;
    int64_t bucket;
    struct gossip_sketch *sketch;   /* owned by the body */
};
struct gossip_body {
    struct gossip_slot_entry *slots;
    size_t n_slots;
    struct gossip_sketch_entry *sketches;
    size_t n_sketches;
    struct gossip_ban *bans;
    size_t n_bans;
    /* private */
    size_t cap_slots, cap_sketches, cap_bans;
    char *arena;
    size_t arena_len, arena_used;
};

/* Unpacks a body whose frame was verified. max_entries caps the total (0 = GOSSIP_WIRE_MAX_ENTRIES).
 * Allocates at most a small constant times len. On error *out is NULL and the reason is returned;
 * ban signatures are NOT checked here (gossip_state_merge does, against the author's key). */
enum gossip_wire_err gossip_body_decode(const uint8_t *data, size_t len, size_t max_entries,
                                        struct gossip_body **out);
void gossip_body_destroy(struct gossip_body **pb);
size_t gossip_body_entries(const struct gossip_body *b);

/* ---- SYNC_LEAVES: the sync's second level ----
 * Body: [role, recipient, mask, bin], msgpack, nothing else (a fixarray of 4; integers of any width;
 * bin 8, 16 or 32 of exactly the length below).
 *   role 0 (leaf sums): mask = the partitions whose digests differed (not 0); bin = for each of
 *          them in increasing order, GOSSIP_SYNC_FANOUT leaf sums, u64 big-endian (2 KiB a partition,
 *          128 KiB at most).
 *   role 1 (pull): mask = 0; bin = GOSSIP_SYNC_LEAVES / 8 bytes, the set of leaves wanted (bit l % 8
 *          of byte l / 8 = leaf l). The sender has sent (or is sending) its own entries of them.
 * recipient: origin of the node it is for (signed: a copy replayed to another node is refused). */
#define GOSSIP_SYNC_LEAF_BYTES (GOSSIP_SYNC_FANOUT * 8)          /* leaf sums of one partition */
#define GOSSIP_SYNC_PULL_BYTES (GOSSIP_SYNC_LEAVES / 8)          /* bitmap of every leaf */
struct gossip_sync_leaves {
    uint8_t role;             /* 0: leaf sums, 1: pull */
    uint64_t recipient;
    uint64_t mask;
    const uint8_t *bin;       /* borrowed: into the decoded body, or the caller's bytes to encode */
    size_t bin_len;
};
/* Appends the body to w (w is reset first). -1 when the fields break the rules above. */
int gossip_wire_sync_leaves_encode(const struct gossip_sync_leaves *m, struct gossip_writer *w);
/* Reads a body strictly: GOSSIP_WIRE_EMALFORMED for a bad shape, EFIELD for a value out of range or a
 * bin of the wrong length, ELENGTH for trailing bytes. Never allocates. */
enum gossip_wire_err gossip_wire_sync_leaves_decode(const uint8_t *body, size_t len, struct gossip_sync_leaves *out);
/* The bin length of a SYNC_LEAVES body of this role and mask; 0 when they break the rules above. */
size_t gossip_wire_sync_leaves_len(uint8_t role, uint64_t mask);
/* u64 big-endian, as the digests travel. */
uint64_t gossip_wire_be64(const uint8_t *p);
void gossip_wire_put_be64(uint8_t *p, uint64_t v);

#endif
