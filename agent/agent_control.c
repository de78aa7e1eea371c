/* agent_control.c: the control commands the agent answers: status, peers, bans, ban, unban, hold,
 * release, top, explain, reload. Every command prints a table, or JSON with --json. */
#include "agent/agent.h"
#include "agent/explain.h"
#include "agent/json.h"
#include "agent/tally.h"
#include "agent/util.h"
#include "common/key.h"
#include "common/text.h"

#include <inttypes.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>

#define SG_VERSION "0.1.0"

static void fmt_time(int64_t ms, char *buf, size_t size)
{
    time_t t = (time_t)(ms / 1000);
    struct tm tm;
    gmtime_r(&t, &tm);
    strftime(buf, size, "%Y-%m-%dT%H:%M:%SZ", &tm);
}

static void fmt_dur(int64_t s, char *buf, size_t size)
{
    if (s < 0) s = 0;
    if (s >= 86400) snprintf(buf, size, "%" PRId64 "d%02" PRId64 "h", s / 86400, s % 86400 / 3600);
    else if (s >= 3600) snprintf(buf, size, "%" PRId64 "h%02" PRId64 "m", s / 3600, s % 3600 / 60);
    else if (s >= 60) snprintf(buf, size, "%" PRId64 "m%02" PRId64 "s", s / 60, s % 60);
    else snprintf(buf, size, "%" PRId64 "s", s);
}

static const char *kind_name(uint8_t k)
{
    return k == GOSSIP_BAN_KIND_HOLD ? "hold" : k == GOSSIP_BAN_KIND_THROTTLE ? "throttle"
         : k == GOSSIP_BAN_KIND_OFFENSE ? "offense" : "block";
}

static const char *author_name(const struct agent *a, uint64_t origin)
{
    const struct gossip_peer_key *p = gossip_keyring_find(a->kr, origin);
    return p ? p->name : "unknown";
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

static int cmd_status(struct agent *a, bool json, FILE *out)
{
    int64_t now = sg_now_ms();
    struct gossip_state_stats ss;
    gossip_state_stats(a->st, &ss);
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
    bool healthy = all_alive && kok && !k.drift;
    struct policy_stats ps = {0};
    if (a->policy) policy_server_stats(a->policy, &ps);
    if (json) {
        fprintf(out, "{\"node\":");
        json_str(out, a->cfg->node_name);
        fprintf(out, ",\"version\":\"%s\",\"epoch\":%u,\"uptime_s\":%" PRId64 ",\"loop_lag_ms\":%" PRId64
                     ",\"loop_lag_max_ms\":%" PRId64 ",\"healthy\":%s,\"peers\":%s",
                SG_VERSION, a->epoch, (now - a->started_ms) / 1000, a->loop_lag_ms, a->loop_lag_max_ms,
                healthy ? "true" : "false", peers);
        fputs(",\"gossip\":", out);
        agent_gossip_totals_json(a, out);
        fprintf(out, ",\"bans\":%zu,\"throttles\":%zu,\"holds\":%zu,\"tombstones\":%zu,\"offense_records\":%zu"
                     ",\"counter_keys\":%zu,\"sketch_keys\":%zu,\"memory_bytes\":%zu",
                bc.block, bc.throttle, bc.hold, bc.tombstones, bc.memory, ss.counter_keys, ss.sketch_keys, ss.mem_bytes);
        fprintf(out, ",\"kernel\":{\"backend\":\"%s\",\"table\":%s,\"set4\":%zu,\"set6\":%zu,\"dropped_packets\":%" PRIu64 "}",
                a->cfg->backend, k.table_present ? "true" : "false", k.set4, k.set6, k.drop_packets4 + k.drop_packets6);
        fprintf(out, ",\"enforce\":{\"applied\":%" PRIu64 ",\"removed\":%" PRIu64 ",\"refused_by_guard\":%" PRIu64
                     ",\"failed\":%" PRIu64 ",\"uncovered\":%" PRIu64 ",\"drift_missing\":%" PRIu64
                     ",\"drift_extra\":%" PRIu64 ",\"drift_repaired\":%" PRIu64 ",\"drift_open\":%zu}",
                es.applied, es.removed, es.refused_by_guard, es.failed, es.uncovered, es.drift_missing,
                es.drift_extra, es.drift_repaired, k.drift);
        fprintf(out, ",\"policy\":{\"listening\":%s,\"requests\":%" PRIu64 ",\"refused_user\":%" PRIu64
                     ",\"refused_source\":%" PRIu64 ",\"refused_full\":%" PRIu64 ",\"dropped\":%" PRIu64
                     ",\"timeouts\":%" PRIu64 ",\"open\":%" PRIu64 "}",
                a->policy ? "true" : "false", ps.requests, ps.conns_refused_peer, ps.conns_refused_source,
                ps.conns_refused, ps.conns_dropped, ps.timeouts, ps.conns_open);
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
        fprintf(out, ",\"decisions\":%" PRIu64 ",\"records_from_peers\":%" PRIu64 ",\"refused_by_guard\":%" PRIu64
                     ",\"reloads\":%" PRIu64 ",\"reload_errors\":%" PRIu64,
                agent_decisions(a), a->n.records_remote, sc.refused_guard + es.refused_by_guard, a->n.reloads,
                a->n.reload_errors);
        agent_authpolicy_status(a, true, out);
        agent_metrics_status(a, true, out);
        fputs("}\n", out);
    } else {
        char up[32];
        fmt_dur((now - a->started_ms) / 1000, up, sizeof up);
        fprintf(out, "node      %s (sgagent %s, epoch %u, up %s, loop lag %" PRId64 " ms, max %" PRId64 " ms)\n",
                a->cfg->node_name, SG_VERSION, a->epoch, up, a->loop_lag_ms, a->loop_lag_max_ms);
        fprintf(out, "cluster   %s: %zu of %zu peers alive%s%s\n", healthy ? "HEALTHY" : "DEGRADED", alive,
                a->cfg->npeers, kok ? "" : "; nft table missing", k.drift ? "; kernel sets drifted from the state" : "");
        fprintf(out, "state     %zu bans, %zu throttles, %zu holds, %zu tombstones; %zu counter keys, %zu sketch keys, %zu KiB\n",
                bc.block, bc.throttle, bc.hold, bc.tombstones, ss.counter_keys, ss.sketch_keys, ss.mem_bytes / 1024);
        fprintf(out, "kernel    %s: table %s, %zu IPv4 + %zu IPv6 elements, %" PRIu64 " packets dropped\n",
                a->cfg->backend, k.table_present ? "present" : "ABSENT", k.set4, k.set6,
                k.drop_packets4 + k.drop_packets6);
        fprintf(out, "repair    %" PRIu64 " bans put back when their covering prefix ended; drift: %" PRIu64
                     " found missing, %" PRIu64 " extra, %" PRIu64 " repaired, %zu not yet back\n",
                es.uncovered, es.drift_missing, es.drift_extra, es.drift_repaired, k.drift);
        if (a->policy)
            fprintf(out, "policy    %" PRIu64 " requests; clients refused: %" PRIu64 " by user, %" PRIu64 " by source, %" PRIu64
                         " when full; %" PRIu64 " dropped to make room, %" PRIu64 " timed out, %" PRIu64 " open\n",
                    ps.requests, ps.conns_refused_peer, ps.conns_refused_source, ps.conns_refused, ps.conns_dropped,
                    ps.timeouts, ps.conns_open);
        else
            fprintf(out, "policy    not listening\n");
        fprintf(out, "detect    %" PRIu64 " lines, %" PRIu64 " events (%" PRIu64 " dups), %" PRIu64
                     " oversized, %" PRIu64 " invalid; capped: %" PRIu64 " attempts, %" PRIu64 " recipients\n",
                ds.lines, ds.events, ds.dups, ds.oversized, ds.invalid, ds.capped_attempts, ds.capped_rcpt);
        if (a->journal)
            fprintf(out, "journal   %" PRIu64 " entries, %" PRIu64 " lines from trusted daemons, %" PRIu64
                         " untrusted (forged) ignored, %" PRIu64 " oversized, %" PRIu64 " errors\n",
                    jc.entries, jc.lines, jc.untrusted, jc.oversized, jc.errors);
        fprintf(out, "decisions %" PRIu64 " here, %" PRIu64 " records from peers, %" PRIu64 " refused by never-ban rules\n",
                agent_decisions(a), a->n.records_remote, sc.refused_guard + es.refused_by_guard);
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

/* ---- bans ---- */

struct ban_list {
    const struct gossip_ban **v;
    size_t n, cap;
    bool all;
};

static void collect_ban(const struct gossip_ban *b, void *arg)
{
    struct ban_list *l = arg;
    if (!l->all && b->kind == GOSSIP_BAN_KIND_OFFENSE) return;
    if (l->n == l->cap) {
        l->cap = l->cap ? l->cap * 2 : 64;
        l->v = sg_xrealloc(l->v, l->cap * sizeof *l->v);
    }
    l->v[l->n++] = b;
}

static int ban_cmp(const void *x, const void *y)
{
    const struct gossip_ban *a = *(const struct gossip_ban *const *)x, *b = *(const struct gossip_ban *const *)y;
    return strcmp(a->key, b->key);
}

static int cmd_bans(struct agent *a, int argc, char **argv, bool json, FILE *out)
{
    struct ban_list l = {0};
    for (int i = 1; i < argc; i++) {
        if (!strcmp(argv[i], "--all")) l.all = true;
        else { fprintf(out, "usage: bans [--all] [--json]\n"); return 2; }
    }
    gossip_state_ban_foreach(a->st, collect_ban, &l);
    qsort(l.v, l.n, sizeof *l.v, ban_cmp);
    int64_t now = sg_now_ms();
    if (json) fputc('[', out);
    else fprintf(out, "%-40s %-6s %-8s %-20s %-9s %-10s %s\n", "KEY", "ACTION", "KIND", "EXPIRES", "LEFT", "AUTHOR", "REASON");
    for (size_t i = 0; i < l.n; i++) {
        const struct gossip_ban *b = l.v[i];
        char exp[32], left[32];
        fmt_time(b->expires_at, exp, sizeof exp);
        fmt_dur((b->expires_at - now) / 1000, left, sizeof left);
        const char *action = b->action == GOSSIP_BAN_ACTION_BAN ? "ban" : "unban";
        if (json) {
            fprintf(out, "%s{\"key\":", i ? "," : "");
            json_str(out, b->key);
            fprintf(out, ",\"action\":\"%s\",\"kind\":\"%s\",\"expires_at\":%" PRId64 ",\"expires\":\"%s\",\"reason\":",
                    action, kind_name(b->kind), b->expires_at, exp);
            json_str(out, b->reason);
            fputs(",\"author\":", out);
            json_str(out, author_name(a, b->author));
            fprintf(out, ",\"level\":%u,\"scenario\":", b->level);
            json_str(out, b->scenario);
            fputc('}', out);
        } else {
            /* Keys and reasons came from peers: no byte of them reaches the terminal unescaped. */
            char key[GOSSIP_KEY_MAX * 4 + 1], reason[GOSSIP_REASON_MAX * 4 + 1];
            fprintf(out, "%-40s %-6s %-8s %-20s %-9s %-10s %s\n", sg_text_escape(b->key, key, sizeof key), action,
                    kind_name(b->kind), exp, left, author_name(a, b->author),
                    sg_text_escape(b->reason, reason, sizeof reason));
        }
    }
    if (json) fputs("]\n", out);
    else fprintf(out, "%zu records\n", l.n);
    free(l.v);
    return 0;
}

/* ban/hold write a record; unban/release write a tombstone. Operator actions pass the same
 * never-ban guard as decisions: an allowlisted address cannot be banned from the CLI either. */
static int cmd_put(struct agent *a, int argc, char **argv, FILE *out)
{
    const char *cmd = argv[0];
    bool is_user = !strcmp(cmd, "hold") || !strcmp(cmd, "release");
    bool cancel = !strcmp(cmd, "unban") || !strcmp(cmd, "release");
    if (argc < 2 || argc > 4 || (cancel && argc != 2)) {
        fprintf(out, "usage: %s %s%s\n", cmd, is_user ? "USER" : "ADDR|PREFIX", cancel ? "" : " [SECONDS [REASON]]");
        return 2;
    }
    char key[GOSSIP_KEY_MAX + 1];
    struct sg_subject subj;
    if (is_user) {
        if (sg_subject_set(&subj, SG_SUBJ_USER, argv[1]) < 0 || sg_key_format(SG_REC_HOLD, &subj, key, sizeof key) < 0) {
            fprintf(out, "bad user name (empty, too long, or holding control characters)\n");
            return 2;
        }
    } else {
        struct enforce_prefix p;
        if (enforce_prefix_parse(argv[1], &p) < 0) {
            fprintf(out, "'%s' is not an address or prefix (examples: 203.0.113.7, 203.0.113.0/24, 2001:db8::/64)\n", argv[1]);
            return 2;
        }
        char txt[ENFORCE_PREFIX_STRLEN], why[128];
        enforce_prefix_format(&p, txt, sizeof txt);
        bool single = (p.family == AF_INET && p.len == 32) || p.len == 128;
        if (sg_subject_set(&subj, single ? SG_SUBJ_IP : SG_SUBJ_NET, txt) < 0 ||
            sg_key_format(SG_REC_BLOCK, &subj, key, sizeof key) < 0) {
            fprintf(out, "'%s' cannot be banned\n", txt);
            return 2;
        }
        const char *refused = cancel ? NULL : enforce_guard_check(enforce_guard(a->enf), &p, why, sizeof why);
        if (refused) {
            fprintf(out, "refused: %s is protected by a never-ban rule (%s)\n", txt, refused);
            return 1;
        }
    }
    int64_t now = sg_now_ms();
    struct gossip_ban_spec spec = {.key = key};
    char reason[GOSSIP_REASON_MAX + 1];
    if (cancel) {
        const struct gossip_ban *cur = gossip_state_ban_active(a->st, key, now);
        if (!cur) { fprintf(out, "no active %s for %s\n", is_user ? "hold" : "ban", key); return 1; }
        spec.action = GOSSIP_BAN_ACTION_UNBAN;
        spec.kind = cur->kind;
        snprintf(reason, sizeof reason, "%s by operator on %s", cmd, a->cfg->node_name);
    } else {
        int64_t secs = is_user ? 86400 : 3600;
        if (argc >= 3 && (sg_parse_duration(argv[2], &secs) < 0 || secs < 1 || secs > 365LL * 86400)) {
            fprintf(out, "bad duration '%s' (examples: 3600, 90m, 12h, 7d; at most 365d)\n", argv[2]);
            return 2;
        }
        spec.action = GOSSIP_BAN_ACTION_BAN;
        spec.kind = is_user ? GOSSIP_BAN_KIND_HOLD : GOSSIP_BAN_KIND_BLOCK;
        spec.expires_at = now + secs * 1000;
        snprintf(reason, sizeof reason, "manual: %s (by operator on %s)", argc == 4 ? argv[3] : "no reason given",
                 a->cfg->node_name);
    }
    spec.reason = reason;
    spec.scenario = "manual";
    struct gossip_ban rec;
    if (gossip_state_ban_put(a->st, &spec, now, &rec) < 0) {
        fprintf(out, "refused: the record is outside the limits (see the agent's log and `status`)\n");
        return 1;
    }
    sg_log(SG_LOG_NOTICE, "operator %s %s: %s", cmd, key, reason);
    agent_gossip_notify(a);
    fprintf(out, "%s %s\n", cmd, key);
    return 0;
}

int agent_control(int argc, char **argv, bool json, FILE *out, void *arg)
{
    struct agent *a = arg;
    const char *cmd = argv[0];
    if (!strcmp(cmd, "status")) return cmd_status(a, json, out);
    if (!strcmp(cmd, "peers")) {
        if (json) { bool all; size_t n; agent_gossip_peers_json(a, out, &all, &n); fputc('\n', out); }
        else agent_gossip_peers_table(a, out);
        return 0;
    }
    if (!strcmp(cmd, "bans")) return cmd_bans(a, argc, argv, json, out);
    if (!strcmp(cmd, "ban") || !strcmp(cmd, "unban") || !strcmp(cmd, "hold") || !strcmp(cmd, "release"))
        return cmd_put(a, argc, argv, out);
    if (!strcmp(cmd, "top")) return agent_top(a, argc, argv, json, out);
    if (!strcmp(cmd, "explain")) {
        if (argc < 2 || argc > 3) { fprintf(out, "usage: explain ADDR|USER [USER|ADDR]\n"); return 2; }
        return explain_write(a->cfg, a->st, argv[1], argc == 3 ? argv[2] : NULL, json, sg_now_ms(), out);
    }
    if (!strcmp(cmd, "ping")) { fprintf(out, "pong\n"); return 0; }
    fprintf(out, "unknown command '%s'\n", cmd);
    return 2;
}
