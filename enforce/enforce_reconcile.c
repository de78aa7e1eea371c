/* enforce_reconcile.c: the full reconcile (kernel sets made equal to the wanted bans), cut into
 * slices of bounded work that enforce_tick runs one per tick, so that 100k bans never hold the
 * agent's loop; and the small whole-set check for extra elements. */
#include "enforce/enforce_nft.h"

#include "agent/util.h"

#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>

/* Work per step, and per tick (a slice): a few ms on a slow machine at most. */
#define REC_SORT_BUDGET 8192       /* element moves of the merge sorts */
#define REC_PLAN_BUDGET 8192       /* entries walked by the plan */
#define REC_DUMP_BUDGET_US 2000    /* reading the dump: one kernel reply at least, then until this */
#define REC_APPLY_MAX 2048         /* elements per transaction */
#define REC_TICK_BUDGET_US 3000    /* steps are run while a slice has taken less than this */

/* The queue waits until the reconcile is over. A commit while the dump is read would move
 * the elements under the kernel's walk, which resumes each reply by counting elements from
 * the start: an interval's start or end element could be skipped, and a start paired with the
 * wrong end, which a delete would then tear apart. */
enum rec_stage {
    REC_SORT,      /* sorting the wanted list */
    REC_WANT,      /* the wanted set replaced, the dump asked for */
    REC_DUMP,      /* reading the dump of ban4, then ban6, a few replies a slice */
    REC_PAIR,      /* sorting the dump and pairing its interval ends */
    REC_PLAN,      /* the plan against the new mirror */
    REC_APPLY,     /* its transactions, REC_APPLY_MAX elements each */
};

struct enforce_rec {
    enum rec_stage stage;
    struct enforce_ban *w;         /* the wanted bans (sorted once REC_SORT is over) */
    size_t nw;
    struct enforce_sort sort;
    int fam;                       /* 0: ban4, 1: ban6 */
    struct enforce_nft_rawlist raw[2];
    struct enforce_nft_elem *k[2];
    size_t nk[2];
    bool sorting;                  /* REC_PAIR: the sort of raw[fam] is under way */
    bool planning;                 /* REC_PLAN: the wanted list is taken again from the wanted set */
    struct enforce_nft_replan rp;
    struct enforce_nft_op *ops;    /* REC_APPLY: deletes then adds, each sorted */
    size_t nops, ndel, di, ai;
    struct enforce_nft_plan_stats ps;
    int rc;
    int64_t t0_ms;
};

void enforce_rec_free(struct enforce *e)
{
    struct enforce_rec *r = e->rec;
    if (!r) return;
    free(r->w);
    enforce_sort_free(&r->sort);
    for (int f = 0; f < 2; f++) {
        free(r->raw[f].v);
        free(r->k[f]);
    }
    free(r->rp.v);
    free(r->ops);
    free(r);
    e->rec = NULL;
}

/* The end of the dump: the mirror becomes what the kernel holds. */
static void adopt_dump(struct enforce *e, struct enforce_rec *r)
{
    size_t n = r->nk[0] + r->nk[1];
    struct enforce_nft_elem *v = sg_xmalloc((n ? n : 1) * sizeof *v);
    memcpy(v, r->k[0], r->nk[0] * sizeof *v);
    memcpy(v + r->nk[0], r->k[1], r->nk[1] * sizeof *v);
    enforce_nft_mirror_adopt(&e->mirror, v, n);   /* v4 sorts before v6: in order already */
    e->synced = true;
}

/* The next transaction of the plan: deletes and adds taken in prefix order, so that an
 * element's delete and its re-add (a new timeout), and a prefix and the narrower elements it
 * replaces, always go in the same transaction. */
static void apply_slice(struct enforce *e, struct enforce_rec *r)
{
    struct enforce_nft_op *d = r->ops, *a = r->ops + r->ndel;
    size_t nd = r->ndel, na = r->nops - r->ndel, d0 = r->di, a0 = r->ai;
    const struct enforce_nft_op *last_add = NULL, *last_del = NULL;
    while ((r->di < nd || r->ai < na) && (r->di - d0) + (r->ai - a0) < REC_APPLY_MAX) {
        if (r->di < nd && (r->ai >= na || enforce_prefix_cmp(&d[r->di].el.p, &a[r->ai].el.p) <= 0))
            last_del = &d[r->di++];
        else
            last_add = &a[r->ai++];
    }
    for (;;) {
        if (last_add && r->di < nd && enforce_prefix_contains(&last_add->el.p, &d[r->di].el.p)) last_del = &d[r->di++];
        else if (last_del && r->ai < na && !enforce_prefix_cmp(&last_del->el.p, &a[r->ai].el.p)) last_add = &a[r->ai++];
        else break;
    }
    size_t k = (r->di - d0) + (r->ai - a0);
    struct enforce_nft_op *t = sg_xmalloc((k ? k : 1) * sizeof *t);
    memcpy(t, d + d0, (r->di - d0) * sizeof *t);
    memcpy(t + (r->di - d0), a + a0, (r->ai - a0) * sizeof *t);
    int x = k ? e->ops->apply(e->be, t, k) : 0;
    if (enforce_account(e, t, k) < 0 || x < 0) r->rc = -1;
    if (x < 0 && enforce_whole_failure(t, k)) e->ready = e->synced = false;
    free(t);
}

static void finish(struct enforce *e, struct enforce_rec *r)
{
    enforce_want_align(&e->want, &e->mirror);
    e->reconciled = true;
    e->stats.covered += r->ps.covered;
    e->stats.reconciled_added += r->ps.added;
    e->stats.reconciled_removed += r->ps.removed;
    e->stats.reconciled_retimed += r->ps.retimed;
    e->stats.reconcile_last_ms = (uint64_t)(sg_mono_ms() - r->t0_ms);
    if (r->ps.added || r->ps.removed || r->ps.retimed)
        sg_log(SG_LOG_NOTICE, "enforce: reconcile: %llu added, %llu removed, %llu re-timed%s",
               (unsigned long long)r->ps.added, (unsigned long long)r->ps.removed,
               (unsigned long long)r->ps.retimed, r->rc < 0 ? " (some failed)" : "");
    e->rec_rc = r->rc;
    enforce_rec_free(e);
}

static void fail(struct enforce *e, const char *what)
{
    sg_log(SG_LOG_ERR, "enforce: reconcile: %s; given up (the drift check and the next reconcile repair)", what);
    e->rec_rc = -1;
    enforce_rec_free(e);
}

static void step(struct enforce *e, struct enforce_rec *r)
{
    switch (r->stage) {
    case REC_SORT:
        if (enforce_sort_step(&r->sort, REC_SORT_BUDGET)) {
            r->w = enforce_sort_take(&r->sort);
            r->stage = REC_WANT;
        }
        return;
    case REC_WANT:
        enforce_want_replace_sorted(&e->want, r->w, r->nw, sg_mono_ms());
        r->fam = 0;
        r->raw[0].family = AF_INET;
        r->raw[1].family = AF_INET6;
        if (e->ops->dump_begin(e->be, AF_INET) < 0) return fail(e, "the dump could not start");
        r->stage = REC_DUMP;
        return;
    case REC_DUMP: {
        bool done = false;
        if (e->ops->dump_read(e->be, &r->raw[r->fam], REC_DUMP_BUDGET_US, &done) < 0)
            return fail(e, "the dump failed");
        if (!done) return;
        if (r->fam == 0) {
            r->fam = 1;
            if (e->ops->dump_begin(e->be, AF_INET6) < 0) return fail(e, "the dump could not start");
            return;
        }
        r->fam = 0;
        r->stage = REC_PAIR;
        return;
    }
    case REC_PAIR: {
        struct enforce_nft_rawlist *raw = &r->raw[r->fam];
        if (!r->sorting) {
            enforce_sort_init(&r->sort, raw->v, raw->n, sizeof *raw->v, enforce_nft_raw_cmp);
            raw->v = NULL;
            r->sorting = true;
        }
        if (!enforce_sort_step(&r->sort, REC_SORT_BUDGET)) return;
        raw->v = enforce_sort_take(&r->sort);
        raw->cap = raw->n;
        r->sorting = false;
        r->nk[r->fam] = enforce_nft_raw_pair_sorted(raw, sg_mono_ms(), &r->k[r->fam]);
        free(raw->v);
        raw->v = NULL;
        if (r->fam++ == 0) return;
        adopt_dump(e, r);
        r->stage = REC_PLAN;
        return;
    }
    case REC_PLAN:
        if (!r->planning) {
            /* What is wanted now (the list given, minus what expired meanwhile). */
            free(r->w);
            r->nw = enforce_want_list(&e->want, sg_mono_ms(), &r->w);
            r->planning = true;
            return;
        }
        if (!enforce_nft_plan_reconcile_step(&r->rp, &e->mirror, r->w, r->nw, sg_mono_ms(), REC_PLAN_BUDGET, &r->ps))
            return;
        r->nops = enforce_nft_plan_reconcile_finish(&r->rp, &r->ops);
        while (r->ndel < r->nops && r->ops[r->ndel].kind == ENFORCE_NFT_DEL) r->ndel++;
        r->stage = REC_APPLY;
        /* An unchanged set ends in this same slice. */
        /* fall through */
    case REC_APPLY:
        if (r->di < r->ndel || r->ai < r->nops - r->ndel) apply_slice(e, r);
        if (r->di >= r->ndel && r->ai >= r->nops - r->ndel) finish(e, r);
        return;
    }
}

/* Runs one slice (steps while one more of the same length fits in REC_TICK_BUDGET_US; a step
 * that sent a transaction ends it) and times it. */
void enforce_rec_step(struct enforce *e)
{
    if (!e->rec) return;
    int64_t t0 = sg_mono_ns();
    uint64_t tx = e->stats.transactions;
    int64_t last;
    do {
        int64_t s0 = sg_mono_ns();
        step(e, e->rec);
        last = sg_mono_ns() - s0;
        /* Another step only if one as long as this one still fits. */
    } while (e->rec && e->stats.transactions == tx && sg_mono_ns() - t0 + last < REC_TICK_BUDGET_US * 1000);
    uint64_t us = (uint64_t)(sg_mono_ns() - t0) / 1000;
    e->stats.reconcile_slices++;
    if (us > e->stats.reconcile_slice_max_us) e->stats.reconcile_slice_max_us = us;
}

int enforce_reconcile_start(struct enforce *e, const struct enforce_ban *wanted, size_t n)
{
    int64_t t0 = sg_mono_ns();
    enforce_rec_free(e);               /* a newer list replaces one under way */
    struct enforce_ban *w = sg_xmalloc((n ? n : 1) * sizeof *w);
    size_t m = 0;
    for (size_t i = 0; i < n; i++) {
        w[m] = wanted[i];
        if (enforce_prefix_check(&wanted[i].prefix, &w[m].prefix) < 0) {
            e->stats.bad_input++;
            continue;
        }
        if (enforce_guard_refuses(e, &w[m].prefix)) continue;
        if (w[m].timeout_s < 1) w[m].timeout_s = 1;
        if (w[m].timeout_s > ENFORCE_NFT_MAX_TIMEOUT_S) w[m].timeout_s = ENFORCE_NFT_MAX_TIMEOUT_S;
        m++;
    }
    e->q.n = 0;           /* the wanted list is the whole truth, what was dropped included */
    e->held = false;
    /* The table, chain and rules are set up again (idempotent, one small transaction): a
     * reconcile also repairs hand edits to them. The ban sets are read by the slices. */
    e->ready = false;
    int rc = enforce_setup(e);
    if (rc < 0) {
        free(w);
        e->rec_rc = -1;
    } else {
        e->rec_needed = false;       /* what was dropped is in the wanted list */
        struct enforce_rec *r = e->rec = sg_xcalloc(1, sizeof *r);
        r->t0_ms = sg_mono_ms();
        r->nw = m;
        enforce_sort_init(&r->sort, w, m, sizeof *w, enforce_ban_cmp);
    }
    uint64_t us = (uint64_t)(sg_mono_ns() - t0) / 1000;
    e->stats.reconcile_slices++;
    if (us > e->stats.reconcile_slice_max_us) e->stats.reconcile_slice_max_us = us;
    return rc;
}

bool enforce_reconciling(const struct enforce *e) { return e->rec != NULL; }

const char *enforce_reconcile_stage(const struct enforce *e)
{
    static const char *const names[] = {"sort", "want", "dump", "pair", "plan", "apply"};
    return e->rec ? names[e->rec->stage] : NULL;
}

int enforce_reconcile(struct enforce *e, const struct enforce_ban *wanted, size_t n)
{
    if (enforce_reconcile_start(e, wanted, n) < 0) return -1;
    while (e->rec) enforce_rec_step(e);
    return e->rec_rc;
}

/* Makes the sets, as the mirror holds them fresh from a dump, equal to w[0..m) (sorted and
 * folded in place). Returns 0 or -1. */
static int reconcile_sets(struct enforce *e, struct enforce_ban *w, size_t m, struct enforce_nft_plan_stats *ps)
{
    struct enforce_nft_op *ops = NULL;
    size_t nops = enforce_nft_plan_reconcile(&e->mirror, w, m, sg_mono_ms(), &ops, ps);
    int r = nops ? e->ops->apply(e->be, ops, nops) : 0;
    int rc = enforce_account(e, ops, nops);
    enforce_want_align(&e->want, &e->mirror);
    if (r < 0) rc = -1;
    if (r < 0 && enforce_whole_failure(ops, nops)) e->ready = e->synced = false;
    free(ops);
    return rc;
}

/* Extra elements (added by hand, or an unban the kernel refused) are invisible to lookups of
 * what is wanted. Only once a full reconcile said what is wanted (before it, an element the
 * kernel holds may be a ban the state has not learned back yet): a set small enough to dump cheaply (the dump costs O(n^2) in the kernel:
 * about 5 ms at 4096 elements, 3 s at 100k) is dumped whole once a cycle and made equal to
 * the wanted bans; a larger one keeps its extras until the next reconcile. No setup
 * transaction: the rules and their counters stay. Runs with the queue empty, and not while
 * dropped changes wait for a reconcile (the wanted set lacks them). */
void enforce_check_extras(struct enforce *e, int64_t now_ms)
{
    if (!e->reconciled || e->rec_needed || !e->ready || !e->synced || e->q.n ||
        now_ms - e->extras_last_ms < VERIFY_CYCLE_MS)
        return;
    e->extras_last_ms = now_ms;
    if (e->mirror.n > EXTRAS_DUMP_MAX) return;
    struct enforce_ban *w = NULL;
    size_t n = enforce_want_list(&e->want, now_ms, &w);
    e->synced = false;                /* ensure() reads the sets again */
    struct enforce_nft_plan_stats ps = {0};
    int rc = enforce_ensure(e) < 0 ? -1 : reconcile_sets(e, w, n, &ps);
    free(w);
    if (!ps.added && !ps.removed) return;
    e->stats.drift_missing += ps.added;
    e->stats.drift_extra += ps.removed;
    if (rc == 0) e->stats.drift_repaired += ps.added + ps.removed;
    sg_log(SG_LOG_WARN, "enforce: drift check: the kernel held %llu elements no ban wants (deleted) and lacked %llu (added)%s",
           (unsigned long long)ps.removed, (unsigned long long)ps.added, rc < 0 ? "; some failed" : "");
}

