/* state.c: the node's replicated state: tables, windowed counters and distinct sketches, expiry, stats.
 * Bans live in state_ban.c, deltas/sync/snapshots in state_sync.c. */
#include "gossip/state_int.h"

#include <malloc.h>
#include <stdlib.h>
#include <string.h>

#include "agent/util.h"
#include "common/key.h"
#include "common/text.h"

#define EVICT_SAMPLES 8
#define WKEY_CAP_LOG2 0x1f   /* gossip_wkey.fl: log2 of the cells' or buckets' capacity (0 when none) */
#define WKEY_INLINE 0x20     /* a counter key's cells are still the one in its own block */

void gossip_state_config_default(struct gossip_state_config *cfg)
{
    cfg->bucket_ms = 10000;
    cfg->window_max_ms = 3600000;
    cfg->max_keys = 1000000;
    cfg->max_skew_ms = GOSSIP_HLC_DEFAULT_MAX_SKEW_MS;
    cfg->ban_grace_ms = 3600000;
    cfg->long_bucket_ms = 86400000;
    cfg->long_window_ms = 0;
    cfg->throttle_window_ms = 0;
    gossip_record_limits_default(&cfg->limits);
}

static const char *wkey_key(const void *e) { return ((const struct gossip_wkey *)e)->key; }
static const char *bkey_key(const void *e) { return ((const struct gossip_bkey *)e)->rec.key; }
static uint64_t head_hash(const void *e) { return ((const struct gossip_entry_head *)e)->hash; }

struct gossip_state *gossip_state_new(const struct gossip_state_config *cfg, const struct gossip_identity *self,
                                      const struct gossip_keyring *kr, uint32_t epoch)
{
    if (!self || !kr || epoch == 0) return NULL;
    struct gossip_state *st = sg_xcalloc(1, sizeof *st);
    if (cfg) st->cfg = *cfg;
    else gossip_state_config_default(&st->cfg);
    if (st->cfg.bucket_ms <= 0 || st->cfg.window_max_ms < st->cfg.bucket_ms || st->cfg.max_keys == 0 ||
        (st->cfg.long_window_ms > 0 && (st->cfg.long_bucket_ms <= 0 || st->cfg.long_window_ms < st->cfg.long_bucket_ms))) {
        sg_log(SG_LOG_ERR, "gossip: bad state config (bucket %lld ms, window %lld ms, max_keys %zu)",
               (long long)st->cfg.bucket_ms, (long long)st->cfg.window_max_ms, st->cfg.max_keys);
        free(st);
        return NULL;
    }
    if (st->cfg.max_skew_ms <= 0) st->cfg.max_skew_ms = GOSSIP_HLC_DEFAULT_MAX_SKEW_MS;
    if (st->cfg.ban_grace_ms < 0) st->cfg.ban_grace_ms = 0;
    st->self = self;
    st->kr = kr;
    st->epoch = epoch;
    gossip_hlc_init(&st->hlc, st->cfg.max_skew_ms);
    gossip_table_init(&st->counters, wkey_key, head_hash);
    gossip_table_init(&st->sketches, wkey_key, head_hash);
    gossip_table_init(&st->bans, bkey_key, head_hash);
    st->rng = self->origin | 1;
    return st;
}

/* Bytes of a key's block: the fixed part, the key, and for a counter key its first cell. */
static size_t wkey_size(const char *key, bool sketch)
{
    size_t sz = (offsetof(struct gossip_wkey, key) + strlen(key) + 1 + 7) & ~(size_t)7;
    return sketch ? sz : sz + sizeof(struct gossip_cell);
}

_Static_assert(((offsetof(struct gossip_wkey, key) + GOSSIP_KEY_MAX + 1 + 7) / 8 * 8 + sizeof(struct gossip_cell)) / 8 <
                   sizeof(((struct gossip_state *)0)->wslab) / sizeof(struct gossip_slab),
               "a slab for every key size");

static struct gossip_slab *wslab_of(struct gossip_state *st, size_t size)
{
    struct gossip_slab *sl = &st->wslab[size / 8];
    if (!sl->size) gossip_slab_init(sl, size);
    return sl;
}

static uint32_t wkey_cap(const struct gossip_wkey *k) { return k->cells ? 1u << (k->fl & WKEY_CAP_LOG2) : 0; }

static void wkey_set_cap(struct gossip_wkey *k, uint32_t cap)
{
    uint8_t lg = 0;
    while ((1u << lg) < cap) lg++;
    k->fl = (uint8_t)((k->fl & ~WKEY_CAP_LOG2) | lg);
}

static void free_ckey(struct gossip_state *st, struct gossip_wkey *k)
{
    if (!(k->fl & WKEY_INLINE)) free(k->cells);
    gossip_slab_free(wslab_of(st, wkey_size(k->key, false)), k);
}

static void free_skbucket(struct gossip_skbucket *b)
{
    gossip_sketch_destroy(&b->sk);
    free(b->pend);
    b->pend = NULL;
}

static void free_skey(struct gossip_state *st, struct gossip_wkey *k)
{
    for (uint32_t i = 0; i < k->n; i++) free_skbucket(&k->b[i]);
    free(k->b);
    gossip_slab_free(wslab_of(st, wkey_size(k->key, true)), k);
}

void gossip_state_destroy(struct gossip_state **pst)
{
    if (!pst || !*pst) return;
    struct gossip_state *st = *pst;
    for (size_t i = 0; i < st->counters.cap; i++)
        if (st->counters.slots[i]) free_ckey(st, st->counters.slots[i]);
    for (size_t i = 0; i < st->sketches.cap; i++)
        if (st->sketches.slots[i]) free_skey(st, st->sketches.slots[i]);
    for (size_t i = 0; i < sizeof st->wslab / sizeof st->wslab[0]; i++) gossip_slab_fini(&st->wslab[i]);
    for (size_t i = 0; i < st->bans.cap; i++) free(st->bans.slots[i]);
    gossip_table_fini(&st->counters);
    gossip_table_fini(&st->sketches);
    gossip_table_fini(&st->bans);
    free(st->dirty_c.v);
    free(st->dirty_s.v);
    free(st->dirty_b.v);
    gossip_state_authors_free(st);
    free(st);
    *pst = NULL;
}

uint64_t gossip_state_origin(const struct gossip_state *st) { return st->self->origin; }
uint32_t gossip_state_epoch(const struct gossip_state *st) { return st->epoch; }
struct gossip_hlc *gossip_state_hlc(struct gossip_state *st) { return &st->hlc; }

/* A key's bucket width and how long its buckets are kept: long-lived sketch keys (common/key.h
 * sg_evidence_long_lived) use long_bucket_ms buckets kept long_window_ms; the sending limits'
 * counters (sg_evidence_throttle) the state's buckets kept throttle_window_ms; every other key
 * the state's own. */
struct retention {
    int64_t bucket_ms, window_max_ms;
};

static struct retention retention_of(const struct gossip_state *st, const char *key, bool sketch)
{
    if (sketch && st->cfg.long_window_ms > 0 && sg_evidence_long_lived(key))
        return (struct retention){st->cfg.long_bucket_ms, st->cfg.long_window_ms};
    if (!sketch && st->cfg.throttle_window_ms > 0 && sg_evidence_throttle(key))
        return (struct retention){st->cfg.bucket_ms, st->cfg.throttle_window_ms};
    return (struct retention){st->cfg.bucket_ms, st->cfg.window_max_ms};
}

static int64_t floor_to(int64_t t_ms, int64_t width)
{
    int64_t r = t_ms % width;
    if (r < 0) r += width;
    return t_ms - r;
}

int64_t gossip_state_bucket_of(const struct gossip_state *st, int64_t t_ms)
{
    return floor_to(t_ms, st->cfg.bucket_ms);
}

int64_t gossip_state_bucket_ms(const struct gossip_state *st) { return st->cfg.bucket_ms; }

void gossip_state_set_windows(struct gossip_state *st, int64_t window_max_ms, int64_t throttle_window_ms)
{
    st->cfg.window_max_ms = window_max_ms < st->cfg.bucket_ms ? st->cfg.bucket_ms : window_max_ms;
    st->cfg.throttle_window_ms = throttle_window_ms <= 0 ? 0
                               : throttle_window_ms < st->cfg.bucket_ms ? st->cfg.bucket_ms : throttle_window_ms;
}

static int64_t window_buckets(int64_t bucket_ms, int64_t window_ms)
{
    int64_t n = (window_ms + bucket_ms - 1) / bucket_ms;
    return n < 1 ? 1 : n;
}

static int64_t oldest_of(struct retention r, int64_t now_ms)
{
    return floor_to(now_ms, r.bucket_ms) - (window_buckets(r.bucket_ms, r.window_max_ms) - 1) * r.bucket_ms;
}

int64_t gossip_state_oldest_bucket(const struct gossip_state *st, int64_t now_ms)
{
    return oldest_of(retention_of(st, "", false), now_ms);
}

int64_t gossip_state_newest_bucket(const struct gossip_state *st, int64_t now_ms)
{
    return gossip_state_bucket_of(st, now_ms + st->cfg.max_skew_ms);
}

void gossip_state_mark(struct gossip_dirty *d, struct gossip_entry_head *h)
{
    if (h->dirty_pos) return;
    if (d->n == d->cap) {
        d->cap = d->cap ? d->cap * 2 : 64;
        d->v = sg_xrealloc(d->v, d->cap * sizeof *d->v);
    }
    d->v[d->n++] = h;
    h->dirty_pos = (uint32_t)d->n;
    d->live++;
    d->added++;
}

void gossip_state_unmark(struct gossip_dirty *d, struct gossip_entry_head *h)
{
    if (!h->dirty_pos) return;
    d->v[h->dirty_pos - 1] = NULL;
    h->dirty_pos = 0;
    d->live--;
}

static bool key_ok(const char *key)
{
    return key && key[0] && strnlen(key, GOSSIP_KEY_MAX + 1) <= GOSSIP_KEY_MAX;
}

/* ---- key creation under the cap ---- */

static uint64_t rng_next(struct gossip_state *st)
{
    uint64_t x = st->rng;
    x ^= x << 13;
    x ^= x >> 7;
    x ^= x << 17;
    return st->rng = x;
}

/* Newest bucket of a key (cells and sketch buckets are both sorted by bucket first). */
static int64_t ckey_newest(const struct gossip_wkey *k) { return k->n ? k->cells[k->n - 1].bucket : INT64_MIN; }
static int64_t skey_newest(const struct gossip_wkey *k) { return k->n ? k->b[k->n - 1].bucket : INT64_MIN; }

/* The two windowed tables differ only in these. */
struct wkind {
    struct gossip_state *st;
    struct gossip_table *t;
    struct gossip_dirty *d;
    int64_t (*newest)(const struct gossip_wkey *k);
    void (*release)(struct gossip_state *st, struct gossip_wkey *k);
    uint64_t (*digest)(const struct gossip_wkey *k);
};

static struct wkind wkind_of(struct gossip_state *st, bool sketch)
{
    if (sketch) return (struct wkind){st, &st->sketches, &st->dirty_s, skey_newest, free_skey, gossip_state_skey_hash};
    return (struct wkind){st, &st->counters, &st->dirty_c, ckey_newest, free_ckey, gossip_state_ckey_hash};
}

static void drop_wkey(const struct wkind *w, struct gossip_wkey *k)
{
    gossip_state_digest_adjust(w->st, k->h.hash, w->digest(k), 0);
    gossip_state_unmark(w->d, &k->h);
    gossip_table_del(w->t, k);
    w->release(w->st, k);
}

/* Approximate LRU: of EVICT_SAMPLES random occupied slots, the entry with the oldest newest bucket goes.
 * A long-lived key's bucket counts by its end (a day bucket started hours before its last write). */
static struct gossip_wkey *evict_pick(struct gossip_state *st, const struct wkind *w)
{
    struct gossip_wkey *victim = NULL;
    int64_t best = INT64_MAX;
    size_t mask = w->t->cap - 1;
    for (int s = 0; s < EVICT_SAMPLES; s++) {
        size_t i = (size_t)rng_next(st) & mask;
        while (!w->t->slots[i]) i = (i + 1) & mask;
        struct gossip_wkey *k = w->t->slots[i];
        int64_t b = w->newest(k);
        if (b != INT64_MIN) b += retention_of(st, k->key, w->t == &st->sketches).bucket_ms;
        if (b < best) { best = b; victim = k; }
    }
    st->evicted++;
    return victim;
}

static struct gossip_wkey *wkey_get(struct gossip_state *st, bool sketch, const char *key, bool create)
{
    struct wkind w = wkind_of(st, sketch);
    uint64_t h = gossip_table_hash(key);
    struct gossip_wkey *k = gossip_table_get(w.t, key, h);
    if (k || !create) return k;
    if (w.t->n >= st->cfg.max_keys) drop_wkey(&w, evict_pick(st, &w));
    /* Most counter keys (one address, one bucket) never hold more than one cell: it lives in the
     * key's own block, after the key, which saves a malloc per key (see bench_gossip). Blocks come
     * from a slab per size: no malloc header or rounding on a million keys (bench_scale RSS). */
    size_t size = wkey_size(key, sketch), len = strlen(key);
    k = gossip_slab_alloc(wslab_of(st, size));
    memcpy(k->key, key, len + 1);
    k->h.hash = h;
    if (!sketch) {
        k->cells = (struct gossip_cell *)(void *)((char *)k + size - sizeof(struct gossip_cell));
        k->fl = WKEY_INLINE;   /* capacity 1 */
    }
    gossip_table_put(w.t, k);
    return k;
}

/* Opens a hole at pos in a sorted vector of n elements, growing it as needed. */
static void *vec_insert(void *v, uint32_t *n, uint32_t *cap, size_t elem, uint32_t pos)
{
    if (*n == *cap) {
        *cap = *cap ? *cap * 2 : 1;
        v = sg_xrealloc(v, *cap * elem);
    }
    char *p = v;
    memmove(p + (pos + 1) * elem, p + pos * elem, (*n - pos) * elem);
    (*n)++;
    return v;
}

/* ---- counters ---- */

static int cell_cmp(int64_t b, uint64_t o, uint32_t e, const struct gossip_cell *c)
{
    if (b != c->bucket) return b < c->bucket ? -1 : 1;
    if (o != c->origin) return o < c->origin ? -1 : 1;
    if (e != c->epoch) return e < c->epoch ? -1 : 1;
    return 0;
}

/* Finds the cell, or inserts it at its sorted position when insert is set (else NULL). */
static struct gossip_cell *cell_get(struct gossip_wkey *k, int64_t b, uint64_t o, uint32_t e, bool insert)
{
    uint32_t lo = 0, hi = k->n;
    while (lo < hi) {
        uint32_t mid = (lo + hi) / 2;
        int c = cell_cmp(b, o, e, &k->cells[mid]);
        if (c == 0) return &k->cells[mid];
        if (c > 0) lo = mid + 1;
        else hi = mid;
    }
    if (!insert) return NULL;
    uint32_t cap = wkey_cap(k);
    if ((k->fl & WKEY_INLINE) && k->n == cap) {
        /* Outgrowing the inline cell: move to an array of its own (the inline space stays unused). */
        struct gossip_cell *v = sg_xmalloc(2 * cap * sizeof *v);
        memcpy(v, k->cells, k->n * sizeof *v);
        k->cells = v;
        cap *= 2;
        k->fl &= (uint8_t)~WKEY_INLINE;
    }
    k->cells = vec_insert(k->cells, &k->n, &cap, sizeof *k->cells, lo);
    wkey_set_cap(k, cap);
    k->cells[lo] = (struct gossip_cell){.bucket = b, .origin = o, .epoch = e};
    return &k->cells[lo];
}

int gossip_state_counter_add(struct gossip_state *st, const char *key, uint64_t n, int64_t now_ms)
{
    if (!key_ok(key)) return -1;
    if (n == 0) return 0;   /* a zero cell would make equal states encode differently */
    struct gossip_wkey *k = wkey_get(st, false, key, true);
    struct gossip_cell *c = cell_get(k, gossip_state_bucket_of(st, now_ms), st->self->origin, st->epoch, true);
    uint64_t before = gossip_state_cell_hash(k->h.hash, c);
    c->count = c->count + n < c->count ? UINT64_MAX : c->count + n;
    gossip_state_digest_adjust(st, k->h.hash, before, gossip_state_cell_hash(k->h.hash, c));
    c->dirty = 1;
    gossip_state_mark(&st->dirty_c, &k->h);
    return 0;
}

/* Looks a windowed key up and the bucket range [*lo, *hi] a window ending at now covers. */
static const struct gossip_wkey *window_key(const struct gossip_state *st, const struct gossip_table *t,
                                            const char *key, int64_t window_ms, int64_t now_ms, int64_t *lo,
                                            int64_t *hi)
{
    if (!key_ok(key)) return NULL;
    struct retention r = retention_of(st, key, t == &st->sketches);
    *hi = floor_to(now_ms, r.bucket_ms);
    *lo = *hi - (window_buckets(r.bucket_ms, window_ms) - 1) * r.bucket_ms;
    return gossip_table_get(t, key, gossip_table_hash(key));
}

/* The sum of the cells in the window, of one origin's only when origin is not 0. */
static uint64_t window_sum(const struct gossip_state *st, const char *key, int64_t window_ms, int64_t now_ms,
                           uint64_t origin)
{
    int64_t lo, hi;
    const struct gossip_wkey *k = window_key(st, &st->counters, key, window_ms, now_ms, &lo, &hi);
    if (!k) return 0;
    uint64_t sum = 0;
    for (uint32_t i = 0; i < k->n; i++)
        if (k->cells[i].bucket >= lo && k->cells[i].bucket <= hi && (!origin || k->cells[i].origin == origin)) {
            uint64_t s = sum + k->cells[i].count;
            sum = s < sum ? UINT64_MAX : s;
        }
    return sum;
}

uint64_t gossip_state_counter_total(const struct gossip_state *st, const char *key, int64_t window_ms,
                                    int64_t now_ms)
{
    return window_sum(st, key, window_ms, now_ms, 0);
}

uint64_t gossip_state_counter_own(const struct gossip_state *st, const char *key, int64_t window_ms, int64_t now_ms)
{
    return window_sum(st, key, window_ms, now_ms, st->self->origin);
}

size_t gossip_state_counter_buckets(const struct gossip_state *st, const char *key, int64_t lo_ms, int64_t hi_ms,
                                    struct gossip_bucket_sum *out, size_t max)
{
    if (!key_ok(key) || max == 0) return 0;
    const struct gossip_wkey *k = gossip_table_get(&st->counters, key, gossip_table_hash(key));
    size_t n = 0;
    for (uint32_t i = 0; k && i < k->n; i++) {   /* cells are sorted by bucket */
        const struct gossip_cell *c = &k->cells[i];
        if (c->bucket < lo_ms || c->bucket > hi_ms) continue;
        if (n && out[n - 1].bucket == c->bucket) {
            uint64_t s = out[n - 1].count + c->count;
            out[n - 1].count = s < c->count ? UINT64_MAX : s;
            continue;
        }
        if (n == max) {   /* keep the newest */
            memmove(out, out + 1, (max - 1) * sizeof *out);
            n--;
        }
        out[n++] = (struct gossip_bucket_sum){c->bucket, c->count};
    }
    return n;
}

/* A remote bucket must be aligned, not ahead of our clock by more than the skew, and still kept. */
static bool bucket_acceptable(const struct gossip_state *st, const char *key, bool sketch, int64_t bucket,
                              int64_t now_ms, struct gossip_merge_result *res)
{
    struct retention r = retention_of(st, key, sketch);
    if (bucket % r.bucket_ms != 0 || bucket > floor_to(now_ms + st->cfg.max_skew_ms, r.bucket_ms)) {
        res->rej_future++;
        return false;
    }
    if (bucket < oldest_of(r, now_ms)) {
        res->rej_expired++;
        return false;
    }
    return true;
}

int gossip_state_merge_slot(struct gossip_state *st, const struct gossip_slot_entry *e, uint64_t sender,
                            unsigned flags, int64_t now_ms, struct gossip_merge_result *res)
{
    bool own = e->origin == st->self->origin && e->epoch == st->epoch;
    if (e->count == 0) return 0;
    if (!sg_text_clean(e->key, strlen(e->key))) {
        res->rej_record++;
        return gossip_state_refuse(st, GOSSIP_REFUSE_TEXT, e->key, sender);
    }
    if (((flags & GOSSIP_MERGE_SENDER_SLOTS_ONLY) && e->origin != sender) ||
        (e->origin != st->self->origin && !gossip_keyring_find(st->kr, e->origin))) {
        res->rej_foreign++;
        return gossip_state_refuse(st, GOSSIP_REFUSE_FOREIGN_SLOT, e->key, sender);
    }
    if (!bucket_acceptable(st, e->key, false, e->bucket, now_ms, res)) return -1;
    if (own) {
        /* Nobody else writes our current slots: an echo of our own value is fine, more is a forgery. */
        struct gossip_wkey *ok = wkey_get(st, false, e->key, false);
        const struct gossip_cell *oc = ok ? cell_get(ok, e->bucket, e->origin, e->epoch, false) : NULL;
        if (oc && e->count <= oc->count) return 0;
        res->rej_foreign++;
        return gossip_state_refuse(st, GOSSIP_REFUSE_FOREIGN_SLOT, e->key, sender);
    }
    struct gossip_wkey *k = wkey_get(st, false, e->key, false);
    if (k && k->n >= GOSSIP_STATE_MAX_CELLS && !cell_get(k, e->bucket, e->origin, e->epoch, false)) {
        res->rej_cap++;
        return -1;
    }
    if (!k) k = wkey_get(st, false, e->key, true);
    struct gossip_cell *c = cell_get(k, e->bucket, e->origin, e->epoch, true);
    if (e->count <= c->count) return 0;
    uint64_t before = gossip_state_cell_hash(k->h.hash, c);
    c->count = e->count;
    gossip_state_digest_adjust(st, k->h.hash, before, gossip_state_cell_hash(k->h.hash, c));
    return 1;
}

/* ---- distinct sketches ---- */

static struct gossip_skbucket *skb_get(struct gossip_wkey *k, int64_t b)
{
    uint32_t lo = 0, hi = k->n;
    while (lo < hi) {
        uint32_t mid = (lo + hi) / 2;
        if (k->b[mid].bucket == b) return &k->b[mid];
        if (k->b[mid].bucket < b) lo = mid + 1;
        else hi = mid;
    }
    uint32_t cap = wkey_cap(k);
    k->b = vec_insert(k->b, &k->n, &cap, sizeof *k->b, lo);
    wkey_set_cap(k, cap);
    k->b[lo] = (struct gossip_skbucket){.bucket = b, .sk = gossip_sketch_new()};
    return &k->b[lo];
}

int gossip_state_distinct_add(struct gossip_state *st, const char *key, const void *item, size_t len,
                              int64_t now_ms)
{
    if (!key_ok(key)) return -1;
    struct gossip_wkey *k = wkey_get(st, true, key, true);
    struct gossip_skbucket *b = skb_get(k, floor_to(now_ms, retention_of(st, key, true).bucket_ms));
    uint64_t h = gossip_sketch_hash(item, len), before = gossip_state_skb_hash(k->h.hash, b);
    if (!gossip_sketch_add_hash(b->sk, h)) return 0;
    gossip_state_digest_adjust(st, k->h.hash, before, gossip_state_skb_hash(k->h.hash, b));
    if (!b->full) {
        if (!b->pend) b->pend = sg_xmalloc(GOSSIP_SKETCH_EXACT_MAX * sizeof *b->pend);
        if (b->npend < GOSSIP_SKETCH_EXACT_MAX) b->pend[b->npend++] = h;
        else b->full = true;
    }
    b->dirty = true;
    gossip_state_mark(&st->dirty_s, &k->h);
    return 0;
}

uint64_t gossip_state_distinct_count(const struct gossip_state *st, const char *key, int64_t window_ms,
                                     int64_t now_ms)
{
    int64_t lo, hi;
    const struct gossip_wkey *k = window_key(st, &st->sketches, key, window_ms, now_ms, &lo, &hi);
    if (!k) return 0;
    struct gossip_sketch *u = gossip_sketch_new();
    for (uint32_t i = 0; i < k->n; i++)
        if (k->b[i].bucket >= lo && k->b[i].bucket <= hi) gossip_sketch_merge(u, k->b[i].sk);
    uint64_t n = gossip_sketch_count(u);
    gossip_sketch_destroy(&u);
    return n;
}

bool gossip_state_distinct_has(const struct gossip_state *st, const char *key, const void *item, size_t len,
                               int64_t window_ms, int64_t now_ms)
{
    int64_t lo, hi;
    const struct gossip_wkey *k = window_key(st, &st->sketches, key, window_ms, now_ms, &lo, &hi);
    if (!k) return false;
    uint64_t h = gossip_sketch_hash(item, len);
    for (uint32_t i = 0; i < k->n; i++) {
        if (k->b[i].bucket < lo || k->b[i].bucket > hi) continue;
        size_t n;
        const uint64_t *v = gossip_sketch_hashes(k->b[i].sk, &n);
        size_t a = 0, b = v ? n : 0;   /* sorted; a HyperLogLog bucket cannot tell */
        while (a < b) {
            size_t mid = a + (b - a) / 2;
            if (v[mid] == h) return true;
            if (v[mid] < h) a = mid + 1;
            else b = mid;
        }
    }
    return false;
}

int gossip_state_merge_sketch(struct gossip_state *st, const struct gossip_sketch_entry *e, int64_t now_ms,
                              struct gossip_merge_result *res)
{
    if (!bucket_acceptable(st, e->key, true, e->bucket, now_ms, res)) return -1;
    if (gossip_sketch_count(e->sketch) == 0) return 0;
    if (!sg_text_clean(e->key, strlen(e->key))) {
        res->rej_record++;
        return gossip_state_refuse(st, GOSSIP_REFUSE_TEXT, e->key, 0);
    }
    struct gossip_wkey *k = wkey_get(st, true, e->key, true);
    struct gossip_skbucket *b = skb_get(k, e->bucket);
    uint64_t before = gossip_state_skb_hash(k->h.hash, b);
    if (!gossip_sketch_merge(b->sk, e->sketch)) return 0;
    gossip_state_digest_adjust(st, k->h.hash, before, gossip_state_skb_hash(k->h.hash, b));
    return 1;
}

/* ---- expiry and stats ---- */

/* Slots [from, to) of the counter table. Deleting slot i may shift a later entry into i, so i
 * advances only when nothing was deleted. */
static size_t expire_counters(struct gossip_state *st, int64_t now_ms, size_t from, size_t to)
{
    int64_t oldest = gossip_state_oldest_bucket(st, now_ms);
    int64_t thr_oldest = oldest_of(retention_of(st, SG_SCOPE_THROTTLE "|", false), now_ms);
    size_t dropped = 0;
    struct wkind wc = wkind_of(st, false);
    for (size_t i = from; i < to && i < st->counters.cap;) {
        struct gossip_wkey *k = st->counters.slots[i];
        if (!k) { i++; continue; }
        uint32_t keep = 0;
        uint64_t gone = 0;
        int64_t o = st->cfg.throttle_window_ms > 0 && sg_evidence_throttle(k->key) ? thr_oldest : oldest;
        for (; keep < k->n && k->cells[keep].bucket < o; keep++)
            gone += gossip_state_cell_hash(k->h.hash, &k->cells[keep]);
        gossip_state_digest_adjust(st, k->h.hash, gone, 0);
        if (keep) {
            memmove(k->cells, k->cells + keep, (k->n - keep) * sizeof *k->cells);
            k->n -= keep;
            dropped += keep;
        }
        if (k->n == 0) drop_wkey(&wc, k);
        else i++;
    }
    return dropped;
}

static size_t expire_sketches(struct gossip_state *st, int64_t now_ms, size_t from, size_t to)
{
    size_t dropped = 0;
    struct wkind ws = wkind_of(st, true);
    for (size_t i = from; i < to && i < st->sketches.cap;) {
        struct gossip_wkey *k = st->sketches.slots[i];
        if (!k) { i++; continue; }
        uint32_t keep = 0;
        uint64_t gone = 0;
        int64_t sk_oldest = oldest_of(retention_of(st, k->key, true), now_ms);
        for (; keep < k->n && k->b[keep].bucket < sk_oldest; keep++) {
            gone += gossip_state_skb_hash(k->h.hash, &k->b[keep]);
            free_skbucket(&k->b[keep]);
        }
        gossip_state_digest_adjust(st, k->h.hash, gone, 0);
        if (keep) {
            memmove(k->b, k->b + keep, (k->n - keep) * sizeof *k->b);
            k->n -= keep;
            dropped += keep;
        }
        if (k->n == 0) drop_wkey(&ws, k);
        else i++;
    }
    return dropped;
}

size_t gossip_state_expire(struct gossip_state *st, int64_t now_ms)
{
    size_t dropped = expire_counters(st, now_ms, 0, st->counters.cap);
    dropped += expire_sketches(st, now_ms, 0, st->sketches.cap);
    return dropped + gossip_state_expire_bans(st, now_ms, 0, st->bans.cap);
}

/* The next [*from, *to) of a table of cap slots cut in parts, the cursor moved past it (back to 0
 * after the last slice; a resize since the last call only moves where the pass resumes). */
static void next_slice(size_t *cursor, size_t cap, unsigned parts, size_t *from, size_t *to)
{
    size_t len = cap / parts + 1;
    if (len > GOSSIP_EXPIRE_SLICE_MAX) len = GOSSIP_EXPIRE_SLICE_MAX;
    if (*cursor >= cap) *cursor = 0;
    *from = *cursor;
    *to = *from + len < cap ? *from + len : cap;
    *cursor = *to;
}

static void census_slice(struct gossip_state *st, int t, size_t from, size_t to, size_t cap);

size_t gossip_state_expire_slice(struct gossip_state *st, int64_t now_ms, unsigned parts)
{
    if (parts < 1) parts = 1;
    size_t from, to, dropped;
    next_slice(&st->expire_cursor[0], st->counters.cap, parts, &from, &to);
    dropped = expire_counters(st, now_ms, from, to);
    census_slice(st, 0, from, to, st->counters.cap);
    next_slice(&st->expire_cursor[1], st->sketches.cap, parts, &from, &to);
    dropped += expire_sketches(st, now_ms, from, to);
    census_slice(st, 1, from, to, st->sketches.cap);
    next_slice(&st->expire_cursor[2], st->bans.cap, parts, &from, &to);
    dropped += gossip_state_expire_bans(st, now_ms, from, to);
    census_slice(st, 2, from, to, st->bans.cap);
    return dropped;
}

/* Walks the slots [from, to) of table t (0 counters, 1 sketches, 2 bans) into *c: items are cells,
 * buckets or records (tombstones among them counted apart), mem the heap the entries hold outside the
 * slabs and tables. */
static void census_range(const struct gossip_state *st, int t, size_t from, size_t to, struct gossip_census *c)
{
    if (t == 0) {
        for (size_t i = from; i < to && i < st->counters.cap; i++) {
            const struct gossip_wkey *k = st->counters.slots[i];
            if (!k) continue;
            c->items += k->n;
            c->mem += (k->fl & WKEY_INLINE) ? 0 : malloc_usable_size(k->cells);
        }
    } else if (t == 1) {
        for (size_t i = from; i < to && i < st->sketches.cap; i++) {
            const struct gossip_wkey *k = st->sketches.slots[i];
            if (!k) continue;
            c->items += k->n;
            c->mem += k->b ? malloc_usable_size(k->b) : 0;
            for (uint32_t j = 0; j < k->n; j++)
                c->mem += gossip_sketch_mem(k->b[j].sk) + (k->b[j].pend ? malloc_usable_size(k->b[j].pend) : 0);
        }
    } else {
        for (size_t i = from; i < to && i < st->bans.cap; i++) {
            const struct gossip_bkey *k = st->bans.slots[i];
            if (!k) continue;
            c->items++;
            if (k->rec.action != GOSSIP_BAN_ACTION_BAN) c->tombstones++;
            c->mem += malloc_usable_size((void *)k);
        }
    }
}

/* The census of one expiry slice of table t: the pass is published when its slice reaches the end. */
static void census_slice(struct gossip_state *st, int t, size_t from, size_t to, size_t cap)
{
    census_range(st, t, from, to, &st->census_part[t]);
    if (to >= cap) {
        st->census[t] = st->census_part[t];
        memset(&st->census_part[t], 0, sizeof st->census_part[t]);
    }
}

/* The stats from the tables' counts and a census of each table. */
static void stats_of(const struct gossip_state *st, const struct gossip_census c[3], struct gossip_state_stats *out)
{
    memset(out, 0, sizeof *out);
    out->counter_keys = st->counters.n;
    out->counter_cells = c[0].items;
    out->sketch_keys = st->sketches.n;
    out->sketch_buckets = c[1].items;
    out->bans = c[2].items - c[2].tombstones;
    out->tombstones = c[2].tombstones;
    size_t mem = malloc_usable_size((void *)st) + gossip_table_mem(&st->counters) + gossip_table_mem(&st->sketches) +
                 gossip_table_mem(&st->bans) + c[0].mem + c[1].mem + c[2].mem;
    for (size_t i = 0; i < sizeof st->wslab / sizeof st->wslab[0]; i++) mem += gossip_slab_mem(&st->wslab[i]);
    out->mem_bytes = mem + st->dirty_c.cap * sizeof(void *) + st->dirty_s.cap * sizeof(void *) +
                     st->dirty_b.cap * sizeof(void *);
    out->evicted = st->evicted;
    memcpy(out->refused, st->refused, sizeof out->refused);
}

void gossip_state_stats(const struct gossip_state *st, struct gossip_state_stats *out)
{
    struct gossip_census c[3];
    memset(c, 0, sizeof c);
    census_range(st, 0, 0, st->counters.cap, &c[0]);
    census_range(st, 1, 0, st->sketches.cap, &c[1]);
    census_range(st, 2, 0, st->bans.cap, &c[2]);
    stats_of(st, c, out);
}

void gossip_state_stats_recent(const struct gossip_state *st, struct gossip_state_stats *out)
{
    stats_of(st, st->census, out);
}
