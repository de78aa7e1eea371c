/* got_events.h: the events one log line gives, collected for the unit tests that feed a parser line
 * by line (test_detect.c, test_agent_tune_qmgr.c). Header-only (static functions). */
#ifndef SG_TESTS_GOT_EVENTS_H
#define SG_TESTS_GOT_EVENTS_H

#include <string.h>

#include "detect/detect.h"

#define GOT_MAX 8
/* The first GOT_MAX events of a line, and how many there were. */
struct got {
    struct sg_event v[GOT_MAX];
    int n;
};

static inline void got_collect(const struct sg_event *ev, void *arg)
{
    struct got *g = arg;
    if (g->n < GOT_MAX) g->v[g->n] = *ev;
    g->n++;
}

/* The events of line through p. */
static inline struct got parse1(struct detect_parser *p, const char *line)
{
    struct got g;
    memset(&g, 0, sizeof g);
    detect_parser_line(p, line, strlen(line), got_collect, &g);
    return g;
}

#endif
