/* hist.c: the fixed-bucket latency histogram (see hist.h). */
#include "common/hist.h"

const double sg_hist_bounds[SG_HIST_BUCKETS] = {0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025,
                                                0.05,   0.1,     0.25,   0.5,   1,      2.5,   5,     10};

void sg_hist_observe(struct sg_hist *h, double seconds)
{
    if (!(seconds > 0)) seconds = 0;   /* also NaN */
    h->count++;
    h->sum += seconds;
    for (size_t i = 0; i < SG_HIST_BUCKETS; i++)
        if (seconds <= sg_hist_bounds[i]) { h->bucket[i]++; return; }
}

void sg_hist_observe_ns(struct sg_hist *h, int64_t ns)
{
    sg_hist_observe(h, (double)ns / 1e9);
}
