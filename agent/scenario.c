/* scenario.c: counts events into the replicated state and decides bans, throttles and holds when a
 * cluster-wide count crosses a scenario's threshold (with shared-address weakening, repeat-offender
 * escalation and prefix escalation). */
#include "agent/scenario.h"
#include "agent/evidence.h"
#include "agent/keyq.h"
#include "agent/config_limits.h"
#include "agent/util.h"
#include "common/key.h"

#include <arpa/inet.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>

/* Evidence key "SCOPE|SUBJECT" into buf (GOSSIP_KEY_MAX + 1 bytes); -1 when it would not fit. */
static int evkey(char *buf, const char *scope, const struct sg_subject *s)
{
    return sg_evidence_format(scope, s, buf, GOSSIP_KEY_MAX + 1);
}

struct compiled {
    const struct config_scenario *sc;
    unsigned kinds;
};

struct scenario_engine {
    const struct config *cfg;
    struct gossip_state *st;
    const struct enforce_guard *guard;
    const struct enforce *enf;   /* NULL: the state alone says what is blocked */
    scenario_decision_fn *on_decision;
    void *arg;
    struct compiled *sc;
    size_t n;
    int64_t max_window_ms;
    struct scenario_stats stats;
    uint64_t refused_seen[64];   /* hashes of keys whose refusal was logged lately */
    struct keyq touched;         /* keys touched by merges, to evaluate (times: when first touched) */
    struct keyq deferred;        /* crossings left to their decider (times: when deferred, when crossed) */
    scenario_decider_fn *decider;
    void *decider_arg;
};

/* How a crossing came: a local event that crossed with this node's counts alone (decide now), a local
 * event that needed the peers' counts too or a merge (its decider decides), the deadline of a
 * deferred one (decide now unless its ban came or its decider is behind it, within the bound),
 * or the deadline of one that no longer crosses now, only in the window that ended when it crossed
 * (decide now unless its ban came: the decider, measuring later, may never have seen it cross). */
enum how { HOW_EVENT, HOW_SHARED, HOW_MERGE, HOW_DEADLINE, HOW_DEADLINE_PAST };

int64_t scenario_engine_max_window_ms(const struct config *cfg)
{
    int64_t w = 3600;
    if (cfg->evidence_window_s > w) w = cfg->evidence_window_s;
    if (cfg->attack_window_s > w) w = cfg->attack_window_s;
    for (size_t i = 0; i < cfg->nscenarios; i++)
        if (cfg->scenarios[i].window_s > w) w = cfg->scenarios[i].window_s;
    return w * 1000;
}

int64_t scenario_throttle_window_ms(const struct config *cfg)
{
    /* the policy service's limits read their counters as far back as their horizon */
    return cfg->throttle ? throttle_config_horizon_ms(cfg->throttle) : 0;
}

void scenario_state_config(const struct config *cfg, struct gossip_state_config *sc)
{
    gossip_state_config_default(sc);
    sc->bucket_ms = cfg->bucket_s * 1000;
    sc->window_max_ms = scenario_engine_max_window_ms(cfg);
    sc->throttle_window_ms = scenario_throttle_window_ms(cfg);
    sc->max_skew_ms = cfg->max_skew_ms;
    sc->long_window_ms = cfg->known_good_s * 1000;
    /* Day buckets, or one bucket as long as a shorter known_good_for (never below the state's own). */
    if (sc->long_bucket_ms > sc->long_window_ms) sc->long_bucket_ms = sc->long_window_ms;
    if (sc->long_bucket_ms < sc->bucket_ms) sc->long_window_ms = 0;
    config_record_limits(cfg, &sc->limits);
    if (cfg->max_keys) sc->max_keys = cfg->max_keys;   /* 0 (a config not from config_load): the state's */
}

struct scenario_engine *scenario_engine_new(const struct config *cfg, struct gossip_state *st,
                                            const struct enforce_guard *guard,
                                            scenario_decision_fn *on_decision, void *arg)
{
    struct scenario_engine *e = sg_xcalloc(1, sizeof *e);
    e->cfg = cfg;
    e->st = st;
    e->guard = guard;
    e->on_decision = on_decision;
    e->arg = arg;
    e->sc = sg_xcalloc(cfg->nscenarios ? cfg->nscenarios : 1, sizeof *e->sc);
    for (size_t i = 0; i < cfg->nscenarios; i++) {
        struct compiled *c = &e->sc[e->n++];
        c->sc = &cfg->scenarios[i];
        c->kinds = scenario_kinds(c->sc);
    }
    e->max_window_ms = scenario_engine_max_window_ms(cfg);
    keyq_init(&e->touched, SCENARIO_TOUCH_QUEUE_MAX);
    keyq_init(&e->deferred, SCENARIO_DEFER_MAX);
    return e;
}

void scenario_engine_destroy(struct scenario_engine **pe)
{
    struct scenario_engine *e = *pe;
    if (!e) return;
    keyq_fini(&e->touched);
    keyq_fini(&e->deferred);
    free(e->sc);
    free(e);
    *pe = NULL;
}

void scenario_engine_stats(const struct scenario_engine *e, struct scenario_stats *out)
{
    *out = e->stats;
    out->queued = e->touched.n;
    out->deferred_now = e->deferred.n;
}

/* The typed subject of an event; -1 when the event lacks it (or it is not clean text). */
static int event_subject(const struct config *cfg, enum scenario_subject s, const struct sg_event *ev,
                         struct sg_subject *out)
{
    if (s == SUBJ_USER) return ev->user[0] ? sg_subject_set(out, SG_SUBJ_USER, ev->user) : -1;
    if (!ev->family) return -1;
    if (s == SUBJ_IP) return sg_subject_set(out, SG_SUBJ_IP, ev->ip);
    struct sg_subject ip;
    return sg_subject_set(&ip, SG_SUBJ_IP, ev->ip) < 0 ? -1 : evidence_prefix_of(cfg, &ip, out);
}

int scenario_subject(const struct config *cfg, enum scenario_subject s, const struct sg_event *ev,
                     char *buf, size_t size)
{
    struct sg_subject subj;
    return event_subject(cfg, s, ev, &subj) < 0 ? -1 : sg_subject_format(&subj, buf, size);
}

unsigned scenario_kinds(const struct config_scenario *sc)
{
    unsigned kinds = 0;
    for (size_t k = 0; k < sc->events.n; k++) {
        enum sg_event_kind kind;
        if (detect_kind_parse(sc->events.v[k], &kind) == 0) kinds |= 1u << kind;
    }
    return kinds;
}

bool scenario_services_match(const struct config_scenario *sc, const char *service)
{
    if (!sc->services.n) return true;
    for (size_t i = 0; i < sc->services.n; i++)
        if (!strcmp(sc->services.v[i], service)) return true;
    return false;
}

static bool user_allowlisted(const struct config *cfg, const char *user)
{
    for (size_t i = 0; i < cfg->user_allowlist.n; i++)
        if (!strcmp(cfg->user_allowlist.v[i], user)) return true;
    return false;
}

/* The never-ban guard, applied at decision time too (and again where bans are enforced). */
static const char *guard_refuses(const struct scenario_engine *e, const struct sg_subject *subj, char *why,
                                 size_t size)
{
    if (!e->guard || subj->type == SG_SUBJ_USER) return NULL;
    struct enforce_prefix p;
    if (enforce_prefix_parse(subj->value, &p) < 0) return "unparsable address";
    return enforce_guard_check(e->guard, &p, why, size);
}

static void decide(struct scenario_engine *e, const char *scen_id, enum scenario_action act,
                   const struct sg_subject *subj, int64_t duration_s, int64_t max_duration_s, const char *why,
                   int64_t now_ms, int64_t cross_ms, enum how how, const char *evk);

/* Evidence keeps coming while a subject is protected: log a key's refusal once, not per event. */
static void log_refusal(struct scenario_engine *e, enum scenario_action act, const char *bankey, const char *subject,
                        const char *scen_id, const char *rule, const char *why)
{
    uint64_t h = gossip_sketch_hash(bankey, strlen(bankey));
    uint64_t *slot = &e->refused_seen[h % (sizeof e->refused_seen / sizeof e->refused_seen[0])];
    if (*slot == h) return;
    *slot = h;
    sg_log(SG_LOG_NOTICE, "refused %s %s (%s): %s: %s", scenario_action_name(act), subject, scen_id, rule, why);
}

/* After an address ban: count banned addresses per prefix; enough of them ban the prefix. */
static void prefix_escalate(struct scenario_engine *e, const struct sg_subject *subj, int64_t duration_s,
                            int64_t now_ms)
{
    const struct config *cfg = e->cfg;
    if (cfg->prefix_ban_after <= 0 || subj->type != SG_SUBJ_IP) return;
    char key[GOSSIP_KEY_MAX + 1], subject[GOSSIP_KEY_MAX + 1];
    struct sg_subject net;
    if (evidence_prefix_of(cfg, subj, &net) < 0 || evkey(key, SG_SCOPE_BANNED, &net) < 0 ||
        sg_subject_format(subj, subject, sizeof subject) < 0)
        return;
    gossip_state_distinct_add(e->st, key, subject, strlen(subject), now_ms);
    uint64_t n = gossip_state_distinct_count(e->st, key, e->max_window_ms, now_ms);
    if ((int64_t)n < cfg->prefix_ban_after) return;
    char why[GOSSIP_REASON_MAX + 1];
    snprintf(why, sizeof why, "%" PRIu64 " addresses of %.60s banned", n, net.value);
    decide(e, "prefix-escalation", SACT_BAN, &net, duration_s * 2, 30LL * 86400, why, now_ms, now_ms, HOW_EVENT, NULL);
}

/* A crossing (made at cross_ms) of a subject another node decides, seen through a merge, a shared
 * local event or at its deadline: true when evk (the evidence key that crossed) waits in the deferred
 * set now for SCENARIO_DEFER_MS (or waited there already). At a deadline it waits again only while
 * its decider has not caught up with the crossing and SCENARIO_DEFER_BOUND_MS have not passed since. */
static bool defer(struct scenario_engine *e, const char *subject, const char *evk, int64_t now_ms, int64_t cross_ms,
                  enum how how)
{
    if (how == HOW_EVENT || how == HOW_DEADLINE_PAST || !evk || !e->decider) return false;
    enum scenario_decider_is who = e->decider(subject, cross_ms, e->decider_arg);
    if (who == SCENARIO_DECIDES_HERE) return false;
    bool again = how == HOW_DEADLINE;
    if (again && who == SCENARIO_DECIDER_QUIET) return false;
    if (again && now_ms - cross_ms >= SCENARIO_DEFER_BOUND_MS) {
        e->stats.defer_bound++;
        return false;
    }
    switch (keyq_push(&e->deferred, evk, now_ms, cross_ms)) {
    case KEYQ_ADDED:
        if (again) e->stats.extended++;
        else e->stats.deferred++;
        return true;
    case KEYQ_QUEUED: return true;
    case KEYQ_FULL: break;
    }
    e->stats.defer_full++;
    return false;
}

/* how and evk (the evidence key that crossed at cross_ms; NULL for a decision of no key's) say who
 * decides: see scenario.h. */
static void decide(struct scenario_engine *e, const char *scen_id, enum scenario_action act,
                   const struct sg_subject *subj, int64_t duration_s, int64_t max_duration_s, const char *why,
                   int64_t now_ms, int64_t cross_ms, enum how how, const char *evk)
{
    char bankey[GOSSIP_KEY_MAX + 1], subject[GOSSIP_KEY_MAX + 1];
    enum sg_record_kind kind = act == SACT_BAN ? SG_REC_BLOCK : act == SACT_THROTTLE ? SG_REC_THROTTLE : SG_REC_HOLD;
    if (sg_key_format(kind, subj, bankey, sizeof bankey) < 0 || sg_subject_format(subj, subject, sizeof subject) < 0)
        return;
    /* Already acted on, or cancelled by an operator within the unban grace. */
    if (gossip_state_ban_settled(e->st, bankey, now_ms)) return;
    /* Left to its decider already: its deadline decides, not every event or merge until then. */
    if ((how == HOW_SHARED || how == HOW_MERGE) && evk && keyq_has(&e->deferred, evk)) return;
    char gwhy[128];
    const char *refused = guard_refuses(e, subj, gwhy, sizeof gwhy);
    if (refused) {
        e->stats.refused_guard++;
        log_refusal(e, act, bankey, subject, scen_id, "never-ban rule", refused);
        return;
    }
    if (act == SACT_BAN && (refused = evidence_protects_prefix(e->st, e->cfg, subj, now_ms, gwhy, sizeof gwhy))) {
        e->stats.refused_evidence++;
        log_refusal(e, act, bankey, subject, scen_id, "legitimate prefix, only its guilty addresses are banned", refused);
        return;
    }
    if (subj->type == SG_SUBJ_USER && user_allowlisted(e->cfg, subj->value)) {
        e->stats.refused_allowlisted_user++;
        return;
    }
    if (defer(e, subject, evk, now_ms, cross_ms, how)) return;
    char offkey[GOSSIP_KEY_MAX + 1];
    if (sg_key_format(SG_REC_OFFENSE, subj, offkey, sizeof offkey) < 0) return;
    const struct gossip_ban *off = gossip_state_ban_get(e->st, offkey);
    uint32_t level = (off && off->action == GOSSIP_BAN_ACTION_BAN && off->expires_at > now_ms) ? off->level + 1 : 0;
    int64_t dur = duration_s;
    for (uint32_t i = 0; i < level && dur < max_duration_s; i++) dur *= 2;
    if (dur > max_duration_s) dur = max_duration_s;

    struct decision d = {.time_ms = now_ms, .scenario = scen_id, .action = scenario_action_name(act),
                         .duration_s = dur, .level = level};
    snprintf(d.key, sizeof d.key, "%s", bankey);
    snprintf(d.reason, sizeof d.reason, "%s: %s", scen_id, why);
    struct gossip_ban_spec spec = {
        .key = bankey, .action = GOSSIP_BAN_ACTION_BAN, .kind = (uint8_t)kind,
        .expires_at = now_ms + dur * 1000, .level = level, .reason = d.reason, .scenario = scen_id,
    };
    struct gossip_ban rec;
    if (gossip_state_ban_put(e->st, &spec, now_ms, &rec) < 0) return;
    d.duration_s = (rec.expires_at - now_ms) / 1000;   /* what the record says: max_ban may have clamped it */
    struct gossip_ban_spec mem = {
        .key = offkey, .action = GOSSIP_BAN_ACTION_BAN, .kind = GOSSIP_BAN_KIND_OFFENSE,
        .expires_at = now_ms + GOSSIP_OFFENSE_MEMORY_MS, .level = level, .reason = "offense memory",
        .scenario = scen_id,
    };
    gossip_state_ban_put(e->st, &mem, now_ms, NULL);
    e->stats.decisions++;
    if (how == HOW_DEADLINE || how == HOW_DEADLINE_PAST) e->stats.taken_over++;
    if (e->on_decision) e->on_decision(&d, e->arg);
    if (act == SACT_BAN) prefix_escalate(e, subj, duration_s, now_ms);
}

/* True when subj is a shared address for sc in the windows ending at t_ms: failures from an address
 * where other users log in or send fine (evidence_window), aimed at few users, are a shared address
 * (office NAT, CGNAT, webmail) with stale passwords. */
static bool shared_at(const struct config *cfg, const struct gossip_state *st, const struct config_scenario *sc,
                      const struct sg_subject *subj, int64_t t_ms)
{
    char key[GOSSIP_KEY_MAX + 1];
    if (sc->nat_factor <= 1 || subj->type != SG_SUBJ_IP) return false;
    if ((int64_t)evidence_good_users(st, cfg, subj, t_ms) < sc->nat_ok_users) return false;
    uint64_t fu = evkey(key, SG_SCOPE_FAILUSERS, subj) < 0 ? 0
                  : gossip_state_distinct_count(st, key, sc->window_s * 1000, t_ms);
    return (int64_t)fu < sc->nat_spread_users;
}

/* The counts in the window ending at at_ms, held against the threshold raised for a shared address
 * when the address was shared then or shared_later is set (it is now: the customer's side of doubt). */
static void measure(const struct config *cfg, const struct gossip_state *st, const struct config_scenario *sc,
                    const struct sg_subject *subj, int64_t at_ms, bool shared_later, uint64_t *value, int64_t *threshold,
                    bool *shared)
{
    char key[GOSSIP_KEY_MAX + 1];
    int64_t win = sc->window_s * 1000;
    bool distinct = sc->measure == MEAS_DISTINCT_USERS || sc->measure == MEAS_DISTINCT_IPS;
    *value = evkey(key, sc->id, subj) < 0 ? 0
             : distinct ? gossip_state_distinct_count(st, key, win, at_ms)
                        : gossip_state_counter_total(st, key, win, at_ms);
    *shared = shared_later || shared_at(cfg, st, sc, subj, at_ms);
    *threshold = *shared ? sc->threshold * sc->nat_factor : sc->threshold;
}

void scenario_measure(const struct config *cfg, const struct gossip_state *st, const struct config_scenario *sc,
                      const struct sg_subject *subj, int64_t now_ms, uint64_t *value, int64_t *threshold, bool *shared)
{
    measure(cfg, st, sc, subj, now_ms, false, value, threshold, shared);
}

/* Evaluates subj's count in sc now and, when t0_ms (when the key was first touched, or when its
 * deferred crossing was measured) lies in an earlier bucket, in the window that ended then: a key
 * that waited in a queue while its oldest bucket left the window is still judged by the count it
 * had when it came. */
static void evaluate(struct scenario_engine *e, const struct config_scenario *sc, const struct sg_subject *subj,
                     int64_t now_ms, int64_t t0_ms, enum how how, const char *evk)
{
    uint64_t v;
    int64_t thr, at = now_ms, bucket = e->cfg->bucket_s > 0 ? e->cfg->bucket_s * 1000 : 1;
    bool shared;
    measure(e->cfg, e->st, sc, subj, now_ms, false, &v, &thr, &shared);
    if ((int64_t)v < thr && t0_ms < now_ms && t0_ms / bucket != now_ms / bucket) {
        at = t0_ms;
        measure(e->cfg, e->st, sc, subj, at, shared, &v, &thr, &shared);   /* shared now: shared then too */
    }
    if ((int64_t)v < thr) return;
    int64_t cross = how == HOW_DEADLINE ? t0_ms : at;   /* a deferred crossing keeps its time */
    if (how == HOW_DEADLINE && at != now_ms) how = HOW_DEADLINE_PAST;
    /* A count crossed by this node's event with the peers' counts in it: every node holding those
     * counts sees the crossing once this event's delta reaches it, so its decider decides it as if
     * merged (one record instead of one here and one there). Crossed by this node's counts alone
     * (the attacker is hitting this node), or a distinct count (not split by node): decided here. */
    if (how == HOW_EVENT && evk && (sc->measure == MEAS_COUNT || sc->measure == MEAS_RCPT) &&
        (int64_t)gossip_state_counter_own(e->st, evk, sc->window_s * 1000, at) < thr)
        how = HOW_SHARED;
    static const char *const what[] = {"events", "recipients", "distinct users", "distinct addresses"};
    char why[GOSSIP_REASON_MAX + 1];
    snprintf(why, sizeof why, "%" PRIu64 " %s in %" PRId64 "s >= %" PRId64 "%s (cluster-wide)", v,
             what[sc->measure], sc->window_s, thr, shared ? " (shared address)" : "");
    decide(e, sc->id, sc->action, subj, sc->duration_s, sc->max_duration_s, why, now_ms, cross, how, evk);
}

void scenario_engine_set_enforce(struct scenario_engine *e, const struct enforce *enf)
{
    e->enf = enf;
}

/* True when the event's address is already blocked (alone or by its prefix): what it still does
 * is the tail of connections opened before the ban, not new evidence. With an enforcement
 * backend, blocked also means the kernel drops it: a ban the kernel does not hold (refused,
 * lost, not yet put back) stops nothing, so its address's failures still count. */
static bool source_blocked(const struct scenario_engine *e, const struct sg_event *ev, int64_t now_ms)
{
    static const enum scenario_subject subjects[] = {SUBJ_IP, SUBJ_PREFIX};
    bool banned = false;
    for (size_t i = 0; i < sizeof subjects / sizeof subjects[0] && !banned; i++) {
        struct sg_subject subj;
        char key[GOSSIP_KEY_MAX + 1];
        banned = event_subject(e->cfg, subjects[i], ev, &subj) == 0 &&
                 sg_key_format(SG_REC_BLOCK, &subj, key, sizeof key) == 0 && gossip_state_ban_active(e->st, key, now_ms);
    }
    if (!banned || !e->enf) return banned;
    struct enforce_prefix p = {.family = (uint8_t)ev->family, .len = ev->family == AF_INET ? 32 : 128};
    memcpy(p.addr, ev->addr, sizeof p.addr);
    return enforce_holds(e->enf, &p);
}

/* One account attacked from many addresses: while its user is under attack, an address failing for
 * it that is not known-good for it, and has no good users, is banned at this failure. */
static void attack_ban(struct scenario_engine *e, const struct sg_event *ev, int64_t now_ms)
{
    struct sg_subject subj;
    if (sg_subject_set(&subj, SG_SUBJ_IP, ev->ip) < 0) return;
    /* An address other users log in from (a CGNAT pool, an office) is not banned for one failure:
     * its failures go on counting in the scenarios, with their raised thresholds. */
    if (evidence_good_users(e->st, e->cfg, &subj, now_ms) > 0) return;
    char why[GOSSIP_REASON_MAX + 1];
    snprintf(why, sizeof why, "%" PRIu64 " addresses failing for %.64s in %" PRId64 "s >= %" PRId64 " (cluster-wide)",
             evidence_failing_addresses(e->st, e->cfg, ev->user, now_ms), ev->user, e->cfg->attack_window_s,
             e->cfg->attack_addresses);
    e->stats.attack_bans++;
    decide(e, SCENARIO_ACCOUNT_ATTACK, SACT_BAN, &subj, e->cfg->attack_ban_s, 7LL * 86400, why, now_ms, now_ms, HOW_EVENT,
           NULL);
}

void scenario_engine_event(struct scenario_engine *e, const struct sg_event *ev, int64_t now_ms)
{
    e->stats.events++;
    if (ev->dup) {
        /* Counted already through its other report (log line or auth-policy report): the hash of
         * its password, when only this one carries it, still makes a later repeat of it known. */
        if (ev->kind == SG_EV_AUTH_FAIL && ev->user[0] && ev->family && ev->pwhash[0])
            evidence_password_repeat(e->st, ev->ip, ev->user, ev->pwhash, e->cfg->evidence_window_s, now_ms);
        return;
    }
    char key[GOSSIP_KEY_MAX + 1];
    struct sg_subject subj;
    bool blocked = source_blocked(e, ev, now_ms);
    bool failed = ev->kind == SG_EV_AUTH_FAIL && ev->user[0] && ev->family;
    if ((ev->kind == SG_EV_AUTH_OK || ev->kind == SG_EV_SENT) && ev->family) evidence_record_good(e->st, e->cfg, ev->ip, ev->user, now_ms);
    if (failed && event_subject(e->cfg, SUBJ_IP, ev, &subj) == 0 && evkey(key, SG_SCOPE_FAILUSERS, &subj) == 0)
        gossip_state_distinct_add(e->st, key, ev->user, strlen(ev->user), now_ms);
    /* A failure for U from an address U logged in from lately is a stale client (an old password
     * on a phone), not a guesser: it counts once per evidence window, known_good_weight events,
     * in address and prefix counts, and never in distinct counts or against the account. */
    /* Where Dovecot logs the tried password's hash, a repeat of one wrong password for U from this
     * address (within evidence_window) counts nothing: only distinct wrong passwords do. */
    bool repeat = failed && evidence_password_repeat(e->st, ev->ip, ev->user, ev->pwhash, e->cfg->evidence_window_s, now_ms);
    bool stale = failed && (repeat || evidence_known_good(e->st, e->cfg, ev->ip, ev->user, now_ms));
    uint64_t stale_count = 0;
    if (stale) {
        e->stats.stale_failures++;
        if (evidence_stale_first(e->st, ev->ip, ev->user, e->cfg->evidence_window_s, now_ms) && !repeat)
            stale_count = (uint64_t)e->cfg->known_good_weight;
    } else if (failed) {
        evidence_record_fail(e->st, e->cfg, ev->ip, ev->user, now_ms);
        if (!blocked && evidence_under_attack(e->st, e->cfg, ev->user, now_ms)) attack_ban(e, ev, now_ms);
    }
    for (size_t i = 0; i < e->n; i++) {
        const struct config_scenario *sc = e->sc[i].sc;
        if (!(e->sc[i].kinds & (1u << ev->kind)) || !scenario_services_match(sc, ev->service)) continue;
        if (blocked && sc->subject != SUBJ_USER) continue;
        if (stale && ev->kind == SG_EV_AUTH_FAIL && (sc->subject == SUBJ_USER || sc->measure != MEAS_COUNT || !stale_count))
            continue;
        if (event_subject(e->cfg, sc->subject, ev, &subj) < 0 || evkey(key, sc->id, &subj) < 0) continue;
        int rc = 0;
        switch (sc->measure) {
        case MEAS_COUNT:
            rc = gossip_state_counter_add(e->st, key, stale ? stale_count : ev->count ? ev->count : 1, now_ms);
            break;
        case MEAS_RCPT: rc = gossip_state_counter_add(e->st, key, ev->nrcpt ? ev->nrcpt : 1, now_ms); break;
        case MEAS_DISTINCT_USERS:
            if (!ev->user[0]) continue;
            rc = gossip_state_distinct_add(e->st, key, ev->user, strlen(ev->user), now_ms);
            break;
        case MEAS_DISTINCT_IPS:
            if (!ev->family) continue;
            rc = gossip_state_distinct_add(e->st, key, ev->ip, strlen(ev->ip), now_ms);
            break;
        }
        if (rc < 0) continue;
        e->stats.counted++;
        evaluate(e, sc, &subj, now_ms, now_ms, HOW_EVENT, key);
    }
}

/* The scenario an evidence key counts for, and its subject; NULL for other keys (evidence sketches,
 * scenarios not configured here, garbage from a peer). */
static const struct config_scenario *key_scenario(const struct scenario_engine *e, const char *key,
                                                  struct sg_subject *subj)
{
    size_t idlen;
    if (sg_evidence_parse(key, &idlen, subj) < 0) return NULL;
    for (size_t i = 0; i < e->n; i++)
        if (strlen(e->sc[i].sc->id) == idlen && !strncmp(e->sc[i].sc->id, key, idlen)) return e->sc[i].sc;
    return NULL;
}

static void evaluate_key(struct scenario_engine *e, const char *key, int64_t now_ms, int64_t t0_ms, enum how how)
{
    struct sg_subject subj;
    const struct config_scenario *sc = key_scenario(e, key, &subj);
    if (sc) evaluate(e, sc, &subj, now_ms, t0_ms, how, key);
}

void scenario_engine_set_decider(struct scenario_engine *e, scenario_decider_fn *fn, void *arg)
{
    e->decider = fn;
    e->decider_arg = arg;
}

enum scenario_decider_is scenario_decider_caught_up(int64_t seen_ms, int64_t cross_ms)
{
    return seen_ms - SCENARIO_SEEN_SLACK_MS >= cross_ms ? SCENARIO_DECIDER_QUIET : SCENARIO_DECIDER_BUSY;
}

uint64_t scenario_decider(const char *subject, const uint64_t *origins, size_t n)
{
    /* The hash of the subject followed by the origin (big-endian): the node fixed, subjects spread
     * evenly; a node leaving moves only its own subjects to the others. */
    uint8_t buf[GOSSIP_KEY_MAX + 8];
    size_t len = strnlen(subject, GOSSIP_KEY_MAX);
    memcpy(buf, subject, len);
    uint64_t best = origins[0], best_h = 0;
    for (size_t i = 0; i < n; i++) {
        for (int b = 0; b < 8; b++) buf[len + b] = (uint8_t)(origins[i] >> (56 - 8 * b));
        uint64_t h = gossip_sketch_hash(buf, len + 8);
        if (i == 0 || h > best_h || (h == best_h && origins[i] > best)) {
            best = origins[i];
            best_h = h;
        }
    }
    return best;
}

void scenario_engine_touch(struct scenario_engine *e, const char *key, int64_t now_ms)
{
    struct sg_subject subj;
    if (!key_scenario(e, key, &subj)) return;
    e->stats.touches++;
    switch (keyq_push(&e->touched, key, now_ms, now_ms)) {
    case KEYQ_ADDED: break;
    case KEYQ_QUEUED: e->stats.touch_dups++; break;
    case KEYQ_FULL:
        e->stats.touch_full++;
        evaluate_key(e, key, now_ms, now_ms, HOW_MERGE);
        break;
    }
}

void scenario_engine_touch_merged(struct scenario_engine *e, const struct gossip_body *b, const uint8_t *changed,
                                  int64_t now_ms)
{
    const char *last = NULL;
    for (size_t i = 0; i < b->n_slots; i++) {
        const char *k = b->slots[i].key;
        if (changed && !changed[i]) continue;
        if (last && !strcmp(last, k)) continue;   /* slots of one key come together */
        scenario_engine_touch(e, k, now_ms);
        last = k;
    }
    for (size_t i = 0; i < b->n_sketches; i++)
        if (!changed || changed[b->n_slots + i]) scenario_engine_touch(e, b->sketches[i].key, now_ms);
}

bool scenario_engine_drain(struct scenario_engine *e, int64_t now_ms, int64_t budget_us)
{
    e->stats.slices++;
    int64_t end_ns = sg_mono_ns() + budget_us * 1000;
    for (;;) {
        int64_t at, t0;
        char *key;
        if (keyq_first(&e->deferred, &at, &t0) && at + SCENARIO_DEFER_MS <= now_ms) {
            key = keyq_pop(&e->deferred);
            evaluate_key(e, key, now_ms, t0, HOW_DEADLINE);
        } else if (keyq_first(&e->touched, NULL, &t0)) {
            key = keyq_pop(&e->touched);
            e->stats.evaluated++;
            evaluate_key(e, key, now_ms, t0, HOW_MERGE);
        } else {
            break;
        }
        free(key);
        if (sg_mono_ns() >= end_ns) break;
    }
    return e->touched.n > 0;
}

size_t scenario_engine_queued(const struct scenario_engine *e)
{
    return e->touched.n;
}

int64_t scenario_engine_oldest_queued(const struct scenario_engine *e)
{
    int64_t t0;
    return keyq_first(&e->touched, NULL, &t0) ? t0 : -1;
}

int64_t scenario_engine_next_deadline(const struct scenario_engine *e)
{
    int64_t at;
    return keyq_first(&e->deferred, &at, NULL) ? at + SCENARIO_DEFER_MS : -1;
}

void scenario_engine_adopt(struct scenario_engine *e, struct scenario_engine **from)
{
    struct scenario_engine *f = *from;
    if (!f) return;
    keyq_move(&e->touched, &f->touched);
    keyq_move(&e->deferred, &f->deferred);
    e->stats = f->stats;
    memcpy(e->refused_seen, f->refused_seen, sizeof e->refused_seen);
    e->decider = f->decider;
    e->decider_arg = f->decider_arg;
    scenario_engine_destroy(from);
}
