/* attempt_once.c: a login attempt seen in the log and in an auth-policy report counts once (see
 * attempt_once.h). */
#include "agent/attempt_once.h"
#include "agent/util.h"
#include "detect/join.h"

#include <sodium.h>
#include <stdlib.h>
#include <string.h>

struct attempt_once {
    struct detect_join t;     /* key -> a: log attempts not yet reported, b: reported, not yet logged */
    unsigned char key[crypto_shorthash_KEYBYTES];
    struct attempt_once_stats n;
};

struct attempt_once *attempt_once_new(void)
{
    if (sodium_init() < 0) abort();
    struct attempt_once *o = sg_xcalloc(1, sizeof *o);
    detect_join_init(&o->t, ATTEMPT_ONCE_SLOTS, ATTEMPT_ONCE_TTL_MS);
    randombytes_buf(o->key, sizeof o->key);
    return o;
}

void attempt_once_destroy(struct attempt_once **p)
{
    if (!*p) return;
    detect_join_free(&(*p)->t);
    free(*p);
    *p = NULL;
}

void attempt_once_stats(const struct attempt_once *o, struct attempt_once_stats *out)
{
    *out = o->n;
    out->evictions = o->t.evictions;
}

/* "K\0SESSION\0IP\0user": no field holds a NUL, so distinct tuples give distinct strings. */
static uint64_t key_of(const struct attempt_once *o, const struct sg_event *ev)
{
    char buf[2 + SG_EV_SESSION_MAX + SG_EV_IP_MAX + SG_EV_USER_MAX];
    size_t n = 0;
    buf[n++] = ev->kind == SG_EV_AUTH_OK ? 'o' : 'f';
    buf[n++] = '\0';
    size_t l = strnlen(ev->session, SG_EV_SESSION_MAX - 1);
    memcpy(buf + n, ev->session, l);
    n += l;
    buf[n++] = '\0';
    l = strnlen(ev->ip, SG_EV_IP_MAX - 1);
    memcpy(buf + n, ev->ip, l);
    n += l;
    buf[n++] = '\0';
    for (size_t i = 0; i < SG_EV_USER_MAX - 1 && ev->user[i]; i++) {
        char c = ev->user[i];
        buf[n++] = c >= 'A' && c <= 'Z' ? (char)(c - 'A' + 'a') : c;
    }
    unsigned char h[crypto_shorthash_BYTES];
    crypto_shorthash(h, (const unsigned char *)buf, n, o->key);
    uint64_t k;
    memcpy(&k, h, sizeof k);
    return k ? k : 1;   /* 0 marks a free slot */
}

void attempt_once_join(struct attempt_once *o, enum attempt_source src, struct sg_event *ev, int64_t now_ms)
{
    if (ev->dup || !ev->family || (ev->kind != SG_EV_AUTH_FAIL && ev->kind != SG_EV_AUTH_OK)) return;
    if (src == ATTEMPT_LOG) o->n.log++;
    else o->n.report++;
    struct detect_join_entry *e = detect_join_get(&o->t, key_of(o, ev), now_ms);
    int32_t *mine = src == ATTEMPT_LOG ? &e->a : &e->b, *theirs = src == ATTEMPT_LOG ? &e->b : &e->a;
    uint32_t count = ev->count ? ev->count : 1;
    uint32_t take = (uint32_t)*theirs < count ? (uint32_t)*theirs : count;
    *theirs -= (int32_t)take;
    o->n.once += take;
    if (take == count) ev->dup = true;
    else {
        ev->count = count - take;
        int64_t sum = (int64_t)*mine + ev->count;   /* a count may be near UINT32_MAX: saturate */
        *mine = sum < INT32_MAX ? (int32_t)sum : INT32_MAX;
    }
    if (e->a == 0 && e->b == 0) detect_join_drop(&o->t, e);
}
