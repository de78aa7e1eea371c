/* enforce_nft_plan.c: the mirror of the kernel ban sets and the planner that turns queued bans,
 * or a wanted list, into the set-element deletes and adds of one transaction. */
#include "enforce/enforce_nft.h"

#include "agent/util.h"

#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>

/* An entry is still in the kernel until a little after its computed expiry: our clock and the
 * kernel's differ by the time a dump took. A delete of one that did expire comes back ENOENT,
 * which the backend reports as GONE, so erring on "present" is safe. */
#define MIRROR_SLACK_MS 2000
/* Reconcile re-adds an element when its expiry differs from the wanted one by more than this
 * (or 1 % of the timeout): timeouts drift by the time the dump and the plan take. */
#define RETIME_SLACK_MS 5000

static int fam_idx(int family) { return family == AF_INET ? 0 : 1; }

static bool elem_live(const struct enforce_nft_elem *e, int64_t now_ms)
{
    return !e->dead && (e->expires_ms == 0 || e->expires_ms + MIRROR_SLACK_MS > now_ms);
}

static int elem_cmp(const void *x, const void *y)
{
    const struct enforce_nft_elem *a = x, *b = y;
    return enforce_prefix_cmp(&a->p, &b->p);
}

void enforce_nft_mirror_init(struct enforce_nft_mirror *m) { memset(m, 0, sizeof *m); }

void enforce_nft_mirror_free(struct enforce_nft_mirror *m)
{
    free(m->v);
    memset(m, 0, sizeof *m);
}

/* Sorts, drops dead entries and recounts the prefix lengths present. */
static void mirror_rebuild(struct enforce_nft_mirror *m, bool sort)
{
    if (sort && m->n > 1) qsort(m->v, m->n, sizeof *m->v, elem_cmp);
    size_t w = 0;
    memset(m->lens, 0, sizeof m->lens);
    for (size_t i = 0; i < m->n; i++) {
        if (m->v[i].dead) continue;
        m->v[w] = m->v[i];
        if (m->v[w].p.len <= 128) m->lens[fam_idx(m->v[w].p.family)][m->v[w].p.len]++;
        w++;
    }
    m->n = w;
}

void enforce_nft_mirror_adopt(struct enforce_nft_mirror *m, struct enforce_nft_elem *elems, size_t n)
{
    free(m->v);
    m->v = elems;
    m->n = m->cap = n;
    mirror_rebuild(m, false);
}

void enforce_nft_mirror_replace(struct enforce_nft_mirror *m, struct enforce_nft_elem *elems, size_t n)
{
    free(m->v);
    m->v = elems;
    m->n = m->cap = n;
    mirror_rebuild(m, true);
}

struct enforce_nft_elem *enforce_nft_mirror_find(const struct enforce_nft_mirror *m, const struct enforce_prefix *p)
{
    struct enforce_nft_elem key = {.p = *p};
    return m->n ? bsearch(&key, m->v, m->n, sizeof *m->v, elem_cmp) : NULL;
}

size_t enforce_nft_mirror_lower(const struct enforce_nft_mirror *m, const struct enforce_prefix *p)
{
    size_t lo = 0, hi = m->n;
    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        if (enforce_prefix_cmp(&m->v[mid].p, p) < 0) lo = mid + 1;
        else hi = mid;
    }
    return lo;
}

static void lens_add(struct enforce_nft_mirror *m, const struct enforce_nft_elem *e, int d)
{
    if (e->p.len <= 128) m->lens[fam_idx(e->p.family)][e->p.len] += (uint32_t)d;
}

/* Merges the unsorted tail v[sorted..n) into the sorted head, from the back, so that a tick
 * with a few new bans moves only the entries after them, not the whole mirror. */
static void mirror_merge_tail(struct enforce_nft_mirror *m, size_t sorted)
{
    size_t k = m->n - sorted;
    if (!k) return;
    struct enforce_nft_elem *tail = sg_xmalloc(k * sizeof *tail);
    memcpy(tail, m->v + sorted, k * sizeof *tail);
    if (k > 1) qsort(tail, k, sizeof *tail, elem_cmp);
    size_t i = sorted, j = k, w = m->n;
    while (j > 0) {
        if (i > 0 && elem_cmp(&m->v[i - 1], &tail[j - 1]) > 0) m->v[--w] = m->v[--i];
        else m->v[--w] = tail[--j];
    }
    free(tail);
}

void enforce_nft_mirror_apply(struct enforce_nft_mirror *m, const struct enforce_nft_op *ops, size_t n,
                              int64_t now_ms)
{
    size_t sorted = m->n, dead = 0;
    for (int pass = 0; pass < 2; pass++) {       /* deletes first: a refresh is delete + add */
        for (size_t i = 0; i < n; i++) {
            const struct enforce_nft_op *o = &ops[i];
            if (o->kind != (pass ? ENFORCE_NFT_ADD : ENFORCE_NFT_DEL)) continue;
            if (o->status != ENFORCE_NFT_OK && o->status != ENFORCE_NFT_GONE) continue;
            struct enforce_nft_elem key = {.p = o->el.p};
            struct enforce_nft_elem *e = sorted ? bsearch(&key, m->v, sorted, sizeof *m->v, elem_cmp) : NULL;
            if (!pass) {
                if (e && !e->dead) {
                    e->dead = true;
                    lens_add(m, e, -1);
                    dead++;
                }
                continue;
            }
            struct enforce_nft_elem nv = o->el;
            nv.dead = false;
            nv.expires_ms = nv.timeout_ms ? now_ms + (int64_t)nv.timeout_ms : 0;
            if (e) {
                if (e->dead) dead--;
                else lens_add(m, e, -1);
                *e = nv;
                lens_add(m, e, 1);
                continue;
            }
            if (m->n == m->cap) {
                m->cap = m->cap ? m->cap * 2 : 256;
                m->v = sg_xrealloc(m->v, m->cap * sizeof *m->v);
            }
            m->v[m->n++] = nv;
            lens_add(m, &nv, 1);
        }
    }
    mirror_merge_tail(m, sorted);
    if (dead) mirror_rebuild(m, false);
}

size_t enforce_nft_mirror_count(const struct enforce_nft_mirror *m, int family, int64_t now_ms)
{
    size_t c = 0;
    for (size_t i = 0; i < m->n; i++)
        if (m->v[i].p.family == family && elem_live(&m->v[i], now_ms)) c++;
    return c;
}

/* ---- planning ---- */

struct oplist {
    struct enforce_nft_op *v;
    size_t n, cap;
};

static void op_push(struct oplist *l, uint8_t kind, const struct enforce_nft_elem *el)
{
    if (l->n == l->cap) {
        l->cap = l->cap ? l->cap * 2 : 64;
        l->v = sg_xrealloc(l->v, l->cap * sizeof *l->v);
    }
    struct enforce_nft_op *o = &l->v[l->n++];
    memset(o, 0, sizeof *o);
    o->el = *el;
    o->el.dead = false;
    o->kind = kind;
}

static void op_add(struct oplist *l, const struct enforce_prefix *p, uint32_t timeout_s)
{
    struct enforce_nft_elem el;
    uint64_t t = timeout_s < 1 ? 1 : timeout_s > ENFORCE_NFT_MAX_TIMEOUT_S ? ENFORCE_NFT_MAX_TIMEOUT_S : timeout_s;
    enforce_nft_elem_from_prefix(&el, p, t * 1000u);
    op_push(l, ENFORCE_NFT_ADD, &el);
}

/* Deletes first, then adds; IPv4 before IPv6 inside each, so that chunks share kind and set. */
static int op_order(const void *x, const void *y)
{
    const struct enforce_nft_op *a = x, *b = y;
    if (a->kind != b->kind) return a->kind < b->kind ? -1 : 1;
    if (a->el.p.family != b->el.p.family) return a->el.p.family < b->el.p.family ? -1 : 1;
    return enforce_prefix_cmp(&a->el.p, &b->el.p);
}

static size_t oplist_finish(struct oplist *l, struct enforce_nft_op **ops)
{
    /* The planners emit adds in prefix order already: a stable split (deletes, then adds)
     * usually leaves nothing to sort, which matters for 100k-ban ticks. */
    if (l->n > 1) {
        struct enforce_nft_op *v = sg_xmalloc(l->n * sizeof *v);
        size_t next_del = 0, next_add = 0;
        for (size_t i = 0; i < l->n; i++) next_add += l->v[i].kind == ENFORCE_NFT_DEL;
        for (size_t i = 0; i < l->n; i++) v[l->v[i].kind == ENFORCE_NFT_DEL ? next_del++ : next_add++] = l->v[i];
        free(l->v);
        l->v = v;
        bool sorted = true;
        for (size_t i = 1; i < l->n && sorted; i++) sorted = op_order(&v[i - 1], &v[i]) <= 0;
        if (!sorted) qsort(l->v, l->n, sizeof *l->v, op_order);
    }
    /* A covered element may be scheduled for deletion twice (two refreshes): keep one. */
    size_t w = 0;
    for (size_t i = 0; i < l->n; i++) {
        if (w && l->v[w - 1].kind == l->v[i].kind && !enforce_prefix_cmp(&l->v[w - 1].el.p, &l->v[i].el.p))
            continue;
        l->v[w++] = l->v[i];
    }
    *ops = l->v;
    return w;
}

/* q is sorted by prefix and holds one change per prefix. */
static int change_key_cmp(const void *x, const void *y)
{
    const struct enforce_nft_change *a = x, *b = y;
    return enforce_prefix_cmp(&a->p, &b->p);
}

/* The live entry of length l (<= p->len) that would cover p, or NULL. */
static const struct enforce_nft_elem *ancestor(const struct enforce_nft_mirror *m, const struct enforce_prefix *p,
                                               unsigned l, int64_t now_ms)
{
    struct enforce_prefix a = *p;
    a.len = (uint8_t)l;
    /* Clear the host bits past l: the ancestor's key as the mirror holds it. */
    for (unsigned i = 0; i < 16; i++) {
        unsigned bit = i * 8;
        if (bit >= l) a.addr[i] = 0;
        else if (bit + 8 > l) a.addr[i] &= (uint8_t)(0xff << (8 - (l - bit)));
    }
    const struct enforce_nft_elem *e = enforce_nft_mirror_find(m, &a);
    return e && elem_live(e, now_ms) ? e : NULL;
}

const struct enforce_nft_elem *enforce_nft_mirror_covering(const struct enforce_nft_mirror *m,
                                                           const struct enforce_prefix *p, int64_t now_ms)
{
    const uint32_t *lens = m->lens[fam_idx(p->family)];
    for (unsigned l = 0; l <= p->len && l <= 128; l++) {
        const struct enforce_nft_elem *e = lens[l] ? ancestor(m, p, l, now_ms) : NULL;
        if (e) return e;
    }
    return NULL;
}

/* Is p covered by a live, wider entry of the mirror? q: the changes of this same transaction,
 * whose unbans lift their prefix (nq may be 0). */
static bool mirror_covered(const struct enforce_nft_mirror *m, const struct enforce_prefix *p, int64_t now_ms,
                           const struct enforce_nft_change *q, size_t nq)
{
    const uint32_t *lens = m->lens[fam_idx(p->family)];
    for (unsigned l = 0; l < p->len; l++) {
        const struct enforce_nft_elem *e = lens[l] ? ancestor(m, p, l, now_ms) : NULL;
        if (!e) continue;
        struct enforce_nft_change key = {.p = e->p};
        const struct enforce_nft_change *u = nq ? bsearch(&key, q, nq, sizeof *q, change_key_cmp) : NULL;
        if (!u || u->kind != ENFORCE_NFT_DEL) return true;
    }
    return false;
}

/* Deletes for the live entries strictly inside p (a new wider ban replaces them). */
static void delete_covered(const struct enforce_nft_mirror *m, const struct enforce_prefix *p, int64_t now_ms,
                           struct oplist *l)
{
    const uint32_t *lens = m->lens[fam_idx(p->family)];
    bool any = false;
    for (unsigned k = p->len + 1u; k <= 128 && !any; k++) any = lens[k] != 0;
    if (!any) return;
    for (size_t i = enforce_nft_mirror_lower(m, p); i < m->n && enforce_prefix_contains(p, &m->v[i].p); i++) {
        if (m->v[i].p.len == p->len || !elem_live(&m->v[i], now_ms)) continue;
        op_push(l, ENFORCE_NFT_DEL, &m->v[i]);
    }
}

static int change_cmp(const void *x, const void *y)
{
    const struct enforce_nft_change *a = x, *b = y;
    int c = enforce_prefix_cmp(&a->p, &b->p);
    if (c) return c;
    return a->seq < b->seq ? -1 : a->seq > b->seq;
}

void enforce_nft_queue_push(struct enforce_nft_queue *q, const struct enforce_prefix *p, uint32_t timeout_s,
                            uint8_t kind)
{
    if (q->n == q->cap) {
        q->cap = q->cap ? q->cap * 2 : 256;
        q->v = sg_xrealloc(q->v, q->cap * sizeof *q->v);
    }
    q->v[q->n++] = (struct enforce_nft_change){*p, timeout_s, kind, q->seq++};
}

size_t enforce_nft_changes_fold(struct enforce_nft_change *q, size_t nq)
{
    bool sorted = true;
    for (size_t i = 1; i < nq && sorted; i++) sorted = change_cmp(&q[i - 1], &q[i]) < 0;
    if (!sorted) qsort(q, nq, sizeof *q, change_cmp);
    size_t w = 0;
    for (size_t i = 0; i < nq; i++) {
        if (w && !enforce_prefix_cmp(&q[w - 1].p, &q[i].p)) q[w - 1] = q[i];
        else q[w++] = q[i];
    }
    return w;
}

size_t enforce_nft_plan_commit(const struct enforce_nft_mirror *m, struct enforce_nft_change *q, size_t nq,
                               int64_t now_ms, struct enforce_nft_op **ops, struct enforce_nft_plan_stats *st)
{
    struct oplist l = {0};
    /* Sort by prefix then queue order, and keep the last change for each prefix. */
    nq = enforce_nft_changes_fold(q, nq);
    /* Unbans of entries we hold. One we do not hold is gone already (expired, or never in). */
    for (size_t i = 0; i < nq; i++) {
        if (q[i].kind != ENFORCE_NFT_DEL) continue;
        const struct enforce_nft_elem *e = enforce_nft_mirror_find(m, &q[i].p);
        if (e && elem_live(e, now_ms)) op_push(&l, ENFORCE_NFT_DEL, e);
    }
    /* Bans in prefix order: a prefix sorts before everything it covers, so one "current"
     * interval is enough to fold covered bans inside this batch. */
    const struct enforce_prefix *cur = NULL;
    for (size_t i = 0; i < nq; i++) {
        if (q[i].kind != ENFORCE_NFT_ADD) continue;
        const struct enforce_prefix *p = &q[i].p;
        if ((cur && enforce_prefix_contains(cur, p)) || mirror_covered(m, p, now_ms, q, nq)) {
            st->covered++;
            continue;
        }
        cur = p;
        delete_covered(m, p, now_ms, &l);
        const struct enforce_nft_elem *e = enforce_nft_mirror_find(m, p);
        if (e && elem_live(e, now_ms)) op_push(&l, ENFORCE_NFT_DEL, e);   /* refresh the timeout */
        op_add(&l, p, q[i].timeout_s);
    }
    return oplist_finish(&l, ops);
}

int enforce_ban_cmp(const void *x, const void *y)
{
    const struct enforce_ban *a = x, *b = y;
    int c = enforce_prefix_cmp(&a->prefix, &b->prefix);
    if (c) return c;
    return a->timeout_s > b->timeout_s ? -1 : a->timeout_s < b->timeout_s;   /* longest first */
}

bool enforce_nft_plan_reconcile_step(struct enforce_nft_replan *rp, const struct enforce_nft_mirror *m,
                                     const struct enforce_ban *wanted, size_t n, int64_t now_ms, size_t budget,
                                     struct enforce_nft_plan_stats *st)
{
    struct oplist l = {rp->v, rp->n, rp->cap};
    /* A merge walk of two sorted lists: the wanted bans and the kernel's entries. Wanted bans
     * covered by a wider wanted one (or repeated) are folded on the way: in prefix order a
     * prefix comes before everything it covers, so the last one kept is the only candidate. */
    for (; budget && (rp->i < n || rp->j < m->n); budget--) {
        const struct enforce_ban *b = rp->i < n ? &wanted[rp->i] : NULL;
        if (b && rp->last && enforce_prefix_contains(&wanted[rp->last - 1].prefix, &b->prefix)) {
            if (enforce_prefix_cmp(&wanted[rp->last - 1].prefix, &b->prefix)) st->covered++;
            rp->i++;
            continue;
        }
        const struct enforce_nft_elem *e = rp->j < m->n ? &m->v[rp->j] : NULL;
        int c = !e ? -1 : !b ? 1 : enforce_prefix_cmp(&b->prefix, &e->p);
        if (c < 0) {
            op_add(&l, &b->prefix, b->timeout_s);
            st->added++;
            rp->last = ++rp->i;
        } else if (c > 0) {
            op_push(&l, ENFORCE_NFT_DEL, e);
            st->removed++;
            rp->j++;
        } else {
            int64_t want = now_ms + (int64_t)b->timeout_s * 1000;
            int64_t diff = e->expires_ms ? want - e->expires_ms : INT64_MAX;
            if (diff < 0) diff = -diff;
            int64_t slack = (int64_t)b->timeout_s * 10;   /* 1 % in ms */
            if (slack < RETIME_SLACK_MS) slack = RETIME_SLACK_MS;
            if (diff > slack) {
                op_push(&l, ENFORCE_NFT_DEL, e);
                op_add(&l, &b->prefix, b->timeout_s);
                st->retimed++;
            }
            rp->last = ++rp->i;
            rp->j++;
        }
    }
    rp->v = l.v;
    rp->n = l.n;
    rp->cap = l.cap;
    return rp->i >= n && rp->j >= m->n;
}

size_t enforce_nft_plan_reconcile_finish(struct enforce_nft_replan *rp, struct enforce_nft_op **ops)
{
    struct oplist l = {rp->v, rp->n, rp->cap};
    memset(rp, 0, sizeof *rp);
    return oplist_finish(&l, ops);
}

size_t enforce_nft_plan_reconcile(const struct enforce_nft_mirror *m, struct enforce_ban *wanted, size_t n,
                                  int64_t now_ms, struct enforce_nft_op **ops, struct enforce_nft_plan_stats *st)
{
    if (n > 1) qsort(wanted, n, sizeof *wanted, enforce_ban_cmp);
    struct enforce_nft_replan rp = {0};
    enforce_nft_plan_reconcile_step(&rp, m, wanted, n, now_ms, SIZE_MAX, st);
    return enforce_nft_plan_reconcile_finish(&rp, ops);
}
