/* transport_int.h: the transport's private state, shared by transport.c (sockets, timers, sending),
 * transport_recv.c (receive path, repair, sync) and transport_stats.c. Not a public header. */
#ifndef GOSSIP_TRANSPORT_INT_H
#define GOSSIP_TRANSPORT_INT_H

#include <czmq.h>

#include "gossip/peer.h"
#include "gossip/transport.h"

/* Replay window for non-DELTA frames: a stamp more than this behind the newest from its origin is old. */
#define TP_REPLAY_WINDOW_MS 60000
#define TP_REPAIR_RETRY_MS 1000
#define TP_REPAIR_TRIES 5
#define TP_REPAIR_MAX_FRAMES 512      /* a longer range is answered by a digest sync */
#define TP_SYNC_TIMEOUT_MS 3000
/* The periodic sync is a safety net (lost frames are repaired, a gap too long to resend starts a sync of
 * its own): after a sync this node asked for, the next periodic one waits TP_SYNC_COST_FACTOR times as
 * long as that one took (capped at TP_SYNC_BACKOFF_MAX_MS), so it keeps a tenth of the time at most
 * for syncs up to 67 s.
 * During an attack every leaf differs by what the deltas carry anyway, and a sync moves the whole state. */
#define TP_SYNC_COST_FACTOR 9
#define TP_SYNC_BACKOFF_MAX_MS 600000
#define TP_SYNC_FRAME_BYTES (256u * 1024u)
#define TP_FLUSH_FRAMES_PER_TICK 64   /* under load, yield to the loop between bursts */
#define TP_FLUSH_INTERVAL_MAX_MS 200  /* pacing never holds a delta (a ban) longer than this: a peer
                                       * list of 1000+ nodes (or a mistaken one) spends more of the
                                       * frame budget instead of delaying bans for everyone */
#define TP_RECV_BURST 256             /* messages read per reader callback (the default of recv_burst) */
#define TP_RECV_BUDGET_MAX_US 50000   /* the longest turn of a reader that is behind (tp_read_budget_ns) */

/* The readers, each with its own turn budget: the SUB, the ROUTER, the DEALERs (one for all). */
enum tp_reader { TP_RD_SUB, TP_RD_ROUTER, TP_RD_DEALER, TP_READERS };
#define TP_EXPORT_JOBS 8              /* sync answers being sent at once; more requests wait for a retry */
#define TP_EXPORT_JOBS_PER_PEER 1     /* ... of which to one peer: two exchanges with one peer at once (its sync and
                                       * our repair) would send the same leaves twice; a peer asking again and
                                       * again gets no more */
#define TP_EXPORT_FRAMES_PER_TURN 2   /* a big export is spread over loop turns, deltas keep flowing */

/* Where this node's publishing stood at a flush (tp_horizon_*): once every entry queued by then has gone
 * out, at wall time `wall` this node had published every change it made and, seen, had evaluated
 * every change its peers made before `seen` (what the horizon callback said then). */
#define TP_CHECKPOINTS 64
struct tp_checkpoint {
    int64_t wall, seen;
    struct gossip_pending_mark m;
};

struct tp_sent {                      /* one of our DELTA frames kept for repair */
    uint64_t seq;
    uint8_t *data;
    size_t len;
};

/* Where a received frame came from, so an answer goes back the same way. */
struct tp_route {
    zsock_t *sock;                    /* ROUTER (answer with rid), DEALER, or SUB (no answers) */
    const uint8_t *rid;
    size_t rid_len;
    bool can_answer;
    bool quiet;                       /* a failed send is expected (probing): not counted */
};

/* A route kept past the message it came with (the ROUTER's routing id lives in that message). */
struct tp_kept_route {
    zsock_t *sock;
    uint8_t rid[256];
    size_t rid_len;
    bool has_rid;
};

/* What follows an export's entries on the same route, so that it is read after all of them. */
enum tp_trailer {
    TP_THEN_NOTHING,
    TP_THEN_DIGEST,                   /* answering a pull: our digest, which ends the asker's exchange */
    TP_THEN_PULL,                     /* asking: our pull, so the answerer holds our entries before it answers */
};

/* A sync export being sent: our entries of a set of leaves, a few frames per loop turn, then its
 * trailer. */
struct tp_export {
    struct tp_kept_route route;
    struct gossip_peer *p;
    uint8_t leaves[GOSSIP_SYNC_LEAVES / 8];
    uint64_t cursor;
    enum tp_trailer then;
    uint8_t pull[GOSSIP_SYNC_PULL_BYTES];   /* TP_THEN_PULL: the leaves we pull */
};

/* A peer's sync request (SYNC_DIGEST role 0) held while our own exchange with that peer is under way:
 * answered from our state as it is now, it would ask the peer for what is already on its way to us. */
struct tp_held {
    struct gossip_peer *p;            /* NULL: nothing held */
    struct tp_kept_route route;
    uint32_t repair_epoch;
    uint64_t repair_through;
    uint64_t digests[GOSSIP_PARTITIONS];
};

/* A peer's exchange we answered with leaf sums and whose pull has not come: its entries come first
 * (transport_sync.c), and while they do, another request from it is not answered. */
struct tp_asker {
    struct gossip_peer *p;
    int64_t last_mono;                /* our leaf sums, or its last SYNC_DATA; forgotten TP_SYNC_TIMEOUT_MS later */
};

struct gossip_transport {
    zloop_t *loop;
    int64_t read_end_ns[TP_READERS];      /* when each reader's last turn ended */
    bool read_behind[TP_READERS];         /* and whether it left messages queued */
    void *handle;                         /* what our zloop callbacks get: see transport_live.c */
    struct gossip_state *st;
    const struct gossip_keyring *kr;
    struct gossip_transport_config cfg;   /* string pointers below are our copies */
    char *pub_bind, *sync_bind, *site;
    zsock_t *pub, *sub, *router, *zap;
    struct gossip_peer **peers;
    size_t n_peers, n_configured, cap_peers;
    int flush_timer, hb_timer, tick_timer, export_timer;
    int64_t last_flush_mono;              /* when the last flush started (0: never) */
    int flush_interval_ms;                /* paced: (peers + 1) * 1000 / frame_budget */
    struct tp_export jobs[TP_EXPORT_JOBS];
    size_t n_jobs;
    int64_t next_sync_mono;
    struct gossip_peer *sync_peer;        /* the sync in flight, if any */
    bool sync_pulled;                     /* ... has sent its pull: the peer's answer is on its way */
    int64_t sync_sent_mono;
    int64_t sync_asked_mono;              /* when the sync in flight was asked for (sync_sent_mono moves) */
    struct tp_held held;
    struct tp_asker askers[TP_EXPORT_JOBS];
    uint64_t seq;                         /* our last DELTA seq */
    struct tp_sent *ring;
    size_t ring_cap, ring_head, ring_n, ring_bytes;
    struct gossip_writer w;
    gossip_transport_merge_cb cb;
    void *cb_arg;
    struct gossip_transport_totals tot;   /* tot.sent_ms, tot.seen_ms: what our heartbeats say */
    gossip_transport_horizon_fn *horizon_fn;
    void *horizon_arg;
    struct tp_checkpoint cps[TP_CHECKPOINTS];   /* a ring, oldest first */
    size_t cp_head, cp_n;
    uint8_t curve_pk[32], curve_sk[32];
};

/* transport_live.c: NULL when 64 transports are alive already. */
void *tp_live_add(struct gossip_transport *t);
/* The transport of a callback's handle, NULL when it was destroyed. */
struct gossip_transport *tp_live(void *handle);
void tp_live_remove(struct gossip_transport *t);

int64_t tp_now(const struct gossip_transport *t);
/* Signs a frame of the given type; caller frees *out. -1 when too big. */
int tp_frame(struct gossip_transport *t, uint8_t type, uint64_t seq, const uint8_t *body, size_t len,
             uint8_t **out, size_t *out_len);
/* Sends one frame on a route (ROUTER with routing id, or DEALER). 0, or -1 counted as send_failed. */
int tp_send_route(struct gossip_transport *t, const struct tp_route *r, struct gossip_peer *p, const uint8_t *data,
                  size_t len);
/* A route to a configured peer's ROUTER through our DEALER. */
struct tp_route tp_route_to(const struct gossip_peer *p);
struct gossip_peer *tp_peer_by_origin(const struct gossip_transport *t, uint64_t origin);
/* The kept frame with this seq, or NULL when it is gone. */
const struct tp_sent *tp_ring_find(const struct gossip_transport *t, uint64_t seq);
/* Starts a digest sync with p (request through our DEALER). -1 when not connected. */
int tp_sync_with(struct gossip_transport *t, struct gossip_peer *p);
/* Our sync in flight is over (answered or timed out): a request held meanwhile is answered now. */
void tp_sync_end(struct gossip_transport *t);
/* The sync this node asked for ended at now (its closing digest read while it was in flight), took ms
 * after it was asked for: the next periodic one waits TP_SYNC_COST_FACTOR times that, capped, when that
 * is longer than the period and later than planned (counted: syncs_backed_off). */
void tp_sync_backoff(struct gossip_transport *t, int64_t took, int64_t now);
void tp_count_drop(struct gossip_transport *t, struct gossip_peer *p, enum gossip_drop_reason r);

/* Publishes a frame on our PUB. 0, or -1 counted as send_failed. */
int tp_publish(struct gossip_transport *t, const uint8_t *data, size_t len);

/* transport_recv.c */
/* A HEARTBEAT body, [wall, sent, seen] (or an older node's [wall]: sent = wall, seen = 0), with sent
 * and seen clamped to [0, wall]; false (malformed) for any other shape or trailing bytes. */
struct tp_heartbeat {
    int64_t wall, sent, seen;
};
bool tp_heartbeat_parse(const uint8_t *body, size_t blen, struct tp_heartbeat *hb);
enum tp_verdict { TP_REFUSED = -1, TP_TAKEN = 0, TP_DUPLICATE = 1 };
/* The receive path for one frame; relayed: it came inside a RELAY frame (no forwarding, a replay is a
 * duplicate, not a drop). */
enum tp_verdict tp_handle(struct gossip_transport *t, const struct tp_route *r, const uint8_t *data, size_t len,
                          bool relayed);
/* relay.c */
/* Whether we subscribe to this configured peer (same site, or we are a relay). */
bool tp_peer_direct(const struct gossip_transport_config *cfg, const struct gossip_transport_peer *cp);
/* A RELAY frame from p passed the transport's checks: check and take what it carries. */
void tp_relay_take(struct gossip_transport *t, const struct tp_route *r, struct gossip_peer *p, const uint8_t *body,
                   size_t blen);
/* A frame taken directly from author on the SUB: re-publish it wrapped when we relay its site. */
void tp_relay_forward(struct gossip_transport *t, const struct gossip_peer *author, uint8_t type, const uint8_t *data,
                      size_t len);
int tp_on_sub(zloop_t *loop, zsock_t *sock, void *arg);
int tp_on_router(zloop_t *loop, zsock_t *sock, void *arg);
/* How long a reader may read this turn, in ns: base_us; or, when its last turn left messages queued,
 * as long as the loop spent elsewhere since that turn (since_ns), between base_us and
 * TP_RECV_BUDGET_MAX_US. A reader behind then gets about half of the loop whatever else runs in it
 * (log lines, evaluation slices), so peers' frames and heartbeats do not fall further behind. */
int64_t tp_read_budget_ns(int64_t base_us, bool behind, int64_t since_ns);
int tp_on_dealer(zloop_t *loop, zsock_t *sock, void *arg);
/* transport_sync.c */
/* Sends SYNC_DIGEST (role 0 = request) with optional repair marker over route r; dg = our digests,
 * or NULL to compute them. */
int tp_send_digest(struct gossip_transport *t, const struct tp_route *r, struct gossip_peer *p, int role,
                   uint32_t repair_epoch, uint64_t repair_through, const uint64_t *dg);
/* A peer's digests arrived (role 0: its request; 1: the end of the exchange we asked for). */
void tp_sync_on_digest(struct gossip_transport *t, const struct tp_route *r, struct gossip_peer *p, int role,
                       uint32_t repair_epoch, uint64_t repair_through, const uint64_t theirs[GOSSIP_PARTITIONS]);
/* A SYNC_DATA frame from p was taken: its exchange is alive. */
void tp_sync_on_data(struct gossip_transport *t, struct gossip_peer *p);
/* A SYNC_LEAVES body arrived, decoded and addressed to us (gossip_wire_sync_leaves_decode). */
void tp_sync_on_leaves(struct gossip_transport *t, const struct tp_route *r, struct gossip_peer *p,
                       const struct gossip_sync_leaves *m);
/* Asks p for the frames of every gap that is due. */
void tp_request_repairs(struct gossip_transport *t, struct gossip_peer *p, int64_t now_mono);

#endif
