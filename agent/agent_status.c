/* agent_status.c: `sgcluster status`: this node, the logs it follows, the kernel, the state, its
 * peers, and whether the node is HEALTHY or DEGRADED and why; `--scenarios` hands over to
 * agent_scenarios.c. */
#include "agent/agent.h"
#include "agent/json.h"
#include "agent/tally.h"
#include "agent/util.h"
#include "common/text.h"
#include "common/version.h"

#include <inttypes.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

void agent_fmt_time(int64_t ms, char *buf, size_t size)
{
    time_t t = (time_t)(ms / 1000);
    struct tm tm;
    gmtime_r(&t, &tm);
    strftime(buf, size, "%Y-%m-%dT%H:%M:%SZ", &tm);
}

void agent_fmt_dur(int64_t s, char *buf, size_t size)
{
    if (s < 0) s = 0;
    if (s >= 86400) snprintf(buf, size, "%" PRId64 "d%02" PRId64 "h", s / 86400, s % 86400 / 3600);
    else if (s >= 3600) snprintf(buf, size, "%" PRId64 "h%02" PRId64 "m", s / 3600, s % 3600 / 60);
    else if (s >= 60) snprintf(buf, size, "%" PRId64 "m%02" PRId64 "s", s / 60, s % 60);
    else snprintf(buf, size, "%" PRId64 "s", s);
}

const char *agent_kind_name(uint8_t k)
{
    return k == GOSSIP_BAN_KIND_HOLD ? "hold" : k == GOSSIP_BAN_KIND_THROTTLE ? "throttle"
         : k == GOSSIP_BAN_KIND_OFFENSE ? "offense" : k == GOSSIP_BAN_KIND_ALLOW ? "allow" : "block";
}

/* ---- status ---- */

struct ban_census {
    int64_t now;
    struct agent_ban_census *c;
};

static void count_ban(const struct gossip_ban *b, void *arg)
{
    struct agent_ban_census *c = ((struct ban_census *)arg)->c;
    int64_t now = ((struct ban_census *)arg)->now;
    if (b->kind == GOSSIP_BAN_KIND_OFFENSE) c->memory++;
    else if (b->action == GOSSIP_BAN_ACTION_UNBAN) c->tombstones++;
    else if (b->expires_at <= now) return;
    else if (b->kind == GOSSIP_BAN_KIND_HOLD) c->hold++;
    else if (b->kind == GOSSIP_BAN_KIND_THROTTLE) c->throttle++;
    else if (b->kind == GOSSIP_BAN_KIND_ALLOW) c->allow++;
    else c->block++;
}

void agent_ban_census(struct agent *a, int64_t now, struct agent_ban_census *out)
{
    memset(out, 0, sizeof *out);
    struct ban_census bc = {.now = now, .c = out};
    gossip_state_ban_foreach(a->st, count_ban, &bc);
}

uint64_t agent_decisions(const struct agent *a)
{
    return tally_sum(a->decisions);
}

static bool kernel_ok(struct agent *a, struct enforce_kernel *k)
{
    memset(k, 0, sizeof *k);
    if (enforce_get_kernel(a->enf, k) < 0) return false;
    return k->table_present;
}

/* The followed logs: a configured log that does not exist makes the node DEGRADED (it reads nothing
 * from it: a typo in the path, or a daemon that logs elsewhere). */
static void logs_json(struct agent *a, int64_t now, FILE *out)
{
    fputs(",\"logs\":[", out);
    for (size_t i = 0; i < a->nsrc; i++) {
        struct detect_source_counters c;
        detect_source_counters(a->src[i], &c);
        fputs(i ? ",{\"path\":" : "{\"path\":", out);
        json_str(out, detect_source_path(a->src[i]));
        fprintf(out, ",\"exists\":%s,\"lines\":%" PRIu64 ",\"last_line_at\":%" PRId64 ",\"last_line_age_s\":",
                c.open ? "true" : "false", c.lines, c.last_line_ms);
        if (c.last_line_ms) fprintf(out, "%" PRId64, (now - c.last_line_ms) / 1000);
        else fputs("null", out);
        fprintf(out, ",\"oversized\":%" PRIu64 ",\"rotations\":%" PRIu64 ",\"reopen_errors\":%" PRIu64 "}", c.oversized,
                c.rotations, c.reopen_errors);
    }
    fprintf(out, "],\"journal_followed\":%s", a->journal ? "true" : "false");
}

static void logs_text(struct agent *a, int64_t now, FILE *out)
{
    if (!a->nsrc && !a->journal) fprintf(out, "logs      none followed ([detect] logs and journal are both unset)\n");
    for (size_t i = 0; i < a->nsrc; i++) {
        struct detect_source_counters c;
        detect_source_counters(a->src[i], &c);
        char path[1024], when[32] = "never", ago[32] = "";
        sg_text_escape(detect_source_path(a->src[i]), path, sizeof path);
        if (c.last_line_ms) {
            agent_fmt_time(c.last_line_ms, when, sizeof when);
            agent_fmt_dur((now - c.last_line_ms) / 1000, ago, sizeof ago);
        }
        if (!c.open)
            fprintf(out, "logs      %s: MISSING (no such file; waiting for it), %" PRIu64 " lines read\n", path, c.lines);
        else
            fprintf(out, "logs      %s: %" PRIu64 " lines, last line read %s%s%s%s\n", path, c.lines, when,
                    c.last_line_ms ? " (" : "", ago, c.last_line_ms ? " ago)" : "");
    }
}

static int status_node(struct agent *a, bool json, FILE *out)
{
    int64_t now = sg_now_ms();
    struct gossip_state_stats ss;
    gossip_state_stats_recent(a->st, &ss);
    struct enforce_kernel k;
    bool kok = kernel_ok(a, &k);
    struct enforce_stats es;
    enforce_get_stats(a->enf, &es);
    struct detect_stats ds;
    detect_parser_stats(a->parser, &ds);
    struct scenario_stats sc;
    scenario_engine_stats(a->eng, &sc);
    struct detect_journal_counters jc = {0};
    if (a->journal) detect_journal_counters(a->journal, &jc);
    struct agent_ban_census bc;
    agent_ban_census(a, now, &bc);
    bool all_alive = true;
    size_t alive = 0;
    char *peers = NULL;
    size_t plen = 0;
    FILE *pf = open_memstream(&peers, &plen);
    if (!pf) sg_oom();
    agent_gossip_peers_json(a, pf, &all_alive, &alive);
    fclose(pf);
    size_t missing = 0;
    for (size_t i = 0; i < a->nsrc; i++) {
        struct detect_source_counters sc0;
        detect_source_counters(a->src[i], &sc0);
        if (!sc0.open) missing++;
    }
    bool healthy = all_alive && kok && !k.drift && !missing;
    struct policy_stats ps = {0};
    if (a->policy) policy_server_stats(a->policy, &ps);
    if (json) {
        fprintf(out, "{\"node\":");
        json_str(out, a->cfg->node_name);
        fprintf(out, ",\"version\":\"%s\",\"epoch\":%u,\"uptime_s\":%" PRId64 ",\"loop_lag_ms\":%" PRId64
                     ",\"loop_lag_max_ms\":%" PRId64 ",\"healthy\":%s,\"peers\":%s",
                SG_VERSION, a->epoch, (now - a->started_ms) / 1000, a->loop_lag_ms, a->loop_lag_max_ms,
                healthy ? "true" : "false", peers);
        /* Why DEGRADED, as the text's cluster line says it. */
        fputs(",\"problems\":[", out);
        const char *sep = "";
        if (!all_alive) { fputs("\"peers not alive\"", out); sep = ","; }
        if (missing) { fprintf(out, "%s\"%zu of %zu logs missing\"", sep, missing, a->nsrc); sep = ","; }
        if (!kok) { fprintf(out, "%s\"nft table missing\"", sep); sep = ","; }
        if (k.drift) fprintf(out, "%s\"kernel sets drifted from the state\"", sep);
        fputc(']', out);
        logs_json(a, now, out);
        fputs(",\"gossip\":", out);
        agent_gossip_totals_json(a, out);
        fprintf(out, ",\"bans\":%zu,\"throttles\":%zu,\"holds\":%zu,\"allows\":%zu,\"tombstones\":%zu,\"offense_records\":%zu"
                     ",\"counter_keys\":%zu,\"sketch_keys\":%zu,\"memory_bytes\":%zu",
                bc.block, bc.throttle, bc.hold, bc.allow, bc.tombstones, bc.memory, ss.counter_keys, ss.sketch_keys,
                ss.mem_bytes);
        fprintf(out, ",\"kernel\":{\"backend\":\"%s\",\"table\":%s,\"set4\":%zu,\"set6\":%zu,\"dropped_packets\":%" PRIu64 "}",
                a->cfg->backend, k.table_present ? "true" : "false", k.set4, k.set6, k.drop_packets4 + k.drop_packets6);
        fprintf(out, ",\"enforce\":{\"applied\":%" PRIu64 ",\"removed\":%" PRIu64 ",\"refused_by_guard\":%" PRIu64
                     ",\"failed\":%" PRIu64 ",\"uncovered\":%" PRIu64 ",\"drift_missing\":%" PRIu64
                     ",\"drift_extra\":%" PRIu64 ",\"drift_repaired\":%" PRIu64 ",\"drift_open\":%zu"
                     ",\"queue_coalesced\":%" PRIu64 ",\"queue_dropped\":%" PRIu64 ",\"reconcile_slices\":%" PRIu64
                     ",\"reconcile_last_ms\":%" PRIu64 ",\"commits_paced\":%" PRIu64 ",\"commit_last_ms\":%" PRIu64
                     ",\"reconcile_stage\":",
                es.applied, es.removed, es.refused_by_guard, es.failed, es.uncovered, es.drift_missing,
                es.drift_extra, es.drift_repaired, k.drift, es.queue_coalesced, es.queue_dropped, es.reconcile_slices,
                es.reconcile_last_ms, es.commits_paced, es.commit_last_ms);
        const char *stage = enforce_reconcile_stage(a->enf);   /* null when none runs */
        if (stage) json_str(out, stage);
        else fputs("null", out);
        fputc('}', out);
        fprintf(out, ",\"policy\":{\"listening\":%s,\"requests\":%" PRIu64 ",\"refused_user\":%" PRIu64
                     ",\"refused_source\":%" PRIu64 ",\"refused_full\":%" PRIu64 ",\"dropped\":%" PRIu64
                     ",\"timeouts\":%" PRIu64 ",\"open\":%" PRIu64 "}",
                a->policy ? "true" : "false", ps.requests, ps.conns_refused_peer, ps.conns_refused_source,
                ps.conns_refused, ps.conns_dropped, ps.timeouts, ps.conns_open);
        fprintf(out, ",\"throttle\":{\"limits\":%zu,\"warn\":%" PRIu64 ",\"defer\":%" PRIu64 ",\"hold\":%" PRIu64
                     ",\"reject\":%" PRIu64 "}",
                a->cfg->throttle->nlimits, a->n.throttle[THROTTLE_WARN], a->n.throttle[THROTTLE_DEFER],
                a->n.throttle[THROTTLE_HOLD], a->n.throttle[THROTTLE_REJECT]);
        fprintf(out, ",\"detect\":{\"lines\":%" PRIu64 ",\"events\":%" PRIu64 ",\"dups\":%" PRIu64
                     ",\"oversized\":%" PRIu64 ",\"invalid\":%" PRIu64 ",\"capped_attempts\":%" PRIu64
                     ",\"capped_recipients\":%" PRIu64 "}",
                ds.lines, ds.events, ds.dups, ds.oversized, ds.invalid, ds.capped_attempts, ds.capped_rcpt);
        fprintf(out, ",\"journal\":{\"enabled\":%s,\"entries\":%" PRIu64 ",\"lines\":%" PRIu64 ",\"untrusted\":%" PRIu64
                     ",\"oversized\":%" PRIu64 ",\"errors\":%" PRIu64 "}",
                a->journal ? "true" : "false", jc.entries, jc.lines, jc.untrusted, jc.oversized, jc.errors);
        fputs(",\"records_refused\":{", out);
        for (int r = 0; r < GOSSIP_REFUSE_MAX; r++)
            fprintf(out, "%s\"%s\":%" PRIu64, r ? "," : "", gossip_refusal_name((enum gossip_refusal)r), ss.refused[r]);
        fputc('}', out);
        fprintf(out, ",\"precision\":{\"refused_prefix_bans\":%" PRIu64 ",\"stale_failures\":%" PRIu64
                     ",\"attack_bans\":%" PRIu64 "}",
                sc.refused_evidence, sc.stale_failures, sc.attack_bans);
        fprintf(out, ",\"evaluation\":{\"touches\":%" PRIu64 ",\"touch_dups\":%" PRIu64 ",\"touch_full\":%" PRIu64
                     ",\"evaluated\":%" PRIu64 ",\"slices\":%" PRIu64 ",\"queued\":%zu,\"deferred\":%" PRIu64
                     ",\"deferred_now\":%zu,\"extended\":%" PRIu64 ",\"taken_over\":%" PRIu64 ",\"defer_bound\":%" PRIu64
                     ",\"defer_full\":%" PRIu64 "}",
                sc.touches, sc.touch_dups, sc.touch_full, sc.evaluated, sc.slices, sc.queued, sc.deferred,
                sc.deferred_now, sc.extended, sc.taken_over, sc.defer_bound, sc.defer_full);
        fprintf(out, ",\"decisions\":%" PRIu64 ",\"records_from_peers\":%" PRIu64 ",\"refused_by_guard\":%" PRIu64
                     ",\"reloads\":%" PRIu64 ",\"reload_errors\":%" PRIu64,
                agent_decisions(a), a->n.records_remote, sc.refused_guard + es.refused_by_guard, a->n.reloads,
                a->n.reload_errors);
        struct gossip_snapshot_stats sn;
        gossip_snapshot_get_stats(a->snap, &sn);
        fprintf(out, ",\"snapshots\":{\"saved\":%" PRIu64 ",\"failed\":%" PRIu64 ",\"skipped\":%" PRIu64
                     ",\"last_slices\":%" PRIu64 ",\"max_slice_us\":%" PRId64 ",\"last_save_ms\":%" PRId64
                     ",\"unreadable\":%" PRIu64 "}",
                a->n.snapshots, a->n.snapshot_errors, sn.skipped, sn.last_slices, sn.max_slice_us, sn.last_save_ms,
                sn.unreadable);
        agent_authpolicy_status(a, true, out);
        agent_metrics_status(a, true, out);
        fputs("}\n", out);
    } else {
        char up[32];
        agent_fmt_dur((now - a->started_ms) / 1000, up, sizeof up);
        fprintf(out, "node      %s (sgagent %s, epoch %u, up %s, loop lag %" PRId64 " ms, max %" PRId64 " ms)\n",
                a->cfg->node_name, SG_VERSION, a->epoch, up, a->loop_lag_ms, a->loop_lag_max_ms);
        fprintf(out, "cluster   %s: %zu of %zu peers alive%s%s", healthy ? "HEALTHY" : "DEGRADED", alive,
                a->cfg->npeers, kok ? "" : "; nft table missing", k.drift ? "; kernel sets drifted from the state" : "");
        if (missing) fprintf(out, "; %zu of %zu logs missing", missing, a->nsrc);
        fputc('\n', out);
        logs_text(a, now, out);
        fprintf(out, "state     %zu bans, %zu throttles, %zu holds, %zu allows, %zu tombstones; %zu counter keys, %zu sketch keys, %zu KiB\n",
                bc.block, bc.throttle, bc.hold, bc.allow, bc.tombstones, ss.counter_keys, ss.sketch_keys, ss.mem_bytes / 1024);
        fprintf(out, "kernel    %s: table %s, %zu IPv4 + %zu IPv6 elements, %" PRIu64 " packets dropped\n",
                a->cfg->backend, k.table_present ? "present" : "ABSENT", k.set4, k.set6,
                k.drop_packets4 + k.drop_packets6);
        fprintf(out, "repair    %" PRIu64 " bans put back when their covering prefix ended; drift: %" PRIu64
                     " found missing, %" PRIu64 " extra, %" PRIu64 " repaired, %zu not yet back; queue full: %" PRIu64
                     " changes coalesced, %" PRIu64 " left to a reconcile\n",
                es.uncovered, es.drift_missing, es.drift_extra, es.drift_repaired, k.drift, es.queue_coalesced,
                es.queue_dropped);
        if (a->policy)
            fprintf(out, "policy    %" PRIu64 " requests; clients refused: %" PRIu64 " by user, %" PRIu64 " by source, %" PRIu64
                         " when full; %" PRIu64 " dropped to make room, %" PRIu64 " timed out, %" PRIu64 " open\n",
                    ps.requests, ps.conns_refused_peer, ps.conns_refused_source, ps.conns_refused, ps.conns_dropped,
                    ps.timeouts, ps.conns_open);
        else
            fprintf(out, "policy    not listening\n");
        fprintf(out, "throttle  %zu limits; hits: %" PRIu64 " warn, %" PRIu64 " defer, %" PRIu64 " hold, %" PRIu64
                     " reject\n",
                a->cfg->throttle->nlimits, a->n.throttle[THROTTLE_WARN], a->n.throttle[THROTTLE_DEFER],
                a->n.throttle[THROTTLE_HOLD], a->n.throttle[THROTTLE_REJECT]);
        fprintf(out, "detect    %" PRIu64 " lines, %" PRIu64 " events (%" PRIu64 " dups), %" PRIu64
                     " oversized, %" PRIu64 " invalid; capped: %" PRIu64 " attempts, %" PRIu64 " recipients\n",
                ds.lines, ds.events, ds.dups, ds.oversized, ds.invalid, ds.capped_attempts, ds.capped_rcpt);
        if (a->journal)
            fprintf(out, "journal   %" PRIu64 " entries, %" PRIu64 " lines from trusted daemons, %" PRIu64
                         " untrusted (forged) ignored, %" PRIu64 " oversized, %" PRIu64 " errors\n",
                    jc.entries, jc.lines, jc.untrusted, jc.oversized, jc.errors);
        fprintf(out, "decisions %" PRIu64 " here, %" PRIu64 " records from peers, %" PRIu64 " refused by never-ban rules\n",
                agent_decisions(a), a->n.records_remote, sc.refused_guard + es.refused_by_guard);
        fprintf(out, "evaluate  %" PRIu64 " keys touched by peers (%" PRIu64 " while queued, %" PRIu64
                     " at once: queue full), %" PRIu64 " evaluated in %" PRIu64 " slices, %zu queued; %" PRIu64
                     " crossings deferred to their decider (%zu waiting, %" PRIu64 " waited again), %" PRIu64
                     " taken over (%" PRIu64 " at the bound, their decider busy), %" PRIu64
                     " decided at once: deferred set full\n",
                sc.touches, sc.touch_dups, sc.touch_full, sc.evaluated, sc.slices, sc.queued, sc.deferred,
                sc.deferred_now, sc.extended, sc.taken_over, sc.defer_bound, sc.defer_full);
        uint64_t refused = 0;
        for (int r = 0; r < GOSSIP_REFUSE_MAX; r++) refused += ss.refused[r];
        agent_authpolicy_status(a, false, out);
        agent_metrics_status(a, false, out);
        fprintf(out, "records   %" PRIu64 " refused", refused);
        for (int r = 0; r < GOSSIP_REFUSE_MAX; r++)
            if (ss.refused[r]) fprintf(out, ", %" PRIu64 " %s", ss.refused[r], gossip_refusal_name((enum gossip_refusal)r));
        fprintf(out, "\n\n");
        agent_gossip_peers_table(a, out);
    }
    free(peers);
    return 0;
}


int agent_status(struct agent *a, int argc, char **argv, bool json, FILE *out)
{
    bool scenarios = false, short_form = false;
    for (int i = 1; i < argc; i++) {
        if (!strcmp(argv[i], "--scenarios")) scenarios = true;
        else if (!strcmp(argv[i], "--short")) short_form = true;
        else { fprintf(out, "usage: status [--scenarios [--short]] [--json]\n"); return 2; }
    }
    if (short_form && !scenarios) { fprintf(out, "--short goes with --scenarios\n"); return 2; }
    return scenarios ? agent_status_scenarios(a, short_form, json, out) : status_node(a, json, out);
}
