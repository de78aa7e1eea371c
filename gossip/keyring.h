/* keyring.h: Ed25519 node identities (key files) and the keyring of peers' public keys, via libsodium.
 *
 * Files (one line of standard base64 each, trailing newline):
 *   DIR/NAME.key  the 32-byte Ed25519 seed; mode 0600, refused if group or others may read it
 *   DIR/NAME.pub  the 32-byte Ed25519 public key
 * A peers directory holds NAME.pub files; the peer's name is the file stem.
 * A node's origin id is the first 8 bytes of its public key read big-endian. */
#ifndef GOSSIP_KEYRING_H
#define GOSSIP_KEYRING_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define GOSSIP_PK_LEN 32
#define GOSSIP_SK_LEN 64
#define GOSSIP_SIG_LEN 64
#define GOSSIP_NAME_MAX 63

struct gossip_identity {
    char name[GOSSIP_NAME_MAX + 1];
    uint64_t origin;
    uint8_t pk[GOSSIP_PK_LEN];
    uint8_t sk[GOSSIP_SK_LEN];   /* libsodium's secret key (seed + public key) */
};

struct gossip_peer_key {
    char name[GOSSIP_NAME_MAX + 1];
    uint64_t origin;
    uint8_t pk[GOSSIP_PK_LEN];
};

struct gossip_keyring;

/* Origin id of a public key (first 8 bytes, big-endian). */
uint64_t gossip_origin_of(const uint8_t pk[GOSSIP_PK_LEN]);

/* Writes DIR/NAME.key (0600) and DIR/NAME.pub (0644). Refuses (-1, errno EEXIST) to overwrite either.
 * NAME: [A-Za-z0-9._-], 1..63 characters. */
int gossip_identity_generate(const char *dir, const char *name);
/* Loads DIR/NAME.key and checks DIR/NAME.pub matches when present. NULL on error (logged).
 * The caller owns the result. */
struct gossip_identity *gossip_identity_load(const char *dir, const char *name);
/* Builds an identity from a 32-byte seed (tests, benchmarks). Caller owns it. */
struct gossip_identity *gossip_identity_from_seed(const char *name, const uint8_t seed[32]);
void gossip_identity_destroy(struct gossip_identity **pid);

/* Detached Ed25519 signature / verification. */
void gossip_sign(const struct gossip_identity *id, const uint8_t *msg, size_t len, uint8_t sig[GOSSIP_SIG_LEN]);
bool gossip_verify(const uint8_t pk[GOSSIP_PK_LEN], const uint8_t *msg, size_t len, const uint8_t sig[GOSSIP_SIG_LEN]);

struct gossip_keyring *gossip_keyring_new(void);
void gossip_keyring_destroy(struct gossip_keyring **pkr);
/* Adds a key. Re-adding the same key is a no-op (0); a different key with the same origin id or
 * the same name is refused (-1). */
int gossip_keyring_add(struct gossip_keyring *kr, const char *name, const uint8_t pk[GOSSIP_PK_LEN]);
int gossip_keyring_add_identity(struct gossip_keyring *kr, const struct gossip_identity *id);
/* Loads every DIR/NAME.pub. Returns how many keys were added, or -1 when the directory cannot be read
 * or a file is malformed (logged; the keys before it stay). */
int gossip_keyring_load_dir(struct gossip_keyring *kr, const char *dir);
/* Exchanges the keys of a and b: whoever holds a (the state, a transport) sees b's keys from now on.
 * Pointers returned by the find functions before follow their keys to the other keyring. */
void gossip_keyring_swap(struct gossip_keyring *a, struct gossip_keyring *b);
/* Borrowed pointer, valid until the keyring is destroyed; NULL when unknown. */
const struct gossip_peer_key *gossip_keyring_find(const struct gossip_keyring *kr, uint64_t origin);
const struct gossip_peer_key *gossip_keyring_find_name(const struct gossip_keyring *kr, const char *name);
size_t gossip_keyring_count(const struct gossip_keyring *kr);
/* i-th key, 0 <= i < count (order of addition). */
const struct gossip_peer_key *gossip_keyring_at(const struct gossip_keyring *kr, size_t i);

#endif
