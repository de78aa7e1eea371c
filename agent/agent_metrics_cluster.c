/* agent_metrics_cluster.c: the metrics of what the agent talks to: the kernel sets, the peers and
 * the gossip transport, the Postfix policy service and Dovecot's auth-policy service. Read from
 * the same counters as `status`; peer names are keyring names ([A-Za-z0-9._-]), never remote text. */
#include "agent/agent.h"
#include "agent/authpolicy_http.h"
#include "agent/prom.h"
#include "agent/util.h"
#include "gossip/transport.h"

#include <stdlib.h>
#include <string.h>

static void write_kernel(struct agent *a, FILE *f)
{
    struct enforce_kernel k;
    memset(&k, 0, sizeof k);
    bool ok = enforce_get_kernel(a->enf, &k) == 0 && k.table_present;
    prom_one_u64(f, "sgcluster_kernel_table_present", PROM_GAUGE, "1 when the agent's nft table is in the kernel.",
                 ok ? 1 : 0);
    prom_family(f, "sgcluster_kernel_set_elements", PROM_GAUGE, "Ban elements (addresses and prefixes) per kernel set.");
    prom_u64(f, "sgcluster_kernel_set_elements", k.set4, "set", "ban4", PROM_END);
    prom_u64(f, "sgcluster_kernel_set_elements", k.set6, "set", "ban6", PROM_END);
    prom_family(f, "sgcluster_kernel_dropped_packets_total", PROM_COUNTER, "Packets the ban rules dropped (nft counters).");
    prom_u64(f, "sgcluster_kernel_dropped_packets_total", k.drop_packets4, "family", "ipv4", PROM_END);
    prom_u64(f, "sgcluster_kernel_dropped_packets_total", k.drop_packets6, "family", "ipv6", PROM_END);
    prom_family(f, "sgcluster_kernel_dropped_bytes_total", PROM_COUNTER, "Bytes the ban rules dropped (nft counters).");
    prom_u64(f, "sgcluster_kernel_dropped_bytes_total", k.drop_bytes4, "family", "ipv4", PROM_END);
    prom_u64(f, "sgcluster_kernel_dropped_bytes_total", k.drop_bytes6, "family", "ipv6", PROM_END);
    prom_one_u64(f, "sgcluster_kernel_drift", PROM_GAUGE, "Bans found missing from the kernel and not yet back in.",
                 k.drift);
    struct enforce_stats es;
    enforce_get_stats(a->enf, &es);
    prom_by(f, "sgcluster_kernel_elements_total", PROM_COUNTER, "Kernel set changes, by operation.", "op", 3,
                (const char *const[]){"applied", "removed", "failed"}, (const uint64_t[]){es.applied, es.removed, es.failed});
    prom_one_u64(f, "sgcluster_kernel_transactions_total", PROM_COUNTER, "Netlink batches sent to the kernel.",
                 es.transactions);
}

static void write_peers(struct agent *a, FILE *f)
{
    static const enum gossip_peer_status states[] = {GOSSIP_PEER_ALIVE, GOSSIP_PEER_SUSPECT, GOSSIP_PEER_DEAD};
    size_t n = a->tr ? gossip_transport_peer_count(a->tr) : 0;
    struct gossip_peer_stats *v = sg_xcalloc(n ? n : 1, sizeof *v);
    for (size_t i = 0; i < n; i++)
        if (gossip_transport_peer_stats(a->tr, i, &v[i]) < 0) n = i;
    prom_family(f, "sgcluster_peer_state", PROM_GAUGE, "1 for the peer's current state (alive, suspect, dead), 0 for the others.");
    for (size_t i = 0; i < n; i++)
        for (size_t s = 0; s < sizeof states / sizeof states[0]; s++)
            prom_u64(f, "sgcluster_peer_state", v[i].status == states[s] ? 1 : 0, "peer", v[i].name, "state",
                     gossip_peer_status_name(states[s]), PROM_END);
    prom_family(f, "sgcluster_peer_clock_offset_seconds", PROM_GAUGE, "The peer's wall clock minus ours, from its last heartbeat.");
    for (size_t i = 0; i < n; i++)
        prom_f64(f, "sgcluster_peer_clock_offset_seconds", (double)v[i].clock_offset_ms / 1000.0, "peer", v[i].name, PROM_END);
    prom_family(f, "sgcluster_peer_last_message_age_seconds", PROM_GAUGE, "Time since the peer's last message (-1: never).");
    for (size_t i = 0; i < n; i++)
        prom_f64(f, "sgcluster_peer_last_message_age_seconds",
                 v[i].last_msg_age_ms < 0 ? -1.0 : (double)v[i].last_msg_age_ms / 1000.0, "peer", v[i].name, PROM_END);
    prom_family(f, "sgcluster_peer_gaps_total", PROM_COUNTER, "Frames missing from the peer's sequence, by outcome.");
    for (size_t i = 0; i < n; i++) {
        prom_u64(f, "sgcluster_peer_gaps_total", v[i].gaps_seen, "peer", v[i].name, "outcome", "seen", PROM_END);
        prom_u64(f, "sgcluster_peer_gaps_total", v[i].gaps_repaired, "peer", v[i].name, "outcome", "repaired", PROM_END);
        prom_u64(f, "sgcluster_peer_gaps_total", v[i].gaps_abandoned, "peer", v[i].name, "outcome", "abandoned", PROM_END);
    }
    free(v);
}

static void write_gossip(struct agent *a, FILE *f)
{
    struct gossip_transport_totals t;
    memset(&t, 0, sizeof t);
    if (a->tr) gossip_transport_totals(a->tr, &t);
    prom_by(f, "sgcluster_gossip_frames_total", PROM_COUNTER, "Gossip frames, by direction.", "direction", 2,
                (const char *const[]){"in", "out"}, (const uint64_t[]){t.frames_in, t.frames_out});
    prom_by(f, "sgcluster_gossip_bytes_total", PROM_COUNTER, "Gossip bytes, by direction.", "direction", 2,
                (const char *const[]){"in", "out"}, (const uint64_t[]){t.bytes_in, t.bytes_out});
    prom_family(f, "sgcluster_gossip_drops_total", PROM_COUNTER, "Frames dropped (or not sent), by reason.");
    for (int d = 0; d < GOSSIP_DROP_MAX; d++)
        prom_u64(f, "sgcluster_gossip_drops_total", t.drops[d], "reason", gossip_drop_reason_name((enum gossip_drop_reason)d), PROM_END);
    prom_by(f, "sgcluster_gossip_repairs_total", PROM_COUNTER, "Repair requests answered: served, frames resent, or answered by a sync.", "outcome", 3,
                (const char *const[]){"served", "resent", "synced"}, (const uint64_t[]){t.repairs_served, t.repairs_resent, t.repairs_synced});
    prom_by(f, "sgcluster_gossip_syncs_total", PROM_COUNTER, "Digest syncs with a peer, started and completed.", "stage", 2,
                (const char *const[]){"started", "completed"}, (const uint64_t[]){t.syncs_started, t.syncs_completed});
    prom_one_u64(f, "sgcluster_gossip_deltas_total", PROM_COUNTER, "Delta frames published.",
                 t.deltas_flushed);
    prom_one_u64(f, "sgcluster_gossip_synced", PROM_GAUGE, "1 once a sync with a peer completed (or there are no peers).",
                 agent_gossip_synced(a) ? 1 : 0);
}

static void write_policy(struct agent *a, FILE *f)
{
    struct policy_stats ps;
    memset(&ps, 0, sizeof ps);
    if (a->policy) policy_server_stats(a->policy, &ps);
    prom_family(f, "sgcluster_policy_requests_total", PROM_COUNTER, "Postfix policy requests, by answer class.");
    for (int c = 0; c < POLICY_CLASS_COUNT; c++)
        prom_u64(f, "sgcluster_policy_requests_total", ps.answers[c], "answer",
                 policy_action_class_name((enum policy_action_class)c), PROM_END);
    prom_u64(f, "sgcluster_policy_requests_total", ps.decide_errors, "answer", "error", PROM_END);
    prom_by(f, "sgcluster_policy_bad_requests_total", PROM_COUNTER, "Postfix policy requests refused, by reason.", "reason", 3,
                (const char *const[]){"malformed", "oversized", "timeout"}, (const uint64_t[]){ps.malformed, ps.oversized, ps.timeouts});
    prom_by(f, "sgcluster_policy_connections_refused_total", PROM_COUNTER, "Policy clients refused, by reason.", "reason", 3,
                (const char *const[]){"full", "user", "source"}, (const uint64_t[]){ps.conns_refused, ps.conns_refused_peer, ps.conns_refused_source});
    prom_one_u64(f, "sgcluster_policy_connections_open", PROM_GAUGE, "Open policy connections.",
                 ps.conns_open);
    prom_family(f, "sgcluster_policy_request_duration_seconds", PROM_HISTOGRAM, "Time to decide one Postfix policy request.");
    prom_hist(f, "sgcluster_policy_request_duration_seconds", &ps.latency, PROM_END);
}

static void write_authpolicy(struct agent *a, FILE *f)
{
    struct authpolicy_stats s;
    struct http_stats hs;
    memset(&s, 0, sizeof s);
    memset(&hs, 0, sizeof hs);
    if (a->authpolicy) authpolicy_stats(a->authpolicy, &s);
    if (a->authpolicy_http) authpolicy_http_stats(a->authpolicy_http, &hs);
    uint64_t bad = 0;
    for (int b = 0; b < AP_BAD__COUNT; b++) bad += s.bad[b];
    /* allow answers that were neither a reject nor a tarpit were an allow (0) */
    uint64_t allowed = s.allow - s.rejected - s.tarpitted;
    prom_by(f, "sgcluster_authpolicy_requests_total", PROM_COUNTER, "Dovecot auth-policy requests, by answer class.", "answer", 5,
                (const char *const[]){"allow", "reject", "tarpit", "report", "bad"}, (const uint64_t[]){allowed, s.rejected, s.tarpitted, s.report, bad});
    prom_family(f, "sgcluster_authpolicy_bad_requests_total", PROM_COUNTER, "Auth-policy requests refused, by reason.");
    for (int b = 0; b < AP_BAD__COUNT; b++)
        prom_u64(f, "sgcluster_authpolicy_bad_requests_total", s.bad[b], "reason", authpolicy_bad_name((enum authpolicy_bad)b), PROM_END);
    prom_one_u64(f, "sgcluster_authpolicy_bodies_cut_total", PROM_COUNTER,
                 "Chunked auth-policy bodies over the cap: connection closed, no reply.", hs.body_cut);
    prom_one_u64(f, "sgcluster_authpolicy_http_errors_total", PROM_COUNTER,
                 "libmicrohttpd error messages (malformed requests, refused connections); logged at most once a second.",
                 hs.errors);
    prom_family(f, "sgcluster_authpolicy_request_duration_seconds", PROM_HISTOGRAM, "Time to answer one auth-policy request.");
    prom_hist(f, "sgcluster_authpolicy_request_duration_seconds", &hs.latency, PROM_END);
}

void agent_metrics_write_cluster(struct agent *a, FILE *f)
{
    write_kernel(a, f);
    write_peers(a, f);
    write_gossip(a, f);
    write_policy(a, f);
    write_authpolicy(a, f);
}
