/* enforce.c: the enforcement front end: checks the guard, queues changes, plans them against the
 * mirror of the kernel sets and hands each tick's transaction to the backend (nft or dry-run). */
#include "enforce/enforce.h"
#include "enforce/enforce_nft.h"

#include "agent/util.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>

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

static bool same_strs(const char *const *a, size_t na, const char *const *b, size_t nb)
{
    if (na != nb) return false;
    for (size_t i = 0; i < na; i++)
        if (strcmp(a[i], b[i])) return false;
    return true;
}

bool enforce_config_same(const struct enforce_config *a, const struct enforce_config *b)
{
    struct enforce_config x, y;
    uint16_t px[ENFORCE_MAX_PORTS], py[ENFORCE_MAX_PORTS];
    if (config_check(a, &x, px) < 0 || config_check(b, &y, py) < 0) return false;
    return x.backend == y.backend && x.verdict == y.verdict && x.priority == y.priority &&
           !strcmp(x.table ? x.table : ENFORCE_TABLE_DEFAULT, y.table ? y.table : ENFORCE_TABLE_DEFAULT) &&
           x.nports == y.nports && !memcmp(x.ports, y.ports, x.nports * sizeof *x.ports) &&
           (x.min_prefix4 ? x.min_prefix4 : SG_MIN_PREFIX4_DEFAULT) == (y.min_prefix4 ? y.min_prefix4 : SG_MIN_PREFIX4_DEFAULT) &&
           (x.min_prefix6 ? x.min_prefix6 : SG_MIN_PREFIX6_DEFAULT) == (y.min_prefix6 ? y.min_prefix6 : SG_MIN_PREFIX6_DEFAULT) &&
           same_strs(x.allow, x.nallow, y.allow, y.nallow) && same_strs(x.nodes, x.nnodes, y.nodes, y.nnodes);
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
    enforce_rec_free(e);
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

int enforce_ensure(struct enforce *e)
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

bool enforce_guard_refuses(struct enforce *e, const struct enforce_prefix *p)
{
    char why[128], t[ENFORCE_PREFIX_STRLEN];
    const char *r = enforce_guard_check(e->guard, p, why, sizeof why);
    if (!r) return false;
    e->stats.refused_by_guard++;
    sg_log(SG_LOG_WARN, "enforce: refused ban of %s: %s", enforce_prefix_format(p, t, sizeof t), r);
    return true;
}

static int change_seq_cmp(const void *x, const void *y)
{
    const struct enforce_nft_change *a = x, *b = y;
    return a->seq < b->seq ? -1 : a->seq > b->seq;
}

/* Queues one change. A queue that waits (a reconcile under way, or a kernel that could not be set
 * up) is bounded: bans an attacker makes decided meanwhile must not grow it without end. At
 * ENFORCE_QUEUE_MAX the last change for each prefix is kept (in queue order again, which
 * enforce_holds reads); when more than half is still left, the queue is dropped and a full
 * reconcile asked for, which takes what is wanted from the caller's state: nothing is lost. The
 * halving keeps the coalescing at most one sort per ENFORCE_QUEUE_MAX / 2 changes queued. */
static void queue_change(struct enforce *e, const struct enforce_prefix *p, uint32_t timeout_s, uint8_t kind)
{
    enforce_nft_queue_push(&e->q, p, timeout_s, kind);
    if (e->q.n < ENFORCE_QUEUE_MAX || (!e->rec && !e->held)) return;
    size_t n = enforce_nft_changes_fold(e->q.v, e->q.n);
    e->stats.queue_coalesced += e->q.n - n;
    qsort(e->q.v, n, sizeof *e->q.v, change_seq_cmp);
    e->q.n = n;
    if (n <= ENFORCE_QUEUE_MAX / 2) return;
    e->stats.queue_dropped += n;
    e->q.n = 0;
    if (!e->rec_needed)
        sg_log(SG_LOG_WARN, "enforce: %zu queued changes dropped, the queue full while %s; a full reconcile will apply them",
               n, e->rec ? "a reconcile runs" : "the kernel cannot be set up");
    e->rec_needed = true;
}

int enforce_ban(struct enforce *e, const struct enforce_prefix *in, uint32_t timeout_s)
{
    struct enforce_prefix pp, *p = &pp;
    if (enforce_prefix_check(in, p) < 0) {
        e->stats.bad_input++;
        return -1;
    }
    if (enforce_guard_refuses(e, p)) return -1;
    if (timeout_s < 1) timeout_s = 1;
    if (timeout_s > ENFORCE_NFT_MAX_TIMEOUT_S) timeout_s = ENFORCE_NFT_MAX_TIMEOUT_S;
    queue_change(e, p, timeout_s, ENFORCE_NFT_ADD);
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
    queue_change(e, &p, 0, ENFORCE_NFT_DEL);
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

bool enforce_reconcile_needed(const struct enforce *e) { return e->rec_needed; }

/* Counts the results of one transaction and folds them into the mirror. */
int enforce_account(struct enforce *e, struct enforce_nft_op *ops, size_t n)
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
bool enforce_whole_failure(const struct enforce_nft_op *ops, size_t n)
{
    for (size_t i = 0; i < n; i++)
        if (ops[i].status == ENFORCE_NFT_FAILED && (ops[i].err == EIO || ops[i].err == ENOENT)) return true;
    return false;
}

int enforce_commit(struct enforce *e)
{
    if (!e->q.n || e->rec) return 0;   /* the queue waits for the reconcile under way */
    if (enforce_ensure(e) < 0) {
        e->held = true;                 /* the queue stays for the next tick, bounded meanwhile */
        return -1;
    }
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
        if (attempt && enforce_ensure(e) < 0) break;
        struct enforce_nft_op *ops = NULL;
        struct enforce_nft_plan_stats ps = {0};
        struct enforce_nft_change *c = sg_xmalloc((q.n ? q.n : 1) * sizeof *c);
        memcpy(c, q.v, q.n * sizeof *c);
        size_t n = enforce_nft_plan_commit(&e->mirror, c, q.n, sg_mono_ms(), &ops, &ps);
        free(c);
        int r = n ? e->ops->apply(e->be, ops, n) : 0;
        if (r < 0 && attempt == 0 && enforce_whole_failure(ops, n)) {
            sg_log(SG_LOG_WARN, "enforce: transaction failed as a whole; setting the table up again and retrying");
            e->ready = e->synced = false;
            free(ops);
            continue;
        }
        e->stats.covered += ps.covered;
        rc = enforce_account(e, ops, n);
        if (r < 0 && enforce_whole_failure(ops, n)) e->ready = e->synced = false;
        sg_log(SG_LOG_DEBUG, "enforce: commit of %zu changes: %zu element ops in %lld ms", q.n, n,
               (long long)(sg_mono_ms() - t0));
        free(ops);
        e->q.n = 0;
        break;
    }
    free(q.v);
    e->held = e->q.n > 0;
    e->commit_end_ms = sg_mono_ms();
    e->commit_cost_ms = e->commit_end_ms - t0;
    e->stats.commit_last_ms = (uint64_t)e->commit_cost_ms;
    if (rc == 0 && e->drift_open) {
        e->stats.drift_repaired += e->drift_open;
        e->drift_open = 0;
    }
    return rc;
}

/* Seconds left of a wanted entry, rounded up. */
uint32_t enforce_left_s(const struct enforce_nft_elem *w, int64_t now_ms)
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
            enforce_nft_queue_push(&e->q, &pr[i].p, enforce_left_s(&ws[i], now_ms), ENFORCE_NFT_ADD);
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

bool enforce_commit_due(int64_t last_end_ms, int64_t last_cost_ms, int64_t now_ms)
{
    int64_t wait = last_cost_ms * ENFORCE_COMMIT_PACE;
    return now_ms - last_end_ms >= (wait < ENFORCE_COMMIT_WAIT_MAX_MS ? wait : ENFORCE_COMMIT_WAIT_MAX_MS);
}

int enforce_tick(struct enforce *e)
{
    int64_t now = sg_mono_ms();
    bool waited = false;            /* the queue waited for a reconcile that has just ended */
    if (e->rec) {
        /* A reconcile under way: one slice of it, and nothing else (it checks everything
         * itself; the queue waits for its end, enforce_reconcile.c says why). */
        enforce_rec_step(e);
        e->verify_last_ms = now;     /* the drift check's budget does not pile up meanwhile */
        if (e->rec) return 0;
        waited = true;
    }
    /* The check first: a covering prefix it finds expired already is forgotten, so that its
     * expiry does not put back what it covered a second time. */
    verify(e, now);
    enforce_want_expire(&e->want, now, &e->q);
    int rc = 0;
    if (e->q.n && !waited && !enforce_commit_due(e->commit_end_ms, e->commit_cost_ms, now)) e->stats.commits_paced++;
    else if (e->q.n) rc = enforce_commit(e);
    enforce_check_extras(e, now);
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

int enforce_remove_table(struct enforce *e)
{
    enforce_rec_free(e);
    e->q.n = 0;
    e->held = e->rec_needed = false;   /* nothing is wanted any more */
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
