/* seen.c: the ring of input horizons behind `seen` (see seen.h). */
#include "agent/seen.h"
#include "agent/util.h"

#include <stdlib.h>

static const struct seen_sample *at(const struct seen_ring *r, size_t i)
{
    return &r->v[(r->head + i) % SEEN_SAMPLES];
}

int64_t seen_ring_update(struct seen_ring *r, int64_t now, int64_t mono, int64_t input_ms,
                         const struct seen_queue *q)
{
    if (!r->v) r->v = sg_xmalloc(SEEN_SAMPLES * sizeof *r->v);
    bool back = (r->have_offset && now - mono < r->offset - SEEN_STEP_BACK_MS) ||
                (r->n && now < at(r, r->n - 1)->wall) || (q->oldest >= 0 && q->oldest > now);
    r->offset = now - mono;
    r->have_offset = true;
    if (back) {   /* stepped back: the keys queued now were touched by the clock before */
        r->n = 0;
        r->stepped = true;
        r->step_done = q->evaluated + q->queued;
    }
    if (r->stepped && (q->oldest < 0 || q->evaluated >= r->step_done)) r->stepped = false;
    if (!r->n || now - at(r, r->n - 1)->wall >= SEEN_STEP_MS) {
        if (r->n == SEEN_SAMPLES) {
            r->head = (r->head + 1) % SEEN_SAMPLES;
            r->n--;
        }
        r->v[(r->head + r->n++) % SEEN_SAMPLES] = (struct seen_sample){now, input_ms};
    }
    if (r->stepped) return 0;
    if (q->oldest < 0) return input_ms;
    /* the latest sample at or before the oldest touch: [0, lo) are at or before it, [hi, n) after */
    size_t lo = 0, hi = r->n;
    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        if (at(r, mid)->wall <= q->oldest) lo = mid + 1;
        else hi = mid;
    }
    if (!lo) return 0;
    int64_t in = at(r, lo - 1)->input;
    return in < input_ms ? in : input_ms;
}

void seen_ring_fini(struct seen_ring *r)
{
    free(r->v);
    *r = (struct seen_ring){0};
}
