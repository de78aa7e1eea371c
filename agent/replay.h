/* replay.h: the scenario engine run over log lines on their own timestamps, as one node with no
 * enforcement. The one path of `sgcluster replay` and of `sgcluster tune`'s what-ifs, so that a
 * what-if and a replay with the same thresholds decide the same things. */
#ifndef SG_AGENT_REPLAY_H
#define SG_AGENT_REPLAY_H

#include <stdint.h>

#include "agent/agent_build.h"
#include "agent/scenario.h"

struct replay;

/* parts (from agent_build with AGENT_BUILD_OFFLINE | AGENT_BUILD_DRYRUN) is borrowed and must
 * outlive the replay; its config is read when lines are fed, so thresholds changed before
 * replay_new are the ones used. The replay has its own parser over parts->rules (a fresh join
 * state) and signs with a throwaway identity. on_decision (may be NULL) sees every decision.
 * Returns NULL when the state cannot be made. Owned by the caller. */
struct replay *replay_new(const struct agent_parts *parts, scenario_decision_fn *on_decision, void *arg);
void replay_destroy(struct replay **p);
/* Feeds one line (no newline). Events without a time take the last one seen; the clock never goes
 * back (logs of several writers are not strictly ordered). */
void replay_line(struct replay *r, const char *line, size_t len);
/* Feeds every line of path ("-" = stdin). Returns 0, or -1 when it cannot be read (printed). */
int replay_file(struct replay *r, const char *path);

struct replay_stats {
    uint64_t lines, events, decisions;
};
void replay_stats(const struct replay *r, struct replay_stats *out);

#endif
