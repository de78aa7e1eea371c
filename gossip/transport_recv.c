/* transport_recv.c: the receive path (checks in order, replay and clock, merge), gap repair and the
 * digest sync, for frames from the SUB, the ROUTER and the per-peer DEALERs. */
#include "gossip/transport_int.h"

#include <errno.h>
#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "agent/util.h"
#include "gossip/hlc.h"

/* ---- small fixed-shape bodies ----
 * msgpack-c reserves memory for whatever element count an array header declares, so the transport's
 * own bodies (a fixarray of integers and at most one bin) are read field by field with this strict
 * reader instead of being unpacked: anything else is malformed. They are written with msgpack. */
struct rd {
    const uint8_t *p, *end;
};

static bool rd_be(struct rd *r, size_t n, uint64_t *out)
{
    if ((size_t)(r->end - r->p) < n)
        return false;
    uint64_t v = 0;
    for (size_t i = 0; i < n; i++)
        v = v << 8 | r->p[i];
    r->p += n;
    *out = v;
    return true;
}

/* An integer of any msgpack width; negative values are returned as int64 bits. */
static bool rd_int(struct rd *r, int64_t *out)
{
    if (r->p >= r->end)
        return false;
    uint8_t b = *r->p++;
    uint64_t v;
    if (b <= 0x7f) {
        *out = b;
        return true;
    }
    if (b >= 0xe0) {
        *out = (int8_t)b;
        return true;
    }
    static const size_t widths[] = { 1, 2, 4, 8 };
    if (b >= 0xcc && b <= 0xcf) {           /* uint 8..64 */
        if (!rd_be(r, widths[b - 0xcc], &v))
            return false;
        *out = (int64_t)v;
        return true;
    }
    if (b >= 0xd0 && b <= 0xd3) {           /* int 8..64 */
        size_t w = widths[b - 0xd0];
        if (!rd_be(r, w, &v))
            return false;
        if (w < 8 && (v >> (8 * w - 1)) & 1)
            v |= ~0ULL << (8 * w);          /* sign-extend */
        *out = (int64_t)v;
        return true;
    }
    return false;
}

static bool rd_uint(struct rd *r, uint64_t max, uint64_t *out)
{
    int64_t v;
    if (!rd_int(r, &v) || v < 0 || (uint64_t)v > max)
        return false;
    *out = (uint64_t)v;
    return true;
}

/* A uint64 as msgpack writes it: origins use all 64 bits, so 0xcf is read unsigned. */
static bool rd_u64(struct rd *r, uint64_t *out)
{
    if (r->p < r->end && *r->p == 0xcf) {
        r->p++;
        return rd_be(r, 8, out);
    }
    return rd_uint(r, UINT64_MAX, out);
}

static bool rd_array(struct rd *r, unsigned n)
{
    return r->p < r->end && *r->p++ == (uint8_t)(0x90 | n);   /* fixarray of exactly n */
}

/* A bin of exactly n bytes (bin 8 or bin 16). */
static const uint8_t *rd_bin(struct rd *r, size_t n)
{
    uint64_t len;
    if (r->p >= r->end)
        return NULL;
    uint8_t b = *r->p++;
    if (!(b == 0xc4 && rd_be(r, 1, &len)) && !(b == 0xc5 && rd_be(r, 2, &len)))
        return NULL;
    if (len != n || (size_t)(r->end - r->p) < n)
        return NULL;
    const uint8_t *d = r->p;
    r->p += n;
    return d;
}

/* ---- peers ---- */

/* A keyring member that is not in our peer list may still talk to our ROUTER (a node being added):
 * it gets an entry for its counters, without sockets. */
static struct gossip_peer *peer_for(struct gossip_transport *t, uint64_t origin)
{
    struct gossip_peer *p = tp_peer_by_origin(t, origin);
    if (p)
        return p;
    const struct gossip_peer_key *k = gossip_keyring_find(t->kr, origin);
    if (!k)
        return NULL;
    if (t->n_peers == t->cap_peers) {
        t->cap_peers *= 2;
        t->peers = sg_xrealloc(t->peers, t->cap_peers * sizeof *t->peers);
    }
    p = gossip_peer_new(k->name, k->pk, NULL, NULL);
    t->peers[t->n_peers++] = p;
    return p;
}

/* One log line per drop reason at counts 1, 2, 4, 8...: visible, but a flood cannot fill the log. */
static void drop(struct gossip_transport *t, struct gossip_peer *p, enum gossip_drop_reason r, const char *why)
{
    tp_count_drop(t, p, r);
    uint64_t n = t->tot.drops[r];
    if ((n & (n - 1)) == 0)
        sg_log(SG_LOG_WARN, "transport: dropped a frame from %s: %s (%s; %llu so far)", p ? p->st.name : "?",
               gossip_drop_reason_name(r), why, (unsigned long long)n);
}

static enum gossip_drop_reason reason_of(enum gossip_wire_err e)
{
    switch (e) {
    case GOSSIP_WIRE_EUNKNOWN: return GOSSIP_DROP_UNKNOWN_ORIGIN;
    case GOSSIP_WIRE_EBADSIG: return GOSSIP_DROP_BAD_SIGNATURE;
    case GOSSIP_WIRE_ETOOBIG: return GOSSIP_DROP_OVERSIZE;
    case GOSSIP_WIRE_EOLDVERSION: return GOSSIP_DROP_OLD_VERSION;
    default: return GOSSIP_DROP_MALFORMED;
    }
}

/* Requests name their recipient inside the signed body: a request one peer signed for another node,
 * replayed here by whoever saw it, is refused (and counted as a replay). */
static bool for_us(struct gossip_transport *t, struct gossip_peer *p, uint64_t recipient)
{
    if (recipient == t->cfg.self->origin)
        return true;
    drop(t, p, GOSSIP_DROP_REPLAY, "addressed to another node");
    return false;
}

/* ---- repair ---- */

static int send_repair_req(struct gossip_transport *t, struct gossip_peer *p, const struct gossip_gap *g)
{
    msgpack_sbuffer sb;
    msgpack_packer pk;
    msgpack_sbuffer_init(&sb);
    msgpack_packer_init(&pk, &sb, msgpack_sbuffer_write);
    msgpack_pack_array(&pk, 4);
    msgpack_pack_uint32(&pk, p->st.epoch);
    msgpack_pack_uint64(&pk, g->from);
    msgpack_pack_uint64(&pk, g->to);
    msgpack_pack_uint64(&pk, p->st.origin);
    uint8_t *frame;
    size_t len;
    int rc = -1;
    if (tp_frame(t, GOSSIP_FRAME_REPAIR_REQ, 0, (const uint8_t *)sb.data, sb.size, &frame, &len) == 0) {
        struct tp_route r = tp_route_to(p);
        rc = tp_send_route(t, &r, p, frame, len);
        free(frame);
    }
    msgpack_sbuffer_destroy(&sb);
    return rc;
}

void tp_request_repairs(struct gossip_transport *t, struct gossip_peer *p, int64_t now_mono)
{
    if (!p->dealer)
        return;
    size_t i = 0;
    while (i < p->n_gaps) {
        struct gossip_gap *g = &p->gaps[i];
        if (g->asked_mono && now_mono - g->asked_mono < TP_REPAIR_RETRY_MS) {
            i++;
            continue;
        }
        if (g->tries >= TP_REPAIR_TRIES) {
            /* the origin does not answer: the periodic sync with any peer will bring the data */
            gossip_peer_gap_abandon(p, i);
            continue;
        }
        g->tries++;
        g->asked_mono = now_mono;
        send_repair_req(t, p, g);
        i++;
    }
}

/* REPAIR_REQ [epoch, from, to, recipient]: resend what we keep; for what is gone (or another epoch), start a
 * digest sync with the requester that says it covers the range. */
static void on_repair_req(struct gossip_transport *t, const struct tp_route *r, struct gossip_peer *p,
                          const uint8_t *body, size_t blen)
{
    struct rd rd = { body, body + blen };
    uint64_t epoch, from, to, recipient;
    if (!rd_array(&rd, 4) || !rd_uint(&rd, UINT32_MAX, &epoch) || !rd_uint(&rd, UINT64_MAX, &from) ||
        !rd_uint(&rd, UINT64_MAX, &to) || !rd_u64(&rd, &recipient) || rd.p != rd.end || from > to) {
        drop(t, p, GOSSIP_DROP_MALFORMED, "bad REPAIR_REQ body");
        return;
    }
    if (!for_us(t, p, recipient))
        return;
    t->tot.repairs_served++;
    bool this_boot = epoch == gossip_state_epoch(t->st);
    if (this_boot && to > t->seq)
        to = t->seq;   /* it cannot miss what we never sent */
    if (from > to)
        return;
    /* another boot's frames are gone; past a few hundred frames a digest sync is cheaper anyway */
    bool gone = !this_boot || to - from >= TP_REPAIR_MAX_FRAMES;
    for (uint64_t s = from; !gone && s <= to; s++) {
        const struct tp_sent *k = tp_ring_find(t, s);
        if (!k) {
            gone = true;
            break;
        }
        if (tp_send_route(t, r, p, k->data, k->len) < 0)
            return;   /* queue full: it will ask again */
        t->tot.repairs_resent++;
    }
    if (gone && tp_send_digest(t, r, p, 0, (uint32_t)epoch, to, NULL) == 0)
        t->tot.repairs_synced++;
}

/* SYNC_DIGEST [role, repair_epoch, repair_through, bin(64 x u64 big-endian), recipient]: parsed here, acted on
 * in transport_sync.c. */
static void on_sync_digest(struct gossip_transport *t, const struct tp_route *r, struct gossip_peer *p,
                           const uint8_t *body, size_t blen)
{
    struct rd rd = { body, body + blen };
    uint64_t role, repair_epoch, repair_through, recipient;
    const uint8_t *bin;
    if (!rd_array(&rd, 5) || !rd_uint(&rd, 1, &role) || !rd_uint(&rd, UINT32_MAX, &repair_epoch) ||
        !rd_uint(&rd, UINT64_MAX, &repair_through) || !(bin = rd_bin(&rd, GOSSIP_PARTITIONS * 8)) ||
        !rd_u64(&rd, &recipient) || rd.p != rd.end) {
        drop(t, p, GOSSIP_DROP_MALFORMED, "bad SYNC_DIGEST body");
        return;
    }
    if (!for_us(t, p, recipient))
        return;
    uint64_t theirs[GOSSIP_PARTITIONS];
    for (size_t i = 0; i < GOSSIP_PARTITIONS; i++) {
        theirs[i] = 0;
        for (int k = 0; k < 8; k++)
            theirs[i] = theirs[i] << 8 | bin[i * 8 + k];
    }
    tp_sync_on_digest(t, r, p, (int)role, (uint32_t)repair_epoch, repair_through, theirs);
}

/* SYNC_LEAVES: decoded by gossip/wire_decode.c, acted on in transport_sync.c. */
static void on_sync_leaves(struct gossip_transport *t, const struct tp_route *r, struct gossip_peer *p,
                           const uint8_t *body, size_t blen)
{
    struct gossip_sync_leaves m;
    enum gossip_wire_err e = gossip_wire_sync_leaves_decode(body, blen, &m);
    if (e != GOSSIP_WIRE_OK) {
        drop(t, p, GOSSIP_DROP_MALFORMED, "bad SYNC_LEAVES body");
        return;
    }
    if (for_us(t, p, m.recipient))
        tp_sync_on_leaves(t, r, p, &m);
}

/* ---- the receive path ---- */

static void merge_body(struct gossip_transport *t, struct gossip_peer *p, const struct gossip_frame_header *h,
                       const uint8_t *body, size_t blen, bool relayed)
{
    struct gossip_body *b = NULL;
    enum gossip_wire_err e = gossip_body_decode(body, blen, 0, &b);
    if (e != GOSSIP_WIRE_OK) {
        drop(t, p, GOSSIP_DROP_MALFORMED, gossip_wire_strerror(e));
        return;
    }
    struct gossip_merge_result res;
    /* which entries changed the state, for the callback (an answer to a sync is mostly what we hold) */
    uint8_t *marks = t->cb && b->n_slots + b->n_sketches ? sg_xmalloc(b->n_slots + b->n_sketches) : NULL;
    /* Counter slots are not signed one by one: only the frame is, by its sender. So a slot is taken
     * only from its own origin, in a DELTA or a SYNC_DATA alike: a peer cannot write (or inflate)
     * another node's counts. Sync still relays ban records, which carry their author's signature; the
     * sender's own records are vouched for by the frame's signature, checked before we got here. */
    unsigned flags = GOSSIP_MERGE_SENDER_SLOTS_ONLY | GOSSIP_MERGE_SENDER_SIGNED;
    if (!relayed && !t->cfg.relay) flags |= GOSSIP_MERGE_SENDER_DIRECT;
    gossip_state_merge_marked(t->st, b, h->origin, flags, tp_now(t), &res, marks);
    p->st.entries_merged += res.changed;
    p->st.entries_rejected += res.rejected;
    t->tot.bans_vouched += res.bans_vouched;
    if (t->cb)
        t->cb(b, &res, h->origin, t->cb_arg);
    free(marks);
    gossip_body_destroy(&b);
    /* ban records learned here are queued for relay by the state: they go out with the next flush */
    if (gossip_state_pending(t->st) > 0)
        gossip_transport_notify(t);
}

bool tp_heartbeat_parse(const uint8_t *body, size_t blen, struct tp_heartbeat *hb)
{
    struct rd rd = { body, body + blen };
    bool old = rd.p < rd.end && *rd.p == 0x91;   /* an sgagent before `sent` and `seen`: [wall] */
    if (old ? !rd_array(&rd, 1) || !rd_int(&rd, &hb->wall)
            : !rd_array(&rd, 3) || !rd_int(&rd, &hb->wall) || !rd_int(&rd, &hb->sent) || !rd_int(&rd, &hb->seen))
        return false;
    if (rd.p != rd.end)
        return false;   /* trailing bytes: not a body this version (or the last) writes */
    if (old)
        hb->sent = hb->wall, hb->seen = 0;
    /* Nothing it made after its own clock's now can have gone out, and nothing after it can have been
     * seen: both are clamped to [0, wall], so a member's lie about them is bounded by its clock (whose
     * offset is measured and shown) and a negative or far-future value means nothing more. */
    if (hb->wall < 0)
        hb->wall = 0;
    hb->sent = hb->sent < 0 ? 0 : hb->sent > hb->wall ? hb->wall : hb->sent;
    hb->seen = hb->seen < 0 ? 0 : hb->seen > hb->wall ? hb->wall : hb->seen;
    return true;
}

static void on_heartbeat(struct gossip_transport *t, struct gossip_peer *p, const struct gossip_frame_header *h,
                         const uint8_t *body, size_t blen, bool relayed)
{
    struct tp_heartbeat hb;
    if (!tp_heartbeat_parse(body, blen, &hb)) {
        drop(t, p, GOSSIP_DROP_MALFORMED, "bad HEARTBEAT body");
        return;
    }
    p->st.clock_offset_ms = hb.wall - tp_now(t);
    /* a relayed heartbeat says the author is alive; its gaps are not ours to repair (no DEALER to it) */
    if (!relayed && gossip_peer_announce(p, h->epoch, h->seq))
        tp_request_repairs(t, p, sg_mono_ms());
    /* Its own word on what it has caught up with, believed only while no frame of its is missing here
     * (a frame dropped at a high-water mark may hold the ban it says is out; a peer of another site,
     * whose frames come through a relay and whose gaps are not ours to repair, is believed as it
     * says: at worst a crossing is decided twice). A member may lie within its clock
     * (tp_heartbeat_parse): saying it is ahead gets its crossings taken over (duplicates); saying it
     * is behind holds back the `seen` of every node that hears it, so every takeover in the cluster
     * waits, for at most SCENARIO_DEFER_BOUND_MS. */
    if (relayed || !p->dealer || (p->n_gaps == 0 && p->st.epoch == h->epoch)) {
        p->st.sent_ms = hb.sent;
        p->st.seen_ms = hb.seen;
    }
}

enum tp_verdict tp_handle(struct gossip_transport *t, const struct tp_route *r, const uint8_t *data, size_t len,
                          bool relayed)
{
    if (!relayed) {   /* a relayed frame was counted in its RELAY frame */
        t->tot.frames_in++;
        t->tot.bytes_in += len;
    }
    if (len > GOSSIP_WIRE_MAX_FRAME) {
        drop(t, NULL, GOSSIP_DROP_OVERSIZE, "over the frame size limit");
        return TP_REFUSED;
    }
    struct gossip_frame_header h;
    const uint8_t *body;
    size_t blen;
    enum gossip_wire_err e = gossip_wire_frame_verify(data, len, t->kr, &h, &body, &blen);
    if (e == GOSSIP_WIRE_EOLDVERSION) {
        /* Unverified (an old frame's layout is not ours to check), but during an upgrade the
         * operator wants to know which node still runs the old version: say whom it claims to be. */
        uint64_t claimed = 0;
        for (int i = 0; i < 8; i++) claimed = claimed << 8 | data[8 + i];
        const struct gossip_peer_key *k = gossip_keyring_find(t->kr, claimed);
        char why[160];
        snprintf(why, sizeof why, "%s, claiming to be %s", gossip_wire_strerror(e), k ? k->name : "an unknown node");
        drop(t, NULL, reason_of(e), why);
        return TP_REFUSED;
    }
    if (e != GOSSIP_WIRE_OK) {
        drop(t, NULL, reason_of(e), gossip_wire_strerror(e));
        return TP_REFUSED;
    }
    if (h.origin == t->cfg.self->origin) {
        drop(t, NULL, GOSSIP_DROP_SELF, "our own origin");
        return TP_REFUSED;
    }
    struct gossip_peer *p = peer_for(t, h.origin);
    if (!p) {   /* verify found it in the keyring, so this does not happen */
        drop(t, NULL, GOSSIP_DROP_UNKNOWN_ORIGIN, "not in the keyring");
        return TP_REFUSED;
    }
    p->st.frames_in++;
    p->st.bytes_in += len;
    int64_t now = tp_now(t);
    if (!gossip_hlc_acceptable(gossip_state_hlc(t->st), h.hlc, now)) {
        /* signed by the peer, so its stamp says how far ahead its clock is: worth showing */
        p->st.clock_offset_ms = GOSSIP_HLC_MS(h.hlc) - now;
        drop(t, p, GOSSIP_DROP_CLOCK_AHEAD, "stamp too far in the future");
        return TP_REFUSED;
    }
    /* only the SUB carries broadcast types; the sync channels carry requests, answers and resent deltas */
    bool from_sub = !r->can_answer;
    if (from_sub ? (h.type != GOSSIP_FRAME_DELTA && h.type != GOSSIP_FRAME_HEARTBEAT && h.type != GOSSIP_FRAME_RELAY)
                 : h.type == GOSSIP_FRAME_HEARTBEAT) {
        drop(t, p, GOSSIP_DROP_UNEXPECTED, "frame type not expected on this socket");
        return TP_REFUSED;
    }
    if (p->st.epoch == 0 && p->dealer && (h.type == GOSSIP_FRAME_DELTA || h.type == GOSSIP_FRAME_HEARTBEAT))
        p->want_sync = true;
    enum gossip_seq_verdict v = GOSSIP_SEQ_OK;
    if (h.type == GOSSIP_FRAME_DELTA) {
        v = gossip_peer_seq_check(p, h.epoch, h.seq);
        if (v == GOSSIP_SEQ_REPLAY) {
            if (relayed)
                return TP_DUPLICATE;   /* had it already (directly, or through another relay): merged once */
            drop(t, p, GOSSIP_DROP_REPLAY, "sequence number already seen or old epoch");
            return TP_REFUSED;
        }
    } else if (!gossip_peer_stamp_fresh(p, from_sub ? GOSSIP_CH_SUB : r->rid ? GOSSIP_CH_ROUTER : GOSSIP_CH_DEALER,
                                        h.epoch, h.hlc, TP_REPLAY_WINDOW_MS)) {
        if (relayed)
            return TP_DUPLICATE;
        drop(t, p, GOSSIP_DROP_REPLAY, "stamp already seen or too old");
        return TP_REFUSED;
    }
    gossip_hlc_observe(gossip_state_hlc(t->st), h.hlc, now);
    p->last_msg_mono = sg_mono_ms();
    /* verified and new: a relay passes it on to its site before taking it (gossip/relay.c) */
    if (from_sub && !relayed)
        tp_relay_forward(t, p, h.type, data, len);
    switch (h.type) {
    case GOSSIP_FRAME_DELTA:
        merge_body(t, p, &h, body, blen, relayed);
        if (v == GOSSIP_SEQ_GAP)
            tp_request_repairs(t, p, p->last_msg_mono);
        break;
    case GOSSIP_FRAME_RELAY:
        tp_relay_take(t, r, p, body, blen);
        break;
    case GOSSIP_FRAME_SYNC_DATA:
        tp_sync_on_data(t, p);
        merge_body(t, p, &h, body, blen, relayed);
        break;
    case GOSSIP_FRAME_HEARTBEAT:
        on_heartbeat(t, p, &h, body, blen, relayed);
        break;
    case GOSSIP_FRAME_REPAIR_REQ:
        on_repair_req(t, r, p, body, blen);
        break;
    case GOSSIP_FRAME_SYNC_DIGEST:
        on_sync_digest(t, r, p, body, blen);
        break;
    case GOSSIP_FRAME_SYNC_LEAVES:
        if (p == t->sync_peer)
            t->sync_sent_mono = p->last_msg_mono;
        on_sync_leaves(t, r, p, body, blen);
        break;
    default:
        drop(t, p, GOSSIP_DROP_UNEXPECTED, "unknown frame type");
        return TP_REFUSED;
    }
    return TP_TAKEN;
}

int64_t tp_read_budget_ns(int64_t base_us, bool behind, int64_t since_ns)
{
    int64_t b = base_us * 1000;
    if (!behind || since_ns <= b) return b;
    return since_ns < TP_RECV_BUDGET_MAX_US * 1000LL ? since_ns : TP_RECV_BUDGET_MAX_US * 1000LL;
}

static void read_turn(struct gossip_transport *t, enum tp_reader rd, zsock_t *sock, bool router, bool can_answer);

/* One reader's turn: reads, then remembers when it ended and whether it left messages queued. */
static void read_burst(struct gossip_transport *t, enum tp_reader rd, zsock_t *sock, bool router, bool can_answer)
{
    read_turn(t, rd, sock, router, can_answer);
    t->read_end_ns[rd] = sg_mono_ns();
}

/* Reads up to a burst of messages; ROUTER messages are [routing id][frame]. */
static void read_turn(struct gossip_transport *t, enum tp_reader rd, zsock_t *sock, bool router, bool can_answer)
{
    void *s = zsock_resolve(sock);
    int64_t t0 = sg_mono_ns();
    int64_t budget = t->cfg.recv_budget_us > 0
                         ? tp_read_budget_ns(t->cfg.recv_budget_us, t->read_behind[rd], t0 - t->read_end_ns[rd])
                         : 0;
    t->read_behind[rd] = false;
    for (int n = 0; n < t->cfg.recv_burst; n++) {
        /* Bounded by time as well as count: frames full of ban records cost a signature check each,
         * so 256 of them could hold the loop for seconds. What is left stays queued in ZeroMQ, and
         * zmq_poll (level-triggered: it asks ZMQ_EVENTS before it waits) calls us again on the loop's
         * next turn. A sync exchange is therefore read over many turns, interleaved with the other
         * sockets: transport_sync.c holds what must not overtake the rest of an exchange. */
        if (n && budget > 0 && sg_mono_ns() - t0 > budget) {
            t->tot.recv_yields++;
            t->read_behind[rd] = true;
            return;
        }
        zmq_msg_t rid, msg;
        zmq_msg_init(&rid);
        zmq_msg_init(&msg);
        bool ok = true;
        if (router && zmq_msg_recv(&rid, s, ZMQ_DONTWAIT) < 0) {
            zmq_msg_close(&rid);
            zmq_msg_close(&msg);
            return;
        }
        if (zmq_msg_recv(router ? &msg : &rid, s, router ? 0 : ZMQ_DONTWAIT) < 0) {
            zmq_msg_close(&rid);
            zmq_msg_close(&msg);
            return;
        }
        zmq_msg_t *frame = router ? &msg : &rid;
        /* anything but exactly one frame (after the routing id) is not ours: drain it and count it */
        bool more = zmq_msg_more(frame), more_parts = more;
        while (more) {
            zmq_msg_t junk;
            zmq_msg_init(&junk);
            more = zmq_msg_recv(&junk, s, 0) >= 0 && zmq_msg_more(&junk);
            zmq_msg_close(&junk);
            ok = false;
        }
        if (ok && !router && !can_answer && t->cfg.test_loss_permille &&
            randombytes_uniform(1000) < t->cfg.test_loss_permille) {
            ok = false;   /* simulated PUB/SUB loss: not counted, as the real one is not seen either */
        } else if (ok) {
            struct tp_route r = { .sock = sock, .can_answer = can_answer };
            if (router) {
                r.rid = zmq_msg_data(&rid);
                r.rid_len = zmq_msg_size(&rid);
            }
            tp_handle(t, &r, zmq_msg_data(frame), zmq_msg_size(frame), false);
        } else if (more_parts) {
            t->tot.frames_in++;
            drop(t, NULL, GOSSIP_DROP_UNEXPECTED, "multi-part message");
        }
        zmq_msg_close(&rid);
        zmq_msg_close(&msg);
    }
}

int tp_on_sub(zloop_t *loop, zsock_t *sock, void *arg)
{
    (void)loop;
    struct gossip_transport *t = tp_live(arg);
    if (t)
        read_burst(t, TP_RD_SUB, sock, false, false);
    return 0;
}

int tp_on_router(zloop_t *loop, zsock_t *sock, void *arg)
{
    (void)loop;
    struct gossip_transport *t = tp_live(arg);
    if (t)
        read_burst(t, TP_RD_ROUTER, sock, true, true);
    return 0;
}

int tp_on_dealer(zloop_t *loop, zsock_t *sock, void *arg)
{
    (void)loop;
    struct gossip_transport *t = tp_live(arg);
    if (t)
        read_burst(t, TP_RD_DEALER, sock, false, true);
    return 0;
}
