/* enforce.c: the enforcement front end: checks the guard, queues changes, plans them against the
 * mirror of the kernel sets and hands each tick's transaction to the backend (nft or dry-run). */
#include "enforce/enforce.h"
#include "enforce/enforce_nft.h"

#include "agent/util.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>

/* The drift check looks every wanted ban up in the kernel at least once per cycle, in slices
 * spread over the ticks (a dump of the sets would stall the loop for seconds at 100k bans). */
#define VERIFY_CYCLE_MS 30000
#define VERIFY_MIN 16              /* keys per tick at least: small sets are checked every tick */
#define VERIFY_MAX 1024
#define VERIFY_MIN_LEFT_MS 5000    /* a ban about to expire is not checked: the kernel drops it first */
#define EXTRAS_DUMP_MAX 4096       /* sets up to this size are also dumped whole once a cycle */

struct enforce {
    const struct enforce_backend_ops *ops;
    void *be;
    struct enforce_guard *guard;
    struct enforce_stats stats;
    struct enforce_nft_mirror mirror;
    struct enforce_want want;        /* every ban asked for, covered ones included */
    bool ready;                      /* table, sets and chain are in place */
    bool synced;                     /* the mirror was filled from a dump */
    struct enforce_nft_queue q;
    int64_t verify_last_ms;
    int64_t extras_last_ms;          /* last whole-set check for extra elements */
    bool reconciled;                 /* a full reconcile ran: until then nothing is deleted as extra */
    uint64_t verify_budget;          /* wanted entries x ms not yet checked, in VERIFY_CYCLE_MS units */
    size_t drift_open;               /* missing bans queued again, not yet back in */
};

static int config_check(const struct enforce_config *cfg, struct enforce_config *out, uint16_t *ports)
{
    static const uint16_t defaults[] = ENFORCE_PORTS_DEFAULT;
    *out = *cfg;
    if (cfg->backend != ENFORCE_BACKEND_NFT && cfg->backend != ENFORCE_BACKEND_DRYRUN) {
        sg_log(SG_LOG_ERR, "enforce: unknown backend %d", (int)cfg->backend);
        return -1;
    }
    if (cfg->verdict != ENFORCE_DROP && cfg->verdict != ENFORCE_REJECT) {
        sg_log(SG_LOG_ERR, "enforce: unknown verdict %d", (int)cfg->verdict);
        return -1;
    }
    if (cfg->nports > ENFORCE_MAX_PORTS) {
        sg_log(SG_LOG_ERR, "enforce: %zu ports configured, at most %d", cfg->nports, ENFORCE_MAX_PORTS);
        return -1;
    }
    const uint16_t *src = cfg->nports ? cfg->ports : defaults;
    size_t n = cfg->nports ? cfg->nports : sizeof defaults / sizeof defaults[0], w = 0;
    for (size_t i = 0; i < n; i++) {
        if (src[i] == 0) {
            sg_log(SG_LOG_ERR, "enforce: port 0 in the port list");
            return -1;
        }
        bool dup = false;
        for (size_t j = 0; j < w && !dup; j++) dup = ports[j] == src[i];
        if (!dup) ports[w++] = src[i];
    }
    memcpy(out->ports, ports, w * sizeof *ports);
    out->nports = w;
    if (!out->priority) out->priority = -10;
    return 0;
}

struct enforce *enforce_new(const struct enforce_config *cfg)
{
    struct enforce_config c;
    uint16_t ports[ENFORCE_MAX_PORTS];
    if (!cfg || config_check(cfg, &c, ports) < 0) return NULL;
    struct enforce *e = sg_xcalloc(1, sizeof *e);
    enforce_nft_mirror_init(&e->mirror);
    enforce_want_init(&e->want);
    e->guard = enforce_guard_new();
    if (enforce_guard_set_min_prefix(e->guard, c.min_prefix4 ? c.min_prefix4 : SG_MIN_PREFIX4_DEFAULT,
                                     c.min_prefix6 ? c.min_prefix6 : SG_MIN_PREFIX6_DEFAULT) < 0) {
        sg_log(SG_LOG_ERR, "enforce: minimum prefix out of range (%d, %d)", c.min_prefix4, c.min_prefix6);
        goto fail;
    }
    for (size_t i = 0; i < c.nallow; i++)
        if (enforce_guard_allow(e->guard, c.allow[i]) < 0) goto fail;
    for (size_t i = 0; i < c.nnodes; i++)
        if (enforce_guard_add_node(e->guard, c.nodes[i]) < 0) goto fail;
    e->be = c.backend == ENFORCE_BACKEND_NFT ? enforce_nft_backend_new(&c, &e->stats, &e->ops)
                                             : enforce_dryrun_backend_new(&c, &e->stats, &e->ops);
    if (!e->be) goto fail;
    return e;
fail:
    enforce_destroy(&e);
    return NULL;
}

void enforce_destroy(struct enforce **ep)
{
    if (!ep || !*ep) return;
    struct enforce *e = *ep;
    if (e->be) e->ops->destroy(e->be);
    enforce_guard_destroy(&e->guard);
    enforce_nft_mirror_free(&e->mirror);
    enforce_want_free(&e->want);
    free(e->q.v);
    free(e);
    *ep = NULL;
}

int enforce_setup(struct enforce *e)
{
    if (e->ops->setup(e->be) < 0) return -1;
    e->ready = true;
    return 0;
}

static int ensure(struct enforce *e)
{
    if (!e->ready && enforce_setup(e) < 0) return -1;
    if (!e->synced) {
        struct enforce_nft_elem *els = NULL;
        size_t n = 0;
        if (e->ops->dump(e->be, &els, &n) < 0) return -1;
        enforce_nft_mirror_replace(&e->mirror, els, n);
        e->synced = true;
    }
    return 0;
}

static bool guard_refuses(struct enforce *e, const struct enforce_prefix *p)
{
    char why[128], t[ENFORCE_PREFIX_STRLEN];
    const char *r = enforce_guard_check(e->guard, p, why, sizeof why);
    if (!r) return false;
    e->stats.refused_by_guard++;
    sg_log(SG_LOG_WARN, "enforce: refused ban of %s: %s", enforce_prefix_format(p, t, sizeof t), r);
    return true;
}

int enforce_ban(struct enforce *e, const struct enforce_prefix *in, uint32_t timeout_s)
{
    struct enforce_prefix pp, *p = &pp;
    if (enforce_prefix_check(in, p) < 0) {
        e->stats.bad_input++;
        return -1;
    }
    if (guard_refuses(e, p)) return -1;
    if (timeout_s < 1) timeout_s = 1;
    if (timeout_s > ENFORCE_NFT_MAX_TIMEOUT_S) timeout_s = ENFORCE_NFT_MAX_TIMEOUT_S;
    enforce_nft_queue_push(&e->q, p, timeout_s, ENFORCE_NFT_ADD);
    return 0;
}

int enforce_ban_text(struct enforce *e, const char *text, uint32_t timeout_s)
{
    struct enforce_prefix p;
    if (enforce_prefix_parse(text, &p) < 0) {
        e->stats.bad_input++;
        sg_log(SG_LOG_WARN, "enforce: bad address '%s' in ban", text ? text : "(null)");
        return -1;
    }
    return enforce_ban(e, &p, timeout_s);
}

int enforce_unban(struct enforce *e, const struct enforce_prefix *in)
{
    struct enforce_prefix p;
    if (enforce_prefix_check(in, &p) < 0) {
        e->stats.bad_input++;
        return -1;
    }
    enforce_nft_queue_push(&e->q, &p, 0, ENFORCE_NFT_DEL);
    return 0;
}

int enforce_unban_text(struct enforce *e, const char *text)
{
    struct enforce_prefix p;
    if (enforce_prefix_parse(text, &p) < 0) {
        e->stats.bad_input++;
        sg_log(SG_LOG_WARN, "enforce: bad address '%s' in unban", text ? text : "(null)");
        return -1;
    }
    return enforce_unban(e, &p);
}

size_t enforce_pending(const struct enforce *e) { return e->q.n; }

/* Counts the results of one transaction and folds them into the mirror. */
static int account(struct enforce *e, struct enforce_nft_op *ops, size_t n)
{
    int rc = 0;
    for (size_t i = 0; i < n; i++) {
        switch (ops[i].status) {
        case ENFORCE_NFT_OK:
            if (ops[i].kind == ENFORCE_NFT_ADD) e->stats.applied++;
            else e->stats.removed++;
            break;
        case ENFORCE_NFT_GONE:
            break;
        default:
            e->stats.failed++;
            rc = -1;
        }
    }
    enforce_nft_mirror_apply(&e->mirror, ops, n, sg_mono_ms());
    return rc;
}

/* A transaction that failed as a whole (the table deleted under us, a lost ACK) leaves the
 * mirror unknown: set up and dump again before the next one. */
static bool whole_failure(const struct enforce_nft_op *ops, size_t n)
{
    for (size_t i = 0; i < n; i++)
        if (ops[i].status == ENFORCE_NFT_FAILED && (ops[i].err == EIO || ops[i].err == ENOENT)) return true;
    return false;
}

int enforce_commit(struct enforce *e)
{
    if (!e->q.n) return 0;
    if (ensure(e) < 0) return -1;   /* the queue stays for the next tick */
    /* The wanted set first: a prefix lifted here puts back the bans it covered, in this same
     * transaction. The queue is folded again (idempotent) if this commit has to wait. */
    int64_t t0 = sg_mono_ms();
    struct enforce_nft_queue q = {.seq = e->q.seq}, back = {.seq = e->q.seq};
    q.v = sg_xmalloc((q.cap = e->q.n) * sizeof *q.v);
    memcpy(q.v, e->q.v, e->q.n * sizeof *q.v);
    q.n = enforce_nft_changes_fold(q.v, e->q.n);
    enforce_want_apply(&e->want, q.v, q.n, t0, &back);
    back.n = enforce_nft_changes_fold(back.v, back.n);   /* nested prefixes ending together */
    e->stats.uncovered += back.n;
    for (size_t i = 0; i < back.n; i++) enforce_nft_queue_push(&q, &back.v[i].p, back.v[i].timeout_s, back.v[i].kind);
    free(back.v);
    int rc = -1;
    for (int attempt = 0; attempt < 2; attempt++) {
        if (attempt && ensure(e) < 0) break;
        struct enforce_nft_op *ops = NULL;
        struct enforce_nft_plan_stats ps = {0};
        struct enforce_nft_change *c = sg_xmalloc((q.n ? q.n : 1) * sizeof *c);
        memcpy(c, q.v, q.n * sizeof *c);
        size_t n = enforce_nft_plan_commit(&e->mirror, c, q.n, sg_mono_ms(), &ops, &ps);
        free(c);
        int r = n ? e->ops->apply(e->be, ops, n) : 0;
        if (r < 0 && attempt == 0 && whole_failure(ops, n)) {
            sg_log(SG_LOG_WARN, "enforce: transaction failed as a whole; setting the table up again and retrying");
            e->ready = e->synced = false;
            free(ops);
            continue;
        }
        e->stats.covered += ps.covered;
        rc = account(e, ops, n);
        if (r < 0 && whole_failure(ops, n)) e->ready = e->synced = false;
        sg_log(SG_LOG_DEBUG, "enforce: commit of %zu changes: %zu element ops in %lld ms", q.n, n,
               (long long)(sg_mono_ms() - t0));
        free(ops);
        e->q.n = 0;
        break;
    }
    free(q.v);
    if (rc == 0 && e->drift_open) {
        e->stats.drift_repaired += e->drift_open;
        e->drift_open = 0;
    }
    return rc;
}

/* Seconds left of a wanted entry, rounded up. */
static uint32_t left_s(const struct enforce_nft_elem *w, int64_t now_ms)
{
    int64_t ms = w->expires_ms - now_ms;
    return (uint32_t)(ms > 0 ? (ms + 999) / 1000 : 1);
}

/* The drift check: looks a slice of the wanted bans up in the kernel and queues again those it
 * does not hold (deleted by hand, lost with a table, refused earlier), fixing the mirror too. */
static void verify(struct enforce *e, int64_t now_ms)
{
    size_t n = e->want.set.n;
    int64_t dt = e->verify_last_ms ? now_ms - e->verify_last_ms : 0;
    e->verify_last_ms = now_ms;
    if (!n || !e->ops->lookup || !e->ready || !e->synced) return;
    e->verify_budget += (uint64_t)n * (uint64_t)(dt > 0 ? dt : 0);
    size_t k = (size_t)(e->verify_budget / VERIFY_CYCLE_MS);
    e->verify_budget %= VERIFY_CYCLE_MS;
    k = k < VERIFY_MIN ? VERIFY_MIN : k > VERIFY_MAX ? VERIFY_MAX : k;
    struct enforce_nft_elem *ws = sg_xcalloc(k, sizeof *ws);
    k = enforce_want_slice(&e->want, now_ms, VERIFY_MIN_LEFT_MS, k, ws);
    struct enforce_nft_probe *pr = sg_xcalloc(k ? k : 1, sizeof *pr);
    for (size_t i = 0; i < k; i++) pr[i].p = ws[i].p;
    size_t missing = 0;
    if (k && e->ops->lookup(e->be, pr, k) == 0) {
        /* A covering prefix the kernel let expire a moment before our clock did is no drift:
         * what it covered is simply due back. Decided for every key before the mirror is
         * fixed below, as several keys may share that prefix. */
        bool *expired_cover = sg_xcalloc(k, sizeof *expired_cover);
        for (size_t i = 0; i < k; i++) {
            const struct enforce_nft_elem *m = pr[i].found ? NULL : enforce_nft_mirror_covering(&e->mirror, &pr[i].p, now_ms);
            expired_cover[i] = m && m->p.len < pr[i].p.len && m->expires_ms && m->expires_ms - now_ms < VERIFY_MIN_LEFT_MS;
        }
        for (size_t i = 0; i < k; i++) {
            if (pr[i].found) continue;
            /* Whatever the mirror believed to hold the key (the entry itself, or a prefix
             * covering it) is not there: else the planner would refresh what is gone, or skip
             * the ban as covered. */
            const struct enforce_nft_elem *m;
            while ((m = enforce_nft_mirror_covering(&e->mirror, &pr[i].p, now_ms))) {
                struct enforce_nft_op gone = {.el = *m, .kind = ENFORCE_NFT_DEL, .status = ENFORCE_NFT_GONE};
                /* An expired cover is over in the wanted set too (else its expiry would put
                 * back, a second time, what is put back here). */
                if (expired_cover[i] && m->p.len < pr[i].p.len) {
                    struct enforce_nft_change over = {.p = m->p, .kind = ENFORCE_NFT_DEL};
                    enforce_want_apply(&e->want, &over, 1, now_ms, NULL);
                }
                enforce_nft_mirror_apply(&e->mirror, &gone, 1, now_ms);
            }
            enforce_nft_queue_push(&e->q, &pr[i].p, left_s(&ws[i], now_ms), ENFORCE_NFT_ADD);
            if (expired_cover[i]) {
                e->stats.uncovered++;
                continue;
            }
            char t[ENFORCE_PREFIX_STRLEN];
            if (missing++ < 3)
                sg_log(SG_LOG_WARN, "enforce: ban of %s is missing from the kernel set; putting it back",
                       enforce_prefix_format(&pr[i].p, t, sizeof t));
        }
        free(expired_cover);
    }
    if (missing) {
        e->stats.drift_missing += missing;
        e->drift_open += missing;
        sg_log(SG_LOG_WARN, "enforce: drift check: %zu of %zu bans checked were missing from the kernel", missing, k);
    }
    free(pr);
    free(ws);
}

static void check_extras(struct enforce *e, int64_t now_ms);

int enforce_tick(struct enforce *e)
{
    int64_t now = sg_mono_ms();
    /* The check first: a covering prefix it finds expired already is forgotten, so that its
     * expiry does not put back what it covered a second time. */
    verify(e, now);
    enforce_want_expire(&e->want, now, &e->q);
    int rc = e->q.n ? enforce_commit(e) : 0;
    check_extras(e, now);
    return rc;
}

/* A tick's queue is short; one that is not (a large sync) is not searched per event. */
#define HOLDS_QUEUE_SCAN 1024

bool enforce_holds(const struct enforce *e, const struct enforce_prefix *in)
{
    struct enforce_prefix p;
    if (enforce_prefix_check(in, &p) < 0) return false;
    /* Queued for this tick's commit: the latest change to a prefix covering p decides. */
    for (size_t i = e->q.n, k = 0; i-- > 0 && k < HOLDS_QUEUE_SCAN; k++)
        if (enforce_prefix_contains(&e->q.v[i].p, &p)) return e->q.v[i].kind == ENFORCE_NFT_ADD;
    return e->synced && enforce_nft_mirror_covering(&e->mirror, &p, sg_mono_ms()) != NULL;
}

/* Makes the sets, as the mirror holds them fresh from a dump, equal to w[0..m) (sorted and
 * folded in place). Returns 0 or -1. */
static int reconcile_sets(struct enforce *e, struct enforce_ban *w, size_t m, struct enforce_nft_plan_stats *ps)
{
    struct enforce_nft_op *ops = NULL;
    size_t nops = enforce_nft_plan_reconcile(&e->mirror, w, m, sg_mono_ms(), &ops, ps);
    int r = nops ? e->ops->apply(e->be, ops, nops) : 0;
    int rc = account(e, ops, nops);
    enforce_want_align(&e->want, &e->mirror);
    if (r < 0) rc = -1;
    if (r < 0 && whole_failure(ops, nops)) e->ready = e->synced = false;
    free(ops);
    return rc;
}

/* Extra elements (added by hand, or an unban the kernel refused) are invisible to lookups of
 * what is wanted. Only once a full reconcile said what is wanted (before it, an element the
 * kernel holds may be a ban the state has not learned back yet): a set small enough to dump cheaply (the dump costs O(n^2) in the kernel:
 * about 5 ms at 4096 elements, 3 s at 100k) is dumped whole once a cycle and made equal to
 * the wanted bans; a larger one keeps its extras until the next reconcile. No setup
 * transaction: the rules and their counters stay. Runs with the queue empty. */
static void check_extras(struct enforce *e, int64_t now_ms)
{
    if (!e->reconciled || !e->ready || !e->synced || e->q.n || now_ms - e->extras_last_ms < VERIFY_CYCLE_MS)
        return;
    e->extras_last_ms = now_ms;
    if (e->mirror.n > EXTRAS_DUMP_MAX) return;
    size_t n = 0;
    struct enforce_ban *w = sg_xcalloc(e->want.set.n + 1, sizeof *w);
    for (size_t i = 0; i < e->want.set.n; i++) {
        const struct enforce_nft_elem *x = &e->want.set.v[i];
        if (x->dead || x->expires_ms <= now_ms) continue;
        w[n].prefix = x->p;
        w[n++].timeout_s = left_s(x, now_ms);
    }
    e->synced = false;                /* ensure() reads the sets again */
    struct enforce_nft_plan_stats ps = {0};
    int rc = ensure(e) < 0 ? -1 : reconcile_sets(e, w, n, &ps);
    free(w);
    if (!ps.added && !ps.removed) return;
    e->stats.drift_missing += ps.added;
    e->stats.drift_extra += ps.removed;
    if (rc == 0) e->stats.drift_repaired += ps.added + ps.removed;
    sg_log(SG_LOG_WARN, "enforce: drift check: the kernel held %llu elements no ban wants (deleted) and lacked %llu (added)%s",
           (unsigned long long)ps.removed, (unsigned long long)ps.added, rc < 0 ? "; some failed" : "");
}

int enforce_reconcile(struct enforce *e, const struct enforce_ban *wanted, size_t n)
{
    struct enforce_ban *w = sg_xcalloc(n ? n : 1, sizeof *w);
    size_t m = 0;
    for (size_t i = 0; i < n; i++) {
        w[m] = wanted[i];
        if (enforce_prefix_check(&wanted[i].prefix, &w[m].prefix) < 0) {
            e->stats.bad_input++;
            continue;
        }
        if (guard_refuses(e, &w[m].prefix)) continue;
        if (w[m].timeout_s < 1) w[m].timeout_s = 1;
        if (w[m].timeout_s > ENFORCE_NFT_MAX_TIMEOUT_S) w[m].timeout_s = ENFORCE_NFT_MAX_TIMEOUT_S;
        m++;
    }
    e->q.n = 0;           /* the wanted list is the whole truth */
    enforce_want_replace(&e->want, w, m, sg_mono_ms());
    /* Always start from what the kernel holds now, with the table, chain and rules set up
     * again (idempotent, one small transaction): a reconcile also repairs hand edits to them. */
    e->synced = e->ready = false;
    int rc = -1;
    if (ensure(e) < 0) goto out;
    struct enforce_nft_plan_stats ps = {0};
    rc = reconcile_sets(e, w, m, &ps);
    e->reconciled = true;
    e->stats.covered += ps.covered;
    e->stats.reconciled_added += ps.added;
    e->stats.reconciled_removed += ps.removed;
    e->stats.reconciled_retimed += ps.retimed;
    if (ps.added || ps.removed || ps.retimed)
        sg_log(SG_LOG_NOTICE, "enforce: reconcile: %llu added, %llu removed, %llu re-timed%s",
               (unsigned long long)ps.added, (unsigned long long)ps.removed, (unsigned long long)ps.retimed,
               rc < 0 ? " (some failed)" : "");
out:
    free(w);
    return rc;
}

int enforce_remove_table(struct enforce *e)
{
    e->q.n = 0;
    enforce_want_free(&e->want);   /* nothing is wanted any more: the drift check must not put it back */
    enforce_want_init(&e->want);
    if (e->ops->remove(e->be) < 0) return -1;
    enforce_nft_mirror_free(&e->mirror);
    e->ready = false;
    e->synced = true;     /* nothing is left: the empty mirror is right */
    return 0;
}

void enforce_get_stats(const struct enforce *e, struct enforce_stats *out) { *out = e->stats; }

int enforce_get_kernel(struct enforce *e, struct enforce_kernel *out)
{
    if (!e->synced) {
        if (e->ops->kernel(e->be, out, true) < 0) return -1;
        out->drift = e->drift_open;
        return 0;
    }
    if (e->ops->kernel(e->be, out, false) < 0) return -1;
    out->drift = e->drift_open;
    if (!out->table_present) return 0;
    int64_t now = sg_mono_ms();
    out->set4 = enforce_nft_mirror_count(&e->mirror, AF_INET, now);
    out->set6 = enforce_nft_mirror_count(&e->mirror, AF_INET6, now);
    return 0;
}

const struct enforce_guard *enforce_guard(const struct enforce *e) { return e->guard; }

void enforce_set_shared_allows(struct enforce *e, const struct enforce_prefix *v, size_t n)
{
    enforce_guard_set_shared(e->guard, v, n);
}
