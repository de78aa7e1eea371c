/* state_ban.c: the last-writer-wins ban map: local writes (stamped, signed), remote merges
 * (verified against the author's key), tombstones and their collection. */
#include "gossip/state_int.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "agent/util.h"
#include "common/key.h"

/* Total order on records of one key: hlc, then author, then signature bytes, so that two replicas
 * holding different records always pick the same winner. */
static int ban_order(const struct gossip_ban *a, const struct gossip_ban *b)
{
    if (a->hlc != b->hlc) return a->hlc < b->hlc ? -1 : 1;
    if (a->author != b->author) return a->author < b->author ? -1 : 1;
    return memcmp(a->sig, b->sig, GOSSIP_SIG_LEN);
}

/* Our own records verify against our own key even when the keyring lacks it (a snapshot reload).
 * Reads only the record, st->self and the keyring: worker threads call it too (state_verify.c). */
bool gossip_state_ban_authentic(const struct gossip_state *st, const struct gossip_ban *b)
{
    if (b->author != st->self->origin) return gossip_ban_verify(b, st->kr);
    if (!gossip_ban_valid(b)) return false;
    uint8_t buf[GOSSIP_BAN_CANON_MAX];
    size_t n = gossip_ban_canonical(b, buf);
    return gossip_verify(st->self->pk, buf, n, b->sig);
}

/* One of our records from a snapshot an older sgagent wrote: signed over the version 1 layout, offense
 * memory stored as a block. Re-signed as version 2, its kind taken from its key, into *out. */
static bool migrate_v1(const struct gossip_state *st, const struct gossip_ban *b, struct gossip_ban *out)
{
    uint8_t buf[GOSSIP_BAN_CANON_MAX];
    if (b->author != st->self->origin || !gossip_ban_valid(b) ||
        !gossip_verify(st->self->pk, buf, gossip_ban_canonical_v1(b, buf), b->sig))
        return false;
    *out = *b;
    struct sg_key k;
    if (sg_key_parse(b->key, &k) == 0 && (k.kind == SG_REC_OFFENSE || b->action == GOSSIP_BAN_ACTION_UNBAN))
        out->kind = (uint8_t)k.kind;
    gossip_ban_sign(out, st->self);
    return true;
}

static struct gossip_bkey *bkey_find(const struct gossip_state *st, const char *key)
{
    return gossip_table_get(&st->bans, key, gossip_table_hash(key));
}

static void drop_bkey(struct gossip_state *st, struct gossip_bkey *k)
{
    gossip_state_author_count(st, k->rec.author, -1);
    gossip_state_digest_adjust(st, k->h.hash, gossip_state_ban_hash(&k->rec), 0);
    gossip_state_unmark(&st->dirty_b, &k->h);
    gossip_table_del(&st->bans, k);
    free(k);
}

/* True when a goes before b out of a full ban map: the one expiring first, a tombstone before a ban
 * when they tie, then by key, so that the choice does not depend on where a table placed them (each
 * table places by its own secret key). */
static bool evicts_before(const struct gossip_bkey *a, const struct gossip_bkey *b)
{
    if (a->rec.expires_at != b->rec.expires_at) return a->rec.expires_at < b->rec.expires_at;
    bool ta = a->rec.action == GOSSIP_BAN_ACTION_UNBAN, tb = b->rec.action == GOSSIP_BAN_ACTION_UNBAN;
    if (ta != tb) return ta;
    return strcmp(a->rec.key, b->rec.key) < 0;
}

/* Ban map full: the first by evicts_before goes. O(n), but only when max_keys records exist, which
 * the agent's own limits should never reach. */
static void evict_ban(struct gossip_state *st)
{
    struct gossip_bkey *victim = NULL;
    for (size_t i = 0; i < st->bans.cap; i++) {
        struct gossip_bkey *k = st->bans.slots[i];
        if (k && (!victim || evicts_before(k, victim))) victim = k;
    }
    if (victim) {
        drop_bkey(st, victim);
        st->evicted++;
    }
}

/* Stores rec as the key's record (it already won), queues it for the next delta (when queue is set)
 * and reports it. */
static void store(struct gossip_state *st, struct gossip_bkey *k, const struct gossip_ban *rec, bool queue)
{
    if (!k) {
        if (st->bans.n >= st->cfg.max_keys) evict_ban(st);
        k = sg_xcalloc(1, sizeof *k);
        k->rec = *rec;
        k->keep_until = rec->expires_at;
        k->h.hash = gossip_table_hash(rec->key);
        gossip_table_put(&st->bans, k);
        gossip_state_digest_adjust(st, k->h.hash, 0, gossip_state_ban_hash(rec));
        gossip_state_author_count(st, rec->author, 1);
    } else {
        gossip_state_digest_adjust(st, k->h.hash, gossip_state_ban_hash(&k->rec), gossip_state_ban_hash(rec));
        gossip_state_author_count(st, k->rec.author, -1);
        gossip_state_author_count(st, rec->author, 1);
        k->rec = *rec;
        if (rec->expires_at > k->keep_until) k->keep_until = rec->expires_at;
    }
    if (queue) gossip_state_mark(&st->dirty_b, &k->h);
    else gossip_state_unmark(&st->dirty_b, &k->h);   /* a record it replaced no longer goes out */
    if (st->ban_cb) st->ban_cb(&k->rec, st->ban_cb_arg);
}

int gossip_state_ban_put(struct gossip_state *st, const struct gossip_ban_spec *spec, int64_t now_ms,
                         struct gossip_ban *out)
{
    if (!spec || !spec->key || !spec->key[0] || strlen(spec->key) > GOSSIP_KEY_MAX) return -1;
    if (spec->action != GOSSIP_BAN_ACTION_BAN && spec->action != GOSSIP_BAN_ACTION_UNBAN) return -1;
    struct gossip_bkey *k = bkey_find(st, spec->key);
    struct gossip_ban r;
    memset(&r, 0, sizeof r);
    snprintf(r.key, sizeof r.key, "%s", spec->key);
    snprintf(r.reason, sizeof r.reason, "%s", spec->reason ? spec->reason : "");
    snprintf(r.scenario, sizeof r.scenario, "%s", spec->scenario ? spec->scenario : "");
    r.action = spec->action;
    r.level = spec->level;
    r.hlc = gossip_hlc_now(&st->hlc, now_ms);
    r.author = st->self->origin;
    if (spec->action == GOSSIP_BAN_ACTION_BAN) {
        if (spec->kind < GOSSIP_BAN_KIND_BLOCK || spec->kind > GOSSIP_BAN_KIND_MAX || spec->expires_at <= now_ms)
            return -1;
        r.kind = spec->kind;
        int64_t max_exp = (int64_t)GOSSIP_HLC_MS(r.hlc) + gossip_state_max_ttl(st, r.action, r.kind);
        r.expires_at = spec->expires_at < max_exp ? spec->expires_at : max_exp;
    } else {
        /* The kind is the key's: an unban cancels whatever that key holds. */
        struct sg_key tk;
        r.kind = k ? k->rec.kind : sg_key_parse(spec->key, &tk) == 0 ? (uint8_t)tk.kind : GOSSIP_BAN_KIND_BLOCK;
        int64_t max_exp = (int64_t)GOSSIP_HLC_MS(r.hlc) + gossip_state_max_ttl(st, r.action, r.kind);
        /* The tombstone must outlive the ban it cancels, or a late copy of that ban would come back;
         * how long it keeps decisions away is unban_grace_ms (gossip_state_ban_settled). */
        int64_t exp = spec->expires_at;
        if (k && k->rec.expires_at > exp) exp = k->rec.expires_at;
        if (exp <= now_ms) exp = now_ms + st->cfg.window_max_ms;
        r.expires_at = exp < max_exp ? exp : max_exp;
    }
    if (gossip_state_record_check(st, &r) < 0 || gossip_state_budget_charge(st, &r, k ? &k->rec : NULL) < 0)
        return -1;
    gossip_ban_sign(&r, st->self);
    store(st, k, &r, true);
    if (out) *out = r;
    return 0;
}

/* Whether b is authentic: the verdict *sig when one was reached before (on a worker thread, or earlier
 * in this merge), else checked here and remembered in *sig. */
static bool verdict(const struct gossip_state *st, const struct gossip_ban *b, enum gossip_sig *sig)
{
    if (*sig == GOSSIP_SIG_UNKNOWN) *sig = gossip_state_ban_authentic(st, b) ? GOSSIP_SIG_OK : GOSSIP_SIG_BAD;
    return *sig == GOSSIP_SIG_OK;
}

/* What merging b would do, given what the map holds for its key (k, may be NULL), before any signature
 * check: the rules of gossip_state_merge_ban, which gossip_state_ban_needs_check shares. */
enum ban_fate {
    FATE_EXPIRED,        /* past its grace */
    FATE_FUTURE,         /* stamped too far ahead */
    FATE_RECORD,         /* outside the record limits (*why) */
    FATE_IGNORED,        /* a duplicate or a loser: nothing to do */
    FATE_LOSER_OUTLIVES, /* a loser that outlives what is kept: extends the keep if authentic */
    FATE_WINNER,         /* new, or beats what is held: stored if authentic and within the budgets */
};

static enum ban_fate ban_fate(const struct gossip_state *st, const struct gossip_ban *b, const struct gossip_bkey *k,
                              int64_t now_ms, enum gossip_refusal *why)
{
    /* An expired record is still taken within the grace: it may supersede a live one elsewhere. */
    if (b->expires_at + st->cfg.ban_grace_ms <= now_ms) return FATE_EXPIRED;
    if (!gossip_hlc_acceptable(&st->hlc, b->hlc, now_ms)) return FATE_FUTURE;
    /* A duplicate of what we hold passed these checks already. Otherwise the bounds come first: they
     * cost no signature check, and a record outside them may not even extend a winner's keep. */
    int order = k ? ban_order(b, &k->rec) : 1;
    if (order != 0 && !gossip_state_record_ok(st, b, why)) return FATE_RECORD;
    /* Compare first: duplicates and losers cost no signature check. A loser that outlives the winner
     * extends how long the winner is kept, so the loser cannot win later by outliving it. */
    if (order <= 0) return b->expires_at > k->keep_until ? FATE_LOSER_OUTLIVES : FATE_IGNORED;
    return FATE_WINNER;
}

bool gossip_state_ban_vouched(const struct gossip_ban *b, uint64_t sender, unsigned flags)
{
    return (flags & GOSSIP_MERGE_SENDER_SIGNED) && b->author == sender;
}

bool gossip_state_ban_needs_check(const struct gossip_state *st, const struct gossip_ban *b, unsigned flags,
                                  int64_t now_ms)
{
    /* Checked first of all, to tell an old-format record of ours to migrate (gossip_state_merge_ban). */
    if ((flags & GOSSIP_MERGE_RESTORE) && b->author == st->self->origin) return true;
    enum gossip_refusal why;
    enum ban_fate f = ban_fate(st, b, bkey_find(st, b->key), now_ms, &why);
    return f == FATE_LOSER_OUTLIVES || f == FATE_WINNER;
}

int gossip_state_merge_ban(struct gossip_state *st, const struct gossip_ban *b, unsigned flags, int64_t now_ms,
                           enum gossip_sig sig, bool vouched, struct gossip_merge_result *res)
{
    struct gossip_ban migrated;
    if ((flags & GOSSIP_MERGE_RESTORE) && b->author == st->self->origin && !verdict(st, b, &sig) &&
        migrate_v1(st, b, &migrated)) {
        b = &migrated;
        sig = GOSSIP_SIG_UNKNOWN;   /* the verdict was the old record's */
    }
    struct gossip_bkey *k = bkey_find(st, b->key);
    enum gossip_refusal why;
    switch (ban_fate(st, b, k, now_ms, &why)) {
    case FATE_EXPIRED:
        res->rej_expired++;
        return -1;
    case FATE_FUTURE:
        res->rej_future++;
        return -1;
    case FATE_RECORD:
        gossip_state_refuse(st, why, b->key, b->author);
        res->rej_record++;
        return -1;
    case FATE_IGNORED:
        return 0;
    case FATE_LOSER_OUTLIVES:
        if (verdict(st, b, &sig)) k->keep_until = b->expires_at;
        return 0;
    case FATE_WINNER:
        break;
    }
    if (!verdict(st, b, &sig)) {
        res->rej_ban_sig++;
        return -1;
    }
    if (gossip_state_budget_charge(st, b, k ? &k->rec : NULL) < 0) {
        res->rej_record++;
        return -1;
    }
    gossip_hlc_observe(&st->hlc, b->hlc, now_ms);
    store(st, k, b, !vouched);
    res->bans_changed++;
    return 1;
}

size_t gossip_state_expire_bans(struct gossip_state *st, int64_t now_ms, size_t from, size_t to)
{
    size_t dropped = 0;
    for (size_t i = from; i < to && i < st->bans.cap;) {
        struct gossip_bkey *k = st->bans.slots[i];
        if (k && k->keep_until + st->cfg.ban_grace_ms <= now_ms) {
            drop_bkey(st, k);
            dropped++;
        } else {
            i++;
        }
    }
    return dropped;
}

const struct gossip_ban *gossip_state_ban_get(const struct gossip_state *st, const char *key)
{
    if (!key || strnlen(key, GOSSIP_KEY_MAX + 1) > GOSSIP_KEY_MAX) return NULL;
    const struct gossip_bkey *k = bkey_find(st, key);
    return k ? &k->rec : NULL;
}

bool gossip_state_ban_settled(const struct gossip_state *st, const char *key, int64_t now_ms)
{
    const struct gossip_ban *b = gossip_state_ban_get(st, key);
    if (!b) return false;
    if (b->action == GOSSIP_BAN_ACTION_BAN) return b->expires_at > now_ms;
    return (int64_t)GOSSIP_HLC_MS(b->hlc) + st->cfg.limits.unban_grace_ms > now_ms;
}

const struct gossip_ban *gossip_state_ban_active(const struct gossip_state *st, const char *key, int64_t now_ms)
{
    const struct gossip_ban *b = gossip_state_ban_get(st, key);
    return b && b->action == GOSSIP_BAN_ACTION_BAN && b->expires_at > now_ms ? b : NULL;
}

void gossip_state_ban_foreach(const struct gossip_state *st, void (*fn)(const struct gossip_ban *b, void *arg),
                              void *arg)
{
    for (size_t i = 0; i < st->bans.cap; i++) {
        const struct gossip_bkey *k = st->bans.slots[i];
        if (k) fn(&k->rec, arg);
    }
}

void gossip_state_set_ban_cb(struct gossip_state *st, gossip_ban_cb cb, void *arg)
{
    st->ban_cb = cb;
    st->ban_cb_arg = arg;
}
