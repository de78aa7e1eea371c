/* transport.h: the cluster transport: signed state deltas over ZeroMQ PUB/SUB, repair and sync over
 * ROUTER/DEALER, heartbeats and peer liveness, all driven by the caller's czmq zloop.
 *
 * Sockets (static membership from the configuration):
 *   PUB    bound at pub_bind: DELTA and HEARTBEAT frames to every peer.
 *   SUB    connected to every peer's pub endpoint.
 *   ROUTER bound at sync_bind: answers REPAIR_REQ, SYNC_DIGEST and SYNC_LEAVES, takes SYNC_DATA.
 *   DEALER one per peer, connected to its sync endpoint: our repair and sync requests.
 * Every message is one wire frame (gossip/wire.h), checked in this order: size, type, origin in the
 * keyring, signature, clock (hlc not more than max_skew ahead), replay (per-origin epoch/seq for
 * DELTA, per-origin recent stamps for the other types), then unpacked and merged. Each drop is
 * counted by reason, per peer when the origin is known.
 *
 * Loss handling: DELTA frames carry (epoch, seq) per origin; a gap (or a heartbeat announcing a seq
 * we never got) sends REPAIR_REQ to the origin, which resends the frames it still keeps, else starts
 * a digest sync with the requester. Every sync_interval_ms a random peer gets our partition digests;
 * it answers with the leaf sums of the partitions that differ (SYNC_LEAVES, wire.h), we pull the
 * leaves that differ, and both sides send each other only the entries of those leaves. A node that starts (or restarts
 * with a new epoch) is complete once its first sync has finished (gossip_transport_synced()).
 *
 * Bodies of the frame types this file owns (msgpack, after the 36-byte header):
 *   HEARTBEAT   [wall_ms]                 header seq = last DELTA seq sent in this epoch
 *   REPAIR_REQ  [epoch, from_seq, to_seq, recipient]
 *   SYNC_DIGEST [role, repair_epoch, repair_through, bin(64 x u64 big-endian partition digests), recipient]
 *               role 0 = request (answered by SYNC_LEAVES), 1 = the end of the exchange
 *   SYNC_LEAVES (wire.h) role 0 = leaf sums of the partitions that differ, 1 = a pull of leaves
 *               (answered with their entries, then a role-1 SYNC_DIGEST)
 * recipient is the origin id of the node the request is for: a request signed for one node and
 * replayed to another is dropped there (counted as a replay), unanswered.
 *   DELTA / SYNC_DATA: the entry codec of wire.h.
 * The transport's own bodies are read field by field (never msgpack_unpack: msgpack-c reserves what
 * an array header declares). Not thread-safe: everything runs on the zloop's thread. */
#ifndef GOSSIP_TRANSPORT_H
#define GOSSIP_TRANSPORT_H

#include <czmq.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include "gossip/keyring.h"
#include "gossip/state.h"

struct gossip_transport_peer {
    const char *name;            /* its key name in the keyring (DIR/NAME.pub) */
    const char *pub_endpoint;    /* e.g. tcp://10.0.0.2:7946 */
    const char *sync_endpoint;   /* e.g. tcp://10.0.0.2:7947 */
    const char *site;            /* its site; NULL: ours (docs/transport.md, "Sites and relays") */
    bool relay;                  /* it relays the other sites' frames into its site */
};

struct gossip_transport_config {
    const struct gossip_identity *self;        /* signs our frames; borrowed, must outlive the transport */
    const char *pub_bind;                      /* e.g. tcp://0.0.0.0:7946 */
    const char *sync_bind;                     /* e.g. tcp://0.0.0.0:7947 */
    const struct gossip_transport_peer *peers; /* copied by gossip_transport_new() */
    size_t n_peers;
    const char *site;          /* our site; NULL: one site, every peer is subscribed to (full mesh). With a site,
                                * a peer of another site is known (keyring, ZAP) but not subscribed to unless
                                * we are a relay; its frames reach us wrapped in RELAY frames by our relay */
    bool relay;                /* subscribe to every peer; re-publish the other sites' verified DELTA and
                                * HEARTBEAT frames, unchanged inside a RELAY frame, on our PUB (gossip/relay.c) */
    bool curve;                /* CURVE encryption; keys derived from the Ed25519 keys, allowlist = peers */
    int flush_delay_ms;        /* local deltas wait this long to batch (default 5) */
    int frame_budget;          /* DELTA frames per second the whole cluster may send under load (default
                                * 5000; 0: unpaced): a node starts a flush at most every
                                * (peers + 1) * 1000 / frame_budget ms (200 ms at most), so that what
                                * each node verifies stays bounded as the cluster grows (docs/scale.md,
                                * "Cluster size") */
    int recv_budget_us;        /* a socket's reader reads frames for at most this long per loop turn (default
                                * 5000; 0: only the count bound), then yields the loop (totals: recv_yields) */
    int recv_burst;            /* ... and at most this many messages (default TP_RECV_BURST, 256; tests take 1
                                * to spread an exchange over as many turns as it has messages) */
    size_t max_frame_bytes;    /* DELTA / SYNC_DATA size cap (default 64 KiB, at most GOSSIP_WIRE_MAX_FRAME) */
    int heartbeat_ms;          /* default 1000 */
    int suspect_ms;            /* no message for this long: suspect (default 3000) */
    int dead_ms;               /* ... and dead (default 10000) */
    int sync_interval_ms;      /* digest sync with a random peer (default 10000) */
    int first_sync_ms;         /* delay of the first sync after start (default 200) */
    size_t repair_keep_frames; /* own DELTA frames kept for repair (default 4096) */
    size_t repair_keep_bytes;  /* ... and at most this many bytes (default 16 MiB) */
    int hwm;                   /* send/receive high-water mark in messages (default 20000) */
    uint64_t first_seq;        /* our DELTA seqs start after this one (a transport rebuilt within one
                                * epoch goes on where the previous one stopped; default 0) */
    int64_t clock_offset_ms;   /* added to the wall clock; tests only (a node whose clock runs ahead) */
    unsigned test_loss_permille; /* tests only: discard this share of frames read from the SUB, as PUB/SUB
                                  * does at its high-water mark, so that gap repair is exercised */
};
/* Fills the defaults; endpoints, peers and self stay NULL. */
void gossip_transport_config_default(struct gossip_transport_config *cfg);

struct gossip_transport;

/* Binds, connects and registers its readers and timers on loop. st and kr are borrowed and must
 * outlive the transport; the epoch is gossip_state_epoch(st). Returns NULL on error (logged): bad
 * endpoint, port in use, a peer name not in the keyring. */
struct gossip_transport *gossip_transport_new(zloop_t *loop, struct gossip_state *st, const struct gossip_keyring *kr,
                                              const struct gossip_transport_config *cfg);
/* Removes the readers and timers from the loop and closes the sockets. Safe on NULL and twice. */
void gossip_transport_destroy(struct gossip_transport **pt);

/* The caller wrote local state: schedule a flush (within flush_delay_ms, or later when the previous
 * flush started less than the paced interval ago (frame_budget); batches whatever is pending then, in
 * frames of at most max_frame_bytes). Cheap; call it after every write. */
void gossip_transport_notify(struct gossip_transport *t);

/* Called after a remote DELTA or SYNC_DATA body was merged. body (borrowed for the call) lists the
 * entries that came in: body->slots[i].key are the counter keys touched, body->sketches[i].key the
 * distinct keys; res->changed_marks (when the body has such entries) says which of them changed the
 * state (gossip_state_merge_marked); ban records that won were already reported by the state's ban callback.
 * sender = frame origin. */
typedef void (*gossip_transport_merge_cb)(const struct gossip_body *body, const struct gossip_merge_result *res,
                                          uint64_t sender, void *arg);
void gossip_transport_set_merge_cb(struct gossip_transport *t, gossip_transport_merge_cb cb, void *arg);

/* What this node has caught up with, in its heartbeats: `sent`, the wall time before which every
 * change it made has gone out, and `seen`, the wall time before which every change its live peers
 * made (by their own `sent`) has been merged and evaluated here and every decision made of it has
 * gone out. A peer that crossed a threshold at time t and waits for this node to decide it knows
 * that this node has had all it had once this node's `seen` passes t (docs/agent.md, "Who decides").
 * The callback gets the input horizon (the oldest `sent` of the live peers, or now with none live)
 * and says what of it has been evaluated; without one, `seen` is the input horizon. */
typedef int64_t (gossip_transport_horizon_fn)(int64_t input_ms, void *arg);
void gossip_transport_set_horizon_fn(struct gossip_transport *t, gossip_transport_horizon_fn *fn, void *arg);
/* The oldest `sent` of the live configured peers (0 while one has sent no heartbeat yet), our wall
 * clock when none is live. */
int64_t gossip_transport_input_horizon(const struct gossip_transport *t);

/* Starts a digest sync with a random reachable peer now. -1 when no peer is connected. */
int gossip_transport_sync_now(struct gossip_transport *t);
/* True once a sync with at least one peer has completed since start (the node holds the cluster state). */
bool gossip_transport_synced(const struct gossip_transport *t);

/* ---- statistics, for `sgcluster status` ---- */

enum gossip_peer_status { GOSSIP_PEER_ALIVE = 0, GOSSIP_PEER_SUSPECT = 1, GOSSIP_PEER_DEAD = 2 };
const char *gossip_peer_status_name(enum gossip_peer_status s);

/* Why an incoming frame was dropped (or an outgoing one not sent). */
enum gossip_drop_reason {
    GOSSIP_DROP_UNKNOWN_ORIGIN = 0, /* origin not in the keyring, or a CURVE key not in the peer list */
    GOSSIP_DROP_BAD_SIGNATURE,
    GOSSIP_DROP_MALFORMED,          /* truncated, bad version/type/length, bad body */
    GOSSIP_DROP_OVERSIZE,           /* over GOSSIP_WIRE_MAX_FRAME */
    GOSSIP_DROP_REPLAY,             /* seq already seen, old epoch, or a repeated stamp */
    GOSSIP_DROP_CLOCK_AHEAD,        /* header hlc too far ahead of our clock */
    GOSSIP_DROP_SELF,               /* a frame with our own origin came back */
    GOSSIP_DROP_UNEXPECTED,         /* a type that does not belong on that socket, or bad framing */
    GOSSIP_DROP_SEND_FAILED,        /* outgoing: peer not connected or queue full */
    GOSSIP_DROP_OLD_VERSION,        /* an older wire version: the sender runs an sgagent to upgrade */
    GOSSIP_DROP_MAX
};
const char *gossip_drop_reason_name(enum gossip_drop_reason r);

struct gossip_peer_stats {
    char name[GOSSIP_NAME_MAX + 1];
    uint64_t origin;
    bool configured;                 /* from the peer list (else: a keyring member that wrote to us) */
    char site[GOSSIP_NAME_MAX + 1];  /* "" when no site is configured */
    bool relay;                      /* configured as a relay */
    bool direct;                     /* we subscribe to it (else its frames come through our relay) */
    enum gossip_peer_status status;
    int64_t last_msg_age_ms;         /* -1: never heard */
    uint32_t epoch;                  /* its current epoch as we know it, 0 if unknown */
    uint64_t last_seq;               /* highest DELTA seq received in that epoch */
    uint64_t gaps_seen, gaps_repaired, gaps_abandoned; /* in frames */
    int64_t clock_offset_ms;         /* its wall clock minus ours, from its last heartbeat */
    int64_t sent_ms, seen_ms;        /* its `sent` and `seen` (its clock), from its last heartbeat; 0: unknown
                                      * (an sgagent before them sends neither: its sent is its heartbeat's time) */
    uint64_t frames_in, bytes_in, frames_out, bytes_out; /* out: direct (repair/sync) traffic to it */
    uint64_t entries_merged, entries_rejected;
    uint64_t drops[GOSSIP_DROP_MAX];
};

struct gossip_transport_totals {
    uint32_t epoch;
    uint64_t last_seq;               /* our last DELTA seq */
    uint64_t frames_in, bytes_in, frames_out, bytes_out;
    uint64_t deltas_flushed;         /* DELTA frames published */
    uint64_t entries_published;
    uint64_t syncs_started, syncs_completed;
    uint64_t syncs_refused;          /* sync answers not started: too many in progress (to that peer) */
    uint64_t sync_leaves_pulled;     /* leaves found different and exchanged (of 16384 per sync) */
    uint64_t syncs_backed_off;       /* periodic syncs put off after a long one (TP_SYNC_COST_FACTOR) */
    uint64_t repairs_served, repairs_resent; /* requests answered, frames resent */
    uint64_t repairs_synced;         /* requests for frames no longer kept: answered by a digest sync */
    uint64_t drops[GOSSIP_DROP_MAX]; /* every drop, known origin or not */
    uint64_t recv_yields;            /* reader turns cut by recv_budget_us, the rest left for the next turn */
    uint64_t bans_vouched;           /* ban records that came in their author's own frame: none checked alone */
    int64_t sent_ms, seen_ms;        /* our `sent` and `seen`, as our last heartbeat said them */
    bool synced;
    bool curve;
    bool relay;                      /* we are a relay */
    uint64_t relayed_out;            /* frames we re-published (relay) */
    uint64_t relayed_in;             /* relayed frames verified and taken */
    uint64_t relayed_dup;            /* relayed frames already had (directly or through another relay) */
    uint64_t relayed_refused;        /* RELAY frames refused: not from a relay, or what they carry did not verify,
                                      * is a RELAY itself (no re-relay), our own or of a wrong type */
};

size_t gossip_transport_peer_count(const struct gossip_transport *t);
/* i-th peer (configured ones first, in configuration order). -1 when i is out of range. */
int gossip_transport_peer_stats(const struct gossip_transport *t, size_t i, struct gossip_peer_stats *out);
void gossip_transport_totals(const struct gossip_transport *t, struct gossip_transport_totals *out);
/* Our site ("" without one) and whether one of our site's relays is alive (false when none is configured). */
const char *gossip_transport_site(const struct gossip_transport *t);
bool gossip_transport_relay_heard(const struct gossip_transport *t);
/* One JSON object: {"self":{...},"peers":[{...},...]}. Returns 0, -1 on write error. */
int gossip_transport_stats_json(const struct gossip_transport *t, FILE *f);
/* The totals as JSON members ("epoch":...,"drops":{...}, no braces around them): the transport's
 * own JSON above and the agent's `status --json` write them with this one function. */
void gossip_transport_totals_json(const struct gossip_transport_totals *tot, const char *site, FILE *f);
/* One peer's stats as JSON members, the same way (transport JSON, `status --json` peers). */
void gossip_peer_stats_json(const struct gossip_peer_stats *ps, FILE *f);

#endif
