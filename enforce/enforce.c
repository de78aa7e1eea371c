/* enforce.c: the enforcement front end: checks the guard, queues changes, plans them against the
 * mirror of the kernel sets and hands each tick's transaction to the backend (nft or dry-run). */
#include "enforce/enforce.h"
#include "enforce/enforce_nft.h"

#include "agent/util.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>

struct enforce {
    const struct enforce_backend_ops *ops;
    void *be;
    struct enforce_guard *guard;
    struct enforce_stats stats;
    struct enforce_nft_mirror mirror;
    bool ready;                      /* table, sets and chain are in place */
    bool synced;                     /* the mirror was filled from a dump */
    struct enforce_nft_change *q;
    size_t nq, qcap;
    uint64_t qseq;
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
    free(e->q);
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

static void queue_push(struct enforce *e, const struct enforce_prefix *p, uint32_t timeout_s, uint8_t kind)
{
    if (e->nq == e->qcap) {
        e->qcap = e->qcap ? e->qcap * 2 : 256;
        e->q = sg_xrealloc(e->q, e->qcap * sizeof *e->q);
    }
    e->q[e->nq++] = (struct enforce_nft_change){*p, timeout_s, kind, e->qseq++};
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
    queue_push(e, p, timeout_s, ENFORCE_NFT_ADD);
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
    queue_push(e, &p, 0, ENFORCE_NFT_DEL);
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

size_t enforce_pending(const struct enforce *e) { return e->nq; }

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
    if (!e->nq) return 0;
    for (int attempt = 0; attempt < 2; attempt++) {
        if (ensure(e) < 0) return -1;   /* the queue stays for the next tick */
        struct enforce_nft_op *ops = NULL;
        struct enforce_nft_plan_stats ps = {0};
        int64_t t0 = sg_mono_ms();
        struct enforce_nft_change *q = sg_xmalloc(e->nq * sizeof *q);
        memcpy(q, e->q, e->nq * sizeof *q);
        size_t n = enforce_nft_plan_commit(&e->mirror, q, e->nq, t0, &ops, &ps);
        free(q);
        int r = n ? e->ops->apply(e->be, ops, n) : 0;
        if (r < 0 && attempt == 0 && whole_failure(ops, n)) {
            sg_log(SG_LOG_WARN, "enforce: transaction failed as a whole; setting the table up again and retrying");
            e->ready = e->synced = false;
            free(ops);
            continue;
        }
        e->stats.covered += ps.covered;
        int rc = account(e, ops, n);
        if (r < 0 && whole_failure(ops, n)) e->ready = e->synced = false;
        sg_log(SG_LOG_DEBUG, "enforce: commit of %zu changes: %zu element ops in %lld ms", e->nq, n,
               (long long)(sg_mono_ms() - t0));
        free(ops);
        e->nq = 0;
        return rc;
    }
    return -1;
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
    e->nq = 0;            /* the wanted list is the whole truth */
    /* Always start from what the kernel holds now, with the table, chain and rules set up
     * again (idempotent, one small transaction): a reconcile also repairs hand edits to them. */
    e->synced = e->ready = false;
    int rc = -1;
    if (ensure(e) < 0) goto out;
    struct enforce_nft_op *ops = NULL;
    struct enforce_nft_plan_stats ps = {0};
    size_t nops = enforce_nft_plan_reconcile(&e->mirror, w, m, sg_mono_ms(), &ops, &ps);
    int r = nops ? e->ops->apply(e->be, ops, nops) : 0;
    rc = account(e, ops, nops);
    if (r < 0) rc = -1;
    e->stats.covered += ps.covered;
    e->stats.reconciled_added += ps.added;
    e->stats.reconciled_removed += ps.removed;
    e->stats.reconciled_retimed += ps.retimed;
    if (ps.added || ps.removed || ps.retimed)
        sg_log(SG_LOG_NOTICE, "enforce: reconcile: %llu added, %llu removed, %llu re-timed%s",
               (unsigned long long)ps.added, (unsigned long long)ps.removed, (unsigned long long)ps.retimed,
               rc < 0 ? " (some failed)" : "");
    if (r < 0 && whole_failure(ops, nops)) e->ready = e->synced = false;
    free(ops);
out:
    free(w);
    return rc;
}

int enforce_remove_table(struct enforce *e)
{
    e->nq = 0;
    if (e->ops->remove(e->be) < 0) return -1;
    enforce_nft_mirror_free(&e->mirror);
    e->ready = false;
    e->synced = true;     /* nothing is left: the empty mirror is right */
    return 0;
}

void enforce_get_stats(const struct enforce *e, struct enforce_stats *out) { *out = e->stats; }

int enforce_get_kernel(struct enforce *e, struct enforce_kernel *out)
{
    if (!e->synced) return e->ops->kernel(e->be, out, true);
    if (e->ops->kernel(e->be, out, false) < 0) return -1;
    if (!out->table_present) return 0;
    int64_t now = sg_mono_ms();
    out->set4 = enforce_nft_mirror_count(&e->mirror, AF_INET, now);
    out->set6 = enforce_nft_mirror_count(&e->mirror, AF_INET6, now);
    return 0;
}

const struct enforce_guard *enforce_guard(const struct enforce *e) { return e->guard; }
