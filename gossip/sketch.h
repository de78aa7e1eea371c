/* sketch.h: mergeable distinct-count sketch: an exact set of 64-bit item hashes up to a cap,
 * then a HyperLogLog (2^10 one-byte registers). The representation is a function of the set of
 * hashes added, so merge (union) is commutative, associative and idempotent. */
#ifndef GOSSIP_SKETCH_H
#define GOSSIP_SKETCH_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define GOSSIP_SKETCH_EXACT_MAX 32          /* exact up to this many distinct items */
#define GOSSIP_SKETCH_HLL_P 10
#define GOSSIP_SKETCH_HLL_M (1u << GOSSIP_SKETCH_HLL_P)

struct gossip_sketch;

struct gossip_sketch *gossip_sketch_new(void);
struct gossip_sketch *gossip_sketch_dup(const struct gossip_sketch *s);
void gossip_sketch_destroy(struct gossip_sketch **ps);

/* Item hash: SipHash-2-4 (libsodium crypto_shorthash) under a fixed, cluster-wide key. */
uint64_t gossip_sketch_hash(const void *item, size_t len);
/* Add an item / a hash. Return true when the sketch changed. */
bool gossip_sketch_add(struct gossip_sketch *s, const void *item, size_t len);
bool gossip_sketch_add_hash(struct gossip_sketch *s, uint64_t h);
/* dst |= src. Returns true when dst changed. */
bool gossip_sketch_merge(struct gossip_sketch *dst, const struct gossip_sketch *src);
/* Exact below the cap, HyperLogLog estimate (about 3% standard error) above. */
uint64_t gossip_sketch_count(const struct gossip_sketch *s);
bool gossip_sketch_equal(const struct gossip_sketch *a, const struct gossip_sketch *b);
/* Heap bytes held by the sketch. */
size_t gossip_sketch_mem(const struct gossip_sketch *s);

/* Wire form. Exact: sorted distinct hashes (borrowed pointer, *n set). HLL: NULL and *n = 0. */
const uint64_t *gossip_sketch_hashes(const struct gossip_sketch *s, size_t *n);
/* HLL registers (GOSSIP_SKETCH_HLL_M bytes, borrowed) or NULL when exact. */
const uint8_t *gossip_sketch_registers(const struct gossip_sketch *s);
/* Rebuild from the wire form. NULL on invalid input (register value out of range, wrong length). */
struct gossip_sketch *gossip_sketch_from_hashes(const uint64_t *h, size_t n);
struct gossip_sketch *gossip_sketch_from_registers(const uint8_t *reg, size_t len);

#endif
