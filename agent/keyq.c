/* keyq.c: a bounded FIFO of distinct keys: a ring of key copies and a linear-probing index over it. */
#include "agent/keyq.h"
#include "agent/util.h"

#include <sodium.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

/* Keys are attacker-chosen (peers relay subjects from logs): the index hashes them with a key of
 * this process's own, so no one can choose keys that pile up in one probe chain. */
static unsigned char index_key[crypto_shorthash_KEYBYTES];
static int index_key_set;

static uint64_t key_hash(const char *key)
{
    if (!index_key_set) {
        if (sodium_init() < 0) abort();   /* no random source: nothing of the agent would work */
        randombytes_buf(index_key, sizeof index_key);
        index_key_set = 1;
    }
    unsigned char out[crypto_shorthash_BYTES];
    crypto_shorthash(out, (const unsigned char *)key, strlen(key), index_key);
    uint64_t v;
    memcpy(&v, out, sizeof v);
    return v;
}

void keyq_init(struct keyq *q, size_t cap)
{
    memset(q, 0, sizeof *q);
    q->cap = cap;
}

void keyq_fini(struct keyq *q)
{
    for (size_t i = 0; i < q->n; i++) free(q->key[(q->head + i) % q->cap]);
    free(q->key);
    free(q->at);
    free(q->t0);
    free(q->hash);
    free(q->idx);
    keyq_init(q, q->cap);
}

/* Looks key (hash h) up: returns its ring slot + 1 with its index position in *pos, or 0 with the
 * free position that ends its probe chain in *pos. */
static size_t index_find(const struct keyq *q, const char *key, uint64_t h, size_t *pos)
{
    for (size_t p = h & q->imask;; p = (p + 1) & q->imask) {
        uint32_t v = q->idx[p];
        if (!v || (q->hash[v - 1] == h && !strcmp(q->key[v - 1], key))) {
            *pos = p;
            return v;
        }
    }
}

enum keyq_push keyq_push(struct keyq *q, const char *key, int64_t at, int64_t t0)
{
    if (!q->cap) return KEYQ_FULL;
    if (!q->key) {
        q->key = sg_xcalloc(q->cap, sizeof *q->key);
        q->at = sg_xcalloc(q->cap, sizeof *q->at);
        q->t0 = sg_xcalloc(q->cap, sizeof *q->t0);
        q->hash = sg_xcalloc(q->cap, sizeof *q->hash);
        size_t isize = 2;
        while (isize < 2 * q->cap) isize *= 2;
        q->idx = sg_xcalloc(isize, sizeof *q->idx);
        q->imask = isize - 1;
    }
    uint64_t h = key_hash(key);
    size_t pos;
    if (index_find(q, key, h, &pos)) return KEYQ_QUEUED;
    if (q->n == q->cap) return KEYQ_FULL;
    size_t s = (q->head + q->n++) % q->cap;
    q->key[s] = sg_xstrdup(key);
    q->at[s] = at;
    q->t0[s] = t0;
    q->hash[s] = h;
    q->idx[pos] = (uint32_t)(s + 1);
    return KEYQ_ADDED;
}

bool keyq_has(const struct keyq *q, const char *key)
{
    size_t pos;
    return q->n && index_find(q, key, key_hash(key), &pos);
}

const char *keyq_first(const struct keyq *q, int64_t *at, int64_t *t0)
{
    if (!q->n) return NULL;
    if (at) *at = q->at[q->head];
    if (t0) *t0 = q->t0[q->head];
    return q->key[q->head];
}

/* Removes index position p, moving later members of its probe chain back so that none is cut off
 * from its home position (deletion without tombstones). */
static void index_remove(struct keyq *q, size_t p)
{
    for (size_t j = (p + 1) & q->imask;; j = (j + 1) & q->imask) {
        uint32_t v = q->idx[j];
        if (!v) break;
        size_t home = q->hash[v - 1] & q->imask;
        /* j's member may move to p when its home is not cyclically within (p, j]. */
        bool stays = p <= j ? (home > p && home <= j) : (home > p || home <= j);
        if (stays) continue;
        q->idx[p] = v;
        p = j;
    }
    q->idx[p] = 0;
}

char *keyq_pop(struct keyq *q)
{
    if (!q->n) return NULL;
    size_t s = q->head;
    char *key = q->key[s];
    size_t pos;
    index_find(q, key, q->hash[s], &pos);
    index_remove(q, pos);
    q->key[s] = NULL;
    q->head = (q->head + 1) % q->cap;
    q->n--;
    return key;
}

void keyq_move(struct keyq *to, struct keyq *from)
{
    int64_t at, t0;
    while (keyq_first(from, &at, &t0)) {
        char *k = keyq_pop(from);
        keyq_push(to, k, at, t0);
        free(k);
    }
    keyq_fini(from);
}
