/* join.c: fixed-size tables with time-to-live, used to join and de-duplicate related log lines, and
 * what every per-daemon join handler shares: the table of families, captures, address copies. */
#include "detect/join.h"
#include "detect/rules_int.h"

#include "agent/util.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#define PROBE 8

void detect_join_init(struct detect_join *j, size_t slots_pow2, int64_t ttl_ms)
{
    j->keys = sg_xcalloc(slots_pow2, sizeof *j->keys);
    j->t = sg_xcalloc(slots_pow2, sizeof *j->t);
    j->v = sg_xcalloc(slots_pow2, sizeof *j->v);
    j->mask = slots_pow2 - 1;
    j->ttl_ms = ttl_ms;
    j->evictions = 0;
}

void detect_join_free(struct detect_join *j)
{
    free(j->keys);
    free(j->t);
    free(j->v);
    j->keys = NULL;
    j->t = NULL;
    j->v = NULL;
}

struct detect_join *detect_join_new(size_t slots_pow2, int64_t ttl_ms)
{
    struct detect_join *j = sg_xcalloc(1, sizeof *j);
    detect_join_init(j, slots_pow2, ttl_ms);
    return j;
}

void detect_join_destroy(void *j)
{
    detect_join_free(j);
    free(j);
}

/* Log time can go backwards (several files, old lines replayed); an entry is live when it was touched
 * within ttl of now in either direction. */
static bool live(const struct detect_join *j, size_t i, int64_t now)
{
    int64_t d = now - j->t[i];
    return j->keys[i] && (d < 0 ? -d : d) <= j->ttl_ms;
}

struct detect_join_entry *detect_join_find(struct detect_join *j, uint64_t key, int64_t now)
{
    for (size_t k = 0; k < PROBE; k++) {
        size_t i = (key + k) & j->mask;
        if (j->keys[i] == key) {
            if (!live(j, i, now)) return NULL;
            j->t[i] = now;
            return &j->v[i];
        }
    }
    return NULL;
}

struct detect_join_entry *detect_join_get(struct detect_join *j, uint64_t key, int64_t now)
{
    /* Scan the whole window for the key; meanwhile pick a free or stale slot, else the oldest. */
    size_t victim = SIZE_MAX;
    for (size_t k = 0; k < PROBE; k++) {
        size_t i = (key + k) & j->mask;
        if (j->keys[i] == key) {
            if (live(j, i, now)) {
                j->t[i] = now;
                return &j->v[i];
            }
            victim = i;
            break;
        }
        if (!live(j, i, now)) {
            if (victim == SIZE_MAX || live(j, victim, now)) victim = i;
        } else if (victim == SIZE_MAX || (live(j, victim, now) && j->t[i] < j->t[victim])) {
            victim = i;
        }
    }
    if (j->keys[victim] != key && live(j, victim, now)) j->evictions++;
    memset(&j->v[victim], 0, sizeof j->v[victim]);
    j->keys[victim] = key;
    j->t[victim] = now;
    return &j->v[victim];
}

void detect_join_drop(struct detect_join *j, struct detect_join_entry *e)
{
    j->keys[e - j->v] = 0;
}

static uint64_t fnv(uint64_t h, const char *s, size_t n)
{
    for (size_t i = 0; i < n; i++) h = (h ^ (unsigned char)s[i]) * 1099511628211ULL;
    return (h ^ 0xff) * 1099511628211ULL;
}

uint64_t detect_join_key(char domain, const char *a, size_t an, const char *b, size_t bn, const char *c, size_t cn)
{
    uint64_t h = 1469598103934665603ULL;
    h = fnv(h, &domain, 1);
    h = fnv(h, a, an);
    h = fnv(h, b, bn);
    h = fnv(h, c, cn);
    return h ? h : 1;
}

uint64_t detect_join_addr_key(const struct sg_event *ev)
{
    return detect_join_key('a', "", 0, ev->ip, strlen(ev->ip), "", 0);
}

void detect_join_remember_addr(struct detect_join_entry *e, const struct sg_event *ev)
{
    e->family = ev->family;
    memcpy(e->addr, ev->addr, 16);
    memcpy(e->ip, ev->ip, sizeof e->ip);
}

void detect_join_recall_addr(struct sg_event *ev, const struct detect_join_entry *e)
{
    ev->family = e->family;
    memcpy(ev->addr, e->addr, 16);
    memcpy(ev->ip, e->ip, sizeof ev->ip);
}

uint64_t detect_match_u64(const struct detect_match *m, int g, uint64_t dflt)
{
    const char *s;
    size_t n;
    if (!detect_match_group(m, g, &s, &n) || !n) return dflt;
    uint64_t v = 0;
    for (size_t i = 0; i < n; i++) {
        if (s[i] < '0' || s[i] > '9') return dflt;
        unsigned d = (unsigned)(s[i] - '0');
        v = v > (UINT64_MAX - d) / 10 ? UINT64_MAX : v * 10 + d;
    }
    return v;
}

uint32_t detect_match_uint(const struct detect_match *m, int g, uint32_t dflt)
{
    uint64_t v = detect_match_u64(m, g, dflt);
    return v > UINT32_MAX ? UINT32_MAX : (uint32_t)v;
}

const struct detect_join_ops *const detect_join_families[DETECT_JOIN_FAMILIES + 1] = {
    &detect_join_dovecot, &detect_join_postfix, &detect_join_sshd, &detect_join_sendmail, NULL,
};

int detect_join_role_find(const char *name, int *family, int *role)
{
    for (int f = 0; detect_join_families[f]; f++)
        for (size_t i = 0; i < detect_join_families[f]->nroles; i++)
            if (!strcmp(name, detect_join_families[f]->roles[i].name)) {
                *family = f;
                *role = (int)i;
                return 0;
            }
    return -1;
}
