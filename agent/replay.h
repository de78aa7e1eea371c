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
/* The replay clock: an event's time, or the last one for an event without; never going back (logs
 * of several writers are not strictly ordered). Updates *last_ms; returns 0 while nothing placed
 * the log in time yet (the event is skipped). `sgcluster tune` measures on this same clock. */
int64_t replay_clock(int64_t *last_ms, int64_t ev_ms);
/* Also hands every event to fn (may be NULL) at the replay's clock, after the engine counted it:
 * `sgcluster tune` feeds the sending limits' what-if from the same events. */
typedef void (replay_event_fn)(const struct sg_event *ev, int64_t now_ms, void *arg);
void replay_set_event_hook(struct replay *r, replay_event_fn *fn, void *arg);
/* Feeds one line (no newline), on replay_clock. */
void replay_line(struct replay *r, const char *line, size_t len);
/* Feeds every line of path ("-" = stdin). Returns 0, or -1 when it cannot be read (printed). */
int replay_file(struct replay *r, const char *path);

struct replay_stats {
    uint64_t lines, events, decisions;
};
void replay_stats(const struct replay *r, struct replay_stats *out);

#endif
