/* state_copy.h: a test's or bench's shortcuts to a replicated state: take every pending delta without
 * sending it (what a node holds and has published already), and copy one state into another as a
 * sync would bring it. Header-only. */
#ifndef SG_TESTS_STATE_COPY_H
#define SG_TESTS_STATE_COPY_H

#include <stdint.h>

#include "gossip/state.h"

static inline void sg_test_drain(struct gossip_state *st)
{
    struct gossip_writer w;
    gossip_writer_init(&w);
    while (gossip_state_take_delta(st, &w, GOSSIP_WIRE_MAX_BODY))
        gossip_writer_reset(&w);
    gossip_writer_fini(&w);
}

/* from's whole export, decoded and merged into to (as from's sender slots only), in bodies of at most
 * GOSSIP_WIRE_MAX_BODY; to NULL: only counted. Returns the bytes of the bodies. */
static inline size_t sg_test_copy_state(const struct gossip_state *from, struct gossip_state *to, uint64_t sender,
                                        int64_t now)
{
    struct gossip_writer w;
    gossip_writer_init(&w);
    uint64_t cursor = 0;
    size_t bytes = 0;
    int more;
    do {
        gossip_writer_reset(&w);
        more = gossip_state_export(from, ~0ULL, &cursor, &w, GOSSIP_WIRE_MAX_BODY);
        bytes += w.buf.size;
        struct gossip_body *b = NULL;
        if (to && gossip_body_decode((const uint8_t *)w.buf.data, w.buf.size, SIZE_MAX, &b) == GOSSIP_WIRE_OK)
            gossip_state_merge(to, b, sender, GOSSIP_MERGE_SENDER_SLOTS_ONLY, now, NULL);
        gossip_body_destroy(&b);
    } while (more);
    gossip_writer_fini(&w);
    return bytes;
}

#endif
