/* tune.c: the flow's shape per user, per address and per scenario subject, and the proposals (tune.h). */
#include "agent/tune.h"
#include "agent/scenario.h"
#include "agent/util.h"
#include "gossip/sketch.h"

#include <stdlib.h>
#include <string.h>

/* Open addressing from a 64-bit hash of the subject to an entry index. Only hashes are kept: at 2^64
 * a collision among a few million subjects is below one in a million, and it would merge two
 * subjects' counts in a report, nothing more. */
struct hslot {
    uint64_t key;     /* 0 = empty (a zero hash is stored as 1) */
    uint32_t val;
};

/* Key and value side by side: one cache line per probe (the tables outgrow the cache). */
struct hmap {
    struct hslot *s;
    size_t cap, n;
};

static size_t hmap_home(const struct hmap *m, uint64_t k)
{
    return (size_t)(k * 0x9E3779B97F4A7C15ULL >> 7) & (m->cap - 1);
}

static size_t hmap_slot(const struct hmap *m, uint64_t k)
{
    size_t i = hmap_home(m, k);
    while (m->s[i].key && m->s[i].key != k) i = (i + 1) & (m->cap - 1);
    return i;
}

/* The entry of k, or ~0u; with add, a missing k gets value next (returned, *added set). */
static uint32_t hmap_get(struct hmap *m, uint64_t k, bool add, uint32_t next, bool *added)
{
    if (!k) k = 1;
    if (add && (m->n + 1) * 2 > m->cap) {   /* at most half full: short linear probes */
        struct hmap o = *m;
        m->cap = o.cap ? o.cap * 2 : 1024;
        m->s = sg_xcalloc(m->cap, sizeof *m->s);
        for (size_t i = 0; i < o.cap; i++)
            if (o.s[i].key) m->s[hmap_slot(m, o.s[i].key)] = o.s[i];
        free(o.s);
    }
    if (!m->cap) return ~0u;
    size_t i = hmap_slot(m, k);
    if (m->s[i].key) return m->s[i].val;
    if (!add) return ~0u;
    m->s[i] = (struct hslot){k, next};
    m->n++;
    *added = true;
    return next;
}

static void hmap_prefetch(const struct hmap *m, uint64_t k)
{
    if (m->cap) __builtin_prefetch(&m->s[hmap_home(m, k ? k : 1)]);
}

static void hmap_free(struct hmap *m)
{
    free(m->s);
}

/* A small exact set of 32-bit item hashes (distinct counts), capped at TUNE_DISTINCT_CAP. */
struct iset {
    uint32_t *v;
    uint32_t n, cap;
};

static void iset_add(struct iset *s, uint32_t h)
{
    for (uint32_t i = 0; i < s->n; i++)
        if (s->v[i] == h) return;
    if (s->n >= TUNE_DISTINCT_CAP) return;
    if (s->n == s->cap) {
        s->cap = s->cap ? s->cap * 2 : 4;
        s->v = sg_xrealloc(s->v, s->cap * sizeof *s->v);
    }
    s->v[s->n++] = h;
}

struct user {
    int64_t hour, day, addr_day;
    uint64_t msg_h, rcpt_h, msg_d, rcpt_d;
    uint64_t pk[TUNE_USER_ADDRS_DAY + 1];   /* peaks, indexed by enum tune_flow */
    struct iset addrs;
    bool sent;
};

struct addr {
    uint64_t fails;
    bool ok;
    int family;
    char ip[SG_EV_IP_MAX];   /* canonical text: its prefix is made once, at the end */
};

/* One window grid of one scenario subject: windows start every window_s, shifted by off. */
struct grid {
    int64_t w;
    uint64_t count;
    struct iset items;
};

struct subj {
    uint32_t scen;       /* the measure group: a scenario, or nscenarios + a limit */
    uint64_t good_key;   /* hash of the subject text, looked up in good */
    struct grid g[2];
    uint64_t peak;
};

struct tune {
    const struct config *cfg;
    const struct throttle_config *thr;
    unsigned *kinds;     /* per scenario */
    struct hmap users_map, addrs_map, subj_map, good;
    struct user *users;
    struct addr *addrs;
    struct subj *subjs;
    size_t nusers, naddrs, nsubjs, capusers, capaddrs, capsubjs;
    struct tune_measure *m;
    size_t nm;
    int64_t first_ms, last_ms;
    uint64_t events;
};

static const struct {
    const char *name, *what, *legit, *attack;
} flow_names[TUNE_FLOW__COUNT] = {
    [TUNE_USER_MSG_HOUR] = {"user_messages_per_hour", "messages one user submits in a clock hour (peak)", "users who sent", NULL},
    [TUNE_USER_RCPT_HOUR] = {"user_recipients_per_hour", "recipients of one user's messages in a clock hour (peak)", "users who sent", NULL},
    [TUNE_USER_MSG_DAY] = {"user_messages_per_day", "messages one user submits in a UTC day (peak)", "users who sent", NULL},
    [TUNE_USER_RCPT_DAY] = {"user_recipients_per_day", "recipients of one user's messages in a UTC day (peak)", "users who sent", NULL},
    [TUNE_USER_ADDRS_DAY] = {"user_addresses_per_day", "distinct client addresses one user logs in or sends from in a UTC day (peak)", "users", NULL},
    [TUNE_ADDR_FAILS] = {"address_failures", "failed logins from one address over the period", "addresses that also succeed", "addresses that never succeed"},
};

struct tune *tune_new(const struct config *cfg, const struct throttle_config *thr)
{
    struct tune *t = sg_xcalloc(1, sizeof *t);
    t->cfg = cfg;
    t->thr = thr;
    t->kinds = sg_xcalloc(cfg->nscenarios + 1, sizeof *t->kinds);
    for (size_t i = 0; i < cfg->nscenarios; i++) t->kinds[i] = scenario_kinds(&cfg->scenarios[i]);
    t->nm = TUNE_FLOW__COUNT + cfg->nscenarios + (thr ? thr->nlimits : 0);
    t->m = sg_xcalloc(t->nm, sizeof *t->m);
    for (size_t i = 0; i < TUNE_FLOW__COUNT; i++) {
        t->m[i].name = flow_names[i].name;
        t->m[i].what = flow_names[i].what;
        t->m[i].legit_label = flow_names[i].legit;
        t->m[i].attack_label = flow_names[i].attack;
    }
    return t;
}

void tune_destroy(struct tune **p)
{
    struct tune *t = *p;
    if (!t) return;
    for (size_t i = 0; i < t->nusers; i++) free(t->users[i].addrs.v);
    for (size_t i = 0; i < t->nsubjs; i++) {
        free(t->subjs[i].g[0].items.v);
        free(t->subjs[i].g[1].items.v);
    }
    for (size_t i = 0; i < t->nm; i++) {
        tune_dist_free(&t->m[i].legit);
        tune_dist_free(&t->m[i].attack);
    }
    hmap_free(&t->users_map);
    hmap_free(&t->addrs_map);
    hmap_free(&t->subj_map);
    hmap_free(&t->good);
    free(t->users);
    free(t->addrs);
    free(t->subjs);
    free(t->kinds);
    free(t->m);
    free(t);
    *p = NULL;
}

/* Grows an entry array to hold index n (zeroing the new entry). */
#define ENSURE(arr, n, cap)                                                 \
    do {                                                                    \
        if ((n) == (cap)) {                                                 \
            (cap) = (cap) ? (cap) * 2 : 256;                                \
            (arr) = sg_xrealloc((arr), (cap) * sizeof *(arr));              \
        }                                                                   \
        memset(&(arr)[n], 0, sizeof *(arr));                                \
    } while (0)

static uint64_t hash_str(const char *s)
{
    return gossip_sketch_hash(s, strlen(s));
}

static void peak(uint64_t *pk, uint64_t v)
{
    if (v > *pk) *pk = v;
}

/* An event's hashes and subject texts (ip, prefix, user), each made once per event whatever uses it. */
struct ev_subjects {
    const struct config *cfg;
    const struct sg_event *ev;
    uint64_t user_h, ip_h;      /* hashes of the user and the address text (0 when absent) */
    int state[SUBJ_USER + 1];   /* 0 not made yet, 1 made, -1 the event has none */
    char s[SUBJ_USER + 1][GOSSIP_KEY_MAX + 1];
};

static const char *subject_of(struct ev_subjects *es, enum scenario_subject k)
{
    if (!es->state[k]) es->state[k] = scenario_subject(es->cfg, k, es->ev, es->s[k], sizeof es->s[k]) == 0 ? 1 : -1;
    return es->state[k] > 0 ? es->s[k] : NULL;
}

static void user_event(struct tune *t, const struct ev_subjects *es, int64_t now_ms)
{
    const struct sg_event *ev = es->ev;
    bool added = false;
    uint32_t i = hmap_get(&t->users_map, es->user_h, true, (uint32_t)t->nusers, &added);
    if (added) {
        ENSURE(t->users, t->nusers, t->capusers);
        t->users[t->nusers].hour = t->users[t->nusers].day = t->users[t->nusers].addr_day = -1;
        t->nusers++;
    }
    struct user *u = &t->users[i];
    int64_t hour = now_ms / 3600000, day = now_ms / 86400000;
    if (ev->family) {
        if (day != u->addr_day) {
            u->addr_day = day;
            u->addrs.n = 0;
        }
        iset_add(&u->addrs, (uint32_t)es->ip_h);
        peak(&u->pk[TUNE_USER_ADDRS_DAY], u->addrs.n);
    }
    if (ev->kind != SG_EV_SENT) return;
    uint64_t rcpt = ev->nrcpt ? ev->nrcpt : 1;
    u->sent = true;
    if (hour != u->hour) {
        u->hour = hour;
        u->msg_h = u->rcpt_h = 0;
    }
    if (day != u->day) {
        u->day = day;
        u->msg_d = u->rcpt_d = 0;
    }
    u->msg_h++, u->msg_d++, u->rcpt_h += rcpt, u->rcpt_d += rcpt;
    peak(&u->pk[TUNE_USER_MSG_HOUR], u->msg_h);
    peak(&u->pk[TUNE_USER_RCPT_HOUR], u->rcpt_h);
    peak(&u->pk[TUNE_USER_MSG_DAY], u->msg_d);
    peak(&u->pk[TUNE_USER_RCPT_DAY], u->rcpt_d);
}

/* The address entry of an event's address (keyed by its canonical text). */
static struct addr *addr_of(struct tune *t, const struct ev_subjects *es)
{
    const struct sg_event *ev = es->ev;
    bool added = false;
    uint32_t i = hmap_get(&t->addrs_map, es->ip_h, true, (uint32_t)t->naddrs, &added);
    if (added) {
        ENSURE(t->addrs, t->naddrs, t->capaddrs);
        t->addrs[t->naddrs].family = ev->family;
        memcpy(t->addrs[t->naddrs].ip, ev->ip, sizeof ev->ip);
        t->naddrs++;
    }
    return &t->addrs[i];
}

enum add_mode { ADD_COUNT, ADD_DISTINCT };

/* Adds n (or the distinct item) to subject s of measure group k over windows of win_ms. */
static void subject_add(struct tune *t, uint32_t k, const char *s, uint64_t good_key, int64_t win, enum add_mode mode,
                        uint64_t n, uint32_t item, int64_t now_ms)
{
    uint64_t sh = hash_str(s);
    bool added = false;
    uint32_t i = hmap_get(&t->subj_map, sh ^ (0x9E3779B97F4A7C15ULL * (k + 1)), true, (uint32_t)t->nsubjs, &added);
    if (added) {
        ENSURE(t->subjs, t->nsubjs, t->capsubjs);
        t->subjs[t->nsubjs].scen = k;
        t->subjs[t->nsubjs].good_key = good_key;
        t->subjs[t->nsubjs].g[0].w = t->subjs[t->nsubjs].g[1].w = INT64_MIN;
        t->nsubjs++;
    }
    struct subj *e = &t->subjs[i];
    if (win <= 0) win = 1000;
    for (int g = 0; g < 2; g++) {
        struct grid *gr = &e->g[g];
        int64_t w = (now_ms + g * (win / 2)) / win;
        if (w != gr->w) {
            gr->w = w;
            gr->count = 0;
            gr->items.n = 0;
        }
        if (mode == ADD_COUNT) gr->count += n;
        else {
            iset_add(&gr->items, item);
            gr->count = gr->items.n;
        }
        peak(&e->peak, gr->count);
    }
}

static void scenario_event(struct tune *t, uint32_t k, struct ev_subjects *es, int64_t now_ms)
{
    const struct sg_event *ev = es->ev;
    const struct config_scenario *sc = &t->cfg->scenarios[k];
    uint32_t item = 0;
    if (sc->measure == MEAS_DISTINCT_USERS) {
        if (!ev->user[0]) return;
        item = (uint32_t)es->user_h;
    } else if (sc->measure == MEAS_DISTINCT_IPS) {
        if (!ev->family) return;
        item = (uint32_t)es->ip_h;
    }
    const char *s = subject_of(es, sc->subject);
    if (!s) return;
    bool distinct = sc->measure == MEAS_DISTINCT_USERS || sc->measure == MEAS_DISTINCT_IPS;
    uint64_t n = sc->measure == MEAS_RCPT ? (ev->nrcpt ? ev->nrcpt : 1) : (ev->count ? ev->count : 1);
    /* Addresses are told good by their entry (keyed by the address), prefixes by their subject. */
    uint64_t good_key = sc->subject == SUBJ_IP ? es->ip_h : hash_str(s);
    subject_add(t, k, s, good_key, sc->window_s * 1000, distinct ? ADD_DISTINCT : ADD_COUNT, n, item, now_ms);
}

bool tune_limit_input(const struct sg_event *ev, struct throttle_input *out)
{
    if (ev->kind != SG_EV_SENT || ev->dup) return false;
    *out = (struct throttle_input){.user = ev->user, .client = ev->family ? ev->ip : NULL,
                                   .service = THROTTLE_SVC_SUBMISSION};
    out->amount[THROTTLE_MESSAGES] = 1;
    out->amount[THROTTLE_RECIPIENTS] = ev->nrcpt ? ev->nrcpt : 1;
    return true;
}

/* Limits the logs can measure: messages or recipients, by user or client, seen on submission. */
static bool limit_measurable(const struct throttle_limit *l)
{
    return (l->key == THROTTLE_KEY_USER || l->key == THROTTLE_KEY_CLIENT) && l->measure != THROTTLE_BYTES &&
           l->service != THROTTLE_SVC_SMTP;
}

static void limits_event(struct tune *t, const struct sg_event *ev, int64_t now_ms)
{
    struct throttle_input in;
    if (!t->thr || !tune_limit_input(ev, &in)) return;
    for (size_t i = 0; i < t->thr->nlimits; i++) {
        const struct throttle_limit *l = &t->thr->limits[i];
        char s[256];
        if (!limit_measurable(l) || throttle_subject(l, &in, s, sizeof s) < 0) continue;
        subject_add(t, (uint32_t)(t->cfg->nscenarios + i), s, 0, l->bucket ? l->per_ms : l->window_ms, ADD_COUNT,
                    in.amount[l->measure], 0, now_ms);
    }
}

void tune_event(struct tune *t, const struct sg_event *ev, int64_t now_ms)
{
    if (ev->dup) return;
    if (!t->events++) t->first_ms = now_ms;
    t->last_ms = now_ms;
    bool ok = ev->kind == SG_EV_AUTH_OK || ev->kind == SG_EV_SENT;
    struct ev_subjects es = {.cfg = t->cfg, .ev = ev};
    es.user_h = ev->user[0] ? hash_str(ev->user) : 0;
    es.ip_h = ev->family ? hash_str(ev->ip) : 0;
    /* The tables outgrow the cache: start both loads before using either. */
    if (ok && es.user_h) hmap_prefetch(&t->users_map, es.user_h);
    if (es.ip_h) hmap_prefetch(&t->addrs_map, es.ip_h);
    if (ev->user[0] && ok) user_event(t, &es, now_ms);
    if (ev->family && ok) addr_of(t, &es)->ok = true;
    if (ev->family && ev->kind == SG_EV_AUTH_FAIL) addr_of(t, &es)->fails += ev->count ? ev->count : 1;
    for (uint32_t k = 0; k < t->cfg->nscenarios; k++)
        if ((t->kinds[k] & (1u << ev->kind)) && scenario_services_match(&t->cfg->scenarios[k], ev->service))
            scenario_event(t, k, &es, now_ms);
    limits_event(t, ev, now_ms);
}

/* A scenario's subjects split legitimate / attackers: abuse counted by address or prefix. */
static bool split_scenario(const struct tune *t, size_t k)
{
    if (k >= t->cfg->nscenarios) return false;
    const unsigned abuse = 1u << SG_EV_AUTH_FAIL | 1u << SG_EV_RELAY_DENIED | 1u << SG_EV_REJECTED;
    return t->cfg->scenarios[k].subject != SUBJ_USER && (t->kinds[k] & abuse);
}

void tune_finish(struct tune *t, const struct tune_rule *rule)
{
    struct tune_measure *m = t->m;
    for (size_t i = 0; i < t->nusers; i++) {
        const struct user *u = &t->users[i];
        for (int f = TUNE_USER_MSG_HOUR; f <= TUNE_USER_RCPT_DAY; f++)
            if (u->sent) tune_dist_push(&m[f].legit, u->pk[f]);
        if (u->pk[TUNE_USER_ADDRS_DAY]) tune_dist_push(&m[TUNE_USER_ADDRS_DAY].legit, u->pk[TUNE_USER_ADDRS_DAY]);
    }
    /* Prefixes with a success: made from each good address once, not per event. */
    for (size_t i = 0; i < t->naddrs; i++) {
        struct sg_event e = {.family = t->addrs[i].family};
        char s[GOSSIP_KEY_MAX + 1];
        bool added = false;
        memcpy(e.ip, t->addrs[i].ip, sizeof e.ip);
        if (t->addrs[i].ok && detect_ip_parse(e.ip, strlen(e.ip), &e.family, e.addr, NULL) == 0 &&
            scenario_subject(t->cfg, SUBJ_PREFIX, &e, s, sizeof s) == 0)
            hmap_get(&t->good, hash_str(s), true, 0, &added);
    }
    for (size_t i = 0; i < t->naddrs; i++)
        if (t->addrs[i].fails) tune_dist_push(t->addrs[i].ok ? &m[TUNE_ADDR_FAILS].legit : &m[TUNE_ADDR_FAILS].attack, t->addrs[i].fails);
    for (size_t k = 0; k < t->cfg->nscenarios; k++) {
        struct tune_measure *sm = &m[TUNE_FLOW__COUNT + k];
        sm->sc = &t->cfg->scenarios[k];
        sm->name = sm->sc->id;
        sm->what = "peak of the scenario's count per subject over its window";
        bool split = split_scenario(t, k);
        sm->legit_label = !split ? "subjects" : sm->sc->subject == SUBJ_PREFIX ? "prefixes with a success" : "addresses that also succeed";
        sm->attack_label = !split ? NULL : sm->sc->subject == SUBJ_PREFIX ? "prefixes that never succeed" : "addresses that never succeed";
        sm->current = sm->sc->threshold;
    }
    for (size_t k = 0; t->thr && k < t->thr->nlimits; k++) {
        struct tune_measure *lm = &m[TUNE_FLOW__COUNT + t->cfg->nscenarios + k];
        lm->limit = &t->thr->limits[k];
        lm->name = lm->limit->name;
        lm->what = lm->limit->bucket ? "peak of the limit's measure per subject over the bucket's refill period"
                                     : "peak of the limit's measure per subject over its window";
        lm->legit_label = limit_measurable(lm->limit) ? "subjects" : "not in the logs (sender, size or port 25)";
        lm->current = lm->limit->bucket ? (int64_t)lm->limit->rate : tune_limit_trigger(lm->limit, lm->limit->max);
    }
    for (size_t i = 0; i < t->nsubjs; i++) {
        const struct subj *e = &t->subjs[i];
        struct tune_measure *sm = &m[TUNE_FLOW__COUNT + e->scen];
        bool good = !split_scenario(t, e->scen);
        if (!good && t->cfg->scenarios[e->scen].subject == SUBJ_IP) {
            uint32_t a = hmap_get(&t->addrs_map, e->good_key, false, 0, NULL);
            good = a != ~0u && t->addrs[a].ok;
        } else if (!good) {
            good = hmap_get(&t->good, e->good_key, false, 0, NULL) != ~0u;
        }
        tune_dist_push(good ? &sm->legit : &sm->attack, e->peak);
    }
    for (size_t i = 0; i < t->nm; i++) {
        tune_dist_finish(&m[i].legit);
        tune_dist_finish(&m[i].attack);
        if (m[i].sc || m[i].limit) {
            tune_propose(&m[i].legit, &m[i].attack, rule, m[i].current, &m[i].prop);
            m[i].proposed = true;
        }
        if (m[i].limit) tune_limit_propose(m[i].limit, m[i].prop.threshold, &m[i].proposed_limit);
    }
}

enum throttle_tier tune_limit_tier(const struct throttle_limit *l)
{
    for (int k = THROTTLE_DEFER; k <= THROTTLE_REJECT; k++)
        if (l->pct[k]) return (enum throttle_tier)k;
    return THROTTLE_WARN;
}

int64_t tune_limit_trigger(const struct throttle_limit *l, uint64_t capacity)
{
    /* A request is at tier T when (used + amount) * 100 > pct * capacity. */
    unsigned pct = l->pct[tune_limit_tier(l)] ? l->pct[tune_limit_tier(l)] : 100;
    return (int64_t)(capacity * pct / 100) + 1;
}

void tune_limit_propose(const struct throttle_limit *l, int64_t threshold, struct throttle_limit *out)
{
    *out = *l;
    uint64_t thr = threshold > 1 ? (uint64_t)threshold : 1;
    if (l->bucket) {
        /* The rate is what a subject may send per period; the burst keeps its share of it. */
        uint64_t rate = thr;
        uint64_t burst = l->rate ? l->max * rate / l->rate : rate;
        out->rate = rate;
        out->max = burst < rate ? rate : burst;
        return;
    }
    /* The smallest capacity whose tier fires at thr: floor(pct * cap / 100) >= thr - 1. */
    unsigned pct = l->pct[tune_limit_tier(l)] ? l->pct[tune_limit_tier(l)] : 100;
    uint64_t cap = ((thr - 1) * 100 + pct - 1) / pct;
    out->max = cap ? cap : 1;
}

size_t tune_count(const struct tune *t)
{
    return t->nm;
}

const struct tune_measure *tune_get(const struct tune *t, size_t i)
{
    return i < t->nm ? &t->m[i] : NULL;
}

void tune_period(const struct tune *t, int64_t *first_ms, int64_t *last_ms, uint64_t *events)
{
    *first_ms = t->first_ms;
    *last_ms = t->last_ms;
    *events = t->events;
}
