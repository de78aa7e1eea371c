/* agent_gossip.c: wires the cluster transport into the agent: peers from the configuration, remote
 * counter keys fed back to the scenario engine, and the peer view of `status` and `peers`. */
#include "agent/agent.h"
#include "agent/agent_build.h"
#include "agent/json.h"
#include "agent/util.h"
#include "gossip/transport.h"

#include <inttypes.h>
#include <stdlib.h>
#include <string.h>

/* The keys peers' merges touch are evaluated in slices (scenario.h): one after each merged frame and
 * one every EVAL_STEP_MS while any is queued, with the loop's other work between them. A slice takes
 * as long as the loop spent elsewhere since the previous one, at least EVAL_SLICE_US and at most
 * EVAL_SLICE_MAX_US: when other work makes the loop's turns long (a sync answer merged), evaluation
 * keeps half the loop instead of falling behind what merges bring. */
#define EVAL_SLICE_US 2000
#define EVAL_SLICE_MAX_US 50000
#define EVAL_STEP_MS 1
/* The live nodes the decider is chosen among are looked up at most this often. */
#define LIVE_REFRESH_MS 100

static int on_eval_timer(zloop_t *loop, int timer_id, void *arg);

/* One one-shot timer for the next slice while keys are queued; another for the first deadline of a
 * deferred crossing. */
void agent_gossip_eval_arm(struct agent *a)
{
    int id;
    if (!a->loop || !a->eng) return;
    if (!a->eval_timer && scenario_engine_queued(a->eng) &&
        (id = zloop_timer(a->loop, EVAL_STEP_MS, 1, on_eval_timer, a)) >= 0)
        a->eval_timer = id;
    int64_t due = scenario_engine_next_deadline(a->eng);
    if (!a->deadline_timer && due >= 0) {
        int64_t wait = due - sg_now_ms();
        if ((id = zloop_timer(a->loop, (size_t)(wait < 1 ? 1 : wait), 1, on_eval_timer, a)) >= 0) a->deadline_timer = id;
    }
}

/* A slice (the deadlines passed first, then queued keys), and the timers again. */
static void eval_slice(struct agent *a)
{
    int64_t start = sg_mono_ns() / 1000, budget = start - a->eval_slice_end_us;
    if (budget < EVAL_SLICE_US) budget = EVAL_SLICE_US;
    if (budget > EVAL_SLICE_MAX_US) budget = EVAL_SLICE_MAX_US;
    scenario_engine_drain(a->eng, sg_now_ms(), budget);
    a->eval_slice_end_us = sg_mono_ns() / 1000;
    if (gossip_state_pending(a->st)) agent_gossip_notify(a);   /* the transport may be gone after a reload */
    agent_gossip_eval_arm(a);
}

static int on_eval_timer(zloop_t *loop, int timer_id, void *arg)
{
    (void)loop;
    struct agent *a = arg;
    if (timer_id == a->eval_timer) a->eval_timer = 0;
    if (timer_id == a->deadline_timer) a->deadline_timer = 0;
    eval_slice(a);
    return 0;
}

/* What this node has caught up with (`seen` in its heartbeats): agent/seen.h. */
static int64_t seen_horizon(int64_t input_ms, void *arg)
{
    struct agent *a = arg;
    struct scenario_stats es;
    scenario_engine_stats(a->eng, &es);
    struct seen_queue q = {scenario_engine_oldest_queued(a->eng), scenario_engine_queued(a->eng), es.evaluated};
    return seen_ring_update(&a->seen, sg_now_ms(), sg_mono_ms(), input_ms, &q);
}

/* Who decides a crossing seen through merges: rendezvous over this node and the peers it hears now
 * (alive: a message within suspect_ms). Nodes that hear the same peers agree; one that hears a
 * different set may also decide (a duplicate ban, harmless) or leave it to a node that is gone (the
 * others take it over at the deadline). Another node is busy until its `seen` passes the crossing. */
static enum scenario_decider_is decides_here(const char *subject, int64_t cross_ms, void *arg)
{
    struct agent *a = arg;
    if (!a->tr) return SCENARIO_DECIDES_HERE;
    int64_t now = sg_mono_ms();
    if (!a->live || now - a->live_mono_ms >= LIVE_REFRESH_MS) {
        size_t n = gossip_transport_peer_count(a->tr);
        a->live = sg_xrealloc(a->live, (n + 1) * sizeof *a->live);
        a->live_seen = sg_xrealloc(a->live_seen, (n + 1) * sizeof *a->live_seen);
        a->nlive = 0;
        a->live_seen[a->nlive] = 0;
        a->live[a->nlive++] = gossip_state_origin(a->st);
        for (size_t i = 0; i < n; i++) {
            struct gossip_peer_stats ps;
            if (gossip_transport_peer_stats(a->tr, i, &ps) == 0 && ps.status == GOSSIP_PEER_ALIVE) {
                a->live_seen[a->nlive] = ps.seen_ms;
                a->live[a->nlive++] = ps.origin;
            }
        }
        a->live_mono_ms = now;
    }
    uint64_t d = scenario_decider(subject, a->live, a->nlive);
    if (d == a->live[0]) return SCENARIO_DECIDES_HERE;
    size_t i = 1;
    while (i < a->nlive && a->live[i] != d) i++;
    return scenario_decider_caught_up(i < a->nlive ? a->live_seen[i] : 0, cross_ms);
}

/* A threshold may be crossed by peers' increments alone: the keys whose counts a merge moved are
 * queued for evaluation. */
static void on_merge(const struct gossip_body *body, const struct gossip_merge_result *res, uint64_t sender, void *arg)
{
    struct agent *a = arg;
    (void)sender;
    scenario_engine_touch_merged(a->eng, body, res->changed_marks, sg_now_ms());
    eval_slice(a);
}

int agent_gossip_start(struct agent *a, uint64_t last_seq)
{
    const struct config *cfg = a->cfg;
    if (!cfg->gossip_bind) {
        if (cfg->npeers) { sg_log(SG_LOG_ERR, "[node] gossip_bind is required when peers are configured"); return -1; }
        return 0;   /* a single node: nothing to gossip */
    }
    size_t npeers;
    struct gossip_transport_peer *peers = agent_build_peers(cfg, a->kr, &npeers);
    struct gossip_transport_config tc;
    gossip_transport_config_default(&tc);
    tc.self = a->id;
    tc.pub_bind = cfg->gossip_bind;
    tc.sync_bind = cfg->sync_bind;
    tc.peers = peers;
    tc.n_peers = npeers;
    tc.curve = cfg->curve;
    tc.site = cfg->site;
    tc.relay = cfg->relay;
    tc.first_seq = last_seq;
    a->tr = gossip_transport_new(a->loop, a->st, a->kr, &tc);
    free(peers);
    if (!a->tr) return -1;
    gossip_transport_set_merge_cb(a->tr, on_merge, a);
    gossip_transport_set_horizon_fn(a->tr, seen_horizon, a);
    scenario_engine_set_decider(a->eng, decides_here, a);
    return 0;
}

void agent_gossip_stop(struct agent *a)
{
    gossip_transport_destroy(&a->tr);
    free(a->live);
    a->live = NULL;
    free(a->live_seen);
    a->live_seen = NULL;
    a->nlive = 0;
}

void agent_gossip_notify(struct agent *a)
{
    if (a->tr) gossip_transport_notify(a->tr);
}

bool agent_gossip_synced(struct agent *a)
{
    return !a->tr || !a->cfg->npeers || gossip_transport_synced(a->tr);
}

void agent_gossip_peers_json(struct agent *a, FILE *out, bool *all_alive, size_t *alive)
{
    *all_alive = true;
    *alive = 0;
    fputc('[', out);
    bool first = true;
    size_t n = a->tr ? gossip_transport_peer_count(a->tr) : 0;
    for (size_t i = 0; i < n; i++) {
        struct gossip_peer_stats ps;
        if (gossip_transport_peer_stats(a->tr, i, &ps) < 0) break;
        if (!ps.configured) continue;
        if (ps.status == GOSSIP_PEER_ALIVE) (*alive)++;
        else *all_alive = false;
        fputs(first ? "{" : ",{", out);
        first = false;
        gossip_peer_stats_json(&ps, out);
        fputc('}', out);
    }
    /* configured peers left out for lack of a public key: the cluster is not whole */
    for (size_t i = 0; i < a->cfg->npeers; i++) {
        if (gossip_keyring_find_name(a->kr, a->cfg->peers[i].name)) continue;
        *all_alive = false;
        fprintf(out, "%s{\"name\":", first ? "" : ",");
        first = false;
        json_str(out, a->cfg->peers[i].name);
        fputs(",\"state\":\"no_key\"}", out);
    }
    fputc(']', out);
}

void agent_gossip_peers_table(struct agent *a, FILE *out)
{
    if (!a->tr || !a->cfg->npeers) { fprintf(out, "gossip    no peers configured (single node)\n"); return; }
    struct gossip_transport_totals tt;
    gossip_transport_totals(a->tr, &tt);
    uint64_t drops = 0;
    for (int d = 0; d < GOSSIP_DROP_MAX; d++) drops += tt.drops[d];
    fprintf(out, "gossip    epoch %u, seq %" PRIu64 ", %s, curve %s, %" PRIu64 " frames in, %" PRIu64
                 " out, %" PRIu64 " dropped, syncs %" PRIu64 "/%" PRIu64 "\n",
            tt.epoch, tt.last_seq, tt.synced ? "synced" : "NOT YET SYNCED", tt.curve ? "on" : "off", tt.frames_in,
            tt.frames_out, drops, tt.syncs_completed, tt.syncs_started);
    if (*gossip_transport_site(a->tr))
        fprintf(out, "site      %s, %s, relayed %" PRIu64 " out, %" PRIu64 " in, %" PRIu64 " duplicates, %" PRIu64
                     " refused\n",
                gossip_transport_site(a->tr),
                tt.relay ? "this node is a relay" : gossip_transport_relay_heard(a->tr) ? "relay heard" : "RELAY NOT HEARD",
                tt.relayed_out, tt.relayed_in, tt.relayed_dup, tt.relayed_refused);
    /* BEHIND: how far what the peer last said it has seen (its `seen`) lags our clock */
    fprintf(out, "%-16s %-8s %9s %10s %9s %9s %8s %8s %9s %8s %7s\n", "PEER", "STATE", "LAST", "SEQ", "GAPS", "REPAIRED",
            "OFFSET", "BEHIND", "MERGED", "REFUSED", "DROPS");
    int64_t wall = sg_now_ms();
    size_t n = gossip_transport_peer_count(a->tr);
    for (size_t i = 0; i < n; i++) {
        struct gossip_peer_stats ps;
        if (gossip_transport_peer_stats(a->tr, i, &ps) < 0) break;
        uint64_t pd = 0;
        for (int d = 0; d < GOSSIP_DROP_MAX; d++) pd += ps.drops[d];
        char last[32];
        if (ps.last_msg_age_ms < 0) snprintf(last, sizeof last, "never");
        else snprintf(last, sizeof last, "%" PRId64 "ms", ps.last_msg_age_ms);
        char behind[32];
        if (ps.seen_ms <= 0) snprintf(behind, sizeof behind, "-");
        else snprintf(behind, sizeof behind, "%" PRId64 "ms", wall > ps.seen_ms ? wall - ps.seen_ms : 0);
        /* REFUSED: entries it sent that were refused (records outside the limits, others' slots...). */
        fprintf(out, "%-16s %-8s %9s %10" PRIu64 " %9" PRIu64 " %9" PRIu64 " %6" PRId64 "ms %8s %9" PRIu64 " %8" PRIu64
                     " %7" PRIu64 "%s\n",
                ps.name, gossip_peer_status_name(ps.status), last, ps.last_seq, ps.gaps_seen, ps.gaps_repaired,
                ps.clock_offset_ms, behind, ps.entries_merged, ps.entries_rejected, pd,
                !ps.configured ? "  (not configured)" : !ps.direct ? "  (through the relay)" : ps.relay ? "  (relay)" : "");
    }
    for (size_t i = 0; i < a->cfg->npeers; i++)
        if (!gossip_keyring_find_name(a->kr, a->cfg->peers[i].name))
            fprintf(out, "%-16s %-8s  (left out: no public key %s/%s.pub)\n", a->cfg->peers[i].name, "NO_KEY",
                    a->cfg->peer_key_dir, a->cfg->peers[i].name);
}

void agent_gossip_totals_json(struct agent *a, FILE *out)
{
    struct gossip_transport_totals tt = {0};
    if (a->tr) gossip_transport_totals(a->tr, &tt);
    fputc('{', out);
    gossip_transport_totals_json(&tt, a->tr ? gossip_transport_site(a->tr) : "", out);
    fprintf(out, ",\"relay_heard\":%s}", a->tr && gossip_transport_relay_heard(a->tr) ? "true" : "false");
}
