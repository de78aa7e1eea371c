/* enforce_want.c: the bans the front end was asked to hold, covered ones included, so that what
 * a prefix covered goes back into the kernel when the prefix ends, and for the drift check. */
#include "enforce/enforce_nft.h"

#include "agent/util.h"

#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>

static bool is_host(const struct enforce_prefix *p)
{
    return p->len == (p->family == AF_INET ? 32 : 128);
}

/* Wanted entries expire exactly at their time: no slack, unlike the kernel mirror's. */
static bool live(const struct enforce_nft_elem *e, int64_t now_ms)
{
    return !e->dead && e->expires_ms > now_ms;
}

static uint32_t left_s(const struct enforce_nft_elem *e, int64_t now_ms)
{
    return (uint32_t)((e->expires_ms - now_ms + 999) / 1000);
}

void enforce_want_init(struct enforce_want *w)
{
    memset(w, 0, sizeof *w);
    enforce_nft_mirror_init(&w->set);
}

void enforce_want_free(struct enforce_want *w)
{
    enforce_nft_mirror_free(&w->set);
    memset(w, 0, sizeof *w);
}

static void note_prefix_expiry(struct enforce_want *w, const struct enforce_nft_elem *e)
{
    if (is_host(&e->p) || e->dead) return;
    if (!w->next_prefix_exp_ms || e->expires_ms < w->next_prefix_exp_ms) w->next_prefix_exp_ms = e->expires_ms;
}

/* Pushes a ban for every live entry strictly inside p (out NULL: only counts them). */
static size_t push_inside(const struct enforce_want *w, const struct enforce_prefix *p, int64_t now_ms,
                          struct enforce_nft_queue *out)
{
    const struct enforce_nft_mirror *m = &w->set;
    size_t n = 0;
    for (size_t i = enforce_nft_mirror_lower(m, p); i < m->n && enforce_prefix_contains(p, &m->v[i].p); i++) {
        if (m->v[i].p.len == p->len || !live(&m->v[i], now_ms)) continue;
        if (!out) return 1;
        enforce_nft_queue_push(out, &m->v[i].p, left_s(&m->v[i], now_ms), ENFORCE_NFT_ADD);
        n++;
    }
    return n;
}

/* Drops the given entries from the set (ops of kind delete, status OK). */
static void drop(struct enforce_want *w, struct enforce_nft_op *ops, size_t n, int64_t now_ms)
{
    if (n) enforce_nft_mirror_apply(&w->set, ops, n, now_ms);
}

static void op_of(struct enforce_nft_op *o, const struct enforce_prefix *p, uint8_t kind, uint32_t timeout_s)
{
    memset(o, 0, sizeof *o);
    if (kind == ENFORCE_NFT_ADD) enforce_nft_elem_from_prefix(&o->el, p, (uint64_t)timeout_s * 1000u);
    else o->el.p = *p;
    o->kind = kind;
    o->status = ENFORCE_NFT_OK;
}

size_t enforce_want_apply(struct enforce_want *w, const struct enforce_nft_change *q, size_t nq, int64_t now_ms,
                          struct enforce_nft_queue *out)
{
    if (!nq) return 0;
    struct enforce_nft_op *ops = sg_xcalloc(nq, sizeof *ops);
    for (size_t i = 0; i < nq; i++) op_of(&ops[i], &q[i].p, q[i].kind, q[i].timeout_s);
    enforce_nft_mirror_apply(&w->set, ops, nq, now_ms);
    free(ops);
    size_t pushed = 0;
    for (size_t i = 0; i < nq; i++) {
        if (is_host(&q[i].p)) continue;
        if (q[i].kind == ENFORCE_NFT_DEL) {
            if (out) pushed += push_inside(w, &q[i].p, now_ms, out);
        } else {
            const struct enforce_nft_elem *e = enforce_nft_mirror_find(&w->set, &q[i].p);
            if (e) note_prefix_expiry(w, e);
        }
    }
    return pushed;
}

void enforce_want_replace_sorted(struct enforce_want *w, const struct enforce_ban *wanted, size_t n, int64_t now_ms)
{
    struct enforce_nft_elem *v = sg_xcalloc(n ? n : 1, sizeof *v);
    size_t k = 0;
    for (size_t i = 0; i < n; i++) {
        /* Repeats are next to each other, the longest first: keep that one. */
        if (k && !enforce_prefix_cmp(&v[k - 1].p, &wanted[i].prefix)) continue;
        enforce_nft_elem_from_prefix(&v[k], &wanted[i].prefix, (uint64_t)wanted[i].timeout_s * 1000u);
        v[k++].expires_ms = now_ms + (int64_t)wanted[i].timeout_s * 1000;
    }
    enforce_nft_mirror_adopt(&w->set, v, k);
    w->next_prefix_exp_ms = 0;
    w->cursor = 0;
    for (size_t i = 0; i < w->set.n; i++) note_prefix_expiry(w, &w->set.v[i]);
}

void enforce_want_replace(struct enforce_want *w, const struct enforce_ban *wanted, size_t n, int64_t now_ms)
{
    struct enforce_ban *s = sg_xmalloc((n ? n : 1) * sizeof *s);
    memcpy(s, wanted, n * sizeof *s);
    if (n > 1) qsort(s, n, sizeof *s, enforce_ban_cmp);
    enforce_want_replace_sorted(w, s, n, now_ms);
    free(s);
}

size_t enforce_want_list(const struct enforce_want *w, int64_t now_ms, struct enforce_ban **out)
{
    size_t n = 0;
    struct enforce_ban *v = sg_xcalloc(w->set.n + 1, sizeof *v);
    for (size_t i = 0; i < w->set.n; i++) {
        const struct enforce_nft_elem *x = &w->set.v[i];
        if (!live(x, now_ms)) continue;
        v[n].prefix = x->p;
        v[n++].timeout_s = left_s(x, now_ms);
    }
    *out = v;
    return n;
}

void enforce_want_align(struct enforce_want *w, const struct enforce_nft_mirror *kernel)
{
    w->next_prefix_exp_ms = 0;
    for (size_t i = 0; i < w->set.n; i++) {
        struct enforce_nft_elem *e = &w->set.v[i];
        if (e->dead || is_host(&e->p)) continue;
        const struct enforce_nft_elem *k = enforce_nft_mirror_find(kernel, &e->p);
        if (k && !k->dead && k->expires_ms && k->expires_ms < e->expires_ms) e->expires_ms = k->expires_ms;
        note_prefix_expiry(w, e);
    }
}

size_t enforce_want_expire(struct enforce_want *w, int64_t now_ms, struct enforce_nft_queue *out)
{
    if (!w->next_prefix_exp_ms || now_ms < w->next_prefix_exp_ms) return 0;
    struct enforce_nft_mirror *m = &w->set;
    struct enforce_nft_op *due = NULL;
    size_t ndue = 0, cap = 0, lifted = 0;
    w->next_prefix_exp_ms = 0;
    for (size_t i = 0; i < m->n; i++) {
        const struct enforce_nft_elem *e = &m->v[i];
        if (e->dead || is_host(&e->p)) continue;
        if (e->expires_ms > now_ms) {
            note_prefix_expiry(w, e);
            continue;
        }
        /* Only a prefix that covers something wanted needs its delete (whose commit puts back
         * what it covered): the kernel drops the rest by itself, and a delete that comes too
         * late costs a retry. */
        if (push_inside(w, &e->p, now_ms, NULL)) {
            enforce_nft_queue_push(out, &e->p, 0, ENFORCE_NFT_DEL);
            lifted++;
        }
        if (ndue == cap) due = sg_xrealloc(due, (cap = cap ? cap * 2 : 16) * sizeof *due);
        op_of(&due[ndue++], &e->p, ENFORCE_NFT_DEL, 0);
    }
    drop(w, due, ndue, now_ms);
    free(due);
    return lifted;
}

size_t enforce_want_slice(struct enforce_want *w, int64_t now_ms, int64_t min_left_ms, size_t max,
                          struct enforce_nft_elem *out)
{
    struct enforce_nft_mirror *m = &w->set;
    struct enforce_nft_op *gone = NULL;
    size_t *at = NULL, k = 0, ngone = 0, cap = 0;
    for (size_t seen = 0; k < max && seen < m->n; seen++) {
        if (w->cursor >= m->n) w->cursor = 0;
        size_t i = w->cursor++;
        const struct enforce_nft_elem *e = &m->v[i];
        if (e->dead) continue;
        if (!live(e, now_ms)) {
            if (!is_host(&e->p)) continue;      /* a prefix is enforce_want_expire's to drop */
            if (ngone == cap) {
                cap = cap ? cap * 2 : 16;
                gone = sg_xrealloc(gone, cap * sizeof *gone);
                at = sg_xrealloc(at, cap * sizeof *at);
            }
            at[ngone] = i;
            op_of(&gone[ngone++], &e->p, ENFORCE_NFT_DEL, 0);
            continue;
        }
        if (e->expires_ms - now_ms < min_left_ms) continue;
        out[k++] = *e;
    }
    /* Compaction moves the entries after a dropped one down: keep the cursor on the same one. */
    size_t before = 0;
    for (size_t j = 0; j < ngone; j++) before += at[j] < w->cursor;
    drop(w, gone, ngone, now_ms);
    w->cursor -= before;
    free(gone);
    free(at);
    return k;
}
