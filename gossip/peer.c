/* peer.c: per-origin bookkeeping of the transport: sequence gaps, replay stamps, liveness. */
#include "gossip/peer.h"

#include <stdlib.h>
#include <string.h>

#include "agent/util.h"
#include "gossip/hlc.h"

struct gossip_peer *gossip_peer_new(const char *name, const uint8_t pk[GOSSIP_PK_LEN], const char *pub_endpoint,
                                    const char *sync_endpoint)
{
    struct gossip_peer *p = sg_xcalloc(1, sizeof *p);
    snprintf(p->st.name, sizeof p->st.name, "%s", name);
    memcpy(p->pk, pk, GOSSIP_PK_LEN);
    p->st.origin = gossip_origin_of(pk);
    p->st.configured = pub_endpoint != NULL;
    p->st.last_msg_age_ms = -1;
    p->pub_endpoint = pub_endpoint ? sg_xstrdup(pub_endpoint) : NULL;
    p->sync_endpoint = sync_endpoint ? sg_xstrdup(sync_endpoint) : NULL;
    p->last_msg_mono = -1;
    return p;
}

void gossip_peer_destroy(struct gossip_peer **pp)
{
    if (!pp || !*pp)
        return;
    free((*pp)->pub_endpoint);
    free((*pp)->sync_endpoint);
    free(*pp);
    *pp = NULL;
}

/* Records [from, to] as missing. When the table is full the new range is folded into the last one:
 * a few frames that did arrive may be asked for again, which is harmless (merge is idempotent). */
static void gap_add(struct gossip_peer *p, uint64_t from, uint64_t to)
{
    p->st.gaps_seen += to - from + 1;
    if (p->n_gaps == GOSSIP_PEER_MAX_GAPS) {
        struct gossip_gap *g = &p->gaps[p->n_gaps - 1];
        g->to = to;
        g->asked_mono = 0;
        g->tries = 0;
        return;
    }
    p->gaps[p->n_gaps++] = (struct gossip_gap){ .from = from, .to = to };
}

static void gap_remove(struct gossip_peer *p, size_t i)
{
    memmove(&p->gaps[i], &p->gaps[i + 1], (p->n_gaps - i - 1) * sizeof p->gaps[0]);
    p->n_gaps--;
}

/* seq arrived late: take it out of the gap that holds it. Returns false when no gap holds it. */
static bool gap_fill(struct gossip_peer *p, uint64_t seq)
{
    for (size_t i = 0; i < p->n_gaps; i++) {
        struct gossip_gap *g = &p->gaps[i];
        if (seq < g->from || seq > g->to)
            continue;
        if (g->from == g->to) {
            gap_remove(p, i);
        } else if (seq == g->from) {
            g->from++;
        } else if (seq == g->to) {
            g->to--;
        } else if (p->n_gaps < GOSSIP_PEER_MAX_GAPS) {
            /* split in two; both halves keep the request time so they are not asked again at once */
            memmove(&p->gaps[i + 2], &p->gaps[i + 1], (p->n_gaps - i - 1) * sizeof p->gaps[0]);
            p->gaps[i + 1] = *g;
            p->gaps[i + 1].from = seq + 1;
            g->to = seq - 1;
            p->n_gaps++;
        }
        /* else: no room to split; the range stays and the frame will simply be accepted again */
        p->st.gaps_repaired++;
        return true;
    }
    return false;
}

static void advance(struct gossip_peer *p, uint64_t seq)
{
    p->next_seq = seq + 1;
    p->st.last_seq = seq;
}

static void epoch_reset(struct gossip_peer *p, uint32_t epoch)
{
    for (size_t i = 0; i < p->n_gaps; i++)
        p->st.gaps_abandoned += p->gaps[i].to - p->gaps[i].from + 1;
    p->n_gaps = 0;
    p->st.epoch = epoch;
    advance(p, 0);
}

/* What DELTAs and heartbeats share: the first word from an origin is adopted (no history to demand:
 * the first sync brings it), an older epoch is refused, a newer one (a restart) resets the tracking.
 * Returns 1 when seq was adopted, -1 for an older epoch, 0 to go on. */
static int epoch_step(struct gossip_peer *p, uint32_t epoch, uint64_t seq)
{
    if (p->st.epoch == 0 || p->next_seq == 0) {
        p->st.epoch = epoch;
        advance(p, seq);
        return 1;
    }
    if (epoch < p->st.epoch)
        return -1;
    if (epoch > p->st.epoch)
        epoch_reset(p, epoch);
    return 0;
}

enum gossip_seq_verdict gossip_peer_seq_check(struct gossip_peer *p, uint32_t epoch, uint64_t seq)
{
    if (seq == 0)
        return GOSSIP_SEQ_REPLAY;   /* DELTA seqs start at 1; 0 never comes from a sane origin */
    int e = epoch_step(p, epoch, seq);
    if (e != 0)
        return e > 0 ? GOSSIP_SEQ_OK : GOSSIP_SEQ_REPLAY;
    if (seq >= p->next_seq) {
        bool gap = seq > p->next_seq;
        if (gap)
            gap_add(p, p->next_seq, seq - 1);
        advance(p, seq);
        return gap ? GOSSIP_SEQ_GAP : GOSSIP_SEQ_OK;
    }
    return gap_fill(p, seq) ? GOSSIP_SEQ_REPAIRED : GOSSIP_SEQ_REPLAY;
}

bool gossip_peer_announce(struct gossip_peer *p, uint32_t epoch, uint64_t last_seq)
{
    if (epoch_step(p, epoch, last_seq) != 0 || last_seq < p->next_seq)
        return false;
    gap_add(p, p->next_seq, last_seq);
    advance(p, last_seq);
    return true;
}

void gossip_peer_gaps_covered(struct gossip_peer *p, uint32_t epoch, uint64_t through)
{
    if (epoch != p->st.epoch)
        return;
    size_t i = 0;
    while (i < p->n_gaps) {
        struct gossip_gap *g = &p->gaps[i];
        if (g->from > through) {
            i++;
            continue;
        }
        uint64_t end = g->to <= through ? g->to : through;
        p->st.gaps_repaired += end - g->from + 1;
        if (g->to <= through) {
            gap_remove(p, i);
        } else {
            g->from = through + 1;
            i++;
        }
    }
}

void gossip_peer_gap_abandon(struct gossip_peer *p, size_t i)
{
    if (i >= p->n_gaps)
        return;
    p->st.gaps_abandoned += p->gaps[i].to - p->gaps[i].from + 1;
    gap_remove(p, i);
}

bool gossip_peer_stamp_fresh(struct gossip_peer *p, enum gossip_channel ch, uint32_t epoch, uint64_t hlc,
                             int64_t window_ms)
{
    struct gossip_stamps *w = &p->stamps[ch];
    if (epoch < w->epoch)
        return false;
    if (epoch > w->epoch) {
        w->epoch = epoch;
        w->n_recent = 0;
        w->newest = 0;
    }
    uint64_t window = (uint64_t)window_ms << 16;
    if (w->newest > window && hlc < w->newest - window)
        return false;
    size_t min_i = 0;
    for (size_t i = 0; i < w->n_recent; i++) {
        if (w->recent[i] == hlc)
            return false;
        if (w->recent[i] < w->recent[min_i])
            min_i = i;
    }
    if (w->n_recent < GOSSIP_PEER_RECENT) {
        w->recent[w->n_recent++] = hlc;
    } else {
        if (hlc < w->recent[min_i])
            return false;   /* it may have been seen and forgotten: refuse rather than risk a replay */
        w->recent[min_i] = hlc;
    }
    if (hlc > w->newest)
        w->newest = hlc;
    return true;
}

enum gossip_peer_status gossip_peer_status_at(const struct gossip_peer *p, int64_t now_mono, int suspect_ms,
                                              int dead_ms)
{
    if (p->last_msg_mono < 0)
        return GOSSIP_PEER_DEAD;
    int64_t age = now_mono - p->last_msg_mono;
    if (age <= suspect_ms)
        return GOSSIP_PEER_ALIVE;
    return age <= dead_ms ? GOSSIP_PEER_SUSPECT : GOSSIP_PEER_DEAD;
}
