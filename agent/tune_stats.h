/* tune_stats.h: the maths of `sgcluster tune`: quantiles of a population, the threshold rule, and
 * the histogram bins of the pictures. Pure functions, no I/O. */
#ifndef SG_AGENT_TUNE_STATS_H
#define SG_AGENT_TUNE_STATS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* A population of per-subject values (each subject's peak), sorted ascending, and its quantiles. */
struct tune_dist {
    uint64_t *v;      /* owned; n values, sorted by tune_dist_finish */
    size_t n, cap;
    uint64_t p50, p90, p99, p999, max;
};
void tune_dist_push(struct tune_dist *d, uint64_t x);
/* Sorts the values and fills the quantiles (all 0 for an empty population). */
void tune_dist_finish(struct tune_dist *d);
void tune_dist_free(struct tune_dist *d);
/* Nearest-rank quantile of n sorted values: the smallest value with at least q*n values at or below
 * it (q in [0,1]); 0 for n == 0. q = 1 gives the maximum. */
uint64_t tune_quantile(const uint64_t *sorted, size_t n, double q);

/* The threshold rule: strictly above the legitimate population's quantile q times margin, and never
 * below floor: threshold = max(floor, floor(legit_q * margin) + 1). A subject triggers at value >=
 * threshold, so a legitimate subject at the quantile stays below it by the margin. */
struct tune_rule {
    double q;          /* 0.999 by default */
    double margin;     /* 2.0 by default */
    uint64_t floor;    /* 2: one event never triggers */
};
#define TUNE_RULE_Q_DEFAULT 0.999
#define TUNE_RULE_MARGIN_DEFAULT 2.0
#define TUNE_RULE_FLOOR_DEFAULT 2

enum tune_verdict {
    TUNE_SEPARATES,   /* the threshold is at or below the attackers' median: most of them trigger */
    TUNE_OVERLAP,     /* attackers' median is below it: the populations overlap, legitimate side kept */
    TUNE_NO_ATTACKERS,/* no attacker population in the period (nothing to check against) */
    TUNE_NO_DATA,     /* no legitimate population: the current threshold is kept */
};

struct tune_proposal {
    int64_t threshold;
    uint64_t legit_q;      /* the legitimate population's quantile q */
    uint64_t attack_p50;   /* the attackers' median (0 without attackers) */
    enum tune_verdict verdict;
};
/* Proposes a threshold from legit and attack (finished; attack may be NULL or empty). With no
 * legitimate value, current is kept (verdict TUNE_NO_DATA). */
void tune_propose(const struct tune_dist *legit, const struct tune_dist *attack, const struct tune_rule *rule,
                  int64_t current, struct tune_proposal *out);
const char *tune_verdict_name(enum tune_verdict v);

/* Histogram bins over values 1..max: width 1 up to TUNE_LINEAR_MAX, else powers of two
 * ([1,2), [2,4), [4,8), ...). lo[i] is bin i's first value; bin i ends before lo[i+1] (the last bin
 * ends after max). Returns the number of bins (at most TUNE_BINS_MAX); 0 when max is 0. */
#define TUNE_LINEAR_MAX 40
#define TUNE_BINS_MAX 65
size_t tune_bins(uint64_t max, uint64_t lo[TUNE_BINS_MAX]);
/* Index of the bin holding x (x >= 1) among n bins. */
size_t tune_bin_of(const uint64_t *lo, size_t n, uint64_t x);

#endif
