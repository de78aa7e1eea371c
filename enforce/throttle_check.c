/* throttle_check.c: a whole request against every sending limit through a store (throttle.h):
 * each counter read once per request, then every limit evaluated; counting, resets and usage. */
#include "enforce/throttle.h"
#include "agent/util.h"
#include "common/key.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>

#define CACHE_MAX 64   /* distinct counters one request reads (limits sharing one read it once) */

struct cached {
    uint32_t hash;
    char key[SG_KEY_MAX + 1];
    struct throttle_cell *c;
    size_t n, cap;
};

/* A request's subject for one kind of key (client keys: per prefix), worked out once. */
struct subject {
    enum throttle_key key;
    uint8_t prefix4, prefix6;
    bool ok, allowed, reset_known;
    int64_t reset;
    char text[256];
};
#define SUBJECTS_MAX 16

/* Per-thread scratch: the counters read for the current request, over [lo, hi], and its subjects. */
struct scratch {
    int64_t lo, hi;
    size_t n, nsubj;
    struct cached e[CACHE_MAX];
    struct subject subj[SUBJECTS_MAX];
    struct throttle_cell *merge;
    size_t mcap;
};

static __thread struct scratch scratch;

static int64_t floor_to(int64_t t, int64_t w)
{
    int64_t r = t % w;
    if (r < 0) r += w;
    return t - r;
}

static void grow(struct throttle_cell **v, size_t *cap, size_t want)
{
    if (*cap >= want) return;
    *v = sg_xrealloc(*v, want * sizeof **v);
    *cap = want;
}

/* Starts a request: every read covers the slots of [now - horizon, now]. */
static void scratch_begin(struct scratch *s, const struct throttle_config *c, int64_t now_ms,
                          const struct throttle_store *st)
{
    s->hi = floor_to(now_ms, st->slot_ms);
    s->lo = floor_to(now_ms - throttle_config_horizon_ms(c), st->slot_ms);
    s->n = 0;
    s->nsubj = 0;
}

static uint32_t hash_of(const char *k)
{
    uint32_t h = 2166136261u;   /* FNV-1a */
    for (; *k; k++) h = (h ^ (uint8_t)*k) * 16777619u;
    return h;
}

/* The non-empty slots of key (cached for this request). */
static const struct cached *fetch(struct scratch *s, const char *key, const struct throttle_store *st)
{
    uint32_t h = hash_of(key);
    for (size_t i = 0; i < s->n; i++)
        if (s->e[i].hash == h && !strcmp(s->e[i].key, key)) return &s->e[i];
    struct cached *e = &s->e[s->n < CACHE_MAX ? s->n++ : CACHE_MAX - 1];   /* full: reuse the last */
    e->hash = h;
    size_t want = (size_t)((s->hi - s->lo) / st->slot_ms + 1);
    if (want > THROTTLE_SLOTS_MAX) want = THROTTLE_SLOTS_MAX;
    grow(&e->c, &e->cap, want);
    memcpy(e->key, key, strlen(key) + 1);
    e->n = st->slots(st->arg, key, s->lo, s->hi, e->c, want);
    return e;
}

/* Merges sorted lists into s->merge, adding equal starts. */
static struct throttle_slots merged(struct scratch *s, const struct cached *const *in, size_t k, int64_t slot_ms)
{
    size_t total = 0, pos[4] = {0};
    for (size_t i = 0; i < k; i++) total += in[i]->n;
    grow(&s->merge, &s->mcap, total ? total : 1);
    size_t n = 0;
    for (;;) {
        int64_t next = INT64_MAX;
        for (size_t i = 0; i < k; i++)
            if (pos[i] < in[i]->n && in[i]->c[pos[i]].start < next) next = in[i]->c[pos[i]].start;
        if (next == INT64_MAX) break;
        struct throttle_cell cell = {next, 0};
        for (size_t i = 0; i < k; i++)
            if (pos[i] < in[i]->n && in[i]->c[pos[i]].start == next) {
                uint64_t v = in[i]->c[pos[i]++].n;
                cell.n = cell.n + v < cell.n ? UINT64_MAX : cell.n + v;
            }
        s->merge[n++] = cell;
    }
    return (struct throttle_slots){.slot_ms = slot_ms, .n = n, .c = s->merge};
}

/* End of the newest slot in which subject was reset, 0 when none. */
static int64_t reset_of(struct scratch *s, const char *subject, const struct throttle_store *st)
{
    char key[SG_KEY_MAX + 1];
    if (sg_evidence_format_text(SG_SCOPE_THROTTLE_RESET, subject, key, sizeof key) < 0) return 0;
    const struct cached *e = fetch(s, key, st);
    return e->n ? e->c[e->n - 1].start + st->slot_ms : 0;
}

/* *used (let through) and *tried (let through and refused) of eff for subject at now. */
static void usage_of(struct scratch *s, const struct throttle_limit *eff, const char *subject, int64_t reset,
                     int64_t now_ms, const struct throttle_store *st, bool need_tried, uint64_t *used, uint64_t *tried)
{
    if (s->n + 4 > CACHE_MAX) s->n = 0;   /* this limit's four reads must stay in the cache together */
    const struct cached *in[4];
    size_t k = 0;
    char key[SG_KEY_MAX + 1];
    for (int refused = 0; refused < 2; refused++) {
        for (int svc = THROTTLE_SVC_SUBMISSION; svc <= THROTTLE_SVC_SMTP; svc++) {
            if (eff->service != THROTTLE_SVC_ANY && (int)eff->service != svc) continue;
            if (throttle_counter_key(eff->measure, (enum throttle_service)svc, refused, subject, key, sizeof key) == 0)
                in[k++] = fetch(s, key, st);
        }
        struct throttle_slots sl = merged(s, in, k, st->slot_ms);
        uint64_t u = throttle_used(eff, &sl, reset, now_ms);
        if (refused) *tried = u;
        else *used = u;
        /* hold and reject compare what was tried; without them the refused slots need not be read */
        if (!refused && !need_tried && !eff->pct[THROTTLE_HOLD] && !eff->pct[THROTTLE_REJECT]) {
            *tried = u;
            return;
        }
    }
}

static bool applies(const struct throttle_limit *l, const struct throttle_input *in)
{
    return l->service == THROTTLE_SVC_ANY || l->service == in->service;
}

/* The effective limit for subject (false: allowlisted or turned off for it). */
static bool effective(const struct throttle_config *c, const struct throttle_limit *l, const char *subject,
                      bool allowed, struct throttle_limit *eff)
{
    if (allowed) return false;
    if (!throttle_map_size(c->map)) {
        *eff = *l;
        return true;
    }
    return throttle_limit_apply(l, throttle_map_find(c->map, subject, l->name), eff);
}

/* in's subject for l's kind of key, worked out once per request (NULL: the request has none). */
static struct subject *subject_for(struct scratch *s, const struct throttle_config *c, const struct throttle_limit *l,
                                   const struct throttle_input *in)
{
    bool client = l->key == THROTTLE_KEY_CLIENT;
    for (size_t i = 0; i < s->nsubj; i++) {
        struct subject *x = &s->subj[i];
        if (x->key == l->key && (!client || (x->prefix4 == l->prefix4 && x->prefix6 == l->prefix6)))
            return x->ok ? x : NULL;
    }
    /* full (many prefix lengths): the last slot is reused, which only costs its memo */
    struct subject *x = &s->subj[s->nsubj < SUBJECTS_MAX ? s->nsubj++ : SUBJECTS_MAX - 1];
    x->key = l->key;
    x->prefix4 = l->prefix4;
    x->prefix6 = l->prefix6;
    x->ok = throttle_subject(l, in, x->text, sizeof x->text) == 0;
    x->allowed = x->ok && throttle_map_size(c->map) && throttle_map_allowed(c->map, x->text);
    x->reset_known = false;
    return x->ok ? x : NULL;
}

static void add_hit(struct throttle_decision *out, size_t i, const struct throttle_limit *eff, enum throttle_tier t,
                    uint64_t used, uint64_t tried, const char *subject)
{
    size_t slot = out->nhits;
    if (slot == THROTTLE_HITS_MAX) {
        /* full: replace the lowest hit below this one (never the worst) */
        slot = SIZE_MAX;
        for (size_t k = 0; k < out->nhits; k++)
            if (out->hits[k].tier < t && (slot == SIZE_MAX || out->hits[k].tier < out->hits[slot].tier)) slot = k;
        if (slot == SIZE_MAX) return;
    } else {
        out->nhits++;
    }
    struct throttle_hit *h = &out->hits[slot];
    h->limit = i;
    h->eff = *eff;
    h->tier = t;
    h->used = used;
    h->tried = tried;
    h->capacity = throttle_limit_capacity(eff);
    snprintf(h->subject, sizeof h->subject, "%s", subject);
}

enum throttle_tier throttle_check(const struct throttle_config *c, const struct throttle_input *in, int64_t now_ms,
                                  const struct throttle_store *st, struct throttle_decision *out)
{
    memset(out, 0, sizeof *out);
    scratch_begin(&scratch, c, now_ms, st);
    for (size_t i = 0; i < c->nlimits; i++) {
        const struct throttle_limit *l = &c->limits[i];
        struct throttle_limit eff;
        struct subject *sj;
        if (!applies(l, in) || !(sj = subject_for(&scratch, c, l, in)) || !effective(c, l, sj->text, sj->allowed, &eff))
            continue;
        if (!sj->reset_known) {
            sj->reset = reset_of(&scratch, sj->text, st);
            sj->reset_known = true;
        }
        uint64_t used, tried;
        usage_of(&scratch, &eff, sj->text, sj->reset, now_ms, st, false, &used, &tried);
        enum throttle_tier t = throttle_tier_of(&eff, used, tried, in->amount[l->measure]);
        if (t != THROTTLE_NONE) add_hit(out, i, &eff, t, used, tried, sj->text);
    }
    for (size_t k = 0; k < out->nhits; k++)
        if (out->hits[k].tier > out->tier) {
            out->tier = out->hits[k].tier;
            out->worst = k;
        }
    return out->tier;
}

void throttle_commit(const struct throttle_config *c, const struct throttle_input *in, enum throttle_tier tier,
                     int64_t now_ms, const struct throttle_store *st)
{
    /* One counter per (measure, service, subject): limits sharing it are counted once. */
    char done[CACHE_MAX][SG_KEY_MAX + 1];
    size_t ndone = 0;
    bool refused = tier > THROTTLE_WARN;
    scratch.nsubj = 0;
    for (size_t i = 0; i < c->nlimits; i++) {
        const struct throttle_limit *l = &c->limits[i];
        char key[SG_KEY_MAX + 1];
        uint64_t n = in->amount[l->measure];
        struct subject *sj;
        if (!n || !applies(l, in) || !(sj = subject_for(&scratch, c, l, in)) ||
            throttle_counter_key(l->measure, in->service, refused, sj->text, key, sizeof key) < 0)
            continue;
        bool seen = false;
        for (size_t k = 0; k < ndone && !seen; k++) seen = !strcmp(done[k], key);
        if (seen) continue;
        if (ndone < CACHE_MAX) memcpy(done[ndone++], key, strlen(key) + 1);
        st->add(st->arg, key, n, now_ms);
    }
}

int throttle_reset(const char *subject, int64_t now_ms, const struct throttle_store *st)
{
    char key[SG_KEY_MAX + 1];
    struct sg_subject s;
    if (sg_subject_parse(subject, &s) < 0 || sg_evidence_format(SG_SCOPE_THROTTLE_RESET, &s, key, sizeof key) < 0)
        return -1;
    st->add(st->arg, key, 1, now_ms);
    return 0;
}

static bool takes(const struct throttle_limit *l, const struct sg_subject *s)
{
    switch (l->key) {
    case THROTTLE_KEY_USER: return s->type == SG_SUBJ_USER;
    case THROTTLE_KEY_SENDER: return s->type == SG_SUBJ_SENDER;
    case THROTTLE_KEY_DOMAIN: return s->type == SG_SUBJ_DOMAIN;
    case THROTTLE_KEY_CLIENT:
        return (s->type == SG_SUBJ_IP || s->type == SG_SUBJ_NET) &&
               s->len == (s->family == AF_INET ? l->prefix4 : l->prefix6);
    default: return false;
    }
}

int throttle_usage(const struct throttle_config *c, size_t i, const char *subject, int64_t now_ms,
                   const struct throttle_store *st, uint64_t *used, uint64_t *tried, uint64_t *capacity,
                   enum throttle_tier *next)
{
    struct sg_subject s;
    struct throttle_limit eff;
    if (i >= c->nlimits || sg_subject_parse(subject, &s) < 0 || !takes(&c->limits[i], &s) ||
        !effective(c, &c->limits[i], subject, throttle_map_allowed(c->map, subject), &eff))
        return -1;
    scratch_begin(&scratch, c, now_ms, st);
    usage_of(&scratch, &eff, subject, reset_of(&scratch, subject, st), now_ms, st, true, used, tried);
    *capacity = throttle_limit_capacity(&eff);
    *next = throttle_tier_of(&eff, *used, *tried, 1);
    return 0;
}
