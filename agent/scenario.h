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

/* Counts one event (dups are skipped) at now_ms and evaluates the scenarios it touches. */
void scenario_engine_event(struct scenario_engine *e, const struct sg_event *ev, int64_t now_ms);
/* Re-evaluates a counter or sketch key written by a peer (the transport reports them), so a
 * threshold crossed by remote increments alone is acted on too. Unknown keys are ignored. */
void scenario_engine_touch(struct scenario_engine *e, const char *key, int64_t now_ms);

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
