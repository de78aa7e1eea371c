/* scenario.h: the scenario engine: turns detected events into cluster-wide counter increments and,
 * when a merged (cluster-wide) count crosses a scenario's threshold, into signed ban records.
 *
 * Keys it writes in the replicated state (formats owned by common/key.h):
 *   counters  "SCENARIO|SUBJECT"          e.g. "auth-ip|ip:203.0.113.7"
 *   sketches  "SCENARIO|SUBJECT"          for distinct_users / distinct_ips scenarios
 *             "okusers|ip:X", "failusers|ip:X"  (shared-address evidence)
 *             "banned|net:P"              addresses banned inside a prefix (prefix escalation)
 *   records   block "ip:X" / "net:P", throttle "throttle:ip:X", hold "user:U", and
 *             offense memory "offense:SUBJECT" (kind offense: for escalation, never enforced) */
#ifndef SG_AGENT_SCENARIO_H
#define SG_AGENT_SCENARIO_H

#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>

#include "agent/config.h"
#include "detect/event.h"
#include "enforce/enforce.h"
#include "gossip/state.h"

/* One decision, as logged and as printed by `sgcluster replay`. */
struct decision {
    int64_t time_ms;
    const char *scenario;
    const char *action;       /* "ban", "throttle", "hold" */
    char key[GOSSIP_KEY_MAX + 1];
    int64_t duration_s;
    uint32_t level;
    char reason[GOSSIP_REASON_MAX + 1];
};
typedef void (scenario_decision_fn)(const struct decision *d, void *arg);

struct scenario_engine;

/* cfg, st and guard are borrowed and must outlive the engine. guard may be NULL (no never-ban
 * check at decision time; enforcement still checks). on_decision (may be NULL) is told of each
 * decision after its record was written into st. */
struct scenario_engine *scenario_engine_new(const struct config *cfg, struct gossip_state *st,
                                            const struct enforce_guard *guard,
                                            scenario_decision_fn *on_decision, void *arg);
void scenario_engine_destroy(struct scenario_engine **pe);
/* Borrowed, may be NULL (the default): when set, an address counts as already blocked (its
 * events are no new evidence) only while the kernel holds its ban, not merely the state. */
void scenario_engine_set_enforce(struct scenario_engine *e, const struct enforce *enf);

/* Counts one event (dups are skipped) at now_ms and evaluates the scenarios it touches. A threshold
 * it crosses with this node's own counts alone is decided here at once: the attacker is hitting this
 * node. One it crosses only with the peers' counts in it goes to the subject's decider (below). */
void scenario_engine_event(struct scenario_engine *e, const struct sg_event *ev, int64_t now_ms);

/* ---- keys touched by peers' merges, and who decides what they cross ----
 *
 * A counter or sketch key written by a peer (the transport reports them) may cross a threshold
 * with remote increments alone. Such keys are queued, each once however often it is touched, and
 * evaluated in slices (scenario_engine_drain), so a sync answer of a million keys is not evaluated
 * in one turn of the loop. When the queue holds SCENARIO_TOUCH_QUEUE_MAX keys, a further key is
 * evaluated at once, as before the queue (counted: touch_full): no crossing is lost, and memory
 * stays bounded.
 *
 * A queued key is judged by its count now and, when it waited past a bucket's edge, by its count in
 * the window that ended when it was first touched: a queue that lags the window loses no crossing.
 *
 * A crossing seen through merges is seen by every node at about the same time: one node decides it,
 * the decider (the decider callback says whether it is this node; scenario_decider picks it by
 * rendezvous hashing). So is a count crossed by a local event that needed peers' counts too (this
 * node's own slots of the key are below the threshold): the peers see it as soon as this event's
 * delta comes. A local event that crosses with this node's counts alone, or a distinct count (its
 * sketch is not split by node), is decided here at once. The others defer it: the key waits in the
 * deferred set for SCENARIO_DEFER_MS with the time it crossed, then is evaluated again, counted in
 * the window that ended then (so a crossing near a bucket's edge is not lost while it waits). If a
 * ban for the subject arrived meanwhile, nothing is left to do. If its decider is gone (this node
 * now decides it among the nodes it hears) or has caught up with the crossing (its heartbeat's
 * `seen` has passed the crossing time by SCENARIO_SEEN_SLACK_MS: it had every count this node had,
 * and any ban it made of them would have come before that heartbeat, so it refused, e.g. by a
 * never-ban rule the others lack), it is decided here (counted: taken_over). If its decider is
 * behind (busy with an attack: its readers or its queue have not reached the crossing yet), it waits
 * SCENARIO_DEFER_MS more (counted: extended), as long as SCENARIO_DEFER_BOUND_MS have not passed
 * since the crossing; then it is decided here whatever (counted: defer_bound).
 * With the set full (SCENARIO_DEFER_MAX), the crossing is decided here at once (counted:
 * defer_full). Without a decider callback this node decides all. */
#define SCENARIO_TOUCH_QUEUE_MAX (256 * 1024)
#define SCENARIO_DEFER_MAX (256 * 1024)
/* Longer than a decision takes to reach every node (tens of ms; seconds on a loaded farm). */
#define SCENARIO_DEFER_MS 15000
/* The longest a deferred crossing waits for a decider that is behind: under a botnet of a million
 * addresses (test 78) a busy decider's queue lags by minutes, and a takeover at a fixed 60 s decided
 * most bans twice; at 180 s a node still took over a third of the bans, reading its peers' frames
 * 4 minutes late. A member that only pretends to be behind delays its share of bans this long. */
#define SCENARIO_DEFER_BOUND_MS 300000
/* How far a decider's `seen` must pass a crossing before its silence means it will not decide it:
 * the nodes' clocks are within it (NTP). */
#define SCENARIO_SEEN_SLACK_MS 1000

/* What the decider callback says of a subject crossed at cross_ms (wall clock). */
enum scenario_decider_is {
    SCENARIO_DECIDES_HERE,   /* this node decides its crossings */
    SCENARIO_DECIDER_BUSY,   /* another node, not yet caught up with cross_ms */
    SCENARIO_DECIDER_QUIET,  /* another node, caught up with cross_ms: what it decided has come */
};
/* subject: "ip:X", "net:P/len" or "user:U". */
typedef enum scenario_decider_is (scenario_decider_fn)(const char *subject, int64_t cross_ms, void *arg);
/* Another node that decides a crossing made at cross_ms and says it has caught up with seen_ms: busy
 * until seen_ms passes cross_ms by SCENARIO_SEEN_SLACK_MS, then quiet. */
enum scenario_decider_is scenario_decider_caught_up(int64_t seen_ms, int64_t cross_ms);
/* fn may be NULL (the default): every crossing is decided here. */
void scenario_engine_set_decider(struct scenario_engine *e, scenario_decider_fn *fn, void *arg);
/* Of origins[0..n) (n >= 1), the one that decides subject: the highest hash of (subject, origin). Every
 * node that sees the same origins picks the same one; when one of them goes, only its subjects move. */
uint64_t scenario_decider(const char *subject, const uint64_t *origins, size_t n);

/* Queues key for evaluation (unknown keys are ignored when evaluated). */
void scenario_engine_touch(struct scenario_engine *e, const char *key, int64_t now_ms);
/* Touches the counter and sketch keys of a merged body whose merge changed the state (changed: the
 * marks of gossip_state_merge_marked; NULL touches them all). A key the merge left as it was has
 * the counts it had at its last evaluation: a sync answer during an attack is mostly what the
 * deltas brought already, and evaluating it again would cost as much as the first time. (What
 * moves a crossing without a count, a reload's lower threshold or evidence that lowers it, is
 * seen at the key's next event or merge, as it was before syncs re-touched every key.) */
void scenario_engine_touch_merged(struct scenario_engine *e, const struct gossip_body *b, const uint8_t *changed,
                                  int64_t now_ms);
/* One slice: evaluates the deferred keys whose deadline passed, then queued keys in order, until
 * budget_us of wall time has passed (one key at least). Returns true while keys remain queued. */
bool scenario_engine_drain(struct scenario_engine *e, int64_t now_ms, int64_t budget_us);
/* Keys queued for evaluation. */
size_t scenario_engine_queued(const struct scenario_engine *e);
/* When the oldest key queued for evaluation was first touched (wall ms), -1 when none is queued:
 * every merge before it has been evaluated. */
int64_t scenario_engine_oldest_queued(const struct scenario_engine *e);
/* The earliest deadline of a deferred key (wall ms), -1 when none is deferred. */
int64_t scenario_engine_next_deadline(const struct scenario_engine *e);
/* Moves the queue, the deferred set and the counters of from (an engine being replaced on a reload)
 * into e, and destroys from. */
void scenario_engine_adopt(struct scenario_engine *e, struct scenario_engine **from);

/* The event kinds a scenario counts, as a mask of 1 << kind. */
unsigned scenario_kinds(const struct config_scenario *sc);
/* True when the scenario counts events of service (no services listed: any). */
bool scenario_services_match(const struct config_scenario *sc, const char *service);

/* Largest window any scenario or evidence uses (ms); the state keeps buckets that long. */
int64_t scenario_engine_max_window_ms(const struct config *cfg);
/* How long the state keeps the sending limits' counters: their longest horizon (0 with none). */
int64_t scenario_throttle_window_ms(const struct config *cfg);
/* The one builder of the state's configuration from the agent's (buckets, windows, skew, limits,
 * known-good retention). */
void scenario_state_config(const struct config *cfg, struct gossip_state_config *sc);

/* Id of the decisions banning addresses that fail for an account under attack (evidence.h). */
#define SCENARIO_ACCOUNT_ATTACK "account-attack"

struct scenario_stats {
    uint64_t events, counted, decisions, refused_guard, refused_allowlisted_user;
    uint64_t refused_evidence;   /* prefix bans refused: customer network or good users (evidence.h) */
    uint64_t stale_failures;     /* failures from an address known-good for the user */
    uint64_t attack_bans;        /* addresses failing for an account under attack */
    /* keys touched by peers' merges (see above) */
    uint64_t touches;            /* keys reported by merges */
    uint64_t touch_dups;         /* ... already queued: evaluated once for all */
    uint64_t touch_full;         /* ... evaluated at once: the queue was full */
    uint64_t evaluated;          /* queued keys evaluated */
    uint64_t slices;             /* drain calls */
    uint64_t deferred;           /* crossings left to another node, the decider */
    uint64_t extended;           /* ... waits at a deadline, their decider behind them (one may wait often) */
    uint64_t taken_over;         /* ... decided here at their deadline: no ban had come */
    uint64_t defer_bound;        /* ... of which the decider was still behind: the bound had passed */
    uint64_t defer_full;         /* crossings decided here at once: the deferred set was full */
    size_t queued, deferred_now; /* keys in the queue and in the deferred set now */
};
void scenario_engine_stats(const struct scenario_engine *e, struct scenario_stats *out);

/* A scenario's cluster-wide value for subj at now and the threshold it is held against: times
 * shared_address_factor for an address with good users (then *shared is set). The engine decides
 * and `sgcluster explain` reports with this one computation. */
void scenario_measure(const struct config *cfg, const struct gossip_state *st, const struct config_scenario *sc,
                      const struct sg_subject *subj, int64_t now_ms, uint64_t *value, int64_t *threshold, bool *shared);

/* Subject text for an event: "ip:X", "net:P/len" or "user:U"; returns -1 when the event lacks it. */
int scenario_subject(const struct config *cfg, enum scenario_subject s, const struct sg_event *ev,
                     char *buf, size_t size);

#endif
