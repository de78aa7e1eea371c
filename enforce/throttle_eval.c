/* throttle_eval.c: the pure maths of sending limits (throttle.h): window sums and token buckets
 * from slot sums, tiers, counter keys and subjects, and the reply text of a decision. */
#include "enforce/throttle.h"
#include "common/key.h"
#include "enforce/enforce.h"

#include <ctype.h>
#include <sys/socket.h>
#include <stdio.h>
#include <string.h>

static int64_t floor_to(int64_t t, int64_t w)
{
    int64_t r = t % w;
    if (r < 0) r += w;
    return t - r;
}

/* A window of W covers ceil(W/slot) slots ending with the one that holds now (gossip's rule). */
static int64_t window_lo(int64_t window_ms, int64_t slot_ms, int64_t now_ms)
{
    int64_t n = (window_ms + slot_ms - 1) / slot_ms;
    if (n < 1) n = 1;
    return floor_to(now_ms, slot_ms) - (n - 1) * slot_ms;
}

/* Index of the first cell starting at or after t (n when none). */
static size_t first_at_or_after(const struct throttle_slots *s, int64_t t)
{
    size_t lo = 0, hi = s->n;
    while (lo < hi) {
        size_t mid = (lo + hi) / 2;
        if (s->c[mid].start < t) lo = mid + 1;
        else hi = mid;
    }
    return lo;
}

/* throttle_limit_horizon_ms of a bucket, remembered per thread by the numbers it is a function
 * of (burst, top tier, rate, period): the policy service asks it for every limit of every request,
 * and its long double division is most of a bucket's evaluation. A pure memo: never stale. */
#define HORIZON_SETS 64
#define HORIZON_WAYS 4
struct horizon_memo {
    uint64_t debt, rate;
    int64_t per_ms, horizon_ms;
    bool set;
};
static __thread struct horizon_memo horizon_memo[HORIZON_SETS][HORIZON_WAYS];
static __thread unsigned horizon_next;   /* the way replaced next (round robin) */

static int64_t bucket_horizon_ms(const struct throttle_limit *l, uint64_t debt)
{
    uint64_t h = debt * 0x9E3779B97F4A7C15u ^ l->rate * 0xC2B2AE3D27D4EB4Fu ^ (uint64_t)l->per_ms;
    struct horizon_memo *set = horizon_memo[(h ^ h >> 29) % HORIZON_SETS];
    for (int w = 0; w < HORIZON_WAYS; w++)
        if (set[w].set && set[w].debt == debt && set[w].rate == l->rate && set[w].per_ms == l->per_ms)
            return set[w].horizon_ms;
    struct horizon_memo *m = &set[horizon_next++ % HORIZON_WAYS];
    *m = (struct horizon_memo){debt, l->rate, l->per_ms, throttle_limit_horizon_ms(l), true};
    return m->horizon_ms;
}

uint64_t throttle_used(const struct throttle_limit *l, const struct throttle_slots *s, int64_t reset_ms,
                       int64_t now_ms)
{
    if (s->slot_ms <= 0) return 0;
    int64_t hi = floor_to(now_ms, s->slot_ms);
    if (!l->bucket) {
        int64_t lo = window_lo(l->window_ms, s->slot_ms, now_ms);
        if (s->cum && s->n && s->cum[s->n - 1] != UINT64_MAX) {
            /* the cells counted start in [max(lo, reset), hi] (a reset is a slot's end) */
            int64_t from = reset_ms > lo ? reset_ms : lo;
            size_t i = first_at_or_after(s, from), j = first_at_or_after(s, hi + 1);
            return j > i ? s->cum[j - 1] - (i ? s->cum[i - 1] : 0) : 0;
        }
        uint64_t sum = 0;
        for (size_t i = 0; i < s->n; i++) {
            const struct throttle_cell *c = &s->c[i];
            if (c->start < lo || c->start > hi || c->start + s->slot_ms <= reset_ms) continue;
            sum = sum + c->n < sum ? UINT64_MAX : sum + c->n;
        }
        return sum;
    }
    /* Bucket: full at start, then refill and consumption slot by slot, in the units' own scale.
     * long double keeps the sums exact far beyond any count a farm sends, and every node runs the
     * same operations in the same order on the same numbers. */
    uint64_t debt = throttle_limit_debt_max(l);
    int64_t start = now_ms - bucket_horizon_ms(l, debt);
    if (reset_ms > start) start = reset_ms;
    long double burst = (long double)l->max, floor_level = burst - (long double)debt;
    long double per_ms = (long double)l->rate / (long double)l->per_ms;
    long double level = burst;
    int64_t t = start;
    for (size_t i = 0; i < s->n; i++) {
        const struct throttle_cell *c = &s->c[i];
        if (c->start + s->slot_ms <= start || c->start > hi) continue;
        int64_t at = c->start > start ? c->start : start;
        if (at > t) {
            level += per_ms * (long double)(at - t);
            if (level > burst) level = burst;
            t = at;
        }
        level -= (long double)c->n;
        if (level < floor_level) level = floor_level;
    }
    if (now_ms > t) {
        level += per_ms * (long double)(now_ms - t);
        if (level > burst) level = burst;
    }
    long double used = burst - level;
    if (used <= 0) return 0;
    uint64_t u = (uint64_t)used;
    return (long double)u < used ? u + 1 : u;   /* a part-used unit counts as used */
}

#define EXACT_MAX ((uint64_t)1 << 40)       /* counts below which tier_of needs no long double */
#define PCT_EXACT_MAX (1u << 20)

enum throttle_tier throttle_tier_of(const struct throttle_limit *l, uint64_t used, uint64_t tried, uint64_t amount)
{
    uint64_t ai = amount ? amount : 1, capi = throttle_limit_capacity(l);
    if (used <= EXACT_MAX && tried <= EXACT_MAX && ai <= EXACT_MAX && capi <= EXACT_MAX) {
        /* small numbers (every real count): the same comparison in integers, exact like the long
         * double one below is for them (all products stay below 2^63) */
        for (int t = THROTTLE_REJECT; t >= THROTTLE_WARN; t--) {
            uint64_t projected = (t >= THROTTLE_HOLD ? tried : used) + ai;
            if (l->pct[t] && l->pct[t] <= PCT_EXACT_MAX && projected * 100 > (uint64_t)l->pct[t] * capi)
                return (enum throttle_tier)t;
            if (l->pct[t] > PCT_EXACT_MAX) goto slow;
        }
        return THROTTLE_NONE;
    }
slow:;
    long double a = (long double)ai, cap = (long double)capi;
    for (int t = THROTTLE_REJECT; t >= THROTTLE_WARN; t--) {
        long double projected = (long double)(t >= THROTTLE_HOLD ? tried : used) + a;
        if (l->pct[t] && projected * 100 > (long double)l->pct[t] * cap) return (enum throttle_tier)t;
    }
    return THROTTLE_NONE;
}

/* ---- configuration -------------------------------------------------------------------------- */

void throttle_config_init(struct throttle_config *c)
{
    memset(c, 0, sizeof *c);
    c->map = throttle_map_new();
}

void throttle_config_release(struct throttle_config *c)
{
    throttle_map_destroy(&c->map);
    c->nlimits = 0;
}

int throttle_config_add(struct throttle_config *c, const struct throttle_limit *l, char *err, size_t size)
{
    for (size_t i = 0; i < c->nlimits; i++)
        if (!strcmp(c->limits[i].name, l->name)) {
            snprintf(err, size, "limit '%s' defined twice", l->name);
            return -1;
        }
    if (c->nlimits >= THROTTLE_LIMITS_MAX) {
        snprintf(err, size, "more than %d limits", THROTTLE_LIMITS_MAX);
        return -1;
    }
    c->limits[c->nlimits++] = *l;
    int64_t h = throttle_limit_horizon_ms(l);
    if (h > c->horizon_ms) c->horizon_ms = h;
    if (l->bucket && h > c->bucket_horizon_ms) c->bucket_horizon_ms = h;
    return 0;
}

int64_t throttle_config_horizon_ms(const struct throttle_config *c) { return c->horizon_ms; }

/* ---- keys ----------------------------------------------------------------------------------- */

/* Scopes by [measure][service][refused]: SG_SCOPE_THROTTLE "MEASURE-SERVICE[-no]". */
#define SCOPES(m) {{SG_SCOPE_THROTTLE m "-any", SG_SCOPE_THROTTLE m "-any-no"}, \
                   {SG_SCOPE_THROTTLE m "-sub", SG_SCOPE_THROTTLE m "-sub-no"}, \
                   {SG_SCOPE_THROTTLE m "-smtp", SG_SCOPE_THROTTLE m "-smtp-no"}}
static const char *const scopes[THROTTLE_MEASURE_COUNT][THROTTLE_SVC_COUNT][2] = {SCOPES("msg"), SCOPES("rcpt"),
                                                                                   SCOPES("bytes")};

int throttle_counter_key(enum throttle_measure m, enum throttle_service s, bool refused, const char *subject,
                         char *buf, size_t size)
{
    if ((unsigned)m >= THROTTLE_MEASURE_COUNT || (unsigned)s >= THROTTLE_SVC_COUNT) return -1;
    return sg_evidence_format_text(scopes[m][s][refused], subject, buf, size);
}

static int subject_text(enum sg_subject_type type, const char *value, char *buf, size_t size)
{
    struct sg_subject s;
    return sg_subject_set(&s, type, value) < 0 ? -1 : sg_subject_format(&s, buf, size);
}

int throttle_subject(const struct throttle_limit *l, const struct throttle_input *in, char *buf, size_t size)
{
    char low[SG_KEY_MAX + 1];
    const char *v;
    switch (l->key) {
    case THROTTLE_KEY_USER:
        return in->user && *in->user ? subject_text(SG_SUBJ_USER, in->user, buf, size) : -1;
    case THROTTLE_KEY_SENDER:
    case THROTTLE_KEY_DOMAIN: {
        v = in->sender ? in->sender : "";
        if (l->key == THROTTLE_KEY_DOMAIN) {
            const char *at = strrchr(v, '@');
            if (!at) return -1;
            v = at + 1;
        }
        size_t n = strlen(v);
        if (n == 0 || n >= sizeof low) return -1;
        for (size_t i = 0; i <= n; i++) low[i] = (char)tolower((unsigned char)v[i]);
        return subject_text(l->key == THROTTLE_KEY_DOMAIN ? SG_SUBJ_DOMAIN : SG_SUBJ_SENDER, low, buf, size);
    }
    case THROTTLE_KEY_CLIENT: {
        struct enforce_prefix p;
        char a[ENFORCE_PREFIX_STRLEN + 8];
        if (!in->client || enforce_prefix_parse(in->client, &p) < 0 || p.len != (p.family == AF_INET ? 32 : 128))
            return -1;
        char full[ENFORCE_PREFIX_STRLEN + 80];
        enforce_prefix_format(&p, a, sizeof a);
        snprintf(full, sizeof full, "%s/%u", a, (unsigned)(p.family == AF_INET ? l->prefix4 : l->prefix6));
        struct enforce_prefix m;
        if (enforce_prefix_parse(full, &m) < 0) return -1;   /* clears the host bits */
        enforce_prefix_format(&m, a, sizeof a);
        bool whole = m.len == (m.family == AF_INET ? 32 : 128);
        if (!whole && !strchr(a, '/')) return -1;
        return subject_text(whole ? SG_SUBJ_IP : SG_SUBJ_NET, a, buf, size);
    }
    default:
        return -1;
    }
}

/* Appends s to out[*len] (size > *len), control characters as spaces. */
static void append(char *out, size_t size, size_t *len, const char *s, size_t n)
{
    for (size_t i = 0; i < n && *len + 1 < size; i++) {
        unsigned char ch = (unsigned char)s[i];
        out[(*len)++] = ch < 0x20 || ch == 0x7f ? ' ' : (char)ch;
    }
    out[*len] = '\0';
}

static void window_text(const struct throttle_limit *l, char *buf, size_t size)
{
    int64_t ms = l->bucket ? l->per_ms : l->window_ms, s = ms / 1000;
    const char *unit = s % 86400 == 0 ? "d" : s % 3600 == 0 ? "h" : s % 60 == 0 ? "m" : "s";
    int64_t div = *unit == 'd' ? 86400 : *unit == 'h' ? 3600 : *unit == 'm' ? 60 : 1;
    if (l->bucket) snprintf(buf, size, "%llu per %lld%s", (unsigned long long)l->rate, (long long)(s / div), unit);
    else snprintf(buf, size, "%lld%s", (long long)(s / div), unit);
}

int throttle_action(const struct throttle_hit *h, char *out, size_t size)
{
    static const char *const verbs[THROTTLE_TIER_COUNT] = {"DUNNO", "DUNNO", "DEFER_IF_PERMIT 4.7.1 ", "HOLD ",
                                                           "REJECT 5.7.1 "};
    if (size < 64) return -1;
    size_t len = 0;
    out[0] = '\0';
    enum throttle_tier t = h ? h->tier : THROTTLE_NONE;
    append(out, size, &len, verbs[t], strlen(verbs[t]));
    if (t < THROTTLE_DEFER) return 0;
    const char *tpl = h->eff.text[0] ? h->eff.text : "Sending limit %{limit} reached: %{count} of %{max} %{measure} per %{window}, try again later";
    for (const char *p = tpl; *p;) {
        const char *v = NULL;
        char num[64];
        size_t skip = 0;
        if (p[0] != '%' || p[1] != '{') {
            /* plain text up to the next '%' in one go */
            const char *e = strchr(p + 1, '%');
            size_t n = e ? (size_t)(e - p) : strlen(p);
            append(out, size, &len, p, n);
            p += n;
            continue;
        }
        if (!strncmp(p, "%{count}", 8)) {
            snprintf(num, sizeof num, "%llu", (unsigned long long)(t >= THROTTLE_HOLD ? h->tried : h->used));
            v = num, skip = 8;
        } else if (!strncmp(p, "%{max}", 6)) {
            snprintf(num, sizeof num, "%llu", (unsigned long long)h->capacity);
            v = num, skip = 6;
        } else if (!strncmp(p, "%{limit}", 8)) {
            v = h->eff.name, skip = 8;
        } else if (!strncmp(p, "%{measure}", 10)) {
            v = throttle_measure_name(h->eff.measure), skip = 10;
        } else if (!strncmp(p, "%{window}", 9)) {
            window_text(&h->eff, num, sizeof num);
            v = num, skip = 9;
        } else if (!strncmp(p, "%{key}", 6)) {
            v = h->subject, skip = 6;
        }
        if (v) {
            append(out, size, &len, v, strlen(v));
            p += skip;
        } else {
            append(out, size, &len, p, 1);
            p++;
        }
    }
    while (len > 0 && out[len - 1] == ' ') out[--len] = '\0';
    return 0;
}
