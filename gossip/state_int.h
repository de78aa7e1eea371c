/* state_int.h: internal layout of gossip/state, shared by state.c, state_ban.c and state_sync.c only. */
#ifndef GOSSIP_STATE_INT_H
#define GOSSIP_STATE_INT_H

#include "gossip/state.h"
#include "gossip/slab.h"
#include "gossip/table.h"

/* One (bucket, origin, epoch) slot of a counter key. Cells are kept sorted by that triple. */
struct gossip_cell {
    int64_t bucket;
    uint64_t origin;
    uint64_t count;
    uint32_t epoch;
    uint32_t dirty;          /* own slot changed since the last delta */
};

/* Common head of the three kinds of entries: the table and the dirty lists use it. */
struct gossip_entry_head {
    uint64_t hash;           /* gossip_table_hash(key) */
    uint32_t dirty_pos;      /* 1 + index in its dirty list, 0 when not queued */
    uint32_t aux;            /* a windowed key's n (which shares these bytes); unused by a ban record */
};

/* A sketch bucket. Items added here since the last delta are remembered (up to the exact cap) so
 * that a delta carries a few hashes instead of a whole 1 KiB HyperLogLog; past the cap the delta
 * carries the whole sketch. */
struct gossip_skbucket {
    int64_t bucket;
    struct gossip_sketch *sk;
    uint64_t *pend;          /* GOSSIP_SKETCH_EXACT_MAX slots once used */
    uint16_t npend;
    bool dirty;              /* own additions not yet sent */
    bool full;               /* send the whole sketch */
};

/* A windowed key: a counter key holds cells, a sketch key holds per-bucket sketches, both sorted.
 * Packed for a million keys (state.c wkey_get): 25 bytes, the key, and for a counter key its first
 * cell in the same slab block; n lives in the head's spare word, the capacity as a power of two. */
struct gossip_wkey {
    union {
        struct gossip_entry_head h;
        struct {
            uint64_t hash_;
            uint32_t dirty_pos_;
            uint32_t n;      /* cells or buckets held: the head's aux */
        };
    };
    union {
        struct gossip_cell *cells;
        struct gossip_skbucket *b;
    };
    uint8_t fl;              /* WKEY_CAP_LOG2 (log2 of the array's capacity) | WKEY_INLINE (state.c) */
    char key[];
};

struct gossip_bkey {
    struct gossip_entry_head h;
    int64_t keep_until;      /* latest expires_at among this record and those it met; + grace = collection */
    struct gossip_ban rec;
};

/* What one author holds and has blocked lately, for its budgets (state_limits.c). Authors are
 * keyring members (a record is counted only once its signature verified), so the list stays short. */
struct gossip_author_hour {
    int64_t hour;            /* start of the hour (ms), of the records' stamps */
    uint64_t span;           /* address space blocked by records stamped in it */
};
struct gossip_author {
    uint64_t origin;
    size_t records;          /* records of this author in the map */
    size_t nhours;           /* ring of hours, indexed by hour number modulo nhours */
    struct gossip_author_hour *hours;
};

/* Entries queued for the next delta, first in, first out: v[head..n) (v[0..head) taken already,
 * cut off when they are half of it); slots of removed entries are set to NULL. */
struct gossip_dirty {
    void **v;
    size_t head, n, cap;
    size_t live;             /* non-NULL entries among v[head..n) */
    uint64_t added, taken;   /* entries ever appended, slots ever passed by a delta (gossip_pending_mark) */
};

struct gossip_state {
    struct gossip_state_config cfg;
    const struct gossip_identity *self;
    const struct gossip_keyring *kr;
    uint32_t epoch;
    struct gossip_hlc hlc;
    struct gossip_table counters, sketches, bans;
    struct gossip_dirty dirty_c, dirty_s, dirty_b;
    gossip_ban_cb ban_cb;
    void *ban_cb_arg;
    uint64_t rng;
    size_t evicted;
    struct gossip_author *authors;
    size_t n_authors;
    uint64_t refused[GOSSIP_REFUSE_MAX];
    uint64_t digest[GOSSIP_PARTITIONS];   /* kept current by every change, see state_digest.c */
    uint64_t leaf[GOSSIP_SYNC_LEAVES];    /* the same sums per leaf (sync descends to them) */
    size_t expire_cursor[3];              /* gossip_state_expire_slice: counters, sketches, bans */
    bool sketches_first;                  /* the next delta after the bans starts with the sketches */
    /* What the expiry slices saw of each table (counters, sketches, bans): the pass under way, and the
     * last one completed, which gossip_state_stats_recent reports (state.c). */
    struct gossip_census { size_t items, tombstones, mem; } census_part[3], census[3];
    struct gossip_slab wslab[48];         /* windowed keys by block size / 8 (state.c wkey_get) */
};

/* Oldest bucket start still kept at now, and newest accepted (clock skew allowance). */
int64_t gossip_state_oldest_bucket(const struct gossip_state *st, int64_t now_ms);
int64_t gossip_state_newest_bucket(const struct gossip_state *st, int64_t now_ms);
void gossip_state_mark(struct gossip_dirty *d, struct gossip_entry_head *h);
void gossip_state_unmark(struct gossip_dirty *d, struct gossip_entry_head *h);

/* Index of the k-th entry of n that gossip_state_merge merges (state_sync.c says why not the k-th). */
size_t gossip_state_merge_index(size_t k, size_t n);
/* Counter and sketch merges of one entry; return 1 changed, 0 ignored, -1 rejected (res updated). */
int gossip_state_merge_slot(struct gossip_state *st, const struct gossip_slot_entry *e, uint64_t sender,
                            unsigned flags, int64_t now_ms, struct gossip_merge_result *res);
int gossip_state_merge_sketch(struct gossip_state *st, const struct gossip_sketch_entry *e, int64_t now_ms,
                              struct gossip_merge_result *res);
/* A ban record's signature: not checked yet, or the verdict of gossip_state_ban_authentic. */
enum gossip_sig { GOSSIP_SIG_UNKNOWN = 0, GOSSIP_SIG_OK, GOSSIP_SIG_BAD };
/* sig: the record's verdict when known (gossip_state_verify_bans), else GOSSIP_SIG_UNKNOWN: checked here
 * if the merge needs it. vouched: it came in its author's own frame, straight from the author, and this
 * node relays no site (gossip_state_ban_vouched, GOSSIP_MERGE_SENDER_DIRECT); a record that wins is
 * queued for the next delta (relayed) only when it did not: the author published that frame to every
 * peer that subscribes to it, and one that missed it repairs the gap from the author or syncs, so
 * relaying it too would only make every peer receive it once per member. */
int gossip_state_merge_ban(struct gossip_state *st, const struct gossip_ban *b, unsigned flags, int64_t now_ms,
                           enum gossip_sig sig, bool vouched, struct gossip_merge_result *res);
/* Whether b is signed by its author (our own key for our records, else the keyring's). A pure function
 * of the record, st->self and the keyring: safe on several threads while the state is not written. */
bool gossip_state_ban_authentic(const struct gossip_state *st, const struct gossip_ban *b);
/* Whether b, merged from sender with flags, is vouched for by its frame's signature (GOSSIP_MERGE_SENDER_SIGNED
 * and b's author is the sender): then it needs no check of its own. */
bool gossip_state_ban_vouched(const struct gossip_ban *b, uint64_t sender, unsigned flags);
/* Whether gossip_state_merge_ban would check b's signature if it came now, into the map as it stands. */
bool gossip_state_ban_needs_check(const struct gossip_state *st, const struct gossip_ban *b, unsigned flags,
                                  int64_t now_ms);
/* For a body with many ban records: the verdicts (indexed like b->bans, malloc'd, the caller frees) of
 * those the merge will check, checked on worker threads; GOSSIP_SIG_UNKNOWN for the others. NULL when
 * too few need a check to be worth threads (state_verify.c). st is only read, by every thread. */
uint8_t *gossip_state_verify_bans(const struct gossip_state *st, const struct gossip_body *b, uint64_t sender,
                                  unsigned flags, int64_t now_ms);
/* Drops the records past their grace among the slots [from, to) of the ban table. */
size_t gossip_state_expire_bans(struct gossip_state *st, int64_t now_ms, size_t from, size_t to);

/* Record limits (state_limits.c). */
/* Longest lifetime past its stamp a record of this action and kind may have. */
int64_t gossip_state_max_ttl(const struct gossip_state *st, uint8_t action, uint8_t kind);
/* Counts a refusal (and logs it at counts 1, 2, 4...). key may be NULL; author is the record's author or
 * the frame's sender. Returns -1. */
int gossip_state_refuse(struct gossip_state *st, enum gossip_refusal r, const char *key, uint64_t author);
/* The checks that need no signature: clean text, typed key matching the kind, lifetime, prefix.
 * Returns 0, or -1 after counting the refusal. */
int gossip_state_record_check(struct gossip_state *st, const struct gossip_ban *b);
/* The same checks without counting: true when b passes, else false and the reason in *why (out). */
bool gossip_state_record_ok(const struct gossip_state *st, const struct gossip_ban *b, enum gossip_refusal *why);
/* The author's budgets for a record that will replace cur (NULL: a new key): records held, and for a
 * block, address space in the hour of its stamp, which is charged. 0, or -1 after counting. */
int gossip_state_budget_charge(struct gossip_state *st, const struct gossip_ban *b, const struct gossip_ban *cur);
/* A record of author enters (delta 1) or leaves (delta -1) the map. */
void gossip_state_author_count(struct gossip_state *st, uint64_t author, int delta);
void gossip_state_authors_free(struct gossip_state *st);
/* Pack every cell / bucket of an entry into w. */
void gossip_state_pack_ckey(const struct gossip_wkey *k, struct gossip_writer *w, bool dirty_only);
void gossip_state_pack_skey(const struct gossip_wkey *k, struct gossip_writer *w, bool dirty_only);

/* Digest contributions (0 for an empty cell or sketch) and their upkeep (state_digest.c). */
uint64_t gossip_state_cell_hash(uint64_t keyhash, const struct gossip_cell *c);
uint64_t gossip_state_skb_hash(uint64_t keyhash, const struct gossip_skbucket *b);
uint64_t gossip_state_ban_hash(const struct gossip_ban *b);
uint64_t gossip_state_ckey_hash(const struct gossip_wkey *k);
uint64_t gossip_state_skey_hash(const struct gossip_wkey *k);
/* The partition and leaf of keyhash now contribute now_h instead of old_h. */
void gossip_state_digest_adjust(struct gossip_state *st, uint64_t keyhash, uint64_t old_h, uint64_t now_h);
/* Recomputed from scratch: what the kept digest must always equal. */
void gossip_state_digest_full(const struct gossip_state *st, uint64_t out[GOSSIP_PARTITIONS]);
void gossip_state_leaves_full(const struct gossip_state *st, uint64_t out[GOSSIP_SYNC_LEAVES]);

#endif
