/* table.h: internal open-addressing hash table of entries keyed by a string, used by gossip/state.
 * Entries are the caller's structs; the table stores pointers and asks keyof() for an entry's key.
 * Linear probing with backward-shift deletion (no tombstones), capacity a power of two, load <= 3/4.
 * Two hashes: an entry's hash (gossip_table_hash, public, the same on every node: what the caller
 * stores and compares across nodes) and its placement (gossip_table_place: that hash under a key
 * drawn at random for each table, so nobody outside the process can choose keys that pile onto one
 * run of slots and make every probe walk it). An entry's home slot is the top bits of its placement,
 * so slot order is placement order but for the short probing displacement: a scan in placement order
 * (gossip_table_range) needs no sort of the whole table. Memory: 9 bytes a slot (a pointer and a
 * tag byte), 12 to 24 bytes an entry. */
#ifndef GOSSIP_TABLE_H
#define GOSSIP_TABLE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct gossip_table {
    void **slots;
    uint8_t *tags;   /* a byte of each slot's placement, 0 when empty: probes read these, not entries */
    size_t cap;      /* power of two, or 0 before the first insert */
    size_t n;
    unsigned shift;  /* 64 - log2(cap): home slot = hash >> shift */
    const char *(*keyof)(const void *entry);
    uint64_t (*hashof)(const void *entry);   /* the entry's gossip_table_hash */
    uint64_t place_key[2];   /* secret, drawn at init: k0, k1 of gossip_table_place */
};

/* SipHash-2-4 of a key under a fixed, cluster-wide key; the partition is its low 6 bits. Public:
 * never used to place an entry in a table. */
uint64_t gossip_table_hash(const char *key);
/* The placement of an entry of this hash in t: a keyed mix of the hash under t's secret key. */
uint64_t gossip_table_place(const struct gossip_table *t, uint64_t hash);

/* Draws the table's placement key (libsodium randombytes). */
void gossip_table_init(struct gossip_table *t, const char *(*keyof)(const void *), uint64_t (*hashof)(const void *));
/* Frees the slot array, not the entries. */
void gossip_table_fini(struct gossip_table *t);
void *gossip_table_get(const struct gossip_table *t, const char *key, uint64_t hash);
/* The entry must not be present already. */
void gossip_table_put(struct gossip_table *t, void *entry);
/* Removes this entry (by identity). Returns the slot index it was in, or (size_t)-1. */
size_t gossip_table_del(struct gossip_table *t, const void *entry);
/* The entries whose placement lies in [from, *next), appended to (*v)[0 ..) (the array grown as needed,
 * *vcap its size), in slot order; returns how many. The range covers whole home slots from the one
 * of from, about want entries' worth (and at most 8 * want slots), so a caller that goes on from
 * *next visits each entry present throughout exactly once, in increasing placement order once each batch
 * is sorted, whatever resizes happen between calls. *last is set when the range reached the end of
 * the placement space (*next is then 0). */
size_t gossip_table_range(const struct gossip_table *t, uint64_t from, size_t want, void ***v, size_t *vcap,
                          uint64_t *next, bool *last);
/* Heap bytes of the slot and tag arrays. */
size_t gossip_table_mem(const struct gossip_table *t);

#endif
