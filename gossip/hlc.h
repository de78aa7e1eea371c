/* hlc.h: hybrid logical clock (48 bits of wall milliseconds, 16 bits of logical counter) stamping ban records. */
#ifndef GOSSIP_HLC_H
#define GOSSIP_HLC_H

#include <stdint.h>

/* A stamp is one uint64: (milliseconds << 16) | logical. Comparing two stamps as integers orders them. */
#define GOSSIP_HLC_MS(h) ((int64_t)((h) >> 16))
#define GOSSIP_HLC_LOGICAL(h) ((uint16_t)((h) & 0xffffu))
#define GOSSIP_HLC_MAKE(ms, l) (((uint64_t)(ms) << 16) | (uint16_t)(l))
#define GOSSIP_HLC_DEFAULT_MAX_SKEW_MS 60000

struct gossip_hlc {
    uint64_t last;          /* the largest stamp issued or observed */
    int64_t max_skew_ms;    /* remote stamps further ahead of the local wall clock are refused */
};

void gossip_hlc_init(struct gossip_hlc *c, int64_t max_skew_ms);

/* Stamps a local event at wall time now_ms: strictly greater than every stamp issued or observed. */
uint64_t gossip_hlc_now(struct gossip_hlc *c, int64_t now_ms);

/* True when a remote stamp is acceptable at now_ms (not more than max_skew_ms ahead). */
_Bool gossip_hlc_acceptable(const struct gossip_hlc *c, uint64_t remote, int64_t now_ms);

/* Folds a remote stamp in, so later local stamps order after it. Returns -1 (and changes nothing)
 * when the stamp is too far in the future, else 0. */
int gossip_hlc_observe(struct gossip_hlc *c, uint64_t remote, int64_t now_ms);

#endif
