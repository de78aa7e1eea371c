/* join.h (internal to detect/): bounded tables that join lines of one session or one queue id. */
#ifndef SG_DETECT_JOIN_H
#define SG_DETECT_JOIN_H

#include "detect/event.h"

#include <stddef.h>
#include <stdint.h>

/* One remembered session, address, queue id or pid. What a and b count depends on the table. */
struct detect_join_entry {
    int32_t a, b;
    int family;
    uint8_t addr[16];
    char ip[SG_EV_IP_MAX];
    char user[SG_EV_USER_MAX];
    char service[SG_EV_SERVICE_MAX];
};

/* Open addressing with a short probe window; when the window is full the oldest entry goes, so memory
 * is fixed at creation and an attacker flooding sessions only shortens how long entries live. */
struct detect_join {
    uint64_t *keys;                 /* probed apart from the payload: one cache line per lookup */
    int64_t *t;                     /* last touch, ms of log time */
    struct detect_join_entry *v;
    size_t mask;
    int64_t ttl_ms;
    uint64_t evictions;
};

void detect_join_init(struct detect_join *j, size_t slots_pow2, int64_t ttl_ms);
void detect_join_free(struct detect_join *j);
/* The live entry for key, or NULL (absent or older than the ttl). */
struct detect_join_entry *detect_join_find(struct detect_join *j, uint64_t key, int64_t now);
/* The live entry for key, created zeroed when absent. Never NULL. */
struct detect_join_entry *detect_join_get(struct detect_join *j, uint64_t key, int64_t now);
void detect_join_drop(struct detect_join *j, struct detect_join_entry *e);

/* FNV-1a over several byte strings, each followed by a separator; never 0. */
uint64_t detect_join_key(char domain, const char *a, size_t an, const char *b, size_t bn, const char *c, size_t cn);

#endif
