/* relay.c: per-site relays: what a RELAY frame may carry, what a relay re-publishes (gossip/relay.h),
 * and the transport's two hooks (taking a RELAY frame, re-publishing a frame). */
#include "gossip/relay.h"

#include <stdlib.h>
#include <string.h>

#include "agent/util.h"
#include "gossip/transport_int.h"
#include "gossip/wire.h"

const char *gossip_relay_verdict_name(enum gossip_relay_verdict v)
{
    switch (v) {
    case GOSSIP_RELAY_OK: return "ok";
    case GOSSIP_RELAY_NOT_RELAY: return "sent by a peer that is not a relay";
    case GOSSIP_RELAY_SHORT: return "carries no frame";
    case GOSSIP_RELAY_HOP: return "carries a relayed frame (re-relay)";
    case GOSSIP_RELAY_TYPE: return "carries a frame type that is not relayed";
    case GOSSIP_RELAY_OWN: return "carries our own or the relay's own frame";
    }
    return "?";
}

static uint64_t be64(const uint8_t *p)
{
    uint64_t v = 0;
    for (int i = 0; i < 8; i++)
        v = v << 8 | p[i];
    return v;
}

enum gossip_relay_verdict gossip_relay_check(bool sender_is_relay, uint64_t sender, uint64_t self, const uint8_t *inner,
                                             size_t len)
{
    if (!sender_is_relay)
        return GOSSIP_RELAY_NOT_RELAY;
    if (len < GOSSIP_WIRE_HEADER_LEN)
        return GOSSIP_RELAY_SHORT;
    if (inner[0] == GOSSIP_FRAME_RELAY)
        return GOSSIP_RELAY_HOP;
    if (inner[0] != GOSSIP_FRAME_DELTA && inner[0] != GOSSIP_FRAME_HEARTBEAT)
        return GOSSIP_RELAY_TYPE;
    uint64_t author = be64(inner + 8);   /* header: type, version, reserved(2), body_len(4), origin(8) */
    if (author == self || author == sender)
        return GOSSIP_RELAY_OWN;
    return GOSSIP_RELAY_OK;
}

static bool same_site(const char *a, const char *b)
{
    return !a || !*a || !b || !*b || !strcmp(a, b);   /* no site: ours */
}

bool gossip_relay_forwards(bool self_relay, const char *self_site, const char *author_site, bool relayed, uint8_t type)
{
    return self_relay && !relayed && (type == GOSSIP_FRAME_DELTA || type == GOSSIP_FRAME_HEARTBEAT) &&
           !same_site(self_site, author_site);
}

/* ---- transport hooks ---- */

bool tp_peer_direct(const struct gossip_transport_config *cfg, const struct gossip_transport_peer *cp)
{
    return cfg->relay || same_site(cfg->site, cp->site);
}

void tp_relay_take(struct gossip_transport *t, const struct tp_route *r, struct gossip_peer *p, const uint8_t *body,
                   size_t blen)
{
    enum gossip_relay_verdict v = gossip_relay_check(p->st.relay, p->st.origin, t->cfg.self->origin, body, blen);
    if (v != GOSSIP_RELAY_OK) {
        t->tot.relayed_refused++;
        tp_count_drop(t, p, GOSSIP_DROP_UNEXPECTED);
        uint64_t n = t->tot.relayed_refused;
        if ((n & (n - 1)) == 0)
            sg_log(SG_LOG_WARN, "transport: refused a RELAY frame from %s: %s (%llu so far)", p->st.name,
                   gossip_relay_verdict_name(v), (unsigned long long)n);
        return;
    }
    switch (tp_handle(t, r, body, blen, true)) {
    case TP_TAKEN: t->tot.relayed_in++; break;
    case TP_DUPLICATE: t->tot.relayed_dup++; break;
    default: t->tot.relayed_refused++; break;   /* counted and logged by its drop reason too */
    }
}

void tp_relay_forward(struct gossip_transport *t, const struct gossip_peer *author, uint8_t type, const uint8_t *data,
                      size_t len)
{
    if (!gossip_relay_forwards(t->cfg.relay, t->cfg.site, author->st.site, false, type))
        return;
    uint8_t *frame;
    size_t flen;
    if (tp_frame(t, GOSSIP_FRAME_RELAY, 0, data, len, &frame, &flen) < 0) {
        tp_count_drop(t, NULL, GOSSIP_DROP_SEND_FAILED);   /* a frame at the size limit has no room for the wrap */
        return;
    }
    if (tp_publish(t, frame, flen) == 0)
        t->tot.relayed_out++;
    free(frame);
}

const char *gossip_transport_site(const struct gossip_transport *t)
{
    return t->cfg.site ? t->cfg.site : "";
}

bool gossip_transport_relay_heard(const struct gossip_transport *t)
{
    int64_t now = sg_mono_ms();
    for (size_t i = 0; i < t->n_configured; i++) {
        const struct gossip_peer *p = t->peers[i];
        if (p->st.relay && same_site(t->cfg.site, p->st.site) &&
            gossip_peer_status_at(p, now, t->cfg.suspect_ms, t->cfg.dead_ms) == GOSSIP_PEER_ALIVE)
            return true;
    }
    return false;
}
