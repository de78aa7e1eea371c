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

static struct tp_route job_route(const struct tp_export *j)
{
    return (struct tp_route){ .sock = j->sock, .rid = j->has_rid ? j->rid : NULL, .rid_len = j->rid_len,
                              .can_answer = true };
}

/* Sends up to max frames of job j. Returns 1 while more remains, 0 when done, -1 when a send failed
 * (the peer's queue is full or it left: the rest is for the next sync). */
static int job_step(struct gossip_transport *t, struct tp_export *j, int max)
{
    struct tp_route r = job_route(j);
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
            /* a pull is answered with our digest after the data: it tells the asker the exchange is over */
            if (j->digest_after && tp_send_digest(t, &r, j->p, 1, 0, 0, NULL) < 0)
                return -1;
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
    if (t->n_jobs < TP_EXPORT_JOBS && mine < TP_EXPORT_JOBS_PER_PEER && r->rid_len <= sizeof t->jobs[0].rid)
        return true;
    t->tot.syncs_refused++;
    uint64_t n = t->tot.syncs_refused;
    if ((n & (n - 1)) == 0)
        sg_log(SG_LOG_INFO, "transport: sync from %s not answered: %zu answers in progress, %zu to it (%llu so far)",
               p->st.name, t->n_jobs, mine, (unsigned long long)n);
    return false;
}

/* Queues an answer: our entries of the leaves, then our digest when digest_after. A small one goes
 * out at once; the rest a few frames per loop turn. -1 when there is no room (job_room). */
static int export_start(struct gossip_transport *t, const struct tp_route *r, struct gossip_peer *p,
                        const uint8_t leaves[GOSSIP_SYNC_LEAVES / 8], bool digest_after)
{
    if (!job_room(t, r, p))
        return -1;
    struct tp_export *j = &t->jobs[t->n_jobs];
    memset(j, 0, sizeof *j);
    j->sock = r->sock;
    j->has_rid = r->rid != NULL;
    if (r->rid) {
        memcpy(j->rid, r->rid, r->rid_len);
        j->rid_len = r->rid_len;
    }
    j->p = p;
    memcpy(j->leaves, leaves, sizeof j->leaves);
    j->digest_after = digest_after;
    if (job_step(t, j, TP_EXPORT_FRAMES_PER_TURN) != 1)
        return 0;
    t->n_jobs++;
    if (t->export_timer == -1)
        t->export_timer = zloop_timer(t->loop, 1, 0, on_export, t->handle);
    return 0;
}

/* The exchange, in two levels so that only the leaves that differ travel (docs/state-and-wire.md):
 *   A -> B  SYNC_DIGEST role 0: A's 64 partition sums
 *   B -> A  SYNC_LEAVES role 0: B's 256 leaf sums of each partition that differs (none differ:
 *           SYNC_DIGEST role 1 at once, the exchange is over)
 *   A -> B  SYNC_LEAVES role 1: the leaves that differ (a pull), then A's entries of them
 *   B -> A  B's entries of those leaves, then SYNC_DIGEST role 1: over.
 * Nobody keeps state between the steps, and the depth is fixed: each side answers each frame with at
 * most one frame and one bounded export. A repair (transport_recv.c) starts it from the B side. */
void tp_sync_on_digest(struct gossip_transport *t, const struct tp_route *r, struct gossip_peer *p, int role,
                       uint32_t repair_epoch, uint64_t repair_through, const uint64_t theirs[GOSSIP_PARTITIONS])
{
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
        send_leaves(t, r, p, 0, mask, bin, n);
        free(bin);
        return;
    }
    /* an answer that comes after our timeout still completes a sync: we hold what p held */
    if (t->sync_peer == p)
        t->sync_peer = NULL;
    t->tot.syncs_completed++;
    if (!t->tot.synced)
        sg_log(SG_LOG_INFO, "transport: first sync complete (with %s, %d partitions still differ)", p->st.name,
               __builtin_popcountll(mask));
    t->tot.synced = true;
}

void tp_sync_on_leaves(struct gossip_transport *t, const struct tp_route *r, struct gossip_peer *p,
                       const struct gossip_sync_leaves *m)
{
    if (m->role == 1) {   /* a pull: our entries of those leaves, then the end of the exchange */
        export_start(t, r, p, m->bin, true);
        return;
    }
    uint8_t want[GOSSIP_SYNC_PULL_BYTES];
    size_t differ = gossip_state_leaves_differ(t->st, m->mask, m->bin, want);
    t->tot.sync_leaves_pulled += differ;
    /* The pull first, so that both sides send at once; then ours (nothing when no leaf differs). */
    if (send_leaves(t, r, p, 1, 0, want, sizeof want) == 0 && differ)
        export_start(t, r, p, want, false);
}

int tp_sync_with(struct gossip_transport *t, struct gossip_peer *p)
{
    struct tp_route r = tp_route_to(p);
    r.quiet = true;   /* not connected (yet) is normal when probing: the caller tries another */
    if (tp_send_digest(t, &r, p, 0, 0, 0, NULL) < 0)
        return -1;
    p->want_sync = false;
    t->sync_peer = p;
    t->sync_sent_mono = sg_mono_ms();
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

