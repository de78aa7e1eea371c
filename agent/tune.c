/* tune.c: the flow's shape per user, per address and per scenario subject, and the proposals (tune.h). */
#include "agent/tune.h"
#include "agent/scenario.h"
#include "agent/util.h"
#include "common/key.h"
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

/* An event's sender keeps what the sending limits can key on (see detect_sender_copy). */
_Static_assert(SG_EV_SENDER_MAX - 1 >= SG_KEY_MAX - 5, "events keep every sender a limit can key on");

static uint64_t sat_add(uint64_t a, uint64_t b)
{
    return a + b < a ? UINT64_MAX : a + b;
}

struct user {
    int64_t hour, day, addr_day;
    uint64_t msg_h, rcpt_h, msg_d, rcpt_d, bytes_h, bytes_d;
    uint64_t pk[TUNE_USER_BYTES_DAY + 1];   /* peaks, indexed by enum tune_flow */
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

/* The flows of one envelope sender, sender domain, port-25 address or prefix: messages and bytes per
 * clock hour and UTC day, and their peaks. */
enum kflow_group { KF_SENDER, KF_DOMAIN, KF_P25_ADDR, KF_P25_NET, KF__COUNT };
struct kflow {
    uint8_t group;
    int64_t hour, day;
    uint64_t msg_h, msg_d, bytes_h, bytes_d;
    uint64_t pk[4];   /* messages per hour, per day, bytes per hour, per day */
};

struct tune {
    const struct config *cfg;
    const struct throttle_config *thr;
    unsigned *kinds;     /* per scenario */
    struct hmap users_map, addrs_map, subj_map, good, kflow_map;
    struct user *users;
    struct addr *addrs;
    struct subj *subjs;
    struct kflow *kflows;
    size_t nusers, naddrs, nsubjs, nkflows, capusers, capaddrs, capsubjs, capkflows;
    struct throttle_limit kf_key[KF__COUNT];   /* the subjects of the flows, as the limits make them */
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
    [TUNE_USER_BYTES_HOUR] = {"user_bytes_per_hour", "bytes one user submits in a clock hour (peak)", "users who sent", NULL},
    [TUNE_USER_BYTES_DAY] = {"user_bytes_per_day", "bytes one user submits in a UTC day (peak)", "users who sent", NULL},
    [TUNE_SENDER_MSG_HOUR] = {"sender_messages_per_hour", "messages of one envelope sender on submission in a clock hour (peak)", "senders", NULL},
    [TUNE_SENDER_MSG_DAY] = {"sender_messages_per_day", "messages of one envelope sender on submission in a UTC day (peak)", "senders", NULL},
    [TUNE_SENDER_BYTES_HOUR] = {"sender_bytes_per_hour", "bytes of one envelope sender on submission in a clock hour (peak)", "senders", NULL},
    [TUNE_SENDER_BYTES_DAY] = {"sender_bytes_per_day", "bytes of one envelope sender on submission in a UTC day (peak)", "senders", NULL},
    [TUNE_DOMAIN_MSG_HOUR] = {"domain_messages_per_hour", "messages of one sender domain on submission in a clock hour (peak)", "sender domains", NULL},
    [TUNE_DOMAIN_MSG_DAY] = {"domain_messages_per_day", "messages of one sender domain on submission in a UTC day (peak)", "sender domains", NULL},
    [TUNE_PORT25_ADDR_HOUR] = {"port25_address_messages_per_hour", "messages from one client address on port 25 in a clock hour (peak)", "addresses", NULL},
    [TUNE_PORT25_ADDR_DAY] = {"port25_address_messages_per_day", "messages from one client address on port 25 in a UTC day (peak)", "addresses", NULL},
    [TUNE_PORT25_NET_HOUR] = {"port25_prefix_messages_per_hour", "messages from one client prefix on port 25 in a clock hour (peak)", "prefixes", NULL},
    [TUNE_PORT25_NET_DAY] = {"port25_prefix_messages_per_day", "messages from one client prefix on port 25 in a UTC day (peak)", "prefixes", NULL},
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
    /* The flows' subjects come from the sending limits' own function (throttle_subject): one place
     * derives a sender's domain, lower-cases it and cuts a client address to its prefix. */
    t->kf_key[KF_SENDER].key = THROTTLE_KEY_SENDER;
    t->kf_key[KF_DOMAIN].key = THROTTLE_KEY_DOMAIN;
    t->kf_key[KF_P25_ADDR] = (struct throttle_limit){.key = THROTTLE_KEY_CLIENT, .prefix4 = 32, .prefix6 = 128};
    t->kf_key[KF_P25_NET] = (struct throttle_limit){.key = THROTTLE_KEY_CLIENT, .prefix4 = (uint8_t)cfg->prefix4,
                                                    .prefix6 = (uint8_t)cfg->prefix6};
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
    hmap_free(&t->kflow_map);
    free(t->kflows);
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
    uint64_t rcpt = ev->nrcpt ? ev->nrcpt : 1, bytes = ev->size ? ev->size : 1;
    u->sent = true;
    if (hour != u->hour) {
        u->hour = hour;
        u->msg_h = u->rcpt_h = u->bytes_h = 0;
    }
    if (day != u->day) {
        u->day = day;
        u->msg_d = u->rcpt_d = u->bytes_d = 0;
    }
    u->msg_h++, u->msg_d++, u->rcpt_h += rcpt, u->rcpt_d += rcpt;
    u->bytes_h = sat_add(u->bytes_h, bytes);
    u->bytes_d = sat_add(u->bytes_d, bytes);
    peak(&u->pk[TUNE_USER_MSG_HOUR], u->msg_h);
    peak(&u->pk[TUNE_USER_RCPT_HOUR], u->rcpt_h);
    peak(&u->pk[TUNE_USER_MSG_DAY], u->msg_d);
    peak(&u->pk[TUNE_USER_RCPT_DAY], u->rcpt_d);
    peak(&u->pk[TUNE_USER_BYTES_HOUR], u->bytes_h);
    peak(&u->pk[TUNE_USER_BYTES_DAY], u->bytes_d);
}

/* One message of in for the flow group g, when in has such a subject. */
static void kflow_event(struct tune *t, enum kflow_group g, const struct throttle_input *in, int64_t now_ms)
{
    char s[256];
    if (throttle_subject(&t->kf_key[g], in, s, sizeof s) < 0) return;
    bool added = false;
    uint32_t i = hmap_get(&t->kflow_map, hash_str(s) ^ (0xC2B2AE3D27D4EB4FULL * (g + 1)), true, (uint32_t)t->nkflows, &added);
    if (added) {
        ENSURE(t->kflows, t->nkflows, t->capkflows);
        t->kflows[t->nkflows].group = (uint8_t)g;
        t->kflows[t->nkflows].hour = t->kflows[t->nkflows].day = -1;
        t->nkflows++;
    }
    struct kflow *f = &t->kflows[i];
    int64_t hour = now_ms / 3600000, day = now_ms / 86400000;
    if (hour != f->hour) {
        f->hour = hour;
        f->msg_h = f->bytes_h = 0;
    }
    if (day != f->day) {
        f->day = day;
        f->msg_d = f->bytes_d = 0;
    }
    f->msg_h++, f->msg_d++;
    f->bytes_h = sat_add(f->bytes_h, in->amount[THROTTLE_BYTES]);
    f->bytes_d = sat_add(f->bytes_d, in->amount[THROTTLE_BYTES]);
    peak(&f->pk[0], f->msg_h);
    peak(&f->pk[1], f->msg_d);
    peak(&f->pk[2], f->bytes_h);
    peak(&f->pk[3], f->bytes_d);
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
    if ((ev->kind != SG_EV_SENT && ev->kind != SG_EV_RECEIVED) || ev->dup) return false;
    *out = (struct throttle_input){.user = ev->user, .sender = ev->sender, .client = ev->family ? ev->ip : NULL,
                                   .service = strcmp(ev->service, "submission") ? THROTTLE_SVC_SMTP : THROTTLE_SVC_SUBMISSION};
    out->amount[THROTTLE_MESSAGES] = 1;
    out->amount[THROTTLE_RECIPIENTS] = ev->nrcpt ? ev->nrcpt : 1;
    out->amount[THROTTLE_BYTES] = ev->size ? ev->size : 1;
    return true;
}

/* Whether limit l counts a message of service s (as the policy service decides). */
static bool limit_applies(const struct throttle_limit *l, enum throttle_service s)
{
    return l->service == THROTTLE_SVC_ANY || l->service == s;
}

static void limits_event(struct tune *t, const struct sg_event *ev, int64_t now_ms)
{
    struct throttle_input in;
    if (!tune_limit_input(ev, &in)) return;
    if (in.service == THROTTLE_SVC_SUBMISSION) {
        kflow_event(t, KF_SENDER, &in, now_ms);
        kflow_event(t, KF_DOMAIN, &in, now_ms);
    } else {
        kflow_event(t, KF_P25_ADDR, &in, now_ms);
        kflow_event(t, KF_P25_NET, &in, now_ms);
    }
    for (size_t i = 0; t->thr && i < t->thr->nlimits; i++) {
        const struct throttle_limit *l = &t->thr->limits[i];
        char s[256];
        if (!limit_applies(l, in.service) || throttle_subject(l, &in, s, sizeof s) < 0) continue;
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
        if (u->sent) {
            tune_dist_push(&m[TUNE_USER_BYTES_HOUR].legit, u->pk[TUNE_USER_BYTES_HOUR]);
            tune_dist_push(&m[TUNE_USER_BYTES_DAY].legit, u->pk[TUNE_USER_BYTES_DAY]);
        }
    }
    /* per group: the measures of its messages per hour and day, and of its bytes (-1: not shown) */
    static const int kf_measures[KF__COUNT][4] = {
        [KF_SENDER] = {TUNE_SENDER_MSG_HOUR, TUNE_SENDER_MSG_DAY, TUNE_SENDER_BYTES_HOUR, TUNE_SENDER_BYTES_DAY},
        [KF_DOMAIN] = {TUNE_DOMAIN_MSG_HOUR, TUNE_DOMAIN_MSG_DAY, -1, -1},
        [KF_P25_ADDR] = {TUNE_PORT25_ADDR_HOUR, TUNE_PORT25_ADDR_DAY, -1, -1},
        [KF_P25_NET] = {TUNE_PORT25_NET_HOUR, TUNE_PORT25_NET_DAY, -1, -1},
    };
    for (size_t i = 0; i < t->nkflows; i++)
        for (int k = 0; k < 4; k++)
            if (kf_measures[t->kflows[i].group][k] >= 0)
                tune_dist_push(&m[kf_measures[t->kflows[i].group][k]].legit, t->kflows[i].pk[k]);
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
        lm->legit_label = "subjects";
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
    unsigned __int128 v = (unsigned __int128)capacity * pct / 100 + 1;
    return v > INT64_MAX ? INT64_MAX : (int64_t)v;
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
    /* The smallest capacity whose tier fires at thr: floor(pct * cap / 100) >= thr - 1 (bytes can be
     * large: the product is taken in 128 bits). */
    unsigned pct = l->pct[tune_limit_tier(l)] ? l->pct[tune_limit_tier(l)] : 100;
    unsigned __int128 c = ((unsigned __int128)(thr - 1) * 100 + pct - 1) / pct;
    uint64_t cap = c > UINT64_MAX ? UINT64_MAX : (uint64_t)c;
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
