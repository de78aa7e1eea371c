/* enforce_nft.h: internals of enforce/: the element model, the kernel mirror and planner, the
 * netlink message codec, and the backend vtable that the nft and dry-run backends fill in. */
#ifndef SG_ENFORCE_NFT_H
#define SG_ENFORCE_NFT_H

#include "enforce/enforce.h"

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct nftnl_batch;
struct nlmsghdr;

/* Elements per NEWSETELEM/DELSETELEM message: the element list is one netlink attribute whose
 * length is 16 bits, so 512 intervals (start + end elements, ~96 bytes each for IPv6) fit. */
#define ENFORCE_NFT_CHUNK 512
/* Longest timeout we set (the kernel takes u64 ms; a year is plenty and keeps sums safe). */
#define ENFORCE_NFT_MAX_TIMEOUT_S (365u * 86400u)
/* A prefix length that marks an interval that is no prefix (only ever added by hand). */
#define ENFORCE_NFT_RANGE 0xff

/* One ban element as the kernel holds it: the interval [p.addr, end) in ban4 or ban6. */
struct enforce_nft_elem {
    struct enforce_prefix p;   /* start address; p.len = prefix length or ENFORCE_NFT_RANGE */
    uint8_t end[16];           /* exclusive end when has_end */
    bool has_end;              /* false when the interval runs to the top of the address space */
    bool dead;                 /* mirror bookkeeping: deleted, to be compacted */
    uint64_t timeout_ms;       /* timeout to set (adds) or as reported (0 = none) */
    int64_t expires_ms;        /* monotonic ms when the kernel drops it; 0 = never */
};

/* One change for a transaction. status is written by the backend's apply. */
enum enforce_nft_kind { ENFORCE_NFT_DEL = 0, ENFORCE_NFT_ADD = 1 };
enum enforce_nft_status { ENFORCE_NFT_PENDING = 0, ENFORCE_NFT_OK, ENFORCE_NFT_GONE, ENFORCE_NFT_FAILED };
struct enforce_nft_op {
    struct enforce_nft_elem el;
    uint8_t kind;              /* enum enforce_nft_kind */
    uint8_t status;            /* enum enforce_nft_status */
    int err;                   /* errno from the kernel when FAILED */
};

/* A prefix handed in as a struct (not parsed by us): -1 for a bad family or length, else *out
 * is the same prefix with its host bits cleared (enforce_prefix.c). */
int enforce_prefix_check(const struct enforce_prefix *in, struct enforce_prefix *out);

/* ---- element helpers (enforce_nft_elem.c) ---- */
/* Fills el from a prefix: start, exclusive end (none when it reaches the top), timeout. */
void enforce_nft_elem_from_prefix(struct enforce_nft_elem *el, const struct enforce_prefix *p,
                                  uint64_t timeout_ms);
/* From a raw interval [start, end) (has_end false: to the top) sets el->p.len to the prefix
 * length, or ENFORCE_NFT_RANGE when the interval is not one aligned prefix. */
void enforce_nft_elem_classify(struct enforce_nft_elem *el);
/* Text for logs: the prefix, or "a-b" for a range. */
const char *enforce_nft_elem_format(const struct enforce_nft_elem *el, char *buf, size_t size);

/* ---- the kernel mirror and the planner (enforce_nft_plan.c) ---- */
/* What we believe the kernel sets hold, sorted by enforce_prefix_cmp; kept current by every
 * transaction's results and replaced by each reconcile's dump. */
struct enforce_nft_mirror {
    struct enforce_nft_elem *v;
    size_t n, cap;
    uint32_t lens[2][129];     /* [v4, v6][prefix length]: how many live entries have it */
};
/* One queued change from the front end. */
struct enforce_nft_change {
    struct enforce_prefix p;
    uint32_t timeout_s;
    uint8_t kind;              /* enum enforce_nft_kind */
    uint64_t seq;              /* queue order: the last change for one prefix wins */
};
/* The queue of changes, in the order they were made. */
struct enforce_nft_queue {
    struct enforce_nft_change *v;
    size_t n, cap;
    uint64_t seq;
};
void enforce_nft_queue_push(struct enforce_nft_queue *q, const struct enforce_prefix *p, uint32_t timeout_s,
                            uint8_t kind);
/* Sorts q (by prefix, then queue order) and keeps the last change for each prefix, in place.
 * Returns the new count. */
size_t enforce_nft_changes_fold(struct enforce_nft_change *q, size_t nq);
/* Plan counters, added to the front end's stats. */
struct enforce_nft_plan_stats {
    uint64_t covered, retimed, added, removed;
};

void enforce_nft_mirror_init(struct enforce_nft_mirror *m);
void enforce_nft_mirror_free(struct enforce_nft_mirror *m);
/* Takes ownership of elems (from a dump): the mirror becomes exactly that. */
void enforce_nft_mirror_replace(struct enforce_nft_mirror *m, struct enforce_nft_elem *elems, size_t n);
/* Folds the results of a transaction in (OK and GONE deletes go, OK adds come in). */
void enforce_nft_mirror_apply(struct enforce_nft_mirror *m, const struct enforce_nft_op *ops, size_t n,
                              int64_t now_ms);
/* Exact entry for p, or NULL. */
struct enforce_nft_elem *enforce_nft_mirror_find(const struct enforce_nft_mirror *m, const struct enforce_prefix *p);
size_t enforce_nft_mirror_count(const struct enforce_nft_mirror *m, int family, int64_t now_ms);
/* First index whose key is >= p (everything p covers follows it, in order). */
size_t enforce_nft_mirror_lower(const struct enforce_nft_mirror *m, const struct enforce_prefix *p);
/* The live entry (expiry with the mirror's slack) equal to p or wider than p that covers it, or
 * NULL. Cost: one lookup per prefix length present in the mirror. */
const struct enforce_nft_elem *enforce_nft_mirror_covering(const struct enforce_nft_mirror *m,
                                                           const struct enforce_prefix *p, int64_t now_ms);

/* Turns queued changes (sorted and deduplicated in place) into ops against the mirror: deletes
 * first, then adds, each grouped by family. Returns the number of ops (*ops owned by the caller). */
size_t enforce_nft_plan_commit(const struct enforce_nft_mirror *m, struct enforce_nft_change *q, size_t nq,
                               int64_t now_ms, struct enforce_nft_op **ops, struct enforce_nft_plan_stats *st);
/* Ops that make the mirror (fresh from a dump) equal to wanted (n bans, sorted in place). */
size_t enforce_nft_plan_reconcile(const struct enforce_nft_mirror *m, struct enforce_ban *wanted, size_t n,
                                  int64_t now_ms, struct enforce_nft_op **ops, struct enforce_nft_plan_stats *st);
/* The order reconcile wants its bans in: by prefix, the longest timeout first (qsort comparator). */
int enforce_ban_cmp(const void *a, const void *b);
/* The same plan cut in steps: zero-initialise, then call step with wanted sorted by
 * enforce_ban_cmp until it returns true (each call walks at most budget entries of the two
 * lists); finish hands the ops over (*ops owned by the caller) and returns their count. Neither
 * the mirror nor wanted may change between the steps. */
struct enforce_nft_replan {
    size_t i, j, last;         /* cursors in wanted and the mirror; last kept wanted + 1 (0: none) */
    struct enforce_nft_op *v;  /* the ops so far */
    size_t n, cap;
};
bool enforce_nft_plan_reconcile_step(struct enforce_nft_replan *rp, const struct enforce_nft_mirror *m,
                                     const struct enforce_ban *wanted, size_t n, int64_t now_ms, size_t budget,
                                     struct enforce_nft_plan_stats *st);
size_t enforce_nft_plan_reconcile_finish(struct enforce_nft_replan *rp, struct enforce_nft_op **ops);
/* Takes ownership of elems, already sorted by enforce_prefix_cmp (no sort: linear). */
void enforce_nft_mirror_adopt(struct enforce_nft_mirror *m, struct enforce_nft_elem *elems, size_t n);

/* ---- a merge sort cut in steps (enforce_sort.c) ---- */
struct enforce_sort {
    char *src, *dst;           /* owned: the data, and the buffer of the pass under way */
    size_t n, size;
    int (*cmp)(const void *, const void *);
    size_t width, lo, mid, hi, i, j, k;
    bool done;
};
/* Takes ownership of v (n elements of size bytes, from malloc). */
void enforce_sort_init(struct enforce_sort *s, void *v, size_t n, size_t size, int (*cmp)(const void *, const void *));
/* Does about budget element moves (at least one run); returns true once the data is sorted. */
bool enforce_sort_step(struct enforce_sort *s, size_t budget);
/* The sorted data (owned by the caller from now on); s is emptied. */
void *enforce_sort_take(struct enforce_sort *s);
void enforce_sort_free(struct enforce_sort *s);

/* ---- the wanted bans (enforce_want.c) ---- */
/* Every ban the front end was asked for and that has not been lifted or expired, the covered
 * ones included: the kernel holds only the widest of overlapping bans, so this is what it must
 * be made equal to when a covering prefix ends, and what the drift check walks. */
struct enforce_want {
    struct enforce_nft_mirror set;   /* sorted by prefix; expires_ms is our monotonic expiry */
    int64_t next_prefix_exp_ms;      /* earliest expiry of a wanted prefix (not one address); 0: none */
    size_t cursor;                   /* where the drift check goes on */
};
void enforce_want_init(struct enforce_want *w);
void enforce_want_free(struct enforce_want *w);
/* Folds the changes of one commit (folded: one per prefix, sorted) in. For each prefix lifted,
 * pushes onto out (unless NULL) a ban for every wanted entry inside it, which the prefix no
 * longer covers. Returns the number of bans pushed. */
size_t enforce_want_apply(struct enforce_want *w, const struct enforce_nft_change *q, size_t nq, int64_t now_ms,
                          struct enforce_nft_queue *out);
/* Makes the wanted set exactly wanted[0..n) (timeout_s from now). */
void enforce_want_replace(struct enforce_want *w, const struct enforce_ban *wanted, size_t n, int64_t now_ms);
/* The live wanted entries as bans (timeout_s: seconds left), in prefix order; *out owned by the
 * caller. Returns the count. */
size_t enforce_want_list(const struct enforce_want *w, int64_t now_ms, struct enforce_ban **out);
/* The same from wanted already sorted by enforce_ban_cmp: linear, no sort. */
void enforce_want_replace_sorted(struct enforce_want *w, const struct enforce_ban *wanted, size_t n, int64_t now_ms);
/* Takes the kernel's own expiry (from the mirror) for each wanted prefix the kernel holds: after
 * a reconcile that left an element's timeout alone, the kernel drops it up to a second before
 * the wanted time computed from whole seconds, and what it covered must go back then. */
void enforce_want_align(struct enforce_want *w, const struct enforce_nft_mirror *kernel);
/* A wanted prefix whose time is up is dropped; when wanted entries live on inside it, it is
 * lifted as by an unban: its delete is pushed (the kernel may still hold it for a moment), and
 * the commit that folds it in puts back what it covered. Cheap when no prefix is due. Returns the
 * number of deletes pushed. */
size_t enforce_want_expire(struct enforce_want *w, int64_t now_ms, struct enforce_nft_queue *out);
/* Up to max live wanted entries for the drift check, from where the last call stopped (round
 * robin); addresses that have expired are dropped on the way (prefixes are left to
 * enforce_want_expire). Entries expiring within min_left_ms
 * are skipped (the kernel may drop them first). Writes to out (>= max); returns the count. */
size_t enforce_want_slice(struct enforce_want *w, int64_t now_ms, int64_t min_left_ms, size_t max,
                          struct enforce_nft_elem *out);

/* ---- netlink messages, no socket (enforce_nft_msg.c) ---- */
struct enforce_nft_layout {
    const char *table;
    const uint16_t *ports;
    size_t nports;
    enum enforce_verdict verdict;
    int priority;
};
/* Appends the messages that create or repair the table, sets, ports and chain (rules flushed and
 * rewritten) to batch, with sequence numbers from *seq on; advances *seq. */
void enforce_nft_msg_setup(struct nftnl_batch *b, uint32_t *seq, const struct enforce_nft_layout *lay);
/* Appends one NEWSETELEM (adds) or DELSETELEM (deletes) message for ops[0..n), which share kind
 * and family, with NLM_F_ACK and sequence seq. */
void enforce_nft_msg_elems(struct nftnl_batch *b, uint32_t seq, const char *table,
                           const struct enforce_nft_op *ops, size_t n);
/* Appends DELTABLE. */
void enforce_nft_msg_deltable(struct nftnl_batch *b, uint32_t seq, const char *table);
/* A GETSETELEM dump request for set ("ban4"/"ban6") into buf; returns the header. */
struct nlmsghdr *enforce_nft_msg_getelems(char *buf, uint32_t seq, const char *table, const char *set);
struct nlmsghdr *enforce_nft_msg_getrules(char *buf, uint32_t seq, const char *table);
struct nlmsghdr *enforce_nft_msg_gettable(char *buf, uint32_t seq, const char *table);
/* A GETSETELEM request (no dump) for the one key of family (ban4 or ban6) into buf: the kernel
 * answers with the element whose interval holds the key, or ENOENT. */
struct nlmsghdr *enforce_nft_msg_getelem(char *buf, uint32_t seq, const char *table, int family, const uint8_t *key);

/* Raw elements as parsed from messages (start and end elements separate). */
struct enforce_nft_raw {
    uint8_t key[16];
    uint32_t flags;            /* NFT_SET_ELEM_INTERVAL_END */
    uint64_t timeout_ms, expiration_ms;
};
struct enforce_nft_rawlist {
    struct enforce_nft_raw *v;
    size_t n, cap;
    int family;                /* AF_INET or AF_INET6: decides the key length */
};
/* Appends the elements of one set-element message (dump reply or NEWSETELEM). Returns 0 or -1. */
int enforce_nft_msg_parse_elems(const struct nlmsghdr *nlh, struct enforce_nft_rawlist *out);
/* Pairs start and end elements into intervals (owned by the caller); expiration turned into
 * monotonic expiry from now_ms. Returns the number written to *elems. */
size_t enforce_nft_raw_pair(struct enforce_nft_rawlist *raw, int64_t now_ms, struct enforce_nft_elem **elems);
/* The order raw_pair needs (qsort comparator), and the pairing of a list already in that order. */
int enforce_nft_raw_cmp(const void *a, const void *b);
size_t enforce_nft_raw_pair_sorted(const struct enforce_nft_rawlist *raw, int64_t now_ms, struct enforce_nft_elem **elems);
/* From one rule message: its counter, and whether it matches IPv4 (1) or IPv6 (2) sources (0: neither). */
int enforce_nft_msg_parse_rule(const struct nlmsghdr *nlh, uint64_t *packets, uint64_t *bytes);

/* ---- backends ---- */
/* One key looked up in the kernel set of its family (the drift check). */
struct enforce_nft_probe {
    struct enforce_prefix p;   /* in: the key is p.addr, in set ban4 or ban6 by p.family */
    bool found;                /* out: an element's interval holds the key */
    uint8_t start[16];         /* out: that element's start */
};
struct enforce_backend_ops {
    const char *name;
    int (*setup)(void *be);
    /* Applies ops (deletes before adds) as one transaction, retrying failed chunks by halves;
     * writes each op's status. Returns 0 when every op is OK or GONE, else -1. */
    int (*apply)(void *be, struct enforce_nft_op *ops, size_t n);
    /* Reads both ban sets; *elems owned by the caller. */
    int (*dump)(void *be, struct enforce_nft_elem **elems, size_t *n);
    /* The dump of one set cut in steps (the incremental reconcile), on a socket of its own, so
     * that commits and lookups go on meanwhile: dump_begin asks for ban4 (AF_INET) or ban6;
     * each dump_read appends what the next replies hold to raw, for about budget_us (one reply
     * at least), and sets *done after the last. Both return 0 or -1 (the dump is then over). */
    int (*dump_begin)(void *be, int family);
    int (*dump_read)(void *be, struct enforce_nft_rawlist *raw, int64_t budget_us, bool *done);
    int (*remove)(void *be);
    /* Table presence and rule counters; the set sizes too when count_sets (a full dump). */
    int (*kernel)(void *be, struct enforce_kernel *out, bool count_sets);
    /* Looks up n keys (one request each, sent together). Returns 0, or -1 when the answers
     * could not be read (then nothing in pr is to be trusted). */
    int (*lookup)(void *be, struct enforce_nft_probe *pr, size_t n);
    void (*destroy)(void *be);
};
/* Each returns NULL on failure (logged); stats is the front end's, for transactions/retries. */
void *enforce_nft_backend_new(const struct enforce_config *cfg, struct enforce_stats *stats,
                              const struct enforce_backend_ops **ops);
void *enforce_dryrun_backend_new(const struct enforce_config *cfg, struct enforce_stats *stats,
                                 const struct enforce_backend_ops **ops);

/* ---- the front end's state, shared by enforce.c and enforce_reconcile.c ---- */
/* The drift check looks every wanted ban up in the kernel at least once per cycle, in slices
 * spread over the ticks (a dump of the sets would stall the loop for seconds at 100k bans). */
#define VERIFY_CYCLE_MS 30000
#define VERIFY_MIN 16              /* keys per tick at least: small sets are checked every tick */
#define VERIFY_MAX 1024
#define VERIFY_MIN_LEFT_MS 5000    /* a ban about to expire is not checked: the kernel drops it first */
#define EXTRAS_DUMP_MAX 4096       /* sets up to this size are also dumped whole once a cycle */

struct enforce_rec;                /* a reconcile under way (enforce_reconcile.c) */

struct enforce {
    const struct enforce_backend_ops *ops;
    void *be;
    struct enforce_guard *guard;
    struct enforce_stats stats;
    struct enforce_nft_mirror mirror;
    struct enforce_want want;        /* every ban asked for, covered ones included */
    bool ready;                      /* table, sets and chain are in place */
    bool synced;                     /* the mirror was filled from a dump */
    struct enforce_nft_queue q;
    int64_t verify_last_ms;
    int64_t extras_last_ms;          /* last whole-set check for extra elements */
    bool reconciled;                 /* a full reconcile ran: until then nothing is deleted as extra */
    uint64_t verify_budget;          /* wanted entries x ms not yet checked, in VERIFY_CYCLE_MS units */
    size_t drift_open;               /* missing bans queued again, not yet back in */
    bool held;                       /* the last commit kept the queue (the kernel could not be set up) */
    bool rec_needed;                 /* queued changes were dropped: a full reconcile must apply them */
    struct enforce_rec *rec;         /* NULL when no reconcile runs */
    int rec_rc;                      /* how the last one ended */
    int64_t commit_end_ms, commit_cost_ms; /* the last commit: when it ended, how long it took (enforce_commit_due) */
};

/* enforce.c: sets the table up and reads the mirror when needed (0 or -1). */
int enforce_ensure(struct enforce *e);
/* enforce.c: logs and counts a ban the guard refuses; true when refused. */
bool enforce_guard_refuses(struct enforce *e, const struct enforce_prefix *p);
/* enforce.c: counts the results of one transaction and folds them into the mirror. Returns 0,
 * or -1 when some op failed. */
int enforce_account(struct enforce *e, struct enforce_nft_op *ops, size_t n);
/* enforce.c: a transaction that failed as a whole (table gone, ACK lost). */
bool enforce_whole_failure(const struct enforce_nft_op *ops, size_t n);
/* enforce.c: seconds left of a wanted entry, rounded up (1 at least). */
uint32_t enforce_left_s(const struct enforce_nft_elem *w, int64_t now_ms);

/* enforce_reconcile.c */
/* The extras check of enforce_tick (see enforce.h). */
void enforce_check_extras(struct enforce *e, int64_t now_ms);
/* One slice of the reconcile under way (none: nothing). */
void enforce_rec_step(struct enforce *e);
void enforce_rec_free(struct enforce *e);

#endif
