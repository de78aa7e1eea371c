/* throttle_sim.c: an in-memory store of slot sums for the sending limits, so that what-if runs
 * (`sgcluster tune`) and tests decide with exactly the code the policy service uses. */
#include "enforce/throttle.h"
#include "agent/util.h"

#include <czmq.h>
#include <stdlib.h>
#include <string.h>

struct series {
    size_t n, cap;
    struct throttle_cell *c;      /* sorted by start */
};

struct throttle_sim {
    int64_t slot_ms;
    zhashx_t *keys;               /* counter key -> struct series */
};

static void series_free(void **item)
{
    struct series *s = *item;
    if (s) free(s->c);
    free(s);
    *item = NULL;
}

throttle_sim_t *throttle_sim_new(int64_t slot_ms)
{
    if (slot_ms <= 0) return NULL;
    throttle_sim_t *sim = sg_xcalloc(1, sizeof *sim);
    sim->slot_ms = slot_ms;
    sim->keys = zhashx_new();
    if (!sim->keys) sg_oom();
    zhashx_set_destructor(sim->keys, series_free);
    return sim;
}

void throttle_sim_destroy(throttle_sim_t **sp)
{
    if (!sp || !*sp) return;
    zhashx_destroy(&(*sp)->keys);
    free(*sp);
    *sp = NULL;
}

static int64_t slot_of(int64_t t, int64_t w)
{
    int64_t r = t % w;
    if (r < 0) r += w;
    return t - r;
}

static size_t sim_slots(void *arg, const char *key, int64_t lo, int64_t hi, struct throttle_cell *out, size_t max)
{
    throttle_sim_t *sim = arg;
    const struct series *s = zhashx_lookup(sim->keys, key);
    size_t k = 0;
    for (size_t i = 0; s && i < s->n; i++)
        if (s->c[i].start >= lo && s->c[i].start <= hi) {
            if (k == max) {   /* keep the newest */
                memmove(out, out + 1, (max - 1) * sizeof *out);
                k--;
            }
            out[k++] = s->c[i];
        }
    return k;
}

static void sim_add(void *arg, const char *key, uint64_t n, int64_t now_ms)
{
    throttle_sim_t *sim = arg;
    struct series *s = zhashx_lookup(sim->keys, key);
    if (!s) {
        s = sg_xcalloc(1, sizeof *s);
        zhashx_insert(sim->keys, key, s);
    }
    int64_t b = slot_of(now_ms, sim->slot_ms);
    size_t i = s->n;
    while (i > 0 && s->c[i - 1].start > b) i--;
    if (i > 0 && s->c[i - 1].start == b) {
        struct throttle_cell *c = &s->c[i - 1];
        c->n = c->n + n < c->n ? UINT64_MAX : c->n + n;
        return;
    }
    if (s->n == s->cap) {
        s->cap = s->cap ? 2 * s->cap : 8;
        s->c = sg_xrealloc(s->c, s->cap * sizeof *s->c);
    }
    memmove(s->c + i + 1, s->c + i, (s->n - i) * sizeof *s->c);
    s->c[i] = (struct throttle_cell){b, n};
    s->n++;
}

struct throttle_store throttle_sim_store(throttle_sim_t *sim)
{
    return (struct throttle_store){.slot_ms = sim->slot_ms, .slots = sim_slots, .add = sim_add, .arg = sim};
}

enum throttle_tier throttle_sim_feed(throttle_sim_t *sim, const struct throttle_config *c, int64_t t_ms,
                                     const struct throttle_input *in, bool counts, struct throttle_decision *out)
{
    struct throttle_decision d;
    struct throttle_store st = throttle_sim_store(sim);
    enum throttle_tier t = throttle_check(c, in, t_ms, &st, out ? out : &d);
    if (counts) throttle_commit(c, in, t, t_ms, &st);
    return t;
}
