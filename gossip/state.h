/* state.h: the replicated state of one node: windowed G-counters, windowed distinct sketches and
 * the last-writer-wins ban map, with delta collection, partition digests for sync and snapshots.
 *
 * Counters: (key, bucket) -> {(origin, epoch) -> count}. Only this node writes its own slots
 *   (origin = self, epoch = this boot); deltas carry absolute slot values; merge is max.
 * Distinct: (key, bucket) -> sketch, merged by union.
 * Bans: key -> gossip_ban, last writer wins by (hlc, author), ties broken by signature bytes.
 *   An unban is a record (tombstone) whose expires_at is that of the ban it cancels. A record stays
 *   stored (not enforced) until ban_grace_ms after the latest expiry among it and the records it beat
 *   or that lost to it, so a late copy of a superseded record cannot come back; records expired
 *   longer than the grace are refused on merge.
 * Windows: a bucket starts at a multiple of bucket_ms (long_bucket_ms for long-lived sketch keys). A window of W ms covers the ceil(W/bucket_ms)
 *   buckets ending with the bucket that holds now: an event at time t counts while
 *   now < bucket_start(t) + ceil(W/bucket_ms) * bucket_ms.
 * Bounds: buckets older than window_max_ms are dropped by gossip_state_expire(); counter keys and
 *   sketch keys are each capped at max_keys: adding a new key when full evicts, among 8 sampled keys,
 *   the one whose newest bucket is oldest (approximate LRU, as Redis does).
 * Nothing here reads a clock: every call takes now_ms. Not thread-safe (one reactor thread). */
#ifndef GOSSIP_STATE_H
#define GOSSIP_STATE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "gossip/hlc.h"
#include "gossip/keyring.h"
#include "gossip/sketch.h"
#include "gossip/wire.h"

/* GOSSIP_PARTITIONS, GOSSIP_SYNC_FANOUT, GOSSIP_SYNC_LEAVES: gossip/wire.h (their sizes are the frames') */
/* Slots per counter key: buckets x origins x epochs. Origins are bounded by the keyring and buckets by
 * the window, epochs only by this cap (a peer inventing epochs cannot grow a key without end). */
#define GOSSIP_STATE_MAX_CELLS 16384

/* Bounds on every ban record, written here or by a peer (DESIGN.md 9a: a peer writes bounded
 * records). A record outside them is refused and counted by reason (gossip_state_stats); a local
 * write has its expiry clamped instead. Nodes of one cluster should use the same limits: a record
 * one node refuses is not relayed by it, though other nodes may still take it. */
struct gossip_record_limits {
    /* Per kind (index = enum gossip_ban_kind): how far past its own stamp a record may expire.
     * An unban may reach the largest of them (it lives as long as the ban it cancels). */
    int64_t max_ttl_ms[GOSSIP_BAN_KIND_MAX + 1];   /* block 30d, throttle 7d, hold 30d, offense 30d, allow 365d */
    int64_t unban_grace_ms;         /* how long an unban keeps new decisions off its key; default 1h */
    size_t author_max_records;      /* records one author may hold in the map; default 250000 */
    /* Address space one author may block per hour of record stamps: IPv4 addresses (a /24 is 256),
     * IPv6 /64s (a /48 is 65536). Default 262144. */
    uint64_t author_max_span_per_hour;
    int min_prefix4, min_prefix6;   /* no block, throttle or allow wider; default SG_MIN_PREFIX*_DEFAULT
                                     * (a peer's allow of a wide prefix would switch the cluster off) */
};
/* Fills the defaults given above. */
void gossip_record_limits_default(struct gossip_record_limits *l);
#define GOSSIP_OFFENSE_MEMORY_MS (7LL * 86400 * 1000)   /* how long a decision is remembered */

struct gossip_state_config {
    int64_t bucket_ms;        /* default 10000 */
    int64_t window_max_ms;    /* largest window any scenario uses; default 3600000 */
    size_t max_keys;          /* per table (counters, sketches); default 1000000; bans: same cap */
    int64_t max_skew_ms;      /* HLC and bucket future limit; default 60000 */
    int64_t ban_grace_ms;     /* how long expired records and tombstones are kept; default 3600000 */
    /* Long-lived sketch keys (sg_evidence_long_lived: known-good addresses of a user) use buckets of
     * long_bucket_ms (default one day) kept long_window_ms (default 0: such keys are not kept longer
     * than the others). Their memory is bounded by the key cap and the buckets per key. */
    int64_t long_bucket_ms;
    int64_t long_window_ms;
    /* The sending limits' counters (sg_evidence_throttle keys) are kept throttle_window_ms (0: as
     * long as the others), so a daily limit does not keep every other counter for a day. */
    int64_t throttle_window_ms;
    struct gossip_record_limits limits;
};
/* Fills the defaults. */
void gossip_state_config_default(struct gossip_state_config *cfg);

struct gossip_state;

/* self: this node's identity (borrowed, signs local bans). kr: keyring (borrowed) that verifies
 * remote ban records; self's key should be in it. epoch: this boot's epoch (> 0). */
struct gossip_state *gossip_state_new(const struct gossip_state_config *cfg, const struct gossip_identity *self,
                                      const struct gossip_keyring *kr, uint32_t epoch);
void gossip_state_destroy(struct gossip_state **pst);

uint64_t gossip_state_origin(const struct gossip_state *st);
uint32_t gossip_state_epoch(const struct gossip_state *st);
/* The node's clock; the transport observes frame stamps through it (gossip_hlc_observe). */
struct gossip_hlc *gossip_state_hlc(struct gossip_state *st);
int64_t gossip_state_bucket_of(const struct gossip_state *st, int64_t t_ms);
/* The counters' bucket width (bucket_ms of the configuration the state was made with). */
int64_t gossip_state_bucket_ms(const struct gossip_state *st);
/* A reload: keeps buckets window_max_ms, and the limits' counters throttle_window_ms (0: the same),
 * from now on (at least one bucket). Buckets already dropped stay dropped. */
void gossip_state_set_windows(struct gossip_state *st, int64_t window_max_ms, int64_t throttle_window_ms);

/* ---- counters ---- */
/* Adds n to this node's slot of (key, bucket of now). -1 for a bad key (empty, too long). */
int gossip_state_counter_add(struct gossip_state *st, const char *key, uint64_t n, int64_t now_ms);
/* Sum over all slots of the buckets inside the window ending at now. 0 for an unknown key. */
uint64_t gossip_state_counter_total(const struct gossip_state *st, const char *key, int64_t window_ms,
                                    int64_t now_ms);
/* The same, of this node's own slots only (its epochs before a restart included). */
uint64_t gossip_state_counter_own(const struct gossip_state *st, const char *key, int64_t window_ms, int64_t now_ms);

/* Sum over writers of one bucket of a counter key. */
struct gossip_bucket_sum {
    int64_t bucket;           /* the bucket's start */
    uint64_t count;
};
/* The non-empty buckets of key that start in [lo_ms, hi_ms], oldest first, summed over every
 * (origin, epoch) slot, into out[0 .. max) (the oldest are left out when there are more). Returns
 * how many. For the policy service's limits, which weigh each bucket by its age. */
size_t gossip_state_counter_buckets(const struct gossip_state *st, const char *key, int64_t lo_ms, int64_t hi_ms,
                                    struct gossip_bucket_sum *out, size_t max);

/* ---- distinct counts ---- */
int gossip_state_distinct_add(struct gossip_state *st, const char *key, const void *item, size_t len,
                              int64_t now_ms);
/* Estimated distinct items over the buckets inside the window (exact up to GOSSIP_SKETCH_EXACT_MAX). */
uint64_t gossip_state_distinct_count(const struct gossip_state *st, const char *key, int64_t window_ms,
                                     int64_t now_ms);

/* True when item is in one of the window's buckets while that bucket is still an exact set; a
 * bucket past GOSSIP_SKETCH_EXACT_MAX items (a HyperLogLog) cannot tell, and says no. */
bool gossip_state_distinct_has(const struct gossip_state *st, const char *key, const void *item, size_t len,
                               int64_t window_ms, int64_t now_ms);

/* ---- bans ---- */
struct gossip_ban_spec {
    const char *key;
    uint8_t action;           /* enum gossip_ban_action */
    uint8_t kind;             /* enum gossip_ban_kind (ignored for unban; kept from the cancelled ban) */
    int64_t expires_at;       /* unix ms; for an unban 0 means "when the cancelled ban would expire" */
    uint32_t level;
    const char *reason;       /* may be NULL; truncated to GOSSIP_REASON_MAX */
    const char *scenario;     /* may be NULL; truncated to GOSSIP_SCENARIO_MAX */
};
/* Writes a local record: stamped by the HLC, author = self, signed, stored, queued for the next delta,
 * and reported to the ban callback. *out (may be NULL) receives a copy. The expiry is clamped to the
 * kind's max_ttl_ms. -1 on an invalid spec (bad key or text, kind not matching the key, wider than
 * the minimum prefix) or over this node's own author budget; the refusal is counted and logged. */
int gossip_state_ban_put(struct gossip_state *st, const struct gossip_ban_spec *spec, int64_t now_ms,
                         struct gossip_ban *out);
/* True when no new decision may be taken on key at now_ms: it holds an active ban, or an unban
 * written less than unban_grace_ms ago (after that the allowlist is the way to exempt for good). */
bool gossip_state_ban_settled(const struct gossip_state *st, const char *key, int64_t now_ms);
/* New record limits (a reload): they apply to records written or merged from now on; records
 * already stored stay. The authors' budgets so far are kept. */
void gossip_state_set_limits(struct gossip_state *st, const struct gossip_record_limits *l);
/* Current record for key (ban or tombstone), borrowed until the next state change; NULL if none. */
const struct gossip_ban *gossip_state_ban_get(const struct gossip_state *st, const char *key);
/* The record when it is an action=ban not yet expired at now_ms, else NULL. */
const struct gossip_ban *gossip_state_ban_active(const struct gossip_state *st, const char *key, int64_t now_ms);
/* Calls fn for every stored record (bans and tombstones), in no particular order. fn must not change
 * the state (collect what to do, then do it). */
void gossip_state_ban_foreach(const struct gossip_state *st, void (*fn)(const struct gossip_ban *b, void *arg),
                              void *arg);
/* Called whenever a record is stored (local write or a remote one that won), so the agent can enforce it.
 * The record is borrowed for the call. The callback may write other records (gossip_state_ban_put, e.g.
 * a prefix escalation) but must not destroy the state. */
typedef void (*gossip_ban_cb)(const struct gossip_ban *b, void *arg);
void gossip_state_set_ban_cb(struct gossip_state *st, gossip_ban_cb cb, void *arg);

/* ---- merge ---- */
enum gossip_merge_flags {
    /* Accept counter slots only when slot origin == sender (a node writes only its own, and the frame
     * signature is a slot's only proof of origin). The transport sets it for every frame. */
    GOSSIP_MERGE_SENDER_SLOTS_ONLY = 1,
    /* Our own snapshot (gossip_state_load): our records signed by wire version 1 are re-signed. */
    GOSSIP_MERGE_RESTORE = 2,
    /* The body came in a frame whose signature by the sender was checked (the transport sets it for
     * every frame). A ban record whose author is the sender is then vouched for by that signature, which
     * covers every byte of it, and is not checked again: an author's own records are most of what
     * reaches a node (its DELTAs, its sync answers), and an Ed25519 check costs ~45 us. The record keeps
     * its own signature for the nodes it is passed on to, which check it. */
    GOSSIP_MERGE_SENDER_SIGNED = 4,
    /* With SENDER_SIGNED: the frame came straight from its sender (not in a relay's RELAY frame, which
     * cannot be repaired) and this node relays no site, so the sender's own records reached every peer
     * that subscribes to it and are not queued for relay again (gossip_state_merge_ban). */
    GOSSIP_MERGE_SENDER_DIRECT = 8,
};
struct gossip_merge_result {
    size_t changed;           /* entries that changed something */
    size_t bans_changed;      /* of which ban records (each reported to the ban callback) */
    size_t ignored;           /* duplicates, older data */
    size_t rejected;          /* refused: see the counters below */
    size_t rej_ban_sig;       /* ban record: unknown author or bad signature */
    size_t bans_vouched;      /* ban records in the body by the sender itself (SENDER_SIGNED): none checked alone */
    size_t rej_future;        /* hlc or bucket too far ahead of now */
    size_t rej_expired;       /* bucket outside window_max or ban already expired */
    size_t rej_foreign;       /* slot of an origin not in the keyring or not the sender, or our own current slot */
    size_t rej_cap;           /* a counter key already holds GOSSIP_STATE_MAX_CELLS slots */
    size_t rej_record;        /* outside the record limits, or a bad key or text (by reason in the stats) */
    const uint8_t *changed_marks; /* the marks given to gossip_state_merge_marked, or NULL */
};
/* Merges a decoded body. sender = frame origin. res may be NULL. Returns 0. */
int gossip_state_merge(struct gossip_state *st, const struct gossip_body *b, uint64_t sender, unsigned flags,
                       int64_t now_ms, struct gossip_merge_result *res);
/* The same, and marks (b->n_slots bytes for the counter slots, then b->n_sketches for the sketch
 * entries, in the body's order) gets 1 where an entry changed the state, 0 elsewhere: the agent
 * evaluates again only the keys whose counts moved. */
int gossip_state_merge_marked(struct gossip_state *st, const struct gossip_body *b, uint64_t sender, unsigned flags,
                              int64_t now_ms, struct gossip_merge_result *res, uint8_t *marks);

/* ---- delta collection ---- */
/* Appends to w the entries changed locally since the last call (own slots, own sketch buckets,
 * ban records written or newly learned) while w's size stays <= max_bytes, and forgets them.
 * Returns the number of entries appended; what did not fit stays queued. */
size_t gossip_state_take_delta(struct gossip_state *st, struct gossip_writer *w, size_t max_bytes);
/* How many entries wait for the next delta. */
size_t gossip_state_pending(const struct gossip_state *st);
/* Where the queues of entries to publish stand: every entry queued before gossip_state_pending_mark
 * has gone into a delta (or was removed) once gossip_state_pending_sent is true of that mark. The
 * queues are first in, first out, so a mark is passed in the order marks were taken. */
struct gossip_pending_mark { uint64_t q[3]; };
void gossip_state_pending_mark(const struct gossip_state *st, struct gossip_pending_mark *m);
bool gossip_state_pending_sent(const struct gossip_state *st, const struct gossip_pending_mark *m);

/* ---- sync support ---- */
/* Partition of a key: siphash(key) % GOSSIP_PARTITIONS. */
unsigned gossip_state_partition(const char *key);
/* Order-independent digest per partition (sum of hashes of each entry's encoding) over counters,
 * sketches and bans. out: GOSSIP_PARTITIONS values. */
void gossip_state_digest(const struct gossip_state *st, uint64_t out[GOSSIP_PARTITIONS]);
/* The same sums for the GOSSIP_SYNC_FANOUT leaves of one partition, out[s] = leaf partition + 64 * s
 * (all 0 for a partition out of range). Kept current too: no scan. */
void gossip_state_digest_leaves(const struct gossip_state *st, unsigned partition, uint64_t out[GOSSIP_SYNC_FANOUT]);
/* The leaf sums of the partitions in mask as a SYNC_LEAVES role 0 carries them (wire.h): out must hold
 * popcount(mask) * GOSSIP_SYNC_LEAF_BYTES. Returns the bytes written. */
size_t gossip_state_leaf_sums(const struct gossip_state *st, uint64_t mask, uint8_t *out);
/* Compares a peer's leaf sums (as above, for mask) with ours: want gets the leaves that differ (bit l
 * of byte l / 8). Returns how many. */
size_t gossip_state_leaves_differ(const struct gossip_state *st, uint64_t mask, const uint8_t *theirs,
                                  uint8_t want[GOSSIP_SYNC_LEAVES / 8]);
/* Exports the entries of the partitions in part_mask (bit p = partition p) into w, up to max_bytes:
 * ban records and sketches whoever wrote them, counter cells of this node only (see the merge flag).
 * *cursor starts at 0; returns 1 when more remains (call again with the same cursor), 0 when done.
 * A key with many slots or buckets is split across calls, so w stays <= max_bytes whenever
 * max_bytes holds at least one entry (about 300 bytes, 1.3 KiB for a HyperLogLog bucket).
 * A table resize between calls may repeat or skip entries; the next sync mends that. */
int gossip_state_export(const struct gossip_state *st, uint64_t part_mask, uint64_t *cursor,
                        struct gossip_writer *w, size_t max_bytes);
/* The same for a set of leaves: bit l of leaves (byte l / 8, bit l % 8) = leaf l. */
int gossip_state_export_leaves(const struct gossip_state *st, const uint8_t leaves[GOSSIP_SYNC_LEAVES / 8],
                               uint64_t *cursor, struct gossip_writer *w, size_t max_bytes);

/* ---- housekeeping, snapshots, introspection ---- */
/* Drops buckets older than window_max and ban records past their grace. Returns entries dropped. */
size_t gossip_state_expire(struct gossip_state *st, int64_t now_ms);
/* The same work cut in slices: each call scans the next 1/parts of each table (from where the
 * previous call stopped), but never more than GOSSIP_EXPIRE_SLICE_MAX slots of a table: parts
 * calls make one full pass of a table up to parts * GOSSIP_EXPIRE_SLICE_MAX slots (more calls past
 * that), and no call holds the loop for a scan of millions of keys. The cap also bounds the work a
 * second (each slot is a cache miss or more): a bigger table is passed more slowly, which costs only
 * memory, since every count and ban check is bounded by its own window or expiry anyway (at 32,768
 * the walks took a fifth of an agent's time under a 1M-address attack). Returns entries dropped. */
#define GOSSIP_EXPIRE_SLICE_MAX 4096
size_t gossip_state_expire_slice(struct gossip_state *st, int64_t now_ms, unsigned parts);
/* Canonical encoding of the whole state: every entry as a body (see wire.h), counters, then sketches,
 * then bans, each sorted by key hash then key, cells and buckets in their stored (sorted) order.
 * Two states are equal iff their canonical encodings are. Caller frees *out with free(). */
int gossip_state_encode(const struct gossip_state *st, uint8_t **out, size_t *len);
/* Snapshot: canonical encoding written to path.tmp, fsync'd, renamed over path (logged on error).
 * It is gossip_state_save_tmp then gossip_state_save_commit; gossip/bgsave.h runs the first in a
 * forked child, so that the loop does not wait for it. */
int gossip_state_save(const struct gossip_state *st, const char *path);
/* Writes and fsyncs path.tmp. 0, or -1 with errno set (path.tmp removed); logs nothing, so that a
 * forked child may call it. */
int gossip_state_save_tmp(const struct gossip_state *st, const char *path);
/* Renames path.tmp over path and syncs the directory. 0, or -1 with errno set (path.tmp removed). */
int gossip_state_save_commit(const char *path);
/* Merges a snapshot (own records too; ban signatures are checked). Records of our own that an older
 * sgagent signed (wire version 1) are re-signed, offense memory getting its own kind, so an upgrade
 * keeps this node's bans; other authors' old records are refused (their authors re-sign theirs).
 * Returns 0, -1 on I/O or format error. */
int gossip_state_load(struct gossip_state *st, const char *path, int64_t now_ms);

/* Why a record or entry was refused (local writes and merges alike), counted since start. */
enum gossip_refusal {
    GOSSIP_REFUSE_TEXT = 0,      /* control character or invalid UTF-8 in a key, reason or scenario */
    GOSSIP_REFUSE_KEY,           /* not a record key (common/key.h), or a kind its key does not take */
    GOSSIP_REFUSE_TTL,           /* expires later after its stamp than the kind's max_ttl_ms */
    GOSSIP_REFUSE_PREFIX,        /* a block or throttle wider than the minimum prefix */
    GOSSIP_REFUSE_RECORDS,       /* its author already holds author_max_records records */
    GOSSIP_REFUSE_SPAN,          /* its author's address space for that hour would pass the limit */
    GOSSIP_REFUSE_FOREIGN_SLOT,  /* a counter slot not sent by its origin, or of no keyring member */
    GOSSIP_REFUSE_MAX
};
const char *gossip_refusal_name(enum gossip_refusal r);

struct gossip_state_stats {
    size_t counter_keys, counter_cells;   /* cells = (bucket, origin, epoch) slots */
    size_t sketch_keys, sketch_buckets;
    size_t bans, tombstones;
    size_t evicted;                       /* keys evicted by the cap since start */
    uint64_t refused[GOSSIP_REFUSE_MAX];  /* records and entries refused, by reason, since start */
    size_t mem_bytes;                     /* heap held by the tables and entries (measured) */
};
void gossip_state_stats(const struct gossip_state *st, struct gossip_state_stats *out);
/* The same without walking the state, for what the agent serves (status, metrics) however large it is:
 * the key counts, evictions and refusals are current; cells, buckets, ban records, tombstones and the
 * memory are those of the last complete pass of gossip_state_expire_slice (5 s old for tables up to
 * 409,600 slots, ~26 s at 2M slots, ~100 s at 8M: GOSSIP_EXPIRE_SLICE_MAX; before the first pass,
 * only the tables' own memory). A full walk costs ~1 s at 4M keys. */
void gossip_state_stats_recent(const struct gossip_state *st, struct gossip_state_stats *out);

#endif
