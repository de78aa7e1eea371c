/* seen.h: what this node has caught up with, `seen` in its heartbeats (gossip/transport.h).
 *
 * The transport knows its input horizon: every frame its live peers sent before it has been merged
 * here. The keys those merges touched may still wait in the scenario engine's evaluation queue, so
 * `seen` is the input horizon as it was when the oldest queued key was touched: the merges before
 * that have all been evaluated. The horizon is kept over time as a ring of samples, one every
 * SEEN_STEP_MS at most, the last SEEN_SAMPLES of them, in wall-clock order (looked up by binary
 * search at every flush). A queue older than the ring says 0: behind.
 *
 * A wall clock stepped back would pair old touches with later samples and over-claim. A step back
 * is seen by the wall clock's distance to the monotonic clock shrinking by more than
 * SEEN_STEP_BACK_MS since the last call (however few calls there were), or by a queued touch
 * later than now; it empties the ring, and `seen` is 0 until the engine has evaluated every key
 * queued before the step (the queue is first in, first out, so a count of evaluations says when).
 * The ring lives as long as the agent, across reloads, as the engine's queue does. Never more than
 * is true.
 *
 * Memory: SEEN_SAMPLES x 16 bytes (64 KiB), allocated at the first sample. */
#ifndef SG_AGENT_SEEN_H
#define SG_AGENT_SEEN_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define SEEN_SAMPLES 4096
#define SEEN_STEP_MS 100
#define SEEN_STEP_BACK_MS 2   /* the two clocks are read apart, each to the ms: 1 ms is noise */

struct seen_ring {
    struct seen_sample {
        int64_t wall, input;
    } *v;
    size_t head, n;
    int64_t offset;        /* wall - monotonic at the last call ... */
    bool have_offset;      /* ... once there was one */
    bool stepped;          /* the wall clock stepped back: 0 until ... */
    uint64_t step_done;    /* ... the engine has evaluated this many keys (those queued before) */
};

/* What the engine's queue looks like now: its oldest key's touch time (-1: empty), how many keys it
 * holds, and how many it has evaluated since it started (scenario_stats.evaluated). */
struct seen_queue {
    int64_t oldest;
    size_t queued;
    uint64_t evaluated;
};

/* Samples the input horizon at now (wall ms; mono: the monotonic clock, ms) and returns `seen`: the
 * horizon when the oldest queued key was touched (input_ms with an empty queue), never more than
 * input_ms; 0 when the queue is older than the ring or the clock stepped back under it. */
int64_t seen_ring_update(struct seen_ring *r, int64_t now, int64_t mono, int64_t input_ms,
                         const struct seen_queue *q);
void seen_ring_fini(struct seen_ring *r);

#endif
