/* agent_throttle.h: the sending limits on the running agent: the store behind them, their
 * notifications and `sgcluster quota`. */
#ifndef SG_AGENT_THROTTLE_H
#define SG_AGENT_THROTTLE_H

#include <stdbool.h>
#include <stdio.h>

#include "enforce/throttle.h"

struct agent;

/* A store on a's replicated counters (borrowed: valid while a's state lives). */
struct throttle_store agent_throttle_store(struct agent *a);
/* Counts every hit of d by tier and logs each (limit, subject, tier) once per the limit's window
 * (or refill period): one line, not one per message or recipient. */
void agent_throttle_note(struct agent *a, const struct throttle_decision *d, int64_t now_ms);
/* `quota TARGET` (every limit's counter for it) and `quota --reset TARGET` (cluster-wide: a reset
 * mark replicated like any counter). argv[0] is "quota". Returns 0, 1 or 2 (usage). */
int agent_throttle_quota(struct agent *a, int argc, char **argv, bool json, FILE *out);

#endif
