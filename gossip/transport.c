/* transport.c: the transport's sockets, CURVE and ZAP, timers (flush, heartbeat, repair and sync
 * scheduling) and the send side. The receive path is in transport_recv.c. */
#include "gossip/transport_int.h"

#include <errno.h>
#include <sodium.h>
#include <stdlib.h>
#include <string.h>

#include "agent/util.h"
#include "gossip/hlc.h"

/* libzmq keeps this option behind its DRAFT API, and czmq's setter is a no-op without it (Debian builds
 * both without drafts); the running libzmq may still honour it, so it is set by number. */
#ifndef ZMQ_ZAP_ENFORCE_DOMAIN
#define ZMQ_ZAP_ENFORCE_DOMAIN 93
#endif
#define TP_ZAP_DOMAIN "sgcluster"
#define TP_ZAP_ENDPOINT "inproc://zeromq.zap.01"
#define TP_TICK_MS 50

void gossip_transport_config_default(struct gossip_transport_config *cfg)
{
    memset(cfg, 0, sizeof *cfg);
    cfg->flush_delay_ms = 5;
    cfg->frame_budget = 5000;
    cfg->recv_budget_us = 5000;
    cfg->recv_burst = TP_RECV_BURST;
    cfg->max_frame_bytes = 64 * 1024;
    cfg->heartbeat_ms = 1000;
    cfg->suspect_ms = 3000;
    cfg->dead_ms = 10000;
    cfg->sync_interval_ms = 10000;
    cfg->first_sync_ms = 200;
    cfg->repair_keep_frames = 4096;
    cfg->repair_keep_bytes = 16u << 20;
    cfg->hwm = 20000;
}

int64_t tp_now(const struct gossip_transport *t)
{
    return sg_now_ms() + t->cfg.clock_offset_ms;
}

int tp_frame(struct gossip_transport *t, uint8_t type, uint64_t seq, const uint8_t *body, size_t len,
             uint8_t **out, size_t *out_len)
{
    struct gossip_frame_header h = {
        .type = type,
        .origin = t->cfg.self->origin,
        .epoch = gossip_state_epoch(t->st),
        .seq = seq,
        .hlc = gossip_hlc_now(gossip_state_hlc(t->st), tp_now(t)),
    };
    return gossip_wire_frame_encode(&h, body, len, t->cfg.self, out, out_len);
}

void tp_count_drop(struct gossip_transport *t, struct gossip_peer *p, enum gossip_drop_reason r)
{
    t->tot.drops[r]++;
    if (p)
        p->st.drops[r]++;
}

struct tp_route tp_route_to(const struct gossip_peer *p)
{
    return (struct tp_route){ .sock = p->dealer, .can_answer = p->dealer != NULL };
}

int tp_send_route(struct gossip_transport *t, const struct tp_route *r, struct gossip_peer *p, const uint8_t *data,
                  size_t len)
{
    if (!r->sock || !r->can_answer)
        goto fail;
    void *s = zsock_resolve(r->sock);
    if (r->rid && zmq_send(s, r->rid, r->rid_len, ZMQ_SNDMORE | ZMQ_DONTWAIT) < 0)
        goto fail;
    if (zmq_send(s, data, len, ZMQ_DONTWAIT) < 0)
        goto fail;
    t->tot.frames_out++;
    t->tot.bytes_out += len;
    if (p) {
        p->st.frames_out++;
        p->st.bytes_out += len;
    }
    return 0;
fail:
    if (!r->quiet)
        tp_count_drop(t, p, GOSSIP_DROP_SEND_FAILED);
    return -1;
}

struct gossip_peer *tp_peer_by_origin(const struct gossip_transport *t, uint64_t origin)
{
    for (size_t i = 0; i < t->n_peers; i++)
        if (t->peers[i]->st.origin == origin)
            return t->peers[i];
    return NULL;
}

/* ---- frames kept for repair: a ring of consecutive seqs ---- */

static void ring_drop_oldest(struct gossip_transport *t)
{
    struct tp_sent *s = &t->ring[t->ring_head];
    t->ring_bytes -= s->len;
    free(s->data);
    s->data = NULL;
    t->ring_head = (t->ring_head + 1) % t->ring_cap;
    t->ring_n--;
}

/* Takes ownership of data. */
static void ring_push(struct gossip_transport *t, uint64_t seq, uint8_t *data, size_t len)
{
    while (t->ring_n > 0 && (t->ring_n == t->ring_cap || t->ring_bytes + len > t->cfg.repair_keep_bytes))
        ring_drop_oldest(t);
    struct tp_sent *s = &t->ring[(t->ring_head + t->ring_n) % t->ring_cap];
    *s = (struct tp_sent){ .seq = seq, .data = data, .len = len };
    t->ring_n++;
    t->ring_bytes += len;
}

const struct tp_sent *tp_ring_find(const struct gossip_transport *t, uint64_t seq)
{
    if (t->ring_n == 0)
        return NULL;
    uint64_t oldest = t->ring[t->ring_head].seq;
    if (seq < oldest || seq - oldest >= t->ring_n)
        return NULL;
    return &t->ring[(t->ring_head + (seq - oldest)) % t->ring_cap];
}

/* ---- flush, heartbeat, tick ---- */

int tp_publish(struct gossip_transport *t, const uint8_t *data, size_t len)
{
    /* PUB never blocks: at the high-water mark it drops, and the receivers' gap repair covers that */
    if (zmq_send(zsock_resolve(t->pub), data, len, ZMQ_DONTWAIT) < 0) {
        tp_count_drop(t, NULL, GOSSIP_DROP_SEND_FAILED);
        return -1;
    }
    t->tot.frames_out++;
    t->tot.bytes_out += len;
    return 0;
}

/* ---- what this node has caught up with (gossip_transport_set_horizon_fn) ---- */

void gossip_transport_set_horizon_fn(struct gossip_transport *t, gossip_transport_horizon_fn *fn, void *arg)
{
    t->horizon_fn = fn;
    t->horizon_arg = arg;
}

int64_t gossip_transport_input_horizon(const struct gossip_transport *t)
{
    int64_t now = sg_mono_ms(), h = tp_now(t);
    for (size_t i = 0; i < t->n_configured; i++) {
        const struct gossip_peer *p = t->peers[i];
        if (gossip_peer_status_at(p, now, t->cfg.suspect_ms, t->cfg.dead_ms) != GOSSIP_PEER_ALIVE) continue;
        if (p->st.sent_ms < h) h = p->st.sent_ms;
    }
    return h;
}

/* Nothing is said before the first sync: a node just started holds none of what its peers wrote. */
static int64_t tp_seen_now(struct gossip_transport *t)
{
    if (t->n_configured && !t->tot.synced) return 0;
    int64_t in = gossip_transport_input_horizon(t);
    return t->horizon_fn ? t->horizon_fn(in, t->horizon_arg) : in;
}

/* The checkpoints whose entries have all gone out are what we say now, the newest of them. */
static void tp_horizon_resolve(struct gossip_transport *t)
{
    while (t->cp_n && gossip_state_pending_sent(t->st, &t->cps[t->cp_head].m)) {
        t->tot.sent_ms = t->cps[t->cp_head].wall;
        t->tot.seen_ms = t->cps[t->cp_head].seen;
        t->cp_head = (t->cp_head + 1) % TP_CHECKPOINTS;
        t->cp_n--;
    }
}

/* Where publishing stands now: with nothing queued, that is what we say at once; else it is said
 * when what is queued now has gone out (a full ring keeps its newest checkpoint the latest). */
static void tp_horizon_checkpoint(struct gossip_transport *t)
{
    int64_t now = tp_now(t), seen = tp_seen_now(t);
    if (gossip_state_pending(t->st) == 0) {
        t->cp_n = 0;
        t->tot.sent_ms = now;
        t->tot.seen_ms = seen;
        return;
    }
    if (t->cp_n == TP_CHECKPOINTS) t->cp_n--;
    struct tp_checkpoint *c = &t->cps[(t->cp_head + t->cp_n++) % TP_CHECKPOINTS];
    c->wall = now;
    c->seen = seen;
    gossip_state_pending_mark(t->st, &c->m);
}

static int on_flush(zloop_t *loop, int timer_id, void *arg)
{
    (void)loop;
    (void)timer_id;
    struct gossip_transport *t = tp_live(arg);
    if (!t)
        return 0;
    t->flush_timer = -1;
    t->last_flush_mono = sg_mono_ms();
    size_t cap = t->cfg.max_frame_bytes - GOSSIP_WIRE_OVERHEAD;
    int64_t t0 = sg_mono_ns();
    tp_horizon_checkpoint(t);
    for (int frames = 0; frames < TP_FLUSH_FRAMES_PER_TICK && gossip_state_pending(t->st) > 0; frames++) {
        /* the readers' turn budget bounds a burst too: after a catch-up, the ban records learned
         * (relayed, 250,000 of them in bench_catchup) took 64 frames a turn, tens of ms, while the
         * sync answer still being read got 5 ms a turn */
        if (frames && t->cfg.recv_budget_us > 0 && sg_mono_ns() - t0 > (int64_t)t->cfg.recv_budget_us * 1000)
            break;
        gossip_writer_reset(&t->w);
        size_t n = gossip_state_take_delta(t->st, &t->w, cap);
        if (n == 0) {
            sg_log(SG_LOG_WARN, "transport: a pending entry does not fit in %zu bytes; raise max_frame_bytes", cap);
            return 0;
        }
        uint8_t *frame;
        size_t len;
        if (tp_frame(t, GOSSIP_FRAME_DELTA, t->seq + 1, (const uint8_t *)t->w.buf.data, t->w.buf.size, &frame,
                     &len) < 0) {
            sg_log(SG_LOG_ERR, "transport: cannot encode a delta frame of %zu bytes", t->w.buf.size);
            return 0;
        }
        t->seq++;
        tp_publish(t, frame, len);
        ring_push(t, t->seq, frame, len);
        t->tot.deltas_flushed++;
        t->tot.entries_published += n;
    }
    tp_horizon_resolve(t);
    /* more than a burst is pending: come back after the loop has served its sockets */
    if (gossip_state_pending(t->st) > 0)
        t->flush_timer = zloop_timer(t->loop, 1, 1, on_flush, t->handle);
    return 0;
}

void gossip_transport_notify(struct gossip_transport *t)
{
    if (!t || t->flush_timer != -1)
        return;
    /* Paced: the first write after a quiet spell goes out after flush_delay_ms; under load, frames
     * leave at most every flush_interval_ms and carry more entries each. */
    int64_t delay = t->cfg.flush_delay_ms, wait = t->last_flush_mono + t->flush_interval_ms - sg_mono_ms();
    if (t->last_flush_mono && wait > delay)
        delay = wait;
    t->flush_timer = zloop_timer(t->loop, (size_t)delay, 1, on_flush, t->handle);
}

static int on_heartbeat(zloop_t *loop, int timer_id, void *arg)
{
    (void)loop;
    (void)timer_id;
    struct gossip_transport *t = tp_live(arg);
    if (!t)
        return 0;
    msgpack_sbuffer sb;
    msgpack_packer pk;
    msgpack_sbuffer_init(&sb);
    msgpack_packer_init(&pk, &sb, msgpack_sbuffer_write);
    tp_horizon_resolve(t);
    tp_horizon_checkpoint(t);
    msgpack_pack_array(&pk, 3);
    msgpack_pack_int64(&pk, tp_now(t));
    msgpack_pack_int64(&pk, t->tot.sent_ms);
    msgpack_pack_int64(&pk, t->tot.seen_ms);
    uint8_t *frame;
    size_t len;
    if (tp_frame(t, GOSSIP_FRAME_HEARTBEAT, t->seq, (const uint8_t *)sb.data, sb.size, &frame, &len) == 0) {
        tp_publish(t, frame, len);
        free(frame);
    }
    msgpack_sbuffer_destroy(&sb);
    return 0;
}

static int on_tick(zloop_t *loop, int timer_id, void *arg)
{
    (void)loop;
    (void)timer_id;
    struct gossip_transport *t = tp_live(arg);
    if (!t)
        return 0;
    int64_t now = sg_mono_ms();
    for (size_t i = 0; i < t->n_configured; i++)
        tp_request_repairs(t, t->peers[i], now);
    if (t->sync_peer && now - t->sync_sent_mono > TP_SYNC_TIMEOUT_MS) {
        sg_log(SG_LOG_INFO, "transport: sync with %s timed out", t->sync_peer->st.name);
        tp_sync_end(t);
        /* the first sync is tried again at once (with another peer, maybe); a later one at its period:
         * under load its answer may still come, and a new request would only add to the load */
        t->next_sync_mono = t->tot.synced ? now + t->cfg.sync_interval_ms : now;
    }
    /* a peer we just heard of for the first time may hold writes from before our SUB was connected */
    for (size_t i = 0; i < t->n_configured && !t->sync_peer; i++)
        if (t->peers[i]->want_sync)
            tp_sync_with(t, t->peers[i]);
    if (!t->sync_peer && now >= t->next_sync_mono) {
        /* until the first sync is done, retry soon: the node is not complete before it */
        if (gossip_transport_sync_now(t) == 0)
            t->next_sync_mono = now + t->cfg.sync_interval_ms;
        else
            t->next_sync_mono = now + (t->tot.synced ? t->cfg.sync_interval_ms : 500);
    }
    return 0;
}

bool gossip_transport_synced(const struct gossip_transport *t)
{
    return t && t->tot.synced;
}

void gossip_transport_set_merge_cb(struct gossip_transport *t, gossip_transport_merge_cb cb, void *arg)
{
    t->cb = cb;
    t->cb_arg = arg;
}

/* ---- sockets ---- */

static void sock_common(const struct gossip_transport *t, zsock_t *s)
{
    zsock_set_linger(s, 0);
    zsock_set_sndhwm(s, t->cfg.hwm);
    zsock_set_rcvhwm(s, t->cfg.hwm);
    /* a frame over the wire limit is still read (and counted as oversize) up to twice the limit;
     * a peer sending more than that is disconnected by libzmq before we allocate it */
    zsock_set_maxmsgsize(s, 2 * (int)GOSSIP_WIRE_MAX_FRAME);
    zsock_set_reconnect_ivl(s, 100);
    zsock_set_reconnect_ivl_max(s, 1000);
    zsock_set_tcp_keepalive(s, 1);
    zsock_set_tcp_keepalive_idle(s, 30);
    zsock_set_tcp_keepalive_intvl(s, 10);
    /* ZMTP heartbeats notice a dead TCP peer long before keepalive would */
    zsock_set_heartbeat_ivl(s, t->cfg.heartbeat_ms);
    zsock_set_heartbeat_timeout(s, 3 * t->cfg.heartbeat_ms);
    zsock_set_heartbeat_ttl(s, 6 * t->cfg.heartbeat_ms);
}

static int curve_server(struct gossip_transport *t, zsock_t *s)
{
    if (!t->cfg.curve)
        return 0;
    zsock_set_curve_server(s, 1);
    zsock_set_curve_secretkey_bin(s, t->curve_sk);
    zsock_set_zap_domain(s, TP_ZAP_DOMAIN);
    int one = 1;
    if (zmq_setsockopt(zsock_resolve(s), ZMQ_ZAP_ENFORCE_DOMAIN, &one, sizeof one) < 0)
        sg_log(SG_LOG_WARN, "transport: this libzmq refuses ZMQ_ZAP_ENFORCE_DOMAIN (%s); the ZAP handler is "
                            "bound before any socket, so it is consulted anyway", zmq_strerror(errno));
    return 0;
}

static void curve_client(struct gossip_transport *t, zsock_t *s, const struct gossip_peer *p)
{
    if (!t->cfg.curve)
        return;
    zsock_set_curve_publickey_bin(s, t->curve_pk);
    zsock_set_curve_secretkey_bin(s, t->curve_sk);
    zsock_set_curve_serverkey_bin(s, p->curve_pk);
}

/* ZAP: a CURVE client is let in only with the key of a configured peer (or our own). */
static int on_zap(zloop_t *loop, zsock_t *sock, void *arg)
{
    (void)loop;
    struct gossip_transport *t = tp_live(arg);
    if (!t)
        return 0;
    zmsg_t *req = zmsg_recv(sock);
    if (!req)
        return 0;
    char *version = zmsg_popstr(req), *reqid = zmsg_popstr(req), *domain = zmsg_popstr(req);
    char *address = zmsg_popstr(req), *identity = zmsg_popstr(req), *mech = zmsg_popstr(req);
    zframe_t *cred = zmsg_pop(req);
    bool ok = false;
    if (mech && strcmp(mech, "CURVE") == 0 && cred && zframe_size(cred) == 32) {
        if (memcmp(zframe_data(cred), t->curve_pk, 32) == 0)
            ok = true;
        for (size_t i = 0; !ok && i < t->n_configured; i++)
            ok = memcmp(zframe_data(cred), t->peers[i]->curve_pk, 32) == 0;
    }
    if (!ok) {
        /* a removed node, or a stranger: counted with the frames of unknown origin */
        tp_count_drop(t, NULL, GOSSIP_DROP_UNKNOWN_ORIGIN);
        uint64_t n = t->tot.drops[GOSSIP_DROP_UNKNOWN_ORIGIN];
        if ((n & (n - 1)) == 0)
            sg_log(SG_LOG_WARN, "transport: refused a %s connection from %s (key not in the peer list; %llu so far)",
                   mech ? mech : "?", address ? address : "?", (unsigned long long)n);
    }
    zmsg_t *rep = zmsg_new();
    zmsg_addstr(rep, "1.0");
    zmsg_addstr(rep, reqid ? reqid : "");
    zmsg_addstr(rep, ok ? "200" : "400");
    zmsg_addstr(rep, ok ? "OK" : "unknown key");
    zmsg_addstr(rep, "");
    zmsg_addmem(rep, "", 0);
    zmsg_send(&rep, sock);
    free(version), free(reqid), free(domain), free(address), free(identity), free(mech);
    zframe_destroy(&cred);
    zmsg_destroy(&req);
    return 0;
}

static struct gossip_peer *add_configured_peer(struct gossip_transport *t, const struct gossip_transport_peer *cp)
{
    if (!cp->name || !cp->pub_endpoint || !cp->sync_endpoint) {
        sg_log(SG_LOG_ERR, "transport: a peer needs a name, a pub endpoint and a sync endpoint");
        return NULL;
    }
    const struct gossip_peer_key *k = gossip_keyring_find_name(t->kr, cp->name);
    if (!k) {
        sg_log(SG_LOG_ERR, "transport: peer %s has no public key in the keyring", cp->name);
        return NULL;
    }
    if (k->origin == t->cfg.self->origin) {
        sg_log(SG_LOG_ERR, "transport: peer %s has this node's own key", cp->name);
        return NULL;
    }
    if (tp_peer_by_origin(t, k->origin)) {
        sg_log(SG_LOG_ERR, "transport: peer %s is listed twice", cp->name);
        return NULL;
    }
    struct gossip_peer *p = gossip_peer_new(cp->name, k->pk, cp->pub_endpoint, cp->sync_endpoint);
    t->peers[t->n_peers++] = p;
    snprintf(p->st.site, sizeof p->st.site, "%s", cp->site ? cp->site : "");
    p->st.relay = cp->relay;
    p->st.direct = tp_peer_direct(&t->cfg, cp);
    if (t->cfg.curve && crypto_sign_ed25519_pk_to_curve25519(p->curve_pk, k->pk) != 0) {
        sg_log(SG_LOG_ERR, "transport: the key of peer %s has no CURVE form", cp->name);
        return NULL;
    }
    return p;
}

struct gossip_transport *gossip_transport_new(zloop_t *loop, struct gossip_state *st, const struct gossip_keyring *kr,
                                              const struct gossip_transport_config *cfg)
{
    if (!loop || !st || !kr || !cfg || !cfg->self || !cfg->pub_bind || !cfg->sync_bind) {
        sg_log(SG_LOG_ERR, "transport: loop, state, keyring, identity and both bind endpoints are required");
        return NULL;
    }
    struct gossip_transport *t = sg_xcalloc(1, sizeof *t);
    t->loop = loop;
    t->st = st;
    t->kr = kr;
    t->cfg = *cfg;
    t->flush_timer = t->hb_timer = t->tick_timer = t->export_timer = -1;
    gossip_writer_init(&t->w);
    if (!(t->handle = tp_live_add(t))) {
        sg_log(SG_LOG_ERR, "transport: too many transports in this process");
        goto fail;
    }
    t->pub_bind = sg_xstrdup(cfg->pub_bind);
    t->sync_bind = sg_xstrdup(cfg->sync_bind);
    t->cfg.pub_bind = t->pub_bind;
    t->cfg.sync_bind = t->sync_bind;
    t->cfg.peers = NULL;
    t->site = cfg->site && *cfg->site ? sg_xstrdup(cfg->site) : NULL;
    t->cfg.site = t->site;
    t->tot.relay = cfg->relay;
    if (t->cfg.max_frame_bytes < 4096 || t->cfg.max_frame_bytes > GOSSIP_WIRE_MAX_FRAME)
        t->cfg.max_frame_bytes = t->cfg.max_frame_bytes < 4096 ? 4096 : GOSSIP_WIRE_MAX_FRAME;
    if (t->cfg.heartbeat_ms <= 0 || t->cfg.suspect_ms <= 0 || t->cfg.dead_ms < t->cfg.suspect_ms ||
        t->cfg.sync_interval_ms <= 0 || t->cfg.flush_delay_ms < 0 || t->cfg.hwm <= 0 || t->cfg.frame_budget < 0 ||
        t->cfg.recv_burst <= 0) {
        sg_log(SG_LOG_ERR, "transport: bad timings (heartbeat, suspect <= dead, sync interval), hwm, frame budget "
                           "or recv_burst");
        goto fail;
    }
    if (t->cfg.frame_budget > 0) {
        uint64_t ms = ((uint64_t)t->cfg.n_peers + 1) * 1000 / (uint64_t)t->cfg.frame_budget;
        t->flush_interval_ms = ms > TP_FLUSH_INTERVAL_MAX_MS || t->cfg.n_peers > SIZE_MAX / 2000 ? TP_FLUSH_INTERVAL_MAX_MS : (int)ms;
    }
    t->ring_cap = t->cfg.repair_keep_frames ? t->cfg.repair_keep_frames : 1;
    t->ring = sg_xcalloc(t->ring_cap, sizeof *t->ring);
    t->tot.epoch = gossip_state_epoch(st);
    t->seq = cfg->first_seq;
    t->tot.curve = cfg->curve;

    t->cap_peers = cfg->n_peers + 8;
    t->peers = sg_xcalloc(t->cap_peers, sizeof *t->peers);
    for (size_t i = 0; i < cfg->n_peers; i++)
        if (!add_configured_peer(t, &cfg->peers[i]))
            goto fail;
    t->n_configured = t->n_peers;
    t->tot.synced = t->n_configured == 0;   /* alone, it holds all there is */

    if (cfg->curve) {
        if (crypto_sign_ed25519_pk_to_curve25519(t->curve_pk, cfg->self->pk) != 0 ||
            crypto_sign_ed25519_sk_to_curve25519(t->curve_sk, cfg->self->sk) != 0) {
            sg_log(SG_LOG_ERR, "transport: this node's key has no CURVE form");
            goto fail;
        }
        /* the handler must exist before the first CURVE handshake; one per process (libzmq's rule) */
        t->zap = zsock_new(ZMQ_REP);
        if (!t->zap || zsock_bind(t->zap, TP_ZAP_ENDPOINT) < 0) {
            sg_log(SG_LOG_ERR, "transport: cannot bind the ZAP handler (another transport in this process?)");
            goto fail;
        }
        zloop_reader(loop, t->zap, on_zap, t->handle);
    }

    t->pub = zsock_new(ZMQ_PUB);
    t->router = zsock_new(ZMQ_ROUTER);
    t->sub = zsock_new(ZMQ_SUB);
    if (!t->pub || !t->router || !t->sub)
        goto fail;
    sock_common(t, t->pub);
    sock_common(t, t->router);
    sock_common(t, t->sub);
    zsock_set_router_mandatory(t->router, 1);
    curve_server(t, t->pub);
    curve_server(t, t->router);
    if (zsock_bind(t->pub, "%s", t->pub_bind) < 0) {
        sg_log(SG_LOG_ERR, "transport: cannot bind PUB at %s: %s", t->pub_bind, zmq_strerror(errno));
        goto fail;
    }
    if (zsock_bind(t->router, "%s", t->sync_bind) < 0) {
        sg_log(SG_LOG_ERR, "transport: cannot bind ROUTER at %s: %s", t->sync_bind, zmq_strerror(errno));
        goto fail;
    }
    if (t->cfg.relay) {
        /* a relay takes no RELAY frames: the other relays' stay off the WAN (PUB filters by prefix) */
        static const char delta[] = { GOSSIP_FRAME_DELTA, 0 }, heartbeat[] = { GOSSIP_FRAME_HEARTBEAT, 0 };
        zsock_set_subscribe(t->sub, delta);
        zsock_set_subscribe(t->sub, heartbeat);
    } else {
        zsock_set_subscribe(t->sub, "");
    }
    for (size_t i = 0; i < t->n_configured; i++) {
        struct gossip_peer *p = t->peers[i];
        if (!p->st.direct)
            continue;   /* another site's node: its frames come through our site's relay */
        /* CURVE options are taken at connect time, so each connection gets its own server key */
        curve_client(t, t->sub, p);
        if (zsock_connect(t->sub, "%s", p->pub_endpoint) < 0) {
            sg_log(SG_LOG_ERR, "transport: bad endpoint %s for peer %s", p->pub_endpoint, p->st.name);
            goto fail;
        }
        zsock_t *d = zsock_new(ZMQ_DEALER);
        if (!d)
            goto fail;
        p->dealer = d;
        sock_common(t, d);
        zsock_set_immediate(d, 1);   /* a request to a peer that is down fails now instead of queueing */
        curve_client(t, d, p);
        if (zsock_connect(d, "%s", p->sync_endpoint) < 0) {
            sg_log(SG_LOG_ERR, "transport: bad endpoint %s for peer %s", p->sync_endpoint, p->st.name);
            goto fail;
        }
        zloop_reader(loop, d, tp_on_dealer, t->handle);
    }
    zloop_reader(loop, t->sub, tp_on_sub, t->handle);
    zloop_reader(loop, t->router, tp_on_router, t->handle);
    t->hb_timer = zloop_timer(loop, (size_t)t->cfg.heartbeat_ms, 0, on_heartbeat, t->handle);
    t->tick_timer = zloop_timer(loop, TP_TICK_MS, 0, on_tick, t->handle);
    t->next_sync_mono = sg_mono_ms() + t->cfg.first_sync_ms;
    sg_log(SG_LOG_INFO, "transport: epoch %u, PUB %s, ROUTER %s, %zu peers%s%s%s%s", t->tot.epoch, t->pub_bind,
           t->sync_bind, t->n_configured, cfg->curve ? ", CURVE" : "", t->site ? ", site " : "", t->site ? t->site : "",
           cfg->relay ? " (relay)" : "");
    return t;
fail:
    gossip_transport_destroy(&t);
    return NULL;
}

static void sock_close(struct gossip_transport *t, zsock_t **s)
{
    if (!*s)
        return;
    zloop_reader_end(t->loop, *s);
    zsock_destroy(s);
}

void gossip_transport_destroy(struct gossip_transport **pt)
{
    if (!pt || !*pt)
        return;
    struct gossip_transport *t = *pt;
    tp_live_remove(t);   /* a callback zloop still runs for us finds nothing */
    int *timers[] = { &t->flush_timer, &t->hb_timer, &t->tick_timer, &t->export_timer };
    for (size_t i = 0; i < sizeof timers / sizeof timers[0]; i++)
        if (*timers[i] != -1)
            zloop_timer_end(t->loop, *timers[i]);
    sock_close(t, &t->pub);
    sock_close(t, &t->sub);
    sock_close(t, &t->router);
    /* unbind now: a closed socket leaves its inproc name taken until libzmq's reaper gets to it,
     * and a reload creates the next transport at once */
    if (t->zap)
        zsock_unbind(t->zap, TP_ZAP_ENDPOINT);
    sock_close(t, &t->zap);
    for (size_t i = 0; i < t->n_peers; i++) {
        zsock_t *d = t->peers[i]->dealer;
        sock_close(t, &d);
        gossip_peer_destroy(&t->peers[i]);
    }
    free(t->peers);
    while (t->ring && t->ring_n > 0)
        ring_drop_oldest(t);
    free(t->ring);
    gossip_writer_fini(&t->w);
    free(t->pub_bind);
    free(t->sync_bind);
    free(t->site);
    sodium_memzero(t->curve_sk, sizeof t->curve_sk);
    free(t);
    *pt = NULL;
}
