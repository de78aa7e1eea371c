/* transport_sync.c: anti-entropy between two nodes: partition digests, and the entries of the
 * partitions that differ, sent a few frames per loop turn so a large state does not stall the loop. */
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
        for (int b = 0; b < 8; b++)
            bin[i * 8 + b] = (uint8_t)(dg[i] >> (56 - 8 * b));
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
        int more = j->mask ? gossip_state_export(t->st, j->mask, &j->cursor, &t->w,
                                                 TP_SYNC_FRAME_BYTES - GOSSIP_WIRE_OVERHEAD)
                           : 0;
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
            /* a request is answered with our digest after the data: the asker then sends what we lack */
            if (j->digest_after && tp_send_digest(t, &r, j->p, 1, 0, 0, j->digest) < 0)
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

/* Queues an answer: our entries of mask, then our digest when digest_after. A small one goes out at
 * once; the rest a few frames per loop turn. -1 when too many answers are in progress. */
static int export_start(struct gossip_transport *t, const struct tp_route *r, struct gossip_peer *p, uint64_t mask,
                        bool digest_after, const uint64_t *digest)
{
    if (t->n_jobs == TP_EXPORT_JOBS || r->rid_len > sizeof t->jobs[0].rid) {
        sg_log(SG_LOG_INFO, "transport: sync from %s not answered: %zu answers in progress", p->st.name, t->n_jobs);
        return -1;
    }
    struct tp_export *j = &t->jobs[t->n_jobs];
    memset(j, 0, sizeof *j);
    j->sock = r->sock;
    j->has_rid = r->rid != NULL;
    if (r->rid) {
        memcpy(j->rid, r->rid, r->rid_len);
        j->rid_len = r->rid_len;
    }
    j->p = p;
    j->mask = mask;
    j->digest_after = digest_after;
    if (digest)
        memcpy(j->digest, digest, sizeof j->digest);
    if (job_step(t, j, TP_EXPORT_FRAMES_PER_TURN) != 1)
        return 0;
    t->n_jobs++;
    if (t->export_timer == -1)
        t->export_timer = zloop_timer(t->loop, 1, 0, on_export, t->handle);
    return 0;
}

/* Role 0 (a request): send the partitions that differ, then our digest as role 1. Role 1 (the answer
 * to ours; its data came before it on the same connection): send what still differs, done. Our
 * digest is computed once per exchange: a partition that changes meanwhile is only sent again. */
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
        export_start(t, r, p, mask, true, mine);
        return;
    }
    if (mask)
        export_start(t, r, p, mask, false, NULL);
    /* an answer that comes after our timeout still completes a sync: we hold what p held */
    if (t->sync_peer == p)
        t->sync_peer = NULL;
    t->tot.syncs_completed++;
    if (!t->tot.synced)
        sg_log(SG_LOG_INFO, "transport: first sync complete (with %s, %d partitions differed)", p->st.name,
               __builtin_popcountll(mask));
    t->tot.synced = true;
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

