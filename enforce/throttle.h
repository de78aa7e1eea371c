/* throttle.h: the policy service's sending limits: the [throttle] limit syntax, the override map,
 * and their pure, deterministic evaluation from consumption counted per time slot.
 *
 * A limit is a fixed window ("at most max per window") or a token bucket ("rate per period,
 * burst at most"), over one key (sasl_username, sender, sender_domain, client_address with an
 * optional prefix), one measure (messages, recipients, bytes at END-OF-MESSAGE) and one service
 * (submission, smtp = port 25, any). Tiers (warn, defer, hold, reject) fire at a percentage of
 * the limit's capacity (max, or burst).
 *
 * Consumption is stored as grow-only counters per (measure, service, subject) and time slot,
 * replicated by gossip; every node evaluates the same function of the same slot sums, so every
 * node agrees with no coordination once the slots have converged:
 *   window: used = sum of the slots inside the window (the gossip window rule: ceil(W/slot) slots
 *           ending with the slot that holds now);
 *   bucket: level starts full (= burst) at now - horizon, or at the end of the newest reset slot,
 *           and for every slot in order: level = min(burst, level + rate * slot) - consumed;
 *           used = burst - level, at most the top tier's share of burst (bounded debt).
 * Two counters per (measure, service, subject): what was let through (DUNNO, warn) and what was
 * refused (defer, hold, reject). A request of amount a (at least 1) is at tier T when
 * (x + a) * 100 > pct[T] * capacity, with x = used (let through) for warn and defer and x = tried
 * (let through + refused) for hold and reject; the highest such tier wins. So a deferred retry
 * never keeps a sender deferred longer (the defer tier sees only what went through), while a
 * sender who keeps pushing past the limit climbs to hold and reject.
 * The agent checks and counts once per message, at END-OF-MESSAGE, where recipients and size are
 * known: one decision and one notification per message, not one per recipient.
 * Nothing here reads a clock or the network: the agent (agent_policy.c) and `sgcluster tune`
 * (what-if) feed it through struct throttle_store. */
#ifndef SG_ENFORCE_THROTTLE_H
#define SG_ENFORCE_THROTTLE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define THROTTLE_NAME_MAX 47          /* bytes of a limit name: [A-Za-z0-9_.-] */
#define THROTTLE_LIMITS_MAX 256       /* limits in one configuration */
#define THROTTLE_TEXT_MAX 200         /* bytes of a reply-text template */
#define THROTTLE_SPEC_MAX 512         /* bytes of one formatted limit spec */
#define THROTTLE_SLOTS_MAX 65536      /* slots one evaluation reads at most (horizon / slot) */
#define THROTTLE_HITS_MAX 8           /* tier hits reported per request */

enum throttle_key { THROTTLE_KEY_USER = 0, THROTTLE_KEY_SENDER, THROTTLE_KEY_DOMAIN, THROTTLE_KEY_CLIENT,
                    THROTTLE_KEY_COUNT };
enum throttle_measure { THROTTLE_MESSAGES = 0, THROTTLE_RECIPIENTS, THROTTLE_BYTES, THROTTLE_MEASURE_COUNT };
/* Where the request came from: submission (sasl-authenticated, or a submission service /
 * policy_context) or smtp (port 25, everything else). A limit of service any sees both. */
enum throttle_service { THROTTLE_SVC_ANY = 0, THROTTLE_SVC_SUBMISSION, THROTTLE_SVC_SMTP, THROTTLE_SVC_COUNT };
enum throttle_tier { THROTTLE_NONE = 0, THROTTLE_WARN, THROTTLE_DEFER, THROTTLE_HOLD, THROTTLE_REJECT,
                     THROTTLE_TIER_COUNT };

struct throttle_limit {
    char name[THROTTLE_NAME_MAX + 1];
    enum throttle_key key;
    uint8_t prefix4, prefix6;         /* client keys: 32 and 128 = one address (prefix=24/64) */
    enum throttle_measure measure;
    enum throttle_service service;
    bool bucket;                      /* token bucket (rate, burst) rather than a window */
    int64_t window_ms;                /* window: its length */
    uint64_t max;                     /* window: most units per window; bucket: the burst */
    uint64_t rate;                    /* bucket: units refilled ... */
    int64_t per_ms;                   /* ... every per_ms */
    unsigned pct[THROTTLE_TIER_COUNT]; /* tier threshold in % of max (0 = tier unused; [NONE] = 0) */
    char text[THROTTLE_TEXT_MAX + 1]; /* reply template ("" = the default); %{count} (let through;
                                         tried for hold and reject) %{max} %{limit} %{measure}
                                         %{window} %{key} are replaced */
};

/* Parses one limit spec "key=... measure=... (window=D max=N | rate=N/D burst=N) [service=...]
 * [prefix=N/M] [warn=P%] [defer=P%] [hold=P%] [reject=P%] [text="..."]" for limit `name`.
 * Defaults: measure messages, service any, prefix 32/128, burst = the rate's count, defer=100%
 * when no tier is given. Returns 0, or -1 with a one-line reason in err[size]. */
int throttle_limit_parse(const char *name, const char *spec, struct throttle_limit *out, char *err, size_t size);
/* Writes the canonical spec of l (throttle_limit_parse reads it back to an equal limit). -1 if it
 * does not fit. */
int throttle_limit_format(const struct throttle_limit *l, char *buf, size_t size);
/* How far back consumption can matter to l: the window, or the time a bucket takes to refill from
 * its deepest debt (top tier) to full, rounded up to whole seconds. */
int64_t throttle_limit_horizon_ms(const struct throttle_limit *l);
/* Capacity the tiers are percentages of: max (window) or burst (bucket). */
uint64_t throttle_limit_capacity(const struct throttle_limit *l);
const char *throttle_tier_name(enum throttle_tier t);
const char *throttle_measure_name(enum throttle_measure m);
const char *throttle_service_name(enum throttle_service s);
const char *throttle_key_name(enum throttle_key k);

/* ---- slot maths (pure) --------------------------------------------------------------------- */

/* Consumption of one subject in one slot. */
struct throttle_cell {
    int64_t start;                    /* the slot's start, a multiple of slot_ms */
    uint64_t n;
};
/* The non-empty slots of one subject, sorted by start. */
struct throttle_slots {
    int64_t slot_ms;
    size_t n;
    const struct throttle_cell *c;
    const uint64_t *cum;              /* optional (NULL): cum[i] = c[0].n + ... + c[i].n (saturating),
                                         which sums a window in O(log n) */
};
/* The deepest a bucket's debt goes (used at most): the top tier's share of the burst, at least
 * the burst. For a window, used is not bounded. */
uint64_t throttle_limit_debt_max(const struct throttle_limit *l);
/* Units l counts as used at now_ms from s (see the top of this file). Slots ending at or before
 * reset_ms (0: none) are ignored, and a bucket starts full there. */
uint64_t throttle_used(const struct throttle_limit *l, const struct throttle_slots *s, int64_t reset_ms,
                       int64_t now_ms);
/* The tier of a request adding amount (0 is taken as 1): warn and defer compare used (what was
 * let through), hold and reject compare tried (what was let through and what was refused). */
enum throttle_tier throttle_tier_of(const struct throttle_limit *l, uint64_t used, uint64_t tried, uint64_t amount);

/* ---- overrides and allowlists (enforce/throttle_map.c) --------------------------------------- */

/* One override: the limit's capacity set to value (a bucket's rate scales with its burst), scaled
 * by mul/100 ("x4" = 400), or turned off. */
struct throttle_override {
    char limit[THROTTLE_NAME_MAX + 1];
    bool off;
    uint64_t value;                   /* 0: use mul */
    uint64_t mul;                     /* percent */
};
typedef struct throttle_map throttle_map_t;

/* Reads a map file: one entry per line, "SUBJECT SETTING..." or "class:NAME SETTING...", with
 * SUBJECT a key subject (user:U, from:S, dom:D, ip:A, net:P) and SETTING one of
 * "allow", "class=NAME", "LIMIT=N", "LIMIT=xF" (F a factor, e.g. x2 or x0.5) or "LIMIT=off";
 * '#' starts a comment. Returns NULL with "path:line: reason" in err on any error (the caller
 * keeps its previous map). */
throttle_map_t *throttle_map_load(const char *path, char *err, size_t size);
/* An empty map (no file); never NULL. */
throttle_map_t *throttle_map_new(void);
void throttle_map_destroy(throttle_map_t **mp);
/* Adds an allowlist entry (a subject text as above). -1 when it is not a subject. */
int throttle_map_allow(throttle_map_t *m, const char *subject);
/* True when subject (a formatted subject text) is allowlisted, by itself or by its class. */
bool throttle_map_allowed(const throttle_map_t *m, const char *subject);
/* The override of limit for subject (its own, else its class's), or NULL. Borrowed from m. */
const struct throttle_override *throttle_map_find(const throttle_map_t *m, const char *subject, const char *limit);
/* Entries (subjects and classes) in m, for logs. */
size_t throttle_map_size(const throttle_map_t *m);
/* Writes into *out the limit l as changed by o (o may be NULL: a copy). Returns false when o
 * turns the limit off. */
bool throttle_limit_apply(const struct throttle_limit *l, const struct throttle_override *o,
                          struct throttle_limit *out);

/* ---- a whole request against every limit (enforce/throttle_eval.c) ---------------------------- */

/* Where consumption lives: the agent's gossip state, or throttle_sim for what-if runs. */
struct throttle_store {
    int64_t slot_ms;
    /* The non-empty slots of counter key starting in [lo_ms, hi_ms], summed over writers, sorted
     * by start, into out[0 .. max); returns how many. */
    size_t (*slots)(void *arg, const char *key, int64_t lo_ms, int64_t hi_ms, struct throttle_cell *out, size_t max);
    /* Adds n to key's slot of now. */
    void (*add)(void *arg, const char *key, uint64_t n, int64_t now_ms);
    void *arg;
};

struct throttle_config {
    struct throttle_limit limits[THROTTLE_LIMITS_MAX];
    size_t nlimits;
    int64_t horizon_ms;               /* the largest limit horizon (kept by throttle_config_add) */
    int64_t bucket_horizon_ms;        /* the largest horizon among its buckets (likewise) */
    throttle_map_t *map;              /* owned; never NULL after throttle_config_init */
};
void throttle_config_init(struct throttle_config *c);
void throttle_config_release(struct throttle_config *c);
/* Adds a parsed limit; -1 (reason in err) when the name repeats or there are too many. */
int throttle_config_add(struct throttle_config *c, const struct throttle_limit *l, char *err, size_t size);
/* The largest horizon of c's limits (what the gossip state must keep), 0 with no limit. */
int64_t throttle_config_horizon_ms(const struct throttle_config *c);

/* What a request says about its sender. Views, "" or NULL when absent. */
struct throttle_input {
    const char *user;                 /* sasl_username */
    const char *sender;
    const char *client;               /* client_address */
    enum throttle_service service;    /* SUBMISSION or SMTP */
    uint64_t amount[THROTTLE_MEASURE_COUNT]; /* what this request adds (all 0 before END-OF-MESSAGE) */
};

struct throttle_hit {
    size_t limit;                     /* index in the configuration */
    struct throttle_limit eff;        /* the limit after overrides */
    enum throttle_tier tier;
    uint64_t used, tried, capacity;   /* before this request */
    uint64_t amount;                  /* what this request adds (at least 1) */
    char subject[256];                /* e.g. "user:alice" */
};
struct throttle_decision {
    enum throttle_tier tier;          /* the highest over every limit */
    size_t worst;                     /* index into hits of the deciding hit (tier > NONE) */
    size_t nhits;
    struct throttle_hit hits[THROTTLE_HITS_MAX];   /* every limit at WARN or above, worst kept */
};

/* Normalises a subject for key kind k of l from in (sender and domain lower-cased, client cut to
 * its prefix) and writes its text into buf. -1 when the request has no such subject. */
int throttle_subject(const struct throttle_limit *l, const struct throttle_input *in, char *buf, size_t size);
/* Evaluates every limit of c that applies to in at now_ms. Fills *out. Returns the tier. */
enum throttle_tier throttle_check(const struct throttle_config *c, const struct throttle_input *in, int64_t now_ms,
                                  const struct throttle_store *st, struct throttle_decision *out);
/* Records in's amounts (once per message: the END-OF-MESSAGE request) as let through when tier
 * (the answer given) is NONE or WARN, else as refused. */
void throttle_commit(const struct throttle_config *c, const struct throttle_input *in, enum throttle_tier tier,
                     int64_t now_ms, const struct throttle_store *st);
/* Resets subject (a subject text) from now on: every limit's consumption before now is ignored. */
int throttle_reset(const char *subject, int64_t now_ms, const struct throttle_store *st);
/* Usage of subject against limit i at now (for `sgcluster quota`), out-parameters: *used, *tried,
 * *capacity and the tier the next unit would reach. -1 when the limit does not take this kind of
 * subject, or is off or allowlisted for it. */
int throttle_usage(const struct throttle_config *c, size_t i, const char *subject, int64_t now_ms,
                   const struct throttle_store *st, uint64_t *used, uint64_t *tried, uint64_t *capacity,
                   enum throttle_tier *next);
/* Writes the action line for a decided hit: "DEFER_IF_PERMIT 4.7.1 TEXT", "HOLD TEXT" or
 * "REJECT 5.7.1 TEXT" (DUNNO for warn or none), the template's placeholders filled and control
 * characters made spaces. Returns 0, or -1 when size < 64. */
int throttle_action(const struct throttle_hit *h, char *out, size_t size);
/* Counter key of (measure, service, subject), e.g. "thr-rcpt-sub|user:alice", or of what was
 * refused ("thr-rcpt-sub-no|user:alice"); subject as throttle_subject or sg_subject_format wrote
 * it. -1 if it does not fit. */
int throttle_counter_key(enum throttle_measure m, enum throttle_service s, bool refused, const char *subject,
                         char *buf, size_t size);

/* ---- what-if (enforce/throttle_sim.c) ------------------------------------------------------ */

/* An in-memory store: exact slot sums, no replication. For `sgcluster tune` and tests. */
typedef struct throttle_sim throttle_sim_t;
throttle_sim_t *throttle_sim_new(int64_t slot_ms);
void throttle_sim_destroy(throttle_sim_t **sp);
/* A store reading and writing sim. */
struct throttle_store throttle_sim_store(throttle_sim_t *sim);
/* Replays one request at t_ms as the agent answers it: check, then commit with the tier when
 * counts (the END-OF-MESSAGE request of a message). Feed requests in time order. Returns the tier; *out (may
 * be NULL) gets the decision. */
enum throttle_tier throttle_sim_feed(throttle_sim_t *sim, const struct throttle_config *c, int64_t t_ms,
                                     const struct throttle_input *in, bool counts, struct throttle_decision *out);

#endif
