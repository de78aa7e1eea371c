/* table.c: the string-keyed open-addressing hash table behind the state's counters, sketches and bans. */
#include "gossip/table.h"

#include <malloc.h>
#include <sodium.h>
#include <stdlib.h>
#include <string.h>

#include "agent/util.h"

/* Fixed, public key: this hash is compared across nodes (partitions, leaves, digests) and orders the
 * canonical encoding, so it must be the same everywhere, and anyone can compute it. It therefore never
 * places an entry in a table (gossip_table_place does). */
static const unsigned char table_key[crypto_shorthash_KEYBYTES] = {'s', 'g', 'c', 'l', 'u', 's', 't', 'e',
                                                                  'r', '-', 't', 'a', 'b', 'l', 'e', '1'};

uint64_t gossip_table_hash(const char *key)
{
    unsigned char out[crypto_shorthash_BYTES];
    crypto_shorthash(out, (const unsigned char *)key, strlen(key), table_key);
    uint64_t v;
    memcpy(&v, out, sizeof v);
    return v;
}

void gossip_table_init(struct gossip_table *t, const char *(*keyof)(const void *), uint64_t (*hashof)(const void *))
{
    memset(t, 0, sizeof *t);
    t->keyof = keyof;
    t->hashof = hashof;
    randombytes_buf(t->place_key, sizeof t->place_key);
}

/* The public hash under the table's secret key: (hash ^ k0) * k1 (k1 odd), then a fixed mixer
 * (xor-shifts and odd multiplies: every input bit reaches every top bit). For each key it is a
 * bijection, so two entries share a placement only when their 64-bit public hashes are equal, which
 * an attacker gets for a handful of names at best (2^32 tries a pair, more for three); which hashes
 * share the top bits, a home run, depends on k0 and k1, drawn at random and never leaving the
 * process: names chosen to collide under the public hash land anywhere. The attacker controls the
 * public hash itself only by trying names (2^b tries a name for b chosen bits), so there is no
 * structure to feed it. Not SipHash: a lookup or a resize issues many independent probes whose cache
 * misses overlap, and a hundred instructions of SipHash per probe leave fewer in flight. Measured at
 * 1M keys (docs/scale.md): 1.8 ns a key, a get 81 ns, the resize of 750k entries 95 ms; placed by
 * the public hash as before, 77 ns and 85 ms; by SipHash-2-4 of it, 11 ns, 175 ns and 250 to 316 ms. */
uint64_t gossip_table_place(const struct gossip_table *t, uint64_t hash)
{
    uint64_t x = (hash ^ t->place_key[0]) * (t->place_key[1] | 1);
    x ^= x >> 31;
    x *= 0xbf58476d1ce4e5b9ULL;
    x ^= x >> 29;
    x *= 0x94d049bb133111ebULL;
    return x ^ x >> 32;
}

void gossip_table_fini(struct gossip_table *t)
{
    free(t->slots);
    free(t->tags);
    t->slots = NULL;
    t->tags = NULL;
    t->cap = t->n = 0;
}

/* The top bits of the placement: slot order follows placement order, which the incremental
 * snapshot walks. */
static size_t home_of(const struct gossip_table *t, uint64_t place)
{
    return (size_t)(place >> t->shift);
}

static size_t home(const struct gossip_table *t, uint64_t hash)
{
    return home_of(t, gossip_table_place(t, hash));
}

/* A slot's tag: a byte of the placement other than its home bits, never 0 (an empty slot's). A probe
 * compares tags, which lie side by side, and follows a slot's pointer to its entry only when the tag
 * matches (1 in 128 of the others): a miss at 3/4 load walks ~8 slots but touches no entry. */
static uint8_t tag_of(uint64_t place)
{
    return (uint8_t)(place | 0x80);
}

void *gossip_table_get(const struct gossip_table *t, const char *key, uint64_t hash)
{
    if (!t->cap) return NULL;
    uint64_t p = gossip_table_place(t, hash);
    uint8_t tag = tag_of(p);
    for (size_t i = home_of(t, p);; i = (i + 1) & (t->cap - 1)) {
        uint8_t g = t->tags[i];
        if (!g) return NULL;
        if (g != tag) continue;
        void *e = t->slots[i];
        if (t->hashof(e) == hash && !strcmp(t->keyof(e), key)) return e;
    }
}

static void insert_raw(struct gossip_table *t, void *entry)
{
    uint64_t p = gossip_table_place(t, t->hashof(entry));
    size_t i = home_of(t, p);
    while (t->tags[i]) i = (i + 1) & (t->cap - 1);
    t->slots[i] = entry;
    t->tags[i] = tag_of(p);
}

static void resize(struct gossip_table *t, size_t cap)
{
    void **old = t->slots;
    size_t oldcap = t->cap;
    t->slots = sg_xcalloc(cap, sizeof *t->slots);
    free(t->tags);
    t->tags = sg_xcalloc(cap, 1);
    t->cap = cap;
    t->shift = 64;
    for (size_t c = cap; c > 1; c >>= 1) t->shift--;
    for (size_t i = 0; i < oldcap; i++)
        if (old[i]) insert_raw(t, old[i]);
    free(old);
}

void gossip_table_put(struct gossip_table *t, void *entry)
{
    if ((t->n + 1) * 4 > t->cap * 3) resize(t, t->cap ? t->cap * 2 : 16);
    insert_raw(t, entry);
    t->n++;
}

size_t gossip_table_del(struct gossip_table *t, const void *entry)
{
    if (!t->cap) return (size_t)-1;
    size_t mask = t->cap - 1, i = home(t, t->hashof(entry));
    while (t->slots[i] && t->slots[i] != entry) i = (i + 1) & mask;
    if (!t->slots[i]) return (size_t)-1;
    size_t at = i;
    /* Backward shift: pull later members of the probe run into the hole when their home allows it. */
    size_t hole = i;
    for (size_t j = (i + 1) & mask; t->slots[j]; j = (j + 1) & mask) {
        size_t h = home(t, t->hashof(t->slots[j]));
        /* Entry j may move to hole iff hole lies cyclically in [h, j). */
        if (((j - h) & mask) >= ((j - hole) & mask)) {
            t->slots[hole] = t->slots[j];
            t->tags[hole] = t->tags[j];
            hole = j;
        }
    }
    t->slots[hole] = NULL;
    t->tags[hole] = 0;
    t->n--;
    return at;
}

size_t gossip_table_range(const struct gossip_table *t, uint64_t from, size_t want, void ***v, size_t *vcap,
                          uint64_t *next, bool *last)
{
    *next = 0;
    *last = true;
    if (!t->n) return 0;
    if (want < 1) want = 1;
    size_t s0 = home_of(t, from), span = want * t->cap / t->n, got = 0, mask = t->cap - 1;
    if (span > 8 * want) span = 8 * want;   /* a sparse table (after expiry) takes more calls */
    if (span < 1) span = 1;
    size_t lim = t->cap - s0 <= span ? t->cap : s0 + span;
    if (lim < t->cap) {
        *last = false;
        *next = (uint64_t)lim << t->shift;
    }
    /* An entry lies between its home and the first empty slot after it: walk from s0 past lim to an
     * empty slot (wrapping for the last range), never more than the whole table. */
    for (size_t k = s0; k - s0 < t->cap; k++) {
        void *e = t->slots[k & mask];
        if (!e) {
            if (k >= lim) break;
            continue;
        }
        uint64_t p = gossip_table_place(t, t->hashof(e));
        size_t hm = home_of(t, p);
        if (hm < s0 || hm >= lim || p < from) continue;
        if (got == *vcap) {
            *vcap = *vcap ? *vcap * 2 : 256;
            *v = sg_xrealloc(*v, *vcap * sizeof **v);
        }
        (*v)[got++] = e;
    }
    return got;
}

size_t gossip_table_mem(const struct gossip_table *t)
{
    return t->slots ? malloc_usable_size(t->slots) + malloc_usable_size(t->tags) : 0;
}
