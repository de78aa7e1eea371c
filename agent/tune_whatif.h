/* tune_whatif.h: what a set of thresholds would have done over a period: the decisions of one
 * replay (agent/replay.h), grouped by scenario and key, for `sgcluster tune`'s what-ifs. */
#ifndef SG_AGENT_TUNE_WHATIF_H
#define SG_AGENT_TUNE_WHATIF_H

#include <stddef.h>
#include <stdint.h>

#include "agent/scenario.h"

struct tune_hit {
    char *key;            /* record key: "ip:X", "net:P", "user:U", "throttle:..." */
    uint32_t decisions;   /* decisions on this key (repeat offenders are decided again) */
    int64_t first_ms;
};

struct tune_whatif {
    char *scenario;       /* the scenario id, "account-attack" / "prefix-escalation", or a limit's name */
    char *action;         /* "ban", "throttle", "hold"; for a limit its tier: "warn", "defer", ... */
    struct tune_hit *hits;   /* sorted by decisions (most first), then first_ms, after tune_whatifs_sort */
    size_t n, cap;
    uint64_t decisions;
};

struct tune_whatifs {
    struct tune_whatif *v;
    size_t n, cap;
};

/* Adds one decision (a scenario_decision_fn: arg is the struct tune_whatifs), grouped by scenario
 * and action. */
void tune_whatifs_add(const struct decision *d, void *arg);
void tune_whatifs_sort(struct tune_whatifs *w);
/* The what-if of scenario and action (NULL: its first group), or NULL when it decided nothing.
 * Borrowed from w. */
const struct tune_whatif *tune_whatifs_find(const struct tune_whatifs *w, const char *scenario, const char *action);
void tune_whatifs_free(struct tune_whatifs *w);

#endif
