/* transport_stats.c: per-peer and total counters of the transport, and their JSON rendering for
 * `sgcluster status --json`. */
#include "gossip/transport_int.h"

#include <inttypes.h>
#include <string.h>

#include "agent/json.h"
#include "agent/util.h"

static const char *const drop_names[GOSSIP_DROP_MAX] = {
    [GOSSIP_DROP_UNKNOWN_ORIGIN] = "unknown_origin",
    [GOSSIP_DROP_BAD_SIGNATURE] = "bad_signature",
    [GOSSIP_DROP_MALFORMED] = "malformed",
    [GOSSIP_DROP_OVERSIZE] = "oversize",
    [GOSSIP_DROP_REPLAY] = "replay",
    [GOSSIP_DROP_CLOCK_AHEAD] = "clock_ahead",
    [GOSSIP_DROP_SELF] = "self",
    [GOSSIP_DROP_UNEXPECTED] = "unexpected",
    [GOSSIP_DROP_SEND_FAILED] = "send_failed",
    [GOSSIP_DROP_OLD_VERSION] = "old_version",
};

const char *gossip_drop_reason_name(enum gossip_drop_reason r)
{
    return (unsigned)r < GOSSIP_DROP_MAX ? drop_names[r] : "?";
}

const char *gossip_peer_status_name(enum gossip_peer_status s)
{
    switch (s) {
    case GOSSIP_PEER_ALIVE: return "alive";
    case GOSSIP_PEER_SUSPECT: return "suspect";
    case GOSSIP_PEER_DEAD: return "dead";
    }
    return "?";
}

size_t gossip_transport_peer_count(const struct gossip_transport *t)
{
    return t->n_peers;
}

int gossip_transport_peer_stats(const struct gossip_transport *t, size_t i, struct gossip_peer_stats *out)
{
    if (i >= t->n_peers)
        return -1;
    const struct gossip_peer *p = t->peers[i];
    int64_t now = sg_mono_ms();
    *out = p->st;
    out->status = gossip_peer_status_at(p, now, t->cfg.suspect_ms, t->cfg.dead_ms);
    out->last_msg_age_ms = p->last_msg_mono < 0 ? -1 : now - p->last_msg_mono;
    return 0;
}

void gossip_transport_totals(const struct gossip_transport *t, struct gossip_transport_totals *out)
{
    *out = t->tot;
    out->last_seq = t->seq;
}

static void json_drops(FILE *f, const uint64_t *drops)
{
    fputs("{", f);
    for (int r = 0; r < GOSSIP_DROP_MAX; r++)
        fprintf(f, "%s\"%s\":%" PRIu64, r ? "," : "", drop_names[r], drops[r]);
    fputs("}", f);
}

void gossip_transport_totals_json(const struct gossip_transport_totals *tot, const char *site, FILE *f)
{
    fprintf(f,
            "\"epoch\":%" PRIu32 ",\"last_seq\":%" PRIu64 ",\"synced\":%s,\"curve\":%s,\"frames_in\":%" PRIu64
            ",\"bytes_in\":%" PRIu64 ",\"frames_out\":%" PRIu64 ",\"bytes_out\":%" PRIu64 ",\"deltas_flushed\":%" PRIu64
            ",\"entries_published\":%" PRIu64 ",\"syncs_started\":%" PRIu64 ",\"syncs_completed\":%" PRIu64
            ",\"repairs_served\":%" PRIu64 ",\"repairs_resent\":%" PRIu64 ",\"repairs_synced\":%" PRIu64
            ",\"syncs_refused\":%" PRIu64 ",\"sync_leaves_pulled\":%" PRIu64 ",\"syncs_backed_off\":%" PRIu64
            ",\"recv_yields\":%" PRIu64 ",\"bans_vouched\":%" PRIu64 ",\"sent_ms\":%" PRId64 ",\"seen_ms\":%" PRId64
            ",\"site\":",
            tot->epoch, tot->last_seq, tot->synced ? "true" : "false", tot->curve ? "true" : "false", tot->frames_in,
            tot->bytes_in, tot->frames_out, tot->bytes_out, tot->deltas_flushed, tot->entries_published,
            tot->syncs_started, tot->syncs_completed, tot->repairs_served, tot->repairs_resent, tot->repairs_synced,
            tot->syncs_refused, tot->sync_leaves_pulled, tot->syncs_backed_off, tot->recv_yields, tot->bans_vouched,
            tot->sent_ms, tot->seen_ms);
    json_str(f, site);   /* the operator's text: escaped */
    fprintf(f,
            ",\"relay\":%s,\"relayed_out\":%" PRIu64 ",\"relayed_in\":%" PRIu64 ",\"relayed_dup\":%" PRIu64
            ",\"relayed_refused\":%" PRIu64 ",\"drops\":",
            tot->relay ? "true" : "false", tot->relayed_out, tot->relayed_in, tot->relayed_dup, tot->relayed_refused);
    json_drops(f, tot->drops);
}

void gossip_peer_stats_json(const struct gossip_peer_stats *ps, FILE *f)
{
    fputs("\"name\":", f);
    json_str(f, ps->name);
    fprintf(f, ",\"origin\":\"%016" PRIx64 "\",\"configured\":%s,\"site\":", ps->origin,
            ps->configured ? "true" : "false");
    json_str(f, ps->site);
    fprintf(f,
            ",\"relay\":%s,\"direct\":%s,\"state\":\"%s\","
            "\"last_msg_age_ms\":%" PRId64 ",\"epoch\":%" PRIu32 ",\"last_seq\":%" PRIu64
            ",\"gaps_seen\":%" PRIu64 ",\"gaps_repaired\":%" PRIu64 ",\"gaps_abandoned\":%" PRIu64
            ",\"clock_offset_ms\":%" PRId64 ",\"sent_ms\":%" PRId64 ",\"seen_ms\":%" PRId64 ",\"frames_in\":%" PRIu64 ",\"bytes_in\":%" PRIu64
            ",\"frames_out\":%" PRIu64 ",\"bytes_out\":%" PRIu64 ",\"entries_merged\":%" PRIu64
            ",\"entries_rejected\":%" PRIu64 ",\"drops\":",
            ps->relay ? "true" : "false", ps->direct ? "true" : "false", gossip_peer_status_name(ps->status),
            ps->last_msg_age_ms, ps->epoch, ps->last_seq, ps->gaps_seen, ps->gaps_repaired, ps->gaps_abandoned,
            ps->clock_offset_ms, ps->sent_ms, ps->seen_ms, ps->frames_in, ps->bytes_in, ps->frames_out, ps->bytes_out, ps->entries_merged,
            ps->entries_rejected);
    json_drops(f, ps->drops);
}

int gossip_transport_stats_json(const struct gossip_transport *t, FILE *f)
{
    struct gossip_transport_totals tot;
    gossip_transport_totals(t, &tot);
    fprintf(f, "{\"self\":{\"name\":\"%s\",\"origin\":\"%016" PRIx64 "\",", t->cfg.self->name, t->cfg.self->origin);
    gossip_transport_totals_json(&tot, gossip_transport_site(t), f);
    fputs("},\"peers\":[", f);
    for (size_t i = 0; i < t->n_peers; i++) {
        struct gossip_peer_stats ps;
        gossip_transport_peer_stats(t, i, &ps);
        fputs(i ? ",{" : "{", f);
        gossip_peer_stats_json(&ps, f);
        fputc('}', f);
    }
    fputs("]}\n", f);
    return ferror(f) ? -1 : 0;
}
