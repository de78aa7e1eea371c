/* agent_metrics.c: the Prometheus endpoint (GET /metrics on the agent's HTTP server) and the
 * agent's own, detection and decision metrics. Every value is read from the counter that `status`
 * reads; nothing is counted twice. The cluster side (kernel, peers, gossip, policy services) is in
 * agent_metrics_cluster.c. Names and labels are listed in docs/metrics.md. */
#include "agent/agent.h"
#include "agent/http.h"
#include "agent/prom.h"
#include "agent/tally.h"
#include "agent/util.h"

#include <inttypes.h>
#include <stdlib.h>
#include <string.h>

#define METRICS_PATH "/metrics"
#define METRICS_CACHE_NS 1000000000LL   /* a rendered body is served again for 1 s */

enum metrics_answer { MA_OK, MA_NOT_FOUND, MA_METHOD, MA__COUNT };
static const char *const answer_names[MA__COUNT] = {"ok", "not_found", "method_not_allowed"};

struct agent_metrics {
    struct http_server *srv;
    uint64_t answers[MA__COUNT];
    uint64_t renders;
    char *body;          /* the last rendered body (without the endpoint's own counters), or NULL */
    size_t len;
    int64_t body_ns;     /* when it was rendered */
};

static void refuse(struct http_reply *rep, int code, const char *text)
{
    rep->code = code;
    rep->content_type = "text/plain; charset=utf-8";
    rep->body = sg_xstrdup(text);
    rep->len = strlen(text);
}

/* Only GET /metrics: any other path is a 404, any other method a 405, each counted. */
static void on_request(const struct http_request *req, struct http_reply *rep, void *arg)
{
    struct agent *a = arg;
    struct agent_metrics *m = a->metrics;
    if (strcmp(req->url, METRICS_PATH) != 0) {
        m->answers[MA_NOT_FOUND]++;
        refuse(rep, 404, "not found: this server serves GET /metrics only\n");
        return;
    }
    if (strcmp(req->method, "GET") != 0) {
        m->answers[MA_METHOD]++;
        refuse(rep, 405, "method not allowed: GET /metrics only\n");
        rep->allow = "GET";
        return;
    }
    m->answers[MA_OK]++;
    /* A render walks every ban and asks the kernel over netlink, on the loop's thread: at most one
     * a second, however often (or by how many) the endpoint is scraped. Values are up to 1 s old;
     * the endpoint's own request counters below are always current. */
    int64_t now = sg_mono_ns();
    if (!m->body || now - m->body_ns >= METRICS_CACHE_NS) {
        free(m->body);
        m->body = NULL;
        m->len = 0;
        FILE *g = open_memstream(&m->body, &m->len);
        if (!g) sg_oom();
        agent_metrics_write(a, g);
        agent_metrics_write_cluster(a, g);
        if (fclose(g) != 0) sg_oom();
        m->body_ns = now;
        m->renders++;
    }
    char *buf = NULL;
    size_t len = 0;
    FILE *f = open_memstream(&buf, &len);
    if (!f) sg_oom();
    fwrite(m->body, 1, m->len, f);
    prom_family(f, "sgcluster_metrics_requests_total", PROM_COUNTER, "Requests to the metrics endpoint, by answer.");
    for (int i = 0; i < MA__COUNT; i++) prom_u64(f, "sgcluster_metrics_requests_total", m->answers[i], "answer", answer_names[i], PROM_END);
    if (fclose(f) != 0) sg_oom();
    rep->code = 200;
    rep->content_type = PROM_CONTENT_TYPE;
    rep->body = buf;
    rep->len = len;
}

int agent_metrics_start(struct agent *a)
{
    if (!a->cfg->metrics_enabled) return 0;
    a->metrics = sg_xcalloc(1, sizeof *a->metrics);
    a->metrics->srv = http_server_new(a->loop, "metrics", a->cfg->metrics_listen, a->cfg->metrics_allow_remote, 0, 0,
                                      on_request, a);
    if (!a->metrics->srv) { agent_metrics_stop(a); return -1; }
    return 0;
}

void agent_metrics_stop(struct agent *a)
{
    if (!a->metrics) return;
    http_server_destroy(&a->metrics->srv);
    free(a->metrics->body);
    free(a->metrics);
    a->metrics = NULL;
}

void agent_metrics_status(struct agent *a, bool json, FILE *out)
{
    int port = a->metrics ? http_server_port(a->metrics->srv) : 0;
    if (json) {
        fprintf(out, ",\"metrics\":{\"enabled\":%s,\"port\":%d,\"scrapes\":%" PRIu64 ",\"renders\":%" PRIu64 "}",
                a->metrics ? "true" : "false", port, a->metrics ? a->metrics->answers[MA_OK] : 0,
                a->metrics ? a->metrics->renders : 0);
        return;
    }
    if (a->metrics)
        fprintf(out, "metrics   %s (port %d): %" PRIu64 " scrapes, %" PRIu64 " refused requests\n", a->cfg->metrics_listen,
                port, a->metrics->answers[MA_OK], a->metrics->answers[MA_NOT_FOUND] + a->metrics->answers[MA_METHOD]);
}

/* A counter family from a tally of (label1, label2) pairs: one sample per pair. */
static void write_tally(FILE *f, const char *name, const char *help, const struct tally *t, const char *label1,
                        const char *label2)
{
    prom_family(f, name, PROM_COUNTER, help);
    const char *v1, *v2;
    uint64_t n;
    for (size_t i = 0; tally_at(t, i, &v1, &v2, &n) == 0; i++) prom_u64(f, name, n, label1, v1, label2, v2, PROM_END);
}

/* ---- the agent itself ---- */

static void write_agent(struct agent *a, FILE *f)
{
    prom_one_f64(f, "sgcluster_start_time_seconds", PROM_GAUGE, "When the agent started, in seconds since the epoch.",
                 (double)a->started_ms / 1000.0);
    prom_one_f64(f, "sgcluster_loop_lag_seconds", PROM_GAUGE, "How late the last 50 ms tick of the event loop ran.",
                 (double)a->loop_lag_ms / 1000.0);
    prom_one_f64(f, "sgcluster_loop_lag_max_seconds", PROM_GAUGE, "The largest loop lag since start.",
                 (double)a->loop_lag_max_ms / 1000.0);
    prom_by(f, "sgcluster_snapshots_total", PROM_COUNTER, "Snapshots of the state and the log cursors, by result.", "result", 2,
                (const char *const[]){"ok", "error"}, (const uint64_t[]){a->n.snapshots, a->n.snapshot_errors});
    prom_family(f, "sgcluster_snapshot_duration_seconds", PROM_HISTOGRAM, "Time to write one snapshot.");
    prom_hist(f, "sgcluster_snapshot_duration_seconds", &a->snapshot_latency, PROM_END);
    prom_family(f, "sgcluster_decision_to_kernel_seconds", PROM_HISTOGRAM,
                "From a block decision (its record's stamp, on whichever node decided) to its kernel commit here.");
    prom_hist(f, "sgcluster_decision_to_kernel_seconds", &a->kernel_latency, PROM_END);
    prom_by(f, "sgcluster_reloads_total", PROM_COUNTER, "Configuration reloads (SIGHUP), by result.", "result", 2,
                (const char *const[]){"ok", "error"}, (const uint64_t[]){a->n.reloads, a->n.reload_errors});
}

/* ---- detection ---- */

static void write_detect(struct agent *a, FILE *f)
{
    prom_family(f, "sgcluster_log_lines_total", PROM_COUNTER, "Lines read, by source (a followed file, or the journal).");
    for (size_t i = 0; i < a->nsrc; i++) {
        struct detect_source_counters c;
        detect_source_counters(a->src[i], &c);
        prom_u64(f, "sgcluster_log_lines_total", c.lines, "source", detect_source_path(a->src[i]), PROM_END);
    }
    struct detect_journal_counters jc = {0};
    if (a->journal) {
        detect_journal_counters(a->journal, &jc);
        prom_u64(f, "sgcluster_log_lines_total", jc.lines, "source", "journal", PROM_END);
    }
    prom_family(f, "sgcluster_log_bytes_total", PROM_COUNTER, "Bytes read, by followed file.");
    for (size_t i = 0; i < a->nsrc; i++) {
        struct detect_source_counters c;
        detect_source_counters(a->src[i], &c);
        prom_u64(f, "sgcluster_log_bytes_total", c.bytes, "source", detect_source_path(a->src[i]), PROM_END);
    }
    prom_family(f, "sgcluster_log_rotations_total", PROM_COUNTER, "Rotations followed, by file and kind.");
    for (size_t i = 0; i < a->nsrc; i++) {
        struct detect_source_counters c;
        detect_source_counters(a->src[i], &c);
        prom_u64(f, "sgcluster_log_rotations_total", c.rotations, "source", detect_source_path(a->src[i]), "kind", "rename", PROM_END);
        prom_u64(f, "sgcluster_log_rotations_total", c.truncations, "source", detect_source_path(a->src[i]), "kind", "truncate", PROM_END);
    }
    struct detect_stats ds;
    detect_parser_stats(a->parser, &ds);
    prom_one_u64(f, "sgcluster_parser_lines_total", PROM_COUNTER, "Lines given to the rules (since the last reload).",
                 ds.lines);
    prom_one_u64(f, "sgcluster_parser_matched_lines_total", PROM_COUNTER, "Lines that gave at least one event.",
                 ds.matched);
    prom_family(f, "sgcluster_rule_lines_total", PROM_COUNTER, "Lines matched, by rule (since the last reload).");
    for (size_t i = 0; i < detect_rules_count(a->rules); i++)
        prom_u64(f, "sgcluster_rule_lines_total", detect_parser_rule_hits(a->parser, i), "rule", detect_rules_id(a->rules, i), PROM_END);
    write_tally(f, "sgcluster_events_total", "Events (log lines and auth-policy reports), by kind and service.",
                a->events, "kind", "service");
    prom_one_u64(f, "sgcluster_event_dups_total", PROM_COUNTER, "Events another line already reported (not counted again).",
                 ds.dups);
    prom_one_u64(f, "sgcluster_lines_untrusted_total", PROM_COUNTER, "Journal entries that claim a mail daemon but were written by another process: ignored.",
                 jc.untrusted);
    prom_by(f, "sgcluster_lines_capped_total", PROM_COUNTER, "Lines that claimed more than a daemon can log (attempts, recipients): counted as the cap.", "claim", 2,
                (const char *const[]){"attempts", "recipients"}, (const uint64_t[]){ds.capped_attempts, ds.capped_rcpt});
    prom_one_u64(f, "sgcluster_lines_oversized_total", PROM_COUNTER, "Lines too long to parse, skipped.",
                 ds.oversized + jc.oversized);
    prom_one_u64(f, "sgcluster_lines_invalid_total", PROM_COUNTER, "Lines with NUL bytes or invalid UTF-8 (still parsed).",
                 ds.invalid);
}

/* ---- decisions and the replicated state ---- */

static void write_decisions(struct agent *a, FILE *f)
{
    write_tally(f, "sgcluster_decisions_total", "Decisions taken on this node, by scenario and action.", a->decisions,
                "scenario", "action");
    prom_one_u64(f, "sgcluster_records_from_peers_total", PROM_COUNTER, "Ban records learned from peers.",
                 a->n.records_remote);
    struct scenario_stats sc;
    scenario_engine_stats(a->eng, &sc);
    struct enforce_stats es;
    enforce_get_stats(a->enf, &es);
    prom_one_u64(f, "sgcluster_refused_by_guard_total", PROM_COUNTER, "Bans refused by the never-ban rules.",
                 sc.refused_guard + es.refused_by_guard);
    prom_one_u64(f, "sgcluster_touched_keys_total", PROM_COUNTER, "Scenario keys peers' merges touched.", sc.touches);
    prom_one_u64(f, "sgcluster_touched_keys_full_total", PROM_COUNTER,
                 "Touched keys evaluated at once because the evaluation queue was full.", sc.touch_full);
    prom_one_u64(f, "sgcluster_evaluated_keys_total", PROM_COUNTER, "Queued keys evaluated, in slices.", sc.evaluated);
    prom_one_u64(f, "sgcluster_evaluation_queue", PROM_GAUGE, "Keys waiting for evaluation.", sc.queued);
    prom_one_u64(f, "sgcluster_deferred_total", PROM_COUNTER, "Crossings left to their decider (merged, or shared local).",
                 sc.deferred);
    prom_one_u64(f, "sgcluster_deferred_extended_total", PROM_COUNTER,
                 "Waits of deferred crossings at a deadline: their decider had not caught up with the crossing (one crossing may wait many times).",
                 sc.extended);
    prom_one_u64(f, "sgcluster_deferred_taken_over_total", PROM_COUNTER,
                 "Deferred crossings decided here at their deadline: no ban had come.", sc.taken_over);
    prom_one_u64(f, "sgcluster_deferred_bound_total", PROM_COUNTER,
                 "Deferred crossings decided here because the bound passed while their decider was still behind.",
                 sc.defer_bound);
    prom_one_u64(f, "sgcluster_deferred_full_total", PROM_COUNTER,
                 "Crossings decided here at once because the deferred set was full.", sc.defer_full);
    struct agent_ban_census bc;
    agent_ban_census(a, sg_now_ms(), &bc);
    prom_by(f, "sgcluster_bans_active", PROM_GAUGE, "Active records in the replicated state, by kind.", "kind", 3,
                (const char *const[]){"block", "throttle", "hold"}, (const uint64_t[]){bc.block, bc.throttle, bc.hold});
    prom_one_u64(f, "sgcluster_tombstones", PROM_GAUGE, "Unban records kept until the ban they cancel would have ended.",
                 bc.tombstones);
    struct gossip_state_stats ss;
    gossip_state_stats_recent(a->st, &ss);
    prom_by(f, "sgcluster_state_keys", PROM_GAUGE, "Keys in the replicated state, by table.", "table", 3,
                (const char *const[]){"counter", "sketch", "offense"}, (const uint64_t[]){ss.counter_keys, ss.sketch_keys, bc.memory});
    prom_one_u64(f, "sgcluster_state_memory_bytes", PROM_GAUGE, "Heap held by the replicated state.",
                 ss.mem_bytes);
    prom_family(f, "sgcluster_records_refused_total", PROM_COUNTER, "Records and entries the state refused, by reason.");
    for (int r = 0; r < GOSSIP_REFUSE_MAX; r++)
        prom_u64(f, "sgcluster_records_refused_total", ss.refused[r], "reason", gossip_refusal_name((enum gossip_refusal)r), PROM_END);
}

void agent_metrics_write(struct agent *a, FILE *f)
{
    write_agent(a, f);
    write_detect(a, f);
    write_decisions(a, f);
}
