/* replay.c: the scenario engine over log lines on their own timestamps (replay.h). */
#include "agent/replay.h"
#include "agent/cli_common.h"
#include "agent/util.h"
#include "gossip/keyring.h"
#include "gossip/state.h"

#include <sodium.h>
#include <stdlib.h>

struct replay {
    const struct agent_parts *parts;
    struct detect_parser *parser;
    struct gossip_identity *id;
    struct gossip_keyring *kr;
    struct gossip_state *st;
    struct scenario_engine *eng;
    scenario_decision_fn *on_decision;
    void *arg;
    replay_event_fn *hook;
    void *hook_arg;
    int64_t last_ms;
    uint64_t decisions;
};

static void count_decision(const struct decision *d, void *arg)
{
    struct replay *r = arg;
    r->decisions++;
    if (r->on_decision) r->on_decision(d, r->arg);
}

struct replay *replay_new(const struct agent_parts *parts, scenario_decision_fn *on_decision, void *arg)
{
    struct replay *r = sg_xcalloc(1, sizeof *r);
    r->parts = parts;
    r->on_decision = on_decision;
    r->arg = arg;
    r->parser = cli_parser_new(parts->cfg, parts->rules);
    /* A throwaway identity: replay writes the same signed records the agent would, in memory. */
    uint8_t seed[32];
    randombytes_buf(seed, sizeof seed);
    r->id = gossip_identity_from_seed("replay", seed);
    r->kr = gossip_keyring_new();
    if (!r->parser || !r->id || !r->kr) goto fail;
    gossip_keyring_add_identity(r->kr, r->id);
    struct gossip_state_config sc;
    scenario_state_config(parts->cfg, &sc);
    /* Replayed logs may be old: the state's clock must follow the log, not the wall. */
    sc.max_skew_ms = INT64_MAX / 4;
    r->st = gossip_state_new(&sc, r->id, r->kr, 1);
    if (!r->st) goto fail;
    r->eng = scenario_engine_new(parts->cfg, r->st, enforce_guard(parts->enf), count_decision, r);
    return r;
fail:
    replay_destroy(&r);
    return NULL;
}

void replay_destroy(struct replay **p)
{
    struct replay *r = *p;
    if (!r) return;
    scenario_engine_destroy(&r->eng);
    gossip_state_destroy(&r->st);
    gossip_keyring_destroy(&r->kr);
    gossip_identity_destroy(&r->id);
    detect_parser_destroy(&r->parser);
    free(r);
    *p = NULL;
}

int64_t replay_clock(int64_t *last_ms, int64_t ev_ms)
{
    int64_t t = ev_ms ? ev_ms : *last_ms;
    if (!t) return 0;   /* nothing to place it in time yet */
    if (t < *last_ms) t = *last_ms;
    *last_ms = t;
    return t;
}

static void on_event(const struct sg_event *ev, void *arg)
{
    struct replay *r = arg;
    int64_t t = replay_clock(&r->last_ms, ev->time_ms);
    if (!t) return;
    scenario_engine_event(r->eng, ev, t);
    if (r->hook) r->hook(ev, t, r->hook_arg);
}

void replay_set_event_hook(struct replay *r, replay_event_fn *fn, void *arg)
{
    r->hook = fn;
    r->hook_arg = arg;
}

void replay_line(struct replay *r, const char *line, size_t len)
{
    detect_parser_line(r->parser, line, len, on_event, r);
}

static void feed(const char *line, size_t len, void *arg)
{
    replay_line(arg, line, len);
}

int replay_file(struct replay *r, const char *path)
{
    return cli_read_lines(path, feed, r);
}

void replay_stats(const struct replay *r, struct replay_stats *out)
{
    struct detect_stats ds;
    detect_parser_stats(r->parser, &ds);
    out->lines = ds.lines;
    out->events = ds.events;
    out->decisions = r->decisions;
}
