/* throttle_check.c: a whole request against every sending limit through a store (throttle.h):
 * each counter read once per request, then every limit evaluated; counting, resets and usage.
 * A steady sender's counters hold a slot every 10 s over the longest window (8640 for a day), so
 * nothing per limit may walk them: windows are summed from each counter's running sums (binary
 * search), and buckets merge only the slots inside the longest bucket horizon, once per request. */
#include "enforce/throttle.h"
#include "agent/util.h"
#include "common/key.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>

/* Where a request's counters are read to: one arena per thread, spans into it per subject. */
struct span {
    uint32_t off, n;
    bool known;
    int64_t from;                     /* merged spans: cells starting before this were left out */
};

/* A request's subject for one kind of key (client keys: per prefix), worked out once, with its
 * counters as read (raw: [measure][submission, smtp][let through, refused]) and as the limits
 * see them (mix: [measure][service of the limit][used, tried], merged, with running sums). */
struct subject {
    enum throttle_key key;
    uint8_t prefix4, prefix6;
    bool ok, allowed, reset_known;
    int64_t reset;
    char text[256];
    struct span raw[THROTTLE_MEASURE_COUNT][2][2];
    struct span mix[THROTTLE_MEASURE_COUNT][THROTTLE_SVC_COUNT][2];
    int done;                         /* throttle_commit: its index among the subject texts (-1: not yet) */
};
#define SUBJECTS_MAX 16

struct scratch {
    int64_t lo, hi;                   /* every read covers the slots of [lo, hi] */
    int64_t bucket_lo;                /* the first slot a bucket of the configuration can see */
    size_t nsubj;
    struct subject subj[SUBJECTS_MAX];
    struct throttle_cell *cells;      /* the arena */
    uint64_t *cum;                    /* running sums of merged spans, parallel to cells */
    size_t cap, used;
    /* what subj[] was worked out from: throttle_commit after throttle_check of equal strings reuses
     * it (subjects depend on nothing else); copies, so a changed input is never mistaken for it */
    bool in_valid;
    char in_user[256], in_sender[256], in_client[128];
};

static __thread struct scratch scratch;

static int64_t floor_to(int64_t t, int64_t w)
{
    int64_t r = t % w;
    if (r < 0) r += w;
    return t - r;
}

/* Starts a request. */
static void scratch_begin(struct scratch *s, const struct throttle_config *c, int64_t now_ms,
                          const struct throttle_store *st)
{
    s->hi = floor_to(now_ms, st->slot_ms);
    s->lo = floor_to(now_ms - throttle_config_horizon_ms(c), st->slot_ms);
    s->bucket_lo = floor_to(now_ms - c->bucket_horizon_ms, st->slot_ms);
    s->nsubj = 0;
    s->used = 0;
    s->in_valid = false;
}

static bool fits_copy(char *dst, size_t size, const char *src)
{
    size_t n = strlen(src ? src : "");
    if (n >= size) return false;
    memcpy(dst, src ? src : "", n + 1);
    return true;
}

static bool same_text(const char *memo, const char *v) { return !strcmp(memo, v ? v : ""); }

/* Remembers the strings of in that the subjects about to be worked out come from. */
static void scratch_input(struct scratch *s, const struct throttle_input *in)
{
    s->in_valid = fits_copy(s->in_user, sizeof s->in_user, in->user) &&
                  fits_copy(s->in_sender, sizeof s->in_sender, in->sender) &&
                  fits_copy(s->in_client, sizeof s->in_client, in->client);
}

/* True when the subjects in s were worked out from in's strings. */
static bool scratch_same_input(const struct scratch *s, const struct throttle_input *in)
{
    return s->in_valid && same_text(s->in_user, in->user) && same_text(s->in_sender, in->sender) &&
           same_text(s->in_client, in->client);
}

static void ensure(struct scratch *s, size_t extra)
{
    if (s->cap - s->used >= extra) return;
    size_t cap = 2 * (s->used + extra);
    s->cells = sg_xrealloc(s->cells, cap * sizeof *s->cells);
    s->cum = sg_xrealloc(s->cum, cap * sizeof *s->cum);
    s->cap = cap;
}

static uint64_t sat_add(uint64_t a, uint64_t b) { return a + b < a ? UINT64_MAX : a + b; }

/* Reads key's slots into the arena, with their running sums. */
static struct span read_key(struct scratch *s, const char *key, const struct throttle_store *st)
{
    size_t want = (size_t)((s->hi - s->lo) / st->slot_ms + 1);
    if (want > THROTTLE_SLOTS_MAX) want = THROTTLE_SLOTS_MAX;
    ensure(s, want);
    struct span sp = {(uint32_t)s->used, 0, true, 0};
    sp.n = (uint32_t)st->slots(st->arg, key, s->lo, s->hi, s->cells + s->used, want);
    uint64_t sum = 0;
    for (uint32_t i = 0; i < sp.n; i++) s->cum[sp.off + i] = sum = sat_add(sum, s->cells[sp.off + i].n);
    s->used += sp.n;
    return sp;
}

static struct span raw_of(struct scratch *s, struct subject *sj, enum throttle_measure m, int svc, int refused,
                          const struct throttle_store *st)
{
    struct span *sp = &sj->raw[m][svc - THROTTLE_SVC_SUBMISSION][refused];
    if (!sp->known) {
        char key[SG_KEY_MAX + 1];
        if (throttle_counter_key(m, (enum throttle_service)svc, refused, sj->text, key, sizeof key) < 0)
            *sp = (struct span){(uint32_t)s->used, 0, true, 0};
        else
            *sp = read_key(s, key, st);
    }
    return *sp;
}

/* The raw counters a limit of (m, svc) sees for sj: let through only, or let through and refused;
 * into in[4], returns how many. */
static size_t spans_of(struct scratch *s, struct subject *sj, enum throttle_measure m, enum throttle_service svc,
                       int tried, const struct throttle_store *st, struct span in[4])
{
    size_t k = 0;
    for (int r = 0; r <= tried; r++)
        for (int v = THROTTLE_SVC_SUBMISSION; v <= THROTTLE_SVC_SMTP; v++)
            if (svc == THROTTLE_SVC_ANY || (int)svc == v) in[k++] = raw_of(s, sj, m, v, r, st);
    return k;
}

static struct throttle_slots view(const struct scratch *s, struct span sp, int64_t slot_ms, bool cum)
{
    return (struct throttle_slots){.slot_ms = slot_ms, .n = sp.n, .c = s->cells + sp.off,
                                   .cum = cum ? s->cum + sp.off : NULL};
}

/* A window over several counters is the (saturating) sum of its sum over each: no merge needed. */
static uint64_t window_used(struct scratch *s, const struct throttle_limit *eff, struct subject *sj, int tried,
                            int64_t now_ms, const struct throttle_store *st)
{
    struct span in[4];
    size_t k = spans_of(s, sj, eff->measure, eff->service, tried, st, in);
    uint64_t sum = 0;
    for (size_t i = 0; i < k; i++) {
        if (!in[i].n) continue;       /* nothing counted: nothing in any window */
        struct throttle_slots sl = view(s, in[i], st->slot_ms, true);
        sum = sat_add(sum, throttle_used(eff, &sl, sj->reset, now_ms));
    }
    return sum;
}

/* Index of the first cell of sp starting at or after t. */
static uint32_t first_from(const struct scratch *s, struct span sp, int64_t t)
{
    uint32_t lo = 0, hi = sp.n;
    while (lo < hi) {
        uint32_t mid = lo + (hi - lo) / 2;
        if (s->cells[sp.off + mid].start < t) lo = mid + 1;
        else hi = mid;
    }
    return lo;
}

/* The merged slots a bucket of (m, svc) sees for sj, from the slot holding `from` on (the slots
 * before it end before the bucket starts: throttle_used would skip them). Merged once per request
 * and kept for every bucket that starts no earlier. */
static struct throttle_slots mix_of(struct scratch *s, struct subject *sj, enum throttle_measure m,
                                    enum throttle_service svc, int tried, int64_t from,
                                    const struct throttle_store *st)
{
    from = floor_to(from, st->slot_ms);
    struct span *sp = &sj->mix[m][svc][tried];
    if (!sp->known || sp->from > from) {
        struct span in[4];
        size_t k = spans_of(s, sj, m, svc, tried, st, in), total = 0;
        for (size_t i = 0; i < k; i++) {
            uint32_t f = first_from(s, in[i], from);
            in[i].off += f;
            in[i].n -= f;
            total += in[i].n;
        }
        if (k == 1) {
            *sp = in[0];              /* one counter: its cells as they are */
        } else {
            ensure(s, total ? total : 1);   /* pointers into the arena only from here on */
            size_t pos[4] = {0}, n = 0, out = s->used;
            for (;;) {
                int64_t next = INT64_MAX;
                for (size_t i = 0; i < k; i++)
                    if (pos[i] < in[i].n && s->cells[in[i].off + pos[i]].start < next)
                        next = s->cells[in[i].off + pos[i]].start;
                if (next == INT64_MAX) break;
                struct throttle_cell cell = {next, 0};
                for (size_t i = 0; i < k; i++)
                    if (pos[i] < in[i].n && s->cells[in[i].off + pos[i]].start == next)
                        cell.n = sat_add(cell.n, s->cells[in[i].off + pos[i]++].n);
                s->cells[out + n++] = cell;
            }
            *sp = (struct span){(uint32_t)out, (uint32_t)n, true, 0};
            s->used += n;
        }
        sp->known = true;
        sp->from = from;
    }
    return view(s, *sp, st->slot_ms, false);
}

/* End of the newest slot in which subject was reset, 0 when none. */
static int64_t reset_of(struct scratch *s, const char *subject, const struct throttle_store *st)
{
    char key[SG_KEY_MAX + 1];
    if (sg_evidence_format_text(SG_SCOPE_THROTTLE_RESET, subject, key, sizeof key) < 0) return 0;
    struct span sp = read_key(s, key, st);
    return sp.n ? s->cells[sp.off + sp.n - 1].start + st->slot_ms : 0;
}

/* *used (let through) and *tried (let through and refused) of eff for sj at now. A bucket sees
 * the slots from bucket_from on (at most its horizon before now). */
static void usage_of(struct scratch *s, const struct throttle_limit *eff, struct subject *sj, int64_t now_ms,
                     int64_t bucket_from, const struct throttle_store *st, bool need_tried, uint64_t *used,
                     uint64_t *tried)
{
    if (!sj->reset_known) {
        sj->reset = reset_of(s, sj->text, st);
        sj->reset_known = true;
    }
    /* hold and reject compare what was tried; without them the refused slots need not be read */
    bool both = need_tried || eff->pct[THROTTLE_HOLD] || eff->pct[THROTTLE_REJECT];
    for (int t = 0; t <= (int)both; t++) {
        uint64_t u;
        if (eff->bucket) {
            struct throttle_slots sl = mix_of(s, sj, eff->measure, eff->service, t, bucket_from, st);
            u = throttle_used(eff, &sl, sj->reset, now_ms);
        } else {
            u = window_used(s, eff, sj, t, now_ms, st);
        }
        *(t ? tried : used) = u;
    }
    if (!both) *tried = *used;
}

/* Where eff, a bucket, starts reading: the configuration's own buckets all start at or after
 * bucket_lo; an override may make one reach further back. */
static int64_t bucket_from(const struct scratch *s, const struct throttle_limit *l, const struct throttle_limit *eff,
                           int64_t now_ms)
{
    if (!eff->bucket) return s->hi;
    return eff == l ? s->bucket_lo : now_ms - throttle_limit_horizon_ms(eff);
}

static bool applies(const struct throttle_limit *l, const struct throttle_input *in)
{
    return l->service == THROTTLE_SVC_ANY || l->service == in->service;
}

/* The effective limit for subject: l itself, or l as overridden written into *buf (NULL:
 * allowlisted or turned off for it). No copy without an override: it is most of the limits of
 * most requests. */
static const struct throttle_limit *effective(const struct throttle_config *c, const struct throttle_limit *l,
                                              const char *subject, bool allowed, struct throttle_limit *buf)
{
    if (allowed) return NULL;
    if (!throttle_map_size(c->map)) return l;
    const struct throttle_override *o = throttle_map_find(c->map, subject, l->name);
    if (!o) return l;
    return throttle_limit_apply(l, o, buf) ? buf : NULL;
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
    x->done = -1;
    memset(x->raw, 0, sizeof x->raw);
    memset(x->mix, 0, sizeof x->mix);
    return x->ok ? x : NULL;
}

static void add_hit(struct throttle_decision *out, size_t i, const struct throttle_limit *eff, enum throttle_tier t,
                    uint64_t used, uint64_t tried, uint64_t amount, const char *subject)
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
    h->amount = amount ? amount : 1;
    h->capacity = throttle_limit_capacity(eff);
    size_t n = strnlen(subject, sizeof h->subject - 1);   /* what snprintf "%s" kept, without printf */
    memcpy(h->subject, subject, n);
    h->subject[n] = '\0';
}

enum throttle_tier throttle_check(const struct throttle_config *c, const struct throttle_input *in, int64_t now_ms,
                                  const struct throttle_store *st, struct throttle_decision *out)
{
    memset(out, 0, sizeof *out);
    scratch_begin(&scratch, c, now_ms, st);
    scratch_input(&scratch, in);
    for (size_t i = 0; i < c->nlimits; i++) {
        const struct throttle_limit *l = &c->limits[i], *eff;
        struct throttle_limit buf;
        struct subject *sj;
        if (!applies(l, in) || !(sj = subject_for(&scratch, c, l, in)) ||
            !(eff = effective(c, l, sj->text, sj->allowed, &buf)))
            continue;
        uint64_t used, tried;
        usage_of(&scratch, eff, sj, now_ms, bucket_from(&scratch, l, eff, now_ms), st, false, &used, &tried);
        enum throttle_tier t = throttle_tier_of(eff, used, tried, in->amount[l->measure]);
        if (t != THROTTLE_NONE) add_hit(out, i, eff, t, used, tried, in->amount[l->measure], sj->text);
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
    /* One counter per (measure, service, subject): limits sharing it are counted once, also when
     * two kinds of key give the same subject (prefix=24/64 and prefix=24/56 on IPv4). */
    char done[SUBJECTS_MAX][256];
    uint8_t measures[SUBJECTS_MAX] = {0};
    size_t ndone = 0;
    bool refused = tier > THROTTLE_WARN;
    if (!scratch_same_input(&scratch, in)) {
        scratch.nsubj = 0;
        scratch_input(&scratch, in);
    }
    for (size_t i = 0; i < scratch.nsubj; i++) scratch.subj[i].done = -1;
    for (size_t i = 0; i < c->nlimits; i++) {
        const struct throttle_limit *l = &c->limits[i];
        char key[SG_KEY_MAX + 1];
        uint64_t n = in->amount[l->measure];
        struct subject *sj;
        if (!n || !applies(l, in) || !(sj = subject_for(&scratch, c, l, in))) continue;
        size_t k = 0;
        if (sj->done >= 0) {
            k = (size_t)sj->done;
        } else {
            while (k < ndone && strcmp(done[k], sj->text)) k++;
            if (k == ndone && ndone < SUBJECTS_MAX) memcpy(done[ndone++], sj->text, strlen(sj->text) + 1);
            if (k < SUBJECTS_MAX) sj->done = (int)k;   /* a full list is searched every time, as it grows no more */
        }
        if (k < SUBJECTS_MAX && (measures[k] & (1u << l->measure))) continue;
        if (k < SUBJECTS_MAX) measures[k] |= (uint8_t)(1u << l->measure);
        if (throttle_counter_key(l->measure, in->service, refused, sj->text, key, sizeof key) == 0)
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
    struct throttle_limit buf;
    const struct throttle_limit *eff;
    if (i >= c->nlimits || sg_subject_parse(subject, &s) < 0 || !takes(&c->limits[i], &s) ||
        !(eff = effective(c, &c->limits[i], subject, throttle_map_allowed(c->map, subject), &buf)))
        return -1;
    scratch_begin(&scratch, c, now_ms, st);
    struct subject *sj = &scratch.subj[scratch.nsubj++];
    memset(sj, 0, sizeof *sj);
    sj->ok = true;
    snprintf(sj->text, sizeof sj->text, "%s", subject);
    usage_of(&scratch, eff, sj, now_ms, bucket_from(&scratch, &c->limits[i], eff, now_ms), st, true, used, tried);
    *capacity = throttle_limit_capacity(eff);
    *next = throttle_tier_of(eff, *used, *tried, 1);
    return 0;
}
