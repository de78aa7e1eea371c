/* sketch.c: distinct counting: an exact sorted set of item hashes up to a cap, then HyperLogLog. */
#include "gossip/sketch.h"

#include <math.h>
#include <sodium.h>
#include <stdlib.h>
#include <string.h>

#include "agent/util.h"

#define HLL_RANK_MAX (64 - GOSSIP_SKETCH_HLL_P + 1)

struct gossip_sketch {
    uint16_t n;          /* exact mode: number of hashes */
    uint16_t cap;        /* exact mode: allocated slots */
    bool hll;
    uint64_t *hashes;    /* exact mode, sorted ascending, distinct */
    uint8_t *reg;        /* HLL mode: GOSSIP_SKETCH_HLL_M registers */
};

/* Fixed key: every node must hash an item to the same value, and the key is no secret
 * (an attacker choosing items to collide gains at most an undercount of one). */
static const unsigned char sketch_key[crypto_shorthash_KEYBYTES] = "sgcluster-hll-k1";

uint64_t gossip_sketch_hash(const void *item, size_t len)
{
    unsigned char out[crypto_shorthash_BYTES];
    crypto_shorthash(out, item, len, sketch_key);
    uint64_t v;
    memcpy(&v, out, sizeof v);
    return v;
}

struct gossip_sketch *gossip_sketch_new(void)
{
    return sg_xcalloc(1, sizeof(struct gossip_sketch));
}

struct gossip_sketch *gossip_sketch_dup(const struct gossip_sketch *s)
{
    struct gossip_sketch *d = gossip_sketch_new();
    d->hll = s->hll;
    if (s->hll) {
        d->reg = sg_xmalloc(GOSSIP_SKETCH_HLL_M);
        memcpy(d->reg, s->reg, GOSSIP_SKETCH_HLL_M);
    } else if (s->n) {
        d->n = d->cap = s->n;
        d->hashes = sg_xmalloc(s->n * sizeof *d->hashes);
        memcpy(d->hashes, s->hashes, s->n * sizeof *d->hashes);
    }
    return d;
}

void gossip_sketch_destroy(struct gossip_sketch **ps)
{
    if (!ps || !*ps) return;
    free((*ps)->hashes);
    free((*ps)->reg);
    free(*ps);
    *ps = NULL;
}

static bool hll_add(uint8_t *reg, uint64_t h)
{
    uint32_t idx = (uint32_t)(h >> (64 - GOSSIP_SKETCH_HLL_P));
    uint64_t w = h << GOSSIP_SKETCH_HLL_P;
    uint8_t rank = w ? (uint8_t)(__builtin_clzll(w) + 1) : HLL_RANK_MAX;
    if (rank > HLL_RANK_MAX) rank = HLL_RANK_MAX;
    if (reg[idx] >= rank) return false;
    reg[idx] = rank;
    return true;
}

/* Past the cap the set becomes registers; the same set of hashes always gives the same registers. */
static void to_hll(struct gossip_sketch *s)
{
    s->reg = sg_xcalloc(GOSSIP_SKETCH_HLL_M, 1);
    for (uint16_t i = 0; i < s->n; i++) hll_add(s->reg, s->hashes[i]);
    free(s->hashes);
    s->hashes = NULL;
    s->n = s->cap = 0;
    s->hll = true;
}

bool gossip_sketch_add_hash(struct gossip_sketch *s, uint64_t h)
{
    if (s->hll) return hll_add(s->reg, h);
    size_t lo = 0, hi = s->n;
    while (lo < hi) {
        size_t mid = (lo + hi) / 2;
        if (s->hashes[mid] < h) lo = mid + 1;
        else hi = mid;
    }
    if (lo < s->n && s->hashes[lo] == h) return false;
    if (s->n == GOSSIP_SKETCH_EXACT_MAX) {
        to_hll(s);
        hll_add(s->reg, h);
        return true;
    }
    if (s->n == s->cap) {
        s->cap = s->cap ? (uint16_t)(s->cap * 2) : 4;
        if (s->cap > GOSSIP_SKETCH_EXACT_MAX) s->cap = GOSSIP_SKETCH_EXACT_MAX;
        s->hashes = sg_xrealloc(s->hashes, s->cap * sizeof *s->hashes);
    }
    memmove(s->hashes + lo + 1, s->hashes + lo, (s->n - lo) * sizeof *s->hashes);
    s->hashes[lo] = h;
    s->n++;
    return true;
}

bool gossip_sketch_add(struct gossip_sketch *s, const void *item, size_t len)
{
    return gossip_sketch_add_hash(s, gossip_sketch_hash(item, len));
}

bool gossip_sketch_merge(struct gossip_sketch *dst, const struct gossip_sketch *src)
{
    bool changed = false;
    if (!src->hll) {
        for (uint16_t i = 0; i < src->n; i++) changed |= gossip_sketch_add_hash(dst, src->hashes[i]);
        return changed;
    }
    if (!dst->hll) {
        to_hll(dst);
        changed = true;
    }
    for (uint32_t i = 0; i < GOSSIP_SKETCH_HLL_M; i++)
        if (src->reg[i] > dst->reg[i]) {
            dst->reg[i] = src->reg[i];
            changed = true;
        }
    return changed;
}

/* Flajolet et al.: harmonic mean of 2^-register, with linear counting while registers are empty. */
uint64_t gossip_sketch_count(const struct gossip_sketch *s)
{
    if (!s->hll) return s->n;
    const double m = GOSSIP_SKETCH_HLL_M;
    double sum = 0;
    unsigned zeros = 0;
    for (uint32_t i = 0; i < GOSSIP_SKETCH_HLL_M; i++) {
        sum += ldexp(1.0, -(int)s->reg[i]);
        if (!s->reg[i]) zeros++;
    }
    double alpha = 0.7213 / (1.0 + 1.079 / m);
    double e = alpha * m * m / sum;
    if (e <= 2.5 * m && zeros) e = m * log(m / zeros);
    return (uint64_t)(e + 0.5);
}

bool gossip_sketch_equal(const struct gossip_sketch *a, const struct gossip_sketch *b)
{
    if (a->hll != b->hll) return false;
    if (a->hll) return memcmp(a->reg, b->reg, GOSSIP_SKETCH_HLL_M) == 0;
    return a->n == b->n && (a->n == 0 || memcmp(a->hashes, b->hashes, a->n * sizeof *a->hashes) == 0);
}

size_t gossip_sketch_mem(const struct gossip_sketch *s)
{
    return sizeof *s + (s->hll ? GOSSIP_SKETCH_HLL_M : s->cap * sizeof(uint64_t));
}

const uint64_t *gossip_sketch_hashes(const struct gossip_sketch *s, size_t *n)
{
    *n = s->hll ? 0 : s->n;
    return s->hll ? NULL : s->hashes;
}

const uint8_t *gossip_sketch_registers(const struct gossip_sketch *s)
{
    return s->hll ? s->reg : NULL;
}

struct gossip_sketch *gossip_sketch_from_hashes(const uint64_t *h, size_t n)
{
    if (n > GOSSIP_SKETCH_EXACT_MAX) return NULL;
    struct gossip_sketch *s = gossip_sketch_new();
    for (size_t i = 0; i < n; i++) gossip_sketch_add_hash(s, h[i]);
    return s;
}

struct gossip_sketch *gossip_sketch_from_registers(const uint8_t *reg, size_t len)
{
    if (len != GOSSIP_SKETCH_HLL_M) return NULL;
    for (size_t i = 0; i < len; i++)
        if (reg[i] > HLL_RANK_MAX) return NULL;
    struct gossip_sketch *s = gossip_sketch_new();
    s->hll = true;
    s->reg = sg_xmalloc(GOSSIP_SKETCH_HLL_M);
    memcpy(s->reg, reg, GOSSIP_SKETCH_HLL_M);
    return s;
}
