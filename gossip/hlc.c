/* hlc.c: hybrid logical clock; local stamps never go backwards and order after everything observed. */
#include "gossip/hlc.h"

#include <stdbool.h>

void gossip_hlc_init(struct gossip_hlc *c, int64_t max_skew_ms)
{
    c->last = 0;
    c->max_skew_ms = max_skew_ms > 0 ? max_skew_ms : GOSSIP_HLC_DEFAULT_MAX_SKEW_MS;
}

/* The wall clock as a stamp with logical 0; negative or absurd clocks clamp into 48 bits. */
static uint64_t wall_stamp(int64_t now_ms)
{
    if (now_ms < 0) now_ms = 0;
    if (now_ms > (int64_t)0xffffffffffffLL) now_ms = 0xffffffffffffLL;
    return GOSSIP_HLC_MAKE(now_ms, 0);
}

/* With packed stamps the textbook rules (take the largest of wall, last and remote; bump the
 * logical part when the wall clock did not move past it) reduce to: max(last, wall) or last + 1.
 * A logical overflow carries into the milliseconds, which is what a clock running ahead means. */
uint64_t gossip_hlc_now(struct gossip_hlc *c, int64_t now_ms)
{
    uint64_t w = wall_stamp(now_ms);
    c->last = w > c->last ? w : c->last + 1;
    return c->last;
}

bool gossip_hlc_acceptable(const struct gossip_hlc *c, uint64_t remote, int64_t now_ms)
{
    return GOSSIP_HLC_MS(remote) <= now_ms + c->max_skew_ms;
}

int gossip_hlc_observe(struct gossip_hlc *c, uint64_t remote, int64_t now_ms)
{
    if (!gossip_hlc_acceptable(c, remote, now_ms)) return -1;
    if (remote > c->last) c->last = remote;
    return 0;
}
