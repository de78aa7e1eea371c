/* explain.h: `sgcluster explain ADDR|USER [USER|ADDR]`: why an address or a user is or is not
 * banned, from the replicated state (cluster-wide): its records, each scenario's count against its
 * threshold, the evidence of legitimacy, known-good status, and what would trigger next.
 *
 * Sketches keep item hashes, not names: known-good status is answered for a given (address, user)
 * pair (the optional second argument), and counted otherwise. */
#ifndef SG_AGENT_EXPLAIN_H
#define SG_AGENT_EXPLAIN_H

#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>

#include "agent/config.h"
#include "gossip/state.h"

/* target: an address ("203.0.113.7", or "ip:..."), or a user ("alice@example.org", or "user:...").
 * other (may be NULL): a user when target is an address, an address when it is a user.
 * Writes the report (a table, or one JSON object) to out. Returns 0, or 2 with a message in out
 * for a target or other that is neither. */
int explain_write(const struct config *cfg, const struct gossip_state *st, const char *target, const char *other,
                  bool json, int64_t now_ms, FILE *out);

#endif
