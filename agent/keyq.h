/* keyq.h: a bounded first-in first-out queue of distinct keys, each with a time: the scenario
 * engine's queue of keys to evaluate again (touched by peers' merges) and its set of crossings left
 * to another node's decision until a deadline. A key already queued is not queued twice, so a key
 * touched a thousand times while it waits is evaluated once.
 *
 * Memory: a copy of each queued key, and 32 bytes a slot of the ring (the key's pointer, time and
 * hash) and of the index (two positions a slot), allocated at the first push for cap keys (pages
 * the kernel maps as they are first used) and never grown. */
#ifndef SG_AGENT_KEYQ_H
#define SG_AGENT_KEYQ_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct keyq {
    size_t cap;          /* the most keys queued */
    size_t head, n;      /* ring: the oldest key's slot, and how many are queued */
    char **key;          /* ring of cap keys (owned copies) */
    int64_t *at;         /* each key's time (as pushed): its order, or its deadline */
    int64_t *t0;         /* and a second time: when a deferred crossing was measured */
    uint64_t *hash;      /* each key's hash, for the index */
    uint32_t *idx;       /* open addressing over the ring: slot + 1, 0 empty; a power of two >= 2 cap */
    size_t imask;
};

enum keyq_push { KEYQ_ADDED, KEYQ_QUEUED, KEYQ_FULL };

/* An empty queue of at most cap keys (cap < 2^31); nothing is allocated before the first push. */
void keyq_init(struct keyq *q, size_t cap);
void keyq_fini(struct keyq *q);
/* Queues a copy of key with its times at and t0, last: KEYQ_ADDED; KEYQ_QUEUED when key is queued
 * already (its place and times are kept); KEYQ_FULL when cap keys are queued (nothing changes). */
enum keyq_push keyq_push(struct keyq *q, const char *key, int64_t at, int64_t t0);
/* True when key is queued. */
bool keyq_has(const struct keyq *q, const char *key);
/* The oldest key (borrowed until the next pop or push) and its times in *at and *t0 (either may be
 * NULL); NULL when the queue is empty. */
const char *keyq_first(const struct keyq *q, int64_t *at, int64_t *t0);
/* Removes the oldest key and returns it (the caller frees it); NULL when empty. */
char *keyq_pop(struct keyq *q);
/* Moves every key of from to the end of to (in order; those to already holds, or that do not fit,
 * are dropped) and empties from. */
void keyq_move(struct keyq *to, struct keyq *from);

#endif
