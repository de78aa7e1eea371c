/* state_digest.c: digests of the state for anti-entropy sync: the hash of every counter cell,
 * sketch bucket and ban record, summed per partition (64) and per leaf (16384: each partition split
 * in 256), so that a sync descends from the partitions that differ to the leaves that differ and
 * sends only those. The sums are kept up to date on every change (state.c, state_ban.c), so a
 * digest costs nothing; the full recomputation is kept for tests and as the definition. */
#include "gossip/state_int.h"

#include <sodium.h>
#include <stdlib.h>
#include <string.h>

#include "agent/util.h"

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
    st->leaf[keyhash % GOSSIP_SYNC_LEAVES] += now_h - old_h;
}

void gossip_state_digest_leaves(const struct gossip_state *st, unsigned partition, uint64_t out[GOSSIP_SYNC_FANOUT])
{
    for (unsigned s = 0; s < GOSSIP_SYNC_FANOUT; s++)
        out[s] = partition < GOSSIP_PARTITIONS ? st->leaf[partition + GOSSIP_PARTITIONS * s] : 0;
}

void gossip_state_digest(const struct gossip_state *st, uint64_t out[GOSSIP_PARTITIONS])
{
    memcpy(out, st->digest, sizeof st->digest);
}

size_t gossip_state_leaf_sums(const struct gossip_state *st, uint64_t mask, uint8_t *out)
{
    size_t n = 0;
    for (unsigned part = 0; part < GOSSIP_PARTITIONS; part++)
        if (mask >> part & 1)
            for (unsigned s = 0; s < GOSSIP_SYNC_FANOUT; s++, n += 8)
                gossip_wire_put_be64(out + n, st->leaf[part + GOSSIP_PARTITIONS * s]);
    return n;
}

size_t gossip_state_leaves_differ(const struct gossip_state *st, uint64_t mask, const uint8_t *theirs,
                                  uint8_t want[GOSSIP_SYNC_LEAVES / 8])
{
    size_t differ = 0;
    memset(want, 0, GOSSIP_SYNC_LEAVES / 8);
    for (unsigned part = 0; part < GOSSIP_PARTITIONS; part++) {
        if (!(mask >> part & 1))
            continue;
        for (unsigned s = 0; s < GOSSIP_SYNC_FANOUT; s++, theirs += 8) {
            unsigned l = part + GOSSIP_PARTITIONS * s;
            if (gossip_wire_be64(theirs) == st->leaf[l])
                continue;
            want[l / 8] |= (uint8_t)(1u << (l % 8));
            differ++;
        }
    }
    return differ;
}

/* Each cell, sketch bucket and ban record is hashed on its own and the hashes are summed: the
 * digest does not depend on table order, and two nodes agree on a leaf exactly when (but for hash
 * collisions) they hold the same entries. Cost is linear in the state; see the bench. */
void gossip_state_leaves_full(const struct gossip_state *st, uint64_t out[GOSSIP_SYNC_LEAVES])
{
    memset(out, 0, GOSSIP_SYNC_LEAVES * sizeof *out);
    for (size_t i = 0; i < st->counters.cap; i++) {
        const struct gossip_wkey *k = st->counters.slots[i];
        if (!k) continue;
        out[k->h.hash % GOSSIP_SYNC_LEAVES] += gossip_state_ckey_hash(k);
    }
    for (size_t i = 0; i < st->sketches.cap; i++) {
        const struct gossip_wkey *k = st->sketches.slots[i];
        if (!k) continue;
        out[k->h.hash % GOSSIP_SYNC_LEAVES] += gossip_state_skey_hash(k);
    }
    for (size_t i = 0; i < st->bans.cap; i++) {
        const struct gossip_bkey *k = st->bans.slots[i];
        if (!k) continue;
        out[k->h.hash % GOSSIP_SYNC_LEAVES] += gossip_state_ban_hash(&k->rec);
    }
}

/* A partition is the sum of its leaves (leaf % GOSSIP_PARTITIONS is its partition). */
void gossip_state_digest_full(const struct gossip_state *st, uint64_t out[GOSSIP_PARTITIONS])
{
    uint64_t *leaves = sg_xmalloc(GOSSIP_SYNC_LEAVES * sizeof *leaves);
    gossip_state_leaves_full(st, leaves);
    memset(out, 0, GOSSIP_PARTITIONS * sizeof *out);
    for (size_t l = 0; l < GOSSIP_SYNC_LEAVES; l++) out[l % GOSSIP_PARTITIONS] += leaves[l];
    free(leaves);
}
