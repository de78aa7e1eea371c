/* hist.h: a fixed-bucket latency histogram in seconds, cheap enough to observe every request.
 * Every histogram has the same bounds, so a dashboard can compare them; Prometheus exposition of
 * it is agent/prom.h's. Below every folder: enforce (the policy service) and agent both observe. */
#ifndef SG_COMMON_HIST_H
#define SG_COMMON_HIST_H

#include <stddef.h>
#include <stdint.h>

#define SG_HIST_BUCKETS 16
/* Upper bounds of the buckets, in seconds, increasing: 100 us .. 10 s (then +Inf). */
extern const double sg_hist_bounds[SG_HIST_BUCKETS];

struct sg_hist {
    uint64_t bucket[SG_HIST_BUCKETS];   /* observations <= bound i and > bound i-1 (not cumulative) */
    uint64_t count;                      /* every observation, the +Inf bucket's */
    double sum;                          /* seconds */
};

/* Adds one observation; a negative one counts as 0. */
void sg_hist_observe(struct sg_hist *h, double seconds);
/* The same from a duration in nanoseconds (sg_mono_ns differences). */
void sg_hist_observe_ns(struct sg_hist *h, int64_t ns);

#endif
