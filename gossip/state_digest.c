/* state_digest.c: per-partition digests of the state for anti-entropy sync: the hash of every
 * counter cell, sketch bucket and ban record, summed per partition. The sums are kept up to date
 * on every change (state.c, state_ban.c), so a digest costs nothing; the full recomputation is
 * kept for tests and as the definition. */
#include "gossip/state_int.h"

#include <sodium.h>
#include <string.h>

static const unsigned char digest_key[crypto_shorthash_KEYBYTES] = {'s', 'g', 'c', 'l', 'u', 's', 't', 'e',
                                                                   'r', '-', 'd', 'i', 'g', 'e', 's', 't'};

static uint64_t dhash(const void *p, size_t n)
{
    unsigned char d[crypto_shorthash_BYTES];
    crypto_shorthash(d, p, n, digest_key);
    uint64_t v;
    memcpy(&v, d, sizeof v);
    return v;
}

/* Hash of one counter cell or sketch bucket: the key's hash and the fields, laid out explicitly
 * (never a struct with padding or local flags). */
uint64_t gossip_state_cell_hash(uint64_t keyhash, const struct gossip_cell *c)
{
    if (c->count == 0) return 0;   /* a cell being created is not there yet */
    uint64_t v[5] = {keyhash, (uint64_t)c->bucket, c->origin, c->count, c->epoch};
    return dhash(v, sizeof v);
}

uint64_t gossip_state_skb_hash(uint64_t keyhash, const struct gossip_skbucket *b)
{
    if (gossip_sketch_count(b->sk) == 0) return 0;
    uint8_t buf[16 + GOSSIP_SKETCH_HLL_M];
    size_t n;
    const uint64_t *h = gossip_sketch_hashes(b->sk, &n);
    const uint8_t *reg = gossip_sketch_registers(b->sk);
    uint64_t head[2] = {keyhash, (uint64_t)b->bucket};
    memcpy(buf, head, sizeof head);
    size_t len = reg ? GOSSIP_SKETCH_HLL_M : n * sizeof *h;
    if (len) memcpy(buf + sizeof head, reg ? (const void *)reg : (const void *)h, len);
    return dhash(buf, sizeof head + len);
}

uint64_t gossip_state_ban_hash(const struct gossip_ban *b)
{
    uint8_t buf[GOSSIP_BAN_CANON_MAX + GOSSIP_SIG_LEN];
    size_t n = gossip_ban_canonical(b, buf);
    memcpy(buf + n, b->sig, GOSSIP_SIG_LEN);
    return dhash(buf, n + GOSSIP_SIG_LEN);
}

uint64_t gossip_state_ckey_hash(const struct gossip_wkey *k)
{
    uint64_t sum = 0;
    for (uint32_t j = 0; j < k->n; j++) sum += gossip_state_cell_hash(k->h.hash, &k->cells[j]);
    return sum;
}

uint64_t gossip_state_skey_hash(const struct gossip_wkey *k)
{
    uint64_t sum = 0;
    for (uint32_t j = 0; j < k->n; j++) sum += gossip_state_skb_hash(k->h.hash, &k->b[j]);
    return sum;
}

void gossip_state_digest_adjust(struct gossip_state *st, uint64_t keyhash, uint64_t old_h, uint64_t now_h)
{
    st->digest[keyhash % GOSSIP_PARTITIONS] += now_h - old_h;   /* modulo 2^64, like the sums */
}

void gossip_state_digest(const struct gossip_state *st, uint64_t out[GOSSIP_PARTITIONS])
{
    memcpy(out, st->digest, sizeof st->digest);
}

/* Each cell, sketch bucket and ban record is hashed on its own and the hashes are summed: the
 * digest does not depend on table order, and two nodes agree on a partition exactly when (but for
 * hash collisions) they hold the same entries. Cost is linear in the state; see the bench. */
void gossip_state_digest_full(const struct gossip_state *st, uint64_t out[GOSSIP_PARTITIONS])
{
    memset(out, 0, GOSSIP_PARTITIONS * sizeof *out);
    for (size_t i = 0; i < st->counters.cap; i++) {
        const struct gossip_wkey *k = st->counters.slots[i];
        if (!k) continue;
        out[k->h.hash % GOSSIP_PARTITIONS] += gossip_state_ckey_hash(k);
    }
    for (size_t i = 0; i < st->sketches.cap; i++) {
        const struct gossip_wkey *k = st->sketches.slots[i];
        if (!k) continue;
        out[k->h.hash % GOSSIP_PARTITIONS] += gossip_state_skey_hash(k);
    }
    for (size_t i = 0; i < st->bans.cap; i++) {
        const struct gossip_bkey *k = st->bans.slots[i];
        if (!k) continue;
        out[k->h.hash % GOSSIP_PARTITIONS] += gossip_state_ban_hash(&k->rec);
    }
}

