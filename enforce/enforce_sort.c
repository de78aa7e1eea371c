/* enforce_sort.c: a merge sort cut into steps of bounded work, so that sorting 100k bans or a
 * set's dump never holds the agent's loop for more than a slice (enforce_reconcile.c). */
#include "enforce/enforce_nft.h"

#include "agent/util.h"

#include <stdlib.h>
#include <string.h>

#define RUN 256   /* runs sorted by qsort first, then merged pairwise, pass after pass */

void enforce_sort_init(struct enforce_sort *s, void *v, size_t n, size_t size, int (*cmp)(const void *, const void *))
{
    memset(s, 0, sizeof *s);
    s->src = v;
    s->n = n;
    s->size = size;
    s->cmp = cmp;
    s->dst = sg_xmalloc((n ? n : 1) * size);
}

/* Next pair of runs of the current pass: [lo, mid) and [mid, hi), merged into dst. */
static void pair_start(struct enforce_sort *s)
{
    s->mid = s->lo + s->width < s->n ? s->lo + s->width : s->n;
    s->hi = s->mid + s->width < s->n ? s->mid + s->width : s->n;
    s->i = s->lo;
    s->j = s->mid;
    s->k = s->lo;
}

bool enforce_sort_step(struct enforce_sort *s, size_t budget)
{
    size_t sz = s->size;
    while (budget && !s->done) {
        if (!s->width) {                       /* phase 1: sort the runs */
            size_t m = s->n - s->lo < RUN ? s->n - s->lo : RUN;
            if (m > 1) qsort(s->src + s->lo * sz, m, sz, s->cmp);
            s->lo += m;
            budget = budget > RUN ? budget - RUN : 0;
            if (s->lo >= s->n) {
                s->width = RUN;
                s->lo = 0;
                if (s->width >= s->n) s->done = true;
                else pair_start(s);
            }
            continue;
        }
        /* phase 2: one element moved per unit of budget */
        for (; budget && s->k < s->hi; budget--) {
            char *from;
            if (s->i < s->mid && (s->j >= s->hi || s->cmp(s->src + s->i * sz, s->src + s->j * sz) <= 0))
                from = s->src + s->i++ * sz;
            else
                from = s->src + s->j++ * sz;
            memcpy(s->dst + s->k++ * sz, from, sz);
        }
        if (s->k < s->hi) break;
        s->lo = s->hi;
        if (s->lo >= s->n) {                   /* the pass is over: dst holds runs twice as long */
            char *t = s->src;
            s->src = s->dst;
            s->dst = t;
            s->width *= 2;
            s->lo = 0;
            if (s->width >= s->n) {
                s->done = true;
                break;
            }
        }
        pair_start(s);
    }
    return s->done;
}

void *enforce_sort_take(struct enforce_sort *s)
{
    void *v = s->src;
    free(s->dst);
    memset(s, 0, sizeof *s);
    return v;
}

void enforce_sort_free(struct enforce_sort *s)
{
    free(s->src);
    free(s->dst);
    memset(s, 0, sizeof *s);
}
