/* tune_live.h: `sgcluster tune --live`: the cluster's current counters against the proposals. */
#ifndef SG_AGENT_TUNE_LIVE_H
#define SG_AGENT_TUNE_LIVE_H

#include "agent/tune.h"

/* Asks the agent at socket_path for its counters over each scenario's window and returns lines
 * saying how many keys are at or above the current and the proposed thresholds (an unreachable
 * agent is said in the text). t must be finished. Caller frees; NULL only when out of memory. */
char *tune_live(const char *socket_path, const struct tune *t);

#endif
