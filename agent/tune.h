/* tune.h: the shape of a site's mail flow, read from detected events, and a threshold proposed for
 * every scenario (`sgcluster tune`). Pure analysis: events in, populations and proposals out.
 *
 * Measures (each a population of per-subject values, split legitimate / attackers where the log
 * says which is which):
 *   per user: messages and recipients per hour and per day (peak over the period's clock hours and
 *   days, users who sent), distinct client addresses per day (peak; from logins and submissions);
 *   per address: failed logins over the period, split into addresses that also succeed (a login or
 *   an authenticated submission) and those that never do;
 *   per scenario: each subject's peak of the scenario's measure over its window (windows aligned
 *   every half window, so the peak is within a factor 2 below the engine's sliding window), split
 *   like the addresses when the scenario counts abuse (auth_fail, relay_denied, rejected) by
 *   address or prefix, all legitimate otherwise;
 *   per sending limit (enforce/throttle.h): each subject's peak of the limit's measure over its window
 *   (a bucket: over its refill period), from authenticated submissions (the `sent` events: messages
 *   and recipients, by sasl_username or client address). Logs name no envelope sender and no size:
 *   sender, sender_domain and bytes limits, and port-25 limits, get no data and keep their values. */
#ifndef SG_AGENT_TUNE_H
#define SG_AGENT_TUNE_H

#include <stdint.h>

#include "agent/config.h"
#include "agent/tune_stats.h"
#include "detect/event.h"
#include "enforce/throttle.h"

enum tune_flow {
    TUNE_USER_MSG_HOUR, TUNE_USER_RCPT_HOUR, TUNE_USER_MSG_DAY, TUNE_USER_RCPT_DAY, TUNE_USER_ADDRS_DAY,
    TUNE_ADDR_FAILS,
    TUNE_FLOW__COUNT
};

/* Distinct items one subject's window holds at most; a fuller window reads as this many. */
#define TUNE_DISTINCT_CAP 4096

struct tune_measure {
    const char *name;          /* "user_messages_per_hour", ..., or the scenario id */
    const char *what;          /* one line for people */
    const char *legit_label;   /* "users", "addresses that also succeed", ... */
    const char *attack_label;  /* NULL when the measure is not split */
    const struct config_scenario *sc;   /* the scenario (borrowed from cfg), NULL otherwise */
    const struct throttle_limit *limit; /* the sending limit (borrowed), NULL otherwise */
    int64_t current;           /* the value that triggers now: the scenario's threshold, or the
                                * limit's lowest refusing tier (defer, hold or reject) */
    struct throttle_limit proposed_limit;   /* limits: the limit with the proposal applied */
    struct tune_dist legit, attack;
    bool proposed;             /* prop is set (scenarios and limits, after tune_finish) */
    struct tune_proposal prop;
};

struct tune;

/* cfg is borrowed (its scenarios and prefix lengths), and so is thr (the sending limits; may be
 * NULL); both must outlive the analysis. Owned by the caller. */
struct tune *tune_new(const struct config *cfg, const struct throttle_config *thr);
void tune_destroy(struct tune **p);
/* Counts one event at now_ms (the caller's clock: the event's time, never going back). Dups are skipped. */
void tune_event(struct tune *t, const struct sg_event *ev, int64_t now_ms);
/* Builds the populations and proposes every scenario's threshold by rule. Call once, after the last event. */
void tune_finish(struct tune *t, const struct tune_rule *rule);

/* The measures: TUNE_FLOW__COUNT flow measures first (enum tune_flow order), then one per scenario in
 * configuration order, then one per sending limit. Valid after tune_finish; borrowed from t. */
size_t tune_count(const struct tune *t);
const struct tune_measure *tune_get(const struct tune *t, size_t i);
/* First and last event time (ms), and events counted. */
/* The limit's refusing tier used for proposals: the lowest of defer, hold and reject that is set
 * (warn when it has none), and the value at which it fires for a capacity: floor(pct * cap / 100) + 1. */
enum throttle_tier tune_limit_tier(const struct throttle_limit *l);
int64_t tune_limit_trigger(const struct throttle_limit *l, uint64_t capacity);
/* The limit with its refusing tier firing at threshold: a window's max, a bucket's rate (and its
 * burst in the same proportion, at least the rate). Pure. */
void tune_limit_propose(const struct throttle_limit *l, int64_t threshold, struct throttle_limit *out);
/* The input of an event to the sending limits, as the policy service sees the submission: user,
 * client, service submission, 1 message and nrcpt recipients (no sender, no size). False for an
 * event that is not an authenticated submission. Strings borrowed from ev. */
bool tune_limit_input(const struct sg_event *ev, struct throttle_input *out);
void tune_period(const struct tune *t, int64_t *first_ms, int64_t *last_ms, uint64_t *events);

#endif
