/* table.h: internal open-addressing hash table of entries keyed by a string, used by gossip/state.
 * Entries are the caller's structs; the table stores pointers and asks keyof() for an entry's key.
 * Linear probing with backward-shift deletion (no tombstones), capacity a power of two, load <= 3/4. */
#ifndef GOSSIP_TABLE_H
#define GOSSIP_TABLE_H

#include <stddef.h>
#include <stdint.h>

struct gossip_table {
    void **slots;
    size_t cap;      /* power of two, or 0 before the first insert */
    size_t n;
    const char *(*keyof)(const void *entry);
    uint64_t (*hashof)(const void *entry);
};

/* siphash of a key under a fixed, cluster-wide key; the partition is its low 6 bits. */
uint64_t gossip_table_hash(const char *key);

void gossip_table_init(struct gossip_table *t, const char *(*keyof)(const void *), uint64_t (*hashof)(const void *));
/* Frees the slot array, not the entries. */
void gossip_table_fini(struct gossip_table *t);
void *gossip_table_get(const struct gossip_table *t, const char *key, uint64_t hash);
/* The entry must not be present already. */
void gossip_table_put(struct gossip_table *t, void *entry);
/* Removes this entry (by identity). Returns the slot index it was in, or (size_t)-1. */
size_t gossip_table_del(struct gossip_table *t, const void *entry);
/* Heap bytes of the slot array. */
size_t gossip_table_mem(const struct gossip_table *t);

#endif
