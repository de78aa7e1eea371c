/* agent_allow.c: cluster-wide allows (`sgcluster allow`): the allow records of the replicated state
 * become the enforcement guard's replicated entries on every node, so no node decides, accepts from
 * the CLI or puts into the kernel a ban they cover; covered bans leave the kernel when an allow
 * arrives and come back when it ends. */
#include "agent/agent.h"
#include "agent/util.h"
#include "common/key.h"

#include <inttypes.h>
#include <stdlib.h>
#include <string.h>

struct allow_set {
    struct enforce_prefix *v;
    size_t n, cap;
    int64_t now, next_expiry;
};

static void push(struct allow_set *s, const struct enforce_prefix *p)
{
    if (s->n == s->cap) {
        s->cap = s->cap ? s->cap * 2 : 8;
        s->v = sg_xrealloc(s->v, s->cap * sizeof *s->v);
    }
    s->v[s->n++] = *p;
}

/* The address or prefix of a record of kind (block or allow), into *p; false for other records. */
static bool record_prefix(const struct gossip_ban *b, enum sg_record_kind kind, struct enforce_prefix *p)
{
    struct sg_key k;
    return b->kind == kind && sg_key_parse(b->key, &k) == 0 && k.kind == kind &&
           enforce_prefix_parse(k.subj.value, p) == 0;
}

static void collect_allow(const struct gossip_ban *b, void *arg)
{
    struct allow_set *s = arg;
    struct enforce_prefix p;
    if (b->action != GOSSIP_BAN_ACTION_BAN || b->expires_at <= s->now || !record_prefix(b, SG_REC_ALLOW, &p)) return;
    push(s, &p);
    if (!s->next_expiry || b->expires_at < s->next_expiry) s->next_expiry = b->expires_at;
}

static bool overlaps(const struct enforce_prefix *a, const struct enforce_prefix *b)
{
    return enforce_prefix_contains(a, b) || enforce_prefix_contains(b, a);
}

static bool in_set(const struct enforce_prefix *v, size_t n, const struct enforce_prefix *p)
{
    for (size_t i = 0; i < n; i++)
        if (!enforce_prefix_cmp(&v[i], p)) return true;
    return false;
}

struct reapply {
    struct agent *a;
    const struct allow_set *changed;
    int64_t now;
    size_t lifted, restored;
};

/* An active block ban overlapping an allow that came or went: out of the kernel while an allow
 * covers it, back in when none does (the guard decides, as for any ban). */
static void reapply_block(const struct gossip_ban *b, void *arg)
{
    struct reapply *r = arg;
    struct enforce_prefix p;
    if (b->action != GOSSIP_BAN_ACTION_BAN || b->expires_at <= r->now || !record_prefix(b, SG_REC_BLOCK, &p)) return;
    bool touched = false;
    for (size_t i = 0; i < r->changed->n && !touched; i++) touched = overlaps(&r->changed->v[i], &p);
    if (!touched) return;
    if (enforce_guard_check(enforce_guard(r->a->enf), &p, NULL, 0)) {
        enforce_unban(r->a->enf, &p);
        r->lifted++;
    } else {
        int64_t left = (b->expires_at - r->now + 999) / 1000;
        enforce_ban(r->a->enf, &p, (uint32_t)(left > 0 ? left : 1));
        r->restored++;
    }
}

void agent_allow_sync(struct agent *a)
{
    if (!a->enf) return;
    struct allow_set now = {.now = sg_now_ms()};
    gossip_state_ban_foreach(a->st, collect_allow, &now);
    struct allow_set changed = {0};
    for (size_t i = 0; i < now.n; i++)
        if (!in_set(a->allows, a->nallows, &now.v[i])) push(&changed, &now.v[i]);
    for (size_t i = 0; i < a->nallows; i++)
        if (!in_set(now.v, now.n, &a->allows[i])) push(&changed, &a->allows[i]);
    /* Always set: a reload brings a new enforcement front end whose guard has none yet. */
    enforce_set_shared_allows(a->enf, now.v, now.n);
    if (changed.n) {
        struct reapply r = {.a = a, .changed = &changed, .now = now.now};
        gossip_state_ban_foreach(a->st, reapply_block, &r);
        sg_log(SG_LOG_NOTICE, "allows: %zu in force (%zu changed); %zu covered bans out of the kernel, %zu back in",
               now.n, changed.n, r.lifted, r.restored);
    }
    free(changed.v);
    free(a->allows);
    a->allows = now.v;
    a->nallows = now.n;
    a->allow_next_expiry_ms = now.next_expiry;
}

struct lift {
    const struct enforce_prefix *allow;
    int64_t now;
    char (*keys)[GOSSIP_KEY_MAX + 1];
    size_t n, cap;
};

static void collect_covered(const struct gossip_ban *b, void *arg)
{
    struct lift *l = arg;
    struct enforce_prefix p;
    if (b->action != GOSSIP_BAN_ACTION_BAN || b->expires_at <= l->now || !record_prefix(b, SG_REC_BLOCK, &p) ||
        !overlaps(l->allow, &p))
        return;
    if (l->n == l->cap) {
        l->cap = l->cap ? l->cap * 2 : 16;
        l->keys = sg_xrealloc(l->keys, l->cap * sizeof *l->keys);
    }
    memcpy(l->keys[l->n++], b->key, sizeof l->keys[0]);
}

size_t agent_allow_lift(struct agent *a, const struct enforce_prefix *allow, const char *allow_key)
{
    struct lift l = {.allow = allow, .now = sg_now_ms()};
    gossip_state_ban_foreach(a->st, collect_covered, &l);   /* collect, then write: foreach forbids changes */
    char reason[GOSSIP_REASON_MAX + 1];
    snprintf(reason, sizeof reason, "lifted by %.60s (operator on %.40s)", allow_key, a->cfg->node_name);
    size_t lifted = 0;
    for (size_t i = 0; i < l.n; i++) {
        struct gossip_ban_spec spec = {.key = l.keys[i], .action = GOSSIP_BAN_ACTION_UNBAN, .reason = reason,
                                       .scenario = "manual"};
        if (gossip_state_ban_put(a->st, &spec, l.now, NULL) == 0) lifted++;
    }
    free(l.keys);
    return lifted;
}
