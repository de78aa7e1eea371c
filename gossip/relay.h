/* relay.h: per-site relays (docs/transport.md, "Sites and relays").
 *
 * With sites, a node subscribes to its own site's peers only; a relay node of each site also subscribes
 * to every node of the other sites and re-publishes each DELTA and HEARTBEAT frame it took from them
 * (verified, not seen before) unchanged, as the body of a RELAY frame it signs, on its own PUB. A
 * receiver takes a RELAY frame only from a peer configured as a relay, then checks what it carries as
 * if it had come directly: the author's signature (never the relay's), clock, and replay by (author,
 * epoch, seq), so a frame that arrives twice (directly and relayed, or through two relays) is merged
 * once and counted as a duplicate. A RELAY frame inside a RELAY frame is refused (one hop, no loops),
 * and a relay never re-publishes what came to it relayed (its SUB takes only DELTA and HEARTBEAT). */
#ifndef GOSSIP_RELAY_H
#define GOSSIP_RELAY_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

enum gossip_relay_verdict {
    GOSSIP_RELAY_OK = 0,
    GOSSIP_RELAY_NOT_RELAY,   /* the sender is not configured as a relay */
    GOSSIP_RELAY_SHORT,       /* the body is not even a frame header */
    GOSSIP_RELAY_HOP,         /* it carries a RELAY frame: a re-relay */
    GOSSIP_RELAY_TYPE,        /* it carries a type that is not relayed (only DELTA and HEARTBEAT are) */
    GOSSIP_RELAY_OWN,         /* it carries our own frame, or the relay's own (it publishes those itself) */
};
const char *gossip_relay_verdict_name(enum gossip_relay_verdict v);

/* What a RELAY frame carries, before its signature is checked: sender_is_relay says whether the peer
 * that signed the RELAY frame is configured as a relay. */
enum gossip_relay_verdict gossip_relay_check(bool sender_is_relay, uint64_t sender, uint64_t self, const uint8_t *inner,
                                             size_t len);

/* Whether a node re-publishes a frame of type it took from an author of author_site: only a relay,
 * only frames that came directly (not relayed), only DELTA and HEARTBEAT, only of another site. */
bool gossip_relay_forwards(bool self_relay, const char *self_site, const char *author_site, bool relayed, uint8_t type);

#endif
