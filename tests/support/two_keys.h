/* two_keys.h: the two signing identities (ida, idb) and the keyring (kr) that the gossip unit tests
 * and benches stand on: two_keys_setup makes them, two_keys_teardown (a cmocka group teardown, or
 * called with NULL) frees them. Header-only, for one program each: it defines those three. */
#ifndef SG_TESTS_TWO_KEYS_H
#define SG_TESTS_TWO_KEYS_H

#include <stdbool.h>
#include <stdint.h>
#include <string.h>

#include "gossip/keyring.h"

static struct gossip_identity *ida, *idb;
static struct gossip_keyring *kr;

/* ida named name_a from a seed of 32 bytes fill_a, idb likewise; kr holds ida, and idb when trust_b
 * (a test of records from a stranger leaves it out). Each test keeps its own seeds: what they sign
 * differs with them. Returns 0, or -1 when a key could not be made or taken. */
static inline int two_keys_setup(const char *name_a, uint8_t fill_a, const char *name_b, uint8_t fill_b, bool trust_b)
{
    uint8_t seed[32];
    memset(seed, fill_a, sizeof seed);
    ida = gossip_identity_from_seed(name_a, seed);
    memset(seed, fill_b, sizeof seed);
    idb = gossip_identity_from_seed(name_b, seed);
    kr = gossip_keyring_new();
    if (!ida || !idb || !kr || gossip_keyring_add_identity(kr, ida) < 0) return -1;
    return trust_b && gossip_keyring_add_identity(kr, idb) < 0 ? -1 : 0;
}

static inline int two_keys_teardown(void **state)
{
    (void)state;
    gossip_identity_destroy(&ida);
    gossip_identity_destroy(&idb);
    gossip_keyring_destroy(&kr);
    return 0;
}

#endif
