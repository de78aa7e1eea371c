/* agent_throttle.c: the policy service's sending limits on the agent: their store (the replicated
 * gossip counters), deduplicated notifications, and `sgcluster quota` (show and reset). */
#include "agent/agent.h"
#include "agent/agent_throttle.h"
#include "agent/json.h"
#include "agent/util.h"
#include "common/key.h"
#include "common/text.h"

#include <arpa/inet.h>
#include <inttypes.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define NOTES_MAX 100000   /* remembered notifications; past it the memory is cleared (a repeat line at worst) */

static __thread struct gossip_bucket_sum *sums;
static __thread size_t sums_cap;

static size_t store_slots(void *arg, const char *key, int64_t lo, int64_t hi, struct throttle_cell *out, size_t max)
{
    struct agent *a = arg;
    if (sums_cap < max) {
        sums = sg_xrealloc(sums, max * sizeof *sums);
        sums_cap = max;
    }
    size_t n = gossip_state_counter_buckets(a->st, key, lo, hi, sums, max);
    /* the same two numbers in the same places: one copy of a day of slots, not a loop over them */
    _Static_assert(sizeof(struct throttle_cell) == sizeof(struct gossip_bucket_sum) &&
                       offsetof(struct throttle_cell, start) == offsetof(struct gossip_bucket_sum, bucket) &&
                       offsetof(struct throttle_cell, n) == offsetof(struct gossip_bucket_sum, count),
                   "throttle_cell and gossip_bucket_sum differ");
    if (n) memcpy(out, sums, n * sizeof *out);
    return n;
}

static void store_add(void *arg, const char *key, uint64_t n, int64_t now_ms)
{
    struct agent *a = arg;
    if (gossip_state_counter_add(a->st, key, n, now_ms) < 0) sg_log(SG_LOG_WARN, "throttle: cannot count key %s", key);
}

struct throttle_store agent_throttle_store(struct agent *a)
{
    return (struct throttle_store){.slot_ms = gossip_state_bucket_ms(a->st), .slots = store_slots, .add = store_add,
                                   .arg = a};
}

/* The period a notification is remembered for: the limit's window, or a bucket's refill period. */
static int64_t period_of(const struct throttle_limit *l)
{
    int64_t p = l->bucket ? l->per_ms : l->window_ms;
    return p > 0 ? p : 1;
}

/* v in decimal into buf[24] (what "%" PRId64 writes): notes run for every hit of every request. */
static char *decimal(int64_t v, char *buf)
{
    char *p = buf + 23;
    uint64_t u = v < 0 ? 0 - (uint64_t)v : (uint64_t)v;
    *p = '\0';
    do *--p = (char)('0' + u % 10);
    while (u /= 10);
    if (v < 0) *--p = '-';
    return p;
}

/* "NAME|SUBJECT|TIER" into buf[size] (size > THROTTLE_NAME_MAX + 256 + 4). */
static void note_key(const struct throttle_hit *h, char *buf, size_t size)
{
    size_t a = strnlen(h->eff.name, sizeof h->eff.name), b = strnlen(h->subject, sizeof h->subject);
    if (a + b + 4 > size) b = size - a - 4;
    memcpy(buf, h->eff.name, a);
    buf[a] = '|';
    memcpy(buf + a + 1, h->subject, b);
    buf[a + 1 + b] = '|';
    buf[a + 2 + b] = (char)('0' + (int)h->tier);
    buf[a + 3 + b] = '\0';
}

void agent_throttle_note(struct agent *a, const struct throttle_decision *d, int64_t now_ms)
{
    if (!a->throttle_notes) {
        a->throttle_notes = zhashx_new();
        if (!a->throttle_notes) sg_oom();
        zhashx_set_destructor(a->throttle_notes, (zhashx_destructor_fn *)zstr_free);
        zhashx_set_duplicator(a->throttle_notes, (zhashx_duplicator_fn *)strdup);
    }
    for (size_t i = 0; i < d->nhits; i++) {
        const struct throttle_hit *h = &d->hits[i];
        a->n.throttle[h->tier]++;
        /* one line per (limit, subject, tier) and period: not one per message or recipient */
        char key[512], pbuf[24];
        note_key(h, key, sizeof key);
        char *period = decimal(now_ms / period_of(&h->eff), pbuf);
        const char *seen = zhashx_lookup(a->throttle_notes, key);
        if (seen && !strcmp(seen, period)) continue;
        if (zhashx_size(a->throttle_notes) >= NOTES_MAX) zhashx_purge(a->throttle_notes);
        zhashx_update(a->throttle_notes, key, period);
        char subj[600];
        sg_text_escape(h->subject, subj, sizeof subj);
        bool hi = h->tier >= THROTTLE_HOLD;
        sg_log(h->tier == THROTTLE_WARN ? SG_LOG_NOTICE : SG_LOG_WARN,
               "throttle %s: %s over limit %s: %" PRIu64 " of %" PRIu64 " %s with this message (%s, %s%s)",
               throttle_tier_name(h->tier), subj, h->eff.name, (hi ? h->tried : h->used) + h->amount, h->capacity,
               throttle_measure_name(h->eff.measure),
               h->eff.bucket ? "bucket" : "window", hi ? "let through and refused, " : "", "cluster-wide");
    }
}

/* The subjects a target names, one per limit (NULL when the limit does not take it). */
static int target_input(const char *target, struct throttle_input *in, struct sg_subject *explicit_subj,
                        bool *is_explicit)
{
    memset(in, 0, sizeof *in);
    *is_explicit = sg_subject_parse(target, explicit_subj) == 0;
    if (*is_explicit) return 0;
    unsigned char buf[16];
    if (inet_pton(AF_INET, target, buf) == 1 || inet_pton(AF_INET6, target, buf) == 1) {
        in->client = target;
        return 0;
    }
    if (!*target || !sg_text_clean(target, strlen(target))) return -1;
    in->user = target;
    if (strchr(target, '@')) in->sender = target;
    return 0;
}

static int limit_subject(const struct throttle_limit *l, const char *target, char *subj, size_t size)
{
    struct throttle_input in;
    struct sg_subject s;
    bool is_explicit;
    if (target_input(target, &in, &s, &is_explicit) < 0) return -1;
    if (is_explicit) return sg_subject_format(&s, subj, size);
    return throttle_subject(l, &in, subj, size);
}

static void row(FILE *out, bool json, bool *first, const struct throttle_limit *l, const char *subj, uint64_t used,
                uint64_t tried, uint64_t cap, enum throttle_tier next)
{
    char spec[THROTTLE_SPEC_MAX];
    if (throttle_limit_format(l, spec, sizeof spec) < 0) spec[0] = '\0';
    unsigned pct = cap ? (unsigned)((long double)used * 100 / (long double)cap) : 0;
    if (json) {
        fputs(*first ? "" : ",", out);
        fputs("{\"limit\":", out);
        json_str(out, l->name);
        fputs(",\"subject\":", out);
        json_str(out, subj);
        fprintf(out, ",\"measure\":\"%s\",\"service\":\"%s\",\"kind\":\"%s\",\"used\":%" PRIu64 ",\"tried\":%" PRIu64
                     ",\"max\":%" PRIu64 ",\"percent\":%u,\"next\":\"%s\",\"spec\":",
                throttle_measure_name(l->measure), throttle_service_name(l->service), l->bucket ? "bucket" : "window",
                used, tried, cap, pct, throttle_tier_name(next));
        json_str(out, spec);
        fputc('}', out);
    } else {
        char esc[300];
        fprintf(out, "%-20s %-32s %-10s %-10s %10" PRIu64 " %10" PRIu64 " %10" PRIu64 " %5u%%  %s\n", l->name,
                sg_text_escape(subj, esc, sizeof esc), throttle_measure_name(l->measure),
                throttle_service_name(l->service), used, tried, cap, pct, throttle_tier_name(next));
    }
    *first = false;
}

int agent_throttle_quota(struct agent *a, int argc, char **argv, bool json, FILE *out)
{
    bool reset = argc == 3 && !strcmp(argv[1], "--reset");
    if (argc != 2 && !reset) {
        fprintf(out, "usage: quota [--reset] USER|ADDR|SUBJECT (user:U, from:S, dom:D, ip:A, net:P)\n");
        return 2;
    }
    const char *target = argv[argc - 1];
    const struct throttle_config *c = a->cfg->throttle;
    struct throttle_store st = agent_throttle_store(a);
    int64_t now = sg_now_ms();
    char subjects[THROTTLE_LIMITS_MAX][256];
    size_t nsubj = 0;
    bool first = true;
    if (json && !reset) fputc('[', out);
    else if (!reset)
        fprintf(out, "%-20s %-32s %-10s %-10s %10s %10s %10s %6s  %s\n", "LIMIT", "SUBJECT", "MEASURE", "SERVICE",
                "USED", "TRIED", "MAX", "USE", "NEXT");
    for (size_t i = 0; i < c->nlimits; i++) {
        char subj[256];
        if (limit_subject(&c->limits[i], target, subj, sizeof subj) < 0) continue;
        bool seen = false;
        for (size_t k = 0; k < nsubj && !seen; k++) seen = !strcmp(subjects[k], subj);
        if (!seen) memcpy(subjects[nsubj++], subj, strlen(subj) + 1);
        uint64_t used, tried, cap;
        enum throttle_tier next;
        if (reset || throttle_usage(c, i, subj, now, &st, &used, &tried, &cap, &next) < 0) continue;
        row(out, json, &first, &c->limits[i], subj, used, tried, cap, next);
    }
    if (!reset) {
        if (json) fputs("]\n", out);
        else if (first) fprintf(out, "(no limit applies to %s: not a subject of any limit, allowlisted or turned off)\n", target);
        return 0;
    }
    if (!nsubj) {
        fprintf(out, "no limit applies to '%s'\n", target);
        return 1;
    }
    for (size_t k = 0; k < nsubj; k++) {
        if (throttle_reset(subjects[k], now, &st) < 0) continue;
        char esc[300];
        sg_log(SG_LOG_NOTICE, "operator reset the sending limits of %s (cluster-wide)", sg_text_escape(subjects[k], esc, sizeof esc));
        fprintf(out, "reset %s\n", esc);
    }
    agent_gossip_notify(a);
    return 0;
}
