/* peer.h: what the transport knows of one origin: liveness, per-epoch sequence tracking with the
 * ranges still missing (gaps), recent frame stamps for replay checks, and its counters.
 * Pure bookkeeping, no sockets: the transport decides what to send. */
#ifndef GOSSIP_PEER_H
#define GOSSIP_PEER_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "gossip/transport.h"

#define GOSSIP_PEER_MAX_GAPS 32      /* more disjoint gaps than this are folded into the last one */
#define GOSSIP_PEER_RECENT 256       /* stamps of non-DELTA frames remembered for replay checks */

struct gossip_gap {
    uint64_t from, to;               /* inclusive seq range still missing */
    int64_t asked_mono;              /* when a REPAIR_REQ last went out; 0 = not yet */
    int tries;
};

/* The ways a peer's frames reach us. Each keeps its own replay memory: frames on one are written and
 * delivered in order, but the channels are read in turns, so a long sync answer read over a minute
 * must not be judged by the heartbeats or requests read between its frames (they would push it out
 * of the window, and its rest would be dropped as replays and sent again). A frame replayed on
 * another channel than its own gains nothing: merges are idempotent. */
enum gossip_channel {
    GOSSIP_CH_SUB = 0,               /* broadcast: heartbeats, relayed frames */
    GOSSIP_CH_ROUTER,                /* its requests to us */
    GOSSIP_CH_DEALER,                /* its answers to our requests */
    GOSSIP_CHANNELS
};

struct gossip_stamps {
    uint64_t recent[GOSSIP_PEER_RECENT];
    size_t n_recent;
    uint64_t newest;
    uint32_t epoch;                  /* the epoch the remembered stamps belong to */
};

struct gossip_peer {
    struct gossip_peer_stats st;     /* name, origin, counters; status and age are filled on read */
    uint8_t pk[GOSSIP_PK_LEN];
    uint8_t curve_pk[32];            /* its CURVE public key, derived from pk (when CURVE is on) */
    char *pub_endpoint, *sync_endpoint;   /* NULL for an unconfigured keyring member */
    void *dealer;                    /* zsock_t * to its ROUTER, NULL when unconfigured */
    int64_t last_msg_mono;           /* -1: never heard */
    bool want_sync;                  /* first heard of: sync with it (it may have written before we listened) */
    uint64_t next_seq;               /* next DELTA seq expected in st.epoch; 0 = nothing known yet */
    struct gossip_gap gaps[GOSSIP_PEER_MAX_GAPS];
    size_t n_gaps;
    struct gossip_stamps stamps[GOSSIP_CHANNELS];
};

enum gossip_seq_verdict {
    GOSSIP_SEQ_OK = 0,               /* in order */
    GOSSIP_SEQ_GAP,                  /* accepted, and frames before it are now missing */
    GOSSIP_SEQ_REPAIRED,             /* a missing frame arrived (resent or late) */
    GOSSIP_SEQ_REPLAY,               /* already seen, or an older epoch: drop */
};

/* Caller owns the result. Endpoints may be NULL. */
struct gossip_peer *gossip_peer_new(const char *name, const uint8_t pk[GOSSIP_PK_LEN], const char *pub_endpoint,
                                    const char *sync_endpoint);
/* Frees the peer (not its dealer: the transport closes sockets). Safe on NULL and twice. */
void gossip_peer_destroy(struct gossip_peer **pp);

/* A DELTA with (epoch, seq) arrived from this origin: updates the tracking and says what it was.
 * A newer epoch (a restart) abandons the old epoch's gaps and expects seq 1. */
enum gossip_seq_verdict gossip_peer_seq_check(struct gossip_peer *p, uint32_t epoch, uint64_t seq);
/* A heartbeat says the origin's last DELTA in epoch was last_seq. Records the tail it never got as a
 * gap. Returns true when a new gap was recorded. The first word we hear of an origin records none:
 * what came before is for the first sync to bring. */
bool gossip_peer_announce(struct gossip_peer *p, uint32_t epoch, uint64_t last_seq);
/* Forgets the gaps up to through (inclusive) in epoch: a sync covered them. Counts them repaired. */
void gossip_peer_gaps_covered(struct gossip_peer *p, uint32_t epoch, uint64_t through);
/* Drops gap i (given up): counted as abandoned. */
void gossip_peer_gap_abandon(struct gossip_peer *p, size_t i);

/* Replay check for non-DELTA frames, whose stamps (hlc) are unique and rising per origin and boot, on
 * one channel:
 * refuses an older epoch, a stamp seen before, one older than window_ms behind the newest, or one
 * below all remembered stamps when the memory is full. Remembers accepted stamps. A newer epoch
 * (a restart, perhaps with a clock stepped back) starts a fresh memory. */
bool gossip_peer_stamp_fresh(struct gossip_peer *p, enum gossip_channel ch, uint32_t epoch, uint64_t hlc,
                             int64_t window_ms);

enum gossip_peer_status gossip_peer_status_at(const struct gossip_peer *p, int64_t now_mono, int suspect_ms,
                                              int dead_ms);

#endif
