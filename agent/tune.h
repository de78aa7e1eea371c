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
 *   per user, envelope sender and sender domain on submission: bytes (users, senders) and messages
 *   (senders, domains) per clock hour and UTC day (peaks);
 *   per client address and per prefix on port 25: messages per clock hour and UTC day (peaks);
 *   per sending limit (enforce/throttle.h): each subject's peak of the limit's measure over its window
 *   (a bucket: over its refill period), from every message qmgr took (the `sent` and `received`
 *   events: user, envelope sender, client, service, recipients and size), for every kind of key,
 *   measure and service, as the policy service would have counted it (tune_limit_input). */
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
    TUNE_USER_BYTES_HOUR, TUNE_USER_BYTES_DAY,
    TUNE_SENDER_MSG_HOUR, TUNE_SENDER_MSG_DAY, TUNE_SENDER_BYTES_HOUR, TUNE_SENDER_BYTES_DAY,
    TUNE_DOMAIN_MSG_HOUR, TUNE_DOMAIN_MSG_DAY,
    TUNE_PORT25_ADDR_HOUR, TUNE_PORT25_ADDR_DAY, TUNE_PORT25_NET_HOUR, TUNE_PORT25_NET_DAY,
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
/* The input of an event to the sending limits, as the policy service sees the message at
 * END-OF-MESSAGE: user ("" on port 25), envelope sender, client, the service (submission when
 * smtpd's tag says so, e.g. postfix/submission/smtpd, else smtp: port 25, as the policy service
 * decides from the port), 1 message, nrcpt recipients and size bytes (at least 1 each, as the
 * agent counts them). False for an event that is not a message (`sent` or `received`) or a dup.
 * Strings borrowed from ev. */
bool tune_limit_input(const struct sg_event *ev, struct throttle_input *out);
void tune_period(const struct tune *t, int64_t *first_ms, int64_t *last_ms, uint64_t *events);

#endif
