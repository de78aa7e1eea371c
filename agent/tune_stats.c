/* tune_stats.c: quantiles, the threshold rule and histogram bins of `sgcluster tune` (tune_stats.h). */
#include "agent/tune_stats.h"
#include "agent/util.h"

#include <math.h>
#include <stdlib.h>

void tune_dist_push(struct tune_dist *d, uint64_t x)
{
    if (d->n == d->cap) {
        d->cap = d->cap ? d->cap * 2 : 64;
        d->v = sg_xrealloc(d->v, d->cap * sizeof *d->v);
    }
    d->v[d->n++] = x;
}

static int cmp_u64(const void *a, const void *b)
{
    uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;
    return (x > y) - (x < y);
}

uint64_t tune_quantile(const uint64_t *sorted, size_t n, double q)
{
    if (!n) return 0;
    if (q <= 0) return sorted[0];
    if (q >= 1) return sorted[n - 1];
    /* Nearest rank: ceil(q * n), 1-based. The tiny epsilon keeps 0.9 * 10 from rounding up to 10. */
    double r = ceil(q * (double)n - 1e-9);
    size_t k = r < 1 ? 1 : (size_t)r;
    return sorted[(k > n ? n : k) - 1];
}

void tune_dist_finish(struct tune_dist *d)
{
    if (d->n) qsort(d->v, d->n, sizeof *d->v, cmp_u64);
    d->p50 = tune_quantile(d->v, d->n, 0.50);
    d->p90 = tune_quantile(d->v, d->n, 0.90);
    d->p99 = tune_quantile(d->v, d->n, 0.99);
    d->p999 = tune_quantile(d->v, d->n, 0.999);
    d->max = d->n ? d->v[d->n - 1] : 0;
}

void tune_dist_free(struct tune_dist *d)
{
    free(d->v);
    *d = (struct tune_dist){0};
}

void tune_propose(const struct tune_dist *legit, const struct tune_dist *attack, const struct tune_rule *rule,
                  int64_t current, struct tune_proposal *out)
{
    *out = (struct tune_proposal){.threshold = current, .verdict = TUNE_NO_DATA};
    bool attackers = attack && attack->n;
    out->attack_p50 = attackers ? attack->p50 : 0;
    if (!legit->n) return;
    out->legit_q = tune_quantile(legit->v, legit->n, rule->q);
    double cut = floor((double)out->legit_q * rule->margin) + 1;
    uint64_t thr = cut > (double)INT64_MAX / 2 ? (uint64_t)INT64_MAX / 2 : (uint64_t)cut;
    if (thr < rule->floor) thr = rule->floor;
    out->threshold = (int64_t)thr;
    out->verdict = !attackers ? TUNE_NO_ATTACKERS : thr <= attack->p50 ? TUNE_SEPARATES : TUNE_OVERLAP;
}

const char *tune_verdict_name(enum tune_verdict v)
{
    switch (v) {
    case TUNE_SEPARATES: return "separates";
    case TUNE_OVERLAP: return "overlap";
    case TUNE_NO_ATTACKERS: return "no-attackers";
    case TUNE_NO_DATA: return "no-data";
    }
    return "?";
}

size_t tune_bins(uint64_t max, uint64_t lo[TUNE_BINS_MAX])
{
    size_t n = 0;
    if (!max) return 0;
    if (max <= TUNE_LINEAR_MAX) {
        for (uint64_t x = 1; x <= max; x++) lo[n++] = x;
        return n;
    }
    for (uint64_t x = 1; n < TUNE_BINS_MAX; x *= 2) {
        lo[n++] = x;
        if (x > max / 2) break;   /* the next bound would be above max */
    }
    return n;
}

size_t tune_bin_of(const uint64_t *lo, size_t n, uint64_t x)
{
    size_t a = 0, b = n;   /* the last bin whose lo <= x */
    while (b - a > 1) {
        size_t m = (a + b) / 2;
        if (lo[m] <= x) a = m;
        else b = m;
    }
    return a;
}
