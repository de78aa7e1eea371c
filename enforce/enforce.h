/* enforce.h: the ban enforcement interface (nftables backend or dry-run) and the never-ban guard. */
#ifndef SG_ENFORCE_H
#define SG_ENFORCE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "common/key.h"

/* ---- addresses and prefixes ------------------------------------------------------------- */

/* One address or prefix. family is AF_INET or AF_INET6; addr is in network byte order (an IPv4
 * address in the first 4 bytes, the rest zero); len is the prefix length (32 or 128 for one
 * address). Host bits past len are always zero in a value made by enforce_prefix_parse. */
struct enforce_prefix {
    uint8_t family;
    uint8_t len;
    uint8_t addr[16];
};

/* Longest text form: an IPv6 address, "/128" and the NUL. */
#define ENFORCE_PREFIX_STRLEN 48

/* Parses "203.0.113.7", "203.0.113.0/24", "2001:db8::/64" into *out (out-parameter).
 * Host bits past the length are cleared ("10.0.0.5/24" gives 10.0.0.0/24); an IPv4-mapped IPv6
 * address (::ffff:a.b.c.d, length >= 96) becomes the IPv4 one, as the kernel sees IPv4 headers.
 * Returns 0, or -1 on bad text (nothing logged: the caller counts and logs). */
int enforce_prefix_parse(const char *text, struct enforce_prefix *out);
/* Writes the canonical text ("203.0.113.7" for a /32, "2001:db8::/64") into buf (>= ENFORCE_PREFIX_STRLEN). */
const char *enforce_prefix_format(const struct enforce_prefix *p, char *buf, size_t size);
/* True when outer covers inner (same family, outer->len <= inner->len, same leading bits). */
bool enforce_prefix_contains(const struct enforce_prefix *outer, const struct enforce_prefix *inner);
/* Orders by family, then address bytes, then length (shorter first): a prefix sorts before
 * everything it covers, which the backends use to fold covered bans. */
int enforce_prefix_cmp(const struct enforce_prefix *a, const struct enforce_prefix *b);

/* ---- the never-ban guard (enforce/guard.c) ---------------------------------------------- */

/* Refuses bans that could lock out the operator or the cluster itself. A ban is refused when it
 * overlaps (covers, or lies inside) loopback (127.0.0.0/8, ::1), the unspecified address,
 * an allowlisted network or one of the cluster's own node addresses, or when its prefix is
 * shorter than the minimum for its family. Defaults: SG_MIN_PREFIX4_DEFAULT and
 * SG_MIN_PREFIX6_DEFAULT (common/key.h: /24 and /48, the one default every layer uses). */

struct enforce_guard;
/* Returns a guard with the defaults above and the built-in loopback rules. Owned by the caller. */
struct enforce_guard *enforce_guard_new(void);
void enforce_guard_destroy(struct enforce_guard **gp);
/* Adds an allowlisted network ("192.0.2.0/24", "2001:db8:1::/48") or one own node address.
 * Returns 0, or -1 on bad text (logged). */
int enforce_guard_allow(struct enforce_guard *g, const char *cidr);
int enforce_guard_add_node(struct enforce_guard *g, const char *addr);
/* Replaces the replicated allows (`sgcluster allow`, agent/agent_allow.c) with v[0..n-1] (copied):
 * they refuse bans as the configured allowlist does, with the reason "allowed cluster-wide". */
void enforce_guard_set_shared(struct enforce_guard *g, const struct enforce_prefix *v, size_t n);
/* Minimum prefix lengths (0..32, 0..128); returns -1 when out of range. */
int enforce_guard_set_min_prefix(struct enforce_guard *g, int min4, int min6);
/* NULL when the ban may go in, else a static reason for the log line ("loopback",
 * "allowlisted 192.0.2.0/24" style text lives in buf when given: buf may be NULL). */
const char *enforce_guard_check(const struct enforce_guard *g, const struct enforce_prefix *p,
                                char *buf, size_t size);

/* ---- the backend ----------------------------------------------------------------------- */

enum enforce_backend { ENFORCE_BACKEND_NFT = 0, ENFORCE_BACKEND_DRYRUN = 1 };
enum enforce_verdict { ENFORCE_DROP = 0, ENFORCE_REJECT = 1 };   /* reject = TCP reset */

#define ENFORCE_MAX_PORTS 32   /* as many as agent/config.h holds */
#define ENFORCE_TABLE_DEFAULT "sgcluster"
/* Postfix 25/465/587, Dovecot POP3 110/995, IMAP 143/993, ManageSieve 4190. */
#define ENFORCE_PORTS_DEFAULT {25, 465, 587, 110, 995, 143, 993, 4190}

/* Everything enforce_new needs; copied, so the caller may free it afterwards. Zero-initialise
 * it and set what you need: zero/NULL fields take the defaults. */
struct enforce_config {
    enum enforce_backend backend;
    const char *table;            /* NULL = "sgcluster" (table family is always inet) */
    uint16_t ports[ENFORCE_MAX_PORTS];
    size_t nports;                /* 0 = ENFORCE_PORTS_DEFAULT */
    enum enforce_verdict verdict; /* drop (default) or reject with a TCP reset */
    int priority;                 /* input hook priority; 0 = -10 (before the usual filter chains) */
    /* The guard: */
    const char *const *allow;     /* allowlisted CIDRs, nallow of them */
    size_t nallow;
    const char *const *nodes;     /* the cluster's own node addresses */
    size_t nnodes;
    int min_prefix4;              /* 0 = SG_MIN_PREFIX4_DEFAULT */
    int min_prefix6;              /* 0 = SG_MIN_PREFIX6_DEFAULT */
};

/* One wanted ban for enforce_reconcile: timeout_s is the time left, in seconds (>= 1). */
struct enforce_ban {
    struct enforce_prefix prefix;
    uint32_t timeout_s;
};

/* Counters since enforce_new; all monotonic. */
struct enforce_stats {
    uint64_t applied;             /* ban elements the kernel accepted (adds, incl. refreshes) */
    uint64_t removed;             /* elements deleted: unbans, and those a refresh or a wider ban replaced */
    uint64_t refused_by_guard;    /* bans refused by the never-ban rules */
    uint64_t covered;             /* bans skipped because a wider banned prefix covers them */
    uint64_t failed;              /* single elements the kernel refused even alone */
    uint64_t bad_input;           /* unparsable address text, or a struct with a bad family/length */
    uint64_t reconciled_added;    /* elements reconcile put back */
    uint64_t reconciled_removed;  /* stale elements reconcile deleted */
    uint64_t reconciled_retimed;  /* elements reconcile re-added to fix their timeout */
    uint64_t transactions;        /* netlink batches sent (incl. retries) */
    uint64_t retries;             /* batches re-sent after a failed chunk was split */
    uint64_t uncovered;           /* covered bans put back because the prefix covering them ended */
    uint64_t drift_missing;       /* wanted bans the drift check found missing from the kernel */
    uint64_t drift_extra;         /* elements no ban wants the drift check found (and deleted) */
    uint64_t drift_repaired;      /* of those two, put back or deleted by a commit that went through */
    uint64_t reconcile_slices;    /* slices the full reconciles were cut into (ticks, and the call) */
    uint64_t reconcile_slice_max_us; /* the longest of them */
    uint64_t reconcile_last_ms;   /* start to end of the last full reconcile (not monotonic) */
    uint64_t queue_coalesced;     /* queued changes replaced by a later one for the same prefix (queue full) */
    uint64_t queue_dropped;       /* queued changes dropped, the queue still full: left to a full reconcile */
    uint64_t commits_paced;       /* ticks whose commit waited because the last one was long (enforce_commit_due) */
    uint64_t commit_last_ms;      /* how long the last commit took, the kernel's work included */
};

/* What the kernel holds now. The table and the rule counters are read on each call; the set
 * sizes come from the mirror of the sets (what we put in, minus what has expired) once a commit
 * or reconcile has read them, because dumping an interval set costs the kernel O(n^2) (each
 * dump message walks the tree from the start: ~3 s at 100k elements). Reconcile re-reads them. */
struct enforce_kernel {
    bool table_present;
    size_t set4, set6;            /* ban elements (one per address or prefix) */
    uint64_t drop_packets4, drop_bytes4, drop_packets6, drop_bytes6; /* rule counters */
    size_t drift;                 /* bans found missing from the kernel and not yet back in */
};

struct enforce;

/* True when enforcers made from a and b would be the same: backend, table, ports, verdict,
 * priority and the guard's allowlist, node addresses and minimum prefixes (defaults taken for
 * zero fields). A configuration enforce_new refuses is never the same. */
bool enforce_config_same(const struct enforce_config *a, const struct enforce_config *b);

/* Opens the backend (nft: one netlink socket; no kernel change yet). The table, sets and chain
 * are created or repaired by enforce_setup, which commit and reconcile call when needed.
 * Returns NULL on bad config or when netlink cannot be opened (logged). Owned by the caller. */
struct enforce *enforce_new(const struct enforce_config *cfg);
void enforce_destroy(struct enforce **ep);

/* Creates (idempotently) table inet <table>, sets ban4/ban6 (flags interval, timeout), the
 * ports set and chain input with its rules (flushed and rewritten, so config changes apply).
 * Existing ban elements are kept. Returns 0 or -1. */
int enforce_setup(struct enforce *e);

/* Queue a ban / an unban for the next commit. The guard runs here: a refused ban returns -1,
 * is logged with its reason and counted. timeout_s is clamped to 1 s .. 365 days (a ban never
 * goes in without a timeout, so it lapses even if the agent is gone). Returns 0 when queued,
 * -1 when refused or on bad text (counted bad_input). Queue order matters: the last change
 * queued for one prefix wins. */
int enforce_ban(struct enforce *e, const struct enforce_prefix *p, uint32_t timeout_s);
int enforce_ban_text(struct enforce *e, const char *text, uint32_t timeout_s);
int enforce_unban(struct enforce *e, const struct enforce_prefix *p);
int enforce_unban_text(struct enforce *e, const char *text);
/* Number of changes waiting for commit. */
size_t enforce_pending(const struct enforce *e);
/* The most changes the queue holds while it waits (a reconcile under way, or a kernel that could
 * not be set up): about 2.5 MiB. Reached, it is coalesced (the last change for each prefix kept,
 * in queue order, counted queue_coalesced); when more than half of it is still distinct changes,
 * it is dropped (counted queue_dropped) and enforce_reconcile_needed says so: the caller's state
 * says what is wanted, so a full reconcile applies what was dropped. A queue that does not wait
 * (the caller commits it) is not bounded here: the caller's own state bounds it. */
#define ENFORCE_QUEUE_MAX 65536
/* True when queued changes were dropped since the last enforce_reconcile_start: start one (once
 * none runs: enforce_reconciling) from the whole wanted list. */
bool enforce_reconcile_needed(const struct enforce *e);

/* Applies every queued change in one netlink transaction (chunked into messages of at most
 * 512 addresses or prefixes). If the kernel refuses a chunk, the good chunks go in again and the bad
 * one is retried by halves down to single elements, which are then logged and counted as
 * failed, so one bad element cannot block the rest. Overlaps: a ban inside an already banned
 * wider prefix is skipped (counted "covered"); a prefix ban first deletes the narrower elements
 * it covers, in the same transaction; an unban of a prefix puts back, in the same transaction,
 * the bans it covered that are still wanted (counted "uncovered"). A ban of an element already
 * present is re-added with the new timeout. Returns 0 when everything queued went in (or was
 * skipped), -1 when some failed. */
int enforce_commit(struct enforce *e);

/* One tick of the agent's loop (call it every few tens of ms): a wanted prefix whose time is
 * up gives the bans it covered back to the kernel (the front end keeps every ban it was asked
 * for, covered ones included, until it is lifted or expires); the drift check looks a slice of
 * the wanted bans up in the kernel (enough per tick that each is checked at least every 30 s,
 * at least 16 a tick) and queues again those the kernel does not hold; then commits. Extra
 * elements (added by hand, or an unban the kernel refused) are found, once enforce_reconcile has
 * run, by dumping the sets every 30 s while they hold at most 4096 elements (rules and
 * counters untouched); in larger
 * sets they are left to enforce_reconcile. While a reconcile started by enforce_reconcile_start
 * runs, a tick runs one slice of it and nothing else. Returns as enforce_commit, or 0 when there
 * was nothing to commit. */
int enforce_tick(struct enforce *e);

/* A commit of an interval set costs the kernel a walk of the whole set (6.18), whatever it changes: 12
 * to 40 ms at 100,000 elements, hundreds at a million. So a tick commits only once ENFORCE_COMMIT_PACE
 * times the last commit's length has passed since it ended (at most ENFORCE_COMMIT_WAIT_MAX_MS): commits
 * then take at most a tenth of the loop, and the queue they wait in folds into fewer, larger ones.
 * Small sets commit at every tick as before, and a queue that waited for a reconcile goes in as it ends. */
#define ENFORCE_COMMIT_PACE 9
#define ENFORCE_COMMIT_WAIT_MAX_MS 5000
bool enforce_commit_due(int64_t last_end_ms, int64_t last_cost_ms, int64_t now_ms);

/* True when the kernel drops p, or will from this tick's commit: the latest queued change to a
 * prefix covering p is a ban (of the last 1024 queued), or else the mirror holds an element
 * equal to p or wider. */
bool enforce_holds(const struct enforce *e, const struct enforce_prefix *p);

/* Sets the table, chain and rules up again (repairs hand edits), then makes the kernel sets equal
 * to wanted (n entries, timeout_s = time left): adds what is missing, deletes what is not wanted
 * (incl. elements added by hand), re-adds entries whose expiry differs by more than
 * max(5 s, 1 %). Guard and overlap rules apply as for commit; discards the pending queue
 * (wanted is the whole truth). enforce_reconcile runs it to the end before it returns (the
 * command line, tests); enforce_reconcile_start only validates and copies wanted and sets the
 * table up, and each enforce_tick then runs one slice of bounded work (a few ms): sorting
 * wanted, reading the kernel's dump of the sets reply by reply, sorting it, planning, and
 * transactions of at most 2048 elements. Bans and unbans queued meanwhile wait for its end (a
 * commit would move the elements under the kernel's walk of the dump), at most ENFORCE_QUEUE_MAX
 * of them. A new start abandons one under way. Return 0 or -1. */
int enforce_reconcile(struct enforce *e, const struct enforce_ban *wanted, size_t n);
int enforce_reconcile_start(struct enforce *e, const struct enforce_ban *wanted, size_t n);
/* True while a reconcile started by enforce_reconcile_start is not over. */
bool enforce_reconciling(const struct enforce *e);
/* Its stage ("sort", "want", "dump", "pair", "plan", "apply"), or NULL when none runs. */
const char *enforce_reconcile_stage(const struct enforce *e);

/* Deletes the table and everything in it (no error if it is absent), and forgets every wanted
 * ban. Returns 0 or -1. */
int enforce_remove_table(struct enforce *e);

void enforce_get_stats(const struct enforce *e, struct enforce_stats *out);
/* Fills *out (see struct enforce_kernel for what is live and what comes from the mirror;
 * dry-run: from its simulated sets). Returns 0 or -1. */
int enforce_get_kernel(struct enforce *e, struct enforce_kernel *out);
/* The guard in use (owned by e), e.g. for the agent to check a ban before deciding it. */
const struct enforce_guard *enforce_guard(const struct enforce *e);
/* The replicated allows of e's guard (enforce_guard_set_shared). The caller takes the covered bans
 * out of the kernel (enforce_unban) itself: it knows which it asked for. */
void enforce_set_shared_allows(struct enforce *e, const struct enforce_prefix *v, size_t n);

#endif
