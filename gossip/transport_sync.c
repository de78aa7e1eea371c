/* transport_sync.c: anti-entropy between two nodes: partition digests, then the leaf sums of the
 * partitions that differ, then the entries of the leaves that differ, sent a few frames per loop turn
 * so a large state does not stall the loop. */
#include "gossip/transport_int.h"

#include <sodium.h>
#include <stdlib.h>
#include <string.h>

#include "agent/util.h"

int tp_send_digest(struct gossip_transport *t, const struct tp_route *r, struct gossip_peer *p, int role,
                   uint32_t repair_epoch, uint64_t repair_through, const uint64_t *dg)
{
    uint64_t mine[GOSSIP_PARTITIONS];
    uint8_t bin[GOSSIP_PARTITIONS * 8];
    if (!dg) {
        gossip_state_digest(t->st, mine);
        dg = mine;
    }
    for (size_t i = 0; i < GOSSIP_PARTITIONS; i++)
        gossip_wire_put_be64(bin + i * 8, dg[i]);
    msgpack_sbuffer sb;
    msgpack_packer pk;
    msgpack_sbuffer_init(&sb);
    msgpack_packer_init(&pk, &sb, msgpack_sbuffer_write);
    msgpack_pack_array(&pk, 5);
    msgpack_pack_int(&pk, role);
    msgpack_pack_uint32(&pk, repair_epoch);
    msgpack_pack_uint64(&pk, repair_through);
    msgpack_pack_bin(&pk, sizeof bin);
    msgpack_pack_bin_body(&pk, bin, sizeof bin);
    msgpack_pack_uint64(&pk, p->st.origin);   /* the recipient: signed, so it cannot be replayed elsewhere */
    uint8_t *frame;
    size_t len;
    int rc = -1;
    if (tp_frame(t, GOSSIP_FRAME_SYNC_DIGEST, 0, (const uint8_t *)sb.data, sb.size, &frame, &len) == 0) {
        rc = tp_send_route(t, r, p, frame, len);
        free(frame);
    }
    msgpack_sbuffer_destroy(&sb);
    return rc;
}

/* Sends a SYNC_LEAVES body (built in t->w, which the caller is not using). */
static int send_leaves(struct gossip_transport *t, const struct tp_route *r, struct gossip_peer *p, uint8_t role,
                       uint64_t mask, const uint8_t *bin, size_t bin_len)
{
    struct gossip_sync_leaves m = { .role = role, .recipient = p->st.origin, .mask = mask, .bin = bin,
                                    .bin_len = bin_len };
    if (gossip_wire_sync_leaves_encode(&m, &t->w) < 0)
        return -1;
    uint8_t *frame;
    size_t len;
    int rc = -1;
    if (tp_frame(t, GOSSIP_FRAME_SYNC_LEAVES, 0, (const uint8_t *)t->w.buf.data, t->w.buf.size, &frame, &len) == 0) {
        rc = tp_send_route(t, r, p, frame, len);
        free(frame);
    }
    gossip_writer_reset(&t->w);
    return rc;
}

static void route_keep(struct tp_kept_route *k, const struct tp_route *r)
{
    memset(k, 0, sizeof *k);
    k->sock = r->sock;
    k->has_rid = r->rid != NULL;
    if (r->rid) {
        memcpy(k->rid, r->rid, r->rid_len);
        k->rid_len = r->rid_len;
    }
}

static struct tp_route route_of(const struct tp_kept_route *k)
{
    return (struct tp_route){ .sock = k->sock, .rid = k->has_rid ? k->rid : NULL, .rid_len = k->rid_len,
                              .can_answer = true };
}

/* Sends up to max frames of job j. Returns 1 while more remains, 0 when done, -1 when a send failed
 * (the peer's queue is full or it left: the rest is for the next sync). */
static int job_step(struct gossip_transport *t, struct tp_export *j, int max)
{
    struct tp_route r = route_of(&j->route);
    for (int n = 0; n < max; n++) {
        gossip_writer_reset(&t->w);
        int more = gossip_state_export_leaves(t->st, j->leaves, &j->cursor, &t->w,
                                              TP_SYNC_FRAME_BYTES - GOSSIP_WIRE_OVERHEAD);
        if (t->w.entries > 0) {
            uint8_t *frame;
            size_t len;
            if (tp_frame(t, GOSSIP_FRAME_SYNC_DATA, 0, (const uint8_t *)t->w.buf.data, t->w.buf.size, &frame,
                         &len) < 0)
                return -1;
            int rc = tp_send_route(t, &r, j->p, frame, len);
            free(frame);
            if (rc < 0)
                return -1;
        }
        if (!more) {
            /* The trailer goes last on the same route, so the peer reads it after every entry, however
             * the entries are spread over its loop turns: our digest tells the asker the exchange is
             * over (it holds what we hold); our pull comes after our entries, so the answerer has
             * merged them before it answers, and its digest then stands for both sides. */
            if (j->then == TP_THEN_DIGEST && tp_send_digest(t, &r, j->p, 1, 0, 0, NULL) < 0)
                return -1;
            if (j->then == TP_THEN_PULL) {
                if (send_leaves(t, &r, j->p, 1, 0, j->pull, sizeof j->pull) < 0)
                    return -1;
                if (t->sync_peer == j->p)
                    t->sync_sent_mono = sg_mono_ms();   /* the wait for the answer starts now */
            }
            return 0;
        }
    }
    return 1;
}

static int on_export(zloop_t *loop, int timer_id, void *arg)
{
    (void)loop;
    (void)timer_id;
    struct gossip_transport *t = tp_live(arg);
    if (!t)
        return 0;
    size_t i = 0;
    while (i < t->n_jobs) {
        if (job_step(t, &t->jobs[i], TP_EXPORT_FRAMES_PER_TURN) == 1) {
            i++;
            continue;
        }
        t->jobs[i] = t->jobs[--t->n_jobs];
    }
    if (t->n_jobs == 0) {
        zloop_timer_end(t->loop, t->export_timer);
        t->export_timer = -1;
    }
    return 0;
}

/* Room for one more answer to p: TP_EXPORT_JOBS in all, TP_EXPORT_JOBS_PER_PEER to one peer (a
 * peer that asks again and again, hostile or confused, cannot take the others' turn). Counted. */
static bool job_room(struct gossip_transport *t, const struct tp_route *r, struct gossip_peer *p)
{
    size_t mine = 0;
    for (size_t i = 0; i < t->n_jobs; i++)
        mine += t->jobs[i].p == p;
    if (t->n_jobs < TP_EXPORT_JOBS && mine < TP_EXPORT_JOBS_PER_PEER && r->rid_len <= sizeof t->jobs[0].route.rid)
        return true;
    t->tot.syncs_refused++;
    uint64_t n = t->tot.syncs_refused;
    if ((n & (n - 1)) == 0)
        sg_log(SG_LOG_INFO, "transport: sync from %s not answered: %zu answers in progress, %zu to it (%llu so far)",
               p->st.name, t->n_jobs, mine, (unsigned long long)n);
    return false;
}

/* Queues an export: our entries of the leaves, then the trailer (pull: the leaves we pull). A small one
 * goes out at once; the rest a few frames per loop turn. -1 when there is no room (job_room). */
static int export_start(struct gossip_transport *t, const struct tp_route *r, struct gossip_peer *p,
                        const uint8_t leaves[GOSSIP_SYNC_LEAVES / 8], enum tp_trailer then, const uint8_t *pull)
{
    if (!job_room(t, r, p))
        return -1;
    struct tp_export *j = &t->jobs[t->n_jobs];
    memset(j, 0, sizeof *j);
    route_keep(&j->route, r);
    j->p = p;
    memcpy(j->leaves, leaves, sizeof j->leaves);
    j->then = then;
    if (pull)
        memcpy(j->pull, pull, sizeof j->pull);
    if (job_step(t, j, TP_EXPORT_FRAMES_PER_TURN) != 1)
        return 0;
    t->n_jobs++;
    if (t->export_timer == -1)
        t->export_timer = zloop_timer(t->loop, 1, 0, on_export, t->handle);
    return 0;
}

/* Whether p's request must wait for the end of our own exchange with p. Once we have pulled, p's
 * answer is on its way (queued in ZeroMQ, read a few messages per loop turn): leaf sums taken now would
 * make p send those entries again. Before we have pulled, the two requests crossed: the node with the
 * higher origin waits and the other answers, so that both do not wait for each other. */
static bool must_hold(const struct gossip_transport *t, const struct gossip_peer *p)
{
    return t->sync_peer == p && (t->sync_pulled || t->cfg.self->origin > p->st.origin);
}

static void hold(struct gossip_transport *t, const struct tp_route *r, struct gossip_peer *p, uint32_t repair_epoch,
                 uint64_t repair_through, const uint64_t theirs[GOSSIP_PARTITIONS])
{
    struct tp_held *h = &t->held;   /* one exchange in flight, so one request to hold: a newer one replaces it */
    if (r->rid && r->rid_len > sizeof h->route.rid)
        return;
    route_keep(&h->route, r);
    h->p = p;
    h->repair_epoch = repair_epoch;
    h->repair_through = repair_through;
    memcpy(h->digests, theirs, sizeof h->digests);
}

static struct tp_asker *asker_of(struct gossip_transport *t, const struct gossip_peer *p)
{
    for (size_t i = 0; i < TP_EXPORT_JOBS; i++)
        if (t->askers[i].p == p)
            return &t->askers[i];
    return NULL;
}

/* p's exchange is under way (we sent it our leaf sums; its entries, then its pull, are to come). */
static void asker_add(struct gossip_transport *t, struct gossip_peer *p)
{
    struct tp_asker *a = asker_of(t, p);
    if (!a) {
        a = &t->askers[0];   /* a free slot, else the one heard of longest ago */
        for (size_t i = 1; i < TP_EXPORT_JOBS && a->p; i++)
            if (!t->askers[i].p || t->askers[i].last_mono < a->last_mono)
                a = &t->askers[i];
    }
    a->p = p;
    a->last_mono = sg_mono_ms();
}

static bool asker_busy(struct gossip_transport *t, const struct gossip_peer *p)
{
    const struct tp_asker *a = asker_of(t, p);
    return a && sg_mono_ms() - a->last_mono <= TP_SYNC_TIMEOUT_MS;
}

void tp_sync_on_data(struct gossip_transport *t, struct gossip_peer *p)
{
    if (p == t->sync_peer)
        t->sync_sent_mono = p->last_msg_mono;   /* a large answer is under way: no timeout */
    struct tp_asker *a = asker_of(t, p);
    if (a)
        a->last_mono = p->last_msg_mono;        /* its entries are still coming */
}

void tp_sync_end(struct gossip_transport *t)
{
    t->sync_peer = NULL;   /* a late answer, or another exchange's close, is not ours to back off on */
    t->sync_pulled = false;
    if (!t->held.p)
        return;
    struct tp_held h = t->held;
    t->held.p = NULL;
    struct tp_route r = route_of(&h.route);
    tp_sync_on_digest(t, &r, h.p, 0, h.repair_epoch, h.repair_through, h.digests);
}

/* The exchange, in two levels so that only the leaves that differ travel (docs/state-and-wire.md):
 *   A -> B  SYNC_DIGEST role 0: A's 64 partition sums
 *   B -> A  SYNC_LEAVES role 0: B's 256 leaf sums of each partition that differs (none differ:
 *           SYNC_DIGEST role 1 at once, the exchange is over)
 *   A -> B  A's entries of the leaves that differ, then SYNC_LEAVES role 1: those leaves (a pull)
 *   B -> A  B's entries of those leaves, then SYNC_DIGEST role 1: over.
 * Each direction of an exchange is one ZeroMQ connection, read in order however its messages are spread
 * over loop turns; what depends on earlier messages comes after them on the same connection (the pull
 * after A's entries, the digest after B's). Between the two exchanges of a pair of nodes (each asks the
 * other) there is no order: a request is held while our own exchange with its sender is under way
 * (must_hold). The depth is fixed: each side answers each frame with at most one frame and one bounded
 * export. A repair (transport_recv.c) starts it from the B side. */
void tp_sync_on_digest(struct gossip_transport *t, const struct tp_route *r, struct gossip_peer *p, int role,
                       uint32_t repair_epoch, uint64_t repair_through, const uint64_t theirs[GOSSIP_PARTITIONS])
{
    if (role == 0 && must_hold(t, p)) {
        hold(t, r, p, repair_epoch, repair_through, theirs);
        return;
    }
    if (role == 0 && asker_busy(t, p)) {
        /* p asks again (its previous request timed out while we were reading its entries): answered
         * now, the leaf sums would miss those entries and p would send them again. Its previous
         * exchange goes on, and it asks again later. */
        t->tot.syncs_refused++;
        return;
    }
    uint64_t mine[GOSSIP_PARTITIONS], mask = 0;
    gossip_state_digest(t->st, mine);
    for (size_t i = 0; i < GOSSIP_PARTITIONS; i++)
        if (theirs[i] != mine[i])
            mask |= 1ULL << i;
    if (role == 0) {
        if (repair_epoch)   /* the origin could not resend: this sync stands for the frames */
            gossip_peer_gaps_covered(p, repair_epoch, repair_through);
        if (!mask) {
            tp_send_digest(t, r, p, 1, 0, 0, mine);
            return;
        }
        uint8_t *bin = sg_xmalloc((size_t)__builtin_popcountll(mask) * GOSSIP_SYNC_LEAF_BYTES);
        size_t n = gossip_state_leaf_sums(t->st, mask, bin);
        if (send_leaves(t, r, p, 0, mask, bin, n) == 0)
            asker_add(t, p);
        free(bin);
        return;
    }
    /* an answer that comes after our timeout still completes a sync: we hold what p held */
    t->tot.syncs_completed++;
    if (!t->tot.synced)
        sg_log(SG_LOG_INFO, "transport: first sync complete (with %s, %d partitions still differ)", p->st.name,
               __builtin_popcountll(mask));
    t->tot.synced = true;
    if (t->sync_peer == p) {
        int64_t now = sg_mono_ms();
        tp_sync_backoff(t, now - t->sync_asked_mono, now);
        tp_sync_end(t);
    }
}

void tp_sync_on_leaves(struct gossip_transport *t, const struct tp_route *r, struct gossip_peer *p,
                       const struct gossip_sync_leaves *m)
{
    if (m->role == 1) {   /* a pull: our entries of those leaves, then the end of the exchange */
        struct tp_asker *a = asker_of(t, p);
        if (a)
            a->p = NULL;   /* its entries are all in */
        export_start(t, r, p, m->bin, TP_THEN_DIGEST, NULL);
        return;
    }
    uint8_t want[GOSSIP_SYNC_PULL_BYTES];
    size_t differ = gossip_state_leaves_differ(t->st, m->mask, m->bin, want);
    t->tot.sync_leaves_pulled += differ;
    if (t->sync_peer == p)
        t->sync_pulled = true;
    /* Ours first, then the pull (see above). When no leaf differs, or there is no room for an export (an
     * answer to p is being sent, which carries our entries of these leaves too), the pull alone. */
    if (!differ || export_start(t, r, p, want, TP_THEN_PULL, want) < 0)
        send_leaves(t, r, p, 1, 0, want, sizeof want);
}

void tp_sync_backoff(struct gossip_transport *t, int64_t took, int64_t now)
{
    int64_t wait = took * TP_SYNC_COST_FACTOR;
    if (wait > TP_SYNC_BACKOFF_MAX_MS)
        wait = TP_SYNC_BACKOFF_MAX_MS;
    if (wait > t->cfg.sync_interval_ms && now + wait > t->next_sync_mono) {
        t->next_sync_mono = now + wait;
        t->tot.syncs_backed_off++;
    }
}

int tp_sync_with(struct gossip_transport *t, struct gossip_peer *p)
{
    struct tp_route r = tp_route_to(p);
    r.quiet = true;   /* not connected (yet) is normal when probing: the caller tries another */
    if (tp_send_digest(t, &r, p, 0, 0, 0, NULL) < 0)
        return -1;
    p->want_sync = false;
    if (t->sync_peer)
        tp_sync_end(t);   /* a sync asked for while one is under way replaces it */
    t->sync_peer = p;
    t->sync_sent_mono = t->sync_asked_mono = sg_mono_ms();
    t->tot.syncs_started++;
    return 0;
}

/* Peers in random order, alive ones first: where a sync is most likely to be answered. */
int gossip_transport_sync_now(struct gossip_transport *t)
{
    size_t n = t->n_configured;
    if (n == 0)
        return -1;
    int64_t now = sg_mono_ms();
    size_t start = randombytes_uniform((uint32_t)n);
    for (int pass = 0; pass < 2; pass++) {
        for (size_t k = 0; k < n; k++) {
            struct gossip_peer *p = t->peers[(start + k) % n];
            bool alive = gossip_peer_status_at(p, now, t->cfg.suspect_ms, t->cfg.dead_ms) == GOSSIP_PEER_ALIVE;
            if (alive == (pass == 0) && tp_sync_with(t, p) == 0)
                return 0;
        }
    }
    return -1;
}

