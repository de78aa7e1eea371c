/* tally.c: capped counters keyed by a pair of label values (see tally.h). */
#include "agent/tally.h"
#include "agent/util.h"

#include <stdlib.h>
#include <string.h>

struct entry {
    char a[TALLY_VALUE_MAX], b[TALLY_VALUE_MAX];
    uint64_t n;
};

struct tally {
    struct entry *v;
    size_t n, cap;
};

struct tally *tally_new(size_t cap)
{
    struct tally *t = sg_xcalloc(1, sizeof *t);
    t->cap = cap < 1 ? 1 : cap;
    t->v = sg_xcalloc(t->cap, sizeof *t->v);
    return t;
}

void tally_destroy(struct tally **pt)
{
    struct tally *t = *pt;
    if (!t) return;
    free(t->v);
    free(t);
    *pt = NULL;
}

static void copy(char *dst, const char *src)
{
    size_t n = strnlen(src, TALLY_VALUE_MAX - 1);
    memcpy(dst, src, n);
    dst[n] = '\0';
}

static struct entry *find(struct tally *t, const char *a, const char *b)
{
    for (size_t i = 0; i < t->n; i++)
        if (!strncmp(t->v[i].a, a, TALLY_VALUE_MAX - 1) && !strncmp(t->v[i].b, b, TALLY_VALUE_MAX - 1)) return &t->v[i];
    return NULL;
}

void tally_add(struct tally *t, const char *a, const char *b, uint64_t n)
{
    struct entry *e = find(t, a, b);
    if (!e) {
        /* The last place is kept for ("other", "other"). */
        if (t->n + 1 >= t->cap && (e = find(t, TALLY_OTHER, TALLY_OTHER))) {
            e->n += n;
            return;
        }
        if (t->n + 1 >= t->cap) a = b = TALLY_OTHER;
        e = &t->v[t->n++];
        copy(e->a, a);
        copy(e->b, b);
    }
    e->n += n;
}

size_t tally_count(const struct tally *t)
{
    return t->n;
}

int tally_at(const struct tally *t, size_t i, const char **a, const char **b, uint64_t *n)
{
    if (i >= t->n) return -1;
    *a = t->v[i].a;
    *b = t->v[i].b;
    *n = t->v[i].n;
    return 0;
}

uint64_t tally_sum(const struct tally *t)
{
    uint64_t s = 0;
    for (size_t i = 0; i < t->n; i++) s += t->v[i].n;
    return s;
}
