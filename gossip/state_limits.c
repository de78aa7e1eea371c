/* state_limits.c: the bounds every ban record keeps, whoever wrote it (a peer, the scenario engine
 * or the operator): clean text, a typed key that matches its kind, a bounded lifetime, no prefix
 * wider than the minimum, and per-author budgets of records held and address space blocked per
 * hour. Cheap checks run before any signature check; budgets only once the author is proven. */
#include "gossip/state_int.h"

#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>

#include "agent/util.h"
#include "common/key.h"
#include "common/text.h"

#define HOUR_MS 3600000LL
#define DAY_MS (24 * HOUR_MS)

static const char *const refusal_names[GOSSIP_REFUSE_MAX] = {
    [GOSSIP_REFUSE_TEXT] = "bad_text",
    [GOSSIP_REFUSE_KEY] = "bad_key",
    [GOSSIP_REFUSE_TTL] = "too_long",
    [GOSSIP_REFUSE_PREFIX] = "too_wide",
    [GOSSIP_REFUSE_RECORDS] = "author_records",
    [GOSSIP_REFUSE_SPAN] = "author_span",
    [GOSSIP_REFUSE_FOREIGN_SLOT] = "foreign_slot",
};

const char *gossip_refusal_name(enum gossip_refusal r)
{
    return (unsigned)r < GOSSIP_REFUSE_MAX ? refusal_names[r] : "?";
}

void gossip_record_limits_default(struct gossip_record_limits *l)
{
    memset(l, 0, sizeof *l);
    l->max_ttl_ms[GOSSIP_BAN_KIND_BLOCK] = 30 * DAY_MS;
    l->max_ttl_ms[GOSSIP_BAN_KIND_THROTTLE] = 7 * DAY_MS;
    l->max_ttl_ms[GOSSIP_BAN_KIND_HOLD] = 30 * DAY_MS;
    l->max_ttl_ms[GOSSIP_BAN_KIND_OFFENSE] = 30 * DAY_MS;
    l->max_ttl_ms[GOSSIP_BAN_KIND_ALLOW] = 365 * DAY_MS;
    l->unban_grace_ms = HOUR_MS;
    l->author_max_records = 250000;   /* a quarter of the ban map (max_keys): no one author fills it */
    l->author_max_span_per_hour = 262144;
    l->min_prefix4 = SG_MIN_PREFIX4_DEFAULT;
    l->min_prefix6 = SG_MIN_PREFIX6_DEFAULT;
}

int64_t gossip_state_max_ttl(const struct gossip_state *st, uint8_t action, uint8_t kind)
{
    const struct gossip_record_limits *l = &st->cfg.limits;
    if (action == GOSSIP_BAN_ACTION_BAN && kind >= GOSSIP_BAN_KIND_BLOCK && kind <= GOSSIP_BAN_KIND_MAX)
        return l->max_ttl_ms[kind];
    /* An unban of a known kind: the longest of the bans (allows are far longer-lived and only an
     * unallow may reach their length); kind 0 (sizing the budget rings): the longest of all. */
    int64_t m = 0;
    for (int k = GOSSIP_BAN_KIND_BLOCK; k <= GOSSIP_BAN_KIND_MAX; k++) {
        if (k == GOSSIP_BAN_KIND_ALLOW && kind != 0 && kind != GOSSIP_BAN_KIND_ALLOW) continue;
        if (l->max_ttl_ms[k] > m) m = l->max_ttl_ms[k];
    }
    return m;
}

int gossip_state_refuse(struct gossip_state *st, enum gossip_refusal r, const char *key, uint64_t author)
{
    uint64_t n = ++st->refused[r];
    /* At counts 1, 2, 4, 8...: visible, but a flood cannot fill the journal. */
    if ((n & (n - 1)) == 0) {
        const struct gossip_peer_key *who = gossip_keyring_find(st->kr, author);
        char esc[GOSSIP_KEY_MAX * 4 + 1];
        sg_log(SG_LOG_WARN, "gossip: refused %s from %s: %s (%llu so far)",
               sg_text_escape(key ? key : "?", esc, sizeof esc), who ? who->name : "an unknown author",
               gossip_refusal_name(r), (unsigned long long)n);
    }
    return -1;
}

bool gossip_state_record_ok(const struct gossip_state *st, const struct gossip_ban *b, enum gossip_refusal *why)
{
    if (!sg_text_clean(b->key, strlen(b->key)) || !sg_text_clean(b->reason, strlen(b->reason)) ||
        !sg_text_clean(b->scenario, strlen(b->scenario))) {
        *why = GOSSIP_REFUSE_TEXT;
        return false;
    }
    struct sg_key k;
    if (sg_key_parse(b->key, &k) < 0 || (int)k.kind != b->kind) {
        *why = GOSSIP_REFUSE_KEY;
        return false;
    }
    if (b->expires_at - (int64_t)GOSSIP_HLC_MS(b->hlc) > gossip_state_max_ttl(st, b->action, b->kind)) {
        *why = GOSSIP_REFUSE_TTL;
        return false;
    }
    /* An unban of a wide prefix harms nobody; a ban of one does, and so does an allow (it would turn
     * off protection for that whole space on every node). */
    if (b->action == GOSSIP_BAN_ACTION_BAN && k.subj.type == SG_SUBJ_NET &&
        k.subj.len < (k.subj.family == AF_INET ? st->cfg.limits.min_prefix4 : st->cfg.limits.min_prefix6)) {
        *why = GOSSIP_REFUSE_PREFIX;
        return false;
    }
    return true;
}

int gossip_state_record_check(struct gossip_state *st, const struct gossip_ban *b)
{
    enum gossip_refusal why;
    return gossip_state_record_ok(st, b, &why) ? 0 : gossip_state_refuse(st, why, b->key, b->author);
}

/* Hours an author's ring must hold: a record stamped longer ago than its longest lifetime and the
 * grace is refused as expired, so a ring that long never wraps onto a live hour. */
static size_t ring_hours(const struct gossip_state *st)
{
    return (size_t)((gossip_state_max_ttl(st, GOSSIP_BAN_ACTION_UNBAN, 0) + st->cfg.ban_grace_ms) / HOUR_MS) + 2;
}

void gossip_state_set_limits(struct gossip_state *st, const struct gossip_record_limits *l)
{
    st->cfg.limits = *l;
    size_t n = ring_hours(st);
    for (size_t i = 0; i < st->n_authors; i++) {
        struct gossip_author *a = &st->authors[i];
        if (a->nhours == n) continue;
        struct gossip_author_hour *h = sg_xcalloc(n, sizeof *h);
        for (size_t j = 0; j < a->nhours; j++) {
            struct gossip_author_hour *to = &h[(size_t)(a->hours[j].hour / HOUR_MS) % n];
            if (a->hours[j].span && a->hours[j].hour > to->hour) *to = a->hours[j];
        }
        free(a->hours);
        a->hours = h;
        a->nhours = n;
    }
}

static struct gossip_author *author_get(struct gossip_state *st, uint64_t origin)
{
    for (size_t i = 0; i < st->n_authors; i++)
        if (st->authors[i].origin == origin) return &st->authors[i];
    st->authors = sg_xrealloc(st->authors, (st->n_authors + 1) * sizeof *st->authors);
    struct gossip_author *a = &st->authors[st->n_authors++];
    memset(a, 0, sizeof *a);
    a->origin = origin;
    a->nhours = ring_hours(st);
    a->hours = sg_xcalloc(a->nhours, sizeof *a->hours);
    return a;
}

void gossip_state_author_count(struct gossip_state *st, uint64_t author, int delta)
{
    struct gossip_author *a = author_get(st, author);
    if (delta > 0) a->records++;
    else if (a->records > 0) a->records--;
}

int gossip_state_budget_charge(struct gossip_state *st, const struct gossip_ban *b, const struct gossip_ban *cur)
{
    const struct gossip_record_limits *l = &st->cfg.limits;
    struct gossip_author *a = author_get(st, b->author);
    if ((!cur || cur->author != b->author) && a->records >= l->author_max_records)
        return gossip_state_refuse(st, GOSSIP_REFUSE_RECORDS, b->key, b->author);
    if (b->action != GOSSIP_BAN_ACTION_BAN || b->kind != GOSSIP_BAN_KIND_BLOCK) return 0;
    struct sg_key k;
    if (sg_key_parse(b->key, &k) < 0) return gossip_state_refuse(st, GOSSIP_REFUSE_KEY, b->key, b->author);
    int64_t t = (int64_t)GOSSIP_HLC_MS(b->hlc);
    int64_t hour = t - t % HOUR_MS;
    struct gossip_author_hour *h = &a->hours[(size_t)(hour / HOUR_MS) % a->nhours];
    if (h->hour != hour) *h = (struct gossip_author_hour){.hour = hour};
    uint64_t span = sg_subject_span(&k.subj);
    if (span > l->author_max_span_per_hour || h->span > l->author_max_span_per_hour - span)
        return gossip_state_refuse(st, GOSSIP_REFUSE_SPAN, b->key, b->author);
    h->span += span;
    return 0;
}

void gossip_state_authors_free(struct gossip_state *st)
{
    for (size_t i = 0; i < st->n_authors; i++) free(st->authors[i].hours);
    free(st->authors);
    st->authors = NULL;
    st->n_authors = 0;
}
