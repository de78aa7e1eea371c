/* literal.c: the one-pass multi-literal prefilter that runs before any regex, and program filters. */
#include "detect/rules_int.h"

#include "agent/util.h"

#include <fnmatch.h>
#include <stdlib.h>
#include <string.h>

static inline uint32_t load4(const char *p)
{
    uint32_t w;
    memcpy(&w, p, 4);
    return w;
}

static inline uint32_t hash4(uint32_t w)
{
    return (w * 2654435761u) >> (32 - DETECT_LIT_BITS);
}

/* Calls fn for each alternative of a rule's literal ("unknown user | Password mismatch"). */
static void each_alt(const char *lit, void (*fn)(const char *a, size_t n, void *arg), void *arg)
{
    const char *p = lit;
    while (*p) {
        const char *bar = strchr(p, '|'), *q = bar ? bar : p + strlen(p);
        const char *a = p, *b = q;
        while (a < b && *a == ' ') a++;
        while (b > a && b[-1] == ' ') b--;
        p = bar ? bar + 1 : q;
        if (b - a >= 4) fn(a, (size_t)(b - a), arg);   /* the loader refuses shorter ones */
    }
}

static void min_len(const char *a, size_t n, void *arg)
{
    (void)a;
    size_t *m = arg;
    if (n < *m) *m = n;
}

struct build_ctx {
    struct detect_litset *ls;
    size_t cap;
    uint16_t rule;
};

static void add_alt(const char *a, size_t n, void *arg)
{
    struct build_ctx *b = arg;
    struct detect_litset *ls = b->ls;
    for (size_t off = 0; off < ls->stride && off + 4 <= n && ls->n < 0xfffe; off++) {
        if (ls->n == b->cap) {
            b->cap *= 2;
            ls->e = sg_xrealloc(ls->e, b->cap * sizeof *ls->e);
        }
        struct detect_lit *l = &ls->e[ls->n];
        l->text = a;
        l->len = n;
        l->off = (uint8_t)off;
        l->gram = load4(a + off);
        l->rule = b->rule;
        uint32_t h = hash4(l->gram);
        l->next = ls->head[h];
        ls->head[h] = (uint16_t)(ls->n + 1);
        ls->bloom[h] = 1;
        ls->n++;
    }
}

void detect_lit_build(struct detect_litset *ls, const struct detect_rules *r)
{
    detect_lit_free(ls);
    size_t m = SIZE_MAX;
    for (size_t i = 0; i < r->n; i++)
        if (r->v[i].enabled) each_alt(r->v[i].literal, min_len, &m);
    ls->stride = m == SIZE_MAX ? 1 : m - 3 > 8 ? 8 : m - 3;
    struct build_ctx b = {.ls = ls, .cap = 16};
    ls->e = sg_xcalloc(b.cap, sizeof *ls->e);
    for (size_t i = 0; i < r->n; i++) {
        if (!r->v[i].enabled) continue;
        b.rule = (uint16_t)i;
        each_alt(r->v[i].literal, add_alt, &b);
    }
}

void detect_lit_free(struct detect_litset *ls)
{
    free(ls->e);
    memset(ls, 0, sizeof *ls);
}

void detect_lit_scan(const struct detect_litset *ls, const char *s, size_t n, uint64_t out[DETECT_MASK_WORDS])
{
    memset(out, 0, DETECT_MASK_WORDS * sizeof out[0]);
    for (size_t i = 0; i + 4 <= n; i += ls->stride) {
        uint32_t w = load4(s + i), h = hash4(w);
        if (!ls->bloom[h]) continue;
        for (uint16_t k = ls->head[h]; k; k = ls->e[k - 1].next) {
            const struct detect_lit *l = &ls->e[k - 1];
            if (l->gram != w || i < l->off) continue;
            size_t at = i - l->off;
            if (l->len <= n - at && !memcmp(s + at, l->text, l->len)) out[l->rule >> 6] |= 1ULL << (l->rule & 63);
        }
    }
}

/* Program filters are shell patterns ("postfix" star "/smtpd"); they run only when a program name is first
 * seen, the parser caches the result. */
bool detect_rule_prog_match(const struct detect_rule *r, const char *prog, size_t n)
{
    if (!r->n_progs) return !r->untagged;   /* "-" alone: only lines without a tag */
    char name[256];
    if (n >= sizeof name) n = sizeof name - 1;
    memcpy(name, prog, n);
    name[n] = '\0';
    for (size_t i = 0; i < r->n_progs; i++)
        if (fnmatch(r->progs[i], name, 0) == 0) return true;
    return false;
}
